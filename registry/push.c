/* registry/push.c - push an image (or an index and its images) whose blobs
 * sit in a directory laid out like blobs/sha256/<hex> (the store, or an OCI
 * layout).  Per blob: known -> HEAD -> cross-repo mount -> upload; then the
 * manifest's exact bytes. */
#include "registry/internal.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <yajl/yajl_tree.h>

#define MAX_MOUNT_TRIES 3

struct push_ctx {
        struct ib_registry *r;
        struct ib_endpoint *ep;
        const char *path;
        char *repo_key;
        char *scope;
        const char *blob_root;
        const char *const *mount_from;
        struct ib_store *store;
        struct ib_push_result *res;
        unsigned retries;
};

void ib_push_result_release(struct ib_push_result *p)
{
        free(p->digest);
        memset(p, 0, sizeof(*p));
}

static char *blob_file(const char *root, const char *digest)
{
        const char *hex;
        if (!ib_digest_parse(digest, &hex))
                return NULL;
        return ib_strdupf("%s/blobs/sha256/%s", root, hex);
}

static const char *api_host(const char *domain)
{
        return strcmp(domain, "docker.io") == 0 ? "registry-1.docker.io" : domain;
}

/* HEAD: 1 present, 0 absent. */
static int blob_exists(struct push_ctx *c, const char *digest, struct ib_err **err)
{
        static const long ok404[] = { 404, 0 };
        struct ib_req q = { .ep = c->ep, .method = "HEAD", .url = ib_endpoint_url(c->ep, "%s/blobs/%s", c->path, digest),
                            .scope = c->scope, .body_fd = -1, .retries = c->retries };
        int res = ib_req_run(c->r, &q, ok404, err);
        if (res == 0)
                res = q.status == 200 ? 1 : 0;
        ib_req_release(&q);
        return res;
}

/* Candidate source repositories on the same registry (paths). */
static char **mount_sources(struct push_ctx *c, const char *digest)
{
        char **v = NULL;
        const char *hex;
        _cleanup_free_ char *prefix = ib_strdupf("%s/", c->ep->host);

        for (size_t i = 0; c->mount_from && c->mount_from[i]; i++)
                if (strcmp(c->mount_from[i], c->path) != 0)
                        ib_strv_push(&v, c->mount_from[i]);
        if (c->store && ib_digest_parse(digest, &hex)) {
                _cleanup_free_ char *p = ib_strdupf("%s/cache/blob-repos/%s", c->store->root, hex), *data = NULL;
                _cleanup_err_ struct ib_err *e = NULL;
                size_t len;
                char *save = NULL;
                if (ib_read_file(p, 1u << 20, &data, &len, &e) == 0) {
                        for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                                if (ib_startswith(line, prefix) && strcmp(line + strlen(prefix), c->path) != 0)
                                        ib_strv_push(&v, line + strlen(prefix));
                }
        }
        return v;
}

/* POST ?mount=&from=: 1 mounted, 0 not (then *ret_location is an upload session, maybe NULL). */
static int try_mount(struct push_ctx *c, const char *digest, const char *from, char **ret_location, struct ib_err **err)
{
        static const long ok[] = { 0 };
        _cleanup_free_ char *scope = ib_strdupf("%s repository:%s:pull", c->scope, from);
        struct ib_req q = { .ep = c->ep, .method = "POST", .scope = scope, .body_fd = -1, .has_body = false,
                            .retries = c->retries,
                            .url = ib_endpoint_url(c->ep, "%s/blobs/uploads/?mount=%s&from=%s", c->path, digest, from) };
        int res = ib_req_run(c->r, &q, ok, err);

        *ret_location = NULL;
        if (res == 0) {
                if (q.status == 201)
                        res = 1;
                else if (q.status == 202 && q.location)
                        *ret_location = IB_TAKE_PTR(q.location);
        }
        ib_req_release(&q);
        return res;
}

static char *with_digest(const char *location, const char *digest)
{
        return ib_strdupf("%s%cdigest=%s", location, strchr(location, '?') ? '&' : '?', digest);
}

/* One upload attempt: POST (unless @location is given), PUT or PATCH chunks + PUT. */
static int upload_once(struct push_ctx *c, const char *digest, int fd, uint64_t size, char *location,
                       struct ib_err **err)
{
        static const long none[] = { 0 };
        const struct ib_registry_opts *o = ib_registry_options(c->r);
        _cleanup_free_ char *loc = location;
        int res;

