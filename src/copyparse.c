/* src/copyparse.c - the pure parsers of COPY/ADD: Go-style glob matching,
 * --chmod (octal and symbolic), --chown against passwd/group contents. */
#include "src/context.h"

/* ------------------------------------------------------------- globs */

bool ib_glob_has_magic(const char *s)
{
        for (; *s; s++) {
                if (*s == '\\' && s[1])
                        s++;
                else if (*s == '*' || *s == '?' || *s == '[')
                        return true;
        }
        return false;
}

/* Length of the UTF-8 character at @s (1 for invalid bytes), as Go matches runes. */
static size_t u8len(const char *s)
{
        unsigned char c = (unsigned char) *s;
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
        for (size_t i = 1; i < n; i++)
                if (((unsigned char) s[i] & 0xc0) != 0x80)
                        return 1;
        return n;
}

static uint32_t u8dec(const char *s, size_t n)
{
        const unsigned char *p = (const unsigned char *) s;
        if (n == 1)
                return p[0];
        uint32_t v = p[0] & (0xff >> (n + 1));
        for (size_t i = 1; i < n; i++)
                v = (v << 6) | (p[i] & 0x3f);
        return v;
}

/* One class character (with `\` escape); advances *p. -EINVAL if malformed. */
static int class_char(const char **p, uint32_t *ret)
{
        const char *s = *p;
        if (*s == '-' || *s == ']' || !*s)
                return -EINVAL;
        if (*s == '\\') {
                s++;
                if (!*s)
                        return -EINVAL;
        }
        size_t n = u8len(s);
        *ret = u8dec(s, n);
        *p = s + n;
        return 0;
}

/* Match a `[...]` class at *p against character @c; *p moves past `]`. */
static int match_class(const char **p, uint32_t c)
{
        const char *s = *p + 1;
        bool neg = false, hit = false;
        int n = 0;

        if (*s == '^') {
                neg = true;
                s++;
        }
        for (;;) {
                uint32_t lo, hi;
                if (*s == ']' && n > 0) {
                        s++;
                        break;
                }
                if (class_char(&s, &lo) < 0)
                        return -EINVAL;
                hi = lo;
                if (*s == '-') {
                        s++;
                        if (class_char(&s, &hi) < 0)
                                return -EINVAL;
                }
                if (lo <= c && c <= hi)
                        hit = true;
                n++;
        }
        *p = s;
        return hit != neg;
}

/* Is @pattern well formed (Go reports ErrBadPattern even when a match
 * fails before reaching the bad part: check the whole pattern first)? */
static bool glob_valid(const char *p)
{
        while (*p) {
                if (*p == '\\') {
                        if (!p[1])
                                return false;
                        p += 2;
                } else if (*p == '[') {
                        if (match_class(&p, 0) < 0)
                                return false;
                } else {
                        p++;
                }
        }
        return true;
}

/* One pattern element at *p against the character at *s: 1 match (both
 * advanced), 0 mismatch.  Not for '*'. */
static int glob_step(const char **p, const char **s)
{
        size_t n;

        if (!**s)
                return 0;
        n = u8len(*s);
        switch (**p) {
        case '?':
                (*p)++;
                break;
        case '[':
                if (match_class(p, u8dec(*s, n)) != 1)
                        return 0;
                break;
        case '\\':
                if ((*p)[1] != **s)
                        return 0;
                *p += 2;
                n = 1;
                break;
        default:
                if (**p != **s)
                        return 0;
                (*p)++;
                n = 1;
        }
        *s += n;
        return 1;
}

/* Iterative, with one backtrack point (the last '*'): O(len(p) * len(s)),
 * never exponential, and equivalent for '*' that cannot cross '/'. */
static bool glob_rec(const char *p, const char *s)
{
        const char *star_p = NULL, *star_s = NULL;

        for (;;) {
                if (*p == '*') {
                        while (*p == '*')
                                p++;
                        star_p = p;
                        star_s = s;
                        continue;
                }
                if (!*p && !*s)
                        return true;
                if (*p && glob_step(&p, &s))
                        continue;
                if (!star_p || !*star_s)
                        return false;
                star_s += u8len(star_s);
                p = star_p;
                s = star_s;
        }
}

