/* sandbox/userns.c - detect the privilege mode and enter it (DESIGN.md,
 * "Privilege modes").
 *
 * One user namespace per imgbuild process.  The process forks; the child
 * unshares a user + mount namespace and waits on a pipe; the parent writes the
 * child's id maps (through the setuid helpers newuidmap/newgidmap for
 * subordinate ranges, directly for a single id or for real root) and then only
 * waits, forwarding signals, and exits with the child's status.  The child
 * becomes uid 0, makes every mount private and carries on with the verb.
 *
 * The fork replaces a re-exec of /proc/self/exe: the contract is the same (the
 * caller continues inside, the outer process only waits) without loading the
 * binary twice.  The environment marker IMGBUILD_USERNS lets an imgbuild
 * executed inside know it is inside.
 */
#include "sandbox/internal.h"

#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define MARKER "IMGBUILD_USERNS"

static struct ib_privmode *entered;     /* set once inside */

const char *ib_privmode_name(enum ib_privmode_kind kind)
{
        switch (kind) {
        case IB_PRIV_ROOTLESS: return "rootless";
        case IB_PRIV_SINGLE_ID: return "single-id";
        case IB_PRIV_ROOT: return "root";
        case IB_PRIV_USERNS: return "userns";
        case IB_PRIV_NONE: break;
        }
        return "none";
}

char *ib_privmode_describe(const struct ib_privmode *m)
{
        uint64_t nu = ib_idmap_count(&m->uids), ng = ib_idmap_count(&m->gids);

        switch (m->kind) {
        case IB_PRIV_ROOTLESS:
                if (nu == ng)
                        return ib_strdupf("rootless (subordinate ids: %" PRIu64 " via newuidmap)", nu - 1);
                return ib_strdupf("rootless (subordinate ids: %" PRIu64 " uids, %" PRIu64
                                  " gids via newuidmap/newgidmap)", nu - 1, ng - 1);
        case IB_PRIV_SINGLE_ID:
                return ib_strdupf("rootless, single id (uid %u and gid %u as 0; other owners cannot be kept:"
                                  " give the user ranges in /etc/subuid and /etc/subgid)",
                                  (unsigned) m->host_uid, (unsigned) m->host_gid);
        case IB_PRIV_ROOT:
                return ib_strdup("root (user namespace with the identity map of all ids)");
        case IB_PRIV_USERNS:
                return ib_strdupf("user namespace (already inside one, as its uid 0: %" PRIu64 " uids, %" PRIu64
                                  " gids mapped)", nu, ng);
        case IB_PRIV_NONE:
                break;
        }
        return ib_strdup("none");
}

/* ------------------------------------------------------------ helpers */

static long read_sysctl(const char *path)
{
        _cleanup_free_ char *text = NULL;

        if (ib_read_file(path, 64, &text, NULL, NULL) < 0)
                return -1;
        return strtol(text, NULL, 10);
}

static uint64_t ns_inode(const char *ns)
{
        char path[64];
        struct stat st;

        snprintf(path, sizeof(path), "/proc/self/ns/%s", ns);
        return stat(path, &st) == 0 ? (uint64_t) st.st_ino : 0;
}

/* Absolute path of a helper, searched in $PATH then the usual dirs; NULL if absent. */
static char *find_helper(const char *name)
{
        const char *path = getenv("PATH");
        _cleanup_free_ char *all = ib_strdupf("%s:/usr/bin:/usr/sbin:/bin:/sbin", path ? path : "");
        char *save = NULL;

        for (char *d = strtok_r(all, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *p = NULL;
                if (*d != '/')
                        continue;
                p = ib_path_join(d, name);
                if (access(p, X_OK) == 0)
                        return IB_TAKE_PTR(p);
        }
        return NULL;
}

static int write_proc(pid_t pid, const char *file, const char *data, struct ib_err **err)
{
        char path[64];
        _cleanup_close_ int fd = -1;

        snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, file);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t) strlen(data))
                return ib_err_set(err, errno, "write `%s` to %s", data, path);
        return 0;
}

/* Run a helper, capture the first line of its stderr into @msg. Returns its
 * shell-style status, or -errno when it could not be started. */
