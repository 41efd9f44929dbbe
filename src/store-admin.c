/* src/store-admin.c - `imgbuild store du` and `prune`: sizes, reachability,
 * and removal of what no recent build used (see src/store-admin.h).
 *
 * Reachability: a kept cache entry keeps its layer blob and layer dir; a kept
 * JSON blob (index, manifest, config) keeps the blobs it names (manifests,
 * config, layers) and the layer dirs of its rootfs.diff_ids.  So a build that
 * touched a base image's manifest (lib/ib.h: ib_store_touch_used) keeps the
 * whole image, and one that hit a cache entry keeps that step's layer. */
#include "lib/ib.h"
#include "src/store-admin.h"
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <yajl/yajl_tree.h>

/* ------------------------------------------------------------ small sets */

/* Strings (hex ids) with a value; open addressing, grows at half full. */
struct hset {
        char **key;
        uint64_t *val;
        size_t cap, n;
};

static size_t hset_slot(const struct hset *h, const char *k)
{
        size_t i = (size_t) ib_xxh64(k, strlen(k), 0) & (h->cap - 1);
        while (h->key[i] && strcmp(h->key[i], k) != 0)
                i = (i + 1) & (h->cap - 1);
        return i;
}

static void hset_grow(struct hset *h)
{
        struct hset n = { .cap = h->cap ? h->cap * 2 : 64 };
        n.key = ib_calloc(n.cap, sizeof(*n.key));
        n.val = ib_calloc(n.cap, sizeof(*n.val));
        for (size_t i = 0; i < h->cap; i++)
                if (h->key[i]) {
                        size_t j = hset_slot(&n, h->key[i]);
                        n.key[j] = h->key[i];
                        n.val[j] = h->val[i];
                        n.n++;
                }
        free(h->key);
        free(h->val);
        *h = n;
}

/* Adds @k (copied); true when it was not there. */
static bool hset_add(struct hset *h, const char *k, uint64_t val)
{
        size_t i;
        if (2 * (h->n + 1) > h->cap)
                hset_grow(h);
        i = hset_slot(h, k);
        if (h->key[i])
                return false;
        h->key[i] = ib_strdup(k);
        h->val[i] = val;
        h->n++;
        return true;
}

static bool hset_get(const struct hset *h, const char *k, uint64_t *ret_val)
{
        size_t i;
        if (!h->cap)
                return false;
        i = hset_slot(h, k);
        if (h->key[i] && ret_val)
                *ret_val = h->val[i];
        return h->key[i] != NULL;
}

static void hset_release(struct hset *h)
{
        for (size_t i = 0; i < h->cap; i++)
                free(h->key[i]);
        free(h->key);
        free(h->val);
        memset(h, 0, sizeof(*h));
}

/* Inodes with more than one link, so du counts each once. */
struct inoset {
        uint64_t *dev, *ino;
        size_t cap, n;
};

static bool inoset_add(struct inoset *s, dev_t dev, ino_t ino)
{
        size_t i;
        if (2 * (s->n + 1) > s->cap) {
                struct inoset n = { .cap = s->cap ? s->cap * 2 : 256 };
                n.dev = ib_calloc(n.cap, sizeof(*n.dev));
                n.ino = ib_calloc(n.cap, sizeof(*n.ino));
                for (size_t k = 0; k < s->cap; k++)
                        if (s->ino[k])
                                inoset_add(&n, (dev_t) s->dev[k], (ino_t) s->ino[k]);
                free(s->dev);
                free(s->ino);
                *s = n;
        }
        i = (size_t) ((uint64_t) ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t) dev) & (s->cap - 1);
        while (s->ino[i]) {
                if (s->ino[i] == (uint64_t) ino && s->dev[i] == (uint64_t) dev)
                        return false;
                i = (i + 1) & (s->cap - 1);
        }
        s->dev[i] = (uint64_t) dev;
        s->ino[i] = (uint64_t) ino;
        s->n++;
        return true;
}

