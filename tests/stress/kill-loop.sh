#!/bin/bash
# Interrupts: SIGINT, SIGTERM and SIGKILL delivered at random moments during
# pull, extraction, RUN, export and push of `imgbuild build`, as root and as
# the unprivileged test user, $KILLS times (default 50; `make check` runs 12
# through tests/integration/t-interrupts.sh, `make stress` the full loop).
#
# Each build runs under tests/lib/kill-at.py, a child subreaper: a descendant
# of the build that outlives it is re-parented there whatever session it
# moved to, so "no process of the build is alive" is checked by PID, never by
# name.  After every kill:
#   - no process of the build is left, and a SIGINT/SIGTERM ends it in time;
#   - no mount naming this test's directories is left in the host's
#     /proc/self/mountinfo (a rootless build's mounts live in its own mount
#     namespace and die with it; root's too, since the sandbox unshares);
#   - `imgbuild store verify` finds the store clean;
#   - the next build on that store succeeds: the next iteration's build must
#     reach its kill point or finish with status 0, and a store freshly killed
#     during pull or extraction is built on again right away.
# At the end every store builds the image once more, to completion.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
KILLS=${KILLS:-50}
for t in docker-registry skopeo umoci python3; do
        command -v $t >/dev/null || skip_all "$t not installed"
done
have_userns || skip_all "no unprivileged user namespaces"
start_registry || skip_all "cannot start docker-registry"

# a base of two layers: busybox, and 8 MB that does not compress (pull and
# extraction take long enough to be hit)
L=$IB_TMP/bb
make_busybox_layout "$L" >/dev/null 2>&1 || skip_all "cannot make the busybox layout"
umoci unpack --rootless --image "$L:latest" "$IB_TMP/bun" >/dev/null 2>&1 &&
        head -c 8000000 /dev/urandom >"$IB_TMP/bun/rootfs/big" &&
        umoci repack --image "$L:latest" "$IB_TMP/bun" >/dev/null 2>&1 || skip_all "cannot grow the base"
rm -rf "$IB_TMP/bun"
skopeo copy -q --dest-tls-verify=false "oci:$L:latest" "docker://$REGISTRY/base:1" || skip_all "cannot seed the registry"

CTX=$IB_TMP/ctx
mkdir -p "$CTX" && echo hello >"$CTX/f" && chmod -R a+rX "$CTX"
# RUN: 6 MB of fresh random data (a new layer to export and push every time),
# a child left in the background, and half a second to be killed in
cat >"$CTX/Dockerfile" <<EOF
FROM $REGISTRY/base:1
RUN echo run-started && head -c 6000000 /dev/urandom >/data && (sleep 30 &) && sleep 0.5 && echo run-finished
COPY f /f
EOF

users=root
if setup_test_user >/dev/null 2>&1; then
        users="root $IB_TEST_USER"
else
        skip "the unprivileged user: cannot create $IB_TEST_USER (not root)"
fi
# per user: the imgbuild binary, the command prefix, the shared store
declare -A BIN PFX STORE
BIN[root]=$IMGBUILD; PFX[root]=""; STORE[root]=$IB_TMP/store-root
if [ "$users" != root ]; then
        u=$IB_TEST_USER
        BIN[$u]=$IMGBUILD_USER_BIN
        home=$(getent passwd "$u" | cut -d: -f6)
        PFX[$u]="setpriv --reuid=$u --regid=$u --init-groups --reset-env env HOME=$home PATH=/usr/sbin:/usr/bin:/sbin:/bin"
        STORE[$u]=$(user_dir)/store
fi

phases=(pull extract run export push)
sigs=(INT TERM KILL)
# what marks the start of each phase in the build's output, and how long it lasts (ms)
# (base layers are fetched when the first RUN needs them)
declare -A AT=([pull]='\] RUN ' [extract]='extracting into' [run]='^run-started' [export]='^run-finished' [push]='^built sha256:')
declare -A SPAN=([pull]=250 [extract]=300 [run]=700 [export]=500 [push]=400)

