/* src/cmd-build.c - imgbuild build [OPTIONS] [CONTEXT]: parse the options
 * (docker's and Kaniko's names), enter the user namespace, run the engine,
 * write the outputs and push the destinations. */
#include "lib/ib.h"
#include "src/build.h"
#include "src/cli.h"
#include "src/registry-opts.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

enum {
        O_TARGET = 0x100, O_BUILD_ARG, O_LABEL, O_BUILD_CONTEXT, O_OCI_LAYOUT, O_TAR_PATH, O_DIGEST_FILE,
        O_METADATA_FILE, O_NAME_DIGEST_FILE, O_NAME_TAG_DIGEST_FILE, O_REPRODUCIBLE, O_SINGLE_SNAPSHOT,
        O_IMAGE_FORMAT, O_JOBS, O_ROOT, O_NO_CACHE, O_NETWORK, O_COMPRESSION, O_COMPRESSION_LEVEL, O_NO_PUSH,
        O_CONTEXT, O_CACHE, O_CACHE_REPO, O_CACHE_TTL, O_CACHE_RUN_LAYERS, O_CACHE_COPY_LAYERS, O_NO_PUSH_CACHE,
        O_CACHE_DIR, O_SECRET, O_SSH, O_PULL,
};

static void build_usage(FILE *out)
{
        fprintf(out,
                "Usage: imgbuild build [OPTIONS] [CONTEXT]\n\n"
                "Build an image from a Dockerfile, with no daemon and no root.  CONTEXT is a\n"
                "directory (default .), dir://DIR, tar://FILE (tar, tar.gz, ...) or - (a tar on stdin).\n\n"
                "Options:\n"
                "  -f, --dockerfile FILE              the Dockerfile (default: CONTEXT/Dockerfile)\n"
                "  -c, --context CONTEXT              the build context (Kaniko's spelling of CONTEXT)\n"
                "      --target STAGE                 build up to this stage\n"
                "      --build-arg K=V | K            a build argument (bare K: from the environment)\n"
                "      --label K=V                    a label on the final image\n"
                "      --build-context NAME=SOURCE    a named context: DIR, oci-layout://DIR[:TAG|@DIGEST],\n"
                "                                     docker-image://REF (for FROM NAME and COPY --from=NAME)\n"
                "  -t, --tag NAME, -d, --destination NAME\n"
                "                                     name the image; pushed there unless --no-push\n"
                "      --no-push                      do not push the destinations\n"
                "      --oci-layout-path DIR[:TAG]    write the image into an OCI image layout\n"
                "      --tar-path FILE                write a docker-archive (docker load, podman load)\n"
                "      --digest-file FILE             write the image (manifest) digest\n"
                "      --metadata-file FILE           write a JSON description of the image\n"
                "      --image-name-with-digest-file FILE      REPO@DIGEST per destination\n"
                "      --image-name-tag-with-digest-file FILE  REPO:TAG@DIGEST per destination\n"
                "      --reproducible                 timestamps from SOURCE_DATE_EPOCH (0 when unset)\n"
                "      --single-snapshot              one layer for all of the final stage's own steps\n"
                "      --image-format oci|docker      manifest and config media types (default oci)\n"
                "      --compression gzip|zstd|none   layer compression (default gzip)\n"
                "      --compression-level N          compression level\n"
                "      --network host|none            network of RUN steps (default host)\n"
                "      --secret id=ID,src=PATH|env=VAR  a secret for RUN --mount=type=secret\n"
                "      --ssh default|ID=SOCKET        an ssh agent for RUN --mount=type=ssh\n"
                "      --jobs N                       stages built at once (default: the CPUs, at most 8)\n"
                "      --root DIR                     the store (default: $IMGBUILD_ROOT, else per user)\n"
                "      --no-cache                     do not use cached layers\n"
                "      --cache[=true|false]           also keep the layer cache in a registry\n"
                "      --cache-repo REPO              the registry cache (default: DESTINATION-REPO/cache)\n"
                "      --cache-ttl DURATION           ignore registry cache entries older than this (336h)\n"
                "      --cache-run-layers[=BOOL]      cache RUN layers in the registry (default true)\n"
                "      --cache-copy-layers[=BOOL]     cache COPY/ADD layers in the registry (default false)\n"
                "      --no-push-cache                look the registry cache up, never push to it\n"
                "      --pull[=always|missing|never]  ask the registry what a base tag names: every build\n"
                "                                     (--pull), only if the store never resolved it\n"
                "                                     (missing, the default), or never\n"
                "      --cache-dir DIR                base images from DIR (imgbuild pull --cache-dir, Kaniko's\n"
                "                                     warmer) before any registry\n"
                "  -q, --quiet                        print only the image digest\n"
                "  -h, --help                         show this help\n");
        ib_regopts_help(out);
}

