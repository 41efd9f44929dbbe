/* registry/client.c - the HTTP engine: one libcurl share handle (connections,
 * DNS, TLS sessions) for every transfer, endpoints (scheme choice and TLS
 * options per registry host), the Basic/Bearer challenge flow with a token
 * cache, redirects followed by hand so Authorization never leaves its origin,
 * and retries with exponential backoff.
 *
 * Secrets: Authorization headers are built into curl_slists only; nothing in
 * this file logs a header, a token, a password or a URL's query string of a
 * token request. */
#include "registry/internal.h"
#include <ctype.h>
#include <poll.h>
#include <time.h>
#include <yajl/yajl_tree.h>

#ifndef IB_VERSION
#define IB_VERSION "dev"     /* fuzz builds do not pass -DIB_VERSION */
#endif
#define MAX_REDIRECTS 10
#define BACKOFF_MAX_MS 10000u
#define RETRY_AFTER_MAX_S 60

struct token {
        struct token *next;
        char *key;              /* realm \n service \n scope */
        char *value;
        time_t expires;
};

struct known {
        struct known *next;
        char *repo_key;
        char *digest;
};

struct ib_registry {
        struct ib_registry_opts o;
        CURLSH *share;
        CURLM *multi;
        struct ib_endpoint *eps;
        struct token *tokens;
        struct known *known;
        ib_progress_fn progress;
        void *progress_ud;
        bool auth_set;          /* auth_json came from ib_registry_set_auth_config */
        bool auth_loaded;
        char *auth_json;        /* the auth file's text, or NULL */
};

/* ---------------------------------------------------------------- options */

void ib_registry_opts_init(struct ib_registry_opts *o)
{
        memset(o, 0, sizeof(*o));
        o->pull_retries = 3;
        o->push_retries = 3;
        o->max_parallel = 4;
        o->chunk_size = 32u << 20;
        o->retry_base_ms = 500;
        o->cancel_fd = -1;
}

void ib_registry_opts_release(struct ib_registry_opts *o)
{
        ib_strv_free(o->insecure_registries);
        ib_strv_free(o->skip_tls_verify_registries);
        ib_strv_free(o->mirrors);
        for (size_t i = 0; i < o->n_certs; i++) {
                free(o->certs[i].registry);
                free(o->certs[i].ca_file);
                free(o->certs[i].cert_file);
                free(o->certs[i].key_file);
        }
        free(o->certs);
        for (size_t i = 0; i < o->n_maps; i++) {
                free(o->maps[i].from);
                free(o->maps[i].to);
        }
        free(o->maps);
        memset(o, 0, sizeof(*o));
}

static char *dup_or_null(const char *s)
{
        return s ? ib_strdup(s) : NULL;
}

static void opts_copy(struct ib_registry_opts *d, const struct ib_registry_opts *s)
{
        *d = *s;
        d->insecure_registries = s->insecure_registries ? ib_strv_dup(s->insecure_registries) : NULL;
        d->skip_tls_verify_registries = s->skip_tls_verify_registries ? ib_strv_dup(s->skip_tls_verify_registries) : NULL;
        d->mirrors = s->mirrors ? ib_strv_dup(s->mirrors) : NULL;
        d->certs = s->n_certs ? ib_calloc(s->n_certs, sizeof(*d->certs)) : NULL;
        for (size_t i = 0; i < s->n_certs; i++) {
                d->certs[i].registry = dup_or_null(s->certs[i].registry);
                d->certs[i].ca_file = dup_or_null(s->certs[i].ca_file);
                d->certs[i].cert_file = dup_or_null(s->certs[i].cert_file);
                d->certs[i].key_file = dup_or_null(s->certs[i].key_file);
        }
        d->maps = s->n_maps ? ib_calloc(s->n_maps, sizeof(*d->maps)) : NULL;
        for (size_t i = 0; i < s->n_maps; i++) {
                d->maps[i].from = ib_strdup(s->maps[i].from);
                d->maps[i].to = ib_strdup(s->maps[i].to);
        }
        if (!d->max_parallel)
                d->max_parallel = 1;
        if (!d->chunk_size)
                d->chunk_size = 32u << 20;
}

/* ------------------------------------------------------------ the client */

int ib_registry_new(const struct ib_registry_opts *opts, struct ib_registry **ret, struct ib_err **err)
{
        static bool global_done;
        struct ib_registry *r;

        if (!global_done) {
                if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                        return ib_err_set(err, 0, "libcurl initialisation failed%s%s",
                                          ib_curl_load_error() ? ": " : "",
                                          ib_curl_load_error() ? ib_curl_load_error() : "");
                global_done = true;
        }
        r = ib_calloc(1, sizeof(*r));
        if (opts) {
                opts_copy(&r->o, opts);
        } else {
                ib_registry_opts_init(&r->o);
        }
        r->share = curl_share_init();
        r->multi = curl_multi_init();
        if (!r->share || !r->multi) {
                ib_registry_free(r);
                return ib_err_set(err, ENOMEM, "libcurl share/multi handle");
        }
        curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
        curl_multi_setopt(r->multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
        curl_multi_setopt(r->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) r->o.max_parallel);
        *ret = r;
        return 0;
}

static void endpoint_free(struct ib_endpoint *ep)
{
        free(ep->host);
        free(ep->scheme);
        free(ep->auth_scheme);
        free(ep->realm);
        free(ep->service);
        ib_creds_clear(&ep->creds);
        free(ep);
}

static void token_free(struct token *t)
{
        free(t->key);
        if (t->value) {
                explicit_bzero(t->value, strlen(t->value));
                free(t->value);
        }
        free(t);
}

void ib_registry_free(struct ib_registry *r)
{
        if (!r)
                return;
        while (r->eps) {
                struct ib_endpoint *n = r->eps->next;
                endpoint_free(r->eps);
                r->eps = n;
        }
        while (r->tokens) {
                struct token *n = r->tokens->next;
                token_free(r->tokens);
                r->tokens = n;
        }
        while (r->known) {
                struct known *n = r->known->next;
                free(r->known->repo_key);
                free(r->known->digest);
                free(r->known);
                r->known = n;
        }
        if (r->multi)
                curl_multi_cleanup(r->multi);
        if (r->share)
                curl_share_cleanup(r->share);
        if (r->auth_json) {
                explicit_bzero(r->auth_json, strlen(r->auth_json));
                free(r->auth_json);
        }
        ib_registry_opts_release(&r->o);
        free(r);
}

