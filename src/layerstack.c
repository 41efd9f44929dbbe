/* src/layerstack.c - answer "what is at /path in the image?" from a stack of
 * overlay-form layer dirs without mounting them: the lookup COPY/ADD needs
 * for destination parents, and reading /etc/passwd for --chown.
 *
 * Overlay rules applied, top layer first: a 0:0 character device (or an
 * AUFS-style `.wh.NAME` file) hides NAME in the layers below; a directory
 * marked opaque (trusted.overlay.opaque or user.overlay.opaque = "y") hides
 * everything below it in lower layers; a non-directory hides what lower
 * layers have below the same path. */
#include "src/context.h"
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

struct ib_layer_stack {
        int *fd;
        size_t n;
};

int ib_layer_stack_open(char *const *dirs_top_first, struct ib_layer_stack **ret, struct ib_err **err)
{
        struct ib_layer_stack *s = ib_calloc(1, sizeof(*s));
        size_t n = ib_strv_len(dirs_top_first);

        s->fd = ib_calloc(n ? n : 1, sizeof(int));
        for (size_t i = 0; i < n; i++) {
                s->fd[i] = open(dirs_top_first[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (s->fd[i] < 0) {
                        int r = ib_err_set(err, errno, "open layer `%s`", dirs_top_first[i]);
                        s->n = i;
                        ib_layer_stack_free(s);
                        return r;
                }
                s->n = i + 1;
        }
        *ret = s;
        return 0;
}

void ib_layer_stack_free(struct ib_layer_stack *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                close(s->fd[i]);
        free(s->fd);
        free(s);
}

static bool is_whiteout(const struct stat *st)
{
        return S_ISCHR(st->st_mode) && major(st->st_rdev) == 0 && minor(st->st_rdev) == 0;
}

static bool is_opaque(int layer_fd, const char *rel)
{
        static const char *const keys[] = { "trusted.overlay.opaque", "user.overlay.opaque" };
        _cleanup_free_ char *p = ib_strdupf("/proc/self/fd/%d/%s", layer_fd, rel);
        char v = 0;

        for (size_t i = 0; i < IB_ELEMENTSOF(keys); i++)
                if (lgetxattr(p, keys[i], &v, 1) == 1 && v == 'y')
                        return true;
        return false;
}

/* Is @rel hidden by an AUFS-style whiteout file in this layer? */
static bool has_wh_file(int layer_fd, const char *rel)
{
        const char *s = strrchr(rel, '/');
        _cleanup_free_ char *wh = s ? ib_strdupf("%.*s/.wh.%s", (int) (s - rel), rel, s + 1) : ib_strdupf(".wh.%s", rel);
        struct stat st;
        return fstatat(layer_fd, wh, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* What layer @i says about @rel: 1 found (*st), 0 nothing here (look
 * below), -ENOENT hidden from the layers below, -ENOTDIR likewise. */
static int layer_probe(int fd, const char *rel, struct stat *st, bool *stop_below)
{
        _cleanup_free_ char *copy = ib_strdup(rel);

        /* Each parent: a whiteout or a non-dir hides the rest, an opaque dir stops lower layers. */
        for (char *s = strchr(copy, '/'); s; s = strchr(s + 1, '/')) {
                struct stat pst;
                *s = '\0';
                if (has_wh_file(fd, copy))
                        return -ENOENT;
                if (fstatat(fd, copy, &pst, AT_SYMLINK_NOFOLLOW) == 0) {
                        if (!S_ISDIR(pst.st_mode))
                                return -ENOENT;
                        if (is_opaque(fd, copy))
                                *stop_below = true;
                }
                *s = '/';
        }
        if (has_wh_file(fd, rel))
                return -ENOENT;
        if (fstatat(fd, rel, st, AT_SYMLINK_NOFOLLOW) < 0)
                return 0;
        return is_whiteout(st) ? -ENOENT : 1;
}

static int stack_find(struct ib_layer_stack *s, const char *abs_path, struct stat *st, size_t *layer)
{
        const char *rel = abs_path;
        bool stop = false;

        while (*rel == '/')
                rel++;
        if (!*rel) {
                if (s->n == 0)
                        return -ENOENT;
                *layer = 0;
                return fstatat(s->fd[0], "", st, AT_EMPTY_PATH) < 0 ? -errno : 0;
        }
        for (size_t i = 0; i < s->n && !stop; i++) {
                int r = layer_probe(s->fd[i], rel, st, &stop);
                if (r < 0)
                        return r;
                if (r == 1) {
                        *layer = i;
                        return 0;
                }
        }
        return -ENOENT;
}

int ib_layer_stack_lookup(const char *abs_path, struct stat *ret, char **ret_link, void *stack)
{
        struct ib_layer_stack *s = stack;
        size_t i;
        int r = stack_find(s, abs_path, ret, &i);

        *ret_link = NULL;
        if (r < 0)
                return r;
        if (S_ISLNK(ret->st_mode)) {
                char buf[4096];
                const char *rel = abs_path;
                while (*rel == '/')
                        rel++;
                ssize_t n = readlinkat(s->fd[i], rel, buf, sizeof(buf) - 1);
                if (n < 0)
                        return -errno;
                buf[n] = '\0';
                *ret_link = ib_strdup(buf);
        }
        return 0;
}

int ib_layer_stack_read(struct ib_layer_stack *s, const char *abs_path, size_t max, char **ret, struct ib_err **err)
{
        struct stat st;
        size_t i;
        int r = stack_find(s, abs_path, &st, &i);
        const char *rel = abs_path;

        while (*rel == '/')
                rel++;
        if (r < 0)
                return r;
        if (!S_ISREG(st.st_mode))
                return -ENOENT;
        _cleanup_close_ int fd = ib_open_in_root(s->fd[i], rel, O_RDONLY | O_NOFOLLOW, 0, err);
        if (fd < 0)
                return fd;
        _cleanup_free_ char *path = ib_strdupf("/proc/self/fd/%d", fd);
        return ib_read_file(path, max, ret, NULL, err);
}
