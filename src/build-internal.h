/* src/build-internal.h - state shared by src/build*.c (not a public header). */
#ifndef IB_BUILD_INTERNAL_H
#define IB_BUILD_INTERNAL_H

#include "src/build.h"
#include "src/context.h"
#include "src/dockerfile.h"
#include "src/dockerignore.h"
#include <pthread.h>

/* One layer of a stage's image: the blob and, once extracted or built here,
 * its overlay-form dir in the store. */
struct blayer {
        struct ib_layer l;
        char *dir;
};

/* A base image resolved once per build (by name and platform). */
struct base_image {
        char *name;
        char *platform;
        char *manifest_digest;
        char *source;                   /* registry bases: "ref@digest" to fetch the layers from */
        struct ib_image_config *cfg;
        struct blayer *layers;
        size_t n_layers;
};

/* A --build-context NAME=SPEC. */
struct named_ctx {
        char *name;
        char *spec;             /* after the prefix: a dir, a layout "DIR[:TAG|@DIGEST]", an image ref */
        enum { NCTX_DIR, NCTX_LAYOUT, NCTX_IMAGE } kind;
        struct ib_context *ctx; /* NCTX_DIR, opened lazily */
};

struct bstage {
        const struct ib_plan_stage *ps;
        const char *label;              /* "build" or "stage-1", for log lines */
        struct ib_image_config *cfg;
        struct blayer *layers;          /* base first */
        size_t n_layers, alloc_layers;
        bool done;
        bool cmd_set;
        char key[IB_SHA256_HEX];        /* rolling cache key after the last step */                   /* CMD seen in this stage (ENTRYPOINT then keeps it) */
        char *pending;                  /* --single-snapshot: the stage's one upper dir */
        char *pending_work;
};

struct build {
        const struct ib_build_opts *o;
        struct ib_store *store;
        struct ib_registry *reg;
        struct ib_context *ctx;
        struct ib_ignore *ignore;
        struct ib_dockerfile *df;
        struct ib_plan *plan;
        struct bstage *st;              /* indexed like df->stages */
        struct base_image *bases;
        size_t n_bases, alloc_bases;
        struct named_ctx *named;
        size_t n_named;
        struct ib_err *deferred;        /* an error met inside a callback */
        struct ib_cache_ahead *ahead;   /* registry cache answers looked up before execution */
        struct ib_cache_pusher *pusher; /* registry cache pushes in the background */
        char created[40];               /* RFC 3339 of this build (or SOURCE_DATE_EPOCH) */
        const char *step_created;       /* history time of the step at hand (a hit: the cached one) */
        char last_created[40];          /* the latest history time of the final stage: config.created */
        int64_t created_epoch;
        struct ib_build_result *res;
        struct ssh_agent {
                char *id, *sock;
                pid_t pid;
        } agents[8];                    /* --ssh ID=KEYFILE agents, this build's own */
        size_t n_agents;
};

/* src/build.c: one stage, in this process */
int ib_build_stage(struct build *b, struct bstage *s, struct ib_err **err);
/* src/build-jobs.c: every planned stage, --jobs at once */
int ib_build_stages(struct build *b, struct ib_err **err);

/* src/build-cache.c */
struct ib_bkey {
        struct ib_sha256 *h;
};
void ib_bkey_start(struct ib_bkey *k, const char *prev);
void ib_bkey_add(struct ib_bkey *k, const char *s);
void ib_bkey_addn(struct ib_bkey *k, const void *data, size_t n);
void ib_bkey_addv(struct ib_bkey *k, char *const *v);
void ib_bkey_finish(struct ib_bkey *k, char hex[IB_SHA256_HEX]);
struct ib_cache_entry {
        char *created;
        bool has_layer;
        struct ib_layer layer;
};
void ib_cache_entry_release(struct ib_cache_entry *e);
/* 0 and *ret on a hit; -ENOENT on a miss (or a dangling entry). */
int ib_cache_get(struct build *b, const char *key, struct ib_cache_entry *ret);
int ib_cache_put(struct build *b, const char *key, const char *created, const struct ib_layer *layer,
                 struct ib_err **err);

