/* tests/unit/test-dockerfile.c - the Dockerfile lexer and parser pieces:
 * continuations, comments, directives, heredocs, JSON form and its fallback,
 * flags, ENV/ARG words, stage grouping, and the plan API. */
#include "lib/ib.h"
#include "src/dockerfile.h"
#include "tests/lib/ib-test.h"

static struct ib_dockerfile *parse(const char *text)
{
        struct ib_dockerfile *df = NULL;
        struct ib_err *err = NULL;
        if (ib_dockerfile_parse("Dockerfile", text, strlen(text), &df, &err) < 0) {
                printf("# parse error: %s\n", err->msg);
                ib_err_free(&err);
                return NULL;
        }
        return df;
}

/* The error message of parsing @text, or NULL when it parses (caller frees). */
static char *parse_error(const char *text)
{
        struct ib_dockerfile *df = NULL;
        struct ib_err *err = NULL;
        if (ib_dockerfile_parse("Dockerfile", text, strlen(text), &df, &err) == 0) {
                ib_dockerfile_free(df);
                return NULL;
        }
        char *m = ib_strdup(err->msg);
        ib_err_free(&err);
        return m;
}

static void test_continuations(void)
{
        struct ib_dockerfile *df = parse("FROM a\n"
                                         "RUN one \\\n"
                                         "  # comment inside\n"
                                         "\n"
                                         "   \t\n"
                                         "  two \\  \t\n"
                                         "three\n"
                                         "LABEL x=1\n");
        IB_OK(df && df->n_instrs == 3, "comment and empty continuation lines are dropped, not instructions");
        if (!df)
                return;
        IB_STREQ(df->instrs[1].text, "one   two three", "continuation joins lines, keeps inner blanks, drops the escape and trailing blanks");
        IB_OK(df->instrs[1].line == 2 && df->instrs[1].end_line == 7, "an instruction spans its continuation lines (2..7)");
        IB_OK(df->instrs[2].line == 8, "the next instruction's line counts the continuation lines");
        ib_dockerfile_free(df);

        df = parse("FROM a\r\nRUN x \\\r\n y\r\n");
        IB_OK(df && strcmp(df->instrs[1].text, "x  y") == 0, "CRLF line endings with a continuation");
        ib_dockerfile_free(df);

        df = parse("FROM a\nRUN echo last \\");
        IB_OK(df && strcmp(df->instrs[1].text, "echo last") == 0, "a continuation at the end of the file ends the instruction");
        ib_dockerfile_free(df);

        df = parse("FROM a\nRUN echo a#b # not a comment\n");
        IB_OK(df && strcmp(df->instrs[1].text, "echo a#b # not a comment") == 0, "# after text is not a comment");
        ib_dockerfile_free(df);

        df = parse("  FROM a\n\tRUN x\n");
        IB_OK(df && df->instrs[0].col == 3 && df->instrs[1].col == 2, "columns count leading whitespace");
        ib_dockerfile_free(df);
}

static void test_directives(void)
{
        struct ib_dockerfile *df = parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  /b\n");
        IB_OK(df && df->escape == '`', "# escape=` sets the escape char");
        IB_OK(df && strcmp(df->instrs[1].text, "dir c:\\   /b") == 0, "backtick continues lines, backslash is literal");
        ib_dockerfile_free(df);

        df = parse("#   ESCAPE = `  \nFROM a\n");
        IB_OK(df && df->escape == '`', "directive names are case-insensitive, blanks allowed");
        ib_dockerfile_free(df);

        df = parse("# syntax=docker/dockerfile:1\nFROM a\n");
        IB_OK(df && df->syntax && strcmp(df->syntax, "docker/dockerfile:1") == 0, "# syntax= is accepted and recorded");
        ib_dockerfile_free(df);

        df = parse("FROM a\n# escape=`\nRUN a \\\n b\n");
        IB_OK(df && df->escape == '\\', "a directive after an instruction is a comment");
        ib_dockerfile_free(df);

        df = parse("\n# escape=`\nFROM a\n");
        IB_OK(df && df->escape == '\\', "a directive after an empty line is a comment");
        ib_dockerfile_free(df);

        df = parse("# unknown=x\n# escape=`\nFROM a\n");
        IB_OK(df && df->escape == '\\', "an unknown directive ends the directive block");
        ib_dockerfile_free(df);

        _cleanup_free_ char *e1 = parse_error("# escape=x\nFROM a\n");
        IB_STREQ(e1, "Dockerfile:1:1: invalid escape token 'x' does not match ` or \\", "a bad escape token is refused");
        _cleanup_free_ char *e2 = parse_error("# escape=`\n# escape=`\nFROM a\n");
        IB_STREQ(e2, "Dockerfile:2:1: only one escape parser directive can be used", "a repeated directive is refused");
}

