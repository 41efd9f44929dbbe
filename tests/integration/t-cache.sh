#!/bin/bash
# The local layer cache: what busts a step and what does not (issue 7's key
# rules), judged by the CACHED marks, by whether a RUN really ran (it writes a
# random value), and by image digests.  Root and rootless.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"

need_user_and_busybox     # sets BB, a busybox OCI layout everyone can read

bld() { # mode dir args...
        local mode=$1 dir=$2; shift 2
        if [ "$mode" = root ]; then
                ( cd "$dir" && "$IMGBUILD" build --root "$dir/store" --build-context base=oci-layout://"$BB" \
                        --digest-file "$dir/digest" "$@" ) >"$dir/log" 2>&1
        else
                as_user "$IB_TEST_USER" sh -c 'cd "$1" && shift && exec "$@"' sh "$dir" \
                        env ${ARGV:+ARGV=$ARGV} "$IMGBUILD_USER_BIN" build --root "$dir/store" \
                        --build-context base=oci-layout://"$BB" --digest-file "$dir/digest" "$@" >"$dir/log" 2>&1
        fi
}
cached() { grep -c '^CACHED ' "$1/log"; }
steps_cached() { grep '^CACHED ' "$1/log" | sed 's/^CACHED \[[^ ]* \([0-9]*\)\/.*/\1/' | tr '\n' ' '; }

for mode in root user; do
        d=$(user_dir); mkdir -p "$d/ctx/dir"
        echo a >"$d/ctx/dir/a"; echo b >"$d/ctx/dir/b"; echo top >"$d/ctx/top"
        cat >"$d/ctx/Dockerfile" <<'EOF'
FROM base
ARG USED=1
RUN head -c 16 /dev/urandom | od -x > /random1
COPY dir /dir/
ENV E=1
RUN echo "$USED $E" > /args; head -c 16 /dev/urandom | od -x > /random2
COPY top /top
EOF
        chown -R "$IB_TEST_USER" "$d/ctx"
        ok "$mode: first build" bld $mode "$d" --oci-layout-path "$d/o:1" ctx
        first=$(cat "$d/digest")
        is "$(cached "$d")" 0 "$mode: nothing cached the first time"

        ok "$mode: rebuild with nothing changed" bld $mode "$d" --oci-layout-path "$d/o:2" ctx
        is "$(cached "$d")" 6 "$mode: every step CACHED"
        like "$(cat "$d/log")" '0 RUNs' "$mode: no RUN executed"
        is "$(cat "$d/digest")" "$first" "$mode: the same image digest"
        rm -rf "$d/u1" "$d/u2"; umoci unpack --image "$d/o:1" "$d/u1" >/dev/null 2>&1; umoci unpack --image "$d/o:2" "$d/u2" >/dev/null 2>&1
        is "$(cat "$d/u2/rootfs/random1" 2>/dev/null)" "$(cat "$d/u1/rootfs/random1")" "$mode: the random RUN output is the first build's"

        touch -d '2001-01-01' "$d/ctx/dir/a"
        bld $mode "$d" ctx
        is "$(cached "$d")" 6 "$mode: touch (mtime only) busts nothing"

        echo changed >"$d/ctx/dir/a"
        bld $mode "$d" ctx
        is "$(steps_cached "$d")" "2 3 " "$mode: a changed file busts its COPY (step 4) and every later step"

        mv "$d/ctx/dir/b" "$d/ctx/dir/c"
        bld $mode "$d" ctx
        is "$(steps_cached "$d")" "2 3 " "$mode: a rename inside a copied dir busts the COPY"

        bld $mode "$d" ctx
        is "$(cached "$d")" 6 "$mode: and the new state is cached"
        chmod 600 "$d/ctx/dir/c"
        bld $mode "$d" ctx
        is "$(steps_cached "$d")" "2 3 " "$mode: a chmod busts the COPY"

        bld $mode "$d" --build-arg USED=2 ctx
        is "$(steps_cached "$d")" "2 " "$mode: a changed build arg busts the RUNs that see it"
        bld $mode "$d" --build-arg USED=2 --build-arg UNUSED=9 ctx
        is "$(cached "$d")" 6 "$mode: an unused build arg busts nothing"

        sed -i 's/^ENV E=1$/ENV E=2/' "$d/ctx/Dockerfile"
        bld $mode "$d" --build-arg USED=2 ctx
        is "$(steps_cached "$d")" "2 3 4 " "$mode: a changed ENV busts the RUN after it"

        bld $mode "$d" --build-arg USED=2 --no-cache ctx
        is "$(cached "$d")" 0 "$mode: --no-cache uses no entry"
done

# multi-stage: COPY --from=stage is keyed by that stage's key
d=$(user_dir); mkdir -p "$d/ctx"
printf 'FROM base AS build\nRUN head -c 16 /dev/urandom | od -x > /r\nFROM base\nCOPY --from=build /r /r\n' >"$d/ctx/Dockerfile"
bld root "$d" ctx; first=$(cat "$d/digest")
bld root "$d" ctx
is "$(cached "$d")" 2 "multi-stage: the builder stage and the COPY --from are cached"
is "$(cat "$d/digest")" "$first" "multi-stage: same digest"
printf 'FROM base AS build\nRUN head -c 16 /dev/urandom | od -x > /r2\nRUN cp /r2 /r\nFROM base\nCOPY --from=build /r /r\n' >"$d/ctx/Dockerfile"
bld root "$d" ctx
is "$(cached "$d")" 0 "multi-stage: a changed builder busts the COPY --from it"

# a dangling entry (its blob pruned) is a miss, not an error
d2=$(user_dir); mkdir -p "$d2/ctx"; printf 'FROM base\nRUN echo x > /x\n' >"$d2/ctx/Dockerfile"
bld root "$d2" ctx
for f in "$d2"/store/cache/steps/*; do l=$(jq -r '.layer.digest // empty' "$f"); [ -n "$l" ] && rm -f "$d2/store/blobs/sha256/${l#sha256:}"; done
ok "a cache entry whose blob is gone is rebuilt" bld root "$d2" ctx
is "$(cached "$d2")" 0 "and is not counted as a hit"
done_testing