static void inoset_release(struct inoset *s)
{
        free(s->dev);
        free(s->ino);
        memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------ disk usage */

/* nftw has no user data: the walk in progress (one at a time, verbs only). */
static struct inoset *walk_seen;
static uint64_t walk_bytes;

static int walk_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        if (flag == FTW_NS || flag == FTW_DNR)
                return 0;
        if (!S_ISDIR(st->st_mode) && st->st_nlink > 1 && !inoset_add(walk_seen, st->st_dev, st->st_ino))
                return 0;
        walk_bytes += (uint64_t) st->st_blocks * 512;
        return 0;
}

/* du -s of @path (file or tree), never following symlinks or crossing mounts;
 * 0 when it does not exist. */
static uint64_t disk_usage(const char *path, struct inoset *seen)
{
        walk_seen = seen;
        walk_bytes = 0;
        (void) nftw(path, walk_cb, 32, FTW_PHYS | FTW_MOUNT);
        return walk_bytes;
}

/* Names in @dir (not . and ..); an empty vector when it cannot be read. */
static char **names_in(const char *dir)
{
        DIR *d = opendir(dir);
        struct ib_strvec v = { 0 };
        struct dirent *de;

        while (d && (de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        ib_strvec_push_own(&v, ib_strdup(de->d_name));
        if (d)
                closedir(d);
        return ib_strvec_finish(&v);
}

/* "<hex>", "<hex>.entries", "<hex>.lock" in layers/ -> the layer's hex. */
static char *layer_hex_of(const char *name)
{
        _cleanup_free_ char *hex = ib_strndup(name, 64);
        if (!ib_is_sha256_hex(hex))
                return NULL;
        if (name[64] && strcmp(name + 64, ".entries") != 0 && strcmp(name + 64, ".lock") != 0)
                return NULL;
        return IB_TAKE_PTR(hex);
}

/* ---------------------------------------------------------- reachability */

struct reach {
        struct ib_store *s;
        struct hset blobs, layers;      /* hex ids */
};

static void reach_layer(struct reach *r, const char *diff_id)
{
        const char *hex = diff_id;
        if (diff_id && ib_startswith(diff_id, "sha256:") && !ib_digest_parse(diff_id, &hex))
                return;
        if (hex && ib_is_sha256_hex(hex))
                hset_add(&r->layers, hex, 0);
}

static void reach_blob(struct reach *r, const char *digest);

static void reach_digests(struct reach *r, yajl_val arr)
{
        for (size_t i = 0; arr && YAJL_IS_ARRAY(arr) && i < arr->u.array.len; i++)
                reach_blob(r, ib_json_get_str(arr->u.array.values[i], "digest"));
}

/* A JSON blob names others: an index its manifests, a manifest its config and
 * layers, a config its layer dirs (rootfs.diff_ids). */
static void reach_json(struct reach *r, const char *path)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_err_ struct ib_err *e = NULL;
        _cleanup_json_ yajl_val v = NULL;
        yajl_val ids;
        struct stat st;
        size_t len;

        if (stat(path, &st) < 0 || st.st_size > (4 << 20) || ib_read_file(path, 4 << 20, &text, &len, &e) < 0 ||
            len == 0 || text[0] != '{' || !(v = ib_json_parse(text, len, "blob", &e)))
                return;
        reach_digests(r, ib_json_get(v, "manifests"));
        reach_digests(r, ib_json_get(v, "layers"));
        reach_blob(r, ib_json_get_str(ib_json_get(v, "config"), "digest"));
        ids = ib_json_get(ib_json_get(v, "rootfs"), "diff_ids");
        for (size_t i = 0; ids && YAJL_IS_ARRAY(ids) && i < ids->u.array.len; i++)
                reach_layer(r, YAJL_GET_STRING(ids->u.array.values[i]));
}

static void reach_blob(struct reach *r, const char *digest)
{
        const char *hex = digest;
        _cleanup_free_ char *path = NULL;

        if (!digest || (ib_startswith(digest, "sha256:") && !ib_digest_parse(digest, &hex)) ||
            !ib_is_sha256_hex(hex) || !hset_add(&r->blobs, hex, 0))
                return;
        path = ib_store_blob_path(r->s, hex);
        reach_json(r, path);
}

/* A cache entry keeps its layer's blob and dir. */
static void reach_entry(struct reach *r, const char *path)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_err_ struct ib_err *e = NULL;
        _cleanup_json_ yajl_val v = NULL;
        yajl_val l;
        size_t len;

        if (ib_read_file(path, 1u << 20, &text, &len, &e) < 0 || !(v = ib_json_parse(text, len, "entry", &e)))
                return;
        l = ib_json_get(v, "layer");
        reach_blob(r, ib_json_get_str(l, "digest"));
        reach_layer(r, ib_json_get_str(l, "diffID"));
}

