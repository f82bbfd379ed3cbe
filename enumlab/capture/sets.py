"""Many captures as one: a day of rotated files, on all cores or on a Dask cluster.

Operators do not capture one file: dnscap, ``tcpdump -G/-C`` and dumpcap ring buffers rotate
every N seconds or megabytes, on several resolvers at once. A *capture set* is every file given
(files, directories, globs), grouped by **capture point** (``--point-from dirname``, a regular
expression over the file name, or one point for all) and, within a point, ordered by each
file's first timestamp -- never by name. Frames are numbered across a point's files as if they
were one capture.

Each file is decoded and paired on its own (one task per file: local processes or Dask), and
nothing is lost at the file boundaries: the task *stitches* the last ``window`` seconds of the
previous file and the first ``window`` seconds of the next one around its own records
(:func:`enumlab.capture.files.stitch`) and reads them as one capture, so a query at the end of
one file pairs with its answer at the start of the next, a TCP stream or a fragment set cut by
the rotation is whole again, and a TC=1 answer is followed into the next file. Each task keeps
only what it *owns* -- messages by their frame, transactions by their query's frame -- so every
message is counted once, and its summary parts (:class:`enumlab.capture.transactions.SummaryParts`)
add up to the summary of the whole set.

One bad file does not stop a day's set: a file that cannot be read or decoded is reported
(``summary["skipped_files"]``: which file and why) and the rest are analysed; when a file is
bad only as a neighbour, its neighbours are analysed without its edges (said in the notes). A
rotated file holding only its header (``tcpdump -G`` for a quiet interval) is an empty file.

What a window cannot mend is said, not hidden: a DNS-over-TCP connection that stays open across
a file (or task) boundary for longer than the window is framed from the window's first segment,
and said once per connection (the reassembler's "starts mid-stream" sentence is kept for the
task whose window starts the point's capture: only there is it true).

Output as a dataset (``--parquet DIR``): the message and transaction tables as Parquet,
partitioned by capture point and hour (``DIR/messages/point=P/hour=H/…``), with
``DIR/summary.json``. :func:`query` runs DuckDB SQL over it; the HTML report works from it too.
"""

from __future__ import annotations

import glob as globlib
import itertools
import json
import os
import re
import resource
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from ..core.errors import EnumlabError, InputError
from .files import CaptureError, open_capture, stitch
from .transactions import SummaryParts, merge_figures, merge_parts, summary_from

DEFAULT_WINDOW = 10.0  # seconds of each neighbour stitched around a file
CHUNK_RECORDS = 200_000  # records a task owns at most: memory grows with this, not the file
BATCH_FILES = 2_000  # small files one task reads at most
BATCH_BYTES = 256 << 20  # and their bytes
SURVEY_BATCH = 256  # files surveyed per task
WORKER_BUDGET_MB = 1024  # what one local worker may need at its peak (benchmarks: <= 1 GB)
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz")
# ... and the names tcpdump gives the files after the first with -C: "the name specified with
# the -w flag, with a number after it" (tcpdump(8)), gzipped with -z gzip: x.pcap1, x.pcap7.gz
_ROTATED = re.compile(r"\.(pcap|pcapng|cap)\d+(\.gz)?$", re.IGNORECASE)
# the first four bytes of a pcap (either byte order, micro- or nanoseconds) or pcapng file
_MAGICS = {bytes.fromhex(x) for x in ("a1b2c3d4", "d4c3b2a1", "a1b23c4d", "4d3cb2a1",
                                      "0a0d0d0a")}


@dataclass(frozen=True)
class CaptureFile:
    """One file of a set, as surveyed: where it sits in time and how many frames it holds."""

    path: str
    point: str
    size: int
    frames: int
    first: float  # time of its first record (NaN: none)
    last: float


@dataclass(frozen=True)
class FileJob:
    """Everything one task needs: its file, the neighbours within the window on each side
    (several when files are shorter than the window), and where each one's frames start."""

    point: str
    position: int
    own: CaptureFile
    before: tuple[tuple[CaptureFile, int], ...]  # (file, its first frame - 1), in order
    after: tuple[tuple[CaptureFile, int], ...]
    offset: int  # frames of the point before this file
    rows: tuple[int, int]  # the records of the file this task owns: [lo, hi)
    window: float
    ports: tuple[int, ...]
    mtu: int | None
    start: float  # when the point's capture began
    parquet: str | None = None
    keep_tables: bool = False
    jit: bool | None = None
    # small files after ``own`` that this task owns whole, each with its first frame - 1:
    # a day of tiny rotated files is read in a few tasks, not one task (and one decode) each
    more: tuple[tuple[CaptureFile, int], ...] = ()
    vxlan_ports: tuple[int, ...] = (4789,)  # UDP ports read as VXLAN (RFC 7348 s5: 4789)


@dataclass
class FileResult:
    """What a task sends back: small, whatever the file's size."""

    path: str
    point: str
    parts: SummaryParts
    frames: int
    messages: int
    transactions: int
    seconds: float
    peak_rss_mb: float
    pid: int
    transaction_table: Any = None  # only with keep_tables
    message_table: Any = None
    skipped: str | None = None  # why the file was not analysed (then everything else is 0)
    # the files of a batch after the first: (path, frames, messages, transactions, skipped)
    more: list[tuple[str, int, int, int, str | None]] = field(default_factory=list)


@dataclass
class CaptureSetResult:
    """The summary of a whole set, and per file what was done where."""

    summary: dict[str, Any]
    files: list[FileResult] = field(default_factory=list)
    transactions: Any = None  # the owned transactions of every file, numbered across the set
    messages: Any = None

    @property
    def peak_worker_rss_mb(self) -> float:
        return max((f.peak_rss_mb for f in self.files), default=0.0)


