"""Shape matrix: `enumlab pcap` on each shape of ordinary DNS traffic vs dnsjit (tshark for TCP).

Captures from benchmarks/capture_shapes.py, ~1 M packets each (SHAPES there) and a ~10 M-packet
capture merging them all by time, made once and kept in benchmarks/results/captures/. Per
shape, ``enumlab pcap FILE --json`` and its peer run three times each, alternating, each
reported by its fastest run (wall clock, peak RSS of the process tree): the peer is dnsjit
(benchmarks/dnsjit_pair.lua: header + question of every message, pairing in a hash table),
except for the TCP shape, which dnsjit does not reassemble: there it is tshark's field export
(``tshark -2 -T fields``, reassembling). The mixed capture is measured the same way.

Targets (issue 25): enumlab at least as fast as dnsjit on every shape (ratio peer / enumlab
>= 1.0), >= 20x tshark on the TCP shape; the mixed capture <= 60 s and <= 2 GB peak RSS, its
cost per packet <= 1.5x the 1 M shapes' (median).

The table goes to benchmarks/results/shapes.md. ``--scale 0.05`` (or ENUMLAB_BENCH_SCALE)
runs the whole matrix at 5 % of the size (a CI-sized smoke run; the targets are for scale 1);
``--runs N`` the runs per side; ``--shapes a,b`` a selection (``mixed`` included by name).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_capture  # noqa: E402
import capture_shapes  # noqa: E402

PACKETS = 1_000_000
TSHARK_FIELDS = ["frame.number", "ip.src", "ip.dst", "udp.srcport", "tcp.srcport", "dns.id",
                 "dns.flags.response", "dns.flags.truncated", "dns.qry.name", "dns.qry.type"]


def _enumlab(path: Path) -> list[str]:
    return [*bench_capture.ENUMLAB, "pcap", str(path), "--json"]


def _peer(shape: str, path: Path) -> tuple[str, list[str]]:
    if shape == "tcp_long":
        fields = [x for f in TSHARK_FIELDS for x in ("-e", f)]
        return "tshark", ["tshark", "-r", str(path), "-2", "-n", "-T", "fields", *fields,
                          "-Y", "dns"]
    return "dnsjit", ["dnsjit", str(HERE / "dnsjit_pair.lua"), str(path)]


def measure(shape: str, packets: int, runs: int, folder: Path) -> dict[str, Any]:
    path, records = capture_shapes.capture(shape, packets, folder)
    peer_name, peer_cmd = _peer(shape, path)
    bench_capture.timed(_enumlab(path))  # the page cache and numba's kernels warm
    mine: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    for _ in range(runs):
        mine.append(bench_capture.timed(_enumlab(path), limit=3600))
        theirs.append(bench_capture.timed(peer_cmd, limit=3600))
    best, peer = (min(x, key=lambda r: r["wall_s"]) for x in (mine, theirs))
    summary = json.loads(best["stdout"])
    return {
        "shape": shape, "packets": records, "messages": summary["dns_messages"],
        "transactions": summary["transactions"],
        "outcomes": {k: v for k, v in summary["outcomes"].items() if v},
        "warnings": summary["warnings"],
        "enumlab_s": best["wall_s"], "enumlab_runs_s": [r["wall_s"] for r in mine],
        "enumlab_cpu_s": best["cpu_s"], "peak_rss_mb": best["peak_tree_rss_mb"],
        "peer": peer_name, "peer_s": peer["wall_s"], "peer_runs_s": [r["wall_s"] for r in theirs],
        "peer_rss_mb": peer["peak_tree_rss_mb"],
        "ratio_peer_over_enumlab": round(peer["wall_s"] / best["wall_s"], 2),
        "us_per_packet": round(best["wall_s"] / records * 1e6, 3),
    }


def table(rows: list[dict[str, Any]], scale: float) -> str:
    lines = [f"Shape matrix (scale {scale:g}; fastest of the runs; ratio = peer s / enumlab s)",
             "",
             "| shape | packets | enumlab s | peer | peer s | ratio | peak RSS MB | us/packet |",
             "|---|---:|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['shape']} | {r['packets']:,} | {r['enumlab_s']:.2f} | {r['peer']} | "
                     f"{r['peer_s']:.2f} | {r['ratio_peer_over_enumlab']:.2f}x | "
                     f"{r['peak_rss_mb']} | {r['us_per_packet']:.2f} |")
    return "\n".join(lines) + "\n"


def run(scale: float | None = None, runs: int = 3, shapes: list[str] | None = None
        ) -> dict[str, Any]:
    scale = scale if scale is not None else float(os.environ.get("ENUMLAB_BENCH_SCALE", "1"))
    packets = max(2_000, round(PACKETS * scale))
    folder = HERE / "results" / "captures"
    wanted = shapes or [*capture_shapes.SHAPES, "mixed"]
    rows = []
    for shape in wanted:
        rows.append(measure(shape, packets, runs, folder))
        print(table(rows[-1:], scale).splitlines()[-1], flush=True)
    out: dict[str, Any] = {"scale": scale, "rows": rows}
    singles = [r["us_per_packet"] for r in rows if r["shape"] != "mixed"]
    mixed = next((r for r in rows if r["shape"] == "mixed"), None)
    if mixed and singles:
        out["mixed_cost_per_packet_over_shapes_median"] = round(
            mixed["us_per_packet"] / statistics.median(singles), 2)
    out["targets"] = {"ratio_peer_over_enumlab": 1.0, "tshark_tcp_ratio": 20.0,
                      "mixed_wall_s": 60, "mixed_peak_rss_mb": 2048,
                      "mixed_cost_per_packet_over_shapes": 1.5}
    text = table(rows, scale)
    if "mixed_cost_per_packet_over_shapes_median" in out:
        text += (f"\nmixed capture: cost per packet "
                 f"{out['mixed_cost_per_packet_over_shapes_median']}x the shapes' median\n")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "shapes.md").write_text(text)
    print(text, flush=True)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=None,
                        help="capture size as a share of 1 M packets per shape (default 1)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shapes", default="", help="comma-separated selection")
    args = parser.parse_args(argv)
    bench_capture.bytecode()
    result = run(args.scale, args.runs, [x for x in args.shapes.split(",") if x] or None)
    out = HERE / "results" / "shapes.json"
    out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
