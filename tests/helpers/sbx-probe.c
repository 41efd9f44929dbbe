/* tests/helpers/sbx-probe.c - a static helper the sandbox tests run inside a
 * RUN (busybox lacks these calls) and around imgbuild:
 *   sbx-probe keyctl|add_key|unshare|clone-ns|mount|umount|pivot_root|setns|bpf|
 *             perf_event_open|ptrace|kexec_load|init_module|settimeofday|reboot|swapon
 *       try the call; print "NAME: ERRNO"; exit 0 when it failed with EPERM
 *   sbx-probe setxattr PATH NAME VALUE / getxattr PATH NAME
 *   sbx-probe deny-userns CMD ARG...
 *       run CMD under a seccomp filter that fails unshare/clone(CLONE_NEWUSER)
 *       with EPERM, as Docker's default profile does
 *   sbx-probe in-userns START COUNT MAXNS UID CMD ARG...   (as root)
 *       run CMD as UID in a new user namespace mapping 0..COUNT-1 to START..;
 *       MAXNS >= 0 is first written to its user.max_user_namespaces */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <grp.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <sys/time.h>
#include <unistd.h>

static long try_call(const char *name)
{
        if (!strcmp(name, "keyctl"))
                return syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, "x");
        if (!strcmp(name, "add_key"))
                return syscall(SYS_add_key, "user", "x", "y", 1, -3);
        if (!strcmp(name, "unshare"))
                return unshare(CLONE_NEWNS);
        if (!strcmp(name, "unshare-user"))
                return unshare(CLONE_NEWUSER);
        if (!strcmp(name, "clone-ns")) {
                long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
                if (pid == 0)
                        _exit(0);
                if (pid > 0)
                        waitpid((pid_t) pid, NULL, 0);
                return pid > 0 ? 0 : -1;
        }
        if (!strcmp(name, "mount"))
                return mount("none", "/tmp", "tmpfs", 0, NULL);
        if (!strcmp(name, "umount"))
                return umount2("/proc", MNT_DETACH);
        if (!strcmp(name, "pivot_root"))
                return syscall(SYS_pivot_root, "/tmp", "/tmp");
        if (!strcmp(name, "setns"))
                return setns(open("/proc/self/ns/mnt", O_RDONLY), 0);
        if (!strcmp(name, "bpf"))
                return syscall(SYS_bpf, 0, NULL, 0);
        if (!strcmp(name, "perf_event_open"))
                return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
        if (!strcmp(name, "ptrace"))
                return ptrace(PTRACE_ATTACH, 1, 0, 0);
        if (!strcmp(name, "kexec_load"))
                return syscall(SYS_kexec_load, 0, 0, NULL, 0);
        if (!strcmp(name, "init_module"))
                return syscall(SYS_init_module, NULL, 0, "");
        if (!strcmp(name, "settimeofday")) {
                struct timeval tv;
                gettimeofday(&tv, NULL);
                return settimeofday(&tv, NULL);
        }
        if (!strcmp(name, "reboot"))
                return syscall(SYS_reboot, 0, 0, 0, NULL);
        if (!strcmp(name, "swapon"))
                return syscall(SYS_swapon, "/nonexistent", 0);
        fprintf(stderr, "sbx-probe: unknown call %s\n", name);
        exit(2);
}

static int deny_userns(char **argv)
{
        /* x86_64 only: refuse anything else rather than guess numbers. */
        struct sock_filter f[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_unshare, 1, 0),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
                BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
                perror("sbx-probe: seccomp");
                return 2;
        }
        execvp(argv[0], argv);
        perror(argv[0]);
        return 127;
}

static int write_file(const char *path, const char *data)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        int ok = fd >= 0 && write(fd, data, strlen(data)) == (ssize_t) strlen(data);

        if (!ok)
                fprintf(stderr, "sbx-probe: write %s: %s\n", path, strerror(errno));
        if (fd >= 0)
                close(fd);
        return ok ? 0 : -1;
}

static int in_userns(char **argv)
{
        unsigned long start = strtoul(argv[0], NULL, 10), count = strtoul(argv[1], NULL, 10);
        long maxns = strtol(argv[2], NULL, 10);
        unsigned uid = (unsigned) strtoul(argv[3], NULL, 10);
        int p1[2], p2[2], st;
        char c = 0, map[64], path[64];
        pid_t pid;

        if (pipe(p1) < 0 || pipe(p2) < 0)
                return 2;
        pid = fork();
        if (pid == 0) {
                if (unshare(CLONE_NEWUSER) < 0)
                        return perror("unshare"), 2;
                if (write(p1[1], &c, 1) != 1 || read(p2[0], &c, 1) != 1)
                        return 2;
                if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
                        return perror("setresuid 0"), 2;
                if (maxns >= 0) {
                        snprintf(map, sizeof(map), "%ld", maxns);
                        if (write_file("/proc/sys/user/max_user_namespaces", map) < 0)
                                return 2;
                }
                if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
                        return perror("switch user"), 2;
                execvp(argv[4], argv + 4);
                perror(argv[4]);
                return 127;
        }
        if (read(p1[0], &c, 1) != 1)
                return 2;
        snprintf(map, sizeof(map), "0 %lu %lu\n", start, count);
        snprintf(path, sizeof(path), "/proc/%d/uid_map", (int) pid);
        if (write_file(path, map) < 0)
                return 2;
        snprintf(path, sizeof(path), "/proc/%d/gid_map", (int) pid);
        if (write_file(path, map) < 0 || write(p2[1], &c, 1) != 1)
                return 2;
        waitpid(pid, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
        long r;
        int e;

        if (argc < 2) {
                fprintf(stderr, "usage: sbx-probe CALL | setxattr P N V | getxattr P N | deny-userns CMD...\n");
                return 2;
        }
        if (!strcmp(argv[1], "setxattr") && argc == 5)
                return setxattr(argv[2], argv[3], argv[4], strlen(argv[4]), 0) == 0 ? 0 : (perror("setxattr"), 1);
        if (!strcmp(argv[1], "getxattr") && argc == 4) {
                char v[256];
                ssize_t n = getxattr(argv[2], argv[3], v, sizeof(v) - 1);
                if (n < 0)
                        return perror("getxattr"), 1;
                v[n] = 0;
                printf("%s\n", v);
                return 0;
        }
        if (!strcmp(argv[1], "in-userns") && argc > 6)
                return in_userns(argv + 2);
        if (!strcmp(argv[1], "deny-userns") && argc > 2)
                return deny_userns(argv + 2);
        r = try_call(argv[1]);
        e = errno;
        printf("%s: %s\n", argv[1], r < 0 ? strerrorname_np(e) : "succeeded");
        return r < 0 && e == EPERM ? 0 : 1;
}
