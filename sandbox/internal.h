/* sandbox/internal.h - helpers shared inside sandbox/ only. */
#ifndef IB_SANDBOX_INTERNAL_H
#define IB_SANDBOX_INTERNAL_H

#include "lib/ib.h"
#include "sandbox/sandbox.h"

#include <linux/filter.h>

/* ---- user.c: USER resolution against the image's /etc/passwd and /etc/group */
#define IB_USER_MAX_GROUPS 64
struct ib_run_user {
        uid_t uid;
        gid_t gid;
        size_t n_groups;                /* supplementary groups */
        gid_t groups[IB_USER_MAX_GROUPS];
        char home[256];                 /* from passwd, "/" when unknown */
};
/* Resolve a Docker USER spec (name, uid, name:group, uid:gid, uid:group, ...)
 * with the text of the image's passwd and group files (either may be NULL).
 * Docker's rules: a name must exist in passwd; a numeric uid need not (gid 0
 * then); the supplementary groups are the primary group and the groups listing
 * the user's name, or only the group given explicitly. */
int ib_user_resolve(const char *spec, const char *passwd, const char *group,
                    struct ib_run_user *ret, struct ib_err **err);

/* ---- seccomp.c: the RUN's filter, compiled once per process into BPF */
int ib_seccomp_program(const struct sock_fprog **ret, struct ib_err **err);

/* ---- caps.c: Docker's default capabilities */
/* Drop every capability outside IB_SANDBOX_CAPS_MASK from the bounding set. */
int ib_caps_drop_bounding(struct ib_err **err);
/* Set effective/permitted to the default set (uid 0) or nothing (other uids);
 * inheritable and ambient empty. */
int ib_caps_apply(bool root, struct ib_err **err);
/* Whether CAP_SYS_ADMIN is in the effective set. */
bool ib_caps_have_sys_admin(void);

/* ---- mounts.c: the RUN's root file system */
struct ib_rootfs_plan {
        const struct ib_run_spec *spec;
        const char *merged;             /* the mount point */
        const char *skel;               /* bottom lower: mount points missing in the image */
        const char *mounts_skel;        /* above it: targets of the RUN's extra mounts, or NULL */
        const char *hosts, *resolv, *hostname_file;     /* generated /etc files */
        const char *legacy_dir;         /* dir for short lowerdir symlinks (fallback) */
};
/* Create the skeleton's entries: proc, dev, sys, etc/{hosts,resolv.conf,hostname}. */
int ib_rootfs_make_skeleton(const char *skel, struct ib_err **err);
/* Create the targets of the extra mounts of @spec below @dir. */
int ib_rootfs_make_mounts_skeleton(const struct ib_run_spec *spec, const char *dir, struct ib_err **err);
/* In the RUN's mount namespace (pid 1 of its pid namespace): overlay, /proc,
 * /dev, /sys, /etc files, extra mounts, then pivot_root into it. */
int ib_rootfs_setup(const struct ib_rootfs_plan *p, struct ib_err **err);
/* Mount the overlay of @p onto p->merged (exposed for tests of the fallback). */
int ib_rootfs_mount_overlay(const struct ib_rootfs_plan *p, struct ib_err **err);

/* Trace the phases of a RUN with a monotonic timestamp (imgbuild -v trace). */
void ib_sandbox_phase(const char *what);

/* ---- net.c */
int ib_net_loopback_up(struct ib_err **err);

#endif
