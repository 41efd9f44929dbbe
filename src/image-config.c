/* src/image-config.c - the image config: parse, canonical serialisation,
 * modification helpers and config deltas.  Key order: see src/image.h. */
#include "src/image-internal.h"
#include <ctype.h>
#include <sys/utsname.h>
#include <time.h>

/* ------------------------------------------------------- run-config fields */
/* The "config" object's fields in BuildKit's (Go struct) order.  One table
 * drives serialisation, parsing and deltas so they can never disagree. */
enum cfield {
        F_USER, F_EXPOSED, F_ENV, F_ENTRYPOINT, F_CMD, F_VOLUMES, F_WORKDIR, F_LABELS,
        F_STOPSIGNAL, F_ARGSESCAPED, F_HEALTHCHECK, F_ONBUILD, F_SHELL, F__MAX
};
static const char *const cfield_names[F__MAX] = {
        "User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels",
        "StopSignal", "ArgsEscaped", "Healthcheck", "OnBuild", "Shell",
};

static int cfield_lookup(const char *name)
{
        for (int f = 0; f < F__MAX; f++)
                if (strcmp(cfield_names[f], name) == 0)
                        return f;
        return -1;
}

static void healthcheck_write(struct ib_buf *b, const struct ib_healthcheck *h)
{
        bool first = true;

        ib_buf_addc(b, '{');
        ib_img_jstrv_opt(b, &first, "Test", h->test);
        ib_img_jint_opt(b, &first, "Interval", h->interval);
        ib_img_jint_opt(b, &first, "Timeout", h->timeout);
        ib_img_jint_opt(b, &first, "StartPeriod", h->start_period);
        ib_img_jint_opt(b, &first, "StartInterval", h->start_interval);
        ib_img_jint_opt(b, &first, "Retries", h->retries);
        ib_buf_addc(b, '}');
}

static void healthcheck_free(struct ib_healthcheck *h)
{
        if (!h)
                return;
        ib_strv_free(h->test);
        free(h);
}

static bool str_empty(const char *s) { return !s || !*s; }
static bool strv_empty(char *const *v) { return !v || !v[0]; }

/* Empty fields are omitted (Go's omitempty); a healthcheck is written when set. */
static bool cfield_empty(const struct ib_run_config *rc, int f)
{
        switch (f) {
        case F_USER: return str_empty(rc->user);
        case F_EXPOSED: return strv_empty(rc->exposed_ports);
        case F_ENV: return strv_empty(rc->env);
        case F_ENTRYPOINT: return strv_empty(rc->entrypoint);
        case F_CMD: return strv_empty(rc->cmd);
        case F_VOLUMES: return strv_empty(rc->volumes);
        case F_WORKDIR: return str_empty(rc->working_dir);
        case F_LABELS: return rc->labels.n == 0;
        case F_STOPSIGNAL: return str_empty(rc->stop_signal);
        case F_ARGSESCAPED: return !rc->args_escaped;
        case F_HEALTHCHECK: return !rc->healthcheck;
        case F_ONBUILD: return strv_empty(rc->onbuild);
        case F_SHELL: return strv_empty(rc->shell);
        }
        return true;
}

/* Append field @f's JSON value to @b; false (nothing written) when it is empty. */
static bool cfield_write(struct ib_buf *b, const struct ib_run_config *rc, int f)
{
        if (cfield_empty(rc, f))
                return false;
        switch (f) {
        case F_USER: ib_json_add_str(b, rc->user); break;
        case F_EXPOSED: ib_img_jset(b, rc->exposed_ports); break;
        case F_ENV: ib_img_jstrv(b, rc->env); break;
        case F_ENTRYPOINT: ib_img_jstrv(b, rc->entrypoint); break;
        case F_CMD: ib_img_jstrv(b, rc->cmd); break;
        case F_VOLUMES: ib_img_jset(b, rc->volumes); break;
        case F_WORKDIR: ib_json_add_str(b, rc->working_dir); break;
        case F_LABELS: ib_img_jkvlist(b, &rc->labels); break;
        case F_STOPSIGNAL: ib_json_add_str(b, rc->stop_signal); break;
        case F_ARGSESCAPED: ib_buf_adds(b, "true"); break;
        case F_HEALTHCHECK: healthcheck_write(b, rc->healthcheck); break;
        case F_ONBUILD: ib_img_jstrv(b, rc->onbuild); break;
        case F_SHELL: ib_img_jstrv(b, rc->shell); break;
        }
        return true;
}

