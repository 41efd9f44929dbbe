/* snapshot/snapshot.h - the two forms of a layer and the bridge between them.
 *
 *   overlay form: a directory usable as an overlay lower dir (whiteouts are 0:0
 *                 character devices, opaque dirs carry user.overlay.opaque=y);
 *   OCI form:     a (compressed) tar blob in the store, named by its digest, whose
 *                 uncompressed stream is named by its diff_id.
 *
 * Export walks only the given dir (the upper dir of a RUN or a layer written by
 * COPY) and streams tar -> SHA-256 (diff_id) -> compressor -> SHA-256 (digest)
 * straight into blobs/sha256/ in one pass.  Import extracts a blob securely into
 * layers/<diffid-hex>/ of the store (see man/imgbuild-layers.7 for the rules).
 *
 * Both run as whatever uid the caller is; imgbuild calls them from inside its
 * user namespace, where ownership is the container's.
 *
 * Error contract: lib/ib.h (return < 0 and set *err; errors name the layer).
 */
#ifndef IB_SNAPSHOT_H
#define IB_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct ib_err;
struct ib_store;

enum ib_compression {
        IB_COMPRESSION_GZIP = 0,        /* default */
        IB_COMPRESSION_ZSTD,
        IB_COMPRESSION_NONE,
};

#define IB_MEDIA_TYPE_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define IB_MEDIA_TYPE_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define IB_MEDIA_TYPE_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"

/* "gzip", "zstd", "none" (also "uncompressed") -> enum; -EINVAL otherwise. */
int ib_compression_parse(const char *s, enum ib_compression *ret);
const char *ib_compression_name(enum ib_compression c);
const char *ib_compression_media_type(enum ib_compression c);

struct ib_export_opts {
        enum ib_compression compression;
        /* -1: the default (gzip: ISA-L level 1, zstd: 3).  gzip 0..3 use ISA-L's
         * fast deflate, 4..9 zlib's; zstd 1..19. */
        int level;
        /* When set, every mtime later than @source_date_epoch is clamped to it
         * (files, dirs, symlinks): same tree in, same bytes out. */
        bool reproducible;
        int64_t source_date_epoch;
};
#define IB_EXPORT_OPTS_INIT { .compression = IB_COMPRESSION_GZIP, .level = -1 }

struct ib_layer_desc {
        char *diff_id;          /* "sha256:<hex>" of the uncompressed tar */
        char *digest;           /* "sha256:<hex>" of the blob in the store */
        uint64_t size;          /* blob size in bytes */
        const char *media_type; /* static string (IB_MEDIA_TYPE_LAYER_*) */
        uint64_t entries;       /* tar entries written */
        double compress_seconds;        /* wall-clock time spent in the compressor (part of the export) */
};
void ib_layer_desc_release(struct ib_layer_desc *d);

/* Export the overlay-form dir @dir into a blob of @store.  Sockets are skipped;
 * overlay's own xattrs (*.overlay.*) never reach the tar; a dir with
 * metacopy/redirect xattrs is refused (it cannot be represented).
 * On success fills *ret (release with ib_layer_desc_release). */
int ib_snapshot_export(struct ib_store *store, const char *dir, const struct ib_export_opts *opts,
                       struct ib_layer_desc *ret, struct ib_err **err);

/* What an import could not keep as it was, for ONE warning per kind in the CLI. */
#define IB_IMPORT_EXAMPLES 3
struct ib_import_stats {
        bool extracted;                 /* false: the layer was already in the store */
        bool waited;                    /* another process held the layer's lock first */
        uint64_t entries;               /* tar entries processed */
        uint64_t bytes;                 /* uncompressed tar bytes */
        /* Owners not mapped in this user namespace: stored as 65534:65534 (or
         * left to the extracting uid when 65534 is not mapped either). */
        uint64_t owners_squashed;
        char *owner_example;            /* path of one such entry */
        uid_t owner_example_uid;
        gid_t owner_example_gid;
        /* Device nodes (other than whiteouts) that could not be created. */
        uint64_t devices_skipped;
        char *device_examples[IB_IMPORT_EXAMPLES];
        /* xattrs refused by the kernel (e.g. security.* without privilege). */
        uint64_t xattrs_skipped;
        char *xattr_example;            /* "path (name)" */
};
void ib_import_stats_release(struct ib_import_stats *st);

