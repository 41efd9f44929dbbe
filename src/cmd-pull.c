/* src/cmd-pull.c - imgbuild pull [options] REF...: fill the store ahead of a
 * build (Kaniko's warmer) and print REF@sha256:... for each reference. */
#include "lib/ib.h"
#include "src/cache-dir.h"
#include "src/build.h"
#include "src/cli.h"
#include "src/registry-opts.h"

static void pull_usage(FILE *out)
{
        fprintf(out, "Usage: imgbuild pull [OPTIONS] REF...\n\n"
                     "Download images (manifests, config, layers) into the store and print\n"
                     "REF@sha256:<digest> for each.\n\n"
                     "Options:\n"
                     "      --root DIR                     the store (default: $IMGBUILD_ROOT, else per user)\n"
                     "      --cache-dir DIR                also write each image into DIR as Kaniko's warmer does\n"
                     "                                     (for imgbuild build --cache-dir DIR)\n"
                     IB_OUTPUT_HELP
                     "  -h, --help                         show this help\n");
        ib_regopts_help(out);
}

int ib_cmd_pull(int argc, char **argv)
{
        static const struct option verb_opts[] = {
                { "root", required_argument, NULL, 'R' },
                { "cache-dir", required_argument, NULL, 'C' },
                IB_OUTPUT_LONGOPTS,
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_free_ struct option *lo = ib_regopts_merge(verb_opts);
        _cleanup_free_ char *root = NULL, *cache_dir = NULL;
        _cleanup_(ib_store_closep) struct ib_store *store = NULL;
        _cleanup_(ib_registry_freep) struct ib_registry *reg = NULL;
        _cleanup_err_ struct ib_err *err = NULL;
        struct ib_regopts ro;
        int c, r, status = 0;

        ib_regopts_init(&ro);
        while ((c = getopt_long(argc, argv, "hv:", lo, NULL)) != -1) {
                switch (c) {
                case 'R':
                        free(root);
                        root = ib_strdup(optarg);
                        break;
                case 'C':
                        free(cache_dir);
                        cache_dir = ib_strdup(optarg);
                        break;
                case 'h':
                        pull_usage(stdout);
                        ib_regopts_release(&ro);
                        return 0;
                default:
                        r = ib_output_opt(c, optarg, "pull");
                        if (r == 1)
                                break;
                        if (r) {
                                ib_regopts_release(&ro);
                                return r;
                        }
                        r = ib_regopts_handle(&ro, c, optarg, "pull");
                        if (r == 1)
                                break;
                        ib_regopts_release(&ro);
                        return r ? r : ib_cli_usage_error("pull", "unknown option");
                }
        }
        if (optind >= argc) {
                ib_regopts_release(&ro);
                return ib_cli_usage_error("pull", "no image reference given");
        }
        if (!root)
                root = ib_store_default_root();
        if (ib_store_open(root, &store, &err) < 0 || ib_registry_new(&ro.opts, &reg, &err) < 0) {
                ib_regopts_release(&ro);
                return ib_cli_fail(&err);
        }
        ib_output_start();
        ib_registry_set_progress(reg, ib_xfer_progress, (void *) "pull");
        for (int i = optind; i < argc; i++) {
                _cleanup_(ib_ref_freep) struct ib_ref *ref = NULL;
                _cleanup_(ib_pull_result_freep) struct ib_pull_result *res = NULL;

                if (ib_ref_parse(argv[i], &ref, &err) < 0 ||
                    ib_registry_pull(reg, store, ref, ro.have_platform ? &ro.platform : NULL, &res, &err) < 0) {
                        ib_err_wrap(&err, "pull %s", argv[i]);
                        status = ib_cli_fail(&err);
                        continue;
                }
                if (cache_dir) {
                        /* the tag it was pulled by, so a build finds it without a registry */
                        _cleanup_(ib_ref_freep) struct ib_ref *tagged = ib_ref_with_digest(ref, NULL);
                        _cleanup_free_ char *tag = tagged->tag ? ib_ref_string(tagged) : NULL;
                        if (ib_cache_dir_write(store, cache_dir, res->manifest_digest, tag, &err) < 0) {
                                ib_err_wrap(&err, "pull %s", argv[i]);
                                status = ib_cli_fail(&err);
                                continue;
                        }
                }
                _cleanup_(ib_ref_freep) struct ib_ref *pinned = ib_ref_with_digest(ref, res->digest);
                _cleanup_free_ char *s = ib_ref_string(pinned);
                printf("%s\n", s);
                fflush(stdout);
                ib_debug("%s: manifest %s, config %s, %zu layers, %u blobs downloaded", argv[i], res->manifest_digest,
                         res->config_digest, res->n_layers, res->fetched);
        }
        ib_regopts_release(&ro);
        ib_output_end();
        return status;
}
