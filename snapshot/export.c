/* snapshot/export.c - overlay-form dir -> OCI layer blob, in one pass.
 *
 * Only the given dir is walked (a RUN's upper dir or a COPY layer), so the cost
 * follows the change, never the lower stack.  The walk collects every entry
 * with its tar name, then sorts by those names (byte order; a parent is a
 * prefix of its children, so it always comes first).  Hardlinks are grouped by
 * (dev, ino): the first in tar order carries the data, the others link to it.
 *
 * Stream: libarchive (pax) -> write_cb -> SHA-256 (diff_id) -> compressor ->
 * blob writer (SHA-256 = digest, size) -> blobs/sha256/.  The tar never exists
 * uncompressed on disk.
 *
 * Reproducibility: numeric owners only (no names); mtimes in whole seconds,
 * clamped to SOURCE_DATE_EPOCH when asked; no atime/ctime (never set on the
 * entries, so libarchive's pax writer has none to emit); xattrs in name order. */
#include "snapshot/internal.h"
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

enum xkind { X_NORMAL, X_WHITEOUT, X_OPAQUE };

struct xent {
        char *tar_path;         /* name in the tar */
        char *src;              /* path below the exported dir */
        struct stat st;
        enum xkind kind;
        const char *link_to;    /* hardlink target (another entry's tar_path) */
};

struct xwalk {
        const char *dir;
        struct xent *v;
        size_t n, alloc;
};

struct xout {
        struct ib_sha256 *diff;
        struct ib_zout *z;
        struct ib_err *err;     /* an error from the write callback */
        double compress_seconds;
};

bool ib_is_overlay_xattr(const char *name)
{
        return ib_startswith(name, "trusted.overlay.") || ib_startswith(name, "user.overlay.");
}

static bool is_whiteout(const struct stat *st)
{
        return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static struct xent *xadd(struct xwalk *w, char *tar_path, char *src, const struct stat *st, enum xkind kind)
{
        ib_grow(&w->v, &w->alloc, w->n + 1, sizeof(*w->v));
        struct xent *e = &w->v[w->n++];
        *e = (struct xent) { .tar_path = tar_path, .src = src, .st = *st, .kind = kind };
        return e;
}

static bool xattr_is_y(int fd, const char *name)
{
        char v[4];
        ssize_t n = fgetxattr(fd, name, v, sizeof(v));
        return n == 1 && v[0] == 'y';
}

static int walk(struct xwalk *w, int dfd, const char *prefix, struct ib_err **err)
{
        int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        struct dirent *de;
        int r = 0;

        if (!d) {
                if (fd >= 0)
                        close(fd);
                return ib_err_set(err, errno, "open `%s/%s`", w->dir, prefix);
        }
        while ((errno = 0, de = readdir(d))) {
                const char *name = de->d_name;
                struct stat st;

                if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                        continue;
                char *src = ib_strdupf("%s%s", prefix, name);
                if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = ib_err_set(err, errno, "stat `%s/%s`", w->dir, src);
                        free(src);
                        break;
                }
                if (S_ISSOCK(st.st_mode)) {
                        ib_debug("export: skipping socket `%s`", src);
                        free(src);
                        continue;
                }
                if (is_whiteout(&st)) {
                        xadd(w, ib_strdupf("%s" IB_WH_PREFIX "%s", prefix, name), src, &st, X_WHITEOUT);
                        continue;
                }
                xadd(w, ib_strdup(src), src, &st, X_NORMAL);
                if (!S_ISDIR(st.st_mode))
                        continue;
                _cleanup_close_ int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0) {
                        r = ib_err_set(err, errno, "open `%s/%s`", w->dir, src);
                        break;
                }
                if (xattr_is_y(sub, "user.overlay.opaque") || xattr_is_y(sub, "trusted.overlay.opaque"))
                        xadd(w, ib_strdupf("%s/" IB_WH_OPAQUE, src), NULL, &st, X_OPAQUE);
                _cleanup_free_ char *sub_prefix = ib_strdupf("%s/", src);
                r = walk(w, sub, sub_prefix, err);
                if (r < 0)
                        break;
        }
        if (r == 0 && errno)
                r = ib_err_set(err, errno, "readdir `%s/%s`", w->dir, prefix);
        closedir(d);
        return r;
}

