/* src/input-oci.c - read an image out of an OCI image layout (the other half of
 * output-oci.c): find it by tag, digest or as the sole image, resolve an index
 * to this platform's manifest, and copy its blobs into the store, each one
 * verified against its digest.  Blobs are copied, not linked: a layout is the
 * user's to change, the store must stay what its names say. */
#include "src/image-internal.h"
#include <fcntl.h>

#define MAX_DOC (16 << 20)
#define CHUNK (256 * 1024)

static int read_layout_blob(const char *dir, const char *digest, char **ret, size_t *ret_len, struct ib_err **err)
{
        const char *hex = NULL;
        _cleanup_free_ char *path = NULL;
        char got[IB_SHA256_HEX];
        int r;

        if (!ib_digest_parse(digest, &hex))
                return ib_err_set(err, EINVAL, "unsupported digest \"%s\"", digest);
        path = ib_strdupf("%s/blobs/sha256/%s", dir, hex);
        if ((r = ib_read_file(path, MAX_DOC, ret, ret_len, err)) < 0)
                return r;
        ib_sha256_hex(*ret, *ret_len, got);
        if (strcmp(got, hex) != 0) {
                free(*ret);
                *ret = NULL;
                return ib_err_set(err, EBADMSG, "blob %s has digest sha256:%s", digest, got);
        }
        return 0;
}

/* Pick the entry of @x named by @ref (tag or digest) or the only one. */
static const struct ib_descriptor *pick_entry(const struct ib_index *x, const char *ref, struct ib_err **err)
{
        const struct ib_descriptor *hit = NULL;

        for (size_t i = 0; i < x->n_manifests; i++) {
                const struct ib_descriptor *d = &x->manifests[i];
                const char *name = ib_kvlist_get(&d->annotations, IB_ANNOTATION_REF_NAME);
                if (!ref)
                        hit = d;
                else if (ib_startswith(ref, "sha256:") ? strcmp(d->digest, ref) == 0 : name && strcmp(name, ref) == 0)
                        hit = d;    /* the last one wins, as a later append re-tags */
        }
        if (!ref && x->n_manifests != 1)
                return ib_err_set(err, EINVAL, "the layout holds %zu images: name one with :TAG or @DIGEST",
                                  x->n_manifests), NULL;
        if (!hit)
                ib_err_set(err, ENOENT, "no image \"%s\" in the layout", ref ? ref : "");
        return hit;
}

/* A manifest digest from an entry that may be an index (nested indexes too). */
static int descend(const char *dir, const char *digest, const char *mt, const char *os, const char *arch,
                   const char *variant, int depth, char **ret, struct ib_err **err)
{
        _cleanup_free_ char *data = NULL, *sniffed = NULL;
        _cleanup_(ib_index_freep) struct ib_index *x = NULL;
        size_t len = 0;
        int r;

        if (depth > 4)
                return ib_err_set(err, ELOOP, "indexes nested too deep");
        if (!mt || !ib_image_mt_is_index(mt)) {
                /* A manifest (or an entry without media type: look inside). */
                if ((r = read_layout_blob(dir, digest, &data, &len, err)) < 0)
                        return r;
                sniffed = ib_json_media_type(data, len);
                if (!ib_image_mt_is_index(sniffed)) {
                        *ret = ib_strdup(digest);
                        return 0;
                }
        } else if ((r = read_layout_blob(dir, digest, &data, &len, err)) < 0) {
                return r;
        }
        if ((r = ib_index_parse(data, len, &x, err)) < 0)
                return r;
        const struct ib_descriptor *d = ib_index_find_platform(x, os, arch, variant);
        if (!d)
                return ib_err_set(err, ENOENT, "index %s has no image for %s/%s%s%s", digest, os, arch,
                                  variant ? "/" : "", variant ? variant : "");
        return descend(dir, d->digest, d->media_type, os, arch, variant, depth + 1, ret, err);
}

int ib_oci_layout_find(const char *dir, const char *ref, const char *os, const char *arch,
                       const char *variant, char **ret_digest, struct ib_err **err)
{
        _cleanup_free_ char *ipath = ib_path_join(dir, "index.json"), *data = NULL;
        _cleanup_(ib_index_freep) struct ib_index *x = NULL;
        const struct ib_descriptor *d;
        const char *hvariant = NULL;
        const char *harch = ib_host_arch(&hvariant);
        size_t len = 0;
        int r;

        if (!os)
                os = "linux";
        if (!arch) {
                arch = harch;
                variant = variant ? variant : hvariant;
        }
        if ((r = ib_read_file(ipath, MAX_DOC, &data, &len, err)) < 0 || (r = ib_index_parse(data, len, &x, err)) < 0)
                return ib_err_wrap(err, "OCI layout `%s`", dir);
        d = pick_entry(x, ref && *ref ? ref : NULL, err);
        if (!d)
                return ib_err_wrap(err, "OCI layout `%s`", dir);
        if ((r = descend(dir, d->digest, d->media_type, os, arch, variant, 0, ret_digest, err)) < 0)
                return ib_err_wrap(err, "OCI layout `%s`", dir);
        return 0;
}

static int import_blob(struct ib_store *s, const char *dir, const char *digest, struct ib_err **err)
{
        _cleanup_(ib_blob_writer_freep) struct ib_blob_writer *w = NULL;
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_close_ int fd = -1;
        const char *hex = NULL;
        int r;

        if (!ib_digest_parse(digest, &hex))
                return ib_err_set(err, EINVAL, "unsupported digest \"%s\"", digest);
        ib_store_touch_used(s, IB_STORE_BLOB, digest);  /* before the lookup: see ib.h */
        if (ib_store_has_blob(s, digest))
                return 0;
        path = ib_strdupf("%s/blobs/sha256/%s", dir, hex);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return ib_err_set(err, errno, "open `%s`", path);
        if ((r = ib_blob_writer_new(s, &w, err)) < 0)
                return r;
        buf = ib_malloc(CHUNK);
        for (;;) {
                ssize_t n = read(fd, buf, CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return ib_err_set(err, errno, "read `%s`", path);
                if (n == 0)
                        break;
                if ((r = ib_blob_writer_write(w, buf, (size_t) n, err)) < 0)
                        return r;
        }
        if ((r = ib_blob_writer_commit(w, digest, NULL, err)) < 0)
                return ib_err_wrap(err, "`%s`", path);
        return 0;
}

int ib_oci_layout_import(struct ib_store *s, const char *dir, const char *manifest_digest, struct ib_image **ret,
                         struct ib_err **err)
{
        _cleanup_free_ char *data = NULL;
        _cleanup_(ib_manifest_freep) struct ib_manifest *m = NULL;
        size_t len = 0;
        int r;

        if ((r = read_layout_blob(dir, manifest_digest, &data, &len, err)) < 0 ||
            (r = ib_manifest_parse(data, len, &m, err)) < 0)
                return ib_err_wrap(err, "OCI layout `%s`", dir);
        for (size_t i = 0; i < m->n_layers; i++)
                if ((r = import_blob(s, dir, m->layers[i].digest, err)) < 0)
                        return ib_err_wrap(err, "OCI layout `%s`: layer %zu", dir, i);
        if ((r = import_blob(s, dir, m->config.digest, err)) < 0 ||
            (r = import_blob(s, dir, manifest_digest, err)) < 0)
                return ib_err_wrap(err, "OCI layout `%s`", dir);
        return ib_image_load(s, manifest_digest, ret, err);
}
