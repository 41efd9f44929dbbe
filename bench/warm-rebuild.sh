#!/bin/bash
# bench/warm-rebuild.sh - a warm rebuild (everything cached, nothing pushed) of
# the Kaniko article's multi-stage Dockerfile, imgbuild against buildah bud
# --layers, run alternately (A B A B ...), N pairs per base; medians, and the
# median of the pair ratios.  Bases, from a docker-registry on loopback for both
# tools: a one-layer busybox named node:12, and the bench's ~900 MB node:12
# (bench/base-node.sh) when its OCI layout is in $IB_BENCH_DIR/oci/node (this
# script never makes it: that takes a while and needs the Debian mirror).
# imgbuild is also timed with --pull (the tag re-checked with the registry each
# build, as Kaniko does) and `imgbuild version` (process start-up only).
# As root.  Writes bench/RESULTS-cache.md.
#   N=15 bash bench/warm-rebuild.sh
set -u
N=${N:-15}
SRC=$(cd "$(dirname "$0")/.." && pwd)
export IB_SRCDIR=$SRC IMGBUILD=${IMGBUILD:-$SRC/build/imgbuild}
IB_BENCH_DIR=${IB_BENCH_DIR:-/var/tmp/imgbuild-bench}
unset CI IB_TESTS_MUST_RUN
. "$SRC/tests/lib/tap.sh" >/dev/null
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v buildah >/dev/null || { echo "buildah is not installed" >&2; exit 1; }
start_registry >/dev/null || { echo "docker-registry did not start" >&2; exit 1; }
make_busybox_layout "$IB_TMP/bb" latest >/dev/null 2>&1
skopeo copy --dest-tls-verify=false "oci:$IB_TMP/bb:latest" "docker://$REGISTRY/bb/node:12" >/dev/null 2>&1
bases="bb"
if [ -f "$IB_BENCH_DIR/oci/node/index.json" ] &&
   skopeo copy --dest-tls-verify=false "oci:$IB_BENCH_DIR/oci/node:12" "docker://$REGISTRY/big/node:12" >/dev/null 2>&1; then
        bases="bb big"
fi

