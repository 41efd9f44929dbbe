#!/bin/bash
# Privilege modes: detection, the id maps of each, the log line, the "already
# inside a user namespace" (pod) mode, and clear errors when user namespaces
# are unavailable (sysctl at 0, a seccomp profile).
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
. "$IB_SRCDIR/tests/lib/sandbox.sh"
sbx_setup
probe=$IB_TMP/bin/sbx-probe
u1=$(id -u "$IB_TEST_USER"); g1=$(id -g "$IB_TEST_USER")
u2=$(id -u "$IB_TEST_USER_NOSUB"); g2=$(id -g "$IB_TEST_USER_NOSUB")
sub=$(grep "^$IB_TEST_USER:" /etc/subuid | head -n 1 | cut -d: -f2-)
subg=$(grep "^$IB_TEST_USER:" /etc/subgid | head -n 1 | cut -d: -f2-)

out=$(ibr root debug-run --mode-info 2>"$IB_TMP/err")
like "$out" "^mode: root$" "root: mode root"
like "$out" "uid_map: 0 0 4294967295" "root: identity map of all uids"
like "$out" "gid_map: 0 0 4294967295" "root: identity map of all gids"
like "$(cat "$IB_TMP/err")" "^privilege mode: root \(user namespace with the identity map of all ids\)$" \
        "root: the log line names the mode"

out=$(ibr rootless debug-run --mode-info 2>"$IB_TMP/err")
like "$out" "^mode: rootless$" "rootless: mode rootless (subordinate ids)"
is "$(echo "$out" | sed -n 's/^uid_map: //p')" "0 $u1 1, 1 ${sub%%:*} ${sub#*:}" "rootless: 0 -> own uid, 1.. -> /etc/subuid range"
is "$(echo "$out" | sed -n 's/^gid_map: //p')" "0 $g1 1, 1 ${subg%%:*} ${subg#*:}" "rootless: 0 -> own gid, 1.. -> /etc/subgid range"
like "$out" "setgroups: allow" "rootless: setgroups allowed"
like "$(cat "$IB_TMP/err")" "^privilege mode: rootless \(subordinate ids: ${sub#*:} via newuidmap\)$" \
        "rootless: the log line names the mode and the range"

out=$(ibr single debug-run --mode-info 2>"$IB_TMP/err")
like "$out" "^mode: single-id$" "single: mode single-id (no subordinate ids)"
is "$(echo "$out" | sed -n 's/^uid_map: //p')" "0 $u2 1" "single: only the own uid, as 0"
is "$(echo "$out" | sed -n 's/^gid_map: //p')" "0 $g2 1" "single: only the own gid, as 0"
like "$out" "setgroups: deny" "single: setgroups denied"
like "$(cat "$IB_TMP/err")" "single id.*other owners cannot be kept.*/etc/subuid" \
        "single: the log line says what is lost and how to fix it"

# A user namespace that already maps a range (a pod with hostUsers: false):
# used as it is, with only a new mount namespace.
d=$(sbx_dir root)
sbx_rootfs root "$d/root"
uw=$(sbx_fresh root "$d")
out=$("$probe" in-userns 0 65536 -1 0 "$IMGBUILD" debug-run --mode-info --lower "$d/root" \
        --upper "${uw% *}" --work "${uw#* }" -- sh -c 'id -u; cat /proc/self/uid_map' 2>"$IB_TMP/err")
like "$out" "^mode: userns$" "pod: mode userns (already inside a user namespace)"
like "$out" "uid_map: 0 0 65536" "pod: the namespace's own map is kept"
like "$out" "description: user namespace \(already inside one, as its uid 0: 65536 uids" "pod: description"
is "$(echo "$out" | tail -n 2 | awk '{$1=$1};1' | tr '\n' ' ')" "0 0 0 65536 " "pod: a RUN works, as uid 0 of that map"

# Unavailable user namespaces: the message says why and what to change.
out=$("$probe" in-userns 0 65536 0 "$u1" "$IMGBUILD" debug-run --mode-info 2>&1)
rc=$?
is "$rc" 1 "max_user_namespaces=0: exit status 1"
like "$out" "user namespaces are disabled \(sysctl user.max_user_namespaces is 0\)" "max_user_namespaces=0: names the cause"
like "$out" "sysctl -w user.max_user_namespaces=" "max_user_namespaces=0: names the fix"
is "$(echo "$out" | grep -c .)" 1 "max_user_namespaces=0: one line, not a stack of errnos"

out=$(as_user "$IB_TEST_USER" "$probe" deny-userns "$IMGBUILD_USER_BIN" debug-run --mode-info 2>&1)
is "$?" 1 "seccomp blocks user namespaces: exit status 1"
like "$out" "cannot create a user namespace.*seccomp.*--security-opt seccomp=unconfined.*hostUsers: false" \
        "seccomp blocks user namespaces: names the cause and the fixes"
out=$("$probe" deny-userns "$IMGBUILD" debug-run --mode-info 2>&1)
like "$out" "cannot create a user namespace.*seccomp" "seccomp blocks user namespaces: same for root"

# The marker of an entered namespace cannot be faked from outside.
out=$(IMGBUILD_USERNS="1:3:0:0:0:1" ibr root debug-run --mode-info 2>/dev/null)
like "$out" "uid_map: 0 0 4294967295" "a forged IMGBUILD_USERNS marker is ignored"
done_testing
