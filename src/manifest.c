/* src/manifest.c - OCI image manifests and indexes, docker schema2 manifests
 * and manifest lists: parse and canonical serialisation (order: src/image.h). */
#include "src/image-internal.h"

/* ------------------------------------------------------------- platform */

void ib_desc_platform_free(struct ib_desc_platform *p)
{
        if (!p)
                return;
        free(p->architecture);
        free(p->os);
        free(p->os_version);
        ib_strv_free(p->os_features);
        free(p->variant);
        free(p);
}

static void platform_write(struct ib_buf *b, const struct ib_desc_platform *p)
{
        bool first = true;

        ib_buf_addc(b, '{');
        jkey(b, &first, "architecture");
        ib_json_add_str(b, p->architecture ? p->architecture : "");
        jkey(b, &first, "os");
        ib_json_add_str(b, p->os ? p->os : "");
        ib_img_jstr_opt(b, &first, "os.version", p->os_version);
        ib_img_jstrv_opt(b, &first, "os.features", p->os_features);
        ib_img_jstr_opt(b, &first, "variant", p->variant);
        ib_buf_addc(b, '}');
}

static int platform_read(yajl_val v, const char *what, struct ib_desc_platform **ret, struct ib_err **err)
{
        struct ib_desc_platform *p;
        int r;

        if (!v || YAJL_IS_NULL(v))
                return 0;
        if (!YAJL_IS_OBJECT(v))
                return ib_err_set(err, EINVAL, "%s.platform: expected an object", what);
        p = ib_calloc(1, sizeof(*p));
        if ((r = ib_img_jget_str(ib_json_get(v, "architecture"), "platform.architecture", &p->architecture, err)) < 0 ||
            (r = ib_img_jget_str(ib_json_get(v, "os"), "platform.os", &p->os, err)) < 0 ||
            (r = ib_img_jget_str(ib_json_get(v, "os.version"), "platform.os.version", &p->os_version, err)) < 0 ||
            (r = ib_img_jget_strv(ib_json_get(v, "os.features"), "platform.os.features", &p->os_features, err)) < 0 ||
            (r = ib_img_jget_str(ib_json_get(v, "variant"), "platform.variant", &p->variant, err)) < 0) {
                ib_desc_platform_free(p);
                return ib_err_wrap(err, "%s", what);
        }
        *ret = p;
        return 0;
}

/* ------------------------------------------------------------ descriptor */

void ib_descriptor_clear(struct ib_descriptor *d)
{
        free(d->media_type);
        free(d->digest);
        ib_strv_free(d->urls);
        ib_kvlist_clear(&d->annotations);
        ib_desc_platform_free(d->platform);
        free(d->artifact_type);
        memset(d, 0, sizeof(*d));
}

void ib_descriptor_copy(struct ib_descriptor *dst, const struct ib_descriptor *src)
{
        memset(dst, 0, sizeof(*dst));
        dst->media_type = src->media_type ? ib_strdup(src->media_type) : NULL;
        dst->digest = src->digest ? ib_strdup(src->digest) : NULL;
        dst->size = src->size;
        dst->urls = src->urls ? ib_strv_dup(src->urls) : NULL;
        for (size_t i = 0; i < src->annotations.n; i++)
                ib_kvlist_set(&dst->annotations, src->annotations.v[i].key, src->annotations.v[i].value);
        if (src->platform) {
                const struct ib_desc_platform *p = src->platform;
                dst->platform = ib_calloc(1, sizeof(*dst->platform));
                dst->platform->architecture = p->architecture ? ib_strdup(p->architecture) : NULL;
                dst->platform->os = p->os ? ib_strdup(p->os) : NULL;
                dst->platform->os_version = p->os_version ? ib_strdup(p->os_version) : NULL;
                dst->platform->os_features = p->os_features ? ib_strv_dup(p->os_features) : NULL;
                dst->platform->variant = p->variant ? ib_strdup(p->variant) : NULL;
        }
        dst->artifact_type = src->artifact_type ? ib_strdup(src->artifact_type) : NULL;
}

