#!/usr/bin/env python3
"""Trunk post-build hook.

1. Release builds: minifies the app's JS glue with esbuild (trunk's own minifier cannot
   parse current wasm-bindgen output) and updates its integrity hash in index.html.
2. Writes the precache list and a build id into sw.js. Every file of the build (hashed
   app files, the workers, icons, manifest) is precached; the build id is a hash of all
   of them, so any change installs a new service worker.
3. Writes cloud-sw.js: the cloud worker's JS glue (cloud.js) wrapped so that it defines
   `ledgerline_cloud` instead of `wasm_bindgen`, for the service worker, which already has
   the shell worker's `wasm_bindgen` (two classic scripts cannot both declare it).
4. Writes precompressed .br and .gz copies of the text and wasm files (scripts/precompress.mjs)
   for servers that send them; they are not precached (the browser decodes them).
5. Writes csp.json: the Content Security Policy of this build (with the hash of the
   inline loader script), which the servers send as a header.
"""
import base64
import glob
import hashlib
import json
import os
import re
import subprocess
import sys

staging = os.environ.get("TRUNK_STAGING_DIR")
if not staging:
    sys.exit("postbuild.py must run as a trunk hook (TRUNK_STAGING_DIR is not set)")

root_dir = root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
esbuild = os.path.join(root, "node_modules", ".bin", "esbuild")
if os.environ.get("TRUNK_PROFILE") == "release" and os.path.exists(esbuild):
    index_path = os.path.join(staging, "index.html")
    with open(index_path, encoding="utf-8") as f:
        index = f.read()
    for js in glob.glob(os.path.join(staging, "ledgerline-app-*.js")):
        subprocess.run([esbuild, js, "--minify", "--format=esm", "--log-level=warning",
                        "--allow-overwrite", "--outfile=" + js], check=True)
        with open(js, "rb") as f:
            sri = "sha384-" + base64.b64encode(hashlib.sha384(f.read()).digest()).decode()
        name = re.escape(os.path.basename(js))
        index, n = re.subn(r'(href=/?%s integrity=)sha384-[A-Za-z0-9+/=]+' % name, r"\g<1>" + sri, index)
        if n == 0:
            index, n = re.subn(r'(href="?/?%s"? integrity=")sha384-[A-Za-z0-9+/=]+' % name, r"\g<1>" + sri, index)
        if n == 0:
            sys.exit("postbuild: minified %s but found no integrity attribute to update" % js)
    with open(index_path, "w", encoding="utf-8") as f:
        f.write(index)

cloud_js = os.path.join(staging, "cloud.js")
if not os.path.exists(cloud_js):
    sys.exit("postbuild: cloud.js is missing (the cloud worker was not built)")
with open(cloud_js, encoding="utf-8") as f:
    glue = f.read()
if "wasm_bindgen" not in glue:
    sys.exit("postbuild: cloud.js does not define wasm_bindgen")
with open(os.path.join(staging, "cloud-sw.js"), "w", encoding="utf-8") as f:
    # `let` inside a function scope: this script's own binding, returned under another name
    f.write("// cloud.js for the service worker (scripts/postbuild.py)\n"
            "self.ledgerline_cloud = (() => {\n" + glue + "\n;return wasm_bindgen;\n})();\n")

# The Content Security Policy of this build (csp.json): the servers send it as a
#    header (tests/support/server.mjs; deploy/ for CloudFront; README for nginx). Scripts
#    only from this origin, plus the hash of each inline script trunk writes into
#    index.html (its module loader), computed here because the hash changes with the build;
#    Trusted Types required for every script sink.
#    connect-src lists AWS; a server adds the endpoints it is configured for.
with open(os.path.join(staging, "index.html"), encoding="utf-8") as f:
    index_now = f.read()
inline = [body for attrs, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", index_now, re.S)
          if "src=" not in attrs]
hashes = ["'sha256-%s'" % base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
          for body in inline]
directives = [
    ("default-src", ["'none'"]),
    ("script-src", ["'self'", "'wasm-unsafe-eval'"] + hashes),
    ("worker-src", ["'self'"]),
    ("connect-src", ["'self'", "https://*.amazonaws.com"]),
    ("img-src", ["'self'", "data:"]),
    ("style-src", ["'self'"]),
    ("manifest-src", ["'self'"]),
    ("object-src", ["'none'"]),
    ("base-uri", ["'none'"]),
    ("form-action", ["'none'"]),
    ("frame-ancestors", ["'none'"]),
    # Trusted Types: no string reaches a script sink (innerHTML, script text, a worker's
    # URL); the only policies are the app's (platform::script_url) and its workers'
    # (static/*.js), each letting through its own worker scripts and nothing else
    ("require-trusted-types-for", ["'script'"]),
    ("trusted-types", ["ledgerline", "ledgerline-worker"]),
]
with open(os.path.join(staging, "csp.json"), "w", encoding="utf-8") as f:
    json.dump({"directives": dict(directives),
               "policy": "; ".join(k + " " + " ".join(v) for k, v in directives)}, f, indent=1)
print(f"postbuild: csp.json with {len(hashes)} inline script hash(es)")

files = []
digest = hashlib.sha256()
for root, _dirs, names in os.walk(staging):
    for name in sorted(names):
        path = os.path.join(root, name)
        rel = os.path.relpath(path, staging).replace(os.sep, "/")
        if rel in ("sw.js", "csp.json") or rel.endswith((".br", ".gz")):
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
node = os.environ.get("NODE", "node")
subprocess.run([node, os.path.join(root_dir, "scripts", "precompress.mjs"), staging], check=True)
