# tests/lib/tap.sh - sourced by tests/integration/t-*.sh.  TAP output, temp dirs,
# cleanup by PID, the unprivileged test user, a real registry, base images.
#
#   ok "name" cmd...        run cmd; a test point that passes when it succeeds
#   is "got" "want" "name"  string comparison point
#   like "got" "regex" "name"
#   skip "reason"           one skipped point (fails under IB_TESTS_MUST_RUN / CI)
#   skip_all "reason"       skip the whole file
#   done_testing            print the plan; call last
#   on_exit "cmd"           run cmd at exit (LIFO)
#   $IB_TMP                 this file's temp dir (removed at exit unless IB_KEEP_TMP)
set -u
IB_SRCDIR=${IB_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
IMGBUILD=${IMGBUILD:-$IB_SRCDIR/build/imgbuild}
[ "${CI:-}" = true ] && export IB_TESTS_MUST_RUN=1
_tap_n=0
_tap_failed=0
_tap_exit_cmds=""

on_exit() { _tap_exit_cmds="$1
$_tap_exit_cmds"; }
_tap_cleanup() {
        local IFS='
'
        for c in $_tap_exit_cmds; do eval "$c" >/dev/null 2>&1 || true; done
}
trap _tap_cleanup EXIT
trap 'exit 130' INT TERM

IB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ib-test.XXXXXX")
chmod 755 "$IB_TMP"
[ -n "${IB_KEEP_TMP:-}" ] || on_exit "rm -rf '$IB_TMP'"

_tap_point() { # status name
        _tap_n=$((_tap_n + 1))
        if [ "$1" = 0 ]; then echo "ok $_tap_n - $2"; else echo "not ok $_tap_n - $2"; _tap_failed=$((_tap_failed + 1)); fi
}
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
ok() {
        local name=$1; shift
        local out rc
        out=$("$@" 2>&1); rc=$?
        _tap_point $rc "$name"
        [ $rc = 0 ] || { diag "command: $*" "exit status: $rc"; printf '%s\n' "$out" | tail -n 20 | sed 's/^/#   /'; }
        return $rc
}
fails() { # name cmd...: passes when cmd fails
        local name=$1; shift
        local out rc
        out=$("$@" 2>&1); rc=$?
        if [ $rc != 0 ]; then _tap_point 0 "$name"; return 0; fi
        _tap_point 1 "$name"; diag "command unexpectedly succeeded: $*"; printf '%s\n' "$out" | tail -n 10 | sed 's/^/#   /'
        return 1
}
is() {
        if [ "$1" = "$2" ]; then _tap_point 0 "$3"; return 0; fi
        _tap_point 1 "$3"; diag "got:      '$1'" "expected: '$2'"; return 1
}
like() {
        if printf '%s' "$1" | grep -qE -- "$2"; then _tap_point 0 "$3"; return 0; fi
        _tap_point 1 "$3"; diag "got:      '$1'" "expected to match: '$2'"; return 1
}
skip() {
        _tap_n=$((_tap_n + 1))
        if [ -n "${IB_TESTS_MUST_RUN:-}" ]; then
                echo "not ok $_tap_n # required but unavailable: $*"; _tap_failed=$((_tap_failed + 1))
        else
                echo "ok $_tap_n # SKIP $*"
        fi
}
skip_all() {
        if [ -n "${IB_TESTS_MUST_RUN:-}" ]; then echo "Bail out! required but unavailable: $*"; exit 1; fi
        echo "1..0 # SKIP $*"; exit 0
}
done_testing() { echo "1..$_tap_n"; [ "$_tap_failed" = 0 ]; }

have_userns() { unshare --user --map-root-user true 2>/dev/null; }
is_root() { [ "$(id -u)" = 0 ]; }

# ---------------------------------------------------------------- test user
# As root, create the unprivileged user $IB_TEST_USER with subordinate id ranges
# (idempotent) and a copy of the binary it can execute.  Sets IMGBUILD_USER_BIN.
IB_TEST_USER=${IB_TEST_USER:-ibtest}
IB_TEST_SUBID_START=${IB_TEST_SUBID_START:-400000}
setup_test_user() {
        is_root || return 1
        if ! id "$IB_TEST_USER" >/dev/null 2>&1; then
                useradd --create-home --shell /bin/sh "$IB_TEST_USER" >/dev/null 2>&1 || return 1
        fi
        for f in /etc/subuid /etc/subgid; do
                [ -f "$f" ] || touch "$f"
                grep -q "^$IB_TEST_USER:" "$f" || echo "$IB_TEST_USER:$IB_TEST_SUBID_START:65536" >>"$f"
        done
        mkdir -p "$IB_TMP/bin" && cp "$IMGBUILD" "$IB_TMP/bin/imgbuild" && chmod 755 "$IB_TMP/bin" "$IB_TMP/bin/imgbuild"
        IMGBUILD_USER_BIN=$IB_TMP/bin/imgbuild
        return 0
}
# A user with no subordinate ids (single-id mode).
IB_TEST_USER_NOSUB=${IB_TEST_USER_NOSUB:-ibtest1}
setup_test_user_nosub() {
        is_root || return 1
        id "$IB_TEST_USER_NOSUB" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$IB_TEST_USER_NOSUB" >/dev/null 2>&1 || return 1
        sed -i "/^$IB_TEST_USER_NOSUB:/d" /etc/subuid /etc/subgid
        setup_test_user >/dev/null 2>&1 || true
}
# as_user USER cmd...: run cmd as USER with a clean environment and its own HOME.
as_user() {
        local u=$1; shift
        local home
        home=$(getent passwd "$u" | cut -d: -f6)
        ( cd "$IB_TMP" && setpriv --reuid="$u" --regid="$u" --init-groups --reset-env \
                env HOME="$home" PATH=/usr/sbin:/usr/bin:/sbin:/bin TMPDIR="${TMPDIR:-/tmp}" "$@" )
}
# A temp dir the test user may write to.
user_dir() { local d; d=$(mktemp -d "$IB_TMP/u.XXXXXX"); chown "$IB_TEST_USER" "$d" 2>/dev/null; chmod 755 "$d"; echo "$d"; }

# ---------------------------------------------------------------- processes
# Start "$@" in the background; it is killed (by PID, never by name) at exit.
spawn() { "$@" & local pid=$!; on_exit "kill $pid; wait $pid"; SPAWNED_PID=$pid; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url [seconds]
        local i=0 max=${2:-20}
        while [ $i -lt $((max * 10)) ]; do curl -fsk -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; i=$((i + 1)); done
        return 1
}

# ---------------------------------------------------------------- registry
# start_registry [extra yaml under http:/auth:]: a real docker-registry on a free
# loopback port with storage in $IB_TMP.  Sets REGISTRY=127.0.0.1:PORT.
start_registry() { start_registry_custom http "${1:-}"; }

# ---------------------------------------------------------------- base images
# make_busybox_layout DIR [TAG]: an OCI layout holding a one-layer busybox image
# (busybox-static with its applet links), made on the spot with umoci.
# The usual preamble of a build test run as root and as the test user: user
# namespaces, root, umoci, the test user, and BB, a busybox OCI layout every
# user can read.  Skips the whole test (loudly) when one is missing.
need_user_and_busybox() {
        have_userns || skip_all "user namespaces unavailable"
        is_root || skip_all "needs root to create the unprivileged test user"
        command -v umoci >/dev/null || skip_all "umoci is needed"
        setup_test_user || skip_all "cannot create the test user"
        BB=$IB_TMP/bb
        make_busybox_layout "$BB" latest >/dev/null 2>&1 || skip_all "cannot make the busybox base"
        chmod -R a+rX "$BB"
}
make_busybox_layout() {
        local dir=$1 tag=${2:-latest} b
        b=$(mktemp -d "$IB_TMP/bb.XXXXXX")
        umoci init --layout "$dir" >/dev/null 2>&1 || [ -d "$dir/blobs" ] || return 1
        umoci new --image "$dir:$tag" || return 1
        umoci unpack --rootless --image "$dir:$tag" "$b/bundle" >/dev/null || return 1
        make_busybox_rootfs "$b/bundle/rootfs" || return 1
        umoci repack --image "$dir:$tag" "$b/bundle" >/dev/null || return 1
        umoci config --image "$dir:$tag" --config.cmd sh --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin >/dev/null || return 1
        rm -rf "$b"
}
# make_busybox_rootfs DIR: a minimal root file system with busybox and /etc files.
make_busybox_rootfs() {
        local r=$1 a
        mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/root" "$r/proc" "$r/dev" "$r/sys" "$r/home/user" || return 1
        chmod 1777 "$r/tmp"
        cp /bin/busybox "$r/bin/busybox" || return 1
        for a in sh ls cat echo id ps sleep touch rm mkdir chmod chown ln mv cp stat true false \
                 grep sed wc head tail find xargs env printf test kill ip hostname setfattr getfattr \
                 readlink sha256sum tar gzip du df mount umount awk sort uniq tr cut date mknod \
                 whoami basename dirname seq ping nc wget; do
                ln -sf busybox "$r/bin/$a"
        done
        printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nimguser:x:4242:4343:img:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
        printf 'root:x:0:\nuser:x:1000:\nimggroup:x:4343:\nextra:x:5555:imguser\nnogroup:x:65534:\n' >"$r/etc/group"
}

# ------------------------------------------------------- registry variants
# start_registry_custom SCHEME [YAML]: like start_registry, for registries that
# answer 401 or speak TLS: YAML is inserted after "http:\n  addr:" (indent
# "  key:" for http settings, or start top-level keys like "auth:").  Waits for
# any HTTP answer on SCHEME:// (SCHEME "tcp": for the port to accept).  Sets REGISTRY, REGISTRY_LOG, REGISTRY_PID,
# REGISTRY_DIR (its storage is $REGISTRY_DIR/data).
start_registry_custom() {
        command -v docker-registry >/dev/null || return 1
        local scheme=$1 extra=${2:-} port dir i=0
        port=$(free_port); dir=$(mktemp -d "$IB_TMP/registry.XXXXXX")
        cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$extra
YAML
        spawn docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1
        REGISTRY=127.0.0.1:$port; REGISTRY_LOG=$dir/log; REGISTRY_PID=$SPAWNED_PID; REGISTRY_DIR=$dir
        while [ $i -lt 300 ]; do
                if [ "$scheme" = tcp ]; then
                        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
                else
                        curl -sk -o /dev/null "$scheme://$REGISTRY/v2/" 2>/dev/null && return 0
                fi
                sleep 0.1; i=$((i + 1))
        done
        return 1
}
# make_cert DIR: a self-signed certificate for 127.0.0.1/localhost: DIR/cert.pem, DIR/key.pem.
make_cert() {
        mkdir -p "$1" && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
                -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
                -keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1
}
# start_registry_tls CERT KEY: a registry serving HTTPS only.
start_registry_tls() {
        start_registry_custom https "  tls:
    certificate: $1
    key: $2"
}
# start_registry_htpasswd USER PASSWORD: a registry with Basic auth (bcrypt htpasswd).
start_registry_htpasswd() {
        local f
        f=$(mktemp "$IB_TMP/htpasswd.XXXXXX")
        htpasswd -Bbn "$1" "$2" >"$f" || return 1
        start_registry_custom http "auth:
  htpasswd:
    realm: basic-realm
    path: $f"
}
# start_token_server USER PASSWORD [REFRESH_TOKEN]: a token server (tests/lib/token-server.py)
# signing RS256 JWTs with a key made here, and a registry using it ("token" auth).
# Sets TOKEN_SERVER (host:port), TOKEN_LOG and the REGISTRY variables.
start_registry_token() {
        local d port
        d=$(mktemp -d "$IB_TMP/token.XXXXXX")
        make_cert "$d" || return 1
        port=$(free_port)
        TOKEN_SERVER=127.0.0.1:$port; TOKEN_LOG=$d/log
        spawn python3 "$IB_SRCDIR/tests/lib/token-server.py" --port "$port" --key "$d/key.pem" --cert "$d/cert.pem" \
                --user "$1" --password "$2" --refresh-token "${3:-}" --service test-registry --issuer test-issuer \
                --log "$TOKEN_LOG"
        wait_http "http://$TOKEN_SERVER/health" 20 || return 1
        start_registry_custom http "auth:
  token:
    realm: http://$TOKEN_SERVER/token
    service: test-registry
    issuer: test-issuer
    rootcertbundle: $d/cert.pem"
}
# start_fault_proxy UPSTREAM MODE COUNT [PATH_REGEX]: a loopback HTTP proxy in front of
# UPSTREAM (host:port) that misbehaves on the first COUNT requests matching PATH_REGEX
# (MODE: reset, 500, 503, 429, cut, trickle, notjson, giant, loop, corrupt, redirect,
# schema1; COUNT 0 = always; see the proxy's header).  Redirected
# requests reach UPSTREAM with $PROXY_UPSTREAM_AUTH (user:password) as Basic
# credentials, as a pre-signed storage URL would.  Sets PROXY (host:port), PROXY_LOG.
start_fault_proxy() {
        local port
        port=$(free_port); PROXY=127.0.0.1:$port; PROXY_LOG=$(mktemp "$IB_TMP/proxy.XXXXXX")
        spawn python3 "$IB_SRCDIR/tests/lib/fault-proxy.py" --port "$port" --upstream "$1" --mode "$2" \
                --count "$3" --match "${4:-/blobs/sha256:}" --log "$PROXY_LOG" --upstream-auth "${PROXY_UPSTREAM_AUTH:-}"
        wait_http "http://$PROXY/__fault" 20
}
# store_verify STORE: `imgbuild store verify` (every blob re-hashed, every layer dir
# complete) says the store is clean; its output is printed for the diagnostics.
store_verify() { "$IMGBUILD" store verify --root "$1" 2>&1; }
# rehash_store STORE: every file in STORE/blobs/sha256 matches its name (prints the bad ones).
rehash_store() {
        local f bad=0
        for f in "$1"/blobs/sha256/*; do
                [ -e "$f" ] || continue
                [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || { echo "bad blob: $f"; bad=1; }
        done
        return $bad
}
