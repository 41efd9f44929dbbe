/* tests/fuzz/fuzz-reference.c - libFuzzer target for ib_ref_parse: no crash,
 * no leak, and every accepted reference prints to a string that parses back
 * to the same parts. */
#include "lib/ib.h"
#include "registry/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const char *a, const char *b)
{
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = ib_strndup((const char *) data, size);
        struct ib_ref *r = NULL, *r2 = NULL;
        struct ib_err *e = NULL;

        if (ib_ref_parse(s, &r, &e) == 0) {
                char *str = ib_ref_string(r);
                if (ib_ref_parse(str, &r2, &e) != 0)
                        __builtin_trap();       /* what we print must parse */
                if (!same(r->domain, r2->domain) || !same(r->path, r2->path) || !same(r->tag, r2->tag) ||
                    !same(r->digest, r2->digest))
                        __builtin_trap();       /* and mean the same */
                free(str);
        } else if (!e || !e->msg) {
                __builtin_trap();
        }
        ib_ref_free(r);
        ib_ref_free(r2);
        ib_err_free(&e);
        free(s);
        return 0;
}
