/* tests/unit/test-dockerignore.c - src/dockerignore.c: Docker's .dockerignore
 * rules.  Expectations are derived from the .dockerignore documentation and
 * the cases of moby/patternmatcher's tests (MatchesOrParentMatches, and the
 * filepath.Match cases it borrows), re-derived from the rules by hand. */
#include "lib/ib.h"
#include "src/dockerignore.h"
#include "tests/lib/ib-test.h"
#include <sys/stat.h>

/* the case tables leave trailing fields out on purpose */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

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

struct match_case {
        const char *file;       /* .dockerignore text */
        const char *path;
        bool excluded;
};

static const struct match_case match_cases[] = {
        /* `**` (patternmatcher TestMatches) */
        { "**", "file", true },
        { "**/", "file", true },
        { "**", "dir/file", true },
        { "**/", "dir/file", true },
        { "**/**", "dir/file", true },
        { "dir/**", "dir/file", true },
        { "dir/**", "dir/dir2/file", true },
        { "**/dir", "dir", true },
        { "**/dir", "dir/file", true },
        { "**/dir2/*", "dir/dir2/file", true },
        { "**/dir2/**", "dir/dir2/dir3/file", true },
        { "**file", "file", true },
        { "**file", "dir/file", true },
        { "**file", "dir/myfile", true },
        { "**/file", "dir/dir/file", true },
        { "**/file", "dir/myfile", false },
        { "**/file*", "dir/dir/file.txt", true },
        { "**/file*txt", "dir/dir/file.txt", true },
        { "**/**/*.txt", "dir/dir/file.txt", true },
        { "**/**/*.txt2", "dir/dir/file.txt", false },
        { "**/*.txt", "file.txt", true },
        { "**/**/*.txt", "file.txt", true },
        { "a**/*.txt", "a/file.txt", true },
        { "a**/*.txt", "a/dir/dir/file.txt", true },
        { "a/*.txt", "a/dir/file.txt", false },
        { "a/*.txt", "a/file.txt", true },
        { "a/*.txt**", "a/file.txt", true },
        { "**/foo/bar", "foo/bar", true },
        { "**/foo/bar", "dir/dir2/foo/bar", true },
        { "abc/**", "abc", false },
        { "abc/**", "abc/def/ghi", true },
        { "**/.foo", ".foo", true },
        { "**/.foo", "bar.foo", false },
        { "a/**/b", "a/b", true },
        { "a/**/b", "a/x/y/b", true },
        { "a/**/b", "a/xb", false },
        { "a/**/b", "a/x\ny/b", false },        /* like Go's regexp `.`, ** stops at a newline */
        /* classes, ?, regexp metacharacters taken literally */
        { "a[b-d]e", "ae", false },
        { "a[b-d]e", "ace", true },
        { "a[b-d]e", "aae", false },
        { "a[^b-d]e", "aze", true },
        { "a[^x]b", "a/b", true },              /* Docker's regexp class does match `/` */
        { "[!a]b", "!b", true },                /* `!` is a member, as in Go */
        { "[!a]b", "ab", true },
        { "[!a]b", "xb", false },
        { ".*", ".foo", true },
        { ".*", "foo", false },
        { "abc.def", "abcdef", false },
        { "abc.def", "abc.def", true },
        { "abc.def", "abcZdef", false },
        { "abc?def", "abcZdef", true },
        { "abc?def", "abcdef", false },
        { "a(b)c/def", "a(b)c/def", true },
        { "a(b)c/def", "a(b)c/xyz", false },
        { "a.|)$(}+{bc", "a.|)$(}+{bc", true },
        { "dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true },
        { "a\\\\", "a\\", true },
        { "a\\*b", "a*b", true },
        { "a\\*b", "axb", false },
        { "\\#x", "#x", true },
        /* filepath.Match cases, through parent matching */
        { "abc", "abc", true },
        { "*", "abc", true },
        { "*c", "abc", true },
        { "a*", "a", true },
        { "a*", "ab/c", true },
        { "a*/b", "abc/b", true },
        { "a*/b", "a/c/b", false },
        { "a*b*c*d*e*/f", "axbxcxdxe/f", true },
        { "a*b*c*d*e*/f", "axbxcxdxexxx/f", true },
        { "a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false },
        { "a*b*c*d*e*/f", "axbxcxdxexxx/fff", false },
        { "a*b?c*x", "abxbbxdbxebxczzx", true },
        { "a*b?c*x", "abxbbxdbxebxczzy", false },
        { "ab[c]", "abc", true },
        { "ab[b-d]", "abc", true },
        { "ab[e-g]", "abc", false },
        { "ab[^c]", "abc", false },
        { "ab[^b-d]", "abc", false },
        { "ab[^e-g]", "abc", true },
        { "a?b", "a☺b", true },
        { "a[^a]b", "a☺b", true },
        { "a???b", "a☺b", false },
        { "[a-ζ]*", "α", true },
        { "*[a-ζ]", "A", false },
        { "a?b", "a/b", false },
        { "a*b", "a/b", false },
        { "[\\]a]", "]", true },
        { "[\\-]", "-", true },
        { "[x\\-]", "x", true },
        { "[x\\-]", "-", true },
        { "[x\\-]", "z", false },
        { "[\\-x]", "a", false },
        { "*x", "xxx", true },
        /* exceptions and order (patternmatcher multi-pattern cases, docs) */
        { "**\n!util/docker/web", "util/docker/web/foo", false },
        { "**\n!util/docker/web\nutil/docker/web/foo", "util/docker/web/foo", true },
        { "**\n!dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false },
        { "!fileutils.go\n*.go", "fileutils.go", true },
        { "*.go\n!fileutils.go", "fileutils.go", false },
        { "docs\n!docs/README.md", "docs/README.md", false },
        { "docs/\n!docs/README.md", "docs/README.md", false },
        { "docs/*\n!docs/README.md", "docs/README.md", false },
        { "docs\n!docs/README.md", "docs/other.md", true },
        { "*.md\n!README.md", "README.md", false },
        { "*.md\n!README.md", "CHANGES.md", true },
        { "*.md\n!README*.md\nREADME-secret.md", "README-secret.md", true },
        { "*.md\n!README*.md\nREADME-secret.md", "README-public.md", false },
        { "*.md\nREADME-secret.md\n!README*.md", "README-secret.md", false },
        { "a\n!a/b\na", "a/b/c", true },        /* the last matching line wins, parents included */
        /* the documentation's example file */
        { "# comment\n*/temp*\n*/*/temp*\ntemp?", "somedir/temporary.txt", true },
        { "# comment\n*/temp*\n*/*/temp*\ntemp?", "somedir/temp", true },
        { "# comment\n*/temp*\n*/*/temp*\ntemp?", "somedir/subdir/temporary.txt", true },
        { "# comment\n*/temp*\n*/*/temp*\ntemp?", "tempa", true },
        { "# comment\n*/temp*\n*/*/temp*\ntemp?", "temporary.txt", false },
        { "# comment\n*/temp*\n*/*/temp*\ntemp?", "a/b/c/temp", false },
        /* file syntax: comments, whitespace, cleaning, leading / and ./ */
        { "#foo", "#foo", false },
        { "  # x", "# x", true },               /* only a `#` in column 1 starts a comment */
        { "foo   \n", "foo", true },
        { "\t  foo\t", "foo", true },
        { "*\n!  keep", "keep", false },
        { "/foo", "foo", true },
        { "/foo/", "foo/x", true },
        { "./foo/bar", "foo/bar", true },
        { "a//b/../c", "a/c", true },
        { "a//b/../c", "a/b", false },
        { "foo\r\nbar\r\n", "bar", true },
        { "\xef\xbb\xbf#c\nfoo", "foo", true },
        { "\xef\xbb\xbf#c\nfoo", "#c", false },
        { "\n\n   \n", "x", false },
        /* queries are cleaned; the root is never excluded */
        { "foo", "./foo", true },
        { "foo", "foo/", true },
        { "foo", "/foo", true },
        { "foo/bar", "foo//bar", true },
        { "*", ".", false },
        { "**", "", false },
        /* a directory pattern covers everything below it; files are not special */
        { "docs", "docs/a/b.txt", true },
        { "docs/", "docs", true },
        { "docs/", "docsx", false },
};

static void run_match_cases(void)
{
        for (size_t i = 0; i < IB_ELEMENTSOF(match_cases); i++) {
                const struct match_case *c = &match_cases[i];
                struct ib_ignore *m = NULL;
                struct ib_err *err = NULL;
                int r = ib_ignore_parse(c->file, strlen(c->file), ".dockerignore", &m, &err);
                bool got = r == 0 && ib_ignore_match(m, c->path);
                IB_OK(r == 0 && got == c->excluded, "match %zu: [%s] %s `%s`", i, vis(c->file),
                      c->excluded ? "excludes" : "keeps", vis(c->path));
                if (r < 0)
                        printf("#   error: %s\n", err->msg);
                ib_err_free(&err);
                ib_ignore_free(m);
        }
}

struct bad_case {
        const char *file;
        const char *msg;        /* expected message (exact) */
};

static const struct bad_case bad_cases[] = {
        { "[", ".dockerignore:1: bad pattern `[`: unterminated character class" },
        { "ok\n\n a[ ", ".dockerignore:3: bad pattern `a[`: unterminated character class" },
        { "[^", ".dockerignore:1: bad pattern `[^`: unterminated character class" },
        { "[^bc", ".dockerignore:1: bad pattern `[^bc`: unterminated character class" },
        { "[]a]", ".dockerignore:1: bad pattern `[]a]`: ']' where a class member was expected" },
        { "[-]", ".dockerignore:1: bad pattern `[-]`: '-' where a class member was expected" },
        { "[x-]", ".dockerignore:1: bad pattern `[x-]`: ']' where a class member was expected" },
        { "[-x]", ".dockerignore:1: bad pattern `[-x]`: '-' where a class member was expected" },
        { "[a-b-c]", ".dockerignore:1: bad pattern `[a-b-c]`: '-' where a class member was expected" },
        { "[z-a]", ".dockerignore:1: bad pattern `[z-a]`: invalid character class range" },
        { "x\\", ".dockerignore:1: bad pattern `x\\`: trailing backslash" },
        { "a\n!", ".dockerignore:2: illegal exclusion pattern: \"!\"" },
        { "a\n  !   ", ".dockerignore:2: illegal exclusion pattern: \"!\"" },
};

static void run_bad_cases(void)
{
        for (size_t i = 0; i < IB_ELEMENTSOF(bad_cases); i++) {
                struct ib_ignore *m = NULL;
                struct ib_err *err = NULL;
                int r = ib_ignore_parse(bad_cases[i].file, strlen(bad_cases[i].file), ".dockerignore", &m, &err);
                IB_STREQ(r < 0 && err ? err->msg : "(no error)", bad_cases[i].msg, "bad %zu: [%s]", i, vis(bad_cases[i].file));
                IB_OK(r == -EINVAL, "bad %zu: EINVAL", i);
                ib_err_free(&err);
                ib_ignore_free(m);
        }
        /* a line longer than bufio.Scanner takes */
        struct ib_buf b = IB_BUF_INIT;
        ib_buf_adds(&b, "ok\n");
        for (unsigned i = 0; i <= IB_IGNORE_MAX_LINE; i++)
                ib_buf_addc(&b, 'x');
        struct ib_ignore *m = NULL;
        struct ib_err *err = NULL;
        int r = ib_ignore_parse(b.buf, b.len, "f", &m, &err);
        IB_OK(r < 0 && err && strstr(err->msg, "f:2: line longer than"), "over-long line refused");
        ib_err_free(&err);
        ib_buf_release(&b);
}

/* COPY --exclude lists: Docker's New() rules, no comments, no leading-/ stripping. */
static void test_list(void)
{
        const char *const pats[] = { " *.txt ", "", "!keep.txt", "#x", "/abs" };
        struct ib_ignore *m = NULL;
        struct ib_err *err = NULL;
        int r = ib_ignore_from_list(pats, IB_ELEMENTSOF(pats), "COPY --exclude", &m, &err);

        IB_OK(r == 0 && ib_ignore_count(m) == 4 && ib_ignore_has_exceptions(m), "list: 4 patterns, with exceptions");
        IB_OK(ib_ignore_match(m, "a.txt") && !ib_ignore_match(m, "keep.txt"), "list: exclude and re-include");
        IB_OK(ib_ignore_match(m, "#x"), "list: `#` is not a comment there");
        IB_OK(!ib_ignore_match(m, "abs"), "list: a leading `/` stays (never matches a relative path)");
        ib_ignore_free(m);

        const char *const bad[] = { "a", "b[" };
        r = ib_ignore_from_list(bad, 2, "Dockerfile:7: COPY --exclude", &m, &err);
        IB_STREQ(r < 0 ? err->msg : "", "Dockerfile:7: COPY --exclude:2: bad pattern `b[`: unterminated character class",
                 "list: errors name the origin and the index");
        ib_err_free(&err);

        m = NULL;
        IB_OK(ib_ignore_from_list(NULL, 0, "x", &m, &err) == 0 && !ib_ignore_match(m, "a") && ib_ignore_count(m) == 0,
              "empty list excludes nothing");
        ib_ignore_free(m);
}

struct dir_case {
        const char *file;
        const char *dir;
        bool may;
};

static const struct dir_case dir_cases[] = {
        { "docs\n!docs/README.md", "docs", true },
        { "docs\n!docs/README.md", "docs/sub", false },
        { "node_modules", "node_modules", false },
        { "*\n!**/keep", "a/b", true },
        { "*\n!a/*/keep", "a/x", true },
        { "*\n!a/*/keep", "b", false },
        { "*\n!a/*/keep", "a/x/y", false },
        { "build\n!build/keep/**", "build", true },
        { "build\n!build/keep/**", "build/keep", true },
        { "build\n!build/keep/**", "build/other", false },
        { "x\n!x/[ab]*", "x/c", false },
        { "x\n!x/[ab]*", "x/bq", true },
        { "x\n!x/[ab]*", "x", true },
        { "*\n!b*", "b/c", true },
        { "*\n!src", "src/deep/er", true },     /* an exception for a parent re-includes the subtree */
        { "*\n!src", "lib", false },
};

static void run_dir_cases(void)
{
        for (size_t i = 0; i < IB_ELEMENTSOF(dir_cases); i++) {
                const struct dir_case *c = &dir_cases[i];
                struct ib_ignore *m = NULL;
                struct ib_err *err = NULL;
                int r = ib_ignore_parse(c->file, strlen(c->file), ".dockerignore", &m, &err);
                IB_OK(r == 0 && ib_ignore_dir_may_have_includes(m, c->dir) == c->may, "dir %zu: [%s] %s `%s`", i,
                      vis(c->file), c->may ? "must descend into" : "may skip", c->dir);
                ib_err_free(&err);
                ib_ignore_free(m);
        }
}

/* A walker that skips what dir_may_have_includes allows must never hide an
 * included path: compare it with asking about every path. */
static void test_walk_consistency(void)
{
        static const char *const tree[] = {
                "a", "a/b", "a/b/keep", "a/b/c.go", "a/keep", "a/x.txt", "build", "build/keep", "build/keep/f",
                "build/out", "build/out/o.bin", "docs", "docs/README.md", "docs/api", "docs/api/x.md", "src",
                "src/main.c", "src/vendor", "src/vendor/dep", "src/vendor/dep/keep", "z.md",
        };
        static const char *const files[] = {
                "a\n!a/b/keep",
                "*\n!**/keep",
                "**/*.go\n!a/b",
                "build\n!build/keep/**",
                "docs\n!docs/*.md",
                "*\n!src\nsrc/vendor\n!src/vendor/*/keep",
                "**\n!a/[bk]*",
                "*.md\n!docs/README.md\ndocs",
        };
        for (size_t f = 0; f < IB_ELEMENTSOF(files); f++) {
                struct ib_ignore *m = NULL;
                struct ib_err *err = NULL;
                bool ok = ib_ignore_parse(files[f], strlen(files[f]), "t", &m, &err) == 0;
                const char *skipped = NULL;
                size_t hidden = 0;
                for (size_t i = 0; ok && i < IB_ELEMENTSOF(tree); i++) {
                        const char *p = tree[i];
                        if (skipped && ib_startswith(p, skipped) && p[strlen(skipped)] == '/') {
                                hidden += !ib_ignore_match(m, p);       /* skipped but included: a bug */
                                continue;
                        }
                        skipped = NULL;
                        bool is_dir = i + 1 < IB_ELEMENTSOF(tree) && ib_startswith(tree[i + 1], p) &&
                                      tree[i + 1][strlen(p)] == '/';
                        if (is_dir && ib_ignore_match(m, p) && !ib_ignore_dir_may_have_includes(m, p))
                                skipped = p;
                }
                IB_OK(ok && hidden == 0, "walk %zu: [%s] skipping never hides an included path", f, vis(files[f]));
                ib_err_free(&err);
                ib_ignore_free(m);
        }
}

static int write_file(const char *dir, const char *name, const char *text)
{
        _cleanup_free_ char *p = ib_path_join(dir, name);
        struct ib_err *err = NULL;
        int r = ib_write_file_atomic(p, text, strlen(text), 0644, &err);
        ib_err_free(&err);
        return r;
}

static void test_load(void)
{
        const char *tmp = ib_t_tmpdir();
        _cleanup_free_ char *ctx = ib_path_join(tmp, "ctx");
        _cleanup_free_ char *df = ib_path_join(ctx, "sub/app.Dockerfile");
        _cleanup_free_ char *subdir = ib_path_join(ctx, "sub");
        struct ib_ignore *m = NULL;
        struct ib_err *err = NULL;
        char *used = NULL;

        IB_OK(mkdir(ctx, 0755) == 0 && mkdir(subdir, 0755) == 0, "context dirs");
        IB_OK(ib_ignore_load(ctx, df, &m, &used, &err) == 0 && used == NULL && ib_ignore_count(m) == 0,
              "no ignore file: an empty matcher");
        ib_ignore_free(m);

        write_file(ctx, ".dockerignore", "ctx-only\n");
        IB_OK(ib_ignore_load(ctx, df, &m, &used, &err) == 0 && used && ib_endswith(used, "ctx/.dockerignore") &&
              ib_ignore_match(m, "ctx-only"), "context .dockerignore is used");
        free(used);
        ib_ignore_free(m);

        write_file(subdir, "app.Dockerfile.dockerignore", "df-only\n");
        IB_OK(ib_ignore_load(ctx, df, &m, &used, &err) == 0 && used &&
              ib_endswith(used, "sub/app.Dockerfile.dockerignore") && ib_ignore_match(m, "df-only") &&
              !ib_ignore_match(m, "ctx-only"), "<Dockerfile>.dockerignore wins over the context's");
        free(used);
        ib_ignore_free(m);

        IB_OK(ib_ignore_load(ctx, NULL, &m, NULL, &err) == 0 && ib_ignore_match(m, "ctx-only"),
              "no Dockerfile path: the context's file");
        ib_ignore_free(m);

        write_file(ctx, ".dockerignore", "ok\nbad[\n");
        int r = ib_ignore_load(ctx, NULL, &m, NULL, &err);
        IB_OK(r < 0 && err && strstr(err->msg, "ctx/.dockerignore:2: bad pattern `bad[`"),
              "errors name the file and line (%s)", err ? err->msg : "none");
        ib_err_free(&err);
}

/* Matching is linear: a long path against wildcard-heavy patterns. */
static void test_bounds(void)
{
        struct ib_buf pat = IB_BUF_INIT, path = IB_BUF_INIT;
        for (int i = 0; i < 500; i++)
                ib_buf_adds(&pat, "*a");
        ib_buf_adds(&pat, "b\n**/**/**/x*y*z");
        for (int i = 0; i < 20000; i++)
                ib_buf_adds(&path, "a/");
        ib_buf_adds(&path, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac");
        struct ib_ignore *m = NULL;
        struct ib_err *err = NULL;
        IB_OK(ib_ignore_parse(pat.buf, pat.len, "t", &m, &err) == 0 && !ib_ignore_match(m, path.buf),
              "pathological pattern vs a 40 KB path: no match, no blow-up");
        ib_ignore_free(m);
        ib_buf_release(&pat);
        ib_buf_release(&path);
}

int main(void)
{
        run_match_cases();
        run_bad_cases();
        test_list();
        run_dir_cases();
        test_walk_consistency();
        test_load();
        test_bounds();
        return ib_t_done();
}
