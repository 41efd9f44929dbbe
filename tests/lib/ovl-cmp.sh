#!/bin/sh
# ovl-cmp.sh MNT OTHER TOP [LOWER...]: inside a user namespace with a private mount
# namespace, mount the overlay-form layers (top first) read-only at MNT and compare
# the merged tree with OTHER (treecmp.py).  Shows the layers work as lower dirs.
set -eu
mnt=$1 other=$2; shift 2
lower=$(printf '%s:' "$@"); lower=${lower%:}
mkdir -p "$mnt"
if [ $# = 1 ]; then     # overlay needs two lower dirs without an upper: add an empty one
        mkdir -p "$mnt.empty"; lower="$lower:$mnt.empty"
fi
mount -t overlay overlay -o "userxattr,ro,lowerdir=$lower" "$mnt"
rc=0
python3 "$(dirname "$0")/treecmp.py" "$mnt" "$other" || rc=$?
umount "$mnt"
exit $rc
