/* tests/unit/test-image.c - src/image.h: config model, deltas, manifests,
 * indexes, store commit, layer reader, OCI layout index, small output files. */
#include "lib/ib.h"
#include "src/image.h"
#include "tests/lib/ib-test.h"
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>

/* A BuildKit-shaped config in canonical form: must round-trip byte for byte. */
static const char canonical_config[] =
        "{\"architecture\":\"amd64\",\"author\":\"Jane \\u003cj@example.com\\u003e\","
        "\"config\":{\"User\":\"app\",\"ExposedPorts\":{\"443/tcp\":{},\"80/tcp\":{}},"
        "\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"LANG=C.UTF-8\"],"
        "\"Entrypoint\":[\"/docker-entrypoint.sh\"],\"Cmd\":[\"nginx\",\"-g\",\"daemon off;\"],"
        "\"Volumes\":{\"/data\":{}},\"WorkingDir\":\"/srv\","
        "\"Labels\":{\"maintainer\":\"NGINX \\u003cnginx\\u003e\",\"org.opencontainers.image.source\":\"https://x/y?a=1\\u0026b=2\"},"
        "\"StopSignal\":\"SIGQUIT\",\"ArgsEscaped\":true,"
        "\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"curl -f http://localhost/ || exit 1\"],\"Interval\":30000000000,"
        "\"Timeout\":5000000000,\"StartPeriod\":1000000000,\"StartInterval\":2000000000,\"Retries\":3},"
        "\"OnBuild\":[\"RUN echo child\"],\"Shell\":[\"/bin/bash\",\"-c\"]},"
        "\"created\":\"2024-01-02T03:04:05.123456789Z\","
        "\"history\":[{\"created\":\"2024-01-01T00:00:00Z\",\"created_by\":\"/bin/sh -c #(nop) ADD file:abc in / \"},"
        "{\"created\":\"2024-01-01T00:00:01Z\",\"created_by\":\"/bin/sh -c #(nop)  CMD [\\\"bash\\\"]\",\"empty_layer\":true},"
        "{\"created\":\"2024-01-02T03:04:05Z\",\"created_by\":\"RUN /bin/sh -c apt-get update # buildkit\",\"author\":\"x\",\"comment\":\"buildkit.dockerfile.v0\"}],"
        "\"os\":\"linux\","
        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:1111111111111111111111111111111111111111111111111111111111111111\","
        "\"sha256:2222222222222222222222222222222222222222222222222222222222222222\"]},"
        "\"variant\":\"v8\"}";

/* What classic `docker build` writes: extra fields, nulls, another key order. */
static const char docker_config[] =
        "{\"architecture\":\"amd64\",\"config\":{\"Hostname\":\"\",\"Domainname\":\"\",\"User\":\"\","
        "\"AttachStdin\":false,\"Tty\":false,\"Env\":[\"PATH=/bin\"],\"Cmd\":[\"sh\"],\"Image\":\"sha256:aa\","
        "\"Volumes\":null,\"WorkingDir\":\"\",\"Entrypoint\":null,\"OnBuild\":null,\"Labels\":{}},"
        "\"container\":\"abc\",\"container_config\":{\"Cmd\":[\"/bin/sh\",\"-c\",\"#(nop) CMD [\\\"sh\\\"]\"]},"
        "\"created\":\"2023-05-19T20:19:24.285924617Z\",\"docker_version\":\"20.10.23\","
        "\"history\":[{\"created\":\"2023-05-19T20:19:24Z\",\"created_by\":\"ADD x\"}],\"os\":\"linux\","
        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:3333333333333333333333333333333333333333333333333333333333333333\"]}}";

static char *ser(const struct ib_image_config *c)
{
        struct ib_buf b = IB_BUF_INIT;
        ib_image_config_serialize(c, &b);
        return ib_buf_detach(&b);
}

static void test_config_roundtrip(void)
{
        struct ib_image_config *c = NULL, *d = NULL;
        struct ib_err *err = NULL;
        char *out, *out2;

        int r = ib_image_config_parse(canonical_config, strlen(canonical_config), &c, &err);
        IB_OK(r == 0, "canonical config parses (%s)", err ? err->msg : "");
        if (r < 0)
                return;
        out = ser(c);
        IB_STREQ(out, canonical_config, "canonical config round-trips byte for byte");
        IB_STREQ(c->config.healthcheck ? c->config.healthcheck->test[1] : NULL, "curl -f http://localhost/ || exit 1",
                 "healthcheck test kept");
        IB_OK(c->config.healthcheck && c->config.healthcheck->start_interval == 2000000000, "StartInterval kept");
        IB_STREQ(ib_kvlist_get(&c->config.labels, "maintainer"), "NGINX <nginx>", "\\u003e unescaped on parse");
        d = ib_image_config_dup(c);
        out2 = ser(d);
        IB_STREQ(out2, out, "dup serialises to the same bytes");
        free(out2);
        out2 = ser(c);
        IB_STREQ(out2, out, "serialising twice gives the same bytes");
        IB_OK(c->n_history == 3 && ib_image_config_layer_history_count(c) == 2, "history: 3 entries, 2 layers");
        char *plat = ib_image_config_platform(c);
        IB_STREQ(plat, "linux/amd64/v8", "platform string");
        free(plat);
        free(out2);
        free(out);
        ib_image_config_free(c);
        ib_image_config_free(d);

        r = ib_image_config_parse(docker_config, strlen(docker_config), &c, &err);
        IB_OK(r == 0, "docker build's config parses (%s)", err ? err->msg : "");
        if (r < 0)
                return;
        out = ser(c);
        IB_STREQ(out, "{\"architecture\":\"amd64\",\"config\":{\"Env\":[\"PATH=/bin\"],\"Cmd\":[\"sh\"]},"
                      "\"created\":\"2023-05-19T20:19:24.285924617Z\","
                      "\"history\":[{\"created\":\"2023-05-19T20:19:24Z\",\"created_by\":\"ADD x\"}],\"os\":\"linux\","
                      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:3333333333333333333333333333333333333333333333333333333333333333\"]}}",
                 "unknown fields, nulls and empties dropped; canonical order");
        free(out);
        ib_image_config_free(c);

        static const char *const bad[] = {
                "{\"config\":{\"Env\":\"PATH=/bin\"}}",
                "{\"config\":{\"Cmd\":[1]}}",
                "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"md5:x\"]}}",
                "{\"history\":{}}",
                "[1,2]",
                "{\"architecture\":",
        };
        for (size_t i = 0; i < IB_ELEMENTSOF(bad); i++) {
                c = NULL;
                r = ib_image_config_parse(bad[i], strlen(bad[i]), &c, &err);
                IB_OK(r < 0 && err && c == NULL, "bad config refused: %s -> %s", bad[i], err ? err->msg : "(no error)");
                ib_err_free(&err);
        }
}

