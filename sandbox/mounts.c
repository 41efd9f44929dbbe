/* sandbox/mounts.c - the RUN's root file system.
 *
 * Overlay of the layer dirs (top first) + a "skeleton" dir at the very bottom +
 * the upper dir, with `userxattr` (whiteouts are 0:0 character devices, opaque
 * dirs carry user.overlay.opaque).  The skeleton holds the mount points that
 * imgbuild needs and the image may lack (/proc, /dev, /sys, /etc/hosts,
 * /etc/resolv.conf, /etc/hostname, targets of RUN --mount): being a lower
 * layer, they exist in the merged view without ever being written to the upper
 * dir, so the layer holds only what the RUN changed.
 *
 * Many layers: the lowerdir= option string is limited to one page, so layers
 * are added one by one with fsconfig("lowerdir+") (Linux 6.8); on older kernels
 * the fallback mounts with short relative symlink names (0, 1, ...) from a
 * chdir into a dir of such links.
 *
 * Everything uses the new mount API (fsopen/fsmount/open_tree/move_mount/
 * mount_setattr): targets are opened with RESOLVE_IN_ROOT, so a symlink in the
 * image can never redirect a mount outside the rootfs.
 */
#include "sandbox/internal.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/* ------------------------------------------------------------ small tools */

static int open_in(int rootfd, const char *rel, int flags)
{
        struct open_how how = { .flags = (uint64_t) (flags | O_CLOEXEC), .resolve = RESOLVE_IN_ROOT };

        while (*rel == '/')
                rel++;
        return (int) syscall(SYS_openat2, rootfd, *rel ? rel : ".", &how, sizeof(how));
}

/* Append the fs context's own error messages ("e overlayfs: ...") to @b. */
static void fs_log(int fsfd, struct ib_buf *b)
{
        char line[512];
        ssize_t n;

        while ((n = read(fsfd, line, sizeof(line) - 1)) > 0) {
                line[n] = 0;
                line[strcspn(line, "\n")] = 0;
                ib_buf_addf(b, "%s%s", b->len ? "; " : "", line[1] == ' ' ? line + 2 : line);
        }
}

