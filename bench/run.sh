#!/bin/bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# bench/run.sh - the side-by-side suite of issue #8 (`make bench`; never in make check).
# imgbuild against buildah (root and rootless, overlay driver, --isolation chroot,
# its fastest) and docker (a private dockerd, legacy builder) where it starts, on a
# busybox base and a node:12-shaped base (bench/base-node.sh), both pulled from a
# docker-registry on loopback.  For each case and run, the tools take turns
# (A B C ... A B C ...), each doing: cold (empty store) -> warm (same build again,
# everything cached) -> nocache (some cases: --no-cache, base already local) ->
# push (the freshly built image to a new repository).  Wall time by the clock,
# peak RSS by /usr/bin/time -v; imgbuild's own per-phase seconds from its JSON
# summary.  The floor of each cold case (curl the base's blobs, igzip -dc | tar -x
# into the same file system) runs in the same rotation.  As root.
#   BENCH_RUNS=5 (runs per figure), BENCH_CASES="...", BENCH_TOOLS="...",
#   IB_BENCH_DIR=/var/tmp/imgbuild-bench (bases, registry, work dirs)
# Writes bench/RESULTS.md (bench/RESULTS-notes.md, hand-written, is appended).
set -u
RUNS=${BENCH_RUNS:-5}
CASES=${BENCH_CASES:-"run1-bb run3-bb run1-node copy5k big200 article-bb article-node"}
SRC=$(cd "$(dirname "$0")/.." && pwd)
IMGBUILD=${IMGBUILD:-$SRC/build/imgbuild}
. "$SRC/bench/lib.sh"
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: run as root" >&2; exit 1; }
[ -x "$IMGBUILD" ] || { echo "bench/run.sh: no $IMGBUILD (make all)" >&2; exit 1; }
for t in buildah skopeo igzip curl jq /usr/bin/time; do
        command -v $t >/dev/null || { echo "bench/run.sh: $t is not installed" >&2; exit 1; }
done
say() { echo "bench: $(date -u +%T) $*" >&2; }

if [ -z "${BENCH_SKIP_BASES:-}" ]; then
        say "bases (bench/base-node.sh; the first time takes ~15 min)"
        bash "$SRC/bench/base-node.sh" >"$IB_BENCH_DIR/bases.out" 2>"$IB_BENCH_DIR/bases.err" ||
                { cat "$IB_BENCH_DIR/bases.err" >&2; exit 1; }
