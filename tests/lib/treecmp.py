#!/usr/bin/env python3
"""treecmp.py DIR_A DIR_B   compare two overlay-form trees; exit 0 when equal.
   treecmp.py --list DIR    print the canonical listing of one tree.

Per entry (root excluded): type, mode, uid, gid, size, sha256 of the content,
symlink target, xattrs, and the hardlink group (the first path of the inode).
Whiteouts (0:0 char devices) are type 'w' and compared by type only, as their
mode and times are overlay's business; overlay's opaque marker is normalised
to 'opaque' whichever namespace (trusted/user) holds it, other *.overlay.*
xattrs are bookkeeping and ignored.  Times are not compared."""
import hashlib, os, stat, sys


def xattrs(path):
    out = []
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ""
    for n in sorted(names):
        if ".overlay." in n:
            if n.endswith(".overlay.opaque") and os.getxattr(path, n, follow_symlinks=False) == b"y":
                out.append("opaque")
            continue
        v = os.getxattr(path, n, follow_symlinks=False)
        out.append(f"{n}={v.hex()}")
    return ",".join(sorted(set(out)))


def listing(root):
    rows, first = [], {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            m = st.st_mode
            if stat.S_ISCHR(m) and st.st_rdev == 0:
                rows.append((rel, "w"))
                continue
            t = {stat.S_IFREG: "f", stat.S_IFDIR: "d", stat.S_IFLNK: "l", stat.S_IFIFO: "p",
                 stat.S_IFCHR: "c", stat.S_IFBLK: "b", stat.S_IFSOCK: "s"}[stat.S_IFMT(m)]
            size = st.st_size if t in "fl" else 0
            digest = link = group = ""
            if t == "f":
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                digest = h.hexdigest()[:16]
                if st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    group = first.setdefault(key, rel)
            if t == "l":
                link = os.readlink(p)
            if t in "cb":
                link = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
            rows.append((rel, t, f"{stat.S_IMODE(m):04o}", str(st.st_uid), str(st.st_gid), str(size),
                         digest, link, xattrs(p), group))
    rows.sort()
    return [" ".join(r) for r in rows]


def main():
    if sys.argv[1] == "--list":
        print("\n".join(listing(sys.argv[2])))
        return 0
    a, b = listing(sys.argv[1]), listing(sys.argv[2])
    if a == b:
        return 0
    import difflib
    sys.stdout.writelines(l + "\n" for l in difflib.unified_diff(a, b, sys.argv[1], sys.argv[2], lineterm="", n=1))
    return 1


sys.exit(main())
