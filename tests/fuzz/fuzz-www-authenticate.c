/* tests/fuzz/fuzz-www-authenticate.c - libFuzzer target for ib_auth_parse:
 * no crash, no leak, no over-read; results are well-formed (lowercase,
 * non-empty schemes; bounded counts). */
#include "lib/ib.h"
#include "registry/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = ib_strndup((const char *) data, size);
        struct ib_auth_challenge *c = NULL;
        struct ib_err *e = NULL;
        size_t n = 0;

        if (ib_auth_parse(s, &c, &n, &e) == 0) {
                if (n == 0 || n > 16)
                        __builtin_trap();
                for (size_t i = 0; i < n; i++) {
                        if (!c[i].scheme || !c[i].scheme[0] || c[i].n_params > 32)
                                __builtin_trap();
                        for (const char *p = c[i].scheme; *p; p++)
                                if (*p >= 'A' && *p <= 'Z')
                                        __builtin_trap();
                        for (size_t j = 0; j < c[i].n_params; j++)
                                if (!c[i].params[j].name || !c[i].params[j].value)
                                        __builtin_trap();
                        (void) ib_auth_param(&c[i], "realm");
                }
        }
        ib_auth_challenges_free(c, n);
        ib_err_free(&e);
        free(s);
        return 0;
}
