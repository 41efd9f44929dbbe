/* tests/fuzz/fuzz-shell.c - libFuzzer target for src/shell.c.
 *
 * Input: byte 0 picks the escape char and the _ex flags, the rest is the word.
 * Every entry point runs on it with a fixed environment; besides "no crash,
 * no leak, no hang" it checks invariants that must hold for any input:
 * ProcessWord and ProcessWords fail on exactly the same inputs, fields are
 * never empty, and a failure always comes with an error message. */
#include "lib/ib.h"
#include "src/shell.h"

static const char *const env[][2] = {
        { "PWD", "/home" }, { "EMPTY", "" }, { "SP", "  a b  c " }, { "V", "file.tar.gz" },
        { "P", "*." }, { "NL", "x\ny" }, { "Q", "'\"$V\\" }, { "U", "안녕\xc2\xa0하" }, { "1", "one" },
};

static const char *lookup(const char *name, void *userdata)
{
        (void) userdata;
        for (size_t i = 0; i < IB_ELEMENTSOF(env); i++)
                if (strcmp(env[i][0], name) == 0)
                        return env[i][1];
        return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        char esc = (data[0] & 1) ? '`' : '\\';
        unsigned flags = (data[0] >> 1) & 0xf;
        /* a C string: the word stops at the first NUL, as it does for callers */
        char *word = ib_strndup((const char *) data + 1, size - 1);
        struct ib_err *err = NULL;
        char *out = NULL;
        char **v = NULL;

        int r1 = ib_shell_expand_word(word, esc, lookup, NULL, &out, &err);
        if (r1 < 0 && (!err || !err->msg || !strstr(err->msg, "at column ")))
                abort();
        free(out);
        out = NULL;
        ib_err_free(&err);

        int r2 = ib_shell_expand_words(word, esc, lookup, NULL, &v, &err);
        if ((r1 < 0) != (r2 < 0))
                abort();
        for (size_t i = 0; r2 == 0 && v[i]; i++)
                if (v[i][0] == '\0')
                        abort();
        ib_strv_free(v);
        v = NULL;
        ib_err_free(&err);

        if (ib_shell_expand_word_ex(word, esc, flags, lookup, NULL, &out, &err) < 0 && !err)
                abort();
        free(out);
        ib_err_free(&err);

        int r3 = ib_shell_split(word, esc, &v, &err);
        if (r3 < 0 && !err)
                abort();
        for (size_t i = 0; r3 == 0 && v[i]; i++)
                if (v[i][0] == '\0')
                        abort();
        ib_strv_free(v);
        ib_err_free(&err);
        free(word);
        return 0;
}
