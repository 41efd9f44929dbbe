/* src/build.c - the build engine: stages in order, one step at a time.
 * See src/build.h for the data flow; base images and layer stacks are in
 * src/build-base.c. */
#include "src/build-internal.h"
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

void ib_build_result_release(struct ib_build_result *r)
{
        ib_image_free(r->image);
        r->image = NULL;
        ib_build_times_reset(r);
}

static bool cancelled(const struct build *b)
{
        struct pollfd p = { .fd = b->o->cancel_fd, .events = POLLIN };
        return b->o->cancel_fd > 0 && poll(&p, 1, 0) > 0;
}

/* "PATH:LINE: " prefix for step errors. */
static int step_err(const struct build *b, const struct ib_plan_step *st, struct ib_err **err)
{
        return ib_err_wrap(err, "%s:%u: %s", b->df->path, st->in->line, ib_df_kind_name(st->in->kind));
}

/* ------------------------------------------------------------ stage state */

static void stage_add_layer(struct bstage *s, const struct ib_layer_desc *d, char *dir)
{
        ib_grow(&s->layers, &s->alloc_layers, s->n_layers + 1, sizeof(*s->layers));
        s->layers[s->n_layers++] = (struct blayer) {
                .l = { .media_type = ib_strdup(d->media_type), .digest = ib_strdup(d->digest),
                       .size = (int64_t) d->size, .diff_id = ib_strdup(d->diff_id), .uncompressed_size = -1 },
                .dir = dir,
        };
}

static void stage_free(struct bstage *s)
{
        ib_image_config_free(s->cfg);
        for (size_t i = 0; i < s->n_layers; i++)
                ib_blayer_clear(&s->layers[i]);
        free(s->layers);
        free(s->pending);
        free(s->pending_work);
        memset(s, 0, sizeof(*s));
}

static void stage_copy_from(struct bstage *s, const struct ib_image_config *cfg, const struct blayer *layers,
                            size_t n)
{
        s->cfg = ib_image_config_dup(cfg);
        s->layers = ib_calloc(n ? n : 1, sizeof(*s->layers));
        s->alloc_layers = n ? n : 1;
        for (size_t i = 0; i < n; i++)
                ib_blayer_copy(&s->layers[i], &layers[i]);
        s->n_layers = n;
}

static char **lower_dirs(const struct bstage *s)
{
        char **v = ib_calloc(s->n_layers + 1, sizeof(char *));
        for (size_t i = 0; i < s->n_layers; i++)
                v[i] = s->layers[s->n_layers - 1 - i].dir;     /* borrowed, top first */
        return v;
}

static bool dir_is_empty(const char *path)
{
        DIR *d = opendir(path);
        struct dirent *de;
        bool empty = true;

        if (!d)
                return true;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                        empty = false;
                        break;
                }
        closedir(d);
        return empty;
}

/* --------------------------------------------------------------- history */

static void join_words(struct ib_buf *out, char *const *w)
{
        for (size_t i = 0; w && w[i]; i++) {
                if (i)
                        ib_buf_addc(out, ' ');
                ib_buf_adds(out, w[i]);
        }
}

static void json_words(struct ib_buf *out, char *const *w)
{
        ib_buf_addc(out, '[');
        for (size_t i = 0; w && w[i]; i++) {
                if (i)
                        ib_buf_addc(out, ',');
                ib_json_add_str(out, w[i]);
        }
        ib_buf_addc(out, ']');
}

/* The history's created_by, as BuildKit writes it ("RUN /bin/sh -c ... # buildkit"
 * there; "# imgbuild" here). */
static char *created_by(const struct ib_plan_step *st)
{
        struct ib_buf b = IB_BUF_INIT;
        const struct ib_df_instr *in = st->in;

        ib_buf_adds(&b, ib_df_kind_name(in->kind));
        ib_buf_addc(&b, ' ');
        switch (in->kind) {
        case IB_DF_RUN:
                join_words(&b, st->words);
                ib_buf_adds(&b, " # imgbuild");
                break;
        case IB_DF_ENV:
        case IB_DF_LABEL:
                for (size_t i = 0; i < st->n_kv; i++)
                        ib_buf_addf(&b, "%s%s=%s", i ? " " : "", st->kv[i].key, st->kv[i].value ? st->kv[i].value : "");
                break;
        case IB_DF_CMD:
        case IB_DF_ENTRYPOINT:
        case IB_DF_SHELL:
                json_words(&b, st->words);
                break;
        case IB_DF_COPY:
        case IB_DF_ADD:
                join_words(&b, st->words);
                ib_buf_adds(&b, " # imgbuild");
                break;
        default: {
                /* The logical line after the keyword, as written. */
                const char *r = in->raw ? in->raw : "";
                while (*r && *r != ' ' && *r != '\t')
                        r++;
                while (*r == ' ' || *r == '\t')
                        r++;
                ib_buf_adds(&b, r);
                break;
        }
        }
        return ib_buf_detach(&b);
}

static void add_history(struct build *b, struct bstage *s, const struct ib_plan_step *st, bool empty)
{
        _cleanup_free_ char *by = created_by(st);
        ib_image_config_add_history(s->cfg, b->step_created, by, NULL, empty);
}

/* ------------------------------------------------------------ environment */

/* What a RUN sees: the image's Env, then the stage's ARG values that no ENV
 * overrides (BuildKit: ENV wins over ARG of the same name), then the proxy
 * build args. */