BA=(buildah --root "$IB_TMP/buildah" --runroot "$IB_TMP/buildah-run" --storage-driver overlay)
on_exit "${BA[*]} rm -a; ${BA[*]} rmi -a -f; umount -R '$IB_TMP/buildah' 2>/dev/null"
# Bash's own clock ($EPOCHREALTIME, microseconds): timing with two `date`
# processes added their start-up and exit (several ms here) to every figure.
ms() { local t0 t1 rc; t0=${EPOCHREALTIME/[.,]/}; "$@"; rc=$?; t1=${EPOCHREALTIME/[.,]/}; echo $(( t1 - t0 )); return $rc; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { printf '%s | %s' "$(printf '%s\n' "$@" | sort -n | head -1)" "$(printf '%s\n' "$@" | sort -n | tail -1)"; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rows=""
cpurows=""

for base in $bases; do
        ctx=$IB_TMP/ctx-$base; mkdir -p "$ctx"
        cat >"$ctx/Dockerfile" <<EOF
FROM $REGISTRY/$base/node:12 AS build
RUN echo "hello" > /result.txt
RUN cat /result.txt

FROM $REGISTRY/$base/node:12
COPY --from=build /result.txt /
EOF
        imgbuild_run() { "$IMGBUILD" -v error build --root "$IB_TMP/store" --no-push -q "$ctx" >/dev/null; }
        imgbuild_pull() { "$IMGBUILD" -v error build --root "$IB_TMP/store" --pull --no-push -q "$ctx" >/dev/null; }
        buildah_run() { "${BA[@]}" bud --layers --isolation chroot --tls-verify=false --quiet -f "$ctx/Dockerfile" "$ctx" >/dev/null 2>&1; }
        imgbuild_run && buildah_run || { echo "cold builds failed ($base)" >&2; exit 1; }     # fill both caches
        a=(); b=(); p=(); r=()
        for i in $(seq "$N"); do
                x=$(ms imgbuild_run) || { echo "imgbuild failed" >&2; exit 1; }
                y=$(ms buildah_run) || { echo "buildah failed" >&2; exit 1; }
                z=$(ms imgbuild_pull) || { echo "imgbuild --pull failed" >&2; exit 1; }
                a+=("$x"); b+=("$y"); p+=("$z"); r+=("$(awk -v x="$x" -v y="$y" 'BEGIN { printf "%.4f", x / y }')")
        done
        name=$([ "$base" = bb ] && echo "busybox (1 layer)" || echo "node:12-like, ~900 MB")
        # CPU time (all the processes' task-clock), which a busy machine inflates far less than wall time
        cpu() { perf stat -x, -e task-clock -r "$N" "$@" 2>&1 >/dev/null | awk -F, '/task-clock/ { printf "%d", $1 * 1000 }'; }
        if command -v perf >/dev/null; then
                ca=$(cpu "$IMGBUILD" -v error build --root "$IB_TMP/store" --no-push -q "$ctx")
                cb=$(cpu "${BA[@]}" bud --layers --isolation chroot --tls-verify=false --quiet -f "$ctx/Dockerfile" "$ctx")
                cpurows="$cpurows| $name | imgbuild build | $ca |
| $name | buildah bud --layers | $cb |
"
        fi
        rows="$rows| $name | imgbuild build | $(median "${a[@]}") | $(minmax "${a[@]}") |
| $name | imgbuild build --pull | $(median "${p[@]}") | $(minmax "${p[@]}") |
| $name | buildah bud --layers | $(median "${b[@]}") | $(minmax "${b[@]}") |
| $name | **imgbuild / buildah** (median of pair ratios) | **$(median "${r[@]}")** | | |
"
done
quiet_version() { "$IMGBUILD" version >/dev/null; }
vs=(); for i in $(seq "$N"); do vs+=("$(ms quiet_version)"); done
true_t=(); for i in $(seq "$N"); do true_t+=("$(ms /bin/true)"); done
ld=$(LD_DEBUG=statistics "$IMGBUILD" version 2>&1 | awk '/total startup time in dynamic loader/ { print $(NF-1) }')
libs=$(ldd "$IMGBUILD" | wc -l)

out=$SRC/bench/RESULTS-cache.md
{
        echo "# Warm rebuild: the article's multi-stage Dockerfile, everything cached"
        echo
        echo "Generated by \`bench/warm-rebuild.sh\` (N=$N rounds, imgbuild and buildah alternating)."
        echo "Wall time in microseconds; the ratio is taken pair by pair, then its median."
        echo
        echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "- machine: $(uname -sr) $(uname -m), $(nproc) CPUs; load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "- imgbuild $("$IMGBUILD" version | cut -d' ' -f2) ($(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)), $(buildah --version)"
        echo "- as root; both tools pull the base from a docker-registry on loopback; imgbuild with --no-push -q"
        echo
        echo "| base | what | median µs | min µs | max µs |"
        echo "|---|---|---|---|---|"
        printf '%s' "$rows"
        echo "| - | imgbuild version (process start-up only) | $(median "${vs[@]}") | $(minmax "${vs[@]}") |"
        echo "| - | /bin/true (the machine's floor for a process) | $(median "${true_t[@]}") | $(minmax "${true_t[@]}") |"
        if [ -n "$cpurows" ]; then
                echo
                echo "CPU time, all processes (perf stat -e task-clock -r $N, mean):"
                echo
                echo "| base | what | CPU µs |"
                echo "|---|---|---|"
                printf '%s' "$cpurows"
        fi
        echo
        echo "Targets: <= 30 ms wall, and <= 0.1x buildah's. imgbuild loads $libs shared objects"
        echo "(libcurl is dlopen'ed only when the network is used); the dynamic loader takes ${ld:-?} cycles"
        echo "at start-up."
} >"$out"
cat "$out"
