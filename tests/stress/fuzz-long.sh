#!/bin/sh
# tests/stress/fuzz-long.sh BIN...: long fuzz runs for `make stress`:
# FUZZ_SECONDS (default 600) per target, one after the other, niced
# (FUZZ_NICE, default 10).  The scratch corpora and findings go to FUZZ_WORK
# (default: a new dir under $TMPDIR, kept so a finding can be replayed).
# Prints one line per target (execs, CPU time, coverage); exits non-zero
# when any target found something.
set -u
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
secs=${FUZZ_SECONDS:-600}
work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/ib-fuzz-long.XXXXXX")}
export FUZZ_NICE=${FUZZ_NICE:-10} IB_SRCDIR=$srcdir
echo "fuzzing $# targets for $secs s each; work dir $work ($(date -u +%FT%TZ))"
fail=0
for bin in "$@"; do
        sh "$srcdir/tests/fuzz/run-target.sh" "$bin" "$secs" "$work" || fail=1
done
[ $fail = 0 ] && echo "no findings" || echo "FINDINGS: see above (work dir $work)"
exit $fail
