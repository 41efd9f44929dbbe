/* src/docker-archive.c - read a `docker save` archive into the store, so it
 * can be pushed like any image there.
 *
 * Every regular file of the tar is streamed into the store as a blob (so no
 * path from the archive is ever used on the file system); manifest.json then
 * names the config and the layers by their paths, which map to digests.  The
 * layers go out as they are (docker save writes uncompressed tars, newer
 * dockers may gzip them: the media type follows the first bytes), under a
 * Docker schema 2 manifest written here. */
#include "lib/ib.h"
#include "src/docker-archive.h"
#include <archive.h>
#include <archive_entry.h>
#include <yajl/yajl_tree.h>

#define MAX_FILES 4096

struct entry {
        char *name;
        char *digest;
        uint64_t size;
        bool gzip;
};

static int store_entry(struct ib_store *s, struct archive *a, struct entry *e, struct ib_err **err)
{
        _cleanup_(ib_blob_writer_freep) struct ib_blob_writer *w = NULL;
        unsigned char buf[256 * 1024];
        la_ssize_t n;
        int r = ib_blob_writer_new(s, &w, err);

        if (r < 0)
                return r;
        while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
                if (ib_blob_writer_size(w) == 0 && n >= 2)
                        e->gzip = buf[0] == 0x1f && buf[1] == 0x8b;
                r = ib_blob_writer_write(w, buf, (size_t) n, err);
                if (r < 0)
                        return r;
        }
        if (n < 0)
                return ib_err_set(err, EIO, "`%s`: %s", e->name, archive_error_string(a));
        e->size = ib_blob_writer_size(w);
        return ib_blob_writer_commit(w, NULL, &e->digest, err);
}

static const struct entry *find(const struct entry *v, size_t n, const char *name)
{
        while (*name == '.' && name[1] == '/')
                name += 2;
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].name, name) == 0)
                        return &v[i];
        return NULL;
}

static void add_desc(struct ib_buf *b, const char *mt, const struct entry *e)
{
        ib_buf_adds(b, "{\"mediaType\":");
        ib_json_add_str(b, mt);
        ib_buf_addf(b, ",\"size\":%llu,\"digest\":", (unsigned long long) e->size);
        ib_json_add_str(b, e->digest);
        ib_buf_addc(b, '}');
}

static int build_manifest(struct ib_store *s, const char *path, const struct entry *v, size_t n,
                          char **ret_digest, struct ib_err **err)
{
        const struct entry *mf = find(v, n, "manifest.json"), *cfg;
        _cleanup_free_ char *data = NULL, *bp = NULL;
        _cleanup_json_ yajl_val doc = NULL;
        struct ib_buf b = IB_BUF_INIT;
        yajl_val layers;
        size_t len;
        int r;

        if (!mf)
                return ib_err_set(err, EINVAL, "`%s`: no manifest.json (not a docker save archive)", path);
        bp = ib_store_blob_path(s, mf->digest);
        if (ib_read_file(bp, 4u << 20, &data, &len, err) < 0)
                return -EIO;
        doc = ib_json_parse(data, len, "manifest.json", err);
        if (!doc)
                return -EINVAL;
        if (!YAJL_IS_ARRAY(doc) || doc->u.array.len != 1)
                return ib_err_set(err, EINVAL, "`%s`: manifest.json must describe exactly one image", path);
        yajl_val img = doc->u.array.values[0];
        const char *cname = ib_json_get_str(img, "Config");
        layers = ib_json_get(img, "Layers");
        cfg = cname ? find(v, n, cname) : NULL;
        if (!cfg || !layers || !YAJL_IS_ARRAY(layers))
                return ib_err_set(err, EINVAL, "`%s`: manifest.json lacks Config or Layers", path);
        ib_buf_adds(&b, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"config\":");
        add_desc(&b, "application/vnd.docker.container.image.v1+json", cfg);
        ib_buf_adds(&b, ",\"layers\":[");
        for (size_t i = 0; i < layers->u.array.len; i++) {
                yajl_val l = layers->u.array.values[i];
                const struct entry *e = YAJL_IS_STRING(l) ? find(v, n, l->u.string) : NULL;
                if (!e) {
                        ib_buf_release(&b);
                        return ib_err_set(err, EINVAL, "`%s`: layer %zu is missing from the archive", path, i);
                }
                if (i)
                        ib_buf_addc(&b, ',');
                add_desc(&b, e->gzip ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
                                     : "application/vnd.docker.image.rootfs.diff.tar", e);
        }
        ib_buf_adds(&b, "]}");
        r = ib_store_put_blob(s, b.buf, b.len, NULL, ret_digest, err);
        ib_buf_release(&b);
        return r;
}

int ib_docker_archive_import(struct ib_store *s, const char *path, char **ret_digest, struct ib_err **err)
{
        struct archive *a = archive_read_new();
        struct archive_entry *ae;
        struct entry *v = NULL;
        size_t n = 0;
        int r = 0, ar;

        archive_read_support_format_tar(a);
        archive_read_support_filter_all(a);
        if (archive_read_open_filename(a, path, 256 * 1024) != ARCHIVE_OK) {
                r = ib_err_set(err, archive_errno(a) > 0 ? archive_errno(a) : EIO, "open `%s`: %s", path,
                               archive_error_string(a));
                goto out;
        }
        while ((ar = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
                const char *name = archive_entry_pathname(ae);
                if (archive_entry_filetype(ae) != AE_IFREG || !name)
                        continue;
                if (n >= MAX_FILES) {
                        r = ib_err_set(err, E2BIG, "`%s`: more than %d files", path, MAX_FILES);
                        goto out;
                }
                while (*name == '.' && name[1] == '/')
                        name += 2;
                v = ib_reallocarray(v, n + 1, sizeof(*v));
                memset(&v[n], 0, sizeof(v[n]));
                v[n].name = ib_strdup(name);
                n++;
                r = store_entry(s, a, &v[n - 1], err);
                if (r < 0) {
                        ib_err_wrap(err, "`%s`", path);
                        goto out;
                }
        }
        if (ar != ARCHIVE_EOF) {
                r = ib_err_set(err, EIO, "`%s`: %s", path, archive_error_string(a));
                goto out;
        }
        r = build_manifest(s, path, v, n, ret_digest, err);
out:
        archive_read_free(a);
        for (size_t i = 0; i < n; i++) {
                free(v[i].name);
                free(v[i].digest);
        }
        free(v);
        return r;
}
