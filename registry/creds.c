/* registry/creds.c - credentials from docker/podman auth files and from
 * credential helpers.  Secrets are wiped when freed and never logged; debug
 * lines name the file and the helper, never a value. */
#include "registry/internal.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <yajl/yajl_tree.h>

#define HELPER_OUT_MAX (1u << 20)
#define DOCKER_HUB_SERVER "https://index.docker.io/v1/"

extern char **environ;

static void free_secret(char **s)
{
        if (*s) {
                explicit_bzero(*s, strlen(*s));
                free(*s);
                *s = NULL;
        }
}

void ib_creds_clear(struct ib_creds *c)
{
        free_secret(&c->username);
        free_secret(&c->password);
        free_secret(&c->identity_token);
        free_secret(&c->registry_token);
}

char *ib_auth_file_find(void)
{
        const char *e;
        char *cands[5] = {};
        size_t n = 0;
        char *found = NULL;

        /* DOCKER_CONFIG is a directory; Kaniko also takes it naming the file */
        if ((e = getenv("DOCKER_CONFIG")) && *e) {
                struct stat st;
                if (stat(e, &st) == 0 && S_ISREG(st.st_mode))
                        cands[n++] = ib_strdup(e);
                else
                        cands[n++] = ib_path_join(e, "config.json");
        }
        if ((e = getenv("HOME")) && *e)
                cands[n++] = ib_path_join(e, ".docker/config.json");
        cands[n++] = ib_strdup("/kaniko/.docker/config.json");
        if ((e = getenv("REGISTRY_AUTH_FILE")) && *e)
                cands[n++] = ib_strdup(e);
        if ((e = getenv("XDG_RUNTIME_DIR")) && *e)
                cands[n++] = ib_path_join(e, "containers/auth.json");
        for (size_t i = 0; i < n; i++) {
                if (!found && access(cands[i], R_OK) == 0)
                        found = IB_TAKE_PTR(cands[i]);
                free(cands[i]);
        }
        return found;
}

char *ib_creds_key_host(const char *key)
{
        const char *p = key;
        char *h;

        if (ib_startswith(p, "https://"))
                p += 8;
        else if (ib_startswith(p, "http://"))
                p += 7;
        h = ib_strndup(p, strcspn(p, "/"));
        for (char *q = h; *q; q++)
                if (*q >= 'A' && *q <= 'Z')
                        *q = (char) (*q - 'A' + 'a');
        if (strcmp(h, "index.docker.io") == 0 || strcmp(h, "registry-1.docker.io") == 0) {
                free(h);
                h = ib_strdup("docker.io");
        }
        return h;
}

const char *ib_creds_helper_server(const char *registry)
{
        return strcmp(registry, "docker.io") == 0 ? DOCKER_HUB_SERVER : registry;
}

/* The member of @obj whose key names @registry. */
static yajl_val find_entry(yajl_val obj, const char *registry)
{
        if (!obj || !YAJL_IS_OBJECT(obj))
                return NULL;
        for (size_t i = 0; i < obj->u.object.len; i++) {
                _cleanup_free_ char *h = ib_creds_key_host(obj->u.object.keys[i]);
                if (strcmp(h, registry) == 0)
                        return obj->u.object.values[i];
        }
        return NULL;
}

static int creds_from_auths_entry(yajl_val ent, const char *registry, struct ib_creds *ret, struct ib_err **err)
{
        const char *auth = ib_json_get_str(ent, "auth");
        const char *user = ib_json_get_str(ent, "username"), *pass = ib_json_get_str(ent, "password");
        const char *idt = ib_json_get_str(ent, "identitytoken"), *rt = ib_json_get_str(ent, "registrytoken");

        if (auth && *auth) {
                size_t n;
                char *dec = ib_base64_decode(auth, &n), *colon;
                if (!dec)
                        return ib_err_set(err, EINVAL, "auth entry for `%s`: `auth` is not valid base64", registry);
                colon = strchr(dec, ':');
                if (!colon || strlen(dec) != n) {
                        explicit_bzero(dec, n);
                        free(dec);
                        return ib_err_set(err, EINVAL, "auth entry for `%s`: `auth` is not base64 of user:password",
                                          registry);
                }
                *colon = '\0';
                ret->username = ib_strdup(dec);
                ret->password = ib_strdup(colon + 1);
                explicit_bzero(dec, n);
                free(dec);
        } else if (user && *user) {
                ret->username = ib_strdup(user);
                ret->password = ib_strdup(pass ? pass : "");
        }
        if (idt && *idt)
                ret->identity_token = ib_strdup(idt);
        if (rt && *rt)
                ret->registry_token = ib_strdup(rt);
        return 0;
}

static bool has_creds(const struct ib_creds *c)
{
        return c->username || c->identity_token || c->registry_token;
}

