"""One big capture in bounded memory: decoded once, piece by piece, and analysed piece by piece.

The in-memory path (:func:`enumlab.capture.report.analyze`) holds every message of a capture at
once; for ten million packets that is gigabytes. Here memory holds a piece and its window:

1. The capture is read front to back in buffers (:class:`.files.RecordStream`: a plain file
   by ``read``, a ``.gz`` inflated as a stream; never mapped, so a file cut short while it is
   read is an error naming it, not SIGBUS). Each piece -- a buffer's records, at most
   ``piece_records`` -- is decoded (:func:`.native.walk_rows`) and its UDP DNS messages
   become a message table (numpy columns) kept in a temporary directory; the buffer then goes.
2. IP fragments and TCP segments of DNS connections go through the second stage piece by
   piece (:class:`.native.SecondStage`): what a piece completes -- a fragment set, a
   TCP message -- is rebuilt with it and joins it (by the frame that completed it), and only
   what is still open -- an incomplete fragment set, a stream's unframed bytes -- is carried
   to the next piece, so a stream or a fragment set across a piece boundary is whole.
3. Each piece is analysed with its context: the messages of the other pieces within
   ``window`` seconds that belong to one of its conversations -- the same QNAME between the
   same two addresses (:func:`.table.pair_keys`): pairing, retransmissions (RFC 1035 s7.2 ids
   are matched with the question), the TC=1 -> TCP follow-up (RFC 7766 s5) and its server-side
   view all match one client and one server on the name -- and the messages between the
   addresses named by an ICMP error or a lost fragment set of the window (those are linked by
   client and server alone). The summary counts only what the piece owns
   (:func:`.transactions.summary_parts` with ``owned``) and the pieces add up
   (:func:`.transactions.merge_parts`): the same summary as the whole capture analysed in
   memory -- tested on every shipped capture, on the 48 public captures
   and on captures built by code cut into pieces of a few records -- **as long as the parts
   of one exchange are within ``window`` seconds of each other or in one piece**. The
   in-memory analysis links them at any distance; in pieces, an answer arriving ``window``
   seconds or more after its query in another piece counts as an orphan and its query as
   unanswered, and the same holds for a TCP message or fragment set completing that late, an
   ICMP error quoting an old query, and a chain of retries longer than the window (a
   fresh-eyes run measured this on generated shapes: 0 vs 110 orphans at 1,000-record pieces
   with 5 % of answers 5-15 s late). What the summary says of an orphan -- a query the
   capture holds, or one it never saw -- is the whole capture's: the orphans whose query a
   window could not hold are looked for in every table once the pieces are done
   (:func:`_search_far`). A lost fragment set is counted once wherever its
   fragments fall (its first frame is taken over the whole capture).

Both cores: the pieces are analysed by worker processes (``workers``), the decoding is one pass
in this process whose compiled blocks (header walk + DNS decoding) run in two threads.
"""

from __future__ import annotations

import functools
import math
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .columns import Columns, LazyTexts, concat, distinct, factorize, factorize_texts, labels_of
from .files import CaptureError, RecordStream, no_dns_messages, nominal_size
from .jit import want_jit
from .table import PAIRKEY, CaptureTables, only_fragments_note
from .transactions import (
    FALLBACK_WINDOW,
    RETRY_WINDOW,
    SET_FIRST_FRAME,
    SummaryParts,
    merge_parts,
    set_first_frames,
    summary_from,
    summary_parts,
    transaction_columns,
)

PIECE_RECORDS = 250_000  # records decoded and analysed at a time (memory: a piece and its window)
STREAM_MIN_BYTES = 256 << 20  # from here `enumlab pcap FILE` analyses in pieces (a summary)
WINDOW = max(RETRY_WINDOW, 10.0)  # seconds of context around a piece (retries, TCP fallback)


@dataclass
class Piece:
    """One piece of the capture: its records, its messages' time span, where its table is."""

    lo: int  # first record (0-based)
    hi: int  # one past the last
    path: str  # the pickled message table
    first: float  # time of its first message (inf: none)
    last: float
    messages: int
    begins: float  # time of its first record (inf: none): the window is around the records
    ends: float
    timed: int = 0  # messages with a time (NaN: a record whose time the capture lost)


@dataclass
class _Job:
    """What a worker needs to analyse one piece."""

    k: int
    pieces: list[Piece]
    lates: list[Piece]  # messages the second stage rebuilt (TCP, fragments), per piece
    side: str  # the pickled side tables and notes
    window: float
    mtu: int | None
    start: float | None


