/* src/progress.c - the renderers of ib_event and of ib_log messages: plain
 * lines, a terminal with bars redrawn in place, or one JSON object per line
 * (see src/cli.h for what each looks like and man/imgbuild.1 OUTPUT for the
 * JSON schema).  Every event is written with one write(2) so the lines of
 * forked stage builders (--jobs) never interleave mid-line. */
#include "lib/ib.h"
#include "src/cli.h"
#include <sys/ioctl.h>
#include <time.h>

struct ib_output ib_output;

enum renderer { R_PLAIN, R_TTY, R_JSON };
static enum renderer renderer;
static bool color;
static pid_t owner;             /* the process that draws the live area */

/* A blob in flight: a bar in tty mode, the last emit time in json mode. */
struct xfer {
        char op[8];
        char digest[80];
        uint64_t done, total;
        double start, last;
};
#define XFER_MAX 64
#define BARS_SHOWN 8
static struct xfer xfers[XFER_MAX];
static size_t n_xfers;
static unsigned live_lines;     /* lines of bars on the screen below the last permanent line */
static double last_draw;
static bool step_open;          /* the last permanent line is a step's start line */
static char step_text[320];     /* that line, for rewriting it with its time */
static size_t step_width;       /* its width on the screen */

static const char *const level_names[] = { "error", "warn", "info", "debug", "trace" };

/* ------------------------------------------------------------ helpers */

static const char *sgr(const char *code)
{
        return color ? code : "";
}
#define C_RESET sgr("\033[0m")
#define C_BOLD sgr("\033[1m")
#define C_DIM sgr("\033[2m")
#define C_RED sgr("\033[31m")
#define C_GREEN sgr("\033[32m")
#define C_YELLOW sgr("\033[33m")
#define C_CYAN sgr("\033[36m")

static void flush_buf(struct ib_buf *b)
{
        if (b->len)
                (void) ib_write_all(STDERR_FILENO, b->buf, b->len);
        ib_buf_reset(b);
}

static void fmt_size(uint64_t n, char *out, size_t cap)
{
        static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
        double v = (double) n;
        size_t u = 0;

        while (v >= 1000 && u + 1 < IB_ELEMENTSOF(units)) {
                v /= 1000;
                u++;
        }
        if (u == 0)
                snprintf(out, cap, "%llu B", (unsigned long long) n);
        else
                snprintf(out, cap, "%.1f %s", v, units[u]);
}

static unsigned term_width(void)
{
        struct winsize ws;
        if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
                return ws.ws_col;
        return 80;
}

/* "CACHED [stage 2/5] (ONBUILD) RUN make" (today's plain step line). */
static void step_line(const struct ib_event *ev, bool colored, char *out, size_t cap)
{
        const char *raw = ev->u.step.instruction;
        size_t n = strlen(raw);
        bool c = colored && color;

        snprintf(out, cap, "%s%s%s%s[%s %zu/%zu]%s %s%.*s%s", c && ev->u.step.cached ? "\033[36m" : "",
                 ev->u.step.cached ? "CACHED " : "", c && ev->u.step.cached ? "\033[0m" : "", c ? "\033[1m" : "",
                 ev->u.step.stage, ev->u.step.index, ev->u.step.total, c ? "\033[0m" : "",
                 ev->u.step.onbuild ? "(ONBUILD) " : "", (int) (n > 200 ? 200 : n), raw, n > 200 ? "..." : "");
}

static bool makes_layer(const char *kind)
{
        return !strcmp(kind, "RUN") || !strcmp(kind, "COPY") || !strcmp(kind, "ADD");
}

static struct xfer *xfer_find(const struct ib_event *ev, bool add)
{
        for (size_t i = 0; i < n_xfers; i++)
                if (!strcmp(xfers[i].digest, ev->u.xfer.digest) && !strcmp(xfers[i].op, ev->u.xfer.op))
                        return &xfers[i];
        if (!add || n_xfers == XFER_MAX)
                return NULL;
        struct xfer *x = &xfers[n_xfers++];
        *x = (struct xfer) { .start = ib_now() };
        snprintf(x->op, sizeof(x->op), "%s", ev->u.xfer.op);
        snprintf(x->digest, sizeof(x->digest), "%s", ev->u.xfer.digest);
        return x;
}

