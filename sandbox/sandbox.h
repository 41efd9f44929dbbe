/* sandbox/sandbox.h - rootless execution: the privilege modes, the user
 * namespace every imgbuild process enters at start, and RUN steps in fresh
 * mount/pid/ipc/uts(/net) namespaces over an overlay of layer directories.
 *
 * The model (DESIGN.md, "Privilege modes"):
 *   1. a verb that touches image files calls ib_userns_enter() first; from then
 *      on the process is uid 0 of a user namespace and has a private mount
 *      namespace, so every mount it makes dies with it (even on SIGKILL);
 *   2. each RUN is ib_sandbox_run(): a child in new namespaces mounts the
 *      overlay, /proc, /dev, /sys, /etc/{hosts,resolv.conf,hostname}, pivots
 *      into it and executes the command; the overlay upper dir is the layer.
 *
 * Errors follow lib/ib.h: < 0 (-errno) with *err set.  Nothing here prints.
 */
#ifndef IB_SANDBOX_H
#define IB_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ib_err;

/* ---------------------------------------------------------------- id maps */

/* The kernel accepts at most 340 lines in a uid_map/gid_map. */
#define IB_IDMAP_MAX 340

struct ib_idmap_range {
        uint32_t inside;        /* first id in the namespace */
        uint32_t outside;       /* first id in the parent namespace */
        uint32_t count;
};
/* An id map as /proc/self/uid_map shows it (inside -> outside). */
struct ib_idmap {
        size_t n;
        struct ib_idmap_range r[IB_IDMAP_MAX];
};

/* Parse the text of /proc/PID/{uid,gid}_map ("inside outside count" lines). */
int ib_idmap_parse(const char *text, struct ib_idmap *ret, struct ib_err **err);
/* Read /proc/self/uid_map (@gid false) or gid_map (@gid true). */
int ib_idmap_read_self(bool gid, struct ib_idmap *ret, struct ib_err **err);
/* 0 and *ret_outside when @inside is mapped; -ERANGE when it is not (callers
 * then store the overflow id 65534 and warn, see imgbuild-security(7)). */
int ib_idmap_to_host(const struct ib_idmap *m, uint32_t inside, uint32_t *ret_outside);
bool ib_idmap_has(const struct ib_idmap *m, uint32_t inside);
/* Total number of ids mapped. */
uint64_t ib_idmap_count(const struct ib_idmap *m);
/* Highest id + 1 of the contiguous block that starts at 0 (0 if 0 is unmapped):
 * every id below it is mappable. */
uint64_t ib_idmap_contiguous(const struct ib_idmap *m);
/* True when @m maps the whole 32-bit range onto itself ("0 0 4294967295"),
 * i.e. the initial user namespace or an identity map of it. */
bool ib_idmap_is_identity(const struct ib_idmap *m);

/* The subordinate ranges of a user in /etc/subuid or /etc/subgid text (lines
 * "name-or-id:start:count"; entries naming @user or the decimal @id count, in
 * file order).  Fills *ret with inside ids 1, 1+count1, ... (0 is the user's
 * own id), outside = the subordinate starts.  Returns the number of ranges. */
int ib_subid_ranges(const char *text, const char *user, uint32_t id, struct ib_idmap *ret);

/* ---------------------------------------------------------- privilege modes */

enum ib_privmode_kind {
        IB_PRIV_NONE = 0,       /* not determined */
        IB_PRIV_ROOTLESS = 1,   /* non-root, /etc/subuid+subgid ranges via newuidmap/newgidmap */
        IB_PRIV_SINGLE_ID = 2,  /* non-root without ranges: own uid/gid -> 0 only */
        IB_PRIV_ROOT = 3,       /* real root: identity map of all ids */
        IB_PRIV_USERNS = 4,     /* already uid 0 with CAP_SYS_ADMIN in a user namespace (pod) */
};

struct ib_privmode {
        enum ib_privmode_kind kind;
        uid_t host_uid;         /* the invoking user's ids, as seen outside */
        gid_t host_gid;
        bool via_helpers;       /* maps written by newuidmap/newgidmap */
        bool setgroups;         /* setgroups(2) works inside (false in single-id mode) */
        struct ib_idmap uids;   /* inside -> outside, as /proc/self/uid_map inside */
        struct ib_idmap gids;
        char note[512];         /* why a better mode was not used; "" when none */
};

/* Short stable name: "rootless", "single-id", "root", "userns". */
const char *ib_privmode_name(enum ib_privmode_kind kind);
/* One line for the log, e.g. "rootless (subordinate ids: 65536 via newuidmap)".
 * Caller frees. */
char *ib_privmode_describe(const struct ib_privmode *m);

