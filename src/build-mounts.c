/* src/build-mounts.c - RUN --mount (BuildKit's Dockerfile reference):
 *
 *   type=cache   a persistent dir of the store, cache/mounts/<id-hash>[-N],
 *                keyed by id= (default: the target), shared between builds
 *                and stages, never part of a layer nor of a cache key's
 *                content.  sharing=shared (default) lets RUNs use it at once;
 *                locked serialises them (flock, held for the RUN); private
 *                gives each concurrent RUN its own instance.  mode/uid/gid
 *                set on creation; ro.
 *   type=bind    from the build context (default), a stage or an image
 *                (from=); read-only unless rw, and then writes are discarded
 *                (the source is seen through an overlay with a throwaway
 *                upper dir).
 *   type=tmpfs   size= honoured by the kernel's tmpfs.
 *   type=secret  --secret id=ID,src=PATH | id=ID,env=VAR on the command line;
 *                visible only to that RUN: a file on a tmpfs private to this
 *                process (never the store), bound at target= (default
 *                /run/secrets/ID), and/or an environment variable (env=).
 *                Never in a layer, the store, a cache key, the history or
 *                the log.  required=true fails when the secret is missing;
 *                otherwise the mount is skipped.
 *   type=ssh     --ssh default (SSH_AUTH_SOCK), --ssh ID=SOCKET, or --ssh
 *                ID=KEYFILE (an ssh-agent of this build's own holds the key):
 *                the agent socket bound at target= (default
 *                /run/buildkit/ssh_agent.N) and SSH_AUTH_SOCK set for the RUN.
 * Mount targets missing in the image are provided from below every layer by
 * the sandbox, so they never appear in the layer. */
#include "src/build-internal.h"
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <strings.h>

struct mspec {
        const char *type, *target, *source, *id, *from, *sharing, *mode, *uid, *gid, *env, *required;
        bool rw, ro;
};

static void parse_spec(char *copy, struct mspec *m)
{
        char *save = NULL;

        *m = (struct mspec) { .type = "bind" };
        for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(f, '=');
                const char *v = eq ? eq + 1 : NULL;
                if (eq)
                        *eq = '\0';
                if (!strcmp(f, "type"))
                        m->type = v ? v : "";
                else if (!strcmp(f, "target") || !strcmp(f, "dst") || !strcmp(f, "destination"))
                        m->target = v;
                else if (!strcmp(f, "source") || !strcmp(f, "src"))
                        m->source = v;
                else if (!strcmp(f, "id"))
                        m->id = v;
                else if (!strcmp(f, "from"))
                        m->from = v;
                else if (!strcmp(f, "sharing"))
                        m->sharing = v;
                else if (!strcmp(f, "mode"))
                        m->mode = v;
                else if (!strcmp(f, "uid"))
                        m->uid = v;
                else if (!strcmp(f, "gid"))
                        m->gid = v;
                else if (!strcmp(f, "env"))
                        m->env = v;
                else if (!strcmp(f, "required"))
                        m->required = v ? v : "true";
                else if (!strcmp(f, "rw") || !strcmp(f, "readwrite"))
                        m->rw = !v || !strcmp(v, "true");
                else if (!strcmp(f, "ro") || !strcmp(f, "readonly"))
                        m->ro = !v || !strcmp(v, "true");
        }
}

static char *keep(struct ib_run_mounts *rm, char *s)
{
        ib_strv_push(&rm->owned, s);
        free(s);
        return rm->owned[ib_strv_len(rm->owned) - 1];
}

static struct ib_mount *add(struct ib_run_mounts *rm, const char *type, const char *source, const char *target,
                            bool ro, struct ib_err **err)
{
        struct ib_mount *m;
        if (rm->n == IB_ELEMENTSOF(rm->m)) {
                ib_err_set(err, E2BIG, "more than %zu RUN mounts", IB_ELEMENTSOF(rm->m));
                return NULL;
        }
        m = &rm->m[rm->n++];
        *m = (struct ib_mount) { .type = type, .source = source, .readonly = ro,
                                 .target = keep(rm, target[0] == '/' ? ib_strdup(target) : ib_strdupf("/%s", target)) };
        return m;
}

