/* snapshot/internal.h - helpers shared inside snapshot/ only. */
#ifndef IB_SNAPSHOT_INTERNAL_H
#define IB_SNAPSHOT_INTERNAL_H

#include "lib/ib.h"
#include "snapshot/snapshot.h"

/* ---- compression (snapshot/compress.c) ---- */

/* A compressor that writes its output into a blob writer (which hashes and
 * counts the compressed stream). */
struct ib_zout;
int ib_zout_new(enum ib_compression c, int level, struct ib_blob_writer *w,
                struct ib_zout **ret, struct ib_err **err);
int ib_zout_write(struct ib_zout *z, const void *data, size_t n, struct ib_err **err);
/* Flush the end of the stream. */
int ib_zout_finish(struct ib_zout *z, struct ib_err **err);
void ib_zout_free(struct ib_zout *z);
static inline void ib_zout_freep(struct ib_zout **z) { if (*z) ib_zout_free(*z); }

/* A decompressor over a file descriptor, format chosen by the magic bytes.
 * The compressed bytes read are hashed (blob digest); the decompressed bytes
 * are hashed (diff_id) as they are handed out. */
struct ib_zin;
int ib_zin_new(int fd, const char *what, struct ib_zin **ret, struct ib_err **err);
/* Decompress and hash in a second thread from now on (import: the extraction
 * then overlaps with the decompression, as tar overlaps with gzip -d).  The
 * buffer handed out by ib_zin_read stays valid until the next call. */
int ib_zin_start_thread(struct ib_zin *z, struct ib_err **err);
/* Point *ret_buf at the next decompressed bytes; returns their count, 0 at the
 * end of the stream (after the compressed stream ended cleanly), < 0 on error. */
ssize_t ib_zin_read(struct ib_zin *z, const void **ret_buf, struct ib_err **err);
/* Read and hash to the end (what the tar reader left, e.g. padding). */
int ib_zin_drain(struct ib_zin *z, struct ib_err **err);
/* Digests of both streams so far, "sha256:<hex>"; caller frees. */
char *ib_zin_blob_digest(struct ib_zin *z);
char *ib_zin_diff_id(struct ib_zin *z);
uint64_t ib_zin_out_bytes(const struct ib_zin *z);
const char *ib_zin_format(const struct ib_zin *z);
void ib_zin_free(struct ib_zin *z);
static inline void ib_zin_freep(struct ib_zin **z) { if (*z) ib_zin_free(*z); }

/* ---- names are bytes (snapshot/compress.c) ----
 * libarchive converts names between the pax headers' UTF-8 and the current
 * locale.  Both directions run under a thread-local C.UTF-8 locale, so the bytes
 * written do not depend on the user's locale: UTF-8 names go in as they are,
 * others as bytes with hdrcharset=BINARY. */
#include <locale.h>
locale_t ib_utf8_locale_enter(void);
void ib_utf8_locale_leave(locale_t old);

/* ---- tar names (snapshot/export.c, snapshot/import.c) ---- */
#define IB_WH_PREFIX ".wh."
#define IB_WH_OPAQUE ".wh..wh..opq"
#define IB_XATTR_OPAQUE "user.overlay.opaque"

/* Names of a tar entry below the layer root: leading '/' dropped, "" and "."
 * components dropped, ".." refused (snapshot/import.c). */
int ib_split_path(const char *raw, char ***ret, size_t *ret_n, struct ib_err **err);
void ib_comps_free(char **v, size_t n);
char *ib_comps_join(char **v, size_t n);

/* ---- the entries index (snapshot/index.c) ---- */
struct archive_entry;
/* list.c: the one-letter type of a tar entry (f d l h c b p s, ? otherwise). */
char ib_entry_type_char(struct archive_entry *ae);
/* Append the line for one entry (normalised @path, its last component @name). */
void ib_index_add(struct ib_buf *b, const char *path, const char *name, struct archive_entry *ae);
/* Write layers/<hex>.entries atomically. */
int ib_index_write(struct ib_store *store, const char *diff_id, const struct ib_buf *b, struct ib_err **err);

/* Is @name an overlay bookkeeping xattr (trusted.overlay.*, user.overlay.*)? */
bool ib_is_overlay_xattr(const char *name);

#endif
