"""DNS over TCP: stream reassembly (RFC 9293) and RFC 7766 s8 framing (a two-byte length before
each message), compiled.

One kernel call (:func:`reassemble_streams`) takes a batch of segments -- the TCP segments of
DNS connections that carry bytes or open a stream, sorted by stream and capture order, their
payloads gathered into one buffer -- and writes every message they complete as (offset,
length) into an assembled buffer, beside the frame that began it and the frame whose arrival
completed it. Nothing per segment or per message is a Python object; the work is linear in
segments (out-of-order segments wait in a binary heap keyed by stream offset, never a
rescanned list) and in bytes.

Each direction of a connection is reassembled by sequence number: a retransmitted segment is
counted once (its frame listed), an out-of-order segment waits for the gap before it to fill,
and each message is emitted in the frame whose arrival completed it -- several messages in one
segment, one message across several. What the capture cannot show is said, never invented:

* a stream that starts without its SYN is framed from the first plausible message boundary
  (:func:`plausible`; its first segment may begin inside a message), and says so;
* a gap that never fills -- the stream ends, a new SYN reopens it, or more than
  :data:`MAX_PENDING` bytes wait behind it -- is skipped: counted with its size, and framing
  resumes at the next plausible message boundary (RFC 7766 s8 gives no marker, so a boundary
  is a length prefix followed by a header and a question that parse, :func:`plausible`, whose
  length lands on the end of the bytes or on another such message, :func:`boundary`), the
  bytes skipped counted too;
* a message the capture ends inside is reported with how much of it was seen;
* zero-length messages (a prefix of 0: nothing a DNS server sends) are counted, not listed.

A capture read in pieces keeps only its open streams' state between batches
(:class:`Reassembler`): the unframed bytes of each stream and the segments still waiting for a
gap, carried as segments into the next batch.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from .columns import KeyIds
from .jit import helper, kernel, numba_available

SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10
CARRIED = 0x10000  # a segment carried over from the previous batch (not a new arrival)
MAX_PENDING = 1 << 20  # bytes waiting behind a gap, per stream, before the gap is skipped
COMPILE_BYTES = 1 << 18  # a batch's TCP payload bytes from which its streams are compiled

# per-stream state (columns of Reassembler.state)
(S_SEEN, S_BASE, S_NEXT, S_MID, S_DUP, S_LAST, S_HUNT, S_GAPS, S_GAP_AT, S_GAP_SIZE,
 S_SKIPPED, S_ZERO, S_OPENED) = range(13)
NSTATE = 13
# what the kernel reports when a direction ends (reopened by a SYN, or the capture's end)
(E_STREAM, E_ROW, E_GAPS, E_GAP_AT, E_GAP_SIZE, E_SKIPPED, E_ZERO, E_TAIL, E_PREFIX,
 E_REOPENED) = range(10)
NEVENT = 10


@helper
def plausible(buf: Any, f: int, w: int) -> int:
    """Whether a DNS message over TCP plausibly starts at ``f`` (bytes up to ``w`` known): a
    length prefix of a whole header, then a header whose counts fit that length, and a first
    question that parses (labels under 64 bytes, no pointer -- there is no name before it to
    point at -- at most 255 bytes, a known class). A response with no question but records
    (a zone transfer's later messages, RFC 5936 s2.2) is held to its first record instead:
    its owner name, a known class, its RDATA within the message. 1 yes, 0 no, -1 not enough
    bytes yet."""
    if w - f < 14:
        return -1
    size = (buf[f] << 8) | buf[f + 1]
    m = f + 2
    if size < 17:  # a header and the shortest question (the root)
        return 0
    opcode = (buf[m + 2] >> 3) & 0x0F
    if opcode == 3 or opcode > 6 or (buf[m + 3] & 0x40) != 0:  # unassigned opcode, Z bit
        return 0
    qd = (buf[m + 4] << 8) | buf[m + 5]
    records = ((buf[m + 6] << 8) | buf[m + 7]) + ((buf[m + 8] << 8) | buf[m + 9]) + (
        (buf[m + 10] << 8) | buf[m + 11])
    answer = (buf[m + 2] & 0x80) != 0
    if qd > 4 or 12 + qd * 5 + records * 11 > size:
        return 0
    if qd < 1 and (not answer or records < 1):
        return 0
    q = m + 12
    stop = m + size
    wire = 0
    while True:
        if q >= w:
            return -1
        if q >= stop:
            return 0
        ln = buf[q]
        if ln == 0:
            q += 1
            break
        if ln > 63:
            return 0
        wire += 1 + ln
        if wire > 255:
            return 0
        q += 1 + ln
    fixed = 4 if qd >= 1 else 10  # a question's type and class; a record's, with TTL, RDLENGTH
    if q + fixed > stop:
        return 0
    if q + fixed > w:
        return -1
    qclass = ((buf[q + 2] << 8) | buf[q + 3]) & 0x7FFF  # mDNS: the top bit asks unicast
    if qclass != 1 and qclass != 3 and qclass != 4 and qclass != 254 and qclass != 255:
        return 0
    if qd < 1 and q + 10 + ((buf[q + 8] << 8) | buf[q + 9]) > stop:
        return 0
    return 1


@helper
def boundary(buf: Any, f: int, w: int) -> int:
    """Whether framing may resume at ``f``: a plausible message (:func:`plausible`) whose
    length lands where the bytes end or on another plausible message -- bytes inside a long
    answer can look like one message, rarely like two in a row. 1 yes, 0 no, -1 not enough
    bytes yet, 2 plausible but running past the bytes known (nothing to check it against)."""
    ok: int = plausible(buf, f, w)
    if ok != 1:
        return ok
    after = f + 2 + ((buf[f] << 8) | buf[f + 1])
    if after == w:
        return 1
    if after > w:
        return 2
    nxt: int = plausible(buf, after, w)
    return 2 if nxt < 0 else nxt  # (too few bytes after it to tell: as if past them)


@helper
def _push(heap_rel: Any, heap_idx: Any, n: int, rel: int, idx: int) -> int:
    """Push (rel, idx) on the binary min-heap of ``n`` items; returns the new size."""
    k = n
    heap_rel[k] = rel
    heap_idx[k] = idx
    while k > 0:
        parent = (k - 1) >> 1
        if heap_rel[parent] < heap_rel[k] or (heap_rel[parent] == heap_rel[k]
                                              and heap_idx[parent] <= heap_idx[k]):
            break
        heap_rel[parent], heap_rel[k] = heap_rel[k], heap_rel[parent]
        heap_idx[parent], heap_idx[k] = heap_idx[k], heap_idx[parent]
        k = parent
    return n + 1


@helper
def _pop(heap_rel: Any, heap_idx: Any, n: int) -> int:
    """Remove the heap's smallest item (read it at index 0 first); returns the new size."""
    n -= 1
    heap_rel[0] = heap_rel[n]
    heap_idx[0] = heap_idx[n]
    k = 0
    while True:
        a = 2 * k + 1
        if a >= n:
            break
        b = a + 1
        c = a
        if b < n and (heap_rel[b] < heap_rel[a] or (heap_rel[b] == heap_rel[a]
                                                    and heap_idx[b] < heap_idx[a])):
            c = b
        if heap_rel[k] < heap_rel[c] or (heap_rel[k] == heap_rel[c]
                                         and heap_idx[k] <= heap_idx[c]):
            break
        heap_rel[c], heap_rel[k] = heap_rel[k], heap_rel[c]
        heap_idx[c], heap_idx[k] = heap_idx[k], heap_idx[c]
        k = c
    return n


@helper
def _frame(asm: Any, f: int, w: int, st: Any, s: int, first: int, from_row: int, now_row: int,
           msg: Any, m: int) -> Any:
    """Frame the assembled bytes ``f..w`` of stream ``s``: complete messages into ``msg``
    (rows: offset, length, first row, last row, stream, the row that opened the stream) from
    row ``m``. Returns (f, m, first):
    where framing stopped, messages written, the first row of the partial message."""
    while True:
        if st[s, S_HUNT] == 1:
            ok = boundary(asm, f, w)
            if ok < 0:
                break
            if ok == 0:
                f += 1
                st[s, S_SKIPPED] += 1
                continue
            if ok == 2:  # a claim past the bytes known: a checked boundary further on
                g = f + 1  # wins; else wait for the bytes that check it
                while g + 14 <= w and boundary(asm, g, w) != 1:
                    g += 1
                if g + 14 > w:
                    break
                st[s, S_SKIPPED] += g - f
                f = g
            st[s, S_HUNT] = 0
        if w - f < 2:
            break
        size = (asm[f] << 8) | asm[f + 1]
        if w - f < 2 + size:
            break
        if size == 0:
            st[s, S_ZERO] += 1
        else:
            msg[m, 0] = f + 2
            msg[m, 1] = size
            msg[m, 2] = first
            msg[m, 3] = now_row
            msg[m, 4] = s
            msg[m, 5] = st[s, S_OPENED]
            m += 1
        f += 2 + size
        first = from_row
    return f, m, first


@helper
def _event(st: Any, s: int, f: int, w: int, asm: Any, events: Any, e: int,
           reopened: int = 0) -> int:
    """Report how direction ``s`` ends (if anything is to be said) into ``events`` row ``e``;
    its counters start again from zero (``reopened``: a new SYN ends it, not the capture).
    Returns the events written."""
    tail = w - f
    if st[s, S_GAPS] == 0 and st[s, S_ZERO] == 0 and tail == 0 and st[s, S_SKIPPED] == 0:
        return e
    events[e, E_STREAM] = s
    events[e, E_ROW] = st[s, S_LAST]
    events[e, E_GAPS] = st[s, S_GAPS]
    events[e, E_GAP_AT] = st[s, S_GAP_AT]
    events[e, E_GAP_SIZE] = st[s, S_GAP_SIZE]
    events[e, E_SKIPPED] = st[s, S_SKIPPED] + (tail if st[s, S_HUNT] == 1 else 0)
    events[e, E_ZERO] = st[s, S_ZERO]
    events[e, E_TAIL] = tail if st[s, S_HUNT] == 0 else 0
    events[e, E_PREFIX] = (asm[f] << 8) | asm[f + 1] if tail >= 2 else -1
    events[e, E_REOPENED] = reopened
    st[s, S_GAPS] = 0
    st[s, S_GAP_AT] = 0
    st[s, S_GAP_SIZE] = 0
    st[s, S_SKIPPED] = 0
    st[s, S_ZERO] = 0
    return e + 1


def reassemble_streams(data: Any, seg_stream: Any, seg_row: Any, seg_seq: Any, seg_flags: Any,
                       seg_off: Any, seg_len: Any, st: Any, close: bool, max_pending: int,
                       heap_rel: Any, heap_idx: Any, asm: Any, msg: Any, dup_rows: Any,
                       mid_rows: Any, events: Any, left: Any, tails: Any) -> Any:
    """Kernel: reassemble and frame a batch of segments (see module docs), sorted by stream
    then capture order; ``st``: every stream's state (rows of :data:`NSTATE`), updated.
    Out: messages (``msg`` rows: offset in ``asm``, length, first row, last row, stream),
    retransmitted segments' rows, rows of streams seen first without a SYN, ends of
    directions (``events``), segments still waiting behind a gap (``left``: their indices) and
    each stream's unframed bytes (``tails`` rows: stream, offset in ``asm``, length, first row,
    its stream offset). ``close``: every gap is skipped and every direction ends. Returns the
    counts (messages, duplicates, mid-stream, events, left, tails)."""
    n = len(seg_row)
    m = 0
    nd = 0
    nm = 0
    ne = 0
    nl = 0
    nt = 0
    w = 0
    i = 0
    while i < n:
        s = seg_stream[i]
        j = i
        while j < n and seg_stream[j] == s:
            j += 1
        # -- one stream: segments i..j-1 -------------------------------------------------
        f = w  # framing cursor: bytes f..w assembled, not yet framed
        first = -1
        hn = 0  # heap size
        pend = 0  # bytes waiting in the heap
        for k in range(i, j + 1):
            if k < j:
                flags = seg_flags[k]
                row = seg_row[k]
                length = seg_len[k]
                seq = seg_seq[k]
                if flags & SYN:
                    if st[s, S_SEEN] == 1 and (w > f or hn > 0):
                        # a new connection on the same ports: the old one ends here
                        while hn > 0:  # its gaps skipped, what follows them framed
                            gap_rel = heap_rel[0]
                            if gap_rel > st[s, S_NEXT]:
                                if st[s, S_GAPS] == 0:
                                    st[s, S_GAP_AT] = st[s, S_NEXT]
                                    st[s, S_GAP_SIZE] = gap_rel - st[s, S_NEXT]
                                st[s, S_GAPS] += 1
                                if st[s, S_HUNT] == 0:
                                    st[s, S_SKIPPED] += w - f
                                f = w
                                st[s, S_NEXT] = gap_rel
                                st[s, S_HUNT] = 1
                            x = heap_idx[0]
                            hn = _pop(heap_rel, heap_idx, hn)
                            rel = gap_rel
                            if rel + seg_len[x] <= st[s, S_NEXT]:
                                st[s, S_DUP] += 1
                                dup_rows[nd] = seg_row[x]
                                nd += 1
                            else:
                                a = seg_off[x] + st[s, S_NEXT] - rel
                                b = seg_off[x] + seg_len[x]
                                if f == w:
                                    first = seg_row[x]
                                asm[w:w + b - a] = data[a:b]
                                w += b - a
                                st[s, S_NEXT] += b - a
                                f, m, first = _frame(asm, f, w, st, s, first, seg_row[x],
                                                     seg_row[x], msg, m)
                        ne = _event(st, s, f, w, asm, events, ne, 1)
                        f = w
                        pend = 0
                    elif st[s, S_SEEN] == 1:
                        ne = _event(st, s, f, w, asm, events, ne, 1)
                    st[s, S_SEEN] = 1
                    st[s, S_BASE] = (seq + 1) & 0xFFFFFFFF
                    st[s, S_NEXT] = 0
                    st[s, S_MID] = 0
                    st[s, S_HUNT] = 0
                    st[s, S_OPENED] = row
                    if length == 0:
                        continue
                    seq = (seq + 1) & 0xFFFFFFFF
                if length == 0:
                    continue
                if st[s, S_SEEN] == 0:
                    st[s, S_SEEN] = 1
                    st[s, S_BASE] = seq
                    st[s, S_NEXT] = 0
                    st[s, S_MID] = 1
                    st[s, S_HUNT] = 1  # the first byte seen need not begin a message
                    st[s, S_OPENED] = row
                    mid_rows[nm] = row
                    nm += 1
                if (flags & CARRIED) == 0 and row > st[s, S_LAST]:
                    st[s, S_LAST] = row
                nxt = st[s, S_NEXT]
                delta = (seq - st[s, S_BASE] - nxt) & 0xFFFFFFFF
                if delta >= 0x80000000:
                    delta -= 0x100000000
                rel = nxt + delta
                if rel + length <= nxt:
                    st[s, S_DUP] += 1
                    dup_rows[nd] = row
                    nd += 1
                    continue
                if rel > nxt:
                    hn = _push(heap_rel, heap_idx, hn, rel, k)
                    pend += length
                    if pend <= max_pending:
                        continue
                    skip = True  # too much waits behind the gap: skip it
                else:
                    a = seg_off[k] + nxt - rel
                    b = seg_off[k] + length
                    if f == w:
                        first = row
                    asm[w:w + b - a] = data[a:b]
                    w += b - a
                    st[s, S_NEXT] += b - a
                    f, m, first = _frame(asm, f, w, st, s, first, row, row, msg, m)
                    skip = False
                now = row
            else:  # the stream's last segment of this batch is done
                if not close or hn == 0:
                    break
                skip = True
                now = -1  # each message completed by the segment that brought its last byte
            # -- what waited behind the gap: delivered once the gap is filled (or skipped)
            while hn > 0:
                gap_rel = heap_rel[0]
                if gap_rel > st[s, S_NEXT]:
                    if not skip:
                        break
                    if st[s, S_GAPS] == 0:
                        st[s, S_GAP_AT] = st[s, S_NEXT]
                        st[s, S_GAP_SIZE] = gap_rel - st[s, S_NEXT]
                    st[s, S_GAPS] += 1
                    if st[s, S_HUNT] == 0:
                        st[s, S_SKIPPED] += w - f  # the message the gap cut: lost
                    f = w
                    st[s, S_NEXT] = gap_rel
                    st[s, S_HUNT] = 1
                    skip = close  # at the end every gap goes; else only the first
                x = heap_idx[0]
                hn = _pop(heap_rel, heap_idx, hn)
                pend -= seg_len[x]
                if gap_rel + seg_len[x] <= st[s, S_NEXT]:
                    st[s, S_DUP] += 1
                    dup_rows[nd] = seg_row[x]
                    nd += 1
                    continue
                a = seg_off[x] + st[s, S_NEXT] - gap_rel
                b = seg_off[x] + seg_len[x]
                if f == w or seg_row[x] < first:
                    first = seg_row[x]
                asm[w:w + b - a] = data[a:b]
                w += b - a
                st[s, S_NEXT] += b - a
                f, m, first = _frame(asm, f, w, st, s, first, seg_row[x],
                                     max(now, seg_row[x]), msg, m)
        # -- the stream's end of batch: what still waits is carried, or said at the end ----
        if close:
            ne = _event(st, s, f, w, asm, events, ne)
            st[s, S_SEEN] = 0
        else:
            for h in range(hn):
                left[nl] = heap_idx[h]
                nl += 1
            if w > f:
                tails[nt, 0] = s
                tails[nt, 1] = f
                tails[nt, 2] = w - f
                tails[nt, 3] = first
                tails[nt, 4] = st[s, S_NEXT] - (w - f)
                nt += 1
        i = j
    return m, nd, nm, ne, nl, nt


def gather(buf: Any, off: Any, length: Any, out: Any) -> int:
    """Kernel: the bytes ``buf[off[k]:off[k] + length[k]]`` one after another into ``out``."""
    w = 0
    for k in range(len(off)):
        a = off[k]
        b = a + length[k]
        out[w:w + b - a] = buf[a:b]
        w += b - a
    return w


@dataclass
class Segments:
    """TCP segments as arrays: the stream key's parts, sequence, flags, and the payloads
    gathered one after another into ``data`` (``offset`` into it)."""

    row: np.ndarray
    key: np.ndarray  # (n, 38) uint8: family, source, destination (16 each), ports (2 each)
    seq: np.ndarray
    flags: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    data: np.ndarray

    @staticmethod
    def empty() -> Segments:
        z = np.zeros(0, dtype=np.int64)
        return Segments(z, np.zeros((0, 38), np.uint8), z, z, z, z, np.zeros(0, np.uint8))

    def __len__(self) -> int:
        return len(self.row)


KEY_BYTES = 38  # a direction's key: family, source, destination (16 each), ports (2 each)


def make_key(family: np.ndarray, src: np.ndarray, dst: np.ndarray, sport: np.ndarray,
             dport: np.ndarray) -> np.ndarray:
    """One direction's key per segment, 38 bytes: family, source, destination, ports."""
    n = len(family)
    key = np.empty((n, 38), dtype=np.uint8)
    key[:, 0] = family
    key[:, 1:17] = src
    key[:, 17:33] = dst
    key[:, 33] = sport >> 8
    key[:, 34] = sport & 0xFF
    key[:, 35] = dport >> 8
    key[:, 36] = dport & 0xFF
    key[:, 37] = 0
    return key


def gathered(buf: Any, off: np.ndarray, length: np.ndarray, jit: bool) -> np.ndarray:
    """The payloads at ``off`` / ``length`` of ``buf``, one after another."""
    out = np.empty(int(length.sum()), dtype=np.uint8)
    if len(off):
        kernel(gather, jit)(np.asarray(buf), off, length, out)
    return out


def concat(parts: list[Segments]) -> Segments:
    """Segments of several sources as one, in row order (stable)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return Segments.empty()
    if len(parts) == 1:
        return parts[0]
    bases = np.cumsum([0] + [len(p.data) for p in parts[:-1]])
    joined = Segments(np.concatenate([p.row for p in parts]),
                      np.concatenate([p.key for p in parts]),
                      np.concatenate([p.seq for p in parts]),
                      np.concatenate([p.flags for p in parts]),
                      np.concatenate([p.offset + b for p, b in zip(parts, bases, strict=True)]),
                      np.concatenate([p.length for p in parts]),
                      np.concatenate([p.data for p in parts]))
    order = np.argsort(joined.row, kind="stable")
    return Segments(joined.row[order], joined.key[order], joined.seq[order],
                    joined.flags[order], joined.offset[order], joined.length[order],
                    joined.data)


@dataclass
class TcpMessages:
    """Messages one batch completed: (offset, length) into ``data``, first and last rows, the
    stream (an index into :attr:`Reassembler.keys`)."""

    data: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    first_row: np.ndarray
    last_row: np.ndarray
    stream: np.ndarray

    def __len__(self) -> int:
        return len(self.offset)


@dataclass
class TcpResult:
    notes: list[str] = field(default_factory=list)
    note_rows: list[int] = field(default_factory=list)  # the packet row each note is about
    mid_stream_rows: list[int] = field(default_factory=list)  # first row of streams with no SYN
    retransmitted_rows: list[int] = field(default_factory=list)  # each one's packet row
    # rows that opened a direction (its SYN; a mid-stream one's first segment) that then
    # carried a DNS message: a SYN among them was a used connection, not a failed attempt
    carried: list[np.ndarray] = field(default_factory=list)


def _name(key: bytes) -> str:
    family = key[0]
    size = 4 if family == 4 else 16
    src = ipaddress.ip_address(key[1:1 + size])
    dst = ipaddress.ip_address(key[17:17 + size])
    sport = (key[33] << 8) | key[34]
    dport = (key[35] << 8) | key[36]
    return f"{src}:{sport} -> {dst}:{dport}"


class Reassembler:
    """Batches of segments (each in capture order, batches in order) -> DNS messages; between
    batches only the open streams' state is kept: a row of integers each, their unframed bytes
    and the segments waiting behind a gap (carried into the next batch). :meth:`close` ends
    every stream, saying what could not be framed."""

    def __init__(self, jit: bool = False, max_pending: int = MAX_PENDING) -> None:
        self.jit = jit
        self.max_pending = max_pending
        self.streams = KeyIds(KEY_BYTES)  # a direction's addresses and ports -> its index
        self.state = np.zeros((64, NSTATE), dtype=np.int64)
        self.state[:, S_LAST] = -1
        self.carry = Segments.empty()
        self.result = TcpResult()
        self.dups: list[np.ndarray] = []

    def _stream_ids(self, key: np.ndarray) -> np.ndarray:
        """The stream index of each segment's key (new streams get the next indices)."""
        sid = self.streams.ids(key)
        if len(self.streams) > len(self.state):
            grown = np.zeros((max(len(self.streams), 2 * len(self.state)), NSTATE), np.int64)
            grown[:, S_LAST] = -1
            grown[:len(self.state)] = self.state
            self.state = grown
        return sid

    def feed(self, segments: Segments) -> TcpMessages:
        """One batch (in row order) -> the messages it completes."""
        return self._run(concat([self.carry, segments]), close=False)

    def close(self) -> tuple[TcpMessages, TcpResult]:
        """End every stream: the gaps still open are skipped and what follows them framed;
        the messages that gives, and what was said about the streams."""
        carried = set(self._stream_ids(self.carry.key).tolist())
        messages = self._run(self.carry, close=True)
        self.carry = Segments.empty()
        # directions with nothing carried that still have something to say (zero-length
        # messages, gaps skipped earlier): their state says it
        st = self.state[:len(self.streams)]
        say = np.flatnonzero((st[:, S_SEEN] == 1) & ((st[:, S_GAPS] > 0) | (st[:, S_ZERO] > 0)
                                                     | (st[:, S_SKIPPED] > 0)))
        say = say[~np.isin(say, np.array(sorted(carried), dtype=np.int64))]
        if len(say):
            events = np.zeros((len(say), NEVENT), dtype=np.int64)
            events[:, E_STREAM] = say
            events[:, E_PREFIX] = -1
            for col, at in ((E_ROW, S_LAST), (E_GAPS, S_GAPS), (E_GAP_AT, S_GAP_AT),
                            (E_GAP_SIZE, S_GAP_SIZE), (E_SKIPPED, S_SKIPPED), (E_ZERO, S_ZERO)):
                events[:, col] = st[say, at]
            self._notes(events)
        self.result.retransmitted_rows = sorted(
            np.concatenate(self.dups).tolist()) if self.dups else []
        self.dups = []
        # in the order of the frames they are about (then by text): the same order however the
        # capture was cut into batches (in memory, in pieces), not the order streams were met
        said = sorted(zip(self.result.note_rows, self.result.notes, strict=True))
        self.result.note_rows = [row for row, _ in said]
        self.result.notes = [note for _, note in said]
        self.result.mid_stream_rows = sorted(self.result.mid_stream_rows)
        return messages, self.result

    def _run(self, segs: Segments, close: bool) -> TcpMessages:
        n = len(segs)
        sid = self._stream_ids(segs.key)
        order = np.lexsort((np.arange(n), sid))  # by stream, then capture order
        total = int(segs.length.sum())
        asm = np.empty(total + 2, dtype=np.uint8)
        msg = np.empty((total // 3 + 1, 6), dtype=np.int64)
        dup_rows = np.empty(n, dtype=np.int64)
        mid_rows = np.empty(n, dtype=np.int64)
        events = np.empty((n + 1, NEVENT), dtype=np.int64)
        left = np.empty(n, dtype=np.int64)
        tails = np.empty((n + 1, 5), dtype=np.int64)
        heap_rel = np.empty(n + 1, dtype=np.int64)
        heap_idx = np.empty(n + 1, dtype=np.int64)
        # a small capture's streams may still hold many bytes (60 segments of zeros are 1.95 M
        # empty messages): compiled from COMPILE_BYTES on, whatever the file's size
        jit = self.jit or (total >= COMPILE_BYTES and numba_available())
        # interpreted: memoryviews (an element read is a Python int, as in every kernel)
        data: Any = segs.data if jit else memoryview(cast(Any, segs.data))
        into: Any = asm if jit else memoryview(cast(Any, asm))
        counts: Any = (0, 0, 0, 0, 0, 0)
        if n:
            counts = kernel(reassemble_streams, jit)(
                data, sid[order], segs.row[order], segs.seq[order], segs.flags[order],
                segs.offset[order], segs.length[order], self.state, close, self.max_pending,
                heap_rel, heap_idx, into, msg, dup_rows, mid_rows, events, left, tails)
        nm, nd, nmid, ne, nl, nt = (int(c) for c in counts)
        self.dups.append(dup_rows[:nd].copy())
        self.result.mid_stream_rows += mid_rows[:nmid].tolist()
        for row, key in zip(mid_rows[:nmid].tolist(), self._mid_keys(sid, segs.row,
                                                                       mid_rows[:nmid]),
                            strict=True):
            self.result.notes.append(f"TCP {_name(self.streams.key(key))}: the capture starts "
                                     "mid-stream (no SYN); messages framed from the first "
                                     "plausible DNS message seen")
            self.result.note_rows.append(row)
        self._notes(events[:ne])
        if not close:
            self._carry(segs, order, left[:nl], asm, tails[:nt], sid)
        m = msg[:nm]
        if nm:  # the SYNs (rows that opened a stream) whose connection carried a message
            self.result.carried.append(np.unique(m[:, 5]))
        used = int((m[:, 0] + m[:, 1]).max()) if nm else 0
        return TcpMessages(asm[:used], *(np.ascontiguousarray(m[:, c]) for c in range(5)))

    @staticmethod
    def _mid_keys(sid: np.ndarray, rows: np.ndarray, mid_rows: np.ndarray) -> list[int]:
        """The stream of each mid-stream start (its row is one of its stream's segments)."""
        if not len(mid_rows):
            return []
        by_row = np.argsort(rows, kind="stable")
        at = by_row[np.searchsorted(rows[by_row], mid_rows)]
        found: list[int] = sid[at].tolist()
        return found

    def _carry(self, segs: Segments, order: np.ndarray, left: np.ndarray, asm: np.ndarray,
               tails: np.ndarray, sid: np.ndarray) -> None:
        """What the next batch starts from: waiting segments as they came, and each stream's
        unframed bytes as one segment at its stream offset (its ``next`` set back to it)."""
        waiting = order[left]
        st = self.state
        t_stream = tails[:, 0]
        st[t_stream, S_NEXT] = tails[:, 4]
        t_seq = (st[t_stream, S_BASE] + tails[:, 4]) & 0xFFFFFFFF
        keys = self.streams.keys(t_stream)
        w_data = gathered(segs.data, segs.offset[waiting], segs.length[waiting], self.jit)
        t_data = gathered(asm, tails[:, 1], tails[:, 2], self.jit)
        w_len = segs.length[waiting]
        self.carry = concat([
            Segments(segs.row[waiting], segs.key[waiting], segs.seq[waiting],
                     segs.flags[waiting] | CARRIED, np.cumsum(w_len) - w_len, w_len, w_data),
            Segments(tails[:, 3].copy(), keys, t_seq, np.full(len(tails), CARRIED, np.int64),
                     np.cumsum(tails[:, 2]) - tails[:, 2], tails[:, 2].copy(), t_data)])
        del sid

    def _notes(self, events: np.ndarray) -> None:
        """A note for each direction that ended with something to say (few)."""
        for e in events.tolist():
            name = _name(self.streams.key(e[E_STREAM]))
            parts = []
            if e[E_GAPS]:
                parts.append(
                    f"{e[E_GAP_SIZE]} byte(s) missing at stream offset {e[E_GAP_AT]} (never "
                    "captured)" + (f", {e[E_GAPS] - 1} more gap(s) after it" if e[E_GAPS] > 1
                                   else "")
                    + f"; framing resumed at the next plausible DNS message, {e[E_SKIPPED]} "
                    "byte(s) around the gap not decoded")
            elif e[E_SKIPPED]:
                parts.append(f"{e[E_SKIPPED]} byte(s) not decoded")
            if e[E_ZERO]:
                parts.append(f"{e[E_ZERO]:,} zero-length message(s) (a length prefix of 0) "
                             "counted, not listed")
            if e[E_TAIL]:
                what = (f"a {e[E_PREFIX]}-byte message" if e[E_PREFIX] >= 0
                        else "a length prefix")
                parts.append(f"a new SYN on the same addresses and ports reopened it "
                             f"{e[E_TAIL]} byte(s) into {what} (the connection before was "
                             "reset or closed mid-message): not decoded" if e[E_REOPENED] else
                             f"the capture ends {e[E_TAIL]} byte(s) into {what}: not decoded")
            self.result.notes.append(f"TCP {name}: " + "; ".join(parts))
            self.result.note_rows.append(e[E_ROW])
