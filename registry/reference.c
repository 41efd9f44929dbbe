/* registry/reference.c - image references, parsed and normalized as docker does
 * (distribution/reference's grammar, written from its spec):
 *
 *   reference   := name [ ":" tag ] [ "@" digest ]
 *   name        := [domain "/"] path-component ["/" path-component]*
 *   domain      := host [":" port]        host: dns labels, IPv4, or "[" IPv6 "]"
 *   path-comp   := [a-z0-9]+ (separator [a-z0-9]+)*   separator: "." | "_" | "__" | "-"+
 *   tag         := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest      := "sha256:" 64 lowercase hex (the only algorithm we accept)
 *
 * The first component is a domain when it has a '.' or ':', is "localhost", or
 * has an uppercase letter (paths never may); otherwise the domain is docker.io
 * and a one-component path gets "library/" in front. */
#include "lib/ib.h"
#include "registry/registry.h"
#include <ctype.h>

#define NAME_MAX_LEN 255

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
        return isascii((unsigned char) c) && isalnum((unsigned char) c);
}

/* One path component: alnum runs joined by ".", "_", "__" or any number of "-". */
static bool valid_path_component(const char *s, size_t n)
{
        size_t i = 0;

        if (n == 0 || !is_lower_alnum(s[0]))
                return false;
        while (i < n) {
                while (i < n && is_lower_alnum(s[i]))
                        i++;
                if (i == n)
                        return true;
                if (s[i] == '.') {
                        i++;
                } else if (s[i] == '_') {
                        i++;
                        if (i < n && s[i] == '_')
                                i++;
                } else if (s[i] == '-') {
                        while (i < n && s[i] == '-')
                                i++;
                } else {
                        return false;
                }
                if (i == n || !is_lower_alnum(s[i]))
                        return false;
        }
        return true;
}

static bool valid_path(const char *s)
{
        const char *p = s;

        for (;;) {
                const char *slash = strchr(p, '/');
                size_t n = slash ? (size_t) (slash - p) : strlen(p);
                if (!valid_path_component(p, n))
                        return false;
                if (!slash)
                        return true;
                p = slash + 1;
        }
}

static bool valid_dns_label(const char *s, size_t n)
{
        if (n == 0 || n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum(s[i]) && s[i] != '-')
                        return false;
        return true;
}

static bool valid_port(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 5)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isdigit((unsigned char) s[i]))
                        return false;
        return atoi(s) <= 65535;
}

static bool valid_domain(const char *d)
{
        const char *host_end;

        if (d[0] == '[') {
                const char *close = strchr(d, ']');
                if (!close || close == d + 1)
                        return false;
                for (const char *p = d + 1; p < close; p++)
                        if (!isxdigit((unsigned char) *p) && *p != ':' && *p != '.')
                                return false;
                host_end = close + 1;
                if (*host_end == '\0')
                        return true;
                return *host_end == ':' && valid_port(host_end + 1);
        }
        host_end = strchr(d, ':');
        if (host_end && !valid_port(host_end + 1))
                return false;
        size_t hn = host_end ? (size_t) (host_end - d) : strlen(d);
        const char *p = d;
        if (hn == 0)
                return false;
        while (p < d + hn) {
                const char *dot = memchr(p, '.', (size_t) (d + hn - p));
                size_t ln = dot ? (size_t) (dot - p) : (size_t) (d + hn - p);
                if (!valid_dns_label(p, ln))
                        return false;
                p += ln + (dot ? 1 : 0);
                if (dot && p == d + hn)
                        return false;   /* trailing dot */
        }
        return true;
}

static bool valid_tag(const char *t)
{
        size_t n = strlen(t);
        if (n == 0 || n > 128)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = t[i];
                bool w = is_alnum(c) || c == '_';
                if (!w && (i == 0 || (c != '.' && c != '-')))
                        return false;
        }
        return true;
}

static bool valid_digest(const char *d)
{
        const char *hex;
        return ib_startswith(d, "sha256:") && ib_digest_parse(d, &hex);
}

void ib_ref_free(struct ib_ref *r)
{
        if (!r)
                return;
        free(r->domain);
        free(r->path);
        free(r->tag);
        free(r->digest);
        free(r);
}

static bool has_upper(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] >= 'A' && s[i] <= 'Z')
                        return true;
        return false;
}

