#!/bin/bash
# Registry faults through a misbehaving proxy (tests/lib/fault-proxy.py):
# connection resets, 500s and 503s, 429 with Retry-After, a blob cut in the
# middle (resumed with a Range request), a trickle of 1 KB/s, a corrupted blob
# (retried, or refused naming the blob and both digests), a manifest that is
# not JSON, a giant manifest (refused at 4 MiB), redirect loops; uploads cut,
# refused and redirected in circles.  Every case ends in success through
# retries or in an error naming the reference and what failed, and afterwards
# `imgbuild store verify` finds the store clean.
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
        out=$("$IMGBUILD" pull --root "$S" --image-download-retry "${RETRIES:-3}" "$X/${IMG:-x:1}" 2>"$IB_TMP/err"); rc=$?
}

pull_case reset reset 2 /blobs/
is "$rc:$out" "0:$X/x:1@$want" "pull succeeds through two connection resets"
is "$(grep -c -- '-> reset' "$PROXY_LOG" | tr -d ' ')" 2 "... the proxy did reset two requests"
ok "... store verified" store_verify "$S"

pull_case 500 500 2 /manifests/
is "$rc:$out" "0:$X/x:1@$want" "pull succeeds through two 500s on the manifest"
ok "... store verified" store_verify "$S"

pull_case 429 429 1 /blobs/
is "$rc:$out" "0:$X/x:1@$want" "pull succeeds after a 429 with Retry-After"
ok "... store verified" store_verify "$S"

: >"$PROXY_LOG"
pull_case cut cut 1 "/blobs/$layer"
is "$rc:$out" "0:$X/x:1@$want" "pull succeeds when the layer is cut in the middle"
like "$(cat "$PROXY_LOG")" "GET /v2/x/blobs/$layer range=bytes=[1-9][0-9]*- -> 206" "... the rest came with a Range request (206)"
ok "... store verified" store_verify "$S"

pull_case corrupt1 corrupt 1 "/blobs/$layer"
is "$rc:$out" "0:$X/x:1@$want" "pull succeeds when the first copy of the layer is corrupted"
ok "... store verified" store_verify "$S"

pull_case corrupt corrupt 0 "/blobs/$layer"
is "$rc" 1 "a layer that is always corrupted fails the pull (exit 1)"
diag "$(cat "$IB_TMP/err")"; like "$(cat "$IB_TMP/err")" "^imgbuild: pull $X/x:1: blob $layer: digest mismatch: expected $layer, got sha256:[0-9a-f]{64}" \
        "... naming the blob and both digests"
ok "... the wrong blob is not in the store" test ! -e "$S/blobs/sha256/${layer#sha256:}"
ok "... store verified" store_verify "$S"
ok "... no temp file is left behind" sh -c "! ls '$S'/tmp/*/blob-* 2>/dev/null"

RETRIES=1 pull_case 500-always 500 0 /blobs/
is "$rc" 1 "a registry that keeps failing fails the pull after the retries"
diag "$(cat "$IB_TMP/err")"; like "$(cat "$IB_TMP/err")" "^imgbuild: pull $X/x:1: blob sha256:[0-9a-f]{64}: 500 UNAVAILABLE: injected fault" \
        "... with the status and the registry's error code and message"
ok "... store verified" store_verify "$S"

pull_case 503 503 2 /blobs/
is "$rc:$out" "0:$X/x:1@$want" "pull succeeds through two 503s on blobs"
ok "... store verified" store_verify "$S"

# a trickle: a small image (a 3 KB layer) served at 1 KB/s completes; imgbuild
# only gives up on a transfer that moves under 1 byte/s for 60 s (CURLOPT_LOW_SPEED_*)
SL=$IB_TMP/small
umoci init --layout "$SL" && umoci new --image "$SL:small" && head -c 2500 /dev/urandom >"$IB_TMP/rnd" &&
        umoci insert --image "$SL:small" "$IB_TMP/rnd" /rnd >/dev/null
