#!/bin/sh
# ovl-scenario.sh BASE: run as uid 0 of a user namespace with a private mount
# namespace.  Builds BASE/lower, mounts a real overlay (userxattr) with the upper
# dir BASE/upper, makes every kind of change a RUN can make, and unmounts.
# BASE/upper is then the layer to export.
set -eu
b=$1
mkdir -p "$b/lower/od" "$b/lower/sub" "$b/upper" "$b/work" "$b/merged"
cd "$b/lower"
echo base >mod.txt; echo del >del.txt; echo old >old.txt; echo perm >perm.txt; echo own >own.txt
echo x >od/x; echo y >od/y; echo gone >sub/gone; echo keep >sub/keep; chmod 0750 sub
mount -t overlay overlay -o "userxattr,lowerdir=$b/lower,upperdir=$b/upper,workdir=$b/work" "$b/merged"
cd "$b/merged"
echo new >new.txt                               # create
echo more >>mod.txt                             # modify (copy-up)
rm del.txt                                      # delete -> whiteout
rm -rf od && mkdir od && echo inner >od/inner   # replace a dir -> opaque
mv old.txt renamed.txt                          # rename
chmod 600 perm.txt                              # chmod
chown 1000:1000 own.txt                         # chown
ln new.txt new-link                             # hardlink
ln -s new.txt sym                               # symlink
setfattr -n user.foo -v bar new.txt             # xattr
printf '#!/bin/sh\n' >suid && chmod 4755 suid   # setuid
mkfifo fifo                                     # fifo
rm sub/gone                                     # delete in a dir -> parent copied up
long=long/$(printf 'a%.0s' $(seq 60))/$(printf 'b%.0s' $(seq 60))/$(printf 'c%.0s' $(seq 60))
mkdir -p "$long" && echo deep >"$long/$(printf 'n%.0s' $(seq 110))"  # a path over 200 chars, a name over 100
cd /
umount "$b/merged"
