/* sandbox/seccomp.c - the RUN's seccomp filter: the effect of Docker's default
 * profile for a process without CAP_SYS_ADMIN/SYS_PTRACE/SYS_MODULE/...:
 * every listed call fails with EPERM, namespace creation through clone/unshare
 * too, clone3 reports ENOSYS (its flags are out of reach of a filter; libc then
 * falls back to clone), and a syscall from an architecture the filter does not
 * know kills the process.
 *
 * libseccomp compiles the filter once per process; the BPF program is kept and
 * loaded in each RUN right before exec, without calling libseccomp again. */
#include "sandbox/internal.h"

#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>

IB_DEFINE_CLEANUP(scmp_filter_ctx, seccomp_release)

static const char *const denied[] = {
        /* kernel images and modules */
        "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
        "create_module", "get_kernel_syms", "query_module", "uselib",
        /* key management, BPF, profiling, userfaultfd, file handles */
        "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
        "open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "fanotify_init",
        /* mounts and namespaces */
        "mount", "umount", "umount2", "pivot_root", "setns", "fsopen", "fsconfig", "fsmount",
        "fspick", "move_mount", "open_tree", "mount_setattr",
        /* clock and time */
        "clock_settime", "clock_settime64", "settimeofday", "stime", "adjtimex",
        "clock_adjtime", "clock_adjtime64",
        /* machine */
        "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "nfsservctl",
        "iopl", "ioperm", "vm86", "vm86old", "syslog", "vhangup", "_sysctl", "sysfs",
        /* other processes */
        "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
        /* io_uring bypasses this filter for the operations it runs */
        "io_uring_setup", "io_uring_enter", "io_uring_register",
};

static const unsigned long ns_flags[] = {
        CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
        CLONE_NEWCGROUP,
};

static int scmp_fail(struct ib_err **err, int r, const char *what)
{
        return ib_err_set(err, r < 0 ? -r : EINVAL, "seccomp: %s", what);
}

static int add_rules(scmp_filter_ctx ctx, struct ib_err **err)
{
        int r;

        for (size_t i = 0; i < IB_ELEMENTSOF(denied); i++) {
                int nr = seccomp_syscall_resolve_name(denied[i]);
                if (nr == __NR_SCMP_ERROR)
                        continue;       /* not a syscall on any architecture we know */
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
                if (r < 0)
                        return scmp_fail(err, r, denied[i]);
        }
        for (size_t i = 0; i < IB_ELEMENTSOF(ns_flags); i++) {
                unsigned long f = ns_flags[i];
                /* clone's flags are its first argument on x86 and arm (not on s390). */
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                     SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
                if (r >= 0)
                        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                                             SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
                if (r < 0)
                        return scmp_fail(err, r, "clone/unshare namespace flags");
        }
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
        if (r < 0 && r != -EDOM)
                return scmp_fail(err, r, "clone3");
        return 0;
}

static int add_arches(scmp_filter_ctx ctx, struct ib_err **err)
{
        uint32_t native = seccomp_arch_native(), extra[2] = { 0, 0 };
        int r;

        /* 32-bit binaries of the same machine are common in images. */
        if (native == SCMP_ARCH_X86_64) {
                extra[0] = SCMP_ARCH_X86;
                extra[1] = SCMP_ARCH_X32;
        } else if (native == SCMP_ARCH_AARCH64) {
                extra[0] = SCMP_ARCH_ARM;
        }
        for (size_t i = 0; i < IB_ELEMENTSOF(extra) && extra[i]; i++) {
                r = seccomp_arch_add(ctx, extra[i]);
                if (r < 0 && r != -EEXIST)
                        return scmp_fail(err, r, "add architecture");
        }
        return 0;
}

static int compile(struct sock_fprog *prog, struct ib_err **err)
{
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        _cleanup_close_ int fd = -1;
        off_t size;
        int r;

        if (!ctx)
                return ib_err_set(err, ENOMEM, "seccomp_init");
        r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
        if (r < 0)
                return scmp_fail(err, r, "set the action for unknown architectures");
        /* no_new_privs is set by the RUN itself, right before the filter is loaded. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        if (r < 0)
                return scmp_fail(err, r, "attribute NNP");
        r = add_arches(ctx, err);
        if (r >= 0)
                r = add_rules(ctx, err);
        if (r < 0)
                return r;
        fd = memfd_create("imgbuild-seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return ib_err_set(err, errno, "memfd_create");
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return scmp_fail(err, r, "export the filter");
        size = lseek(fd, 0, SEEK_END);
        if (size <= 0 || size % (off_t) sizeof(struct sock_filter) || size / (off_t) sizeof(struct sock_filter) > 4096)
                return ib_err_set(err, EINVAL, "seccomp: unexpected filter size %lld", (long long) size);
        prog->len = (unsigned short) (size / (off_t) sizeof(struct sock_filter));
        prog->filter = ib_malloc((size_t) size);
        if (pread(fd, prog->filter, (size_t) size, 0) != size) {
                free(prog->filter);
                return ib_err_set(err, errno ? errno : EIO, "seccomp: read the filter back");
        }
        return 0;
}

int ib_seccomp_program(const struct sock_fprog **ret, struct ib_err **err)
{
        static struct sock_fprog prog;
        int r;

        if (!prog.filter) {
                r = compile(&prog, err);
                if (r < 0)
                        return r;
        }
        *ret = &prog;
        return 0;
}
