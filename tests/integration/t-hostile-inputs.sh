#!/bin/bash
# hostile build contexts and Dockerfiles (issue #10): links leading out of the
# context are copied as links, never followed; COPY ../ is refused with
# FILE:LINE; fifos and sockets are skipped with a warning.  A 10 MB line,
# 100,000 instructions, 100,000 continuation lines, a 10,000-deep
# ${a:-${b:-...}} and invalid UTF-8: clear errors (or results) in bounded time
# and memory, measured with /usr/bin/time (imgbuild plan; a build of 1,000
# instructions).  Context cases
# run as root and as the unprivileged test user.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
have_userns || skip_all "user namespaces unavailable"
command -v umoci >/dev/null || skip_all "umoci is needed to read the images"
[ -x /usr/bin/time ] || skip_all "/usr/bin/time (package time) is needed to measure"
is_root || skip_all "needs root to create the unprivileged test user"
setup_test_user || skip_all "cannot create the test user"
flat() { printf '%s' "$*" | tr '\n' ' '; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
MAX_RSS_KB=262144       # 256 MB
MAX_SECS=20

bld() { # MODE DIR ARGS...: build as root or as the test user; output in DIR/log
        local mode=$1 dir=$2; shift 2
        if [ "$mode" = root ]; then
                ( cd "$dir" && "$IMGBUILD" build --root "$dir/store" "$@" ) >"$dir/log" 2>&1
        else
                as_user "$IB_TEST_USER" sh -c 'cd "$1" && shift && exec "$@"' sh "$dir" \
                        "$IMGBUILD_USER_BIN" build --root "$dir/store" "$@" >"$dir/log" 2>&1
        fi
}

# ------------------------------------------------------------ build contexts
for mode in root user; do
        d=$(user_dir)
        mkdir -p "$d/ctx/dir"
        echo "the host's secret" >"$d/secret"
        ln -s /etc/shadow "$d/ctx/dir/abs"
        ln -s ../../secret "$d/ctx/dir/rel"
        ln -s ../secret "$d/ctx/out"
        echo hi >"$d/ctx/dir/file"
        mkfifo "$d/ctx/dir/fifo"
        python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$d/ctx/dir/sock"
        printf 'FROM scratch\nCOPY dir /d/\nCOPY out /l\n' >"$d/ctx/Dockerfile"
        chown -R "$IB_TEST_USER" "$d"
        # a fifo would block a reader forever: the build must not open it
        bld $mode "$d" --oci-layout-path "$d/out:a" ctx & pid=$!
        for _ in $(seq 120); do kill -0 $pid 2>/dev/null || break; sleep 0.5; done
        kill -0 $pid 2>/dev/null && { kill $pid; diag "build hung"; }
        wait $pid; rc=$?
        is "$rc" 0 "$mode: COPY of a dir with links leading out, and of such a link by name, builds" || diag "$(tail -5 "$d/log")"
        rm -rf "$d/u" && umoci unpack --rootless --image "$d/out:a" "$d/u" >/dev/null 2>&1
        is "$(readlink "$d/u/rootfs/d/abs") $(readlink "$d/u/rootfs/d/rel") $(readlink "$d/u/rootfs/l")" \
                "/etc/shadow ../../secret ../secret" "$mode: the links are copied as links"
        is "$(grep -rl "host's secret" "$d/u/rootfs" "$d/out/blobs" 2>/dev/null | wc -l)" 0 "$mode: what they point to is never read"
        like "$(cat "$d/log")" "warning: ctx/Dockerfile:2: skipped fifo \`dir/fifo\`" "$mode: the fifo is skipped with a warning naming it"
        like "$(cat "$d/log")" "warning: ctx/Dockerfile:2: skipped socket \`dir/sock\`" "$mode: the socket too"
        [ ! -e "$d/u/rootfs/d/fifo" ] && [ ! -e "$d/u/rootfs/d/sock" ]; is $? 0 "$mode: neither is in the image"
        printf 'FROM scratch\nCOPY dir /d/\n\nCOPY ../secret /s\n' >"$d/ctx/Dockerfile"
        bld $mode "$d" --oci-layout-path "$d/out:b" ctx; rc=$?
        [ $rc != 0 ]; is $? 0 "$mode: COPY ../secret fails"
        like "$(cat "$d/log")" "ctx/Dockerfile:4:.*COPY \.\./secret: outside the build context" "$mode: ... with FILE:LINE and why"
        printf 'FROM scratch\nCOPY out/x /s\n' >"$d/ctx/Dockerfile"
        bld $mode "$d" --oci-layout-path "$d/out:c" ctx; rc=$?
        like "$(flat "$rc $(cat "$d/log")")" "^1 .*ctx/Dockerfile:2:.*out/x: a symlink leads outside the build context" \
                "$mode: a path through a link leading out is refused with FILE:LINE"
done

# ----------------------------------------------------------------- Dockerfiles
D=$IB_TMP/df
mkdir -p "$D"
python3 - "$D" <<'PY'
import sys
d = sys.argv[1]
n = 10000
w = lambda name, data: open(d + "/" + name, "wb").write(data)
w("long-line", b"FROM scratch\nRUN echo " + b"a" * (10 << 20) + b"\n")
w("long-instr", b"FROM scratch\n" + b"FOO" * (10 << 20 // 3) + b" x\n")
w("many", b"FROM scratch\n" + b"".join(b"ENV A%d=%d\n" % (i, i) for i in range(100000)))
w("nested", b"FROM scratch\nARG x\nENV A=" + b"".join(b"${v%d:-" % i for i in range(n)) + b"end" + b"}" * n + b"\n")
w("nested-ok", b"FROM scratch\nENV A=" + b"".join(b"${v%d:-" % i for i in range(50)) + b"end" + b"}" * 50 + b"\n")
w("continued", b"FROM scratch\nRUN true" + b" \\\n  && true" * 100000 + b"\n")
w("utf8", b"FROM scratch\nLABEL a=\xff\xfe\xc3\x28 ok=\xc3\xa9t\xc3\xa9\nENV \xe9=1\n")
w("utf8-instr", b"FROM scratch\nR\xffN true\n")
PY
# plan FILE: imgbuild plan, measured; sets rc, out (stderr+stdout head), secs, rss
plan() {
        /usr/bin/time -f '%e %M' -o "$IB_TMP/t" "$IMGBUILD" plan -f "$D/$1" "$D" >"$IB_TMP/out" 2>&1; rc=$?
        read -r secs rss < <(tail -1 "$IB_TMP/t")
        out=$(head -c 4000 "$IB_TMP/out"); outlen=$(wc -c <"$IB_TMP/out")
        diag "$1: exit $rc, ${secs} s, peak RSS ${rss} KB, ${outlen} bytes of output"
}
bounded() { # NAME: time and memory bounds of the last plan
        lt "$secs" $MAX_SECS && lt "$rss" $MAX_RSS_KB; is $? 0 "$1: bounded (${secs} s < $MAX_SECS s, ${rss} KB < 256 MB)"
}
plan long-line
is "$rc" 0 "a 10 MB RUN line plans"; bounded "  10 MB line"
plan long-instr
like "$(flat "$rc $out")" "^1 .*long-instr:2:1: unknown instruction: FOOFOO.* \.\.\. \([0-9]+ bytes\) \.\.\. " "a 10 MB unknown instruction: FILE:LINE error, the name cut"
lt "$outlen" 2048; is $? 0 "  the message stays short ($outlen bytes)"; bounded "  10 MB instruction"
plan many
is "$rc $(grep -c 'ENV A' "$IB_TMP/out")" "0 100000" "100,000 instructions plan"; bounded "  100,000 instructions"
plan nested
like "$(flat "$rc $out")" "^1 .*nested:3:1: .*variable expansions nested deeper than 100 levels" "10,000-deep \${a:-\${b:-...}}: FILE:LINE error, why"
lt "$outlen" 2048; is $? 0 "  the message stays short ($outlen bytes)"; bounded "  10,000-deep expansion"
plan nested-ok
like "$(flat "$rc $out")" "^0 .*ENV A=end" "a 50-deep expansion is fine"
plan continued
is "$rc" 0 "100,000 continuation lines plan"; bounded "  100,000 continuation lines"
plan utf8-instr
like "$(flat "$rc $out")" "^1 .*utf8-instr:2:1: unknown instruction" "invalid UTF-8 in an instruction name: FILE:LINE error"
# invalid UTF-8 in values: accepted (docker does); the config must stay valid JSON
d=$(user_dir)
mkdir -p "$d/ctx" && cp "$D/utf8" "$d/ctx/Dockerfile"
/usr/bin/time -f '%e %M' -o "$IB_TMP/t" "$IMGBUILD" build --root "$d/store" --oci-layout-path "$d/out:u" "$d/ctx" >"$d/log" 2>&1; rc=$?
is "$rc" 0 "invalid UTF-8 in LABEL and ENV builds" || diag "$(tail -3 "$d/log")"
cfg=$(python3 - "$d/out" <<'PY'
import json, sys, os
root = sys.argv[1]
idx = json.load(open(root + "/index.json"))
blob = lambda dg: open(root + "/blobs/sha256/" + dg.split(":")[1], "rb").read()
m = json.loads(blob(idx["manifests"][0]["digest"]))
c = json.loads(blob(m["config"]["digest"]).decode("utf-8"))    # strict: must be UTF-8 JSON
print(json.dumps([c["config"]["Labels"], c["config"]["Env"][-1]]))
PY
)
is "$cfg" '[{"a": "\ufffd\ufffd\ufffd(", "ok": "\u00e9t\u00e9"}, "\ufffd=1"]' "  the config is valid UTF-8 JSON: bad bytes are U+FFFD (as Go writes them), good ones kept"
# one build with 1,000 instructions (each step writes and syncs a cache entry:
# about 7 ms a step on ext4, so 100,000 would take minutes; plan covers 100,000)
d=$(user_dir)
mkdir -p "$d/ctx" && head -n 1001 "$D/many" >"$d/ctx/Dockerfile"
/usr/bin/time -f '%e %M' -o "$IB_TMP/t" "$IMGBUILD" build --root "$d/store" --oci-layout-path "$d/out:m" "$d/ctx" >"$d/log" 2>&1; rc=$?
read -r secs rss < <(tail -1 "$IB_TMP/t")
diag "build of 1,000 ENV: exit $rc, ${secs} s, peak RSS ${rss} KB"
is "$rc $(grep -c '^\[stage-0 [0-9]*/1001\] ENV' "$d/log")" "0 1000" "1,000 instructions build" || diag "$(tail -3 "$d/log")"
lt "$secs" 60 && lt "$rss" $MAX_RSS_KB; is $? 0 "  bounded (${secs} s < 60 s, ${rss} KB < 256 MB)"
done_testing
