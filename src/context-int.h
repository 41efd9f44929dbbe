/* src/context-int.h - helpers shared by context.c, copy.c and copyurl.c only. */
#ifndef IB_CONTEXT_INT_H
#define IB_CONTEXT_INT_H
#include "src/context.h"

struct archive;

/* Secure extraction of an opened libarchive reader below @root_fd: entry
 * paths are normalised (leading `/` and `./` dropped), `..` refused, no
 * component may be a symlink, hardlink targets must be inside and regular;
 * sockets, fifos and devices are skipped with a warning in @stats. */
struct ib_untar_opts {
        bool same_owner;        /* apply the archive's uid/gid (else leave ours) */
        bool chown;             /* override owner with uid/gid */
        uid_t uid;
        gid_t gid;
        const struct ib_chmod *chmod;
        const char *what;       /* for messages: "context `x.tar`", "ADD x.tar.gz" */
};
int ib_untar(struct archive *a, int root_fd, const struct ib_untar_opts *o, struct ib_copy_stats *stats,
             struct ib_err **err);
/* Open directory @rel below @root_fd with no symlink on the way ("" = the root). */
int ib_open_dir_beneath(int root_fd, const char *rel, struct ib_err **err);
/* Enable the tar formats and the in-process decompressors (gz, bz2, xz, lzma, zstd). */
void ib_archive_read_tar_support(struct archive *a);
/* libarchive's message as an ib_err. */
int ib_err_archive(struct ib_err **err, struct archive *a, const char *what);

/* Copy xattrs from @src_fd to @dst_fd (both real fds; NULL-safe for symlinks
 * via the path variants is not needed: symlink xattrs are not copied).
 * Skips overlay's own and security.selinux; refusals are counted. */
void ib_copy_xattrs(int src_fd, int dst_fd, uint64_t *skipped);
bool ib_xattr_copyable(const char *name);

/* Append a formatted string to a NULL-terminated vector. */
void ib_strv_pushf(char ***v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ADD <url>: download into @dst_dirfd/@name (created 0600, mtime from
 * Last-Modified or @fallback_mtime), verifying @checksum when given.
 * *ret_hex gets the content's sha256. */
int ib_fetch_url(const char *url, const char *checksum, int dst_dirfd, const char *name,
                 const struct timespec *fallback_mtime, char ret_hex[IB_SHA256_HEX], struct ib_err **err);
/* The file name ADD gives to @url: the last component of its path (decoded). */
char *ib_url_filename(const char *url);

#endif
