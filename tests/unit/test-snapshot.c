/* tests/unit/test-snapshot.c - snapshot/: compression streams (both ways, by
 * magic, multi-member, truncation, garbage) and an export -> import round trip
 * of a plain tree (under ASan/UBSan too). */
#include "lib/ib.h"
#include "snapshot/internal.h"
#include "snapshot/snapshot.h"
#include "tests/lib/ib-test.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#define DATA_LEN (3 * 1024 * 1024 + 17)

static unsigned char *make_data(void)
{
        unsigned char *d = ib_malloc(DATA_LEN);
        uint32_t x = 12345;
        for (size_t i = 0; i < DATA_LEN; i++) {
                x = x * 1103515245 + 12345;
                d[i] = (i / 4096) % 2 ? (unsigned char) (x >> 24) : (unsigned char) "layer "[i % 6];
        }
        return d;
}

/* Compress @data with @c into the store; returns the blob digest. */
static char *compress_blob(struct ib_store *s, enum ib_compression c, int level, const void *data, size_t n)
{
        struct ib_blob_writer *w = NULL;
        struct ib_zout *z = NULL;
        struct ib_err *err = NULL;
        char *digest = NULL;

        if (ib_blob_writer_new(s, &w, &err) < 0 || ib_zout_new(c, level, w, &z, &err) < 0 ||
            ib_zout_write(z, data, n / 2, &err) < 0 || ib_zout_write(z, (const char *) data + n / 2, n - n / 2, &err) < 0 ||
            ib_zout_finish(z, &err) < 0 || ib_blob_writer_commit(w, NULL, &digest, &err) < 0)
                printf("# %s\n", err ? err->msg : "?");
        ib_err_free(&err);
        ib_zout_free(z);
        ib_blob_writer_free(w);
        return digest;
}

/* Decompress the file at @path; returns 0 and the output, or < 0 with the message in *msg. */
static bool threaded;

static int decompress_file(const char *path, struct ib_buf *out, char **ret_diff, char **ret_blob, char **msg)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct ib_zin *z = NULL;
        struct ib_err *err = NULL;
        const void *buf;
        ssize_t n;
        int r = ib_zin_new(fd, "test", &z, &err);
        if (r == 0 && threaded)
                r = ib_zin_start_thread(z, &err);

        while (r == 0 && (n = ib_zin_read(z, &buf, &err)) != 0) {
                if (n < 0) {
                        r = -1;
                        break;
                }
                ib_buf_add(out, buf, (size_t) n);
        }
        if (r == 0) {
                if (ret_diff)
                        *ret_diff = ib_zin_diff_id(z);
                if (ret_blob)
                        *ret_blob = ib_zin_blob_digest(z);
        }
        if (err && msg)
                *msg = ib_strdup(err->msg);
        ib_err_free(&err);
        ib_zin_free(z);
        close(fd);
        return r;
}

