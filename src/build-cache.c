/* src/build-cache.c - the local layer cache: step keys and entries.
 *
 * A key is a rolling SHA-256 over length-framed inputs (so no two input lists
 * collide): the previous key (for a stage's first step: the base image's
 * manifest digest, "scratch", or the parent stage's final key), the
 * instruction after variable expansion, its flags, and what the step can see:
 * a RUN's environment, user, working dir, network and mounts; a COPY/ADD's
 * sources by content (path, type, mode, owner, content digest, link target —
 * never mtimes), or for --from=stage that stage's final key; the layer
 * options (compression, level, SOURCE_DATE_EPOCH) for steps that make layers.
 *
 * An entry, cache/steps/<key> in the store, is a small JSON object:
 *   {"created":"RFC 3339","layer":{"mediaType":..,"digest":..,"size":N,"diffID":..}}
 * ("layer" absent for steps that add none).  A hit reuses the layer blob (and
 * its extracted dir when present) and the step's original history time, so a
 * rebuild with nothing changed yields the same image digest.  Entries are
 * written atomically; a damaged or dangling one (its blob gone) is a miss. */
#include "src/build-internal.h"
#include <limits.h>
#include <pthread.h>
#include <time.h>
#include <yajl/yajl_tree.h>

void ib_bkey_start(struct ib_bkey *k, const char *prev)
{
        k->h = ib_sha256_new();
        ib_bkey_add(k, "imgbuild-step-v1");
        ib_bkey_add(k, prev ? prev : "");
}

void ib_bkey_addn(struct ib_bkey *k, const void *data, size_t n)
{
        char len[24];
        int l = snprintf(len, sizeof(len), "%zu:", n);
        ib_sha256_update(k->h, len, (size_t) l);
        ib_sha256_update(k->h, data, n);
}

void ib_bkey_add(struct ib_bkey *k, const char *s)
{
        /* -v debug shows what went into each key (the "why was this a miss"
         * question); long inputs are cut, binary ones are trace-level. */
        if (ib_log_level_max >= IB_LOG_DEBUG && s && strcmp(s, "imgbuild-step-v1"))
                ib_debug("cache key: + %.*s%s", 300, s, strlen(s) > 300 ? "..." : "");
        else if (!s)
                ib_trace("cache key: + (unset)");
        if (!s) {
                ib_sha256_update(k->h, "-", 1);         /* NULL differs from "" */
                return;
        }
        ib_bkey_addn(k, s, strlen(s));
}

void ib_bkey_addv(struct ib_bkey *k, char *const *v)
{
        char n[24];
        snprintf(n, sizeof(n), "%zu", ib_strv_len(v));
        ib_bkey_add(k, n);
        for (size_t i = 0; v && v[i]; i++)
                ib_bkey_add(k, v[i]);
}

void ib_bkey_finish(struct ib_bkey *k, char hex[IB_SHA256_HEX])
{
        ib_sha256_final_hex(k->h, hex);
        ib_debug("cache key: = %s", hex);
        ib_sha256_free(k->h);
        k->h = NULL;
}

static char *entry_path(const struct build *b, const char *key)
{
        return ib_strdupf("%s/cache/steps/%s", b->store->root, key);
}

void ib_cache_entry_release(struct ib_cache_entry *e)
{
        free(e->created);
        ib_layer_clear(&e->layer);
        memset(e, 0, sizeof(*e));
}