def analyze_stream(path: str | Path, *, ports: tuple[int, ...] = (), mtu: int | None = None,
                   piece_records: int = PIECE_RECORDS, window: float = WINDOW,
                   workers: int | None = None, jit: bool | None = None,
                   on_records: Callable[[int], None] | None = None,
                   vxlan_ports: tuple[int, ...] = (4789,),
                   read_bytes: int | None = None) -> dict[str, Any]:
    """The summary of one capture (the same figures as :func:`enumlab.capture.report.analyze`),
    in bounded memory (see module docs). ``workers``: processes analysing pieces (default: the
    cores; 1: in this process); ``read_bytes``: the size of the buffers the capture is read
    into (a piece never spans two: :data:`.files.READ_BYTES` by default)."""
    from . import NATIVE_LINK_TYPES
    from .links import NFLOG, NFLOG_BIG
    from .native import (
        UNOPENED,
        Decoded,
        PacketRows,
        Pending,
        Scratch,
        SecondStage,
        _Messages,
        walk_rows,
    )
    from .table import fragment_columns, icmp_columns, tcp_columns

    if piece_records < 1:
        raise ValueError("piece_records must be at least 1")
    p = Path(path)
    use_jit = want_jit(nominal_size(p), jit)
    stream = RecordStream(p, jit=use_jit, read_bytes=read_bytes)
    tmp = Path(tempfile.mkdtemp(prefix="enumlab-pieces-"))
    try:
        stage = SecondStage(None, ports=ports, jit=use_jit, vxlan_ports=vxlan_ports)
        kept: list[Future[Piece]] = []
        kept_late: list[Future[Piece]] = []
        scratches: list[Scratch] = []
        # both cores while decoding: a piece's message table is made and written by a second
        # thread while the next buffer is read and walked here (the kernels and the writes let
        # the other run); at most one piece waits to be written, so memory holds two buffers
        saver = ThreadPoolExecutor(max_workers=1)
        try:
            for chunk in stream.chunks(piece_records):  # a piece: a buffer's records, at most
                lo, hi = chunk.first, chunk.first + chunk.frames
                types = chunk.link_type
                unsupported = sorted(set(np.unique(np.where(
                    types == NFLOG_BIG, NFLOG, types)).tolist()) - NATIVE_LINK_TYPES)
                if unsupported:
                    raise CaptureError(f"{p}: link type(s) {unsupported} are not decoded "
                                       "natively; analyse this capture in memory (--engine "
                                       "tshark)", subject=str(p))
                msgs = _Messages()
                pending = Pending()
                walk_rows(chunk, lo, hi, ports=ports, jit=use_jit, vxlan_ports=vxlan_ports,
                          messages=msgs, pending=pending, on_records=on_records,
                          scratches=scratches)
                for earlier in kept[-1:]:
                    earlier.result()  # (its error, if any, raised here)
                kept.append(saver.submit(_keep_piece, chunk, msgs, use_jit,
                                         tmp / f"piece-{len(kept)}"))
                # what this piece completes -- fragment sets, TCP messages -- rebuilt now:
                # only what is still open is carried to the next piece
                rebuilt = _Messages()
                side_bytes = stage.feed(rebuilt, pending)
                if rebuilt.row:  # kept beside the piece, as its own table: never all at once
                    kept_late.append(saver.submit(
                        _keep_late, Decoded(stream.index(), rebuilt, side_bytes, _no_icmp(),
                                            [], PacketRows(), [], use_jit),
                        tmp / f"late-{len(kept_late)}"))
                del msgs, pending, rebuilt, side_bytes, chunk  # the buffer goes once written
            pieces = [f.result() for f in kept]
            lates = [f.result() for f in kept_late]
        finally:
            saver.shutdown(wait=True, cancel_futures=True)
            del kept, kept_late
        scratches.clear()  # the walk's scratch tables (60 MB): not kept while workers run
        index = stream.index()
        stage.index = index
        closed = stage.close(_Messages())
        if closed.messages.row:  # TCP messages after a gap skipped at the end of the capture
            lates.append(_keep_late(closed, tmp / f"late-{len(lates)}"))
        notes = list(closed.notes)
        frames: list[int | None] = [r + 1 if r >= 0 else None for r in closed.note_rows]
        frames += [None] * (len(notes) - len(frames))
        for note in reversed(index.notes):  # (as native.tables_of: timestamps out of range)
            notes.insert(0, note)
            frames.insert(0, None)
        if index.damage:
            notes.insert(0, f"the capture is damaged: {index.damage}")
            frames.insert(0, None)
        # a capture read in pieces is not handed to tshark (--engine auto does that only in
        # memory): say where its frames of an unopened encapsulation can be read
        notes = [n[:-1] + "; read in pieces, it was not handed to tshark: --engine tshark "
                 "reads the capture in memory)" if n.endswith(UNOPENED) else n for n in notes]
        side: dict[str, Any] = {
            "fragments": fragment_columns(closed), "icmp": icmp_columns(closed),
            "tcp": tcp_columns(closed), "notes": notes, "note_frames": frames,
            "retransmitted": [r + 1 for r in closed.retransmitted_rows],
            "filter": index.capture_filter, "path": str(p), "ports": tuple(ports)}
        del closed, stage
        total = sum(x.messages for x in pieces) + sum(x.messages for x in lates)
        complete = side["fragments"].filled("complete", False).astype(bool, copy=False)
        if total == 0 and bool(complete.all()):  # (no fragment, or every set completed)
            raise no_dns_messages(p, ports, [n for n in notes if n],  # nothing usable: exit 1
                                  frames=index.frames)
        if total == 0:  # fragments only: analysed, and said as in memory
            f = side["fragments"]
            lost = np.flatnonzero(~f.filled("complete", False).astype(bool, copy=False))
            if len(lost):
                sets = factorize_texts(np.asarray(f["src"], dtype=object)[lost])[0], \
                    factorize_texts(np.asarray(f["dst"], dtype=object)[lost])[0], \
                    np.asarray(f["ip_id"])[lost]
                notes.append(only_fragments_note(len(lost), len(factorize(*sets)[1])))
                frames.append(None)
        side_path = tmp / "side"
        side_path.mkdir()
        fragments = side["fragments"]
        fragments.values[SET_FIRST_FRAME] = set_first_frames(fragments)
        del fragments
        for name in ("fragments", "icmp", "tcp"):  # columns, read mapped by workers
            _save(side.pop(name), side_path / name)
        with open(side_path / "rest.pickle", "wb") as f:
            pickle.dump(side, f, protocol=5)
        firsts = [x.first for x in (*pieces, *lates) if np.isfinite(x.first)]
        start = min(firsts, default=None)
        capture_filter = index.capture_filter
        del side, index
        stream.forget_records()  # nothing of the index is needed while the workers run
        jobs = [_Job(k, pieces, lates, str(side_path), window, mtu, start)
                for k in range(len(pieces))]
        n = min(workers or os.cpu_count() or 1, len(jobs))
        if n <= 1:
            ctx = _Context(jobs[0]) if jobs else None
            parts = [_analyze_piece(j, ctx) for j in jobs]
            del ctx
        else:
            parts = _in_workers(jobs, n, tmp, p)
        merged = merge_parts(parts)
        _search_far(merged, [x.path for x in (*pieces, *lates)])
        summary = summary_from(merged, mtu=mtu)
        summary["capture"] = str(p)
        summary["capture_filter"] = capture_filter
        summary["engine"] = "native"
        summary["pieces"] = len(pieces)
        return summary
    finally:
        stream.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _no_icmp() -> Any:
    from . import packets as pk

    return (np.zeros(0, np.int64), np.zeros((0, pk.NCOL), np.int64),
            *(np.zeros((0, 16), np.uint8) for _ in range(4)))