fi
bench_registry || exit 1
REG=$BENCH_REGISTRY
W=$(mktemp -d "$IB_BENCH_DIR/run.XXXXXX"); chmod 755 "$W"
RES=$W/results.tsv; PH=$W/phases.tsv; : >"$RES"; : >"$PH"
DOCKERD_PID=""
cleanup() {
        for s in "$W"/s-*/ba; do [ -d "$s" ] && ba_wipe "$s"; done
        [ -n "$DOCKERD_PID" ] && { kill "$DOCKERD_PID"; wait "$DOCKERD_PID"; } 2>/dev/null
        [ -n "${DX:-}" ] && rm -rf "$DX"
        [ -n "${BENCH_KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ tools
TOOLS=${BENCH_TOOLS:-"imgbuild buildah imgbuild-rl buildah-rl docker"}
U=${IB_TEST_USER:-ibtest}
if [[ " $TOOLS " = *-rl* ]]; then
        if ! id "$U" >/dev/null 2>&1 || ! grep -q "^$U:" /etc/subuid; then
                say "no user $U with subordinate ids: rootless runs left out"
                TOOLS=$(echo "$TOOLS" | tr ' ' '\n' | grep -v -- -rl | tr '\n' ' ')
        else
                install -m 755 "$IMGBUILD" "$W/imgbuild"
        fi
fi
as_u() { # cmd...: as the unprivileged user, clean environment
        setpriv --reuid="$U" --regid="$U" --init-groups --reset-env env HOME="$W/u-home" \
                PATH=/usr/sbin:/usr/bin:/sbin:/bin XDG_RUNTIME_DIR="$W/u-xdg" TMPDIR="$W/u-tmp" "$@"
}
mkdir -p "$W/u-home" "$W/u-xdg" "$W/u-tmp"; chmod 700 "$W/u-xdg"; chown "$U" "$W/u-home" "$W/u-xdg" "$W/u-tmp" 2>/dev/null

DOCKER=(docker -H "unix://$W/docker.sock")
if [[ " $TOOLS " = *" docker "* ]]; then
        # exec-root: containerd's socket paths must stay short
        DX=$(mktemp -d /run/ibb.XXXX)
        dockerd --iptables=false --bridge=none --data-root "$W/docker" --host "unix://$W/docker.sock" \
                --exec-root "$DX" --pidfile "$W/docker.pid" >"$W/dockerd.log" 2>&1 &
        DOCKERD_PID=$!
        i=0; while [ $i -lt 120 ] && ! "${DOCKER[@]}" info >/dev/null 2>&1; do sleep 0.5; i=$((i + 1)); done
        if ! "${DOCKER[@]}" info >/dev/null 2>&1; then
                say "dockerd did not start: docker left out (log: $W/dockerd.log)"
                DOCKER_FAIL=$(tail -3 "$W/dockerd.log")
                TOOLS=$(echo "$TOOLS" | tr ' ' '\n' | grep -vx docker | tr '\n' ' ')
        fi
fi
TOOLS="$TOOLS floor"

# Per tool: T_cold CASE STORE, T_warm CASE STORE, T_nocache, T_push CASE STORE REPO.
# Each builds $W/ctx/CASE; STORE is the tool's private store for this run.
ib_build() { # user? store ctx extra...
        local who=$1 s=$2 c=$3; shift 3
        if [ "$who" = u ]; then
                as_u "${TM[@]}" "$W/imgbuild" build --log-format json --root "$s/ib" --insecure-pull \
                        --no-push "$@" "$c" 2>"$s/log"
        else
                "${TM[@]}" "$IMGBUILD" build --log-format json --root "$s/ib" --insecure-pull \
                        --no-push "$@" "$c" 2>"$s/log"
        fi >/dev/null
}
ib_push() {
        local who=$1 s=$2 r=$3 d
        d=$(tail -1 "$s/digest")
        if [ "$who" = u ]; then
                as_u "${TM[@]}" "$W/imgbuild" push --log-format json --root "$s/ib" --insecure "$d" "$r" >/dev/null 2>"$s/log"
        else
                "${TM[@]}" "$IMGBUILD" push --log-format json --root "$s/ib" --insecure "$d" "$r" >/dev/null 2>"$s/log"
        fi
}
ba() { # who store args...
        local who=$1 s=$2; shift 2
        if [ "$who" = u ]; then
                as_u "${TM[@]}" buildah --root "$s/ba/root" --runroot "$s/ba/run" --storage-driver overlay "$@"
        else
                "${TM[@]}" buildah --root "$s/ba/root" --runroot "$s/ba/run" --storage-driver overlay "$@"
        fi
}
ba_wipe() { # store/ba
        local d=$1 m
        for m in $(awk -v p="$d/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r); do umount "$m"; done
        rm -rf "$d"
}
ba_build() { ba "$1" "$2" bud --layers --isolation chroot --tls-verify=false -q -t "bench-$CASE" "${@:4}" -f "$3/Dockerfile" "$3" >/dev/null 2>"$2/log"; }
dk_wipe() {
        "${DOCKER[@]}" rmi -f $("${DOCKER[@]}" images -aq) >/dev/null 2>&1
        "${DOCKER[@]}" builder prune -af >/dev/null 2>&1
        "${DOCKER[@]}" container prune -f >/dev/null 2>&1
}
dk_build() { DOCKER_BUILDKIT=0 "${TM[@]}" "${DOCKER[@]}" build -q -t "bench-$CASE" "${@:3}" "$2" >/dev/null 2>"$1/log"; }

# run_tool TOOL PHASE STORE: one timed step
step() { # tool phase store
        local t=$1 ph=$2 s=$3 c=$W/ctx/$CASE repo=$REG/bench-$1-$CASE-r$RUN
        case "$t:$ph" in
        imgbuild:cold) rm -rf "$s/ib"; ib_build r "$s" "$c" ;;
        imgbuild:warm) ib_build r "$s" "$c" ;;
        imgbuild:nocache) ib_build r "$s" "$c" --no-cache ;;
        imgbuild:push) ib_push r "$s" "$repo" ;;
        imgbuild-rl:cold) rm -rf "$s/ib"; mkdir -p "$s"; chown "$U" "$s"; ib_build u "$s" "$c" ;;
        imgbuild-rl:warm) ib_build u "$s" "$c" ;;
        imgbuild-rl:nocache) ib_build u "$s" "$c" --no-cache ;;
        imgbuild-rl:push) ib_push u "$s" "$repo" ;;
        buildah:cold) ba_build r "$s" "$c" ;;
        buildah:warm) ba_build r "$s" "$c" ;;
        buildah:nocache) ba_build r "$s" "$c" --no-cache ;;
        buildah:push) ba r "$s" push --tls-verify=false -q "bench-$CASE" "docker://$repo" >/dev/null 2>"$s/log" ;;
        buildah-rl:cold) ba_build u "$s" "$c" ;;
        buildah-rl:warm) ba_build u "$s" "$c" ;;
        buildah-rl:nocache) ba_build u "$s" "$c" --no-cache ;;
        buildah-rl:push) ba u "$s" push --tls-verify=false -q "bench-$CASE" "docker://$repo" >/dev/null 2>"$s/log" ;;
        docker:cold) dk_build "$s" "$c" ;;
        docker:warm) dk_build "$s" "$c" ;;
        docker:nocache) dk_build "$s" "$c" --no-cache ;;
        docker:push) "${DOCKER[@]}" tag "bench-$CASE" "$repo" && "${TM[@]}" "${DOCKER[@]}" push -q "$repo" >/dev/null 2>"$s/log" ;;
        floor:cold) floor "$s" ;;
        *) return 0 ;;
        esac
}
# The floor: each base blob with curl, igzip -dc | tar -x, one after another, in
# the same file system as the stores.
floor() {
        local s=$1 ref repo tag d
        ref=$(head -1 "$W/ctx/$CASE/Dockerfile" | awk '{ print $2 }')
        repo=${ref#"$REG/"}; tag=${repo##*:}; repo=${repo%:*}
        rm -rf "$s/floor"; mkdir -p "$s/floor"
        for d in $(curl -fs -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
                        "http://$REG/v2/$repo/manifests/$tag" | jq -r '.layers[].digest'); do
                curl -fs "http://$REG/v2/$repo/blobs/$d" | igzip -dc | tar -x -C "$s/floor" || return 1
        done
}
# fresh per-tool state before a run's cold phase
prepare() { # tool store
        case $1 in
        buildah|buildah-rl) [ -d "$2/ba" ] && ba_wipe "$2/ba"; mkdir -p "$2/ba"
                [ "$1" = buildah-rl ] && chown -R "$U" "$2" ;;
        imgbuild-rl) mkdir -p "$2"; chown "$U" "$2" ;;
        docker) dk_wipe ;;
        floor) rm -rf "$2/floor" ;;
        esac
}
finish() { # tool store: free the disk after a run
        case $1 in
        buildah|buildah-rl) ba_wipe "$2/ba" ;;
        imgbuild|imgbuild-rl) rm -rf "$2/ib" ;;
        docker) dk_wipe ;;
        floor) rm -rf "$2/floor" ;;
        esac
}
timed() { # tool phase store: append "case phase tool run ms rsskb rc" to results
        local t0 t1 rc rss
        # /usr/bin/time wraps the tool's own command inside step (no extra shell timed)
        TM=(/usr/bin/time -f '%M %U %S' -o "$3/time"); rm -f "$3/time"
        sync; t0=$(date +%s%N)
        step "$1" "$2" "$3"
        rc=$?; t1=$(date +%s%N)
        rss=- cu=- cs=-
        [ -s "$3/time" ] && read -r rss cu cs < <(tail -1 "$3/time")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$CASE" "$2" "$1" "$RUN" $(( (t1 - t0) / 1000000 )) "$rss" "$rc" \
                "$(awk -v u="$cu" -v s="$cs" 'BEGIN { if (u == "-") print "-"; else printf "%d", (u + s) * 1000 }')" >>"$RES"
        if [ $rc != 0 ]; then say "FAILED: $1 $2 $CASE run $RUN: $(tail -3 "$3/log" 2>/dev/null | tr '\n' ' ')"; fi
        if [[ "$1" = imgbuild* ]] && [ "$2" != push ]; then
                grep '"event":"summary"' "$3/log" | tail -1 | jq -r .digest >"$3/digest"
                grep '"event":"summary"' "$3/log" | tail -1 | jq -r --arg c "$CASE" --arg p "$2" --arg t "$1" --arg r "$RUN" \
                        '.phases | to_entries[] | [$c, $p, $t, $r, .key, .value] | @tsv' >>"$PH" 2>/dev/null
                grep '"event":"summary"' "$3/log" | tail -1 | jq -r --arg c "$CASE" --arg p "$2" --arg t "$1" --arg r "$RUN" \
                        '[$c, $p, $t, $r, "extracted", .extracted] | @tsv' >>"$PH" 2>/dev/null
        fi
        return $rc
}

