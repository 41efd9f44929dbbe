#!/bin/bash
# bench/snapshot.sh [WORKDIR] - snapshot benchmarks (not a test), as root; writes
# bench/RESULTS-snapshot.md.  Needs `make all build/tests/helpers/userns-run`.
#
# 1. export of a 1-file change over a 48k-file lower stack vs over a 300-file one:
#    the cost must follow the upper dir only (a real overlay mount in a user
#    namespace, lower trees generated);
# 2. import of a large base (layers made from /usr/share and /usr/include, about
#    1 GB, 75k entries) against `tar -xzf` of the same blobs.
# Medians of RUNS (default 5) alternating runs.
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
B=$SRC/build/imgbuild
NS=$SRC/build/tests/helpers/userns-run
RUNS=${RUNS:-5}
W=${1:-$(mktemp -d /var/tmp/ib-bench.XXXXXX)}
OUT=$SRC/bench/RESULTS-snapshot.md
mkdir -p "$W/bin"
# private copies: rebuilding the tree during a long run must not change the binary
cp "$B" "$NS" "$W/bin/" && B=$W/bin/imgbuild && NS=$W/bin/userns-run
trap 'umount -l "$W"/m-* 2>/dev/null || true' EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f\n", b - a}'; }

# ------------------------------------------------------------ 1. export
gen_lower() { # DIR FILES: FILES small files in dirs of 100, named after DIR (no overlaps)
        python3 - "$1" "$2" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
tag = os.path.basename(root)
for i in range(n):
    d = os.path.join(root, f"{tag}-pkg{i // 100:04d}")
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"file{i % 100:03d}.txt"), "w") as f:
        f.write(f"content of file {i}\n" * 4)
PY
}
if [ ! -d "$W/big/l3/l3-pkg0000" ]; then
        rm -rf "$W/big" "$W/small"
        for l in 1 2 3; do gen_lower "$W/big/l$l" 16000; done
        gen_lower "$W/small/l1" 300
fi
# one RUN-like change on the merged view: mount, write one file, unmount
for c in big small; do
        lowers=$(ls -d "$W/$c"/l* | sort -r | paste -sd:)
        rm -rf "$W/$c/upper" "$W/$c/work"; mkdir -p "$W/$c/upper" "$W/$c/work" "$W/m-$c"
        "$NS" sh -c "mount -t overlay overlay -o userxattr,lowerdir=$lowers,upperdir=$W/$c/upper,workdir=$W/$c/work $W/m-$c &&
                mkdir -p $W/m-$c/etc && echo changed >$W/m-$c/etc/app.conf &&
                s=\$(date +%s.%N) && n=\$(find $W/m-$c | wc -l) && e=\$(date +%s.%N) &&
                echo \"\$n \$s \$e\" >$W/$c.walk && umount $W/m-$c"
done
: >"$W/export.big"; : >"$W/export.small"
for i in $(seq "$RUNS"); do
        for c in big small; do
                s=$(now); "$NS" "$B" debug-layer export --root "$W/store" "$W/$c/upper" >/dev/null; e=$(now)
                secs "$s" "$e" >>"$W/export.$c"
        done
done
eb=$(median <"$W/export.big"); es=$(median <"$W/export.small")
read -r nb ws we <"$W/big.walk"; wb=$(secs "$ws" "$we")
read -r ns_ ws we <"$W/small.walk"; wsm=$(secs "$ws" "$we")
echo "export: big $eb small $es" >&2

# ------------------------------------------------------------ 2. import
if [ ! -s "$W/layers.txt" ]; then
        for d in /usr/share /usr/include; do
                "$B" debug-layer export --root "$W/store" "$d" >>"$W/layers.txt"
        done
fi
bytes=0; blobs=0
while read -r di dg sz _; do
        bytes=$((bytes + $(gzip -dc "$W/store/blobs/sha256/${dg#sha256:}" | wc -c))); blobs=$((blobs + sz))
done <"$W/layers.txt"
entries=0
while read -r di dg _; do
        entries=$((entries + $(tar -tzf "$W/store/blobs/sha256/${dg#sha256:}" | wc -l)))