void ib_registry_set_progress(struct ib_registry *r, ib_progress_fn fn, void *userdata)
{
        r->progress = fn;
        r->progress_ud = userdata;
}

void ib_registry_set_auth_config(struct ib_registry *r, const char *json)
{
        free(r->auth_json);
        r->auth_json = json ? ib_strdup(json) : NULL;
        r->auth_set = json != NULL;
        r->auth_loaded = json != NULL;
}

void ib_registry_emit(struct ib_registry *r, enum ib_progress_event ev, const char *digest, uint64_t done,
                      uint64_t total)
{
        if (r->progress)
                r->progress(r->progress_ud, ev, digest, done, total);
}

const struct ib_registry_opts *ib_registry_options(const struct ib_registry *r)
{
        return &r->o;
}

CURLM *ib_registry_multi(struct ib_registry *r)
{
        return r->multi;
}

void ib_registry_known_add(struct ib_registry *r, const char *repo_key, const char *digest)
{
        struct known *k;

        if (ib_registry_known(r, repo_key, digest))
                return;
        k = ib_calloc(1, sizeof(*k));
        k->repo_key = ib_strdup(repo_key);
        k->digest = ib_strdup(digest);
        k->next = r->known;
        r->known = k;
}

bool ib_registry_known(struct ib_registry *r, const char *repo_key, const char *digest)
{
        for (struct known *k = r->known; k; k = k->next)
                if (strcmp(k->repo_key, repo_key) == 0 && strcmp(k->digest, digest) == 0)
                        return true;
        return false;
}

bool ib_registry_cancelled(const struct ib_registry *r)
{
        struct pollfd p = { .fd = r->o.cancel_fd, .events = POLLIN };
        return r->o.cancel_fd >= 0 && poll(&p, 1, 0) > 0;
}

int ib_registry_sleep(struct ib_registry *r, unsigned ms, const char *what, struct ib_err **err)
{
        struct pollfd p = { .fd = r->o.cancel_fd, .events = POLLIN };
        uint64_t end = ib_now_ms() + ms;

        if (r->o.cancel_fd < 0) {
                ib_sleep_ms(ms);
                return 0;
        }
        for (uint64_t now = ib_now_ms(); now < end; now = ib_now_ms())
                if (poll(&p, 1, (int) (end - now)) > 0)
                        break;
        if (ib_registry_cancelled(r))
                return ib_err_set(err, ECANCELED, "%s: interrupted", what);
        return 0;
}

void ib_sleep_ms(unsigned ms)
{
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

uint64_t ib_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

unsigned ib_backoff_ms(const struct ib_registry *r, unsigned attempt, long retry_after)
{
        unsigned ms = r->o.retry_base_ms;

        for (unsigned i = 1; i < attempt && ms < BACKOFF_MAX_MS; i++)
                ms *= 2;
        if (ms > BACKOFF_MAX_MS)
                ms = BACKOFF_MAX_MS;
        if (retry_after >= 0) {
                unsigned ra = (unsigned) (retry_after > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : retry_after) * 1000u;
                if (ra > ms)
                        ms = ra;
        }
        return ms;
}

/* -------------------------------------------------------------- endpoints */

bool ib_registry_is_loopback(const char *domain)
{
        _cleanup_free_ char *host = NULL;

        if (domain[0] == '[') {
                const char *e = strchr(domain, ']');
                host = ib_strndup(domain + 1, e ? (size_t) (e - domain - 1) : 0);
                return strcmp(host, "::1") == 0;
        }
        host = ib_strndup(domain, strcspn(domain, ":"));
        if (strcmp(host, "localhost") == 0)
                return true;
        if (ib_startswith(host, "127.")) {
                unsigned a, b, c, d;
                char tail;
                return sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
                       c < 256 && d < 256;
        }
        return false;
}

static bool host_in(char *const *list, const char *host)
{
        for (size_t i = 0; list && list[i]; i++) {
                _cleanup_free_ char *h = ib_creds_key_host(list[i]);
                if (strcmp(h, host) == 0)
                        return true;
        }
        return false;
}

struct ib_endpoint *ib_endpoint_get(struct ib_registry *r, const char *host, bool push)
{
        struct ib_endpoint *ep;
        _cleanup_free_ char *norm = ib_creds_key_host(host);

        for (ep = r->eps; ep; ep = ep->next)
                if (ep->push == push && strcmp(ep->host, host) == 0)
                        return ep;
        ep = ib_calloc(1, sizeof(*ep));
        ep->host = ib_strdup(host);
        ep->push = push;
        ep->insecure = ib_registry_is_loopback(host) || host_in(r->o.insecure_registries, norm) ||
                       (push ? r->o.insecure_push : r->o.insecure_pull);
        ep->skip_verify = r->o.skip_tls_verify || (!push && r->o.skip_tls_verify_pull) ||
                          host_in(r->o.skip_tls_verify_registries, norm);
        for (size_t i = 0; i < r->o.n_certs; i++) {
                _cleanup_free_ char *h = ib_creds_key_host(r->o.certs[i].registry);
                if (strcmp(h, norm) != 0)
                        continue;
                if (r->o.certs[i].ca_file)
                        ep->ca_file = r->o.certs[i].ca_file;
                if (r->o.certs[i].cert_file) {
                        ep->cert_file = r->o.certs[i].cert_file;
                        ep->key_file = r->o.certs[i].key_file;
                }
        }
        ep->next = r->eps;
        r->eps = ep;
        return ep;
}

char *ib_endpoint_url(const struct ib_endpoint *ep, const char *fmt, ...)
{
        struct ib_buf b = IB_BUF_INIT;
        va_list ap;

        ib_buf_addf(&b, "%s://%s/v2/", ep->scheme ? ep->scheme : "https", ep->host);
        va_start(ap, fmt);
        ib_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        return ib_buf_detach(&b);
}

/* Host part ("host[:port]") of an absolute URL; NULL if it has none. */
static char *url_part(const char *url, CURLUPart part)
{
        CURLU *u = curl_url();
        char *v = NULL, *ret = NULL;

        if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(u, part, &v, part == CURLUPART_PORT ? CURLU_DEFAULT_PORT : 0) == CURLUE_OK) {
                ret = ib_strdup(v);
                curl_free(v);
        }
        curl_url_cleanup(u);
        return ret;
}

