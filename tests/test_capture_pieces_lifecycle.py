"""``--pieces`` and temporary files under a signal or a file cut short (issue 29): a capture
truncated while it is read is an error naming it, not SIGBUS (exit 135: the capture is read into
buffers, never mapped); SIGTERM removes the pieces directory and stops the workers. Captures
built by code (tests/frames.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from . import frames as F
from .conftest import ROOT


def capture(path: Path, exchanges: int) -> Path:
    path.write_bytes(F.exchanges_pcap(exchanges, name="{i}.7.7.1.0.5.5.5.2.1.6.e164.arpa",
                                      names=97))
    return path


SHRINK = """
import os, sys
from enumlab.capture.pieces import analyze_stream
from enumlab.core.errors import EnumlabError
for path, keep in zip(sys.argv[1::2], map(float, sys.argv[2::2])):
    cut = []
    def shrink(n, path=path, keep=keep):
        if not cut:  # after the first block: the file loses its end, mid-piece
            cut.append(n)
            os.truncate(path, int(os.path.getsize(path) * keep))
    try:
        analyze_stream(path, piece_records=100, workers=1, on_records=shrink, read_bytes=8192)
        print("OK", flush=True)
    except EnumlabError as exc:
        print("ERROR", exc, flush=True)
"""


def test_a_capture_cut_short_while_read_in_pieces_is_an_error_naming_it(tmp_path: Path) -> None:
    """Cut to 0 %, 10 %, 50 % or 99 % of its size after the first block of the first piece
    (read in 8 KB buffers, most of the file is still to be read): an error naming the file and
    both sizes, never SIGBUS (exit 135 / -7 when the capture was mapped), and no pieces
    directory left."""
    keeps = (0.0, 0.1, 0.5, 0.99)
    paths = [capture(tmp_path / f"shrinking{k}.pcap", 1000) for k in range(len(keeps))]
    sizes = [p.stat().st_size for p in paths]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    args = [str(x) for pair in zip(paths, keeps, strict=True) for x in pair]
    run = subprocess.run([sys.executable, "-c", SHRINK, *args], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, TMPDIR=str(scratch)), cwd=ROOT)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    said = run.stdout.strip().splitlines()
    assert len(said) == len(keeps), said
    for k, (line, size, keep) in enumerate(zip(said, sizes, keeps, strict=True)):
        assert line.startswith("ERROR"), line
        assert (f"shrinking{k}.pcap: the file shrank from {size:,} to {int(size * keep):,} "
                "bytes while being read") in line, line
    assert list(scratch.iterdir()) == []


RACE = """
import os, sys, threading, time
from enumlab.capture import load_capture
from enumlab.capture.pieces import analyze_stream
from enumlab.core.errors import EnumlabError
import enumlab.capture.files
enumlab.capture.files.READ_BYTES = 16384  # many buffers: the cut lands mid-read
how = sys.argv[1]
for path, delay in zip(sys.argv[2::2], map(float, sys.argv[3::2])):
    def cut(path=path, delay=delay):
        time.sleep(delay)
        os.truncate(path, os.path.getsize(path) // 3)
    threading.Thread(target=cut, daemon=True).start()
    try:
        if how == "pieces":
            analyze_stream(path, piece_records=500, workers=1)
        else:
            load_capture(path, engine="native")
        print("OK", flush=True)
    except EnumlabError as exc:
        print("ERROR", exc, flush=True)
    time.sleep(delay)  # the cut has happened before the next file
"""


@pytest.mark.parametrize("how", ["pieces", "memory"])
def test_a_capture_truncated_by_another_thread_never_kills_by_signal(tmp_path: Path,
                                                                     how: str) -> None:
    """Another thread truncates the file at moments spread over the read (both ways of
    reading: in pieces, and the in-memory engine): each read ends normally -- done, if the
    bytes were read before the cut, or the error naming the file -- never by a signal."""
    args = []
    for k, delay in enumerate((0.0, 0.02, 0.1, 0.3)):
        args += [str(capture(tmp_path / f"race{k}.pcap", 1500)), str(delay)]
    run = subprocess.run([sys.executable, "-c", RACE, how, *args], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])  # 135 / -7: SIGBUS
    said = run.stdout.strip().splitlines()
    assert len(said) == 4, said
    for k, line in enumerate(said):
        assert line == "OK" or (line.startswith("ERROR")
                                and f"race{k}.pcap: the file shrank" in line), line
    assert any(line.startswith("ERROR") for line in said)  # the cut was seen at least once


def test_sigterm_during_pieces_removes_the_pieces_directory(tmp_path: Path) -> None:
    path = capture(tmp_path / "big.pcap", 6000)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch))
    proc = subprocess.Popen([sys.executable, "-m", "enumlab.cli", "pcap", str(path), "--pieces",
                             "20"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    def pieces() -> bool:  # the pieces directory (not tempfile's probe of $TMPDIR: a file
        # created and removed within ~1 ms on first use, which a poll could catch and lose)
        return any(p.name.startswith("enumlab-pieces-") for p in scratch.iterdir())

    try:
        deadline = time.monotonic() + 60
        while not pieces() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        if proc.poll() is not None:  # ended before the signal could be sent: say how
            _out, err = proc.communicate()
            raise AssertionError(("ended before SIGTERM", proc.returncode, err[-2000:]))
        assert pieces(), "the pieces directory never appeared"
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
