/* src/shell.c - Dockerfile word expansion with BuildKit's shell-lexer
 * semantics (frontend/dockerfile/shell/lex.go), and quote-aware splitting
 * (the parser's parseWords).
 *
 * The expander is a recursive-descent scanner over bytes that mirrors the
 * structure of BuildKit's: process_stop_on() reads until a stop character,
 * dispatching quotes and `$` to their own readers; `${...}` alternatives and
 * patterns are read with process_stop_on() again, so words nest.  Special
 * characters are all ASCII; where BuildKit looks at runes (whitespace for field
 * splitting, the escape char's operand, `?` in patterns) we decode UTF-8 here
 * too.  Known differences, on purpose: variable names are ASCII letters, digits
 * and `_` only (Go accepts any Unicode letter), and invalid UTF-8 is passed
 * through byte for byte (Go's scanner turns it into U+FFFD). */
#include "lib/ib.h"
#include "src/shell.h"

#define STOP_EOF (-1)

struct sw {
        const char *s;
        size_t len;
        size_t pos;
        char esc;
        unsigned flags;
        bool raw_escapes;       /* current: keep escape chars (inside #, % and / patterns) */
        unsigned depth;
        ib_shell_lookup_fn lookup;
        void *userdata;
        struct ib_err **err;
};

/* Field splitting state (BuildKit's wordsStruct). */
struct fields {
        struct ib_buf word;
        bool in_word;
        char **v;
        size_t n, alloc;
};

/* ----------------------------------------------------------------- fields */

static void fields_push_word(struct fields *f)
{
        ib_grow(&f->v, &f->alloc, f->n + 2, sizeof(char *));
        f->v[f->n++] = ib_buf_detach(&f->word);
        f->v[f->n] = NULL;
}

/* addChar: unquoted text splits at whitespace. */
static void fields_add_char(struct fields *f, const char *c, size_t n)
{
        if (ib_utf8_is_space(c, n)) {
                if (f->in_word && f->word.len > 0) {
                        fields_push_word(f);
                        f->in_word = false;
                }
                return;
        }
        ib_buf_add(&f->word, c, n);
        f->in_word = true;
}

/* addString: an unquoted expansion result, split rune by rune. */
static void fields_add_string(struct fields *f, const char *s, size_t len)
{
        for (size_t i = 0; i < len;) {
                size_t n = ib_utf8_len(s + i, len - i);
                fields_add_char(f, s + i, n);
                i += n;
        }
}

/* addRawString / addRawChar: quoted or escaped text never splits. */
static void fields_add_raw(struct fields *f, const char *s, size_t len)
{
        ib_buf_add(&f->word, s, len);
        f->in_word = true;
}

/* getWords: a field is only produced when it is non-empty. */
static char **fields_finish(struct fields *f)
{
        if (f->word.len > 0)
                fields_push_word(f);
        ib_buf_release(&f->word);
        if (!f->v) {
                f->v = ib_calloc(1, sizeof(char *));
                f->alloc = 1;
        }
        return IB_TAKE_PTR(f->v);
}

static void fields_release(struct fields *f)
{
        ib_buf_release(&f->word);
        ib_strv_free(f->v);
        f->v = NULL;
        f->n = f->alloc = 0;
}

/* ---------------------------------------------------------------- scanner */

static int peek(const struct sw *sw)
{
        return sw->pos < sw->len ? (unsigned char) sw->s[sw->pos] : STOP_EOF;
}