int ib_cache_get(struct build *b, const char *key, struct ib_cache_entry *ret)
{
        _cleanup_free_ char *path = entry_path(b, key), *text = NULL;
        _cleanup_json_ yajl_val v = NULL;
        struct ib_err *e = NULL;
        size_t len = 0;
        yajl_val l, sz;

        memset(ret, 0, sizeof(*ret));
        ib_store_touch_used(b->store, IB_STORE_CACHE, key);
        if (ib_read_file(path, 1u << 20, &text, &len, &e) < 0) {
                ib_err_free(&e);
                return -ENOENT;
        }
        v = ib_json_parse(text, len, "cache entry", &e);
        if (!v || !ib_json_get_str(v, "created")) {
                ib_err_free(&e);
                return -EBADMSG;
        }
        ret->created = ib_strdup(ib_json_get_str(v, "created"));
        l = ib_json_get(v, "layer");
        if (l) {
                const char *mt = ib_json_get_str(l, "mediaType"), *dg = ib_json_get_str(l, "digest");
                const char *di = ib_json_get_str(l, "diffID");
                sz = ib_json_get(l, "size");
                if (!mt || !dg || !di || !sz || !YAJL_IS_INTEGER(sz) || !ib_store_has_blob(b->store, dg)) {
                        ib_cache_entry_release(ret);
                        return -ENOENT;         /* dangling: the blob was pruned */
                }
                ret->has_layer = true;
                ret->layer = (struct ib_layer) { .media_type = ib_strdup(mt), .digest = ib_strdup(dg),
                                                 .diff_id = ib_strdup(di), .size = YAJL_GET_INTEGER(sz),
                                                 .uncompressed_size = -1 };
        }
        return 0;
}

int ib_cache_put(struct build *b, const char *key, const char *created, const struct ib_layer *layer,
                 struct ib_err **err)
{
        _cleanup_free_ char *dir = ib_strdupf("%s/cache/steps", b->store->root);
        _cleanup_free_ char *path = entry_path(b, key);
        _cleanup_buf_ struct ib_buf j = IB_BUF_INIT;

        ib_store_touch_used(b->store, IB_STORE_CACHE, key);
        if (ib_mkdir_p(dir, 0755, err) < 0)
                return -EIO;
        ib_buf_adds(&j, "{\"created\":");
        ib_json_add_str(&j, created);
        if (layer) {
                ib_buf_adds(&j, ",\"layer\":{\"diffID\":");
                ib_json_add_str(&j, layer->diff_id);
                ib_buf_adds(&j, ",\"digest\":");
                ib_json_add_str(&j, layer->digest);
                ib_buf_adds(&j, ",\"mediaType\":");
                ib_json_add_str(&j, layer->media_type);
                ib_buf_addf(&j, ",\"size\":%lld}", (long long) layer->size);
        }
        ib_buf_adds(&j, "}\n");
        return ib_write_file_atomic(path, j.buf, j.len, 0644, err);
}

/* ---------------------------------------------------------- registry cache
 * Kaniko's layout: each cached step is an image of its own in the cache repo,
 * tagged with the step's 64-hex key, holding the step's layer (or none) and a
 * config whose history is the step's (created time, created_by).  Metadata
 * steps are cached too (no layer), so that their history times, and so the
 * image digest, are the same on every machine that shares the cache. */

int ib_parse_duration(const char *s, int64_t *ret)
{
        int64_t total = 0;
        const char *p = s;

        if (!s || !*s)
                return -EINVAL;
        while (*p) {
                char *end = NULL;
                long long v;
                errno = 0;
                v = strtoll(p, &end, 10);
                if (errno || end == p || v < 0)
                        return -EINVAL;
                switch (*end) {
                case 'h': total += v * 3600; break;
                case 'm': total += v * 60; break;
                case 's': total += v; break;
                case 'd': total += v * 86400; break;
                default: return -EINVAL;
                }
                p = end + 1;
        }
        *ret = total;
        return 0;
}

static char *cache_ref(const struct build *b, const char *key)
{
        return ib_strdupf("%s:%s", b->o->cache_repo, key);
}

/* One lookup through @reg (the build's client, or a lookup thread's own). */
static int remote_lookup(struct build *b, struct ib_registry *reg, const char *key, struct ib_cache_entry *ret,
                         struct ib_err **err)
{
        _cleanup_free_ char *refs = cache_ref(b, key), *text = NULL, *path = NULL;
        _cleanup_(ib_ref_freep) struct ib_ref *ref = NULL;
        _cleanup_(ib_pull_result_freep) struct ib_pull_result *pr = NULL;
        _cleanup_(ib_image_freep) struct ib_image *img = NULL;
        struct ib_image_config *cfg = NULL;
        struct ib_err *e = NULL;
        int64_t created = 0;
        size_t len = 0;
        int r;

