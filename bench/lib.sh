#!/bin/bash
# bench/lib.sh - shared pieces of the benchmark scripts (sourced, bash).
# The bench keeps what is costly to make between runs in $IB_BENCH_DIR: the base
# images (as OCI layouts) and one docker-registry on loopback with its storage.
IB_BENCH_DIR=${IB_BENCH_DIR:-/var/tmp/imgbuild-bench}
mkdir -p "$IB_BENCH_DIR"

bench_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# bench_registry: make sure the bench's registry answers; sets BENCH_REGISTRY
# (127.0.0.1:PORT).  The registry is left running between runs (its pid and port
# are in $IB_BENCH_DIR/registry/); bench_registry_stop ends it by that pid.
bench_registry() {
        local d=$IB_BENCH_DIR/registry port i=0
        mkdir -p "$d/data"
        if [ -f "$d/port" ] && curl -fs -o /dev/null "http://127.0.0.1:$(cat "$d/port")/v2/"; then
                BENCH_REGISTRY=127.0.0.1:$(cat "$d/port"); return 0
        fi
        port=$(bench_free_port)
        cat >"$d/config.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $d/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YAML
        setsid docker-registry serve "$d/config.yml" >"$d/log" 2>&1 </dev/null &
        echo $! >"$d/pid"; echo "$port" >"$d/port"
        BENCH_REGISTRY=127.0.0.1:$port
        while [ $i -lt 300 ]; do
                curl -fs -o /dev/null "http://$BENCH_REGISTRY/v2/" && return 0
                sleep 0.1; i=$((i + 1))
        done
        echo "bench: docker-registry did not start (see $d/log)" >&2
        return 1
}
bench_registry_stop() {
        local d=$IB_BENCH_DIR/registry
        [ -f "$d/pid" ] && kill "$(cat "$d/pid")" 2>/dev/null
        rm -f "$d/pid" "$d/port"
}

# bench_push LAYOUT TAG REPO:TAG: copy an OCI layout's image into the bench registry.
bench_push() {
        skopeo copy --quiet --dest-tls-verify=false "oci:$1:$2" "docker://$BENCH_REGISTRY/$3"
}

# Debian sources of this machine, read at run time (never written into the repo).
bench_apt_sources() {
        local f
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
                [ -f "$f" ] || continue
                grep -qE '^[[:space:]]*(deb |URIs:)' "$f" && echo "$f"
        done
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
