#!/bin/bash
# snapshot: hostile and corrupt layers are refused and leave the store as it was;
# absolute names are made relative.  (As root here; as the unprivileged user in
# t-snapshot-rootless.sh.)
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
. "$IB_SRCDIR/tests/lib/snapshot.sh"
have_userns || skip_all "no user namespaces"
is_root || skip_all "needs root to map a range of ids"
IMGBUILD_RUN=$IMGBUILD
hostile_suite ns "$IB_TMP/store"
done_testing
