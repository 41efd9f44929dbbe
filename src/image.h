/* src/image.h - the image model (config, manifest, index), how a built image
 * is committed to the store, and the local outputs (OCI layout, docker-archive,
 * digest and metadata files).
 *
 * Canonical bytes.  Everything serialised here is compact JSON with a fixed key
 * order and Go's encoding/json string escaping (ib_json_add_str), so the same
 * model always gives the same bytes, and a document written by BuildKit
 * round-trips byte for byte:
 *   - image config: top-level keys sorted (architecture, author, config, created,
 *     history, os, os.features, os.version, rootfs, variant) as BuildKit writes
 *     them; inside "config" the field order of BuildKit's DockerOCIImageConfig
 *     (User, ExposedPorts, Env, Entrypoint, Cmd, Volumes, WorkingDir, Labels,
 *     StopSignal, ArgsEscaped, Healthcheck, OnBuild, Shell); maps (labels, ports,
 *     volumes, annotations) sorted by key; empty fields omitted ("omitempty").
 *     The same config is written for OCI and docker formats: OCI configs carry
 *     Docker's Healthcheck, OnBuild and Shell too, as BuildKit's do.
 *   - manifests and indexes: the Go struct order of the OCI image-spec
 *     (schemaVersion, mediaType, artifactType, config, layers/manifests, subject,
 *     annotations; descriptors mediaType, digest, size, urls, annotations,
 *     platform, artifactType).  Docker schema2 descriptors use docker's order
 *     (mediaType, size, digest, urls, platform).
 * Unknown fields of a parsed config are dropped (like BuildKit, which also drops
 * docker's stale container_config/container/docker_version); every field the
 * model knows is kept.
 *
 * Memory: every struct here owns its strings; *_free() accepts NULL.
 */
#ifndef IB_IMAGE_H
#define IB_IMAGE_H

#include "lib/ib.h"

struct ib_store;

/* ----------------------------------------------------------- media types */
#define IB_MT_OCI_MANIFEST     "application/vnd.oci.image.manifest.v1+json"
#define IB_MT_OCI_INDEX        "application/vnd.oci.image.index.v1+json"
#define IB_MT_OCI_CONFIG       "application/vnd.oci.image.config.v1+json"
#define IB_MT_OCI_LAYER        "application/vnd.oci.image.layer.v1.tar"
#define IB_MT_OCI_LAYER_GZIP   "application/vnd.oci.image.layer.v1.tar+gzip"
#define IB_MT_OCI_LAYER_ZSTD   "application/vnd.oci.image.layer.v1.tar+zstd"
#define IB_MT_OCI_LAYER_ND     "application/vnd.oci.image.layer.nondistributable.v1.tar"
#define IB_MT_OCI_LAYER_ND_GZIP "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
#define IB_MT_OCI_LAYER_ND_ZSTD "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
#define IB_MT_DOCKER_MANIFEST  "application/vnd.docker.distribution.manifest.v2+json"
#define IB_MT_DOCKER_LIST      "application/vnd.docker.distribution.manifest.list.v2+json"
#define IB_MT_DOCKER_CONFIG    "application/vnd.docker.container.image.v1+json"
#define IB_MT_DOCKER_LAYER     "application/vnd.docker.image.rootfs.diff.tar"
#define IB_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define IB_MT_DOCKER_LAYER_ZSTD "application/vnd.docker.image.rootfs.diff.tar.zstd"
#define IB_MT_DOCKER_FOREIGN_GZIP "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define IB_ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

/* The PATH BuildKit gives a Linux image that has none (FROM scratch). */
#define IB_DEFAULT_PATH_ENV    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum ib_image_format { IB_FORMAT_OCI, IB_FORMAT_DOCKER };
enum ib_image_compression { IB_COMPRESS_NONE, IB_COMPRESS_GZIP, IB_COMPRESS_ZSTD };

/* "oci" or "docker" -> format; -EINVAL otherwise. */
int ib_image_format_parse(const char *s, enum ib_image_format *ret);
const char *ib_media_type_manifest(enum ib_image_format f);
const char *ib_media_type_index(enum ib_image_format f);
const char *ib_media_type_config(enum ib_image_format f);
/* The layer media type for @f and @c.  zstd has no docker media type that
 * docker itself reads, so docker format keeps the OCI zstd type (as BuildKit). */
