#!/usr/bin/env python3
"""json_doc.py SECTION TABLE [IGNORE...] < JSON

Checks that the JSON object on stdin has exactly the fields documented in
docs/json.md: the TABLE-th table (0 first) under the heading "## SECTION".
Fields named in IGNORE ("event"; "file" and "index", which only cert show
writes) are left out on both sides.
Exits 1 and says which fields differ."""
import json
import os
import re
import sys

section, table = sys.argv[1], int(sys.argv[2])
ignore = set(sys.argv[3:])
doc = open(os.path.join(os.environ["TS_ROOT"], "docs", "json.md")).read()
part = re.split(r"^## ", doc, flags=re.M)
body = next(p for p in part if p.split("\n", 1)[0].strip() == section)
tables = re.findall(r"(?:^\|.*\n)+", body, flags=re.M)
documented = set(re.findall(r"^\| `([a-z_0-9]+)` \|", tables[table], flags=re.M)) - ignore
seen = set(json.loads(sys.stdin.read())) - ignore
if seen != documented:
    print("not documented: %s; documented but missing: %s"
          % (sorted(seen - documented), sorted(documented - seen)))
    sys.exit(1)
