/* src/cli.h - the command-line verbs.  Each verb lives in src/cmd-<verb>.c and
 * has the signature of ib_cmd_fn: it parses its own options (argv[0] is the
 * verb), prints its own errors, and returns the process exit status:
 *   0 success, 1 build/runtime failure, 2 usage error, or a failing RUN's status. */
#ifndef IB_CLI_H
#define IB_CLI_H

#define IB_EXIT_FAILURE 1
#define IB_EXIT_USAGE 2

typedef int (*ib_cmd_fn)(int argc, char **argv);

struct ib_verb {
        const char *name;
        ib_cmd_fn fn;
        const char *summary;    /* NULL: hidden (debug verbs used by the tests) */
};

int ib_cmd_build(int argc, char **argv);        /* src/cmd-build.c */
int ib_cmd_version(int argc, char **argv);
int ib_cmd_help(int argc, char **argv);
int ib_cmd_plan(int argc, char **argv);         /* src/cmd-plan.c */
int ib_cmd_debug_run(int argc, char **argv);    /* src/cmd-debug-run.c: sandbox driver for tests */
int ib_cmd_debug_layer(int argc, char **argv);  /* src/cmd-debug-layer.c: snapshot driver for tests */
int ib_cmd_debug_copy(int argc, char **argv);   /* src/cmd-debug-copy.c: one COPY/ADD into a layer dir */
int ib_cmd_debug_image(int argc, char **argv);  /* src/cmd-debug-image.c: image model and outputs driver for tests */
int ib_cmd_pull(int argc, char **argv);         /* src/cmd-pull.c */
int ib_cmd_push(int argc, char **argv);         /* src/cmd-push.c */
int ib_cmd_store(int argc, char **argv);        /* src/cmd-store.c */

/* ------------------------------------------------------------ output
 * src/progress.c: the renderers of ib_event and ib_log messages, chosen with
 * --progress=auto|tty|plain and --log-format=text|json (global, or after the
 * verb for build, pull and push), NO_COLOR, -q.
 *   plain  one line per step ("CACHED [stage 2/5] RUN ...", "  => 1.234s"),
 *          logs as "warning: ...", a summary at the end; RUN output as is
 *   tty    the same lines with colour (unless NO_COLOR), the step's time on
 *          its own line when nothing came between, RUN output indented,
 *          pull/push bars redrawn in place at the bottom (ANSI cursor moves)
 *   json   one object per event and per message on stderr:
 *          {"time":"RFC 3339 UTC with ms","level":"info","event":"step_end",...}
 *          transfer progress at most 4 per second per blob, plus start/end */
#include <getopt.h>
#include <stdbool.h>
enum ib_out_progress { IB_OUT_AUTO, IB_OUT_TTY, IB_OUT_PLAIN };
enum ib_out_format { IB_OUT_TEXT, IB_OUT_JSON };
struct ib_output {
        enum ib_out_progress progress;
        enum ib_out_format format;
        bool quiet;             /* -q: only errors on stderr, only the digest on stdout */
};
extern struct ib_output ib_output;
enum { IB_OPT_PROGRESS = 0x1f0, IB_OPT_LOG_FORMAT };
/* Long options every verb with output takes (-v is the short one). */
#define IB_OUTPUT_LONGOPTS \
        { "progress", required_argument, NULL, IB_OPT_PROGRESS }, \
        { "log-format", required_argument, NULL, IB_OPT_LOG_FORMAT }, \
        { "verbosity", required_argument, NULL, 'v' }
#define IB_OUTPUT_HELP \
        "  -v, --verbosity LEVEL              error, warn, info (default), debug or trace\n" \
        "      --progress auto|tty|plain      terminal output: bars and redraws, or plain lines\n" \
        "      --log-format text|json         json: one JSON object per event on stderr\n"
/* Handle -v, --progress, --log-format: 1 when taken, 0 when not one of
 * them, IB_EXIT_USAGE (after the message) when the value is wrong. */
int ib_output_opt(int opt, const char *arg, const char *verb);
/* Install the renderer ib_output asks for (again after a verb's options). */
void ib_output_start(void);
/* Clear what the tty renderer keeps redrawing (call before exiting). */
void ib_output_end(void);
/* Whether the renderer wants RUN output as IB_EV_OUTPUT lines. */
bool ib_output_wants_lines(void);
/* Report an error through the log and free it; returns IB_EXIT_FAILURE. */
struct ib_err;
int ib_cli_fail(struct ib_err **err);
/* Print "imgbuild: <verb>: <msg>" and a hint to use --help; returns IB_EXIT_USAGE. */
int ib_cli_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
