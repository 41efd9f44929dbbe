/* src/output-archive.c - write a docker-archive, the tar `docker save` writes.
 *
 * Layout (docker 1.10 .. 24, which every loader reads: docker load, podman
 * load, skopeo's docker-archive: transport):
 *   <v1id>/VERSION, <v1id>/json, <v1id>/layer.tar   one dir per layer, base first
 *   <config-hex>.json                              the config blob, byte for byte
 *   manifest.json      [{"Config":"<hex>.json","RepoTags":[...],"Layers":["<v1id>/layer.tar",...]}]
 *   repositories       {"name":{"tag":"<top v1id>"}}  for pre-1.10 docker
 * Layers are written uncompressed, as docker save does: every loader accepts
 * that, while compressed layers are an extension only some accept.  They are
 * decompressed on the fly from the store; a tar header needs the size first,
 * so when it is unknown a first pass measures it.  Each layer's bytes are
 * hashed while written and must equal its diff_id.
 *
 * v1 ids are not content digests of anything docker checks; they are made
 * deterministic here (a hash of the chain id, the parent's v1 id and, for the
 * top layer, the config digest) so the same image gives the same archive. */
#include "src/image-internal.h"
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>

#define CHUNK (256 * 1024)

static int archive_fail(struct archive *a, const char *path, const char *what, struct ib_err **err)
{
        int e = archive_errno(a);
        const char *s = archive_error_string(a);
        return ib_err_set(err, e > 0 ? e : EIO, "`%s`: %s: %s", path, what, s ? s : "libarchive error");
}

struct tarw {
        struct archive *a;
        const char *path;       /* for messages */
        time_t mtime;
};

static int put_header(struct tarw *t, const char *name, mode_t type, mode_t perm, int64_t size, struct ib_err **err)
{
        struct archive_entry *e = archive_entry_new();
        int r;

        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, perm);
        archive_entry_set_size(e, type == AE_IFDIR ? 0 : size);
        archive_entry_set_mtime(e, t->mtime, 0);
        archive_entry_set_uid(e, 0);
        archive_entry_set_gid(e, 0);
        r = archive_write_header(t->a, e);
        archive_entry_free(e);
        if (r < ARCHIVE_WARN)
                return archive_fail(t->a, t->path, name, err);
        return 0;
}

static int put_data(struct tarw *t, const char *name, const void *data, size_t n, struct ib_err **err)
{
        if (n && archive_write_data(t->a, data, n) < 0)
                return archive_fail(t->a, t->path, name, err);
        return 0;
}

static int put_file(struct tarw *t, const char *name, const void *data, size_t n, struct ib_err **err)
{
        int r = put_header(t, name, AE_IFREG, 0644, (int64_t) n, err);
        return r < 0 ? r : put_data(t, name, data, n, err);
}

static int put_layer(struct tarw *t, struct ib_store *s, const struct ib_layer *l, const char *name,
                     struct ib_err **err)
{
        _cleanup_free_ char *src = ib_store_blob_path(s, l->digest);
        _cleanup_free_ char *buf = NULL;
        _cleanup_(ib_layer_reader_freep) struct ib_layer_reader *rd = NULL;
        _cleanup_(ib_sha256_freep) struct ib_sha256 *h = NULL;
        int64_t size = l->uncompressed_size, done = 0;
        char hex[IB_SHA256_HEX];
        const char *want = NULL;
        ssize_t n;
        int r;

        if (!src)
                return ib_err_set(err, EINVAL, "layer: bad digest \"%s\"", l->digest);
        if (size < 0 && (r = ib_layer_blob_info(src, NULL, &size, err)) < 0)
                return r;
        if ((r = put_header(t, name, AE_IFREG, 0644, size, err)) < 0)
                return r;
        if ((r = ib_layer_reader_open(src, &rd, err)) < 0)
                return r;
        h = ib_sha256_new();
        buf = ib_malloc(CHUNK);
        while ((n = ib_layer_reader_read(rd, buf, CHUNK, err)) > 0) {
                if (done + n > size)
                        return ib_err_set(err, EBADMSG, "layer %s: longer than its %" PRId64 " bytes", l->digest, size);
                ib_sha256_update(h, buf, (size_t) n);
                if ((r = put_data(t, name, buf, (size_t) n, err)) < 0)
                        return r;
                done += n;
        }
        if (n < 0)
                return (int) n;
        if (done != size)
                return ib_err_set(err, EBADMSG, "layer %s: %" PRId64 " bytes, expected %" PRId64, l->digest,
                                  done, size);
        ib_sha256_final_hex(h, hex);
        if (l->diff_id && ib_digest_parse(l->diff_id, &want) && strcmp(want, hex) != 0)
                return ib_err_set(err, EBADMSG, "layer %s: content is sha256:%s, not its diff_id %s", l->digest, hex,
                                  l->diff_id);
        return 0;
}

