"""enumlab.columns: the factorisation and ordering the capture analysis computes on.

A big capture's analysis factorises with a hash table and orders with a counting sort, both
compiled (numba); a small one with numpy sorts. They must give the same answer exactly: codes
numbered by first appearance (as ``pandas.factorize``), first rows ascending, a stable order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import enumlab.columns as columns
from enumlab.capture.jit import import_numba

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


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=500))
def test_counting_sort_is_the_stable_argsort(codes: list[int]) -> None:
    c = np.array(codes, dtype=np.int64)
    n = int(c.max()) + 1 if len(c) else 0
    counted, sorted_ = both_ways(columns.stable_order, c, n)
    np.testing.assert_array_equal(counted, np.argsort(c, kind="stable"))
    np.testing.assert_array_equal(sorted_, counted)


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
