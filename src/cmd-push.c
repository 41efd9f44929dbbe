/* src/cmd-push.c - imgbuild push [options] SRC DEST...: push an image made
 * earlier to one or more registry references.
 *
 * SRC is one of
 *   oci:DIR[:TAG]       an OCI image layout; TAG picks the index.json entry whose
 *                       org.opencontainers.image.ref.name is TAG (optional when
 *                       the layout holds one image)
 *   sha256:<hex>        a manifest or index in the store
 *   REF                 a reference pulled into the store before (its recorded digest) */
#include "lib/ib.h"
#include "src/build.h"
#include "src/cli.h"
#include "src/docker-archive.h"
#include "src/registry-opts.h"
#include <yajl/yajl_tree.h>

enum { O_ROOT = 1000, O_DIGEST_FILE, O_NAME_DIGEST_FILE, O_NAME_TAG_DIGEST_FILE };

static void push_usage(FILE *out)
{
        fprintf(out, "Usage: imgbuild push [OPTIONS] SRC DEST...\n\n"
                     "Push an image to registry references; prints DEST@sha256:<digest> for each.\n"
                     "SRC: oci:DIR[:TAG] (an OCI layout), docker-archive:FILE, sha256:<digest> or a reference\nin the store.\n\n"
                     "Options:\n"
                     "      --root DIR                          the store (default: $IMGBUILD_ROOT, else per user)\n"
                     "      --digest-file FILE                  write the manifest digest to FILE\n"
                     "      --image-name-with-digest-file FILE  write NAME@DIGEST per destination\n"
                     "      --image-name-tag-with-digest-file FILE  write NAME:TAG@DIGEST per destination\n"
                     IB_OUTPUT_HELP
                     "  -h, --help                              show this help\n");
        ib_regopts_help(out);
}

/* Pick the manifest digest from an OCI layout's index.json. */
static int oci_layout_digest(const char *dir, const char *tag, char **ret, struct ib_err **err)
{
        _cleanup_free_ char *p = ib_path_join(dir, "index.json"), *data = NULL, *lay = ib_path_join(dir, "oci-layout");
        _cleanup_json_ yajl_val doc = NULL;
        yajl_val list;
        size_t len;
        const char *found = NULL;
        unsigned n = 0;

        if (access(lay, R_OK) < 0)
                return ib_err_set(err, errno, "`%s` is not an OCI layout (no oci-layout file)", dir);
        if (ib_read_file(p, 4u << 20, &data, &len, err) < 0)
                return -EINVAL;
        doc = ib_json_parse(data, len, p, err);
        if (!doc)
                return -EINVAL;
        list = ib_json_get(doc, "manifests");
        for (size_t i = 0; list && YAJL_IS_ARRAY(list) && i < list->u.array.len; i++) {
                yajl_val m = list->u.array.values[i];
                const char *name = ib_json_get_str(ib_json_get(m, "annotations"), "org.opencontainers.image.ref.name");
                const char *d = ib_json_get_str(m, "digest");
                if (!d)
                        continue;
                n++;
                if (tag ? (name && strcmp(name, tag) == 0) : true)
                        found = found && !tag ? found : d;
        }
        if (!found)
                return ib_err_set(err, ENOENT, "`%s`: no image%s%s in index.json", dir, tag ? " tagged " : "", tag ? tag : "");
        if (!tag && n > 1)
                return ib_err_set(err, EINVAL, "`%s` holds %u images: name one with oci:%s:TAG", dir, n, dir);
        *ret = ib_strdup(found);
        return 0;
}

static int resolve_source(const char *src, struct ib_store *store, char **ret_root, char **ret_digest,
                          struct ib_err **err)
{
        const char *hex;

        if (ib_startswith(src, "oci:")) {
                _cleanup_free_ char *dir = ib_strdup(src + 4);
                char *colon = strrchr(dir, ':');
                const char *tag = NULL;
                if (colon && !strchr(colon, '/')) {
                        *colon = '\0';
                        tag = colon + 1;
                }
                if (oci_layout_digest(dir, tag && *tag ? tag : NULL, ret_digest, err) < 0)
                        return -EINVAL;
                *ret_root = IB_TAKE_PTR(dir);
                return 0;
        }
        if (ib_startswith(src, "docker-archive:")) {
                _cleanup_free_ char *p = ib_strdup(src + 15);
                char *colon = strchr(p, ':');   /* docker-archive:PATH[:NAME:TAG]: one image per archive */
                if (colon)
                        *colon = '\0';
                if (ib_docker_archive_import(store, p, ret_digest, err) < 0)
                        return -EINVAL;
                *ret_root = ib_strdup(store->root);
                return 0;
        }
        if (ib_digest_parse(src, &hex)) {
                if (!ib_store_has_blob(store, src))
                        return ib_err_set(err, ENOENT, "%s is not in the store `%s`", src, store->root);
                *ret_digest = ib_strdup(src);
        } else {
                _cleanup_(ib_ref_freep) struct ib_ref *ref = NULL;
                if (ib_ref_parse(src, &ref, err) < 0)
                        return -EINVAL;
                if (ib_registry_local_digest(store, ref, ret_digest, err) < 0) {
                        ib_err_free(err);
                        return ib_err_set(err, ENOENT, "`%s` is not in the store (pull it first)", src);
                }
        }
        *ret_root = ib_strdup(store->root);
        return 0;
}

