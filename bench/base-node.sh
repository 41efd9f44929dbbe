#!/bin/bash
# bench/base-node.sh - make, once, the bench's two base images and push them to
# the bench's docker-registry on loopback (bench/lib.sh):
#   node:12     shaped like the real node:12 (buildpack-deps based): a Debian
#               bookworm minbase made with mmdebstrap plus six layers, each the
#               diff of a set of Debian packages installed on top (apt in a chroot
#               over overlayfs: the upper dir is the layer), ~900 MB, ~48,000 files
#   busybox     one layer, busybox-static and its applet links
# Both are kept as OCI layouts in $IB_BENCH_DIR/oci (default /var/tmp/imgbuild-bench)
# and reused by later runs (FORCE=1 remakes node:12).  Packages come from this
# machine's configured Debian sources, read at run time.  As root.
# Prints the registry refs and the layout paths on stdout, last lines:
#   node=127.0.0.1:PORT/node:12 layout=DIR/oci/node:12
#   busybox=127.0.0.1:PORT/busybox:latest layout=DIR/oci/busybox:latest
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/bench/lib.sh"
[ "$(id -u)" = 0 ] || { echo "base-node.sh: run as root" >&2; exit 1; }
for t in mmdebstrap skopeo umoci docker-registry; do
        command -v $t >/dev/null || { echo "base-node.sh: $t is not installed" >&2; exit 1; }
done
OCI=$IB_BENCH_DIR/oci
# one maker at a time (the bench and the cache helper's scripts may both call this)
exec 9>"$IB_BENCH_DIR/base.lock"
flock 9
mkdir -p "$OCI"
log() { echo "base-node: $(date -u +%T) $*" >&2; }

# ------------------------------------------------------------ node:12 layers
# Package sets after buildpack-deps (curl, scm, full) and the node image.
L2="ca-certificates curl wget gnupg dirmngr netbase"
L3="git mercurial openssh-client subversion procps"
L4="autoconf automake bzip2 dpkg-dev file g++ gcc imagemagick libbz2-dev libc6-dev \
libcurl4-openssl-dev libdb-dev libevent-dev libffi-dev libgdbm-dev libglib2.0-dev libgmp-dev \
libjpeg-dev libkrb5-dev liblzma-dev libmagickcore-dev libmagickwand-dev libmaxminddb-dev \
libncurses5-dev libncursesw5-dev libpng-dev libpq-dev libreadline-dev libsqlite3-dev libssl-dev \
libtool libwebp-dev libxml2-dev libxslt1-dev libyaml-dev make patch unzip xz-utils zlib1g-dev \
default-libmysqlclient-dev"
L5="nodejs npm"
L6="yarnpkg python3-pip"

W=$IB_BENCH_DIR/node-work
M=$W/merged
cleanup_mounts() {
        umount "$M/dev" 2>/dev/null || true
        umount "$M/proc" 2>/dev/null || true
        umount "$M" 2>/dev/null || true
}

