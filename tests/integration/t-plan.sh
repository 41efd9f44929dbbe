#!/bin/bash
# imgbuild plan: the Dockerfile corpus (tests/dockerfiles), the command line,
# and bounded time/memory on huge inputs.
#
# Corpus layout: NAME.Dockerfile, with NAME.json (expected `plan --format json`
# output, byte for byte) or NAME.err (expected stderr, exit status 1), and an
# optional NAME.args (extra options, shell words).  Each case runs as
# `imgbuild plan --format json -f Dockerfile` in a directory of its own, so
# messages name "Dockerfile"; the build platform is pinned to linux/amd64.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"

corpus=$IB_SRCDIR/tests/dockerfiles
n_cases=0
for df in "$corpus"/*.Dockerfile; do
        name=$(basename "$df" .Dockerfile)
        n_cases=$((n_cases + 1))
        dir=$IB_TMP/case-$name
        mkdir -p "$dir"
        cp "$df" "$dir/Dockerfile"
        args=()
        [ -f "$corpus/$name.args" ] && eval "args=($(cat "$corpus/$name.args"))"
        (cd "$dir" && IMGBUILD_BUILD_PLATFORM=linux/amd64 "$IMGBUILD" plan --format json -f Dockerfile "${args[@]}" \
                >"$dir/out" 2>"$dir/err")
        rc=$?
        if [ -f "$corpus/$name.json" ]; then
                if [ $rc = 0 ] && cmp -s "$dir/out" "$corpus/$name.json"; then
                        _tap_point 0 "corpus $name: plan matches $name.json"
                else
                        _tap_point 1 "corpus $name: plan matches $name.json"
                        diag "exit status $rc" "$(cat "$dir/err")" "$(diff "$corpus/$name.json" "$dir/out" | head -n 20)"
                fi
        elif [ -f "$corpus/$name.err" ]; then
                if [ $rc = 1 ] && cmp -s "$dir/err" "$corpus/$name.err"; then
                        _tap_point 0 "corpus $name: fails with $name.err"
                else
                        _tap_point 1 "corpus $name: fails with $name.err"
                        diag "exit status $rc (want 1)" "got: $(cat "$dir/err")" "want: $(cat "$corpus/$name.err")"
                fi
        else
                _tap_point 1 "corpus $name: has an expected .json or .err"
        fi
done
[ "$n_cases" -ge 80 ]; _tap_point $? "corpus has at least 80 cases ($n_cases)"

# ---- the command line
cd "$IB_TMP" || exit 1
printf 'FROM alpine AS build\nARG FROM_ENV\nRUN echo "$FROM_ENV"\nLABEL v=$FROM_ENV\n' >Dockerfile
like "$("$IMGBUILD" plan --help)" "Usage: imgbuild plan" "plan --help prints the usage"
"$IMGBUILD" plan --format yaml . >/dev/null 2>err; is "$?" 2 "unknown --format is a usage error (exit 2)"
"$IMGBUILD" plan --no-such-option >/dev/null 2>&1; is "$?" 2 "unknown option is a usage error (exit 2)"
"$IMGBUILD" plan a b >/dev/null 2>&1; is "$?" 2 "two contexts are a usage error (exit 2)"
"$IMGBUILD" plan -f missing.Dockerfile >/dev/null 2>err; is "$?" 1 "a missing Dockerfile fails with exit 1"
like "$(cat err)" "missing.Dockerfile" "the error names the missing file"
out=$(FROM_ENV=from-environment "$IMGBUILD" plan --format json --build-arg FROM_ENV .)
like "$out" '"v","from-environment"' "bare --build-arg K takes the value from the environment"
out=$(env -u FROM_ENV "$IMGBUILD" plan --format json --build-arg FROM_ENV . 2>&1)
like "$out" '"v",""' "bare --build-arg K with K unset is skipped"
out=$("$IMGBUILD" plan .)
like "$out" '^stage 0 "build": FROM alpine' "text format: one line per stage"
like "$out" '      3  RUN echo "\$FROM_ENV"' "text format: line number and the instruction as it will run"
out=$("$IMGBUILD" plan --format json -f - <Dockerfile)
like "$out" '"base":"alpine"' "-f - reads the Dockerfile from stdin"
mkdir -p ctx && printf 'FROM busybox\n' >ctx/Dockerfile
like "$("$IMGBUILD" plan --format json ctx)" '"base":"busybox"' "CONTEXT/Dockerfile is the default file"
"$IMGBUILD" plan --format json --build-arg NOPE=1 ctx >/dev/null 2>err
like "$(cat err)" "build-arg NOPE was not consumed" "an unused --build-arg gives a warning"

# The automatic platform ARGs come from the host when not pinned.
case $(uname -m) in
x86_64) want=linux/amd64 ;;
aarch64) want=linux/arm64 ;;
armv7*) want=linux/arm/v7 ;;
*) want= ;;
esac
printf 'FROM alpine\nARG BUILDPLATFORM TARGETPLATFORM\nLABEL b=$BUILDPLATFORM t=$TARGETPLATFORM\n' >plat.Dockerfile
out=$(env -u IMGBUILD_BUILD_PLATFORM "$IMGBUILD" plan --format json -f plat.Dockerfile)
if [ -n "$want" ]; then
        like "$out" "\"b\",\"$want\"\\],\\[\"t\",\"$want\"" "BUILDPLATFORM and TARGETPLATFORM default to the host ($want)"
else
        like "$out" '"b","linux/' "BUILDPLATFORM names the host"
fi

# ---- bounded time and memory on huge inputs (ulimit: a runaway fails, not the machine)
python3 - <<'PY'
with open("huge-line.Dockerfile", "w") as f:
    f.write("FROM alpine\nRUN echo " + "x" * (10 * 1024 * 1024) + "\n")
    f.write("ENV " + " ".join("K%d=v%d" % (i, i) for i in range(200000)) + "\n")
    f.write("COPY " + "a " * 1000000 + "/dest/\n")
    f.write("EXPOSE " + "1-65535/udp " * 20000 + "\n")
with open("many.Dockerfile", "w") as f:
    f.write("ARG BASE=alpine\n")
    for s in range(1000):
        f.write("FROM $BASE AS s%d\n" % s)
        for i in range(100):
            f.write("RUN echo %d\n" % i if i % 2 else "ENV V%d=$BASE-%d\n" % (i, i))
    f.write("FROM alpine\n")
    for s in range(0, 1000, 10):
        f.write("COPY --from=s%d /x /x%d\n" % (s, s))
with open("chain.Dockerfile", "w") as f:
    f.write("FROM alpine AS s0\n")
    for i in range(1, 30000):
        f.write("FROM s%d AS s%d\nENV V%d=$V%d-x\n" % (i - 1, i, i, i - 1))
    f.write("FROM s29999\n")
    for i in range(20000):
        f.write("FROM s0 AS leaf%d\n" % i)
PY
ok "a 10 MB line, 200,000 ENV pairs, 1,000,000 COPY sources, 20,000 port ranges plan within limits" \
        bash -c "ulimit -v 4000000; ulimit -t 60; '$IMGBUILD' plan --format json -f huge-line.Dockerfile >/dev/null"
ok "100,000 instructions in 1,001 stages plan within limits" \
        bash -c "ulimit -v 4000000; ulimit -t 60; '$IMGBUILD' plan --format json -f many.Dockerfile >/dev/null"
ok "a chain of 30,000 stages and 20,000 stages from one base plan within limits" \
        bash -c "ulimit -v 4000000; ulimit -t 60; '$IMGBUILD' plan --format json -f chain.Dockerfile >/dev/null"
done_testing