static void test_config_edit(void)
{
        struct ib_image_config *c = ib_image_config_new();
        struct ib_err *err = NULL;
        char *out;

        IB_OK(c->architecture && c->os && strcmp(c->os, "linux") == 0, "new config: host arch, linux");
        ib_image_config_set_str(&c->variant, NULL);
        ib_image_config_set_str(&c->architecture, "amd64");
        ib_image_config_env_set(c, "A", "1");
        ib_image_config_env_set(c, "PATH", "/bin");
        ib_image_config_env_set(c, "A", "2=x");
        ib_image_config_env_set(c, "AB", "3");
        IB_STREQ(ib_image_config_env_get(c, "A"), "2=x", "env set replaces the value");
        IB_OK(ib_strv_len(c->config.env) == 3 && strcmp(c->config.env[0], "A=2=x") == 0, "replaced in place, order kept");
        IB_OK(ib_image_config_env_get(c, "B") == NULL && strcmp(ib_image_config_env_get(c, "AB"), "3") == 0,
              "env get matches the whole key");
        ib_image_config_label_set(c, "z", "1");
        ib_image_config_label_set(c, "a", "2");
        ib_image_config_label_set(c, "z", "3");
        IB_OK(c->config.labels.n == 2 && strcmp(c->config.labels.v[0].key, "a") == 0 &&
              strcmp(c->config.labels.v[1].value, "3") == 0, "labels sorted, replaced");
        IB_OK(ib_image_config_expose(c, "8080", &err) == 0 && ib_image_config_expose(c, "53/UDP", &err) == 0 &&
              ib_image_config_expose(c, "8080/tcp", &err) == 0 && ib_image_config_expose(c, "9000-9010", &err) == 0,
              "expose accepts port, port/proto, range");
        IB_OK(ib_strv_len(c->config.exposed_ports) == 3 && strcmp(c->config.exposed_ports[0], "53/udp") == 0,
              "exposed ports: a sorted set, protocol lowercased");
        IB_OK(ib_image_config_expose(c, "http", &err) == -EINVAL && err, "expose refuses a name");
        ib_err_free(&err);
        IB_OK(ib_image_config_expose(c, "70000", &err) == -EINVAL, "expose refuses >65535");
        ib_err_free(&err);
        ib_image_config_volume_add(c, "/b");
        ib_image_config_volume_add(c, "/a");
        ib_image_config_volume_add(c, "/b");
        IB_OK(ib_strv_len(c->config.volumes) == 2, "volumes: a set");
        ib_image_config_add_history(c, "2024-01-01T00:00:00Z", "ENV A=1", "buildkit.dockerfile.v0", true);
        ib_image_config_add_layer(c, "sha256:4444444444444444444444444444444444444444444444444444444444444444",
                                  "2024-01-01T00:00:00Z", "RUN x", NULL);
        IB_OK(c->n_history == 2 && ib_strv_len(c->diff_ids) == 1 && !c->history[1].empty_layer &&
              ib_image_config_layer_history_count(c) == 1, "history and diff_id appended");
        struct ib_healthcheck h = { .test = (char *[]) { (char *) "NONE", NULL } };
        ib_image_config_set_healthcheck(c, &h);
        out = ser(c);
        IB_STREQ(out, "{\"architecture\":\"amd64\",\"config\":{\"ExposedPorts\":{\"53/udp\":{},\"8080/tcp\":{},\"9000-9010/tcp\":{}},"
                      "\"Env\":[\"A=2=x\",\"PATH=/bin\",\"AB=3\"],\"Volumes\":{\"/a\":{},\"/b\":{}},"
                      "\"Labels\":{\"a\":\"2\",\"z\":\"3\"},\"Healthcheck\":{\"Test\":[\"NONE\"]}},"
                      "\"history\":[{\"created\":\"2024-01-01T00:00:00Z\",\"created_by\":\"ENV A=1\",\"comment\":\"buildkit.dockerfile.v0\",\"empty_layer\":true},"
                      "{\"created\":\"2024-01-01T00:00:00Z\",\"created_by\":\"RUN x\"}],\"os\":\"linux\","
                      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:4444444444444444444444444444444444444444444444444444444444444444\"]}}",
                 "edited config serialises canonically");
        free(out);
        ib_image_config_free(c);

        c = ib_image_config_new();
        out = ser(c);
        IB_OK(strstr(out, "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}") != NULL,
              "scratch config has an empty diff_ids array (%s)", out);
        free(out);
        ib_image_config_free(c);
}

