"""One packet in full detail, through pyshark.

pyshark is kept for what it is good at -- one packet, every layer and field -- and runs in a
child Python process, so its asyncio loop and tshark child are nobody else's business (it works
inside a Jupyter kernel, whose loop is already running), and tshark is always closed.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

from .files import CaptureError
from .tshark import find_tshark


def _pyshark_child(*args: str, timeout: float = 600) -> str:
    """Run pyshark in a child Python process: its asyncio loop and tshark child are then
    nobody else's business (a Jupyter kernel's loop is already running)."""
    out = subprocess.run([sys.executable, "-m", "enumlab.capture.detail", *args],
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise CaptureError(f"pyshark failed on {args[1]}: {out.stderr.strip()[-500:]}",
                           subject=args[1])
    return out.stdout


def packet_detail(path: str | Path, frame: int) -> str:
    """One packet, every layer and field, as text -- through pyshark, notebook-safe."""
    find_tshark()
    if not Path(path).is_file():
        raise CaptureError(f"capture {path} does not exist", subject=str(path))
    text = _pyshark_child("detail", str(path), str(int(frame)))
    if not text.strip():
        raise CaptureError(f"{path} has no frame {frame}", subject=frame)
    return text


def naive_pyshark_count(path: str | Path, limit: int = 0) -> int:
    """Iterate packets one by one with pyshark, the slow way (a benchmark baseline)."""
    return int(_pyshark_child("count", str(path), str(limit)).strip() or 0)


def _child_main(argv: list[str]) -> int:
    import pyshark

    mode, path, number = argv[0], argv[1], int(argv[2])
    display_filter = f"frame.number == {number}" if mode == "detail" else None
    capture = pyshark.FileCapture(path, display_filter=display_filter, keep_packets=False)
    count = 0
    try:
        for pkt in capture:
            if mode == "detail":
                print(pkt)
                break
            _ = pkt.highest_layer
            count += 1
            if number and count >= number:
                break
    finally:
        with contextlib.suppress(Exception):  # pyshark reports tshark's exit as a crash
            capture.close()
    if mode == "count":
        print(count)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
