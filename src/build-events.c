/* src/build-events.c - what the build engine tells its renderer: step
 * start/end events, per-phase seconds, per-stage seconds, transfer progress,
 * the final summary, and the relay that turns a RUN's output into lines.
 * Nothing here prints; the verb's renderer (src/progress.c) does. */
#include "src/build-internal.h"
#include <fcntl.h>
#include <pthread.h>
#include <yajl/yajl_tree.h>

/* The fields a step's start and end events share. */
static void step_fill(struct ib_event *ev, const struct bstage *s, size_t i, size_t n, const struct ib_df_instr *in,
                      bool onbuild, bool cached)
{
        ev->u.step.stage = s->label;
        ev->u.step.index = i;
        ev->u.step.total = n;
        ev->u.step.kind = ib_df_kind_name(in->kind);
        ev->u.step.instruction = in->raw ? in->raw : ev->u.step.kind;
        ev->u.step.onbuild = onbuild;
        ev->u.step.cached = cached;
}

void ib_build_step_start(const struct bstage *s, size_t i, size_t n, const struct ib_df_instr *in, bool onbuild,
                         bool cached)
{
        struct ib_event ev = { .kind = IB_EV_STEP_START, .level = IB_LOG_INFO };

        step_fill(&ev, s, i, n, in, onbuild, cached);
        ib_event_emit(&ev);
}

void ib_build_step_end(const struct bstage *s, size_t i, size_t n, const struct ib_df_instr *in, bool onbuild,
                       bool cached, double seconds, const struct ib_layer *layer)
{
        struct ib_event ev = { .kind = IB_EV_STEP_END, .level = IB_LOG_INFO };

        step_fill(&ev, s, i, n, in, onbuild, cached);
        ev.u.step.seconds = seconds;
        if (layer) {
                ev.u.step.layer_digest = layer->digest;
                ev.u.step.layer_size = layer->size > 0 ? (uint64_t) layer->size : 0;
        }
        ib_event_emit(&ev);
}

/* ------------------------------------------------------------ the times */

void ib_build_phase_add(struct build *b, enum ib_phase p, double since)
{
        if (b->res && (unsigned) p < IB_PHASE_COUNT)
                b->res->phases[p] += ib_now() - since;
}

static void add_stage_time(struct ib_build_result *r, const char *name, double seconds)
{
        size_t alloc = r->n_stage_times;        /* grown one at a time: a handful of stages */
        ib_grow(&r->stage_times, &alloc, r->n_stage_times + 1, sizeof(*r->stage_times));
        r->stage_times[r->n_stage_times++] = (struct ib_stage_time) { .name = ib_strdup(name), .seconds = seconds };
}

void ib_build_stage_time(struct build *b, const struct bstage *s, double seconds)
{
        if (b->res)
                add_stage_time(b->res, s->label, seconds);
}

void ib_build_times_json(const struct ib_build_result *r, struct ib_buf *j)
{
        ib_buf_adds(j, ",\"phases\":[");
        for (size_t i = 0; i < IB_PHASE_COUNT; i++)
                ib_buf_addf(j, "%s%.6f", i ? "," : "", r->phases[i]);
        ib_buf_addf(j, "],\"stage_seconds\":%.6f", r->n_stage_times ? r->stage_times[r->n_stage_times - 1].seconds : 0.0);
}

static double jnum(yajl_val v)
{
        return v && YAJL_IS_DOUBLE(v) ? YAJL_GET_DOUBLE(v) : v && YAJL_IS_INTEGER(v) ? (double) YAJL_GET_INTEGER(v) : 0;
}

void ib_build_times_apply(struct build *b, const struct bstage *s, const struct yajl_val_s *cv)
{
        yajl_val v = (yajl_val) cv;
        yajl_val ph = ib_json_get(v, "phases");

        if (!b->res)
                return;
        for (size_t i = 0; ph && YAJL_IS_ARRAY(ph) && i < ph->u.array.len && i < IB_PHASE_COUNT; i++)
                b->res->phases[i] += jnum(ph->u.array.values[i]);
        if (ib_json_get(v, "stage_seconds"))
                add_stage_time(b->res, s->label, jnum(ib_json_get(v, "stage_seconds")));
}

void ib_build_times_reset(struct ib_build_result *r)
{
        memset(r->phases, 0, sizeof(r->phases));
        for (size_t i = 0; i < r->n_stage_times; i++)
                free((char *) r->stage_times[i].name);
        free(r->stage_times);
        r->stage_times = NULL;
        r->n_stage_times = 0;
}

/* ------------------------------------------------------------ transfers */

