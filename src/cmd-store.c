/* src/cmd-store.c - imgbuild store verify|du|prune: look after the store.
 * The checks and the accounting live in lib/ (store-verify.c, store-used.c),
 * snapshot/verify.c and src/store-admin.c; this file parses and prints. */
#include "lib/ib.h"
#include "sandbox/sandbox.h"
#include "snapshot/snapshot.h"
#include "src/build.h"
#include "src/cli.h"
#include "src/store-admin.h"
#include <getopt.h>
#include <inttypes.h>

static void store_usage(FILE *out)
{
        fprintf(out, "Usage: imgbuild store COMMAND [OPTIONS]\n\n"
                     "Look after the store (blobs, layers, the local cache, scratch).\n\n"
                     "Commands:\n"
                     "  verify     re-hash every blob, check every layer dir and cache entry\n"
                     "  du         show what the store holds and its size\n"
                     "  prune      remove what no recent build used\n\n"
                     "Options:\n"
                     "      --root DIR              the store (default: $IMGBUILD_ROOT, else per user)\n"
                     "  -j, --jobs N                verify: hash N blobs at once (default: one per CPU, max 8)\n"
                     "      --format FORMAT         du: text (default) or json\n"
                     "      --keep-duration DUR     prune: keep what was used within DUR (default 168h)\n"
                     "      --all                   prune: everything no running build holds\n"
                     "  -n, --dry-run               prune: print what would be removed, remove nothing\n"
                     "  -h, --help                  show the help of the command\n\n"
                     "'imgbuild store COMMAND --help' shows the options of a command.\n");
}

static void verify_usage(FILE *out)
{
        fprintf(out, "Usage: imgbuild store verify [OPTIONS]\n\n"
                     "Re-hash every blob (its digest must be its name), check that every layer dir\n"
                     "holds what its entries index lists, that every cache entry parses and names a\n"
                     "blob of the store, and list scratch left by dead processes.  One line per\n"
                     "problem, then a summary.  Exit status 0 when the store is sound, 1 otherwise.\n\n"
                     "Options:\n"
                     "      --root DIR              the store (default: $IMGBUILD_ROOT, else per user)\n"
                     "  -j, --jobs N                hash N blobs at once (default: one per CPU, at most 8)\n"
                     "  -h, --help                  show this help\n");
}

/* Enter the user namespace (the layers' files belong to its ids) and open the store. */
static int open_store(const char *root_opt, struct ib_store **ret, struct ib_err **err)
{
        _cleanup_free_ char *root = root_opt ? ib_strdup(root_opt) : ib_store_default_root();
        struct ib_privmode mode;

        if (ib_userns_enter(&mode, err) < 0)
                return -EIO;
        _cleanup_free_ char *desc = ib_privmode_describe(&mode);
        ib_debug("store %s; privilege mode %s", root, desc);
        return ib_store_open(root, ret, err);
}

static int cmd_verify(int argc, char **argv)
{
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'R' },
                { "jobs", required_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(ib_store_closep) struct ib_store *store = NULL;
        _cleanup_err_ struct ib_err *err = NULL;
        struct ib_store_report rep = { 0 };
        _cleanup_close_ int lock = -1;
        const char *root = NULL;
        unsigned jobs = 0;
        int c;

        while ((c = getopt_long(argc, argv, "j:h", opts, NULL)) != -1) {
                switch (c) {
                case 'R': root = optarg; break;
                case 'j': {
                        char *end;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (*end || !*optarg || v < 1 || v > 64)
                                return ib_cli_usage_error("store verify", "--jobs wants 1..64, not '%s'", optarg);
                        jobs = (unsigned) v;
                        break;
                }
                case 'h': verify_usage(stdout); return 0;
                default: return ib_cli_usage_error("store verify", "unknown option");
                }
        }
        if (optind < argc)
                return ib_cli_usage_error("store verify", "unexpected argument '%s'", argv[optind]);
        /* the lock, shared, keeps a prune from moving things away under the checks */
        if (open_store(root, &store, &err) < 0 || ib_store_lock(store, false, &lock, &err) < 0 ||
            ib_store_verify_blobs(store, jobs, &rep, &err) < 0 || ib_store_verify_cache(store, &rep, &err) < 0 ||
            ib_snapshot_verify_layers(store, &rep, &err) < 0) {
                ib_store_report_release(&rep);
                return ib_cli_fail(&err);
        }
        ib_store_verify_scratch(store, &rep);
        ib_store_report_sort(&rep);
        for (size_t i = 0; i < rep.n_problems; i++)
                printf("%s: %s\n", rep.problems[i].path, rep.problems[i].what);
        for (size_t i = 0; i < rep.stale.n; i++)
                printf("%s/%s: left by a process that is gone (not corruption; prune removes it)\n",
                       store->root, rep.stale.v[i]);
        if (rep.n_problems)
                printf("store has %zu problem%s\n", rep.n_problems, rep.n_problems == 1 ? "" : "s");
        else
                printf("store OK: %" PRIu64 " blobs, %" PRIu64 " layers, %" PRIu64 " cache entries\n", rep.blobs,
                       rep.layers, rep.cache_entries);
        ib_debug("%" PRIu64 " blob bytes hashed; %" PRIu64 " layers without an entries index (not checked)",
                 rep.blob_bytes, rep.layers_unchecked);
        c = rep.n_problems ? IB_EXIT_FAILURE : 0;
        ib_store_report_release(&rep);
        return c;
}