const char *ib_media_type_layer(enum ib_image_format f, enum ib_image_compression c);
/* Compression of a known layer media type; false for anything else. */
bool ib_media_type_layer_compression(const char *mt, enum ib_image_compression *ret);
bool ib_image_mt_is_index(const char *mt);
bool ib_media_type_is_manifest(const char *mt);

/* ------------------------------------------------------------ key/values */
/* A map kept sorted by key, keys unique (labels, annotations). */
struct ib_kv {
        char *key;
        char *value;
};
struct ib_kvlist {
        struct ib_kv *v;
        size_t n, alloc;
};
void ib_kvlist_set(struct ib_kvlist *l, const char *key, const char *value);
const char *ib_kvlist_get(const struct ib_kvlist *l, const char *key);
bool ib_kvlist_remove(struct ib_kvlist *l, const char *key);
void ib_kvlist_clear(struct ib_kvlist *l);

/* ----------------------------------------------------------- image config */
struct ib_healthcheck {
        char **test;            /* ["CMD", ...], ["CMD-SHELL", "..."], ["NONE"]; NULL: inherit */
        int64_t interval;       /* nanoseconds, 0: default */
        int64_t timeout;
        int64_t start_period;
        int64_t start_interval;
        int64_t retries;
};

struct ib_history {
        char *created;          /* RFC 3339, may be NULL */
        char *created_by;
        char *author;
        char *comment;
        bool empty_layer;
};

/* The fields of the "config" object.  String vectors are NULL-terminated (or
 * NULL); NULL and empty are the same thing (both omitted when serialised).
 * exposed_ports and volumes are sets kept sorted: use the helpers below. */
struct ib_run_config {
        char *user;
        char **exposed_ports;   /* "80/tcp" */
        char **env;             /* "K=V", order kept, keys unique */
        char **entrypoint;
        char **cmd;
        char **volumes;
        char *working_dir;
        struct ib_kvlist labels;
        char *stop_signal;
        bool args_escaped;
        struct ib_healthcheck *healthcheck;     /* NULL: none */
        char **onbuild;
        char **shell;
};

struct ib_image_config {
        char *architecture;     /* GOARCH names: amd64, arm64, ... */
        char *os;
        char *os_version;
        char **os_features;
        char *variant;
        char *created;          /* RFC 3339 */
        char *author;
        struct ib_run_config config;
        char **diff_ids;        /* rootfs.diff_ids, "sha256:<hex>" */
        struct ib_history *history;
        size_t n_history;
};

/* A config for FROM scratch: this machine's architecture (and variant), linux. */
struct ib_image_config *ib_image_config_new(void);
void ib_image_config_free(struct ib_image_config *c);
static inline void ib_image_config_freep(struct ib_image_config **c) { ib_image_config_free(*c); }
/* Parse a config blob (OCI or docker).  Types are checked; null means unset;
 * unknown fields are ignored. */
int ib_image_config_parse(const char *data, size_t len, struct ib_image_config **ret, struct ib_err **err);
/* Append the canonical JSON of @c to @out. */
void ib_image_config_serialize(const struct ib_image_config *c, struct ib_buf *out);
struct ib_image_config *ib_image_config_dup(const struct ib_image_config *c);
/* "os/arch[/variant]" (caller frees). */
char *ib_image_config_platform(const struct ib_image_config *c);

/* Env with K=V list semantics: get returns the value of the last "K=" entry
 * (NULL when absent); set replaces the value in place, or appends. */
const char *ib_image_config_env_get(const struct ib_image_config *c, const char *key);
void ib_image_config_env_set(struct ib_image_config *c, const char *key, const char *value);
void ib_image_config_label_set(struct ib_image_config *c, const char *key, const char *value);
/* "80" becomes "80/tcp"; protocols are lowercased.  -EINVAL for a bad port. */
int ib_image_config_expose(struct ib_image_config *c, const char *port, struct ib_err **err);
void ib_image_config_volume_add(struct ib_image_config *c, const char *path);
/* Replace a string field or vector (NULL clears; the value is copied). */
void ib_image_config_set_str(char **field, const char *value);
void ib_image_config_set_strv(char ***field, char *const *value);
void ib_image_config_set_healthcheck(struct ib_image_config *c, const struct ib_healthcheck *h);
/* History: one entry; add_layer also appends @diff_id to rootfs.diff_ids
 * (empty_layer false).  NULL strings are omitted. */
