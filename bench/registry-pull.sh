#!/bin/bash
# bench/registry-pull.sh - cold pull of a multi-layer image from a loopback
# docker-registry: `imgbuild pull` into an empty store against
# `skopeo copy docker://... oci:DIR` (the floor: same bytes, same registry).
#   BENCH_LAYERS (default 7) layers of BENCH_LAYER_MB (default 32) MiB of random
#   data (incompressible, stored as plain tar so generation stays cheap),
#   BENCH_RUNS (default 3) runs of each; the median wall time is reported.
# Results are appended to bench/RESULTS-registry.md.  Not a test: never in make check.
set -u
IB_SRCDIR=${IB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
IMGBUILD=${IMGBUILD:-$IB_SRCDIR/build/imgbuild}
. "$IB_SRCDIR/tests/lib/tap.sh"
layers=${BENCH_LAYERS:-7} mb=${BENCH_LAYER_MB:-32} runs=${BENCH_RUNS:-3}
start_registry || { echo "cannot start docker-registry" >&2; exit 1; }
L=$IB_TMP/big
python3 - "$L" "$layers" "$mb" <<'PY'
import hashlib, io, json, os, sys, tarfile
d, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d + "/blobs/sha256", exist_ok=True)
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open("%s/blobs/sha256/%s" % (d, h), "wb").write(b)
    return "sha256:" + h, len(b)
ls, diffs = [], []
for i in range(n):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        data = os.urandom(mb << 20)
        ti = tarfile.TarInfo("layer%d.bin" % i); ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    dg, sz = put(raw.getvalue()); diffs.append(dg)
    ls.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": dg, "size": sz})
cd, cs = put(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diffs}}).encode())
md, ms = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs}, "layers": ls}).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
    "size": ms, "annotations": {"org.opencontainers.image.ref.name": "big"}}]}, open(d + "/index.json", "w"))
open(d + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
skopeo copy -q --dest-tls-verify=false "oci:$L:big" "docker://$REGISTRY/big:1" || exit 1
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ib_times="" sk_times=""
for i in $(seq "$runs"); do
        rm -rf "$IB_TMP/store"; sync
        t0=$(now); "$IMGBUILD" pull --root "$IB_TMP/store" "$REGISTRY/big:1" >/dev/null || exit 1; t1=$(now)
        ib_times="$ib_times $(echo "$t1 - $t0" | bc)"
        rm -rf "$IB_TMP/oci"; sync
        t0=$(now); skopeo copy -q --src-tls-verify=false "docker://$REGISTRY/big:1" "oci:$IB_TMP/oci:1" || exit 1; t1=$(now)
        sk_times="$sk_times $(echo "$t1 - $t0" | bc)"
done
ib=$(echo $ib_times | tr ' ' '\n' | median); sk=$(echo $sk_times | tr ' ' '\n' | median)
total=$((layers * mb))
ratio=$(echo "scale=2; $ib / $sk" | bc)
{
        echo
        echo "## $(date -u '+%Y-%m-%d %H:%M UTC') - $layers layers x $mb MiB ($total MiB), $runs runs, load $(cut -d' ' -f1 /proc/loadavg)"
        echo
        echo "| tool | runs (s) | median (s) | MiB/s |"
        echo "|---|---|---|---|"
        echo "| imgbuild pull | $ib_times | $ib | $(echo "scale=0; $total / $ib" | bc) |"
        echo "| skopeo copy to oci: | $sk_times | $sk | $(echo "scale=0; $total / $sk" | bc) |"
        echo
        echo "imgbuild / skopeo = $ratio (below 1 is faster).  imgbuild verifies every digest while it streams"
        echo "and fsyncs each blob before the rename; skopeo also verifies digests."
} | tee -a "$IB_SRCDIR/bench/RESULTS-registry.md"