# ------------------------------------------------------------------ cases
mkctx() { # case: write $W/ctx/CASE
        local c=$W/ctx/$1 bb=$REG/busybox:latest node=$REG/node:12 i
        mkdir -p "$c"
        case $1 in
        run1-bb|run1-node)
                [ "$1" = run1-node ] && bb=$node
                printf 'FROM %s\nRUN echo one >/one\n' "$bb" >"$c/Dockerfile" ;;
        run3-bb)
                printf 'FROM %s\nRUN echo one >/one\nRUN echo two >/two\nRUN echo three >/three\n' "$bb" >"$c/Dockerfile" ;;
        copy5k)
                for i in $(seq 0 49); do mkdir -p "$c/files/d$i"; done
                for i in $(seq 0 4999); do echo "file $i" >"$c/files/d$((i % 50))/f$i"; done
                printf 'FROM %s\nCOPY files /files\n' "$bb" >"$c/Dockerfile" ;;
        big200)
                cat >"$c/Dockerfile" <<DF
FROM $bb
RUN mkdir /data && head -c 104857600 /dev/urandom >/data/random && head -c 104857600 /dev/zero | tr '\\0' a >/data/text && for i in \$(seq 1 100); do echo \$i >/data/f\$i; done
RUN rm /data/f1 /data/f2 && chmod 600 /data/random && chown 1000:1000 /data/f5 /data/text && mv /data/f3 /data/g3 && mkdir /data/d && mv /data/f4 /data/d/
DF
                ;;
        article-bb|article-node)
                [ "$1" = article-node ] && bb=$node
                mkdir -p "$c/src"
                echo '{ "name": "app", "version": "1.0.0", "dependencies": { "dep": "1" } }' >"$c/package.json"
                for i in $(seq 1 20); do echo "module.exports.f$i = () => $i;" >"$c/src/m$i.js"; done
                # npm install offline: a RUN that writes a node_modules tree
                cat >"$c/Dockerfile" <<DF
