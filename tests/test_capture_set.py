"""Many captures as one (issue 15): a capture cut into rotated files at arbitrary packet
boundaries -- inside a TCP stream, between a query and its answer, inside a fragment set --
gives the same transactions and summary as the unsplit file, whether the files are read in
this process, by two local workers, or by a real Dask cluster on loopback (one of whose workers
is killed mid-run); the dataset it writes answers SQL."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enumlab import InputError
from enumlab.capture.files import open_capture
from enumlab.capture.report import analyze
from enumlab.capture.sets import analyze_set, query, read_dataset, rotate
from enumlab.cli import main

from .conftest import ROOT
from .test_capture_engines import build, scenarios

CAPTURES = ROOT / "data" / "captures"
SHIPPED = sorted(p.name for p in CAPTURES.glob("*.pcap*"))
IGNORED = {"capture", "capture_filter", "engine", "files", "skipped_files", "window_s",
           "workers"}


def frames_in(path: Path) -> int:
    index = open_capture(path)
    try:
        return index.frames
    finally:
        index.close()


def same_as_unsplit(path: Path, rotated: list[Path], *, ports: tuple[int, ...] = (),
                    **options: Any) -> Any:
    """Assert the set's summary and transactions are the unsplit capture's; return the set."""
    one = analyze(path, ports=ports)
    many = analyze_set(rotated, keep_tables=True, ports=ports, **options)
    a = {k: v for k, v in one.summary.items() if k not in IGNORED}
    b = {k: v for k, v in many.summary.items() if k not in IGNORED}
    assert a == b
    left = one.transactions.reset_index(drop=True)
    right = many.transactions.drop(columns=["point"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right[left.columns], check_dtype=False,
                                  check_categorical=False)
    # every message once, and the same message table (frames numbered across the files)
    msgs = many.messages.drop(columns=["point"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(one.capture.messages.reset_index(drop=True), msgs,
                                  check_dtype=False, check_categorical=False)
    return many


def cut_points(n: int, rng: random.Random, pieces: int) -> list[int]:
    return sorted(rng.sample(range(1, n), min(pieces, n - 1))) if n > 1 else []


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_captures_cut_anywhere_read_as_one(name: str, tmp_path: Path) -> None:
    src = CAPTURES / name
    ports = (5300, 5301) if name == "unanswered.pcapng" else ()
    n = frames_in(src)
    rng = random.Random(name)
    for trial in range(3):
        cuts = cut_points(n, rng, rng.randint(1, 6))
        files = rotate(src, tmp_path / f"t{trial}", cuts)
        same_as_unsplit(src, files, ports=ports, workers=1)
    # one file read in chunks of a few records: the same stitching inside the file
    same_as_unsplit(src, [src], ports=ports, workers=1, chunk_records=rng.randint(2, 7))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scenario=scenarios(), data=st.data())
def test_built_captures_cut_anywhere_read_as_one(scenario: dict[str, Any], data: Any,
                                                 tmp_path_factory: pytest.TempPathFactory
                                                 ) -> None:
    """Pipelined TCP cut mid-segment list, fragments shuffled and lost, tunnels, mDNS: any cut."""
    tmp = tmp_path_factory.mktemp("built")
    src = tmp / "built.cap"
    build(scenario, src)
    n = frames_in(src)
    cuts = data.draw(st.lists(st.integers(1, max(1, n - 1)), max_size=6, unique=True))
    files = rotate(src, tmp / "rotated", sorted(cuts))
    chunk = data.draw(st.integers(2, 50))
    same_as_unsplit(src, files, workers=1, chunk_records=chunk)


def test_two_local_workers_and_names_out_of_time_order(tmp_path: Path) -> None:
    """Files are ordered by their first timestamp, not their names; two worker processes."""
    src = CAPTURES / "truncation_tcp_fallback.pcapng"
    n = frames_in(src)
    cuts = [3, 9, 10, 17, 24]
    assert n > cuts[-1]
    names = [f"{chr(ord('z') - k)}-ring.pcapng" for k in range(len(cuts) + 1)]  # z, y, x...
    files = rotate(src, tmp_path, cuts, names=names)
    # chunk_records=8: such small files would be batched into one task (issue 29); here each
    # is a task of its own, so both processes get some
    many = same_as_unsplit(src, list(reversed(files)), workers=2, chunk_records=8)
    assert [Path(f["path"]).name for f in many.summary["files"]] == names  # time order
    assert len({f.pid for f in many.files}) == 2  # really two processes
    assert many.summary["files"][0]["first_frame"] == 1


def test_two_capture_points_are_paired_apart(tmp_path: Path) -> None:
    a, b = CAPTURES / "truncation_tcp_fallback.pcapng", CAPTURES / "fragments_lost.pcapng"
    rotate(a, tmp_path / "resolver-a", [7, 20])
    rotate(b, tmp_path / "resolver-b", [4])
    many = analyze_set([tmp_path], point_from="dirname", keep_tables=True, workers=2)
    one_a, one_b = analyze(a), analyze(b)
    s = many.summary
    assert s["transactions"] == one_a.summary["transactions"] + one_b.summary["transactions"]
    assert s["frames"] == one_a.summary["frames"] + one_b.summary["frames"]
    for key in ("ok", "truncated_tcp_ok", "fragments_lost"):
        assert s["outcomes"][key] == one_a.summary["outcomes"][key] + one_b.summary[
            "outcomes"][key]
    by_point = many.transactions.groupby("point")["query_frame"].min().to_dict()
    assert set(by_point) == {"resolver-a", "resolver-b"}
    assert many.summary["files"][0]["first_frame"] == 1 and next(
        f["first_frame"] for f in many.summary["files"] if f["point"] == "resolver-b") == 1


def test_a_regex_names_the_capture_point(tmp_path: Path) -> None:
    src = CAPTURES / "truncation_ignored.pcapng"
    rotate(src, tmp_path, [4], names=["ns1_0001.pcapng", "ns1_0002.pcapng"])
    many = analyze_set([str(tmp_path / "ns1_*.pcapng")], point_from=r"^(ns\d+)_",
                       workers=1)
    assert {f["point"] for f in many.summary["files"]} == {"ns1"}
    with pytest.raises(InputError, match="does not match the file name"):
        analyze_set([str(tmp_path / "ns1_*.pcapng")], point_from=r"^resolver-(\d)", workers=1)


def test_points_whose_names_differ_only_in_odd_characters_stay_apart(tmp_path: Path) -> None:
    # one directory per point: "ns 1" and "ns_1" were both point=ns_1 (one partition, one
    # point when read back); "2024" came back as a number; "a%b" must not decode to "a\xbb"
    src = CAPTURES / "truncation_ignored.pcapng"
    names = ["ns 1", "ns_1", "2024", "a%bb", "ü.x"]
    for k, name in enumerate(names):
        rotate(src, tmp_path / "in" / name, [], names=[f"c{k}.pcapng"])
    out = tmp_path / "ds"
    many = analyze_set([tmp_path / "in"], point_from="dirname", parquet=out, workers=1)
    per = many.summary["transactions"] // len(names)
    assert per > 0
    dirs = sorted(p.name for p in (out / "transactions").iterdir())
    assert len(dirs) == len(names), dirs
    got = query(out, "SELECT point, count(*) AS n FROM transactions GROUP BY point")
    assert dict(zip(got["point"], got["n"], strict=True)) == dict.fromkeys(names, per)
    frame = read_dataset(out, "messages")
    assert sorted(set(frame["point"])) == sorted(names)
    assert all(isinstance(p, str) for p in frame["point"])
    with pytest.raises(InputError, match="empty text"):
        analyze_set([tmp_path / "in" / "2024"], point_from=r"x*", workers=1)


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no file matches"):
        analyze_set([str(tmp_path / "*.pcap")], workers=1)
    with pytest.raises(InputError, match="does not exist"):
        analyze_set([tmp_path / "missing.pcap"], workers=1)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not an enumlab dataset"):
        analyze_set([CAPTURES / "truncation_ignored.pcapng"], parquet=tmp_path, workers=1)
    with pytest.raises(InputError, match="not an enumlab dataset"):
        query(tmp_path, "SELECT 1")


def test_dataset_answers_sql_and_the_report_reads_it_back(tmp_path: Path, capsys: Any) -> None:
    src = CAPTURES / "truncation_tcp_fallback.pcapng"
    files = rotate(src, tmp_path / "day", [6, 15, 22])
    out = tmp_path / "dataset"
    many = analyze_set(files, parquet=out, workers=2)
    parts = sorted(p.relative_to(out).parts[:3] for p in out.rglob("*.parquet"))
    assert {p[0] for p in parts} == {"messages", "transactions"}
    assert all(p[1] == "point=all" and p[2].startswith("hour=20") for p in parts)
    outcomes = query(out, "SELECT outcome, count(*) AS n FROM transactions GROUP BY outcome")
    assert dict(zip(outcomes["outcome"], outcomes["n"], strict=True)) == {
        k: v for k, v in many.summary["outcomes"].items() if v}
    tc = query(out, "SELECT point, count(*) FILTER (WHERE tc) AS tc, count(*) AS n "
                    "FROM messages WHERE qr AND transport = 'udp' GROUP BY point")
    assert int(tc["tc"].iloc[0]) == many.summary["truncated"]
    with pytest.raises(InputError, match="DuckDB"):
        query(out, "SELECT nonsense FROM nowhere")
    # the CLI: JSON rows, and the report from the dataset without decoding again
    assert main(["query", str(out), "SELECT count(*) AS n FROM messages", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"n": many.summary["dns_messages"]}]
    page = tmp_path / "report.html"
    assert main(["pcap", str(out), "--html", str(page)]) == 0
    assert "DNS capture report" in page.read_text() and "truncated_tcp_ok" in page.read_text()
    capsys.readouterr()
    assert main(["pcap", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["transactions"] == many.summary["transactions"]


def test_cli_reads_a_directory_of_rotated_files(tmp_path: Path, capsys: Any) -> None:
    src = CAPTURES / "ipv6_packet_too_big.pcapng"
    rotate(src, tmp_path, [5, 11])
    assert main(["pcap", str(tmp_path), "--workers", "2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    one = analyze(src).summary
    assert summary["outcomes"] == one["outcomes"] and summary["icmp"] == one["icmp"]
    assert main(["pcap", str(tmp_path), "--csv", str(tmp_path / "x.csv")]) == 2
    assert "--parquet DIR writes its tables" in capsys.readouterr().err
    assert main(["pcap", str(tmp_path), "--pieces", "10"]) == 2  # (it was ignored)
    assert "--pieces is for one capture" in capsys.readouterr().err


# -- a real Dask cluster on loopback ---------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Any:
    """``dask scheduler`` and two ``dask worker`` processes (no nanny: a killed worker stays
    dead) on 127.0.0.1; stopped by PID."""
    from distributed import Client

    dask = Path(sys.executable).parent / "dask"
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path / "dask.log", "wb")  # noqa: SIM115 - closed below
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port",
                               str(port), "--no-dashboard"], stdout=log, stderr=log, env=env,
                              start_new_session=True)]
    client = None
    try:
        for _ in range(2):
            procs.append(subprocess.Popen([str(dask), "worker", address, "--host", "127.0.0.1",
                                           "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                           "--memory-limit", "2GB"], stdout=log, stderr=log,
                                          env=env, start_new_session=True))
        deadline = time.monotonic() + 60
        while True:
            try:
                client = Client(address, timeout="5s", set_as_default=False)
                client.wait_for_workers(2, timeout=30)
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "dask.log").read_text()[-2000:]) from None
                time.sleep(0.5)
        yield address, client, procs
    finally:
        if client is not None:
            client.close()
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        log.close()


def test_a_dask_cluster_gives_the_same_answers(dask_cluster: Any, tmp_path: Path) -> None:
    address, client, _ = dask_cluster
    src = CAPTURES / "truncation_tcp_fallback.pcapng"
    files = rotate(src, tmp_path, [4, 12, 13, 25])
    many = same_as_unsplit(src, files, dask=address)
    workers = client.run(os.getpid)
    assert {f.pid for f in many.files} <= set(workers.values())  # the cluster did the work


def test_a_worker_killed_mid_run_is_retried_by_dask(dask_cluster: Any, tmp_path: Path) -> None:
    """Enough work that tasks are running when one worker's process is killed: Dask runs
    them again on the other, and the answer is unchanged."""
    address, client, _ = dask_cluster
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from capture_gen import write

    src = tmp_path / "big.pcap"
    n = write(src, 120_000, spacing=1e-3)
    files = rotate(src, tmp_path / "rotated", list(range(n // 8, n, n // 8)))
    expected = analyze(src).summary
    pids = client.run(os.getpid)  # worker address -> its process
    killed: list[int] = []

    def kill_when_busy() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            busy = [w for w, tasks in client.processing().items() if tasks]
            if busy:
                time.sleep(0.3)  # well inside the task
                pid = pids[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    many = analyze_set(files, dask=address, keep_tables=True)
    killer.join()
    assert killed, "no task was ever seen running"
    assert len(client.scheduler_info()["workers"]) == 1  # one worker really is gone
    assert killed[0] not in {f.pid for f in many.files}  # its work was done again elsewhere
    got = {k: v for k, v in many.summary.items() if k not in IGNORED}
    assert got == {k: v for k, v in expected.items() if k not in IGNORED}


def test_an_address_where_no_scheduler_runs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no Dask scheduler answers"):
        analyze_set([CAPTURES / "truncation_ignored.pcapng"], dask=f"127.0.0.1:{_free_port()}")


def test_rotate_keeps_every_record(tmp_path: Path) -> None:
    src = CAPTURES / "gtpu_encapsulated.pcap"
    files = rotate(src, tmp_path, [3, 10])
    assert [frames_in(f) for f in files] == [3, 7, frames_in(src) - 10]
    np.testing.assert_array_equal(
        np.concatenate([open_capture(f).time for f in files]), open_capture(src).time)
    shutil.rmtree(tmp_path)


def test_gzipped_rotated_files_read_as_one(tmp_path: Path) -> None:
    """Rotated files compressed one by one (``tcpdump -G ... -z gzip``), some left plain: the
    set is the unsplit capture (the .gz ones inflated as streams into memory, no file written)."""
    import gzip

    src = CAPTURES / "truncation_tcp_fallback.pcapng"
    files = rotate(src, tmp_path, [5, 12, 20])
    for f in files[::2]:
        packed = f.with_name(f.name + ".gz")
        packed.write_bytes(gzip.compress(f.read_bytes()))
        f.unlink()
    rotated = [f.with_name(f.name + ".gz") if k % 2 == 0 else f for k, f in enumerate(files)]
    same_as_unsplit(src, rotated, chunk_records=8)


def test_a_file_of_a_set_cut_short_while_read_is_skipped_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rotated file truncated right after its records were first indexed, before their
    bytes are read (a mapped file died here by SIGBUS): the set goes on and names it."""
    import enumlab.capture.sets as sets

    src = CAPTURES / "truncation_tcp_fallback.pcapng"
    files = rotate(src, tmp_path, [10, 20])
    opened = sets._open

    def open_then_cut(path: str, jit: bool | None) -> Any:
        index = opened(path, jit)
        if path == str(files[1]) and os.path.getsize(path) > 200:
            os.truncate(path, 200)
        return index

    monkeypatch.setattr(sets, "_open", open_then_cut)
    many = analyze_set(files, workers=1)
    said = json.dumps(many.summary["skipped_files"])
    assert str(files[1]) in said and ("shrank" in said or "damaged" in said), said