        if (!loc) {
                struct ib_req q = { .ep = c->ep, .method = "POST", .scope = c->scope, .body_fd = -1,
                                    .retries = c->retries, .url = ib_endpoint_url(c->ep, "%s/blobs/uploads/", c->path) };
                res = ib_req_run(c->r, &q, none, err);
                if (res == 0 && !q.location)
                        res = ib_err_set(err, 0, "upload of %s: no Location in the registry's answer", digest);
                loc = IB_TAKE_PTR(q.location);
                ib_req_release(&q);
                if (res < 0)
                        return ib_err_wrap(err, "upload of %s", digest);
        }
        if (size > o->chunk_size) {
                for (uint64_t off = 0; off < size; off += o->chunk_size) {
                        uint64_t n = size - off < o->chunk_size ? size - off : o->chunk_size;
                        char range[64];
                        snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long) off,
                                 (unsigned long long) (off + n - 1));
                        struct ib_req q = { .ep = c->ep, .method = "PATCH", .scope = c->scope, .url = ib_strdup(loc),
                                            .content_type = "application/octet-stream", .content_range = range,
                                            .has_body = true, .body_fd = fd, .body_off = off, .body_fd_len = n,
                                            .what = digest };
                        res = ib_req_run(c->r, &q, none, err);
                        if (res == 0 && q.location) {
                                free(loc);
                                loc = IB_TAKE_PTR(q.location);
                        }
                        ib_req_release(&q);
                        if (res < 0)
                                return ib_err_wrap(err, "upload of %s (bytes %s)", digest, range);
                }
                struct ib_req q = { .ep = c->ep, .method = "PUT", .scope = c->scope, .url = with_digest(loc, digest),
                                    .content_type = "application/octet-stream", .has_body = true, .body_fd = -1,
                                    .body = "", .body_len = 0 };
                res = ib_req_run(c->r, &q, none, err);
                ib_req_release(&q);
        } else {
                struct ib_req q = { .ep = c->ep, .method = "PUT", .scope = c->scope, .url = with_digest(loc, digest),
                                    .content_type = "application/octet-stream", .has_body = true, .body_fd = fd,
                                    .body_off = 0, .body_fd_len = size, .what = digest };
                res = ib_req_run(c->r, &q, none, err);
                ib_req_release(&q);
        }
        if (res < 0)
                return ib_err_wrap(err, "upload of %s", digest);
        return 0;
}

static int push_blob(struct push_ctx *c, const char *digest, struct ib_err **err)
{
        _cleanup_free_ char *file = blob_file(c->blob_root, digest), *location = NULL;
        _cleanup_close_ int fd = -1;
        _cleanup_strv_ char **sources = NULL;
        struct stat st;
        int res;

        if (!file)
                return ib_err_set(err, EINVAL, "bad digest `%s`", digest);
        if (ib_registry_known(c->r, c->repo_key, digest)) {
                c->res->existing++;
                return 0;
        }
        res = blob_exists(c, digest, err);
        if (res < 0)
                return ib_err_wrap(err, "blob %s", digest);
        if (res == 1) {
                ib_registry_emit(c->r, IB_PROGRESS_EXISTS, digest, 0, 0);
                c->res->existing++;
                goto pushed;
        }
        sources = mount_sources(c, digest);
        for (size_t i = 0; sources && sources[i] && i < MAX_MOUNT_TRIES; i++) {
                _cleanup_err_ struct ib_err *e = NULL;
                free(location);
                res = try_mount(c, digest, sources[i], &location, &e);
                if (res == 1) {
                        ib_debug("blob %s mounted from %s", digest, sources[i]);
                        ib_registry_emit(c->r, IB_PROGRESS_MOUNTED, digest, 0, 0);
                        c->res->mounted++;
                        goto pushed;
                }
                if (res < 0) {
                        ib_debug("mount of %s from %s failed, ignoring: %s", digest, sources[i], e->msg);
                        break;
                }
        }
        fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return ib_err_set(err, errno, "blob %s: open `%s`", digest, file);
        ib_registry_emit(c->r, IB_PROGRESS_START, digest, 0, (uint64_t) st.st_size);
        for (unsigned attempt = 0;; attempt++) {
                res = upload_once(c, digest, fd, (uint64_t) st.st_size, IB_TAKE_PTR(location), err);
                if (res == 0)
                        break;
                if (attempt >= c->retries || res == -ECANCELED)
                        return res;
                ib_debug("%s, retrying (%u/%u)", (*err)->msg, attempt + 1, c->retries);
                ib_err_free(err);
                ib_registry_emit(c->r, IB_PROGRESS_RETRY, digest, 0, (uint64_t) st.st_size);
                res = ib_registry_sleep(c->r, ib_backoff_ms(c->r, attempt + 1, -1), digest, err);
                if (res < 0)
                        return res;
        }
        ib_registry_emit(c->r, IB_PROGRESS_DONE, digest, (uint64_t) st.st_size, (uint64_t) st.st_size);
        c->res->uploaded++;
pushed:
        ib_registry_known_add(c->r, c->repo_key, digest);
        ib_blob_repo_record(c->store, digest, c->repo_key);
        return 0;
}