static int cmp_tar_path(const void *a, const void *b)
{
        return strcmp(((const struct xent *) a)->tar_path, ((const struct xent *) b)->tar_path);
}

static int cmp_inode(const void *a, const void *b)
{
        const struct xent *x = *(struct xent *const *) a, *y = *(struct xent *const *) b;
        if (x->st.st_dev != y->st.st_dev)
                return x->st.st_dev < y->st.st_dev ? -1 : 1;
        if (x->st.st_ino != y->st.st_ino)
                return x->st.st_ino < y->st.st_ino ? -1 : 1;
        return x < y ? -1 : x > y;      /* tar order: the array is already sorted */
}

/* Within each group of names for one inode, the first in tar order carries the data. */
static void link_hardlinks(struct xwalk *w)
{
        _cleanup_free_ struct xent **c = NULL;
        size_t n = 0, alloc = 0;

        for (size_t i = 0; i < w->n; i++) {
                struct xent *e = &w->v[i];
                if (e->kind == X_NORMAL && !S_ISDIR(e->st.st_mode) && e->st.st_nlink > 1) {
                        ib_grow(&c, &alloc, n + 1, sizeof(*c));
                        c[n++] = e;
                }
        }
        if (n < 2)
                return;
        qsort(c, n, sizeof(*c), cmp_inode);
        for (size_t i = 1, g = 0; i < n; i++) {
                if (c[i]->st.st_dev == c[g]->st.st_dev && c[i]->st.st_ino == c[g]->st.st_ino)
                        c[i]->link_to = c[g]->tar_path;
                else
                        g = i;
        }
}

static la_ssize_t write_cb(struct archive *a, void *ud, const void *buf, size_t n)
{
        struct xout *o = ud;
        double t = ib_now();
        int r;

        ib_sha256_update(o->diff, buf, n);
        r = ib_zout_write(o->z, buf, n, &o->err);
        o->compress_seconds += ib_now() - t;    /* per 64 KiB block: the clock costs nothing */
        if (r < 0) {
                archive_set_error(a, EIO, "compression failed");
                return -1;
        }
        return (la_ssize_t) n;
}

static int archive_fail(struct archive *a, struct xout *o, struct ib_err **err, const char *what)
{
        if (o->err) {
                ib_err_free(err);
                *err = IB_TAKE_PTR(o->err);
                return ib_err_wrap(err, "%s", what);
        }
        int e = archive_errno(a);
        return ib_err_set(err, e > 0 ? e : EIO, "%s: %s", what, archive_error_string(a) ?: "tar writer failed");
}

struct xattr_kv {
        char *name;
        char *value;
        size_t len;
};

static int cmp_xattr(const void *a, const void *b)
{
        return strcmp(((const struct xattr_kv *) a)->name, ((const struct xattr_kv *) b)->name);
}

/* Copy the xattrs of @fd (or of @path when fd < 0) into @ae, overlay's own left out. */
static int add_xattrs(struct archive_entry *ae, int fd, const char *path, struct ib_err **err)
{
        char names[65536];
        ssize_t n = fd >= 0 ? flistxattr(fd, names, sizeof(names)) : llistxattr(path, names, sizeof(names));
        struct xattr_kv kv[256];
        size_t nkv = 0;
        int r = 0;

        if (n < 0)
                return errno == ENOTSUP ? 0 : ib_err_set(err, errno, "list xattrs of `%s`", path);
        for (char *p = names; p < names + n && nkv < IB_ELEMENTSOF(kv); p += strlen(p) + 1) {
                if (ib_is_overlay_xattr(p)) {
                        if (ib_endswith(p, ".overlay.redirect") || ib_endswith(p, ".overlay.metacopy"))
                                return ib_err_set(err, ENOTSUP, "`%s` has %s: overlay redirect/metacopy "
                                                  "cannot be exported (mount with redirect_dir=off,metacopy=off)", path, p);
                        continue;
                }
                char val[65536];
                ssize_t vn = fd >= 0 ? fgetxattr(fd, p, val, sizeof(val)) : lgetxattr(path, p, val, sizeof(val));
                if (vn < 0) {
                        if (errno == ENODATA)
                                continue;
                        r = ib_err_set(err, errno, "read xattr %s of `%s`", p, path);
                        break;
                }
                kv[nkv].name = p;
                kv[nkv].value = ib_malloc((size_t) vn + 1);
                memcpy(kv[nkv].value, val, (size_t) vn);
                kv[nkv].len = (size_t) vn;
                nkv++;
        }
        qsort(kv, nkv, sizeof(*kv), cmp_xattr);
        for (size_t i = 0; i < nkv; i++) {
                if (r == 0)
                        archive_entry_xattr_add_entry(ae, kv[i].name, kv[i].value, kv[i].len);
                free(kv[i].value);
        }
        return r;
}