# -- finding and ordering the files ----------------------------------------------------------

def expand(inputs: Sequence[str | Path]) -> list[Path]:
    """Files, directories (every capture file below them) and globs -> capture files, sorted
    and each once. A name that matches nothing is an :class:`InputError`."""
    out: list[Path] = []
    for item in inputs:
        text = str(item)
        p = Path(text)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and is_capture_name(f))
            if not found:
                raise InputError(f"no capture files in {p} (*.pcap, *.pcapng, *.cap, .gz, "
                                 "tcpdump -C's x.pcap1, x.pcap2, ..., or any file starting "
                                 "as a pcap or pcapng does)", subject=text)
            out += found
        elif p.is_file():
            out.append(p)
        elif any(ch in text for ch in "*?["):
            matched = sorted(m for m in _glob(text) if m.is_file())
            if not matched:
                raise InputError(f"no file matches {text!r}", subject=text)
            out += matched
        else:
            raise InputError(f"{text} does not exist", subject=text)
    seen: set[Path] = set()
    unique = []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def is_capture_name(path: Path) -> bool:
    """Whether a file found in a directory is taken as a capture: by its name (a capture
    suffix, or tcpdump -C's numbered ``x.pcap1``, ``x.pcap1.gz``), else by its first four
    bytes (a pcap or pcapng magic number: ``tcpdump -w day`` names no suffix at all)."""
    name = path.name.lower()
    if name.endswith(CAPTURE_SUFFIXES) or _ROTATED.search(name):
        return True
    if name.endswith(".gz"):
        return False  # (its magic is under the compression: named, or not taken)
    try:
        with open(path, "rb") as f:
            return f.read(4) in _MAGICS
    except OSError:
        return False


def _glob(pattern: str) -> Iterable[Path]:
    """The files a shell-style pattern names (``**`` any depth), never following a symbolic
    link to a directory: ``glob.glob`` follows them, and a link loop made a ``**/*.pcap``
    walk run for minutes (each loop multiplies the paths). pathlib's walk does not."""
    parts = Path(pattern).parts
    fixed = 0
    while fixed < len(parts) - 1 and not globlib.has_magic(parts[fixed]):
        fixed += 1
    base = Path(*parts[:fixed]) if fixed else Path()
    rest = str(Path(*parts[fixed:]))
    if not base.is_dir():
        return []
    return base.glob(rest)


def point_of(path: Path, point_from: str) -> str:
    """The capture point a file belongs to: ``dirname`` (its directory's name), ``one`` (all
    files one point), or a regular expression searched in the file name (its first group, or
    the whole match)."""
    if point_from == "dirname":
        return path.parent.name or "."
    if point_from in ("one", "single", ""):
        return "all"
    try:
        m = re.search(point_from, path.name)
    except re.error as exc:
        raise InputError(f"--point-from {point_from!r} is not a regular expression: {exc}",
                         subject=point_from) from exc
    if m is None:
        raise InputError(f"--point-from {point_from!r} does not match the file name "
                         f"{path.name!r}", subject=str(path))
    point = m.group(1) if m.groups() and m.group(1) is not None else m.group(0)
    if not point:
        raise InputError(f"--point-from {point_from!r} matches an empty text in the file name "
                         f"{path.name!r}: a capture point needs a name", subject=str(path))
    return point


def survey(path: str, point: str) -> CaptureFile:
    """A file's frame count and first and last timestamps (its record index only)."""
    index = _open(path, None)
    try:
        times = index.time[np.isfinite(index.time)]
        return CaptureFile(path, point, Path(path).stat().st_size, index.frames,
                           float(times[0]) if len(times) else float("nan"),
                           float(times[-1]) if len(times) else float("nan"))
    finally:
        index.close()


def plan(files: Iterable[CaptureFile], *, window: float = DEFAULT_WINDOW,
         ports: tuple[int, ...] = (), mtu: int | None = None, parquet: str | None = None,
         keep_tables: bool = False, jit: bool | None = None,
         chunk_records: int = CHUNK_RECORDS,
         vxlan_ports: tuple[int, ...] = (4789,)) -> list[FileJob]:
    """Jobs of at most ``chunk_records`` records (one per file when files are smaller):
    points apart, files of a point in the order of their first timestamp (a file with no
    timestamp last), frames numbered across the point."""
    by_point: dict[str, list[CaptureFile]] = {}
    for f in files:
        by_point.setdefault(f.point, []).append(f)
    jobs: list[FileJob] = []
    for point, members in sorted(by_point.items()):
        members.sort(key=lambda f: (not np.isfinite(f.first), f.first if np.isfinite(f.first)
                                    else 0.0, f.path))
        firsts = [f.first for f in members if np.isfinite(f.first)]
        start = min(firsts) if firsts else float("nan")
        offsets = np.concatenate([[0], np.cumsum([f.frames for f in members])]).tolist()
        k = 0
        while k < len(members):
            f = members[k]
            # small files that follow, batched into this task up to chunk_records records
            end, records = k + 1, f.frames
            while (end < len(members) and f.frames < chunk_records
                   and end - k < BATCH_FILES
                   and records + members[end].frames <= chunk_records
                   and f.size + sum(m.size for m in members[k + 1:end + 1]) <= BATCH_BYTES):
                records += members[end].frames
                end += 1
            last = members[end - 1]
            before = tuple((members[i], offsets[i]) for i in range(k)
                           if np.isfinite(f.first) and members[i].last >= f.first - window)
            after = tuple((members[i], offsets[i]) for i in range(end, len(members))
                          if np.isfinite(last.last) and members[i].first <= last.last + window)
            more = tuple((members[i], offsets[i]) for i in range(k + 1, end))
            for lo in range(0, max(f.frames, 1), chunk_records):
                hi = min(f.frames, lo + chunk_records)
                jobs.append(FileJob(point, len(jobs), f, before, after, offsets[k], (lo, hi),
                                    window, ports, mtu, start, parquet, keep_tables, jit,
                                    more if hi == f.frames else (), vxlan_ports))
            k = end
    return jobs


