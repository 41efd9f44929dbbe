/* tests/unit/test-registry.c - registry/: references, WWW-Authenticate,
 * credentials from config.json and helpers, platform selection, error text. */
#include "lib/ib.h"
#include "registry/internal.h"
#include "registry/registry.h"
#include "tests/lib/ib-test.h"
#include <sys/stat.h>

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_references(void)
{
        static const struct {
                const char *in, *domain, *path, *tag, *digest; /* domain NULL: invalid */
        } t[] = {
                { "busybox", "docker.io", "library/busybox", "latest", NULL },
                { "busybox:1.36", "docker.io", "library/busybox", "1.36", NULL },
                { "library/busybox", "docker.io", "library/busybox", "latest", NULL },
                { "docker.io/busybox", "docker.io", "library/busybox", "latest", NULL },
                { "index.docker.io/busybox", "docker.io", "library/busybox", "latest", NULL },
                { "docker.io/library/busybox:musl", "docker.io", "library/busybox", "musl", NULL },
                { "user/app", "docker.io", "user/app", "latest", NULL },
                { "ghcr.io/org/team/app:v1.2.3", "ghcr.io", "org/team/app", "v1.2.3", NULL },
                { "host:5000/a/b:tag", "host:5000", "a/b", "tag", NULL },
                { "127.0.0.1:5000/x", "127.0.0.1:5000", "x", "latest", NULL },
                { "localhost/x", "localhost", "x", "latest", NULL },
                { "localhost:5000/x:1", "localhost:5000", "x", "1", NULL },
                { "localhost", "docker.io", "library/localhost", "latest", NULL },
                { "[::1]:5000/x:y", "[::1]:5000", "x", "y", NULL },
                { "busybox@sha256:" H64, "docker.io", "library/busybox", NULL, "sha256:" H64 },
                { "busybox:1@sha256:" H64, "docker.io", "library/busybox", "1", "sha256:" H64 },
                { "h.io:443/a@sha256:" H64, "h.io:443", "a", NULL, "sha256:" H64 },
                { "ab-c_d__e/f---g.h", "docker.io", "ab-c_d__e/f---g.h", "latest", NULL },
                { "a.b_c/x", NULL, NULL, NULL, NULL },
                { "Example.COM/x", "Example.COM", "x", "latest", NULL },
                { "loAcast/x", "loAcast", "x", "latest", NULL },
                { "x:" "A_b.c-D", "docker.io", "library/x", "A_b.c-D", NULL },
                { "my-registry.local/app:_t", "my-registry.local", "app", "_t", NULL },
                /* invalid */
                { "", NULL, NULL, NULL, NULL },
                { "Busybox", NULL, NULL, NULL, NULL },
                { "user/App", NULL, NULL, NULL, NULL },
                { H64, NULL, NULL, NULL, NULL },
                { "busybox:", NULL, NULL, NULL, NULL },
                { "busybox:-x", NULL, NULL, NULL, NULL },
                { "busybox@sha256:abc", NULL, NULL, NULL, NULL },
                { "busybox@sha256:" H64 "00", NULL, NULL, NULL, NULL },
                { "busybox@md5:" H64, NULL, NULL, NULL, NULL },
                { "busybox@SHA256:" H64, NULL, NULL, NULL, NULL },
                { "/busybox", NULL, NULL, NULL, NULL },
                { "busybox/", NULL, NULL, NULL, NULL },
                { "a//b", NULL, NULL, NULL, NULL },
                { "a/-b", NULL, NULL, NULL, NULL },
                { "a/b_", NULL, NULL, NULL, NULL },
                { "a/b___c", NULL, NULL, NULL, NULL },
                { "host:port/x", NULL, NULL, NULL, NULL },
                { "host:99999/x", NULL, NULL, NULL, NULL },
                { "-host.io/x", NULL, NULL, NULL, NULL },
                { "host..io/x", NULL, NULL, NULL, NULL },
                { "b usybox", NULL, NULL, NULL, NULL },
                { "busybox:" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                  NULL, NULL, NULL, NULL },
                { "[zz]:5000/x", NULL, NULL, NULL, NULL },
                { "x@", NULL, NULL, NULL, NULL },
        };
        for (size_t i = 0; i < IB_ELEMENTSOF(t); i++) {
                struct ib_ref *r = NULL;
                struct ib_err *e = NULL;
                int res = ib_ref_parse(t[i].in, &r, &e);
                if (!t[i].domain) {
                        IB_OK(res == -EINVAL && e && ib_startswith(e->msg, "invalid reference format"),
                              "ref `%.40s` is refused (%s)", t[i].in, e ? e->msg : "accepted");
                } else if (res < 0) {
                        IB_OK(false, "ref `%s` parses: %s", t[i].in, e->msg);
                } else {
                        bool ok = strcmp(r->domain, t[i].domain) == 0 && strcmp(r->path, t[i].path) == 0 &&
                                  (t[i].tag ? r->tag && strcmp(r->tag, t[i].tag) == 0 : !r->tag) &&
                                  (t[i].digest ? r->digest && strcmp(r->digest, t[i].digest) == 0 : !r->digest);
                        IB_OK(ok, "ref `%.40s` -> %s / %s : %s @ %.20s", t[i].in, r->domain, r->path,
                              r->tag ? r->tag : "-", r->digest ? r->digest : "-");
                }
                ib_ref_free(r);
                ib_err_free(&e);
        }
        /* long names */
        {
                struct ib_buf b = IB_BUF_INIT;
                struct ib_ref *r = NULL;
                struct ib_err *e = NULL;
                ib_buf_adds(&b, "host.io/");
                for (int i = 0; i < 250; i++)
                        ib_buf_addc(&b, 'a');
                IB_OK(ib_ref_parse(b.buf, &r, &e) == -EINVAL, "a name over 255 characters is refused");
                ib_err_free(&e);
                ib_buf_release(&b);
        }
        {
                struct ib_ref *r = NULL;
                struct ib_err *e = NULL;
                IB_OK(ib_ref_parse("reg.io:5000/a/b:7@sha256:" H64, &r, &e) == 0, "full reference parses");
                char *s = ib_ref_string(r), *n = ib_ref_name(r);
                IB_STREQ(s, "reg.io:5000/a/b:7@sha256:" H64, "ib_ref_string round-trips");
                IB_STREQ(n, "reg.io:5000/a/b", "ib_ref_name");
                free(s);
                free(n);
                ib_ref_free(r);
        }
}

