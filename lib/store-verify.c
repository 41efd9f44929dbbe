/* lib/store-verify.c - the store's own checks for `imgbuild store verify`:
 * blobs re-hashed (in parallel, streaming), cache entries parsed and followed
 * to their blobs, scratch of dead processes listed.  Layers: snapshot/verify.c. */
#include "ib.h"
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <yajl/yajl_tree.h>

void ib_store_report_add(struct ib_store_report *r, const char *path, const char *fmt, ...)
{
        va_list ap;
        struct ib_buf b = IB_BUF_INIT;

        va_start(ap, fmt);
        ib_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        /* one line per problem: yajl's messages span lines */
        for (size_t i = 0; i < b.len; i++)
                if (b.buf[i] == '\n' || b.buf[i] == '\r')
                        b.buf[i] = ' ';
        while (b.len && b.buf[b.len - 1] == ' ')
                ib_buf_truncate(&b, b.len - 1);
        ib_grow(&r->problems, &r->problems_alloc, r->n_problems + 1, sizeof(*r->problems));
        r->problems[r->n_problems++] = (struct ib_store_problem) { .path = ib_strdup(path), .what = ib_buf_detach(&b) };
}

static int problem_cmp(const void *a, const void *b)
{
        const struct ib_store_problem *x = a, *y = b;
        return strcmp(x->path, y->path);
}

void ib_store_report_sort(struct ib_store_report *r)
{
        if (r->n_problems > 1)
                qsort(r->problems, r->n_problems, sizeof(*r->problems), problem_cmp);
}

void ib_store_report_release(struct ib_store_report *r)
{
        for (size_t i = 0; i < r->n_problems; i++) {
                free(r->problems[i].path);
                free(r->problems[i].what);
        }
        free(r->problems);
        ib_strvec_release(&r->stale);
        ib_strvec_release(&r->layer_blobs);
        memset(r, 0, sizeof(*r));
}

/* The names in @dir (not . and ..), or NULL with *err set. */
static char **list_dir(const char *dir, struct ib_err **err)
{
        DIR *d = opendir(dir);
        struct ib_strvec v = { 0 };
        struct dirent *de;

        if (!d) {
                ib_err_set(err, errno, "open `%s`", dir);
                return NULL;
        }
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        ib_strvec_push_own(&v, ib_strdup(de->d_name));
        closedir(d);
        return ib_strvec_finish(&v);
}

/* ------------------------------------------------------------------ blobs */

struct blob_job {
        const char *dir;
        char **names;
        size_t n, next;
        struct ib_store_report *r;
        pthread_mutex_t lock;
};

static void check_blob(struct blob_job *j, const char *name)
{
        _cleanup_free_ char *path = ib_path_join(j->dir, name);
        _cleanup_close_ int fd = -1;
        char hex[IB_SHA256_HEX];
        const char *problem = NULL;
        uint64_t size = 0;
        struct stat st;
        int r = 0;

        if (!ib_is_sha256_hex(name)) {
                problem = "not a blob: the name is not a sha256 digest";
        } else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fstat(fd, &st) < 0) {
                r = -errno;
        } else if (!S_ISREG(st.st_mode)) {
                problem = "not a regular file";
        } else {
                r = ib_sha256_fd(fd, hex, &size);
        }
        pthread_mutex_lock(&j->lock);
        if (problem)
                ib_store_report_add(j->r, path, "%s", problem);
        else if (r < 0)
                ib_store_report_add(j->r, path, "cannot read: %s", strerror(-r));
        else if (strcmp(hex, name) != 0)
                ib_store_report_add(j->r, path, "wrong digest: content hashes to sha256:%s", hex);
        j->r->blobs++;
        j->r->blob_bytes += size;
        pthread_mutex_unlock(&j->lock);
}

static void *blob_worker(void *arg)
{
        struct blob_job *j = arg;

        for (;;) {
                size_t i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
                if (i >= j->n)
                        return NULL;
                check_blob(j, j->names[i]);
        }
}

