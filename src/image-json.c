/* src/image-json.c - small JSON readers and writers for the image model, the
 * sorted key/value list, and media type tables. */
#include "src/image-internal.h"

/* ------------------------------------------------------------ key/values */

static size_t kv_find(const struct ib_kvlist *l, const char *key, bool *found)
{
        size_t lo = 0, hi = l->n;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(l->v[mid].key, key);
                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

void ib_kvlist_set(struct ib_kvlist *l, const char *key, const char *value)
{
        bool found;
        size_t i = kv_find(l, key, &found);

        if (found) {
                free(l->v[i].value);
                l->v[i].value = ib_strdup(value);
                return;
        }
        ib_grow(&l->v, &l->alloc, l->n + 1, sizeof(*l->v));
        memmove(l->v + i + 1, l->v + i, (l->n - i) * sizeof(*l->v));
        l->v[i].key = ib_strdup(key);
        l->v[i].value = ib_strdup(value);
        l->n++;
}

const char *ib_kvlist_get(const struct ib_kvlist *l, const char *key)
{
        bool found;
        size_t i = kv_find(l, key, &found);
        return found ? l->v[i].value : NULL;
}

bool ib_kvlist_remove(struct ib_kvlist *l, const char *key)
{
        bool found;
        size_t i = kv_find(l, key, &found);

        if (!found)
                return false;
        free(l->v[i].key);
        free(l->v[i].value);
        memmove(l->v + i, l->v + i + 1, (l->n - i - 1) * sizeof(*l->v));
        l->n--;
        return true;
}

void ib_kvlist_clear(struct ib_kvlist *l)
{
        for (size_t i = 0; i < l->n; i++) {
                free(l->v[i].key);
                free(l->v[i].value);
        }
        free(l->v);
        memset(l, 0, sizeof(*l));
}

/* ------------------------------------------------------------------ sets */

int ib_img_strv_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

void ib_img_strv_set_add(char ***v, const char *s)
{
        size_t n = ib_strv_len(*v), i = 0;

        while (i < n && strcmp((*v)[i], s) < 0)
                i++;
        if (i < n && strcmp((*v)[i], s) == 0)
                return;
        *v = ib_reallocarray(*v, n + 2, sizeof(char *));
        (*v)[n] = NULL;         /* a fresh vector has no terminator yet */
        memmove(*v + i + 1, *v + i, (n - i + 1) * sizeof(char *));
        (*v)[i] = ib_strdup(s);
}

/* --------------------------------------------------------------- writing */

void ib_img_jstrv(struct ib_buf *b, char *const *v)
{
        ib_buf_addc(b, '[');
        for (size_t i = 0; v && v[i]; i++) {
                if (i)
                        ib_buf_addc(b, ',');
                ib_json_add_str(b, v[i]);
        }
        ib_buf_addc(b, ']');
}

void ib_img_jset(struct ib_buf *b, char *const *v)
{
        ib_buf_addc(b, '{');
        for (size_t i = 0; v && v[i]; i++) {
                if (i)
                        ib_buf_addc(b, ',');
                ib_json_add_str(b, v[i]);
                ib_buf_adds(b, ":{}");
        }
        ib_buf_addc(b, '}');
}

void ib_img_jkvlist(struct ib_buf *b, const struct ib_kvlist *l)
{
        bool first = true;

        ib_buf_addc(b, '{');
        for (size_t i = 0; i < l->n; i++) {
                jkey(b, &first, l->v[i].key);
                ib_json_add_str(b, l->v[i].value);
        }
        ib_buf_addc(b, '}');
}

void ib_img_jstr_opt(struct ib_buf *b, bool *first, const char *key, const char *v)
{
        if (!v || !*v)
                return;
        jkey(b, first, key);
        ib_json_add_str(b, v);
}

void ib_img_jstrv_opt(struct ib_buf *b, bool *first, const char *key, char *const *v)
{
        if (!v || !v[0])
                return;
        jkey(b, first, key);
        ib_img_jstrv(b, v);
}

void ib_img_jint_opt(struct ib_buf *b, bool *first, const char *key, int64_t v)
{
        if (!v)
                return;
        jkey(b, first, key);
        ib_buf_addf(b, "%" PRId64, v);
}

/* --------------------------------------------------------------- reading */

int ib_img_jget_str(yajl_val v, const char *what, char **ret, struct ib_err **err)
{
        free(*ret);
        *ret = NULL;
        if (!v || YAJL_IS_NULL(v))
                return 0;
        if (!YAJL_IS_STRING(v))
                return ib_err_set(err, EINVAL, "%s: expected a string", what);
        *ret = ib_strdup(v->u.string);
        return 0;
}

int ib_img_jget_strv(yajl_val v, const char *what, char ***ret, struct ib_err **err)
{
        char **out = NULL;

        ib_strv_free(*ret);
        *ret = NULL;
        if (!v || YAJL_IS_NULL(v))
                return 0;
        if (!YAJL_IS_ARRAY(v))
                return ib_err_set(err, EINVAL, "%s: expected an array of strings", what);
        out = ib_calloc(v->u.array.len + 1, sizeof(char *));
        for (size_t i = 0; i < v->u.array.len; i++) {
                yajl_val e = v->u.array.values[i];
                if (!YAJL_IS_STRING(e)) {
                        ib_strv_free(out);
                        return ib_err_set(err, EINVAL, "%s[%zu]: expected a string", what, i);
                }
                out[i] = ib_strdup(e->u.string);
        }
        *ret = out;
        return 0;
}

int ib_img_jget_set(yajl_val v, const char *what, char ***ret, struct ib_err **err)
{
        ib_strv_free(*ret);
        *ret = NULL;
        if (!v || YAJL_IS_NULL(v))
                return 0;
        if (!YAJL_IS_OBJECT(v))
                return ib_err_set(err, EINVAL, "%s: expected an object", what);
        for (size_t i = 0; i < v->u.object.len; i++)
                ib_img_strv_set_add(ret, v->u.object.keys[i]);
        return 0;
}

int ib_img_jget_kvlist(yajl_val v, const char *what, struct ib_kvlist *ret, struct ib_err **err)
{
        ib_kvlist_clear(ret);
        if (!v || YAJL_IS_NULL(v))
                return 0;
        if (!YAJL_IS_OBJECT(v))
                return ib_err_set(err, EINVAL, "%s: expected an object", what);
        for (size_t i = 0; i < v->u.object.len; i++) {
                yajl_val e = v->u.object.values[i];
                if (!YAJL_IS_STRING(e)) {
                        ib_kvlist_clear(ret);
                        return ib_err_set(err, EINVAL, "%s.%s: expected a string", what, v->u.object.keys[i]);
                }
                ib_kvlist_set(ret, v->u.object.keys[i], e->u.string);
        }
        return 0;
}

int ib_img_jget_int(yajl_val v, const char *what, int64_t *ret, struct ib_err **err)
{
        *ret = 0;
        if (!v || YAJL_IS_NULL(v))
                return 0;
        if (!YAJL_IS_INTEGER(v))
                return ib_err_set(err, EINVAL, "%s: expected an integer", what);
        *ret = v->u.number.i;
        return 0;
}

int ib_img_jget_bool(yajl_val v, const char *what, bool *ret, struct ib_err **err)
{
        *ret = false;
        if (!v || YAJL_IS_NULL(v))
                return 0;
        if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
                return ib_err_set(err, EINVAL, "%s: expected true or false", what);
        *ret = YAJL_IS_TRUE(v);
        return 0;
}

/* ------------------------------------------------------------ media types */

int ib_image_format_parse(const char *s, enum ib_image_format *ret)
{
        if (strcmp(s, "oci") == 0)
                *ret = IB_FORMAT_OCI;
        else if (strcmp(s, "docker") == 0)
                *ret = IB_FORMAT_DOCKER;
        else
                return -EINVAL;
        return 0;
}

const char *ib_media_type_manifest(enum ib_image_format f)
{
        return f == IB_FORMAT_DOCKER ? IB_MT_DOCKER_MANIFEST : IB_MT_OCI_MANIFEST;
}

const char *ib_media_type_index(enum ib_image_format f)
{
        return f == IB_FORMAT_DOCKER ? IB_MT_DOCKER_LIST : IB_MT_OCI_INDEX;
}

const char *ib_media_type_config(enum ib_image_format f)
{
        return f == IB_FORMAT_DOCKER ? IB_MT_DOCKER_CONFIG : IB_MT_OCI_CONFIG;
}

const char *ib_media_type_layer(enum ib_image_format f, enum ib_image_compression c)
{
        switch (c) {
        case IB_COMPRESS_GZIP:
                return f == IB_FORMAT_DOCKER ? IB_MT_DOCKER_LAYER_GZIP : IB_MT_OCI_LAYER_GZIP;
        case IB_COMPRESS_ZSTD:
                return IB_MT_OCI_LAYER_ZSTD;
        case IB_COMPRESS_NONE:
        default:
                return f == IB_FORMAT_DOCKER ? IB_MT_DOCKER_LAYER : IB_MT_OCI_LAYER;
        }
}

static const struct {
        const char *mt;
        enum ib_image_compression c;
} layer_types[] = {
        { IB_MT_OCI_LAYER, IB_COMPRESS_NONE },
        { IB_MT_OCI_LAYER_GZIP, IB_COMPRESS_GZIP },
        { IB_MT_OCI_LAYER_ZSTD, IB_COMPRESS_ZSTD },
        { IB_MT_OCI_LAYER_ND, IB_COMPRESS_NONE },
        { IB_MT_OCI_LAYER_ND_GZIP, IB_COMPRESS_GZIP },
        { IB_MT_OCI_LAYER_ND_ZSTD, IB_COMPRESS_ZSTD },
        { IB_MT_DOCKER_LAYER, IB_COMPRESS_NONE },
        { IB_MT_DOCKER_LAYER_GZIP, IB_COMPRESS_GZIP },
        { IB_MT_DOCKER_LAYER_ZSTD, IB_COMPRESS_ZSTD },
        { IB_MT_DOCKER_FOREIGN_GZIP, IB_COMPRESS_GZIP },
};

bool ib_media_type_layer_compression(const char *mt, enum ib_image_compression *ret)
{
        for (size_t i = 0; mt && i < IB_ELEMENTSOF(layer_types); i++)
                if (strcmp(mt, layer_types[i].mt) == 0) {
                        if (ret)
                                *ret = layer_types[i].c;
                        return true;
                }
        return false;
}

bool ib_image_mt_is_index(const char *mt)
{
        return mt && (strcmp(mt, IB_MT_OCI_INDEX) == 0 || strcmp(mt, IB_MT_DOCKER_LIST) == 0);
}

bool ib_media_type_is_manifest(const char *mt)
{
        return mt && (strcmp(mt, IB_MT_OCI_MANIFEST) == 0 || strcmp(mt, IB_MT_DOCKER_MANIFEST) == 0);
}
