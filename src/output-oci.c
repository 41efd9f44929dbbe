/* src/output-oci.c - write an image into an OCI image layout directory.
 *
 * Blobs are hard links to the store's when both are on one file system (no
 * copy, no extra space); otherwise a copy is written under a temporary name in
 * blobs/sha256/ and renamed, so a reader never sees a partial blob under its
 * digest.  index.json is rewritten atomically; other images in it are kept. */
#include "src/image-internal.h"
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#define MAX_INDEX (16 << 20)

void ib_oci_layout_ref_split(const char *ref, char **ret_dir, char **ret_tag)
{
        const char *colon = strrchr(ref, ':');
        const char *at = strrchr(ref, '@');

        if (at && at != ref && ib_digest_parse(at + 1, NULL)) {
                *ret_dir = ib_strndup(ref, (size_t) (at - ref));
                *ret_tag = ib_strdup(at + 1);
        } else if (colon && colon != ref && colon[1] && !strchr(colon + 1, '/')) {
                *ret_dir = ib_strndup(ref, (size_t) (colon - ref));
                *ret_tag = ib_strdup(colon + 1);
        } else {
                *ret_dir = ib_strdup(ref);
                *ret_tag = NULL;
        }
}

static int copy_fd(int in, int out)
{
        char buf[128 * 1024];

        for (;;) {
                ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
                if (n == 0)
                        return 0;
                if (n > 0)
                        continue;
                if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
                        return -errno;
                break;
        }
        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                int r = ib_write_all(out, buf, (size_t) n);
                if (r < 0)
                        return r;
        }
}

static int copy_blob(const char *src, int blobs_fd, const char *hex, struct ib_err **err)
{
        _cleanup_free_ char *tmp = ib_strdupf(".tmp-%s-%ld", hex, (long) getpid());
        _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int out = -1;
        int r;

        if (in < 0)
                return ib_err_set(err, errno, "open `%s`", src);
        out = openat(blobs_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0)
                return ib_err_set(err, errno, "create blob `%s`", tmp);
        r = copy_fd(in, out);
        if (r == 0 && fsync(out) < 0)
                r = -errno;
        if (r == 0 && renameat(blobs_fd, tmp, blobs_fd, hex) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(blobs_fd, tmp, 0);
                return ib_err_set(err, -r, "copy blob sha256:%s", hex);
        }
        return 0;
}

/* Put blob @digest into the layout's blobs/sha256 (dir fd @blobs_fd). */
static int place_blob(struct ib_store *s, int blobs_fd, const char *digest, int64_t size, struct ib_err **err)
{
        _cleanup_free_ char *src = ib_store_blob_path(s, digest);
        const char *hex = NULL;
        struct stat st;

        if (!src || !ib_digest_parse(digest, &hex))
                return ib_err_set(err, EINVAL, "bad digest \"%s\"", digest);
        if (fstatat(blobs_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                if (S_ISREG(st.st_mode) && (size < 0 || st.st_size == size))
                        return 0;       /* content-addressed: same name, same bytes */
                if (unlinkat(blobs_fd, hex, 0) < 0)
                        return ib_err_set(err, errno, "replace damaged blob sha256:%s", hex);
        }
        if (linkat(AT_FDCWD, src, blobs_fd, hex, 0) == 0)
                return 0;
        if (errno == EEXIST)
                return 0;
        if (errno == ENOENT)
                return ib_err_set(err, ENOENT, "blob %s is not in the store", digest);
        /* EXDEV (another file system), EPERM (protected_hardlinks), EMLINK: copy. */
        return copy_blob(src, blobs_fd, hex, err);
}

static int read_index(int dfd, struct ib_index **ret, struct ib_err **err)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r = ib_read_file_at(dfd, "index.json", MAX_INDEX, &data, &len, err);

        if (r == -ENOENT) {
                ib_err_free(err);
                struct ib_index *x = ib_calloc(1, sizeof(*x));
                x->schema_version = 2;
                x->media_type = ib_strdup(IB_MT_OCI_INDEX);
                *ret = x;
                return 0;
        }
        if (r < 0)
                return r;
        return ib_index_parse(data, len, ret, err);
}

static void index_remove(struct ib_index *x, size_t i)
{
        ib_descriptor_clear(&x->manifests[i]);
        memmove(x->manifests + i, x->manifests + i + 1, (x->n_manifests - i - 1) * sizeof(*x->manifests));
        x->n_manifests--;
}

/* Add @d to @x: a tagged entry replaces the one with the same tag; an untagged
 * one is not added twice. */
