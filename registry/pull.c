/* registry/pull.c - resolve a reference, fetch manifests, and download blobs
 * into the store, several at once on the client's multi handle.
 *
 * Every blob is streamed into an ib_blob_writer (hashed on the way) and only
 * renamed into blobs/sha256/ when its digest matches.  A transfer cut short
 * keeps its writer, and the next attempt asks for the rest with a Range
 * request; a server that answers 200 instead of 206 gets a fresh writer.  The
 * store never holds a wrong blob: a mismatch discards the writer. */
#include "registry/internal.h"
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <yajl/yajl_tree.h>

#define ACCEPT_MANIFESTS IB_MT_OCI_INDEX ", " IB_MT_OCI_MANIFEST ", " IB_MT_DOCKER_LIST ", " IB_MT_DOCKER_MANIFEST


void ib_pull_result_free(struct ib_pull_result *p)
{
        if (!p)
                return;
        free(p->digest);
        free(p->media_type);
        free(p->manifest_digest);
        free(p->config_digest);
        ib_strv_free(p->layers);
        free(p);
}

/* ------------------------------------------------------------ store records */

static char *refs_path(struct ib_store *s, const struct ib_ref *ref)
{
        return ib_strdupf("%s/cache/refs/%s/%s:%s", s->root, ref->domain, ref->path, ref->tag);
}

static void record_tag(struct ib_store *s, const struct ib_ref *ref, const char *digest)
{
        _cleanup_free_ char *p = NULL, *dir = NULL, *line = NULL;
        _cleanup_err_ struct ib_err *e = NULL;

        if (!ref->tag || ref->digest)
                return;
        p = refs_path(s, ref);
        dir = ib_strndup(p, (size_t) (strrchr(p, '/') - p));
        line = ib_strdupf("%s\n", digest);
        {
                _cleanup_free_ char *old = NULL;
                size_t len = 0;
                if (ib_read_file(p, 256, &old, &len, &e) == 0 && len == strlen(line) && !memcmp(old, line, len))
                        return;         /* unchanged: no rewrite, no fsync */
                ib_err_free(&e);
        }
        if (ib_mkdir_p(dir, 0700, &e) < 0 || ib_write_file_atomic(p, line, strlen(line), 0644, &e) < 0)
                ib_debug("cannot record %s:%s, ignoring: %s", ref->path, ref->tag, e->msg);
}

int ib_registry_local_digest(struct ib_store *store, const struct ib_ref *ref, char **ret_digest, struct ib_err **err)
{
        _cleanup_free_ char *p = NULL, *data = NULL;
        size_t len;
        const char *hex;

        if (ref->digest) {
                *ret_digest = ib_strdup(ref->digest);
                return 0;
        }
        p = refs_path(store, ref);
        if (ib_read_file(p, 256, &data, &len, err) < 0)
                return -ENOENT;
        data[strcspn(data, "\n")] = '\0';
        if (!ib_digest_parse(data, &hex))
                return ib_err_set(err, EINVAL, "`%s`: not a digest", p);
        *ret_digest = IB_TAKE_PTR(data);
        return 0;
}

/* Append "host/path" to cache/blob-repos/<hex> unless it is there already. */
void ib_blob_repo_record(struct ib_store *s, const char *digest, const char *repo_key)
{
        const char *hex;
        _cleanup_free_ char *dir = NULL, *path = NULL, *data = NULL, *line = NULL;
        _cleanup_err_ struct ib_err *e = NULL;
        _cleanup_close_ int fd = -1;
        size_t len = 0;

        if (!s || !ib_digest_parse(digest, &hex))
                return;
        dir = ib_strdupf("%s/cache/blob-repos", s->root);
        path = ib_strdupf("%s/%s", dir, hex);
        line = ib_strdupf("%s\n", repo_key);
        if (ib_mkdir_p(dir, 0700, &e) < 0)
                return;
        fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 || flock(fd, LOCK_EX) < 0)
                return;
        if (ib_read_file(path, 1u << 20, &data, &len, &e) == 0) {
                for (char *p = data; p && *p;) {
                        size_t n = strcspn(p, "\n");
                        if (n == strlen(repo_key) && strncmp(p, repo_key, n) == 0)
                                return;
                        p += n + (p[n] ? 1 : 0);
                }
        }
        (void) ib_write_all(fd, line, strlen(line));
}

