"""Seeded mutators for hostile inputs, independent of enumlab (so a bug there cannot hide here).

Every mutator takes an explicit ``numpy.random.Generator`` and returns new bytes (inputs are
never changed in place), so a mutant is reproduced from (seed input, generator seed) alone.

Byte level, for any input (capture files, zone files, messages)::

    flip_bits, cut, splice, insert_bytes, repeat_chunk, absurd_int -> mutate_bytes(data, rng)

Capture level: :func:`read_capture` parses pcap (either byte order, micro/nanoseconds) and
pcapng (SHB / IDB / EPB / SPB / OPB) into records; :func:`write_capture` writes them back (pcap
when every record has one link type, else pcapng). :func:`locate` finds IP, transport and DNS
in a frame by a dissection of its own (Ethernet + VLAN tags, Linux cooked v1/v2, NULL/LOOP, raw
IP; IPv6 extension headers), and the packet mutators in :data:`CAPTURE_MUTATORS` aim at the
fields decoders trust: IP lengths and fragment offsets (RFC 791 s3.1, RFC 8200 s4.5), IPv6
extension chains (RFC 8200 s4), UDP lengths (RFC 768), TCP sequence numbers and the RFC 7766 s8
length prefix, DNS counts, labels longer than 63 octets and compression pointers that loop
(RFC 1035 s4.1.4), and records or streams spliced from another capture.
:func:`mutate_capture` stacks one to three of them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

Rng = np.random.Generator

# values that sit on the edges decoders get wrong
INTERESTING = (0, 1, 2, 7, 8, 11, 12, 13, 0x3F, 0x40, 0x7F, 0x80, 0xC0, 0xFF, 0x100, 0x3FFF,
               0x7FFF, 0x8000, 0xFFFE, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def _pick(rng: Rng, n: int) -> int:
    return int(rng.integers(0, n)) if n > 0 else 0


# -- byte level --------------------------------------------------------------------------------

def flip_bits(data: bytes, rng: Rng, *, start: int = 0, end: int | None = None,
              count: int | None = None) -> bytes:
    """``count`` (1-8 by default) random bits flipped in ``data[start:end]``."""
    end = len(data) if end is None else min(end, len(data))
    if end <= start:
        return data
    out = bytearray(data)
    for _ in range(count if count is not None else 1 + _pick(rng, 8)):
        out[start + _pick(rng, end - start)] ^= 1 << _pick(rng, 8)
    return bytes(out)


def cut(data: bytes, rng: Rng, *, start: int = 0) -> bytes:
    """``data`` cut short at a random point at or after ``start``."""
    if len(data) <= start:
        return data
    return data[:start + _pick(rng, len(data) - start)]


def splice(data: bytes, other: bytes, rng: Rng) -> bytes:
    """A random piece of ``data`` replaced by a random piece of ``other``."""
    i = _pick(rng, len(data) + 1)
    j = i + _pick(rng, len(data) - i + 1)
    k = _pick(rng, len(other) + 1)
    m = k + _pick(rng, min(len(other) - k, 4096) + 1)
    return data[:i] + other[k:m] + data[j:]


def insert_bytes(data: bytes, rng: Rng) -> bytes:
    """Random bytes (1-64) inserted at a random point."""
    i = _pick(rng, len(data) + 1)
    return data[:i] + rng.integers(0, 256, 1 + _pick(rng, 64), dtype=np.uint8).tobytes() + data[i:]


def repeat_chunk(data: bytes, rng: Rng) -> bytes:
    """A random chunk (up to 256 bytes) repeated 2-64 times in place."""
    if not data:
        return data
    i = _pick(rng, len(data))
    j = i + 1 + _pick(rng, min(256, len(data) - i))
    return data[:i] + data[i:j] * (2 + _pick(rng, 63)) + data[j:]


def absurd_int(data: bytes, rng: Rng, offset: int | None = None, size: int | None = None, *,
               big: bool = True) -> bytes:
    """An integer field (1, 2 or 4 bytes at ``offset``) set to an edge value, or off by a few."""
    size = size if size is not None else int(rng.choice([1, 2, 4]))
    if len(data) < size:
        return data
    offset = offset if offset is not None else _pick(rng, len(data) - size + 1)
    if offset < 0 or offset + size > len(data):
        return data
    old = int.from_bytes(data[offset:offset + size], "big" if big else "little")
    value = (int(rng.choice(INTERESTING)) if rng.random() < 0.7 else
             old + int(rng.integers(-16, 17)))
    value &= (1 << (8 * size)) - 1
    return data[:offset] + value.to_bytes(size, "big" if big else "little") + data[offset + size:]


BYTE_MUTATORS: dict[str, Callable[[bytes, Rng], bytes]] = {
    "flip_bits": flip_bits,
    "cut": cut,
    "insert_bytes": insert_bytes,
    "repeat_chunk": repeat_chunk,
    "absurd_int": absurd_int,
}


def mutate_bytes(data: bytes, rng: Rng, *, donors: Sequence[bytes] = ()) -> tuple[bytes, str]:
    """One byte-level mutation of ``data`` (a splice with a donor when ``donors`` are given);
    returns the mutant and the mutator's name."""
    names = sorted(BYTE_MUTATORS) + (["splice"] if donors else [])
    name = names[_pick(rng, len(names))]
    if name == "splice":
        return splice(data, donors[_pick(rng, len(donors))], rng), name
    return BYTE_MUTATORS[name](data, rng), name


