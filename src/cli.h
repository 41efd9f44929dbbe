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

/* Report an error through the log and free it; returns IB_EXIT_FAILURE. */
struct ib_err;
int ib_cli_fail(struct ib_err **err);
/* Print "imgbuild: <verb>: <msg>" and a hint to use --help; returns IB_EXIT_USAGE. */
int ib_cli_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
