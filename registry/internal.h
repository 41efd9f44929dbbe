/* registry/internal.h - helpers shared inside registry/ only. */
#ifndef IB_REGISTRY_INTERNAL_H
#define IB_REGISTRY_INTERNAL_H

#include "lib/ib.h"
#include "registry/registry.h"

#define IB_TOKEN_MAX (1u << 20)         /* token responses are read up to 1 MiB */
#define IB_ERRBODY_MAX (64u << 10)      /* error bodies kept for messages */

/* base64.c */
char *ib_base64_encode(const void *data, size_t n);
/* Decodes standard base64 (padding optional, whitespace refused); NULL if malformed. */
char *ib_base64_decode(const char *s, size_t *ret_len);

/* creds.c: "host" as written in config keys -> the domain we compare with. */
char *ib_creds_key_host(const char *key);
/* The server name a credential helper is asked about. */
const char *ib_creds_helper_server(const char *registry);

/* Is @domain a loopback registry (localhost, 127.0.0.0/8, ::1), with any port? */
bool ib_registry_is_loopback(const char *domain);

/* ---------------------------------------------------------- the engine (client.c) */
#include <curl/curl.h>
#include <time.h>

/* One registry host as contacted for pulls or for pushes (the insecure and
 * TLS options may differ between the two). */
struct ib_endpoint {
        struct ib_endpoint *next;
        char *host;             /* "127.0.0.1:5000", "registry-1.docker.io" */
        bool push;
        char *scheme;           /* "https" / "http"; NULL until pinged */
        bool insecure;          /* may fall back to plain HTTP */
        bool skip_verify;
        const char *ca_file, *cert_file, *key_file;
        char *auth_scheme;      /* "basic", "bearer" or NULL (none asked for) */
        char *realm, *service;
        bool creds_loaded;
        struct ib_creds creds;
};

/* A request.  The caller fills the inputs; ib_req_run() fills the outputs. */
struct ib_req {
        struct ib_endpoint *ep;
        const char *method;             /* "GET", "HEAD", "PUT", "POST", "PATCH" */
        char *url;                      /* absolute (owned; replaced on redirects) */
        const char *scope;              /* token scopes, space-separated ("repository:x:pull") */
        const char *accept;             /* Accept header value or NULL */
        const char *content_type;
        const char *content_range;      /* "start-end" for chunked PATCH */
        const void *body;               /* a body in memory ... */
        size_t body_len;
        int body_fd;                    /* ... or from a file (-1: none) */
        uint64_t body_off, body_fd_len;
        bool has_body;                  /* send a (possibly empty) body */
        struct ib_buf *out;             /* response body for 2xx, or NULL to discard */
        size_t out_max;
        const char *what;               /* for messages and progress: the digest or "manifest" */
        unsigned retries;
        /* outputs */
        long status;
        char *location;                 /* Location header, resolved to an absolute URL */
        char *content_type_out;
        char *docker_digest;            /* Docker-Content-Digest */
        uint64_t content_length;
        bool out_overflow;              /* the body was larger than out_max: refused */
};
void ib_req_release(struct ib_req *q);
/* Ping the endpoint if needed, add auth, send, follow redirects (dropping
 * Authorization on another host), answer 401 challenges once, retry transient
 * failures with backoff.  Returns 0 for any 2xx, and also for statuses listed in
 * @ok_statuses (0-terminated, may be NULL); otherwise an error naming the status
 * and the registry's error code and message. */
int ib_req_run(struct ib_registry *r, struct ib_req *q, const long *ok_statuses, struct ib_err **err);

/* A token server's JSON answer ("token" or "access_token", "expires_in") ->
 * the token (caller frees) and when to renew it. */
int ib_token_parse(const char *body, size_t len, char **ret, time_t *ret_expires, struct ib_err **err);

/* pull.c: an image manifest's blobs, config first, then the layers in order. */
struct ib_pull_desc {
        char *digest;
        uint64_t size;
};
int ib_pull_parse_manifest(const char *data, size_t len, struct ib_pull_desc **ret, size_t *ret_n,
                           struct ib_err **err);