def test_stitching_bytes_of_a_file_cut_short_is_an_error_naming_it(tmp_path: Path) -> None:
    """The bytes a set stitches are read with ``pread`` once the records are indexed: a file
    cut meanwhile is a CaptureError naming it and both sizes, not SIGBUS."""
    from enumlab.capture.files import CaptureError, stitch

    path = tmp_path / "cut.pcapng"
    shutil.copy(CAPTURES / "truncation_tcp_fallback.pcapng", path)
    index = open_capture(path)
    try:
        os.truncate(path, 200)
        with pytest.raises(CaptureError, match=r"cut\.pcapng: the file shrank to 200 bytes "
                                               "while being read"):
            stitch([(index, np.arange(index.frames))], str(path))
    finally:
        index.close()


# -- a day of rotated files as tcpdump names and writes them (a fresh-eyes run) ----------------

def test_a_directory_takes_tcpdump_rotated_names_and_captures_by_their_magic(
        tmp_path: Path) -> None:
    """``tcpdump -w x.pcap -C 1`` names its files x.pcap, x.pcap1, x.pcap2 ... (-z gzip:
    x.pcap3.gz); ``-w day`` names no suffix at all. A directory of them is read whole (only
    x.pcap and the pcapng were read: 2 files of 5, no word said); a text file is not taken."""
    import gzip

    src = CAPTURES / "truncation_tcp_fallback.pcapng"
    files = rotate(src, tmp_path, [5, 12, 20, 26],
                   names=["x.pcap", "x.pcap1", "x.pcap2", "x.pcap3", "day"])
    packed = files[3].with_name("x.pcap3.gz")
    packed.write_bytes(gzip.compress(files[3].read_bytes()))
    files[3].unlink()
    (tmp_path / "README.txt").write_text("the resolver's capture, rotated\n")
    (tmp_path / "notes.gz").write_bytes(gzip.compress(b"not a capture"))
    many = analyze_set([tmp_path], workers=1)
    assert sorted(Path(f["path"]).name for f in many.summary["files"]) == [
        "day", "x.pcap", "x.pcap1", "x.pcap2", "x.pcap3.gz"]
    assert many.summary["frames"] == frames_in(src) and many.summary["skipped_files"] == []
    one = analyze(src).summary
    assert many.summary["outcomes"] == one["outcomes"]


