"""Capture sets against careless and hostile inputs (issue 29): each case is its own minimal set
of files built by code (tests/frames.py); the set is analysed with the rest of its files and
says which file it skipped and why -- never a traceback, never the whole set lost."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from enumlab import InputError
from enumlab.capture.sets import (
    analyze_file_or_skip,
    analyze_set,
    expand,
    plan,
    query,
    read_dataset,
    read_summary,
    survey,
    worker_count,
)

from . import frames as F


def exchange(t: float, ident: int) -> list[tuple[float, bytes]]:
    """A NAPTR query and its answer over UDP, 0.1 s apart."""
    q = F.ip("192.0.2.1", "192.0.2.53", 17, F.udp(40000, 53, F.query("x.example", ident=ident)))
    r = F.ip("192.0.2.53", "192.0.2.1", 17,
             F.udp(53, 40000, F.response("x.example", ident=ident)))
    return [(t, F.link(q, 1)), (t + 0.1, F.link(r, 1))]


def test_a_rotated_file_of_only_the_header_is_an_empty_file(tmp_path: Path) -> None:
    """tcpdump -G writes a header-only file for a quiet interval: was an IndexError that
    failed the whole set."""
    (tmp_path / "a.pcap").write_bytes(F.pcap(exchange(1.0, 1), 1))
    (tmp_path / "b.pcap").write_bytes(F.pcap([], 1))
    (tmp_path / "c.pcap").write_bytes(F.pcap(exchange(5.0, 2), 1))
    result = analyze_set([tmp_path], workers=1)
    assert result.summary["transactions"] == 2 and result.summary["frames"] == 4
    assert result.summary["skipped_files"] == []
    empty = next(f for f in result.summary["files"] if f["path"].endswith("b.pcap"))
    assert empty["frames"] == 0 and empty["messages"] == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_one_bad_file_is_skipped_and_named_the_rest_analysed(tmp_path: Path,
                                                            workers: int) -> None:
    (tmp_path / "a.pcap").write_bytes(F.pcap(exchange(1.0, 1), 1))
    (tmp_path / "b.pcap").write_bytes(b"half a file: " + F.pcap(exchange(2.0, 2), 1)[:10])
    (tmp_path / "c.pcap").write_bytes(F.pcap(exchange(3.0, 3), 1))
    result = analyze_set([tmp_path], workers=workers)
    assert result.summary["transactions"] == 2
    skipped = result.summary["skipped_files"]
    assert [Path(s["path"]).name for s in skipped] == ["b.pcap"]
    assert "b.pcap" in skipped[0]["reason"] and "Traceback" not in skipped[0]["reason"]
    assert "1 skipped" in result.summary["capture"]


def test_set_outputs_are_valid_json_without_nan(tmp_path: Path) -> None:
    """A file of no timestamps gives NaN first/last times: was written as NaN (not JSON)."""
    (tmp_path / "a.pcap").write_bytes(F.pcap(exchange(1.0, 1), 1))
    (tmp_path / "b.pcap").write_bytes(F.pcap([], 1))
    result = analyze_set([tmp_path], workers=1, parquet=tmp_path / "ds")
    text = json.dumps(result.summary, allow_nan=False)  # raises on NaN
    assert '"first": null' in text
    saved = (tmp_path / "ds" / "summary.json").read_text()
    json.loads(saved, parse_constant=lambda c: pytest.fail(f"{c} in summary.json"))


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.pcap").write_bytes(F.pcap(exchange(1.0, 1), 1))
    analyze_set([tmp_path / "in"], workers=1, parquet=tmp_path / "ds")
    return tmp_path / "ds"


@pytest.mark.parametrize("text", ['{"frames": 3, "cut', "", "[1, 2]", "\xff\xfe"])
def test_a_summary_that_is_not_a_json_object_is_a_typed_error(dataset: Path,
                                                             text: str) -> None:
    (dataset / "summary.json").write_text(text, errors="surrogateescape")
    with pytest.raises(InputError, match=r"summary\.json"):
        read_summary(dataset)


def test_empty_sql_and_a_non_parquet_file_are_typed_errors(dataset: Path) -> None:
    assert int(query(dataset, "SELECT count(*) AS n FROM messages")["n"][0]) == 2
    with pytest.raises(InputError, match="the SQL is empty"):
        query(dataset, "")
    junk = dataset / "messages" / "junk.parquet"
    junk.write_text("not Parquet")
    with pytest.raises(InputError, match=r"messages"):
        query(dataset, "SELECT count(*) FROM messages")
    with pytest.raises(InputError, match=r"messages: not an enumlab Parquet table"):
        read_dataset(dataset, "messages")


def test_a_glob_does_not_follow_a_symlink_loop(tmp_path: Path) -> None:
    """``**/*.pcap`` over a directory holding links back up: glob.glob followed them (two
    loops: minutes); each file is found once, through real directories only."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "x.pcap").write_bytes(F.pcap(exchange(1.0, 1), 1))
    (tmp_path / "a" / "b" / "y.pcap").write_bytes(F.pcap(exchange(2.0, 2), 1))
    os.symlink("..", tmp_path / "a" / "b" / "up")
    os.symlink("../..", tmp_path / "a" / "b" / "top")
    found = expand([str(tmp_path / "**" / "*.pcap")])
    assert sorted(p.name for p in found) == ["x.pcap", "y.pcap"]
    assert all("up" not in p.parts and "top" not in p.parts for p in found)
    found = expand([str(tmp_path / "a" / "*.pcap")])
    assert [p.name for p in found] == ["x.pcap"]


def test_many_tiny_files_are_read_in_few_tasks_each_counted(tmp_path: Path) -> None:
    """300 rotated files of one exchange each: a few batched tasks, not 300 decodes (10,000
    files took > 600 s; benchmarks/bench_capture_set_small.py measures them), and each file
    still has its own line with its own counts."""
    for i in range(300):
        (tmp_path / f"r{i:04d}.pcap").write_bytes(F.pcap(exchange(100.0 + 60 * i, i + 1), 1))
    result = analyze_set([tmp_path], workers=2)
    assert result.summary["transactions"] == 300
    files = result.summary["files"]
    assert len(files) == 300
    assert all(f["messages"] == 2 and f["transactions"] == 1 for f in files), files[:3]
    tasks = [f for f in files if "batched_with" not in f]
    assert len(tasks) <= 2


def test_a_bad_file_inside_a_batch_is_skipped_alone(tmp_path: Path) -> None:
    """A file that goes bad between the survey and its task (here: removed, as a rotation
    cleaner would), among small files read in one batch: the batch is read again file by file
    and only that file is skipped, named with its reason."""
    paths = []
    for i in range(20):
        paths.append(tmp_path / f"r{i:04d}.pcap")
        paths[-1].write_bytes(F.pcap(exchange(100.0 + 60 * i, i + 1), 1))
    jobs = plan([survey(str(p), "all") for p in paths])
    assert len(jobs) == 1 and len(jobs[0].more) == 19
    paths[7].unlink()
    result = analyze_file_or_skip(jobs[0])
    assert result.skipped is None and result.messages == 2
    assert sum(m[3] for m in result.more) == 18
    bad = [m for m in result.more if m[4] is not None]
    assert [Path(m[0]).name for m in bad] == ["r0007.pcap"] and "r0007.pcap" in str(bad[0][4])


def test_workers_are_capped_by_cores_and_the_summary_says_so(tmp_path: Path) -> None:
    """--workers 64 on a 2-core machine took 7.8-10.6 GB: the workers run are capped by the
    cores this process may use (and the memory available), and the summary says why."""
    cores = len(os.sched_getaffinity(0))
    (tmp_path / "a.pcap").write_bytes(F.pcap(exchange(1.0, 1), 1))
    result = analyze_set([tmp_path], workers=cores + 62)
    workers = result.summary["workers"]
    assert workers["asked"] == cores + 62 and workers["used"] <= cores
    assert f"{cores + 62} workers asked, {workers['used']} used" in workers["capped"]
    assert worker_count(1) == (1, None)
    with pytest.raises(InputError, match="workers must be"):
        worker_count(0)


def test_the_cli_names_a_skipped_file_and_refuses_empty_sql(tmp_path: Path,
                                                            capsys) -> None:  # type: ignore[no-untyped-def]
    from enumlab.cli import main

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.pcap").write_bytes(F.pcap(exchange(1.0, 1), 1))
    (tmp_path / "in" / "b.pcap").write_bytes(b"not a capture")
    ds = tmp_path / "ds"
    assert main(["pcap", str(tmp_path / "in"), "--parquet", str(ds), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "b.pcap" in out
    assert main(["query", str(ds), ""]) == 2
    assert "the SQL is empty" in capsys.readouterr().err
    (ds / "summary.json").write_text('{"cut')
    assert main(["pcap", str(ds)]) == 2
    assert "summary.json is not JSON" in capsys.readouterr().err
