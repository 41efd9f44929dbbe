/* src/dockerignore.c - the .dockerignore matcher.
 *
 * Docker turns each pattern into a Go regexp (or, for three common shapes, a
 * plain string comparison) and matches whole paths.  We compile the same
 * pieces into a small list of atoms and run them as an NFA (a set of states
 * per character, no backtracking), so matching is O(len(path) * len(pattern)).
 * Where the regexp Docker builds would deviate from its own documentation
 * (`*`, `?` or `[` inside a class, `\d`-style escapes) we follow the
 * documentation: filepath.Match's meaning. */
#include "lib/ib.h"
#include "src/dockerignore.h"
#include <sys/stat.h>

enum match_type {
        MATCH_EXACT,    /* path == pattern */
        MATCH_PREFIX,   /* "pfx**": path starts with pfx */
        MATCH_SUFFIX,   /* "**sfx" with a literal rest: path ends with sfx (or equals it without its `/`) */
        MATCH_NFA,
};

enum atom_kind {
        A_LIT,          /* one character (its UTF-8 bytes) */
        A_NOSLASH,      /* ?  : one character but `/` */
        A_NOSLASH_STAR, /* *  : [^/]* */
        A_DIRS,         /* ** followed by more: regexp "(.*[/])?" */
        A_ANY_STAR,     /* trailing ** after other wildcards: .* */
        A_CLASS,        /* [...] */
};

struct range {
        uint32_t lo, hi;
};

struct atom {
        enum atom_kind kind;
        uint8_t n;
        char c[4];
        bool negated;
        struct range *ranges;   /* A_CLASS */
        size_t nranges;
};

struct pattern {
        char *text;             /* cleaned, without the `!` */
        bool exception;
        enum match_type type;
        struct atom *atoms;
        size_t natoms, alloc;
};

struct ib_ignore {
        struct pattern *p;
        size_t n, alloc;
        bool exceptions;
};

/* ------------------------------------------------------------- cleaning */

/* Go's path.Clean (filepath.Clean on Unix). Caller frees. */
static char *clean_path(const char *s, size_t len)
{
        bool rooted = len > 0 && s[0] == '/';
        char *out = ib_malloc(len + 2);
        size_t o = 0, dotdot = 0;  /* dotdot: where ".." can no longer back up */

        if (rooted) {
                out[o++] = '/';
                dotdot = 1;
        }
        for (size_t i = 0; i < len;) {
                if (s[i] == '/') {
                        i++;
                        continue;
                }
                size_t e = i;
                while (e < len && s[e] != '/')
                        e++;
                size_t n = e - i;
                if (n == 1 && s[i] == '.') {
                        /* skip */
                } else if (n == 2 && s[i] == '.' && s[i + 1] == '.') {
                        if (o > dotdot) {
                                /* back up to the previous slash */
                                o--;
                                while (o > dotdot && out[o] != '/')
                                        o--;
                        } else if (!rooted) {
                                if (o > 0)
                                        out[o++] = '/';
                                out[o++] = '.';
                                out[o++] = '.';
                                dotdot = o;
                        }
                } else {
                        if ((rooted && o != 1) || (!rooted && o != 0))
                                out[o++] = '/';
                        memcpy(out + o, s + i, n);
                        o += n;
                }
                i = e;
        }
        if (o == 0)
                out[o++] = '.';
        out[o] = '\0';
        return out;
}

/* strings.TrimSpace with Go's (Unicode) whitespace. */
static void trim_space(const char **s, size_t *len)
{
        const char *p = *s;
        size_t n = *len;

        while (n > 0) {
                size_t k = ib_utf8_len(p, n);
                if (!ib_utf8_is_space(p, k))
                        break;
                p += k;
                n -= k;
        }
        while (n > 0) {
                /* find the start of the last character */
                size_t k = 1;
                while (k < n && k < 4 && (p[n - k] & 0xc0) == 0x80)
                        k++;
                if (ib_utf8_len(p + n - k, k) != k)
                        k = 1;
                if (!ib_utf8_is_space(p + n - k, k))
                        break;
                n -= k;
        }
        *s = p;
        *len = n;
}

/* ------------------------------------------------------------ compiling */

static void pattern_release(struct pattern *p)
{
        for (size_t i = 0; i < p->natoms; i++)
                free(p->atoms[i].ranges);
        free(p->atoms);
        free(p->text);
        *p = (struct pattern) { 0 };
}

