/* src/dockerfile.c - Dockerfile lexer and parser with BuildKit's rules.
 *
 * The lexer follows BuildKit's parser package: parser directives only at the
 * very top (# escape=, # syntax=, # check=), comment lines anywhere (also inside
 * continuations, where they are dropped), the escape char at the end of a line
 * continues it (trailing blanks allowed), empty continuation lines are skipped,
 * heredocs are read after the logical line of RUN/COPY/ADD (also under ONBUILD)
 * when not in JSON form.  The instruction layer follows BuildKit's instructions
 * package: flags per instruction, argument counts, JSON form with fallback to
 * shell form when the text is not valid JSON, stage grouping. */
#include "lib/ib.h"
#include "src/dockerfile.h"
#include <ctype.h>
#include <stdarg.h>

static const char *const kind_names[IB_DF__MAX] = {
        [IB_DF_FROM] = "FROM", [IB_DF_RUN] = "RUN", [IB_DF_CMD] = "CMD",
        [IB_DF_ENTRYPOINT] = "ENTRYPOINT", [IB_DF_SHELL] = "SHELL", [IB_DF_ENV] = "ENV",
        [IB_DF_ARG] = "ARG", [IB_DF_LABEL] = "LABEL", [IB_DF_EXPOSE] = "EXPOSE",
        [IB_DF_VOLUME] = "VOLUME", [IB_DF_WORKDIR] = "WORKDIR", [IB_DF_USER] = "USER",
        [IB_DF_COPY] = "COPY", [IB_DF_ADD] = "ADD", [IB_DF_STOPSIGNAL] = "STOPSIGNAL",
        [IB_DF_HEALTHCHECK] = "HEALTHCHECK", [IB_DF_ONBUILD] = "ONBUILD",
        [IB_DF_MAINTAINER] = "MAINTAINER",
};

const char *ib_df_kind_name(enum ib_df_kind k)
{
        return k < IB_DF__MAX ? kind_names[k] : "?";
}

/* -------------------------------------------------------------- char classes */

