/* src/context.c - build contexts (directory, tar, stdin), their walker, and
 * the secure tar extraction shared with ADD. */
#include "src/context-int.h"
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

struct ib_context {
        char *path;             /* absolute root */
        int fd;                 /* O_PATH | O_DIRECTORY */
        bool scratch;           /* extracted tar: ours to delete */
        struct ib_file_index *index;
};

void ib_strv_pushf(char ***v, const char *fmt, ...)
{
        _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;
        va_list ap;

        va_start(ap, fmt);
        ib_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        ib_strv_push(v, b.buf);
}

int ib_err_archive(struct ib_err **err, struct archive *a, const char *what)
{
        int e = archive_errno(a);
        const char *s = archive_error_string(a);
        return ib_err_set(err, e > 0 ? e : 0, "%s: %s", what, s ? s : "unknown libarchive error");
}

void ib_archive_read_tar_support(struct archive *a)
{
        /* Only in-process decompressors: filter_all would let a hostile file
         * with, say, an lrzip signature make libarchive run an external program. */
        archive_read_support_filter_gzip(a);
        archive_read_support_filter_bzip2(a);
        archive_read_support_filter_xz(a);
        archive_read_support_filter_lzma(a);
        archive_read_support_filter_zstd(a);
        archive_read_support_format_tar(a);
        archive_read_support_format_gnutar(a);
}

/* ------------------------------------------------------------- xattrs */

bool ib_xattr_copyable(const char *name)
{
        /* Overlay's own attributes would change what the layer means (opaque
         * dirs, redirects); SELinux labels belong to the host. */
        return !strstr(name, ".overlay.") && !ib_startswith(name, "user.fuseoverlayfs.") &&
               strcmp(name, "security.selinux") != 0;
}

void ib_copy_xattrs(int src_fd, int dst_fd, uint64_t *skipped)
{
        char names[4096], val[65536];
        ssize_t n = flistxattr(src_fd, names, sizeof(names));

        for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t) strlen(names + off) + 1) {
                const char *name = names + off;
                if (!ib_xattr_copyable(name))
                        continue;
                ssize_t vl = fgetxattr(src_fd, name, val, sizeof(val));
                if (vl < 0 || fsetxattr(dst_fd, name, val, (size_t) vl, 0) < 0)
                        (*skipped)++;
        }
}

/* ------------------------------------------------------ secure untar */

/* Normalise an archive path: drop leading `/` and `.` components and empty
 * ones; -EXDEV for `..`.  "" means the root itself. */
static int norm_entry_path(const char *in, char **ret)
{
        _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;
        const char *p = in;

        while (*p) {
                const char *s = strchr(p, '/');
                size_t n = s ? (size_t) (s - p) : strlen(p);
                if (n == 2 && p[0] == '.' && p[1] == '.')
                        return -EXDEV;
                if (n && !(n == 1 && p[0] == '.')) {
                        if (b.len)
                                ib_buf_addc(&b, '/');
                        ib_buf_add(&b, p, n);
                }
                p += n;
                while (*p == '/')
                        p++;
        }
        *ret = ib_buf_detach(&b);
        return 0;
}

/* Open (creating missing ones 0755) the directory @rel below @root_fd, never
 * through a symlink.  @rel "" is the root. */
static int open_dir_nofollow(int root_fd, const char *rel, bool create, struct ib_err **err)
{
        _cleanup_free_ char *copy = ib_strdup(rel);
        int cur = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        char *save = NULL;

        if (cur < 0)
                return ib_err_set(err, errno, "dup");
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                int fd = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 && errno == ENOENT && create) {
                        if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST) {
                                close(cur);
                                return ib_err_set(err, errno, "mkdir `%s`", rel);
                        }
                        fd = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                }
                if (fd < 0) {
                        int e = errno == ELOOP ? ENOTDIR : errno;
                        close(cur);
                        return ib_err_set(err, e, "`%s`: a parent is missing, a symlink or not a directory", rel);
                }
                close(cur);
                cur = fd;
        }
        return cur;
}