static char **run_env(const struct build *b, const struct bstage *s, const struct ib_plan_step *st)
{
        char **env = ib_strv_dup(s->cfg->config.env);
        const struct ib_plan_stage *ps = s->ps;

        for (size_t i = 0; i < st->env_mark && i < ps->n_vars; i++) {
                const struct ib_plan_var *v = &ps->vars[i];
                if (!v->is_arg || !v->value || ib_image_config_env_get(s->cfg, v->key))
                        continue;
                /* a later ARG of the same name replaces an earlier one */
                size_t klen = strlen(v->key);
                bool replaced = false;
                for (char **e = env; *e; e++)
                        if (strncmp(*e, v->key, klen) == 0 && (*e)[klen] == '=') {
                                free(*e);
                                *e = ib_strdupf("%s=%s", v->key, v->value);
                                replaced = true;
                        }
                if (!replaced) {
                        _cleanup_free_ char *kv = ib_strdupf("%s=%s", v->key, v->value);
                        ib_strv_push(&env, kv);
                }
        }
        for (char **p = b->plan->proxy_env; p && *p; p++)
                ib_strv_push(&env, *p);
        if (!ib_image_config_env_get(s->cfg, "PATH")) {
                bool has = false;
                for (char **e = env; *e; e++)
                        has |= ib_startswith(*e, "PATH=");
                if (!has)
                        ib_strv_push(&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        }
        return env;
}

/* WORKDIR-relative path, cleaned; keeps a trailing '/' (it means "a directory"). */
static char *resolve_path(const struct bstage *s, const char *p)
{
        const char *wd = s->cfg->config.working_dir && *s->cfg->config.working_dir ? s->cfg->config.working_dir : "/";
        _cleanup_free_ char *joined = p[0] == '/' ? ib_strdup(p) : ib_path_join(wd, p);
        bool slash = ib_endswith(p, "/") || ib_endswith(p, "/.") || strcmp(p, ".") == 0;
        struct ib_buf out = IB_BUF_INIT;
        char *save = NULL;

        for (char *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (strcmp(c, ".") == 0)
                        continue;
                if (strcmp(c, "..") == 0) {
                        char *last = strrchr(out.buf, '/');
                        ib_buf_truncate(&out, last ? (size_t) (last - out.buf) : 0);
                        continue;
                }
                ib_buf_addc(&out, '/');
                ib_buf_adds(&out, c);
        }
        if (out.len == 0)
                ib_buf_addc(&out, '/');
        else if (slash)
                ib_buf_addc(&out, '/');
        return ib_buf_detach(&out);
}

/* ------------------------------------------------------------ new layers */

/* A fresh dir for a layer, on the store's file system (so publishing is a rename). */
static char *new_layer_dir(struct build *b, const char *what, struct ib_err **err)
{
        char *p = ib_store_tmp_path(b->store, what);
        if (mkdir(p, 0755) < 0) {
                ib_err_set(err, errno, "mkdir `%s`", p);
                free(p);
                return NULL;
        }
        return p;
}

/* The seconds since @t: the compressor's part of them and the rest. */
static void snapshot_times(struct build *b, double t, const struct ib_layer_desc *d)
{
        ib_build_phase_add(b, IB_PHASE_SNAPSHOT, t + d->compress_seconds);
        if (b->res)
                b->res->phases[IB_PHASE_COMPRESS] += d->compress_seconds;
}

/* Export @dir as a layer of @s and publish it (or drop it when empty). */
static int commit_layer(struct build *b, struct bstage *s, const struct ib_plan_step *st, const char *dir,
                        struct ib_err **err)
{
        struct ib_export_opts eo = IB_EXPORT_OPTS_INIT;
        struct ib_layer_desc d = { 0 };
        char *published = NULL;
        _cleanup_free_ char *by = created_by(st);
        int r;

        if (dir_is_empty(dir)) {
                add_history(b, s, st, true);
                return ib_rm_rf(dir, err);
        }
        eo.compression = b->o->compression;
        eo.level = b->o->compression_level;
        eo.reproducible = b->o->reproducible;
        eo.source_date_epoch = b->o->source_date_epoch;
        double t = ib_now();
        r = ib_snapshot_export(b->store, dir, &eo, &d, err);
        if (r == 0)
                r = ib_snapshot_publish_dir(b->store, dir, d.diff_id, &published, err);
        snapshot_times(b, t, &d);
        if (r < 0) {
                ib_layer_desc_release(&d);
                return r;
        }
        ib_log(IB_LOG_DEBUG, "layer %s (%" PRIu64 " bytes, %" PRIu64 " entries)", d.digest, d.size, d.entries);
        stage_add_layer(s, &d, published);
        ib_image_config_add_layer(s->cfg, d.diff_id, b->step_created, by, NULL);
        ib_layer_desc_release(&d);
        if (b->res)
                b->res->layers++;
        return 0;
}

/* --single-snapshot: the stage's steps all write into one upper dir, exported
 * once at the end of the stage. */
static int pending_dirs(struct build *b, struct bstage *s, struct ib_err **err)
{
        if (s->pending)
                return 0;
        s->pending = new_layer_dir(b, "snapshot", err);
        s->pending_work = s->pending ? new_layer_dir(b, "snapshot-work", err) : NULL;
        return s->pending_work ? 0 : -EIO;
}

/* A RUN that failed on a full disk often says so only as "I/O error" or not at
 * all (busybox's head, a compiler's "cannot write"): when the file system the
 * RUN wrote to (its upper dir, in the store's scratch) is full or out of
 * inodes, say so next to the exit status.  NULL when there is room. */
static char *store_full_note(const char *upper)
{
        struct statvfs v;

        if (!upper || statvfs(upper, &v) < 0)
                return NULL;
        if ((uint64_t) v.f_bavail * v.f_frsize >= (256u << 10) && !(v.f_files > 0 && v.f_favail == 0))
                return NULL;
        return ib_strdupf(" (the store's file system is full: No space left on device in `%s`)", upper);
}

/* ------------------------------------------------------------------ RUN */

/* The sandbox run, timed, its output relayed as events when the renderer
 * wants lines (tty indents them, json wraps them). */
static int run_sandboxed(struct build *b, const struct bstage *s, const struct ib_plan_step *st,
                         struct ib_run_spec *spec, int *status, struct ib_err **err)
{
        struct ib_relay relay = { .rfd = -1, .wfd = -1 };
        double t = ib_now();
        int r;

        if (b->o->relay_output) {
                if (ib_relay_start(&relay, s->label, st->in->line, err) < 0)
                        return -EIO;
                spec->stdout_fd = spec->stderr_fd = relay.wfd;
        }
        r = ib_sandbox_run(spec, status, err);
        ib_relay_stop(&relay);
        ib_build_phase_add(b, IB_PHASE_RUN, t);
        return r;
}

static int exec_run(struct build *b, struct bstage *s, const struct ib_plan_step *st, struct ib_err **err)
{
        _cleanup_free_ char *scratch = NULL, *upper = NULL, *work = NULL;
        _cleanup_free_ char **lowers = NULL;
        _cleanup_strv_ char **env = NULL;
        struct ib_run_mounts rm = { 0 };
        struct ib_run_spec spec = { 0 };
        const char *net = NULL;
        int status = 0, r;

        if (ib_build_extract(b, s, err) < 0)
                return -EIO;
        for (size_t i = 0; i < st->n_flags; i++) {
                const struct ib_df_flag *f = &st->flags[i];
                if (!strcmp(f->name, "network"))
                        net = f->value;
                else if (!strcmp(f->name, "security") && f->value && strcmp(f->value, "sandbox"))
                        return ib_err_set(err, ENOTSUP, "--security=%s is not supported", f->value);
        }
        r = ib_run_mounts_prepare(b, st, &rm, err);
        if (r < 0)
                goto out;
        if (b->o->single_snapshot && s == &b->st[b->plan->target]) {
                if (pending_dirs(b, s, err) < 0) {
                        r = -EIO;
                        goto out;
                }
                upper = ib_strdup(s->pending);
                work = ib_strdup(s->pending_work);
        } else {
                scratch = new_layer_dir(b, "run", err);
                if (!scratch) {
                        r = -EIO;
                        goto out;
                }
                upper = ib_path_join(scratch, "upper");
                work = ib_path_join(scratch, "work");
                if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0) {
                        r = ib_err_set(err, errno, "mkdir `%s`", upper);
                        goto out;
                }
        }
        lowers = lower_dirs(s);
        env = run_env(b, s, st);
        for (char **e = rm.env; e && *e; e++)
                ib_strv_push(&env, *e);         /* secrets and SSH_AUTH_SOCK: this RUN only */
        spec.lowers = (const char *const *) lowers;
        spec.n_lowers = s->n_layers;
        spec.upper = upper;
        spec.work = work;
        spec.argv = st->words;
        spec.env = env;
        spec.cwd = s->cfg->config.working_dir;
        spec.user = s->cfg->config.user;
        spec.network = b->o->network;
        if (net && !strcmp(net, "none"))
                spec.network = IB_NET_NONE;
        else if (net && !strcmp(net, "host"))
                spec.network = IB_NET_HOST;
        else if (net && strcmp(net, "default")) {
                r = ib_err_set(err, EINVAL, "--network=%s: expected default, none or host", net);
                goto out;
        }
        spec.mounts = rm.m;
        spec.n_mounts = rm.n;
        spec.cancel_fd = b->o->cancel_fd;
        spec.scratch = b->store->tmp_dir;       /* the sandbox's own dir, reused by every RUN */
        spec.stdout_fd = b->o->run_stdout_fd;
        r = run_sandboxed(b, s, st, &spec, &status, err);
        for (char **e = env; e && *e; e++)
                explicit_bzero(*e, strlen(*e));
        if (b->res)
                b->res->runs++;
        if (r < 0)
                goto out;
        if (status != 0) {
                if (b->res)
                        b->res->run_status = status;
                _cleanup_free_ char *full = store_full_note(upper);
                r = ib_err_set(err, 0, "%s:%u: RUN %s: exit status %d%s", b->df->path, st->in->line,
                               st->in->text ? st->in->text : "(exec form)", status, full ? full : "");
                r = -ECHILD;
                goto out;
        }
        if (s->pending) {
                add_history(b, s, st, true);    /* the one layer gets its own entry at the end */
                r = 0;
        } else {
                r = commit_layer(b, s, st, upper, err);
        }
out:
        ib_run_mounts_release(&rm);
        if (scratch) {
                struct ib_err *e2 = NULL;
                (void) ib_rm_rf(scratch, &e2);
                ib_err_free(&e2);
        }
        return r;
}