        memset(ret, 0, sizeof(*ret));
        if (ib_ref_parse(refs, &ref, err) < 0)
                return -EINVAL;
        double t = ib_now();
        r = ib_registry_pull(reg, b->store, ref, NULL, &pr, &e);
        if (reg == b->reg)
                ib_build_phase_add(b, IB_PHASE_PULL, t);        /* the lookup threads keep no phases */
        if (r < 0) {
                /* a miss looks like any other failure here: report it at debug level only */
                ib_debug("cache %s: %s", refs, e ? e->msg : "miss");
                ib_err_free(&e);
                return -ENOENT;
        }
        if (ib_image_load(b->store, pr->manifest_digest, &img, err) < 0)
                return -EIO;
        path = ib_store_blob_path(b->store, img->config_digest);
        if (!path || ib_read_file(path, 1u << 20, &text, &len, err) < 0 ||
            ib_image_config_parse(text, len, &cfg, err) < 0)
                return -EIO;
        r = -ENOENT;
        if (cfg->n_history == 1 && cfg->history[0].created && img->n_layers <= 1 &&
            ib_time_parse(cfg->history[0].created, &created) == 0 &&
            (b->o->cache_ttl <= 0 || (int64_t) time(NULL) - created <= b->o->cache_ttl)) {
                ret->created = ib_strdup(cfg->history[0].created);
                if (img->n_layers == 1) {
                        ret->has_layer = true;
                        ret->layer = (struct ib_layer) {
                                .media_type = ib_strdup(img->layers[0].media_type),
                                .digest = ib_strdup(img->layers[0].digest), .size = img->layers[0].size,
                                .diff_id = ib_strdup(img->layers[0].diff_id), .uncompressed_size = -1 };
                }
                r = 0;
        } else {
                ib_debug("cache %s: expired or not a cache image, ignoring", refs);
        }
        ib_image_config_free(cfg);
        return r;
}

static int remote_put(struct build *b, struct ib_registry *reg, const char *key, const char *created,
                      const char *created_by, const struct ib_layer *layer, struct ib_err **err)
{
        _cleanup_free_ char *refs = cache_ref(b, key);
        _cleanup_(ib_ref_freep) struct ib_ref *ref = NULL;
        _cleanup_(ib_image_freep) struct ib_image *img = NULL;
        struct ib_image_config *cfg = ib_image_config_new();
        struct ib_push_result pr = { 0 };
        int r;

        ib_image_config_set_str(&cfg->created, created);
        if (layer)
                ib_image_config_add_layer(cfg, layer->diff_id, created, created_by, NULL);
        else
                ib_image_config_add_history(cfg, created, created_by, NULL, true);
        r = ib_ref_parse(refs, &ref, err);
        if (r == 0)
                r = ib_image_commit(b->store, cfg, layer, layer ? 1 : 0, IB_FORMAT_OCI, &img, err);
        if (r == 0 && reg != b->reg) {
                /* the background thread: no progress events, no phase times (not thread-safe) */
                r = ib_registry_push(reg, b->store->root, img->manifest_digest, ref, NULL, b->store, &pr, err);
        } else if (r == 0) {
                double t = ib_now();
                ib_registry_set_progress(b->reg, ib_xfer_progress, (void *) "push");
                r = ib_registry_push(b->reg, b->store->root, img->manifest_digest, ref, NULL, b->store, &pr, err);
                ib_registry_set_progress(b->reg, ib_xfer_progress, (void *) "pull");
                ib_build_phase_add(b, IB_PHASE_PUSH, t);
        }
        ib_push_result_release(&pr);
        ib_image_config_free(cfg);
        return r < 0 ? ib_err_wrap(err, "cache push %s", refs) : 0;
}

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* A registry client of a thread's own (libcurl handles are not shared across
 * threads); the build's client was made first, so libcurl's global set-up
 * has been done by the main thread. */
