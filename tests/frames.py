"""Frames built by code, for the capture engine's tests: DNS messages (dnspython), UDP, TCP,
IPv4 (options, fragments), IPv6 (extension headers, fragments), Ethernet with VLAN / QinQ
tags, Linux cooked v1 / v2, raw IP, BSD NULL, GTP-U, GRE; written as pcap (both byte orders,
micro- or nanosecond) or pcapng (several interfaces and link types, EPB or SPB)."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence

import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset

ETHERNET, NULL, RAW, SLL, SLL2, LOOP, NFLOG = 1, 0, 101, 113, 276, 108, 239


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def query(name: str, qtype: str = "NAPTR", *, ident: int = 1, edns: int | None = 1232,
          do: bool = False, options: Sequence[int] = ()) -> bytes:
    import dns.edns

    opts = [dns.edns.GenericOption(code, b"\x01\x02") for code in options]
    msg = dns.message.make_query(name, qtype, use_edns=edns is not None,
                                 payload=edns or 512, want_dnssec=do, options=opts or None)
    msg.id = ident
    return msg.to_wire()


def response(name: str, qtype: str = "NAPTR", *, ident: int = 1, records: int = 1,
             tc: bool = False, rcode: int = 0, edns: int | None = None) -> bytes:
    q = dns.message.make_query(name, qtype, use_edns=edns is not None, payload=edns or 512)
    q.id = ident
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    if tc:
        r.flags |= dns.flags.TC
    if records:
        rrset = dns.rrset.from_text_list(
            dns.name.from_text(name), 60, "IN", "NAPTR",
            [f'10 {i} "u" "E2U+sip" "!^.*$!sip:user{i}@example.net!" .' for i in range(records)])
        r.answer.append(rrset)
    # dnspython shuffles an RRset's records when rendering (Rdataset.to_wire want_shuffle,
    # from the process-wide random module): a frame built by code must be the same bytes in
    # every process, or a seeded fuzz campaign is not reproducible
    return r.to_wire(max_size=65535, want_shuffle=False)


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport: int, dport: int, seq: int, payload: bytes = b"", *, flags: int = 0x18,
        ack: int = 1) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack, 5 << 4, flags,
                       65535, 0, 0) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, *, ident: int = 7, mf: bool = False,
         offset: int = 0, options: bytes = b"", total: int | None = None) -> bytes:
    ihl = 5 + len(options) // 4
    length = total if total is not None else ihl * 4 + len(payload)
    head = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, length, ident,
                       (0x2000 if mf else 0) | (offset // 8), 64, proto, 0,
                       ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    head += options
    head = head[:10] + struct.pack("!H", _checksum(head)) + head[12:]
    return head + payload


def ipv6(src: str, dst: str, nxt: int, payload: bytes, *, ext: Sequence[int] = ()) -> bytes:
    """``ext``: extension header types (0 hop-by-hop, 60 destination options) placed before
    ``nxt``, each 8 bytes of padding options."""
    chain = b""
    types = [*ext, nxt]
    for after in types[1:]:
        chain += struct.pack("!BB", after, 0) + b"\x01\x04\0\0\0\0"  # PadN
    first = types[0]
    body = chain + payload
    return struct.pack("!IHBB16s16s", 6 << 28, len(body), first, 64,
                       ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed) + body


def ip(src: str, dst: str, proto: int, payload: bytes, **kw: object) -> bytes:
    if ":" in src:
        return ipv6(src, dst, proto, payload, **kw)  # type: ignore[arg-type]
    return ipv4(src, dst, proto, payload, **kw)  # type: ignore[arg-type]


def fragments_v4(src: str, dst: str, proto: int, payload: bytes, size: int, *,
                 ident: int = 99) -> list[bytes]:
    """The datagram's payload cut into fragments of ``size`` bytes (a multiple of 8)."""
    out = []
    for off in range(0, len(payload), size):
        piece = payload[off: off + size]
        out.append(ipv4(src, dst, proto, piece, ident=ident, mf=off + size < len(payload),
                        offset=off))
    return out