# -- one file ---------------------------------------------------------------------------------

def analyze_file(job: FileJob) -> FileResult:
    """Decode and pair one file with its neighbours' edges stitched around it; keep what it
    owns. Runs in a worker process (local or Dask)."""
    from .native import decode_index, tables_of
    from .transactions import build_transactions, summary_parts

    started = time.perf_counter()
    own = _open(job.own.path, job.jit)
    opened = [own]
    parts: list[tuple[Any, np.ndarray]] = []
    frames: list[np.ndarray] = []
    bases: list[int] = []  # the set's frames before each part's file
    a, b = job.rows
    batch = [_open(f.path, job.jit) for f, _ in job.more]
    opened += batch
    record_notes = _record_notes(job, own, batch)
    times = np.concatenate([own.time[a:b], *(m.time for m in batch)])
    seen = times[np.isfinite(times)]
    first_t = float(seen[0]) if len(seen) else float("nan")
    last_t = float(seen[-1]) if len(seen) else float("nan")

    def near(index: Any, rows: np.ndarray, *, before: bool) -> np.ndarray:
        t = index.time[rows]
        if before:
            return rows[t >= first_t - job.window] if np.isfinite(first_t) else rows[:0]
        return rows[t <= last_t + job.window] if np.isfinite(last_t) else rows[:0]

    try:
        for neighbour, first in job.before:
            prev = _open(neighbour.path, job.jit)
            opened.append(prev)
            rows = near(prev, np.arange(prev.frames, dtype=np.int64), before=True)
            parts.append((prev, rows))
            bases.append(first)
            frames.append(first + rows + 1)
        for rows in (near(own, np.arange(a, dtype=np.int64), before=True),
                     np.arange(a, b, dtype=np.int64),
                     near(own, np.arange(b, own.frames, dtype=np.int64), before=False)):
            parts.append((own, rows))
            bases.append(job.offset)
            frames.append(job.offset + rows + 1)
        for member, (_, first) in zip(batch, job.more, strict=True):
            rows = np.arange(member.frames, dtype=np.int64)
            parts.append((member, rows))
            bases.append(first)
            frames.append(first + rows + 1)
        for neighbour, first in job.after:
            nxt = _open(neighbour.path, job.jit)
            opened.append(nxt)
            rows = near(nxt, np.arange(nxt.frames, dtype=np.int64), before=False)
            parts.append((nxt, rows))
            bases.append(first)
            frames.append(first + rows + 1)
        index = stitch(parts, job.own.path, bases)
    finally:
        for index_ in opened:
            index_.close()
    glob_frame = np.concatenate(frames)
    owned_frames = b - a + sum(f.frames for f, _ in job.more)
    if owned_frames == 0:  # files of no records (a header only): nothing to own
        return FileResult(job.own.path, job.point, SummaryParts(), 0, 0, 0,
                          time.perf_counter() - started, _peak_rss_mb(), os.getpid(),
                          None, None, more=[(f.path, 0, 0, 0, None) for f, _ in job.more])
    tables = tables_of(decode_index(index, ports=job.ports, jit=job.jit,
                                    vxlan_ports=job.vxlan_ports), job.own.path)
    _renumber(tables, glob_frame)
    tables.dns_ports = tuple(job.ports)
    tables.total_frames = owned_frames
    txns = build_transactions(tables, mtu=job.mtu)
    lo = job.offset + a + 1
    hi = job.more[-1][1] + job.more[-1][0].frames if job.more else job.offset + b
    # the messages stitched before this task's records go back --window s, no further: an
    # orphan answer's query older than that is said as not searched for, not as never seen
    # a TCP stream met without its SYN in a window that starts after the point's capture
    # began: its SYN may lie before the window -- not "the capture starts mid-stream" (that
    # is said by the task whose window starts the capture); one name per connection
    window_start = int(glob_frame[0])
    old_streams: set[str] = set()
    if window_start > 1:
        kept = []
        for text, frame in zip(tables.warnings, [*tables.warning_frames, *[None] * len(
                tables.warnings)][:len(tables.warnings)], strict=True):
            if text.endswith(MID_STREAM):
                old_streams.add(_connection(text[:-len(MID_STREAM)]))
            else:
                kept.append((text, frame))
        tables.warnings = [t for t, _ in kept]
        tables.warning_frames = [f for _, f in kept]
    parts_ = summary_parts(tables, txns, mtu=job.mtu, owned=(lo, hi),
                           start=job.start if np.isfinite(job.start) else None,
                           searched_from=first_t - job.window if np.isfinite(first_t) else None,
                           search_later=False)
    parts_.backwards, parts_.snapped = record_notes
    parts_.old_streams = {f"{job.point}\0{name}" for name in old_streams}
    m = tables.messages
    mine = m[(m["frame"] >= lo) & (m["frame"] <= hi)].reset_index(drop=True)
    qf = txns["query_frame"].to_numpy(dtype=np.float64, na_value=np.nan)
    owned = txns[(qf >= lo) & (qf <= hi)].reset_index(drop=True)
    if job.parquet:
        _write_partitions(Path(job.parquet), job, mine, owned)
    # each batched file's own messages and transactions, by its frame range
    more: list[tuple[str, int, int, int, str | None]] = []
    if job.more:
        edges = np.array([first + 1 for _, first in job.more] + [hi + 1], dtype=np.float64)
        per_msg = np.histogram(mine["frame"].to_numpy(dtype=np.float64), bins=edges)[0]
        oq = owned["query_frame"].to_numpy(dtype=np.float64, na_value=np.nan)
        per_txn = np.histogram(oq[np.isfinite(oq)], bins=edges)[0]
        more = [(f.path, f.frames, int(m), int(t), None)
                for (f, _), m, t in zip(job.more, per_msg, per_txn, strict=True)]
    n_more_msg = sum(x[2] for x in more)
    n_more_txn = sum(x[3] for x in more)
    return FileResult(job.own.path, job.point, parts_, b - a, len(mine) - n_more_msg,
                      len(owned) - n_more_txn, time.perf_counter() - started, _peak_rss_mb(),
                      os.getpid(), owned if job.keep_tables else None,
                      mine if job.keep_tables else None, more=more)