int ib_url_msg_len(const char *url)
{
        size_t n = strcspn(url, "?#");
        return n > 512 ? 512 : (int) n;
}

bool ib_same_origin(const char *a, const char *b)
{
        static const CURLUPart parts[] = { CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT };

        for (size_t i = 0; i < IB_ELEMENTSOF(parts); i++) {
                _cleanup_free_ char *x = url_part(a, parts[i]), *y = url_part(b, parts[i]);
                if (!x || !y || strcasecmp(x, y) != 0)
                        return false;
        }
        return true;
}

/* Resolve @rel against @base (Location headers may be relative). */
static char *url_resolve(const char *base, const char *rel)
{
        CURLU *u = curl_url();
        char *v = NULL, *ret = NULL;

        if (u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
            curl_url_set(u, CURLUPART_URL, rel, 0) == CURLUE_OK && curl_url_get(u, CURLUPART_URL, &v, 0) == CURLUE_OK) {
                ret = ib_strdup(v);
                curl_free(v);
        }
        curl_url_cleanup(u);
        return ret;
}

void ib_curl_tls(struct ib_registry *r, CURL *h, const char *url, struct ib_endpoint *ep)
{
        if (!ep) {
                /* A host reached through a redirect or a token realm: its own
                 * configuration if it has one (pull side), else the global flags. */
                _cleanup_free_ char *host = url_part(url, CURLUPART_HOST), *port = url_part(url, CURLUPART_PORT);
                _cleanup_free_ char *scheme = url_part(url, CURLUPART_SCHEME);
                if (host) {
                        bool def = port && scheme && ((strcmp(scheme, "https") == 0 && strcmp(port, "443") == 0) ||
                                                      (strcmp(scheme, "http") == 0 && strcmp(port, "80") == 0));
                        _cleanup_free_ char *hp = def || !port ? ib_strdup(host) : ib_strdupf("%s:%s", host, port);
                        ep = ib_endpoint_get(r, hp, false);
                }
        }
        if (!ep)
                return;
        if (ep->skip_verify) {
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (ep->ca_file)
                curl_easy_setopt(h, CURLOPT_CAINFO, ep->ca_file);
        if (ep->cert_file) {
                curl_easy_setopt(h, CURLOPT_SSLCERT, ep->cert_file);
                if (ep->key_file)
                        curl_easy_setopt(h, CURLOPT_SSLKEY, ep->key_file);
        }
}

/* ------------------------------------------------------------ one exchange */

static void set_str(char **dst, const char *v, size_t n)
{
        free(*dst);
        *dst = ib_strndup(v, n);
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *ud)
{
        struct ib_xfer *x = ud;
        size_t n = size * nmemb, vlen;
        const char *colon, *v;

        if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
                /* a new response (after 100 Continue): forget the previous headers */
                const char *sp = memchr(data, ' ', n), *sp2;
                x->www.len = 0;
                x->www.buf[0] = '\0';
                x->retry_after = -1;
                x->clen = -1;
                x->reason[0] = '\0';
                if (sp) {
                        sp2 = memchr(sp + 1, ' ', n - (size_t) (sp + 1 - data));
                        if (sp2) {
                                size_t rl = n - (size_t) (sp2 + 1 - data);
                                while (rl && (sp2[1 + rl - 1] == '\r' || sp2[1 + rl - 1] == '\n'))
                                        rl--;
                                snprintf(x->reason, sizeof(x->reason), "%.*s", (int) rl, sp2 + 1);
                        }
                }
                return n;
        }
        colon = memchr(data, ':', n);
        if (!colon)
                return n;
        v = colon + 1;
        while (v < data + n && (*v == ' ' || *v == '\t'))
                v++;
        vlen = (size_t) (data + n - v);
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
                vlen--;
#define IS(name) ((size_t) (colon - data) == strlen(name) && strncasecmp(data, name, strlen(name)) == 0)
        if (IS("www-authenticate")) {
                if (x->www.len + vlen < 65536) {
                        if (x->www.len)
                                ib_buf_adds(&x->www, ", ");
                        ib_buf_add(&x->www, v, vlen);
                }
        } else if (IS("location")) {
                set_str(&x->location, v, vlen);
        } else if (IS("content-type")) {
                set_str(&x->ctype, v, vlen);
        } else if (IS("docker-content-digest")) {
                set_str(&x->dcd, v, vlen);
        } else if (IS("content-range")) {
                set_str(&x->content_range, v, vlen);
        } else if (IS("content-length")) {
                char tmp[32];
                snprintf(tmp, sizeof(tmp), "%.*s", (int) (vlen < 31 ? vlen : 31), v);
                x->clen = isdigit((unsigned char) tmp[0]) ? (int64_t) strtoll(tmp, NULL, 10) : -1;
        } else if (IS("retry-after")) {
                char tmp[32];
                snprintf(tmp, sizeof(tmp), "%.*s", (int) (vlen < 31 ? vlen : 31), v);
                /* Seconds only; an HTTP date is treated as "soon". */
                x->retry_after = isdigit((unsigned char) tmp[0]) ? strtol(tmp, NULL, 10) : 1;
        }
#undef IS
        return n;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
        struct ib_xfer *x = ud;
        size_t n = size * nmemb;
        long status = 0;

        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
                if (x->sink && x->sink(x->sink_ud, x, data, n) < 0)
                        return 0;       /* CURLE_WRITE_ERROR ends the transfer */
                return n;
        }
        if (x->errbody.len < IB_ERRBODY_MAX)
                ib_buf_add(&x->errbody, data, n < IB_ERRBODY_MAX - x->errbody.len ? n : IB_ERRBODY_MAX - x->errbody.len);
        return n;
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
        struct ib_xfer *x = ud;
        size_t want = size * nitems;
        uint64_t left = x->body_total - x->body_pos;

        if (want > left)
                want = (size_t) left;
        if (want == 0)
                return 0;
        if (x->body_fd >= 0) {
                ssize_t n;
                do
                        n = pread(x->body_fd, buf, want, (off_t) (x->body_off + x->body_pos));
                while (n < 0 && errno == EINTR);
                if (n <= 0)
                        return CURL_READFUNC_ABORT;
                want = (size_t) n;
        } else {
                memcpy(buf, (const char *) x->body + x->body_pos, want);
        }
        x->body_pos += want;
        return want;
}