struct xctx {
        struct archive *a;
        struct xout *o;
        int root_fd;
        const char *dir;
        const struct ib_export_opts *opts;
        char *buf;
};

#define XBUF (1024 * 1024)

static int64_t clamp_mtime(const struct xctx *x, int64_t t)
{
        if (x->opts->reproducible && t > x->opts->source_date_epoch)
                return x->opts->source_date_epoch;
        return t;
}

static int copy_data(struct xctx *x, int fd, const struct xent *e, const char *path, struct ib_err **err)
{
        int64_t left = e->st.st_size;
        while (left > 0) {
                ssize_t n = read(fd, x->buf, left < XBUF ? (size_t) left : XBUF);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return ib_err_set(err, errno, "read `%s`", path);
                if (n == 0)
                        return ib_err_set(err, EIO, "`%s` shrank while being exported", path);
                if (archive_write_data(x->a, x->buf, (size_t) n) != n)
                        return archive_fail(x->a, x->o, err, path);
                left -= n;
        }
        return 0;
}

static int emit(struct xctx *x, const struct xent *e, struct ib_err **err)
{
        _cleanup_free_ char *path = ib_strdupf("%s/%s", x->dir, e->src ? e->src : e->tar_path);
        _cleanup_close_ int fd = -1;
        struct archive_entry *ae = archive_entry_new();
        struct stat st = e->st;
        int r = 0;

        archive_entry_set_pathname(ae, e->tar_path);
        archive_entry_set_mtime(ae, clamp_mtime(x, st.st_mtim.tv_sec), 0);
        if (e->kind != X_NORMAL) {      /* whiteout or opaque marker: an empty file */
                archive_entry_set_filetype(ae, AE_IFREG);
                archive_entry_set_perm(ae, 0644);
                archive_entry_set_size(ae, 0);
                goto write_header;
        }
        archive_entry_set_uid(ae, st.st_uid);
        archive_entry_set_gid(ae, st.st_gid);
        archive_entry_set_perm(ae, st.st_mode & 07777);
        if (e->link_to) {
                archive_entry_set_filetype(ae, AE_IFREG);
                archive_entry_set_hardlink(ae, e->link_to);
                archive_entry_set_size(ae, 0);
                goto write_header;
        }
        archive_entry_set_filetype(ae, st.st_mode & S_IFMT);
        if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
                fd = openat(x->root_fd, e->src, (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0) |
                            O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
                if (fd < 0) {
                        r = ib_err_set(err, errno, "open `%s`", path);
                        goto out;
                }
                if (S_ISREG(st.st_mode) && fstat(fd, &st) < 0) {
                        r = ib_err_set(err, errno, "stat `%s`", path);
                        goto out;
                }
        }
        archive_entry_set_size(ae, S_ISREG(st.st_mode) ? st.st_size : 0);
        if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX + 1];
                ssize_t n = readlinkat(x->root_fd, e->src, target, PATH_MAX);
                if (n < 0) {
                        r = ib_err_set(err, errno, "readlink `%s`", path);
                        goto out;
                }
                target[n] = '\0';
                archive_entry_set_symlink(ae, target);
        }
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
                archive_entry_set_rdev(ae, st.st_rdev);
        r = add_xattrs(ae, fd, path, err);
        if (r < 0)
                goto out;
write_header:
        /* ARCHIVE_WARN: a name that is not UTF-8, written as bytes (hdrcharset=BINARY) */
        if (archive_write_header(x->a, ae) < ARCHIVE_WARN) {
                r = archive_fail(x->a, x->o, err, path);
                goto out;
        }
        if (fd >= 0 && S_ISREG(st.st_mode) && !e->link_to)
                r = copy_data(x, fd, e, path, err);
        if (fd >= 0 && S_ISREG(st.st_mode) && r == 0) {
                struct stat after;
                if (fstat(fd, &after) == 0 && after.st_size != e->st.st_size && after.st_size != st.st_size)
                        r = ib_err_set(err, EIO, "`%s` changed while being exported", path);
        }
