/* tests/fuzz/fuzz-copyparse.c - the COPY/ADD parsers on arbitrary input:
 * glob matching, --chmod, --chown against passwd/group text.
 * Input: pattern \0 name \0 chmod \0 chown \0 passwd-and-group. */
#include "lib/ib.h"
#include "src/context-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *buf = ib_malloc(size + 5);
        const char *part[5];
        size_t n = 0, start = 0;

        memcpy(buf, data, size);
        memset(buf + size, 0, 5);
        for (size_t i = 0; i <= size && n < 5; i++)
                if (buf[i] == '\0') {
                        part[n++] = buf + start;
                        start = i + 1;
                }
        while (n < 5)
                part[n++] = "";
        (void) ib_glob_match(part[0], part[1]);
        (void) ib_glob_has_magic(part[0]);

        struct ib_chmod *m = NULL;
        struct ib_err *e = NULL;
        if (ib_chmod_parse(part[2], &m, &e) == 0) {
                (void) ib_chmod_apply(m, 0644, false);
                (void) ib_chmod_apply(m, 0755, true);
        }
        ib_chmod_free(m);
        ib_err_free(&e);

        uid_t u;
        gid_t g;
        (void) ib_chown_resolve(part[3], part[4], part[4], &u, &g, &e);
        ib_err_free(&e);
        char *fn = ib_url_filename(part[0]);
        free(fn);
        free(buf);
        return 0;
}