static void test_streams(struct ib_store *s)
{
        _cleanup_free_ unsigned char *data = make_data();
        char want_diff[IB_SHA256_HEX];
        static const struct { enum ib_compression c; int level; const char *name; } cases[] = {
                { IB_COMPRESSION_GZIP, -1, "gzip (isa-l)" }, { IB_COMPRESSION_GZIP, 3, "gzip level 3" },
                { IB_COMPRESSION_GZIP, 6, "gzip level 6 (zlib)" }, { IB_COMPRESSION_ZSTD, -1, "zstd" },
                { IB_COMPRESSION_NONE, -1, "none" },
        };

        ib_sha256_hex(data, DATA_LEN, want_diff);
        for (size_t i = 0; i < IB_ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *digest = compress_blob(s, cases[i].c, cases[i].level, data, DATA_LEN);
                _cleanup_free_ char *path = digest ? ib_store_blob_path(s, digest) : NULL;
                _cleanup_free_ char *diff = NULL, *blob = NULL, *msg = NULL;
                _cleanup_free_ char *want = ib_strdupf("sha256:%s", want_diff);
                struct ib_buf out = IB_BUF_INIT;
                int rr = path ? decompress_file(path, &out, &diff, &blob, &msg) : -1;
                IB_OK(rr == 0 && out.len == DATA_LEN && memcmp(out.buf, data, DATA_LEN) == 0,
                      "%s: round trip by magic (%s)", cases[i].name, msg ? msg : "ok");
                IB_STREQ(diff, want, "%s: diff hash of the output", cases[i].name);
                IB_STREQ(blob, digest, "%s: blob hash of the input", cases[i].name);
                ib_buf_release(&out);
        }
        /* the same input twice gives the same blob */
        _cleanup_free_ char *d1 = compress_blob(s, IB_COMPRESSION_GZIP, -1, data, DATA_LEN);
        _cleanup_free_ char *d2 = compress_blob(s, IB_COMPRESSION_GZIP, -1, data, DATA_LEN);
        IB_STREQ(d1, d2, "gzip output is deterministic");

        /* two gzip members, zero padding after: one stream */
        _cleanup_free_ char *g1 = compress_blob(s, IB_COMPRESSION_GZIP, 1, data, 1000);
        _cleanup_free_ char *g2 = compress_blob(s, IB_COMPRESSION_GZIP, 6, data + 1000, 2000);
        _cleanup_free_ char *p1 = ib_store_blob_path(s, g1), *p2 = ib_store_blob_path(s, g2);
        _cleanup_free_ char *c1 = NULL, *c2 = NULL, *cat = ib_strdupf("%s/cat", ib_t_tmpdir());
        size_t n1 = 0, n2 = 0;
        struct ib_err *err = NULL;
        IB_OK(ib_read_file(p1, 1 << 20, &c1, &n1, &err) == 0 && ib_read_file(p2, 1 << 20, &c2, &n2, &err) == 0,
              "read two gzip blobs");
        struct ib_buf b = IB_BUF_INIT, out = IB_BUF_INIT;
        ib_buf_add(&b, c1, n1);
        ib_buf_add(&b, c2, n2);
        ib_buf_add(&b, "\0\0\0\0", 4);
        ib_write_file_atomic(cat, b.buf, b.len, 0644, &err);
        _cleanup_free_ char *msg = NULL;
        int r = decompress_file(cat, &out, NULL, NULL, &msg);
        IB_OK(r == 0 && out.len == 3000 && memcmp(out.buf, data, 3000) == 0,
              "multi-member gzip with zero padding (%s)", msg ? msg : "ok");
        ib_buf_reset(&out);
        free(msg), msg = NULL;

        /* garbage after the stream */
        ib_buf_truncate(&b, n1 + n2);
        ib_buf_adds(&b, "garbage!");
        ib_write_file_atomic(cat, b.buf, b.len, 0644, &err);
        r = decompress_file(cat, &out, NULL, NULL, &msg);
        IB_OK(r < 0, "trailing garbage refused (%s)", msg ? msg : "accepted!");
        ib_buf_reset(&out);
        free(msg), msg = NULL;

        /* cut short */
        ib_write_file_atomic(cat, c1, n1 - 5, 0644, &err);
        r = decompress_file(cat, &out, NULL, NULL, &msg);
        IB_OK(r < 0 && msg && strstr(msg, "truncated"),
              "truncated gzip refused (%s)", msg ? msg : "accepted!");
        ib_buf_release(&out);
        ib_buf_release(&b);
        ib_err_free(&err);
}

static bool can_mknod_whiteout(const char *dir)
{
        _cleanup_free_ char *p = ib_strdupf("%s/probe", dir);
        if (mknod(p, S_IFCHR, makedev(0, 0)) < 0)
                return false;
        unlink(p);
        return true;
}