static void test_www_authenticate(void)
{
        static const struct {
                const char *in;
                size_t n;               /* challenges; 0: error */
                const char *scheme;     /* of the first */
                const char *realm, *service, *scope;
        } t[] = {
                { "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/busybox:pull\"",
                  1, "bearer", "https://auth.docker.io/token", "registry.docker.io", "repository:library/busybox:pull" },
                { "Basic realm=\"Registry Realm\"", 1, "basic", "Registry Realm", NULL, NULL },
                { "basic REALM=x", 1, "basic", "x", NULL, NULL },
                { "Bearer realm=https://h/token,service=reg", 1, "bearer", "https://h/token", "reg", NULL },
                { "Bearer realm = \"a\" , service = \"b\"", 1, "bearer", "a", "b", NULL },
                { "Bearer realm=\"a\\\"q\\\\\",service=\"s\"", 1, "bearer", "a\"q\\", "s", NULL },
                { "Bearer scope=\"repository:a:pull,push\",realm=\"r\"", 1, "bearer", "r", NULL, "repository:a:pull,push" },
                { "Basic realm=\"x\", Bearer realm=\"y\",service=\"z\"", 2, "basic", "x", NULL, NULL },
                { "Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", Basic realm=\"simple\"", 2, "newauth", "apps", NULL, NULL },
                { "Bearer", 1, "bearer", NULL, NULL, NULL },
                { "Negotiate abcDEF123+/==", 1, "negotiate", NULL, NULL, NULL },
                { ",, Bearer realm=\"x\" ,,", 1, "bearer", "x", NULL, NULL },
                { "Bearer realm=\"unterminated", 1, "bearer", "unterminated", NULL, NULL },
                { "Bearer realm=\"x\" service=\"y\"", 1, "bearer", "x", "y", NULL },
                { "Bearer realm=\"\",service=\"s\"", 1, "bearer", "", "s", NULL },
                { "Bearer error=\"insufficient_scope\",scope=\"repository:x:push\",realm=\"r\"", 1, "bearer", "r", NULL, "repository:x:push" },
                { "", 0, NULL, NULL, NULL, NULL },
                { "   ", 0, NULL, NULL, NULL, NULL },
                { ",,,", 0, NULL, NULL, NULL, NULL },
                { "=\"x\"", 0, NULL, NULL, NULL, NULL },
                { "\"\"\"", 0, NULL, NULL, NULL, NULL },
        };
        for (size_t i = 0; i < IB_ELEMENTSOF(t); i++) {
                struct ib_auth_challenge *c = NULL;
                struct ib_err *e = NULL;
                size_t n = 0;
                int res = ib_auth_parse(t[i].in, &c, &n, &e);
                if (t[i].n == 0) {
                        IB_OK(res == -EINVAL, "www-auth `%s` has no challenge", t[i].in);
                } else if (res < 0) {
                        IB_OK(false, "www-auth `%s` parses: %s", t[i].in, e->msg);
                } else {
                        const char *realm = ib_auth_param(&c[0], "realm"), *service = ib_auth_param(&c[0], "service");
                        const char *scope = ib_auth_param(&c[0], "scope");
#define SAME(a, b) ((a) ? (b) && strcmp((a), (b)) == 0 : !(b))
                        IB_OK(n == t[i].n && strcmp(c[0].scheme, t[i].scheme) == 0 && SAME(t[i].realm, realm) &&
                                      SAME(t[i].service, service) && SAME(t[i].scope, scope),
                              "www-auth `%.50s`: %zu, %s realm=%s service=%s scope=%s", t[i].in, n, c[0].scheme,
                              realm ? realm : "-", service ? service : "-", scope ? scope : "-");
#undef SAME
                }
                ib_auth_challenges_free(c, n);
                ib_err_free(&e);
        }
        {
                struct ib_auth_challenge *c = NULL;
                struct ib_err *e = NULL;
                size_t n = 0;
                ib_auth_parse("Basic realm=\"x\", Bearer realm=\"y\",service=\"z\"", &c, &n, &e);
                IB_OK(n == 2 && strcmp(c[1].scheme, "bearer") == 0 && strcmp(ib_auth_param(&c[1], "service"), "z") == 0,
                      "second challenge keeps its own parameters");
                ib_auth_challenges_free(c, n);
                ib_auth_parse("Negotiate abcDEF123+/==", &c, &n, &e);
                IB_OK(n == 1 && ib_auth_param(&c[0], "token68") && strcmp(ib_auth_param(&c[0], "token68"), "abcDEF123+/==") == 0,
                      "token68 is kept");
                ib_auth_challenges_free(c, n);
        }
}

