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
from .dns_message import decode_one
from .files import RecordIndex, open_capture
from .ip import FragmentSet, rebuild_ipv4, rebuild_ipv6
from .jit import kernel, want_jit
from .links import RAW
from .packets import C_KIND, C_PAYLEN, C_PAYOFF, UDP_DNS, walk_one
from .tcp import FIN, RST, SYN, Reassembler, Segments, TcpMessages, gathered, make_key
from .tcp import concat as concat_segments

BLOCK = 1 << 16  # records per header-walk call


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
    side: bytes
    icmp: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    fragments: list[dict[str, Any]]
    tcp_control: PacketRows
    notes: list[str]
    jit: bool
    retransmitted_rows: list[int] = field(default_factory=list)
    note_rows: list[int] = field(default_factory=list)  # the row each note is about
    mid_stream_rows: list[int] = field(default_factory=list)
    tunnels: dict[int, int] = field(default_factory=dict)  # unopened tunnel code -> frames


def _decode_dns(buf: Any, off: np.ndarray, length: np.ndarray, jit: bool
                ) -> tuple[np.ndarray, np.ndarray]:
    """The messages' :data:`.dns_message.DCOL` integers, column-major ``(DCOL, n)`` (the
    kernel writes row ``i`` of the transposed view: a column is contiguous), and options."""
    n = len(off)
    columns = np.zeros((dm.DCOL, n), dtype=np.int64)
    opts = np.empty((n, dm.MAX_OPTS), dtype=np.int64)
    if n:
        kernel(dm.decode_messages, jit)(buf if jit else memoryview(buf), off, length,
                                        columns.T, opts)
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
    """Decode every packet of ``path`` (see module docs)."""
    from pathlib import Path

    size = Path(path).stat().st_size if Path(path).is_file() else 0
    use_jit = want_jit(size, jit)
    # every page is read again by the header walk right away: none handed back in between
    return decode_index(open_capture(path, jit=use_jit, release_walked=False), ports=ports,
                        jit=use_jit, on_records=on_records, vxlan_ports=vxlan_ports)


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
        joined = [np.concatenate(c) for c in zip(*self.parts, strict=True)]
        order = np.argsort(joined[0], kind="stable")
        self.parts = [tuple(c[order] for c in joined)]
        return self.parts[0]


