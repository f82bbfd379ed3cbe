"""Link layers: from a record's first byte to its IP header.

Handled natively (link-type numbers from the tcpdump.org LINKTYPE registry): Ethernet (1) with
any stack of 802.1Q / 802.1ad / QinQ tags, PPPoE sessions and MPLS label stacks; Linux cooked
capture v1 (113) and v2 (276); raw IP (101, 12, 14, 228 IPv4, 229 IPv6); BSD loopback NULL (0,
host byte order) and LOOP (108, network byte order); NFLOG (239, the payload TLV). Any other
link type is handed to tshark (see :mod:`.engines`).
"""

from __future__ import annotations

from typing import Any

from .jit import helper

ETHERNET, NULL, RAW, RAW_12, RAW_14, LOOP, SLL, RAW4, RAW6, NFLOG, SLL2 = (
    1, 0, 101, 12, 14, 108, 113, 228, 229, 239, 276)
# NFLOG's TLV headers are in the capturing host's byte order, which is the file's (libpcap and
# wiretap byte-swap them for a reader on the other order): records of a big-endian file carry
# this internal link code, reported as 239
NFLOG_BIG = 0x10000 | NFLOG
SUPPORTED = frozenset({ETHERNET, NULL, RAW, RAW_12, RAW_14, LOOP, SLL, RAW4, RAW6, NFLOG, SLL2})
# what link_payload returns in its first slot
IPV4, IPV6, NOT_IP, UNSUPPORTED, CUT = 4, 6, 0, -1, -2


@helper
def ethertype_payload(buf: Any, p: int, end: int, etype: int) -> Any:
    """(IPV4 | IPV6 | NOT_IP | CUT, offset of the IP header, first VLAN id or -1) after an
    EtherType at ``p``: VLAN tags, PPPoE and MPLS are stepped over."""
    vlan = -1
    for _ in range(8):
        if etype == 0x0800:
            return IPV4, p, vlan
        if etype == 0x86DD:
            return IPV6, p, vlan
        if etype == 0x8100 or etype == 0x88A8 or etype == 0x9100:
            if p + 4 > end:
                return CUT, p, vlan
            if vlan < 0:
                vlan = ((buf[p] << 8) | buf[p + 1]) & 0x0FFF
            etype = (buf[p + 2] << 8) | buf[p + 3]
            p += 4
        elif etype == 0x8864:  # PPPoE session: 6-byte header, then a PPP protocol
            if p + 8 > end:
                return CUT, p, vlan
            ppp = (buf[p + 6] << 8) | buf[p + 7]
            p += 8
            if ppp == 0x0021:
                return IPV4, p, vlan
            if ppp == 0x0057:
                return IPV6, p, vlan
            return NOT_IP, p, vlan
        elif etype == 0x8847 or etype == 0x8848:  # MPLS: pop to bottom of stack
            while True:
                if p + 4 > end:
                    return CUT, p, vlan
                bottom = buf[p + 2] & 1
                p += 4
                if bottom:
                    break
            if p >= end:
                return CUT, p, vlan
            version = buf[p] >> 4
            return (IPV4 if version == 4 else IPV6 if version == 6 else NOT_IP), p, vlan
        else:
            return NOT_IP, p, vlan
    return NOT_IP, p, vlan


@helper
def link_payload(buf: Any, p: int, end: int, link: int) -> Any:
    """(IPV4 | IPV6 | NOT_IP | UNSUPPORTED | CUT, offset of the IP header, VLAN id or -1)."""
    if link == 1:
        if p + 14 > end:
            return CUT, p, -1
        return ethertype_payload(buf, p + 14, end, (buf[p + 12] << 8) | buf[p + 13])
    if link == 113:
        if p + 16 > end:
            return CUT, p, -1
        return ethertype_payload(buf, p + 16, end, (buf[p + 14] << 8) | buf[p + 15])
    if link == 276:
        if p + 20 > end:
            return CUT, p, -1
        return ethertype_payload(buf, p + 20, end, (buf[p] << 8) | buf[p + 1])
    if link == 101 or link == 12 or link == 14 or link == 228 or link == 229:
        if p >= end:
            return CUT, p, -1
        version = buf[p] >> 4
        return (IPV4 if version == 4 else IPV6 if version == 6 else NOT_IP), p, -1
    if link == 0 or link == 108:
        if p + 4 > end:
            return CUT, p, -1
        if link == 108:
            family = (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]
        else:
            family = (buf[p + 3] << 24) | (buf[p + 2] << 16) | (buf[p + 1] << 8) | buf[p]
            if family > 0xFFFF:  # written on a big-endian host
                family = (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]
        if family == 2:
            return IPV4, p + 4, -1
        if family == 10 or family == 24 or family == 28 or family == 30:
            return IPV6, p + 4, -1
        return NOT_IP, p + 4, -1
    if link == 239 or link == 65775:  # NFLOG: family, version, resource id, then TLVs
        if p + 4 > end:
            return CUT, p, -1
        family = buf[p]
        q = p + 4
        while q + 4 <= end:
            if link == 65775:  # NFLOG_BIG: the file (and the host that wrote it) big-endian
                tlv_len = (buf[q] << 8) | buf[q + 1]
                tlv_type = (buf[q + 2] << 8) | buf[q + 3]
            else:
                tlv_len = buf[q] | (buf[q + 1] << 8)
                tlv_type = buf[q + 2] | (buf[q + 3] << 8)
            if tlv_len < 4:
                return CUT, q, -1
            if tlv_type == 9:  # NFULA_PAYLOAD
                if family == 2:
                    return IPV4, q + 4, -1
                if family == 10:
                    return IPV6, q + 4, -1
                return NOT_IP, q + 4, -1
            q += (tlv_len + 3) & ~3
        return NOT_IP, q, -1
    return UNSUPPORTED, p, -1
