"""A table held as numpy arrays: what the capture engine and the transaction analysis compute on.

A :class:`Columns` has a fixed spec (column -> pandas dtype, e.g.
:data:`enumlab.capture.table.MESSAGE_COLUMNS`) and keeps each column in the cheapest exact form:

* ``category``: integer codes (-1 = missing) and a category list -- which may be
  :class:`LazyTexts`, text decoded only for the codes someone reads (a million distinct QNAMEs
  are a million Python strings nobody needs for a summary);
* ``Int64`` / ``boolean`` / ``Float64``: values and a ``missing`` mask;
* ``string``: an object array (None = missing); plain ``int64`` / ``float64``: the array.

:meth:`Columns.frame` makes the pandas DataFrame (with exactly these dtypes) when it is asked
for, and :meth:`Columns.of_frame` reads one back, so the analysis has one implementation
whichever engine made the table. Nothing here imports pandas until a frame is made or 50,000
texts or more are coded at once (:func:`factorize_texts`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

NULLABLE = ("Int64", "boolean", "Float64")


class LazyTexts:
    """Category texts written into one blob (``\\n``-separated, in code order) and turned into
    Python strings only when read; ``overrides`` replace single entries (names that needed
    escaping, decoded one by one)."""

    def __init__(self, blob: np.ndarray, overrides: dict[int, str] | None = None,
                 empty_as: str = "", ends: np.ndarray | None = None) -> None:
        self._blob = blob
        self._overrides = overrides or {}
        self.empty_as = empty_as
        self._all: list[str] | None = None
        self._ends = ends  # each text's newline: given by the writer, or found on first use

    @property
    def blob(self) -> np.ndarray:
        return self._blob

    @property
    def overrides(self) -> dict[int, str]:
        return self._overrides

    @property
    def ends(self) -> np.ndarray:
        if self._ends is None:
            self._ends = np.flatnonzero(np.asarray(self.blob) == 10)
        return self._ends

    @property
    def starts(self) -> np.ndarray:
        ends = self.ends
        return np.concatenate([[0], ends[:-1] + 1]) if len(ends) else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.ends)

    def take(self, codes: Sequence[int] | np.ndarray) -> list[str]:
        """The texts of ``codes`` (each >= 0)."""
        if self._all is not None:
            return [self._all[int(c)] for c in codes]
        raw = self.blob
        ends = self.ends
        out = []
        for c in np.asarray(codes, dtype=np.int64).tolist():
            if c in self.overrides:
                out.append(self.overrides[c])
                continue
            start = int(ends[c - 1]) + 1 if c > 0 else 0
            text = raw[start:ends[c]].tobytes().decode("latin-1")
            out.append(text or self.empty_as)
        return out

    def cut(self, used: np.ndarray) -> LazyTexts:
        """Only the texts of the sorted codes ``used``, renumbered 0.. in that order: their
        bytes gathered at once (each with its newline), overrides carried over."""
        used = np.asarray(used, dtype=np.int64)
        starts, ends = self.starts[used], self.ends[used]
        sizes = ends - starts + 1
        total = int(sizes.sum())
        new_ends = np.cumsum(sizes) - 1
        at = np.repeat(starts - (new_ends + 1 - sizes), sizes) + np.arange(total)
        blob = np.asarray(self.blob)[at] if total else np.zeros(0, np.uint8)
        overrides = {}
        if self.overrides:
            old = np.fromiter(self.overrides, dtype=np.int64, count=len(self.overrides))
            where = np.searchsorted(used, old)
            kept = (where < len(used)) & (used[np.minimum(where, len(used) - 1)] == old)
            overrides = {int(w): self.overrides[int(o)]
                         for o, w in zip(old[kept], where[kept], strict=True)}
        return LazyTexts(blob, overrides, self.empty_as, ends=new_ends)

    def all(self) -> list[str]:
        if self._all is None:
            text = np.asarray(self.blob).tobytes().decode("latin-1").split("\n")[:-1]
            if self.empty_as:
                text = [t or self.empty_as for t in text]
            for c, t in self.overrides.items():
                text[c] = t
            self._all = text
        return self._all


class DeferredTexts(LazyTexts):
    """:class:`LazyTexts` whose blob is written only when needed: ``make()`` gives (blob,
    overrides, ends) for all ``count`` texts; until then, a take() of a small share of them
    is served by ``some(codes)`` (a summary reads a few thousand of a million QNAMEs)."""

    SHARE = 8  # a take() of up to count / SHARE codes does not write the whole blob

    def __init__(self, count: int, make: Callable[[], tuple[np.ndarray, dict[int, str],
                                                             np.ndarray | None]],
                 some: Callable[[np.ndarray], list[str]], empty_as: str = "") -> None:
        self.count = count
        self._make: Callable[[], Any] | None = make
        self._some = some
        self.empty_as = empty_as
        self._all = None
        self._made: tuple[np.ndarray, dict[int, str]] | None = None
        self._ends = None
        self._lock = threading.Lock()

    def _written(self) -> tuple[np.ndarray, dict[int, str]]:
        with self._lock:  # two threads of one analysis may read the texts at once
            if self._made is None:
                assert self._make is not None
                blob, overrides, self._ends = self._make()
                self._made, self._make = (blob, overrides), None
            return self._made

    @property
    def blob(self) -> np.ndarray:
        return self._written()[0]

    @property
    def overrides(self) -> dict[int, str]:
        return self._written()[1]

    @property
    def ends(self) -> np.ndarray:
        self._written()
        return super().ends

    def __len__(self) -> int:
        return self.count

    def take(self, codes: Sequence[int] | np.ndarray) -> list[str]:
        if self._made is None and self._all is None and len(codes) <= self.count // self.SHARE:
            return [t or self.empty_as for t in self._some(np.asarray(codes, dtype=np.int64))]
        return super().take(codes)


def texts_of(categories: Any, codes: np.ndarray) -> np.ndarray:
    """Object array of the category text per code (-1 -> None)."""
    codes = np.asarray(codes, dtype=np.int64)
    out = np.full(len(codes), None, dtype=object)
    have = codes >= 0
    if not have.any():
        return out
    uniq, inverse = np.unique(codes[have], return_inverse=True)
    if isinstance(categories, LazyTexts):
        text = _objects(categories.take(uniq))
    elif isinstance(categories, np.ndarray):
        text = categories[uniq]
    else:
        text = _objects(list(categories))[uniq]
    out[have] = text[inverse.ravel()]
    return out


def _lazy(d: dict[str, Any]) -> ColumnDict:
    return d if isinstance(d, ColumnDict) else ColumnDict(d)


def _objects(items: list[Any]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


HASH_MIN_ROWS = 1 << 15  # from here, with numba already loaded, a hash table instead of a sort


def hash_factorize(keys: np.ndarray, codes: np.ndarray, first: np.ndarray,
                   table: np.ndarray) -> int:
    """Kernel (compiled by numba): codes of equal columns of ``keys`` (``(k, n)`` int64),
    numbered by first appearance, into ``codes``; the first row of each code into ``first``;
    returns the number of codes. ``table`` (a power of two >= 2n entries, -1 filled) is an
    open-addressing hash table of first rows: one pass, no sort."""
    k, n = keys.shape
    mask = len(table) - 1
    groups = 0
    for i in range(n):
        h = np.uint64(0)
        for c in range(k):
            h = (h ^ np.uint64(keys[c, i])) * np.uint64(0x9E3779B97F4A7C15)
            h = h ^ (h >> np.uint64(31))
        slot = np.int64(h & np.uint64(mask))
        while True:
            j = table[slot]
            if j < 0:
                table[slot] = i
                codes[i] = groups
                first[groups] = i
                groups += 1
                break
            same = True
            for c in range(k):
                if keys[c, j] != keys[c, i]:
                    same = False
                    break
            if same:
                codes[i] = codes[j]
                break
            slot = (slot + 1) & mask
    return groups


def compiled_when_many(fn: Callable[..., Any], rows: int) -> Callable[..., Any] | None:
    """``fn`` compiled when numba is loaded already (a big capture's engine loaded it) and the
    rows are many; else None (the numpy sort instead)."""
    import sys

    if rows < HASH_MIN_ROWS or "numba" not in sys.modules:
        return None
    from .jit import kernel, numba_available

    return kernel(fn, True) if numba_available() else None


def _compiled_factorize(keys: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`hash_factorize` (see :func:`compiled_when_many`), or None."""
    n = len(keys[0])
    compiled = compiled_when_many(hash_factorize, n)
    if compiled is None:
        return None
    if len(keys) == 1 and keys[0].dtype == np.int64 and keys[0].flags.c_contiguous:
        stacked = keys[0].reshape(1, n)  # no copy
    else:
        stacked = np.empty((len(keys), n), dtype=np.int64)
        for row, key in zip(stacked, keys, strict=True):
            row[:] = key
    codes = np.empty(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    table = np.full(1 << int(2 * n - 1).bit_length(), -1,
                    dtype=np.int32 if n < (1 << 31) else np.int64)  # half the cache misses
    groups = compiled(stacked, codes, first, table)
    return codes, first[:groups].copy()


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values of an integer array, ascending (``np.unique(values)``): one sort
    and a mask. numpy 2.3+ answers ``np.unique`` of integers by a hash table, ~17x slower than
    a sort when most values differ (1 M random int64: 1.0 s against 0.06 s here) -- the pair
    keys of a piece, the orphans looked for in a whole capture."""
    ordered = np.sort(np.asarray(values), kind="stable")
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    out: np.ndarray = ordered[keep]
    return out


def factorize(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of equal rows across integer ``keys``, numbered by first appearance (as
    ``pandas.factorize``), and the first row of each code (ascending). A hash table in one
    compiled pass for many rows when numba is loaded (:func:`hash_factorize`), else sort-based;
    the same answer either way. No pandas."""
    n = len(keys[0]) if keys else 0
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    hashed = _compiled_factorize(keys)
    if hashed is not None:
        return hashed
    if len(keys) == 1:
        uniq, inverse = np.unique(keys[0], return_inverse=True)
        first = np.empty(len(uniq), dtype=np.int64)
        first[inverse.ravel()[::-1]] = np.arange(n - 1, -1, -1)  # the last write: the first row
    else:
        order = np.lexsort(tuple(reversed(keys)))
        new = np.zeros(n, dtype=bool)
        new[0] = True
        for k in keys:
            s = k[order]
            new[1:] |= s[1:] != s[:-1]
        group = np.cumsum(new) - 1
        inverse = np.empty(n, dtype=np.int64)
        inverse[order] = group
        first = order[np.flatnonzero(new)]  # lexsort is stable: the first row of each group
    inverse = inverse.ravel().astype(np.int64, copy=False)
    # renumber by first appearance
    rank = np.empty(len(first), dtype=np.int64)
    by_first = np.argsort(first, kind="stable")
    rank[by_first] = np.arange(len(first))
    return rank[inverse], np.sort(first)


class Later:
    """A column (or a category list) computed when first read: most of a big capture's
    message table is never read by a summary (the AA / RD / RA bits, VLAN, option lists...)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def once(make: Callable[[], Any]) -> Callable[[], Any]:
    """``make`` called at most once (for two :class:`Later` entries made together)."""
    made: list[Any] = []

    def get() -> Any:
        if not made:
            made.append(make())
        return made[0]

    return get


def _sliced(d: dict[str, Any], key: str, lo: int, hi: int) -> Callable[[], Any]:
    return lambda: d[key][lo:hi]  # made (and kept) in the whole table


class ColumnDict(dict[str, Any]):
    """A dict whose :class:`Later` entries are computed on first read and kept."""

    def __getitem__(self, key: str) -> Any:
        value = dict.__getitem__(self, key)
        if isinstance(value, Later):
            value = value.make()
            dict.__setitem__(self, key, value)
        return value

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key not in self:
            return default
        return self[key]

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return [(k, self[k]) for k in self]

    def values(self) -> list[Any]:  # type: ignore[override]
        return [self[k] for k in self]


class Columns:
    """One table as numpy arrays (see module docs). A value, mask or category list may be a
    :class:`Later`, computed when first read."""

    def __init__(self, spec: dict[str, str], values: dict[str, Any],
                 missing: dict[str, Any] | None = None,
                 categories: dict[str, Any] | None = None, *, n: int | None = None) -> None:
        self.spec = spec
        self.values: dict[str, np.ndarray] = _lazy(values)
        self.missing: dict[str, np.ndarray] = _lazy(missing or {})
        self.categories: dict[str, Any] = _lazy(categories or {})
        if n is None:
            first = next(iter(self.values.values()), None)
            n = 0 if first is None else len(first)
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    def isna(self, name: str) -> np.ndarray:
        """Missing mask of a column."""
        dtype = self.spec[name]
        if dtype == "category":
            return cast(np.ndarray, self.values[name] < 0)
        if dtype in NULLABLE:
            return self.missing.get(name, np.zeros(self.n, dtype=bool))
        if dtype == "string":
            return np.array([v is None for v in self.values[name]], dtype=bool)
        if dtype == "float64":
            return cast(np.ndarray, np.isnan(self.values[name]))
        return np.zeros(self.n, dtype=bool)

    def filled(self, name: str, fill: Any) -> np.ndarray:
        """Values with missing entries replaced by ``fill`` (a boolean column as bool)."""
        v = self.values[name]
        if self.spec[name] == "boolean":
            v = v.astype(bool, copy=False)
        miss = self.isna(name)
        if not miss.any():
            return v
        out = v.copy()
        out[miss] = fill
        return out

    def text(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """A category column's text per row (object array, None = missing)."""
        codes = self.values[name] if rows is None else self.values[name][rows]
        return texts_of(self.categories[name], codes)

    def counts(self, name: str, rows: np.ndarray | None = None) -> dict[str, int]:
        """How often each label of a category column occurs (missing -> "none"), most
        frequent first, ties in order of first appearance."""
        codes = self.values[name] if rows is None else self.values[name][rows]
        if not len(codes):
            return {}
        shifted = codes.astype(np.int64, copy=False) + 1  # 0: missing
        count = np.bincount(shifted)
        present = np.flatnonzero(count)
        first = np.full(len(count), len(codes), dtype=np.int64)
        first[shifted[::-1]] = np.arange(len(codes) - 1, -1, -1)
        order = present[np.lexsort((first[present], -count[present]))]
        labels = texts_of(self.categories[name], order - 1)
        return {("none" if t is None else str(t)): int(count[k])
                for t, k in zip(labels.tolist(), order.tolist(), strict=True)}

    def code_of(self, name: str, label: str) -> int:
        """The code of one category label (-2 when absent: matches no row)."""
        labels = labels_of(self.categories[name])
        try:
            return labels.index(label)
        except ValueError:
            return -2

    def take(self, rows: np.ndarray) -> Columns:
        """The rows ``rows`` (an index array), categories shared."""
        return Columns(self.spec, {k: v[rows] for k, v in self.values.items()},
                       {k: v[rows] for k, v in self.missing.items()}, self.categories)

    def compacted(self) -> Columns:
        """The same rows, each category column's labels cut to those its codes use (a few
        rows taken from a big table -- a window's context -- no longer carry its 10^5 labels
        into every concat and union after). Vectorised: the used codes are found with one
        ``unique`` and renumbered in label order; lazily decoded texts are cut by a gather of
        their bytes, not decoded."""
        categories: dict[str, Any] = dict(self.categories)
        values = dict(dict.items(self.values)) if isinstance(self.values, ColumnDict) else \
            dict(self.values)
        for name, cats in self.categories.items():
            if name not in values or isinstance(values[name], Later):
                continue
            codes = np.asarray(values[name]).astype(np.int64, copy=False)
            size = len(cats)
            used = distinct(codes[codes >= 0])
            if len(used) * 2 > size:  # most labels are used: nothing worth cutting
                continue
            remap = np.full(size + 1, -1, dtype=np.int64)  # code -1 stays -1
            remap[used] = np.arange(len(used))
            values[name] = remap[codes]
            if isinstance(cats, LazyTexts):
                categories[name] = cats.cut(used)
            elif isinstance(cats, np.ndarray):
                categories[name] = cats[used]
            else:
                categories[name] = _objects(list(cats))[used].tolist()
        return Columns(self.spec, values, self.missing, categories, n=self.n)

    def span(self, lo: int, hi: int) -> Columns:
        """Rows ``lo..hi-1`` as views (nothing copied; read only, as every table here);
        columns not made yet are made when first read, from the whole column."""
        values, missing = (
            {k: (Later(_sliced(d, k, lo, hi)) if isinstance(v, Later) else v[lo:hi])
             for k, v in dict.items(d)} for d in (self.values, self.missing))
        return Columns(self.spec, values, missing, self.categories, n=max(0, hi - lo))

    def frame(self) -> Any:
        """The pandas DataFrame, with exactly the spec's dtypes."""
        import pandas as pd

        cols: dict[str, Any] = {}
        for name, dtype in self.spec.items():
            v = self.values[name]
            if dtype == "category":
                cols[name] = _categorical(v.astype(np.int64, copy=False),
                                          labels_of(self.categories[name]))
            elif dtype in NULLABLE:
                miss = self.missing.get(name, np.zeros(self.n, dtype=bool)).astype(bool, copy=False)
                if dtype == "boolean":
                    cols[name] = pd.arrays.BooleanArray(v.astype(bool, copy=False), miss)
                elif dtype == "Int64":
                    cols[name] = pd.arrays.IntegerArray(v.astype(np.int64, copy=False), miss)
                else:
                    cols[name] = pd.arrays.FloatingArray(v.astype(np.float64, copy=False), miss)
            elif dtype == "string":
                cols[name] = pd.array(v, dtype="string")
            else:
                cols[name] = v.astype(dtype)
        frame = pd.DataFrame(cols)
        return frame

    @classmethod
    def of_frame(cls, frame: Any, spec: dict[str, str]) -> Columns:
        """A DataFrame of ``spec`` read back as columns (no copy where pandas allows)."""
        values: dict[str, np.ndarray] = {}
        missing: dict[str, np.ndarray] = {}
        categories: dict[str, Any] = {}
        for name, dtype in spec.items():
            s = frame[name]
            if dtype == "category":
                s = s.astype("category")
                values[name] = s.cat.codes.to_numpy(dtype=np.int64)
                categories[name] = list(s.cat.categories)
            elif dtype in NULLABLE:
                miss = s.isna().to_numpy(dtype=bool)
                fill: Any = False if dtype == "boolean" else 0
                values[name] = s.astype(dtype).to_numpy(
                    dtype=bool if dtype == "boolean" else
                    np.int64 if dtype == "Int64" else np.float64, na_value=fill)
                missing[name] = miss
            elif dtype == "string":
                values[name] = s.astype(object).where(s.notna(), None).to_numpy(dtype=object)
            else:
                values[name] = s.to_numpy(dtype=dtype)
        return cls(spec, values, missing, categories)


def shared_codes(cols: Columns, *names: str) -> tuple[list[np.ndarray], list[str]]:
    """Codes of several category columns over one shared label list (the columns' own codes
    when they already share their categories)."""
    cats = [cols.categories[n] for n in names]
    codes = [cols.values[n].astype(np.int64, copy=False) for n in names]
    if all(c is cats[0] for c in cats):
        return codes, labels_of(cats[0])
    return _united(codes, [labels_of(c) for c in cats])


FEW_TEXTS = 50_000  # below this many texts a dict codes them; from here pandas' hash table


def factorize_texts(values: Any, keep_none: bool = False) -> tuple[np.ndarray, list[Any]]:
    """Codes of texts (an object array or a list) by first appearance and the distinct texts,
    as ``pandas.factorize``: None is code -1 (``keep_none``: a label of its own). Below
    :data:`FEW_TEXTS` a dict codes them in C-level passes and pandas is not imported -- its
    import (~0.35 s) is most of the cost of a few thousand addresses, paid again by every
    worker process; from there pandas' hash table is faster (2 M shuffled addresses: 0.84 s
    against a dict's 2.7 s) and the import is worth it. The same codes either way (tested)."""
    n = len(values)
    if n >= FEW_TEXTS:
        import pandas as pd

        arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
        codes, uniques = pd.factorize(arr, use_na_sentinel=not keep_none)
        found = list(uniques)
        if keep_none:  # pandas gives the None label back as NaN
            found = [None if isinstance(x, float) and x != x else x for x in found]
        return codes.astype(np.int64, copy=False), found
    seen: dict[Any, None] = dict.fromkeys(values)
    if not keep_none:
        seen.pop(None, None)
    texts = list(seen)
    index = dict(zip(texts, range(len(texts)), strict=True))
    if not keep_none:
        index[None] = -1
    return np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=n), texts


def labels_of(categories: Any) -> list[str]:
    """A category column's labels as a list (lazily decoded texts decoded)."""
    return categories.all() if isinstance(categories, LazyTexts) else list(categories)


def _united(codes: list[np.ndarray], lists: list[list[str]]) -> tuple[list[np.ndarray], list[str]]:
    """Codes into several label lists, renumbered into one list that unites them in order of
    first appearance (the codes as they are when the lists are equal): one hash pass over
    all the labels (a window's tables hold ~10^5 addresses each), no Python loop over them."""
    if all(x == lists[0] for x in lists):
        return codes, lists[0]
    sizes = [len(x) for x in lists]
    every = np.empty(sum(sizes), dtype=object)
    at = 0
    for labels, n in zip(lists, sizes, strict=True):  # one C-level copy per list
        every[at:at + n] = labels
        at += n
    ids, merged = factorize_texts(every, keep_none=True)  # a None label (rare): its own
    out, at = [], 0
    for k, n in zip(codes, sizes, strict=True):  # one slice per list
        remap = np.append(ids[at:at + n], -1).astype(np.int64, copy=False)
        out.append(remap[k])  # code -1 -> the final -1
        at += n
    return out, merged


def _categorical(codes: np.ndarray, labels: Sequence[Any]) -> Any:
    """A pandas Categorical of ``codes`` into ``labels``. Labels may repeat (lazily decoded
    texts joined by :func:`concat`: a name met in two parts has two codes); pandas wants
    each once, so repeated labels are merged and the codes pointed at the first."""
    import pandas as pd

    try:
        return pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype=object))
    except ValueError:
        back, unique = pd.factorize(pd.Index(labels, dtype=object))
        if len(unique) == len(labels) or (len(codes) and int(codes.max()) >= len(labels)):
            raise  # not (only) a repeated label: a code out of range, said as pandas says it
        merged = np.where(codes >= 0, back[np.maximum(codes, 0)], -1)
        return pd.Categorical.from_codes(merged, categories=unique)


