"""Embedded server vs BIND: queries/s and lost queries under dnsperf, same zones, same run.

Target (issue 2): the embedded server answers at least 10% of BIND's rate and loses nothing.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from enumlab import EmbeddedServer, to_enum_domain
from enumlab.bind import BindServer, find_program

ZONES = Path(__file__).resolve().parent.parent / "data" / "zones"
SECONDS = 8


def query_file(directory: Path) -> Path:
    """ENUM look-ups as a resolver makes them: seed numbers, wildcard hits, NXDOMAINs."""
    numbers = [f"+613555009{i:02d}" for i in range(11, 15)]
    numbers += [f"+61255501{i:03d}" for i in range(0, 1000, 37)]
    numbers += [f"+61255502{i:03d}" for i in range(0, 1000, 41)]
    numbers += ["+61255502345", "+61355500999", "+4930123456"]
    lines = [f"{to_enum_domain(n)} NAPTR" for n in numbers]
    path = directory / "queries.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def dnsperf(host: str, port: int, queries: Path) -> dict[str, float]:
    out = subprocess.run(
        [find_program("dnsperf", "dnsperf"), "-s", host, "-p", str(port), "-d", str(queries),
         "-l", str(SECONDS), "-c", "4", "-q", "64", "-t", "2"],
        capture_output=True, text=True, check=True).stdout

    def grab(label: str) -> float:
        m = re.search(rf"{label}:\s+([\d.]+)", out)
        return float(m.group(1)) if m else float("nan")

    return {"qps": grab("Queries per second"), "sent": grab("Queries sent"),
            "completed": grab("Queries completed"), "lost": grab("Queries lost")}


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        queries = query_file(Path(tmp))
        with BindServer(ZONES) as bind:
            bind_figures = dnsperf(bind.host, bind.port, queries)
        with EmbeddedServer(ZONES) as embedded:
            embedded_figures = dnsperf(embedded.host, embedded.port, queries)
    return {
        "bind": bind_figures,
        "embedded": embedded_figures,
        "ratio_embedded_to_bind": round(embedded_figures["qps"] / bind_figures["qps"], 3),
        "target": ">= 0.10 of BIND, 0 lost",
    }
