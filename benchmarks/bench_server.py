"""Embedded server vs BIND under dnsperf: repeated names and 200,000 unique names, same run.

Targets (issue 12): >= 0.9x BIND's queries/s on repeated names and >= 0.25x on 200,000 unique
ENUM numbers under the lab's wildcards (real ENUM traffic: mostly unique numbers), 0 lost;
the embedded server's RSS sampled during a soak stays flat. The server runs in its own process
(`enumlab serve`), as BIND does, so the figures are the server's and not the client's.
dnsperf shares the two cores with the server under test, for both servers alike.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from enumlab import to_enum_domain
from enumlab.lab.bind import BindServer, find_program

ROOT = Path(__file__).resolve().parent.parent
ZONES = ROOT / "data" / "zones"
SECONDS = int(os.environ.get("ENUMLAB_BENCH_SECONDS", "10"))
SOAK_SECONDS = int(os.environ.get("ENUMLAB_SOAK_SECONDS", "60"))
UNIQUE = 200_000


def repeated_queries(directory: Path) -> Path:
    """The seed numbers, wildcard hits, the exception and NXDOMAINs, cycled by dnsperf."""
    numbers = [f"+613555009{i:02d}" for i in range(11, 15)]
    numbers += [f"+61255501{i:03d}" for i in range(0, 1000, 37)]
    numbers += [f"+61255502{i:03d}" for i in range(0, 1000, 41)]
    numbers += ["+61255502345", "+61355500999", "+4930123456"]
    path = directory / "repeated.txt"
    path.write_text("".join(f"{to_enum_domain(n)} NAPTR\n" for n in numbers))
    return path


def unique_queries(directory: Path, count: int = UNIQUE) -> Path:
    """``count`` different numbers under *.1.0.5.5.5.2.1.6 and *.2.0.5.5.5.2.1.6 (some
    longer than E.164 allows: the wildcard matches any length), none asked twice."""
    rng = np.random.default_rng(12)
    suffixes = rng.choice(10**7, size=count, replace=False)
    lines = []
    for i, tail in enumerate(suffixes):
        block = "+6125550" + ("1" if i % 2 else "2")
        lines.append(f"{to_enum_domain(block + f'{tail:07d}')} NAPTR\n")
    path = directory / "unique.txt"
    path.write_text("".join(lines))
    return path


def dnsperf(host: str, port: int, queries: Path, seconds: int = SECONDS, *,
            once: bool = False) -> dict[str, float]:
    """dnsperf for ``seconds``; ``once``: stop after the query file's last line (no name
    asked twice)."""
    out = subprocess.run(
        [find_program("dnsperf", "dnsperf"), "-s", host, "-p", str(port), "-d", str(queries),
         "-l", str(seconds), "-c", "4", "-q", "100", "-t", "2", *(["-n", "1"] if once else [])],
        capture_output=True, text=True, check=True).stdout

    def grab(label: str) -> float:
        m = re.search(rf"{label}:\s+([\d.]+)", out)
        return float(m.group(1)) if m else float("nan")

    return {"qps": round(grab("Queries per second")), "sent": grab("Queries sent"),
            "completed": grab("Queries completed"), "lost": grab("Queries lost")}


def _rss_kb(pid: int) -> int:
    """RSS of the server: the process and its forked UDP workers."""
    total = 0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid, *map(int, children.read_text().split())] if children.exists() else [pid]
    for one in pids:
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


class EmbeddedProcess:
    """``enumlab serve`` in a child process on a free loopback port; stopped by PID."""

    def __init__(self, zones: Path) -> None:
        self.zones = zones
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> EmbeddedProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "enumlab.cli", "serve", str(self.zones), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"enumlab serve did not start: {line}")
        self.port = int(m.group(1))
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(timeout=10)


def soak(zones: Path, queries: Path, seconds: int) -> dict[str, object]:
    """dnsperf on unique names for ``seconds``; the server's RSS sampled every second."""
    with EmbeddedProcess(zones) as server:
        assert server.proc is not None
        samples: list[int] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(1.0):
                samples.append(_rss_kb(server.proc.pid))  # type: ignore[union-attr]

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        figures = dnsperf("127.0.0.1", server.port, queries, seconds)
        stop.set()
        t.join()
    tail = samples[len(samples) // 4 :] or samples
    return {"seconds": seconds, "qps": figures["qps"], "lost": figures["lost"],
            "rss_mb_first": round(samples[0] / 1024, 1) if samples else None,
            "rss_mb_min_after_warmup": round(min(tail) / 1024, 1) if tail else None,
            "rss_mb_max_after_warmup": round(max(tail) / 1024, 1) if tail else None,
            "rss_growth_mb_after_warmup": round((max(tail) - min(tail)) / 1024, 1)
            if tail else None}


ROUNDS = int(os.environ.get("ENUMLAB_BENCH_ROUNDS", "3"))


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median queries/s (loopback figures on a shared machine are noisy),
    with every run's figure and the total lost beside it."""
    ordered = sorted(runs, key=lambda r: r["qps"])
    middle = dict(ordered[len(ordered) // 2])
    middle["qps_runs"] = [r["qps"] for r in runs]  # type: ignore[assignment]
    middle["lost_all_runs"] = sum(r["lost"] for r in runs)
    return middle


def run() -> dict[str, object]:
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in ("br", "bu", "er", "eu")}
    with tempfile.TemporaryDirectory() as tmp:
        repeated = repeated_queries(Path(tmp))
        unique = unique_queries(Path(tmp))
        for _ in range(ROUNDS):  # interleaved, so both servers see the same machine
            with BindServer(ZONES) as bind:
                runs["br"].append(dnsperf(bind.host, bind.port, repeated))
                runs["bu"].append(dnsperf(bind.host, bind.port, unique, 30, once=True))
            with EmbeddedProcess(ZONES) as embedded:
                runs["er"].append(dnsperf("127.0.0.1", embedded.port, repeated))
            with EmbeddedProcess(ZONES) as embedded:  # a fresh process: no answer seen before
                runs["eu"].append(dnsperf("127.0.0.1", embedded.port, unique, 30, once=True))
        soaked = soak(ZONES, unique, SOAK_SECONDS)
    bind_repeated, bind_unique = median_run(runs["br"]), median_run(runs["bu"])
    ours_repeated, ours_unique = median_run(runs["er"]), median_run(runs["eu"])
    return {
        "repeated_names": {"bind": bind_repeated, "embedded": ours_repeated,
                           "ratio_embedded_to_bind":
                               round(ours_repeated["qps"] / bind_repeated["qps"], 3),
                           "target": ">= 0.9, 0 lost"},
        "unique_names_200k": {"bind": bind_unique, "embedded": ours_unique,
                              "ratio_embedded_to_bind":
                                  round(ours_unique["qps"] / bind_unique["qps"], 3),
                              "target": ">= 0.25, 0 lost"},
        "soak_unique_names": soaked,
        "note": f"dnsperf -c 4 -q 100, {SECONDS} s per repeated-name run, 200,000 unique "
                f"names once per run, median of {ROUNDS} interleaved runs; BIND 9.18 with its "
                "default threads, enumlab serve with its default workers (min(2, cores)); "
                "both on 127.0.0.1, dnsperf on the same two cores",
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
