# tests/lib/sandbox.sh - shared setup of the sandbox tests; source after tap.sh.
#
#   sbx_setup               test users (ibtest with subuid ranges, ibtest1 without)
#   MODES                   "root rootless single"
#   sbx_dir MODE            a fresh dir owned by the mode's user
#   sbx_rootfs MODE DIR     busybox rootfs + the sbx-probe helper, owned so that it is
#                           uid 0 inside the mode's user namespace
#   ibr MODE ARGS...        run imgbuild in that mode (root, as ibtest, as ibtest1)
#   sbx_run MODE DIR ARGS...  debug-run over the rootfs DIR/root with DIR/up DIR/wk
SBX_PROBE=$IB_SRCDIR/build/tests/helpers/sbx-probe
MODES="root rootless single"

sbx_setup() {
        is_root || skip_all "the sandbox tests create their test users: run them as root"
        have_userns || skip_all "user namespaces unavailable"
        [ -x "$SBX_PROBE" ] || make -s -C "$IB_SRCDIR" build/tests/helpers/sbx-probe >/dev/null 2>&1 ||
                skip_all "cannot build tests/helpers/sbx-probe"
        setup_test_user_nosub || skip_all "cannot create $IB_TEST_USER_NOSUB"
        setup_test_user || skip_all "cannot create $IB_TEST_USER"
        cp "$SBX_PROBE" "$IB_TMP/bin/sbx-probe" && chmod 755 "$IB_TMP/bin/sbx-probe"
}

sbx_user() {
        case $1 in
        root) echo root ;;
        rootless) echo "$IB_TEST_USER" ;;
        single) echo "$IB_TEST_USER_NOSUB" ;;
        esac
}

sbx_dir() {
        local d
        d=$(mktemp -d "$IB_TMP/$1.XXXXXX")
        chown "$(sbx_user "$1")": "$d"
        chmod 755 "$d"
        echo "$d"
}

sbx_rootfs() {
        local mode=$1 dir=$2
        make_busybox_rootfs "$dir" || return 1
        cp "$SBX_PROBE" "$dir/bin/sbx-probe"
        [ "$mode" = root ] || chown -R "$(sbx_user "$mode")": "$dir"
}

ibr() {
        local mode=$1; shift
        case $mode in
        root) "$IMGBUILD" "$@" ;;
        *) as_user "$(sbx_user "$mode")" "$IMGBUILD_USER_BIN" "$@" ;;
        esac
}

# sbx_fresh MODE DIR: print "UP WK", two fresh dirs below DIR owned by the mode's user
sbx_fresh() {
        local u w
        u=$(mktemp -d "$2/up.XXXXXX") && w=$(mktemp -d "$2/wk.XXXXXX") || return 1
        chown "$(sbx_user "$1")": "$u" "$w"
        echo "$u $w"
}

# sbx_run MODE DIR [debug-run options] -- CMD...: over DIR/root, fresh upper and work
sbx_run() {
        local mode=$1 dir=$2 uw
        shift 2
        uw=$(sbx_fresh "$mode" "$dir") || return 1
        ibr "$mode" debug-run --lower "$dir/root" --upper "${uw% *}" --work "${uw#* }" "$@"
}

# Host PIDs whose command line contains each of the given strings.
pids_with_args() {
        local p line w hit
        for p in /proc/[0-9]*; do
                line=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
                hit=1
                for w in "$@"; do
                        case "$line" in *"$w"*) ;; *) hit=0; break ;; esac
                done
                [ $hit = 1 ] && echo "${p#/proc/}"
        done
        return 0
}
# Host PIDs whose command line is exactly the given words.
pids_cmd_is() {
        local p line
        for p in /proc/[0-9]*; do
                line=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
                [ "$line" = "$* " ] && echo "${p#/proc/}"
        done
        return 0
}