static int xferinfo_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
        struct ib_xfer *x = ud;
        uint64_t now = (uint64_t) (dlnow > 0 ? dlnow : ulnow);
        (void) dltotal;
        (void) ultotal;
        /* called at least once a second, even on a stalled connection */
        if (x->cancel && ib_registry_cancelled(x->cancel))
                return 1;       /* CURLE_ABORTED_BY_CALLBACK */
        if (x->reg && x->what && now && x->reg->progress)
                ib_registry_emit(x->reg, IB_PROGRESS_BYTES, x->what, x->prog_base + now, x->prog_total);
        return 0;
}

void ib_curl_common(struct ib_registry *r, CURL *h, const char *url, bool share)
{
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "imgbuild/" IB_VERSION);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
        /* A stalled transfer (under 1 byte/s for a minute) is a connection error. */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");      /* blobs are gzip already; this is for JSON */
        if (share)
                curl_easy_setopt(h, CURLOPT_SHARE, r->share);
}

int ib_xfer_setup(struct ib_registry *r, struct ib_xfer *x, struct ib_req *q, const char *url, const char *auth,
                  const char *range, struct ib_err **err)
{
        struct curl_slist *hl = NULL;
        char line[256];

        x->h = curl_easy_init();
        if (!x->h)
                return ib_err_set(err, ENOMEM, "curl_easy_init");
        x->errbuf[0] = '\0';
        x->status = 0;
        x->retry_after = -1;
        x->clen = -1;
        if (!x->www.buf)
                x->www = (struct ib_buf) IB_BUF_INIT;
        if (!x->errbody.buf)
                x->errbody = (struct ib_buf) IB_BUF_INIT;
        ib_curl_common(r, x->h, url, true);
        ib_curl_tls(r, x->h, url, q->ep && ib_same_origin(url, q->url) ? q->ep : NULL);
        curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
        curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
        curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
        if ((r->progress && x->what) || r->o.cancel_fd >= 0) {
                x->reg = r;
                x->cancel = r->o.cancel_fd >= 0 ? r : NULL;
                curl_easy_setopt(x->h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
                curl_easy_setopt(x->h, CURLOPT_XFERINFODATA, x);
                curl_easy_setopt(x->h, CURLOPT_NOPROGRESS, 0L);
        }

        if (strcmp(q->method, "HEAD") == 0) {
                curl_easy_setopt(x->h, CURLOPT_NOBODY, 1L);
        } else if (strcmp(q->method, "GET") != 0) {
                curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, q->method);
                if (q->has_body) {
                        x->body = q->body;
                        x->body_len = q->body_len;
                        x->body_fd = q->body_fd;
                        x->body_off = q->body_off;
                        x->body_total = q->body_fd >= 0 ? q->body_fd_len : q->body_len;
                        x->body_pos = 0;
                        curl_easy_setopt(x->h, CURLOPT_UPLOAD, 1L);
                        curl_easy_setopt(x->h, CURLOPT_READFUNCTION, read_cb);
                        curl_easy_setopt(x->h, CURLOPT_READDATA, x);
                        curl_easy_setopt(x->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t) x->body_total);
                } else {
                        curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, "");
                        curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE, 0L);
                }
        }
        hl = curl_slist_append(hl, "Expect:");
        if (auth)
                hl = curl_slist_append(hl, auth);
        if (q->accept) {
                snprintf(line, sizeof(line), "Accept: %s", q->accept);
                hl = curl_slist_append(hl, line);
        }
        if (q->content_type) {
                snprintf(line, sizeof(line), "Content-Type: %s", q->content_type);
                hl = curl_slist_append(hl, line);
        }
        if (q->content_range) {
                snprintf(line, sizeof(line), "Content-Range: %s", q->content_range);
                hl = curl_slist_append(hl, line);
        }
        if (range) {
                snprintf(line, sizeof(line), "Range: %s", range);
                hl = curl_slist_append(hl, line);
        }
        x->headers = hl;
        curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, hl);
        return 0;
}

enum ib_outcome ib_xfer_done(struct ib_xfer *x, CURLcode cc)
{
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
        if (cc != CURLE_OK) {
                /* Our own sink refusing data is not worth a retry by itself; the
                 * caller looks at its sink state.  Everything else is transport. */
                if (cc == CURLE_WRITE_ERROR || cc == CURLE_ABORTED_BY_CALLBACK)
                        return IB_OUT_RETRY;
                if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
                    cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT)
                        return IB_OUT_FAIL;
                return IB_OUT_RETRY;
        }
        if (x->status >= 200 && x->status < 300)
                return IB_OUT_OK;
        if (x->status == 301 || x->status == 302 || x->status == 303 || x->status == 307 || x->status == 308)
                return x->location ? IB_OUT_REDIRECT : IB_OUT_FAIL;
        if (x->status == 401)
                return IB_OUT_AUTH;
        if (x->status == 408 || x->status == 429 || x->status >= 500)
                return IB_OUT_RETRY;
        return IB_OUT_FAIL;
}

void ib_xfer_release(struct ib_xfer *x)
{
        if (x->h)
                curl_easy_cleanup(x->h);
        x->h = NULL;
        curl_slist_free_all(x->headers);        /* holds the Authorization line */
        x->headers = NULL;
        free(x->location);
        free(x->ctype);
        free(x->dcd);
        free(x->content_range);
        x->location = x->ctype = x->dcd = x->content_range = NULL;
        if (x->www.buf)
                ib_buf_release(&x->www);
        if (x->errbody.buf)
                ib_buf_release(&x->errbody);
}