def analyze_file_or_skip(job: FileJob) -> FileResult:
    """:func:`analyze_file`, isolating a bad file: a failed batch is read again file by file,
    a failed file again without its neighbours' edges (a bad neighbour must not take it along),
    and a file that fails on its own is skipped, with the reason."""
    try:
        return analyze_file(job)
    except Exception as exc:  # one file of a day's set: reported, never the whole set
        reason = _reason(exc)
    if job.more:
        return _one_by_one(job)
    if job.before or job.after:
        try:
            result = analyze_file(replace(job, before=(), after=()))
        except Exception as exc:
            reason = _reason(exc)
        else:
            result.parts.notes.append(f"{Path(job.own.path).name} was analysed without its "
                                      f"neighbours' edges (a neighbour failed: {reason})")
            return result
    return FileResult(job.own.path, job.point, SummaryParts(), 0, 0, 0, 0.0, _peak_rss_mb(),
                      os.getpid(), skipped=reason)


def _one_by_one(job: FileJob) -> FileResult:
    """A batch that failed, read file by file (each alone): one result for the batch, the
    files that fail on their own marked skipped in ``more``."""
    head = analyze_file_or_skip(replace(job, more=(), after=()))
    results = [analyze_file_or_skip(replace(job, own=f, offset=first, rows=(0, f.frames),
                                            before=(), after=(), more=()))
               for f, first in job.more]
    good = [r for r in [head, *results] if r.skipped is None]
    merged = replace(head, parts=merge_parts([r.parts for r in good]),
                     more=[(r.path, f.frames, r.messages, r.transactions, r.skipped)
                           for (f, _), r in zip(job.more, results, strict=True)])
    if job.keep_tables:
        import pandas as pd

        tables = [r for r in good if r.transaction_table is not None]
        if tables:
            merged.transaction_table = pd.concat([r.transaction_table for r in tables],
                                                 ignore_index=True)
            merged.message_table = pd.concat([r.message_table for r in tables],
                                             ignore_index=True)
    return merged


def _reason(exc: BaseException) -> str:
    """A file's failure in one line: enumlab's typed errors as they are, anything else with
    its type (an enumlab bug, reported rather than fatal to the set)."""
    if isinstance(exc, EnumlabError):
        return str(exc).splitlines()[0]
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")


def _open(path: str, jit: bool | None) -> Any:
    """A file's record index, walked by the compiled kernel when the file is big enough."""
    from .jit import want_jit

    return open_capture(path, jit=want_jit(Path(path).stat().st_size, jit))


def _renumber(tables: Any, glob_frame: np.ndarray) -> None:
    """Stitched-capture frames (1-based rows of the stitched index) -> the point's frames."""
    def remap(values: Any) -> Any:
        arr = np.asarray(values, dtype=np.float64)
        ok = np.isfinite(arr)
        out = np.full(len(arr), np.nan)
        out[ok] = glob_frame[arr[ok].astype(np.int64) - 1]
        return out

    m = tables.messages
    for col in ("frame", "first_frame"):
        m[col] = remap(m[col]).astype(np.int64)
    for frame in (tables.fragments, tables.icmp, tables.tcp):
        if len(frame):
            frame["frame"] = remap(frame["frame"]).astype(np.int64)
    f = tables.fragments
    if len(f):
        f["reassembled_in"] = _nullable(remap(f["reassembled_in"].astype("Float64")
                                              .to_numpy(dtype=np.float64, na_value=np.nan)))
    tables.retransmitted_frames = [int(glob_frame[r - 1]) for r in tables.retransmitted_frames]
    tables.mid_stream_frames = [int(glob_frame[r - 1]) for r in tables.mid_stream_frames]
    tables.warning_frames = [None if r is None else int(glob_frame[r - 1])
                             for r in tables.warning_frames]


MID_STREAM = (": the capture starts mid-stream (no SYN); messages framed from the first "
              "plausible DNS message seen")


def _connection(name: str) -> str:
    """``TCP a -> b`` as its connection (both directions one name)."""
    ends = name.removeprefix("TCP ").split(" -> ")
    return " <-> ".join(sorted(ends))


def _nullable(values: np.ndarray) -> Any:
    import pandas as pd

    ok = np.isfinite(values)
    return pd.arrays.IntegerArray(np.where(ok, values, 0).astype(np.int64), ~ok)


