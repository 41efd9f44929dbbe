/* tests/unit/test-output.c - the event renderers (src/progress.c) and the
 * RUN output relay (src/build-events.c): what reaches stderr for a given
 * sequence of events, in json, plain and tty mode. */
#include "lib/ib.h"
#include "src/build-internal.h"
#include "src/cli.h"
#include "tests/lib/ib-test.h"
#include <fcntl.h>
#include <yajl/yajl_tree.h>

static int saved_fd = -1;
static char capture_path[4096];

/* Send fd 2 to a fresh file until capture_end. */
static void capture_begin(void)
{
        static unsigned n;
        snprintf(capture_path, sizeof(capture_path), "%s/err-%u", ib_t_tmpdir(), n++);
        int fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        fflush(stderr);
        saved_fd = dup(STDERR_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
}

static char *capture_end(void)
{
        char *text = NULL;
        size_t len = 0;
        struct ib_err *err = NULL;

        fflush(stderr);
        dup2(saved_fd, STDERR_FILENO);
        close(saved_fd);
        if (ib_read_file(capture_path, 1u << 20, &text, &len, &err) < 0) {
                ib_err_free(&err);
                return ib_strdup("");
        }
        return text;
}

static void use(enum ib_out_format f, enum ib_out_progress p)
{
        ib_output.format = f;
        ib_output.progress = p;
        ib_output_start();
}

static void step(enum ib_event_kind k, size_t i, bool cached, double secs)
{
        struct ib_event ev = { .kind = k, .level = IB_LOG_INFO };
        ev.u.step.stage = "build";
        ev.u.step.index = i;
        ev.u.step.total = 3;
        ev.u.step.kind = "RUN";
        ev.u.step.instruction = "RUN make \"all\"";
        ev.u.step.cached = cached;
        ev.u.step.seconds = secs;
        ib_event_emit(&ev);
}

static void xfer(enum ib_xfer_state st, const char *digest, uint64_t done, uint64_t total)
{
        struct ib_event ev = { .kind = IB_EV_TRANSFER, .level = IB_LOG_INFO };
        ev.u.xfer.op = "pull";
        ev.u.xfer.state = st;
        ev.u.xfer.digest = digest;
        ev.u.xfer.done = done;
        ev.u.xfer.total = total;
        ib_event_emit(&ev);
}

static size_t count(const char *hay, const char *needle)
{
        size_t n = 0;
        for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

static void test_json(void)
{
        const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        capture_begin();
        use(IB_OUT_JSON, IB_OUT_AUTO);
        step(IB_EV_STEP_START, 2, false, 0);
        xfer(IB_XFER_BYTES, d, 1, 100);         /* before its start: dropped */
        xfer(IB_XFER_START, d, 0, 100);
        for (int i = 0; i < 50; i++)
                xfer(IB_XFER_BYTES, d, (uint64_t) i, 100);     /* within 0.25 s of the start: dropped */
        xfer(IB_XFER_DONE, d, 100, 100);
        step(IB_EV_STEP_END, 2, false, 1.5);
        ib_log(IB_LOG_WARN, "careful: %s", "\"quoted\"\n");
        _cleanup_free_ char *out = capture_end();

        size_t lines = 0, bad = 0;
        for (char *p = out, *nl; *p; p = nl + 1) {
                nl = strchr(p, '\n');
                if (!nl)
                        break;
                struct ib_err *err = NULL;
                yajl_val v = ib_json_parse(p, (size_t) (nl - p), "line", &err);
                lines++;
                if (!v || !ib_json_get_str(v, "time") || !ib_json_get_str(v, "level") || !ib_json_get_str(v, "event"))
                        bad++;
                if (v)
                        ib_json_free(v);
                ib_err_free(&err);
        }
        IB_OK(lines == 5 && bad == 0, "json: 5 lines, each an object with time, level, event (%zu, %zu bad)", lines, bad);
        IB_OK(count(out, "\"event\":\"progress\"") == 2, "json: start and done only; bytes throttled or before the start");
        IB_OK(strstr(out, "\"event\":\"step_end\"") && strstr(out, "\"seconds\":1.500") && strstr(out, "\"cache\":\"built\""),
              "json: step_end with seconds and cache status");
        IB_OK(strstr(out, "\"event\":\"warning\"") && strstr(out, "\\\"quoted\\\""), "json: a warning, escaped");
}

static void test_plain(void)
{
        capture_begin();
        use(IB_OUT_TEXT, IB_OUT_PLAIN);
        step(IB_EV_STEP_START, 2, true, 0);
        step(IB_EV_STEP_END, 2, true, 0);
        step(IB_EV_STEP_START, 3, false, 0);
        step(IB_EV_STEP_END, 3, false, 0.25);
        xfer(IB_XFER_START, "sha256:aa", 0, 10);
        xfer(IB_XFER_DONE, "sha256:aa", 10, 10);
        ib_log_level_max = IB_LOG_ERROR;
        step(IB_EV_STEP_START, 3, false, 0);    /* -q: info events are dropped */
        ib_log_level_max = IB_LOG_INFO;
        _cleanup_free_ char *out = capture_end();
        IB_STREQ(out, "CACHED [build 2/3] RUN make \"all\"\n[build 3/3] RUN make \"all\"\n  => 0.250s\n",
                 "plain: today's step lines, no bars");
}

static void test_tty(void)
{
        setenv("NO_COLOR", "1", 1);
        capture_begin();
        use(IB_OUT_TEXT, IB_OUT_TTY);
        step(IB_EV_STEP_START, 3, false, 0);
        step(IB_EV_STEP_END, 3, false, 0.25);
        xfer(IB_XFER_START, "sha256:00112233445566778899", 0, 2000000);
        xfer(IB_XFER_DONE, "sha256:00112233445566778899", 2000000, 2000000);
        _cleanup_free_ char *out = capture_end();
        IB_OK(strstr(out, "\033[1A\r\033[K[build 3/3] RUN make \"all\"  0.250s\n") != NULL,
              "tty: the step line is rewritten with its time");
        IB_OK(strstr(out, "  pull 001122334455 [--------------------] 0 B / 2.0 MB\n") != NULL, "tty: a bar");
        IB_OK(strstr(out, "\033[1A\r\033[J  pulled 001122334455: 2.0 MB") != NULL, "tty: the bar erased when done");
        IB_OK(!strstr(out, "m\033") && !strstr(out, "\033[0m") && !strstr(out, "\033[1m"), "tty with NO_COLOR: no colour");
        unsetenv("NO_COLOR");
}

static void test_relay(void)
{
        struct ib_relay r;
        struct ib_err *err = NULL;

        capture_begin();
        use(IB_OUT_JSON, IB_OUT_AUTO);
        IB_OK(ib_relay_start(&r, "build", 7, &err) == 0, "relay: started");
        (void) !write(r.wfd, "one\ntw", 6);
        (void) !write(r.wfd, "o\nno newline", 12);
        ib_relay_stop(&r);
        _cleanup_free_ char *out = capture_end();
        IB_OK(count(out, "\"event\":\"output\",\"stage\":\"build\",\"line\":7") == 3, "relay: three lines");
        IB_OK(strstr(out, "\"text\":\"two\"") && strstr(out, "\"text\":\"no newline\""),
              "relay: lines joined across reads, the last one without its newline");
}

int main(void)
{
        test_json();
        test_plain();
        test_tty();
        test_relay();
        ib_output.format = IB_OUT_TEXT;
        ib_output_start();
        return ib_t_done();
}
