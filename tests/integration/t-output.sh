#!/bin/bash
# What a build shows (issue 9 "Output"): plain step lines and the summary,
# --log-format=json (every stderr line a JSON object with the documented
# fields; step, progress and summary events), the terminal renderer under a
# real pty (redraws, bars, CACHED), NO_COLOR, -q, -v debug after the verb,
# and the exit status (a RUN's own, 1, 2).  Root and the unprivileged user.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"

have_userns || skip_all "user namespaces unavailable"
is_root || skip_all "needs root to create the unprivileged test user"
command -v umoci >/dev/null && command -v skopeo >/dev/null || skip_all "umoci and skopeo are needed"
command -v script >/dev/null || skip_all "script (bsdutils) is needed for the pty tests"
setup_test_user || skip_all "cannot create the test user"
BB=$IB_TMP/bb
make_busybox_layout "$BB" latest >/dev/null 2>&1 || skip_all "cannot make the busybox base"
chmod -R a+rX "$BB"

# bld MODE DIR ARGS...: stdout in DIR/out, stderr in DIR/err, status in $rc.
bld() {
        local mode=$1 dir=$2; shift 2
        if [ "$mode" = root ]; then
                ( cd "$dir" && "$IMGBUILD" build --root "$dir/store" --build-context base=oci-layout://"$BB" \
                        "$@" ) >"$dir/out" 2>"$dir/err"
        else
                as_user "$IB_TEST_USER" sh -c 'cd "$1" && shift && exec "$@"' sh "$dir" \
                        env ${NO_COLOR:+NO_COLOR=$NO_COLOR} "$IMGBUILD_USER_BIN" build --root "$dir/store" \
                        --build-context base=oci-layout://"$BB" "$@" >"$dir/out" 2>"$dir/err"
        fi
        rc=$?
}
# json_check FILE: every line is a JSON object with time, level and event.
json_check() {
        python3 -c '
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    o = json.loads(line)
    assert isinstance(o, dict), n
    for k in ("time", "level", "event"):
        assert k in o, (n, k, line)
    assert o["level"] in ("error", "warn", "info", "debug", "trace"), line
' "$1"
}
# json_q FILE EXPR: evaluate EXPR over ev (the list of events).
json_q() {
        python3 -c 'import json, sys; ev = [json.loads(l) for l in open(sys.argv[1])]; print(eval(sys.argv[2]))' "$1" "$2"
}
# pty CMD: run CMD under a pseudo-terminal (script(1)); its output on stdout.
pty() { TERM=xterm script -qfec "$1" /dev/null; }

for mode in root user; do
        d=$(user_dir); mkdir -p "$d/ctx"
        cat >"$d/ctx/Dockerfile" <<'EOF'
