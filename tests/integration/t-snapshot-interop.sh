#!/bin/bash
# snapshot interop with umoci: layers written by `umoci repack` (whiteouts of a
# deleted file and of a replaced dir's children) import to overlay-form dirs
# whose merged view equals `umoci unpack`; an image made of layers we exported
# unpacks with `umoci unpack` to the merged view of our overlay dirs.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
. "$IB_SRCDIR/tests/lib/snapshot.sh"
have_userns || skip_all "no user namespaces"
is_root || skip_all "umoci unpack keeps owners only as root"
command -v umoci >/dev/null || skip_all "umoci not installed"

S=$IB_TMP/store
L=$IB_TMP/umoci-layout
cd "$IB_TMP" || exit 1
# --- umoci -> imgbuild
umoci init --layout "$L" && umoci new --image "$L:t" && umoci unpack --image "$L:t" b1 >/dev/null
r=b1/rootfs
mkdir -p $r/etc $r/d/sub $r/keep && echo a >$r/etc/a && echo x >$r/d/x && echo y >$r/d/sub/y &&
echo del >$r/del && ln -s etc/a $r/sym && ln $r/etc/a $r/hl && echo k >$r/keep/k && mkfifo $r/fifo &&
chown 1000:1000 $r/keep/k && chmod 4711 $r/etc/a && setfattr -n user.t -v v $r/keep/k
ok "umoci repack: layer 1" umoci repack --image "$L:t" b1
umoci unpack --image "$L:t" b2 >/dev/null
r=b2/rootfs
rm $r/del && rm -rf $r/d && mkdir $r/d && echo n >$r/d/n && echo more >>$r/keep/k && rm $r/sym && ln -s keep/k $r/sym
ok "umoci repack: layer 2 deletes a file and replaces a dir" umoci repack --image "$L:t" b2
ok "umoci unpack of the final image (the reference tree)" umoci unpack --image "$L:t" ref
layers=$(python3 "$TL/ocilayers.py" "$L" t)
is "$(echo "$layers" | wc -l)" 2 "two layers"
mkdir -p "$S/blobs/sha256" && cp "$L"/blobs/sha256/* "$S/blobs/sha256/"
dirs=""
while read -r dg di; do
        d=$(ns "$IMGBUILD" debug-layer import --root "$S" --diff-id "$di" "$dg" 2>/dev/null)
        ok "import umoci's layer ${dg:7:12}" test -d "$d"
        dirs="$d $dirs"         # top first
done <<<"$layers"
top=${dirs%% *}
is "$(stat -c '%F %t:%T' "$top/del" "$top/d/x" "$top/d/sub" 2>&1 | tr '\n' ' ')" \
   "character special file 0:0 character special file 0:0 character special file 0:0 " "umoci's whiteouts became 0:0 char devices"
# shellcheck disable=SC2086
ok "overlay of the imported layers == umoci unpack" ns sh "$TL/ovl-cmp.sh" "$IB_TMP/m1" "$IB_TMP/ref/rootfs" $dirs

# --- buildah (containers/storage) -> imgbuild: its layers carry opaque dirs
# buildah names images after the layout path, which must be lowercase: digits only here
B=/tmp/ib-buildah-$$-$RANDOM
mkdir -p "$B" && on_exit "rm -rf '$B'"
if make_busybox_layout "$B/bb" >/dev/null 2>&1; then
        printf '%s\n' "FROM oci:$B/bb:latest" \
                "RUN mkdir -p /d/sub && echo x >/d/x && echo y >/d/sub/y && echo gone >/gone && ln -s /d /dl" \
                "RUN rm -rf /d && mkdir /d && echo n >/d/n && rm /gone && chmod 700 /d" >"$IB_TMP/Containerfile"
        bh() { buildah --root "$B/root" --runroot "$B/run" --storage-driver overlay "$@"; }
        on_exit "buildah --root '$B/root' --runroot '$B/run' --storage-driver overlay rm -a"
        ok "buildah builds a 3-layer image (rm -rf d && mkdir d)" bh bud --layers --runtime runc --network host \
                --isolation chroot -t localhost/opq -f "$IB_TMP/Containerfile" "$IB_TMP"
        ok "buildah pushes it to an OCI layout" bh push localhost/opq "oci:$IB_TMP/bh:t"
        layers=$(python3 "$TL/ocilayers.py" "$IB_TMP/bh" t)
        top=$(echo "$layers" | tail -n 1 | cut -d' ' -f1)
        like "$(tar -tzf "$IB_TMP/bh/blobs/sha256/${top#sha256:}" | tr '\n' ' ')" "d/\.wh\.\.wh\.\.opq" "its last layer has an opaque dir"
        cp "$IB_TMP"/bh/blobs/sha256/* "$S/blobs/sha256/"
        dirs=""
        while read -r dg di; do
                d=$(ns "$IMGBUILD" debug-layer import --root "$S" --diff-id "$di" "$dg" 2>/dev/null)
                ok "import buildah's layer ${dg:7:12}" test -d "$d"
                dirs="$d $dirs"
        done <<<"$layers"
        top=${dirs%% *}
        is "$(getfattr --only-values -n user.overlay.opaque "$top/d" 2>/dev/null)" y "the opaque dir is marked for overlay"
        ok "umoci unpack of buildah's image (the reference)" umoci unpack --image "$IB_TMP/bh:t" "$IB_TMP/bhref"
        # shellcheck disable=SC2086
        ok "overlay of the imported layers == umoci unpack (opaque dir honoured)" ns sh "$TL/ovl-cmp.sh" "$IB_TMP/m3" "$IB_TMP/bhref/rootfs" $dirs
else
        ok "busybox base for buildah" false
fi

# --- imgbuild -> umoci
ok "overlay scenario" ns sh "$TL/ovl-scenario.sh" "$IB_TMP/sc"
l1=$(ns "$IMGBUILD" debug-layer export --root "$S" "$IB_TMP/sc/lower")
l2=$(ns "$IMGBUILD" debug-layer export --root "$S" "$IB_TMP/sc/upper")
ok "assemble an OCI layout from our two layers" python3 "$TL/mkoci.py" "$IB_TMP/ours" t "$S" \
        "$(echo "$l1" | awk '{print $2","$1","$3","$4}')" "$(echo "$l2" | awk '{print $2","$1","$3","$4}')"
ok "umoci unpack reads our image" umoci unpack --image "$IB_TMP/ours:t" "$IB_TMP/ub"
ok "umoci's tree == the overlay of lower and upper" ns sh "$TL/ovl-cmp.sh" "$IB_TMP/m2" "$IB_TMP/ub/rootfs" "$IB_TMP/sc/upper" "$IB_TMP/sc/lower"
is "$(cat "$IB_TMP/ub/rootfs/mod.txt" | tr '\n' ' ')" "base more " "modified file"
[ ! -e "$IB_TMP/ub/rootfs/del.txt" ] && [ ! -e "$IB_TMP/ub/rootfs/od/x" ] && [ -f "$IB_TMP/ub/rootfs/od/inner" ]
is $? 0 "umoci applied our whiteout and opaque dir"
zl2=$(ns "$IMGBUILD" debug-layer export --root "$S" --compression zstd "$IB_TMP/sc/upper")
ok "assemble a zstd image" python3 "$TL/mkoci.py" "$IB_TMP/oursz" t "$S" \
        "$(echo "$l1" | awk '{print $2","$1","$3","$4}')" "$(echo "$zl2" | awk '{print $2","$1","$3","$4}')"
if umoci unpack --image "$IB_TMP/oursz:t" "$IB_TMP/ubz" >/dev/null 2>&1; then
        ok "umoci: zstd layer == gzip layer" python3 "$TL/treecmp.py" "$IB_TMP/ub/rootfs" "$IB_TMP/ubz/rootfs"
else
        ok "skopeo reads the zstd image (this umoci predates zstd layers)" skopeo inspect "oci:$IB_TMP/oursz:t"
fi
done_testing