/* Endpoint for @host (pull or push); created with its options on first use. */
struct ib_endpoint *ib_endpoint_get(struct ib_registry *r, const char *host, bool push);
/* Ping (scheme choice and the auth challenge) once. */
int ib_endpoint_ping(struct ib_registry *r, struct ib_endpoint *ep, struct ib_err **err);
/* "scheme://host/v2/<path>" (caller frees). */
char *ib_endpoint_url(const struct ib_endpoint *ep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One HTTP exchange on one easy handle: the response's status and headers of
 * interest, its body for 2xx going to @sink, an error body kept for messages. */
struct ib_xfer {
        CURL *h;
        struct curl_slist *headers;
        char errbuf[CURL_ERROR_SIZE];
        long status;
        char reason[96];
        struct ib_buf www;              /* WWW-Authenticate values, joined by ", " */
        char *location, *ctype, *dcd, *content_range;
        long retry_after;               /* seconds, -1 when absent */
        int64_t clen;                   /* Content-Length, -1 when absent */
        struct ib_buf errbody;          /* non-2xx body, bounded */
        /* 2xx body sink: return 0, or -1 to abort the transfer */
        int (*sink)(void *ud, struct ib_xfer *x, const void *data, size_t n);
        void *sink_ud;
        /* request body */
        const void *body;
        size_t body_len;
        int body_fd;
        uint64_t body_off, body_total, body_pos;
        /* progress, and the cancel check (NULL: none) */
        struct ib_registry *cancel;
        struct ib_registry *reg;
        const char *what;
        uint64_t prog_base, prog_total;
};
enum ib_outcome { IB_OUT_OK, IB_OUT_REDIRECT, IB_OUT_AUTH, IB_OUT_RETRY, IB_OUT_FAIL };
/* Set up x->h for @q at @url with the header @auth (may be NULL) and @range
 * (a Range header value or NULL). @share: use the client's share handle. */
int ib_xfer_setup(struct ib_registry *r, struct ib_xfer *x, struct ib_req *q, const char *url,
                  const char *auth, const char *range, struct ib_err **err);
/* After the transfer: read the status; classify. */
enum ib_outcome ib_xfer_done(struct ib_xfer *x, CURLcode cc);
void ib_xfer_release(struct ib_xfer *x);
/* Describe a failed exchange: the curl error, or "<status> <CODE>: <message>". */
char *ib_xfer_error(struct ib_xfer *x, CURLcode cc);
int ib_auth_header(struct ib_registry *r, struct ib_endpoint *ep, const char *scope, bool refresh,
                   char **ret, struct ib_err **err);
/* A 401: take the challenge from @x, drop the cached token; true if worth a retry. */
bool ib_auth_challenge_update(struct ib_registry *r, struct ib_endpoint *ep, struct ib_xfer *x);
void ib_curl_common(struct ib_registry *r, CURL *h, const char *url, bool share);
/* TLS options for @url: @ep's, or those configured for the URL's host. */
void ib_curl_tls(struct ib_registry *r, CURL *h, const char *url, struct ib_endpoint *ep);
/* Milliseconds of backoff before attempt @attempt (1-based), honouring @retry_after (s, or -1). */
unsigned ib_backoff_ms(const struct ib_registry *r, unsigned attempt, long retry_after);
/* Format a failed response: "<status> <CODE>: <message>" from a JSON error body. */
char *ib_http_error_text(long status, const char *reason, const char *body, size_t len);
/* How much of @url to show in a message: no query (a pre-signed storage URL
 * carries its signature there) and no fragment, at most 512 bytes. */
int ib_url_msg_len(const char *url);
/* Same origin (scheme, host, port)? */
bool ib_same_origin(const char *a, const char *b);
void ib_registry_emit(struct ib_registry *r, enum ib_progress_event ev, const char *digest, uint64_t done,
                      uint64_t total);
const struct ib_registry_opts *ib_registry_options(const struct ib_registry *r);
CURLM *ib_registry_multi(struct ib_registry *r);
void ib_sleep_ms(unsigned ms);
/* Has the caller asked us to stop (opts.cancel_fd readable)? */
bool ib_registry_cancelled(const struct ib_registry *r);
/* Sleep @ms, or less when cancelled: then -ECANCELED with "<what>: interrupted". */
int ib_registry_sleep(struct ib_registry *r, unsigned ms, const char *what, struct ib_err **err);
uint64_t ib_now_ms(void);
/* Remember that @repo_key ("domain/path") holds @digest (this process only). */
void ib_registry_known_add(struct ib_registry *r, const char *repo_key, const char *digest);
bool ib_registry_known(struct ib_registry *r, const char *repo_key, const char *digest);

/* pull.c: append "host/path" to the store's cache/blob-repos/<hex> (push uses
 * it for cross-repo mounts); errors are ignored. */
void ib_blob_repo_record(struct ib_store *s, const char *digest, const char *repo_key);

#endif
