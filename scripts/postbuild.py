#!/usr/bin/env python3
"""Trunk post-build hook: writes the precache list and a build id into sw.js.

Every file of the build (hashed app files, the worker, icons, manifest) is precached;
the build id is a hash of all of them, so any change installs a new service worker.
"""
import hashlib
import json
import os
import sys

staging = os.environ.get("TRUNK_STAGING_DIR")
if not staging:
    sys.exit("postbuild.py must run as a trunk hook (TRUNK_STAGING_DIR is not set)")

files = []
digest = hashlib.sha256()
for root, _dirs, names in os.walk(staging):
    for name in sorted(names):
        path = os.path.join(root, name)
        rel = os.path.relpath(path, staging).replace(os.sep, "/")
        if rel == "sw.js":
            continue
        files.append("/" + rel)
files.sort()
for rel in files:
    digest.update(rel.encode())
    with open(os.path.join(staging, rel[1:]), "rb") as f:
        digest.update(f.read())

sw_path = os.path.join(staging, "sw.js")
with open(sw_path, encoding="utf-8") as f:
    sw = f.read()
if "__LEDGERLINE_PRECACHE__" not in sw:
    sys.exit("sw.js has no __LEDGERLINE_PRECACHE__ placeholder")
sw = sw.replace("__LEDGERLINE_BUILD__", digest.hexdigest()[:16])
sw = sw.replace("__LEDGERLINE_PRECACHE__", json.dumps(files))
with open(sw_path, "w", encoding="utf-8") as f:
    f.write(sw)
print(f"postbuild: precache {len(files)} files, build {digest.hexdigest()[:16]}")
