/* tests/unit/test-shell.c - src/shell.c: BuildKit's word expansion, field
 * splitting and quote-aware splitting.
 *
 * Expectations come from BuildKit's documented behaviour: the Dockerfile
 * reference ("Environment replacement") and the cases of its shell lexer tests
 * (envVarTest, wordsTest, lex_test.go), re-derived by hand from its rules. */
#include "lib/ib.h"
#include "src/shell.h"
#include "tests/lib/ib-test.h"
#include <time.h>

/* the case tables leave trailing fields out on purpose */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* The environment of BuildKit's envVarTest, plus what a case adds. */
static const char *const base_env[] = { "PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL=", NULL };

struct env {
        const char *const *extra;       /* "K=V" strings, searched first */
        bool no_base;
        unsigned lookups;
};

static const char *find(const char *const *v, const char *name)
{
        size_t n = strlen(name);
        for (; v && *v; v++)
                if (strncmp(*v, name, n) == 0 && (*v)[n] == '=')
                        return *v + n + 1;
        return NULL;
}

static const char *lookup(const char *name, void *userdata)
{
        struct env *e = userdata;
        const char *v = find(e->extra, name);

        e->lookups++;
        if (!v && !e->no_base)
                v = find(base_env, name);
        return v;
}

/* @s with control characters shown as \xNN, for test names (a few live at once). */
static const char *vis(const char *s)
{
        static char bufs[4][512];
        static unsigned next;
        char *b = bufs[next++ % 4];
        size_t n = 0;

        for (; *s && n < sizeof(bufs[0]) - 5; s++) {
                if ((unsigned char) *s < 0x20)
                        n += (size_t) snprintf(b + n, 5, "\\x%02x", (unsigned char) *s);
                else
                        b[n++] = *s;
        }
        b[n] = '\0';
        return b;
}

#define ENV(...) ((const char *const[]) { __VA_ARGS__, NULL })
#define ERR "\x01"     /* expected: an error whose message contains the rest */

struct word_case {
        const char *in;
        const char *want;               /* ERR "substring" for an error */
        const char *const *env;
        char esc;
};