static volatile sig_atomic_t got_signal;
static int cancel_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
        int saved = errno;
        got_signal = sig;
        if (cancel_pipe[1] >= 0)
                (void) !write(cancel_pipe[1], "x", 1);
        errno = saved;
}

static int setup_signals(void)
{
        struct sigaction sa = { .sa_handler = on_signal };

        if (pipe2(cancel_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        return 0;
}

struct build_cli {
        struct ib_build_opts o;
        struct ib_regopts ro;
        char *context;
        char *dockerfile;
        char *root;
        bool no_push, quiet, cache;
        char *cache_repo;
        char *epoch_str;
};

static int parse_int(const char *s, long min, long max, long *ret)
{
        char *end = NULL;
        long v;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || !end || *end || end == s || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int handle_opt(struct build_cli *c, int opt, const char *arg)
{
        long v;

        switch (opt) {
        case 'f':
                free(c->dockerfile);
                c->dockerfile = ib_strdup(arg);
                return 0;
        case 'c':
        case O_CONTEXT:
                free(c->context);
                c->context = ib_strdup(arg);
                return 0;
        case O_TARGET:
                c->o.target = arg;
                return 0;
        case O_BUILD_ARG:
                if (!strchr(arg, '=')) {
                        const char *v2 = getenv(arg);
                        if (!v2)
                                return 0;       /* docker: a bare name absent from the environment is skipped */
                        _cleanup_free_ char *kv = ib_strdupf("%s=%s", arg, v2);
                        ib_strv_push(&c->o.build_args, kv);
                } else {
                        ib_strv_push(&c->o.build_args, arg);
                }
                return 0;
        case O_LABEL:
                ib_strv_push(&c->o.labels, arg);
                return 0;
        case O_BUILD_CONTEXT:
                ib_strv_push(&c->o.build_contexts, arg);
                return 0;
        case O_SECRET:
                if (!strstr(arg, "id="))
                        return ib_cli_usage_error("build", "--secret: expected id=ID,src=PATH or id=ID,env=VAR");
                ib_strv_push(&c->o.secrets, arg);
                return 0;
        case O_SSH:
                ib_strv_push(&c->o.ssh, arg);
                return 0;
        case 't':
        case 'd':
                ib_strv_push(&c->o.tags, arg);
                return 0;
        case O_NO_PUSH:
                c->no_push = true;
                return 0;
        case O_OCI_LAYOUT:
                c->o.oci_layout_path = arg;
                return 0;
        case O_TAR_PATH:
                c->o.tar_path = arg;
                return 0;
        case O_DIGEST_FILE:
                c->o.digest_file = arg;
                return 0;
        case O_METADATA_FILE:
                c->o.metadata_file = arg;
                return 0;
        case O_NAME_DIGEST_FILE:
                c->o.image_name_with_digest_file = arg;
                return 0;
        case O_NAME_TAG_DIGEST_FILE:
                c->o.image_name_tag_with_digest_file = arg;
                return 0;
        case O_REPRODUCIBLE:
                c->o.reproducible = true;
                return 0;
        case O_SINGLE_SNAPSHOT:
                c->o.single_snapshot = true;
                return 0;
        case O_IMAGE_FORMAT:
                if (ib_image_format_parse(arg, &c->o.format) < 0)
                        return ib_cli_usage_error("build", "--image-format: expected oci or docker, not '%s'", arg);
                return 0;
        case O_COMPRESSION:
                if (ib_compression_parse(arg, &c->o.compression) < 0)
                        return ib_cli_usage_error("build", "--compression: expected gzip, zstd or none, not '%s'", arg);
                return 0;
        case O_COMPRESSION_LEVEL:
                if (parse_int(arg, 0, 22, &v) < 0)
                        return ib_cli_usage_error("build", "--compression-level: expected 0..22, not '%s'", arg);
                c->o.compression_level = (int) v;
                return 0;
        case O_NETWORK:
                if (!strcmp(arg, "host") || !strcmp(arg, "default"))
                        c->o.network = IB_NET_HOST;
                else if (!strcmp(arg, "none"))
                        c->o.network = IB_NET_NONE;
                else
                        return ib_cli_usage_error("build", "--network: expected host or none, not '%s'", arg);
                return 0;
        case O_JOBS:
                if (parse_int(arg, 1, 256, &v) < 0)
                        return ib_cli_usage_error("build", "--jobs: expected a number from 1 to 256, not '%s'", arg);
                c->o.jobs = (unsigned) v;
                return 0;
        case O_ROOT:
                free(c->root);
                c->root = ib_strdup(arg);
                return 0;
        case O_NO_CACHE:
                c->o.no_cache = true;
                return 0;
        case 'q':
                c->quiet = true;
                return 0;
        case O_CACHE:
        case O_CACHE_RUN_LAYERS:
        case O_CACHE_COPY_LAYERS: {
                bool v2 = !arg || !strcmp(arg, "true") || !strcmp(arg, "1");
                if (arg && !v2 && strcmp(arg, "false") && strcmp(arg, "0"))
                        return ib_cli_usage_error("build", "expected true or false, not '%s'", arg);
                if (opt == O_CACHE)
                        c->cache = v2;
                else if (opt == O_CACHE_RUN_LAYERS)
                        c->o.cache_run_layers = v2;
                else
                        c->o.cache_copy_layers = v2;
                return 0;
        }
        case O_CACHE_REPO:
                free(c->cache_repo);
                c->cache_repo = ib_strdup(arg);
                return 0;
        case O_CACHE_TTL:
                if (ib_parse_duration(arg, &c->o.cache_ttl) < 0)
                        return ib_cli_usage_error("build", "--cache-ttl: expected a duration like 336h or 90m, not '%s'", arg);
                return 0;
        case O_NO_PUSH_CACHE:
                c->o.no_push_cache = true;
                return 0;
        case O_PULL:
                if (!arg || !strcmp(arg, "always") || !strcmp(arg, "true"))
                        c->o.pull = IB_BASE_PULL_ALWAYS;
                else if (!strcmp(arg, "missing"))
                        c->o.pull = IB_BASE_PULL_MISSING;
                else if (!strcmp(arg, "never") || !strcmp(arg, "false"))
                        c->o.pull = IB_BASE_PULL_NEVER;
                else
                        return ib_cli_usage_error("build", "--pull: expected always, missing or never, not '%s'", arg);
                return 0;
        case O_CACHE_DIR:
                c->o.cache_dir = arg;
                return 0;
        default:
                return -1;
        }
}

/* The Dockerfile: -f as given (relative to the working directory, then to
 * the context, as Kaniko), else CONTEXT/Dockerfile. */
static int read_dockerfile(struct build_cli *c, char **ret_text, size_t *ret_len, struct ib_err **err)
{
        const char *ctx = c->context;
        _cleanup_free_ char *path = NULL;

        if (ib_startswith(ctx, "dir://"))
                ctx += 6;
        if (c->dockerfile && strcmp(c->dockerfile, "-") == 0)
                return ib_err_set(err, EINVAL, "-f -: reading the Dockerfile from stdin is not supported");
        if (c->dockerfile && (c->dockerfile[0] == '/' || access(c->dockerfile, F_OK) == 0))
                path = ib_strdup(c->dockerfile);
        else if (strcmp(ctx, "-") == 0 || ib_startswith(ctx, "tar://"))
                return ib_err_set(err, ENOTSUP, "with a tar context, give the Dockerfile with -f PATH");
        else
                path = ib_path_join(ctx, c->dockerfile ? c->dockerfile : "Dockerfile");
        if (ib_read_file(path, 64u << 20, ret_text, ret_len, err) < 0)
                return ib_err_wrap(err, "Dockerfile");
        free(c->dockerfile);
        c->dockerfile = IB_TAKE_PTR(path);
        return 0;
}

static int push_destinations(struct build_cli *c, const struct ib_build_result *res, struct ib_err **err)
{
        _cleanup_(ib_registry_freep) struct ib_registry *reg = NULL;

        if (c->no_push || !c->o.tags || !c->o.tags[0])
                return 0;
        if (ib_registry_new(&c->ro.opts, &reg, err) < 0)
                return -EIO;
        for (char **t = c->o.tags; *t; t++) {
                _cleanup_(ib_ref_freep) struct ib_ref *ref = NULL;
                struct ib_push_result pr = { 0 };
                if (ib_ref_parse(*t, &ref, err) < 0)
                        return -EINVAL;
                if (ib_registry_push(reg, c->o.root, res->image->manifest_digest, ref, NULL, NULL, &pr, err) < 0)
                        return ib_err_wrap(err, "push %s", *t);
                if (!c->quiet)
                        printf("%s@%s\n", *t, pr.digest);
                ib_log(IB_LOG_INFO, "pushed %s: %u blobs uploaded, %u mounted, %u already there", *t, pr.uploaded,
                       pr.mounted, pr.existing);
                ib_push_result_release(&pr);
        }
        return 0;
}

static void cli_release(struct build_cli *c)
{
        ib_regopts_release(&c->ro);
        ib_strv_free(c->o.build_args);
        ib_strv_free(c->o.labels);
        ib_strv_free(c->o.build_contexts);
        ib_strv_free(c->o.secrets);
        ib_strv_free(c->o.ssh);
        ib_strv_free(c->o.tags);
        free(c->context);
        free(c->cache_repo);
        free(c->dockerfile);
        free(c->root);
}

static int run_build(struct build_cli *c)
{
        _cleanup_err_ struct ib_err *err = NULL;
        _cleanup_free_ char *text = NULL, *mode_line = NULL;
        struct ib_build_result res = { 0 };
        struct ib_privmode mode = { 0 };
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        size_t len = 0;
        int r;

        if (sde && *sde) {
                long long v;
                char *end = NULL;
                v = strtoll(sde, &end, 10);
                if (!end || *end || v < 0)
                        return ib_cli_usage_error("build", "SOURCE_DATE_EPOCH: expected seconds, not '%s'", sde);
                c->o.reproducible = true;
                c->o.source_date_epoch = v;
        }
        if (read_dockerfile(c, &text, &len, &err) < 0)
                return ib_cli_fail(&err);
        c->o.dockerfile = c->dockerfile;
        c->o.dockerfile_text = text;
        c->o.dockerfile_len = len;
        c->o.context = c->context;
        c->o.root = c->root;
        c->o.registry = &c->ro.opts;
        if (c->ro.have_platform) {
                static char plat[112];
                snprintf(plat, sizeof(plat), "%s/%s%s%s", c->ro.platform.os, c->ro.platform.arch,
                         c->ro.platform.variant[0] ? "/" : "", c->ro.platform.variant);
                c->o.platform = plat;
        }
        if (c->cache) {
                if (!c->cache_repo && c->o.tags && c->o.tags[0]) {
                        /* Kaniko's default: <first destination's repository>/cache */
                        _cleanup_(ib_ref_freep) struct ib_ref *ref = NULL;
                        if (ib_ref_parse(c->o.tags[0], &ref, &err) < 0)
                                return ib_cli_fail(&err);
                        _cleanup_free_ char *name = ib_ref_name(ref);
                        c->cache_repo = ib_strdupf("%s/cache", name);
                }
                if (!c->cache_repo)
                        return ib_cli_usage_error("build", "--cache needs --cache-repo or a destination");
                c->o.cache_repo = c->cache_repo;
        }
        if (ib_userns_enter(&mode, &err) < 0)
                return ib_cli_fail(&err);
        mode_line = ib_privmode_describe(&mode);
        ib_log(IB_LOG_INFO, "imgbuild %s: privilege mode %s; store %s; %ld CPUs", IB_VERSION, mode_line, c->root,
               sysconf(_SC_NPROCESSORS_ONLN));
        if (mode.note[0])
                ib_log(IB_LOG_DEBUG, "%s", mode.note);
        c->o.mode = &mode;
        if (setup_signals() < 0)
                return ib_cli_fail(&err);
        c->o.cancel_fd = cancel_pipe[0];
        r = ib_build_run(&c->o, &res, &err);
        if (r == -ECHILD) {
                ib_cli_fail(&err);
                return res.run_status ? res.run_status : IB_EXIT_FAILURE;
        }
        if (r < 0) {
                ib_build_result_release(&res);
                if (got_signal)
                        ib_log(IB_LOG_ERROR, "interrupted by signal %d", (int) got_signal);
                return ib_cli_fail(&err);
        }
        r = push_destinations(c, &res, &err);
        if (r < 0) {
                ib_build_result_release(&res);
                return ib_cli_fail(&err);
        }
        if (c->quiet || !c->o.tags || c->no_push)
                printf("%s\n", res.image->manifest_digest);
        ib_build_result_release(&res);
        return 0;
}

int ib_cmd_build(int argc, char **argv)
{
        static const struct option verb_opts[] = {
                { "dockerfile", required_argument, NULL, 'f' },
                { "file", required_argument, NULL, 'f' },
                { "context", required_argument, NULL, 'c' },
                { "target", required_argument, NULL, O_TARGET },
                { "build-arg", required_argument, NULL, O_BUILD_ARG },
                { "label", required_argument, NULL, O_LABEL },
                { "build-context", required_argument, NULL, O_BUILD_CONTEXT },
                { "secret", required_argument, NULL, O_SECRET },
                { "ssh", required_argument, NULL, O_SSH },
                { "tag", required_argument, NULL, 't' },
                { "destination", required_argument, NULL, 'd' },
                { "no-push", no_argument, NULL, O_NO_PUSH },
                { "oci-layout-path", required_argument, NULL, O_OCI_LAYOUT },
                { "tar-path", required_argument, NULL, O_TAR_PATH },
                { "digest-file", required_argument, NULL, O_DIGEST_FILE },
                { "metadata-file", required_argument, NULL, O_METADATA_FILE },
                { "image-name-with-digest-file", required_argument, NULL, O_NAME_DIGEST_FILE },
                { "image-name-tag-with-digest-file", required_argument, NULL, O_NAME_TAG_DIGEST_FILE },
                { "reproducible", no_argument, NULL, O_REPRODUCIBLE },
                { "single-snapshot", no_argument, NULL, O_SINGLE_SNAPSHOT },
                { "image-format", required_argument, NULL, O_IMAGE_FORMAT },
                { "compression", required_argument, NULL, O_COMPRESSION },
                { "compression-level", required_argument, NULL, O_COMPRESSION_LEVEL },
                { "network", required_argument, NULL, O_NETWORK },
                { "jobs", required_argument, NULL, O_JOBS },
                { "root", required_argument, NULL, O_ROOT },
                { "no-cache", no_argument, NULL, O_NO_CACHE },
                { "cache", optional_argument, NULL, O_CACHE },
                { "cache-repo", required_argument, NULL, O_CACHE_REPO },
                { "cache-ttl", required_argument, NULL, O_CACHE_TTL },
                { "cache-run-layers", optional_argument, NULL, O_CACHE_RUN_LAYERS },
                { "cache-copy-layers", optional_argument, NULL, O_CACHE_COPY_LAYERS },
                { "no-push-cache", no_argument, NULL, O_NO_PUSH_CACHE },
                { "cache-dir", required_argument, NULL, O_CACHE_DIR },
                { "pull", optional_argument, NULL, O_PULL },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_free_ struct option *lo = ib_regopts_merge(verb_opts);
        struct build_cli c = { .o = { .compression = IB_COMPRESSION_GZIP, .compression_level = -1,
                                      .format = IB_FORMAT_OCI, .cache_ttl = 336 * 3600, .jobs = 0,
                                      .cache_run_layers = true } };
        int opt, r;

        ib_regopts_init(&c.ro);
        while ((opt = getopt_long(argc, argv, "f:c:t:d:qh", lo, NULL)) != -1) {
                if (opt == 'h') {
                        build_usage(stdout);
                        cli_release(&c);
                        return 0;
                }
                r = handle_opt(&c, opt, optarg);
                if (r == 0)
                        continue;
                if (r > 0) {
                        cli_release(&c);
                        return r;
                }
                r = ib_regopts_handle(&c.ro, opt, optarg, "build");
                if (r == 1)
                        continue;
                cli_release(&c);
                return r ? r : ib_cli_usage_error("build", "unknown option");
        }
        if (optind < argc - 1) {
                cli_release(&c);
                return ib_cli_usage_error("build", "one build context expected, got %d", argc - optind);
        }
        if (optind == argc - 1) {
                if (c.context) {
                        cli_release(&c);
                        return ib_cli_usage_error("build", "the context is given twice (--context and '%s')",
                                                  argv[optind]);
                }
                c.context = ib_strdup(argv[optind]);
        }
        if (!c.context)
                c.context = ib_strdup(".");
        if (ib_startswith(c.context, "gs://") || ib_startswith(c.context, "s3://") ||
            ib_startswith(c.context, "az://") || ib_startswith(c.context, "git://") ||
            ib_startswith(c.context, "https://") || ib_startswith(c.context, "http://")) {
                fprintf(stderr, "imgbuild: build: context '%s': remote contexts are not supported; "
                                "use a directory, tar://FILE or - (a tar on stdin)\n", c.context);
                cli_release(&c);
                return IB_EXIT_FAILURE;
        }
        if (!c.o.jobs) {
                /* BuildKit builds independent stages at once; so do we, one per CPU */
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                c.o.jobs = n < 1 ? 1 : n > 8 ? 8 : (unsigned) n;
        }
        if (!c.root)
                c.root = ib_store_default_root();
        if (c.quiet)
                ib_log_level_max = IB_LOG_ERROR;
        r = run_build(&c);
        cli_release(&c);
        return r;
}
