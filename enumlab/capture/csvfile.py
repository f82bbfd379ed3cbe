"""A table written as CSV from whole columns: the text pandas' ``to_csv(index=False)`` writes,
byte for byte, without its per-row loop.

``DataFrame.to_csv`` turns every row into a list of Python objects and hands it to the
:mod:`csv` module: some 10 us a row for the message table's 41 columns (1 M messages, 11 s). Here
each column becomes text in one vectorised step (pyarrow's compute kernels; numpy's shortest
round-trip repr for floats), the columns are joined row-wise by one kernel, and the bytes go to
the file block after block -- about 8x faster, in memory bounded by the block.

The text is pandas' own, so a script that read an older export reads this one alike:

* integers and nullable integers as digits; a missing value (``NA``, ``NaN``, ``None``) as an
  empty cell;
* booleans ``True`` / ``False``;
* floats as Python's ``repr`` (``1700000000.0``, ``1e-05``, ``-0.0``);
* text and categories as their text, quoted as :data:`csv.QUOTE_MINIMAL` quotes it with a
  ``"\\n"`` line end: a cell holding ``,``, ``"`` or a line feed is put in double quotes, its
  quotes doubled (RFC 4180 s2 items 6-7); nothing else is quoted.

A table with a column of any other kind (dates, objects that are not text) or a single column
(where :mod:`csv` quotes an empty cell) is written by pandas itself: the fast path never guesses.
Formula neutralising (:func:`.report.csv_safe`) happens before, on the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

BLOCK_ROWS = 1 << 16  # rows turned into text at a time: memory bounded by the block
_SPECIAL = '[,"\n]'  # what QUOTE_MINIMAL quotes with delimiter ',', quotechar '"', line end \n


def write_csv(frame: Any, path: str | Path) -> None:
    """``frame`` (a pandas DataFrame) to ``path`` as ``frame.to_csv(path, index=False)``
    would write it (module docs). Blocks of :data:`BLOCK_ROWS` rows are made into text two
    at a time (pyarrow's kernels let the GIL go) and written in order."""
    from concurrent.futures import ThreadPoolExecutor

    found = [_kind(frame[c]) for c in frame.columns] if frame.shape[1] > 1 else [None]
    kinds = [k for k in found if k is not None]
    if len(kinds) < len(found) or not all(isinstance(c, str) for c in frame.columns):
        frame.to_csv(path, index=False)
        return
    try:
        # a category's text is made once for the table, then taken by code in every block
        names = {c: _category_names(frame[c]) for c, k in zip(frame.columns, kinds, strict=True)
                 if k == "category"}
        header = ",".join(_quoted_text(str(c)) for c in frame.columns) + "\n"

        def block(start: int) -> bytes:
            part = frame.iloc[start:start + BLOCK_ROWS]
            return _rows([_text(part[c], kind, names.get(c))
                          for c, kind in zip(part.columns, kinds, strict=True)])

        with open(path, "wb") as out, ThreadPoolExecutor(max_workers=2) as pool:
            out.write(header.encode("utf-8"))
            for text in pool.map(block, range(0, len(frame), BLOCK_ROWS)):
                out.write(text)
    except _NotPlain:
        frame.to_csv(path, index=False)  # a column of other objects: pandas writes it all


def _kind(series: Any) -> str | None:
    """How a column becomes text, or None (left to pandas)."""
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype) and dtype.itemsize == 8:
        return "float"
    if pd.api.types.is_string_dtype(dtype):
        return "text"  # a string dtype, or objects: checked to be text when read
    return None


def _text(series: Any, kind: str, names: Any = None) -> Any:
    """One column's cells as a pyarrow string array, no nulls (a missing value is "");
    a category's from ``names`` (:func:`_category_names`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if kind == "int":
        values = pa.array(series, from_pandas=True)
        return pc.fill_null(pc.cast(values, pa.string()), "")
    if kind == "bool":
        values = pa.array(series, type=pa.bool_(), from_pandas=True)
        return pc.fill_null(pc.if_else(values, "True", "False"), "")
    if kind == "float":
        return _floats(series.to_numpy(dtype="float64", na_value=np.nan))
    if kind == "category":
        codes = series.cat.codes.to_numpy(dtype=np.int64)
        return names.take(pa.array(np.where(codes < 0, len(names) - 1, codes)))
    try:
        values = pa.array(series, from_pandas=True)
    except (pa.ArrowException, UnicodeError, TypeError, ValueError) as exc:
        raise _NotPlain(series.name) from exc
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
            or pa.types.is_null(values.type)):
        raise _NotPlain(series.name)
    values = pc.fill_null(pc.cast(values, pa.string()), "")
    return _quoted(values)


def _category_names(series: Any) -> Any:
    """The text of each category of a column, then "" (a missing value's code, -1, is
    taken as the last)."""
    import pandas as pd
    import pyarrow as pa

    categories = pd.Series(series.cat.categories)
    kind = _kind(categories)
    if kind is None or kind == "category":
        raise _NotPlain(series.name)
    return pa.concat_arrays([_text(categories, kind), pa.array([""], type=pa.string())])


def _floats(numbers: np.ndarray) -> Any:
    """Floats as Python's ``repr`` writes them (shortest round trip), NaN as "". pyarrow's
    cast gives the same digits, but an integral value without ``.0`` and a value under
    1e-4 in decimal (``0.00001`` for ``1e-05``): the first get ``.0``, the second (and
    1e16 up, and infinities) are made by numpy, whose float text is Python's."""
    import pyarrow as pa
    import pyarrow.compute as pc

    missing = np.isnan(numbers)
    size = np.abs(numbers)
    text = pc.cast(pa.array(numbers), pa.string())
    # Python writes 1e-4 <= |x| < 1e16 in decimal, the rest with an exponent; pyarrow's
    # choice depends on the digits too: where the two may differ, numpy writes the cell
    odd = ~missing & (((size < 1e-4) & (size > 0)) | ~(size < 1e16)
                      | np.asarray(pc.match_substring(text, "e"), dtype=bool))
    integral = pc.invert(pc.match_substring_regex(text, r"[.e]"))
    text = pc.if_else(integral, pc.binary_join_element_wise(text, ".0", ""), text)
    if odd.any():
        text = pc.replace_with_mask(text, pa.array(odd), pa.array(numbers[odd].astype(str)))
    return pc.if_else(pa.array(missing), "", text) if missing.any() else text


class _NotPlain(Exception):
    """A column whose cells are not plain text or numbers: the table goes to pandas."""


def _quoted_text(cell: str) -> str:
    if any(ch in cell for ch in ',"\n'):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def _quoted(values: Any) -> Any:
    """Cells holding a delimiter, a quote or a line feed in quotes, quotes doubled."""
    import pyarrow.compute as pc

    needs = pc.match_substring_regex(values, _SPECIAL)
    if not pc.any(needs).as_py():
        return values
    wrapped = pc.binary_join_element_wise(
        '"', pc.replace_substring(values, '"', '""'), '"', "")
    return pc.if_else(needs, wrapped, values)


def _rows(texts: list[Any]) -> bytes:
    """The block's lines: cells joined by ``,``, each line ended by ``\\n``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    line = pc.binary_join_element_wise(*texts, ",")
    line = pc.binary_join_element_wise(line, "", "\n")  # the line, "\n", nothing
    array = line.combine_chunks() if isinstance(line, pa.ChunkedArray) else line
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[
        array.offset:array.offset + len(array) + 1]
    data = array.buffers()[2]
    return bytes(memoryview(data)[int(offsets[0]):int(offsets[-1])]) if data is not None \
        else b""
