#!/usr/bin/env python3
"""A scripted TLS server for `tlsscope scan` tests: answers the way old or
hostile servers did.  It speaks just enough of the wire format to send a
ServerHello, a Certificate and a ServerHelloDone; it never finishes a
handshake.

usage: scan_oldserver.py PORT MODE [CERT.pem [KEY]]
MODE:
  old       SSLv2 (SERVER-HELLO with RC4, export RC4 and 3DES), SSLv3 and TLS 1.0
            with export, RC4, 3DES and AES suites in server order; no
            renegotiation_info, DEFLATE when offered, the heartbeat extension
            and a Heartbleed-style answer to a short heartbeat, silence after an
            early ChangeCipherSpec and bad_record_mac at the next record (CCS
            injection, CVE-2014-0224), TLS_FALLBACK_SCSV ignored
  mute      answers hellos like old, then never says another word
  smallhello  old, but hangs up on a hello with more than 64 suites
  hbfixed   old, but with Heartbleed fixed (well-formed heartbeats still answered)
  garbage   random bytes in answer to every hello
  close     closes every connection at once
  stall     reads the hello and never answers
  bigrecord a handshake message that claims 16 MB, then endless filler
  smtp      an SMTP server offering STARTTLS, then TLS 1.2/1.3 by Python's ssl
            module (needs CERT.pem and KEY as the 3rd and 4th arguments)
  shareFirst  TLS 1.3 only, with one ECDSA P-256 key, settling the key share
            before it picks a certificate (as Go's crypto/tls does): a hello
            without a usable share gets a HelloRetryRequest whatever schemes
            it offers; one with a share gets a ServerHello only when it offers
            ecdsa_secp256r1_sha256
Environment: SCAN_HELLO_LOG=FILE appends each ClientHello's suites, groups,
key share groups, signature schemes and extension types as a JSON line;
SCAN_SERIAL=1 serves one connection at a time, as openssl s_server does;
SCAN_PEAK_FILE=FILE keeps the most connections the client held at once.
"""
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time

PORT, MODE = int(sys.argv[1]), sys.argv[2]
CERT = b""
if len(sys.argv) > 3:
    CERT = ssl.PEM_cert_to_DER_cert(open(sys.argv[3]).read())

SSL2_SPECS = [0x010080, 0x020080, 0x0700C0]        # RC4-MD5, EXP-RC4-MD5, DES-CBC3-MD5
SUITES = [0x0003, 0x0004, 0x000A, 0x0008, 0x002F]  # server order: export first, like old defaults
VERSIONS = (0x0300, 0x0301)


def read_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def record(ctype, version, payload):
    return struct.pack(">BHH", ctype, version, len(payload)) + payload


def hs(mtype, body):
    return struct.pack(">B", mtype) + len(body).to_bytes(3, "big") + body


def ssl2_answer(s, first5):
    length = ((first5[0] & 0x7F) << 8) | first5[1]
    body = first5[2:] + read_exact(s, length - 3)
    version, spec_len = struct.unpack(">HH", body[1:5])
    specs = body[9:9 + spec_len]
    offered = {int.from_bytes(specs[i:i + 3], "big") for i in range(0, len(specs), 3)}
    if version != 0x0002:
        return False
    chosen = [x for x in SSL2_SPECS if x in offered]
    out = struct.pack(">BBBHHHH", 4, 0, 1, 0x0002, len(CERT), 3 * len(chosen), 16) + CERT
    out += b"".join(x.to_bytes(3, "big") for x in chosen) + os.urandom(16)
    s.sendall(struct.pack(">H", 0x8000 | len(out)) + out)
    return False


