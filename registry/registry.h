/* registry/registry.h - an OCI distribution client over libcurl: image
 * references, registry options, credentials (docker config.json and credential
 * helpers), the Basic/Bearer challenge flow, pull into the store, push from a
 * blob directory.
 *
 * Errors follow lib/ib.h's contract.  Registry errors read
 *   "<status> <CODE>: <message>"          e.g. "401 UNAUTHORIZED: authentication required"
 * with the registry's own code and message taken from its JSON error body; the
 * caller (src/) prefixes the verb and the reference:
 *   "imgbuild: push 127.0.0.1:5000/x: 401 UNAUTHORIZED: authentication required".
 *
 * Transport decisions (documented in imgbuild-pull(1)):
 *   - every registry is tried over HTTPS first; plain HTTP is tried only when
 *     the HTTPS connection fails AND the registry is insecure: named by
 *     insecure_registries, covered by insecure_pull / insecure_push, or a
 *     loopback registry (localhost, 127.0.0.0/8, [::1]) - docker treats those
 *     as insecure automatically and so do we.  Unlike docker, "insecure" never
 *     means "ignore certificate errors": that is what the skip_tls_verify
 *     options are for, so a bad certificate is reported, not silently accepted.
 *   - credentials never appear in logs (not even at trace level) and are never
 *     sent to another host: redirects are followed by hand and drop the
 *     Authorization header whenever scheme, host or port change.
 *
 * Store usage (besides blobs/sha256/):
 *   cache/refs/<domain>/<path>:<tag>   the digest a tag resolved to at the last pull
 *                                      ("sha256:<hex>\n"; for a multi-platform image
 *                                      the index digest), written atomically.
 *   cache/blob-repos/<hex>             "<domain>/<path>\n" lines: repositories a blob
 *                                      was pulled from or pushed to; push uses them
 *                                      as cross-repo mount sources.
 */
#ifndef IB_REGISTRY_H
#define IB_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ib_err;
struct ib_store;

/* ------------------------------------------------------------ references */

/* A reference, normalized the way docker does it:
 *   busybox                 -> docker.io / library/busybox : latest
 *   host:5000/a/b:1         -> host:5000 / a/b : 1
 *   x@sha256:<hex>          -> docker.io / library/x, digest only (tag NULL)
 *   x:1@sha256:<hex>        -> both; the digest is what is fetched
 * The domain is the first component when it contains '.' or ':' or is
 * "localhost"; "index.docker.io" becomes "docker.io". */
struct ib_ref {
        char *domain;   /* "docker.io", "127.0.0.1:5000", "[::1]:5000" */
        char *path;     /* "library/busybox" */
        char *tag;      /* NULL only when a digest is given without a tag */
        char *digest;   /* "sha256:<64 hex>" or NULL */
};

/* Parse @s.  Invalid input is EINVAL with a message naming the reason. */
int ib_ref_parse(const char *s, struct ib_ref **ret, struct ib_err **err);
void ib_ref_free(struct ib_ref *r);
static inline void ib_ref_freep(struct ib_ref **r) { if (*r) ib_ref_free(*r); }
/* "domain/path[:tag][@digest]" (caller frees). */
char *ib_ref_string(const struct ib_ref *r);
/* "domain/path" (caller frees). */
char *ib_ref_name(const struct ib_ref *r);
/* A copy with @digest as the digest and the tag kept. */
struct ib_ref *ib_ref_with_digest(const struct ib_ref *r, const char *digest);

/* -------------------------------------------------------------- platform */

struct ib_platform {
        char os[32];
        char arch[32];
        char variant[32];       /* "" when none */
};
/* "os/arch[/variant]"; EINVAL on anything else. */
int ib_platform_parse(const char *s, struct ib_platform *ret, struct ib_err **err);
/* The running machine's platform (linux/amd64, linux/arm64/v8, ...). */
void ib_platform_host(struct ib_platform *ret);
/* Pick the manifest for @want from an index document (OCI index or docker
 * manifest list).  An empty variant in @want matches any variant; arm64's "v8"
 * and "" are the same.  Entries marked as attestations are skipped.  On success
 * *ret_digest and *ret_media_type (may be NULL) are set (caller frees); no
 * match is ENOENT and lists the platforms the index offers. */
int ib_platform_select(const char *index, size_t len, const struct ib_platform *want,
                       char **ret_digest, char **ret_media_type, struct ib_err **err);

/* ------------------------------------------------------- WWW-Authenticate */

struct ib_auth_param {
        char *name;     /* lowercased */
        char *value;    /* unquoted, escapes resolved */
};
struct ib_auth_challenge {
        char *scheme;   /* lowercased: "basic", "bearer", ... */
        struct ib_auth_param *params;
        size_t n_params;
};
/* Parse a WWW-Authenticate header value (RFC 7235: several challenges,
 * comma-separated auth-params, quoted strings with backslash escapes, token68).
 * Garbage is skipped where the grammar allows recovery; EINVAL only when no
 * challenge at all can be read.  Free with ib_auth_challenges_free. */
