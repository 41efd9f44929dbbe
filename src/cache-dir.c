/* src/cache-dir.c - base images in a warmer directory (see src/cache-dir.h).
 * The tarball is read and written with libarchive; blobs are streamed, never
 * held whole in memory, and every blob read back is verified by the store's
 * blob writer, so a damaged or hostile directory cannot put a wrong blob
 * under a digest. */
#include "lib/ib.h"
#include "registry/registry.h"
#include "src/cache-dir.h"
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <yajl/yajl_tree.h>

#define IB_SHA256_PREFIX "sha256:"

static int arch_err(struct archive *a, const char *path, struct ib_err **err)
{
        const char *s = archive_error_string(a);
        int e = archive_errno(a);
        return ib_err_set(err, e > 0 ? e : EIO, "`%s`: %s", path, s ? s : "libarchive error");
}

/* The blobs an image manifest names: config first, then the layers. */
static int manifest_blobs(const char *text, size_t len, char ***ret, struct ib_err **err)
{
        _cleanup_json_ yajl_val v = ib_json_parse(text, len, "image manifest", err);
        yajl_val cfg, layers;
        char **out = NULL;

        if (!v)
                return -EBADMSG;
        cfg = ib_json_get(v, "config");
        layers = ib_json_get(v, "layers");
        if (!cfg || !ib_json_get_str(cfg, "digest") || !layers || !YAJL_IS_ARRAY(layers))
                return ib_err_set(err, EBADMSG, "not an image manifest (no config or layers)");
        ib_strv_push(&out, ib_json_get_str(cfg, "digest"));
        for (size_t i = 0; i < layers->u.array.len; i++) {
                const char *d = ib_json_get_str(layers->u.array.values[i], "digest");
                if (!d) {
                        ib_strv_free(out);
                        return ib_err_set(err, EBADMSG, "image manifest: a layer without a digest");
                }
                ib_strv_push(&out, d);
        }
        *ret = out;
        return 0;
}

static bool is_digest_name(const char *s)
{
        if (!ib_startswith(s, IB_SHA256_PREFIX) || strlen(s) != strlen(IB_SHA256_PREFIX) + 64)
                return false;
        for (const char *p = s + strlen(IB_SHA256_PREFIX); *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

/* ------------------------------------------------------------------ write */

static int put_entry(struct archive *a, const char *path, const char *name, int64_t size, struct ib_err **err)
{
        struct archive_entry *e = archive_entry_new();
        int r;

        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, size);
        r = archive_write_header(a, e);
        archive_entry_free(e);
        return r < ARCHIVE_WARN ? arch_err(a, path, err) : 0;
}

static int put_blob(struct archive *a, const char *path, struct ib_store *s, const char *digest, const char *name,
                    struct ib_err **err)
{
        _cleanup_free_ char *src = ib_store_blob_path(s, digest);
        _cleanup_close_ int fd = src ? open(src, O_RDONLY | O_CLOEXEC) : -1;
        char buf[1 << 16];
        struct stat st;
        ssize_t n;

        if (fd < 0 || fstat(fd, &st) < 0)
                return ib_err_set(err, errno ? errno : ENOENT, "blob %s is not in the store", digest);
        if (put_entry(a, path, name, st.st_size, err) < 0)
                return -EIO;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                if (archive_write_data(a, buf, (size_t) n) < 0)
                        return arch_err(a, path, err);
        return n < 0 ? ib_err_set(err, errno, "read `%s`", src) : 0;
}

static int write_tarball(struct ib_store *s, const char *path, char *const *blobs, const char *repo_tag,
                         struct ib_err **err)
{
        _cleanup_buf_ struct ib_buf m = IB_BUF_INIT;
        struct archive *a = archive_write_new();
        int r = 0;

        /* manifest.json first: a reader looking for a tag stops there */
        ib_buf_adds(&m, "[{\"Config\":");
        ib_json_add_str(&m, blobs[0]);
        ib_buf_adds(&m, ",\"RepoTags\":[");
        if (repo_tag)
                ib_json_add_str(&m, repo_tag);
        ib_buf_adds(&m, "],\"Layers\":[");
        for (size_t i = 1; blobs[i]; i++) {
                _cleanup_free_ char *n = ib_strdupf("%s.tar.gz", blobs[i] + strlen(IB_SHA256_PREFIX));
                if (i > 1)
                        ib_buf_addc(&m, ',');
                ib_json_add_str(&m, n);
        }
        ib_buf_adds(&m, "]}]");
        if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK || archive_write_open_filename(a, path) != ARCHIVE_OK)
                r = arch_err(a, path, err);
        if (r == 0 && (put_entry(a, path, "manifest.json", (int64_t) m.len, err) < 0 ||
                       archive_write_data(a, m.buf, m.len) < 0))
                r = *err ? -EIO : arch_err(a, path, err);
        for (size_t i = 0; r == 0 && blobs[i]; i++) {
                _cleanup_free_ char *n = i ? ib_strdupf("%s.tar.gz", blobs[i] + strlen(IB_SHA256_PREFIX))
                                           : ib_strdup(blobs[i]);
                r = put_blob(a, path, s, blobs[i], n, err);
        }
        if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
                r = arch_err(a, path, err);
        archive_write_free(a);
        return r;
}

