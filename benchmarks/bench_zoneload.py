"""Zone loading: enumlab's reader vs named-checkzone vs dnspython, one 100,000-name zone.

Target (issue 12): >= 20,000 names/s (100,000 names in <= 5 s), where dnspython's zone parser
(enumlab's reader before issue 12) took ~52 s; named-checkzone on the same file is the peer.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import dns.zone

from enumlab.lab.bind import find_program
from enumlab.zones.authority import Authority

NAMES = 100_000


def enum_zone(path: Path, names: int = NAMES) -> Path:
    """ENUM numbers as an operator's zone has them: NAPTRs per number, two wildcard blocks,
    ported exceptions below one of them."""
    lines = ["$ORIGIN e164.bench.", "$TTL 300",
             "@ IN SOA ns1 hostmaster 1 3600 600 86400 300", "@ IN NS ns1",
             "ns1 IN A 127.0.0.1",
             '*.1.0.5.5.5.2.1.6 IN NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:wild@a.example!" .',
             '*.2.0.5.5.5.2.1.6 IN NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:wild@b.example!" .']
    for i in range(names):
        owner = ".".join(reversed(f"61355{i:06d}"))
        lines.append(f'{owner} IN NAPTR 10 100 "u" "E2U+sip" '
                     f'"!^(.*)$!sip:\\\\1@sbc{i % 7}.example!" .')
    for i in range(0, 1000, 10):
        lines.append(".".join(reversed(f"612555023{i:03d}"))
                     + ' IN NAPTR 10 100 "u" "E2U+sip" "!^.*$!sip:ported@c.example!" .')
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        path = enum_zone(directory / "e164.bench.zone")
        owners = NAMES + 100 + 3
        ours = min(timed(lambda: Authority.from_directory(directory)) for _ in range(3))
        checkzone = find_program("named-checkzone", "bind9-utils")
        bind = timed(lambda: subprocess.run([checkzone, "-q", "e164.bench", str(path)],
                                            check=True))
        dnspython = timed(lambda: dns.zone.from_file(str(path), relativize=False))
    return {
        "names": owners,
        "enumlab_s": round(ours, 2), "named_checkzone_s": round(bind, 2),
        "dnspython_s": round(dnspython, 2),
        "enumlab_names_per_s": round(owners / ours),
        "ratio_enumlab_to_named_checkzone_speed": round(bind / ours, 2),
        "ratio_enumlab_to_dnspython_speed": round(dnspython / ours, 1),
        "target": ">= 20,000 names/s (100 k names in <= 5 s)",
    }