/* ---------------------------------------------------------------- manifests */

static int read_store_blob(struct ib_store *s, const char *digest, size_t max, char **ret, size_t *ret_len,
                           struct ib_err **err)
{
        _cleanup_free_ char *p = ib_store_blob_path(s, digest);
        if (!p)
                return ib_err_set(err, EINVAL, "bad digest `%s`", digest);
        ib_store_touch_used(s, IB_STORE_BLOB, digest);  /* a manifest in use: prune keeps what it names */
        return ib_read_file(p, max, ret, ret_len, err);
}

/* HEAD a tag: the digest the registry announces (Docker-Content-Digest), or NULL. */
static char *head_manifest(struct ib_registry *r, struct ib_endpoint *ep, const char *path, const char *tag,
                           const char *scope)
{
        _cleanup_err_ struct ib_err *e = NULL;
        struct ib_req q = { .ep = ep, .method = "HEAD", .url = ib_endpoint_url(ep, "%s/manifests/%s", path, tag),
                            .scope = scope, .accept = ACCEPT_MANIFESTS, .body_fd = -1,
                            .retries = ib_registry_options(r)->pull_retries };
        char *d = NULL;
        const char *hex;

        if (ib_req_run(r, &q, NULL, &e) == 0 && q.docker_digest && ib_startswith(q.docker_digest, "sha256:") &&
            ib_digest_parse(q.docker_digest, &hex))
                d = IB_TAKE_PTR(q.docker_digest);
        ib_req_release(&q);
        return d;
}

/* Fetch the manifest @reference (a tag or a digest) of @path from @ep, or
 * read it from the store when it is a digest we hold.  The manifest is stored
 * as a blob; a digest reference is verified.  @recorded: the digest this tag
 * resolved to last time (or NULL): when a HEAD says it still does and the
 * store has it, no GET is needed. */
static int get_manifest(struct ib_registry *r, struct ib_store *s, struct ib_endpoint *ep, const char *path,
                        const char *reference, const char *recorded, char **ret_data, size_t *ret_len, char **ret_mt,
                        char **ret_digest, struct ib_err **err)
{
        struct ib_buf body = IB_BUF_INIT;
        _cleanup_free_ char *scope = ib_strdupf("repository:%s:pull", path);
        char hex[IB_SHA256_HEX];
        bool by_digest = ib_startswith(reference, "sha256:");
        int res;

        if (!by_digest && recorded && ib_store_has_blob(s, recorded)) {
                _cleanup_free_ char *now = head_manifest(r, ep, path, reference, scope);
                if (now && strcmp(now, recorded) == 0) {
                        ib_debug("%s:%s still resolves to %s (HEAD)", path, reference, now);
                        reference = recorded;
                        by_digest = true;
                }
        }
        if (by_digest && ib_store_has_blob(s, reference)) {
                res = read_store_blob(s, reference, IB_MANIFEST_MAX, ret_data, ret_len, err);
                if (res < 0)
                        return res;
                *ret_mt = ib_manifest_media_type(*ret_data, *ret_len, NULL);
                *ret_digest = ib_strdup(reference);
                return 0;
        }
        struct ib_req q = { .ep = ep, .method = "GET", .url = ib_endpoint_url(ep, "%s/manifests/%s", path, reference),
                            .scope = scope, .accept = ACCEPT_MANIFESTS, .out = &body, .out_max = IB_MANIFEST_MAX,
                            .body_fd = -1, .what = "manifest", .retries = ib_registry_options(r)->pull_retries };
        res = ib_req_run(r, &q, NULL, err);
        if (res < 0) {
                ib_req_release(&q);
                ib_buf_release(&body);
                return ib_err_wrap(err, "manifest %s", reference);
        }
        ib_sha256_hex(body.buf, body.len, hex);
        if (by_digest && strcmp(reference + 7, hex) != 0) {
                res = ib_err_set(err, EBADMSG, "manifest %s: digest mismatch: got sha256:%s", reference, hex);
                goto out;
        }
        *ret_mt = ib_manifest_media_type(body.buf, body.len, q.content_type_out);
        *ret_digest = ib_strdupf("sha256:%s", hex);
        res = ib_store_put_blob(s, body.buf, body.len, *ret_digest, NULL, err);
        if (res < 0) {
                free(*ret_mt);
                free(*ret_digest);
                goto out;
        }
        *ret_len = body.len;
        *ret_data = ib_buf_detach(&body);
out:
        ib_req_release(&q);
        ib_buf_release(&body);
        return res;
}