/* "12.3 MiB" */
static const char *human(uint64_t n, char buf[32])
{
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        double v = (double) n;
        size_t u = 0;
        while (v >= 1024 && u + 1 < IB_ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        snprintf(buf, 32, u ? "%.1f %s" : "%.0f %s", v, units[u]);
        return buf;
}

static void du_usage(FILE *out)
{
        fprintf(out, "Usage: imgbuild store du [OPTIONS]\n\n"
                     "Show what the store holds and the disk space it takes (as du(1) counts it:\n"
                     "allocated blocks, each hard-linked file once): blobs, layer dirs, the local\n"
                     "cache, scratch, and per image tag pulled, what of it the store holds.\n\n"
                     "Options:\n"
                     "      --root DIR              the store (default: $IMGBUILD_ROOT, else per user)\n"
                     "      --format FORMAT         text (default) or json\n"
                     "  -h, --help                  show this help\n");
}

static void du_print_json(const struct ib_store *s, const struct ib_store_usage *u)
{
        _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;

        ib_buf_adds(&b, "{\"root\":");
        ib_json_add_str(&b, s->root);
        ib_buf_addf(&b, ",\"blobs\":{\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", u->blobs, u->blob_bytes);
        ib_buf_addf(&b, ",\"layers\":{\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", u->layers, u->layer_bytes);
        ib_buf_addf(&b, ",\"cache\":{\"entries\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", u->cache_entries, u->cache_bytes);
        ib_buf_addf(&b, ",\"scratch\":{\"bytes\":%" PRIu64 "},\"other\":{\"bytes\":%" PRIu64 "}", u->scratch_bytes,
                    u->other_bytes);
        ib_buf_addf(&b, ",\"total\":{\"bytes\":%" PRIu64 "},\"images\":[", u->total_bytes);
        for (size_t i = 0; i < u->n_images; i++) {
                const struct ib_store_image_usage *im = &u->images[i];
                ib_buf_adds(&b, i ? ",{\"name\":" : "{\"name\":");
                ib_json_add_str(&b, im->name);
                ib_buf_adds(&b, ",\"digest\":");
                ib_json_add_str(&b, im->digest);
                ib_buf_addf(&b, ",\"blobs\":%" PRIu64 ",\"blobBytes\":%" PRIu64 ",\"layers\":%" PRIu64
                            ",\"layerBytes\":%" PRIu64 "}", im->blobs, im->blob_bytes, im->layers, im->layer_bytes);
        }
        ib_buf_adds(&b, "]}\n");
        fputs(b.buf, stdout);
}

static void du_print_text(const struct ib_store *s, const struct ib_store_usage *u)
{
        char h[32];

        printf("store %s\n", s->root);
        printf("  %-9s %8" PRIu64 " %-8s %12s\n", "blobs", u->blobs, "", human(u->blob_bytes, h));
        printf("  %-9s %8" PRIu64 " %-8s %12s\n", "layers", u->layers, "dirs", human(u->layer_bytes, h));
        printf("  %-9s %8" PRIu64 " %-8s %12s\n", "cache", u->cache_entries, "entries", human(u->cache_bytes, h));
        printf("  %-9s %8s %-8s %12s\n", "scratch", "", "", human(u->scratch_bytes, h));
        printf("  %-9s %8s %-8s %12s\n", "other", "", "", human(u->other_bytes, h));
        printf("  %-9s %8s %-8s %12s (%" PRIu64 " bytes)\n", "total", "", "", human(u->total_bytes, h),
               u->total_bytes);
        if (u->n_images)
                printf("images (tags pulled; shared blobs and layers count in each):\n");
        for (size_t i = 0; i < u->n_images; i++) {
                const struct ib_store_image_usage *im = &u->images[i];
                char h2[32];
                printf("  %s %.19s  %" PRIu64 " blobs %s, %" PRIu64 " layer dirs %s\n", im->name, im->digest,
                       im->blobs, human(im->blob_bytes, h), im->layers, human(im->layer_bytes, h2));
        }
}

static int cmd_du(int argc, char **argv)
{
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'R' },
                { "format", required_argument, NULL, 'F' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(ib_store_closep) struct ib_store *store = NULL;
        _cleanup_err_ struct ib_err *err = NULL;
        struct ib_store_usage u;
        const char *root = NULL;
        bool json = false;
        int c;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'R': root = optarg; break;
                case 'F':
                        if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0)
                                return ib_cli_usage_error("store du", "--format wants text or json, not '%s'", optarg);
                        json = strcmp(optarg, "json") == 0;
                        break;
                case 'h': du_usage(stdout); return 0;
                default: return ib_cli_usage_error("store du", "unknown option");
                }
        }
        if (optind < argc)
                return ib_cli_usage_error("store du", "unexpected argument '%s'", argv[optind]);
        if (open_store(root, &store, &err) < 0 || ib_store_du(store, &u, &err) < 0)
                return ib_cli_fail(&err);
        if (json)
                du_print_json(store, &u);
        else
                du_print_text(store, &u);
        ib_store_usage_release(&u);
        return 0;
}

