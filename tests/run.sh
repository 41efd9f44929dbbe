#!/bin/sh
# tests/run.sh - run TAP test programs and scripts, then print one summary line:
#   N passed, M failed
# Skips are counted and listed with their reasons just above it.  A program that
# exits non-zero without a failing point, or whose plan does not match, counts as
# one failure.  The log of every test is kept in $IB_TEST_LOGS (default build/test-logs).
set -u
logs=${IB_TEST_LOGS:-build/test-logs}
mkdir -p "$logs"
[ "${CI:-}" = true ] && export IB_TESTS_MUST_RUN=1
export IMGBUILD IB_SRCDIR
pass=0 fail=0 skip=0
skips=""
fails=""
for t in "$@"; do
        name=$(echo "$t" | sed 's|^build-asan/|asan/|; s|^build/||; s|/|_|g')
        log="$logs/$name.log"
        start=$(date +%s)
        case "$t" in
        *.sh) timeout -k 10 "${IB_TEST_TIMEOUT:-900}" bash "$t" >"$log" 2>&1 </dev/null ;;
        *) timeout -k 10 "${IB_TEST_TIMEOUT:-900}" "$t" >"$log" 2>&1 </dev/null ;;
        esac
        rc=$?
        secs=$(( $(date +%s) - start ))
        p=$(grep -cE '^ok [0-9]+' "$log" | tr -d ' ')
        s=$(grep -cE '^ok [0-9]+.*# SKIP' "$log" | tr -d ' ')
        f=$(grep -cE '^not ok [0-9]+' "$log" | tr -d ' ')
        p=$((p - s))
        plan=$(grep -E '^1\.\.[0-9]+' "$log" | tail -n 1)
        if [ -z "$plan" ] && [ "$rc" = 0 ]; then
                f=$((f + 1)); echo "not ok - $t: no TAP plan" >>"$log"
        elif [ -n "$plan" ]; then
                n=${plan#1..}; n=${n%% *}
                if echo "$plan" | grep -q '# SKIP' && [ "$n" = 0 ]; then
                        s=$((s + 1)); skips="$skips
  $t: ${plan#*# SKIP }"
                elif [ "$n" != $((p + s + f)) ]; then
                        f=$((f + 1)); echo "not ok - $t: planned $n, ran $((p + s + f - 1))" >>"$log"
                fi
        fi
        if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
                f=1; echo "not ok - $t: exited with status $rc" >>"$log"
        fi
        grep -E '^ok [0-9]+.*# SKIP' "$log" | while read -r line; do echo "  $t: ${line#*# SKIP }"; done >>"$logs/.skips"
        pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
        if [ "$f" != 0 ]; then
                printf 'FAIL %-45s %3d passed, %d failed (%ss)\n' "$t" "$p" "$f" "$secs"
                grep -E '^not ok|^#' "$log" | head -n 40 | sed 's/^/     /'
                tail -n 15 "$log" | sed 's/^/   | /'
                fails="$fails $t"
        else
                printf 'ok   %-45s %3d passed, %d skipped (%ss)\n' "$t" "$p" "$s" "$secs"
        fi
done
if [ -s "$logs/.skips" ] || [ -n "$skips" ]; then
        echo "skipped: $skip"
        [ -n "$skips" ] && echo "$skips" | sed '/^$/d'
        [ -s "$logs/.skips" ] && cat "$logs/.skips"
fi
rm -f "$logs/.skips"
[ -n "$fails" ] && echo "failed in:$fails (logs in $logs)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