def parse_hello(body):
    v = struct.unpack(">H", body[0:2])[0]
    p = 34
    p += 1 + body[p]
    n = struct.unpack(">H", body[p:p + 2])[0]
    suites = [struct.unpack(">H", body[p + 2 + i:p + 4 + i])[0] for i in range(0, n, 2)]
    p += 2 + n
    comps = list(body[p + 1:p + 1 + body[p]])
    p += 1 + body[p]
    exts = {}
    if p + 2 <= len(body):
        end = p + 2 + struct.unpack(">H", body[p:p + 2])[0]
        p += 2
        while p + 4 <= end:
            t, ln = struct.unpack(">HH", body[p:p + 4])
            exts[t] = body[p + 4:p + 4 + ln]
            p += 4 + ln
    return v, suites, comps, exts


HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")


def u16_list(b):
    return [struct.unpack(">H", b[i:i + 2])[0] for i in range(0, len(b) - 1, 2)]


def tls13_answer(s, body, suites, exts):
    """shareFirst: the answer of a TLS 1.3-only server that looks at the
    signature schemes only once it has a key share (then stops: the rest of
    a real handshake is encrypted, and the scan reads no further)."""
    alert = record(21, 0x0303, b"\x02\x28")                        # handshake_failure
    if 0x0304 not in u16_list(exts.get(0x2B, b"")[1:]):
        s.sendall(record(21, 0x0303, b"\x02\x46"))                  # protocol_version
        return
    suite = next((x for x in (0x1301, 0x1302) if x in suites), None)
    offered = u16_list(exts.get(0x0A, b"")[2:])
    group = next((g for g in (0x001D, 0x0017) if g in offered), None)
    if suite is None or group is None:
        s.sendall(alert)
        return
    shares, p, ks = exts.get(0x33, b"\x00\x00")[2:], 0, None
    while p + 4 <= len(shares):
        g, n = struct.unpack(">HH", shares[p:p + 4])
        if g == group:
            ks = shares[p + 4:p + 4 + n]
        p += 4 + n
    sid = body[35:35 + body[34]]
    if ks is None:
        random, share = HRR_RANDOM, struct.pack(">H", group)
    elif 0x0403 in u16_list(exts.get(0x0D, b"")[2:]):
        random, share = os.urandom(32), struct.pack(">HH", group, len(ks)) + os.urandom(len(ks))
    else:
        s.sendall(alert)
        return
    ext = struct.pack(">HHH", 0x2B, 2, 0x0304) + struct.pack(">HH", 0x33, len(share)) + share
    sh = struct.pack(">H", 0x0303) + random + bytes([len(sid)]) + sid
    sh += struct.pack(">HBH", suite, 0, len(ext)) + ext
    s.sendall(record(22, 0x0303, hs(2, sh)))


def tls_answer(s, first5):
    length = struct.unpack(">H", first5[3:5])[0]
    msg = read_exact(s, length)
    if first5[0] != 22 or msg[0] != 1:
        return False
    v, suites, comps, exts = parse_hello(msg[4:])
    if HELLO_LOG:
        shares, p, share_groups = exts.get(0x33, b"\x00\x00")[2:], 0, []
        while p + 4 <= len(shares):
            g, n = struct.unpack(">HH", shares[p:p + 4])
            share_groups.append(g)
            p += 4 + n
        with open(HELLO_LOG, "a") as f:
            f.write(json.dumps({"version": v, "suites": suites, "share_groups": share_groups,
                                "groups": u16_list(exts.get(0x0A, b"")[2:]),
                                "sigalgs": u16_list(exts.get(0x0D, b"")[2:]),
                                "extensions": sorted(exts)}) + "\n")
    if MODE == "shareFirst":
        return tls13_answer(s, msg[4:], suites, exts)
    if MODE == "smallhello" and len(suites) > 64:
        return False            # hangs up on a big hello, as some old servers did
    if v < 0x0300:
        s.sendall(record(21, 0x0300, b"\x02\x46"))
        return False
    version = min(v, VERSIONS[-1])
    chosen = next((x for x in SUITES if x in suites), None)
    if chosen is None:
        s.sendall(record(21, version, b"\x02\x28"))   # handshake_failure
        return False
    ext = b""
    heartbeat = 15 in exts and version >= 0x0301
    if heartbeat:
        ext += struct.pack(">HHB", 15, 1, 1)
    sh = struct.pack(">H", version) + os.urandom(32) + b"\x20" + os.urandom(32)
    sh += struct.pack(">HB", chosen, 1 if 1 in comps else 0)
    if ext:
        sh += struct.pack(">H", len(ext)) + ext
    cert = len(CERT).to_bytes(3, "big") + CERT
    flight = hs(2, sh) + hs(11, len(cert).to_bytes(3, "big") + cert) + hs(14, b"")
    s.sendall(record(22, version, flight))
    ccs_taken = False
    while True:
        h = read_exact(s, 5)
        payload = read_exact(s, struct.unpack(">H", h[3:5])[0])
        if MODE == "mute":
            continue
        if h[0] == 24 and heartbeat:
            # the bug: echo as many bytes as the request claimed
            claimed = struct.unpack(">H", payload[1:3])[0]
            if MODE == "hbfixed" and 1 + 2 + claimed + 16 > len(payload):
                continue        # the fix: a request claiming more than it carries is dropped
            s.sendall(record(24, version, b"\x02" + struct.pack(">H", claimed) +
                             os.urandom(claimed) + b"\x00" * 16))
        elif h[0] == 20:
            ccs_taken = True    # the bug: an early ChangeCipherSpec is taken silently
        elif ccs_taken:
            # and the next record is "decrypted" with keys from nothing
            s.sendall(record(21, version, b"\x02\x14"))   # bad_record_mac
            return False
        else:
            return False


