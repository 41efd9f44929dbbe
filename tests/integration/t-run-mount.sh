#!/bin/bash
# RUN --mount: cache (persistence, sharing=locked/private), bind (from a
# stage, rw writes discarded), tmpfs, secrets (file, env, required, no trace
# anywhere) and ssh (an agent started by the test).  Root and rootless.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"

need_user_and_busybox     # sets BB, a busybox OCI layout everyone can read
start_registry && REGISTRY_DATA=$(dirname "$REGISTRY_LOG")/data
AGENT_LIST=$IB_SRCDIR/build/tests/helpers/agent-list
[ -x "$AGENT_LIST" ] || skip_all "build/tests/helpers/agent-list not built"

bld() { # mode dir args...   (env: PASS="K=V ..." passed to the build)
        local mode=$1 dir=$2; shift 2
        if [ "$mode" = root ]; then
                ( cd "$dir" && env ${PASS:-} "$IMGBUILD" build --root "$dir/store" \
                        --build-context base=oci-layout://"$BB" "$@" ) >"$dir/log" 2>&1
        else
                as_user "$IB_TEST_USER" sh -c 'cd "$1" && shift && exec "$@"' sh "$dir" env ${PASS:-} \
                        "$IMGBUILD_USER_BIN" build --root "$dir/store" --build-context base=oci-layout://"$BB" \
                        "$@" >"$dir/log" 2>&1
        fi
}
# grep_deep PATTERN1 PATTERN2 DIR...: found in any file, or in any gzip/zstd
# file once decompressed (layer blobs are compressed).
grep_deep() {
        local a=$1 b=$2; shift 2
        grep -rqaF -e "$a" -e "$b" "$@" && return 0
        find "$@" -type f 2>/dev/null | while read -r f; do
                case $(head -c 4 "$f" | od -An -tx1 | tr -d ' \n') in
                1f8b*) zcat "$f" 2>/dev/null ;;
                28b52ffd) zstdcat "$f" 2>/dev/null ;;
                *) continue ;;
                esac | grep -qaF -e "$a" -e "$b" && echo found
        done | grep -q found
}
layers_have() { # layout:tag path -> 0 when some layer of the image holds path
        local dir=${1%:*} b
        for b in $(jq -r '.manifests[].digest' "$dir/index.json" | head -n 1 | while read -r m; do
                jq -r '.layers[].digest' "$dir/blobs/sha256/${m#sha256:}"; done); do
                tar -tzf "$dir/blobs/sha256/${b#sha256:}" 2>/dev/null | grep -q "^$2" && return 0
        done
        return 1
}

for mode in root user; do
        d=$(user_dir); mkdir -p "$d/ctx"; cp "$AGENT_LIST" "$d/ctx/agent-list"; echo ctxfile >"$d/ctx/file"
        # ------------------------------------------------------------ cache
        cat >"$d/ctx/Dockerfile" <<'EOF'
FROM base
ARG N
RUN --mount=type=cache,target=/var/cache/app,id=appcache \
    cat /var/cache/app/seen 2>/dev/null > /seen-before || true; echo "build $N" >> /var/cache/app/seen
EOF
        chown -R "$IB_TEST_USER" "$d/ctx"
        ok "$mode: first build with a cache mount" bld $mode "$d" --build-arg N=1 --oci-layout-path "$d/o:1" ctx
        ok "$mode: second build with the same cache mount" bld $mode "$d" --build-arg N=2 --oci-layout-path "$d/o:2" ctx
        rm -rf "$d/u2"; umoci unpack --image "$d/o:2" "$d/u2" >/dev/null 2>&1
        is "$(cat "$d/u2/rootfs/seen-before" 2>/dev/null)" "build 1" "$mode: the second build reads what the first wrote"
        fails "$mode: the cache dir is in neither image's layers" sh -c \
                "$(declare -f layers_have); layers_have '$d/o:1' var/cache/app/seen || layers_have '$d/o:2' var/cache/app/seen"
        fails "$mode: nor is its mount point" sh -c "$(declare -f layers_have); layers_have '$d/o:2' var/cache"

        # ------------------------------------------------ bind from a stage, rw
        cat >"$d/ctx/Dockerfile" <<'EOF'
