/* src/dockerfile.h - the Dockerfile front end: lexer, parser, stage graph and
 * the expanded build plan, with BuildKit's semantics.
 *
 * Two layers, both owned by the caller and freed with their _free function:
 *
 *   struct ib_dockerfile  what the file SAYS: every instruction with its source
 *                         position, raw text, flags and parsed arguments, grouped
 *                         into stages.  No variable is expanded here.
 *                         (ib_dockerfile_parse, src/dockerfile.c)
 *
 *   struct ib_plan        what a build WILL DO for one --target and set of
 *                         --build-arg values: the stages the target needs, in
 *                         build order, each step expanded as BuildKit expands it
 *                         (ib_plan_new, src/stages.c).  Steps point back at their
 *                         instruction, so unexpanded text is never lost.
 *
 * Errors carry "PATH:LINE:COL: message" (errnum 0), PATH as given by the caller.
 *
 * ---- What is expanded (BuildKit) ----------------------------------------------
 *   FROM base and --platform: with the global ARGs (those before the first FROM,
 *     with --build-arg overrides) and the automatic platform ARGs;
 *   ADD COPY (sources, dest, --chown; ADD --checksum), ENV LABEL (keys and
 *     values), EXPOSE, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG defaults and
 *     RUN --mount field values: with the stage's variables (ENV and ARG values
 *     set so far in the stage, last writer wins, base image ENV first);
 *   COPY/ADD heredoc bodies without a quoted delimiter: variables only, quotes
 *     kept (BuildKit's "raw" expansion);
 *   NOT expanded: RUN CMD ENTRYPOINT SHELL HEALTHCHECK text (the shell does it at
 *     run time, with the ARG values in its environment), COPY --from, --chmod,
 *     ONBUILD triggers (expanded when they fire), MAINTAINER, ARG names.
 * All of one ENV/LABEL line is expanded against the variables BEFORE that line
 * (ENV a=1 b=$a sees the old a); ARG pairs are processed one by one.
 */
#ifndef IB_DOCKERFILE_H
#define IB_DOCKERFILE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ib_err;
struct ib_buf;

/* An error message of the front end ("FILE:LINE:COL: ...") quotes the
 * instruction or word at fault; beyond this many bytes its middle is elided
 * (a hostile 10 MB line must not become a 10 MB message). */
#define IB_DF_MSG_MAX 1024

enum ib_df_kind {
        IB_DF_FROM, IB_DF_RUN, IB_DF_CMD, IB_DF_ENTRYPOINT, IB_DF_SHELL, IB_DF_ENV,
        IB_DF_ARG, IB_DF_LABEL, IB_DF_EXPOSE, IB_DF_VOLUME, IB_DF_WORKDIR, IB_DF_USER,
        IB_DF_COPY, IB_DF_ADD, IB_DF_STOPSIGNAL, IB_DF_HEALTHCHECK, IB_DF_ONBUILD,
        IB_DF_MAINTAINER,
        IB_DF__MAX
};
/* "RUN", "COPY", ... */
const char *ib_df_kind_name(enum ib_df_kind k);

/* A --name[=value] flag, quotes removed (BuildKit's extractBuilderFlags).
 * value is NULL for a bare boolean flag (--link). */
struct ib_df_flag {
        char *name;
        char *value;
};

/* ENV/LABEL/ARG pair.  value is NULL only for ARG without a default.
 * Text is raw (quotes and escapes still in); the plan expands it. */
struct ib_df_kv {
        char *key;
        char *value;
};

/* A heredoc (<<EOF, <<-EOF, <<"EOF").  body holds the lines between the
 * instruction and the terminator, each with its '\n', exactly as in the file
 * (no tab stripping yet: chomp says to strip leading tabs, see
 * ib_df_heredoc_chomp). expand is false when any part of the delimiter was
 * quoted. fd is the optional leading digit (2<<EOF), 0 when absent. */
struct ib_df_heredoc {
        char *name;
        char *body;
        bool expand;
        bool chomp;
        unsigned fd;
};

