#!/bin/sh
# Install imgbuild's build and test dependencies from Debian's packages when
# they are missing.  Idempotent; as non-root it prints the command instead.
set -eu

PKGS="build-essential pkg-config clang libclang-rt-14-dev
libseccomp-dev libcap-dev libarchive-dev libcurl4-openssl-dev libyajl-dev
libxxhash-dev libssl-dev zlib1g-dev libzstd-dev libisal-dev
uidmap passwd util-linux iproute2 procps psmisc attr acl python3 python3-yaml curl ca-certificates
busybox-static docker-registry skopeo umoci podman buildah runc fuse-overlayfs
apache2-utils openssl mandoc man-db tar gzip zstd xz-utils bzip2 file time"

missing=""
for p in $PKGS; do
        dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
        echo "imgbuild: missing packages; run as root:" >&2
        echo "  apt-get update && $cmd" >&2
        exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