/* Detect the privilege mode and enter it: afterwards the calling process is
 * uid/gid 0 of a user namespace (created here, or the one it is already in for
 * IB_PRIV_USERNS) with a private mount namespace.  Call it early, while the
 * process has a single thread.
 *
 * How: the process forks; the child creates the namespaces, waits for its id
 * maps (written by the parent, through newuidmap/newgidmap in rootless mode)
 * and returns 0 from here to carry on with the verb.  The parent never
 * returns: it forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT sent to it to the child,
 * waits, and exits with the child's status (128+N when killed by signal N).
 * The child dies with the parent (PR_SET_PDEATHSIG).  IB_PRIV_USERNS needs no
 * new user namespace: the process only unshares its mount namespace, in place.
 * The environment variable IMGBUILD_USERNS marks the namespace, so calling this
 * again (or from a re-executed imgbuild inside) is a no-op that fills *ret_mode.
 *
 * Fails (in the original process, nothing changed) with a message that names
 * the cause and the fix when no mode works: user namespaces disabled by sysctl,
 * AppArmor, a seccomp profile, or a kernel without them. */
int ib_userns_enter(struct ib_privmode *ret_mode, struct ib_err **err);

/* ---------------------------------------------------------------- RUN */

enum ib_network {
        IB_NET_HOST = 0,        /* the host's network namespace (default, like BuildKit) */
        IB_NET_NONE = 1,        /* a new network namespace with only `lo`, up */
};

/* An extra mount for RUN --mount: "bind" (source = a host path) or "tmpfs".
 * The target is resolved inside the rootfs; when it is missing, the mount point
 * is provided from below every layer and never appears in the upper dir. */
struct ib_mount {
        const char *type;       /* "bind" or "tmpfs" */
        const char *source;     /* bind: host path; tmpfs: ignored */
        const char *target;     /* absolute path inside the rootfs */
        bool readonly;
};

/* A RUN.  A zero-initialised spec plus lowers/upper/work/argv is a valid RUN:
 * root user, cwd "/", empty env, host network, hostname "imgbuild". */
struct ib_run_spec {
        const char *const *lowers;      /* layer dirs, top first (may be 0 of them) */
        size_t n_lowers;
        const char *upper;              /* overlay upper dir: receives the changes */
        const char *work;               /* overlay work dir, same file system as upper */
        const char *scratch;            /* where the sandbox's temp dir goes; NULL: next to @work */
        char *const *argv;              /* exec form; argv[0] without '/' is searched in the
                                           PATH of @env (default PATH when it has none) */
        char *const *env;               /* "KEY=VALUE", NULL-terminated; NULL: empty.  HOME is
                                           added from the image's /etc/passwd when missing */
        const char *cwd;                /* WORKDIR; created (owned by 0:0) when missing; NULL: "/" */
        const char *user;               /* USER: name, uid, name:group, uid:gid, resolved in the
                                           image's /etc/passwd and /etc/group; NULL/"": root */
        const char *hostname;           /* NULL: "imgbuild" */
        char *const *extra_hosts;       /* "name:ip" lines added to /etc/hosts; may be NULL */
        enum ib_network network;
        const struct ib_mount *mounts;
        size_t n_mounts;
        int stdout_fd;                  /* > 0: the RUN's stdout; otherwise inherited */
        int stderr_fd;                  /* > 0: the RUN's stderr; otherwise inherited */
        int cancel_fd;                  /* > 0: when it becomes readable the RUN is killed and
                                           ib_sandbox_run fails with -ECANCELED (the data is not
                                           read); e.g. the read end of a signal self-pipe */
};

/* Run @spec; must be called inside ib_userns_enter().  On success returns 0 and
 * *ret_status holds the shell-style status of the command (its exit code, or
 * 128+N when killed by signal N).  Every process of the RUN is gone when this
 * returns, and so are its mounts (they live only in its mount namespace) and
 * temp dirs.  Errors (-errno, *err set) are for the sandbox itself: a layer
 * that cannot be mounted, an unknown USER, a command that cannot be executed
 * (ENOENT/EACCES), cancellation (ECANCELED). */
int ib_sandbox_run(const struct ib_run_spec *spec, int *ret_status, struct ib_err **err);

/* Remove the sandbox's per-process temp dir (mount point, skeleton layer,
 * generated /etc files: made next to the first RUN's work dir, or in its
 * scratch dir, and reused by later RUNs).  Call it before exiting. */
void ib_sandbox_cleanup(void);

/* Docker's default capability set (the RUN's bounding set), as the 64-bit mask
 * /proc/PID/status prints for CapBnd: 0x00000000a80425fb. */
#define IB_SANDBOX_CAPS_MASK 0xa80425fbULL

/* ------------------------------------------------------------- views */

/* Mount a view of the layer dirs @lowers (top first; may be 0 of them) on
 * @target, in the calling process's mount namespace (inside ib_userns_enter,
 * so it dies with the process).  Writes to the view land in a throwaway upper
 * dir under @scratch and are discarded; the layers are never changed.  Used to
 * read another stage's or image's root file system (COPY --from). */
int ib_sandbox_mount_view(const char *const *lowers, size_t n_lowers, const char *scratch,
                          const char *target, struct ib_err **err);
/* Unmount a view made by ib_sandbox_mount_view (lazily) and remove @scratch. */
int ib_sandbox_unmount_view(const char *scratch, const char *target, struct ib_err **err);

#endif
