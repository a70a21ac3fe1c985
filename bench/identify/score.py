#!/usr/bin/env python3
"""Scores `tlsscope identify --json` against the truth (one URL a line, in the
order loaded): page loads found, top-1 and top-3 accuracy.
usage: score.py TRUTH IDENTIFY_JSON [CATALOG]  ->  "loaded found top1 top3 [same16]"
With the catalog, same16 counts the loaded pages whose response size (as
catalogued, the encoding the loader asks for) is within 16 bytes of another
page's: what size alone cannot tell apart (the request size still can).

Page loads are paired with the truth in time order.  When identify finds more
or fewer loads than were made, pairing by order would punish every later page
for one split, so each truth page is paired with the first unused load whose
top-3 names it, within the next few loads; the rest count as misses."""
import json
import sys

truth = [l.strip() for l in open(sys.argv[1]) if l.strip()]
loads = [l for l in map(json.loads, open(sys.argv[2])) if l.get("type") == "page_load"]
top1 = top3 = 0
j = 0
for t in truth:
    for k in range(j, min(j + 3, len(loads))):
        names = [g["url"] for g in loads[k]["guesses"]]
        if t in names:
            top3 += 1
            top1 += loads[k]["page"] == t
            j = k + 1
            break
    else:
        j += 1
out = [len(truth), len(loads), top1, top3]
if len(sys.argv) > 3:
    pages = [p for p in json.load(open(sys.argv[3]))["pages"]
             if p["encoded"] and p["encoded"]["status"] == 200]
    size = {p["url"]: p["encoded"]["header_bytes"] + p["encoded"]["body_bytes"] for p in pages}
    ordered = sorted(size.values())
    import bisect
    def alone(s):
        lo = bisect.bisect_left(ordered, s - 16)
        hi = bisect.bisect_right(ordered, s + 16)
        return hi - lo <= 1
    out.append(sum(1 for t in truth if t in size and not alone(size[t])))
print(*out)
