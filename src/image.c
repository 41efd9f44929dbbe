/* src/image.c - commit a config and its layers to the store as an image
 * (config blob + manifest blob), and describe a stored image again. */
#include "src/image-internal.h"

#define MAX_MANIFEST (4 << 20)
#define MAX_CONFIG (16 << 20)

void ib_layer_clear(struct ib_layer *l)
{
        free(l->media_type);
        free(l->digest);
        free(l->diff_id);
        memset(l, 0, sizeof(*l));
}

void ib_image_free(struct ib_image *img)
{
        if (!img)
                return;
        free(img->manifest_media_type);
        free(img->manifest_digest);
        free(img->config_media_type);
        free(img->config_digest);
        free(img->platform);
        free(img->created);
        for (size_t i = 0; i < img->n_layers; i++)
                ib_layer_clear(&img->layers[i]);
        free(img->layers);
        free(img);
}

/* The media type of a layer in @fmt's set; the compression never changes. */
static const char *layer_media_type(const char *mt, enum ib_image_format fmt)
{
        static const struct {
                const char *oci, *docker;
        } pairs[] = {
                { IB_MT_OCI_LAYER_GZIP, IB_MT_DOCKER_LAYER_GZIP },
                { IB_MT_OCI_LAYER, IB_MT_DOCKER_LAYER },
                { IB_MT_OCI_LAYER_ND_GZIP, IB_MT_DOCKER_FOREIGN_GZIP },
                { IB_MT_OCI_LAYER_ZSTD, IB_MT_DOCKER_LAYER_ZSTD },
        };

        for (size_t i = 0; i < IB_ELEMENTSOF(pairs); i++) {
                if (fmt == IB_FORMAT_DOCKER && strcmp(mt, pairs[i].oci) == 0)
                        /* docker has no zstd type its own tools read: keep OCI's (as BuildKit) */
                        return strcmp(mt, IB_MT_OCI_LAYER_ZSTD) == 0 ? mt : pairs[i].docker;
                if (fmt == IB_FORMAT_OCI && strcmp(mt, pairs[i].docker) == 0)
                        return pairs[i].oci;
        }
        return mt;
}

static int put_blob(struct ib_store *s, const struct ib_buf *b, char **ret_digest, struct ib_err **err)
{
        char hex[IB_SHA256_HEX];

        ib_sha256_hex(b->buf, b->len, hex);
        if (ib_store_has_blob(s, hex)) {
                *ret_digest = ib_strdupf("sha256:%s", hex);
                return 0;
        }
        return ib_store_put_blob(s, b->buf, b->len, NULL, ret_digest, err);
}

static int check_layers(struct ib_store *s, const struct ib_image_config *cfg, const struct ib_layer *layers,
                        size_t n, struct ib_err **err)
{
        size_t nd = ib_strv_len(cfg->diff_ids);

        if (nd != n)
                return ib_err_set(err, EINVAL, "the config lists %zu layers (diff_ids), %zu were given", nd, n);
        for (size_t i = 0; i < n; i++) {
                if (!layers[i].diff_id || strcmp(layers[i].diff_id, cfg->diff_ids[i]) != 0)
                        return ib_err_set(err, EINVAL, "layer %zu: diff_id %s does not match the config's %s", i,
                                          layers[i].diff_id ? layers[i].diff_id : "(none)", cfg->diff_ids[i]);
                if (!layers[i].digest || !ib_digest_parse(layers[i].digest, NULL))
                        return ib_err_set(err, EINVAL, "layer %zu: bad blob digest", i);
                if (!ib_store_has_blob(s, layers[i].digest))
                        return ib_err_set(err, ENOENT, "layer %zu: blob %s is not in the store", i, layers[i].digest);
                if (!layers[i].media_type)
                        return ib_err_set(err, EINVAL, "layer %zu: no media type", i);
        }
        return 0;
}

