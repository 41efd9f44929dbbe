/* src/cmd-debug-layer.c - hidden verb driving snapshot/ for the tests:
 *
 *   imgbuild debug-layer export [--root STORE] [--compression gzip|zstd|none] [--level N]
 *                               [--source-date-epoch N] DIR
 *       prints "diff_id digest size media_type"
 *   imgbuild debug-layer import [--root STORE] --diff-id DIFFID DIGEST
 *       prints the layer dir; says on stderr whether it was extracted or reused
 *   imgbuild debug-layer list BLOB
 *       one line per entry: type path mode uid gid size link xattrs
 *   imgbuild debug-layer index [--root STORE] --diff-id DIFFID DIGEST
 *       make the layer's entries index from the blob, without extracting it
 *   imgbuild debug-layer entries [--root STORE] DIFFID
 *       print the entries index like list (type path mode uid gid size link -)
 *
 * SOURCE_DATE_EPOCH in the environment works like --source-date-epoch. */
#include "lib/ib.h"
#include "snapshot/snapshot.h"
#include "src/cli.h"
#include <getopt.h>
#include <inttypes.h>

#define VERB "debug-layer"

static void usage(FILE *out)
{
        fprintf(out, "Usage: imgbuild " VERB " export [--root STORE] [--compression gzip|zstd|none]\n"
                     "                   [--level N] [--source-date-epoch N] DIR\n"
                     "       imgbuild " VERB " import [--root STORE] --diff-id DIFFID DIGEST\n"
                     "       imgbuild " VERB " list BLOB\n"
                     "       imgbuild " VERB " index [--root STORE] --diff-id DIFFID DIGEST\n"
                     "       imgbuild " VERB " entries [--root STORE] DIFFID\n");
}

static int parse_int64(const char *s, int64_t *ret)
{
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int open_store(const char *root, struct ib_store **ret, struct ib_err **err)
{
        _cleanup_free_ char *def = root ? NULL : ib_store_default_root();
        return ib_store_open(root ? root : def, ret, err);
}

static int cmd_export(int argc, char **argv)
{
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },
                { "compression", required_argument, NULL, 'c' },
                { "level", required_argument, NULL, 'l' },
                { "source-date-epoch", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct ib_export_opts o = IB_EXPORT_OPTS_INIT;
        _cleanup_(ib_store_closep) struct ib_store *store = NULL;
        _cleanup_err_ struct ib_err *err = NULL;
        struct ib_layer_desc d = { 0 };
        const char *root = NULL, *sde = getenv("SOURCE_DATE_EPOCH");
        int64_t v;
        int c;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'r':
                        root = optarg;
                        break;
                case 'c':
                        if (ib_compression_parse(optarg, &o.compression) < 0)
                                return ib_cli_usage_error(VERB, "unknown compression '%s'", optarg);
                        break;
                case 'l':
                        if (parse_int64(optarg, &v) < 0 || v < 0 || v > 22)
                                return ib_cli_usage_error(VERB, "bad level '%s'", optarg);
                        o.level = (int) v;
                        break;
                case 's':
                        sde = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        return ib_cli_usage_error(VERB, "unknown option");
                }
        }
        if (sde && *sde) {
                if (parse_int64(sde, &o.source_date_epoch) < 0 || o.source_date_epoch < 0)
                        return ib_cli_usage_error(VERB, "bad SOURCE_DATE_EPOCH '%s'", sde);
                o.reproducible = true;
        }
        if (optind + 1 != argc)
                return ib_cli_usage_error(VERB, "export needs one DIR");
        if (open_store(root, &store, &err) < 0 || ib_snapshot_export(store, argv[optind], &o, &d, &err) < 0)
                return ib_cli_fail(&err);
        printf("%s %s %" PRIu64 " %s\n", d.diff_id, d.digest, d.size, d.media_type);
        ib_layer_desc_release(&d);
        return 0;
}

