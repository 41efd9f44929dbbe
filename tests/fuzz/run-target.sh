#!/bin/sh
# tests/fuzz/run-target.sh BIN SECONDS WORKDIR: run one libFuzzer target for
# SECONDS on a scratch corpus (WORKDIR/corpus-NAME, where new inputs go) plus
# the committed seeds (read only: libFuzzer writes into its FIRST corpus dir).
# Findings land in WORKDIR/ (artifact prefix), never in the source tree.
# Prints one summary line "NAME: N execs in S s (CPU C s), corpus K, cov X";
# exits non-zero on a crash, leak, timeout or out-of-memory, printing the
# reproducer's path and the sanitizer report's head.
set -u
bin=$1 secs=$2 work=$3
srcdir=${IB_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
name=$(basename "$bin"); name=${name#fuzz-}
# fuzz-image parses the same documents as fuzz-manifest: it shares its seeds
case $name in image) seeds=manifest ;; *) seeds=$name ;; esac
seeddir=$srcdir/tests/fuzz/corpus-$seeds
scratch=$work/corpus-$name
log=$work/$name.log
mkdir -p "$scratch" "$work/tmp-$name" "$work/artifacts-$name"
set -- "$scratch"
[ -d "$seeddir" ] && set -- "$scratch" "$seeddir"
# -timeout: one input may take 10 s; -rss_limit_mb: 512 MB (ASan's quarantine
# alone is up to 256 MB); leaks are findings (ASan's leak check is on).
timer=""
[ -x /usr/bin/time ] && timer="/usr/bin/time -f %U+%S -o $work/$name.time"
TMPDIR=$work/tmp-$name nice -n "${FUZZ_NICE:-0}" $timer "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=512 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts-$name/" "$@" >"$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
cov=$(grep -a -o 'cov: [0-9]*' "$log" | tail -1)
ncorp=$(ls "$scratch" | wc -l)
cpu=$(tail -1 "$work/$name.time" 2>/dev/null | awk -F+ 'NF == 2 { printf "%.0f", $1 + $2 }')
echo "$name: ${execs:-?} execs in $secs s, new corpus entries $ncorp, ${cov:-cov: ?}${cpu:+, CPU $cpu s}"
if [ $rc != 0 ]; then
        echo "$name: FINDING (exit status $rc); reproducer(s):"
        ls -d "$work/artifacts-$name"/* 2>/dev/null | sed 's/^/  /'
        echo "  re-run: $bin <reproducer>   (log: $log)"
        grep -a -m1 -A12 '^==[0-9]*==ERROR\|^==[0-9]*== ERROR\|SUMMARY\|ALARM\|out-of-memory' "$log" | head -20 | sed 's/^/  /'
        exit 1
fi
