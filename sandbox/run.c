/* sandbox/run.c - one RUN: processes and namespaces.
 *
 *   imgbuild (in its user namespace)
 *    └─ P: unshare(mount, pid, ipc, uts[, net]); waits for init, relays its status
 *        └─ init, pid 1 of the new pid namespace: mounts the rootfs, pivot_root,
 *           resolves USER, creates WORKDIR; when the command exits it kills
 *           every process left (kill(-1)), reaps them and exits with the status
 *            └─ the command: new session, USER, capabilities, no_new_privs,
 *               seccomp, exec
 *
 * What the RUN can reach of imgbuild: nothing.  P and init are forks of
 * imgbuild, so right after the fork P closes every descriptor it does not need
 * and makes itself non-dumpable (no /proc/PID/{environ,mem,fd} for anyone in
 * the RUN, whatever its capabilities); init overwrites imgbuild's argument
 * strings in its copy of the memory (/proc/1/cmdline is readable by all) before
 * it lets the command exec.  The command's stdout and stderr are pipes that
 * imgbuild copies to its own: a RUN never holds imgbuild's descriptors, so it
 * cannot reopen the log file or terminal they point to through /proc/self/fd.
 *
 * Every process dies with its parent (PR_SET_PDEATHSIG), so a killed imgbuild
 * leaves nothing running; every mount lives in the RUN's own mount namespace,
 * so nothing stays mounted.  Setup errors travel back through a CLOEXEC pipe as
 * (errno, message).  P exists so that imgbuild forks with fork(2) (safe in a
 * threaded program) and everything below is single-threaded.
 */
#include "sandbox/internal.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/close_range.h>
#include <linux/seccomp.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct run_ctx {
        const struct ib_run_spec *spec;
        struct ib_rootfs_plan plan;
        const struct sock_fprog *seccomp;
        int efd;                        /* write end of the error pipe */
        int out_w, err_w;               /* write ends of the command's stdout/stderr pipes */
        int gate;                       /* the command waits for end of file on it (init's go) */
        struct ib_run_user user;        /* resolved in init */
        struct ib_idmap gids;           /* to drop unmapped supplementary groups */
        const char *cwd;
        char *hosts, *hostname, *mounts_skel, *legacy;  /* owned paths */
};

void ib_sandbox_phase(const char *what)
{
        struct timespec t;

        if (ib_log_level_max < IB_LOG_TRACE)
                return;
        clock_gettime(CLOCK_MONOTONIC, &t);
        ib_trace("sandbox: %.3f ms %s", (double) (t.tv_sec % 1000) * 1e3 + (double) t.tv_nsec / 1e6, what);
}

/* ------------------------------------------------------------ error pipe */

static void __attribute__((noreturn)) die(int efd, struct ib_err **err, int code)
{
        struct ib_err *e = err ? *err : NULL;
        int errnum = e ? e->errnum : EIO;
        const char *msg = e && e->msg ? e->msg : "sandbox setup failed";

        if (write(efd, &errnum, sizeof(errnum)) == sizeof(errnum))
                (void) ib_write_all(efd, msg, strlen(msg));
        _exit(code);
}

/* Read what the sandbox reported; 0 when it reported nothing. */
static int read_report(int fd, struct ib_err **err)
{
        _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;
        char chunk[1024];
        ssize_t n;
        int errnum;

        while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                ib_buf_add(&b, chunk, (size_t) n);
        }
        if (b.len < sizeof(int))
                return 0;
        memcpy(&errnum, b.buf, sizeof(int));
        return ib_err_set(err, errnum, "%.*s", (int) (b.len - sizeof(int)), b.buf + sizeof(int));
}

/* ------------------------------------------------------------ the command */

static const char *env_get(char *const *env, const char *key)
{
        size_t n = strlen(key);

        for (size_t i = 0; env && env[i]; i++)
                if (strncmp(env[i], key, n) == 0 && env[i][n] == '=')
                        return env[i] + n + 1;
        return NULL;
}