int ib_glob_match(const char *pattern, const char *name)
{
        if (!glob_valid(pattern))
                return -EINVAL;
        return glob_rec(pattern, name) ? 1 : 0;
}

/* ------------------------------------------------------------- chmod */

struct chmod_clause {
        unsigned who;           /* bits of 07777 the clause may touch */
        char op;                /* '+', '-', '=' */
        unsigned perm;          /* rwx as 0444/0222/0111 spread, st as 06000/01000 */
        bool cap_x;             /* X */
        char copy;              /* 'u', 'g', 'o' or 0 */
};

struct ib_chmod {
        bool octal;
        mode_t mode;
        struct chmod_clause *c;
        size_t n;
};

static int parse_octal(const char *s, mode_t *ret)
{
        unsigned long v = 0;
        size_t n = 0;

        if (ib_startswith(s, "0o"))
                s += 2;
        for (; s[n]; n++) {
                if (s[n] < '0' || s[n] > '7')
                        return -EINVAL;
                v = v * 8 + (unsigned long) (s[n] - '0');
        }
        if (n == 0 || n > 5 || v > 07777)
                return -EINVAL;
        *ret = (mode_t) v;
        return 0;
}

static int parse_clause(const char **sp, struct chmod_clause **all, size_t *count, size_t *alloc)
{
        const char *s = *sp;
        unsigned who = 0;

        for (; *s == 'u' || *s == 'g' || *s == 'o' || *s == 'a'; s++)
                who |= *s == 'u' ? 04700 : *s == 'g' ? 02070 : *s == 'o' ? 01007 : 07777;
        if (!who)
                who = 07777;
        if (*s != '+' && *s != '-' && *s != '=')
                return -EINVAL;
        while (*s == '+' || *s == '-' || *s == '=') {
                struct chmod_clause c = { .who = who, .op = *s++ };
                if (*s == 'u' || *s == 'g' || *s == 'o') {
                        c.copy = *s++;
                } else {
                        for (; *s && strchr("rwxXst", *s); s++) {
                                switch (*s) {
                                case 'r': c.perm |= 0444; break;
                                case 'w': c.perm |= 0222; break;
                                case 'x': c.perm |= 0111; break;
                                case 'X': c.cap_x = true; break;
                                case 's': c.perm |= 06000; break;
                                case 't': c.perm |= 01000; break;
                                }
                        }
                }
                ib_grow(all, alloc, *count + 1, sizeof(**all));
                (*all)[(*count)++] = c;
        }
        *sp = s;
        return 0;
}

int ib_chmod_parse(const char *spec, struct ib_chmod **ret, struct ib_err **err)
{
        struct ib_chmod *m = ib_calloc(1, sizeof(*m));
        const char *s = spec;

        if (*spec >= '0' && *spec <= '9') {
                m->octal = true;
                if (parse_octal(spec, &m->mode) < 0)
                        goto bad;
                *ret = m;
                return 0;
        }
        size_t count = 0, alloc = 0;
        struct chmod_clause *all = NULL;
        while (*s) {
                if (parse_clause(&s, &all, &count, &alloc) < 0 || (*s && *s != ',') || (*s == ',' && !s[1])) {
                        free(all);
                        goto bad;
                }
                if (*s == ',')
                        s++;
        }
        if (!count) {
                free(all);
                goto bad;
        }
        m->c = all;
        m->n = count;
        *ret = m;
        return 0;
bad:
        free(m);
        return ib_err_set(err, EINVAL, "invalid --chmod `%s`: want octal (0755) or symbolic (u+x,go-w)", spec);
}

/* The permission bits of class @who_ch in @mode, spread to all three classes. */
static unsigned copy_bits(mode_t mode, char who_ch)
{
        unsigned v = who_ch == 'u' ? (mode >> 6) & 7 : who_ch == 'g' ? (mode >> 3) & 7 : mode & 7;
        return v * 0111;
}