int ib_cache_dir_write(struct ib_store *s, const char *dir, const char *manifest_digest, const char *repo_tag,
                       struct ib_err **err)
{
        _cleanup_free_ char *mpath = ib_store_blob_path(s, manifest_digest), *text = NULL;
        _cleanup_free_ char *final = ib_path_join(dir, manifest_digest);
        _cleanup_free_ char *json = ib_strdupf("%s.json", final);
        _cleanup_free_ char *tmp = ib_strdupf("%s/.%s.tmp-%ld", dir, manifest_digest, (long) getpid());
        _cleanup_strv_ char **blobs = NULL;
        size_t len = 0;

        if (!mpath || ib_read_file(mpath, IB_MANIFEST_MAX, &text, &len, err) < 0 ||
            manifest_blobs(text, len, &blobs, err) < 0 || ib_mkdir_p(dir, 0755, err) < 0)
                return ib_err_wrap(err, "--cache-dir %s", dir);
        if (write_tarball(s, tmp, blobs, repo_tag, err) < 0 || rename(tmp, final) < 0) {
                if (!*err)
                        ib_err_set(err, errno, "rename `%s`", tmp);
                (void) unlink(tmp);
                return ib_err_wrap(err, "--cache-dir %s", dir);
        }
        /* the manifest last: a reader finds an image only once its tarball is whole */
        if (ib_write_file_atomic(json, text, len, 0644, err) < 0)
                return ib_err_wrap(err, "--cache-dir %s", dir);
        return 0;
}

/* ------------------------------------------------------------------- read */

static bool same_ref(const struct ib_ref *a, const char *b_str)
{
        _cleanup_(ib_ref_freep) struct ib_ref *b = NULL;
        struct ib_err *e = NULL;
        bool same;

        if (ib_ref_parse(b_str, &b, &e) < 0) {
                ib_err_free(&e);
                return false;
        }
        same = !strcmp(a->domain, b->domain) && !strcmp(a->path, b->path) && a->tag && b->tag &&
               !strcmp(a->tag, b->tag);
        return same;
}

/* Does the tarball at @path list @ref in its manifest.json RepoTags? */
static bool tarball_has_tag(const char *path, const struct ib_ref *ref)
{
        struct archive *a = archive_read_new();
        struct archive_entry *ae;
        bool found = false;

        archive_read_support_format_tar(a);
        if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK)
                goto out;
        while (!found && archive_read_next_header(a, &ae) == ARCHIVE_OK) {
                _cleanup_free_ char *text = NULL;
                int64_t size = archive_entry_size(ae);
                if (strcmp(archive_entry_pathname(ae), "manifest.json") || size <= 0 || size > (1 << 20))
                        continue;       /* the data is skipped by seeking */
                text = ib_malloc((size_t) size);
                if (archive_read_data(a, text, (size_t) size) != size)
                        break;
                struct ib_err *e = NULL;
                _cleanup_json_ yajl_val v = ib_json_parse(text, (size_t) size, "manifest.json", &e);
                ib_err_free(&e);
                if (!v || !YAJL_IS_ARRAY(v))
                        break;
                for (size_t i = 0; i < v->u.array.len && !found; i++) {
                        yajl_val tags = ib_json_get(v->u.array.values[i], "RepoTags");
                        for (size_t k = 0; tags && YAJL_IS_ARRAY(tags) && k < tags->u.array.len && !found; k++)
                                if (YAJL_IS_STRING(tags->u.array.values[k]))
                                        found = same_ref(ref, YAJL_GET_STRING(tags->u.array.values[k]));
                }
                break;
        }
out:
        archive_read_free(a);
        return found;
}

