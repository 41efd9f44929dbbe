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
        /* Kaniko's executor flags that have no other home (see KANIKO COMPATIBILITY in imgbuild-build(1)) */
        O_CONTEXT_SUB_PATH, O_BUCKET, O_GIT, O_SNAPSHOT_MODE, O_USE_NEW_RUN, O_CUSTOM_PLATFORM_OLD, O_CLEANUP,
        O_COMPRESSED_CACHING, O_FORCE, O_IGNORE_PATH, O_IGNORE_VAR_RUN, O_FS_EXTRACT_RETRY, O_KANIKO_DIR,
        O_LOG_TIMESTAMP, O_PUSH_IGNORE_IMMUTABLE, O_SKIP_UNUSED_STAGES, O_FORCE_BUILD_METADATA,
        O_SKIP_PUSH_PERMISSION_CHECK,
};

/* Kaniko's executor flags that no docker habit covers (cmd/executor's list). */
static void kaniko_usage(FILE *out)
{
        fprintf(out,
                "\nKaniko executor flags (imgbuild-build(1), KANIKO COMPATIBILITY, says what each does):\n"
                "      --context-sub-path DIR         build from DIR inside the context\n"
                "      --kaniko-dir DIR               Kaniko's directory: credentials from DIR/.docker\n"
                "      --push-ignore-immutable-tag-errors\n"
                "                                     a destination tag the registry refuses to\n"
                "                                     overwrite is a warning, not a failure\n"
                "      --snapshot-mode full|redo|time, --use-new-run, --cleanup, --force,\n"
                "      --compressed-caching[=BOOL], --ignore-var-run[=BOOL], --ignore-path PATH,\n"
                "      --image-fs-extract-retry N, --log-timestamp[=BOOL], --skip-unused-stages[=BOOL],\n"
                "      --skip-push-permission-check, --force-build-metadata\n"
                "                                     accepted and ignored with a note: imgbuild\n"
                "                                     snapshots the overlay, never the host\n"
                "      --snapshotMode, --customPlatform, --tarPath, --whitelist-var-run\n"
                "                                     Kaniko's old spellings\n"
                "  -b, --bucket BUCKET, --git OPTIONS\n"
                "                                     refused: remote contexts are not supported\n");
}

static void build_usage(FILE *out)
{
        fprintf(out,
                "Usage: imgbuild build [OPTIONS] [CONTEXT]\n\n"
                "Build an image from a Dockerfile, with no daemon and no root.  CONTEXT is a\n"
                "directory (default .), dir://DIR, tar://FILE (tar, tar.gz, ...) or - (a tar on stdin).\n\n"
                "Options:\n"
                "  -f, --dockerfile, --file FILE      the Dockerfile (default: CONTEXT/Dockerfile)\n"
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
                "  -q, --quiet                        print only the image digest (RUN output to stderr)\n"
                IB_OUTPUT_HELP
                "  -h, --help                         show this help\n");
        ib_regopts_help(out);
        kaniko_usage(out);
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
        char *context_sub_path;
        char *kaniko_dir;
        bool ignore_immutable;
        char **notes;           /* said once the options are parsed (after -v/-q) */
};

/* Kaniko's flags whose work imgbuild does differently: accepted, and said so. */
static void note_ignored(struct build_cli *c, const char *flag, const char *why)
{
        _cleanup_free_ char *s = ib_strdupf("%s has no effect: %s", flag, why);
        for (char **n = c->notes; n && *n; n++)
                if (strcmp(*n, s) == 0)
                        return;
        ib_strv_push(&c->notes, s);
}

