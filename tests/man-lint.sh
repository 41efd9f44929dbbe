#!/bin/bash
# Every man page is lint-clean (mandoc -T lint, warnings and up).
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
command -v mandoc >/dev/null || skip_all "mandoc not installed"
for p in "$IB_SRCDIR"/man/*.1 "$IB_SRCDIR"/man/*.7; do
        [ -f "$p" ] || continue
        ok "mandoc -T lint $(basename "$p")" mandoc -T lint -W warning "$p"
done
done_testing
