/* src/build-jobs.c - building independent stages at the same time (--jobs).
 *
 * A stage is ready when every stage it needs (its FROM, COPY --from, RUN
 * --mount from=) is done.  With --jobs 1 stages are built in order, in this
 * process.  Otherwise each ready stage is built in a forked child of this
 * process (already inside the user namespace, sharing the store, which is
 * safe for concurrent writers) and hands its result back over a pipe as one
 * JSON object: the stage's config, its layers, its cache key and counters.
 * A failing stage stops the others (SIGTERM, which cancels their RUN) and its
 * error is the build's. */
#include "src/build-internal.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/wait.h>
#include <yajl/yajl_tree.h>

/* Dockerfile stage index named by @from (a name or a number), or -1. */
static long stage_index(const struct build *b, const char *from)
{
        for (size_t i = 0; i < b->df->n_stages; i++) {
                const struct ib_df_stage *ds = &b->df->stages[i];
                char num[24];
                snprintf(num, sizeof(num), "%zu", i);
                if ((ds->name && !strcasecmp(ds->name, from)) || !strcmp(num, from))
                        return (long) i;
        }
        return -1;
}

static bool stage_ready(const struct build *b, const struct ib_plan_stage *ps)
{
        if (ps->base_stage >= 0 && !b->st[ps->base_stage].done)
                return false;
        for (size_t i = 0; i < ps->n_steps; i++) {
                const struct ib_plan_step *st = &ps->steps[i];
                if (st->from_stage >= 0 && !b->st[st->from_stage].done)
                        return false;
                for (size_t f = 0; f < st->n_flags; f++) {
                        const char *v = st->flags[f].value, *p;
                        if (strcmp(st->flags[f].name, "mount") || !v || !(p = strstr(v, "from=")))
                                continue;
                        _cleanup_free_ char *from = ib_strndup(p + 5, strcspn(p + 5, ","));
                        long idx = stage_index(b, from);
                        if (idx >= 0 && !b->st[idx].done)
                                return false;
                }
        }
        return true;
}

/* ---------------------------------------------------------- the result */

static void add_opt_str(struct ib_buf *j, const char *key, const char *v)
{
        ib_buf_addf(j, ",\"%s\":", key);
        if (v)
                ib_json_add_str(j, v);
        else
                ib_buf_adds(j, "null");
}

static void result_json(const struct build *b, const struct bstage *s, int r, const struct ib_err *e,
                        struct ib_buf *j)
{
        _cleanup_buf_ struct ib_buf cfg = IB_BUF_INIT;
        const struct ib_build_result *res = b->res;

        ib_buf_addf(j, "{\"code\":%d,\"run_status\":%d,\"errnum\":%d", r, res->run_status, e ? e->errnum : 0);
        add_opt_str(j, "msg", e ? e->msg : NULL);
        ib_buf_addf(j, ",\"counts\":[%u,%u,%u,%u,%u]", res->steps, res->layers, res->extracted, res->runs, res->cached);
        ib_build_times_json(res, j);
        if (r == 0) {
                ib_image_config_serialize(s->cfg, &cfg);
                add_opt_str(j, "config", cfg.buf);
                add_opt_str(j, "key", s->key);
                add_opt_str(j, "last", b->last_created[0] ? b->last_created : NULL);
                ib_buf_addf(j, ",\"cmd_set\":%s,\"layers\":[", s->cmd_set ? "true" : "false");
                for (size_t i = 0; i < s->n_layers; i++) {
                        const struct blayer *l = &s->layers[i];
                        ib_buf_adds(j, i ? ",{" : "{");
                        ib_buf_addf(j, "\"size\":%lld", (long long) l->l.size);
                        add_opt_str(j, "mediaType", l->l.media_type);
                        add_opt_str(j, "digest", l->l.digest);
                        add_opt_str(j, "diffID", l->l.diff_id);
                        add_opt_str(j, "dir", l->dir);
                        ib_buf_addc(j, '}');
                }
                ib_buf_addc(j, ']');
        }
        ib_buf_adds(j, "}");
}

static const char *jstr(yajl_val v, const char *k)
{
        return ib_json_get_str(v, k);
}

static long long jint(yajl_val v, const char *k)
{
        yajl_val x = ib_json_get(v, k);
        return x && YAJL_IS_INTEGER(x) ? YAJL_GET_INTEGER(x) : 0;
}