def concat(parts: Sequence[Columns]) -> Columns:
    """Several tables of one spec as one (rows in the order given). Category columns keep one
    label list: shared lists stay, label lists are united, and lazily decoded texts are joined
    (a name in two parts then has two codes -- compare names by their key column, not their
    code). Parts without rows are left out: their (empty) label lists would otherwise force a
    union with every other part's labels (texts decoded one by one)."""
    if len(parts) > 1:
        parts = [p for p in parts if p.n] or list(parts[:1])
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    keys = [k for k in first.values if all(k in p.values for p in parts)]
    values: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    categories: dict[str, Any] = {}
    for name in keys:
        if first.spec.get(name) == "category":
            values[name], categories[name] = _concat_codes(
                [p.values[name] for p in parts], [p.categories[name] for p in parts])
        else:
            values[name] = np.concatenate([p.values[name] for p in parts])
    for name in {k for p in parts for k in p.missing}:
        missing[name] = np.concatenate([p.missing.get(name, np.zeros(p.n, dtype=bool))
                                        for p in parts])
    return Columns(first.spec, values, missing, categories)


def _concat_codes(codes: list[np.ndarray], cats: list[Any]) -> tuple[np.ndarray, Any]:
    if all(c is cats[0] for c in cats):
        return np.concatenate(codes), cats[0]
    if all(isinstance(c, LazyTexts) for c in cats):
        out, overrides, at, ends, bytes_at = [], {}, 0, [], 0
        for k, c in zip(codes, cats, strict=True):
            out.append(np.where(k >= 0, k + at, -1))
            overrides.update({i + at: t for i, t in c.overrides.items()})
            at += len(c)
            ends.append(c.ends + bytes_at)  # known already: not searched for again
            bytes_at += len(c.blob)
        blob = np.concatenate([np.asarray(c.blob) for c in cats])
        return np.concatenate(out), LazyTexts(blob, overrides, cats[0].empty_as,
                                              ends=np.concatenate(ends))
    united, labels = _united(codes, [labels_of(c) for c in cats])
    return np.concatenate(united), labels


