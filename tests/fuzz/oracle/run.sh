#!/bin/sh
# tests/fuzz/oracle/run.sh - differential check of the .dockerignore matcher and
# of the ${v#p} ${v%p} ${v/p/r} operators against Python models of what Docker
# and BuildKit do (Docker: the regexp moby/patternmatcher builds, run with
# Python's re, which shares Go's leftmost-first semantics for these patterns;
# BuildKit: convertShellPatternToRegex + FindStringIndex/ReplaceAllString).
# Random patterns/paths/values; prints "bad 0" when everything agrees.
# Not part of `make check` (needs python3, takes ~30 s).  Usage:
#   make && sh tests/fuzz/oracle/run.sh [SEEDS...]
set -eu
here=$(dirname "$0")
out=${TMPDIR:-/tmp}/imgbuild-oracle.$$
mkdir -p "$out"
trap 'rm -rf "$out"' EXIT
libs=$(pkg-config --libs libseccomp libcap libarchive libcurl yajl libxxhash libcrypto zlib libzstd libisal)
for d in ignore shell; do
        cc -std=gnu11 -O1 -D_GNU_SOURCE -I. -o "$out/drv-$d" "$here/drv-$d.c" build/libimgbuild.a $libs -lpthread
done
for seed in ${*:-1 2 3}; do
        python3 "$here/ignore-oracle.py" "$seed" "$out/drv-ignore"
        python3 "$here/shell-pattern-oracle.py" "$seed" "$out/drv-shell"
done
