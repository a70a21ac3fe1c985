#!/usr/bin/env python3
"""Misbehaving peers for the integration tests, on 127.0.0.1 only.

peers.py MODE PORT [CERT KEY]
  http     answers anything with a plain-HTTP 400 and closes
  ssh      greets with an SSH banner
  silent   accepts and never speaks
  drop     reads the ClientHello, sends part of a TLS record, closes
  garbage  completes a TLS handshake (CERT, KEY), then sends bytes that are not TLS
  renegbad completes a TLS handshake (CERT, KEY); answers a handshake record
           after it (a client's renegotiation) with one that fails its MAC,
           closes on anything else
  echo     plain TCP echo (the service behind `serve --forward`)
Each connection is handled in its own thread; the process runs until killed.
"""
import socket
import ssl
import sys
import threading
import time


def http(c):
    c.recv(4096)
    c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def ssh(c):
    c.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    c.recv(4096)
    time.sleep(1)


def silent(c):
    time.sleep(60)


def drop(c):
    c.recv(4096)
    c.sendall(b"\x16\x03\x03\x00\x50" + b"\x02" * 10)


def handshake(c):
    """A server handshake over c; False when it failed or the client went away."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inb, outb, server_side=True)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            c.sendall(outb.read())
            data = c.recv(16384)
            if not data:
                return False
            inb.write(data)
        except ssl.SSLError:
            c.sendall(outb.read())   # the alert, as a real server sends it
            return False
    c.sendall(outb.read())
    return True


def garbage(c):
    if not handshake(c):
        return
    time.sleep(0.2)
    c.sendall(b"\x17\x03\x03\x00\x20" + b"this is not an encrypted record!")
    time.sleep(1)


def renegbad(c):
    if not handshake(c):
        return
    first = c.recv(1)
    if first == b"\x16":
        c.sendall(b"\x16\x03\x03\x00\x20" + b"this is not an encrypted record!")
        time.sleep(1)


def echo(c):
    while True:
        data = c.recv(65536)
        if not data:
            break
        c.sendall(data)
    c.shutdown(socket.SHUT_WR)


def serve(handler, port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(512)

    def run(c):
        try:
            handler(c)
        except OSError:
            pass
        finally:
            c.close()

    while True:
        c, _ = s.accept()
        threading.Thread(target=run, args=(c,), daemon=True).start()


if __name__ == "__main__":
    serve(globals()[sys.argv[1]], int(sys.argv[2]))
