#!/bin/bash
# A RUN that tries to escape or steal (issue 10, "Hostile inputs"): each attempt
# is a Dockerfile RUN built by `imgbuild build` as root and as the unprivileged
# test user, and each is judged from outside: the secrets of the invoking
# environment (registry credentials, an environment marker, a file behind an
# inherited descriptor) appear in no layer and not in the build output, host
# files and kernel settings are unchanged, a host process is still alive, the
# host's mounts are the same.  What stops each attempt: imgbuild-security(7).
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"

have_userns || skip_all "user namespaces unavailable"
is_root || skip_all "needs root to create the unprivileged test user"
for t in umoci skopeo docker-registry htpasswd jq; do
        command -v $t >/dev/null || skip_all "$t is needed"
done
PROBE=$IB_SRCDIR/build/tests/helpers/escape-probe
[ -x "$PROBE" ] || make -s -C "$IB_SRCDIR" build/tests/helpers/escape-probe >/dev/null 2>&1 ||
        skip_all "cannot build tests/helpers/escape-probe"
setup_test_user || skip_all "cannot create the test user"
BB=$IB_TMP/bb
make_busybox_layout "$BB" latest >/dev/null 2>&1 || skip_all "cannot make the busybox base"

# The base comes from a registry that wants a password: the credentials are
# loaded and used by the build that runs the hostile RUNs.
REG_USER=builder
REG_PASS=ib-regpass-$$-$RANDOM$RANDOM
REG_B64=$(printf '%s:%s' "$REG_USER" "$REG_PASS" | base64 -w0)
start_registry_htpasswd "$REG_USER" "$REG_PASS" || skip_all "cannot start a registry with htpasswd"
skopeo copy -q --dest-tls-verify=false --dest-creds "$REG_USER:$REG_PASS" "oci:$BB:latest" \
        "docker://$REGISTRY/escape/base:1" >/dev/null 2>&1 || skip_all "cannot seed the registry"

# The host's mounts where the RUN tried to mount or unmount (other tests and
# benchmarks on the machine mount elsewhere meanwhile).
host_mounts() { awk '$5 == "/" || $5 ~ "^/(mnt|proc|sys|bin)(/|$)" {print $5, $9, $6}' /proc/self/mountinfo | sort; }
# found STRING FILE...: STRING in any file, gzip/zstd members decompressed.
found() {
        local s=$1 f; shift
        for f in "$@"; do
                [ -f "$f" ] || continue
                case $(head -c 4 "$f" | od -An -tx1 | tr -d ' \n') in
                1f8b*) zcat "$f" ;;
                28b52ffd) zstdcat "$f" ;;
                *) cat "$f" ;;
                esac 2>/dev/null | grep -qaF -e "$s" && return 0
        done
        return 1
}
loot() { tr -d '\0' 2>/dev/null <"$d/rootfs/loot/$1"; }
val() { loot "$1" | sed -n "s/^$2: //p" | head -n 1; }