static void test_base64(void)
{
        char *e = ib_base64_encode("user:pa:ss", 10);
        size_t n;
        char *d;
        IB_STREQ(e, "dXNlcjpwYTpzcw==", "base64 encode");
        d = ib_base64_decode(e, &n);
        IB_OK(d && n == 10 && memcmp(d, "user:pa:ss", 10) == 0, "base64 round trip");
        free(d);
        free(e);
        IB_OK(ib_base64_decode("a!bc", &n) == NULL, "base64 refuses bad characters");
        IB_OK(ib_base64_decode("abcde", &n) == NULL, "base64 refuses a bad length");
}

static void write_helper(const char *dir)
{
        char *p = ib_strdupf("%s/docker-credential-unit", dir);
        const char *script = "#!/bin/sh\nread server\ncase \"$server\" in\n"
                             "reg.example:5000) echo '{\"ServerURL\":\"reg.example:5000\",\"Username\":\"hu\",\"Secret\":\"hs\"}';;\n"
                             "tok.example) echo '{\"Username\":\"<token>\",\"Secret\":\"refresh\"}';;\n"
                             "https://index.docker.io/v1/) echo '{\"Username\":\"hub\",\"Secret\":\"hubpw\"}';;\n"
                             "*) echo 'credentials not found in native keychain'; exit 1;;\nesac\n";
        struct ib_err *e = NULL;
        ib_write_file_atomic(p, script, strlen(script), 0755, &e);
        ib_err_free(&e);
        free(p);
}