static int parse_u32(const char *s, unsigned long max, unsigned long *ret)
{
        char *end = NULL;
        unsigned long v;
        errno = 0;
        v = strtoul(s, &end, 0);
        if (errno || !end || *end || end == s || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* ------------------------------------------------------------------ cache */

static int cache_mount(struct build *b, struct ib_run_mounts *rm, const struct mspec *ms, const char *spec,
                       struct ib_err **err)
{
        const char *sharing = ms->sharing ? ms->sharing : "shared";
        char hex[IB_SHA256_HEX];
        _cleanup_free_ char *base = NULL;
        char *dir = NULL;
        unsigned long mode = 0755, uid = 0, gid = 0;

        if (strcmp(sharing, "shared") && strcmp(sharing, "private") && strcmp(sharing, "locked"))
                return ib_err_set(err, EINVAL, "--mount=%s: sharing must be shared, private or locked", spec);
        if ((ms->mode && parse_u32(ms->mode, 07777, &mode) < 0) || (ms->uid && parse_u32(ms->uid, 0xfffffffe, &uid) < 0) ||
            (ms->gid && parse_u32(ms->gid, 0xfffffffe, &gid) < 0))
                return ib_err_set(err, EINVAL, "--mount=%s: bad mode, uid or gid", spec);
        if (ms->from || ms->source)
                return ib_err_set(err, ENOTSUP, "--mount=%s: seeding a cache mount (from=, source=) is not supported yet", spec);
        ib_sha256_hex(ms->id && *ms->id ? ms->id : ms->target, strlen(ms->id && *ms->id ? ms->id : ms->target), hex);
        base = ib_strdupf("%s/cache/mounts/%.32s", b->store->root, hex);
        if (ib_mkdir_p(base, 0755, err) < 0)      /* instance 0 lives in base itself */
                return -EIO;
        for (unsigned n = 0;; n++) {
                _cleanup_free_ char *inst = n ? ib_strdupf("%s-%u", base, n) : ib_strdup(base);
                _cleanup_free_ char *lock = ib_strdupf("%s.lock", inst);
                int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
                int how = !strcmp(sharing, "shared") ? LOCK_SH : LOCK_EX;
                if (fd < 0)
                        return ib_err_set(err, errno, "cache mount lock `%s`", lock);
                /* locked: wait for the holder; private: take a free instance */
                if (flock(fd, how | (!strcmp(sharing, "private") ? LOCK_NB : 0)) < 0) {
                        close(fd);
                        if (errno == EWOULDBLOCK && n < 64)
                                continue;
                        return ib_err_set(err, errno, "cache mount lock `%s`", lock);
                }
                rm->locks[rm->n_locks++] = fd;
                if (mkdir(inst, (mode_t) mode) == 0 || errno == EEXIST) {
                        struct stat st;
                        if (stat(inst, &st) == 0 && st.st_nlink == 2 && (ms->mode || ms->uid || ms->gid)) {
                                /* fresh and empty: give it the asked mode and owner */
                                (void) chown(inst, (uid_t) uid, (gid_t) gid);
                                (void) chmod(inst, (mode_t) mode);
                        }
                }
                dir = keep(rm, IB_TAKE_PTR(inst));
                break;
        }
        return add(rm, "bind", dir, ms->target, ms->ro, err) ? 0 : -E2BIG;
}

/* ------------------------------------------------------------------ bind */

static int bind_mount(struct build *b, struct ib_run_mounts *rm, const struct mspec *ms, const char *spec,
                      struct ib_err **err)
{
        _cleanup_free_ char *rel = ib_strdup(ms->source ? ms->source : "");
        const char *root = NULL;
        struct blayer *layers = NULL;
        size_t n = 0;

        for (char *p = rel; *p; p++)
                if (p[0] == '.' && p[1] == '.' && (p == rel || p[-1] == '/') && (p[2] == '/' || !p[2]))
                        return ib_err_set(err, EINVAL, "--mount=%s: source leaves its root", spec);
        if (ms->from && *ms->from) {
                long idx = -1;
                for (size_t i = 0; i < b->df->n_stages; i++) {
                        const struct ib_df_stage *ds = &b->df->stages[i];
                        char num[24];
                        snprintf(num, sizeof(num), "%zu", i);
                        if ((ds->name && !strcasecmp(ds->name, ms->from)) || !strcmp(num, ms->from))
                                idx = (long) i;
                }
                if (idx >= 0) {
                        if (!b->st[idx].done)
                                return ib_err_set(err, EINVAL, "--mount=%s: stage `%s` is not built", spec, ms->from);
                        layers = b->st[idx].layers;
                        n = b->st[idx].n_layers;
                } else {
                        struct named_ctx *nc = ib_build_named(b, ms->from);
                        struct base_image *bi;
                        if (nc && nc->kind == NCTX_DIR) {
                                root = nc->spec;
                        } else {
                                if (ib_build_resolve_base(b, ms->from, NULL, &bi, err) < 0)
                                        return -EIO;
                                layers = bi->layers;
                                n = bi->n_layers;
                        }
                }
        } else {
                root = ib_context_path(b->ctx);
        }
        if (root && !ms->rw) {
                const char *src = keep(rm, ib_path_join(root, rel));
                return add(rm, "bind", src, ms->target, true, err) ? 0 : -E2BIG;
        }
        /* A stage or image, or rw: an overlay view whose writes are thrown away. */
        {
                _cleanup_free_ char **lowers = ib_calloc(n + 2, sizeof(char *));
                size_t k = rm->n_views;
                if (k == IB_ELEMENTSOF(rm->views))
                        return ib_err_set(err, E2BIG, "too many RUN bind mounts");
                if (layers && ib_build_extract_layers(b, layers, n, err) < 0)
                        return -EIO;
                for (size_t i = 0; i < n; i++)
                        lowers[i] = layers[n - 1 - i].dir;
                if (root) {
                        lowers[0] = (char *) root;
                        n = 1;
                }
                rm->views[k].scratch = ib_store_tmp_path(b->store, "mount-view");
                rm->views[k].view = ib_store_tmp_path(b->store, "mount-root");
                if (ib_sandbox_mount_view((const char *const *) lowers, n, rm->views[k].scratch,
                                          rm->views[k].view, err) < 0) {
                        free(rm->views[k].scratch);
                        free(rm->views[k].view);
                        return -EIO;
                }
                rm->n_views++;
                const char *src = keep(rm, ib_path_join(rm->views[k].view, rel));
                return add(rm, "bind", src, ms->target, !ms->rw, err) ? 0 : -E2BIG;
        }
}

/* ---------------------------------------------------------------- secrets */

/* The value of a --secret given on the command line, or NULL. */
static char *secret_value(const struct build *b, const char *id, size_t *ret_len, struct ib_err **err)
{
        for (char **p = b->o->secrets; p && *p; p++) {
                _cleanup_free_ char *copy = ib_strdup(*p);
                const char *sid = NULL, *src = NULL, *env = NULL;
                char *save = NULL;
                for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
                        char *eq = strchr(f, '=');
                        if (!eq)
                                continue;
                        *eq = '\0';
                        if (!strcmp(f, "id"))
                                sid = eq + 1;
                        else if (!strcmp(f, "src") || !strcmp(f, "source"))
                                src = eq + 1;
                        else if (!strcmp(f, "env"))
                                env = eq + 1;
                }
                if (!sid || strcmp(sid, id))
                        continue;
                if (src) {
                        char *v = NULL;
                        if (ib_read_file(src, 1u << 20, &v, ret_len, err) < 0)
                                return ib_err_wrap(err, "--secret id=%s", id), NULL;
                        return v;
                }
                const char *v = getenv(env ? env : id);
                if (!v) {
                        ib_err_set(err, ENOENT, "--secret id=%s: environment variable %s is not set", id, env ? env : id);
                        return NULL;
                }
                *ret_len = strlen(v);
                return ib_strdup(v);
        }
        return NULL;
}

/* A tmpfs private to this process's mount namespace holds the secret files:
 * they never touch a disk, and vanish with the process. */
static int secret_dir(struct build *b, struct ib_run_mounts *rm, struct ib_err **err)
{
        if (rm->secret_dir)
                return 0;
        rm->secret_dir = ib_store_tmp_path(b->store, "secrets");
        if (mkdir(rm->secret_dir, 0700) < 0)
                return ib_err_set(err, errno, "mkdir `%s`", rm->secret_dir);
        if (mount("tmpfs", rm->secret_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700,size=16m") < 0) {
                int e = errno;
                (void) rmdir(rm->secret_dir);
                free(rm->secret_dir);
                rm->secret_dir = NULL;
                return ib_err_set(err, e, "mount a tmpfs for secrets");
        }
        return 0;
}

static int secret_mount(struct build *b, struct ib_run_mounts *rm, const struct mspec *ms, const char *spec,
                        struct ib_err **err)
{
        const char *id = ms->id && *ms->id ? ms->id : NULL;
        bool required = ms->required && strcmp(ms->required, "false");
        unsigned long mode = 0400, uid = 0, gid = 0;
        _cleanup_free_ char *value = NULL;
        size_t len = 0;

        if (!id && ms->target) {
                const char *slash = strrchr(ms->target, '/');
                id = slash ? slash + 1 : ms->target;
        }
        if (!id || !*id)
                return ib_err_set(err, EINVAL, "--mount=%s: a secret needs id= or target=", spec);
        if ((ms->mode && parse_u32(ms->mode, 07777, &mode) < 0) || (ms->uid && parse_u32(ms->uid, 0xfffffffe, &uid) < 0) ||
            (ms->gid && parse_u32(ms->gid, 0xfffffffe, &gid) < 0))
                return ib_err_set(err, EINVAL, "--mount=%s: bad mode, uid or gid", spec);
        value = secret_value(b, id, &len, err);
        if (!value) {
                if (*err)
                        return -ENOENT;
                if (required)
                        return ib_err_set(err, ENOENT, "secret `%s` is required but was not given (use --secret id=%s,src=FILE "
                                          "or id=%s,env=VAR)", id, id, id);
                return 0;
        }
        if (ms->env && *ms->env) {
                _cleanup_free_ char *kv = ib_strdupf("%s=%.*s", ms->env, (int) len, value);
                ib_strv_push(&rm->env, kv);
                explicit_bzero(kv, strlen(kv));
                if (!ms->target)
                        return 0;
        }
        if (secret_dir(b, rm, err) < 0)
                return -EIO;
        char *file = keep(rm, ib_strdupf("%s/%zu", rm->secret_dir, rm->n));
        _cleanup_close_ int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t) mode);
        if (fd < 0 || ib_write_all(fd, value, len) < 0 || fchown(fd, (uid_t) uid, (gid_t) gid) < 0 ||
            fchmod(fd, (mode_t) mode) < 0)
                return ib_err_set(err, errno, "secret `%s`: write its file", id);
        explicit_bzero(value, len);
        _cleanup_free_ char *target = ms->target ? ib_strdup(ms->target) : ib_strdupf("/run/secrets/%s", id);
        return add(rm, "bind", file, target, true, err) ? 0 : -E2BIG;
}