void ib_image_config_add_history(struct ib_image_config *c, const char *created, const char *created_by,
                                 const char *comment, bool empty_layer);
void ib_image_config_add_layer(struct ib_image_config *c, const char *diff_id, const char *created,
                               const char *created_by, const char *comment);
/* Number of history entries that are not empty_layer (must equal the number of diff_ids). */
size_t ib_image_config_layer_history_count(const struct ib_image_config *c);

/* Config deltas (the layer cache stores one per step: "key -> (layer diff_id,
 * config changes)").  A delta is canonical JSON:
 *   {"author":"...", "config":{"Cmd":[...],"Entrypoint":null,...},
 *    "diff_ids":["sha256:..."], "history":[{...}]}
 * "config" holds every run-config field whose value differs, with its new value
 * or null when it was removed; diff_ids and history hold what @after appended to
 * @before (so @before's must be a prefix of @after's: -EINVAL otherwise).  Keys
 * without change are absent; a step that changed nothing gives "{}".
 * architecture/os/created are not part of a delta (set once per build). */
int ib_image_config_diff(const struct ib_image_config *before, const struct ib_image_config *after,
                         struct ib_buf *out, struct ib_err **err);
int ib_image_config_apply(struct ib_image_config *c, const char *delta, size_t len, struct ib_err **err);

/* "this machine" in GOARCH terms (amd64, arm64, arm, 386, ppc64le, s390x, riscv64);
 * *ret_variant gets "v7"/"v8"/NULL. */
const char *ib_host_arch(const char **ret_variant);
/* RFC 3339 UTC with seconds ("2024-01-02T03:04:05Z") into @buf (>= 32 bytes). */
void ib_time_rfc3339(int64_t epoch, char *buf, size_t n);
/* Parse "@EPOCH", a bare number of seconds, or an RFC 3339 time (Z or offset,
 * fraction ignored) to seconds since the epoch. */
int ib_time_parse(const char *s, int64_t *ret);

/* -------------------------------------------------------------- manifests */
struct ib_desc_platform {
        char *architecture;
        char *os;
        char *os_version;
        char **os_features;
        char *variant;
};

struct ib_descriptor {
        char *media_type;
        char *digest;
        int64_t size;
        char **urls;
        struct ib_kvlist annotations;
        struct ib_desc_platform *platform;      /* index entries only; NULL when absent */
        char *artifact_type;
};

/* OCI image manifest or docker schema2 manifest (told apart by media_type). */
struct ib_manifest {
        int64_t schema_version;         /* 2 */
        char *media_type;               /* may be NULL in a parsed OCI manifest */
        char *artifact_type;
        struct ib_descriptor config;
        struct ib_descriptor *layers;
        size_t n_layers;
        struct ib_descriptor *subject;
        struct ib_kvlist annotations;
};

/* OCI image index or docker manifest list. */
struct ib_index {
        int64_t schema_version;
        char *media_type;
        char *artifact_type;
        struct ib_descriptor *manifests;
        size_t n_manifests;
        struct ib_descriptor *subject;
        struct ib_kvlist annotations;
};

void ib_descriptor_clear(struct ib_descriptor *d);
void ib_descriptor_copy(struct ib_descriptor *dst, const struct ib_descriptor *src);
void ib_desc_platform_free(struct ib_desc_platform *p);

/* Parse a manifest: OCI or docker schema2 (schema 1 and indexes are refused
 * with a message saying so).  Every layer must have a digest and a size. */
int ib_manifest_parse(const char *data, size_t len, struct ib_manifest **ret, struct ib_err **err);
void ib_manifest_serialize(const struct ib_manifest *m, struct ib_buf *out);
void ib_manifest_free(struct ib_manifest *m);
static inline void ib_manifest_freep(struct ib_manifest **m) { ib_manifest_free(*m); }
/* Parse an OCI index or docker manifest list. */
int ib_index_parse(const char *data, size_t len, struct ib_index **ret, struct ib_err **err);
void ib_index_serialize(const struct ib_index *x, struct ib_buf *out);
void ib_index_free(struct ib_index *x);
static inline void ib_index_freep(struct ib_index **x) { ib_index_free(*x); }
/* Append a copy of @d to the index's manifests. */
void ib_index_append(struct ib_index *x, const struct ib_descriptor *d);
/* The first manifest entry for os/arch[/variant] (variant NULL: any; an entry
 * without variant matches any wanted variant), or NULL. */
