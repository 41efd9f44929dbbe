/* tests/unit/test-lib.c - lib/: errors, buffers, hashing, JSON, fs helpers, store. */
#include "lib/ib.h"
#include "tests/lib/ib-test.h"
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <yajl/yajl_tree.h>

static void test_err(void)
{
        struct ib_err *e = NULL;
        int r = ib_err_set(&e, ENOENT, "open `%s`", "x");
        IB_OK(r == -ENOENT, "ib_err_set returns -errno (%d)", r);
        r = ib_err_wrap(&e, "layer %d", 3);
        IB_OK(r == -ENOENT, "ib_err_wrap keeps the code");
        IB_STREQ(e->msg, "layer 3: open `x`", "context chain reads outer to inner");
        ib_err_free(&e);
        IB_OK(e == NULL, "ib_err_free resets the pointer");
        r = ib_err_set(&e, 0, "plain");
        IB_OK(r == -EIO && ib_err_code(e) == -EIO, "errnum 0 maps to -EIO");
        ib_err_free(&e);
        IB_OK(ib_err_set(NULL, EINVAL, "no sink") == -EINVAL, "NULL err pointer is allowed");
}

static void test_buf(void)
{
        struct ib_buf b = IB_BUF_INIT;
        IB_OK(b.buf && b.buf[0] == '\0' && b.len == 0, "fresh buffer is an empty string");
        ib_buf_adds(&b, "abc");
        ib_buf_addf(&b, "-%d-%s", 42, "x");
        IB_STREQ(b.buf, "abc-42-x", "add and addf append");
        for (int i = 0; i < 1000; i++)
                ib_buf_addf(&b, "%04d", i);
        IB_OK(b.len == 8 + 4000 && b.buf[b.len] == '\0', "grows and stays terminated (len %zu)", b.len);
        ib_buf_truncate(&b, 3);
        IB_STREQ(b.buf, "abc", "truncate");
        char *d = ib_buf_detach(&b);
        IB_OK(b.alloc == 0 && b.buf == ib_buf_empty, "detach resets the buffer");
        IB_STREQ(d, "abc", "detached string");
        free(d);
        d = ib_buf_detach(&b);
        IB_OK(d && d[0] == '\0', "detach of an empty buffer gives a fresh empty string");
        free(d);
}

static void test_hash(void)
{
        char hex[IB_SHA256_HEX];
        const char *h = NULL;
        ib_sha256_hex("abc", 3, hex);
        IB_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256(abc)");
        struct ib_sha256 *s = ib_sha256_new();
        ib_sha256_update(s, "a", 1);
        ib_sha256_update(s, "bc", 2);
        ib_sha256_final_hex(s, hex);
        ib_sha256_free(s);
        IB_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "streaming sha256 equals one-shot");
        IB_OK(ib_digest_parse("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", &h) && h, "digest parses");
        IB_OK(!ib_digest_parse("sha256:BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", NULL), "uppercase hex refused");
        IB_OK(!ib_digest_parse("sha512:ab", NULL) && !ib_digest_parse("sha256:abc", NULL), "bad digests refused");
        IB_OK(ib_xxh64("abc", 3, 0) == ib_xxh64("abc", 3, 0) && ib_xxh64("abc", 3, 0) != ib_xxh64("abd", 3, 0),
              "xxh64 is stable and discriminates");
}

static void test_json(void)
{
        struct ib_buf b = IB_BUF_INIT;
        struct ib_err *e = NULL;
        ib_json_add_str(&b, "a\"b\\c\n<&>\x01");
        IB_STREQ(b.buf, "\"a\\\"b\\\\c\\n\\u003c\\u0026\\u003e\\u0001\"", "string escaping matches Go's encoding/json");
        ib_buf_release(&b);
        /* invalid UTF-8 (each bad byte) -> U+FFFD, valid sequences kept, U+2028/9 escaped: Go's output */
        ib_json_add_str(&b, "\xff\xc3(\xc3\xa9\xe2\x80\xa8\xed\xa0\x80\xf0\x9f\x98\x80");
#define FFFD "\xef\xbf\xbd"
        IB_STREQ(b.buf, "\"" FFFD FFFD "(\xc3\xa9\\u2028" FFFD FFFD FFFD "\xf0\x9f\x98\x80\"",
                 "invalid UTF-8 becomes U+FFFD: the document stays JSON");
        ib_buf_reset(&b);
        ib_json_add_str(&b, "\xc1\x91");      /* an overlong form yajl lets through */
        IB_STREQ(b.buf, "\"" FFFD FFFD "\"", "an overlong form too");
#undef FFFD
        ib_buf_release(&b);
        {
                char big[5000];
                memset(big, 'x', sizeof(big) - 1);
                big[sizeof(big) - 1] = '\0';
                memcpy(big, "HEAD", 4);
                memcpy(big + sizeof(big) - 5, "TAIL", 4);
                char *cut = ib_elide(big, 100);
                IB_OK(strlen(cut) < 140 && ib_startswith(cut, "HEAD") && ib_endswith(cut, "TAIL") &&
                      strstr(cut, " ... (4899 bytes) ... "), "ib_elide keeps both ends (%s)", cut);
                free(cut);
                cut = ib_elide("short", 100);
                IB_STREQ(cut, "short", "ib_elide leaves a short string alone");
                free(cut);
        }
        const char doc[] = "{\"a\":\"x\",\"n\":5,\"o\":{\"k\":[1,2]}}";
        yajl_val v = ib_json_parse(doc, sizeof(doc) - 1, "doc", &e);
        IB_OK(v != NULL, "parse valid JSON");
        IB_STREQ(ib_json_get_str(v, "a"), "x", "string member");
        IB_OK(ib_json_get_str(v, "n") == NULL, "non-string member is not a string");
        IB_OK(YAJL_IS_ARRAY(ib_json_get(ib_json_get(v, "o"), "k")), "nested lookup");
        ib_json_free(v);
        v = ib_json_parse("{\"a\":", 5, "manifest", &e);
        IB_OK(v == NULL && e && strstr(e->msg, "manifest: invalid JSON"), "parse error names the document (%s)", e ? e->msg : "-");
        ib_err_free(&e);
}