def _keep(table: Columns, lo: int, hi: int, record_times: np.ndarray, where: Path) -> Piece:
    _save(table, where)
    first, last = _span(table["time"])
    begins, ends = _span(record_times)
    timed = int(np.isfinite(table["time"]).sum())
    return Piece(lo, hi, str(where), first, last, table.n, begins, ends, timed)


def _keep_piece(chunk: Any, msgs: Any, jit: bool, where: Path) -> Piece:
    """A piece's UDP messages as a table, written to ``where``."""
    from .native import Decoded, PacketRows
    from .table import message_columns

    table = message_columns(Decoded(chunk, msgs, np.zeros(0, np.uint8), _no_icmp(), [],
                                    PacketRows(), [], jit), pairs=True)
    return _keep(table, chunk.first, chunk.first + chunk.frames, chunk.time, where)


def _keep_late(decoded: Any, where: Path) -> Piece:
    """Messages the second stage rebuilt, kept as a table of their own: its frame range is
    (first frame - 1, last frame], the frames that completed them."""
    from .table import message_columns

    late = message_columns(decoded, pairs=True)
    frame = late["frame"]
    return _keep(late, int(frame.min()) - 1, int(frame.max()), late["time"], where)


def _save(table: Columns, where: Path) -> None:
    """A table as one file of columns back to back (``columns.bin``, each 64-byte aligned) and
    what they are (``layout.pickle``: names, dtypes, shapes, offsets, categories). A worker
    opens a table with one ``open`` and one mapping, whatever its number of columns: the
    tables of a window are opened by every piece around them (a 10 M-packet capture: ~50
    tables a piece), and one ``.npy`` file per column cost ~0.2 ms each to open."""
    where.mkdir()
    coded: dict[str, list[str]] = {}
    widened: list[str] = []  # int64 columns saved narrower
    arrays: dict[str, np.ndarray] = {}
    for name, values in table.values.items():
        if values.dtype == object:  # text (addresses, kinds): codes and their labels
            codes, labels = factorize_texts(values)  # None -> -1
            values, coded[name] = codes.astype(np.int32), [str(x) for x in labels]
        narrow = values if name in _KEPT_WIDE else _narrowed(values)
        if narrow.dtype != values.dtype:
            widened.append(name)
        arrays[f"v.{name}"] = narrow
    for name, missing in table.missing.items():
        arrays[f"m.{name}"] = missing
    small, texts = {}, {}
    for name, cats in table.categories.items():
        if isinstance(cats, LazyTexts):  # a blob of names: mapped, read where codes point
            arrays[f"t.{name}"] = np.asarray(cats.blob)
            arrays[f"e.{name}"] = cats.ends  # found once, not by every reader
            texts[name] = (cats.overrides, cats.empty_as)
        else:
            small[name] = cats
    placed: dict[str, tuple[str, tuple[int, ...], int]] = {}
    at = 0
    with open(where / "columns.bin", "wb") as f:
        for key, values in arrays.items():
            values = np.ascontiguousarray(values)
            pad = -at % _ALIGN
            f.write(bytes(pad))
            at += pad
            placed[key] = (values.dtype.str, values.shape, at)
            f.write(values.data)
            at += values.nbytes
    with open(where / "layout.pickle", "wb") as f:
        pickle.dump((table.spec, list(table.values), list(table.missing), small, texts, coded,
                     widened, placed), f, protocol=5)


