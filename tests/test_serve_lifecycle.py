"""``enumlab serve`` stops every child it started, on a signal at any moment (issue 29).

A SIGTERM during start-up -- after named was spawned and before ``start()`` returned -- used to
leave named running, orphaned, its directory removed, while enumlab said "stopped by SIGTERM"
and exited 0 (14 of 40 trials at random moments). Here the signal is sent at 10 points spread
from just before the child appears to the end of start-up, for named and for the embedded
engine's forked UDP workers, each trial in its own directory so every process it started is
found by its command line, by PID, whether or not enumlab ever printed it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ZONES, require_tool

POINTS = 10


def _started_by(tag: Path) -> list[int]:
    """PIDs of live processes whose command line names ``tag`` (the trial's TMPDIR)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(tag).encode() in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def _serve(engine: str, tmp: Path) -> subprocess.Popen[str]:
    """``enumlab serve`` with its zones and TMPDIR under ``tmp``: named's command line (its
    directory) and the embedded engine's (its zones) name ``tmp``, so every process it
    started is found by PID."""
    tmp.mkdir()
    (tmp / "zones").mkdir()
    shutil.copy(ZONES / "e164.arpa.zone", tmp / "zones")
    scratch = tmp / "tmp"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch))
    extra = ["--workers", "2"] if engine == "embedded" else []
    return subprocess.Popen([sys.executable, "-m", "enumlab.cli", "serve", str(tmp / "zones"),
                             "--engine", engine, "--port", "0", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)


def _children(engine: str, tag: Path, proc: subprocess.Popen[str]) -> list[int]:
    """The processes serve started: named, or the embedded engine's forked UDP workers."""
    return [pid for pid in _started_by(tag) if pid != proc.pid]


@pytest.mark.parametrize("engine", ["bind", "embedded"])
def test_sigterm_at_ten_points_of_start_up_leaves_no_child(tmp_path: Path, engine: str) -> None:
    if engine == "bind":
        require_tool("named", "bind9")
    # when named appears and when start-up ends (the banner's last line), measured here
    started = time.monotonic()
    tag = tmp_path / "measure"
    proc = _serve(engine, tag)
    spawned = None
    while spawned is None and proc.poll() is None and time.monotonic() - started < 30:
        if _children(engine, tag, proc):
            spawned = time.monotonic() - started
        time.sleep(0.005)
    assert proc.stdout is not None and spawned is not None
    for line in proc.stdout:
        if "try: dig" in line:
            break
    ready = time.monotonic() - started
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 128 + signal.SIGTERM
    proc.stdout.close()
    # 10 points from a little before the children's spawn to just past the end of start-up
    # (the embedded engine's workers appear ~5 ms before its banner: without the margin only
    # one or two points fell after the spawn, and the window check below was luck)
    first = 0.7 * spawned
    ready += 0.1
    outcomes, named_running = [], 0
    for point in range(POINTS):
        tmp = tmp_path / f"trial{point}"
        proc = _serve(engine, tmp)
        time.sleep(first + (ready - first) * point / (POINTS - 1))
        named_running += bool(_children(engine, tmp, proc))
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.stdout.close()
        # before Python installed the handler the default action ends it (-15 here, 143 to
        # a shell); after, enumlab stops what it started and exits 128 + 15 itself
        assert code in (-signal.SIGTERM, 128 + signal.SIGTERM), (point, code, out)
        assert "Traceback" not in out, out
        deadline = time.monotonic() + 5
        while _started_by(tmp) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _started_by(tmp) == [], (point, out)  # no child left, by PID
        assert list((tmp / "tmp").iterdir()) == [], (point, out)  # named's directory removed
        outcomes.append(code)
    # the window that orphaned named was hit: the child was running when several signals came
    assert named_running >= 3, (named_running, spawned, ready)
    assert outcomes.count(128 + signal.SIGTERM) >= POINTS // 2, outcomes


def test_a_signal_just_before_the_tcp_thread_starts_does_not_hang_stop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGTERM whose handler raises after the TCP server is made but before its thread
    starts: stop() called socketserver's shutdown(), which waits for a serve_forever that
    never ran -- serve hung for ever (a clean-clone run: the 4th of the ten SIGTERM points
    above timed out). The raise is placed there by hand; stop() must return, every worker
    gone."""
    import threading

    from enumlab import EmbeddedServer

    real = threading.Thread.start

    def start(self: threading.Thread) -> None:
        if self.name.startswith("enumlab-tcp"):
            raise KeyboardInterrupt  # as guards' handler raises Terminated, at this point
        real(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    server = EmbeddedServer(ZONES, port=0, workers=2)
    outcome: list[BaseException] = []

    def enter() -> None:
        try:
            with server:
                pass
        except BaseException as exc:  # (the interrupt is what is expected)
            outcome.append(exc)

    runner = threading.Thread(target=enter, daemon=True)
    real(runner)
    runner.join(timeout=10)
    assert not runner.is_alive(), "stop() hung"
    assert len(outcome) == 1 and isinstance(outcome[0], KeyboardInterrupt)
    assert server.worker_pids == []
