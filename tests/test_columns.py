"""enumlab.capture.columns: the factorisation and ordering the capture analysis computes on.

A big capture's analysis factorises with a hash table and orders with a counting sort, both
compiled (numba); a small one with numpy sorts. They must give the same answer exactly: codes
numbered by first appearance (as ``pandas.factorize``), first rows ascending, a stable order.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import enumlab.capture.columns as columns
from enumlab.capture.jit import import_numba

from .test_capture_engines import build, scenarios

import_numba()  # the compiled path runs only where numba is loaded already

keys = st.integers(1, 3).flatmap(lambda k: st.integers(0, 400).flatmap(
    lambda n: st.lists(st.lists(st.sampled_from([-1, 0, 1, 2, 7, 2**40, -(2**62), 2**63 - 1]),
                                min_size=n, max_size=n), min_size=k, max_size=k)))


def both_ways(fn: Callable[..., Any], *args: Any) -> tuple[Any, Any]:
    """``fn(*args)`` compiled (hash table, counting sort) and sort-based."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(columns, "HASH_MIN_ROWS", 0)
        compiled = fn(*args)
        mp.setattr(columns, "HASH_MIN_ROWS", 1 << 62)
        return compiled, fn(*args)


@settings(max_examples=150, deadline=None)
@given(keys)
def test_hash_and_sort_factorise_alike(rows: list[list[int]]) -> None:
    arrays = [np.array(r, dtype=np.int64) for r in rows]
    (code_h, first_h), (code_s, first_s) = both_ways(columns.factorize, *arrays)
    np.testing.assert_array_equal(code_h, code_s)
    np.testing.assert_array_equal(first_h, first_s)
    if len(arrays[0]):  # as pandas numbers them: by first appearance
        tuples = pd.Series(list(zip(*rows, strict=True)))
        np.testing.assert_array_equal(code_h, pd.factorize(tuples)[0])
        assert list(first_h) == sorted(first_h)


def test_colliding_hashes_stay_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    # a table of 2**k slots keeps the low bits of the hash: many keys share a slot and are
    # told apart by comparing the keys themselves
    monkeypatch.setattr(columns, "HASH_MIN_ROWS", 0)
    big = np.arange(200_000, dtype=np.int64) << 20  # every key differs only above bit 20
    codes, first = columns.factorize(np.concatenate([big, big[::-1]]))
    assert len(first) == 200_000
    np.testing.assert_array_equal(codes[:200_000], np.arange(200_000))
    np.testing.assert_array_equal(codes[200_000:], np.arange(200_000)[::-1])


def test_unsigned_keys_wrap_without_merging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columns, "HASH_MIN_ROWS", 0)
    u = np.array([2**64 - 1, 2**63, 1, 2**64 - 1], dtype=np.uint64)  # addresses' halves
    codes, first = columns.factorize(u)
    assert codes.tolist() == [0, 1, 2, 0] and first.tolist() == [0, 1, 2]


def _qname_texts(path: Any, jit: bool) -> tuple[np.ndarray, Any]:
    """The message table's QNAME codes and texts, from a fresh load."""
    from enumlab.capture import load_capture

    table = load_capture(path, engine="native", jit=jit).columns("messages")
    return table.values["qname"], table.categories["qname"]


def _same_texts_a_few_at_a_time(path: Any, picks: list[list[int]]) -> None:
    for jit in (True, False):
        codes, whole = _qname_texts(path, jit)
        expected = whole.all()  # the blob, written at once
        assert len(expected) == len(whole) == codes.max() + 1
        _codes, deferred = _qname_texts(path, jit)
        assert isinstance(deferred, columns.DeferredTexts)
        deferred.SHARE = 1  # any take() without the blob
        for pick in picks:
            asked = [p % len(expected) for p in pick][:len(expected)]
            assert deferred.take(asked) == [expected[c] for c in asked]
        assert deferred._made is None  # every take above was served without the blob
        assert deferred.all() == expected


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios(), picks=st.lists(st.lists(st.integers(0, 1000), min_size=1,
                                                      max_size=6), min_size=1, max_size=4))
