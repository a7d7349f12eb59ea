#!/usr/bin/env python3
"""Sums and ranks the units of one `cargo build --timings` report.

Usage: slowest.py cargo-timing-*.html [N]
"""
import json
import re
import sys

html = open(sys.argv[1]).read()
top = int(sys.argv[2]) if len(sys.argv) > 2 else 15
units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", html, re.S).group(1))
total = sum(u["duration"] for u in units)
print(f"{len(units)} units, {total / 60:.1f} min of compiling in all")
for unit in sorted(units, key=lambda u: -u["duration"])[:top]:
    target = unit.get("target", "").strip()
    print(f"  {unit['duration']:6.1f} s  {unit['name']} {unit['version']} {target}")