static int thread_registry(struct build *b, unsigned max_retries, struct ib_registry **ret, struct ib_err **err)
{
        struct ib_registry_opts o;
        int r;

        ib_registry_opts_init(&o);
        if (b->o->registry) {
                ib_registry_opts_release(&o);
                o = *b->o->registry;    /* shallow: ib_registry_new copies what it keeps */
        }
        if (o.push_retries > max_retries)
                o.push_retries = max_retries;
        r = ib_registry_new(&o, ret, err);
        if (!b->o->registry)
                ib_registry_opts_release(&o);
        return r;
}

/* ------------------------------------------------------ lookups up front
 * Every key that can be computed before execution (see ib_build_cache_keys in
 * src/build.c) is looked up at once by a few threads, each with its own
 * client; the step loop then reads the answers from this table and asks the
 * registry itself only for keys that were not known in advance. */

struct ahead_item {
        char key[IB_SHA256_HEX];
        int status;                     /* 0 hit, -ENOENT miss, other: failed (warn once) */
        char *warning;
        struct ib_cache_entry e;
};

struct ib_cache_ahead {
        struct ahead_item *items;
        size_t n;
        size_t next;                    /* next item to look up (atomic) */
        struct build *b;
};

#define AHEAD_THREADS 8

static void *ahead_worker(void *arg)
{
        struct ib_cache_ahead *a = arg;
        struct ib_registry *reg = NULL;
        struct ib_err *e = NULL;

        if (thread_registry(a->b, UINT_MAX, &reg, &e) < 0) {
                ib_err_free(&e);
                return NULL;            /* the step loop looks the keys up itself */
        }
        for (;;) {
                size_t i = __atomic_fetch_add(&a->next, 1, __ATOMIC_RELAXED);
                struct ahead_item *it;
                if (i >= a->n)
                        break;
                it = &a->items[i];
                it->status = remote_lookup(a->b, reg, it->key, &it->e, &e);
                if (it->status < 0 && e) {
                        it->warning = ib_strdup(e->msg);
                        it->status = -EIO;
                }
                ib_err_free(&e);
        }
        ib_registry_free(reg);
        return NULL;
}

int ib_cache_lookup_ahead(struct build *b, char (*keys)[IB_SHA256_HEX], size_t n, struct ib_err **err)
{
        struct ib_cache_ahead *a;
        pthread_t th[AHEAD_THREADS];
        size_t nth = n < AHEAD_THREADS ? n : AHEAD_THREADS, started = 0;
        unsigned hits = 0;
        double t0;

        if (!n || b->ahead)
                return 0;
        if (ib_build_registry(b, err) < 0)
                return -EIO;
        t0 = now_s();
        a = ib_calloc(1, sizeof(*a));
        a->items = ib_calloc(n, sizeof(*a->items));
        a->n = n;
        a->b = b;
        for (size_t i = 0; i < n; i++) {
                memcpy(a->items[i].key, keys[i], IB_SHA256_HEX);
                a->items[i].status = -EAGAIN;   /* not looked up (no thread got to it) */
        }
        for (size_t i = 0; i < nth; i++)
                if (pthread_create(&th[started], NULL, ahead_worker, a) == 0)
                        started++;
        if (!started)
                ahead_worker(a);
        for (size_t i = 0; i < started; i++)
                pthread_join(th[i], NULL);
        for (size_t i = 0; i < n; i++)
                hits += a->items[i].status == 0;
        ib_debug("cache lookups ahead: %zu keys, %u hits, %zu threads, %.3fs", n, hits, started ? started : 1,
                 now_s() - t0);
        b->ahead = a;
        return 0;
}

/* The answer looked up ahead for @key: 1 (and *ret filled, or *warning set
 * for a failed lookup) when there is one, 0 when the key was not known ahead. */
