/* src/docker-archive.h - `docker save` archives as a push source. */
#ifndef IB_DOCKER_ARCHIVE_H
#define IB_DOCKER_ARCHIVE_H
struct ib_err;
struct ib_store;
/* Import the single image of the archive at @path into @s: every file becomes a
 * blob, and a Docker schema 2 manifest is written for it; *ret_digest is that
 * manifest's digest (caller frees). */
int ib_docker_archive_import(struct ib_store *s, const char *path, char **ret_digest, struct ib_err **err);
#endif