static void test_delta(void)
{
        struct ib_image_config *before = NULL, *after, *c;
        struct ib_err *err = NULL;
        struct ib_buf d = IB_BUF_INIT;
        char *want, *got;

        ib_image_config_parse(canonical_config, strlen(canonical_config), &before, &err);
        after = ib_image_config_dup(before);
        ib_image_config_set_strv(&after->config.cmd, (char *[]) { (char *) "run", NULL });
        ib_image_config_set_strv(&after->config.entrypoint, NULL);
        ib_image_config_env_set(after, "LANG", "C");
        ib_image_config_label_set(after, "new", "x");
        ib_image_config_set_str(&after->author, "Bob");
        ib_image_config_add_layer(after, "sha256:5555555555555555555555555555555555555555555555555555555555555555",
                                  "2024-02-02T00:00:00Z", "COPY . /", "buildkit.dockerfile.v0");
        IB_OK(ib_image_config_diff(before, after, &d, &err) == 0, "diff computed (%s)", err ? err->msg : "");
        IB_STREQ(d.buf, "{\"author\":\"Bob\",\"config\":{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"LANG=C\"],"
                        "\"Entrypoint\":null,\"Cmd\":[\"run\"],"
                        "\"Labels\":{\"maintainer\":\"NGINX \\u003cnginx\\u003e\",\"new\":\"x\",\"org.opencontainers.image.source\":\"https://x/y?a=1\\u0026b=2\"}},"
                        "\"diff_ids\":[\"sha256:5555555555555555555555555555555555555555555555555555555555555555\"],"
                        "\"history\":[{\"created\":\"2024-02-02T00:00:00Z\",\"created_by\":\"COPY . /\",\"comment\":\"buildkit.dockerfile.v0\"}]}",
                 "delta holds changed fields, null for removed ones, appended layers and history");
        c = ib_image_config_dup(before);
        IB_OK(ib_image_config_apply(c, d.buf, d.len, &err) == 0, "delta applies (%s)", err ? err->msg : "");
        want = ser(after);
        got = ser(c);
        IB_STREQ(got, want, "before + delta == after, byte for byte");
        free(got);
        free(want);
        ib_image_config_free(c);

        ib_buf_reset(&d);
        IB_OK(ib_image_config_diff(after, after, &d, &err) == 0 && strcmp(d.buf, "{}") == 0, "no change: {}");
        ib_buf_reset(&d);
        IB_OK(ib_image_config_diff(after, before, &d, &err) == -EINVAL && err, "a shrinking config has no delta");
        ib_err_free(&err);

        /* A bad delta leaves the config as it was. */
        c = ib_image_config_dup(before);
        want = ser(c);
        static const char bad[] = "{\"config\":{\"Cmd\":[\"ok\"],\"Env\":\"notalist\"}}";
        IB_OK(ib_image_config_apply(c, bad, strlen(bad), &err) < 0 && err, "bad delta refused");
        ib_err_free(&err);
        got = ser(c);
        IB_STREQ(got, want, "a refused delta changes nothing");
        free(got);
        free(want);
        static const char unk[] = "{\"config\":{\"Bogus\":1}}";
        IB_OK(ib_image_config_apply(c, unk, strlen(unk), &err) < 0 && err, "unknown delta field refused");
        ib_err_free(&err);
        ib_image_config_free(c);
        ib_image_config_free(before);
        ib_image_config_free(after);
        ib_buf_release(&d);
}

/* As a registry returns it for docker push: indented, docker's key order. */
static const char docker_manifest[] =
        "{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n"
        "   \"config\": {\n      \"mediaType\": \"application/vnd.docker.container.image.v1+json\",\n"
        "      \"size\": 7023,\n      \"digest\": \"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7\"\n   },\n"
        "   \"layers\": [\n      {\n         \"mediaType\": \"application/vnd.docker.image.rootfs.diff.tar.gzip\",\n"
        "         \"size\": 32654,\n         \"digest\": \"sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f\"\n      },\n"
        "      {\n         \"mediaType\": \"application/vnd.docker.image.rootfs.diff.tar.gzip\",\n"
        "         \"size\": 16724,\n         \"digest\": \"sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b\"\n      }\n   ]\n}";

static const char oci_manifest[] =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7\",\"size\":1469},"
        "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f\",\"size\":3255,"
        "\"annotations\":{\"containerd.io/uncompressed\":\"sha256:6666666666666666666666666666666666666666666666666666666666666666\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b\",\"size\":16724,"
        "\"urls\":[\"https://example.com/layer\"]}],"
        "\"annotations\":{\"org.opencontainers.image.base.name\":\"docker.io/library/alpine:3.19\",\"org.opencontainers.image.created\":\"2024-01-01T00:00:00Z\"}}";

static const char manifest_list[] =
        "{\"manifests\":[{\"digest\":\"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7\","
        "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"},\"size\":528},"
        "{\"digest\":\"sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f\","
        "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"},\"size\":528},"
        "{\"digest\":\"sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b\","
        "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"},\"size\":528},"
        "{\"digest\":\"sha256:1111111111111111111111111111111111111111111111111111111111111111\","
        "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"platform\":{\"architecture\":\"amd64\",\"os\":\"windows\",\"os.version\":\"10.0.17763.5329\"},\"size\":1125}],"
        "\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\",\"schemaVersion\":2}";

static const char oci_index[] =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7\",\"size\":1000,"
        "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f\",\"size\":566,"
        "\"annotations\":{\"vnd.docker.reference.digest\":\"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7\",\"vnd.docker.reference.type\":\"attestation-manifest\"},"
        "\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}}],"
        "\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}";

