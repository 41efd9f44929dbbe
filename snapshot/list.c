/* snapshot/list.c - list a layer blob's entries (debug and tests). */
#include "snapshot/internal.h"
#include <archive.h>
#include <archive_entry.h>


static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* "name=hex,name=hex" in name order. */
static char *format_xattrs(struct archive_entry *ae)
{
        char **v = NULL;
        size_t n = 0, alloc = 0;
        const char *name;
        const void *val;
        size_t len;
        struct ib_buf b = IB_BUF_INIT;

        archive_entry_xattr_reset(ae);
        while (archive_entry_xattr_next(ae, &name, &val, &len) == ARCHIVE_OK) {
                struct ib_buf one = IB_BUF_INIT;
                ib_buf_addf(&one, "%s=", name);
                for (size_t i = 0; i < len; i++)
                        ib_buf_addf(&one, "%02x", ((const unsigned char *) val)[i]);
                ib_grow(&v, &alloc, n + 1, sizeof(*v));
                v[n++] = ib_buf_detach(&one);
        }
        if (n)
                qsort(v, n, sizeof(*v), cmp_str);
        for (size_t i = 0; i < n; i++) {
                if (i)
                        ib_buf_addc(&b, ',');
                ib_buf_adds(&b, v[i]);
                free(v[i]);
        }
        free(v);
        return ib_buf_detach(&b);
}

/* The one-letter type of a tar entry (f d l h c b p s; ? for anything else). */
char ib_entry_type_char(struct archive_entry *ae)
{
        if (archive_entry_hardlink(ae))
                return 'h';
        switch (archive_entry_filetype(ae)) {
        case AE_IFREG: return 'f';
        case AE_IFDIR: return 'd';
        case AE_IFLNK: return 'l';
        case AE_IFCHR: return 'c';
        case AE_IFBLK: return 'b';
        case AE_IFIFO: return 'p';
        case AE_IFSOCK: return 's';
        default: return '?';
        }
}

int ib_snapshot_list(const char *path, ib_layer_entry_fn fn, void *userdata, struct ib_err **err)
{
        struct archive *a = archive_read_new();
        struct archive_entry *ae;
        int r = 0;

        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        archive_read_support_format_empty(a);
        if (archive_read_open_filename(a, path, 1 << 20) != ARCHIVE_OK) {
                r = ib_err_set(err, EBADMSG, "`%s`: %s", path, archive_error_string(a));
                goto out;
        }
        for (;;) {
                int ar = archive_read_next_header(a, &ae);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar < ARCHIVE_WARN) {
                        r = ib_err_set(err, EBADMSG, "`%s`: %s", path, archive_error_string(a));
                        goto out;
                }
                _cleanup_free_ char *x = format_xattrs(ae);
                const char *link = archive_entry_hardlink(ae) ?: archive_entry_symlink(ae);
                struct ib_layer_entry e = {
                        .type = ib_entry_type_char(ae),
                        .path = archive_entry_pathname(ae) ?: "?",
                        .mode = archive_entry_perm(ae) & 07777,
                        .uid = (uint64_t) archive_entry_uid(ae),
                        .gid = (uint64_t) archive_entry_gid(ae),
                        .size = archive_entry_size(ae),
                        .mtime = archive_entry_mtime(ae),
                        .link = link,
                        .xattrs = x,
                };
                r = fn(&e, userdata);
                if (r)
                        goto out;
        }
out:
        archive_read_free(a);
        return r;
}
