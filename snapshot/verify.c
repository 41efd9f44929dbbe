/* snapshot/verify.c - is every layer dir of the store complete?
 *
 * There is no completeness marker: import (and publish) build a layer in the
 * scratch dir and rename it to layers/<hex>, so a layer is published when and
 * only when that dir exists, and what it must hold is what its entries index
 * (layers/<hex>.entries, written before the rename) lists.  A dir that lost
 * or truncated a file since, or a layers/ entry that is neither a layer, its
 * index nor its lock, is a problem.  Layers made by RUN or COPY have no index:
 * when a cache entry names their blob, the blob's tar listing stands in for
 * it; otherwise they are counted as unchecked. */
#include "snapshot/internal.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

struct ventry {
        char *path;
        char *link;             /* hardlink target ('h') */
        char type;
        int64_t size;
        size_t seq;             /* position in the index: the last one wins */
};

struct vctx {
        struct ventry *v;
        size_t n, alloc;
};

/* A tar name as import resolves it ("./a//b" -> "a/b"); NULL when it is the root or invalid. */
static char *normalize(const char *raw)
{
        _cleanup_err_ struct ib_err *err = NULL;
        char **comps = NULL, *r = NULL;
        size_t n = 0;

        if (ib_split_path(raw, &comps, &n, &err) == 0 && n > 0)
                r = ib_comps_join(comps, n);
        ib_comps_free(comps, n);
        return r;
}

static int collect(const struct ib_layer_entry *e, void *userdata)
{
        struct vctx *c = userdata;
        ib_grow(&c->v, &c->alloc, c->n + 1, sizeof(*c->v));
        c->v[c->n] = (struct ventry) { .path = ib_strdup(e->path), .type = e->type, .size = e->size, .seq = c->n,
                                       .link = e->type == 'h' && e->link ? normalize(e->link) : NULL };
        c->n++;
        return 0;
}

/* A tar entry as the index would record it (snapshot/index.c's rules). */
static int collect_tar(const struct ib_layer_entry *e, void *userdata)
{
        _cleanup_err_ struct ib_err *err = NULL;
        _cleanup_free_ char *path = NULL;
        struct ib_layer_entry x = *e;
        char **comps = NULL;
        size_t n = 0;

        if (ib_split_path(e->path, &comps, &n, &err) < 0 || n == 0) {
                ib_comps_free(comps, n);
                return 0;
        }
        const char *name = comps[n - 1];
        if (strcmp(name, IB_WH_OPAQUE) == 0) {
                x.type = 'o';
                path = n > 1 ? ib_comps_join(comps, n - 1) : NULL;
        } else if (ib_startswith(name, IB_WH_PREFIX IB_WH_PREFIX)) {
                path = NULL;                    /* aufs bookkeeping: import ignores it */
        } else if (ib_startswith(name, IB_WH_PREFIX)) {
                x.type = 'w';
                comps[n - 1] = ib_strdup(name + strlen(IB_WH_PREFIX));
                free((char *) name);
                path = ib_comps_join(comps, n);
        } else {
                path = ib_comps_join(comps, n);
        }
        ib_comps_free(comps, n);
        if (!path)
                return 0;
        x.path = path;
        return collect(&x, userdata);
}

static const char *known_blob(const struct ib_store_report *r, const char *hex)
{
        for (size_t i = 0; i < r->layer_blobs.n; i++)
                if (strncmp(r->layer_blobs.v[i], hex, 64) == 0 && r->layer_blobs.v[i][64] == ' ')
                        return r->layer_blobs.v[i] + 65;
        return NULL;
}

