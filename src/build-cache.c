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

int ib_cache_remote_get(struct build *b, const char *key, struct ib_cache_entry *ret, struct ib_err **err)
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
        if (ib_ref_parse(refs, &ref, err) < 0 || ib_build_registry(b, err) < 0)
                return -EINVAL;
        double t = ib_now();
        r = ib_registry_pull(b->reg, b->store, ref, NULL, &pr, &e);
        ib_build_phase_add(b, IB_PHASE_PULL, t);
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

int ib_cache_remote_put(struct build *b, const char *key, const char *created, const char *created_by,
                        const struct ib_layer *layer, struct ib_err **err)
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
                r = ib_build_registry(b, err);
        if (r == 0)
                r = ib_image_commit(b->store, cfg, layer, layer ? 1 : 0, IB_FORMAT_OCI, &img, err);
        if (r == 0) {
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
