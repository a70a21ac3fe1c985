#!/usr/bin/env python3
"""A scripted STARTTLS server for the integration tests.

Replays each protocol's real dialogue (greeting, capabilities, the request to
upgrade, the go-ahead), then performs a real TLS handshake with the given
certificate.  Modes make it misbehave the ways real servers (and attackers) do:

  good          the normal dialogue, then TLS
  not-offered   capabilities without the upgrade
  error-reply   the upgrade is refused with the protocol's error reply
  pipelined     extra plaintext bytes follow the go-ahead in the same write
  stall         goes silent where the client waits for the capabilities
  huge-greeting a first message of about 100 kB

Usage: [TS_NO_TICKETS=1] starttls_server.py CERT KEY PORTFILE PROTO:MODE...
Listens on 127.0.0.1, one free port for each PROTO:MODE, writes "PROTO MODE PORT"
lines to PORTFILE once all listen, and serves each connection in a thread until
it is killed.
"""
import os
import socket
import ssl
import struct
import sys
import threading

HUGE = 100 * 1024


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _more(self, limit=4096):
        chunk = self.sock.recv(limit)
        if not chunk:
            raise EOFError
        self.buf += chunk

    def line(self):
        while b"\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("latin-1")

    def until(self, marker):
        marker = marker.encode() if isinstance(marker, str) else marker
        while marker not in self.buf:
            self._more()
        i = self.buf.index(marker) + len(marker)
        data, self.buf = self.buf[:i], self.buf[i:]
        return data.decode("latin-1")

    def exact(self, n):
        # never read past the n bytes: a MySQL client sends its ClientHello
        # right after the SSLRequest packet, without waiting for an answer
        while len(self.buf) < n:
            self._more(n - len(self.buf))
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def hold(self):
        """Say nothing more; wait until the client gives up."""
        try:
            while self.sock.recv(4096):
                pass
        except OSError:
            pass


class Refused(Exception):
    """The script ended the dialogue on purpose (not-offered, error-reply, ...)."""


def expect(got, want):
    if not got.upper().startswith(want.upper()):
        raise Refused("client sent %r, wanted %r" % (got, want))


def go_ahead(c, mode, text, junk):
    if mode == "error-reply":
        raise AssertionError("go_ahead called in error-reply mode")
    if isinstance(text, str):
        text, junk = text.encode(), junk.encode()
    c.send(text + (junk if mode == "pipelined" else b""))


