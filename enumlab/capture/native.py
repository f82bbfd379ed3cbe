"""The native engine: record index -> per-packet header walk -> reassembly -> DNS decoding.

The common path (Ethernet / VLAN / SLL / raw -> IP -> UDP -> DNS) is whole-array work: one
kernel (:func:`walk_and_decode`, compiled by :mod:`.jit`) walks a block of records' headers and
decodes each UDP DNS message in the same pass, writing the message columns directly; blocks
run in two threads (numba releases the GIL). The rare paths -- IP fragments, TCP streams --
are plain Python over their few packets, and what they rebuild (whole datagrams, DNS messages)
goes back through the same kernels from a side buffer. Output: :class:`.table.CaptureTables`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from queue import Queue
from typing import Any

import numpy as np

from . import dns_message as dm
from . import packets as pk
from .columns import KeyIds
from .dns_message import decode_one
from .files import RecordIndex
from .ip import CARRIED, HEADER_ROOM, UNITS
from .jit import kernel, want_jit
from .links import RAW
from .packets import C_KIND, C_PAYLEN, C_PAYOFF, UDP_DNS, walk_one
from .tcp import FIN, RST, SYN, Reassembler, Segments, TcpMessages, gathered, make_key
from .tcp import concat as concat_segments

UNOPENED = "(an encapsulation the native decoder does not open)"  # ends a tunnel's note
BLOCK = 1 << 16  # records per header-walk call
PARALLEL_DECODE = 1 << 15  # rebuilt messages (TCP, fragments) from which two threads decode


@dataclass
class _Messages:
    """Columns of DNS messages from one source (direct UDP, reassembled UDP, TCP)."""

    row: list[np.ndarray] = field(default_factory=list)  # packet row that completed it
    first_row: list[np.ndarray] = field(default_factory=list)
    pk: list[np.ndarray] = field(default_factory=list)  # (MSG_COLS, n) per-packet integers
    src: list[np.ndarray] = field(default_factory=list)
    dst: list[np.ndarray] = field(default_factory=list)
    dns: list[np.ndarray] = field(default_factory=list)  # (DCOL, n): column-major
    opts: list[np.ndarray] = field(default_factory=list)
    buf_id: list[np.ndarray] = field(default_factory=list)  # 0 = file, 1 = side buffer
    msg_off: list[np.ndarray] = field(default_factory=list)
    msg_len: list[np.ndarray] = field(default_factory=list)
    transport: list[np.ndarray] = field(default_factory=list)  # 0 udp, 1 tcp
    fragments: list[np.ndarray] = field(default_factory=list)
    order: list[np.ndarray] = field(default_factory=list)  # rank within the completing row

    def add(self, rows: np.ndarray, walked: np.ndarray, src: np.ndarray, dst: np.ndarray,
            dns: np.ndarray, opts: np.ndarray, off: np.ndarray, length: np.ndarray, *,
            buf_id: int, tcp: bool = False, first_rows: np.ndarray | None = None,
            fragments: np.ndarray | None = None, order: np.ndarray | None = None) -> None:
        """One part: messages completed by packet ``rows`` (``walked``: their MSG_COLS,
        column-major; ``dns``: column-major too)."""
        k = len(rows)
        self.row.append(rows)
        self.first_row.append(rows if first_rows is None else first_rows)
        self.pk.append(walked)
        self.src.append(src)
        self.dst.append(dst)
        self.dns.append(dns)
        self.opts.append(opts)
        self.buf_id.append(np.full(k, buf_id, dtype=np.int8))
        self.msg_off.append(off)
        self.msg_len.append(length)
        self.transport.append(np.full(k, int(tcp), dtype=np.int8))
        self.fragments.append(np.zeros(k, dtype=np.int64) if fragments is None else fragments)
        self.order.append(np.zeros(k, dtype=np.int64) if order is None else order)


@dataclass
class Decoded:
    index: RecordIndex
    messages: _Messages
    side: np.ndarray  # uint8: the bytes of rebuilt messages (buf_id 1)
    icmp: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    fragments: Any  # FragmentTable (a capture read in pieces: [] for each piece)
    tcp_control: PacketRows
    notes: list[str]
    jit: bool
    retransmitted_rows: list[int] = field(default_factory=list)
    note_rows: list[int] = field(default_factory=list)  # the row each note is about
    mid_stream_rows: list[int] = field(default_factory=list)
    tunnels: dict[int, int] = field(default_factory=dict)  # unopened tunnel code -> frames
    carried_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _decode_dns(buf: Any, off: np.ndarray, length: np.ndarray, jit: bool
                ) -> tuple[np.ndarray, np.ndarray]:
    """The messages' :data:`.dns_message.DCOL` integers, column-major ``(DCOL, n)`` (the
    kernel writes row ``i`` of the transposed view: a column is contiguous), and options."""
    n = len(off)
    columns = np.zeros((dm.DCOL, n), dtype=np.int64)
    opts = np.empty((n, dm.MAX_OPTS), dtype=np.int64)
    if not n:
        return columns, opts
    decode = kernel(dm.decode_messages, jit)
    data = buf if jit else memoryview(buf)
    if jit and n >= PARALLEL_DECODE:  # both cores (the kernel lets the GIL go)
        half = n // 2
        with ThreadPoolExecutor(max_workers=1) as pool:
            other = pool.submit(decode, data, off, length, columns.T, opts, half, n)
            decode(data, off, length, columns.T, opts, 0, half)
            other.result()
    else:
        decode(data, off, length, columns.T, opts, 0, n)
    return columns, opts


def _walk(buf: Any, off: np.ndarray, cap: np.ndarray, link: np.ndarray, interest: np.ndarray,
          jit: bool) -> tuple[np.ndarray, ...]:
    n = len(off)
    # (packet, column) over column-major memory: a column is contiguous for the gathers
    out = np.zeros((pk.NCOL, n), dtype=np.int64).T
    src = np.zeros((n, 16), dtype=np.uint8)
    dst = np.zeros((n, 16), dtype=np.uint8)
    qsrc = np.zeros((n, 16), dtype=np.uint8)
    qdst = np.zeros((n, 16), dtype=np.uint8)
    if n:
        kernel(pk.walk_packets, jit)(buf if jit else memoryview(buf), off, cap, link, interest,
                                     out, src, dst, qsrc, qdst)
    return out, src, dst, qsrc, qdst


def walk_and_decode(buf: Any, rec_off: Any, rec_cap: Any, rec_link: Any, interest: Any,
                    out: Any, src: Any, dst: Any, qsrc: Any, qdst: Any, clear: bool, keep: Any,
                    msg_row: Any, msg_pk: Any, msg_src: Any, msg_dst: Any, msg_off: Any,
                    dns: Any, opts: Any, others: Any) -> tuple[int, int]:
    """Kernel: the header walk of every record (:func:`.packets.walk_one`) and, in the same
    pass, the DNS decoding (:func:`.dns_message.decode_one`) of each UDP DNS message, written
    straight into the message columns (``keep``: the walk's columns a message keeps) -- no
    gather afterwards. ``clear``: the per-packet scratch (``out``, addresses) is reused, each
    row is zeroed before its packet is walked. The rows of the packets that are not UDP DNS
    messages go to ``others``. Returns the numbers of messages and of other rows."""
    k = 0
    m = 0
    for i in range(len(rec_off)):
        if clear:
            for c in range(out.shape[1]):
                out[i, c] = 0
            for b in range(16):
                src[i, b] = 0
                dst[i, b] = 0
                qsrc[i, b] = 0
                qdst[i, b] = 0
        walk_one(buf, rec_off[i], rec_cap[i], rec_link[i], interest, out, src, dst, qsrc, qdst,
                 i)
        if out[i, C_KIND] == UDP_DNS:
            msg_row[k] = i
            for j in range(len(keep)):
                msg_pk[k, j] = out[i, keep[j]]
            for b in range(16):
                msg_src[k, b] = src[i, b]
                msg_dst[k, b] = dst[i, b]
            msg_off[k] = out[i, C_PAYOFF]
            decode_one(buf, out[i, C_PAYOFF], out[i, C_PAYLEN], dns, opts, k)
            k += 1
        else:
            others[m] = i
            m += 1
    return k, m


_KEEP = np.array(pk.MSG_COLS, dtype=np.int64)


@dataclass
class Walked:
    """One block through :func:`walk_and_decode`: the per-packet table and addresses, and its
    UDP DNS messages already decoded (column-major ``pk`` and ``dns``)."""

    out: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    qsrc: np.ndarray
    qdst: np.ndarray
    udp: np.ndarray  # rows of the block that are UDP DNS messages
    pk: np.ndarray  # (len(MSG_COLS), k)
    msg_src: np.ndarray
    msg_dst: np.ndarray
    msg_off: np.ndarray
    dns: np.ndarray  # (DCOL, k)
    opts: np.ndarray
    others: np.ndarray  # rows of the block that are not UDP DNS messages
    scratch: Scratch | None = None  # where out / src / dst / qsrc / qdst live, to give back


class Scratch:
    """The header walk's per-packet table and addresses for one block -- 312 bytes a packet,
    read only until the block is collected. The compiled walk reuses a few of them (a queue:
    one per block in flight) instead of 20 MB of new zeroed arrays per block (zeroed again by
    calloc, or fresh pages paid one fault each); the kernel zeroes each row before use
    (measured: ~0.03 s of CPU on 1 M packets)."""

    def __init__(self, n: int) -> None:
        # row-major: the kernel writes a packet's columns next to each other (column-major here
        # costs ~20 % of the kernel's time: 31 write streams), and reads the kept ones right back
        self.out = np.zeros((n, pk.NCOL), dtype=np.int64)
        self.src, self.dst, self.qsrc, self.qdst = (np.zeros((n, 16), dtype=np.uint8)
                                                    for _ in range(4))


def _walk_decode(buf: Any, off: np.ndarray, cap: np.ndarray, link: np.ndarray,
                 interest: np.ndarray, jit: bool, scratch: Scratch | None = None) -> Walked:
    """One block through :func:`walk_and_decode`, into ``scratch`` (rows zeroed by the kernel)
    or fresh zeroed arrays."""
    n = len(off)
    clear = scratch is not None
    scratch = scratch or Scratch(n)
    out, src, dst, qsrc, qdst = (a[:n] for a in (scratch.out, scratch.src, scratch.dst,
                                                 scratch.qsrc, scratch.qdst))
    msg_row = np.empty(n, dtype=np.int64)
    msg_pk = np.empty((len(_KEEP), n), dtype=np.int64)
    msg_src = np.empty((n, 16), dtype=np.uint8)
    msg_dst = np.empty((n, 16), dtype=np.uint8)
    msg_off = np.empty(n, dtype=np.int64)
    dns = np.zeros((dm.DCOL, n), dtype=np.int64)
    opts = np.empty((n, dm.MAX_OPTS), dtype=np.int64)
    others = np.empty(n, dtype=np.int64)
    k = m = 0
    if n:
        k, m = kernel(walk_and_decode, jit)(buf if jit else memoryview(buf), off, cap, link,
                                            interest, out, src, dst, qsrc, qdst, clear, _KEEP,
                                            msg_row, msg_pk.T, msg_src, msg_dst, msg_off,
                                            dns.T, opts, others)
    return Walked(out, src, dst, qsrc, qdst, msg_row[:k], msg_pk[:, :k], msg_src[:k],
                  msg_dst[:k], msg_off[:k], dns[:, :k], opts[:k], others[:m])


def decode(path: Any, *, ports: tuple[int, ...] = (), jit: bool | None = None,
           on_records: Callable[[int], None] | None = None,
           vxlan_ports: tuple[int, ...] = (pk.PORT_VXLAN,)) -> Decoded:
    """Decode every packet of ``path`` (see module docs), read as a stream of buffers
    (:class:`.files.RecordStream`: a plain file read, a ``.gz`` inflated -- never mapped,
    never written anywhere). After each buffer, its DNS messages' bytes are copied out
    (:func:`_compact`) and the buffer is let go: memory holds one buffer and the DNS messages,
    never the capture."""
    from .files import RecordStream, nominal_size

    use_jit = want_jit(nominal_size(path), jit)
    msgs = _Messages()
    stage = SecondStage(None, ports=ports, jit=use_jit, keep_side=True, vxlan_ports=vxlan_ports)
    kept: list[np.ndarray] = []
    scratches: list[Scratch] = []
    with RecordStream(path, jit=use_jit) as stream:
        for chunk in stream.chunks():
            before = len(msgs.row)
            walk_rows(chunk, chunk.first, chunk.first + chunk.frames, ports=ports, jit=use_jit,
                      messages=msgs, pending=Pending(), on_records=on_records, stage=stage,
                      vxlan_ports=vxlan_ports, scratches=scratches)
            kept.append(_compact(msgs, before, chunk.buf, sum(len(k) for k in kept), use_jit))
            del chunk
        index = stream.index()
    index.buf = np.concatenate(kept) if len(kept) > 1 else kept[0] if kept else \
        np.zeros(0, np.uint8)
    stage.index = index
    return stage.close(msgs)


def _compact(msgs: _Messages, first_part: int, buf: np.ndarray, base: int, jit: bool
             ) -> np.ndarray:
    """The bytes of the messages read from ``buf`` (``buf_id`` 0) in the parts of ``msgs``
    from ``first_part`` on, one after another: their offsets (message, QNAME) are moved to
    ``base`` + their place there, so ``buf`` can go."""
    parts = [k for k in range(first_part, len(msgs.row))
             if len(msgs.buf_id[k]) and msgs.buf_id[k][0] == 0]
    if not parts:
        return np.zeros(0, np.uint8)
    off = np.concatenate([msgs.msg_off[k] for k in parts])
    length = np.concatenate([msgs.msg_len[k] for k in parts])
    data = gathered(buf, off, length, jit)
    at = base
    for k in parts:
        old, n = msgs.msg_off[k], msgs.msg_len[k]
        new = at + np.cumsum(n) - n
        qname_at = msgs.dns[k][dm.D_QNAME_OFF]
        msgs.dns[k][dm.D_QNAME_OFF] = np.where(qname_at >= 0, qname_at - old + new, -1)
        msgs.msg_off[k] = new
        at += int(n.sum())
    return data


@dataclass
class PacketRows:
    """Packets kept for later as whole arrays, block by block (no object per packet): row,
    the integer columns of the header walk, addresses, TCP flags."""

    parts: list[tuple[np.ndarray, ...]] = field(default_factory=list)

    def add(self, rows: np.ndarray, walked: np.ndarray, src: np.ndarray, dst: np.ndarray,
            flags: np.ndarray) -> None:
        """Keep ``rows``: of the header walk's columns, those a message keeps (MSG_COLS)."""
        if len(rows):
            self.parts.append((rows, np.ascontiguousarray(walked[:, pk.MSG_COLS]), src, dst,
                               flags))

    def __len__(self) -> int:
        return sum(len(p[0]) for p in self.parts)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(rows, walked, src, dst, flags), in row order."""
        if not self.parts:
            return (np.zeros(0, np.int64), np.zeros((0, len(pk.MSG_COLS)), np.int64),
                    np.zeros((0, 16), np.uint8), np.zeros((0, 16), np.uint8),
                    np.zeros(0, np.int64))
        joined = [np.concatenate(c) if len(self.parts) > 1 else c[0]
                  for c in zip(*self.parts, strict=True)]
        rows = joined[0]
        if len(rows) > 1 and not bool((rows[1:] >= rows[:-1]).all()):
            order = np.argsort(rows, kind="stable")
            joined = [c[order] for c in joined]
        # (parts come block after block, each in row order: most often sorted already)
        self.parts = [tuple(joined)]
        return self.parts[0]


@dataclass
class Pending:
    """What the header walk leaves for the second stage: the few packets that need whole-capture
    context (IP fragments, TCP segments of DNS connections) and ICMP errors."""

    icmp_parts: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    frag_rows: list[FragmentRows] = field(default_factory=list)
    segments: list[Segments] = field(default_factory=list)  # TCP, payloads gathered
    control: PacketRows = field(default_factory=PacketRows)  # SYN / FIN / RST
    seg_meta: PacketRows = field(default_factory=PacketRows)  # every TCP segment
    tunnels: list[np.ndarray] = field(default_factory=list)  # (code, row) of unopened tunnels


def decode_index(index: RecordIndex, *, ports: tuple[int, ...] = (), jit: bool | None = None,
                 on_records: Callable[[int], None] | None = None,
                 vxlan_ports: tuple[int, ...] = (pk.PORT_VXLAN,)) -> Decoded:
    """Decode every packet of an open record index (a file's, or a stitched one)."""
    use_jit = want_jit(len(index.buf), jit)
    msgs = _Messages()
    # the second stage is fed block by block while the next blocks are decoded (in threads)
    stage = SecondStage(index, ports=ports, jit=use_jit, keep_side=True,
                        vxlan_ports=vxlan_ports)
    walk_rows(index, 0, index.frames, ports=ports, jit=use_jit, messages=msgs,
              pending=Pending(), on_records=on_records, stage=stage, vxlan_ports=vxlan_ports)
    return stage.close(msgs)


def walk_rows(index: RecordIndex, lo: int, hi: int, *, ports: tuple[int, ...], jit: bool,
              vxlan_ports: tuple[int, ...] = (pk.PORT_VXLAN,),
              messages: _Messages, pending: Pending,
              on_records: Callable[[int], None] | None = None,
              stage: SecondStage | None = None,
              scratches: list[Scratch] | None = None) -> None:
    """The header walk and DNS decoding of records ``lo..hi``: their UDP messages into
    ``messages``, fragments, TCP segments and ICMP errors into ``pending`` -- or, with a
    ``stage``, fed to it block by block (what they complete into ``messages``).
    ``scratches``: the walk's scratch tables, kept by the caller for its next call (a
    capture read buffer after buffer: not 60 MB of new zeroed pages per buffer)."""
    use_jit = jit
    buf = index.buf
    links = index.link_type
    first = index.first  # the index's arrays begin at this row (a RecordStream's chunk)
    interest = pk.interest_table(ports, vxlan_ports)
    starts = list(range(lo, hi, BLOCK))

    # both cores: compiled blocks (walk + DNS decoding, without the GIL) run in two threads,
    # two blocks ahead, while the blocks done are collected here; each takes a scratch from
    # the queue and the collector gives it back
    ahead = 2 if use_jit else 0
    free: Queue[Scratch] = Queue()
    reused = scratches if scratches is not None else []
    if len(starts) > 1 and ahead:
        while len(reused) < ahead + 1:
            reused.append(Scratch(BLOCK))
        for scratch in reused:
            free.put(scratch)

    def walk(start: int) -> Walked:
        stop = min(start + BLOCK, hi)
        scratch = free.get() if use_jit and len(starts) > 1 else None
        walked = _walk_decode(buf, index.offset[start - first:stop - first],
                              index.caplen[start - first:stop - first],
                              links[start - first:stop - first], interest, use_jit, scratch)
        walked.scratch = scratch
        return walked

    with ThreadPoolExecutor(max_workers=max(ahead, 1)) as pool:
        todo = deque(pool.submit(walk, s) for s in starts[:ahead])
        for k, start in enumerate(starts):
            stop = min(start + BLOCK, hi)
            walked = todo.popleft().result() if ahead else walk(start)
            if ahead and k + ahead < len(starts):
                todo.append(pool.submit(walk, starts[k + ahead]))
            rows = np.arange(start, stop, dtype=np.int64)
            batch = pending if stage is None else Pending()
            _collect(buf, rows, walked.out, walked.src, walked.dst, walked.qsrc, walked.qdst,
                     messages, batch.icmp_parts, batch.frag_rows, batch.segments,
                     batch.control, batch.seg_meta, 0, use_jit, decoded=walked,
                     tunnels=batch.tunnels,
                     snapped=(index.origlen[start - first:stop - first]
                              > index.caplen[start - first:stop - first]))
            if walked.scratch is not None:
                free.put(walked.scratch)
            if stage is not None:
                stage.feed(messages, batch)
            if on_records is not None:
                on_records(stop - start)


class SecondStage:
    """IP reassembly (RFC 791, RFC 8200) and DNS-over-TCP streams (RFC 7766), fed batch after
    batch in capture order: a capture read in pieces keeps only what is still open between
    them -- fragment sets not yet complete, streams' unframed bytes -- and each batch's rebuilt
    messages come out with it. The fragment table, the TCP control rows, the ICMP errors and
    the notes are handed over by :meth:`close`."""

    def __init__(self, index: RecordIndex | None, *, ports: tuple[int, ...], jit: bool,
                 vxlan_ports: tuple[int, ...] = (pk.PORT_VXLAN,),
                 keep_side: bool = False) -> None:
        self.index = index  # the capture's (light) index: set before close() at the latest
        self.jit = jit
        # keep_side: one side buffer for every batch (:meth:`whole_side`), offsets into it;
        # else each batch's own (a capture in pieces keeps nothing between them)
        self.keep_side = keep_side
        self.sides: list[np.ndarray] = []
        self.side_size = 0
        self.interest = pk.interest_table(ports, vxlan_ports)
        self.tunnels: list[np.ndarray] = []
        self.fragments = Fragments(jit)
        self.tcp = Reassembler(jit=jit)
        self.kept_meta = PacketRows()  # header-walk rows of the TCP segments carried
        self.control = PacketRows()
        self.icmp_parts: list[tuple[np.ndarray, ...]] = []

    def whole_side(self) -> np.ndarray:
        """Every batch's side buffer, one after another (``keep_side``)."""
        return _joined(self.sides)

    def feed(self, msgs: _Messages, pending: Pending) -> np.ndarray:
        """Rebuild what ``pending`` (one batch) completes: messages into ``msgs``; returns the
        side buffer their bytes are in (``buf_id`` 1) -- with ``keep_side``, an empty one:
        their offsets point into :meth:`whole_side`."""
        parts_before = len(msgs.msg_off)
        side = self._feed(msgs, pending)
        if self.keep_side:
            base = self.side_size
            for k in range(parts_before, len(msgs.msg_off) if base else 0):
                # every part _feed adds is rebuilt in this batch's side buffer: into the whole
                msgs.msg_off[k] = msgs.msg_off[k] + base
                qname_at = msgs.dns[k][dm.D_QNAME_OFF]
                msgs.dns[k][dm.D_QNAME_OFF] = np.where(qname_at >= 0, qname_at + base, -1)
            self.sides.append(side)
            self.side_size += len(side)
            return _joined([])
        return side

    def _feed(self, msgs: _Messages, pending: Pending) -> np.ndarray:
        use_jit, interest = self.jit, self.interest
        segments, seg_meta = pending.segments, pending.seg_meta
        self.icmp_parts += pending.icmp_parts
        self.tunnels += pending.tunnels
        self.control.parts += pending.control.parts
        side: list[np.ndarray] = []  # the batch's side buffer, in parts: joined once
        # -- IP reassembly: rebuilt datagrams go through the header walk again -------------
        dg = self.fragments.feed(pending.frag_rows)
        base = 0
        if dg is not None:
            side.append(dg.data)  # (first in the side buffer: its offsets are the datagrams')
            base = len(dg.data)
            offs, lens, done_rows, counts = dg.offset, dg.length, dg.row, dg.count
            outer = dg.carrier
            side_arr = dg.data
            out, src, dst, qsrc, qdst = _walk(side_arr, offs, lens,
                                              np.full(len(offs), RAW, dtype=np.int32),
                                              interest, use_jit)
            # what the rebuilt datagram lost: the link and tunnel of the fragment completing it
            carried = outer
            for col, k in ((pk.C_VLAN, 0), (pk.C_ENCAP, 1), (pk.C_TUNNEL_ID, 2)):
                keep = carried[:, k] if col != pk.C_ENCAP else np.maximum(out[:, col],
                                                                          carried[:, k])
                out[:, col] = np.where(out[:, col] > 0, out[:, col], keep) \
                    if col == pk.C_ENCAP else np.where(out[:, col] >= 0, out[:, col], keep)
            more = PacketRows()
            _collect(side_arr, done_rows, out, src, dst, qsrc, qdst,
                     msgs, self.icmp_parts, [], segments, more, seg_meta, 1, use_jit,
                     fragments=counts, first_rows=carried[:, 3],
                     tunnels=self.tunnels)
            self.control.parts += more.parts
        # -- TCP streams ---------------------------------------------------------------------
        done = self.tcp.feed(concat_segments(segments))
        meta = PacketRows(self.kept_meta.parts + seg_meta.parts)
        if len(done):
            side.append(done.data)
            self._add_tcp(msgs, done, base, meta)
        # the header-walk rows of the segments carried to the next batch (a message they
        # complete at the end needs them); nothing else is kept
        if len(self.tcp.carry) or self.kept_meta.parts:
            rows, *rest = meta.arrays()
            keep = np.isin(rows, self.tcp.carry.row)
            self.kept_meta = PacketRows([tuple(c[keep] for c in (rows, *rest))])
        return _joined(side)

    def _add_tcp(self, msgs: _Messages, done: TcpMessages, base: int,
                 seg_meta: PacketRows) -> None:
        """The messages the streams completed; their bytes (``done.data``) sit at ``base`` of
        the side buffer."""
        done = _by_frame(done)
        dns, opts = _decode_dns(done.data, done.offset, done.length, self.jit)
        if base:
            qname_at = dns[dm.D_QNAME_OFF]
            dns[dm.D_QNAME_OFF] = np.where(qname_at >= 0, qname_at + base, -1)
        meta = _tcp_meta(done, seg_meta)
        msgs.add(done.last_row, meta[0], meta[1], meta[2], dns, opts,
                 done.offset + base, done.length, buf_id=1, tcp=True,
                 first_rows=done.first_row,
                 order=np.arange(len(done), dtype=np.int64) + 1_000_000)

    def close(self, msgs: _Messages, side: np.ndarray | None = None) -> Decoded:
        """End every stream and fragment set; the decoded capture with ``msgs`` (and the side
        buffer of the last :meth:`feed`; with ``keep_side``, the whole side buffer) and the
        side tables. Streams' gaps still open are skipped now: the messages after them are
        added to ``msgs``."""
        done, tcp = self.tcp.close()
        if len(done):
            if self.keep_side:
                self._add_tcp(msgs, done, self.side_size, self.kept_meta)
                self.sides.append(done.data)
                self.side_size += len(done.data)
            else:
                before = _joined([]) if side is None else side
                self._add_tcp(msgs, done, len(before), self.kept_meta)
                side = _joined([before, done.data])
        if self.keep_side:
            side = self.whole_side()
        if side is None:
            side = _joined([])
        icmp = tuple(np.concatenate(c) for c in zip(*self.icmp_parts, strict=True)) \
            if self.icmp_parts else (
                np.zeros(0, np.int64), np.zeros((0, pk.NCOL), np.int64),
                *(np.zeros((0, 16), np.uint8) for _ in range(4)))
        assert self.index is not None, "SecondStage.close needs the capture's index"
        frag_notes, frag_rows = self.fragments.notes()
        tunnels: dict[int, int] = {}
        if self.tunnels:
            both = np.concatenate(self.tunnels, axis=1)
            both = both[:, np.argsort(both[1], kind="stable")]
            codes, first, counts = np.unique(both[0], return_index=True, return_counts=True)
            tunnels = dict(zip(codes.tolist(), counts.tolist(), strict=True))
            frag_notes = [f"{n:,} frame(s) of {pk.unknown_tunnel_name(c)} not decoded "
                          f"{UNOPENED}"
                          for c, n in tunnels.items()] + frag_notes
            frag_rows = both[1, first].tolist() + frag_rows  # each one's first frame
        fragment_table = self.fragments.table()
        fragment_table.inner = self.fragments.inner(self.interest)
        return Decoded(self.index, msgs, side, icmp, fragment_table,  # type: ignore[arg-type]
                       self.control, frag_notes + tcp.notes, self.jit, tcp.retransmitted_rows,
                       frag_rows + tcp.note_rows, tcp.mid_stream_rows, tunnels,
                       np.unique(np.concatenate(tcp.carried)) if tcp.carried
                       else np.zeros(0, np.int64))


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """uint8 parts as one array (the part itself when it is the only one: no copy)."""
    if len(parts) == 1:
        return np.asarray(parts[0], dtype=np.uint8)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)


def _collect(buf: Any, rows: np.ndarray, out: np.ndarray, src: np.ndarray, dst: np.ndarray,
             qsrc: np.ndarray, qdst: np.ndarray, msgs: _Messages,
             icmp_parts: list[tuple[np.ndarray, ...]], frag_rows: list[FragmentRows],
             segments: list[Segments],
             control: PacketRows, seg_meta: PacketRows, buf_id: int,
             jit: bool, fragments: np.ndarray | None = None,
             first_rows: np.ndarray | None = None, decoded: Walked | None = None,
             tunnels: list[np.ndarray] | None = None,
             snapped: np.ndarray | None = None) -> None:
    """``snapped``: per row, the record was cut by the snap length (captured < original)."""
    kind = out[:, pk.C_KIND]
    # the few packets that are not UDP DNS messages: listed by the fused kernel, else found in
    # one scan (the kinds are a strided column of the row-major table: gathered once)
    others = decoded.others if decoded is not None else np.flatnonzero(
        np.ascontiguousarray(kind) != pk.UDP_DNS)
    other_kind = kind[others]
    if decoded is not None:  # the UDP messages came decoded with the walk
        if len(decoded.udp):
            msgs.add(rows[decoded.udp], decoded.pk, decoded.msg_src, decoded.msg_dst,
                     decoded.dns, decoded.opts, decoded.msg_off,
                     decoded.pk[_KEEP_AT[pk.C_PAYLEN]], buf_id=buf_id)
    else:
        udp = np.flatnonzero(np.ascontiguousarray(kind) == pk.UDP_DNS)
        if len(udp):
            off = out[udp, pk.C_PAYOFF]
            length = out[udp, pk.C_PAYLEN]
            dns, opts = _decode_dns(buf, off, length, jit)
            msgs.add(rows[udp], _gather_columns(out, pk.MSG_COLS, udp), src[udp], dst[udp],
                     dns, opts, off, length, buf_id=buf_id,
                     first_rows=None if first_rows is None else first_rows[udp],
                     fragments=None if fragments is None else fragments[udp])
    unopened = others[other_kind == pk.TUNNEL_UNKNOWN]
    if len(unopened) and tunnels is not None:
        # the code of each, and its packet row
        tunnels.append(np.stack([out[unopened, pk.C_TUNNEL_ID], rows[unopened]]))
    icmp = others[other_kind == pk.ICMP_ERROR]
    if len(icmp):
        icmp_parts.append((rows[icmp], out[icmp], src[icmp], dst[icmp], qsrc[icmp], qdst[icmp]))
    fi = others[other_kind == pk.FRAGMENT]
    if len(fi):  # whole arrays: header columns, addresses, the IP header, the payload
        sub = out[fi]
        ip_off, pay_off = sub[:, pk.C_IPOFF], sub[:, pk.C_PAYOFF]
        length = np.maximum(sub[:, pk.C_L4END] - pay_off, 0)
        at = np.minimum(ip_off[:, None] + np.arange(HEADER_ROOM), max(len(buf) - 1, 0))
        hdr = np.asarray(buf)[at] if len(buf) else np.zeros((len(fi), HEADER_ROOM), np.uint8)
        hdr_len = np.where(sub[:, pk.C_FAMILY] == 4, np.minimum(pay_off - ip_off, HEADER_ROOM),
                           40)
        # a fragment the snap length cut still came whole over the wire: its set is covered
        # by the length its IP header claims (the bytes past the cut are not in the file);
        # a header that claims more in a record not cut is a lie, not evidence (kept as is)
        claimed = length
        if snapped is not None:
            said = sub[:, pk.C_IPSIZE] - (pay_off - ip_off)
            claimed = np.where(snapped[fi] & (said > length), said, length)
        frag_rows.append(FragmentRows(rows[fi], np.ascontiguousarray(sub), src[fi], dst[fi],
                                      np.ascontiguousarray(hdr), hdr_len,
                                      np.cumsum(length) - length, length,
                                      gathered(buf, np.ascontiguousarray(pay_off), length, jit),
                                      claimed=np.ascontiguousarray(claimed)))
    ti = others[other_kind == pk.TCP_SEG]
    if len(ti):  # a few packets: plain Python from here, fed from whole-array gathers

        sub, s_src, s_dst = out[ti], src[ti], dst[ti]
        flags = sub[:, pk.C_TCPFLAGS]
        seg_meta.add(rows[ti], sub, s_src, s_dst, flags)
        ctrl = np.flatnonzero(flags & (SYN | FIN | RST))
        control.add(rows[ti][ctrl], sub[ctrl], s_src[ctrl], s_dst[ctrl], flags[ctrl])
        # the stream reassembly needs only segments that carry bytes or open a stream: a bare
        # ACK / FIN / RST changes nothing there (the control table above keeps FIN and RST)
        feed = np.flatnonzero((sub[:, pk.C_PAYLEN] > 0) | ((flags & SYN) != 0))
        if not len(feed):
            return
        sub, s_src, s_dst, flags = sub[feed], s_src[feed], s_dst[feed], flags[feed]
        length = np.ascontiguousarray(sub[:, pk.C_PAYLEN])
        segments.append(Segments(
            rows[ti][feed], make_key(sub[:, pk.C_FAMILY], s_src, s_dst, sub[:, pk.C_SPORT],
                                     sub[:, pk.C_DPORT]),
            np.ascontiguousarray(sub[:, pk.C_SEQ]), np.ascontiguousarray(flags),
            np.cumsum(length) - length, length,
            gathered(buf, np.ascontiguousarray(sub[:, pk.C_PAYOFF]), length, jit)))


_KEEP_AT = {c: j for j, c in enumerate(pk.MSG_COLS)}


def _gather_columns(out: np.ndarray, columns: tuple[int, ...], rows: np.ndarray) -> np.ndarray:
    """``out[rows][:, columns].T`` -- a column-major ``(len(columns), len(rows))`` copy -- one
    contiguous 1-D gather per column (a 2-D fancy gather is several times slower)."""
    picked = np.empty((len(columns), len(rows)), dtype=out.dtype)
    for j, c in enumerate(columns):
        np.take(out[:, c], rows, out=picked[j])
    return picked


def _by_frame(done: TcpMessages) -> TcpMessages:
    """The messages in the order of the segments that completed them (stable: one segment's
    messages -- RFC 7766 s6.2.1.1 lets a sender put several in it -- keep their stream order).
    The reassembler gives them stream by stream; the message table is in frame order, so
    decoded in that order their columns are written in place, not each scattered into it."""
    rows = done.last_row
    if len(rows) < 2 or bool(np.all(rows[1:] >= rows[:-1])):
        return done
    o = np.argsort(rows, kind="stable")
    return TcpMessages(done.data, done.offset[o], done.length[o], done.first_row[o], rows[o],
                       done.stream[o])


def _tcp_meta(done: TcpMessages, seg_meta: PacketRows
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The header-walk columns (column-major: ``(len(MSG_COLS), n)``) and addresses of each
    TCP message's last segment, gathered a column at a time."""
    rows, walked, src, dst, _flags = seg_meta.arrays()
    at = np.searchsorted(rows, done.last_row)
    out = np.empty((len(pk.MSG_COLS), len(at)), dtype=np.int64)
    for j in range(len(pk.MSG_COLS)):
        np.take(walked[:, j], at, out=out[j])
    out[pk.MSG_COLS.index(pk.C_WIRELEN)] = done.length
    out[pk.MSG_COLS.index(pk.C_PAYLEN)] = done.length
    return out, _rows16(src, at), _rows16(dst, at)


def _rows16(a: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``a[at]`` for 16-byte address rows, gathered as one 16-byte item each."""
    items = np.ascontiguousarray(a).view(np.dtype((np.void, 16))).ravel()
    picked: np.ndarray = items[at].view(np.uint8).reshape(len(at), 16)
    return picked


@dataclass
class FragmentRows:
    """IP fragments as arrays: packet rows, the header walk's columns, addresses, the first
    :data:`.ip.HEADER_ROOM` bytes of the IP header (and its length), the payloads gathered."""

    row: np.ndarray
    pk: np.ndarray  # (n, NCOL)
    src: np.ndarray
    dst: np.ndarray
    hdr: np.ndarray  # (n, HEADER_ROOM) uint8
    hdr_len: np.ndarray
    dstart: np.ndarray
    length: np.ndarray
    data: np.ndarray
    flags: np.ndarray | None = None  # CARRIED: from the previous batch
    # the payload length the IP header claims, where the snap length cut the record (else
    # ``length``): what the set's coverage counts
    claimed: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.row)

    def claimed_length(self) -> np.ndarray:
        return self.length if self.claimed is None else self.claimed

    @staticmethod
    def join(parts: list[FragmentRows]) -> FragmentRows | None:
        parts = [p for p in parts if len(p)]
        if not parts:
            return None
        if len(parts) == 1 and parts[0].flags is not None:
            return parts[0]
        base = np.cumsum([0] + [len(p.data) for p in parts[:-1]])
        row, pk_, src, dst, hdr, hdr_len = (
            np.concatenate([getattr(p, name) for p in parts])
            for name in ("row", "pk", "src", "dst", "hdr", "hdr_len"))
        return FragmentRows(
            row, pk_, src, dst, hdr, hdr_len,
            np.concatenate([p.dstart + b for p, b in zip(parts, base, strict=True)]),
            np.concatenate([p.length for p in parts]),
            np.concatenate([p.data for p in parts]),
            np.concatenate([p.flags if p.flags is not None else np.zeros(len(p), np.int64)
                            for p in parts]),
            np.concatenate([p.claimed_length() for p in parts]))


@dataclass
class Datagrams:
    """Datagrams rebuilt by one batch: their bytes one after another, (offset, length), the
    completing row, the fragment count and the carrier (VLAN, encapsulation, tunnel id of the
    completing fragment; first row of the set) as an (n, 4) array."""

    data: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    row: np.ndarray
    count: np.ndarray
    carrier: np.ndarray


@dataclass
class FragmentTable:
    """One row per fragment (row, header-walk columns, addresses, size, set instance) and per
    instance: the completing row (-1: never), fragments seen, duplicates."""

    row: np.ndarray
    pk: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    size: np.ndarray
    inst: np.ndarray
    done_row: np.ndarray
    seen: np.ndarray
    dups: np.ndarray
    # row -> (family, source, destination, ports) a lost set's tunnelled first fragment carries
    inner: dict[int, tuple[int, bytes, bytes, int, int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.row)


class Fragments:
    """Fragment sets (RFC 791 s3.2, RFC 8200 s4.5), fed batch after batch in capture order to
    a compiled kernel (:func:`.ip.reassemble_fragments`); between batches only the fragments
    of sets still open are carried (a set that never completes is carried to the end, as a
    receiver would until its reassembly timer fires). No object per fragment."""

    def __init__(self, jit: bool) -> None:
        self.jit = jit
        self.sets = KeyIds(38)  # family, addresses, IP id, protocol -> the set's key id
        self.cur = np.full(64, -1, dtype=np.int64)
        self.inst = np.zeros((4, 64), dtype=np.int64)  # done_row, seen, dups, oversize
        self.inst[0] = -1
        self.n_inst = 0
        self.carry: FragmentRows | None = None
        self.parts: list[tuple[np.ndarray, ...]] = []

    def _keys(self, f: FragmentRows) -> np.ndarray:
        n = len(f)
        key = np.zeros((n, 38), dtype=np.uint8)
        fam = f.pk[:, pk.C_FAMILY]
        key[:, 0] = fam
        key[:, 1:17] = f.src
        key[:, 17:33] = f.dst
        ident = f.pk[:, pk.C_IPID]
        for b in range(4):
            key[:, 33 + b] = (ident >> (8 * (3 - b))) & 0xFF
        key[:, 37] = np.where(fam == 4, f.pk[:, pk.C_PROTO], 0)
        kid = self.sets.ids(key)
        if len(self.sets) > len(self.cur):
            grown = np.full(max(len(self.sets), 2 * len(self.cur)), -1, dtype=np.int64)
            grown[:len(self.cur)] = self.cur
            self.cur = grown
        return kid

    def feed(self, batches: list[FragmentRows]) -> Datagrams | None:
        """One batch's fragments (in row order) -> the datagrams they complete."""
        from .ip import reassemble_fragments

        new = FragmentRows.join(batches)
        if new is not None:
            n_new = len(new)
            self.parts.append((new.row, new.pk, new.src, new.dst, new.length))
        f = FragmentRows.join([x for x in (self.carry, new) if x is not None])
        if f is None:
            return None
        n = len(f)
        kid = self._keys(f)
        order = np.lexsort((f.row, kid))
        need = self.n_inst + n
        if need > self.inst.shape[1]:
            grown = np.zeros((4, max(need, 2 * self.inst.shape[1])), dtype=np.int64)
            grown[0] = -1
            grown[:, :self.inst.shape[1]] = self.inst
            self.inst = grown
        claimed = f.claimed_length()
        # a datagram's bytes end at its first cut: never more than the captured bytes
        out = np.empty(int(f.length.sum()) + n * (HEADER_ROOM + 8) + 64, dtype=np.uint8)
        dg = np.empty((n, 6), dtype=np.int64)
        frag_inst = np.full(n, -1, dtype=np.int64)
        left = np.empty(n, dtype=np.int64)
        flags = f.flags if f.flags is not None else np.zeros(n, np.int64)
        self.n_inst, nd, _w, nl = (int(x) for x in kernel(reassemble_fragments, self.jit)(
            f.data, f.hdr[order], f.hdr_len[order], f.pk[order, pk.C_FAMILY],
            f.pk[order, pk.C_PROTO], kid[order], f.row[order], f.pk[order, pk.C_FRAGOFF],
            f.pk[order, pk.C_MF], flags[order], f.dstart[order], f.length[order],
            claimed[order], self.cur,
            self.inst[0], self.inst[1], self.inst[2], self.inst[3], self.n_inst,
            np.zeros(UNITS, np.int64), np.zeros(UNITS, np.int64), np.zeros(n, np.int64), out,
            dg, frag_inst, left))
        # each new fragment's instance, for the fragment table (carried ones have theirs)
        inst_of = np.empty(n, dtype=np.int64)
        inst_of[order] = frag_inst
        if new is not None:
            self.parts[-1] = (*self.parts[-1], inst_of[n - n_new:])
        keep = order[left[:nl]]
        self.carry = FragmentRows(
            f.row[keep], f.pk[keep], f.src[keep], f.dst[keep], f.hdr[keep], f.hdr_len[keep],
            np.cumsum(f.length[keep]) - f.length[keep], f.length[keep],
            gathered(f.data, f.dstart[keep], f.length[keep], self.jit),
            np.full(len(keep), CARRIED, dtype=np.int64), claimed[keep]) if nl else None
        if not nd:
            return None
        d = dg[:nd]
        done = order[d[:, 2]]
        carrier = np.stack([f.pk[done, pk.C_VLAN], f.pk[done, pk.C_ENCAP],
                            f.pk[done, pk.C_TUNNEL_ID], d[:, 4]], axis=1)
        used = int((d[:, 0] + d[:, 1]).max())
        return Datagrams(out[:used], d[:, 0].copy(), d[:, 1].copy(), f.row[done],
                         d[:, 3].copy(), carrier)

    def inner(self, interest: np.ndarray) -> dict[int, tuple[int, bytes, bytes, int, int]]:
        """The sets still open (never completed): what each tunnelled first fragment carries
        (:func:`.packets.inner_of_first_fragment`), by its row."""
        c = self.carry
        found: dict[int, tuple[int, bytes, bytes, int, int]] = {}
        if c is None:
            return found
        for k in np.flatnonzero(c.pk[:, pk.C_FRAGOFF] == 0).tolist():
            a = int(c.dstart[k])
            got = pk.inner_of_first_fragment(int(c.pk[k, pk.C_FAMILY]), int(c.pk[k, pk.C_PROTO]),
                                             bytes(c.data[a:a + int(c.length[k])]), interest)
            if got is not None:
                found[int(c.row[k])] = got
        return found

    def notes(self) -> tuple[list[str], list[int]]:
        """What the fragment sets could not give, said (and the row each note is about)."""
        from .ip import OVERLAP

        flags = self.inst[3, :self.n_inst]
        said: list[str] = []
        at: list[int] = []
        for flag, text in ((1, "IP fragment set(s) reassemble past 65,535 bytes (no IP "
                               "datagram is that long: RFC 791 s3.1, RFC 8200 s4.5): "
                               "malformed, not decoded"),
                           (OVERLAP, "IPv6 fragment set(s) hold overlapping fragments: "
                                     "discarded whole, as a receiver must (RFC 5722 s4, RFC "
                                     "8200 s4.5) -- their datagrams never reached it")):
            which = np.flatnonzero(flags == flag)
            if len(which):
                table = self.table()
                rows = table.row[np.isin(table.inst, which)]
                said.append(f"{len(which):,} {text}")
                at.append(int(rows.max()) if len(rows) else -1)
        return said, at

    def table(self) -> FragmentTable:
        """One row per fragment, in row order, with its set's fate."""
        if not self.parts:
            z = np.zeros(0, np.int64)
            return FragmentTable(z, np.zeros((0, pk.NCOL), np.int64), np.zeros((0, 16), np.uint8),
                                 np.zeros((0, 16), np.uint8), z, z, z, z, z)
        row, pk_, src, dst, size, inst = (np.concatenate(c) for c in zip(*self.parts,
                                                                         strict=True))
        done, seen, dups = (self.inst[k, :self.n_inst] for k in range(3))
        if len(row) > 1 and not bool((row[1:] >= row[:-1]).all()):
            # (each batch's fragments come in row order, batches in order: most often sorted)
            order = np.argsort(row, kind="stable")
            row, pk_, src, dst, size, inst = (c[order] for c in (row, pk_, src, dst, size,
                                                                 inst))
        return FragmentTable(row, pk_, src, dst, size, inst, done, seen, dups)


def read_native(path: Any, *, ports: tuple[int, ...] = (), jit: bool | None = None,
                on_records: Callable[[int], None] | None = None,
                vxlan_ports: tuple[int, ...] = (pk.PORT_VXLAN,)) -> Any:
    """The capture's tables (:class:`.table.CaptureTables`) from the native engine;
    ``vxlan_ports``: UDP ports carrying VXLAN (4789 by default)."""
    return tables_of(decode(path, ports=ports, jit=jit, on_records=on_records,
                            vxlan_ports=vxlan_ports), str(path))


def _last_time(times: np.ndarray) -> float:
    """The latest time of the records (NaN: none has one)."""
    finite = times[np.isfinite(times)] if len(times) else times
    return float(finite.max()) if len(finite) else float("nan")


def tables_of(d: Decoded, path: str) -> Any:
    """The tables of a decoded capture (the index is closed afterwards)."""
    from . import table

    try:
        warnings = list(d.notes)
        frames: list[int | None] = [r + 1 if r >= 0 else None for r in d.note_rows]
        frames += [None] * (len(warnings) - len(frames))
        for note in reversed(d.index.notes):
            warnings.insert(0, note)
            frames.insert(0, None)
        if d.index.damage:
            warnings.insert(0, f"the capture is damaged: {d.index.damage}")
            frames.insert(0, None)
        from .links import NFLOG, NFLOG_BIG

        types = d.index.link_type
        links = np.bincount(np.where(types == NFLOG_BIG, NFLOG, types), minlength=1) \
            if d.index.frames else np.zeros(0)
        return table.CaptureTables(
            path, "native", table.message_columns(d), table.fragment_columns(d),
            table.icmp_columns(d), table.tcp_columns(d), d.index.frames,
            d.index.capture_filter, warnings,
            {int(t): int(c) for t, c in enumerate(links) if c},
            [r + 1 for r in d.retransmitted_rows], frames,
            [r + 1 for r in d.mid_stream_rows],
            None if d.index.gzipped else d.index.intact,
            {pk.unknown_tunnel_name(c): n for c, n in d.tunnels.items()},
            _last_time(d.index.time))
    finally:
        d.index.close()
