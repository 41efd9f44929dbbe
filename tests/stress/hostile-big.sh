#!/bin/sh
# tests/stress/hostile-big.sh: t-hostile-layers.sh at the issue's full sizes
# (1,000,000 entries, a 10 GiB gzip bomb) for `make stress`; `make check` runs
# it with 1,000,000 entries and a 1 GiB bomb.  Needs the build (make all) and root.
set -u
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
IB_HOSTILE_ENTRIES=${IB_HOSTILE_ENTRIES:-1000000} IB_HOSTILE_BOMB_GIB=${IB_HOSTILE_BOMB_GIB:-10} \
IMGBUILD=${IMGBUILD:-$srcdir/build/imgbuild} IB_SRCDIR=$srcdir \
        exec sh "$srcdir/tests/run.sh" "$srcdir/tests/integration/t-hostile-layers.sh"
