#!/bin/bash
# The image model and the local outputs, judged by independent tools: skopeo
# (OCI layout, docker-archive, config fields, raw manifests), umoci (unpacked
# files, modes, owners, links, whiteouts) and podman (load and run).  Images
# are assembled by the hidden `imgbuild debug-image` verb from layer tarballs
# made here with tar and Python's tarfile.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"

for t in skopeo umoci jq python3 tar; do
        command -v "$t" >/dev/null || skip_all "$t is not installed"
done
W=$IB_TMP

# ------------------------------------------------------------------ layers
make_busybox_rootfs "$W/bb" && tar --numeric-owner --owner=0 --group=0 -C "$W/bb" -cf "$W/l1.tar" . ||
        skip_all "cannot make a busybox root file system"
python3 - "$W/l2.tar" "$W/l3.tar" <<'PY'
import io, sys, tarfile
def add(t, name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0, link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.uid, ti.gid, ti.mtime, ti.linkname = kind, mode, uid, gid, 1600000000, link
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    add(t, "data", tarfile.DIRTYPE, mode=0o755)
    add(t, "data/file", data=b"hello\n", mode=0o640, uid=1000, gid=1000)
    add(t, "data/exec", data=b"#!/bin/sh\necho run\n", mode=0o755)
    add(t, "data/link", tarfile.SYMTYPE, mode=0o777, link="file")
    add(t, "data/hard", tarfile.LNKTYPE, link="data/file")
    add(t, "data/sub", tarfile.DIRTYPE, mode=0o700, uid=4242, gid=4343)
    add(t, "data/sub/inner", data=b"in\n", uid=4242, gid=4343)
    add(t, "data/gone", data=b"bye\n")
    add(t, "data/olddir", tarfile.DIRTYPE, mode=0o755)
    add(t, "data/olddir/old", data=b"old\n")
with tarfile.open(sys.argv[2], "w", format=tarfile.PAX_FORMAT) as t:
    add(t, "data", tarfile.DIRTYPE, mode=0o755)
    add(t, "data/.wh.gone")
    add(t, "data/olddir", tarfile.DIRTYPE, mode=0o755)
    add(t, "data/olddir/.wh..wh..opq")
    add(t, "data/olddir/fresh", data=b"fresh\n")
    add(t, "data/new", data=b"new\n")
PY
chmod 644 "$W"/l*.tar

CONFIG_ARGS=(--created 2024-01-02T03:04:05Z --author 'Test <t@example.com>'
        --env PATH=/bin:/usr/bin --env A=1 --env A=2
        --entrypoint-json '["/bin/sh","-c"]' --cmd-json '["cat /data/file /data/new; id -u"]'
        --workdir /data --user 1000:1000 --label org.example.a=1 --label 'b=x<y&z'
        --expose 8080 --expose 53/udp --volume /data/vol
        --healthcheck-json '{"Test":["CMD-SHELL","true"],"Interval":10000000000,"Retries":2}'
        --stopsignal SIGINT --onbuild 'RUN echo child' --shell-json '["/bin/sh","-ec"]' --history 'ENV A=2')
LAYERS=("$W/l1.tar" "$W/l2.tar" "$W/l3.tar")

ok "debug-image writes an OCI layout, a docker-archive, digest and metadata files" \
        "$IMGBUILD" debug-image --root "$W/store" "${CONFIG_ARGS[@]}" --oci-layout-path "$W/lay:v1" \
        --tar-path "$W/img.tar" --tag reg.example/app:1 --tag app --digest-file "$W/digest" \
        --metadata-file "$W/meta.json" --image-name-with-digest-file "$W/names" \
        --image-name-tag-with-digest-file "$W/nametags" "${LAYERS[@]}"
DIGEST=$("$IMGBUILD" debug-image --root "$W/store" "${CONFIG_ARGS[@]}" "${LAYERS[@]}" 2>/dev/null)

# ------------------------------------------------------------ OCI layout
SK_DIGEST=$(skopeo inspect "oci:$W/lay:v1" | jq -r .Digest)
is "$SK_DIGEST" "$DIGEST" "skopeo reads the layout; the digest is the one printed"
is "$(cat "$W/digest")" "$DIGEST" "--digest-file holds the manifest digest"
skopeo inspect --config "oci:$W/lay:v1" >"$W/cfg.json" 2>"$W/err"
skopeo inspect --config --raw "oci:$W/lay:v1" >"$W/raw-cfg.json" 2>>"$W/err"
jqis() { is "$(jq -c "$2" "$1" 2>&1)" "$3" "config $2"; }
jqis "$W/cfg.json" .config.Env '["PATH=/bin:/usr/bin","A=2"]'
jqis "$W/cfg.json" .config.Entrypoint '["/bin/sh","-c"]'
jqis "$W/cfg.json" .config.Cmd '["cat /data/file /data/new; id -u"]'
jqis "$W/cfg.json" .config.WorkingDir '"/data"'
jqis "$W/cfg.json" .config.User '"1000:1000"'
jqis "$W/cfg.json" .config.Labels '{"b":"x<y&z","org.example.a":"1"}'
jqis "$W/cfg.json" .config.ExposedPorts '{"53/udp":{},"8080/tcp":{}}'
jqis "$W/cfg.json" .config.Volumes '{"/data/vol":{}}'
jqis "$W/cfg.json" .config.StopSignal '"SIGINT"'
jqis "$W/cfg.json" '.history|length' 4
jqis "$W/cfg.json" '[.history[].empty_layer]' '[true,null,null,null]'
jqis "$W/cfg.json" '.rootfs.diff_ids|length' 3
jqis "$W/cfg.json" .author '"Test <t@example.com>"'
jqis "$W/cfg.json" .created '"2024-01-02T03:04:05Z"'
jqis "$W/raw-cfg.json" .config.Healthcheck '{"Test":["CMD-SHELL","true"],"Interval":10000000000,"Retries":2}'
jqis "$W/raw-cfg.json" .config.OnBuild '["RUN echo child"]'
jqis "$W/raw-cfg.json" .config.Shell '["/bin/sh","-ec"]'
like "$(cat "$W/raw-cfg.json")" 'x\\u003cy\\u0026z' "config escapes <, & as Go's encoding/json does"

ok "skopeo copy oci:DIR:TAG oci:OTHER" skopeo copy -q "oci:$W/lay:v1" "oci:$W/copy:c"
is "$(skopeo inspect "oci:$W/copy:c" | jq -r .Digest)" "$DIGEST" "the copy has the same manifest digest"

# ------------------------------------------------------------ umoci unpack
if ok "umoci unpack of the layout" umoci unpack --image "$W/lay:v1" "$W/bundle"; then
        R=$W/bundle/rootfs
        is "$(cat "$R/data/file")" hello "layer file content"
        is "$(stat -c '%a %u:%g' "$R/data/file")" "640 1000:1000" "mode and owner kept"
        is "$(stat -c '%a %u:%g' "$R/data/sub")" "700 4242:4343" "directory mode and owner kept"
        is "$(readlink "$R/data/link")" file "symlink kept"
        is "$(stat -c %i "$R/data/hard")" "$(stat -c %i "$R/data/file")" "hard link kept"
        ok "whiteout in layer 3 removed data/gone" test ! -e "$R/data/gone"
        ok "opaque dir in layer 3 hid data/olddir/old" test ! -e "$R/data/olddir/old"
        is "$(cat "$R/data/olddir/fresh" "$R/data/new")" "fresh
new" "layer 3 files present"
        ok "busybox from layer 1 is executable" test -x "$R/bin/busybox"
fi

# --------------------------------------------------------- metadata files
skopeo inspect --raw "oci:$W/lay:v1" >"$W/manifest.json"
M=$W/meta.json
is "$(jq -r '."containerimage.digest"' "$M")" "$DIGEST" "metadata: image digest"
is "$(jq -r '."containerimage.config.digest"' "$M")" "$(jq -r .config.digest "$W/manifest.json")" \
        "metadata: config digest matches the manifest skopeo reads"
is "$(jq -c '[."imgbuild.image".layers[]|[.digest,.size,.mediaType]]' "$M")" \
        "$(jq -c '[.layers[]|[.digest,.size,.mediaType]]' "$W/manifest.json")" "metadata: layer digests, sizes, media types"
is "$(jq -c '[."imgbuild.image".layers[].diffID]' "$M")" "$(jq -c .rootfs.diff_ids "$W/cfg.json")" "metadata: diff_ids"
is "$(jq -r '."containerimage.descriptor".size' "$M")" "$(wc -c <"$W/manifest.json" | tr -d ' ')" "metadata: manifest size"
is "$(cat "$W/names")" "reg.example/app@$DIGEST
index.docker.io/library/app@$DIGEST" "--image-name-with-digest-file as Kaniko"
is "$(cat "$W/nametags")" "reg.example/app:1@$DIGEST
index.docker.io/library/app:latest@$DIGEST" "--image-name-tag-with-digest-file as Kaniko"

# ------------------------------------------------------------ base image
# A base made by umoci: its config is parsed, edited and extended; its layer
# blob is reused as it is (same digest in our manifest).
if make_busybox_layout "$W/base" >/dev/null 2>&1; then
        bm=$(jq -r '.manifests[0].digest' "$W/base/index.json"); bm=${bm#sha256:}
        bc=$(jq -r .config.digest "$W/base/blobs/sha256/$bm"); bc=${bc#sha256:}
        bl=$(jq -r '.layers[0].digest' "$W/base/blobs/sha256/$bm"); bl=${bl#sha256:}
        BD=$("$IMGBUILD" debug-image --root "$W/store" --created 0 --base-config "$W/base/blobs/sha256/$bc" \
                --base-layer "$W/base/blobs/sha256/$bl" --env X=1 --history 'ENV X=1' \
                --oci-layout-path "$W/derived:d" "$W/l2.tar" 2>"$W/err")
        like "$BD" '^sha256:' "an image on a umoci-made base is assembled ($(head -c 200 "$W/err"))"
        skopeo inspect --config "oci:$W/derived:d" >"$W/dcfg.json" 2>"$W/err"
        is "$(jq -c .config.Env "$W/dcfg.json")" \
                '["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","X=1"]' "base Env kept, ours appended"
        is "$(jq -c .config.Cmd "$W/dcfg.json")" '["sh"]' "base Cmd kept"
        is "$(jq -c '.rootfs.diff_ids[0]' "$W/dcfg.json")" "$(jq -c '.rootfs.diff_ids[0]' "$W/base/blobs/sha256/$bc")" "base diff_id first"
        is "$(jq '.history|length' "$W/dcfg.json")" "$(( $(jq '.history|length' "$W/base/blobs/sha256/$bc") + 2 ))" \
                "base history kept, two entries added"
        is "$(skopeo inspect --raw "oci:$W/derived:d" | jq -r '.layers[0].digest')" "sha256:$bl" "the base layer blob is reused as is"
        ok "umoci unpacks the derived image" umoci unpack --image "$W/derived:d" "$W/dbundle"
        ok "... base files and ours" test -x "$W/dbundle/rootfs/bin/busybox" -a -f "$W/dbundle/rootfs/data/file"
        fails "a base layer that is not the config's is refused" "$IMGBUILD" debug-image --root "$W/store" \
                --base-config "$W/base/blobs/sha256/$bc" --base-layer "$W/l2.tar"
        # The same base read straight from its layout (resolved by tag, blobs imported).
        FD=$("$IMGBUILD" debug-image --root "$W/store" --created 0 --from-layout "$W/base:latest" --env X=1 \
                --history 'ENV X=1' --oci-layout-path "$W/derived2:d" --tar-path "$W/derived.tar" \
                --tag derived/app:1 "$W/l2.tar" 2>"$W/err")
        is "$FD" "$BD" "--from-layout DIR:TAG gives the same image as config + layer blobs"
        FD2=$("$IMGBUILD" debug-image --root "$W/store4" --created 0 --from-layout "$W/base@sha256:$bm" --env X=1 \
                --history 'ENV X=1' "$W/l2.tar" 2>"$W/err")
        is "$FD2" "$BD" "--from-layout DIR@DIGEST into an empty store: the same image"
        fails "--from-layout with an unknown tag" "$IMGBUILD" debug-image --root "$W/store" --from-layout "$W/base:nope"
else
        skip "umoci could not make a busybox base image"
fi

# ------------------------------------------------------------ reproducible
D2=$("$IMGBUILD" debug-image --root "$W/store2" "${CONFIG_ARGS[@]}" --oci-layout-path "$W/lay2" "${LAYERS[@]}" 2>"$W/err")
is "$D2" "$DIGEST" "same inputs and --created, another store: same manifest digest"
D3=$(SOURCE_DATE_EPOCH=1704164645 "$IMGBUILD" debug-image --root "$W/store3" \
        "${CONFIG_ARGS[@]:2}" "${LAYERS[@]}" 2>"$W/err")
is "$D3" "$DIGEST" "SOURCE_DATE_EPOCH gives the same created time and digest"
is "$(skopeo inspect "oci:$W/lay2" | jq -r .Digest)" "$DIGEST" "an untagged layout entry is readable"

# ------------------------------------------------- layouts: append, copy path
"$IMGBUILD" debug-image --root "$W/store" --created 0 --cmd-json '["other"]' --oci-layout-path "$W/lay:v2" \
        "$W/l1.tar" >/dev/null 2>"$W/err"
lb=$(jq -r '.layers[0].digest' "$W/manifest.json"); lb=${lb#sha256:}
is "$(stat -c %i "$W/lay/blobs/sha256/$lb")" "$(stat -c %i "$W/store/blobs/sha256/$lb")" \
        "same file system: layout blobs are hard links to the store's"
is "$(skopeo inspect "oci:$W/lay:v1" | jq -r .Digest)" "$DIGEST" "appending tag v2 keeps v1"
is "$(skopeo inspect --config "oci:$W/lay:v2" | jq -c .config.Cmd)" '["other"]' "v2 is the second image"
is "$(jq '.manifests|length' "$W/lay/index.json")" 2 "index.json lists both"
jqis "$W/lay/index.json" '.manifests[0].platform.os' '"linux"'

# Another file system: /dev/shm where it is one, else (as root) a private tmpfs.
copy_path_check() { # layout-dir
        "$IMGBUILD" debug-image --root "$W/store" "${CONFIG_ARGS[@]}" --oci-layout-path "$1:x" "${LAYERS[@]}" >/dev/null &&
                cmp "$1/blobs/sha256/$lb" "$W/store/blobs/sha256/$lb" &&
                [ "$(stat -c %h "$1/blobs/sha256/$lb")" = 1 ] &&
                [ -z "$(find "$1/blobs" -name '.tmp-*')" ] &&
                [ "$(skopeo inspect "oci:$1:x" | jq -r .Digest)" = "$DIGEST" ]
}
SHM=$(mktemp -d /dev/shm/ib-test.XXXXXX 2>/dev/null) && on_exit "rm -rf '$SHM'"
if [ -n "$SHM" ] && [ "$(stat -c %d "$SHM")" != "$(stat -c %d "$W")" ]; then
        ok "another file system: blobs copied whole, no temp files left, layout reads back" copy_path_check "$SHM/lay"
elif is_root && have_userns; then
        mkdir -p "$W/tmpfs"
        export -f copy_path_check; export IMGBUILD W DIGEST lb; export CONFIG_ARGS_STR="${CONFIG_ARGS[*]@Q}" LAYERS_STR="${LAYERS[*]@Q}"
        ok "another file system (private tmpfs): blobs copied whole, layout reads back" \
                unshare --mount bash -c 'mount -t tmpfs none "$W/tmpfs" && eval "CONFIG_ARGS=($CONFIG_ARGS_STR) LAYERS=($LAYERS_STR)" && copy_path_check "$W/tmpfs/lay"'
else
        skip "no second file system for the copy path"
fi

# Writers running at once into one layout: every tag survives (flock).
pids=""
for i in 1 2 3 4; do
        "$IMGBUILD" debug-image --root "$W/store" --created "$i" --oci-layout-path "$W/par:p$i" "$W/l2.tar" >"$W/par$i.out" 2>&1 &
        pids="$pids $!"
done
for p in $pids; do wait "$p"; done
is "$(jq -c '[.manifests[].annotations."org.opencontainers.image.ref.name"]|sort' "$W/par/index.json")" \
        '["p1","p2","p3","p4"]' "four concurrent writers: four tags in index.json"
is "$(skopeo inspect "oci:$W/par:p3" | jq -r .Digest)" "$(cat "$W/par3.out")" "each tag names its own image"

# ---------------------------------------------------------- docker format
# Untagged: skopeo's oci: transport only matches a tag against entries with
# OCI media types, so a docker manifest in a layout is read as the sole image.
DD=$("$IMGBUILD" debug-image --root "$W/store" "${CONFIG_ARGS[@]}" --image-format docker \
        --oci-layout-path "$W/dlay" "${LAYERS[@]}" 2>"$W/err")
skopeo inspect --raw "oci:$W/dlay" >"$W/dmanifest.json"
jqis "$W/dmanifest.json" .mediaType '"application/vnd.docker.distribution.manifest.v2+json"'
jqis "$W/dmanifest.json" .config.mediaType '"application/vnd.docker.container.image.v1+json"'
jqis "$W/dmanifest.json" '[.layers[].mediaType]|unique' '["application/vnd.docker.image.rootfs.diff.tar.gzip"]'
is "$(jq -r .config.digest "$W/dmanifest.json")" "$(jq -r .config.digest "$W/manifest.json")" "the config bytes are the same in both formats"
like "$DD" '^sha256:' "docker-format image digest printed"
jqis "$W/manifest.json" .mediaType '"application/vnd.oci.image.manifest.v1+json"'
jqis "$W/manifest.json" .config.mediaType '"application/vnd.oci.image.config.v1+json"'
jqis "$W/manifest.json" '[.layers[].mediaType]|unique' '["application/vnd.oci.image.layer.v1.tar+gzip"]'
ok "skopeo copies the docker-format image" skopeo copy -q "oci:$W/dlay" "oci:$W/dcopy:d"

# zstd layers (as a base image may have them): kept as they are in layouts,
# decompressed into the docker-archive.
if command -v zstd >/dev/null; then
        zstd -q -c "$W/l2.tar" >"$W/l2.tar.zst"
        ZD=$("$IMGBUILD" debug-image --root "$W/store" --created 0 --oci-layout-path "$W/zlay:z" \
                --tar-path "$W/z.tar" --tag z/app:1 "$W/l1.tar" "$W/l2.tar.zst" 2>"$W/err")
        is "$(skopeo inspect --raw "oci:$W/zlay:z" | jq -c '[.layers[].mediaType]')" \
                '["application/vnd.oci.image.layer.v1.tar+gzip","application/vnd.oci.image.layer.v1.tar+zstd"]' \
                "a zstd layer keeps its OCI zstd media type"
        is "$(skopeo inspect --config "oci:$W/zlay:z" | jq -r '.rootfs.diff_ids[1]')" "sha256:$(sha256sum <"$W/l2.tar" | cut -d' ' -f1)" \
                "its diff_id is the digest of the plain tar"
        ok "skopeo copy of the image with a zstd layer" skopeo copy -q "oci:$W/zlay:z" "oci:$W/zcopy:z"
        ok "the docker-archive of it holds the plain tar" \
                sh -c "tar -xOf '$W/z.tar' \$(tar -xOf '$W/z.tar' manifest.json | jq -r '.[0].Layers[1]') | cmp - '$W/l2.tar'"
        ok "skopeo reads that docker-archive" skopeo copy -q "docker-archive:$W/z.tar" "oci:$W/zarch:z"
        like "$ZD" '^sha256:' "zstd image digest printed"
else
        skip "zstd is not installed"
fi

# ---------------------------------------------------------- docker-archive
tar -xOf "$W/img.tar" manifest.json >"$W/arch-manifest.json" 2>"$W/err"
jqis "$W/arch-manifest.json" '.[0].RepoTags' '["reg.example/app:1","app:latest"]'
jqis "$W/arch-manifest.json" '.[0].Layers|length' 3
cfghex=$(jq -r .config.digest "$W/manifest.json"); cfghex=${cfghex#sha256:}
is "$(jq -r '.[0].Config' "$W/arch-manifest.json")" "$cfghex.json" "archive config named by its digest"
skopeo inspect --config --raw "docker-archive:$W/img.tar" >"$W/arch-cfg.json" 2>"$W/err"
ok "docker-archive config is the image config, byte for byte" cmp "$W/arch-cfg.json" "$W/lay/blobs/sha256/$cfghex"
ok "skopeo copy docker-archive:FILE oci:DIR" skopeo copy -q "docker-archive:$W/img.tar" "oci:$W/fromarch:x"
is "$(skopeo inspect --config "oci:$W/fromarch:x" | jq -c .rootfs.diff_ids)" "$(jq -c .rootfs.diff_ids "$W/cfg.json")" \
        "layers from the archive have the image's diff_ids"
ok "the archive's layers are plain tars" sh -c "tar -xOf '$W/img.tar' \$(jq -r '.[0].Layers[1]' '$W/arch-manifest.json') | tar -t >/dev/null"
ok "repositories file for old docker" sh -c "tar -xOf '$W/img.tar' repositories | jq -e '.\"reg.example/app\".\"1\"'"

# ------------------------------------------------------------------ podman
if command -v podman >/dev/null; then
        # A private store: never the machine's.  runc cannot raise rlimits here
        # (no CAP_SYS_RESOURCE), so ask for limits below the current ones.
        P=(podman --root "$W/p" --runroot "$W/pr" --tmpdir "$W/pt" --storage-driver vfs
                --events-backend none --cgroup-manager cgroupfs)
        if ok "podman load -i FILE" timeout 120 "${P[@]}" load -i "$W/img.tar"; then
                like "$("${P[@]}" images --format '{{.Repository}}:{{.Tag}} {{.ID}}' 2>&1)" \
                        "reg.example/app:1 ${cfghex:0:12}" "podman lists the loaded image by name and config id"
                out=$(timeout 120 "${P[@]}" run --rm --runtime runc --network host \
                        --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 reg.example/app:1 2>"$W/podman-err")
                is "$out" "hello
new
1000" "podman run of the loaded image runs its entrypoint + cmd as its user"
                if [ -f "$W/derived.tar" ]; then
                        timeout 120 "${P[@]}" load -i "$W/derived.tar" >/dev/null 2>&1
                        out=$(timeout 120 "${P[@]}" run --rm --runtime runc --network host --ulimit nofile=1024:1024 \
                                --ulimit nproc=1024:1024 derived/app:1 sh -c 'echo $X; cat /data/file' 2>"$W/podman-err")
                        is "$out" "1
hello" "podman runs the image made on the umoci base (busybox from the base, files from ours)"
                fi
        fi
else
        skip "podman is not installed"
fi

# ---------------------------------------------------------------- rootless
if setup_test_user; then
        UD=$(user_dir)
        UDIG=$(as_user "$IB_TEST_USER" "$IMGBUILD_USER_BIN" debug-image --root "$UD/store" "${CONFIG_ARGS[@]}" \
                --oci-layout-path "$UD/lay:u" --tar-path "$UD/u.tar" --tag u/app:1 "${LAYERS[@]}" 2>"$W/err")
        is "$UDIG" "$DIGEST" "as an unprivileged user: the same digest"
        ok "as an unprivileged user: skopeo copies the layout" \
                as_user "$IB_TEST_USER" skopeo copy -q "oci:$UD/lay:u" "oci:$UD/copy:u"
        ok "as an unprivileged user: skopeo reads the archive" \
                as_user "$IB_TEST_USER" skopeo inspect "docker-archive:$UD/u.tar"
else
        skip "cannot create the unprivileged test user (not root)"
fi

# A stored image written again from its manifest digest (nothing rebuilt).
ok "--image DIGEST writes the outputs of a stored image" \
        "$IMGBUILD" debug-image --root "$W/store" --image "$DIGEST" --tar-path "$W/again.tar" --tag reg.example/app:1 --tag app
ok "... the same docker-archive bytes" cmp "$W/again.tar" "$W/img.tar"
# The remembered uncompressed size is a hint: a lie is caught while writing.
l3=$(jq -r '.layers[2].digest' "$W/manifest.json"); l3=${l3#sha256:}
setfattr -n user.imgbuild.layer -v "$(jq -r '.rootfs.diff_ids[2]' "$W/cfg.json") 512" "$W/store/blobs/sha256/$l3"
"$IMGBUILD" debug-image --root "$W/store" --image "$DIGEST" --tar-path "$W/bad.tar" >/dev/null 2>"$W/err"
like "$(cat "$W/err")" "longer than its 512 bytes" "a wrong remembered size is refused"
ok "... and no archive is left behind" sh -c "! ls '$W'/bad.tar*"
setfattr -x user.imgbuild.layer "$W/store/blobs/sha256/$l3"

# ----------------------------------------------------------------- errors
fails "a missing layer file is an error" "$IMGBUILD" debug-image --root "$W/store" "$W/nope.tar"
"$IMGBUILD" debug-image --root "$W/store" --image-format zip "$W/l1.tar" >/dev/null 2>"$W/err"
like "$(cat "$W/err")" "neither oci nor docker" "bad --image-format named"
"$IMGBUILD" debug-image --root "$W/store" --cmd-json '"notalist"' "$W/l1.tar" >/dev/null 2>"$W/err"
like "$(cat "$W/err")" "Cmd: expected an array" "bad --cmd-json names the field"
printf 'not a tar at all, but gzip: ' | gzip >"$W/bad.gz"; head -c 20 "$W/bad.gz" >"$W/trunc.gz"
fails "a truncated gzip layer is refused" "$IMGBUILD" debug-image --root "$W/store" "$W/trunc.gz"
is "$(find "$W/store/tmp" -mindepth 1 | wc -l)" 0 "no scratch left in the store after failures"

done_testing