_ALIGN = 64


def _layout(where: str | Path) -> dict[str, np.dtype[Any]]:
    """The dtype each column of a saved table was written in (``v.NAME``, ``m.NAME``)."""
    placed = _load(str(Path(where) / "layout.pickle"))[-1]
    return {key: np.dtype(kind) for key, (kind, _shape, _at) in placed.items()}


def _open(where: str, *, whole: bool = False) -> Columns:
    """A table saved by :func:`_save`: read into memory (``whole``), or mapped, so a worker
    reads the rows it takes, not the table. Mapping is safe here as it is not for a capture:
    the file is this run's own, written whole before any reader opens it and removed only
    after every worker has ended."""
    import mmap

    base = Path(where)
    spec, names, masks, categories, texts, coded, widened, placed = _load(
        str(base / "layout.pickle"))
    wide = set(widened)
    with open(base / "columns.bin", "rb") as f:
        size = os.fstat(f.fileno()).st_size
        data: np.ndarray = (np.fromfile(f, dtype=np.uint8) if whole or not size else
                            np.frombuffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ),
                                          dtype=np.uint8))

    def load(key: str) -> np.ndarray:
        kind, shape, at = placed[key]
        dtype = np.dtype(kind)
        count = math.prod(shape)
        column: np.ndarray = data[at:at + count * dtype.itemsize].view(dtype).reshape(shape)
        return column

    for name, (overrides, empty_as) in texts.items():
        categories[name] = LazyTexts(load(f"t.{name}"), overrides, empty_as,
                                     ends=load(f"e.{name}"))

    def read(name: str, kind: str = "v") -> Any:
        values = load(f"{kind}.{name}")
        if kind == "v" and name in coded:
            return _Coded(values, coded[name])
        if kind == "v" and name in wide:
            return values.astype(np.int64) if whole else _Widened(values, np.dtype(np.int64))
        return values

    return Columns(spec, {n: read(n) for n in names}, {n: read(n, "m") for n in masks},
                   categories)


_KEPT_WIDE = ("frame",)  # compared whole, before rows are taken (mapped tables of the window)
_NARROW = tuple((np.dtype(t), int(np.iinfo(t).min), int(np.iinfo(t).max))
                for t in (np.int8, np.int16, np.int32))


def _narrowed(values: np.ndarray) -> np.ndarray:
    """An int64 column in the narrowest integer type its values fit (most are flags, counts,
    ports and small codes): a piece's table is written once and read by every worker whose
    window it falls in -- a TCP-heavy capture's tables were 280 bytes a message, now ~80."""
    if values.dtype != np.int64 or not len(values):
        return values
    lo, hi = int(values.min()), int(values.max())
    for t, least, most in _NARROW:
        if least <= lo and hi <= most:
            return values.astype(t)
    return values


class _Widened:
    """An integer column saved narrower (:func:`_narrowed`), read mapped: the rows taken come
    back as int64, as it was."""

    def __init__(self, narrow: np.ndarray, dtype: np.dtype[Any]) -> None:
        self.narrow = narrow
        self.dtype = dtype
        self.shape = narrow.shape

    def __len__(self) -> int:
        return len(self.narrow)

    def __getitem__(self, rows: Any) -> np.ndarray:
        picked: np.ndarray = np.asarray(self.narrow[rows]).astype(self.dtype)
        return picked

    def astype(self, dtype: Any, copy: bool = True) -> np.ndarray:
        widened: np.ndarray = np.asarray(self.narrow).astype(dtype)
        return widened

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.astype(self.dtype if dtype is None else dtype)


