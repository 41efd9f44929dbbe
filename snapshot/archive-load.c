/* snapshot/archive-load.c - libarchive, loaded when first used.
 *
 * libarchive brings libxml2, ICU and libstdc++ with it (its xar and other
 * formats); loading and relocating them costs a third of an imgbuild
 * process's start-up, and most runs (a warm rebuild, `plan`, `version`)
 * never read or write a tar.  So the binary is not linked with libarchive:
 * the libarchive functions imgbuild calls are defined here and forward to the
 * library, dlopen'ed on the first call (as registry/curl-load.c does for
 * libcurl).  A libarchive that cannot be loaded ends the process with a
 * message, as the dynamic loader itself would have at start. */
#include "lib/ib.h"
#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>

#define ARCHIVE_SONAME "libarchive.so.13"

static struct {
        __LA_MODE_T (*entry_filetype)(struct archive_entry *);
        void (*entry_free)(struct archive_entry *);
        la_int64_t (*entry_gid)(struct archive_entry *);
        const char * (*entry_hardlink)(struct archive_entry *);
        time_t (*entry_mtime)(struct archive_entry *);
        int (*entry_mtime_is_set)(struct archive_entry *);
        long (*entry_mtime_nsec)(struct archive_entry *);
        struct archive_entry * (*entry_new)(void);
        const char * (*entry_pathname)(struct archive_entry *);
        __LA_MODE_T (*entry_perm)(struct archive_entry *);
        dev_t (*entry_rdev)(struct archive_entry *);
        void (*entry_set_filetype)(struct archive_entry *, unsigned int);
        void (*entry_set_gid)(struct archive_entry *, la_int64_t);
        void (*entry_set_hardlink)(struct archive_entry *, const char *);
        void (*entry_set_mtime)(struct archive_entry *, time_t, long);
        void (*entry_set_pathname)(struct archive_entry *, const char *);
        void (*entry_set_perm)(struct archive_entry *, __LA_MODE_T);
        void (*entry_set_rdev)(struct archive_entry *, dev_t);
        void (*entry_set_size)(struct archive_entry *, la_int64_t);
        void (*entry_set_symlink)(struct archive_entry *, const char *);
        void (*entry_set_uid)(struct archive_entry *, la_int64_t);
        la_int64_t (*entry_size)(struct archive_entry *);
        const char * (*entry_symlink)(struct archive_entry *);
        la_int64_t (*entry_uid)(struct archive_entry *);
        void (*entry_xattr_add_entry)(struct archive_entry *, const char *, const void *, size_t);
        int (*entry_xattr_count)(struct archive_entry *);
        int (*entry_xattr_next)(struct archive_entry *, const char **, const void **, size_t *);
        int (*entry_xattr_reset)(struct archive_entry *);
        int (*errno_)(struct archive *);
        const char * (*error_string)(struct archive *);
        la_ssize_t (*read_data)(struct archive *, void *, size_t);
        int (*read_data_block)(struct archive *, const void **, size_t *, la_int64_t *);
        int (*read_free)(struct archive *);
        struct archive * (*read_new)(void);
        int (*read_next_header)(struct archive *, struct archive_entry **);
        int (*read_open2)(struct archive *, void *, archive_open_callback *, archive_read_callback *, archive_skip_callback *, archive_close_callback *);
        int (*read_open_fd)(struct archive *, int, size_t);
        int (*read_open_filename)(struct archive *, const char *, size_t);
        int (*read_support_filter_all)(struct archive *);
        int (*read_support_filter_bzip2)(struct archive *);
        int (*read_support_filter_gzip)(struct archive *);
        int (*read_support_filter_lzma)(struct archive *);
        int (*read_support_filter_xz)(struct archive *);
        int (*read_support_filter_zstd)(struct archive *);
        int (*read_support_format_empty)(struct archive *);
        int (*read_support_format_gnutar)(struct archive *);
        int (*read_support_format_tar)(struct archive *);
        int (*write_close)(struct archive *);
        la_ssize_t (*write_data)(struct archive *, const void *, size_t);
        int (*write_free)(struct archive *);
        int (*write_header)(struct archive *, struct archive_entry *);
        struct archive * (*write_new)(void);
        int (*write_open2)(struct archive *, void *, archive_open_callback *, archive_write_callback *, archive_close_callback *, archive_free_callback *);
        int (*write_open_fd)(struct archive *, int);
        int (*write_open_filename)(struct archive *, const char *);
        int (*write_set_bytes_in_last_block)(struct archive *, int);
        int (*write_set_bytes_per_block)(struct archive *, int);
        int (*write_set_format_option)(struct archive *, const char *, const char *, const char *);
        int (*write_set_format_pax)(struct archive *);
        int (*write_set_format_pax_restricted)(struct archive *);
        void (*set_error)(struct archive *, int, const char *, ...);
} fn;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void)
{
        void *h = dlopen(ARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
        struct { void **slot; const char *name; } syms[] = {
#define S(f) { (void **) &fn.f, "archive_" #f }
                S(entry_filetype), S(entry_free), S(entry_gid), S(entry_hardlink), S(entry_mtime),
                S(entry_mtime_is_set), S(entry_mtime_nsec), S(entry_new), S(entry_pathname), S(entry_perm),
                S(entry_rdev), S(entry_set_filetype), S(entry_set_gid), S(entry_set_hardlink),
                S(entry_set_mtime), S(entry_set_pathname), S(entry_set_perm), S(entry_set_rdev),
                S(entry_set_size), S(entry_set_symlink), S(entry_set_uid), S(entry_size), S(entry_symlink),
                S(entry_uid), S(entry_xattr_add_entry), S(entry_xattr_count), S(entry_xattr_next),
                S(entry_xattr_reset), { (void **) &fn.errno_, "archive_errno" }, S(error_string), S(read_data), S(read_data_block),
                S(read_free), S(read_new), S(read_next_header), S(read_open2), S(read_open_fd),
                S(read_open_filename), S(read_support_filter_all), S(read_support_filter_bzip2),
                S(read_support_filter_gzip), S(read_support_filter_lzma), S(read_support_filter_xz),
                S(read_support_filter_zstd), S(read_support_format_empty), S(read_support_format_gnutar),
                S(read_support_format_tar), S(write_close), S(write_data), S(write_free), S(write_header),
                S(write_new), S(write_open2), S(write_open_fd), S(write_open_filename),
                S(write_set_bytes_in_last_block), S(write_set_bytes_per_block), S(write_set_format_option),
                S(write_set_format_pax), S(write_set_format_pax_restricted),
                S(set_error),
#undef S
        };

        for (size_t i = 0; h && i < IB_ELEMENTSOF(syms); i++) {
                *syms[i].slot = dlsym(h, syms[i].name);
                if (!*syms[i].slot) {
                        fprintf(stderr, "imgbuild: %s has no %s\n", ARCHIVE_SONAME, syms[i].name);
                        _exit(127);
                }
        }
        if (!h) {
                fprintf(stderr, "imgbuild: cannot load %s: %s\n", ARCHIVE_SONAME, dlerror());
                _exit(127);
        }
}

static void need(void)
{
        pthread_once(&load_once, load);
}

void archive_set_error(struct archive *a, int err, const char *fmt, ...)
{
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        need();
        fn.set_error(a, err, "%s", msg);
}

__LA_MODE_T archive_entry_filetype(struct archive_entry *a0)
{
        need();
        return fn.entry_filetype(a0);
}

void archive_entry_free(struct archive_entry *a0)
{
        need();
        fn.entry_free(a0);
}

la_int64_t archive_entry_gid(struct archive_entry *a0)
{
        need();
        return fn.entry_gid(a0);
}

const char *archive_entry_hardlink(struct archive_entry *a0)
{
        need();
        return fn.entry_hardlink(a0);
}

time_t archive_entry_mtime(struct archive_entry *a0)
{
        need();
        return fn.entry_mtime(a0);
}

int archive_entry_mtime_is_set(struct archive_entry *a0)
{
        need();
        return fn.entry_mtime_is_set(a0);
}

long archive_entry_mtime_nsec(struct archive_entry *a0)
{
        need();
        return fn.entry_mtime_nsec(a0);
}

struct archive_entry *archive_entry_new(void)
{
        need();
        return fn.entry_new();
}

const char *archive_entry_pathname(struct archive_entry *a0)
{
        need();
        return fn.entry_pathname(a0);
}

__LA_MODE_T archive_entry_perm(struct archive_entry *a0)
{
        need();
        return fn.entry_perm(a0);
}

dev_t archive_entry_rdev(struct archive_entry *a0)
{
        need();
        return fn.entry_rdev(a0);
}

void archive_entry_set_filetype(struct archive_entry *a0, unsigned int a1)
{
        need();
        fn.entry_set_filetype(a0, a1);
}

void archive_entry_set_gid(struct archive_entry *a0, la_int64_t a1)
{
        need();
        fn.entry_set_gid(a0, a1);
}

void archive_entry_set_hardlink(struct archive_entry *a0, const char *a1)
{
        need();
        fn.entry_set_hardlink(a0, a1);
}

void archive_entry_set_mtime(struct archive_entry *a0, time_t a1, long a2)
{
        need();
        fn.entry_set_mtime(a0, a1, a2);
}

void archive_entry_set_pathname(struct archive_entry *a0, const char *a1)
{
        need();
        fn.entry_set_pathname(a0, a1);
}

void archive_entry_set_perm(struct archive_entry *a0, __LA_MODE_T a1)
{
        need();
        fn.entry_set_perm(a0, a1);
}

void archive_entry_set_rdev(struct archive_entry *a0, dev_t a1)
{
        need();
        fn.entry_set_rdev(a0, a1);
}

void archive_entry_set_size(struct archive_entry *a0, la_int64_t a1)
{
        need();
        fn.entry_set_size(a0, a1);
}

void archive_entry_set_symlink(struct archive_entry *a0, const char *a1)
{
        need();
        fn.entry_set_symlink(a0, a1);
}

void archive_entry_set_uid(struct archive_entry *a0, la_int64_t a1)
{
        need();
        fn.entry_set_uid(a0, a1);
}

la_int64_t archive_entry_size(struct archive_entry *a0)
{
        need();
        return fn.entry_size(a0);
}

const char *archive_entry_symlink(struct archive_entry *a0)
{
        need();
        return fn.entry_symlink(a0);
}

la_int64_t archive_entry_uid(struct archive_entry *a0)
{
        need();
        return fn.entry_uid(a0);
}

void archive_entry_xattr_add_entry(struct archive_entry *a0, const char *a1, const void *a2, size_t a3)
{
        need();
        fn.entry_xattr_add_entry(a0, a1, a2, a3);
}

int archive_entry_xattr_count(struct archive_entry *a0)
{
        need();
        return fn.entry_xattr_count(a0);
}

int archive_entry_xattr_next(struct archive_entry *a0, const char **a1, const void **a2, size_t *a3)
{
        need();
        return fn.entry_xattr_next(a0, a1, a2, a3);
}

int archive_entry_xattr_reset(struct archive_entry *a0)
{
        need();
        return fn.entry_xattr_reset(a0);
}

int archive_errno(struct archive *a0)
{
        need();
        return fn.errno_(a0);
}

const char *archive_error_string(struct archive *a0)
{
        need();
        return fn.error_string(a0);
}

la_ssize_t archive_read_data(struct archive *a0, void *a1, size_t a2)
{
        need();
        return fn.read_data(a0, a1, a2);
}

int archive_read_data_block(struct archive *a0, const void **a1, size_t *a2, la_int64_t *a3)
{
        need();
        return fn.read_data_block(a0, a1, a2, a3);
}

int archive_read_free(struct archive *a0)
{
        need();
        return fn.read_free(a0);
}

struct archive *archive_read_new(void)
{
        need();
        return fn.read_new();
}

int archive_read_next_header(struct archive *a0, struct archive_entry **a1)
{
        need();
        return fn.read_next_header(a0, a1);
}

int archive_read_open2(struct archive *a0, void *a1, archive_open_callback *a2, archive_read_callback *a3, archive_skip_callback *a4, archive_close_callback *a5)
{
        need();
        return fn.read_open2(a0, a1, a2, a3, a4, a5);
}

int archive_read_open_fd(struct archive *a0, int a1, size_t a2)
{
        need();
        return fn.read_open_fd(a0, a1, a2);
}

int archive_read_open_filename(struct archive *a0, const char *a1, size_t a2)
{
        need();
        return fn.read_open_filename(a0, a1, a2);
}

int archive_read_support_filter_all(struct archive *a0)
{
        need();
        return fn.read_support_filter_all(a0);
}

int archive_read_support_filter_bzip2(struct archive *a0)
{
        need();
        return fn.read_support_filter_bzip2(a0);
}

int archive_read_support_filter_gzip(struct archive *a0)
{
        need();
        return fn.read_support_filter_gzip(a0);
}

int archive_read_support_filter_lzma(struct archive *a0)
{
        need();
        return fn.read_support_filter_lzma(a0);
}

int archive_read_support_filter_xz(struct archive *a0)
{
        need();
        return fn.read_support_filter_xz(a0);
}

int archive_read_support_filter_zstd(struct archive *a0)
{
        need();
        return fn.read_support_filter_zstd(a0);
}

int archive_read_support_format_empty(struct archive *a0)
{
        need();
        return fn.read_support_format_empty(a0);
}

int archive_read_support_format_gnutar(struct archive *a0)
{
        need();
        return fn.read_support_format_gnutar(a0);
}

int archive_read_support_format_tar(struct archive *a0)
{
        need();
        return fn.read_support_format_tar(a0);
}

int archive_write_close(struct archive *a0)
{
        need();
        return fn.write_close(a0);
}

la_ssize_t archive_write_data(struct archive *a0, const void *a1, size_t a2)
{
        need();
        return fn.write_data(a0, a1, a2);
}

int archive_write_free(struct archive *a0)
{
        need();
        return fn.write_free(a0);
}

int archive_write_header(struct archive *a0, struct archive_entry *a1)
{
        need();
        return fn.write_header(a0, a1);
}

struct archive *archive_write_new(void)
{
        need();
        return fn.write_new();
}

int archive_write_open2(struct archive *a0, void *a1, archive_open_callback *a2, archive_write_callback *a3, archive_close_callback *a4, archive_free_callback *a5)
{
        need();
        return fn.write_open2(a0, a1, a2, a3, a4, a5);
}

int archive_write_open_fd(struct archive *a0, int a1)
{
        need();
        return fn.write_open_fd(a0, a1);
}

int archive_write_open_filename(struct archive *a0, const char *a1)
{
        need();
        return fn.write_open_filename(a0, a1);
}

int archive_write_set_bytes_in_last_block(struct archive *a0, int a1)
{
        need();
        return fn.write_set_bytes_in_last_block(a0, a1);
}

int archive_write_set_bytes_per_block(struct archive *a0, int a1)
{
        need();
        return fn.write_set_bytes_per_block(a0, a1);
}

int archive_write_set_format_option(struct archive *a0, const char *a1, const char *a2, const char *a3)
{
        need();
        return fn.write_set_format_option(a0, a1, a2, a3);
}

int archive_write_set_format_pax(struct archive *a0)
{
        need();
        return fn.write_set_format_pax(a0);
}

int archive_write_set_format_pax_restricted(struct archive *a0)
{
        need();
        return fn.write_set_format_pax_restricted(a0);
}