/* Registry cache (--cache): the image cache-repo:<key> holds the step. */
int ib_cache_remote_get(struct build *b, const char *key, struct ib_cache_entry *ret, struct ib_err **err);
int ib_cache_remote_put(struct build *b, const char *key, const char *created, const char *created_by,
                        const struct ib_layer *layer, struct ib_err **err);
/* Look @n keys up in the registry cache now, several at once; ib_cache_remote_get
 * then answers those keys from memory. */
int ib_cache_lookup_ahead(struct build *b, char (*keys)[IB_SHA256_HEX], size_t n, struct ib_err **err);
void ib_cache_ahead_free(struct build *b);
/* Queue a push for the background thread (started on first use); failures
 * are logged as warnings there. */
int ib_cache_remote_put_async(struct build *b, const char *key, const char *created, const char *created_by,
                              const struct ib_layer *layer, struct ib_err **err);
/* Wait for the queued pushes (bounded; see src/build-cache.c). */
void ib_cache_push_wait(struct build *b);
/* In a forked child: drop the parent's pusher (its thread is not ours). */
void ib_cache_push_forget(struct build *b);

/* src/build-mounts.c: RUN --mount */
struct ib_run_mounts {
        struct ib_mount m[16];
        size_t n;
        char **owned;                   /* strings the mounts point at */
        int locks[16];                  /* cache mount locks, held for the RUN */
        size_t n_locks;
        struct { char *scratch, *view; } views[16];
        size_t n_views;
        char *secret_dir;               /* a tmpfs, mounted in our namespace only */
        char **env;                     /* secret env= and SSH_AUTH_SOCK */
        size_t n_ssh;
};
int ib_run_mounts_prepare(struct build *b, const struct ib_plan_step *st, struct ib_run_mounts *rm,
                          struct ib_err **err);
void ib_run_mounts_release(struct ib_run_mounts *rm);
/* Stop the agents started from index @first on (a --jobs child stops its own). */
void ib_build_stop_agents(struct build *b, size_t first);

/* src/build-events.c: events and phase times of the engine */
void ib_build_step_start(const struct bstage *s, size_t i, size_t n, const struct ib_df_instr *in, bool onbuild,
                         bool cached);
/* @layer: the step's new layer, or NULL. */
void ib_build_step_end(const struct bstage *s, size_t i, size_t n, const struct ib_df_instr *in, bool onbuild,
                       bool cached, double seconds, const struct ib_layer *layer);
/* Add the seconds since @since (ib_now()) to phase @p of the build's result. */
void ib_build_phase_add(struct build *b, enum ib_phase p, double since);
void ib_build_stage_time(struct build *b, const struct bstage *s, double seconds);
/* --jobs children hand their phases and stage time back in their result. */
void ib_build_times_json(const struct ib_build_result *r, struct ib_buf *j);
void ib_build_times_apply(struct build *b, const struct bstage *s, const struct yajl_val_s *v);
void ib_build_times_reset(struct ib_build_result *r);
/* RUN output relay: a pipe whose write end becomes the RUN's stdout and
 * stderr, and a thread that turns what comes out into IB_EV_OUTPUT lines. */
struct ib_relay {
        int rfd, wfd;
        bool started;
        const char *stage;
        unsigned source_line;
        pthread_t thread;
};
int ib_relay_start(struct ib_relay *r, const char *stage, unsigned source_line, struct ib_err **err);
/* Close the write end (after the RUN is gone), drain, join. */
void ib_relay_stop(struct ib_relay *r);

/* src/build-base.c */
int ib_build_registry(struct build *b, struct ib_err **err);
int ib_build_parse_contexts(struct build *b, struct ib_err **err);
struct named_ctx *ib_build_named(struct build *b, const char *name);
int ib_build_resolve_base(struct build *b, const char *name, const char *platform, struct base_image **ret,
                          struct ib_err **err);
int ib_build_extract(struct build *b, struct bstage *s, struct ib_err **err);
int ib_build_extract_layers(struct build *b, struct blayer *layers, size_t n, struct ib_err **err);
int ib_build_fetch_blobs(struct build *b, const struct blayer *layers, size_t n, struct ib_err **err);
void ib_blayer_copy(struct blayer *dst, const struct blayer *src);
void ib_blayer_clear(struct blayer *l);
void ib_build_free_bases(struct build *b);
#endif
