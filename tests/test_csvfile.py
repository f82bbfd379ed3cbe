"""The CSV writer made from whole columns (enumlab.capture.csvfile) writes pandas' own
``to_csv(index=False)`` text, byte for byte: pandas is the oracle, on hostile text, floats of
every magnitude, missing values of every kind, several blocks, and real capture tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from enumlab.capture import csvfile
from enumlab.capture.csvfile import write_csv
from enumlab.capture.report import (
    analyze,
    csv_safe,
    save_messages,
    save_transactions,
    with_human_times,
)

from .conftest import ROOT

HOSTILE = ["plain", "a,b", 'say "hi"', "line\nfeed", "carriage\rreturn", "tab\there", " lead",
           "trail ", "", "é164.arpa", "'=cmd|'/c calc'!a0", '"', ",", "\n", "x\\000y", "😀"]


def _same(frame: pd.DataFrame, tmp_path: Path, *, fast: bool = True) -> str:
    """The writer's bytes are pandas'; ``fast``: made without pandas' writer."""
    theirs, mine = tmp_path / "pandas.csv", tmp_path / "mine.csv"
    frame.to_csv(theirs, index=False)
    with pytest.MonkeyPatch.context() as patch:
        if fast:
            patch.setattr(pd.DataFrame, "to_csv", _not_called)
        write_csv(frame, mine)
    assert mine.read_bytes() == theirs.read_bytes()
    return mine.read_text(encoding="utf-8")


def _not_called(*_: object, **__: object) -> None:
    raise AssertionError("the table went to pandas' writer")


def _floats(n: int, rng: np.random.Generator) -> np.ndarray:
    """Floats where pyarrow's text and Python's repr part ways: integral values (``1.0``),
    under 1e-4 (``1e-05``), 1e16 and up, 17 significant digits (``12460736840.575714``),
    signed zero, infinities, epoch seconds."""
    edge = np.array([0.0, -0.0, 1e-4, 1e-5, 9.999999999999999e-05, 1e16, 9999999999999998.0,
                     1e15, np.inf, -np.inf, 5e-324, 1.7976931348623157e308, 1700000000.0,
                     1700000000.0001, 12460736840.575714, 0.1, 100.0, -2.5])
    spread = 10 ** rng.uniform(-30, 30, n) * rng.choice([-1, 1], n)
    epoch = 1.7e9 + rng.uniform(0, 1e5, n)
    return np.concatenate([edge, spread, epoch, np.round(rng.uniform(0, 1e4, n), 3)])


def test_every_kind_of_column_is_pandas_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    monkeypatch.setattr(csvfile, "BLOCK_ROWS", 997)  # many blocks, one cut mid-table
    rng = np.random.default_rng(7)
    floats = _floats(2000, rng)
    n = len(floats)
    missing = rng.random(n) < 0.1
    text = np.array(HOSTILE, dtype=object)[rng.integers(0, len(HOSTILE), n)]
    frame = pd.DataFrame({
        "int": rng.integers(-2**62, 2**62, n),
        "nullable int": pd.array(np.where(missing, None, rng.integers(0, 65536, n)),
                                 dtype="Int64"),
        "float": floats,
        "float with NaN": np.where(missing, np.nan, floats[::-1]),
        "Float64": pd.array(np.where(missing, None, floats), dtype="Float64"),
        "bool": rng.random(n) < 0.5,
        "boolean": pd.array(np.where(missing, None, rng.random(n) < 0.5), dtype="boolean"),
        "text": text,
        "string": pd.array(np.where(missing, None, text), dtype="string"),
        "object with None": np.where(missing, None, text),
        "category": pd.Categorical(np.where(missing, None, text)),
        "int category": pd.Categorical(np.where(missing, None, rng.integers(0, 5, n))),
        'a "quoted", name': np.arange(n),
    })
    out = _same(frame, tmp_path)
    assert '"a ""quoted"", name"' in out.splitlines()[0]
    assert "1e-05" in out and "1700000000.0," in out and "12460736840.575714" in out


def test_other_columns_are_left_to_pandas(tmp_path: Path) -> None:
    """Dates, objects that are not text and a single column: pandas writes the table."""
    n = 50
    base = {"n": np.arange(n), "s": ["x,y"] * n}
    _same(pd.DataFrame({**base, "when": pd.date_range("2026-12-07", periods=n, freq="s",
                                                      tz="UTC")}), tmp_path, fast=False)
    _same(pd.DataFrame({**base, "lists": [[1, 2]] * n}), tmp_path, fast=False)
    _same(pd.DataFrame({**base, "mixed": ["a", 1] * (n // 2)}), tmp_path, fast=False)
    _same(pd.DataFrame({"alone": ["", "a", None] * 10}), tmp_path, fast=False)
    _same(pd.DataFrame({"a": [], "b": []}), tmp_path, fast=False)


@pytest.mark.parametrize("name", ["truncation_tcp_fallback.pcapng", "fragments_lost.pcapng",
                                  "gtpu_encapsulated.pcap"])
def test_capture_tables_are_pandas_text(name: str, tmp_path: Path) -> None:
    """The tables `enumlab pcap --csv/--messages` write, as pandas wrote them before."""
    analysis = analyze(ROOT / "data" / "captures" / name)
    for frame in (analysis.capture.messages, analysis.transactions):
        _same(csv_safe(with_human_times(frame)), tmp_path)
    txns, msgs = save_transactions(analysis, tmp_path / "t.csv"), save_messages(
        analysis, tmp_path / "m.csv")
    assert pd.read_csv(txns).shape[0] == len(analysis.transactions)
    assert pd.read_csv(msgs).shape[0] == len(analysis.capture.messages)


def test_the_transactions_parquet_keeps_only_the_names_it_uses(tmp_path: Path) -> None:
    """``dns_id`` is a category over all 65,536 hex IDs: a Parquet of a few transactions
    carried every one of them (328 KB of 368 KB, a fresh-eyes run). Only the used names are
    written; the values read back are the same."""
    analysis = analyze(ROOT / "data" / "captures" / "truncation_tcp_fallback.pcapng")
    out = save_transactions(analysis, tmp_path / "t.parquet")
    back = pd.read_parquet(out)
    assert out.stat().st_size < 60_000, out.stat().st_size
    assert back["dns_id"].astype(str).tolist() == analysis.transactions["dns_id"].astype(
        str).tolist()
    assert len(back["dns_id"].cat.categories) == analysis.transactions["dns_id"].nunique()