def test_qname_texts_read_a_few_at_a_time_are_the_blobs(scenario: dict[str, Any],
                                                         picks: list[list[int]],
                                                         tmp_path: Path) -> None:
    """A summary reads a few QNAMEs of many: those are written on their own (the file's and
    the side buffer's -- TCP, reassembled -- names back in the order asked) and equal what
    the whole blob gives, compiled and interpreted."""
    path = tmp_path / "built.cap"
    build(scenario, path)
    if not _qname_texts(path, False)[1]:
        return  # no decodable question
    _same_texts_a_few_at_a_time(path, picks)


def test_escaped_and_root_names_read_a_few_at_a_time(tmp_path: Path) -> None:
    """Names that need RFC 1035 escaping (a dot, a backslash or a control byte inside a
    label), upper case, the root, and names from TCP messages (the side buffer)."""
    from . import frames as F

    names = ["A\\.b.Example.net", "x\\000y.test", "back\\\\slash.test", ".", "plain.test"]
    out = []
    t = 1_700_000_000.0
    for k, name in enumerate(names):
        out.append((t + k, F.link(F.ipv4("192.0.2.1", "192.0.2.53", 17,
                                         F.udp(50000 + k, 53, F.query(name, ident=k))),
                                  F.ETHERNET)))
    framed = b"".join(len(m).to_bytes(2, "big") + m
                      for m in (F.query("Tcp\\.One.test", ident=9), F.query("two.test", ident=10)))
    out.append((t + 9, F.link(F.ipv4("192.0.2.1", "192.0.2.53", 6,
                                     F.tcp(50100, 53, 1000, flags=0x02)), F.ETHERNET)))
    out.append((t + 10, F.link(F.ipv4("192.0.2.1", "192.0.2.53", 6,
                                      F.tcp(50100, 53, 1001, framed)), F.ETHERNET)))
    path = tmp_path / "names.pcap"
    path.write_bytes(F.pcap(out, F.ETHERNET))
    _codes, whole = _qname_texts(path, False)
    # dig's presentation: "\\." and "\\\\" inside a label, \\DDD for other bytes
    assert sorted(whole.all()) == sorted(["a\\.b.example.net", "x\\000y.test",
                                          "back\\\\slash.test", "<Root>", "plain.test",
                                          "tcp\\.one.test", "two.test"])
    _same_texts_a_few_at_a_time(path, [[0], [6, 1], [5, 4, 3, 2], [1, 6, 0, 5]])


def test_address_texts_written_at_once_match_inet_ntop() -> None:
    """The address labels of a table (IPv4 written by one gather, IPv6 by inet_ntop once per
    distinct address) are the C library's text, codes by first appearance: every octet value,
    the edges, IPv6 beside IPv4 with the same first bytes."""
    import socket

    from enumlab.capture.table import addresses_codes, ipv4_texts

    rng = np.random.default_rng(25)
    raw4 = np.concatenate([np.arange(256, dtype=np.uint8).repeat(4).reshape(256, 4),
                           rng.integers(0, 256, (2000, 4), dtype=np.uint8),
                           np.array([[0, 0, 0, 0], [255, 255, 255, 255], [10, 0, 100, 9]],
                                    dtype=np.uint8)])
    assert ipv4_texts(raw4) == [socket.inet_ntop(socket.AF_INET, bytes(r)) for r in raw4]
    assert ipv4_texts(raw4[:0]) == []
    raw = np.zeros((6, 16), dtype=np.uint8)
    raw[0, :4] = raw[2, :4] = raw[3, :4] = [192, 0, 2, 1]
    raw[1, 15] = 1
    raw[4, :2] = [0x20, 0x01]
    family = np.array([4, 6, 4, 6, 6, 4])
    codes, labels = addresses_codes(family, raw)
    assert codes.tolist() == [0, 1, 0, 2, 3, 4]
    assert labels == ["192.0.2.1", "::1", "c000:201::", "2001::", "0.0.0.0"]


label_lists = st.lists(st.lists(st.sampled_from(["a", "b", "c", "10.0.0.1", "::1", "", None]),
                                max_size=6, unique=True), min_size=1, max_size=4)