/* Docker's distribution.Descriptor puts size before digest; OCI's after. */
static void descriptor_write(struct ib_buf *b, const struct ib_descriptor *d, bool docker)
{
        bool first = true;

        ib_buf_addc(b, '{');
        ib_img_jstr_opt(b, &first, "mediaType", d->media_type);
        if (docker) {
                jkey(b, &first, "size");
                ib_buf_addf(b, "%" PRId64, d->size);
                jkey(b, &first, "digest");
                ib_json_add_str(b, d->digest ? d->digest : "");
        } else {
                jkey(b, &first, "digest");
                ib_json_add_str(b, d->digest ? d->digest : "");
                jkey(b, &first, "size");
                ib_buf_addf(b, "%" PRId64, d->size);
        }
        ib_img_jstrv_opt(b, &first, "urls", d->urls);
        if (d->annotations.n) {
                jkey(b, &first, "annotations");
                ib_img_jkvlist(b, &d->annotations);
        }
        if (d->platform) {
                jkey(b, &first, "platform");
                platform_write(b, d->platform);
        }
        ib_img_jstr_opt(b, &first, "artifactType", d->artifact_type);
        ib_buf_addc(b, '}');
}

static int descriptor_read(yajl_val v, const char *what, struct ib_descriptor *d, struct ib_err **err)
{
        yajl_val size;
        int r;

        if (!v || !YAJL_IS_OBJECT(v))
                return ib_err_set(err, EINVAL, "%s: expected a descriptor object", what);
        if ((r = ib_img_jget_str(ib_json_get(v, "mediaType"), "mediaType", &d->media_type, err)) < 0 ||
            (r = ib_img_jget_str(ib_json_get(v, "digest"), "digest", &d->digest, err)) < 0 ||
            (r = ib_img_jget_strv(ib_json_get(v, "urls"), "urls", &d->urls, err)) < 0 ||
            (r = ib_img_jget_kvlist(ib_json_get(v, "annotations"), "annotations", &d->annotations, err)) < 0 ||
            (r = ib_img_jget_str(ib_json_get(v, "artifactType"), "artifactType", &d->artifact_type, err)) < 0)
                return ib_err_wrap(err, "%s", what);
        if ((r = platform_read(ib_json_get(v, "platform"), what, &d->platform, err)) < 0)
                return r;
        if (!d->digest || !ib_digest_parse(d->digest, NULL))
                return ib_err_set(err, EINVAL, "%s: missing or unsupported digest \"%s\"", what,
                                  d->digest ? d->digest : "");
        size = ib_json_get(v, "size");
        if (!size || !YAJL_IS_INTEGER(size) || size->u.number.i < 0)
                return ib_err_set(err, EINVAL, "%s: missing or invalid size", what);
        d->size = size->u.number.i;
        return 0;
}

static void descriptors_free(struct ib_descriptor *d, size_t n)
{
        for (size_t i = 0; i < n; i++)
                ib_descriptor_clear(&d[i]);
        free(d);
}

static int descriptors_read(yajl_val v, const char *what, struct ib_descriptor **ret, size_t *ret_n,
                            struct ib_err **err)
{
        struct ib_descriptor *d;

        *ret = NULL;
        *ret_n = 0;
        if (!v || YAJL_IS_NULL(v))
                return 0;
        if (!YAJL_IS_ARRAY(v))
                return ib_err_set(err, EINVAL, "%s: expected an array", what);
        d = ib_calloc(v->u.array.len + 1, sizeof(*d));
        for (size_t i = 0; i < v->u.array.len; i++) {
                char w[64];
                snprintf(w, sizeof(w), "%s[%zu]", what, i);
                int r = descriptor_read(v->u.array.values[i], w, &d[i], err);
                if (r < 0) {
                        descriptors_free(d, i + 1);
                        return r;
                }
        }
        *ret = d;
        *ret_n = v->u.array.len;
        return 0;
}

static void descriptors_write(struct ib_buf *b, const struct ib_descriptor *d, size_t n, bool docker)
{
        ib_buf_addc(b, '[');
        for (size_t i = 0; i < n; i++) {
                if (i)
                        ib_buf_addc(b, ',');
                descriptor_write(b, &d[i], docker);
        }
        ib_buf_addc(b, ']');
}

static int subject_read(yajl_val v, struct ib_descriptor **ret, struct ib_err **err)
{
        struct ib_descriptor *d;
        int r;

        if (!v || YAJL_IS_NULL(v))
                return 0;
        d = ib_calloc(1, sizeof(*d));
        r = descriptor_read(v, "subject", d, err);
        if (r < 0) {
                descriptors_free(d, 1);
                return r;
        }
        *ret = d;
        return 0;
}