/* Kaniko's boolean flags take an optional =true|false (Go's strconv.ParseBool). */
static int parse_bool_opt(const char *arg, bool *ret)
{
        static const char *const yes[] = { "1", "t", "T", "true", "TRUE", "True" };
        static const char *const no[] = { "0", "f", "F", "false", "FALSE", "False" };

        if (!arg) {
                *ret = true;
                return 0;
        }
        for (size_t i = 0; i < IB_ELEMENTSOF(yes); i++) {
                if (strcmp(arg, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcmp(arg, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

/* Print a refusal in one line and return the usage status. */
static int refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int refuse(const char *fmt, ...)
{
        va_list ap;

        fputs("imgbuild: build: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return IB_EXIT_USAGE;
}

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

static int handle_kaniko_bool(struct build_cli *c, int opt, const char *arg)
{
        bool v;

        if (parse_bool_opt(arg, &v) < 0)
                return ib_cli_usage_error("build", "expected true or false, not '%s'", arg);
        switch (opt) {
        case O_COMPRESSED_CACHING:
                note_ignored(c, "--compressed-caching", "cache layers are the image's own layers, compressed once");
                return 0;
        case O_IGNORE_VAR_RUN:
                note_ignored(c, "--ignore-var-run", "RUN steps never see the host's /var/run, so nothing of it "
                                                    "can reach a layer; what a RUN writes there is kept");
                return 0;
        case O_LOG_TIMESTAMP:
                if (v)
                        note_ignored(c, "--log-timestamp", "use --log-format=json for timed events");
                return 0;
        case O_SKIP_UNUSED_STAGES:
                if (!v)
                        note_ignored(c, "--skip-unused-stages=false",
                                     "only the stages the target needs are built, as BuildKit does");
                return 0;
        default:
                return -1;
        }
}

/* Kaniko's executor flags that no docker habit covers.  See the table in
 * imgbuild-build(1): each is done, or accepted with a note saying why it
 * has nothing to do here, or refused in one line with exit status 2. */
static int handle_kaniko_opt(struct build_cli *c, int opt, const char *arg)
{
        long v;

        switch (opt) {
        case O_CONTEXT_SUB_PATH:
                free(c->context_sub_path);
                c->context_sub_path = ib_strdup(arg);
                return 0;
        case 'b':
        case O_BUCKET:
                return refuse("--bucket %s: cloud storage contexts are not supported; "
                              "download the tar and use tar://FILE", arg);
        case O_GIT:
                return refuse("--git %s: git contexts are not supported; clone and give the directory", arg);
        case O_SNAPSHOT_MODE:
                if (strcmp(arg, "full") && strcmp(arg, "redo") && strcmp(arg, "time"))
                        return ib_cli_usage_error("build", "--snapshot-mode: expected full, redo or time, not '%s'",
                                                  arg);
                note_ignored(c, "--snapshot-mode", "snapshots come from the overlay's upper directory");
                return 0;
        case O_USE_NEW_RUN:
                note_ignored(c, "--use-new-run", "snapshots come from the overlay's upper directory");
                return 0;
        case O_CUSTOM_PLATFORM_OLD:
                return ib_regopts_platform(&c->ro, arg, "build") == 1 ? 0 : IB_EXIT_USAGE;
        case O_CLEANUP:
                note_ignored(c, "--cleanup", "imgbuild never changes the host's file system");
                return 0;
        case O_FORCE:
                note_ignored(c, "--force", "imgbuild runs anywhere, in a container or not");
                return 0;
        case O_COMPRESSED_CACHING:
        case O_IGNORE_VAR_RUN:
        case O_LOG_TIMESTAMP:
        case O_SKIP_UNUSED_STAGES:
                return handle_kaniko_bool(c, opt, arg);
        case O_IGNORE_PATH:
                note_ignored(c, "--ignore-path", "RUN steps never see the host's mounts; a layer holds only what "
                                                 "the step wrote");
                return 0;
        case O_FS_EXTRACT_RETRY:
                if (parse_int(arg, 0, 100, &v) < 0)
                        return ib_cli_usage_error("build", "--image-fs-extract-retry: expected 0..100, not '%s'", arg);
                note_ignored(c, "--image-fs-extract-retry", "extraction reads verified blobs from the store; "
                                                            "downloads retry with --image-download-retry");
                return 0;
        case O_KANIKO_DIR:
                if (!*arg)
                        return ib_cli_usage_error("build", "--kaniko-dir: expected a directory");
                free(c->kaniko_dir);
                c->kaniko_dir = ib_strdup(arg);
                return 0;
        case O_PUSH_IGNORE_IMMUTABLE:
                c->ignore_immutable = true;
                return 0;
        case O_FORCE_BUILD_METADATA:
                note_ignored(c, "--force-build-metadata", "metadata-only steps never add a layer");
                return 0;
        case O_SKIP_PUSH_PERMISSION_CHECK:
                note_ignored(c, "--skip-push-permission-check", "imgbuild does not check before it pushes; "
                                                                "a refused push fails then");
                return 0;
        default:
                return -1;
        }
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
        case 'v':
        case IB_OPT_PROGRESS:
        case IB_OPT_LOG_FORMAT:
                return ib_output_opt(opt, arg, "build") == 1 ? 0 : IB_EXIT_USAGE;
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
                return handle_kaniko_opt(c, opt, arg);
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

/* Registries that keep tags immutable answer a manifest PUT over an existing
 * tag with an error naming it so (ECR's ImageTagAlreadyExistsException, the
 * distribution spec's TAG_INVALID, "immutable" in most others' messages). */
static bool is_immutable_tag_error(const struct ib_err *e)
{
        static const char *const marks[] = { "immutable", "IMMUTABLE", "TAG_INVALID", "ImageTagAlreadyExists" };

        for (size_t i = 0; e && i < IB_ELEMENTSOF(marks); i++)
                if (strstr(e->msg, marks[i]))
                        return true;
        return false;
}

/* Kaniko's Cloud Build output: $BUILDER_OUTPUT/images gets one JSON object
 * per pushed destination, {"name": ..., "digest": ...}. */
static int write_builder_output(char *const *names, const char *digest, struct ib_err **err)
{
        const char *dir = getenv("BUILDER_OUTPUT");
        _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;
        _cleanup_free_ char *path = NULL;

        if (!dir || !*dir || !names || !names[0])
                return 0;
        for (char *const *n = names; *n; n++) {
                ib_buf_adds(&b, "{\"name\":");
                ib_json_add_str(&b, *n);
                ib_buf_adds(&b, ",\"digest\":");
                ib_json_add_str(&b, digest);
                ib_buf_adds(&b, "}\n");
        }
        path = ib_path_join(dir, "images");
        if (ib_write_file_atomic(path, b.buf, b.len, 0644, err) < 0)
                return ib_err_wrap(err, "BUILDER_OUTPUT");
        return 0;
}

static int push_destinations(struct build_cli *c, const struct ib_build_result *res, struct ib_err **err)
{
        _cleanup_(ib_registry_freep) struct ib_registry *reg = NULL;
        _cleanup_strv_ char **pushed = NULL;

        if (c->no_push || !c->o.tags || !c->o.tags[0])
                return 0;
        if (ib_registry_new(&c->ro.opts, &reg, err) < 0)
                return -EIO;
        ib_registry_set_progress(reg, ib_xfer_progress, (void *) "push");
        for (char **t = c->o.tags; *t; t++) {
                _cleanup_(ib_ref_freep) struct ib_ref *ref = NULL;
                struct ib_push_result pr = { 0 };
                if (ib_ref_parse(*t, &ref, err) < 0)
                        return -EINVAL;
                if (ib_registry_push(reg, c->o.root, res->image->manifest_digest, ref, NULL, NULL, &pr, err) < 0) {
                        if (c->ignore_immutable && is_immutable_tag_error(*err)) {
                                ib_log(IB_LOG_WARN, "push %s: the tag is immutable, left as it is (%s)", *t,
                                       (*err)->msg);
                                ib_err_free(err);
                                continue;
                        }
                        return ib_err_wrap(err, "push %s", *t);
                }
                ib_strv_push(&pushed, *t);
                if (!c->quiet)
                        printf("%s@%s\n", *t, pr.digest);
                ib_log(IB_LOG_INFO, "pushed %s: %u blobs uploaded, %u mounted, %u already there", *t, pr.uploaded,
                       pr.mounted, pr.existing);
                ib_push_result_release(&pr);
        }
        return write_builder_output(pushed, res->image->manifest_digest, err);
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
        ib_strv_free(c->notes);
        free(c->context_sub_path);
        free(c->kaniko_dir);
        free(c->context);
        free(c->cache_repo);
        free(c->dockerfile);
        free(c->root);
}

/* Why this privilege mode, for -v debug: the rules of ib_userns_enter. */
static void explain_mode(const struct ib_privmode *m)
{
        switch (m->kind) {
        case IB_PRIV_ROOT:
                ib_debug("privilege mode: uid 0 outside any user namespace: a new user namespace maps all ids "
                         "to themselves");
                break;
        case IB_PRIV_ROOTLESS:
                ib_debug("privilege mode: uid %u has ranges in /etc/subuid and /etc/subgid: newuidmap/newgidmap map "
                         "0 to it and 1.. to the ranges", (unsigned) m->host_uid);
                break;
        case IB_PRIV_SINGLE_ID:
                ib_debug("privilege mode: uid %u has no usable subordinate ids: only it is mapped (to 0); files "
                         "of other owners collapse", (unsigned) m->host_uid);
                break;
        case IB_PRIV_USERNS:
                ib_debug("privilege mode: already uid 0 with CAP_SYS_ADMIN in a user namespace (a pod with "
                         "hostUsers: false): only a mount namespace is made");
                break;
        default:
                break;
        }
        for (size_t i = 0; i < m->uids.n; i++)
                ib_debug("privilege mode: uid map %u %u %u", m->uids.r[i].inside, m->uids.r[i].outside,
                         m->uids.r[i].count);
        if (m->note[0])
                ib_debug("privilege mode: %s", m->note);
}

/* The registry credentials file a push or pull would read (registry/creds.c's
 * search order), for -v debug. */
static void explain_auth_file(void)
{
        _cleanup_free_ char *auth = NULL;

        if (ib_log_level_max < IB_LOG_DEBUG)
                return;
        auth = ib_auth_file_find();
        ib_debug("registry config: %s (searched: $DOCKER_CONFIG/config.json, ~/.docker/config.json, "
                 "/kaniko/.docker/config.json, $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json)",
                 auth ? auth : "none found, anonymous access");
}

/* Once at the top of a build: mode, store, CPUs; -v debug says why. */
static void build_start(const struct ib_privmode *mode, const char *mode_line, const char *root)
{
        struct ib_event ev = { .kind = IB_EV_BUILD_START, .level = IB_LOG_INFO };

        ev.u.start.version = IB_VERSION;
        ev.u.start.mode = ib_privmode_name(mode->kind);
        ev.u.start.mode_detail = mode_line;
        ev.u.start.store = root;
        ev.u.start.cpus = sysconf(_SC_NPROCESSORS_ONLN);
        ib_event_emit(&ev);
        explain_mode(mode);
        explain_auth_file();
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
        ib_output_start();      /* this process (the namespace's child) now owns the terminal's redraws */
        mode_line = ib_privmode_describe(&mode);
        build_start(&mode, mode_line, c->root);
        c->o.mode = &mode;
        c->o.relay_output = ib_output_wants_lines();
        if (c->quiet)
                c->o.run_stdout_fd = STDERR_FILENO;     /* stdout is for the digest alone */
        if (setup_signals() < 0)
                return ib_cli_fail(&err);
        c->o.cancel_fd = cancel_pipe[0];
        c->ro.opts.cancel_fd = cancel_pipe[0];  /* pulls and pushes stop too */
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
        double t = ib_now();
        /* a signal that came after the last step still means: stop, do not push */
        if (got_signal)
                r = ib_err_set(&err, ECANCELED, "build interrupted before the push");
        else
                r = push_destinations(c, &res, &err);
        if (r < 0) {
                ib_build_result_release(&res);
                if (got_signal)
                        ib_log(IB_LOG_ERROR, "interrupted by signal %d", (int) got_signal);
                return ib_cli_fail(&err);
        }
        ib_build_summary_emit(&res, c->no_push || !c->o.tags ? 0 : ib_now() - t);
        if (c->quiet || !c->o.tags || c->no_push)
                printf("%s\n", res.image->manifest_digest);
        ib_build_result_release(&res);
        return 0;
}

/* Kaniko's environment variables, read after the flags as Kaniko does:
 * KANIKO_NO_PUSH and KANIKO_REGISTRY_MIRROR/MAP override or add to them,
 * KANIKO_DIR is --kaniko-dir's default. */
static int kaniko_env(struct build_cli *c)
{
        const char *e;

        if ((e = getenv("KANIKO_NO_PUSH")) && *e) {
                if (parse_bool_opt(e, &c->no_push) < 0)
                        return ib_cli_usage_error("build", "KANIKO_NO_PUSH: expected true or false, not '%s'", e);
        }
        if ((e = getenv("KANIKO_REGISTRY_MIRROR")) && *e)
                ib_strv_push(&c->ro.opts.mirrors, e);
        if ((e = getenv("KANIKO_REGISTRY_MAP")) && *e) {
                int r = ib_regopts_registry_map(&c->ro, e, "build");
                if (r != 1)
                        return r;
        }
        /* Kaniko moves /kaniko to this directory and points DOCKER_CONFIG at
         * its .docker; the flag wins over the variable. */
        e = c->kaniko_dir ? c->kaniko_dir : getenv("KANIKO_DIR");
        if (e && *e) {
                _cleanup_free_ char *dc = ib_path_join(e, ".docker");
                setenv("DOCKER_CONFIG", dc, 1);
        }
        return 0;
}

/* Checks that need all the options: remote contexts (refused in one line),
 * --context-sub-path, the environment aliases; then the notes. */
static int finish_options(struct build_cli *c)
{
        static const char *const remote[] = { "gs://", "s3://", "az://", "git://", "https://", "http://" };
        const char *ctx = c->context;
        int r;

        for (size_t i = 0; i < IB_ELEMENTSOF(remote); i++)
                if (ib_startswith(ctx, remote[i]))
                        return refuse("context '%s': remote contexts are not supported; use a directory, "
                                      "tar://FILE or - (a tar on stdin)", ctx);
        if (c->cache_repo && ib_startswith(c->cache_repo, "oci:"))
                return refuse("--cache-repo %s: a layer cache in an OCI layout is not supported; name a registry "
                              "repository", c->cache_repo);
        if (c->context_sub_path) {
                _cleanup_free_ char *sub = NULL;
                if (strcmp(ctx, "-") == 0 || ib_startswith(ctx, "tar://"))
                        return refuse("--context-sub-path with a tar context is not supported; unpack it first");
                if (ib_startswith(ctx, "dir://"))
                        ctx += 6;
                sub = ib_path_join(ctx, c->context_sub_path);
                free(c->context);
                c->context = IB_TAKE_PTR(sub);
        }
        r = kaniko_env(c);
        if (r)
                return r;
        if (c->quiet)
                ib_log_level_max = IB_LOG_ERROR;
        for (char **n = c->notes; n && *n; n++)
                ib_log(IB_LOG_INFO, "note: %s", *n);
        return 0;
}

int ib_cmd_build(int argc, char **argv)
{
        static const struct option verb_opts[] = {
                /* Kaniko's (see handle_kaniko_opt) */
                { "context-sub-path", required_argument, NULL, O_CONTEXT_SUB_PATH },
                { "bucket", required_argument, NULL, O_BUCKET },
                { "git", required_argument, NULL, O_GIT },
                { "snapshot-mode", required_argument, NULL, O_SNAPSHOT_MODE },
                { "snapshotMode", required_argument, NULL, O_SNAPSHOT_MODE },
                { "use-new-run", no_argument, NULL, O_USE_NEW_RUN },
                { "customPlatform", required_argument, NULL, O_CUSTOM_PLATFORM_OLD },
                { "tarPath", required_argument, NULL, O_TAR_PATH },
                { "cleanup", no_argument, NULL, O_CLEANUP },
                { "force", no_argument, NULL, O_FORCE },
                { "compressed-caching", optional_argument, NULL, O_COMPRESSED_CACHING },
                { "ignore-var-run", optional_argument, NULL, O_IGNORE_VAR_RUN },
                { "whitelist-var-run", optional_argument, NULL, O_IGNORE_VAR_RUN },
                { "ignore-path", required_argument, NULL, O_IGNORE_PATH },
                { "image-fs-extract-retry", required_argument, NULL, O_FS_EXTRACT_RETRY },
                { "kaniko-dir", required_argument, NULL, O_KANIKO_DIR },
                { "log-timestamp", optional_argument, NULL, O_LOG_TIMESTAMP },
                { "push-ignore-immutable-tag-errors", no_argument, NULL, O_PUSH_IGNORE_IMMUTABLE },
                { "skip-unused-stages", optional_argument, NULL, O_SKIP_UNUSED_STAGES },
                { "force-build-metadata", no_argument, NULL, O_FORCE_BUILD_METADATA },
                { "skip-push-permission-check", no_argument, NULL, O_SKIP_PUSH_PERMISSION_CHECK },
                /* docker's and Kaniko's common ones */
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
                IB_OUTPUT_LONGOPTS,
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_free_ struct option *lo = ib_regopts_merge(verb_opts);
        struct build_cli c = { .o = { .compression = IB_COMPRESSION_GZIP, .compression_level = -1,
                                      .format = IB_FORMAT_OCI, .cache_ttl = 336 * 3600, .jobs = 0,
                                      .cache_run_layers = true } };
        int opt, r;

        ib_regopts_init(&c.ro);
        while ((opt = getopt_long(argc, argv, "f:c:t:d:b:qhv:", lo, NULL)) != -1) {
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
        r = finish_options(&c);
        if (r) {
                cli_release(&c);
                return r;
        }
        if (!c.o.jobs) {
                /* BuildKit builds independent stages at once; so do we, one per CPU */
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                c.o.jobs = n < 1 ? 1 : n > 8 ? 8 : (unsigned) n;
        }
        if (!c.root)
                c.root = ib_store_default_root();
        ib_output.quiet = c.quiet;
        ib_output_start();
        r = run_build(&c);
        ib_output_end();
        cli_release(&c);
        return r;
}
