/* snapshot/import.c - OCI layer blob -> overlay-form dir, securely.
 *
 * Rules (man/imgbuild-layers.7 has the user-facing version):
 *   - names: leading '/' stripped (as docker does), empty and "." components
 *     dropped, any ".." refused; the root entry itself ("./") is ignored;
 *   - no name is ever resolved through a symlink: parent dirs are opened one
 *     component at a time with O_NOFOLLOW|O_DIRECTORY below the layer's root
 *     (a cache of the current parent chain keeps that cheap), and the last
 *     component is created with *at() calls that never follow it;
 *   - hardlinks must name an earlier entry of this layer (resolved the same way);
 *   - .wh.<name> -> 0:0 char device <name>; .wh..wh..opq -> user.overlay.opaque=y
 *     on the dir; any *.overlay.* xattr in the tar is dropped (it would steer
 *     overlayfs);
 *   - owners not mapped in our user namespace become 65534:65534 (or stay ours
 *     when that is unmapped too) and are counted in the stats; device nodes the
 *     kernel refuses are skipped and counted;
 *   - the tar stream is hashed while it is read: the result must match the
 *     diff_id, and the compressed stream the blob digest.
 * The layer is built in this process's scratch dir (tmp/, same file system),
 * synced once (syncfs) and renamed to layers/<hex>: the layer is published when
 * and only when that dir exists.  layers/<hex>.lock serialises importers. */
#include "snapshot/internal.h"
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

struct idrange {
        uint64_t start, count;
};

struct idmap {
        struct idrange r[64];
        size_t n;
        bool all;               /* no map readable: take every id as mapped */
};

struct defer_dir {
        char *path;
        mode_t mode;
        int64_t mtime;
};

struct ictx {
        const char *what;       /* "layer sha256:..." for messages */
        int root_fd;
        struct ib_zin *zin;
        struct ib_err *read_err;
        /* the chain of open parent dirs: names[i] is opened as fds[i] */
        char **names;
        int *fds;
        size_t depth, names_alloc, fds_alloc;
        struct defer_dir *dirs;
        size_t ndirs, dirs_alloc;
        struct idmap uids, gids;
        uid_t euid;
        gid_t egid;
        mode_t umask;
        struct ib_import_stats *st;
        struct ib_buf index;    /* layers/<hex>.entries, see snapshot/index.c */
};

/* ------------------------------------------------------------------ ids */

static void idmap_load(struct idmap *m, const char *file)
{
        _cleanup_fclose_ FILE *f = fopen(file, "re");
        unsigned long long in, out, count;

        m->n = 0;
        m->all = !f;
        while (f && m->n < IB_ELEMENTSOF(m->r) && fscanf(f, "%llu %llu %llu", &in, &out, &count) == 3)
                m->r[m->n++] = (struct idrange) { in, count };
}

static bool idmap_has(const struct idmap *m, uint64_t id)
{
        if (m->all)
                return true;
        for (size_t i = 0; i < m->n; i++)
                if (id >= m->r[i].start && id - m->r[i].start < m->r[i].count)
                        return true;
        return false;
}

#define OVERFLOW_ID 65534

/* The owner we can give the entry; counts the squash once per entry. */
static void map_owner(struct ictx *c, const char *path, int64_t uid, int64_t gid, uid_t *ru, gid_t *rg)
{
        bool uok = uid >= 0 && idmap_has(&c->uids, (uint64_t) uid);
        bool gok = gid >= 0 && idmap_has(&c->gids, (uint64_t) gid);

        *ru = uok ? (uid_t) uid : idmap_has(&c->uids, OVERFLOW_ID) ? OVERFLOW_ID : c->euid;
        *rg = gok ? (gid_t) gid : idmap_has(&c->gids, OVERFLOW_ID) ? OVERFLOW_ID : c->egid;
        if (uok && gok)
                return;
        if (c->st->owners_squashed++ == 0) {
                c->st->owner_example = ib_strdup(path);
                c->st->owner_example_uid = (uid_t) uid;
                c->st->owner_example_gid = (gid_t) gid;
        }
}

/* --------------------------------------------------------------- names */

