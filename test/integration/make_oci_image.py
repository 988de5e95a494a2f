#!/usr/bin/env python3
"""make_oci_image.py OUT.tar REF LAYER_DIR...: an OCI image archive for
`ctr image import`, one uncompressed layer per directory (bottom first), so
that containerd's snapshotter hands the shim real snapshot mounts."""
import hashlib
import io
import json
import sys
import tarfile


def main():
    out, ref, layer_dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
    blobs = {}

    def blob(data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    layers = []
    for d in layer_dirs:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            t.add(d, arcname=".")
        layers.append(dict(blob(buf.getvalue()),
                           mediaType="application/vnd.oci.image.layer.v1.tar"))
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(blob(config), mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": layers,
    }).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [dict(
        blob(manifest), mediaType="application/vnd.oci.image.manifest.v1+json",
        annotations={"org.opencontainers.image.ref.name": ref,
                     "io.containerd.image.name": ref})]}).encode()
    with tarfile.open(out, "w") as t:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index)
        for digest, data in blobs.items():
            add("blobs/sha256/" + digest.split(":")[1], data)


if __name__ == "__main__":
    main()