static struct atom *push_atom(struct pattern *p, enum atom_kind kind)
{
        ib_grow(&p->atoms, &p->alloc, p->natoms + 1, sizeof(struct atom));
        struct atom *a = &p->atoms[p->natoms++];
        *a = (struct atom) { .kind = kind };
        return a;
}

static void push_lit(struct pattern *p, const char *c, size_t n)
{
        struct atom *a = push_atom(p, A_LIT);
        a->n = (uint8_t) n;
        memcpy(a->c, c, n);
}

/* One member of a class (filepath.Match's getEsc): not empty, not `-` or `]`
 * unescaped, valid UTF-8. */
static int class_char(const char *s, size_t len, size_t *i, uint32_t *ret, const char **why)
{
        if (*i >= len) {
                *why = "unterminated character class";
                return -1;
        }
        if (s[*i] == '-' || s[*i] == ']') {
                *why = s[*i] == '-' ? "'-' where a class member was expected" : "']' where a class member was expected";
                return -1;
        }
        if (s[*i] == '\\') {
                (*i)++;
                if (*i >= len) {
                        *why = "unterminated character class";
                        return -1;
                }
        }
        size_t n = ib_utf8_len(s + *i, len - *i);
        if (n == 1 && (unsigned char) s[*i] >= 0x80) {
                *why = "invalid UTF-8 in character class";
                return -1;
        }
        *ret = ib_utf8_decode(s + *i, n);
        *i += n;
        return 0;
}

/* Parse "[...]" starting after the `[` at *i. */
static int parse_class(struct pattern *p, const char *s, size_t len, size_t *i, const char **why)
{
        struct atom *a = push_atom(p, A_CLASS);
        size_t alloc = 0;

        if (*i < len && s[*i] == '^') {
                a->negated = true;
                (*i)++;
        }
        for (;;) {
                if (*i < len && s[*i] == ']' && a->nranges > 0) {
                        (*i)++;
                        return 0;
                }
                uint32_t lo, hi;
                if (class_char(s, len, i, &lo, why) < 0)
                        return -1;
                hi = lo;
                if (*i < len && s[*i] == '-') {
                        (*i)++;
                        if (class_char(s, len, i, &hi, why) < 0)
                                return -1;
                        if (hi < lo) {
                                /* Go's regexp refuses it when Docker first matches with it */
                                *why = "invalid character class range";
                                return -1;
                        }
                }
                ib_grow(&a->ranges, &alloc, a->nranges + 1, sizeof(struct range));
                a->ranges[a->nranges++] = (struct range) { lo, hi };
        }
}

/* Docker's Pattern.compile, with the syntax check filepath.Match does first. */
static int compile(struct pattern *p, const char **why)
{
        const char *s = p->text;
        size_t len = strlen(s);

        p->type = MATCH_EXACT;
        for (size_t i = 0, tok = 0; i < len; tok++) {
                char c = s[i];
                if (c == '*' && i + 1 < len && s[i + 1] == '*') {
                        i += 2;
                        if (i < len && s[i] == '/')
                                i++;
                        if (i >= len) {
                                if (p->type == MATCH_EXACT) {
                                        p->type = MATCH_PREFIX;
                                } else {
                                        push_atom(p, A_ANY_STAR);
                                        p->type = MATCH_NFA;
                                }
                        } else {
                                push_atom(p, A_DIRS);
                                p->type = MATCH_NFA;
                        }
                        if (tok == 0)
                                p->type = MATCH_SUFFIX;
                        continue;
                }
                if (c == '*' || c == '?') {
                        push_atom(p, c == '*' ? A_NOSLASH_STAR : A_NOSLASH);
                        p->type = MATCH_NFA;
                        i++;
                        continue;
                }
                if (c == '\\') {
                        if (i + 1 >= len) {
                                *why = "trailing backslash";
                                return -1;
                        }
                        size_t n = ib_utf8_len(s + i + 1, len - i - 1);
                        push_lit(p, s + i + 1, n);
                        p->type = MATCH_NFA;
                        i += 1 + n;
                        continue;
                }
                if (c == '[') {
                        i++;
                        if (parse_class(p, s, len, &i, why) < 0)
                                return -1;
                        p->type = MATCH_NFA;
                        continue;
                }
                if (c == ']')
                        p->type = MATCH_NFA;
                size_t n = ib_utf8_len(s + i, len - i);
                push_lit(p, s + i, n);
                i += n;
        }
        return 0;
}