/* Take a child's result into @s; returns the child's code (its error in *err). */
static int result_apply(struct build *b, struct bstage *s, const struct ib_buf *out, struct ib_err **err)
{
        _cleanup_json_ yajl_val v = ib_json_parse(out->buf, out->len, "stage result", err);
        yajl_val counts, layers;
        int code;

        if (!v)
                return ib_err_wrap(err, "stage %s", s->label);
        code = (int) jint(v, "code");
        counts = ib_json_get(v, "counts");
        if (counts && YAJL_IS_ARRAY(counts) && counts->u.array.len == 5) {
                unsigned *dst[] = { &b->res->steps, &b->res->layers, &b->res->extracted, &b->res->runs, &b->res->cached };
                for (size_t i = 0; i < 5; i++)
                        *dst[i] += (unsigned) YAJL_GET_INTEGER(counts->u.array.values[i]);
        }
        ib_build_times_apply(b, s, v);
        if (code < 0) {
                /* the first failure's status wins; stages stopped after it report 0 */
                if (!b->res->run_status)
                        b->res->run_status = (int) jint(v, "run_status");
                ib_err_set(err, (int) jint(v, "errnum"), "%s", jstr(v, "msg") ? jstr(v, "msg") : "stage failed");
                return code;
        }
        const char *cfg = jstr(v, "config");
        if (!cfg || ib_image_config_parse(cfg, strlen(cfg), &s->cfg, err) < 0)
                return ib_err_wrap(err, "stage %s: result", s->label);
        snprintf(s->key, sizeof(s->key), "%s", jstr(v, "key") ? jstr(v, "key") : "");
        if (jstr(v, "last"))
                snprintf(b->last_created, sizeof(b->last_created), "%s", jstr(v, "last"));
        s->cmd_set = YAJL_IS_TRUE(ib_json_get(v, "cmd_set"));
        layers = ib_json_get(v, "layers");
        for (size_t i = 0; layers && YAJL_IS_ARRAY(layers) && i < layers->u.array.len; i++) {
                yajl_val l = layers->u.array.values[i];
                ib_grow(&s->layers, &s->alloc_layers, s->n_layers + 1, sizeof(*s->layers));
                s->layers[s->n_layers++] = (struct blayer) {
                        .l = { .media_type = ib_strdup(jstr(l, "mediaType")), .digest = ib_strdup(jstr(l, "digest")),
                               .diff_id = ib_strdup(jstr(l, "diffID")), .size = jint(l, "size"),
                               .uncompressed_size = -1 },
                        .dir = jstr(l, "dir") ? ib_strdup(jstr(l, "dir")) : NULL,
                };
        }
        s->done = true;
        return 0;
}

/* ------------------------------------------------------------ the jobs */

struct job {
        pid_t pid;
        int fd;
        struct bstage *s;
        struct ib_buf out;
};

static int start_job(struct build *b, struct bstage *s, struct job *j, struct ib_err **err)
{
        int p[2];

        if (pipe2(p, O_CLOEXEC) < 0)
                return ib_err_set(err, errno, "pipe");
        fflush(stdout);
        fflush(stderr);
        j->pid = fork();
        if (j->pid < 0) {
                close(p[0]);
                close(p[1]);
                return ib_err_set(err, errno, "fork a stage");
        }
        if (j->pid == 0) {
                struct ib_err *e = NULL;
                struct ib_buf out = IB_BUF_INIT;
                int r;
                close(p[0]);
                /* counts from here on are this stage's: the parent adds them up */
                b->res->run_status = 0;
                b->res->steps = b->res->layers = b->res->extracted = b->res->runs = b->res->cached = 0;
                ib_build_times_reset(b->res);
                b->last_created[0] = '\0';
                size_t agents = b->n_agents;
                ib_cache_push_forget(b);                /* this child pushes its own steps */
                r = ib_build_stage(b, s, &e);
                ib_cache_push_wait(b);
                ib_build_stop_agents(b, agents);        /* the ones this child started */
                result_json(b, s, r, e, &out);
                fflush(stdout);
                fflush(stderr);
                _exit(ib_write_all(p[1], out.buf, out.len) < 0 ? 1 : 0);
        }
        close(p[1]);
        j->fd = p[0];
        j->s = s;
        j->out = (struct ib_buf) IB_BUF_INIT;
        return 0;
}

