"""Capture sets: 20 rotated files of 500,000 packets, on 1 and 2 local workers and a 2-worker Dask
cluster.

Targets (issue 15), measured in the same run: >= 1.7x speed-up on 2 cores over 1 worker; the
Dask run within 15% of the local 2-worker run; peak RSS per worker <= 1 GB. The files are what
capture_gen.py writes (UDP exchanges, TC=1 -> TCP retries, fragmented answers), continued from
file to file as a rotating capture would be: each covers 10 minutes (1.2 ms between packets),
so the 10 s window read around each file is what it would be in the field.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capture_gen import write

from enumlab.capture.sets import analyze_set

FILES = 20
PACKETS = 500_000
SPACING = 600.0 / PACKETS  # each file: ten minutes of traffic


def rotated_set(directory: Path) -> list[Path]:
    paths = []
    first = 0
    for k in range(FILES):
        path = directory / f"ring_{k:05d}.pcap"
        n = write(path, PACKETS, first_block=first, spacing=SPACING)
        first += n // 211  # blocks of 211 packets (capture_gen.block)
        paths.append(path)
    return paths


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cluster(log: Any) -> tuple[str, list[subprocess.Popen[bytes]]]:
    from distributed import Client

    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=log, stderr=log,
                              start_new_session=True)]
    procs += [subprocess.Popen([dask, "worker", address, "--host", "127.0.0.1", "--nthreads",
                                "1", "--no-nanny", "--no-dashboard", "--memory-limit", "4GB"],
                               stdout=log, stderr=log, start_new_session=True)
              for _ in range(2)]
    deadline = time.monotonic() + 60
    while True:
        try:
            with Client(address, timeout="5s", set_as_default=False) as client:
                client.wait_for_workers(2, timeout=30)
            return address, procs
        except (OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process group we started; SIGKILL what is still there after 15 s (a worker
    whose scheduler is gone can wait on it for a long time): workers first, then the
    scheduler."""
    procs = procs[::-1]
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=15)


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        paths = rotated_set(directory)
        size = sum(p.stat().st_size for p in paths)
        timings: dict[str, float] = {}
        rss: dict[str, float] = {}
        summaries = {}
        for label, options in (("local_1", {"workers": 1}), ("local_2", {"workers": 2})):
            start = time.perf_counter()
            result = analyze_set(paths, progress=False, **options)
            timings[label] = time.perf_counter() - start
            rss[label] = result.peak_worker_rss_mb
            summaries[label] = result.summary
        with open(directory / "dask.log", "wb") as log:
            address, procs = _cluster(log)
            try:
                start = time.perf_counter()
                result = analyze_set(paths, dask=address, progress=False)
                timings["dask_2"] = time.perf_counter() - start
                rss["dask_2"] = result.peak_worker_rss_mb
                summaries["dask_2"] = result.summary
            finally:
                _stop(procs)
    same = all({k: v for k, v in s.items() if k != "files"}
               == {k: v for k, v in summaries["local_1"].items() if k != "files"}
               for s in summaries.values())
    speedup = timings["local_1"] / timings["local_2"]
    dask_vs_local = timings["dask_2"] / timings["local_2"]
    return {
        "files": FILES, "packets": FILES * PACKETS, "bytes": size,
        "transactions": summaries["local_1"]["transactions"],
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "packets_per_s": {k: round(FILES * PACKETS / v) for k, v in timings.items()},
        "speedup_2_workers": round(speedup, 2),
        "dask_time_vs_local_2": round(dask_vs_local, 2),
        "peak_rss_per_worker_mb": {k: round(v) for k, v in rss.items()},
        "same_summary_everywhere": same,
        "targets": ">= 1.7x on 2 cores; Dask within 15% of local 2; <= 1024 MB per worker",
        "met": speedup >= 1.7 and dask_vs_local <= 1.15 and max(rss.values()) <= 1024 and same,
    }