char *ib_http_error_text(long status, const char *reason, const char *body, size_t len)
{
        _cleanup_err_ struct ib_err *e = NULL;
        _cleanup_json_ yajl_val doc = len ? ib_json_parse(body, len, "error", &e) : NULL;
        yajl_val errs = ib_json_get(doc, "errors");
        struct ib_buf b = IB_BUF_INIT;

        if (errs && YAJL_IS_ARRAY(errs) && errs->u.array.len > 0) {
                for (size_t i = 0; i < errs->u.array.len && i < 3; i++) {
                        yajl_val it = errs->u.array.values[i];
                        const char *code = ib_json_get_str(it, "code"), *msg = ib_json_get_str(it, "message");
                        ib_buf_addf(&b, "%s%ld %s", i ? "; " : "", status, code ? code : "ERROR");
                        if (msg && *msg)
                                ib_buf_addf(&b, ": %.300s", msg);
                }
                return ib_buf_detach(&b);
        }
        /* token servers: {"details": ...} / {"error": ..., "error_description": ...} */
        const char *m = ib_json_get_str(doc, "details");
        if (!m)
                m = ib_json_get_str(doc, "detail");
        if (!m)
                m = ib_json_get_str(doc, "error_description");
        if (!m)
                m = ib_json_get_str(doc, "error");
        if (!m)
                m = ib_json_get_str(doc, "message");
        ib_buf_addf(&b, "%ld", status);
        if (reason && *reason)
                ib_buf_addf(&b, " %s", reason);
        if (m && *m)
                ib_buf_addf(&b, ": %.300s", m);
        return ib_buf_detach(&b);
}

char *ib_xfer_error(struct ib_xfer *x, CURLcode cc)
{
        if (cc != CURLE_OK && cc != CURLE_HTTP_RETURNED_ERROR)
                return ib_strdup(x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
        return ib_http_error_text(x->status, x->reason, x->errbody.buf, x->errbody.len);
}

/* ---------------------------------------------------------------- auth */

static void load_auth_file(struct ib_registry *r)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_err_ struct ib_err *e = NULL;
        size_t len;

        if (r->auth_loaded)
                return;
        r->auth_loaded = true;
        path = ib_auth_file_find();
        if (!path) {
                ib_debug("no auth file found: anonymous access");
                return;
        }
        if (ib_read_file(path, 1u << 20, &r->auth_json, &len, &e) < 0) {
                ib_debug("auth file `%s` unreadable, ignoring: %s", path, e->msg);
                return;
        }
        ib_debug("using auth file `%s`", path);
}

static int endpoint_creds(struct ib_registry *r, struct ib_endpoint *ep, struct ib_err **err)
{
        _cleanup_free_ char *name = NULL;
        int res;

        if (ep->creds_loaded)
                return 0;
        load_auth_file(r);
        ep->creds_loaded = true;
        if (!r->auth_json)
                return 0;
        name = ib_creds_key_host(ep->host);
        res = ib_creds_from_config(r->auth_json, strlen(r->auth_json), name, &ep->creds, err);
        if (res < 0)
                return ib_err_wrap(err, "credentials for `%s`", ep->host);
        return 0;
}

static char *token_key(const char *realm, const char *service, const char *scope)
{
        return ib_strdupf("%s\n%s\n%s", realm, service ? service : "", scope ? scope : "");
}

static struct token *token_find(struct ib_registry *r, const char *key)
{
        for (struct token *t = r->tokens; t; t = t->next)
                if (strcmp(t->key, key) == 0)
                        return t;
        return NULL;
}

static void token_drop(struct ib_registry *r, const char *key)
{
        for (struct token **p = &r->tokens; *p; p = &(*p)->next)
                if (strcmp((*p)->key, key) == 0) {
                        struct token *t = *p;
                        *p = t->next;
                        token_free(t);
                        return;
                }
}

static int mem_sink(void *ud, struct ib_xfer *x, const void *data, size_t n)
{
        struct ib_req *q = ud;
        (void) x;
        if (!q->out)
                return 0;
        if (q->out->len + n > q->out_max) {
                q->out_overflow = true;
                return -1;
        }
        ib_buf_add(q->out, data, n);
        return 0;
}

/* Add "name=value" (value URL-escaped) to a query or form. */
static void add_form(struct ib_buf *b, CURL *h, const char *name, const char *value)
{
        char *esc = curl_easy_escape(h, value, 0);
        ib_buf_addf(b, "%s%s=%s", b->len ? "&" : "", name, esc ? esc : "");
        curl_free(esc);
}

int ib_token_parse(const char *body, size_t len, char **ret, time_t *ret_expires, struct ib_err **err)
{
        _cleanup_json_ yajl_val doc = ib_json_parse(body, len, "token response", err);
        const char *tok = ib_json_get_str(doc, "token");
        yajl_val exp = ib_json_get(doc, "expires_in");
        long long secs = exp && YAJL_IS_INTEGER(exp) ? YAJL_GET_INTEGER(exp) : 60;

        if (!doc)
                return -EINVAL;
        if (!tok || !*tok)
                tok = ib_json_get_str(doc, "access_token");
        if (!tok || !*tok)
                return ib_err_set(err, 0, "token response has no token");
        /* the spec's minimum; and a huge value must not overflow time_t below */
        secs = secs < 60 ? 60 : secs > 86400 * 365 ? 86400 * 365 : secs;
        *ret = ib_strdup(tok);
        /* renew a little early so a long transfer does not start on a dying token */
        *ret_expires = time(NULL) + (time_t) secs - 10;
        return 0;
}

/* Fetch a bearer token for @scope (space-separated scopes) from the endpoint's
 * realm: POST form with the refresh token when we hold an identity token,
 * else GET with Basic credentials (or anonymously). */