static void test_heredocs(void)
{
        struct ib_dockerfile *df = parse("FROM a\n"
                                         "RUN <<EOF\n"
                                         "echo $X\n"
                                         "EOF\n"
                                         "RUN <<-'EOT' 2<<\"E2\"\n"
                                         "\tindented\n"
                                         "\tEOT\n"
                                         "two\n"
                                         "E2\n"
                                         "COPY <<one <<two /dst/\n"
                                         "1\n"
                                         "one\n"
                                         "2\n"
                                         "two\n"
                                         "RUN [\"x\", \"<<EOF\"]\n");
        IB_OK(df && df->n_instrs == 5, "heredoc bodies are not instructions");
        if (!df)
                return;
        const struct ib_df_instr *r = &df->instrs[1];
        IB_OK(r->n_heredocs == 1 && strcmp(r->heredocs[0].name, "EOF") == 0 && r->heredocs[0].expand &&
              !r->heredocs[0].chomp, "RUN <<EOF: name, expand, no chomp");
        IB_STREQ(r->heredocs[0].body, "echo $X\n", "the body keeps its newlines and is not expanded by the parser");
        IB_OK(r->end_line == 4, "the instruction ends at the terminator line");
        r = &df->instrs[2];
        IB_OK(r->n_heredocs == 2, "two heredocs on one line");
        IB_OK(r->heredocs[0].chomp && !r->heredocs[0].expand && strcmp(r->heredocs[0].name, "EOT") == 0,
              "<<-'EOT': chomp, quoted name disables expansion");
        IB_STREQ(r->heredocs[0].body, "\tindented\n", "the raw body keeps the tabs (chomp is applied later)");
        _cleanup_free_ char *ch = ib_df_heredoc_chomp(r->heredocs[0].body);
        IB_STREQ(ch, "indented\n", "ib_df_heredoc_chomp strips leading tabs");
        IB_OK(r->heredocs[1].fd == 2 && !r->heredocs[1].expand && strcmp(r->heredocs[1].body, "two\n") == 0,
              "2<<\"E2\": file descriptor, double-quoted name");
        r = &df->instrs[3];
        IB_OK(r->kind == IB_DF_COPY && r->n_heredocs == 2 && strcmp(r->heredocs[1].body, "2\n") == 0,
              "COPY <<one <<two /dst/ reads both bodies in order");
        IB_OK(df->instrs[4].json && df->instrs[4].n_heredocs == 0, "JSON form never has heredocs");
        ib_dockerfile_free(df);

        _cleanup_free_ char *e = parse_error("FROM a\nRUN <<EOF\nno end\n");
        IB_OK(e && strstr(e, "Dockerfile:2:1: unterminated heredoc"), "an unterminated heredoc names the instruction's line");
        _cleanup_free_ char *e2 = parse_error("FROM a\nCOPY x <<EOF\nEOF\n");
        IB_STREQ(e2, "Dockerfile:2:1: COPY cannot accept a heredoc as a destination", "heredoc as COPY destination");
}

static void test_json(void)
{
        char **v = NULL;
        IB_OK(ib_df_parse_json_array("[\"a\", \"b c\"]", &v) == 1 && v && strcmp(v[1], "b c") == 0 && !v[2],
              "a JSON string array");
        ib_strv_free(v);
        v = NULL;
        IB_OK(ib_df_parse_json_array("  [ ]  ", &v) == 1 && v && !v[0], "an empty array");
        ib_strv_free(v);
        v = NULL;
        IB_OK(ib_df_parse_json_array("[\"\\u00e9\\ud83d\\ude00\\n\"]", &v) == 1 && strcmp(v[0], "\xc3\xa9\xf0\x9f\x98\x80\n") == 0,
              "escapes and surrogate pairs decode to UTF-8");
        ib_strv_free(v);
        v = NULL;
        IB_OK(ib_df_parse_json_array("['a']", &v) == 0, "single quotes: not JSON (shell form)");
        IB_OK(ib_df_parse_json_array("[\"a\"] x", &v) == 0, "trailing text: not JSON (shell form)");
        IB_OK(ib_df_parse_json_array("[\"a\",]", &v) == 0, "trailing comma: not JSON (shell form)");
        IB_OK(ib_df_parse_json_array("[\"a\"", &v) == 0, "unterminated: not JSON");
        IB_OK(ib_df_parse_json_array("[\"\\u0000\"]", &v) == 0, "NUL escape: refused (shell form)");
        IB_OK(ib_df_parse_json_array("echo [1]", &v) == 0, "not starting with [: shell form");
        IB_OK(ib_df_parse_json_array("[1, \"a\"]", &v) == -1, "a number in the array: error");
        IB_OK(ib_df_parse_json_array("[\"a\", {\"k\": [true, null, -1.5e3]}]", &v) == -1, "nested values: valid JSON, not strings");

        struct ib_dockerfile *df = parse("FROM a\nCMD [\"echo\", 'x']\nENTRYPOINT [\"/bin/e\"]\n");
        IB_OK(df && !df->instrs[1].json && strcmp(df->instrs[1].text, "[\"echo\", 'x']") == 0,
              "CMD with invalid JSON falls back to shell form");
        IB_OK(df && df->instrs[2].json && strcmp(df->instrs[2].argv[0], "/bin/e") == 0, "ENTRYPOINT exec form");
        ib_dockerfile_free(df);
        _cleanup_free_ char *e = parse_error("FROM a\nRUN [\"a\", 1]\n");
        IB_STREQ(e, "Dockerfile:2:1: when using JSON array syntax, arrays must be comprised of strings only",
                 "non-string arrays are an error");
}