/* ----------------------------------------------------------- COPY / ADD */

/* The stage's layers as a stack for lookups (COPY destinations, WORKDIR,
 * --chown's /etc/passwd), top first; the layers must be extracted. */
static int stage_stack(const struct bstage *s, struct ib_layer_stack **ret, struct ib_err **err)
{
        _cleanup_free_ char **dirs = lower_dirs(s);
        return ib_layer_stack_open(dirs, ret, err);
}
IB_DEFINE_CLEANUP(struct ib_layer_stack *, ib_layer_stack_free)

static int stack_stat(struct ib_layer_stack *st, const char *abs, struct stat *ret)
{
        _cleanup_free_ char *link = NULL;
        return ib_layer_stack_lookup(abs, ret, &link, st);
}

static char *stack_read(struct ib_layer_stack *st, const char *abs)
{
        struct ib_err *e = NULL;
        char *text = NULL;
        if (ib_layer_stack_read(st, abs, 4u << 20, &text, &e) < 0)
                ib_err_free(&e);
        return text;
}

struct ignore_ud {
        struct ib_ignore *m;
};
static bool ignore_excluded(const char *rel, bool is_dir, void *ud)
{
        (void) is_dir;
        return ib_ignore_match(((struct ignore_ud *) ud)->m, rel);
}
static bool ignore_descend(const char *rel, void *ud)
{
        return ib_ignore_dir_may_have_includes(((struct ignore_ud *) ud)->m, rel);
}

/* Heredoc sources (COPY <<EOF /dest): each body becomes a file named after its
 * delimiter in a scratch context. */
static int heredoc_context(struct build *b, const struct ib_plan_step *st, char **ret_dir, struct ib_err **err)
{
        _cleanup_free_ char *dir = new_layer_dir(b, "heredoc", err);
        if (!dir)
                return -EIO;
        for (size_t i = 0; i < st->in->n_heredocs; i++) {
                _cleanup_free_ char *p = ib_path_join(dir, st->in->heredocs[i].name);
                const char *body = st->heredoc_bodies && st->heredoc_bodies[i] ? st->heredoc_bodies[i] : "";
                if (ib_write_file_atomic(p, body, strlen(body), 0644, err) < 0)
                        return -EIO;
        }
        *ret_dir = IB_TAKE_PTR(dir);
        return 0;
}

/* Where COPY reads from: the main context, a named directory context, a
 * heredoc scratch dir, or a mounted view of a stage or image. */
struct copy_src {
        struct ib_context *ctx;         /* borrowed or owned */
        bool owned;
        bool main;                      /* the build context: .dockerignore applies */
        char *view_scratch, *view;      /* a mounted view to take down */
        char *heredoc_dir;
};

static void copy_src_release(struct copy_src *c)
{
        struct ib_err *e = NULL;
        if (c->owned)
                ib_context_free(c->ctx);
        if (c->view) {
                (void) ib_sandbox_unmount_view(c->view_scratch, c->view, &e);
                ib_err_free(&e);
        }
        if (c->heredoc_dir) {
                (void) ib_rm_rf(c->heredoc_dir, &e);
                ib_err_free(&e);
        }
        free(c->view_scratch);
        free(c->view);
        free(c->heredoc_dir);
}

static int view_of(struct build *b, struct blayer *layers, size_t n, struct copy_src *c, struct ib_err **err)
{
        _cleanup_free_ char **lowers = ib_calloc(n + 1, sizeof(char *));
        if (ib_build_extract_layers(b, layers, n, err) < 0)
                return -EIO;
        for (size_t i = 0; i < n; i++)
                lowers[i] = layers[n - 1 - i].dir;
        c->view_scratch = ib_store_tmp_path(b->store, "view");
        c->view = ib_store_tmp_path(b->store, "view-root");
        if (ib_sandbox_mount_view((const char *const *) lowers, n, c->view_scratch, c->view, err) < 0)
                return -EIO;
        c->owned = true;
        return ib_context_open(c->view, NULL, &c->ctx, err);
}

static int copy_source(struct build *b, const struct ib_plan_step *st, struct copy_src *c, struct ib_err **err)
{
        for (char **w = st->words; w && w[0] && w[1]; w++)
                if (ib_startswith(*w, "<<")) {
                        if (heredoc_context(b, st, &c->heredoc_dir, err) < 0)
                                return -EIO;
                        c->owned = true;
                        return ib_context_open(c->heredoc_dir, NULL, &c->ctx, err);
                }
        if (st->from_stage >= 0) {
                struct bstage *src = &b->st[st->from_stage];
                if (!src->done)
                        return ib_err_set(err, EINVAL, "COPY --from: stage %ld is not built", st->from_stage);
                return view_of(b, src->layers, src->n_layers, c, err);
        }
        if (st->from_image) {
                struct named_ctx *nc = ib_build_named(b, st->from_image);
                struct base_image *bi;
                if (nc && nc->kind == NCTX_DIR) {
                        if (!nc->ctx && ib_context_open(nc->spec, b->store, &nc->ctx, err) < 0)
                                return ib_err_wrap(err, "build context `%s`", nc->name);
                        c->ctx = nc->ctx;
                        return 0;
                }
                if (ib_build_resolve_base(b, st->from_image, NULL, &bi, err) < 0)
                        return -EIO;
                return view_of(b, bi->layers, bi->n_layers, c, err);
        }
        c->ctx = b->ctx;
        c->main = true;
        return 0;
}

/* Everything a COPY/ADD step needs, prepared once for the cache key and the copy. */
struct copy_job {
        struct copy_src src;
        struct ib_copy_opts o;
        char **sources;
        char *dest;
        char *passwd, *group;
        const char *chown_spec;
        struct ib_ignore *excl;
        struct ib_chmod *chmod;
        struct ignore_ud ign, exu;
        struct ib_layer_stack *stack;
};

static void copy_job_release(struct copy_job *j)
{
        copy_src_release(&j->src);
        ib_strv_free(j->sources);
        free(j->dest);
        free(j->passwd);
        free(j->group);
        ib_ignore_free(j->excl);
        if (j->stack)
                ib_layer_stack_free(j->stack);
        if (j->chmod)
                ib_chmod_free(j->chmod);
}

/* @for_key: only what the cache key needs: no view of another stage (its key
 * stands for it), no lookups in the lower layers, the --chown spec as text. */
static int copy_prepare(struct build *b, struct bstage *s, const struct ib_plan_step *st, bool for_key,
                        struct copy_job *j, struct ib_err **err)
{
        struct ib_copy_opts *o = &j->o;
        const char *chmod_spec = NULL;
        size_t nw = ib_strv_len(st->words);