/* One instruction.  Which argument fields are used:
 *   RUN CMD ENTRYPOINT   json ? argv : text (shell form, unexpanded)
 *   SHELL                argv (JSON form is required)
 *   HEALTHCHECK          args[0] = "NONE" or "CMD"; for CMD: json ? argv : text;
 *                        flags --interval --timeout --start-period
 *                        --start-interval --retries
 *   FROM                 args = whitespace-split words: base [AS name]
 *   COPY ADD VOLUME      args (JSON array, or whitespace-split words); for COPY
 *                        and ADD the last is the destination, the others the
 *                        sources; a source "<<EOF" names a heredoc
 *   EXPOSE               args (whitespace-split words, unexpanded)
 *   ENV LABEL ARG        kv (ENV/LABEL: legacy "K V" gives one pair)
 *   WORKDIR USER STOPSIGNAL MAINTAINER   text (the rest of the line)
 *   ONBUILD              sub: the wrapped instruction, fully parsed
 * Unused pointers are NULL, unused counts 0. */
struct ib_df_instr {
        enum ib_df_kind kind;
        char *keyword;          /* as written ("run", "Run", ...) */
        unsigned line;          /* 1-based line of the keyword */
        unsigned col;           /* 1-based column of the keyword */
        unsigned end_line;      /* last line, continuations and heredocs included */
        char *raw;              /* the logical line: continuations joined, comment
                                 * lines dropped (BuildKit's Node.Original) */
        struct ib_df_flag *flags;
        size_t n_flags;
        bool json;              /* exec (JSON array) form */
        char **argv;            /* NULL-terminated, JSON form / SHELL */
        char *text;             /* shell form / single-string instructions */
        char **args;            /* NULL-terminated word list */
        struct ib_df_kv *kv;
        size_t n_kv;
        struct ib_df_heredoc *heredocs;
        size_t n_heredocs;
        struct ib_df_instr *sub;        /* ONBUILD: the trigger */
        char *trigger;          /* ONBUILD: the expression stored in the image
                                 * config (the raw line minus "ONBUILD", heredoc
                                 * bodies appended as BuildKit does) */
};

/* The value of flag @name (last one wins), or NULL.  *ret_present (may be NULL)
 * tells a bare --name from an absent one. */
const char *ib_df_flag_get(const struct ib_df_instr *in, const char *name, bool *ret_present);
/* The exec-form test (Go's encoding/json grammar): returns 1 and *ret (a
 * NULL-terminated vector) for a JSON array of strings, 0 when @s is not valid
 * JSON (Docker then uses the shell form), -1 for a valid array holding
 * something else than strings (an error). */
int ib_df_parse_json_array(const char *s, char ***ret);
/* Copy of @body with leading tabs removed from every line (<<- heredocs). */
char *ib_df_heredoc_chomp(const char *body);

struct ib_df_stage {
        size_t index;
        char *name;             /* lowercased "AS" name, or NULL */
        struct ib_df_instr *from;       /* the FROM instruction */
        struct ib_df_instr **instrs;    /* the instructions after FROM (borrowed) */
        size_t n_instrs;
};

struct ib_dockerfile {
        char *path;             /* for messages, as given */
        char escape;            /* '\\' or '`' (# escape=) */
        char *syntax;           /* # syntax= value (ignored), or NULL */
        struct ib_df_instr *instrs;     /* every instruction in file order (owned) */
        size_t n_instrs;
        struct ib_df_instr **meta_args; /* ARGs before the first FROM (borrowed) */
        size_t n_meta_args;
        struct ib_df_stage *stages;
        size_t n_stages;
};

/* Parse @len bytes of @data (need not be NUL-terminated).  @path names the file
 * in messages.  Checks everything that does not need variable values: syntax,
 * instruction names, flags per instruction, argument counts, stage names. */
int ib_dockerfile_parse(const char *path, const char *data, size_t len,
                        struct ib_dockerfile **ret, struct ib_err **err);
void ib_dockerfile_free(struct ib_dockerfile *df);
static inline void ib_dockerfile_freep(struct ib_dockerfile **df) { if (*df) ib_dockerfile_free(*df); }

/* ------------------------------------------------------------------ plan */

/* Lookup of a base image's config Env ("K=V" vector) for stage expansion.  The
 * build engine resolves images first and supplies this; `imgbuild plan` passes
 * NULL and so sees no base image variables (PATH gets BuildKit's default). */
typedef char **(*ib_plan_base_env_fn)(const char *image, const char *platform, void *userdata);