static void stop_jobs(struct job *jobs, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (jobs[i].pid > 0)
                        kill(jobs[i].pid, SIGTERM);
}

int ib_build_stages(struct build *b, struct ib_err **err)
{
        const struct ib_plan *plan = b->plan;
        unsigned jobs_max = b->o->jobs ? b->o->jobs : 1;
        _cleanup_free_ struct job *jobs = NULL;
        size_t running = 0, left = plan->n_stages;
        struct ib_err *first = NULL;
        int r = 0;

        if (jobs_max == 1 || plan->n_stages == 1) {
                for (size_t i = 0; i < plan->n_stages && r == 0; i++)
                        r = ib_build_stage(b, &b->st[plan->stages[i].index], err);
                return r;
        }
        jobs = ib_calloc(jobs_max, sizeof(*jobs));
        bool *started = ib_calloc(plan->n_stages, sizeof(bool));
        while (left) {
                /* Only one stage can run now (a chain like the article's two
                 * stages): build it here, a fork would only cost time. */
                if (!running && !first) {
                        size_t ready = 0, which = 0;
                        for (size_t i = 0; i < plan->n_stages; i++)
                                if (!started[i] && stage_ready(b, &plan->stages[i])) {
                                        ready++;
                                        which = i;
                                }
                        if (ready == 1) {
                                started[which] = true;
                                left--;
                                r = ib_build_stage(b, &b->st[plan->stages[which].index], err);
                                if (r < 0) {
                                        free(started);
                                        return r;
                                }
                                continue;
                        }
                }
                /* start what is ready, in build order */
                for (size_t i = 0; i < plan->n_stages && running < jobs_max && !first; i++) {
                        struct bstage *s = &b->st[plan->stages[i].index];
                        if (started[i] || !stage_ready(b, &plan->stages[i]))
                                continue;
                        size_t slot = 0;
                        while (jobs[slot].pid > 0)
                                slot++;
                        if (start_job(b, s, &jobs[slot], &first) < 0)
                                break;
                        started[i] = true;
                        running++;
                }
                if (!running)
                        break;          /* an error stopped the starts, and nothing runs */
                /* collect output until a job ends */
                struct pollfd pfd[64];
                size_t map[64], np = 0;
                for (size_t k = 0; k < jobs_max && np < 64; k++)
                        if (jobs[k].pid > 0) {
                                pfd[np] = (struct pollfd) { .fd = jobs[k].fd, .events = POLLIN };
                                map[np++] = k;
                        }
                if (poll(pfd, np, -1) < 0 && errno != EINTR) {
                        ib_err_set(&first, errno, "poll");
                        break;
                }
                for (size_t q = 0; q < np; q++) {
                        struct job *j = &jobs[map[q]];
                        char buf[65536];
                        ssize_t n;
                        int st;
                        if (!(pfd[q].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        n = read(j->fd, buf, sizeof(buf));
                        if (n > 0) {
                                ib_buf_add(&j->out, buf, (size_t) n);
                                continue;
                        }
                        if (n < 0 && errno == EINTR)
                                continue;
                        close(j->fd);
                        while (waitpid(j->pid, &st, 0) < 0 && errno == EINTR)
                                ;
                        j->pid = 0;
                        running--;
                        left--;
                        struct ib_err *e = NULL;
                        int jr = j->out.len ? result_apply(b, j->s, &j->out, &e)
                                            : ib_err_set(&e, EIO, "stage %s: its process died (status %d)",
                                                         j->s->label, st);
                        ib_buf_release(&j->out);
                        if (jr < 0 && !first) {
                                first = e;
                                r = jr;
                                stop_jobs(jobs, jobs_max);
                        } else {
                                ib_err_free(&e);
                        }
                }
        }
        free(started);
        /* after an error: wait for the stopped ones */
        for (size_t k = 0; k < jobs_max; k++)
                if (jobs[k].pid > 0) {
                        close(jobs[k].fd);
                        waitpid(jobs[k].pid, NULL, 0);
                        ib_buf_release(&jobs[k].out);
                }
        if (first) {
                ib_err_free(err);
                *err = first;
                return r < 0 ? r : ib_err_code(first);
        }
        return 0;
}
