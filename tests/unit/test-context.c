/* tests/unit/test-context.c - build contexts and the COPY/ADD engine: globs,
 * destination rules, --chmod, passwd/group and --chown, cache-key properties,
 * exclusion, and a small apply. */
#include "lib/ib.h"
#include "src/context-int.h"
#include "tests/lib/ib-test.h"
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <inttypes.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>

static const char *T;   /* temp dir */

static void put(const char *rel, const char *data)
{
        _cleanup_free_ char *p = ib_path_join(T, rel);
        _cleanup_free_ char *d = ib_strdup(p);
        struct ib_err *e = NULL;
        *strrchr(d, '/') = '\0';
        (void) ib_mkdir_p(d, 0755, &e);
        ib_err_free(&e);
        (void) ib_write_file_atomic(p, data, strlen(data), 0644, &e);
        ib_err_free(&e);
}

static void lnk(const char *target, const char *rel)
{
        _cleanup_free_ char *p = ib_path_join(T, rel);
        (void) symlink(target, p);
}

/* ------------------------------------------------------------- globs */

static void test_glob(void)
{
        static const struct { const char *pat, *name; int want; } c[] = {
                { "abc", "abc", 1 }, { "*", "abc", 1 }, { "*c", "abc", 1 }, { "a*", "a", 1 },
                { "a*", "abc", 1 }, { "a*", "ab/c", 1 } /* one component: no '/' semantics here */,
                { "a*b*c*d*e*", "axbxcxdxe", 1 }, { "ab[c]", "abc", 1 }, { "ab[b-d]", "abc", 1 },
                { "ab[e-g]", "abc", 0 }, { "ab[^c]", "abc", 0 }, { "ab[^b-d]", "abc", 0 },
                { "ab[^e-g]", "abc", 1 }, { "a\\*b", "a*b", 1 }, { "a\\*b", "ab", 0 }, { "a?b", "a☺b", 1 },
                { "a[^a]b", "a☺b", 1 }, { "a???b", "a☺b", 0 }, { "*x", "xxx", 1 }, { "[\\]a]", "]", 1 },
                { "[\\-]", "-", 1 }, { "[x\\-]", "z", 0 }, { ".*", ".hidden", 1 }, { "*", ".hidden", 1 },
                { "[", "a", -EINVAL }, { "[^", "a", -EINVAL }, { "[-]", "-", -EINVAL }, { "[]a]", "]", -EINVAL },
                { "a[", "x", -EINVAL }, { "\\", "a", -EINVAL }, { "*.txt", "a.txt", 1 }, { "*.txt", "a.txt.go", 0 },
                { "*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
                { "*[a-c]?x*", "zzbqxq", 1 }, { "a*b?c", "axxbyc", 1 }, { "a*b?c", "axxbc", 0 },
        };
        for (size_t i = 0; i < IB_ELEMENTSOF(c); i++) {
                int r = ib_glob_match(c[i].pat, c[i].name);
                IB_OK(r == c[i].want, "glob `%s` vs `%s` -> %d (got %d)", c[i].pat, c[i].name, c[i].want, r);
        }
        IB_OK(ib_glob_has_magic("a/*.txt") && ib_glob_has_magic("[ab]") && !ib_glob_has_magic("a\\*b") &&
              !ib_glob_has_magic("plain/path"), "magic detection honours escapes");
}

/* ------------------------------------------------------------- chmod */

static void test_chmod(void)
{
        static const struct { const char *spec; mode_t in; bool dir; mode_t want; } c[] = {
                { "755", 0644, false, 0755 }, { "0644", 0777, true, 0644 }, { "4755", 0600, false, 04755 },
                { "0o750", 0644, false, 0750 },
                { "u+x", 0644, false, 0744 }, { "+x", 0644, false, 0755 }, { "a+x", 0600, false, 0711 },
                { "go-w", 0666, false, 0644 }, { "g-w,o-rwx", 0777, false, 0750 }, { "u=rw,go=r", 0777, false, 0644 },
                { "u=rwX,go=rX", 0600, true, 0755 }, { "u=rwX,go=rX", 0600, false, 0644 },
                { "u=rwX,go=rX", 0700, false, 0755 }, { "a+X", 0644, false, 0644 }, { "a+X", 0744, false, 0755 },
                { "g=u", 0750, false, 0770 }, { "o=g", 0754, false, 0755 }, { "u+s", 0755, false, 04755 },
                { "+t", 0777, true, 01777 }, { "=", 0777, false, 0 }, { "u-x+w", 0500, false, 0600 },
                { "ug=rw", 0000, false, 0660 },
        };
        for (size_t i = 0; i < IB_ELEMENTSOF(c); i++) {
                struct ib_chmod *m = NULL;
                struct ib_err *e = NULL;
                int r = ib_chmod_parse(c[i].spec, &m, &e);
                mode_t got = r == 0 ? ib_chmod_apply(m, c[i].in, c[i].dir) : (mode_t) -1;
                IB_OK(r == 0 && got == c[i].want, "chmod %s on %04o%s -> %04o (got %04o%s%s)", c[i].spec,
                      (unsigned) c[i].in, c[i].dir ? " dir" : "", (unsigned) c[i].want, (unsigned) got,
                      e ? ": " : "", e ? e->msg : "");
                ib_chmod_free(m);
                ib_err_free(&e);
        }
        static const char *const bad[] = { "", "9", "0888", "u", "u+q", "x+r", "u+x,", "77777", "a+x,,g-w" };
        for (size_t i = 0; i < IB_ELEMENTSOF(bad); i++) {
                struct ib_chmod *m = NULL;
                struct ib_err *e = NULL;
                int r = ib_chmod_parse(bad[i], &m, &e);
                IB_OK(r == -EINVAL && e && strstr(e->msg, bad[i]), "bad --chmod `%s` refused, named", bad[i]);
                ib_chmod_free(m);
                ib_err_free(&e);
        }
}

/* ------------------------------------------------------------- chown */

static void test_chown(void)
{
        const char *pw = "root:x:0:0:root:/root:/bin/sh\n# comment\nuser:x:1000:1001:u:/home/u:/bin/sh\n"
                         "bad:x:abc:1:::\nimguser:x:4242:4343:img:/:/bin/sh";
        const char *gr = "root:x:0:\nimggroup:x:4343:\nextra:x:5555:imguser\n";
        static const struct { const char *spec; int r; uid_t u; gid_t g; const char *msg; } c[] = {
                { "user", 0, 1000, 1001, NULL }, { "user:extra", 0, 1000, 5555, NULL },
                { "imguser", 0, 4242, 4343, NULL }, { "1234", 0, 1234, 1234, NULL },
                { "1234:55", 0, 1234, 55, NULL }, { "user:77", 0, 1000, 77, NULL }, { "0:imggroup", 0, 0, 4343, NULL },
                { "nosuch", -ENOENT, 0, 0, "user `nosuch` not found" },
                { "user:nogrp", -ENOENT, 0, 0, "group `nogrp` not found" },
                { "bad", -ENOENT, 0, 0, "user `bad`" }, { ":x", -EINVAL, 0, 0, "invalid" },
                { "user:", -EINVAL, 0, 0, "invalid" },
        };
        for (size_t i = 0; i < IB_ELEMENTSOF(c); i++) {
                uid_t u = 99;
                gid_t g = 99;
                struct ib_err *e = NULL;
                int r = ib_chown_resolve(c[i].spec, pw, gr, &u, &g, &e);
                if (c[i].r == 0)
                        IB_OK(r == 0 && u == c[i].u && g == c[i].g, "--chown %s -> %u:%u (got %d %u:%u)", c[i].spec,
                              c[i].u, c[i].g, r, u, g);
                else
                        IB_OK(r == c[i].r && e && strstr(e->msg, c[i].msg), "--chown %s fails: %s", c[i].spec,
                              e ? e->msg : "(no error)");
                ib_err_free(&e);
        }
        uid_t u;
        gid_t g;
        struct ib_err *e = NULL;
        IB_OK(ib_chown_resolve("user", NULL, NULL, &u, &g, &e) == -ENOENT && strstr(e->msg, "has none"),
              "no /etc/passwd in the image is said");
        ib_err_free(&e);
        IB_OK(ib_chown_resolve("42", NULL, NULL, &u, &g, &e) == 0 && u == 42 && g == 42, "numeric ids need no files");
        IB_OK(ib_passwd_lookup(pw, "root", &u, &g) == 0 && u == 0 && ib_passwd_lookup(pw, "roo", &u, &g) == -ENOENT,
              "passwd lookup is by whole name");
        IB_OK(ib_group_lookup(gr, "extra", &g) == 0 && g == 5555, "group lookup");
}

/* ------------------------------------------------------ plans and rules */

/* The image below: a fixed table. */
static int lower(const char *abs, struct stat *st, char **link, void *ud)
{
        static const struct { const char *path; mode_t mode; const char *link; } t[] = {
                { "/exists", S_IFDIR | 0710, NULL }, { "/usr", S_IFDIR | 0755, NULL },
                { "/usr/lib", S_IFDIR | 0755, NULL }, { "/lib", S_IFLNK | 0777, "usr/lib" },
                { "/file", S_IFREG | 0644, NULL }, { "/exists/sub", S_IFDIR | 0700, NULL },
                { "/exists/x.go", S_IFDIR | 0755, NULL },
        };
        (void) ud;
        for (size_t i = 0; i < IB_ELEMENTSOF(t); i++)
                if (strcmp(abs, t[i].path) == 0) {
                        memset(st, 0, sizeof(*st));
                        st->st_mode = t[i].mode;
                        st->st_uid = 7;
                        st->st_gid = 8;
                        if (t[i].link)
                                *link = ib_strdup(t[i].link);
                        return 0;
                }
        return -ENOENT;
}

struct pats { const char *const *p; };

static bool fnm_excluded(const char *rel, bool is_dir, void *ud)
{
        const struct pats *ps = ud;
        (void) is_dir;
        for (size_t i = 0; ps->p[i]; i++) {
                _cleanup_free_ char *c = ib_strdup(rel);
                for (;;) {
                        if (fnmatch(ps->p[i], c, FNM_PATHNAME) == 0)
                                return true;
                        char *s = strrchr(c, '/');
                        if (!s)
                                break;
                        *s = '\0';
                }
        }
        return false;
}

static char **plan_lines(struct ib_context *ctx, struct ib_copy_opts *o, struct ib_err **err, char ***empty)
{
        struct ib_copy_plan *p = NULL;
        if (!o->lookup)
                o->lookup = lower;
        if (ib_copy_plan_new(ctx, o, &p, err) < 0)
                return NULL;
        char **v = ib_copy_plan_describe(p);
        if (empty)
                *empty = ib_strv_dup(ib_copy_plan_stats(p)->empty_patterns ? ib_copy_plan_stats(p)->empty_patterns
                                                                           : (char *[]) { NULL });
        ib_copy_plan_free(p);
        return v;
}

static bool has_line(char **v, const char *want)
{
        for (size_t i = 0; v && v[i]; i++) {
                size_t n = strlen(want);
                if (strcmp(v[i], want) == 0 || (want[n - 1] == '*' && strncmp(v[i], want, n - 1) == 0))
                        return true;
        }
        return false;
}

struct rule {
        const char *srcs[4];
        const char *dest;
        bool parents;
        const char *want[4];    /* lines that must be present ("...*" = prefix) */
        const char *absent;     /* a path that must not appear as a line's target */
        const char *error;      /* substring of the expected error */
};

static void test_rules(struct ib_context *ctx)
{
        static const struct rule rules[] = {
                { { "a.txt" }, "/x", false, { "f 0644 0:0 /x" }, "/x/a.txt", NULL },
                { { "a.txt" }, "/x/", false, { "d 0755 0:0 /x", "f 0644 0:0 /x/a.txt" }, NULL, NULL },
                { { "a.txt" }, "/exists", false, { "d 0710 7:8 /exists", "f 0644 0:0 /exists/a.txt" }, NULL, NULL },
                { { "a.txt", "b.txt" }, "/d/", false, { "f 0644 0:0 /d/a.txt", "f 0644 0:0 /d/b.txt" }, NULL, NULL },
                { { "a.txt", "b.txt" }, "/d", false, { NULL }, NULL, "must be a directory and end with a /" },
                { { "dir" }, "/d", false, { "f 0644 0:0 /d/x.go", "f 0644 0:0 /d/sub/z.go", "d 0755 0:0 /d/sub" }, "/d/dir", NULL },
                { { "dir" }, "/d/", false, { "f 0644 0:0 /d/x.go" }, "/d/dir/x.go", NULL },
                { { "dir/" }, "/d", false, { "f 0700 0:0 /d/run.sh", "h 0644 0:0 /d/y.txt => /d/hard.txt" }, NULL, NULL },
                { { "*.txt" }, "/d/", false, { "f 0644 0:0 /d/a.txt", "f 0644 0:0 /d/b.txt" }, NULL, NULL },
                { { "*.txt" }, "/f", false, { NULL }, NULL, "matches 2 entries" },
                { { "dir/*.go" }, "/d/", false, { "f 0644 0:0 /d/x.go" }, "/d/z.go", NULL },
                { { "*/*.go" }, "/d/", false, { "f 0644 0:0 /d/x.go" }, "/d/y.txt", NULL },
                { { "dir/x.go" }, "/d", true, { "d 0755 0:0 /d/dir", "f 0644 0:0 /d/dir/x.go" }, NULL, NULL },
                { { "a/./b/c.txt" }, "/d/", true, { "d 0755 0:0 /d/b", "f 0644 0:0 /d/b/c.txt" }, "/d/a", NULL },
                { { "*/*.go", "dir/sub/z.go" }, "/d/", true, { "f 0644 0:0 /d/dir/x.go", "f 0644 0:0 /d/dir/sub/z.go" }, NULL, NULL },
                { { "link" }, "/d/", false, { "f 0644 0:0 /d/link" }, NULL, NULL },
                { { "abslink" }, "/d", false, { "f 0644 0:0 /d/x.go" }, NULL, NULL },
                /* a source link leading out: copied as the link, never followed */
                { { "outlink" }, "/d/", false, { "l 0777 0:0 /d/outlink -> ../../etc/passwd" }, NULL, NULL },
                { { "outlink/x" }, "/d/", false, { NULL }, NULL, "outlink/x: a symlink leads outside the build context" },
                { { "../x" }, "/d/", false, { NULL }, NULL, "COPY ../x: outside the build context" },
                { { "dir/../../x" }, "/d/", false, { NULL }, NULL, "outside the build context" },
                { { "nodir/*.txt" }, "/d/", false, { NULL }, NULL, "nodir/*.txt: pattern's directory `nodir`" },
                { { "missing.txt" }, "/d/", false, { NULL }, NULL, "missing.txt: not found in the build context" },
                { { "a.txt" }, "/lib/a.txt", false, { "d 0755 7:8 /usr/lib", "f 0644 0:0 /usr/lib/a.txt" }, "/lib/a.txt", NULL },
                { { "a.txt" }, "/file/x", false, { NULL }, NULL, "`/file` is not a directory" },
                { { "dir" }, "/file", false, { NULL }, NULL, "cannot copy a directory to the file `/file`" },
                { { "a.txt" }, "/exists/sub", false, { "f 0644 0:0 /exists/sub/a.txt" }, NULL, NULL },
                { { "dir" }, "/exists/", false, { NULL }, NULL, "cannot copy a non-directory over the image's directory `/exists/x.go`" },
                { { "/a.txt" }, "/x", false, { "f 0644 0:0 /x" }, NULL, NULL },
                { { "./dir/../a.txt" }, "/x", false, { "f 0644 0:0 /x" }, NULL, NULL },
                { { "." }, "/app/", false, { "f 0644 0:0 /app/a.txt", "f 0644 0:0 /app/dir/x.go", "l 0777 0:0 /app/link -> a.txt" }, NULL, NULL },
                { { "a.txt" }, "/", false, { "f 0644 0:0 /a.txt" }, NULL, NULL },
                { { "a.txt" }, "/new/deep/", false, { "d 0755 0:0 /new", "d 0755 0:0 /new/deep", "f 0644 0:0 /new/deep/a.txt" }, NULL, NULL },
                { { "dir", "a.txt" }, "/x/", false, { "f 0644 0:0 /x/x.go", "f 0644 0:0 /x/a.txt" }, NULL, NULL },
                { { "a.txt", "a.txt" }, "/x/", false, { "f 0644 0:0 /x/a.txt" }, NULL, NULL },
                { { "d[i]r/s?b" }, "/y", false, { "f 0644 0:0 /y/z.go" }, NULL, NULL },
                { { "dir3", "dir2" }, "/z/", false, { NULL }, NULL, "cannot copy a directory over the file `/z/sub`" },
                { { "dir2", "dir3" }, "/z/", false, { NULL }, NULL, "cannot copy a file over the directory `/z/sub`" },
        };
        for (size_t i = 0; i < IB_ELEMENTSOF(rules); i++) {
                const struct rule *ru = &rules[i];
                struct ib_copy_opts o = { .sources = (char *const *) ru->srcs, .dest = ru->dest, .parents = ru->parents };
                struct ib_err *e = NULL;
                _cleanup_strv_ char **v = plan_lines(ctx, &o, &e, NULL);
                _cleanup_free_ char *name = ib_strdupf("COPY %s%s%s -> %s%s", ru->srcs[0], ru->srcs[1] ? " " : "",
                                                       ru->srcs[1] ? ru->srcs[1] : "", ru->dest,
                                                       ru->parents ? " (--parents)" : "");
                if (ru->error) {
                        IB_OK(!v && e && strstr(e->msg, ru->error), "%s: error `%s` (got %s)", name, ru->error,
                              e ? e->msg : "success");
                        ib_err_free(&e);
                        continue;
                }
                bool ok = v != NULL;
                for (size_t k = 0; ok && k < 4 && ru->want[k]; k++)
                        ok = has_line(v, ru->want[k]);
                if (ok && ru->absent) {
                        for (size_t k = 0; v[k]; k++) {
                                const char *sp = strchr(strchr(strchr(v[k], ' ') + 1, ' ') + 1, ' ') + 1;
                                if (strncmp(sp, ru->absent, strlen(ru->absent)) == 0 &&
                                    (sp[strlen(ru->absent)] == '\0' || sp[strlen(ru->absent)] == ' '))
                                        ok = false;
                        }
                }
                IB_OK(ok, "%s", name);
                if (!ok) {
                        printf("#   error: %s\n", e ? e->msg : "-");
                        for (size_t k = 0; v && v[k]; k++)
                                printf("#   plan: %s\n", v[k]);
                }
                ib_err_free(&e);
        }

        /* A glob matching nothing copies nothing and is reported (BuildKit). */
        const char *const srcs[] = { "nomatch*.txt", NULL };
        struct ib_copy_opts o = { .sources = (char *const *) srcs, .dest = "/d/" };
        struct ib_err *e = NULL;
        char **empty = NULL;
        _cleanup_strv_ char **v = plan_lines(ctx, &o, &e, &empty);
        IB_OK(v && !has_line(v, "f*") && empty && empty[0] && strcmp(empty[0], "nomatch*.txt") == 0,
              "empty glob: nothing copied, pattern reported");
        ib_strv_free(empty);
        ib_err_free(&e);

        /* --chown and --chmod in the plan; created parents get the owner too. */
        const char *const s2[] = { "dir", NULL };
        struct ib_chmod *m = NULL;
        (void) ib_chmod_parse("u=rwX,go=rX", &m, &e);
        o = (struct ib_copy_opts) { .sources = (char *const *) s2, .dest = "/p/q/", .chown = true, .uid = 1000,
                                    .gid = 1001, .chmod = m };
        _cleanup_strv_ char **v2 = plan_lines(ctx, &o, &e, NULL);
        IB_OK(v2 && has_line(v2, "d 0755 1000:1001 /p") && has_line(v2, "f 0644 1000:1001 /p/q/x.go") &&
              has_line(v2, "f 0755 1000:1001 /p/q/run.sh") && has_line(v2, "d 0755 1000:1001 /p/q/sub"),
              "--chown/--chmod applied to entries and created parents");
        ib_chmod_free(m);

        /* Exclusion: .dockerignore-style on context paths, --exclude on source paths. */
        const char *const ig[] = { "dir/sub", NULL }, *const ex[] = { "*.txt", NULL };
        struct pats pig = { ig }, pex = { ex };
        o = (struct ib_copy_opts) { .sources = (char *const *) s2, .dest = "/d/",
                                    .ignore = { fnm_excluded, NULL, &pig }, .exclude = { fnm_excluded, NULL, &pex } };
        _cleanup_strv_ char **v3 = plan_lines(ctx, &o, &e, NULL);
        IB_OK(v3 && has_line(v3, "f 0644 0:0 /d/x.go") && !has_line(v3, "f 0644 0:0 /d/sub/z.go") &&
              !has_line(v3, "f 0644 0:0 /d/y.txt"), "ignore and --exclude both applied");
        const char *const s3[] = { "dir/sub/z.go", NULL };
        o.sources = (char *const *) s3;
        _cleanup_strv_ char **v4 = plan_lines(ctx, &o, &e, NULL);
        IB_OK(!v4 && e && strstr(e->msg, "excluded by .dockerignore"), "an ignored literal source is not found: %s",
              e ? e->msg : "-");
        ib_err_free(&e);
        const char *const s4[] = { "*.txt", "dir", NULL };
        o = (struct ib_copy_opts) { .sources = (char *const *) s4, .dest = "/d/", .exclude = { fnm_excluded, NULL, &pex } };
        _cleanup_strv_ char **v5 = plan_lines(ctx, &o, &e, NULL);
        IB_OK(v5 && !has_line(v5, "f 0644 0:0 /d/a.txt") && has_line(v5, "f 0644 0:0 /d/x.go"),
              "--exclude also filters top-level glob matches");
        ib_err_free(&e);
}

/* ------------------------------------------------------------ walker */

struct collect { char **v; };
static int collect_cb(const char *rel, const struct stat *st, void *ud, struct ib_err **err)
{
        (void) st;
        (void) err;
        ib_strv_push(&((struct collect *) ud)->v, rel);
        return 0;
}
static bool reinc_excluded(const char *rel, bool is_dir, void *ud)
{
        (void) is_dir;
        (void) ud;
        /* "dir" excluded, "!dir/sub/z.go" re-included */
        return ib_startswith(rel, "dir") && strcmp(rel, "dir/sub/z.go") != 0 && strncmp(rel, "dirx", 4) != 0;
}
static bool reinc_descend(const char *rel, void *ud)
{
        (void) ud;
        return strcmp(rel, "dir") == 0 || strcmp(rel, "dir/sub") == 0;
}

static void test_walk(struct ib_context *ctx)
{
        struct collect c = { NULL };
        struct ib_filter f = { reinc_excluded, reinc_descend, NULL };
        struct ib_err *e = NULL;
        int r = ib_context_walk(ctx, "", &f, collect_cb, &c, &e);
        _cleanup_free_ char *joined = NULL;
        struct ib_buf b = IB_BUF_INIT;
        for (size_t i = 0; c.v && c.v[i]; i++)
                if (ib_startswith(c.v[i], "dir"))
                        ib_buf_addf(&b, "%s;", c.v[i]);
        joined = ib_buf_detach(&b);
        IB_OK(r == 0, "walk succeeds");
        IB_STREQ(joined, "dir;dir/sub;dir/sub/z.go;", "an excluded dir is walked for re-includes, emitted only as their parent");
        IB_OK(c.v && strcmp(c.v[0], "a") == 0, "names come in byte order");
        ib_strv_free(c.v);
        ib_err_free(&e);
}

/* ------------------------------------------------------------ key */

static int key_of(struct ib_context *ctx, const char *const *srcs, const struct ib_filter *ex, char hex[IB_SHA256_HEX],
                  struct ib_file_index_stats *st)
{
        struct ib_copy_opts o = { .sources = (char *const *) srcs, .dest = "/app/" };
        struct ib_copy_plan *p = NULL;
        struct ib_err *e = NULL;
        int r;
        if (ex)
                o.exclude = *ex;
        r = ib_copy_plan_new(ctx, &o, &p, &e);
        if (r == 0)
                r = ib_copy_plan_key(p, hex, &e);
        if (e)
                printf("# key: %s\n", e->msg);
        ib_err_free(&e);
        ib_copy_plan_free(p);
        ib_file_index_get_stats(ib_context_index(ctx), st);
        return r;
}

static void settle(void)
{
        /* Index entries are trusted only once the clock tick of their last
         * change has passed (racy-clean rule); a short pause makes that so. */
        struct timespec ts = { 0, 60 * 1000 * 1000 };
        nanosleep(&ts, NULL);
}

static void test_key(void)
{
        _cleanup_free_ char *kdir = ib_strdupf("%s/kctx", T);
        _cleanup_free_ char *store_dir = ib_strdupf("%s/store", T);
        struct ib_context *ctx = NULL;
        struct ib_store *store = NULL;
        struct ib_file_index_stats s0, s1;
        struct ib_err *e = NULL;
        char k1[IB_SHA256_HEX], k2[IB_SHA256_HEX], k3[IB_SHA256_HEX];
        const char *const srcs[] = { "src", NULL };

        put("kctx/src/one.c", "int one;\n");
        put("kctx/src/two.c", "int two;\n");
        put("kctx/src/deep/three.c", "int three;\n");
        put("kctx/src/junk.txt", "junk\n");
        settle();
        IB_OK(ib_store_open(store_dir, &store, &e) == 0, "store opens");
        IB_OK(ib_context_open(kdir, store, &ctx, &e) == 0, "context opens");
        IB_OK(key_of(ctx, srcs, NULL, k1, &s0) == 0 && s0.hashed == 4 && s0.reused == 0, "first key hashes 4 files (%" PRIu64 ")", s0.hashed);
        IB_OK(key_of(ctx, srcs, NULL, k2, &s1) == 0 && strcmp(k1, k2) == 0, "same context, same key");
        IB_OK(s1.hashed == s0.hashed && s1.reused == 4, "nothing changed: no file re-read (hashed %" PRIu64 ", reused %" PRIu64 ")",
              s1.hashed - s0.hashed, s1.reused);
        IB_OK(ib_context_save_index(ctx, &e) == 0, "index saved");
        ib_context_free(ctx);

        /* A new process: the persisted index still spares the reads. */
        IB_OK(ib_context_open(kdir, store, &ctx, &e) == 0, "context reopens");
        IB_OK(key_of(ctx, srcs, NULL, k2, &s1) == 0 && strcmp(k1, k2) == 0 && s1.hashed == 0 && s1.reused == 4,
              "persisted index: same key, 0 files re-read (hashed %" PRIu64 ")", s1.hashed);

        /* touch: mtime only */
        _cleanup_free_ char *one = ib_strdupf("%s/src/one.c", kdir);
        struct timespec ts[2] = { { 1000000, 0 }, { 1000000, 0 } };
        IB_OK(utimensat(AT_FDCWD, one, ts, 0) == 0, "touch one.c");
        IB_OK(key_of(ctx, srcs, NULL, k2, &s0) == 0 && strcmp(k1, k2) == 0, "touch: key unchanged");
        IB_OK(s0.hashed == 1, "touch: only the touched file is re-read (%" PRIu64 ")", s0.hashed);

        /* content change */
        put("kctx/src/deep/three.c", "int THREE;\n");
        settle();
        IB_OK(key_of(ctx, srcs, NULL, k2, &s1) == 0 && strcmp(k1, k2) != 0, "content change: key changes");
        put("kctx/src/deep/three.c", "int three;\n");
        settle();
        IB_OK(key_of(ctx, srcs, NULL, k2, &s1) == 0 && strcmp(k1, k2) == 0, "content restored: key back");

        /* rename inside the copied dir */
        _cleanup_free_ char *a = ib_strdupf("%s/src/two.c", kdir), *b = ib_strdupf("%s/src/too.c", kdir);
        IB_OK(rename(a, b) == 0 && key_of(ctx, srcs, NULL, k2, &s1) == 0 && strcmp(k1, k2) != 0, "rename: key changes");
        IB_OK(rename(b, a) == 0 && key_of(ctx, srcs, NULL, k2, &s1) == 0 && strcmp(k1, k2) == 0, "rename back: key back");

        /* chmod */
        IB_OK(chmod(one, 0755) == 0 && key_of(ctx, srcs, NULL, k2, &s1) == 0 && strcmp(k1, k2) != 0, "chmod: key changes");
        IB_OK(chmod(one, 0644) == 0 && key_of(ctx, srcs, NULL, k2, &s1) == 0 && strcmp(k1, k2) == 0, "chmod back: key back");

        /* exclusion is applied: excluding junk.txt == not having it */
        const char *const ex[] = { "junk.txt", NULL };
        struct pats pex = { ex };
        struct ib_filter f = { fnm_excluded, NULL, &pex };
        IB_OK(key_of(ctx, srcs, &f, k2, &s1) == 0 && strcmp(k1, k2) != 0, "--exclude changes the key");
        _cleanup_free_ char *junk = ib_strdupf("%s/src/junk.txt", kdir);
        IB_OK(unlink(junk) == 0 && key_of(ctx, srcs, NULL, k3, &s1) == 0 && strcmp(k2, k3) == 0,
              "an excluded file weighs as much as a missing one");
        ib_context_free(ctx);
        ib_store_close(store);
        ib_err_free(&e);
}

/* ------------------------------------------------------------ apply */

static void test_apply(struct ib_context *ctx)
{
        const char *const srcs[] = { "dir", "link", NULL };
        struct ib_copy_opts o = { .sources = (char *const *) srcs, .dest = "/out/" };
        struct ib_copy_plan *p = NULL;
        struct ib_err *e = NULL;
        _cleanup_free_ char *layer = ib_strdupf("%s/layer", T);
        struct stat a, b, l;
        char buf[64];

        if (getuid() != 0 && !ib_t_have_userns()) {
                IB_SKIP("apply needs root (chown)");
                return;
        }
        if (getuid() != 0) {
                IB_SKIP("apply needs root here; the integration test covers the namespace");
                return;
        }
        (void) mkdir(layer, 0755);
        _cleanup_close_ int lfd = open(layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = ib_copy_plan_new(ctx, &o, &p, &e);
        if (r == 0)
                r = ib_copy_plan_apply(p, lfd, &e);
        IB_OK(r == 0, "apply: %s", e ? e->msg : "ok");
        _cleanup_free_ char *f1 = ib_strdupf("%s/out/y.txt", layer), *f2 = ib_strdupf("%s/out/hard.txt", layer);
        _cleanup_free_ char *src = ib_strdupf("%s/dir/y.txt", T), *ln = ib_strdupf("%s/out/sub/rel", layer);
        _cleanup_free_ char *cp = ib_strdupf("%s/out/link", layer);
        IB_OK(stat(f1, &a) == 0 && stat(f2, &b) == 0 && a.st_ino == b.st_ino, "hardlinks stay hardlinks");
        struct stat s;
        IB_OK(stat(src, &s) == 0 && a.st_mtim.tv_sec == s.st_mtim.tv_sec && a.st_mtim.tv_nsec == s.st_mtim.tv_nsec,
              "mtime kept to the nanosecond");
        ssize_t n = readlink(ln, buf, sizeof(buf) - 1);
        IB_OK(lstat(ln, &l) == 0 && S_ISLNK(l.st_mode) && n == 7 && memcmp(buf, "../x.go", 7) == 0,
              "symlink inside a copied dir copied as a link");
        IB_OK(lstat(cp, &l) == 0 && S_ISREG(l.st_mode), "a symlink named as source is followed (BuildKit)");
        IB_OK(a.st_uid == 0 && a.st_gid == 0, "owner root by default");
        ib_copy_plan_free(p);
        p = NULL;

        /* Two source dirs with a common subdir merge into one destination. */
        const char *const two[] = { "dir", "dir2", NULL };
        o = (struct ib_copy_opts) { .sources = (char *const *) two, .dest = "/m/" };
        r = ib_copy_plan_new(ctx, &o, &p, &e);
        if (r == 0)
                r = ib_copy_plan_apply(p, lfd, &e);
        _cleanup_free_ char *m1 = ib_strdupf("%s/m/sub/z.go", layer), *m2 = ib_strdupf("%s/m/sub/w.go", layer);
        IB_OK(r == 0 && access(m1, F_OK) == 0 && access(m2, F_OK) == 0, "merging dirs from two sources: %s",
              e ? e->msg : "ok");
        ib_copy_plan_free(p);
        ib_err_free(&e);
}

/* ------------------------------------------------------ tar contexts */

struct tent { const char *name; char type; const char *target; };

static void make_tar(const char *path, const struct tent *t, size_t n)
{
        struct archive *a = archive_write_new();
        archive_write_add_filter_gzip(a);
        archive_write_set_format_pax_restricted(a);
        archive_write_open_filename(a, path);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *ae = archive_entry_new();
                archive_entry_set_pathname(ae, t[i].name);
                archive_entry_set_perm(ae, 0644);
                archive_entry_set_mtime(ae, 1234567890, 0);
                switch (t[i].type) {
                case 'd': archive_entry_set_filetype(ae, AE_IFDIR); archive_entry_set_perm(ae, 0750); break;
                case 'l': archive_entry_set_filetype(ae, AE_IFLNK); archive_entry_set_symlink(ae, t[i].target); break;
                case 'h': archive_entry_set_filetype(ae, AE_IFREG); archive_entry_set_hardlink(ae, t[i].target); break;
                case 'c': archive_entry_set_filetype(ae, AE_IFCHR); archive_entry_set_rdevmajor(ae, 1);
                          archive_entry_set_rdevminor(ae, 3); break;
                default: archive_entry_set_filetype(ae, AE_IFREG); archive_entry_set_size(ae, 3); break;
                }
                archive_write_header(a, ae);
                if (t[i].type == 'f')
                        archive_write_data(a, "abc", 3);
                archive_entry_free(ae);
        }
        archive_write_close(a);
        archive_write_free(a);
}

static void test_tar_context(void)
{
        _cleanup_free_ char *sdir = ib_strdupf("%s/tstore", T), *tar = ib_strdupf("%s/t.tgz", T);
        _cleanup_free_ char *spec = ib_strdupf("tar://%s", tar);
        struct ib_store *store = NULL;
        struct ib_context *c = NULL;
        struct ib_err *e = NULL;
        struct stat a, b;

        IB_OK(ib_store_open(sdir, &store, &e) == 0, "store for tar contexts");
        const struct tent good[] = { { "top", 'd', NULL }, { "top/f", 'f', NULL }, { "top/l", 'l', "f" },
                                     { "top/h", 'h', "top/f" }, { "/abs.txt", 'f', NULL }, { "./dot/x", 'f', NULL },
                                     { "dev", 'c', NULL } };
        make_tar(tar, good, IB_ELEMENTSOF(good));
        IB_OK(ib_context_open(spec, store, &c, &e) == 0, "tar context opens: %s", e ? e->msg : "ok");
        if (c) {
                _cleanup_free_ char *f = ib_strdupf("%s/top/f", ib_context_path(c)),
                                    *h = ib_strdupf("%s/top/h", ib_context_path(c)),
                                    *abs = ib_strdupf("%s/abs.txt", ib_context_path(c)),
                                    *dot = ib_strdupf("%s/dot/x", ib_context_path(c)),
                                    *dev = ib_strdupf("%s/dev", ib_context_path(c)),
                                    *top = ib_strdupf("%s/top", ib_context_path(c));
                IB_OK(stat(f, &a) == 0 && stat(h, &b) == 0 && a.st_ino == b.st_ino, "tar hardlink extracted as one");
                IB_OK(access(abs, F_OK) == 0 && access(dot, F_OK) == 0, "absolute and ./ names land inside");
                IB_OK(access(dev, F_OK) != 0, "device entries skipped");
                IB_OK(stat(top, &a) == 0 && (a.st_mode & 07777) == 0750 && a.st_mtim.tv_sec == 1234567890,
                      "dir mode and mtime applied after its contents");
                _cleanup_free_ char *path = ib_strdup(ib_context_path(c));
                ib_context_free(c);
                c = NULL;
                IB_OK(access(path, F_OK) != 0, "the extracted context is removed with it");
        }
        _cleanup_free_ char *outside = ib_strdupf("%s/escaped", T);
        const struct { struct tent t[2]; size_t n; const char *err; } bad[] = {
                { { { "../evil", 'f', NULL } }, 1, "climbs out" },
                { { { "lnk", 'l', T }, { "lnk/escaped", 'f', NULL } }, 2, "symlink" },
                { { { "x/../../evil", 'f', NULL } }, 1, "climbs out" },
                { { { "hl", 'h', "../../etc/passwd" } }, 1, "points outside" },
                { { { "hl", 'h', "nothere" } }, 1, "not an extracted regular file" },
        };
        for (size_t i = 0; i < IB_ELEMENTSOF(bad); i++) {
                make_tar(tar, bad[i].t, bad[i].n);
                int r = ib_context_open(spec, store, &c, &e);
                IB_OK(r < 0 && e && strstr(e->msg, bad[i].err), "hostile tar %zu refused: %s", i, e ? e->msg : "opened");
                ib_err_free(&e);
                ib_context_free(c);
                c = NULL;
        }
        IB_OK(access(outside, F_OK) != 0, "nothing written through a symlink out of the context");
        ib_store_close(store);
}

/* ------------------------------------------------------------ layer stack */

static void test_layer_stack(void)
{
        _cleanup_free_ char *lo = ib_strdupf("%s/ls/lower", T), *up = ib_strdupf("%s/ls/upper", T);
        struct ib_layer_stack *s = NULL;
        struct ib_err *e = NULL;
        struct stat st;
        char *link = NULL, *data = NULL;

        put("ls/lower/etc/passwd", "root:x:0:0::/root:/bin/sh\n");
        put("ls/lower/usr/lib/libc.so", "elf");
        put("ls/lower/gone/file", "x");
        put("ls/lower/gone2", "x");
        put("ls/lower/opq/keep", "x");
        put("ls/lower/file-then-dir", "x");
        lnk("usr/lib", "ls/lower/lib");
        put("ls/upper/etc/passwd", "root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/:/bin/sh\n");
        put("ls/upper/opq/new", "x");
        put("ls/upper/.wh.gone2", "");
        put("ls/upper/file-then-dir/inner", "x");
        _cleanup_free_ char *wh = ib_strdupf("%s/gone", up), *opq = ib_strdupf("%s/opq", up);
        bool have_wh = mknod(wh, S_IFCHR | 0600, 0) == 0;
        bool have_opq = setxattr(opq, "user.overlay.opaque", "y", 1, 0) == 0;
        char *const dirs[] = { up, lo, NULL };

        IB_OK(ib_layer_stack_open(dirs, &s, &e) == 0, "layer stack opens");
        IB_OK(ib_layer_stack_lookup("/usr/lib", &st, &link, s) == 0 && S_ISDIR(st.st_mode), "lower dir found");
        IB_OK(ib_layer_stack_lookup("/lib", &st, &link, s) == 0 && S_ISLNK(st.st_mode) && link &&
              strcmp(link, "usr/lib") == 0, "symlink found with its target");
        free(link);
        link = NULL;
        if (have_wh)
                IB_OK(ib_layer_stack_lookup("/gone/file", &st, &link, s) == -ENOENT &&
                      ib_layer_stack_lookup("/gone", &st, &link, s) == -ENOENT, "0:0 whiteout hides the lower dir");
        else
                IB_SKIP("mknod of a whiteout not permitted here");
        IB_OK(ib_layer_stack_lookup("/gone2", &st, &link, s) == -ENOENT, ".wh. file hides the lower file");
        if (have_opq)
                IB_OK(ib_layer_stack_lookup("/opq/keep", &st, &link, s) == -ENOENT &&
                      ib_layer_stack_lookup("/opq/new", &st, &link, s) == 0, "opaque dir hides lower contents only");
        else
                IB_SKIP("user xattrs unsupported here");
        IB_OK(ib_layer_stack_lookup("/file-then-dir", &st, &link, s) == 0 && S_ISDIR(st.st_mode),
              "upper dir over a lower file wins");
        IB_OK(ib_layer_stack_lookup("/nothing", &st, &link, s) == -ENOENT, "absent path");
        IB_OK(ib_layer_stack_read(s, "/etc/passwd", 1 << 20, &data, &e) == 0 && data && strstr(data, "user:x:1000"),
              "read /etc/passwd from the top layer");
        free(data);

        /* The stack as COPY's lookup: /lib resolves to /usr/lib with its metadata. */
        struct ib_context *ctx = NULL;
        const char *const srcs[] = { "a.txt", NULL };
        IB_OK(ib_context_open(T, NULL, &ctx, &e) == 0, "context for stack test");
        struct ib_copy_opts o = { .sources = (char *const *) srcs, .dest = "/lib/a.txt",
                                  .lookup = ib_layer_stack_lookup, .lookup_ud = s };
        _cleanup_strv_ char **v = plan_lines(ctx, &o, &e, NULL);
        IB_OK(v && has_line(v, "f 0644 0:0 /usr/lib/a.txt") && has_line(v, "d 0755 0:0 /usr/lib"),
              "COPY through a lower symlink lands in its target");
        ib_context_free(ctx);
        ib_layer_stack_free(s);
        ib_err_free(&e);
}

int main(void)
{
        struct ib_context *ctx = NULL;
        struct ib_err *e = NULL;

        T = ib_t_tmpdir();
        put("a.txt", "A\n");
        put("b.txt", "B\n");
        put("dir/x.go", "package x\n");
        put("dir/y.txt", "y\n");
        put("dir/sub/z.go", "package z\n");
        put("dir/run.sh", "#!/bin/sh\n");
        put("a/b/c.txt", "c\n");
        put("dir2/sub/w.go", "package w\n");
        _cleanup_free_ char *run = ib_strdupf("%s/dir/run.sh", T), *y = ib_strdupf("%s/dir/y.txt", T),
                            *h = ib_strdupf("%s/dir/hard.txt", T);
        (void) chmod(run, 0700);
        (void) link(y, h);
        lnk("a.txt", "link");
        lnk("../../etc/passwd", "outlink");
        lnk("/dir", "abslink");
        lnk("../x.go", "dir/sub/rel");
        _cleanup_free_ char *d3 = ib_strdupf("%s/dir3", T);
        (void) mkdir(d3, 0755);
        lnk("/etc", "dir3/sub");

        test_glob();
        test_chmod();
        test_chown();
        IB_OK(ib_context_open(T, NULL, &ctx, &e) == 0, "directory context opens");
        test_rules(ctx);
        test_walk(ctx);
        test_apply(ctx);
        ib_context_free(ctx);
        test_key();
        test_tar_context();
        test_layer_stack();

        IB_OK(ib_context_open("s3://bucket/ctx.tgz", NULL, &ctx, &e) < 0 && strstr(e->msg, "gs://, s3://"),
              "s3:// context refused with a reason: %s", e ? e->msg : "-");
        ib_err_free(&e);
        IB_OK(ib_context_open("https://example.com/x.git", NULL, &ctx, &e) < 0 && strstr(e->msg, "remote contexts"),
              "remote context refused");
        ib_err_free(&e);
        IB_OK(ib_copy_is_git_url("https://github.com/a/b.git") && ib_copy_is_git_url("git@github.com:a/b") &&
              !ib_copy_is_git_url("https://x/f.tar.gz"), "git URL detection");
        char *fn = NULL;
        IB_STREQ((fn = ib_url_filename("http://h:8/a/b%20c.txt?x=1#f")), "b c.txt", "ADD url file name decoded");
        free(fn);
        IB_OK(ib_url_filename("http://h/dir/") == NULL, "no name from a URL ending in /");
        return ib_t_done();
}
