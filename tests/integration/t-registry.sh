#!/bin/bash
# Registry pull and push against a real docker-registry on loopback:
# pull fills the store (verified), digest pulls work offline, push of an OCI
# layout round-trips through skopeo, a second push uploads nothing, another
# repository mounts instead of uploading, chunked uploads, multi-platform
# indexes, registry maps and mirrors, digest files, error messages.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
for t in docker-registry skopeo umoci jq python3; do
        command -v $t >/dev/null || skip_all "$t not installed"
done
start_registry || skip_all "cannot start docker-registry"
R=$REGISTRY
REG_PID=$SPAWNED_PID
ST=$IB_TMP/store
L=$IB_TMP/bb
make_busybox_layout "$L" >/dev/null 2>&1 || skip_all "cannot make the busybox layout"
ok "seed $R/x:1 with skopeo" skopeo copy -q --dest-tls-verify=false "oci:$L:latest" "docker://$R/x:1"
want=$(skopeo inspect --tls-verify=false "docker://$R/x:1" | jq -r .Digest)
count() { grep -cE "$1" "$REGISTRY_LOG" | tr -d ' '; }

# ---- pull
out=$("$IMGBUILD" pull --root "$ST" "$R/x:1" 2>"$IB_TMP/err"); rc=$?
is "$rc" 0 "pull exits 0"
is "$out" "$R/x:1@$want" "pull prints REF@digest, the digest skopeo inspect reports"
config=$(skopeo inspect --tls-verify=false --raw "docker://$R/x:1" | jq -r .config.digest)
layer=$(skopeo inspect --tls-verify=false --raw "docker://$R/x:1" | jq -r '.layers[0].digest')
ok "the manifest, config and layer are in the store" test -f "$ST/blobs/sha256/${want#sha256:}" \
        -a -f "$ST/blobs/sha256/${config#sha256:}" -a -f "$ST/blobs/sha256/${layer#sha256:}"
ok "every blob in the store matches its digest" rehash_store "$ST"
is "$(cat "$ST/cache/refs/$R/x:1")" "$want" "the tag is recorded under cache/refs"
n=$(count "GET /v2/x/blobs/")
"$IMGBUILD" pull --root "$ST" "$R/x:1" >/dev/null 2>&1
is "$(count "GET /v2/x/blobs/")" "$n" "a second pull downloads no blob"
is "$(count '"GET /v2/x/manifests/1 .*imgbuild/')" 1 "... nor the manifest: one HEAD shows the tag still resolves to it"
out=$("$IMGBUILD" pull --root "$ST" "$R/x@$want" 2>&1)
is "$out" "$R/x@$want" "pull by digest prints the digest reference"
out=$("$IMGBUILD" pull --root "$ST" "$R/nope:1" 2>&1); rc=$?
is "$rc" 1 "pulling a missing tag exits 1"
like "$out" "^imgbuild: pull $R/nope:1: manifest 1: 404 MANIFEST_UNKNOWN" "the error names the reference, status and registry code"
"$IMGBUILD" pull --root "$ST" "Bad/Ref" >/dev/null 2>"$IB_TMP/err"; is "$?" 1 "an invalid reference exits 1"
like "$(cat "$IB_TMP/err")" "invalid reference format" "and says why"