        if (nw < 2)
                return ib_err_set(err, EINVAL, "needs a source and a destination");
        if (!(for_key && (st->from_stage >= 0 || (st->from_image && !(ib_build_named(b, st->from_image) &&
                                                                      ib_build_named(b, st->from_image)->kind == NCTX_DIR)))))
                if (copy_source(b, st, &j->src, err) < 0)
                        return -EIO;
        for (size_t i = 0; i + 1 < nw; i++)
                ib_strv_push(&j->sources, ib_startswith(st->words[i], "<<") ? st->words[i] + 2 +
                             (st->words[i][2] == '-') : st->words[i]);
        /* heredoc names may be quoted: <<"EOF" */
        for (char **p = j->sources; p && *p; p++)
                if (j->src.heredoc_dir && ((*p)[0] == '"' || (*p)[0] == '\'')) {
                        size_t n = strlen(*p);
                        memmove(*p, *p + 1, n);
                        if (n >= 2)
                                (*p)[n - 2] = '\0';
                }
        j->dest = resolve_path(s, st->words[nw - 1]);
        o->kind = st->in->kind == IB_DF_ADD ? IB_COPY_ADD : IB_COPY_COPY;
        o->sources = j->sources;
        o->dest = j->dest;
        o->what = ib_df_kind_name(st->in->kind);
        j->ign.m = b->ignore;
        if (j->src.main && b->ignore)
                o->ignore = (struct ib_filter) { ignore_excluded, ignore_descend, &j->ign };
        {
                _cleanup_free_ const char **pats = ib_calloc(st->n_flags + 1, sizeof(char *));
                size_t np = 0;
                for (size_t i = 0; i < st->n_flags; i++) {
                        const struct ib_df_flag *f = &st->flags[i];
                        if (!strcmp(f->name, "exclude") && f->value)
                                pats[np++] = f->value;
                        else if (!strcmp(f->name, "chown"))
                                j->chown_spec = f->value;
                        else if (!strcmp(f->name, "chmod"))
                                chmod_spec = f->value;
                        else if (!strcmp(f->name, "parents"))
                                o->parents = !f->value || !strcmp(f->value, "true");
                        else if (!strcmp(f->name, "checksum"))
                                o->checksum = f->value;
                }
                if (np) {
                        if (ib_ignore_from_list(pats, np, "--exclude", &j->excl, err) < 0)
                                return -EINVAL;
                        j->exu.m = j->excl;
                        o->exclude = (struct ib_filter) { ignore_excluded, ignore_descend, &j->exu };
                }
        }
        if (!for_key && s->n_layers && stage_stack(s, &j->stack, err) < 0)
                return -EIO;
        if (j->chown_spec && *j->chown_spec && !for_key) {
                j->passwd = j->stack ? stack_read(j->stack, "/etc/passwd") : NULL;
                j->group = j->stack ? stack_read(j->stack, "/etc/group") : NULL;
                if (ib_chown_resolve(j->chown_spec, j->passwd, j->group, &o->uid, &o->gid, err) < 0)
                        return -EINVAL;
                o->chown = true;
        }
        if (chmod_spec && *chmod_spec) {
                if (ib_chmod_parse(chmod_spec, &j->chmod, err) < 0)
                        return -EINVAL;
                o->chmod = j->chmod;
        }
        o->lookup = j->stack ? ib_layer_stack_lookup : NULL;
        o->lookup_ud = j->stack;
        o->dir_mtime.tv_sec = b->created_epoch;
        o->store = b->store;
        return 0;
}

static int copy_plan(struct copy_job *j, struct ib_copy_plan **plan, struct ib_err **err)
{
        int r = ib_copy_plan_new(j->src.ctx, &j->o, plan, err);
        if (r == 0) {
                /* BuildKit lets a wildcard match nothing; docker's classic builder
                 * and Kaniko refuse it, and a silent empty COPY hides typos: refuse. */
                const struct ib_copy_stats *cs = ib_copy_plan_stats(*plan);
                if (cs->empty_patterns && cs->empty_patterns[0])
                        r = ib_err_set(err, ENOENT, "`%s` matches no file%s", cs->empty_patterns[0],
                                       j->src.main ? " in the build context" : "");
        }
        return r;
}

/* The content part of a COPY/ADD key: the sources by content, or the key of
 * the stage (or the digest of the image) they come from. */
static int copy_key(struct build *b, struct bstage *s, const struct ib_plan_step *st, struct ib_bkey *k,
                    struct ib_err **err)
{
        _cleanup_(copy_job_release) struct copy_job j = { 0 };
        _cleanup_(ib_copy_plan_freep) struct ib_copy_plan *plan = NULL;
        char hex[IB_SHA256_HEX];

        if (copy_prepare(b, s, st, true, &j, err) < 0)
                return -EIO;
        ib_bkey_add(k, j.chown_spec);
        if (st->from_stage >= 0) {
                ib_bkey_add(k, "stage");
                ib_bkey_add(k, b->st[st->from_stage].key);
                ib_bkey_addv(k, j.sources);
                return 0;
        }
        if (!j.src.ctx) {       /* --from=<image> */
                struct base_image *bi;
                if (ib_build_resolve_base(b, st->from_image, NULL, &bi, err) < 0)
                        return -EIO;
                ib_bkey_add(k, "image");
                ib_bkey_add(k, bi->manifest_digest);
                ib_bkey_addv(k, j.sources);
                return 0;
        }
        if (copy_plan(&j, &plan, err) < 0 || ib_copy_plan_key(plan, hex, err) < 0)
                return -EIO;
        ib_bkey_add(k, "content");
        ib_bkey_add(k, hex);
        return 0;
}

static int exec_copy(struct build *b, struct bstage *s, const struct ib_plan_step *st, struct ib_err **err)
{
        _cleanup_(copy_job_release) struct copy_job j = { 0 };
        _cleanup_(ib_copy_plan_freep) struct ib_copy_plan *plan = NULL;
        _cleanup_free_ char *layer = NULL;
        _cleanup_close_ int lfd = -1;
        int r;

        if (ib_build_extract(b, s, err) < 0)
                return -EIO;
        r = copy_prepare(b, s, st, false, &j, err);
        if (r == 0)
                r = copy_plan(&j, &plan, err);
        if (r == 0) {
                if (s->pending) {
                        layer = ib_strdup(s->pending);
                } else if (b->o->single_snapshot && s == &b->st[b->plan->target]) {
                        r = pending_dirs(b, s, err);
                        layer = r == 0 ? ib_strdup(s->pending) : NULL;
                } else {
                        layer = new_layer_dir(b, "copy", err);
                        r = layer ? 0 : -EIO;
                }
        }
        if (r == 0) {
                lfd = open(layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                r = lfd < 0 ? ib_err_set(err, errno, "open `%s`", layer) : ib_copy_plan_apply(plan, lfd, err);
        }
        if (r == 0) {
                const struct ib_copy_stats *cs = ib_copy_plan_stats(plan);
                for (char **p = cs->warnings; p && *p; p++)
                        ib_log(IB_LOG_WARN, "%s:%u: %s", b->df->path, st->in->line, *p);
                if (s->pending)
                        add_history(b, s, st, true);
                else
                        r = commit_layer(b, s, st, layer, err);
        }
        if (r < 0 && layer && !s->pending) {
                struct ib_err *e2 = NULL;
                (void) ib_rm_rf(layer, &e2);
                ib_err_free(&e2);
        }
        return r;
}

/* WORKDIR creates the directory when the image lacks it (a layer with just
 * that dir, parents reproduced from the lower layers), as BuildKit does. */
static int exec_workdir(struct build *b, struct bstage *s, const struct ib_plan_step *st, struct ib_err **err)
{
        _cleanup_free_ char *path = resolve_path(s, st->words && st->words[0] ? st->words[0] : "/");
        _cleanup_free_ char *layer = NULL;
        struct stat lst;
        size_t n = strlen(path);

        if (n > 1 && path[n - 1] == '/')
                path[n - 1] = '\0';
        ib_image_config_set_str(&s->cfg->config.working_dir, path);
        if (strcmp(path, "/") == 0)
                return add_history(b, s, st, true), 0;
        _cleanup_(ib_layer_stack_freep) struct ib_layer_stack *stack = NULL;
        if (ib_build_extract(b, s, err) < 0 || stage_stack(s, &stack, err) < 0)
                return -EIO;
        if (stack_stat(stack, path, &lst) == 0 && S_ISDIR(lst.st_mode))
                return add_history(b, s, st, true), 0;
        layer = s->pending ? ib_strdup(s->pending) : new_layer_dir(b, "workdir", err);
        if (!layer)
                return -EIO;
        /* Each component: reproduce an existing parent's metadata, or make it 0755 root. */
        {
                _cleanup_free_ char *copy = ib_strdup(path);
                struct ib_buf cur = IB_BUF_INIT;
                char *save = NULL;
                int r = 0;
                for (char *c = strtok_r(copy, "/", &save); c && r == 0; c = strtok_r(NULL, "/", &save)) {
                        ib_buf_addc(&cur, '/');
                        ib_buf_adds(&cur, c);
                        _cleanup_free_ char *p = ib_path_join(layer, cur.buf);
                        struct stat ps;
                        bool have = stack_stat(stack, cur.buf, &ps) == 0 &&
                                    S_ISDIR(ps.st_mode);
                        if (mkdir(p, have ? (ps.st_mode & 07777) : 0755) < 0 && errno != EEXIST) {
                                r = ib_err_set(err, errno, "mkdir `%s`", cur.buf);
                                break;
                        }
                        if (have) {
                                struct timespec ts[2] = { ps.st_atim, ps.st_mtim };
                                (void) lchown(p, ps.st_uid, ps.st_gid);
                                (void) chmod(p, ps.st_mode & 07777);
                                (void) utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW);
                        }
                }
                ib_buf_release(&cur);
                if (r < 0)
                        return r;
        }
        /* Parents got new children: put their mtimes back (innermost first). */
        for (char *slash = strrchr(path, '/'); slash && slash != path; slash = strrchr(path, '/')) {
                *slash = '\0';
                struct stat ps;
                if (stack_stat(stack, path, &ps) == 0) {
                        _cleanup_free_ char *p = ib_path_join(layer, path);
                        struct timespec ts[2] = { ps.st_atim, ps.st_mtim };
                        (void) utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW);
                }
        }
        if (s->pending)
                return add_history(b, s, st, true), 0;
        return commit_layer(b, s, st, layer, err);
}