static int parse_desc(yajl_val v, const char *what, struct ib_pull_desc *d, struct ib_err **err)
{
        const char *digest = ib_json_get_str(v, "digest"), *hex;
        yajl_val size = ib_json_get(v, "size");

        if (!digest || !ib_startswith(digest, "sha256:") || !ib_digest_parse(digest, &hex))
                return ib_err_set(err, EINVAL, "%s: missing or unsupported digest `%s`", what, digest ? digest : "");
        if (!size || !YAJL_IS_INTEGER(size) || YAJL_GET_INTEGER(size) < 0)
                return ib_err_set(err, EINVAL, "%s %s: missing size", what, digest);
        d->digest = ib_strdup(digest);
        d->size = (uint64_t) YAJL_GET_INTEGER(size);
        return 0;
}

int ib_pull_parse_manifest(const char *data, size_t len, struct ib_pull_desc **ret, size_t *ret_n, struct ib_err **err)
{
        _cleanup_json_ yajl_val doc = ib_json_parse(data, len, "manifest", err);
        yajl_val layers;
        struct ib_pull_desc *d;
        size_t n;
        int res;

        if (!doc)
                return -EINVAL;
        layers = ib_json_get(doc, "layers");
        if (!layers || !YAJL_IS_ARRAY(layers))
                return ib_err_set(err, EINVAL, "manifest has no `layers` array");
        n = layers->u.array.len + 1;
        d = ib_calloc(n, sizeof(*d));
        res = parse_desc(ib_json_get(doc, "config"), "config", &d[0], err);
        for (size_t i = 1; res == 0 && i < n; i++)
                res = parse_desc(layers->u.array.values[i - 1], "layer", &d[i], err);
        if (res < 0) {
                for (size_t i = 0; i < n; i++)
                        free(d[i].digest);
                free(d);
                return res;
        }
        *ret = d;
        *ret_n = n;
        return 0;
}

/* ------------------------------------------------------------- blob jobs */

struct job {
        const char *digest;
        uint64_t size;
        struct ib_store *store;
        struct ib_blob_writer *w;
        char *url;
        bool auth;
        bool active, done, checked, bad_range, overflow, write_failed;
        unsigned attempt, redirects;
        bool auth_retried;
        uint64_t not_before;
        struct ib_req q;
        struct ib_xfer x;
        char *auth_hdr;
        struct ib_err *werr;
};

static int job_reset_writer(struct job *j, struct ib_err **err)
{
        ib_blob_writer_free(j->w);
        j->w = NULL;
        return ib_blob_writer_new(j->store, &j->w, err);
}

static int blob_sink(void *ud, struct ib_xfer *x, const void *data, size_t n)
{
        struct job *j = ud;

        if (!j->checked) {
                long st = 0;
                j->checked = true;
                curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &st);
                if (st == 206) {
                        unsigned long long start = 0;
                        if (!x->content_range || sscanf(x->content_range, "bytes %llu-", &start) != 1 ||
                            start != ib_blob_writer_size(j->w)) {
                                j->bad_range = true;
                                return -1;
                        }
                } else if (ib_blob_writer_size(j->w) > 0) {
                        /* asked for a range, got the whole blob: start over */
                        if (job_reset_writer(j, &j->werr) < 0) {
                                j->write_failed = true;
                                return -1;
                        }
                }
        }
        if (j->size && ib_blob_writer_size(j->w) + n > j->size) {
                j->overflow = true;
                return -1;
        }
        if (ib_blob_writer_write(j->w, data, n, &j->werr) < 0) {
                j->write_failed = true;
                return -1;
        }
        return 0;
}