/* execve, searching PATH like execvp but in the RUN's environment. */
static int exec_cmd(char *const *argv, char *const *env, struct ib_err **err)
{
        const char *path = env_get(env, "PATH");
        _cleanup_free_ char *dirs = NULL;
        char *save = NULL;
        int e = ENOENT;

        if (strchr(argv[0], '/')) {
                execve(argv[0], argv, env);
                return ib_err_set(err, errno, "exec `%s`", argv[0]);
        }
        dirs = ib_strdup(path ? path : DEFAULT_PATH);
        for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *full = ib_path_join(*d ? d : ".", argv[0]);
                execve(full, argv, env);
                if (errno == EACCES)
                        e = EACCES;
                else if (errno != ENOENT && errno != ENOTDIR)
                        e = errno;
        }
        return ib_err_set(err, e, "exec `%s`: not found in PATH %s", argv[0], path ? path : DEFAULT_PATH);
}

static int set_user(const struct run_ctx *c, struct ib_err **err)
{
        const struct ib_run_user *u = &c->user;
        const char *spec = c->spec->user && c->spec->user[0] ? c->spec->user : "root";
        gid_t groups[IB_USER_MAX_GROUPS];
        size_t n = 0;

        for (size_t i = 0; i < u->n_groups; i++)
                if (ib_idmap_has(&c->gids, u->groups[i]))
                        groups[n++] = u->groups[i];
        if (n == 0)
                groups[n++] = u->gid;   /* an explicit group is the only one */
        if (setgroups(n, groups) < 0 && errno != EPERM)        /* EPERM: single-id mode denies it */
                return ib_err_set(err, errno, "USER: set the supplementary groups");
        if (setresgid(u->gid, u->gid, u->gid) < 0)
                return ib_err_set(err, errno == EINVAL ? 0 : errno,
                                  "USER `%s`: gid %u is not mapped in the user namespace%s", spec,
                                  (unsigned) u->gid, errno == EINVAL ? " (in single-id mode only 0 is;"
                                  " give the user ranges in /etc/subuid and /etc/subgid)" : "");
        if (setresuid(u->uid, u->uid, u->uid) < 0)
                return ib_err_set(err, errno == EINVAL ? 0 : errno,
                                  "USER `%s`: uid %u is not mapped in the user namespace%s", spec,
                                  (unsigned) u->uid, errno == EINVAL ? " (in single-id mode only 0 is;"
                                  " give the user ranges in /etc/subuid and /etc/subgid)" : "");
        return 0;
}

static char **make_env(const struct run_ctx *c)
{
        char **env = ib_strv_dup(c->spec->env ? c->spec->env : (char *const[]) { NULL });

        if (!env_get(env, "HOME")) {
                _cleanup_free_ char *home = ib_strdupf("HOME=%s", c->user.home);
                ib_strv_push(&env, home);
        }
        return env;
}

/* Overwrite imgbuild's arguments in this process's memory with "imgbuild-init"
 * and zeros, as setproctitle(3) does: /proc/1/cmdline is readable by everyone
 * in the RUN.  Init does it once the command is forked (the spec may point into
 * those strings: debug-run's argv) and before the command may go on.  The
 * addresses come from /proc/self/stat (fields 48 and 49).  The environment
 * stays (getenv() still reads it here): /proc/1/environ needs ptrace access,
 * which non-dumpable denies. */
static void wipe_args(void)
{
        _cleanup_free_ char *stat = NULL;
        unsigned long start, end;
        const char *p;

        if (ib_read_file("/proc/self/stat", 4096, &stat, NULL, NULL) < 0 || !(p = strrchr(stat, ')')))
                return;
        for (int field = 2; field < 48 && p; field++)
                p = strchr(p + 1, ' ');
        if (!p || sscanf(p, " %lu %lu", &start, &end) != 2 || !start || end <= start)
                return;
        memset((char *) (uintptr_t) start, 0, end - start);
        snprintf((char *) (uintptr_t) start, end - start, "imgbuild-init");
}