def huge_lines(prefix, last):
    line = prefix + "x" * 70 + "\r\n"
    return line * (HUGE // len(line) + 1) + last


# ---- one function per protocol: returns when TLS should start ----

def smtp_like(c, mode, hello):
    if mode == "huge-greeting":
        c.send(huge_lines("220-", "220 mx.example.test ESMTP\r\n"))
        c.hold()
        raise Refused
    c.send("220 mx.example.test ESMTP Postfix (Debian/GNU)\r\n")
    expect(c.line(), hello + " ")
    if mode == "stall":
        c.hold()
        raise Refused
    caps = ["mx.example.test", "PIPELINING", "SIZE 10240000", "VRFY", "ETRN"]
    if mode != "not-offered":
        caps.append("STARTTLS")
    caps += ["ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"]
    c.send("".join("250%s%s\r\n" % ("-" if i < len(caps) - 1 else " ", cap) for i, cap in enumerate(caps)))
    if mode == "not-offered":
        c.line()
        c.send("502 5.5.1 Error: command not implemented\r\n")
        raise Refused
    expect(c.line(), "STARTTLS")
    if mode == "error-reply":
        c.send("454 4.7.0 TLS not available due to local problem\r\n")
        raise Refused
    go_ahead(c, mode, "220 2.0.0 Ready to start TLS\r\n", "250 2.1.0 Ok injected\r\n")


def smtp(c, mode):
    smtp_like(c, mode, "EHLO")


def lmtp(c, mode):
    smtp_like(c, mode, "LHLO")


def imap(c, mode):
    if mode == "huge-greeting":
        c.send("* OK [CAPABILITY IMAP4rev1 " + "X-FILLER " * (HUGE // 9) + "STARTTLS] ready\r\n")
        c.hold()
        raise Refused
    caps = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+"
    if mode != "not-offered":
        caps += " STARTTLS"
    caps += " LOGINDISABLED"
    c.send("* OK [CAPABILITY %s] Dovecot (Debian) ready.\r\n" % caps)
    tag, cmd = c.line().split(" ", 1)
    expect(cmd, "CAPABILITY")
    if mode == "stall":
        c.hold()
        raise Refused
    c.send("* CAPABILITY %s\r\n%s OK Pre-login capabilities listed, post-login capabilities have more.\r\n"
           % (caps, tag))
    if mode == "not-offered":
        raise Refused
    tag, cmd = c.line().split(" ", 1)
    expect(cmd, "STARTTLS")
    if mode == "error-reply":
        c.send("%s BAD [ALERT] TLS support isn't enabled.\r\n" % tag)
        raise Refused
    go_ahead(c, mode, "%s OK Begin TLS negotiation now.\r\n" % tag, "* OK [ALERT] injected\r\n")


def pop3(c, mode):
    if mode == "huge-greeting":
        c.send("+OK " + "x" * HUGE + "\r\n")
        c.hold()
        raise Refused
    c.send("+OK Dovecot (Debian) ready.\r\n")
    first = c.line()
    if first.upper() == "STLS" and mode == "good":  # openssl s_client skips CAPA
        go_ahead(c, mode, "+OK Begin TLS negotiation now.\r\n", "")
        return
    expect(first, "CAPA")
    if mode == "stall":
        c.hold()
        raise Refused
    caps = ["CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"]
    if mode != "not-offered":
        caps.append("STLS")
    caps.append("SASL")
    c.send("+OK\r\n" + "".join(x + "\r\n" for x in caps) + ".\r\n")
    if mode == "not-offered":
        raise Refused
    expect(c.line(), "STLS")
    if mode == "error-reply":
        c.send("-ERR TLS support isn't enabled.\r\n")
        raise Refused
    go_ahead(c, mode, "+OK Begin TLS negotiation now.\r\n", "+OK injected\r\n")


def ftp(c, mode):
    if mode == "huge-greeting":
        c.send(huge_lines("220-", "220 ready\r\n"))
        c.hold()
        raise Refused
    c.send("220-Welcome to the example FTP service.\r\n This banner has two lines.\r\n220 (vsFTPd 3.0.3)\r\n")
    first = c.line()
    if first.upper() == "AUTH TLS" and mode == "good":  # openssl s_client skips FEAT
        go_ahead(c, mode, "234 Proceed with negotiation.\r\n", "")
        return
    expect(first, "FEAT")
    if mode == "stall":
        c.hold()
        raise Refused
    feats = [" EPRT", " EPSV", " MDTM", " PASV"]
    if mode != "not-offered":
        feats += [" AUTH TLS", " PBSZ", " PROT"]
    feats += [" REST STREAM", " SIZE", " TVFS", " UTF8"]
    c.send("211-Features:\r\n" + "".join(f + "\r\n" for f in feats) + "211 End\r\n")
    if mode == "not-offered":
        raise Refused
    expect(c.line(), "AUTH TLS")
    if mode == "error-reply":
        c.send("530 Please login with USER and PASS.\r\n")
        raise Refused
    go_ahead(c, mode, "234 Proceed with negotiation.\r\n", "230 Login successful (injected).\r\n")


def nntp(c, mode):
    if mode == "huge-greeting":
        c.send("200 " + "x" * HUGE + "\r\n")
        c.hold()
        raise Refused
    c.send("200 news.example.test InterNetNews NNRP server INN 2.7.0 ready (posting ok)\r\n")
    expect(c.line(), "CAPABILITIES")
    if mode == "stall":
        c.hold()
        raise Refused
    caps = ["VERSION 2", "IMPLEMENTATION INN 2.7.0", "READER", "POST", "LIST ACTIVE HEADERS NEWSGROUPS"]
    if mode != "not-offered":
        caps.append("STARTTLS")
    c.send("101 Capability list:\r\n" + "".join(x + "\r\n" for x in caps) + ".\r\n")
    if mode == "not-offered":
        raise Refused
    expect(c.line(), "STARTTLS")
    if mode == "error-reply":
        c.send("580 Can not initiate TLS negotiation\r\n")
        raise Refused
    go_ahead(c, mode, "382 Continue with TLS negotiation\r\n", "200 injected\r\n")


def sieve(c, mode):
    if mode == "huge-greeting":
        c.send("".join('"X-FILLER-%06d" "%s"\r\n' % (i, "x" * 60) for i in range(HUGE // 70 + 1)) + "OK\r\n")
        c.hold()
        raise Refused
    if mode == "stall":
        c.send('"IMPLEMENTATION" "Dovecot Pigeonhole"\r\n')
        c.hold()
        raise Refused
    lines = ['"IMPLEMENTATION" "Dovecot Pigeonhole"', '"SIEVE" "fileinto reject envelope encoded-character"',
             '"NOTIFY" "mailto"', '"SASL" ""']
    if mode != "not-offered":
        lines.append('"STARTTLS"')
    lines += ['"VERSION" "1.0"', 'OK "Dovecot (Debian) ready."']
    c.send("".join(x + "\r\n" for x in lines))
    if mode == "not-offered":
        raise Refused
    expect(c.line(), "STARTTLS")
    if mode == "error-reply":
        c.send('NO "TLS support isn\'t enabled."\r\n')
        raise Refused
    go_ahead(c, mode, 'OK "Begin TLS negotiation now."\r\n', 'OK "injected"\r\n')


def irc(c, mode):
    if mode == "huge-greeting":
        c.send(huge_lines(":irc.example.test NOTICE * :", ""))
        c.hold()
        raise Refused
    c.send(":irc.example.test NOTICE * :*** Looking up your hostname...\r\n")
    first = c.line()
    if first.upper() == "STARTTLS" and mode == "good":  # openssl s_client skips CAP LS
        go_ahead(c, mode, ":irc.example.test 670 * :STARTTLS successful, proceed with TLS handshake\r\n", "")
        return
    expect(first, "CAP LS")
    if mode == "stall":
        c.hold()
        raise Refused
    caps = "account-notify away-notify extended-join multi-prefix sasl"
    if mode != "not-offered":
        caps += " tls"
    c.send(":irc.example.test NOTICE * :*** Found your hostname\r\n:irc.example.test CAP * LS :%s\r\n" % caps)
    if mode == "not-offered":
        raise Refused
    expect(c.line(), "STARTTLS")
    if mode == "error-reply":
        c.send(":irc.example.test 691 * :STARTTLS failed (Internal error)\r\n")
        raise Refused
    go_ahead(c, mode, ":irc.example.test 670 * :STARTTLS successful, proceed with TLS handshake\r\n",
             ":irc.example.test 001 victim :Welcome (injected)\r\n")


def xmpp_like(c, mode, ns):
    header = c.until(">")
    if "<?xml" in header:
        header = c.until(">")
    expect(header, "<stream:stream")
    if mode == "huge-greeting":
        c.send("<?xml version='1.0'?><stream:stream xmlns='%s' version='1.0'><stream:features>" % ns
               + "<x-filler/>" * (HUGE // 11 + 1))
        c.hold()
        raise Refused
    c.send("<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='http://etherx.jabber.org/streams' "
           "id='5b1e8c6a' from='example.test' version='1.0' xml:lang='en'>" % ns)
    if mode == "stall":
        c.hold()
        raise Refused
    feats = ""
    if mode != "not-offered":
        feats += "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
    feats += "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>"
    c.send("<stream:features>%s</stream:features>" % feats)
    if mode == "not-offered":
        raise Refused
    expect(c.until("/>"), "<starttls")
    if mode == "error-reply":
        c.send("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>")
        raise Refused
    go_ahead(c, mode, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
             "<message to='victim@example.test'><body>injected</body></message>")


def xmpp(c, mode):
    xmpp_like(c, mode, "jabber:client")


def xmpp_server(c, mode):
    xmpp_like(c, mode, "jabber:server")


def ber(tag, body):
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    lb = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(lb)]) + lb + body


def ldap(c, mode):
    head = c.exact(2)
    if head[0] != 0x30:
        raise Refused("not an LDAP message")
    body = c.exact(head[1])
    if b"1.3.6.1.4.1.1466.20037" not in body:
        raise Refused("not StartTLS")
    if mode == "stall":
        c.hold()
        raise Refused
    if mode == "huge-greeting":
        resp = ber(0x30, ber(0x02, b"\x01") + ber(0x78, ber(0x0a, b"\x00") + ber(0x04, b"") +
                                                  ber(0x04, b"x" * HUGE)))
        c.send(resp)
        c.hold()
        raise Refused
    if mode == "not-offered":
        code, diag = 2, b"unsupported extended operation"
    elif mode == "error-reply":
        code, diag = 52, b"TLS already started or not configured"
    else:
        code, diag = 0, b""
    resp = ber(0x30, ber(0x02, b"\x01") + ber(0x78, ber(0x0a, bytes([code])) + ber(0x04, b"") + ber(0x04, diag) +
                                              (ber(0x8a, b"1.3.6.1.4.1.1466.20037") if code == 0 else b"")))
    if code != 0:
        c.send(resp)
        raise Refused
    go_ahead(c, mode, resp, b"\x30\x05\x02\x01\x02\x42\x00")


def postgres(c, mode):
    req = c.exact(8)
    if req != b"\x00\x00\x00\x08\x04\xd2\x16\x2f":
        raise Refused("not an SSLRequest")
    if mode == "stall":
        c.hold()
        raise Refused
    if mode == "huge-greeting":
        c.send(b"E" + struct.pack(">I", HUGE + 4) + b"SFATAL\x00M" + b"x" * HUGE)
        c.hold()
        raise Refused
    if mode == "not-offered":
        c.send(b"N")
        raise Refused
    if mode == "error-reply":
        msg = b"SFATAL\x00VFATAL\x00C08P01\x00Munsupported frontend protocol 1234.5679\x00\x00"
        c.send(b"E" + struct.pack(">I", len(msg) + 4) + msg)
        raise Refused
    go_ahead(c, mode, b"S", b"R\x00\x00\x00\x08\x00\x00\x00\x00")


def mysql(c, mode):
    if mode == "huge-greeting":
        c.send(struct.pack("<I", HUGE)[:3] + b"\x00" + b"\x0a" + b"x" * (HUGE - 1))
        c.hold()
        raise Refused
    if mode == "error-reply":
        msg = b"Host '127.0.0.1' is blocked because of many connection errors"
        payload = b"\xff" + struct.pack("<H", 1129) + msg
        c.send(struct.pack("<I", len(payload))[:3] + b"\x00" + payload)
        raise Refused
    if mode == "stall":
        c.hold()
        raise Refused
    caps = 0xf7fe | 0x0800 | (0x81bf << 16)
    if mode == "not-offered":
        caps &= ~0x0800
    payload = (b"\x0a" + b"10.11.6-MariaDB-0+deb12u1\x00" + struct.pack("<I", 42) + b"abcdefgh" + b"\x00" +
               struct.pack("<H", caps & 0xffff) + b"\x21" + struct.pack("<H", 2) + struct.pack("<H", caps >> 16) +
               b"\x15" + b"\x00" * 10 + b"ijklmnopqrst\x00" + b"mysql_native_password\x00")
    packet = struct.pack("<I", len(payload))[:3] + b"\x00" + payload
    if mode == "pipelined":
        c.send(packet + b"\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00")
        c.hold()
        raise Refused
    c.send(packet)
    if mode == "not-offered":
        c.hold()
        raise Refused
    head = c.exact(4)
    size = head[0] | head[1] << 8 | head[2] << 16
    body = c.exact(size)
    if size != 32 or not (struct.unpack("<I", body[:4])[0] & 0x0800):
        raise Refused("not an SSLRequest")


PROTOCOLS = {
    "smtp": smtp, "lmtp": lmtp, "imap": imap, "pop3": pop3, "ftp": ftp, "xmpp": xmpp,
    "xmpp-server": xmpp_server, "ldap": ldap, "postgres": postgres, "mysql": mysql, "nntp": nntp,
    "sieve": sieve, "irc": irc,
}
MODES = ("good", "not-offered", "error-reply", "pipelined", "stall", "huge-greeting")


def serve(sock, proto, mode, ctx):
    c = Conn(sock)
    try:
        PROTOCOLS[proto](c, mode)
    except (Refused, EOFError, OSError, ValueError) as e:
        if str(e):
            sys.stderr.write("starttls_server: %s %s: %s\n" % (proto, mode, e))
        c.hold()
        sock.close()
        return
    try:
        tls = ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        if c.buf:  # a client must wait for the go-ahead before its ClientHello
            raise Refused("client pipelined data before TLS")
        tls.settimeout(10)
        tls.do_handshake()
        try:
            while tls.recv(4096):
                pass
        except (OSError, ssl.SSLError):
            pass
        tls.close()
    except (Refused, OSError, ssl.SSLError) as e:
        sys.stderr.write("starttls_server: %s %s: TLS: %s\n" % (proto, mode, e))
        sock.close()


def listen(spec, ctx):
    proto, mode = spec
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)

    def loop():
        while True:
            sock, _ = lsock.accept()
            threading.Thread(target=serve, args=(sock, proto, mode, ctx), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return lsock.getsockname()[1]


def main():
    specs = []
    for arg in sys.argv[4:]:
        proto, _, mode = arg.partition(":")
        if proto not in PROTOCOLS or mode not in MODES:
            specs = []
            break
        specs.append((proto, mode))
    if len(sys.argv) < 5 or not specs:
        sys.stderr.write("usage: starttls_server.py CERT KEY PORTFILE PROTO:MODE...\n  PROTO: %s\n  MODE: %s\n"
                         % (" ".join(PROTOCOLS), " ".join(MODES)))
        sys.exit(2)
    cert, key, portfile = sys.argv[1:4]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if os.environ.get("TS_NO_TICKETS"):
        ctx.num_tickets = 0    # TLS 1.3 without session tickets
    lines = ["%s %s %d\n" % (proto, mode, listen((proto, mode), ctx)) for proto, mode in specs]
    with open(portfile + ".tmp", "w") as f:
        f.writelines(lines)
    os.rename(portfile + ".tmp", portfile)
    threading.Event().wait()


if __name__ == "__main__":
    main()