static void test_instructions(void)
{
        struct ib_dockerfile *df = parse("ARG BASE=alpine\n"
                                         "from $BASE AS Build\n"
                                         "env A=1 B=\"x y\"\n"
                                         "ENV LEGACY  two words\n"
                                         "ARG K1 K2=v2\n"
                                         "COPY --chown=1:2 --link --exclude=a --exclude=b s1 s2 /d/\n"
                                         "RUN --mount=type=cache,target=/c --network=none make\n"
                                         "ONBUILD RUN echo hi\n"
                                         "HEALTHCHECK --retries=2 CMD [\"true\"]\n"
                                         "FROM build\n");
        IB_OK(df != NULL, "a Dockerfile with most instruction forms parses");
        if (!df)
                return;
        IB_OK(df->n_meta_args == 1 && df->n_stages == 2, "one global ARG, two stages");
        IB_OK(df->stages[0].name && strcmp(df->stages[0].name, "build") == 0, "stage names are lowercased");
        IB_OK(df->stages[0].n_instrs == 7 && df->stages[1].n_instrs == 0, "instructions are grouped by stage");
        const struct ib_df_instr *in = df->stages[0].instrs[0];
        IB_OK(in->kind == IB_DF_ENV && strcmp(in->keyword, "env") == 0, "keywords are case-insensitive, kept as written");
        IB_OK(in->n_kv == 2 && strcmp(in->kv[1].value, "\"x y\"") == 0, "ENV values keep their quotes until expansion");
        in = df->stages[0].instrs[1];
        IB_OK(in->n_kv == 1 && strcmp(in->kv[0].key, "LEGACY") == 0 && strcmp(in->kv[0].value, "two words") == 0,
              "legacy ENV K V: the rest of the line is the value");
        in = df->stages[0].instrs[2];
        IB_OK(in->n_kv == 2 && in->kv[0].value == NULL && strcmp(in->kv[1].value, "v2") == 0, "ARG with and without default");
        in = df->stages[0].instrs[3];
        bool present = false;
        IB_OK(strcmp(ib_df_flag_get(in, "chown", NULL), "1:2") == 0 && ib_df_flag_get(in, "link", &present) && present,
              "COPY flags: string and boolean");
        IB_OK(in->n_flags == 4 && strcmp(in->args[2], "/d/") == 0, "repeatable --exclude, sources and dest");
        in = df->stages[0].instrs[4];
        IB_OK(in->n_flags == 2 && strcmp(in->text, "make") == 0, "RUN flags are removed from the command");
        in = df->stages[0].instrs[5];
        IB_OK(in->sub && in->sub->kind == IB_DF_RUN && strcmp(in->trigger, "RUN echo hi") == 0, "ONBUILD wraps a parsed instruction");
        in = df->stages[0].instrs[6];
        IB_OK(in->json && strcmp(in->args[0], "CMD") == 0 && strcmp(in->argv[0], "true") == 0, "HEALTHCHECK CMD exec form");
        ib_dockerfile_free(df);

        static const struct { const char *text, *err; } bad[] = {
                { "FROM a\nRUN --mount type=cache x\n", "Dockerfile:2:1: missing a value on flag: mount" },
                { "FROM a\nWORKDIR --x=1 /a\n", "Dockerfile:2:1: unknown flag: x" },
                { "FROM a\nCOPY --link=nope a b\n", "Dockerfile:2:1: expecting boolean value for flag link, not: nope" },
                { "FROM a\nFOO bar\n", "Dockerfile:2:1: unknown instruction: FOO" },
                { "FROM a\nENV A\n", "Dockerfile:2:1: ENV must have two arguments" },
                { "FROM a\nLABEL a=1 b\n", "Dockerfile:2:1: Syntax error - can't find = in \"b\". Must be of the form: name=value" },
                { "FROM a\nARG =1\n", "Dockerfile:2:1: ARG names can not be blank" },
                { "RUN x\n", "Dockerfile:1:1: no build stage in current context (RUN before the first FROM)" },
                { "# c\n\n", "Dockerfile:1:1: file with no instructions" },
                { "", "Dockerfile:1:1: the Dockerfile cannot be empty" },
                { "FROM a b\n", "Dockerfile:1:1: FROM requires either one or three arguments" },
                { "FROM a\nONBUILD ONBUILD RUN x\n", "Dockerfile:2:1: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed" },
        };
        for (size_t i = 0; i < IB_ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *e = parse_error(bad[i].text);
                IB_STREQ(e, bad[i].err, "error %zu", i);
        }
}

