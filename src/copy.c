/* src/copy.c - COPY/ADD: plan (sources and destinations), cache key, apply.
 * The semantics are described in src/context.h. */
#include "src/context-int.h"
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/xattr.h>
#include <time.h>

#define MAX_SYMLINKS 40

enum ekind {
        E_DIR,          /* a directory from the source (source metadata) */
        E_PARENT,       /* a missing parent of the destination: 0755 */
        E_LOWER,        /* a dir that exists in the lower layers: their metadata */
        E_FILE,
        E_LINK,         /* symlink, copied as is */
        E_HARD,         /* hardlink to entry ->hard */
        E_ARCHIVE,      /* ADD: unpack ->src into ->dst */
        E_URL,          /* ADD: fetch ->src into ->dst */
};

struct entry {
        enum ekind kind;
        bool dead;              /* replaced by a later entry for the same target */
        bool in_lower;          /* dir that also exists below: children need lookups */
        char *src;              /* context-relative path (E_URL: the URL) */
        char *dst;              /* layer-relative path, no leading '/', "" = root */
        char *link;             /* E_LINK target */
        size_t hard;            /* E_HARD: index of the primary */
        struct stat st;         /* source lstat (E_LOWER: lower's) */
        mode_t mode;            /* final permission bits */
        uid_t uid;
        gid_t gid;
        char digest[IB_SHA256_HEX];
        char *tmp;              /* E_URL: downloaded file in the store scratch */
};

struct ib_copy_plan {
        struct ib_context *ctx;
        struct ib_copy_opts o;
        const char *what;
        struct entry *e;
        size_t n, alloc;
        /* target path -> entry index + 1 (open addressing) */
        struct { char *key; size_t idx; } *map;
        size_t map_n, map_alloc;
        /* hardlinks: (dev, ino) -> entry index */
        struct { dev_t dev; ino_t ino; size_t idx; } *inodes;
        size_t ninodes, ainodes;
        struct ib_copy_stats stats;
};

/* --------------------------------------------------------- target map */

static size_t map_find(struct ib_copy_plan *p, const char *key)
{
        size_t mask = p->map_alloc - 1, i = (size_t) ib_xxh64(key, strlen(key), 1) & mask;
        while (p->map[i].key && strcmp(p->map[i].key, key) != 0)
                i = (i + 1) & mask;
        return i;
}

static void map_put(struct ib_copy_plan *p, const char *key, size_t idx)
{
        if ((p->map_n + 1) * 2 > p->map_alloc) {
                __typeof__(p->map) old = p->map;
                size_t oalloc = p->map_alloc;
                p->map_alloc = oalloc ? oalloc * 2 : 64;
                p->map = ib_calloc(p->map_alloc, sizeof(*p->map));
                for (size_t i = 0; i < oalloc; i++)
                        if (old[i].key)
                                p->map[map_find(p, old[i].key)] = old[i];
                free(old);
        }
        size_t i = map_find(p, key);
        if (!p->map[i].key) {
                p->map[i].key = ib_strdup(key);
                p->map_n++;
        }
        p->map[i].idx = idx;
}

/* The live entry planned at @dst, or NULL. */
static struct entry *planned(struct ib_copy_plan *p, const char *dst)
{
        if (!p->map_alloc)
                return NULL;
        size_t i = map_find(p, dst);
        return p->map[i].key ? &p->e[p->map[i].idx] : NULL;
}

static bool is_dir_kind(enum ekind k)
{
        return k == E_DIR || k == E_PARENT || k == E_LOWER || k == E_ARCHIVE;
}

/* Add an entry for @dst; a later file replaces an earlier one, directories
 * merge (the later source's metadata wins, as BuildKit overwrites it), and
 * a directory/non-directory clash is an error, as in BuildKit. */
static int add_entry(struct ib_copy_plan *p, const struct entry *ne, struct entry **ret, struct ib_err **err)
{
        struct entry *old = planned(p, ne->dst);

        if (old) {
                bool od = is_dir_kind(old->kind), nd = is_dir_kind(ne->kind);
                if (od != nd) {
                        int r = ib_err_set(err, EEXIST, "%s: cannot copy %s over %s `/%s`", p->what,
                                           nd ? "a directory" : "a file", od ? "the directory" : "the file", ne->dst);
                        free(ne->src);
                        free(ne->dst);
                        free(ne->link);
                        return r;
                }
                if (od) {
                        /* Directories merge in place (their children are
                         * planned after them): a source dir's metadata
                         * replaces what was planned, as BuildKit overwrites
                         * the metadata of nested directories. */
                        if (ne->kind == E_DIR && old->kind != E_ARCHIVE) {
                                free(old->src);
                                old->src = IB_TAKE_PTR(((struct entry *) ne)->src);
                                old->kind = E_DIR;
                                old->st = ne->st;
                                old->mode = ne->mode;
                                old->uid = ne->uid;
                                old->gid = ne->gid;
                                old->in_lower = old->in_lower || ne->in_lower;
                        }
                        *ret = old;
                        free(ne->src);
                        free(ne->dst);
                        free(ne->link);
                        return 0;
                }
                old->dead = true;
        }
        ib_grow(&p->e, &p->alloc, p->n + 1, sizeof(*p->e));
        p->e[p->n] = *ne;
        map_put(p, ne->dst, p->n);
        *ret = &p->e[p->n++];
        return 0;
}

/* ------------------------------------------------------------- paths */

static char *path_join2(const char *a, const char *b)
{
        if (!*a)
                return ib_strdup(b);
        if (!*b)
                return ib_strdup(a);
        return ib_strdupf("%s/%s", a, b);
}

static const char *base_name(const char *p)
{
        const char *s = strrchr(p, '/');
        return s ? s + 1 : p;
}

static char *dir_name(const char *p)
{
        const char *s = strrchr(p, '/');
        return s ? ib_strndup(p, (size_t) (s - p)) : ib_strdup("");
}

/* Split @path at '/' into a vector of non-empty components. */
static char **split_path(const char *path)
{
        char **v = NULL;
        _cleanup_free_ char *copy = ib_strdup(path);
        char *save = NULL;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
                ib_strv_push(&v, c);
        if (!v)
                v = ib_calloc(1, sizeof(char *));
        return v;
}

/* Lexically clean a source: drop `.`, apply `..` (error when it climbs out of
 * the context), remember a `/./` pivot for --parents (*ret_pivot: length of
 * the cleaned prefix before it, or -1). */
static int clean_source(const char *what, const char *src, char **ret, ssize_t *ret_pivot, struct ib_err **err)
{
        _cleanup_strv_ char **comps = NULL;
        _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;
        const char *p = src;
        bool first = true;
        ssize_t pivot_comps = -1;

        *ret_pivot = -1;
        while (*p) {
                const char *s = strchr(p, '/');
                size_t n = s ? (size_t) (s - p) : strlen(p);
                _cleanup_free_ char *c = ib_strndup(p, n);
                if (strcmp(c, "..") == 0) {
                        size_t k = ib_strv_len(comps);
                        if (k == 0) {   /* errno 0: "Invalid cross-device link" would say nothing */
                                ib_err_set(err, 0, "%s %s: outside the build context", what, src);
                                return -EXDEV;
                        }
                        free(comps[k - 1]);
                        comps[k - 1] = NULL;
                } else if (strcmp(c, ".") == 0) {
                        /* A leading `./` is just "here"; a later one is the --parents pivot. */
                        if (!first && pivot_comps < 0)
                                pivot_comps = (ssize_t) ib_strv_len(comps);
                } else if (n) {
                        ib_strv_push(&comps, c);
                }
                if (n)
                        first = false;
                p += n;
                while (*p == '/')
                        p++;
        }
        for (size_t i = 0; comps && comps[i]; i++) {
                if (pivot_comps == (ssize_t) i)
                        *ret_pivot = (ssize_t) b.len;
                if (b.len)
                        ib_buf_addc(&b, '/');
                ib_buf_adds(&b, comps[i]);
        }
        if (pivot_comps >= 0 && *ret_pivot < 0)
                *ret_pivot = (ssize_t) b.len;
        *ret = ib_buf_detach(&b);
        return 0;
}

