/* tests/helpers/agent-list.c - list the identities of the ssh agent at
 * $SSH_AUTH_SOCK (SSH2_AGENTC_REQUEST_IDENTITIES), one comment per line.
 * Built statically: the tests copy it into busybox images to prove that
 * RUN --mount=type=ssh forwards the agent. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int read_all(int fd, void *buf, size_t n)
{
        char *p = buf;
        while (n) {
                ssize_t r = read(fd, p, n);
                if (r <= 0)
                        return -1;
                p += r;
                n -= (size_t) r;
        }
        return 0;
}

static uint32_t get32(const unsigned char *p)
{
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

int main(void)
{
        const char *path = getenv("SSH_AUTH_SOCK");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        unsigned char req[5] = { 0, 0, 0, 1, 11 }, hdr[4], *body;
        uint32_t len, n, off = 5;
        int fd;

        if (!path || strlen(path) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "agent-list: SSH_AUTH_SOCK not set\n");
                return 2;
        }
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                perror("agent-list: connect");
                return 1;
        }
        if (write(fd, req, sizeof(req)) != sizeof(req) || read_all(fd, hdr, 4) < 0)
                return 1;
        len = get32(hdr);
        if (len < 5 || len > (1u << 20) || !(body = malloc(len)) || read_all(fd, body, len) < 0 || body[0] != 12)
                return 1;
        n = get32(body + 1);
        for (uint32_t i = 0; i < n; i++) {
                uint32_t kl, cl;
                if (off + 4 > len || (kl = get32(body + off)) > len - off - 4)
                        return 1;
                off += 4 + kl;
                if (off + 4 > len || (cl = get32(body + off)) > len - off - 4)
                        return 1;
                printf("%.*s\n", (int) cl, body + off + 4);
                off += 4 + cl;
        }
        return 0;
}
