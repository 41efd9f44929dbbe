#!/bin/bash
# imgbuild store verify / du / prune, root and rootless: a clean store
# verifies, a flipped byte, a truncated layer file and a garbage cache entry
# are each reported by path; du agrees with du(1); prune removes what no build
# holds, never what a running build uses, nothing on --dry-run, and a build
# after it still works.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"

need_user_and_busybox     # sets BB, a busybox OCI layout everyone can read

run_as() { # mode cmd...
        local mode=$1; shift
        if [ "$mode" = root ]; then "$@"; else as_user "$IB_TEST_USER" "$@"; fi
}
bin() { [ "$1" = root ] && echo "$IMGBUILD" || echo "$IMGBUILD_USER_BIN"; }
bld() { # mode dir ctx [log]
        run_as "$1" sh -c 'cd "$1" && exec "$2" build --root "$1/store" --build-context base=oci-layout://"$3" \
                --oci-layout-path "$1/out:latest" "$4"' sh "$2" "$(bin "$1")" "$BB" "$3" >"${4:-$2/log}" 2>&1
}
st() { # mode dir store-args...  (stdout+stderr in $OUT, status in $RC)
        local mode=$1 dir=$2; shift 2
        OUT=$(run_as "$mode" "$(bin "$mode")" store "$@" 2>&1); RC=$?
}
count() { find "$1" -mindepth 1 -maxdepth 1 ! -name '*.lock' ! -name '*.entries' 2>/dev/null | wc -l; }
json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }

for mode in root user; do
        d=$(user_dir)
        mkdir -p "$d/ctx" "$d/ctx2"
        printf 'FROM base\nRUN echo hi > /hi\nCOPY f /f\n' >"$d/ctx/Dockerfile"
        echo data >"$d/ctx/f"
        # the second RUN needs the base layer dir again after the prune
        printf 'FROM base\nRUN sleep 4 && echo slept > /slept\nRUN cat /slept\n' >"$d/ctx2/Dockerfile"
        chown -R "$IB_TEST_USER" "$d/ctx" "$d/ctx2"
        S=$d/store

        ok "$mode: build" bld $mode "$d" ctx
        st $mode "$d" verify --root "$S"
        is "$RC" 0 "$mode: verify exits 0 on a fresh store"
        like "$OUT" "^store OK: $(count "$S/blobs/sha256") blobs, $(count "$S/layers") layers, 2 cache entries$" \
                "$mode: verify sums up what it checked"

        # du: counts match the store, the total matches du(1) within 10%
        st $mode "$d" du --root "$S" --format json
        is "$(echo "$OUT" | json_get '["blobs"]["count"]')" "$(count "$S/blobs/sha256")" "$mode: du counts the blobs"
        is "$(echo "$OUT" | json_get '["layers"]["count"]')" "$(count "$S/layers")" "$mode: du counts the layers"
        total=$(echo "$OUT" | json_get '["total"]["bytes"]'); real=$(du -sB1 "$S" | cut -f1)
        ok "$mode: du total $total within 10% of du(1)'s $real" \
                test $((total * 10)) -ge $((real * 9)) -a $((total * 10)) -le $((real * 11))
        st $mode "$d" du --root "$S"
        like "$OUT" "total +[0-9.]+ [KMGT]?i?B \\([0-9]+ bytes\\)" "$mode: du prints a total"

        # corruption, on a copy of the store
        rm -rf "$d/bad"; cp -a "$S" "$d/bad"; B=$d/bad
        blob=$(ls -S "$B/blobs/sha256" | head -1)
        python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(100); c=f.read(1); f.seek(100); f.write(bytes([c[0]^1]))' \
                "$B/blobs/sha256/$blob"
        layer=$(basename "$(ls "$B"/layers/*.entries | head -1)" .entries)
        truncate -s 10 "$B/layers/$layer/bin/busybox"
        # a RUN layer has no index: its blob (named by a cache entry) is the reference
        for l in "$B"/layers/*/hi; do echo more >>"$l"; done
        st $mode "$d" verify --root "$B"
        is "$RC" 1 "$mode: verify exits 1 on a damaged store"
        like "$OUT" "$B/blobs/sha256/$blob: wrong digest" "$mode: the flipped byte's blob is named"
        like "$OUT" "$B/layers/$layer: incomplete layer: .*bin/busybox" "$mode: the truncated layer is named"
        like "$OUT" "incomplete layer: 1 of 1 entries differ from its blob, e.g. .hi.: 8 bytes, expected 3" \
                "$mode: a changed file in a RUN layer is reported"
        like "$OUT" "store has 3 problems" "$mode: and counted"
        entry=$(ls "$B/cache/steps" | head -1)
        echo 'garbage{' >"$B/cache/steps/$entry"
        st $mode "$d" verify --root "$B"
        like "$OUT" "$B/cache/steps/$entry: not a JSON object" "$mode: a garbage cache entry is named"
        rm -rf "$B/layers/$layer/etc"
        st $mode "$d" verify --root "$B"
        like "$OUT" "$B/layers/$layer: incomplete layer: [0-9]+ of" "$mode: a layer missing a dir is incomplete"
        rm -rf "$B"

        # a dead process's scratch is listed, not counted as a problem
        mkdir -p "$S/tmp/99999999-0badc0de"; chown "$(stat -c %u "$S")" "$S/tmp/99999999-0badc0de"
        st $mode "$d" verify --root "$S"
        is "$RC" 0 "$mode: leftover scratch is not corruption"
        like "$OUT" "tmp/99999999-0badc0de: left by a process that is gone" "$mode: but it is listed"

        # --dry-run removes nothing
        before=$(find "$S" | grep -v "/tmp/" | sort | md5sum)
        st $mode "$d" prune --root "$S" --keep-duration 0 --dry-run
        like "$OUT" "would remove $S/blobs/sha256/" "$mode: dry run lists blobs"
        is "$(find "$S" | grep -v "/tmp/" | sort | md5sum)" "$before" "$mode: dry run removes nothing"

        # the default keep duration keeps what was just used
        before="$(count "$S/blobs/sha256") $(count "$S/layers") $(count "$S/cache/steps")"
        st $mode "$d" prune --root "$S"
        is "$(count "$S/blobs/sha256") $(count "$S/layers") $(count "$S/cache/steps")" "$before" \
                "$mode: prune with the default 168h keeps a fresh build's objects"
        is "$(echo "$OUT" | grep -c '^removed')" 1 "$mode: it removed one thing:"
        ok "$mode: the dead scratch" test ! -e "$S/tmp/99999999-0badc0de"

        # a running build keeps what it uses
        spawn bld $mode "$d" ctx2 "$d/log2"
        bpid=$SPAWNED_PID
        for _ in $(seq 100); do grep -q 'RUN sleep' "$d/log2" 2>/dev/null && break; sleep 0.1; done
        sleep 1
        st $mode "$d" prune --root "$S" --keep-duration 0
        like "$OUT" "removed $S/cache/steps/" "$mode: prune during a build removes the unused cache entries"
        ok "$mode: but not the base layer the running build uses" test -d "$S/layers/$layer"
        wait "$bpid"; rc=$?
        is "$rc" 0 "$mode: the running build succeeds"
        st $mode "$d" verify --root "$S"
        is "$RC" 0 "$mode: the store verifies after prune and build"

        # --keep-duration 0 with nothing running empties the store; builds go on
        st $mode "$d" prune --root "$S" --keep-duration 0
        like "$OUT" "freed [0-9]+ items" "$mode: prune reports what it freed"
        is "$(count "$S/blobs/sha256") $(count "$S/layers") $(count "$S/cache/steps")" "0 0 0" \
                "$mode: nothing is left when no build holds anything"
        ok "$mode: a build after prune works" bld $mode "$d" ctx
        like "$(cat "$d/log")" "1 base layers extracted" "$mode: it extracted its base again"
        st $mode "$d" verify --root "$S"
        is "$RC" 0 "$mode: and the store verifies"
done

# du's view per tag pulled, and prune of a pulled image (root only: the
# registry side is the same for both modes)
if command -v docker-registry >/dev/null && command -v skopeo >/dev/null && start_registry; then
        R=$REGISTRY P=$IB_TMP/pulled
        skopeo copy -q --dest-tls-verify=false "oci:$BB:latest" "docker://$R/bb:1" >/dev/null 2>&1
        "$IMGBUILD" pull --root "$P" "$R/bb:1" >/dev/null 2>&1
        st root "" du --root "$P" --format json
        is "$(echo "$OUT" | json_get '["images"][0]["name"]')" "$R/bb:1" "du names the tag pulled"
        is "$(echo "$OUT" | json_get '["images"][0]["blobs"]') $(echo "$OUT" | json_get '["images"][0]["layers"]')" \
                "3 0" "du: the image's manifest, config and layer blob, no layer dir (pull extracts nothing)"
        st root "" prune --root "$P"
        like "$OUT" "^freed 0 items" "prune keeps a fresh pull"
        st root "" prune --root "$P" --keep-duration 0
        ok "prune --keep-duration 0 removes the image and its tag record" \
                test "$(count "$P/blobs/sha256")" = 0 -a ! -e "$P/cache/refs/$R/bb:1"
else
        skip "docker-registry and skopeo are needed for du's per-tag view"
fi

st root "" --help
like "$OUT" "prune +remove what no recent build used" "store --help lists the commands"
fails "store without a command is a usage error" "$IMGBUILD" store
for c in verify du prune; do
        like "$("$IMGBUILD" store $c --help)" "Usage: imgbuild store $c" "store $c --help"
done
fails "--keep-duration rejects nonsense" "$IMGBUILD" store prune --root "$IB_TMP/none" --keep-duration soon
done_testing