static void prune_usage(FILE *out)
{
        fprintf(out, "Usage: imgbuild store prune [OPTIONS]\n\n"
                     "Remove the blobs, layer dirs and cache entries that no build used within the\n"
                     "keep duration, except what a running build holds and what a kept cache entry\n"
                     "or image references; also the scratch of dead processes.  Safe while builds\n"
                     "run.  Prints what it removed and the space freed.\n\n"
                     "Options:\n"
                     "      --root DIR              the store (default: $IMGBUILD_ROOT, else per user)\n"
                     "      --keep-duration DUR     keep what was used within DUR (e.g. 36h, 7d, 90m, 0;\n"
                     "                              default 168h)\n"
                     "      --all                   remove everything no running build holds, and the\n"
                     "                              tag records and indexes of cache/\n"
                     "  -n, --dry-run               print what would be removed, remove nothing\n"
                     "  -h, --help                  show this help\n");
}

static int cmd_prune(int argc, char **argv)
{
        enum { O_KEEP = 0x100, O_ALL };
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'R' },
                { "keep-duration", required_argument, NULL, O_KEEP },
                { "all", no_argument, NULL, O_ALL },
                { "dry-run", no_argument, NULL, 'n' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(ib_store_closep) struct ib_store *store = NULL;
        _cleanup_err_ struct ib_err *err = NULL;
        struct ib_prune_opts po = { .keep_seconds = 168 * 3600 };
        struct ib_prune_result res;
        const char *root = NULL;
        char h[32];
        int c;

        while ((c = getopt_long(argc, argv, "nh", opts, NULL)) != -1) {
                switch (c) {
                case 'R': root = optarg; break;
                case O_KEEP:
                        if (strcmp(optarg, "0") == 0)
                                po.keep_seconds = 0;
                        else if (ib_parse_duration(optarg, &po.keep_seconds) < 0)
                                return ib_cli_usage_error("store prune", "--keep-duration: '%s' is not a duration "
                                                          "like 168h, 7d, 1h30m or 0", optarg);
                        break;
                case O_ALL: po.all = true; break;
                case 'n': po.dry_run = true; break;
                case 'h': prune_usage(stdout); return 0;
                default: return ib_cli_usage_error("store prune", "unknown option");
                }
        }
        if (optind < argc)
                return ib_cli_usage_error("store prune", "unexpected argument '%s'", argv[optind]);
        if (open_store(root, &store, &err) < 0 || ib_store_prune(store, &po, &res, &err) < 0)
                return ib_cli_fail(&err);
        for (size_t i = 0; i < res.n_items; i++)
                printf("%s %s (%s)\n", po.dry_run ? "would remove" : "removed", res.items[i].path,
                       human(res.items[i].bytes, h));
        printf("%s %zu item%s, %s (%" PRIu64 " bytes); kept %" PRIu64 "\n", po.dry_run ? "would free" : "freed",
               res.n_items, res.n_items == 1 ? "" : "s", human(res.bytes, h), res.bytes, res.kept);
        ib_prune_result_release(&res);
        return 0;
}

int ib_cmd_store(int argc, char **argv)
{
        static const struct {
                const char *name;
                int (*fn)(int argc, char **argv);
        } subs[] = {
                { "verify", cmd_verify },
                { "du", cmd_du },
                { "prune", cmd_prune },
        };

        if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
                store_usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? IB_EXIT_USAGE : 0;
        }
        for (size_t i = 0; i < IB_ELEMENTSOF(subs); i++)
                if (strcmp(argv[1], subs[i].name) == 0) {
                        optind = 1;     /* getopt from the command's own argv */
                        return subs[i].fn(argc - 1, argv + 1);
                }
        return ib_cli_usage_error("store", "unknown command '%s'", argv[1]);
}
