#!/bin/bash
# snapshot: export of a real overlay upper dir (every kind of change), judged by
# Python's tarfile and GNU tar; round trip through import; reproducibility;
# the three compressions.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
. "$IB_SRCDIR/tests/lib/snapshot.sh"
have_userns || skip_all "no user namespaces"
is_root || skip_all "needs root to map a range of ids (the rootless variant is t-snapshot-rootless.sh)"

S=$IB_TMP/store
ok "overlay scenario in a user namespace" ns sh "$TL/ovl-scenario.sh" "$IB_TMP/a"
out=$(ns "$IMGBUILD" debug-layer export --root "$S" "$IB_TMP/a/upper")
like "$out" '^sha256:[0-9a-f]{64} sha256:[0-9a-f]{64} [0-9]+ application/vnd.oci.image.layer.v1.tar\+gzip$' "export prints diff_id digest size media type"
read -r DIFF DIGEST SIZE _ <<<"$out"
BLOB=$(blob_path "$S" "$DIGEST")
is "$(stat -c %s "$BLOB")" "$SIZE" "size is the blob's size"
is "sha256:$(sha256sum <"$BLOB" | cut -d' ' -f1)" "$DIGEST" "digest is the blob's sha256"
is "sha256:$(gzip -dc "$BLOB" | sha256sum | cut -d' ' -f1)" "$DIFF" "diff_id is the sha256 of the uncompressed tar"

A=$(printf 'a%.0s' $(seq 60)); B=$(printf 'b%.0s' $(seq 60)); C=$(printf 'c%.0s' $(seq 60)); N=$(printf 'n%.0s' $(seq 110))
expected="f .wh.del.txt 0644 0 0 0 - -
f .wh.old.txt 0644 0 0 0 - -
p fifo 0644 0 0 0 - -
d long 0755 0 0 0 - -
d long/$A 0755 0 0 0 - -
d long/$A/$B 0755 0 0 0 - -
d long/$A/$B/$C 0755 0 0 0 - -
f long/$A/$B/$C/$N 0644 0 0 5 - -
f mod.txt 0644 0 0 10 - -
f new-link 0644 0 0 4 - user.foo=626172
h new.txt 0644 0 0 0 new-link -
d od 0755 0 0 0 - -
f od/.wh..wh..opq 0644 0 0 0 - -
f od/inner 0644 0 0 6 - -
f own.txt 0644 1000 1000 4 - -
f perm.txt 0600 0 0 5 - -
f renamed.txt 0644 0 0 4 - -
d sub 0750 0 0 0 - -
f sub/.wh.gone 0644 0 0 0 - -
f suid 4755 0 0 10 - -
l sym 0777 0 0 0 new.txt -"
got=$(python3 "$TL/tarlist.py" "$BLOB")
is "$got" "$expected" "tar entries (Python tarfile): whiteouts, opaque dir, hardlink, symlink, xattr, setuid, fifo, chown, long path; no overlay xattrs"
is "$(python3 "$TL/tarlist.py" "$BLOB" --pax-keys | tr '\n' ' ')" "SCHILY.xattr.user.foo path " "PAX: only xattrs and the long path; no atime/ctime, no user/group names"
ok "GNU tar reads it" tar -tvzf "$BLOB"
is "$(tar -tzf "$BLOB" | wc -l)" 21 "GNU tar sees every entry"
is "$("$IMGBUILD" debug-layer list "$BLOB" | cut -d' ' -f1,2 | tr '\n' ' ')" \
   "f .wh.del.txt f .wh.old.txt p fifo d long/ d long/$A/ d long/$A/$B/ d long/$A/$B/$C/ f long/$A/$B/$C/$N f mod.txt f new-link h new.txt d od/ f od/.wh..wh..opq f od/inner f own.txt f perm.txt f renamed.txt d sub/ f sub/.wh.gone f suid l sym " \
   "debug-layer list agrees"

# Round trip: import(export(upper)) == upper.
out=$(ns "$IMGBUILD" debug-layer import --root "$S" --diff-id "$DIFF" "$DIGEST" 2>"$IB_TMP/err")
is "$out" "$S/layers/${DIFF#sha256:}" "import prints the layer dir"
like "$(cat "$IB_TMP/err")" "extracted" "import extracted the layer"
ok "round trip: the imported layer equals the upper dir" ns python3 "$TL/treecmp.py" "$IB_TMP/a/upper" "$out"
is "$(getfattr --only-values -n user.overlay.opaque "$out/od" 2>/dev/null)" "y" "opaque dir marked with user.overlay.opaque"
is "$(stat -c '%F %t:%T' "$out/del.txt")" "character special file 0:0" "whiteout is a 0:0 char device"
is "$(count_entries "$S/tmp")" 0 "no scratch left in tmp/"
ok "second import reuses it" ns "$IMGBUILD" debug-layer import --root "$S" --diff-id "$DIFF" "$DIGEST"
like "$(ns "$IMGBUILD" debug-layer import --root "$S" --diff-id "$DIFF" "$DIGEST" 2>&1 >/dev/null)" "reused" "second import says reused"

