/* src/registry-opts.c - parse the registry flags (see registry-opts.h and
 * imgbuild-pull(1)). */
#include "lib/ib.h"
#include "src/cli.h"
#include "src/registry-opts.h"

enum {
        O_INSECURE = IB_REGOPT_BASE,
        O_INSECURE_PULL,
        O_INSECURE_REGISTRY,
        O_SKIP_TLS,
        O_SKIP_TLS_PULL,
        O_SKIP_TLS_REGISTRY,
        O_REG_CERT,
        O_REG_CLIENT_CERT,
        O_MIRROR,
        O_MAP,
        O_DL_RETRY,
        O_PUSH_RETRY,
        O_PLATFORM,
        O_CHUNK,
        O_PARALLEL,
        O_NO_FALLBACK,
};

static const struct option reg_opts[] = {
        { "insecure", no_argument, NULL, O_INSECURE },
        { "insecure-pull", no_argument, NULL, O_INSECURE_PULL },
        { "insecure-registry", required_argument, NULL, O_INSECURE_REGISTRY },
        { "skip-tls-verify", no_argument, NULL, O_SKIP_TLS },
        { "skip-tls-verify-pull", no_argument, NULL, O_SKIP_TLS_PULL },
        { "skip-tls-verify-registry", required_argument, NULL, O_SKIP_TLS_REGISTRY },
        { "registry-certificate", required_argument, NULL, O_REG_CERT },
        { "registry-client-cert", required_argument, NULL, O_REG_CLIENT_CERT },
        { "registry-mirror", required_argument, NULL, O_MIRROR },
        { "registry-map", required_argument, NULL, O_MAP },
        { "image-download-retry", required_argument, NULL, O_DL_RETRY },
        { "push-retry", required_argument, NULL, O_PUSH_RETRY },
        { "platform", required_argument, NULL, O_PLATFORM },
        { "custom-platform", required_argument, NULL, O_PLATFORM },
        { "push-chunk-size", required_argument, NULL, O_CHUNK },
        { "parallel-transfers", required_argument, NULL, O_PARALLEL },
        { "skip-default-registry-fallback", no_argument, NULL, O_NO_FALLBACK },
        {},
};

void ib_regopts_init(struct ib_regopts *c)
{
        memset(c, 0, sizeof(*c));
        ib_registry_opts_init(&c->opts);
}

void ib_regopts_release(struct ib_regopts *c)
{
        ib_registry_opts_release(&c->opts);
}

struct option *ib_regopts_merge(const struct option *verb_opts)
{
        size_t n = 0, m = IB_ELEMENTSOF(reg_opts);
        struct option *all;

        while (verb_opts && verb_opts[n].name)
                n++;
        all = ib_calloc(n + m, sizeof(*all));
        if (n)
                memcpy(all, verb_opts, n * sizeof(*all));
        memcpy(all + n, reg_opts, m * sizeof(*all));
        return all;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *ret)
{
        char *end;
        unsigned long long v;

        if (!s || !*s || *s == '-')
                return -1;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || v > max)
                return -1;
        *ret = v;
        return 0;
}

static struct ib_registry_cert *cert_for(struct ib_registry_opts *o, const char *reg)
{
        for (size_t i = 0; i < o->n_certs; i++)
                if (strcmp(o->certs[i].registry, reg) == 0)
                        return &o->certs[i];
        o->certs = ib_reallocarray(o->certs, o->n_certs + 1, sizeof(*o->certs));
        memset(&o->certs[o->n_certs], 0, sizeof(o->certs[0]));
        o->certs[o->n_certs].registry = ib_strdup(reg);
        return &o->certs[o->n_certs++];
}

static int usage(const char *verb, const char *opt, const char *arg, const char *want)
{
        return ib_cli_usage_error(verb, "--%s '%s': expected %s", opt, arg, want);
}

int ib_regopts_platform(struct ib_regopts *c, const char *arg, const char *verb)
{
        _cleanup_err_ struct ib_err *e = NULL;

        if (ib_platform_parse(arg, &c->platform, &e) < 0)
                return ib_cli_usage_error(verb, "%s", e->msg);
        c->have_platform = true;
        return 1;
}

static void add_map(struct ib_registry_opts *o, const char *from, size_t from_len, const char *to, size_t to_len)
{
        o->maps = ib_reallocarray(o->maps, o->n_maps + 1, sizeof(*o->maps));
        o->maps[o->n_maps].from = ib_strndup(from, from_len);
        o->maps[o->n_maps].to = ib_strndup(to, to_len);
        o->n_maps++;
}

/* Kaniko's form: "orig=new;orig2=new2", the same orig repeatable (targets
 * tried in order, then orig itself).  A part with no '=' is one more target
 * for the previous orig: "orig=new;new2". */
int ib_regopts_registry_map(struct ib_regopts *c, const char *arg, const char *verb)
{
        const char *from = NULL;
        size_t from_len = 0;

        for (const char *p = arg; *p;) {
                size_t n = strcspn(p, ";");
                const char *eq = memchr(p, '=', n);
                if (eq) {
                        if (eq == p || eq + 1 == p + n)
                                return usage(verb, "registry-map", arg, "ORIG=NEW[;ORIG2=NEW2...]");
                        from = p;
                        from_len = (size_t) (eq - p);
                        add_map(&c->opts, from, from_len, eq + 1, (size_t) (p + n - eq - 1));
                } else if (n) {
                        if (!from)
                                return usage(verb, "registry-map", arg, "ORIG=NEW[;ORIG2=NEW2...]");
                        add_map(&c->opts, from, from_len, p, n);
                }
                p += n + (p[n] ? 1 : 0);
        }
        if (!from)
                return usage(verb, "registry-map", arg, "ORIG=NEW[;ORIG2=NEW2...]");
        return 1;
}

