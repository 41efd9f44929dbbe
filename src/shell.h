/* src/shell.h - Dockerfile word handling: variable expansion with BuildKit's
 * semantics (its shell lexer), and quote-aware splitting.
 *
 * Expansion forms: $v ${v} ${v:-w} ${v-w} ${v:+w} ${v+w} ${v:?msg} ${v?msg}
 * ${v#p} ${v##p} ${v%p} ${v%%p} ${v/p/r} ${v//p/r}; words nest (${a:-${b}});
 * quotes: '...' literal, "..." expands; the escape char (\ or ` per the
 * `# escape=` directive) escapes the next char outside single quotes.
 * Unset variables expand to "".  Errors (unterminated ${, bad substitution,
 * ${v:?msg} on an unset v) set *err with a message and the byte offset of the
 * problem in err->msg ("... at column N", 1-based within @word). */
#ifndef IB_SHELL_H
#define IB_SHELL_H
#include <stdbool.h>
#include <stddef.h>

struct ib_err;

/* Return the value of @name, or NULL when unset.  May record that @name was
 * used (the build engine uses that for cache keys). */
typedef const char *(*ib_shell_lookup_fn)(const char *name, void *userdata);

/* BuildKit's ProcessWord: expand one word, remove quotes, no field splitting. */
int ib_shell_expand_word(const char *word, char escape, ib_shell_lookup_fn lookup, void *userdata,
                         char **ret, struct ib_err **err);

/* BuildKit's ProcessWords: expand, then split into fields at unquoted
 * whitespace (quoted empty strings give an empty field).  *ret is a
 * NULL-terminated vector (free with ib_strv_free). */
int ib_shell_expand_words(const char *text, char escape, ib_shell_lookup_fn lookup, void *userdata,
                          char ***ret, struct ib_err **err);

/* Split @text at unquoted, unescaped whitespace WITHOUT expanding and WITHOUT
 * removing quotes or escapes (used to cut `ENV a="x y" b=z` into key=value
 * words before each is expanded).  Unterminated quotes are an error. */
int ib_shell_split(const char *text, char escape, char ***ret, struct ib_err **err);

#endif