def _peak_rss_mb() -> float:
    """This process's peak resident memory: Linux's VmHWM, which a forked worker starts from
    its own resident size (getrusage's ru_maxrss starts from the parent's *peak*, so a pool
    worker forked from a big parent reported the parent's size); ru_maxrss elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _hours(times: Any) -> Any:
    import pandas as pd

    stamps = pd.to_datetime(pd.Series(times, dtype="float64"), unit="s", utc=True)
    return stamps.dt.strftime("%Y-%m-%dT%H").fillna("unknown")


def _write_partitions(root: Path, job: FileJob, messages: Any, transactions: Any) -> None:
    """Parquet files under ``root/<table>/point=P/hour=H/``, one per (file, hour): each
    task writes only its own files, so tasks never collide."""
    name = f"part-{job.position:06d}.parquet"
    for table, frame, clock in (("messages", messages, "time"),
                                ("transactions", transactions, "query_time")):
        if not len(frame):
            continue
        out = frame.copy()
        if "transaction" in out:
            out = out.drop(columns=["transaction"])
        for col in out.columns:
            if str(out[col].dtype) == "category":
                out[col] = out[col].astype("string")
        out["file"] = _file_names(job, frame["frame" if clock == "time" else "query_frame"])
        hours = _hours(frame[clock].to_numpy(dtype=np.float64))
        for hour, group in out.groupby(hours.to_numpy(), sort=True):
            where = root / table / f"point={partition_name(job.point)}" / f"hour={hour}"
            where.mkdir(parents=True, exist_ok=True)
            group.to_parquet(where / name, index=False)


def _record_notes(job: FileJob, own: Any, batch: list[Any]) -> tuple[Any, Any]:
    """What the record headers of the records this task owns say, as a single capture's
    notes say it (:func:`.files.backwards_stats`, :func:`.files.snap_stats`), numbered
    across the set: time going back within a file (a step from the record before the
    task's first, in the same file, included; across files the set's overlap note speaks),
    and frames cut by the snap length."""
    from .files import backwards_stats, snap_stats

    a, b = job.rows
    back = backwards_stats(own.time[a:b], job.offset + a + 1,
                           float(own.time[a - 1]) if a > 0 else float("nan"))
    snap = snap_stats(own.caplen[a:b], own.origlen[a:b], job.offset + a + 1)
    for member, (_, first) in zip(batch, job.more, strict=True):
        back = merge_figures(back, backwards_stats(member.time, first + 1))
        snap = merge_figures(snap, snap_stats(member.caplen, member.origlen, first + 1))
    return back, snap


def _file_names(job: FileJob, frames: Any) -> np.ndarray:
    """The file each (set-wide) frame is in -- its path as the set was given it (two hosts'
    ``dns.pcap`` stay apart) -- the task's own file, or one of the small files batched after
    it (``job.more``), by where each one's frames start."""
    starts = np.array([job.offset + job.rows[0] + 1] + [first + 1 for _, first in job.more],
                      dtype=np.float64)
    names = np.array([job.own.path] + [f.path for f, _ in job.more], dtype=object)
    at = np.searchsorted(starts, np.asarray(frames, dtype=np.float64), side="right") - 1
    return names[np.clip(at, 0, len(names) - 1)]


def partition_name(point: str) -> str:
    """A capture point as a partition directory's value: percent-encoded (RFC 3986 s2.1,
    every byte but letters, digits and ``_.-~``), as Hive writes and as pyarrow and DuckDB
    decode it -- one directory per point (``ns 1`` and ``ns_1`` stay apart, ``a/b`` is no
    sub-directory), and the ``point`` read back is the name as given."""
    return quote(point, safe="")


# -- the whole set -----------------------------------------------------------------------------

Runner = Callable[[Callable[[Any], Any], list[Any], list[int]], list[Any]]


def analyze_set(inputs: Sequence[str | Path], *, point_from: str = "one",
                window: float = DEFAULT_WINDOW, workers: int | None = None,
                dask: str | None = None, ports: tuple[int, ...] = (), mtu: int | None = None,
                parquet: str | Path | None = None, keep_tables: bool = False,
                progress: bool | None = None, jit: bool | None = None,
                chunk_records: int = CHUNK_RECORDS,
                vxlan_ports: tuple[int, ...] = (4789,)) -> CaptureSetResult:
    """Analyse many capture files as one set (see module docs): ``workers`` local processes
    (default: every core; 1 runs in this process), or the Dask cluster at ``dask``
    (``tcp://host:8786``) -- then the work, its retries and its data movement are Dask's. A
    file that cannot be read is skipped and named; a set none of whose files can be read is a
    :class:`.files.CaptureError` naming them (an error, not an empty set)."""
    if not window >= 0:
        raise InputError(f"the window must be >= 0 seconds, not {window!r}", subject=window)
    paths = expand(inputs)
    if parquet is not None:
        _prepare_dataset(Path(parquet))
    used, capped = worker_count(workers)
    run = _dask_runner(dask) if dask else _local_runner(used)
    points = [point_of(p, point_from) for p in paths]
    sizes = [p.stat().st_size for p in paths]
    show = progress if progress is not None else _on_terminal()
    bar = None
    try:
        # surveyed in batches: a file's survey is a millisecond, a task's round trip more
        pairs = list(zip(map(str, paths), points, strict=True))
        batches = [pairs[i:i + SURVEY_BATCH] for i in range(0, len(pairs), SURVEY_BATCH)]
        surveys: list[CaptureFile | str] = [
            s for batch in run(_survey_batch, batches, [0] * len(batches)) for s in batch]
        skipped: list[dict[str, Any]] = [
            {"path": str(p), "reason": why}
            for p, why in zip(paths, surveys, strict=True) if isinstance(why, str)]
        surveyed = [f for f in surveys if isinstance(f, CaptureFile)]
        jobs = plan(surveyed, window=window, ports=ports, mtu=mtu,
                    parquet=str(parquet) if parquet is not None else None,
                    keep_tables=keep_tables, jit=jit, chunk_records=chunk_records,
                    vxlan_ports=vxlan_ports)
        by_path = {str(p): s for p, s in zip(paths, sizes, strict=True)}
        shares = [by_path[j.own.path] * (j.rows[1] - j.rows[0]) // max(j.own.frames, 1)
                  for j in jobs]
        bar = _bar(sum(sizes), len(jobs)) if show else None
        results: list[FileResult] = run(analyze_file_or_skip, jobs, shares, bar)
    finally:
        if bar is not None:
            bar.close()
        if hasattr(run, "client"):
            run.client.close()
    for r in results:
        if r.skipped is not None:
            skipped.append({"path": r.path, "reason": r.skipped})
        skipped += [{"path": path, "reason": why or r.skipped}
                    for path, _, _, _, why in r.more if why is not None or r.skipped]
    good = [r for r in results if r.skipped is None]
    summary = summary_from(merge_parts([r.parts for r in good]), mtu=mtu)
    summary["warnings"] += overlap_notes(surveyed)
    summary["capture"] = (f"{len(paths)} file(s), {len({j.point for j in jobs})} capture "
                          "point(s)")
    if skipped:
        summary["capture"] += f", {len(skipped)} skipped"
    summary["engine"] = "native"
    summary["files"] = _per_file(jobs, results)
    if skipped and not summary["files"]:  # not one input could be read: an error
        why = "; ".join(str(x["reason"]) for x in skipped[:3])  # (each names its file)
        raise CaptureError(f"none of the {len(skipped):,} input(s) could be read as a capture "
                           f"({why}{'; ...' if len(skipped) > 3 else ''})",
                           subject=[x["path"] for x in skipped])
    summary["skipped_files"] = skipped
    if not dask:
        summary["workers"] = {"asked": workers, "used": used, "capped": capped}
    summary["window_s"] = window
    summary = json_safe(summary)
    results = good
    result = CaptureSetResult(summary, results)
    if keep_tables:
        import pandas as pd

        txns = [r.transaction_table.assign(point=r.point) for r in results]
        msgs = [r.message_table.assign(point=r.point) for r in results]
        result.transactions = pd.concat(txns, ignore_index=True) if txns else None
        if result.transactions is not None:
            result.transactions["transaction"] = np.arange(len(result.transactions))
        result.messages = pd.concat(msgs, ignore_index=True) if msgs else None
    if parquet is not None:
        _write_summary(Path(parquet), summary)
    return result


