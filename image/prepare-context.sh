#!/bin/sh
# image/prepare-context.sh BIN CTX: the build context of imgbuild's own image
# (image/Dockerfile).  imgbuild links libcurl, libarchive, OpenSSL and more,
# which have no static builds in Debian, so the context holds the binary and
# every shared library ldd lists for it and for newuidmap/newgidmap, at their
# own paths (the dynamic loader included) and those it loads with dlopen(),
# the CA bundle and a static busybox.
set -eu
bin=$1 ctx=$2
rm -rf "$ctx"
mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/etc/ssl/certs" "$ctx/busybox"

copy_with_libs() { # FILE DEST-IN-ROOTFS
        install -D -m "$(stat -L -c %a "$1")" "$1" "$ctx/rootfs$2"
        # "name => /path (addr)" and "/path (addr)" lines: copy each path, following links
        ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
                [ -e "$ctx/rootfs$lib" ] || install -D -m 0644 "$(readlink -f "$lib")" "$ctx/rootfs$lib"
        done
}
copy_with_libs "$bin" /usr/bin/imgbuild
# libraries imgbuild may load with dlopen() on first use (ldd does not list
# them): each one, found by its soname, with what it needs in turn
for so in libcurl.so.4; do
        p=$(ldconfig -p | awk -v so="$so" '$1 == so && $NF ~ /^\// { print $NF; exit }')
        [ -n "$p" ] || { echo "prepare-context: $so not found" >&2; exit 1; }
        copy_with_libs "$p" "$p"
done
for t in newuidmap newgidmap; do
        p=$(command -v "$t") || { echo "prepare-context: $t not found (Debian package uidmap)" >&2; exit 1; }
        copy_with_libs "$p" "/usr/bin/$t"
done
# the loader must be executable
find "$ctx/rootfs" -name 'ld-linux*' -exec chmod 0755 {} +
cp /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/" ||
        { echo "prepare-context: no CA bundle (Debian package ca-certificates)" >&2; exit 1; }
cp /bin/busybox "$ctx/busybox/busybox" || { echo "prepare-context: no /bin/busybox (busybox-static)" >&2; exit 1; }
ldd /bin/busybox >/dev/null 2>&1 && { echo "prepare-context: /bin/busybox is not static" >&2; exit 1; }
printf 'root:x:0:0:root:/root:/busybox/sh\nimgbuild:x:1000:1000:imgbuild:/home/imgbuild:/busybox/sh\n' \
        >"$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nimgbuild:x:1000:\n' >"$ctx/rootfs/etc/group"
exit 0
