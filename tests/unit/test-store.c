/* tests/unit/test-store.c - the store's own checks (lib/store-verify.c), use
 * records and held lists (lib/store-used.c), and prune's decisions
 * (src/store-admin.c) on small hand-made stores. */
#include "lib/ib.h"
#include "src/store-admin.h"
#include "tests/lib/ib-test.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

static char *put(struct ib_store *s, const char *text)
{
        struct ib_err *e = NULL;
        char *d = NULL;
        if (ib_store_put_blob(s, text, strlen(text), NULL, &d, &e) < 0) {
                printf("# put: %s\n", e->msg);
                ib_err_free(&e);
        }
        return d;
}

static bool exists(const char *root, const char *rel)
{
        _cleanup_free_ char *p = ib_path_join(root, rel);
        return access(p, F_OK) == 0;
}

static void write_text(const char *root, const char *rel, const char *text)
{
        _cleanup_free_ char *p = ib_path_join(root, rel);
        struct ib_err *e = NULL;
        if (ib_write_file_atomic(p, text, strlen(text), 0644, &e) < 0) {
                printf("# write: %s\n", e->msg);
                ib_err_free(&e);
        }
}

static void test_hash_fd(void)
{
        size_t n = (3u << 20) + 17;    /* crosses the 1 MiB read size */
        char *data = ib_malloc(n), a[IB_SHA256_HEX], b[IB_SHA256_HEX];
        _cleanup_free_ char *p = ib_path_join(ib_t_tmpdir(), "big");
        uint64_t size = 0;
        int fd;

        for (size_t i = 0; i < n; i++)
                data[i] = (char) (i * 7 + i / 4096);
        fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        IB_OK(fd >= 0 && ib_write_all(fd, data, n) == 0 && lseek(fd, 0, SEEK_SET) == 0, "write a 3 MiB file");
        IB_OK(ib_sha256_fd(fd, a, &size) == 0 && size == n, "ib_sha256_fd reads it all");
        ib_sha256_hex(data, n, b);
        IB_STREQ(a, b, "streamed digest equals the in-memory one");
        close(fd);
        free(data);
        IB_OK(ib_atomic_tmp_name("abc.tmp-123") && !ib_atomic_tmp_name("abc.tmp-") && !ib_atomic_tmp_name(".tmp-1") &&
              !ib_atomic_tmp_name("abc.tmp-12x") && !ib_atomic_tmp_name("abc"), "atomic temp names");
        IB_OK(ib_atomic_tmp_alive("x.tmp-1") && !ib_atomic_tmp_alive("x.tmp-999999999"), "writer liveness by pid");
}

static void test_verify(void)
{
        _cleanup_free_ char *root = ib_path_join(ib_t_tmpdir(), "verify");
        struct ib_store *s = NULL;
        struct ib_store_report r = { 0 };
        struct ib_err *e = NULL;
        _cleanup_free_ char *d = NULL, *bad = NULL, *entry = NULL, *dangling = NULL;

        IB_OK(ib_store_open(root, &s, &e) == 0, "open a store");
        d = put(s, "hello blob");
        IB_OK(d && ib_store_verify_blobs(s, 2, &r, &e) == 0 && r.blobs == 1 && r.n_problems == 0,
              "one good blob, no problem");
        ib_store_report_release(&r);

        bad = ib_strdupf("blobs/sha256/%s", d + 7);
        write_text(root, bad, "hello bloB");
        write_text(root, "blobs/sha256/not-a-digest", "x");
        IB_OK(ib_store_verify_blobs(s, 0, &r, &e) == 0 && r.n_problems == 2, "a changed blob and a stray file: 2 problems");
        ib_store_report_sort(&r);
        IB_OK(r.n_problems == 2 && ib_endswith(r.problems[0].path, d + 7) &&
              strstr(r.problems[0].what, "wrong digest"), "the changed blob is named: %s",
              r.n_problems ? r.problems[0].what : "-");
        ib_store_report_release(&r);
        write_text(root, bad, "hello blob");
        _cleanup_free_ char *stray = ib_path_join(root, "blobs/sha256/not-a-digest");
        unlink(stray);

        _cleanup_free_ char *steps = ib_path_join(root, "cache/steps");
        (void) mkdir(steps, 0755);
        entry = ib_strdupf("{\"created\":\"2026-01-01T00:00:00Z\",\"layer\":{\"diffID\":\"sha256:%064d\","
                           "\"digest\":\"%s\",\"mediaType\":\"x\",\"size\":10}}", 0, d);
        write_text(root, "cache/steps/1111111111111111111111111111111111111111111111111111111111111111", entry);
        dangling = ib_strdupf("{\"created\":\"x\",\"layer\":{\"diffID\":\"sha256:%064d\",\"digest\":\"sha256:%064d\","
                              "\"mediaType\":\"x\",\"size\":1}}", 0, 5);
        write_text(root, "cache/steps/2222222222222222222222222222222222222222222222222222222222222222", dangling);
        write_text(root, "cache/steps/3333333333333333333333333333333333333333333333333333333333333333", "{nope");
        write_text(root, "cache/steps/4444444444444444444444444444444444444444444444444444444444444444.tmp-999999999", "");
        IB_OK(ib_store_verify_cache(s, &r, &e) == 0 && r.cache_entries == 3, "3 cache entries");
        ib_store_report_sort(&r);
        IB_OK(r.n_problems == 2 && strstr(r.problems[0].what, "missing") && strstr(r.problems[1].what, "JSON"),
              "a dangling and a garbage entry are problems, the good one is not");
        IB_OK(r.stale.n == 1 && ib_endswith(r.stale.v[0], ".tmp-999999999"), "a dead writer's temp file is stale");
        ib_store_report_release(&r);

        _cleanup_free_ char *dead = ib_path_join(root, "tmp/1-deadbeef");
        (void) mkdir(dead, 0700);
        ib_store_verify_scratch(s, &r);
        IB_OK(r.stale.n == 1 && strcmp(r.stale.v[0], "tmp/1-deadbeef") == 0, "a scratch dir without a live owner");
        ib_store_report_release(&r);
        ib_store_close(s);
}