static const struct word_case word_cases[] = {
        /* quotes and escapes (envVarTest) */
        { "hello", "hello" },
        { "he'll'o", "hello" },
        { "he'llo", ERR "single-quote" },
        { "he\\'llo", "he'llo" },
        { "he\\\\'llo", ERR "single-quote" },
        { "abc\\tdef", "abctdef" },
        { "\"abc\\tdef\"", "abc\\tdef" },
        { "\"abc\\\\tdef\"", "abc\\tdef" },
        { "'abc\\tdef'", "abc\\tdef" },
        { "hello\\", "hello" },
        { "hello\\\\", "hello\\" },
        { "\"hello", ERR "double-quote" },
        { "\"hello\\\"", ERR "double-quote" },
        { "\"hel'lo\"", "hel'lo" },
        { "'hello", ERR "single-quote" },
        { "'hello\\'", "hello\\" },
        { "'hello\\there'", "hello\\there" },
        { "'hello\\\\there'", "hello\\\\there" },
        { "\"''\"", "''" },
        { "'\"hello\"'", "\"hello\"" },
        { "\"a\\\"b\"", "a\"b" },
        { "\"a\\\\b\"", "a\\b" },
        /* $ forms */
        { "$.", "$." },
        { "$", "$" },
        { "a$ b", "a$ b" },
        { "he$1x", "hex" },
        { "he$.x", "he$.x" },
        { "he$pwd.", "he." },
        { "he$PWD", "he/home" },
        { "he$PWD-x", "he/home-x" },
        { "he\\$PWD", "he$PWD" },
        { "he\\\\$PWD", "he\\/home" },
        { "\"he\\$PWD\"", "he$PWD" },
        { "\"he\\\\$PWD\"", "he\\/home" },
        { "'he\\$PWD'", "he\\$PWD" },
        { "\\${}", "${}" },
        { "\\${}aaa", "${}aaa" },
        { "he\\${}", "he${}" },
        { "he\\${}xx", "he${}xx" },
        { "${}", ERR "bad substitution at column 1" },
        { "${}xx", ERR "bad substitution" },
        { "he${}", ERR "bad substitution at column 3" },
        { "he${}xx", ERR "bad substitution" },
        { "${{aaa}", ERR "bad substitution" },
        { "${:x}", ERR "bad substitution" },
        { "he${hi}", "he" },
        { "he${hi}xx", "hexx" },
        { "he${PWD}", "he/home" },
        { "he${.}", ERR "unsupported modifier (.)" },
        { "${aaa}}", "}" },
        { "${aaa", ERR "missing '}' at column 1" },
        { "he${PWD", ERR "missing '}' at column 3" },
        { "x${", ERR "missing '}' at column 2" },
        { "${1a}", ERR "unsupported modifier (a)" },
        { "$@x$#$?$0", "x" },
        { "${10}", "ten", ENV("10=ten") },
        { "$10", "ten", ENV("10=ten") },
        /* ${v:-w} ${v-w} ${v:+w} ${v+w} */
        { "he${XXX:-000}xx", "he000xx" },
        { "he${PWD:-000}xx", "he/homexx" },
        { "he${XXX:-$PWD}xx", "he/homexx" },
        { "he${XXX:-${PWD:-yyy}}xx", "he/homexx" },
        { "he${XXX:-${YYY:-yyy}}xx", "heyyyxx" },
        { "he${XXX:YYY}", ERR "unsupported modifier (:Y)" },
        { "he${XXX:+${PWD}}xx", "hexx" },
        { "he${PWD:+${XXX}}xx", "hexx" },
        { "he${PWD:+${SHELL}}xx", "hebashxx" },
        { "he${XXX:+000}xx", "hexx" },
        { "he${PWD:+000}xx", "he000xx" },
        { "he${PWD:+${PWD}:}xx", "he/home:xx" },
        { "he${XXX:-\\$PWD:}xx", "he$PWD:xx" },
        { "he${XXX:-\\${PWD}z}xx", "he${PWDz}xx" },
        { "${NULL-x}|${NULL:-x}|${XXX-x}", "|x|x" },
        { "${NULL+x}|${NULL:+x}|${XXX+x}", "x||" },
        { "${XXX:-'a}b'}", "a}b" },
        { "${XXX:-\"$PWD x\"}", "/home x" },
        { "${XXX:-a b}", "a b" },
        { "he${PWD:=000}xx", ERR "unsupported modifier (:=)" },
        { "${FOO=aaa}", ERR "unsupported modifier (=)" },
        { "${XXX:-${YYY", ERR "missing '}' at column 1" },
        { "${XXX:-'abc", ERR "missing '}'" },
        { "${XXX:", ERR "missing '}'" },
        /* ${v?m} ${v:?m} */
        { "he${XXX?}", ERR "XXX: is not allowed to be unset" },
        { "he${XXX:?}", ERR "XXX: is not allowed to be unset at column 3" },
        { "he${PWD?}", "he/home" },
        { "he${PWD:?}", "he/home" },
        { "he${NULL?}", "he" },
        { "he${NULL:?}", ERR "NULL: is not allowed to be empty" },
        { "${VAR:?message here$ARG}", "plain", ENV("VAR=plain", "ARG=x") },
        { "${VAR:?message here$ARG}", ERR "VAR: message herex", ENV("VAR=", "ARG=x") },
        { "${VAR?message here$ARG}", "", ENV("VAR=", "ARG=x") },
        { "${VAR?message here$ARG}", ERR "VAR: message herex", ENV("ARG=x") },
        /* single and double quotes around expansions */
        { "'he${XX}'", "he${XX}" },
        { "\"he${PWD}\"", "he/home" },
        { "\"he'$PWD'\"", "he'/home'" },
        { "\"$PWD\"", "/home" },
        { "'$PWD'", "$PWD" },
        { "'\\$PWD'", "\\$PWD" },
        /* UTF-8 */
        { "안녕하세요", "안녕하세요" },
        { "안'녕'하세요", "안녕하세요" },
        { "안녕\\'하세요", "안녕'하세요" },
        { "\"안녕\\t하세요\"", "안녕\\t하세요" },
        { "안녕$KOREAN", "안녕한국어" },
        { "\"안녕${XXX:-${PWD:-yyy}}xx\"", "안녕/homexx" },
        { "\xef\xbb\xbf" "BOM$SHELL", "BOMbash" },
        /* the Dockerfile reference's examples */
        { "${foo}", "/bar", ENV("foo=/bar") },
        { "$foo", "/bar", ENV("foo=/bar") },
        { "\\$foo", "$foo", ENV("foo=/bar") },
        { "\\${foo}", "${foo}", ENV("foo=/bar") },
        { "${foo}_bar", "/bar_bar", ENV("foo=/bar") },
        { "$foo_bar", "", ENV("foo=/bar") },
        { "${str#f*b}", "arbaz", ENV("str=foobarbaz") },
        { "${str##f*b}", "az", ENV("str=foobarbaz") },
        { "${str%b*z}", "foobar", ENV("str=foobarbaz") },
        { "${str%%b*z}", "foo", ENV("str=foobarbaz") },
        { "${str/ba/fo}", "fooforbaz", ENV("str=foobarbaz") },
        { "${str//ba/fo}", "fooforfoz", ENV("str=foobarbaz") },
        /* patterns (lex_test.go ProcessWithMatches) */
        { "${FOO#()[]{\\}^$.\\*\\?|\\\\}", "x", ENV("FOO=()[]{}^$.*?|\\x") },
        { "${FOO%%\\**}", "xx", ENV("FOO=xx**") },
        { "${FOO#*x*y}", "y", ENV("FOO=xxyy") },
        { "${FOO#*}", "xxyy", ENV("FOO=xxyy") },
        { "${FOO#$BAR}", "xyy", ENV("FOO=xxyy", "BAR=x") },
        { "${FOO#$BAR}", "xxyy", ENV("FOO=xxyy", "BAR=") },
        { "${FOO#}", "xxyy", ENV("FOO=xxyy") },
        { "${FOO##*x}", "yy", ENV("FOO=xxyy") },
        { "${FOO##}", "xxyy", ENV("FOO=xxyy") },
        { "${FOO#?\\?}", "?y", ENV("FOO=???y") },
        { "${ABC:-.}${FOO%x}${ABC:-.}", ".xxyy.", ENV("FOO=xxyy") },
        { "${FOO%%\\**\\*}", "a", ENV("FOO=a***yy*") },
        { "${FOO%}", "xxyy", ENV("FOO=xxyy") },
        { "${FOO%%$BAR}", "xxyy", ENV("FOO=xxyy", "BAR=") },
        { "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", "/foo.*/*.txt - /foo..*.txt",
          ENV("FOO=/foo*/*/*.txt", "NEEDLE=\\*/") },
        { "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", "/tmp/bar.txt - /bar.txt", ENV("FOO=/tmp/tmp/bar.txt", "NEEDLE=/tmp") },
        { "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}", "/foo/b/c.txt - /foo/c.txt",
          ENV("FOO=/a/foo/b/c.txt", "NEEDLE=/?/", "REPLACEMENT=/") },
        { "${FOO/$NEEDLE/$REPLACEMENT}", "https://google.de",
          ENV("FOO=http://google.de", "NEEDLE=http://", "REPLACEMENT=https://") },
        { "${FOO//\\//\\/}", "\\/tmp\\/foo.txt", ENV("FOO=/tmp/foo.txt") },
        { "${FOO/$BAR/ww}", "wwxxyy", ENV("FOO=xxyy", "BAR=") },
        { "${FOO//ww}", ERR "missing '/'", ENV("FOO=xxyy") },
        { "${FOO//}", ERR "missing '/'", ENV("FOO=xxyy") },
        { "${FOO///}", "xxyy", ENV("FOO=xxyy") },
        { "${FOO///}", "" },
        { "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
          "something-v1.2.3.linux-arm-v7.tar.gz",
          ENV("VERSION=v1.2.3", "TARGETOS=linux", "TARGETARCH=arm", "TARGETVARIANT=v7") },
        { "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
          "something-v1.2.3.linux-amd64.tar.gz", ENV("VERSION=v1.2.3", "TARGETOS=linux", "TARGETARCH=amd64") },
        /* more patterns, derived from the rules: shortest/longest, ? is one
         * character, no bracket expressions, wildcards stop at a newline */
        { "${V%.*}|${V%%.*}|${V#*.}|${V##*.}", "file.tar|file|tar.gz|gz", ENV("V=file.tar.gz") },
        { "${V#a*}|${V##a*}", "XbYc|", ENV("V=aXbYc") },
        { "${V#?}|${V%?}", "녕하|안녕", ENV("V=안녕하") },
        { "${V#[ab]}", "c", ENV("V=[ab]c") },
        { "${V#[ab]}", "ac", ENV("V=ac") },
        { "${V%?}", "ab\n", ENV("V=ab\n") },
        { "${V/a*/X}", "X\nbbb", ENV("V=aaa\nbbb") },
        { "${V/*/X}", "X", ENV("V=abc") },
        { "${V//?/X}", "XXX", ENV("V=a안c") },
        { "${V///x}", "xaxbx", ENV("V=ab") },
        { "${V//a/'$0$0'}|${V/a/'$0'}", "baanaanaa|b$0nana", ENV("V=banana") },
        { "${V//a/'$$'}", "b$n$n$", ENV("V=banana") },
        { "${V//a*n/-}", "b-a", ENV("V=banana") },
        { "${V/a}b/c}", "ban", ENV("V=ban", "x=") },
        { "${V#\\x}", ERR "invalid escape '\\x'", ENV("V=x") },
        { "${V#$P}", ERR "invalid escape", ENV("V=x", "P=a\\") },
        { "${V%'*'}|${V%%'*'}", "abc|", ENV("V=abc") },
        { "${V:#a}", "bc", ENV("V=abc") },
        /* the ` escape (# escape=`) */
        { "he`$PWD", "he$PWD", NULL, '`' },
        { "C:\\dir`$PWD", "C:\\dir$PWD", NULL, '`' },
        { "\"a\\b`\"c\"", "a\\b\"c", NULL, '`' },
        { "\\$PWD", "\\/home", NULL, '`' },
        { "a``b", "a`b", NULL, '`' },
};

