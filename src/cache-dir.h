/* src/cache-dir.h - a directory of base images, Kaniko's warmer layout:
 *
 *   DIR/sha256:<hex>        the image as a `docker save`-style tarball
 *                           (manifest.json with Config, RepoTags and Layers;
 *                           the config as "sha256:<hex>"; each layer blob as
 *                           it is in the registry, compressed, "<hex>.tar.gz")
 *   DIR/sha256:<hex>.json   the image manifest's exact bytes
 *
 * <hex> is the image manifest's digest (one platform's manifest, never an
 * index).  `imgbuild pull --cache-dir DIR REF` writes it; `imgbuild build
 * --cache-dir DIR` reads it (and so do Kaniko's --cache-dir, since the
 * layout is its warmer's) before asking a registry. */
#ifndef IB_CACHE_DIR_H
#define IB_CACHE_DIR_H

struct ib_err;
struct ib_store;

/* Write the image @manifest_digest (manifest, config and layers in @s) into
 * @dir, tagged @repo_tag (a reference string, may be NULL).  Files appear
 * under their final names complete or not at all. */
int ib_cache_dir_write(struct ib_store *s, const char *dir, const char *manifest_digest, const char *repo_tag,
                       struct ib_err **err);

/* Find @name (a reference; with a digest: that image, with a tag: the newest
 * tarball whose RepoTags lists it) in @dir and copy its manifest, config and
 * layer blobs into @s, each verified against its digest.  0 and
 * *ret_manifest_digest (caller frees); -ENOENT with no error set when @dir has
 * no such image; other errors with *err. */
int ib_cache_dir_import(struct ib_store *s, const char *dir, const char *name, char **ret_manifest_digest,
                        struct ib_err **err);

#endif