@given(label_lists, st.randoms(use_true_random=False))
@settings(max_examples=200, deadline=None)
def test_united_labels_are_the_first_appearance_union(lists: list[list[Any]], rnd: Any) -> None:
    """Label lists united by one factorize are the union in order of first appearance (as a
    dict filled list after list would give), each list's codes renumbered into it, code -1
    kept -- a None label included."""
    codes = [np.array([rnd.randrange(-1, len(x)) for _ in range(8)] if x else [-1] * 3,
                      dtype=np.int64) for x in lists]
    out, labels = columns._united(codes, lists)
    expected: dict[Any, int] = {}
    for x in lists:
        for label in x:
            expected.setdefault(label, len(expected))
    if all(x == lists[0] for x in lists):
        assert labels == lists[0] and all(a is b for a, b in zip(out, codes, strict=True))
        return
    assert labels == list(expected)
    for k, x, o in zip(codes, lists, out, strict=True):
        assert [None if c < 0 else x[c] for c in k] == [None if c < 0 else labels[c]
                                                          for c in o]


def test_compacted_keeps_every_rows_text_with_the_labels_it_uses() -> None:
    """A few rows taken from a big table carry only the labels they use: list labels, an array
    of labels and lazily decoded texts (overrides included) -- every row's text unchanged,
    code -1 still missing, and nothing cut when most labels are used."""
    n = 1000
    names = [f"name{k}.example" for k in range(n)]
    blob = np.frombuffer("".join(x + "\n" for x in names).encode(), dtype=np.uint8)
    lazy = columns.LazyTexts(blob, {7: "esc\\010aped", 900: "other"})
    spec = {"src": "category", "kind": "category", "qname": "category", "x": "int64"}
    rng = np.random.default_rng(5)
    codes = rng.integers(-1, n, 5000)
    table = columns.Columns(spec, {"src": codes, "kind": codes % 3, "qname": codes,
                                   "x": np.arange(5000)},
                            {}, {"src": [f"10.0.{k // 256}.{k % 256}" for k in range(n)],
                                 "kind": np.array(["a", "b", "c"], dtype=object),
                                 "qname": lazy})
    rows = np.flatnonzero(np.isin(codes, [-1, 3, 7, 900, 999]))[:40]
    few = table.take(rows)
    cut = few.compacted()
    for name in ("src", "kind", "qname"):
        assert cut.text(name).tolist() == few.text(name).tolist(), name
    assert len(cut.categories["src"]) == len(cut.categories["qname"]) == 4
    assert len(cut.categories["kind"]) == 3  # most used: left as it was
    assert cut.text("qname").tolist().count("esc\\010aped") == (codes[rows] == 7).sum() > 0
    assert (cut["x"] == rows).all()
    joined = columns.concat([cut, table.take(np.arange(10)).compacted()])
    assert joined.text("qname").tolist() == [*few.text("qname").tolist(),
                                            *table.take(np.arange(10)).text("qname").tolist()]
    assert (joined.categories["qname"].ends == np.flatnonzero(
        np.asarray(joined.categories["qname"].blob) == 10)).all()


def test_a_frame_of_joined_tables_merges_a_name_met_in_both() -> None:
    """Tables joined by ``concat`` keep each part's lazily decoded names, so a name in two
    parts has two codes; the pandas frame (categories must be unique) merges them: the same
    texts row by row, one category per name, missing rows missing. A code out of range is
    still an error, not merged away."""
    def table(texts: list[str], codes: list[int]) -> columns.Columns:
        blob = np.frombuffer("".join(x + "\n" for x in texts).encode(), dtype=np.uint8)
        return columns.Columns({"qname": "category"}, {"qname": np.array(codes)}, {},
                               {"qname": columns.LazyTexts(blob)})

    a = table(["a.example", "b.example"], [0, 1, -1, 0])
    b = table(["b.example", "c.example", "a.example"], [2, 0, 1])
    joined = columns.concat([a, b])
    assert len(joined.categories["qname"]) == 5  # two names twice: two codes each
    frame = joined.frame()
    assert frame["qname"].astype(object).where(frame["qname"].notna(), None).tolist() == [
        "a.example", "b.example", None, "a.example", "a.example", "b.example", "c.example"]
    assert sorted(frame["qname"].cat.categories) == ["a.example", "b.example", "c.example"]
    bad = columns.Columns({"qname": "category"}, {"qname": np.array([7])}, {},
                          {"qname": a.categories["qname"]})
    with pytest.raises(ValueError):
        bad.frame()