static void run_word_cases(void)
{
        for (size_t i = 0; i < IB_ELEMENTSOF(word_cases); i++) {
                const struct word_case *c = &word_cases[i];
                struct env e = { .extra = c->env };
                struct ib_err *err = NULL;
                char *got = NULL;
                int r = ib_shell_expand_word(c->in, c->esc ? c->esc : '\\', lookup, &e, &got, &err);

                if (c->want[0] == ERR[0]) {
                        bool ok = r < 0 && err && strstr(err->msg, c->want + 1);
                        IB_OK(ok, "word %zu: `%s` fails with \"%s\"", i, vis(c->in), c->want + 1);
                        if (!ok)
                                printf("#   got: r=%d %s\n", r, err ? err->msg : got);
                } else {
                        IB_STREQ(r == 0 ? got : (err ? err->msg : "?"), c->want, "word %zu: `%s`", i, vis(c->in));
                }
                free(got);
                ib_err_free(&err);
        }
}

/* ProcessWords (wordsTest): fields joined with "," for the table. */
struct words_case {
        const char *in;
        const char *want;               /* fields joined by '|', or ERR */
        const char *const *env;
};

static const struct words_case words_cases[] = {
        { "hello", "hello" },
        { "hello${hi}bye", "hellobye" },
        { "hello${hi}bye", "hellohibye", ENV("hi=hi") },
        { "hello${space}bye", "helloabc|defbye", ENV("space=abc  def") },
        { "hello\"${space}\"bye", "helloabc  defbye", ENV("space=abc  def") },
        { "hello \"${space}\"bye", "hello|abc  defbye", ENV("space=abc  def") },
        { "hello${leading}def", "hello|ab|cdef", ENV("leading=  ab c") },
        { "hello\"${leading}\" def", "hello  ab c|def", ENV("leading=  ab c") },
        { "hello\"${leading}\"", "hello  ab c", ENV("leading=  ab c") },
        { "hello${leading}", "hello|ab|c", ENV("leading=  ab c") },
        { "hello${trailing}", "helloab|c", ENV("trailing=ab c   ") },
        { "hello${trailing}d", "helloab|c|d", ENV("trailing=ab c   ") },
        { "hello\"${trailing}\"d", "helloab c   d", ENV("trailing=ab c   ") },
        { "hel\"lo${trailing}\"", "helloab c   ", ENV("trailing=ab c   ") },
        { "hello\" there  \"", "hello there  " },
        { "hello there     ", "hello|there" },
        { "hello\\ there", "hello there" },
        { "hello\" there", ERR "double-quote" },
        { "hello\\\" there", "hello\"|there" },
        { "hello\"\\\\there\"", "hello\\there" },
        { "hello\"\\there\"", "hello\\there" },
        { "hello'\\\\there'", "hello\\\\there" },
        { "hello'\\there'", "hello\\there" },
        { "hello'$there'", "hello$there" },
        { "  a \t b\n c  ", "a|b|c" },
        { "a \"\" b", "a|b" },
        { "\"\"", "" },
        { "", "" },
        { "x\"\" y", "x|y" },
        { "a\xc2\xa0" "b", "a|b" },             /* U+00A0 is a space to Go */
        { "a\\\xc2\xa0" "b", "a\xc2\xa0" "b" }, /* ... unless escaped */
        { "${XXX:-a b} c", "a|b|c" },
        { "\"${XXX:-a b}\" c", "a b|c" },
        { "${XXX:-\"a b\"} c", "a|b|c" },        /* BuildKit splits a ${} result even if it was quoted inside */
        { "'$x y' $x", "$x y|1|2", ENV("x=1 2") },
};

