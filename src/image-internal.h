/* src/image-internal.h - JSON writing and reading helpers shared by image*.c,
 * manifest.c and output*.c only. */
#ifndef IB_IMAGE_INTERNAL_H
#define IB_IMAGE_INTERNAL_H

#include "src/image.h"
#include <inttypes.h>
#include <yajl/yajl_tree.h>

IB_DEFINE_CLEANUP(yajl_val, yajl_tree_free)

/* Writing: an object is "{", then members each introduced by jkey(), then "}".
 * @first tracks whether a comma is due. */
static inline void jkey(struct ib_buf *b, bool *first, const char *key)
{
        if (!*first)
                ib_buf_addc(b, ',');
        *first = false;
        ib_json_add_str(b, key);
        ib_buf_addc(b, ':');
}
void ib_img_jstrv(struct ib_buf *b, char *const *v);
/* A set written as {"k":{},...} (ExposedPorts, Volumes). */
void ib_img_jset(struct ib_buf *b, char *const *v);
void ib_img_jkvlist(struct ib_buf *b, const struct ib_kvlist *l);
/* Members only when non-empty (omitempty). */
void ib_img_jstr_opt(struct ib_buf *b, bool *first, const char *key, const char *v);
void ib_img_jstrv_opt(struct ib_buf *b, bool *first, const char *key, char *const *v);
void ib_img_jint_opt(struct ib_buf *b, bool *first, const char *key, int64_t v);

/* Reading: each returns 0, or -EINVAL with *err naming @what when the value
 * has the wrong type.  A JSON null (or an absent value, v == NULL) gives the
 * empty value. */
int ib_img_jget_str(yajl_val v, const char *what, char **ret, struct ib_err **err);
int ib_img_jget_strv(yajl_val v, const char *what, char ***ret, struct ib_err **err);
int ib_img_jget_set(yajl_val v, const char *what, char ***ret, struct ib_err **err);
int ib_img_jget_kvlist(yajl_val v, const char *what, struct ib_kvlist *ret, struct ib_err **err);
int ib_img_jget_int(yajl_val v, const char *what, int64_t *ret, struct ib_err **err);
int ib_img_jget_bool(yajl_val v, const char *what, bool *ret, struct ib_err **err);

/* Sorted set of strings (NULL-terminated vector). */
void ib_img_strv_set_add(char ***v, const char *s);
int ib_img_strv_cmp(const void *a, const void *b);

#endif