FROM base AS tools
RUN mkdir /tools && echo "from the tools stage" > /tools/note
FROM base
RUN --mount=type=bind,from=tools,source=/tools,target=/mnt/tools cat /mnt/tools/note > /note
RUN --mount=type=bind,source=.,target=/src,rw echo scribble > /src/scribble && cat /src/file > /ctx-file
RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && test -f /scratch/t
EOF
        ok "$mode: bind mounts (from a stage, rw from the context) and tmpfs" bld $mode "$d" --oci-layout-path "$d/o:b" ctx
        rm -rf "$d/ub"; umoci unpack --image "$d/o:b" "$d/ub" >/dev/null 2>&1
        is "$(cat "$d/ub/rootfs/note" 2>/dev/null)" "from the tools stage" "$mode: a bind mount from another stage sees its files"
        is "$(cat "$d/ub/rootfs/ctx-file" 2>/dev/null)" ctxfile "$mode: a context bind mount reads the context"
        ok "$mode: rw writes reach neither the context nor the image" \
                test ! -e "$d/ctx/scribble" -a ! -e "$d/ub/rootfs/src" -a ! -e "$d/ub/rootfs/scratch"

        # ----------------------------------------------------------- secrets
        secret_file="s3cr3t-file-$RANDOM$RANDOM"; secret_env="s3cr3t-env-$RANDOM$RANDOM"
        echo -n "$secret_file" >"$d/secret.txt"; chmod 644 "$d/secret.txt"
        cat >"$d/ctx/Dockerfile" <<'EOF'
FROM base
RUN --mount=type=secret,id=tok --mount=type=secret,id=envtok,env=TOKEN \
    test "$(cat /run/secrets/tok)" = "$(cat /run/secrets/tok)" && \
    echo "file:$(wc -c < /run/secrets/tok) env:${#TOKEN}" > /lens && ls -la /run/secrets > /listing
EOF
        PASS="MYTOKEN=$secret_env" ok "$mode: secrets from a file and from an env var" bld $mode "$d" \
                --secret id=tok,src="$d/secret.txt" --secret id=envtok,env=MYTOKEN --oci-layout-path "$d/o:s" ctx
        rm -rf "$d/us"; umoci unpack --image "$d/o:s" "$d/us" >/dev/null 2>&1
        is "$(cat "$d/us/rootfs/lens" 2>/dev/null)" "file:${#secret_file} env:${#secret_env}" "$mode: both secrets were readable inside the RUN"
        ok "$mode: no secret file in the image" test ! -e "$d/us/rootfs/run/secrets/tok"
        fails "$mode: no trace of either secret in the store, the OCI layout or the log" \
                grep_deep "$secret_file" "$secret_env" "$d/store" "$d/o" "$d/log"
        if [ -n "${REGISTRY:-}" ]; then
                PASS="MYTOKEN=$secret_env" ok "$mode: the same build through a registry cache" bld $mode "$d" --no-cache \
                        --secret id=tok,src="$d/secret.txt" --secret id=envtok,env=MYTOKEN \
                        --cache --cache-repo "$REGISTRY/secrets-$mode/cache" ctx
                ok "$mode: the cache repo got the step" test -n "$(ls "$REGISTRY_DATA"/docker/registry/v2/repositories/secrets-$mode/cache/_manifests/tags 2>/dev/null)"
                fails "$mode: no trace of either secret in the registry's storage" \
                        grep_deep "$secret_file" "$secret_env" "$REGISTRY_DATA"
        else
                skip "no registry for the cache-repo check"; skip "no registry"; skip "no registry"
        fi
        key1=$(ls "$d/store/cache/steps" | sort | tr '\n' ' ')
        echo -n "changed-$secret_file" >"$d/secret.txt"
        PASS="MYTOKEN=x$secret_env" bld $mode "$d" --secret id=tok,src="$d/secret.txt" --secret id=envtok,env=MYTOKEN ctx
        like "$(cat "$d/log")" '^CACHED .*RUN --mount=type=secret' "$mode: a changed secret value does not bust the cache"
        sed -i 's/id=envtok,env=TOKEN/id=envtok,env=TOKEN2/' "$d/ctx/Dockerfile"
        PASS="MYTOKEN=$secret_env" bld $mode "$d" --secret id=tok,src="$d/secret.txt" --secret id=envtok,env=MYTOKEN ctx
        ok "$mode: a changed mount spec busts it" sh -c "! grep -q '^CACHED .*RUN' '$d/log'"
        printf 'FROM base\nRUN --mount=type=secret,id=missing,required=true cat /run/secrets/missing\n' >"$d/ctx/Dockerfile"
        bld $mode "$d" ctx; rc=$?
        is "$rc" 1 "$mode: a missing required secret fails the build"
        like "$(cat "$d/log")" "secret .missing. is required" "$mode: with a clear message"

        # ---------------------------------------------------------------- ssh
        agentdir=$(user_dir)
        ssh-keygen -q -t ed25519 -N '' -C "imgbuild-test-key-$mode" -f "$agentdir/key" >/dev/null
        chown "$IB_TEST_USER" "$agentdir/key" "$agentdir/key.pub"
        if [ "$mode" = root ]; then
                eval "$(ssh-agent -a "$agentdir/agent.sock" -s)" >/dev/null
        else
                eval "$(as_user "$IB_TEST_USER" ssh-agent -a "$agentdir/agent.sock" -s)" >/dev/null
        fi
        on_exit "kill $SSH_AGENT_PID"
        SSH_AUTH_SOCK=$agentdir/agent.sock ssh-add "$agentdir/key" >/dev/null 2>&1 ||
                as_user "$IB_TEST_USER" env SSH_AUTH_SOCK="$agentdir/agent.sock" ssh-add "$agentdir/key" >/dev/null 2>&1
        printf 'FROM base\nCOPY agent-list /agent-list\nRUN --mount=type=ssh /agent-list > /keys\n' >"$d/ctx/Dockerfile"
        ok "$mode: RUN --mount=type=ssh with --ssh default" env SSH_AUTH_SOCK="$agentdir/agent.sock" \
                PASS="SSH_AUTH_SOCK=$agentdir/agent.sock" bash -c "$(declare -f bld as_user); IB_TMP='$IB_TMP' \
                IMGBUILD='$IMGBUILD' IMGBUILD_USER_BIN='${IMGBUILD_USER_BIN:-}' IB_TEST_USER='$IB_TEST_USER' BB='$BB'; \
                bld $mode '$d' --ssh default --oci-layout-path '$d/o:ssh' ctx"
        rm -rf "$d/uk"; umoci unpack --image "$d/o:ssh" "$d/uk" >/dev/null 2>&1
        is "$(cat "$d/uk/rootfs/keys" 2>/dev/null)" "imgbuild-test-key-$mode" "$mode: the RUN lists the agent's key"
        kill "$SSH_AGENT_PID" 2>/dev/null
        # --ssh ID=KEYFILE: imgbuild runs an agent of its own for the build
        ssh-keygen -q -t ed25519 -N '' -C "imgbuild-keyfile-$mode" -f "$agentdir/key2" >/dev/null
        chown "$IB_TEST_USER" "$agentdir/key2"
        printf 'FROM base\nCOPY agent-list /agent-list\nRUN --mount=type=ssh,id=deploy /agent-list > /keys\n' >"$d/ctx/Dockerfile"
        ok "$mode: --ssh ID=KEYFILE" bld $mode "$d" --ssh deploy="$agentdir/key2" --no-cache --oci-layout-path "$d/o:kf" ctx
        rm -rf "$d/uk"; umoci unpack --image "$d/o:kf" "$d/uk" >/dev/null 2>&1
        is "$(cat "$d/uk/rootfs/keys" 2>/dev/null)" "imgbuild-keyfile-$mode" "$mode: the RUN lists the key file's key"
        fails "$mode: the build's own ssh-agent is gone afterwards" pgrep -f "ssh-agent -D -a $d/store"
