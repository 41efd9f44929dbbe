# tests/lib/snapshot.sh - sourced by the snapshot integration tests (after tap.sh).
TL=$IB_SRCDIR/tests/lib
# ns CMD...: CMD as uid 0 of a user namespace with a private mount namespace,
# ids 0..65535 mapped to themselves (how imgbuild runs as real root).
USERNS_RUN=$IB_SRCDIR/build/tests/helpers/userns-run   # tests/helpers/userns-run.c
[ -x "$USERNS_RUN" ] || make -C "$IB_SRCDIR" --no-print-directory -s build/tests/helpers/userns-run >/dev/null
ns() { "$USERNS_RUN" "$@"; }
# ns_user CMD...: the same as the unprivileged test user with its subordinate range.
ns_user() { as_user "$IB_TEST_USER" unshare --map-auto --map-root-user --mount "$@"; }
# ns_user1 CMD...: single-id mode: a user with no subordinate ids.
ns_user1() { as_user "$IB_TEST_USER_NOSUB" unshare --map-root-user --mount "$@"; }
blob_path() { echo "$1/blobs/sha256/${2#sha256:}"; }
# count_dirs DIR: entries below DIR (to show nothing was left behind)
count_entries() { find "$1" -mindepth 1 -maxdepth 1 | wc -l; }

# layer_dirs STORE: the published layer dirs (not the .lock files)
layer_dirs() { find "$1/layers" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l; }

# refused NAME RUN STORE "DIGEST DIFF_ID": import the crafted layer (as RUN) and
# expect a refusal that names the layer, with the store unchanged.
refused() {
        local name=$1 run=$2 store=$3 ids=$4
        local before out rc _dg _di
        read -r _dg _di <<<"$ids"
        before=$(layer_dirs "$store")
        out=$($run "$IMGBUILD_RUN" debug-layer import --root "$store" --diff-id "${DIFF_OVERRIDE:-$_di}" "$_dg" 2>&1); rc=$?
        if [ $rc != 0 ] && printf '%s' "$out" | grep -qF "$_dg" && [ "$(layer_dirs "$store")" = "$before" ] &&
           [ "$(count_entries "$store/tmp")" = 0 ]; then
                _tap_point 0 "$name: refused, store unchanged"
        else
                _tap_point 1 "$name: refused, store unchanged"
                diag "exit $rc, layers $before -> $(layer_dirs "$store"), tmp: $(ls "$store/tmp")" "$out"
        fi
        LAST_OUT=$out
}

# hostile_suite RUN STORE: the hostile layer set, run as RUN (ns / ns_user).
hostile_suite() {
        local run=$1 S=$2 out bad _dg _di
        local -a L
        rm -f /tmp/ibescape-*
        # every layer crafted in one python run (python starts slowly on a busy machine)
        mapfile -t L < <($run python3 "$TL/mklayer.py" "$S" \
                f:ok f:../../ibescape-1 -- l:a:/ f:a/tmp/ibescape-2 -- d:sub l:sub/up:.. f:sub/up/ibescape-3 -- \
                d:d f:d/x l:d:/tmp f:d/ibescape-4 -- f:x h:y:/etc/shadow -- h:y:../../../etc/passwd -- \
                h:early:later f:later -- l:s:/etc h:y:s/passwd -- \
                --truncate f:a "f:b:$(head -c 3000 /dev/urandom | base64 -w0)" -- \
                --zstd --truncate f:a "f:b:$(head -c 3000 /dev/urandom | base64 -w0)" -- f:a -- f:fine -- \
                d:/abs f:/abs/path:inside -- x:r:user.overlay.redirect=/etc x:k:user.keep=1 -- \
                f:a:one d:a f:a/b d:a f:a/c f:x:1 f:x:2)
        is "${#L[@]}" 15 "crafted the hostile layers"
        refused "../../ escape" "$run" "$S" "${L[0]}"
        like "$LAST_OUT" "\`\.\.\` components are not allowed" "  the error says why (..)"
        refused "symlink to / then a file through it" "$run" "$S" "${L[1]}"
        like "$LAST_OUT" "never resolved through symlinks" "  the error says why (symlink)"
        refused "symlink to .. then a file through it" "$run" "$S" "${L[2]}"
        refused "dir replaced by a symlink, then written through" "$run" "$S" "${L[3]}"
        refused "hardlink to /etc/shadow" "$run" "$S" "${L[4]}"
        like "$LAST_OUT" "not an earlier entry" "  the error says why (hardlink)"
        refused "hardlink to ../ outside" "$run" "$S" "${L[5]}"
        refused "hardlink to a later entry" "$run" "$S" "${L[6]}"
        refused "hardlink through a symlink" "$run" "$S" "${L[7]}"
        refused "truncated gzip" "$run" "$S" "${L[8]}"
        like "$LAST_OUT" "truncated|corrupt" "  the error says the stream is cut short"
        refused "truncated zstd" "$run" "$S" "${L[9]}"
        DIFF_OVERRIDE=sha256:$(printf 'x' | sha256sum | cut -d' ' -f1) refused "wrong diff_id" "$run" "$S" "${L[10]}"
        like "$LAST_OUT" "diff_id mismatch" "  the error names the diff_id mismatch"
        # a good blob stored under a name that is not its digest
        read -r _dg _di <<<"${L[11]}"
        bad=sha256:$(printf 'not-it' | sha256sum | cut -d' ' -f1)
        $run cp "$(blob_path "$S" "$_dg")" "$(blob_path "$S" "$bad")"
        out=$($run "$IMGBUILD_RUN" debug-layer import --root "$S" --diff-id "$_di" "$bad" 2>&1)
        like "$out" "$bad.*blob digest mismatch" "a blob whose digest does not match is refused, naming the layer"
        is "$(count_entries "$S/tmp")" 0 "  tmp/ clean"
        is "$(ls /tmp/ibescape-* "$S"/ibescape-* "$S"/tmp/ibescape-* 2>/dev/null | wc -l)" 0 "nothing was written outside the layer"
        # made relative, as docker does
        read -r _dg _di <<<"${L[12]}"
        out=$($run "$IMGBUILD_RUN" debug-layer import --root "$S" --diff-id "$_di" "$_dg" 2>/dev/null)
        is "$(cat "$out/abs/path" 2>/dev/null)" inside "an entry /abs/path lands inside the layer dir"
        [ ! -e /abs/path ]; is $? 0 "  and not at /abs/path"
        # overlay's own xattrs in a tar would steer overlayfs: dropped
        read -r _dg _di <<<"${L[13]}"
        out=$($run "$IMGBUILD_RUN" debug-layer import --root "$S" --diff-id "$_di" "$_dg" 2>/dev/null)
        is "$(getfattr -d -m- "$out/r" "$out/k" 2>/dev/null | grep -c '=')" 1 "user.overlay.* xattrs from a tar are dropped, others kept"
        # a later entry replaces an earlier one (tar semantics), dirs merge
        read -r _dg _di <<<"${L[14]}"
        out=$($run "$IMGBUILD_RUN" debug-layer import --root "$S" --diff-id "$_di" "$_dg" 2>/dev/null)
        is "$(cd "$out" 2>/dev/null && find . | sort | tr '\n' ' ')$(cat "$out/x")" ". ./a ./a/b ./a/c ./x 2" "later entries replace earlier ones"
}