@given(st.lists(st.lists(st.integers(0, 5), min_size=0, max_size=40), min_size=1, max_size=12))
@settings(max_examples=150, deadline=None)
def test_key_ids_number_keys_as_a_dict_would(batches: list[list[int]]) -> None:
    """KeyIds (sorted runs, merged) gives every key the id a dict filled batch after batch
    would -- each batch's new keys in sorted order -- and gives the bytes back by id."""
    ids = columns.KeyIds(3)
    seen: dict[bytes, int] = {}
    for batch in batches:
        key = np.array([[v, v * 7 % 5, 0 if v % 2 else 255] for v in batch],
                       dtype=np.uint8).reshape(-1, 3)
        got = ids.ids(key)
        for raw in sorted({row.tobytes() for row in key}):
            seen.setdefault(raw, len(seen))
        assert got.tolist() == [seen[row.tobytes()] for row in key]
        assert len(ids) == len(seen)
    if len(seen):
        every = np.arange(len(seen))
        assert [ids.key(k) for k in every.tolist()] == list(seen)
        assert (ids.keys(every) == np.frombuffer(b"".join(seen), np.uint8).reshape(-1, 3)).all()


texts = st.lists(st.sampled_from(["a", "b", "10.0.0.1", "::1", "", "é", None]), max_size=40)


@given(texts, st.booleans())
@settings(max_examples=200, deadline=None)
def test_texts_factorised_by_a_dict_or_by_pandas_alike(values: list[Any], keep_none: bool,
                                                       ) -> None:
    """A few texts are coded by a dict (no pandas import), many by pandas' hash table: both
    give pandas.factorize's codes and texts, None coded -1 (``keep_none``: a text of its own,
    given back as None, not NaN)."""
    arr = np.array(values, dtype=object)
    expected_codes, expected = pd.factorize(arr, use_na_sentinel=not keep_none)
    expected_texts = [None if isinstance(x, float) else x for x in expected]
    for few in (len(values) + 1, 0):  # the dict's path, then pandas'
        old, columns.FEW_TEXTS = columns.FEW_TEXTS, few
        try:
            codes, found = columns.factorize_texts(arr, keep_none=keep_none)
        finally:
            columns.FEW_TEXTS = old
        assert codes.dtype == np.int64 and codes.tolist() == expected_codes.tolist()
        assert found == expected_texts


def test_pieces_of_a_capture_with_a_few_addresses_never_import_pandas(tmp_path: Path) -> None:
    """pandas' import (~0.35 s, ~250 MB of peak memory across the processes) is paid only for
    texts many enough to need its hash table: a capture analysed in pieces, in this process
    and in a worker process, codes its few addresses without it."""
    import subprocess
    import sys

    capture = Path(__file__).resolve().parent.parent / "data" / "captures" / \
        "truncation_tcp_fallback.pcapng"
    code = ("import sys, json; from enumlab.capture.pieces import analyze_stream; "
            f"s = analyze_stream({str(capture)!r}, piece_records=3, workers=2); "
            "print(json.dumps([s['dns_messages'], 'pandas' in sys.modules]))")
    finder = tmp_path / "sitecustomize.py"  # a worker says so if it imports pandas
    finder.write_text(
        "import sys, os\n"
        "class F:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pandas':\n"
        f"            open({str(tmp_path / 'imported')!r}, 'a').write(str(os.getpid()))\n"
        "sys.meta_path.insert(0, F())\n")
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    messages, in_main = json.loads(run.stdout.strip().splitlines()[-1])
    assert messages > 0 and not in_main
    assert not (tmp_path / "imported").exists(), "a process imported pandas"


frame_runs = st.lists(st.lists(st.integers(0, 30), min_size=0, max_size=6), min_size=1,
                      max_size=5)


@given(frame_runs, st.booleans())
@settings(max_examples=300, deadline=None)
def test_tables_joined_in_frame_order_are_the_stable_sort_of_their_rows(
        runs: list[list[int]], each_sorted: bool) -> None:
    """A piece's own rows and its context are joined in frame order: tables each in order
    that do not overlap by their frame order alone (no sort), any others sorted (stable) --
    the same rows in the same order as the stable sort of them all, ties in table order; a
    run of rows taken as slices (``Columns.span``) is the rows taken by index."""
    from enumlab.capture.pieces import _in_frame_order

    spec = {"frame": "int64", "part": "int64", "at": "int64"}
    tables = []
    for k, frames in enumerate(runs):
        f = np.array(sorted(frames) if each_sorted else frames, dtype=np.int64)
        whole = columns.Columns(spec, {"frame": f, "part": np.full(len(f), k),
                                       "at": np.arange(len(f))}, {}, {})
        lo, hi = len(f) // 3, len(f)
        sliced = whole.span(lo, hi)
        assert all((sliced[c] == whole.take(np.arange(lo, hi))[c]).all() for c in spec)
        tables.append(whole)
    every = columns.concat([t for t in tables if t.n] or tables[:1])
    order = np.argsort(every["frame"], kind="stable")
    joined = _in_frame_order(tables)
    for c in spec:
        assert joined[c].tolist() == every[c][order].tolist(), c


