"""``--pieces`` and temporary files under a signal or a file cut short (issue 29): a capture
truncated while it is read is an error naming it, not SIGBUS (exit 135); SIGTERM removes the
pieces directory and stops the workers. Captures built by code (tests/frames.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import frames as F


def capture(path: Path, exchanges: int) -> Path:
    frames = []
    for i in range(exchanges):
        name = f"{i % 97}.7.7.1.0.5.5.5.2.1.6.e164.arpa"
        q = F.ip("192.0.2.1", "192.0.2.53", 17,
                 F.udp(40000 + i % 1000, 53, F.query(name, ident=i % 65536)))
        r = F.ip("192.0.2.53", "192.0.2.1", 17,
                 F.udp(53, 40000 + i % 1000, F.response(name, ident=i % 65536)))
        frames += [(1.0 + i, F.link(q, 1)), (1.05 + i, F.link(r, 1))]
    path.write_bytes(F.pcap(frames, 1))
    return path


SHRINK = """
import os, sys
from enumlab.capture.pieces import analyze_stream
from enumlab.core.errors import EnumlabError
path = sys.argv[1]
cut = []
def shrink(n):
    if not cut:  # after the first piece: the file loses its second half
        cut.append(n)
        os.truncate(path, os.path.getsize(path) // 2)
try:
    analyze_stream(path, piece_records=100, workers=1, on_records=shrink)
except EnumlabError as exc:
    print("ERROR", exc)
"""


def test_a_capture_cut_short_while_read_in_pieces_is_an_error_naming_it(tmp_path: Path) -> None:
    path = capture(tmp_path / "shrinking.pcap", 1000)
    run = subprocess.run([sys.executable, "-c", SHRINK, str(path)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])  # 135 / -7 was SIGBUS
    assert run.stdout.startswith("ERROR") and "shrinking.pcap: the file shrank" in run.stdout


def test_sigterm_during_pieces_removes_the_pieces_directory(tmp_path: Path) -> None:
    path = capture(tmp_path / "big.pcap", 6000)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch))
    proc = subprocess.Popen([sys.executable, "-m", "enumlab.cli", "pcap", str(path), "--pieces",
                             "20"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(scratch.iterdir()) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        if proc.poll() is not None:  # ended before the signal could be sent: say how
            _out, err = proc.communicate()
            raise AssertionError(("ended before SIGTERM", proc.returncode, err[-2000:]))
        assert any(scratch.iterdir()), "the pieces directory never appeared"
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # never leave the child behind, whatever failed
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signal.SIGTERM, (proc.returncode, err[-2000:])
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert list(scratch.iterdir()) == []  # the pieces directory is gone