static void __attribute__((noreturn)) run_command(struct run_ctx *c)
{
        struct ib_err *err = NULL;
        const struct ib_run_spec *s = c->spec;
        char **env, x;
        int fd;

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* init's go: imgbuild's arguments are gone from its memory */
        while (read(c->gate, &x, 1) < 0 && errno == EINTR)
                ;
        close(c->gate);
        setsid();       /* the terminal's signals go to imgbuild, which ends the RUN */
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || dup2(fd, STDIN_FILENO) < 0)
                ib_err_set(&err, errno, "stdin from /dev/null"), die(c->efd, &err, 127);
        if (dup2(c->out_w, STDOUT_FILENO) < 0 || dup2(c->err_w, STDERR_FILENO) < 0)
                ib_err_set(&err, errno, "redirect the RUN's output"), die(c->efd, &err, 127);
        if (set_user(c, &err) < 0 || ib_caps_apply(c->user.uid == 0, &err) < 0)
                die(c->efd, &err, 127);
        if (chdir(c->cwd) < 0)
                ib_err_set(&err, errno, "WORKDIR `%s`", c->cwd), die(c->efd, &err, 127);
        env = make_env(c);
        (void) close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                ib_err_set(&err, errno, "no_new_privs"), die(c->efd, &err, 127);
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, c->seccomp) < 0)
                ib_err_set(&err, errno, "load the seccomp filter"), die(c->efd, &err, 127);
        ib_sandbox_phase("command: exec");
        exec_cmd(s->argv, env, &err);
        die(c->efd, &err, 127);
}

/* ------------------------------------------------------------ init (pid 1) */

static int resolve_user(struct run_ctx *c, struct ib_err **err)
{
        _cleanup_free_ char *passwd = NULL, *group = NULL;

        (void) ib_read_file("/etc/passwd", 16 << 20, &passwd, NULL, NULL);
        (void) ib_read_file("/etc/group", 16 << 20, &group, NULL, NULL);
        return ib_user_resolve(c->spec->user, passwd, group, &c->user, err);
}

static int wait_status(int st)
{
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void __attribute__((noreturn)) run_init(struct run_ctx *c)
{
        struct ib_err *err = NULL;
        const struct ib_run_spec *s = c->spec;
        pid_t cmd;
        int status = 255, st, gate[2];

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        prctl(PR_SET_NAME, "imgbuild-init");
        if (sethostname(s->hostname ? s->hostname : "imgbuild", strlen(s->hostname ? s->hostname : "imgbuild")) < 0)
                ib_err_set(&err, errno, "sethostname"), die(c->efd, &err, 255);
        if (s->network == IB_NET_NONE && ib_net_loopback_up(&err) < 0)
                die(c->efd, &err, 255);
        ib_sandbox_phase("init: start");
        if (ib_rootfs_setup(&c->plan, &err) < 0)
                die(c->efd, &err, 255);
        ib_sandbox_phase("init: rootfs ready");
        if (resolve_user(c, &err) < 0 || ib_idmap_read_self(true, &c->gids, &err) < 0)
                die(c->efd, &err, 255);
        if (ib_mkdir_p(c->cwd, 0755, &err) < 0)
                ib_err_wrap(&err, "create WORKDIR"), die(c->efd, &err, 255);
        if (ib_caps_drop_bounding(&err) < 0)
                die(c->efd, &err, 255);
        ib_sandbox_phase("init: user, workdir, bounding set");
        if (pipe2(gate, O_CLOEXEC) < 0)
                ib_err_set(&err, errno, "pipe"), die(c->efd, &err, 255);
        cmd = fork();
        if (cmd < 0)
                ib_err_set(&err, errno, "fork"), die(c->efd, &err, 255);
        if (cmd == 0) {
                close(gate[1]);
                c->gate = gate[0];
                run_command(c);
        }
        close(gate[0]);
        wipe_args();
        close(gate[1]);
        close(c->efd);
        /* Reap everything; once the command is gone, end whatever it left behind. */
        for (;;) {
                pid_t w = waitpid(-1, &st, 0);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (w == cmd) {
                        ib_sandbox_phase("init: command exited");
                        status = wait_status(st);
                        (void) kill(-1, SIGKILL);
                }
        }
        ib_sandbox_phase("init: all reaped");
        _exit(status);
}

/* ------------------------------------------------------------ P */

/* Close every descriptor >= 3 but the @n in @keep: imgbuild's store lock,
 * blobs, sockets, and whatever the invoking shell left open. */
static void close_all_but(const int *keep, size_t n)
{
        unsigned from = 3;

        for (;;) {
                unsigned next = ~0U;
                for (size_t i = 0; i < n; i++)
                        if (keep[i] >= (int) from && (unsigned) keep[i] < next)
                                next = (unsigned) keep[i];
                if (next > from)
                        (void) close_range(from, next - 1, 0);
                if (next == ~0U)
                        return;
                from = next + 1;
        }
}

static void __attribute__((noreturn)) run_p(struct run_ctx *c, pid_t parent)
{
        struct ib_err *err = NULL;
        int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS, st;
        const int keep[] = { c->efd, c->out_w, c->err_w };
        pid_t init;

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(255);
        close_all_but(keep, IB_ELEMENTSOF(keep));
        prctl(PR_SET_DUMPABLE, 0);
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGQUIT, SIG_IGN);
        if (c->spec->network == IB_NET_NONE)
                flags |= CLONE_NEWNET;
        ib_sandbox_phase("P: start");
        if (unshare(flags) < 0)
                ib_err_set(&err, errno, "create the RUN's namespaces"), die(c->efd, &err, 255);
        ib_sandbox_phase("P: unshared");
        /* Mounts of the RUN never propagate anywhere. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                ib_err_set(&err, errno, "make the RUN's mounts private"), die(c->efd, &err, 255);
        init = fork();
        if (init < 0)
                ib_err_set(&err, errno, "fork"), die(c->efd, &err, 255);
        if (init == 0)
                run_init(c);
        close(c->efd);
        while (waitpid(init, &st, 0) < 0)
                if (errno != EINTR)
                        _exit(255);
        _exit(wait_status(st));
}

/* ------------------------------------------------------------ imgbuild side */

static int write_text(const char *path, const char *text, struct ib_err **err)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

        if (fd < 0 || ib_write_all(fd, text, strlen(text)) < 0)
                return ib_err_set(err, errno, "write `%s`", path);
        return 0;
}

