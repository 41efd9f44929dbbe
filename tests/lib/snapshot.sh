# tests/lib/snapshot.sh - sourced by the snapshot integration tests (after tap.sh).
TL=$IB_SRCDIR/tests/lib
# ns CMD...: CMD as uid 0 of a user namespace with a private mount namespace,
# ids 0..65535 mapped to themselves (how imgbuild runs as real root).
ns() { python3 "$TL/userns-run.py" "$@"; }
# ns_user CMD...: the same as the unprivileged test user with its subordinate range.
ns_user() { as_user "$IB_TEST_USER" unshare --map-auto --map-root-user --mount "$@"; }
# ns_user1 CMD...: single-id mode: a user with no subordinate ids.
ns_user1() { as_user "$IB_TEST_USER_NOSUB" unshare --map-root-user --mount "$@"; }
blob_path() { echo "$1/blobs/sha256/${2#sha256:}"; }
# count_dirs DIR: entries below DIR (to show nothing was left behind)
count_entries() { find "$1" -mindepth 1 -maxdepth 1 | wc -l; }
