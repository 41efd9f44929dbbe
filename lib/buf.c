/* lib/buf.c - growable NUL-terminated buffer (invariants in ib.h). */
#include "ib.h"

char ib_buf_empty[1];

void ib_buf_grow(struct ib_buf *b, size_t extra)
{
        bool fresh = b->alloc == 0;
        size_t need;

        if (extra > SIZE_MAX - b->len - 1)
                abort();
        need = b->len + extra + 1;
        if (need <= b->alloc)
                return;
        if (fresh)
                b->buf = NULL;
        ib_grow(&b->buf, &b->alloc, need, 1);
        if (fresh)
                b->buf[0] = '\0';
}

void ib_buf_add(struct ib_buf *b, const void *data, size_t n)
{
        if (!n)
                return;
        ib_buf_grow(b, n);
        memcpy(b->buf + b->len, data, n);
        b->len += n;
        b->buf[b->len] = '\0';
}

void ib_buf_adds(struct ib_buf *b, const char *s)
{
        ib_buf_add(b, s, strlen(s));
}

void ib_buf_addc(struct ib_buf *b, char c)
{
        ib_buf_add(b, &c, 1);
}

void ib_buf_vaddf(struct ib_buf *b, const char *fmt, va_list ap)
{
        va_list cp;
        int n;

        va_copy(cp, ap);
        n = vsnprintf(b->buf + b->len, b->alloc ? b->alloc - b->len : 0, fmt, cp);
        va_end(cp);
        if (n < 0)
                abort();
        if ((size_t) n >= (b->alloc ? b->alloc - b->len : 0)) {
                ib_buf_grow(b, (size_t) n);
                n = vsnprintf(b->buf + b->len, b->alloc - b->len, fmt, ap);
        }
        b->len += (size_t) n;
}

void ib_buf_addf(struct ib_buf *b, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        ib_buf_vaddf(b, fmt, ap);
        va_end(ap);
}

void ib_buf_reset(struct ib_buf *b)
{
        ib_buf_truncate(b, 0);
}

void ib_buf_truncate(struct ib_buf *b, size_t len)
{
        if (len >= b->len)
                return;
        b->len = len;
        b->buf[len] = '\0';
}

char *ib_buf_detach(struct ib_buf *b)
{
        char *r = b->alloc ? b->buf : ib_strdup("");
        *b = (struct ib_buf) IB_BUF_INIT;
        return r;
}

void ib_buf_release(struct ib_buf *b)
{
        if (b->alloc)
                free(b->buf);
        *b = (struct ib_buf) IB_BUF_INIT;
}