def smtp(c):
    f = c.makefile("rb")
    c.sendall(b"220 scan.test ESMTP\r\n")
    while True:
        line = f.readline(1000)
        if not line:
            return
        cmd = line.strip().upper()
        if cmd.startswith(b"EHLO"):
            c.sendall(b"250-scan.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
        elif cmd == b"STARTTLS":
            c.sendall(b"220 2.0.0 Ready to start TLS\r\n")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(sys.argv[3], sys.argv[4])
            t = ctx.wrap_socket(c, server_side=True)
            t.recv(100)
            return
        else:
            c.sendall(b"502 5.5.2 Error\r\n")


PEAK_FILE = os.environ.get("SCAN_PEAK_FILE")
HELLO_LOG = os.environ.get("SCAN_HELLO_LOG")
SERIAL = os.environ.get("SCAN_SERIAL") == "1"
OPEN = []                # sockets accepted, for counting the ones the client still holds
PEAK = [0]


def client_holds(s):
    """True while the client has not closed its end: the kernel's TCP state
    (CLOSE_WAIT once the client's FIN came), which also holds when bytes the
    client sent are still unread (a peek would see those, not the FIN)."""
    try:
        state = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    except OSError:
        return False
    return state == 1   # TCP_ESTABLISHED


def count_peak(new):
    OPEN[:] = [s for s in OPEN if s.fileno() >= 0 and client_holds(s)]
    OPEN.append(new)
    if len(OPEN) > PEAK[0]:
        PEAK[0] = len(OPEN)
        with open(PEAK_FILE, "w") as f:
            f.write(f"{PEAK[0]}\n")


def serve(c):
    try:
        c.settimeout(30)
        if MODE == "close":
            return
        if MODE == "smtp":
            return smtp(c)
        first = read_exact(c, 5)
        if MODE == "garbage":
            c.sendall(os.urandom(200))
            time.sleep(0.2)
        elif MODE == "stall":
            time.sleep(30)
        elif MODE == "bigrecord":
            c.sendall(b"\x16\x03\x03\x40\x00\x02\xff\xff\xff")
            while True:
                c.sendall(b"\x00" * 16384)
        elif first[0] & 0x80 and MODE != "shareFirst":
            ssl2_answer(c, first)
        else:
            tls_answer(c, first)
    except (EOFError, OSError, ssl.SSLError):
        pass
    finally:
        c.close()


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", PORT))
ls.listen(64)
while True:
    conn, _ = ls.accept()
    if PEAK_FILE:
        count_peak(conn)
    if SERIAL:
        serve(conn)
    else:
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