FROM base
RUN echo run-says-hello; echo run-on-stderr >&2
COPY Dockerfile /df
ENV A=1
RUN echo layered > /made
EOF
        chown -R "$IB_TEST_USER" "$d"

        bld $mode "$d" --no-push --digest-file "$d/digest" ctx
        is "$rc" 0 "$mode: plain build"
        like "$(cat "$d/err")" "imgbuild [^ ]*: privilege mode [a-z-]+ .*; store .*; [0-9]+ CPUs" \
                "$mode: the privilege mode, store and CPUs at the top"
        like "$(cat "$d/err")" '\[stage-0 2/5\] RUN echo run-says-hello' "$mode: plain: a line per step"
        like "$(cat "$d/err")" '  => [0-9.]+s' "$mode: plain: the step's time"
        like "$(cat "$d/err")" 'built sha256:[0-9a-f]{64} in [0-9.]+s \(4 steps, 0 cached; 2 layers new' \
                "$mode: plain: the summary line"
        like "$(cat "$d/err")" 'image sha256:[0-9a-f]{64}: [0-9.]+ [kM]?B, 3 layers; stages: stage-0 [0-9.]+s' \
                "$mode: plain: size, layers, time per stage"
        ok "$mode: plain: no ESC byte" sh -c "! grep -q \$'\\033' '$d/err'"
        like "$(cat "$d/out")" 'run-says-hello' "$mode: plain: RUN stdout as before"

        d2=$(user_dir); mkdir -p "$d2/ctx"; cp "$d/ctx/Dockerfile" "$d2/ctx/"; chown -R "$IB_TEST_USER" "$d2"
        bld $mode "$d2" --no-push --log-format=json --digest-file "$d2/digest" ctx
        is "$rc" 0 "$mode: json build"
        ok "$mode: json: every stderr line is a JSON object with time, level, event" json_check "$d2/err"
        is "$(json_q "$d2/err" 'len([e for e in ev if e["event"] == "step_end"])')" 5 "$mode: json: a step_end per step"
        is "$(json_q "$d2/err" 'sorted(set(e["cache"] for e in ev if e["event"] == "step_end"))')" "['built']" \
                "$mode: json: step_end says built"
        is "$(json_q "$d2/err" '[e for e in ev if e["event"] == "step_end" and e["index"] == 5][0]["layer"][:7]')" \
                "sha256:" "$mode: json: step_end names the new layer"
        is "$(json_q "$d2/err" '[e["text"] for e in ev if e["event"] == "output"]')" \
                "['run-says-hello', 'run-on-stderr']" "$mode: json: RUN output as output events"
        is "$(json_q "$d2/err" '[e for e in ev if e["event"] == "summary"][0]["digest"]')" "$(cat "$d2/digest")" \
                "$mode: json: the summary's digest is the --digest-file's"
        is "$(json_q "$d2/err" 'sorted([e for e in ev if e["event"] == "summary"][0]["phases"])')" \
                "['compress', 'extract', 'pull', 'push', 'resolve', 'run', 'snapshot']" "$mode: json: phases in the summary"
        is "$(json_q "$d2/err" '[e for e in ev if e["event"] == "build_start"][0]["mode"]')" \
                "$([ $mode = root ] && echo root || echo rootless)" "$mode: json: build_start names the mode"
        is "$(cat "$d2/out")" "$(cat "$d2/digest")" "$mode: json: stdout holds the digest alone"
        bld $mode "$d2" --no-push --log-format=json ctx
        is "$(json_q "$d2/err" 'sorted(set(e["cache"] for e in ev if e["event"] == "step_end" and e["index"] > 1))')" \
                "['CACHED']" "$mode: json: a rebuild's step_end events say CACHED"

        mkdir -p "$d/fail" "$d/syntax"; printf 'FROM base\nRUN echo about-to-fail; exit 7\n' >"$d/fail/Dockerfile"
        printf 'FROM base\nFROBNICATE x\n' >"$d/syntax/Dockerfile"; chown -R "$IB_TEST_USER" "$d/fail" "$d/syntax"
        # the rest of the CLI behaviour does not depend on the mode: root only, to keep the file fast
        if [ $mode = root ]; then
        bld $mode "$d" --no-push -q --digest-file "$d/digest" ctx
        is "$rc" 0 "$mode: -q build"
        is "$(cat "$d/out")" "$(cat "$d/digest")" "$mode: -q prints only the image digest"

        bld $mode "$d" --no-push --log-format=json fail
        is "$rc" 7 "$mode: json: RUN exit 7 -> 7"
        is "$(json_q "$d/err" '[e["msg"][-13:] for e in ev if e["event"] == "error"]')" "['exit status 7']" \
                "$mode: json: the failure is an error event"
        bld $mode "$d" --no-push syntax
        is "$rc" 1 "$mode: a Dockerfile syntax error -> 1"
        bld $mode "$d" --no-such-flag ctx
        is "$rc" 2 "$mode: an unknown flag -> 2"
        bld $mode "$d" --progress=sideways ctx
        is "$rc" 2 "$mode: a bad --progress value -> 2"
        fi
        bld $mode "$d" --no-push fail
        is "$rc" 7 "$mode: RUN exit 7 -> exit status 7"
        like "$(cat "$d/err")" 'RUN echo about-to-fail; exit 7: exit status 7' "$mode: the failing RUN is named"

        bld $mode "$d" --no-push -v debug ctx
        like "$(cat "$d/err")" 'debug: privilege mode: ' "$mode: -v debug after the verb explains the privilege mode"
        like "$(cat "$d/err")" 'debug: registry config: ' "$mode: -v debug names the registry config file"
        like "$(cat "$d/err")" 'debug: cache key: \+ RUN' "$mode: -v debug shows the cache key inputs"
        like "$(cat "$d/err")" 'debug: phases: resolve [0-9.]+s pull' "$mode: -v debug: time per phase in the summary"
