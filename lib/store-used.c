/* lib/store-used.c - who uses what in the store: use records for prune, the
 * store-wide lock, and the scratch of dead processes (see ib.h).
 *
 *   used/<kind>/<hex>   empty file; its mtime is the object's last use
 *   tmp/<name>/held     "<kind> <hex>" lines: what the live owner of tmp/<name>.lock uses
 *   store.lock          shared by touch, exclusive for prune */
#include "ib.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

static const char *const kind_names[IB_STORE_KINDS] = { "blobs", "layers", "cache" };

const char *ib_store_kind_name(enum ib_store_kind k)
{
        return k < IB_STORE_KINDS ? kind_names[k] : "?";
}

int ib_store_lock(struct ib_store *s, bool exclusive, int *ret_fd, struct ib_err **err)
{
        int fd = openat(s->root_fd, "store.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);

        if (fd < 0)
                return ib_err_set(err, errno, "store `%s`: open `store.lock`", s->root);
        while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
                if (errno != EINTR) {
                        int r = ib_err_set(err, errno, "store `%s`: lock `store.lock`", s->root);
                        close(fd);
                        return r;
                }
        }
        *ret_fd = fd;
        return 0;
}

/* "sha256:<hex>" or "<hex>" -> hex; NULL when it is neither (never a path). */
static const char *id_hex(const char *id)
{
        const char *hex = id;
        if (id && ib_startswith(id, "sha256:") && !ib_digest_parse(id, &hex))
                return NULL;
        return id && ib_is_sha256_hex(hex) ? hex : NULL;
}

static int stamp(struct ib_store *s, enum ib_store_kind kind, const char *hex, struct ib_err **err)
{
        _cleanup_free_ char *dir = ib_strdupf("%s/used/%s", s->root, kind_names[kind]);
        _cleanup_free_ char *p = ib_strdupf("%s/%s", dir, hex);
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);

        if (fd < 0 && errno == ENOENT) {
                if (ib_mkdir_p(dir, 0700, err) < 0)
                        return -EIO;
                fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        }
        if (fd < 0 || futimens(fd, NULL) < 0)
                return ib_err_set(err, errno, "stamp `%s`", p);
        return 0;
}

static int hold(struct ib_store *s, enum ib_store_kind kind, const char *hex, struct ib_err **err)
{
        _cleanup_free_ char *p = ib_path_join(s->tmp_dir, "held");
        _cleanup_free_ char *line = ib_strdupf("%s %s\n", kind_names[kind], hex);
        /* O_APPEND: lines from parallel stages never interleave */
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int r;

        if (fd < 0)
                return ib_err_set(err, errno, "open `%s`", p);
        r = ib_write_all(fd, line, strlen(line));
        return r < 0 ? ib_err_set(err, -r, "write `%s`", p) : 0;
}

void ib_store_touch_used(struct ib_store *s, enum ib_store_kind kind, const char *id)
{
        _cleanup_err_ struct ib_err *e = NULL;
        _cleanup_close_ int lock = -1;
        const char *hex = id_hex(id);

        if (!s || !s->tmp_dir || !hex || kind >= IB_STORE_KINDS)
                return;
        if (ib_store_lock(s, false, &lock, &e) < 0 || hold(s, kind, hex, &e) < 0 || stamp(s, kind, hex, &e) < 0)
                ib_debug("cannot record the use of %s %s, ignoring: %s", kind_names[kind], hex, e->msg);
}

static void read_held(int tmp_fd, const char *name, ib_store_held_fn fn, void *userdata)
{
        _cleanup_free_ char *p = ib_strdupf("%s/held", name), *data = NULL;
        _cleanup_err_ struct ib_err *e = NULL;
        char *save = NULL, *line;
        size_t len;

        if (ib_read_file_at(tmp_fd, p, (size_t) 64 << 20, &data, &len, &e) < 0)
                return;                 /* holds nothing yet */
        for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *sp = strchr(line, ' ');
                if (!sp)
                        continue;
                *sp = '\0';
                for (int k = 0; k < IB_STORE_KINDS; k++)
                        if (strcmp(line, kind_names[k]) == 0 && ib_is_sha256_hex(sp + 1))
                                fn((enum ib_store_kind) k, sp + 1, userdata);
        }
}

/* Is the owner of tmp/<lock> alive?  It holds a shared flock as long as it lives. */
static bool owner_alive(int tmp_fd, const char *lock)
{
        _cleanup_close_ int fd = openat(tmp_fd, lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return false;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK;
        return false;                   /* closing the fd drops our probe lock */
}

static DIR *open_tmp(struct ib_store *s)
{
        int fd = fcntl(s->tmp_fd, F_DUPFD_CLOEXEC, 3);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d && fd >= 0)
                close(fd);
        if (d)
                rewinddir(d);
        return d;
}

void ib_store_for_each_held(struct ib_store *s, ib_store_held_fn fn, void *userdata)
{
        DIR *d = open_tmp(s);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                if (!ib_endswith(de->d_name, ".lock") || !owner_alive(s->tmp_fd, de->d_name))
                        continue;
                _cleanup_free_ char *name = ib_strndup(de->d_name, strlen(de->d_name) - 5);
                read_held(s->tmp_fd, name, fn, userdata);
        }
        closedir(d);
}

void ib_store_for_each_stale(struct ib_store *s, ib_store_scratch_fn fn, void *userdata)
{
        DIR *d = open_tmp(s);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                const char *n = de->d_name;
                if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
                        continue;
                /* A lock alone is not reported: it is empty, the next sweep
                 * takes it, and a process that has just created its lock
                 * and not yet locked it must not lose it. */
                if (ib_endswith(n, ".lock"))
                        continue;
                _cleanup_free_ char *lock = ib_strdupf("%s.lock", n);
                if (!owner_alive(s->tmp_fd, lock))
                        fn(n, userdata);
        }
        closedir(d);
}