class _Coded:
    """A text column read back: codes, turned into text for the rows taken."""

    dtype = np.dtype(object)

    def __init__(self, codes: np.ndarray, labels: list[str]) -> None:
        self.codes = codes
        self.labels = np.array([*labels, None], dtype=object)  # code -1: missing

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, rows: Any) -> np.ndarray:
        picked: np.ndarray = self.labels[np.asarray(self.codes[rows])]
        return picked

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self[slice(None)]


def _span(times: np.ndarray) -> tuple[float, float]:
    seen = times[np.isfinite(times)]
    return (float(seen.min()), float(seen.max())) if len(seen) else (np.inf, -np.inf)


def _load(path: str) -> Any:
    with open(path, "rb") as f:
        return pickle.load(f)


def _rows_between(table: Columns, lo: float, hi: float) -> np.ndarray:
    t = table["time"]
    return np.flatnonzero((t >= lo) & (t <= hi))


KEY_BUDGET = 16 << 20  # bytes of window keys a worker keeps between pieces


class _Context:
    """What every piece a worker analyses reads, read once per worker, not once per piece:
    the notes, the pieces' time spans as arrays (the pieces of a window found by one
    comparison, no loop over pieces), and -- up to :data:`KEY_BUDGET` bytes -- the
    conversation keys, times and frames of the tables of the current window, copied out of
    each table once while the window slides over it. With pieces of a few hundred records a
    window holds hundreds of small tables: reading each once per piece made the cost grow
    with pieces x window, so those are kept, and searched in one pass. Tables past the budget
    (a dense capture's window of big tables) are mapped and searched one by one for each
    piece, as before: kept open, a mapped page read stays resident while the mapping lives
    (the 10 M mixed capture's workers grew by 1.5 GB that way)."""

    def __init__(self, job: _Job) -> None:
        self.pieces, self.lates = job.pieces, job.lates
        self.side = _load(str(Path(job.side) / "rest.pickle"))
        self.firsts = np.array([x.first for x in job.pieces], dtype=np.float64)
        self.lasts = np.array([x.last for x in job.pieces], dtype=np.float64)
        self.late_firsts = np.array([x.first for x in job.lates], dtype=np.float64)
        self.late_lasts = np.array([x.last for x in job.lates], dtype=np.float64)
        self.late_los = np.array([x.lo for x in job.lates], dtype=np.int64)
        self.late_his = np.array([x.hi for x in job.lates], dtype=np.int64)
        self._kept: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._kept_bytes = 0
        self._joined: tuple[list[str], tuple[np.ndarray, ...]] | None = None

    def window(self, k: int, lo_t: float, hi_t: float) -> tuple[np.ndarray, np.ndarray]:
        """The other pieces and the late tables with messages in ``[lo_t, hi_t]``; the keys
        kept of tables in neither are let go."""
        near = np.flatnonzero((self.lasts >= lo_t) & (self.firsts <= hi_t))
        late = np.flatnonzero((self.late_lasts >= lo_t) & (self.late_firsts <= hi_t))
        keep = {self.pieces[j].path for j in near.tolist()}  # piece k's too: the next reads it
        near = near[near != k]
        keep.update(self.lates[j].path for j in late.tolist())
        for path in [p for p in self._kept if p not in keep]:
            self._kept_bytes -= sum(a.nbytes for a in self._kept.pop(path))
        return near, late

    def keys(self, path: str) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray],
                                       Columns | None]:
        """A window table's conversation keys, times and frames: kept (None), or views of
        the table, mapped for this piece only (and the table)."""
        if path in self._kept:
            return self._kept[path], None
        table = _open(path)
        views = (table.values[PAIRKEY], table["time"], table["frame"])
        size = 24 * table.n
        if self._kept_bytes + size > KEY_BUDGET:
            return (np.asarray(views[0]), np.asarray(views[1]), np.asarray(views[2])), table
        kept = (np.array(views[0], dtype=np.int64), np.array(views[1], dtype=np.float64),
                np.array(views[2], dtype=np.int64))
        self._kept[path] = kept
        self._kept_bytes += size
        return kept, None

    def joined(self, paths: list[str]) -> tuple[np.ndarray, ...]:
        """The kept keys of ``paths`` end to end (remade only when ``paths`` change) and
        where each table starts."""
        if self._joined is None or self._joined[0] != paths:
            parts = [self._kept[p] for p in paths]
            self._joined = (paths, (
                *(np.concatenate([x[c] for x in parts]) for c in range(3)),
                np.cumsum([0, *(len(x[0]) for x in parts)])))
        return self._joined[1]


def _this(table: Columns, _i: int) -> Columns:
    return table


