/* lib/ib.h - imgbuild's toolbox: errors, buffers, cleanup, logging, hashing,
 * JSON, file-system and store helpers.  No project dependencies.
 *
 * Error contract (crun's, with -errno):
 *   - a function that fails returns < 0 (or NULL) AND sets *err;
 *   - on success it never touches *err;
 *   - the return value is -errno (-EIO when there is no errno).
 * Library code never prints; only src/ reports errors (ib_err_print).
 */
#ifndef IB_LIB_H
#define IB_LIB_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* ---------------------------------------------------------------- errors */

struct ib_err {
        int errnum;     /* errno value, or 0 when the message says it all */
        char *msg;      /* "outer: inner: innermost" */
};

/* Set *err (freeing any previous one) and return -errnum (or -EIO when errnum == 0). */
int ib_err_set(struct ib_err **err, int errnum, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Prepend "fmt: " to the message of *err; returns -errnum like ib_err_set. */
int ib_err_wrap(struct ib_err **err, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Free *err (NULL-safe) and reset it to NULL. */
void ib_err_free(struct ib_err **err);
/* "imgbuild: msg: strerror(errnum)\n" (no strerror when errnum == 0). */
void ib_err_print(FILE *out, const struct ib_err *err);
/* Return code of an error: -errnum, -EIO when errnum == 0. */
int ib_err_code(const struct ib_err *err);

/* --------------------------------------------------------------- cleanup */

#define _cleanup_(f) __attribute__((cleanup(f)))
static inline void ib_freep(void *p) { free(*(void **) p); }
static inline void ib_closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
                errno = saved;
        }
}
static inline void ib_fclosep(FILE **f) { if (*f) (void) fclose(*f); }
static inline void ib_errp(struct ib_err **e) { ib_err_free(e); }
#define _cleanup_free_ _cleanup_(ib_freep)
#define _cleanup_close_ _cleanup_(ib_closep)
#define _cleanup_fclose_ _cleanup_(ib_fclosep)
#define _cleanup_err_ _cleanup_(ib_errp)
/* One line per library handle type: IB_DEFINE_CLEANUP(yajl_val, yajl_tree_free)
 * defines yajl_tree_freep() for _cleanup_(yajl_tree_freep). */
#define IB_DEFINE_CLEANUP(type, fn) \
        static inline void fn##p(type *p) { if (*p) (void) fn(*p); }

#define IB_TAKE_PTR(p) ({ __typeof__(p) _t_ = (p); (p) = NULL; _t_; })
#define IB_TAKE_FD(fd) ({ int _t_ = (fd); (fd) = -1; _t_; })
#define IB_ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ allocation */
/* These abort with a message on out-of-memory: there is nothing sane to do. */
void *ib_malloc(size_t n);
void *ib_calloc(size_t n, size_t size);
void *ib_realloc(void *p, size_t n);
void *ib_reallocarray(void *p, size_t n, size_t size);
char *ib_strdup(const char *s);
char *ib_strndup(const char *s, size_t n);
char *ib_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Grow *arr (of *alloc elements of @size) so it holds at least @need. */
void ib_grow(void *arr, size_t *alloc, size_t need, size_t size);

/* NULL-terminated string vectors. */
size_t ib_strv_len(char *const *v);
void ib_strv_free(char **v);
char **ib_strv_dup(char *const *v);
/* Append a copy of @s to *v (a NULL-terminated vector, may be NULL). */
void ib_strv_push(char ***v, const char *s);
static inline void ib_strv_freep(char ***v) { ib_strv_free(*v); }
#define _cleanup_strv_ _cleanup_(ib_strv_freep)

/* A NULL-terminated string vector with amortized appends (ib_strv_push copies
 * and walks the vector: O(n) per call, too slow for a million words). */
struct ib_strvec {
        char **v;
        size_t n, alloc;
};
void ib_strvec_push_own(struct ib_strvec *x, char *s);  /* takes @s over */
char **ib_strvec_finish(struct ib_strvec *x);           /* hands the vector over (never NULL); *x is reset */
void ib_strvec_release(struct ib_strvec *x);

bool ib_startswith(const char *s, const char *prefix);
bool ib_endswith(const char *s, const char *suffix);
/* Messages quote user input (a Dockerfile line, a tar name) that may be
 * megabytes long: a copy of @s cut to about @max bytes by replacing its
 * middle with " ... (N bytes) ... ", so both ends (where the position and the
 * reason are) stay.  Caller frees. */
char *ib_elide(const char *s, size_t max);

