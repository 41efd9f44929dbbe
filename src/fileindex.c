/* src/fileindex.c - the context file index: (path, inode, size, mtime, ctime)
 * -> SHA-256 of the content, so a rebuild never re-reads unchanged files.
 *
 * On disk: the magic "IBCIX001", then records
 *   u32 pathlen | u64 ino | u64 size | i64 mtime_ns | i64 ctime_ns | 64 hex | path | u64 xxh3
 * where xxh3 covers the record's preceding bytes.  Records are independent, so
 * a torn or damaged tail only costs re-hashing.  The file is rewritten with an
 * atomic rename when something changed; two builds racing simply keep the last
 * writer's view, which is still correct (it is a cache). */
#include "src/context.h"
#include <fcntl.h>
#include <pthread.h>
#include <time.h>

#define IX_MAGIC "IBCIX001"

struct ix_entry {
        char *path;
        uint64_t ino, size;
        int64_t mtime_ns, ctime_ns;
        char hex[IB_SHA256_HEX];
        bool trusted;           /* false: racy, do not reuse nor store */
        bool seen;              /* looked up or stored by this process */
};

struct ib_file_index {
        char *path;             /* NULL: memory only */
        struct ix_entry *e;     /* open addressing, by path */
        size_t n, alloc;
        bool dirty;
        struct ib_file_index_stats st;
        pthread_mutex_t lock;
};

static int64_t ts_ns(const struct timespec *t)
{
        return (int64_t) t->tv_sec * 1000000000 + t->tv_nsec;
}

static struct ix_entry *ix_slot(struct ib_file_index *ix, const char *path)
{
        size_t mask = ix->alloc - 1;
        size_t i = (size_t) ib_xxh64(path, strlen(path), 0) & mask;

        while (ix->e[i].path && strcmp(ix->e[i].path, path) != 0)
                i = (i + 1) & mask;
        return &ix->e[i];
}

static void ix_grow(struct ib_file_index *ix)
{
        struct ix_entry *old = ix->e;
        size_t oalloc = ix->alloc;

        ix->alloc = oalloc ? oalloc * 2 : 256;
        ix->e = ib_calloc(ix->alloc, sizeof(*ix->e));
        for (size_t i = 0; i < oalloc; i++)
                if (old[i].path)
                        *ix_slot(ix, old[i].path) = old[i];
        free(old);
}

/* Insert or replace; takes ownership of nothing (copies @e->path). */
static void ix_put(struct ib_file_index *ix, const struct ix_entry *e)
{
        struct ix_entry *s;

        if ((ix->n + 1) * 2 > ix->alloc)
                ix_grow(ix);
        s = ix_slot(ix, e->path);
        if (!s->path) {
                ix->n++;
                s->path = ib_strdup(e->path);
        }
        char *keep = s->path;
        *s = *e;
        s->path = keep;
}

static void ix_load(struct ib_file_index *ix, const char *data, size_t len)
{
        const size_t fixed = 4 + 8 * 4 + 64;
        size_t off = 8;

        if (len < 8 || memcmp(data, IX_MAGIC, 8) != 0)
                return;
        while (off + fixed + 8 <= len) {
                const char *r = data + off;
                uint32_t plen;
                uint64_t xx;
                struct ix_entry e = { .trusted = true };

                memcpy(&plen, r, 4);
                if (plen == 0 || plen > 65536 || off + fixed + plen + 8 > len)
                        break;
                memcpy(&xx, r + fixed + plen, 8);
                if (ib_xxh64(r, fixed + plen, 0) != xx)
                        break;
                memcpy(&e.ino, r + 4, 8);
                memcpy(&e.size, r + 12, 8);
                memcpy(&e.mtime_ns, r + 20, 8);
                memcpy(&e.ctime_ns, r + 28, 8);
                memcpy(e.hex, r + 36, 64);
                e.hex[64] = '\0';
                e.path = ib_strndup(r + fixed, plen);
                if (ib_is_sha256_hex(e.hex))
                        ix_put(ix, &e);
                free(e.path);
                off += fixed + plen + 8;
        }
}

int ib_file_index_open(const char *path, struct ib_file_index **ret, struct ib_err **err)
{
        struct ib_file_index *ix = ib_calloc(1, sizeof(*ix));
        _cleanup_free_ char *data = NULL;
        size_t len = 0;

        pthread_mutex_init(&ix->lock, NULL);
        ix_grow(ix);
        if (path) {
                _cleanup_err_ struct ib_err *e = NULL;
                ix->path = ib_strdup(path);
                /* A missing or unreadable index is an empty one. */
                if (ib_read_file(path, (size_t) 1 << 30, &data, &len, &e) == 0)
                        ix_load(ix, data, len);
        }
        *ret = ix;
        return 0;
}

void ib_file_index_free(struct ib_file_index *ix)
{
        if (!ix)
                return;
        for (size_t i = 0; i < ix->alloc; i++)
                free(ix->e[i].path);
        free(ix->e);
        free(ix->path);
        pthread_mutex_destroy(&ix->lock);
        free(ix);
}