def test_the_dataset_names_the_file_of_each_row_of_batched_small_files(tmp_path: Path) -> None:
    """Small files are read several to a task; each row of the dataset names its own file
    (every row was labelled with the task's first file)."""
    src = CAPTURES / "truncation_tcp_fallback.pcapng"
    files = rotate(src, tmp_path / "day", [6, 15, 22])
    out = tmp_path / "dataset"
    many = analyze_set(files, parquet=out, workers=1)
    assert any(f.get("batched_with") for f in many.summary["files"])  # really batched
    firsts = {f["path"]: f["first_frame"] for f in many.summary["files"]}
    rows = query(out, "SELECT file, min(frame) AS lo, max(frame) AS hi, count(*) AS n "
                      "FROM messages GROUP BY file ORDER BY lo")
    names = sorted(firsts, key=firsts.get)  # type: ignore[arg-type]
    assert list(rows["file"]) == [n for n in names if n in set(rows["file"])]
    for name, lo, hi in zip(rows["file"], rows["lo"], rows["hi"], strict=True):
        later = [firsts[n] for n in names if firsts[n] > firsts[name]]
        assert firsts[name] <= lo and (not later or hi < min(later)), name
    assert int(rows["n"].sum()) == many.summary["dns_messages"]
    # two hosts' files of one name stay apart (the column held the base name: one row)
    for host in ("ns1", "ns2"):
        rotate(src, tmp_path / "hosts" / host, [12], names=["dns.pcapng", "dns.pcapng1"])
    both = tmp_path / "both"
    analyze_set([tmp_path / "hosts"], parquet=both, workers=1)
    files = query(both, "SELECT DISTINCT file FROM messages ORDER BY file")["file"].tolist()
    assert [Path(f).relative_to(tmp_path / "hosts").as_posix() for f in files] == [
        "ns1/dns.pcapng", "ns1/dns.pcapng1", "ns2/dns.pcapng", "ns2/dns.pcapng1"]
    # the tables of a dataset are written already: asking for them again is an error
    for flag in ("--csv", "--messages", "--parquet"):
        assert main(["pcap", str(out), flag, str(tmp_path / "again.csv")]) == 2