const struct ib_descriptor *ib_index_find_platform(const struct ib_index *x, const char *os,
                                                   const char *arch, const char *variant);
/* The media type named inside a manifest/index document, NULL when it has none. */
char *ib_json_media_type(const char *data, size_t len);

/* ------------------------------------------------------------ built images */
/* One layer of an image: its blob is in the store (blobs/sha256/<digest>). */
struct ib_layer {
        char *media_type;       /* of the blob as stored (compression told by it) */
        char *digest;           /* "sha256:<hex>" of the blob */
        int64_t size;           /* blob size */
        char *diff_id;          /* "sha256:<hex>" of the uncompressed tar */
        int64_t uncompressed_size;      /* -1: unknown */
};
void ib_layer_clear(struct ib_layer *l);

/* An image committed to the store: manifest and config blobs are there, and so
 * are all layer blobs. */
struct ib_image {
        enum ib_image_format format;
        char *manifest_media_type;
        char *manifest_digest;
        int64_t manifest_size;
        char *config_media_type;
        char *config_digest;
        int64_t config_size;
        char *platform;                 /* "linux/amd64" */
        char *created;                  /* the config's, may be NULL */
        struct ib_layer *layers;
        size_t n_layers;
};
void ib_image_free(struct ib_image *img);
static inline void ib_image_freep(struct ib_image **img) { ib_image_free(*img); }

/* Serialise @cfg, write config and manifest blobs to the store, and describe the
 * result.  @layers[i].diff_id must equal cfg->diff_ids[i] and every layer blob
 * must be in the store (-EINVAL / -ENOENT naming the layer otherwise).  Layer
 * media types are converted to @fmt's set (gzip: docker <-> OCI). */
int ib_image_commit(struct ib_store *s, const struct ib_image_config *cfg, const struct ib_layer *layers,
                    size_t n_layers, enum ib_image_format fmt, struct ib_image **ret, struct ib_err **err);
/* Describe an image already in the store from its manifest digest (layer
 * diff_ids come from the config). */
int ib_image_load(struct ib_store *s, const char *manifest_digest, struct ib_image **ret, struct ib_err **err);

/* ------------------------------------------------------------ layer bytes */
/* Read a layer blob uncompressed: the compression is told by the blob's magic
 * bytes (gzip via ISA-L, several members allowed; zstd; plain tar). */
struct ib_layer_reader;
int ib_layer_reader_open(const char *path, struct ib_layer_reader **ret, struct ib_err **err);
/* Up to @n bytes; 0 at the end; < 0 with *err set on error. */
ssize_t ib_layer_reader_read(struct ib_layer_reader *r, void *buf, size_t n, struct ib_err **err);
void ib_layer_reader_free(struct ib_layer_reader *r);
static inline void ib_layer_reader_freep(struct ib_layer_reader **r) { ib_layer_reader_free(*r); }
/* Decompress the whole blob once: diff_id and uncompressed size. */
int ib_layer_blob_measure(const char *path, char **ret_diff_id, int64_t *ret_size, struct ib_err **err);
/* The same, answered from an xattr (user.imgbuild.layer = "<diff_id> <size>")
 * on the blob when present, else measured and remembered.  Writers that know
 * both (the layer exporter) call ib_layer_blob_remember() on the stored blob.
 * Consumers still verify while reading (the docker-archive writer does). */
int ib_layer_blob_info(const char *path, char **ret_diff_id, int64_t *ret_size, struct ib_err **err);
void ib_layer_blob_remember(const char *path, const char *diff_id, int64_t size);

/* ------------------------------------------- OCI layouts (in and out), outputs */
/* "DIR", "DIR:TAG" (the part after the last ':' is a tag when it has no '/')
 * or "DIR@sha256:<hex>" (then *ret_tag is "sha256:<hex>").  *ret_tag is NULL
 * when there is none. */