struct ib_plan_opts {
        const char *target;             /* stage name; NULL: the last stage */
        char *const *build_args;        /* "K=V" vector (may be NULL) */
        const char *target_platform;    /* "os/arch[/variant]"; NULL: the build platform */
        const char *build_platform;     /* NULL: the host's (uname) */
        ib_plan_base_env_fn base_env;
        void *base_env_userdata;
};

/* One step of a planned stage: an instruction with everything expanded. */
struct ib_plan_step {
        const struct ib_df_instr *in;
        bool onbuild;           /* a trigger of the parent stage's ONBUILD */
        /* Expanded words: COPY/ADD sources + dest, VOLUME, EXPOSE ports (normalized
         * "80/tcp", sorted, ranges unrolled), WORKDIR/USER/STOPSIGNAL (one word),
         * SHELL argv, HEALTHCHECK test ("NONE" | "CMD" argv | "CMD-SHELL" text),
         * RUN/CMD/ENTRYPOINT: the full argv, shell form prefixed by the stage's
         * SHELL (default /bin/sh -c); a RUN whose command is a heredoc gets
         * BuildKit's treatment (body run by the shell, or as a script when it
         * starts with #!; several heredocs: the line plus bodies for the shell). */
        char **words;
        struct ib_df_kv *kv;    /* ENV/LABEL expanded; ARG resolved (value NULL: unset) */
        size_t n_kv;
        struct ib_df_flag *flags;       /* flags, the expanded ones expanded */
        size_t n_flags;
        char **heredoc_bodies;  /* COPY/ADD: per heredoc, chomped and expanded */
        long from_stage;        /* COPY --from / RUN --mount from= a stage: its index; else -1 */
        char *from_image;       /* COPY --from naming an image (not a stage), or NULL */
        int64_t hc[4];          /* HEALTHCHECK interval, timeout, start-period, start-interval (ns) */
        long hc_retries;
        size_t env_mark;        /* the stage's variables visible to this step:
                                 * ib_plan_stage.vars[0 .. env_mark) */
};

/* A variable assignment in a stage, in order (ENV, or ARG with a value). */
struct ib_plan_var {
        char *key;
        char *value;
        bool is_arg;
};

struct ib_plan_stage {
        size_t index;           /* index in the Dockerfile */
        const struct ib_df_stage *st;
        char *base;             /* FROM after expansion */
        long base_stage;        /* FROM <earlier stage>: its index; else -1 */
        char *platform;         /* --platform after expansion, or NULL */
        struct ib_plan_step *steps;
        size_t n_steps;
        struct ib_plan_var *vars;       /* this stage's assignments in order; a RUN
                                         * sees the fold of vars[0..env_mark) over
                                         * the base: the base image's Env, or for
                                         * FROM <stage> that stage's variables */
        size_t n_vars;
        char **shell;           /* the SHELL in effect at the end (NULL: default) */
};

struct ib_plan {
        const struct ib_dockerfile *df;
        size_t target;                  /* Dockerfile index of the target stage */
        struct ib_plan_stage *stages;   /* needed stages, build order (ascending index) */
        size_t n_stages;
        char **global_args;             /* "K=V": platform ARGs + meta ARGs, as FROM sees them */
        char **proxy_env;               /* "K=V": proxy --build-args a RUN gets anyway */
        char **unused_build_args;       /* --build-arg names no ARG consumed (sorted) */
};

/* Build the plan.  Errors: unknown --target, COPY --from a later stage or an
 * invalid index, circular stage references, expansion errors, bad EXPOSE /
 * STOPSIGNAL / HEALTHCHECK / --mount values, all at PATH:LINE:COL. */
int ib_plan_new(const struct ib_dockerfile *df, const struct ib_plan_opts *opts,
                struct ib_plan **ret, struct ib_err **err);
void ib_plan_free(struct ib_plan *p);
static inline void ib_plan_freep(struct ib_plan **p) { if (*p) ib_plan_free(*p); }

/* The plan as JSON (the shape is documented in imgbuild-plan(1)); deterministic. */
void ib_plan_to_json(const struct ib_plan *p, struct ib_buf *out);
/* Human-readable: one line per stage, then "LINE: INSTRUCTION expanded" per step. */
void ib_plan_to_text(const struct ib_plan *p, struct ib_buf *out);

/* The host's platform as BuildKit formats it ("linux/amd64", "linux/arm/v7"). */
char *ib_host_platform(void);

#endif
