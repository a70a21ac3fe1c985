#!/usr/bin/env python3
"""Scores `tlsscope identify --json` against the truth (one URL a line, in the
order loaded): page loads found, top-1 and top-3 accuracy.
usage: score.py TRUTH IDENTIFY_JSON  ->  "loaded found top1 top3"

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
print(len(truth), len(loads), top1, top3)