static int job_start(struct ib_registry *r, CURLM *m, struct job *j, struct ib_err **err)
{
        char range[64];
        uint64_t have = ib_blob_writer_size(j->w);
        int res;

        if (j->auth && !j->auth_hdr) {
                res = ib_auth_header(r, j->q.ep, j->q.scope, false, &j->auth_hdr, err);
                if (res < 0)
                        return res;
        }
        snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long) have);
        j->x = (struct ib_xfer) { .sink = blob_sink, .sink_ud = j, .body_fd = -1, .what = j->digest,
                                  .prog_base = have, .prog_total = j->size };
        j->checked = j->bad_range = j->overflow = false;
        res = ib_xfer_setup(r, &j->x, &j->q, j->url, j->auth ? j->auth_hdr : NULL, have ? range : NULL, err);
        if (res < 0)
                return res;
        curl_easy_setopt(j->x.h, CURLOPT_PRIVATE, j);
        /* bigger reads: fewer write callbacks and hash updates per blob */
        curl_easy_setopt(j->x.h, CURLOPT_BUFFERSIZE, 512L * 1024);
        if (curl_multi_add_handle(m, j->x.h) != CURLM_OK)
                return ib_err_set(err, 0, "curl_multi_add_handle failed");
        j->active = true;
        if (j->attempt == 0 && j->redirects == 0)
                ib_registry_emit(r, IB_PROGRESS_START, j->digest, 0, j->size);
        return 0;
}

static void job_stop(CURLM *m, struct job *j)
{
        if (j->active) {
                curl_multi_remove_handle(m, j->x.h);
                j->active = false;
        }
        ib_xfer_release(&j->x);
}

/* A finished transfer: 1 = done, 0 = queued again, <0 = failed for good. */
static int job_finish(struct ib_registry *r, CURLM *m, struct job *j, CURLcode cc, unsigned retries,
                      struct ib_err **err)
{
        enum ib_outcome o = ib_xfer_done(&j->x, cc);
        long retry_after = j->x.retry_after;
        _cleanup_free_ char *msg = NULL;
        int res;