void ib_oci_layout_ref_split(const char *ref, char **ret_dir, char **ret_tag);
/* Find an image in the OCI layout @dir: @ref is NULL (the layout's only
 * image), a tag (org.opencontainers.image.ref.name) or "sha256:<hex>".  An
 * index is resolved to the manifest for os/arch/variant (NULL: linux and this
 * machine).  *ret_digest: the manifest digest. */
int ib_oci_layout_find(const char *dir, const char *ref, const char *os, const char *arch,
                       const char *variant, char **ret_digest, struct ib_err **err);
/* Copy that image's blobs (layers, config, manifest) from the layout into the
 * store, each verified against its digest (copied, never linked: the layout
 * is the user's to change), then describe it as ib_image_load does. */
int ib_oci_layout_import(struct ib_store *s, const char *dir, const char *manifest_digest, struct ib_image **ret,
                         struct ib_err **err);
/* Write @img into the OCI layout at @dir (created if missing): oci-layout,
 * blobs/sha256/ (hard links from the store when on the same file system, else a
 * copy that appears under its final name only when complete) and index.json.
 * An entry with the same ref name (@tag) is replaced; every other entry is kept.
 * With no tag, the entry is added unless the same digest is already untagged.
 * The index entry carries the image's platform.  Concurrent writers to one
 * layout are serialised with flock on the dir.  A docker-format image keeps its
 * docker manifest media type in index.json (the truth); note that skopeo's oci:
 * transport then finds it only as the layout's sole image, not by tag, since it
 * matches tags against OCI-typed entries only. */
int ib_output_oci_layout(struct ib_store *s, const struct ib_image *img, const char *dir, const char *tag,
                         struct ib_err **err);
/* Write a docker-archive (what `docker save` writes and `docker load`,
 * `podman load` and skopeo's docker-archive: read): manifest.json
 * [{"Config","RepoTags","Layers"}], the config as <hex>.json, each layer
 * uncompressed as <v1id>/layer.tar (+ VERSION and a v1 json), and
 * `repositories`.  Layers are decompressed on the fly; the file appears under
 * @path only when complete.  @tags: NULL-terminated "name:tag" list (may be
 * NULL: an untagged archive). */
int ib_output_docker_archive(struct ib_store *s, const struct ib_image *img, const char *path,
                             char *const *tags, struct ib_err **err);

/* Kaniko's files:
 *   --digest-file                     the manifest digest, no newline
 *   --image-name-with-digest-file     "<repo>@<digest>\n" per destination
 *   --image-name-tag-with-digest-file "<repo>:<tag>@<digest>\n" per destination
 * Destinations are normalised as Kaniko does (docker.io names become
 * index.docker.io/library/..., a missing tag is "latest"). */
int ib_output_digest_file(const char *path, const struct ib_image *img, struct ib_err **err);
int ib_output_name_digest_file(const char *path, const struct ib_image *img, char *const *destinations,
                               bool with_tag, struct ib_err **err);
/* Normalise a destination reference: *ret_repo "index.docker.io/library/x",
 * *ret_tag "latest" when none.  -EINVAL when malformed. */
int ib_reference_normalize(const char *ref, char **ret_repo, char **ret_tag, struct ib_err **err);

/* --metadata-file: one JSON object (canonical key order), BuildKit's keys plus
 * a full description of the image:
 *   {
 *     "containerimage.config.digest": "sha256:...",       config blob digest
 *     "containerimage.descriptor": {"mediaType": "...",   the manifest descriptor
 *                                   "digest": "sha256:...", "size": N},
 *     "containerimage.digest": "sha256:...",               manifest digest (= image digest)
 *     "image.name": "reg/a:1,reg/b:2",                     only when names are given
 *     "imgbuild.image": {
 *       "config": {"mediaType": "...", "digest": "...", "size": N},
 *       "digest": "sha256:...",                            manifest digest
 *       "format": "oci" | "docker",
 *       "layers": [{"mediaType": "...", "digest": "...", "size": N,
 *                   "diffID": "sha256:..."}, ...],         base first
 *       "mediaType": "...",                                manifest media type
 *       "platform": "linux/amd64",
 *       "size": N                                          manifest size
 *     }
 *   }
 * @names may be NULL. */
int ib_output_metadata_file(const char *path, const struct ib_image *img, char *const *names,
                            struct ib_err **err);
void ib_image_metadata_json(const struct ib_image *img, char *const *names, struct ib_buf *out);

#endif
