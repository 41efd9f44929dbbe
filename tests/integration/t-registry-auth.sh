#!/bin/bash
# Registry authentication: htpasswd Basic auth and Bearer tokens (the
# registry's "token" auth with a test token server), credentials from every
# auth file location and from credential helpers, wrong passwords, and no
# secret in the logs.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
for t in docker-registry skopeo umoci jq python3 htpasswd openssl; do
        command -v $t >/dev/null || skip_all "$t not installed"
done
L=$IB_TMP/bb
make_busybox_layout "$L" >/dev/null 2>&1 || skip_all "cannot make the busybox layout"
U=alice P='s3cret-P4ss'
B64=$(printf '%s:%s' "$U" "$P" | base64 -w0)
mkdir -p "$IB_TMP/home" "$IB_TMP/bin"
# Run imgbuild with a clean credential environment; extra VAR=VALUE first.
ib() { env -u DOCKER_CONFIG -u REGISTRY_AUTH_FILE -u XDG_RUNTIME_DIR HOME="$IB_TMP/home" \
        PATH="$IB_TMP/bin:$PATH" "$@"; }
auth_json() { printf '{"auths":{"%s":{"auth":"%s"}}}' "$1" "$2"; }

# ------------------------------------------------------------ Basic (htpasswd)
start_registry_htpasswd "$U" "$P" || skip_all "cannot start docker-registry with htpasswd"
R=$REGISTRY
ok "seed $R/x:1 with skopeo (Basic)" skopeo copy -q --dest-tls-verify=false --dest-creds "$U:$P" "oci:$L:latest" "docker://$R/x:1"
want=$(skopeo inspect --tls-verify=false --creds "$U:$P" "docker://$R/x:1" | jq -r .Digest)

ib "$IMGBUILD" pull --root "$IB_TMP/s0" "$R/x:1" >/dev/null 2>"$IB_TMP/err"; rc=$?
is "$rc" 1 "anonymous pull from a Basic-auth registry exits 1"
like "$(cat "$IB_TMP/err")" "^imgbuild: pull $R/x:1: .*401 UNAUTHORIZED" "and says 401 UNAUTHORIZED"

d=$IB_TMP/dc; mkdir -p "$d"; auth_json "$R" "$B64" >"$d/config.json"
out=$(ib env DOCKER_CONFIG="$d" "$IMGBUILD" -v debug pull --root "$IB_TMP/s1" "$R/x:1" 2>"$IB_TMP/err")
is "$out" "$R/x:1@$want" "credentials from \$DOCKER_CONFIG/config.json"
like "$(cat "$IB_TMP/err")" "using auth file \`$d/config.json\`" "the debug log names the auth file"

mkdir -p "$IB_TMP/home/.docker"; printf '{"auths":{"http://%s/v2/":{"username":"%s","password":"%s"}}}' "$R" "$U" "$P" >"$IB_TMP/home/.docker/config.json"
out=$(ib "$IMGBUILD" pull --root "$IB_TMP/s2" "$R/x:1" 2>&1)
is "$out" "$R/x:1@$want" "credentials from ~/.docker/config.json (username/password, key with scheme)"

wrong=$IB_TMP/wrong; mkdir -p "$wrong"; auth_json "$R" "$(printf '%s:nope' "$U" | base64 -w0)" >"$wrong/config.json"
ib env DOCKER_CONFIG="$wrong" "$IMGBUILD" pull --root "$IB_TMP/s3" "$R/x:1" >/dev/null 2>"$IB_TMP/err"; rc=$?
is "$rc" 1 "\$DOCKER_CONFIG wins over ~/.docker (its wrong password fails)"
rm -rf "$IB_TMP/home/.docker"

f=$IB_TMP/regauth.json; auth_json "$R" "$B64" >"$f"
out=$(ib env REGISTRY_AUTH_FILE="$f" "$IMGBUILD" pull --root "$IB_TMP/s4" "$R/x:1" 2>&1)
is "$out" "$R/x:1@$want" "credentials from \$REGISTRY_AUTH_FILE"

x=$IB_TMP/xdg; mkdir -p "$x/containers"; auth_json "$R" "$B64" >"$x/containers/auth.json"
out=$(ib env XDG_RUNTIME_DIR="$x" "$IMGBUILD" pull --root "$IB_TMP/s5" "$R/x:1" 2>&1)
is "$out" "$R/x:1@$want" "credentials from \$XDG_RUNTIME_DIR/containers/auth.json"

