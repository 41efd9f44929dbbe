/* tests/fuzz/fuzz-image.c - the image model's parsers on arbitrary bytes.
 * Besides not crashing, canonical output must be a fixed point: whatever
 * parses, serialised, parses again to the same bytes. */
#include "lib/ib.h"
#include "src/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_config(const char *d, size_t n)
{
        struct ib_image_config *c = NULL, *c2 = NULL;
        struct ib_err *err = NULL;
        struct ib_buf a = IB_BUF_INIT, b = IB_BUF_INIT;

        if (ib_image_config_parse(d, n, &c, &err) == 0) {
                ib_image_config_serialize(c, &a);
                if (ib_image_config_parse(a.buf, a.len, &c2, &err) != 0)
                        abort();
                ib_image_config_serialize(c2, &b);
                if (strcmp(a.buf, b.buf) != 0)
                        abort();
                /* A delta of a config against itself is empty and applies. */
                ib_buf_reset(&b);
                if (ib_image_config_diff(c, c2, &b, &err) != 0 || strcmp(b.buf, "{}") != 0)
                        abort();
                (void) ib_image_config_apply(c2, d, n, &err);   /* input as a delta: must not crash */
                ib_err_free(&err);
        }
        ib_err_free(&err);
        ib_image_config_free(c);
        ib_image_config_free(c2);
        ib_buf_release(&a);
        ib_buf_release(&b);
}

static void check_manifest(const char *d, size_t n)
{
        struct ib_manifest *m = NULL, *m2 = NULL;
        struct ib_index *x = NULL, *x2 = NULL;
        struct ib_err *err = NULL;
        struct ib_buf a = IB_BUF_INIT, b = IB_BUF_INIT;

        if (ib_manifest_parse(d, n, &m, &err) == 0) {
                ib_manifest_serialize(m, &a);
                if (ib_manifest_parse(a.buf, a.len, &m2, &err) != 0)
                        abort();
                ib_manifest_serialize(m2, &b);
                if (strcmp(a.buf, b.buf) != 0)
                        abort();
        }
        ib_err_free(&err);
        ib_buf_reset(&a);
        ib_buf_reset(&b);
        if (ib_index_parse(d, n, &x, &err) == 0) {
                ib_index_serialize(x, &a);
                if (ib_index_parse(a.buf, a.len, &x2, &err) != 0)
                        abort();
                ib_index_serialize(x2, &b);
                if (strcmp(a.buf, b.buf) != 0)
                        abort();
                (void) ib_index_find_platform(x, "linux", "amd64", NULL);
        }
        ib_err_free(&err);
        ib_manifest_free(m);
        ib_manifest_free(m2);
        ib_index_free(x);
        ib_index_free(x2);
        ib_buf_release(&a);
        ib_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        check_config((const char *) data, size);
        check_manifest((const char *) data, size);
        return 0;
}