static void test_manifests(void)
{
        struct ib_manifest *m = NULL;
        struct ib_index *x = NULL;
        struct ib_err *err = NULL;
        struct ib_buf b = IB_BUF_INIT;
        enum ib_image_compression c;
        int r;

        r = ib_manifest_parse(docker_manifest, strlen(docker_manifest), &m, &err);
        IB_OK(r == 0, "docker schema2 manifest parses (%s)", err ? err->msg : "");
        if (r == 0) {
                IB_OK(m->n_layers == 2 && m->layers[1].size == 16724 && m->config.size == 7023, "layers, sizes");
                IB_OK(ib_media_type_layer_compression(m->layers[0].media_type, &c) && c == IB_COMPRESS_GZIP, "docker gzip layer");
                ib_manifest_serialize(m, &b);
                IB_STREQ(b.buf, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
                                "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":7023,"
                                "\"digest\":\"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7\"},"
                                "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":32654,"
                                "\"digest\":\"sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f\"},"
                                "{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":16724,"
                                "\"digest\":\"sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b\"}]}",
                         "docker manifest: compact, docker's descriptor order");
                ib_manifest_free(m);
        }
        ib_buf_reset(&b);
        r = ib_manifest_parse(oci_manifest, strlen(oci_manifest), &m, &err);
        IB_OK(r == 0, "OCI manifest with zstd, urls, annotations parses (%s)", err ? err->msg : "");
        if (r == 0) {
                IB_OK(ib_media_type_layer_compression(m->layers[0].media_type, &c) && c == IB_COMPRESS_ZSTD, "zstd layer");
                IB_STREQ(ib_kvlist_get(&m->layers[0].annotations, "containerd.io/uncompressed"),
                         "sha256:6666666666666666666666666666666666666666666666666666666666666666", "layer annotation");
                IB_STREQ(ib_kvlist_get(&m->annotations, "org.opencontainers.image.base.name"), "docker.io/library/alpine:3.19",
                         "manifest annotation");
                ib_manifest_serialize(m, &b);
                IB_STREQ(b.buf, oci_manifest, "OCI manifest round-trips byte for byte");
                ib_manifest_free(m);
        }
        static const char *const bad[] = {
                "{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}",
                "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7\"},\"layers\":[]}",
                "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:xyz\",\"size\":1},\"layers\":[]}",
        };
        for (size_t i = 0; i < IB_ELEMENTSOF(bad); i++) {
                m = NULL;
                IB_OK(ib_manifest_parse(bad[i], strlen(bad[i]), &m, &err) < 0 && !m && err, "bad manifest refused: %s",
                      err ? err->msg : "(none)");
                ib_err_free(&err);
        }
        IB_OK(ib_manifest_parse(manifest_list, strlen(manifest_list), &m, &err) < 0 && err &&
              strstr(err->msg, "index"), "a manifest list is not taken for a manifest (%s)", err ? err->msg : "");
        ib_err_free(&err);

        ib_buf_reset(&b);
        r = ib_index_parse(manifest_list, strlen(manifest_list), &x, &err);
        IB_OK(r == 0 && x->n_manifests == 4, "docker manifest list parses (%s)", err ? err->msg : "");
        if (r == 0) {
                const struct ib_descriptor *d = ib_index_find_platform(x, "linux", "arm64", "v8");
                IB_OK(d && d->size == 528 && strstr(d->digest, "3c3a46"), "platform linux/arm64/v8 found");
                d = ib_index_find_platform(x, "linux", "arm", "v6");
                IB_OK(d == NULL, "linux/arm/v6 not found (only v7)");
                d = ib_index_find_platform(x, "windows", "amd64", NULL);
                IB_OK(d && strcmp(d->platform->os_version, "10.0.17763.5329") == 0, "os.version kept");
                ib_index_serialize(x, &b);
                IB_OK(ib_startswith(b.buf, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\",\"manifests\":[{\"mediaType\":"),
                      "manifest list serialised in canonical order");
                ib_index_free(x);
        }
        ib_buf_reset(&b);
        r = ib_index_parse(oci_index, strlen(oci_index), &x, &err);
        IB_OK(r == 0, "OCI index with attestation entry parses (%s)", err ? err->msg : "");
        if (r == 0) {
                ib_index_serialize(x, &b);
                IB_STREQ(b.buf, oci_index, "OCI index round-trips byte for byte");
                ib_index_free(x);
        }
        char *mt = ib_json_media_type(oci_index, strlen(oci_index));
        IB_STREQ(mt, IB_MT_OCI_INDEX, "media type sniffed from a document");
        free(mt);
        ib_buf_release(&b);

        enum ib_image_format f;
        IB_OK(ib_image_format_parse("docker", &f) == 0 && f == IB_FORMAT_DOCKER && ib_image_format_parse("x", &f) < 0,
              "format names");
        IB_STREQ(ib_media_type_layer(IB_FORMAT_DOCKER, IB_COMPRESS_GZIP), IB_MT_DOCKER_LAYER_GZIP, "docker gzip layer type");
        IB_STREQ(ib_media_type_layer(IB_FORMAT_OCI, IB_COMPRESS_ZSTD), IB_MT_OCI_LAYER_ZSTD, "OCI zstd layer type");
        IB_STREQ(ib_media_type_config(IB_FORMAT_DOCKER), IB_MT_DOCKER_CONFIG, "docker config type");
        IB_STREQ(ib_media_type_manifest(IB_FORMAT_OCI), IB_MT_OCI_MANIFEST, "OCI manifest type");
}

