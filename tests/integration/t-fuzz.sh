#!/bin/bash
# fuzz: build every libFuzzer target (make fuzz, clang) and run each for a short
# bounded time on a scratch corpus plus its committed seeds; a crash, leak,
# timeout or out-of-memory fails the point and prints the reproducer's path.
# The long runs are `make stress` (tests/stress/fuzz-long.sh).
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
secs=${IB_FUZZ_SECONDS:-7}
command -v clang >/dev/null || skip_all "clang is not installed (tests/deps.sh installs it)"
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' >"$IB_TMP/probe.c"
clang -fsanitize=fuzzer -o "$IB_TMP/probe" "$IB_TMP/probe.c" 2>"$IB_TMP/probe.err" ||
        skip_all "clang cannot link -fsanitize=fuzzer (libclang-rt-14-dev missing?): $(head -1 "$IB_TMP/probe.err")"

# Where the layer importer writes: tmpfs when there is one (a disk makes that
# target ~20x slower through ext4's flush-on-rename), else our temp dir.
work=$(mktemp -d /dev/shm/ib-fuzz.XXXXXX 2>/dev/null) && on_exit "rm -rf '$work'" || work=$IB_TMP/work

out=$(cd "$IB_SRCDIR" && nice -n 10 make -j2 --no-print-directory fuzz 2>&1)
ok_build=$?
is "$ok_build" 0 "make fuzz builds every target" || printf '%s\n' "$out" | tail -20 | sed 's/^/#   /'
for src in "$IB_SRCDIR"/tests/fuzz/fuzz-*.c; do
        name=$(basename "$src" .c)
        bin=$IB_SRCDIR/build-fuzz/$name
        if [ ! -x "$bin" ]; then
                is "missing" "built" "$name: no binary"
                continue
        fi
        res=$(sh "$IB_SRCDIR/tests/fuzz/run-target.sh" "$bin" "$secs" "$work" 2>&1)
        rc=$?
        if [ $rc != 0 ]; then
                # keep the reproducer where it survives our cleanup
                mkdir -p "$IB_SRCDIR/build-fuzz/findings"
                cp -r "$work/artifacts-${name#fuzz-}"/. "$IB_SRCDIR/build-fuzz/findings/" 2>/dev/null
                res="$res
reproducers copied to $IB_SRCDIR/build-fuzz/findings/"
        fi
        is "$rc" 0 "$name: ${secs} s without a finding" || diag "$res"
        printf '%s\n' "$res" | head -1 | sed 's/^/# /'
done
done_testing
