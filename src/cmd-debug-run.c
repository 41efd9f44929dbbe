/* src/cmd-debug-run.c - `imgbuild debug-run`: a hidden verb that runs one
 * command in the RUN sandbox over given layer dirs.  For the tests and for
 * debugging the sandbox; the build engine calls ib_sandbox_run itself. */
#include "lib/ib.h"
#include "sandbox/sandbox.h"
#include "src/cli.h"

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <time.h>

static int sig_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
        unsigned char b = (unsigned char) sig;
        int saved = errno;

        (void) !write(sig_pipe[1], &b, 1);
        errno = saved;
}

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: imgbuild debug-run [OPTIONS] -- COMMAND [ARG...]\n\n"
                "Run COMMAND in the RUN sandbox: an overlay of the --lower dirs (top first)\n"
                "with --upper receiving the changes.  Exits with the command's status.\n\n"
                "  --lower DIR             a layer dir (repeatable, top first)\n"
                "  --upper DIR             overlay upper dir (required)\n"
                "  --work DIR              overlay work dir, same file system as --upper (required)\n"
                "  --network host|none     network namespace (default host)\n"
                "  --user SPEC             name, uid, name:group or uid:gid from the image's files\n"
                "  --workdir DIR           working dir, created when missing\n"
                "  --env KEY=VALUE         environment (repeatable)\n"
                "  --hostname NAME         hostname (default imgbuild)\n"
                "  --add-host NAME:IP      extra /etc/hosts line (repeatable)\n"
                "  --mount type=bind|tmpfs[,source=PATH],target=PATH[,ro]   extra mount (repeatable)\n"
                "  --mode-info             print the privilege mode and id maps (alone: then exit)\n"
                "  --repeat N              run the command N times, report the time per run\n");
}

static int parse_mount(const char *arg, struct ib_mount *m)
{
        _cleanup_free_ char *copy = ib_strdup(arg);
        char *save = NULL;

        memset(m, 0, sizeof(*m));
        for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
                char *v = strchr(kv, '=');
                if (v)
                        *v++ = 0;
                if (strcmp(kv, "type") == 0 && v)
                        m->type = ib_strdup(v);
                else if ((strcmp(kv, "source") == 0 || strcmp(kv, "src") == 0) && v)
                        m->source = ib_strdup(v);
                else if ((strcmp(kv, "target") == 0 || strcmp(kv, "dst") == 0) && v)
                        m->target = ib_strdup(v);
                else if (strcmp(kv, "ro") == 0 || strcmp(kv, "readonly") == 0)
                        m->readonly = true;
                else
                        return -1;
        }
        if (!m->type)
                m->type = ib_strdup("bind");
        return m->target ? 0 : -1;
}

static void print_map(const char *name, const struct ib_idmap *m)
{
        printf("%s:", name);
        for (size_t i = 0; i < m->n; i++)
                printf(" %" PRIu32 " %" PRIu32 " %" PRIu32 "%s", m->r[i].inside, m->r[i].outside, m->r[i].count,
                       i + 1 < m->n ? "," : "");
        printf("\n");
}