struct held_seen {
        int n;
        bool layer;
};

static void on_held(enum ib_store_kind kind, const char *hex, void *ud)
{
        struct held_seen *h = ud;
        h->n++;
        if (kind == IB_STORE_LAYER && hex[0] == 'a')
                h->layer = true;
}

static void test_used_and_prune(void)
{
        _cleanup_free_ char *root = ib_path_join(ib_t_tmpdir(), "prune");
        _cleanup_free_ char *layer = ib_strdupf("sha256:%s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        _cleanup_free_ char *cfg_text = NULL, *man_text = NULL, *cfg = NULL, *man = NULL, *lone = NULL;
        struct ib_store *builder = NULL, *pruner = NULL;
        struct ib_prune_opts keep0 = { 0 };
        struct ib_prune_result res;
        struct held_seen h = { 0 };
        struct ib_err *e = NULL;

        IB_OK(ib_store_open(root, &builder, &e) == 0 && ib_store_open(root, &pruner, &e) == 0, "two handles on a store");
        cfg_text = ib_strdupf("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", layer);
        cfg = put(builder, cfg_text);
        man_text = ib_strdupf("{\"config\":{\"digest\":\"%s\"},\"layers\":[]}", cfg);
        man = put(builder, man_text);
        lone = put(pruner, "nobody needs me");
        _cleanup_free_ char *ldir = ib_strdupf("%s/layers/%s", root, layer + 7);
        IB_OK(mkdir(ldir, 0755) == 0, "a layer dir");
        ib_store_touch_used(builder, IB_STORE_LAYER, layer);
        ib_store_touch_used(builder, IB_STORE_LAYER, "../../etc/passwd");      /* refused: not an id */
        _cleanup_free_ char *rec = ib_strdupf("used/layers/%s", layer + 7);
        IB_OK(exists(root, rec), "touch stamps used/layers/<hex>");
        ib_store_for_each_held(pruner, on_held, &h);
        IB_OK(h.layer && h.n == 4, "the other handle sees every hold (3 blob commits + 1 layer)");

        /* the pruner's own blob commit is held by the pruner itself: close and reopen it */
        ib_store_close(pruner);
        IB_OK(ib_store_open(root, &pruner, &e) == 0, "reopen the pruner");
        IB_OK(ib_store_prune(pruner, &keep0, &res, &e) == 0, "prune --keep-duration 0 while the builder lives");
        IB_OK(res.n_items == 1 && ib_endswith(res.items[0].path, lone + 7), "only the unheld blob goes");
        ib_prune_result_release(&res);
        ib_store_close(builder);

        /* builder gone: with a day's keep duration the fresh objects stay */
        struct ib_prune_opts day = { .keep_seconds = 86400 };
        IB_OK(ib_store_prune(pruner, &day, &res, &e) == 0 && res.n_items == 0, "--keep-duration 24h keeps fresh things");
        ib_prune_result_release(&res);
        /* a recent manifest keeps its config and the config's layer */
        ib_store_touch_used(pruner, IB_STORE_BLOB, man);
        ib_store_close(pruner);
        IB_OK(ib_store_open(root, &pruner, &e) == 0, "reopen again (drops the pruner's holds)");
        _cleanup_free_ char *mrec = ib_strdupf("%s/used/blobs/%s", root, man + 7);
        struct timespec later[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = time(NULL) + 3600 } };
        IB_OK(utimensat(AT_FDCWD, mrec, later, 0) == 0, "the manifest's use record is the newest");
        IB_OK(ib_store_prune(pruner, &keep0, &res, &e) == 0 && res.n_items == 0,
              "a kept manifest keeps its config blob and layer dir");
        ib_prune_result_release(&res);
        struct ib_prune_opts dry = { .all = true, .dry_run = true };
        IB_OK(ib_store_prune(pruner, &dry, &res, &e) == 0 && res.n_items >= 3 && access(ldir, F_OK) == 0, "--all --dry-run lists them and removes none");
        ib_prune_result_release(&res);
        struct ib_prune_opts all = { .all = true };
        IB_OK(ib_store_prune(pruner, &all, &res, &e) == 0 && access(ldir, F_OK) < 0, "--all removes the layer dir");
        IB_OK(!exists(root, rec), "and its use record");
        ib_prune_result_release(&res);
        ib_store_close(pruner);
}

int main(void)
{
        test_hash_fd();
        test_verify();
        test_used_and_prune();
        return ib_t_done();
}