static int fetch_token(struct ib_registry *r, struct ib_endpoint *ep, const char *scope, char **ret,
                       time_t *ret_expires, struct ib_err **err)
{
        struct ib_buf url = IB_BUF_INIT, form = IB_BUF_INIT, body = IB_BUF_INIT;
        _cleanup_free_ char *auth = NULL;
        CURL *esc = curl_easy_init();
        unsigned attempt = 0;
        int res = 0;
        bool post = ep->creds.identity_token != NULL;

        if (!esc)
                return ib_err_set(err, ENOMEM, "curl_easy_init");
        if (!ib_startswith(ep->realm, "https://") && !ib_startswith(ep->realm, "http://")) {
                curl_easy_cleanup(esc);
                return ib_err_set(err, EINVAL, "token realm `%.200s` is not an http(s) URL", ep->realm);
        }
        ib_buf_adds(&url, ep->realm);
        if (post) {
                if (ep->service)
                        add_form(&form, esc, "service", ep->service);
                add_form(&form, esc, "grant_type", "refresh_token");
                add_form(&form, esc, "client_id", "imgbuild");
                add_form(&form, esc, "refresh_token", ep->creds.identity_token);
                if (scope && *scope)
                        add_form(&form, esc, "scope", scope);
        } else {
                struct ib_buf qs = IB_BUF_INIT;
                if (ep->service)
                        add_form(&qs, esc, "service", ep->service);
                for (const char *s = scope; s && *s;) {
                        size_t n = strcspn(s, " ");
                        _cleanup_free_ char *one = ib_strndup(s, n);
                        if (n)
                                add_form(&qs, esc, "scope", one);
                        s += n;
                        while (*s == ' ')
                                s++;
                }
                if (qs.len)
                        ib_buf_addf(&url, "%c%s", strchr(ep->realm, '?') ? '&' : '?', qs.buf);
                ib_buf_release(&qs);
                if (ep->creds.username) {
                        _cleanup_free_ char *up = ib_strdupf("%s:%s", ep->creds.username, ep->creds.password ? ep->creds.password : "");
                        _cleanup_free_ char *b64 = ib_base64_encode(up, strlen(up));
                        auth = ib_strdupf("Authorization: Basic %s", b64);
                        explicit_bzero(up, strlen(up));
                        explicit_bzero(b64, strlen(b64));
                }
        }
        curl_easy_cleanup(esc);

        for (;;) {
                struct ib_req q = { .method = post ? "POST" : "GET", .url = url.buf, .out = &body,
                                    .out_max = IB_TOKEN_MAX, .body_fd = -1 };
                struct ib_xfer x = { .sink = mem_sink, .sink_ud = &q, .body_fd = -1 };
                enum ib_outcome o;
                CURLcode cc;

                if (post) {
                        q.content_type = "application/x-www-form-urlencoded";
                        q.has_body = true;
                        q.body = form.buf;
                        q.body_len = form.len;
                }
                ib_buf_reset(&body);
                res = ib_xfer_setup(r, &x, &q, url.buf, auth, NULL, err);
                if (res < 0)
                        break;
                cc = curl_easy_perform(x.h);
                o = ib_xfer_done(&x, cc);
                if (ib_registry_cancelled(r)) {
                        ib_xfer_release(&x);
                        res = ib_err_set(err, ECANCELED, "token server: interrupted");
                        break;
                }
                if (o == IB_OUT_OK) {
                        ib_xfer_release(&x);
                        break;
                }
                if (q.out_overflow) {
                        res = ib_err_set(err, EFBIG, "token response from `%s` larger than %u bytes", ep->realm,
                                         IB_TOKEN_MAX);
                        ib_xfer_release(&x);
                        break;
                }
                if (o == IB_OUT_RETRY && attempt < r->o.pull_retries) {
                        attempt++;
                        ib_xfer_release(&x);
                        res = ib_registry_sleep(r, ib_backoff_ms(r, attempt, x.retry_after), "token server", err);
                        if (res < 0)
                                break;
                        continue;
                }
                _cleanup_free_ char *msg = ib_xfer_error(&x, cc);
                res = ib_err_set(err, 0, "%s (token server)", msg);
                ib_xfer_release(&x);
                break;
        }
        if (res == 0) {
                res = ib_token_parse(body.buf, body.len, ret, ret_expires, err);
        }
        explicit_bzero(form.buf, form.len);
        explicit_bzero(body.buf, body.len);
        ib_buf_release(&form);
        ib_buf_release(&body);
        ib_buf_release(&url);
        return res;
}

int ib_auth_header(struct ib_registry *r, struct ib_endpoint *ep, const char *scope, bool refresh, char **ret,
                   struct ib_err **err)
{
        int res = endpoint_creds(r, ep, err);

        *ret = NULL;
        if (res < 0)
                return res;
        if (ep->creds.registry_token) {
                *ret = ib_strdupf("Authorization: Bearer %s", ep->creds.registry_token);
                return 0;
        }
        if (!ep->auth_scheme)
                return 0;
        if (strcmp(ep->auth_scheme, "basic") == 0) {
                if (ep->creds.username) {
                        _cleanup_free_ char *up = ib_strdupf("%s:%s", ep->creds.username, ep->creds.password ? ep->creds.password : "");
                        _cleanup_free_ char *b64 = ib_base64_encode(up, strlen(up));
                        *ret = ib_strdupf("Authorization: Basic %s", b64);
                        explicit_bzero(up, strlen(up));
                        explicit_bzero(b64, strlen(b64));
                }
                return 0;
        }
        if (strcmp(ep->auth_scheme, "bearer") == 0 && ep->realm) {
                _cleanup_free_ char *key = token_key(ep->realm, ep->service, scope);
                struct token *t = token_find(r, key);
                if (t && (refresh || t->expires <= time(NULL))) {
                        token_drop(r, key);
                        t = NULL;
                }
                if (!t) {
                        char *tok = NULL;
                        time_t exp = 0;
                        ib_debug("fetching a token for %s (scope %s)", ep->host, scope ? scope : "none");
                        res = fetch_token(r, ep, scope, &tok, &exp, err);
                        if (res < 0)
                                return res;
                        t = ib_calloc(1, sizeof(*t));
                        t->key = IB_TAKE_PTR(key);
                        t->value = tok;
                        t->expires = exp;
                        t->next = r->tokens;
                        r->tokens = t;
                }
                *ret = ib_strdupf("Authorization: Bearer %s", t->value);
        }
        return 0;
}

