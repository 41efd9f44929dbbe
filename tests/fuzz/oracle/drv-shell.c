/* tests/fuzz/oracle/drv-shell.c - reads "h<word> h<V> h<P> h<R>" (hex) lines, prints the hex expansion (or E). */
#include "lib/ib.h"
#include "src/shell.h"
static char *vals[3];
static const char *lk(const char *name, void *u)
{
        (void) u;
        if (!strcmp(name, "V")) return vals[0];
        if (!strcmp(name, "P")) return vals[1];
        if (!strcmp(name, "R")) return vals[2];
        return NULL;
}
static char *unhex(const char *h)
{
        size_t n = strlen(h) / 2;
        char *s = ib_malloc(n + 1);
        for (size_t i = 0; i < n; i++) { unsigned x; sscanf(h + 2 * i, "%2x", &x); s[i] = (char) x; }
        s[n] = 0;
        return s;
}
int main(void)
{
        char line[65536];
        while (fgets(line, sizeof line, stdin)) {
                line[strcspn(line, "\n")] = 0;
                char *f[4]; int n = 0;
                for (char *t = strtok(line, " "); t && n < 4; t = strtok(NULL, " ")) f[n++] = t;
                char *word = unhex(f[0] + 1);
                for (int i = 0; i < 3; i++) vals[i] = unhex(f[i + 1] + 1);
                char *out = NULL; struct ib_err *err = NULL;
                if (ib_shell_expand_word(word, '\\', lk, NULL, &out, &err) < 0) { printf("E\n"); ib_err_free(&err); }
                else { for (char *p = out; *p; p++) printf("%02x", (unsigned char) *p); printf("\n"); free(out); }
                free(word); for (int i = 0; i < 3; i++) free(vals[i]);
        }
        return 0;
}
