/* src/shell.h - Dockerfile word handling: variable expansion with BuildKit's
 * semantics (its shell lexer), and quote-aware splitting.
 *
 * Expansion forms: $v ${v} ${v:-w} ${v-w} ${v:+w} ${v+w} ${v:?msg} ${v?msg}
 * ${v#p} ${v##p} ${v%p} ${v%%p} ${v/p/r} ${v//p/r}; words nest (${a:-${b}});
 * quotes: '...' literal, "..." expands; the escape char (\ or ` per the
 * `# escape=` directive) escapes the next char outside single quotes.
 * Unset variables expand to "" (a NULL lookup means nothing is set).  Errors
 * (unterminated ${ or quote, bad substitution, ${v:?msg} on an unset v, bad
 * pattern, nesting too deep) set *err (errnum EINVAL) with a message and the
 * byte offset of the problem in err->msg ("... at column N", 1-based within
 * @word: the `$` of the substitution, or the opening quote).
 *
 * Known differences from BuildKit, on purpose: names are ASCII
 * ([A-Za-z0-9_], Go also takes other Unicode letters); invalid UTF-8 passes
 * through byte for byte (Go's scanner turns each bad byte into U+FFFD). */
#ifndef IB_SHELL_H
#define IB_SHELL_H
#include <stdbool.h>
#include <stddef.h>

struct ib_err;

/* Return the value of @name, or NULL when unset.  May record that @name was
 * used (the build engine uses that for cache keys). */
typedef const char *(*ib_shell_lookup_fn)(const char *name, void *userdata);

/* Nesting limit of ${...} inside ${...}: deeper input is an error, never a
 * stack overflow. */
#define IB_SHELL_MAX_DEPTH 100
/* Limit of what one ${v/p/r} or ${v//p/r} may produce: a replacement nested
 * in a replacement multiplies lengths, so a few hundred bytes of input could
 * otherwise ask for gigabytes.  (Fuzz builds make it smaller.) */
#ifndef IB_SHELL_MAX_RESULT
#define IB_SHELL_MAX_RESULT (64u << 20)
#endif

/* BuildKit's ProcessWord: expand one word, remove quotes, no field splitting.
 * Patterns in ${v#p} ${v%p} ${v/p/r} are BuildKit's: `*` any string, `?` one
 * character (neither matches a newline, as Go's regexp `.`), `\*` `\?` `\\`
 * literal; `[` is an ordinary character (BuildKit has no bracket
 * expressions); an invalid escape is an error.  Names are [A-Za-z0-9_]+, a
 * run of digits, or one of @*#?-$!. */
int ib_shell_expand_word(const char *word, char escape, ib_shell_lookup_fn lookup, void *userdata,
                         char **ret, struct ib_err **err);

/* Options of the Lex object in BuildKit, for ib_shell_expand_word_ex. */
enum {
        IB_SHELL_SKIP_QUOTES = 1 << 0,  /* quotes are plain text (SkipProcessQuotes: heredoc bodies) */
        IB_SHELL_RAW_QUOTES = 1 << 1,   /* keep the quote characters in the result (RawQuotes) */
        IB_SHELL_RAW_ESCAPES = 1 << 2,  /* keep escape characters in the result (RawEscapes) */
        IB_SHELL_SKIP_UNSET = 1 << 3,   /* leave references to unset names as written (SkipUnsetEnv) */
};
int ib_shell_expand_word_ex(const char *word, char escape, unsigned flags, ib_shell_lookup_fn lookup, void *userdata,
                            char **ret, struct ib_err **err);

/* BuildKit's ProcessWords: expand, then split into fields at unquoted
 * whitespace (Unicode spaces, as Go's unicode.IsSpace).  Text from quotes and
 * escaped characters never splits; the value of an unquoted $var does.  As in
 * BuildKit, an empty field is never produced: `a "" b` gives {a, b}, and a
 * quoted empty string only glues (`x"" y` gives {x, y}).  *ret is a
 * NULL-terminated vector (free with ib_strv_free). */
int ib_shell_expand_words(const char *text, char escape, ib_shell_lookup_fn lookup, void *userdata,
                          char ***ret, struct ib_err **err);

/* Split @text at unquoted, unescaped whitespace WITHOUT expanding and WITHOUT
 * removing quotes or escapes (used to cut `ENV a="x y" b=z` into key=value
 * words before each is expanded).  Unterminated quotes are an error. */
int ib_shell_split(const char *text, char escape, char ***ret, struct ib_err **err);

#endif