static void test_plan(void)
{
        struct ib_dockerfile *df = parse("ARG V=1\n"
                                         "FROM alpine:$V AS a\n"
                                         "ARG V\n"
                                         "ENV E=$V\n"
                                         "RUN echo $E\n"
                                         "FROM a AS b\n"
                                         "FROM busybox\n"
                                         "COPY --from=a /x /y\n");
        struct ib_plan *p = NULL;
        struct ib_err *err = NULL;
        char *args[] = { (char *) "V=2", NULL };
        struct ib_plan_opts o = { .build_args = args, .build_platform = "linux/amd64" };
        IB_OK(df && ib_plan_new(df, &o, &p, &err) == 0, "plan with a build arg");
        if (p) {
                IB_OK(p->n_stages == 2 && p->stages[0].index == 0 && p->stages[1].index == 2,
                      "unused stage b is pruned, build order kept");
                IB_STREQ(p->stages[0].base, "alpine:2", "FROM sees the global ARG with the --build-arg value");
                IB_STREQ(p->stages[0].steps[1].kv[0].value, "2", "ENV expands the re-declared ARG");
                IB_OK(p->stages[0].steps[2].env_mark == 2 && p->stages[0].n_vars == 2 &&
                      p->stages[0].vars[0].is_arg && !p->stages[0].vars[1].is_arg,
                      "RUN sees the ARG and ENV assignments before it");
                IB_OK(p->stages[1].steps[0].from_stage == 0, "COPY --from=a resolves to stage 0");
                struct ib_buf b = IB_BUF_INIT;
                ib_plan_to_json(p, &b);
                IB_OK(strstr(b.buf, "\"argv\":[\"/bin/sh\",\"-c\",\"echo $E\"]") != NULL, "JSON shows RUN's argv unexpanded");
                ib_buf_release(&b);
                ib_plan_free(p);
                p = NULL;
        }
        struct ib_plan_opts o2 = { .target = "nope" };
        IB_OK(df && ib_plan_new(df, &o2, &p, &err) < 0 && strstr(err->msg, "target stage \"nope\" could not be found"),
              "an unknown target is an error");
        ib_err_free(&err);
        ib_dockerfile_free(df);
}

/* Stages with several children link to their base's variables; deep link
 * chains are flattened.  Values must be the same either way. */
static void test_plan_scopes(void)
{
        struct ib_buf b = IB_BUF_INIT;
        const int depth = 80;

        ib_buf_adds(&b, "FROM alpine AS s0\nENV V0=x\n");
        for (int i = 1; i <= depth; i++) {
                ib_buf_addf(&b, "FROM s%d AS s%d\nENV V%d=${V%d}x\n", i - 1, i, i, i - 1);
                ib_buf_addf(&b, "FROM s%d AS t%d\nENV SIB=t%d\n", i - 1, i, i);
        }
        ib_buf_addf(&b, "FROM s%d\nLABEL v=$V%d sib=$SIB\n", depth, depth);
        for (int i = 1; i <= depth; i++)
                ib_buf_addf(&b, "COPY --from=t%d /x /x\n", i);
        struct ib_dockerfile *df = parse(b.buf);
        ib_buf_release(&b);
        struct ib_plan *p = NULL;
        struct ib_err *err = NULL;
        IB_OK(df && ib_plan_new(df, NULL, &p, &err) == 0, "plan %d levels of stages with two children each", depth);
        if (p) {
                const struct ib_plan_stage *last = &p->stages[p->n_stages - 1];
                const struct ib_plan_step *label = &last->steps[0];
                _cleanup_free_ char *want = ib_calloc(1, (size_t) depth + 2);
                memset(want, 'x', (size_t) depth + 1);
                IB_OK(p->n_stages == (size_t) (2 * depth + 2), "every stage is needed");
                IB_STREQ(label->kv[0].value, want, "a variable built over %d linked/flattened scopes", depth);
                IB_STREQ(label->kv[1].value, "", "a sibling stage's ENV is not visible");
                ib_plan_free(p);
        }
        ib_err_free(&err);
        ib_dockerfile_free(df);
}

int main(void)
{
        test_continuations();
        test_directives();
        test_heredocs();
        test_json();
        test_instructions();
        test_plan();
        test_plan_scopes();
        return ib_t_done();
}
