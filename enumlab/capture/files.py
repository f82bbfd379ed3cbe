"""Capture file formats: pcap and pcapng (optionally gzip-compressed) -> a record index.

Two ways in, one record walk. :class:`RecordStream` -- what the native engine and ``--pieces``
use -- reads the capture front to back into bounded buffers (a plain file by ``read``, a
``.gz`` inflated as a stream, never written anywhere; a gzip bomb is refused) and gives the
records a buffer at a time; a file cut short while it is read is an error naming it, never
SIGBUS. :func:`open_capture` -- capture sets, and callers wanting every record's bytes at once
-- maps a plain file, or inflates a ``.gz`` into memory. The record walk -- the one inherently
sequential step -- is a kernel (:mod:`.jit`) that fills, for a block of records at a time, the
offset of each packet's bytes, its captured and original length, its timestamp and its
interface, so the layers above work on whole arrays; it resumes where a buffer ended.

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
import os
import re
import struct
import weakref
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InputError, NothingUsableError
from .jit import kernel

MAX_RECORD = 256 << 20  # no real packet is longer; a larger length is damage
BLOCK_RECORDS = 1 << 20  # records indexed per kernel call

PCAP_MAGICS = {b"\xa1\xb2\xc3\xd4": (">", 1e-6), b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
               b"\xa1\xb2\x3c\x4d": (">", 1e-9), b"\x4d\x3c\xb2\xa1": ("<", 1e-9)}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


class CaptureError(InputError):
    """A capture file that is missing, unreadable, not a capture, damaged, or holds no DNS."""


class NoDnsMessagesError(CaptureError, NothingUsableError):
    """A capture read whole that holds no DNS message (and no fragment of one): nothing to
    analyse -- `enumlab pcap` exits 1, not 2. The message says why where it is known (a link
    type or a tunnel not decoded, damage), else points at ``--port``; ``tables`` keeps what
    was read (its frame counts, ICMP errors, warnings), None where the read kept no tables."""

    def __init__(self, message: str, *, subject: Any = None, tables: Any = None) -> None:
        super().__init__(message, subject=subject)
        self.tables = tables


def no_dns_messages(path: Path, ports: tuple[int, ...], why: list[str],
                    tables: Any = None, frames: int | None = None) -> NoDnsMessagesError:
    """The error of a capture with no DNS message: its reasons ``why`` (the warnings of the
    read), else the ports looked at and the hint to name another."""
    if why:
        return NoDnsMessagesError(f"{path}: no DNS messages in this capture ({'; '.join(why)})",
                                  subject=str(path), tables=tables)
    if frames == 0 or (tables is not None and getattr(tables, "total_frames", None) == 0):
        return NoDnsMessagesError(f"{path}: no DNS messages in this capture: it holds no "
                                  "packets (a header only)",
                                  subject=str(path), tables=tables)
    return NoDnsMessagesError(
        f"{path}: no DNS messages in this capture (ports 53, 5353, 5355"
        + "".join(f", {x}" for x in ports) + "); DNS on another port? name it with --port N",
        subject=str(path), tables=tables)


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
    buf: np.ndarray  # uint8: the whole file (mapped), or a RecordStream chunk's buffer
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
    first: int = 0  # the capture's row of the first record here (a RecordStream's chunk)
    at: int = 0  # where buf[0] sits in the capture (a RecordStream's chunk)
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

    def bytes_between(self, start: int, stop: int) -> np.ndarray:
        """The capture's bytes ``start..stop`` (offsets of :attr:`offset`): from :attr:`buf`
        when it holds them, else read from the file (``os.pread`` on the descriptor kept
        open: a file rotated away meanwhile is still this one); a file cut short is a
        :class:`CaptureError` naming it -- never SIGBUS, nothing is mapped."""
        if stop <= len(self.buf):
            return np.asarray(self.buf[start:stop])
        fd = next(f.fileno() for f in self._keep if hasattr(f, "fileno"))
        out = np.empty(stop - start, dtype=np.uint8)
        done = 0
        while done < len(out):
            got = os.preadv(fd, [out.data[done:]], start + done)
            if got <= 0:
                now = os.fstat(fd).st_size
                raise CaptureError(f"{self.path}: the file shrank to {now:,} bytes while being "
                                   f"read (bytes {start:,}-{stop:,} needed): was it rotated or "
                                   "truncated? analyse a copy", subject=self.path)
            done += got
        return out

    def close(self) -> None:
        """Let the bytes go and close the file."""
        self.buf = np.zeros(0, dtype=np.uint8)
        _close_all(self._keep)


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


# A gzip capture is inflated as a stream, never written anywhere: the work it can cause is
# bounded per compressed byte. Packet captures compress 3-20x; past GZIP_FLOOR bytes, a stream
# that has inflated more than GZIP_MAX_RATIO times the compressed bytes read so far is a bomb
# and is refused: at most GZIP_FLOOR + GZIP_MAX_RATIO x the file's size is ever inflated, and a
# stream of ratio R > GZIP_MAX_RATIO is refused after GZIP_FLOOR x R / (R - GZIP_MAX_RATIO)
# bytes (3 MB inflating to 3 GB, R ~ 1,000: ~71 MB; one DNS exchange repeated, R ~ 256: ~105 MB).
GZIP_MAX_RATIO = 100
GZIP_FLOOR = 64 << 20
READ_BYTES = 32 << 20  # bytes read (or inflated) into one buffer of records at a time


class _Source:
    """A capture's bytes in order, read into buffers the caller gives: a plain file by
    ``readinto`` (never mapped: a file cut short while it is read is a :class:`CaptureError`
    naming it, not SIGBUS), a gzip file inflated as a stream (RFC 1952; members one after
    another, as gzip reads them). A damaged or cut gzip stream ends the bytes where the damage
    is (``damage`` says why); a bomb is refused (see :data:`GZIP_MAX_RATIO`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.raw = open(path, "rb")  # noqa: SIM115 (closed by close())
        try:
            self.size = os.fstat(self.raw.fileno()).st_size
            self.gzipped = self.raw.read(2) == b"\x1f\x8b"
            self.raw.seek(0)
            self.gz = gzip.GzipFile(fileobj=self.raw, mode="rb") if self.gzipped else None
        except BaseException:
            self.raw.close()
            raise
        self.done = 0  # bytes given so far (of the file, or inflated)
        self.damage: str | None = None
        self.ended = False
        self.pending = b""  # inflated but not yet given (a gzip read gives what it has)

    def read_into(self, out: memoryview) -> int:
        """Fill ``out`` as far as the capture goes; the number of bytes (0: the end)."""
        if self.ended or not len(out):
            return 0
        n = self._gz_into(out) if self.gz is not None else self._plain_into(out)
        self.done += n
        if n < len(out):
            self.ended = True
        return n

    def _plain_into(self, out: memoryview) -> int:
        want = min(len(out), self.size - self.done)
        n = 0
        while n < want:
            try:
                got = self.raw.readinto(out[n:want])
            except OSError as exc:
                raise CaptureError(f"{self.path}: cannot be read any more ({exc.strerror})",
                                   subject=str(self.path)) from exc
            if not got:
                now = os.fstat(self.raw.fileno()).st_size
                raise CaptureError(
                    f"{self.path}: the file shrank from {self.size:,} to {now:,} bytes while "
                    "being read: was it rotated or truncated? analyse a copy",
                    subject=str(self.path))
            n += got
        return n

    def _gz_into(self, out: memoryview) -> int:
        assert self.gz is not None
        n = 0
        while n < len(out):
            if not self.pending:
                try:
                    self.pending = self.gz.read1(min(1 << 20, len(out) - n)) if not \
                        self.damage else b""
                except (OSError, EOFError, zlib.error) as exc:
                    self.damage = str(exc) or type(exc).__name__
                    self.pending = b""
                if not self.pending:
                    break
                inflated = self.done + n + len(self.pending)
                if inflated > GZIP_FLOOR + GZIP_MAX_RATIO * self.raw.tell():
                    raise CaptureError(
                        f"{self.path}: inflates to more than {GZIP_MAX_RATIO}x the compressed "
                        f"bytes read (past {GZIP_FLOOR >> 20} MB: {inflated:,} bytes from "
                        f"{self.raw.tell():,}): refused as a gzip bomb (gunzip it first if it "
                        "is a real capture)", subject=str(self.path))
            k = min(len(self.pending), len(out) - n)
            out[n:n + k] = self.pending[:k]
            self.pending = self.pending[k:]
            n += k
        return n

    def read_all(self) -> np.ndarray:
        """Every byte from here to the end, in one buffer (grown as a gzip stream inflates)."""
        if self.gz is None:
            buf = np.empty(self.size - self.done, dtype=np.uint8)
            self.read_into(buf.data)
            return buf
        buf = np.empty(max(self.size * 4, 1 << 16), dtype=np.uint8)
        have = 0
        while True:
            have += self.read_into(buf.data[have:])
            if self.ended:
                return buf[:have]
            grown = np.empty(2 * len(buf), dtype=np.uint8)
            grown[:have] = buf[:have]
            buf = grown

    def close(self) -> None:
        if self.gz is not None:
            self.gz.close()
        self.raw.close()


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


class RecordStream:
    """A capture read front to back in buffers of about :data:`READ_BYTES` (a plain file by
    ``read``, a ``.gz`` inflated as a stream: never mapped, never written anywhere), given as
    one :class:`RecordIndex` per buffer (:meth:`chunks`): its ``buf`` holds whole records, its
    ``first`` is the row of its first record in the capture. A record cut by a buffer's end is
    carried to the next buffer; memory holds a buffer (and one record past it at most), not
    the capture. Per record, only the light columns the tables need later -- time, lengths,
    interface, 28 bytes -- are kept for the whole capture (:meth:`index`)."""

    def __init__(self, path: str | Path, *, jit: bool = False,
                 read_bytes: int | None = None, block_records: int = BLOCK_RECORDS) -> None:
        p = _checked(path)
        self.path = p
        self.read_bytes = read_bytes or READ_BYTES
        self.source = _Source(p)
        try:
            head = np.empty(24, dtype=np.uint8)
            got = self.source.read_into(head.data)
            if not got:
                why = self.source.damage or "empty"
                raise CaptureError(f"{p}: the gzip stream holds no capture bytes ({why})",
                                   subject=str(p))
            self.walk = _walker(p, bytes(head[:got]), jit, block_records)
        except BaseException:
            self.source.close()
            raise
        self.head = head[:got]
        self.format = "pcap" if isinstance(self.walk, _PcapWalk) else "pcapng"
        self.gzipped = self.source.gzipped
        self.frames = 0
        # caplen, origlen, time, interface of every record read: capacity doubled when full
        self._cols = [np.empty(1 << 12, d) for d in (np.int64, np.int64, np.float64, np.int32)]
        self._far = 0  # timestamps beyond what a table shows
        self._first_far = 0
        self._size = nominal_size(p)  # (a plain file's: what the columns are sized by)

    def chunks(self, max_records: int | None = None) -> Iterator[RecordIndex]:
        """The capture's records, a buffer's (at most ``max_records``) at a time; to be
        iterated once. A user lets each chunk go before taking the next, so that only one
        buffer is alive."""
        limit = max_records or (1 << 62)
        walk = self.walk
        buf = np.empty(max(self.read_bytes, len(self.head)), dtype=np.uint8)
        buf[:len(self.head)] = self.head
        end = len(self.head) + self.source.read_into(buf.data[len(self.head):])
        at, pos = 0, walk.start  # at: where buf[0] sits in the capture
        while True:
            parts, after, how = walk.step(buf, pos, end, at, self.source.ended, limit)
            if parts:
                yield self._chunk(buf, parts, at)
            pos = after
            if how == END:
                break
            if how == MORE:  # the rest (part of a record) begins the next buffer
                tail = end - pos
                rest = buf[pos:end].copy()
                del buf  # one buffer at a time (the chunks given are let go by their users)
                buf = np.empty(max(self.read_bytes, 2 * tail), dtype=np.uint8)
                buf[:tail] = rest
                del rest
                at += pos
                pos = 0
                end = tail + self.source.read_into(buf.data[tail:])
        if self.source.damage:
            note = (f"{self.path}: the gzip stream is damaged ({self.source.damage}); kept "
                    "what inflated before it")
            walk.damage = f"{walk.damage}; {note}" if walk.damage else note
        if walk.damage and not self.frames and not walk.interfaces:
            raise CaptureError(f"{self.path}: {self.format} damaged before its first packet "
                               f"({walk.damage})", subject=str(self.path))

    def _chunk(self, buf: np.ndarray, parts: list[tuple[np.ndarray, ...]], at: int
               ) -> RecordIndex:
        off, cap, orig, ts, ifc = _grow(parts)
        far = np.abs(ts) >= TIME_LIMIT  # NaN compares False: a block without time stays so
        if far.any():
            if not self._far:
                self._first_far = self.frames + int(np.argmax(far)) + 1
            self._far += int(far.sum())
            ts = np.where(far, np.nan, ts)
        n, k = self.frames, len(off)
        if n + k > len(self._cols[0]):
            self._grow_columns(n + k, at + int(off[-1] + cap[-1]) if k else at)
        for keep, col in zip(self._cols, (cap, orig, ts, ifc), strict=True):
            keep[n:n + k] = col
        chunk = RecordIndex(str(self.path), self.format, buf, off, cap, orig, ts, ifc,
                            self.walk.interfaces, gzipped=self.gzipped, first=self.frames,
                            at=at)
        self.frames += len(off)
        return chunk

    def _grow_columns(self, need: int, read: int) -> None:
        """Room for ``need`` records in the per-record columns: as many as the file's size
        promises at the rate read so far (one growth for most plain captures: each growth
        is a copy and fresh pages, ~0.2 s a time at 10 M records), else twice the room."""
        have = len(self._cols[0])
        size = 2 * have
        if not self.gzipped and read > 0 and self._size > read:
            size = max(int(need * (self._size / read) * 1.02) + 4096, have + have // 4)
        size = max(need, size)
        grown = []
        for c in self._cols:
            new = np.empty(size, c.dtype)
            new[:self.frames] = c[:self.frames]
            grown.append(new)
        self._cols = grown

    def index(self) -> RecordIndex:
        """The whole capture's light record index (no bytes, no offsets): time, lengths and
        interface of every record read so far, the damage and notes."""
        cap, orig, ts, ifc = (c[:self.frames] for c in self._cols)
        index = RecordIndex(str(self.path), self.format, np.zeros(0, np.uint8),
                            np.zeros(self.frames, np.int64), cap, orig, ts, ifc,
                            self.walk.interfaces, gzipped=self.gzipped,
                            damage=self.walk.damage, intact=self.walk.intact)
        index.notes = list(self.walk.notes)
        if self._far:
            index.notes.append(f"{self._far:,} frame(s) carry a timestamp beyond 1677-2262 "
                               f"(first: frame {self._first_far}): their time is unknown")
        index.notes += backwards_note(ts) + snap_note(cap, orig)
        return index

    def forget_records(self) -> None:
        """Let go of every record's lengths, time and interface (28 bytes a record, kept for
        :meth:`index`) once no index is wanted any more: 10 M records are ~280 MB, up to
        twice that as the columns grow."""
        self._cols = [c[:0].copy() for c in self._cols]

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> RecordStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def nominal_size(path: str | Path) -> int:
    """What a capture's size is taken to be to choose a path (:func:`.jit.want_jit`, pieces):
    its size, ten times that for a ``.gz`` (packet captures compress 3-20x); 0 if unreadable."""
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
            return os.fstat(f.fileno()).st_size * (10 if gzipped else 1)
    except OSError:
        return 0


def _checked(path: str | Path) -> Path:
    """``path`` as a Path; :class:`CaptureError` naming it when it is missing, a directory,
    unreadable or empty."""
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
    if head[:2] == b"\x1f\x8b":  # a gzip stream: of no bytes, or damaged before any
        source = _Source(p)
        try:
            if not source.read_into(memoryview(bytearray(4))):
                why = source.damage or "empty"
                raise CaptureError(f"{p}: the gzip stream holds no capture bytes ({why})",
                                   subject=str(p))
        finally:
            source.close()
    return p


class _Descriptor:
    """A file kept open for ``pread``, closed by :meth:`close` or when it is dropped (an index
    nobody closed leaves no descriptor behind, and no warning)."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        self._closing = weakref.finalize(self, os.close, self.fd)

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        self._closing()  # once: later calls do nothing


def open_capture(path: str | Path, *, jit: bool = False,
                 block_records: int = BLOCK_RECORDS) -> RecordIndex:
    """Index a whole capture (see module docs): every record's offset, lengths, time and
    interface. A plain file is walked through :class:`RecordStream` (read, never mapped) and
    kept open: its bytes are read on demand (:meth:`RecordIndex.bytes_between`); a ``.gz`` is
    inflated as a stream into memory (bounded by the bomb guard, never a file) and its bytes
    are :attr:`RecordIndex.buf`. :class:`CaptureError` naming the file when it is missing, a
    directory, empty, or not pcap/pcapng."""
    p = _checked(path)
    with open(p, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    if not gzipped:
        offsets = []
        with RecordStream(p, jit=jit, block_records=block_records) as stream:
            for chunk in stream.chunks():
                offsets.append(chunk.offset + chunk.at)
            index = stream.index()
        index.offset = np.concatenate(offsets) if offsets else np.zeros(0, np.int64)
        index._keep = [_Descriptor(p)]
        return index
    source = _Source(p)
    try:
        buf = source.read_all()
    finally:
        source.close()
    walk = _walker(p, bytes(buf[:24]), jit, block_records)
    parts: list[tuple[np.ndarray, ...]] = []
    pos, how = walk.start, FULL
    while how == FULL:
        got, pos, how = walk.step(buf, pos, len(buf), 0, True, block_records)
        parts += got
    kind = "pcap" if isinstance(walk, _PcapWalk) else "pcapng"
    if walk.damage and not parts and not walk.interfaces:
        raise CaptureError(f"{p}: {kind} damaged before its first packet ({walk.damage})",
                           subject=str(p))
    off, cap, orig, ts, ifc = _grow(parts)
    index = RecordIndex(str(p), kind, buf, off, cap, orig, ts, ifc, walk.interfaces,
                        damage=walk.damage, intact=walk.intact, gzipped=True)
    index.notes = list(walk.notes)
    _no_impossible_times(index)
    index.notes += backwards_note(index.time) + snap_note(index.caplen, index.origlen)
    if source.damage:
        note = f"{p}: the gzip stream is damaged ({source.damage}); kept what inflated before it"
        index.damage = f"{index.damage}; {note}" if index.damage else note
    return index


def backwards_note(time: np.ndarray) -> list[str]:
    """The note of a capture whose records go back in time (a merge out of order, a clock
    stepped back while capturing): how often, where first, the largest step. One pass over
    the record times; a record without a time (NaN) is no step."""
    found = backwards_stats(time)
    return [backwards_sentence(*found)] if found is not None else []


def backwards_stats(time: np.ndarray, first_frame: int = 1,
                    before: float = float("nan")) -> tuple[int, int, float] | None:
    """(steps back, the frame of the first, the largest step in s) of records whose times are
    ``time`` (the first numbered ``first_frame``; ``before``: the time of the record before
    them, if any), or None."""
    step = np.diff(np.concatenate([[before], time]))  # step k: into record k
    back = step < 0  # (NaN compares False)
    if not back.any():
        return None
    first = int(np.argmax(back)) + first_frame
    return int(back.sum()), first, float(-step[back].min())


def backwards_sentence(count: int, first: int, largest: float) -> str:
    return (f"timestamps go back in time {count:,} time(s) (first at frame {first}; "
            f"the largest step {largest:.6g} s back): records merged out of "
            "order or a clock stepped while capturing; a time difference across such a step "
            "is not a duration (a round-trip time that would be negative is left empty)")


def snap_note(caplen: np.ndarray, origlen: np.ndarray) -> list[str]:
    """The note of a capture whose records were cut (captured length below the original: a
    snap length, e.g. ``tcpdump -s 96``): how many, and the first. What they held past the
    cut is not in the file -- a message there is incomplete, a fragment set cannot be
    reassembled -- which is the capture's doing, not the network's."""
    found = snap_stats(caplen, origlen)
    return [snap_sentence(*found)] if found is not None else []


def snap_stats(caplen: np.ndarray, origlen: np.ndarray, first_frame: int = 1
               ) -> tuple[int, int, int] | None:
    """(frames cut, the first, the most kept of one) of records numbered from
    ``first_frame``, or None."""
    cut = caplen < origlen
    if not len(cut) or not cut.any():
        return None
    return int(cut.sum()), int(np.argmax(cut)) + first_frame, int(caplen[cut].max())


def snap_sentence(count: int, first: int, kept: int) -> str:
    return (f"{count:,} frame(s) cut by the capture's snap length (first: frame "
            f"{first}; the most kept of one {kept:,} "
            "bytes): what they carried past that is not in the file -- messages there are "
            "incomplete (lost to the capture, not to the network); a datagram whose "
            "fragments were cut is rebuilt up to its first cut")


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


def _in_the_set(damage: str, base: int | None) -> str:
    """A file's damage note as a set says it: "after frame N" is the file's frame; with the
    set's frames numbered across files (``base``: the set's frames before this file), the set's
    frame too."""
    if base is None or not base:
        return damage
    return re.sub(r"\(after frame (\d+)\)",
                  lambda m: f"(after frame {m.group(1)} of the file, {int(m.group(1)) + base} "
                            "of the set)", damage, count=1)


def stitch(parts: list[tuple[RecordIndex, np.ndarray]], path: str,
           bases: list[int] | None = None) -> RecordIndex:
    """One record index over records of several captures, in the order given: ``parts`` are
    (index, rows) -- e.g. the last seconds of the previous rotated file, a whole file, the
    first seconds of the next. The bytes the records span are copied into one buffer (the
    file itself once, the windows' few records beside it), so the engine reads the stitched
    records as one capture: a TCP stream or a fragment set cut by a file boundary is whole
    again. Interfaces keep their link types (the parts' lists, in order). ``bases``: for each
    part, the set's frames before its file's first (a damage note then names the set's frame
    too)."""
    bufs: list[np.ndarray] = []
    offsets, caplens, origlens, times, ifaces = [], [], [], [], []
    interfaces: list[Interface] = []
    base = 0
    damage = []
    for k, (index, rows) in enumerate(parts):
        rows = np.asarray(rows, dtype=np.int64)
        said = (f"{index.path}: "
                f"{_in_the_set(index.damage, bases[k] if bases else None)}") if index.damage \
            else ""
        if said and said not in damage:
            damage.append(said)  # (a file is often several parts)
        if not len(rows):
            interfaces.extend(index.interfaces)
            continue
        off = index.offset[rows]
        cap = index.caplen[rows]
        lo, hi = int(off.min()), int((off + cap).max())
        bufs.append(index.bytes_between(lo, hi))
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


def _blocks(max_n: int) -> tuple[np.ndarray, ...]:
    return (np.empty(max_n, np.int64), np.empty(max_n, np.int64), np.empty(max_n, np.int64),
            np.empty(max_n, np.float64), np.empty(max_n, np.int32))


def _grow(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    return tuple(np.concatenate(col) for col in zip(*parts, strict=True)) if parts else \
        _blocks(0)


# what a walk step ends with: MORE = the next record goes past the buffer (more bytes are
# needed), FULL = the records asked for are walked; END and the damage codes end the capture
MORE, FULL, END = -1, 0, 1


class _Walk:
    """The record walk of one capture, resumable: :meth:`step` walks the records that lie whole
    in ``buf[pos:end]`` (``at``: where ``buf[0]`` sits in the capture, for the byte numbers of
    damage) and says whether more bytes are needed. ``frames``: records walked so far;
    ``damage``: where and how the walk stopped early."""

    start = 0  # where the first record sits

    def __init__(self, path: Path, jit: bool, block: int) -> None:
        self.path = path
        self.jit = jit
        self.block = block
        self.interfaces: list[Interface] = []
        self.notes: list[str] = []
        self.frames = 0
        self.damage: str | None = None
        self.intact: int | None = None

    def step(self, buf: Any, pos: int, end: int, at: int, final: bool, limit: int
             ) -> tuple[list[tuple[np.ndarray, ...]], int, int]:
        raise NotImplementedError

    def _stop(self, status: int, pos: int, at: int, detail: str = "") -> None:
        self.damage = (f"{_DAMAGE[status]}{detail} at byte {at + pos} (after frame "
                       f"{self.frames}): kept the frames before it")
        self.intact = at + pos


class _PcapWalk(_Walk):
    """Classic pcap: a 24-byte file header, then 16-byte record headers (kernel
    :func:`walk_pcap`)."""

    start = 24

    def __init__(self, path: Path, head: bytes, jit: bool, block: int) -> None:
        super().__init__(path, jit, block)
        if len(head) < 24:
            raise CaptureError(f"{path}: pcap file header cut short ({len(head)} bytes)",
                               subject=str(path))
        self.e, self.scale = PCAP_MAGICS[head[:4]]
        snaplen, link = struct.unpack_from(self.e + "II", head, 16)
        self.interfaces = [Interface(link & 0xFFFF, snaplen, self.scale, big=self.e == ">")]
        self.walk = kernel(walk_pcap, jit)

    def step(self, buf: Any, pos: int, end: int, at: int, final: bool, limit: int
             ) -> tuple[list[tuple[np.ndarray, ...]], int, int]:
        data = buf if self.jit else memoryview(buf)
        parts: list[tuple[np.ndarray, ...]] = []
        while True:
            want = min(self.block, limit)
            off, cap, orig, ts, ifc = _blocks(want)
            n, pos, status = self.walk(data, pos, end, self.e == ">", self.scale, want, off,
                                       cap, orig, ts)
            ifc[:n] = 0
            if n:
                parts.append((off[:n], cap[:n], orig[:n], ts[:n], ifc[:n]))
            self.frames += n
            limit -= n
            if status in (1, 2) and not final:
                return parts, pos, MORE
            if status == 0:
                if limit == 0:
                    return parts, pos, FULL
                continue
            if status != 1:
                self._stop(status, pos, at)
            return parts, pos, END


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


class _PcapngWalk(_Walk):
    """pcapng: blocks Python reads (SHB, IDB, the rare others) one by one; each run of packet
    blocks in one kernel call (:func:`walk_pcapng`) into one reused scratch of ``block``
    records (never a new scratch per IDB: a file of 100,000 IDBs is one pass)."""

    def __init__(self, path: Path, jit: bool, block: int) -> None:
        super().__init__(path, jit, block)
        self.walk = kernel(walk_pcapng, jit)
        self.scales, self.offsets = _Growing(), _Growing()
        self.e, self.base = "<", 0
        self.scratch: tuple[np.ndarray, ...] | None = None

    def step(self, buf: Any, pos: int, end: int, at: int, final: bool, limit: int
             ) -> tuple[list[tuple[np.ndarray, ...]], int, int]:
        data = buf if self.jit else memoryview(buf)
        parts: list[tuple[np.ndarray, ...]] = []
        interfaces = self.interfaces
        while True:
            if pos + 12 > end:
                if not final:
                    return parts, pos, MORE
                if pos != end:
                    self._stop(2, pos, at)
                return parts, pos, END
            e = self.e
            if bytes(buf[pos:pos + 4]) == PCAPNG_MAGIC:
                bom = bytes(buf[pos + 8:pos + 12])
                if bom not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                    self.damage = (f"a Section Header Block with a bad byte-order magic at "
                                   f"byte {at + pos} (after frame {self.frames}): kept the "
                                   "frames before it")
                    self.intact = at + pos
                    return parts, pos, END
                e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
                btype, (blen,) = 0x0A0D0D0A, struct.unpack_from(e + "I", buf, pos + 4)
            else:
                btype, blen = struct.unpack_from(e + "II", buf, pos)
            if blen < 12 or blen % 4 or blen > MAX_RECORD:
                self._stop(3, pos, at)
                return parts, pos, END
            if pos + blen > end:
                if not final:
                    return parts, pos, MORE
                self._stop(2, pos, at)
                return parts, pos, END
            (trail,) = struct.unpack_from(e + "I", buf, pos + blen - 4)
            if trail != blen:
                self._stop(6, pos, at, f" ({trail} vs {blen})")
                return parts, pos, END
            if btype in (0x0A0D0D0A, 1):  # else a packet block, where a walk resumes
                if btype == 0x0A0D0D0A:
                    self.e, self.base = e, len(interfaces)
                if btype == 1 and blen >= 20:
                    iface = _idb(buf, pos, blen, e, self.notes, len(interfaces) - self.base)
                    interfaces.append(iface)
                    self.scales.append(iface.ts_scale)
                    self.offsets.append(iface.ts_offset)
                pos += blen
                if pos + 8 <= end and (bytes(buf[pos:pos + 4]) == PCAPNG_MAGIC
                                       or struct.unpack_from(e + "I", buf, pos)[0] == 1):
                    continue  # the next block is Python's too: no kernel call for no packets
            status = 0
            while status == 0:
                if limit == 0:
                    return parts, pos, FULL
                if self.scratch is None:
                    self.scratch = _blocks(self.block)
                off, cap, orig, ts, ifc = self.scratch
                want = min(self.block, limit)
                n, pos, status = self.walk(
                    data, pos, end, e == ">", self.base, len(interfaces) - self.base,
                    self.scales.view(1e-6), self.offsets.view(0.0), want, off, cap, orig, ts,
                    ifc)
                if n == self.block:  # a full scratch is kept as it is; the next gets a new one
                    parts.append(self.scratch)
                    self.scratch = None
                elif n:
                    parts.append(tuple(a[:n].copy() for a in self.scratch))
                self.frames += n
                limit -= n
            if status in (1, 2) and not final:
                return parts, pos, MORE
            if status == 1:
                return parts, pos, END
            if status == 6:
                (head,) = struct.unpack_from(e + "I", buf, pos + 4)
                (trail,) = struct.unpack_from(e + "I", buf, pos + head - 4)
                self._stop(6, pos, at, f" ({trail} vs {head})")
                return parts, pos, END
            if status in (2, 3, 5):
                self._stop(status, pos, at)
                return parts, pos, END
            # status 4: an SHB or IDB next -- Python's


def _walker(path: Path, head: bytes, jit: bool, block: int) -> _Walk:
    """The walk for a capture whose first bytes are ``head``; :class:`CaptureError` naming
    the file when they are not pcap or pcapng."""
    magic = head[:4]
    if magic in PCAP_MAGICS:
        return _PcapWalk(path, head, jit, block)
    if magic == PCAPNG_MAGIC:
        return _PcapngWalk(path, jit, block)
    what = "a zeroed header" if not any(head[:24]) else f"magic {magic.hex()}"
    raise CaptureError(f"{path}: not a pcap or pcapng capture ({what})", subject=str(path))


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
    except (OSError, EOFError, struct.error, zlib.error):
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
