#!/usr/bin/env python3
"""Writes a small static site for the catalog/identify tests into DIR.

Pages of varied sizes that link to each other, a stylesheet that pulls an
image and a font through url(), a script, images, a favicon.  The text is
pseudo-random (seeded) so that gzip leaves the pages different sizes.
usage: site_gen.py DIR [PAGES]"""
import os
import random
import sys

out = sys.argv[1]
n_pages = int(sys.argv[2]) if len(sys.argv) > 2 else 14
rng = random.Random(7)
words = ("tls record cipher suite handshake observer padding server client certificate "
         "chain trust key exchange session ticket alert version extension group curve "
         "signature hash nonce tag length burst page size catalog crawl link").split()

def para(n):
    return " ".join(rng.choice(words) for _ in range(n))

def write(path, data):
    path = os.path.join(out, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

write("css/site.css", "body { background: url('../img/bg.png'); font-family: Serif }\n"
      "@font-face { font-family: T; src: url(\"../fonts/t.woff2\") format('woff2'); }\n"
      "/* url(ignored-in-comment.png) */\n" + "".join(
          ".c%d { margin: %dpx; color: #%06x }\n" % (i, i, rng.randrange(1 << 24)) for i in range(60)))
write("css/print.css", "@media print { body { color: black } }\n" * 10)
write("js/app.js", "".join("function f%d(x) { return x * %d + %d; }\n" % (i, i, rng.randrange(999))
                           for i in range(120)))
write("img/bg.png", bytes(rng.randrange(256) for _ in range(3000)))
write("fonts/t.woff2", bytes(rng.randrange(256) for _ in range(5000)))
write("favicon.ico", bytes(rng.randrange(256) for _ in range(1150)))
for i in range(n_pages):
    write("img/p%d.jpg" % i, bytes(rng.randrange(256) for _ in range(800 + 700 * i)))

# Responsive images on page2: a browser fetches one candidate of each (at
# device pixel ratio 1 and an 800-pixel-wide viewport): r-1x.jpg, w-960.jpg
# and the WebP <source> of the <picture>.
img_rng = random.Random(8)   # its own: the pages' text stays as it was
for name in ("r-small", "r-1x", "r-2x", "w-480", "w-960", "w-1600", "pic-unk", "pic-big", "pic-fallback"):
    write("img/%s.jpg" % name, bytes(img_rng.randrange(256) for _ in range(600)))
for name in ("pic", "pic2"):
    write("img/%s.webp" % name, bytes(img_rng.randrange(256) for _ in range(500)))
responsive = """<img src="img/r-small.jpg" srcset="img/r-1x.jpg 1x, img/r-2x.jpg 2x" alt="">
<img srcset="img/w-480.jpg 480w, img/w-960.jpg 960w, img/w-1600.jpg 1600w" sizes="100vw" src="img/w-480.jpg" alt="">
<picture><source type="image/x-unknown" srcset="img/pic-unk.jpg"><source media="(min-width: 1200px)" srcset="img/pic-big.jpg">
<source type="image/webp" srcset="img/pic.webp 1x, img/pic2.webp 2x"><img src="img/pic-fallback.jpg" alt=""></picture>
"""

names = ["index.html"] + ["page%d.html" % i for i in range(1, n_pages)]
for i, name in enumerate(names):
    links = "".join('<li><a href="%s">%s</a></li>\n' % (names[j], names[j])
                    for j in rng.sample(range(n_pages), min(5, n_pages)) if j != i)
    if i == 0:
        links = "".join('<li><a href="%s#top">%s</a></li>\n' % (n, n) for n in names[1:])
        links += '<li><a href="old.html">old</a></li>\n<li><a href="https://elsewhere.test/x.html">away</a></li>\n'
    extra = '<link rel="stylesheet" href="/css/print.css" media="print">\n' if i % 3 == 0 else ""
    body = "".join("<p>%s</p>\n" % para(40 + 25 * ((i * 7) % 11)) for _ in range(2 + i))
    write(name, """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Page %d</title>
<link rel="stylesheet" href="css/site.css">
%s<link rel="icon" href="/favicon.ico">
<script src="js/app.js"></script>
</head><body>
<h1>Page %d</h1>
<img src="img/p%d.jpg" alt="">
%s<ul>
%s</ul>
%s</body></html>
""" % (i, extra, i, i, responsive if i == 2 else "", links, body))
