#!/bin/bash
# hostile base layers beyond t-snapshot-hostile.sh (which covers .., symlink
# and hardlink escapes, absolute names and corrupt streams at the import):
# device nodes, a huge number of entries, a 10,000-deep path, a gzip bomb
# (bounded time, memory and disk), and hostile layers reaching `imgbuild build`
# through an OCI layout: a dir replaced by a symlink in a later layer, then
# written through by a later layer and by COPY and RUN; a refused layer fails
# the build naming the layer and the entry.
# Sizes: IB_HOSTILE_ENTRIES (default 1000000, the issue's figure: about 35 s) and
# IB_HOSTILE_BOMB_GIB (default 1; `make stress` 10).
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
. "$IB_SRCDIR/tests/lib/snapshot.sh"
have_userns || skip_all "no user namespaces"
is_root || skip_all "needs root to map a range of ids"
IMGBUILD_RUN=$IMGBUILD
ENTRIES=${IB_HOSTILE_ENTRIES:-1000000}
BOMB_GIB=${IB_HOSTILE_BOMB_GIB:-1}
S=$IB_TMP/store
mkdir -p "$S"
# measured: imports as uid 0 of a user namespace; "secs rss_kb" into $IB_TMP/t
timed_import() { # DIGEST DIFF_ID
        /usr/bin/time -f '%e %M' -o "$IB_TMP/t" "$USERNS_RUN" "$IMGBUILD" debug-layer import --root "$S" --diff-id "$2" "$1" 2>&1
}
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# ------------------------------------------------------------ device nodes
read -r dg di < <(python3 "$TL/mklayer.py" "$S" d:dev c:dev/null:1:3 c:dev/kmsg:1:11 f:dev/keep)
out=$(ns "$IMGBUILD" debug-layer import --root "$S" --diff-id "$di" "$dg" 2>&1); rc=$?
is "$rc" 0 "device nodes: the layer is imported"
L=$(printf '%s\n' "$out" | tail -1)
if [ -c "$L/dev/null" ]; then
        is "$(stat -c %t:%T "$L/dev/null")" 1:3 "  created as the same device where the kernel allows it"
else
        like "$out" "device" "  where the kernel refuses them: skipped with a warning naming them"
fi
is "$(cat "$L/dev/keep" 2>/dev/null)" dev/keep "  the other entries are there"

# ------------------------------------------------------ many tiny entries
read -r dg di < <(python3 "$TL/bigtar.py" "$S" many "$ENTRIES")
out=$(timed_import "$dg" "$di"); rc=$?
read -r secs rss <"$IB_TMP/t"
diag "$ENTRIES entries: ${secs} s, peak RSS ${rss} KB"
is "$rc" 0 "$ENTRIES tiny entries are imported" || diag "$out"
like "$out" "extracted \($((ENTRIES + (ENTRIES + 999) / 1000)) entries" "  every entry counted"
lt "$rss" 262144 && is yes yes "  peak RSS ${rss} KB < 256 MB" || is "$rss KB" "< 256 MB" "  peak RSS bounded"
lt "$secs" $((ENTRIES / 1000 + 60)) && is yes yes "  in ${secs} s (bound: 1 ms per entry + 60 s)" ||
        is "$secs s" "< $((ENTRIES / 1000 + 60)) s" "  time bounded"
rm -rf "$S/layers/${di#sha256:}"

# ------------------------------------------------------ a 10,000-deep path
read -r dg di < <(python3 "$TL/bigtar.py" "$S" deep 10000)
refused "a 10,000-deep path" ns "$S" "$dg $di"
like "$LAST_OUT" "longer than PATH_MAX" "  the error says why"
lt "${#LAST_OUT}" 400 && is yes yes "  the message stays short (${#LAST_OUT} bytes), the name is cut" ||
        is "${#LAST_OUT}" "< 400" "  the message stays short"
read -r dg di < <(python3 "$TL/bigtar.py" "$S" deep 600)
refused "a 600-deep path (short enough for PATH_MAX)" ns "$S" "$dg $di"
like "$LAST_OUT" "levels deep, more than the 512 allowed" "  the error says why"
read -r dg di < <(python3 "$TL/bigtar.py" "$S" deep 500)
out=$(ns "$IMGBUILD" debug-layer import --root "$S" --diff-id "$di" "$dg" 2>&1)
is "$(cat "$(printf '%s\n' "$out" | tail -1)/$(printf 'd/%.0s' $(seq 500))f" 2>/dev/null)" deep "a 500-deep path is imported"