def overlap_notes(files: Sequence[CaptureFile]) -> list[str]:
    """The note of a capture point whose files overlap in time (two captures of one link
    run at once, tcpdump restarted over its own last seconds): the set reads each file after
    the one before it, not merged packet by packet, so an exchange whose messages sit in
    both may go unpaired and a packet both hold is counted twice. Per point: how many files
    start before an earlier one has ended, and the first such pair."""
    out = []
    points: dict[str, list[CaptureFile]] = {}
    for f in files:
        points.setdefault(f.point, []).append(f)
    for point, members in points.items():
        timed = sorted((f for f in members if np.isfinite(f.first) and np.isfinite(f.last)),
                       key=lambda f: (f.first, f.path))
        overlapping: list[tuple[CaptureFile, CaptureFile]] = []
        latest: CaptureFile | None = None
        for f in timed:  # (a loop over files, not packets)
            if latest is not None and f.first < latest.last:
                overlapping.append((latest, f))
            if latest is None or f.last > latest.last:
                latest = f
        if overlapping:
            a, b = overlapping[0]
            where = f" at capture point {point}" if len(points) > 1 else ""
            out.append(
                f"{len(overlapping)} file(s){where} start before an earlier one ends (first: "
                f"{Path(b.path).name} starts {a.last - b.first:.6g} s before "
                f"{Path(a.path).name} ends): the set reads files one after another, not "
                "merged by time, so an exchange across them may go unpaired and a packet "
                "both hold is counted twice -- `mergecap -w merged.pcapng FILE...` makes "
                "one capture of them")
    return out


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity as None (JSON has neither, RFC 8259 s6): a set's
    summary and its summary.json stay valid JSON whatever the files held."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _write_summary(root: Path, summary: dict[str, Any]) -> None:
    """summary.json written whole or not at all (a temp file renamed over it): a reader never
    meets half of one."""
    tmp = root / ".summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, default=str, allow_nan=False))
    os.replace(tmp, root / "summary.json")


def _per_file(jobs: list[FileJob], results: list[FileResult]) -> list[dict[str, Any]]:
    """One line per file (its tasks added up), in the set's order."""
    out: dict[str, dict[str, Any]] = {}
    for j, r in zip(jobs, results, strict=True):
        f = out.setdefault(j.own.path, {
            "path": j.own.path, "point": j.point, "frames": j.own.frames, "first": j.own.first,
            "last": j.own.last, "first_frame": j.offset + 1, "tasks": 0, "messages": 0,
            "transactions": 0, "seconds": 0.0, "worker_pids": [], "worker_peak_rss_mb": 0.0})
        f["tasks"] += 1
        f["messages"] += r.messages
        f["transactions"] += r.transactions
        f["seconds"] = round(f["seconds"] + r.seconds, 3)
        f["worker_pids"] = sorted({*f["worker_pids"], r.pid})
        f["worker_peak_rss_mb"] = round(max(f["worker_peak_rss_mb"], r.peak_rss_mb), 1)
        if r.skipped is not None:
            f["skipped"] = r.skipped
        for (member, first), (_, _, messages, transactions, why) in zip(j.more, r.more,
                                                                        strict=True):
            out[member.path] = {
                "path": member.path, "point": j.point, "frames": member.frames,
                "first": member.first, "last": member.last, "first_frame": first + 1,
                "tasks": 1, "messages": messages, "transactions": transactions,
                "seconds": 0.0, "worker_pids": [r.pid],
                "worker_peak_rss_mb": round(r.peak_rss_mb, 1), "batched_with": j.own.path}
            if why is not None or r.skipped is not None:
                out[member.path]["skipped"] = why or r.skipped
    return list(out.values())


