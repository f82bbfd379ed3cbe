"""Capture file formats: pcap and pcapng (optionally gzip-compressed) -> a record index.

The file is memory-mapped (a ``.gz`` is first inflated, in bounded blocks, into a temporary file
without a name -- gone with the process, however it ends -- that is then mapped; a gzip bomb is
refused), never read whole into memory. The record walk -- the one inherently
sequential step -- is a kernel (:mod:`.jit`) that fills, for a block of records at a time, the
offset of each packet's bytes, its captured and original length, its timestamp and its
interface, so the layers above work on whole arrays.

* pcap: both byte orders, micro- and nanosecond magics; the link type from the file header.
* pcapng (draft-ietf-opsawg-pcapng): every Section Header Block (each may change byte order),
  Interface Description Blocks (link type, ``if_tsresol``, ``if_tsoffset``, ``if_filter``),
  Enhanced and Simple Packet Blocks and the obsolete Packet Block; unknown blocks are skipped.
  A Simple Packet Block carries no timestamp: its time is NaN, never invented.

Damage (a record longer than the file or than any sane snap length, a block whose trailing
length disagrees) stops the walk: everything before it is kept, and :class:`RecordIndex`
says at which byte and after which record the damage sits.
"""

from __future__ import annotations

import contextlib
import gzip
import mmap
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InputError
from .jit import kernel

MAX_RECORD = 256 << 20  # no real packet is longer; a larger length is damage
BLOCK_RECORDS = 1 << 20  # records indexed per kernel call

PCAP_MAGICS = {b"\xa1\xb2\xc3\xd4": (">", 1e-6), b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
               b"\xa1\xb2\x3c\x4d": (">", 1e-9), b"\x4d\x3c\xb2\xa1": ("<", 1e-9)}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


class CaptureError(InputError):
    """A capture file that is missing, unreadable, not a capture, damaged, or holds no DNS."""


@dataclass
class Interface:
    link_type: int
    snaplen: int
    ts_scale: float = 1e-6
    ts_offset: float = 0.0
    capture_filter: str | None = None
    name: str | None = None
    big: bool = False  # the section's byte order (NFLOG's TLVs follow it)


@dataclass
class RecordIndex:
    """Where every packet of a capture sits, in file order (frame ``i + 1`` is row ``i``)."""

    path: str
    format: str  # "pcap" | "pcapng"
    buf: np.ndarray  # uint8 view of the whole (mapped) file
    offset: np.ndarray  # int64: first byte of the packet data
    caplen: np.ndarray  # int64
    origlen: np.ndarray  # int64
    time: np.ndarray  # float64 epoch seconds (NaN: the block carries none)
    iface: np.ndarray  # int32 index into ``interfaces``
    interfaces: list[Interface]
    gzipped: bool = False
    damage: str | None = None  # where and how the walk stopped early
    notes: list[str] = field(default_factory=list)  # what was read but not believed
    intact: int | None = None  # with damage: the bytes before it (of the file, or inflated)
    _keep: list[Any] = field(default_factory=list, repr=False)

    @property
    def frames(self) -> int:
        return len(self.offset)

    @property
    def link_type(self) -> np.ndarray:
        """Link type of every record (int32)."""
        from .links import NFLOG, NFLOG_BIG

        types = np.array([NFLOG_BIG if i.link_type == NFLOG and i.big else i.link_type
                          for i in self.interfaces] or [-1], dtype=np.int32)
        out: np.ndarray = types[self.iface]
        return out

    @property
    def capture_filter(self) -> str | None:
        filters = [i.capture_filter for i in self.interfaces if i.capture_filter]
        return filters[0] if filters else None

    def release(self, lo: int, hi: int) -> None:
        """Hand the mapped pages of records ``lo..hi`` back to the kernel (``MADV_DONTNEED``):
        they stay in the page cache, but no longer count in this process's memory. Reading
        them again maps them again."""
        if hi <= lo or not self.frames:
            return
        _drop(self._keep, int(self.offset[lo]), int(self.offset[hi - 1] + self.caplen[hi - 1]))

    def drop_arrays(self) -> None:
        """Forget where the records are (after :meth:`close`, to free the index's memory)."""
        empty = np.zeros(0, dtype=np.int64)
        self.offset = self.caplen = self.origlen = empty
        self.time = np.zeros(0, dtype=np.float64)
        self.iface = np.zeros(0, dtype=np.int32)

    def close(self) -> None:
        """Unmap the file (and remove an inflated temporary copy)."""
        self.buf = np.zeros(0, dtype=np.uint8)
        _close_all(self._keep)


