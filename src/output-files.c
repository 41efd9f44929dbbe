/* src/output-files.c - the small files CI jobs read after a build: Kaniko's
 * digest files and the --metadata-file JSON (shape documented in src/image.h). */
#include "src/image-internal.h"
#include <ctype.h>
#include <libgen.h>

static int write_out(const char *path, const char *data, size_t len, struct ib_err **err)
{
        _cleanup_free_ char *copy = ib_strdup(path);
        const char *dir = dirname(copy);
        int r;

        /* Kaniko creates the parent directory of a digest file; so do we. */
        if (strcmp(dir, ".") != 0 && (r = ib_mkdir_p(dir, 0755, err)) < 0)
                return r;
        return ib_write_file_atomic(path, data, len, 0644, err);
}

int ib_output_digest_file(const char *path, const struct ib_image *img, struct ib_err **err)
{
        int r = write_out(path, img->manifest_digest, strlen(img->manifest_digest), err);
        return r < 0 ? ib_err_wrap(err, "digest file") : 0;
}

static bool valid_repo_path(const char *s)
{
        /* distribution's grammar, loosely: lowercase alnum components
         * separated by '/', with '.', '_', '__' or '-' runs inside. */
        if (!*s || *s == '/' || s[strlen(s) - 1] == '/')
                return false;
        for (const char *p = s; *p; p++) {
                unsigned char c = (unsigned char) *p;
                if (!(islower(c) || isdigit(c) || c == '.' || c == '_' || c == '-' || c == '/'))
                        return false;
                if (c == '/' && p[1] == '/')
                        return false;
        }
        return true;
}

int ib_reference_normalize(const char *ref, char **ret_repo, char **ret_tag, struct ib_err **err)
{
        _cleanup_free_ char *name = ib_strndup(ref, strcspn(ref, "@"));
        const char *slash = strchr(name, '/');
        const char *lastslash = strrchr(name, '/');
        char *colon = strrchr(lastslash ? lastslash : name, ':');
        _cleanup_free_ char *tag = NULL, *registry = NULL;
        const char *path;

        if (colon) {
                tag = ib_strdup(colon + 1);
                *colon = '\0';
                if (!*tag || strlen(tag) > 128)
                        return ib_err_set(err, EINVAL, "reference \"%s\": bad tag", ref);
        } else {
                tag = ib_strdup("latest");
        }
        if (slash && (memchr(name, '.', (size_t) (slash - name)) || memchr(name, ':', (size_t) (slash - name)) ||
                      strncmp(name, "localhost/", 10) == 0)) {
                registry = ib_strndup(name, (size_t) (slash - name));
                path = slash + 1;
        } else {
                registry = ib_strdup("index.docker.io");
                path = name;
        }
        if (strcmp(registry, "docker.io") == 0) {
                free(registry);
                registry = ib_strdup("index.docker.io");
        }
        if (!valid_repo_path(path))
                return ib_err_set(err, EINVAL, "reference \"%s\": invalid repository name", ref);
        if (strcmp(registry, "index.docker.io") == 0 && !strchr(path, '/'))
                *ret_repo = ib_strdupf("%s/library/%s", registry, path);
        else
                *ret_repo = ib_strdupf("%s/%s", registry, path);
        *ret_tag = IB_TAKE_PTR(tag);
        return 0;
}

int ib_output_name_digest_file(const char *path, const struct ib_image *img, char *const *destinations,
                               bool with_tag, struct ib_err **err)
{
        _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;
        int r;

        for (size_t i = 0; destinations && destinations[i]; i++) {
                _cleanup_free_ char *repo = NULL, *tag = NULL;
                if ((r = ib_reference_normalize(destinations[i], &repo, &tag, err)) < 0)
                        return r;
                if (with_tag)
                        ib_buf_addf(&b, "%s:%s@%s\n", repo, tag, img->manifest_digest);
                else
                        ib_buf_addf(&b, "%s@%s\n", repo, img->manifest_digest);
        }
        r = write_out(path, b.buf, b.len, err);
        return r < 0 ? ib_err_wrap(err, "image name digest file") : 0;
}

static void desc_json(struct ib_buf *b, const char *mt, const char *digest, int64_t size)
{
        ib_buf_adds(b, "{\"mediaType\":");
        ib_json_add_str(b, mt);
        ib_buf_adds(b, ",\"digest\":");
        ib_json_add_str(b, digest);
        ib_buf_addf(b, ",\"size\":%" PRId64 "}", size);
}

void ib_image_metadata_json(const struct ib_image *img, char *const *names, struct ib_buf *out)
{
        ib_buf_adds(out, "{\"containerimage.config.digest\":");
        ib_json_add_str(out, img->config_digest);
        ib_buf_adds(out, ",\"containerimage.descriptor\":");
        desc_json(out, img->manifest_media_type, img->manifest_digest, img->manifest_size);
        ib_buf_adds(out, ",\"containerimage.digest\":");
        ib_json_add_str(out, img->manifest_digest);
        if (names && names[0]) {
                struct ib_buf joined = IB_BUF_INIT;
                for (size_t i = 0; names[i]; i++)
                        ib_buf_addf(&joined, "%s%s", i ? "," : "", names[i]);
                ib_buf_adds(out, ",\"image.name\":");
                ib_json_add_str(out, joined.buf);
                ib_buf_release(&joined);
        }
        ib_buf_adds(out, ",\"imgbuild.image\":{\"config\":");
        desc_json(out, img->config_media_type, img->config_digest, img->config_size);
        ib_buf_adds(out, ",\"digest\":");
        ib_json_add_str(out, img->manifest_digest);
        ib_buf_addf(out, ",\"format\":\"%s\",\"layers\":[", img->format == IB_FORMAT_DOCKER ? "docker" : "oci");
        for (size_t i = 0; i < img->n_layers; i++) {
                if (i)
                        ib_buf_addc(out, ',');
                desc_json(out, img->layers[i].media_type, img->layers[i].digest, img->layers[i].size);
                ib_buf_truncate(out, out->len - 1);
                ib_buf_adds(out, ",\"diffID\":");
                ib_json_add_str(out, img->layers[i].diff_id ? img->layers[i].diff_id : "");
                ib_buf_addc(out, '}');
        }
        ib_buf_adds(out, "],\"mediaType\":");
        ib_json_add_str(out, img->manifest_media_type);
        ib_buf_adds(out, ",\"platform\":");
        ib_json_add_str(out, img->platform ? img->platform : "");
        ib_buf_addf(out, ",\"size\":%" PRId64 "}}", img->manifest_size);
}

int ib_output_metadata_file(const char *path, const struct ib_image *img, char *const *names,
                            struct ib_err **err)
{
        _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;
        int r;

        ib_image_metadata_json(img, names, &b);
        ib_buf_addc(&b, '\n');
        r = write_out(path, b.buf, b.len, err);
        return r < 0 ? ib_err_wrap(err, "metadata file") : 0;
}
