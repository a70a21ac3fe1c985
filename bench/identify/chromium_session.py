#!/usr/bin/env python3
"""Loads pages one after the other in ONE headless Chromium session (one
profile, one tab), so that sub-resources shared by the pages come from the
browser's cache after the first page: the warm-cache victim.  Drives the
browser over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON
messages ended by NUL on file descriptors 3 and 4), waits for each page's
load event, and prints the truth, one URL a line, in the order loaded.
usage: chromium_session.py PROFILE_DIR HTTPVER(1.1|2) URL..."""
import fcntl
import json
import os
import select
import subprocess
import sys
import time

profile, httpver, urls = sys.argv[1], sys.argv[2], sys.argv[3:]
to_chrome_r, to_chrome_w = os.pipe()
from_chrome_r, from_chrome_w = os.pipe()
args = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--user-data-dir=" + profile, "--host-resolver-rules=MAP site.test 127.0.0.1",
        "--ignore-certificate-errors", "--remote-debugging-pipe", "about:blank"]
if httpver == "1.1":
    args.insert(1, "--disable-http2")


def child_fds():
    a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)   # out of the way of 3 and 4
    b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
    os.dup2(a, 3)
    os.dup2(b, 4)


proc = subprocess.Popen(args, pass_fds=(3, 4), preexec_fn=child_fds,
                        stdout=subprocess.DEVNULL, stderr=None if os.environ.get("TS_DEBUG") else subprocess.DEVNULL)
os.close(to_chrome_r)
os.close(from_chrome_w)
buf = b""
next_id = 0


def send(method, params=None, session=None):
    global next_id
    next_id += 1
    msg = {"id": next_id, "method": method, "params": params or {}}
    if session:
        msg["sessionId"] = session
    os.write(to_chrome_w, json.dumps(msg).encode() + b"\0")
    return next_id


def wait(pred, timeout=30):
    """Reads messages until pred(msg) is true; returns that message or None."""
    global buf
    end = time.time() + timeout
    while time.time() < end:
        while b"\0" in buf:
            raw, buf = buf.split(b"\0", 1)
            msg = json.loads(raw)
            if pred(msg):
                return msg
        r, _, _ = select.select([from_chrome_r], [], [], max(0.0, end - time.time()))
        if r:
            data = os.read(from_chrome_r, 65536)
            if not data:
                return None
            buf += data
    return None


try:
    i = send("Target.createTarget", {"url": "about:blank"})
    target = wait(lambda m: m.get("id") == i)["result"]["targetId"]
    i = send("Target.attachToTarget", {"targetId": target, "flatten": True})
    session = wait(lambda m: m.get("id") == i)["result"]["sessionId"]
    i = send("Page.enable", session=session)
    wait(lambda m: m.get("id") == i)
    for u in urls:
        send("Page.navigate", {"url": u}, session)
        if wait(lambda m: m.get("method") == "Page.loadEventFired") is None:
            print("chromium_session: %s did not load within 30 s" % u, file=sys.stderr)
        print(u, flush=True)
        time.sleep(2.5)   # the browser's late requests (favicon), then a pause between pages
    send("Browser.close")
    proc.wait(timeout=10)
finally:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