static int write_lines(const char *path, const struct ib_buf *b, struct ib_err **err)
{
        return ib_write_file_atomic(path, b->buf, b->len, 0644, err);
}

int ib_cmd_push(int argc, char **argv)
{
        static const struct option verb_opts[] = {
                { "root", required_argument, NULL, O_ROOT },
                { "digest-file", required_argument, NULL, O_DIGEST_FILE },
                { "image-name-with-digest-file", required_argument, NULL, O_NAME_DIGEST_FILE },
                { "image-name-tag-with-digest-file", required_argument, NULL, O_NAME_TAG_DIGEST_FILE },
                IB_OUTPUT_LONGOPTS,
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_free_ struct option *lo = ib_regopts_merge(verb_opts);
        _cleanup_free_ char *root = NULL, *blob_root = NULL, *digest = NULL;
        const char *digest_file = NULL, *name_file = NULL, *name_tag_file = NULL;
        _cleanup_(ib_store_closep) struct ib_store *store = NULL;
        _cleanup_(ib_registry_freep) struct ib_registry *reg = NULL;
        _cleanup_err_ struct ib_err *err = NULL;
        struct ib_buf names = IB_BUF_INIT, name_tags = IB_BUF_INIT;
        struct ib_regopts ro;
        int c, r, status = 0;

        ib_regopts_init(&ro);
        while ((c = getopt_long(argc, argv, "hv:", lo, NULL)) != -1) {
                switch (c) {
                case O_ROOT:
                        free(root);
                        root = ib_strdup(optarg);
                        break;
                case O_DIGEST_FILE:
                        digest_file = optarg;
                        break;
                case O_NAME_DIGEST_FILE:
                        name_file = optarg;
                        break;
                case O_NAME_TAG_DIGEST_FILE:
                        name_tag_file = optarg;
                        break;
                case 'h':
                        push_usage(stdout);
                        ib_regopts_release(&ro);
                        return 0;
                default:
                        r = ib_output_opt(c, optarg, "push");
                        if (r == 1)
                                break;
                        if (r) {
                                ib_regopts_release(&ro);
                                return r;
                        }
                        r = ib_regopts_handle(&ro, c, optarg, "push");
                        if (r == 1)
                                break;
                        ib_regopts_release(&ro);
                        return r ? r : ib_cli_usage_error("push", "unknown option");
                }
        }
        if (argc - optind < 2) {
                ib_regopts_release(&ro);
                return ib_cli_usage_error("push", "expected SRC and at least one DEST");
        }
        if (!root)
                root = ib_store_default_root();
        if (ib_store_open(root, &store, &err) < 0 || ib_registry_new(&ro.opts, &reg, &err) < 0) {
                ib_regopts_release(&ro);
                return ib_cli_fail(&err);
        }
        ib_regopts_release(&ro);
        ib_output_start();
        ib_registry_set_progress(reg, ib_xfer_progress, (void *) "push");
        if (resolve_source(argv[optind], store, &blob_root, &digest, &err) < 0) {
                ib_err_wrap(&err, "push %s", argv[optind]);
                return ib_cli_fail(&err);
        }
        for (int i = optind + 1; i < argc; i++) {
                _cleanup_(ib_ref_freep) struct ib_ref *dest = NULL;
                struct ib_push_result res = {};

                if (ib_ref_parse(argv[i], &dest, &err) < 0 ||
                    ib_registry_push(reg, blob_root, digest, dest, NULL, store, &res, &err) < 0) {
                        ib_err_wrap(&err, "push %s", argv[i]);
                        status = ib_cli_fail(&err);
                        ib_push_result_release(&res);
                        continue;
                }
                _cleanup_free_ char *name = ib_ref_name(dest);
                printf("%s@%s\n", name, res.digest);
                fflush(stdout);
                ib_debug("%s: %u blobs uploaded, %u mounted, %u already there", argv[i], res.uploaded, res.mounted,
                         res.existing);
                ib_buf_addf(&names, "%s@%s\n", name, res.digest);
                ib_buf_addf(&name_tags, "%s:%s@%s\n", name, dest->tag ? dest->tag : "latest", res.digest);
                ib_push_result_release(&res);
        }
        if (status == 0 && digest_file && ib_write_file_atomic(digest_file, digest, strlen(digest), 0644, &err) < 0)
                status = ib_cli_fail(&err);
        if (status == 0 && name_file && write_lines(name_file, &names, &err) < 0)
                status = ib_cli_fail(&err);
        if (status == 0 && name_tag_file && write_lines(name_tag_file, &name_tags, &err) < 0)
                status = ib_cli_fail(&err);
        ib_buf_release(&names);
        ib_buf_release(&name_tags);
        ib_output_end();
        return status;
}