DROP_MIN_BYTES = 64 << 20  # a capture this big has its walked pages handed back


def _drop(maps: list[Any], start: int, stop: int) -> None:
    """Hand the mapped pages of bytes ``start..stop`` back to the kernel (``MADV_DONTNEED``):
    walking a big capture's record headers touches every page of it, and a mapping's resident
    pages count in the process's memory. They stay in the page cache; reading maps them
    again."""
    start &= ~(mmap.PAGESIZE - 1)
    if stop <= start or not hasattr(mmap, "MADV_DONTNEED"):
        return
    for thing in maps:
        if isinstance(thing, mmap.mmap):
            with contextlib.suppress(OSError, ValueError):
                thing.madvise(mmap.MADV_DONTNEED, start, min(stop, len(thing)) - start)


def _close_all(things: list[Any]) -> None:
    for thing in things:
        # a view still exported somewhere: the map then goes with its last user
        with contextlib.suppress(BufferError, OSError, ValueError):
            thing.close()
    things.clear()


def walk_pcap(buf: Any, pos: int, end: int, big: bool, scale: float, max_n: int,
              out_off: Any, out_cap: Any, out_orig: Any, out_time: Any) -> Any:
    """Index up to ``max_n`` pcap records from ``pos``; returns (count, next position, status):
    status 0 = more may follow, 1 = end of file, 2 = a record cut by the end of the file,
    3 = a record longer than :data:`MAX_RECORD`, 4 = an all-zero record header (zero-filled
    or sparse space: without this a 64 GiB hole would read as four billion empty records)."""
    n = 0
    status = 0
    while n < max_n:
        if pos + 16 > end:
            status = 1 if pos == end else 2
            break
        if big:
            sec = (buf[pos] << 24) | (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]
            frac = (buf[pos + 4] << 24) | (buf[pos + 5] << 16) | (buf[pos + 6] << 8) | buf[pos + 7]
            cap = (buf[pos + 8] << 24) | (buf[pos + 9] << 16) | (buf[pos + 10] << 8) | buf[pos + 11]
            orig = ((buf[pos + 12] << 24) | (buf[pos + 13] << 16) | (buf[pos + 14] << 8)
                    | buf[pos + 15])
        else:
            sec = (buf[pos + 3] << 24) | (buf[pos + 2] << 16) | (buf[pos + 1] << 8) | buf[pos]
            frac = (buf[pos + 7] << 24) | (buf[pos + 6] << 16) | (buf[pos + 5] << 8) | buf[pos + 4]
            cap = (buf[pos + 11] << 24) | (buf[pos + 10] << 16) | (buf[pos + 9] << 8) | buf[pos + 8]
            orig = ((buf[pos + 15] << 24) | (buf[pos + 14] << 16) | (buf[pos + 13] << 8)
                    | buf[pos + 12])
        if cap > 268435456:
            status = 3
            break
        if cap == 0 and orig == 0 and sec == 0 and frac == 0:
            status = 4  # zero-filled: a sparse or pre-allocated region, not a record
            break
        if pos + 16 + cap > end:
            status = 2
            break
        out_off[n] = pos + 16
        out_cap[n] = cap
        out_orig[n] = orig
        out_time[n] = sec + frac * scale
        n += 1
        pos += 16 + cap
    if n == max_n and pos == end:
        status = 1
    return n, pos, status


