#!/bin/bash
# The RUN sandbox, in each privilege mode (root, rootless with subuid ranges,
# single id): identity and id maps, what the RUN can see, exit status,
# processes left behind, networks, the seccomp filter and capabilities, USER.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
. "$IB_SRCDIR/tests/lib/sandbox.sh"
sbx_setup

secret=$IB_TMP/host-secret-file
echo secret >"$secret"
subuid=$(grep "^$IB_TEST_USER:" /etc/subuid | head -n 1 | cut -d: -f2)
subcount=$(grep "^$IB_TEST_USER:" /etc/subuid | head -n 1 | cut -d: -f3)
http_dir=$IB_TMP/http
mkdir -p "$http_dir" && echo hello-from-host >"$http_dir/hello"
port=$(free_port)
spawn python3 -m http.server --bind 127.0.0.1 --directory "$http_dir" "$port" >/dev/null 2>&1
wait_http "http://127.0.0.1:$port/hello" 20 || diag "http server did not start"

for mode in $MODES; do
        d=$(sbx_dir "$mode")
        sbx_rootfs "$mode" "$d/root"
        # A user that exists on the host with another uid: the image's entry must win.
        echo "$IB_TEST_USER:x:3333:3333::/home/user:/bin/sh" >>"$d/root/etc/passwd"
        uid=$(id -u "$(sbx_user "$mode")")

        # One RUN reports most of what it can see, one "key=value" line each.
        probe='echo "id=$(id)"
echo "map=$(cat /proc/self/uid_map | tr -s " \t" " " | sed "s/^ //" | tr "\n" ";")"
echo "maxpid=$(ls /proc | grep "^[0-9]" | sort -n | tail -n 1)"
echo "init=$(cat /proc/1/comm)"
echo "ps=$(ps -o comm | tail -n +2 | sort -u | tr "\n" " ")"
echo "root=$(ls / | tr "\n" " ")"
echo "hostfiles=$(test -e "$1" || test -e "$2" || test -e "/proc/1/root$1" || echo unreachable)"
echo "etc=$(test -f /etc/resolv.conf && grep -q localhost /etc/hosts && echo ok)"
echo "hostname=$(hostname) $(cat /etc/hostname)"
echo "dev=$(ls /dev | tr "\n" " ")"
echo "devio=$(echo x >/dev/null && head -c 4 /dev/zero | wc -c)"
echo "stdin=$(cat)"
echo "env=$FOO $PATH $HOME"
echo "pwd=$(pwd)"
echo "capbnd=$(grep CapBnd /proc/self/status | cut -f2)"
echo "nnp=$(grep NoNewPrivs /proc/self/status | cut -f2)"
echo "procsys=$(echo 1 2>/dev/null >/proc/sys/kernel/ns_last_pid && echo writable || echo ro)"
echo "sys=$(touch /sys/x 2>/dev/null && echo writable || echo ro)"
for c in keyctl unshare mount umount pivot_root setns clone-ns bpf ptrace; do
        echo "call-$c=$(sbx-probe $c)"