        if (j->write_failed) {
                res = ib_err_set(err, ib_err_code(j->werr) < 0 ? -ib_err_code(j->werr) : EIO, "blob %s: %s", j->digest,
                                 j->werr ? j->werr->msg : "write failed");
                job_stop(m, j);
                return res;
        }
        if (j->x.status == 416 && ib_blob_writer_size(j->w) > 0) {
                o = IB_OUT_RETRY;       /* our range was wrong: start over */
                j->bad_range = true;
        }
        if (o == IB_OUT_OK) {
                job_stop(m, j);
                res = ib_blob_writer_commit(j->w, j->digest, NULL, err);
                ib_blob_writer_free(j->w);
                j->w = NULL;
                if (res == 0) {
                        j->done = true;
                        ib_registry_emit(r, IB_PROGRESS_DONE, j->digest, j->size, j->size);
                        return 1;
                }
                /* a wrong blob: never kept; try again from zero */
                msg = ib_strdup((*err)->msg);
                ib_err_free(err);
                if (j->attempt >= retries)
                        return ib_err_set(err, EBADMSG, "blob %s: %s", j->digest, msg);
                res = ib_blob_writer_new(j->store, &j->w, err);
                if (res < 0)
                        return res;
                j->attempt++;
                free(j->url);
                j->url = ib_strdup(j->q.url);
                j->auth = true;
                j->redirects = 0;
                ib_debug("blob %s: %s, retrying (%u/%u)", j->digest, msg, j->attempt, retries);
                ib_registry_emit(r, IB_PROGRESS_RETRY, j->digest, 0, j->size);
                j->not_before = ib_now_ms() + ib_backoff_ms(r, j->attempt, -1);
                return 0;
        }
        if (o == IB_OUT_REDIRECT) {
                char *next = NULL;
                curl_easy_getinfo(j->x.h, CURLINFO_REDIRECT_URL, &next);
                next = next ? ib_strdup(next) : NULL;
                job_stop(m, j);
                if (!next)
                        return ib_err_set(err, 0, "blob %s: bad redirect from `%.*s`", j->digest,
                                          ib_url_msg_len(j->url), j->url);
                if (++j->redirects > 10) {
                        int rc = ib_err_set(err, 0, "blob %s: more than 10 redirects, the last to `%.*s`", j->digest,
                                             ib_url_msg_len(next), next);
                        free(next);
                        return rc;
                }
                if (!ib_same_origin(next, j->q.url))
                        j->auth = false;        /* never carry credentials to a storage host */
                free(j->url);
                j->url = next;
                j->not_before = 0;
                return 0;
        }
        if (o == IB_OUT_AUTH && j->auth && !j->auth_retried && ib_auth_challenge_update(r, j->q.ep, &j->x)) {
                job_stop(m, j);
                j->auth_retried = true;
                free(j->auth_hdr);
                j->auth_hdr = NULL;
                res = ib_auth_header(r, j->q.ep, j->q.scope, true, &j->auth_hdr, err);
                return res < 0 ? res : 0;
        }
        if (o == IB_OUT_RETRY && j->attempt < retries) {
                msg = j->overflow ? ib_strdupf("more data than the %llu bytes announced", (unsigned long long) j->size)
                                  : ib_xfer_error(&j->x, cc);
                job_stop(m, j);
                if (j->overflow || j->bad_range) {
                        res = job_reset_writer(j, err);
                        if (res < 0)
                                return res;
                }
                j->attempt++;
                /* start again at the registry: a storage URL it redirected to may have expired */
                free(j->url);
                j->url = ib_strdup(j->q.url);
                j->auth = true;
                j->redirects = 0;
                ib_debug("blob %s: %s, retrying (%u/%u) from byte %llu", j->digest, msg, j->attempt, retries,
                         (unsigned long long) ib_blob_writer_size(j->w));
                ib_registry_emit(r, IB_PROGRESS_RETRY, j->digest, ib_blob_writer_size(j->w), j->size);
                j->not_before = ib_now_ms() + ib_backoff_ms(r, j->attempt, retry_after);
                return 0;
        }
        msg = j->overflow ? ib_strdupf("more data than the %llu bytes announced", (unsigned long long) j->size)
                          : ib_xfer_error(&j->x, cc);
        job_stop(m, j);
        return ib_err_set(err, 0, "blob %s: %s", j->digest, msg);
}

/* Download the blobs of @d that the store lacks, up to max_parallel at once. */
static int fetch_blobs(struct ib_registry *r, struct ib_store *s, struct ib_endpoint *ep, const char *path,
                       const struct ib_pull_desc *d, size_t n, unsigned *ret_fetched, struct ib_err **err)
{
        const struct ib_registry_opts *o = ib_registry_options(r);
        CURLM *m = ib_registry_multi(r);
        _cleanup_free_ char *scope = ib_strdupf("repository:%s:pull", path);
        _cleanup_free_ char *repo_key = ib_strdupf("%s/%s", ep->host, path);
        struct job *jobs = ib_calloc(n, sizeof(*jobs));
        size_t left = 0, active = 0;
        int res = 0;

        for (size_t i = 0; i < n; i++) {
                bool dup = false;
                for (size_t k = 0; k < i; k++)
                        dup |= strcmp(d[k].digest, d[i].digest) == 0;
                if (dup || ib_store_has_blob(s, d[i].digest)) {
                        jobs[i].done = true;
                        if (!dup)
                                ib_registry_emit(r, IB_PROGRESS_EXISTS, d[i].digest, d[i].size, d[i].size);
                        continue;
                }
                jobs[i].digest = d[i].digest;
                jobs[i].size = d[i].size;
                jobs[i].store = s;
                jobs[i].auth = true;
                /* The URLs are made here, before any request: learn the scheme
                 * first (a tag resolved offline by an earlier build never pinged
                 * this registry, and an http registry must not get https URLs). */
                res = ib_endpoint_ping(r, ep, err);
                if (res < 0)
                        goto out;
                jobs[i].q = (struct ib_req) { .ep = ep, .method = "GET", .scope = scope, .body_fd = -1,
                                              .url = ib_endpoint_url(ep, "%s/blobs/%s", path, d[i].digest) };
                jobs[i].url = ib_strdup(jobs[i].q.url);
                res = ib_blob_writer_new(s, &jobs[i].w, err);
                if (res < 0)
                        goto out;
                left++;
        }
        *ret_fetched = (unsigned) left;
        while (left > 0) {
                uint64_t now = ib_now_ms(), wait = 1000;
                int running = 0, queued;
                CURLMsg *msg;

                if (ib_registry_cancelled(r)) {
                        res = ib_err_set(err, ECANCELED, "blobs of %s: interrupted", repo_key);
                        goto out;
                }
                for (size_t i = 0; i < n && active < o->max_parallel; i++) {
                        struct job *j = &jobs[i];
                        if (j->done || j->active)
                                continue;
                        if (j->not_before > now) {
                                if (j->not_before - now < wait)
                                        wait = j->not_before - now;
                                continue;
                        }
                        res = job_start(r, m, j, err);
                        if (res < 0)
                                goto out;
                        active++;
                }
                if (active == 0) {
                        res = ib_registry_sleep(r, (unsigned) wait, repo_key, err);
                        if (res < 0)
                                goto out;
                        continue;
                }
                if (curl_multi_perform(m, &running) != CURLM_OK) {
                        res = ib_err_set(err, 0, "curl_multi_perform failed");
                        goto out;
                }
                while ((msg = curl_multi_info_read(m, &queued))) {
                        struct job *j = NULL;
                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &j);
                        CURLcode cc = msg->data.result;
                        active--;
                        res = job_finish(r, m, j, cc, o->pull_retries, err);
                        if (res < 0)
                                goto out;
                        if (res == 1) {
                                left--;
                                ib_blob_repo_record(s, j->digest, repo_key);
                        }
                        res = 0;
                }
                if (left > 0 && active > 0)
                        curl_multi_poll(m, NULL, 0, (int) (wait < 1000 ? wait : 1000), NULL);
        }