def walk_pcapng(buf: Any, pos: int, end: int, big: bool, iface_base: int, n_ifaces: int,
                scales: Any, offsets: Any, max_n: int, out_off: Any, out_cap: Any,
                out_orig: Any, out_time: Any, out_iface: Any) -> Any:
    """Index packet blocks (EPB 6, SPB 3, obsolete PB 2) from ``pos`` until ``max_n`` packets,
    the end, damage, or a block Python must read (SHB, IDB). Returns (count, position, status):
    0 = more may follow, 1 = end, 2 = cut block, 3 = bad block length, 4 = SHB or IDB at
    ``position``, 5 = a packet on an interface no IDB described, 6 = a block whose trailing
    length is not the one in its header."""
    n = 0
    status = 0
    while n < max_n:
        if pos + 12 > end:
            status = 1 if pos == end else 2
            break
        if big:
            btype = (buf[pos] << 24) | (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]
            blen = (buf[pos + 4] << 24) | (buf[pos + 5] << 16) | (buf[pos + 6] << 8) | buf[pos + 7]
        else:
            btype = (buf[pos + 3] << 24) | (buf[pos + 2] << 16) | (buf[pos + 1] << 8) | buf[pos]
            blen = (buf[pos + 7] << 24) | (buf[pos + 6] << 16) | (buf[pos + 5] << 8) | buf[pos + 4]
        if btype == 0x0A0D0D0A or btype == 1:
            status = 4
            break
        if blen < 12 or blen % 4 != 0 or blen > 268435456:
            status = 3
            break
        if pos + blen > end:
            status = 2
            break
        t = pos + blen - 4
        if big:
            trail = (buf[t] << 24) | (buf[t + 1] << 16) | (buf[t + 2] << 8) | buf[t + 3]
        else:
            trail = (buf[t + 3] << 24) | (buf[t + 2] << 16) | (buf[t + 1] << 8) | buf[t]
        if trail != blen:
            status = 6
            break
        if btype == 6 or btype == 2 or btype == 3:
            if btype == 3:
                body = pos + 12
                if big:
                    orig = ((buf[pos + 8] << 24) | (buf[pos + 9] << 16) | (buf[pos + 10] << 8)
                            | buf[pos + 11])
                else:
                    orig = ((buf[pos + 11] << 24) | (buf[pos + 10] << 16) | (buf[pos + 9] << 8)
                            | buf[pos + 8])
                cap = min(orig, blen - 16)
                ifc = 0
                ts = np.nan
            else:
                body = pos + 28
                if blen < 32:
                    status = 3
                    break
                if btype == 6:
                    if big:
                        ifc = ((buf[pos + 8] << 24) | (buf[pos + 9] << 16) | (buf[pos + 10] << 8)
                               | buf[pos + 11])
                    else:
                        ifc = ((buf[pos + 11] << 24) | (buf[pos + 10] << 16) | (buf[pos + 9] << 8)
                               | buf[pos + 8])
                elif big:
                    ifc = (buf[pos + 8] << 8) | buf[pos + 9]
                else:
                    ifc = (buf[pos + 9] << 8) | buf[pos + 8]
                p = pos + 12
                if big:
                    hi = (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]
                    lo = (buf[p + 4] << 24) | (buf[p + 5] << 16) | (buf[p + 6] << 8) | buf[p + 7]
                    cap = ((buf[p + 8] << 24) | (buf[p + 9] << 16) | (buf[p + 10] << 8)
                           | buf[p + 11])
                    orig = ((buf[p + 12] << 24) | (buf[p + 13] << 16) | (buf[p + 14] << 8)
                            | buf[p + 15])
                else:
                    hi = (buf[p + 3] << 24) | (buf[p + 2] << 16) | (buf[p + 1] << 8) | buf[p]
                    lo = (buf[p + 7] << 24) | (buf[p + 6] << 16) | (buf[p + 5] << 8) | buf[p + 4]
                    cap = ((buf[p + 11] << 24) | (buf[p + 10] << 16) | (buf[p + 9] << 8)
                           | buf[p + 8])
                    orig = ((buf[p + 15] << 24) | (buf[p + 14] << 16) | (buf[p + 13] << 8)
                            | buf[p + 12])
                if ifc >= n_ifaces:
                    status = 5
                    break
                if cap > blen - 32:
                    status = 3
                    break
                ts = (hi * 4294967296.0 + lo) * scales[iface_base + ifc] + offsets[
                    iface_base + ifc]
            if ifc >= n_ifaces:
                status = 5
                break
            out_off[n] = body
            out_cap[n] = cap
            out_orig[n] = orig
            out_time[n] = ts
            out_iface[n] = iface_base + ifc
            n += 1
        pos += blen
    if n == max_n and pos == end:
        status = 1
    return n, pos, status