done'
        out=$(echo data | sbx_run "$mode" "$d" --mode-info --hostname box1 --env FOO=bar --env PATH=/bin \
                --workdir /a/b/c -- sh -c "$probe" sh "$secret" "$IB_TMP" 2>"$IB_TMP/err")
        val() { echo "$out" | sed -n "s/^$1=//p"; }
        like "$out" "^mode: $( [ $mode = single ] && echo single-id || echo $mode)$" "$mode: --mode-info names the mode"
        like "$(cat "$IB_TMP/err")" "privilege mode: " "$mode: the privilege mode is logged"
        like "$(val id)" "^uid=0\(root\) gid=0\(root\)" "$mode: id is 0 inside"
        case $mode in
        root) want="0 0 4294967295;" ;;
        rootless) want="0 $uid 1;1 $subuid $subcount;" ;;
        single) want="0 $uid 1;" ;;
        esac
        is "$(val map)" "$want" "$mode: /proc/self/uid_map inside the RUN"
        ok "$mode: /proc lists only the RUN's processes (a fresh pid namespace: highest pid $(val maxpid))" \
                test "$(val maxpid)" -lt 100
        is "$(val init)" "imgbuild-init" "$mode: pid 1 is the RUN's init"
        like "$(val ps)" "^((awk|exe|imgbuild-init|ps|sh|sort|tail|tr) )+$" "$mode: ps sees only init and the RUN's own processes"
        like "$(val ps)" "imgbuild-init" "$mode: ... init included"
        is "$(val hostfiles)" "unreachable" "$mode: host files outside the rootfs are unreachable"
        is "$(val root)" "a bin dev etc home proc root sys tmp " "$mode: / holds the rootfs only"
        is "$(val etc)" "ok" "$mode: /etc/resolv.conf and /etc/hosts exist"
        is "$(val hostname)" "box1 box1" "$mode: hostname and /etc/hostname"
        is "$(val dev)" "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero " "$mode: /dev"
        is "$(val devio)" "4" "$mode: /dev/null and /dev/zero work"
        is "$(val stdin)" "" "$mode: stdin is /dev/null"
        is "$(val env)" "bar /bin /root" "$mode: environment (HOME from the image's passwd)"
        is "$(val pwd)" "/a/b/c" "$mode: WORKDIR is created"
        is "$(val capbnd)" "00000000a80425fb" "$mode: the bounding set is Docker's default"
        is "$(val nnp)" "1" "$mode: no_new_privs is set"
        is "$(val procsys)" "ro" "$mode: /proc/sys is read-only"
        is "$(val sys)" "ro" "$mode: /sys is read-only"
        for call in keyctl unshare mount umount pivot_root setns clone-ns bpf ptrace; do
                is "$(val call-$call)" "$call: EPERM" "$mode: $call fails with EPERM inside"
        done

        sbx_run "$mode" "$d" -- sh -c 'exit 7' >/dev/null 2>&1
        is "$?" 7 "$mode: exit status 7 comes back as 7"
        sbx_run "$mode" "$d" -- sh -c 'kill -9 $$' >/dev/null 2>&1
        is "$?" 137 "$mode: a RUN killed by SIGKILL is 128+9"
        err=$(sbx_run "$mode" "$d" -- /no/such/cmd 2>&1)
        is "$?" 1 "$mode: a command that cannot be executed is an error"
        like "$err" "exec \`/no/such/cmd\`: No such file" "$mode: ... that names the command"

        # Background processes: the RUN returns when its main process exits, and
        # nothing of it survives (checked on the host by command line).
        tag="1000.$$$RANDOM"
        timeout 60 bash -c "$(declare -f ibr as_user sbx_user sbx_fresh sbx_run); IMGBUILD='$IMGBUILD' \
                IMGBUILD_USER_BIN='$IMGBUILD_USER_BIN' IB_TMP='$IB_TMP' IB_TEST_USER='$IB_TEST_USER' \
                IB_TEST_USER_NOSUB='$IB_TEST_USER_NOSUB' sbx_run $mode '$d' -- sh -c 'sleep $tag & echo started'" \
                >"$IB_TMP/bg.out" 2>&1
        rc=$?
        is "$rc" 0 "$mode: 'sleep 1000 &' does not hold the RUN (no timeout)"
        is "$(pids_with_args "$tag")" "" "$mode: no process of the RUN survives"

        # Networks
        is "$(sbx_run "$mode" "$d" -- wget -q -O - "http://127.0.0.1:$port/hello" 2>/dev/null)" "hello-from-host" \
                "$mode: host network: the host's loopback is reachable"
        out=$(sbx_run "$mode" "$d" --network none -- sh -c "echo devs=\$(grep : /proc/net/dev | cut -d: -f1 | tr -d ' ')
echo lo=\$(ip -o link show lo)
echo sysnet=\$(ls /sys/class/net)
wget -q -T 2 -O - http://127.0.0.1:$port/hello >/dev/null 2>&1 && echo wget=reached || echo wget=unreachable" 2>/dev/null)
        is "$(val devs)" "lo" "$mode: --network none: only lo"
        like "$(val lo)" "[<,]UP[,>]" "$mode: --network none: lo is up"
        is "$(val wget)" "unreachable" "$mode: --network none: the host is unreachable"
        is "$(val sysnet)" "lo" "$mode: --network none: /sys shows only lo"

        # USER from the image's /etc/passwd and /etc/group, never the host's
        if [ "$mode" != single ]; then
                is "$(sbx_run "$mode" "$d" --user imguser -- id 2>/dev/null)" \
                        "uid=4242(imguser) gid=4343(imggroup) groups=4343(imggroup),5555(extra)" \
                        "$mode: USER by name, with supplementary groups"
                is "$(sbx_run "$mode" "$d" --user "$IB_TEST_USER" -- id -u 2>/dev/null)" "3333" \
                        "$mode: USER by name uses the image's passwd, not the host's"
                is "$(sbx_run "$mode" "$d" --user 1000:5555 -- id 2>/dev/null)" \
                        "uid=1000(user) gid=5555(extra) groups=5555(extra)" "$mode: USER uid:gid"
                is "$(sbx_run "$mode" "$d" --user 4242 -- sh -c 'id -u; id -g; echo $HOME' 2>/dev/null | tr '\n' ' ')" \
                        "4242 4343 /home/user " "$mode: USER uid takes gid and home from the image's passwd"
                is "$(sbx_run "$mode" "$d" --user user -- sh -c 'id -u; grep CapEff /proc/self/status' 2>/dev/null | tr '\n' ' ')" \
                        "1000 CapEff:	0000000000000000 " "$mode: a non-root USER has no capabilities"
        else
                like "$(sbx_run "$mode" "$d" --user imguser -- id 2>&1)" "gid 4343 is not mapped.*subuid" \
                        "$mode: a non-root USER fails with a hint about /etc/subuid"
        fi
        like "$(sbx_run "$mode" "$d" --user nosuch -- id 2>&1)" "no user \`nosuch\` in the image's /etc/passwd" \
                "$mode: unknown USER name is an error"

        # SIGTERM to imgbuild stops the RUN; nothing survives, the temp dirs go.
        tag="1000.$$$RANDOM"
        ( sbx_run "$mode" "$d" -- sh -c "sleep $tag; echo not-reached" >"$IB_TMP/sig.out" 2>&1; echo $? >"$IB_TMP/sig.rc" ) &
        bg=$!
        for _ in $(seq 300); do [ -n "$(pids_cmd_is sleep "$tag")" ] && break; sleep 0.1; done
        outer=""
        for p in $(pids_with_args debug-run "$tag"); do
                pp=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)
                tr '\0' ' ' <"/proc/$pp/cmdline" 2>/dev/null | grep -qF "$tag" || outer=$p
        done
        ok "$mode: the RUN's sleep is running" test -n "$outer"
        [ -n "$outer" ] && kill -TERM "$outer"
        wait $bg
        is "$(cat "$IB_TMP/sig.rc")" "143" "$mode: SIGTERM to imgbuild ends it with 128+15"
        is "$(pids_with_args "$tag")" "" "$mode: ... and no process of the RUN survives"
        is "$(find "$d" -maxdepth 1 -name '.ib-*')" "" "$mode: ... and its temp dir is removed"
