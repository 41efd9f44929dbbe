#!/bin/bash
# The registry cache (--cache --cache-repo): two CI pods (two empty stores)
# share one cache repo in a real registry; the second build runs no RUN and
# gives the same image digest.  Entries are Kaniko-style images tagged with
# 64-hex keys; --cache-ttl expires them; --no-push-cache never writes.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"

have_userns || skip_all "user namespaces unavailable"
is_root || skip_all "needs root to create the unprivileged test user"
command -v skopeo >/dev/null || skip_all "skopeo is needed as the judge"
setup_test_user || skip_all "cannot create the test user"
start_registry || skip_all "docker-registry did not start"
BB=$IB_TMP/bb
make_busybox_layout "$BB" latest >/dev/null 2>&1 || skip_all "cannot make the busybox base"
skopeo copy --dest-tls-verify=false "oci:$BB:latest" "docker://$REGISTRY/base/busybox:1" >/dev/null 2>&1 ||
        skip_all "cannot seed the registry"

ctx=$(user_dir); mkdir -p "$ctx/ctx"; echo data >"$ctx/ctx/data"
cat >"$ctx/ctx/Dockerfile" <<EOF
FROM $REGISTRY/base/busybox:1 AS build
RUN head -c 16 /dev/urandom | od -x > /result.txt
FROM $REGISTRY/base/busybox:1
COPY --from=build /result.txt /
COPY data /data
ENV BUILT=yes
RUN cat /result.txt > /copy.txt
EOF
chown -R "$IB_TEST_USER" "$ctx/ctx"

pod() { # mode store-dir args...  (a fresh "CI pod": its own store)
        local mode=$1 dir=$2; shift 2
        mkdir -p "$dir"; chown "$IB_TEST_USER" "$dir"; chmod 755 "$dir"
        if [ "$mode" = root ]; then
                ( cd "$ctx" && "$IMGBUILD" build --root "$dir/store" "$@" ctx ) >"$dir/log" 2>&1
        else
                as_user "$IB_TEST_USER" sh -c 'cd "$1" && shift && exec "$@"' sh "$ctx" \
                        "$IMGBUILD_USER_BIN" build --root "$dir/store" "$@" ctx >"$dir/log" 2>&1
        fi
}

for mode in root user; do
        repo=$REGISTRY/app-$mode
        ok "$mode: pod 1 builds and pushes with --cache" \
                pod $mode "$IB_TMP/$mode-pod1" --cache=true --cache-copy-layers -d "$repo:1" --digest-file "$IB_TMP/$mode-pod1/digest"
        like "$(cat "$IB_TMP/$mode-pod1/log")" '2 RUNs' "$mode: pod 1 ran both RUNs"
        tags=$(skopeo list-tags --tls-verify=false "docker://$repo/cache" 2>/dev/null | jq -r '.Tags[]')
        like "$tags" '^[0-9a-f]{64}$' "$mode: the default cache repo DEST/cache holds 64-hex key tags (Kaniko's layout)"
        t=$(echo "$tags" | head -n 1)
        ok "$mode: a cache entry is an image skopeo can inspect" skopeo inspect --tls-verify=false "docker://$repo/cache:$t"

        ok "$mode: pod 2 (an empty store) builds from the registry cache" \
                pod $mode "$IB_TMP/$mode-pod2" --cache --cache-copy-layers -d "$repo:2" --digest-file "$IB_TMP/$mode-pod2/digest"
        like "$(cat "$IB_TMP/$mode-pod2/log")" '0 RUNs' "$mode: pod 2 executed no RUN"
        is "$(grep -c "^CACHED" "$IB_TMP/$mode-pod2/log")" 5 "$mode: every step of pod 2 is CACHED"
        is "$(cat "$IB_TMP/$mode-pod2/digest")" "$(cat "$IB_TMP/$mode-pod1/digest")" "$mode: pod 2's image digest equals pod 1's"

        sleep 2
        pod $mode "$IB_TMP/$mode-pod3" --cache --cache-copy-layers --cache-ttl 1s --no-push-cache -d "$repo:3" --no-push
        like "$(cat "$IB_TMP/$mode-pod3/log")" '2 RUNs' "$mode: expired entries are ignored (both RUNs ran again)"
done

# A fully cached builder stage: its base (another image) is never downloaded.
OB=$IB_TMP/other-base
make_busybox_layout "$OB" latest >/dev/null 2>&1
b2=$(mktemp -d "$IB_TMP/ob.XXXXXX"); umoci unpack --rootless --image "$OB:latest" "$b2/b" >/dev/null 2>&1
echo "another base" >"$b2/b/rootfs/another"; umoci repack --image "$OB:latest" "$b2/b" >/dev/null 2>&1
skopeo copy --dest-tls-verify=false "oci:$OB:latest" "docker://$REGISTRY/base/other:1" >/dev/null 2>&1
other_layer=$(skopeo inspect --tls-verify=false "docker://$REGISTRY/base/other:1" | jq -r '.Layers[-1]')
c2=$(user_dir); mkdir -p "$c2/ctx"
cat >"$c2/ctx/Dockerfile" <<EOF
FROM $REGISTRY/base/other:1 AS build
RUN cat /another > /result.txt
FROM $REGISTRY/base/busybox:1
COPY --from=build /result.txt /
EOF
ctx_saved=$ctx; ctx=$c2
ok "builder on another base: pod A builds and fills the cache" pod root "$IB_TMP/obA" --cache --cache-copy-layers -d "$REGISTRY/ob:1"
ok "pod B (an empty store) builds from the cache" pod root "$IB_TMP/obB" --cache --cache-copy-layers -d "$REGISTRY/ob:2"
like "$(cat "$IB_TMP/obB/log")" '0 RUNs' "pod B ran nothing"
ok "pod B never downloaded the builder's base layer" test ! -e "$IB_TMP/obB/store/blobs/sha256/${other_layer#sha256:}"
ok "but pod A did" test -e "$IB_TMP/obA/store/blobs/sha256/${other_layer#sha256:}"
ctx=$ctx_saved