static void reach_release(struct reach *r)
{
        hset_release(&r->blobs);
        hset_release(&r->layers);
}

/* ------------------------------------------------------------------- du */

struct ref_file {
        char *name, *digest;
};
static struct ref_file *ref_files;
static size_t n_ref_files, ref_files_alloc;
static size_t refs_prefix;

static int ref_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_err_ struct ib_err *e = NULL;
        size_t len;

        if (flag != FTW_F || !S_ISREG(st->st_mode) || ib_atomic_tmp_name(path + ftw->base) ||
            ib_read_file(path, 4096, &text, &len, &e) < 0)
                return 0;
        text[strcspn(text, "\n")] = '\0';
        ib_grow(&ref_files, &ref_files_alloc, n_ref_files + 1, sizeof(*ref_files));
        ref_files[n_ref_files++] = (struct ref_file) { .name = ib_strdup(path + refs_prefix), .digest = ib_strdup(text) };
        return 0;
}

static void image_usage(struct ib_store *s, const struct hset *blob_bytes, const struct hset *layer_bytes,
                        struct ib_store_image_usage *u)
{
        struct reach r = { .s = s };

        reach_blob(&r, u->digest);
        for (size_t i = 0; i < r.blobs.cap; i++) {
                uint64_t b;
                if (r.blobs.key[i] && hset_get(blob_bytes, r.blobs.key[i], &b)) {
                        u->blobs++;
                        u->blob_bytes += b;
                }
        }
        for (size_t i = 0; i < r.layers.cap; i++) {
                uint64_t b;
                if (r.layers.key[i] && hset_get(layer_bytes, r.layers.key[i], &b)) {
                        u->layers++;
                        u->layer_bytes += b;
                }
        }
        reach_release(&r);
}

static void du_images(struct ib_store *s, const struct hset *blob_bytes, const struct hset *layer_bytes,
                      struct ib_store_usage *u)
{
        _cleanup_free_ char *refs = ib_path_join(s->root, "cache/refs");

        refs_prefix = strlen(refs) + 1;
        (void) nftw(refs, ref_cb, 16, FTW_PHYS | FTW_MOUNT);
        u->images = ib_calloc(n_ref_files ? n_ref_files : 1, sizeof(*u->images));
        u->n_images = n_ref_files;
        for (size_t i = 0; i < n_ref_files; i++) {
                u->images[i].name = ref_files[i].name;
                u->images[i].digest = ref_files[i].digest;
                image_usage(s, blob_bytes, layer_bytes, &u->images[i]);
        }
        free(ref_files);
        ref_files = NULL;
        n_ref_files = ref_files_alloc = 0;
}

int ib_store_du(struct ib_store *s, struct ib_store_usage *u, struct ib_err **err)
{
        _cleanup_free_ char *blobs = ib_path_join(s->root, "blobs/sha256"), *layers = ib_path_join(s->root, "layers");
        _cleanup_free_ char *cache = ib_path_join(s->root, "cache"), *tmp = ib_path_join(s->root, "tmp");
        _cleanup_free_ char *steps = ib_path_join(s->root, "cache/steps");
        _cleanup_strv_ char **bn = names_in(blobs), **ln = names_in(layers), **sn = names_in(steps);
        struct hset blob_bytes = { 0 }, layer_bytes = { 0 };
        struct inoset seen = { 0 }, all = { 0 };
        uint64_t sum;

        memset(u, 0, sizeof(*u));
        for (size_t i = 0; bn[i]; i++) {
                _cleanup_free_ char *p = ib_path_join(blobs, bn[i]);
                uint64_t b = disk_usage(p, &seen);
                u->blobs++;
                u->blob_bytes += b;
                hset_add(&blob_bytes, bn[i], b);
        }
        for (size_t i = 0; ln[i]; i++) {
                _cleanup_free_ char *p = ib_path_join(layers, ln[i]), *hex = layer_hex_of(ln[i]);
                uint64_t b = disk_usage(p, &seen), prev = 0;
                if (ib_is_sha256_hex(ln[i]))
                        u->layers++;
                u->layer_bytes += b;
                if (hex && hset_get(&layer_bytes, hex, &prev))
                        layer_bytes.val[hset_slot(&layer_bytes, hex)] = prev + b;
                else if (hex)
                        hset_add(&layer_bytes, hex, b);
        }
        for (size_t i = 0; sn[i]; i++)
                if (ib_is_sha256_hex(sn[i]))
                        u->cache_entries++;
        u->cache_bytes = disk_usage(cache, &seen);
        u->scratch_bytes = disk_usage(tmp, &seen);
        u->total_bytes = disk_usage(s->root, &all);
        sum = u->blob_bytes + u->layer_bytes + u->cache_bytes + u->scratch_bytes;
        u->other_bytes = u->total_bytes > sum ? u->total_bytes - sum : 0;
        u->total_bytes = sum + u->other_bytes;
        du_images(s, &blob_bytes, &layer_bytes, u);
        hset_release(&blob_bytes);
        hset_release(&layer_bytes);
        inoset_release(&seen);
        inoset_release(&all);
        (void) err;
        return 0;
}