def worker_count(asked: int | None) -> tuple[int, str | None]:
    """The local workers to run: ``asked`` (default: every core) capped by the cores this
    process may use and by the memory available at WORKER_BUDGET_MB each (64 workers on 2
    cores took 7.8-10.6 GB); with the reason when capped."""
    if asked is not None and (isinstance(asked, bool) or not isinstance(asked, int)
                              or asked < 1):
        raise InputError(f"workers must be a whole number >= 1, not {asked!r}", subject=asked)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    by_memory = max(1, _available_mb() // WORKER_BUDGET_MB)
    used = min(asked or cores, cores, by_memory)
    if asked is None or used >= asked:
        return used, None
    why = [f"{cores} core(s)" if used == cores else "",
           f"{_available_mb():,} MB available at {WORKER_BUDGET_MB:,} MB per worker"
           if used == by_memory else ""]
    return used, f"{asked} workers asked, {used} used: " + " and ".join(w for w in why if w)


def _available_mb() -> int:
    """MemAvailable from /proc/meminfo, in MB (a large number where it cannot be read)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 1 << 20


def _survey_batch(pairs: list[tuple[str, str]]) -> list[CaptureFile | str]:
    return [_survey_job(pair) for pair in pairs]


def _survey_job(args: tuple[str, str]) -> CaptureFile | str:
    """The file surveyed, or why it cannot be read (the set goes on without it)."""
    try:
        return survey(*args)
    except Exception as exc:
        return _reason(exc)


def _on_terminal() -> bool:
    import sys

    return sys.stderr.isatty()


def _bar(total_bytes: int, files: int) -> Any:
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: worker processes are forked after this
    bar = tqdm(total=total_bytes, unit="B", unit_scale=True, desc="capture set",
               leave=False)
    bar.set_postfix_str(f"0/{files} tasks")
    bar.files = (0, files)  # type: ignore[attr-defined]
    return bar


def _tick(bar: Any, nbytes: int) -> None:
    if bar is None:
        return
    done, total = bar.files
    bar.files = (done + 1, total)
    bar.update(nbytes)
    bar.set_postfix_str(f"{done + 1}/{total} tasks")


def _local_runner(workers: int) -> Any:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers must be a whole number >= 1, not {workers!r}",
                         subject=workers)

    def run(fn: Callable[[Any], Any], jobs: list[Any], sizes: list[int],
            bar: Any = None) -> list[Any]:
        if workers == 1 or len(jobs) <= 1:
            out = []
            for job, size in zip(jobs, sizes, strict=True):
                out.append(fn(job))
                _tick(bar, size)
            return out
        import multiprocessing
        import threading
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # fork from a single-threaded coordinator (instant, nothing re-imported); from a
        # threaded one (a Jupyter kernel) spawn fresh interpreters, as forking threads is unsafe
        method = "fork" if threading.active_count() == 1 else "spawn"
        ctx = multiprocessing.get_context(method)
        results: list[Any] = [None] * len(jobs)
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
            futures = {pool.submit(fn, job): k for k, job in enumerate(jobs)}
            for future in as_completed(futures):  # type: ignore[no-untyped-call]
                k = futures[future]
                results[k] = future.result()
                _tick(bar, sizes[k])
        return results

    return run


def _dask_runner(address: str) -> Any:
    """Submit to a running Dask cluster: ``distributed.Client(address)``. Dask places the
    tasks, retries those a lost worker held and moves the data; enumlab adds nothing."""
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - a dependency
        raise InputError("--dask needs the 'distributed' package (pip install "
                         "'dask[distributed]')", subject=address) from exc
    if not re.match(r"^(tcp|tls|inproc|ucx)://", address):
        address = f"tcp://{address}"
    try:
        client = Client(address, timeout="10s", set_as_default=False)  # type: ignore[no-untyped-call]
    except OSError as exc:
        raise InputError(f"no Dask scheduler answers at {address}: {exc}",
                         subject=address) from exc

    def run(fn: Callable[[Any], Any], jobs: list[Any], sizes: list[int],
            bar: Any = None) -> list[Any]:
        with client.as_current():
            futures = client.map(fn, jobs, pure=False, retries=2)
            index = {f.key: k for k, f in enumerate(futures)}
            results: list[Any] = [None] * len(jobs)
            for future in as_completed(futures):  # type: ignore[no-untyped-call]
                k = index[future.key]
                results[k] = future.result()
                _tick(bar, sizes[k])
        return results

    run.client = client  # type: ignore[attr-defined]
    return run


def _prepare_dataset(root: Path) -> None:
    """An empty directory, or one enumlab wrote before (replaced); anything else is refused."""
    if root.exists() and not root.is_dir():
        raise InputError(f"--parquet {root} is a file, not a directory", subject=str(root))
    if root.exists() and any(root.iterdir()):
        if not (root / "summary.json").exists():
            raise InputError(f"--parquet {root} is not empty and not an enumlab dataset: "
                             "refusing to write into it", subject=str(root))
        import shutil

        for sub in ("messages", "transactions"):
            shutil.rmtree(root / sub, ignore_errors=True)
        (root / "summary.json").unlink()
    root.mkdir(parents=True, exist_ok=True)


# -- reading a dataset back --------------------------------------------------------------------

def is_dataset(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "summary.json").is_file()


def read_summary(path: str | Path) -> dict[str, Any]:
    """A dataset's summary.json; an :class:`InputError` naming it when it is not a JSON object
    (a partial write by an older enumlab, or another program's file)."""
    where = Path(path) / "summary.json"
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{where}: {exc.strerror}", subject=str(where)) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{where} is not JSON ({exc}): a partial write? write the dataset "
                         "again with enumlab pcap FILES --parquet DIR", subject=str(where)) from exc
    if not isinstance(data, dict):
        raise InputError(f"{where} holds a JSON {type(data).__name__}, not an enumlab summary",
                         subject=str(where))
    return data


def read_dataset(path: str | Path, table: str = "transactions",
                 columns: list[str] | None = None) -> Any:
    """One table of a dataset as a DataFrame (``point`` and ``hour`` from the partitions)."""
    import pandas as pd

    from . import MESSAGE_COLUMNS
    from .transactions import COLUMNS

    where = Path(path) / table
    if not where.is_dir():
        return pd.DataFrame()
    try:
        # the partitions' values are text, never guessed (a point named 2024 stays "2024")
        frame = pd.read_parquet(where, columns=columns, partitioning=_partitioning())
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise InputError(f"{where}: not an enumlab Parquet table ({str(exc).splitlines()[0]})",
                         subject=str(where)) from exc
    # the dtypes of the tables enumlab builds (Parquet keeps strings for categories)
    spec = COLUMNS if table == "transactions" else MESSAGE_COLUMNS
    for name, dtype in spec.items():
        if name in frame and str(frame[name].dtype) != dtype:
            frame[name] = frame[name].astype(dtype)  # type: ignore[call-overload]
    order = "query_time" if table == "transactions" else "time"
    return frame.sort_values(["point", order], kind="stable").reset_index(drop=True)


def _partitioning() -> Any:
    import pyarrow as pa
    import pyarrow.dataset as pads

    return pads.partitioning(pa.schema([("point", pa.string()), ("hour", pa.string())]),
                             flavor="hive")


def query(path: str | Path, sql: str) -> Any:
    """Run DuckDB SQL over a dataset: the views ``messages`` and ``transactions`` read its
    Parquet files in place (hive partitions ``point`` and ``hour`` included)."""
    import duckdb

    root = Path(path)
    if not is_dataset(root):
        raise InputError(f"{root} is not an enumlab dataset (no summary.json): write one with "
                         "enumlab pcap FILES --parquet DIR", subject=str(root))
    if not sql.strip():
        raise InputError("the SQL is empty: give a query, e.g. 'SELECT count(*) FROM "
                         "transactions'", subject=sql)
    con = duckdb.connect()
    try:
        for table in ("messages", "transactions"):
            files = root / table
            if files.is_dir() and any(files.rglob("*.parquet")):
                pattern = str(files / "**" / "*.parquet").replace("'", "''")
                try:
                    con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet("
                                f"'{pattern}', hive_partitioning = true, "
                                "hive_types_autocast = false, union_by_name = true)")
                except duckdb.Error as exc:
                    raise InputError(f"{files}: {str(exc).splitlines()[0]}",
                                     subject=str(files)) from exc
        try:
            result = con.execute(sql)
            if result.description is None:  # a statement with no result set
                raise InputError("the SQL returns no rows (give a SELECT)", subject=sql)
            return result.fetchdf()
        except duckdb.Error as exc:
            raise InputError(f"DuckDB: {str(exc).splitlines()[0]}", subject=sql) from exc
    finally:
        con.close()


def rotate(path: str | Path, out_dir: str | Path, cuts: Sequence[int], *,
           names: Sequence[str] | None = None) -> list[Path]:
    """Write a capture as rotated files cut before each record number in ``cuts`` (0-based,
    ascending): the files ``tcpdump -C`` would have cut (named ``stem-000.pcap`` ... unless
    ``names`` are given; tcpdump's own are ``x.pcap``, ``x.pcap1``, ...). pcap files have
    their records copied byte for byte; pcapng files keep every block before the first
    packet (section and interface headers) in each part. For tests, notebooks and benchmarks."""
    src = Path(path)
    data = src.read_bytes()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    head, records = _records(data, src)
    bounds = [0, *[c for c in cuts if 0 < c < len(records)], len(records)]
    written = []
    for k, (a, b) in enumerate(itertools.pairwise(bounds)):
        name = names[k] if names else f"{src.stem}-{k:03d}{src.suffix}"
        target = out / name
        target.write_bytes(head + b"".join(data[s:e] for s, e in records[a:b]))
        written.append(target)
    return written


def _records(data: bytes, src: Path) -> tuple[bytes, list[tuple[int, int]]]:
    """(header bytes, (start, end) of each packet record/block)."""
    import struct

    magic = data[:4]
    if magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d", b"\xd4\xc3\xb2\xa1",
                 b"\x4d\x3c\xb2\xa1"):
        e = ">" if magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d") else "<"
        pos, out = 24, []
        while pos + 16 <= len(data):
            incl = struct.unpack_from(e + "I", data, pos + 8)[0]
            out.append((pos, pos + 16 + incl))
            pos += 16 + incl
        return data[:24], out
    if magic == b"\x0a\x0d\x0d\x0a":
        e = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        pos, out, head_end = 0, [], None
        while pos + 12 <= len(data):
            btype, blen = struct.unpack_from(e + "II", data, pos)
            if blen < 12:
                break
            if btype in (3, 6, 2):  # SPB, EPB, PB: packets
                if head_end is None:
                    head_end = pos
                out.append((pos, pos + blen))
            elif head_end is not None and btype in (0x0A0D0D0A, 1):
                raise CaptureError(f"{src}: a section or interface block after the first packet"
                                   ": rotate() keeps one header per part", subject=str(src))
            pos += blen
        return data[: head_end or pos], out
    raise CaptureError(f"{src}: not a pcap or pcapng file", subject=str(src))


__all__ = ["DEFAULT_WINDOW", "CaptureFile", "CaptureSetResult", "FileJob", "FileResult",
           "analyze_file", "analyze_set", "expand", "is_dataset", "plan", "point_of", "query",
           "read_dataset", "rotate", "survey"]
