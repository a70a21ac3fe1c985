#!/usr/bin/env python3
"""Compares `tlsscope observe --json` with independent expected answers.

usage: check_observe.py OBSERVE_JSONL EXPECTED [KNOWN]

EXPECTED is either an nDPI regression result (`X.out`, ndpiReader's expected
output) or a JA4 reference result (`X.json`, FoxIO's test suite).  For every
TLS flow the expected file describes, the observer's record for the same pair
of endpoints must agree on each field both sides report: SNI, ALPN offered,
negotiated version, cipher, JA3, JA3S, JA4, certificate subject, issuer and
SHA-1, and STARTTLS.  KNOWN is a JSON file of documented disagreements:
{"<capture> <field> <client>": "reason from the specification"}.  Prints TAP
lines (without a plan): one per capture and field that was compared.
"""
import json
import re
import sys

STARTTLS_PROTOS = {"SMTPS": "smtp", "IMAPS": "imap", "POPS": "pop3", "POP3S": "pop3",
                   "FTPS": "ftp", "LDAPS": "ldap", "XMPPS": "xmpp"}
IMPLICIT_TLS_PORTS = {465, 993, 995, 990, 636, 5223, 443}


def endpoint_key(ip, port):
    return (ip.strip("[]").lower(), int(port))


def pair_key(a, b):
    return frozenset([a, b])


def parse_ndpi(path):
    flows = []
    rx = re.compile(r"^\s*\d+\s+(TCP|UDP)\s+(\S+):(\d+)\s+<?->\s+(\S+):(\d+)\s+(.*)$")
    for line in open(path, encoding="utf-8", errors="replace"):
        m = rx.match(line)
        if not m:
            continue
        a = endpoint_key(m.group(2), m.group(3))
        b = endpoint_key(m.group(4), m.group(5))
        rest = m.group(6)
        fields = {}
        for k, v in re.findall(r"\[([^\]:]+?): ([^\]]*)\]", rest):
            fields.setdefault(k, v)
        flags = re.findall(r"\[(TLSv1(?:\.[0-3])?|SSLv[23])\]", rest)
        exp = {"client": a, "server": b}
        proto = fields.get("proto", "")
        master = proto.split("/")[1].split(".")[0] if "/" in proto else ""
        if m.group(1) == "UDP":
            if master == "DNS" and fields.get("Hostname/SNI"):
                flows.append({"client": a, "server": b, "dns_name": fields["Hostname/SNI"]})
            continue
        if master not in ("TLS", "") and master not in STARTTLS_PROTOS:
            continue
        if "Hostname/SNI" in fields and (master == "TLS" or master in STARTTLS_PROTOS):
            exp["sni"] = fields["Hostname/SNI"]
        if "(Advertised) ALPNs" in fields:
            exp["alpn_offered"] = fields["(Advertised) ALPNs"].replace(";", ",")
        if flags:
            exp["version"] = "TLSv1.0" if flags[0] == "TLSv1" else flags[0]
        if (master == "TLS" or master in STARTTLS_PROTOS) and "Confidence: DPI" in rest:
            exp["tls"] = True  # nDPI saw TLS bytes (not a guess from the port)
        for k, name in (("JA3C", "ja3"), ("JA3S", "ja3s"), ("JA4", "ja4")):
            if k in fields:
                exp[name] = fields[k].split()[0]
        if "Cipher" in fields:
            exp["cipher"] = fields["Cipher"]
        if "Subject" in fields:
            exp["subject"] = fields["Subject"]
        if "Issuer" in fields:
            exp["issuer"] = fields["Issuer"]
        if "Certificate SHA-1" in fields:
            exp["sha1"] = fields["Certificate SHA-1"].replace(":", "").lower()
        if master in STARTTLS_PROTOS and b[1] not in IMPLICIT_TLS_PORTS:
            exp["starttls"] = STARTTLS_PROTOS[master]
        if len(exp) > 2:
            flows.append(exp)
    return flows


def parse_ja4(path):
    flows = []
    for s in json.load(open(path)):
        ja4 = s.get("JA4.1") or s.get("JA4")
        if ja4 is None or not ja4.startswith("t"):
            continue  # QUIC ("q") and DTLS ("d") are outside what observe reads
        exp = {"client": endpoint_key(s["src"], s["srcport"]),
               "server": endpoint_key(s["dst"], s["dstport"]), "ja4": ja4}
        if s.get("domain"):
            exp["sni"] = s["domain"]
        flows.append(exp)
    return flows


