#!/usr/bin/env python3
"""Compares the suites `tlsscope scan --json` found with sslscan's XML.

usage: scan_compare.py SSLSCAN.xml TLSSCOPE.json REGISTRY_DIR
Prints one line per version and exits 1 when a version's set differs."""
import csv
import json
import sys
import xml.etree.ElementTree as ET

xml_path, json_path, reg = sys.argv[1:4]
code_of = {}
for name in ("tls-cipher-suites-2015.csv", "tls-cipher-suites-additions.csv"):
    with open(f"{reg}/{name}") as f:
        for row in csv.reader(line for line in f if not line.startswith("#")):
            if len(row) >= 2 and row[0].startswith("0x") and "-" not in row[0]:
                hi, lo = row[0].split(",")
                code_of[row[1]] = (int(hi, 16) << 8) | int(lo, 16)
keys = {"SSLv3": "ssl3", "TLSv1.0": "tls1_0", "TLSv1.1": "tls1_1", "TLSv1.2": "tls1_2",
        "TLSv1.3": "tls1_3"}
theirs = {k: set() for k in keys.values()}
for c in ET.parse(xml_path).getroot().iter("cipher"):
    v = keys.get(c.get("sslversion"))
    if v is not None and c.get("status") in ("accepted", "preferred"):
        theirs[v].add(int(c.get("id"), 16))
mine_json = json.loads(open(json_path).readline())
bad = 0
for v in keys.values():
    mine = set()
    for n in mine_json["ciphers"][v]:
        if n not in code_of:
            print(f"{v}: unknown name {n}")
            bad += 1
        else:
            mine.add(code_of[n])
    only_mine = sorted(mine - theirs[v])
    only_theirs = sorted(theirs[v] - mine)
    if only_mine or only_theirs:
        bad += 1
        print(f"{v}: differ: only tlsscope {[hex(x) for x in only_mine]}, "
              f"only sslscan {[hex(x) for x in only_theirs]}")
    else:
        print(f"{v}: same {len(mine)} suites")
sys.exit(1 if bad else 0)