static void xfer_drop(struct xfer *x)
{
        size_t i = (size_t) (x - xfers);
        memmove(&xfers[i], &xfers[i + 1], (n_xfers - i - 1) * sizeof(*x));
        n_xfers--;
}

/* The short digest of a blob: the first 12 hex digits. */
static const char *short_digest(const char *d)
{
        const char *hex = strchr(d, ':');
        return hex ? hex + 1 : d;
}

/* ------------------------------------------------------------ summary text */

static void summary_text(const struct ib_event *ev, struct ib_buf *b)
{
        const typeof(ev->u.summary) *s = &ev->u.summary;
        char size[32];

        fmt_size(s->size, size, sizeof(size));
        ib_buf_addf(b, "%sbuilt %s in %.3fs%s (%u steps, %u cached; %u layers new, %u base layers extracted, %u RUNs)\n",
                    C_GREEN, s->digest, s->seconds, C_RESET, s->steps, s->cached, s->new_layers, s->extracted, s->runs);
        ib_buf_addf(b, "image %s: %s, %u layers", s->digest, size, s->layers);
        for (size_t i = 0; i < s->n_stages; i++)
                ib_buf_addf(b, "%s%s %.3fs", i ? ", " : "; stages: ", s->stages[i].name, s->stages[i].seconds);
        ib_buf_addc(b, '\n');
        if (ib_log_level_max >= IB_LOG_DEBUG) {
                ib_buf_adds(b, "debug: phases:");
                for (size_t i = 0; i < IB_PHASE_COUNT; i++)
                        ib_buf_addf(b, " %s %.3fs", ib_phase_name((enum ib_phase) i), s->phases[i]);
                ib_buf_addc(b, '\n');
        }
}

static void log_text(const struct ib_event *ev, struct ib_buf *b)
{
        static const char *const prefix[] = { "imgbuild: ", "warning: ", "", "debug: ", "trace: " };
        const char *c = ev->level == IB_LOG_ERROR ? C_RED : ev->level == IB_LOG_WARN ? C_YELLOW
                      : ev->level >= IB_LOG_DEBUG ? C_DIM : "";

        ib_buf_addf(b, "%s%s%s%s\n", c, prefix[ev->level], ev->u.log.msg, *c ? C_RESET : "");
}

static void start_text(const struct ib_event *ev, struct ib_buf *b)
{
        ib_buf_addf(b, "imgbuild %s: privilege mode %s; store %s; %ld CPUs\n", ev->u.start.version,
                    ev->u.start.mode_detail, ev->u.start.store, ev->u.start.cpus);
}

/* ------------------------------------------------------------ plain */

static void render_plain(const struct ib_event *ev, struct ib_buf *b)
{
        char line[320];

        switch (ev->kind) {
        case IB_EV_BUILD_START:
                start_text(ev, b);
                break;
        case IB_EV_STEP_START:
                step_line(ev, false, line, sizeof(line));
                ib_buf_addf(b, "%s\n", line);
                break;
        case IB_EV_STEP_END:
                if (!ev->u.step.cached && makes_layer(ev->u.step.kind))
                        ib_buf_addf(b, "  => %.3fs\n", ev->u.step.seconds);
                break;
        case IB_EV_OUTPUT:
                ib_buf_addf(b, "%s\n", ev->u.output.text);
                break;
        case IB_EV_TRANSFER:
                if (ev->u.xfer.state == IB_XFER_RETRY)
                        ib_buf_addf(b, "warning: %s %s: attempt failed, retrying\n", ev->u.xfer.op, ev->u.xfer.digest);
                else if (ev->u.xfer.state != IB_XFER_BYTES && ib_log_level_max >= IB_LOG_DEBUG)
                        ib_buf_addf(b, "debug: %s %s %s %llu/%llu\n", ev->u.xfer.op, ib_xfer_state_name(ev->u.xfer.state),
                                    ev->u.xfer.digest, (unsigned long long) ev->u.xfer.done,
                                    (unsigned long long) ev->u.xfer.total);
                break;
        case IB_EV_SUMMARY:
                summary_text(ev, b);
                break;
        case IB_EV_LOG:
                log_text(ev, b);
                break;
        }
}

/* ------------------------------------------------------------ tty */