# /kaniko/.docker/config.json: a private tmpfs in a mount namespace, so nothing
# is written to the real /kaniko (an empty mount point is made if missing).
if is_root && unshare -m true 2>/dev/null; then
        made=""
        [ -d /kaniko ] || { mkdir /kaniko && made=1 && on_exit "rmdir /kaniko"; }
        out=$(ib unshare -m sh -c 'mount -t tmpfs tmpfs /kaniko && mkdir -p /kaniko/.docker &&
                printf "%s" "$1" >/kaniko/.docker/config.json && exec "$2" pull --root "$3" "$4"' sh \
                "$(auth_json "$R" "$B64")" "$IMGBUILD" "$IB_TMP/s6" "$R/x:1" 2>&1)
        is "$out" "$R/x:1@$want" "credentials from /kaniko/.docker/config.json"
else
        skip "/kaniko/.docker/config.json needs root and a mount namespace"
fi

# credential helpers
cat >"$IB_TMP/bin/docker-credential-test" <<SH
#!/bin/sh
read server
echo "\$server" >>"$IB_TMP/helper.log"
if [ "\$server" = "$R" ]; then printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\n' "$R" "$U" "$P"; exit 0; fi
echo "credentials not found in native keychain"; exit 1
SH
chmod 755 "$IB_TMP/bin/docker-credential-test"
h=$IB_TMP/helper; mkdir -p "$h"; printf '{"credHelpers":{"%s":"test"}}' "$R" >"$h/config.json"
out=$(ib env DOCKER_CONFIG="$h" "$IMGBUILD" pull --root "$IB_TMP/s7" "$R/x:1" 2>&1)
is "$out" "$R/x:1@$want" "credentials from a credHelpers entry (docker-credential-test)"
is "$(head -n1 "$IB_TMP/helper.log")" "$R" "the helper was asked about the registry"
h2=$IB_TMP/store-helper; mkdir -p "$h2"; printf '{"credsStore":"test"}' >"$h2/config.json"
out=$(ib env DOCKER_CONFIG="$h2" "$IMGBUILD" pull --root "$IB_TMP/s8" "$R/x:1" 2>&1)
is "$out" "$R/x:1@$want" "credentials from credsStore"

# push with Basic credentials; wrong password on push
out=$(ib env DOCKER_CONFIG="$d" "$IMGBUILD" -v trace push --root "$IB_TMP/s1" "oci:$L" "$R/pushed:1" 2>"$IB_TMP/trace")
like "$out" "^$R/pushed@sha256:" "push with Basic credentials"
ok "skopeo reads the pushed image" skopeo inspect --tls-verify=false --creds "$U:$P" "docker://$R/pushed:1"
ib env DOCKER_CONFIG="$wrong" "$IMGBUILD" push --root "$IB_TMP/s9" "oci:$L" "$R/x:2" >/dev/null 2>"$IB_TMP/err"; rc=$?
is "$rc" 1 "push with a wrong password exits 1"
like "$(cat "$IB_TMP/err")" "^imgbuild: push $R/x:2: .*401 UNAUTHORIZED" "and reports 401 UNAUTHORIZED for the reference"
ib env DOCKER_CONFIG="$wrong" "$IMGBUILD" pull --root "$IB_TMP/s9" "$R/x:1" >/dev/null 2>"$IB_TMP/err"
like "$(cat "$IB_TMP/err")" "^imgbuild: pull $R/x:1: .*401 UNAUTHORIZED" "a wrong password on pull too"
ib env DOCKER_CONFIG="$d" "$IMGBUILD" -v trace pull --root "$IB_TMP/s10" "$R/x:1" >/dev/null 2>>"$IB_TMP/trace"
fails "no password in the trace output" grep -qF -e "$P" -e "$B64" "$IB_TMP/trace"

# a blob redirect to another host (like blob storage) must not carry credentials
PROXY_UPSTREAM_AUTH="$U:$P" start_fault_proxy "$R" redirect 0 "/blobs/sha256:"
ok "the redirecting proxy answers" curl -fs "http://$PROXY/__fault"
pd=$IB_TMP/pdc; mkdir -p "$pd"; auth_json "$PROXY" "$B64" >"$pd/config.json"
out=$(ib env DOCKER_CONFIG="$pd" "$IMGBUILD" pull --root "$IB_TMP/s11" "$PROXY/x:1" 2>&1)
is "$out" "$PROXY/x:1@$want" "pull through blob redirects to another host"
is "$(grep -c ' -> 307' "$PROXY_LOG" | tr -d ' ')" 2 "... both blobs were redirected"
is "$(grep -c '/__blob/.* auth=no' "$PROXY_LOG" | tr -d ' '):$(grep -c '/__blob/.* auth=yes' "$PROXY_LOG" | tr -d ' ')" "2:0" \
        "... and the other host never saw the Authorization header"

# ------------------------------------------------------------ Bearer tokens
start_registry_token "$U" "$P" "refresh-T0ken"
is "$?" 0 "start a token server and a registry using it"
T=$REGISTRY
ok "seed $T/x:1 with skopeo (Bearer)" skopeo copy -q --dest-tls-verify=false --dest-creds "$U:$P" "oci:$L:latest" "docker://$T/x:1"
want=$(skopeo inspect --tls-verify=false --creds "$U:$P" "docker://$T/x:1" | jq -r .Digest)
ib "$IMGBUILD" pull --root "$IB_TMP/t0" "$T/x:1" >/dev/null 2>"$IB_TMP/err"; rc=$?
is "$rc" 1 "anonymous pull from a token-auth registry exits 1"
like "$(cat "$IB_TMP/err")" "pull $T/x:1: .*401 UNAUTHORIZED" "with the registry's 401 UNAUTHORIZED"
td=$IB_TMP/tdc; mkdir -p "$td"; auth_json "$T" "$B64" >"$td/config.json"
: >"$TOKEN_LOG"
out=$(ib env DOCKER_CONFIG="$td" "$IMGBUILD" pull --root "$IB_TMP/t1" "$T/x:1" 2>&1)
is "$out" "$T/x:1@$want" "pull with a Bearer token (Basic credentials to the token server)"
like "$(cat "$TOKEN_LOG")" "GET auth=yes scopes=repository:x:pull result=200" "the token was asked for repository:x:pull"
is "$(grep -c 'result=200' "$TOKEN_LOG" | tr -d ' ')" 1 "one token served the manifest and every blob (cached)"
out=$(ib env DOCKER_CONFIG="$td" "$IMGBUILD" push --root "$IB_TMP/t1" "oci:$L" "$T/y:1" 2>&1)
like "$out" "^$T/y@sha256:" "push with a Bearer token"
like "$(cat "$TOKEN_LOG")" "scopes=repository:y:pull,push result=200" "scope repository:y:pull,push"
out=$(ib env DOCKER_CONFIG="$td" "$IMGBUILD" push --root "$IB_TMP/t1" "oci:$L" "$T/y2:1" 2>&1)
like "$(cat "$TOKEN_LOG")" "scopes=repository:y2:pull,push repository:[a-z0-9]+:pull result=200" "a mount asks for the source repository's pull scope too"
is "$(grep -cE '"POST /v2/y2/blobs/uploads/\?mount=.* 201' "$REGISTRY_LOG" | tr -d ' ')" 2 "and the blobs are mounted"
ti=$IB_TMP/tid; mkdir -p "$ti"; printf '{"auths":{"%s":{"identitytoken":"refresh-T0ken"}}}' "$T" >"$ti/config.json"
out=$(ib env DOCKER_CONFIG="$ti" "$IMGBUILD" pull --root "$IB_TMP/t2" "$T/x:1" 2>&1)
is "$out" "$T/x:1@$want" "an identitytoken is exchanged for a token (POST, refresh_token grant)"
like "$(cat "$TOKEN_LOG")" "POST grant=refresh_token auth=no scopes=repository:x:pull result=200" "the token server saw a refresh_token grant"
tw=$IB_TMP/tw; mkdir -p "$tw"; auth_json "$T" "$(printf '%s:nope' "$U" | base64 -w0)" >"$tw/config.json"
ib env DOCKER_CONFIG="$tw" "$IMGBUILD" push --root "$IB_TMP/t3" "oci:$L" "$T/x:2" >/dev/null 2>"$IB_TMP/err"; rc=$?
is "$rc" 1 "a wrong password for the token server exits 1"
like "$(cat "$IB_TMP/err")" "^imgbuild: push $T/x:2: .*401.*incorrect username or password" "and passes on the token server's words"
done_testing