/* UTF-8 (lib/utf8.c).  Length of the sequence at @s (at most @avail bytes),
 * 1 for an invalid byte; decode a sequence of that length (an invalid byte
 * gives U+FFFD); Go's unicode.IsSpace for the character of @n bytes at @s. */
size_t ib_utf8_len(const char *s, size_t avail);
uint32_t ib_utf8_decode(const char *s, size_t n);
bool ib_utf8_is_space(const char *s, size_t n);

/* ---------------------------------------------------------------- buffer */
/* Invariants (git's strbuf): after IB_BUF_INIT .buf is never NULL and always
 * NUL-terminated; .len excludes the NUL; ib_buf_detach() hands the memory over. */
struct ib_buf {
        char *buf;
        size_t len;
        size_t alloc;
};
extern char ib_buf_empty[1];
#define IB_BUF_INIT { .buf = ib_buf_empty, .len = 0, .alloc = 0 }
void ib_buf_grow(struct ib_buf *b, size_t extra);
void ib_buf_add(struct ib_buf *b, const void *data, size_t n);
void ib_buf_adds(struct ib_buf *b, const char *s);
void ib_buf_addc(struct ib_buf *b, char c);
void ib_buf_addf(struct ib_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ib_buf_vaddf(struct ib_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void ib_buf_reset(struct ib_buf *b);             /* len = 0, memory kept */
void ib_buf_truncate(struct ib_buf *b, size_t len);
char *ib_buf_detach(struct ib_buf *b);           /* caller frees; *b is reset */
void ib_buf_release(struct ib_buf *b);           /* frees; *b reusable */
static inline void ib_buf_releasep(struct ib_buf *b) { ib_buf_release(b); }
#define _cleanup_buf_ _cleanup_(ib_buf_releasep)

/* --------------------------------------------------------------- logging */
/* Only src/ logs at INFO and above; library modules may use ib_debug/ib_trace. */
enum ib_log_level { IB_LOG_ERROR, IB_LOG_WARN, IB_LOG_INFO, IB_LOG_DEBUG, IB_LOG_TRACE };
extern enum ib_log_level ib_log_level_max;
typedef void (*ib_log_handler)(enum ib_log_level lvl, const char *msg, void *userdata);
void ib_log_set_handler(ib_log_handler h, void *userdata);   /* NULL: default (stderr) */
void ib_log(enum ib_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ib_log_level_parse(const char *s, enum ib_log_level *ret);
#define ib_debug(...) do { if (ib_log_level_max >= IB_LOG_DEBUG) ib_log(IB_LOG_DEBUG, __VA_ARGS__); } while (0)
#define ib_trace(...) do { if (ib_log_level_max >= IB_LOG_TRACE) ib_log(IB_LOG_TRACE, __VA_ARGS__); } while (0)

/* ---------------------------------------------------------------- events */
/* Structured progress of a build, pull or push.  Library code (the engine in
 * src/build*.c, the verbs' registry hooks) emits events; a renderer installed
 * by the verb (src/progress.c: tty, plain or json) draws them.  Nothing is
 * printed when no handler is installed.  ib_event_emit serializes handlers
 * (a RUN output relay thread emits too), so a handler needs no lock. */
enum ib_event_kind {
        IB_EV_BUILD_START,      /* u.start: once, before the first step */
        IB_EV_STEP_START,       /* u.step: a step begins (cache status known) */
        IB_EV_STEP_END,         /* u.step: it ended; seconds, layer */
        IB_EV_OUTPUT,           /* u.output: lines a RUN wrote (relayed mode only) */
        IB_EV_TRANSFER,         /* u.xfer: pull/push progress of one blob */
        IB_EV_SUMMARY,          /* u.summary: the build succeeded */
        IB_EV_LOG,              /* u.log: an ib_log message (warnings, errors, ...) */
};

/* Phases of a build whose wall-clock seconds are added up (the bench helper's
 * breakdown): keep IB_PHASE_COUNT last; names from ib_phase_name(). */
enum ib_phase {
        IB_PHASE_RESOLVE,       /* references -> manifests and configs */
        IB_PHASE_PULL,          /* base layer blobs downloaded, registry cache lookups */
        IB_PHASE_EXTRACT,       /* base layers unpacked into overlay form */
        IB_PHASE_RUN,           /* RUN commands in the sandbox */
        IB_PHASE_SNAPSHOT,      /* layer dirs walked, tarred, hashed, published (compression excluded) */
        IB_PHASE_COMPRESS,      /* the compressor's share of the snapshots */
        IB_PHASE_PUSH,          /* destinations and registry cache entries pushed */
        IB_PHASE_COUNT
};
const char *ib_phase_name(enum ib_phase p);

enum ib_xfer_state { IB_XFER_START, IB_XFER_BYTES, IB_XFER_DONE, IB_XFER_EXISTS, IB_XFER_MOUNTED, IB_XFER_RETRY };
const char *ib_xfer_state_name(enum ib_xfer_state s);

struct ib_stage_time {
        const char *name;
        double seconds;
};

struct ib_event {
        enum ib_event_kind kind;
        enum ib_log_level level;        /* INFO unless said otherwise */
        union {
                struct {
                        const char *version, *mode, *mode_detail, *store;
                        long cpus;
                } start;
                struct {
                        const char *stage;      /* "build", "stage-1" */
                        size_t index, total;    /* 1-based; FROM is 1 */
                        const char *kind;       /* "RUN", "COPY", ... */
                        const char *instruction;/* as written, continuation lines joined */
                        bool onbuild, cached;
                        double seconds;         /* STEP_END */
                        const char *layer_digest;       /* STEP_END: the new layer, or NULL */
                        uint64_t layer_size;
                } step;
                struct {
                        const char *stage;
                        unsigned source_line;   /* the RUN's line in the Dockerfile */
                        const char *text;       /* one or more lines joined by '\n', no final newline */
                } output;
                struct {
                        const char *op;         /* "pull" or "push" */
                        enum ib_xfer_state state;
                        const char *digest;
                        uint64_t done, total;   /* total 0: unknown */
                } xfer;
                struct {
                        const char *digest;     /* image manifest digest */
                        uint64_t size;          /* manifest + config + layer blobs, bytes */
                        unsigned layers, new_layers, steps, cached, runs, extracted;
                        double seconds;
                        const struct ib_stage_time *stages;
                        size_t n_stages;
                        const double *phases;   /* IB_PHASE_COUNT seconds */
                } summary;
                struct {
                        const char *msg;
                } log;
        } u;
};
typedef void (*ib_event_handler)(const struct ib_event *ev, void *userdata);
void ib_event_set_handler(ib_event_handler h, void *userdata);  /* NULL: events are dropped */
bool ib_event_active(void);
void ib_event_emit(const struct ib_event *ev);
/* Seconds on the monotonic clock. */
double ib_now(void);

/* --------------------------------------------------------------- hashing */
/* SHA-256 via libcrypto (uses the CPU's SHA instructions where present). */
#define IB_SHA256_LEN 32
#define IB_SHA256_HEX 65        /* 64 hex digits + NUL */
struct ib_sha256;               /* opaque */
struct ib_sha256 *ib_sha256_new(void);
void ib_sha256_update(struct ib_sha256 *h, const void *data, size_t n);
/* Writes 64 lowercase hex digits + NUL into @hex; the context may be reused after ib_sha256_reset. */
void ib_sha256_final_hex(struct ib_sha256 *h, char hex[IB_SHA256_HEX]);
void ib_sha256_reset(struct ib_sha256 *h);
void ib_sha256_free(struct ib_sha256 *h);
static inline void ib_sha256_freep(struct ib_sha256 **h) { if (*h) ib_sha256_free(*h); }
void ib_sha256_hex(const void *data, size_t n, char hex[IB_SHA256_HEX]);
/* Hash what is left of @fd, streaming (1 MiB reads); returns 0 or -errno. */
int ib_sha256_fd(int fd, char hex[IB_SHA256_HEX], uint64_t *ret_size);
/* "sha256:<64 hex>"?  Returns true and points *ret_hex at the hex part. */
bool ib_digest_parse(const char *digest, const char **ret_hex);
bool ib_is_sha256_hex(const char *s);

/* xxhash (XXH3 64-bit): fast local fingerprints, never a digest that leaves the machine. */
uint64_t ib_xxh64(const void *data, size_t n, uint64_t seed);

/* ------------------------------------------------------------------ JSON */
/* Thin helpers over yajl.  Parsed trees are yajl_val; include <yajl/yajl_tree.h>. */
struct yajl_val_s;
/* Parse @len bytes (need not be NUL-terminated).  On error sets *err with
 * yajl's message prefixed by @what. */
struct yajl_val_s *ib_json_parse(const char *data, size_t len, const char *what, struct ib_err **err);
void ib_json_free(struct yajl_val_s *v);
static inline void ib_json_freep(struct yajl_val_s **v) { if (*v) ib_json_free(*v); }
#define _cleanup_json_ _cleanup_(ib_json_freep)
/* Object member lookup (one level); NULL when absent or @obj is not an object. */
struct yajl_val_s *ib_json_get(struct yajl_val_s *obj, const char *key);
/* String member, or NULL when absent or not a string. */
const char *ib_json_get_str(struct yajl_val_s *obj, const char *key);
/* Append @s as a JSON string literal (quotes and escapes) to @b. */
void ib_json_add_str(struct ib_buf *b, const char *s);
void ib_json_add_strn(struct ib_buf *b, const char *s, size_t n);

/* ------------------------------------------------------------ file system */
/* Open @rel below @root_fd; every component is resolved inside the root
 * (openat2 RESOLVE_IN_ROOT, or a component walk with O_NOFOLLOW where openat2
 * is missing); O_CLOEXEC is always added. */
int ib_open_in_root(int root_fd, const char *rel, int flags, mode_t mode, struct ib_err **err);
/* Create @path and its parents (mode 0755 unless @mode), like mkdir -p. */
int ib_mkdir_p(const char *path, mode_t mode, struct ib_err **err);
/* Remove @name below @dirfd recursively, never following symlinks and never
 * crossing a mount point. ENOENT is not an error. */
int ib_rm_rf_at(int dirfd, const char *name, struct ib_err **err);
int ib_rm_rf(const char *path, struct ib_err **err);
/* Read a whole file into *ret (NUL-terminated, *ret_len without it); refuses
 * files larger than @max with EFBIG. */
int ib_read_file(const char *path, size_t max, char **ret, size_t *ret_len, struct ib_err **err);
int ib_read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len, struct ib_err **err);
/* Write @data to @path atomically: temp file in the same dir, fsync, rename. */
int ib_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct ib_err **err);
/* Is @name (a base name) one of ib_write_file_atomic's temp files ("<name>.tmp-<pid>"),
 * and is its writer still alive (kill(pid, 0))? */
bool ib_atomic_tmp_name(const char *name);
bool ib_atomic_tmp_alive(const char *name);
/* write(2) all of @n bytes, retrying on EINTR and short writes. */
int ib_write_all(int fd, const void *data, size_t n);
/* Join two path pieces with exactly one '/'. */
char *ib_path_join(const char *a, const char *b);

/* ----------------------------------------------------------------- store */
/* The store (DESIGN.md):
 *   blobs/sha256/<hex>   compressed blobs, manifests, configs (verified on write)
 *   layers/<diffid-hex>/ a layer in overlay form
 *   cache/               key -> layer + config delta
 *   tmp/                 per-build scratch; entries of dead processes removed at open
 *   used/<kind>/<hex>    last use of an object (mtime), for prune; store.lock: see below
 * Everything appears under its final name only through rename(2) once complete. */
struct ib_store {
        char *root;
        int root_fd;
        int tmp_fd;     /* tmp/ */
        char *tmp_dir;  /* tmp/<pid>-<rand>/, this process's scratch; removed by ib_store_close */
        int lock_fd;    /* flock(LOCK_SH) on tmp/<name>.lock while the scratch dir lives */
};
/* Default root: $IMGBUILD_ROOT, else $XDG_DATA_HOME/imgbuild (~/.local/share/imgbuild)
 * for non-root, /var/lib/imgbuild for root.  Caller frees. */
char *ib_store_default_root(void);
/* Create the layout if needed, sweep stale tmp entries, make this process's scratch dir. */
int ib_store_open(const char *root, struct ib_store **ret, struct ib_err **err);
void ib_store_close(struct ib_store *s);
static inline void ib_store_closep(struct ib_store **s) { if (*s) ib_store_close(*s); }
/* "<root>/blobs/sha256/<hex>" for "sha256:<hex>" or a bare hex; NULL if malformed. */
char *ib_store_blob_path(const struct ib_store *s, const char *digest);
bool ib_store_has_blob(const struct ib_store *s, const char *digest);
/* A fresh unique path below this process's scratch dir (not created). */
char *ib_store_tmp_path(struct ib_store *s, const char *prefix);

/* Use records, for `imgbuild store prune`.  Kinds of objects and their ids:
 * blobs and layers by "sha256:<hex>" or bare hex (blob digest, layer diff_id),
 * cache entries by their 64-hex key.  A build calls ib_store_touch_used BEFORE
 * it looks an object up or creates it: the object is then held by this process
 * (a line in its tmp/<name>/held, which prune reads while the process lives)
 * and used/<kind>/<hex> gets the current time as its mtime.  Touch takes
 * <root>/store.lock shared and prune takes it exclusive while it decides and
 * renames away, so an object is either held before prune looks at it, or gone
 * before the build looks it up.  Best effort: a failure is logged at debug. */
enum ib_store_kind { IB_STORE_BLOB, IB_STORE_LAYER, IB_STORE_CACHE, IB_STORE_KINDS };
/* "blobs", "layers", "cache": the dir names below used/. */
const char *ib_store_kind_name(enum ib_store_kind k);
void ib_store_touch_used(struct ib_store *s, enum ib_store_kind kind, const char *id);
/* Take <root>/store.lock (shared or exclusive, waiting); *ret_fd holds it until closed. */
int ib_store_lock(struct ib_store *s, bool exclusive, int *ret_fd, struct ib_err **err);
/* Call @fn for every object held by a live process other than this one. */
typedef void (*ib_store_held_fn)(enum ib_store_kind kind, const char *hex, void *userdata);
void ib_store_for_each_held(struct ib_store *s, ib_store_held_fn fn, void *userdata);
/* Scratch left in tmp/ by processes that are gone (what the sweep at open could
 * not remove): calls @fn with the name below tmp/ of each entry whose lock
 * (tmp/<name>.lock) is not held; lone lock files are left to the sweep. */
typedef void (*ib_store_scratch_fn)(const char *name, void *userdata);
void ib_store_for_each_stale(struct ib_store *s, ib_store_scratch_fn fn, void *userdata);

/* Checks for `imgbuild store verify`: each appends what it finds wrong to a
 * report (one problem per path) and counts what it checked; nothing printed.
 * snapshot/ adds the layer checks (ib_snapshot_verify_layers). */
struct ib_store_problem {
        char *path;     /* absolute */
        char *what;     /* "digest is sha256:..." */
};
struct ib_store_report {
        struct ib_store_problem *problems;
        size_t n_problems, problems_alloc;
        struct ib_strvec stale;         /* tmp/ entries of dead processes: not corruption */
        /* "<diff_id hex> <blob hex>" of the layers cache entries name, so the
         * layer check can hold a layer without an index against its blob */
        struct ib_strvec layer_blobs;
        uint64_t blobs, blob_bytes, layers, layers_unchecked, cache_entries;
};
void ib_store_report_add(struct ib_store_report *r, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Sort the problems by path (stable output for the CLI and the tests). */
void ib_store_report_sort(struct ib_store_report *r);
void ib_store_report_release(struct ib_store_report *r);
/* Re-hash every file of blobs/sha256/ (streaming, @threads workers; 0: one per
 * CPU, at most 8): the digest must equal the name. */
int ib_store_verify_blobs(struct ib_store *s, unsigned threads, struct ib_store_report *r, struct ib_err **err);
/* Every cache/steps/<key> must be JSON of the entry format (src/build-cache.c)
 * whose layer blob exists with the recorded size.  Run it before the layer
 * check: it fills r->layer_blobs. */
int ib_store_verify_cache(struct ib_store *s, struct ib_store_report *r, struct ib_err **err);
/* Fill r->stale (see ib_store_for_each_stale). */
void ib_store_verify_scratch(struct ib_store *s, struct ib_store_report *r);

/* Streaming blob writer: data goes to a temp file and is hashed on the way;
 * commit verifies against @expect (may be NULL: then the computed digest names
 * the blob) and renames into blobs/sha256/.  abort (or free without commit)
 * removes the temp file. */
struct ib_blob_writer;
int ib_blob_writer_new(struct ib_store *s, struct ib_blob_writer **ret, struct ib_err **err);
int ib_blob_writer_write(struct ib_blob_writer *w, const void *data, size_t n, struct ib_err **err);
uint64_t ib_blob_writer_size(const struct ib_blob_writer *w);
/* On success *ret_digest (may be NULL) gets "sha256:<hex>" (caller frees). A
 * mismatch with @expect is EBADMSG and names both digests. */
int ib_blob_writer_commit(struct ib_blob_writer *w, const char *expect, char **ret_digest, struct ib_err **err);
void ib_blob_writer_free(struct ib_blob_writer *w);
static inline void ib_blob_writer_freep(struct ib_blob_writer **w) { if (*w) ib_blob_writer_free(*w); }
/* Convenience: store a whole in-memory blob. */
int ib_store_put_blob(struct ib_store *s, const void *data, size_t n, const char *expect,
                      char **ret_digest, struct ib_err **err);

#endif