/* -------------------------------------------------------------------- ssh */

/* --ssh ID=KEYFILE: an ssh-agent of our own, for this build only, holding
 * that key (as BuildKit does).  Killed by PID when the build ends. */
static pid_t spawn(char *const *argv, const char *sock_env)
{
        pid_t pid = fork();
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null >= 0) {
                        dup2(null, STDIN_FILENO);
                        dup2(null, STDOUT_FILENO);
                }
                if (sock_env)
                        setenv("SSH_AUTH_SOCK", sock_env, 1);
                execvp(argv[0], argv);
                _exit(127);
        }
        return pid;
}

static const char *key_agent(struct build *b, const char *id, const char *keyfile, struct ib_err **err)
{
        struct ssh_agent *a;
        int st = 0;

        for (size_t i = 0; i < b->n_agents; i++)
                if (!strcmp(b->agents[i].id, id))
                        return b->agents[i].sock;
        if (b->n_agents == IB_ELEMENTSOF(b->agents)) {
                ib_err_set(err, E2BIG, "too many --ssh keys");
                return NULL;
        }
        a = &b->agents[b->n_agents];
        a->sock = ib_store_tmp_path(b->store, "ssh-agent");
        char *agent_argv[] = { (char *) "ssh-agent", (char *) "-D", (char *) "-a", a->sock, NULL };
        a->pid = spawn(agent_argv, NULL);
        if (a->pid < 0) {
                ib_err_set(err, errno, "--ssh %s: start ssh-agent", id);
                free(a->sock);
                return NULL;
        }
        a->id = ib_strdup(id);
        b->n_agents++;
        for (int i = 0; i < 100 && access(a->sock, F_OK) < 0; i++) {
                if (waitpid(a->pid, &st, WNOHANG) == a->pid) {
                        a->pid = 0;
                        ib_err_set(err, ENOENT, "--ssh %s=%s: ssh-agent did not start (is openssh-client installed?)",
                                   id, keyfile);
                        return NULL;
                }
                usleep(20000);
        }
        char *add_argv[] = { (char *) "ssh-add", (char *) "-q", (char *) keyfile, NULL };
        pid_t add = spawn(add_argv, a->sock);
        if (add < 0 || waitpid(add, &st, 0) != add || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                ib_err_set(err, EINVAL, "--ssh %s=%s: ssh-add refused the key (a private key, mode 0600, "
                           "without a passphrase?)", id, keyfile);
                return NULL;
        }
        return a->sock;
}