done

# sharing=locked serialises two concurrent builds; private gives each its own dir
d=$(user_dir); mkdir -p "$d/ctx"
cat >"$d/ctx/Dockerfile" <<'EOF'
FROM base
ARG WHO
RUN --mount=type=cache,target=/c,id=lockme,sharing=locked \
    echo "$WHO start" >> /c/log; sleep 1; echo "$WHO end" >> /c/log; cp /c/log /log
EOF
two_builds() { # tag-prefix: build WHO=a and WHO=b at the same time
        bld root "$d" --build-arg WHO=a --no-cache --oci-layout-path "$d/$1:a" ctx &
        local p1=$!
        ( cd "$d" && "$IMGBUILD" build --root "$d/store" --build-context base=oci-layout://"$BB" --build-arg WHO=b \
                --no-cache --oci-layout-path "$d/$1:b" ctx >"$d/log2" 2>&1 )
        wait $p1
        rm -rf "$d/ua" "$d/ub"
        umoci unpack --image "$d/$1:a" "$d/ua" >/dev/null 2>&1; umoci unpack --image "$d/$1:b" "$d/ub" >/dev/null 2>&1
}
two_builds locked
longer=$( (wc -l <"$d/ua/rootfs/log"; echo "$d/ua/rootfs/log"; wc -l <"$d/ub/rootfs/log"; echo "$d/ub/rootfs/log") 2>/dev/null |
        paste - - | sort -n | tail -n 1 | cut -f2)
is "$(awk '{print $2}' "$longer" 2>/dev/null | tr '\n' ' ')" "start end start end " "sharing=locked: the two RUNs did not overlap"

# private: the RUNs meet on a shared cache mount first, so they provably overlap
cat >"$d/ctx/Dockerfile" <<'EOF'
FROM base
ARG WHO
RUN --mount=type=cache,target=/r,id=rendezvous --mount=type=cache,target=/c,id=priv,sharing=private \
    touch /c/$WHO; touch /r/$WHO; i=0; while [ $i -lt 100 ] && [ "$(ls /r | wc -l)" -lt 2 ]; do sleep 0.1; i=$((i+1)); done; \
    ls /c > /seen; ls /r > /met
EOF
two_builds private
is "$(cat "$d/ua/rootfs/met" "$d/ub/rootfs/met" 2>/dev/null | tr '\n' ' ')" "a b a b " "sharing=private: the two RUNs ran at the same time"
is "$(cat "$d/ua/rootfs/seen" "$d/ub/rootfs/seen" 2>/dev/null | tr '\n' ' ')" "a b " "sharing=private: each RUN saw only its own cache dir"
done_testing