static void run_words_cases(void)
{
        for (size_t i = 0; i < IB_ELEMENTSOF(words_cases); i++) {
                const struct words_case *c = &words_cases[i];
                struct env e = { .extra = c->env };
                struct ib_err *err = NULL;
                char **got = NULL;
                int r = ib_shell_expand_words(c->in, '\\', lookup, &e, &got, &err);

                if (c->want[0] == ERR[0]) {
                        IB_OK(r < 0 && err && strstr(err->msg, c->want + 1), "words %zu: `%s` fails", i, vis(c->in));
                } else {
                        struct ib_buf b = IB_BUF_INIT;
                        for (size_t j = 0; r == 0 && got[j]; j++)
                                ib_buf_addf(&b, "%s%s", j ? "|" : "", got[j]);
                        IB_STREQ(r == 0 ? b.buf : err->msg, c->want, "words %zu: `%s`", i, vis(c->in));
                        ib_buf_release(&b);
                }
                ib_strv_free(got);
                ib_err_free(&err);
        }
}

struct split_case {
        const char *in;
        const char *want;       /* words joined by '|', or ERR */
        char esc;
};

static const struct split_case split_cases[] = {
        { "a=\"x y\" b=z", "a=\"x y\"|b=z" },
        { "a\\ b c", "a\\ b|c" },
        { "'a b' \"c\\\" d\"", "'a b'|\"c\\\" d\"" },
        { "  lead \t trail  ", "lead|trail" },
        { "'a\\' b", "'a\\'|b" },
        { "x\\", "x" },
        { "\\", "" },
        { "", "" },
        { "a\\\"b c\"", ERR "double-quote at column 7" },
        { "\"abc", ERR "double-quote at column 1" },
        { "x 'abc", ERR "single-quote at column 3" },
        { "a` b c", "a` b|c", '`' },
        { "a\\ b", "a\\|b", '`' },
        { "k=\"$V\" k2='${x:-a b}'", "k=\"$V\"|k2='${x:-a b}'" },
        { "a\xc2\xa0" "b", "a|b" },
};