/* Go's unicode.IsSpace restricted to ASCII. */
static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* BuildKit's reWhitespace: [\t\v\f\r ] */
static bool is_ws(char c)
{
        return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

static char *trim_dup(const char *s, size_t n)
{
        while (n && is_space(*s))
                s++, n--;
        while (n && is_space(s[n - 1]))
                n--;
        return ib_strndup(s, n);
}

/* ------------------------------------------------------------------- errors */

struct parser {
        const char *path;
        const char *data;       /* NUL-terminated copy */
        size_t len;
        size_t pos;             /* start of the next physical line */
        unsigned lineno;        /* number of the last line read */
        char escape;
        bool directives_done;
        bool seen_escape, seen_syntax, seen_check;
        char *syntax;
};

static int perr(struct parser *p, unsigned line, unsigned col, struct ib_err **err, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
static int perr(struct parser *p, unsigned line, unsigned col, struct ib_err **err, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (msg && strlen(msg) > IB_DF_MSG_MAX) {
                char *cut = ib_elide(msg, IB_DF_MSG_MAX);
                free(msg);
                msg = cut;
        }
        return ib_err_set(err, 0, "%s:%u:%u: %s", p->path, line, col, msg ? msg : "out of memory");
}

/* ------------------------------------------------------------ physical lines */

/* Next physical line: [*ret, *ret + *ret_len) without its "\n" or "\r\n";
 * *ret_full_len includes the terminator. */
static bool next_line(struct parser *p, const char **ret, size_t *ret_len, size_t *ret_full_len)
{
        if (p->pos >= p->len)
                return false;
        const char *s = p->data + p->pos;
        const char *nl = memchr(s, '\n', p->len - p->pos);
        size_t full = nl ? (size_t) (nl - s) + 1 : p->len - p->pos;
        size_t n = nl ? (size_t) (nl - s) : full;
        if (n && s[n - 1] == '\r')
                n--;
        p->pos += full;
        p->lineno++;
        *ret = s;
        *ret_len = n;
        if (ret_full_len)
                *ret_full_len = full;
        return true;
}

static size_t leading_ws(const char *s, size_t n)
{
        size_t i = 0;
        while (i < n && is_space(s[i]))
                i++;
        return i;
}

static bool is_comment(const char *s, size_t n)
{
        size_t i = leading_ws(s, n);
        return i < n && s[i] == '#';
}

/* ---------------------------------------------------------------- directives */

/* BuildKit's reDirectives: ^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$ applied
 * to each line until one does not match or names an unknown directive. */
static bool match_directive(const char *s, size_t n, size_t *ks, size_t *ke, size_t *vs, size_t *ve)
{
        size_t i = 0;

        if (i >= n || s[i] != '#')
                return false;
        i++;
        while (i < n && is_space(s[i]))
                i++;
        *ks = i;
        if (i >= n || !isalpha((unsigned char) s[i]))
                return false;
        while (i < n && isalnum((unsigned char) s[i]))
                i++;
        *ke = i;
        while (i < n && is_space(s[i]))
                i++;
        if (i >= n || s[i] != '=')
                return false;
        i++;
        while (i < n && is_space(s[i]))
                i++;
        *vs = i;
        *ve = n;
        while (*ve > *vs && is_space(s[*ve - 1]))
                (*ve)--;
        return *ve > *vs;
}

static int directive_line(struct parser *p, const char *s, size_t n, struct ib_err **err)
{
        size_t ks, ke, vs, ve;

        if (p->directives_done)
                return 0;
        if (!match_directive(s, n, &ks, &ke, &vs, &ve)) {
                p->directives_done = true;
                return 0;
        }
        _cleanup_free_ char *key = ib_strndup(s + ks, ke - ks);
        for (char *c = key; *c; c++)
                *c = (char) tolower((unsigned char) *c);
        bool *seen;
        if (strcmp(key, "escape") == 0)
                seen = &p->seen_escape;
        else if (strcmp(key, "syntax") == 0)
                seen = &p->seen_syntax;
        else if (strcmp(key, "check") == 0)
                seen = &p->seen_check;
        else {
                p->directives_done = true;
                return 0;
        }
        if (*seen)
                return perr(p, p->lineno, 1, err, "only one %s parser directive can be used", key);
        *seen = true;
        if (strcmp(key, "escape") == 0) {
                if (ve - vs != 1 || (s[vs] != '\\' && s[vs] != '`'))
                        return perr(p, p->lineno, 1, err, "invalid escape token '%.*s' does not match ` or \\",
                                    (int) (ve - vs), s + vs);
                p->escape = s[vs];
        } else if (strcmp(key, "syntax") == 0) {
                free(p->syntax);
                p->syntax = ib_strndup(s + vs, ve - vs);
                ib_debug("%s:%u: syntax directive '%s' ignored: imgbuild has one built-in frontend",
                         p->path, p->lineno, p->syntax);
        } else {
                ib_debug("%s:%u: check directive ignored", p->path, p->lineno);
        }
        return 0;
}

/* The escape char followed by blanks at the end of @s continues the line
 * (BuildKit: `\\[ \t]*$`).  Returns the length without them, or -1. */
static ssize_t continuation(const struct parser *p, const char *s, size_t n)
{
        size_t e = n;
        while (e && (s[e - 1] == ' ' || s[e - 1] == '\t'))
                e--;
        if (e && s[e - 1] == p->escape)
                return (ssize_t) (e - 1);
        return -1;
}

/* ------------------------------------------------------------ JSON arrays */

/* A validator + decoder for the JSON exec form, with Go's encoding/json
 * grammar: the text must be ONE JSON value (surrounding whitespace allowed).
 * Returns 1 and *ret for an array of strings, 0 when the text is not valid
 * JSON (the caller falls back to shell form, as Docker does), -1 for a valid
 * array holding something other than strings (an error in Docker too). */
struct jp {
        const char *s;
        size_t i, n;
        int depth;
};

static void jp_ws(struct jp *j)
{
        while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r'))
                j->i++;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static bool jp_hex4(struct jp *j, unsigned *ret)
{
        unsigned v = 0;
        if (j->n - j->i < 4)
                return false;
        for (int k = 0; k < 4; k++) {
                int h = hexval(j->s[j->i + k]);
                if (h < 0)
                        return false;
                v = v * 16 + (unsigned) h;
        }
        j->i += 4;
        *ret = v;
        return true;
}

static void utf8_put(struct ib_buf *b, unsigned cp)
{
        if (cp < 0x80) {
                ib_buf_addc(b, (char) cp);
        } else if (cp < 0x800) {
                ib_buf_addc(b, (char) (0xc0 | (cp >> 6)));
                ib_buf_addc(b, (char) (0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
                ib_buf_addc(b, (char) (0xe0 | (cp >> 12)));
                ib_buf_addc(b, (char) (0x80 | ((cp >> 6) & 0x3f)));
                ib_buf_addc(b, (char) (0x80 | (cp & 0x3f)));
        } else {
                ib_buf_addc(b, (char) (0xf0 | (cp >> 18)));
                ib_buf_addc(b, (char) (0x80 | ((cp >> 12) & 0x3f)));
                ib_buf_addc(b, (char) (0x80 | ((cp >> 6) & 0x3f)));
                ib_buf_addc(b, (char) (0x80 | (cp & 0x3f)));
        }
}

/* A string at j->i (the opening quote); decoded into @out when non-NULL.
 * \u0000 is refused (a C string cannot hold it). */
static bool jp_string(struct jp *j, struct ib_buf *out)
{
        if (j->i >= j->n || j->s[j->i] != '"')
                return false;
        j->i++;
        while (j->i < j->n) {
                unsigned char c = (unsigned char) j->s[j->i];
                if (c == '"') {
                        j->i++;
                        return true;
                }
                if (c < 0x20)
                        return false;
                if (c != '\\') {
                        if (out)
                                ib_buf_addc(out, (char) c);
                        j->i++;
                        continue;
                }
                j->i++;
                if (j->i >= j->n)
                        return false;
                char e = j->s[j->i++];
                unsigned cp;
                switch (e) {
                case '"': cp = '"'; break;
                case '\\': cp = '\\'; break;
                case '/': cp = '/'; break;
                case 'b': cp = '\b'; break;
                case 'f': cp = '\f'; break;
                case 'n': cp = '\n'; break;
                case 'r': cp = '\r'; break;
                case 't': cp = '\t'; break;
                case 'u':
                        if (!jp_hex4(j, &cp))
                                return false;
                        if (cp >= 0xd800 && cp < 0xdc00) {
                                /* a surrogate pair, or U+FFFD like Go for a lone one */
                                unsigned lo;
                                size_t save = j->i;
                                if (j->n - j->i >= 6 && j->s[j->i] == '\\' && j->s[j->i + 1] == 'u') {
                                        j->i += 2;
                                        if (jp_hex4(j, &lo) && lo >= 0xdc00 && lo < 0xe000)
                                                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                        else {
                                                j->i = save;
                                                cp = 0xfffd;
                                        }
                                } else {
                                        cp = 0xfffd;
                                }
                        } else if (cp >= 0xdc00 && cp < 0xe000) {
                                cp = 0xfffd;
                        }
                        if (cp == 0)
                                return false;
                        break;
                default:
                        return false;
                }
                if (out)
                        utf8_put(out, cp);
        }
        return false;
}

static bool jp_digits(struct jp *j)
{
        size_t st = j->i;
        while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9')
                j->i++;
        return j->i > st;
}

static bool jp_value(struct jp *j);

static bool jp_container(struct jp *j, char open, char close)
{
        if (++j->depth > 10000)
                return false;
        j->i++; /* open */
        jp_ws(j);
        if (j->i < j->n && j->s[j->i] == close) {
                j->i++;
                j->depth--;
                return true;
        }
        for (;;) {
                if (open == '{') {
                        if (!jp_string(j, NULL))
                                return false;
                        jp_ws(j);
                        if (j->i >= j->n || j->s[j->i] != ':')
                                return false;
                        j->i++;
                        jp_ws(j);
                }
                if (!jp_value(j))
                        return false;
                jp_ws(j);
                if (j->i >= j->n)
                        return false;
                if (j->s[j->i] == close) {
                        j->i++;
                        j->depth--;
                        return true;
                }
                if (j->s[j->i] != ',')
                        return false;
                j->i++;
                jp_ws(j);
        }
}

static bool jp_value(struct jp *j)
{
        if (j->i >= j->n)
                return false;
        char c = j->s[j->i];
        switch (c) {
        case '"':
                return jp_string(j, NULL);
        case '[':
                return jp_container(j, '[', ']');
        case '{':
                return jp_container(j, '{', '}');
        case 't':
                if (j->n - j->i >= 4 && memcmp(j->s + j->i, "true", 4) == 0) { j->i += 4; return true; }
                return false;
        case 'f':
                if (j->n - j->i >= 5 && memcmp(j->s + j->i, "false", 5) == 0) { j->i += 5; return true; }
                return false;
        case 'n':
                if (j->n - j->i >= 4 && memcmp(j->s + j->i, "null", 4) == 0) { j->i += 4; return true; }
                return false;
        default:
                if (c == '-')
                        j->i++;
                if (j->i < j->n && j->s[j->i] == '0')
                        j->i++;
                else if (!jp_digits(j))
                        return false;
                if (j->i < j->n && j->s[j->i] == '.') {
                        j->i++;
                        if (!jp_digits(j))
                                return false;
                }
                if (j->i < j->n && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
                        j->i++;
                        if (j->i < j->n && (j->s[j->i] == '+' || j->s[j->i] == '-'))
                                j->i++;
                        if (!jp_digits(j))
                                return false;
                }
                return true;
        }
}

int ib_df_parse_json_array(const char *s, char ***ret)
{
        struct jp j = { .s = s, .n = strlen(s) };

        jp_ws(&j);
        if (j.i >= j.n || s[j.i] != '[')
                return 0;
        size_t start = j.i;
        if (!jp_value(&j))
                return 0;
        jp_ws(&j);
        if (j.i != j.n)
                return 0;
        /* Valid JSON: decode the top-level array's elements. */
        _cleanup_(ib_strvec_release) struct ib_strvec out = { 0 };
        j.i = start + 1;
        j.depth = 0;
        jp_ws(&j);
        while (j.i < j.n && s[j.i] != ']') {
                if (s[j.i] != '"')
                        return -1;
                struct ib_buf b = IB_BUF_INIT;
                if (!jp_string(&j, &b)) {
                        ib_buf_release(&b);
                        return 0;       /* cannot happen after validation */
                }
                ib_strvec_push_own(&out, ib_buf_detach(&b));
                jp_ws(&j);
                if (j.i < j.n && s[j.i] == ',') {
                        j.i++;
                        jp_ws(&j);
                }
        }
        *ret = ib_strvec_finish(&out);
        out.n = 0;
        return 1;
}

/* ------------------------------------------------------------- word splitters */

/* BuildKit's extractBuilderFlags: leading --words, quote-aware, quotes and
 * backslashes removed.  Returns the rest of the line. */
static const char *extract_flags(const char *line, struct ib_strvec *flags)
{
        size_t n = strlen(line), pos = 0;
        struct ib_buf w = IB_BUF_INIT;
        enum { SPACES, WORD, QUOTE } phase = SPACES;
        bool blank_ok = false;
        char quote = 0;

        for (pos = 0; pos <= n; pos++) {
                char ch = pos < n ? line[pos] : 0;
                if (phase == SPACES) {
                        if (pos == n)
                                break;
                        if (is_space(ch))
                                continue;
                        if (ch != '-' || pos + 1 == n || line[pos + 1] != '-') {
                                ib_buf_release(&w);
                                return line + pos;
                        }
                        phase = WORD;
                }
                if (pos == n) {
                        if (strcmp(w.buf, "--") != 0 && (blank_ok || w.len))
                                ib_strvec_push_own(flags, ib_buf_detach(&w));
                        break;
                }
                if (phase == WORD) {
                        if (is_space(ch)) {
                                phase = SPACES;
                                if (strcmp(w.buf, "--") == 0) {
                                        ib_buf_release(&w);
                                        return line + pos;
                                }
                                if (blank_ok || w.len)
                                        ib_strvec_push_own(flags, ib_buf_detach(&w));
                                ib_buf_reset(&w);
                                blank_ok = false;
                                continue;
                        }
                        if (ch == '\'' || ch == '"') {
                                quote = ch;
                                blank_ok = true;
                                phase = QUOTE;
                                continue;
                        }
                        if (ch == '\\') {
                                if (pos + 1 == n)
                                        continue;
                                ch = line[++pos];
                        }
                        ib_buf_addc(&w, ch);
                        continue;
                }
                /* QUOTE */
                if (ch == quote) {
                        phase = WORD;
                        continue;
                }
                if (ch == '\\') {
                        if (pos + 1 == n) {
                                phase = WORD;
                                continue;
                        }
                        ch = line[++pos];
                }
                ib_buf_addc(&w, ch);
        }
        ib_buf_release(&w);
        return line + n;
}

/* BuildKit's parseWords: split at unquoted whitespace, KEEPING quotes and
 * escapes (ENV/LABEL/ARG expand each word later). */
static void parse_words(const char *rest, char esc, struct ib_strvec *out)
{
        size_t n = strlen(rest);
        struct ib_buf w = IB_BUF_INIT;
        enum { SPACES, WORD, QUOTE } phase = SPACES;
        bool blank_ok = false;
        char quote = 0;

        for (size_t pos = 0; pos <= n; pos++) {
                char ch = pos < n ? rest[pos] : 0;
                if (phase == SPACES) {
                        if (pos == n)
                                break;
                        if (is_space(ch))
                                continue;
                        phase = WORD;
                }
                if (pos == n) {
                        if (blank_ok || w.len)
                                ib_strvec_push_own(out, ib_buf_detach(&w));
                        break;
                }
                if (phase == WORD) {
                        if (is_space(ch)) {
                                phase = SPACES;
                                if (blank_ok || w.len)
                                        ib_strvec_push_own(out, ib_buf_detach(&w));
                                ib_buf_reset(&w);
                                blank_ok = false;
                                continue;
                        }
                        if (ch == '\'' || ch == '"') {
                                quote = ch;
                                blank_ok = true;
                                phase = QUOTE;
                        }
                        if (ch == esc) {
                                if (pos + 1 == n)
                                        continue;
                                ib_buf_addc(&w, ch);
                                ch = rest[++pos];
                        }
                        ib_buf_addc(&w, ch);
                        continue;
                }
                /* QUOTE */
                if (ch == quote)
                        phase = WORD;
                if (ch == esc && quote != '\'') {
                        if (pos + 1 == n) {
                                phase = WORD;
                                continue;
                        }
                        ib_buf_addc(&w, ch);
                        ch = rest[++pos];
                }
                ib_buf_addc(&w, ch);
        }
        ib_buf_release(&w);
}

/* BuildKit's parseStringsWhitespaceDelimited. */
static void split_ws(const char *rest, struct ib_strvec *out)
{
        const char *s = rest;
        while (*s) {
                while (*s && is_ws(*s))
                        s++;
                if (!*s)
                        break;
                const char *e = s;
                while (*e && !is_ws(*e))
                        e++;
                ib_strvec_push_own(out, ib_strndup(s, (size_t) (e - s)));
                s = e;
        }
}

/* Shell-like split of a line for heredoc detection (BuildKit runs its shell
 * lexer with raw quotes and raw escapes): words at unquoted whitespace, quotes
 * and backslashes kept. */
static void split_shell_raw(const char *line, struct ib_strvec *out)
{
        struct ib_buf w = IB_BUF_INIT;
        bool in_word = false;
        for (const char *s = line; *s; s++) {
                char c = *s;
                if (is_space(c)) {
                        if (in_word)
                                ib_strvec_push_own(out, ib_buf_detach(&w));
                        in_word = false;
                        continue;
                }
                in_word = true;
                if (c == '\\') {
                        ib_buf_addc(&w, c);
                        if (s[1])
                                ib_buf_addc(&w, *++s);
                        continue;
                }
                if (c == '\'' || c == '"') {
                        char q = c;
                        ib_buf_addc(&w, c);
                        for (s++; *s && *s != q; s++) {
                                if (q == '"' && *s == '\\' && s[1])
                                        ib_buf_addc(&w, *s++);
                                ib_buf_addc(&w, *s);
                        }
                        if (!*s)
                                break;
                        ib_buf_addc(&w, *s);
                }
                else
                        ib_buf_addc(&w, c);
        }
        if (in_word)
                ib_strvec_push_own(out, ib_buf_detach(&w));
        ib_buf_release(&w);
}

/* BuildKit's ParseHeredoc: ^(\d*)<<(-?)([^<]*)$ with a non-empty, single-word
 * rest.  The name is the rest without quotes and escapes; quotes disable
 * expansion.  Returns true and fills *h (name allocated). */
static bool parse_heredoc_word(const char *w, struct ib_df_heredoc *h)
{
        const char *s = w;
        unsigned fd = 0;
        bool any_digit = false;

        while (*s >= '0' && *s <= '9') {
                if (fd < 100000000)
                        fd = fd * 10 + (unsigned) (*s - '0');
                s++;
                any_digit = true;
        }
        (void) any_digit;
        if (s[0] != '<' || s[1] != '<')
                return false;
        s += 2;
        bool chomp = false;
        if (*s == '-') {
                chomp = true;
                s++;
        }
        if (!*s || strchr(s, '<'))
                return false;
        struct ib_buf name = IB_BUF_INIT;
        bool quoted = false;
        char q = 0;
        for (const char *c = s; *c; c++) {
                if (q) {
                        if (*c == q) {
                                q = 0;
                                continue;
                        }
                        if (q == '"' && *c == '\\' && c[1]) {
                                ib_buf_addc(&name, *++c);
                                continue;
                        }
                        ib_buf_addc(&name, *c);
                        continue;
                }
                if (*c == '\'' || *c == '"') {
                        q = *c;
                        quoted = true;
                        continue;
                }
                if (*c == '\\' && c[1]) {
                        ib_buf_addc(&name, *++c);
                        continue;
                }
                if (is_space(*c)) {     /* more than one word */
                        ib_buf_release(&name);
                        return false;
                }
                ib_buf_addc(&name, *c);
        }
        if (name.len == 0) {
                ib_buf_release(&name);
                return false;
        }
        *h = (struct ib_df_heredoc) { .name = ib_buf_detach(&name), .expand = !quoted, .chomp = chomp, .fd = fd };
        return true;
}

char *ib_df_heredoc_chomp(const char *body)
{
        struct ib_buf b = IB_BUF_INIT;
        bool bol = true;
        for (const char *s = body; *s; s++) {
                if (bol && *s == '\t')
                        continue;
                bol = *s == '\n';
                ib_buf_addc(&b, *s);
        }
        return ib_buf_detach(&b);
}

/* ---------------------------------------------------------------- flags */

enum flag_type { FT_BOOL, FT_STRING, FT_STRINGS };
struct flag_spec {
        const char *name;
        enum flag_type type;
};

static const struct flag_spec flags_from[] = { { "platform", FT_STRING }, { NULL, 0 } };
static const struct flag_spec flags_run[] = {
        { "mount", FT_STRINGS }, { "network", FT_STRING }, { "security", FT_STRING }, { NULL, 0 } };
static const struct flag_spec flags_copy[] = {
        { "chown", FT_STRING }, { "chmod", FT_STRING }, { "from", FT_STRING }, { "link", FT_BOOL },
        { "parents", FT_BOOL }, { "exclude", FT_STRINGS }, { NULL, 0 } };
static const struct flag_spec flags_add[] = {
        { "chown", FT_STRING }, { "chmod", FT_STRING }, { "link", FT_BOOL }, { "keep-git-dir", FT_BOOL },
        { "checksum", FT_STRING }, { "exclude", FT_STRINGS }, { NULL, 0 } };
static const struct flag_spec flags_healthcheck[] = {
        { "interval", FT_STRING }, { "timeout", FT_STRING }, { "start-period", FT_STRING },
        { "start-interval", FT_STRING }, { "retries", FT_STRING }, { NULL, 0 } };
static const struct flag_spec flags_none[] = { { NULL, 0 } };

static const struct flag_spec *flag_specs(enum ib_df_kind k)
{
        switch (k) {
        case IB_DF_FROM: return flags_from;
        case IB_DF_RUN: return flags_run;
        case IB_DF_COPY: return flags_copy;
        case IB_DF_ADD: return flags_add;
        case IB_DF_HEALTHCHECK: return flags_healthcheck;
        default: return flags_none;
        }
}

/* BuildKit's BFlags.Parse. */
static int parse_flags(struct parser *p, struct ib_df_instr *in, char **words, struct ib_err **err)
{
        const struct flag_spec *specs = flag_specs(in->kind);
        size_t n = 0;

        for (char **w = words; w && *w; w++)
                n++;
        if (!n)
                return 0;
        in->flags = ib_calloc(n, sizeof(*in->flags));
        for (char **w = words; *w; w++) {
                const char *arg = *w;
                if (strcmp(arg, "--") == 0)
                        break;
                arg += 2;
                const char *eq = strchr(arg, '=');
                _cleanup_free_ char *name = eq ? ib_strndup(arg, (size_t) (eq - arg)) : ib_strdup(arg);
                const char *value = eq ? eq + 1 : NULL;
                const struct flag_spec *f = NULL;
                for (const struct flag_spec *s = specs; s->name; s++)
                        if (strcmp(s->name, name) == 0)
                                f = s;
                if (!f)
                        return perr(p, in->line, in->col, err, "unknown flag: %s", name);
                if (f->type != FT_STRINGS)
                        for (size_t i = 0; i < in->n_flags; i++)
                                if (strcmp(in->flags[i].name, name) == 0)
                                        return perr(p, in->line, in->col, err, "duplicate flag specified: %s", name);
                switch (f->type) {
                case FT_BOOL:
                        if (eq && !*value)
                                return perr(p, in->line, in->col, err, "missing a value on flag: %s", name);
                        if (value && strcasecmp(value, "true") != 0 && strcasecmp(value, "false") != 0)
                                return perr(p, in->line, in->col, err, "expecting boolean value for flag %s, not: %s",
                                            name, value);
                        break;
                case FT_STRING:
                case FT_STRINGS:
                        if (!eq)
                                return perr(p, in->line, in->col, err, "missing a value on flag: %s", name);
                        break;
                }
                struct ib_df_flag *fl = &in->flags[in->n_flags++];
                fl->name = IB_TAKE_PTR(name);
                if (f->type == FT_BOOL)
                        fl->value = ib_strdup(!value || strcasecmp(value, "true") == 0 ? "true" : "false");
                else
                        fl->value = ib_strdup(value);
        }
        return 0;
}

const char *ib_df_flag_get(const struct ib_df_instr *in, const char *name, bool *ret_present)
{
        const char *v = NULL;
        bool present = false;
        for (size_t i = 0; i < in->n_flags; i++)
                if (strcmp(in->flags[i].name, name) == 0) {
                        v = in->flags[i].value;
                        present = true;
                }
        if (ret_present)
                *ret_present = present;
        return v;
}

/* ------------------------------------------------------------ instructions */

static int kind_from_keyword(const char *kw)
{
        for (int k = 0; k < IB_DF__MAX; k++)
                if (strcasecmp(kw, kind_names[k]) == 0)
                        return k;
        return -1;
}

static void instr_release(struct ib_df_instr *in)
{
        if (!in)
                return;
        free(in->keyword);
        free(in->raw);
        for (size_t i = 0; i < in->n_flags; i++) {
                free(in->flags[i].name);
                free(in->flags[i].value);
        }
        free(in->flags);
        ib_strv_free(in->argv);
        free(in->text);
        ib_strv_free(in->args);
        for (size_t i = 0; i < in->n_kv; i++) {
                free(in->kv[i].key);
                free(in->kv[i].value);
        }
        free(in->kv);
        for (size_t i = 0; i < in->n_heredocs; i++) {
                free(in->heredocs[i].name);
                free(in->heredocs[i].body);
        }
        free(in->heredocs);
        if (in->sub) {
                instr_release(in->sub);
                free(in->sub);
        }
        free(in->trigger);
        memset(in, 0, sizeof(*in));
}

static void kv_add(struct ib_df_instr *in, size_t *alloc, char *k, char *v)
{
        ib_grow(&in->kv, alloc, in->n_kv + 1, sizeof(*in->kv));
        in->kv[in->n_kv++] = (struct ib_df_kv) { .key = k, .value = v };
}

/* BuildKit's parseNameVal (ENV, LABEL): "K=V ..." or the legacy "K V". */
static int parse_name_val(struct parser *p, struct ib_df_instr *in, const char *rest, struct ib_err **err)
{
        const char *kw = kind_names[in->kind];
        _cleanup_(ib_strvec_release) struct ib_strvec words = { 0 };
        size_t alloc = 0;

        parse_words(rest, p->escape, &words);
        if (words.n == 0)
                return perr(p, in->line, in->col, err, "%s requires at least one argument", kw);
        if (!strchr(words.v[0], '=')) {
                size_t i = 0;
                while (rest[i] && !is_ws(rest[i]))
                        i++;
                size_t ke = i;
                while (rest[i] && is_ws(rest[i]))
                        i++;
                if (!rest[i])
                        return perr(p, in->line, in->col, err, "%s must have two arguments", kw);
                kv_add(in, &alloc, ib_strndup(rest, ke), ib_strdup(rest + i));
                return 0;
        }
        for (size_t i = 0; i < words.n; i++) {
                char *eq = strchr(words.v[i], '=');
                if (!eq)
                        return perr(p, in->line, in->col, err,
                                    "Syntax error - can't find = in \"%s\". Must be of the form: name=value", words.v[i]);
                if (eq == words.v[i])
                        return perr(p, in->line, in->col, err, "%s names can not be blank", kw);
                kv_add(in, &alloc, ib_strndup(words.v[i], (size_t) (eq - words.v[i])), ib_strdup(eq + 1));
        }
        return 0;
}

static int parse_arg(struct parser *p, struct ib_df_instr *in, const char *rest, struct ib_err **err)
{
        _cleanup_(ib_strvec_release) struct ib_strvec words = { 0 };
        size_t alloc = 0;

        parse_words(rest, p->escape, &words);
        if (words.n == 0)
                return perr(p, in->line, in->col, err, "ARG requires at least one argument");
        for (size_t i = 0; i < words.n; i++) {
                char *eq = strchr(words.v[i], '=');
                if (eq == words.v[i])
                        return perr(p, in->line, in->col, err, "ARG names can not be blank");
                if (eq)
                        kv_add(in, &alloc, ib_strndup(words.v[i], (size_t) (eq - words.v[i])), ib_strdup(eq + 1));
                else
                        kv_add(in, &alloc, ib_strdup(words.v[i]), NULL);
        }
        return 0;
}

/* parseMaybeJSON: argv when the rest is a JSON string array, else text. */
static int parse_maybe_json(struct parser *p, struct ib_df_instr *in, const char *rest, struct ib_err **err)
{
        char **argv = NULL;
        int r = *rest ? ib_df_parse_json_array(rest, &argv) : 0;
        if (r < 0)
                return perr(p, in->line, in->col, err,
                            "when using JSON array syntax, arrays must be comprised of strings only");
        if (r > 0) {
                in->json = true;
                in->argv = argv;
        } else {
                in->text = ib_strdup(rest);
        }
        return 0;
}

/* parseMaybeJSONToList (COPY, ADD, VOLUME). */
static int parse_maybe_json_list(struct parser *p, struct ib_df_instr *in, const char *rest, struct ib_err **err)
{
        char **argv = NULL;
        int r = ib_df_parse_json_array(rest, &argv);
        if (r < 0)
                return perr(p, in->line, in->col, err,
                            "when using JSON array syntax, arrays must be comprised of strings only");
        if (r > 0) {
                in->json = true;
                in->args = argv;
                return 0;
        }
        struct ib_strvec w = { 0 };
        split_ws(rest, &w);
        in->args = ib_strvec_finish(&w);
        return 0;
}

static size_t strv_count(char **v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

static bool valid_stage_name(const char *s)
{
        if (!(*s >= 'a' && *s <= 'z'))
                return false;
        for (s++; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
                        return false;
        return true;
}

static int parse_instr(struct parser *p, struct ib_df_instr *in, const char *line, bool nested, struct ib_err **err);

/* The arguments of @in from @rest (flags already removed), then BuildKit's
 * per-instruction checks. */
static int parse_args(struct parser *p, struct ib_df_instr *in, const char *rest, struct ib_err **err)
{
        const char *kw = kind_names[in->kind];
        int r;

        switch (in->kind) {
        case IB_DF_FROM: {
                struct ib_strvec w = { 0 };
                split_ws(rest, &w);
                in->args = ib_strvec_finish(&w);
                size_t n = strv_count(in->args);
                if (n == 3 && strcasecmp(in->args[1], "as") == 0) {
                        _cleanup_free_ char *name = ib_strdup(in->args[2]);
                        for (char *c = name; *c; c++)
                                *c = (char) tolower((unsigned char) *c);
                        if (!valid_stage_name(name))
                                return perr(p, in->line, in->col, err,
                                            "invalid name for build stage: \"%s\", name can't start with a number or contain symbols",
                                            in->args[2]);
                } else if (n != 1) {
                        return perr(p, in->line, in->col, err, "FROM requires either one or three arguments");
                }
                return 0;
        }
        case IB_DF_RUN:
        case IB_DF_CMD:
        case IB_DF_ENTRYPOINT:
                return parse_maybe_json(p, in, rest, err);
        case IB_DF_SHELL:
                r = parse_maybe_json(p, in, rest, err);
                if (r < 0)
                        return r;
                if (!in->json && !*in->text)
                        return perr(p, in->line, in->col, err, "SHELL requires at least one argument");
                if (!in->json)
                        return perr(p, in->line, in->col, err, "SHELL requires the arguments to be in JSON form");
                if (!in->argv[0])
                        return perr(p, in->line, in->col, err, "SHELL requires at least one argument");
                return 0;
        case IB_DF_ENV:
        case IB_DF_LABEL:
                return parse_name_val(p, in, rest, err);
        case IB_DF_ARG:
                return parse_arg(p, in, rest, err);
        case IB_DF_EXPOSE: {
                struct ib_strvec w = { 0 };
                split_ws(rest, &w);
                in->args = ib_strvec_finish(&w);
                if (!in->args[0])
                        return perr(p, in->line, in->col, err, "EXPOSE requires at least one argument");
                return 0;
        }
        case IB_DF_VOLUME:
                r = parse_maybe_json_list(p, in, rest, err);
                if (r < 0)
                        return r;
                if (!in->args[0])
                        return perr(p, in->line, in->col, err, "VOLUME requires at least one argument");
                for (char **v = in->args; *v; v++) {
                        char *t = trim_dup(*v, strlen(*v));
                        free(*v);
                        *v = t;
                        if (!*t)
                                return perr(p, in->line, in->col, err, "VOLUME specified can not be an empty string");
                }
                return 0;
        case IB_DF_COPY:
        case IB_DF_ADD: {
                r = parse_maybe_json_list(p, in, rest, err);
                if (r < 0)
                        return r;
                size_t n = strv_count(in->args);
                if (n < 2)
                        return perr(p, in->line, in->col, err,
                                    "%s requires at least two arguments, but only one was provided. Destination could not be determined.",
                                    kw);
                struct ib_df_heredoc h;
                if (!in->json && parse_heredoc_word(in->args[n - 1], &h)) {
                        free(h.name);
                        return perr(p, in->line, in->col, err, "%s cannot accept a heredoc as a destination", kw);
                }
                return 0;
        }
        case IB_DF_WORKDIR:
        case IB_DF_USER:
        case IB_DF_STOPSIGNAL:
        case IB_DF_MAINTAINER:
                if (!*rest)
                        return perr(p, in->line, in->col, err, "%s requires exactly one argument", kw);
                in->text = ib_strdup(rest);
                return 0;
        case IB_DF_HEALTHCHECK: {
                size_t sep = 0;
                while (rest[sep] && !is_space(rest[sep]))
                        sep++;
                if (sep == 0)
                        return perr(p, in->line, in->col, err, "HEALTHCHECK requires at least one argument");
                size_t next = sep;
                while (rest[next] && is_space(rest[next]))
                        next++;
                _cleanup_free_ char *typ = ib_strndup(rest, sep);
                for (char *c = typ; *c; c++)
                        *c = (char) toupper((unsigned char) *c);
                if (strcmp(typ, "NONE") == 0) {
                        if (rest[next])
                                return perr(p, in->line, in->col, err, "HEALTHCHECK NONE takes no arguments");
                } else if (strcmp(typ, "CMD") == 0) {
                        r = parse_maybe_json(p, in, rest + next, err);
                        if (r < 0)
                                return r;
                        if ((in->json && !in->argv[0]) || (!in->json && !*in->text))
                                return perr(p, in->line, in->col, err, "Missing command after HEALTHCHECK CMD");
                } else {
                        return perr(p, in->line, in->col, err, "Unknown type \"%s\" in HEALTHCHECK (try CMD)", typ);
                }
                struct ib_strvec w = { 0 };
                ib_strvec_push_own(&w, IB_TAKE_PTR(typ));
                in->args = ib_strvec_finish(&w);
                return 0;
        }
        case IB_DF_ONBUILD: {
                if (!*rest)
                        return perr(p, in->line, in->col, err, "ONBUILD requires at least one argument");
                size_t e = 0;
                while (rest[e] && !is_ws(rest[e]))
                        e++;
                _cleanup_free_ char *sub = ib_strndup(rest, e);
                for (char *c = sub; *c; c++)
                        *c = (char) toupper((unsigned char) *c);
                if (strcmp(sub, "ONBUILD") == 0)
                        return perr(p, in->line, in->col, err, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
                if (strcmp(sub, "FROM") == 0 || strcmp(sub, "MAINTAINER") == 0)
                        return perr(p, in->line, in->col, err, "%s isn't allowed as an ONBUILD trigger", sub);
                in->sub = ib_calloc(1, sizeof(*in->sub));
                in->sub->line = in->line;
                in->sub->col = in->col;
                in->sub->end_line = in->line;
                return parse_instr(p, in->sub, rest, true, err);
        }
        default:
                return perr(p, in->line, in->col, err, "internal error: unhandled instruction");
        }
}

/* One logical line -> @in (BuildKit's newNodeFromLine + ParseInstruction). */
static int parse_instr(struct parser *p, struct ib_df_instr *in, const char *line, bool nested, struct ib_err **err)
{
        size_t ks = leading_ws(line, strlen(line));
        size_t ke = ks;
        int r;

        while (line[ke] && !is_ws(line[ke]))
                ke++;
        in->keyword = ib_strndup(line + ks, ke - ks);
        in->raw = trim_dup(line, strlen(line));
        int k = kind_from_keyword(in->keyword);
        if (k < 0) {
                _cleanup_free_ char *up = ib_strdup(in->keyword);
                for (char *c = up; *c; c++)
                        *c = (char) toupper((unsigned char) *c);
                return perr(p, in->line, in->col, err, "unknown instruction: %s", up);
        }
        in->kind = (enum ib_df_kind) k;
        (void) nested;

        _cleanup_(ib_strvec_release) struct ib_strvec fl = { 0 };
        const char *rest = extract_flags(line + ke, &fl);
        _cleanup_free_ char *rest_trim = trim_dup(rest, strlen(rest));
        r = parse_flags(p, in, fl.v, err);
        if (r < 0)
                return r;
        return parse_args(p, in, rest_trim, err);
}

static bool can_have_heredocs(const struct ib_df_instr *in)
{
        if (in->kind == IB_DF_ONBUILD && in->sub)
                in = in->sub;
        return (in->kind == IB_DF_RUN || in->kind == IB_DF_COPY || in->kind == IB_DF_ADD) && !in->json;
}

/* Read the bodies of the heredocs named on @line (after the logical line). */
static int read_heredocs(struct parser *p, struct ib_df_instr *in, const char *line, struct ib_err **err)
{
        _cleanup_(ib_strvec_release) struct ib_strvec words = { 0 };
        struct ib_df_instr *target = in->kind == IB_DF_ONBUILD && in->sub ? in->sub : in;
        size_t alloc = 0;

        split_shell_raw(line, &words);
        for (size_t i = 0; i < words.n; i++) {
                struct ib_df_heredoc h;
                if (!parse_heredoc_word(words.v[i], &h))
                        continue;
                struct ib_buf body = IB_BUF_INIT;
                const char *s;
                size_t n, full;
                bool terminated = false;
                size_t name_len = strlen(h.name);
                while (next_line(p, &s, &n, &full)) {
                        const char *t = s;
                        size_t tn = n;
                        if (h.chomp)
                                while (tn && *t == '\t')
                                        t++, tn--;
                        if (tn == name_len && memcmp(t, h.name, tn) == 0) {
                                terminated = true;
                                break;
                        }
                        ib_buf_add(&body, s, full);
                }
                if (!terminated) {
                        ib_buf_release(&body);
                        int r = perr(p, in->line, in->col, err, "unterminated heredoc %s (no line \"%s\" before the end of the file)",
                                     h.name, h.name);
                        free(h.name);
                        return r;
                }
                h.body = ib_buf_detach(&body);
                ib_grow(&target->heredocs, &alloc, target->n_heredocs + 1, sizeof(*target->heredocs));
                target->heredocs[target->n_heredocs++] = h;
        }
        in->end_line = p->lineno;
        return 0;
}

/* --------------------------------------------------------------- the file */

static void stage_release(struct ib_df_stage *st)
{
        free(st->name);
        free(st->instrs);
}

void ib_dockerfile_free(struct ib_dockerfile *df)
{
        if (!df)
                return;
        for (size_t i = 0; i < df->n_instrs; i++)
                instr_release(&df->instrs[i]);
        free(df->instrs);
        free(df->meta_args);
        for (size_t i = 0; i < df->n_stages; i++)
                stage_release(&df->stages[i]);
        free(df->stages);
        free(df->path);
        free(df->syntax);
        free(df);
}

/* The trigger text BuildKit stores for ONBUILD: the line without the keyword,
 * heredoc bodies and terminators appended. */
static void make_trigger(struct ib_df_instr *in)
{
        struct ib_buf b = IB_BUF_INIT;
        const char *s = in->raw + strlen(in->keyword);
        while (*s && is_space(*s))
                s++;
        ib_buf_adds(&b, s);
        for (size_t i = 0; in->sub && i < in->sub->n_heredocs; i++) {
                ib_buf_addc(&b, '\n');
                ib_buf_adds(&b, in->sub->heredocs[i].body);
                ib_buf_adds(&b, in->sub->heredocs[i].name);
        }
        in->trigger = ib_buf_detach(&b);
}

static int cmp_stage_name(const void *a, const void *b)
{
        const struct ib_df_stage *x = *(const struct ib_df_stage *const *) a, *y = *(const struct ib_df_stage *const *) b;
        int c = strcmp(x->name, y->name);
        return c ? c : (x->index < y->index ? -1 : x->index > y->index);
}

/* A stage name used twice is refused (BuildKit only warns, and then resolves
 * names inconsistently); sorting keeps this O(n log n) for huge files.  The
 * error names the first repeat in file order. */
static int check_stage_names(struct parser *p, struct ib_dockerfile *df, struct ib_err **err)
{
        _cleanup_free_ struct ib_df_stage **v = ib_calloc(df->n_stages + 1, sizeof(*v));
        size_t n = 0;
        const struct ib_df_stage *dup = NULL, *first = NULL;

        for (size_t i = 0; i < df->n_stages; i++)
                if (df->stages[i].name)
                        v[n++] = &df->stages[i];
        qsort(v, n, sizeof(*v), cmp_stage_name);
        for (size_t i = 1; i < n; i++)
                if (strcmp(v[i - 1]->name, v[i]->name) == 0 && (!dup || v[i]->index < dup->index)) {
                        size_t j = i - 1;
                        while (j > 0 && strcmp(v[j - 1]->name, v[i]->name) == 0)
                                j--;
                        dup = v[i];
                        first = v[j];
                }
        if (dup)
                return perr(p, dup->from->line, dup->from->col, err, "duplicate stage name \"%s\" (first defined on line %u)",
                            dup->name, first->from->line);
        return 0;
}

/* Group instructions into stages (second pass: the instruction array no longer moves). */
static int group_stages(struct parser *p, struct ib_dockerfile *df, struct ib_err **err)
{
        size_t alloc_st = 0, alloc_meta = 0;
        size_t *alloc_in = NULL;

        for (size_t i = 0; i < df->n_instrs; i++) {
                struct ib_df_instr *in = &df->instrs[i];
                if (in->kind == IB_DF_FROM) {
                        size_t before = alloc_st;
                        ib_grow(&df->stages, &alloc_st, df->n_stages + 1, sizeof(*df->stages));
                        if (alloc_st != before || !alloc_in)
                                alloc_in = ib_reallocarray(alloc_in, alloc_st, sizeof(size_t));
                        struct ib_df_stage *st = &df->stages[df->n_stages];
                        *st = (struct ib_df_stage) { .index = df->n_stages, .from = in };
                        alloc_in[df->n_stages] = 0;
                        if (strv_count(in->args) == 3) {
                                st->name = ib_strdup(in->args[2]);
                                for (char *c = st->name; *c; c++)
                                        *c = (char) tolower((unsigned char) *c);
                        }
                        df->n_stages++;
                        continue;
                }
                if (df->n_stages == 0) {
                        /* checked in the first pass: only ARG gets here */
                        ib_grow(&df->meta_args, &alloc_meta, df->n_meta_args + 1, sizeof(*df->meta_args));
                        df->meta_args[df->n_meta_args++] = in;
                        continue;
                }
                struct ib_df_stage *st = &df->stages[df->n_stages - 1];
                ib_grow(&st->instrs, &alloc_in[df->n_stages - 1], st->n_instrs + 1, sizeof(*st->instrs));
                st->instrs[st->n_instrs++] = in;
        }
        free(alloc_in);
        if (check_stage_names(p, df, err) < 0)
                return -EINVAL;
        if (df->n_stages == 0) {
                unsigned line = df->n_instrs ? df->instrs[0].line : 1;
                return perr(p, line, 1, err, "dockerfile contains no stages to build (no FROM instruction)");
        }
        return 0;
}

static int parse_all(struct parser *p, struct ib_dockerfile *df, struct ib_err **err)
{
        size_t alloc = 0;
        bool seen_from = false;
        const char *s;
        size_t n;
        int r;

        while (next_line(p, &s, &n, NULL)) {
                /* a UTF-8 byte order mark on the first line */
                if (p->lineno == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
                        s += 3, n -= 3;
                size_t lw = leading_ws(s, n);
                r = directive_line(p, s + lw, n - lw, err);
                if (r < 0)
                        return r;
                if (lw == n || is_comment(s, n))
                        continue;
                unsigned start = p->lineno, col = (unsigned) lw + 1;
                struct ib_buf line = IB_BUF_INIT;
                ssize_t c = continuation(p, s + lw, n - lw);
                ib_buf_add(&line, s + lw, c >= 0 ? (size_t) c : n - lw);
                while (c >= 0 && next_line(p, &s, &n, NULL)) {
                        r = directive_line(p, s, n, err);
                        if (r < 0) {
                                ib_buf_release(&line);
                                return r;
                        }
                        if (is_comment(s, n) || leading_ws(s, n) == n)
                                continue;       /* comment or empty continuation line */
                        c = continuation(p, s, n);
                        ib_buf_add(&line, s, c >= 0 ? (size_t) c : n);
                }
                ib_grow(&df->instrs, &alloc, df->n_instrs + 1, sizeof(*df->instrs));
                struct ib_df_instr *in = &df->instrs[df->n_instrs++];
                memset(in, 0, sizeof(*in));
                in->line = start;
                in->col = col;
                in->end_line = p->lineno;
                r = parse_instr(p, in, line.buf, false, err);
                if (r >= 0 && can_have_heredocs(in) && strstr(line.buf, "<<"))
                        r = read_heredocs(p, in, line.buf, err);
                ib_buf_release(&line);
                if (r < 0)
                        return r;
                if (in->kind == IB_DF_ONBUILD)
                        make_trigger(in);
                if (in->kind == IB_DF_FROM)
                        seen_from = true;
                else if (!seen_from && in->kind != IB_DF_ARG)
                        return perr(p, in->line, in->col, err,
                                    "no build stage in current context (%s before the first FROM)",
                                    kind_names[in->kind]);
        }
        if (df->n_instrs == 0)
                return perr(p, 1, 1, err, "file with no instructions");
        return group_stages(p, df, err);
}

int ib_dockerfile_parse(const char *path, const char *data, size_t len,
                        struct ib_dockerfile **ret, struct ib_err **err)
{
        struct parser p = { .path = path, .len = len, .escape = '\\' };
        int r;

        if (len == 0)
                return perr(&p, 1, 1, err, "the Dockerfile cannot be empty");
        const char *nul = memchr(data, '\0', len);
        if (nul) {
                unsigned line = 1, col = 1;
                for (const char *c = data; c < nul; c++, col++)
                        if (*c == '\n')
                                line++, col = 0;
                return perr(&p, line, col, err, "the Dockerfile contains a NUL byte");
        }
        _cleanup_free_ char *copy = ib_strndup(data, len);
        p.data = copy;

        struct ib_dockerfile *df = ib_calloc(1, sizeof(*df));
        df->path = ib_strdup(path);
        r = parse_all(&p, df, err);
        df->escape = p.escape;
        df->syntax = p.syntax;
        if (r < 0) {
                ib_dockerfile_free(df);
                return r;
        }
        *ret = df;
        return 0;
}
