#!/bin/bash
# make install puts the binary and every man page where man(1) finds them.
. "${IB_SRCDIR:-.}/tests/lib/tap.sh"
command -v man >/dev/null || skip_all "man is not installed"
p=$IB_TMP/prefix
ok "make install PREFIX=..." make -s -C "$IB_SRCDIR" install PREFIX="$p"
ok "the binary runs" "$p/bin/imgbuild" version
for page in "$IB_SRCDIR"/man/*.[1-8]; do
        name=$(basename "$page"); sec=${name##*.}
        like "$(MANPATH=$p/share/man man -w "$sec" "${name%.*}" 2>/dev/null)" "/man$sec/$name\$" "man -w finds ${name%.*}($sec)"
done
done_testing