static int collect(const struct ib_layer_entry *e, void *userdata)
{
        ib_buf_addf(userdata, "%c %s %04o %s|", e->type, e->path, e->mode, e->link ? e->link : "-");
        return 0;
}

static void check_imported(const char *dir, bool wh)
{
        struct stat a, b;
        char buf[64];

        _cleanup_free_ char *f = ib_strdupf("%s/d/f", dir), *h = ib_strdupf("%s/d/h", dir);
        _cleanup_free_ char *sp = ib_strdupf("%s/d/sparse", dir), *ro = ib_strdupf("%s/ro", dir);
        _cleanup_free_ char *l = ib_strdupf("%s/d/l", dir), *p = ib_strdupf("%s/d/p", dir);
        IB_OK(stat(f, &a) == 0 && stat(h, &b) == 0 && a.st_ino == b.st_ino && (a.st_mode & 07777) == 04755,
              "hardlink kept, setuid kept");
        IB_OK(getxattr(f, "user.t", buf, sizeof(buf)) == 1 && buf[0] == 'v', "xattr kept");
        IB_OK(a.st_mtime == 1000, "mtime clamped to SOURCE_DATE_EPOCH and restored");
        IB_OK(stat(sp, &a) == 0 && a.st_size == 5 * 1024 * 1024 + 4, "sparse source file: size kept (stored dense)");
        IB_OK(stat(ro, &a) == 0 && (a.st_mode & 07777) == 0555 && a.st_mtime == 1000, "read-only dir: mode and mtime set last");
        ssize_t n = readlink(l, buf, sizeof(buf));
        IB_OK(n == 1 && buf[0] == 'f', "symlink target");
        IB_OK(lstat(p, &a) == 0 && S_ISFIFO(a.st_mode), "fifo");
        _cleanup_free_ char *u8 = ib_strdupf("%s/d/F\xc5\x91", dir), *raw = ib_strdupf("%s/d/bad\xff", dir);
        IB_OK(access(u8, F_OK) == 0 && access(raw, F_OK) == 0, "UTF-8 and non-UTF-8 names kept byte for byte");
        if (wh) {
                _cleanup_free_ char *g = ib_strdupf("%s/d/gone", dir);
                IB_OK(lstat(g, &a) == 0 && S_ISCHR(a.st_mode) && a.st_rdev == makedev(0, 0), "whiteout back as 0:0");
                IB_OK(getxattr(ro, IB_XATTR_OPAQUE, buf, sizeof(buf)) == 1 && buf[0] == 'y', "opaque as user.overlay.opaque");
        } else {
                IB_SKIP("whiteouts need mknod of 0:0 (root or a user namespace)");
                IB_SKIP("opaque dirs need whiteouts");
        }
}

