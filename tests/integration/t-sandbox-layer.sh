#!/bin/bash
# The overlay upper dir after a RUN is the layer: it holds exactly the RUN's
# changes (whiteouts, opaque dirs, owners, modes, hardlinks, symlinks, xattrs)
# and nothing imgbuild mounted; many lower layers stack.  Each in the root,
# rootless (subuid ranges) and single-id modes.  The upper dir is inspected from
# inside a second RUN (a bind mount), so owners are those seen in the namespace.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
. "$IB_SRCDIR/tests/lib/sandbox.sh"
sbx_setup

changes='echo new >/new.txt
echo mod >>/etc/motd
rm /data/gone.txt
rm -rf /opq && mkdir /opq && echo g >/opq/g
touch /suid && chmod 4755 /suid
echo x >/hl1 && ln /hl1 /hl2
ln -s /new.txt /sl
touch /xa && sbx-probe setxattr /xa user.foo bar
mkdir -p /w && cd /w && echo inworkdir >f'
chown_change='touch /owned && chown 1000:1000 /owned'

inspect='cd /mnt/upper && find . | sort | tr "\n" " "; echo
for f in $(find . | sort); do
  t=$(stat -c %F "$f"); case $t in character*) t="$t $(stat -c %t:%T "$f")";; esac
  echo "$f|$t|$(stat -c %u:%g:%a "$f")"
done
echo "opaque=$(sbx-probe getxattr opq user.overlay.opaque)"
echo "xattr=$(sbx-probe getxattr xa user.foo)"
echo "hardlink=$( [ "$(stat -c %i hl1)" = "$(stat -c %i hl2)" ] && echo same)"
echo "symlink=$(readlink sl)"'

for mode in $MODES; do
        d=$(sbx_dir "$mode")
        sbx_rootfs "$mode" "$d/root"
        mkdir -p "$d/root/data" "$d/root/opq"
        echo a >"$d/root/data/gone.txt"; echo b >"$d/root/data/keep.txt"; echo f >"$d/root/opq/f"
        echo motd >"$d/root/etc/motd"
        [ "$mode" = root ] || chown -R "$(sbx_user "$mode")": "$d/root"
        uw=$(sbx_fresh "$mode" "$d"); up=${uw% *}; wk=${uw#* }

        script=$changes
        [ "$mode" != single ] && script="$script
$chown_change"
        ok "$mode: a RUN with every kind of change" \
                ibr "$mode" debug-run --lower "$d/root" --upper "$up" --work "$wk" --workdir /w -- sh -ec "$script"

        out=$(sbx_run "$mode" "$d" --mount "type=bind,source=$up,target=/mnt/upper,ro" -- sh -c "$inspect" 2>"$IB_TMP/err")
        want=". ./data ./data/gone.txt ./etc ./etc/motd ./hl1 ./hl2 ./new.txt ./opq ./opq/g"
        [ "$mode" != single ] && want="$want ./owned"
        want="$want ./sl ./suid ./w ./w/f ./xa "
        is "$(echo "$out" | head -n 1)" "$want" "$mode: the upper dir holds exactly the changes (no hosts, resolv.conf, hostname, dev, proc, sys)"
        like "$out" "./data/gone.txt\|character special file 0:0\|0:0:0" "$mode: a deleted lower file is a 0:0 whiteout"
        like "$out" "opaque=y" "$mode: rm -rf + mkdir of a lower dir is opaque (user.overlay.opaque)"
        like "$out" "./suid\|regular empty file\|0:0:4755" "$mode: chmod 4755 is kept"
        [ "$mode" != single ] && like "$out" "./owned\|regular empty file\|1000:1000:644" "$mode: chown 1000:1000 is kept (as seen inside)"
        like "$out" "hardlink=same" "$mode: hardlinks stay one inode"
        like "$out" "symlink=/new.txt" "$mode: symlinks"
        like "$out" "xattr=bar" "$mode: user xattrs"
        like "$out" "./etc/motd\|regular file\|0:0:644" "$mode: a modified lower file is copied up"
        like "$out" "./w\|directory\|0:0:755" "$mode: WORKDIR is part of the layer"
        ok "$mode: the merged view shows the changes" \
                ibr "$mode" debug-run --lower "$d/root" --upper "$up" --work "$wk" -- \
                sh -c 'test ! -e /data/gone.txt && test -e /data/keep.txt && test ! -e /opq/f && grep -q mod /etc/motd'
        if [ "$mode" = single ]; then
                like "$(sbx_run "$mode" "$d" -- sh -c 'touch /o; chown 1000:1000 /o' 2>&1)" "Invalid argument" \
                        "$mode: chown to an id that is not mapped fails"
        fi
done

# 150 layers, with paths long enough that their lowerdir= string exceeds a page.
for mode in root rootless; do
        d=$(sbx_dir "$mode")
        sbx_rootfs "$mode" "$d/root"
        base=$d/layers-with-a-deliberately-long-directory-name-to-overflow-the-mount-option-page
        args=()
        for i in $(seq 150 -1 1); do
                l=$base/layer-number-$i
                mkdir -p "$l/layers"
                echo "$i" >"$l/layers/$i"
                echo "$i" >"$l/top"
                args+=(--lower "$l")
        done
        [ "$mode" = root ] || chown -R "$(sbx_user "$mode")": "$base"
        uw=$(sbx_fresh "$mode" "$d")
        out=$(ibr "$mode" debug-run "${args[@]}" --lower "$d/root" --upper "${uw% *}" --work "${uw#* }" -- \
                sh -c 'cat /top; ls /layers | wc -l; cat /layers/* | sort -n | tr "\n" " "' 2>"$IB_TMP/err")
        is "$(echo "$out" | sed -n 1p)" "150" "$mode: 150 lower layers: the top one wins"
        is "$(echo "$out" | sed -n 2p | tr -d ' ')" "150" "$mode: 150 lower layers: each one's own file is visible"
        is "$(echo "$out" | sed -n 3p)" "$(seq 1 150 | tr '\n' ' ')" "$mode: 150 lower layers: with its content"
        if [ "$mode" = root ]; then
                uw=$(sbx_fresh "$mode" "$d")
                out=$(IMGBUILD_OVERLAY_LEGACY=1 ibr "$mode" debug-run "${args[@]}" --lower "$d/root" \
                        --upper "${uw% *}" --work "${uw#* }" -- sh -c 'cat /top; ls /layers | wc -l' 2>"$IB_TMP/err")
                is "$(echo "$out" | tr -d ' ' | tr '\n' ' ')" "150 150 " \
                        "$mode: 150 lower layers with the fallback for kernels without lowerdir+"
        fi
done
done_testing
