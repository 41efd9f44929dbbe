#!/bin/bash
# --jobs: independent stages are built at the same time, the image is the
# same as with --jobs 1, and a failing stage stops the build with its status.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"

have_userns || skip_all "user namespaces unavailable"
command -v umoci >/dev/null || skip_all "umoci is needed"
BB=$IB_TMP/bb
make_busybox_layout "$BB" latest >/dev/null 2>&1 || skip_all "cannot make the busybox base"

d=$IB_TMP/j; mkdir -p "$d/ctx"
bld() { ( cd "$d" && "$IMGBUILD" build --root "$d/store" --build-context base=oci-layout://"$BB" "$@" ctx ) >"$d/log" 2>&1; }

# The two stages meet on a shared cache mount: each waits (up to 20 s) for
# the other's mark, so "met" proves they ran at the same time.
cat >"$d/ctx/Dockerfile" <<'EOF'
FROM base AS left
RUN --mount=type=cache,target=/r,id=rendezvous-jobs \
    touch /r/left; i=0; while [ $i -lt 200 ] && [ ! -e /r/right ]; do sleep 0.1; i=$((i+1)); done; \
    if [ -e /r/right ]; then echo met > /left; else echo alone > /left; fi
FROM base AS right
RUN --mount=type=cache,target=/r,id=rendezvous-jobs \
    touch /r/right; i=0; while [ $i -lt 200 ] && [ ! -e /r/left ]; do sleep 0.1; i=$((i+1)); done; \
    if [ -e /r/left ]; then echo met > /right; else echo alone > /right; fi
FROM base
COPY --from=left /left /left
COPY --from=right /right /right
EOF
ok "--jobs 2 builds two independent stages" bld --jobs 2 --no-cache --oci-layout-path "$d/o:j"
rm -rf "$d/u"; umoci unpack --image "$d/o:j" "$d/u" >/dev/null 2>&1
is "$(cat "$d/u/rootfs/left" "$d/u/rootfs/right" 2>/dev/null | tr '\n' ' ')" "met met " "the two stages ran at the same time"

cat >"$d/ctx/Dockerfile" <<'EOF'
FROM base AS a
RUN echo a > /a && mkdir /dir-a
FROM base AS b
RUN echo b > /b
FROM a AS c
COPY --from=b /b /b
RUN cat /a /b > /ab
FROM base
COPY --from=c /ab /ab
COPY --from=a /dir-a /dir-a/
EOF
SOURCE_DATE_EPOCH=1700000000 bld --jobs 1 --no-cache --digest-file "$d/d1"
SOURCE_DATE_EPOCH=1700000000 bld --jobs 3 --no-cache --digest-file "$d/d3"
like "$(cat "$d/d1")" '^sha256:' "--jobs 1 builds the stage graph"
is "$(cat "$d/d3")" "$(cat "$d/d1")" "--jobs 3 gives the same image as --jobs 1"

cat >"$d/ctx/Dockerfile" <<'EOF'
FROM base AS slow
RUN sleep 31.5
FROM base AS failing
RUN exit 5
FROM base
COPY --from=slow /etc/passwd /p1
COPY --from=failing /etc/passwd /p2
EOF
bld --jobs 2 --no-cache; rc=$?
is "$rc" 5 "a failing stage's RUN status is the build's"
like "$(cat "$d/log")" 'exit status 5' "the failing step is named"
fails "the other stage was stopped (no 'sleep 31.5' left running)" pgrep -f 'sleep 31[.]5'
done_testing