static void test_fs(void)
{
        const char *t = ib_t_tmpdir();
        struct ib_err *e = NULL;
        _cleanup_free_ char *deep = ib_strdupf("%s/a/b/c", t);
        _cleanup_free_ char *file = ib_strdupf("%s/a/b/c/f", t);
        _cleanup_free_ char *top = ib_strdupf("%s/a", t);
        char *data = NULL;
        size_t len = 0;

        IB_OK(ib_mkdir_p(deep, 0755, &e) == 0, "mkdir -p");
        IB_OK(ib_write_file_atomic(file, "hello", 5, 0644, &e) == 0, "atomic write");
        IB_OK(ib_read_file(file, 100, &data, &len, &e) == 0 && len == 5 && strcmp(data, "hello") == 0, "read back");
        free(data);
        IB_OK(ib_read_file(file, 4, &data, &len, &e) == -EFBIG, "size limit enforced");
        ib_err_free(&e);

        /* open_in_root: a symlink to / inside the root resolves inside the root. */
        _cleanup_free_ char *lnk = ib_strdupf("%s/a/up", t);
        IB_OK(symlink("/", lnk) == 0, "make escaping symlink");
        _cleanup_close_ int rfd = open(top, O_RDONLY | O_DIRECTORY);
        int fd = ib_open_in_root(rfd, "up/b/c/f", O_RDONLY, 0, &e);
        IB_OK(fd >= 0, "symlink to / is resolved inside the root (%s)", e ? e->msg : "ok");
        if (fd >= 0)
                close(fd);
        ib_err_free(&e);
        fd = ib_open_in_root(rfd, "up/etc/passwd", O_RDONLY, 0, &e);
        IB_OK(fd < 0, "host /etc/passwd is not reachable through the root");
        if (fd >= 0)
                close(fd);
        ib_err_free(&e);

        /* rm -rf copes with read-only dirs and never follows the symlink. */
        IB_OK(chmod(deep, 0555) == 0, "make a read-only dir");
        IB_OK(ib_rm_rf(top, &e) == 0, "rm -rf (%s)", e ? e->msg : "ok");
        IB_OK(access(top, F_OK) < 0 && access("/etc/passwd", F_OK) == 0, "tree gone, symlink target untouched");
        IB_OK(ib_rm_rf(top, &e) == 0, "rm -rf of a missing path is not an error");
        _cleanup_free_ char *j = ib_path_join("/a//", "/b");
        IB_STREQ(j, "/a/b", "path join");
}

static void test_store(void)
{
        const char *t = ib_t_tmpdir();
        _cleanup_free_ char *root = ib_strdupf("%s/store", t);
        struct ib_store *s = NULL;
        struct ib_err *e = NULL;
        char *digest = NULL;

        IB_OK(ib_store_open(root, &s, &e) == 0, "open a new store (%s)", e ? e->msg : "ok");
        if (!s)
                return;
        IB_OK(ib_store_put_blob(s, "abc", 3, NULL, &digest, &e) == 0, "store a blob");
        IB_STREQ(digest, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "blob digest");
        IB_OK(ib_store_has_blob(s, digest), "blob present under its digest");
        free(digest);
        int r = ib_store_put_blob(s, "abd", 3, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", NULL, &e);
        IB_OK(r == -EBADMSG && e && strstr(e->msg, "digest mismatch"), "mismatched blob refused (%s)", e ? e->msg : "-");
        ib_err_free(&e);
        IB_OK(ib_store_blob_path(s, "sha256:xyz") == NULL, "malformed digest has no path");

        /* A stale scratch dir of a dead process is swept at the next open;
         * a live one (lock held) is left alone. */
        _cleanup_free_ char *stale = ib_strdupf("%s/tmp/999999-dead", root);
        _cleanup_free_ char *stale_lock = ib_strdupf("%s/tmp/999999-dead.lock", root);
        IB_OK(mkdir(stale, 0700) == 0 && close(open(stale_lock, O_CREAT | O_WRONLY, 0600)) == 0, "plant a stale scratch dir");
        _cleanup_free_ char *mine = ib_strdup(s->tmp_dir);
        struct ib_store *s2 = NULL;
        IB_OK(ib_store_open(root, &s2, &e) == 0, "second open");
        IB_OK(access(stale, F_OK) < 0 && access(stale_lock, F_OK) < 0, "stale scratch swept");
        IB_OK(access(mine, F_OK) == 0, "live scratch of another process kept");
        ib_store_close(s2);
        ib_store_close(s);
        IB_OK(access(mine, F_OK) < 0, "close removes own scratch");
}

int main(void)
{
        test_err();
        test_buf();
        test_hash();
        test_json();
        test_fs();
        test_store();
        return ib_t_done();
}