char *ib_json_media_type(const char *data, size_t len)
{
        _cleanup_err_ struct ib_err *err = NULL;
        _cleanup_(yajl_tree_freep) yajl_val root = ib_json_parse(data, len, "manifest", &err);
        const char *mt = root ? ib_json_get_str(root, "mediaType") : NULL;
        return mt ? ib_strdup(mt) : NULL;
}

/* -------------------------------------------------------------- manifest */

void ib_manifest_free(struct ib_manifest *m)
{
        if (!m)
                return;
        free(m->media_type);
        free(m->artifact_type);
        ib_descriptor_clear(&m->config);
        descriptors_free(m->layers, m->n_layers);
        descriptors_free(m->subject, m->subject ? 1 : 0);
        ib_kvlist_clear(&m->annotations);
        free(m);
}

static int manifest_tree(yajl_val root, struct ib_manifest *m, struct ib_err **err)
{
        int r;

        if (!YAJL_IS_OBJECT(root))
                return ib_err_set(err, EINVAL, "expected a JSON object");
        if ((r = ib_img_jget_int(ib_json_get(root, "schemaVersion"), "schemaVersion", &m->schema_version, err)) < 0)
                return r;
        if (m->schema_version != 2)
                return ib_err_set(err, ENOTSUP, "schemaVersion %" PRId64 " is not supported (only 2)",
                                  m->schema_version);
        if ((r = ib_img_jget_str(ib_json_get(root, "mediaType"), "mediaType", &m->media_type, err)) < 0 ||
            (r = ib_img_jget_str(ib_json_get(root, "artifactType"), "artifactType", &m->artifact_type, err)) < 0)
                return r;
        if (ib_image_mt_is_index(m->media_type) || (!m->media_type && ib_json_get(root, "manifests")))
                return ib_err_set(err, EINVAL, "this is an index (manifest list), not an image manifest");
        if (m->media_type && !ib_media_type_is_manifest(m->media_type))
                return ib_err_set(err, EINVAL, "unsupported manifest media type \"%s\"", m->media_type);
        if ((r = descriptor_read(ib_json_get(root, "config"), "config", &m->config, err)) < 0 ||
            (r = descriptors_read(ib_json_get(root, "layers"), "layers", &m->layers, &m->n_layers, err)) < 0 ||
            (r = subject_read(ib_json_get(root, "subject"), &m->subject, err)) < 0 ||
            (r = ib_img_jget_kvlist(ib_json_get(root, "annotations"), "annotations", &m->annotations, err)) < 0)
                return r;
        return 0;
}

int ib_manifest_parse(const char *data, size_t len, struct ib_manifest **ret, struct ib_err **err)
{
        _cleanup_(yajl_tree_freep) yajl_val root = ib_json_parse(data, len, "manifest", err);
        struct ib_manifest *m;
        int r;

        if (!root)
                return ib_err_code(*err);
        m = ib_calloc(1, sizeof(*m));
        r = manifest_tree(root, m, err);
        if (r < 0) {
                ib_manifest_free(m);
                return ib_err_wrap(err, "manifest");
        }
        *ret = m;
        return 0;
}

void ib_manifest_serialize(const struct ib_manifest *m, struct ib_buf *out)
{
        bool docker = m->media_type && strcmp(m->media_type, IB_MT_DOCKER_MANIFEST) == 0;
        bool first = true;

        ib_buf_addc(out, '{');
        jkey(out, &first, "schemaVersion");
        ib_buf_addf(out, "%" PRId64, m->schema_version ? m->schema_version : 2);
        ib_img_jstr_opt(out, &first, "mediaType", m->media_type);
        ib_img_jstr_opt(out, &first, "artifactType", m->artifact_type);
        jkey(out, &first, "config");
        descriptor_write(out, &m->config, docker);
        jkey(out, &first, "layers");
        descriptors_write(out, m->layers, m->n_layers, docker);
        if (m->subject) {
                jkey(out, &first, "subject");
                descriptor_write(out, m->subject, docker);
        }
        if (m->annotations.n) {
                jkey(out, &first, "annotations");
                ib_img_jkvlist(out, &m->annotations);
        }
        ib_buf_addc(out, '}');
}

