/* src/context.h - build contexts and the COPY/ADD file engine.
 *
 * A build context is a directory tree that COPY/ADD read from: a directory
 * (`.`, `PATH`, `dir://PATH`), a tar file (`tar://PATH`, optionally gzip, bzip2,
 * xz or zstd compressed) or a tar on stdin (`-`).  Tars are extracted once into
 * a scratch dir of the store, securely (no entry escapes, devices skipped).
 * `COPY --from=stage` uses the same machinery on the stage's root directory.
 *
 * A COPY/ADD runs in three steps, so that a cache hit writes nothing:
 *   ib_copy_plan_new()    resolve sources (globs, symlinks, excludes) and
 *                         destinations (Docker/BuildKit rules) into a list of
 *                         entries: what will land where, with which metadata;
 *   ib_copy_plan_key()    the cache-key input: SHA-256 over the sorted,
 *                         length-framed (path, type, mode, uid, gid, content
 *                         digest, link target, xattrs) of every entry - never
 *                         mtimes.  Content digests come from the context's file
 *                         index so unchanged files are not re-read;
 *   ib_copy_plan_apply()  write the entries into a fresh layer dir (overlay
 *                         form), as the user namespace's root so owners are right.
 *
 * Semantics (BuildKit's Dockerfile frontend, and where we differ, why):
 *   - sources are relative to the context root; a leading `/` means that root;
 *     a `..` that climbs out of the root is an error naming the source
 *     (BuildKit silently clamps it to the root: the user meant something else);
 *   - globs `*`, `?`, `[...]` per path component with Go's filepath.Match rules;
 *     a literal source that does not exist is an error; a glob whose last
 *     component matches nothing copies nothing (BuildKit's AllowEmptyWildcard,
 *     recorded in ib_copy_stats.empty_patterns so the caller can warn); a glob
 *     whose fixed leading directory does not exist is an error naming the pattern;
 *   - symlinks *inside* a copied directory are copied as links; a symlink named
 *     as a source (or met while resolving a source path) is followed inside the
 *     context root, as BuildKit's FollowSymlinks does: absolute targets are taken
 *     from the context root; a target that climbs out of the root is an error;
 *   - a source directory copies its contents; a file goes to DEST when DEST
 *     does not end in `/` and is not an existing directory, else to DEST/NAME;
 *     several sources need a DEST ending in `/` (error otherwise, as BuildKit);
 *     a glob matching several entries needs the same (Docker documents it,
 *     BuildKit silently keeps the last one);
 *   - `--parents`: each source keeps its path below the context root, or below
 *     a `/./` pivot in the source (`a/./b/c` lands at DEST/b/c);
 *   - owner 0:0 unless --chown (applied to created parent dirs too, as
 *     BuildKit); modes kept unless --chmod (octal, or symbolic like `u+x,g-w`,
 *     `u=rwX,go=rX`, applied per entry to its source mode); mtimes kept;
 *     hardlinks among the copied files kept as hardlinks; sockets, fifos and
 *     devices skipped with a warning; xattrs copied except overlay's own
 *     (`*.overlay.*`, which would change the layer's meaning) and
 *     `security.selinux`; an xattr the kernel refuses in the namespace is skipped
 *     and counted;
 *   - missing parents of DEST are created 0755; parents that exist in the lower
 *     layers (ib_copy_lookup_fn) are reproduced with their metadata, and a
 *     symlink among them is followed (inside the image root) as BuildKit does;
 *     replacing a lower directory by a file or a lower non-directory by a
 *     directory is an error, as in BuildKit;
 *   - ADD: a local source file that is a tar (plain, gz, bz2, xz, zst; judged
 *     by content) is unpacked into DEST as a directory (entries may not escape
 *     the layer; devices skipped); `http://`/`https://` sources are fetched with
 *     libcurl (name from the URL path, mode 0600, mtime from Last-Modified,
 *     `--checksum=sha256:...` verified), never unpacked; git URLs are refused.
 */
#ifndef IB_CONTEXT_H
#define IB_CONTEXT_H
#include "lib/ib.h"
#include <sys/stat.h>

/* ------------------------------------------------------------ filtering */

/* One exclusion rule set (.dockerignore, or COPY --exclude).
 *   excluded(rel, is_dir): is @rel excluded?  The answer must include
 *     exclusion inherited from a parent dir (BuildKit's MatchesOrParentMatches).
 *   may_descend(reldir): for an excluded dir, could a `!` pattern re-include
 *     something below it?  If so the walker still enters it (and emits the dir
 *     only when something below it is kept).  NULL: never.
 * Paths are relative, without leading `./` or `/`.  excluded == NULL: nothing is excluded. */