static void print_mode(const struct ib_privmode *m)
{
        _cleanup_free_ char *desc = ib_privmode_describe(m);

        printf("mode: %s\n", ib_privmode_name(m->kind));
        printf("description: %s\n", desc);
        print_map("uid_map", &m->uids);
        print_map("gid_map", &m->gids);
        printf("mappable: %" PRIu64 "\n", ib_idmap_contiguous(&m->uids));
        printf("setgroups: %s\n", m->setgroups ? "allow" : "deny");
        printf("host_uid: %u\nhost_gid: %u\n", (unsigned) m->host_uid, (unsigned) m->host_gid);
        if (m->note[0])
                printf("note: %s\n", m->note);
        fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

static char *abs_path(const char *p)
{
        char buf[PATH_MAX];

        return realpath(p, buf) ? ib_strdup(buf) : ib_strdup(p);
}

int ib_cmd_debug_run(int argc, char **argv)
{
        enum { O_LOWER = 256, O_UPPER, O_WORK, O_NETWORK, O_USER, O_WORKDIR, O_ENV, O_HOSTNAME, O_MOUNT,
               O_MODE_INFO, O_REPEAT, O_ADD_HOST };
        static const struct option opts[] = {
                { "lower", required_argument, NULL, O_LOWER },
                { "upper", required_argument, NULL, O_UPPER },
                { "work", required_argument, NULL, O_WORK },
                { "network", required_argument, NULL, O_NETWORK },
                { "user", required_argument, NULL, O_USER },
                { "workdir", required_argument, NULL, O_WORKDIR },
                { "env", required_argument, NULL, O_ENV },
                { "hostname", required_argument, NULL, O_HOSTNAME },
                { "add-host", required_argument, NULL, O_ADD_HOST },
                { "mount", required_argument, NULL, O_MOUNT },
                { "mode-info", no_argument, NULL, O_MODE_INFO },
                { "repeat", required_argument, NULL, O_REPEAT },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_strv_ char **lowers = NULL, **env = NULL, **hosts = NULL;
        _cleanup_free_ char *upper = NULL, *work = NULL;
        _cleanup_free_ struct ib_mount *mounts = NULL;
        _cleanup_free_ double *times = NULL;
        struct ib_run_spec spec = { 0 };
        struct ib_privmode mode;
        struct ib_err *err = NULL;
        size_t n_mounts = 0, mounts_alloc = 0;
        bool mode_info = false;
        long repeat = 1;
        int c, status = 0;

        while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
                switch (c) {
                case O_LOWER: ib_strv_push(&lowers, optarg); break;
                case O_UPPER: free(upper); upper = abs_path(optarg); break;
                case O_WORK: free(work); work = abs_path(optarg); break;
                case O_NETWORK:
                        if (strcmp(optarg, "host") == 0)
                                spec.network = IB_NET_HOST;
                        else if (strcmp(optarg, "none") == 0)
                                spec.network = IB_NET_NONE;
                        else
                                return ib_cli_usage_error("debug-run", "--network: `host` or `none`, not `%s`", optarg);
                        break;
                case O_USER: spec.user = optarg; break;
                case O_WORKDIR: spec.cwd = optarg; break;
                case O_ENV: ib_strv_push(&env, optarg); break;
                case O_HOSTNAME: spec.hostname = optarg; break;
                case O_ADD_HOST: ib_strv_push(&hosts, optarg); break;
                case O_MOUNT:
                        ib_grow(&mounts, &mounts_alloc, n_mounts + 1, sizeof(*mounts));
                        if (parse_mount(optarg, &mounts[n_mounts]) < 0)
                                return ib_cli_usage_error("debug-run", "--mount `%s`: expected"
                                                          " type=bind|tmpfs,source=PATH,target=PATH[,ro]", optarg);
                        n_mounts++;
                        break;
                case O_MODE_INFO: mode_info = true; break;
                case O_REPEAT:
                        repeat = strtol(optarg, NULL, 10);
                        if (repeat < 1 || repeat > 100000)
                                return ib_cli_usage_error("debug-run", "--repeat: 1 to 100000");
                        break;
                case 'h': usage(stdout); return 0;
                default: return ib_cli_usage_error("debug-run", "unknown option");
                }
        }
        if (optind >= argc && !mode_info)
                return ib_cli_usage_error("debug-run", "no command (give it after `--`)");
        if (optind < argc && (!upper || !work))
                return ib_cli_usage_error("debug-run", "--upper and --work are required");
        for (size_t i = 0; lowers && lowers[i]; i++) {
                char *a = abs_path(lowers[i]);
                free(lowers[i]);
                lowers[i] = a;
        }

        if (ib_userns_enter(&mode, &err) < 0)
                return ib_cli_fail(&err);
        {
                _cleanup_free_ char *desc = ib_privmode_describe(&mode);
                ib_log(IB_LOG_INFO, "privilege mode: %s", desc);
                if (mode.note[0])
                        ib_log(IB_LOG_WARN, "%s", mode.note);
        }
        if (mode_info)
                print_mode(&mode);
        if (optind >= argc)
                return 0;

        if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) == 0) {
                struct sigaction sa = { .sa_handler = on_signal };
                sigemptyset(&sa.sa_mask);
                sigaction(SIGINT, &sa, NULL);
                sigaction(SIGTERM, &sa, NULL);
                sigaction(SIGHUP, &sa, NULL);
                spec.cancel_fd = sig_pipe[0];
        }
        spec.lowers = (const char *const *) lowers;
        spec.n_lowers = ib_strv_len(lowers);
        spec.upper = upper;
        spec.work = work;
        spec.argv = argv + optind;
        spec.env = env;
        spec.extra_hosts = hosts;
        spec.mounts = mounts;
        spec.n_mounts = n_mounts;
        times = ib_calloc((size_t) repeat, sizeof(double));
        for (long i = 0; i < repeat; i++) {
                struct timespec a, b;
                clock_gettime(CLOCK_MONOTONIC, &a);
                if (ib_sandbox_run(&spec, &status, &err) < 0) {
                        unsigned char sig = 0;
                        ib_sandbox_cleanup();
                        if (err->errnum == ECANCELED && read(sig_pipe[0], &sig, 1) == 1) {
                                ib_log(IB_LOG_ERROR, "%s", err->msg);
                                ib_err_free(&err);
                                return 128 + sig;
                        }
                        return ib_cli_fail(&err);
                }
                clock_gettime(CLOCK_MONOTONIC, &b);
                times[i] = (double) (b.tv_sec - a.tv_sec) * 1e3 + (double) (b.tv_nsec - a.tv_nsec) / 1e6;
        }
        ib_sandbox_cleanup();
        if (repeat > 1) {
                qsort(times, (size_t) repeat, sizeof(double), cmp_double);
                ib_log(IB_LOG_INFO, "repeat: %ld runs, per run: median %.3f ms, min %.3f ms, max %.3f ms", repeat,
                       repeat % 2 ? times[repeat / 2] : (times[repeat / 2 - 1] + times[repeat / 2]) / 2,
                       times[0], times[repeat - 1]);
        }
        for (size_t i = 0; i < n_mounts; i++) {
                free((char *) mounts[i].type);
                free((char *) mounts[i].source);
                free((char *) mounts[i].target);
        }
        return status;
}
