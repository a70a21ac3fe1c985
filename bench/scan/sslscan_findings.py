#!/usr/bin/env python3
"""Turns an sslscan XML report into tlsscope-style finding ids, for the bench.

usage: sslscan_findings.py SSLSCAN.xml"""
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
found = set()
for p in root.iter("protocol"):
    if p.get("enabled") == "1":
        v = (p.get("type"), p.get("version"))
        found |= {("ssl", "2"): {"sslv2"}, ("ssl", "3"): {"sslv3"},
                  ("tls", "1.0"): {"tls1_0"}, ("tls", "1.1"): {"tls1_1"}}.get(v, set())
for c in root.iter("cipher"):
    if c.get("status") not in ("accepted", "preferred"):
        continue
    name = c.get("cipher", "")
    if "NULL" in name and "anon" not in name.lower() and not name.startswith("ADH"):
        found.add("null_cipher")
    if name.startswith(("ADH", "AECDH")) or "anon" in name:
        found.add("anonymous_cipher")
    if name.startswith("EXP"):
        found.add("export_cipher")
    if "RC4" in name:
        found.add("rc4")
    if "DES" in name or "IDEA" in name or "RC2" in name:
        found.add("sweet32")
    if c.get("dhebits") and int(c.get("dhebits")) < 2048:
        found.add("weak_dh")
for r in root.iter("renegotiation"):
    if r.get("supported") == "1" and r.get("secure") != "1":
        found.add("insecure_renegotiation")
for r in root.iter("compression"):
    if r.get("supported") == "1":
        found.add("compression")
for h in root.iter("heartbleed"):
    if h.get("vulnerable") == "1":
        found.add("heartbleed")
for f in root.iter("fallback"):
    if f.get("supported") == "0":
        found.add("no_fallback_scsv")
for k in root.iter("pk"):
    if k.get("type") == "RSA" and k.get("bits") and int(k.get("bits")) < 2048:
        found.add("weak_rsa_key")
print(",".join(sorted(found)))
