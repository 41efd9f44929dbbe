/* src/main.c - entry point: global options, then dispatch to a verb. */
#include "lib/ib.h"
#include "src/cli.h"
#include <getopt.h>

static const struct ib_verb verbs[] = {
        { "build", ib_cmd_build, "build an image from a Dockerfile" },
        { "version", ib_cmd_version, "print the version" },
        { "help", ib_cmd_help, "show help for imgbuild or a verb" },
        { "plan", ib_cmd_plan, "print the build plan of a Dockerfile (stages, expanded steps)" },
        { "debug-run", ib_cmd_debug_run, NULL },
        { "debug-layer", ib_cmd_debug_layer, NULL },
        { "debug-copy", ib_cmd_debug_copy, NULL },
        { "debug-image", ib_cmd_debug_image, NULL },
        { "pull", ib_cmd_pull, "download images into the store" },
        { "push", ib_cmd_push, "push an image to a registry" },
        { "store", ib_cmd_store, "verify, measure (du) or prune the store" },
};

int ib_cli_fail(struct ib_err **err)
{
        if (err && *err) {
                if ((*err)->errnum)
                        ib_log(IB_LOG_ERROR, "%s: %s", (*err)->msg, strerror((*err)->errnum));
                else
                        ib_log(IB_LOG_ERROR, "%s", (*err)->msg);
        }
        ib_err_free(err);
        return IB_EXIT_FAILURE;
}

int ib_cli_usage_error(const char *verb, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "imgbuild: %s%s", verb ? verb : "", verb ? ": " : "");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'imgbuild %s%s--help'.\n", verb ? verb : "", verb ? " " : "");
        return IB_EXIT_USAGE;
}

int ib_cmd_version(int argc, char **argv)
{
        (void) argc;
        (void) argv;
        printf("imgbuild %s\n", IB_VERSION);
        return 0;
}

static void usage(FILE *out)
{
        fprintf(out, "Usage: imgbuild [-v LEVEL] VERB [OPTIONS] [ARGS]\n\n"
                     "Build OCI container images from a Dockerfile with no daemon and no root.\n\n"
                     "Verbs:\n");
        for (size_t i = 0; i < IB_ELEMENTSOF(verbs); i++)
                if (verbs[i].summary)
                        fprintf(out, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
        fprintf(out, "\nGlobal options:\n"
                     "  -v, --verbosity LEVEL  error, warn, info (default), debug or trace\n"
                     "      --progress MODE    auto (default), tty or plain\n"
                     "      --log-format FMT   text (default) or json (one JSON object per line)\n"
                     "  -h, --help             show this help\n"
                     "      --version          print the version\n\n"
                     "'imgbuild VERB --help' shows the options of a verb; 'man imgbuild' has the rest.\n");
}

int ib_cmd_help(int argc, char **argv)
{
        if (argc > 1) {
                for (size_t i = 0; i < IB_ELEMENTSOF(verbs); i++)
                        if (strcmp(verbs[i].name, argv[1]) == 0) {
                                char *av[] = { argv[1], (char *) "--help", NULL };
                                optind = 0;
                                return verbs[i].fn(2, av);
                        }
                return ib_cli_usage_error("help", "unknown verb '%s'", argv[1]);
        }
        usage(stdout);
        return 0;
}

static bool is_global_option(const char *a)
{
        static const char *const globals[] = { "-h", "--help", "--version", "-v", "--verbosity", "--progress",
                                               "--log-format" };
        for (size_t i = 0; i < IB_ELEMENTSOF(globals); i++) {
                size_t n = strlen(globals[i]);
                if (strncmp(a, globals[i], n) == 0 && (a[n] == '\0' || a[n] == '=' || (n == 2 && a[n])))
                        return true;
        }
        return false;
}

/* No verb and an option that is not a global one (possibly after global
 * ones: `imgbuild -v debug --context DIR`): Kaniko's executor command line.
 * Returns the index of that option, or 0. */
static int kaniko_start(int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (a[0] != '-' || !a[1] || strcmp(a, "--") == 0)
                        return 0;
                if (!is_global_option(a))
                        return i;
                if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "--version") == 0)
                        return 0;
                if (!strchr(a, '=') && !(a[1] != '-' && a[2]))
                        i++;    /* its argument is the next word */
        }
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                IB_OUTPUT_LONGOPTS,
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        const char *lvl = getenv("IMGBUILD_VERBOSITY");
        int c, kaniko;

        ib_output_start();
        if (lvl && ib_log_level_parse(lvl, &ib_log_level_max) < 0)
                return ib_cli_usage_error(NULL, "IMGBUILD_VERBOSITY: unknown level '%s'", lvl);
        /* Kaniko's executor takes its flags with no verb: `imgbuild --context
         * dir:///workspace --destination r/i:t` is a build.  Our own global
         * options keep their meaning. */
        kaniko = kaniko_start(argc, argv);
        if (kaniko == 1) {
                optind = 0;
                argv[0] = (char *) "build";
                return ib_cmd_build(argc, argv);
        }
        /* '+': stop at the first non-option, which is the verb. */
        /* with Kaniko's flags after global ones, read only the global ones here */
        while ((c = getopt_long(kaniko ? kaniko : argc, argv, "+v:h", opts, NULL)) != -1) {
                switch (c) {
                case 'v':
                case IB_OPT_PROGRESS:
                case IB_OPT_LOG_FORMAT:
                        if (ib_output_opt(c, optarg, NULL) != 1)
                                return IB_EXIT_USAGE;
                        ib_output_start();
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        return ib_cmd_version(0, NULL);
                default:
                        return ib_cli_usage_error(NULL, "unknown option");
                }
        }
        if (kaniko) {
                char **av = argv + kaniko - 1;
                av[0] = (char *) "build";
                optind = 0;
                return ib_cmd_build(argc - kaniko + 1, av);
        }
        if (optind >= argc) {
                usage(stderr);
                return IB_EXIT_USAGE;
        }

        for (size_t i = 0; i < IB_ELEMENTSOF(verbs); i++) {
                if (strcmp(verbs[i].name, argv[optind]) == 0) {
                        char **av = argv + optind;
                        int ac = argc - optind;
                        optind = 0;     /* reset getopt for the verb's own parsing */
                        return verbs[i].fn(ac, av);
                }
        }
        return ib_cli_usage_error(NULL, "unknown verb '%s'", argv[optind]);
}