@dataclass
class Pending:
    """What the header walk leaves for the second stage: the few packets that need whole-capture
    context (IP fragments, TCP segments of DNS connections) and ICMP errors."""

    icmp_parts: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    frag_rows: list[dict[str, Any]] = field(default_factory=list)
    segments: list[Segments] = field(default_factory=list)  # TCP, payloads gathered
    control: PacketRows = field(default_factory=PacketRows)  # SYN / FIN / RST
    seg_meta: PacketRows = field(default_factory=PacketRows)  # every TCP segment
    tunnels: list[np.ndarray] = field(default_factory=list)  # codes of unopened tunnels


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
              stage: SecondStage | None = None) -> None:
    """The header walk and DNS decoding of records ``lo..hi``: their UDP messages into
    ``messages``, fragments, TCP segments and ICMP errors into ``pending`` -- or, with a
    ``stage``, fed to it block by block (what they complete into ``messages``)."""
    use_jit = jit
    buf = index.buf
    links = index.link_type
    interest = pk.interest_table(ports, vxlan_ports)
    starts = list(range(lo, hi, BLOCK))

    # both cores: compiled blocks (walk + DNS decoding, without the GIL) run in two threads,
    # two blocks ahead, while the blocks done are collected here; each takes a scratch from
    # the queue and the collector gives it back
    ahead = 2 if use_jit else 0
    free: Queue[Scratch] = Queue()
    for _ in range(ahead + 1 if len(starts) > 1 else 0):
        free.put(Scratch(BLOCK))

    def walk(start: int) -> Walked:
        stop = min(start + BLOCK, hi)
        scratch = free.get() if use_jit and len(starts) > 1 else None
        walked = _walk_decode(buf, index.offset[start:stop], index.caplen[start:stop],
                              links[start:stop], interest, use_jit, scratch)
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
                     tunnels=batch.tunnels)
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

    def __init__(self, index: RecordIndex, *, ports: tuple[int, ...], jit: bool,
                 vxlan_ports: tuple[int, ...] = (pk.PORT_VXLAN,),
                 keep_side: bool = False) -> None:
        self.index = index
        self.jit = jit
        # keep_side: one side buffer for every batch (:meth:`whole_side`), offsets into it;
        # else each batch's own (a capture in pieces keeps nothing between them)
        self.keep_side = keep_side
        self.sides: list[bytes] = []
        self.side_size = 0
        self.interest = pk.interest_table(ports, vxlan_ports)
        self.tunnels: list[np.ndarray] = []
        self.fragments = _Fragments()
        self.tcp = Reassembler(jit=jit)
        self.kept_meta = PacketRows()  # header-walk rows of the TCP segments carried
        self.control = PacketRows()
        self.icmp_parts: list[tuple[np.ndarray, ...]] = []

    def whole_side(self) -> bytes:
        """Every batch's side buffer, one after another (``keep_side``)."""
        return b"".join(self.sides)

    def feed(self, msgs: _Messages, pending: Pending) -> bytes:
        """Rebuild what ``pending`` (one batch) completes: messages into ``msgs``; returns the
        side buffer their bytes are in (``buf_id`` 1) -- with ``keep_side``, b"": their
        offsets point into :meth:`whole_side`."""
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
            return b""
        return side

    def _feed(self, msgs: _Messages, pending: Pending) -> bytes:
        use_jit, interest = self.jit, self.interest
        segments, seg_meta = pending.segments, pending.seg_meta
        self.icmp_parts += pending.icmp_parts
        self.tunnels += pending.tunnels
        self.control.parts += pending.control.parts
        side = bytearray()
        # -- IP reassembly: rebuilt datagrams go through the header walk again -------------
        datagrams = self.fragments.feed(pending.frag_rows)
        if datagrams:
            offs, lens, done_rows, counts, outer = [], [], [], [], []
            for row, data, count, carrier in datagrams:
                outer.append(carrier)
                offs.append(len(side))
                lens.append(len(data))
                side += data
                done_rows.append(row)
                counts.append(count)
            side_arr = np.frombuffer(bytes(side), dtype=np.uint8)
            out, src, dst, qsrc, qdst = _walk(side_arr, np.array(offs, dtype=np.int64),
                                              np.array(lens, dtype=np.int64),
                                              np.full(len(offs), RAW, dtype=np.int32),
                                              interest, use_jit)
            # what the rebuilt datagram lost: the link and tunnel of the fragment completing it
            carried = np.array(outer, dtype=np.int64).reshape(-1, 4)
            for col, k in ((pk.C_VLAN, 0), (pk.C_ENCAP, 1), (pk.C_TUNNEL_ID, 2)):
                keep = carried[:, k] if col != pk.C_ENCAP else np.maximum(out[:, col],
                                                                          carried[:, k])
                out[:, col] = np.where(out[:, col] > 0, out[:, col], keep) \
                    if col == pk.C_ENCAP else np.where(out[:, col] >= 0, out[:, col], keep)
            more = PacketRows()
            _collect(side_arr, np.array(done_rows, dtype=np.int64), out, src, dst, qsrc, qdst,
                     msgs, self.icmp_parts, [], segments, more, seg_meta, 1, use_jit,
                     fragments=np.array(counts, dtype=np.int64), first_rows=carried[:, 3],
                     tunnels=self.tunnels)
            self.control.parts += more.parts
        # -- TCP streams ---------------------------------------------------------------------
        done = self.tcp.feed(concat_segments(segments))
        meta = PacketRows(self.kept_meta.parts + seg_meta.parts)
        base = len(side)
        if len(done):
            side += done.data.tobytes()
            self._add_tcp(msgs, done, base, meta)
        # the header-walk rows of the segments carried to the next batch (a message they
        # complete at the end needs them); nothing else is kept
        if len(self.tcp.carry) or self.kept_meta.parts:
            rows, *rest = meta.arrays()
            keep = np.isin(rows, self.tcp.carry.row)
            self.kept_meta = PacketRows([tuple(c[keep] for c in (rows, *rest))])
        return bytes(side)

    def _add_tcp(self, msgs: _Messages, done: TcpMessages, base: int,
                 seg_meta: PacketRows) -> None:
        """The messages the streams completed; their bytes (``done.data``) sit at ``base`` of
        the side buffer."""
        dns, opts = _decode_dns(done.data, done.offset, done.length, self.jit)
        if base:
            qname_at = dns[dm.D_QNAME_OFF]
            dns[dm.D_QNAME_OFF] = np.where(qname_at >= 0, qname_at + base, -1)
        meta = _tcp_meta(done, seg_meta)
        msgs.add(done.last_row, meta[0], meta[1], meta[2], dns, opts,
                 done.offset + base, done.length, buf_id=1, tcp=True,
                 first_rows=done.first_row,
                 order=np.arange(len(done), dtype=np.int64) + 1_000_000)

    def close(self, msgs: _Messages, side: bytes = b"") -> Decoded:
        """End every stream and fragment set; the decoded capture with ``msgs`` (and the side
        buffer of the last :meth:`feed`; with ``keep_side``, the whole side buffer) and the
        side tables. Streams' gaps still open are skipped now: the messages after them are
        added to ``msgs``."""
        done, tcp = self.tcp.close()
        if len(done):
            if self.keep_side:
                self._add_tcp(msgs, done, self.side_size, self.kept_meta)
                self.sides.append(done.data.tobytes())
                self.side_size += len(done.data)
            else:
                self._add_tcp(msgs, done, len(side), self.kept_meta)
                side = side + done.data.tobytes()
        if self.keep_side:
            side = self.whole_side()
        icmp = tuple(np.concatenate(c) for c in zip(*self.icmp_parts, strict=True)) \
            if self.icmp_parts else (
                np.zeros(0, np.int64), np.zeros((0, pk.NCOL), np.int64),
                *(np.zeros((0, 16), np.uint8) for _ in range(4)))
        frag_notes, frag_rows = self.fragments.notes()
        tunnels: dict[int, int] = {}
        if self.tunnels:
            codes, counts = np.unique(np.concatenate(self.tunnels), return_counts=True)
            tunnels = dict(zip(codes.tolist(), counts.tolist(), strict=True))
            frag_notes = [f"{n:,} frame(s) of {pk.unknown_tunnel_name(c)} not decoded (an "
                          "encapsulation the native decoder does not open)"
                          for c, n in tunnels.items()] + frag_notes
            frag_rows = [-1] * len(tunnels) + frag_rows
        return Decoded(self.index, msgs, side, icmp, self.fragments.table(),  # type: ignore[arg-type]
                       self.control, frag_notes + tcp.notes, self.jit, tcp.retransmitted_rows,
                       frag_rows + tcp.note_rows, tcp.mid_stream_rows, tunnels)


