/* src/store-admin.h - what the store holds (du) and removing what no recent
 * build used (prune), for `imgbuild store`.  Nothing here prints.
 *
 * Sizes are disk usage as du(1) counts it: st_blocks, each inode once.
 * "Last used" of an object is the later of its use record (used/<kind>/<hex>,
 * see ib_store_touch_used in lib/ib.h) and its ctime (when it appeared). */
#ifndef IB_STORE_ADMIN_H
#define IB_STORE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ib_err;
struct ib_store;

struct ib_store_image_usage {
        char *name;             /* "domain/path:tag" as recorded in cache/refs/ */
        char *digest;           /* what the tag resolved to at its last pull */
        uint64_t blobs, blob_bytes, layers, layer_bytes;        /* what it references that the store holds */
};

struct ib_store_usage {
        uint64_t blobs, blob_bytes;
        uint64_t layers, layer_bytes;           /* layer dirs, their indexes and locks */
        uint64_t cache_entries, cache_bytes;    /* all of cache/: steps, refs, RUN --mount caches, indexes */
        uint64_t scratch_bytes;                 /* tmp/ */
        uint64_t other_bytes;                   /* used/, store.lock, the dirs themselves */
        uint64_t total_bytes;
        struct ib_store_image_usage *images;
        size_t n_images;
};
int ib_store_du(struct ib_store *s, struct ib_store_usage *ret, struct ib_err **err);
void ib_store_usage_release(struct ib_store_usage *u);

struct ib_prune_opts {
        int64_t keep_seconds;   /* keep what was used within this many seconds */
        bool all;               /* everything that no running build holds, and cache/ bookkeeping */
        bool dry_run;           /* decide and report, remove nothing */
};

struct ib_prune_item {
        char *path;             /* absolute, as it was in the store */
        uint64_t bytes;
};

struct ib_prune_result {
        struct ib_prune_item *items;
        size_t n_items, items_alloc;
        uint64_t bytes;
        uint64_t kept;          /* objects kept */
};
/* Takes store.lock exclusively while it decides and moves the victims into this
 * process's scratch dir (one rename each: readers see an object or nothing),
 * then removes them unlocked.  Never touches what a live process holds, nor what
 * a kept cache entry, manifest, index or config references. */
int ib_store_prune(struct ib_store *s, const struct ib_prune_opts *o, struct ib_prune_result *ret,
                   struct ib_err **err);
void ib_prune_result_release(struct ib_prune_result *r);

#endif
