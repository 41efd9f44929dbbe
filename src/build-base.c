/* src/build-base.c - base images and layer stacks for the build engine:
 * named build contexts, resolving FROM references (registry or OCI layout),
 * extracting base layers on demand, and answering "what is at this path" in
 * a stack of overlay-form layer dirs without mounting anything. */
#include "src/build-internal.h"
#include "src/cache-dir.h"
#include <fcntl.h>
#include <inttypes.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <yajl/yajl_tree.h>

void ib_blayer_clear(struct blayer *l)
{
        ib_layer_clear(&l->l);
        free(l->dir);
        l->dir = NULL;
}

void ib_blayer_copy(struct blayer *dst, const struct blayer *src)
{
        *dst = (struct blayer) {
                .l = {
                        .media_type = ib_strdup(src->l.media_type),
                        .digest = ib_strdup(src->l.digest),
                        .size = src->l.size,
                        .diff_id = ib_strdup(src->l.diff_id),
                        .uncompressed_size = src->l.uncompressed_size,
                },
                .dir = src->dir ? ib_strdup(src->dir) : NULL,
        };
}

void ib_build_free_bases(struct build *b)
{
        for (size_t i = 0; i < b->n_bases; i++) {
                struct base_image *bi = &b->bases[i];
                free(bi->name);
                free(bi->platform);
                free(bi->manifest_digest);
                free(bi->source);
                ib_image_config_free(bi->cfg);
                for (size_t k = 0; k < bi->n_layers; k++)
                        ib_blayer_clear(&bi->layers[k]);
                free(bi->layers);
        }
        free(b->bases);
        b->bases = NULL;
        b->n_bases = 0;
}

/* ------------------------------------------------------ named contexts */

