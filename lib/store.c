/* lib/store.c - the store's layout, per-process scratch, and verified blob writes.
 *
 * Scratch: every process owns tmp/<pid>-<rand>/ and holds a shared flock on
 * tmp/<pid>-<rand>.lock for as long as it lives.  At open, any lock that can be
 * taken exclusively belongs to a dead process: its scratch dir is removed.  The
 * kernel drops flocks on any death (even SIGKILL), so this never races a live build. */
#include "ib.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <time.h>

static uint32_t rand32(void)
{
        uint32_t v = 0;
        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
                v = (uint32_t) getpid() ^ (uint32_t) time(NULL) ^ (uint32_t) clock();
        return v;
}

char *ib_store_default_root(void)
{
        const char *e = getenv("IMGBUILD_ROOT");
        if (e && *e)
                return ib_strdup(e);
        if (geteuid() == 0)
                return ib_strdup("/var/lib/imgbuild");
        e = getenv("XDG_DATA_HOME");
        if (e && *e == '/')
                return ib_path_join(e, "imgbuild");
        e = getenv("HOME");
        return ib_strdupf("%s/.local/share/imgbuild", e && *e ? e : "/tmp");
}

static void sweep_stale(int tmp_fd)
{
        int fd = fcntl(tmp_fd, F_DUPFD_CLOEXEC, 3);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        struct dirent *de;

        if (!d) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                if (n <= 5 || strcmp(de->d_name + n - 5, ".lock") != 0)
                        continue;
                _cleanup_close_ int lfd = openat(tmp_fd, de->d_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
                if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) < 0)
                        continue;               /* alive, or not ours to judge */
                _cleanup_free_ char *dir = ib_strndup(de->d_name, n - 5);
                _cleanup_err_ struct ib_err *e = NULL;
                if (ib_rm_rf_at(tmp_fd, dir, &e) == 0)
                        (void) unlinkat(tmp_fd, de->d_name, 0);
        }
        closedir(d);
}

int ib_store_open(const char *root, struct ib_store **ret, struct ib_err **err)
{
        static const char *const dirs[] = { "blobs/sha256", "layers", "cache", "tmp" };
        struct ib_store *s;
        _cleanup_free_ char *name = NULL, *lock = NULL;
        int r;

        for (size_t i = 0; i < IB_ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *p = ib_path_join(root, dirs[i]);
                r = ib_mkdir_p(p, 0700, err);
                if (r < 0)
                        return ib_err_wrap(err, "store `%s`", root);
        }
        s = ib_calloc(1, sizeof(*s));
        s->root = ib_strdup(root);
        s->tmp_fd = s->lock_fd = -1;
        s->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->root_fd >= 0)
                s->tmp_fd = openat(s->root_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->tmp_fd < 0) {
                r = ib_err_set(err, errno, "store `%s`: open", root);
                ib_store_close(s);
                return r;
        }
        sweep_stale(s->tmp_fd);

        name = ib_strdupf("%ld-%08x", (long) getpid(), rand32());
        lock = ib_strdupf("%s.lock", name);
        s->lock_fd = openat(s->tmp_fd, lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_SH) < 0 || mkdirat(s->tmp_fd, name, 0700) < 0) {
                r = ib_err_set(err, errno, "store `%s`: create scratch `tmp/%s`", root, name);
                (void) unlinkat(s->tmp_fd, lock, 0);
                ib_store_close(s);
                return r;
        }
        s->tmp_dir = ib_strdupf("%s/tmp/%s", root, name);
        *ret = s;
        return 0;
}

void ib_store_close(struct ib_store *s)
{
        if (!s)
                return;
        if (s->tmp_dir) {
                _cleanup_err_ struct ib_err *e = NULL;
                const char *base = strrchr(s->tmp_dir, '/') + 1;
                _cleanup_free_ char *lock = ib_strdupf("%s.lock", base);
                if (ib_rm_rf_at(s->tmp_fd, base, &e) == 0)
                        (void) unlinkat(s->tmp_fd, lock, 0);
        }
        if (s->lock_fd >= 0)
                close(s->lock_fd);
        if (s->tmp_fd >= 0)
                close(s->tmp_fd);
        if (s->root_fd >= 0)
                close(s->root_fd);
        free(s->tmp_dir);
        free(s->root);
        free(s);
}