/* Take the strongest challenge we understand (Bearer over Basic). */
static void endpoint_set_challenge(struct ib_endpoint *ep, const char *header)
{
        struct ib_auth_challenge *c = NULL;
        size_t n = 0;
        _cleanup_err_ struct ib_err *e = NULL;
        const struct ib_auth_challenge *best = NULL;

        if (!header || !*header || ib_auth_parse(header, &c, &n, &e) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                if (strcmp(c[i].scheme, "bearer") == 0 && ib_auth_param(&c[i], "realm")) {
                        best = &c[i];
                        break;
                }
                if (strcmp(c[i].scheme, "basic") == 0 && !best)
                        best = &c[i];
        }
        if (best) {
                const char *realm = ib_auth_param(best, "realm"), *service = ib_auth_param(best, "service");
                free(ep->auth_scheme);
                free(ep->realm);
                free(ep->service);
                ep->auth_scheme = ib_strdup(best->scheme);
                ep->realm = realm ? ib_strdup(realm) : NULL;
                ep->service = service ? ib_strdup(service) : NULL;
        }
        ib_auth_challenges_free(c, n);
}

bool ib_auth_challenge_update(struct ib_registry *r, struct ib_endpoint *ep, struct ib_xfer *x)
{
        (void) r;
        if (!x->www.len)
                return false;
        endpoint_set_challenge(ep, x->www.buf);
        return ep->auth_scheme != NULL;
}

/* GET /v2/ over @scheme once; 0 with *ret_status, or a curl error message. */
static int ping_once(struct ib_registry *r, struct ib_endpoint *ep, const char *scheme, long *ret_status,
                     char **ret_www, CURLcode *ret_cc, char **ret_msg)
{
        _cleanup_free_ char *url = ib_strdupf("%s://%s/v2/", scheme, ep->host);
        struct ib_req q = { .ep = ep, .method = "GET", .url = url, .body_fd = -1 };
        struct ib_xfer x = { .body_fd = -1 };
        _cleanup_err_ struct ib_err *e = NULL;
        CURLcode cc;

        if (ib_xfer_setup(r, &x, &q, url, NULL, NULL, &e) < 0) {
                *ret_msg = ib_strdup(e->msg);
                return -1;
        }
        cc = curl_easy_perform(x.h);
        curl_easy_getinfo(x.h, CURLINFO_RESPONSE_CODE, ret_status);
        *ret_cc = cc;
        if (cc != CURLE_OK) {
                *ret_msg = ib_xfer_error(&x, cc);
                ib_xfer_release(&x);
                return -1;
        }
        *ret_www = x.www.len ? ib_strdup(x.www.buf) : NULL;
        ib_xfer_release(&x);
        return 0;
}

static bool is_tls_error(CURLcode cc)
{
        return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_SSL_CERTPROBLEM ||
               cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CIPHER || cc == CURLE_SSL_ISSUER_ERROR;
}

int ib_endpoint_ping(struct ib_registry *r, struct ib_endpoint *ep, struct ib_err **err)
{
        unsigned max = ep->push ? r->o.push_retries : r->o.pull_retries;

        if (ep->scheme)
                return 0;
        for (unsigned attempt = 0;; attempt++) {
                long status = 0;
                _cleanup_free_ char *www = NULL, *msg = NULL, *msg2 = NULL, *www2 = NULL;
                CURLcode cc = CURLE_OK, cc2 = CURLE_OK;

                if (ping_once(r, ep, "https", &status, &www, &cc, &msg) == 0 && status < 500 && status != 429) {
                        ep->scheme = ib_strdup("https");
                        endpoint_set_challenge(ep, www);
                        ib_debug("registry %s: https%s%s", ep->host, ep->auth_scheme ? ", auth " : "",
                                 ep->auth_scheme ? ep->auth_scheme : "");
                        return 0;
                }
                if (msg && ep->insecure) {
                        long s2 = 0;
                        /* Only a real registry answer counts (200 or 401 on /v2/): a TLS
                         * server answering plain HTTP with 400 means HTTPS was right. */
                        if (ping_once(r, ep, "http", &s2, &www2, &cc2, &msg2) == 0 && (s2 == 200 || s2 == 401)) {
                                ep->scheme = ib_strdup("http");
                                endpoint_set_challenge(ep, www2);
                                ib_debug("registry %s: plain http (insecure)%s%s", ep->host,
                                         ep->auth_scheme ? ", auth " : "", ep->auth_scheme ? ep->auth_scheme : "");
                                return 0;
                        }
                }
                if (msg && is_tls_error(cc))
                        return ib_err_set(err, 0, "https://%s/v2/: %s (a registry with its own CA needs "
                                          "--registry-certificate %s=CA.pem; --skip-tls-verify-registry %s "
                                          "turns verification off)", ep->host, msg, ep->host, ep->host);
                if (attempt >= max) {
                        if (msg)
                                return ib_err_set(err, 0, "https://%s/v2/: %s", ep->host, msg);
                        return ib_err_set(err, 0, "https://%s/v2/: HTTP %ld", ep->host, status);
                }
                ib_sleep_ms(ib_backoff_ms(r, attempt + 1, -1));
        }
}

/* ------------------------------------------------------------ requests */

void ib_req_release(struct ib_req *q)
{
        free(q->url);
        free(q->location);
        free(q->content_type_out);
        free(q->docker_digest);
        q->url = q->location = q->content_type_out = q->docker_digest = NULL;
}

static bool status_in(long s, const long *list)
{
        for (; list && *list; list++)
                if (*list == s)
                        return true;
        return false;
}

/* A HEAD carries no error body; ask GET /v2/ with the same credentials so the
 * message can carry the registry's own code (UNAUTHORIZED, DENIED, ...). */
static char *explain_auth_failure(struct ib_registry *r, struct ib_req *q, const char *auth, long status)
{
        _cleanup_free_ char *url = ib_endpoint_url(q->ep, "%s", "");
        struct ib_req g = { .ep = q->ep, .method = "GET", .url = url, .body_fd = -1 };
        struct ib_xfer x = { .body_fd = -1 };
        _cleanup_err_ struct ib_err *e = NULL;
        char *msg = NULL;

        if (ib_xfer_setup(r, &x, &g, url, auth, NULL, &e) == 0) {
                CURLcode cc = curl_easy_perform(x.h);
                ib_xfer_done(&x, cc);
                if (cc == CURLE_OK && x.status == status && x.errbody.len)
                        msg = ib_xfer_error(&x, cc);
        }
        ib_xfer_release(&x);
        return msg;
}

