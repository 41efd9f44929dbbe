#!/bin/bash
# Pull - build - push against a real registry (docker-registry on loopback):
# FROM a registry image, push with -d, pull back with skopeo; a second build
# of the same base resolves it once; a second push uploads nothing new.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"

have_userns || skip_all "user namespaces unavailable"
is_root || skip_all "needs root to create the unprivileged test user"
command -v skopeo >/dev/null || skip_all "skopeo is needed as the judge"
setup_test_user || skip_all "cannot create the test user"
start_registry || skip_all "docker-registry did not start"

BB=$IB_TMP/bb
make_busybox_layout "$BB" latest >/dev/null 2>&1 || skip_all "cannot make the busybox base"
ok "seed the registry with a busybox base (skopeo)" \
        skopeo copy --dest-tls-verify=false "oci:$BB:latest" "docker://$REGISTRY/base/busybox:1"
base_digest=$(skopeo inspect --tls-verify=false "docker://$REGISTRY/base/busybox:1" | jq -r .Digest)

bld() { # mode dir args...
        local mode=$1 dir=$2; shift 2
        if [ "$mode" = root ]; then
                ( cd "$dir" && "$IMGBUILD" build --root "$dir/store" "$@" ) >"$dir/log" 2>&1
        else
                as_user "$IB_TEST_USER" sh -c 'cd "$1" && shift && exec "$@"' sh "$dir" \
                        env ${SOURCE_DATE_EPOCH:+SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH} "$IMGBUILD_USER_BIN" build --root "$dir/store" "$@" >"$dir/log" 2>&1
        fi
}

for mode in root user; do
        d=$(user_dir); mkdir -p "$d/ctx"
        cat >"$d/ctx/Dockerfile" <<EOF
FROM $REGISTRY/base/busybox:1 AS build
RUN echo "hello" > /result.txt

FROM $REGISTRY/base/busybox:1
COPY --from=build /result.txt /
CMD ["cat", "/result.txt"]
EOF
        chown -R "$IB_TEST_USER" "$d/ctx"
        export SOURCE_DATE_EPOCH=1700000000     # so that the rebuild below is byte-identical
        ok "$mode: build FROM the registry and push with -d" bld $mode "$d" -d "$REGISTRY/app/$mode:1" --digest-file "$d/digest" ctx
        pushed=$(grep -E "^$REGISTRY/app/$mode:1@sha256:" "$d/log" | head -n 1)
        like "$pushed" "@$(cat "$d/digest" 2>/dev/null)\$" "$mode: prints REF@DIGEST of the push"
        is "$(grep -c "resolving $REGISTRY/base/busybox:1" "$d/log")" 1 "$mode: the base named twice is resolved once"
        is "$(grep -c 'extracted layer' "$d/log")" 1 "$mode: and extracted once"
        remote=$(skopeo inspect --tls-verify=false "docker://$REGISTRY/app/$mode:1" 2>/dev/null | jq -r .Digest)
        is "$remote" "$(cat "$d/digest")" "$mode: skopeo sees the pushed image with the same digest"
        ok "$mode: skopeo copies the pushed image back" \
                skopeo copy --src-tls-verify=false "docker://$REGISTRY/app/$mode:1" "oci:$d/back:1"
        is "$(skopeo inspect "oci:$d/back:1" | jq -r .Digest)" "$(cat "$d/digest")" "$mode: same manifest digest after the round trip"
        is "$(skopeo inspect --tls-verify=false "docker://$REGISTRY/app/$mode:1" | jq -r '.Layers[0]')" \
           "$(skopeo inspect --tls-verify=false "docker://$REGISTRY/base/busybox:1" | jq -r '.Layers[0]')" \
           "$mode: the base layer is reused as it is"
        rm -rf "$d/b"; umoci unpack --image "$d/back:1" "$d/b" >/dev/null 2>&1
        is "$(cat "$d/b/rootfs/result.txt" 2>/dev/null)" hello "$mode: the pulled-back image holds /result.txt"

        # the same image again: nothing to upload
        ok "$mode: rebuild and push again" bld $mode "$d" -d "$REGISTRY/app/$mode:1" ctx
        like "$(cat "$d/log")" "pushed $REGISTRY/app/$mode:1: 0 blobs uploaded" "$mode: the second push uploads no blob"
        unset SOURCE_DATE_EPOCH
done
ok "the base was never changed" test "$(skopeo inspect --tls-verify=false "docker://$REGISTRY/base/busybox:1" | jq -r .Digest)" = "$base_digest"

# A build resolves the base's tag; its layer blob is then lost (as when a pull
# is interrupted).  The next build uses the recorded tag without asking the
# registry, so nothing has told it the registry speaks plain http: the blob's
# download must still use http, not https (it once got "wrong version number").
d=$(user_dir); mkdir -p "$d/a" "$d/b"
printf 'FROM %s/base/busybox:1\nENV A=1\n' "$REGISTRY" >"$d/a/Dockerfile"
printf 'FROM %s/base/busybox:1\nRUN echo hi >/hi\n' "$REGISTRY" >"$d/b/Dockerfile"
ok "a build on a registry base" bld root "$d" --no-push a
layer=$(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/base/busybox:1" | jq -r '.layers[0].digest')
rm -f "$d/store/blobs/sha256/${layer#sha256:}" && rm -rf "$d/store/layers/"*
ok "the layer lost: the next build fetches it again over plain http" bld root "$d" --no-push b
ok "... with no TLS attempt on the http registry" sh -c "! grep -q 'wrong version number' '$d/log'"

# a base that does not exist: the error names the reference
d=$(user_dir); mkdir -p "$d/ctx"
printf 'FROM %s/no/such:tag\nRUN true\n' "$REGISTRY" >"$d/ctx/Dockerfile"
bld root "$d" ctx; rc=$?
is "$rc" 1 "a missing base fails with status 1"
like "$(cat "$d/log")" "no/such.*(404|NOT_FOUND|MANIFEST_UNKNOWN|unknown)" "the error names the reference and the registry's answer"
done_testing