/* -------------------------------------------------------------- metadata */

static int exec_meta(struct build *b, struct bstage *s, const struct ib_plan_step *st, struct ib_err **err)
{
        struct ib_run_config *c = &s->cfg->config;
        const struct ib_df_instr *in = st->in;

        switch (in->kind) {
        case IB_DF_ENV:
                for (size_t i = 0; i < st->n_kv; i++)
                        ib_image_config_env_set(s->cfg, st->kv[i].key, st->kv[i].value ? st->kv[i].value : "");
                break;
        case IB_DF_ARG:
                return 0;       /* build-time only: no config change, no history (BuildKit) */
        case IB_DF_LABEL:
                for (size_t i = 0; i < st->n_kv; i++)
                        ib_image_config_label_set(s->cfg, st->kv[i].key, st->kv[i].value ? st->kv[i].value : "");
                break;
        case IB_DF_EXPOSE:
                for (char **w = st->words; w && *w; w++)
                        if (ib_image_config_expose(s->cfg, *w, err) < 0)
                                return -EINVAL;
                break;
        case IB_DF_VOLUME:
                for (char **w = st->words; w && *w; w++)
                        ib_image_config_volume_add(s->cfg, *w);
                break;
        case IB_DF_USER:
                ib_image_config_set_str(&c->user, st->words ? st->words[0] : NULL);
                break;
        case IB_DF_CMD:
                ib_image_config_set_strv(&c->cmd, st->words);
                s->cmd_set = true;
                break;
        case IB_DF_ENTRYPOINT:
                ib_image_config_set_strv(&c->entrypoint, st->words);
                if (!s->cmd_set)
                        ib_image_config_set_strv(&c->cmd, NULL);        /* Docker resets the inherited CMD */
                break;
        case IB_DF_SHELL:
                ib_image_config_set_strv(&c->shell, st->words);
                break;
        case IB_DF_STOPSIGNAL:
                ib_image_config_set_str(&c->stop_signal, st->words ? st->words[0] : NULL);
                break;
        case IB_DF_HEALTHCHECK: {
                struct ib_healthcheck h = { .test = st->words, .interval = st->hc[0], .timeout = st->hc[1],
                                            .start_period = st->hc[2], .start_interval = st->hc[3],
                                            .retries = st->hc_retries };
                ib_image_config_set_healthcheck(s->cfg, &h);
                break;
        }
        case IB_DF_ONBUILD:
                if (in->trigger)
                        ib_strv_push(&c->onbuild, in->trigger);
                break;
        case IB_DF_MAINTAINER:
                ib_image_config_set_str(&s->cfg->author, in->text);
                break;
        default:
                return ib_err_set(err, EINVAL, "unexpected instruction");
        }
        add_history(b, s, st, true);
        return 0;
}

/* ------------------------------------------------------------------ stages */

