/* src/stages.c - the stage graph and the expanded plan (BuildKit's
 * dockerfile2llb, minus the LLB): global ARGs and platform ARGs, FROM
 * expansion, stages by name and index, COPY --from and RUN --mount from=
 * dependencies, --target, reachability (unused stages pruned), circular
 * references, and per-stage variable state (ENV and ARG, last writer wins). */
#include "lib/ib.h"
#include "src/dockerfile.h"
#include "src/shell.h"
#include <ctype.h>
#include <stdarg.h>
#include <sys/utsname.h>

/* ------------------------------------------------------------ string map */

/* Open addressing, string keys, owned string values (NULL allowed). */
struct map {
        char **keys;
        char **vals;
        size_t cap, n;
};

static size_t map_slot(const struct map *m, const char *k)
{
        size_t h = (size_t) ib_xxh64(k, strlen(k), 0);
        size_t i = h & (m->cap - 1);
        while (m->keys[i] && strcmp(m->keys[i], k) != 0)
                i = (i + 1) & (m->cap - 1);
        return i;
}

static void map_set(struct map *m, const char *k, const char *v);

static void map_grow(struct map *m)
{
        struct map old = *m;
        m->cap = old.cap ? old.cap * 2 : 16;
        m->keys = ib_calloc(m->cap, sizeof(char *));
        m->vals = ib_calloc(m->cap, sizeof(char *));
        m->n = 0;
        for (size_t i = 0; i < old.cap; i++)
                if (old.keys[i]) {
                        size_t s = map_slot(m, old.keys[i]);
                        m->keys[s] = old.keys[i];
                        m->vals[s] = old.vals[i];
                        m->n++;
                }
        free(old.keys);
        free(old.vals);
}

static void map_set(struct map *m, const char *k, const char *v)
{
        if ((m->n + 1) * 2 > m->cap)
                map_grow(m);
        size_t s = map_slot(m, k);
        if (m->keys[s]) {
                free(m->vals[s]);
        } else {
                m->keys[s] = ib_strdup(k);
                m->n++;
        }
        m->vals[s] = v ? ib_strdup(v) : NULL;
}

static bool map_get(const struct map *m, const char *k, const char **ret)
{
        if (!m->cap)
                return false;
        size_t s = map_slot(m, k);
        if (!m->keys[s])
                return false;
        if (ret)
                *ret = m->vals[s];
        return true;
}

static void map_free(struct map *m)
{
        for (size_t i = 0; i < m->cap; i++) {
                free(m->keys[i]);
                free(m->vals[i]);
        }
        free(m->keys);
        free(m->vals);
        *m = (struct map) { 0 };
}

/* A stage's variables: its own map in front of the frozen map of the stage
 * it was built FROM.  A base stage with one child hands its map over (a chain
 * of stages costs nothing); with several children they link to it, and a
 * link chain deeper than SCOPE_MAX_DEPTH is flattened, so lookups stay cheap
 * and memory stays linear. */
#define SCOPE_MAX_DEPTH 32
struct scope {
        struct map own;
        const struct scope *parent;
        unsigned depth;
};

static bool scope_get(const struct scope *s, const char *k, const char **ret)
{
        for (; s; s = s->parent)
                if (map_get(&s->own, k, ret))
                        return true;
        return false;
}

static const char *scope_lookup(const char *name, void *userdata)
{
        const char *v = NULL;
        return scope_get(userdata, name, &v) ? v : NULL;
}

/* Copy everything visible through @src into @dst->own (nearer scopes win). */
static void scope_flatten(struct scope *dst, const struct scope *src)
{
        size_t n = 0;
        for (const struct scope *x = src; x; x = x->parent)
                n++;
        _cleanup_free_ const struct scope **chain = ib_calloc(n, sizeof(*chain));
        n = 0;
        for (const struct scope *x = src; x; x = x->parent)
                chain[n++] = x;
        while (n--)
                for (size_t i = 0; i < chain[n]->own.cap; i++)
                        if (chain[n]->own.keys[i])
                                map_set(&dst->own, chain[n]->own.keys[i], chain[n]->own.vals[i]);
}

/* ----------------------------------------------------------- small helpers */

static int at(const struct ib_dockerfile *df, const struct ib_df_instr *in, struct ib_err **err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int at(const struct ib_dockerfile *df, const struct ib_df_instr *in, struct ib_err **err, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (msg && strlen(msg) > IB_DF_MSG_MAX) {
                char *cut = ib_elide(msg, IB_DF_MSG_MAX);
                free(msg);
                msg = cut;
        }
        return ib_err_set(err, 0, "%s:%u:%u: %s", df->path, in ? in->line : 1, in ? in->col : 1,
                          msg ? msg : "out of memory");
}

/* Wrap an expansion error from src/shell.c with the instruction's position. */
static int at_expand(const struct ib_dockerfile *df, const struct ib_df_instr *in, const char *what,
                     struct ib_err **err)
{
        _cleanup_free_ char *m = ib_strdup(*err && (*err)->msg ? (*err)->msg : "expansion failed");
        return at(df, in, err, "%s: %s", what, m);
}

static int expand(const struct ib_dockerfile *df, const struct ib_df_instr *in, const char *word,
                  struct scope *env, char **ret, struct ib_err **err)
{
        if (ib_shell_expand_word(word, df->escape, scope_lookup, env, ret, err) < 0)
                return at_expand(df, in, word, err);
        return 0;
}

static bool parse_long(const char *s, long *ret)
{
        char *end;
        if (!*s)
                return false;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || *end)
                return false;
        *ret = v;
        return true;
}

/* --------------------------------------------------------------- platform */

char *ib_host_platform(void)
{
        struct utsname u;
        const char *arch, *variant = NULL;

        if (uname(&u) < 0)
                return ib_strdup("linux/amd64");
        const char *m = u.machine;
        if (strcmp(m, "x86_64") == 0 || strcmp(m, "amd64") == 0)
                arch = "amd64";
        else if (strcmp(m, "aarch64") == 0 || strcmp(m, "arm64") == 0)
                arch = "arm64";
        else if (ib_startswith(m, "armv7"))
                arch = "arm", variant = "v7";
        else if (ib_startswith(m, "armv6"))
                arch = "arm", variant = "v6";
        else if (ib_startswith(m, "armv5"))
                arch = "arm", variant = "v5";
        else if (m[0] == 'i' && strcmp(m + 2, "86") == 0)
                arch = "386";
        else if (strcmp(m, "loongarch64") == 0)
                arch = "loong64";
        else
                arch = m;       /* ppc64le, s390x, riscv64, mips64... are Go's names too */
        return variant ? ib_strdupf("linux/%s/%s", arch, variant) : ib_strdupf("linux/%s", arch);
}

/* Set PREFIXPLATFORM, PREFIXOS, PREFIXARCH, PREFIXVARIANT from "os/arch[/variant]". */
static void set_platform_args(struct map *m, const char *prefix, const char *plat)
{
        _cleanup_free_ char *copy = ib_strdup(plat);
        char *os = copy, *arch = "", *variant = "";
        char *s = strchr(copy, '/');
        if (s) {
                *s = '\0';
                arch = s + 1;
                s = strchr(arch, '/');
                if (s) {
                        *s = '\0';
                        variant = s + 1;
                }
        }
        _cleanup_free_ char *k1 = ib_strdupf("%sPLATFORM", prefix);
        _cleanup_free_ char *k2 = ib_strdupf("%sOS", prefix);
        _cleanup_free_ char *k3 = ib_strdupf("%sARCH", prefix);
        _cleanup_free_ char *k4 = ib_strdupf("%sVARIANT", prefix);
        map_set(m, k1, plat);
        map_set(m, k2, os);
        map_set(m, k3, arch);
        map_set(m, k4, variant);
}

static const char *const platform_arg_names[] = {
        "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
        "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT", NULL,
};

static bool is_proxy_arg(const char *k)
{
        static const char *const names[] = { "http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy" };
        for (size_t i = 0; i < IB_ELEMENTSOF(names); i++)
                if (strcasecmp(k, names[i]) == 0)
                        return true;
        return false;
}

/* -------------------------------------------------------------- durations */