def fragments_v6(src: str, dst: str, proto: int, payload: bytes, size: int, *,
                 ident: int = 0x1234, ext: Sequence[int] = ()) -> list[bytes]:
    out = []
    for off in range(0, len(payload), size):
        piece = payload[off: off + size]
        more = off + size < len(payload)
        frag = struct.pack("!BBHI", proto, 0, (off // 8) << 3 | int(more), ident) + piece
        out.append(ipv6(src, dst, 44, frag, ext=ext))
    return out


def gtpu(teid: int, inner: bytes) -> bytes:
    return struct.pack("!BBHI", 0x30, 0xFF, len(inner), teid) + inner


def gre(inner: bytes, *, key: int | None = None, v6: bool = False) -> bytes:
    flags = 0x2000 if key is not None else 0
    head = struct.pack("!HH", flags, 0x86DD if v6 else 0x0800)
    if key is not None:
        head += struct.pack("!I", key)
    return head + inner


def teredo(inner_ipv6: bytes) -> bytes:
    """A Teredo (RFC 4380) payload with an origin indication before the IPv6 packet."""
    return b"\x00\x00" + b"\x12\x34" + b"\xc0\x00\x02\x01" + inner_ipv6


def link(datagram: bytes, kind: int, *, vlans: Sequence[int] = (), big: bool = False) -> bytes:
    """``datagram`` behind a link header of ``kind``; ``big``: the capture file is big-endian
    (NFLOG writes its TLV headers in that host byte order)."""
    v6 = datagram[0] >> 4 == 6
    etype = 0x86DD if v6 else 0x0800
    if kind == ETHERNET:
        tags = b"".join(struct.pack("!HH", 0x88A8 if i == 0 and len(vlans) > 1 else 0x8100, vid)
                        for i, vid in enumerate(vlans))
        return (b"\x02\0\0\0\0\x01" + b"\x02\0\0\0\0\x02" + tags + struct.pack("!H", etype)
                + datagram)
    if kind == SLL:
        return struct.pack("!HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\x01\0\0", etype) + datagram
    if kind == SLL2:
        return struct.pack("!HHIHBB8s", etype, 0, 2, 1, 0, 6, b"\x02\0\0\0\0\x01\0\0") + datagram
    if kind == NULL:
        return struct.pack("<I", 30 if v6 else 2) + datagram
    if kind == LOOP:
        return struct.pack(">I", 30 if v6 else 2) + datagram
    if kind == NFLOG:  # header, a prefix TLV, then the payload TLV (type 9), host byte order
        prefix = b"dns\0"
        e = ">" if big else "<"
        tlvs = struct.pack(e + "HH", 4 + len(prefix), 10) + prefix
        tlvs += struct.pack(e + "HH", 4 + len(datagram), 9) + datagram + b"\0" * (
            -len(datagram) % 4)
        return struct.pack("!BBH", 10 if v6 else 2, 0, 0) + tlvs
    return datagram  # RAW


def pcap(frames: Iterable[tuple[float, bytes]], linktype: int, *, big: bool = False,
         nano: bool = False, snaplen: int = 262144) -> bytes:
    e = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for ts, data in frames:
        sec = int(ts)
        frac = round((ts - sec) * (1e9 if nano else 1e6))
        cap = data[:snaplen]
        out.append(struct.pack(e + "IIII", sec, frac, len(cap), len(data)) + cap)
    return b"".join(out)


def _block(e: str, kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(e + "II", kind, n) + body + struct.pack(e + "I", n)


def pcapng(frames: Iterable[tuple[float, int, bytes]], links: Sequence[int], *,
           big: bool = False, simple: bool = False, capture_filter: str | None = None,
           unknown_block: bool = False) -> bytes:
    """``frames``: (time, interface, bytes). ``simple``: write Simple Packet Blocks (one
    interface, no time). ``unknown_block``: a block of an unassigned type the reader skips."""
    e = ">" if big else "<"
    out = [_block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for lt in links:
        opts = b""
        if capture_filter:
            value = b"\0" + capture_filter.encode()
            opts += struct.pack(e + "HH", 11, len(value)) + value + b"\0" * (-len(value) % 4)
        opts += struct.pack(e + "HH", 9, 1) + b"\x09\0\0\0"  # if_tsresol = 10^-9
        opts += struct.pack(e + "HH", 0, 0)
        out.append(_block(e, 1, struct.pack(e + "HHI", lt, 0, 262144) + opts))
    if unknown_block:
        out.append(_block(e, 0x0BAD, b"ignored"))
    for ts, iface, data in frames:
        if simple:
            out.append(_block(e, 3, struct.pack(e + "I", len(data)) + data))
            continue
        ticks = round(ts * 1e9)
        out.append(_block(e, 6, struct.pack(e + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF,
                                            len(data), len(data)) + data))
    return b"".join(out)


def icmp4(itype: int, code: int, quoted: bytes, *, mtu: int = 0) -> bytes:
    """An ICMP error (RFC 792 / RFC 1191) quoting ``quoted`` (an IP datagram's first bytes)."""
    rest = struct.pack("!HH", 0, mtu) if itype == 3 and code == 4 else b"\0\0\0\0"
    body = struct.pack("!BBH", itype, code, 0) + rest + quoted
    return body[:2] + struct.pack("!H", _checksum(body)) + body[4:]


def icmp6(itype: int, code: int, quoted: bytes, *, mtu: int = 0) -> bytes:
    """An ICMPv6 error (RFC 4443) quoting ``quoted`` (checksum left 0)."""
    rest = struct.pack("!I", mtu) if itype == 2 else b"\0\0\0\0"
    return struct.pack("!BBH", itype, code, 0) + rest + quoted


def exchanges_pcap(n: int, *, name: str = "{i}.x.example", names: int = 997,
                   noise: int = 0) -> bytes:
    """A pcap (Ethernet) of ``n`` UDP query/response pairs, one a second: the name
    ``name.format(i=i % names)``, ids and client ports varying; ``noise``: a UDP datagram of
    that many zero bytes to port 9 (not DNS) after every pair."""
    frames = []
    for i in range(n):
        qname = name.format(i=i % names)
        q = ip("192.0.2.1", "192.0.2.53", 17,
               udp(40000 + i % 1000, 53, query(qname, ident=i % 65536)))
        r = ip("192.0.2.53", "192.0.2.1", 17,
               udp(53, 40000 + i % 1000, response(qname, ident=i % 65536)))
        frames += [(1.0 + i, link(q, ETHERNET)), (1.05 + i, link(r, ETHERNET))]
        if noise:
            junk = ip("192.0.2.1", "192.0.2.9", 17, udp(40000, 9, bytes(noise)))
            frames.append((1.06 + i, link(junk, ETHERNET)))
    return pcap(frames, ETHERNET)
