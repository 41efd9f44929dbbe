#!/bin/bash
# --cache-dir: `imgbuild pull --cache-dir DIR REF` writes REF the way Kaniko's
# warmer does; a build with --cache-dir DIR then takes its base from there,
# with the registry stopped.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"

have_userns || skip_all "user namespaces unavailable"
is_root || skip_all "needs root to create the unprivileged test user"
command -v skopeo >/dev/null || skip_all "skopeo is needed to seed the registry"
setup_test_user || skip_all "cannot create the test user"
start_registry || skip_all "docker-registry did not start"
BB=$IB_TMP/bb
make_busybox_layout "$BB" latest >/dev/null 2>&1 || skip_all "cannot make the busybox base"
skopeo copy --dest-tls-verify=false "oci:$BB:latest" "docker://$REGISTRY/base/busybox:1" >/dev/null 2>&1 ||
        skip_all "cannot seed the registry"
base=$REGISTRY/base/busybox:1

warm=$(user_dir)/warm
ok "pull --cache-dir writes the image" "$IMGBUILD" pull --root "$IB_TMP/s0" --cache-dir "$warm" "$base"
man=$(skopeo inspect --raw --tls-verify=false "docker://$base" | sha256sum | cut -d' ' -f1)
ok "the tarball is named by the manifest digest" test -s "$warm/sha256:$man"
ok "next to the manifest's exact bytes" \
        sh -c '[ "$(sha256sum <"$1" | cut -d" " -f1)" = "$2" ]' sh "$warm/sha256:$man.json" "$man"
tarlist=$(tar -tf "$warm/sha256:$man")
like "$tarlist" '^manifest\.json' "it is a docker save tarball, manifest.json first"
like "$(tar -xOf "$warm/sha256:$man" manifest.json)" "\"RepoTags\":\\[\"$base\"\\]" "tagged with the reference pulled"
layer=$(jq -r '.layers[0].digest' "$warm/sha256:$man.json")
like "$tarlist" "${layer#sha256:}\\.tar\\.gz" "layers are the registry's compressed blobs, <hex>.tar.gz"
ln -s "$warm/sha256:$man" "$IB_TMP/warm.tar"     # skopeo reads no ':' in an archive path
is "$(skopeo inspect "docker-archive:$IB_TMP/warm.tar" 2>/dev/null | jq -r '.Layers|length')" \
        "$(jq -r '.layers|length' "$warm/sha256:$man.json")" \
        "skopeo reads the tarball as a docker archive"
chown -R "$IB_TEST_USER" "$warm"

ctx=$(user_dir); mkdir -p "$ctx/ctx"
cat >"$ctx/ctx/Dockerfile" <<EOF
FROM $base
RUN echo warm > /warm
EOF
chown -R "$IB_TEST_USER" "$ctx/ctx"
kill "$REGISTRY_PID"; wait "$REGISTRY_PID" 2>/dev/null
fails "the registry is really down: a build without --cache-dir fails" \
        "$IMGBUILD" build --root "$IB_TMP/s1" --no-push --oci-layout-path "$IB_TMP/o1" "$ctx/ctx"
ok "root: a build with --cache-dir and no registry succeeds" \
        "$IMGBUILD" build --root "$IB_TMP/s2" --cache-dir "$warm" --oci-layout-path "$IB_TMP/o2" "$ctx/ctx"
ok "its image has the base layer" grep -q "${layer#sha256:}" "$IB_TMP/o2/blobs/sha256/$(jq -r '.manifests[0].digest' "$IB_TMP/o2/index.json" | cut -d: -f2)"
u=$(user_dir)
ok "user: the same, unprivileged" as_user "$IB_TEST_USER" "$IMGBUILD_USER_BIN" build --root "$u/s" \
        --cache-dir "$warm" --oci-layout-path "$u/o" "$ctx/ctx"
printf ' ' >>"$warm/sha256:$man.json"
fails "a manifest that does not match its name is refused" \
        "$IMGBUILD" build --root "$IB_TMP/s3" --cache-dir "$warm" --oci-layout-path "$IB_TMP/o3" "$ctx/ctx"
done_testing