/* Only the process that installed the renderer draws bars and rewrites
 * lines: a --jobs child shares the terminal but not the cursor's story. */
static bool live_ok(void)
{
        if (getpid() == owner)
                return true;
        live_lines = 0;
        n_xfers = 0;
        step_open = false;
        return false;
}

static void erase_live(struct ib_buf *b)
{
        if (live_lines)
                ib_buf_addf(b, "\033[%uA\r\033[J", live_lines);
        live_lines = 0;
}

static void bar_line(const struct xfer *x, double now, unsigned width, struct ib_buf *b)
{
        char done[32], total[32], rate[32], line[512], bar[32];
        double el = now - x->start;
        double r = el > 0.2 ? (double) x->done / el : 0;
        int cells = 20, fill = x->total ? (int) ((double) x->done * cells / (double) x->total) : 0;
        int n = 0;

        fmt_size(x->done, done, sizeof(done));
        fmt_size(x->total, total, sizeof(total));
        fmt_size((uint64_t) r, rate, sizeof(rate));
        for (int i = 0; i < cells; i++)
                bar[i] = i < fill ? '#' : '-';
        bar[cells] = '\0';
        n = snprintf(line, sizeof(line), "  %-4s %.12s [%s] %s / %s", x->op, short_digest(x->digest), bar, done,
                     x->total ? total : "?");
        if (r > 0 && n > 0 && (size_t) n < sizeof(line))
                n += snprintf(line + n, sizeof(line) - (size_t) n, "  %s/s", rate);
        if (r > 0 && x->total > x->done && n > 0 && (size_t) n < sizeof(line)) {
                unsigned long eta = (unsigned long) ((double) (x->total - x->done) / r);
                snprintf(line + n, sizeof(line) - (size_t) n, "  ETA %lu:%02lu", eta / 60, eta % 60);
        }
        /* never wrap: a wrapped line would break the count of lines to erase */
        ib_buf_addf(b, "%.*s\n", (int) (width - 1), line);
}

static void draw_live(struct ib_buf *b)
{
        double now = ib_now();
        unsigned width = term_width();
        size_t shown = n_xfers < BARS_SHOWN ? n_xfers : BARS_SHOWN;

        for (size_t i = 0; i < shown; i++)
                bar_line(&xfers[i], now, width, b);
        live_lines = (unsigned) shown;
        if (n_xfers > shown) {
                ib_buf_addf(b, "  ... and %zu more\n", n_xfers - shown);
                live_lines++;
        }
        last_draw = now;
}

/* Lines that stay go above the bars; a step line is no longer the last one. */
static void begin_permanent(struct ib_buf *b)
{
        erase_live(b);
        step_open = false;
}

