#!/usr/bin/env python3
"""TLS clients for the serve tests, on 127.0.0.1 only.

clients.py load PORT CA NAME N SIZE
    N concurrent clients each send SIZE(+i) random bytes in pieces while
    reading the echo; each checks the SHA-256 of what came back.  Prints
    "ok N" or the failures, exits non-zero on any failure.
clients.py flood PORT CA NAME MAXBYTES
    One client writes random data without ever reading until a write has
    been blocked for 3 s (or MAXBYTES went out), prints "sent N", and holds
    the connection open until its stdin ends.
clients.py hold PORT CA NAME N READYFILE
    N clients connect and exchange one line each, then write READYFILE and
    wait for the server to end each connection; prints how many saw a clean
    close_notify ("closed N").
"""
import asyncio
import hashlib
import os
import ssl
import sys


def context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    return ctx


async def one(i, port, ctx, name, size):
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=name)
    data = os.urandom(size + i)

    async def send():
        for off in range(0, len(data), 7001):
            w.write(data[off:off + 7001])
            await w.drain()

    t = asyncio.create_task(send())
    got = await asyncio.wait_for(r.readexactly(len(data)), 120)
    await t
    w.close()
    try:
        await w.wait_closed()
    except (ssl.SSLError, ConnectionError):
        pass
    return hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


async def load(port, ca, name, n, size):
    ctx = context(ca)
    res = await asyncio.gather(*(one(i, port, ctx, name, size) for i in range(n)),
                               return_exceptions=True)
    bad = [(i, r) for i, r in enumerate(res) if r is not True]
    if bad:
        for i, r in bad[:10]:
            print("client %d: %r" % (i, r))
        print("failed %d of %d" % (len(bad), n))
        return 1
    print("ok %d" % n)
    return 0


def hold_one(port, ctx, name, ready, results, i):
    # Blocking sockets with suppress_ragged_eofs=False: recv() returns b""
    # only for close_notify, and raises SSLEOFError for an end without it
    # (asyncio's streams cannot tell the two apart).
    import socket
    try:
        raw = socket.create_connection(("127.0.0.1", port))
        s = ctx.wrap_socket(raw, server_hostname=name, suppress_ragged_eofs=False)
        s.settimeout(60)
        s.sendall(b"hello\n")
        line = b""
        while not line.endswith(b"\n"):
            line += s.recv(100)
        assert line == b"hello\n"
    finally:
        ready.release()
    try:
        results[i] = s.recv(100) == b""
    except (ssl.SSLError, OSError):
        results[i] = False
    s.close()


def hold(port, ca, name, n, readyfile):
    import threading
    ctx = context(ca)
    ready = threading.Semaphore(0)
    results = [False] * n
    threads = [threading.Thread(target=hold_one, args=(port, ctx, name, ready, results, i))
               for i in range(n)]
    for t in threads:
        t.start()
    for _ in range(n):
        ready.acquire()
    with open(readyfile, "w") as f:
        f.write("ready\n")
    for t in threads:
        t.join()
    print("closed %d" % sum(results))
    return 0


def flood(port, ca, name, maxbytes):
    import socket
    raw = socket.create_connection(("127.0.0.1", port))
    s = context(ca).wrap_socket(raw, server_hostname=name)
    s.settimeout(3)
    sent = 0
    chunk = os.urandom(65536)
    try:
        while sent < maxbytes:
            s.sendall(chunk)
            sent += len(chunk)
    except (socket.timeout, ssl.SSLWantWriteError):
        pass
    print("sent %d" % sent, flush=True)
    sys.stdin.read()  # hold the connection until told to go
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "flood":
        sys.exit(flood(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])))
    mode, port, ca, name, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    if mode == "load":
        sys.exit(asyncio.run(load(port, ca, name, n, int(sys.argv[6]))))
    sys.exit(hold(port, ca, name, n, sys.argv[6]))