static void test_time_and_refs(void)
{
        char buf[40];
        int64_t t = 0;
        char *repo = NULL, *tag = NULL;
        struct ib_err *err = NULL;

        ib_time_rfc3339(1700000000, buf, sizeof(buf));
        IB_STREQ(buf, "2023-11-14T22:13:20Z", "rfc3339 format");
        IB_OK(ib_time_parse("2023-11-14T22:13:20Z", &t) == 0 && t == 1700000000, "rfc3339 parse");
        IB_OK(ib_time_parse("2023-11-15T00:13:20.5+02:00", &t) == 0 && t == 1700000000, "offset and fraction");
        IB_OK(ib_time_parse("@1700000000", &t) == 0 && t == 1700000000 && ib_time_parse("0", &t) == 0 && t == 0,
              "epoch forms");
        IB_OK(ib_time_parse("yesterday", &t) < 0 && ib_time_parse("2023-11-14T22:13:20", &t) < 0, "bad times refused");

        static const struct {
                const char *in, *repo, *tag;
        } refs[] = {
                { "bob/image", "index.docker.io/bob/image", "latest" },
                { "ubuntu:22.04", "index.docker.io/library/ubuntu", "22.04" },
                { "docker.io/library/busybox", "index.docker.io/library/busybox", "latest" },
                { "gcr.io/foo/bar:123", "gcr.io/foo/bar", "123" },
                { "127.0.0.1:5000/team/app:v1", "127.0.0.1:5000/team/app", "v1" },
                { "localhost/app", "localhost/app", "latest" },
        };
        for (size_t i = 0; i < IB_ELEMENTSOF(refs); i++) {
                int r = ib_reference_normalize(refs[i].in, &repo, &tag, &err);
                IB_OK(r == 0 && strcmp(repo, refs[i].repo) == 0 && strcmp(tag, refs[i].tag) == 0,
                      "normalise %s -> %s:%s (got %s:%s)", refs[i].in, refs[i].repo, refs[i].tag, r ? "-" : repo, r ? "-" : tag);
                if (r == 0) {
                        free(repo);
                        free(tag);
                }
                ib_err_free(&err);
        }
        IB_OK(ib_reference_normalize("Bad/Name", &repo, &tag, &err) < 0 && err, "uppercase repository refused");
        ib_err_free(&err);

        char *dir, *t2;
        ib_oci_layout_ref_split("/tmp/x:y/lay:v1", &dir, &t2);
        IB_OK(strcmp(dir, "/tmp/x:y/lay") == 0 && t2 && strcmp(t2, "v1") == 0, "layout ref DIR:TAG");
        free(dir);
        free(t2);
        ib_oci_layout_ref_split("/tmp/x:y/lay", &dir, &t2);
        IB_OK(strcmp(dir, "/tmp/x:y/lay") == 0 && !t2, "layout ref with a colon in a dir and no tag");
        free(dir);
}

/* ------------------------------------------------------- store-backed tests */

static size_t gzip_buf(const void *in, size_t n, unsigned char *out, size_t cap)
{
        z_stream z = {};
        deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
        z.next_in = (unsigned char *) in;
        z.avail_in = (uInt) n;
        z.next_out = out;
        z.avail_out = (uInt) cap;
        deflate(&z, Z_FINISH);
        size_t r = cap - z.avail_out;
        deflateEnd(&z);
        return r;
}

static char *write_tmp(const char *dir, const char *name, const void *data, size_t n)
{
        char *p = ib_path_join(dir, name);
        struct ib_err *err = NULL;
        ib_write_file_atomic(p, data, n, 0644, &err);
        ib_err_free(&err);
        return p;
}

static void read_all(const char *path, struct ib_buf *out, int *ret, char **msg)
{
        struct ib_layer_reader *r = NULL;
        struct ib_err *err = NULL;
        char buf[1000];
        ssize_t n;

        *ret = ib_layer_reader_open(path, &r, &err);
        if (*ret == 0) {
                while ((n = ib_layer_reader_read(r, buf, sizeof(buf), &err)) > 0)
                        ib_buf_add(out, buf, (size_t) n);
                *ret = (int) n;
                ib_layer_reader_free(r);
        }
        *msg = err ? ib_strdup(err->msg) : NULL;
        ib_err_free(&err);
}