/* Import the blob @digest (already in the store's blobs/) as layer @diff_id:
 * the result is layers/<diffid-hex>/ of @store, *ret_dir (may be NULL) gets its
 * path.  Compression is detected by magic (gzip, zstd or none).  Concurrent
 * imports of the same layer (other processes too) extract it once: the others
 * wait on layers/<hex>.lock and reuse the result.  A hostile or corrupt layer,
 * or a digest/diff_id mismatch, fails with an error naming @digest; the store is
 * left as it was.  @stats may be NULL. */
int ib_snapshot_import(struct ib_store *store, const char *digest, const char *diff_id,
                       char **ret_dir, struct ib_import_stats *stats, struct ib_err **err);

/* "<root>/layers/<hex>" for diff_id "sha256:<hex>"; NULL if malformed. */
char *ib_snapshot_layer_path(const struct ib_store *store, const char *diff_id);
bool ib_snapshot_has_layer(const struct ib_store *store, const char *diff_id);

/* Publish an overlay-form dir (a RUN's upper dir, a COPY layer) that lives on the
 * store's file system as layers/<diffid-hex>/ by rename.  If that layer already
 * exists, @dir is removed instead (same diff_id, same content).  *ret_dir may be NULL. */
int ib_snapshot_publish_dir(struct ib_store *store, const char *dir, const char *diff_id,
                            char **ret_dir, struct ib_err **err);

/* `imgbuild store verify`'s layer part: every layers/<hex> dir must hold what
 * its entries index lists (same types, regular files of the same size); other
 * names in layers/ must be an index, a lock or a live writer's temp file.
 * Appends problems to @r and counts layers (and those without an index). */
struct ib_store_report;
int ib_snapshot_verify_layers(struct ib_store *store, struct ib_store_report *r, struct ib_err **err);

/* The entries index of a layer: layers/<diffid-hex>.entries, one line per tar
 * entry in tar order, written when the layer is imported (or by
 * ib_snapshot_index without extracting it), so a stage that only COPYs onto a
 * base can learn its dirs, owners and symlinks without extracting the base.
 *   imgbuild-entries 1
 *   TYPE MODE UID GID SIZE PATH LINK
 * TYPE as in struct ib_layer_entry, plus 'w' (whiteout: PATH is the name it
 * hides) and 'o' (opaque marker: PATH is the dir); MODE octal; PATH and LINK
 * percent-escaped (bytes <= 0x20, '%' and 0x7f), LINK "%" when there is none. */
char *ib_snapshot_index_path(const struct ib_store *store, const char *diff_id);
/* Make the index of blob @digest (layer @diff_id) by reading it, without
 * extracting; both digests are verified.  A no-op when the index exists. */
int ib_snapshot_index(struct ib_store *store, const char *digest, const char *diff_id, struct ib_err **err);
struct ib_layer_entry;
typedef int (*ib_layer_entry_fn)(const struct ib_layer_entry *e, void *userdata);
/* Call @fn for each line of the index of layer @diff_id (xattrs "", mtime 0). */
int ib_snapshot_read_index(const struct ib_store *store, const char *diff_id, ib_layer_entry_fn fn,
                           void *userdata, struct ib_err **err);

/* One tar entry as the layer list sees it (for tests and `debug-layer list`). */
struct ib_layer_entry {
        char type;              /* f regular, d dir, l symlink, h hardlink, c/b device, p fifo */
        const char *path;
        unsigned mode;          /* permission bits incl. setuid/setgid/sticky */
        uint64_t uid, gid;
        int64_t size;
        int64_t mtime;
        const char *link;       /* symlink or hardlink target, or NULL */
        const char *xattrs;     /* "name=hexvalue,name=hexvalue" sorted, or "" */
};
/* Read the blob at @path (any compression) and call @fn for each entry in tar
 * order; a non-zero return of @fn stops the walk and is returned. */
int ib_snapshot_list(const char *path, ib_layer_entry_fn fn, void *userdata, struct ib_err **err);

#endif
