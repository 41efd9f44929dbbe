#!/bin/bash
# snapshot store: concurrent imports of one layer extract it once (flock on
# layers/<hex>.lock) and all succeed; stale scratch of a dead process is swept.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
. "$IB_SRCDIR/tests/lib/snapshot.sh"
have_userns || skip_all "no user namespaces"
is_root || skip_all "needs root to map a range of ids"

S=$IB_TMP/store
src=$IB_TMP/src
# a layer big enough that the imports overlap: 4000 files in 40 dirs
python3 - "$src" <<'PY'
import os, sys
for d in range(40):
    p = os.path.join(sys.argv[1], f"d{d:02d}")
    os.makedirs(p)
    for f in range(100):
        with open(os.path.join(p, f"f{f:03d}"), "wb") as fh:
            fh.write(os.urandom(2048))
PY
read -r DIFF DIGEST _ < <(ns "$IMGBUILD" debug-layer export --root "$S" "$src")
like "$DIGEST" '^sha256:' "exported a 4000-file layer"

pids=""
for i in 1 2 3 4; do
        ns "$IMGBUILD" debug-layer import --root "$S" --diff-id "$DIFF" "$DIGEST" >"$IB_TMP/out$i" 2>"$IB_TMP/err$i" &
        pids="$pids $!"
done
st=0
for p in $pids; do wait "$p" || st=1; done
is "$st" 0 "four concurrent imports all succeed"
is "$(cat "$IB_TMP"/out? | sort -u)" "$S/layers/${DIFF#sha256:}" "all name the same layer dir"
is "$(cat "$IB_TMP"/err? | grep -c ': extracted')" 1 "exactly one of them extracted it"
is "$(cat "$IB_TMP"/err? | grep -c ': reused')" 3 "the others reused it"
diag "$(cat "$IB_TMP"/err?)"
is "$(find "$S/layers/${DIFF#sha256:}" -type f | wc -l)" 4000 "the layer is complete"
ok "and equal to the source" ns python3 "$TL/treecmp.py" "$src" "$S/layers/${DIFF#sha256:}"
is "$(layer_dirs "$S")" 1 "one layer dir, nothing else published"
is "$(count_entries "$S/tmp")" 0 "no scratch left"

# A dead build's scratch (its lock is not held) is removed at the next start.
mkdir -p "$S/tmp/999999-deadbeef/layer-1-00000000/x" && touch "$S/tmp/999999-deadbeef.lock"
ok "another import" ns "$IMGBUILD" debug-layer import --root "$S" --diff-id "$DIFF" "$DIGEST"
[ ! -e "$S/tmp/999999-deadbeef" ] && [ ! -e "$S/tmp/999999-deadbeef.lock" ]
is $? 0 "stale scratch of a dead process swept at start"
done_testing
