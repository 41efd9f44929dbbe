#!/usr/bin/env python3
"""mkoci.py LAYOUT TAG STORE LAYER...: assemble a minimal OCI image layout from
layer blobs in an imgbuild store (each LAYER is "digest,diff_id,size,media_type",
bottom first).  Only for tests: the real image writer lives in src/."""
import hashlib, json, os, shutil, sys

def put(layout, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)

def main():
    layout, tag, store, layers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    descs, diff_ids = [], []
    for spec in layers:
        digest, diff_id, size, mt = spec.split(",")
        shutil.copy(os.path.join(store, "blobs", "sha256", digest.split(":")[1]),
                    os.path.join(layout, "blobs", "sha256", digest.split(":")[1]))
        descs.append({"mediaType": mt, "digest": digest, "size": int(size)})
        diff_ids.append(diff_id)
    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": []}
    cd, cs = put(layout, json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
                "layers": descs}
    md, ms = put(layout, json.dumps(manifest).encode())
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)

main()