/* "name:tag" with ":latest" added when there is no tag. */
static char *repo_tag(const char *ref)
{
        const char *slash = strrchr(ref, '/');
        const char *colon = strrchr(slash ? slash : ref, ':');
        if (strchr(ref, '@'))
                return ib_strndup(ref, strcspn(ref, "@"));
        return colon ? ib_strdup(ref) : ib_strdupf("%s:latest", ref);
}

static void write_repositories(struct ib_buf *b, char *const *tags, const char *top)
{
        struct ib_kvlist seen = {};     /* repo -> "tag\0..." kept simple: one pass per repo */
        bool first = true;

        ib_buf_addc(b, '{');
        for (size_t i = 0; tags && tags[i]; i++) {
                _cleanup_free_ char *rt = repo_tag(tags[i]);
                char *colon = strrchr(rt, ':');
                *colon = '\0';
                if (ib_kvlist_get(&seen, rt))
                        continue;
                ib_kvlist_set(&seen, rt, "1");
                jkey(b, &first, rt);
                bool tfirst = true;
                ib_buf_addc(b, '{');
                for (size_t j = i; tags[j]; j++) {
                        _cleanup_free_ char *rt2 = repo_tag(tags[j]);
                        char *c2 = strrchr(rt2, ':');
                        *c2 = '\0';
                        if (strcmp(rt2, rt) != 0)
                                continue;
                        jkey(b, &tfirst, c2 + 1);
                        ib_json_add_str(b, top);
                }
                ib_buf_addc(b, '}');
        }
        ib_buf_addc(b, '}');
        ib_kvlist_clear(&seen);
}

static int write_archive(struct tarw *t, struct ib_store *s, const struct ib_image *img, char *const *tags,
                         struct ib_err **err)
{
        _cleanup_free_ char *cdata = NULL, *cpath = ib_store_blob_path(s, img->config_digest);
        _cleanup_buf_ struct ib_buf man = IB_BUF_INIT, layers = IB_BUF_INIT, repos = IB_BUF_INIT;
        char chain[IB_SHA256_HEX] = "", parent[IB_SHA256_HEX] = "", v1id[IB_SHA256_HEX] = "";
        const char *chex = NULL;
        size_t clen = 0;
        int r;

        if (!cpath || !ib_digest_parse(img->config_digest, &chex))
                return ib_err_set(err, EINVAL, "bad config digest \"%s\"", img->config_digest);
        if ((r = ib_read_file(cpath, 64 << 20, &cdata, &clen, err)) < 0)
                return r;