def _context_rows(keys: np.ndarray, times: np.ndarray, frames: np.ndarray, starts: np.ndarray,
                  late_from: int, piece: Piece, lo_t: float, hi_t: float, names: np.ndarray,
                  seen: np.ndarray, linked: np.ndarray | None,
                  table: Callable[[int], Columns]) -> list[tuple[int, np.ndarray]]:
    """Within tables end to end (``starts``; tables ``late_from`` on are late tables): for
    each table with some, the rows within ``[lo_t, hi_t]`` (a late table's rows the piece owns
    aside) in one of the piece's conversations (``names``) or between addresses ``linked``
    names (``table(i)``: table ``i`` itself, for its address labels)."""
    within = (times >= lo_t) & (times <= hi_t)
    at = int(starts[late_from])
    within[at:] &= ~((frames[at:] > piece.lo) & (frames[at:] <= piece.hi))
    rows = np.flatnonzero(within)
    keep = _asked(keys[rows], names, seen)
    if linked is not None:  # (by addresses: each table against its own labels)
        cut = np.searchsorted(rows, starts)
        for i in np.flatnonzero(np.diff(cut)).tolist():
            keep[cut[i]:cut[i + 1]] |= _between(table(i), rows[cut[i]:cut[i + 1]] - starts[i],
                                                linked)
    rows = rows[keep]
    cut = np.searchsorted(rows, starts)
    return [(i, rows[cut[i]:cut[i + 1]] - starts[i])
            for i in np.flatnonzero(np.diff(cut)).tolist()]


def _analyze_piece(job: _Job, ctx: _Context | None = None) -> Any:
    """One piece's summary parts: its own messages (and the rebuilt ones its frames
    completed), with the context of the window (see module docs)."""
    ctx = ctx or _Context(job)
    piece = job.pieces[job.k]
    side = ctx.side

    own_parts = [_open(piece.path, whole=True)]
    # the late tables holding messages this piece's frames completed: (lo, hi] overlaps
    completed = np.flatnonzero((ctx.late_his > piece.lo) & (ctx.late_los < piece.hi))
    for j in completed.tolist():
        table = _open(job.lates[j].path)
        frame = table["frame"]
        if len(frame) < 2 or bool(np.all(frame[1:] >= frame[:-1])):  # in frame order
            lo, hi = np.searchsorted(frame, [piece.lo + 1, piece.hi + 1]).tolist()
            if hi > lo:  # a run of rows: slices of the mapping, copied only by the join
                own_parts.append(table.span(lo, hi))
            continue
        mine = np.flatnonzero((frame > piece.lo) & (frame <= piece.hi))
        if len(mine):
            own_parts.append(table.take(mine))
    own = _in_frame_order(own_parts)
    first, last = _span(own["time"])  # a late message may precede the piece's first record
    lo_t = min(first, piece.begins) - job.window
    # after the piece: its queries' answers come up to the window later, and a TC=1 answer's
    # TCP retry (and the retry's answer) up to FALLBACK_WINDOW after that answer -- a retry
    # answered 9.997 s after a TC answer that came 5 ms after its query was "failed" here
    hi_t = max(last, piece.ends) + job.window + FALLBACK_WINDOW
    fragments, icmp, tcp = (_within(_open(str(Path(job.side) / name)), lo_t, hi_t)
                            for name in ("fragments", "icmp", "tcp"))
    # context: the messages of the window in the piece's conversations; and, as a lost
    # fragment set or an ICMP error is linked by client and server alone, the messages between the
    # addresses those name (not the whole window: a capture with a lost set in every piece
    # would analyse every piece with all of its window)
    linked = _linked_addresses(fragments, icmp)
    names = distinct(own.values[PAIRKEY])
    seen = _bits(names)

    # the other pieces' tables, then the late tables, of the window: their rows within it
    # (a late table's rows this piece owns aside), in one of its conversations or linked
    near, late = ctx.window(job.k, lo_t, hi_t)
    paths = [job.pieces[j].path for j in near.tolist()] + \
        [job.lates[j].path for j in late.tolist()]
    # one mapped table at a time: a mapped page read stays resident while its mapping lives
    parts: list[tuple[int, Columns]] = []
    kept: list[int] = []
    for i, path in enumerate(paths):
        (keys, times, frames), alone = ctx.keys(path)
        if alone is None:
            kept.append(i)
            continue
        # past the budget: this table alone, from its mapping
        for _, rows in _context_rows(keys, times, frames, np.array([0, len(keys)]),
                                     0 if i >= len(near) else 1, piece, lo_t, hi_t, names,
                                     seen, linked, functools.partial(_this, alone)):
            parts.append((i, alone.take(rows).compacted()))  # a few rows: their labels only
        del keys, times, frames, alone
    if kept:
        keys, times, frames, starts = ctx.joined([paths[i] for i in kept])
        late_from = int(np.searchsorted(np.array(kept), len(near)))
        opened: dict[int, Columns] = {}

        def mapped(j: int) -> Columns:  # a kept table's labels, for the linked addresses
            if j not in opened:
                opened.clear()
                opened[j] = _open(paths[kept[j]])
            return opened[j]

        for j, rows in _context_rows(keys, times, frames, starts, late_from, piece, lo_t, hi_t,
                                     names, seen, linked, mapped):
            parts.append((kept[j], mapped(j).take(rows).compacted()))
        opened.clear()
    parts.sort(key=lambda x: x[0])  # the tables' order: pieces, then late tables
    messages = _in_frame_order([own, *(part for _, part in parts)])
    tables = CaptureTables(side["path"], "native", messages, fragments, icmp, tcp,
                           piece.hi - piece.lo, side["filter"], list(side["notes"]), {},
                           list(side["retransmitted"]), list(side["note_frames"]), [],
                           last_time=piece.ends if np.isfinite(piece.ends) else float("nan"),
                           dns_ports=tuple(side.get("ports", ())))
    txns = transaction_columns(tables, mtu=job.mtu)
    return summary_parts(tables, txns, mtu=job.mtu, owned=(piece.lo + 1, piece.hi),
                         start=job.start, searched_from=lo_t)