static void test_layer_reader(const char *tmp)
{
        size_t n = 300000;
        char *plain = ib_malloc(n);
        unsigned char *gz = ib_malloc(2 * n + 1000), *zs;
        size_t zn, gn1, gn2;
        struct ib_buf out = IB_BUF_INIT;
        char *p, *msg;
        int r;

        for (size_t i = 0; i < n; i++)
                plain[i] = (char) ((i * 7919) % 251);
        /* Two gzip members back to back, as `cat a.gz b.gz` makes. */
        gn1 = gzip_buf(plain, n / 3, gz, 2 * n + 1000);
        gn2 = gzip_buf(plain + n / 3, n - n / 3, gz + gn1, 2 * n + 1000 - gn1);
        p = write_tmp(tmp, "multi.gz", gz, gn1 + gn2);
        read_all(p, &out, &r, &msg);
        IB_OK(r == 0 && out.len == n && memcmp(out.buf, plain, n) == 0, "multi-member gzip read whole (%s)", msg ? msg : "");
        free(msg);
        free(p);

        ib_buf_reset(&out);
        p = write_tmp(tmp, "trunc.gz", gz, gn1 / 2);
        read_all(p, &out, &r, &msg);
        IB_OK(r < 0 && msg && strstr(msg, "truncated"), "truncated gzip is an error (%s)", msg ? msg : "no error");
        free(msg);
        free(p);

        ib_buf_reset(&out);
        zs = ib_malloc(ZSTD_compressBound(n));
        zn = ZSTD_compress(zs, ZSTD_compressBound(n), plain, n, 3);
        p = write_tmp(tmp, "l.zst", zs, zn);
        read_all(p, &out, &r, &msg);
        IB_OK(r == 0 && out.len == n && memcmp(out.buf, plain, n) == 0, "zstd read whole (%s)", msg ? msg : "");
        free(msg);
        char *diff = NULL;
        int64_t size = 0;
        char hex[IB_SHA256_HEX];
        struct ib_err *err = NULL;
        ib_sha256_hex(plain, n, hex);
        IB_OK(ib_layer_blob_measure(p, &diff, &size, &err) == 0 && size == (int64_t) n && strcmp(diff + 7, hex) == 0,
              "measure gives the diff_id and size");
        free(diff);
        diff = NULL;
        IB_OK(ib_layer_blob_info(p, &diff, &size, &err) == 0 && size == (int64_t) n && strcmp(diff + 7, hex) == 0,
              "info: measured the first time");
        free(diff);
        diff = NULL;
        ib_layer_blob_remember(p, "sha256:7777777777777777777777777777777777777777777777777777777777777777", 42);
        IB_OK(ib_layer_blob_info(p, &diff, &size, &err) == 0 && size == 42 && strstr(diff, "7777"),
              "info: answered from the remembered xattr");
        free(diff);
        free(p);

        ib_buf_reset(&out);
        p = write_tmp(tmp, "plain.tar", plain, n);
        read_all(p, &out, &r, &msg);
        IB_OK(r == 0 && out.len == n && memcmp(out.buf, plain, n) == 0, "plain tar passes through");
        free(msg);
        free(p);

        free(zs);
        free(gz);
        free(plain);
        ib_buf_release(&out);
}

static void check_outputs(const char *tmp, struct ib_store *s, const struct ib_image *img, const struct ib_image *dimg,
                          const struct ib_layer *lp);

static void test_commit_and_outputs(const char *tmp)
{
        _cleanup_free_ char *root = ib_path_join(tmp, "store");
        struct ib_store *s = NULL;
        struct ib_err *err = NULL;
        static const char tar[2048] = "pretend this is a tar";
        unsigned char gz[4096];
        size_t gn = gzip_buf(tar, sizeof(tar), gz, sizeof(gz));
        char hex[IB_SHA256_HEX];
        struct ib_layer l = { .media_type = (char *) IB_MT_OCI_LAYER_GZIP, .size = (int64_t) gn, .uncompressed_size = -1 };
        struct ib_image *img = NULL, *dimg = NULL, *loaded = NULL;
        struct ib_image_config *c = ib_image_config_new();
        int r;

        if (ib_store_open(root, &s, &err) < 0) {
                IB_OK(false, "store opens (%s)", err->msg);
                ib_err_free(&err);
                return;
        }
        ib_store_put_blob(s, gz, gn, NULL, &l.digest, &err);
        ib_sha256_hex(tar, sizeof(tar), hex);
        l.diff_id = ib_strdupf("sha256:%s", hex);
        ib_image_config_set_str(&c->created, "2024-01-01T00:00:00Z");

        r = ib_image_commit(s, c, &l, 1, IB_FORMAT_OCI, &img, &err);
        IB_OK(r == -EINVAL && err && strstr(err->msg, "diff_ids"), "commit refuses layers the config does not list (%s)",
              err ? err->msg : "");
        ib_err_free(&err);
        ib_image_config_add_layer(c, l.diff_id, "2024-01-01T00:00:00Z", "COPY x /", NULL);
        r = ib_image_commit(s, c, &l, 1, IB_FORMAT_OCI, &img, &err);
        IB_OK(r == 0, "OCI image committed (%s)", err ? err->msg : "");
        r = ib_image_commit(s, c, &l, 1, IB_FORMAT_DOCKER, &dimg, &err);
        IB_OK(r == 0, "docker image committed (%s)", err ? err->msg : "");
        if (!img || !dimg)
                goto out;
        IB_OK(ib_store_has_blob(s, img->manifest_digest) && ib_store_has_blob(s, img->config_digest), "blobs in the store");
        IB_STREQ(img->config_digest, dimg->config_digest, "same config bytes in both formats");
        IB_OK(strcmp(img->manifest_digest, dimg->manifest_digest) != 0, "different manifests");
        IB_STREQ(dimg->layers[0].media_type, IB_MT_DOCKER_LAYER_GZIP, "layer type converted to docker's");
        IB_STREQ(dimg->manifest_media_type, IB_MT_DOCKER_MANIFEST, "docker manifest type");
        IB_STREQ(dimg->config_media_type, IB_MT_DOCKER_CONFIG, "docker config type");

        char *mp = ib_store_blob_path(s, img->manifest_digest), *mdata = NULL;
        size_t mlen = 0;
        ib_read_file(mp, 1 << 20, &mdata, &mlen, &err);
        struct ib_buf want = IB_BUF_INIT;
        ib_buf_addf(&want, "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%" PRId64 "},"
                           "\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
                    IB_MT_OCI_MANIFEST, IB_MT_OCI_CONFIG, img->config_digest, img->config_size, IB_MT_OCI_LAYER_GZIP, l.digest, gn);
        IB_STREQ(mdata, want.buf, "stored OCI manifest bytes");
        free(mdata);
        free(mp);
        ib_buf_release(&want);

        r = ib_image_load(s, dimg->manifest_digest, &loaded, &err);
        IB_OK(r == 0 && loaded->format == IB_FORMAT_DOCKER && loaded->n_layers == 1 &&
              strcmp(loaded->layers[0].diff_id, l.diff_id) == 0 && loaded->manifest_size == dimg->manifest_size,
              "a stored image loads back (%s)", err ? err->msg : "");
        ib_image_free(loaded);

        check_outputs(tmp, s, img, dimg, &l);
out:
        ib_image_free(img);
        ib_image_free(dimg);
        ib_image_config_free(c);
        free(l.digest);
        free(l.diff_id);
        ib_err_free(&err);
        ib_store_close(s);
}

