/* src/cmd-debug-image.c - `imgbuild debug-image`: a hidden verb for the tests.
 * It assembles an image from layer tarballs and config flags, commits it to a
 * store and writes the local outputs, so the image model and the writers can
 * be judged by skopeo, umoci and podman before the build engine exists.
 * Layers are gzip-compressed here with zlib (the real exporter is snapshot/'s
 * job); a layer given already compressed (gzip or zstd) is stored as it is. */
#include "src/cli.h"
#include "src/image-internal.h"
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <time.h>
#include <zlib.h>

#define CHUNK (256 * 1024)

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: imgbuild debug-image [OPTIONS] [LAYER.tar...]\n\n"
                "Assemble an image from layer tarballs (base first) and write outputs.\n\n"
                "  --root DIR                      store (default: the usual store)\n"
                "  --base-config FILE              start from this image config\n"
                "  --base-layer BLOB               a layer blob of that base (repeat, in order)\n"
                "  --from-layout DIR[:TAG|@DIGEST] start from an image in an OCI layout\n"
                "  --env K=V  --label K=V  --expose PORT[/PROTO]  --volume PATH  --onbuild TEXT\n"
                "  --cmd-json JSON  --entrypoint-json JSON  --shell-json JSON  --healthcheck-json JSON\n"
                "  --workdir DIR  --user USER  --stopsignal SIG  --author NAME\n"
                "  --history TEXT                  add an empty_layer history entry\n"
                "  --created TIME                  RFC 3339, @EPOCH or seconds (default: SOURCE_DATE_EPOCH or now)\n"
                "  --image-format oci|docker       media types (default oci)\n"
                "  --oci-layout-path DIR[:TAG]     write an OCI layout\n"
                "  --tar-path FILE                 write a docker-archive\n"
                "  --tag NAME                      image name (repeatable): archive tags, digest files\n"
                "  --digest-file FILE  --metadata-file FILE\n"
                "  --image-name-with-digest-file FILE  --image-name-tag-with-digest-file FILE\n"
                "  --print-config                  print the config JSON\n"
                "  --image DIGEST                  write the outputs of an image already in the store\n"
                "The manifest digest is printed on stdout.\n");
}