FROM $bb AS build
WORKDIR /app
COPY package.json .
RUN mkdir -p node_modules && for p in \$(seq 1 40); do mkdir -p node_modules/p\$p/lib && echo "module.exports = \$p;" >node_modules/p\$p/index.js && echo '{"name":"p'\$p'"}' >node_modules/p\$p/package.json; done
COPY . .
RUN mkdir -p dist && cat src/*.js >dist/bundle.js

FROM $bb
WORKDIR /app
COPY --from=build /app/dist /app/dist
COPY --from=build /app/package.json /app/
CMD ["node", "dist/bundle.js"]
DF
                ;;
        *) echo "bench/run.sh: unknown case $1" >&2; return 1 ;;
        esac
}
phases_of() { case $1 in run1-bb|run3-bb|run1-node) echo cold warm nocache push ;; *) echo cold warm push ;; esac; }

say "tools: $TOOLS; cases: $CASES; $RUNS runs; registry $REG; work $W"
for CASE in $CASES; do
        mkctx "$CASE" || exit 1
        for RUN in $(seq 1 "$RUNS"); do
                say "$CASE run $RUN"
                for t in $TOOLS; do
                        s=$W/s-$t; mkdir -p "$s"; prepare "$t" "$s"
                        for ph in $(phases_of "$CASE"); do
                                [ "$t" = floor ] && [ "$ph" != cold ] && continue
                                timed "$t" "$ph" "$s" || break
                        done
                        finish "$t" "$s"
                done
        done
done
# BENCH_APPEND=1: add to the figures of an earlier run (e.g. the node cases run apart)
if [ -n "${BENCH_APPEND:-}" ]; then
        cat "$RES" >>"$SRC/bench/RESULTS-raw.tsv"; cat "$PH" >>"$SRC/bench/RESULTS-phases.tsv"
else
        cp "$RES" "$SRC/bench/RESULTS-raw.tsv"; cp "$PH" "$SRC/bench/RESULTS-phases.tsv"
fi

# ------------------------------------------------------------------ report
{
        echo "# imgbuild vs buildah vs docker: the issue #8 suite"
        echo
        echo "Generated by \`bench/run.sh\` (raw figures in RESULTS-raw.tsv and RESULTS-phases.tsv)."
        echo "Wall milliseconds, median of the runs (BENCH_RUNS=$RUNS in the last invocation); tools in turn run by run;"
        echo "each ratio is imgbuild/peer computed pair by pair (same run), then its median."
        echo
        echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "- machine: $(uname -sr) $(uname -m), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ { print $2 }') GB RAM, store on $(df -T "$W" | awk 'NR == 2 { print $2 }')"
        echo "- imgbuild $("$IMGBUILD" version | cut -d' ' -f2) ($(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)); $(buildah --version); $(docker --version 2>/dev/null | head -1); $(skopeo --version)"
        echo "- bases: $(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("node:12-like %d layers, %.0f MB uncompressed (%.0f MB gzip), %d tar entries" % (s["layers"], s["uncompressed_bytes"]/1e6, s["compressed_bytes"]/1e6, s["tar_entries"]))' "$IB_BENCH_DIR/oci/node/bench-stats.json"); busybox 1 layer"
        echo "- tools: $TOOLS (\`-rl\`: rootless, as user $U); buildah with --layers --isolation chroot; docker: legacy builder of a private dockerd"
        [ -n "${DOCKER_FAIL:-}" ] && echo "- dockerd did not start: \`$(echo "$DOCKER_FAIL" | tail -1 | cut -c1-200)\`"
        echo "- the machine is shared with other jobs (compiles and tests of other developers): wall times include waiting for a CPU; ratios come from neighbouring runs"
        echo
        python3 "$SRC/bench/report.py" "$SRC/bench/RESULTS-raw.tsv" "$SRC/bench/RESULTS-phases.tsv"
        [ -f "$SRC/bench/RESULTS-notes.md" ] && { echo; cat "$SRC/bench/RESULTS-notes.md"; }
} >"$SRC/bench/RESULTS.md"
cat "$SRC/bench/RESULTS.md"
