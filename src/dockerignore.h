/* src/dockerignore.h - the .dockerignore matcher (also COPY --exclude), with
 * Docker's rules (moby/patternmatcher and its ignorefile reader).
 *
 * File syntax: one pattern per line; a line whose first byte is `#` is a
 * comment; surrounding whitespace is trimmed and blank lines are skipped; a
 * leading `!` makes an exception (re-include).  Each pattern is cleaned like
 * Go's filepath.Clean (`./a` -> `a`, `a//b/` -> `a/b`, `a/../b` -> `b`) and one
 * leading `/` is dropped, so patterns are relative to the context root.
 *
 * Pattern language (Docker's, which is Go's filepath.Match plus `**`):
 *   *        any run of characters except `/`
 *   ?        one character except `/`
 *   [...]    a class: ranges `a-z`, `\x` escapes, negated by a leading `^`
 *            (a leading `!` is an ordinary member, as in Go, not negation);
 *            a negated class does match `/`, as in Docker
 *   **       any number of directories: "**" followed by "/" (or by more
 *            text) matches zero or more leading directories, so a, "**", b
 *            joined by slashes matches a/b and a/x/y/b; a trailing "**"
 *            matches anything below (abc, "/", "**": not abc itself); a pattern
 *            that is "**" plus plain text matches every path ending with that
 *            text ("**" + "/foo": foo and x/foo; "**" + "foo": also xfoo)
 *   \x       the character x literally
 * A pattern matches a path when it matches the whole path or one of its
 * parent directories (so `docs` excludes `docs/a/b`).  Patterns are applied
 * in order and the last one that matches decides (`!` re-includes).  Matching
 * does not depend on whether the path is a directory (a trailing `/` in a
 * pattern is cleaned away, as in Docker).
 *
 * Errors name "<origin>:<line>: message" (for a list, the 1-based index).
 */
#ifndef IB_DOCKERIGNORE_H
#define IB_DOCKERIGNORE_H
#include <stdbool.h>
#include <stddef.h>

struct ib_err;
struct ib_ignore;

/* Limits: the ignore file is read whole; a line longer than this is an
 * error, as with Go's bufio.Scanner in Docker. */
#define IB_IGNORE_MAX_FILE (16u << 20)
#define IB_IGNORE_MAX_LINE 65535u

/* Parse the text of an ignore file (@len bytes, need not be NUL-terminated).
 * @origin names it in errors.  An empty text gives a matcher that excludes
 * nothing. */
int ib_ignore_parse(const char *text, size_t len, const char *origin, struct ib_ignore **ret, struct ib_err **err);

/* The patterns of COPY/ADD --exclude (or any list): Docker's New() rules:
 * each is trimmed and cleaned, `!` makes an exception, empty ones are
 * skipped; no comment lines and no leading-`/` stripping (as BuildKit passes
 * them).  @n patterns; @origin names the list in errors. */
int ib_ignore_from_list(const char *const *patterns, size_t n, const char *origin, struct ib_ignore **ret,
                        struct ib_err **err);

/* Find and parse the ignore file of a build: `<dockerfile>.dockerignore`
 * (the Dockerfile's own path plus ".dockerignore") wins over
 * `<context_dir>/.dockerignore`; neither existing gives an empty matcher.
 * @dockerfile may be NULL (e.g. read from stdin).  *ret_path (may be NULL)
 * gets the file used, or NULL; caller frees. */
int ib_ignore_load(const char *context_dir, const char *dockerfile, struct ib_ignore **ret, char **ret_path,
                   struct ib_err **err);

/* Is @relpath (relative to the context root, `/`-separated; cleaned here)
 * excluded?  The root itself ("", ".") never is. */
bool ib_ignore_match(const struct ib_ignore *m, const char *relpath);

/* For a walker at an EXCLUDED directory @reldir: may something below it be
 * re-included by an exception?  false: skip the whole subtree.  true: descend
 * and ask ib_ignore_match for each entry (the directory entry itself stays
 * excluded; create it only as the parent of an included entry).  Exact when
 * false; may say true needlessly for exceptions with wildcards. */
bool ib_ignore_dir_may_have_includes(const struct ib_ignore *m, const char *reldir);

/* Number of patterns, and whether any is an exception. */
size_t ib_ignore_count(const struct ib_ignore *m);
bool ib_ignore_has_exceptions(const struct ib_ignore *m);

void ib_ignore_free(struct ib_ignore *m);
static inline void ib_ignore_freep(struct ib_ignore **m) { if (*m) ib_ignore_free(*m); }

#endif
