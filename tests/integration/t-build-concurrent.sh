#!/bin/bash
# Concurrency through `imgbuild build`: 4 builds at once on one store, as root
# and as the unprivileged user.  Two bases share their lower layers (base2 is
# base1 plus a layer); all four Dockerfiles start with the same RUN (one cache
# key per base), then differ.  All succeed; each base layer is extracted once
# (one "extracted layer <diff_id>" line across the 4 logs: the import lock);
# `imgbuild store verify` finds blobs, layer dirs and cache entries intact; a
# second round at once is served from the cache with no extraction.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
for t in docker-registry skopeo umoci jq python3; do
        command -v $t >/dev/null || skip_all "$t not installed"
done
have_userns || skip_all "no unprivileged user namespaces"
start_registry || skip_all "cannot start docker-registry"
L=$IB_TMP/bb
make_busybox_layout "$L" >/dev/null 2>&1 || skip_all "cannot make the busybox layout"
umoci unpack --rootless --image "$L:latest" "$IB_TMP/bun" >/dev/null 2>&1 &&
        head -c 3000000 /dev/urandom >"$IB_TMP/bun/rootfs/one" &&
        umoci repack --image "$L:base1" "$IB_TMP/bun" >/dev/null 2>&1 &&
        umoci unpack --rootless --image "$L:base1" "$IB_TMP/bun2" >/dev/null 2>&1 &&
        head -c 1000000 /dev/urandom >"$IB_TMP/bun2/rootfs/two" &&
        umoci repack --image "$L:base2" "$IB_TMP/bun2" >/dev/null 2>&1 || skip_all "cannot make the bases"
rm -rf "$IB_TMP/bun" "$IB_TMP/bun2"
for b in base1 base2; do
        skopeo copy -q --dest-tls-verify=false "oci:$L:$b" "docker://$REGISTRY/$b:1" || skip_all "cannot seed $b"
done
n1=$(skopeo inspect --tls-verify=false --config "docker://$REGISTRY/base1:1" | jq '.rootfs.diff_ids | length')
n2=$(skopeo inspect --tls-verify=false --config "docker://$REGISTRY/base2:1" | jq '.rootfs.diff_ids | length')
nall=$(for b in base1 base2; do skopeo inspect --tls-verify=false --config "docker://$REGISTRY/$b:1" | jq -r '.rootfs.diff_ids[]'; done | sort -u | wc -l)
is "$n1:$n2:$nall" "2:3:3" "the bases share 2 layers (base2 = base1 + one)"

CTX=$IB_TMP/ctx
mkdir -p "$CTX"
for i in 1 2 3 4; do
        base=base$(( (i + 1) / 2 ))
        mkdir -p "$CTX/$i"
        cat >"$CTX/$i/Dockerfile" <<EOF
FROM $REGISTRY/$base:1
RUN head -c 200000 /one >/shared && echo shared-step
RUN echo build $i >/mine && cat /shared /mine | wc -c >/size
EOF
done
chmod -R a+rX "$CTX"

# round USER STORE OUTDIR TAG: the 4 builds at once; sets RCS (their exit statuses)
round() {
        local u=$1 s=$2 o=$3 tag=$4 i pids=""
        for i in 1 2 3 4; do
                if [ "$u" = root ]; then
                        "$IMGBUILD" build --root "$s" --oci-layout-path "$o/img$i:$tag" "$CTX/$i" >"$o/$tag.$i.log" 2>&1 &
                else
                        as_user "$u" "$IMGBUILD_USER_BIN" build --root "$s" --oci-layout-path "$o/img$i:$tag" "$CTX/$i" \
                                >"$o/$tag.$i.log" 2>&1 &
                fi
                pids="$pids $!"
        done
        RCS=""
        for i in $pids; do wait "$i"; RCS="$RCS$?"; done
}

check_user() {
        local u=$1 o s
        if [ "$u" = root ]; then o=$(mktemp -d "$IB_TMP/out.XXXXXX"); else o=$(user_dir); fi
        s=$o/store
        round "$u" "$s" "$o" a
        is "$RCS" 0000 "$u: 4 builds at once on one store all succeed"
        [ "$RCS" = 0000 ] || for i in 1 2 3 4; do tail -n 5 "$o/a.$i.log" | sed 's/^/#   /'; done
        ex=$(cat "$o"/a.*.log | grep -o 'extracted layer sha256:[0-9a-f]*' | sort | uniq -c)
        is "$(echo "$ex" | grep -c .)" 3 "$u: the 3 distinct base layers were extracted ..."
        is "$(echo "$ex" | awk '$1 != 1' | grep -c .)" 0 "$u: ... each exactly once across the 4 logs"
        [ "$(echo "$ex" | awk '$1 != 1' | grep -c .)" = 0 ] || diag "$ex"
        # every layer dir of the store is a layer of one of the images, and the other way round
        for i in 1 2 3 4; do skopeo inspect --config "oci:$o/img$i:a" | jq -r '.rootfs.diff_ids[]'; done |
                sed 's/^sha256://' | sort -u >"$o/want"
        ls "$s/layers" | grep -v '\.' | sort >"$o/got"
        # (3 base, 4 own RUN, and the shared RUN's: 1 or 2, as its file's mtime may differ)
        ok "$u: the store's layer dirs are exactly the images' $(wc -l <"$o/want") layers" diff "$o/want" "$o/got"
        ok "$u: the store verifies (blobs, layer dirs, cache entries)" store_verify "$s"
        for i in 1 2 3 4; do
                sz=$(umoci unpack --rootless --image "$o/img$i:a" "$o/un$i" >/dev/null 2>&1 && cat "$o/un$i/rootfs/size")
                [ "$sz" = 200008 ] || echo "img$i: size=$sz"
        done >"$o/bad"
        is "$(cat "$o/bad")" "" "$u: every image holds the shared file and its own (unpacked by umoci)"
        round "$u" "$s" "$o" b
        is "$RCS" 0000 "$u: a second round at once succeeds ..."
        is "$(cat "$o"/b.*.log | grep -c 'extracted layer')" 0 "$u: ... with no extraction"
        like "$(cat "$o"/b.*.log | grep -c '2 cached')" '^4$' "$u: ... and both RUN steps of every build from the cache"
        ok "$u: the store still verifies" store_verify "$s"
}

check_user root
if setup_test_user >/dev/null 2>&1; then
        check_user "$IB_TEST_USER"
else
        skip "the unprivileged user: cannot create $IB_TEST_USER (not root)"
fi
done_testing
