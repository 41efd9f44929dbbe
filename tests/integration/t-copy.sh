#!/bin/bash
# COPY/ADD into a layer dir through `imgbuild debug-copy`, run in a user
# namespace as root (identity map) and as the unprivileged `ibtest` (subuid
# ranges): owners, modes, mtimes, symlinks, hardlinks, bad sources, tar and
# stdin contexts, ADD of an archive and of a URL with --checksum.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"

is_root || skip_all "needs root to set up the test user and namespaces"
have_userns || skip_all "user namespaces unavailable"
setup_test_user || skip_all "cannot create the test user"

# ------------------------------------------------------------ the context
CTX=$IB_TMP/ctx
mkdir -p "$CTX/dir/sub" "$CTX/empty" "$CTX/a/b"
echo hello >"$CTX/hello.txt"
printf 'exec\n' >"$CTX/dir/run.sh"
echo data >"$CTX/dir/data"
ln "$CTX/dir/data" "$CTX/dir/sub/data-hardlink"
ln -s ../data "$CTX/dir/sub/rel-link"
ln -s /etc/passwd "$CTX/dir/abs-link"
ln -s ../../../../etc "$CTX/escape"
echo c >"$CTX/a/b/c.txt"
mkfifo "$CTX/dir/fifo"
setfattr -n user.note -v hi "$CTX/hello.txt"
setfattr -n user.overlay.opaque -v y "$CTX/dir"
setcap cap_net_bind_service+ep "$CTX/dir/data"
touch -d '2001-02-03 04:05:06.123456789' "$CTX/hello.txt" "$CTX/dir/run.sh"
touch -d '2002-01-01 00:00:00' "$CTX/dir"
mkdir -p "$IB_TMP/arch/pkg/bin"; echo tool >"$IB_TMP/arch/pkg/bin/tool"; chmod 755 "$IB_TMP/arch/pkg/bin/tool"
tar -C "$IB_TMP/arch" --owner=123 --group=456 -czf "$CTX/pkg.tar.gz" pkg
printf 'plain' >"$CTX/notanarchive.gz.txt"
tar -C "$IB_TMP/arch" --transform 's/^pkg/zst/' --zstd -cf "$CTX/z.tar.zst" pkg
tar -C "$IB_TMP/arch" --transform 's/^pkg/bz2/' -cjf "$CTX/oddly-named.blob" pkg
tar -C "$IB_TMP/arch" --transform 's/^pkg/xz/' -cJf "$CTX/x.tar.xz" pkg
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n' >"$IB_TMP/passwd"
printf 'root:x:0:\nextra:x:5555:user\n' >"$IB_TMP/group"
tar -C "$CTX" -czf "$IB_TMP/ctx.tar.gz" .
# A lower layer (overlay form) standing for the image below the COPY.
LOW=$IB_TMP/lower
mkdir -p "$LOW/etc" "$LOW/usr/lib" "$LOW/srv"
printf 'root:x:0:0:root:/root:/bin/sh\nimguser:x:4242:4343:img:/:/bin/sh\n' >"$LOW/etc/passwd"
printf 'root:x:0:\nimggroup:x:4343:\n' >"$LOW/etc/group"
ln -s usr/lib "$LOW/lib"
touch -d '2003-03-03' "$LOW/srv"
chmod -R a+rX "$IB_TMP"
chmod 755 "$IB_TMP"
chmod 0754 "$CTX/dir/run.sh"
chmod 0710 "$LOW/srv"; touch -d '2003-03-03' "$LOW/srv"

# A loopback HTTP server for ADD <url>.
WWW=$IB_TMP/www; mkdir -p "$WWW"; echo 'remote file' >"$WWW/remote.txt"
touch -d '2010-05-06 07:08:09' "$WWW/remote.txt"
SUM=$(sha256sum "$WWW/remote.txt" | cut -d' ' -f1)
PORT=$(free_port)
spawn python3 -m http.server --bind 127.0.0.1 --directory "$WWW" "$PORT" >/dev/null 2>&1
wait_http "http://127.0.0.1:$PORT/remote.txt" 20 || diag "http server did not come up"
URL=http://127.0.0.1:$PORT/remote.txt

