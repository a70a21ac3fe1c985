#!/usr/bin/env python3
"""Compares `tlsscope observe --json` with independent expected answers.

usage: check_observe.py OBSERVE_JSONL EXPECTED [OBSERVE_JSONL EXPECTED]...

EXPECTED is either an nDPI regression result (`X.out`, ndpiReader's expected
output) or a JA4 reference result (`X.json`, FoxIO's test suite).  For every
TLS flow the expected file describes, the observer's record for the same pair
of endpoints must agree on each field both sides report: SNI, ALPN offered,
negotiated version, cipher, JA3, JA3S, JA4, certificate subject, issuer and
SHA-1, and STARTTLS; DNS names must appear among the observer's DNS messages.
Where the observer rightly differs, explain() names the rule from the
specification (printed as "# explained: ...").  Prints TAP lines (without a
plan): one per capture and field that was compared.
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
        if master:
            flows.append({"client": a, "server": b, "any_tls": True})
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
        if "ECH" in fields:
            exp["ech"] = True
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


NDPI_RDN_KEYS = {"C", "ST", "L", "O", "OU", "CN"}


def rdns(s):
    """The attributes of a one-line distinguished name, in any order.  nDPI
    prints only C, ST, L, O, OU and CN, unescaped; the observer prints every
    attribute with RFC 4514 escapes."""
    parts = (p.strip().replace("\\,", ",") for p in re.split(r"(?<!\\),\s*(?=[A-Za-z.0-9]+=)", s or ""))
    return sorted(p for p in parts if p and p.split("=", 1)[0] in NDPI_RDN_KEYS)


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
    if field in ("ja3", "ja3s", "ja4", "starttls", "ech"):
        return rec.get(field)
    certs = rec.get("certificates") or []
    if not certs:
        return None
    if field == "sha1":
        return certs[0].get("sha1")
    return certs[0].get(field)


def same(field, want, got):
    if got is None:
        return False
    if field in ("subject", "issuer"):
        return rdns(want) == rdns(got)
    if field == "alpn_offered":
        return want.split(",") == got.split(",")
    return want == got


def explain(field, want, got, rec):
    """Why the observer rightly differs from the expected answer, or None.

    Each rule is decided from the specification and the bytes, never from
    the name of a capture."""
    err = rec.get("error") or ""
    if "malformed ClientHello" in err and not rec.get("ja3"):
        # A length inside the ClientHello runs past its container: the message
        # does not parse (RFC 8446 4.1.2 and the extension's own RFC), and a
        # server must answer decode_error (RFC 8446 6.2).  The observer reports
        # the error, not fingerprints of an invalid message; nDPI reads on.
        return "malformed ClientHello"
    ja4 = rec.get("ja4") or ""
    if field == "sni" and not rec.get("sni") and ja4[3:4] == "i":
        # No server_name extension in the ClientHello (JA4 says "i"): nDPI took
        # the name from the server's banner or certificate.
        return "no server_name extension"
    if field == "version" and rec.get("version") and want == rec.get("client_version"):
        # The ServerHello decides: server_version (RFC 5246 7.4.1.3), or the
        # supported_versions extension (RFC 8446 4.2.1); nDPI printed the
        # ClientHello's version.
        return "the ServerHello's version is the negotiated one"
    if field == "ja4" and got and len(want) == len(got) == 36 and want[10:] == got[10:]:
        alpn = (rec.get("alpn_offered") or [""])[0]
        if want[:3] + want[4:] == got[:3] + got[4:] and want[3] == "d" and got[3] == "i" \
                and not rec.get("sni"):
            # JA4.md: "d" if the server_name extension exists, "i" if not; nDPI
            # writes "d" when it learnt a name elsewhere.
            return "no server_name extension: JA4 says 'i'"
        if want[:8] == got[:8] and len(alpn) >= 2 and want[8:10] == alpn[:2] \
                and got[8:10] == alpn[0] + alpn[-1]:
            # JA4.md takes the first and last characters of the first ALPN
            # value ("h1" for http/1.1, its own example); nDPI 4.x the first two.
            return "JA4 takes the first and last ALPN characters"
        if want[:8] == got[:8] and want[8:10] == "99" and "?" in alpn \
                and all(ch in "0123456789abcdef" for ch in got[8:10]):
            # The reference JSON predates JA4.md's rule for non-alphanumeric
            # ALPN bytes (hex digits of the first and last byte), and prints 99.
            return "non-alphanumeric ALPN: JA4 now prints hex digits"
    return None


def main():
    args = sys.argv[1:]
    if len(args) < 2 or len(args) % 2:
        sys.exit("usage: check_observe.py OBSERVE_JSONL EXPECTED [OBSERVE_JSONL EXPECTED]...")
    for i in range(0, len(args), 2):
        check(args[i], args[i + 1])


def check(out_path, exp_path):
    capture = exp_path.rsplit("/", 1)[-1]
    for suffix in (".out", ".json"):
        if capture.endswith(suffix):
            capture = capture[: -len(suffix)]
    recs = {}
    dns = {}
    lines = [l for l in open(out_path) if l.strip()]
    try:
        objs = [json.loads(l) for l in lines]
        good = bool(objs) and objs[-1].get("type") == "summary"
    except ValueError:
        objs, good = [], False
    print("%s - %s: JSON lines ending with a summary" % ("ok" if good else "not ok", capture))
    for o in objs:
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
    explained = []
    any_tls = False
    for exp in expected:
        key = pair_key(exp["client"], exp["server"])
        client = "%s:%d" % exp["client"]
        cands = recs.get(key, [])
        if "any_tls" in exp:
            any_tls = True
            continue
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
            why = None
            for rec in cands:
                got = observed_value(rec, field)
                if same(field, want, got):
                    ok = True
                    break
                why = why or explain(field, want, got, rec)
            if not ok and why:
                ok = True
                explained.append("%s %s %s: expected %r, observed %r: %s"
                                 % (capture, field, client, want, got, why))
            elif not ok and not cands:
                got = "no TLS record for this flow"
            results.setdefault(field, []).append((ok, client, want, got))
    for line in explained:
        print("# explained: " + line)
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
    if n == 0 and any_tls:
        # TLS by port or by a fragment nDPI could not name: the observer may or
        # may not see a record; nothing to compare.
        found = sum(len(v) for v in recs.values())
        print("ok - %s: nothing to compare (observer reported %d connection(s))" % (capture, found))
    elif n == 0:
        # Nothing TLS or DNS expected here: then the observer must not invent any.
        found = sum(len(v) for v in recs.values())
        if found:
            print("not ok - %s: no TLS expected, observer reported %d connection(s)" % (capture, found))
        else:
            print("ok - %s: no TLS expected, none reported" % capture)


if __name__ == "__main__":
    main()