def rdns(s):
    return sorted(p.strip() for p in re.split(r",\s*(?=[A-Za-z.0-9]+=)", s or "") if p.strip())


def observed_value(rec, field):
    if field == "sni":
        return rec.get("sni")
    if field == "alpn_offered":
        a = rec.get("alpn_offered")
        return ",".join(a) if a else None
    if field == "version":
        # nDPI prints the ClientHello's version when it saw no ServerHello.
        return rec.get("version") or rec.get("client_version")
    if field == "tls":
        return True
    if field == "cipher":
        return rec.get("cipher")
    if field in ("ja3", "ja3s", "ja4", "starttls"):
        return rec.get(field)
    certs = rec.get("certificates") or []
    if not certs:
        return None
    if field == "sha1":
        return certs[0].get("sha1")
    return certs[0].get(field)


def same(field, want, got, rec=None):
    if got is None:
        return False
    if field == "ja4" and rec is not None and want != got and len(want) == len(got) \
            and want[3] == "d" and got[3] == "i" and want[:3] + want[4:] == got[:3] + got[4:] \
            and not rec.get("sni"):
        # JA4 (FoxIO spec, part a, 4th character): "d" if the server_name
        # extension is present, "i" if it is not.  This ClientHello has no
        # server_name extension; nDPI writes "d" whenever it learnt a
        # hostname elsewhere (banner, certificate, ESNI).
        return True
    if field in ("subject", "issuer"):
        return rdns(want) == rdns(got)
    if field == "alpn_offered":
        return want.split(",") == got.split(",")
    return want == got


def main():
    out_path, exp_path = sys.argv[1], sys.argv[2]
    known = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else {}
    capture = exp_path.rsplit("/", 1)[-1]
    for suffix in (".out", ".json"):
        if capture.endswith(suffix):
            capture = capture[: -len(suffix)]
    recs = {}
    dns = {}
    for line in open(out_path):
        line = line.strip()
        if not line:
            continue
        o = json.loads(line)
        if o.get("type") == "dns":
            c = endpoint_key(o["client"]["ip"], o["client"]["port"])
            s = endpoint_key(o["server"]["ip"], o["server"]["port"])
            dns.setdefault(pair_key(c, s), []).append(o)
            continue
        if o.get("type") != "tls":
            continue
        c = endpoint_key(o["client"]["ip"], o["client"]["port"])
        s = endpoint_key(o["server"]["ip"], o["server"]["port"])
        recs.setdefault(pair_key(c, s), []).append(o)
    expected = parse_ndpi(exp_path) if exp_path.endswith(".out") else parse_ja4(exp_path)
    results = {}  # field -> list of (ok, message)
    for exp in expected:
        key = pair_key(exp["client"], exp["server"])
        client = "%s:%d" % exp["client"]
        cands = recs.get(key, [])
        if "dns_name" in exp:
            names = [d.get("name", "").lower() for d in dns.get(key, [])]
            ok = exp["dns_name"].lower() in names
            results.setdefault("dns name", []).append((ok, client, exp["dns_name"], names or None))
            continue
        for field, want in exp.items():
            if field in ("client", "server"):
                continue
            got = None
            ok = False
            for rec in cands:
                got = observed_value(rec, field)
                if same(field, want, got, rec):
                    ok = True
                    break
            kid = "%s %s %s" % (capture, field, client)
            if not ok and kid in known:
                ok = True
                got = "%r (known: %s)" % (got, known[kid])
            elif not ok and not cands:
                got = "no TLS record for this flow"
            results.setdefault(field, []).append((ok, client, want, got))
    n = 0
    for field in sorted(results):
        rows = results[field]
        bad = [r for r in rows if not r[0]]
        desc = "%s: %s agrees on %d flow(s)" % (capture, field, len(rows))
        if bad:
            print("not ok - %s (%d differ)" % (desc, len(bad)))
            for _, client, want, got in bad[:5]:
                print("#   %s: expected %r, observed %r" % (client, want, got))
        else:
            print("ok - " + desc)
        n += 1
    if n == 0:
        # Nothing TLS or DNS expected here: then the observer must not invent any.
        found = sum(len(v) for v in recs.values())
        if found:
            print("not ok - %s: no TLS expected, observer reported %d connection(s)" % (capture, found))
        else:
            print("ok - %s: no TLS expected, none reported" % capture)


if __name__ == "__main__":
    main()
