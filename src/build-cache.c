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