static int fs_fail(int fsfd, int e, struct ib_err **err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int fs_fail(int fsfd, int e, struct ib_err **err, const char *fmt, ...)
{
        _cleanup_buf_ struct ib_buf b = IB_BUF_INIT, log = IB_BUF_INIT;
        va_list ap;

        va_start(ap, fmt);
        ib_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        if (fsfd >= 0)
                fs_log(fsfd, &log);
        if (log.len)
                ib_buf_addf(&b, " (%s)", log.buf);
        return ib_err_set(err, e, "%s", b.buf);
}

/* A new detached mount of @fstype with "key=value"/"flag" options. */
static int fs_new(const char *fstype, const char *const *opts, unsigned attrs, struct ib_err **err)
{
        _cleanup_close_ int fsfd = fsopen(fstype, FSOPEN_CLOEXEC);
        int mfd;

        if (fsfd < 0)
                return ib_err_set(err, errno, "fsopen %s", fstype);
        for (size_t i = 0; opts && opts[i]; i++) {
                _cleanup_free_ char *key = ib_strdup(opts[i]);
                char *val = strchr(key, '=');
                int r;

                if (val)
                        *val++ = 0;
                r = val ? fsconfig(fsfd, FSCONFIG_SET_STRING, key, val, 0)
                        : fsconfig(fsfd, FSCONFIG_SET_FLAG, key, NULL, 0);
                if (r < 0)
                        return fs_fail(fsfd, errno, err, "mount %s: option `%s`", fstype, opts[i]);
        }
        if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return fs_fail(fsfd, errno, err, "mount %s", fstype);
        mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
        if (mfd < 0)
                return ib_err_set(err, errno, "fsmount %s", fstype);
        return mfd;
}

static int attach(int mfd, int targetfd, const char *what, struct ib_err **err)
{
        if (move_mount(mfd, "", targetfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return ib_err_set(err, errno, "mount %s", what);
        return 0;
}

static int set_attrs(int mfd, uint64_t attrs, bool recursive, const char *what, struct ib_err **err)
{
        struct mount_attr a = { .attr_set = attrs };

        if (mount_setattr(mfd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof(a)) < 0)
                return ib_err_set(err, errno, "make %s read-only", what);
        return 0;
}

/* Bind-mount host path @src onto @rel below @rootfd. */
static int bind_at(int rootfd, const char *src, const char *rel, bool recursive, uint64_t attrs,
                   struct ib_err **err)
{
        _cleanup_close_ int mfd = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
                                            (recursive ? AT_RECURSIVE : 0));
        _cleanup_close_ int tfd = -1;

        if (mfd < 0)
                return ib_err_set(err, errno, "bind `%s`", src);
        if (attrs && set_attrs(mfd, attrs, recursive, rel, err) < 0)
                return -EPERM;
        tfd = open_in(rootfd, rel, O_PATH);
        if (tfd < 0)
                return ib_err_set(err, errno, "mount point `/%s` in the rootfs", rel);
        return attach(mfd, tfd, rel, err);
}

static int mount_new_at(int rootfd, const char *rel, const char *fstype, const char *const *opts,
                        unsigned attrs, struct ib_err **err)
{
        _cleanup_close_ int mfd = fs_new(fstype, opts, attrs, err);
        _cleanup_close_ int tfd = -1;

        if (mfd < 0)
                return mfd;
        tfd = open_in(rootfd, rel, O_PATH);
        if (tfd < 0)
                return ib_err_set(err, errno, "mount point `/%s` in the rootfs", rel);
        return attach(mfd, tfd, rel, err);
}

/* Re-bind @rel (below @rootfd) onto itself read-only. */
static int make_ro(int rootfd, const char *rel, struct ib_err **err)
{
        _cleanup_close_ int tfd = open_in(rootfd, rel, O_PATH);
        _cleanup_close_ int mfd = -1;

        if (tfd < 0)
                return errno == ENOENT ? 0 : ib_err_set(err, errno, "open `/%s`", rel);
        mfd = open_tree(tfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
        if (mfd < 0)
                return ib_err_set(err, errno, "bind `/%s`", rel);
        if (set_attrs(mfd, MOUNT_ATTR_RDONLY, true, rel, err) < 0)
                return -EPERM;
        return attach(mfd, tfd, rel, err);
}

/* ------------------------------------------------------------ skeleton */

static int skel_add(const char *skel, const char *target, bool dir, struct ib_err **err)
{
        _cleanup_free_ char *path = ib_path_join(skel, target);
        _cleanup_free_ char *parent = ib_strdup(path);
        char *slash = strrchr(parent, '/');
        int fd;

        if (slash && slash != parent) {
                *slash = 0;
                if (ib_mkdir_p(parent, 0755, err) < 0)
                        return -EIO;
        }
        if (dir)
                return ib_mkdir_p(path, 0755, err);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return ib_err_set(err, errno, "create `%s`", path);
        close(fd);
        return 0;
}

int ib_rootfs_make_skeleton(const char *skel, struct ib_err **err)
{
        static const char *const dirs[] = { "proc", "dev", "sys", "etc" };
        static const char *const files[] = { "etc/hosts", "etc/resolv.conf", "etc/hostname" };
        int r;

        for (size_t i = 0; i < IB_ELEMENTSOF(dirs); i++)
                if ((r = skel_add(skel, dirs[i], true, err)) < 0)
                        return r;
        for (size_t i = 0; i < IB_ELEMENTSOF(files); i++)
                if ((r = skel_add(skel, files[i], false, err)) < 0)
                        return r;
        return 0;
}

int ib_rootfs_make_mounts_skeleton(const struct ib_run_spec *s, const char *dir, struct ib_err **err)
{
        int r;

        for (size_t i = 0; i < s->n_mounts; i++) {
                const struct ib_mount *m = &s->mounts[i];
                struct stat st;
                bool isdir = true;

                if (!m->target || m->target[0] != '/' || strstr(m->target, ".."))
                        return ib_err_set(err, EINVAL, "mount target `%s`: not an absolute path without `..`",
                                          m->target ? m->target : "");
                if (!m->type || strcmp(m->type, "bind") == 0) {
                        if (!m->source || stat(m->source, &st) < 0)
                                return ib_err_set(err, m->source ? errno : EINVAL, "mount source `%s`",
                                                  m->source ? m->source : "");
                        isdir = S_ISDIR(st.st_mode);
                } else if (strcmp(m->type, "tmpfs") != 0) {
                        return ib_err_set(err, EINVAL, "mount `%s`: unknown type `%s`", m->target, m->type);
                }
                if ((r = skel_add(dir, m->target + 1, isdir, err)) < 0)
                        return r;
        }
        return 0;
}

/* ------------------------------------------------------------ overlay */

static bool force_legacy(void)
{
        /* Test knob: exercise the fallback for kernels without lowerdir+. */
        const char *v = getenv("IMGBUILD_OVERLAY_LEGACY");
        return v && *v && strcmp(v, "0") != 0;
}

/* Lower layer @i: the image's layers, then the mounts skeleton (if any), then the skeleton. */
static const char *layer_path(const struct ib_rootfs_plan *p, size_t i)
{
        if (i < p->spec->n_lowers)
                return p->spec->lowers[i];
        return i == p->spec->n_lowers ? p->mounts_skel : p->skel;
}

/* Returns the detached overlay mount, -EOPNOTSUPP when lowerdir+ is unknown. */
static int overlay_fsconfig(const struct ib_rootfs_plan *p, struct ib_err **err)
{
        static const char *const opts[] = { "redirect_dir=nofollow", "index=off", "metacopy=off", "uuid=off", "volatile" };
        const struct ib_run_spec *s = p->spec;
        _cleanup_close_ int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
        int mfd;

        if (fsfd < 0)
                return errno == ENOSYS ? -EOPNOTSUPP : ib_err_set(err, errno, "fsopen overlay");
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "source", "imgbuild", 0) < 0 ||
            fsconfig(fsfd, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0)
                return fs_fail(fsfd, errno, err, "overlay: option userxattr");
        for (size_t i = 0; i < IB_ELEMENTSOF(opts); i++) {
                _cleanup_free_ char *key = ib_strdup(opts[i]);
                char *val = strchr(key, '=');
                if (val)
                        *val++ = 0;
                if ((val ? fsconfig(fsfd, FSCONFIG_SET_STRING, key, val, 0)
                         : fsconfig(fsfd, FSCONFIG_SET_FLAG, key, NULL, 0)) < 0)
                        return fs_fail(fsfd, errno, err, "overlay: option `%s`", opts[i]);
        }
        for (size_t i = 0, n = 0; i < s->n_lowers + 2; i++) {
                const char *l = layer_path(p, i);
                if (!l)
                        continue;
                if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", l, 0) < 0) {
                        if (n == 0 && errno == EINVAL)
                                return -EOPNOTSUPP;     /* kernel < 6.8 */
                        return fs_fail(fsfd, errno, err, "overlay: lower layer `%s`", l);
                }
                n++;
        }
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", s->upper, 0) < 0)
                return fs_fail(fsfd, errno, err, "overlay: upper dir `%s`", s->upper);
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", s->work, 0) < 0)
                return fs_fail(fsfd, errno, err, "overlay: work dir `%s`", s->work);
        if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return fs_fail(fsfd, errno, err, "mount the overlay on `%s`", p->merged);
        mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
        if (mfd < 0)
                return ib_err_set(err, errno, "fsmount overlay");
        return mfd;
}

/* mount(2) with lowerdir=0:1:...:N relative to a dir of symlinks, so the
 * option string stays short whatever the paths. */
static int overlay_legacy(const struct ib_rootfs_plan *p, struct ib_err **err)
{
        const struct ib_run_spec *s = p->spec;
        _cleanup_buf_ struct ib_buf opts = IB_BUF_INIT;
        _cleanup_close_ int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int dfd = -1;
        int r = 0;

        if (ib_mkdir_p(p->legacy_dir, 0700, err) < 0)
                return -EIO;
        dfd = open(p->legacy_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return ib_err_set(err, errno, "open `%s`", p->legacy_dir);
        ib_buf_adds(&opts, "lowerdir=");
        for (size_t i = 0, n = 0; i < s->n_lowers + 2; i++) {
                const char *l = layer_path(p, i);
                char name[24];
                if (!l)
                        continue;
                snprintf(name, sizeof(name), "%zu", i);
                if (symlinkat(l, dfd, name) < 0 && errno != EEXIST)
                        return ib_err_set(err, errno, "symlink for lower layer %zu", i);
                ib_buf_addf(&opts, "%s%s", n++ ? ":" : "", name);
        }
        if (symlinkat(s->upper, dfd, "u") < 0 || symlinkat(s->work, dfd, "w") < 0)
                if (errno != EEXIST)
                        return ib_err_set(err, errno, "symlink for the upper/work dir");
        ib_buf_adds(&opts, ",upperdir=u,workdir=w,userxattr,redirect_dir=nofollow,index=off,metacopy=off,uuid=off,volatile");
        if (opts.len >= 4096)
                return ib_err_set(err, E2BIG, "overlay: %zu layers do not fit in one mount option page",
                                  s->n_lowers);
        if (fchdir(dfd) < 0)
                return ib_err_set(err, errno, "chdir `%s`", p->legacy_dir);
        if (mount("overlay", p->merged, "overlay", 0, opts.buf) < 0)
                r = ib_err_set(err, errno, "mount the overlay on `%s` (legacy mount)", p->merged);
        if (cwd >= 0)
                (void) fchdir(cwd);
        return r;
}

int ib_rootfs_mount_overlay(const struct ib_rootfs_plan *p, struct ib_err **err)
{
        _cleanup_close_ int tfd = -1;
        int mfd = -EOPNOTSUPP;

        if (!force_legacy())
                mfd = overlay_fsconfig(p, err);
        if (mfd == -EOPNOTSUPP)
                return overlay_legacy(p, err);
        if (mfd < 0)
                return mfd;
        tfd = open(p->merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (tfd < 0 || attach(mfd, tfd, p->merged, err) < 0) {
                int e = errno;
                close(mfd);
                return tfd < 0 ? ib_err_set(err, e, "open `%s`", p->merged) : -e;
        }
        close(mfd);
        return 0;
}

/* ------------------------------------------------------------ /proc /dev /sys */

static int setup_proc(int rootfd, struct ib_err **err)
{
        /* Docker's masked and read-only paths: kernel state no build needs and a
         * root RUN (identity map, real kuid 0) must not write. */
        static const char *const masked_files[] = {
                "proc/kcore", "proc/keys", "proc/latency_stats", "proc/timer_list", "proc/timer_stats",
                "proc/sched_debug", "proc/sysrq-trigger",
        };
        static const char *const masked_dirs[] = { "proc/acpi", "proc/asound", "proc/scsi" };
        static const char *const ro[] = { "proc/bus", "proc/fs", "proc/irq", "proc/sys" };
        static const char *const tmpfs_ro[] = { "size=0", "mode=0555", NULL };
        int r;

        r = mount_new_at(rootfd, "proc", "proc", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                         err);
        if (r < 0) {
                /* Nested containers hide parts of their /proc, so the kernel refuses a new
                 * procfs: fall back to the existing one (it shows the outer processes). */
                ib_debug("fresh /proc refused (%s), binding the existing one", (*err)->msg);
                ib_err_free(err);
                r = bind_at(rootfd, "/proc", "proc", true, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                            err);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < IB_ELEMENTSOF(masked_files); i++) {
                _cleanup_close_ int fd = open_in(rootfd, masked_files[i], O_PATH | O_NOFOLLOW);
                if (fd < 0)
                        continue;
                close(fd);
                r = bind_at(rootfd, "/dev/null", masked_files[i], false, MOUNT_ATTR_RDONLY, err);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < IB_ELEMENTSOF(masked_dirs); i++) {
                _cleanup_close_ int fd = open_in(rootfd, masked_dirs[i], O_PATH | O_DIRECTORY | O_NOFOLLOW);
                if (fd < 0)
                        continue;
                close(fd);
                r = mount_new_at(rootfd, masked_dirs[i], "tmpfs", tmpfs_ro, MOUNT_ATTR_RDONLY, err);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < IB_ELEMENTSOF(ro); i++)
                if ((r = make_ro(rootfd, ro[i], err)) < 0)
                        return r;
        return 0;
}

static int setup_dev(int rootfd, struct ib_err **err)
{
        static const char *const devs[] = { "null", "zero", "full", "random", "urandom", "tty" };
        static const char *const links[][2] = {
                { "ptmx", "pts/ptmx" }, { "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
                { "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" }, { "core", "/proc/kcore" },
        };
        static const char *const dev_opts[] = { "mode=0755", "size=65536k", NULL };
        static const char *const shm_opts[] = { "mode=1777", "size=65536k", NULL };
        static const char *const pts_opts[] = { "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", NULL };
        static const char *const pts_opts_nogid[] = { "newinstance", "ptmxmode=0666", "mode=0620", NULL };
        _cleanup_close_ int dfd = -1;
        int r;

        r = mount_new_at(rootfd, "dev", "tmpfs", dev_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_STRICTATIME, err);
        if (r < 0)
                return r;
        dfd = open_in(rootfd, "dev", O_PATH | O_DIRECTORY);
        if (dfd < 0)
                return ib_err_set(err, errno, "open /dev");
        for (size_t i = 0; i < IB_ELEMENTSOF(devs); i++) {
                char host[32], rel[32];
                int fd = openat(dfd, devs[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
                if (fd < 0)
                        return ib_err_set(err, errno, "create /dev/%s", devs[i]);
                close(fd);
                snprintf(host, sizeof(host), "/dev/%s", devs[i]);
                snprintf(rel, sizeof(rel), "dev/%s", devs[i]);
                /* Read-only: writing a device node does not need a writable mount, but
                 * chmod, chown and touch do, and the inode is the host's (owned by the
                 * RUN's own uid 0 when imgbuild runs as root). */
                if ((r = bind_at(rootfd, host, rel, false, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                 MOUNT_ATTR_NOEXEC, err)) < 0) {
                        /* a minimal host (a container) may lack the optional ones */
                        if (strcmp(devs[i], "full") != 0 && strcmp(devs[i], "tty") != 0)
                                return r;
                        ib_debug("no /dev/%s: %s", devs[i], (*err)->msg);
                        ib_err_free(err);
                        (void) unlinkat(dfd, devs[i], 0);
                }
        }
        for (size_t i = 0; i < IB_ELEMENTSOF(links); i++)
                if (symlinkat(links[i][1], dfd, links[i][0]) < 0)
                        return ib_err_set(err, errno, "symlink /dev/%s", links[i][0]);
        if (mkdirat(dfd, "pts", 0755) < 0 || mkdirat(dfd, "shm", 01777) < 0 || mkdirat(dfd, "mqueue", 0755) < 0)
                return ib_err_set(err, errno, "mkdir in /dev");
        r = mount_new_at(rootfd, "dev/pts", "devpts", pts_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
        if (r < 0) {
                /* gid 5 (tty) is not mapped in single-id mode */
                ib_err_free(err);
                r = mount_new_at(rootfd, "dev/pts", "devpts", pts_opts_nogid, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
                                 err);
                if (r < 0)
                        return r;
        }
        r = mount_new_at(rootfd, "dev/shm", "tmpfs", shm_opts,
                         MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
        if (r < 0)
                return r;
        if (mount_new_at(rootfd, "dev/mqueue", "mqueue", NULL,
                         MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err) < 0) {
                ib_debug("no /dev/mqueue: %s", (*err)->msg);
                ib_err_free(err);
        }
        return 0;
}

static int setup_sys(int rootfd, bool own_netns, struct ib_err **err)
{
        static const char *const tmpfs_ro[] = { "size=0", "mode=0555", NULL };
        const unsigned attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
        _cleanup_close_ int fd = -1;
        int r = -1;

        /* A fresh sysfs shows the network devices of the mounter's network namespace,
         * and the kernel allows it only when that namespace is ours. */
        if (own_netns) {
                r = mount_new_at(rootfd, "sys", "sysfs", NULL, attrs, err);
                if (r < 0)
                        ib_err_free(err);
        }
        if (r < 0)
                r = bind_at(rootfd, "/sys", "sys", true, attrs, err);
        if (r < 0) {
                /* /sys stays an empty dir rather than a writable one */
                ib_debug("no /sys: %s", (*err)->msg);
                ib_err_free(err);
                return 0;
        }
        fd = open_in(rootfd, "sys/firmware", O_PATH | O_DIRECTORY | O_NOFOLLOW);
        if (fd >= 0)
                return mount_new_at(rootfd, "sys/firmware", "tmpfs", tmpfs_ro, attrs, err);
        return 0;
}

/* Bind a generated file onto /etc/NAME when the rootfs has a regular file there
 * (from the image or the skeleton).  A dangling symlink or other type is left alone.
 * Read-only, as BuildKit binds them: the file is imgbuild's, shared by every RUN
 * of the process, so a RUN must not rewrite what the next one resolves with. */
static int setup_etc_file(int rootfd, const char *src, const char *rel, struct ib_err **err)
{
        _cleanup_close_ int fd = open_in(rootfd, rel, O_PATH);
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                ib_debug("not mounting /%s: not a regular file in the rootfs", rel);
                return 0;
        }
        return bind_at(rootfd, src, rel, false, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                       MOUNT_ATTR_NOEXEC, err);
}

static int setup_extra(int rootfd, const struct ib_mount *m, struct ib_err **err)
{
        static const char *const opts[] = { "mode=0755", NULL };
        const char *rel = m->target + 1;

        if (strcmp(m->type, "tmpfs") == 0)
                return mount_new_at(rootfd, rel, "tmpfs", opts,
                                    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (m->readonly ? MOUNT_ATTR_RDONLY : 0), err);
        return bind_at(rootfd, m->source, rel, true, m->readonly ? MOUNT_ATTR_RDONLY : 0, err);
}

static int pivot(int rootfd, struct ib_err **err)
{
        if (fchdir(rootfd) < 0)
                return ib_err_set(err, errno, "chdir into the rootfs");
        /* Stack the old root on top of the new one, then detach it: afterwards no
         * path leads out of the rootfs. */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return ib_err_set(err, errno, "pivot_root");
        if (umount2(".", MNT_DETACH) < 0)
                return ib_err_set(err, errno, "detach the old root");
        if (chdir("/") < 0)
                return ib_err_set(err, errno, "chdir /");
        return 0;
}

int ib_rootfs_setup(const struct ib_rootfs_plan *p, struct ib_err **err)
{
        const struct ib_run_spec *s = p->spec;
        _cleanup_close_ int rootfd = -1;
        int r;

        r = ib_rootfs_mount_overlay(p, err);
        if (r < 0)
                return r;
        rootfd = open(p->merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return ib_err_set(err, errno, "open `%s`", p->merged);
        ib_sandbox_phase("overlay mounted");
        if ((r = setup_dev(rootfd, err)) < 0)
                return ib_err_wrap(err, "/dev");
        ib_sandbox_phase("/dev mounted");
        if ((r = setup_proc(rootfd, err)) < 0)
                return ib_err_wrap(err, "/proc");
        ib_sandbox_phase("/proc mounted");
        if ((r = setup_sys(rootfd, s->network == IB_NET_NONE, err)) < 0)
                return ib_err_wrap(err, "/sys");
        ib_sandbox_phase("/sys mounted");
        if ((r = setup_etc_file(rootfd, p->hosts, "etc/hosts", err)) < 0 ||
            (r = setup_etc_file(rootfd, p->resolv, "etc/resolv.conf", err)) < 0 ||
            (r = setup_etc_file(rootfd, p->hostname_file, "etc/hostname", err)) < 0)
                return r;
        for (size_t i = 0; i < s->n_mounts; i++)
                if ((r = setup_extra(rootfd, &s->mounts[i], err)) < 0)
                        return ib_err_wrap(err, "RUN --mount target `%s`", s->mounts[i].target);
        ib_sandbox_phase("etc files, extra mounts");
        return pivot(rootfd, err);
}