static int ventry_cmp(const void *a, const void *b)
{
        const struct ventry *x = a, *y = b;
        int r = strcmp(x->path, y->path);
        return r ? r : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

/* Keep the last entry of each path; the array stays sorted by path. */
static void dedup(struct vctx *c)
{
        size_t o = 0;
        qsort(c->v, c->n, sizeof(*c->v), ventry_cmp);
        for (size_t i = 0; i < c->n; i++) {
                if (i + 1 < c->n && strcmp(c->v[i].path, c->v[i + 1].path) == 0) {
                        free(c->v[i].path);
                        free(c->v[i].link);
                        continue;
                }
                c->v[o++] = c->v[i];
        }
        c->n = o;
}

static const struct ventry *find(const struct vctx *c, const char *path)
{
        struct ventry key = { .path = (char *) path };
        size_t lo = 0, hi = c->n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int r = strcmp(c->v[mid].path, key.path);
                if (r == 0)
                        return &c->v[mid];
                if (r < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* A later entry of the layer replaced a parent dir of @e by a non-dir: @e is
 * legitimately gone. */
static bool shadowed(const struct vctx *c, const struct ventry *e)
{
        _cleanup_free_ char *p = ib_strdup(e->path);
        char *slash;
        while ((slash = strrchr(p, '/'))) {
                *slash = '\0';
                const struct ventry *a = find(c, p);
                if (a && a->seq > e->seq && a->type != 'd' && a->type != 'o')
                        return true;
        }
        return false;
}

/* A hard link to a device node import could not create is missing too. */
static bool link_to_device(const struct vctx *c, const struct ventry *e)
{
        const struct ventry *t = e->type == 'h' && e->link ? find(c, e->link) : NULL;
        return t && (t->type == 'c' || t->type == 'b');
}

/* NULL when the dir matches @e, else what is wrong (static or in @buf). */
static const char *check_entry(int layer_fd, const struct ventry *e, char *buf, size_t len)
{
        struct stat st;
        bool ok;

        if (fstatat(layer_fd, e->path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT || errno == ENOTDIR)
                        return "missing";
                snprintf(buf, len, "cannot stat: %s", strerror(errno));
                return buf;
        }
        switch (e->type) {
        case 'f':
                if (S_ISREG(st.st_mode) && st.st_size != e->size) {
                        snprintf(buf, len, "%lld bytes, expected %lld", (long long) st.st_size,
                                 (long long) e->size);
                        return buf;
                }
                ok = S_ISREG(st.st_mode);
                break;
        case 'd': case 'o': ok = S_ISDIR(st.st_mode); break;
        case 'l': ok = S_ISLNK(st.st_mode); break;
        case 'p': ok = S_ISFIFO(st.st_mode); break;
        case 'w': ok = S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0); break;
        case 'h': ok = !S_ISDIR(st.st_mode); break;
        default: ok = true; break;      /* devices may have been skipped at import */
        }
        if (ok)
                return NULL;
        snprintf(buf, len, "not of the expected type (%c)", e->type);
        return buf;
}

static void check_layer(struct ib_store *s, const char *hex, struct ib_store_report *r)
{
        _cleanup_free_ char *dir = ib_strdupf("%s/layers/%s", s->root, hex);
        _cleanup_free_ char *diff_id = ib_strdupf("sha256:%s", hex);
        _cleanup_free_ char *index = ib_snapshot_index_path(s, diff_id);
        _cleanup_err_ struct ib_err *e = NULL;
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *blob = NULL;
        const char *blob_hex, *source = "its index";
        struct vctx c = { 0 };
        size_t bad = 0, first = 0;
        char why[256], first_why[256] = "";

        r->layers++;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                ib_store_report_add(r, dir, "not a layer: %s", errno == ENOTDIR || errno == ELOOP ?
                                    "not a directory" : strerror(errno));
                return;
        }
        if (access(index, F_OK) == 0) {
                if (ib_snapshot_read_index(s, diff_id, collect, &c, &e) < 0) {
                        ib_store_report_add(r, index, "unreadable entries index: %s", e->msg);
                        goto out;
                }
        } else if ((blob_hex = known_blob(r, hex)) && (blob = ib_store_blob_path(s, blob_hex)) &&
                   access(blob, F_OK) == 0) {
                source = "its blob";
                if (ib_snapshot_list(blob, collect_tar, &c, &e) < 0) {
                        r->layers_unchecked++;  /* the blob check reports a damaged blob */
                        goto out;
                }
        } else {
                r->layers_unchecked++;
                return;
        }
        dedup(&c);
        for (size_t i = 0; i < c.n; i++) {
                const char *w = check_entry(fd, &c.v[i], why, sizeof(why));
                if (!w || (strcmp(w, "missing") == 0 && (shadowed(&c, &c.v[i]) || link_to_device(&c, &c.v[i]))))
                        continue;
                if (bad++ == 0) {
                        first = i;
                        snprintf(first_why, sizeof(first_why), "%s", w);
                }
        }
        if (bad)
                ib_store_report_add(r, dir, "incomplete layer: %zu of %zu entries differ from %s, e.g. `%s`: %s",
                                    bad, c.n, source, c.v[first].path, first_why);
out:
        for (size_t i = 0; i < c.n; i++) {
                free(c.v[i].path);
                free(c.v[i].link);
        }
        free(c.v);
}

/* What a name in layers/ may be besides a layer dir. */
static bool layer_companion(const char *name, struct ib_store_report *r)
{
        if (strlen(name) > 64) {
                _cleanup_free_ char *hex = ib_strndup(name, 64);
                if (!ib_is_sha256_hex(hex))
                        return false;
                if (strcmp(name + 64, ".lock") == 0 || strcmp(name + 64, ".entries") == 0)
                        return true;
                if (ib_atomic_tmp_name(name)) {         /* an index being written, or left by a crash */
                        if (!ib_atomic_tmp_alive(name))
                                ib_strvec_push_own(&r->stale, ib_strdupf("layers/%s", name));
                        return true;
                }
        }
        return false;
}

int ib_snapshot_verify_layers(struct ib_store *s, struct ib_store_report *r, struct ib_err **err)
{
        _cleanup_free_ char *dir = ib_path_join(s->root, "layers");
        DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return ib_err_set(err, errno, "open `%s`", dir);
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (ib_is_sha256_hex(de->d_name)) {
                        check_layer(s, de->d_name, r);
                } else if (!layer_companion(de->d_name, r)) {
                        _cleanup_free_ char *p = ib_path_join(dir, de->d_name);
                        ib_store_report_add(r, p, "not a layer, an entries index or a lock");
                }
        }
        closedir(d);
        return 0;
}