def _collect(buf: Any, rows: np.ndarray, out: np.ndarray, src: np.ndarray, dst: np.ndarray,
             qsrc: np.ndarray, qdst: np.ndarray, msgs: _Messages,
             icmp_parts: list[tuple[np.ndarray, ...]], frag_rows: list[dict[str, Any]],
             segments: list[Segments],
             control: PacketRows, seg_meta: PacketRows, buf_id: int,
             jit: bool, fragments: np.ndarray | None = None,
             first_rows: np.ndarray | None = None, decoded: Walked | None = None,
             tunnels: list[np.ndarray] | None = None) -> None:
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
        tunnels.append(out[unopened, pk.C_TUNNEL_ID])
    icmp = others[other_kind == pk.ICMP_ERROR]
    if len(icmp):
        icmp_parts.append((rows[icmp], out[icmp], src[icmp], dst[icmp], qsrc[icmp], qdst[icmp]))
    fi = others[other_kind == pk.FRAGMENT]
    if len(fi):  # plain Python lists and bytes from here: a few thousand fragments
        view = memoryview(buf)
        sub = out[fi]
        ip_off, pay_off, end = (sub[:, c].tolist() for c in (pk.C_IPOFF, pk.C_PAYOFF,
                                                            pk.C_L4END))
        srcs, dsts = src[fi].tobytes(), dst[fi].tobytes()
        for k, (r, o, a, b, e) in enumerate(zip(rows[fi].tolist(), sub.tolist(), ip_off,
                                                 pay_off, end, strict=True)):
            frag_rows.append({"row": r, "pk": o, "src": srcs[16 * k:16 * k + 16],
                              "dst": dsts[16 * k:16 * k + 16], "data": view[b:e].tobytes(),
                              "header": view[a:b].tobytes(), "fixed": view[a:a + 40].tobytes()})
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