def _in_frame_order(tables: list[Columns]) -> Columns:
    """Message tables joined in frame order, as the whole capture's table is (pairing reads
    it in that order): the same rows, in the same order, as the stable sort of all of them
    joined as given. Tables whose frame ranges overlap form a group that is joined and sorted
    (stable); groups apart are joined in the order of their frames, unsorted -- a piece's own
    rows are not sorted again for the context of the pieces before and after it."""
    tables = [t for t in tables if t.n] or tables[:1]
    frames = [np.asarray(t["frame"]) for t in tables]
    lo = [int(f.min()) if len(f) else 0 for f in frames]
    hi = [int(f.max()) if len(f) else 0 for f in frames]
    groups: list[list[int]] = []
    top = 0
    for k in sorted(range(len(tables)), key=lambda x: (lo[x], x)):
        if groups and lo[k] <= top:  # overlaps the group (a shared frame too: ties)
            groups[-1].append(k)
            top = max(top, hi[k])
        else:
            groups.append([k])
            top = hi[k]
    joined = []
    for group in groups:
        part = concat([tables[k] for k in sorted(group)])  # as given, within a group
        frame = part["frame"]
        if len(frame) > 1 and (frame[1:] < frame[:-1]).any():
            part = part.take(np.argsort(frame, kind="stable"))
        joined.append(part)
    return concat(joined)