/* One warning per kind, with the fix. */
static void report_stats(const struct ib_import_stats *st)
{
        if (st->owners_squashed)
                ib_log(IB_LOG_WARN, "%" PRIu64 " entries are owned by ids this user namespace does not map "
                       "(e.g. `%s`, %u:%u); they were stored as 65534:65534 (or as root when that is unmapped "
                       "too). Give the user a larger range in /etc/subuid and /etc/subgid to keep them.",
                       st->owners_squashed, st->owner_example, (unsigned) st->owner_example_uid,
                       (unsigned) st->owner_example_gid);
        if (st->devices_skipped) {
                struct ib_buf b = IB_BUF_INIT;
                for (size_t i = 0; i < IB_IMPORT_EXAMPLES && st->device_examples[i]; i++)
                        ib_buf_addf(&b, "%s`%s`", i ? ", " : "", st->device_examples[i]);
                ib_log(IB_LOG_WARN, "%" PRIu64 " device nodes cannot be created without privilege and were "
                       "skipped (%s%s)", st->devices_skipped, b.buf, st->devices_skipped > IB_IMPORT_EXAMPLES ? ", ..." : "");
                ib_buf_release(&b);
        }
        if (st->xattrs_skipped)
                ib_log(IB_LOG_WARN, "%" PRIu64 " extended attributes could not be set (e.g. %s)",
                       st->xattrs_skipped, st->xattr_example);
}

static int cmd_import(int argc, char **argv, bool index_only)
{
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },
                { "diff-id", required_argument, NULL, 'd' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(ib_store_closep) struct ib_store *store = NULL;
        _cleanup_err_ struct ib_err *err = NULL;
        _cleanup_free_ char *dir = NULL;
        struct ib_import_stats st = { 0 };
        const char *root = NULL, *diff_id = NULL;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'r':
                        root = optarg;
                        break;
                case 'd':
                        diff_id = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        return ib_cli_usage_error(VERB, "unknown option");
                }
        }
        if (optind + 1 != argc || !diff_id)
                return ib_cli_usage_error(VERB, "import needs --diff-id and one DIGEST");
        if (open_store(root, &store, &err) < 0)
                return ib_cli_fail(&err);
        if (index_only) {
                if (ib_snapshot_index(store, argv[optind], diff_id, &err) < 0)
                        return ib_cli_fail(&err);
                _cleanup_free_ char *p = ib_snapshot_index_path(store, diff_id);
                printf("%s\n", p);
                return 0;
        }
        r = ib_snapshot_import(store, argv[optind], diff_id, &dir, &st, &err);
        if (r < 0) {
                ib_import_stats_release(&st);
                return ib_cli_fail(&err);
        }
        report_stats(&st);
        ib_log(IB_LOG_INFO, "layer %s: %s%s (%" PRIu64 " entries, %" PRIu64 " bytes)", diff_id,
               st.extracted ? "extracted" : "reused", st.waited ? " after waiting for another import" : "",
               st.entries, st.bytes);
        printf("%s\n", dir);
        ib_import_stats_release(&st);
        return 0;
}

static int print_entry(const struct ib_layer_entry *e, void *userdata)
{
        (void) userdata;
        printf("%c %s %04o %" PRIu64 " %" PRIu64 " %" PRId64 " %s %s\n", e->type, e->path, e->mode,
               e->uid, e->gid, e->size, e->link ? e->link : "-", *e->xattrs ? e->xattrs : "-");
        return 0;
}

static int cmd_list(int argc, char **argv)
{
        _cleanup_err_ struct ib_err *err = NULL;
        if (argc != 2)
                return ib_cli_usage_error(VERB, "list needs one BLOB");
        if (ib_snapshot_list(argv[1], print_entry, NULL, &err) < 0)
                return ib_cli_fail(&err);
        return 0;
}

static int cmd_entries(int argc, char **argv)
{
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },
                {},
        };
        _cleanup_(ib_store_closep) struct ib_store *store = NULL;
        _cleanup_err_ struct ib_err *err = NULL;
        const char *root = NULL;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (c != 'r')
                        return ib_cli_usage_error(VERB, "unknown option");
                root = optarg;
        }
        if (optind + 1 != argc)
                return ib_cli_usage_error(VERB, "entries needs one DIFFID");
        if (open_store(root, &store, &err) < 0 || ib_snapshot_read_index(store, argv[optind], print_entry, NULL, &err) < 0)
                return ib_cli_fail(&err);
        return 0;
}

int ib_cmd_debug_layer(int argc, char **argv)
{
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? IB_EXIT_USAGE : 0;
        }
        optind = 0;
        if (strcmp(argv[1], "export") == 0)
                return cmd_export(argc - 1, argv + 1);
        if (strcmp(argv[1], "import") == 0)
                return cmd_import(argc - 1, argv + 1, false);
        if (strcmp(argv[1], "index") == 0)
                return cmd_import(argc - 1, argv + 1, true);
        if (strcmp(argv[1], "entries") == 0)
                return cmd_entries(argc - 1, argv + 1);
        if (strcmp(argv[1], "list") == 0)
                return cmd_list(argc - 1, argv + 1);
        return ib_cli_usage_error(VERB, "unknown subcommand '%s'", argv[1]);
}