done <"$W/layers.txt"
: >"$W/imp.ib"; : >"$W/imp.tar"; : >"$W/imp.tarsync"; : >"$W/cpu.ib"; : >"$W/cpu.tar"
cpu() { awk '{u += $1; s += $2} END {printf "%.2f\n", u + s}' "$1"; }   # user+sys of the runs in a file
for i in $(seq "$RUNS"); do
        # imgbuild: both layers, from blob to published layer dirs (one syncfs each)
        while read -r di _; do "$NS" rm -rf "$W/store/layers/${di#sha256:}"; done <"$W/layers.txt"
        : >"$W/t"
        s=$(now)
        while read -r di dg _; do /usr/bin/time -a -o "$W/t" -f "%U %S" "$NS" "$B" debug-layer import --root "$W/store" \
                --diff-id "$di" "$dg" >/dev/null 2>&1; done <"$W/layers.txt"
        e=$(now); secs "$s" "$e" >>"$W/imp.ib"; cpu "$W/t" >>"$W/cpu.ib"
        # GNU tar, same blobs, same namespace
        rm -rf "$W/tarx"; mkdir -p "$W/tarx"; sync -f "$W/tarx"
        : >"$W/t"
        s=$(now)
        n=0; while read -r di dg _; do n=$((n + 1)); mkdir -p "$W/tarx/$n"
                /usr/bin/time -a -o "$W/t" -f "%U %S" "$NS" tar -xzf "$W/store/blobs/sha256/${dg#sha256:}" -C "$W/tarx/$n"
        done <"$W/layers.txt"
        m=$(now); sync -f "$W/tarx"; e=$(now)
        secs "$s" "$m" >>"$W/imp.tar"; secs "$s" "$e" >>"$W/imp.tarsync"; cpu "$W/t" >>"$W/cpu.tar"
done
ti=$(median <"$W/imp.ib"); tt=$(median <"$W/imp.tar"); tts=$(median <"$W/imp.tarsync")
ci=$(median <"$W/cpu.ib"); ct=$(median <"$W/cpu.tar")
mbs() { awk -v b="$bytes" -v t="$1" 'BEGIN {printf "%.0f", b / t / 1e6}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

cat >"$OUT" <<EOF2
# snapshot benchmarks

\`bench/snapshot.sh\`, $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r), load average at the
end $(cut -d' ' -f1-3 /proc/loadavg) (other jobs shared the machine: figures are noisy).
Medians of $RUNS alternating runs.  Raw times at the end.

## Export of a 1-file change: cost follows the upper dir only

A real overlay mount (userxattr, in a user namespace) over generated lower dirs;
one file written (\`etc/app.conf\`, so the upper dir holds \`etc/\` and the file),
then \`imgbuild debug-layer export\` of the upper dir (walk, tar, gzip, both
digests, blob into the store; includes process start and the namespace).

| lower stack | files in the merged view | export (median) | for contrast: \`find\` over the merged view once |
|---|---:|---:|---:|
| 3 lowers of 16,000 files | $nb | ${eb}s | ${wb}s |
| 1 lower of 300 files | $ns_ | ${es}s | ${wsm}s |

Ratio big/small: $(ratio "$eb" "$es") (1.00 = the lower stack costs nothing).

## Import of a large base vs \`tar -xzf\`

Two layers exported from \`/usr/share\` and \`/usr/include\` (gzip, ISA-L level 1):
$blobs bytes of blobs, $bytes bytes of tar, $entries entries.  Each run starts
from no layer dirs; the blobs are in the page cache for both tools.  Both run as
uid 0 of the same kind of user namespace.  imgbuild verifies both digests and
calls syncfs once per layer before publishing; GNU tar does neither, so it is
shown with and without a final \`sync -f\`.

| | elapsed (median) | throughput (tar bytes/s) | CPU user+sys (median) |
|---|---:|---:|---:|
| imgbuild debug-layer import (2 layers; decompression thread, digests, syncfs) | ${ti}s | $(mbs "$ti") MB/s | ${ci}s |
| tar -xzf (gzip -d in a second process) | ${tt}s | $(mbs "$tt") MB/s | ${ct}s |
| tar -xzf + sync -f | ${tts}s | $(mbs "$tts") MB/s | |

Target: imgbuild within 1.2x of \`tar -xzf\`.  imgbuild/tar elapsed: $(ratio "$ti" "$tt") against tar
alone, $(ratio "$ti" "$tts") against tar + sync; CPU: $(ratio "$ci" "$ct").
EOF2
{
        echo; echo "## Raw runs (seconds, in run order)"; echo
        for f in export.big:"export, 48k-file stack" export.small:"export, 300-file stack" \
                 imp.ib:"imgbuild import, elapsed" imp.tar:"tar -xzf, elapsed" imp.tarsync:"tar -xzf + sync -f, elapsed" \
                 cpu.ib:"imgbuild import, CPU" cpu.tar:"tar -xzf, CPU"; do
                echo "- ${f#*:}: $(tr '\n' ' ' <"$W/${f%%:*}" | sed 's/ $//')"
        done
} >>"$OUT"
cat "$OUT"