class KeyIds:
    """Stable ids for fixed-width byte keys (a TCP direction's addresses and ports, an IP
    fragment set's addresses, id and protocol), numbered as they are first met -- a batch's
    new keys in sorted order -- with no Python loop over keys: the keys known are kept as a
    few sorted runs, searched with ``searchsorted``; a new run is merged into the runs no
    longer than itself (a key is merged O(log n) times over a capture)."""

    def __init__(self, width: int) -> None:
        self.width = width
        self._void = np.dtype((np.void, width))
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted keys, their ids)
        self._by_id = np.zeros((64, width), dtype=np.uint8)
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def ids(self, key: np.ndarray) -> np.ndarray:
        """The id of each row of ``key`` (``(n, width)`` uint8); new keys get the next ids."""
        if not len(key):
            return np.zeros(0, dtype=np.int64)
        flat = np.ascontiguousarray(key, dtype=np.uint8).view(self._void).ravel()
        uniq, inverse = np.unique(flat, return_inverse=True)
        found = np.full(len(uniq), -1, dtype=np.int64)
        for keys, ids in self._runs:  # a few runs (logarithmic), not keys
            at = np.minimum(np.searchsorted(keys, uniq), len(keys) - 1)
            hit = keys[at] == uniq
            found[hit] = ids[at[hit]]
        new = np.flatnonzero(found < 0)
        if len(new):
            found[new] = self.count + np.arange(len(new))
            need = self.count + len(new)
            if need > len(self._by_id):
                grown = np.zeros((max(need, 2 * len(self._by_id)), self.width), np.uint8)
                grown[:self.count] = self._by_id[:self.count]
                self._by_id = grown
            self._by_id[self.count:need] = uniq[new].view(np.uint8).reshape(-1, self.width)
            self.count = need
            run_keys, run_ids = uniq[new], found[new]
            while self._runs and len(self._runs[-1][0]) <= len(run_keys):
                keys, ids = self._runs.pop()
                run_keys, run_ids = np.concatenate([keys, run_keys]), np.concatenate([ids,
                                                                                     run_ids])
                order = np.argsort(run_keys, kind="stable")
                run_keys, run_ids = run_keys[order], run_ids[order]
            self._runs.append((run_keys, run_ids))
        return found[inverse.ravel()]

    def keys(self, ids: np.ndarray) -> np.ndarray:
        """The key bytes of ``ids`` (``(n, width)`` uint8)."""
        picked: np.ndarray = self._by_id[np.asarray(ids, dtype=np.int64)]
        return picked

    def key(self, k: int) -> bytes:
        return bytes(self._by_id[int(k)].tobytes())