/* ----------------------------------------------------------------- index */

void ib_index_free(struct ib_index *x)
{
        if (!x)
                return;
        free(x->media_type);
        free(x->artifact_type);
        descriptors_free(x->manifests, x->n_manifests);
        descriptors_free(x->subject, x->subject ? 1 : 0);
        ib_kvlist_clear(&x->annotations);
        free(x);
}

static int index_tree(yajl_val root, struct ib_index *x, struct ib_err **err)
{
        int r;

        if (!YAJL_IS_OBJECT(root))
                return ib_err_set(err, EINVAL, "expected a JSON object");
        if ((r = ib_img_jget_int(ib_json_get(root, "schemaVersion"), "schemaVersion", &x->schema_version, err)) < 0)
                return r;
        if (x->schema_version != 2)
                return ib_err_set(err, ENOTSUP, "schemaVersion %" PRId64 " is not supported (only 2)",
                                  x->schema_version);
        if ((r = ib_img_jget_str(ib_json_get(root, "mediaType"), "mediaType", &x->media_type, err)) < 0 ||
            (r = ib_img_jget_str(ib_json_get(root, "artifactType"), "artifactType", &x->artifact_type, err)) < 0)
                return r;
        if (x->media_type && !ib_image_mt_is_index(x->media_type))
                return ib_err_set(err, EINVAL, "not an index: media type \"%s\"", x->media_type);
        if ((r = descriptors_read(ib_json_get(root, "manifests"), "manifests", &x->manifests, &x->n_manifests,
                                  err)) < 0 ||
            (r = subject_read(ib_json_get(root, "subject"), &x->subject, err)) < 0 ||
            (r = ib_img_jget_kvlist(ib_json_get(root, "annotations"), "annotations", &x->annotations, err)) < 0)
                return r;
        return 0;
}

int ib_index_parse(const char *data, size_t len, struct ib_index **ret, struct ib_err **err)
{
        _cleanup_(yajl_tree_freep) yajl_val root = ib_json_parse(data, len, "index", err);
        struct ib_index *x;
        int r;

        if (!root)
                return ib_err_code(*err);
        x = ib_calloc(1, sizeof(*x));
        r = index_tree(root, x, err);
        if (r < 0) {
                ib_index_free(x);
                return ib_err_wrap(err, "index");
        }
        *ret = x;
        return 0;
}

void ib_index_serialize(const struct ib_index *x, struct ib_buf *out)
{
        bool docker = x->media_type && strcmp(x->media_type, IB_MT_DOCKER_LIST) == 0;
        bool first = true;

        ib_buf_addc(out, '{');
        jkey(out, &first, "schemaVersion");
        ib_buf_addf(out, "%" PRId64, x->schema_version ? x->schema_version : 2);
        ib_img_jstr_opt(out, &first, "mediaType", x->media_type);
        ib_img_jstr_opt(out, &first, "artifactType", x->artifact_type);
        jkey(out, &first, "manifests");
        descriptors_write(out, x->manifests, x->n_manifests, docker);
        if (x->subject) {
                jkey(out, &first, "subject");
                descriptor_write(out, x->subject, docker);
        }
        if (x->annotations.n) {
                jkey(out, &first, "annotations");
                ib_img_jkvlist(out, &x->annotations);
        }
        ib_buf_addc(out, '}');
}

void ib_index_append(struct ib_index *x, const struct ib_descriptor *d)
{
        x->manifests = ib_reallocarray(x->manifests, x->n_manifests + 1, sizeof(*x->manifests));
        ib_descriptor_copy(&x->manifests[x->n_manifests++], d);
}

const struct ib_descriptor *ib_index_find_platform(const struct ib_index *x, const char *os,
                                                   const char *arch, const char *variant)
{
        for (size_t i = 0; i < x->n_manifests; i++) {
                const struct ib_desc_platform *p = x->manifests[i].platform;
                if (!p || !p->os || !p->architecture)
                        continue;
                if (strcmp(p->os, os) != 0 || strcmp(p->architecture, arch) != 0)
                        continue;
                if (variant && p->variant && strcmp(p->variant, variant) != 0)
                        continue;
                return &x->manifests[i];
        }
        return NULL;
}
