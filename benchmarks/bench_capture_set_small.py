"""Capture sets of many tiny files: 10,000 rotated files of one exchange each, on 2 workers.

Target (issue 29): <= 60 s and <= 1 GB peak RSS (coordinator + workers), with every file's
transaction found. Before, one task and one decode per file took > 600 s and 3.1 GB (1,000
files: 91 s); small consecutive files of a capture point are now read in a few batched tasks.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from enumlab.capture.sets import analyze_set  # noqa: E402
from tests import frames as F  # noqa: E402  (frames built by code, as the tests build them)

FILES = 10_000


def tiny_set(directory: Path) -> None:
    for i in range(FILES):
        t = 1_700_000_000.0 + 60.0 * i  # one file a minute: a quiet week of -G 60
        q = F.ip("192.0.2.1", "192.0.2.53", 17,
                 F.udp(40000, 53, F.query("7.7.7.1.0.5.5.5.2.1.6.e164.arpa", ident=i % 65536)))
        r = F.ip("192.0.2.53", "192.0.2.1", 17,
                 F.udp(53, 40000, F.response("7.7.7.1.0.5.5.5.2.1.6.e164.arpa",
                                             ident=i % 65536)))
        (directory / f"ring_{i:05d}.pcap").write_bytes(
            F.pcap([(t, F.link(q, 1)), (t + 0.01, F.link(r, 1))], 1))


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        tiny_set(directory)
        start = time.perf_counter()
        result = analyze_set([directory], workers=2, progress=False)
        seconds = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = result.peak_worker_rss_mb
    peak = own + 2 * workers  # the coordinator and both workers at their peaks at once
    found = result.summary["transactions"]
    return {
        "files": FILES, "workers": 2, "seconds": round(seconds, 1),
        "tasks": sum(f["tasks"] for f in result.summary["files"]
                     if "batched_with" not in f),
        "peak_rss_mb": {"coordinator": round(own), "per_worker": round(workers),
                        "total_bound": round(peak)},
        "transactions": found,
        "targets": "<= 60 s and <= 1024 MB on 2 workers, every file's transaction found",
        "met": seconds <= 60 and peak <= 1024 and found == FILES,
    }
