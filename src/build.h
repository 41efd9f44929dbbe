/* src/build.h - the build engine: walks the planned stages of a Dockerfile,
 * drives the sandbox (RUN), the context/COPY code, the layer exporter and the
 * registry, and commits the final image to the store.
 *
 * The engine runs inside imgbuild's user namespace (ib_userns_enter) so every
 * file it writes has the owner the image says.  It never prints: steps,
 * transfers and RUN output (when relayed) are ib_event's (lib/ib.h), messages
 * go through ib_log; the verb's renderer (src/progress.c) draws them.  RUN
 * output goes straight to the caller's stdout/stderr unless relayed.
 *
 * Data flow (DESIGN.md "A build, as data"):
 *   FROM image   resolve the reference (registry, or a named oci-layout://
 *                context), fetch manifest/config/blobs into the store; base
 *                layers are extracted into layers/<diffid>/ only when something
 *                needs the root file system (a RUN, or a COPY --from that stage)
 *   RUN          overlay(lower = the stage's layer dirs, upper = fresh dir) ->
 *                the upper dir is exported (tar + gzip, digests, one pass) and
 *                published as layers/<diffid>/ by rename; no change = no layer
 *   COPY/ADD     written straight into a fresh layer dir, then the same
 *   metadata     config only (history entry with empty_layer)
 */
#ifndef IB_BUILD_H
#define IB_BUILD_H

#include "lib/ib.h"
#include "registry/registry.h"
#include "sandbox/sandbox.h"
#include "snapshot/snapshot.h"
#include "src/image.h"

/* --pull: when a base image's tag is asked of its registry. */
enum ib_base_pull {
        IB_BASE_PULL_MISSING,           /* only when the store never resolved it (docker, buildah) */
        IB_BASE_PULL_ALWAYS,            /* every build (Kaniko) */
        IB_BASE_PULL_NEVER,             /* never: the store (or --cache-dir) must have it */
};

struct ib_build_opts {
        const char *context;            /* "DIR", "dir://DIR", "tar://FILE" or "-" */
        const char *dockerfile;         /* path of the Dockerfile (already resolved) */
        const char *dockerfile_text;    /* its content (may hold NULs? no: text) */
        size_t dockerfile_len;
        const char *target;             /* --target, or NULL */
        char **build_args;              /* "K=V" (bare K already taken from the environment) */
        char **labels;                  /* --label "K=V" */
        char **build_contexts;          /* --build-context "NAME=SPEC" */
        char **secrets;                 /* --secret "id=ID,src=PATH" | "id=ID,env=VAR" */
        char **ssh;                     /* --ssh "default" | "ID=SOCKET" */
        char **tags;                    /* -t/--destination: names for the outputs */
        const char *oci_layout_path;    /* --oci-layout-path DIR[:TAG] */
        const char *tar_path;           /* --tar-path FILE */
        const char *digest_file;
        const char *metadata_file;
        const char *image_name_with_digest_file;
        const char *image_name_tag_with_digest_file;
        bool reproducible;              /* --reproducible or SOURCE_DATE_EPOCH */
        int64_t source_date_epoch;      /* used when reproducible; 0 with --reproducible alone */
        bool single_snapshot;           /* --single-snapshot: one layer for the final stage's own steps */
        enum ib_image_format format;    /* --image-format */
        enum ib_compression compression;
        int compression_level;          /* -1: default */
        unsigned jobs;                  /* --jobs (stages in parallel; 1 today) */
        const char *root;               /* the store */
        bool no_cache;
        const char *cache_repo;         /* --cache: the registry cache (NULL: off) */
        int64_t cache_ttl;              /* seconds; entries older than this are ignored */
        bool cache_run_layers;          /* --cache-run-layers (default true) */
        bool cache_copy_layers;         /* --cache-copy-layers (default false, as Kaniko) */
        bool no_push_cache;             /* --no-push-cache: look up, never push */
        enum ib_base_pull pull;         /* --pull */
        const char *cache_dir;          /* --cache-dir: base images from a warmer directory, before registries */
        enum ib_network network;        /* --network default for RUN */
        const char *platform;           /* --platform / --custom-platform, or NULL */
        struct ib_registry_opts *registry;      /* may be NULL: defaults */
        struct ib_privmode *mode;       /* the privilege mode entered */
        int cancel_fd;                  /* readable when the build must stop (SIGINT/SIGTERM) */
        bool relay_output;              /* RUN stdout+stderr -> IB_EV_OUTPUT lines (a pipe and a thread) */
        int run_stdout_fd;              /* > 0: RUN stdout goes there (-q: stderr); else inherited */
};

struct ib_build_result {
        struct ib_image *image;         /* the committed image (manifest in the store) */
        int run_status;                 /* a failing RUN's exit status, else 0 */
        unsigned steps, layers, extracted, runs, cached;
        double seconds;                 /* the whole of ib_build_run */
        double phases[IB_PHASE_COUNT];  /* wall-clock seconds per phase (lib/ib.h) */
        struct ib_stage_time *stage_times;      /* per stage built, in completion order (names owned) */
        size_t n_stage_times;
};
void ib_build_result_release(struct ib_build_result *r);

/* src/build-events.c: what the verbs need of the event layer. */
/* A registry progress hook (ib_registry_set_progress) that emits IB_EV_TRANSFER;
 * @op is the static string "pull" or "push". */
void ib_xfer_progress(void *op, enum ib_progress_event ev, const char *digest, uint64_t done, uint64_t total);
/* Emit the IB_EV_SUMMARY of a successful build; @push_seconds is added to the
 * push phase first. */
void ib_build_summary_emit(struct ib_build_result *r, double push_seconds);

/* Build.  On a failing RUN returns -ECHILD with *err naming the step and
 * r->run_status holding the RUN's status.  Other errors: -errno with *err. */
int ib_build_run(const struct ib_build_opts *o, struct ib_build_result *r, struct ib_err **err);

/* "336h", "90m", "1h30m", "45s", "2d" -> seconds; -EINVAL otherwise. */
int ib_parse_duration(const char *s, int64_t *ret);


#endif