def test_files_overlapping_in_time_are_said(tmp_path: Path) -> None:
    """tcpdump restarted over its own last seconds: two files hold the same packets. The set
    reads files one after another, so those are counted twice and an exchange across them
    can go unpaired -- said, with the first pair and mergecap's way out; files in sequence
    say nothing of it."""
    src = CAPTURES / "truncation_tcp_fallback.pcapng"
    n = frames_in(src)
    apart = rotate(src, tmp_path / "apart", [12])
    assert not [w for w in analyze_set(apart, workers=1).summary["warnings"]
                if "start before an earlier one ends" in w]
    first = rotate(src, tmp_path / "both", [16], names=["a.pcapng", "unused.pcapng"])[0]
    second = rotate(src, tmp_path / "both", [12], names=["unused.pcapng", "b.pcapng"])[1]
    (tmp_path / "both" / "unused.pcapng").unlink()
    many = analyze_set([first, second], workers=1)
    said = [w for w in many.summary["warnings"] if "start before an earlier one ends" in w]
    assert len(said) == 1 and said[0].startswith("1 file(s) start before an earlier one ends "
                                                 "(first: b.pcapng starts ")
    assert "mergecap" in said[0] and many.summary["frames"] == n + 4  # 4 frames in both


def test_a_set_says_what_its_record_headers_say(tmp_path: Path) -> None:
    """Time going back inside a file and frames cut by the snap length: the set says it as the
    single capture does, numbered across the set (a set said neither)."""
    from . import frames as F

    C, S = "198.51.100.7", "192.0.2.53"

    def exchange(i: int, t: float) -> list[tuple[float, bytes]]:
        q = F.link(F.ipv4(C, S, 17, F.udp(4000 + i, 53, F.query(f"n{i}.example", ident=i))),
                   F.ETHERNET)
        r = F.link(F.ipv4(S, C, 17, F.udp(53, 4000 + i, F.response(
            f"n{i}.example", ident=i, records=20 if i % 3 == 0 else 1))), F.ETHERNET)
        return [(t, q), (t + 0.01, r)]

    frames = [f for i in range(12) for f in exchange(i, 100.0 + i)]
    frames[13] = (frames[13][0] - 5.0, frames[13][1])  # a clock stepped back, in file 2
    whole = tmp_path / "whole.pcap"
    whole.write_bytes(F.pcap(frames, F.ETHERNET, snaplen=200))
    single = [w for w in analyze(whole).summary["warnings"]
              if "go back in time" in w or "snap length" in w]
    assert len(single) == 2
    parts = rotate(whole, tmp_path / "set", [6, 12, 18])
    many = analyze_set(parts, workers=1, chunk_records=4)
    assert [w for w in many.summary["warnings"]
            if "go back in time" in w or "snap length" in w] == single


