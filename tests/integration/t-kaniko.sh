#!/bin/bash
# The Kaniko invocations of a CI job, unchanged, against a registry that wants
# a password: `-c /workspace --no-push`, `-d REG/img:tag`, and `--cache -c ...
# -d ...`, with no verb and the credentials only in Kaniko's
# /kaniko/.docker/config.json.  /kaniko is a private tmpfs in a mount
# namespace, so the host's /kaniko is never written (an empty mount point is
# made, and removed at exit, when it is missing).  The store comes from
# IMGBUILD_ROOT so that the command lines stay Kaniko's own.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
for t in docker-registry skopeo jq htpasswd unshare; do
        command -v $t >/dev/null || skip_all "$t not installed"
done
is_root || skip_all "a private /kaniko needs root (mount namespace over /kaniko)"
unshare -m true 2>/dev/null || skip_all "cannot make a mount namespace"
have_userns || skip_all "user namespaces unavailable"
L=$IB_TMP/bb
make_busybox_layout "$L" >/dev/null 2>&1 || skip_all "cannot make the busybox layout"
U=ci P='k4n1ko-pass'
start_registry_htpasswd "$U" "$P" || skip_all "cannot start docker-registry with htpasswd"
R=$REGISTRY
ok "seed $R/base/busybox:1 (skopeo, with the password)" \
        skopeo copy -q --dest-tls-verify=false --dest-creds "$U:$P" "oci:$L:latest" "docker://$R/base/busybox:1"

W=$IB_TMP/workspace
mkdir -p "$W"
cat >"$W/Dockerfile" <<EOF
FROM $R/base/busybox:1 AS build
COPY app.txt /src/app.txt
RUN cat /src/app.txt > /src/built.txt && echo built >> /src/built.txt

FROM $R/base/busybox:1
COPY --from=build /src/built.txt /app/built.txt
CMD ["cat", "/app/built.txt"]
EOF
echo "hello from the workspace" >"$W/app.txt"
config=$(printf '{"auths":{"%s":{"auth":"%s"}}}' "$R" "$(printf '%s:%s' "$U" "$P" | base64 -w0)")

made=""
[ -d /kaniko ] || { mkdir /kaniko && made=1 && on_exit "rmdir /kaniko"; }
# kaniko STORE ARGS...: imgbuild with Kaniko's arguments, the credentials only
# in /kaniko/.docker/config.json (no DOCKER_CONFIG, an empty HOME).
kaniko() {
        local store=$1; shift
        mkdir -p "$IB_TMP/home"
        env -u DOCKER_CONFIG -u REGISTRY_AUTH_FILE -u XDG_RUNTIME_DIR HOME="$IB_TMP/home" \
                IMGBUILD_ROOT="$store" BUILDER_OUTPUT="${BUILDER_OUTPUT:-}" \
                unshare -m --propagation private sh -c 'mount -t tmpfs -o mode=0755 tmpfs /kaniko &&
                mkdir -p /kaniko/.docker && printf "%s" "$1" >/kaniko/.docker/config.json && shift &&
                exec "$@"' sh "$config" "$IMGBUILD" "$@"
}

# 1. -c /workspace --no-push
kaniko "$IB_TMP/s1" -c "$W" --no-push >"$IB_TMP/out" 2>"$IB_TMP/err"
is "$?" 0 "-c WORKSPACE --no-push builds (the base pulled with /kaniko's credentials)"
like "$(cat "$IB_TMP/out")" "^sha256:[0-9a-f]{64}$" "and prints the digest"
grep -qiE '(^|[^0-9a-f.])401([^0-9]|$)|unauthori[sz]ed' "$IB_TMP/err"; is "$?" 1 "no 401 reached the user (a 401 in a time or digest does not count)"

# 2. -d REG/img:tag pushes; BUILDER_OUTPUT gets Kaniko's images file
mkdir -p "$IB_TMP/bo"
BUILDER_OUTPUT=$IB_TMP/bo kaniko "$IB_TMP/s2" --context "dir://$W" --dockerfile Dockerfile \
        --destination "$R/app/img:1" >"$IB_TMP/out" 2>"$IB_TMP/err"
is "$?" 0 "--context dir://WORKSPACE --dockerfile Dockerfile --destination REG/img:tag"
pushed=$(skopeo inspect --tls-verify=false --creds "$U:$P" "docker://$R/app/img:1" | jq -r .Digest)
like "$pushed" "^sha256:" "the registry has the image"
is "$(cat "$IB_TMP/out")" "$R/app/img:1@$pushed" "the pushed digest is printed"
is "$(jq -r '.name + " " + .digest' "$IB_TMP/bo/images" 2>/dev/null)" "$R/app/img:1 $pushed" \
        "\$BUILDER_OUTPUT/images names the destination and digest"