ok "seed $REGISTRY/small:1" skopeo copy -q --dest-tls-verify=false "oci:$SL:small" "docker://$REGISTRY/small:1"
swant=$(skopeo inspect --tls-verify=false "docker://$REGISTRY/small:1" | jq -r .Digest)
slayer=$(skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/small:1" | jq -r '.layers[-1].digest')
: >"$PROXY_LOG"
t0=$(date +%s)
IMG=small:1 pull_case trickle trickle 1 "/blobs/$slayer"
is "$rc:$out" "0:$X/small:1@$swant" "pull succeeds when a layer trickles in at 1 KB/s"
like "$(cat "$PROXY_LOG")" "trickled [0-9]+ bytes at 1024 B/s" "... the proxy did trickle it"
ok "... and it took the time a trickle takes (>= 2 s)" test $(( $(date +%s) - t0 )) -ge 2
ok "... store verified" store_verify "$S"

pull_case notjson notjson 0 /manifests/
is "$rc" 1 "a manifest that is not JSON fails the pull (exit 1)"
diag "$(cat "$IB_TMP/err")"; like "$(cat "$IB_TMP/err")" "^imgbuild: pull $X/x:1: .*manifest.*(JSON|json|parse)" "... naming the reference and the manifest"
ok "... store verified" store_verify "$S"

pull_case giant giant 0 /manifests/
is "$rc" 1 "a 5 MiB manifest is refused (exit 1)"
diag "$(cat "$IB_TMP/err")"; like "$(cat "$IB_TMP/err")" "^imgbuild: pull $X/x:1: .*manifest.*larger than 4194304 bytes" "... at the 4 MiB limit, naming the reference"
ok "... store verified" store_verify "$S"
ok "... nothing of it was stored" sh -c "! grep -rl '\"pad\"' '$S/blobs/sha256' 2>/dev/null"

RETRIES=1 pull_case loop-blob loop 0 /blobs/
is "$rc" 1 "a redirect loop on a blob fails the pull (exit 1)"
diag "$(cat "$IB_TMP/err")"; like "$(cat "$IB_TMP/err")" "^imgbuild: pull $X/x:1: .*blob sha256:[0-9a-f]{64}: more than 10 redirects, the last to .http://[^?]*/blobs/sha256:[0-9a-f]{64}." "... naming the blob, the loop and the URL"
ok "... store verified" store_verify "$S"

RETRIES=1 pull_case loop-manifest loop 0 /manifests/
is "$rc" 1 "a redirect loop on the manifest fails the pull (exit 1)"
diag "$(cat "$IB_TMP/err")"; like "$(cat "$IB_TMP/err")" "^imgbuild: pull $X/x:1: .*manifest.*more than 10 redirects, the last to .http:[^ ]*/manifests/1." "... naming the manifest and the loop"
ok "... store verified" store_verify "$S"

pull_case schema1 schema1 0 /manifests/
is "$rc" 1 "a Docker schema 1 manifest is refused (exit 1)"
diag "$(cat "$IB_TMP/err")"; like "$(cat "$IB_TMP/err")" "^imgbuild: pull $X/x:1: this image uses the obsolete Docker schema 1 manifest" "... with a clear message"

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
diag "$(cat "$IB_TMP/err")"; like "$(cat "$IB_TMP/err")" "^imgbuild: push $X/pushed2:1: .*500 UNAVAILABLE" "... and names the reference and status"
fault 503 2 "/blobs/uploads/"
out=$("$IMGBUILD" push --root "$IB_TMP/p4" "oci:$L" "$X/pushed:3" 2>&1)
like "$out" "^$X/pushed@sha256:" "push succeeds through two 503s on uploads"
fault 429 1 "/manifests/"
out=$("$IMGBUILD" push --root "$IB_TMP/p5" "oci:$L" "$X/pushed:4" 2>&1)
like "$out" "^$X/pushed@sha256:" "push succeeds after a 429 with Retry-After on the manifest PUT"
: >"$PROXY_LOG"
fault cut 1 "/blobs/uploads/"
out=$("$IMGBUILD" push --root "$IB_TMP/p6" "oci:$L" "$X/pushcut:5" 2>&1)
like "$out" "^$X/pushcut@sha256:" "push succeeds when an upload is cut in the middle"
like "$(cat "$PROXY_LOG")" "upload cut at" "... the proxy did cut an upload"
ok "... the pushed image is whole (skopeo copies it back)" \
        skopeo copy -q --src-tls-verify=false "docker://$REGISTRY/pushcut:5" "oci:$IB_TMP/back:5"
fault loop 0 "/blobs/uploads/"
"$IMGBUILD" push --root "$IB_TMP/p7" --push-retry 1 "oci:$L" "$X/pushed3:1" >/dev/null 2>"$IB_TMP/err"
is "$?" 1 "push fails on a redirect loop"
diag "$(cat "$IB_TMP/err")"; like "$(cat "$IB_TMP/err")" "^imgbuild: push $X/pushed3:1: upload of sha256:[0-9a-f]{64}: .*more than 10 redirects" "... and names the reference and the loop"
fault giant 0 "/manifests/"
for p in p1 p2 p3 p4 p5 p6 p7; do store_verify "$IB_TMP/$p" >"$IB_TMP/verify.$p" 2>&1 || echo "$p"; done >"$IB_TMP/bad"
is "$(cat "$IB_TMP/bad")" "" "every push store verifies clean"
done_testing
