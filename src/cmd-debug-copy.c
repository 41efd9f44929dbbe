/* src/cmd-debug-copy.c - `imgbuild debug-copy`: run one COPY/ADD into a layer
 * dir, print its cache key and the file-index figures.  Hidden; for tests.
 *
 * The --ignore/--exclude matcher here is a plain fnmatch(3) stand-in (with
 * parent matching and `!` re-includes, last match wins); the build engine
 * plugs in the real .dockerignore matcher. */
#include "src/cli.h"
#include "src/context.h"
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>

struct fnm_filter {
        char **pats;
};

static bool fnm_one(const char *pat, const char *rel)
{
        _cleanup_free_ char *copy = ib_strdup(rel);
        /* The path or any of its parents. */
        for (;;) {
                if (fnmatch(pat, copy, FNM_PATHNAME) == 0)
                        return true;
                char *s = strrchr(copy, '/');
                if (!s)
                        return false;
                *s = '\0';
        }
}

static bool fnm_excluded(const char *rel, bool is_dir, void *ud)
{
        struct fnm_filter *f = ud;
        bool ex = false;
        (void) is_dir;
        for (size_t i = 0; f->pats && f->pats[i]; i++) {
                const char *p = f->pats[i];
                bool neg = *p == '!';
                if (fnm_one(neg ? p + 1 : p, rel))
                        ex = !neg;
        }
        return ex;
}

static bool fnm_may_descend(const char *reldir, void *ud)
{
        struct fnm_filter *f = ud;
        size_t n = strlen(reldir);
        for (size_t i = 0; f->pats && f->pats[i]; i++)
                if (f->pats[i][0] == '!' && strncmp(f->pats[i] + 1, reldir, n) == 0 && f->pats[i][1 + n] == '/')
                        return true;
        return false;
}

static void usage(FILE *out)
{
        fprintf(out, "Usage: imgbuild debug-copy [OPTIONS] --dest /ABS SRC...\n"
                     "  --root DIR        store (default: the usual one)\n"
                     "  --context SPEC    DIR, dir://DIR, tar://FILE or - (default .)\n"
                     "  --layer DIR       write the layer here (created); without it only plan and key\n"
                     "  --add             ADD semantics (archives unpacked, URLs fetched)\n"
                     "  --ignore PAT      .dockerignore-like pattern (fnmatch, `!` re-includes), repeatable\n"
                     "  --exclude PAT     COPY --exclude pattern, repeatable\n"
                     "  --chown SPEC      user[:group] resolved with --passwd/--group\n"
                     "  --passwd FILE, --group FILE   the image's /etc/passwd and /etc/group\n"
                     "  --chmod MODE      octal or symbolic\n"
                     "  --parents         keep source paths\n"
                     "  --checksum DGST   ADD --checksum\n"
                     "  --lower DIR       a lower layer dir (overlay form), repeatable, top first;\n"
                     "                    --chown names come from its /etc/passwd and /etc/group\n"
                     "                    unless --passwd/--group are given\n"
                     "  --list            print the planned entries\n");
}

struct dc_args {
        const char *root, *context, *layer, *chown, *passwd, *group, *chmod, *checksum, *dest;
        char **lower;
        bool add, parents, list;
        struct fnm_filter ignore, exclude;
};

static int parse_args(int argc, char **argv, struct dc_args *a)
{
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },    { "context", required_argument, NULL, 'c' },
                { "layer", required_argument, NULL, 'l' },   { "add", no_argument, NULL, 'A' },
                { "ignore", required_argument, NULL, 'i' },  { "exclude", required_argument, NULL, 'x' },
                { "chown", required_argument, NULL, 'o' },   { "passwd", required_argument, NULL, 'P' },
                { "group", required_argument, NULL, 'G' },   { "chmod", required_argument, NULL, 'm' },
                { "parents", no_argument, NULL, 'p' },       { "checksum", required_argument, NULL, 'k' },
                { "lower", required_argument, NULL, 'L' },   { "dest", required_argument, NULL, 'd' },
                { "list", no_argument, NULL, 'S' },          { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'r': a->root = optarg; break;
                case 'c': a->context = optarg; break;
                case 'l': a->layer = optarg; break;
                case 'A': a->add = true; break;
                case 'i': ib_strv_push(&a->ignore.pats, optarg); break;
                case 'x': ib_strv_push(&a->exclude.pats, optarg); break;
                case 'o': a->chown = optarg; break;
                case 'P': a->passwd = optarg; break;
                case 'G': a->group = optarg; break;
                case 'm': a->chmod = optarg; break;
                case 'p': a->parents = true; break;
                case 'k': a->checksum = optarg; break;
                case 'L': ib_strv_push(&a->lower, optarg); break;
                case 'd': a->dest = optarg; break;
                case 'S': a->list = true; break;
                case 'h': usage(stdout); return 1;
                default: return ib_cli_usage_error("debug-copy", "unknown option");
                }
        }
        if (!a->dest)
                return ib_cli_usage_error("debug-copy", "--dest is required");
        if (optind >= argc)
                return ib_cli_usage_error("debug-copy", "no source");
        return 0;
}