def test_a_damaged_file_read_by_several_tasks_is_said_once(tmp_path: Path) -> None:
    """A file cut mid-record, read in several tasks and in its neighbours' windows: one
    sentence naming it once (it came three times, joined by ';', and again per task)."""
    src = CAPTURES / "truncation_tcp_fallback.pcapng"
    files = rotate(src, tmp_path, [8])
    files[1].write_bytes(files[1].read_bytes()[:-7])  # the last record cut
    many = analyze_set(files, workers=1, chunk_records=3)
    damaged = [w for w in many.summary["warnings"] if "damaged" in w]
    assert len(damaged) == 1 and damaged[0].count(files[1].name) == 1, damaged


def test_an_answer_beyond_the_window_is_not_said_never_seen(tmp_path: Path) -> None:
    """A query at the end of one file, its answer 60 s later at the start of the next (a
    quiet link, a slow server): with the default 10 s window the set cannot pair them, and
    says the query was not searched that far back -- not that the capture never saw it (it
    said so, of a query in the set); a longer --window pairs them."""
    from . import frames as F

    C, S = "198.51.100.7", "192.0.2.53"

    def udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
        return F.link(F.ipv4(src, dst, 17, F.udp(sport, dport, payload)), F.ETHERNET)

    frames = []
    for i in range(6):
        frames += [(100.0 + i, udp(C, S, 4000 + i, 53, F.query(f"a{i}.example", ident=i))),
                   (100.01 + i, udp(S, C, 53, 4000 + i, F.response(f"a{i}.example", ident=i)))]
    frames.append((106.0, udp(C, S, 4999, 53, F.query("slow.example", ident=99))))
    frames.append((166.0, udp(S, C, 53, 4999, F.response("slow.example", ident=99))))
    for i in range(6):
        frames += [(167.0 + i, udp(C, S, 5000 + i, 53, F.query(f"b{i}.example", ident=i))),
                   (167.01 + i, udp(S, C, 53, 5000 + i, F.response(f"b{i}.example", ident=i)))]
    whole = tmp_path / "whole.pcap"
    whole.write_bytes(F.pcap(frames, F.ETHERNET))
    files = rotate(whole, tmp_path / "set", [13])
    short = analyze_set(files, workers=1, chunk_records=4).summary
    assert short["outcomes"]["unanswered"] == 1
    said = "\n".join(short["warnings"])
    assert "1 response(s) answer queries not found within the window before them" in said
    assert "never saw" not in said
    long = analyze_set(files, workers=1, chunk_records=4, window=100.0).summary
    assert long["outcomes"]["unanswered"] == 0 and long["outcomes"]["ok"] == 13
    assert "not found within the window" not in "\n".join(long["warnings"])