/* Split @raw into components below the layer root (see the rules above). */
int ib_split_path(const char *raw, char ***ret, size_t *ret_n, struct ib_err **err)
{
        _cleanup_free_ char *copy = ib_strdup(raw);
        char **v = NULL, *save = NULL;
        size_t n = 0, alloc = 0;

        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (strcmp(c, ".") == 0)
                        continue;
                if (strcmp(c, "..") == 0) {
                        for (size_t i = 0; i < n; i++)
                                free(v[i]);
                        free(v);
                        return ib_err_set(err, 0, "entry `%s`: `..` components are not allowed", raw);
                }
                ib_grow(&v, &alloc, n + 1, sizeof(*v));
                v[n++] = ib_strdup(c);
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

void ib_comps_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

char *ib_comps_join(char **v, size_t n)
{
        struct ib_buf b = IB_BUF_INIT;
        for (size_t i = 0; i < n; i++) {
                if (i)
                        ib_buf_addc(&b, '/');
                ib_buf_adds(&b, v[i]);
        }
        return ib_buf_detach(&b);
}

/* ------------------------------------------------------------ directories */

static void stack_pop_to(struct ictx *c, size_t depth)
{
        while (c->depth > depth) {
                c->depth--;
                close(c->fds[c->depth]);
                free(c->names[c->depth]);
        }
}

/* Open (creating when missing, as tar does) the dir made of the first @np
 * components, never through a symlink.  Returns a borrowed fd. */
static int open_parent(struct ictx *c, char **comps, size_t np, const char *raw, struct ib_err **err)
{
        size_t k = 0;

        while (k < c->depth && k < np && strcmp(c->names[k], comps[k]) == 0)
                k++;
        stack_pop_to(c, k);
        for (size_t i = k; i < np; i++) {
                int base = i ? c->fds[i - 1] : c->root_fd;
                int fd = openat(base, comps[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 && errno == ENOENT) {
                        if (mkdirat(base, comps[i], 0755) < 0 && errno != EEXIST)
                                return ib_err_set(err, errno, "entry `%s`: mkdir `%s`", raw, comps[i]);
                        fd = openat(base, comps[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                }
                if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
                        return ib_err_set(err, 0, "entry `%s`: `%s` is not a directory of the layer "
                                          "(paths are never resolved through symlinks)", raw, comps[i]);
                if (fd < 0)
                        return ib_err_set(err, errno, "entry `%s`: open `%s`", raw, comps[i]);
                ib_grow(&c->names, &c->names_alloc, c->depth + 1, sizeof(*c->names));
                ib_grow(&c->fds, &c->fds_alloc, c->depth + 1, sizeof(*c->fds));
                c->names[c->depth] = ib_strdup(comps[i]);
                c->fds[c->depth] = fd;
                c->depth++;
        }
        return np ? c->fds[np - 1] : c->root_fd;
}

/* Open an existing path of the layer, never through a symlink (also not the last one). */
static int open_nofollow(int root_fd, const char *rel, int flags)
{
        struct open_how how = {
                .flags = (uint64_t) (flags | O_NOFOLLOW | O_CLOEXEC),
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        int fd = (int) syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
                return fd;
        /* no openat2: one component at a time */
        _cleanup_free_ char *copy = ib_strdup(rel);
        _cleanup_close_ int cur = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        char *save = NULL, *next, *comp = strtok_r(copy, "/", &save);
        while (cur >= 0 && comp) {
                next = strtok_r(NULL, "/", &save);
                int fd2 = openat(cur, comp, next ? O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
                                                 : flags | O_NOFOLLOW | O_CLOEXEC);
                if (fd2 < 0)
                        return -1;
                ib_closep(&cur);
                cur = fd2;
                comp = next;
        }
        return IB_TAKE_FD(cur);
}

/* Make room for a new entry @name in @pfd: remove what is there (recursively
 * for a dir).  Only called after a create failed with EEXIST. */
static int remove_existing(int pfd, const char *name, const char *raw, struct ib_err **err)
{
        if (unlinkat(pfd, name, 0) == 0)
                return 0;
        if (errno != EISDIR && errno != EPERM)
                return ib_err_set(err, errno, "entry `%s`: replace existing", raw);
        if (ib_rm_rf_at(pfd, name, err) < 0)
                return ib_err_wrap(err, "entry `%s`: replace existing dir", raw);
        return 0;
}

/* ------------------------------------------------------------ metadata */

static bool is_dropped_xattr(const char *name)
{
        return ib_is_overlay_xattr(name);
}

static int apply_xattrs(struct ictx *c, struct archive_entry *ae, int fd, int pfd, const char *name,
                        const char *path)
{
        const char *xn;
        const void *xv;
        size_t xs;
        _cleanup_free_ char *proc = NULL;

        if (archive_entry_xattr_reset(ae) == 0)
                return 0;
        while (archive_entry_xattr_next(ae, &xn, &xv, &xs) == ARCHIVE_OK) {
                int r;
                if (is_dropped_xattr(xn)) {
                        ib_debug("%s: dropping xattr %s of `%s`", c->what, xn, path);
                        continue;
                }
                if (fd >= 0) {
                        r = fsetxattr(fd, xn, xv, xs, 0);
                } else {
                        if (!proc)
                                proc = ib_strdupf("/proc/self/fd/%d/%s", pfd, name);
                        r = lsetxattr(proc, xn, xv, xs, 0);
                }
                if (r < 0) {
                        if (c->st->xattrs_skipped++ == 0)
                                c->st->xattr_example = ib_strdupf("%s (%s: %s)", path, xn, strerror(errno));
                }
        }
        return 0;
}

static int64_t entry_mtime(struct archive_entry *ae)
{
        return archive_entry_mtime_is_set(ae) ? (int64_t) archive_entry_mtime(ae) : 0;
}

static long entry_mtime_ns(struct archive_entry *ae)
{
        return archive_entry_mtime_is_set(ae) ? archive_entry_mtime_nsec(ae) : 0;
}

/* Owner, mode (after chown: chown drops setuid/setgid), xattrs (after chown:
 * it drops security.capability), times.  @fd may be -1 (symlinks, fifos). */
static int apply_meta(struct ictx *c, struct archive_entry *ae, int fd, int pfd, const char *name,
                      const char *path, mode_t created_mode, struct ib_err **err)
{
        uid_t uid;
        gid_t gid;
        mode_t mode = archive_entry_perm(ae) & 07777;
        bool lnk = archive_entry_filetype(ae) == AE_IFLNK;
        struct timespec ts[2];

        map_owner(c, path, archive_entry_uid(ae), archive_entry_gid(ae), &uid, &gid);
        if (uid != c->euid || gid != c->egid) {
                int r = fd >= 0 ? fchown(fd, uid, gid) : fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
                if (r < 0 && errno == EINVAL) {         /* the map changed under us: keep ours */
                        if (c->st->owners_squashed++ == 0) {
                                c->st->owner_example = ib_strdup(path);
                                c->st->owner_example_uid = uid;
                                c->st->owner_example_gid = gid;
                        }
                } else if (r < 0) {
                        return ib_err_set(err, errno, "entry `%s`: chown %u:%u", path, uid, gid);
                }
                created_mode = (mode_t) -1;     /* chown may have cleared bits */
        }
        if (!lnk && mode != created_mode && (fd >= 0 ? fchmod(fd, mode) : fchmodat(pfd, name, mode, 0)) < 0)
                return ib_err_set(err, errno, "entry `%s`: chmod %o", path, mode);
        apply_xattrs(c, ae, fd, pfd, name, path);
        ts[1] = (struct timespec) { .tv_sec = entry_mtime(ae), .tv_nsec = entry_mtime_ns(ae) };
        ts[0] = ts[1];
        if ((fd >= 0 ? futimens(fd, ts) : utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW)) < 0)
                return ib_err_set(err, errno, "entry `%s`: set times", path);
        return 0;
}

/* ---------------------------------------------------------------- entries */

static bool all_zero(const uint8_t *p, size_t n)
{
        return n > 0 && p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

/* Blocks of zeros become holes (as sparse tar entries already do): a layer
 * of huge zero-filled files -- a gzip bomb is one -- costs no disk, and the
 * file reads back the same. */
static int write_data(struct archive *a, int fd, int64_t size, const char *path, struct ib_err **err)
{
        const void *buf;
        size_t n;
        la_int64_t offset, fpos = 0, end = 0;
        int ar;

        while ((ar = archive_read_data_block(a, &buf, &n, &offset)) == ARCHIVE_OK) {
                int r = 0;
                if (all_zero(buf, n)) {
                        end = offset + (la_int64_t) n;
                        continue;
                }
                if (offset != fpos && lseek(fd, offset, SEEK_SET) < 0)
                        r = -errno;
                if (r == 0)
                        r = ib_write_all(fd, buf, n);
                if (r < 0)
                        return ib_err_set(err, -r, "entry `%s`: write", path);
                fpos = end = offset + (la_int64_t) n;
        }
        if (ar != ARCHIVE_EOF)
                return -EIO;    /* the caller reports the reader's error */
        if (end < size)
                end = size;
        if (fpos < end && ftruncate(fd, end) < 0)
                return ib_err_set(err, errno, "entry `%s`: truncate", path);
        return 0;
}

static int make_regular(struct ictx *c, struct archive *a, struct archive_entry *ae, int pfd,
                        const char *name, const char *path, struct ib_err **err)
{
        mode_t perm = archive_entry_perm(ae) & 0777;
        _cleanup_close_ int fd = -1;
        int r;

        for (int tries = 0;; tries++) {
                fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, perm);
                if (fd >= 0)
                        break;
                if (errno != EEXIST || tries)
                        return ib_err_set(err, errno, "entry `%s`: create", path);
                if (remove_existing(pfd, name, path, err) < 0)
                        return -EIO;
        }
        r = write_data(a, fd, archive_entry_size(ae), path, err);
        if (r < 0)
                return r;
        return apply_meta(c, ae, fd, pfd, name, path, perm & ~c->umask, err);
}

static int make_dir(struct ictx *c, struct archive_entry *ae, int pfd, const char *name,
                    const char *path, struct ib_err **err)
{
        uid_t uid;
        gid_t gid;
        struct stat st;

        if (mkdirat(pfd, name, 0700) < 0) {
                if (errno != EEXIST)
                        return ib_err_set(err, errno, "entry `%s`: mkdir", path);
                if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return ib_err_set(err, errno, "entry `%s`: stat", path);
                if (!S_ISDIR(st.st_mode)) {
                        if (remove_existing(pfd, name, path, err) < 0 || mkdirat(pfd, name, 0700) < 0)
                                return *err ? -EIO : ib_err_set(err, errno, "entry `%s`: mkdir", path);
                }
        }
        map_owner(c, path, archive_entry_uid(ae), archive_entry_gid(ae), &uid, &gid);
        if ((uid != c->euid || gid != c->egid) && fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 &&
            errno != EINVAL)
                return ib_err_set(err, errno, "entry `%s`: chown %u:%u", path, uid, gid);
        if (archive_entry_xattr_count(ae) > 0) {
                _cleanup_close_ int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return ib_err_set(err, errno, "entry `%s`: open", path);
                apply_xattrs(c, ae, fd, pfd, name, path);
        }
        /* mode and mtime at the end: children change the mtime, and a
         * read-only dir would refuse them */
        ib_grow(&c->dirs, &c->dirs_alloc, c->ndirs + 1, sizeof(*c->dirs));
        c->dirs[c->ndirs++] = (struct defer_dir) {
                .path = ib_strdup(path), .mode = archive_entry_perm(ae) & 07777, .mtime = entry_mtime(ae),
        };
        return 0;
}

static int make_node(struct ictx *c, struct archive_entry *ae, int pfd, const char *name,
                     const char *path, struct ib_err **err)
{
        mode_t type = archive_entry_filetype(ae), perm = archive_entry_perm(ae) & 0777;
        const char *target = archive_entry_symlink(ae);

        for (int tries = 0;; tries++) {
                int r;
                if (type == AE_IFLNK)
                        r = symlinkat(target ? target : "", pfd, name);
                else
                        r = mknodat(pfd, name, type | perm, type == AE_IFIFO ? 0 : archive_entry_rdev(ae));
                if (r == 0)
                        break;
                if (errno == EEXIST && !tries) {
                        if (remove_existing(pfd, name, path, err) < 0)
                                return -EIO;
                        continue;
                }
                if ((errno == EPERM || errno == EACCES) && (type == AE_IFCHR || type == AE_IFBLK)) {
                        if (c->st->devices_skipped < IB_IMPORT_EXAMPLES)
                                c->st->device_examples[c->st->devices_skipped] = ib_strdup(path);
                        c->st->devices_skipped++;
                        return 0;
                }
                return ib_err_set(err, errno, "entry `%s`: create", path);
        }
        return apply_meta(c, ae, -1, pfd, name, path, type == AE_IFLNK ? 0 : perm & ~c->umask, err);
}

static int make_hardlink(struct ictx *c, const char *link, int pfd, const char *name,
                         const char *path, struct ib_err **err)
{
        char **t = NULL;
        size_t tn = 0;
        _cleanup_close_ int tpfd = -1;
        int r = ib_split_path(link, &t, &tn, err);

        if (r < 0)
                return ib_err_wrap(err, "hardlink `%s`", path);
        if (tn == 0) {
                ib_comps_free(t, tn);
                return ib_err_set(err, 0, "hardlink `%s` -> `%s`: target is the layer root", path, link);
        }
        if (tn > 1) {
                _cleanup_free_ char *tparent = ib_comps_join(t, tn - 1);
                tpfd = open_nofollow(c->root_fd, tparent, O_PATH | O_DIRECTORY);
        } else {
                tpfd = fcntl(c->root_fd, F_DUPFD_CLOEXEC, 3);
        }
        for (int tries = 0; tpfd >= 0; tries++) {
                if (linkat(tpfd, t[tn - 1], pfd, name, 0) == 0) {
                        ib_comps_free(t, tn);
                        return 0;
                }
                if (errno != EEXIST || tries)
                        break;
                if (remove_existing(pfd, name, path, err) < 0) {
                        ib_comps_free(t, tn);
                        return -EIO;
                }
        }
        r = errno;
        ib_comps_free(t, tn);
        if (r == ENOENT || r == ELOOP || r == ENOTDIR || r == EXDEV)
                return ib_err_set(err, 0, "hardlink `%s` -> `%s`: the target is not an earlier entry "
                                  "of this layer", path, link);
        return ib_err_set(err, r, "hardlink `%s` -> `%s`", path, link);
}

static int make_whiteout(struct ictx *c, int pfd, size_t depth, const char *name, const char *path,
                         struct ib_err **err)
{
        const char *target = name + strlen(IB_WH_PREFIX);

        if (strcmp(name, IB_WH_OPAQUE) == 0) {
                if (depth > 0 && fsetxattr(pfd, IB_XATTR_OPAQUE, "y", 1, 0) < 0)
                        return ib_err_set(err, errno, "entry `%s`: mark the dir opaque (" IB_XATTR_OPAQUE ")", path);
                return 0;
        }
        if (ib_startswith(name, IB_WH_PREFIX IB_WH_PREFIX)) {   /* aufs bookkeeping (.wh..wh.plnk) */
                ib_debug("%s: ignoring `%s`", c->what, path);
                return 0;
        }
        if (!*target || strcmp(target, ".") == 0 || strcmp(target, "..") == 0)
                return ib_err_set(err, 0, "entry `%s`: invalid whiteout", path);
        for (int tries = 0;; tries++) {
                if (mknodat(pfd, target, S_IFCHR | 0, makedev(0, 0)) == 0)
                        return 0;
                if (errno != EEXIST || tries)
                        return ib_err_set(err, errno, "entry `%s`: create the whiteout (a 0:0 char device)", path);
                if (remove_existing(pfd, target, path, err) < 0)
                        return -EIO;
        }
}

/* A name no program in the container could open (longer than PATH_MAX), or
 * deeper than IB_LAYER_MAX_DEPTH, is refused before anything is created: the
 * parent chain holds one descriptor per level, and every message quotes the
 * name, so both must stay bounded.  Messages show the head of such a name. */
#define IB_LAYER_MAX_DEPTH 512
static int check_name_bounds(const char *raw, const char *link, struct ib_err **err)
{
        size_t len = strlen(raw), depth = 0;

        if (len >= PATH_MAX)
                return ib_err_set(err, 0, "entry `%.64s...` (%zu bytes): the name is longer than PATH_MAX (%d)",
                                  raw, len, PATH_MAX);
        for (const char *p = raw; *p; p++)
                depth += *p == '/' && p[1] && p[1] != '/';
        if (depth >= IB_LAYER_MAX_DEPTH)
                return ib_err_set(err, 0, "entry `%.64s...`: %zu levels deep, more than the %d allowed",
                                  raw, depth + 1, IB_LAYER_MAX_DEPTH);
        if (link && strlen(link) >= PATH_MAX)
                return ib_err_set(err, 0, "hardlink `%.64s...`: the target is longer than PATH_MAX (%d)",
                                  raw, PATH_MAX);
        return 0;
}

static int do_entry(struct ictx *c, struct archive *a, struct archive_entry *ae, struct ib_err **err)
{
        const char *raw = archive_entry_pathname(ae), *link = archive_entry_hardlink(ae);
        char **comps = NULL;
        size_t n = 0;
        int r, pfd;

        if (!raw)
                return ib_err_set(err, EINVAL, "an entry without a name");
        r = check_name_bounds(raw, link, err);
        if (r < 0)
                return r;
        r = ib_split_path(raw, &comps, &n, err);
        if (r < 0)
                return r;
        if (n == 0) {           /* the root itself: its attributes come from the upper dir */
                ib_comps_free(comps, n);
                return 0;
        }
        _cleanup_free_ char *path = ib_comps_join(comps, n);
        const char *name = comps[n - 1];
        ib_index_add(&c->index, path, name, ae);
        pfd = open_parent(c, comps, n - 1, raw, err);
        if (pfd < 0) {
                ib_comps_free(comps, n);
                return pfd;
        }
        if (ib_startswith(name, IB_WH_PREFIX))
                r = make_whiteout(c, pfd, n - 1, name, path, err);
        else if (link)
                r = make_hardlink(c, link, pfd, name, path, err);
        else switch (archive_entry_filetype(ae)) {
        case AE_IFREG:
                r = make_regular(c, a, ae, pfd, name, path, err);
                break;
        case AE_IFDIR:
                r = make_dir(c, ae, pfd, name, path, err);
                break;
        case AE_IFLNK:
        case AE_IFIFO:
        case AE_IFCHR:
        case AE_IFBLK:
                r = make_node(c, ae, pfd, name, path, err);
                break;
        case AE_IFSOCK:
                ib_debug("%s: skipping socket `%s`", c->what, path);
                break;
        default:
                r = ib_err_set(err, EINVAL, "entry `%s`: unknown file type 0%o", path,
                               (unsigned) archive_entry_filetype(ae));
        }
        ib_comps_free(comps, n);
        return r;
}

static int finish_dirs(struct ictx *c, struct ib_err **err)
{
        for (size_t i = 0; i < c->ndirs; i++) {
                struct defer_dir *d = &c->dirs[i];
                _cleanup_close_ int fd = open_nofollow(c->root_fd, d->path, O_RDONLY | O_DIRECTORY);
                if (fd < 0)
                        continue;       /* replaced by a later entry */
                struct timespec ts[2] = { { .tv_sec = d->mtime }, { .tv_sec = d->mtime } };
                if (fchmod(fd, d->mode) < 0 || futimens(fd, ts) < 0)
                        return ib_err_set(err, errno, "dir `%s`: set mode and times", d->path);
        }
        return 0;
}

static la_ssize_t read_cb(struct archive *a, void *ud, const void **buf)
{
        struct ictx *c = ud;
        ssize_t n = ib_zin_read(c->zin, buf, &c->read_err);
        if (n < 0) {
                archive_set_error(a, EIO, "%s", c->read_err ? c->read_err->msg : "read failed");
                return -1;
        }
        return n;
}

static int reader_fail(struct ictx *c, struct archive *a, struct ib_err **err)
{
        if (c->read_err) {
                ib_err_free(err);
                *err = IB_TAKE_PTR(c->read_err);
                return ib_err_code(*err);
        }
        return ib_err_set(err, 0, "malformed tar: %s", archive_error_string(a) ?: "read failed");
}

static void ictx_release(struct ictx *c)
{
        stack_pop_to(c, 0);
        free(c->names);
        free(c->fds);
        for (size_t i = 0; i < c->ndirs; i++)
                free(c->dirs[i].path);
        free(c->dirs);
        ib_err_free(&c->read_err);
        ib_buf_release(&c->index);
}

/* Extract the blob into @root_fd; verify both digests. */
static int extract(struct ictx *c, const char *digest, const char *diff_id, int blob_fd, struct ib_err **err)
{
        _cleanup_(ib_zin_freep) struct ib_zin *zin = NULL;
        _cleanup_free_ char *got_digest = NULL, *got_diff = NULL;
        struct archive *a;
        struct archive_entry *ae;
        int r;

        r = ib_zin_new(blob_fd, "blob", &zin, err);
        if (r == 0)
                r = ib_zin_start_thread(zin, err);
        if (r < 0)
                return r;
        c->zin = zin;
        a = archive_read_new();
        archive_read_support_format_tar(a);
        archive_read_support_format_empty(a);
        if (archive_read_open2(a, c, NULL, read_cb, NULL, NULL) != ARCHIVE_OK) {
                r = reader_fail(c, a, err);
                goto out;
        }
        for (;;) {
                int ar = archive_read_next_header(a, &ae);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar < ARCHIVE_WARN) {
                        r = reader_fail(c, a, err);
                        goto out;
                }
                c->st->entries++;
                r = do_entry(c, a, ae, err);
                if (r == -EIO && !*err)
                        r = reader_fail(c, a, err);
                if (r < 0)
                        goto out;
        }
        stack_pop_to(c, 0);
        r = finish_dirs(c, err);
        if (r < 0)
                goto out;
        r = ib_zin_drain(zin, err);
        if (r < 0)
                goto out;
        c->st->bytes = ib_zin_out_bytes(zin);
        got_diff = ib_zin_diff_id(zin);
        got_digest = ib_zin_blob_digest(zin);
        if (strcmp(got_digest, digest) != 0)
                r = ib_err_set(err, 0, "blob digest mismatch: the blob hashes to %s", got_digest);
        else if (strcmp(got_diff, diff_id) != 0)
                r = ib_err_set(err, 0, "diff_id mismatch: expected %s, the %s tar stream hashes to %s",
                               diff_id, ib_zin_format(zin), got_diff);
out:
        archive_read_free(a);
        return r;
}

void ib_import_stats_release(struct ib_import_stats *st)
{
        free(st->owner_example);
        for (size_t i = 0; i < IB_IMPORT_EXAMPLES; i++)
                free(st->device_examples[i]);
        free(st->xattr_example);
        *st = (struct ib_import_stats) { 0 };
}

char *ib_snapshot_layer_path(const struct ib_store *store, const char *diff_id)
{
        const char *hex;
        if (!ib_digest_parse(diff_id, &hex))
                return NULL;
        return ib_strdupf("%s/layers/%s", store->root, hex);
}

bool ib_snapshot_has_layer(const struct ib_store *store, const char *diff_id)
{
        _cleanup_free_ char *p = ib_snapshot_layer_path(store, diff_id);
        struct stat st;
        return p && lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int import_locked(struct ib_store *store, const char *digest, const char *diff_id,
                         const char *final, struct ib_import_stats *stats, struct ib_err **err)
{
        _cleanup_free_ char *blob = ib_store_blob_path(store, digest), *tmp = NULL;
        _cleanup_close_ int blob_fd = -1, root_fd = -1;
        struct ictx c = { .what = digest, .st = stats };
        int r;

        blob_fd = blob ? open(blob, O_RDONLY | O_CLOEXEC) : -1;
        if (blob_fd < 0)
                return ib_err_set(err, blob ? errno : EINVAL, "blob `%s`", blob ? blob : digest);
        tmp = ib_store_tmp_path(store, "layer");
        if (mkdir(tmp, 0755) < 0)
                return ib_err_set(err, errno, "mkdir `%s`", tmp);
        root_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0) {
                r = ib_err_set(err, errno, "open `%s`", tmp);
                goto fail;
        }
        c.root_fd = root_fd;
        c.euid = geteuid();
        c.egid = getegid();
        c.umask = umask(022);
        umask(c.umask);
        idmap_load(&c.uids, "/proc/self/uid_map");
        idmap_load(&c.gids, "/proc/self/gid_map");
        ib_debug("%s: extracting into `%s`", digest, tmp);
        locale_t old = ib_utf8_locale_enter();
        r = extract(&c, digest, diff_id, blob_fd, err);
        ib_utf8_locale_leave(old);
        if (r == 0)     /* next to the layer, before it is published */
                r = ib_index_write(store, diff_id, &c.index, err);
        ictx_release(&c);
        if (r < 0)
                goto fail;
        /* one sync for the whole layer instead of one per file */
        if (syncfs(root_fd) < 0) {
                r = ib_err_set(err, errno, "syncfs `%s`", tmp);
                goto fail;
        }
        if (rename(tmp, final) < 0) {
                r = ib_err_set(err, errno, "rename `%s` to `%s`", tmp, final);
                goto fail;
        }
        stats->extracted = true;
        return 0;
fail:
        {
                _cleanup_err_ struct ib_err *e2 = NULL;
                (void) ib_rm_rf(tmp, &e2);
        }
        return r;
}

int ib_snapshot_import(struct ib_store *store, const char *digest, const char *diff_id,
                       char **ret_dir, struct ib_import_stats *stats, struct ib_err **err)
{
        struct ib_import_stats local = { 0 };
        _cleanup_free_ char *final = NULL, *lock = NULL;
        _cleanup_close_ int lock_fd = -1;
        const char *hex, *dhex;
        int r = 0;

        if (!ib_digest_parse(digest, &dhex))
                return ib_err_set(err, EINVAL, "layer `%s`: not a sha256 digest", digest);
        if (!ib_digest_parse(diff_id, &hex))
                return ib_err_set(err, EINVAL, "layer %s: diff_id `%s` is not a sha256 digest", digest, diff_id);
        if (!stats)
                stats = &local;
        ib_store_touch_used(store, IB_STORE_LAYER, diff_id);   /* before the lookup: see lib/ib.h */
        final = ib_strdupf("%s/layers/%s", store->root, hex);
        if (!ib_snapshot_has_layer(store, diff_id)) {
                lock = ib_strdupf("%s.lock", final);
                lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
                if (lock_fd < 0)
                        return ib_err_set(err, errno, "layer %s: open `%s`", digest, lock);
                if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
                        stats->waited = true;
                        ib_debug("layer %s: another process is importing it, waiting", digest);
                        while (flock(lock_fd, LOCK_EX) < 0)
                                if (errno != EINTR)
                                        return ib_err_set(err, errno, "layer %s: lock `%s`", digest, lock);
                }
                if (!ib_snapshot_has_layer(store, diff_id))
                        r = import_locked(store, digest, diff_id, final, stats, err);
        }
        if (r < 0) {
                r = ib_err_wrap(err, "layer %s", digest);
        } else if (ret_dir) {
                *ret_dir = IB_TAKE_PTR(final);
        }
        if (stats == &local)
                ib_import_stats_release(&local);
        return r;
}

int ib_snapshot_publish_dir(struct ib_store *store, const char *dir, const char *diff_id,
                            char **ret_dir, struct ib_err **err)
{
        _cleanup_free_ char *final = ib_snapshot_layer_path(store, diff_id);

        if (!final)
                return ib_err_set(err, EINVAL, "diff_id `%s` is not a sha256 digest", diff_id);
        ib_store_touch_used(store, IB_STORE_LAYER, diff_id);
        /* A RUN's upper dir was written through a volatile overlay (no syncs):
         * one syncfs makes its content durable before it takes its final name. */
        if (syncfs(store->root_fd) < 0)
                return ib_err_set(err, errno, "syncfs `%s`", store->root);
        if (rename(dir, final) < 0) {
                /* ENOTEMPTY/EEXIST: the same layer is there already: ours is a duplicate */
                if (errno != ENOTEMPTY && errno != EEXIST)
                        return ib_err_set(err, errno, "publish `%s` as `%s`", dir, final);
                if (ib_rm_rf(dir, err) < 0)
                        return ib_err_wrap(err, "publish `%s`", dir);
        }
        if (ret_dir)
                *ret_dir = IB_TAKE_PTR(final);
        return 0;
}
