/* tests/fuzz/fuzz-layer-import.c - layer import (tar -> overlay-form dir,
 * whiteouts, hardlinks, xattrs) on arbitrary bytes, through the real entry
 * point ib_snapshot_import into a scratch store.
 *
 * Input: the first byte chooses the form, the rest is the tar: odd -> it is
 * gzip-compressed here first (the common layer form), even -> imported as it
 * is (plain tar, or whatever compression its magic says).  So mutations act on
 * the tar structure in both forms.
 *
 * Besides not crashing: nothing may be written outside the store.  The store
 * lives in <scratch>/store next to a sentinel file and a sentinel dir; after
 * each input, <scratch> must hold exactly those three, unchanged, and the
 * store's top level only its own entries.  The layer is removed after each
 * input.  <scratch> is a per-process dir below $TMPDIR (default /tmp), removed
 * at exit.
 *
 *   make fuzz && mkdir -p /tmp/c && ./build-fuzz/fuzz-layer-import /tmp/c tests/fuzz/corpus-layer-import */
#include "lib/ib.h"
#include "snapshot/internal.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Inputs above this are ignored: a tar of a few hundred entries is enough to
 * reach every path, and the extraction must stay cheap per input. */
#define FUZZ_MAX_INPUT (256u << 10)

/* Durability does not matter for a scratch store that is removed after each
 * input, and a sync per input would make the fuzzer disk-bound (about 10 inputs
 * a second instead of hundreds): the harness's own definitions take the place
 * of libc's for the whole process.  A bad descriptor still fails as it would. */
int fsync(int fd);
int fdatasync(int fd);
int syncfs(int fd);
int fsync(int fd)
{
        return fcntl(fd, F_GETFD) < 0 ? -1 : 0;
}
int fdatasync(int fd)
{
        return fsync(fd);
}
int syncfs(int fd)
{
        return fsync(fd);
}

static char *scratch;           /* <TMPDIR>/ib-fuzz-import-XXXXXX */
static struct ib_store *store;
static struct stat sentinel_st;

static void cleanup(void)
{
        struct ib_err *err = NULL;

        if (store)
                ib_store_close(store);
        store = NULL;
        if (scratch)
                (void) ib_rm_rf(scratch, &err);
        ib_err_free(&err);
        free(scratch);
        scratch = NULL;
}