static int stage_from(struct build *b, struct bstage *s, struct ib_err **err)
{
        const struct ib_plan_stage *ps = s->ps;

        if (ps->base_stage >= 0) {
                const struct bstage *from = &b->st[ps->base_stage];
                stage_copy_from(s, from->cfg, from->layers, from->n_layers);
                memcpy(s->key, from->key, sizeof(s->key));
                /* its ONBUILD triggers are in the plan as this stage's first steps */
                ib_image_config_set_strv(&s->cfg->config.onbuild, NULL);
                return 0;
        }
        if (strcasecmp(ps->base, "scratch") == 0) {
                struct ib_bkey k;
                ib_bkey_start(&k, "scratch");
                ib_bkey_add(&k, ps->platform);
                ib_bkey_finish(&k, s->key);
                s->cfg = ib_image_config_new();
                ib_image_config_env_set(s->cfg, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
                if (ps->platform) {
                        struct ib_platform p;
                        if (ib_platform_parse(ps->platform, &p, err) < 0)
                                return -EINVAL;
                        ib_image_config_set_str(&s->cfg->os, p.os);
                        ib_image_config_set_str(&s->cfg->architecture, p.arch);
                        ib_image_config_set_str(&s->cfg->variant, p.variant[0] ? p.variant : NULL);
                }
                return 0;
        }
        struct base_image *bi;
        if (ib_build_resolve_base(b, ps->base, ps->platform ? ps->platform : b->o->platform, &bi, err) < 0)
                return -EIO;
        stage_copy_from(s, bi->cfg, bi->layers, bi->n_layers);
        {
                struct ib_bkey k;
                ib_bkey_start(&k, "image");
                ib_bkey_add(&k, bi->manifest_digest);
                ib_bkey_finish(&k, s->key);
        }
        if (!ib_image_config_env_get(s->cfg, "PATH"))
                ib_image_config_env_set(s->cfg, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        return 0;
}

/* The base image's ONBUILD triggers run right after FROM (Docker, BuildKit):
 * they are parsed as a Dockerfile of their own, "FROM <base>" plus the
 * triggers, planned with the same build args and the base's Env, and run on
 * this stage.  They do not carry over to images built from this one. */
static char **trigger_env_cb(const char *image, const char *platform, void *ud)
{
        const struct bstage *s = ud;
        (void) image;
        (void) platform;
        return ib_strv_dup(s->cfg->config.env);
}

static int run_step(struct build *b, struct bstage *s, const struct ib_plan_step *st, size_t idx, size_t total,
                    bool trigger, struct ib_err **err);

static int run_base_triggers(struct build *b, struct bstage *s, struct ib_err **err)
{
        _cleanup_strv_ char **triggers = s->cfg->config.onbuild;
        _cleanup_(ib_dockerfile_freep) struct ib_dockerfile *df = NULL;
        _cleanup_(ib_plan_freep) struct ib_plan *plan = NULL;
        _cleanup_buf_ struct ib_buf text = IB_BUF_INIT;
        _cleanup_free_ char *origin = NULL;
        const struct ib_plan_stage *saved = s->ps;
        struct ib_plan_opts po = { .build_args = b->o->build_args, .base_env = trigger_env_cb,
                                   .base_env_userdata = s };
        int r = 0;

        s->cfg->config.onbuild = NULL;
        if (!triggers || !triggers[0])
                return 0;
        ib_buf_addf(&text, "FROM %s\n", s->ps->base);
        for (char **t = triggers; *t; t++) {
                if (ib_startswith(*t, "ONBUILD") || ib_startswith(*t, "FROM") || ib_startswith(*t, "MAINTAINER"))
                        return ib_err_set(err, EINVAL, "base image ONBUILD trigger `%s` is not allowed", *t);
                ib_buf_addf(&text, "%s\n", *t);
        }
        origin = ib_strdupf("%s (ONBUILD of %s)", b->df->path, s->ps->base);
        if (ib_dockerfile_parse(origin, text.buf, text.len, &df, err) < 0 || ib_plan_new(df, &po, &plan, err) < 0)
                return -EINVAL;
        s->ps = &plan->stages[0];
        for (size_t i = 0; i < plan->stages[0].n_steps && r == 0; i++)
                r = run_step(b, s, &plan->stages[0].steps[i], 1, saved->n_steps + 1, true, err);
        s->ps = saved;
        return r;
}

static int exec_step(struct build *b, struct bstage *s, const struct ib_plan_step *st, struct ib_err **err)
{
        switch (st->in->kind) {
        case IB_DF_RUN:
                return exec_run(b, s, st, err);
        case IB_DF_COPY:
        case IB_DF_ADD:
                return exec_copy(b, s, st, err);
        case IB_DF_WORKDIR:
                return exec_workdir(b, s, st, err);
        default:
                return exec_meta(b, s, st, err);
        }
}

static void step_line(const struct build *b, const struct bstage *s, size_t i, size_t n, const struct ib_df_instr *in,
                      bool onbuild, bool cached)
{
        (void) b;
        ib_build_step_start(s, i, n, in, onbuild, cached);
}

/* The cache key of a step (see src/build-cache.c for what goes in). */
static int step_key(struct build *b, struct bstage *s, const struct ib_plan_step *st, char hex[IB_SHA256_HEX],
                    struct ib_err **err)
{
        const struct ib_df_instr *in = st->in;
        struct ib_bkey k;
        int r = 0;

        ib_bkey_start(&k, s->key);
        ib_bkey_add(&k, ib_df_kind_name(in->kind));
        ib_bkey_add(&k, in->kind == IB_DF_ONBUILD ? in->trigger : NULL);
        ib_bkey_addv(&k, st->words);
        /* An ARG's value counts where it is used (a RUN's env, an expansion),
         * not where it is declared: Docker's "miss upon first usage". */
        const struct ib_df_kv *kv = in->kind == IB_DF_ARG ? in->kv : st->kv;
        size_t n_kv = in->kind == IB_DF_ARG ? in->n_kv : st->n_kv;
        for (size_t i = 0; i < n_kv; i++) {
                ib_bkey_add(&k, kv[i].key);
                ib_bkey_add(&k, kv[i].value);
        }
        for (size_t i = 0; i < st->n_flags; i++) {
                ib_bkey_add(&k, st->flags[i].name);
                ib_bkey_add(&k, st->flags[i].value);
        }
        for (size_t i = 0; st->heredoc_bodies && i < in->n_heredocs; i++)
                ib_bkey_add(&k, st->heredoc_bodies[i]);
        if (in->kind == IB_DF_RUN || in->kind == IB_DF_COPY || in->kind == IB_DF_ADD || in->kind == IB_DF_WORKDIR) {
                char lvl[64];
                snprintf(lvl, sizeof(lvl), "%s/%d/%d/%lld", ib_compression_name(b->o->compression),
                         b->o->compression_level, (int) b->o->reproducible, (long long) b->o->source_date_epoch);
                ib_bkey_add(&k, lvl);
                ib_bkey_add(&k, s->cfg->config.working_dir);
        }
        if (in->kind == IB_DF_RUN) {
                _cleanup_strv_ char **env = run_env(b, s, st);
                ib_bkey_addv(&k, env);
                ib_bkey_add(&k, s->cfg->config.user);
                ib_bkey_add(&k, b->o->network == IB_NET_NONE ? "none" : "host");
        }
        if (in->kind == IB_DF_COPY || in->kind == IB_DF_ADD)
                r = copy_key(b, s, st, &k, err);
        ib_bkey_finish(&k, hex);
        return r;
}

/* Which steps go to the registry cache: RUN (--cache-run-layers), COPY/ADD
 * (--cache-copy-layers), and every metadata step (tiny, and they keep the
 * history times the same on every machine). */
static bool remote_cacheable(const struct build *b, const struct ib_plan_step *st)
{
        if (!b->o->cache_repo)
                return false;
        switch (st->in->kind) {
        case IB_DF_RUN:
                return b->o->cache_run_layers;
        case IB_DF_COPY:
        case IB_DF_ADD:
                return b->o->cache_copy_layers;
        default:
                return true;
        }
}

/* A hit: the step's effect without running it. */
static int replay_step(struct build *b, struct bstage *s, const struct ib_plan_step *st,
                       const struct ib_cache_entry *ce, struct ib_err **err)
{
        const struct ib_df_instr *in = st->in;

        if (in->kind == IB_DF_WORKDIR) {
                _cleanup_free_ char *path = resolve_path(s, st->words && st->words[0] ? st->words[0] : "/");
                size_t n = strlen(path);
                if (n > 1 && path[n - 1] == '/')
                        path[n - 1] = '\0';
                ib_image_config_set_str(&s->cfg->config.working_dir, path);
        } else if (in->kind != IB_DF_RUN && in->kind != IB_DF_COPY && in->kind != IB_DF_ADD) {
                return exec_meta(b, s, st, err);
        }
        if (!ce->has_layer) {
                add_history(b, s, st, true);
                return 0;
        }
        _cleanup_free_ char *by = created_by(st);
        struct ib_layer_desc d = { .diff_id = ce->layer.diff_id, .digest = ce->layer.digest,
                                   .size = (uint64_t) ce->layer.size, .media_type = ce->layer.media_type };
        stage_add_layer(s, &d, ib_snapshot_has_layer(b->store, d.diff_id) ?
                               ib_snapshot_layer_path(b->store, d.diff_id) : NULL);
        free(s->layers[s->n_layers - 1].l.media_type);
        s->layers[s->n_layers - 1].l.media_type = ib_strdup(ce->layer.media_type);
        ib_image_config_add_layer(s->cfg, d.diff_id, b->step_created, by, NULL);
        return 0;
}

static int run_step(struct build *b, struct bstage *s, const struct ib_plan_step *st, size_t idx, size_t total,
                    bool trigger, struct ib_err **err)
{
        bool cacheable = !(b->o->single_snapshot && s == &b->st[b->plan->target]);
        struct ib_cache_entry ce = { 0 };
        char key[IB_SHA256_HEX];
        size_t layers_before = s->n_layers;
        double t = now_s();
        bool hit = false;
        int r;

        b->step_created = b->created;
        if (cacheable) {
                r = step_key(b, s, st, key, err);
                if (r < 0)
                        return step_err(b, st, err);
                hit = !b->o->no_cache && ib_cache_get(b, key, &ce) == 0;
                if (!hit && !b->o->no_cache && remote_cacheable(b, st)) {
                        struct ib_err *e2 = NULL;
                        hit = ib_cache_remote_get(b, key, &ce, &e2) == 0;
                        if (e2)
                                ib_log(IB_LOG_WARN, "cache lookup %.12s failed, ignoring: %s", key, e2->msg);
                        ib_err_free(&e2);
                        if (hit && ib_cache_put(b, key, ce.created, ce.has_layer ? &ce.layer : NULL, &e2) < 0)
                                ib_err_free(&e2);       /* only a local shortcut for next time */
                }
        }
        if (hit)
                b->step_created = ce.created;
        step_line(b, s, idx, total, st->in, trigger, hit);
        r = hit ? replay_step(b, s, st, &ce, err) : exec_step(b, s, st, err);
        if (r == 0 && cacheable && !hit) {
                struct ib_err *e2 = NULL;
                /* a failed cache write costs a rebuild later, never this build */
                const struct ib_layer *nl = s->n_layers > layers_before ? &s->layers[s->n_layers - 1].l : NULL;
                if (ib_cache_put(b, key, b->step_created, nl, &e2) < 0)
                        ib_log(IB_LOG_WARN, "cache entry %.12s not written, ignoring: %s", key, e2->msg);
                ib_err_free(&e2);
                if (remote_cacheable(b, st) && !b->o->no_push_cache) {
                        _cleanup_free_ char *by = created_by(st);
                        /* pushed in the background; a failed cache push is a warning, never a failed build */
                        if (ib_cache_remote_put_async(b, key, b->step_created, by, nl, &e2) < 0)
                                ib_log(IB_LOG_WARN, "%s", e2->msg);
                        ib_err_free(&e2);
                }
        }
        if (r == 0 && cacheable)
                memcpy(s->key, key, sizeof(key));
        if (r == 0 && s == &b->st[b->plan->target])
                snprintf(b->last_created, sizeof(b->last_created), "%s", b->step_created);
        ib_cache_entry_release(&ce);
        if (r == -ECHILD)
                return r;
        if (r < 0)
                return step_err(b, st, err);
        if (b->res) {
                b->res->steps++;
                b->res->cached += hit;
        }
        ib_build_step_end(s, idx, total, st->in, trigger, hit, now_s() - t,
                          s->n_layers > layers_before ? &s->layers[s->n_layers - 1].l : NULL);
        return 0;
}

/* ------------------------------------------------- keys before execution */

/* A step's effect on what later keys see (the config), without running it. */
static int sim_step(struct build *b, struct bstage *s, const struct ib_plan_step *st, struct ib_err **err)
{
        switch (st->in->kind) {
        case IB_DF_RUN:
        case IB_DF_COPY:
        case IB_DF_ADD:
                return 0;
        case IB_DF_WORKDIR: {
                _cleanup_free_ char *path = resolve_path(s, st->words && st->words[0] ? st->words[0] : "/");
                size_t n = strlen(path);
                if (n > 1 && path[n - 1] == '/')
                        path[n - 1] = '\0';
                ib_image_config_set_str(&s->cfg->config.working_dir, path);
                return 0;
        }
        default:
                return exec_meta(b, s, st, err);
        }
}

/* Walk one planned stage on a copy of its config, adding the keys of the steps
 * that go to the registry cache and miss the local one.  Returns whether the
 * stage's final key is known (a later stage may build on it). */
static bool sim_stage(struct build *b, struct bstage *s, const bool *known, char (**keys)[IB_SHA256_HEX],
                      size_t *n, size_t *alloc)
{
        const struct ib_plan_stage *ps = s->ps;
        struct ib_err *e = NULL;

        if ((ps->base_stage >= 0 && !known[ps->base_stage]) || stage_from(b, s, &e) < 0)
                goto unknown;
        if (ps->base_stage < 0 && s->cfg->config.onbuild && s->cfg->config.onbuild[0])
                return false;   /* the base's triggers come first: keys from here on are found as we go */
        for (size_t i = 0; i < ps->n_steps; i++) {
                const struct ib_plan_step *st = &ps->steps[i];
                struct ib_cache_entry ce = { 0 };
                char key[IB_SHA256_HEX];
                if ((st->from_stage >= 0 && !known[st->from_stage]) || step_key(b, s, st, key, &e) < 0)
                        goto unknown;
                if (remote_cacheable(b, st) && ib_cache_get(b, key, &ce) < 0) {
                        ib_grow(keys, alloc, *n + 1, sizeof(**keys));
                        memcpy((*keys)[(*n)++], key, sizeof(key));
                }
                ib_cache_entry_release(&ce);
                if (sim_step(b, s, st, &e) < 0)
                        goto unknown;
                memcpy(s->key, key, sizeof(key));
        }
        return true;
unknown:
        ib_debug("cache keys of stage %s: known up to a step that needs the build (%s)", s->label,
                 e ? e->msg : "a stage before it");
        ib_err_free(&e);
        return false;
}

/* Registry cache: compute every key that is known without executing anything
 * (each depends on the previous one, the base digest and the hashed COPY
 * sources) and look them all up at once, before the first step runs.  The
 * stages are walked on throw-away copies swapped in for b->st. */
static void lookup_ahead(struct build *b)
{
        struct bstage *real = b->st, *sim = ib_calloc(b->df->n_stages, sizeof(*sim));
        _cleanup_free_ bool *known = ib_calloc(b->df->n_stages, sizeof(bool));
        _cleanup_free_ char (*keys)[IB_SHA256_HEX] = NULL;
        size_t n = 0, alloc = 0;
        struct ib_err *e = NULL;

        b->st = sim;
        b->step_created = b->created;
        for (size_t i = 0; i < b->plan->n_stages; i++) {
                const struct ib_plan_stage *ps = &b->plan->stages[i];
                struct bstage *s = &sim[ps->index];
                s->ps = ps;
                s->label = real[ps->index].label;
                if (b->o->single_snapshot && ps->index == b->plan->target)
                        continue;       /* not cached */
                known[ps->index] = sim_stage(b, s, known, &keys, &n, &alloc);
        }
        b->st = real;
        for (size_t i = 0; i < b->df->n_stages; i++)
                stage_free(&sim[i]);
        free(sim);
        if (ib_cache_lookup_ahead(b, keys, n, &e) < 0)
                ib_log(IB_LOG_WARN, "cache lookups: %s, ignoring", e->msg);
        ib_err_free(&e);
}

int ib_build_stage(struct build *b, struct bstage *s, struct ib_err **err)
{
        const struct ib_plan_stage *ps = s->ps;
        size_t total = ps->n_steps + 1;
        double t0 = now_s();

        step_line(b, s, 1, total, ps->st->from, false, false);
        if (stage_from(b, s, err) < 0)
                return ib_err_wrap(err, "%s:%u: FROM %s", b->df->path, ps->st->from->line, ps->base);
        if (ps->base_stage < 0) {
                int r = run_base_triggers(b, s, err);
                if (r == -ECHILD)
                        return r;
                if (r < 0)
                        return ib_err_wrap(err, "%s:%u: FROM %s", b->df->path, ps->st->from->line, ps->base);
        }
        ib_build_step_end(s, 1, total, ps->st->from, false, false, now_s() - t0, NULL);
        for (size_t i = 0; i < ps->n_steps; i++) {
                const struct ib_plan_step *st = &ps->steps[i];
                double t = now_s();
                int r;

                if (cancelled(b))
                        return ib_err_set(err, ECANCELED, "build interrupted");
                r = run_step(b, s, st, i + 2, total, st->onbuild, err);
                if (r < 0)
                        return r;
                (void) t;
        }
        if (s->pending) {
                /* --single-snapshot: the stage's changes become one layer. */
                struct ib_plan_step whole = { .in = ps->st->from };
                struct ib_export_opts eo = IB_EXPORT_OPTS_INIT;
                struct ib_layer_desc d = { 0 };
                char *published = NULL;
                struct ib_err *e2 = NULL;
                (void) whole;
                if (!dir_is_empty(s->pending)) {
                        eo.compression = b->o->compression;
                        eo.level = b->o->compression_level;
                        eo.reproducible = b->o->reproducible;
                        eo.source_date_epoch = b->o->source_date_epoch;
                        double t = ib_now();
                        if (ib_snapshot_export(b->store, s->pending, &eo, &d, err) < 0 ||
                            ib_snapshot_publish_dir(b->store, s->pending, d.diff_id, &published, err) < 0) {
                                ib_layer_desc_release(&d);
                                return -EIO;
                        }
                        snapshot_times(b, t, &d);
                        stage_add_layer(s, &d, published);
                        ib_image_config_add_layer(s->cfg, d.diff_id, b->created, "single snapshot # imgbuild", NULL);
                        ib_layer_desc_release(&d);
                        if (b->res)
                                b->res->layers++;
                }
                (void) ib_rm_rf(s->pending_work, &e2);
                ib_err_free(&e2);
        }
        s->done = true;
        ib_build_stage_time(b, s, now_s() - t0);
        ib_log(IB_LOG_DEBUG, "stage %s done in %.3fs", s->label, now_s() - t0);
        return 0;
}

/* ------------------------------------------------------------------ plan */

static char **base_env_cb(const char *image, const char *platform, void *ud)
{
        struct build *b = ud;
        struct base_image *bi;

        if (strcasecmp(image, "scratch") == 0 || b->deferred)
                return NULL;
        if (ib_build_resolve_base(b, image, platform ? platform : b->o->platform, &bi, &b->deferred) < 0)
                return NULL;
        return ib_strv_dup(bi->cfg->config.env);
}

static int make_plan(struct build *b, struct ib_err **err)
{
        struct ib_plan_opts po = {
                .target = b->o->target,
                .build_args = b->o->build_args,
                .target_platform = b->o->platform,
                .base_env = base_env_cb,
                .base_env_userdata = b,
        };
        int r;

        r = ib_dockerfile_parse(b->o->dockerfile, b->o->dockerfile_text, b->o->dockerfile_len, &b->df, err);
        if (r < 0)
                return r;
        r = ib_plan_new(b->df, &po, &b->plan, err);
        if (b->deferred) {
                ib_err_free(err);
                *err = IB_TAKE_PTR(b->deferred);
                return ib_err_code(*err);
        }
        if (r < 0)
                return r;
        if (b->plan->unused_build_args && b->plan->unused_build_args[0]) {
                struct ib_buf names = IB_BUF_INIT;
                join_words(&names, b->plan->unused_build_args);
                ib_log(IB_LOG_WARN, "build arguments not consumed by any ARG: %s", names.buf);
                ib_buf_release(&names);
        }
        return 0;
}

static int commit_image(struct build *b, struct ib_err **err)
{
        struct bstage *s = &b->st[b->plan->target];
        _cleanup_free_ struct ib_layer *layers = ib_calloc(s->n_layers ? s->n_layers : 1, sizeof(*layers));

        for (char **l = b->o->labels; l && *l; l++) {
                const char *eq = strchr(*l, '=');
                _cleanup_free_ char *k = eq ? ib_strndup(*l, (size_t) (eq - *l)) : ib_strdup(*l);
                ib_image_config_label_set(s->cfg, k, eq ? eq + 1 : "");
        }
        /* The time of the final stage's last step: a fully cached rebuild keeps
         * the first build's times, and so its image digest. */
        ib_image_config_set_str(&s->cfg->created, b->last_created[0] ? b->last_created : b->created);
        for (size_t i = 0; i < s->n_layers; i++)
                layers[i] = s->layers[i].l;             /* borrowed */
        if (ib_build_fetch_blobs(b, s->layers, s->n_layers, err) < 0)
                return -EIO;
        return ib_image_commit(b->store, s->cfg, layers, s->n_layers, b->o->format, &b->res->image, err);
}

static int write_outputs(struct build *b, struct ib_err **err)
{
        const struct ib_build_opts *o = b->o;
        const struct ib_image *img = b->res->image;

        if (o->oci_layout_path) {
                _cleanup_free_ char *dir = NULL, *tag = NULL;
                ib_oci_layout_ref_split(o->oci_layout_path, &dir, &tag);
                if (ib_output_oci_layout(b->store, img, dir, tag, err) < 0)
                        return ib_err_wrap(err, "--oci-layout-path %s", o->oci_layout_path);
        }
        if (o->tar_path) {
                _cleanup_strv_ char **tags = NULL;
                for (char **t = o->tags; t && *t; t++) {
                        _cleanup_free_ char *repo = NULL, *tag = NULL;
                        if (ib_reference_normalize(*t, &repo, &tag, err) < 0)
                                return -EINVAL;
                        _cleanup_free_ char *full = ib_strdupf("%s:%s", repo, tag);
                        ib_strv_push(&tags, full);
                }
                if (ib_output_docker_archive(b->store, img, o->tar_path, tags, err) < 0)
                        return ib_err_wrap(err, "--tar-path %s", o->tar_path);
        }
        if (o->digest_file && ib_output_digest_file(o->digest_file, img, err) < 0)
                return -EIO;
        if (o->metadata_file && ib_output_metadata_file(o->metadata_file, img, o->tags, err) < 0)
                return -EIO;
        if (o->image_name_with_digest_file &&
            ib_output_name_digest_file(o->image_name_with_digest_file, img, o->tags, false, err) < 0)
                return -EIO;
        if (o->image_name_tag_with_digest_file &&
            ib_output_name_digest_file(o->image_name_tag_with_digest_file, img, o->tags, true, err) < 0)
                return -EIO;
        return 0;
}

static void build_free(struct build *b)
{
        ib_cache_push_wait(b);
        ib_cache_ahead_free(b);
        ib_build_stop_agents(b, 0);
        for (size_t i = 0; b->df && i < b->df->n_stages; i++)
                if (b->st)
                        stage_free(&b->st[i]);
        free(b->st);
        ib_build_free_bases(b);
        for (size_t i = 0; i < b->n_named; i++) {
                free(b->named[i].name);
                free(b->named[i].spec);
                if (b->named[i].ctx)
                        ib_context_free(b->named[i].ctx);
        }
        free(b->named);
        if (b->ctx)
                ib_context_free(b->ctx);
        ib_ignore_free(b->ignore);
        ib_plan_free(b->plan);
        ib_dockerfile_free(b->df);
        ib_registry_free(b->reg);
        ib_err_free(&b->deferred);
        ib_sandbox_cleanup();
        ib_store_close(b->store);
}

int ib_build_run(const struct ib_build_opts *o, struct ib_build_result *res, struct ib_err **err)
{
        struct build b = { .o = o, .res = res };
        _cleanup_strv_ char **labels = NULL;
        double t0 = now_s();
        int r;

        memset(res, 0, sizeof(*res));
        b.created_epoch = o->reproducible ? o->source_date_epoch : (int64_t) time(NULL);
        ib_time_rfc3339(b.created_epoch, b.created, sizeof(b.created));
        r = ib_store_open(o->root, &b.store, err);
        if (r == 0)
                r = ib_build_parse_contexts(&b, err);
        if (r == 0)
                r = make_plan(&b, err);
        if (r == 0)
                r = ib_context_open(o->context, b.store, &b.ctx, err);
        if (r == 0) {
                const char *cdir = ib_context_path(b.ctx);
                _cleanup_free_ char *used = NULL;
                r = ib_ignore_load(cdir, o->dockerfile, &b.ignore, &used, err);
                if (r == 0 && used)
                        ib_log(IB_LOG_DEBUG, "ignore file: %s", used);
        }
        if (r < 0)
                goto out;
        b.st = ib_calloc(b.df->n_stages, sizeof(*b.st));
        for (size_t i = 0; i < b.plan->n_stages; i++) {
                const struct ib_plan_stage *ps = &b.plan->stages[i];
                struct bstage *s = &b.st[ps->index];
                s->ps = ps;
                s->label = ps->st->name ? ps->st->name : NULL;
                if (!s->label) {
                        static char names[64][24];
                        snprintf(names[ps->index % 64], sizeof(names[0]), "stage-%zu", ps->index);
                        s->label = names[ps->index % 64];
                }
        }
        if (r == 0 && o->cache_repo && !o->no_cache)
                lookup_ahead(&b);
        if (r == 0)
                r = ib_build_stages(&b, err);
        if (r == 0)
                r = ib_context_save_index(b.ctx, err);
        if (r == 0)
                r = commit_image(&b, err);
        if (r == 0)
                r = write_outputs(&b, err);
        res->seconds = now_s() - t0;   /* the verb emits the summary, after its pushes */
out:
        build_free(&b);
        return r;
}