# ---------------------------------------------------------- the two modes
# userns_identity cmd...: as root, run cmd in a new user + mount namespace
# with the identity map 0..65535 written directly (util-linux 2.38's
# --map-users goes through newuidmap, which wants /etc/subuid entries for root).
userns_identity() {
        local f pid rc me
        f=$(mktemp -u "$IB_TMP/ns.XXXXXX"); mkfifo "$f"
        unshare --user --mount sh -c 'read _ <"$0"; exec "$@"' "$f" "$@" <&0 &
        pid=$!
        me=$(readlink /proc/self/ns/user)
        while [ "$(readlink "/proc/$pid/ns/user" 2>/dev/null)" = "$me" ]; do sleep 0.01; done
        echo '0 0 65536' >"/proc/$pid/uid_map"; echo '0 0 65536' >"/proc/$pid/gid_map"
        echo go >"$f"
        wait "$pid"; rc=$?
        rm -f "$f"
        return $rc
}
# run_ns MODE cmd...: run cmd inside this mode's user namespace.
run_ns() {
        local mode=$1; shift
        if [ "$mode" = root ]; then
                userns_identity "$@"
        else
                as_user "$IB_TEST_USER" unshare --map-auto --map-root-user --mount "$@"
        fi
}

suite() {
        local mode=$1 bin=$IMGBUILD work out L st rc
        [ "$mode" = user ] && bin=$IMGBUILD_USER_BIN
        work=$(user_dir)
        dc() { run_ns "$mode" "$bin" debug-copy --root "$work/store" --context "$CTX" "$@"; }
        nstat() { run_ns "$mode" stat -c "$1" "${@:2}"; }

        # Whole context, default owners.
        L=$work/l1
        out=$(dc --dest /app/ --layer "$L" . 2>"$work/err"); rc=$?
        is "$rc" 0 "$mode: COPY . /app/ succeeds"
        [ $rc = 0 ] || diag "$(cat "$work/err")"
        is "$(cat "$L/app/hello.txt" 2>/dev/null)" hello "$mode: file content copied"
        is "$(nstat '%u:%g %a' "$L/app/hello.txt")" "0:0 644" "$mode: owner root:root, mode kept"
        is "$(nstat '%a' "$L/app/dir/run.sh")" 754 "$mode: mode 0754 kept"
        is "$(stat -c %y "$L/app/hello.txt")" "$(stat -c %y "$CTX/hello.txt")" "$mode: file mtime kept (ns)"
        is "$(stat -c %Y "$L/app/dir")" "$(stat -c %Y "$CTX/dir")" "$mode: dir mtime kept"
        is "$(readlink "$L/app/dir/sub/rel-link")" ../data "$mode: relative symlink copied as link"
        is "$(readlink "$L/app/dir/abs-link")" /etc/passwd "$mode: absolute symlink copied as link, not followed"
        is "$(readlink "$L/app/escape")" ../../../../etc "$mode: symlink leading out copied as a link inside a dir"
        is "$(stat -c %i "$L/app/dir/data")" "$(stat -c %i "$L/app/dir/sub/data-hardlink")" "$mode: hardlink kept (same inode)"
        ok "$mode: empty dir copied" test -d "$L/app/empty"
        is "$(getfattr --only-values -n user.note "$L/app/hello.txt" 2>/dev/null)" hi "$mode: user xattr copied"
        is "$(getfattr -d -m - "$L/app/dir" 2>/dev/null | grep -c overlay)" 0 "$mode: overlay's own xattrs not copied"
        like "$(getfattr -d -m security.capability "$L/app/dir/data" 2>/dev/null)" "security.capability" "$mode: file capability copied"
        ok "$mode: fifo not copied" test ! -e "$L/app/dir/fifo"
        like "$(cat "$work/err")" "skipped fifo .dir/fifo" "$mode: fifo skip is reported"
        like "$out" "hashed: [1-9]" "$mode: first run hashes files"
        out=$(dc --dest /app/ . 2>/dev/null)
        like "$out" "hashed: 0" "$mode: second run reads no file again (index)"

        # --chown from the given passwd/group, --chmod.
        L=$work/l2
        ok "$mode: COPY --chown=user:extra --chmod=u=rwX,go=rX" \
                dc --chown user:extra --passwd "$IB_TMP/passwd" --group "$IB_TMP/group" --chmod u=rwX,go=rX \
                --dest /srv/x/ --layer "$L" dir
        is "$(nstat '%u:%g %a' "$L/srv/x/run.sh")" "1000:5555 755" "$mode: --chown/--chmod on a file (X: it was executable)"
        is "$(nstat '%u:%g %a' "$L/srv/x/data")" "1000:5555 644" "$mode: --chown/--chmod on a plain file"
        is "$(nstat '%u:%g %a' "$L/srv/x/sub")" "1000:5555 755" "$mode: --chown/--chmod on a dir"
        is "$(nstat '%u:%g %a' "$L/srv")" "1000:5555 755" "$mode: created parent dir 0755, owned as --chown (BuildKit)"
        dc --chown nosuch --passwd "$IB_TMP/passwd" --dest /x/ hello.txt >/dev/null 2>"$work/err"
        like "$(cat "$work/err")" "user .nosuch. not found" "$mode: unknown --chown user named"
        dc --chown 70000 --dest /x/ --layer "$work/l2b" hello.txt >/dev/null 2>"$work/err"
        like "$(cat "$work/err")" "chown ./x/hello.txt. to 70000:70000.*not mapped" "$mode: an unmapped --chown id fails with a hint"

        # Destination parents from the lower layers: kept metadata, symlinks followed.
        L=$work/l2c
        ok "$mode: COPY --chown=imguser (from the image) into /lib/ (a symlink below)" \
                dc --lower "$LOW" --chown imguser --dest /lib/ --layer "$L" hello.txt
        is "$(nstat '%u:%g' "$L/usr/lib/hello.txt")" "4242:4343" "$mode: --chown name resolved in the image's /etc/passwd"
        ok "$mode: the lower symlink is followed, not shadowed" test ! -e "$L/lib"
        L=$work/l2d
        ok "$mode: COPY into an existing image dir" dc --lower "$LOW" --dest /srv/ --layer "$L" hello.txt
        is "$(nstat '%a' "$L/srv") $(stat -c %Y "$L/srv")" "710 $(stat -c %Y "$LOW/srv")" "$mode: an existing parent keeps the image's mode and mtime"

        # Bad sources.
        dc --dest /x/ ../x >/dev/null 2>"$work/err"; rc=$?
        is "$rc" 1 "$mode: COPY ../x fails"
        like "$(cat "$work/err")" "COPY \.\./x: outside the build context" "$mode: ../x named in the error"
        ok "$mode: COPY of a symlink leading out, by name" dc --dest /x/ --layer "$work/lesc" escape
        is "$(readlink "$work/lesc/x/escape")" ../../../../etc "$mode: ... copies the link itself, never followed"
        dc --dest /x/ escape/passwd >/dev/null 2>"$work/err"
        like "$(cat "$work/err")" "escape/passwd: a symlink leads outside the build context" "$mode: a path through a link leading out is refused"
        dc --dest /x/ 'nodir/*.txt' >/dev/null 2>"$work/err"
        like "$(cat "$work/err")" "nodir/\*\.txt" "$mode: a pattern matching nothing (no dir) names the pattern"
        dc --dest /x/ missing.txt >/dev/null 2>"$work/err"
        like "$(cat "$work/err")" "missing.txt: not found in the build context" "$mode: a missing file is named"
        dc --dest /x/ 'nomatch*.txt' >/dev/null 2>"$work/err"; rc=$?
        is "$rc" 0 "$mode: an empty glob in an existing dir copies nothing (BuildKit)"
        like "$(cat "$work/err")" "pattern matches nothing: nomatch" "$mode: ... and is warned about"

        # --parents with a /./ pivot, --exclude.
        L=$work/l3
        ok "$mode: COPY --parents a/./b/c.txt dir/data --exclude" \
                dc --parents --exclude '*.sh' --dest /p/ --layer "$L" a/./b/c.txt dir
        ok "$mode: --parents keeps the path below the pivot" test -f "$L/p/b/c.txt"
        ok "$mode: --parents keeps the source dir" test -f "$L/p/dir/data"
        ok "$mode: --exclude applied" test ! -e "$L/p/dir/run.sh"

        # tar:// and - contexts.
        L=$work/l4
        ok "$mode: tar:// context" run_ns "$mode" "$bin" debug-copy --root "$work/store" --context "tar://$IB_TMP/ctx.tar.gz" \
                --dest /t/ --layer "$L" hello.txt dir/sub
        is "$(cat "$L/t/hello.txt" 2>/dev/null)" hello "$mode: file from a tar context"
        is "$(readlink "$L/t/rel-link")" ../data "$mode: symlink from a tar context"
        L=$work/l5
        run_ns "$mode" "$bin" debug-copy --root "$work/store" --context - --dest /s --layer "$L" a/b/c.txt \
                <"$IB_TMP/ctx.tar.gz" >/dev/null 2>"$work/err"
        is "$(cat "$L/s" 2>/dev/null)" c "$mode: stdin context, file to a file path"
        is "$(ls "$work/store/tmp" | grep -v '\.lock$' | wc -l)" 0 "$mode: no scratch left in the store"

        # ADD of a local archive: unpacked by content, owners from the archive.
        L=$work/l6
        ok "$mode: ADD pkg.tar.gz notanarchive /opt/" dc --add --dest /opt/ --layer "$L" pkg.tar.gz notanarchive.gz.txt
        is "$(cat "$L/opt/pkg/bin/tool" 2>/dev/null)" tool "$mode: archive unpacked into the destination"
        is "$(nstat '%u:%g %a' "$L/opt/pkg/bin/tool")" "123:456 755" "$mode: archive owners and modes kept"
        is "$(cat "$L/opt/notanarchive.gz.txt" 2>/dev/null)" plain "$mode: a non-archive is copied as is"
        L=$work/l6b
        ok "$mode: ADD zstd, bzip2 (odd name), xz archives" dc --add --dest /o/ --layer "$L" z.tar.zst oddly-named.blob x.tar.xz
        is "$(cat "$L/o/zst/bin/tool" "$L/o/bz2/bin/tool" "$L/o/xz/bin/tool" 2>/dev/null | tr '\n' ' ')" "tool tool tool " \
                "$mode: archives recognised by content and unpacked"

        # ADD of a URL with a right and a wrong checksum.
        L=$work/l7
        ok "$mode: ADD url --checksum (right)" dc --add --checksum "sha256:$SUM" --dest /dl/ --layer "$L" "$URL"
        is "$(cat "$L/dl/remote.txt" 2>/dev/null)" "remote file" "$mode: URL fetched into the layer"
        is "$(nstat '%u:%g %a' "$L/dl/remote.txt")" "0:0 600" "$mode: fetched file is 0600 root"
        is "$(stat -c %Y "$L/dl/remote.txt")" "$(stat -c %Y "$WWW/remote.txt")" "$mode: mtime from Last-Modified"
        L=$work/l7b
        ok "$mode: ADD url --chown --chmod" dc --add --chown 1000:1000 --chmod 0640 --dest /dl/renamed --layer "$L" "$URL"
        is "$(nstat '%u:%g %a' "$L/dl/renamed")" "1000:1000 640" "$mode: --chown/--chmod on a fetched file, named by the dest"
        L=$work/l8
        dc --add --checksum "sha256:$(echo x | sha256sum | cut -d' ' -f1)" --dest /dl/ --layer "$L" "$URL" \
                >/dev/null 2>"$work/err"; rc=$?
        is "$rc" 1 "$mode: ADD url --checksum (wrong) fails"
        like "$(cat "$work/err")" "checksum mismatch" "$mode: the mismatch is said"
        ok "$mode: nothing left of the bad download" test ! -e "$L/dl/remote.txt"
        dc --add --dest /x/ https://github.com/a/b.git >/dev/null 2>"$work/err"
        like "$(cat "$work/err")" "git sources are not supported yet" "$mode: git URL refused"
}

suite root
suite user
done_testing
