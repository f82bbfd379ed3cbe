"""One capture analysed in pieces (enumlab.capture.pieces) gives exactly the summary of the
whole capture analysed in memory: on every shipped capture, on captures built by code
(hypothesis: VLANs, SLL, fragments in any order, TCP streams cut anywhere, mDNS, malformed
DNS), cut into pieces as small as one record -- a TCP stream, a fragment set, a query and its
answer, a TC=1 answer and its TCP retry all land in different pieces -- and on a capture cut
mid-record. The CLI's --pieces prints the same JSON as the in-memory run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enumlab.capture import CaptureError
from enumlab.capture.pieces import analyze_stream
from enumlab.capture.report import analyze

from . import frames as F
from .conftest import ROOT
from .test_capture_engines import EXAMPLES, build, scenarios

CAPTURES = ROOT / "data" / "captures"
LABELS = json.loads((CAPTURES / "labels.json").read_text())


def same_summary(path: Path, pieces: int, ports: tuple[int, ...] = (), **kw: Any) -> None:
    whole = analyze(path, ports=ports).summary
    streamed = analyze_stream(path, ports=ports, piece_records=pieces, workers=1, **kw)
    assert streamed["pieces"] >= 1
    for key, value in whole.items():
        assert streamed[key] == value, (path.name, pieces, key)


@pytest.mark.parametrize("pieces", [1, 2, 7, 1000])
@pytest.mark.parametrize("name", sorted(LABELS))
def test_every_shipped_capture_in_pieces(name: str, pieces: int) -> None:
    same_summary(CAPTURES / name, pieces, tuple(LABELS[name].get("ports", ())))


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios(), pieces=st.integers(1, 12))
def test_captures_built_by_code_in_pieces(scenario: dict[str, Any], pieces: int,
                                          tmp_path: Path) -> None:
    path = tmp_path / "built.cap"
    build(scenario, path)
    try:
        whole = analyze(path).summary
    except CaptureError as exc:  # nothing to summarise: the pieces say the same
        with pytest.raises(CaptureError, match="no DNS messages"):
            analyze_stream(path, piece_records=pieces, workers=1)
        assert "no DNS messages" in str(exc)
        return
    streamed = analyze_stream(path, piece_records=pieces, workers=1)
    for key, value in whole.items():
        assert streamed[key] == value, key


def test_pieces_in_worker_processes(tmp_path: Path) -> None:
    """Pieces analysed by two spawned worker processes add up to the same summary."""
    path = CAPTURES / "truncation_tcp_fallback.pcapng"
    whole = analyze(path).summary
    streamed = analyze_stream(path, piece_records=3, workers=2)
    assert streamed["pieces"] > 2
    assert {k: streamed[k] for k in whole} == whole


def test_a_cut_capture_in_pieces(tmp_path: Path) -> None:
    data = (CAPTURES / "truncation_tcp_fallback.pcapng").read_bytes()
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data[: int(len(data) * 0.8)])
    same_summary(path, 4)
    assert any("damaged" in w for w in analyze_stream(path, piece_records=4,
                                                      workers=1)["warnings"])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "enumlab.cli", "pcap", *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_cli_pieces_prints_the_same_json() -> None:
    path = str(CAPTURES / "ipv6_packet_too_big.pcapng")
    whole = json.loads(_cli(path, "--json").stdout)
    run = _cli(path, "--json", "--pieces", "2")
    assert run.returncode == 0, run.stderr
    streamed = json.loads(run.stdout)
    assert streamed.pop("pieces") > 1
    assert streamed == whole
    text = _cli(path, "--pieces", "2")
    assert "analysed in" in text.stdout and "piece(s)" in text.stdout


@pytest.mark.parametrize("extra, says", [
    (["--csv", "out.csv"], "--pieces gives the summary only; --csv"),
    (["--engine", "tshark"], "--pieces reads with the native engine"),
])
def test_cli_pieces_refuses_what_needs_whole_tables(extra: list[str], says: str,
                                                    tmp_path: Path) -> None:
    run = _cli(str(CAPTURES / "loopback_capture.pcapng"), "--pieces", "5",
               *[str(tmp_path / x) if x.endswith(".csv") else x for x in extra])
    assert run.returncode == 2 and says in run.stderr and "Traceback" not in run.stderr


def test_stream_errors_name_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all" * 10)
    with pytest.raises(CaptureError, match=r"junk\.pcap"):
        analyze_stream(junk, piece_records=2, workers=1)
    with pytest.raises(CaptureError, match="no DNS messages"):
        analyze_stream(CAPTURES / "unanswered.pcapng", piece_records=2, workers=1)
    with pytest.raises(ValueError):
        analyze_stream(CAPTURES / "loopback_capture.pcapng", piece_records=0)


# the peak is this process's own high-water mark (VmHWM, reset by exec): getrusage's ru_maxrss
# also keeps the parent's size at fork, and pytest's grows with the suite
_PEAK = """
import json, sys
from enumlab.capture.pieces import analyze_stream
from enumlab.capture.report import analyze
path, how = sys.argv[1], sys.argv[2]
s = analyze_stream(path, piece_records=50_000, workers=1) if how == "pieces" else \\
    analyze(path).summary