void ib_store_usage_release(struct ib_store_usage *u)
{
        for (size_t i = 0; i < u->n_images; i++) {
                free(u->images[i].name);
                free(u->images[i].digest);
        }
        free(u->images);
        memset(u, 0, sizeof(*u));
}

/* ----------------------------------------------------------------- prune */

struct victim {
        char *path;             /* where it was */
        char *moved;            /* where it is now (scratch), NULL when unlinked or dry run */
};

struct prune {
        struct ib_store *s;
        const struct ib_prune_opts *o;
        time_t cutoff;
        struct hset held[IB_STORE_KINDS];
        struct reach keep;
        struct hset keep_cache;
        struct victim *v;
        size_t n_v, v_alloc;
        unsigned long moved;
};

static void add_held(enum ib_store_kind kind, const char *hex, void *userdata)
{
        struct prune *p = userdata;
        hset_add(&p->held[kind], hex, 0);
}

/* Used within the keep duration?  The later of the use record and the ctime
 * (an object made by a build that predates use records has only the latter). */
static bool recent(struct prune *p, enum ib_store_kind kind, const char *hex, const char *path)
{
        _cleanup_free_ char *rec = ib_strdupf("%s/used/%s/%s", p->s->root, ib_store_kind_name(kind), hex);
        struct stat st;
        time_t last = 0;

        if (p->o->all)
                return false;
        if (stat(rec, &st) == 0)
                last = st.st_mtime;
        if (lstat(path, &st) == 0 && st.st_ctime > last)
                last = st.st_ctime;
        return last > p->cutoff;
}

/* Move @path out of the store's namespace now (a rename into our scratch: a
 * reader sees the object or nothing), or just note it for a dry run. */
static void take(struct prune *p, const char *path)
{
        struct victim v = { .path = ib_strdup(path) };

        if (!p->o->dry_run) {
                _cleanup_free_ char *to = ib_strdupf("%s/prune-%lu", p->s->tmp_dir, ++p->moved);
                if (rename(path, to) < 0) {
                        ib_debug("prune: cannot move `%s`, ignoring: %s", path, strerror(errno));
                        free(v.path);
                        return;
                }
                v.moved = IB_TAKE_PTR(to);
        }
        ib_grow(&p->v, &p->v_alloc, p->n_v + 1, sizeof(*p->v));
        p->v[p->n_v++] = v;
}

static void drop_record(struct prune *p, enum ib_store_kind kind, const char *hex)
{
        _cleanup_free_ char *rec = ib_strdupf("%s/used/%s/%s", p->s->root, ib_store_kind_name(kind), hex);
        if (!p->o->dry_run)
                (void) unlink(rec);
}