MAX_DATAGRAM = 65535
Datagram = tuple[int, bytes, int, tuple[int, int, int, int]]  # row, bytes, fragments, carrier


class _Fragments:
    """Fragment sets, fed in capture order: a completed set gives its datagram and drops its
    bytes (a later fragment with the same identification starts a new set); the fragment table
    (one row per fragment, with its datagram's fate) is made at the end."""

    def __init__(self) -> None:
        self.sets: dict[tuple[Any, ...], FragmentSet] = {}
        self.rows: list[dict[str, Any]] = []
        self.oversize: list[int] = []  # rows completing a set past 65,535 bytes

    def notes(self) -> tuple[list[str], list[int]]:
        """What the fragment sets could not give, said (and the row each note is about)."""
        if not self.oversize:
            return [], []
        return ([f"{len(self.oversize):,} IP fragment set(s) reassemble past 65,535 bytes "
                 "(no IP datagram is that long: RFC 791 s3.1, RFC 8200 s4.5): malformed, not "
                 "decoded"], [self.oversize[0]])

    def feed(self, rows: list[dict[str, Any]]) -> list[Datagram]:
        """Fragments -> the datagrams they complete: (completing row, rebuilt datagram,
        fragment count, carrier)."""
        datagrams: list[Datagram] = []
        for r in rows:
            o = r["pk"]  # the header walk's columns, a list of ints
            family = o[pk.C_FAMILY]
            key = (family, r["src"], r["dst"], o[pk.C_IPID], o[pk.C_PROTO] if family == 4 else 0)
            s = self.sets.get(key)
            if s is None or s.done_at is not None:
                s = self.sets[key] = FragmentSet(key)
            offset = o[pk.C_FRAGOFF]
            if offset == 0:
                s.header = r["header"] if family == 4 else r["fixed"]
                s.proto = o[pk.C_PROTO]
            if s.add(r["row"], offset, bool(o[pk.C_MF]), r["data"]) and s.header:
                payload = s.payload()
                if len(payload) + (len(s.header) if family == 4 else 0) > MAX_DATAGRAM:
                    # RFC 791 s3.1 / RFC 8200 s4.5: no datagram is longer; a malformed set
                    # (the rows stay in the fragment table, incomplete)
                    self.oversize.append(r["row"])
                    s.done_at, s.header = None, b""
                    s.pieces = {}
                    s.total = -1  # never completes again
                    self.rows.append({"row": r["row"], "set": s, "pk": o, "src": r["src"],
                                      "dst": r["dst"], "size": len(r["data"])})
                    continue
                data = (rebuild_ipv4(s.header, payload) if family == 4
                        else rebuild_ipv6(s.header, s.proto, payload))
                datagrams.append((r["row"], data, len(s.rows),
                                  (o[pk.C_VLAN], o[pk.C_ENCAP], o[pk.C_TUNNEL_ID],
                                   min(s.rows))))
            if s.done_at is not None:
                s.pieces = {}  # complete: its bytes are in the datagram now
            self.rows.append({"row": r["row"], "set": s, "pk": o, "src": r["src"],
                              "dst": r["dst"], "size": len(r["data"])})
        return datagrams

    def table(self) -> list[dict[str, Any]]:
        table = []
        for t in self.rows:
            s = t.pop("set")
            t["complete"] = s.done_at is not None and bool(s.header)
            t["reassembled_row"] = s.done_at if t["complete"] else None
            t["seen"] = len(s.rows)
            t["duplicates"] = s.duplicates
            table.append(t)
        self.rows = []
        return table


def read_native(path: Any, *, ports: tuple[int, ...] = (), jit: bool | None = None,
                on_records: Callable[[int], None] | None = None,
                vxlan_ports: tuple[int, ...] = (pk.PORT_VXLAN,)) -> Any:
    """The capture's tables (:class:`.table.CaptureTables`) from the native engine;
    ``vxlan_ports``: UDP ports carrying VXLAN (4789 by default)."""
    return tables_of(decode(path, ports=ports, jit=jit, on_records=on_records,
                            vxlan_ports=vxlan_ports), str(path))


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
            {pk.unknown_tunnel_name(c): n for c, n in d.tunnels.items()})
    finally:
        d.index.close()