write_dockerfile() {
        cat >"$1" <<EOF
FROM $REGISTRY/escape/base:1
COPY escape-probe /bin/escape-probe
ARG HOST_DIR HOST_PID TOK BURST
RUN mkdir -m 1777 /loot /mnt
EOF
        cat >>"$1" <<'EOF'
# 1, 3: credentials and the invoking environment, by every path a RUN has
RUN { echo "token $TOK"; find / -name config.json -o -name auth.json; \
      cat "$HOST_DIR/docker/config.json" "$HOST_DIR/auth.json" "/root/.docker/config.json"; \
      for p in /proc/[0-9]*; do echo "== $p $(cat $p/comm)"; cat $p/environ $p/cmdline; \
        ls -la $p/cwd/ $p/root/; cat $p/root$HOST_DIR/docker/config.json $p/cwd/config.json $p/root/proc/1/environ; \
      done; env; } >/loot/steal 2>&1; cat /loot/steal; \
    ls /proc | grep '^[0-9]' | sort -n | tr '\n' ' ' >/loot/pids; cat /proc/1/comm >/loot/init; \
    tr -d '\0' </proc/1/cmdline >/loot/init-cmdline
# 2: ptrace, process_vm_readv, /proc/PID/mem of every visible process
RUN escape-probe procs >/loot/procs 2>&1; echo "status: $?" >>/loot/procs
# 4: mounts
RUN { mount -t tmpfs none /mnt; echo "tmpfs: $?"; mount --bind /bin /mnt; echo "bind: $?"; \
      mount -o remount,rw /sys; echo "remount-sys: $?"; mount -o remount,rw /proc/sys; echo "remount-procsys: $?"; \
      umount /proc; echo "umount-proc: $?"; umount -l /proc/sys; echo "umount-procsys: $?"; \
      grep -c ' /proc/sys ro,' /proc/self/mountinfo | sed 's/^/procsys-ro: /'; } >/loot/mount 2>&1; \
    touch /mnt/written-below-mnt
# 5: namespaces
RUN { unshare -U true; echo "unshare-U: $?"; unshare -m true; echo "unshare-m: $?"; \
      unshare -r true; echo "unshare-r: $?"; escape-probe ns; } >/loot/ns 2>&1
# 6: descriptors: only 0, 1, 2; fd 9 and 8 of the invoking shell are not here
# (never read the RUN's own stdout or stderr into a file they point to: bounded reads only)
RUN escape-probe fds >/loot/fds; \
    { echo pwned >>/proc/self/fd/9; echo "write-proc-fd9: $?"; echo pwned >&9; echo "write-fd9: $?"; \
      cat /proc/self/fd/8; cat <&8; ls -l /proc/1/fd/; } >/loot/fdwrite 2>&1; \
    readlink /proc/self/fd/2 >/loot/stderr-link; \
    if [ -f /proc/self/fd/2 ]; then head -c 65536 /proc/self/fd/2 >/loot/stderr-read; fi; true
# 7: processes outside
RUN kill -9 "$HOST_PID"; echo "kill-pid: $?" >/loot/kill; kill -9 -1; echo "kill-all: $?" >>/loot/kill
# 8: /sys, /dev, keys, chroot, /proc/sys
RUN { echo "ib-$TOK" >/sys/class/net/lo/ifalias; echo "ifalias: $?"; touch /sys/ib-x; echo "sys-create: $?"; \
      mknod /tmp/disk b 8 0; echo "mknod: $?"; touch /dev/null; echo "touch-dev-null: $?"; \
      chmod 666 /dev/null; echo "chmod-dev-null: $?"; chown 0:0 /dev/zero; echo "chown-dev-zero: $?"; \
      echo "$((BURST + 1))" >/proc/sys/kernel/printk_ratelimit_burst; echo "procsys-write: $?"; \
      echo "fake" >/etc/hosts; echo "etc-hosts: $?"; echo "fake" >/etc/resolv.conf; echo "etc-resolv: $?"; \
      } >/loot/misc 2>&1; \
    ls -A /dev | tr '\n' ' ' >/loot/dev; find /dev -type b | tr '\n' ' ' >/loot/dev-block; \
    escape-probe keys "ib-escape-$TOK" >/loot/keys 2>&1; \
    cd /tmp && escape-probe chroot "$HOST_DIR/secret-file" >/loot/chroot 2>&1; true
RUN cp /bin/escape-probe /bin/suid-probe && chmod 4755 /bin/suid-probe
USER user
RUN /bin/suid-probe ids >/loot/suid 2>&1; true
EOF
}