# -- capture files -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Record:
    """One captured frame: time in nanoseconds, link type, the bytes, the length on the wire."""

    ns: int
    linktype: int
    data: bytes
    wire: int


@dataclass(frozen=True)
class Capture:
    records: list[Record]
    big: bool = False
    pcapng: bool = False


def read_capture(data: bytes) -> Capture | None:
    """The records of a pcap or pcapng file (None if it is neither or is damaged)."""
    if len(data) < 24:
        return None
    magic = data[:4]
    pcap_magics = (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4",
                   b"\xa1\xb2\x3c\x4d")
    if magic in pcap_magics:
        big = magic[0] == 0xA1
        e = ">" if big else "<"
        nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        linktype = struct.unpack_from(e + "I", data, 20)[0] & 0xFFFF
        records, p = [], 24
        while p + 16 <= len(data):
            sec, frac, cap, wire = struct.unpack_from(e + "IIII", data, p)
            if p + 16 + cap > len(data):
                return None
            ns = sec * 10**9 + frac * (1 if nano else 1000)
            records.append(Record(ns, linktype, data[p + 16:p + 16 + cap], wire))
            p += 16 + cap
        return Capture(records, big)
    if magic == b"\x0a\x0d\x0d\x0a":
        return _read_pcapng(data)
    return None