/* Go's time.ParseDuration, in nanoseconds. */
static bool parse_duration(const char *s0, int64_t *ret, char **ret_msg)
{
        static const struct { const char *u; int64_t ns; } units[] = {
                { "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "\xce\xbcs", 1000 },
                { "ms", 1000000 }, { "s", 1000000000LL }, { "m", 60000000000LL }, { "h", 3600000000000LL },
        };
        const char *s = s0;
        bool neg = false;
        long double total = 0;

        if (*s == '-' || *s == '+')
                neg = *s++ == '-';
        if (strcmp(s, "0") == 0) {
                *ret = 0;
                return true;
        }
        if (!*s)
                goto invalid;
        while (*s) {
                if (!(isdigit((unsigned char) *s) || *s == '.'))
                        goto invalid;
                long double v = 0, scale = 1;
                bool digits = false;
                while (isdigit((unsigned char) *s)) {
                        v = v * 10 + (*s++ - '0');
                        digits = true;
                }
                if (*s == '.') {
                        s++;
                        while (isdigit((unsigned char) *s)) {
                                scale /= 10;
                                v += (*s++ - '0') * scale;
                                digits = true;
                        }
                }
                if (!digits)
                        goto invalid;
                const char *us = s;
                while (*s && *s != '.' && !isdigit((unsigned char) *s))
                        s++;
                if (us == s) {
                        *ret_msg = ib_strdupf("time: missing unit in duration \"%s\"", s0);
                        return false;
                }
                int64_t unit = 0;
                for (size_t i = 0; i < IB_ELEMENTSOF(units); i++)
                        if (strlen(units[i].u) == (size_t) (s - us) && memcmp(us, units[i].u, (size_t) (s - us)) == 0)
                                unit = units[i].ns;
                if (!unit) {
                        *ret_msg = ib_strdupf("time: unknown unit \"%.*s\" in duration \"%s\"", (int) (s - us), us, s0);
                        return false;
                }
                total += v * unit;
                if (total > (long double) INT64_MAX)
                        goto invalid;
        }
        *ret = (int64_t) (neg ? -total : total);
        return true;
invalid:
        *ret_msg = ib_strdupf("time: invalid duration \"%s\"", s0);
        return false;
}

/* ----------------------------------------------------------------- signals */

static bool valid_signal(const char *raw)
{
        static const char *const names[] = {
                "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
                "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
                "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
                "RTMIN", "RTMAX",
        };
        long n;
        if (parse_long(raw, &n))
                return n != 0 && n >= INT32_MIN && n <= INT32_MAX;
        _cleanup_free_ char *up = ib_strdup(raw);
        for (char *c = up; *c; c++)
                *c = (char) toupper((unsigned char) *c);
        const char *s = ib_startswith(up, "SIG") ? up + 3 : up;
        for (size_t i = 0; i < IB_ELEMENTSOF(names); i++)
                if (strcmp(s, names[i]) == 0)
                        return true;
        /* RTMIN+1..RTMIN+15, RTMAX-14..RTMAX-1 */
        if ((ib_startswith(s, "RTMIN+") || ib_startswith(s, "RTMAX-")) && parse_long(s + 6, &n) &&
            isdigit((unsigned char) s[6]))
                return s[3] == 'I' ? n >= 1 && n <= 15 : n >= 1 && n <= 14;
        return false;
}

/* ------------------------------------------------------------------ ports */

struct port_range {
        int proto;      /* 0 tcp, 1 udp, 2 sctp */
        unsigned lo, hi;
};

static bool parse_port_num(const char *s, size_t n, unsigned *ret)
{
        unsigned v = 0;
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (!isdigit((unsigned char) s[i]))
                        return false;
                v = v * 10 + (unsigned) (s[i] - '0');
                if (v > 65535)
                        return false;
        }
        *ret = v;
        return true;
}

/* Docker's nat.ParsePortSpec, container side: [ip:[hostport:]]port[-port][/proto]. */
static int parse_port_spec(const char *raw, struct port_range *r, char **ret_msg)
{
        static const char *const protos[] = { "tcp", "udp", "sctp" };
        const char *cp = strrchr(raw, ':');
        cp = cp ? cp + 1 : raw;
        const char *slash = strchr(cp, '/');
        size_t plen = slash ? (size_t) (slash - cp) : strlen(cp);
        _cleanup_free_ char *proto = NULL;
        if (slash && slash[1]) {
                const char *pe = strchr(slash + 1, '/');
                proto = pe ? ib_strndup(slash + 1, (size_t) (pe - slash - 1)) : ib_strdup(slash + 1);
        } else {
                proto = ib_strdup("tcp");
        }
        if (plen == 0) {
                *ret_msg = ib_strdupf("no port specified: %s<empty>", raw);
                return -1;
        }
        const char *dash = memchr(cp, '-', plen);
        if (!dash) {
                if (!parse_port_num(cp, plen, &r->lo))
                        goto badport;
                r->hi = r->lo;
        } else {
                const char *d2 = memchr(dash + 1, '-', (size_t) (cp + plen - dash - 1));
                size_t l2 = d2 ? (size_t) (d2 - dash - 1) : (size_t) (cp + plen - dash - 1);
                if (!parse_port_num(cp, (size_t) (dash - cp), &r->lo) || !parse_port_num(dash + 1, l2, &r->hi))
                        goto badport;
                if (r->hi < r->lo)
                        goto badport;
        }
        for (char *c = proto; *c; c++)
                *c = (char) tolower((unsigned char) *c);
        for (int i = 0; i < 3; i++)
                if (strcmp(proto, protos[i]) == 0) {
                        r->proto = i;
                        return 0;
                }
        *ret_msg = ib_strdupf("invalid proto: %s", proto);
        return -1;
badport:
        *ret_msg = ib_strdupf("invalid containerPort: %.*s", (int) plen, cp);
        return -1;
}

