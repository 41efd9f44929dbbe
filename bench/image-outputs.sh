#!/bin/bash
# bench/image-outputs.sh - time imgbuild's local image outputs against skopeo
# doing the same job on the same image.  Not a test: numbers depend on the
# machine.  Usage: bench/image-outputs.sh [SIZE_MB]   (default 256)
#
#   layout   imgbuild --oci-layout-path (hard links from the store)
#            vs skopeo copy oci:A oci:B (reads and writes every blob)
#   archive  imgbuild --tar-path (ISA-L inflate + tar, uncompressed layers)
#            vs skopeo copy oci:A docker-archive:F
#   inflate  the layer reader (ISA-L) vs zcat (zlib) on the same blob
set -eu
IMGBUILD=${IMGBUILD:-$(cd "$(dirname "$0")/.." && pwd)/build/imgbuild}
SIZE_MB=${1:-256}
W=$(mktemp -d "${TMPDIR:-/tmp}/ib-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT

# A real-looking layer: files from /usr, about SIZE_MB of them.
( cd /usr && find lib share -type f -size -8M 2>/dev/null | head -n 200000 ) >"$W/all"
: >"$W/list"; total=0
while read -r f && [ $total -lt $((SIZE_MB * 1024 * 1024)) ]; do
        s=$(stat -c %s "/usr/$f" 2>/dev/null) || continue
        echo "$f" >>"$W/list"; total=$((total + s))
done <"$W/all"
tar -C /usr --numeric-owner -cf "$W/layer.tar" -T "$W/list"
echo "layer: $(du -m "$W/layer.tar" | cut -f1) MB uncompressed, $(wc -l <"$W/list") files"

# wall seconds and CPU seconds (user+sys): the machine may be shared, CPU is steadier
t() { /usr/bin/time -f '%e %U %S' -o "$W/time" "$@" >/dev/null 2>&1; awk '{printf "%8.2f %8.2f", $1, $2 + $3}' "$W/time"; }
gzip -1 -c "$W/layer.tar" >"$W/layer.tar.gz"     # debug-image stores a compressed layer as it is
"$IMGBUILD" debug-image --root "$W/store" --created 0 --oci-layout-path "$W/src:x" "$W/layer.tar.gz" >/dev/null
blob=$(jq -r '.layers[0].digest' "$W/src/blobs/sha256/$(jq -r '.manifests[0].digest' "$W/src/index.json" | cut -d: -f2)" | cut -d: -f2)
echo "blob: $(du -m "$W/store/blobs/sha256/$blob" | cut -f1) MB gzip"

D=$(jq -r '.manifests[0].digest' "$W/src/index.json")
sync
printf '%-52s %8s %8s\n' "operation" "wall s" "cpu s"
printf '%-52s %s\n' "imgbuild --oci-layout-path (stored image)" "$(t "$IMGBUILD" debug-image --root "$W/store" --image "$D" --oci-layout-path "$W/l1:x")"
printf '%-52s %s\n' "skopeo copy oci: oci:" "$(t skopeo copy -q "oci:$W/src:x" "oci:$W/l2:x")"
setfattr -x user.imgbuild.layer "$W/store/blobs/sha256/$blob" 2>/dev/null || true
printf '%-52s %s\n' "imgbuild --tar-path (size unknown: 2 inflates)" "$(t "$IMGBUILD" debug-image --root "$W/store" --image "$D" --tar-path "$W/a1.tar" --tag b/x:1)"
printf '%-52s %s\n' "imgbuild --tar-path (size remembered: 1 inflate)" "$(t "$IMGBUILD" debug-image --root "$W/store" --image "$D" --tar-path "$W/a1.tar" --tag b/x:1)"
printf '%-52s %s\n' "skopeo copy oci: docker-archive:" "$(t skopeo copy -q "oci:$W/src:x" "docker-archive:$W/a2.tar:b/x:1")"
printf '%-52s %s\n' "zcat blob >/dev/null (zlib inflate, once)" "$(t sh -c "zcat '$W/store/blobs/sha256/$blob' >/dev/null")"