out:
        for (size_t i = 0; i < n; i++) {
                job_stop(m, &jobs[i]);
                ib_blob_writer_free(jobs[i].w);
                free(jobs[i].url);
                ib_req_release(&jobs[i].q);
                if (jobs[i].auth_hdr) {
                        explicit_bzero(jobs[i].auth_hdr, strlen(jobs[i].auth_hdr));
                        free(jobs[i].auth_hdr);
                }
                ib_err_free(&jobs[i].werr);
        }
        free(jobs);
        return res;
}

/* ------------------------------------------------------------------ pull */

static void free_descs(struct ib_pull_desc *d, size_t n)
{
        for (size_t i = 0; d && i < n; i++)
                free(d[i].digest);
        free(d);
}

static int check_schema(const char *mt, struct ib_err **err)
{
        if (!mt)
                return ib_err_set(err, EPROTO, "manifest of unknown type");
        if (strcmp(mt, IB_MT_DOCKER_SCHEMA1) == 0 || strcmp(mt, IB_MT_DOCKER_SCHEMA1_SIGNED) == 0)
                return ib_err_set(err, EPROTONOSUPPORT, "this image uses the obsolete Docker schema 1 manifest (%s), "
                                  "which imgbuild does not support; push it again with a current docker, "
                                  "skopeo or crane to convert it", mt);
        if (!ib_media_type_is_index(mt) && strcmp(mt, IB_MT_OCI_MANIFEST) != 0 && strcmp(mt, IB_MT_DOCKER_MANIFEST) != 0)
                return ib_err_set(err, EPROTO, "unsupported manifest media type `%s`", mt);
        return 0;
}

/* One source: endpoint + repository path. @ep NULL: the store only. */
static int pull_from(struct ib_registry *r, struct ib_store *s, struct ib_endpoint *ep, const char *path,
                     const struct ib_ref *ref, const struct ib_platform *plat, unsigned flags,
                     struct ib_pull_result **ret, struct ib_err **err)
{
        /* IB_PULL_CONFIG_ONLY: the manifest and config now, layers when needed */
        bool config_only = flags & IB_PULL_CONFIG_ONLY;
        _cleanup_free_ char *data = NULL, *mt = NULL, *digest = NULL, *child = NULL;
        _cleanup_free_ char *cdata = NULL, *cmt = NULL, *cdigest = NULL;
        struct ib_pull_desc *d = NULL;
        size_t len = 0, clen = 0, n = 0;
        struct ib_pull_result *p;
        unsigned fetched = 0;
        int res;