static void check_outputs(const char *tmp, struct ib_store *s, const struct ib_image *img, const struct ib_image *dimg,
                          const struct ib_layer *lp)
{
        struct ib_err *err = NULL;
        struct ib_layer l = *lp;
        int r;

        /* OCI layout: two tags, then a re-tag replaces; blobs are complete files. */
        _cleanup_free_ char *lay = ib_path_join(tmp, "layout");
        r = ib_output_oci_layout(s, img, lay, "a", &err);
        IB_OK(r == 0 && ib_output_oci_layout(s, dimg, lay, "b", &err) == 0 && ib_output_oci_layout(s, img, lay, NULL, &err) == 0 &&
              ib_output_oci_layout(s, img, lay, NULL, &err) == 0 && ib_output_oci_layout(s, dimg, lay, "a", &err) == 0,
              "layout written five times (%s)", err ? err->msg : "");
        ib_err_free(&err);
        _cleanup_free_ char *ipath = ib_path_join(lay, "index.json");
        char *idata = NULL;
        size_t ilen = 0;
        struct ib_index *x = NULL;
        if (ib_read_file(ipath, 1 << 20, &idata, &ilen, &err) == 0 && ib_index_parse(idata, ilen, &x, &err) == 0) {
                IB_OK(x->n_manifests == 3, "index: b, untagged once, a (got %zu entries)", x->n_manifests);
                const char *tags[3];
                for (size_t i = 0; i < 3 && i < x->n_manifests; i++)
                        tags[i] = ib_kvlist_get(&x->manifests[i].annotations, IB_ANNOTATION_REF_NAME);
                IB_OK(x->n_manifests == 3 && tags[0] && strcmp(tags[0], "b") == 0 && !tags[1] && tags[2] &&
                      strcmp(tags[2], "a") == 0 && strcmp(x->manifests[2].digest, dimg->manifest_digest) == 0,
                      "tag a moved to the docker image, b kept");
                ib_index_free(x);
        } else {
                IB_OK(false, "index.json readable (%s)", err ? err->msg : "");
        }
        free(idata);
        ib_err_free(&err);
        const char *lhex = NULL;
        ib_digest_parse(l.digest, &lhex);
        _cleanup_free_ char *lb = ib_strdupf("%s/blobs/sha256/%s", lay, lhex);
        _cleanup_free_ char *sb = ib_store_blob_path(s, l.digest);
        struct stat st1, st2;
        IB_OK(stat(lb, &st1) == 0 && stat(sb, &st2) == 0 && st1.st_ino == st2.st_ino,
              "layout blob is a hard link to the store's (same file system)");

        /* Reading a layout back: by tag, by digest, the sole image, through a
         * nested index to this platform. */
        char *dg = NULL;
        IB_OK(ib_oci_layout_find(lay, "b", NULL, NULL, NULL, &dg, &err) == 0 && strcmp(dg, dimg->manifest_digest) == 0,
              "resolve by tag (%s)", err ? err->msg : "");
        free(dg);
        dg = NULL;
        IB_OK(ib_oci_layout_find(lay, img->manifest_digest, NULL, NULL, NULL, &dg, &err) == 0 &&
              strcmp(dg, img->manifest_digest) == 0, "resolve by digest");
        free(dg);
        dg = NULL;
        IB_OK(ib_oci_layout_find(lay, NULL, NULL, NULL, NULL, &dg, &err) < 0 && err && strstr(err->msg, "3 images"),
              "no ref in a layout of several images is an error (%s)", err ? err->msg : "");
        ib_err_free(&err);
        IB_OK(ib_oci_layout_find(lay, "nope", NULL, NULL, NULL, &dg, &err) == -ENOENT, "unknown tag: ENOENT");
        ib_err_free(&err);
        {
                const char *variant = NULL, *arch = ib_host_arch(&variant);
                struct ib_index inner = { .schema_version = 2, .media_type = (char *) IB_MT_OCI_INDEX };
                struct ib_desc_platform pa = { .os = (char *) "linux", .architecture = (char *) "s390x" };
                struct ib_desc_platform ph = { .os = (char *) "linux", .architecture = (char *) arch, .variant = (char *) variant };
                struct ib_descriptor e1 = { .media_type = (char *) IB_MT_OCI_MANIFEST,
                        .digest = (char *) "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                        .size = 10, .platform = &pa };
                struct ib_descriptor e2 = { .media_type = img->manifest_media_type, .digest = img->manifest_digest,
                        .size = img->manifest_size, .platform = &ph };
                struct ib_buf ib = IB_BUF_INIT;
                char hexi[IB_SHA256_HEX], *ip = NULL;
                ib_index_append(&inner, &e1);
                ib_index_append(&inner, &e2);
                ib_index_serialize(&inner, &ib);
                ib_sha256_hex(ib.buf, ib.len, hexi);
                ip = ib_strdupf("%s/blobs/sha256/%s", lay, hexi);
                ib_write_file_atomic(ip, ib.buf, ib.len, 0644, &err);
                free(ip);
                for (size_t i = 0; i < inner.n_manifests; i++)
                        ib_descriptor_clear(&inner.manifests[i]);       /* ib_index_append made copies */
                free(inner.manifests);
                /* Top-level entry pointing at the nested index, tagged "multi". */
                char *top = ib_strdupf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":%zu,"
                                       "\"annotations\":{\"%s\":\"multi\"}}]}", IB_MT_OCI_INDEX, hexi, ib.len, IB_ANNOTATION_REF_NAME);
                _cleanup_free_ char *lay2 = ib_path_join(tmp, "layout2"), *l2blobs = ib_path_join(lay2, "blobs");
                _cleanup_free_ char *l2idx = ib_path_join(lay2, "index.json");
                ib_mkdir_p(lay2, 0755, &err);
                _cleanup_free_ char *lblobs = ib_path_join(lay, "blobs");
                (void) symlink(lblobs, l2blobs);
                ib_write_file_atomic(l2idx, top, strlen(top), 0644, &err);
                free(top);
                ib_buf_release(&ib);
                IB_OK(ib_oci_layout_find(lay2, "multi", NULL, NULL, NULL, &dg, &err) == 0 &&
                      strcmp(dg, img->manifest_digest) == 0, "nested index resolved to this platform (%s)", err ? err->msg : "");
                free(dg);
                dg = NULL;
                ib_err_free(&err);
                IB_OK(ib_oci_layout_find(lay2, "multi", "linux", "riscv64", NULL, &dg, &err) == -ENOENT && err &&
                      strstr(err->msg, "linux/riscv64"), "a platform the index lacks is named (%s)", err ? err->msg : "");
                ib_err_free(&err);
                IB_OK(ib_oci_layout_find(lay2, "multi", "linux", "s390x", NULL, &dg, &err) < 0 && err,
                      "an entry whose blob is missing is an error (%s)", err ? err->msg : "");
                ib_err_free(&err);

                /* Import into a second store: every blob copied and verified. */
                _cleanup_free_ char *root2 = ib_path_join(tmp, "store2");
                struct ib_store *s2 = NULL;
                struct ib_image *im = NULL;
                ib_store_open(root2, &s2, &err);
                IB_OK(s2 && ib_oci_layout_import(s2, lay, img->manifest_digest, &im, &err) == 0 &&
                      strcmp(im->config_digest, img->config_digest) == 0 && ib_store_has_blob(s2, img->layers[0].digest),
                      "import copies manifest, config and layers (%s)", err ? err->msg : "");
                ib_image_free(im);
                ib_err_free(&err);
                /* A corrupted layout blob is refused and leaves nothing behind. */
                const char *chex = NULL;
                ib_digest_parse(img->config_digest, &chex);
                _cleanup_free_ char *cb = ib_strdupf("%s/blobs/sha256/%s", lay, chex);
                _cleanup_free_ char *cb2 = ib_strdupf("%s/blobs/sha256/%s", root2, chex);
                unlink(cb2);
                unlink(cb);     /* break the hard link before corrupting */
                ib_write_file_atomic(cb, "{}", 2, 0644, &err);
                im = NULL;
                IB_OK(ib_oci_layout_import(s2, lay, img->manifest_digest, &im, &err) < 0 && err &&
                      strstr(err->msg, "digest mismatch") && !ib_store_has_blob(s2, img->config_digest),
                      "a corrupt blob is refused on import (%s)", err ? err->msg : "");
                ib_err_free(&err);
                ib_store_close(s2);
        }

        /* Kaniko's files. */
        _cleanup_free_ char *nd = ib_path_join(tmp, "sub/dir/names");
        char *dests[] = { (char *) "gcr.io/foo/bar:123", (char *) "bob/image", NULL };
        char *got = NULL;
        size_t glen;
        r = ib_output_name_digest_file(nd, img, dests, true, &err);
        ib_read_file(nd, 4096, &got, &glen, &err);
        _cleanup_free_ char *wantn = ib_strdupf("gcr.io/foo/bar:123@%s\nindex.docker.io/bob/image:latest@%s\n",
                                               img->manifest_digest, img->manifest_digest);
        IB_STREQ(got, wantn, "image-name-tag-with-digest-file as Kaniko writes it");
        free(got);
        r = ib_output_name_digest_file(nd, img, dests, false, &err);
        ib_read_file(nd, 4096, &got, &glen, &err);
        free(wantn);
        wantn = ib_strdupf("gcr.io/foo/bar@%s\nindex.docker.io/bob/image@%s\n", img->manifest_digest, img->manifest_digest);
        IB_STREQ(got, wantn, "image-name-with-digest-file as Kaniko writes it");
        free(got);
        r = ib_output_digest_file(nd, img, &err);
        ib_read_file(nd, 4096, &got, &glen, &err);
        IB_STREQ(got, img->manifest_digest, "digest file: the digest, no newline");
        free(got);
        ib_err_free(&err);

        struct ib_buf meta = IB_BUF_INIT;
        ib_image_metadata_json(img, dests, &meta);
        struct yajl_val_s *v = ib_json_parse(meta.buf, meta.len, "metadata", &err);
        IB_OK(v && strcmp(ib_json_get_str(v, "containerimage.digest"), img->manifest_digest) == 0 &&
              strcmp(ib_json_get_str(v, "image.name"), "gcr.io/foo/bar:123,bob/image") == 0,
              "metadata JSON parses and names the digest");
        ib_json_free(v);
        ib_buf_release(&meta);
        ib_err_free(&err);
}

int main(void)
{
        const char *tmp = ib_t_tmpdir();

        test_config_roundtrip();
        test_config_edit();
        test_delta();
        test_manifests();
        test_time_and_refs();
        test_layer_reader(tmp);
        test_commit_and_outputs(tmp);
        return ib_t_done();
}