if command -v umoci >/dev/null; then
        skopeo copy -q --src-tls-verify=false --src-creds "$U:$P" "docker://$R/app/img:1" "oci:$IB_TMP/pulled:x"
        umoci unpack --image "$IB_TMP/pulled:x" "$IB_TMP/unpacked" >/dev/null 2>&1
        is "$(cat "$IB_TMP/unpacked/rootfs/app/built.txt" 2>/dev/null)" "hello from the workspace
built" "the image holds what the RUN made (judged by skopeo + umoci)"
fi

# 3. --cache -c ... -d ...: the first build fills REG/app/img/cache, a second
# with an empty store takes its RUN from there
kaniko "$IB_TMP/s3" --cache=true -c "$W" -d "$R/app/img:2" >"$IB_TMP/out" 2>"$IB_TMP/err"
is "$?" 0 "--cache=true -c WORKSPACE -d REG/img:tag"
tags=$(skopeo list-tags --tls-verify=false --creds "$U:$P" "docker://$R/app/img/cache" 2>/dev/null | jq -r '.Tags[]')
like "$tags" "^[0-9a-f]{64}" "the registry cache (DESTINATION/cache) holds step images"
kaniko "$IB_TMP/s4" --cache=true -c "$W" -d "$R/app/img:3" >"$IB_TMP/out" 2>"$IB_TMP/err"
is "$?" 0 "the same on a fresh store"
like "$(cat "$IB_TMP/err")" "CACHED.*RUN" "its RUN comes from the registry cache"
second=$(skopeo inspect --tls-verify=false --creds "$U:$P" "docker://$R/app/img:3" | jq -r .Digest)
like "$second" "^sha256:" "and the image is pushed"

# 4. without the credentials, the same command fails with the registry's word
env -u DOCKER_CONFIG HOME="$IB_TMP/home" IMGBUILD_ROOT="$IB_TMP/s5" "$IMGBUILD" -c "$W" --no-push \
        >/dev/null 2>"$IB_TMP/err"
is "$?" 1 "with no /kaniko credentials the pull fails (exit 1)"
like "$(cat "$IB_TMP/err")" "401|UNAUTHORIZED" "and says it was refused"

# 5. KANIKO_NO_PUSH=true turns -d into a build only
KANIKO_NO_PUSH=true kaniko "$IB_TMP/s2" -c "$W" -d "$R/app/img:never" >/dev/null 2>&1
is "$?" 0 "KANIKO_NO_PUSH=true with -d builds"
skopeo inspect --tls-verify=false --creds "$U:$P" "docker://$R/app/img:never" >/dev/null 2>&1
is "$?" 1 "and pushes nothing"
# 6. --kaniko-dir DIR and KANIKO_DIR: credentials from DIR/.docker; DOCKER_CONFIG naming the file
KD=$IB_TMP/kdir; mkdir -p "$KD/.docker"; printf '%s' "$config" >"$KD/.docker/config.json"
plain() { env -u DOCKER_CONFIG -u REGISTRY_AUTH_FILE -u XDG_RUNTIME_DIR HOME="$IB_TMP/home" "$@"; }
plain IMGBUILD_ROOT="$IB_TMP/s6" "$IMGBUILD" -c "$W" --no-push --kaniko-dir "$KD" >/dev/null 2>&1
is "$?" 0 "--kaniko-dir DIR: credentials from DIR/.docker/config.json"
plain IMGBUILD_ROOT="$IB_TMP/s7" KANIKO_DIR="$KD" "$IMGBUILD" -c "$W" --no-push >/dev/null 2>&1
is "$?" 0 "KANIKO_DIR=DIR: the same"
plain IMGBUILD_ROOT="$IB_TMP/s8" DOCKER_CONFIG="$KD/.docker/config.json" "$IMGBUILD" -c "$W" --no-push >/dev/null 2>&1
is "$?" 0 "DOCKER_CONFIG naming the file itself, as Kaniko allows"
# 7. --push-ignore-immutable-tag-errors: a registry that refuses to move a tag
if start_registry && start_fault_proxy "$REGISTRY" immutable 0 "/manifests/"; then
        plain DOCKER_CONFIG="$KD/.docker" IMGBUILD_ROOT="$IB_TMP/s2" "$IMGBUILD" -c "$W" -d "$PROXY/app:1" >/dev/null 2>"$IB_TMP/err"
        is "$?" 1 "a tag the registry keeps immutable fails the push"
        like "$(cat "$IB_TMP/err")" "TAG_INVALID" "naming the registry's error"
        plain DOCKER_CONFIG="$KD/.docker" IMGBUILD_ROOT="$IB_TMP/s2" "$IMGBUILD" -c "$W" -d "$PROXY/app:1" --push-ignore-immutable-tag-errors \
                >/dev/null 2>"$IB_TMP/err"
        is "$?" 0 "--push-ignore-immutable-tag-errors: the build succeeds"
        like "$(cat "$IB_TMP/err")" "warning: .*immutable" "with a warning"
else
        skip "cannot start the registry and the fault proxy"
fi
[ -n "$made" ] && is "$(ls -A /kaniko)" "" "the host's /kaniko (made here as a mount point) was never written"
done_testing