int ib_open_dir_beneath(int root_fd, const char *rel, struct ib_err **err)
{
        struct open_how how = {
                .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        int fd;

        if (!*rel)
                rel = ".";
        fd = (int) syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
        if (fd < 0 && (errno == ENOSYS || errno == EPERM))
                return open_dir_nofollow(root_fd, strcmp(rel, ".") ? rel : "", false, err);
        if (fd < 0)
                return ib_err_set(err, errno == ELOOP ? ENOTDIR : errno, "open `%s`", rel);
        return fd;
}

static void split_parent(const char *rel, char **dir, const char **name)
{
        const char *s = strrchr(rel, '/');
        *dir = s ? ib_strndup(rel, (size_t) (s - rel)) : ib_strdup("");
        *name = s ? s + 1 : rel;
}

struct dir_meta {
        char *rel;
        mode_t mode;
        uid_t uid;
        gid_t gid;
        struct timespec mtime;
};

static void entry_owner(const struct ib_untar_opts *o, struct archive_entry *ae, uid_t *uid, gid_t *gid, bool *set)
{
        *set = o->chown || o->same_owner;
        *uid = o->chown ? o->uid : (uid_t) archive_entry_uid(ae);
        *gid = o->chown ? o->gid : (gid_t) archive_entry_gid(ae);
}

static mode_t entry_mode(const struct ib_untar_opts *o, struct archive_entry *ae, bool is_dir)
{
        mode_t m = archive_entry_perm(ae) & 07777;
        return o->chmod ? ib_chmod_apply(o->chmod, m, is_dir) : m;
}

static void apply_archive_xattrs(struct archive_entry *ae, int fd, struct ib_copy_stats *stats)
{
        const char *name;
        const void *val;
        size_t len;

        archive_entry_xattr_reset(ae);
        while (archive_entry_xattr_next(ae, &name, &val, &len) == ARCHIVE_OK)
                if (ib_xattr_copyable(name) && fsetxattr(fd, name, val, len, 0) < 0)
                        stats->xattrs_skipped++;
}

static int untar_file(struct archive *a, struct archive_entry *ae, int pfd, const char *name, const char *rel,
                      const struct ib_untar_opts *o, struct ib_copy_stats *stats, struct ib_err **err)
{
        _cleanup_close_ int fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        const void *buf;
        size_t len;
        la_int64_t off;
        uid_t uid;
        gid_t gid;
        bool own;
        int r;

        if (fd < 0)
                return ib_err_set(err, errno, "%s: create `%s`", o->what, rel);
        while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
                if (pwrite(fd, buf, len, off) != (ssize_t) len)
                        return ib_err_set(err, errno ? errno : EIO, "%s: write `%s`", o->what, rel);
                stats->bytes += len;
        }
        if (r != ARCHIVE_EOF)
                return ib_err_archive(err, a, o->what);
        if (ftruncate(fd, archive_entry_size(ae)) < 0)
                return ib_err_set(err, errno, "%s: truncate `%s`", o->what, rel);
        entry_owner(o, ae, &uid, &gid, &own);
        if (own && fchown(fd, uid, gid) < 0)
                return ib_err_set(err, errno, "%s: chown `%s` to %u:%u", o->what, rel, uid, gid);
        if (fchmod(fd, entry_mode(o, ae, false)) < 0)
                return ib_err_set(err, errno, "%s: chmod `%s`", o->what, rel);
        apply_archive_xattrs(ae, fd, stats);
        struct timespec ts[2] = { { archive_entry_mtime(ae), archive_entry_mtime_nsec(ae) },
                                  { archive_entry_mtime(ae), archive_entry_mtime_nsec(ae) } };
        (void) futimens(fd, ts);
        stats->files++;
        return 0;
}

