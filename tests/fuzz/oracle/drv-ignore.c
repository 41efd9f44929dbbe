/* tests/fuzz/oracle/drv-ignore.c - reads "pat|pat|...<TAB>path" lines, prints "<excluded> <may-have-includes>" (or E). */
#include "lib/ib.h"
#include "src/dockerignore.h"
int main(void)
{
        char line[8192];
        while (fgets(line, sizeof line, stdin)) {
                line[strcspn(line, "\n")] = 0;
                char *tab = strchr(line, '\t');
                *tab = 0;
                /* patterns separated by '|' */
                char *pats[32]; size_t n = 0;
                for (char *t = strtok(line, "|"); t; t = strtok(NULL, "|")) pats[n++] = t;
                struct ib_ignore *m = NULL; struct ib_err *err = NULL;
                if (ib_ignore_from_list((const char *const *) pats, n, "x", &m, &err) < 0) { printf("E\n"); ib_err_free(&err); continue; }
                printf("%d %d\n", ib_ignore_match(m, tab + 1), ib_ignore_dir_may_have_includes(m, tab + 1));
                ib_ignore_free(m);
        }
        return 0;
}