static int sw_fail(struct sw *sw, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sw_fail(struct sw *sw, size_t at, const char *fmt, ...)
{
        struct ib_buf b = IB_BUF_INIT;
        va_list ap;

        va_start(ap, fmt);
        ib_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        ib_err_set(sw->err, EINVAL, "%s at column %zu", b.buf, at + 1);
        ib_buf_release(&b);
        return -EINVAL;
}

/* Copy the (UTF-8) character at the cursor to @out and advance. */
static void take_char(struct sw *sw, struct ib_buf *out)
{
        size_t n = ib_utf8_len(sw->s + sw->pos, sw->len - sw->pos);
        ib_buf_add(out, sw->s + sw->pos, n);
        sw->pos += n;
}

static int process_dollar(struct sw *sw, struct ib_buf *out);

static int process_single_quote(struct sw *sw, struct ib_buf *out)
{
        size_t start = sw->pos;

        sw->pos++;
        if (sw->flags & IB_SHELL_RAW_QUOTES)
                ib_buf_addc(out, '\'');
        const char *end = memchr(sw->s + sw->pos, '\'', sw->len - sw->pos);
        if (!end) {
                sw->pos = sw->len;
                return sw_fail(sw, start, "unexpected end of statement while looking for matching single-quote");
        }
        size_t n = (size_t) (end - (sw->s + sw->pos));
        ib_buf_add(out, sw->s + sw->pos, n);
        sw->pos += n + 1;
        if (sw->flags & IB_SHELL_RAW_QUOTES)
                ib_buf_addc(out, '\'');
        return 0;
}

/* Inside "...", the escape char escapes only `"`, `$` and itself; elsewhere it stays. */
static int process_double_quote(struct sw *sw, struct ib_buf *out)
{
        size_t start = sw->pos;
        int r;

        sw->pos++;
        if (sw->flags & IB_SHELL_RAW_QUOTES)
                ib_buf_addc(out, '"');
        for (;;) {
                int ch = peek(sw);
                if (ch == STOP_EOF)
                        return sw_fail(sw, start, "unexpected end of statement while looking for matching double-quote");
                if (ch == '"') {
                        sw->pos++;
                        if (sw->flags & IB_SHELL_RAW_QUOTES)
                                ib_buf_addc(out, '"');
                        return 0;
                }
                if (ch == '$') {
                        r = process_dollar(sw, out);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (ch == (unsigned char) sw->esc) {
                        sw->pos++;
                        if (sw->raw_escapes)
                                ib_buf_addc(out, sw->esc);
                        int next = peek(sw);
                        if (next == STOP_EOF)
                                continue;       /* reported as unterminated above */
                        if (next == '"' || next == '$' || next == (unsigned char) sw->esc) {
                                sw->pos++;
                                ib_buf_addc(out, (char) next);
                        } else {
                                ib_buf_addc(out, sw->esc);
                        }
                        continue;
                }
                /* a run of ordinary bytes at once: keeps long words linear and fast */
                size_t i = sw->pos;
                while (i < sw->len && sw->s[i] != '"' && sw->s[i] != '$' && sw->s[i] != sw->esc)
                        i++;
                ib_buf_add(out, sw->s + sw->pos, i - sw->pos);
                sw->pos = i;
        }
}

static bool is_special(const struct sw *sw, int stop, bool quotes, int ch)
{
        return ch == stop || ch == '$' || ch == (unsigned char) sw->esc || (quotes && (ch == '\'' || ch == '"'));
}

/* Read up to @stop (consumed) or the end (@stop == STOP_EOF).  The expansion goes
 * to @out; when @f is not NULL the text is also split into fields. */
static int process_stop_on(struct sw *sw, int stop, bool raw_escapes, struct ib_buf *out, struct fields *f)
{
        bool saved_raw = sw->raw_escapes;
        bool quotes = !(sw->flags & IB_SHELL_SKIP_QUOTES);
        int r = 0;

        sw->raw_escapes = raw_escapes;
        for (;;) {
                int ch = peek(sw);
                if (ch == STOP_EOF)
                        break;
                if (stop != STOP_EOF && ch == stop) {
                        sw->pos++;
                        goto out;
                }
                if (ch == '$' || (quotes && (ch == '\'' || ch == '"'))) {
                        size_t mark = out->len;
                        if (ch == '$')
                                r = process_dollar(sw, out);
                        else if (ch == '\'')
                                r = process_single_quote(sw, out);
                        else
                                r = process_double_quote(sw, out);
                        if (r < 0)
                                goto out;
                        if (f && ch == '$')
                                fields_add_string(f, out->buf + mark, out->len - mark);
                        else if (f)
                                fields_add_raw(f, out->buf + mark, out->len - mark);
                        continue;
                }
                if (ch == (unsigned char) sw->esc) {
                        sw->pos++;
                        if (sw->raw_escapes) {
                                ib_buf_addc(out, sw->esc);
                                if (f)
                                        fields_add_raw(f, &sw->esc, 1);
                        }
                        if (peek(sw) == STOP_EOF)
                                break;          /* an escape at the very end is dropped */
                        size_t mark = out->len;
                        take_char(sw, out);
                        if (f)
                                fields_add_raw(f, out->buf + mark, out->len - mark);
                        continue;
                }
                if (!f) {
                        /* a run of ordinary bytes at once (long words stay fast) */
                        size_t i = sw->pos + 1;
                        while (i < sw->len && !is_special(sw, stop, quotes, (unsigned char) sw->s[i]))
                                i++;
                        ib_buf_add(out, sw->s + sw->pos, i - sw->pos);
                        sw->pos = i;
                        continue;
                }
                size_t mark = out->len;
                take_char(sw, out);
                fields_add_char(f, out->buf + mark, out->len - mark);
        }
        if (stop != STOP_EOF)
                r = sw_fail(sw, sw->pos, "unexpected end of statement while looking for matching %c", stop);
out:
        sw->raw_escapes = saved_raw;
        return r;
}

static bool is_name_char(int ch)
{
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

/* A name: digits only (positional), one special parameter char, or [A-Za-z0-9_]+. */
static void process_name(struct sw *sw, struct ib_buf *name)
{
        int ch = peek(sw);

        if (ch >= '0' && ch <= '9') {
                while ((ch = peek(sw)) >= '0' && ch <= '9') {
                        ib_buf_addc(name, (char) ch);
                        sw->pos++;
                }
                return;
        }
        if (ch != STOP_EOF && strchr("@*#?-$!", ch)) {
                ib_buf_addc(name, (char) ch);
                sw->pos++;
                return;
        }
        while ((ch = peek(sw)) != STOP_EOF && is_name_char(ch)) {
                ib_buf_addc(name, (char) ch);
                sw->pos++;
        }
}

static const char *get_env(struct sw *sw, const char *name)
{
        return sw->lookup ? sw->lookup(name, sw->userdata) : NULL;
}

/* ------------------------------------------------------------- patterns */

/* BuildKit's shell patterns: `*` any string, `?` any one character, `\*` `\?`
 * `\\` literals, `\}` and `\/` plain `}` and `/`; no bracket expressions.  Go's
 * regexp `.` does not match a newline, so neither `*` nor `?` do here. */
enum atom_kind { ATOM_LIT, ATOM_ANY, ATOM_STAR };
struct atom {
        enum atom_kind kind;
        uint8_t n;              /* literal: bytes of one character */
        char c[4];
};

struct pattern {
        struct atom *a;
        size_t n, alloc;
};

static void pattern_free(struct pattern *p)
{
        free(p->a);
        p->a = NULL;
        p->n = p->alloc = 0;
}

static void pattern_push(struct pattern *p, enum atom_kind kind, const char *c, size_t n)
{
        /* `**` matches exactly what `*` does (same first-match order); keeping one
         * bounds the matcher's work per character to one split. */
        if (kind == ATOM_STAR && p->n > 0 && p->a[p->n - 1].kind == ATOM_STAR)
                return;
        ib_grow(&p->a, &p->alloc, p->n + 1, sizeof(struct atom));
        struct atom *a = &p->a[p->n++];
        a->kind = kind;
        a->n = (uint8_t) n;
        if (n)
                memcpy(a->c, c, n);
}

static int pattern_compile(struct sw *sw, size_t col, const char *pat, size_t len, struct pattern *p)
{
        for (size_t i = 0; i < len;) {
                char c = pat[i];
                if (c == '*') {
                        pattern_push(p, ATOM_STAR, NULL, 0);
                        i++;
                        continue;
                }
                if (c == '?') {
                        pattern_push(p, ATOM_ANY, NULL, 0);
                        i++;
                        continue;
                }
                if (c == '\\') {
                        if (i + 1 < len && (pat[i + 1] == '}' || pat[i + 1] == '/')) {
                                i++;
                                continue;
                        }
                        if (i + 1 >= len || (pat[i + 1] != '*' && pat[i + 1] != '?' && pat[i + 1] != '\\')) {
                                pattern_free(p);
                                return sw_fail(sw, col, "invalid pattern (%.*s) in substitution: invalid escape '\\%.*s'",
                                               (int) len, pat, i + 1 < len ? (int) ib_utf8_len(pat + i + 1, len - i - 1) : 0,
                                               pat + i + 1);
                        }
                        pattern_push(p, ATOM_LIT, pat + i + 1, 1);
                        i += 2;
                        continue;
                }
                size_t n = ib_utf8_len(pat + i, len - i);
                pattern_push(p, ATOM_LIT, pat + i, n);
                i += n;
        }
        return 0;
}

/* Does atom @a (not a star) or a star's step accept the character at @s? */
static bool atom_accepts(const struct atom *a, const char *s, size_t n)
{
        if (a->kind == ATOM_LIT)
                return a->n == n && memcmp(a->c, s, n) == 0;
        return !(n == 1 && s[0] == '\n');
}

/* A Pike VM with thread priorities, so the match found is the one Go's
 * leftmost-first regexp engine finds: all stars greedy or all lazy.  Work is
 * O(len(s) * atoms). */
struct vm {
        const struct pattern *p;
        bool greedy;
        size_t *cur, *next;             /* state lists (atom index; p->n = match) */
        size_t *cur_start, *next_start; /* start offset of each thread */
        size_t ncur, nnext;
        unsigned *mark;                 /* generation per state: dedup */
        unsigned gen;
};

static void vm_add(struct vm *vm, size_t **list, size_t **starts, size_t *n, size_t state, size_t start)
{
        /* the closure of a state: a star splits into "stay" and "skip" */
        size_t todo[2];
        size_t nt = 0;

        if (state < vm->p->n && vm->p->a[state].kind == ATOM_STAR) {
                if (vm->greedy) {
                        todo[nt++] = state;
                        todo[nt++] = state + 1;
                } else {
                        todo[nt++] = state + 1;
                        todo[nt++] = state;
                }
        } else {
                todo[nt++] = state;
        }
        for (size_t i = 0; i < nt; i++) {
                size_t st = todo[i];
                if (vm->mark[st] == vm->gen)
                        continue;
                vm->mark[st] = vm->gen;
                (*list)[*n] = st;
                (*starts)[*n] = start;
                (*n)++;
        }
}

/* Search @s from @from.  Anchored: the match must start at @from.  Returns true
 * and sets *ret_start and *ret_end to the leftmost-first match. */
static bool vm_search(const struct pattern *p, bool greedy, bool anchored, const char *s, size_t len, size_t from,
                      size_t *ret_start, size_t *ret_end)
{
        struct vm vm = { .p = p, .greedy = greedy };
        size_t nstates = p->n + 1;
        bool found = false;
        size_t mstart = 0, mend = 0;

        /* each list holds every state at most once */
        vm.cur = ib_calloc(nstates, sizeof(size_t));
        vm.next = ib_calloc(nstates, sizeof(size_t));
        vm.cur_start = ib_calloc(nstates, sizeof(size_t));
        vm.next_start = ib_calloc(nstates, sizeof(size_t));
        vm.mark = ib_calloc(nstates, sizeof(unsigned));
        vm.gen = 1;
        vm_add(&vm, &vm.cur, &vm.cur_start, &vm.ncur, 0, from);

        for (size_t pos = from;;) {
                size_t n = pos < len ? ib_utf8_len(s + pos, len - pos) : 0;
                vm.gen++;
                vm.nnext = 0;
                for (size_t i = 0; i < vm.ncur; i++) {
                        size_t st = vm.cur[i];
                        if (st == p->n) {
                                found = true;
                                mstart = vm.cur_start[i];
                                mend = pos;
                                break;  /* lower-priority threads lose */
                        }
                        if (pos >= len || !atom_accepts(&p->a[st], s + pos, n))
                                continue;
                        size_t to = p->a[st].kind == ATOM_STAR ? st : st + 1;
                        vm_add(&vm, &vm.next, &vm.next_start, &vm.nnext, to, vm.cur_start[i]);
                }
                if (pos >= len)
                        break;
                pos += n;
                /* unanchored: a new start at every position, lowest priority */
                if (!anchored && !found)
                        vm_add(&vm, &vm.next, &vm.next_start, &vm.nnext, 0, pos);
                if (vm.nnext == 0)
                        break;
                size_t *t = vm.cur;
                vm.cur = vm.next;
                vm.next = t;
                t = vm.cur_start;
                vm.cur_start = vm.next_start;
                vm.next_start = t;
                vm.ncur = vm.nnext;
        }
        free(vm.cur);
        free(vm.next);
        free(vm.cur_start);
        free(vm.next_start);
        free(vm.mark);
        if (found) {
                *ret_start = mstart;
                *ret_end = mend;
        }
        return found;
}

/* Reverse @s character by character (UTF-8 sequences keep their byte order). */
static char *reverse_chars(const char *s, size_t len)
{
        char *r = ib_malloc(len + 1);
        for (size_t i = 0; i < len;) {
                size_t n = ib_utf8_len(s + i, len - i);
                memcpy(r + len - i - n, s + i, n);
                i += n;
        }
        r[len] = '\0';
        return r;
}

/* BuildKit's reversePattern: reverse, but keep `\x` pairs (read left to right) in order. */
static char *reverse_pattern(const char *s, size_t len)
{
        char *r = ib_malloc(len + 1);
        for (size_t i = 0; i < len;) {
                size_t n = ib_utf8_len(s + i, len - i);
                if (s[i] == '\\' && i + 1 < len) {
                        size_t m = ib_utf8_len(s + i + 1, len - i - 1);
                        memcpy(r + len - i - 1 - m, "\\", 1);
                        memcpy(r + len - i - m, s + i + 1, m);
                        i += 1 + m;
                        continue;
                }
                memcpy(r + len - i - n, s + i, n);
                i += n;
        }
        r[len] = '\0';
        return r;
}

/* ${v#p} ${v##p}: remove the shortest (longest) matching prefix. */
static int trim_prefix(struct sw *sw, size_t col, const char *pat, size_t plen, const char *val, bool greedy,
                       struct ib_buf *out)
{
        struct pattern p = { 0 };
        size_t vlen = strlen(val), st = 0, end = 0;
        int r = pattern_compile(sw, col, pat, plen, &p);

        if (r < 0)
                return r;
        if (vm_search(&p, greedy, true, val, vlen, 0, &st, &end))
                val += end;
        ib_buf_adds(out, val);
        pattern_free(&p);
        return 0;
}

/* ${v%p} ${v%%p}: like BuildKit, reverse pattern and value and trim a prefix. */
static int trim_suffix(struct sw *sw, size_t col, const char *pat, size_t plen, const char *val, bool greedy,
                       struct ib_buf *out)
{
        _cleanup_free_ char *rpat = reverse_pattern(pat, plen);
        size_t vlen = strlen(val);
        _cleanup_free_ char *rval = reverse_chars(val, vlen);
        struct ib_buf tmp = IB_BUF_INIT;
        int r = trim_prefix(sw, col, rpat, plen, rval, greedy, &tmp);

        if (r < 0)
                return r;
        _cleanup_free_ char *back = reverse_chars(tmp.buf, tmp.len);
        ib_buf_add(out, back, tmp.len);
        ib_buf_release(&tmp);
        return 0;
}

/* Go's regexp.Expand for a pattern without groups: `$$` is `$`, `$0` and
 * `${0}` the match, any other `$name`/`${name}` empty, a malformed `$` literal. */
static void expand_template(struct ib_buf *out, const char *t, const char *match, size_t mlen)
{
        while (*t) {
                const char *d = strchr(t, '$');
                if (!d) {
                        ib_buf_adds(out, t);
                        return;
                }
                ib_buf_add(out, t, (size_t) (d - t));
                t = d + 1;
                if (*t == '$') {
                        ib_buf_addc(out, '$');
                        t++;
                        continue;
                }
                bool brace = *t == '{';
                const char *n = t + brace, *e = n;
                while (is_name_char((unsigned char) *e))
                        e++;
                if (e == n || (brace && *e != '}')) {
                        ib_buf_addc(out, '$');
                        continue;
                }
                /* all digits: a group number (Go gives up above 1e8) */
                bool digits = true;
                for (const char *q = n; q < e; q++)
                        digits = digits && *q >= '0' && *q <= '9';
                if (digits) {
                        const char *q = n;
                        while (q < e - 1 && *q == '0')
                                q++;
                        if (e - q == 1 && *q == '0')
                                ib_buf_add(out, match, mlen);
                }
                t = e + brace;
        }
}

/* ${v/p/r} ${v//p/r}: Go's FindStringIndex / ReplaceAllString on the pattern. */
static int replace(struct sw *sw, size_t col, const char *pat, size_t plen, const char *repl, const char *val, bool all,
                   struct ib_buf *out)
{
        struct pattern p = { 0 };
        size_t vlen = strlen(val), st = 0, end = 0;
        int r = pattern_compile(sw, col, pat, plen, &p);

        if (r < 0)
                return r;
        if (!all) {
                if (vm_search(&p, true, false, val, vlen, 0, &st, &end)) {
                        ib_buf_add(out, val, st);
                        ib_buf_adds(out, repl);
                        ib_buf_adds(out, val + end);
                } else {
                        ib_buf_adds(out, val);
                }
                pattern_free(&p);
                return 0;
        }
        size_t search = 0, last_end = 0;
        while (search <= vlen) {
                if (!vm_search(&p, true, false, val, vlen, search, &st, &end))
                        break;
                ib_buf_add(out, val + last_end, st - last_end);
                /* no replacement for an empty match right after a match */
                if (end > last_end || st == 0)
                        expand_template(out, repl, val + st, end - st);
                if (out->len > IB_SHELL_MAX_RESULT) {
                        pattern_free(&p);
                        return sw_fail(sw, col, "the replacement makes the value longer than %u bytes",
                                       IB_SHELL_MAX_RESULT);
                }
                last_end = end;
                size_t w = search < vlen ? ib_utf8_len(val + search, vlen - search) : 0;
                if (search + w > end)
                        search += w;
                else if (search + 1 > end)
                        search++;
                else
                        search = end;
        }
        ib_buf_adds(out, val + last_end);
        pattern_free(&p);
        return 0;
}

/* ------------------------------------------------------------- ${...} */

/* Read a nested word up to @stop; a failure that ran into the end of the input
 * is reported as the missing terminator of the ${ at @col. */
static int nested_word(struct sw *sw, int stop, bool raw, size_t col, const char *missing, struct ib_buf *w)
{
        int r = process_stop_on(sw, stop, raw, w, NULL);
        if (r < 0 && peek(sw) == STOP_EOF)
                return sw_fail(sw, col, "%s", missing);
        return r;
}

static void add_unset_form(struct ib_buf *out, const char *name, const char *op, const char *w1, const char *sep,
                           const char *w2)
{
        ib_buf_addf(out, "${%s%s%s%s%s}", name, op, w1, sep ? sep : "", w2 ? w2 : "");
}

static int process_braces(struct sw *sw, size_t col, struct ib_buf *out)
{
        _cleanup_buf_ struct ib_buf name = IB_BUF_INIT;
        _cleanup_buf_ struct ib_buf word = IB_BUF_INIT;
        int ch = peek(sw);
        int r;

        if (ch == STOP_EOF)
                return sw_fail(sw, col, "syntax error: missing '}'");
        if (ch == '{' || ch == '}' || ch == ':')
                return sw_fail(sw, col, "syntax error: bad substitution");
        process_name(sw, &name);
        ch = peek(sw);
        if (ch == STOP_EOF)
                return sw_fail(sw, col, "syntax error: missing '}'");
        sw->pos++;
        char op[8] = { (char) ch, 0 };
        bool null_is_unset = false;

        switch (ch) {
        case '}': {
                const char *v = get_env(sw, name.buf);
                if (!v && (sw->flags & IB_SHELL_SKIP_UNSET))
                        add_unset_form(out, name.buf, "", "", NULL, NULL);
                else if (v)
                        ib_buf_adds(out, v);
                return 0;
        }
        case ':':
                null_is_unset = true;
                ch = peek(sw);
                if (ch != STOP_EOF) {
                        size_t n = ib_utf8_len(sw->s + sw->pos, sw->len - sw->pos);
                        memcpy(op + 1, sw->s + sw->pos, n);
                        sw->pos += n;
                }
                /* fallthrough */
        case '+':
        case '-':
        case '?':
        case '#':
        case '%': {
                r = nested_word(sw, '}', ch == '#' || ch == '%', col, "syntax error: missing '}'", &word);
                if (r < 0)
                        return r;
                const char *v = get_env(sw, name.buf);
                if (!v && (sw->flags & IB_SHELL_SKIP_UNSET)) {
                        add_unset_form(out, name.buf, op, word.buf, NULL, NULL);
                        return 0;
                }
                bool empty = !v || (null_is_unset && !*v);
                switch (ch) {
                case '-':
                        ib_buf_adds(out, empty ? word.buf : v);
                        return 0;
                case '+':
                        if (!empty)
                                ib_buf_adds(out, word.buf);
                        return 0;
                case '?':
                        if (empty)
                                return sw_fail(sw, col, "%s: %s", name.buf,
                                               word.len ? word.buf
                                               : v ? "is not allowed to be empty" : "is not allowed to be unset");
                        ib_buf_adds(out, v);
                        return 0;
                case '#':
                case '%': {
                        const char *pat = word.buf;
                        size_t plen = word.len;
                        bool greedy = plen > 0 && pat[0] == ch;
                        if (greedy) {
                                pat++;
                                plen--;
                        }
                        if (ch == '%')
                                return trim_suffix(sw, col, pat, plen, v ? v : "", greedy, out);
                        return trim_prefix(sw, col, pat, plen, v ? v : "", greedy, out);
                }
                default:
                        return sw_fail(sw, col, "unsupported modifier (%s) in substitution", op);
                }
        }
        case '/': {
                bool all = peek(sw) == '/';
                _cleanup_buf_ struct ib_buf repl = IB_BUF_INIT;
                if (all)
                        sw->pos++;
                r = nested_word(sw, '/', true, col, "syntax error: missing '/' in ${}", &word);
                if (r < 0)
                        return r;
                r = nested_word(sw, '}', true, col, "syntax error: missing '}'", &repl);
                if (r < 0)
                        return r;
                const char *v = get_env(sw, name.buf);
                if (!v && (sw->flags & IB_SHELL_SKIP_UNSET)) {
                        add_unset_form(out, name.buf, all ? "//" : "/", word.buf, "/", repl.buf);
                        return 0;
                }
                return replace(sw, col, word.buf, word.len, repl.buf, v ? v : "", all, out);
        }
        default: {
                size_t n = ib_utf8_len(sw->s + sw->pos - 1, sw->len - sw->pos + 1);
                return sw_fail(sw, col, "unsupported modifier (%.*s) in substitution", (int) n, sw->s + sw->pos - 1);
        }
        }
}

static int process_dollar(struct sw *sw, struct ib_buf *out)
{
        size_t col = sw->pos;

        sw->pos++;
        if (peek(sw) != '{') {
                _cleanup_buf_ struct ib_buf name = IB_BUF_INIT;
                process_name(sw, &name);
                if (name.len == 0) {
                        ib_buf_addc(out, '$');
                        return 0;
                }
                const char *v = get_env(sw, name.buf);
                if (!v && (sw->flags & IB_SHELL_SKIP_UNSET))
                        ib_buf_addf(out, "$%s", name.buf);
                else if (v)
                        ib_buf_adds(out, v);
                return 0;
        }
        sw->pos++;
        if (sw->depth >= IB_SHELL_MAX_DEPTH)
                return sw_fail(sw, col, "variable expansions nested deeper than %d levels", IB_SHELL_MAX_DEPTH);
        sw->depth++;
        int r = process_braces(sw, col, out);
        sw->depth--;
        return r;
}

/* ------------------------------------------------------------------ API */

static void sw_init(struct sw *sw, const char *word, char escape, unsigned flags, ib_shell_lookup_fn lookup,
                    void *userdata, struct ib_err **err)
{
        *sw = (struct sw) {
                .s = word, .len = strlen(word), .esc = escape, .flags = flags,
                .raw_escapes = flags & IB_SHELL_RAW_ESCAPES, .lookup = lookup, .userdata = userdata, .err = err,
        };
        /* Go's text/scanner skips a byte order mark at the start */
        if (ib_startswith(word, "\xef\xbb\xbf"))
                sw->pos = 3;
}

int ib_shell_expand_word_ex(const char *word, char escape, unsigned flags, ib_shell_lookup_fn lookup, void *userdata,
                            char **ret, struct ib_err **err)
{
        struct ib_buf out = IB_BUF_INIT;
        struct sw sw;
        int r;

        sw_init(&sw, word, escape, flags, lookup, userdata, err);
        r = process_stop_on(&sw, STOP_EOF, sw.raw_escapes, &out, NULL);
        if (r < 0) {
                ib_buf_release(&out);
                return r;
        }
        *ret = ib_buf_detach(&out);
        return 0;
}

int ib_shell_expand_word(const char *word, char escape, ib_shell_lookup_fn lookup, void *userdata, char **ret,
                         struct ib_err **err)
{
        return ib_shell_expand_word_ex(word, escape, 0, lookup, userdata, ret, err);
}

int ib_shell_expand_words(const char *text, char escape, ib_shell_lookup_fn lookup, void *userdata, char ***ret,
                          struct ib_err **err)
{
        struct ib_buf out = IB_BUF_INIT;
        struct fields f = { .word = IB_BUF_INIT };
        struct sw sw;
        int r;

        sw_init(&sw, text, escape, 0, lookup, userdata, err);
        r = process_stop_on(&sw, STOP_EOF, false, &out, &f);
        ib_buf_release(&out);
        if (r < 0) {
                fields_release(&f);
                return r;
        }
        *ret = fields_finish(&f);
        return 0;
}

/* ---------------------------------------------------------------- split */

/* BuildKit's parseWords, except that an unterminated quote is an error here
 * (BuildKit keeps the word and fails later, when it is expanded). */
int ib_shell_split(const char *text, char escape, char ***ret, struct ib_err **err)
{
        size_t len = strlen(text);
        struct ib_buf word = IB_BUF_INIT;
        char **v = NULL;
        size_t nv = 0, alloc = 0;
        bool in_word = false;
        char quote = 0;
        size_t quote_at = 0;

        for (size_t i = 0; i < len;) {
                size_t n = ib_utf8_len(text + i, len - i);
                char c = text[i];
                if (!quote && ib_utf8_is_space(text + i, n)) {
                        if (in_word) {
                                ib_grow(&v, &alloc, nv + 2, sizeof(char *));
                                v[nv++] = ib_buf_detach(&word);
                                v[nv] = NULL;
                                in_word = false;
                        }
                        i += n;
                        continue;
                }
                in_word = true;
                if (quote && c == quote) {
                        quote = 0;
                } else if (!quote && (c == '\'' || c == '"')) {
                        quote = c;
                        quote_at = i;
                } else if (c == escape && quote != '\'') {
                        if (i + 1 >= len) {
                                i++;            /* a trailing escape is dropped */
                                continue;
                        }
                        ib_buf_addc(&word, c);
                        i++;
                        n = ib_utf8_len(text + i, len - i);
                }
                ib_buf_add(&word, text + i, n);
                i += n;
        }
        if (quote) {
                ib_buf_release(&word);
                ib_strv_free(v);
                return ib_err_set(err, EINVAL, "unexpected end of statement while looking for matching %s at column %zu",
                                  quote == '"' ? "double-quote" : "single-quote", quote_at + 1);
        }
        if (in_word && word.len > 0) {
                ib_grow(&v, &alloc, nv + 2, sizeof(char *));
                v[nv++] = ib_buf_detach(&word);
                v[nv] = NULL;
        }
        ib_buf_release(&word);
        if (!v)
                v = ib_calloc(1, sizeof(char *));
        *ret = v;
        return 0;
}
