/* lib/fs.c - small file-system helpers: resolve-in-root opens, mkdir -p,
 * rm -rf that never follows links nor crosses mounts, whole-file I/O. */
#include "ib.h"
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/* Fallback for kernels without openat2: walk component by component and
 * refuse any symlink on the way (stricter than RESOLVE_IN_ROOT, never weaker). */
static int open_in_root_slow(int root_fd, const char *rel, int flags, mode_t mode, struct ib_err **err)
{
        _cleanup_free_ char *copy = ib_strdup(rel);
        _cleanup_close_ int cur = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        char *save = NULL, *comp, *next;

        if (cur < 0)
                return ib_err_set(err, errno, "dup root fd");
        comp = strtok_r(copy, "/", &save);
        while (comp) {
                next = strtok_r(NULL, "/", &save);
                if (strcmp(comp, "..") == 0)
                        return ib_err_set(err, EXDEV, "open `%s`: `..` not allowed", rel);
                if (strcmp(comp, ".") != 0) {
                        int fd = openat(cur, comp, next ? (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                                                        : (flags | O_NOFOLLOW | O_CLOEXEC), mode);
                        if (fd < 0)
                                return ib_err_set(err, errno, "open `%s`", rel);
                        ib_closep(&cur);
                        cur = fd;
                }
                comp = next;
        }
        return IB_TAKE_FD(cur);
}

int ib_open_in_root(int root_fd, const char *rel, int flags, mode_t mode, struct ib_err **err)
{
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        int fd = (int) syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));

        if (fd < 0 && (errno == ENOSYS || errno == EPERM))   /* EPERM: seccomp'd away */
                return open_in_root_slow(root_fd, rel, flags, mode, err);
        if (fd < 0)
                return ib_err_set(err, errno, "open `%s`", rel);
        return fd;
}

int ib_mkdir_p(const char *path, mode_t mode, struct ib_err **err)
{
        _cleanup_free_ char *p = ib_strdup(path);
        size_t n = strlen(p);

        if (!mode)
                mode = 0755;
        for (size_t i = 1; i <= n; i++) {
                if (p[i] != '/' && p[i] != '\0')
                        continue;
                char c = p[i];
                p[i] = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return ib_err_set(err, errno, "mkdir `%s`", p);
                p[i] = c;
        }
        return 0;
}

static int rm_children(int dfd, dev_t dev, struct ib_err **err);

static int rm_entry(int dirfd, const char *name, dev_t dev, struct ib_err **err)
{
        struct stat st;
        int r;

        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : ib_err_set(err, errno, "stat `%s`", name);
        if (!S_ISDIR(st.st_mode)) {
                if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                        return ib_err_set(err, errno, "unlink `%s`", name);
                return 0;
        }
        if (dev && st.st_dev != dev)
                return ib_err_set(err, EXDEV, "refusing to remove `%s`: a mount point", name);
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == EACCES && fchmodat(dirfd, name, 0700, 0) == 0)
                fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return ib_err_set(err, errno, "open `%s`", name);
        /* A read-only dir (0555 in an image) cannot lose entries until made writable. */
        if ((st.st_mode & 0700) != 0700)
                (void) fchmod(fd, st.st_mode | 0700);
        r = rm_children(fd, st.st_dev, err);
        if (r < 0)
                return ib_err_wrap(err, "%s", name);
        if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return ib_err_set(err, errno, "rmdir `%s`", name);
        return 0;
}

static int rm_children(int dfd, dev_t dev, struct ib_err **err)
{
        int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (fd < 0)
                return ib_err_set(err, errno, "dup");
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return ib_err_set(err, errno, "fdopendir");
        }
        while ((errno = 0, de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                r = rm_entry(dfd, de->d_name, dev, err);
                if (r < 0)
                        break;
        }
        if (r == 0 && errno)
                r = ib_err_set(err, errno, "readdir");
        closedir(d);
        return r;
}

int ib_rm_rf_at(int dirfd, const char *name, struct ib_err **err)
{
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : ib_err_set(err, errno, "stat `%s`", name);
        return rm_entry(dirfd, name, st.st_dev, err);
}

int ib_rm_rf(const char *path, struct ib_err **err)
{
        return ib_rm_rf_at(AT_FDCWD, path, err);
}

int ib_read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len, struct ib_err **err)
{
        _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
        struct ib_buf b = IB_BUF_INIT;
        char chunk[65536];
        ssize_t n;

        if (fd < 0)
                return ib_err_set(err, errno, "open `%s`", path);
        for (;;) {
                n = read(fd, chunk, sizeof(chunk));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        ib_buf_release(&b);
                        return ib_err_set(err, errno, "read `%s`", path);
                }
                if (n == 0)
                        break;
                if (b.len + (size_t) n > max) {
                        ib_buf_release(&b);
                        return ib_err_set(err, EFBIG, "read `%s`: larger than %zu bytes", path, max);
                }
                ib_buf_add(&b, chunk, (size_t) n);
        }
        if (ret_len)
                *ret_len = b.len;
        *ret = ib_buf_detach(&b);
        return 0;
}

int ib_read_file(const char *path, size_t max, char **ret, size_t *ret_len, struct ib_err **err)
{
        return ib_read_file_at(AT_FDCWD, path, max, ret, ret_len, err);
}

int ib_write_all(int fd, const void *data, size_t n)
{
        const char *p = data;
        while (n) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                p += w;
                n -= (size_t) w;
        }
        return 0;
}

int ib_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct ib_err **err)
{
        _cleanup_free_ char *tmp = ib_strdupf("%s.tmp-%ld", path, (long) getpid());
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        int r;

        if (fd < 0)
                return ib_err_set(err, errno, "create `%s`", tmp);
        r = ib_write_all(fd, data, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return ib_err_set(err, -r, "write `%s`", path);
        }
        return 0;
}

char *ib_path_join(const char *a, const char *b)
{
        size_t la = strlen(a);
        while (la > 1 && a[la - 1] == '/')
                la--;
        while (*b == '/')
                b++;
        if (!*b)
                return ib_strndup(a, la);
        return ib_strdupf("%.*s/%s", (int) la, a, b);
}

bool ib_atomic_tmp_name(const char *name)
{
        const char *t = strstr(name, ".tmp-");
        return t && t != name && t[5] && strspn(t + 5, "0123456789") == strlen(t + 5);
}

bool ib_atomic_tmp_alive(const char *name)
{
        const char *t = strstr(name, ".tmp-");
        long pid = t ? strtol(t + 5, NULL, 10) : 0;
        /* EPERM: alive but not ours to signal */
        return pid > 0 && (kill((pid_t) pid, 0) == 0 || errno == EPERM);
}