static int run_helper(char **argv, char *msg, size_t msglen)
{
        int p[2], st;
        pid_t pid;
        ssize_t n;

        msg[0] = 0;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                close(p[0]);
                close(p[1]);
                return -errno;
        }
        if (pid == 0) {
                dup2(p[1], STDERR_FILENO);
                execv(argv[0], argv);
                dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        close(p[1]);
        n = read(p[0], msg, msglen - 1);
        close(p[0]);
        msg[n > 0 ? n : 0] = 0;
        msg[strcspn(msg, "\n")] = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ------------------------------------------------------------ detection */

/* What ib_userns_enter will do, decided before any side effect. */
struct plan {
        struct ib_privmode mode;
        const char *user;               /* own name, for the messages */
        struct ib_idmap subuids, subgids;
        char *newuidmap, *newgidmap;
};

static void plan_release(struct plan *p)
{
        free(p->newuidmap);
        free(p->newgidmap);
}

static int read_subids(const char *file, const char *user, uint32_t id, struct ib_idmap *ret)
{
        _cleanup_free_ char *text = NULL;

        ret->n = 0;
        if (ib_read_file(file, 1 << 20, &text, NULL, NULL) < 0)
                return 0;
        return ib_subid_ranges(text, user, id, ret);
}

static void detect_rootless(struct plan *p, uid_t uid)
{
        struct passwd *pw = getpwuid(uid);
        static char name[256];
        int nu, ng;

        snprintf(name, sizeof(name), "%s", pw ? pw->pw_name : "");
        p->user = name;
        nu = read_subids("/etc/subuid", pw ? name : NULL, uid, &p->subuids);
        ng = read_subids("/etc/subgid", pw ? name : NULL, uid, &p->subgids);
        p->mode.kind = IB_PRIV_SINGLE_ID;
        if (nu <= 0 && ng <= 0)
                return;
        if (nu <= 0 || ng <= 0) {
                snprintf(p->mode.note, sizeof(p->mode.note),
                         "`%s` has subordinate ids in %s only; both /etc/subuid and /etc/subgid need a range",
                         name, nu > 0 ? "/etc/subuid" : "/etc/subgid");
                return;
        }
        p->newuidmap = find_helper("newuidmap");
        p->newgidmap = find_helper("newgidmap");
        if (!p->newuidmap || !p->newgidmap) {
                snprintf(p->mode.note, sizeof(p->mode.note),
                         "the subordinate ids of `%s` are not used: newuidmap/newgidmap not found"
                         " (install the uidmap package)", name);
                return;
        }
        p->mode.kind = IB_PRIV_ROOTLESS;
        p->mode.via_helpers = true;
}

static int detect(struct plan *p, struct ib_err **err)
{
        struct ib_idmap self;
        uid_t uid = geteuid();
        gid_t gid = getegid();
        int r;

        memset(p, 0, sizeof(*p));
        p->mode.host_uid = uid;
        p->mode.host_gid = gid;
        r = ib_idmap_read_self(false, &self, err);
        if (r < 0)
                return ib_err_wrap(err, "detect the privilege mode");
        if (ib_idmap_is_identity(&self)) {
                if (uid == 0)
                        p->mode.kind = IB_PRIV_ROOT;
                else
                        detect_rootless(p, uid);
        } else if (uid == 0 && ib_caps_have_sys_admin()) {
                p->mode.kind = IB_PRIV_USERNS;
        } else {
                detect_rootless(p, uid);
        }
        p->mode.setgroups = p->mode.kind != IB_PRIV_SINGLE_ID;
        return 0;
}

/* ------------------------------------------------------------ failures */

static int userns_unavailable(int e, struct ib_err **err)
{
        long max = read_sysctl("/proc/sys/user/max_user_namespaces");
        long clone = read_sysctl("/proc/sys/kernel/unprivileged_userns_clone");
        long aa = read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
        const char *head = "cannot create a user namespace, which every build needs";

        if (max == 0)
                return ib_err_set(err, 0, "%s: user namespaces are disabled (sysctl user.max_user_namespaces is 0);"
                                  " enable them as root with `sysctl -w user.max_user_namespaces=15000`"
                                  " (and keep it in /etc/sysctl.d/); inside a container this is the"
                                  " setting of the container's own user namespace", head);
        if (clone == 0 && geteuid() != 0)
                return ib_err_set(err, 0, "%s: unprivileged user namespaces are disabled (sysctl"
                                  " kernel.unprivileged_userns_clone is 0); enable them as root with"
                                  " `sysctl -w kernel.unprivileged_userns_clone=1`, or run imgbuild as root", head);
        if (aa == 1 && geteuid() != 0)
                return ib_err_set(err, 0, "%s: AppArmor restricts unprivileged user namespaces (sysctl"
                                  " kernel.apparmor_restrict_unprivileged_userns is 1); load an AppArmor profile"
                                  " for imgbuild that allows `userns,`, or set the sysctl to 0", head);
        switch (e) {
        case ENOSPC:
                return ib_err_set(err, 0, "%s: the limit of user namespaces is reached (sysctl"
                                  " user.max_user_namespaces is %ld, counted per user); raise it as root with"
                                  " `sysctl -w user.max_user_namespaces=15000`", head, max);
        case EUSERS:
                return ib_err_set(err, 0, "%s: user namespaces are nested 32 deep already", head);
        case EINVAL:
                return ib_err_set(err, 0, "%s: the kernel was built without user namespaces"
                                  " (CONFIG_USER_NS); use a kernel that has them", head);
        case EPERM:
                return ib_err_set(err, 0, "%s: the system refused it (EPERM), usually a seccomp profile"
                                  " or a security module; in a container, run it with a seccomp profile that"
                                  " allows user namespaces (e.g. `--security-opt seccomp=unconfined`), or"
                                  " in Kubernetes as a"
                                  " pod with `hostUsers: false`", head);
        default:
                return ib_err_set(err, e, "%s", head);
        }
}

static int maps_refused(struct ib_err **err)
{
        long aa = read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");

        if (aa == 1)
                return ib_err_wrap(err, "cannot set up the user namespace: AppArmor restricts unprivileged"
                                   " user namespaces (sysctl kernel.apparmor_restrict_unprivileged_userns is 1);"
                                   " load an AppArmor profile for imgbuild that allows `userns,`, or set the"
                                   " sysctl to 0");
        return ib_err_wrap(err, "cannot set up the id maps of the user namespace");
}

/* ------------------------------------------------------------ maps */

static char *range_args(const struct ib_idmap *m, char ***argv)
{
        for (size_t i = 0; i < m->n; i++) {
                char b[16];
                snprintf(b, sizeof(b), "%" PRIu32, m->r[i].inside);
                ib_strv_push(argv, b);
                snprintf(b, sizeof(b), "%" PRIu32, m->r[i].outside);
                ib_strv_push(argv, b);
                snprintf(b, sizeof(b), "%" PRIu32, m->r[i].count);
                ib_strv_push(argv, b);
        }
        return NULL;
}

static int run_idmap_helper(const char *helper, pid_t pid, uint32_t own, const struct ib_idmap *subs,
                            char *msg, size_t msglen)
{
        _cleanup_strv_ char **argv = NULL;
        char b[16];

        ib_strv_push(&argv, helper);
        snprintf(b, sizeof(b), "%d", (int) pid);
        ib_strv_push(&argv, b);
        ib_strv_push(&argv, "0");
        snprintf(b, sizeof(b), "%" PRIu32, own);
        ib_strv_push(&argv, b);
        ib_strv_push(&argv, "1");
        range_args(subs, &argv);
        return run_helper(argv, msg, msglen);
}

static int write_single(pid_t pid, const char *file, uint32_t own, struct ib_err **err)
{
        char line[48];

        snprintf(line, sizeof(line), "0 %" PRIu32 " 1\n", own);
        return write_proc(pid, file, line, err);
}

/* Write the maps of @pid for the planned mode; degrade from the ranges to a
 * single id when newuidmap/newgidmap refuse, and say why in the note. */
static int write_maps(struct plan *p, pid_t pid, struct ib_err **err)
{
        struct ib_privmode *m = &p->mode;
        char msg[256];
        int r;

        switch (m->kind) {
        case IB_PRIV_ROOT:
                r = write_proc(pid, "uid_map", "0 0 4294967295\n", err);
                if (r >= 0)
                        r = write_proc(pid, "gid_map", "0 0 4294967295\n", err);
                return r;
        case IB_PRIV_ROOTLESS:
                r = run_idmap_helper(p->newuidmap, pid, m->host_uid, &p->subuids, msg, sizeof(msg));
                if (r != 0) {
                        snprintf(m->note, sizeof(m->note), "newuidmap failed (%s); using a single id",
                                 msg[0] ? msg : "no message");
                        goto single;
                }
                r = run_idmap_helper(p->newgidmap, pid, m->host_gid, &p->subgids, msg, sizeof(msg));
                if (r != 0) {
                        snprintf(m->note, sizeof(m->note), "newgidmap failed (%s); only gid %u is mapped",
                                 msg[0] ? msg : "no message", (unsigned) m->host_gid);
                        m->kind = IB_PRIV_SINGLE_ID;
                        m->setgroups = false;
                        r = write_proc(pid, "setgroups", "deny", err);
                        return r < 0 ? r : write_single(pid, "gid_map", m->host_gid, err);
                }
                return 0;
        case IB_PRIV_SINGLE_ID:
        single:
                m->kind = IB_PRIV_SINGLE_ID;
                m->via_helpers = false;
                m->setgroups = false;
                r = write_proc(pid, "setgroups", "deny", err);
                if (r >= 0)
                        r = write_single(pid, "uid_map", m->host_uid, err);
                if (r >= 0)
                        r = write_single(pid, "gid_map", m->host_gid, err);
                return r;
        case IB_PRIV_USERNS:
        case IB_PRIV_NONE:
                break;
        }
        return ib_err_set(err, EINVAL, "no id maps for mode %s", ib_privmode_name(m->kind));
}

/* ------------------------------------------------------------ inside */

/* What the parent tells the child once the maps are written. */
struct go_msg {
        int ok;
        enum ib_privmode_kind kind;
        bool via_helpers, setgroups;
        char note[512];
};

static void set_marker(const struct ib_privmode *m)
{
        char v[128];

        snprintf(v, sizeof(v), "%" PRIu64 ":%d:%u:%u:%d:%d", ns_inode("user"), (int) m->kind,
                 (unsigned) m->host_uid, (unsigned) m->host_gid, m->via_helpers, m->setgroups);
        setenv(MARKER, v, 1);
}

/* Fill *m from the marker when it names the user namespace we are in. */
static bool read_marker(struct ib_privmode *m)
{
        const char *v = getenv(MARKER);
        unsigned long long ino;
        int kind, via, sg;
        unsigned hu, hg;

        if (!v || sscanf(v, "%llu:%d:%u:%u:%d:%d", &ino, &kind, &hu, &hg, &via, &sg) != 6 ||
            ino != ns_inode("user"))
                return false;
        memset(m, 0, sizeof(*m));
        m->kind = (enum ib_privmode_kind) kind;
        m->host_uid = hu;
        m->host_gid = hg;
        m->via_helpers = via;
        m->setgroups = sg;
        return ib_idmap_read_self(false, &m->uids, NULL) >= 0 && ib_idmap_read_self(true, &m->gids, NULL) >= 0;
}

static int finish_inside(struct ib_privmode *m, struct ib_privmode *ret, struct ib_err **err)
{
        int r;

        /* Nothing mounted here may ever propagate back, nor anything from outside in. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return ib_err_set(err, errno, "make the mounts of the new mount namespace private");
        r = ib_idmap_read_self(false, &m->uids, err);
        if (r >= 0)
                r = ib_idmap_read_self(true, &m->gids, err);
        if (r < 0)
                return r;
        set_marker(m);
        entered = ib_malloc(sizeof(*entered));
        *entered = *m;
        *ret = *m;
        return 0;
}

static int become_root(const struct ib_privmode *m, struct ib_err **err)
{
        if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
                return ib_err_set(err, errno, "become uid 0 in the user namespace");
        /* Drop the host's supplementary groups (they would show as nogroup). */
        if (m->setgroups && setgroups(0, NULL) < 0)
                return ib_err_set(err, errno, "clear the supplementary groups in the user namespace");
        return 0;
}

/* ------------------------------------------------------------ the outer process */

static void __attribute__((noreturn)) wait_and_forward(pid_t child, const sigset_t *set)
{
        for (;;) {
                siginfo_t si;
                int st, sig = sigwaitinfo(set, &si);

                if (sig < 0)
                        continue;
                if (sig != SIGCHLD) {
                        /* A terminal's signals (SI_KERNEL) reach the child's process group by
                         * themselves; forward only those sent to this process. */
                        if (si.si_code != SI_KERNEL)
                                (void) kill(child, sig);
                        continue;
                }
                if (waitpid(child, &st, WNOHANG) == child) {
                        if (WIFEXITED(st))
                                _exit(WEXITSTATUS(st));
                        _exit(128 + WTERMSIG(st));
                }
        }
}

static int enter_new_userns(struct plan *p, struct ib_privmode *ret, struct ib_err **err)
{
        int ready[2] = { -1, -1 }, go[2] = { -1, -1 }, e = 0, r;
        sigset_t fwd, old;
        pid_t parent = getpid(), pid;
        struct go_msg msg;

        if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0)
                return ib_err_set(err, errno, "pipe");
        sigemptyset(&fwd);
        sigaddset(&fwd, SIGINT);
        sigaddset(&fwd, SIGTERM);
        sigaddset(&fwd, SIGHUP);
        sigaddset(&fwd, SIGQUIT);
        sigaddset(&fwd, SIGCHLD);
        sigprocmask(SIG_BLOCK, &fwd, &old);
        fflush(NULL);   /* or buffered output would be written twice */
        pid = fork();
        if (pid < 0) {
                e = errno;
                sigprocmask(SIG_SETMASK, &old, NULL);
                return ib_err_set(err, e, "fork");
        }
        if (pid == 0) {
                close(ready[0]);
                close(go[1]);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(1);
                sigprocmask(SIG_SETMASK, &old, NULL);
                e = unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0 ? errno : 0;
                if (write(ready[1], &e, sizeof(e)) != sizeof(e) || e)
                        _exit(1);
                close(ready[1]);
                if (read(go[0], &msg, sizeof(msg)) != sizeof(msg) || !msg.ok)
                        _exit(1);
                close(go[0]);
                p->mode.kind = msg.kind;
                p->mode.via_helpers = msg.via_helpers;
                p->mode.setgroups = msg.setgroups;
                memcpy(p->mode.note, msg.note, sizeof(p->mode.note));
                r = become_root(&p->mode, err);
                if (r < 0)
                        return r;
                return finish_inside(&p->mode, ret, err);
        }

        close(ready[1]);
        close(go[0]);
        if (read(ready[0], &e, sizeof(e)) != sizeof(e))
                e = ECHILD;
        close(ready[0]);
        r = e ? userns_unavailable(e, err) : write_maps(p, pid, err);
        if (r < 0 && !e)
                r = maps_refused(err);
        memset(&msg, 0, sizeof(msg));
        msg.ok = r >= 0;
        msg.kind = p->mode.kind;
        msg.via_helpers = p->mode.via_helpers;
        msg.setgroups = p->mode.setgroups;
        memcpy(msg.note, p->mode.note, sizeof(msg.note));
        /* The child waits for this unless unshare failed (then it is gone, and a
         * write would raise SIGPIPE). */
        if (!e && write(go[1], &msg, sizeof(msg)) != sizeof(msg) && r >= 0)
                r = ib_err_set(err, errno, "start the user namespace");
        close(go[1]);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                sigprocmask(SIG_SETMASK, &old, NULL);
                return r;
        }
        wait_and_forward(pid, &fwd);
}

int ib_userns_enter(struct ib_privmode *ret_mode, struct ib_err **err)
{
        struct plan p;
        int r;

        if (entered) {
                *ret_mode = *entered;
                return 0;
        }
        if (read_marker(ret_mode)) {
                entered = ib_malloc(sizeof(*entered));
                *entered = *ret_mode;
                return 0;
        }
        r = detect(&p, err);
        if (r < 0)
                return r;
        if (p.mode.kind == IB_PRIV_USERNS) {
                /* A pod's user namespace already maps a range and we are its root:
                 * use it as it is; only the mount namespace is new. */
                if (unshare(CLONE_NEWNS) < 0)
                        return ib_err_set(err, errno, "create a mount namespace inside the user namespace");
                return finish_inside(&p.mode, ret_mode, err);
        }
        r = enter_new_userns(&p, ret_mode, err);
        plan_release(&p);
        return r;
}