static void run_split_cases(void)
{
        for (size_t i = 0; i < IB_ELEMENTSOF(split_cases); i++) {
                const struct split_case *c = &split_cases[i];
                struct ib_err *err = NULL;
                char **got = NULL;
                int r = ib_shell_split(c->in, c->esc ? c->esc : '\\', &got, &err);

                if (c->want[0] == ERR[0]) {
                        IB_OK(r < 0 && err && strstr(err->msg, c->want + 1), "split %zu: `%s` fails (%s)", i, vis(c->in),
                              err ? err->msg : "no error");
                } else {
                        struct ib_buf b = IB_BUF_INIT;
                        for (size_t j = 0; r == 0 && got[j]; j++)
                                ib_buf_addf(&b, "%s%s", j ? "|" : "", got[j]);
                        IB_STREQ(r == 0 ? b.buf : err->msg, c->want, "split %zu: `%s`", i, vis(c->in));
                        ib_buf_release(&b);
                }
                ib_strv_free(got);
                ib_err_free(&err);
        }
}

/* The _ex options mirror BuildKit's Lex fields. */
static void test_options(void)
{
        static const struct {
                const char *in;
                unsigned flags;
                const char *want;
        } cases[] = {
                { "'$PWD' \"a\" $X", IB_SHELL_SKIP_QUOTES, "'/home' \"a\" " },
                { "cat <<'x' \"$PWD\"", IB_SHELL_SKIP_QUOTES, "cat <<'x' \"/home\"" },
                { "'a' \"$PWD\"", IB_SHELL_RAW_QUOTES, "'a' \"/home\"" },
                { "a\\ b\\$PWD", IB_SHELL_RAW_ESCAPES, "a\\ b\\$PWD" },
                { "$X ${X} ${X:-d} ${X/a/b} $PWD", IB_SHELL_SKIP_UNSET, "$X ${X} ${X:-d} ${X/a/b} /home" },
        };
        for (size_t i = 0; i < IB_ELEMENTSOF(cases); i++) {
                struct env e = { 0 };
                struct ib_err *err = NULL;
                char *got = NULL;
                int r = ib_shell_expand_word_ex(cases[i].in, '\\', cases[i].flags, lookup, &e, &got, &err);
                IB_STREQ(r == 0 ? got : err->msg, cases[i].want, "flags %#x: `%s`", cases[i].flags, cases[i].in);
                free(got);
                ib_err_free(&err);
        }

        /* a NULL lookup: nothing is set */
        char *got = NULL;
        struct ib_err *err = NULL;
        IB_OK(ib_shell_expand_word("a${X:-b}$Y", '\\', NULL, NULL, &got, &err) == 0 && strcmp(got, "ab") == 0,
              "NULL lookup means every name is unset");
        free(got);

        /* the lookup sees every name used, also in unused alternatives (cache keys) */
        struct env e = { 0 };
        IB_OK(ib_shell_expand_word("${PWD:-$A}${B:+$C}'$D'", '\\', lookup, &e, &got, &err) == 0 && e.lookups == 4,
              "lookup called for every expanded name (%u)", e.lookups);
        free(got);
}