struct ib_filter {
        bool (*excluded)(const char *relpath, bool is_dir, void *ud);
        bool (*may_descend)(const char *reldir, void *ud);
        void *ud;
};

/* -------------------------------------------------------------- context */

struct ib_context;
struct ib_file_index;

/* Open a build context.  @spec: a directory (`.`, `PATH`, `dir://PATH`),
 * `tar://FILE` or `-` (tar on stdin, read to the end).  Tars are extracted into
 * a scratch dir of @store (which must outlive the context).  Directory contexts
 * get a persistent file index in @store (cache/context-index/); @store may be
 * NULL for a directory context (index kept in memory only).  `gs://`, `s3://`
 * and other remote contexts are refused with a one-line reason. */
int ib_context_open(const char *spec, struct ib_store *store, struct ib_context **ret, struct ib_err **err);
void ib_context_free(struct ib_context *c);
static inline void ib_context_freep(struct ib_context **c) { if (*c) ib_context_free(*c); }
/* The context's root: an O_PATH directory fd and its absolute path. */
int ib_context_fd(const struct ib_context *c);
const char *ib_context_path(const struct ib_context *c);
/* The content-digest index of this context (never NULL). */
struct ib_file_index *ib_context_index(struct ib_context *c);
/* Persist the index (atomic rename) if it changed; a no-op for tar contexts. */
int ib_context_save_index(struct ib_context *c, struct ib_err **err);

/* Walk @reldir ("" for the root) depth first, in byte order of names, never
 * following symlinks.  @fn gets each kept entry (not @reldir itself) with its
 * lstat; directories come before their contents.  @fn returning < 0 stops. */
typedef int (*ib_walk_fn)(const char *relpath, const struct stat *st, void *ud, struct ib_err **err);
int ib_context_walk(struct ib_context *c, const char *reldir, const struct ib_filter *f,
                    ib_walk_fn fn, void *ud, struct ib_err **err);

/* ----------------------------------------------------------- file index */

/* (relpath, inode, size, mtime_ns, ctime_ns) -> SHA-256 of the content.
 * Stored in <store>/cache/context-index/<sha256 of the context's absolute path>,
 * one record per file framed with an xxhash of the record; a damaged record
 * ends the load (the rest is simply re-hashed).  Entries whose ctime is not
 * strictly older than the moment hashing started are not trusted next time
 * (a write in the same clock tick could hide), git's "racy clean" rule.
 * Entries of vanished files are dropped once the index holds far more
 * entries (2x + 100000) than the current process used.  Thread-safe. */
struct ib_file_index_stats {
        uint64_t hashed;        /* files read and hashed */
        uint64_t reused;        /* digests taken from the index */
        uint64_t bytes_hashed;
};
/* @path NULL: an in-memory index. */
int ib_file_index_open(const char *path, struct ib_file_index **ret, struct ib_err **err);
void ib_file_index_free(struct ib_file_index *ix);
/* The digest (64 hex) of regular file @relpath below @dirfd whose lstat is @st. */
int ib_file_index_digest(struct ib_file_index *ix, int dirfd, const char *relpath, const struct stat *st,
                         char hex[IB_SHA256_HEX], struct ib_err **err);
int ib_file_index_save(struct ib_file_index *ix, struct ib_err **err);
void ib_file_index_get_stats(const struct ib_file_index *ix, struct ib_file_index_stats *ret);

/* --------------------------------------------------- pure helper parsers */

/* Go filepath.Match on one path component (no `/` in @name).  Returns 1
 * match, 0 no match, -EINVAL for a malformed pattern. */
int ib_glob_match(const char *pattern, const char *name);
/* Does @s hold an unescaped `*`, `?` or `[`? */
bool ib_glob_has_magic(const char *s);

/* --chmod: octal (`755`, `0644`) or symbolic (`u+x,g-w`, `a=rX`, `go=u`).
 * Symbolic clauses apply to each entry's own mode; `X` means execute for
 * directories and for files with any execute bit (Linux chmod); a clause
 * with no who means `a` (no umask, as BuildKit). */
struct ib_chmod;
int ib_chmod_parse(const char *spec, struct ib_chmod **ret, struct ib_err **err);
mode_t ib_chmod_apply(const struct ib_chmod *m, mode_t mode, bool is_dir);  /* permission bits + suid/sgid/sticky */
void ib_chmod_free(struct ib_chmod *m);

/* --chown=user:group|uid:gid|user|uid resolved against the image's
 * /etc/passwd and /etc/group contents (either may be NULL when missing).
 * A bare user takes its primary group from passwd; a bare numeric uid takes
 * gid = uid (BuildKit).  A name not found is an error naming it. */
int ib_chown_resolve(const char *spec, const char *passwd, const char *group,
                     uid_t *ret_uid, gid_t *ret_gid, struct ib_err **err);