static int cmp_range(const void *a, const void *b)
{
        const struct port_range *x = a, *y = b;
        if (x->proto != y->proto)
                return x->proto - y->proto;
        return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Ranges -> sorted, de-duplicated "port/proto" strings (at most 3 x 65536). */
static char **ports_from_ranges(struct port_range *r, size_t n)
{
        static const char *const protos[] = { "tcp", "udp", "sctp" };
        struct ib_strvec out = { 0 };

        qsort(r, n, sizeof(*r), cmp_range);
        for (size_t i = 0; i < n;) {
                struct port_range cur = r[i++];
                while (i < n && r[i].proto == cur.proto && r[i].lo <= cur.hi + 1) {
                        if (r[i].hi > cur.hi)
                                cur.hi = r[i].hi;
                        i++;
                }
                for (unsigned p = cur.lo; p <= cur.hi; p++)
                        ib_strvec_push_own(&out, ib_strdupf("%u/%s", p, protos[cur.proto]));
        }
        if (out.n)
                qsort(out.v, out.n, sizeof(char *), cmp_str);
        return ib_strvec_finish(&out);
}

/* ------------------------------------------------------------ the planner */

struct stage_state {
        struct scope env;               /* the LLB state env: base ENV, ENV, ARG values */
        unsigned children;              /* needed stages built FROM this one */
        size_t n_onbuild;               /* ONBUILD instructions of this stage */
        struct ib_plan_var *log;
        size_t n_log, alloc_log;
        char **shell;                   /* NULL: default */
        long *deps;                     /* stage indexes this stage needs (FROM, --from) */
        size_t n_deps, alloc_deps;
        const struct ib_df_instr **dep_instr;
        size_t alloc_dep_instr;
        long base_stage;
        char *base;
        char *platform;
        bool reachable;
        bool planned;
        struct ib_plan_stage *ps;
};

struct planner {
        const struct ib_dockerfile *df;
        const struct ib_plan_opts *o;
        struct scope global;            /* platform ARGs + meta ARGs */
        struct map build_args;          /* --build-arg */
        struct map consumed;            /* build-arg names some ARG declared */
        struct map stage_names;         /* lowercased name -> index (as a decimal string) */
        struct stage_state *ss;
};

static void add_dep(struct stage_state *s, long idx, const struct ib_df_instr *in)
{
        ib_grow(&s->deps, &s->alloc_deps, s->n_deps + 1, sizeof(*s->deps));
        ib_grow(&s->dep_instr, &s->alloc_dep_instr, s->n_deps + 1, sizeof(*s->dep_instr));
        s->dep_instr[s->n_deps] = in;
        s->deps[s->n_deps++] = idx;
}

static long stage_by_name(const struct planner *p, const char *name)
{
        _cleanup_free_ char *low = ib_strdup(name);
        const char *v = NULL;
        for (char *c = low; *c; c++)
                *c = (char) tolower((unsigned char) *c);
        if (!map_get(&p->stage_names, low, &v))
                return -1;
        return strtol(v, NULL, 10);
}

/* COPY --from=X: a stage index, a stage name, else an image (-1). */
static int resolve_from(const struct planner *p, const struct ib_df_instr *in, const char *from,
                        long *ret, struct ib_err **err)
{
        long idx;
        if (parse_long(from, &idx)) {
                if (idx < 0 || (size_t) idx >= p->df->n_stages)
                        return at(p->df, in, err, "invalid stage index %ld", idx);
                *ret = idx;
                return 0;
        }
        *ret = stage_by_name(p, from);
        return 0;
}

/* The value of key @k in a --mount CSV value, or NULL (first match). */
static char *mount_field(const char *spec, const char *k)
{
        size_t kl = strlen(k);
        const char *s = spec;
        while (*s) {
                const char *e = strchr(s, ',');
                size_t n = e ? (size_t) (e - s) : strlen(s);
                if (n > kl && memcmp(s, k, kl) == 0 && s[kl] == '=')
                        return ib_strndup(s + kl + 1, n - kl - 1);
                s += n;
                if (*s)
                        s++;
        }
        return NULL;
}

static int collect_deps(struct planner *p, size_t i, struct ib_err **err)
{
        const struct ib_df_stage *st = &p->df->stages[i];
        struct stage_state *s = &p->ss[i];
        int r;

        if (s->base_stage >= 0)
                add_dep(s, s->base_stage, st->from);
        /* the parent stage's ONBUILD triggers run in this stage */
        const struct ib_df_stage *bst = s->base_stage >= 0 ? &p->df->stages[s->base_stage] : NULL;
        size_t n_trig = bst && p->ss[s->base_stage].n_onbuild ? bst->n_instrs : 0;
        for (size_t k = 0; k < n_trig + st->n_instrs; k++) {
                const struct ib_df_instr *in = k < n_trig ? bst->instrs[k] : st->instrs[k - n_trig];
                if (k < n_trig) {
                        if (in->kind != IB_DF_ONBUILD || !in->sub)
                                continue;
                        in = in->sub;
                }
                if (in->kind == IB_DF_ONBUILD)
                        continue;
                if (in->kind == IB_DF_COPY) {
                        const char *from = ib_df_flag_get(in, "from", NULL);
                        long idx;
                        if (!from || !*from)
                                continue;
                        r = resolve_from(p, in, from, &idx, err);
                        if (r < 0)
                                return r;
                        if (idx >= 0)
                                add_dep(s, idx, in);
                }
                if (in->kind == IB_DF_RUN)
                        for (size_t f = 0; f < in->n_flags; f++) {
                                if (strcmp(in->flags[f].name, "mount") != 0)
                                        continue;
                                _cleanup_free_ char *from = mount_field(in->flags[f].value, "from");
                                long idx;
                                if (from && (idx = stage_by_name(p, from)) >= 0)
                                        add_dep(s, idx, in);
                        }
        }
        return 0;
}

/* BuildKit's validateCircularDependency, iteratively (a chain of 100,000
 * stages must not overflow the stack). */
static int check_cycles(struct planner *p, struct ib_err **err)
{
        size_t n = p->df->n_stages;
        _cleanup_free_ unsigned char *color = ib_calloc(n, 1);    /* 0 new, 1 on path, 2 done */
        _cleanup_free_ size_t *stack = ib_calloc(n, sizeof(size_t));
        _cleanup_free_ size_t *next = ib_calloc(n, sizeof(size_t));

        for (size_t root = 0; root < n; root++) {
                if (color[root])
                        continue;
                size_t sp = 0;
                stack[sp++] = root;
                color[root] = 1;
                next[root] = 0;
                while (sp) {
                        size_t u = stack[sp - 1];
                        struct stage_state *s = &p->ss[u];
                        if (next[u] < s->n_deps) {
                                size_t k = next[u]++;
                                size_t v = (size_t) s->deps[k];
                                if (color[v] == 1) {
                                        const struct ib_df_stage *st = &p->df->stages[root];
                                        _cleanup_free_ char *nm = st->name ? ib_strdup(st->name)
                                                                          : ib_strdupf("stage-%zu", root);
                                        return at(p->df, s->dep_instr[k], err,
                                                  "circular dependency detected on stage: %s", nm);
                                }
                                if (color[v] == 0) {
                                        color[v] = 1;
                                        next[v] = 0;
                                        stack[sp++] = v;
                                }
                        } else {
                                color[u] = 2;
                                sp--;
                        }
                }
        }
        return 0;
}

static void mark_reachable(struct planner *p, size_t target)
{
        size_t n = p->df->n_stages, sp = 0;
        _cleanup_free_ size_t *stack = ib_calloc(n + 1, sizeof(size_t));

        p->ss[target].reachable = true;
        stack[sp++] = target;
        while (sp) {
                struct stage_state *s = &p->ss[stack[--sp]];
                for (size_t k = 0; k < s->n_deps; k++) {
                        size_t v = (size_t) s->deps[k];
                        if (!p->ss[v].reachable) {
                                p->ss[v].reachable = true;
                                stack[sp++] = v;
                        }
                }
        }
}

/* ------------------------------------------------------------ global args */

static int build_global_args(struct planner *p, struct ib_err **err)
{
        const struct ib_plan_opts *o = p->o;
        _cleanup_free_ char *host = o->build_platform ? NULL : ib_host_platform();
        const char *bp = o->build_platform ? o->build_platform : host;
        const char *tp = o->target_platform ? o->target_platform : bp;

        for (char *const *a = o->build_args; a && *a; a++) {
                const char *eq = strchr(*a, '=');
                _cleanup_free_ char *k = eq ? ib_strndup(*a, (size_t) (eq - *a)) : ib_strdup(*a);
                map_set(&p->build_args, k, eq ? eq + 1 : "");
        }
        set_platform_args(&p->global.own, "BUILD", bp);
        set_platform_args(&p->global.own, "TARGET", tp);
        /* --build-arg overrides an automatic platform ARG */
        for (const char *const *k = platform_arg_names; *k; k++) {
                const char *v;
                if (map_get(&p->build_args, *k, &v))
                        map_set(&p->global.own, *k, v);
        }
        for (size_t i = 0; i < p->df->n_meta_args; i++) {
                const struct ib_df_instr *in = p->df->meta_args[i];
                for (size_t k = 0; k < in->n_kv; k++) {
                        const char *key = in->kv[k].key, *bv;
                        map_set(&p->consumed, key, "");
                        if (map_get(&p->build_args, key, &bv)) {
                                map_set(&p->global.own, key, bv);
                        } else if (in->kv[k].value) {
                                _cleanup_free_ char *v = NULL;
                                if (expand(p->df, in, in->kv[k].value, &p->global, &v, err) < 0)
                                        return -EINVAL;
                                map_set(&p->global.own, key, v);
                        }
                }
        }
        return 0;
}

/* -------------------------------------------------------------- the steps */

static void var_log(struct stage_state *s, const char *k, const char *v, bool is_arg)
{
        ib_grow(&s->log, &s->alloc_log, s->n_log + 1, sizeof(*s->log));
        s->log[s->n_log++] = (struct ib_plan_var) { .key = ib_strdup(k), .value = ib_strdup(v), .is_arg = is_arg };
        map_set(&s->env.own, k, v);
}

static void copy_flags(struct ib_plan_step *st, const struct ib_df_instr *in)
{
        if (!in->n_flags)
                return;
        st->flags = ib_calloc(in->n_flags, sizeof(*st->flags));
        for (size_t i = 0; i < in->n_flags; i++) {
                st->flags[i].name = ib_strdup(in->flags[i].name);
                st->flags[i].value = ib_strdup(in->flags[i].value);
        }
        st->n_flags = in->n_flags;
}

static int expand_flag(const struct planner *p, const struct ib_df_instr *in, struct ib_plan_step *st,
                       const char *name, struct scope *env, struct ib_err **err)
{
        for (size_t i = 0; i < st->n_flags; i++) {
                if (strcmp(st->flags[i].name, name) != 0)
                        continue;
                char *v = NULL;
                if (expand(p->df, in, st->flags[i].value, env, &v, err) < 0)
                        return -EINVAL;
                free(st->flags[i].value);
                st->flags[i].value = v;
        }
        return 0;
}

/* --mount=type=...,k=v: each field's value expanded; keys checked. */
static int expand_mounts(const struct planner *p, const struct ib_df_instr *in, struct ib_plan_step *st,
                         struct scope *env, struct ib_err **err)
{
        static const char *const keys[] = {
                "type", "target", "dst", "destination", "source", "src", "from", "readonly", "ro", "rw",
                "readwrite", "id", "sharing", "mode", "uid", "gid", "required", "size", "env", NULL,
        };
        static const char *const types[] = { "bind", "cache", "tmpfs", "secret", "ssh", NULL };

        for (size_t i = 0; i < st->n_flags; i++) {
                if (strcmp(st->flags[i].name, "mount") != 0)
                        continue;
                struct ib_buf out = IB_BUF_INIT;
                const char *s = st->flags[i].value;
                while (*s) {
                        const char *e = strchr(s, ',');
                        size_t n = e ? (size_t) (e - s) : strlen(s);
                        _cleanup_free_ char *field = ib_strndup(s, n);
                        char *eq = strchr(field, '=');
                        if (eq)
                                *eq = '\0';
                        bool known = false;
                        for (const char *const *k = keys; *k; k++)
                                known |= strcasecmp(field, *k) == 0;
                        if (!known) {
                                ib_buf_release(&out);
                                return at(p->df, in, err, "unexpected key '%s' in '%s'", field, st->flags[i].value);
                        }
                        if (out.len)
                                ib_buf_addc(&out, ',');
                        ib_buf_adds(&out, field);
                        if (eq) {
                                _cleanup_free_ char *v = NULL;
                                if (expand(p->df, in, eq + 1, env, &v, err) < 0) {
                                        ib_buf_release(&out);
                                        return -EINVAL;
                                }
                                if (strcasecmp(field, "type") == 0) {
                                        bool ok = false;
                                        for (const char *const *t = types; *t; t++)
                                                ok |= strcasecmp(v, *t) == 0;
                                        if (!ok) {
                                                ib_buf_release(&out);
                                                return at(p->df, in, err, "unsupported mount type \"%s\"", v);
                                        }
                                }
                                ib_buf_addc(&out, '=');
                                ib_buf_adds(&out, v);
                        }
                        s += n;
                        if (*s)
                                s++;
                }
                free(st->flags[i].value);
                st->flags[i].value = ib_buf_detach(&out);
        }
        return 0;
}

static char **with_shell(const struct stage_state *s, const char *text)
{
        struct ib_strvec v = { 0 };
        if (s->shell) {
                for (char **a = s->shell; *a; a++)
                        ib_strvec_push_own(&v, ib_strdup(*a));
        } else {
                ib_strvec_push_own(&v, ib_strdup("/bin/sh"));
                ib_strvec_push_own(&v, ib_strdup("-c"));
        }
        ib_strvec_push_own(&v, ib_strdup(text));
        return ib_strvec_finish(&v);
}

/* Does @text consist of exactly one heredoc word (BuildKit's MustParseHeredoc
 * on the whole shell command)? */
static bool is_bare_heredoc(const char *text)
{
        const char *s = text;
        while (isdigit((unsigned char) *s))
                s++;
        if (s[0] != '<' || s[1] != '<')
                return false;
        s += 2;
        if (*s == '-')
                s++;
        if (!*s || strchr(s, '<'))
                return false;
        for (; *s; s++)
                if (isspace((unsigned char) *s))
                        return false;
        return true;
}

/* RUN's argv with BuildKit's heredoc handling. */
static char **run_argv(const struct stage_state *s, const struct ib_df_instr *in)
{
        if (in->json)
                return ib_strv_dup(in->argv);
        if (in->n_heredocs == 0)
                return with_shell(s, in->text);
        const struct ib_df_heredoc *h = &in->heredocs[0];
        if (is_bare_heredoc(in->text)) {
                if (ib_startswith(h->body, "#!")) {
                        _cleanup_free_ char *path = ib_strdupf("/dev/pipes/%s", h->name);
                        return with_shell(s, path);
                }
                _cleanup_free_ char *body = h->chomp ? ib_df_heredoc_chomp(h->body) : ib_strdup(h->body);
                return with_shell(s, body);
        }
        struct ib_buf b = IB_BUF_INIT;
        ib_buf_adds(&b, in->text);
        for (size_t i = 0; i < in->n_heredocs; i++) {
                ib_buf_addc(&b, '\n');
                ib_buf_adds(&b, in->heredocs[i].body);
                ib_buf_adds(&b, in->heredocs[i].name);
        }
        _cleanup_free_ char *script = ib_buf_detach(&b);
        return with_shell(s, script);
}

static const struct ib_df_heredoc *find_heredoc(const struct ib_df_instr *in, const char *word)
{
        /* the word is "<<NAME" / "<<-NAME" / "<<'NAME'"; match by the parsed name */
        const char *s = word;
        while (isdigit((unsigned char) *s))
                s++;
        if (s[0] != '<' || s[1] != '<')
                return NULL;
        s += 2;
        if (*s == '-')
                s++;
        if (!*s || strchr(s, '<'))
                return NULL;
        struct ib_buf name = IB_BUF_INIT;
        for (; *s; s++)
                if (*s != '\'' && *s != '"' && *s != '\\')
                        ib_buf_addc(&name, *s);
        const struct ib_df_heredoc *found = NULL;
        for (size_t i = 0; i < in->n_heredocs && !found; i++)
                if (strcmp(in->heredocs[i].name, name.buf) == 0)
                        found = &in->heredocs[i];
        ib_buf_release(&name);
        return found;
}

static int plan_copy(struct planner *p, struct stage_state *s, const struct ib_df_instr *in,
                     struct ib_plan_step *st, struct ib_err **err)
{
        struct ib_strvec words = { 0 }, bodies = { 0 };
        int r = 0;

        if (expand_flag(p, in, st, "chown", &s->env, err) < 0)
                return -EINVAL;
        if (in->kind == IB_DF_ADD && expand_flag(p, in, st, "checksum", &s->env, err) < 0)
                return -EINVAL;
        for (char **a = in->args; *a; a++) {
                const struct ib_df_heredoc *h = !in->json && a[1] ? find_heredoc(in, *a) : NULL;
                if (h) {
                        _cleanup_free_ char *body = h->chomp ? ib_df_heredoc_chomp(h->body) : ib_strdup(h->body);
                        char *v = NULL;
                        if (h->expand) {
                                if (ib_shell_expand_word_ex(body, '\\', IB_SHELL_SKIP_QUOTES, scope_lookup, &s->env,
                                                            &v, err) < 0) {
                                        r = at_expand(p->df, in, "heredoc", err);
                                        goto out;
                                }
                        } else {
                                v = IB_TAKE_PTR(body);
                        }
                        ib_strvec_push_own(&bodies, v);
                        ib_strvec_push_own(&words, ib_strdupf("<<%s", h->name));
                        continue;
                }
                char *v = NULL;
                if (expand(p->df, in, *a, &s->env, &v, err) < 0) {
                        r = -EINVAL;
                        goto out;
                }
                ib_strvec_push_own(&words, v);
        }
        const char *from = in->kind == IB_DF_COPY ? ib_df_flag_get(in, "from", NULL) : NULL;
        if (from && *from) {
                long idx;
                r = resolve_from(p, in, from, &idx, err);
                if (r < 0)
                        goto out;
                if (idx >= 0 && (size_t) idx >= s->ps->index) {
                        const struct ib_df_stage *cur = &p->df->stages[s->ps->index];
                        _cleanup_free_ char *cn = cur->name ? ib_strdup(cur->name)
                                                            : ib_strdupf("stage-%zu", s->ps->index);
                        r = at(p->df, in, err, "cannot copy from stage \"%s\", it needs to be defined before current stage \"%s\"",
                               from, cn);
                        goto out;
                }
                st->from_stage = idx;
                if (idx < 0)
                        st->from_image = ib_strdup(from);
        }
        st->words = ib_strvec_finish(&words);
        if (bodies.n)
                st->heredoc_bodies = ib_strvec_finish(&bodies);
out:
        ib_strv_free(words.v);
        ib_strv_free(bodies.v);
        return r;
}

static int plan_healthcheck(struct planner *p, const struct ib_df_instr *in, struct ib_plan_step *st,
                            struct ib_err **err)
{
        static const char *const names[4] = { "interval", "timeout", "start-period", "start-interval" };
        struct ib_strvec w = { 0 };

        if (strcmp(in->args[0], "NONE") == 0) {
                ib_strvec_push_own(&w, ib_strdup("NONE"));
                st->words = ib_strvec_finish(&w);
                return 0;
        }
        if (in->json) {
                ib_strvec_push_own(&w, ib_strdup("CMD"));
                for (char **a = in->argv; *a; a++)
                        ib_strvec_push_own(&w, ib_strdup(*a));
        } else {
                ib_strvec_push_own(&w, ib_strdup("CMD-SHELL"));
                ib_strvec_push_own(&w, ib_strdup(in->text));
        }
        st->words = ib_strvec_finish(&w);
        for (int i = 0; i < 4; i++) {
                const char *v = ib_df_flag_get(in, names[i], NULL);
                _cleanup_free_ char *msg = NULL;
                int64_t d = 0;
                if (!v || !*v)
                        continue;
                if (!parse_duration(v, &d, &msg))
                        return at(p->df, in, err, "%s", msg);
                if (d != 0 && d < 1000000)
                        return at(p->df, in, err, "Interval \"%s\" cannot be less than 1ms", names[i]);
                st->hc[i] = d;
        }
        const char *rv = ib_df_flag_get(in, "retries", NULL);
        if (rv && *rv) {
                long n;
                if (!parse_long(rv, &n) || n < INT32_MIN || n > INT32_MAX)
                        return at(p->df, in, err, "strconv.ParseInt: parsing \"%s\": invalid syntax", rv);
                if (n < 0)
                        return at(p->df, in, err, "--retries cannot be negative (%ld)", n);
                st->hc_retries = n;
        }
        return 0;
}

static int plan_arg(struct planner *p, struct stage_state *s, const struct ib_df_instr *in,
                    struct ib_plan_step *st, struct ib_err **err)
{
        st->kv = ib_calloc(in->n_kv ? in->n_kv : 1, sizeof(*st->kv));
        st->n_kv = in->n_kv;
        for (size_t k = 0; k < in->n_kv; k++) {
                const char *key = in->kv[k].key, *v = NULL;
                char *value = NULL;
                st->kv[k].key = ib_strdup(key);
                map_set(&p->consumed, key, "");
                if (map_get(&p->build_args, key, &v)) {
                        value = ib_strdup(v);
                } else if (in->kv[k].value) {
                        if (expand(p->df, in, in->kv[k].value, &s->env, &value, err) < 0)
                                return -EINVAL;
                } else if (map_get(&p->global.own, key, &v) && v) {
                        value = ib_strdup(v);
                }
                if (value)
                        var_log(s, key, value, true);
                st->kv[k].value = value;
        }
        return 0;
}

static int plan_kv(struct planner *p, struct stage_state *s, const struct ib_df_instr *in,
                   struct ib_plan_step *st, struct ib_err **err)
{
        /* every pair sees the variables from before the instruction */
        st->kv = ib_calloc(in->n_kv, sizeof(*st->kv));
        for (size_t k = 0; k < in->n_kv; k++) {
                if (expand(p->df, in, in->kv[k].key, &s->env, &st->kv[k].key, err) < 0 ||
                    expand(p->df, in, in->kv[k].value, &s->env, &st->kv[k].value, err) < 0) {
                        st->n_kv = k + 1;
                        return -EINVAL;
                }
        }
        st->n_kv = in->n_kv;
        if (in->kind == IB_DF_ENV)
                for (size_t k = 0; k < st->n_kv; k++)
                        var_log(s, st->kv[k].key, st->kv[k].value, false);
        return 0;
}

static int plan_expose(struct planner *p, struct stage_state *s, const struct ib_df_instr *in,
                       struct ib_plan_step *st, struct ib_err **err)
{
        struct port_range *ranges = NULL;
        size_t n = 0, alloc = 0;
        int r = 0;

        for (char **a = in->args; *a && r == 0; a++) {
                char **words = NULL;
                if (ib_shell_expand_words(*a, p->df->escape, scope_lookup, &s->env, &words, err) < 0) {
                        r = at_expand(p->df, in, *a, err);
                        break;
                }
                for (char **w = words; *w; w++) {
                        _cleanup_free_ char *msg = NULL;
                        struct port_range pr;
                        if (parse_port_spec(*w, &pr, &msg) < 0) {
                                r = at(p->df, in, err, "%s", msg);
                                break;
                        }
                        ib_grow(&ranges, &alloc, n + 1, sizeof(*ranges));
                        ranges[n++] = pr;
                }
                ib_strv_free(words);
        }
        if (r == 0)
                st->words = ports_from_ranges(ranges, n);
        free(ranges);
        return r;
}

static int plan_step(struct planner *p, struct stage_state *s, const struct ib_df_instr *in,
                     struct ib_plan_step *st, struct ib_err **err)
{
        struct ib_strvec w = { 0 };
        char *v = NULL;

        st->in = in;
        st->from_stage = -1;
        copy_flags(st, in);
        switch (in->kind) {
        case IB_DF_RUN:
                if (expand_mounts(p, in, st, &s->env, err) < 0)
                        return -EINVAL;
                for (size_t i = 0; i < in->n_flags; i++) {
                        const char *n = in->flags[i].name, *val = in->flags[i].value;
                        if (strcmp(n, "network") == 0 && strcmp(val, "default") != 0 && strcmp(val, "none") != 0 &&
                            strcmp(val, "host") != 0)
                                return at(p->df, in, err, "unsupported network mode \"%s\"", val);
                        if (strcmp(n, "security") == 0 && strcmp(val, "sandbox") != 0 && strcmp(val, "insecure") != 0)
                                return at(p->df, in, err, "unsupported security mode \"%s\"", val);
                        if (strcmp(n, "mount") == 0) {
                                _cleanup_free_ char *from = mount_field(st->flags[i].value, "from");
                                if (from)
                                        st->from_stage = stage_by_name(p, from);
                                if (from && st->from_stage >= 0 && (size_t) st->from_stage >= s->ps->index)
                                        return at(p->df, in, err,
                                                  "cannot mount from stage \"%s\", it needs to be defined before the current stage",
                                                  from);
                        }
                }
                st->words = run_argv(s, in);
                st->env_mark = s->n_log;
                return 0;
        case IB_DF_CMD:
                st->words = in->json ? ib_strv_dup(in->argv) : with_shell(s, in->text);
                return 0;
        case IB_DF_ENTRYPOINT:
                if (in->json)
                        st->words = ib_strv_dup(in->argv);
                else if (!*in->text)
                        st->words = ib_calloc(1, sizeof(char *));
                else
                        st->words = with_shell(s, in->text);
                return 0;
        case IB_DF_SHELL:
                st->words = ib_strv_dup(in->argv);
                ib_strv_free(s->shell);
                s->shell = ib_strv_dup(in->argv);
                return 0;
        case IB_DF_ENV:
        case IB_DF_LABEL:
                return plan_kv(p, s, in, st, err);
        case IB_DF_ARG:
                return plan_arg(p, s, in, st, err);
        case IB_DF_EXPOSE:
                return plan_expose(p, s, in, st, err);
        case IB_DF_VOLUME:
                for (char **a = in->args; *a; a++) {
                        if (expand(p->df, in, *a, &s->env, &v, err) < 0) {
                                ib_strv_free(w.v);
                                return -EINVAL;
                        }
                        if (!*v) {
                                free(v);
                                ib_strv_free(w.v);
                                return at(p->df, in, err, "VOLUME specified can not be an empty string");
                        }
                        ib_strvec_push_own(&w, v);
                }
                st->words = ib_strvec_finish(&w);
                return 0;
        case IB_DF_WORKDIR:
        case IB_DF_USER:
        case IB_DF_STOPSIGNAL:
                if (expand(p->df, in, in->text, &s->env, &v, err) < 0)
                        return -EINVAL;
                ib_strvec_push_own(&w, v);
                st->words = ib_strvec_finish(&w);
                if (in->kind == IB_DF_STOPSIGNAL && !valid_signal(v))
                        return at(p->df, in, err, "Invalid signal: %s", v);
                if (in->kind == IB_DF_WORKDIR && !*v)
                        return at(p->df, in, err, "WORKDIR requires exactly one argument (it expanded to nothing)");
                return 0;
        case IB_DF_MAINTAINER:
                ib_strvec_push_own(&w, ib_strdup(in->text));
                st->words = ib_strvec_finish(&w);
                return 0;
        case IB_DF_COPY:
        case IB_DF_ADD:
                return plan_copy(p, s, in, st, err);
        case IB_DF_HEALTHCHECK:
                return plan_healthcheck(p, in, st, err);
        case IB_DF_ONBUILD:
                ib_strvec_push_own(&w, ib_strdup(in->trigger));
                st->words = ib_strvec_finish(&w);
                return 0;
        default:
                return at(p->df, in, err, "internal error: unexpected instruction");
        }
}

static void step_release(struct ib_plan_step *st)
{
        ib_strv_free(st->words);
        for (size_t i = 0; i < st->n_kv; i++) {
                free(st->kv[i].key);
                free(st->kv[i].value);
        }
        free(st->kv);
        for (size_t i = 0; i < st->n_flags; i++) {
                free(st->flags[i].name);
                free(st->flags[i].value);
        }
        free(st->flags);
        ib_strv_free(st->heredoc_bodies);
        free(st->from_image);
}

void ib_plan_free(struct ib_plan *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < p->n_stages; i++) {
                struct ib_plan_stage *s = &p->stages[i];
                for (size_t k = 0; k < s->n_steps; k++)
                        step_release(&s->steps[k]);
                free(s->steps);
                for (size_t k = 0; k < s->n_vars; k++) {
                        free(s->vars[k].key);
                        free(s->vars[k].value);
                }
                free(s->vars);
                free(s->base);
                free(s->platform);
                ib_strv_free(s->shell);
        }
        free(p->stages);
        ib_strv_free(p->global_args);
        ib_strv_free(p->proxy_env);
        ib_strv_free(p->unused_build_args);
        free(p);
}

