/* tests/lib/ib-test.c - TAP output for the C unit tests (see ib-test.h). */
#include "tests/lib/ib-test.h"
#include "lib/ib.h"
#include <sched.h>
#include <sys/wait.h>

unsigned ib_t_num;
static unsigned failed;
static char *tmpdir;

void ib_t_report(bool pass, const char *expr, const char *file, int line, const char *fmt, ...)
{
        va_list ap;

        printf("%sok %u - ", pass ? "" : "not ", ++ib_t_num);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        if (!pass) {
                failed++;
                printf("#   failed: %s at %s:%d\n", expr, file, line);
        }
        fflush(stdout);
}

void ib_t_skip(const char *fmt, ...)
{
        va_list ap;
        bool must = getenv("IB_TESTS_MUST_RUN") != NULL;

        printf("%sok %u # %s", must ? "not " : "", ++ib_t_num, must ? "required but unavailable: " : "SKIP ");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        if (must)
                failed++;
        fflush(stdout);
}

int ib_t_done(void)
{
        printf("1..%u\n", ib_t_num);
        if (tmpdir && !getenv("IB_KEEP_TMP")) {
                struct ib_err *e = NULL;
                (void) ib_rm_rf(tmpdir, &e);
                ib_err_free(&e);
        }
        free(tmpdir);
        return failed ? 1 : 0;
}

bool ib_t_have_userns(void)
{
        int st;
        pid_t pid = fork();

        if (pid == 0)
                _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
        return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

const char *ib_t_tmpdir(void)
{
        if (!tmpdir) {
                const char *t = getenv("TMPDIR");
                char *tmpl = ib_strdupf("%s/ib-unit.XXXXXX", t && *t ? t : "/tmp");
                if (!mkdtemp(tmpl)) {
                        perror("mkdtemp");
                        exit(1);
                }
                tmpdir = tmpl;
        }
        return tmpdir;
}
