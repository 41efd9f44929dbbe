#!/usr/bin/env python3
"""ocilayers.py LAYOUT TAG: print "digest diff_id" per layer of the image, bottom first."""
import json, os, sys

layout, tag = sys.argv[1], sys.argv[2]
blob = lambda d: json.load(open(os.path.join(layout, "blobs", "sha256", d.split(":")[1])))
for m in json.load(open(os.path.join(layout, "index.json")))["manifests"]:
    if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
        man = blob(m["digest"])
        cfg = blob(man["config"]["digest"])
        for l, d in zip(man["layers"], cfg["rootfs"]["diff_ids"]):
            print(l["digest"], d)
        break
else:
    sys.exit(f"no tag {tag}")