static int ahead_find(struct build *b, const char *key, struct ib_cache_entry *ret, char **warning)
{
        struct ib_cache_ahead *a = b->ahead;

        for (size_t i = 0; a && i < a->n; i++) {
                struct ahead_item *it = &a->items[i];
                if (strcmp(it->key, key) || it->status == -EAGAIN)
                        continue;
                if (it->status == 0) {
                        ret->created = ib_strdup(it->e.created);
                        ret->has_layer = it->e.has_layer;
                        if (it->e.has_layer)
                                ret->layer = (struct ib_layer) {
                                        .media_type = ib_strdup(it->e.layer.media_type),
                                        .digest = ib_strdup(it->e.layer.digest), .size = it->e.layer.size,
                                        .diff_id = ib_strdup(it->e.layer.diff_id), .uncompressed_size = -1 };
                }
                if (it->warning)
                        *warning = ib_strdup(it->warning);
                return 1;
        }
        return 0;
}

void ib_cache_ahead_free(struct build *b)
{
        struct ib_cache_ahead *a = b->ahead;

        for (size_t i = 0; a && i < a->n; i++) {
                ib_cache_entry_release(&a->items[i].e);
                free(a->items[i].warning);
        }
        if (a)
                free(a->items);
        free(a);
        b->ahead = NULL;
}

int ib_cache_remote_get(struct build *b, const char *key, struct ib_cache_entry *ret, struct ib_err **err)
{
        _cleanup_free_ char *warning = NULL;

        memset(ret, 0, sizeof(*ret));
        if (ahead_find(b, key, ret, &warning)) {
                if (warning)
                        return ib_err_set(err, EIO, "%s", warning);
                return ret->created ? 0 : -ENOENT;
        }
        ib_debug("cache %.12s: not looked up ahead, asking now", key);
        if (ib_build_registry(b, err) < 0)
                return -EIO;
        return remote_lookup(b, b->reg, key, ret, err);
}

/* ------------------------------------------------ pushes in the background
 * One thread, with its own client, pushes the cached steps in the order they
 * were built while the next steps run.  A failed push is a warning.  The
 * build waits for the queue at its end, at most PUSH_WAIT_S seconds (then it
 * says how many were abandoned and exits: a cache entry is an optimisation). */

#define PUSH_WAIT_S 120
#define PUSH_GIVE_UP 2

struct push_job {
        struct push_job *next;
        char key[IB_SHA256_HEX];
        char *created, *created_by;
        bool has_layer;
        struct ib_layer layer;
};

struct ib_cache_pusher {
        struct build *b;
        pthread_t th;
        pthread_mutex_t mu;
        pthread_cond_t cv;              /* work queued, or closing */
        pthread_cond_t idle;            /* the thread finished */
        struct push_job *head, *tail;
        bool closing, finished;
        unsigned pushed, failed;
};

static void push_job_free(struct push_job *j)
{
        free(j->created);
        free(j->created_by);
        ib_layer_clear(&j->layer);
        free(j);
}

static void *pusher_main(void *arg)
{
        struct ib_cache_pusher *p = arg;
        struct ib_registry *reg = NULL;
        struct ib_err *e = NULL;
        unsigned in_a_row = 0;

        /* a cache entry is not worth a long wait: one retry, and after
         * PUSH_GIVE_UP failures in a row the rest of the queue is dropped */
        if (thread_registry(p->b, 1, &reg, &e) < 0) {
                ib_log(IB_LOG_WARN, "cache pushes skipped: %s", e->msg);
                ib_err_free(&e);
        }
        pthread_mutex_lock(&p->mu);
        for (;;) {
                struct push_job *j;
                while (!p->head && !p->closing)
                        pthread_cond_wait(&p->cv, &p->mu);
                if (!p->head)
                        break;
                j = p->head;
                p->head = j->next;
                if (!p->head)
                        p->tail = NULL;
                pthread_mutex_unlock(&p->mu);
                /* a failed cache push is a warning, never a failed build */
                if (reg && in_a_row >= PUSH_GIVE_UP) {
                        __atomic_add_fetch(&p->failed, 1, __ATOMIC_RELAXED);
                } else if (reg && remote_put(p->b, reg, j->key, j->created, j->created_by,
                                             j->has_layer ? &j->layer : NULL, &e) < 0) {
                        ib_log(IB_LOG_WARN, "%s", e->msg);
                        ib_err_free(&e);
                        __atomic_add_fetch(&p->failed, 1, __ATOMIC_RELAXED);
                        if (++in_a_row == PUSH_GIVE_UP)
                                ib_log(IB_LOG_WARN, "%u cache pushes failed in a row: not pushing the others",
                                       PUSH_GIVE_UP);
                } else if (reg) {
                        ib_debug("cache pushed %.12s", j->key);
                        __atomic_add_fetch(&p->pushed, 1, __ATOMIC_RELAXED);
                        in_a_row = 0;
                }
                push_job_free(j);
                pthread_mutex_lock(&p->mu);
        }
        p->finished = true;
        pthread_cond_broadcast(&p->idle);
        pthread_mutex_unlock(&p->mu);
        ib_registry_free(reg);
        return NULL;
}