# A gzip capture may inflate to at most this many times its size (and at least GZIP_FLOOR):
# packet captures compress 3-20x; a 3 MB file of zeros inflating to 3 GB is a bomb.
GZIP_MAX_RATIO = 200
GZIP_FLOOR = 256 << 20


def _inflate(path: Path) -> tuple[Any, Path, Any]:
    """A gzip capture inflated block by block (bounded memory) into a temporary file that has
    no name (O_TMPFILE, or unlinked at once): it goes with the process, whatever ends it --
    SIGTERM, SIGKILL -- and never stays behind in $TMPDIR. Returns the error that stopped
    inflating, if any (what inflated before it is kept), a path that opens the file
    (``/proc/self/fd/N``) and the file object that keeps it alive (close it to free it).
    More than GZIP_MAX_RATIO times the file's size (at least GZIP_FLOOR bytes) is refused
    with a :class:`CaptureError` naming it, before it fills the disk."""
    limit = max(GZIP_FLOOR, GZIP_MAX_RATIO * path.stat().st_size)
    tmp = tempfile.TemporaryFile(prefix="enumlab-", suffix=".pcap")  # noqa: SIM115 (kept open: the capture maps it)
    damage = None
    written = 0
    try:
        try:
            with gzip.open(path, "rb") as src:
                # read1: whatever inflated so far, so a cut stream still gives its beginning
                while block := src.read1(1 << 20):
                    written += len(block)
                    if written > limit:
                        raise CaptureError(
                            f"{path}: inflates past {limit:,} bytes ({GZIP_MAX_RATIO}x its "
                            f"size, at least {GZIP_FLOOR >> 20} MB): refused as a gzip bomb "
                            "(gunzip it first if it is a real capture)", subject=str(path))
                    tmp.write(block)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            damage = exc
        tmp.flush()
    except BaseException:
        tmp.close()
        raise
    return damage, Path(f"/proc/self/fd/{tmp.fileno()}"), tmp


def _map(path: Path) -> tuple[Any, list[Any]]:
    size = path.stat().st_size
    if size == 0:
        return np.zeros(0, dtype=np.uint8), []
    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return np.frombuffer(mapped, dtype=np.uint8), [mapped]


TIME_LIMIT = 9.2e9  # seconds from 1970 either way: what a datetime64[ns] holds (1677-2262)