/* ------------------------------------------------------------- matching */

static bool class_has(const struct atom *a, uint32_t r)
{
        bool in = false;
        for (size_t i = 0; i < a->nranges && !in; i++)
                in = r >= a->ranges[i].lo && r <= a->ranges[i].hi;
        return in != a->negated;
}

/* NFA states: 2*i is "before atom i" (2*natoms: accept), 2*i+1 is "inside
 * the (.*[/])? loop of atom i".  Epsilon moves only go forward, so one sweep
 * computes the closure. */
static void closure(const struct pattern *p, unsigned char *st)
{
        for (size_t i = 0; i < p->natoms; i++) {
                if (!st[2 * i])
                        continue;
                enum atom_kind k = p->atoms[i].kind;
                if (k == A_NOSLASH_STAR || k == A_ANY_STAR || k == A_DIRS)
                        st[2 * (i + 1)] = 1;
                if (k == A_DIRS)
                        st[2 * i + 1] = 1;
        }
}

static bool step(const struct pattern *p, const unsigned char *cur, unsigned char *next, const char *c, size_t n)
{
        size_t nst = 2 * (p->natoms + 1);
        bool alive = false;
        uint32_t r = 0;
        bool decoded = false;

        memset(next, 0, nst);
        for (size_t i = 0; i < p->natoms; i++) {
                const struct atom *a = &p->atoms[i];
                if (cur[2 * i + 1]) {   /* inside (.*[/])?: stay on anything but \n, leave after a `/` */
                        if (!(n == 1 && c[0] == '\n'))
                                next[2 * i + 1] = 1;
                        if (n == 1 && c[0] == '/')
                                next[2 * (i + 1)] = 1;
                }
                if (!cur[2 * i])
                        continue;
                switch (a->kind) {
                case A_LIT:
                        if (a->n == n && memcmp(a->c, c, n) == 0)
                                next[2 * (i + 1)] = 1;
                        break;
                case A_NOSLASH:
                        if (!(n == 1 && c[0] == '/'))
                                next[2 * (i + 1)] = 1;
                        break;
                case A_NOSLASH_STAR:
                        if (!(n == 1 && c[0] == '/'))
                                next[2 * i] = 1;
                        break;
                case A_ANY_STAR:
                        if (!(n == 1 && c[0] == '\n'))
                                next[2 * i] = 1;
                        break;
                case A_CLASS:
                        if (!decoded) {
                                r = ib_utf8_decode(c, n);
                                decoded = true;
                        }
                        if (class_has(a, r))
                                next[2 * (i + 1)] = 1;
                        break;
                case A_DIRS:
                        break;  /* entered through the closure */
                }
        }
        closure(p, next);
        for (size_t i = 0; i < nst && !alive; i++)
                alive = next[i];
        return alive;
}

/* Run the NFA over @s.  Returns whether it accepts @s, or, with @parents,
 * also any prefix of @s that ends just before a `/` (a parent directory).
 * *ret_alive (may be NULL): whether any state survived, i.e. whether a longer
 * path with this prefix could still match. */
static bool nfa_run(const struct pattern *p, const char *s, size_t len, bool parents, bool *ret_alive)
{
        size_t nst = 2 * (p->natoms + 1);
        unsigned char small[2][128];
        unsigned char *cur = nst <= sizeof(small[0]) ? small[0] : ib_malloc(nst);
        unsigned char *next = nst <= sizeof(small[0]) ? small[1] : ib_malloc(nst);
        bool alive = true, accept = false;

        memset(cur, 0, nst);
        cur[0] = 1;
        closure(p, cur);
        for (size_t i = 0; i < len && alive && !accept;) {
                if (parents && i > 0 && s[i] == '/' && cur[2 * p->natoms])
                        accept = true;
                size_t n = ib_utf8_len(s + i, len - i);
                alive = step(p, cur, next, s + i, n);
                unsigned char *t = cur;
                cur = next;
                next = t;
                i += n;
        }
        accept = accept || (alive && cur[2 * p->natoms]);
        if (ret_alive)
                *ret_alive = alive;
        if (nst > sizeof(small[0])) {
                free(cur);
                free(next);
        }
        return accept;
}

static bool has_prefix_n(const char *s, size_t len, const char *pfx, size_t plen)
{
        return len >= plen && memcmp(s, pfx, plen) == 0;
}

