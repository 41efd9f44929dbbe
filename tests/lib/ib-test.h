/* tests/lib/ib-test.h - a tiny TAP harness for the C unit tests.
 *
 *   IB_OK(cond, "fmt", ...)   one test point; on failure prints the expression and file:line
 *   IB_SKIP("reason")         one skipped point (under IB_TESTS_MUST_RUN it fails instead)
 *   return ib_t_done();       prints "1..N"; exit status 1 if any point failed
 */
#ifndef IB_TEST_H
#define IB_TEST_H
#include <stdbool.h>

extern unsigned ib_t_num;
void ib_t_report(bool pass, const char *expr, const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
void ib_t_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ib_t_done(void);
/* Probes (not uid checks): can this process create a user namespace? */
bool ib_t_have_userns(void);
/* Fresh temp dir under $TMPDIR (removed by ib_t_done unless IB_KEEP_TMP). */
const char *ib_t_tmpdir(void);

#define IB_OK(cond, ...) ib_t_report(!!(cond), #cond, __FILE__, __LINE__, __VA_ARGS__)
#define IB_SKIP(...) ib_t_skip(__VA_ARGS__)
#define IB_STREQ(a, b, ...) do { const char *a_ = (a), *b_ = (b); \
        bool eq_ = a_ && b_ && strcmp(a_, b_) == 0; \
        ib_t_report(eq_, #a " == " #b, __FILE__, __LINE__, __VA_ARGS__); \
        if (!eq_) printf("#   got:      \"%s\"\n#   expected: \"%s\"\n", a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
} while (0)
#endif
