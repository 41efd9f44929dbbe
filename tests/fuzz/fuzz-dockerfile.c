/* tests/fuzz/fuzz-dockerfile.c - libFuzzer target for the Dockerfile front
 * end: parse, then plan (default target, and every named stage as target),
 * then render the plan as JSON and text.  Any crash, leak or sanitizer report
 * is a finding; errors are expected and ignored.
 *
 *   make fuzz && ./build-fuzz/fuzz-dockerfile -max_total_time=300 tests/fuzz/corpus-dockerfile */
#include "lib/ib.h"
#include "src/dockerfile.h"
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* `make fuzz` links every file of src/ but main.c, so the verbs' references to the
 * CLI helpers of src/main.c need a definition here; the fuzzer never calls a
 * verb.  (A Makefile that filters src/cmd-*.c out of fuzz builds would make
 * these unnecessary.) */
int ib_cli_fail(struct ib_err **err);
int ib_cli_usage_error(const char *verb, const char *fmt, ...);
int ib_cli_fail(struct ib_err **err)
{
        ib_err_free(err);
        return 1;
}
int ib_cli_usage_error(const char *verb, const char *fmt, ...)
{
        (void) verb;
        (void) fmt;
        return 2;
}

static void plan_once(const struct ib_dockerfile *df, const char *target)
{
        static char *const args[] = { (char *) "A=1", (char *) "HTTP_PROXY=p", (char *) "TARGETARCH=arm64", NULL };
        struct ib_plan_opts o = { .target = target, .build_args = args, .build_platform = "linux/amd64" };
        struct ib_plan *p = NULL;
        struct ib_err *err = NULL;

        if (ib_plan_new(df, &o, &p, &err) < 0) {
                ib_err_free(&err);
                return;
        }
        struct ib_buf b = IB_BUF_INIT;
        ib_plan_to_json(p, &b);
        ib_plan_to_text(p, &b);
        ib_buf_release(&b);
        ib_plan_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ib_dockerfile *df = NULL;
        struct ib_err *err = NULL;

        ib_log_level_max = IB_LOG_ERROR;
        if (ib_dockerfile_parse("Dockerfile", (const char *) data, size, &df, &err) < 0) {
                ib_err_free(&err);
                return 0;
        }
        plan_once(df, NULL);
        for (size_t i = 0; i < df->n_stages && i < 8; i++)
                if (df->stages[i].name)
                        plan_once(df, df->stages[i].name);
        ib_dockerfile_free(df);
        return 0;
}