/* Resolve @rel inside the context, following symlinks (all of them when
 * @follow_last, else all but the last component) with the root as `/`.
 * *ret gets the symlink-free path, *st its lstat.  -ENOENT when missing,
 * -EXDEV (with err) when a link climbs out of the root. */
static int resolve_in_ctx(struct ib_copy_plan *p, const char *src, const char *rel, bool follow_last, char **ret,
                          struct stat *st, struct ib_err **err)
{
        char **todo = split_path(rel);  /* reversed stack of components still to walk */
        char **done = NULL;
        size_t ntodo = ib_strv_len(todo), links = 0;
        int r = 0;

        for (size_t i = 0; i < ntodo / 2; i++) {
                char *t = todo[i];
                todo[i] = todo[ntodo - 1 - i];
                todo[ntodo - 1 - i] = t;
        }
        memset(st, 0, sizeof(*st));
        st->st_mode = S_IFDIR | 0755;
        if (fstatat(ib_context_fd(p->ctx), "", st, AT_EMPTY_PATH) < 0)
                st->st_mode = S_IFDIR | 0755;
        while (ntodo > 0) {
                char *c = todo[--ntodo];
                todo[ntodo] = NULL;
                size_t nd = ib_strv_len(done);
                if (strcmp(c, "..") == 0) {
                        free(c);
                        if (nd == 0) {
                                ib_err_set(err, 0, "%s %s: a symlink leads outside the build context", p->what, src);
                                r = -EXDEV;
                                goto out;
                        }
                        free(done[nd - 1]);
                        done[nd - 1] = NULL;
                        continue;
                }
                if (strcmp(c, ".") == 0) {
                        free(c);
                        continue;
                }
                _cleanup_free_ char *cur = NULL;
                {
                        _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;
                        for (size_t i = 0; i < nd; i++) {
                                ib_buf_adds(&b, done[i]);
                                ib_buf_addc(&b, '/');
                        }
                        ib_buf_adds(&b, c);
                        cur = ib_buf_detach(&b);
                }
                if (!S_ISDIR(st->st_mode)) {
                        free(c);
                        r = -ENOTDIR;
                        goto out;
                }
                if (fstatat(ib_context_fd(p->ctx), cur, st, AT_SYMLINK_NOFOLLOW) < 0) {
                        free(c);
                        r = -errno;
                        goto out;
                }
                if (S_ISLNK(st->st_mode) && (ntodo > 0 || follow_last)) {
                        char target[PATH_MAX];
                        ssize_t n = readlinkat(ib_context_fd(p->ctx), cur, target, sizeof(target) - 1);
                        free(c);
                        if (n < 0 || ++links > MAX_SYMLINKS) {
                                r = n < 0 ? -errno : -ELOOP;
                                goto out;
                        }
                        target[n] = '\0';
                        if (target[0] == '/') {
                                ib_strv_free(done);
                                done = NULL;
                        }
                        char **tc = split_path(target);
                        size_t k = ib_strv_len(tc);
                        todo = ib_reallocarray(todo, ntodo + k + 1, sizeof(*todo));
                        for (size_t i = k; i-- > 0;)
                                todo[ntodo++] = tc[i];
                        todo[ntodo] = NULL;
                        free(tc);
                        st->st_mode = S_IFDIR;  /* re-walk from the link's dir */
                        continue;
                }
                ib_strv_push(&done, c);
                free(c);
        }
        {
                _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;
                for (size_t i = 0; done && done[i]; i++) {
                        if (b.len)
                                ib_buf_addc(&b, '/');
                        ib_buf_adds(&b, done[i]);
                }
                *ret = ib_buf_detach(&b);
        }
out:
        ib_strv_free(todo);
        ib_strv_free(done);
        return r;
}

static bool ignored(const struct ib_filter *f, const char *rel, bool is_dir)
{
        return f->excluded && *rel && f->excluded(rel, is_dir, f->ud);
}

/* ------------------------------------------------- image-side resolution */

static int lower_lookup(struct ib_copy_plan *p, const char *dst, struct stat *st, char **link)
{
        _cleanup_free_ char *abs = ib_strdupf("/%s", dst);
        *link = NULL;
        if (!p->o.lookup)
                return -ENOENT;
        return p->o.lookup(abs, st, link, p->o.lookup_ud);
}

/* Resolve the image path @dst (layer-relative, clean) as BuildKit does on the
 * merged root: symlinks in the lower layers are followed inside the image
 * root.  Every directory on the way is planned (E_LOWER or E_PARENT).
 * *ret: the resolved path; *ret_kind: 'd' existing dir, 'f' existing
 * non-dir, 0 missing. */
static int resolve_dest(struct ib_copy_plan *p, const char *dst, bool create_last, char **ret, char *ret_kind,
                        struct ib_err **err)
{
        char **todo = split_path(dst);
        size_t ntodo = ib_strv_len(todo), links = 0;
        _cleanup_free_ char *cur = ib_strdup("");
        bool missing = false;
        int r = 0;

        for (size_t i = 0; i < ntodo / 2; i++) {
                char *t = todo[i];
                todo[i] = todo[ntodo - 1 - i];
                todo[ntodo - 1 - i] = t;
        }
        *ret_kind = 'd';
        while (ntodo > 0) {
                _cleanup_free_ char *c = todo[--ntodo];
                todo[ntodo] = NULL;
                bool last = ntodo == 0;
                if (strcmp(c, ".") == 0)
                        continue;
                if (strcmp(c, "..") == 0) {
                        char *d = dir_name(cur);
                        free(cur);
                        cur = d;
                        continue;
                }
                char *next = path_join2(cur, c);
                free(cur);
                cur = next;
                struct entry *pe = planned(p, cur);
                struct stat st;
                _cleanup_free_ char *link = NULL;
                if (pe) {
                        *ret_kind = is_dir_kind(pe->kind) ? 'd' : 'f';
                        if (*ret_kind == 'f' && !last) {
                                r = ib_err_set(err, ENOTDIR, "%s: `/%s` is not a directory", p->what, cur);
                                goto out;
                        }
                        continue;
                }
                if (missing || lower_lookup(p, cur, &st, &link) < 0) {
                        missing = true;
                        *ret_kind = 0;
                } else if (S_ISLNK(st.st_mode) && link) {
                        if (++links > MAX_SYMLINKS) {
                                r = ib_err_set(err, ELOOP, "%s: resolving `/%s` in the image", p->what, dst);
                                goto out;
                        }
                        char *d = link[0] == '/' ? ib_strdup("") : dir_name(cur);
                        free(cur);
                        cur = d;
                        char **tc = split_path(link);
                        size_t k = ib_strv_len(tc);
                        todo = ib_reallocarray(todo, ntodo + k + 1, sizeof(*todo));
                        for (size_t i = k; i-- > 0;)
                                todo[ntodo++] = tc[i];
                        todo[ntodo] = NULL;
                        free(tc);
                        continue;
                } else if (!S_ISDIR(st.st_mode)) {
                        *ret_kind = 'f';
                        if (!last) {
                                r = ib_err_set(err, ENOTDIR, "%s: `/%s` is not a directory in the image", p->what, cur);
                                goto out;
                        }
                        continue;
                } else {
                        *ret_kind = 'd';
                }
                if (last && !create_last)
                        continue;
                /* A directory on the way: plan it so the layer holds it. */
                struct entry ne = { .kind = *ret_kind ? E_LOWER : E_PARENT, .dst = ib_strdup(cur),
                                    .in_lower = *ret_kind != 0 };
                struct entry *added;
                if (*ret_kind) {
                        ne.st = st;
                        ne.mode = st.st_mode & 07777;
                        ne.uid = st.st_uid;
                        ne.gid = st.st_gid;
                } else {
                        ne.mode = 0755;
                        ne.uid = p->o.chown ? p->o.uid : 0;
                        ne.gid = p->o.chown ? p->o.gid : 0;
                        ne.st.st_mode = S_IFDIR | 0755;
                        ne.st.st_mtim = p->o.dir_mtime;
                }
                r = add_entry(p, &ne, &added, err);
                if (r < 0)
                        goto out;
        }
        *ret = IB_TAKE_PTR(cur);
out:
        ib_strv_free(todo);
        return r;
}

