/* tests/helpers/escape-probe.c - escape and theft attempts a RUN makes in
 * t-escape.sh, for what busybox cannot express.  Built statically and copied
 * into the build context.  Each subcommand prints one "what: result" line per
 * attempt (result: an errno name, or what it got) and exits 0 when every
 * attempt failed, 1 when one succeeded:
 *   escape-probe procs           ptrace attach/seize and process_vm_readv of
 *                                every other visible pid, and /proc/1/mem and
 *                                /proc/1/environ of the builder's init (what
 *                                it reads is printed)
 *   escape-probe ns              unshare/clone/clone3 of namespaces, setns
 *   escape-probe keys DESC       keyctl, add_key (DESC), request_key
 *   escape-probe chroot PATH     the classic breakout (chroot into a subdir,
 *                                chdir .. many times, chroot .), then whether
 *                                PATH is reachable and what / holds
 *   escape-probe fds             the open descriptors: "N -> target"
 *   escape-probe ids             uid, euid, CapEff, NoNewPrivs, setuid(0) */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static int succeeded;

/* Print "what: ERRNO" for r < 0, "what: succeeded" otherwise. */
static void report(const char *what, long r)
{
        if (r < 0) {
                printf("%s: %s\n", what, strerrorname_np(errno));
        } else {
                printf("%s: succeeded\n", what);
                succeeded = 1;
        }
}

/* Read a whole /proc file of @pid; print what came back (NULs as spaces). */
static void try_read(int pid, const char *file)
{
        char path[64], what[64], buf[4096];
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
        snprintf(what, sizeof(what), "pid %d %s", pid, file);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                report(what, -1);
                return;
        }
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n < 0) {
                report(what, -1);
                return;
        }
        for (ssize_t i = 0; i < n; i++)
                if (buf[i] == 0)
                        buf[i] = ' ';
        buf[n] = 0;
        printf("%s: read %zd bytes: %s\n", what, n, buf);
        if (n > 0)
                succeeded = 1;
}

static void procs(void)
{
        DIR *d = opendir("/proc");
        struct dirent *e;
        char byte, what[64];
        int self = getpid();

        while (d && (e = readdir(d))) {
                int pid = atoi(e->d_name);
                struct iovec local = { &byte, 1 }, remote = { (void *) 0x400000, 1 };
                long r;

                if (pid <= 0 || pid == self)
                        continue;
                snprintf(what, sizeof(what), "pid %d ptrace-attach", pid);
                r = ptrace(PTRACE_ATTACH, pid, 0, 0);
                report(what, r);
                if (r == 0) {
                        waitpid(pid, NULL, __WALL);
                        ptrace(PTRACE_DETACH, pid, 0, 0);
                }
                snprintf(what, sizeof(what), "pid %d ptrace-seize", pid);
                r = ptrace(PTRACE_SEIZE, pid, 0, 0);
                report(what, r);
                if (r == 0)
                        ptrace(PTRACE_DETACH, pid, 0, 0);
                snprintf(what, sizeof(what), "pid %d process_vm_readv", pid);
                report(what, process_vm_readv(pid, &local, 1, &remote, 1, 0));
        }
        if (d)
                closedir(d);
        /* The other pids are the RUN's own shell and children: reading their
         * environment is allowed.  Pid 1 is the builder's. */
        try_read(1, "mem");
        try_read(1, "environ");
}

static long clone_ns(unsigned long flags)
{
        long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);

        if (pid == 0)
                _exit(0);
        if (pid > 0)
                waitpid((pid_t) pid, NULL, 0);
        return pid;
}

static long clone3_ns(unsigned long flags)
{
        struct clone_args a = { .flags = flags, .exit_signal = SIGCHLD };
        long pid = syscall(SYS_clone3, &a, sizeof(a));

        if (pid == 0)
                _exit(0);
        if (pid > 0)
                waitpid((pid_t) pid, NULL, 0);
        return pid;
}

static void ns(void)
{
        int fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);

        report("unshare-user", unshare(CLONE_NEWUSER));
        report("unshare-mount", unshare(CLONE_NEWNS));
        report("unshare-pid", unshare(CLONE_NEWPID));
        report("unshare-net", unshare(CLONE_NEWNET));
        report("clone-user", clone_ns(CLONE_NEWUSER));
        report("clone-mount", clone_ns(CLONE_NEWNS));
        report("clone3-user", clone3_ns(CLONE_NEWUSER));
        if (fd < 0)
                report("open /proc/self/ns/mnt", -1);
        else
                report("setns-mnt", setns(fd, 0));
}

static void keys(const char *desc)
{
        report("keyctl-join", syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, desc));
        report("add_key", syscall(SYS_add_key, "user", desc, "stolen", 6, -4 /* KEY_SPEC_USER_KEYRING */));
        report("request_key", syscall(SYS_request_key, "user", desc, NULL, 0));
}

static void breakout(const char *host_path)
{
        DIR *d;
        struct dirent *e;

        mkdir("ib-escape-jail", 0755);
        report("chroot-subdir", chroot("ib-escape-jail"));
        for (int i = 0; i < 64; i++)
                if (chdir("..") < 0)
                        break;
        report("chroot-dot", chroot("."));
        printf("host path: %s\n", access(host_path, F_OK) == 0 ? "reachable" : "unreachable");
        if (access(host_path, F_OK) == 0)
                succeeded = 1;
        d = opendir("/");
        printf("root:");
        while (d && (e = readdir(d)))
                if (e->d_name[0] != '.')
                        printf(" %s", e->d_name);
        printf("\n");
        if (d)
                closedir(d);
}

static void fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        char path[64], target[4096];  /* fd numbers only */

        while (d && (e = readdir(d))) {
                ssize_t n;
                if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
                        continue;
                snprintf(path, sizeof(path), "/proc/self/fd/%d", atoi(e->d_name));
                n = readlink(path, target, sizeof(target) - 1);
                target[n > 0 ? n : 0] = 0;
                printf("%s -> %s\n", e->d_name, target);
        }
        if (d)
                closedir(d);
}

static void ids(void)
{
        char line[256];
        FILE *f = fopen("/proc/self/status", "re");

        printf("uid: %d\neuid: %d\n", (int) getuid(), (int) geteuid());
        while (f && fgets(line, sizeof(line), f)) {
                char key[32], value[64];
                if (sscanf(line, "%31[^:]: %63s", key, value) == 2 &&
                    (!strcmp(key, "CapEff") || !strcmp(key, "NoNewPrivs")))
                        printf("%s: %s\n", key, value);
        }
        if (f)
                fclose(f);
        if (geteuid() == 0)
                succeeded = 1;
        report("setuid-0", setuid(0));
}

int main(int argc, char **argv)
{
        const char *cmd = argc > 1 ? argv[1] : "";

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (!strcmp(cmd, "procs"))
                procs();
        else if (!strcmp(cmd, "ns"))
                ns();
        else if (!strcmp(cmd, "keys") && argc == 3)
                keys(argv[2]);
        else if (!strcmp(cmd, "chroot") && argc == 3)
                breakout(argv[2]);
        else if (!strcmp(cmd, "fds"))
                fds();
        else if (!strcmp(cmd, "ids"))
                ids();
        else {
                fprintf(stderr, "usage: escape-probe procs|ns|keys DESC|chroot PATH|fds|ids\n");
                return 2;
        }
        return succeeded;
}