def test_the_text_of_a_set_and_of_its_dataset_name_files_and_skips_once(
        tmp_path: Path, capsys: Any) -> None:
    """The set's own lines (files per point, skipped files) under the summary: the same when
    the dataset is reported again (they were missing there), and a skipped file's path said
    once (the reason names it already: it was "skipped X: X: ...")."""
    rotate(CAPTURES / "truncation_tcp_fallback.pcapng", tmp_path / "day", [9])
    junk = tmp_path / "day" / "zz-junk.pcap"
    junk.write_bytes(b"not a capture at all, but named like one\n" * 4)
    out = tmp_path / "ds"
    assert main(["pcap", str(tmp_path / "day"), "--parquet", str(out), "--workers", "1"]) == 0
    first = capsys.readouterr().out
    skipped = [line for line in first.splitlines() if "skipped" in line and "zz-junk" in line]
    assert len(skipped) == 1 and skipped[0].count(str(junk)) == 1, skipped
    assert "  files: all 2; window" in first
    assert main(["pcap", str(out)]) == 0
    again = capsys.readouterr().out
    assert "  files: all 2; window" in again and skipped[0] in again.splitlines()


def test_a_damaged_file_of_a_set_is_placed_in_the_set_s_frames(tmp_path: Path) -> None:
    """A damage note names the file and its own frame -- and, frames being numbered across
    the set, the set's frame too (it gave the file's frame alone, read as the set's)."""
    files = rotate(CAPTURES / "truncation_tcp_fallback.pcapng", tmp_path, [9])
    whole = files[1].read_bytes()
    files[1].write_bytes(whole[:-30])  # the last record cut by the end of the file
    in_file = open_capture(files[1]).frames
    many = analyze_set(files, workers=1)
    said = [w for w in many.summary["warnings"] if "damaged" in w]
    assert len(said) == 1 and str(files[1]) in said[0], said
    assert f"(after frame {in_file} of the file, {9 + in_file} of the set)" in said[0], said