static int healthcheck_read(yajl_val v, struct ib_healthcheck **ret, struct ib_err **err)
{
        struct ib_healthcheck *h;
        int r;

        healthcheck_free(*ret);
        *ret = NULL;
        if (!v || YAJL_IS_NULL(v))
                return 0;
        if (!YAJL_IS_OBJECT(v))
                return ib_err_set(err, EINVAL, "config.Healthcheck: expected an object");
        h = ib_calloc(1, sizeof(*h));
#define HC "config.Healthcheck."
        if ((r = ib_img_jget_strv(ib_json_get(v, "Test"), HC "Test", &h->test, err)) < 0 ||
            (r = ib_img_jget_int(ib_json_get(v, "Interval"), HC "Interval", &h->interval, err)) < 0 ||
            (r = ib_img_jget_int(ib_json_get(v, "Timeout"), HC "Timeout", &h->timeout, err)) < 0 ||
            (r = ib_img_jget_int(ib_json_get(v, "StartPeriod"), HC "StartPeriod", &h->start_period, err)) < 0 ||
            (r = ib_img_jget_int(ib_json_get(v, "StartInterval"), HC "StartInterval", &h->start_interval, err)) < 0 ||
            (r = ib_img_jget_int(ib_json_get(v, "Retries"), HC "Retries", &h->retries, err)) < 0) {
#undef HC
                healthcheck_free(h);
                return r;
        }
        *ret = h;
        return 0;
}

/* Set field @f from JSON value @v (NULL or null clears it). */
static int cfield_read(struct ib_run_config *rc, int f, yajl_val v, struct ib_err **err)
{
        _cleanup_free_ char *what = ib_strdupf("config.%s", cfield_names[f]);

        switch (f) {
        case F_USER: return ib_img_jget_str(v, what, &rc->user, err);
        case F_EXPOSED: return ib_img_jget_set(v, what, &rc->exposed_ports, err);
        case F_ENV: return ib_img_jget_strv(v, what, &rc->env, err);
        case F_ENTRYPOINT: return ib_img_jget_strv(v, what, &rc->entrypoint, err);
        case F_CMD: return ib_img_jget_strv(v, what, &rc->cmd, err);
        case F_VOLUMES: return ib_img_jget_set(v, what, &rc->volumes, err);
        case F_WORKDIR: return ib_img_jget_str(v, what, &rc->working_dir, err);
        case F_LABELS: return ib_img_jget_kvlist(v, what, &rc->labels, err);
        case F_STOPSIGNAL: return ib_img_jget_str(v, what, &rc->stop_signal, err);
        case F_ARGSESCAPED: return ib_img_jget_bool(v, what, &rc->args_escaped, err);
        case F_HEALTHCHECK: return healthcheck_read(v, &rc->healthcheck, err);
        case F_ONBUILD: return ib_img_jget_strv(v, what, &rc->onbuild, err);
        case F_SHELL: return ib_img_jget_strv(v, what, &rc->shell, err);
        }
        return 0;
}

static void run_config_write(struct ib_buf *b, const struct ib_run_config *rc)
{
        bool first = true;

        ib_buf_addc(b, '{');
        for (int f = 0; f < F__MAX; f++) {
                _cleanup_buf_ struct ib_buf v = IB_BUF_INIT;
                if (!cfield_write(&v, rc, f))
                        continue;
                jkey(b, &first, cfield_names[f]);
                ib_buf_add(b, v.buf, v.len);
        }
        ib_buf_addc(b, '}');
}

static void run_config_clear(struct ib_run_config *rc)
{
        free(rc->user);
        ib_strv_free(rc->exposed_ports);
        ib_strv_free(rc->env);
        ib_strv_free(rc->entrypoint);
        ib_strv_free(rc->cmd);
        ib_strv_free(rc->volumes);
        free(rc->working_dir);
        ib_kvlist_clear(&rc->labels);
        free(rc->stop_signal);
        healthcheck_free(rc->healthcheck);
        ib_strv_free(rc->onbuild);
        ib_strv_free(rc->shell);
        memset(rc, 0, sizeof(*rc));
}