int ib_image_commit(struct ib_store *s, const struct ib_image_config *cfg, const struct ib_layer *layers,
                    size_t n_layers, enum ib_image_format fmt, struct ib_image **ret, struct ib_err **err)
{
        _cleanup_buf_ struct ib_buf cbuf = IB_BUF_INIT, mbuf = IB_BUF_INIT;
        _cleanup_(ib_manifest_freep) struct ib_manifest *m = ib_calloc(1, sizeof(*m));
        _cleanup_(ib_image_freep) struct ib_image *img = ib_calloc(1, sizeof(*img));
        int r;

        if ((r = check_layers(s, cfg, layers, n_layers, err)) < 0)
                return ib_err_wrap(err, "commit image");
        ib_image_config_serialize(cfg, &cbuf);
        if ((r = put_blob(s, &cbuf, &img->config_digest, err)) < 0)
                return ib_err_wrap(err, "commit image config");

        m->schema_version = 2;
        m->media_type = ib_strdup(ib_media_type_manifest(fmt));
        m->config.media_type = ib_strdup(ib_media_type_config(fmt));
        m->config.digest = ib_strdup(img->config_digest);
        m->config.size = (int64_t) cbuf.len;
        m->layers = ib_calloc(n_layers + 1, sizeof(*m->layers));
        img->layers = ib_calloc(n_layers + 1, sizeof(*img->layers));
        for (size_t i = 0; i < n_layers; i++) {
                const char *mt = layer_media_type(layers[i].media_type, fmt);
                m->layers[i].media_type = ib_strdup(mt);
                m->layers[i].digest = ib_strdup(layers[i].digest);
                m->layers[i].size = layers[i].size;
                img->layers[i] = (struct ib_layer) {
                        .media_type = ib_strdup(mt),
                        .digest = ib_strdup(layers[i].digest),
                        .size = layers[i].size,
                        .diff_id = ib_strdup(layers[i].diff_id),
                        .uncompressed_size = layers[i].uncompressed_size,
                };
        }
        m->n_layers = img->n_layers = n_layers;
        ib_manifest_serialize(m, &mbuf);
        if ((r = put_blob(s, &mbuf, &img->manifest_digest, err)) < 0)
                return ib_err_wrap(err, "commit image manifest");

        img->format = fmt;
        img->manifest_media_type = ib_strdup(m->media_type);
        img->manifest_size = (int64_t) mbuf.len;
        img->config_media_type = ib_strdup(m->config.media_type);
        img->config_size = (int64_t) cbuf.len;
        img->platform = ib_image_config_platform(cfg);
        img->created = cfg->created ? ib_strdup(cfg->created) : NULL;
        *ret = IB_TAKE_PTR(img);
        return 0;
}

static int read_blob(struct ib_store *s, const char *digest, size_t max, char **ret, size_t *ret_len,
                     struct ib_err **err)
{
        _cleanup_free_ char *path = ib_store_blob_path(s, digest);

        if (!path)
                return ib_err_set(err, EINVAL, "bad digest \"%s\"", digest);
        return ib_read_file(path, max, ret, ret_len, err);
}

int ib_image_load(struct ib_store *s, const char *manifest_digest, struct ib_image **ret, struct ib_err **err)
{
        _cleanup_free_ char *mdata = NULL, *cdata = NULL;
        _cleanup_(ib_manifest_freep) struct ib_manifest *m = NULL;
        _cleanup_(ib_image_config_freep) struct ib_image_config *cfg = NULL;
        _cleanup_(ib_image_freep) struct ib_image *img = NULL;
        size_t mlen = 0, clen = 0;
        int r;

        if ((r = read_blob(s, manifest_digest, MAX_MANIFEST, &mdata, &mlen, err)) < 0 ||
            (r = ib_manifest_parse(mdata, mlen, &m, err)) < 0 ||
            (r = read_blob(s, m->config.digest, MAX_CONFIG, &cdata, &clen, err)) < 0 ||
            (r = ib_image_config_parse(cdata, clen, &cfg, err)) < 0)
                return ib_err_wrap(err, "image %s", manifest_digest);
        if (ib_strv_len(cfg->diff_ids) != m->n_layers)
                return ib_err_set(err, EINVAL, "image %s: %zu layers but %zu diff_ids in the config",
                                  manifest_digest, m->n_layers, ib_strv_len(cfg->diff_ids));
        img = ib_calloc(1, sizeof(*img));
        img->format = m->media_type && strcmp(m->media_type, IB_MT_DOCKER_MANIFEST) == 0 ? IB_FORMAT_DOCKER
                                                                                       : IB_FORMAT_OCI;
        img->manifest_media_type = ib_strdup(m->media_type ? m->media_type : IB_MT_OCI_MANIFEST);
        img->manifest_digest = ib_strdup(manifest_digest);
        img->manifest_size = (int64_t) mlen;
        img->config_media_type = ib_strdup(m->config.media_type ? m->config.media_type : IB_MT_OCI_CONFIG);
        img->config_digest = ib_strdup(m->config.digest);
        img->config_size = m->config.size;
        img->platform = ib_image_config_platform(cfg);
        img->created = cfg->created ? ib_strdup(cfg->created) : NULL;
        img->layers = ib_calloc(m->n_layers + 1, sizeof(*img->layers));
        for (size_t i = 0; i < m->n_layers; i++)
                img->layers[i] = (struct ib_layer) {
                        /* no mediaType: readers go by the blob's magic bytes anyway */
                        .media_type = ib_strdup(m->layers[i].media_type ? m->layers[i].media_type
                                                                        : IB_MT_OCI_LAYER_GZIP),
                        .digest = ib_strdup(m->layers[i].digest),
                        .size = m->layers[i].size,
                        .diff_id = ib_strdup(cfg->diff_ids[i]),
                        .uncompressed_size = -1,
                };
        img->n_layers = m->n_layers;
        *ret = IB_TAKE_PTR(img);
        return 0;
}