void ib_xfer_progress(void *op, enum ib_progress_event pe, const char *digest, uint64_t done, uint64_t total)
{
        struct ib_event ev = { .kind = IB_EV_TRANSFER, .level = IB_LOG_INFO };
        static const enum ib_xfer_state map[] = {
                [IB_PROGRESS_START] = IB_XFER_START, [IB_PROGRESS_BYTES] = IB_XFER_BYTES,
                [IB_PROGRESS_DONE] = IB_XFER_DONE, [IB_PROGRESS_EXISTS] = IB_XFER_EXISTS,
                [IB_PROGRESS_MOUNTED] = IB_XFER_MOUNTED, [IB_PROGRESS_RETRY] = IB_XFER_RETRY,
        };

        if ((unsigned) pe >= IB_ELEMENTSOF(map))
                return;
        /* the client reports manifest bodies as "manifest": not a blob, no bar */
        if (pe == IB_PROGRESS_BYTES && (!digest || !ib_startswith(digest, "sha256:")))
                return;
        ev.u.xfer.op = op ? op : "pull";
        ev.u.xfer.state = map[pe];
        ev.u.xfer.digest = digest;
        ev.u.xfer.done = done;
        ev.u.xfer.total = total;
        if (pe == IB_PROGRESS_RETRY)
                ev.level = IB_LOG_WARN;
        ib_event_emit(&ev);
}

/* ------------------------------------------------------------ the summary */

void ib_build_summary_emit(struct ib_build_result *r, double push_seconds)
{
        struct ib_event ev = { .kind = IB_EV_SUMMARY, .level = IB_LOG_INFO };
        const struct ib_image *img = r->image;
        uint64_t size = 0;

        r->phases[IB_PHASE_PUSH] += push_seconds;
        size += img->manifest_size > 0 ? (uint64_t) img->manifest_size : 0;
        size += img->config_size > 0 ? (uint64_t) img->config_size : 0;
        for (size_t i = 0; i < img->n_layers; i++)
                size += img->layers[i].size > 0 ? (uint64_t) img->layers[i].size : 0;
        ev.u.summary.digest = img->manifest_digest;
        ev.u.summary.size = size;
        ev.u.summary.layers = (unsigned) img->n_layers;
        ev.u.summary.new_layers = r->layers;
        ev.u.summary.steps = r->steps;
        ev.u.summary.cached = r->cached;
        ev.u.summary.runs = r->runs;
        ev.u.summary.extracted = r->extracted;
        ev.u.summary.seconds = r->seconds + push_seconds;
        ev.u.summary.stages = r->stage_times;
        ev.u.summary.n_stages = r->n_stage_times;
        ev.u.summary.phases = r->phases;
        ib_event_emit(&ev);
}

/* ------------------------------------------------------------ RUN output */

#define RELAY_LINE_MAX 8192     /* longer lines are cut into pieces of this size */

/* @lines: one or more lines joined by '\n', without the last newline. */
static void relay_emit(const struct ib_relay *r, struct ib_buf *lines)
{
        struct ib_event ev = { .kind = IB_EV_OUTPUT, .level = IB_LOG_INFO };

        if (!lines->len)
                return;
        ib_buf_truncate(lines, lines->len - 1);
        ev.u.output.stage = r->stage;
        ev.u.output.source_line = r->source_line;
        ev.u.output.text = lines->buf;
        ib_event_emit(&ev);
        ib_buf_reset(lines);
}

/* The complete lines of each read go out as one event (one write by the
 * renderer, not one per line: a RUN printing 300k lines would otherwise pay
 * a syscall and a lock per line); the partial last line waits for more. */
static void *relay_thread(void *arg)
{
        struct ib_relay *r = arg;
        struct ib_buf lines = IB_BUF_INIT, part = IB_BUF_INIT;
        char buf[16384];

        for (;;) {
                ssize_t got = read(r->rfd, buf, sizeof(buf));
                if (got < 0 && errno == EINTR)
                        continue;
                if (got <= 0)
                        break;
                for (ssize_t i = 0; i < got; i++) {
                        if (buf[i] != '\n' && part.len < RELAY_LINE_MAX) {
                                ib_buf_addc(&part, buf[i]);
                                continue;
                        }
                        ib_buf_add(&lines, part.buf, part.len);
                        ib_buf_addc(&lines, '\n');
                        ib_buf_reset(&part);
                        if (buf[i] != '\n')
                                ib_buf_addc(&part, buf[i]);
                }
                relay_emit(r, &lines);
        }
        if (part.len) {
                ib_buf_add(&lines, part.buf, part.len);
                ib_buf_addc(&lines, '\n');
        }
        relay_emit(r, &lines);
        ib_buf_release(&lines);
        ib_buf_release(&part);
        return NULL;
}

int ib_relay_start(struct ib_relay *r, const char *stage, unsigned source_line, struct ib_err **err)
{
        int p[2];
        pthread_t th;

        *r = (struct ib_relay) { .rfd = -1, .wfd = -1, .stage = stage, .source_line = source_line };
        /* CLOEXEC: the sandbox dup2()s the write end onto 1 and 2, which clears
         * the flag there; no other copy may reach the RUN, or EOF never comes. */
        if (pipe2(p, O_CLOEXEC) < 0)
                return ib_err_set(err, errno, "RUN output pipe");
        r->rfd = p[0];
        r->wfd = p[1];
        int e = pthread_create(&th, NULL, relay_thread, r);
        if (e != 0) {
                close(p[0]);
                close(p[1]);
                return ib_err_set(err, e, "RUN output relay thread");
        }
        r->thread = th;
        r->started = true;
        return 0;
}

void ib_relay_stop(struct ib_relay *r)
{
        if (!r->started)
                return;
        close(r->wfd);
        pthread_join(r->thread, NULL);
        close(r->rfd);
        r->started = false;
}