static int untar_hardlink(struct archive_entry *ae, int root_fd, int pfd, const char *name, const char *rel,
                          const struct ib_untar_opts *o, struct ib_copy_stats *stats, struct ib_err **err)
{
        _cleanup_free_ char *target = NULL, *tdir = NULL;
        const char *tname;
        struct stat st;

        if (norm_entry_path(archive_entry_hardlink(ae), &target) < 0 || !*target)
                return ib_err_set(err, EXDEV, "%s: hardlink `%s` points outside", o->what, rel);
        split_parent(target, &tdir, &tname);
        _cleanup_close_ int tfd = open_dir_nofollow(root_fd, tdir, false, err);
        if (tfd < 0)
                return ib_err_wrap(err, "%s: hardlink `%s`", o->what, rel);
        if (fstatat(tfd, tname, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                return ib_err_set(err, EINVAL, "%s: hardlink `%s` to `%s`: not an extracted regular file",
                                  o->what, rel, target);
        if (linkat(tfd, tname, pfd, name, 0) < 0)
                return ib_err_set(err, errno, "%s: link `%s` to `%s`", o->what, rel, target);
        stats->hardlinks++;
        return 0;
}

static int untar_entry(struct archive *a, struct archive_entry *ae, int root_fd, const struct ib_untar_opts *o,
                       struct ib_copy_stats *stats, struct dir_meta **dirs, size_t *ndirs, size_t *adirs,
                       struct ib_err **err)
{
        _cleanup_free_ char *rel = NULL, *pdir = NULL;
        const char *name;
        mode_t type = archive_entry_filetype(ae);
        struct stat st;
        uid_t uid;
        gid_t gid;
        bool own;

        if (norm_entry_path(archive_entry_pathname(ae), &rel) < 0)
                return ib_err_set(err, EXDEV, "%s: entry `%s` climbs out with `..`", o->what,
                                  archive_entry_pathname(ae));
        if (!*rel)
                return 0;       /* "./": the root itself keeps its metadata */
        split_parent(rel, &pdir, &name);
        _cleanup_close_ int pfd = open_dir_nofollow(root_fd, pdir, true, err);
        if (pfd < 0)
                return ib_err_wrap(err, "%s: entry `%s`", o->what, rel);
        /* Later entries replace earlier ones, as tar does; dirs merge. */
        if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !(S_ISDIR(st.st_mode) && type == AE_IFDIR)) {
                _cleanup_err_ struct ib_err *e = NULL;
                if (ib_rm_rf_at(pfd, name, &e) < 0)
                        return ib_err_set(err, -ib_err_code(e), "%s: replace `%s`", o->what, rel);
        }
        if (archive_entry_hardlink(ae))
                return untar_hardlink(ae, root_fd, pfd, name, rel, o, stats, err);
        entry_owner(o, ae, &uid, &gid, &own);
        switch (type) {
        case AE_IFREG:
                return untar_file(a, ae, pfd, name, rel, o, stats, err);
        case AE_IFDIR:
                if (mkdirat(pfd, name, 0700) < 0 && errno != EEXIST)
                        return ib_err_set(err, errno, "%s: mkdir `%s`", o->what, rel);
                ib_grow(dirs, adirs, *ndirs + 1, sizeof(**dirs));
                (*dirs)[(*ndirs)++] = (struct dir_meta) {
                        .rel = IB_TAKE_PTR(rel), .mode = entry_mode(o, ae, true),
                        .uid = own ? uid : (uid_t) -1, .gid = own ? gid : (gid_t) -1,
                        .mtime = { archive_entry_mtime(ae), archive_entry_mtime_nsec(ae) } };
                stats->dirs++;
                return 0;
        case AE_IFLNK: {
                struct timespec ts[2] = { { archive_entry_mtime(ae), archive_entry_mtime_nsec(ae) },
                                          { archive_entry_mtime(ae), archive_entry_mtime_nsec(ae) } };
                if (symlinkat(archive_entry_symlink(ae), pfd, name) < 0)
                        return ib_err_set(err, errno, "%s: symlink `%s`", o->what, rel);
                if (own && fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return ib_err_set(err, errno, "%s: chown `%s`", o->what, rel);
                (void) utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
                stats->symlinks++;
                return 0;
        }
        default:
                ib_strv_pushf(&stats->warnings, "%s: skipped special file `%s`", o->what, rel);
                return 0;
        }
}

/* Directory metadata last, deepest first, so creating children does not
 * disturb mtimes and read-only dirs do not block their own filling. */
static int untar_finish_dirs(int root_fd, struct dir_meta *dirs, size_t n, const struct ib_untar_opts *o,
                             struct ib_err **err)
{
        for (size_t i = n; i-- > 0;) {
                _cleanup_err_ struct ib_err *e = NULL;
                _cleanup_close_ int fd = open_dir_nofollow(root_fd, dirs[i].rel, false, &e);
                if (fd < 0)
                        continue;       /* replaced by a later entry */
                if (dirs[i].uid != (uid_t) -1 && fchown(fd, dirs[i].uid, dirs[i].gid) < 0)
                        return ib_err_set(err, errno, "%s: chown `%s`", o->what, dirs[i].rel);
                if (fchmod(fd, dirs[i].mode) < 0)
                        return ib_err_set(err, errno, "%s: chmod `%s`", o->what, dirs[i].rel);
                struct timespec ts[2] = { dirs[i].mtime, dirs[i].mtime };
                (void) futimens(fd, ts);
        }
        return 0;
}

int ib_untar(struct archive *a, int root_fd, const struct ib_untar_opts *o, struct ib_copy_stats *stats,
             struct ib_err **err)
{
        struct dir_meta *dirs = NULL;
        size_t ndirs = 0, adirs = 0;
        struct archive_entry *ae;
        int r = 0, ar;

        while ((ar = archive_read_next_header(a, &ae)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
                r = untar_entry(a, ae, root_fd, o, stats, &dirs, &ndirs, &adirs, err);
                if (r < 0)
                        break;
        }
        if (r == 0 && ar != ARCHIVE_EOF)
                r = ib_err_archive(err, a, o->what);
        if (r == 0)
                r = untar_finish_dirs(root_fd, dirs, ndirs, o, err);
        for (size_t i = 0; i < ndirs; i++)
                free(dirs[i].rel);
        free(dirs);
        return r;
}

/* ------------------------------------------------------------ contexts */

static int open_tar_context(const char *file, struct ib_store *store, struct ib_context *c, struct ib_err **err)
{
        struct archive *a;
        struct ib_untar_opts o = { .what = NULL };
        struct ib_copy_stats stats = { 0 };
        _cleanup_free_ char *what = ib_strdupf("context `%s`", file ? file : "-");
        int r;

        if (!store)
                return ib_err_set(err, EINVAL, "%s: a tar context needs a store", what);
        o.what = what;
        c->path = ib_store_tmp_path(store, "context");
        c->scratch = true;
        if (mkdir(c->path, 0755) < 0)
                return ib_err_set(err, errno, "mkdir `%s`", c->path);
        _cleanup_close_ int dfd = open(c->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return ib_err_set(err, errno, "open `%s`", c->path);
        a = archive_read_new();
        ib_archive_read_tar_support(a);
        if (archive_read_open_filename(a, file, 1 << 16) != ARCHIVE_OK)
                r = ib_err_archive(err, a, what);
        else
                r = ib_untar(a, dfd, &o, &stats, err);
        archive_read_free(a);
        ib_strv_free(stats.warnings);
        return r;
}

static int refuse_remote(const char *spec, struct ib_err **err)
{
        const char *colon = strstr(spec, "://");
        if (!colon || ib_startswith(spec, "dir://") || ib_startswith(spec, "tar://"))
                return 0;
        if (ib_startswith(spec, "gs://") || ib_startswith(spec, "s3://"))
                return ib_err_set(err, ENOTSUP, "context `%s`: Kaniko's bucket contexts (gs://, s3://) are not "
                                  "supported; download it and pass tar://FILE or a directory", spec);
        return ib_err_set(err, ENOTSUP, "context `%s`: remote contexts are not supported; pass a directory, "
                          "dir://PATH, tar://FILE or - (a tar on stdin)", spec);
}

int ib_context_open(const char *spec, struct ib_store *store, struct ib_context **ret, struct ib_err **err)
{
        struct ib_context *c = ib_calloc(1, sizeof(*c));
        _cleanup_free_ char *index_path = NULL;
        int r;

        c->fd = -1;
        r = refuse_remote(spec, err);
        if (r < 0)
                goto fail;
        if (strcmp(spec, "-") == 0 || ib_startswith(spec, "tar://")) {
                r = open_tar_context(spec[0] == '-' ? NULL : spec + 6, store, c, err);
                if (r < 0)
                        goto fail;
        } else {
                const char *dir = ib_startswith(spec, "dir://") ? spec + 6 : spec;
                c->path = realpath(*dir ? dir : ".", NULL);
                if (!c->path) {
                        r = ib_err_set(err, errno, "context `%s`", spec);
                        goto fail;
                }
        }
        c->fd = open(c->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (c->fd < 0) {
                r = ib_err_set(err, errno, "context `%s`", spec);
                goto fail;
        }
        if (store && !c->scratch) {
                char hex[IB_SHA256_HEX];
                ib_sha256_hex(c->path, strlen(c->path), hex);
                index_path = ib_strdupf("%s/cache/context-index/%s", store->root, hex);
        }
        r = ib_file_index_open(index_path, &c->index, err);
        if (r < 0)
                goto fail;
        *ret = c;
        return 0;
fail:
        ib_context_free(c);
        return r;
}

void ib_context_free(struct ib_context *c)
{
        if (!c)
                return;
        if (c->fd >= 0)
                close(c->fd);
        if (c->scratch && c->path) {
                _cleanup_err_ struct ib_err *e = NULL;
                (void) ib_rm_rf(c->path, &e);
        }
        ib_file_index_free(c->index);
        free(c->path);
        free(c);
}

int ib_context_fd(const struct ib_context *c) { return c->fd; }
const char *ib_context_path(const struct ib_context *c) { return c->path; }
struct ib_file_index *ib_context_index(struct ib_context *c) { return c->index; }

int ib_context_save_index(struct ib_context *c, struct ib_err **err)
{
        return ib_file_index_save(c->index, err);
}

/* -------------------------------------------------------------- walker */

struct walk {
        int root_fd;
        const struct ib_filter *f;
        ib_walk_fn fn;
        void *ud;
        /* Excluded dirs entered for possible re-includes: emitted only once
         * something below them is kept. */
        struct { char *rel; struct stat st; } *pending;
        size_t npending, apending, emitted;
};

static int walk_emit(struct walk *w, const char *rel, const struct stat *st, struct ib_err **err)
{
        for (; w->emitted < w->npending; w->emitted++) {
                int r = w->fn(w->pending[w->emitted].rel, &w->pending[w->emitted].st, w->ud, err);
                if (r < 0)
                        return r;
        }
        return w->fn(rel, st, w->ud, err);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int walk_dir(struct walk *w, const char *reldir, struct ib_err **err);

static int walk_one(struct walk *w, int dfd, const char *rel, const char *name, struct ib_err **err)
{
        struct stat st;
        bool dir, ex;
        int r;

        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return ib_err_set(err, errno, "stat `%s`", rel);
        dir = S_ISDIR(st.st_mode);
        ex = w->f && w->f->excluded && w->f->excluded(rel, dir, w->f->ud);
        if (!ex) {
                r = walk_emit(w, rel, &st, err);
                return r < 0 ? r : dir ? walk_dir(w, rel, err) : 0;
        }
        if (!dir || !w->f->may_descend || !w->f->may_descend(rel, w->f->ud))
                return 0;
        ib_grow(&w->pending, &w->apending, w->npending + 1, sizeof(*w->pending));
        w->pending[w->npending].rel = ib_strdup(rel);
        w->pending[w->npending].st = st;
        w->npending++;
        r = walk_dir(w, rel, err);
        w->npending--;
        free(w->pending[w->npending].rel);
        if (w->emitted > w->npending)
                w->emitted = w->npending;
        return r;
}

static int walk_dir(struct walk *w, const char *reldir, struct ib_err **err)
{
        _cleanup_strv_ char **names = NULL;
        size_t n = 0, alloc = 0;
        struct dirent *de;
        int r = 0;
        int fd = *reldir ? ib_open_in_root(w->root_fd, reldir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, err)
                         : openat(w->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return *reldir ? fd : ib_err_set(err, errno, "open the context root");
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return ib_err_set(err, errno, "opendir `%s`", reldir);
        }
        while ((errno = 0, de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                ib_grow(&names, &alloc, n + 2, sizeof(*names));
                names[n++] = ib_strdup(de->d_name);
                names[n] = NULL;
        }
        if (errno)
                r = ib_err_set(err, errno, "readdir `%s`", reldir);
        if (n)
                qsort(names, n, sizeof(*names), cmp_str);
        for (size_t i = 0; r == 0 && i < n; i++) {
                _cleanup_free_ char *rel = *reldir ? ib_strdupf("%s/%s", reldir, names[i]) : ib_strdup(names[i]);
                r = walk_one(w, dirfd(d), rel, names[i], err);
        }
        closedir(d);
        return r;
}

int ib_context_walk(struct ib_context *c, const char *reldir, const struct ib_filter *f, ib_walk_fn fn, void *ud,
                    struct ib_err **err)
{
        struct walk w = { .root_fd = c->fd, .f = f, .fn = fn, .ud = ud };
        int r = walk_dir(&w, reldir ? reldir : "", err);
        free(w.pending);
        return r;
}