mode_t ib_chmod_apply(const struct ib_chmod *m, mode_t mode, bool is_dir)
{
        mode_t cur = mode & 07777;

        if (m->octal)
                return m->mode;
        for (size_t i = 0; i < m->n; i++) {
                const struct chmod_clause *c = &m->c[i];
                unsigned bits = c->copy ? copy_bits(cur, c->copy) : c->perm;
                if (c->cap_x && (is_dir || (mode & 0111)))
                        bits |= 0111;
                bits &= c->who;
                switch (c->op) {
                case '+': cur |= bits; break;
                case '-': cur &= ~bits; break;
                case '=': cur = (cur & ~(c->who & 07777)) | bits; break;
                }
        }
        return cur;
}

void ib_chmod_free(struct ib_chmod *m)
{
        if (!m)
                return;
        free(m->c);
        free(m);
}

/* ------------------------------------------------------------- chown */

/* Field @idx (0-based) of a colon-separated line, copied into @out. */
static bool field(const char *line, size_t len, int idx, char *out, size_t outsz)
{
        const char *p = line, *end = line + len;
        for (int i = 0; i < idx; i++) {
                const char *c = memchr(p, ':', (size_t) (end - p));
                if (!c)
                        return false;
                p = c + 1;
        }
        const char *c = memchr(p, ':', (size_t) (end - p));
        size_t n = (size_t) ((c ? c : end) - p);
        if (n >= outsz)
                return false;
        memcpy(out, p, n);
        out[n] = '\0';
        return true;
}

static bool parse_id(const char *s, uint32_t *ret)
{
        char *end;
        if (!*s || *s < '0' || *s > '9')
                return false;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *end || v > UINT32_MAX - 1)
                return false;
        *ret = (uint32_t) v;
        return true;
}

/* Find @name in a passwd- or group-style file; fill id fields 2 and 3. */
static int db_lookup(const char *db, const char *name, uint32_t *id2, uint32_t *id3, bool want3)
{
        const char *p = db;
        char f[256];

        while (p && *p) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t) (nl - p) : strlen(p);
                if (len && *p != '#' && field(p, len, 0, f, sizeof(f)) && strcmp(f, name) == 0 &&
                    field(p, len, 2, f, sizeof(f)) && parse_id(f, id2)) {
                        if (!want3)
                                return 0;
                        if (field(p, len, 3, f, sizeof(f)) && parse_id(f, id3))
                                return 0;
                }
                p = nl ? nl + 1 : NULL;
        }
        return -ENOENT;
}

int ib_passwd_lookup(const char *passwd, const char *name, uid_t *ret_uid, gid_t *ret_gid)
{
        uint32_t u, g;
        if (!passwd || db_lookup(passwd, name, &u, &g, true) < 0)
                return -ENOENT;
        *ret_uid = u;
        *ret_gid = g;
        return 0;
}

int ib_group_lookup(const char *group, const char *name, gid_t *ret_gid)
{
        uint32_t g;
        if (!group || db_lookup(group, name, &g, NULL, false) < 0)
                return -ENOENT;
        *ret_gid = g;
        return 0;
}

int ib_chown_resolve(const char *spec, const char *passwd, const char *group, uid_t *ret_uid, gid_t *ret_gid,
                     struct ib_err **err)
{
        _cleanup_free_ char *user = ib_strdup(spec);
        char *grp = strchr(user, ':');
        uint32_t id;
        uid_t uid;
        gid_t gid;

        if (grp)
                *grp++ = '\0';
        if (!*user || (grp && !*grp))
                return ib_err_set(err, EINVAL, "invalid --chown `%s`: want user[:group] or uid[:gid]", spec);
        if (parse_id(user, &id)) {
                uid = id;
                gid = id;       /* BuildKit: a bare uid is also the gid */
        } else if (ib_passwd_lookup(passwd, user, &uid, &gid) < 0) {
                return ib_err_set(err, ENOENT, "--chown `%s`: user `%s` not found in the image's /etc/passwd%s",
                                  spec, user, passwd ? "" : " (the image has none)");
        }
        if (grp) {
                if (parse_id(grp, &id))
                        gid = id;
                else if (ib_group_lookup(group, grp, &gid) < 0)
                        return ib_err_set(err, ENOENT, "--chown `%s`: group `%s` not found in the image's /etc/group%s",
                                          spec, grp, group ? "" : " (the image has none)");
        }
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}