# ------------------------------------------------------------- gzip bomb
read -r dg di < <(python3 "$TL/bigtar.py" "$S" bomb "$BOMB_GIB")
diag "gzip bomb: $(stat -c %s "$(blob_path "$S" "$dg")") bytes -> $BOMB_GIB GiB of zeros"
out=$(timed_import "$dg" "$di"); rc=$?
read -r secs rss <"$IB_TMP/t"
diag "gzip bomb of $BOMB_GIB GiB: ${secs} s, peak RSS ${rss} KB"
is "$rc" 0 "gzip bomb ($BOMB_GIB GiB of zeros): handled streaming" || diag "$out"
L=$S/layers/${di#sha256:}
is "$(stat -c %s "$L/bomb" 2>/dev/null)" $((BOMB_GIB << 30)) "  the file has its size"
used=$(du -sk "$L" | cut -f1)
lt "$used" 1024 && is yes yes "  and costs no disk (${used} KB: zeros are holes)" || is "$used KB" "< 1 MB" "  disk bounded"
lt "$rss" 65536 && is yes yes "  peak RSS ${rss} KB < 64 MB" || is "$rss KB" "< 64 MB" "  peak RSS bounded"
lt "$secs" $((BOMB_GIB * 30 + 30)) && is yes yes "  in ${secs} s" || is "$secs s" "< $((BOMB_GIB * 30 + 30)) s" "  time bounded"
rm -rf "$L"

# ------------------------------------------------------ through the build
# base: layer 1 a dir /d with a file; layer 2 replaces /d by a symlink to a
# host dir; layer 3 writes d/through (as its own tar: inside its own layer).
out_dir=$IB_TMP/outside
mkdir -p "$out_dir"
mapfile -t L < <(python3 "$TL/mklayer.py" "$S" d:d f:d/a:one -- "l:d:$out_dir" -- d:d f:d/through:three -- \
        f:ok f:../../ibescape-build -- f:ok "f:$(printf 'd/%.0s' $(seq 3000))x")
is "${#L[@]}" 5 "crafted the build's layers"
spec() { # "digest diff_id" -> mkoci's spec
        local dg di
        read -r dg di <<<"$1"
        echo "$dg,$di,$(stat -c %s "$(blob_path "$S" "$dg")"),application/vnd.oci.image.layer.v1.tar+gzip"
}
python3 "$TL/mkoci.py" "$IB_TMP/swap" t "$S" "$(spec "${L[0]}")" "$(spec "${L[1]}")" "$(spec "${L[2]}")" >/dev/null
BB=$IB_TMP/bb
make_busybox_layout "$BB" >/dev/null 2>&1
mkdir -p "$IB_TMP/ctx"
echo copied >"$IB_TMP/ctx/f"
cat >"$IB_TMP/ctx/Dockerfile" <<'EOF2'
FROM busybox AS tools
FROM swap
COPY f /d/copied
COPY --from=tools /bin/busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "echo ran > /d/ran; /bin/busybox ls /d > /listing"]
EOF2
out=$("$IMGBUILD" build --root "$IB_TMP/bstore" --build-context swap=oci-layout://"$IB_TMP/swap":t \
        --build-context busybox=oci-layout://"$BB":latest --oci-layout-path "$IB_TMP/out:swap" "$IB_TMP/ctx" 2>&1); rc=$?
is "$rc" 0 "dir replaced by a symlink in a later layer, written through by a layer, COPY and RUN: builds" ||
        diag "$(printf '%s\n' "$out" | tail -5)"
is "$(ls -A "$out_dir")" "" "  nothing was written to the host dir the symlink names"
rm -rf "$IB_TMP/u" && mkdir -p "$IB_TMP/u" && umoci unpack --rootless --image "$IB_TMP/out:swap" "$IB_TMP/u/b" >/dev/null 2>&1
is "$(cat "$IB_TMP/u/b/rootfs/d/copied" "$IB_TMP/u/b/rootfs/d/ran" 2>/dev/null | tr '\n' ' ')" "copied ran " \
        "  the image has a dir /d holding what COPY and RUN wrote (layer 3's dir wins)"

for i in 3 4; do
        python3 "$TL/mkoci.py" "$IB_TMP/bad$i" t "$S" "$(spec "${L[$i]}")" >/dev/null
        printf 'FROM bad\nRUN true\n' >"$IB_TMP/ctx/Dockerfile"
        out=$("$IMGBUILD" build --root "$IB_TMP/bstore" --build-context bad=oci-layout://"$IB_TMP/bad$i":t \
                --oci-layout-path "$IB_TMP/out:bad$i" "$IB_TMP/ctx" 2>&1); rc=$?
        read -r dg di <<<"${L[$i]}"
        [ $rc != 0 ] && printf '%s' "$out" | grep -qF "$dg"; is $? 0 "build on a hostile base ($([ $i = 3 ] && echo ../ || echo 6000-byte name)) fails naming the layer" ||
                diag "$out"
        like "$out" "$([ $i = 3 ] && echo '`\.\./\.\./ibescape-build`' || echo 'longer than PATH_MAX')" "  and the entry"
        lt "$(printf '%s' "$out" | wc -c)" 2000 && is yes yes "  in a short message" || is "$(printf '%s' "$out" | wc -c)" "< 2000" "  short"
done
is "$(ls "$IB_TMP/bstore/tmp" | grep -cv '\.lock$')" 0 "the build store's tmp/ is clean"
[ ! -e "$IB_TMP/ibescape-build" ] && [ ! -e /tmp/ibescape-build ]; is $? 0 "nothing was written outside the store"
done_testing