int ib_regopts_handle(struct ib_regopts *c, int opt, const char *arg, const char *verb)
{
        struct ib_registry_opts *o = &c->opts;
        unsigned long long v;
        const char *eq;

        switch (opt) {
        case O_INSECURE:
                o->insecure_push = true;
                return 1;
        case O_INSECURE_PULL:
                o->insecure_pull = true;
                return 1;
        case O_INSECURE_REGISTRY:
                if (!*arg)
                        return usage(verb, "insecure-registry", arg, "a registry host[:port]");
                ib_strv_push(&o->insecure_registries, arg);
                return 1;
        case O_SKIP_TLS:
                o->skip_tls_verify = true;
                return 1;
        case O_SKIP_TLS_PULL:
                o->skip_tls_verify_pull = true;
                return 1;
        case O_SKIP_TLS_REGISTRY:
                if (!*arg)
                        return usage(verb, "skip-tls-verify-registry", arg, "a registry host[:port]");
                ib_strv_push(&o->skip_tls_verify_registries, arg);
                return 1;
        case O_REG_CERT: {
                eq = strchr(arg, '=');
                if (!eq || eq == arg || !eq[1])
                        return usage(verb, "registry-certificate", arg, "REGISTRY=CA.pem");
                _cleanup_free_ char *reg = ib_strndup(arg, (size_t) (eq - arg));
                struct ib_registry_cert *ct = cert_for(o, reg);
                free(ct->ca_file);
                ct->ca_file = ib_strdup(eq + 1);
                return 1;
        }
        case O_REG_CLIENT_CERT: {
                const char *comma;
                eq = strchr(arg, '=');
                comma = eq ? strchr(eq, ',') : NULL;
                if (!eq || eq == arg || !comma || comma == eq + 1 || !comma[1])
                        return usage(verb, "registry-client-cert", arg, "REGISTRY=CERT.pem,KEY.pem");
                _cleanup_free_ char *reg = ib_strndup(arg, (size_t) (eq - arg));
                struct ib_registry_cert *ct = cert_for(o, reg);
                free(ct->cert_file);
                free(ct->key_file);
                ct->cert_file = ib_strndup(eq + 1, (size_t) (comma - eq - 1));
                ct->key_file = ib_strdup(comma + 1);
                return 1;
        }
        case O_MIRROR:
                if (!*arg)
                        return usage(verb, "registry-mirror", arg, "a registry host[:port][/path]");
                ib_strv_push(&o->mirrors, arg);
                return 1;
        case O_MAP:
                return ib_regopts_registry_map(c, arg, verb);
        case O_NO_FALLBACK:
                o->skip_default_fallback = true;
                return 1;
        case O_DL_RETRY:
                if (parse_uint(arg, 100, &v) < 0)
                        return usage(verb, "image-download-retry", arg, "a number from 0 to 100");
                o->pull_retries = (unsigned) v;
                return 1;
        case O_PUSH_RETRY:
                if (parse_uint(arg, 100, &v) < 0)
                        return usage(verb, "push-retry", arg, "a number from 0 to 100");
                o->push_retries = (unsigned) v;
                return 1;
        case O_PLATFORM:
                return ib_regopts_platform(c, arg, verb);
        case O_CHUNK:
                if (parse_uint(arg, 1ull << 40, &v) < 0 || v < 1024)
                        return usage(verb, "push-chunk-size", arg, "a byte count of at least 1024");
                o->chunk_size = v;
                return 1;
        case O_PARALLEL:
                if (parse_uint(arg, 64, &v) < 0 || v == 0)
                        return usage(verb, "parallel-transfers", arg, "a number from 1 to 64");
                o->max_parallel = (unsigned) v;
                return 1;
        default:
                return 0;
        }
}

void ib_regopts_help(FILE *out)
{
        fprintf(out,
                "Registry options:\n"
                "      --platform OS/ARCH[/VARIANT]   platform to pick from a multi-platform image (default: this host's)\n"
                "      --insecure                     allow plain HTTP for pushes\n"
                "      --insecure-pull                allow plain HTTP for pulls\n"
                "      --insecure-registry R          allow plain HTTP for registry R (repeatable)\n"
                "      --skip-tls-verify              do not verify TLS certificates\n"
                "      --skip-tls-verify-pull         do not verify TLS certificates when pulling\n"
                "      --skip-tls-verify-registry R   do not verify R's certificate (repeatable)\n"
                "      --registry-certificate R=CA    trust CA (PEM) for registry R\n"
                "      --registry-client-cert R=C,K   client certificate C and key K for registry R\n"
                "      --registry-mirror M            mirror for docker.io pulls (repeatable, tried in order)\n"
                "      --registry-map ORIG=NEW[;ORIG2=NEW2]  pull ORIG's images from NEW first (repeatable)\n"
                "      --skip-default-registry-fallback  with mirrors or maps, never fall back to the registry itself\n"
                "      --image-download-retry N       retries per download (default 3)\n"
                "      --push-retry N                 retries per upload (default 3)\n"
                "      --push-chunk-size BYTES        upload larger blobs in PATCH chunks of this size (default 32 MiB)\n"
                "      --parallel-transfers N         blobs in flight at once (default 4)\n");
}