def _in_workers(jobs: list[_Job], n: int, tmp: Path, capture: Path) -> list[Any]:
    """The pieces analysed by ``n`` fresh Python processes (``python -m
    enumlab.capture.pieces``): not forks, whose resident pages would count as theirs too, and
    not multiprocessing's spawn, which imports the caller's main module again. Worker ``w``
    takes pieces ``w, w + n, ...``; each process is waited for by its PID."""
    with open(tmp / "jobs.pickle", "wb") as f:
        pickle.dump(jobs, f, protocol=5)
    procs = [subprocess.Popen([sys.executable, "-m", "enumlab.capture.pieces", str(tmp), str(w),
                               str(n)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for w in range(n)]
    failed = []
    try:
        for proc in procs:
            _out, err = proc.communicate()
            if proc.returncode != 0:
                failed.append(err.decode(errors="replace").strip().splitlines()[-1:] or ["?"])
    finally:  # stopped (a signal, Ctrl-C): the workers go too, by PID, before tmp is removed
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if failed:
        raise CaptureError(f"{capture}: a worker analysing its pieces failed: {failed[0][0]}",
                           subject=str(capture))
    return [_load(str(tmp / f"parts-{j.k}.pickle")) for j in jobs]


def _worker(tmp: str, w: int, n: int) -> None:
    jobs: list[_Job] = _load(str(Path(tmp) / "jobs.pickle"))
    ctx = _Context(jobs[0]) if jobs else None
    for job in jobs[w::n]:
        parts = _analyze_piece(job, ctx)
        with open(Path(tmp) / f"parts-{job.k}.pickle", "wb") as f:
            pickle.dump(parts, f, protocol=5)


def _asked(keys: np.ndarray, names: np.ndarray, seen: np.ndarray | None = None) -> np.ndarray:
    """Which ``keys`` are among the sorted ``names``: a filter of two bits per name (``seen``,
    from :func:`_bits`) rules most keys out at once, a binary search settles the rest."""
    found = np.zeros(len(keys), dtype=bool)
    if not len(names) or not len(keys):
        return found
    keys = np.asarray(keys)
    if seen is not None:
        mask = len(seen) - 1
        maybe = np.flatnonzero(seen[keys & mask] & seen[(keys >> _SECOND) & mask])
    else:
        maybe = np.arange(len(keys))
    if len(maybe):
        at = np.minimum(np.searchsorted(names, keys[maybe]), len(names) - 1)
        found[maybe] = names[at] == keys[maybe]
    return found


_SECOND = 31  # the second slot of a key: its bits from 31 up (a pair key has 63)


def _search_far(parts: SummaryParts, paths: list[str]) -> None:
    """The unpaired responses whose query a piece's window could not hold (older than it),
    looked for in the whole capture: a query with the same pair key, DNS id, QTYPE and
    client, asked at or before the response -- the rule of the in-memory analysis
    (:func:`.transactions._unpaired_responses`), so the summary says what the whole capture
    shows: a query it holds, or one it never saw. One pass over the tables' pair keys (the
    filter of :func:`_bits`, then a binary search), only when a piece left such responses."""
    if not parts.unsearched:
        return
    key, ident, qtype, when, client = (np.concatenate(c)
                                       for c in zip(*parts.unsearched, strict=True))
    parts.unsearched = []
    names = distinct(key)
    seen = _bits(names)
    held: list[tuple[np.ndarray, ...]] = []
    for path in paths:
        t = _open(path)
        rows = np.flatnonzero((np.asarray(t["protocol"]) == t.code_of("protocol", "dns"))
                              & t.filled("qname_ok", False).astype(bool, copy=False)
                              & ~t.filled("qr", True).astype(bool, copy=False))  # queries
        rows = rows[_asked(t.values[PAIRKEY][rows], names, seen)]
        if len(rows):
            held.append((t.values[PAIRKEY][rows].astype(np.int64),
                         t.filled("dns_id", -1)[rows].astype(np.int64),
                         t.filled("qtype", -1)[rows].astype(np.int64),
                         np.asarray(t["time"])[rows].astype(np.float64),
                         np.asarray(t.text("src", rows), dtype=object)))
        del t
    found = 0
    if held:
        q_key, q_id, q_type, q_time, q_client = (np.concatenate(c) for c in zip(*held, strict=True))
        who = factorize_texts(np.concatenate([client, q_client]))[0]
        code = factorize(np.concatenate([key, q_key]), np.concatenate([ident, q_id]),
                         np.concatenate([qtype, q_type]), who)[0]
        # as the in-memory search sorts them: a query without a time (NaN) sorts after every
        # time, so it is held only by a response without one
        first = np.full(int(code.max(initial=-1)) + 1, np.inf)
        timed = np.isfinite(q_time)
        np.minimum.at(first, code[len(key):][timed], q_time[timed])
        untimed = np.zeros(len(first), dtype=bool)
        untimed[code[len(key):][~timed]] = True
        mine = code[:len(key)]
        found = int(((first[mine] <= when)
                     | (np.isnan(when) & (np.isfinite(first[mine]) | untimed[mine]))).sum())
    parts.n["orphans_with_query"] += found


def _bits(names: np.ndarray) -> np.ndarray:
    """A Bloom filter (as booleans) of the pair keys ``names``: two slots per name, one from
    its low bits and one from its bits 31 up, in a table of some 16 slots per name. A key
    not among the names passes both with odds of about 1.4 % (one slot of 8 per name let
    11 % through: a piece's context search spent its time in the binary search of those,
    most of a window's keys being in none of the piece's conversations)."""
    size = 1 << max(10, int(len(names) * 16).bit_length())
    seen = np.zeros(size, dtype=bool)
    seen[names & (size - 1)] = True
    seen[(names >> _SECOND) & (size - 1)] = True
    return seen


def _linked_addresses(fragments: Columns, icmp: Columns) -> np.ndarray | None:
    """The addresses named by the window's incomplete fragment sets and ICMP errors (None:
    there are none)."""
    parts = []
    lost = ~fragments.filled("complete", False).astype(bool, copy=False)
    if lost.any():
        parts += [np.asarray(fragments["src"])[lost], np.asarray(fragments["dst"])[lost]]
    if icmp.n:
        parts += [np.asarray(icmp["quoted_src"]), np.asarray(icmp["quoted_dst"])]
    if not parts:
        return None
    import pandas as pd  # here, not above: a worker with nothing to link never imports it

    found = pd.unique(np.concatenate([np.asarray(p, dtype=object) for p in parts]))
    return np.asarray([x for x in found if isinstance(x, str)], dtype=object)


def _between(table: Columns, rows: np.ndarray | None, addresses: np.ndarray) -> np.ndarray:
    """Which ``rows`` (None: all) of a message table go between two of ``addresses`` (each
    address column against its own labels: no union of the two label lists)."""
    import pandas as pd

    between = np.ones(table.n if rows is None else len(rows), dtype=bool)
    for name in ("src", "dst"):
        labels = labels_of(table.categories[name])
        named = np.append(pd.Index(labels, dtype=object).isin(addresses), False)  # -1: no
        codes = table.values[name]
        between &= named[codes if rows is None else codes[rows]]
    return between


def _within(table: Columns, lo: float, hi: float) -> Columns:
    return table.take(_rows_between(table, lo, hi))


__all__ = ["PIECE_RECORDS", "STREAM_MIN_BYTES", "WINDOW", "analyze_stream"]


if __name__ == "__main__":  # a worker process of _in_workers
    _worker(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
