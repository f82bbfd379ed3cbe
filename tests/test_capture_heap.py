"""What makes a big capture's analysis fast must never change what comes out: the `enumlab
pcap` command's warmed heap (enumlab.capture.heap) and numba's cached kernels loaded without
the registry refresh (enumlab.capture.jit) -- checked in fresh processes, the allocator
settings being the whole process's -- and the work done in two threads (columns joined,
addresses and QNAMEs coded, message figures counted while transactions are paired)."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from enumlab.capture import count_frames
from enumlab.capture.heap import BYTES_PER_RECORD, heap_estimate

from .conftest import ROOT

CAPTURES = ROOT / "data" / "captures"


@pytest.fixture(scope="module")
def big_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A capture over the compiled engine's threshold (4 MB): 40,000 packets of UDP and TCP
    DNS, TC=1 answers, fragments (benchmarks/capture_gen.py)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import capture_gen

    path = tmp_path_factory.mktemp("heap") / "40k.pcap"
    capture_gen.write(path, 40_000)
    return path


def test_estimate_reads_a_sample_of_record_headers(big_capture: Path, tmp_path: Path) -> None:
    frames = count_frames(big_capture)
    assert frames is not None and frames > 30_000
    # the first 1 MB's records, scaled to the file: the generator's blocks repeat
    assert heap_estimate(big_capture) == pytest.approx(frames * BYTES_PER_RECORD, rel=0.1)
    ng = CAPTURES / "truncation_tcp_fallback.pcapng"  # smaller than the sample: all of it
    assert heap_estimate(ng) == pytest.approx(count_frames(ng) * BYTES_PER_RECORD, rel=0.01)
    assert count_frames(big_capture, within=1 << 20) < frames
    zipped = tmp_path / "c.pcap.gz"
    with open(big_capture, "rb") as src, gzip.open(zipped, "wb") as dst:
        shutil.copyfileobj(src, dst)
    text = tmp_path / "notes.txt"
    text.write_text("not a capture\n" * 1000)
    # nothing to estimate: no warming
    assert heap_estimate(zipped) == heap_estimate(text) == heap_estimate(tmp_path / "none") == 0


_WARMED = """
import json, sys
from enumlab.capture.heap import heap_estimate, warm_heap
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) * 1024
before = rss()
want = heap_estimate(sys.argv[1])
thread = warm_heap(want)
thread.join()
warmed = rss() - before
from enumlab.capture.report import analyze
s = analyze(sys.argv[1], jit=True).summary
print(json.dumps({"want": want, "warmed": warmed, "summary": s}))
"""

_PLAIN = """
import json, sys
from enumlab.capture.report import analyze
s = analyze(sys.argv[1], jit=bool(int(sys.argv[2]))).summary
print(json.dumps({"summary": s, "arraymath": "numba.np.arraymath" in sys.modules}))
"""


def _run(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_warmed_heap_is_touched_and_changes_no_figure(big_capture: Path) -> None:
    """On Linux with glibc (CI's machines) the thread populates the pages it reserved -- the
    process's resident memory grows by about that much before the analysis starts -- and the
    analysis that follows gives the summary of a process that warmed nothing."""
    warmed = _run(_WARMED, str(big_capture))
    assert warmed["want"] > 16 << 20
    assert warmed["warmed"] > 0.8 * warmed["want"], warmed["warmed"]
    plain = _run(_PLAIN, str(big_capture), "1")
    interpreted = _run(_PLAIN, str(big_capture), "0")
    assert warmed["summary"] == plain["summary"] == interpreted["summary"]
    assert plain["summary"]["transactions"] > 10_000


def test_cached_kernels_load_without_numba_registries(big_capture: Path) -> None:
    """Once the kernels are in numba's disk cache (the first run makes sure), a process loads
    them without numba's lowering registries (numba.np.arraymath and the rest never imported)
    and computes the same summary."""
    first = _run(_PLAIN, str(big_capture), "1")
    again = _run(_PLAIN, str(big_capture), "1")
    assert again["arraymath"] is False
    assert again["summary"] == first["summary"]


def test_cli_with_warmed_heap_prints_the_library_summary(big_capture: Path) -> None:
    """`enumlab pcap --json` on a capture over the compiled threshold (the path that warms the
    heap) prints what the library computes."""
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
    """A big table's columns are joined, its addresses and QNAMEs coded, and its message
    figures counted (while the transactions are paired) in two threads: forced on every
    shipped capture and off on the 40,000-packet one, the tables, transactions and summary are
    those of one thread."""
    import pandas as pd

    import enumlab.capture.table as table
    from enumlab.capture.report import analyze

    path = big_capture if name == "40k" else CAPTURES / name
    runs = []
    for rows in (0, 1 << 62):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(table, "PARALLEL_ROWS", rows)
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


def test_walked_pages_are_handed_back_only_when_read_later(big_capture: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """Indexing a big capture touches every page of it. Read in pieces later, those pages are
    handed back (the process's memory stays bounded); analysed in memory (the packets are
    read right after), they stay mapped: mapping them again costs a fault per 64 KB."""
    import enumlab.capture.files as files

    def mapped_file_kb() -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("RssFile"))

    monkeypatch.setattr(files, "DROP_MIN_BYTES", 1 << 20)  # the 6 MB capture counts as big
    size_kb = big_capture.stat().st_size // 1024
    grew = {}
    for release in (True, False):
        before = mapped_file_kb()
        index = files.open_capture(big_capture, jit=False, release_walked=release)
        grew[release] = mapped_file_kb() - before
        index.close()
    assert grew[False] > 0.8 * size_kb, grew
    assert grew[True] < 0.2 * size_kb, grew