static bool pattern_match(const struct pattern *p, const char *path, size_t len)
{
        size_t tlen = strlen(p->text);

        switch (p->type) {
        case MATCH_EXACT:
                return len == tlen && memcmp(path, p->text, len) == 0;
        case MATCH_PREFIX:
                return has_prefix_n(path, len, p->text, tlen - 2);
        case MATCH_SUFFIX: {
                const char *sfx = p->text + 2;
                size_t slen = tlen - 2;
                if (len >= slen && memcmp(path + len - slen, sfx, slen) == 0)
                        return true;
                return slen > 0 && sfx[0] == '/' && len == slen - 1 && memcmp(path, sfx + 1, len) == 0;
        }
        case MATCH_NFA:
                return nfa_run(p, path, len, false, NULL);
        }
        return false;
}

/* The pattern matches @path or one of its parent directories. */
static bool match_or_parent(const struct pattern *p, const char *path, size_t len)
{
        if (p->type == MATCH_NFA)
                return nfa_run(p, path, len, true, NULL);     /* one pass for all parents */
        if (pattern_match(p, path, len))
                return true;
        for (size_t i = 0; i < len; i++)
                if (path[i] == '/' && pattern_match(p, path, i))
                        return true;
        return false;
}

/* A relative path as the matcher sees it: cleaned, no leading `/`. */
static char *rel_clean(const char *relpath)
{
        char *c = clean_path(relpath, strlen(relpath));
        if (c[0] == '/') {
                size_t k = strspn(c, "/");
                memmove(c, c + k, strlen(c + k) + 1);
        }
        return c;
}

bool ib_ignore_match(const struct ib_ignore *m, const char *relpath)
{
        if (!m || m->n == 0)
                return false;
        _cleanup_free_ char *path = rel_clean(relpath);
        size_t len = strlen(path);
        bool matched = false;

        if (len == 0 || strcmp(path, ".") == 0)
                return false;
        for (size_t i = 0; i < m->n; i++) {
                const struct pattern *p = &m->p[i];
                /* an include only matters while not excluded, an exception only while excluded */
                if (p->exception != matched)
                        continue;
                if (match_or_parent(p, path, len))
                        matched = !p->exception;
        }
        return matched;
}

/* Could @p match some path that starts with @pfx (which ends in `/`)? */
static bool viable_prefix(const struct pattern *p, const char *pfx, size_t plen)
{
        size_t tlen = strlen(p->text);
        bool alive = false;

        switch (p->type) {
        case MATCH_EXACT:
                return has_prefix_n(p->text, tlen, pfx, plen);
        case MATCH_PREFIX:
                return has_prefix_n(p->text, tlen - 2, pfx, plen) || has_prefix_n(pfx, plen, p->text, tlen - 2);
        case MATCH_SUFFIX:
                return true;
        case MATCH_NFA:
                nfa_run(p, pfx, plen, false, &alive);
                return alive;
        }
        return true;
}

bool ib_ignore_dir_may_have_includes(const struct ib_ignore *m, const char *reldir)
{
        if (!m || !m->exceptions)
                return false;
        _cleanup_free_ char *dir = rel_clean(reldir);
        if (strcmp(dir, ".") == 0 || dir[0] == '\0')
                return true;
        _cleanup_free_ char *pfx = ib_strdupf("%s/", dir);
        size_t dlen = strlen(dir), plen = dlen + 1;

        for (size_t i = 0; i < m->n; i++) {
                const struct pattern *p = &m->p[i];
                if (!p->exception)
                        continue;
                /* an exception for the dir or one of its parents re-includes the whole subtree */
                if (match_or_parent(p, dir, dlen) || viable_prefix(p, pfx, plen))
                        return true;
        }
        return false;
}

size_t ib_ignore_count(const struct ib_ignore *m)
{
        return m ? m->n : 0;
}

bool ib_ignore_has_exceptions(const struct ib_ignore *m)
{
        return m && m->exceptions;
}

void ib_ignore_free(struct ib_ignore *m)
{
        if (!m)
                return;
        for (size_t i = 0; i < m->n; i++)
                pattern_release(&m->p[i]);
        free(m->p);
        free(m);
}

/* -------------------------------------------------------------- loading */

/* Docker's New() for one pattern: trim, clean, `!`, syntax check, compile.
 * An empty pattern is skipped. */
static int add_pattern(struct ib_ignore *m, const char *s, size_t len, const char *origin, size_t line,
                       struct ib_err **err)
{
        const char *why = NULL;

