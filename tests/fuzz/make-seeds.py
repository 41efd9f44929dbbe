#!/usr/bin/env python3
"""make-seeds.py: (re)write the seed corpora of fuzz-layer-import and
fuzz-manifest under tests/fuzz/corpus-<target>/ (deterministic output; run it
from anywhere, then commit the result).

Layer seeds are "<form byte><tar>": form 0x00 = the tar as is, 0x01 = the
fuzzer gzips it first (see fuzz-layer-import.c).  They cover regular files,
dirs, symlinks, hardlinks, whiteouts and opaque dirs, PAX headers (long names,
xattrs, sub-second mtimes), GNU long names, devices and fifos, and the hostile
cases the importer must refuse (.., symlink and hardlink escapes)."""
import io, json, os, tarfile

HERE = os.path.dirname(os.path.abspath(__file__))


def entry(t, name, kind="f", data=b"", link="", pax=None, mode=None, uid=0, gid=0):
    ti = tarfile.TarInfo(name)
    ti.mtime, ti.uid, ti.gid = 1700000000, uid, gid
    ti.type = {"f": tarfile.REGTYPE, "d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE,
               "c": tarfile.CHRTYPE, "b": tarfile.BLKTYPE, "p": tarfile.FIFOTYPE}[kind]
    ti.mode = mode if mode is not None else (0o755 if kind == "d" else 0o644)
    ti.linkname = link
    if kind == "c":
        ti.devmajor, ti.devminor = 1, 3
    if pax:
        ti.pax_headers = pax
    ti.size = len(data)
    t.addfile(ti, io.BytesIO(data) if data else None)


def tar(entries, fmt=tarfile.PAX_FORMAT):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as t:
        for e in entries:
            entry(t, *e[:2], **(e[2] if len(e) > 2 else {}))
    b = raw.getvalue().rstrip(b"\0")
    # the end-of-archive blocks only, not tarfile's padding to 10 KiB records
    return b + b"\0" * (-len(b) % 512 + 1024)


LAYERS = {
    "plain": [("etc", "d"), ("etc/hostname", "f", {"data": b"box\n"}), ("bin", "d"),
              ("bin/sh", "f", {"data": b"#!x\n", "mode": 0o755}), ("bin/ash", "h", {"link": "bin/sh"}),
              ("usr/bin/env", "l", {"link": "../../bin/sh"})],
    "whiteouts": [("a", "d"), ("a/.wh.gone", "f"), ("b", "d"), ("b/.wh..wh..opq", "f"), ("b/new", "f", {"data": b"n"}),
                  (".wh.top", "f")],
    "pax": [("d" * 120 + "/" + "n" * 120, "f", {"data": b"long"}),
            ("x", "f", {"pax": {"SCHILY.xattr.user.k": "v", "SCHILY.xattr.trusted.overlay.opaque": "y",
                                "mtime": "1700000000.123456789"}}),
            ("\u00e9t\u00e9", "f", {"data": b"utf8"}),
            ("owned", "f", {"uid": 123456, "gid": 654321})],
    "special": [("dev", "d"), ("dev/null", "c"), ("dev/sda", "b"), ("run/fifo", "p"), ("setuid", "f", {"mode": 0o4755})],
    "replace": [("a", "f", {"data": b"one"}), ("a", "d"), ("a/b", "f"), ("a", "d"), ("x", "f"), ("x", "l", {"link": "a"}),
                ("y", "d"), ("y", "f")],
    "escape-dotdot": [("ok", "f"), ("../../ibescape", "f")],
    "escape-symlink": [("a", "l", {"link": "/"}), ("a/tmp/ibescape", "f")],
    "escape-symlink-up": [("sub", "d"), ("sub/up", "l", {"link": ".."}), ("sub/up/ibescape", "f")],
    "escape-hardlink": [("x", "f"), ("y", "h", {"link": "/etc/passwd"}), ("z", "h", {"link": "../../etc/passwd"})],
    "escape-dir-to-link": [("d", "d"), ("d/x", "f"), ("d", "l", {"link": "/tmp"}), ("d/ibescape", "f")],
    "hardlink-through-link": [("s", "l", {"link": "/etc"}), ("y", "h", {"link": "s/passwd"})],
    "absolute": [("/abs", "d"), ("/abs/path", "f", {"data": b"inside"}), ("./rel/./x", "f")],
}

MANIFESTS = {
    "oci-manifest": {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                     "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 1469,
                                "digest": "sha256:" + "a" * 64},
                     "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 3623807,
                                 "digest": "sha256:" + "b" * 64}],
                     "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}},
    "docker-manifest": {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7,
                                   "digest": "sha256:" + "c" * 64},
                        "layers": []},
    "oci-index": {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1, "digest": "sha256:" + "1" * 64,
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1, "digest": "sha256:" + "2" * 64,
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1, "digest": "sha256:" + "3" * 64,
         "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1, "digest": "sha256:" + "4" * 64,
         "platform": {"os": "unknown", "architecture": "unknown"},
         "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}]},
    "docker-list": {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
                    "manifests": [{"size": 1, "digest": "sha256:" + "5" * 64,
                                   "platform": {"os": "linux", "architecture": "amd64", "os.version": "x"}}]},
    "schema1": {"schemaVersion": 1, "name": "x", "tag": "latest", "fsLayers": [{"blobSum": "sha256:" + "6" * 64}]},
    "config": {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
               "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/", "User": "1:1",
                          "ExposedPorts": {"80/tcp": {}}, "Labels": {"a": "b"}, "Volumes": {"/v": {}},
                          "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000}},
               "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "7" * 64]},
               "history": [{"created_by": "RUN x", "empty_layer": True}]},
    "token": {"token": "abc.def.ghi", "access_token": "abc", "expires_in": 300, "issued_at": "2024-01-01T00:00:00Z"},
    "token-huge-expiry": {"access_token": "t", "expires_in": 9223372036854775807},
    "error": {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {"Tag": "x"}},
                         {"code": "DENIED"}]},
    "error-token-server": {"error": "invalid_grant", "error_description": "bad"},
    "bad-digest": {"schemaVersion": 2, "config": {"digest": "sha256:xyz", "size": -1}, "layers": [{"digest": 5}]},
}


def write(dirname, name, data):
    d = os.path.join(HERE, dirname)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    for name, ents in LAYERS.items():
        t = tar(ents)
        write("corpus-layer-import", name, b"\x00" + t)
        if name in ("plain", "whiteouts", "pax"):
            write("corpus-layer-import", name + ".gz", b"\x01" + t)
    write("corpus-layer-import", "gnu-longname", b"\x00" + tar([("l" * 200, "f"), ("k" * 150, "l", {"link": "t" * 150})],
                                                                fmt=tarfile.GNU_FORMAT))
    write("corpus-layer-import", "empty", b"\x00")
    for name, doc in MANIFESTS.items():
        write("corpus-manifest", name, json.dumps(doc, indent=1).encode())
    write("corpus-manifest", "not-json", b"<html>502 Bad Gateway</html>")


main()
