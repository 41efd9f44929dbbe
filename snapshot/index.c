/* snapshot/index.c - the entries index of a layer (format in snapshot.h):
 * what a COPY-only stage needs to know about its base (dirs, owners, symlinks)
 * without extracting it.  Written next to the layer dir, never inside it. */
#include "snapshot/internal.h"
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

static void add_escaped(struct ib_buf *b, const char *s)
{
        if (!s) {
                ib_buf_addc(b, '%');
                return;
        }
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p <= 0x20 || *p == '%' || *p == 0x7f)
                        ib_buf_addf(b, "%%%02x", *p);
                else
                        ib_buf_addc(b, (char) *p);
        }
}

/* In place; "%" alone is "none" (NULL). */
static char *unescape(char *s)
{
        char *o = s;
        if (strcmp(s, "%") == 0)
                return NULL;
        for (char *p = s; *p; p++) {
                unsigned v;
                if (*p == '%' && sscanf(p + 1, "%2x", &v) == 1) {
                        *o++ = (char) v;
                        p += 2;
                } else {
                        *o++ = *p;
                }
        }
        *o = '\0';
        return s;
}

void ib_index_add(struct ib_buf *b, const char *path, const char *name, struct archive_entry *ae)
{
        _cleanup_free_ char *alt = NULL;
        size_t plen = strlen(path) - strlen(name);      /* "dir/" or "" */
        const char *link = archive_entry_hardlink(ae) ?: archive_entry_symlink(ae);
        char type;

        if (b->len == 0)
                ib_buf_adds(b, "imgbuild-entries 1\n");
        if (strcmp(name, IB_WH_OPAQUE) == 0) {
                type = 'o';
                alt = plen ? ib_strndup(path, plen - 1) : ib_strdup(".");
        } else if (ib_startswith(name, IB_WH_PREFIX IB_WH_PREFIX)) {
                return;                 /* aufs bookkeeping, ignored by import too */
        } else if (ib_startswith(name, IB_WH_PREFIX)) {
                type = 'w';
                alt = ib_strdupf("%.*s%s", (int) plen, path, name + strlen(IB_WH_PREFIX));
        } else {
                type = ib_entry_type_char(ae);
                if (type == '?')
                        type = 'f';     /* the index has no "unknown": treat as a file */
        }
        ib_buf_addf(b, "%c %04o %" PRId64 " %" PRId64 " %" PRId64 " ", type,
                    (unsigned) (archive_entry_perm(ae) & 07777), (int64_t) archive_entry_uid(ae),
                    (int64_t) archive_entry_gid(ae), (int64_t) (type == 'f' ? archive_entry_size(ae) : 0));
        add_escaped(b, alt ? alt : path);
        ib_buf_addc(b, ' ');
        add_escaped(b, type == 'w' || type == 'o' ? NULL : link);
        ib_buf_addc(b, '\n');
}

char *ib_snapshot_index_path(const struct ib_store *store, const char *diff_id)
{
        const char *hex;
        if (!ib_digest_parse(diff_id, &hex))
                return NULL;
        return ib_strdupf("%s/layers/%s.entries", store->root, hex);
}

int ib_index_write(struct ib_store *store, const char *diff_id, const struct ib_buf *b, struct ib_err **err)
{
        _cleanup_free_ char *path = ib_snapshot_index_path(store, diff_id);
        const char *empty = "imgbuild-entries 1\n";

        if (!path)
                return ib_err_set(err, EINVAL, "diff_id `%s` is not a sha256 digest", diff_id);
        return ib_write_file_atomic(path, b->len ? b->buf : empty, b->len ? b->len : strlen(empty), 0644, err);
}

struct ixctx {
        struct ib_zin *zin;
        struct ib_err *read_err;
};

static la_ssize_t ix_read(struct archive *a, void *ud, const void **buf)
{
        struct ixctx *c = ud;
        ssize_t n = ib_zin_read(c->zin, buf, &c->read_err);
        if (n < 0) {
                archive_set_error(a, EIO, "%s", c->read_err ? c->read_err->msg : "read failed");
                return -1;
        }
        return n;
}