static int resolve_chown(const struct dc_args *a, struct ib_layer_stack *stack, struct ib_copy_opts *o,
                         struct ib_err **err)
{
        _cleanup_free_ char *pw = NULL, *gr = NULL;

        if (!a->chown)
                return 0;
        if (a->passwd && ib_read_file(a->passwd, 1 << 24, &pw, NULL, err) < 0)
                return -1;
        if (a->group && ib_read_file(a->group, 1 << 24, &gr, NULL, err) < 0)
                return -1;
        if (stack && !a->passwd && ib_layer_stack_read(stack, "/etc/passwd", 1 << 24, &pw, err) < -ENOENT)
                return -1;
        if (stack && !a->group && ib_layer_stack_read(stack, "/etc/group", 1 << 24, &gr, err) < -ENOENT)
                return -1;
        o->chown = true;
        return ib_chown_resolve(a->chown, pw, gr, &o->uid, &o->gid, err);
}

static void print_vec(FILE *f, const char *prefix, char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                fprintf(f, "%s%s\n", prefix, v[i]);
}

int ib_cmd_debug_copy(int argc, char **argv)
{
        struct dc_args a = { .context = "." };
        _cleanup_(ib_store_closep) struct ib_store *store = NULL;
        _cleanup_(ib_context_freep) struct ib_context *ctx = NULL;
        _cleanup_(ib_copy_plan_freep) struct ib_copy_plan *plan = NULL;
        _cleanup_free_ char *root = NULL;
        _cleanup_close_ int layer_fd = -1;
        struct ib_layer_stack *stack = NULL;
        struct ib_chmod *chmod = NULL;
        struct ib_err *err = NULL;
        struct ib_file_index_stats st;
        char key[IB_SHA256_HEX];
        int r = parse_args(argc, argv, &a);

        if (r != 0)
                return r > 0 ? 0 : IB_EXIT_USAGE;
        struct ib_copy_opts o = {
                .kind = a.add ? IB_COPY_ADD : IB_COPY_COPY, .sources = argv + optind, .dest = a.dest,
                .parents = a.parents, .checksum = a.checksum,
                .ignore = { a.ignore.pats ? fnm_excluded : NULL, fnm_may_descend, &a.ignore },
                .exclude = { a.exclude.pats ? fnm_excluded : NULL, fnm_may_descend, &a.exclude },
        };
        root = a.root ? ib_strdup(a.root) : ib_store_default_root();
        if (ib_store_open(root, &store, &err) < 0)
                goto fail;
        o.store = store;
        if (a.lower) {
                if (ib_layer_stack_open(a.lower, &stack, &err) < 0)
                        goto fail;
                o.lookup = ib_layer_stack_lookup;
                o.lookup_ud = stack;
        }
        if (resolve_chown(&a, stack, &o, &err) < 0)
                goto fail;
        if (a.chmod && ib_chmod_parse(a.chmod, &chmod, &err) < 0)
                goto fail;
        o.chmod = chmod;
        if (ib_context_open(a.context, store, &ctx, &err) < 0 || ib_copy_plan_new(ctx, &o, &plan, &err) < 0 ||
            ib_copy_plan_key(plan, key, &err) < 0)
                goto fail;
        if (a.list) {
                _cleanup_strv_ char **d = ib_copy_plan_describe(plan);
                print_vec(stdout, "", d);
        }
        if (a.layer) {
                if (ib_mkdir_p(a.layer, 0755, &err) < 0)
                        goto fail;
                layer_fd = open(a.layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (layer_fd < 0) {
                        ib_err_set(&err, errno, "open `%s`", a.layer);
                        goto fail;
                }
                if (ib_copy_plan_apply(plan, layer_fd, &err) < 0)
                        goto fail;
        }
        if (ib_context_save_index(ctx, &err) < 0)
                goto fail;
        ib_file_index_get_stats(ib_context_index(ctx), &st);
        const struct ib_copy_stats *cs = ib_copy_plan_stats(plan);
        print_vec(stderr, "warning: ", cs->warnings);
        print_vec(stderr, "warning: pattern matches nothing: ", cs->empty_patterns);
        printf("key: %s\nhashed: %" PRIu64 "\nreused: %" PRIu64 "\n", key, st.hashed, st.reused);
        if (a.layer)
                printf("files: %" PRIu64 "\ndirs: %" PRIu64 "\nsymlinks: %" PRIu64 "\nhardlinks: %" PRIu64
                       "\narchives: %" PRIu64 "\nurls: %" PRIu64 "\nbytes: %" PRIu64 "\n",
                       cs->files, cs->dirs, cs->symlinks, cs->hardlinks, cs->archives, cs->urls, cs->bytes);
        r = 0;
        goto out;
fail:
        r = ib_cli_fail(&err);
out:
        ib_chmod_free(chmod);
        ib_layer_stack_free(stack);
        ib_strv_free(a.lower);
        ib_strv_free(a.ignore.pats);
        ib_strv_free(a.exclude.pats);
        return r;
}
