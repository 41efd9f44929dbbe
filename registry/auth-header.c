/* registry/auth-header.c - a WWW-Authenticate parser (RFC 7235 section 4.1).
 *
 *   header    = 1#challenge
 *   challenge = scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param = token BWS "=" BWS ( token / quoted-string )
 *
 * Commas separate both challenges and parameters, so after each parameter we
 * look ahead: "name =" continues the parameter list, a bare token starts the
 * next challenge.  Unquoted values are read leniently up to a comma or space
 * (registries send realm=https://... unquoted).  Input comes from the network:
 * every loop advances, nothing is read past the NUL, and sizes are bounded. */
#include "lib/ib.h"
#include "registry/registry.h"
#include <ctype.h>

#define MAX_CHALLENGES 16
#define MAX_PARAMS 32

static bool is_tchar(char c)
{
        return (isascii((unsigned char) c) && isalnum((unsigned char) c)) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_ws(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *skip_ws(const char *p)
{
        while (is_ws(*p))
                p++;
        return p;
}

static char *lower_dup(const char *s, size_t n)
{
        char *d = ib_strndup(s, n);
        for (char *p = d; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        return d;
}

/* A quoted-string starting at the opening quote; an unterminated one runs to the end. */
static const char *read_quoted(const char *p, char **ret)
{
        struct ib_buf b = IB_BUF_INIT;

        p++;
        while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                        p++;
                ib_buf_addc(&b, *p++);
        }
        if (*p == '"')
                p++;
        *ret = ib_buf_detach(&b);
        return p;
}

static void add_param(struct ib_auth_challenge *c, char *name, char *value)
{
        if (c->n_params >= MAX_PARAMS) {
                free(name);
                free(value);
                return;
        }
        c->params = ib_reallocarray(c->params, c->n_params + 1, sizeof(*c->params));
        c->params[c->n_params].name = name;
        c->params[c->n_params].value = value;
        c->n_params++;
}

/* Is there "token BWS = BWS value" at @p?  "token=" or "token==" followed by
 * a comma or the end is a token68 instead (a parameter needs a value). */
static bool at_param(const char *p, const char **name_end, const char **eq)
{
        const char *q = p;

        while (is_tchar(*q))
                q++;
        if (q == p)
                return false;
        *name_end = q;
        q = skip_ws(q);
        if (*q != '=')
                return false;
        *eq = q;
        q = skip_ws(q + 1);
        return *q != '=' && *q != ',' && *q != '\0';
}

static bool is_token68_char(char c)
{
        return (isascii((unsigned char) c) && isalnum((unsigned char) c)) || (c && strchr("-._~+/", c));
}

/* Parse the parameters of one challenge; returns where the next challenge starts. */
static const char *parse_params(const char *p, struct ib_auth_challenge *c)
{
        const char *name_end, *eq;

        p = skip_ws(p);
        if (!at_param(p, &name_end, &eq)) {
                const char *q = p, *s;
                while (is_token68_char(*q))
                        q++;
                if (q == p)
                        return p;
                while (*q == '=')
                        q++;
                s = skip_ws(q);
                if (*s == ',' || *s == '\0') {
                        add_param(c, ib_strdup("token68"), ib_strndup(p, (size_t) (q - p)));
                        return s;
                }
                return p;
        }
        for (;;) {
                p = skip_ws(p);
                while (*p == ',')
                        p = skip_ws(p + 1);
                if (!*p)
                        return p;
                if (!at_param(p, &name_end, &eq))
                        return p;       /* the next challenge's scheme (or junk) */
                char *name = lower_dup(p, (size_t) (name_end - p));
                char *value;
                p = skip_ws(eq + 1);
                if (*p == '"') {
                        p = read_quoted(p, &value);
                } else {
                        const char *v = p;
                        while (*p && *p != ',' && !is_ws(*p))
                                p++;
                        value = ib_strndup(v, (size_t) (p - v));
                }
                add_param(c, name, value);
                /* Junk after a value up to the next comma is skipped. */
                p = skip_ws(p);
                if (*p && *p != ',') {
                        const char *ne, *e2;
                        if (at_param(p, &ne, &e2))
                                continue;       /* missing comma: be lenient */
                        return p;
                }
        }
}

int ib_auth_parse(const char *header, struct ib_auth_challenge **ret, size_t *ret_n, struct ib_err **err)
{
        struct ib_auth_challenge *list = NULL;
        size_t n = 0;
        const char *p = header ? header : "";

        while (*p && n < MAX_CHALLENGES) {
                p = skip_ws(p);
                while (*p == ',')
                        p = skip_ws(p + 1);
                if (!*p)
                        break;
                const char *s = p;
                while (is_tchar(*p))
                        p++;
                if (p == s) {
                        /* not a token: skip a quoted string or one byte, and resynchronize */
                        if (*p == '"') {
                                char *junk;
                                p = read_quoted(p, &junk);
                                free(junk);
                        } else {
                                p++;
                        }
                        continue;
                }
                if (*p == '=') {
                        /* a stray parameter with no scheme: skip it */
                        p++;
                        if (*p == '"') {
                                char *junk;
                                p = read_quoted(p, &junk);
                                free(junk);
                        }
                        while (*p && *p != ',')
                                p++;
                        continue;
                }
                list = ib_reallocarray(list, n + 1, sizeof(*list));
                memset(&list[n], 0, sizeof(list[n]));
                list[n].scheme = lower_dup(s, (size_t) (p - s));
                if (is_ws(*p))
                        p = parse_params(p, &list[n]);
                n++;
        }
        if (n == 0) {
                free(list);
                return ib_err_set(err, EINVAL, "no challenge in WWW-Authenticate header");
        }
        *ret = list;
        *ret_n = n;
        return 0;
}

void ib_auth_challenges_free(struct ib_auth_challenge *c, size_t n)
{
        if (!c)
                return;
        for (size_t i = 0; i < n; i++) {
                for (size_t j = 0; j < c[i].n_params; j++) {
                        free(c[i].params[j].name);
                        free(c[i].params[j].value);
                }
                free(c[i].params);
                free(c[i].scheme);
        }
        free(c);
}

const char *ib_auth_param(const struct ib_auth_challenge *c, const char *name)
{
        for (size_t i = 0; i < c->n_params; i++)
                if (strcmp(c->params[i].name, name) == 0)
                        return c->params[i].value;
        return NULL;
}