def test_a_long_tcp_connection_cut_into_tasks_is_one_connection_said_once(
        tmp_path: Path) -> None:
    """One DNS-over-TCP connection with a question every 12 s, in a file the set cuts into
    tasks (as it cuts files over 200,000 records): each task whose window began after the
    SYN said "the capture starts mid-stream" (false: the SYN is in the capture) and the
    tasks' counts added up to "N connection(s) ... open across a file boundary" for one
    connection (a fresh-eyes run). Now: one connection, said once; no mid-stream sentence."""
    from . import frames as F

    c, s = "198.51.100.7", "192.0.2.53"
    t0 = 1_780_000_000.0

    def seg(t: float, src: str, dst: str, sp: int, dp: int, seq: int, data: bytes = b"",
            flags: int = 0x18) -> tuple[float, bytes]:
        return (t, F.link(F.ipv4(src, dst, 6, F.tcp(sp, dp, seq, data, flags=flags)),
                          F.ETHERNET))

    frames = [seg(t0, c, s, 40000, 53, 100, flags=0x02), seg(t0 + 0.001, s, c, 53, 40000, 500,
                                                              flags=0x12)]
    cseq, sseq = 101, 501
    for k in range(6):
        q = F.query(f"{k}.long.example", ident=k)
        r = F.response(f"{k}.long.example", ident=k)
        wq, wr = len(q).to_bytes(2, "big") + q, len(r).to_bytes(2, "big") + r
        t = t0 + 1 + 12 * k
        frames += [seg(t, c, s, 40000, 53, cseq, wq), seg(t + 0.01, s, c, 53, 40000, sseq, wr)]
        cseq, sseq = cseq + len(wq), sseq + len(wr)
    path = tmp_path / "long.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    many = analyze_set([path], workers=1, chunk_records=3)
    said = many.summary["warnings"]
    assert not any("starts mid-stream" in w for w in said), said
    assert sum(w.startswith("1 DNS-over-TCP connection(s) were met without their SYN")
               for w in said) == 1, said