char *ib_store_blob_path(const struct ib_store *s, const char *digest)
{
        const char *hex = digest;
        if (ib_startswith(digest, "sha256:") && !ib_digest_parse(digest, &hex))
                return NULL;
        if (!ib_is_sha256_hex(hex))
                return NULL;
        return ib_strdupf("%s/blobs/sha256/%s", s->root, hex);
}

bool ib_store_has_blob(const struct ib_store *s, const char *digest)
{
        _cleanup_free_ char *p = ib_store_blob_path(s, digest);
        return p && access(p, F_OK) == 0;
}

char *ib_store_tmp_path(struct ib_store *s, const char *prefix)
{
        static unsigned long counter;   /* atomic: the build's cache threads write blobs too */
        return ib_strdupf("%s/%s-%lu-%08x", s->tmp_dir, prefix, __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED),
                          rand32());
}

struct ib_blob_writer {
        struct ib_store *store;
        char *tmp;
        int fd;
        uint64_t size;
        struct ib_sha256 *hash;
};

int ib_blob_writer_new(struct ib_store *s, struct ib_blob_writer **ret, struct ib_err **err)
{
        struct ib_blob_writer *w = ib_calloc(1, sizeof(*w));
        w->store = s;
        w->tmp = ib_store_tmp_path(s, "blob");
        w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (w->fd < 0) {
                int r = ib_err_set(err, errno, "create `%s`", w->tmp);
                free(w->tmp);
                free(w);
                return r;
        }
        w->hash = ib_sha256_new();
        *ret = w;
        return 0;
}

int ib_blob_writer_write(struct ib_blob_writer *w, const void *data, size_t n, struct ib_err **err)
{
        int r = ib_write_all(w->fd, data, n);
        if (r < 0)
                return ib_err_set(err, -r, "write `%s`", w->tmp);
        ib_sha256_update(w->hash, data, n);
        w->size += n;
        return 0;
}

uint64_t ib_blob_writer_size(const struct ib_blob_writer *w)
{
        return w->size;
}

int ib_blob_writer_commit(struct ib_blob_writer *w, const char *expect, char **ret_digest, struct ib_err **err)
{
        char hex[IB_SHA256_HEX];
        const char *ehex = NULL;
        _cleanup_free_ char *final = NULL;

        ib_sha256_final_hex(w->hash, hex);
        if (expect && (!ib_digest_parse(expect, &ehex) || strcmp(ehex, hex) != 0))
                return ib_err_set(err, EBADMSG, "digest mismatch: expected %s, got sha256:%s", expect, hex);
        final = ib_store_blob_path(w->store, hex);
        ib_store_touch_used(w->store, IB_STORE_BLOB, hex);     /* before the existence check: see ib.h */
        /* Already there (verified when it was written): keep that file, so hard
         * links to it (OCI layouts) keep sharing its storage. */
        if (access(final, F_OK) == 0) {
                (void) unlink(w->tmp);
        } else if (fsync(w->fd) < 0) {
                return ib_err_set(err, errno, "fsync `%s`", w->tmp);
        } else if (rename(w->tmp, final) < 0) {
                return ib_err_set(err, errno, "rename `%s` to `%s`", w->tmp, final);
        }
        free(w->tmp);
        w->tmp = NULL;
        if (ret_digest)
                *ret_digest = ib_strdupf("sha256:%s", hex);
        return 0;
}

void ib_blob_writer_free(struct ib_blob_writer *w)
{
        if (!w)
                return;
        if (w->fd >= 0)
                close(w->fd);
        if (w->tmp)
                (void) unlink(w->tmp);
        ib_sha256_free(w->hash);
        free(w->tmp);
        free(w);
}

int ib_store_put_blob(struct ib_store *s, const void *data, size_t n, const char *expect,
                      char **ret_digest, struct ib_err **err)
{
        _cleanup_(ib_blob_writer_freep) struct ib_blob_writer *w = NULL;
        int r = ib_blob_writer_new(s, &w, err);
        if (r < 0)
                return r;
        r = ib_blob_writer_write(w, data, n, err);
        if (r < 0)
                return r;
        return ib_blob_writer_commit(w, expect, ret_digest, err);
}
