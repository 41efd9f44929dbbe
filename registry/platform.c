/* registry/platform.c - platforms ("os/arch[/variant]"), choosing one from an
 * index, and telling manifest kinds apart. */
#include "lib/ib.h"
#include "registry/registry.h"
#include <sys/utsname.h>
#include <yajl/yajl_tree.h>

static bool copy_field(char *dst, size_t size, const char *s, size_t n)
{
        if (n == 0 || n >= size)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' ||
                      s[i] == '.'))
                        return false;
        memcpy(dst, s, n);
        dst[n] = '\0';
        return true;
}

int ib_platform_parse(const char *s, struct ib_platform *ret, struct ib_err **err)
{
        struct ib_platform p = {};
        const char *a = strchr(s, '/'), *v = a ? strchr(a + 1, '/') : NULL;

        if (!a || !copy_field(p.os, sizeof(p.os), s, (size_t) (a - s)) ||
            !copy_field(p.arch, sizeof(p.arch), a + 1, v ? (size_t) (v - a - 1) : strlen(a + 1)) ||
            (v && !copy_field(p.variant, sizeof(p.variant), v + 1, strlen(v + 1))))
                return ib_err_set(err, EINVAL, "invalid platform `%s` (expected os/arch[/variant], e.g. linux/arm64)", s);
        *ret = p;
        return 0;
}

void ib_platform_host(struct ib_platform *ret)
{
        static const struct { const char *machine, *arch, *variant; } map[] = {
                { "x86_64", "amd64", "" },   { "aarch64", "arm64", "v8" }, { "armv7l", "arm", "v7" },
                { "armv6l", "arm", "v6" },   { "i686", "386", "" },        { "i386", "386", "" },
                { "ppc64le", "ppc64le", "" }, { "s390x", "s390x", "" },    { "riscv64", "riscv64", "" },
        };
        struct utsname u;

        memset(ret, 0, sizeof(*ret));
        strcpy(ret->os, "linux");
        strcpy(ret->arch, "amd64");
        if (uname(&u) < 0)
                return;
        for (size_t i = 0; i < IB_ELEMENTSOF(map); i++)
                if (strcmp(u.machine, map[i].machine) == 0) {
                        snprintf(ret->arch, sizeof(ret->arch), "%s", map[i].arch);
                        snprintf(ret->variant, sizeof(ret->variant), "%s", map[i].variant);
                        return;
                }
        snprintf(ret->arch, sizeof(ret->arch), "%.31s", u.machine);
}

/* arm64 without a variant is v8; everything else compares as written. */
static const char *norm_variant(const char *arch, const char *variant)
{
        if (strcmp(arch, "arm64") == 0 && (!variant || !*variant))
                return "v8";
        return variant ? variant : "";
}

static bool is_attestation(yajl_val m)
{
        yajl_val ann = ib_json_get(m, "annotations");
        const char *t = ib_json_get_str(ann, "vnd.docker.reference.type");
        return t && strcmp(t, "attestation-manifest") == 0;
}

int ib_platform_select(const char *index, size_t len, const struct ib_platform *want,
                       char **ret_digest, char **ret_media_type, struct ib_err **err)
{
        _cleanup_json_ yajl_val doc = ib_json_parse(index, len, "index", err);
        struct ib_buf seen = IB_BUF_INIT;
        yajl_val list;
        int r;

        if (!doc)
                return -EINVAL;
        list = ib_json_get(doc, "manifests");
        if (!list || !YAJL_IS_ARRAY(list))
                return ib_err_set(err, EINVAL, "index has no `manifests` array");
        for (size_t i = 0; i < list->u.array.len; i++) {
                yajl_val m = list->u.array.values[i];
                yajl_val pl = ib_json_get(m, "platform");
                const char *os = ib_json_get_str(pl, "os"), *arch = ib_json_get_str(pl, "architecture");
                const char *variant = ib_json_get_str(pl, "variant");
                const char *digest = ib_json_get_str(m, "digest"), *hex;

                if (!os || !arch || !digest || is_attestation(m))
                        continue;
                ib_buf_addf(&seen, "%s%s/%s%s%s", seen.len ? ", " : "", os, arch, variant && *variant ? "/" : "",
                            variant ? variant : "");
                if (strcmp(os, want->os) != 0 || strcmp(arch, want->arch) != 0)
                        continue;
                /* No variant asked for: any variant will do. */
                if (want->variant[0] && strcmp(norm_variant(arch, variant), norm_variant(want->arch, want->variant)) != 0)
                        continue;
                if (!ib_startswith(digest, "sha256:") || !ib_digest_parse(digest, &hex)) {
                        ib_buf_release(&seen);
                        return ib_err_set(err, EINVAL, "index entry for %s/%s has a bad digest `%s`", os, arch, digest);
                }
                *ret_digest = ib_strdup(digest);
                if (ret_media_type) {
                        const char *mt = ib_json_get_str(m, "mediaType");
                        *ret_media_type = mt ? ib_strdup(mt) : NULL;
                }
                ib_buf_release(&seen);
                return 0;
        }
        r = ib_err_set(err, ENOENT, "no manifest for platform %s/%s%s%s in the index (it has: %s)", want->os,
                       want->arch, want->variant[0] ? "/" : "", want->variant, seen.len ? seen.buf : "none");
        ib_buf_release(&seen);
        return r;
}

bool ib_media_type_is_index(const char *mt)
{
        return mt && (strcmp(mt, IB_MT_OCI_INDEX) == 0 || strcmp(mt, IB_MT_DOCKER_LIST) == 0);
}

char *ib_manifest_media_type(const char *data, size_t len, const char *content_type)
{
        _cleanup_err_ struct ib_err *e = NULL;
        _cleanup_json_ yajl_val doc = ib_json_parse(data, len, "manifest", &e);
        const char *mt = ib_json_get_str(doc, "mediaType");
        yajl_val sv = ib_json_get(doc, "schemaVersion");

        if (mt && *mt)
                return ib_strdup(mt);
        if (sv && YAJL_IS_INTEGER(sv) && YAJL_GET_INTEGER(sv) == 1)
                return ib_strdup(IB_MT_DOCKER_SCHEMA1);
        if (content_type && *content_type && !ib_startswith(content_type, "application/json") &&
            !ib_startswith(content_type, "text/plain")) {
                size_t n = strcspn(content_type, "; \t");
                return ib_strndup(content_type, n);
        }
        if (ib_json_get(doc, "manifests"))
                return ib_strdup(IB_MT_OCI_INDEX);
        if (ib_json_get(doc, "config") || ib_json_get(doc, "layers"))
                return ib_strdup(IB_MT_OCI_MANIFEST);
        return NULL;
}
