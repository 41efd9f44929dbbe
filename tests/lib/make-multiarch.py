#!/usr/bin/env python3
"""make-multiarch.py DIR: an OCI layout holding one image index (ref name
"multi") with two single-layer images, linux/amd64 and linux/arm64.  Prints
"amd64 <manifest> <layer>" and "arm64 <manifest> <layer>" lines and
"index <digest>"."""
import gzip, hashlib, io, json, os, sys, tarfile

d = sys.argv[1]
os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)


def put(data):
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(d, "blobs", "sha256", h), "wb") as f:
        f.write(data)
    return "sha256:" + h, len(data)


def layer(text):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo("arch")
        info.size = len(text)
        info.mtime = 0
        t.addfile(info, io.BytesIO(text))
    diff = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0) as g:
        g.write(raw.getvalue())
    return gz.getvalue(), diff


entries = []
for arch in ("amd64", "arm64"):
    blob, diff = layer(("this is %s\n" % arch).encode())
    ld, ls = put(blob)
    cfg = {"architecture": arch, "os": "linux", "config": {"Cmd": ["cat", "/arch"]},
           "rootfs": {"type": "layers", "diff_ids": [diff]}}
    if arch == "arm64":
        cfg["variant"] = "v8"
    cd, cs = put(json.dumps(cfg, separators=(",", ":")).encode())
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": ls}]}
    md, ms = put(json.dumps(man, separators=(",", ":")).encode())
    plat = {"architecture": arch, "os": "linux"}
    if arch == "arm64":
        plat["variant"] = "v8"
    entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms, "platform": plat})
    print(arch, md, ld)
idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
xd, xs = put(json.dumps(idx, separators=(",", ":")).encode())
print("index", xd)
with open(os.path.join(d, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": xd, "size": xs,
                              "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}, f)
with open(os.path.join(d, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