def _idb(buf: Any, pos: int, blen: int, e: str, notes: list[str], number: int) -> Interface:
    """An Interface Description Block's link type, snap length and options; every option's
    value is checked to lie inside the block (a header with no room for its value ends the
    options, said in ``notes``)."""
    link_type, _reserved, snaplen = struct.unpack_from(e + "HHI", buf, pos + 8)
    iface = Interface(link_type, snaplen, big=e == ">")
    opt, stop = pos + 16, pos + blen - 4
    while opt + 4 <= stop:
        code, olen = struct.unpack_from(e + "HH", buf, opt)
        if code == 0:
            break
        if opt + 4 + olen > stop:
            notes.append(f"interface {number}: option {code} at byte {opt} claims {olen} "
                         "bytes past the end of its block: the rest of its options ignored")
            break
        value = bytes(buf[opt + 4: opt + 4 + olen])
        if code == 9 and olen >= 1:  # if_tsresol: 10^-n or 2^-n
            r = value[0]
            iface.ts_scale = 2.0 ** -(r & 0x7F) if r & 0x80 else 10.0 ** -r
        elif code == 14 and olen == 8:  # if_tsoffset, seconds
            offset = struct.unpack(e + "q", value)[0]
            if abs(offset) < TIME_LIMIT:
                iface.ts_offset = float(offset)
            else:
                notes.append(f"interface {number}: if_tsoffset of {offset:,} s is beyond any "
                             "date a timestamp can show (1677-2262): ignored")
        elif code == 11 and olen > 1:  # if_filter: a type byte, then the filter
            iface.capture_filter = value[1:].decode(errors="replace").strip("\x00")
        elif code == 2:
            iface.name = value.decode(errors="replace").strip("\x00")
        opt += 4 + ((olen + 3) & ~3)
    return iface


_DAMAGE = {2: "a record is cut by the end of the file", 3: "a record has an impossible length",
           4: "the file is zero-filled from here (sparse or pre-allocated space)",
           5: "a packet names an interface no Interface Description Block described",
           6: "a block's trailing length differs from the length in its header"}


