#!/bin/bash
# Memory: a layer of $BIG_MB MB (default 2048; make check runs 512 through
# tests/integration/t-big-layer.sh) goes through every path that moves layer
# bytes, and the peak RSS of each imgbuild command (GNU time's "Maximum
# resident set size": the largest process of the tree, the RUN's included)
# stays at most $RSS_MAX_KB (64 MB):
#   build   a RUN writes the layer (3/4 zeros, 1/4 random: the blob is 1/4 of
#           the size), export: tar + gzip + both digests, into an OCI layout
#   push    the blob to a registry
#   pull    the blob from the registry into a second store
#   extract a build on the second store whose RUN needs the layer extracted
# Needs 4 x BIG_MB of free disk (store, registry, second store); below that
# the test is skipped, loudly.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
BIG_MB=${BIG_MB:-2048}
RSS_MAX_KB=${RSS_MAX_KB:-65536}
for t in docker-registry umoci python3; do
        command -v $t >/dev/null || skip_all "$t not installed"
done
[ -x /usr/bin/time ] || skip_all "GNU time (/usr/bin/time) not installed"
have_userns || skip_all "no user namespaces"
need_kb=$((BIG_MB * 4 * 1024 + 1024 * 1024))
free_kb=$(df -k --output=avail "$IB_TMP" | tail -n 1 | tr -d ' ')
if [ "$free_kb" -lt "$need_kb" ]; then
        echo "# SKIPPING: $BIG_MB MB layer needs $((need_kb / 1024)) MB free under $IB_TMP, only $((free_kb / 1024)) MB" >&2
        skip_all "only $((free_kb / 1024)) MB free, the $BIG_MB MB layer test needs $((need_kb / 1024)) MB"
fi
start_registry || skip_all "cannot start docker-registry"
BB=$IB_TMP/bb
make_busybox_layout "$BB" >/dev/null 2>&1 || skip_all "cannot make the busybox layout"

# measure NAME CMD...: run CMD under GNU time; sets RC and RSS (KB); log in $IB_TMP/NAME.log
measure() {
        local name=$1; shift
        /usr/bin/time -v -o "$IB_TMP/$name.time" "$@" >"$IB_TMP/$name.log" 2>&1
        RC=$?
        RSS=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$IB_TMP/$name.time")
        ELAPSED=$(sed -n 's/.*Elapsed (wall clock) time.*: //p' "$IB_TMP/$name.time")
        [ $RC = 0 ] || tail -n 5 "$IB_TMP/$name.log" | sed 's/^/#   /'
}
rss_ok() { # name: a test point for RSS
        ok "$1: peak RSS ${RSS:-?} KB <= $RSS_MAX_KB KB ($ELAPSED)" test -n "$RSS" -a "${RSS:-0}" -le "$RSS_MAX_KB"
}

zeros=$((BIG_MB * 3 / 4)); rand=$((BIG_MB - zeros))
mkdir -p "$IB_TMP/ctx"
cat >"$IB_TMP/ctx/Dockerfile" <<EOF
FROM base
RUN dd if=/dev/zero of=/zeros bs=1M count=$zeros 2>/dev/null && head -c $((rand * 1048576)) /dev/urandom >/random && sync
EOF
measure build "$IMGBUILD" build --root "$IB_TMP/s1" --build-context base=oci-layout://"$BB" \
        --oci-layout-path "$IB_TMP/out:big" "$IB_TMP/ctx"
ok "build: a RUN writing a $BIG_MB MB layer, exported" test $RC = 0
rss_ok build
blob=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(max(m["layers"], key=lambda l: l["size"])["size"])' \
        "$IB_TMP/out/blobs/sha256/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"][7:])' "$IB_TMP/out/index.json")")
diag "the layer blob: $((blob / 1048576)) MB compressed"
rm -rf "$IB_TMP/s1/layers"      # give the disk back: the layout holds the blob

measure push "$IMGBUILD" push --root "$IB_TMP/s1" "oci:$IB_TMP/out:big" "$REGISTRY/big:1"
ok "push: the image with its $((blob / 1048576)) MB blob" test $RC = 0
rss_ok push
rm -rf "$IB_TMP/s1" "$IB_TMP/out"

measure pull "$IMGBUILD" pull --root "$IB_TMP/s2" "$REGISTRY/big:1"
ok "pull: into a second store" test $RC = 0
rss_ok pull

mkdir -p "$IB_TMP/ctx2"
printf 'FROM %s/big:1\nRUN test $(stat -c %%s /zeros) = %s && test $(stat -c %%s /random) = %s\n' \
        "$REGISTRY" $((zeros * 1048576)) $((rand * 1048576)) >"$IB_TMP/ctx2/Dockerfile"
measure extract "$IMGBUILD" build --root "$IB_TMP/s2" --no-push "$IB_TMP/ctx2"
ok "extract: a build on the second store extracts the layer (its RUN sees both files whole)" test $RC = 0
like "$(cat "$IB_TMP/extract.log")" "extracted layer" "... the layer was extracted by this build"
rss_ok extract
done_testing
