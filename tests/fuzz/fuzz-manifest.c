/* tests/fuzz/fuzz-manifest.c - every parser of JSON a registry sends us, on
 * arbitrary bytes: the media type sniffing, platform selection in an index,
 * the pull's manifest -> blob list, token server answers, error bodies, and
 * the image model's manifest/index/config parsers (fuzz-image.c checks their
 * round trips; here they see registry-shaped seeds).  Errors are expected;
 * a crash, leak, sanitizer report or an inconsistent result is a finding.
 *
 *   make fuzz && mkdir -p /tmp/c && ./build-fuzz/fuzz-manifest /tmp/c tests/fuzz/corpus-manifest */
#include "lib/ib.h"
#include "registry/internal.h"
#include "src/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_select(const char *d, size_t n, const char *os, const char *arch, const char *variant)
{
        struct ib_platform want = { 0 };
        char *digest = NULL, *mt = NULL;
        struct ib_err *err = NULL;
        const char *hex;

        snprintf(want.os, sizeof(want.os), "%s", os);
        snprintf(want.arch, sizeof(want.arch), "%s", arch);
        snprintf(want.variant, sizeof(want.variant), "%s", variant);
        if (ib_platform_select(d, n, &want, &digest, &mt, &err) == 0) {
                /* what is selected is a digest the store can name */
                if (!digest || !ib_digest_parse(digest, &hex))
                        abort();
        } else if (!err) {
                abort();        /* a failure always says why */
        }
        free(digest);
        free(mt);
        ib_err_free(&err);
}

static void check_pull_manifest(const char *d, size_t n)
{
        struct ib_pull_desc *descs = NULL;
        size_t nd = 0;
        struct ib_err *err = NULL;
        const char *hex;

        if (ib_pull_parse_manifest(d, n, &descs, &nd, &err) == 0) {
                if (nd < 1)
                        abort();        /* the config is always there */
                for (size_t i = 0; i < nd; i++) {
                        if (!ib_digest_parse(descs[i].digest, &hex))
                                abort();
                        free(descs[i].digest);
                }
                free(descs);
        } else if (!err) {
                abort();
        }
        ib_err_free(&err);
}

static void check_token(const char *d, size_t n)
{
        char *tok = NULL;
        time_t exp = 0;
        struct ib_err *err = NULL;

        if (ib_token_parse(d, n, &tok, &exp, &err) == 0 && (!tok || !*tok))
                abort();
        free(tok);
        ib_err_free(&err);
}

static void check_model(const char *d, size_t n)
{
        struct ib_manifest *m = NULL;
        struct ib_index *x = NULL;
        struct ib_image_config *c = NULL;
        struct ib_err *err = NULL;

        (void) ib_manifest_parse(d, n, &m, &err);
        ib_err_free(&err);
        (void) ib_index_parse(d, n, &x, &err);
        ib_err_free(&err);
        (void) ib_image_config_parse(d, n, &c, &err);
        ib_err_free(&err);
        ib_manifest_free(m);
        ib_index_free(x);
        ib_image_config_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *d = (const char *) data;
        char *s;

        s = ib_manifest_media_type(d, size, NULL);
        free(s);
        s = ib_manifest_media_type(d, size, "application/vnd.oci.image.index.v1+json; charset=utf-8");
        if (!s)
                abort();        /* a Content-Type always gives an answer */
        (void) ib_media_type_is_index(s);
        free(s);
        check_select(d, size, "linux", "amd64", "");
        check_select(d, size, "linux", "arm64", "v8");
        check_select(d, size, "linux", "arm", "v7");
        check_pull_manifest(d, size);
        check_token(d, size);
        s = ib_http_error_text(404, "Not Found", d, size);
        if (!s || strncmp(s, "404", 3) != 0)
                abort();
        free(s);
        check_model(d, size);
        return 0;
}
