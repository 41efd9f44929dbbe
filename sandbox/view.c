/* sandbox/view.c - a read-only-in-effect overlay view of a layer stack, for
 * reading another stage's root file system (COPY --from=stage).
 *
 * It reuses the RUN's overlay mounting (fsconfig lowerdir+, or the short-name
 * fallback) with a throwaway upper dir: overlay cannot mount a single lower
 * without an upper, and an empty skeleton lower keeps the 0-layer case (FROM
 * scratch) working too. */
#include "sandbox/internal.h"
#include <sys/mount.h>
#include <sys/stat.h>

int ib_sandbox_mount_view(const char *const *lowers, size_t n_lowers, const char *scratch,
                          const char *target, struct ib_err **err)
{
        _cleanup_free_ char *upper = ib_path_join(scratch, "upper");
        _cleanup_free_ char *work = ib_path_join(scratch, "work");
        _cleanup_free_ char *skel = ib_path_join(scratch, "skel");
        _cleanup_free_ char *legacy = ib_path_join(scratch, "lowers");
        struct ib_run_spec spec = { .lowers = lowers, .n_lowers = n_lowers, .upper = upper, .work = work };
        struct ib_rootfs_plan plan = { .spec = &spec, .merged = target, .skel = skel, .legacy_dir = legacy };

        if (ib_mkdir_p(upper, 0755, err) < 0 || ib_mkdir_p(work, 0700, err) < 0 ||
            ib_mkdir_p(skel, 0755, err) < 0 || ib_mkdir_p(target, 0755, err) < 0)
                return ib_err_wrap(err, "view of %zu layers", n_lowers);
        if (ib_rootfs_mount_overlay(&plan, err) < 0)
                return ib_err_wrap(err, "view of %zu layers", n_lowers);
        return 0;
}

int ib_sandbox_unmount_view(const char *scratch, const char *target, struct ib_err **err)
{
        if (umount2(target, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                return ib_err_set(err, errno, "unmount the view `%s`", target);
        if (ib_rm_rf(scratch, err) < 0)
                return -EIO;
        (void) rmdir(target);
        return 0;
}
