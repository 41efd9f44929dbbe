#!/usr/bin/env python3
"""tarlist.py BLOB [--pax-keys]: an independent judge of a layer blob (Python's
tarfile, not libarchive).  One line per member in archive order:
    type path mode uid gid size link xattrs
type: f d l h p c b; xattrs: name=hexvalue,... sorted, or '-'.
--pax-keys prints the sorted set of PAX keys used instead, and 'uname'/'gname'
when any member carries a user or group name."""
import sys, tarfile

TYPES = {tarfile.REGTYPE: "f", tarfile.AREGTYPE: "f", tarfile.DIRTYPE: "d", tarfile.SYMTYPE: "l",
         tarfile.LNKTYPE: "h", tarfile.FIFOTYPE: "p", tarfile.CHRTYPE: "c", tarfile.BLKTYPE: "b"}

def main():
    keys = set()
    with tarfile.open(sys.argv[1], "r:*") as t:
        for m in t:
            keys.update(m.pax_headers.keys())
            if m.uname: keys.add("uname")
            if m.gname: keys.add("gname")
            if len(sys.argv) > 2:
                continue
            xa = sorted(f"{k[len('SCHILY.xattr.'):]}={v.encode('utf-8', 'surrogateescape').hex()}"
                        for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr."))
            link = m.linkname if m.type in (tarfile.SYMTYPE, tarfile.LNKTYPE) else "-"
            print(TYPES.get(m.type, "?"), m.name, f"{m.mode:04o}", m.uid, m.gid, m.size, link or "-",
                  ",".join(xa) or "-")
    if len(sys.argv) > 2:
        print("\n".join(sorted(keys)))

main()
