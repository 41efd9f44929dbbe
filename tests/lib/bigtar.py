#!/usr/bin/env python3
"""bigtar.py STORE KIND ARG: write a large hostile layer blob into STORE's
blobs/ without holding it in memory, print "digest diff_id".
  many N     N empty files (1000 per dir), ustar headers from a template
             (tarfile is far too slow for a million entries); gzip level 1
  deep N     one file N dirs deep (path "d/d/.../d/f" in a PAX header); gzip
  bomb GIB   one GIB GiB file of zeros as concatenated gzip members of 1 MiB
             each (every member is the same bytes, so this is fast); the
             diff_id printed is the real one (the tar is hashed as generated)"""
import gzip, hashlib, os, sys, zlib

BLOCK = 512


def header(name, size=0, typeflag=b"0", mode=0o644):
    h = bytearray(BLOCK)
    h[0:len(name)] = name
    h[100:108] = b"%07o\0" % mode
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"%011o\0" % 1700000000
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[257:265] = b"ustar\x0000"
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def pax(path):
    rec = b" path=" + path + b"\n"
    n = len(rec) + 1
    while len(b"%d" % n) + len(rec) != n:
        n = len(b"%d" % n) + len(rec)
    body = b"%d" % n + rec
    return header(b"././@PaxHeader", len(body), b"x") + body + b"\0" * (-len(body) % BLOCK)


class Out:
    """Streams the tar through sha256 (diff_id), a compressor and sha256 (digest) into the store."""

    def __init__(self, store, compress=True):
        self.dir = os.path.join(store, "blobs", "sha256")
        os.makedirs(self.dir, exist_ok=True)
        self.tmp = os.path.join(self.dir, ".bigtar-%d" % os.getpid())
        self.f = open(self.tmp, "wb")
        self.diff, self.dig = hashlib.sha256(), hashlib.sha256()
        self.z = zlib.compressobj(1, zlib.DEFLATED, 31) if compress else None

    def raw(self, b):
        self.dig.update(b)
        self.f.write(b)

    def write(self, b):
        self.diff.update(b)
        self.raw(self.z.compress(b) if self.z else b)

    def close(self):
        self.write(b"\0" * (2 * BLOCK))
        if self.z:
            self.raw(self.z.flush())
        self.f.close()
        d = self.dig.hexdigest()
        os.rename(self.tmp, os.path.join(self.dir, d))
        print("sha256:%s sha256:%s" % (d, self.diff.hexdigest()))


def many(store, n):
    o, buf = Out(store), []
    for i in range(0, n, 1000):
        buf.append(header(b"d%04d/" % (i // 1000), 0, b"5", 0o755))
        for j in range(i, min(n, i + 1000)):
            buf.append(header(b"d%04d/f%07d" % (i // 1000, j)))
        o.write(b"".join(buf))
        buf = []
    o.close()


def deep(store, n):
    o = Out(store)
    o.write(pax(b"d/" * n + b"f") + header(b"deep-file", 4) + b"deep" + b"\0" * (BLOCK - 4))
    o.close()


def bomb(store, gib):
    size = gib << 30
    o, mib = Out(store, compress=False), 1 << 20
    zeros = b"\0" * mib
    member = gzip.compress(zeros, compresslevel=9, mtime=0)
    o.raw(gzip.compress(header(b"bomb", size), mtime=0))
    o.diff.update(header(b"bomb", size))
    for _ in range(size // mib):
        o.raw(member)
        o.diff.update(zeros)
    o.diff.update(b"\0" * (2 * BLOCK))
    o.raw(gzip.compress(b"\0" * (2 * BLOCK), mtime=0))
    o.f.close()
    d = o.dig.hexdigest()
    os.rename(o.tmp, os.path.join(o.dir, d))
    print("sha256:%s sha256:%s" % (d, o.diff.hexdigest()))


{"many": many, "deep": deep, "bomb": bomb}[sys.argv[2]](sys.argv[1], int(sys.argv[3]))