/* ------------------------------------------------------------ entries */

struct walk_ctx {
        struct ib_copy_plan *p;
        const char *src_base;   /* context-relative dir being copied */
        const char *dst_base;   /* its layer-relative target */
        const char *ex_prefix;  /* prefix of --exclude-relative paths ("" or "x/") */
        struct ib_filter f;     /* .dockerignore + --exclude for the walker */
};

static mode_t final_mode(struct ib_copy_plan *p, const struct stat *st)
{
        mode_t m = st->st_mode & 07777;
        return p->o.chmod && !S_ISLNK(st->st_mode) ? ib_chmod_apply(p->o.chmod, m, S_ISDIR(st->st_mode)) : m;
}

/* Plan one source entry (file, dir, link) at @dst. */
static int plan_one(struct ib_copy_plan *p, const char *src, const char *dst, const struct stat *st,
                    struct ib_err **err)
{
        struct entry ne = { .src = ib_strdup(src), .dst = ib_strdup(dst), .st = *st, .mode = final_mode(p, st),
                            .uid = p->o.chown ? p->o.uid : 0, .gid = p->o.chown ? p->o.gid : 0 };
        _cleanup_free_ char *parent = dir_name(dst);
        struct entry *pe = planned(p, parent), *added;

        if (S_ISDIR(st->st_mode)) {
                ne.kind = E_DIR;
        } else if (S_ISREG(st->st_mode)) {
                ne.kind = E_FILE;
                if (st->st_nlink > 1) {
                        for (size_t i = 0; i < p->ninodes; i++)
                                if (p->inodes[i].dev == st->st_dev && p->inodes[i].ino == st->st_ino &&
                                    !p->e[p->inodes[i].idx].dead) {
                                        ne.kind = E_HARD;
                                        ne.hard = p->inodes[i].idx;
                                        break;
                                }
                }
        } else if (S_ISLNK(st->st_mode)) {
                char target[PATH_MAX];
                ssize_t n = readlinkat(ib_context_fd(p->ctx), src, target, sizeof(target) - 1);
                if (n < 0) {
                        free(ne.src);
                        free(ne.dst);
                        return ib_err_set(err, errno, "%s: readlink `%s`", p->what, src);
                }
                target[n] = '\0';
                ne.kind = E_LINK;
                ne.link = ib_strdup(target);
        } else {
                ib_strv_pushf(&p->stats.warnings, "skipped %s `%s` (not copyable into a layer)",
                              S_ISSOCK(st->st_mode) ? "socket" : S_ISFIFO(st->st_mode) ? "fifo" : "device", src);
                free(ne.src);
                free(ne.dst);
                return 0;
        }
        if (pe && !is_dir_kind(pe->kind)) {
                free(ne.src);
                free(ne.dst);
                free(ne.link);
                return ib_err_set(err, ENOTDIR, "%s: cannot copy `%s` below `/%s`, which is not a directory",
                                  p->what, src, parent);
        }
        /* Below a directory that also exists in the image, check for clashes. */
        if (pe && pe->in_lower) {
                struct stat lst;
                _cleanup_free_ char *link = NULL;
                if (lower_lookup(p, dst, &lst, &link) == 0) {
                        bool ld = S_ISDIR(lst.st_mode);
                        if (ld != (ne.kind == E_DIR)) {
                                free(ne.src);
                                free(ne.dst);
                                free(ne.link);
                                return ib_err_set(err, EEXIST, "%s: cannot copy %s over the image's %s `/%s`",
                                                  p->what, ld ? "a non-directory" : "a directory",
                                                  ld ? "directory" : "non-directory", dst);
                        }
                        ne.in_lower = ld;
                }
        }
        int r = add_entry(p, &ne, &added, err);
        if (r < 0)
                return r;
        if (added->kind == E_FILE && st->st_nlink > 1) {
                ib_grow(&p->inodes, &p->ainodes, p->ninodes + 1, sizeof(*p->inodes));
                p->inodes[p->ninodes].dev = st->st_dev;
                p->inodes[p->ninodes].ino = st->st_ino;
                p->inodes[p->ninodes++].idx = (size_t) (added - p->e);
        }
        return 0;
}

static bool walk_excluded(const char *rel, bool is_dir, void *ud)
{
        struct walk_ctx *w = ud;
        const struct ib_filter *ig = &w->p->o.ignore, *ex = &w->p->o.exclude;
        size_t bl = strlen(w->src_base);
        const char *sub = bl ? rel + bl + 1 : rel;

        if (ignored(ig, rel, is_dir))
                return true;
        if (ex->excluded) {
                _cleanup_free_ char *erel = ib_strdupf("%s%s", w->ex_prefix, sub);
                if (ex->excluded(erel, is_dir, ex->ud))
                        return true;
        }
        return false;
}

static bool walk_may_descend(const char *rel, void *ud)
{
        struct walk_ctx *w = ud;
        const struct ib_filter *ig = &w->p->o.ignore, *ex = &w->p->o.exclude;
        size_t bl = strlen(w->src_base);
        const char *sub = bl ? rel + bl + 1 : rel;
        _cleanup_free_ char *erel = ib_strdupf("%s%s", w->ex_prefix, sub);
        bool ig_ex = ignored(ig, rel, true), ex_ex = ex->excluded && ex->excluded(erel, true, ex->ud);

        if (ig_ex && !(ig->may_descend && ig->may_descend(rel, ig->ud)))
                return false;
        if (ex_ex && !(ex->may_descend && ex->may_descend(erel, ex->ud)))
                return false;
        return true;
}

static int walk_cb(const char *rel, const struct stat *st, void *ud, struct ib_err **err)
{
        struct walk_ctx *w = ud;
        size_t bl = strlen(w->src_base);
        _cleanup_free_ char *dst = path_join2(w->dst_base, bl ? rel + bl + 1 : rel);
        return plan_one(w->p, rel, dst, st, err);
}

