/* lib/json.c - small helpers over yajl's tree API and a string escaper for
 * writing JSON by hand (we need exact, canonical bytes for manifests). */
#include "ib.h"
#include <yajl/yajl_tree.h>

struct yajl_val_s *ib_json_parse(const char *data, size_t len, const char *what, struct ib_err **err)
{
        _cleanup_free_ char *copy = ib_strndup(data, len);
        char ebuf[512] = "";
        yajl_val v;

        if (strlen(copy) != len)
                return ib_err_set(err, 0, "%s: invalid JSON: NUL byte in input", what), NULL;
        v = yajl_tree_parse(copy, ebuf, sizeof(ebuf));
        if (!v) {
                ebuf[strcspn(ebuf, "\n")] = '\0';
                ib_err_set(err, 0, "%s: invalid JSON: %s", what, ebuf[0] ? ebuf : "parse error");
                return NULL;
        }
        return v;
}

void ib_json_free(struct yajl_val_s *v)
{
        yajl_tree_free(v);
}

struct yajl_val_s *ib_json_get(struct yajl_val_s *obj, const char *key)
{
        if (!obj || !YAJL_IS_OBJECT(obj))
                return NULL;
        for (size_t i = 0; i < obj->u.object.len; i++)
                if (strcmp(obj->u.object.keys[i], key) == 0)
                        return obj->u.object.values[i];
        return NULL;
}

const char *ib_json_get_str(struct yajl_val_s *obj, const char *key)
{
        yajl_val v = ib_json_get(obj, key);
        return v && YAJL_IS_STRING(v) ? v->u.string : NULL;
}

void ib_json_add_strn(struct ib_buf *b, const char *s, size_t n)
{
        static const char hex[] = "0123456789abcdef";

        ib_buf_addc(b, '"');
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                switch (c) {
                case '"': ib_buf_adds(b, "\\\""); break;
                case '\\': ib_buf_adds(b, "\\\\"); break;
                case '\n': ib_buf_adds(b, "\\n"); break;
                case '\r': ib_buf_adds(b, "\\r"); break;
                case '\t': ib_buf_adds(b, "\\t"); break;
                case '\b': ib_buf_adds(b, "\\b"); break;
                case '\f': ib_buf_adds(b, "\\f"); break;
                default:
                        /* Go's encoding/json escapes <, > and & too; we match it so
                         * configs are byte-identical with what docker tools write. */
                        if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                                char u[7] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0 };
                                ib_buf_adds(b, u);
                        } else if (c < 0x80) {
                                ib_buf_addc(b, (char) c);
                        } else {
                                /* JSON is UTF-8: an invalid byte (a Latin-1 Dockerfile, a
                                 * hostile one) becomes U+FFFD, as Go's encoding/json does,
                                 * instead of making the whole document unreadable.  Go
                                 * writes it as the escape \ufffd; we write the character,
                                 * so that serialising what we parse is a fixed point
                                 * (yajl lets some invalid bytes through; fuzz-image).  Go
                                 * also escapes U+2028 and U+2029. */
                                size_t k = ib_utf8_len(s + i, n - i);
                                if (k == 1)
                                        ib_buf_adds(b, "\xef\xbf\xbd");     /* U+FFFD */
                                else if (k == 3 && c == 0xe2 && (unsigned char) s[i + 1] == 0x80 &&
                                         ((unsigned char) s[i + 2] == 0xa8 || (unsigned char) s[i + 2] == 0xa9))
                                        ib_buf_adds(b, (unsigned char) s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
                                else
                                        ib_buf_add(b, s + i, k);
                                i += k - 1;
                        }
                }
        }
        ib_buf_addc(b, '"');
}

void ib_json_add_str(struct ib_buf *b, const char *s)
{
        ib_json_add_strn(b, s, strlen(s));
}