        ib_buf_addc(&layers, '[');
        for (size_t i = 0; i < img->n_layers; i++) {
                const struct ib_layer *l = &img->layers[i];
                const char *dhex = NULL;
                _cleanup_buf_ struct ib_buf in = IB_BUF_INIT, json = IB_BUF_INIT;
                _cleanup_free_ char *dir = NULL, *f = NULL;
                char created[40];

                if (!l->diff_id || !ib_digest_parse(l->diff_id, &dhex))
                        return ib_err_set(err, EINVAL, "layer %zu: no diff_id", i);
                /* chain id (image-spec): sha256(parent chain + " " + diff_id) */
                if (i == 0) {
                        snprintf(chain, sizeof(chain), "%s", dhex);
                } else {
                        ib_buf_addf(&in, "sha256:%s %s", chain, l->diff_id);
                        ib_sha256_hex(in.buf, in.len, chain);
                }
                ib_buf_reset(&in);
                ib_buf_addf(&in, "imgbuild-v1\n%s\n%s\n%s", chain, parent, i + 1 == img->n_layers ? chex : "");
                ib_sha256_hex(in.buf, in.len, v1id);

                dir = ib_strdupf("%s/", v1id);
                if ((r = put_header(t, dir, AE_IFDIR, 0755, 0, err)) < 0)
                        return r;
                free(f);
                f = ib_strdupf("%sVERSION", dir);
                if ((r = put_file(t, f, "1.0", 3, err)) < 0)
                        return r;
                ib_time_rfc3339((int64_t) t->mtime, created, sizeof(created));
                ib_buf_addf(&json, "{\"id\":\"%s\"", v1id);
                if (parent[0])
                        ib_buf_addf(&json, ",\"parent\":\"%s\"", parent);
                ib_buf_addf(&json, ",\"created\":\"%s\",\"container_config\":{}}", created);
                free(f);
                f = ib_strdupf("%sjson", dir);
                if ((r = put_file(t, f, json.buf, json.len, err)) < 0)
                        return r;
                free(f);
                f = ib_strdupf("%slayer.tar", dir);
                if ((r = put_layer(t, s, l, f, err)) < 0)
                        return ib_err_wrap(err, "layer %zu", i);
                if (i)
                        ib_buf_addc(&layers, ',');
                ib_json_add_str(&layers, f);
                memcpy(parent, v1id, sizeof(parent));
        }
        ib_buf_addc(&layers, ']');

        _cleanup_free_ char *cname = ib_strdupf("%s.json", chex);
        if ((r = put_file(t, cname, cdata, clen, err)) < 0)
                return r;

        ib_buf_adds(&man, "[{\"Config\":");
        ib_json_add_str(&man, cname);
        ib_buf_adds(&man, ",\"RepoTags\":");
        if (tags && tags[0]) {
                ib_buf_addc(&man, '[');
                for (size_t i = 0; tags[i]; i++) {
                        _cleanup_free_ char *rt = repo_tag(tags[i]);
                        if (i)
                                ib_buf_addc(&man, ',');
                        ib_json_add_str(&man, rt);
                }
                ib_buf_addc(&man, ']');
        } else {
                ib_buf_adds(&man, "null");
        }
        ib_buf_addf(&man, ",\"Layers\":%s}]", layers.buf);
        if ((r = put_file(t, "manifest.json", man.buf, man.len, err)) < 0)
                return r;
        if (tags && tags[0] && img->n_layers) {
                write_repositories(&repos, tags, v1id);
                if ((r = put_file(t, "repositories", repos.buf, repos.len, err)) < 0)
                        return r;
        }
        return 0;
}

int ib_output_docker_archive(struct ib_store *s, const struct ib_image *img, const char *path,
                             char *const *tags, struct ib_err **err)
{
        _cleanup_free_ char *tmp = ib_strdupf("%s.tmp-%ld", path, (long) getpid());
        _cleanup_close_ int fd = -1;
        struct tarw t = { .path = path, .mtime = 0 };
        int64_t created;
        int r;

        if (img->created && ib_time_parse(img->created, &created) == 0 && created > 0)
                t.mtime = (time_t) created;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return ib_err_set(err, errno, "docker-archive: create `%s`", tmp);
        t.a = archive_write_new();
        if (archive_write_set_format_pax_restricted(t.a) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(t.a, 1) != ARCHIVE_OK ||
            archive_write_open_fd(t.a, fd) != ARCHIVE_OK) {
                r = archive_fail(t.a, path, "open", err);
                goto fail;
        }
        r = write_archive(&t, s, img, tags, err);
        if (r < 0)
                goto fail;
        if (archive_write_close(t.a) != ARCHIVE_OK) {
                r = archive_fail(t.a, path, "close", err);
                goto fail;
        }
        archive_write_free(t.a);
        t.a = NULL;
        if (fsync(fd) < 0 || rename(tmp, path) < 0) {
                r = ib_err_set(err, errno, "docker-archive: write `%s`", path);
                goto fail;
        }
        return 0;
fail:
        if (t.a)
                archive_write_free(t.a);
        (void) unlink(tmp);
        return ib_err_wrap(err, "docker-archive `%s`", path);
}
