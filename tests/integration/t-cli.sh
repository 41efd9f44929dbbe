#!/bin/bash
# The command line: version, help, usage errors and their exit status.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"

out=$("$IMGBUILD" version); is "$out" "imgbuild $(cat "$IB_SRCDIR/VERSION")" "version prints the VERSION file"
ok "--help exits 0" "$IMGBUILD" --help
like "$("$IMGBUILD" help)" "Verbs:" "help lists the verbs"
"$IMGBUILD" no-such-verb >/dev/null 2>"$IB_TMP/err"; rc=$?
is "$rc" 2 "unknown verb is a usage error (exit 2)"
like "$(cat "$IB_TMP/err")" "unknown verb 'no-such-verb'" "unknown verb is named"
"$IMGBUILD" >/dev/null 2>&1; is "$?" 2 "no verb is a usage error"
"$IMGBUILD" -v loud version >/dev/null 2>&1; is "$?" 2 "bad verbosity is a usage error"
done_testing