pair_keys_of = st.lists(st.integers(0, 2**63 - 1), max_size=300)


@given(pair_keys_of, pair_keys_of, st.integers(0, 2**20))
@settings(max_examples=300, deadline=None)
def test_a_piece_finds_exactly_the_context_keys_among_its_names(
        names: list[int], others: list[int], seed: int) -> None:
    """A piece's context search (``pieces._asked`` through the two-slot filter ``_bits``)
    finds exactly the keys among the piece's names: a filter slot shared by a key of no
    conversation is settled by the binary search, never taken as a match; and the filter does
    rule most other keys out (its point)."""
    from enumlab.capture.pieces import _asked, _bits

    sorted_names = np.unique(np.array(names, dtype=np.int64))
    rng = np.random.default_rng(seed)
    keys = np.array(names[: len(names) // 2] + others, dtype=np.int64)
    rng.shuffle(keys)
    got = _asked(keys, sorted_names, _bits(sorted_names))
    assert got.tolist() == np.isin(keys, sorted_names).tolist()
    assert _asked(keys, sorted_names).tolist() == got.tolist()


def test_the_context_filter_passes_few_keys_of_other_conversations() -> None:
    """Of 200,000 keys in none of 100,000 names, the filter lets few through to the binary
    search (one slot of 8 per name let ~11 % through; two of ~16 let ~1.5 %)."""
    from enumlab.capture.pieces import _SECOND, _bits

    rng = np.random.default_rng(7)
    names = np.unique(rng.integers(0, 2**63 - 1, 100_000, dtype=np.int64))
    keys = rng.integers(0, 2**63 - 1, 200_000, dtype=np.int64)
    keys = keys[~np.isin(keys, names)]
    seen = _bits(names)
    mask = len(seen) - 1
    passed = float((seen[keys & mask] & seen[(keys >> _SECOND) & mask]).mean())
    assert passed < 0.03, passed


_HELPER_FILE = """
from enumlab.capture.jit import helper


@helper
def step(x):
    return x + {inc}
"""
_KERNEL_FILE = """
from k_helper import step


def run(a):
    total = 0
    for v in a:
        total += step(v)
    return total
"""


def test_a_kernel_is_compiled_anew_when_a_helper_in_another_file_changes(
        tmp_path: Path) -> None:
    """numba's on-disk cache is keyed by the kernel's own file and name: a helper edited in
    another file (packets.walk_one, inlined into native.walk_and_decode) kept the old machine
    code in use -- found when an edit to walk_one did not change the compiled result. The
    name a kernel is cached under carries a digest of its code and its helpers' code, the
    same in every process: a new process finds the cache, and an edited helper is compiled
    anew. Run as a user's processes would: one compiles and caches, the next reads."""
    import subprocess
    import sys

    (tmp_path / "k_kernel.py").write_text(_KERNEL_FILE)
    code = ("import sys, numpy as np; sys.path.insert(0, sys.argv[1]); "
            "from enumlab.capture.jit import kernel, _digest; import k_kernel; "
            "print(kernel(k_kernel.run, True)(np.arange(4)), _digest(k_kernel.run))")

    def run() -> list[str]:
        return subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                              text=True, check=True).stdout.split()

    (tmp_path / "k_helper.py").write_text(_HELPER_FILE.format(inc=1))
    first, again = run(), run()
    assert first[0] == "10" and again == first  # the same digest: the cache is found
    (tmp_path / "k_helper.py").write_text(_HELPER_FILE.format(inc=2))  # the kernel untouched
    edited = run()
    assert edited[0] == "14" and edited[1] != first[1]
    cached = {p.name.split("-")[0] for p in (tmp_path / "__pycache__").glob("k_kernel.*.nbi")}
    assert cached == {f"k_kernel.run_{first[1]}", f"k_kernel.run_{edited[1]}"}
