/* src/cmd-plan.c - `imgbuild plan`: parse a Dockerfile and print the stages a
 * target needs, in build order, each instruction expanded as it will run. */
#include "lib/ib.h"
#include "src/cli.h"
#include "src/dockerfile.h"
#include <getopt.h>

/* Dockerfiles larger than this are refused (BuildKit's limit is far lower). */
#define MAX_DOCKERFILE (64u << 20)

static void plan_usage(FILE *out)
{
        fprintf(out,
                "Usage: imgbuild plan [OPTIONS] [CONTEXT]\n\n"
                "Print the stages the target needs, in build order, each instruction\n"
                "expanded as it will run, with its source line.\n\n"
                "Options:\n"
                "  -f, --file PATH         the Dockerfile (default CONTEXT/Dockerfile; - for stdin)\n"
                "      --target STAGE      plan up to this stage (default: the last one)\n"
                "      --build-arg K=V     set a build-time variable (bare K: from the environment)\n"
                "      --platform P        target platform os/arch[/variant] (default: the build platform)\n"
                "      --format FMT        text (default) or json\n"
                "  -h, --help              show this help\n");
}

static int read_input(const char *path, char **ret, size_t *ret_len, struct ib_err **err)
{
        if (strcmp(path, "-") != 0)
                return ib_read_file(path, MAX_DOCKERFILE, ret, ret_len, err);
        struct ib_buf b = IB_BUF_INIT;
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
                ib_buf_add(&b, chunk, n);
                if (b.len > MAX_DOCKERFILE) {
                        ib_buf_release(&b);
                        return ib_err_set(err, EFBIG, "stdin");
                }
        }
        if (ferror(stdin)) {
                ib_buf_release(&b);
                return ib_err_set(err, EIO, "read stdin");
        }
        *ret_len = b.len;
        *ret = ib_buf_detach(&b);
        return 0;
}

int ib_cmd_plan(int argc, char **argv)
{
        static const struct option opts[] = {
                { "file", required_argument, NULL, 'f' },
                { "target", required_argument, NULL, 't' },
                { "build-arg", required_argument, NULL, 'a' },
                { "platform", required_argument, NULL, 'p' },
                { "format", required_argument, NULL, 'F' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_strv_ char **build_args = NULL;
        _cleanup_free_ char *file_default = NULL;
        _cleanup_err_ struct ib_err *err = NULL;
        const char *file = NULL, *target = NULL, *platform = NULL, *format = "text";
        int c;

        while ((c = getopt_long(argc, argv, "+f:h", opts, NULL)) != -1) {
                switch (c) {
                case 'f':
                        file = optarg;
                        break;
                case 't':
                        target = optarg;
                        break;
                case 'a':
                        if (!*optarg || *optarg == '=')
                                return ib_cli_usage_error("plan", "--build-arg needs a name: '%s'", optarg);
                        if (strchr(optarg, '=')) {
                                ib_strv_push(&build_args, optarg);
                        } else {
                                /* bare K: from the environment, skipped when unset (as docker) */
                                const char *v = getenv(optarg);
                                if (v) {
                                        _cleanup_free_ char *kv = ib_strdupf("%s=%s", optarg, v);
                                        ib_strv_push(&build_args, kv);
                                }
                        }
                        break;
                case 'p':
                        platform = optarg;
                        break;
                case 'F':
                        format = optarg;
                        break;
                case 'h':
                        plan_usage(stdout);
                        return 0;
                default:
                        return ib_cli_usage_error("plan", "unknown option");
                }
        }
        if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0)
                return ib_cli_usage_error("plan", "unknown format '%s' (text or json)", format);
        if (argc - optind > 1)
                return ib_cli_usage_error("plan", "too many arguments");
        const char *context = optind < argc ? argv[optind] : ".";
        if (!file) {
                file_default = ib_path_join(context, "Dockerfile");
                file = file_default;
        }

        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        if (read_input(file, &data, &len, &err) < 0)
                return ib_cli_fail(&err);
        _cleanup_(ib_dockerfile_freep) struct ib_dockerfile *df = NULL;
        if (ib_dockerfile_parse(strcmp(file, "-") == 0 ? "Dockerfile" : file, data, len, &df, &err) < 0)
                return ib_cli_fail(&err);

        const char *bp = getenv("IMGBUILD_BUILD_PLATFORM");
        struct ib_plan_opts po = {
                .target = target,
                .build_args = build_args,
                .target_platform = platform,
                .build_platform = bp && *bp ? bp : NULL,
        };
        _cleanup_(ib_plan_freep) struct ib_plan *plan = NULL;
        if (ib_plan_new(df, &po, &plan, &err) < 0)
                return ib_cli_fail(&err);
        for (char **u = plan->unused_build_args; u && *u; u++)
                ib_log(IB_LOG_WARN, "build-arg %s was not consumed by any ARG", *u);

        _cleanup_buf_ struct ib_buf out = IB_BUF_INIT;
        if (strcmp(format, "json") == 0)
                ib_plan_to_json(plan, &out);
        else
                ib_plan_to_text(plan, &out);
        if (fwrite(out.buf, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
                ib_err_set(&err, errno, "write stdout");
                return ib_cli_fail(&err);
        }
        return 0;
}