static void test_config(void)
{
        const char *dir = ib_t_tmpdir();
        const char *path = getenv("PATH");
        char *newpath = ib_strdupf("%s:%s", dir, path ? path : "/usr/bin:/bin");
        const char *cfg =
                "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dXNlcjpwYTpzcw==\"},"
                "\"127.0.0.1:5000\":{\"username\":\"u2\",\"password\":\"p2\"},"
                "\"http://reg.io/v2/\":{\"auth\":\"\",\"identitytoken\":\"idt\"},"
                "\"bad.io\":{\"auth\":\"!!!\"},"
                "\"store.io\":{}},"
                "\"credHelpers\":{\"reg.example:5000\":\"unit\",\"tok.example\":\"unit\",\"none.example\":\"unit\"},"
                "\"credsStore\":\"unit\"}";
        struct ib_creds c;
        struct ib_err *e = NULL;

        write_helper(dir);
        setenv("PATH", newpath, 1);
        IB_OK(ib_creds_from_config(cfg, strlen(cfg), "docker.io", &c, &e) == 0 && c.username &&
                      strcmp(c.username, "user") == 0 && strcmp(c.password, "pa:ss") == 0,
              "auths: base64 auth for docker.io (index.docker.io key), password with a colon");
        ib_creds_clear(&c);
        IB_OK(ib_creds_from_config(cfg, strlen(cfg), "127.0.0.1:5000", &c, &e) == 0 && c.username &&
                      strcmp(c.username, "u2") == 0 && strcmp(c.password, "p2") == 0,
              "auths: username/password");
        ib_creds_clear(&c);
        IB_OK(ib_creds_from_config(cfg, strlen(cfg), "reg.io", &c, &e) == 0 && !c.username && c.identity_token &&
                      strcmp(c.identity_token, "idt") == 0,
              "auths: identitytoken, key with scheme and path");
        ib_creds_clear(&c);
        IB_OK(ib_creds_from_config(cfg, strlen(cfg), "bad.io", &c, &e) == -EINVAL && e, "auths: bad base64 is an error");
        ib_err_free(&e);
        IB_OK(ib_creds_from_config(cfg, strlen(cfg), "reg.example:5000", &c, &e) == 0 && c.username &&
                      strcmp(c.username, "hu") == 0 && strcmp(c.password, "hs") == 0,
              "credHelpers: helper output");
        ib_creds_clear(&c);
        IB_OK(ib_creds_from_config(cfg, strlen(cfg), "tok.example", &c, &e) == 0 && c.identity_token &&
                      strcmp(c.identity_token, "refresh") == 0 && !c.username,
              "credHelpers: <token> user means an identity token");
        ib_creds_clear(&c);
        IB_OK(ib_creds_from_config(cfg, strlen(cfg), "none.example", &c, &e) == 0 && !c.username && !c.identity_token,
              "credHelpers: 'credentials not found' is anonymous");
        ib_creds_clear(&c);
        IB_OK(ib_creds_from_config(cfg, strlen(cfg), "store.io", &c, &e) == 0 && !c.username,
              "credsStore used for an empty auths entry (helper has none)");
        ib_creds_clear(&c);
        {
                const char *c2 = "{\"credsStore\":\"unit\"}";
                IB_OK(ib_creds_from_config(c2, strlen(c2), "docker.io", &c, &e) == 0 && c.username &&
                              strcmp(c.username, "hub") == 0,
                      "credsStore asked with Docker Hub's server URL");
                ib_creds_clear(&c);
                const char *c3 = "{\"credHelpers\":{\"x.io\":\"nonexistent-helper\"}}";
                IB_OK(ib_creds_from_config(c3, strlen(c3), "x.io", &c, &e) < 0 && e, "a missing helper is an error: %s",
                      e ? e->msg : "");
                ib_err_free(&e);
                const char *c4 = "{\"auths\":";
                IB_OK(ib_creds_from_config(c4, strlen(c4), "x.io", &c, &e) < 0 && e, "invalid JSON is an error");
                ib_err_free(&e);
                const char *c5 = "{\"auths\":{\"other.io\":{\"auth\":\"dTpw\"}}}";
                IB_OK(ib_creds_from_config(c5, strlen(c5), "x.io", &c, &e) == 0 && !c.username, "no entry: anonymous");
                ib_creds_clear(&c);
        }
        {
                char *k = ib_creds_key_host("https://Registry-1.Docker.io/v2/");
                IB_STREQ(k, "docker.io", "registry-1.docker.io key normalizes to docker.io");
                free(k);
        }
        setenv("PATH", path ? path : "/usr/bin:/bin", 1);
        free(newpath);
}

