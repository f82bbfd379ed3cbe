"""The per-packet header walk: link layer -> IP -> UDP / TCP / ICMP, tunnels included.

One kernel call (:func:`walk_packets`) classifies a block of records and fills one row of
:data:`NCOL` integers per packet (the ``C_*`` columns) plus source / destination addresses
(16 bytes; an IPv4 address in the first 4). Kinds:

* ``UDP_DNS`` -- a UDP datagram to or from a port of interest (DNS 53 and ``--port``, mDNS
  5353, LLMNR 5355); its payload is a DNS message for :mod:`.dns_message`.
* ``TCP_SEG`` -- a TCP segment of a DNS connection (data or SYN / FIN / RST), for :mod:`.tcp`.
* ``FRAGMENT`` -- an IPv4 or IPv6 fragment, for reassembly (:mod:`.ip`).
* ``ICMP_ERROR`` -- an ICMP (RFC 792) or ICMPv6 (RFC 4443) error, with the header it quotes.
* ``OTHER`` (not DNS), ``UNSUPPORTED_LINK`` (for tshark), ``MALFORMED`` (headers cut or bad).

Tunnels are opened up to four deep (a fifth is counted and named): GTP-U (3GPP TS 29.281,
UDP 2152, TEID kept), Teredo (RFC 4380, UDP 3544), GRE (RFC 2784/2890, key kept), VXLAN (RFC
7348) and IP-in-IP (protocols 4 and 41). Others (ERSPAN, Geneve, L2TP...) are counted and named
when their header is there (:func:`udp_tunnel`), never by a port alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .ip import ipv4_header, ipv6_header
from .jit import helper
from .links import ethertype_payload, link_payload

# kinds
OTHER, UDP_DNS, TCP_SEG, FRAGMENT, ICMP_ERROR, UNSUPPORTED_LINK, MALFORMED, TUNNEL_UNKNOWN = (
    range(8))
# columns of the per-packet integer table
(C_KIND, C_FAMILY, C_PROTO, C_SPORT, C_DPORT, C_IPSIZE, C_IPOFF, C_PAYOFF, C_PAYLEN, C_WIRELEN,
 C_IPID, C_FRAGOFF, C_MF, C_SEQ, C_TCPFLAGS, C_ICMPTYPE, C_ICMPCODE, C_ICMPMTU, C_QFAMILY,
 C_QPROTO, C_QSPORT, C_QDPORT, C_QIPSIZE, C_QDNSID, C_ENCAP, C_TUNNEL_ID, C_VLAN, C_L4END,
 C_FRAGHDR, C_INTEREST, C_QIPID) = range(31)
NCOL = 31
# the columns a DNS message keeps (the rest matter only while walking)
MSG_COLS = (C_FAMILY, C_SPORT, C_DPORT, C_IPSIZE, C_WIRELEN, C_PAYLEN, C_INTEREST, C_ENCAP,
            C_TUNNEL_ID, C_VLAN)
ENCAP_NAMES = {0: "", 1: "gtpu", 2: "teredo", 3: "gre", 4: "ipip", 5: "vxlan"}
ENCAP_VXLAN = 5
INTEREST_DNS, INTEREST_MDNS, INTEREST_LLMNR, INTEREST_VXLAN = 1, 2, 3, 4
PORT_GTPU, PORT_TEREDO, PORT_VXLAN = 2152, 3544, 4789
# tunnels recognised but not opened (kind TUNNEL_UNKNOWN): C_TUNNEL_ID holds the GRE protocol
# type, or UDP_TUNNEL + the UDP port; named when their frames are counted
UDP_TUNNEL = 0x10000
ERSPAN_1 = 0x188BE  # GRE 0x88BE without a sequence number: ERSPAN type I
MAX_DEPTH = 4  # tunnels opened inside one another; one more is counted, not opened
TOO_DEEP = 0x2FFFF
VXLAN_LINUX = 8472  # Linux's VXLAN port before RFC 7348: named, read with --vxlan-port
UNKNOWN_TUNNELS = {0x88BE: "ERSPAN type II", 0x22EB: "ERSPAN type III",
                   ERSPAN_1: "ERSPAN type I",
                   TOO_DEEP: f"tunnels nested more than {MAX_DEPTH} deep",
                   UDP_TUNNEL + VXLAN_LINUX: "VXLAN on UDP 8472 (Linux's default port: "
                                             "--vxlan-port 8472 reads it)",
                   0x894F: "NSH over GRE", UDP_TUNNEL + 6081: "Geneve (UDP 6081)",
                   UDP_TUNNEL + 4790: "VXLAN-GPE (UDP 4790)", UDP_TUNNEL + 1701: "L2TP (UDP 1701)",
                   UDP_TUNNEL + 6635: "MPLS over UDP (UDP 6635)"}


def unknown_tunnel_name(code: int) -> str:
    """What frames of an encapsulation the native decoder does not open are called."""
    name = UNKNOWN_TUNNELS.get(code)
    if name is not None:
        return name
    return f"UDP port {code - UDP_TUNNEL}" if code >= UDP_TUNNEL else f"GRE protocol 0x{code:04X}"


def interest_table(extra_ports: tuple[int, ...] = (),
                   vxlan_ports: tuple[int, ...] = (PORT_VXLAN,)) -> np.ndarray:
    """Ports of interest -> protocol: 53 (and ``extra_ports``) DNS, 5353 mDNS, 5355 LLMNR;
    ``vxlan_ports``: UDP destination ports that carry VXLAN (RFC 7348 s5: 4789)."""
    table = np.zeros(65536, dtype=np.uint8)
    for port in vxlan_ports:
        table[port] = INTEREST_VXLAN
    table[5353] = INTEREST_MDNS
    table[5355] = INTEREST_LLMNR
    for port in (53, *extra_ports):
        table[port] = INTEREST_DNS
    return table


@helper
def udp_tunnel(buf: Any, g: int, stop: int, sport: int, dport: int) -> int:
    """The port of a UDP tunnel the walk does not open, when the datagram to it (payload at
    ``g``) starts with that tunnel's header -- a port alone is no evidence (an NTP client's
    source port may be 1701) -- else 0. Geneve (RFC 8926 s3.3-3.4: to port 6081, version 0,
    an Ethernet/IPv4/IPv6 protocol type, options inside the datagram); VXLAN-GPE (to 4790:
    version 0, I and P flags, next protocol 1-4); L2TP (RFC 2661 s3.1 / RFC 3931 s4.1.2.1:
    port 1701 either way, version 2 or 3, reserved bits clear, a control message with its
    length and sequence bits); MPLS over UDP (RFC 7510 s3: to 6635, a label stack whose
    bottom entry comes within four and is followed by IPv4 or IPv6)."""
    if g + 8 > stop:
        return 0
    b0 = buf[g]
    if dport == 6081:
        ptype = (buf[g + 2] << 8) | buf[g + 3]
        if b0 >> 6 == 0 and g + 8 + (b0 & 0x3F) * 4 <= stop and (
                ptype == 0x6558 or ptype == 0x0800 or ptype == 0x86DD):
            return 6081
        return 0
    if dport == 4790:
        if (b0 & 0x30) == 0 and (b0 & 0x0C) == 0x0C and 1 <= buf[g + 3] <= 4:
            return 4790
        return 0
    if dport == 1701 or sport == 1701:
        b1 = buf[g + 1]
        ver = b1 & 0x0F
        if (b0 & 0x34) == 0 and (b1 & 0xF0) == 0 and (ver == 2 or ver == 3) and (
                (b0 & 0x80) == 0 or (b0 & 0x48) == 0x48):
            return 1701
        return 0
    if dport == VXLAN_LINUX:  # RFC 7348 s5: I flag, reserved bits clear, Ethernet inside
        if b0 == 0x08 and buf[g + 1] == 0 and buf[g + 2] == 0 and buf[g + 3] == 0 \
                and buf[g + 7] == 0 and g + 8 + 14 <= stop:
            return VXLAN_LINUX
        return 0
    if dport == 6635:
        for k in range(4):
            at = g + 4 * k
            if at + 5 > stop:
                return 0
            if buf[at + 2] & 0x01:  # bottom of stack: IP follows
                v = buf[at + 4] >> 4
                return 6635 if v == 4 or v == 6 else 0
        return 0
    return 0


@helper
def copy_addr(buf: Any, p: int, size: int, out: Any, row: int) -> None:
    for k in range(16):
        out[row, k] = buf[p + k] if k < size else 0


@helper
def quoted(buf: Any, p: int, end: int, out: Any, qsrc: Any, qdst: Any, i: int) -> None:
    """The IP header (and transport ports, DNS id) an ICMP error quotes, from ``p``."""
    if p >= end:
        return
    version = buf[p] >> 4
    if version == 4:
        st, _ihl, _total, proto, _ident, frag, _mf, q, stop = ipv4_header(buf, p, end)
        if st == -3 or p + 20 > end:
            return
        out[i, C_QIPID] = (buf[p + 4] << 8) | buf[p + 5]
        out[i, C_QFAMILY] = 4
        out[i, C_QPROTO] = buf[p + 9]
        out[i, C_QIPSIZE] = (buf[p + 2] << 8) | buf[p + 3]
        copy_addr(buf, p + 12, 4, qsrc, i)
        copy_addr(buf, p + 16, 4, qdst, i)
        if st != 0 or frag != 0:
            return
        stop = end  # the quote is cut short by design: read what is there
    elif version == 6:
        if p + 40 > end:
            return
        out[i, C_QFAMILY] = 6
        out[i, C_QIPSIZE] = 40 + ((buf[p + 4] << 8) | buf[p + 5])
        copy_addr(buf, p + 8, 16, qsrc, i)
        copy_addr(buf, p + 24, 16, qdst, i)
        st, proto, q, stop, _pl, isfrag, fid, foff, _mf, _fh = ipv6_header(buf, p, end)
        out[i, C_QPROTO] = proto
        if isfrag:
            out[i, C_QIPID] = fid
        stop = end
        if isfrag and foff != 0:
            return
    else:
        return
    out[i, C_QPROTO] = proto
    if (proto == 17 or proto == 6) and q + 4 <= stop:
        out[i, C_QSPORT] = (buf[q] << 8) | buf[q + 1]
        out[i, C_QDPORT] = (buf[q + 2] << 8) | buf[q + 3]
        dns = q + 8 if proto == 17 else q + 20
        if proto == 6 and q + 13 <= stop:
            dns = q + (buf[q + 12] >> 4) * 4 + 2
        if dns + 2 <= stop:
            out[i, C_QDNSID] = (buf[dns] << 8) | buf[dns + 1]


@helper
def walk_one(buf: Any, p: int, cap: int, link: int, interest: Any, out: Any, src: Any, dst: Any,
             qsrc: Any, qdst: Any, i: int) -> None:
    """Classify the record at ``p`` (``cap`` bytes, link type ``link``) into row ``i``."""
    end = p + cap
    out[i, C_VLAN] = -1
    out[i, C_QDNSID] = -1
    out[i, C_QIPID] = -1
    out[i, C_TUNNEL_ID] = -1
    kind, p, vlan = link_payload(buf, p, end, link)
    out[i, C_VLAN] = vlan
    if kind == -1:
        out[i, C_KIND] = UNSUPPORTED_LINK
        return
    if kind == -2:
        out[i, C_KIND] = MALFORMED
        return
    if kind == 0:
        out[i, C_KIND] = OTHER
        return
    result = OTHER
    for _depth in range(MAX_DEPTH + 2):
        if _depth == MAX_DEPTH + 1:  # one more tunnel inside the deepest opened: named
            out[i, C_TUNNEL_ID] = TOO_DEEP
            result = TUNNEL_UNKNOWN
            break
        # -- IP ---------------------------------------------------------------------------
        if kind == 4:
            st, _ihl, total, proto, ident, frag, mf, q, stop = ipv4_header(buf, p, end)
            if st != 0:
                result = MALFORMED
                break
            out[i, C_FAMILY] = 4
            out[i, C_IPSIZE] = total
            copy_addr(buf, p + 12, 4, src, i)
            copy_addr(buf, p + 16, 4, dst, i)
            is_frag = mf == 1 or frag != 0
            fid = ident
            fh = 0
        else:
            st, proto, q, stop, plen, isf, fid, frag, mf, fh = ipv6_header(buf, p, end)
            if st == -3 or p + 40 > end:
                result = MALFORMED
                break
            out[i, C_FAMILY] = 6
            out[i, C_IPSIZE] = 40 + plen
            copy_addr(buf, p + 8, 16, src, i)
            copy_addr(buf, p + 24, 16, dst, i)
            if st != 0:
                result = MALFORMED
                break
            # an atomic fragment (offset 0, M clear) is processed in isolation, as a whole
            # packet (RFC 6946 s4): its payload follows the fragment header
            is_frag = isf == 1 and (mf == 1 or frag != 0)
        out[i, C_IPOFF] = p
        out[i, C_PROTO] = proto
        out[i, C_PAYOFF] = q
        out[i, C_L4END] = stop
        if is_frag:
            out[i, C_IPID] = fid
            out[i, C_FRAGOFF] = frag
            out[i, C_MF] = mf
            out[i, C_FRAGHDR] = fh
            out[i, C_PAYLEN] = stop - q
            if frag == 0 and (proto == 17 or proto == 6) and q + 4 <= stop:
                out[i, C_SPORT] = (buf[q] << 8) | buf[q + 1]
                out[i, C_DPORT] = (buf[q + 2] << 8) | buf[q + 3]
            result = FRAGMENT
            break
        # -- transport --------------------------------------------------------------------
        if proto == 17:
            if q + 8 > stop:
                result = MALFORMED
                break
            sport = (buf[q] << 8) | buf[q + 1]
            dport = (buf[q + 2] << 8) | buf[q + 3]
            ulen = (buf[q + 4] << 8) | buf[q + 5]
            out[i, C_SPORT] = sport
            out[i, C_DPORT] = dport
            of_sport = interest[sport]
            of_dport = interest[dport]
            if of_dport == INTEREST_VXLAN and (of_sport == 0 or of_sport == INTEREST_VXLAN):
                # (a DNS answer from port 53 to client port 4789 is DNS, not VXLAN)
                # VXLAN (RFC 7348 s5): 8-byte header, I flag set, 24-bit VNI, then Ethernet
                g = q + 8
                if g + 8 + 14 <= stop and (buf[g] & 0x08) != 0:
                    out[i, C_ENCAP] = ENCAP_VXLAN
                    out[i, C_TUNNEL_ID] = (buf[g + 4] << 16) | (buf[g + 5] << 8) | buf[g + 6]
                    inner = g + 8
                    kind, p, _v = ethertype_payload(buf, inner + 14, stop,
                                                    (buf[inner + 12] << 8) | buf[inner + 13])
                    end = stop
                    if kind == 4 or kind == 6:
                        continue
                    if kind == -2:
                        result = MALFORMED
                    break
                of_dport = 0
            if of_sport == INTEREST_VXLAN:
                of_sport = 0
            which = of_sport if of_sport != 0 else of_dport
            if of_dport == 1 or of_sport == 1:
                which = 1
            if which != 0:
                out[i, C_INTEREST] = which
                out[i, C_PAYOFF] = q + 8
                wire = ulen - 8 if ulen >= 8 else 0
                out[i, C_WIRELEN] = wire
                out[i, C_PAYLEN] = min(wire, max(stop - q - 8, 0))
                result = UDP_DNS
                break
            if (sport == PORT_GTPU or dport == PORT_GTPU) and q + 16 <= stop:
                g = q + 8
                flags = buf[g]
                if flags >> 5 == 1 and buf[g + 1] == 0xFF:
                    out[i, C_ENCAP] = 1
                    out[i, C_TUNNEL_ID] = ((buf[g + 4] << 24) | (buf[g + 5] << 16)
                                           | (buf[g + 6] << 8) | buf[g + 7])
                    inner = g + 8
                    if flags & 0x07:
                        if g + 12 > stop:
                            result = MALFORMED
                            break
                        ext = buf[g + 11]
                        inner = g + 12
                        while ext != 0 and inner < stop:
                            size = buf[inner] * 4
                            if size == 0 or inner + size > stop:
                                break
                            ext = buf[inner + size - 1]
                            inner += size
                    if inner < stop:
                        v = buf[inner] >> 4
                        if v == 4 or v == 6:
                            kind, p, end = v, inner, stop
                            continue
                break
            if (sport == PORT_TEREDO or dport == PORT_TEREDO) and q + 8 < stop:
                inner = q + 8
                if inner + 2 <= stop and buf[inner] == 0 and buf[inner + 1] == 1:
                    if inner + 4 > stop:
                        break
                    inner += 4 + buf[inner + 2] + buf[inner + 3] + 9
                if inner + 2 <= stop and buf[inner] == 0 and buf[inner + 1] == 0:
                    inner += 8
                if inner < stop and buf[inner] >> 4 == 6:
                    out[i, C_ENCAP] = 2
                    kind, p, end = 6, inner, stop
                    continue
            t = udp_tunnel(buf, q + 8, stop, sport, dport)
            if t != 0:
                out[i, C_TUNNEL_ID] = UDP_TUNNEL + t
                result = TUNNEL_UNKNOWN
            break
        if proto == 6:
            if q + 20 > stop:
                result = MALFORMED
                break
            sport = (buf[q] << 8) | buf[q + 1]
            dport = (buf[q + 2] << 8) | buf[q + 3]
            out[i, C_SPORT] = sport
            out[i, C_DPORT] = dport
            of_sport = interest[sport] if interest[sport] != INTEREST_VXLAN else 0
            of_dport = interest[dport] if interest[dport] != INTEREST_VXLAN else 0
            if of_sport == 0 and of_dport == 0:
                break
            out[i, C_INTEREST] = of_sport if of_sport != 0 else of_dport
            out[i, C_SEQ] = ((buf[q + 4] << 24) | (buf[q + 5] << 16) | (buf[q + 6] << 8)
                             | buf[q + 7])
            out[i, C_TCPFLAGS] = buf[q + 13]
            doff = (buf[q + 12] >> 4) * 4
            if doff < 20 or q + doff > stop:
                result = MALFORMED
                break
            out[i, C_PAYOFF] = q + doff
            out[i, C_PAYLEN] = stop - q - doff
            result = TCP_SEG
            break
        if proto == 1 or proto == 58:
            if q + 8 > stop:
                break
            t = buf[q]
            c = buf[q + 1]
            if proto == 1 and (t == 3 or t == 11 or t == 12 or t == 4):
                out[i, C_ICMPTYPE] = t
                out[i, C_ICMPCODE] = c
                if t == 3 and c == 4:
                    out[i, C_ICMPMTU] = (buf[q + 6] << 8) | buf[q + 7]
                quoted(buf, q + 8, stop, out, qsrc, qdst, i)
                result = ICMP_ERROR
            elif proto == 58 and t >= 1 and t <= 4:
                out[i, C_ICMPTYPE] = t
                out[i, C_ICMPCODE] = c
                if t == 2:
                    out[i, C_ICMPMTU] = ((buf[q + 4] << 24) | (buf[q + 5] << 16)
                                         | (buf[q + 6] << 8) | buf[q + 7])
                quoted(buf, q + 8, stop, out, qsrc, qdst, i)
                result = ICMP_ERROR
            break
        if proto == 47:  # GRE
            if q + 4 > stop:
                break
            gflags = (buf[q] << 8) | buf[q + 1]
            gproto = (buf[q + 2] << 8) | buf[q + 3]
            g = q + 4
            if gflags & 0x8000:
                g += 4
            if gflags & 0x2000:
                if g + 4 > stop:
                    break
                out[i, C_TUNNEL_ID] = ((buf[g] << 24) | (buf[g + 1] << 16) | (buf[g + 2] << 8)
                                       | buf[g + 3])
                g += 4
            if gflags & 0x1000:
                g += 4
            if (gflags & 0x0007) == 1 and gflags & 0x0080:  # enhanced GRE (RFC 2637): ack
                g += 4
            out[i, C_ENCAP] = 3
            if gproto == 0x6558:  # transparent Ethernet bridging
                if g + 14 > stop:
                    break
                kind, p, _v = ethertype_payload(buf, g + 14, stop,
                                                (buf[g + 12] << 8) | buf[g + 13])
            elif gproto == 0x880B:  # PPP (RFC 2637 s4.1; RFC 1661 s2): IPv4 0x21, IPv6 0x57
                if g + 2 <= stop and buf[g] == 0xFF and buf[g + 1] == 0x03:
                    g += 2  # address and control, unless compressed away (RFC 1662 s3.2)
                if g >= stop:
                    result = MALFORMED
                    break
                if buf[g] & 1:  # protocol field compressed to one byte (RFC 1661 s6.5)
                    ppp = buf[g]
                    g += 1
                elif g + 2 <= stop:
                    ppp = (buf[g] << 8) | buf[g + 1]
                    g += 2
                else:
                    result = MALFORMED
                    break
                kind = 4 if ppp == 0x21 else 6 if ppp == 0x57 else 0
                p = g
                if kind == 0:  # LCP, IPCP, CCP...: PPP's own control, not IP
                    break
            else:
                kind, p, _v = ethertype_payload(buf, g, stop, gproto)
            end = stop
            if kind == 4 or kind == 6:
                continue
            if gproto == 0x88BE or gproto == 0x22EB or gproto == 0x894F or (
                    kind == 0 and gproto != 0x6558 and gproto != 0x0800 and gproto != 0x86DD
                    and gproto != 0x8100 and gproto != 0x88A8 and gproto != 0x8864
                    and gproto != 0x8847 and gproto != 0x8848 and gproto != 0x9100
                    and gproto != 0x0806 and gproto != 0):
                # ERSPAN (GRE 0x88BE): type II carries a sequence number, type I none
                out[i, C_TUNNEL_ID] = ERSPAN_1 if gproto == 0x88BE and not gflags & 0x1000 \
                    else gproto
                result = TUNNEL_UNKNOWN
            break
        if proto == 4 or proto == 41:
            out[i, C_ENCAP] = 4
            kind, p, end = (4 if proto == 4 else 6), q, stop
            continue
        break
    out[i, C_KIND] = result


def walk_packets(buf: Any, rec_off: Any, rec_cap: Any, rec_link: Any, interest: Any,
                 out: Any, src: Any, dst: Any, qsrc: Any, qdst: Any) -> None:
    """Classify every record (see module docs); ``out`` rows start zeroed."""
    for i in range(len(rec_off)):
        walk_one(buf, rec_off[i], rec_cap[i], rec_link[i], interest, out, src, dst, qsrc, qdst,
                 i)


def inner_of_first_fragment(family: int, proto: int, payload: bytes, interest: Any
                            ) -> tuple[int, bytes, bytes, int, int] | None:
    """What a tunnel's first fragment carries -- the innermost (family, source, destination,
    source port, destination port) -- read by this very walk from the fragment's payload behind
    a stand-in outer header (``family``, ``proto``); None when no tunnel is opened there. For
    a set that never completed, whose outer addresses are the tunnel's ends: its question
    is found by these (both engines call it on the same bytes). Plain Python, a few calls."""
    import struct

    if family == 4:
        head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, min(20 + len(payload), 65535), 0, 0, 64,
                           proto, 0, bytes(4), bytes(4))
    else:
        head = struct.pack("!IHBB16s16s", 6 << 28, min(len(payload), 65535), proto, 64,
                           bytes(16), bytes(16))
    buf = head + bytes(payload)
    out = np.zeros((1, NCOL), dtype=np.int64)
    src, dst, qsrc, qdst = (np.zeros((1, 16), dtype=np.uint8) for _ in range(4))
    walk_one(buf, 0, len(buf), 101, interest, out, src, dst, qsrc, qdst, 0)  # 101: raw IP
    if out[0, C_ENCAP] <= 0 or out[0, C_FAMILY] not in (4, 6):
        return None
    size = 4 if out[0, C_FAMILY] == 4 else 16
    sport, dport = int(out[0, C_SPORT]), int(out[0, C_DPORT])
    return (int(out[0, C_FAMILY]), bytes(src[0, :size]), bytes(dst[0, :size]), sport, dport)