int ib_auth_parse(const char *header, struct ib_auth_challenge **ret, size_t *ret_n, struct ib_err **err);
void ib_auth_challenges_free(struct ib_auth_challenge *c, size_t n);
/* Value of parameter @name (lowercase) or NULL. */
const char *ib_auth_param(const struct ib_auth_challenge *c, const char *name);

/* ------------------------------------------------------------ credentials */

struct ib_creds {
        char *username;         /* NULL when anonymous */
        char *password;
        char *identity_token;   /* refresh token (docker's identitytoken) */
        char *registry_token;   /* a bearer token to use as is (registrytoken) */
};
void ib_creds_clear(struct ib_creds *c);        /* wipes and frees the members */

/* The first auth file found, in order: $DOCKER_CONFIG/config.json,
 * ~/.docker/config.json, /kaniko/.docker/config.json, $REGISTRY_AUTH_FILE,
 * $XDG_RUNTIME_DIR/containers/auth.json.  Returns 0 and NULL when there is none. */
char *ib_auth_file_find(void);
/* Credentials for @registry (a domain as in ib_ref, "docker.io" for Docker Hub)
 * from the JSON text of a docker config file: credHelpers[registry] first, then
 * an auths entry with credentials, then credsStore.  Helpers are run as
 * "docker-credential-<name> get" from $PATH.  No entry: 0 with *ret zeroed. */
int ib_creds_from_config(const char *json, size_t len, const char *registry, struct ib_creds *ret,
                         struct ib_err **err);
/* Run "docker-credential-<helper> get" for @server. */
int ib_creds_from_helper(const char *helper, const char *server, struct ib_creds *ret, struct ib_err **err);

/* ------------------------------------------------------------- the client */

struct ib_registry_cert {
        char *registry;         /* "host[:port]" */
        char *ca_file;          /* PEM CA bundle to trust, or NULL */
        char *cert_file;        /* client certificate, or NULL */
        char *key_file;         /* its key */
};
struct ib_registry_map {
        char *from;             /* registry domain as in a reference */
        char *to;               /* "host[:port][/path-prefix]" */
};
/* What the command line sets; registries are "host[:port]" ("docker.io" for Hub). */
struct ib_registry_opts {
        bool insecure_push;             /* --insecure */
        bool insecure_pull;             /* --insecure-pull */
        char **insecure_registries;     /* --insecure-registry (NULL-terminated) */
        bool skip_tls_verify;           /* --skip-tls-verify (pull and push) */
        bool skip_tls_verify_pull;      /* --skip-tls-verify-pull */
        char **skip_tls_verify_registries;
        struct ib_registry_cert *certs; /* --registry-certificate / --registry-client-cert */
        size_t n_certs;
        char **mirrors;                 /* --registry-mirror, for docker.io pulls, in order */
        struct ib_registry_map *maps;   /* --registry-map, for pulls, in order */
        size_t n_maps;
        bool skip_default_fallback;     /* --skip-default-registry-fallback: mirrors/maps only */
        unsigned pull_retries;          /* --image-download-retry (default 3) */
        unsigned push_retries;          /* --push-retry (default 3) */
        unsigned max_parallel;          /* blobs in flight at once (default 4) */
        uint64_t chunk_size;            /* uploads larger than this go in PATCH chunks (default 32 MiB) */
        unsigned retry_base_ms;         /* first backoff (default 500 ms; doubles, max 10 s) */
        int cancel_fd;                  /* when readable, transfers and backoffs stop with ECANCELED
                                         * (the CLI's SIGINT/SIGTERM pipe; -1: none) */
};
void ib_registry_opts_init(struct ib_registry_opts *o);
void ib_registry_opts_release(struct ib_registry_opts *o);

/* Progress events, per blob (the CLI draws bars from them; NULL: none).
 * Called from the transfer loop: keep it quick, never call back into the client. */
enum ib_progress_event {
        IB_PROGRESS_START,      /* a transfer begins (total may be 0 if unknown) */
        IB_PROGRESS_BYTES,      /* done bytes so far */
        IB_PROGRESS_DONE,       /* complete and verified (pull) / accepted (push) */
        IB_PROGRESS_EXISTS,     /* nothing to transfer: already in the store / registry */
        IB_PROGRESS_MOUNTED,    /* push: mounted from another repository */
        IB_PROGRESS_RETRY,      /* a failed attempt; another follows */
};
typedef void (*ib_progress_fn)(void *userdata, enum ib_progress_event ev, const char *digest,
                               uint64_t done, uint64_t total);

/* NULL when libcurl is loaded (registry/curl-load.c loads it on first use),
 * else why it cannot be. */
const char *ib_curl_load_error(void);

