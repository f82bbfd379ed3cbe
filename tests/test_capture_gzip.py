"""gzip captures (issue 29): inflated into a temporary file that has no name, so nothing stays
behind in $TMPDIR whatever ends the process, and a gzip bomb is refused before it fills the
disk. Captures built by code (tests/frames.py)."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from enumlab.capture import files
from enumlab.capture.files import CaptureError, open_capture

from . import frames as F


def exchange() -> bytes:
    q = F.ip("192.0.2.1", "192.0.2.53", 17, F.udp(40000, 53, F.query("x.example", ident=1)))
    r = F.ip("192.0.2.53", "192.0.2.1", 17, F.udp(53, 40000, F.response("x.example", ident=1)))
    return F.pcap([(1.0, F.link(q, 1)), (1.1, F.link(r, 1))], 1)


def test_a_gzip_capture_leaves_no_file_in_tmpdir(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    path = tmp_path / "x.pcap.gz"
    path.write_bytes(gzip.compress(exchange()))
    index = open_capture(path)
    try:
        assert index.frames == 2 and index.gzipped
        assert list(scratch.iterdir()) == []  # no name, even while it is in use
    finally:
        index.close()


def test_a_gzip_bomb_is_refused_naming_the_file(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A pcap header and 32 MB of zeros: 32 KB compressed, over 200x its size when inflated
    (the floor lowered from 256 MB to 1 MB here so the test inflates 1 MB, not 256)."""
    monkeypatch.setattr(files, "GZIP_FLOOR", 1 << 20)
    path = tmp_path / "bomb.pcap.gz"
    with gzip.open(path, "wb") as f:
        f.write(exchange())
        for _ in range(32):
            f.write(bytes(1 << 20))
    assert path.stat().st_size < 100_000
    with pytest.raises(CaptureError, match=r"bomb\.pcap\.gz: inflates past .* gzip bomb"):
        open_capture(path)


def test_sigterm_while_inflating_leaves_nothing_behind(tmp_path: Path) -> None:
    """The process killed in the middle of inflating a big capture: $TMPDIR stays empty
    (the named temporary file stayed, up to the whole inflated size)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    path = tmp_path / "big.pcap.gz"
    body = exchange()
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(body)
        record = body[24:]
        f.write(record * 400_000)  # ~100 MB inflated
    env = dict(os.environ, TMPDIR=str(scratch))
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from enumlab.capture.files "
                             "import open_capture; open_capture(sys.argv[1])", str(path)],
                            env=env)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert list(scratch.iterdir()) == []