/* Compress a plain tar into a gzip blob in the store, or store a compressed one as is. */
static int store_layer(struct ib_store *s, const char *path, struct ib_layer *ret, struct ib_err **err)
{
        _cleanup_(ib_blob_writer_freep) struct ib_blob_writer *w = NULL;
        _cleanup_(ib_sha256_freep) struct ib_sha256 *h = ib_sha256_new(), *bh = ib_sha256_new();
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ unsigned char *in = ib_malloc(CHUNK), *out = ib_malloc(CHUNK);
        char hex[IB_SHA256_HEX];
        unsigned char magic[4] = { 0 };
        z_stream z = {};
        int64_t total = 0;
        int r, zr = Z_OK;

        if (fd < 0)
                return ib_err_set(err, errno, "open layer `%s`", path);
        if ((r = ib_blob_writer_new(s, &w, err)) < 0)
                return r;
        bool compressed = pread(fd, magic, 4, 0) == 4 &&
                          ((magic[0] == 0x1f && magic[1] == 0x8b) ||
                           (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd));
        if (!compressed && deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                return ib_err_set(err, ENOMEM, "zlib init");
        for (;;) {
                ssize_t n = read(fd, in, CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = ib_err_set(err, errno, "read `%s`", path);
                        break;
                }
                if (compressed) {
                        if (n == 0)
                                break;
                        ib_sha256_update(bh, in, (size_t) n);
                        if ((r = ib_blob_writer_write(w, in, (size_t) n, err)) < 0)
                                break;
                        continue;
                }
                ib_sha256_update(h, in, (size_t) n);
                total += n;
                z.next_in = in;
                z.avail_in = (uInt) n;
                do {
                        z.next_out = out;
                        z.avail_out = CHUNK;
                        zr = deflate(&z, n == 0 ? Z_FINISH : Z_NO_FLUSH);
                        ib_sha256_update(bh, out, CHUNK - z.avail_out);
                        if ((r = ib_blob_writer_write(w, out, CHUNK - z.avail_out, err)) < 0)
                                break;
                } while (z.avail_out == 0 || (n == 0 && zr != Z_STREAM_END));
                if (r < 0 || n == 0)
                        break;
        }
        if (!compressed)
                deflateEnd(&z);
        if (r < 0)
                return r;
        ret->size = (int64_t) ib_blob_writer_size(w);
        ib_sha256_final_hex(bh, hex);
        if (ib_store_has_blob(s, hex))
                /* Already there: keep the stored file (and any hard links to it). */
                ret->digest = ib_strdupf("sha256:%s", hex);
        else if ((r = ib_blob_writer_commit(w, NULL, &ret->digest, err)) < 0)
                return r;
        _cleanup_free_ char *blob = ib_store_blob_path(s, ret->digest);
        if (compressed) {
                if ((r = ib_layer_blob_info(blob, &ret->diff_id, &ret->uncompressed_size, err)) < 0)
                        return r;
                ret->media_type = ib_strdup(magic[0] == 0x1f ? IB_MT_OCI_LAYER_GZIP : IB_MT_OCI_LAYER_ZSTD);
                return 0;
        }
        ib_sha256_final_hex(h, hex);
        ret->diff_id = ib_strdupf("sha256:%s", hex);
        ret->uncompressed_size = total;
        ib_layer_blob_remember(blob, ret->diff_id, total);
        ret->media_type = ib_strdup(IB_MT_OCI_LAYER_GZIP);
        return 0;
}

/* Set one run-config field from JSON text through a config delta. */
static int set_json_field(struct ib_image_config *c, const char *flag, const char *field, const char *json,
                          struct ib_err **err)
{
        _cleanup_free_ char *delta = ib_strdupf("{\"config\":{\"%s\":%s}}", field, json);
        int r = ib_image_config_apply(c, delta, strlen(delta), err);
        return r < 0 ? ib_err_wrap(err, "%s", flag) : 0;
}

struct opts {
        const char *root, *base, *format, *layout, *tar, *digest_file, *metadata_file;
        const char *name_digest_file, *name_tag_digest_file, *created, *image;
        bool print_config;
        char **tags;
        char **base_layers;     /* blobs of the base image's layers, in config order */
        const char *from_layout;
};

enum {
        O_ROOT = 256, O_BASE, O_ENV, O_LABEL, O_EXPOSE, O_VOLUME, O_ONBUILD, O_CMD, O_ENTRYPOINT, O_SHELL,
        O_HEALTH, O_WORKDIR, O_USER, O_STOPSIG, O_AUTHOR, O_HISTORY, O_CREATED, O_FORMAT, O_LAYOUT, O_TAR,
        O_TAG, O_DIGEST, O_META, O_NAMEDIG, O_NAMETAGDIG, O_PRINT, O_IMAGE, O_BASE_LAYER, O_FROM_LAYOUT,
};

static const struct option long_opts[] = {
        { "root", required_argument, NULL, O_ROOT }, { "base-config", required_argument, NULL, O_BASE },
        { "env", required_argument, NULL, O_ENV }, { "label", required_argument, NULL, O_LABEL },
        { "expose", required_argument, NULL, O_EXPOSE }, { "volume", required_argument, NULL, O_VOLUME },
        { "onbuild", required_argument, NULL, O_ONBUILD }, { "cmd-json", required_argument, NULL, O_CMD },
        { "entrypoint-json", required_argument, NULL, O_ENTRYPOINT },
        { "shell-json", required_argument, NULL, O_SHELL },
        { "healthcheck-json", required_argument, NULL, O_HEALTH },
        { "workdir", required_argument, NULL, O_WORKDIR }, { "user", required_argument, NULL, O_USER },
        { "stopsignal", required_argument, NULL, O_STOPSIG }, { "author", required_argument, NULL, O_AUTHOR },
        { "history", required_argument, NULL, O_HISTORY }, { "created", required_argument, NULL, O_CREATED },
        { "image-format", required_argument, NULL, O_FORMAT },
        { "oci-layout-path", required_argument, NULL, O_LAYOUT }, { "tar-path", required_argument, NULL, O_TAR },
        { "tag", required_argument, NULL, O_TAG }, { "digest-file", required_argument, NULL, O_DIGEST },
        { "metadata-file", required_argument, NULL, O_META },
        { "image-name-with-digest-file", required_argument, NULL, O_NAMEDIG },
        { "image-name-tag-with-digest-file", required_argument, NULL, O_NAMETAGDIG },
        { "print-config", no_argument, NULL, O_PRINT }, { "image", required_argument, NULL, O_IMAGE },
        { "base-layer", required_argument, NULL, O_BASE_LAYER },
        { "from-layout", required_argument, NULL, O_FROM_LAYOUT },
        { "help", no_argument, NULL, 'h' },
        {},
};

/* Config edits are applied in command-line order, after --base-config. */
static int apply_opt(struct ib_image_config *c, int opt, const char *arg, const char *created, struct ib_err **err)
{
        const char *eq;
        _cleanup_free_ char *key = NULL;

        switch (opt) {
        case O_ENV:
        case O_LABEL:
                eq = strchr(arg, '=');
                if (!eq)
                        return ib_err_set(err, EINVAL, "%s: expected K=V, got \"%s\"",
                                          opt == O_ENV ? "--env" : "--label", arg);
                key = ib_strndup(arg, (size_t) (eq - arg));
                if (opt == O_ENV)
                        ib_image_config_env_set(c, key, eq + 1);
                else
                        ib_image_config_label_set(c, key, eq + 1);
                return 0;
        case O_EXPOSE: return ib_image_config_expose(c, arg, err);
        case O_VOLUME: ib_image_config_volume_add(c, arg); return 0;
        case O_ONBUILD: ib_strv_push(&c->config.onbuild, arg); return 0;
        case O_CMD: return set_json_field(c, "--cmd-json", "Cmd", arg, err);
        case O_ENTRYPOINT: return set_json_field(c, "--entrypoint-json", "Entrypoint", arg, err);
        case O_SHELL: return set_json_field(c, "--shell-json", "Shell", arg, err);
        case O_HEALTH: return set_json_field(c, "--healthcheck-json", "Healthcheck", arg, err);
        case O_WORKDIR: ib_image_config_set_str(&c->config.working_dir, arg); return 0;
        case O_USER: ib_image_config_set_str(&c->config.user, arg); return 0;
        case O_STOPSIG: ib_image_config_set_str(&c->config.stop_signal, arg); return 0;
        case O_AUTHOR: ib_image_config_set_str(&c->author, arg); return 0;
        case O_HISTORY: ib_image_config_add_history(c, created, arg, NULL, true); return 0;
        }
        return 0;
}

static int write_outputs(struct ib_store *s, const struct ib_image *img, const struct opts *o, struct ib_err **err)
{
        int r;

        if (o->layout) {
                _cleanup_free_ char *dir = NULL, *tag = NULL;
                ib_oci_layout_ref_split(o->layout, &dir, &tag);
                if ((r = ib_output_oci_layout(s, img, dir, tag, err)) < 0)
                        return r;
        }
        if (o->tar && (r = ib_output_docker_archive(s, img, o->tar, o->tags, err)) < 0)
                return r;
        if (o->digest_file && (r = ib_output_digest_file(o->digest_file, img, err)) < 0)
                return r;
        if (o->metadata_file && (r = ib_output_metadata_file(o->metadata_file, img, o->tags, err)) < 0)
                return r;
        if (o->name_digest_file && (r = ib_output_name_digest_file(o->name_digest_file, img, o->tags, false, err)) < 0)
                return r;
        if (o->name_tag_digest_file &&
            (r = ib_output_name_digest_file(o->name_tag_digest_file, img, o->tags, true, err)) < 0)
                return r;
        return 0;
}

static int created_time(const char *arg, char buf[40], struct ib_err **err)
{
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        int64_t t = (int64_t) time(NULL);

        if (!arg && sde && *sde)
                arg = sde;
        if (arg && ib_time_parse(arg, &t) < 0)
                return ib_err_set(err, EINVAL, "--created: not a time: \"%s\"", arg);
        ib_time_rfc3339(t, buf, 40);
        return 0;
}

/* --image: outputs of a stored image, nothing assembled. */
static int run_stored(const struct opts *o, struct ib_err **err)
{
        _cleanup_(ib_store_closep) struct ib_store *s = NULL;
        _cleanup_(ib_image_freep) struct ib_image *img = NULL;
        _cleanup_free_ char *root = o->root ? ib_strdup(o->root) : ib_store_default_root();
        int r;

        if ((r = ib_store_open(root, &s, err)) < 0 || (r = ib_image_load(s, o->image, &img, err)) < 0 ||
            (r = write_outputs(s, img, o, err)) < 0)
                return r;
        printf("%s\n", img->manifest_digest);
        return 0;
}

/* --from-layout: the base image's config and layers, imported into the store. */
static int base_from_layout(struct ib_store *s, const char *ref, struct ib_image_config **ret_cfg,
                            struct ib_image **ret_img, struct ib_err **err)
{
        _cleanup_free_ char *dir = NULL, *tag = NULL, *digest = NULL, *cpath = NULL, *data = NULL;
        size_t len = 0;
        int r;

        ib_oci_layout_ref_split(ref, &dir, &tag);
        if ((r = ib_oci_layout_find(dir, tag, NULL, NULL, NULL, &digest, err)) < 0 ||
            (r = ib_oci_layout_import(s, dir, digest, ret_img, err)) < 0)
                return ib_err_wrap(err, "--from-layout");
        cpath = ib_store_blob_path(s, (*ret_img)->config_digest);
        if ((r = ib_read_file(cpath, 64 << 20, &data, &len, err)) < 0 ||
            (r = ib_image_config_parse(data, len, ret_cfg, err)) < 0)
                return ib_err_wrap(err, "--from-layout");
        return 0;
}

static int run(int argc, char **argv, struct opts *o, struct ib_err **err)
{
        _cleanup_(ib_image_config_freep) struct ib_image_config *cfg = NULL;
        _cleanup_(ib_store_closep) struct ib_store *s = NULL;
        _cleanup_(ib_image_freep) struct ib_image *img = NULL, *base = NULL;
        _cleanup_free_ char *root = o->root ? ib_strdup(o->root) : ib_store_default_root();
        _cleanup_free_ struct ib_layer *layers = NULL;
        enum ib_image_format fmt = IB_FORMAT_OCI;
        char created[40];
        size_t nl = 0, nb, total = 0;
        int r, c;

        if ((r = created_time(o->created, created, err)) < 0)
                return r;
        if (o->format && ib_image_format_parse(o->format, &fmt) < 0)
                return ib_err_set(err, EINVAL, "--image-format: \"%s\" is neither oci nor docker", o->format);
        if ((r = ib_store_open(root, &s, err)) < 0)
                return r;
        if (o->from_layout) {
                if ((r = base_from_layout(s, o->from_layout, &cfg, &base, err)) < 0)
                        return r;
        } else if (o->base) {
                _cleanup_free_ char *data = NULL;
                size_t len = 0;
                if ((r = ib_read_file(o->base, 64 << 20, &data, &len, err)) < 0 ||
                    (r = ib_image_config_parse(data, len, &cfg, err)) < 0)
                        return ib_err_wrap(err, "--base-config `%s`", o->base);
        } else {
                cfg = ib_image_config_new();
        }
        /* Second pass over the options: config edits in order. */
        optind = 0;
        while ((c = getopt_long(argc, argv, "+h", long_opts, NULL)) != -1)
                if ((r = apply_opt(cfg, c, optarg, created, err)) < 0)
                        return r;
        nb = base ? base->n_layers : ib_strv_len(o->base_layers);
        if (nb != ib_strv_len(cfg->diff_ids)) {
                r = ib_err_set(err, EINVAL, "the base config has %zu layers, %zu --base-layer given",
                               ib_strv_len(cfg->diff_ids), nb);
                return r;
        }
        total = nb + (size_t) (argc - optind);
        layers = ib_calloc(total + 1, sizeof(*layers));
        for (; base && nl < nb; nl++)
                layers[nl] = (struct ib_layer) {
                        .media_type = ib_strdup(base->layers[nl].media_type),
                        .digest = ib_strdup(base->layers[nl].digest),
                        .size = base->layers[nl].size,
                        .diff_id = ib_strdup(base->layers[nl].diff_id),
                        .uncompressed_size = -1,
                };
        for (; nl < nb; nl++) {
                if ((r = store_layer(s, o->base_layers[nl], &layers[nl], err)) < 0)
                        goto out;
                if (strcmp(layers[nl].diff_id, cfg->diff_ids[nl]) != 0) {
                        r = ib_err_set(err, EINVAL, "--base-layer `%s` is %s, the base config says %s",
                                       o->base_layers[nl], layers[nl].diff_id, cfg->diff_ids[nl]);
                        goto out;
                }
        }
        for (int i = optind; i < argc; i++, nl++) {
                _cleanup_free_ char *copy = ib_strdup(argv[i]);
                _cleanup_free_ char *by = NULL;
                if ((r = store_layer(s, argv[i], &layers[nl], err)) < 0)
                        goto out;
                by = ib_strdupf("debug-image: layer %s", basename(copy));
                ib_image_config_add_layer(cfg, layers[nl].diff_id, created, by, NULL);
        }
        ib_image_config_set_str(&cfg->created, created);
        if ((r = ib_image_commit(s, cfg, layers, nl, fmt, &img, err)) < 0 ||
            (r = write_outputs(s, img, o, err)) < 0)
                goto out;
        if (o->print_config) {
                _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;
                ib_image_config_serialize(cfg, &b);
                printf("%s\n", b.buf);
        }
        printf("%s\n", img->manifest_digest);
out:
        for (size_t i = 0; i < total; i++)
                ib_layer_clear(&layers[i]);
        return r;
}

int ib_cmd_debug_image(int argc, char **argv)
{
        _cleanup_err_ struct ib_err *err = NULL;
        struct opts o = {};
        int c;

        while ((c = getopt_long(argc, argv, "+h", long_opts, NULL)) != -1) {
                switch (c) {
                case 'h': usage(stdout); ib_strv_free(o.tags); ib_strv_free(o.base_layers); return 0;
                case O_ROOT: o.root = optarg; break;
                case O_BASE: o.base = optarg; break;
                case O_CREATED: o.created = optarg; break;
                case O_FORMAT: o.format = optarg; break;
                case O_LAYOUT: o.layout = optarg; break;
                case O_TAR: o.tar = optarg; break;
                case O_TAG: ib_strv_push(&o.tags, optarg); break;
                case O_DIGEST: o.digest_file = optarg; break;
                case O_META: o.metadata_file = optarg; break;
                case O_NAMEDIG: o.name_digest_file = optarg; break;
                case O_NAMETAGDIG: o.name_tag_digest_file = optarg; break;
                case O_PRINT: o.print_config = true; break;
                case O_IMAGE: o.image = optarg; break;
                case O_BASE_LAYER: ib_strv_push(&o.base_layers, optarg); break;
                case O_FROM_LAYOUT: o.from_layout = optarg; break;
                case '?':
                        ib_strv_free(o.tags);
                        ib_strv_free(o.base_layers);
                        return ib_cli_usage_error("debug-image", "bad option");
                default: break;         /* config edits: second pass */
                }
        }
        int r = o.image ? run_stored(&o, &err) : run(argc, argv, &o, &err);
        ib_strv_free(o.tags);
        ib_strv_free(o.base_layers);
        return r < 0 ? ib_cli_fail(&err) : 0;
}