/* The per-process sandbox dir, made at the first RUN and reused: the merged
 * mount point (mounted only in each RUN's own namespace, so always empty here),
 * the skeleton layer, and the generated /etc files, named by their content so a
 * file never changes under a RUN that has it mounted.  Reusing it saves a dozen
 * file-system operations per RUN; ib_sandbox_cleanup() removes it. */
static struct {
        pthread_mutex_t lock;
        char *scratch, *dir, *merged, *skel, *resolv;
        unsigned seq;
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void cache_drop(void)
{
        struct ib_err *e = NULL;

        if (cache.dir && ib_rm_rf(cache.dir, &e) < 0) {
                ib_debug("remove `%s`: %s", cache.dir, e->msg);
                ib_err_free(&e);
        }
        free(cache.scratch);
        free(cache.dir);
        free(cache.merged);
        free(cache.skel);
        free(cache.resolv);
        cache.scratch = cache.dir = cache.merged = cache.skel = cache.resolv = NULL;
}

void ib_sandbox_cleanup(void)
{
        pthread_mutex_lock(&cache.lock);
        cache_drop();
        pthread_mutex_unlock(&cache.lock);
}

static int cache_open(const char *scratch, struct ib_err **err)
{
        _cleanup_free_ char *resolv = NULL;
        int r;

        if (cache.dir && strcmp(cache.scratch, scratch) == 0)
                return 0;
        cache_drop();
        cache.scratch = ib_strdup(scratch);
        cache.dir = ib_path_join(scratch, ".ib-sandbox-XXXXXX");
        if (!mkdtemp(cache.dir)) {
                r = ib_err_set(err, errno, "create a temp dir in `%s`", scratch);
                free(cache.dir);
                cache.dir = NULL;
                return r;
        }
        cache.merged = ib_path_join(cache.dir, "merged");
        cache.skel = ib_path_join(cache.dir, "skel");
        cache.resolv = ib_path_join(cache.dir, "resolv.conf");
        if (mkdir(cache.merged, 0755) < 0)
                return ib_err_set(err, errno, "mkdir `%s`", cache.merged);
        if ((r = ib_rootfs_make_skeleton(cache.skel, err)) < 0)
                return r;
        /* The host's resolver configuration, as Docker and BuildKit copy it. */
        if (ib_read_file("/etc/resolv.conf", 1 << 20, &resolv, NULL, NULL) < 0)
                resolv = ib_strdup("");
        return write_text(cache.resolv, resolv, err);
}

/* @dir/<prefix>-<hash of text>, created with @text when missing. */
static char *content_file(const char *dir, const char *prefix, const char *text, struct ib_err **err)
{
        _cleanup_free_ char *path = ib_strdupf("%s/%s-%016llx", dir, prefix,
                                               (unsigned long long) ib_xxh64(text, strlen(text), 0));

        if (access(path, F_OK) < 0 && write_text(path, text, err) < 0)
                return NULL;
        return IB_TAKE_PTR(path);
}

static int etc_files(const struct ib_run_spec *s, char **ret_hosts, char **ret_hostname, struct ib_err **err)
{
        const char *host = s->hostname ? s->hostname : "imgbuild";
        _cleanup_buf_ struct ib_buf hosts = IB_BUF_INIT;
        _cleanup_free_ char *hn = ib_strdupf("%s\n", host);

        ib_buf_addf(&hosts, "127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n", host);
        for (size_t i = 0; s->extra_hosts && s->extra_hosts[i]; i++) {
                const char *colon = strchr(s->extra_hosts[i], ':');
                if (!colon)
                        return ib_err_set(err, EINVAL, "extra host `%s`: not name:ip", s->extra_hosts[i]);
                ib_buf_addf(&hosts, "%s\t%.*s\n", colon + 1, (int) (colon - s->extra_hosts[i]), s->extra_hosts[i]);
        }
        *ret_hosts = content_file(cache.dir, "hosts", hosts.buf, err);
        if (!*ret_hosts)
                return -EIO;
        *ret_hostname = content_file(cache.dir, "hostname", hn, err);
        return *ret_hostname ? 0 : -EIO;
}

/* The command's output: a pipe (read end @fd, non-blocking) copied to @dst. */
struct relay {
        int fd, dst;
};

/* Copy what @r's pipe holds now; false at end of file (the pipe is closed then). */
static bool relay_some(struct relay *r)
{
        char buf[65536];
        ssize_t n;

        while (r->fd >= 0) {
                n = read(r->fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return true;
                if (n <= 0)
                        break;
                /* Output nobody reads any more is dropped, never held against the RUN. */
                (void) ib_write_all(r->dst, buf, (size_t) n);
        }
        if (r->fd >= 0)
                close(r->fd);
        r->fd = -1;
        return false;
}

/* Wait for P, copying the command's output; kill P when @cancel_fd becomes
 * readable.  Once P is reaped every process of the RUN is gone (init's exit
 * waits for its namespace to empty), so what is left in the pipes is drained
 * without waiting for an end of file.  Without pidfds (Linux < 5.3) P is
 * polled for every 100 ms. */
static int wait_p(pid_t pid, int cancel_fd, struct relay *out, int *ret_st, bool *ret_cancelled)
{
        _cleanup_close_ int pfd = pidfd_open(pid, 0);
        bool reaped = false;

        *ret_cancelled = false;
        for (;;) {
                /* poll() skips negative descriptors: a closed pipe, no pidfd */
                struct pollfd fds[4] = {
                        { .fd = pfd, .events = POLLIN }, { .fd = out[0].fd, .events = POLLIN },
                        { .fd = out[1].fd, .events = POLLIN }, { .fd = cancel_fd, .events = POLLIN },
                };
                int n = poll(fds, cancel_fd > 0 ? 4 : 3, pfd >= 0 ? -1 : 100);
                if (n < 0 && errno != EINTR)
                        break;
                for (int i = 0; n > 0 && i < 2; i++)
                        if (fds[i + 1].revents)
                                relay_some(&out[i]);
                if (n > 0 && fds[0].revents)
                        break;
                if (n > 0 && cancel_fd > 0 && fds[3].revents) {
                        *ret_cancelled = true;
                        (void) kill(pid, SIGKILL);
                        break;
                }
                if (pfd < 0 && waitpid(pid, ret_st, WNOHANG) == pid) {
                        reaped = true;
                        break;
                }
        }
        while (!reaped && waitpid(pid, ret_st, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        relay_some(&out[0]);
        relay_some(&out[1]);
        return 0;
}

/* Pipes for the command's stdout and stderr; the read ends are non-blocking. */
static int relay_open(const struct ib_run_spec *spec, struct relay *out, int *ret_w, struct ib_err **err)
{
        const int dst[2] = { spec->stdout_fd > 0 ? spec->stdout_fd : STDOUT_FILENO,
                             spec->stderr_fd > 0 ? spec->stderr_fd : STDERR_FILENO };

        for (int i = 0; i < 2; i++) {
                int p[2];
                if (pipe2(p, O_CLOEXEC) < 0)
                        return ib_err_set(err, errno, "pipe");
                if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
                        close(p[0]);
                        close(p[1]);
                        return ib_err_set(err, errno, "pipe");
                }
                out[i] = (struct relay) { .fd = p[0], .dst = dst[i] };
                ret_w[i] = p[1];
        }
        return 0;
}

/* The merged root takes its mode and owner from the upper dir's root: make them
 * those of the image's root (the top layer's), not those of a fresh temp dir. */
static int match_upper_root(const struct ib_run_spec *s, const char *skel, struct ib_err **err)
{
        struct stat top, up;

        if (stat(s->n_lowers ? s->lowers[0] : skel, &top) < 0)
                return ib_err_set(err, errno, "stat `%s`", s->n_lowers ? s->lowers[0] : skel);
        if (stat(s->upper, &up) < 0)
                return ib_err_set(err, errno, "stat the upper dir `%s`", s->upper);
        /* An owner that is not mapped here (seen as 65534) cannot be given: keep ours. */
        if ((up.st_uid != top.st_uid || up.st_gid != top.st_gid) && chown(s->upper, top.st_uid, top.st_gid) < 0)
                ib_debug("chown the upper dir `%s` to %u:%u: %s", s->upper, (unsigned) top.st_uid,
                         (unsigned) top.st_gid, strerror(errno));
        if ((up.st_mode & 07777) != (top.st_mode & 07777) && chmod(s->upper, top.st_mode & 07777) < 0)
                return ib_err_set(err, errno, "chmod the upper dir `%s`", s->upper);
        return 0;
}

static int check_spec(const struct ib_run_spec *s, struct ib_err **err)
{
        if (!s->upper || !s->work)
                return ib_err_set(err, EINVAL, "RUN: the upper and work dirs are required");
        if (!s->argv || !s->argv[0] || !s->argv[0][0])
                return ib_err_set(err, EINVAL, "RUN: no command");
        if (s->n_lowers && !s->lowers)
                return ib_err_set(err, EINVAL, "RUN: lower dirs missing");
        if (s->cwd && s->cwd[0] != '/')
                return ib_err_set(err, EINVAL, "RUN: WORKDIR `%s` is not absolute", s->cwd);
        return 0;
}

static char *default_scratch(const char *work)
{
        char *d = ib_strdup(work), *slash;

        while ((slash = strrchr(d, '/')) && slash[1] == 0 && slash != d)
                *slash = 0;
        slash = strrchr(d, '/');
        if (!slash) {
                free(d);
                return ib_strdup(".");
        }
        slash[slash == d ? 1 : 0] = 0;
        return d;
}

/* After the RUN: per-RUN dirs go, and so does the volatile marker overlay leaves
 * in the work dir (it would refuse the next mount with that work dir). */
static void run_cleanup(const struct ib_run_spec *s, const char *per_run)
{
        _cleanup_free_ char *marker = ib_path_join(s->work, "work/incompat");
        struct ib_err *e = NULL;

        if (ib_rm_rf(marker, &e) < 0 || (per_run && ib_rm_rf(per_run, &e) < 0)) {
                ib_debug("RUN cleanup: %s", e->msg);
                ib_err_free(&e);
        }
}

static int run_locked(const struct ib_run_spec *spec, struct run_ctx *c, char **per_run, struct ib_err **err)
{
        _cleanup_free_ char *scratch = spec->scratch ? ib_strdup(spec->scratch) : default_scratch(spec->work);
        int r;

        if ((r = ib_seccomp_program(&c->seccomp, err)) < 0 || (r = cache_open(scratch, err)) < 0)
                return r;
        c->plan.spec = spec;
        c->plan.merged = cache.merged;
        c->plan.skel = cache.skel;
        c->plan.resolv = cache.resolv;
        if ((r = etc_files(spec, &c->hosts, &c->hostname, err)) < 0)
                return r;
        c->plan.hosts = c->hosts;
        c->plan.hostname_file = c->hostname;
        if (spec->n_mounts || getenv("IMGBUILD_OVERLAY_LEGACY")) {
                *per_run = ib_strdupf("%s/run-%u-%d", cache.dir, ++cache.seq, (int) getpid());
                c->mounts_skel = ib_path_join(*per_run, "mounts");
                c->legacy = ib_path_join(*per_run, "l");
                if (mkdir(*per_run, 0755) < 0)
                        return ib_err_set(err, errno, "mkdir `%s`", *per_run);
                if (spec->n_mounts) {
                        if ((r = ib_rootfs_make_mounts_skeleton(spec, c->mounts_skel, err)) < 0)
                                return r;
                        c->plan.mounts_skel = c->mounts_skel;
                }
                c->plan.legacy_dir = c->legacy;
        } else {
                /* Only needed when lowerdir+ is missing; made on demand then. */
                c->legacy = ib_strdupf("%s/l-%u-%d", cache.dir, ++cache.seq, (int) getpid());
                c->plan.legacy_dir = c->legacy;
                *per_run = ib_strdup(c->legacy);
        }
        return match_upper_root(spec, cache.skel, err);
}

int ib_sandbox_run(const struct ib_run_spec *spec, int *ret_status, struct ib_err **err)
{
        struct run_ctx c = { .spec = spec, .cwd = spec->cwd ? spec->cwd : "/" };
        _cleanup_free_ char *per_run = NULL;
        struct relay out[2] = { { .fd = -1 }, { .fd = -1 } };
        int epipe[2], w[2] = { -1, -1 }, r, st = 0;
        bool cancelled;
        pid_t pid, self = getpid();

        ib_sandbox_phase("run: start");
        if ((r = check_spec(spec, err)) < 0)
                return r;
        pthread_mutex_lock(&cache.lock);
        r = run_locked(spec, &c, &per_run, err);
        pthread_mutex_unlock(&cache.lock);
        if (r < 0 || (r = relay_open(spec, out, w, err)) < 0)
                goto out;
        if (pipe2(epipe, O_CLOEXEC) < 0) {
                r = ib_err_set(err, errno, "pipe");
                goto out;
        }
        fflush(NULL);
        pid = fork();
        if (pid < 0) {
                r = ib_err_set(err, errno, "fork");
                close(epipe[0]);
                close(epipe[1]);
                goto out;
        }
        if (pid == 0) {
                c.efd = epipe[1];
                c.out_w = w[0];
                c.err_w = w[1];
                run_p(&c, self);
        }
        close(epipe[1]);
        close(w[0]);
        close(w[1]);
        w[0] = w[1] = -1;
        ib_sandbox_phase("run: forked");
        r = wait_p(pid, spec->cancel_fd, out, &st, &cancelled);
        ib_sandbox_phase("run: P reaped");
        if (r < 0)
                r = ib_err_set(err, -r, "wait for the RUN");
        else if (cancelled)
                r = ib_err_set(err, ECANCELED, "RUN %s: interrupted", spec->argv[0]);
        else
                r = read_report(epipe[0], err);
        close(epipe[0]);
        if (r >= 0)
                *ret_status = wait_status(st);
out:
        for (int i = 0; i < 2; i++) {
                if (w[i] >= 0)
                        close(w[i]);
                if (out[i].fd >= 0)
                        close(out[i].fd);
        }
        run_cleanup(spec, per_run);
        free(c.hosts);
        free(c.hostname);
        free(c.mounts_skel);
        free(c.legacy);
        ib_sandbox_phase("run: cleaned up");
        return r;
}