def _read_pcapng(data: bytes) -> Capture | None:
    e = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    links: list[tuple[int, int]] = []  # (link type, ticks per second)
    records, p = [], 0
    while p + 12 <= len(data):
        kind, size = struct.unpack_from(e + "II", data, p)
        if size < 12 or size % 4 or p + size > len(data):
            return None
        body = data[p + 8:p + size - 4]
        if kind == 0x0A0D0D0A:
            links = []
        elif kind == 1 and len(body) >= 8:
            lt = struct.unpack_from(e + "H", body, 0)[0]
            res, q = 10**6, 8
            while q + 4 <= len(body):
                code, n = struct.unpack_from(e + "HH", body, q)
                if code == 9 and n >= 1 and q + 5 <= len(body):
                    v = body[q + 4]
                    res = 2 ** (v & 0x7F) if v & 0x80 else 10 ** min(v, 18)
                if code == 0:
                    break
                q += 4 + n + (-n % 4)
            links.append((lt, res))
        elif kind in (6, 2) and len(body) >= 20:
            iface, hi, lo, cap, wire = struct.unpack_from(e + "IIIII", body, 0)
            if kind == 2:
                iface &= 0xFFFF
            if iface >= len(links) or 20 + cap > len(body):
                return None
            lt, res = links[iface]
            records.append(Record(((hi << 32) | lo) * 10**9 // res, lt, body[20:20 + cap], wire))
        elif kind == 3 and len(body) >= 4 and links:
            wire = struct.unpack_from(e + "I", body, 0)[0]
            records.append(Record(0, links[0][0], body[4:4 + min(wire, len(body) - 4)], wire))
        p += size
    return Capture(records, e == ">", pcapng=True)


def write_capture(cap: Capture) -> tuple[bytes, list[int]]:
    """The capture as file bytes, and the offset of each record's header (for mutators that
    lie about record lengths). One link type: pcap (nanoseconds); several: pcapng."""
    e = ">" if cap.big else "<"
    kinds = sorted({r.linktype for r in cap.records}) or [1]
    out: list[bytes] = []
    offsets: list[int] = []
    size = 0

    def put(b: bytes) -> None:
        nonlocal size
        out.append(b)
        size += len(b)

    if len(kinds) == 1 and not cap.pcapng:
        put(struct.pack(e + "IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, kinds[0]))
        for r in cap.records:
            offsets.append(size)
            sec, ns = divmod(max(r.ns, 0), 10**9)
            put(struct.pack(e + "IIII", sec & 0xFFFFFFFF, ns, len(r.data), r.wire) + r.data)
        return b"".join(out), offsets

    def block(kind: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack(e + "II", kind, len(body) + 12) + body + struct.pack(
            e + "I", len(body) + 12)

    put(block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)))
    for lt in kinds:
        opts = struct.pack(e + "HH", 9, 1) + b"\x09\0\0\0" + struct.pack(e + "HH", 0, 0)
        put(block(1, struct.pack(e + "HHI", lt, 0, 262144) + opts))
    for r in cap.records:
        offsets.append(size)
        t = max(r.ns, 0) & 0xFFFFFFFFFFFFFFFF
        put(block(6, struct.pack(e + "IIIII", kinds.index(r.linktype), t >> 32, t & 0xFFFFFFFF,
                                 len(r.data), r.wire) + r.data))
    return b"".join(out), offsets


# -- where things are in a frame ---------------------------------------------------------------

@dataclass(frozen=True)
class Layers:
    """Offsets into a frame: IP header, transport header, payload (DNS or its TCP framing)."""

    ip: int
    version: int
    proto: int
    l4: int
    payload: int


def locate(linktype: int, data: bytes) -> Layers | None:
    """IP / UDP / TCP offsets in a frame, or None where this small dissector stops."""
    p, etype = 0, -1
    if linktype == 1:
        p, etype = 14, int.from_bytes(data[12:14], "big") if len(data) >= 14 else -1
        while etype in (0x8100, 0x88A8) and len(data) >= p + 4:
            etype = int.from_bytes(data[p + 2:p + 4], "big")
            p += 4
    elif linktype == 113:
        p, etype = 16, int.from_bytes(data[14:16], "big") if len(data) >= 16 else -1
    elif linktype == 276:
        p, etype = 20, int.from_bytes(data[0:2], "big") if len(data) >= 2 else -1
    elif linktype in (0, 108):
        p, etype = 4, 0
    elif linktype in (101, 228, 229, 12, 14):
        p, etype = 0, 0
    else:
        return None
    if p >= len(data) or (etype not in (0, 0x0800, 0x86DD)):
        return None
    version = data[p] >> 4
    if version == 4 and len(data) >= p + 20:
        l4 = p + (data[p] & 0xF) * 4
        proto = data[p + 9]
    elif version == 6 and len(data) >= p + 40:
        proto, l4 = data[p + 6], p + 40
        while proto in (0, 43, 60, 44) and len(data) >= l4 + 8:
            nxt = data[l4]
            l4 += 8 if proto == 44 else (data[l4 + 1] + 1) * 8
            proto = nxt
    else:
        return None
    if proto == 17:
        payload = l4 + 8
    elif proto == 6 and len(data) >= l4 + 13:
        payload = l4 + (data[l4 + 12] >> 4) * 4
    else:
        return None
    if payload > len(data):
        return None
    return Layers(p, version, proto, l4, payload)


# -- packet mutators ---------------------------------------------------------------------------

def _with(cap: Capture, i: int, data: bytes, *, keep_wire: bool = False) -> Capture:
    records = list(cap.records)
    r = records[i]
    records[i] = replace(r, data=data, wire=r.wire if keep_wire else max(len(data), 0))
    return replace(cap, records=records)


def _choose(cap: Capture, rng: Rng, want: Callable[[Layers, bytes], bool]
            ) -> tuple[int, Layers] | None:
    found = []
    for i, r in enumerate(cap.records):
        lay = locate(r.linktype, r.data)
        if lay is not None and want(lay, r.data):
            found.append((i, lay))
    return found[_pick(rng, len(found))] if found else None


def _put(data: bytes, offset: int, value: int, size: int) -> bytes:
    if offset < 0 or offset + size > len(data):
        return data
    return data[:offset] + (value & ((1 << 8 * size) - 1)).to_bytes(size, "big") + data[
        offset + size:]


def _dns_start(lay: Layers, data: bytes) -> int:
    return lay.payload + (2 if lay.proto == 6 else 0)


DNS_PORTS = (53, 5353, 5355, 5300, 5301)  # what the DNS mutators aim at (not tunnels)


def _has_dns(lay: Layers, data: bytes) -> bool:
    ports = (int.from_bytes(data[lay.l4:lay.l4 + 2], "big"),
             int.from_bytes(data[lay.l4 + 2:lay.l4 + 4], "big"))
    return len(data) >= _dns_start(lay, data) + 12 and any(p in DNS_PORTS for p in ports)


def m_packet_bits(cap: Capture, rng: Rng) -> Capture | None:
    """Bits flipped in one frame, most often from the IP header on."""
    if not cap.records:
        return None
    i = _pick(rng, len(cap.records))
    r = cap.records[i]
    lay = locate(r.linktype, r.data)
    start = lay.ip if lay is not None and rng.random() < 0.8 else 0
    return _with(cap, i, flip_bits(r.data, rng, start=start), keep_wire=True)


def m_dns_bits(cap: Capture, rng: Rng) -> Capture | None:
    """Bits flipped inside one DNS message."""
    got = _choose(cap, rng, _has_dns)
    if got is None:
        return None
    i, lay = got
    r = cap.records[i]
    return _with(cap, i, flip_bits(r.data, rng, start=_dns_start(lay, r.data)), keep_wire=True)


def m_cut_record(cap: Capture, rng: Rng) -> Capture | None:
    """A frame cut short (a snap length), the wire length kept."""
    if not cap.records:
        return None
    i = _pick(rng, len(cap.records))
    return _with(cap, i, cut(cap.records[i].data, rng), keep_wire=True)


def m_ip_lengths(cap: Capture, rng: Rng) -> Capture | None:
    """IPv4 total length / header length or IPv6 payload length that lie (RFC 791, 8200)."""
    got = _choose(cap, rng, lambda lay, d: True)
    if got is None:
        return None
    i, lay = got
    d = cap.records[i].data
    if lay.version == 4:
        if rng.random() < 0.3:  # IHL: 0-4 (illegal) or past the packet
            return _with(cap, i, _put(d, lay.ip, 0x40 | _pick(rng, 16), 1))
        return _with(cap, i, absurd_int(d, rng, lay.ip + 2, 2))
    return _with(cap, i, absurd_int(d, rng, lay.ip + 4, 2))


def m_udp_length(cap: Capture, rng: Rng) -> Capture | None:
    """A UDP length field of 0-7, past the datagram or a few bytes off (RFC 768)."""
    got = _choose(cap, rng, lambda lay, d: lay.proto == 17)
    if got is None:
        return None
    i, lay = got
    return _with(cap, i, absurd_int(cap.records[i].data, rng, lay.l4 + 4, 2))


def m_fragments(cap: Capture, rng: Rng) -> Capture | None:
    """A UDP datagram cut into IPv4 fragments (RFC 791 s3.2) whose offsets overlap, leave
    holes, repeat, end past 65,535 bytes or disagree with MF, in any order; or a complete set
    that reassembles past 65,535 bytes."""
    got = _choose(cap, rng, lambda lay, d: lay.version == 4 and lay.proto == 17)
    if got is None:
        return None
    i, lay = got
    r = cap.records[i]
    head, hdr, body = r.data[:lay.ip], r.data[lay.ip:lay.l4], r.data[lay.l4:]
    pieces: list[bytes] = []
    if rng.random() < 0.08:  # a complete set whose datagram would exceed 65,535 bytes
        body = body + b"\0" * (65_600 - len(hdr) - len(body))
        ident = _pick(rng, 65536)
        for off in range(0, len(body), 1480):
            h = bytearray(hdr)
            chunk = body[off:off + 1480]
            h[2:4] = (len(hdr) + len(chunk)).to_bytes(2, "big")
            h[4:6] = ident.to_bytes(2, "big")
            h[6:8] = ((0x2000 if off + 1480 < len(body) else 0) | off // 8).to_bytes(2, "big")
            pieces.append(head + bytes(h) + chunk)
        records = list(cap.records)
        records[i:i + 1] = [replace(r, data=p, wire=len(p), ns=r.ns + k)
                            for k, p in enumerate(pieces)]
        return replace(cap, records=records)
    n = 2 + _pick(rng, 3)
    step = max(8, (len(body) // n) // 8 * 8)
    ident = _pick(rng, 65536)
    for k in range(n):
        off = k * step
        chunk = body[off:off + step] if k < n - 1 else body[off:]
        choice = rng.random()
        if choice < 0.15:
            off = 8 * _pick(rng, 8192)  # anywhere, even past 65,535 once reassembled
        elif choice < 0.3:
            off = max(0, off - 8 * (1 + _pick(rng, 4)))  # overlapping the previous piece
        more = k < n - 1 if rng.random() < 0.85 else rng.random() < 0.5
        h = bytearray(hdr)
        h[2:4] = (len(hdr) + len(chunk)).to_bytes(2, "big")
        h[4:6] = ident.to_bytes(2, "big")
        h[6:8] = ((0x2000 if more else 0) | (off // 8 & 0x1FFF)).to_bytes(2, "big")
        pieces.append(head + bytes(h) + chunk)
    if rng.random() < 0.5:
        rng.shuffle(pieces)  # type: ignore[arg-type]
    if rng.random() < 0.3:
        pieces.append(pieces[_pick(rng, len(pieces))])
    records = list(cap.records)
    records[i:i + 1] = [replace(r, data=p, wire=len(p), ns=r.ns + k) for k, p in enumerate(pieces)]
    return replace(cap, records=records)


_EXT = (0, 43, 60, 44, 51, 135, 139, 140, 59, 253)


def m_ipv6_chain(cap: Capture, rng: Rng) -> Capture | None:
    """A chain of IPv6 extension headers (RFC 8200 s4) put before the transport header: 1 to
    60 of them, any kind, lengths that may run past the packet, a fragment header anywhere,
    No Next Header in the middle."""
    got = _choose(cap, rng, lambda lay, d: lay.version == 6)
    if got is None:
        return None
    i, lay = got
    d = cap.records[i].data
    chain_types = [int(rng.choice(_EXT)) for _ in range(1 + _pick(rng, 60 if rng.random() < 0.2
                                                                    else 6))]
    first_next = d[lay.ip + 6]
    proto_after = d[lay.ip + 6] if lay.l4 == lay.ip + 40 else lay.proto
    chain = b""
    kinds = [*chain_types, proto_after]
    for k, kind in enumerate(chain_types):
        nxt = kinds[k + 1]
        if kind == 44:  # fragment header: offset 0 / MF 0 (an atomic fragment) or not
            field = (8 * _pick(rng, 4)) << 0 | (1 if rng.random() < 0.3 else 0)
            chain += struct.pack("!BBHI", nxt, 0, field, _pick(rng, 1 << 32))
            continue
        units = _pick(rng, 3) if rng.random() < 0.9 else int(rng.choice([0x7F, 0xFF]))
        chain += bytes([nxt, units]) + b"\0" * (units * 8 + 6)  # Pad1 options
    del first_next
    rest = d[lay.l4:]
    body = chain + rest
    h = bytearray(d[lay.ip:lay.ip + 40])
    h[6] = kinds[0]
    h[4:6] = (len(body) & 0xFFFF).to_bytes(2, "big")
    return _with(cap, i, d[:lay.ip] + bytes(h) + body)


def m_dns_counts(cap: Capture, rng: Rng) -> Capture | None:
    """A DNS header count (QD/AN/NS/AR) of 0, 1 or up to 65,535."""
    got = _choose(cap, rng, _has_dns)
    if got is None:
        return None
    i, lay = got
    s = _dns_start(lay, cap.records[i].data)
    return _with(cap, i, absurd_int(cap.records[i].data, rng, s + 4 + 2 * _pick(rng, 4), 2))


def _names(d: bytes, s: int) -> list[int]:
    """Offsets of label length bytes of the first name in the message at ``s`` (the QNAME)."""
    out, p = [], s + 12
    while p < len(d) and d[p] != 0 and d[p] < 64 and len(out) < 128:
        out.append(p)
        p += 1 + d[p]
    return out


def m_label_length(cap: Capture, rng: Rng) -> Capture | None:
    """A label length of 64-255 (RFC 1035 s2.3.4: 63 at most; 0x40 / 0x80 are the extended
    and reserved label types)."""
    got = _choose(cap, rng, _has_dns)
    if got is None:
        return None
    i, lay = got
    d = cap.records[i].data
    labels = _names(d, _dns_start(lay, d))
    if not labels:
        return None
    return _with(cap, i, _put(d, labels[_pick(rng, len(labels))], 64 + _pick(rng, 192), 1))


def m_compression_loop(cap: Capture, rng: Rng) -> Capture | None:
    """A compression pointer (RFC 1035 s4.1.4) that points at itself, at a later pointer
    pointing back, forward past the message, or a chain of pointers 200 long."""
    got = _choose(cap, rng, _has_dns)
    if got is None:
        return None
    i, lay = got
    d = cap.records[i].data
    s = _dns_start(lay, d)
    labels = _names(d, s) or [s + 12]
    p = labels[_pick(rng, len(labels))]
    kind = _pick(rng, 4)
    if kind == 0:  # to itself
        return _with(cap, i, _put(d, p, 0xC000 | (p - s), 2))
    if kind == 1 and len(labels) > 1:  # two pointers pointing at each other
        q = labels[-1]
        d2 = _put(d, q, 0xC000 | (p - s), 2)
        return _with(cap, i, _put(d2, p, 0xC000 | (q - s), 2))
    if kind == 2:  # forward, past the end of the message
        return _with(cap, i, _put(d, p, 0xC000 | min(0x3FFF, len(d) - s + _pick(rng, 64)), 2))
    # a long chain: 200 pointers from here on, each to the one before it (the first to the
    # question name, so that one may be itself: a loop at the end of a long walk)
    chain = b"".join((0xC000 | (p - s + 2 * (k - 1) if k else 12)).to_bytes(2, "big")
                     for k in range(200))
    return _with(cap, i, d[:p] + chain + d[p + len(chain):])


def _tcp_payload(lay: Layers, d: bytes) -> bool:
    return lay.proto == 6 and len(d) > lay.payload + 2 and _has_dns(lay, d)


def m_tcp_prefix(cap: Capture, rng: Rng) -> Capture | None:
    """The RFC 7766 s8 two-byte length prefix set past the stream (or 0, or off by a few)."""
    got = _choose(cap, rng, _tcp_payload)
    if got is None:
        return None
    i, lay = got
    d = cap.records[i].data
    old = int.from_bytes(d[lay.payload:lay.payload + 2], "big")
    value = int(rng.choice([0, 1, 0xFFFF, old + 1, old + 2 + _pick(rng, 4096), max(old - 1, 0)]))
    return _with(cap, i, _put(d, lay.payload, value, 2))


def m_tcp_seq(cap: Capture, rng: Rng) -> Capture | None:
    """A TCP sequence number moved: a gap, an overlap, a jump across the 2^32 wrap."""
    got = _choose(cap, rng, lambda lay, d: lay.proto == 6 and len(d) >= lay.l4 + 8)
    if got is None:
        return None
    i, lay = got
    d = cap.records[i].data
    seq = int.from_bytes(d[lay.l4 + 4:lay.l4 + 8], "big")
    delta = int(rng.choice([-1, 1, -2, 3, 1000, -1000, 1 << 31, 0xFFFFFFF0 - seq]))
    return _with(cap, i, _put(d, lay.l4 + 4, seq + delta, 4))


def m_splice_stream(cap: Capture, rng: Rng) -> Capture | None:
    """Two segments' or datagrams' payloads spliced into each other (a stream's bytes from
    another stream), or frames duplicated and reordered."""
    found = [i for i, r in enumerate(cap.records)
             if (lay := locate(r.linktype, r.data)) is not None and len(r.data) > lay.payload]
    if not found:
        return None
    if len(found) >= 2 and rng.random() < 0.6:
        a, b = (found[_pick(rng, len(found))] for _ in range(2))
        ra, rb = cap.records[a], cap.records[b]
        la = locate(ra.linktype, ra.data)
        lb = locate(rb.linktype, rb.data)
        assert la is not None and lb is not None
        pa = ra.data[la.payload:]
        pb = rb.data[lb.payload:]
        return _with(cap, a, ra.data[:la.payload] + splice(pa, pb, rng))
    records = list(cap.records)
    k = found[_pick(rng, len(found))]
    span = records[k:k + 1 + _pick(rng, 6)]
    order = list(rng.permutation(len(span)))
    records[k:k + len(span)] = [span[j] for j in order] + ([span[0]] if rng.random() < 0.5
                                                           else [])
    return replace(cap, records=records)


def m_splice_capture(cap: Capture, rng: Rng, donor: Capture | None = None) -> Capture | None:
    """Frames of another capture merged in (same addresses and ports can meet)."""
    if donor is None or not donor.records:
        return None
    records = list(cap.records)
    for r in donor.records[:_pick(rng, len(donor.records)) + 1]:
        records.insert(_pick(rng, len(records) + 1), r)
    return replace(cap, records=records)


CAPTURE_MUTATORS: dict[str, Callable[[Capture, Rng], Capture | None]] = {
    "packet_bits": m_packet_bits,
    "dns_bits": m_dns_bits,
    "cut_record": m_cut_record,
    "ip_lengths": m_ip_lengths,
    "udp_length": m_udp_length,
    "fragments": m_fragments,
    "ipv6_chain": m_ipv6_chain,
    "dns_counts": m_dns_counts,
    "label_length": m_label_length,
    "compression_loop": m_compression_loop,
    "tcp_prefix": m_tcp_prefix,
    "tcp_seq": m_tcp_seq,
    "splice_stream": m_splice_stream,
}
# file-level mutations of the written bytes
FILE_MUTATORS = ("file_bits", "file_cut", "record_length", "file_splice", "block_length")


def mutate_capture(seed: bytes, rng: Rng, *, donors: Sequence[bytes] = ()) -> tuple[bytes, str]:
    """A mutant of the capture ``seed``: one to three packet mutations, then (one time in
    five) a file-level one. Returns the bytes and the names of the mutations applied."""
    cap = read_capture(seed)
    names: list[str] = []
    offsets: list[int] = []
    if cap is not None:
        donor_caps = [c for c in (read_capture(d) for d in donors) if c is not None]
        kinds = sorted(CAPTURE_MUTATORS) + (["splice_capture"] if donor_caps else [])
        for _ in range(1 + _pick(rng, 3)):
            name = kinds[_pick(rng, len(kinds))]
            if name == "splice_capture":
                got = m_splice_capture(cap, rng, donor_caps[_pick(rng, len(donor_caps))])
            else:
                got = CAPTURE_MUTATORS[name](cap, rng)
            if got is not None:
                cap = got
                names.append(name)
        data, offsets = write_capture(cap)
    else:
        data = seed
    if not names or rng.random() < 0.2:
        kind = FILE_MUTATORS[_pick(rng, len(FILE_MUTATORS))]
        big = data[:1] in (b"\xa1",) or data[8:12] == b"\x1a\x2b\x3c\x4d"
        if kind == "file_bits":
            data = flip_bits(data, rng)
        elif kind == "file_cut":
            data = cut(data, rng)
        elif kind in ("record_length", "block_length") and offsets and cap is not None:
            o = offsets[_pick(rng, len(offsets))]
            ng = data[:4] == b"\x0a\x0d\x0d\x0a"
            # pcap record: caplen at 8, wire length at 12; pcapng EPB: block length at 4,
            # caplen at 20, wire length at 24
            fields = ((4,) if kind == "block_length" else (20, 24)) if ng else (8, 12)
            data = absurd_int(data, rng, o + fields[_pick(rng, len(fields))], 4, big=big)
        elif kind == "file_splice" and donors:
            data = splice(data, donors[_pick(rng, len(donors))], rng)
        else:
            data, kind = mutate_bytes(data, rng)
        names.append(kind)
    return data, "+".join(names)
