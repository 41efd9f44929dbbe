/* lib/mem.c - allocation that cannot fail, string vectors, small string helpers. */
#include "ib.h"

static void oom(void)
{
        static const char msg[] = "imgbuild: out of memory\n";
        (void) !write(STDERR_FILENO, msg, sizeof(msg) - 1);
        abort();
}

void *ib_malloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        if (!p)
                oom();
        return p;
}

void *ib_calloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p)
                oom();
        return p;
}

void *ib_realloc(void *p, size_t n)
{
        void *q = realloc(p, n ? n : 1);
        if (!q)
                oom();
        return q;
}

void *ib_reallocarray(void *p, size_t n, size_t size)
{
        if (size && n > SIZE_MAX / size)
                oom();
        return ib_realloc(p, n * size);
}

char *ib_strdup(const char *s)
{
        char *p = strdup(s ? s : "");
        if (!p)
                oom();
        return p;
}

char *ib_strndup(const char *s, size_t n)
{
        char *p = strndup(s, n);
        if (!p)
                oom();
        return p;
}

char *ib_strdupf(const char *fmt, ...)
{
        struct ib_buf b = IB_BUF_INIT;
        va_list ap;

        va_start(ap, fmt);
        ib_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        return ib_buf_detach(&b);
}

void ib_grow(void *arr, size_t *alloc, size_t need, size_t size)
{
        void **a = arr;
        size_t n;

        if (need <= *alloc)
                return;
        n = *alloc ? *alloc : 8;
        while (n < need) {
                if (n > SIZE_MAX / 2)
                        oom();
                n *= 2;
        }
        *a = ib_reallocarray(*a, n, size);
        memset((char *) *a + *alloc * size, 0, (n - *alloc) * size);
        *alloc = n;
}

size_t ib_strv_len(char *const *v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

void ib_strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

char **ib_strv_dup(char *const *v)
{
        size_t n = ib_strv_len(v);
        char **r = ib_calloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
                r[i] = ib_strdup(v[i]);
        return r;
}

void ib_strv_push(char ***v, const char *s)
{
        size_t n = ib_strv_len(*v);
        *v = ib_reallocarray(*v, n + 2, sizeof(char *));
        (*v)[n] = ib_strdup(s);
        (*v)[n + 1] = NULL;
}

void ib_strvec_push_own(struct ib_strvec *x, char *s)
{
        ib_grow(&x->v, &x->alloc, x->n + 2, sizeof(char *));
        x->v[x->n++] = s;
        x->v[x->n] = NULL;
}

char **ib_strvec_finish(struct ib_strvec *x)
{
        char **r = x->v ? x->v : ib_calloc(1, sizeof(char *));
        *x = (struct ib_strvec) { 0 };
        return r;
}

void ib_strvec_release(struct ib_strvec *x)
{
        for (size_t i = 0; i < x->n; i++)
                free(x->v[i]);
        free(x->v);
        *x = (struct ib_strvec) { 0 };
}

bool ib_startswith(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

char *ib_elide(const char *s, size_t max)
{
        size_t n = strlen(s), keep = max / 2;

        if (n <= max || max < 64)
                return ib_strdup(s);
        /* do not cut a UTF-8 sequence: back up to a character start */
        size_t head = keep, tail = n - keep;
        while (head > 0 && ((unsigned char) s[head] & 0xc0) == 0x80)
                head--;
        while (tail < n && ((unsigned char) s[tail] & 0xc0) == 0x80)
                tail++;
        return ib_strdupf("%.*s ... (%zu bytes) ... %s", (int) head, s, tail - head, s + tail);
}

bool ib_endswith(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && memcmp(s + a - b, suffix, b) == 0;
}