/* Decide about cache entries: kept ones keep what they name. */
static void prune_cache(struct prune *p)
{
        _cleanup_free_ char *dir = ib_path_join(p->s->root, "cache/steps");
        _cleanup_strv_ char **names = names_in(dir);

        for (size_t i = 0; names[i]; i++) {
                _cleanup_free_ char *path = ib_path_join(dir, names[i]);
                if (ib_atomic_tmp_name(names[i])) {
                        if (!ib_atomic_tmp_alive(names[i]))
                                take(p, path);          /* a dead writer's temp file */
                        continue;
                }
                if (!ib_is_sha256_hex(names[i]))
                        continue;                       /* not ours: verify reports it */
                if (hset_get(&p->held[IB_STORE_CACHE], names[i], NULL) || recent(p, IB_STORE_CACHE, names[i], path)) {
                        hset_add(&p->keep_cache, names[i], 0);
                        reach_entry(&p->keep, path);
                }
        }
        for (size_t i = 0; names[i]; i++) {
                _cleanup_free_ char *path = ib_path_join(dir, names[i]);
                if (ib_is_sha256_hex(names[i]) && !hset_get(&p->keep_cache, names[i], NULL)) {
                        take(p, path);
                        drop_record(p, IB_STORE_CACHE, names[i]);
                }
        }
}

static void prune_blobs(struct prune *p)
{
        _cleanup_free_ char *dir = ib_path_join(p->s->root, "blobs/sha256");
        _cleanup_strv_ char **names = names_in(dir);

        for (size_t i = 0; names[i]; i++) {
                _cleanup_free_ char *path = ib_path_join(dir, names[i]);
                if (ib_is_sha256_hex(names[i]) &&
                    (hset_get(&p->held[IB_STORE_BLOB], names[i], NULL) || recent(p, IB_STORE_BLOB, names[i], path)))
                        reach_blob(&p->keep, names[i]);
        }
        for (size_t i = 0; names[i]; i++) {
                _cleanup_free_ char *path = ib_path_join(dir, names[i]);
                if (ib_is_sha256_hex(names[i]) && !hset_get(&p->keep.blobs, names[i], NULL)) {
                        take(p, path);
                        drop_record(p, IB_STORE_BLOB, names[i]);
                }
        }
}

/* The import lock goes only when nobody holds it (an importer touches the
 * layer first, so a held layer is never here). */
static void drop_layer_lock(struct prune *p, const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
                take(p, path);
}

static void prune_layers(struct prune *p)
{
        _cleanup_free_ char *dir = ib_path_join(p->s->root, "layers");
        _cleanup_strv_ char **names = names_in(dir);

        for (size_t i = 0; names[i]; i++) {
                _cleanup_free_ char *path = ib_path_join(dir, names[i]), *hex = layer_hex_of(names[i]);
                if (!hex || hset_get(&p->held[IB_STORE_LAYER], hex, NULL) || hset_get(&p->keep.layers, hex, NULL))
                        continue;
                if (ib_is_sha256_hex(names[i]) ? recent(p, IB_STORE_LAYER, hex, path) : false)
                        hset_add(&p->keep.layers, hex, 0);
        }
        for (size_t i = 0; names[i]; i++) {
                _cleanup_free_ char *path = ib_path_join(dir, names[i]), *hex = layer_hex_of(names[i]);
                if (!hex && ib_atomic_tmp_name(names[i]) && !ib_atomic_tmp_alive(names[i]))
                        take(p, path);          /* an entries index a dead process was writing */
                if (!hex || hset_get(&p->held[IB_STORE_LAYER], hex, NULL) || hset_get(&p->keep.layers, hex, NULL))
                        continue;
                if (ib_endswith(names[i], ".lock")) {
                        drop_layer_lock(p, path);
                        continue;
                }
                take(p, path);
                if (ib_is_sha256_hex(names[i]))
                        drop_record(p, IB_STORE_LAYER, hex);
        }
}

