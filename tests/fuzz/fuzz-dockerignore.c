/* tests/fuzz/fuzz-dockerignore.c - libFuzzer target for src/dockerignore.c.
 *
 * Input: an ignore file, then a NUL byte, then paths one per line.  The file
 * is parsed both as a file and as a list (one pattern per line); every path is
 * matched and asked about as a directory.  Invariant: when a directory D is
 * excluded and ib_ignore_dir_may_have_includes(D) says "skip", no path below
 * D may be included (a walker would lose it). */
#include "lib/ib.h"
#include "src/dockerignore.h"

static void check(const struct ib_ignore *m, char **paths, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                bool ex = ib_ignore_match(m, paths[i]);
                if (!ex || ib_ignore_dir_may_have_includes(m, paths[i]))
                        continue;
                /* paths[i] may be skipped as a dir: nothing below it may be included */
                size_t len = strlen(paths[i]);
                if (len == 0 || strchr(paths[i], '.') || paths[i][0] == '/' || strstr(paths[i], "//") ||
                    paths[i][len - 1] == '/')
                        continue;       /* only clean paths, so "below" is a plain prefix test */
                for (size_t j = 0; j < n; j++)
                        if (ib_startswith(paths[j], paths[i]) && paths[j][len] == '/' && !strchr(paths[j], '.') &&
                            !strstr(paths[j], "//") && !ib_ignore_match(m, paths[j]))
                                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *text = (const char *) data;
        const char *nul = memchr(data, '\0', size);
        size_t tlen = nul ? (size_t) (nul - text) : size;
        struct ib_ignore *m = NULL;
        struct ib_err *err = NULL;

        /* the paths: NUL-free lines after the separator */
        char **paths = NULL;
        size_t np = 0, alloc = 0;
        for (size_t i = nul ? tlen + 1 : size; i < size;) {
                const char *p = text + i;
                size_t e = i;
                while (e < size && data[e] != '\n' && data[e] != '\0')
                        e++;
                ib_grow(&paths, &alloc, np + 1, sizeof(char *));
                paths[np++] = ib_strndup(p, e - i);
                i = e + 1;
        }

        if (ib_ignore_parse(text, tlen, "fuzz", &m, &err) == 0) {
                check(m, paths, np);
                ib_ignore_free(m);
        } else if (!err || !strstr(err->msg, "fuzz:")) {
                abort();
        }
        ib_err_free(&err);

        /* the same lines as a --exclude list */
        char **lines = NULL;
        size_t nl = 0, lalloc = 0;
        for (size_t i = 0; i < tlen;) {
                size_t e = i;
                while (e < tlen && text[e] != '\n')
                        e++;
                ib_grow(&lines, &lalloc, nl + 1, sizeof(char *));
                lines[nl++] = ib_strndup(text + i, e - i);
                i = e + 1;
        }
        m = NULL;
        if (ib_ignore_from_list((const char *const *) lines, nl, "list", &m, &err) == 0) {
                check(m, paths, np);
                ib_ignore_free(m);
        }
        ib_err_free(&err);

        for (size_t i = 0; i < nl; i++)
                free(lines[i]);
        free(lines);
        for (size_t i = 0; i < np; i++)
                free(paths[i]);
        free(paths);
        return 0;
}