with open("/proc/self/status") as f:
    hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
print(json.dumps({"rss": hwm, "transactions": s["transactions"]}))
"""


def test_memory_grows_with_the_piece_not_the_capture(tmp_path: Path) -> None:
    """Four times the packets: the in-memory analysis needs hundreds of MB more, the analysis
    in pieces of 50,000 records nearly nothing more (its index and the open streams' state)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import capture_gen

    runs: dict[tuple[int, str], dict[str, int]] = {}
    for packets in (200_000, 800_000):
        path = tmp_path / f"{packets}.pcap"
        capture_gen.write(path, packets)
        # the first run on a fresh machine compiles the kernels (numba's cache): not measured
        for how in ("memory", "pieces") if packets == 200_000 else ():
            subprocess.run([sys.executable, "-c", _PEAK, str(path), how], capture_output=True,
                           timeout=600, cwd=ROOT, check=True)
        for how in ("memory", "pieces"):
            out = subprocess.run([sys.executable, "-c", _PEAK, str(path), how],
                                 capture_output=True, text=True, timeout=600, cwd=ROOT)
            assert out.returncode == 0, out.stderr[-2000:]
            runs[(packets, how)] = json.loads(out.stdout.strip().splitlines()[-1])
        assert runs[(packets, "memory")]["transactions"] == runs[(packets, "pieces")][
            "transactions"] > 0
    grew = {how: runs[(800_000, how)]["rss"] - runs[(200_000, how)]["rss"]
            for how in ("memory", "pieces")}
    assert grew["memory"] > 200 * 1024, (grew, runs)  # KB: the in-memory tables grow
    assert grew["pieces"] < grew["memory"] / 4, (grew, runs)


def test_piece_tables_saved_narrow_read_back_as_they_were(tmp_path: Path) -> None:
    """A piece's integer columns are written in the narrowest type their values fit and read
    back as int64 with the same values: whole, and mapped with rows taken (a window's tables);
    values at each type's edges and past them, a column of one value, an empty table."""
    import numpy as np

    from enumlab.capture import pieces
    from enumlab.capture.columns import Columns

    edges = [-(1 << 7) - 1, -(1 << 7), (1 << 7) - 1, 1 << 7, -(1 << 15) - 1, (1 << 15) - 1,
             1 << 15, (1 << 31) - 1, 1 << 31, -(1 << 63), (1 << 63) - 1]
    values = {f"c{k}": np.array([0, e, 1], dtype=np.int64) for k, e in enumerate(edges)}
    values["same"] = np.full(3, 7, dtype=np.int64)
    values["frame"] = np.array([1, 2, 3], dtype=np.int64)
    values["time"] = np.array([0.5, 1.5, 2.5])
    spec = {name: ("float64" if name == "time" else "int64") for name in values}
    pieces._save(Columns(spec, values), tmp_path / "t")
    for whole in (True, False):
        back = pieces._open(str(tmp_path / "t"), whole=whole)
        rows = np.array([2, 0, 1])
        for name, column in values.items():
            taken = back.take(rows)[name]
            assert taken.dtype == column.dtype and (taken == column[rows]).all(), (name, whole)
    narrow = [d for key, d in pieces._layout(tmp_path / "t").items() if key.startswith("v.c")]
    assert np.dtype(np.int8) in narrow and np.dtype(np.int64) in narrow
    pieces._save(Columns(spec, {n: v[:0] for n, v in values.items()}), tmp_path / "e")
    assert len(pieces._open(str(tmp_path / "e"), whole=True)) == 0


def test_pieces_with_untimed_messages_sum_like_the_whole(tmp_path: Path) -> None:
    """A capture with messages whose time is lost (a timestamp past what a table holds: NaN),
    in pieces that split exchanges and whose windows span other tables whole: the same summary
    as the whole capture, its warning about the timestamps included (the pieces lost it)."""
    from . import frames as fr

    records = []
    for i in range(60):
        q = fr.ip("192.0.2.1", "192.0.2.53", 17,
                  fr.udp(40000 + i, 53, fr.query(f"{i % 7}.x.example", ident=i)))
        r = fr.ip("192.0.2.53", "192.0.2.1", 17, fr.udp(53, 40000 + i, fr.response(
            f"{i % 7}.x.example", ident=i)))
        lost = i % 9 == 4  # the query's time is lost; its answer keeps its own
        records += [(1e10 if lost else 1.0 + i * 0.2, 0, fr.link(q, fr.ETHERNET)),
                    (1.05 + i * 0.2, 0, fr.link(r, fr.ETHERNET))]
    path = tmp_path / "untimed.pcapng"
    path.write_bytes(fr.pcapng(records, [fr.ETHERNET]))
    whole = analyze(path).summary
    assert whole["transactions"] > 0
    assert any("timestamp beyond" in w for w in whole["warnings"])
    for pieces in (3, 4, 5, 7, 9, 30):
        streamed = analyze_stream(path, piece_records=pieces, workers=1)
        assert {k: streamed[k] for k in whole} == whole, pieces


def test_a_lost_fragment_set_across_pieces_is_counted_once(tmp_path: Path) -> None:
    """A fragment set that never completes, its two fragments 30 s apart (further than a
    piece's window): counted once, where its first fragment is -- the piece holding only the
    later fragment counted it again (found by a fresh-eyes run)."""
    from . import frames as fr

    q = fr.ip("192.0.2.1", "192.0.2.53", 17, fr.udp(40000, 53, fr.query("1.x.example")))
    answer = fr.udp(53, 40000, fr.response("1.x.example", records=60))
    parts = fr.fragments_v4("192.0.2.53", "192.0.2.1", 17, answer, 800)
    assert len(parts) >= 3
    records = [(1.0, fr.link(q, fr.ETHERNET)), (1.01, fr.link(parts[0], fr.ETHERNET)),
               (31.0, fr.link(parts[1], fr.ETHERNET))]  # the rest never came
    path = tmp_path / "lost-slow.pcap"
    path.write_bytes(fr.pcap(records, fr.ETHERNET))
    whole = analyze(path).summary
    assert whole["messages"]["lost_fragment_datagrams"] == 1, whole["messages"]
    for pieces in (1, 2):
        streamed = analyze_stream(path, piece_records=pieces, workers=1)
        assert {k: streamed[k] for k in whole} == whole, pieces


def test_each_table_of_a_window_is_opened_once(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces of 20 records, a window spanning all of them: every piece table is read once
    whole (its own piece), its keys once (kept while the window holds it), and mapped again
    only by the few pieces that take rows from it -- not once for every piece whose window it
    falls in (147 times here), which made tiny pieces cost pieces x window (13 s for 20,000
    packets at 20 records a piece). The summary is still the whole capture's."""
    import collections

    import enumlab.capture.pieces as pieces_module

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import capture_gen

    path = tmp_path / "small.pcap"
    capture_gen.write(path, 3_000)
    opened: collections.Counter[tuple[str, bool]] = collections.Counter()
    real_open = pieces_module._open

    def counted(where: str, *, whole: bool = False) -> Any:
        opened[(Path(where).name, whole)] += 1
        return real_open(where, whole=whole)

    monkeypatch.setattr(pieces_module, "_open", counted)
    streamed = analyze_stream(path, piece_records=20, workers=1)
    assert streamed["pieces"] >= 100
    whole_opens = {name: k for (name, whole), k in opened.items() if whole}
    mapped = {name: k for (name, whole), k in opened.items() if not whole}
    assert len(whole_opens) == streamed["pieces"] and set(whole_opens.values()) == {1}
    tables = {name: k for name, k in mapped.items() if name.startswith(("piece-", "late-"))}
    assert len(tables) >= streamed["pieces"] - 1
    assert max(tables.values()) <= 4, collections.Counter(tables.values())
    monkeypatch.undo()
    whole = analyze(path).summary
    assert {k: streamed[k] for k in whole} == whole


def test_a_piece_reads_only_its_own_conversations(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """300 clients ask one name within a second (a burst: every piece's window holds every
    other piece). A piece's context is the messages of its own client-server-name
    conversations, so each piece analyses about its own messages -- before, every message
    asking that name in the window: the whole burst, for every piece. The summary is still
    the whole capture's, a lost answer and a retry included."""
    from enumlab.capture import pieces as pieces_module
    from enumlab.capture.table import pair_keys

    from . import frames as fr

    records = []
    for c in range(300):
        client = f"10.1.{c // 200}.{c % 200 + 1}"
        q = fr.query("same.example", ident=c + 1)
        at = 1.0 + c * 0.003
        records.append((at, fr.link(fr.ip(client, "192.0.2.53", 17, fr.udp(40000 + c, 53, q)),
                                     fr.ETHERNET)))
        if c % 50 == 7:  # retried 0.9 s later (another piece), then answered
            records.append((at + 0.9, fr.link(fr.ip(client, "192.0.2.53", 17,
                                                    fr.udp(40000 + c, 53, q)), fr.ETHERNET)))
        if c % 50 != 3:  # some answers never come
            a = fr.response("same.example", ident=c + 1)
            records.append((at + 0.95, fr.link(fr.ip("192.0.2.53", client, 17,
                                                     fr.udp(53, 40000 + c, a)), fr.ETHERNET)))
    records.sort(key=lambda r: r[0])
    path = tmp_path / "burst.pcap"
    path.write_bytes(fr.pcap(records, fr.ETHERNET))

    analysed: list[int] = []
    real = pieces_module.CaptureTables

    def sized(*args: Any, **kw: Any) -> Any:
        analysed.append(args[2].n)
        return real(*args, **kw)

    monkeypatch.setattr(pieces_module, "CaptureTables", sized)
    streamed = analyze_stream(path, piece_records=20, workers=1)
    monkeypatch.undo()
    assert len(analysed) == streamed["pieces"] > 25
    assert max(analysed) < 60, analysed  # its ~20 messages and their partners, not ~600
    whole = analyze(path).summary
    assert whole["outcomes"]["unanswered"] == 6 and whole["transactions"] == 300
    assert {k: streamed[k] for k in whole} == whole
    # the key: one per conversation, whichever way a message goes
    name = np.array([5, 5, 6])
    one, two = (np.zeros((3, 16), np.uint8) for _ in range(2))
    one[:, 0], two[:, 0] = 10, 192
    two[2, 1] = 1
    assert pair_keys(name, one, two)[0] == pair_keys(name, two, one)[0]
    assert len(set(pair_keys(name, one, two).tolist())) == 2  # rows 0 and 1 are one
    assert pair_keys(name[:1], one[:1], two[:1])[0] != pair_keys(name[2:], one[:1], two[:1])[0]


@pytest.mark.parametrize("how", [[], ["--engine", "tshark"], ["--pieces", "3"]])
def test_a_capture_with_no_dns_exits_1_and_an_empty_file_2(how: list[str],
                                                           tmp_path: Path) -> None:
    """Exit codes as the README promises, alike on every path: a sound capture with no DNS
    message in it (no packet at all; only HTTP) is "nothing usable", 1, one line on stderr and
    the reason in --json; a 0-byte file is not a capture, an error, 2 -- from tshark's engine
    too, which read it as "no DNS"."""
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(F.pcap([], F.ETHERNET))
    web = tmp_path / "web.pcap"
    web.write_bytes(F.pcap([(1.0 + k, F.link(F.ip("192.0.2.1", "192.0.2.80", 17,
                                                    F.udp(40000, 80, b"GET /")), F.ETHERNET))
                            for k in range(4)], F.ETHERNET))
    zero = tmp_path / "zero.pcap"
    zero.write_bytes(b"")
    import gzip

    inflates_to_nothing = tmp_path / "nothing.pcap.gz"
    inflates_to_nothing.write_bytes(gzip.compress(b""))
    for path, code, says in ((empty, 1, "no DNS messages"), (web, 1, "no DNS messages"),
                             (zero, 2, "the file is empty"),
                             (inflates_to_nothing, 2, "the gzip stream holds no capture bytes")):
        run = _cli(str(path), "--json", *how)
        assert run.returncode == code, (path.name, run.returncode, run.stderr)
        assert says in run.stderr and len(run.stderr.splitlines()) == 1, run.stderr
        assert "Traceback" not in run.stderr
        shown = json.loads(run.stdout)["error"]
        assert says in shown["message"]
        assert shown["kind"] == ("NoDnsMessagesError" if code == 1 else "CaptureError")
    if not how:  # a set of such captures: 1 as well, its summary kept on stdout
        run = _cli(str(empty), str(web), "--json")
        assert run.returncode == 1, run.stderr
        assert json.loads(run.stdout)["dns_messages"] == 0
        assert "no DNS messages in these 2 capture(s)" in run.stderr
        other = tmp_path / "zero2.pcap"
        other.write_bytes(b"")
        run = _cli(str(zero), str(other), "--json")  # not one input a capture: an error
        assert run.returncode == 2 and "none of the 2 input(s)" in run.stderr
        assert json.loads(run.stdout)["error"]["kind"] == "CaptureError"
