"""Zone doctor: `enumlab zone check` on a 1,000,000-name ENUM zone, beside named-checkzone.

Target (issue 16): the whole check -- load, every rule, every answer sized, every wildcard's
blocked ranges counted -- in <= 60 s on this machine. The zone is what an operator's looks
like: a few wildcard blocks, a million explicit numbers below them (ported and exception
numbers, which create empty non-terminals under every block), regexps with back-references.
named-checkzone runs on the same file in the same run (it checks syntax and a few record
rules only, so it is the floor, not a peer of the same job).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from enumlab.lab.bind import find_program
from enumlab.zones.zone_check import check_zones

NAMES = 1_000_000
BLOCKS = 10  # +6125550{0..9}x: one wildcard each


def enum_zone(path: Path, names: int = NAMES) -> Path:
    lines = ["$ORIGIN e164.bench.", "$TTL 300",
             "@ IN SOA ns1 hostmaster 1 3600 600 86400 300", "@ IN NS ns1",
             "ns1 IN A 127.0.0.1"]
    for b in range(BLOCKS):
        owner = ".".join(reversed(f"6125550{b}"))
        lines.append(f'*.{owner} IN NAPTR 100 10 "u" "E2U+sip" '
                     f'"!^(.*)$!sip:\\\\1@block{b}.example!" .')
    per_block = names // BLOCKS
    for b in range(BLOCKS):
        for i in range(per_block):
            # 14-digit numbers, every other one explicit (ported away)
            owner = ".".join(reversed(f"6125550{b}{2 * i:06d}"))
            lines.append(f'{owner} IN NAPTR 10 100 "u" "E2U+sip" '
                         f'"!^(.*)$!sip:\\\\1@carrier{i % 13}.example!" .')
    path.write_text("\n".join(lines) + "\n")
    return path


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        path = enum_zone(directory / "e164.bench.zone")
        start = time.perf_counter()
        report = check_zones(directory)
        ours = time.perf_counter() - start
        checkzone = find_program("named-checkzone", "bind9-utils")
        start = time.perf_counter()
        subprocess.run([checkzone, "-q", "e164.bench", str(path)], check=True)
        bind = time.perf_counter() - start
    blocked = sum(sum(b["unanswered_numbers"].values()) for w in report.wildcards
                  for b in w["blocked"])
    return {
        "names": report.names, "records": report.records, "answers_sized": report.answers,
        "findings": report.counts, "numbers_blocked_from_wildcards": blocked,
        "enumlab_zone_check_s": round(ours, 1), "named_checkzone_s": round(bind, 1),
        "ratio_enumlab_time_to_named_checkzone": round(ours / bind, 1),
        "target": "<= 60 s for 1,000,000 names",
        "met": ours <= 60,
    }