static void test_round_trip(struct ib_store *s)
{
        const char *t = ib_t_tmpdir();
        _cleanup_free_ char *src = ib_strdupf("%s/src", t), *dir = NULL, *blob = NULL;
        _cleanup_free_ char *dup = ib_strdupf("%s/dup", t);
        struct ib_err *err = NULL;
        struct ib_layer_desc d = { 0 };
        struct ib_import_stats st = { 0 };
        struct ib_export_opts o = IB_EXPORT_OPTS_INIT;
        bool wh;
        int r;

        _cleanup_free_ char *cmd = ib_strdupf("set -e; cd %s; mkdir -p src/ro/in src/d; cd src; echo hello >d/f; "
                                              "ln d/f d/h; ln -s f d/l; mkfifo d/p; chmod 4755 d/f; echo u8 >d/F\xc5\x91; echo raw >d/bad\xff; "
                                              "truncate -s 5M d/sparse; echo end >>d/sparse; echo x >ro/in/x; chmod 555 ro", t);
        _cleanup_free_ char *srcf = ib_strdupf("%s/d/f", src), *srcro = ib_strdupf("%s/ro", src);
        IB_OK(system(cmd) == 0, "make the source tree");
        setxattr(srcf, "user.t", "v", 1, 0);
        wh = can_mknod_whiteout(src);
        if (wh) {
                _cleanup_free_ char *w = ib_strdupf("%s/d/gone", src);
                mknod(w, S_IFCHR, makedev(0, 0));
                setxattr(srcro, "trusted.overlay.opaque", "y", 1, 0);
        }
        o.reproducible = true;
        o.source_date_epoch = 1000;
        r = ib_snapshot_export(s, src, &o, &d, &err);
        IB_OK(r == 0, "export a plain tree (%s)", err ? err->msg : "ok");
        ib_err_free(&err);
        if (r < 0)
                return;
        blob = ib_store_blob_path(s, d.digest);
        struct ib_buf list = IB_BUF_INIT;
        IB_OK(ib_snapshot_list(blob, collect, &list, &err) == 0, "list the blob");
        IB_STREQ(list.buf, wh ? "d d/ 0755 -|f d/.wh.gone 0644 -|f d/F\xc5\x91 0644 -|f d/bad\xff 0644 -|f d/f 4755 -|h d/h 4755 d/f|l d/l 0777 f|p d/p 0644 -|"
                                "f d/sparse 0644 -|d ro/ 0555 -|f ro/.wh..wh..opq 0644 -|d ro/in/ 0755 -|f ro/in/x 0644 -|"
                              : "d d/ 0755 -|f d/F\xc5\x91 0644 -|f d/bad\xff 0644 -|f d/f 4755 -|h d/h 4755 d/f|l d/l 0777 f|p d/p 0644 -|"
                                "f d/sparse 0644 -|d ro/ 0555 -|d ro/in/ 0755 -|f ro/in/x 0644 -|",
                  "entries sorted, hardlink, whiteout and opaque marker");
        ib_buf_release(&list);

        r = ib_snapshot_import(s, d.digest, d.diff_id, &dir, &st, &err);
        IB_OK(r == 0 && st.extracted, "import it back (%s)", err ? err->msg : "ok");
        ib_err_free(&err);
        if (r < 0)
                goto out;
        check_imported(dir, wh);
        ib_import_stats_release(&st);
        r = ib_snapshot_import(s, d.digest, d.diff_id, NULL, &st, &err);
        IB_OK(r == 0 && !st.extracted, "a second import reuses the layer");

        /* publish_dir: a dir with the same diff_id as an existing layer is dropped */
        mkdir(dup, 0755);
        IB_OK(ib_snapshot_publish_dir(s, dup, d.diff_id, NULL, &err) == 0 && access(dup, F_OK) < 0,
              "publishing a duplicate layer removes it");
        IB_OK(ib_snapshot_publish_dir(s, dup, "sha256:nope", NULL, &err) < 0, "bad diff_id refused");
        ib_err_free(&err);
out:
        ib_import_stats_release(&st);
        ib_layer_desc_release(&d);
}

int main(void)
{
        struct ib_store *s = NULL;
        struct ib_err *err = NULL;
        _cleanup_free_ char *root = ib_strdupf("%s/store", ib_t_tmpdir());
        enum ib_compression c;

        IB_OK(ib_compression_parse("zstd", &c) == 0 && c == IB_COMPRESSION_ZSTD, "parse zstd");
        IB_OK(ib_compression_parse("lz4", &c) < 0, "unknown compression refused");
        IB_STREQ(ib_compression_media_type(IB_COMPRESSION_GZIP), IB_MEDIA_TYPE_LAYER_GZIP, "gzip media type");
        if (ib_store_open(root, &s, &err) < 0) {
                IB_OK(false, "store: %s", err->msg);
                return ib_t_done();
        }
        test_streams(s);
        threaded = true;        /* the same with the decompression thread */
        test_streams(s);
        threaded = false;
        test_round_trip(s);
        ib_store_close(s);
        return ib_t_done();
}