# The entries index (for COPY-only stages): written by import next to the layer,
# or made from the blob alone without extracting.
ent=$("$IMGBUILD" debug-layer entries --root "$S" "$DIFF")
is "$(echo "$ent" | grep -E '^. (del.txt|od|own.txt|new.txt|sym) ')" "w del.txt 0644 0 0 0 - -
h new.txt 0644 0 0 0 new-link -
d od 0755 0 0 0 - -
o od 0644 0 0 0 - -
f own.txt 0644 1000 1000 4 - -
l sym 0777 0 0 0 new.txt -" "entries index: whiteout, hardlink, dir, opaque marker, owner, symlink"
is "$(echo "$ent" | wc -l)" 21 "one index line per tar entry"
S2=$IB_TMP/store2
mkdir -p "$S2/blobs/sha256" && cp "$BLOB" "$S2/blobs/sha256/"
idx=$("$IMGBUILD" debug-layer index --root "$S2" --diff-id "$DIFF" "$DIGEST")
ok "index without extracting: same index as the import wrote" cmp "$idx" "$S/layers/${DIFF#sha256:}.entries"
is "$(layer_dirs "$S2")" 0 "  and no layer dir"
fails "index of a blob with the wrong diff_id is refused" "$IMGBUILD" debug-layer index --root "$S2" --diff-id "$(echo "$DIFF" | tr 0-8 1-9)" "$DIGEST"

# Reproducible: same dir twice, and the same changes made again later, with SOURCE_DATE_EPOCH.
sleep 1.1
ok "the same scenario again, later" ns sh "$TL/ovl-scenario.sh" "$IB_TMP/b"
r1=$(ns "$IMGBUILD" debug-layer export --root "$S" --source-date-epoch 1700000000 "$IB_TMP/a/upper")
r2=$(ns "$IMGBUILD" debug-layer export --root "$S" --source-date-epoch 1700000000 "$IB_TMP/a/upper")
r3=$(ns env SOURCE_DATE_EPOCH=1700000000 "$IMGBUILD" debug-layer export --root "$S" "$IB_TMP/b/upper")
is "$r2" "$r1" "same dir twice: same diff_id and digest"
is "$r3" "$r1" "same content made at another time: same diff_id and digest (SOURCE_DATE_EPOCH in env)"
n1=$(ns "$IMGBUILD" debug-layer export --root "$S" "$IB_TMP/a/upper")
n2=$(ns "$IMGBUILD" debug-layer export --root "$S" "$IB_TMP/b/upper")
[ "$n1" != "$n2" ]; is $? 0 "without SOURCE_DATE_EPOCH the real mtimes are kept (the two differ)"
read -r _ rdig _ <<<"$r1"
is "$(tar -tvzf "$(blob_path "$S" "$rdig")" --full-time | awk '{print $4}' | sort -u | tr '\n' ' ')" "2023-11-14 " "every mtime clamped (dirs too)"

# zstd and uncompressed.
for c in zstd none; do
        out=$(ns "$IMGBUILD" debug-layer export --root "$S" --compression $c --source-date-epoch 1700000000 "$IB_TMP/a/upper")
        read -r d g _ mt <<<"$out"
        is "$d" "${r1%% *}" "$c: same diff_id as gzip"
        case $c in
        zstd) is "$mt" application/vnd.oci.image.layer.v1.tar+zstd "zstd media type"
              is "sha256:$(zstd -dc "$(blob_path "$S" "$g")" | sha256sum | cut -d' ' -f1)" "$d" "zstd -d agrees with the diff_id" ;;
        none) is "$mt" application/vnd.oci.image.layer.v1.tar "uncompressed media type"
              is "$(python3 "$TL/tarlist.py" "$(blob_path "$S" "$g")")" "$expected" "uncompressed tar: same entries" ;;
        esac
        ns rm -rf "$S/layers/${d#sha256:}"
        out=$(ns "$IMGBUILD" debug-layer import --root "$S" --diff-id "$d" "$g" 2>/dev/null)
        ok "$c: round trip" ns python3 "$TL/treecmp.py" "$IB_TMP/a/upper" "$out"
done
for l in 0 3 6 9; do
        out=$(ns "$IMGBUILD" debug-layer export --root "$S" --level $l --source-date-epoch 1700000000 "$IB_TMP/a/upper")
        read -r d g _ <<<"$out"
        is "sha256:$(gzip -dc "$(blob_path "$S" "$g")" | sha256sum | cut -d' ' -f1)" "${r1%% *}" "gzip level $l: gzip -d gives the same tar"
done
# What an upper dir may hold that a layer cannot: sockets are skipped; overlay
# redirect/metacopy (mounts that use them) are refused rather than exported wrong.
mkdir -p "$IB_TMP/odd/r"
echo f >"$IB_TMP/odd/file"
python3 -c "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$IB_TMP/odd/sock"
out=$(ns "$IMGBUILD" debug-layer export --root "$S" "$IB_TMP/odd")
read -r _ g _ <<<"$out"
is "$(python3 "$TL/tarlist.py" "$(blob_path "$S" "$g")" | cut -d' ' -f1,2 | tr '\n' ' ')" "f file d r " "a socket is skipped"
setfattr -n user.overlay.redirect -v /elsewhere "$IB_TMP/odd/r"
out=$(ns "$IMGBUILD" debug-layer export --root "$S" "$IB_TMP/odd" 2>&1)
like "$out" "user.overlay.redirect.*redirect_dir=off" "a redirected dir is refused with the fix"
fails "an unknown compression is a usage error" "$IMGBUILD" debug-layer export --root "$S" --compression lz4 "$IB_TMP/a/upper"
done_testing
