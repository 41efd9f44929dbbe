/* sandbox/idmap.c - id maps as plain data: parse /proc/PID/uid_map and
 * /etc/subuid text, translate ids.  Pure functions, unit-tested without
 * namespaces. */
#include "lib/ib.h"
#include "sandbox/sandbox.h"

#include <ctype.h>
#include <inttypes.h>

static int parse_u32(const char **p, uint32_t *ret)
{
        char *end;
        unsigned long long v;

        while (**p == ' ' || **p == '\t')
                (*p)++;
        if (!isdigit((unsigned char) **p))
                return -EINVAL;
        errno = 0;
        v = strtoull(*p, &end, 10);
        if (errno || v > UINT32_MAX)
                return -ERANGE;
        *p = end;
        *ret = (uint32_t) v;
        return 0;
}

int ib_idmap_parse(const char *text, struct ib_idmap *ret, struct ib_err **err)
{
        const char *p = text;
        unsigned line = 0;

        ret->n = 0;
        while (*p) {
                struct ib_idmap_range r;

                line++;
                while (*p == ' ' || *p == '\t')
                        p++;
                if (*p == '\n') {
                        p++;
                        continue;
                }
                if (ret->n == IB_IDMAP_MAX)
                        return ib_err_set(err, E2BIG, "id map: more than %d ranges", IB_IDMAP_MAX);
                if (parse_u32(&p, &r.inside) < 0 || parse_u32(&p, &r.outside) < 0 ||
                    parse_u32(&p, &r.count) < 0)
                        return ib_err_set(err, EINVAL, "id map: line %u is not \"inside outside count\"", line);
                while (*p == ' ' || *p == '\t')
                        p++;
                if (*p && *p != '\n')
                        return ib_err_set(err, EINVAL, "id map: trailing text on line %u", line);
                if (*p)
                        p++;
                ret->r[ret->n++] = r;
        }
        return 0;
}

int ib_idmap_read_self(bool gid, struct ib_idmap *ret, struct ib_err **err)
{
        const char *path = gid ? "/proc/self/gid_map" : "/proc/self/uid_map";
        _cleanup_free_ char *text = NULL;
        int r;

        r = ib_read_file(path, 65536, &text, NULL, err);
        if (r < 0)
                return r;
        r = ib_idmap_parse(text, ret, err);
        if (r < 0)
                return ib_err_wrap(err, "%s", path);
        return 0;
}

int ib_idmap_to_host(const struct ib_idmap *m, uint32_t inside, uint32_t *ret_outside)
{
        for (size_t i = 0; i < m->n; i++) {
                /* "inside - start < count", never "inside < start + count": no overflow at UINT32_MAX */
                if (inside >= m->r[i].inside && inside - m->r[i].inside < m->r[i].count) {
                        if (ret_outside)
                                *ret_outside = m->r[i].outside + (inside - m->r[i].inside);
                        return 0;
                }
        }
        return -ERANGE;
}

bool ib_idmap_has(const struct ib_idmap *m, uint32_t inside)
{
        return ib_idmap_to_host(m, inside, NULL) == 0;
}

uint64_t ib_idmap_count(const struct ib_idmap *m)
{
        uint64_t n = 0;

        for (size_t i = 0; i < m->n; i++)
                n += m->r[i].count;
        return n;
}

uint64_t ib_idmap_contiguous(const struct ib_idmap *m)
{
        uint64_t next = 0;
        bool grew = true;

        /* Ranges may come in any order: extend the block until nothing touches it. */
        while (grew) {
                grew = false;
                for (size_t i = 0; i < m->n; i++) {
                        uint64_t lo = m->r[i].inside, hi = lo + m->r[i].count;
                        if (lo <= next && hi > next) {
                                next = hi;
                                grew = true;
                        }
                }
        }
        return next;
}

bool ib_idmap_is_identity(const struct ib_idmap *m)
{
        return m->n == 1 && m->r[0].inside == 0 && m->r[0].outside == 0 && m->r[0].count == UINT32_MAX;
}

int ib_subid_ranges(const char *text, const char *user, uint32_t id, struct ib_idmap *ret)
{
        char idstr[16];
        const char *p = text;
        uint64_t next_inside = 1;

        snprintf(idstr, sizeof(idstr), "%" PRIu32, id);
        ret->n = 0;
        while (*p) {
                const char *eol = strchr(p, '\n'), *colon = strchr(p, ':');
                size_t namelen;
                uint32_t start, count;
                const char *q;

                if (!eol)
                        eol = p + strlen(p);
                if (*p == '#' || !colon || colon > eol)
                        goto next;
                namelen = (size_t) (colon - p);
                if (!((user && strlen(user) == namelen && strncmp(p, user, namelen) == 0) ||
                      (strlen(idstr) == namelen && strncmp(p, idstr, namelen) == 0)))
                        goto next;
                q = colon + 1;
                if (parse_u32(&q, &start) < 0 || *q != ':')
                        goto next;
                q++;
                if (parse_u32(&q, &count) < 0 || count == 0 || (q != eol && *q != '\r' && *q != ' '))
                        goto next;
                if (ret->n == IB_IDMAP_MAX - 1 || next_inside + count > UINT32_MAX)
                        break;  /* one line stays for 0 -> own id */
                ret->r[ret->n++] = (struct ib_idmap_range) {
                        .inside = (uint32_t) next_inside, .outside = start, .count = count };
                next_inside += count;
next:
                p = *eol ? eol + 1 : eol;
        }
        return (int) ret->n;
}