static void die(const char *what, struct ib_err *err)
{
        fprintf(stderr, "fuzz-layer-import: %s: %s\n", what, err ? err->msg : strerror(errno));
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const char *tmp = getenv("TMPDIR");
        struct ib_err *err = NULL;
        _cleanup_free_ char *root = NULL, *sent = NULL, *sdir = NULL;
        int fd;

        (void) argc;
        (void) argv;
        scratch = ib_strdupf("%s/ib-fuzz-import-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(scratch))
                die("mkdtemp", NULL);
        atexit(cleanup);
        root = ib_path_join(scratch, "store");
        sent = ib_path_join(scratch, "sentinel");
        sdir = ib_path_join(scratch, "sentinel.d");
        fd = open(sent, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 || ib_write_all(fd, "untouched\n", 10) < 0 || close(fd) < 0)
                die("sentinel", NULL);
        if (stat(sent, &sentinel_st) < 0 || mkdir(sdir, 0755) < 0)
                die("sentinel", NULL);
        if (ib_store_open(root, &store, &err) < 0)
                die("store", err);
        return 0;
}

/* gzip @data (level 1: speed matters, not size). */
static void gzip_buf(const uint8_t *data, size_t n, struct ib_buf *out)
{
        z_stream z = { 0 };
        uint8_t chunk[16384];

        if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                abort();
        z.next_in = (uint8_t *) data;
        z.avail_in = (uInt) n;
        int zr;
        do {
                z.next_out = chunk;
                z.avail_out = sizeof(chunk);
                zr = deflate(&z, Z_FINISH);
                ib_buf_add(out, (const char *) chunk, sizeof(chunk) - z.avail_out);
        } while (zr == Z_OK);
        if (zr != Z_STREAM_END)
                abort();
        deflateEnd(&z);
}

/* The diff_id the import will verify: the hash of the decompressed stream
 * (when the blob does not decompress, any well-formed value will do: the
 * import must fail either way). */
static char *diff_id_of(const char *blob)
{
        struct ib_err *err = NULL;
        struct ib_zin *z = NULL;
        char *id = NULL;
        int fd = open(blob, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                die("open blob", NULL);
        if (ib_zin_new(fd, "fuzz", &z, &err) == 0 && ib_zin_drain(z, &err) == 0)
                id = ib_zin_diff_id(z);
        if (z)
                ib_zin_free(z);
        ib_err_free(&err);
        close(fd);
        return id ? id : ib_strdup("sha256:0000000000000000000000000000000000000000000000000000000000000000");
}

static bool allowed(const char *const *names, const char *n)
{
        for (; *names; names++)
                if (strcmp(*names, n) == 0)
                        return true;
        return false;
}

/* Every entry of @dir must be one of @names; abort naming the stray one. */
static void check_dir(const char *dir, const char *const *names)
{
        DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                die(dir, NULL);
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (!allowed(names, de->d_name)) {
                        fprintf(stderr, "fuzz-layer-import: written outside the layer: %s/%s\n", dir, de->d_name);
                        abort();
                }
        }
        closedir(d);
}

static void check_nothing_escaped(void)
{
        static const char *const top[] = { "store", "sentinel", "sentinel.d", NULL };
        _cleanup_free_ char *sent = ib_path_join(scratch, "sentinel");
        _cleanup_free_ char *sdir = ib_path_join(scratch, "sentinel.d");
        static const char *const none[] = { NULL };
        struct stat st;

        check_dir(scratch, top);
        check_dir(sdir, none);
        if (stat(sent, &st) < 0 || st.st_size != sentinel_st.st_size || st.st_ino != sentinel_st.st_ino ||
            st.st_mtim.tv_sec != sentinel_st.st_mtim.tv_sec || st.st_mtim.tv_nsec != sentinel_st.st_mtim.tv_nsec ||
            st.st_mode != sentinel_st.st_mode) {
                fprintf(stderr, "fuzz-layer-import: the sentinel next to the store changed\n");
                abort();
        }
}

/* Remove what the input left in the store: the blob, the layer, its index,
 * lock and use records; then the store's top level must be its own layout. */
static void reset_store(const char *digest, const char *diff_id)
{
        static const char *const layout[] = { "blobs", "layers", "cache", "tmp", "used", "store.lock", NULL };
        static const char *const kinds[] = { "blobs", "layers", "cache" };
        _cleanup_free_ char *blob = ib_store_blob_path(store, digest);
        _cleanup_free_ char *layer = ib_snapshot_layer_path(store, diff_id);
        _cleanup_free_ char *index = ib_snapshot_index_path(store, diff_id);
        _cleanup_free_ char *lock = ib_strdupf("%s.lock", layer);
        _cleanup_free_ char *layers = ib_path_join(store->root, "layers");
        static const char *const none[] = { NULL };
        struct ib_err *err = NULL;

        unlink(blob);
        if (ib_rm_rf(layer, &err) < 0 && ib_err_code(err) != ENOENT)
                die("remove the layer", err);
        ib_err_free(&err);
        unlink(index);
        unlink(lock);
        /* the use records (for prune) of both objects */
        for (size_t i = 0; i < IB_ELEMENTSOF(kinds); i++) {
                const char *ids[] = { digest, diff_id };
                for (size_t j = 0; j < IB_ELEMENTSOF(ids); j++) {
                        _cleanup_free_ char *u = ib_strdupf("%s/used/%s/%s", store->root, kinds[i],
                                                            ids[j] + strlen("sha256:"));
                        unlink(u);
                }
        }
        check_dir(layers, none);
        check_dir(store->root, layout);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ib_buf blob = IB_BUF_INIT;
        struct ib_import_stats st = { 0 };
        struct ib_err *err = NULL;
        char *digest = NULL, *diff_id = NULL, *path = NULL;

        if (size < 1 || size > FUZZ_MAX_INPUT)
                return 0;
        if (data[0] & 1)
                gzip_buf(data + 1, size - 1, &blob);
        else
                ib_buf_add(&blob, (const char *) data + 1, size - 1);
        if (ib_store_put_blob(store, blob.buf ? blob.buf : "", blob.len, NULL, &digest, &err) < 0)
                die("put blob", err);
        path = ib_store_blob_path(store, digest);
        diff_id = diff_id_of(path);
        if (ib_snapshot_import(store, digest, diff_id, NULL, &st, &err) < 0) {
                if (!err || !strstr(err->msg, digest))
                        abort();        /* errors name the layer */
        }
        ib_err_free(&err);
        ib_import_stats_release(&st);
        check_nothing_escaped();
        reset_store(digest, diff_id);
        free(path);
        free(digest);
        free(diff_id);
        ib_buf_release(&blob);
        return 0;
}