/* --------------------------------------------------------------- history */

static void history_clear(struct ib_history *h)
{
        free(h->created);
        free(h->created_by);
        free(h->author);
        free(h->comment);
        memset(h, 0, sizeof(*h));
}

static void history_write(struct ib_buf *b, const struct ib_history *h)
{
        bool first = true;

        ib_buf_addc(b, '{');
        ib_img_jstr_opt(b, &first, "created", h->created);
        ib_img_jstr_opt(b, &first, "created_by", h->created_by);
        ib_img_jstr_opt(b, &first, "author", h->author);
        ib_img_jstr_opt(b, &first, "comment", h->comment);
        if (h->empty_layer) {
                jkey(b, &first, "empty_layer");
                ib_buf_adds(b, "true");
        }
        ib_buf_addc(b, '}');
}

static int history_read(yajl_val v, size_t idx, struct ib_history *h, struct ib_err **err)
{
        char what[64];
        int r;

        snprintf(what, sizeof(what), "history[%zu]", idx);
        if (!YAJL_IS_OBJECT(v))
                return ib_err_set(err, EINVAL, "%s: expected an object", what);
        if ((r = ib_img_jget_str(ib_json_get(v, "created"), what, &h->created, err)) < 0 ||
            (r = ib_img_jget_str(ib_json_get(v, "created_by"), what, &h->created_by, err)) < 0 ||
            (r = ib_img_jget_str(ib_json_get(v, "author"), what, &h->author, err)) < 0 ||
            (r = ib_img_jget_str(ib_json_get(v, "comment"), what, &h->comment, err)) < 0 ||
            (r = ib_img_jget_bool(ib_json_get(v, "empty_layer"), what, &h->empty_layer, err)) < 0)
                return r;
        return 0;
}

static void history_push(struct ib_image_config *c, struct ib_history *h)
{
        c->history = ib_reallocarray(c->history, c->n_history + 1, sizeof(*c->history));
        c->history[c->n_history++] = *h;
        memset(h, 0, sizeof(*h));
}

/* ---------------------------------------------------------------- config */

struct ib_image_config *ib_image_config_new(void)
{
        struct ib_image_config *c = ib_calloc(1, sizeof(*c));
        const char *variant = NULL;

        c->architecture = ib_strdup(ib_host_arch(&variant));
        c->variant = variant ? ib_strdup(variant) : NULL;
        c->os = ib_strdup("linux");
        return c;
}

void ib_image_config_free(struct ib_image_config *c)
{
        if (!c)
                return;
        free(c->architecture);
        free(c->os);
        free(c->os_version);
        ib_strv_free(c->os_features);
        free(c->variant);
        free(c->created);
        free(c->author);
        run_config_clear(&c->config);
        ib_strv_free(c->diff_ids);
        for (size_t i = 0; i < c->n_history; i++)
                history_clear(&c->history[i]);
        free(c->history);
        free(c);
}

