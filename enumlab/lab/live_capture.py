"""A capture made live on loopback: the lab server, enumlab's resolver asking it, dumpcap
recording the traffic -- so a learner's post-mortem starts from packets they just caused.

Needs root (or capture rights) and dumpcap (Debian ``wireshark-common``). When either is
missing, :func:`capture_lab_queries` says why instead of capturing, and the notebook falls back
to the shipped captures. Traffic stays on 127.0.0.1; dumpcap is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_NUMBERS = ("+61355500913", "+61355500999", "+61355500999")  # a plain one, TC -> TCP


@dataclass
class LiveCapture:
    path: Path | None  # the pcapng written, or None
    reason: str  # what was done, or why nothing was
    queries: int = 0
    port: int | None = None  # the lab server's port: read the capture with ports=(port,)


def capture_lab_queries(path: str | Path, numbers: Sequence[str] = DEFAULT_NUMBERS, *,
                        edns: int | None = None) -> LiveCapture:
    """Start the embedded lab server, capture its loopback port with dumpcap while enumlab's
    resolver resolves ``numbers`` (the +61355500999 answer is 1.1 KB: TC=1 then TCP), stop
    dumpcap, and return the capture -- or, without root or dumpcap, why not."""
    from ..resolve.resolver import Resolver
    from .server import EmbeddedServer

    dumpcap = shutil.which("dumpcap") or shutil.which("dumpcap", path="/usr/sbin:/usr/bin")
    if dumpcap is None:
        return LiveCapture(None, "dumpcap is not installed (Debian package wireshark-common)")
    if os.geteuid() != 0:
        return LiveCapture(None, "capturing needs root (or dumpcap's capture capabilities)")
    out = Path(path)
    out.unlink(missing_ok=True)
    from ..resolve.ddds import resolve_enum

    with EmbeddedServer() as server:
        proc = subprocess.Popen([dumpcap, "-q", "-i", "lo", "-f", f"port {server.port}", "-w",
                                 str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 10
            while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # the file exists before the interface is live
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                return LiveCapture(None, f"dumpcap could not capture: {err.strip()[-200:]}")
            resolver = Resolver(server.host, server.port, edns=edns)
            for number in numbers:
                resolve_enum(number, resolver)
            time.sleep(0.5)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # dumpcap flushes and closes the file
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stderr:
                proc.stderr.close()
    return LiveCapture(out, f"captured on lo, port {server.port}, while resolving "
                            f"{', '.join(numbers)}", len(numbers), server.port)
