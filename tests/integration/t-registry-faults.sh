#!/bin/bash
# Registry faults through a misbehaving proxy (tests/lib/fault-proxy.py):
# connection resets, 500s, 429 with Retry-After, a blob cut in the middle
# (resumed with a Range request), a corrupted blob (retried, or refused naming
# the blob and both digests).  After every case each file in the store's
# blobs/sha256 is re-hashed: the store never holds a wrong blob.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
for t in docker-registry skopeo umoci jq python3; do
        command -v $t >/dev/null || skip_all "$t not installed"
done
start_registry || skip_all "cannot start docker-registry"
L=$IB_TMP/bb
make_busybox_layout "$L" >/dev/null 2>&1 || skip_all "cannot make the busybox layout"
ok "seed $REGISTRY/x:1" skopeo copy -q --dest-tls-verify=false "oci:$L:latest" "docker://$REGISTRY/x:1"
want=$(skopeo inspect --tls-verify=false "docker://$REGISTRY/x:1" | jq -r .Digest)
layer=$(skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/x:1" | jq -r '.layers[0].digest')
start_fault_proxy "$REGISTRY" none 0 || skip_all "cannot start the fault proxy"
X=$PROXY
n=0
fault() { curl -fs "http://$X/__fault?mode=$1&count=$2&match=$3" >/dev/null; }
# case NAME MODE COUNT MATCH: pull through the proxy into a fresh store
pull_case() {
        n=$((n + 1)); S=$IB_TMP/s$n
        fault "$2" "$3" "$4"
        out=$("$IMGBUILD" pull --root "$S" --image-download-retry "${RETRIES:-3}" "$X/x:1" 2>"$IB_TMP/err"); rc=$?
}

pull_case reset reset 2 /blobs/
is "$rc:$out" "0:$X/x:1@$want" "pull succeeds through two connection resets"
is "$(grep -c -- '-> reset' "$PROXY_LOG" | tr -d ' ')" 2 "... the proxy did reset two requests"
ok "... store verified" rehash_store "$S"

pull_case 500 500 2 /manifests/
is "$rc:$out" "0:$X/x:1@$want" "pull succeeds through two 500s on the manifest"
ok "... store verified" rehash_store "$S"

pull_case 429 429 1 /blobs/
is "$rc:$out" "0:$X/x:1@$want" "pull succeeds after a 429 with Retry-After"
ok "... store verified" rehash_store "$S"

: >"$PROXY_LOG"
pull_case cut cut 1 "/blobs/$layer"
is "$rc:$out" "0:$X/x:1@$want" "pull succeeds when the layer is cut in the middle"
like "$(cat "$PROXY_LOG")" "GET /v2/x/blobs/$layer range=bytes=[1-9][0-9]*- -> 206" "... the rest came with a Range request (206)"
ok "... store verified" rehash_store "$S"

pull_case corrupt1 corrupt 1 "/blobs/$layer"
is "$rc:$out" "0:$X/x:1@$want" "pull succeeds when the first copy of the layer is corrupted"
ok "... store verified" rehash_store "$S"

pull_case corrupt corrupt 0 "/blobs/$layer"
is "$rc" 1 "a layer that is always corrupted fails the pull (exit 1)"
like "$(cat "$IB_TMP/err")" "^imgbuild: pull $X/x:1: blob $layer: digest mismatch: expected $layer, got sha256:[0-9a-f]{64}" \
        "... naming the blob and both digests"
ok "... the wrong blob is not in the store" test ! -e "$S/blobs/sha256/${layer#sha256:}"
ok "... store verified" rehash_store "$S"
ok "... no temp file is left behind" sh -c "! ls '$S'/tmp/*/blob-* 2>/dev/null"

RETRIES=1 pull_case 500-always 500 0 /blobs/
is "$rc" 1 "a registry that keeps failing fails the pull after the retries"
like "$(cat "$IB_TMP/err")" "^imgbuild: pull $X/x:1: blob sha256:[0-9a-f]{64}: 500 UNAVAILABLE: injected fault" \
        "... with the status and the registry's error code and message"
ok "... store verified" rehash_store "$S"

pull_case schema1 schema1 0 /manifests/
is "$rc" 1 "a Docker schema 1 manifest is refused (exit 1)"
like "$(cat "$IB_TMP/err")" "^imgbuild: pull $X/x:1: this image uses the obsolete Docker schema 1 manifest" "... with a clear message"

# pushes retry too
fault 500 1 "/blobs/uploads/"
out=$("$IMGBUILD" push --root "$IB_TMP/p1" "oci:$L" "$X/pushed:1" 2>&1)
like "$out" "^$X/pushed@sha256:" "push succeeds through a 500 on an upload"
fault reset 1 "/manifests/"
out=$("$IMGBUILD" push --root "$IB_TMP/p2" "oci:$L" "$X/pushed:2" 2>&1)
like "$out" "^$X/pushed@sha256:" "push succeeds through a reset on the manifest PUT"
fault 500 0 "/blobs/uploads/"
"$IMGBUILD" push --root "$IB_TMP/p3" --push-retry 1 "oci:$L" "$X/pushed2:1" >/dev/null 2>"$IB_TMP/err"
is "$?" 1 "push fails when uploads keep failing (--push-retry 1)"
like "$(cat "$IB_TMP/err")" "^imgbuild: push $X/pushed2:1: .*500 UNAVAILABLE" "... and names the reference and status"
done_testing