for mode in root user; do
        d=$(user_dir)
        tok=$$$RANDOM$RANDOM
        marker=ib-marker-$tok-$RANDOM
        fdsecret=ib-fdsecret-$tok-$RANDOM
        argsecret=ib-argsecret-$tok-$RANDOM     # a build arg no ARG declares: on imgbuild's command line only
        mkdir -p "$d/ctx" "$d/docker"
        cp "$PROBE" "$d/ctx/escape-probe"
        write_dockerfile "$d/ctx/Dockerfile"
        printf '{"auths":{"%s":{"auth":"%s"}}}' "$REGISTRY" "$REG_B64" >"$d/docker/config.json"
        cp "$d/docker/config.json" "$d/auth.json"
        echo "$fdsecret" >"$d/fd-secret"
        echo original >"$d/fd-target"
        echo "a file of the host" >"$d/secret-file"
        chmod 600 "$d/docker/config.json" "$d/auth.json" "$d/fd-secret" "$d/fd-target"
        chown -R "$IB_TEST_USER" "$d"

        # A host process of the invoking user that the RUN tries to kill.
        if [ $mode = root ]; then
                sleep 300 &
        else
                setpriv --reuid="$IB_TEST_USER" --regid="$IB_TEST_USER" --clear-groups sleep 300 &
        fi
        victim=$!
        on_exit "kill $victim"
        burst=$(cat /proc/sys/kernel/printk_ratelimit_burst)
        on_exit "[ \"\$(cat /proc/sys/kernel/printk_ratelimit_burst)\" = $burst ] || echo $burst >/proc/sys/kernel/printk_ratelimit_burst"
        alias_before=$(cat /sys/class/net/lo/ifalias 2>/dev/null)
        devnull_before=$(stat -c '%a %u:%g %Y %Z' /dev/null /dev/zero)
        mounts_before=$(host_mounts)

        args=(build --root "$d/store" --oci-layout-path "$d/out:esc" --build-arg "HOST_DIR=$d"
              --build-arg "HOST_PID=$victim" --build-arg "TOK=$tok" --build-arg "BURST=$burst"
              --build-arg "UNDECLARED=$argsecret" ctx)
        envs=(DOCKER_CONFIG="$d/docker" REGISTRY_AUTH_FILE="$d/auth.json" IB_MARKER_SECRET="$marker")
        # fd 9 (write) and fd 8 (read) are open in the invoking process, not close-on-exec.
        if [ $mode = root ]; then
                ( cd "$d" && exec 9>>"$d/fd-target" 8<"$d/fd-secret" && env "${envs[@]}" "$IMGBUILD" "${args[@]}" ) \
                        >"$d/log" 2>&1
        else
                ( exec 9>>"$d/fd-target" 8<"$d/fd-secret" && as_user "$IB_TEST_USER" sh -c 'cd "$1" && shift && exec "$@"' \
                        sh "$d" env "${envs[@]}" "$IMGBUILD_USER_BIN" "${args[@]}" ) >"$d/log" 2>&1
        fi
        rc=$?
        is "$rc" 0 "$mode: the build with the hostile RUNs completes"
        [ $rc = 0 ] || { tail -n 20 "$d/log" | sed 's/^/#   /'; continue; }
        umoci unpack --image "$d/out:esc" "$d/unpacked" >/dev/null 2>&1
        d2=$d; d=$d/unpacked

        # 1, 3: secrets of the invoking environment
        blobs=$(find "$d2/out/blobs" -type f)
        # shellcheck disable=SC2086
        ok "$mode: the search finds what the RUN wrote (the token) in the layers" found "token $tok" $blobs
        for s in "$REG_PASS" "$REG_B64" "$marker" "$fdsecret" "$argsecret"; do
                # shellcheck disable=SC2086
                fails "$mode: secret ${s:0:14}... is in no blob of the image" found "$s" $blobs
                fails "$mode: secret ${s:0:14}... is not in the build output" found "$s" "$d2/log"
        done
        like "$(loot steal)" "== /proc/1 imgbuild-init" "$mode: the RUN looked through /proc/1"
        is "$(loot init)" "imgbuild-init" "$mode: pid 1 of the RUN is its own init, not the host's"
        is "$(loot init-cmdline)" "imgbuild-init" "$mode: /proc/1/cmdline shows none of imgbuild's arguments"
        ok "$mode: the RUN sees only its own few pids ($(loot pids))" test "$(loot pids | wc -w)" -le 6
        like "$(loot steal)" "/proc/1/environ': Permission denied" "$mode: /proc/1/environ of the RUN's init is refused"

        # 2: ptrace
        like "$(loot procs)" "pid 1 ptrace-attach: EPERM" "$mode: PTRACE_ATTACH to pid 1 fails with EPERM"
        like "$(loot procs)" "pid 1 process_vm_readv: EPERM" "$mode: process_vm_readv of pid 1 fails with EPERM"
        is "$(loot procs | grep -c -e succeeded -e 'read [0-9]')" "0" "$mode: no ptrace, memory or environ read succeeded"
        is "$(val procs status)" "0" "$mode: escape-probe procs found nothing to read"

        # 4: mounts
        for m in tmpfs bind remount-sys remount-procsys umount-proc umount-procsys; do
                ok "$mode: $m fails inside the RUN ($(val mount $m))" test "$(val mount $m)" != 0
        done
        is "$(val mount procsys-ro)" "1" "$mode: /proc/sys is still read-only after the attempts"
        ok "$mode: /mnt was never a tmpfs: the RUN's write landed in the layer" test -f "$d/rootfs/mnt/written-below-mnt"
        is "$(host_mounts)" "$mounts_before" "$mode: the host's mount table is unchanged"

        # 5: namespaces
        for u in unshare-U unshare-m unshare-r; do
                ok "$mode: $u fails ($(val ns $u))" test "$(val ns $u)" != 0
        done
        for c in unshare-user unshare-mount unshare-pid unshare-net clone-user clone-mount setns-mnt; do
                is "$(val ns $c)" "EPERM" "$mode: $c: EPERM (seccomp)"
        done
        is "$(val ns clone3-user)" "ENOSYS" "$mode: clone3: ENOSYS (seccomp)"

        # 6: descriptors
        is "$(loot fds | cut -d' ' -f1 | tr '\n' ' ')" "0 1 2 " "$mode: the RUN has descriptors 0, 1, 2 only"
        is "$(cat "$d2/fd-target")" "original" "$mode: the host file behind the invoking shell's fd 9 is unchanged"
        ok "$mode: writing through /proc/self/fd/9 fails" test "$(val fdwrite write-proc-fd9)" != 0
        like "$(cat "$d/rootfs/loot/stderr-link")" "^pipe:" "$mode: the RUN's stderr is a pipe, not the invoking process's file"
        is "$(loot stderr-read | grep -c 'RUN escape-probe procs')" "0" "$mode: the RUN cannot read the build's log through /proc/self/fd/2"

        # 7: processes outside
        ok "$mode: kill -9 HOSTPID fails inside the RUN" test "$(val kill kill-pid)" != 0
        ok "$mode: the host process survives kill -9 PID and kill -9 -1" kill -0 "$victim"
        is "$(cat /proc/$victim/comm 2>/dev/null)" "sleep" "$mode: ... and is the same sleep"

        # 8: /sys, /dev, keys, chroot, /proc/sys, setuid
        for m in ifalias sys-create mknod touch-dev-null chmod-dev-null chown-dev-zero procsys-write etc-hosts etc-resolv; do
                ok "$mode: $m fails inside the RUN ($(val misc $m))" test "$(val misc $m)" != 0
        done
        is "$(cat /sys/class/net/lo/ifalias 2>/dev/null)" "$alias_before" "$mode: the host's lo ifalias is unchanged"
        is "$(stat -c '%a %u:%g %Y %Z' /dev/null /dev/zero)" "$devnull_before" "$mode: the host's /dev/null and /dev/zero are untouched"
        is "$(cat /proc/sys/kernel/printk_ratelimit_burst)" "$burst" "$mode: kernel.printk_ratelimit_burst is unchanged"
        is "$(loot dev)" "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero " \
                "$mode: /dev holds the safe devices and links only"
        is "$(loot dev-block)" "" "$mode: no block device in /dev"
        for k in keyctl-join add_key request_key; do
                is "$(val keys $k)" "EPERM" "$mode: $k: EPERM (seccomp)"
        done
        keys_host=$(if [ $mode = root ]; then cat /proc/keys; else as_user "$IB_TEST_USER" cat /proc/keys; fi 2>/dev/null)
        fails "$mode: no key ib-escape-$tok on the host" grep -qF "ib-escape-$tok" <<<"$keys_host"
        is "$(val chroot 'host path')" "unreachable" "$mode: the chroot breakout does not reach the host"
        like "$(val chroot root)" "(^| )loot( |$)" "$mode: ... / after it is still the rootfs"
        is "$(val suid euid)" "1000" "$mode: a setuid-root binary runs with the caller's euid"
        is "$(val suid CapEff)" "0000000000000000" "$mode: ... and no capabilities"
        is "$(val suid NoNewPrivs)" "1" "$mode: ... because no_new_privs is set"
        is "$(val suid setuid-0)" "EPERM" "$mode: ... setuid(0) fails"
        d=$d2
done
done_testing