done

# Stages built at once (forked builders): their events stay whole lines.
d=$(user_dir); mkdir -p "$d/ctx"
printf 'FROM base AS a\nRUN echo from-a > /a\nFROM base AS b\nRUN echo from-b > /b\nFROM base\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n' >"$d/ctx/Dockerfile"
bld root "$d" --no-push --jobs 2 --log-format=json ctx
is "$rc" 0 "--jobs 2: json build"
ok "--jobs 2: every line parses" json_check "$d/err"
is "$(json_q "$d/err" 'sorted(s["name"] for s in [e for e in ev if e["event"] == "summary"][0]["stages"])')" \
        "['a', 'b', 'stage-2']" "--jobs 2: time per stage, forked ones too"
is "$(json_q "$d/err" '[e for e in ev if e["event"] == "summary"][0]["phases"]["run"] > 0')" True \
        "--jobs 2: the forked stages' phase times reach the summary"

# Kaniko's spelling with no verb, global options first.
d=$(user_dir); mkdir -p "$d/ctx"; printf 'FROM base\nRUN echo k\n' >"$d/ctx/Dockerfile"
( cd "$d" && "$IMGBUILD" --verbosity=debug --context dir://ctx --root "$d/store" \
        --build-context base=oci-layout://"$BB" --no-push --log-format json ) >"$d/out" 2>"$d/err"
is "$?" 0 "no verb: --verbosity then Kaniko's flags is a build"
is "$(json_q "$d/err" 'len([e for e in ev if e["level"] == "debug"]) > 0 and ev[-1]["event"]')" summary \
        "no verb: --verbosity=debug and --log-format json taken"

# The terminal renderer, under a real pty.
d=$(user_dir); mkdir -p "$d/ctx"
printf 'FROM base\nRUN echo tty-run-output\nRUN echo two > /two\n' >"$d/ctx/Dockerfile"
B="$IMGBUILD build --root $d/store --build-context base=oci-layout://$BB --no-push $d/ctx"
pty "$B" >"$d/tty1" 2>&1
ok "tty: colour (SGR) sequences" grep -q $'\033\\[1m' "$d/tty1"
ok "tty: a step line rewritten with its time (cursor up, erase line)" grep -q $'\033\\[1A\r\033\\[K' "$d/tty1"
like "$(cat "$d/tty1")" '    .*tty-run-output' "tty: RUN output indented"
like "$(cat "$d/tty1")" 'built sha256:' "tty: the summary"
pty "$B" >"$d/tty2" 2>&1
like "$(cat "$d/tty2")" 'CACHED .*\[stage-0 2/3\]' "tty: CACHED marks"
NO_COLOR=1 pty "$B" >"$d/tty3" 2>&1
ok "tty with NO_COLOR: no colour sequence" sh -c "! grep -q \$'\\033\\\\[[0-9;]*m' '$d/tty3'"
like "$(cat "$d/tty3")" 'CACHED \[stage-0 2/3\]' "tty with NO_COLOR: still CACHED"
pty "$B --progress=plain" >"$d/tty4" 2>&1
ok "--progress=plain on a pty: no ESC byte" sh -c "! grep -q \$'\\033' '$d/tty4'"

# Pull and push progress from a real registry.
if start_registry; then
        skopeo copy -q --dest-tls-verify=false "oci:$BB:latest" "docker://$REGISTRY/bb:1" >/dev/null 2>&1
        r=$(user_dir); mkdir -p "$r/big" "$r/ctx"
        # a base with a 24 MB layer, so a pull has something to show
        printf 'FROM %s/bb:1\nRUN head -c 24000000 /dev/urandom > /big\n' "$REGISTRY" >"$r/big/Dockerfile"
        "$IMGBUILD" build --root "$r/s0" -d "$REGISTRY/big:1" "$r/big" >/dev/null 2>&1
        ok "push a base with a big layer" test $? = 0
        printf 'FROM %s/big:1\nRUN echo x > /x\n' "$REGISTRY" >"$r/ctx/Dockerfile"
        "$IMGBUILD" build --root "$r/s1" --log-format=json -d "$REGISTRY/out:1" --digest-file "$r/digest" \
                "$r/ctx" >"$r/out" 2>"$r/err"
        ok "json: a build that pulls and pushes" test $? = 0
        ok "json: every line parses" json_check "$r/err"
        # (bytes-so-far events are throttled: on loopback a blob may need none)
        is "$(json_q "$r/err" '{"start", "done"} <= set(e["state"] for e in ev if e["event"] == "progress" and e["op"] == "pull" and e["total"] > 20000000)')" \
                True "json: pull progress events (start, done) for the big layer"
        is "$(json_q "$r/err" 'len([e for e in ev if e["event"] == "progress" and e["op"] == "push" and e["state"] == "done"]) > 0')" \
                True "json: push progress events"
        # at most 4 progress events a second per blob, plus start and end
        is "$(json_q "$r/err" 'max([sum(1 for e in ev if e["event"] == "progress" and e["state"] == "progress" and e.get("digest") == d) for d in set(e.get("digest") for e in ev if e["event"] == "progress")] + [0]) <= 4 * (1 + int(sum(e["seconds"] for e in ev if e["event"] == "summary")))')" \
                True "json: progress throttled"
        is "$(json_q "$r/err" '[e for e in ev if e["event"] == "summary"][0]["digest"]')" "$(cat "$r/digest")" \
                "json: the summary's digest after a push"
        "$IMGBUILD" pull --root "$r/s4" --log-format=json "$REGISTRY/big:1" >"$r/pout" 2>"$r/perr"
        ok "pull --log-format=json: every line parses" json_check "$r/perr"
        is "$(json_q "$r/perr" 'len([e for e in ev if e["event"] == "progress" and e["state"] == "done"]) >= 2')" True \
                "pull --log-format=json: progress events"
        pty "$IMGBUILD build --root $r/s2 --no-push $r/ctx" >"$r/tty" 2>&1
        like "$(cat "$r/tty")" 'pull [0-9a-f]{12} \[[#-]{20}\] ' "tty: a progress bar during the pull"
        ok "tty: bars redrawn in place (cursor up, erase down)" grep -q $'\033\\[[0-9]*A\r\033\\[J' "$r/tty"
        pty "$IMGBUILD build --root $r/s3 --no-push --progress=plain $r/ctx" >"$r/plain" 2>&1
        ok "--progress=plain: no bars during the pull" sh -c "! grep -q 'pull [0-9a-f]\\{12\\} \\[' '$r/plain'"
else
        skip "docker-registry cannot be started: no pull/push progress tests"
fi

ok "--help lists --progress and --log-format" sh -c "'$IMGBUILD' build --help | grep -q -- '--progress auto|tty|plain' && '$IMGBUILD' build --help | grep -q -- '--log-format text|json'"
done_testing