int ib_store_verify_blobs(struct ib_store *s, unsigned threads, struct ib_store_report *r, struct ib_err **err)
{
        _cleanup_free_ char *dir = ib_path_join(s->root, "blobs/sha256");
        _cleanup_strv_ char **names = list_dir(dir, err);
        struct blob_job j = { .dir = dir, .names = names, .r = r };
        pthread_t tid[8];
        unsigned started = 0;

        if (!names)
                return -EIO;
        j.n = ib_strv_len(names);
        if (threads == 0) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                threads = n < 1 ? 1 : n > 8 ? 8 : (unsigned) n;
        }
        if (threads > IB_ELEMENTSOF(tid))
                threads = IB_ELEMENTSOF(tid);
        if (threads > j.n)
                threads = j.n ? (unsigned) j.n : 1;
        pthread_mutex_init(&j.lock, NULL);
        /* this thread works too; extra workers only when there is more than one blob */
        for (unsigned i = 1; i < threads; i++)
                if (pthread_create(&tid[started], NULL, blob_worker, &j) == 0)
                        started++;
        blob_worker(&j);
        for (unsigned i = 0; i < started; i++)
                pthread_join(tid[i], NULL);
        pthread_mutex_destroy(&j.lock);
        return 0;
}

/* ------------------------------------------------------------------ cache */

static void check_entry_layer(struct ib_store *s, const char *path, yajl_val l, struct ib_store_report *r)
{
        const char *dg = ib_json_get_str(l, "digest"), *di = ib_json_get_str(l, "diffID");
        yajl_val sz = ib_json_get(l, "size");
        _cleanup_free_ char *blob = NULL;
        const char *hex;
        struct stat st;

        if (!dg || !ib_digest_parse(dg, &hex) || !di || !ib_digest_parse(di, &hex) ||
            !ib_json_get_str(l, "mediaType") || !sz || !YAJL_IS_INTEGER(sz)) {
                ib_store_report_add(r, path, "layer record lacks digest, diffID, mediaType or size");
                return;
        }
        blob = ib_store_blob_path(s, dg);
        ib_strvec_push_own(&r->layer_blobs, ib_strdupf("%s %s", di + 7, dg + 7));
        if (stat(blob, &st) < 0)
                ib_store_report_add(r, path, "references blob %s, which is missing", dg);
        else if ((long long) st.st_size != YAJL_GET_INTEGER(sz))
                ib_store_report_add(r, path, "references blob %s of %lld bytes, which has %lld", dg,
                                    (long long) YAJL_GET_INTEGER(sz), (long long) st.st_size);
}

static void check_entry(struct ib_store *s, const char *dir, const char *name, struct ib_store_report *r)
{
        _cleanup_free_ char *path = ib_path_join(dir, name), *text = NULL;
        _cleanup_err_ struct ib_err *e = NULL;
        _cleanup_json_ yajl_val v = NULL;
        size_t len = 0;
        yajl_val l;

        if (ib_atomic_tmp_name(name)) {
                /* ib_write_file_atomic's temp file: a writer at work, or one that died */
                if (!ib_atomic_tmp_alive(name))
                        ib_strvec_push_own(&r->stale, ib_strdupf("cache/steps/%s", name));
                return;
        }
        r->cache_entries++;
        if (!ib_is_sha256_hex(name)) {
                ib_store_report_add(r, path, "not a cache entry: the name is not a 64-hex key");
                return;
        }
        if (ib_read_file(path, 1u << 20, &text, &len, &e) < 0) {
                ib_store_report_add(r, path, "cannot read: %s", e->msg);
                return;
        }
        v = ib_json_parse(text, len, "entry", &e);
        if (!v || !YAJL_IS_OBJECT(v)) {
                ib_store_report_add(r, path, "not a JSON object%s%s", e ? ": " : "", e ? e->msg : "");
                return;
        }
        if (!ib_json_get_str(v, "created"))
                ib_store_report_add(r, path, "no \"created\" time");
        l = ib_json_get(v, "layer");
        if (l)
                check_entry_layer(s, path, l, r);
}

int ib_store_verify_cache(struct ib_store *s, struct ib_store_report *r, struct ib_err **err)
{
        _cleanup_free_ char *dir = ib_path_join(s->root, "cache/steps");
        _cleanup_strv_ char **names = NULL;
        struct stat st;

        if (stat(dir, &st) < 0 && errno == ENOENT)
                return 0;               /* no build has cached a step yet */
        names = list_dir(dir, err);
        if (!names)
                return -EIO;
        for (size_t i = 0; names[i]; i++)
                check_entry(s, dir, names[i], r);
        return 0;
}

/* ---------------------------------------------------------------- scratch */

static void add_stale(const char *name, void *userdata)
{
        struct ib_store_report *r = userdata;
        ib_strvec_push_own(&r->stale, ib_strdupf("tmp/%s", name));
}

void ib_store_verify_scratch(struct ib_store *s, struct ib_store_report *r)
{
        ib_store_for_each_stale(s, add_stale, r);
}
