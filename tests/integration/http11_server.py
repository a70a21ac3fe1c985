#!/usr/bin/env python3
"""A small HTTP/1.1 service for the padding tests: serves DIR (keep-alive,
HEAD, If-Modified-Since -> 304) and /chunked/N, N pseudo-random bytes
(seeded by N) sent with chunked framing, chunk extensions and a trailer.
usage: http11_server.py PORT DIR   |   http11_server.py body N (prints that body)"""
import http.server
import os
import random
import sys


def chunked_body(n):
    return random.Random(n).randbytes(n)


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.startswith("/chunked/"):
            return super().do_GET()
        body = chunked_body(int(self.path.split("/")[2]))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Trailer", "X-Done")
        self.end_headers()
        rng = random.Random(len(body) + 1)
        off = 0
        while off < len(body):
            n = min(len(body) - off, rng.randrange(1, 9000))
            self.wfile.write(b"%x;ext=%d\r\n" % (n, off) + body[off:off + n] + b"\r\n")
            off += n
        self.wfile.write(b"0\r\nX-Done: yes\r\n\r\n")


if __name__ == "__main__":
    if sys.argv[1] == "body":
        sys.stdout.buffer.write(chunked_body(int(sys.argv[2])))
        sys.exit(0)
    os.chdir(sys.argv[2])
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