int ib_build_parse_contexts(struct build *b, struct ib_err **err)
{
        size_t n = ib_strv_len(b->o->build_contexts);

        b->named = ib_calloc(n ? n : 1, sizeof(*b->named));
        for (size_t i = 0; i < n; i++) {
                const char *arg = b->o->build_contexts[i];
                const char *eq = strchr(arg, '=');
                struct named_ctx *nc = &b->named[b->n_named];

                if (!eq || eq == arg || !eq[1])
                        return ib_err_set(err, EINVAL, "--build-context `%s`: expected NAME=SOURCE", arg);
                nc->name = ib_strndup(arg, (size_t) (eq - arg));
                for (char *p = nc->name; *p; p++)
                        *p = (char) (*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
                eq++;
                if (ib_startswith(eq, "oci-layout://")) {
                        nc->kind = NCTX_LAYOUT;
                        nc->spec = ib_strdup(eq + strlen("oci-layout://"));
                } else if (ib_startswith(eq, "docker-image://")) {
                        nc->kind = NCTX_IMAGE;
                        nc->spec = ib_strdup(eq + strlen("docker-image://"));
                } else if (strstr(eq, "://") && !ib_startswith(eq, "dir://")) {
                        free(nc->name);
                        return ib_err_set(err, ENOTSUP, "--build-context `%s`: unsupported source (use a directory, "
                                          "dir://, oci-layout:// or docker-image://)", arg);
                } else {
                        nc->kind = NCTX_DIR;
                        nc->spec = ib_strdup(eq);
                }
                b->n_named++;
        }
        return 0;
}

struct named_ctx *ib_build_named(struct build *b, const char *name)
{
        for (size_t i = 0; i < b->n_named; i++)
                if (strcasecmp(b->named[i].name, name) == 0)
                        return &b->named[i];
        return NULL;
}

/* ------------------------------------------------------------ OCI layouts */

static int read_store_blob(struct build *b, const char *digest, char **ret, size_t *ret_len, struct ib_err **err)
{
        _cleanup_free_ char *p = ib_store_blob_path(b->store, digest);
        if (!p)
                return ib_err_set(err, EINVAL, "malformed digest `%s`", digest);
        return ib_read_file(p, 8u << 20, ret, ret_len, err);
}

/* oci-layout://DIR[:TAG|@DIGEST]: the image for @platform, its blobs copied
 * into the store (verified) by the image module's layout reader. */
static int base_from_layout(struct build *b, const char *spec, const char *platform, char **ret_manifest,
                            struct ib_err **err)
{
        _cleanup_free_ char *dir = NULL, *ref = NULL, *man = NULL;
        _cleanup_(ib_image_freep) struct ib_image *img = NULL;
        struct ib_platform want = { 0 };

        ib_oci_layout_ref_split(spec, &dir, &ref);
        if (platform && ib_platform_parse(platform, &want, err) < 0)
                return -EINVAL;
        if (ib_oci_layout_find(dir, ref, platform ? want.os : NULL, platform ? want.arch : NULL,
                               platform && want.variant[0] ? want.variant : NULL, &man, err) < 0 ||
            ib_oci_layout_import(b->store, dir, man, &img, err) < 0)
                return -EIO;
        *ret_manifest = IB_TAKE_PTR(man);
        return 0;
}

int ib_build_registry(struct build *b, struct ib_err **err)
{
        struct ib_registry_opts defaults;
        int r;

        if (b->reg)
                return 0;
        ib_registry_opts_init(&defaults);
        r = ib_registry_new(b->o->registry ? b->o->registry : &defaults, &b->reg, err);
        ib_registry_opts_release(&defaults);
        if (r == 0)
                ib_registry_set_progress(b->reg, ib_xfer_progress, (void *) "pull");
        return r;
}

/* --cache-dir: the image in the warmer directory, blobs copied into the store
 * (-ENOENT: not there, ask the registry).  It holds one platform's image, the
 * one it was pulled for. */
static int base_from_cache_dir(struct build *b, const char *name, char **ret_manifest, struct ib_err **err)
{
        int r;

        if (!b->o->cache_dir)
                return -ENOENT;
        r = ib_cache_dir_import(b->store, b->o->cache_dir, name, ret_manifest, err);
        if (r == 0)
                ib_log(IB_LOG_INFO, "  %s: from --cache-dir %s", name, b->o->cache_dir);
        return r;
}

static int base_from_registry(struct build *b, const char *name, const char *platform, char **ret_manifest,
                              char **ret_source, struct ib_err **err)
{
        _cleanup_(ib_ref_freep) struct ib_ref *ref = NULL;
        _cleanup_(ib_pull_result_freep) struct ib_pull_result *pr = NULL;
        struct ib_platform want, *pw = NULL;
        int r;

        if (ib_ref_parse(name, &ref, err) < 0)
                return -EINVAL;
        if (platform) {
                if (ib_platform_parse(platform, &want, err) < 0)
                        return -EINVAL;
                pw = &want;
        }
        /* --pull=missing (the default, as docker build and buildah): a tag
         * resolved before is used as the store has it, with no network. */
        if (b->o->pull != IB_BASE_PULL_ALWAYS) {
                r = ib_registry_pull_local(b->store, ref, pw, IB_PULL_CONFIG_ONLY, &pr, err);
                if (r == 0) {
                        ib_debug("%s: as resolved before (%s), not asked again (--pull asks)", name, pr->digest);
                        goto resolved;
                }
                if (r != -ENOENT)
                        return -EIO;
        }
        r = base_from_cache_dir(b, name, ret_manifest, err);
        if (r != -ENOENT)
                return r;
        if (b->o->pull == IB_BASE_PULL_NEVER)
                return ib_err_set(err, ENOENT, "not in the store, and --pull=never keeps the registry out");
        if (ib_build_registry(b, err) < 0)
                return -EIO;
        /* Layers come later, and only if something needs them: a stage whose
         * steps are all cached never downloads its base. */
        if (ib_registry_pull_ex(b->reg, b->store, ref, pw, IB_PULL_CONFIG_ONLY, &pr, err) < 0)
                return -EIO;
resolved:
        *ret_manifest = ib_strdup(pr->manifest_digest);
        {
                _cleanup_(ib_ref_freep) struct ib_ref *pinned = ib_ref_with_digest(ref, pr->manifest_digest);
                *ret_source = ib_ref_string(pinned);
        }
        return 0;
}

/* Make sure the blobs of @layers are in the store: a base resolved with its
 * config only is pulled in full (by digest) the first time one is needed. */
int ib_build_fetch_blobs(struct build *b, const struct blayer *layers, size_t n, struct ib_err **err)
{
        int r;

        for (size_t i = 0; i < n; i++) {
                if (ib_store_has_blob(b->store, layers[i].l.digest))
                        continue;
                struct base_image *owner = NULL;
                for (size_t k = 0; k < b->n_bases && !owner; k++)
                        for (size_t j = 0; j < b->bases[k].n_layers; j++)
                                if (b->bases[k].source && !strcmp(b->bases[k].layers[j].l.digest, layers[i].l.digest))
                                        owner = &b->bases[k];
                if (!owner)
                        return ib_err_set(err, ENOENT, "layer %s is not in the store", layers[i].l.digest);
                _cleanup_(ib_ref_freep) struct ib_ref *ref = NULL;
                _cleanup_(ib_pull_result_freep) struct ib_pull_result *pr = NULL;
                double t = ib_now();
                r = ib_ref_parse(owner->source, &ref, err) < 0 || ib_build_registry(b, err) < 0 ||
                    ib_registry_pull(b->reg, b->store, ref, NULL, &pr, err) < 0;
                ib_build_phase_add(b, IB_PHASE_PULL, t);
                if (r)
                        return ib_err_wrap(err, "fetch the layers of %s", owner->name);
                ib_log(IB_LOG_INFO, "  fetched %u layer blobs of %s", pr->fetched, owner->name);
        }
        return 0;
}

int ib_build_resolve_base(struct build *b, const char *name, const char *platform, struct base_image **ret,
                          struct ib_err **err)
{
        _cleanup_free_ char *man = NULL, *cfgtext = NULL, *source = NULL;
        _cleanup_(ib_image_freep) struct ib_image *img = NULL;
        struct named_ctx *nc = ib_build_named(b, name);
        struct base_image *bi;
        size_t len = 0;
        int r;

        for (size_t i = 0; i < b->n_bases; i++)
                if (strcmp(b->bases[i].name, name) == 0 &&
                    ((!platform && !b->bases[i].platform) ||
                     (platform && b->bases[i].platform && strcmp(platform, b->bases[i].platform) == 0))) {
                        *ret = &b->bases[i];
                        return 0;
                }
        if (nc && nc->kind == NCTX_DIR)
                return ib_err_set(err, ENOTSUP, "FROM `%s`: a directory build context cannot be a base image "
                                  "(use oci-layout:// or docker-image://)", name);
        ib_log(IB_LOG_INFO, "resolving %s%s%s", name, nc ? " = " : "", nc ? nc->spec : "");
        double t = ib_now();
        if (nc && nc->kind == NCTX_LAYOUT)
                r = base_from_layout(b, nc->spec, platform, &man, err);
        else
                r = base_from_registry(b, nc ? nc->spec : name, platform, &man, &source, err);
        ib_build_phase_add(b, IB_PHASE_RESOLVE, t);
        if (r < 0)
                return ib_err_wrap(err, "FROM %s", name);
        if (ib_image_load(b->store, man, &img, err) < 0)
                return ib_err_wrap(err, "FROM %s", name);
        ib_grow(&b->bases, &b->alloc_bases, b->n_bases + 1, sizeof(*b->bases));
        bi = &b->bases[b->n_bases];
        *bi = (struct base_image) { .name = ib_strdup(name), .platform = platform ? ib_strdup(platform) : NULL,
                                    .manifest_digest = IB_TAKE_PTR(man), .source = IB_TAKE_PTR(source) };
        if (read_store_blob(b, img->config_digest, &cfgtext, &len, err) < 0 ||
            ib_image_config_parse(cfgtext, len, &bi->cfg, err) < 0) {
                free(bi->name);
                free(bi->platform);
                free(bi->manifest_digest);
                return ib_err_wrap(err, "FROM %s: config %s", name, img->config_digest);
        }
        bi->layers = ib_calloc(img->n_layers ? img->n_layers : 1, sizeof(*bi->layers));
        for (size_t i = 0; i < img->n_layers; i++) {
                struct blayer tmp = { .l = img->layers[i] };
                ib_blayer_copy(&bi->layers[i], &tmp);
                if (ib_snapshot_has_layer(b->store, img->layers[i].diff_id))
                        bi->layers[i].dir = ib_snapshot_layer_path(b->store, img->layers[i].diff_id);
        }
        bi->n_layers = img->n_layers;
        b->n_bases++;
        ib_log(IB_LOG_INFO, "  %s -> %s (%zu layers)", name, bi->manifest_digest, bi->n_layers);
        *ret = bi;
        return 0;
}

/* ------------------------------------------------------------- extraction */

static void report_import(const struct blayer *l, const struct ib_import_stats *st)
{
        if (st->extracted)
                ib_log(IB_LOG_INFO, "  extracted layer %.19s (%" PRIu64 " entries)", l->l.diff_id, st->entries);
        if (st->owners_squashed)
                ib_log(IB_LOG_WARN, "layer %.19s: %" PRIu64 " entries owned by ids this user namespace cannot map "
                       "(e.g. `%s`, %u:%u) are owned by 65534:65534 instead; give the user a larger "
                       "/etc/subuid and /etc/subgid range to keep them", l->l.diff_id, st->owners_squashed,
                       st->owner_example ? st->owner_example : "?", (unsigned) st->owner_example_uid,
                       (unsigned) st->owner_example_gid);
        if (st->devices_skipped)
                ib_log(IB_LOG_WARN, "layer %.19s: %" PRIu64 " device nodes cannot be created without privileges "
                       "and were skipped (e.g. `%s`)", l->l.diff_id, st->devices_skipped,
                       st->device_examples[0] ? st->device_examples[0] : "?");
        if (st->xattrs_skipped)
                ib_log(IB_LOG_WARN, "layer %.19s: %" PRIu64 " extended attributes refused by the kernel (e.g. %s)",
                       l->l.diff_id, st->xattrs_skipped, st->xattr_example ? st->xattr_example : "?");
}

int ib_build_extract_layers(struct build *b, struct blayer *layers, size_t n, struct ib_err **err)
{
        bool all = true;
        for (size_t i = 0; i < n; i++)
                all &= layers[i].dir != NULL;
        if (!all && ib_build_fetch_blobs(b, layers, n, err) < 0)
                return -EIO;
        for (size_t i = 0; i < n; i++) {
                struct ib_import_stats st = { 0 };
                if (layers[i].dir)
                        continue;
                double t = ib_now();
                int r = ib_snapshot_import(b->store, layers[i].l.digest, layers[i].l.diff_id, &layers[i].dir, &st,
                                           err);
                ib_build_phase_add(b, IB_PHASE_EXTRACT, t);
                if (r < 0) {
                        ib_import_stats_release(&st);
                        return -EIO;
                }
                report_import(&layers[i], &st);
                if (st.extracted && b->res)
                        b->res->extracted++;
                ib_import_stats_release(&st);
        }
        return 0;
}

/* Extract what a stage needs and remember it in the base images too, so a
 * second stage on the same base finds the dirs without asking again. */
int ib_build_extract(struct build *b, struct bstage *s, struct ib_err **err)
{
        if (ib_build_extract_layers(b, s->layers, s->n_layers, err) < 0)
                return -EIO;
        for (size_t i = 0; i < b->n_bases; i++)
                for (size_t k = 0; k < b->bases[i].n_layers; k++) {
                        struct blayer *bl = &b->bases[i].layers[k];
                        if (!bl->dir && ib_snapshot_has_layer(b->store, bl->l.diff_id))
                                bl->dir = ib_snapshot_layer_path(b->store, bl->l.diff_id);
                }
        return 0;
}