/* The newest image in @dir tagged like @ref (a "sha256:<hex>" name), or NULL. */
static char *find_tagged(const char *dir, const struct ib_ref *ref)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        char *best = NULL;
        struct timespec best_t = { 0 };

        if (!d)
                return NULL;
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL, *json = NULL;
                struct stat st;
                if (!is_digest_name(de->d_name))
                        continue;
                p = ib_path_join(dir, de->d_name);
                json = ib_strdupf("%s.json", p);
                if (stat(p, &st) < 0 || access(json, F_OK) < 0)
                        continue;
                if (best && (st.st_mtim.tv_sec < best_t.tv_sec ||
                             (st.st_mtim.tv_sec == best_t.tv_sec && st.st_mtim.tv_nsec <= best_t.tv_nsec)))
                        continue;
                if (tarball_has_tag(p, ref)) {
                        free(best);
                        best = ib_strdup(de->d_name);
                        best_t = st.st_mtim;
                }
        }
        closedir(d);
        return best;
}

/* Which of @blobs the tar member @name is ("<hex>.tar.gz", "sha256:<hex>",
 * "<hex>"), or -1. */
static long member_blob(const char *name, char *const *blobs)
{
        size_t pl = strlen(IB_SHA256_PREFIX);
        for (size_t i = 0; blobs[i]; i++) {
                const char *hex = blobs[i] + pl;
                if (!strcmp(name, blobs[i]) || !strcmp(name, hex) ||
                    (ib_startswith(name, hex) && !strcmp(name + strlen(hex), ".tar.gz")))
                        return (long) i;
        }
        return -1;
}

static int import_member(struct ib_store *s, struct archive *a, const char *path, const char *digest,
                         struct ib_err **err)
{
        _cleanup_(ib_blob_writer_freep) struct ib_blob_writer *w = NULL;
        char buf[1 << 16];
        la_ssize_t n;

        if (ib_blob_writer_new(s, &w, err) < 0)
                return -EIO;
        while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
                if (ib_blob_writer_write(w, buf, (size_t) n, err) < 0)
                        return -EIO;
        if (n < 0)
                return arch_err(a, path, err);
        return ib_blob_writer_commit(w, digest, NULL, err);
}

static int import_image(struct ib_store *s, const char *dir, const char *digest, struct ib_err **err)
{
        _cleanup_free_ char *path = ib_path_join(dir, digest);
        _cleanup_free_ char *json = ib_strdupf("%s.json", path), *text = NULL;
        _cleanup_strv_ char **blobs = NULL;
        struct archive *a;
        struct archive_entry *ae;
        size_t len = 0;
        int r = 0;

        if (access(path, F_OK) < 0 || access(json, F_OK) < 0)
                return -ENOENT;
        if (ib_read_file(json, IB_MANIFEST_MAX, &text, &len, err) < 0 ||
            ib_store_put_blob(s, text, len, digest, NULL, err) < 0 || manifest_blobs(text, len, &blobs, err) < 0)
                return -EIO;
        a = archive_read_new();
        archive_read_support_format_tar(a);
        if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK)
                r = arch_err(a, path, err);
        while (r == 0 && archive_read_next_header(a, &ae) == ARCHIVE_OK) {
                long i = member_blob(archive_entry_pathname(ae), blobs);
                if (i >= 0 && !ib_store_has_blob(s, blobs[i]))
                        r = import_member(s, a, path, blobs[i], err);
        }
        archive_read_free(a);
        for (size_t i = 0; r == 0 && blobs[i]; i++)
                if (!ib_store_has_blob(s, blobs[i]))
                        r = ib_err_set(err, ENOENT, "`%s` lacks blob %s", path, blobs[i]);
        return r;
}

int ib_cache_dir_import(struct ib_store *s, const char *dir, const char *name, char **ret_manifest_digest,
                        struct ib_err **err)
{
        _cleanup_(ib_ref_freep) struct ib_ref *ref = NULL;
        _cleanup_free_ char *digest = NULL;
        int r;

        if (ib_ref_parse(name, &ref, err) < 0)
                return -EINVAL;
        digest = ref->digest ? ib_strdup(ref->digest) : find_tagged(dir, ref);
        if (!digest || !is_digest_name(digest))
                return -ENOENT;
        r = import_image(s, dir, digest, err);
        if (r == -ENOENT)
                return r;
        if (r < 0)
                return ib_err_wrap(err, "--cache-dir %s: %s", dir, digest);
        *ret_manifest_digest = IB_TAKE_PTR(digest);
        return 0;
}
