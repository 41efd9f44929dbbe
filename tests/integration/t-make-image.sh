#!/bin/bash
# `make image`: imgbuild builds its own image from image/Dockerfile into an
# OCI layout; skopeo and umoci judge it: the binary, its libraries,
# newuidmap/newgidmap (setuid), the CA bundle; and, unpacked, `imgbuild
# version` runs inside it (chroot).
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
for t in skopeo umoci jq make ldd; do command -v $t >/dev/null || skip_all "$t not installed"; done
command -v newuidmap >/dev/null || skip_all "newuidmap not installed (uidmap)"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
have_userns || skip_all "user namespaces unavailable"
O=$IB_TMP/out
# the Makefile's own target, with the binary under test, everything in our temp dir
make -s -C "$IB_SRCDIR" image IMAGE_BIN="$IMGBUILD" IMAGE_OUT="$O" IMAGE_CTX="$IB_TMP/ctx" \
        IMAGE_STORE="$IB_TMP/store" >"$IB_TMP/log" 2>&1
is "$?" 0 "make image succeeds"
[ -d "$O" ] || { diag "$(tail -20 "$IB_TMP/log")"; done_testing; exit; }
cfg=$(skopeo inspect --config "oci:$O:latest")
is "$(jq -c .config.Entrypoint <<<"$cfg")" '["/usr/bin/imgbuild"]' "the entrypoint is imgbuild"
like "$(jq -r '.config.Env[]' <<<"$cfg")" "^PATH=/usr/bin:/busybox" "PATH has the binaries and the shell"
R=$IB_TMP/unpacked
if is_root; then
        umoci unpack --image "$O:latest" "$R" >/dev/null 2>&1
else
        umoci unpack --rootless --image "$O:latest" "$R" >/dev/null 2>&1
fi
is "$?" 0 "umoci unpacks it"
F=$R/rootfs
ok "the binary is there" test -x "$F/usr/bin/imgbuild"
cmp -s "$IMGBUILD" "$F/usr/bin/imgbuild"; is "$?" 0 "and it is the one built here"
ok "the CA bundle" test -s "$F/etc/ssl/certs/ca-certificates.crt"
for t in newuidmap newgidmap; do
        is "$(stat -c %a "$F/usr/bin/$t" 2>/dev/null)" 4755 "$t is there, setuid"
done
missing=""
for lib in $(ldd "$IMGBUILD" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
        [ -e "$F$lib" ] || missing="$missing $lib"
done
is "$missing" "" "every shared library ldd lists is in the image"
curl=$(ldconfig -p | awk '$1 == "libcurl.so.4" && $NF ~ /^\// { print $NF; exit }')
ok "and libcurl, which imgbuild may dlopen ($curl)" test -f "$F$curl"
is "$(stat -c %a "$F$curl" 2>/dev/null)" 644 "with the mode of a library"
if is_root; then
        is "$(chroot "$F" /usr/bin/imgbuild version 2>&1)" "imgbuild $(cat "$IB_SRCDIR/VERSION")" \
                "imgbuild version runs inside the image (chroot)"
        like "$(chroot "$F" /busybox/sh -c 'newuidmap 2>&1; true')" "usage: newuidmap" "newuidmap runs inside it"
        like "$(chroot "$F" /usr/bin/imgbuild build --help 2>&1)" "Usage: imgbuild build" "build --help inside it"
else
        skip "chroot into the image needs root"
fi
# make image DEST=...: the same image, pushed (the layer cache makes it quick)
if command -v docker-registry >/dev/null && start_registry; then
        make -s -C "$IB_SRCDIR" image IMAGE_BIN="$IMGBUILD" IMAGE_OUT="$O" IMAGE_CTX="$IB_TMP/ctx" \
                IMAGE_STORE="$IB_TMP/store" DEST="$REGISTRY/tools/imgbuild:1" >"$IB_TMP/log2" 2>&1
        is "$?" 0 "make image DEST=REG/tools/imgbuild:1"
        pushed=$(skopeo inspect --tls-verify=false "docker://$REGISTRY/tools/imgbuild:1" 2>/dev/null | jq -r .Digest)
        is "$pushed" "$(skopeo inspect "oci:$O:latest" | jq -r .Digest)" "the registry has the same image as the layout"
else
        skip "docker-registry is needed for make image DEST="
fi
done_testing