out:
        archive_entry_free(ae);
        return r;
}

void ib_layer_desc_release(struct ib_layer_desc *d)
{
        free(d->diff_id);
        free(d->digest);
        *d = (struct ib_layer_desc) { 0 };
}

static void xwalk_release(struct xwalk *w)
{
        for (size_t i = 0; i < w->n; i++) {
                if (w->v[i].tar_path != w->v[i].src)
                        free(w->v[i].tar_path);
                free(w->v[i].src);
        }
        free(w->v);
}

static int export_stream(struct ib_store *store, const char *dir, int root_fd, struct xwalk *w,
                         const struct ib_export_opts *opts, struct ib_layer_desc *ret, struct ib_err **err)
{
        _cleanup_(ib_blob_writer_freep) struct ib_blob_writer *bw = NULL;
        _cleanup_(ib_zout_freep) struct ib_zout *z = NULL;
        _cleanup_(ib_sha256_freep) struct ib_sha256 *diff = ib_sha256_new();
        _cleanup_free_ char *buf = ib_malloc(XBUF), *digest = NULL;
        struct xout o = { .diff = diff };
        struct archive *a = NULL;
        char hex[IB_SHA256_HEX];
        int r;

        r = ib_blob_writer_new(store, &bw, err);
        if (r < 0)
                return r;
        r = ib_zout_new(opts->compression, opts->level, bw, &z, err);
        if (r < 0)
                return r;
        o.z = z;
        a = archive_write_new();
        archive_write_set_format_pax(a);
        /* One xattr spelling (SCHILY, what Go, GNU tar and docker read), not two. */
        (void) archive_write_set_format_option(a, "pax", "xattrheader", "SCHILY");
        archive_write_set_bytes_per_block(a, 64 * 1024);
        archive_write_set_bytes_in_last_block(a, 1);    /* no padding past the end marker */
        if (archive_write_open2(a, &o, NULL, write_cb, NULL, NULL) != ARCHIVE_OK) {
                r = archive_fail(a, &o, err, "tar writer");
                goto out;
        }
        struct xctx x = { .a = a, .o = &o, .root_fd = root_fd, .dir = dir, .opts = opts, .buf = buf };
        for (size_t i = 0; i < w->n; i++) {
                r = emit(&x, &w->v[i], err);
                if (r < 0)
                        goto out;
        }
        if (archive_write_close(a) != ARCHIVE_OK) {
                r = archive_fail(a, &o, err, "tar writer");
                goto out;
        }
        double t = ib_now();
        r = ib_zout_finish(z, err);
        o.compress_seconds += ib_now() - t;
        if (r < 0)
                goto out;
        r = ib_blob_writer_commit(bw, NULL, &digest, err);
        if (r < 0)
                goto out;
        ib_sha256_final_hex(diff, hex);
        ret->diff_id = ib_strdupf("sha256:%s", hex);
        ret->digest = IB_TAKE_PTR(digest);
        ret->size = ib_blob_writer_size(bw);
        ret->media_type = ib_compression_media_type(opts->compression);
        ret->entries = w->n;
        ret->compress_seconds = o.compress_seconds;
out:
        archive_write_free(a);
        ib_err_free(&o.err);
        return r;
}

int ib_snapshot_export(struct ib_store *store, const char *dir, const struct ib_export_opts *opts,
                       struct ib_layer_desc *ret, struct ib_err **err)
{
        static const struct ib_export_opts defaults = IB_EXPORT_OPTS_INIT;
        _cleanup_close_ int root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct xwalk w = { .dir = dir };
        int r;

        if (!opts)
                opts = &defaults;
        if (root_fd < 0)
                return ib_err_set(err, errno, "export `%s`: open", dir);
        r = walk(&w, root_fd, "", err);
        if (r == 0) {
                qsort(w.v, w.n, sizeof(*w.v), cmp_tar_path);
                link_hardlinks(&w);
                locale_t old = ib_utf8_locale_enter();
                r = export_stream(store, dir, root_fd, &w, opts, ret, err);
                ib_utf8_locale_leave(old);
        }
        xwalk_release(&w);
        if (r < 0)
                return ib_err_wrap(err, "export `%s`", dir);
        return 0;
}
