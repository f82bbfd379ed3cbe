"""IP: IPv4 (RFC 791, with options) and IPv6 (RFC 8200, extension headers) headers, and
reassembly of fragmented datagrams.

Header walking is a kernel helper (:mod:`.jit`); reassembly runs in Python over the few
packets that are fragments. A set is keyed as RFC 791 s3.2 / RFC 8200 s4.5 say -- source,
destination, identification (and protocol for IPv4) -- and is complete when the fragment
without "more fragments" has arrived and the offsets cover every byte before it. Duplicated
fragments are counted once (the first copy's bytes win, as in most stacks); overlapping ones
are kept as they come. A set that never completes is kept, with the frames seen, so the loss
is visible (RFC 8200 s4.5: the receiver discards it after 60 s and may send ICMPv6 Time
Exceeded code 1).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from .jit import helper

OK, CUT, BAD = 0, -2, -3
_EXT = (0, 43, 60, 135, 139, 140)  # hop-by-hop, routing, destination options, mobility, HIP, shim6


@helper
def ipv4_header(buf: Any, p: int, end: int) -> Any:
    """(status, header length, total length, protocol, identification, fragment offset in
    bytes, more-fragments, payload start, payload end) of the IPv4 header at ``p``."""
    if p + 20 > end:
        return CUT, 0, 0, 0, 0, 0, 0, p, p
    if buf[p] >> 4 != 4:
        return BAD, 0, 0, 0, 0, 0, 0, p, p
    ihl = (buf[p] & 0x0F) * 4
    total = (buf[p + 2] << 8) | buf[p + 3]
    if ihl < 20 or total < ihl:
        return BAD, ihl, total, 0, 0, 0, 0, p, p
    if p + ihl > end:
        return CUT, ihl, total, 0, 0, 0, 0, p, p
    ident = (buf[p + 4] << 8) | buf[p + 5]
    flags = (buf[p + 6] << 8) | buf[p + 7]
    stop = min(p + total, end)  # beyond the total length is link padding
    return OK, ihl, total, buf[p + 9], ident, (flags & 0x1FFF) * 8, (flags >> 13) & 1, p + ihl, stop


@helper
def ipv6_header(buf: Any, p: int, end: int) -> Any:
    """(status, upper protocol, payload start, payload end, payload length, is fragment,
    fragment identification, fragment offset in bytes, more-fragments, offset of the fragment
    header from ``p``) of the IPv6 header at ``p``, extension headers stepped over."""
    if p + 40 > end:
        return CUT, 0, p, p, 0, 0, 0, 0, 0, 0
    if buf[p] >> 4 != 6:
        return BAD, 0, p, p, 0, 0, 0, 0, 0, 0
    plen = (buf[p + 4] << 8) | buf[p + 5]
    stop = min(p + 40 + plen, end)
    nxt = buf[p + 6]
    q = p + 40
    for _ in range(16):
        if nxt == 0 or nxt == 43 or nxt == 60 or nxt == 135 or nxt == 139 or nxt == 140:
            if q + 8 > stop:
                return CUT, nxt, q, stop, plen, 0, 0, 0, 0, 0
            nxt, q = buf[q], q + (buf[q + 1] + 1) * 8
        elif nxt == 51:  # AH
            if q + 8 > stop:
                return CUT, nxt, q, stop, plen, 0, 0, 0, 0, 0
            nxt, q = buf[q], q + (buf[q + 1] + 2) * 4
        elif nxt == 44:  # fragment header
            if q + 8 > stop:
                return CUT, nxt, q, stop, plen, 0, 0, 0, 0, 0
            off_flags = (buf[q + 2] << 8) | buf[q + 3]
            ident = (buf[q + 4] << 24) | (buf[q + 5] << 16) | (buf[q + 6] << 8) | buf[q + 7]
            return (OK, buf[q], q + 8, stop, plen, 1, ident, (off_flags >> 3) * 8, off_flags & 1,
                    q - p)
        else:
            break
    if q > stop:
        return CUT, nxt, stop, stop, plen, 0, 0, 0, 0, 0
    return OK, nxt, q, stop, plen, 0, 0, 0, 0, 0


@dataclass
class FragmentSet:
    """The fragments of one datagram, as seen."""

    key: tuple[Any, ...]
    rows: list[int] = field(default_factory=list)  # packet-table rows, in capture order
    pieces: dict[int, bytes] = field(default_factory=dict)  # offset -> data (first copy)
    total: int | None = None  # payload length, known once the last fragment is seen
    header: bytes = b""  # the first fragment's IP header, to rebuild the datagram
    proto: int = 0
    duplicates: int = 0
    done_at: int | None = None  # the row whose arrival completed the set

    def add(self, row: int, offset: int, more: bool, data: bytes) -> bool:
        """Add a fragment; True when this one completes the set."""
        self.rows.append(row)
        if offset in self.pieces:
            self.duplicates += 1
        else:
            self.pieces[offset] = data
        if not more:
            self.total = offset + len(data)
        if self.done_at is None and self.total is not None and self._covered():
            self.done_at = row
            return True
        return False

    def _covered(self) -> bool:
        reach = 0
        for off in sorted(self.pieces):
            if off > reach:
                return False
            reach = max(reach, off + len(self.pieces[off]))
        return self.total is not None and reach >= self.total

    def payload(self) -> bytes:
        out = bytearray(self.total or 0)
        for off in sorted(self.pieces, reverse=True):  # lower offsets (earlier data) win
            piece = self.pieces[off][: max(0, len(out) - off)]
            out[off: off + len(piece)] = piece
        return bytes(out)


def rebuild_ipv4(header: bytes, payload: bytes) -> bytes:
    """A whole IPv4 datagram from the first fragment's header and the reassembled payload
    (fragment fields cleared, total length set; the checksum is not recomputed)."""
    h = bytearray(header)
    struct.pack_into("!H", h, 2, len(h) + len(payload))
    h[6:8] = b"\0\0"  # flags and fragment offset
    return bytes(h) + payload


def rebuild_ipv6(fixed: bytes, proto: int, payload: bytes) -> bytes:
    """A whole IPv6 datagram: the fixed header with Next Header = the fragmented protocol and
    the payload length of the reassembled data (the unfragmentable extension headers are
    dropped: nothing above IP reads them)."""
    h = bytearray(fixed[:40])
    struct.pack_into("!H", h, 4, len(payload))
    h[6] = proto
    return bytes(h) + payload