/* Bounds: nesting depth is limited with an error; huge words are linear. */
static void test_bounds(void)
{
        struct ib_buf b = IB_BUF_INIT;
        struct ib_err *err = NULL;
        struct env e = { 0 };
        char *got = NULL;
        char **v = NULL;
        int r;

        for (int i = 0; i < IB_SHELL_MAX_DEPTH; i++)
                ib_buf_adds(&b, "${X:-");
        ib_buf_adds(&b, "deep");
        for (int i = 0; i < IB_SHELL_MAX_DEPTH; i++)
                ib_buf_addc(&b, '}');
        r = ib_shell_expand_word(b.buf, '\\', lookup, &e, &got, &err);
        IB_OK(r == 0 && strcmp(got, "deep") == 0, "%d nested expansions work", IB_SHELL_MAX_DEPTH);
        free(got);
        got = NULL;

        ib_buf_reset(&b);
        for (int i = 0; i < 200000; i++)
                ib_buf_adds(&b, "${X:-\"");
        r = ib_shell_expand_word(b.buf, '\\', lookup, &e, &got, &err);
        IB_OK(r < 0 && err && strstr(err->msg, "nested deeper than 100 levels at column 601"),
              "200000 nested expansions: an error, no stack overflow (%s)", err ? err->msg : "none");
        ib_err_free(&err);

        /* 10 MB words: plain text, quoted text, and many expansions */
        const size_t big = 10u << 20;
        struct ib_buf want = IB_BUF_INIT;
        ib_buf_reset(&b);
        while (b.len < big) {
                ib_buf_adds(&b, "abcdefgh$PWD\\ \"q $SHELL\" x ");
                ib_buf_adds(&want, "abcdefgh/home q bash x ");
        }
        clock_t t0 = clock();
        r = ib_shell_expand_word(b.buf, '\\', lookup, &e, &got, &err);
        IB_OK(r == 0 && got && strcmp(got, want.buf) == 0, "a 10 MB word expands (%zu bytes)", got ? strlen(got) : 0);
        ib_buf_release(&want);
        free(got);
        got = NULL;
        r = ib_shell_expand_words(b.buf, '\\', lookup, &e, &v, &err);
        IB_OK(r == 0 && ib_strv_len(v) > 100000, "a 10 MB text splits into %zu fields", v ? ib_strv_len(v) : 0);
        ib_strv_free(v);
        v = NULL;
        r = ib_shell_split(b.buf, '\\', &v, &err);
        IB_OK(r == 0 && ib_strv_len(v) > 100000, "a 10 MB text splits unexpanded");
        ib_strv_free(v);
        v = NULL;
        printf("# 10 MB word: expand + words + split took %.2f s CPU\n", (double) (clock() - t0) / CLOCKS_PER_SEC);

        /* a 1 MB value through the pattern operators */
        _cleanup_free_ char *val = ib_malloc(1u << 20 | 1);
        memset(val, 'a', 1u << 20);
        val[1u << 20] = '\0';
        _cleanup_free_ char *def = ib_strdupf("V=%s", val);
        struct env ev = { .extra = ENV(def) };
        r = ib_shell_expand_word("${V%%a*}|${V#*a}|${V//a/b}", '\\', lookup, &ev, &got, &err);
        IB_OK(r == 0 && strlen(got) == 1 + ((1u << 20) - 1) + 1 + (1u << 20), "patterns over a 1 MB value");
        free(got);
        got = NULL;

        /* Found by fuzz-shell: replacements nested in replacements multiply
         * lengths (here 11^9 bytes from 100 bytes of input): an error at a
         * bound, not gigabytes and a minute. */
        struct env e11 = { .extra = ENV("V=file.tar.gz") };
        ib_buf_reset(&b);
        for (int i = 0; i < 9; i++)
                ib_buf_adds(&b, "${V//?/");
        ib_buf_adds(&b, "x");
        for (int i = 0; i < 9; i++)
                ib_buf_addc(&b, '}');
        t0 = clock();
        r = ib_shell_expand_word(b.buf, '\\', lookup, &e11, &got, &err);
        IB_OK(r < 0 && err && strstr(err->msg, "the replacement makes the value longer than"),
              "nested replacements stop at a bound (%s)", err ? err->msg : got ? "expanded" : "-");
        printf("# nested replacements: %.2f s CPU\n", (double) (clock() - t0) / CLOCKS_PER_SEC);
        ib_err_free(&err);
        free(got);
        ib_buf_release(&b);
}

int main(void)
{
        run_word_cases();
        run_words_cases();
        run_split_cases();
        test_options();
        test_bounds();
        return ib_t_done();
}
