/* sandbox/user.c - resolve a Dockerfile USER against the image's own
 * /etc/passwd and /etc/group (never the host's: the host's name service is not
 * consulted at all).  The rules are Docker's (runc's GetExecUser):
 *   - "name" must exist in passwd; uid, gid and home come from its entry;
 *   - a numeric uid need not exist; without an entry the gid is 0;
 *   - ":group" sets the primary group by name (must exist) or number, and then
 *     it is the only group;
 *   - otherwise the groups are the primary one and every group listing the name. */
#include "sandbox/internal.h"

#include <ctype.h>

static bool is_number(const char *s, uint32_t *ret)
{
        char *end;
        unsigned long long v;

        if (!*s || !isdigit((unsigned char) *s))
                return false;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || v > UINT32_MAX - 1)
                return false;
        *ret = (uint32_t) v;
        return true;
}

/* Split one "a:b:c..." line in place into at most @max fields; returns the count. */
static size_t split_fields(char *line, char **f, size_t max)
{
        size_t n = 0;

        f[n++] = line;
        for (char *p = line; *p && n < max; p++)
                if (*p == ':') {
                        *p = 0;
                        f[n++] = p + 1;
                }
        return n;
}

/* Calls @fn for each well-formed line of an /etc/passwd or /etc/group text. */
static int for_each_line(const char *text, size_t min_fields,
                         int (*fn)(char **f, size_t n, void *data), void *data)
{
        const char *p = text;

        while (p && *p) {
                const char *eol = strchr(p, '\n');
                size_t len = eol ? (size_t) (eol - p) : strlen(p);
                _cleanup_free_ char *line = ib_strndup(p, len);
                char *f[8];
                size_t n;
                int r;

                p = eol ? eol + 1 : NULL;
                if (!line[0] || line[0] == '#' || line[0] == '+' || line[0] == '-')
                        continue;
                n = split_fields(line, f, IB_ELEMENTSOF(f));
                if (n < min_fields)
                        continue;
                r = fn(f, n, data);
                if (r)
                        return r;
        }
        return 0;
}

struct pw_query {
        const char *name;       /* match by name, or */
        bool by_uid;
        uint32_t uid;
        bool found;
        char name_out[256];
        uint32_t uid_out, gid_out;
        char home[256];
};

static int pw_match(char **f, size_t n, void *data)
{
        struct pw_query *q = data;
        uint32_t uid, gid;

        if (!is_number(f[2], &uid) || !is_number(f[3], &gid))
                return 0;
        if (q->by_uid ? uid != q->uid : strcmp(f[0], q->name) != 0)
                return 0;
        q->found = true;
        q->uid_out = uid;
        q->gid_out = gid;
        snprintf(q->name_out, sizeof(q->name_out), "%s", f[0]);
        snprintf(q->home, sizeof(q->home), "%s", n > 5 && f[5][0] ? f[5] : "/");
        return 1;
}

struct gr_query {
        const char *name;       /* group by name, or NULL */
        bool found;
        uint32_t gid;
        const char *member;     /* collect groups listing this user */
        struct ib_run_user *u;
};

static int gr_match(char **f, size_t n, void *data)
{
        struct gr_query *q = data;
        uint32_t gid;

        if (!is_number(f[2], &gid))
                return 0;
        if (q->name) {
                if (strcmp(f[0], q->name) != 0)
                        return 0;
                q->found = true;
                q->gid = gid;
                return 1;
        }
        if (n < 4 || !q->member || !q->member[0])
                return 0;
        for (char *save = NULL, *m = strtok_r(f[3], ",", &save); m; m = strtok_r(NULL, ",", &save)) {
                if (strcmp(m, q->member) != 0)
                        continue;
                for (size_t i = 0; i < q->u->n_groups; i++)
                        if (q->u->groups[i] == gid)
                                return 0;
                if (q->u->n_groups < IB_USER_MAX_GROUPS)
                        q->u->groups[q->u->n_groups++] = gid;
                return 0;
        }
        return 0;
}

int ib_user_resolve(const char *spec, const char *passwd, const char *group,
                    struct ib_run_user *ret, struct ib_err **err)
{
        _cleanup_free_ char *user = ib_strdup(spec && spec[0] ? spec : "0");
        char *grp = strchr(user, ':');
        struct pw_query pq = { 0 };
        struct ib_run_user u = { 0 };
        uint32_t num;

        if (grp)
                *grp++ = 0;
        if (!user[0])
                return ib_err_set(err, EINVAL, "USER `%s`: empty user name", spec);
        if (is_number(user, &num)) {
                pq.by_uid = true;
                pq.uid = num;
        } else {
                pq.name = user;
        }
        if (passwd)
                for_each_line(passwd, 4, pw_match, &pq);
        if (!pq.found && !pq.by_uid)
                return ib_err_set(err, ENOENT, "USER `%s`: no user `%s` in the image's /etc/passwd", spec, user);
        u.uid = pq.found ? pq.uid_out : num;
        u.gid = pq.found ? pq.gid_out : 0;
        snprintf(u.home, sizeof(u.home), "%s", pq.found ? pq.home : "/");
        if (grp) {
                if (!grp[0])
                        return ib_err_set(err, EINVAL, "USER `%s`: empty group name", spec);
                if (is_number(grp, &num)) {
                        u.gid = num;
                } else {
                        struct gr_query gq = { .name = grp };
                        if (group)
                                for_each_line(group, 3, gr_match, &gq);
                        if (!gq.found)
                                return ib_err_set(err, ENOENT, "USER `%s`: no group `%s` in the image's /etc/group",
                                                  spec, grp);
                        u.gid = gq.gid;
                }
        } else {
                /* As initgroups(3) does: the primary group first, then every group
                 * that lists the user. */
                u.groups[u.n_groups++] = u.gid;
                if (group && pq.found) {
                        struct gr_query gq = { .member = pq.name_out, .u = &u };
                        for_each_line(group, 3, gr_match, &gq);
                }
        }
        *ret = u;
        return 0;
}