static void permanent(struct ib_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void permanent(struct ib_buf *b, const char *fmt, ...)
{
        va_list ap;

        begin_permanent(b);
        va_start(ap, fmt);
        ib_buf_vaddf(b, fmt, ap);
        va_end(ap);
}

static void tty_step_end(const struct ib_event *ev, struct ib_buf *b, bool live)
{
        if (ev->u.step.cached)
                return;
        if (live && step_open) {
                /* nothing came after the step's line: put the time on it */
                erase_live(b);
                ib_buf_addf(b, "\033[1A\r\033[K%s  %s%.3fs%s\n", step_text, C_DIM, ev->u.step.seconds, C_RESET);
                step_open = false;
                return;
        }
        if (makes_layer(ev->u.step.kind) || !strcmp(ev->u.step.kind, "FROM"))
                permanent(b, "  %s=> %.3fs%s\n", C_DIM, ev->u.step.seconds, C_RESET);
}

static void tty_xfer(const struct ib_event *ev, struct ib_buf *b, bool live)
{
        struct xfer *x;
        char size[32];

        if (ev->u.xfer.state == IB_XFER_RETRY) {
                permanent(b, "%swarning: %s %s: attempt failed, retrying%s\n", C_YELLOW, ev->u.xfer.op,
                          ev->u.xfer.digest, C_RESET);
        } else if (ev->u.xfer.state == IB_XFER_START || ev->u.xfer.state == IB_XFER_BYTES) {
                x = xfer_find(ev, ev->u.xfer.state == IB_XFER_START);  /* bytes alone make no bar */
                if (x) {
                        x->done = ev->u.xfer.done;
                        if (ev->u.xfer.total)
                                x->total = ev->u.xfer.total;
                }
                /* at most 10 redraws a second; a new bar shows at once */
                if (live && (ev->u.xfer.state == IB_XFER_START || ib_now() - last_draw >= 0.1)) {
                        erase_live(b);
                        draw_live(b);
                }
                return;
        } else {
                x = xfer_find(ev, false);
                if (ev->u.xfer.state == IB_XFER_DONE) {
                        double el = x ? ib_now() - x->start : 0;
                        fmt_size(ev->u.xfer.total ? ev->u.xfer.total : ev->u.xfer.done, size, sizeof(size));
                        permanent(b, "  %s%s %.12s: %s in %.1fs%s\n", C_DIM,
                                  !strcmp(ev->u.xfer.op, "push") ? "pushed" : "pulled", short_digest(ev->u.xfer.digest),
                                  size, el, C_RESET);
                } else if (ev->u.xfer.state == IB_XFER_MOUNTED) {
                        permanent(b, "  %smounted %.12s%s\n", C_DIM, short_digest(ev->u.xfer.digest), C_RESET);
                } else {
                        erase_live(b);
                }
                if (x)
                        xfer_drop(x);
        }
        if (live)
                draw_live(b);
}

static void render_tty(const struct ib_event *ev, struct ib_buf *b)
{
        bool live = live_ok();
        _cleanup_buf_ struct ib_buf t = IB_BUF_INIT;

        switch (ev->kind) {
        case IB_EV_BUILD_START:
                start_text(ev, &t);
                ib_buf_truncate(&t, t.len - 1);
                permanent(b, "%s%s%s\n", C_DIM, t.buf, C_RESET);
                break;
        case IB_EV_STEP_START:
                step_line(ev, false, step_text, sizeof(step_text));
                step_width = strlen(step_text);
                step_line(ev, true, step_text, sizeof(step_text));
                permanent(b, "%s\n", step_text);
                /* a line that wrapped cannot be rewritten with one cursor-up */
                step_open = live && !ev->u.step.cached && step_width + 12 < term_width();
                break;
        case IB_EV_STEP_END:
                tty_step_end(ev, b, live);
                break;
        case IB_EV_OUTPUT:
                begin_permanent(b);
                for (const char *p = ev->u.output.text, *nl; p; p = nl ? nl + 1 : NULL) {
                        nl = strchr(p, '\n');
                        ib_buf_addf(b, "    %s%.*s%s\n", C_DIM, (int) (nl ? (size_t) (nl - p) : strlen(p)), p, C_RESET);
                }
                break;
        case IB_EV_TRANSFER:
                tty_xfer(ev, b, live);
                return;
        case IB_EV_SUMMARY:
                n_xfers = 0;
                summary_text(ev, &t);
                permanent(b, "%s", t.buf);
                break;
        case IB_EV_LOG:
                log_text(ev, &t);
                permanent(b, "%s", t.buf);
                break;
        }
        if (live && n_xfers)
                draw_live(b);
}

/* ------------------------------------------------------------ json */

static void json_head(const struct ib_event *ev, const char *name, struct ib_buf *b)
{
        struct timespec ts;
        struct tm tm;
        char when[40];

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        ib_buf_addf(b, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"event\":\"%s\"", when, ts.tv_nsec / 1000000,
                    level_names[ev->level], name);
}

static void json_str(struct ib_buf *b, const char *key, const char *v)
{
        ib_buf_addf(b, ",\"%s\":", key);
        if (v)
                ib_json_add_str(b, v);
        else
                ib_buf_adds(b, "null");
}

static void json_step(const struct ib_event *ev, struct ib_buf *b)
{
        const typeof(ev->u.step) *s = &ev->u.step;

        json_head(ev, ev->kind == IB_EV_STEP_START ? "step_start" : "step_end", b);
        json_str(b, "stage", s->stage);
        ib_buf_addf(b, ",\"index\":%zu,\"total\":%zu", s->index, s->total);
        json_str(b, "instruction", s->kind);
        json_str(b, "text", s->instruction);
        ib_buf_addf(b, ",\"onbuild\":%s,\"cache\":\"%s\"", s->onbuild ? "true" : "false", s->cached ? "CACHED" : "built");
        if (ev->kind == IB_EV_STEP_END) {
                ib_buf_addf(b, ",\"seconds\":%.3f", s->seconds);
                json_str(b, "layer", s->layer_digest);
                ib_buf_addf(b, ",\"layer_size\":%llu", (unsigned long long) s->layer_size);
        }
}

static bool json_xfer(const struct ib_event *ev, struct ib_buf *b)
{
        if (ev->u.xfer.state == IB_XFER_BYTES) {
                /* at most 4 a second per blob; start and end always */
                struct xfer *x = xfer_find(ev, false);
                double now = ib_now();
                if (!x || now - x->last < 0.25)
                        return false;
                x->last = now;
        } else if (ev->u.xfer.state != IB_XFER_START && ev->u.xfer.state != IB_XFER_RETRY) {
                struct xfer *x = xfer_find(ev, false);
                if (x)
                        xfer_drop(x);
        } else {
                struct xfer *x = xfer_find(ev, true);
                if (x)
                        x->last = ib_now();
        }
        json_head(ev, "progress", b);
        json_str(b, "op", ev->u.xfer.op);
        json_str(b, "state", ib_xfer_state_name(ev->u.xfer.state));
        json_str(b, "digest", ev->u.xfer.digest);
        ib_buf_addf(b, ",\"done\":%llu,\"total\":%llu", (unsigned long long) ev->u.xfer.done,
                    (unsigned long long) ev->u.xfer.total);
        return true;
}

static void json_summary(const struct ib_event *ev, struct ib_buf *b)
{
        const typeof(ev->u.summary) *s = &ev->u.summary;

        json_head(ev, "summary", b);
        json_str(b, "digest", s->digest);
        ib_buf_addf(b, ",\"size\":%llu,\"layers\":%u,\"new_layers\":%u,\"steps\":%u,\"cached\":%u,\"runs\":%u,"
                    "\"extracted\":%u,\"seconds\":%.3f,\"stages\":[", (unsigned long long) s->size, s->layers,
                    s->new_layers, s->steps, s->cached, s->runs, s->extracted, s->seconds);
        for (size_t i = 0; i < s->n_stages; i++) {
                ib_buf_adds(b, i ? ",{\"name\":" : "{\"name\":");
                ib_json_add_str(b, s->stages[i].name);
                ib_buf_addf(b, ",\"seconds\":%.3f}", s->stages[i].seconds);
        }
        ib_buf_adds(b, "],\"phases\":{");
        for (size_t i = 0; i < IB_PHASE_COUNT; i++)
                ib_buf_addf(b, "%s\"%s\":%.3f", i ? "," : "", ib_phase_name((enum ib_phase) i), s->phases[i]);
        ib_buf_addc(b, '}');
}

/* One object per line of the batch. */
static void json_output(const struct ib_event *ev, struct ib_buf *b)
{
        _cleanup_buf_ struct ib_buf head = IB_BUF_INIT;

        json_head(ev, "output", &head);
        json_str(&head, "stage", ev->u.output.stage);
        ib_buf_addf(&head, ",\"line\":%u,\"text\":", ev->u.output.source_line);
        for (const char *p = ev->u.output.text, *nl; p; p = nl ? nl + 1 : NULL) {
                nl = strchr(p, '\n');
                ib_buf_add(b, head.buf, head.len);
                ib_json_add_strn(b, p, nl ? (size_t) (nl - p) : strlen(p));
                ib_buf_adds(b, "}\n");
        }
}

static void render_json(const struct ib_event *ev, struct ib_buf *b)
{
        switch (ev->kind) {
        case IB_EV_BUILD_START:
                json_head(ev, "build_start", b);
                json_str(b, "version", ev->u.start.version);
                json_str(b, "mode", ev->u.start.mode);
                json_str(b, "mode_detail", ev->u.start.mode_detail);
                json_str(b, "store", ev->u.start.store);
                ib_buf_addf(b, ",\"cpus\":%ld", ev->u.start.cpus);
                break;
        case IB_EV_STEP_START:
        case IB_EV_STEP_END:
                json_step(ev, b);
                break;
        case IB_EV_OUTPUT:
                json_output(ev, b);
                return;
        case IB_EV_TRANSFER:
                if (!json_xfer(ev, b))
                        return;
                break;
        case IB_EV_SUMMARY:
                json_summary(ev, b);
                break;
        case IB_EV_LOG:
                json_head(ev, ev->level == IB_LOG_ERROR ? "error" : ev->level == IB_LOG_WARN ? "warning" : "log", b);
                json_str(b, "msg", ev->u.log.msg);
                break;
        }
        ib_buf_adds(b, "}\n");
}

/* ------------------------------------------------------------ plumbing */

static void on_event(const struct ib_event *ev, void *ud)
{
        _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;
        (void) ud;

        if (ev->level > ib_log_level_max)
                return;
        if (renderer == R_JSON)
                render_json(ev, &b);
        else if (renderer == R_TTY)
                render_tty(ev, &b);
        else
                render_plain(ev, &b);
        flush_buf(&b);
}

static void on_log(enum ib_log_level lvl, const char *msg, void *ud)
{
        struct ib_event ev = { .kind = IB_EV_LOG, .level = lvl };
        (void) ud;
        ev.u.log.msg = msg;
        ib_event_emit(&ev);
}

/* The usage error message of main.c's helper (which lives with main(),
 * outside the library the unit tests link). */
static int bad_value(const char *verb, const char *what, const char *arg)
{
        fprintf(stderr, "imgbuild: %s%s", verb ? verb : "", verb ? ": " : "");
        fprintf(stderr, "%s, not '%s'", what, arg);
        fprintf(stderr, "\nTry 'imgbuild %s%s--help'.\n", verb ? verb : "", verb ? " " : "");
        return IB_EXIT_USAGE;
}

int ib_output_opt(int opt, const char *arg, const char *verb)
{
        switch (opt) {
        case 'v':
                if (!strcmp(arg, "fatal") || !strcmp(arg, "panic")) {  /* Kaniko's (logrus) levels */
                        ib_log_level_max = IB_LOG_ERROR;
                        return 1;
                }
                if (ib_log_level_parse(arg, &ib_log_level_max) < 0)
                        return bad_value(verb, "-v: expected error, warn, info, debug or trace", arg);
                return 1;
        case IB_OPT_PROGRESS:
                if (!strcmp(arg, "auto"))
                        ib_output.progress = IB_OUT_AUTO;
                else if (!strcmp(arg, "tty"))
                        ib_output.progress = IB_OUT_TTY;
                else if (!strcmp(arg, "plain"))
                        ib_output.progress = IB_OUT_PLAIN;
                else
                        return bad_value(verb, "--progress: expected auto, tty or plain", arg);
                return 1;
        case IB_OPT_LOG_FORMAT:
                if (!strcmp(arg, "text") || !strcmp(arg, "color"))     /* Kaniko's "color": text */
                        ib_output.format = IB_OUT_TEXT;
                else if (!strcmp(arg, "json"))
                        ib_output.format = IB_OUT_JSON;
                else
                        return bad_value(verb, "--log-format: expected text or json", arg);
                return 1;
        default:
                return 0;
        }
}

static bool stderr_is_terminal(void)
{
        const char *term = getenv("TERM");
        return isatty(STDERR_FILENO) && term && *term && strcmp(term, "dumb") != 0;
}

void ib_output_start(void)
{
        const char *nc = getenv("NO_COLOR");

        if (ib_output.format == IB_OUT_JSON)
                renderer = R_JSON;
        else if (ib_output.progress == IB_OUT_TTY ||
                 (ib_output.progress == IB_OUT_AUTO && stderr_is_terminal()))
                renderer = R_TTY;
        else
                renderer = R_PLAIN;
        /* https://no-color.org: present and not empty disables colour */
        color = renderer == R_TTY && !(nc && *nc);
        owner = getpid();
        ib_log_set_handler(on_log, NULL);
        ib_event_set_handler(on_event, NULL);
}

void ib_output_end(void)
{
        _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;

        if (renderer != R_TTY || !live_ok())
                return;
        erase_live(&b);
        n_xfers = 0;
        flush_buf(&b);
}

bool ib_output_wants_lines(void)
{
        return !ib_output.quiet && renderer != R_PLAIN;
}