/* One passwd/group line lookup by name: 0 and the ids, -ENOENT when absent. */
int ib_passwd_lookup(const char *passwd, const char *name, uid_t *ret_uid, gid_t *ret_gid);
int ib_group_lookup(const char *group, const char *name, gid_t *ret_gid);

/* ----------------------------------------------------------------- copy */

/* The lower layers of the target image, as lstat: 0 and *ret filled,
 * -ENOENT when absent; for a symlink *ret_link gets its target (caller frees).
 * @abs_path is absolute and clean ("/usr/lib"). */
typedef int (*ib_copy_lookup_fn)(const char *abs_path, struct stat *ret, char **ret_link, void *ud);

/* A ready ib_copy_lookup_fn over a stack of overlay-form layer dirs, top
 * layer first, without mounting them: whiteouts (0:0 character devices, or
 * `.wh.NAME` files) hide lower entries, opaque dirs (trusted. or
 * user.overlay.opaque = "y") hide lower contents.  Pass the stack as the
 * lookup's @ud.  ib_layer_stack_read() reads a regular file (e.g.
 * /etc/passwd for --chown): -ENOENT when absent or not a regular file. */
struct ib_layer_stack;
int ib_layer_stack_open(char *const *dirs_top_first, struct ib_layer_stack **ret, struct ib_err **err);
void ib_layer_stack_free(struct ib_layer_stack *s);
int ib_layer_stack_lookup(const char *abs_path, struct stat *ret, char **ret_link, void *stack);
int ib_layer_stack_read(struct ib_layer_stack *s, const char *abs_path, size_t max, char **ret,
                        struct ib_err **err);

enum ib_copy_kind { IB_COPY_COPY, IB_COPY_ADD };

struct ib_copy_opts {
        enum ib_copy_kind kind;
        char *const *sources;           /* after variable expansion, as written */
        const char *dest;               /* absolute (WORKDIR applied); a trailing `/` matters */
        const char *what;               /* "COPY"/"ADD" or "file:line COPY" for error messages; NULL: by kind */
        struct ib_filter ignore;        /* .dockerignore: paths relative to the context root */
        struct ib_filter exclude;       /* --exclude: paths relative to each source (for glob
                                         * matches: relative to the glob's fixed directory) */
        bool parents;                   /* --parents */
        bool chown;                     /* --chown given: uid/gid below (ib_chown_resolve) */
        uid_t uid;
        gid_t gid;
        const struct ib_chmod *chmod;   /* --chmod, or NULL */
        const char *checksum;           /* ADD --checksum=sha256:<hex> (URLs only), or NULL */
        ib_copy_lookup_fn lookup;       /* NULL: nothing below (FROM scratch) */
        void *lookup_ud;
        struct timespec dir_mtime;      /* mtime of created parent dirs; {0,0}: now */
        struct ib_store *store;         /* for ADD URL downloads; may be NULL for COPY */
};

struct ib_copy_stats {
        uint64_t files, dirs, symlinks, hardlinks, archives, urls;
        uint64_t bytes;                 /* regular-file bytes written */
        uint64_t xattrs_skipped;        /* refused by the kernel in this namespace */
        char **warnings;                /* "skipped socket `a/s`", ... (NULL-terminated or NULL) */
        char **empty_patterns;          /* globs that matched nothing */
};

struct ib_copy_plan;
int ib_copy_plan_new(struct ib_context *c, const struct ib_copy_opts *o, struct ib_copy_plan **ret,
                     struct ib_err **err);
/* Cache-key input of the plan (64 hex).  Reads through the context's index;
 * ADD URLs without --checksum are downloaded here (to the store's scratch). */
int ib_copy_plan_key(struct ib_copy_plan *p, char hex[IB_SHA256_HEX], struct ib_err **err);
/* Write the plan into @layer_fd (a directory, normally empty).  On failure the
 * layer dir holds partial content: the caller removes it. */
int ib_copy_plan_apply(struct ib_copy_plan *p, int layer_fd, struct ib_err **err);
const struct ib_copy_stats *ib_copy_plan_stats(const struct ib_copy_plan *p);
/* The planned entries, for tests and `debug-copy --list`: "TYPE MODE UID:GID /path[ -> target]". */
char **ib_copy_plan_describe(const struct ib_copy_plan *p);
void ib_copy_plan_free(struct ib_copy_plan *p);
static inline void ib_copy_plan_freep(struct ib_copy_plan **p) { if (*p) ib_copy_plan_free(*p); }

/* Is @src an ADD URL (http/https) / a git URL (refused)? */
bool ib_copy_is_url(const char *src);
bool ib_copy_is_git_url(const char *src);

#endif