def open_capture(path: str | Path, *, jit: bool = False, block_records: int = BLOCK_RECORDS,
                 release_walked: bool = True) -> RecordIndex:
    """Map and index a capture (see module docs); :class:`CaptureError` naming the file when
    it is missing, a directory, empty, or not pcap/pcapng. ``release_walked``: a capture of
    :data:`DROP_MIN_BYTES` or more has the pages its index walk touched handed back (read in
    pieces later); False when the packets are read right after (mapping them again costs a
    fault per 64 KB)."""
    p = Path(path)
    if p.is_dir():
        raise CaptureError(f"capture {p} is a directory, not a capture file", subject=str(p))
    if not p.is_file():
        raise CaptureError(f"capture {p} does not exist", subject=str(p))
    try:
        with open(p, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise CaptureError(f"capture {p} cannot be read: {exc.strerror}", subject=str(p)) from exc
    if not head:
        raise CaptureError(f"{p}: the file is empty (0 bytes), not a capture", subject=str(p))
    keep: list[Any] = []
    gz_damage = None
    source = p
    if head[:2] == b"\x1f\x8b":
        gz_damage, source, inflated = _inflate(p)
        keep.append(inflated)
    buf, maps = _map(source)
    keep[:0] = maps
    magic = bytes(buf[:4])
    try:
        drop = maps if release_walked and len(buf) >= DROP_MIN_BYTES else []
        if magic in PCAP_MAGICS:
            index = _index_pcap(p, buf, jit, block_records, drop)
        elif magic == PCAPNG_MAGIC:
            index = _index_pcapng(p, buf, jit, block_records, drop)
        else:
            what = "a zeroed header" if not any(bytes(buf[:24])) else f"magic {magic.hex()}"
            raise CaptureError(f"{p}: not a pcap or pcapng capture ({what})", subject=str(p))
    except CaptureError:
        del buf
        _close_all(keep)
        raise
    index._keep = keep
    index.gzipped = source != p
    _no_impossible_times(index)
    if gz_damage is not None:
        note = f"the gzip stream is damaged ({gz_damage}); kept what inflated before it"
        index.damage = f"{index.damage}; {note}" if index.damage else note
    return index


def _no_impossible_times(index: RecordIndex) -> None:
    """Timestamps beyond any date a table can show (64-bit pcapng ticks allow 584,000 years)
    become unknown (NaN), counted in the index's notes: never a date error in an output."""
    t = index.time
    far = np.abs(t) >= TIME_LIMIT  # NaN compares False: a block without time stays so
    if far.any():
        count = int(far.sum())
        index.time = np.where(far, np.nan, t)
        index.notes.append(f"{count:,} frame(s) carry a timestamp beyond 1677-2262 (first: "
                           f"frame {int(np.argmax(far)) + 1}): their time is unknown")


def stitch(parts: list[tuple[RecordIndex, np.ndarray]], path: str) -> RecordIndex:
    """One record index over records of several captures, in the order given: ``parts`` are
    (index, rows) -- e.g. the last seconds of the previous rotated file, a whole file, the
    first seconds of the next. The bytes the records span are copied into one buffer (the
    file itself once, the windows' few records beside it), so the engine reads the stitched
    records as one capture: a TCP stream or a fragment set cut by a file boundary is whole
    again. Interfaces keep their link types (the parts' lists, in order)."""
    bufs: list[np.ndarray] = []
    offsets, caplens, origlens, times, ifaces = [], [], [], [], []
    interfaces: list[Interface] = []
    base = 0
    damage = []
    for index, rows in parts:
        rows = np.asarray(rows, dtype=np.int64)
        if index.damage:
            damage.append(f"{index.path}: {index.damage}")
        if not len(rows):
            interfaces.extend(index.interfaces)
            continue
        off = index.offset[rows]
        cap = index.caplen[rows]
        lo, hi = int(off.min()), int((off + cap).max())
        bufs.append(np.asarray(index.buf[lo:hi]))
        offsets.append(off - lo + base)
        caplens.append(cap)
        origlens.append(index.origlen[rows])
        times.append(index.time[rows])
        ifaces.append(index.iface[rows] + len(interfaces))
        interfaces.extend(index.interfaces)
        base += hi - lo

    def cat(arrays: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)

    return RecordIndex(path, "stitched", cat(bufs, np.uint8), cat(offsets, np.int64),
                       cat(caplens, np.int64), cat(origlens, np.int64), cat(times, np.float64),
                       cat(ifaces, np.int32).astype(np.int32), interfaces,
                       damage="; ".join(damage) or None)


def _grow(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    return tuple(np.concatenate(col) for col in zip(*parts, strict=True))


def _blocks(max_n: int) -> tuple[np.ndarray, ...]:
    return (np.empty(max_n, np.int64), np.empty(max_n, np.int64), np.empty(max_n, np.int64),
            np.empty(max_n, np.float64), np.empty(max_n, np.int32))


def _index_pcap(p: Path, buf: Any, jit: bool, block: int, drop: list[Any]) -> RecordIndex:
    if len(buf) < 24:
        raise CaptureError(f"{p}: pcap file header cut short ({len(buf)} bytes)", subject=str(p))
    e, scale = PCAP_MAGICS[bytes(buf[:4])]
    snaplen, link = struct.unpack_from(e + "II", buf, 16)
    iface = Interface(link & 0xFFFF, snaplen, scale, big=e == ">")
    walk = kernel(walk_pcap, jit)
    data = buf if jit else memoryview(buf)
    parts: list[tuple[np.ndarray, ...]] = []
    pos, status = 24, 0
    while status == 0:
        off, cap, orig, ts, ifc = _blocks(block)
        was = pos
        n, pos, status = walk(data, pos, len(buf), e == ">", scale, block, off, cap, orig, ts)
        _drop(drop, was, pos)
        ifc[:n] = 0
        parts.append((off[:n], cap[:n], orig[:n], ts[:n], ifc[:n]))
    off, cap, orig, ts, ifc = _grow(parts)
    damage = None if status == 1 else (
        f"{_DAMAGE[status]} at byte {pos} (after frame {len(off)}): kept the frames before it")
    return RecordIndex(str(p), "pcap", buf, off, cap, orig, ts, ifc, [iface], damage=damage,
                       intact=None if status == 1 else pos)


class _Growing:
    """A float64 array appended to one value at a time, its capacity doubled when full (the
    interfaces' time scales and offsets: 100,000 IDBs are not 100,000 array copies)."""

    def __init__(self) -> None:
        self.data = np.zeros(8, dtype=np.float64)
        self.n = 0

    def append(self, value: float) -> None:
        if self.n == len(self.data):
            self.data = np.concatenate([self.data, np.zeros(len(self.data))])
        self.data[self.n] = value
        self.n += 1

    def view(self, default: float) -> np.ndarray:
        return self.data[:self.n] if self.n else np.array([default])


def _index_pcapng(p: Path, buf: Any, jit: bool, block: int, drop: list[Any]) -> RecordIndex:
    """Blocks Python reads (SHB, IDB, the rare others) one by one; each run of packet blocks
    in one kernel call into one reused scratch of ``block`` records (never a new scratch per
    IDB: a file of 100,000 IDBs is one pass)."""
    walk = kernel(walk_pcapng, jit)
    data = buf if jit else memoryview(buf)
    interfaces: list[Interface] = []
    scales, offsets = _Growing(), _Growing()
    notes: list[str] = []
    parts: list[tuple[np.ndarray, ...]] = []
    pos, end, e, base = 0, len(buf), "<", 0
    damage = None
    scratch: tuple[np.ndarray, ...] | None = None
    while True:
        if pos + 12 > end:
            if pos != end:
                damage = f"{_DAMAGE[2]} at byte {pos}"
            break
        if bytes(buf[pos:pos + 4]) == PCAPNG_MAGIC:
            bom = bytes(buf[pos + 8:pos + 12])
            if bom not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                damage = f"a Section Header Block with a bad byte-order magic at byte {pos}"
                break
            e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            base = len(interfaces)
            btype, (blen,) = 0x0A0D0D0A, struct.unpack_from(e + "I", buf, pos + 4)
        else:
            btype, blen = struct.unpack_from(e + "II", buf, pos)
        if blen < 12 or blen % 4 or blen > MAX_RECORD or pos + blen > end:
            damage = f"{_DAMAGE[2 if pos + blen > end else 3]} at byte {pos}"
            break
        (trail,) = struct.unpack_from(e + "I", buf, pos + blen - 4)
        if trail != blen:
            damage = f"{_DAMAGE[6]} ({trail} vs {blen}) at byte {pos}"
            break
        if btype == 1 and blen >= 20:
            iface = _idb(buf, pos, blen, e, notes, len(interfaces) - base)
            interfaces.append(iface)
            scales.append(iface.ts_scale)
            offsets.append(iface.ts_offset)
        pos += blen
        if pos + 8 <= end and (bytes(buf[pos:pos + 4]) == PCAPNG_MAGIC
                               or struct.unpack_from(e + "I", buf, pos)[0] == 1):
            continue  # the next block is Python's too: no kernel call for no packets
        status = 0
        while status == 0:
            if scratch is None:
                scratch = _blocks(block)
            off, cap, orig, ts, ifc = scratch
            was = pos
            n, pos, status = walk(data, pos, end, e == ">", base, len(interfaces) - base,
                                  scales.view(1e-6), offsets.view(0.0), block, off, cap, orig,
                                  ts, ifc)
            _drop(drop, was, pos)
            if n == block:  # a full scratch is kept as it is; the next call gets a new one
                parts.append(scratch)
                scratch = None
            elif n:
                parts.append(tuple(a[:n].copy() for a in scratch))
        if status == 1:
            break
        if status == 6:
            (head,) = struct.unpack_from(e + "I", buf, pos + 4)
            (trail,) = struct.unpack_from(e + "I", buf, pos + head - 4)
            damage = f"{_DAMAGE[6]} ({trail} vs {head}) at byte {pos}"
            break
        if status in (2, 3, 5):
            damage = f"{_DAMAGE[status]} at byte {pos}"
            break
    if not parts and not interfaces and damage:
        raise CaptureError(f"{p}: pcapng damaged before its first packet ({damage})",
                           subject=str(p))
    off, cap, orig, ts, ifc = _grow(parts) if parts else _blocks(0)
    if damage:
        damage += f" (after frame {len(off)}): kept the frames before it"
    index = RecordIndex(str(p), "pcapng", buf, off, cap, orig, ts, ifc, interfaces,
                        damage=damage, intact=pos if damage else None)
    index.notes = notes
    return index


_PCAP_BYTE_ORDER = {magic: order for magic, (order, _scale) in PCAP_MAGICS.items()}


def count_frames(path: str | Path, *, within: int | None = None) -> int | None:
    """How many frames the file holds, read from its record headers (not from the rows a
    display filter kept): pcap record headers, or pcapng Enhanced / Simple / obsolete Packet
    Blocks (types 6, 3, 2) across every section. Reads headers only, seeking over packet data
    (a gzip file is streamed); a record cut by
    the end of the file is not counted. None when the format is not pcap or pcapng.
    ``within``: count only the records that start in the first ``within`` bytes (a sample)."""

    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as f:
            size = None if gzipped else os.fstat(f.fileno()).st_size

            def skip(n: int) -> bool:
                """Step over ``n`` bytes of packet data (seek, not read, when not gzipped);
                False when the file ends first."""
                if size is None:
                    return len(f.read(n)) == n
                f.seek(n, 1)
                return bool(f.tell() <= size)

            magic = f.read(4)
            if magic in _PCAP_BYTE_ORDER:
                endian = _PCAP_BYTE_ORDER[magic]
                if len(f.read(20)) < 20:
                    return 0
                count = 0
                while (within is None or f.tell() < within) and len(head := f.read(16)) == 16:
                    (caplen,) = struct.unpack(endian + "I", head[8:12])
                    if caplen > MAX_RECORD or not skip(caplen):
                        break
                    count += 1
                return count
            if magic != b"\x0a\x0d\x0d\x0a":
                return None
            f.seek(0)
            count, endian = 0, "<"
            while (within is None or f.tell() < within) and len(head := f.read(8)) == 8:
                if head[:4] == b"\x0a\x0d\x0d\x0a":  # a Section Header Block: byte order
                    bom = f.read(4)
                    if len(bom) < 4:
                        break
                    endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
                    (blen,) = struct.unpack(endian + "I", head[4:8])
                    body, packet = blen - 12, False
                else:
                    kind, blen = struct.unpack(endian + "II", head)
                    body, packet = blen - 8, kind in (2, 3, 6)
                if blen < 12 or blen % 4 or blen > MAX_RECORD or not skip(body):
                    break  # damaged or cut: count only whole blocks
                count += packet
            return count
    except (OSError, EOFError, struct.error, gzip.BadGzipFile):
        return None


def read_capture_filter(path: str | Path) -> str | None:
    """The capture filter recorded in a pcapng Interface Description Block (option if_filter),
    or None (classic pcap has no such field)."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)  # the IDB follows the SHB: never the whole capture
    except OSError:
        return None
    if data[:4] != b"\x0a\x0d\x0d\x0a" or len(data) < 12:
        return None
    endian = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    pos = 0
    while pos + 12 <= len(data):
        btype, blen = struct.unpack_from(endian + "II", data, pos)
        if blen < 12 or pos + blen > len(data):
            return None
        if btype == 1:  # Interface Description Block
            opt = pos + 16
            end = pos + blen - 4
            while opt + 4 <= end:
                code, olen = struct.unpack_from(endian + "HH", data, opt)
                if code == 0:
                    break
                if code == 11 and olen > 1:  # if_filter: one type byte, then the filter
                    return data[opt + 5: opt + 4 + olen].decode(errors="replace").strip("\x00")
                opt += 4 + ((olen + 3) & ~3)
        pos += blen
    return None