int ib_ref_parse(const char *s, struct ib_ref **ret, struct ib_err **err)
{
        _cleanup_free_ char *name = NULL, *domain = NULL, *rest = NULL, *tag = NULL, *digest = NULL;
        const char *at, *slash, *colon, *last_slash;
        struct ib_ref *r;

        if (!s || !*s)
                return ib_err_set(err, EINVAL, "invalid reference format: empty");
        if (strlen(s) == 64 && ib_is_sha256_hex(s))
                return ib_err_set(err, EINVAL, "invalid reference format: cannot specify 64-byte hexadecimal strings");
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p <= ' ' || (unsigned char) *p >= 0x7f)
                        return ib_err_set(err, EINVAL, "invalid reference format: control or space character");
        at = strchr(s, '@');
        if (at) {
                if (!valid_digest(at + 1))
                        return ib_err_set(err, EINVAL, "invalid reference format: bad digest `%s`", at + 1);
                digest = ib_strdup(at + 1);
                name = ib_strndup(s, (size_t) (at - s));
        } else {
                name = ib_strdup(s);
        }
        /* The tag is after the last ':' that follows the last '/'. */
        last_slash = strrchr(name, '/');
        colon = strrchr(last_slash ? last_slash : name, ':');
        if (colon) {
                tag = ib_strdup(colon + 1);
                name[colon - name] = '\0';
                if (!valid_tag(tag))
                        return ib_err_set(err, EINVAL, "invalid reference format: bad tag `%s`", tag);
        }
        if (!*name)
                return ib_err_set(err, EINVAL, "invalid reference format: empty name");
        if (strlen(name) > NAME_MAX_LEN)
                return ib_err_set(err, EINVAL, "invalid reference format: repository name must not be more than %d characters", NAME_MAX_LEN);

        slash = strchr(name, '/');
        if (slash && (memchr(name, '.', (size_t) (slash - name)) || memchr(name, ':', (size_t) (slash - name)) ||
                      ((size_t) (slash - name) == strlen("localhost") && strncmp(name, "localhost", 9) == 0) ||
                      has_upper(name, (size_t) (slash - name)))) {
                domain = ib_strndup(name, (size_t) (slash - name));
                rest = ib_strdup(slash + 1);
                /* kept as written, like docker: lowercasing "Reg/x" would turn it into docker.io/reg/x */
                if (!valid_domain(domain))
                        return ib_err_set(err, EINVAL, "invalid reference format: bad registry `%s`", domain);
        } else {
                domain = ib_strdup("docker.io");
                rest = IB_TAKE_PTR(name);
        }
        if (strcmp(domain, "index.docker.io") == 0) {
                free(domain);
                domain = ib_strdup("docker.io");
        }
        if (has_upper(rest, strlen(rest)))
                return ib_err_set(err, EINVAL, "invalid reference format: repository name must be lowercase");
        if (!valid_path(rest))
                return ib_err_set(err, EINVAL, "invalid reference format: bad repository name `%s`", rest);
        if (strcmp(domain, "docker.io") == 0 && !strchr(rest, '/')) {
                char *p = ib_strdupf("library/%s", rest);
                free(rest);
                rest = p;
        }
        if (strlen(domain) + 1 + strlen(rest) > NAME_MAX_LEN)
                return ib_err_set(err, EINVAL, "invalid reference format: repository name must not be more than %d characters", NAME_MAX_LEN);
        if (!tag && !digest)
                tag = ib_strdup("latest");

        r = ib_calloc(1, sizeof(*r));
        r->domain = IB_TAKE_PTR(domain);
        r->path = IB_TAKE_PTR(rest);
        r->tag = IB_TAKE_PTR(tag);
        r->digest = IB_TAKE_PTR(digest);
        *ret = r;
        return 0;
}

char *ib_ref_name(const struct ib_ref *r)
{
        return ib_strdupf("%s/%s", r->domain, r->path);
}

char *ib_ref_string(const struct ib_ref *r)
{
        return ib_strdupf("%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "", r->tag ? r->tag : "",
                          r->digest ? "@" : "", r->digest ? r->digest : "");
}

struct ib_ref *ib_ref_with_digest(const struct ib_ref *r, const char *digest)
{
        struct ib_ref *c = ib_calloc(1, sizeof(*c));
        c->domain = ib_strdup(r->domain);
        c->path = ib_strdup(r->path);
        c->tag = r->tag ? ib_strdup(r->tag) : NULL;
        c->digest = digest ? ib_strdup(digest) : NULL;
        return c;
}
