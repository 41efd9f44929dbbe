#!/bin/bash
# Disk full: a store on a 20 MB tmpfs (mounting one needs root; unmounted at
# exit), used by root and then, on a second tmpfs it owns, by the unprivileged
# user.  A RUN that writes more than fits fails
# with `No space left on device` and the Dockerfile's file:line; a RUN whose
# output fits but whose exported layer does not fails the same way.  After
# each failure `imgbuild store verify` finds the store clean, the scratch
# space is given back (df within 256 KB of before), and the next build works.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
for t in umoci python3; do
        command -v $t >/dev/null || skip_all "$t not installed"
done
is_root || skip_all "mounting a tmpfs needs root"
have_userns || skip_all "no user namespaces"
M=$IB_TMP/small
mkdir -p "$M"
mount -t tmpfs -o size=20m,mode=0755 ibtest-diskfull "$M" || skip_all "cannot mount a tmpfs"
on_exit "umount -l '$M'"
BB=$IB_TMP/bb
make_busybox_layout "$BB" >/dev/null 2>&1 || skip_all "cannot make the busybox layout"
S=$M/store
used() { df -k --output=used "$M" | tail -n 1 | tr -d ' '; }
# bld NAME RUN-COMMAND: a two-step build into the small store; its log in $IB_TMP/NAME.log
bld() {
        mkdir -p "$IB_TMP/$1"
        printf 'FROM base\nRUN %s\nCMD ["sh"]\n' "$2" >"$IB_TMP/$1/Dockerfile"
        "$IMGBUILD" build --root "$S" --no-cache --build-context base=oci-layout://"$BB" \
                --oci-layout-path "$IB_TMP/out-$1" "$IB_TMP/$1" >"$IB_TMP/$1.log" 2>&1
}

ok "a small build fits (and brings the base into the store)" bld warm 'echo hi >/hi'
before=$(used)
diag "store on a 20 MB tmpfs: $before KB used after the first build"

bld run-full 'head -c 40000000 /dev/zero >/big'
rc=$?
ok "a RUN writing 40 MB fails (exit $rc)" test $rc != 0
diag "$(tail -n 3 "$IB_TMP/run-full.log")"
like "$(tail -n 1 "$IB_TMP/run-full.log")" "No space left on device" "... with \`No space left on device\` in imgbuild's own message"
like "$(tail -n 1 "$IB_TMP/run-full.log")" "^imgbuild: $IB_TMP/run-full/Dockerfile:2: RUN" "... naming the step (file:line)"
ok "... the store verifies" store_verify "$S"
after=$(used)
ok "... the scratch space is given back ($before KB before, $after KB after)" test $((after - before)) -le 256 -a $((before - after)) -le 256
is "$(ls -A "$S/tmp")" "" "... and nothing is left in the store's tmp/"

bld export-full 'head -c 11000000 /dev/urandom >/r'
rc=$?
ok "a RUN whose 11 MB layer fits but cannot be exported next to it fails (exit $rc)" test $rc != 0
diag "$(tail -n 2 "$IB_TMP/export-full.log")"
like "$(tail -n 1 "$IB_TMP/export-full.log")" "^imgbuild: $IB_TMP/export-full/Dockerfile:2: RUN.*No space left on device" \
        "... with \`No space left on device\`, naming the step (file:line)"
ok "... the store verifies" store_verify "$S"
after=$(used)
ok "... the scratch space is given back ($before KB before, $after KB after)" test $((after - before)) -le 256 -a $((before - after)) -le 256
is "$(ls -A "$S/tmp")" "" "... and nothing is left in the store's tmp/"

ok "the next build succeeds" bld after 'echo again >/again'
ok "... and the store verifies" store_verify "$S"

# the unprivileged user, on its own small tmpfs
if setup_test_user >/dev/null 2>&1; then
        M=$IB_TMP/small-user
        mkdir -p "$M" && mount -t tmpfs -o size=20m,mode=0755 ibtest-diskfull "$M" && on_exit "umount -l '$M'" &&
                chown "$IB_TEST_USER" "$M"
        chmod -R a+rX "$BB"
        S=$M/store
        ubld() {
                mkdir -p "$IB_TMP/$1"
                printf 'FROM base\nRUN %s\n' "$2" >"$IB_TMP/$1/Dockerfile"; chmod -R a+rX "$IB_TMP/$1"
                as_user "$IB_TEST_USER" "$IMGBUILD_USER_BIN" build --root "$S" --no-cache \
                        --build-context base=oci-layout://"$BB" --no-push "$IB_TMP/$1" >"$IB_TMP/$1.log" 2>&1
        }
        ok "user: a small build fits" ubld uwarm 'echo hi >/hi'
        before=$(used)
        ubld urun-full 'dd if=/dev/zero of=/big bs=1M count=40'
        rc=$?
        ok "user: a RUN writing 40 MB fails (exit $rc)" test $rc != 0
        diag "$(tail -n 1 "$IB_TMP/urun-full.log")"
        like "$(tail -n 1 "$IB_TMP/urun-full.log")" "^imgbuild: $IB_TMP/urun-full/Dockerfile:2: RUN .*No space left on device" \
                "user: ... with \`No space left on device\`, naming the step (file:line)"
        ok "user: ... the store verifies" store_verify "$S"
        after=$(used)
        ok "user: ... the scratch space is given back ($before KB before, $after KB after)" \
                test $((after - before)) -le 256 -a $((before - after)) -le 256
        ok "user: the next build succeeds" ubld uafter 'echo again >/again'
else
        skip "the unprivileged user: cannot create $IB_TEST_USER"
fi
done_testing
