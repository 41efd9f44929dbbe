/* src/cmd-store.c - imgbuild store verify|du|prune: look after the store.
 * The checks and the accounting live in lib/ (store-verify.c, store-used.c),
 * snapshot/verify.c and src/store-admin.c; this file parses and prints. */
#include "lib/ib.h"
#include "sandbox/sandbox.h"
#include "snapshot/snapshot.h"
#include "src/cli.h"
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
                     "Options of every command:\n"
                     "      --root DIR              the store (default: $IMGBUILD_ROOT, else per user)\n"
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
        if (open_store(root, &store, &err) < 0 || ib_store_verify_blobs(store, jobs, &rep, &err) < 0 ||
            ib_snapshot_verify_layers(store, &rep, &err) < 0 || ib_store_verify_cache(store, &rep, &err) < 0) {
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

int ib_cmd_store(int argc, char **argv)
{
        static const struct {
                const char *name;
                int (*fn)(int argc, char **argv);
        } subs[] = {
                { "verify", cmd_verify },
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