static void test_auth_file_search(void)
{
        const char *dir = ib_t_tmpdir();
        char *a = ib_strdupf("%s/dc", dir), *f = ib_strdupf("%s/dc/config.json", dir), *found;
        struct ib_err *e = NULL;
        char *oldhome = getenv("HOME") ? ib_strdup(getenv("HOME")) : NULL;

        setenv("HOME", "/nonexistent-home", 1);
        unsetenv("REGISTRY_AUTH_FILE");
        unsetenv("XDG_RUNTIME_DIR");
        ib_mkdir_p(a, 0700, &e);
        ib_write_file_atomic(f, "{}", 2, 0600, &e);
        setenv("DOCKER_CONFIG", a, 1);
        found = ib_auth_file_find();
        IB_STREQ(found, f, "$DOCKER_CONFIG/config.json is found first");
        free(found);
        unsetenv("DOCKER_CONFIG");
        setenv("REGISTRY_AUTH_FILE", f, 1);
        found = ib_auth_file_find();
        IB_OK(found && (strcmp(found, f) == 0 || strcmp(found, "/kaniko/.docker/config.json") == 0),
              "$REGISTRY_AUTH_FILE is found (%s)", found ? found : "none");
        free(found);
        unsetenv("REGISTRY_AUTH_FILE");
        if (oldhome)
                setenv("HOME", oldhome, 1);
        free(oldhome);
        free(a);
        free(f);
        ib_err_free(&e);
}

static void test_platform(void)
{
        const char *idx =
                "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
                "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:" H64 "\",\"size\":1,"
                " \"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
                "{\"digest\":\"sha256:1111111111111111111111111111111111111111111111111111111111111111\",\"size\":1,"
                " \"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}},"
                "{\"digest\":\"sha256:2222222222222222222222222222222222222222222222222222222222222222\",\"size\":1,"
                " \"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
                "{\"digest\":\"sha256:3333333333333333333333333333333333333333333333333333333333333333\",\"size\":1,"
                " \"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"},"
                " \"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"}}]}";
        struct ib_platform p;
        struct ib_err *e = NULL;
        char *d = NULL, *mt = NULL;

        IB_OK(ib_platform_parse("linux/amd64", &p, &e) == 0 && !strcmp(p.os, "linux") && !strcmp(p.arch, "amd64") &&
                      !p.variant[0], "parse linux/amd64");
        IB_OK(ib_platform_parse("linux/arm/v7", &p, &e) == 0 && !strcmp(p.variant, "v7"), "parse linux/arm/v7");
        IB_OK(ib_platform_parse("linux", &p, &e) == -EINVAL, "parse refuses `linux`");
        ib_err_free(&e);
        IB_OK(ib_platform_parse("linux/", &p, &e) == -EINVAL, "parse refuses `linux/`");
        ib_err_free(&e);
        IB_OK(ib_platform_parse("linux/amd64/v1/x", &p, &e) == -EINVAL, "parse refuses four parts");
        ib_err_free(&e);

        ib_platform_parse("linux/amd64", &p, &e);
        IB_OK(ib_platform_select(idx, strlen(idx), &p, &d, &mt, &e) == 0 && !strcmp(d, "sha256:" H64) && mt &&
                      !strcmp(mt, IB_MT_OCI_MANIFEST), "select linux/amd64");
        free(d);
        free(mt);
        ib_platform_parse("linux/arm64", &p, &e);
        IB_OK(ib_platform_select(idx, strlen(idx), &p, &d, NULL, &e) == 0 && d[7] == '2', "linux/arm64 matches v8");
        free(d);
        ib_platform_parse("linux/arm64/v8", &p, &e);
        IB_OK(ib_platform_select(idx, strlen(idx), &p, &d, NULL, &e) == 0 && d[7] == '2', "linux/arm64/v8");
        free(d);
        ib_platform_parse("linux/arm", &p, &e);
        IB_OK(ib_platform_select(idx, strlen(idx), &p, &d, NULL, &e) == 0 && d[7] == '1', "linux/arm: any variant");
        free(d);
        ib_platform_parse("linux/arm/v6", &p, &e);
        IB_OK(ib_platform_select(idx, strlen(idx), &p, &d, NULL, &e) == -ENOENT && strstr(e->msg, "linux/arm/v7"),
              "linux/arm/v6 absent; the message lists what there is: %s", e ? e->msg : "");
        ib_err_free(&e);
        ib_platform_parse("unknown/unknown", &p, &e);
        IB_OK(ib_platform_select(idx, strlen(idx), &p, &d, NULL, &e) == -ENOENT, "attestations are never chosen");
        ib_err_free(&e);
        IB_OK(ib_platform_select("{}", 2, &p, &d, NULL, &e) == -EINVAL, "index without manifests is refused");
        ib_err_free(&e);
        ib_platform_host(&p);
        IB_OK(p.os[0] && p.arch[0], "host platform %s/%s", p.os, p.arch);
}