        if (!ep) {
                res = read_store_blob(s, ref->digest, IB_MANIFEST_MAX, &data, &len, err);
                if (res < 0)
                        return res;
                mt = ib_manifest_media_type(data, len, NULL);
                digest = ib_strdup(ref->digest);
        } else {
                _cleanup_free_ char *recorded = NULL;
                _cleanup_err_ struct ib_err *e = NULL;
                if (!ref->digest && ib_registry_local_digest(s, ref, &recorded, &e) < 0)
                        recorded = NULL;
                res = get_manifest(r, s, ep, path, ref->digest ? ref->digest : ref->tag, recorded, &data, &len, &mt,
                                   &digest, err);
                if (res < 0)
                        return res;
        }
        res = check_schema(mt, err);
        if (res < 0)
                return res;
        if (ib_media_type_is_index(mt)) {
                res = ib_platform_select(data, len, plat, &child, NULL, err);
                if (res < 0)
                        return res;
                if (!ep) {
                        res = read_store_blob(s, child, IB_MANIFEST_MAX, &cdata, &clen, err);
                        if (res < 0)
                                return res;
                        cmt = ib_manifest_media_type(cdata, clen, NULL);
                        cdigest = ib_strdup(child);
                } else {
                        res = get_manifest(r, s, ep, path, child, NULL, &cdata, &clen, &cmt, &cdigest, err);
                        if (res < 0)
                                return res;
                }
                res = check_schema(cmt, err);
                if (res < 0)
                        return res;
                if (ib_media_type_is_index(cmt))
                        return ib_err_set(err, EPROTO, "index %s points at another index %s", digest, child);
        }
        res = ib_pull_parse_manifest(cdata ? cdata : data, cdata ? clen : len, &d, &n, err);
        if (res < 0)
                return ib_err_wrap(err, "manifest %s", cdigest ? cdigest : digest);
        if (!ep) {
                for (size_t i = 0; i < (config_only ? 1 : n); i++)
                        if (!ib_store_has_blob(s, d[i].digest)) {
                                free_descs(d, n);
                                return -ENOENT;  /* not all local: the caller goes to the network */
                        }
        } else {
                res = fetch_blobs(r, s, ep, path, d, config_only ? 1 : n, &fetched, err);
                if (res < 0) {
                        free_descs(d, n);
                        return res;
                }
        }
        p = ib_calloc(1, sizeof(*p));
        p->digest = IB_TAKE_PTR(digest);
        p->media_type = IB_TAKE_PTR(mt);
        p->manifest_digest = ib_strdup(cdigest ? cdigest : p->digest);
        p->config_digest = ib_strdup(d[0].digest);
        p->n_layers = n - 1;
        p->layers = ib_calloc(n, sizeof(char *));
        for (size_t i = 1; i < n; i++)
                p->layers[i - 1] = ib_strdup(d[i].digest);
        p->fetched = fetched;
        free_descs(d, n);
        *ret = p;
        return 0;
}

/* "host[:port][/prefix]" of a mirror or map target, and the path under it. */
static void split_target(const char *to, const char *path, char **ret_host, char **ret_path)
{
        const char *slash = strchr(to, '/');
        if (ib_startswith(to, "https://"))
                to += 8;
        else if (ib_startswith(to, "http://"))
                to += 7;
        slash = strchr(to, '/');
        *ret_host = slash ? ib_strndup(to, (size_t) (slash - to)) : ib_strdup(to);
        if (slash && slash[1]) {
                size_t pl = strlen(slash + 1);
                while (pl && slash[1 + pl - 1] == '/')
                        pl--;
                *ret_path = ib_strdupf("%.*s/%s", (int) pl, slash + 1, path);
        } else {
                *ret_path = ib_strdup(path);
        }
}

static const char *api_host(const char *domain)
{
        return strcmp(domain, "docker.io") == 0 ? "registry-1.docker.io" : domain;
}

