"""Capture sets against careless and hostile inputs (issue 29): each case is its own minimal set
of files built by code (tests/frames.py); the set is analysed with the rest of its files and
says which file it skipped and why -- never a traceback, never the whole set lost."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from enumlab import InputError
from enumlab.capture_set import analyze_set, expand, query, read_dataset, read_summary

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