/* Tags whose manifest is gone, and (with --all) the bookkeeping of cache/. */
static void prune_bookkeeping(struct prune *p)
{
        static const char *const all_dirs[] = { "cache/refs", "cache/context-index", "cache/blob-repos" };

        if (p->o->all) {
                for (size_t i = 0; i < IB_ELEMENTSOF(all_dirs); i++) {
                        _cleanup_free_ char *d = ib_path_join(p->s->root, all_dirs[i]);
                        struct stat st;
                        if (lstat(d, &st) == 0)
                                take(p, d);
                }
                return;
        }
        _cleanup_free_ char *refs = ib_path_join(p->s->root, "cache/refs");
        refs_prefix = strlen(refs) + 1;
        (void) nftw(refs, ref_cb, 16, FTW_PHYS | FTW_MOUNT);
        for (size_t i = 0; i < n_ref_files; i++) {
                const char *hex = NULL;
                if (ib_digest_parse(ref_files[i].digest, &hex) && !hset_get(&p->keep.blobs, hex, NULL)) {
                        _cleanup_free_ char *path = ib_path_join(refs, ref_files[i].name);
                        take(p, path);
                }
                free(ref_files[i].name);
                free(ref_files[i].digest);
        }
        free(ref_files);
        ref_files = NULL;
        n_ref_files = ref_files_alloc = 0;
}

static void add_stale_scratch(const char *name, void *userdata)
{
        struct prune *p = userdata;
        _cleanup_free_ char *path = ib_strdupf("%s/tmp/%s", p->s->root, name);
        take(p, path);
}

/* Use records of objects that are gone (a cache miss records its key too). */
static void prune_records(struct prune *p)
{
        static const char *const kind_dirs[IB_STORE_KINDS] = { "blobs/sha256", "layers", "cache/steps" };

        for (int k = 0; k < IB_STORE_KINDS; k++) {
                _cleanup_free_ char *dir = ib_strdupf("%s/used/%s", p->s->root, ib_store_kind_name((enum ib_store_kind) k));
                _cleanup_strv_ char **names = names_in(dir);
                for (size_t i = 0; names[i]; i++) {
                        _cleanup_free_ char *obj = ib_strdupf("%s/%s/%s", p->s->root, kind_dirs[k], names[i]);
                        _cleanup_free_ char *rec = ib_path_join(dir, names[i]);
                        struct stat st;
                        if (!p->o->dry_run && lstat(obj, &st) < 0 && errno == ENOENT &&
                            !hset_get(&p->held[k], names[i], NULL))
                                (void) unlink(rec);
                }
        }
}

int ib_store_prune(struct ib_store *s, const struct ib_prune_opts *o, struct ib_prune_result *ret,
                   struct ib_err **err)
{
        struct prune p = { .s = s, .o = o, .keep = { .s = s } };
        struct inoset seen = { 0 };
        _cleanup_close_ int lock = -1;

        memset(ret, 0, sizeof(*ret));
        if (ib_store_lock(s, true, &lock, err) < 0)
                return -EIO;
        p.cutoff = time(NULL) - (time_t) (o->keep_seconds > 0 ? o->keep_seconds : 0);
        ib_store_for_each_held(s, add_held, &p);
        /* roots first: cache entries and blobs decide what layers are kept */
        prune_cache(&p);
        prune_blobs(&p);
        prune_layers(&p);
        prune_bookkeeping(&p);
        prune_records(&p);
        ib_store_for_each_stale(s, add_stale_scratch, &p);
        ret->kept = p.keep.blobs.n + p.keep.layers.n + p.keep_cache.n;
        close(IB_TAKE_FD(lock));        /* builds may go on: what is left is ours alone */

        for (size_t i = 0; i < p.n_v; i++) {
                struct victim *v = &p.v[i];
                uint64_t b = disk_usage(v->moved ? v->moved : v->path, &seen);
                if (v->moved) {
                        _cleanup_err_ struct ib_err *e = NULL;
                        if (ib_rm_rf(v->moved, &e) < 0)
                                ib_debug("prune: %s", e->msg);
                }
                ib_grow(&ret->items, &ret->items_alloc, ret->n_items + 1, sizeof(*ret->items));
                ret->items[ret->n_items++] = (struct ib_prune_item) { .path = IB_TAKE_PTR(v->path), .bytes = b };
                ret->bytes += b;
                free(v->moved);
        }
        free(p.v);
        for (int k = 0; k < IB_STORE_KINDS; k++)
                hset_release(&p.held[k]);
        hset_release(&p.keep_cache);
        reach_release(&p.keep);
        inoset_release(&seen);
        return 0;
}

void ib_prune_result_release(struct ib_prune_result *r)
{
        for (size_t i = 0; i < r->n_items; i++)
                free(r->items[i].path);
        free(r->items);
        memset(r, 0, sizeof(*r));
}