# our mounts: anything naming this test's directory
our_mounts() { grep -c -- "$IB_TMP" /proc/self/mountinfo; }
is "$(our_mounts)" 0 "no mount of this test before the loop"

# build USER STORE LOG [kill-at args]: a build of $CTX into STORE, pushed
build_cmd() { # user store: prints nothing, sets CMD array
        local u=$1 s=$2
        # shellcheck disable=SC2206
        CMD=(${PFX[$u]} "${BIN[$u]}" -v debug build --root "$s" --no-cache -d "$REGISTRY/out-$u:1" "$CTX")
}
full_build() { # user store log
        build_cmd "$1" "$2"
        python3 "$IB_SRCDIR/tests/lib/kill-at.py" --signal KILL --at 'never-printed^' --log "$3" -- "${CMD[@]}"
}

fresh_n=0
declare -A TALLY
for ((i = 0; i < KILLS; i++)); do
        ph=${phases[i % 5]}; sg=${sigs[i % 3]}
        set -- $users; nu=$#; idx=$(( (i / 5) % nu + 1 )); u=${!idx}
        if [ "$ph" = pull ] || [ "$ph" = extract ]; then
                fresh_n=$((fresh_n + 1))
                if [ "$u" = root ]; then s=$IB_TMP/fresh-$fresh_n; else s=$(user_dir)/store; fi
        else
                s=${STORE[$u]}
        fi
        log=$IB_TMP/kill-$i.log
        build_cmd "$u" "$s"
        res=$(python3 "$IB_SRCDIR/tests/lib/kill-at.py" --signal "$sg" --at "${AT[$ph]}" --delay-ms "${SPAN[$ph]}" \
                --grace 30 --settle 5 --log "$log" -- "${CMD[@]}"); rc=$?
        problems=""
        [ $rc = 0 ] || problems="$problems; kill-at: $res"
        m=$(our_mounts); [ "$m" = 0 ] || problems="$problems; $m mounts left: $(grep -- "$IB_TMP" /proc/self/mountinfo | head -3)"
        v=$(store_verify "$s") || problems="$problems; store verify: $(echo "$v" | tail -5)"
        case "$res" in *sent=yes*) TALLY[$ph-$sg]=$(( ${TALLY[$ph-$sg]:-0} + 1 )) ;; esac
        if [ -z "$problems" ]; then
                _tap_point 0 "kill $((i + 1)): SIG$sg during $ph as $u: $res; nothing left, store clean"
        else
                _tap_point 1 "kill $((i + 1)): SIG$sg during $ph as $u"
                diag "$problems" "log:"; tail -n 15 "$log" | sed 's/^/#   /'
        fi
        if [ "$s" != "${STORE[$u]}" ]; then
                # the next build on a store killed during pull or extraction
                out=$(full_build "$u" "$s" "$log.next"); rc=$?
                ok "... the next build on that store succeeds ($out)" test $rc = 0 -a "$(our_mounts)" = 0 ||
                        tail -n 10 "$log.next" | sed 's/^/#   /'
                ok "... and the store verifies after it" store_verify "$s"
                [ "$u" = root ] && rm -rf "$s"
        fi
done
for u in $users; do
        out=$(full_build "$u" "${STORE[$u]}" "$IB_TMP/final-$u.log"); rc=$?
        ok "a last build as $u on its store succeeds ($out)" test $rc = 0 || tail -n 10 "$IB_TMP/final-$u.log" | sed 's/^/#   /'
        ok "... and its store verifies" store_verify "${STORE[$u]}"
done
diag "signals delivered (phase-signal: count): $(for k in "${!TALLY[@]}"; do printf '%s:%s ' "$k" "${TALLY[$k]}"; done)"
is "$(our_mounts)" 0 "no mount of this test after the loop"
done_testing