        trim_space(&s, &len);
        if (len == 0)
                return 0;
        _cleanup_free_ char *c = clean_path(s, len);
        struct pattern p = { 0 };
        const char *body = c;
        if (c[0] == '!') {
                if (c[1] == '\0')
                        return ib_err_set(err, EINVAL, "%s:%zu: illegal exclusion pattern: \"!\"", origin, line);
                p.exception = true;
                body = c + 1;
        }
        p.text = ib_strdup(body);
        if (compile(&p, &why) < 0) {
                int r = ib_err_set(err, EINVAL, "%s:%zu: bad pattern `%s`: %s", origin, line, c, why);
                pattern_release(&p);
                return r;
        }
        ib_grow(&m->p, &m->alloc, m->n + 1, sizeof(struct pattern));
        m->p[m->n++] = p;
        m->exceptions |= p.exception;
        return 0;
}

int ib_ignore_from_list(const char *const *patterns, size_t n, const char *origin, struct ib_ignore **ret,
                        struct ib_err **err)
{
        struct ib_ignore *m = ib_calloc(1, sizeof(*m));

        for (size_t i = 0; i < n; i++) {
                int r = add_pattern(m, patterns[i], strlen(patterns[i]), origin, i + 1, err);
                if (r < 0) {
                        ib_ignore_free(m);
                        return r;
                }
        }
        *ret = m;
        return 0;
}

/* ignorefile.ReadAll: comments, trimming, `!`, cleaning and the leading `/`
 * are handled per line before the pattern goes to add_pattern(). */
static int parse_line(struct ib_ignore *m, const char *s, size_t len, const char *origin, size_t line,
                      struct ib_err **err)
{
        if (len > 0 && s[len - 1] == '\r')
                len--;
        if (len > 0 && s[0] == '#')
                return 0;
        trim_space(&s, &len);
        if (len == 0)
                return 0;
        bool invert = s[0] == '!';
        if (invert) {
                s++;
                len--;
                trim_space(&s, &len);
        }
        _cleanup_free_ char *pat = NULL;
        if (len > 0) {
                pat = clean_path(s, len);
                if (pat[0] == '/' && pat[1] != '\0')
                        memmove(pat, pat + 1, strlen(pat));
        } else {
                pat = ib_strdup("");
        }
        _cleanup_free_ char *full = ib_strdupf("%s%s", invert ? "!" : "", pat);
        return add_pattern(m, full, strlen(full), origin, line, err);
}

int ib_ignore_parse(const char *text, size_t len, const char *origin, struct ib_ignore **ret, struct ib_err **err)
{
        struct ib_ignore *m = ib_calloc(1, sizeof(*m));
        size_t line = 0;

        if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
                text += 3;
                len -= 3;
        }
        for (size_t i = 0; i < len;) {
                const char *nl = memchr(text + i, '\n', len - i);
                size_t e = nl ? (size_t) (nl - text) : len;
                line++;
                int r = 0;
                if (e - i > IB_IGNORE_MAX_LINE)
                        r = ib_err_set(err, EINVAL, "%s:%zu: line longer than %u bytes", origin, line,
                                       IB_IGNORE_MAX_LINE);
                else
                        r = parse_line(m, text + i, e - i, origin, line, err);
                if (r < 0) {
                        ib_ignore_free(m);
                        return r;
                }
                i = e + 1;
        }
        *ret = m;
        return 0;
}

int ib_ignore_load(const char *context_dir, const char *dockerfile, struct ib_ignore **ret, char **ret_path,
                   struct ib_err **err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        struct stat st;
        int r;

        if (dockerfile) {
                path = ib_strdupf("%s.dockerignore", dockerfile);
                if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
                        free(path);
                        path = NULL;
                }
        }
        if (!path) {
                path = ib_path_join(context_dir, ".dockerignore");
                if (stat(path, &st) < 0) {
                        if (errno != ENOENT)
                                return ib_err_set(err, errno, "stat `%s`", path);
                        free(path);
                        path = NULL;
                }
        }
        if (!path) {
                *ret = ib_calloc(1, sizeof(struct ib_ignore));
                if (ret_path)
                        *ret_path = NULL;
                return 0;
        }
        r = ib_read_file(path, IB_IGNORE_MAX_FILE, &text, &len, err);
        if (r < 0)
                return r;
        r = ib_ignore_parse(text, len, path, ret, err);
        if (r < 0)
                return r;
        if (ret_path)
                *ret_path = IB_TAKE_PTR(path);
        return 0;
}