# layer N PKGS...: install PKGS over layers 1..N-1; the overlay upper is layer N.
layer() {
        local n=$1 lower="" i; shift
        for i in $(seq $((n - 1)) -1 1); do lower="$lower${lower:+:}$W/l$i"; done
        rm -rf "$W/l$n" "$W/w$n"; mkdir -p "$W/l$n" "$W/w$n" "$M"
        mount -t overlay overlay -o "lowerdir=$lower,upperdir=$W/l$n,workdir=$W/w$n" "$M"
        mount -t proc proc "$M/proc"
        mount --bind /dev "$M/dev"
        log "layer $n: apt-get install $*"
        chroot "$M" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
                sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $* >/dev/null \
                       && apt-get clean && rm -rf /var/lib/apt/lists/*" >&2
        cleanup_mounts
        rm -rf "$W/w$n"
}

# Overlay's whiteouts (0/0 char devices, opaque xattrs) -> OCI's .wh. files.
whiteouts() {
        python3 - "$1" <<'PY'
import os, stat, sys
for d, dirs, files in os.walk(sys.argv[1]):
    try:
        if os.getxattr(d, "trusted.overlay.opaque") == b"y":
            open(os.path.join(d, ".wh..wh..opq"), "w").close()
    except OSError:
        pass
    for n in files + dirs:
        p = os.path.join(d, n)
        st = os.lstat(p)
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            os.unlink(p)
            open(os.path.join(d, ".wh." + n), "w").close()
PY
}

make_node() {
        local srcs
        srcs=$(bench_apt_sources)
        [ -n "$srcs" ] || { echo "base-node.sh: no Debian sources configured" >&2; exit 1; }
        cleanup_mounts
        trap cleanup_mounts EXIT
        # RESUME=N keeps layers 1..N-1 of an interrupted run
        local from=${RESUME:-1}
        if [ "$from" = 1 ]; then
                rm -rf "$W"; mkdir -p "$W"
                log "layer 1: mmdebstrap minbase"
                # shellcheck disable=SC2086
                mmdebstrap --quiet --variant=minbase --mode=root bookworm "$W/l1" $srcs >&2
                # apt in the chroot needs the host's resolver; it goes into layer 1 as
                # the real images have it (the builders bind their own over it).
                [ -s "$W/l1/etc/resolv.conf" ] || cp /etc/resolv.conf "$W/l1/etc/resolv.conf"
        fi
        [ "$from" -le 2 ] && layer 2 $L2
        [ "$from" -le 3 ] && layer 3 $L3
        [ "$from" -le 4 ] && layer 4 $L4
        [ "$from" -le 5 ] && layer 5 $L5
        [ "$from" -le 6 ] && layer 6 $L6
        # whiteouts in OCI form only now: overlay must see its own form in the lower dirs
        for i in 2 3 4 5 6; do whiteouts "$W/l$i"; done
        mkdir -p "$W/l7/usr/local/bin"
        printf '#!/bin/sh\nset -e\nif [ "${1#-}" != "$1" ]; then set -- node "$@"; fi\nexec "$@"\n' \
                >"$W/l7/usr/local/bin/docker-entrypoint.sh"
        chmod 755 "$W/l7/usr/local/bin/docker-entrypoint.sh"
        log "packing 7 layers (gzip -6, two at a time)"
        pack_layout "$W" 7 "$OCI/node" 12
        rm -rf "$W"
}

# pack_layout WORK N LAYOUT TAG: tar + gzip WORK/l1..lN into an OCI layout.
pack_layout() {
        local w=$1 n=$2 layout=$3 tag=$4 i
        rm -rf "$layout"; mkdir -p "$layout/blobs/sha256"
        for i in $(seq 1 "$n"); do
                (
                        cd "$w/l$i"
                        # names without "./", sorted, numeric owners, no xattrs
                        find . -mindepth 1 -maxdepth 1 -printf '%P\n' | sort >"$w/top$i"
                        tar --sort=name --numeric-owner --format=gnu -cf - -T "$w/top$i" \
                                | tee >(sha256sum | cut -d' ' -f1 >"$w/diff$i") \
                                | gzip -6 -n >"$w/blob$i"
                        tar -tzf "$w/blob$i" | wc -l >"$w/files$i"
                        gzip -dc "$w/blob$i" | wc -c >"$w/usize$i"
                ) &
                [ $((i % 2)) = 0 ] && wait
        done
        wait
        python3 - "$w" "$n" "$layout" "$tag" <<'PY'
import hashlib, json, os, shutil, sys
w, n, layout, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs/sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)
layers, diffs = [], []
for i in range(1, n + 1):
    h = hashlib.sha256()
    with open(f"{w}/blob{i}", "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    d = h.hexdigest()
    shutil.move(f"{w}/blob{i}", os.path.join(layout, "blobs/sha256", d))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                   "digest": "sha256:" + d, "size": os.path.getsize(os.path.join(layout, "blobs/sha256", d))})
    diffs.append("sha256:" + open(f"{w}/diff{i}").read().strip())
config = {"architecture": "amd64", "os": "linux",
          "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                     "Entrypoint": ["docker-entrypoint.sh"], "Cmd": ["node"]},
          "rootfs": {"type": "layers", "diff_ids": diffs},
          "history": [{"created_by": f"bench/base-node.sh layer {i}"} for i in range(1, n + 1)]}
cd, cs = put(json.dumps(config).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
            "layers": layers}
md, ms = put(json.dumps(manifest).encode())
with open(os.path.join(layout, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
with open(os.path.join(layout, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
               "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)
stats = {"layers": n,
         "uncompressed_bytes": sum(int(open(f"{w}/usize{i}").read()) for i in range(1, n + 1)),
         "compressed_bytes": sum(l["size"] for l in layers),
         "tar_entries": sum(int(open(f"{w}/files{i}").read()) for i in range(1, n + 1)),
         "per_layer": [{"size": l["size"], "uncompressed": int(open(f"{w}/usize{i}").read()),
                        "entries": int(open(f"{w}/files{i}").read())} for i, l in enumerate(layers, 1)]}
with open(os.path.join(layout, "bench-stats.json"), "w") as f:
    json.dump(stats, f, indent=1)
PY
}

make_busybox() {
        (
                IB_TMP=$(mktemp -d "$IB_BENCH_DIR/bb-tmp.XXXXXX")
                . "$SRC/tests/lib/tap.sh" >/dev/null
                rm -rf "$OCI/busybox"
                make_busybox_layout "$OCI/busybox" latest >/dev/null 2>&1
                rm -rf "$IB_TMP"
        )
}

[ -f "$OCI/busybox/index.json" ] || make_busybox
if [ -n "${FORCE:-}" ] || [ ! -f "$OCI/node/bench-stats.json" ]; then
        make_node
fi
python3 - "$OCI/node/bench-stats.json" >&2 <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print("node:12: %d layers, %.0f MB uncompressed, %.0f MB compressed, %d tar entries"
      % (s["layers"], s["uncompressed_bytes"] / 1e6, s["compressed_bytes"] / 1e6, s["tar_entries"]))
for i, l in enumerate(s["per_layer"], 1):
    print("  layer %d: %7.1f MB uncompressed, %6.1f MB gzip, %6d entries"
          % (i, l["uncompressed"] / 1e6, l["size"] / 1e6, l["entries"]))
PY
bench_registry
bench_push "$OCI/node" 12 node:12
bench_push "$OCI/busybox" latest busybox:latest
echo "node=$BENCH_REGISTRY/node:12 layout=$OCI/node:12"
echo "busybox=$BENCH_REGISTRY/busybox:latest layout=$OCI/busybox:latest"