static int plan_dir_contents(struct ib_copy_plan *p, const char *src, const char *dst, const char *ex_prefix,
                             struct ib_err **err)
{
        struct walk_ctx w = { .p = p, .src_base = src, .dst_base = dst, .ex_prefix = ex_prefix };
        w.f = (struct ib_filter) { .excluded = walk_excluded, .may_descend = walk_may_descend, .ud = &w };
        return ib_context_walk(p->ctx, src, &w.f, walk_cb, &w, err);
}

/* ------------------------------------------------------ ADD archives */

/* Docker judges by content: a (possibly compressed) tar whose first header reads. */
static bool is_archive(struct ib_copy_plan *p, const char *src)
{
        _cleanup_err_ struct ib_err *e = NULL;
        _cleanup_close_ int fd = ib_open_in_root(ib_context_fd(p->ctx), src, O_RDONLY | O_NOFOLLOW, 0, &e);
        struct archive *a;
        struct archive_entry *ae;
        bool yes;

        if (fd < 0)
                return false;
        a = archive_read_new();
        ib_archive_read_tar_support(a);
        yes = archive_read_open_fd(a, fd, 1 << 16) == ARCHIVE_OK && archive_read_next_header(a, &ae) == ARCHIVE_OK;
        archive_read_free(a);
        return yes;
}

/* --------------------------------------------------------- the plan */

struct resolved {
        char *written;          /* cleaned source as matched (for names, --parents) */
        char *path;             /* symlink-free context path */
        ssize_t pivot;          /* --parents: keep written+pivot */
        const char *ex_prefix;  /* --exclude paths relative to the glob's dir */
        struct stat st;
};

static void resolved_free(struct resolved *r, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(r[i].written);
                free(r[i].path);
                free((char *) r[i].ex_prefix);
        }
        free(r);
}

static int push_resolved(struct ib_copy_plan *p, const char *orig, const char *written, ssize_t pivot,
                         const char *ex_prefix, bool literal, struct resolved **v, size_t *n, size_t *alloc,
                         struct ib_err **err)
{
        struct resolved r = { .pivot = pivot };
        int k = resolve_in_ctx(p, orig, written, true, &r.path, &r.st, err);

