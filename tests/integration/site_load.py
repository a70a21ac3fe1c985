#!/usr/bin/env python3
"""A victim that loads pages of a catalogued site with curl, as a browser
would: the page, then its sub-resources (cold cache) or only the ones not
fetched before (warm cache), with the browser's request headers.  Prints the truth: one line per
page load, "URL" in the order loaded.

usage: site_load.py CATALOG CA RESOLVE TLSVER HTTPVER MODE URL...
  TLSVER  1.2 | 1.3      HTTPVER  1.1 | 2
  MODE    cold   one connection per page, page + sub-resources
          warm   one connection per page, the page and the sub-resources
                 no earlier page fetched (one cache for the whole session)
          keepalive  every page over one connection: the first with its
                 sub-resources, the others from a warm cache
          parallel   per page: the page, then its sub-resources over up to
                 6 parallel connections (curl --parallel)"""
import json
import subprocess
import sys
import time

catalog, ca, resolve, tlsver, httpver, mode = sys.argv[1:7]
urls = sys.argv[7:]
cat = json.load(open(catalog))
pages = {p["url"]: p for p in cat["pages"]}
base = ["curl", "-s", "-L", "--fail-with-body", "--cacert", ca, "--resolve", resolve,
        "--tlsv" + tlsver, "--tls-max", tlsver,
        "--http1.1" if httpver == "1.1" else "--http2",
        "-H", "User-Agent: " + cat["user_agent"],
        "-H", "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "-H", "Accept-Language: en-US,en;q=0.9",
        "-H", "Accept-Encoding: " + cat["accept_encoding"]]

def fetch(targets, extra=()):
    args = list(base) + list(extra)
    for t in targets:
        args += ["-o", "/dev/null", t]
    subprocess.run(args, check=True, timeout=60)

def subs(url):
    return pages[url].get("subresources", [])

if mode == "keepalive":
    targets = []
    for i, u in enumerate(urls):
        targets += [u] + (subs(u) if i == 0 else [])
    fetch(targets)
else:
    cached = set()
    for u in urls:
        if mode == "cold":
            fetch([u] + subs(u))
        elif mode == "warm":
            fetch([u] + [s for s in subs(u) if s not in cached])
            cached.update(subs(u))
        elif mode == "parallel":
            fetch([u])
            if subs(u):
                fetch(subs(u), ["--parallel", "--parallel-max", "6"])
        time.sleep(0.3)
for u in urls:
    print(u)
