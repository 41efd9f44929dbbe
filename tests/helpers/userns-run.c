/* tests/helpers/userns-run.c - userns-run [--count N] CMD...: run CMD as uid/gid
 * 0 of a new user namespace with a private mount namespace, ids 0..N-1 (default
 * 65536) mapped to the same ids outside.  For root in tests (how imgbuild runs as
 * real root): util-linux unshare --map-users needs newuidmap and /etc/subuid
 * entries for root, so the parent writes the maps itself. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
        perror(what);
        _exit(125);
}

static void write_map(pid_t pid, const char *file, unsigned long count)
{
        char path[64], line[64];
        int fd, n;
        snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, file);
        n = snprintf(line, sizeof(line), "0 0 %lu\n", count);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, line, (size_t) n) != n)
                die(path);
        close(fd);
}

int main(int argc, char **argv)
{
        unsigned long count = 65536;
        int to_child[2], to_parent[2], st;
        char c;
        pid_t pid;

        if (argc > 2 && strcmp(argv[1], "--count") == 0) {
                count = strtoul(argv[2], NULL, 10);
                argv += 2;
                argc -= 2;
        }
        if (argc < 2) {
                fprintf(stderr, "usage: userns-run [--count N] CMD...\n");
                return 2;
        }
        if (pipe(to_child) < 0 || pipe(to_parent) < 0)
                die("pipe");
        pid = fork();
        if (pid < 0)
                die("fork");
        if (pid == 0) {
                close(to_child[1]);
                close(to_parent[0]);
                if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
                        die("unshare");
                if (write(to_parent[1], "U", 1) != 1 || read(to_child[0], &c, 1) != 1)
                        die("sync");
                if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                        die("make / private");
                if (setgid(0) < 0 || setgroups(0, NULL) < 0 || setuid(0) < 0)
                        die("become 0");
                execvp(argv[1], argv + 1);
                die(argv[1]);
        }
        close(to_child[0]);
        close(to_parent[1]);
        if (read(to_parent[0], &c, 1) != 1) {
                waitpid(pid, &st, 0);
                return 125;
        }
        write_map(pid, "uid_map", count);
        write_map(pid, "gid_map", count);
        if (write(to_child[1], "M", 1) != 1)
                die("sync");
        if (waitpid(pid, &st, 0) < 0)
                die("waitpid");
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