        if (k == -EXDEV) {
                /* A source that is itself a symlink leading out of the context
                 * is copied as that link, never followed; a link met on the way
                 * to it (a dir link) cannot be, and stays an error. */
                _cleanup_err_ struct ib_err *e2 = NULL;
                free(r.path);
                r.path = NULL;
                k = resolve_in_ctx(p, orig, written, false, &r.path, &r.st, &e2);
                if (k < 0 || !S_ISLNK(r.st.st_mode)) {
                        free(r.path);
                        return -EXDEV;  /* *err still says why */
                }
                ib_err_free(err);
        }
        if (k < 0 || ignored(&p->o.ignore, r.path, S_ISDIR(r.st.st_mode))) {
                free(r.path);
                if (!literal)
                        return 0;       /* a dangling link matched by a glob: nothing */
                return ib_err_set(err, ENOENT, "%s %s: not found in the build context%s", p->what, orig,
                                  k < 0 ? "" : " (excluded by .dockerignore)");
        }
        r.written = ib_strdup(written);
        r.ex_prefix = ib_strdup(ex_prefix);
        ib_grow(v, alloc, *n + 1, sizeof(**v));
        (*v)[(*n)++] = r;
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The sorted names in context dir @dir (symlink-free). */
static char **list_dir(struct ib_copy_plan *p, const char *dir)
{
        _cleanup_err_ struct ib_err *e = NULL;
        int fd = *dir ? ib_open_in_root(ib_context_fd(p->ctx), dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, &e)
                      : openat(ib_context_fd(p->ctx), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        char **names = NULL;
        struct dirent *de;

        if (!d) {
                if (fd >= 0)
                        close(fd);
                return ib_calloc(1, sizeof(char *));
        }
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        ib_strv_push(&names, de->d_name);
        closedir(d);
        if (!names)
                return ib_calloc(1, sizeof(char *));
        qsort(names, ib_strv_len(names), sizeof(*names), cmp_str);
        return names;
}

/* Match glob components @pat[i..] below context dir @dir (symlink-free),
 * collecting matches into @out.  Intermediate matches must be real dirs
 * (Go's filepath.Walk does not follow links). */
static int glob_walk(struct ib_copy_plan *p, const char *dir, char **pat, size_t i, char ***out, struct ib_err **err)
{
        _cleanup_strv_ char **names = list_dir(p, dir);
        bool last = pat[i + 1] == NULL;

        for (size_t k = 0; names[k]; k++) {
                int m = ib_glob_match(pat[i], names[k]);
                if (m < 0)
                        return ib_err_set(err, EINVAL, "%s: bad pattern `%s`", p->what, pat[i]);
                if (!m)
                        continue;
                _cleanup_free_ char *rel = path_join2(dir, names[k]);
                struct stat st;
                if (fstatat(ib_context_fd(p->ctx), rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                bool isdir = S_ISDIR(st.st_mode);
                if (last) {
                        ib_strv_push(out, rel);
                        continue;
                }
                if (!isdir)
                        continue;
                if (ignored(&p->o.ignore, rel, true) &&
                    !(p->o.ignore.may_descend && p->o.ignore.may_descend(rel, p->o.ignore.ud)))
                        continue;
                int r = glob_walk(p, rel, pat, i + 1, out, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Unescape `\x` in a literal component. */
static char *unescape(const char *s)
{
        char *o = ib_strdup(s), *d = o;
        for (; *s; s++) {
                if (*s == '\\' && s[1])
                        s++;
                *d++ = *s;
        }
        *d = '\0';
        return o;
}

static int resolve_source(struct ib_copy_plan *p, const char *src, struct resolved **v, size_t *n, size_t *alloc,
                          struct ib_err **err)
{
        _cleanup_free_ char *clean = NULL;
        ssize_t pivot;
        int r = clean_source(p->what, src, &clean, &pivot, err);

        if (r < 0)
                return r;
        if (!ib_glob_has_magic(clean))
                return push_resolved(p, src, clean, pivot, "", true, v, n, alloc, err);

        /* Fixed leading directory, then per-component patterns. */
        _cleanup_strv_ char **comps = split_path(clean);
        _cleanup_buf_ struct ib_buf fixed = IB_BUF_INIT;
        size_t i = 0;
        for (; comps[i] && !ib_glob_has_magic(comps[i]); i++) {
                _cleanup_free_ char *u = unescape(comps[i]);
                if (fixed.len)
                        ib_buf_addc(&fixed, '/');
                ib_buf_adds(&fixed, u);
        }
        for (size_t k = i; comps[k]; k++)
                if (ib_glob_match(comps[k], "") < 0)
                        return ib_err_set(err, EINVAL, "%s %s: bad pattern", p->what, src);
        _cleanup_free_ char *dir = NULL;
        struct stat st;
        r = resolve_in_ctx(p, src, fixed.buf, true, &dir, &st, err);
        if (r == -EXDEV)
                return r;
        if (r < 0 || !S_ISDIR(st.st_mode))
                return ib_err_set(err, r < 0 ? -r : ENOTDIR, "%s %s: pattern's directory `%s` is not in the build context",
                                  p->what, src, fixed.len ? fixed.buf : ".");
        _cleanup_strv_ char **matches = NULL;
        r = glob_walk(p, dir, comps + i, 0, &matches, err);
        if (r < 0)
                return r;
        if (!matches) {
                ib_strv_push(&p->stats.empty_patterns, src);
                return 0;
        }
        for (size_t k = 0; matches[k]; k++) {
                /* --parents keeps the path as matched, relative to the pivot. */
                const char *m = matches[k];
                size_t dl = strlen(dir);
                _cleanup_free_ char *written = path_join2(fixed.buf, dl ? m + dl + 1 : m);
                _cleanup_free_ char *exp = dir_name(dl ? m + dl + 1 : m);
                _cleanup_free_ char *ex_prefix = *exp ? ib_strdupf("%s/", exp) : ib_strdup("");
                size_t before = *n;
                r = push_resolved(p, src, written, pivot, ex_prefix, false, v, n, alloc, err);
                if (r < 0)
                        return r;
                if (*n == before || !p->o.exclude.excluded)
                        continue;
                /* A top-level glob match is itself subject to --exclude. */
                struct resolved *last = &(*v)[*n - 1];
                bool isdir = S_ISDIR(last->st.st_mode);
                _cleanup_free_ char *erel = ib_strdupf("%s%s", ex_prefix, base_name(written));
                if (p->o.exclude.excluded(erel, isdir, p->o.exclude.ud) &&
                    !(isdir && p->o.exclude.may_descend && p->o.exclude.may_descend(erel, p->o.exclude.ud))) {
                        free(last->written);
                        free(last->path);
                        free((char *) last->ex_prefix);
                        (*n)--;
                }
        }
        return 0;
}

/* The path a --parents source keeps below DEST. */
static const char *parents_path(const struct resolved *r)
{
        const char *w = r->written;
        if (r->pivot >= 0) {
                w += r->pivot;
                while (*w == '/')
                        w++;
        }
        return w;
}

/* With --parents, the directories between DEST and the source take the
 * context's metadata (BuildKit copies them from the source). */
static int plan_parents_dirs(struct ib_copy_plan *p, const struct resolved *r, const char *dest, struct ib_err **err)
{
        const char *keep = parents_path(r);
        size_t skip = (size_t) (keep - r->written);
        _cleanup_strv_ char **comps = split_path(keep);
        _cleanup_buf_ struct ib_buf src = IB_BUF_INIT, dst = IB_BUF_INIT;

        ib_buf_add(&src, r->written, skip);
        while (src.len && src.buf[src.len - 1] == '/')
                ib_buf_truncate(&src, src.len - 1);
        ib_buf_adds(&dst, dest);
        for (size_t i = 0; comps[i] && comps[i + 1]; i++) {
                struct stat st;
                _cleanup_free_ char *resolved = NULL;
                if (src.len)
                        ib_buf_addc(&src, '/');
                ib_buf_adds(&src, comps[i]);
                if (dst.len)
                        ib_buf_addc(&dst, '/');
                ib_buf_adds(&dst, comps[i]);
                if (planned(p, dst.buf))
                        continue;
                int k = resolve_in_ctx(p, src.buf, src.buf, true, &resolved, &st, err);
                if (k < 0)
                        return k == -EXDEV ? k : ib_err_set(err, -k, "%s: `%s`", p->what, src.buf);
                k = plan_one(p, resolved, dst.buf, &st, err);
                if (k < 0)
                        return k;
        }
        return 0;
}

static int plan_resolved(struct ib_copy_plan *p, const struct resolved *r, const char *dest, char dest_kind,
                         bool dest_dir, struct ib_err **err)
{
        bool isdir = S_ISDIR(r->st.st_mode);
        _cleanup_free_ char *target = NULL;
        int k;

        if (p->o.parents) {
                _cleanup_free_ char *dres = NULL;
                char dkind;
                k = resolve_dest(p, dest, true, &dres, &dkind, err);
                if (k < 0)
                        return k;
                if (dkind == 'f')
                        return ib_err_set(err, ENOTDIR, "%s %s: `/%s` is not a directory", p->what, r->written, dest);
                k = plan_parents_dirs(p, r, dest, err);
                if (k < 0)
                        return k;
                target = path_join2(dest, parents_path(r));
        } else if (isdir) {
                target = ib_strdup(dest);
        } else if (dest_dir || dest_kind == 'd') {
                target = path_join2(dest, base_name(r->written));
        } else {
                target = ib_strdup(dest);
        }
        if (p->o.kind == IB_COPY_ADD && S_ISREG(r->st.st_mode) && is_archive(p, r->path)) {
                _cleanup_free_ char *resolved = NULL;
                char kind;
                /* Unpacked "as a directory" into DEST. */
                k = resolve_dest(p, dest, true, &resolved, &kind, err);
                if (k < 0)
                        return k;
                if (kind == 'f')
                        return ib_err_set(err, ENOTDIR, "%s %s: `/%s` is not a directory", p->what, r->written, dest);
                struct entry ne = { .kind = E_ARCHIVE, .src = ib_strdup(r->path), .dst = ib_strdupf("%s\x01%s", resolved, r->path),
                                    .st = r->st, .uid = p->o.uid, .gid = p->o.gid };
                struct entry *added;
                return add_entry(p, &ne, &added, err);
        }
        if (isdir) {
                /* The top directory: kept when it exists, else the source's metadata. */
                _cleanup_free_ char *resolved = NULL;
                char kind;
                _cleanup_free_ char *parent = dir_name(target);
                k = resolve_dest(p, target, false, &resolved, &kind, err);
                if (k < 0)
                        return k;
                if (kind == 'f')
                        return ib_err_set(err, ENOTDIR, "%s %s: cannot copy a directory to the file `/%s`",
                                          p->what, r->written, resolved);
                if (kind == 0) {
                        k = plan_one(p, r->path, resolved, &r->st, err);
                } else if (!planned(p, resolved)) {
                        /* Exists below: reproduce it with the image's metadata. */
                        struct stat lst;
                        _cleanup_free_ char *link = NULL;
                        struct entry *added;
                        struct entry ne = { .kind = E_LOWER, .dst = ib_strdup(resolved), .in_lower = true };
                        if (lower_lookup(p, resolved, &lst, &link) == 0) {
                                ne.st = lst;
                                ne.mode = lst.st_mode & 07777;
                                ne.uid = lst.st_uid;
                                ne.gid = lst.st_gid;
                        }
                        k = add_entry(p, &ne, &added, err);
                }
                if (k < 0)
                        return k;
                return plan_dir_contents(p, r->path, resolved, r->ex_prefix, err);
        }
        /* A single file (or a link's target): its parent is resolved in the image. */
        _cleanup_free_ char *pdir = dir_name(target), *presolved = NULL;
        char pkind;
        k = resolve_dest(p, pdir, true, &presolved, &pkind, err);
        if (k < 0)
                return k;
        _cleanup_free_ char *final = path_join2(presolved, base_name(target));
        struct stat lst;
        _cleanup_free_ char *link = NULL;
        if (!planned(p, final) && lower_lookup(p, final, &lst, &link) == 0 && S_ISDIR(lst.st_mode))
                return ib_err_set(err, EEXIST, "%s %s: cannot replace the image's directory `/%s` with a file",
                                  p->what, r->written, final);
        return plan_one(p, r->path, final, &r->st, err);
}

static int plan_url(struct ib_copy_plan *p, const char *url, const char *dest, char dest_kind, bool dest_dir,
                    struct ib_err **err)
{
        _cleanup_free_ char *name = ib_url_filename(url);
        _cleanup_free_ char *target = NULL, *pdir = NULL, *presolved = NULL;
        char pkind;
        struct entry *added;
        int k;

        if (dest_dir || dest_kind == 'd') {
                if (!name || !*name)
                        return ib_err_set(err, EINVAL, "%s %s: cannot tell a file name from the URL; give a "
                                          "destination file name", p->what, url);
                target = path_join2(dest, name);
        } else {
                target = ib_strdup(dest);
        }
        pdir = dir_name(target);
        k = resolve_dest(p, pdir, true, &presolved, &pkind, err);
        if (k < 0)
                return k;
        struct entry ne = { .kind = E_URL, .src = ib_strdup(url), .dst = path_join2(presolved, base_name(target)),
                            .mode = 0600, .uid = p->o.chown ? p->o.uid : 0, .gid = p->o.chown ? p->o.gid : 0 };
        if (p->o.chmod)
                ne.mode = ib_chmod_apply(p->o.chmod, 0600, false);
        ne.st.st_mode = S_IFREG | 0600;
        return add_entry(p, &ne, &added, err);
}

bool ib_copy_is_url(const char *src)
{
        return ib_startswith(src, "http://") || ib_startswith(src, "https://");
}

bool ib_copy_is_git_url(const char *src)
{
        if (ib_startswith(src, "git://") || ib_startswith(src, "git@") || ib_startswith(src, "ssh://"))
                return true;
        if (!ib_copy_is_url(src))
                return false;
        _cleanup_free_ char *s = ib_strndup(src, strcspn(src, "?#"));
        return ib_endswith(s, ".git") || strchr(src, '#') != NULL;
}

int ib_copy_plan_new(struct ib_context *c, const struct ib_copy_opts *o, struct ib_copy_plan **ret,
                     struct ib_err **err)
{
        struct ib_copy_plan *p = ib_calloc(1, sizeof(*p));
        struct resolved *res = NULL;
        size_t nres = 0, ares = 0, nsrc = ib_strv_len(o->sources);
        _cleanup_free_ char *dest = NULL;
        bool dest_dir;
        char dest_kind = 0;
        int r = 0;

        p->ctx = c;
        p->o = *o;
        p->what = o->what ? o->what : o->kind == IB_COPY_ADD ? "ADD" : "COPY";
        if (p->o.dir_mtime.tv_sec == 0 && p->o.dir_mtime.tv_nsec == 0)
                clock_gettime(CLOCK_REALTIME, &p->o.dir_mtime);
        if (!o->dest || o->dest[0] != '/') {
                r = ib_err_set(err, EINVAL, "%s: destination `%s` must be absolute", p->what, o->dest ? o->dest : "");
                goto out;
        }
        if (nsrc == 0) {
                r = ib_err_set(err, EINVAL, "%s: no source", p->what);
                goto out;
        }
        dest_dir = ib_endswith(o->dest, "/") || ib_endswith(o->dest, "/.") || o->parents;
        if (nsrc > 1 && !dest_dir) {
                r = ib_err_set(err, EINVAL, "%s: with more than one source the destination `%s` must be a "
                               "directory and end with a /", p->what, o->dest);
                goto out;
        }
        /* The image side: `..` is clamped at `/` (path.Clean semantics). */
        {
                _cleanup_strv_ char **dc = split_path(o->dest);
                _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;
                char **stack = NULL;
                for (size_t i = 0; dc[i]; i++) {
                        size_t k = ib_strv_len(stack);
                        if (strcmp(dc[i], "..") == 0) {
                                if (k) {
                                        free(stack[k - 1]);
                                        stack[k - 1] = NULL;
                                }
                        } else if (strcmp(dc[i], ".") != 0) {
                                ib_strv_push(&stack, dc[i]);
                        }
                }
                for (size_t i = 0; stack && stack[i]; i++) {
                        if (b.len)
                                ib_buf_addc(&b, '/');
                        ib_buf_adds(&b, stack[i]);
                }
                ib_strv_free(stack);
                dest = ib_buf_detach(&b);
        }
        for (size_t i = 0; o->sources[i]; i++) {
                const char *s = o->sources[i];
                if (ib_copy_is_git_url(s)) {
                        r = ib_err_set(err, ENOTSUP, "%s %s: git sources are not supported yet", p->what, s);
                        goto out;
                }
                if (ib_copy_is_url(s)) {
                        if (o->kind != IB_COPY_ADD) {
                                r = ib_err_set(err, EINVAL, "%s %s: URLs are for ADD, not COPY", p->what, s);
                                goto out;
                        }
                        continue;
                }
                r = resolve_source(p, s, &res, &nres, &ares, err);
                if (r < 0)
                        goto out;
        }
        /* The destination itself, resolved in the image (following links). */
        {
                _cleanup_free_ char *resolved = NULL;
                r = resolve_dest(p, dest, false, &resolved, &dest_kind, err);
                if (r < 0)
                        goto out;
                free(dest);
                dest = IB_TAKE_PTR(resolved);
        }
        if (!dest_dir && dest_kind != 'd') {
                size_t nfiles = 0;
                for (size_t i = 0; i < nres; i++)
                        nfiles += !S_ISDIR(res[i].st.st_mode);
                if (nfiles > 1) {
                        r = ib_err_set(err, EINVAL, "%s %s: the pattern matches %zu entries, so the destination `%s` "
                                       "must be a directory and end with a /", p->what, o->sources[0], nfiles, o->dest);
                        goto out;
                }
        }
        for (size_t i = 0; i < nres; i++) {
                r = plan_resolved(p, &res[i], dest, dest_kind, dest_dir, err);
                if (r < 0)
                        goto out;
        }
        for (size_t i = 0; o->sources[i]; i++) {
                if (!ib_copy_is_url(o->sources[i]))
                        continue;
                r = plan_url(p, o->sources[i], dest, dest_kind, dest_dir, err);
                if (r < 0)
                        goto out;
        }
out:
        resolved_free(res, nres);
        if (r < 0) {
                ib_copy_plan_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

void ib_copy_plan_free(struct ib_copy_plan *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < p->n; i++) {
                free(p->e[i].src);
                free(p->e[i].dst);
                free(p->e[i].link);
                if (p->e[i].tmp)
                        (void) unlink(p->e[i].tmp);
                free(p->e[i].tmp);
        }
        for (size_t i = 0; i < p->map_alloc; i++)
                free(p->map[i].key);
        free(p->map);
        free(p->e);
        free(p->inodes);
        ib_strv_free(p->stats.warnings);
        ib_strv_free(p->stats.empty_patterns);
        free(p);
}

const struct ib_copy_stats *ib_copy_plan_stats(const struct ib_copy_plan *p)
{
        return &p->stats;
}

/* Where an entry lands ("dir\x01src" for archives, which may share a dir). */
static const char *entry_dst(const struct entry *e, char **buf)
{
        const char *s = strchr(e->dst, '\x01');
        if (!s)
                return e->dst;
        *buf = ib_strndup(e->dst, (size_t) (s - e->dst));
        return *buf;
}

static char kind_char(enum ekind k)
{
        static const char c[] = { [E_DIR] = 'd', [E_PARENT] = 'd', [E_LOWER] = 'd', [E_FILE] = 'f',
                                  [E_LINK] = 'l', [E_HARD] = 'h', [E_ARCHIVE] = 'a', [E_URL] = 'u' };
        return c[k];
}

char **ib_copy_plan_describe(const struct ib_copy_plan *p)
{
        char **v = NULL;
        for (size_t i = 0; i < p->n; i++) {
                const struct entry *e = &p->e[i];
                _cleanup_free_ char *b = NULL;
                if (e->dead)
                        continue;
                ib_strv_pushf(&v, "%c %04o %u:%u /%s%s%s", kind_char(e->kind), (unsigned) e->mode, e->uid, e->gid,
                              entry_dst(e, &b), e->link ? " -> " : e->kind == E_HARD ? " => /" : "",
                              e->link ? e->link : e->kind == E_HARD ? p->e[e->hard].dst : "");
        }
        return v ? v : ib_calloc(1, sizeof(char *));
}

/* ---------------------------------------------------------------- key */

static void frame(struct ib_sha256 *h, const void *data, size_t n)
{
        uint64_t len = n;
        ib_sha256_update(h, &len, sizeof(len));
        ib_sha256_update(h, data, n);
}

static void frame_str(struct ib_sha256 *h, const char *s)
{
        frame(h, s ? s : "", s ? strlen(s) : 0);
}

static void frame_u64(struct ib_sha256 *h, uint64_t v)
{
        frame(h, &v, sizeof(v));
}

/* The xattrs an entry carries into the layer, framed sorted by name.  By
 * path (one syscall when there are none, the common case): the components
 * below the context root were walked without following links. */
static void frame_xattrs(struct ib_copy_plan *p, struct ib_sha256 *h, const struct entry *e)
{
        char names[4096], val[65536];
        _cleanup_strv_ char **v = NULL;

        if (e->kind != E_FILE && e->kind != E_DIR)
                return;
        _cleanup_free_ char *path = path_join2(ib_context_path(p->ctx), e->src);
        ssize_t n = llistxattr(path, names, sizeof(names));
        for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t) strlen(names + off) + 1)
                if (ib_xattr_copyable(names + off))
                        ib_strv_push(&v, names + off);
        if (!v)
                return;
        qsort(v, ib_strv_len(v), sizeof(*v), cmp_str);
        for (size_t i = 0; v[i]; i++) {
                ssize_t vl = lgetxattr(path, v[i], val, sizeof(val));
                frame_str(h, v[i]);
                frame(h, val, vl > 0 ? (size_t) vl : 0);
        }
}

static int entry_digest(struct ib_copy_plan *p, struct entry *e, struct ib_err **err)
{
        if (e->digest[0])
                return 0;
        switch (e->kind) {
        case E_FILE:
        case E_ARCHIVE:
                return ib_file_index_digest(ib_context_index(p->ctx), ib_context_fd(p->ctx), e->src, &e->st,
                                            e->digest, err);
        case E_URL: {
                const char *hex;
                if (p->o.checksum && ib_digest_parse(p->o.checksum, &hex)) {
                        memcpy(e->digest, hex, IB_SHA256_HEX);
                        return 0;
                }
                if (!p->o.store)
                        return ib_err_set(err, EINVAL, "%s %s: downloading needs a store", p->what, e->src);
                e->tmp = ib_store_tmp_path(p->o.store, "add-url");
                _cleanup_free_ char *dir = dir_name(e->tmp);
                _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        return ib_err_set(err, errno, "open `%s`", dir);
                return ib_fetch_url(e->src, p->o.checksum, dfd, base_name(e->tmp), &p->o.dir_mtime, e->digest, err);
        }
        default:
                return 0;
        }
}

static int cmp_entry_dst(const void *a, const void *b)
{
        const struct entry *x = *(const struct entry *const *) a, *y = *(const struct entry *const *) b;
        return strcmp(x->dst, y->dst);
}

int ib_copy_plan_key(struct ib_copy_plan *p, char hex[IB_SHA256_HEX], struct ib_err **err)
{
        _cleanup_(ib_sha256_freep) struct ib_sha256 *h = ib_sha256_new();
        _cleanup_free_ struct entry **v = ib_calloc(p->n + 1, sizeof(*v));
        size_t n = 0;
        int r;

        if (p->o.checksum) {
                const char *ck;
                if (!ib_digest_parse(p->o.checksum, &ck))
                        return ib_err_set(err, EINVAL, "%s: --checksum `%s`: want sha256:<64 hex>", p->what,
                                          p->o.checksum);
        }
        for (size_t i = 0; i < p->n; i++)
                if (!p->e[i].dead)
                        v[n++] = &p->e[i];
        qsort(v, n, sizeof(*v), cmp_entry_dst);
        frame_str(h, "imgbuild-copy-v1");
        for (size_t i = 0; i < n; i++) {
                struct entry *e = v[i];
                char t = kind_char(e->kind);
                r = entry_digest(p, e, err);
                if (r < 0)
                        return r;
                frame_str(h, e->dst);
                frame(h, &t, 1);
                frame_u64(h, e->mode);
                frame_u64(h, e->uid);
                frame_u64(h, e->gid);
                frame_str(h, e->digest);
                frame_str(h, e->kind == E_HARD ? p->e[e->hard].dst : e->kind == E_URL ? e->src : e->link);
                frame_xattrs(p, h, e);
        }
        ib_sha256_final_hex(h, hex);
        return 0;
}

/* -------------------------------------------------------------- apply */

/* Open the layer dir that holds @dst (all parents are planned before). */
static int open_parent(int layer_fd, const char *dst, const char **name, struct ib_err **err)
{
        const char *s = strrchr(dst, '/');
        *name = s ? s + 1 : dst;
        if (!s) {
                int fd = fcntl(layer_fd, F_DUPFD_CLOEXEC, 3);
                return fd < 0 ? ib_err_set(err, errno, "dup") : fd;
        }
        _cleanup_free_ char *dir = ib_strndup(dst, (size_t) (s - dst));
        return ib_open_dir_beneath(layer_fd, dir, err);
}

static int copy_data(int in, int out, const char *what, uint64_t *bytes, struct ib_err **err)
{
        static __thread char buf[1 << 17];
        bool cfr = true;

        for (;;) {
                ssize_t n;
                if (cfr) {
                        n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
                        if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
                                      errno == EPERM)) {
                                cfr = false;
                                continue;
                        }
                } else {
                        n = read(in, buf, sizeof(buf));
                        if (n > 0 && ib_write_all(out, buf, (size_t) n) < 0)
                                return ib_err_set(err, errno, "write `%s`", what);
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return ib_err_set(err, errno, "copy `%s`", what);
                if (n == 0)
                        return 0;
                *bytes += (uint64_t) n;
        }
}

static int chown_err(struct ib_err **err, const char *what, const char *dst, uid_t uid, gid_t gid)
{
        int e = errno;
        return ib_err_set(err, e, "%s: chown `/%s` to %u:%u%s", what, dst, uid, gid,
                          e == EINVAL || e == EPERM ? " (id not mapped in this user namespace; "
                                                      "check /etc/subuid and /etc/subgid)" : "");
}

static int apply_file(struct ib_copy_plan *p, struct entry *e, int pfd, const char *name, struct ib_err **err)
{
        _cleanup_close_ int in = ib_open_in_root(ib_context_fd(p->ctx), e->src, O_RDONLY | O_NOFOLLOW, 0, err);
        if (in < 0)
                return in;
        _cleanup_close_ int out = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return ib_err_set(err, errno, "%s: create `/%s`", p->what, e->dst);
        int r = copy_data(in, out, e->src, &p->stats.bytes, err);
        if (r < 0)
                return r;
        if (fchown(out, e->uid, e->gid) < 0)
                return chown_err(err, p->what, e->dst, e->uid, e->gid);
        if (fchmod(out, e->mode) < 0)
                return ib_err_set(err, errno, "%s: chmod `/%s`", p->what, e->dst);
        ib_copy_xattrs(in, out, &p->stats.xattrs_skipped);
        struct timespec ts[2] = { e->st.st_atim, e->st.st_mtim };
        (void) futimens(out, ts);
        p->stats.files++;
        return 0;
}

static int apply_url(struct ib_copy_plan *p, struct entry *e, int pfd, const char *name, struct ib_err **err)
{
        char hex[IB_SHA256_HEX];
        int r;

        if (e->tmp) {
                /* Downloaded for the key: move it (same store) or copy it. */
                _cleanup_close_ int in = open(e->tmp, O_RDONLY | O_CLOEXEC);
                _cleanup_close_ int out = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                struct stat st;
                if (in < 0 || out < 0 || fstat(in, &st) < 0)
                        return ib_err_set(err, errno, "%s: place `/%s`", p->what, e->dst);
                r = copy_data(in, out, e->src, &p->stats.bytes, err);
                if (r < 0)
                        return r;
                struct timespec ts[2] = { st.st_mtim, st.st_mtim };
                (void) futimens(out, ts);
        } else {
                r = ib_fetch_url(e->src, p->o.checksum, pfd, name, &p->o.dir_mtime, hex, err);
                if (r < 0)
                        return r;
        }
        if (fchownat(pfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
                return chown_err(err, p->what, e->dst, e->uid, e->gid);
        if (fchmodat(pfd, name, e->mode, 0) < 0)
                return ib_err_set(err, errno, "%s: chmod `/%s`", p->what, e->dst);
        p->stats.urls++;
        return 0;
}

static int apply_archive(struct ib_copy_plan *p, struct entry *e, int layer_fd, struct ib_err **err)
{
        _cleanup_free_ char *dbuf = NULL;
        const char *dst = entry_dst(e, &dbuf);
        _cleanup_free_ char *what = ib_strdupf("%s %s", p->what, e->src);
        struct ib_untar_opts o = { .same_owner = true, .chown = p->o.chown, .uid = p->o.uid, .gid = p->o.gid,
                                   .chmod = p->o.chmod, .what = what };
        _cleanup_close_ int in = ib_open_in_root(ib_context_fd(p->ctx), e->src, O_RDONLY | O_NOFOLLOW, 0, err);
        if (in < 0)
                return in;
        _cleanup_close_ int dfd = ib_open_dir_beneath(layer_fd, dst, err);
        if (dfd < 0)
                return dfd;
        struct archive *a = archive_read_new();
        ib_archive_read_tar_support(a);
        int r = archive_read_open_fd(a, in, 1 << 16) != ARCHIVE_OK ? ib_err_archive(err, a, what)
                                                                   : ib_untar(a, dfd, &o, &p->stats, err);
        archive_read_free(a);
        if (r == 0)
                p->stats.archives++;
        return r;
}

static int apply_entry(struct ib_copy_plan *p, struct entry *e, int layer_fd, struct ib_err **err)
{
        const char *name;
        int r;

        if (e->kind == E_ARCHIVE)
                return apply_archive(p, e, layer_fd, err);
        if (!*e->dst)
                return 0;       /* the layer root itself: dir metadata in the final pass */
        _cleanup_close_ int pfd = open_parent(layer_fd, e->dst, &name, err);
        if (pfd < 0)
                return ib_err_wrap(err, "%s", p->what);
        struct stat cur;
        if (fstatat(pfd, name, &cur, AT_SYMLINK_NOFOLLOW) == 0) {
                if (is_dir_kind(e->kind) && S_ISDIR(cur.st_mode))
                        return 0;
                _cleanup_err_ struct ib_err *e2 = NULL;
                if (ib_rm_rf_at(pfd, name, &e2) < 0)
                        return ib_err_set(err, -ib_err_code(e2), "%s: replace `/%s`", p->what, e->dst);
        }
        switch (e->kind) {
        case E_DIR:
        case E_PARENT:
        case E_LOWER:
                if (mkdirat(pfd, name, 0700) < 0)
                        return ib_err_set(err, errno, "%s: mkdir `/%s`", p->what, e->dst);
                p->stats.dirs += e->kind == E_DIR;
                return 0;
        case E_FILE:
                return apply_file(p, e, pfd, name, err);
        case E_HARD: {
                const char *pname;
                _cleanup_close_ int hfd = open_parent(layer_fd, p->e[e->hard].dst, &pname, err);
                if (hfd < 0)
                        return hfd;
                if (linkat(hfd, pname, pfd, name, 0) < 0)
                        return ib_err_set(err, errno, "%s: hardlink `/%s`", p->what, e->dst);
                p->stats.hardlinks++;
                return 0;
        }
        case E_LINK: {
                struct timespec ts[2] = { e->st.st_atim, e->st.st_mtim };
                if (symlinkat(e->link, pfd, name) < 0)
                        return ib_err_set(err, errno, "%s: symlink `/%s`", p->what, e->dst);
                if (fchownat(pfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return chown_err(err, p->what, e->dst, e->uid, e->gid);
                (void) utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
                p->stats.symlinks++;
                return 0;
        }
        case E_URL:
                r = apply_url(p, e, pfd, name, err);
                return r;
        case E_ARCHIVE:
                break;
        }
        return 0;
}

/* Directory metadata last and deepest first, so filling a dir neither
 * changes its mtime nor trips over a read-only mode. */
static int finish_dirs(struct ib_copy_plan *p, int layer_fd, struct ib_err **err)
{
        for (size_t i = p->n; i-- > 0;) {
                struct entry *e = &p->e[i];
                if (e->dead || (e->kind != E_DIR && e->kind != E_PARENT && e->kind != E_LOWER))
                        continue;
                _cleanup_close_ int fd = ib_open_dir_beneath(layer_fd, e->dst, err);
                if (fd < 0)
                        return fd;
                if (fchown(fd, e->uid, e->gid) < 0)
                        return chown_err(err, p->what, e->dst, e->uid, e->gid);
                if (fchmod(fd, e->mode) < 0)
                        return ib_err_set(err, errno, "%s: chmod `/%s`", p->what, e->dst);
                if (e->kind == E_DIR) {
                        _cleanup_err_ struct ib_err *e2 = NULL;
                        int sfd = *e->src ? ib_open_in_root(ib_context_fd(p->ctx), e->src,
                                                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, &e2)
                                          : openat(ib_context_fd(p->ctx), ".", O_RDONLY | O_CLOEXEC);
                        if (sfd >= 0) {
                                ib_copy_xattrs(sfd, fd, &p->stats.xattrs_skipped);
                                close(sfd);
                        }
                }
                struct timespec ts[2] = { e->st.st_mtim, e->st.st_mtim };
                (void) futimens(fd, ts);
        }
        return 0;
}

int ib_copy_plan_apply(struct ib_copy_plan *p, int layer_fd, struct ib_err **err)
{
        int r;

        for (size_t i = 0; i < p->n; i++) {
                if (p->e[i].dead)
                        continue;
                r = apply_entry(p, &p->e[i], layer_fd, err);
                if (r < 0)
                        return r;
        }
        return finish_dirs(p, layer_fd, err);
}