static int index_blob(struct ib_store *store, int fd, const char *digest, const char *diff_id, struct ib_err **err)
{
        _cleanup_(ib_zin_freep) struct ib_zin *zin = NULL;
        _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;
        _cleanup_free_ char *got_digest = NULL, *got_diff = NULL;
        struct ixctx c = { 0 };
        struct archive *a;
        struct archive_entry *ae;
        int r = ib_zin_new(fd, "blob", &zin, err);

        if (r < 0)
                return r;
        c.zin = zin;
        a = archive_read_new();
        archive_read_support_format_tar(a);
        archive_read_support_format_empty(a);
        if (archive_read_open2(a, &c, NULL, ix_read, NULL, NULL) != ARCHIVE_OK)
                goto fail;
        for (;;) {
                int ar = archive_read_next_header(a, &ae);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar < ARCHIVE_WARN)
                        goto fail;
                const char *raw = archive_entry_pathname(ae);
                char **comps = NULL;
                size_t n = 0;
                if (!raw) {
                        r = ib_err_set(err, 0, "an entry without a name");
                        goto out;
                }
                r = ib_split_path(raw, &comps, &n, err);
                if (r < 0)
                        goto out;
                if (n > 0) {
                        _cleanup_free_ char *path = ib_comps_join(comps, n);
                        ib_index_add(&b, path, comps[n - 1], ae);
                }
                ib_comps_free(comps, n);
        }
        r = ib_zin_drain(zin, err);
        if (r < 0)
                goto out;
        got_diff = ib_zin_diff_id(zin);
        got_digest = ib_zin_blob_digest(zin);
        if (strcmp(got_digest, digest) != 0)
                r = ib_err_set(err, 0, "blob digest mismatch: the blob hashes to %s", got_digest);
        else if (strcmp(got_diff, diff_id) != 0)
                r = ib_err_set(err, 0, "diff_id mismatch: expected %s, the tar stream hashes to %s", diff_id, got_diff);
        else
                r = ib_index_write(store, diff_id, &b, err);
        goto out;
fail:
        if (c.read_err) {
                ib_err_free(err);
                *err = IB_TAKE_PTR(c.read_err);
                r = ib_err_code(*err);
        } else {
                r = ib_err_set(err, 0, "malformed tar: %s", archive_error_string(a) ?: "read failed");
        }
out:
        ib_err_free(&c.read_err);
        archive_read_free(a);
        return r;
}

int ib_snapshot_index(struct ib_store *store, const char *digest, const char *diff_id, struct ib_err **err)
{
        _cleanup_free_ char *path = ib_snapshot_index_path(store, diff_id);
        _cleanup_free_ char *blob = ib_store_blob_path(store, digest);
        _cleanup_close_ int fd = -1;
        int r;

        if (!path || !blob)
                return ib_err_set(err, EINVAL, "layer `%s` (diff_id `%s`): not sha256 digests", digest, diff_id);
        if (access(path, F_OK) == 0)
                return 0;
        fd = open(blob, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return ib_err_set(err, errno, "layer %s: blob `%s`", digest, blob);
        locale_t old = ib_utf8_locale_enter();
        r = index_blob(store, fd, digest, diff_id, err);
        ib_utf8_locale_leave(old);
        if (r < 0)
                return ib_err_wrap(err, "layer %s: index", digest);
        return 0;
}

int ib_snapshot_read_index(const struct ib_store *store, const char *diff_id, ib_layer_entry_fn fn,
                           void *userdata, struct ib_err **err)
{
        _cleanup_free_ char *path = ib_snapshot_index_path(store, diff_id), *data = NULL;
        char *save = NULL, *line;
        size_t len = 0;
        int r;

        if (!path)
                return ib_err_set(err, EINVAL, "diff_id `%s` is not a sha256 digest", diff_id);
        r = ib_read_file(path, (size_t) 1 << 30, &data, &len, err);
        if (r < 0)
                return r;
        line = strtok_r(data, "\n", &save);
        if (!line || strcmp(line, "imgbuild-entries 1") != 0)
                return ib_err_set(err, 0, "`%s`: not an entries index", path);
        while ((line = strtok_r(NULL, "\n", &save))) {
                char type, *p, *l;
                unsigned mode;
                int64_t uid, gid, size;
                int off = 0;
                if (sscanf(line, "%c %o %" SCNd64 " %" SCNd64 " %" SCNd64 " %n", &type, &mode, &uid, &gid, &size, &off) != 5 ||
                    !off || !(p = line + off) || !(l = strchr(p, ' ')))
                        return ib_err_set(err, 0, "`%s`: malformed line `%s`", path, line);
                *l++ = '\0';
                struct ib_layer_entry e = {
                        .type = type, .path = unescape(p), .mode = mode, .uid = (uint64_t) uid,
                        .gid = (uint64_t) gid, .size = size, .link = unescape(l), .xattrs = "",
                };
                r = fn(&e, userdata);
                if (r)
                        return r;
        }
        return 0;
}