static void add_step(struct ib_plan_stage *ps, size_t *alloc, struct ib_plan_step **ret)
{
        ib_grow(&ps->steps, alloc, ps->n_steps + 1, sizeof(*ps->steps));
        *ret = &ps->steps[ps->n_steps++];
        memset(*ret, 0, sizeof(**ret));
}

static int plan_stage(struct planner *p, size_t idx, struct ib_plan_stage *ps, struct ib_err **err)
{
        const struct ib_df_stage *st = &p->df->stages[idx];
        struct stage_state *s = &p->ss[idx];
        size_t alloc = 0;

        s->ps = ps;
        ps->index = idx;
        ps->st = st;
        ps->base = ib_strdup(s->base);
        ps->base_stage = s->base_stage;
        ps->platform = s->platform ? ib_strdup(s->platform) : NULL;

        if (s->base_stage >= 0) {
                /* FROM <stage>: its variables, args and shell carry over, and its
                 * ONBUILD triggers run first (BuildKit). */
                struct stage_state *b = &p->ss[s->base_stage];
                if (b->children == 1) {
                        s->env = b->env;
                        b->env = (struct scope) { 0 };
                } else if (b->env.depth >= SCOPE_MAX_DEPTH) {
                        scope_flatten(&s->env, &b->env);
                } else {
                        s->env.parent = &b->env;
                        s->env.depth = b->env.depth + 1;
                }
                s->shell = b->shell ? ib_strv_dup(b->shell) : NULL;
                if (!ps->platform && b->platform)
                        ps->platform = ib_strdup(b->platform);
        } else {
                char **benv = p->o->base_env ? p->o->base_env(s->base, s->platform, p->o->base_env_userdata) : NULL;
                for (char **e = benv; e && *e; e++) {
                        const char *eq = strchr(*e, '=');
                        _cleanup_free_ char *k = eq ? ib_strndup(*e, (size_t) (eq - *e)) : ib_strdup(*e);
                        map_set(&s->env.own, k, eq ? eq + 1 : "");
                }
                ib_strv_free(benv);
                if (!map_get(&s->env.own, "PATH", NULL))
                        map_set(&s->env.own, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        }
        if (s->base_stage >= 0 && p->ss[s->base_stage].n_onbuild) {
                const struct ib_df_stage *bst = &p->df->stages[s->base_stage];
                for (size_t k = 0; k < bst->n_instrs; k++) {
                        const struct ib_df_instr *in = bst->instrs[k];
                        if (in->kind != IB_DF_ONBUILD || !in->sub)
                                continue;
                        struct ib_plan_step *step;
                        add_step(ps, &alloc, &step);
                        step->onbuild = true;
                        if (plan_step(p, s, in->sub, step, err) < 0)
                                return -EINVAL;
                }
        }
        for (size_t k = 0; k < st->n_instrs; k++) {
                struct ib_plan_step *step;
                add_step(ps, &alloc, &step);
                if (plan_step(p, s, st->instrs[k], step, err) < 0)
                        return -EINVAL;
        }
        ps->shell = s->shell ? ib_strv_dup(s->shell) : NULL;
        ps->vars = s->log;
        ps->n_vars = s->n_log;
        s->log = NULL;
        s->n_log = 0;
        return 0;
}

static char **map_to_strv(const struct map *m, bool only_proxy)
{
        struct ib_strvec v = { 0 };
        for (size_t i = 0; i < m->cap; i++)
                if (m->keys[i] && (!only_proxy || is_proxy_arg(m->keys[i])))
                        ib_strvec_push_own(&v, ib_strdupf("%s=%s", m->keys[i], m->vals[i] ? m->vals[i] : ""));
        if (v.n)
                qsort(v.v, v.n, sizeof(char *), cmp_str);
        return ib_strvec_finish(&v);
}

static void planner_release(struct planner *p)
{
        map_free(&p->global.own);
        map_free(&p->build_args);
        map_free(&p->consumed);
        map_free(&p->stage_names);
        for (size_t i = 0; p->ss && i < p->df->n_stages; i++) {
                struct stage_state *s = &p->ss[i];
                map_free(&s->env.own);
                for (size_t k = 0; k < s->n_log; k++) {
                        free(s->log[k].key);
                        free(s->log[k].value);
                }
                free(s->log);
                ib_strv_free(s->shell);
                free(s->deps);
                free(s->dep_instr);
                free(s->base);
                free(s->platform);
        }
        free(p->ss);
}

static int resolve_stages(struct planner *p, struct ib_err **err)
{
        const struct ib_dockerfile *df = p->df;

        p->ss = ib_calloc(df->n_stages, sizeof(*p->ss));
        for (size_t i = 0; i < df->n_stages; i++) {
                const struct ib_df_stage *st = &df->stages[i];
                struct stage_state *s = &p->ss[i];
                const char *v;
                s->base_stage = -1;
                for (size_t k = 0; k < st->n_instrs; k++)
                        s->n_onbuild += st->instrs[k]->kind == IB_DF_ONBUILD;
                if (expand(df, st->from, st->from->args[0], &p->global, &s->base, err) < 0)
                        return -EINVAL;
                if (!*s->base)
                        return at(df, st->from, err, "base name (%s) should not be blank", st->from->args[0]);
                const char *plat = ib_df_flag_get(st->from, "platform", NULL);
                if (plat) {
                        if (expand(df, st->from, plat, &p->global, &s->platform, err) < 0)
                                return -EINVAL;
                        if (!*s->platform)
                                return at(df, st->from, err, "empty platform value from expression %s", plat);
                }
                /* FROM <name> means an earlier stage only (BuildKit's addState). */
                if (map_get(&p->stage_names, s->base, &v))
                        s->base_stage = strtol(v, NULL, 10);
                if (st->name) {
                        _cleanup_free_ char *idx = ib_strdupf("%zu", i);
                        map_set(&p->stage_names, st->name, idx);
                }
        }
        for (size_t i = 0; i < df->n_stages; i++)
                if (collect_deps(p, i, err) < 0)
                        return -EINVAL;
        return check_cycles(p, err);
}

int ib_plan_new(const struct ib_dockerfile *df, const struct ib_plan_opts *opts,
                struct ib_plan **ret, struct ib_err **err)
{
        static const struct ib_plan_opts no_opts = { 0 };
        _cleanup_(planner_release) struct planner p = { .df = df, .o = opts ? opts : &no_opts };
        size_t target;

        if (build_global_args(&p, err) < 0 || resolve_stages(&p, err) < 0)
                return -EINVAL;
        if (p.o->target && *p.o->target) {
                long t = stage_by_name(&p, p.o->target);
                if (t < 0)
                        return ib_err_set(err, 0, "%s: target stage \"%s\" could not be found", df->path, p.o->target);
                target = (size_t) t;
        } else {
                target = df->n_stages - 1;
        }
        mark_reachable(&p, target);
        for (size_t i = 0; i < df->n_stages; i++)
                if (p.ss[i].reachable && p.ss[i].base_stage >= 0)
                        p.ss[p.ss[i].base_stage].children++;

        struct ib_plan *plan = ib_calloc(1, sizeof(*plan));
        plan->df = df;
        plan->target = target;
        size_t n = 0;
        for (size_t i = 0; i < df->n_stages; i++)
                n += p.ss[i].reachable;
        plan->stages = ib_calloc(n, sizeof(*plan->stages));
        for (size_t i = 0; i < df->n_stages; i++) {
                if (!p.ss[i].reachable)
                        continue;
                if (plan_stage(&p, i, &plan->stages[plan->n_stages++], err) < 0) {
                        ib_plan_free(plan);
                        return -EINVAL;
                }
        }
        plan->global_args = map_to_strv(&p.global.own, false);
        plan->proxy_env = map_to_strv(&p.build_args, true);
        struct ib_strvec unused = { 0 };
        for (size_t i = 0; i < p.build_args.cap; i++) {
                const char *k = p.build_args.keys[i];
                bool platform_arg = false;
                if (!k)
                        continue;
                for (const char *const *pa = platform_arg_names; *pa; pa++)
                        platform_arg |= strcmp(*pa, k) == 0;
                if (!map_get(&p.consumed, k, NULL) && !is_proxy_arg(k) && !platform_arg &&
                    !ib_startswith(k, "BUILDKIT_"))
                        ib_strvec_push_own(&unused, ib_strdup(k));
        }
        if (unused.n)
                qsort(unused.v, unused.n, sizeof(char *), cmp_str);
        plan->unused_build_args = ib_strvec_finish(&unused);
        *ret = plan;
        return 0;
}

/* ---------------------------------------------------------------- output */

static void json_strv(struct ib_buf *b, char *const *v)
{
        ib_buf_addc(b, '[');
        for (size_t i = 0; v && v[i]; i++) {
                if (i)
                        ib_buf_addc(b, ',');
                ib_json_add_str(b, v[i]);
        }
        ib_buf_addc(b, ']');
}

static void json_key(struct ib_buf *b, const char *k)
{
        ib_buf_addc(b, ',');
        ib_json_add_str(b, k);
        ib_buf_addc(b, ':');
}

static void json_str_or_null(struct ib_buf *b, const char *s)
{
        if (s)
                ib_json_add_str(b, s);
        else
                ib_buf_adds(b, "null");
}

static bool flag_is_list(const char *n)
{
        return strcmp(n, "mount") == 0 || strcmp(n, "exclude") == 0;
}

static bool flag_is_bool(const char *n)
{
        return strcmp(n, "link") == 0 || strcmp(n, "parents") == 0 || strcmp(n, "keep-git-dir") == 0;
}

static int cmp_flag(const void *a, const void *b)
{
        const struct ib_df_flag *x = *(const struct ib_df_flag *const *) a, *y = *(const struct ib_df_flag *const *) b;
        return strcmp(x->name, y->name);
}

/* "flags":{...}, names sorted, repeatable flags as arrays, booleans as such. */
static void json_flags(struct ib_buf *b, const struct ib_plan_step *st)
{
        if (!st->n_flags)
                return;
        _cleanup_free_ const struct ib_df_flag **f = ib_calloc(st->n_flags, sizeof(*f));
        for (size_t i = 0; i < st->n_flags; i++)
                f[i] = &st->flags[i];
        /* stable order within one name: insertion sort keeps the file order */
        for (size_t i = 1; i < st->n_flags; i++)
                for (size_t j = i; j > 0 && cmp_flag(&f[j - 1], &f[j]) > 0; j--) {
                        const struct ib_df_flag *t = f[j];
                        f[j] = f[j - 1];
                        f[j - 1] = t;
                }
        json_key(b, "flags");
        ib_buf_addc(b, '{');
        for (size_t i = 0; i < st->n_flags;) {
                const char *n = f[i]->name;
                if (i)
                        ib_buf_addc(b, ',');
                ib_json_add_str(b, n);
                ib_buf_addc(b, ':');
                if (flag_is_list(n)) {
                        ib_buf_addc(b, '[');
                        for (size_t j = i; j < st->n_flags && strcmp(f[j]->name, n) == 0; j++, i++) {
                                if (j > 0 && strcmp(f[j - 1]->name, n) == 0)
                                        ib_buf_addc(b, ',');
                                ib_json_add_str(b, f[j]->value);
                        }
                        ib_buf_addc(b, ']');
                        continue;
                }
                /* single-valued: the last one wins (duplicates were refused anyway) */
                while (i + 1 < st->n_flags && strcmp(f[i + 1]->name, n) == 0)
                        i++;
                if (flag_is_bool(n))
                        ib_buf_adds(b, strcmp(f[i]->value, "true") == 0 ? "true" : "false");
                else
                        ib_json_add_str(b, f[i]->value);
                i++;
        }
        ib_buf_addc(b, '}');
}

static void json_pairs(struct ib_buf *b, const struct ib_plan_step *st)
{
        json_key(b, "pairs");
        ib_buf_addc(b, '[');
        for (size_t i = 0; i < st->n_kv; i++) {
                if (i)
                        ib_buf_addc(b, ',');
                ib_buf_addc(b, '[');
                ib_json_add_str(b, st->kv[i].key);
                ib_buf_addc(b, ',');
                json_str_or_null(b, st->kv[i].value);
                ib_buf_addc(b, ']');
        }
        ib_buf_addc(b, ']');
}

static void json_heredocs(struct ib_buf *b, const struct ib_df_instr *in, char *const *bodies)
{
        if (!in->n_heredocs)
                return;
        json_key(b, "heredocs");
        ib_buf_addc(b, '[');
        for (size_t i = 0; i < in->n_heredocs; i++) {
                const struct ib_df_heredoc *h = &in->heredocs[i];
                if (i)
                        ib_buf_addc(b, ',');
                ib_buf_adds(b, "{\"name\":");
                ib_json_add_str(b, h->name);
                ib_buf_addf(b, ",\"chomp\":%s,\"expand\":%s,\"body\":", h->chomp ? "true" : "false",
                            h->expand ? "true" : "false");
                ib_json_add_str(b, bodies && i < ib_strv_len(bodies) ? bodies[i] : h->body);
                ib_buf_addc(b, '}');
        }
        ib_buf_addc(b, ']');
}

static void json_step(struct ib_buf *b, const struct ib_plan_step *st)
{
        const struct ib_df_instr *in = st->in;
        static const char *const hc_names[4] = { "interval", "timeout", "start_period", "start_interval" };

        ib_buf_addf(b, "{\"line\":%u,\"instruction\":", in->line);
        ib_json_add_str(b, ib_df_kind_name(in->kind));
        if (st->onbuild)
                ib_buf_adds(b, ",\"onbuild\":true");
        json_flags(b, st);
        switch (in->kind) {
        case IB_DF_RUN:
        case IB_DF_CMD:
        case IB_DF_ENTRYPOINT:
                json_key(b, "form");
                ib_json_add_str(b, in->json ? "exec" : "shell");
                json_key(b, "argv");
                json_strv(b, st->words);
                json_heredocs(b, in, NULL);
                break;
        case IB_DF_SHELL:
                json_key(b, "argv");
                json_strv(b, st->words);
                break;
        case IB_DF_ENV:
        case IB_DF_LABEL:
        case IB_DF_ARG:
                json_pairs(b, st);
                break;
        case IB_DF_COPY:
        case IB_DF_ADD: {
                size_t n = ib_strv_len(st->words);
                json_key(b, "sources");
                ib_buf_addc(b, '[');
                for (size_t i = 0; i + 1 < n; i++) {
                        if (i)
                                ib_buf_addc(b, ',');
                        ib_json_add_str(b, st->words[i]);
                }
                ib_buf_addc(b, ']');
                json_key(b, "dest");
                ib_json_add_str(b, n ? st->words[n - 1] : "");
                if (st->from_stage >= 0)
                        ib_buf_addf(b, ",\"from_stage\":%ld", st->from_stage);
                else if (st->from_image) {
                        json_key(b, "from_image");
                        ib_json_add_str(b, st->from_image);
                }
                json_heredocs(b, in, st->heredoc_bodies);
                break;
        }
        case IB_DF_EXPOSE:
                json_key(b, "ports");
                json_strv(b, st->words);
                break;
        case IB_DF_VOLUME:
                json_key(b, "volumes");
                json_strv(b, st->words);
                break;
        case IB_DF_WORKDIR:
        case IB_DF_USER:
        case IB_DF_STOPSIGNAL:
        case IB_DF_MAINTAINER:
                json_key(b, in->kind == IB_DF_WORKDIR ? "path" : in->kind == IB_DF_USER ? "user"
                            : in->kind == IB_DF_STOPSIGNAL ? "signal" : "maintainer");
                ib_json_add_str(b, st->words[0]);
                break;
        case IB_DF_HEALTHCHECK:
                json_key(b, "test");
                json_strv(b, st->words);
                if (strcmp(st->words[0], "NONE") != 0) {
                        for (int i = 0; i < 4; i++)
                                ib_buf_addf(b, ",\"%s\":%lld", hc_names[i], (long long) st->hc[i]);
                        ib_buf_addf(b, ",\"retries\":%ld", st->hc_retries);
                }
                break;
        case IB_DF_ONBUILD:
                json_key(b, "trigger");
                ib_json_add_str(b, st->words[0]);
                break;
        default:
                break;
        }
        ib_buf_addc(b, '}');
}

void ib_plan_to_json(const struct ib_plan *p, struct ib_buf *b)
{
        ib_buf_addf(b, "{\"target\":%zu", p->target);
        if (p->proxy_env && p->proxy_env[0]) {
                json_key(b, "proxy_env");
                json_strv(b, p->proxy_env);
        }
        ib_buf_adds(b, ",\"stages\":[\n");
        for (size_t i = 0; i < p->n_stages; i++) {
                const struct ib_plan_stage *s = &p->stages[i];
                ib_buf_addf(b, "  {\"index\":%zu,\"name\":", s->index);
                json_str_or_null(b, s->st->name);
                ib_buf_addf(b, ",\"line\":%u,\"base\":", s->st->from->line);
                ib_json_add_str(b, s->base);
                if (s->base_stage >= 0)
                        ib_buf_addf(b, ",\"base_stage\":%ld", s->base_stage);
                else
                        ib_buf_adds(b, ",\"base_stage\":null");
                ib_buf_adds(b, ",\"platform\":");
                json_str_or_null(b, s->platform);
                ib_buf_adds(b, ",\"instructions\":[");
                for (size_t k = 0; k < s->n_steps; k++) {
                        ib_buf_adds(b, k ? ",\n    " : "\n    ");
                        json_step(b, &s->steps[k]);
                }
                ib_buf_adds(b, s->n_steps ? "\n  ]}" : "]}");
                ib_buf_adds(b, i + 1 < p->n_stages ? ",\n" : "\n");
        }
        ib_buf_adds(b, "]}\n");
}

/* A word for the text form: as is when plain, JSON-quoted otherwise. */
static void text_word(struct ib_buf *b, const char *w)
{
        bool plain = *w != '\0';
        for (const char *c = w; *c; c++)
                if (isspace((unsigned char) *c) || *c == '"' || *c == '\'' || *c == '\\' || (unsigned char) *c < 0x20)
                        plain = false;
        if (plain)
                ib_buf_adds(b, w);
        else
                ib_json_add_str(b, w);
}

static void text_step(struct ib_buf *b, const struct ib_plan_step *st)
{
        const struct ib_df_instr *in = st->in;

        ib_buf_addf(b, "  %5u  %s%s", in->line, st->onbuild ? "(ONBUILD) " : "", ib_df_kind_name(in->kind));
        for (size_t i = 0; i < st->n_flags; i++) {
                ib_buf_addf(b, " --%s=", st->flags[i].name);
                text_word(b, st->flags[i].value);
        }
        switch (in->kind) {
        case IB_DF_RUN:
        case IB_DF_CMD:
        case IB_DF_ENTRYPOINT:
        case IB_DF_SHELL:
                ib_buf_addc(b, ' ');
                if (in->json || in->kind == IB_DF_SHELL) {
                        json_strv(b, in->kind == IB_DF_SHELL ? st->words : in->argv);
                } else {
                        ib_buf_adds(b, in->text);
                        for (size_t i = 0; i < in->n_heredocs; i++)
                                ib_buf_addf(b, "\n%s%s", in->heredocs[i].body, in->heredocs[i].name);
                }
                break;
        case IB_DF_ENV:
        case IB_DF_LABEL:
        case IB_DF_ARG:
                for (size_t i = 0; i < st->n_kv; i++) {
                        ib_buf_addc(b, ' ');
                        ib_buf_adds(b, st->kv[i].key);
                        if (st->kv[i].value) {
                                ib_buf_addc(b, '=');
                                text_word(b, st->kv[i].value);
                        }
                }
                break;
        case IB_DF_ONBUILD:
                ib_buf_addc(b, ' ');
                ib_buf_adds(b, st->words[0]);
                break;
        case IB_DF_COPY:
        case IB_DF_ADD:
                if (st->from_stage >= 0)
                        ib_buf_addf(b, " (from stage %ld)", st->from_stage);
                for (char **w = st->words; w && *w; w++) {
                        ib_buf_addc(b, ' ');
                        text_word(b, *w);
                }
                for (size_t i = 0; i < in->n_heredocs && st->heredoc_bodies && st->heredoc_bodies[i]; i++)
                        ib_buf_addf(b, "\n%s%s", st->heredoc_bodies[i], in->heredocs[i].name);
                break;
        default:
                for (char **w = st->words; w && *w; w++) {
                        ib_buf_addc(b, ' ');
                        text_word(b, *w);
                }
                break;
        }
        ib_buf_addc(b, '\n');
}

void ib_plan_to_text(const struct ib_plan *p, struct ib_buf *b)
{
        for (size_t i = 0; i < p->n_stages; i++) {
                const struct ib_plan_stage *s = &p->stages[i];
                ib_buf_addf(b, "stage %zu", s->index);
                if (s->st->name)
                        ib_buf_addf(b, " \"%s\"", s->st->name);
                ib_buf_addf(b, ": FROM %s", s->base);
                if (s->base_stage >= 0)
                        ib_buf_addf(b, " (stage %ld)", s->base_stage);
                if (s->platform)
                        ib_buf_addf(b, " --platform=%s", s->platform);
                ib_buf_addf(b, "  [line %u]%s\n", s->st->from->line, s->index == p->target ? "  (target)" : "");
                for (size_t k = 0; k < s->n_steps; k++)
                        text_step(b, &s->steps[k]);
        }
}