static bool ix_fresh(const struct ix_entry *e, const struct stat *st)
{
        return e->path && e->trusted && e->ino == (uint64_t) st->st_ino && e->size == (uint64_t) st->st_size &&
               e->mtime_ns == ts_ns(&st->st_mtim) && e->ctime_ns == ts_ns(&st->st_ctim);
}

static int hash_fd(int fd, const char *relpath, char hex[IB_SHA256_HEX], uint64_t *bytes, struct ib_err **err)
{
        _cleanup_(ib_sha256_freep) struct ib_sha256 *h = ib_sha256_new();
        static __thread char buf[1 << 17];
        ssize_t n;

        (void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        while ((n = read(fd, buf, sizeof(buf))) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return ib_err_set(err, errno, "read `%s`", relpath);
                ib_sha256_update(h, buf, (size_t) n);
                *bytes += (uint64_t) n;
        }
        ib_sha256_final_hex(h, hex);
        return 0;
}

int ib_file_index_digest(struct ib_file_index *ix, int dirfd, const char *relpath, const struct stat *st,
                         char hex[IB_SHA256_HEX], struct ib_err **err)
{
        struct ix_entry e = { .path = (char *) relpath };
        struct timespec start;
        uint64_t bytes = 0;
        int r;

        pthread_mutex_lock(&ix->lock);
        struct ix_entry *s = ix_slot(ix, relpath);
        if (ix_fresh(s, st)) {
                s->seen = true;
                memcpy(hex, s->hex, IB_SHA256_HEX);
                ix->st.reused++;
                pthread_mutex_unlock(&ix->lock);
                return 0;
        }
        pthread_mutex_unlock(&ix->lock);

        /* Taken before reading: a later write gets a ctime >= this coarse
         * clock, so an entry is trusted only when its ctime is older. */
        clock_gettime(CLOCK_REALTIME_COARSE, &start);
        _cleanup_close_ int fd = ib_open_in_root(dirfd, relpath, O_RDONLY | O_NOFOLLOW, 0, err);
        if (fd < 0)
                return fd;
        r = hash_fd(fd, relpath, hex, &bytes, err);
        if (r < 0)
                return r;

        e.ino = (uint64_t) st->st_ino;
        e.size = (uint64_t) st->st_size;
        e.mtime_ns = ts_ns(&st->st_mtim);
        e.ctime_ns = ts_ns(&st->st_ctim);
        e.trusted = e.ctime_ns < ts_ns(&start) && e.mtime_ns < ts_ns(&start);
        e.seen = true;
        memcpy(e.hex, hex, IB_SHA256_HEX);
        pthread_mutex_lock(&ix->lock);
        ix_put(ix, &e);
        ix->dirty = true;
        ix->st.hashed++;
        ix->st.bytes_hashed += bytes;
        pthread_mutex_unlock(&ix->lock);
        return 0;
}

/* Entries of files that vanished would pile up forever: once the index holds
 * far more than this process used, keep only what it used. */
#define IX_KEEP_UNSEEN_MAX 100000

static void ix_serialize(const struct ib_file_index *ix, struct ib_buf *b)
{
        size_t seen = 0;
        bool prune;

        for (size_t i = 0; i < ix->alloc; i++)
                seen += ix->e[i].path && ix->e[i].seen;
        prune = ix->n > 2 * seen + IX_KEEP_UNSEEN_MAX;
        ib_buf_add(b, IX_MAGIC, 8);
        for (size_t i = 0; i < ix->alloc; i++) {
                const struct ix_entry *e = &ix->e[i];
                if (!e->path || !e->trusted || (prune && !e->seen))
                        continue;
                uint32_t plen = (uint32_t) strlen(e->path);
                size_t start = b->len;
                ib_buf_add(b, &plen, 4);
                ib_buf_add(b, &e->ino, 8);
                ib_buf_add(b, &e->size, 8);
                ib_buf_add(b, &e->mtime_ns, 8);
                ib_buf_add(b, &e->ctime_ns, 8);
                ib_buf_add(b, e->hex, 64);
                ib_buf_add(b, e->path, plen);
                uint64_t xx = ib_xxh64(b->buf + start, b->len - start, 0);
                ib_buf_add(b, &xx, 8);
        }
}

int ib_file_index_save(struct ib_file_index *ix, struct ib_err **err)
{
        _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;
        _cleanup_free_ char *dir = NULL;
        int r;

        pthread_mutex_lock(&ix->lock);
        if (!ix->path || !ix->dirty) {
                pthread_mutex_unlock(&ix->lock);
                return 0;
        }
        ix_serialize(ix, &b);
        ix->dirty = false;
        pthread_mutex_unlock(&ix->lock);

        dir = ib_strdup(ix->path);
        *strrchr(dir, '/') = '\0';
        r = ib_mkdir_p(dir, 0700, err);
        if (r < 0)
                return r;
        r = ib_write_file_atomic(ix->path, b.buf, b.len, 0600, err);
        return r < 0 ? ib_err_wrap(err, "save context index") : 0;
}

void ib_file_index_get_stats(const struct ib_file_index *ix, struct ib_file_index_stats *ret)
{
        *ret = ix->st;
}