int ib_creds_from_config(const char *json, size_t len, const char *registry, struct ib_creds *ret,
                         struct ib_err **err)
{
        _cleanup_json_ yajl_val doc = ib_json_parse(json, len, "auth file", err);
        yajl_val helpers, ent;
        const char *store;
        int r;

        memset(ret, 0, sizeof(*ret));
        if (!doc)
                return -EINVAL;
        helpers = ib_json_get(doc, "credHelpers");
        ent = find_entry(helpers, registry);
        if (ent && YAJL_IS_STRING(ent) && *ent->u.string) {
                ib_debug("credentials for %s: credential helper docker-credential-%s", registry, ent->u.string);
                return ib_creds_from_helper(ent->u.string, ib_creds_helper_server(registry), ret, err);
        }
        ent = find_entry(ib_json_get(doc, "auths"), registry);
        if (ent) {
                r = creds_from_auths_entry(ent, registry, ret, err);
                if (r < 0)
                        return r;
                if (has_creds(ret)) {
                        ib_debug("credentials for %s: auths entry", registry);
                        return 0;
                }
        }
        store = ib_json_get_str(doc, "credsStore");
        if (store && *store) {
                ib_debug("credentials for %s: credential store docker-credential-%s", registry, store);
                return ib_creds_from_helper(store, ib_creds_helper_server(registry), ret, err);
        }
        ib_debug("credentials for %s: none (anonymous)", registry);
        return 0;
}

static int read_all_fd(int fd, size_t max, struct ib_buf *out)
{
        char buf[4096];
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                if (out->len + (size_t) n > max)
                        return -EFBIG;
                ib_buf_add(out, buf, (size_t) n);
        }
}

int ib_creds_from_helper(const char *helper, const char *server, struct ib_creds *ret, struct ib_err **err)
{
        _cleanup_free_ char *prog = NULL;
        int in[2] = { -1, -1 }, out[2] = { -1, -1 };
        posix_spawn_file_actions_t fa;
        struct ib_buf b = IB_BUF_INIT;
        char *argv[3];
        pid_t pid;
        int r, status = 0;

        memset(ret, 0, sizeof(*ret));
        if (!*helper || strchr(helper, '/'))
                return ib_err_set(err, EINVAL, "invalid credential helper name `%s`", helper);
        prog = ib_strdupf("docker-credential-%s", helper);
        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
                r = ib_err_set(err, errno, "pipe");
                goto close_pipes;
        }
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        argv[0] = prog;
        argv[1] = (char *) "get";
        argv[2] = NULL;
        r = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0) {
                r = ib_err_set(err, r, "run credential helper `%s`", prog);
                goto close_pipes;
        }
        close(in[0]);
        close(out[1]);
        in[0] = out[1] = -1;
        {
                /* A helper that exits early must not kill us with SIGPIPE. */
                struct sigaction sa = { .sa_handler = SIG_IGN }, old;
                sigaction(SIGPIPE, &sa, &old);
                (void) ib_write_all(in[1], server, strlen(server));
                sigaction(SIGPIPE, &old, NULL);
        }
        close(in[1]);
        in[1] = -1;
        r = read_all_fd(out[0], HELPER_OUT_MAX, &b);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (r < 0) {
                r = ib_err_set(err, -r, "read from credential helper `%s`", prog);
                goto free_out;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                if (strstr(b.buf, "credentials not found")) {
                        ib_debug("credential helper %s has no credentials for %s", prog, server);
                        r = 0;
                } else {
                        b.buf[strcspn(b.buf, "\n")] = '\0';
                        r = ib_err_set(err, 0, "credential helper `%s` failed (status %d)%s%.200s", prog,
                                       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                                       b.len ? ": " : "", b.buf);
                }
                goto free_out;
        }
        {
                _cleanup_err_ struct ib_err *je = NULL;
                _cleanup_json_ yajl_val doc = ib_json_parse(b.buf, b.len, "helper output", &je);
                const char *user = ib_json_get_str(doc, "Username"), *secret = ib_json_get_str(doc, "Secret");
                if (!doc || !secret) {
                        r = ib_err_set(err, 0, "credential helper `%s` printed no JSON with a Secret", prog);
                        goto free_out;
                }
                if (user && strcmp(user, "<token>") == 0) {
                        ret->identity_token = ib_strdup(secret);
                } else {
                        ret->username = ib_strdup(user ? user : "");
                        ret->password = ib_strdup(secret);
                }
                r = 0;
        }
free_out:
        explicit_bzero(b.buf, b.len);
        ib_buf_release(&b);
close_pipes:
        for (int i = 0; i < 2; i++) {
                if (in[i] >= 0)
                        close(in[i]);
                if (out[i] >= 0)
                        close(out[i]);
        }
        return r;
}