void ib_build_stop_agents(struct build *b, size_t first)
{
        for (size_t i = first; i < b->n_agents; i++) {
                if (b->agents[i].pid > 0) {
                        kill(b->agents[i].pid, SIGTERM);
                        waitpid(b->agents[i].pid, NULL, 0);
                }
                (void) unlink(b->agents[i].sock);
                free(b->agents[i].sock);
                free(b->agents[i].id);
        }
        b->n_agents = first < b->n_agents ? first : b->n_agents;
}

static int ssh_mount(struct build *b, struct ib_run_mounts *rm, const struct mspec *ms, const char *spec,
                     struct ib_err **err)
{
        const char *id = ms->id && *ms->id ? ms->id : "default";
        bool required = !ms->required || strcmp(ms->required, "false");
        const char *sock = NULL;

        for (char **p = b->o->ssh; p && *p && !sock; p++) {
                const char *eq = strchr(*p, '=');
                size_t n = eq ? (size_t) (eq - *p) : strlen(*p);
                if (strlen(id) != n || strncmp(*p, id, n))
                        continue;
                sock = eq ? eq + 1 : getenv("SSH_AUTH_SOCK");
        }
        if (!sock || !*sock) {
                if (required)
                        return ib_err_set(err, ENOENT, "--mount=%s: no ssh agent `%s` (give --ssh %s, --ssh %s=SOCKET "
                                          "or --ssh %s=KEYFILE)", spec, id, id, id, id);
                return 0;
        }
        struct stat st;
        if (stat(sock, &st) < 0)
                return ib_err_set(err, errno, "--ssh %s: `%s`", id, sock);
        if (S_ISREG(st.st_mode) && !(sock = key_agent(b, id, sock, err)))
                return -EIO;
        else if (!S_ISREG(st.st_mode) && !S_ISSOCK(st.st_mode))
                return ib_err_set(err, ENOTSOCK, "--ssh %s: `%s` is neither an agent socket nor a key file", id, sock);
        _cleanup_free_ char *target = ms->target ? ib_strdup(ms->target)
                                                 : ib_strdupf("/run/buildkit/ssh_agent.%zu", rm->n_ssh);
        _cleanup_free_ char *kv = ib_strdupf("SSH_AUTH_SOCK=%s", target);
        rm->n_ssh++;
        ib_strv_push(&rm->env, kv);
        return add(rm, "bind", keep(rm, ib_strdup(sock)), target, false, err) ? 0 : -E2BIG;
}