int ib_cache_remote_put_async(struct build *b, const char *key, const char *created, const char *created_by,
                              const struct ib_layer *layer, struct ib_err **err)
{
        struct ib_cache_pusher *p = b->pusher;
        struct push_job *j;

        if (!p) {
                /* the build's client first: libcurl's global set-up happens on this thread */
                if (ib_build_registry(b, err) < 0)
                        return -EIO;
                p = ib_calloc(1, sizeof(*p));
                p->b = b;
                pthread_mutex_init(&p->mu, NULL);
                pthread_cond_init(&p->cv, NULL);
                pthread_cond_init(&p->idle, NULL);
                if (pthread_create(&p->th, NULL, pusher_main, p) != 0) {
                        free(p);
                        /* no thread: push here and now */
                        return ib_cache_remote_put(b, key, created, created_by, layer, err);
                }
                b->pusher = p;
        }
        j = ib_calloc(1, sizeof(*j));
        memcpy(j->key, key, IB_SHA256_HEX);
        j->created = ib_strdup(created);
        j->created_by = ib_strdup(created_by);
        if (layer) {
                j->has_layer = true;
                j->layer = (struct ib_layer) { .media_type = ib_strdup(layer->media_type),
                                               .digest = ib_strdup(layer->digest), .size = layer->size,
                                               .diff_id = ib_strdup(layer->diff_id), .uncompressed_size = -1 };
        }
        pthread_mutex_lock(&p->mu);
        if (p->tail)
                p->tail->next = j;
        else
                p->head = j;
        p->tail = j;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        return 0;
}

int ib_cache_remote_put(struct build *b, const char *key, const char *created, const char *created_by,
                        const struct ib_layer *layer, struct ib_err **err)
{
        if (ib_build_registry(b, err) < 0)
                return -EIO;
        return remote_put(b, b->reg, key, created, created_by, layer, err);
}

void ib_cache_push_wait(struct build *b)
{
        struct ib_cache_pusher *p = b->pusher;
        struct timespec until;
        unsigned left = 0;
        double t0 = now_s();

        if (!p)
                return;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += PUSH_WAIT_S;
        pthread_mutex_lock(&p->mu);
        p->closing = true;
        pthread_cond_signal(&p->cv);
        while (!p->finished)
                if (pthread_cond_timedwait(&p->idle, &p->mu, &until) == ETIMEDOUT)
                        break;
        for (struct push_job *j = p->head; j; j = j->next)
                left++;
        bool finished = p->finished;
        pthread_mutex_unlock(&p->mu);
        b->pusher = NULL;
        if (!finished) {
                /* the thread is stuck in a transfer: leave it, the process is about to exit */
                ib_log(IB_LOG_WARN, "cache pushes still running after %ds: %u queued ones abandoned", PUSH_WAIT_S,
                       left + 1);
                return;
        }
        pthread_join(p->th, NULL);
        ib_debug("cache pushes: %u pushed, %u failed (waited %.3fs at the end)", p->pushed, p->failed,
                 now_s() - t0);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        pthread_cond_destroy(&p->idle);
        free(p);
}

void ib_cache_push_forget(struct build *b)
{
        b->pusher = NULL;       /* a forked child: the thread is the parent's */
}