port=${R##*:}
out=$("$IMGBUILD" -v debug pull --root "$IB_TMP/s-lh" "localhost:$port/x:1" 2>"$IB_TMP/err")
is "$out" "localhost:$port/x:1@$want" "localhost:PORT is insecure by default: HTTPS fails, plain HTTP is used"
like "$(cat "$IB_TMP/err")" "registry localhost:$port: plain http \(insecure\)" "... and the debug log says so"
like "$(cat "$IB_TMP/err")" "done $layer [1-9][0-9]*/[1-9][0-9]*" "progress events reach the CLI (a layer's done event)"

# ---- registry map (pull ORIG's images from another registry first)
out=$("$IMGBUILD" pull --root "$ST" --registry-map "example.invalid=$R" example.invalid/x:1 2>&1)
is "$out" "example.invalid/x:1@$want" "--registry-map pulls from the mapped registry"
ok "... and records the original name" test -f "$ST/cache/refs/example.invalid/x:1"
ok "seed $R/library/mirrored:1 (a docker.io image on a mirror)" skopeo copy -q --dest-tls-verify=false "oci:$L:latest" "docker://$R/library/mirrored:1"
out=$("$IMGBUILD" pull --root "$ST" --registry-mirror "$R" mirrored:1 2>&1)
is "$out" "docker.io/library/mirrored:1@$want" "--registry-mirror serves docker.io pulls"

# ---- push an OCI layout
out=$("$IMGBUILD" push --root "$ST" --digest-file "$IB_TMP/d" --image-name-with-digest-file "$IB_TMP/nd" \
        --image-name-tag-with-digest-file "$IB_TMP/ntd" "oci:$L:latest" "$R/p:1" 2>"$IB_TMP/err"); rc=$?
is "$rc" 0 "push of an OCI layout exits 0"
src=sha256:$(jq -r '.manifests[0].digest' "$L/index.json" | cut -d: -f2)
is "$out" "$R/p@$src" "push prints DEST@digest of the layout's manifest"
is "$(skopeo inspect --tls-verify=false "docker://$R/p:1" | jq -r .Digest)" "$src" "skopeo inspect agrees on the digest"
is "$(skopeo inspect --tls-verify=false --raw "docker://$R/p:1" | jq -c '[.config.digest, [.layers[].digest]]')" \
   "$(jq -c '[.config.digest, [.layers[].digest]]' "$L/blobs/sha256/${src#sha256:}")" "skopeo agrees on config and layers"
ok "skopeo copy back to an OCI layout" skopeo copy -q --src-tls-verify=false "docker://$R/p:1" "oci:$IB_TMP/back:1"
is "$(jq -r '.manifests[0].digest' "$IB_TMP/back/index.json")" "$src" "the copy has the same manifest digest"
is "$(cat "$IB_TMP/d")" "$src" "--digest-file"
is "$(cat "$IB_TMP/nd")" "$R/p@$src" "--image-name-with-digest-file"
is "$(cat "$IB_TMP/ntd")" "$R/p:1@$src" "--image-name-tag-with-digest-file"

up_p() { count "\"(POST|PUT|PATCH) /v2/p/blobs/uploads"; }
before=$(up_p)
ok "push the same image again" "$IMGBUILD" push --root "$ST" "oci:$L" "$R/p:1"
is "$(up_p)" "$before" "the second push uploads no blob"

ok "push to a second repository" "$IMGBUILD" push --root "$ST" "oci:$L:latest" "$R/q:1"
is "$(count '"POST /v2/q/blobs/uploads/\?mount=sha256:[0-9a-f]+&from=[a-z/]+ HTTP/1.1" 201')" 2 "both blobs are mounted (201)"
is "$(count '"(PUT|PATCH) /v2/q/blobs/uploads')" 0 "and none is uploaded"
ok "... skopeo reads it" skopeo inspect --tls-verify=false "docker://$R/q:1"

out=$("$IMGBUILD" push --root "$IB_TMP/store2" "oci:$L" "$R/t:1" "$R/t:2" 2>&1)
is "$(echo "$out" | wc -l | tr -d ' ')" 2 "two destinations print two lines"
is "$(count '"HEAD /v2/t/blobs/')" 2 "blobs are checked once for two tags of one repository"
is "$(count '"PUT /v2/t/manifests/')" 2 "each tag is one manifest PUT"

ok "chunked push (--push-chunk-size 256 KiB)" "$IMGBUILD" push --root "$IB_TMP/store3" --push-chunk-size 262144 "oci:$L" "$R/c:1"
like "$(count '"PATCH /v2/c/blobs/uploads/')" "^([3-9]|[1-9][0-9]+)$" "the layer went in several PATCH requests"
is "$(skopeo inspect --tls-verify=false "docker://$R/c:1" | jq -r .Digest)" "$src" "the chunked push gives the same image"

ok "make a docker-archive with skopeo" skopeo copy -q "oci:$L:latest" "docker-archive:$IB_TMP/da.tar:da:1"
out=$("$IMGBUILD" push --root "$IB_TMP/store5" "docker-archive:$IB_TMP/da.tar" "$R/da:1" 2>&1)
like "$out" "^$R/da@sha256:" "push of a docker-archive"
is "$(skopeo inspect --tls-verify=false "docker://$R/da:1" | jq -r '.Layers | length')" \
   "$(jq '.layers | length' "$L/blobs/sha256/${src#sha256:}")" "... skopeo sees all its layers"
ok "... and copies it back" skopeo copy -q --src-tls-verify=false "docker://$R/da:1" "oci:$IB_TMP/daback:1"
is "$(skopeo inspect --tls-verify=false --config "docker://$R/da:1" | jq -c .rootfs.diff_ids)" \
   "$(jq -c .rootfs.diff_ids "$L/blobs/sha256/$(jq -r .config.digest "$L/blobs/sha256/${src#sha256:}" | cut -d: -f2)")" \
   "... with the same layer contents (diff_ids)"
out=$("$IMGBUILD" push --root "$ST" "$R/x:1" "$R/fromstore:1" 2>&1)
is "$out" "$R/fromstore@$want" "push from the store by a pulled reference"
"$IMGBUILD" push --root "$ST" "oci:$IB_TMP/none" "$R/z:1" >/dev/null 2>"$IB_TMP/err"; is "$?" 1 "push of a missing layout exits 1"
like "$(cat "$IB_TMP/err")" "is not an OCI layout" "and says so"
"$IMGBUILD" push >/dev/null 2>&1; is "$?" 2 "push without arguments is a usage error"
"$IMGBUILD" pull --platform linux >/dev/null 2>&1; is "$?" 2 "a bad --platform is a usage error"

# ---- multi-platform index
M=$IB_TMP/multi
python3 "$IB_SRCDIR/tests/lib/make-multiarch.py" "$M" >"$IB_TMP/multi.txt"
amd_layer=$(awk '$1=="amd64"{print $3}' "$IB_TMP/multi.txt")
arm_layer=$(awk '$1=="arm64"{print $3}' "$IB_TMP/multi.txt")
arm_man=$(awk '$1=="arm64"{print $2}' "$IB_TMP/multi.txt")
idx=$(awk '$1=="index"{print $2}' "$IB_TMP/multi.txt")
ok "seed a two-platform index with skopeo" skopeo copy -q --all --dest-tls-verify=false "oci:$M:multi" "docker://$R/multi:1"
S4=$IB_TMP/store4
out=$("$IMGBUILD" pull --root "$S4" "$R/multi:1" 2>&1)
is "$out" "$R/multi:1@$idx" "pull of an index prints the index digest"
ok "the host's platform (linux/amd64) was chosen" test -f "$S4/blobs/sha256/${amd_layer#sha256:}"
ok "... and not the other" test ! -e "$S4/blobs/sha256/${arm_layer#sha256:}"
ok "--platform linux/arm64 picks the other" "$IMGBUILD" pull --root "$S4" --platform linux/arm64 "$R/multi:1"
ok "... its layer is in the store" test -f "$S4/blobs/sha256/${arm_layer#sha256:}"
out=$("$IMGBUILD" pull --root "$S4" --platform linux/s390x "$R/multi:1" 2>&1)
like "$out" "no manifest for platform linux/s390x.*linux/amd64, linux/arm64/v8" "a missing platform lists those there are"
out=$("$IMGBUILD" push --root "$S4" "oci:$M:multi" "$R/multi2:1" 2>&1)
is "$out" "$R/multi2@$idx" "push of an index (with both images)"
is "$(skopeo inspect --tls-verify=false --raw "docker://$R/multi2@$arm_man" | jq -r '.layers[0].digest')" "$arm_layer" \
   "the pushed index's arm64 image is complete"

# ---- offline: a digest reference whose blobs are all in the store needs no network
kill "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null
out=$("$IMGBUILD" pull --root "$ST" "$R/x@$want" 2>&1); rc=$?
is "$rc" 0 "pull by digest works with the registry stopped"
is "$out" "$R/x@$want" "... and prints the digest"
out=$("$IMGBUILD" pull --root "$S4" --platform linux/arm64 "$R/multi@$idx" 2>&1)
is "$out" "$R/multi@$idx" "an index by digest works offline for a platform in the store"
"$IMGBUILD" pull --root "$ST" --image-download-retry 0 "$R/x:1" >/dev/null 2>"$IB_TMP/err"; rc=$?
is "$rc" 1 "a tag needs the registry (exit 1 when it is down)"
like "$(cat "$IB_TMP/err")" "pull $R/x:1: .*(refused|connect)" "the error names the reference and the connection failure"
done_testing
