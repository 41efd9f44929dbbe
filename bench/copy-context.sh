#!/bin/bash
# bench/copy-context.sh - COPY of a sizeable context: cache key cold (every file
# hashed) vs warm (digests from the context index), and the copy into a layer.
# Usage: bench/copy-context.sh [FILES] [BIG_MB]   (defaults 20000 files, 256 MB)
set -eu
IMGBUILD=${IMGBUILD:-$(cd "$(dirname "$0")/.." && pwd)/build/imgbuild}
N=${1:-20000}
BIG=${2:-256}
T=$(mktemp -d "${TMPDIR:-/tmp}/ib-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/ctx"
python3 - "$T/ctx" "$N" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "src", "d%03d" % (i % 200))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.c" % i), "w") as f:
        f.write("int v%d = %d;\n" % (i, i) * 20)
PY
head -c "${BIG}M" /dev/urandom >"$T/ctx/big.bin"
sleep 0.1
# wall ms and CPU (user+sys) ms of one run; the machine may be shared, CPU is the steadier figure.
ms() {
        local s e c
        s=$(date +%s%N)
        c=$( { TIMEFORMAT='%3U %3S'; time "$@" >"$T/out" 2>/dev/null; } 2>&1 )
        e=$(date +%s%N)
        echo "$(( (e - s) / 1000000 )) ms wall, $(echo "$c" | awk '{ printf "%d", ($1 + $2) * 1000 }') ms CPU"
}
run() { "$IMGBUILD" debug-copy --root "$T/store" --context "$T/ctx" --dest /app/ "$@" .; }
cold=$(ms run); cold_h=$(grep hashed "$T/out")
warm=$(ms run); warm_h=$(grep hashed "$T/out"); warm_r=$(grep reused "$T/out")
copy=$(ms run --layer "$T/layer")
size=$(du -sm "$T/ctx" | cut -f1)
echo "context: $N files + ${BIG} MB file ($size MB total), $(uname -r), $(nproc) cores"
echo "key cold (hash all):        ${cold} ($cold_h)"
echo "key warm (context index):   ${warm} ($warm_h, $warm_r)"
echo "key warm + copy into layer: ${copy}"
