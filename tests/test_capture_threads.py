"""What makes a big capture's analysis fast must never change what comes out: the compiled
kernels (checked in fresh processes) and the work done in two threads (columns joined,
addresses and QNAMEs coded, message figures counted while transactions are paired)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

CAPTURES = ROOT / "data" / "captures"


@pytest.fixture(scope="module")
def big_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A capture over the compiled engine's threshold (4 MB): 40,000 packets of UDP and TCP
    DNS, TC=1 answers, fragments (benchmarks/capture_gen.py)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import capture_gen

    path = tmp_path_factory.mktemp("big") / "40k.pcap"
    capture_gen.write(path, 40_000)
    return path


_PLAIN = """
import json, sys
from enumlab.capture.report import analyze
s = analyze(sys.argv[1], jit=bool(int(sys.argv[2]))).summary
print(json.dumps({"summary": s}))
"""


def _run(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_compiled_and_interpreted_in_fresh_processes_give_one_summary(big_capture: Path
                                                                     ) -> None:
    """numba's kernels (compiled, or read from its disk cache on the second run) and the
    interpreter give the same summary, each in a fresh process."""
    compiled = _run(_PLAIN, str(big_capture), "1")
    again = _run(_PLAIN, str(big_capture), "1")
    interpreted = _run(_PLAIN, str(big_capture), "0")
    assert compiled["summary"] == again["summary"] == interpreted["summary"]
    assert compiled["summary"]["transactions"] > 10_000


def test_cli_on_a_big_capture_prints_the_library_summary(big_capture: Path) -> None:
    """`enumlab pcap --json` on a capture over the compiled threshold prints what the library
    computes, interpreted."""
    from enumlab.capture.report import analyze

    out = subprocess.run([sys.executable, "-m", "enumlab.cli", "pcap", "--json",
                          str(big_capture)],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    printed = json.loads(out.stdout)
    expected = json.loads(json.dumps(analyze(big_capture, jit=False).summary))
    assert printed == expected


@pytest.mark.parametrize("name", [*sorted(p.name for p in CAPTURES.glob("*.pcap*")), "40k"])
def test_two_threads_give_the_one_thread_tables_and_summary(name: str, big_capture: Path
                                                            ) -> None:
    """A big table's columns are joined, its addresses and QNAMEs coded, its rebuilt (TCP,
    reassembled) messages decoded, and its message figures counted (while the transactions
    are paired) in two threads: forced on every
    shipped capture and off on the 40,000-packet one, the tables, transactions and summary are
    those of one thread."""
    import pandas as pd

    import enumlab.capture.native as native
    import enumlab.capture.table as table
    from enumlab.capture.report import analyze

    path = big_capture if name == "40k" else CAPTURES / name
    runs = []
    for rows in (0, 1 << 62):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(table, "PARALLEL_ROWS", rows)
            mp.setattr(native, "PARALLEL_DECODE", max(rows, 1))  # rebuilt messages' decoding
            try:
                a = analyze(path)
            except Exception as exc:  # a capture without DNS: the same error both ways
                runs.append(repr(exc))
                continue
            assert a.capture is not None
            runs.append((a.capture.messages, a.transactions, a.summary))
    threaded, single = runs
    if isinstance(threaded, str) or isinstance(single, str):
        assert threaded == single
        return
    pd.testing.assert_frame_equal(threaded[0], single[0])
    pd.testing.assert_frame_equal(threaded[1], single[1])
    assert threaded[2] == single[2]
