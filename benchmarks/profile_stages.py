"""Wall time per stage of one capture's analysis in memory (`enumlab pcap FILE --json`'s path
for files under the pieces threshold): header walk + UDP DNS decoding (threads, with the file
read),
fragment reassembly, TCP reassembly, TCP message decoding, the message table
(factorisation), transactions (with the TC join), the summary. Stages are timed by wrapping
the engine's functions (inclusive times; the walk runs in threads beside the collector, so
"walk+collect" is the main thread's wait for it). For finding where time goes, not a
benchmark: ``python benchmarks/profile_stages.py FILE [FILE...]`` (fastest of --runs).
"""

from __future__ import annotations

import argparse
import functools
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TIMES: dict[str, float] = defaultdict(float)
_LOCAL = threading.local()


def _wrap(owner: Any, attr: str, label: str) -> None:
    fn = getattr(owner, attr)

    @functools.wraps(fn)
    def timed(*a: Any, **k: Any) -> Any:
        depth = getattr(_LOCAL, label, 0)
        setattr(_LOCAL, label, depth + 1)
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            setattr(_LOCAL, label, depth)
            if depth == 0:
                TIMES[label] += time.perf_counter() - t

    setattr(owner, attr, timed)


def instrument() -> None:
    from enumlab.capture import native, report, table, tcp, transactions

    _wrap(native, "decode", "1 decode (file read + 2..5)")
    _wrap(native, "walk_rows", "2 walk+collect (incl. 3,4)")
    _wrap(native, "_walk_decode", "2a walk kernel (threads, summed)")
    _wrap(native.Fragments, "feed", "3 fragment reassembly")
    _wrap(tcp.Reassembler, "feed", "4 TCP reassembly")
    _wrap(native.SecondStage, "_add_tcp", "4b TCP message decode")
    _wrap(native.SecondStage, "close", "5 second stage close")
    _wrap(native, "tables_of", "6 tables (factorisation)")
    _wrap(table, "message_columns", "6a message_columns")
    _wrap(report, "transaction_columns", "7 transactions (+TC join)")
    _wrap(transactions, "_follow_truncation", "7a TC join")
    _wrap(transactions, "pair_messages", "7b pairing")
    _wrap(report, "message_figures", "8 message figures (thread)")
    _wrap(report, "summarize", "9 summary")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    instrument()
    from enumlab.capture.report import analyze

    for f in args.files:
        best: dict[str, float] | None = None
        for _ in range(args.runs):
            TIMES.clear()
            t = time.perf_counter()
            a = analyze(f)
            TIMES["0 total"] = time.perf_counter() - t
            n = a.summary["dns_messages"]
            if best is None or TIMES["0 total"] < best["0 total"]:
                best = dict(TIMES)
            del a
        assert best is not None
        print(f"== {Path(f).name}: {n:,} messages")
        for k in sorted(best):
            print(f"   {k:36s} {best[k]:7.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