static void index_put(struct ib_index *x, const struct ib_descriptor *d, const char *tag)
{
        for (size_t i = x->n_manifests; i-- > 0;) {
                const char *name = ib_kvlist_get(&x->manifests[i].annotations, IB_ANNOTATION_REF_NAME);
                if (tag && name && strcmp(name, tag) == 0)
                        index_remove(x, i);
                else if (!tag && !name && x->manifests[i].digest && strcmp(x->manifests[i].digest, d->digest) == 0)
                        return;
        }
        ib_index_append(x, d);
}

/* "os/arch[/variant]" -> platform, so tools choosing by platform (BuildKit's
 * oci-layout:// contexts, crane) find the image without reading its config. */
static struct ib_desc_platform *platform_from_string(const char *s)
{
        _cleanup_free_ char *copy = NULL;
        char *arch, *variant;
        struct ib_desc_platform *p;

        if (!s || !strchr(s, '/'))
                return NULL;
        copy = ib_strdup(s);
        arch = strchr(copy, '/');
        *arch++ = '\0';
        variant = strchr(arch, '/');
        if (variant)
                *variant++ = '\0';
        p = ib_calloc(1, sizeof(*p));
        p->os = ib_strdup(copy);
        p->architecture = ib_strdup(arch);
        p->variant = variant && *variant ? ib_strdup(variant) : NULL;
        return p;
}

static int write_oci_layout_file(int dfd, const char *dir, struct ib_err **err)
{
        static const char content[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
        _cleanup_free_ char *path = NULL;

        if (faccessat(dfd, "oci-layout", F_OK, 0) == 0)
                return 0;
        path = ib_path_join(dir, "oci-layout");
        return ib_write_file_atomic(path, content, sizeof(content) - 1, 0644, err);
}

static int layout_write_locked(struct ib_store *s, const struct ib_image *img, const char *dir, int dfd,
                               const char *tag, struct ib_err **err)
{
        _cleanup_close_ int blobs_fd = -1;
        _cleanup_(ib_index_freep) struct ib_index *x = NULL;
        _cleanup_buf_ struct ib_buf out = IB_BUF_INIT;
        _cleanup_free_ char *blobs = ib_path_join(dir, "blobs/sha256");
        _cleanup_free_ char *index_path = ib_path_join(dir, "index.json");
        struct ib_descriptor d = {};
        int r;

        if ((r = ib_mkdir_p(blobs, 0755, err)) < 0)
                return r;
        blobs_fd = open(blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (blobs_fd < 0)
                return ib_err_set(err, errno, "open `%s`", blobs);
        /* Layers first, the manifest last: a blob named by the index is complete. */
        for (size_t i = 0; i < img->n_layers; i++)
                if ((r = place_blob(s, blobs_fd, img->layers[i].digest, img->layers[i].size, err)) < 0)
                        return r;
        if ((r = place_blob(s, blobs_fd, img->config_digest, img->config_size, err)) < 0 ||
            (r = place_blob(s, blobs_fd, img->manifest_digest, img->manifest_size, err)) < 0)
                return r;
        if ((r = write_oci_layout_file(dfd, dir, err)) < 0)
                return r;
        if ((r = read_index(dfd, &x, err)) < 0)
                return r;
        d.media_type = img->manifest_media_type;
        d.digest = img->manifest_digest;
        d.size = img->manifest_size;
        d.platform = platform_from_string(img->platform);
        if (tag)
                ib_kvlist_set(&d.annotations, IB_ANNOTATION_REF_NAME, tag);
        index_put(x, &d, tag);
        ib_kvlist_clear(&d.annotations);
        ib_desc_platform_free(d.platform);
        ib_index_serialize(x, &out);
        return ib_write_file_atomic(index_path, out.buf, out.len, 0644, err);
}

int ib_output_oci_layout(struct ib_store *s, const struct ib_image *img, const char *dir, const char *tag,
                         struct ib_err **err)
{
        _cleanup_close_ int dfd = -1;
        int r;

        if (tag && !*tag)
                tag = NULL;
        if ((r = ib_mkdir_p(dir, 0755, err)) < 0)
                return ib_err_wrap(err, "OCI layout `%s`", dir);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return ib_err_set(err, errno, "OCI layout `%s`", dir);
        if (flock(dfd, LOCK_EX) < 0)
                return ib_err_set(err, errno, "OCI layout `%s`: lock", dir);
        r = layout_write_locked(s, img, dir, dfd, tag, err);
        (void) flock(dfd, LOCK_UN);
        if (r < 0)
                return ib_err_wrap(err, "OCI layout `%s`", dir);
        return 0;
}