/* ----------------------------------------------------------------- public */

int ib_run_mounts_prepare(struct build *b, const struct ib_plan_step *st, struct ib_run_mounts *rm,
                          struct ib_err **err)
{
        memset(rm, 0, sizeof(*rm));
        for (size_t i = 0; i < st->n_flags; i++) {
                const struct ib_df_flag *f = &st->flags[i];
                _cleanup_free_ char *copy = NULL;
                struct mspec ms;
                int r;

                if (strcmp(f->name, "mount") != 0)
                        continue;
                copy = ib_strdup(f->value ? f->value : "");
                parse_spec(copy, &ms);
                if (strcmp(ms.type, "secret") && strcmp(ms.type, "ssh") && (!ms.target || !*ms.target))
                        return ib_err_set(err, EINVAL, "--mount=%s: no target", f->value ? f->value : "");
                if (!strcmp(ms.type, "cache"))
                        r = cache_mount(b, rm, &ms, f->value, err);
                else if (!strcmp(ms.type, "bind"))
                        r = bind_mount(b, rm, &ms, f->value, err);
                else if (!strcmp(ms.type, "tmpfs"))
                        r = add(rm, "tmpfs", NULL, ms.target, false, err) ? 0 : -E2BIG;
                else if (!strcmp(ms.type, "secret"))
                        r = secret_mount(b, rm, &ms, f->value, err);
                else if (!strcmp(ms.type, "ssh"))
                        r = ssh_mount(b, rm, &ms, f->value, err);
                else
                        r = ib_err_set(err, ENOTSUP, "--mount=type=%s is not supported", ms.type);
                if (r < 0)
                        return r;
        }
        return 0;
}

void ib_run_mounts_release(struct ib_run_mounts *rm)
{
        struct ib_err *e = NULL;

        for (size_t i = 0; i < rm->n_views; i++) {
                (void) ib_sandbox_unmount_view(rm->views[i].scratch, rm->views[i].view, &e);
                ib_err_free(&e);
                free(rm->views[i].scratch);
                free(rm->views[i].view);
        }
        if (rm->secret_dir) {
                (void) umount2(rm->secret_dir, MNT_DETACH);
                (void) rmdir(rm->secret_dir);
                free(rm->secret_dir);
        }
        for (size_t i = 0; i < rm->n_locks; i++)
                close(rm->locks[i]);
        for (char **p = rm->env; p && *p; p++)
                explicit_bzero(*p, strlen(*p));
        ib_strv_free(rm->env);
        ib_strv_free(rm->owned);
        memset(rm, 0, sizeof(*rm));
}