static void test_media_types(void)
{
        char *m = ib_manifest_media_type("{\"schemaVersion\":1,\"name\":\"x\"}", 30, NULL);
        IB_STREQ(m, IB_MT_DOCKER_SCHEMA1, "schema 1 is recognised");
        free(m);
        m = ib_manifest_media_type("{\"schemaVersion\":2,\"config\":{}}", 30, IB_MT_DOCKER_MANIFEST "; charset=x");
        IB_STREQ(m, IB_MT_DOCKER_MANIFEST, "Content-Type used when mediaType is absent");
        free(m);
        m = ib_manifest_media_type("{\"schemaVersion\":2,\"manifests\":[]}", 34, "application/json");
        IB_STREQ(m, IB_MT_OCI_INDEX, "an index is guessed from its members");
        free(m);
}

static void test_error_text(void)
{
        const char *body = "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\",\"detail\":null}]}";
        char *s = ib_http_error_text(401, "Unauthorized", body, strlen(body));
        IB_STREQ(s, "401 UNAUTHORIZED: authentication required", "registry error body becomes the message");
        free(s);
        s = ib_http_error_text(500, "Internal Server Error", "oops", 4);
        IB_STREQ(s, "500 Internal Server Error", "non-JSON body: status and reason");
        free(s);
        s = ib_http_error_text(401, "", "{\"details\":\"incorrect username or password\"}", 44);
        IB_STREQ(s, "401: incorrect username or password", "token server style body");
        free(s);
        IB_OK(ib_registry_is_loopback("127.0.0.1:5000") && ib_registry_is_loopback("localhost") &&
                      ib_registry_is_loopback("[::1]:80") && !ib_registry_is_loopback("127.example.com") &&
                      !ib_registry_is_loopback("10.0.0.1:5000"),
              "loopback registries");
        IB_OK(ib_same_origin("https://a:5000/v2/x", "https://a:5000/other") && !ib_same_origin("https://a/v2/", "http://a/v2/") &&
                      !ib_same_origin("https://a/v2/", "https://b/v2/") && ib_same_origin("https://a/x", "https://a:443/y"),
              "same-origin check (scheme, host, port)");
        IB_OK(ib_url_msg_len("https://s3.example/b/x?X-Amz-Signature=secret") == (int) strlen("https://s3.example/b/x"),
              "a URL in a message stops before its query (a pre-signed URL's signature)");
        IB_OK(ib_url_msg_len("http://r/v2/x/blobs/sha256:ab#frag") == (int) strlen("http://r/v2/x/blobs/sha256:ab") &&
                      ib_url_msg_len("http://r/v2/") == 12,
              "... and before a fragment; a plain URL is shown whole");
}

static void test_cancel(void)
{
        struct ib_registry_opts o;
        struct ib_registry *r = NULL;
        _cleanup_err_ struct ib_err *e = NULL;
        int p[2];
        uint64_t t0;

        IB_OK(pipe(p) == 0, "a cancel pipe");
        ib_registry_opts_init(&o);
        IB_OK(o.cancel_fd == -1, "no cancel fd by default");
        o.cancel_fd = p[0];
        IB_OK(ib_registry_new(&o, &r, &e) == 0, "a client with a cancel fd");
        IB_OK(!ib_registry_cancelled(r), "not cancelled while the pipe is empty");
        t0 = ib_now_ms();
        IB_OK(ib_registry_sleep(r, 50, "x", &e) == 0 && ib_now_ms() - t0 >= 50, "a backoff sleeps its time");
        IB_OK(write(p[1], "x", 1) == 1, "the signal handler's write");
        IB_OK(ib_registry_cancelled(r), "cancelled once the pipe is readable");
        t0 = ib_now_ms();
        IB_OK(ib_registry_sleep(r, 10000, "blob sha256:ab", &e) == -ECANCELED && ib_now_ms() - t0 < 1000,
              "a backoff ends at once when cancelled ...");
        IB_STREQ(e ? e->msg : "", "blob sha256:ab: interrupted", "... naming what was interrupted");
        ib_registry_free(r);
        ib_registry_opts_release(&o);
        close(p[0]);
        close(p[1]);
}

int main(void)
{
        test_references();
        test_www_authenticate();
        test_base64();
        test_config();
        test_auth_file_search();
        test_platform();
        test_media_types();
        test_error_text();
        test_cancel();
        return ib_t_done();
}