struct ib_registry;
/* @opts is copied.  Fails only when libcurl cannot be set up. */
int ib_registry_new(const struct ib_registry_opts *opts, struct ib_registry **ret, struct ib_err **err);
void ib_registry_free(struct ib_registry *r);
static inline void ib_registry_freep(struct ib_registry **r) { if (*r) ib_registry_free(*r); }
void ib_registry_set_progress(struct ib_registry *r, ib_progress_fn fn, void *userdata);
/* Use @json (a docker config file's text) instead of searching the auth files;
 * NULL restores the search. */
void ib_registry_set_auth_config(struct ib_registry *r, const char *json);

/* ------------------------------------------------------------------ pull */

struct ib_pull_result {
        char *digest;           /* digest of the manifest the reference names (an index's own digest) */
        char *media_type;       /* its media type */
        char *manifest_digest;  /* the image manifest chosen (== digest unless an index) */
        char *config_digest;
        char **layers;          /* layer blob digests, base first (NULL-terminated) */
        size_t n_layers;
        unsigned fetched;       /* blobs downloaded (not counting manifests) */
};
void ib_pull_result_free(struct ib_pull_result *p);
static inline void ib_pull_result_freep(struct ib_pull_result **p) { if (*p) ib_pull_result_free(*p); }

/* Resolve @ref (mirrors and maps for pulls), fetch the manifest (index ->
 * @platform, default the host's), then the config and every layer into @store,
 * several at once, each verified before it takes its final name.  A digest
 * reference whose manifests and blobs are all in the store uses no network.
 * Tags are recorded under cache/refs/; a tag pulled before costs one HEAD
 * when it still resolves to the recorded digest.  Schema 1 manifests are
 * refused.  Progress events go to the client's progress hook; IB_PROGRESS_DONE
 * for a layer means its blob is complete and verified in the store, so a
 * caller may start importing it while the others download (from the hook, by
 * queueing work; the hook must not call back into the client). */
int ib_registry_pull(struct ib_registry *r, struct ib_store *store, const struct ib_ref *ref,
                     const struct ib_platform *platform, struct ib_pull_result **ret, struct ib_err **err);
/* ib_registry_pull with flags: IB_PULL_CONFIG_ONLY fetches the manifest(s)
 * and the config but no layer (a later full pull of the same reference
 * fetches the layers, skipping what the store has). */
#define IB_PULL_CONFIG_ONLY 1u
int ib_registry_pull_ex(struct ib_registry *r, struct ib_store *store, const struct ib_ref *ref,
                        const struct ib_platform *platform, unsigned flags, struct ib_pull_result **ret,
                        struct ib_err **err);
/* ib_registry_pull_ex with no network at all: a tag resolves to the digest
 * cache/refs/ recorded at its last pull, and everything the flags ask for must
 * be in the store already; -ENOENT (no error set) otherwise. */
int ib_registry_pull_local(struct ib_store *store, const struct ib_ref *ref, const struct ib_platform *platform,
                           unsigned flags, struct ib_pull_result **ret, struct ib_err **err);
/* The digest cache/refs/ holds for a tag reference (offline); ENOENT if none. */
int ib_registry_local_digest(struct ib_store *store, const struct ib_ref *ref, char **ret_digest,
                             struct ib_err **err);

/* ------------------------------------------------------------------ push */

struct ib_push_result {
        char *digest;           /* the manifest digest the registry holds */
        unsigned uploaded;      /* blobs sent */
        unsigned mounted;       /* blobs mounted from another repository */
        unsigned existing;      /* blobs the registry already had */
};
/* Push the manifest @digest (an image manifest or an index: then every child
 * manifest too) whose blobs are in @blob_root/blobs/sha256/ (a store root or
 * an OCI layout) to @dest (by its tag, or by digest when it has none).  For each
 * blob: skip it if the registry has it (HEAD, or pushed before by this client),
 * mount it from a repository of the same registry (@mount_from, then those
 * recorded in @store's cache/blob-repos/ when @store is not NULL), else upload
 * it (one PUT up to chunk_size, PATCH chunks beyond).  Then PUT the manifest's
 * exact bytes with its media type. */
int ib_registry_push(struct ib_registry *r, const char *blob_root, const char *digest,
                     const struct ib_ref *dest, const char *const *mount_from, struct ib_store *store,
                     struct ib_push_result *ret, struct ib_err **err);
void ib_push_result_release(struct ib_push_result *p);

/* ---------------------------------------------------------- media types */
#define IB_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define IB_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IB_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define IB_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IB_MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define IB_MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"
#define IB_MANIFEST_MAX (4u << 20)      /* manifests and indexes are read up to 4 MiB */

/* The media type of a manifest document: its mediaType member, else
 * @content_type (may be NULL), else guessed from its members.  Caller frees. */
char *ib_manifest_media_type(const char *data, size_t len, const char *content_type);
bool ib_media_type_is_index(const char *mt);

#endif
