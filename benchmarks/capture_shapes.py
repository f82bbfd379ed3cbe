"""The shapes of ordinary DNS traffic, as big synthetic captures for the shape matrix
(benchmarks/bench_shapes.py), written fast.

Each shape is one *block* of about a hundred exchanges built packet by packet (tests/frames.py),
then stamped out block after block with numpy: every block's names made unique (8 digit labels),
and, where the shape needs it, its clients (``many_clients``: 500 k distinct addresses), its IPv4
identifications (``fragments``) and its TCP sequence numbers (``tcp_long``: the same connections
go on block after block). Every packet gets its time (a block's exchanges spread over its slot,
retransmissions 1 s later), then the records are written in time order. The mixed capture merges
every shape's records by time. No Python loop per packet: per block template only.

Shapes (SHAPES): plain UDP; 5 % TC=1 answers never retried; 10 % TC=1 answers retried over TCP
(SYN, SYN-ACK, query, answer, FIN); long TCP connections with 1-8 messages per segment;
retransmitted queries (same id and port, 1 s apart, 1 in 20 never answered); answers in 2-3
IPv4 fragments (1 in 50 fragmented answers losing one); responses only; IPv6 in 802.1Q VLANs;
500 k distinct clients; mDNS mixed in (10 %).
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import frames as F

SHAPES = ("udp", "tc_no_retry", "tc_retry", "tcp_long", "retransmit", "fragments",
          "responses_only", "ipv6_vlan", "many_clients", "mdns")
RATE = 20_000  # packets per second of one shape: its capture spans packets / RATE seconds
START = 1_700_000_000.0
EXCHANGES = 100
DISTINCT_CLIENTS = 500_000
GEN_VERSION = 1  # bump when a shape's bytes change (cached files are named by it)


@dataclass
class Block:
    """One block: frames with their time offsets (seconds from the block's slot start), the
    exchange each belongs to, and what to stamp per block."""
    packets: list[bytes] = field(default_factory=list)
    offsets: list[float] = field(default_factory=list)
    owner: list[int] = field(default_factory=list)
    ip_id: list[int] = field(default_factory=list)  # packets whose IPv4 id is stamped
    seq: list[tuple[int, int]] = field(default_factory=list)  # (packet, advance per block)
    client_marker: Callable[[int], bytes] | None = None  # exchange -> its client's bytes
    prefix: list[bytes] = field(default_factory=list)  # before the first block (handshakes)
    connections: list[tuple[int, int, int]] = field(default_factory=list)  # FINs after
    # the last block: (connection, bytes a block adds client -> server, server -> client)

    def put(self, frame: bytes, at: float, k: int) -> None:
        self.packets.append(frame)
        self.offsets.append(at)
        self.owner.append(k)


def _digits(shape: int, k: int) -> str:
    return f"{9_0000000 + k:08d}"


def _name(shape: int, k: int) -> str:
    return ".".join(_digits(shape, k)) + f".{shape}.1.6.e164.arpa"


def _client(shape: int, k: int) -> str:
    return f"10.{100 + shape}.{k // 256}.{k % 256 + 1}"


def _client6(shape: int, k: int) -> str:
    return f"2001:db8:{100 + shape:x}::{k + 1:x}"


def _server(shape: int) -> str:
    return f"198.18.{shape}.53"


def _eth(datagram: bytes, vlans: tuple[int, ...] = ()) -> bytes:
    return F.link(datagram, F.ETHERNET, vlans=vlans)


def _udp_exchange(b: Block, s: int, k: int, at: float, *, tc: bool = False,
                  answer: bool = True, query: bool = True, records: int = 1) -> None:
    c, srv, name, ident, port = _client(s, k), _server(s), _name(s, k), 1000 + k, 20000 + k
    if query:
        b.put(_eth(F.ipv4(c, srv, 17, F.udp(port, 53, F.query(name, ident=ident)))), at, k)
    if answer:
        r = F.response(name, ident=ident, records=0 if tc else records, tc=tc, edns=1232)
        b.put(_eth(F.ipv4(srv, c, 17, F.udp(53, port, r))), at + 0.0005, k)


def _block(shape: str, slot: float) -> Block:
    """The block of ``shape`` whose exchanges spread over ``slot`` seconds."""
    s = SHAPES.index(shape)
    b = Block()
    dt = slot / EXCHANGES
    for k in range(EXCHANGES):
        at = k * dt
        if shape == "tc_no_retry":
            _udp_exchange(b, s, k, at, tc=k % 20 == 7)
        elif shape == "tc_retry":
            _udp_exchange(b, s, k, at, tc=k % 10 == 3)
            if k % 10 == 3:
                c, srv, name, ident, cp = _client(s, k), _server(s), _name(s, k), 1000 + k, \
                    40000 + k
                tq = F.query(name, ident=ident + 1, edns=None)
                ta = F.response(name, ident=ident + 1, records=12)
                t = at + 0.001
                for d, (src, dst, sp, dp, seq, ack, pay, fl) in enumerate((
                        (c, srv, cp, 53, 100, 0, b"", 0x02),
                        (srv, c, 53, cp, 500, 101, b"", 0x12),
                        (c, srv, cp, 53, 101, 501, struct.pack("!H", len(tq)) + tq, 0x18),
                        (srv, c, 53, cp, 501, 103 + len(tq), struct.pack("!H", len(ta)) + ta,
                         0x18),
                        (c, srv, cp, 53, 103 + len(tq), 503 + len(ta), b"", 0x11))):
                    b.put(_eth(F.ipv4(src, dst, 6, F.tcp(sp, dp, seq, pay, flags=fl, ack=ack))),
                          t + 0.0003 * d, k)
        elif shape == "retransmit":
            lost = k % 20 == 11  # asked three times, never answered
            again = k % 5 == 2 or lost  # asked again 1 s later
            _udp_exchange(b, s, k, at, answer=False)
            if again:
                _udp_exchange(b, s, k, at + 1.0, answer=False)
            if lost:
                _udp_exchange(b, s, k, at + 2.0, answer=False)
            else:
                _udp_exchange(b, s, k, at + (1.0 if again else 0.0), query=False)
        elif shape == "fragments":
            if k % 2:
                _udp_exchange(b, s, k, at)
                continue
            c, srv, name, ident, port = _client(s, k), _server(s), _name(s, k), 1000 + k, \
                20000 + k
            b.put(_eth(F.ipv4(c, srv, 17, F.udp(port, 53, F.query(name, ident=ident)))), at, k)
            records = 10 if k % 4 == 0 else 16  # 2 or 3 fragments of 600 bytes
            answer = F.udp(53, port, F.response(name, ident=ident, records=records, edns=4096))
            pieces = F.fragments_v4(srv, c, 17, answer, 600, ident=0)
            if k == 48:  # 1 in 50 fragmented answers loses its last fragment
                pieces = pieces[:-1]
            for j, piece in enumerate(pieces):
                b.ip_id.append(len(b.packets))
                b.put(_eth(piece), at + 0.0005 + 0.00001 * j, k)
        elif shape == "responses_only":
            _udp_exchange(b, s, k, at, query=False)
        elif shape == "ipv6_vlan":
            c, srv, name, ident, port = _client6(s, k), f"2001:db8:53::{s:x}", _name(s, k), \
                1000 + k, 20000 + k
            b.put(_eth(F.ipv6(c, srv, 17, F.udp(port, 53, F.query(name, ident=ident))),
                       (100 + k % 4,)), at, k)
            b.put(_eth(F.ipv6(srv, c, 17, F.udp(53, port, F.response(name, ident=ident))),
                       (100 + k % 4,)), at + 0.0005, k)
        elif shape == "mdns":
            if k % 10 == 5:
                c, name = _client(s, k), _name(s, k).replace(".e164.arpa", ".local")
                b.put(_eth(F.ipv4(c, "224.0.0.251", 17, F.udp(5353, 5353, F.query(
                    name, "PTR", ident=0, edns=None)))), at, k)
                b.put(_eth(F.ipv4(_client(s, k + 1), "224.0.0.251", 17, F.udp(
                    5353, 5353, F.response(name, "PTR", ident=0, records=0)))), at + 0.0005, k)
            else:
                _udp_exchange(b, s, k, at)
        elif shape == "tcp_long":
            pass  # below: connections, not exchanges
        else:  # udp, many_clients
            _udp_exchange(b, s, k, at)
    if shape == "many_clients":
        b.client_marker = lambda k: bytes([10, 100 + s, k // 256, k % 256 + 1])
    if shape == "tcp_long":
        _tcp_long(b, s, slot)
    return b


CONNECTIONS = 20  # tcp_long: connections, each one segment of 1-8 messages each way per block


def _tcp_long(b: Block, s: int, slot: float) -> None:
    srv = _server(s)
    k = 0
    for conn in range(CONNECTIONS):
        c, cp = _client(s, conn), 40000 + conn
        many = 1 + conn % 8
        names = [(_name(s, k + j), 1000 + k + j) for j in range(many)]
        owner = k
        k += many
        qs = b"".join(struct.pack("!H", len(m)) + m for m in (
            F.query(n, ident=i, edns=None) for n, i in names))
        rs = b"".join(struct.pack("!H", len(m)) + m for m in (
            F.response(n, ident=i, records=1) for n, i in names))
        at = conn * slot / CONNECTIONS
        b.seq.append((len(b.packets), len(qs)))
        b.put(_eth(F.ipv4(c, srv, 6, F.tcp(cp, 53, 1001, qs, ack=5001))), at, owner)
        b.seq.append((len(b.packets), len(rs)))
        b.put(_eth(F.ipv4(srv, c, 6, F.tcp(53, cp, 5001, rs, ack=1001 + len(qs)))),
              at + 0.0005, owner)
        b.prefix += [_eth(F.ipv4(c, srv, 6, F.tcp(cp, 53, 1000, flags=0x02, ack=0))),
                     _eth(F.ipv4(srv, c, 6, F.tcp(53, cp, 5000, flags=0x12, ack=1001))),
                     _eth(F.ipv4(c, srv, 6, F.tcp(cp, 53, 1001, flags=0x10, ack=5001)))]
        b.connections.append((conn, len(qs), len(rs)))


def _digit_sites(raw: bytes, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each exchange's 8 name digits sit in the block bytes: (position, exchange, place)."""
    pos: list[int] = []
    own: list[int] = []
    for k in range(EXCHANGES + 8):
        marker = b"".join(b"\x01" + ch.encode() for ch in _digits(s, k)) + f"\x01{s}".encode()
        at = raw.find(marker)
        while at >= 0:
            pos += [at + 1 + 2 * d for d in range(8)]
            own += [k] * 8
            at = raw.find(marker, at + 1)
    return (np.array(pos, dtype=np.int64), np.array(own, dtype=np.int64),
            np.tile(np.arange(8), len(pos) // 8))


def _records(frames: list[bytes]) -> tuple[bytes, np.ndarray]:
    offsets, out, pos = [], [], 0
    for data in frames:
        offsets.append(pos)
        out.append(struct.pack("<IIII", 0, 0, len(data), len(data)) + data)
        pos += 16 + len(data)
    return b"".join(out), np.array(offsets, dtype=np.int64)


def _stamp_u32(chunk: np.ndarray, at: np.ndarray, values: np.ndarray, big: bool) -> None:
    """Write uint32 ``values`` (count, len(at)) at byte columns ``at`` of ``chunk``."""
    raw = values.astype(">u4" if big else "<u4").view(np.uint8).reshape(*values.shape, 4)
    for j in range(4):
        chunk[:, at + j] = raw[..., j]


def shape_records(shape: str, packets: int, span: float | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """About ``packets`` records of ``shape`` (pcap record header + frame each), in block
    order, over ``span`` seconds (default packets / RATE): (bytes, record starts, times)."""
    s = SHAPES.index(shape)
    probe = _block(shape, 1.0)
    n_blocks = max(1, round(packets / len(probe.packets)))
    span = span if span is not None else packets / RATE
    slot = span / n_blocks
    b = _block(shape, slot)
    raw, rec_off = _records(b.packets)
    template = np.frombuffer(raw, dtype=np.uint8)
    dpos, downer, dplace = _digit_sites(raw, s)
    offsets = np.array(b.offsets)
    chunks: list[np.ndarray] = []
    times: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    base = 0
    per_chunk = max(1, (64 << 20) // len(template))
    head = 16 + 14  # record header + Ethernet: where the IP header starts
    id_at = rec_off[np.array(b.ip_id, dtype=np.int64)] + head + 4 if b.ip_id else None
    seq_rows = np.array([p for p, _ in b.seq], dtype=np.int64)
    seq_adv = np.array([a for _, a in b.seq], dtype=np.int64)
    if len(seq_rows):
        seq_at = rec_off[seq_rows] + head + 20 + 4
        ack_adv = np.empty_like(seq_adv)
        ack_adv[0::2], ack_adv[1::2] = seq_adv[1::2], seq_adv[0::2]  # the other direction's
        seq0 = np.array([struct.unpack_from("!I", raw, int(p))[0] for p in seq_at], np.int64)
        ack0 = np.array([struct.unpack_from("!I", raw, int(p) + 4)[0] for p in seq_at], np.int64)
    if b.client_marker is not None:
        cpos, cown = [], []
        for k in range(EXCHANGES):
            marker = b.client_marker(k)
            at = raw.find(marker)
            while at >= 0:
                cpos.append(at)
                cown.append(k)
                at = raw.find(marker, at + 1)
        cpos_a, cown_a = np.array(cpos, dtype=np.int64), np.array(cown, dtype=np.int64)
    for first in range(0, n_blocks, per_chunk):
        count = min(per_chunk, n_blocks - first)
        chunk = np.tile(template, count).reshape(count, len(template))
        blocks = np.arange(first, first + count, dtype=np.int64)
        numbers = blocks[:, None] * EXCHANGES + downer[None, :]
        chunk[:, dpos] = ((numbers // (10 ** (7 - dplace))[None, :]) % 10 + 48).astype(np.uint8)
        if id_at is not None:
            ids = np.broadcast_to((blocks & 0xFFFF)[:, None], (count, len(id_at)))
            chunk[:, id_at] = (ids >> 8).astype(np.uint8)
            chunk[:, id_at + 1] = (ids & 0xFF).astype(np.uint8)
        if len(seq_rows):
            _stamp_u32(chunk, seq_at, (seq0[None, :] + blocks[:, None] * seq_adv[None, :])
                       & 0xFFFFFFFF, True)
            _stamp_u32(chunk, seq_at + 4, (ack0[None, :] + blocks[:, None] * ack_adv[None, :])
                       & 0xFFFFFFFF, True)
        if b.client_marker is not None:
            g = (blocks[:, None] * EXCHANGES + cown_a[None, :]) % DISTINCT_CLIENTS
            for j, part in enumerate((np.full_like(g, 10), 100 + s + (g >> 16), (g >> 8) & 0xFF,
                                      g & 0xFF)):
                chunk[:, cpos_a + j] = part.astype(np.uint8)
        stamps = START + blocks[:, None] * slot + offsets[None, :]
        sec = np.floor(stamps)
        _stamp_u32(chunk, rec_off, sec.astype(np.int64), False)
        _stamp_u32(chunk, rec_off + 4, np.round((stamps - sec) * 1e6).astype(np.int64).clip(
            0, 999_999), False)
        chunks.append(chunk.ravel())
        times.append(stamps.ravel())
        starts.append((np.arange(count, dtype=np.int64)[:, None] * len(template)
                       + rec_off[None, :]).ravel() + base)
        base += count * len(template)
    data = np.concatenate(chunks)
    rec_times = np.concatenate(times)
    rec_starts = np.concatenate(starts)
    if b.prefix:
        data, rec_starts, rec_times = _ends(shape, b, data, rec_starts, rec_times, span,
                                            n_blocks)
    return data, rec_starts, rec_times


def _ends(shape: str, b: Block, data: np.ndarray, starts: np.ndarray, times: np.ndarray,
          span: float, n_blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tcp_long: the handshakes before the first block and the FINs after the last."""
    s = SHAPES.index(shape)
    srv = _server(s)
    fins = []
    for conn, qlen, rlen in b.connections:
        c, cp = _client(s, conn), 40000 + conn
        cseq, sseq = 1001 + n_blocks * qlen, 5001 + n_blocks * rlen
        fins += [_eth(F.ipv4(c, srv, 6, F.tcp(cp, 53, cseq & 0xFFFFFFFF, flags=0x11,
                                              ack=sseq & 0xFFFFFFFF))),
                 _eth(F.ipv4(srv, c, 6, F.tcp(53, cp, sseq & 0xFFFFFFFF, flags=0x11,
                                              ack=(cseq + 1) & 0xFFFFFFFF)))]
    pieces = [data]
    all_starts, all_times = [starts], [times]
    base = len(data)
    for frames, when in ((b.prefix, START - 0.01), (fins, START + span + 0.01)):
        raw, off = _records(frames)
        arr = np.frombuffer(raw, dtype=np.uint8).copy()
        stamps = when + np.arange(len(frames)) * 1e-6
        sec = np.floor(stamps)
        _stamp_u32(arr.reshape(1, -1), off, sec.astype(np.int64)[None, :], False)
        _stamp_u32(arr.reshape(1, -1), off + 4, np.round((stamps - sec) * 1e6).astype(
            np.int64)[None, :], False)
        pieces.append(arr)
        all_starts.append(off + base)
        all_times.append(stamps)
        base += len(arr)
    return np.concatenate(pieces), np.concatenate(all_starts), np.concatenate(all_times)


def write_sorted(path: Path, sources: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]
                 ) -> int:
    """The records of ``sources`` ((bytes, starts, times) each, made one at a time) written to
    one pcap in time order (ties: source order, then record order); returns the record
    count. The sources' bytes go to a scratch file first (mapped, not held), then the records
    are gathered in chunks: the index arrays stay small."""
    scratch = path.with_suffix(".raw")
    all_starts, all_times, base = [], [], 0
    with open(scratch, "wb") as f:
        for data, starts, times in sources:
            f.write(data.tobytes())
            all_starts.append(starts + base)
            all_times.append(times)
            base += len(data)
    data = np.memmap(scratch, dtype=np.uint8, mode="r")
    starts = np.concatenate(all_starts)
    times = np.concatenate(all_times)
    lengths = (data[starts + 8].astype(np.int64) | data[starts + 9].astype(np.int64) << 8
               | data[starts + 10].astype(np.int64) << 16) + 16
    order = np.argsort(times, kind="stable")
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        step = 200_000
        for lo in range(0, len(order), step):
            o = order[lo:lo + step]
            ln, st = lengths[o], starts[o]
            out_at = np.cumsum(ln) - ln
            idx = np.repeat(st - out_at, ln) + np.arange(int(ln.sum()), dtype=np.int64)
            f.write(data[idx].tobytes())
    del data
    scratch.unlink()
    tmp.replace(path)
    return len(order)


def capture(shape: str, packets: int, folder: Path) -> tuple[Path, int]:
    """The capture of ``shape`` (or ``"mixed"``: every shape at ``packets`` each, merged by
    time over one span) with about ``packets`` packets per shape, made once and kept in
    ``folder`` (named by shape, size and GEN_VERSION); (path, records)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{shape}-{packets}-v{GEN_VERSION}.pcap"
    count_file = path.with_suffix(".count")
    if path.exists() and count_file.exists():
        return path, int(count_file.read_text())
    if shape == "mixed":
        span = packets / RATE
        count = write_sorted(path, (shape_records(x, packets, span) for x in SHAPES))
    else:
        count = write_sorted(path, iter([shape_records(shape, packets)]))
    count_file.write_text(str(count))
    return path, count


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in (*SHAPES, "mixed") or not sys.argv[2].isdigit():
        sys.exit(f"usage: {sys.argv[0]} SHAPE PACKETS [FOLDER]  (SHAPE: "
                 f"{', '.join((*SHAPES, 'mixed'))}; FOLDER: /tmp)")
    where = Path(sys.argv[3]) if len(sys.argv) > 3 else Path("/tmp")
    print(capture(sys.argv[1], int(sys.argv[2]), where))