int ib_registry_pull_local(struct ib_store *store, const struct ib_ref *ref, const struct ib_platform *platform,
                          unsigned flags, struct ib_pull_result **ret, struct ib_err **err)
{
        _cleanup_free_ char *recorded = NULL;
        _cleanup_(ib_ref_freep) struct ib_ref *pinned = NULL;
        struct ib_platform host;
        struct ib_err *e = NULL;
        int res;

        if (!platform) {
                ib_platform_host(&host);
                platform = &host;
        }
        if (!ref->digest && ib_registry_local_digest(store, ref, &recorded, &e) < 0) {
                ib_err_free(&e);
                return -ENOENT;
        }
        pinned = ib_ref_with_digest(ref, ref->digest ? ref->digest : recorded);
        if (!ib_store_has_blob(store, pinned->digest))
                return -ENOENT;
        res = pull_from(NULL, store, NULL, NULL, pinned, platform, flags, ret, &e);
        if (res == -ENOENT)
                ib_err_free(&e);
        else if (res < 0)
                *err = e;
        return res;
}

int ib_registry_pull(struct ib_registry *r, struct ib_store *store, const struct ib_ref *ref,
                     const struct ib_platform *platform, struct ib_pull_result **ret, struct ib_err **err)
{
        return ib_registry_pull_ex(r, store, ref, platform, 0, ret, err);
}

int ib_registry_pull_ex(struct ib_registry *r, struct ib_store *store, const struct ib_ref *ref,
                        const struct ib_platform *platform, unsigned flags, struct ib_pull_result **ret,
                        struct ib_err **err)
{
        const struct ib_registry_opts *o = ib_registry_options(r);
        struct ib_platform host;
        char **hosts = NULL, **paths = NULL;
        int res = -EIO;

        if (!platform) {
                ib_platform_host(&host);
                platform = &host;
        }
        if (ref->digest && ib_store_has_blob(store, ref->digest)) {
                _cleanup_err_ struct ib_err *e = NULL;
                res = pull_from(r, store, NULL, NULL, ref, platform, flags, ret, &e);
                if (res == 0) {
                        ib_debug("%s: everything is in the store, no network needed", ref->digest);
                        return 0;
                }
                if (res != -ENOENT) {
                        *err = IB_TAKE_PTR(e);
                        return res;
                }
        }
        /* sources, in order: --registry-map targets, docker.io mirrors, the registry itself */
        for (size_t i = 0; i < o->n_maps; i++) {
                _cleanup_free_ char *from = ib_creds_key_host(o->maps[i].from);
                if (strcmp(from, ref->domain) == 0) {
                        char *h, *p;
                        split_target(o->maps[i].to, ref->path, &h, &p);
                        ib_strv_push(&hosts, h);
                        ib_strv_push(&paths, p);
                        free(h);
                        free(p);
                }
        }
        for (size_t i = 0; strcmp(ref->domain, "docker.io") == 0 && o->mirrors && o->mirrors[i]; i++) {
                char *h, *p;
                split_target(o->mirrors[i], ref->path, &h, &p);
                ib_strv_push(&hosts, h);
                ib_strv_push(&paths, p);
                free(h);
                free(p);
        }
        /* Kaniko's --skip-default-registry-fallback: with a mirror or map that
         * applies, the registry itself is never asked */
        if (!o->skip_default_fallback || !hosts) {
                ib_strv_push(&hosts, api_host(ref->domain));
                ib_strv_push(&paths, ref->path);
        }

        for (size_t i = 0; hosts[i]; i++) {
                struct ib_endpoint *ep = ib_endpoint_get(r, hosts[i], false);
                if (i > 0)
                        ib_err_free(err);
                res = pull_from(r, store, ep, paths[i], ref, platform, flags, ret, err);
                if (res == 0) {
                        if (i + 1 < ib_strv_len(hosts))
                                ib_debug("pulled %s/%s from %s", ref->domain, ref->path, hosts[i]);
                        record_tag(store, ref, (*ret)->digest);
                        break;
                }
                if (hosts[i + 1])
                        ib_debug("source %s/%s failed, trying the next: %s", hosts[i], paths[i], (*err)->msg);
        }
        ib_strv_free(hosts);
        ib_strv_free(paths);
        return res;
}