static int read_blob(const char *root, const char *digest, char **ret, size_t *ret_len, struct ib_err **err)
{
        _cleanup_free_ char *f = blob_file(root, digest);
        char hex[IB_SHA256_HEX];
        int res;

        if (!f)
                return ib_err_set(err, EINVAL, "bad digest `%s`", digest);
        res = ib_read_file(f, IB_MANIFEST_MAX, ret, ret_len, err);
        if (res < 0)
                return res;
        ib_sha256_hex(*ret, *ret_len, hex);
        if (strcmp(hex, digest + 7) != 0) {
                free(*ret);
                return ib_err_set(err, EBADMSG, "`%s` does not match its digest", f);
        }
        return 0;
}

static int put_manifest(struct push_ctx *c, const char *reference, const char *data, size_t len, const char *mt,
                        struct ib_err **err)
{
        static const long none[] = { 0 };
        struct ib_req q = { .ep = c->ep, .method = "PUT", .scope = c->scope, .content_type = mt, .has_body = true,
                            .body = data, .body_len = len, .body_fd = -1, .retries = c->retries,
                            .url = ib_endpoint_url(c->ep, "%s/manifests/%s", c->path, reference), .what = "manifest" };
        int res = ib_req_run(c->r, &q, none, err);
        ib_req_release(&q);
        if (res < 0)
                return ib_err_wrap(err, "manifest %s", reference);
        return 0;
}

static int push_manifest(struct push_ctx *c, const char *digest, const char *reference, int depth, struct ib_err **err)
{
        _cleanup_free_ char *data = NULL, *mt = NULL;
        _cleanup_json_ yajl_val doc = NULL;
        size_t len;
        int res;

        res = read_blob(c->blob_root, digest, &data, &len, err);
        if (res < 0)
                return res;
        mt = ib_manifest_media_type(data, len, NULL);
        if (!mt)
                return ib_err_set(err, EPROTO, "%s: not a manifest", digest);
        doc = ib_json_parse(data, len, digest, err);
        if (!doc)
                return -EINVAL;
        if (ib_media_type_is_index(mt)) {
                yajl_val list = ib_json_get(doc, "manifests");
                if (depth > 0)
                        return ib_err_set(err, EPROTO, "%s: nested index", digest);
                for (size_t i = 0; list && YAJL_IS_ARRAY(list) && i < list->u.array.len; i++) {
                        const char *d = ib_json_get_str(list->u.array.values[i], "digest"), *hex;
                        if (!d || !ib_digest_parse(d, &hex))
                                return ib_err_set(err, EINVAL, "%s: bad entry", digest);
                        res = push_manifest(c, d, d, depth + 1, err);
                        if (res < 0)
                                return res;
                }
        } else {
                yajl_val layers = ib_json_get(doc, "layers");
                const char *cfg = ib_json_get_str(ib_json_get(doc, "config"), "digest");
                if (!cfg || !layers || !YAJL_IS_ARRAY(layers))
                        return ib_err_set(err, EINVAL, "%s: manifest without config or layers", digest);
                for (size_t i = 0; i < layers->u.array.len; i++) {
                        const char *d = ib_json_get_str(layers->u.array.values[i], "digest");
                        if (!d)
                                return ib_err_set(err, EINVAL, "%s: layer %zu has no digest", digest, i);
                        res = push_blob(c, d, err);
                        if (res < 0)
                                return res;
                }
                res = push_blob(c, cfg, err);
                if (res < 0)
                        return res;
        }
        return put_manifest(c, reference, data, len, mt, err);
}

int ib_registry_push(struct ib_registry *r, const char *blob_root, const char *digest, const struct ib_ref *dest,
                     const char *const *mount_from, struct ib_store *store, struct ib_push_result *ret,
                     struct ib_err **err)
{
        struct push_ctx c = {
                .r = r, .path = dest->path, .blob_root = blob_root, .mount_from = mount_from, .store = store,
                .res = ret, .retries = ib_registry_options(r)->push_retries,
        };
        const char *hex;
        int res;

        memset(ret, 0, sizeof(*ret));
        if (!ib_digest_parse(digest, &hex))
                return ib_err_set(err, EINVAL, "bad digest `%s`", digest);
        c.ep = ib_endpoint_get(r, api_host(dest->domain), true);
        c.repo_key = ib_strdupf("%s/%s", c.ep->host, dest->path);
        c.scope = ib_strdupf("repository:%s:pull,push", dest->path);
        res = push_manifest(&c, digest, dest->tag ? dest->tag : digest, 0, err);
        free(c.repo_key);
        free(c.scope);
        if (res < 0)
                return res;
        ret->digest = ib_strdup(digest);
        return 0;
}
