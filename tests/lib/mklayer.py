#!/usr/bin/env python3
"""mklayer.py STORE [--gzip|--zstd|--none] [--truncate] ENTRY... [-- LAYER2...]: craft layers
blob with Python's tarfile (hostile ones too), store it as
STORE/blobs/sha256/<digest> and print "digest diff_id" (one line per layer;
layers are separated by a lone "--").
ENTRY:  f:NAME[:CONTENT]  d:NAME  l:NAME:TARGET (symlink)  h:NAME:TARGET (hardlink)
        o:NAME:UID:GID (file with that owner)  x:NAME:KEY=VALUE (file with an xattr)
        c:NAME:MAJOR:MINOR (char device)  w:NAME (file, mode 0644; for whiteouts)"""
import gzip, hashlib, io, os, subprocess, sys, tarfile

def main():
    store, rest = sys.argv[1], sys.argv[2:]
    while True:
        if "--" in rest:
            i = rest.index("--")
            layer(store, rest[:i]); rest = rest[i + 1:]
        else:
            layer(store, rest); break

def layer(store, args):
    args = list(args)
    comp, truncate = "gzip", False
    while args and args[0].startswith("--") and len(args[0]) > 2:
        a = args.pop(0)
        if a == "--truncate": truncate = True
        else: comp = a[2:]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for spec in args:
            kind, name, *rest = spec.split(":")
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            data = b""
            if kind in ("f", "w", "o", "x"):
                data = (rest[0] if kind == "f" and rest else name).encode()
                ti.mode = 0o644
                if kind == "o":
                    ti.uid, ti.gid = int(rest[0]), int(rest[1])
                if kind == "x":
                    k, v = rest[0].split("=", 1)
                    ti.pax_headers = {"SCHILY.xattr." + k: v}
            elif kind == "d":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            elif kind == "l":
                ti.type, ti.linkname = tarfile.SYMTYPE, ":".join(rest)
            elif kind == "h":
                ti.type, ti.linkname = tarfile.LNKTYPE, ":".join(rest)
            elif kind == "c":
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, int(rest[0]), int(rest[1])
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data) if data else None)
    tar = raw.getvalue()
    if comp == "gzip":
        blob = gzip.compress(tar, mtime=0)
    elif comp == "zstd":
        blob = subprocess.run(["zstd", "-q", "-c"], input=tar, stdout=subprocess.PIPE, check=True).stdout
    else:
        blob = tar
    if truncate:
        blob = blob[: len(blob) // 2]
    digest = hashlib.sha256(blob).hexdigest()
    d = os.path.join(store, "blobs", "sha256")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, digest), "wb") as f:
        f.write(blob)
    print(f"sha256:{digest} sha256:{hashlib.sha256(tar).hexdigest()}")

main()