done

# SIGKILL to imgbuild: every process of the RUN dies with it (PR_SET_PDEATHSIG
# down the tree) and nothing stays mounted on the host (the mounts lived only in
# the namespaces of those processes).
for mode in root rootless; do
        d=$(sbx_dir "$mode")
        sbx_rootfs "$mode" "$d/root"
        tag="1000.$$$RANDOM"
        ( sbx_run "$mode" "$d" -- sh -c "sleep $tag; echo not-reached" >/dev/null 2>&1 ) &
        bg=$!
        for _ in $(seq 300); do [ -n "$(pids_cmd_is sleep "$tag")" ] && break; sleep 0.1; done
        outer=""
        for p in $(pids_with_args debug-run "$tag"); do
                pp=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)
                tr '\0' ' ' <"/proc/$pp/cmdline" 2>/dev/null | grep -qF "$tag" || outer=$p
        done
        ok "$mode: SIGKILL: the RUN is running" test -n "$outer"
        [ -n "$outer" ] && kill -KILL "$outer"
        wait $bg
        for _ in $(seq 50); do [ -z "$(pids_with_args "$tag")" ] && break; sleep 0.1; done
        is "$(pids_with_args "$tag")" "" "$mode: SIGKILL to imgbuild: no process of the RUN survives"
        is "$(grep -c "$d" /proc/self/mountinfo)" "0" "$mode: SIGKILL to imgbuild: nothing stays mounted on the host"
done
done_testing