# Lookups go out before execution, all at once; pushes run in the background.
c3=$(user_dir); mkdir -p "$c3/ctx"
cat >"$c3/ctx/Dockerfile" <<EOF
FROM $REGISTRY/base/busybox:1
RUN echo one > /one
RUN sleep 2
ENV X=1
RUN echo three > /three
EOF
ctx=$c3
mark=$(wc -l <"$REGISTRY_LOG")
( cd "$c3" && "$IMGBUILD" -v debug build --root "$IB_TMP/bg/store" --cache --cache-repo "$REGISTRY/bg/cache" \
        --no-push -d "$REGISTRY/bg:1" ctx ) >"$IB_TMP/bg.log" 2>&1
is "$?" 0 "lookups ahead, background pushes: the build succeeds"
like "$(cat "$IB_TMP/bg.log")" 'cache lookups ahead: 4 keys, 0 hits' "the 4 cacheable steps are looked up before execution"
reglog=$(tail -n +"$((mark + 1))" "$REGISTRY_LOG" | grep -E '"(GET|HEAD|POST|PUT|PATCH) /v2/bg/cache/')
last_lookup=$(echo "$reglog" | grep -nE '"(GET|HEAD) /v2/bg/cache/manifests/[0-9a-f]{64}' | tail -n 1 | cut -d: -f1)
first_upload=$(echo "$reglog" | grep -nE '"(POST|PUT) /v2/bg/cache/(blobs/uploads|manifests)' | head -n 1 | cut -d: -f1)
ok "every cache lookup reached the registry before the first cache upload ($last_lookup < $first_upload)" \
        test "${last_lookup:-99999}" -lt "${first_upload:-0}"
is "$(echo "$reglog" | grep -cE '"(GET|HEAD) /v2/bg/cache/manifests/[0-9a-f]{64}')" 4 "each key was asked once"
pushed_at=$(grep -n 'cache pushed' "$IB_TMP/bg.log" | head -n 1 | cut -d: -f1)
step5_at=$(grep -n 'RUN echo three' "$IB_TMP/bg.log" | head -n 1 | cut -d: -f1)
ok "a cache push finished while later steps ran ($pushed_at < $step5_at)" test "${pushed_at:-99999}" -lt "${step5_at:-0}"
is "$(grep -c 'cache pushed' "$IB_TMP/bg.log")" 4 "the build waited for all 4 pushes before exiting"
is "$(skopeo list-tags --tls-verify=false "docker://$REGISTRY/bg/cache" 2>/dev/null | jq -r '.Tags|length')" 4 \
        "the cache repo holds the 4 entries"
pod root "$IB_TMP/bg2" --cache --cache-repo "$REGISTRY/bg/cache" --no-push -d "$REGISTRY/bg:2"
is "$(grep -c '^CACHED' "$IB_TMP/bg2/log")" 4 "a second pod answers every step from the results looked up ahead"

# A registry that answers lookups but fails every cache upload: warnings, not a failed build.
if start_fault_proxy "$REGISTRY" 500 0 '/blobs/uploads'; then
        ( cd "$c3" && "$IMGBUILD" build --root "$IB_TMP/bgf/store" --cache --cache-repo "$PROXY/bgf/cache" \
                --no-push -d "$REGISTRY/bgf:1" ctx ) >"$IB_TMP/bgf.log" 2>&1
        is "$?" 0 "failed cache pushes do not fail the build"
        like "$(cat "$IB_TMP/bgf.log")" 'warning: cache push' "and each is a warning"
else
        skip "the fault proxy did not start"; skip "the fault proxy did not start"
fi
ctx=$ctx_saved

# --no-push-cache: a build that only reads the cache leaves the cache repo as it was
before=$(skopeo list-tags --tls-verify=false "docker://$REGISTRY/ro/cache" 2>/dev/null | jq -r '.Tags|length')
pod root "$IB_TMP/ro" --cache --cache-repo "$REGISTRY/ro/cache" --no-push-cache --no-push -d "$REGISTRY/ro:1"
after=$(skopeo list-tags --tls-verify=false "docker://$REGISTRY/ro/cache" 2>/dev/null | jq -r '.Tags|length')
is "${after:-0}" "${before:-0}" "--no-push-cache writes nothing to the cache repo"

# the cache repo being down never fails a build
pod root "$IB_TMP/down" --cache --cache-repo 127.0.0.1:1/nothing/cache --no-push -d "$REGISTRY/x:1"
is "$?" 0 "an unreachable cache repo is a warning, not a failure"
like "$(cat "$IB_TMP/down/log")" 'warning' "and it says so"
done_testing