static int parse_run_config(yajl_val v, struct ib_run_config *rc, struct ib_err **err)
{
        if (!v || YAJL_IS_NULL(v))
                return 0;
        if (!YAJL_IS_OBJECT(v))
                return ib_err_set(err, EINVAL, "config: expected an object");
        for (size_t i = 0; i < v->u.object.len; i++) {
                int f = cfield_lookup(v->u.object.keys[i]);
                if (f < 0)
                        continue;       /* docker's Hostname, AttachStdin, ...: dropped */
                int r = cfield_read(rc, f, v->u.object.values[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_rootfs(yajl_val v, struct ib_image_config *c, struct ib_err **err)
{
        const char *type;

        if (!v || YAJL_IS_NULL(v))
                return 0;
        if (!YAJL_IS_OBJECT(v))
                return ib_err_set(err, EINVAL, "rootfs: expected an object");
        type = ib_json_get_str(v, "type");
        if (type && strcmp(type, "layers") != 0)
                return ib_err_set(err, EINVAL, "rootfs.type: expected \"layers\", got \"%s\"", type);
        int r = ib_img_jget_strv(ib_json_get(v, "diff_ids"), "rootfs.diff_ids", &c->diff_ids, err);
        if (r < 0)
                return r;
        for (size_t i = 0; c->diff_ids && c->diff_ids[i]; i++)
                if (!ib_digest_parse(c->diff_ids[i], NULL))
                        return ib_err_set(err, EINVAL, "rootfs.diff_ids[%zu]: not a sha256 digest: \"%s\"",
                                          i, c->diff_ids[i]);
        return 0;
}

static int parse_config_tree(yajl_val root, struct ib_image_config *c, struct ib_err **err)
{
        yajl_val hist;
        int r;

        if (!YAJL_IS_OBJECT(root))
                return ib_err_set(err, EINVAL, "expected a JSON object");
        if ((r = ib_img_jget_str(ib_json_get(root, "architecture"), "architecture", &c->architecture, err)) < 0 ||
            (r = ib_img_jget_str(ib_json_get(root, "os"), "os", &c->os, err)) < 0 ||
            (r = ib_img_jget_str(ib_json_get(root, "os.version"), "os.version", &c->os_version, err)) < 0 ||
            (r = ib_img_jget_strv(ib_json_get(root, "os.features"), "os.features", &c->os_features, err)) < 0 ||
            (r = ib_img_jget_str(ib_json_get(root, "variant"), "variant", &c->variant, err)) < 0 ||
            (r = ib_img_jget_str(ib_json_get(root, "created"), "created", &c->created, err)) < 0 ||
            (r = ib_img_jget_str(ib_json_get(root, "author"), "author", &c->author, err)) < 0 ||
            (r = parse_run_config(ib_json_get(root, "config"), &c->config, err)) < 0 ||
            (r = parse_rootfs(ib_json_get(root, "rootfs"), c, err)) < 0)
                return r;
        hist = ib_json_get(root, "history");
        if (hist && !YAJL_IS_NULL(hist)) {
                if (!YAJL_IS_ARRAY(hist))
                        return ib_err_set(err, EINVAL, "history: expected an array");
                for (size_t i = 0; i < hist->u.array.len; i++) {
                        struct ib_history h = {};
                        r = history_read(hist->u.array.values[i], i, &h, err);
                        if (r < 0) {
                                history_clear(&h);
                                return r;
                        }
                        history_push(c, &h);
                }
        }
        return 0;
}

int ib_image_config_parse(const char *data, size_t len, struct ib_image_config **ret, struct ib_err **err)
{
        _cleanup_(yajl_tree_freep) yajl_val root = ib_json_parse(data, len, "image config", err);
        struct ib_image_config *c;
        int r;

        if (!root)
                return ib_err_code(*err);
        c = ib_calloc(1, sizeof(*c));
        r = parse_config_tree(root, c, err);
        if (r < 0) {
                ib_image_config_free(c);
                return ib_err_wrap(err, "image config");
        }
        *ret = c;
        return 0;
}

void ib_image_config_serialize(const struct ib_image_config *c, struct ib_buf *out)
{
        bool first = true;

        ib_buf_addc(out, '{');
        jkey(out, &first, "architecture");
        ib_json_add_str(out, c->architecture ? c->architecture : "");
        ib_img_jstr_opt(out, &first, "author", c->author);
        jkey(out, &first, "config");
        run_config_write(out, &c->config);
        ib_img_jstr_opt(out, &first, "created", c->created);
        if (c->n_history) {
                jkey(out, &first, "history");
                ib_buf_addc(out, '[');
                for (size_t i = 0; i < c->n_history; i++) {
                        if (i)
                                ib_buf_addc(out, ',');
                        history_write(out, &c->history[i]);
                }
                ib_buf_addc(out, ']');
        }
        jkey(out, &first, "os");
        ib_json_add_str(out, c->os ? c->os : "");
        ib_img_jstrv_opt(out, &first, "os.features", c->os_features);
        ib_img_jstr_opt(out, &first, "os.version", c->os_version);
        jkey(out, &first, "rootfs");
        ib_buf_adds(out, "{\"type\":\"layers\",\"diff_ids\":");
        ib_img_jstrv(out, c->diff_ids);
        ib_buf_addc(out, '}');
        ib_img_jstr_opt(out, &first, "variant", c->variant);
        ib_buf_addc(out, '}');
}

struct ib_image_config *ib_image_config_dup(const struct ib_image_config *c)
{
        _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;
        _cleanup_err_ struct ib_err *err = NULL;
        struct ib_image_config *d = NULL;

        ib_image_config_serialize(c, &b);
        if (ib_image_config_parse(b.buf, b.len, &d, &err) < 0) {
                /* Our own canonical output always parses; anything else is a bug. */
                fprintf(stderr, "imgbuild: BUG: config copy: %s\n", err->msg);
                abort();
        }
        return d;
}

char *ib_image_config_platform(const struct ib_image_config *c)
{
        const char *os = c->os && *c->os ? c->os : "linux";
        const char *arch = c->architecture && *c->architecture ? c->architecture : "unknown";

        if (c->variant && *c->variant)
                return ib_strdupf("%s/%s/%s", os, arch, c->variant);
        return ib_strdupf("%s/%s", os, arch);
}

/* ---------------------------------------------------------------- helpers */

static char **env_find(char **env, const char *key)
{
        size_t klen = strlen(key);
        char **hit = NULL;

        for (size_t i = 0; env && env[i]; i++)
                if (strncmp(env[i], key, klen) == 0 && env[i][klen] == '=')
                        hit = &env[i];
        return hit;
}

const char *ib_image_config_env_get(const struct ib_image_config *c, const char *key)
{
        char **e = env_find(c->config.env, key);
        return e ? *e + strlen(key) + 1 : NULL;
}

void ib_image_config_env_set(struct ib_image_config *c, const char *key, const char *value)
{
        char **e = env_find(c->config.env, key);
        char *kv = ib_strdupf("%s=%s", key, value ? value : "");

        if (e) {
                free(*e);
                *e = kv;
                return;
        }
        ib_strv_push(&c->config.env, kv);
        free(kv);
}

void ib_image_config_label_set(struct ib_image_config *c, const char *key, const char *value)
{
        ib_kvlist_set(&c->config.labels, key, value ? value : "");
}

int ib_image_config_expose(struct ib_image_config *c, const char *port, struct ib_err **err)
{
        const char *slash = strchr(port, '/');
        size_t nlen = slash ? (size_t) (slash - port) : strlen(port);
        _cleanup_free_ char *proto = ib_strdup(slash ? slash + 1 : "tcp");
        _cleanup_free_ char *norm = NULL;
        char *end = NULL;
        unsigned long lo, hi;

        /* "80", "80/udp", "8000-8010/tcp" */
        errno = 0;
        lo = strtoul(port, &end, 10);
        hi = lo;
        if (end && *end == '-')
                hi = strtoul(end + 1, &end, 10);
        if (errno || end == port || (size_t) (end - port) != nlen || lo == 0 || lo > 65535 || hi < lo || hi > 65535)
                return ib_err_set(err, EINVAL, "EXPOSE: invalid port \"%s\"", port);
        for (char *p = proto; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0 && strcmp(proto, "sctp") != 0)
                return ib_err_set(err, EINVAL, "EXPOSE: invalid protocol in \"%s\"", port);
        norm = ib_strdupf("%.*s/%s", (int) nlen, port, proto);
        ib_img_strv_set_add(&c->config.exposed_ports, norm);
        return 0;
}

void ib_image_config_volume_add(struct ib_image_config *c, const char *path)
{
        ib_img_strv_set_add(&c->config.volumes, path);
}

void ib_image_config_set_str(char **field, const char *value)
{
        char *old = *field;
        *field = value ? ib_strdup(value) : NULL;
        free(old);
}

void ib_image_config_set_strv(char ***field, char *const *value)
{
        char **old = *field;
        *field = value ? ib_strv_dup(value) : NULL;
        ib_strv_free(old);
}

void ib_image_config_set_healthcheck(struct ib_image_config *c, const struct ib_healthcheck *h)
{
        struct ib_healthcheck *n = NULL;

        if (h) {
                n = ib_calloc(1, sizeof(*n));
                *n = *h;
                n->test = h->test ? ib_strv_dup(h->test) : NULL;
        }
        healthcheck_free(c->config.healthcheck);
        c->config.healthcheck = n;
}

void ib_image_config_add_history(struct ib_image_config *c, const char *created, const char *created_by,
                                 const char *comment, bool empty_layer)
{
        struct ib_history h = {
                .created = created ? ib_strdup(created) : NULL,
                .created_by = created_by ? ib_strdup(created_by) : NULL,
                .comment = comment ? ib_strdup(comment) : NULL,
                .empty_layer = empty_layer,
        };
        history_push(c, &h);
}

void ib_image_config_add_layer(struct ib_image_config *c, const char *diff_id, const char *created,
                               const char *created_by, const char *comment)
{
        ib_strv_push(&c->diff_ids, diff_id);
        ib_image_config_add_history(c, created, created_by, comment, false);
}

size_t ib_image_config_layer_history_count(const struct ib_image_config *c)
{
        size_t n = 0;
        for (size_t i = 0; i < c->n_history; i++)
                n += !c->history[i].empty_layer;
        return n;
}

/* ----------------------------------------------------------------- deltas */

static bool history_equal(const struct ib_history *a, const struct ib_history *b)
{
        _cleanup_buf_ struct ib_buf x = IB_BUF_INIT, y = IB_BUF_INIT;
        history_write(&x, a);
        history_write(&y, b);
        return strcmp(x.buf, y.buf) == 0;
}

int ib_image_config_diff(const struct ib_image_config *before, const struct ib_image_config *after,
                         struct ib_buf *out, struct ib_err **err)
{
        size_t nb = ib_strv_len(before->diff_ids), na = ib_strv_len(after->diff_ids);
        _cleanup_buf_ struct ib_buf cfg = IB_BUF_INIT;
        bool first = true, cfirst = true;

        if (na < nb || after->n_history < before->n_history)
                return ib_err_set(err, EINVAL, "config delta: the new config has fewer layers or history entries");
        for (size_t i = 0; i < nb; i++)
                if (strcmp(before->diff_ids[i], after->diff_ids[i]) != 0)
                        return ib_err_set(err, EINVAL, "config delta: layer %zu differs (%s, %s)", i,
                                          before->diff_ids[i], after->diff_ids[i]);
        for (size_t i = 0; i < before->n_history; i++)
                if (!history_equal(&before->history[i], &after->history[i]))
                        return ib_err_set(err, EINVAL, "config delta: history entry %zu differs", i);

        for (int f = 0; f < F__MAX; f++) {
                _cleanup_buf_ struct ib_buf x = IB_BUF_INIT, y = IB_BUF_INIT;
                bool hx = cfield_write(&x, &before->config, f), hy = cfield_write(&y, &after->config, f);
                if (hx == hy && strcmp(x.buf, y.buf) == 0)
                        continue;
                jkey(&cfg, &cfirst, cfield_names[f]);
                ib_buf_adds(&cfg, hy ? y.buf : "null");
        }

        ib_buf_addc(out, '{');
        if (strcmp(before->author ? before->author : "", after->author ? after->author : "") != 0) {
                jkey(out, &first, "author");
                if (after->author && *after->author)
                        ib_json_add_str(out, after->author);
                else
                        ib_buf_adds(out, "null");
        }
        if (cfg.len) {
                jkey(out, &first, "config");
                ib_buf_addf(out, "{%s}", cfg.buf);
        }
        if (na > nb) {
                jkey(out, &first, "diff_ids");
                ib_img_jstrv(out, after->diff_ids + nb);
        }
        if (after->n_history > before->n_history) {
                jkey(out, &first, "history");
                ib_buf_addc(out, '[');
                for (size_t i = before->n_history; i < after->n_history; i++) {
                        if (i > before->n_history)
                                ib_buf_addc(out, ',');
                        history_write(out, &after->history[i]);
                }
                ib_buf_addc(out, ']');
        }
        ib_buf_addc(out, '}');
        return 0;
}

static int apply_tree(struct ib_image_config *c, yajl_val root, struct ib_err **err)
{
        yajl_val v;
        int r;

        if (!YAJL_IS_OBJECT(root))
                return ib_err_set(err, EINVAL, "expected a JSON object");
        if ((v = ib_json_get(root, "author")) && (r = ib_img_jget_str(v, "author", &c->author, err)) < 0)
                return r;
        if ((v = ib_json_get(root, "config"))) {
                if (!YAJL_IS_OBJECT(v))
                        return ib_err_set(err, EINVAL, "config: expected an object");
                for (size_t i = 0; i < v->u.object.len; i++) {
                        int f = cfield_lookup(v->u.object.keys[i]);
                        if (f < 0)
                                return ib_err_set(err, EINVAL, "config: unknown field \"%s\"", v->u.object.keys[i]);
                        if ((r = cfield_read(&c->config, f, v->u.object.values[i], err)) < 0)
                                return r;
                }
        }
        if ((v = ib_json_get(root, "diff_ids"))) {
                _cleanup_strv_ char **ids = NULL;
                if ((r = ib_img_jget_strv(v, "diff_ids", &ids, err)) < 0)
                        return r;
                for (size_t i = 0; ids && ids[i]; i++) {
                        if (!ib_digest_parse(ids[i], NULL))
                                return ib_err_set(err, EINVAL, "diff_ids[%zu]: not a sha256 digest", i);
                        ib_strv_push(&c->diff_ids, ids[i]);
                }
        }
        if ((v = ib_json_get(root, "history"))) {
                if (!YAJL_IS_ARRAY(v))
                        return ib_err_set(err, EINVAL, "history: expected an array");
                for (size_t i = 0; i < v->u.array.len; i++) {
                        struct ib_history h = {};
                        if ((r = history_read(v->u.array.values[i], i, &h, err)) < 0) {
                                history_clear(&h);
                                return r;
                        }
                        history_push(c, &h);
                }
        }
        return 0;
}

int ib_image_config_apply(struct ib_image_config *c, const char *delta, size_t len, struct ib_err **err)
{
        _cleanup_(yajl_tree_freep) yajl_val root = ib_json_parse(delta, len, "config delta", err);
        struct ib_image_config *work;
        int r;

        if (!root)
                return ib_err_code(*err);
        /* Apply to a copy so a bad delta leaves @c as it was. */
        work = ib_image_config_dup(c);
        r = apply_tree(work, root, err);
        if (r < 0) {
                ib_image_config_free(work);
                return ib_err_wrap(err, "config delta");
        }
        /* Swap contents: @c keeps its address. */
        struct ib_image_config tmp = *c;
        *c = *work;
        *work = tmp;
        ib_image_config_free(work);
        return 0;
}

/* ---------------------------------------------------------- platform, time */

const char *ib_host_arch(const char **ret_variant)
{
        static const struct {
                const char *machine, *arch, *variant;
        } map[] = {
                { "x86_64", "amd64", NULL }, { "aarch64", "arm64", "v8" }, { "arm64", "arm64", "v8" },
                { "armv7l", "arm", "v7" }, { "armv6l", "arm", "v6" }, { "i686", "386", NULL },
                { "i386", "386", NULL }, { "ppc64le", "ppc64le", NULL }, { "s390x", "s390x", NULL },
                { "riscv64", "riscv64", NULL }, { "mips64", "mips64", NULL }, { "loongarch64", "loong64", NULL },
        };
        static char machine[65];
        struct utsname u;

        if (ret_variant)
                *ret_variant = NULL;
        if (uname(&u) < 0)
                return "amd64";
        for (size_t i = 0; i < IB_ELEMENTSOF(map); i++)
                if (strcmp(u.machine, map[i].machine) == 0) {
                        if (ret_variant)
                                *ret_variant = map[i].variant;
                        return map[i].arch;
                }
        snprintf(machine, sizeof(machine), "%s", u.machine);
        return machine;
}

void ib_time_rfc3339(int64_t epoch, char *buf, size_t n)
{
        time_t t = (time_t) epoch;
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, n, "1970-01-01T00:00:00Z");
}

int ib_time_parse(const char *s, int64_t *ret)
{
        struct tm tm = {};
        const char *p = s[0] == '@' ? s + 1 : s;
        char *end = NULL;
        long long v;

        errno = 0;
        v = strtoll(p, &end, 10);
        if (*p && end && !*end && !errno) {
                *ret = v;
                return 0;
        }
        end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!end)
                return -EINVAL;
        if (*end == '.')
                for (end++; isdigit((unsigned char) *end); end++)
                        ;
        v = (long long) timegm(&tm);
        if (*end == 'Z' || *end == 'z') {
                end++;
        } else if (*end == '+' || *end == '-') {
                int hh, mm;
                if (sscanf(end + 1, "%2d:%2d", &hh, &mm) != 2)
                        return -EINVAL;
                v -= (*end == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
                end += 6;
        } else {
                return -EINVAL;
        }
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}