int ib_req_run(struct ib_registry *r, struct ib_req *q, const long *ok_statuses, struct ib_err **err)
{
        _cleanup_free_ char *auth = NULL, *cur = NULL;
        unsigned attempt = 0, redirects = 0;
        bool with_auth = true, auth_retried = false;
        int res;

        res = ib_endpoint_ping(r, q->ep, err);
        if (res < 0)
                return res;
        if (strcmp(q->ep->scheme, "http") == 0 && ib_startswith(q->url, "https://")) {
                /* URLs built before the ping assumed https */
                _cleanup_free_ char *base = ib_strdupf("https://%s/", q->ep->host);
                if (ib_startswith(q->url, base)) {
                        char *u = ib_strdupf("http%s", q->url + 5);
                        free(q->url);
                        q->url = u;
                }
        }
        cur = ib_strdup(q->url);
        {
                /* An upload Location may point elsewhere: credentials only go to the registry itself. */
                _cleanup_free_ char *base = ib_endpoint_url(q->ep, "%s", "");
                with_auth = ib_same_origin(cur, base);
        }
        for (;;) {
                struct ib_xfer x = { .sink = mem_sink, .sink_ud = q, .body_fd = -1, .what = q->what };
                enum ib_outcome o;
                CURLcode cc;

                if (with_auth && !auth) {
                        res = ib_auth_header(r, q->ep, q->scope, false, &auth, err);
                        if (res < 0)
                                return res;
                }
                if (q->out)
                        ib_buf_reset(q->out);
                q->out_overflow = false;
                res = ib_xfer_setup(r, &x, q, cur, with_auth ? auth : NULL, NULL, err);
                if (res < 0)
                        return res;
                ib_trace("%s %s", q->method, q->what ? q->what : "");
                cc = curl_easy_perform(x.h);
                o = ib_xfer_done(&x, cc);
                if (ib_registry_cancelled(r)) {
                        ib_xfer_release(&x);
                        return ib_err_set(err, ECANCELED, "%s: interrupted", q->what ? q->what : q->method);
                }
                if (o != IB_OUT_OK && status_in(x.status, ok_statuses) && cc == CURLE_OK)
                        o = IB_OUT_OK;
                if (cc == CURLE_WRITE_ERROR && q->out_overflow) {
                        ib_xfer_release(&x);
                        return ib_err_set(err, EFBIG, "%s: response larger than %zu bytes", q->what ? q->what : q->method,
                                          q->out_max);
                }
                switch (o) {
                case IB_OUT_OK:
                        q->status = x.status;
                        q->content_length = x.clen >= 0 ? (uint64_t) x.clen : 0;
                        if (x.location)
                                q->location = url_resolve(cur, x.location);
                        q->content_type_out = IB_TAKE_PTR(x.ctype);
                        q->docker_digest = IB_TAKE_PTR(x.dcd);
                        ib_xfer_release(&x);
                        return 0;
                case IB_OUT_REDIRECT: {
                        char *next = url_resolve(cur, x.location);
                        ib_xfer_release(&x);
                        if (!next)
                                return ib_err_set(err, 0, "%s: bad redirect from `%.*s`", q->what ? q->what : q->method,
                                                  ib_url_msg_len(cur), cur);
                        if (++redirects > MAX_REDIRECTS) {
                                res = ib_err_set(err, 0, "%s: more than %d redirects, the last to `%.*s`",
                                                 q->what ? q->what : q->method, MAX_REDIRECTS, ib_url_msg_len(next), next);
                                free(next);
                                return res;
                        }
                        /* Credentials stay with their origin: once we leave it, no Authorization. */
                        if (!ib_same_origin(next, q->url))
                                with_auth = false;
                        free(cur);
                        cur = next;
                        continue;
                }
                case IB_OUT_AUTH:
                        if (with_auth && !auth_retried && ib_auth_challenge_update(r, q->ep, &x)) {
                                auth_retried = true;
                                free(auth);
                                auth = NULL;
                                ib_xfer_release(&x);
                                res = ib_auth_header(r, q->ep, q->scope, true, &auth, err);
                                if (res < 0)
                                        return res;
                                continue;
                        }
                        break;
                case IB_OUT_RETRY:
                        if (attempt < q->retries) {
                                attempt++;
                                ib_debug("%s %s: %s, retrying (%u/%u)", q->method, q->what ? q->what : "",
                                         cc != CURLE_OK ? (x.errbuf[0] ? x.errbuf : curl_easy_strerror(cc)) : x.reason,
                                         attempt, q->retries);
                                if (q->what)
                                        ib_registry_emit(r, IB_PROGRESS_RETRY, q->what, 0, 0);
                                unsigned ms = ib_backoff_ms(r, attempt, x.retry_after);
                                ib_xfer_release(&x);
                                res = ib_registry_sleep(r, ms, q->what ? q->what : q->method, err);
                                if (res < 0)
                                        return res;
                                continue;
                        }
                        break;
                case IB_OUT_FAIL:
                        break;
                }
                /* failure */
                {
                        _cleanup_free_ char *msg = NULL;
                        /* errnum 0: the registry's words say it all (q->status has the code) */
                        int en = 0;
                        if ((x.status == 401 || x.status == 403) && !x.errbody.len)
                                msg = explain_auth_failure(r, q, with_auth ? auth : NULL, x.status);
                        if (!msg)
                                msg = ib_xfer_error(&x, cc);
                        q->status = x.status;
                        ib_xfer_release(&x);
                        if (cc != CURLE_OK && is_tls_error(cc))
                                return ib_err_set(err, 0, "%s (--registry-certificate or --skip-tls-verify-registry "
                                                  "for a private CA)", msg);
                        return ib_err_set(err, en, "%s", msg);
                }
        }
}
