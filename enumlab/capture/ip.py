"""IP: IPv4 (RFC 791, with options) and IPv6 (RFC 8200, extension headers) headers, and
reassembly of fragmented datagrams.

Header walking is a kernel helper (:mod:`.jit`); reassembly is a kernel too
(:func:`reassemble_fragments`, fed batch by batch by :class:`.native.Fragments`), work linear
in fragment bytes (coverage kept in 8-byte units, RFC 791 s3.2). :class:`FragmentSet` is the
same rule in Python, over the few fragments tshark lists (:mod:`.tshark`).

A set is keyed as RFC 791 s3.2 / RFC 8200 s4.5 say -- source, destination, identification
(and protocol for IPv4) -- and is complete when the fragment without "more fragments" has
arrived and the offsets cover every byte before it. Duplicated fragments are counted once
(the first copy's bytes win, as in most stacks); where pieces overlap the lower offset wins. A
set past 65,535 bytes is malformed: counted, no datagram. A set that never completes is
kept, with the frames seen, so the loss is visible (RFC 8200 s4.5: the receiver discards it
after 60 s and may send ICMPv6 Time Exceeded code 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
    overlap: bool = False  # two pieces (not copies) cover the same bytes

    def add(self, row: int, offset: int, more: bool, data: bytes) -> bool:
        """Add a fragment; True when this one completes the set."""
        self.rows.append(row)
        if offset in self.pieces:
            self.duplicates += 1
        else:
            end = offset + len(data)
            self.overlap |= any(o < end and offset < o + len(d) for o, d in self.pieces.items())
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


# -- compiled reassembly ---------------------------------------------------------------------
MAX_DATAGRAM = 65535
UNITS = 8192  # 8-byte fragment units in the largest datagram payload (RFC 791 s3.1)
CARRIED = 1 << 40  # a fragment carried over from the previous batch (in its flags)
OVERLAP = 2  # an instance's flag: IPv6 fragments overlapped (RFC 5722), no datagram
HEADER_ROOM = 60  # bytes kept of each fragment's IP header (IPv4 with options; IPv6 fixed)


def reassemble_fragments(data: Any, hdr: Any, hdr_len: Any, family: Any, proto: Any,
                         key: Any, row: Any, offset: Any, more: Any, flags: Any,
                         dstart: Any, length: Any, claimed: Any, cur: Any, done_row: Any,
                         seen: Any,
                         dups: Any, oversize: Any, n_inst: int, stamp: Any, starts: Any,
                         pick: Any, out: Any, dg: Any, frag_inst: Any, left: Any) -> Any:
    """Kernel: fragments sorted by set key then capture order (``key``: the set key's index;
    ``cur[key]``: its open instance, -1 none) -> datagrams. A set is complete when its last
    fragment (no more-fragments) has come and the 8-byte units before its end are covered;
    duplicated offsets count once (the first copy's bytes win; lower offsets win where
    pieces overlap), a completed set's bytes are dropped and a later fragment with the same
    key starts a new set. Per instance: completing row, fragments seen, duplicates, and a
    flag for a set past 65,535 bytes (1, malformed: no datagram) or an IPv6 set whose
    fragments overlap (:data:`OVERLAP`: discarded whole, RFC 5722 s4). ``out`` receives each
    datagram (header rebuilt: fragment fields cleared, lengths set); ``dg`` rows: offset,
    length, index of the completing fragment, fragment count, first row, instance.
    ``frag_inst``: each fragment's instance; ``left``: fragments of sets still open (carried
    to the next batch). ``length``: each fragment's captured payload; ``claimed``: what its IP
    header says it carried, larger where the snap length cut the record -- coverage counts
    the claim (the fragment came whole over the wire), and the datagram's bytes end at the
    first cut (as a datagram cut by the snap length: its header keeps the whole length).
    Returns (instances, datagrams, bytes written, left)."""
    n = len(row)
    nd = 0
    w = 0
    nl = 0
    gen = 0
    i = 0
    while i < n:
        k = key[i]
        j = i
        while j < n and key[j] == k:
            j += 1
        inst = cur[k]
        begin = i  # first fragment of the open instance within this run
        total = -1
        covered = 0
        gen += 1
        for f in range(i, j):
            carried = (flags[f] & CARRIED) != 0
            if inst < 0 or done_row[inst] >= 0 or oversize[inst] == 1:
                inst = n_inst
                n_inst += 1
                done_row[inst] = -1
                seen[inst] = 0
                dups[inst] = 0
                oversize[inst] = 0
                cur[k] = inst
                begin = f
                total = -1
                covered = 0
                gen += 1
            frag_inst[f] = inst
            if not carried:
                seen[inst] += 1
            o = offset[f]
            size = claimed[f]
            unit = o >> 3
            if unit >= UNITS or o + size > MAX_DATAGRAM + HEADER_ROOM:
                oversize[inst] = 1  # no IP datagram reaches this far
                continue
            if starts[unit] == gen:
                if not carried:
                    dups[inst] += 1
                pick[f] = 0
                continue
            starts[unit] = gen
            pick[f] = 1
            if more[f] == 0:
                total = o + size
            stop_unit = min((o + size + 7) >> 3, UNITS)
            for u in range(unit, stop_unit):
                if stamp[u] != gen:
                    stamp[u] = gen
                    covered += 1
                elif family[f] == 6:
                    # RFC 5722 s4 (RFC 8200 s4.5): overlapping IPv6 fragments -- the whole
                    # datagram is discarded, and the fragments of it still to come
                    oversize[inst] = OVERLAP
            if total < 0 or oversize[inst] != 0:
                continue
            need = (total + 7) >> 3
            if covered < need or need > UNITS:
                continue
            whole = True
            for u in range(need):
                if stamp[u] != gen:
                    whole = False
                    break
            if not whole:
                continue
            # -- complete: the first fragment's header, then the pieces ------------------
            first = -1
            first_row = row[f]
            count = 0
            cut_at = total  # the first byte the capture lacks (a fragment the snap length cut)
            for g in range(begin, f + 1):
                if frag_inst[g] == inst:
                    count += pick[g]  # a duplicated offset counts once
                    if row[g] < first_row:
                        first_row = row[g]
                    if pick[g] == 1 and offset[g] == 0:
                        first = g
                    if pick[g] == 1 and length[g] < claimed[g] and offset[g] + length[g] < cut_at:
                        cut_at = offset[g] + length[g]
            done_row[inst] = row[f]
            head = hdr_len[first] if family[first] == 4 else 40
            if total + (head if family[first] == 4 else 0) > MAX_DATAGRAM:
                oversize[inst] = 1
                done_row[inst] = -1
                continue
            at = w
            out[w:w + head] = hdr[first, :head]
            if family[first] == 4:
                size4 = head + total
                out[at + 2] = size4 >> 8
                out[at + 3] = size4 & 0xFF
                out[at + 6] = 0
                out[at + 7] = 0
            else:
                out[at + 4] = total >> 8
                out[at + 5] = total & 0xFF
                out[at + 6] = proto[first]
            w += head
            # the bytes up to the first cut only (all captured: every byte before it is
            # covered by a fragment the capture kept whole up to there), so the output never
            # outgrows the captured bytes, whatever lengths the headers claim
            out[w:w + cut_at] = 0
            # lower offsets win: write the pieces from the highest offset down
            order = np.argsort(-offset[begin:f + 1])
            for q in order:
                g = begin + q
                if frag_inst[g] != inst or pick[g] != 1:
                    continue
                o2 = offset[g]
                end2 = min(o2 + length[g], cut_at)
                if end2 > o2:
                    out[w + o2:w + end2] = data[dstart[g]:dstart[g] + end2 - o2]
            dg[nd, 0] = at
            dg[nd, 1] = head + cut_at
            dg[nd, 2] = f
            dg[nd, 3] = count
            dg[nd, 4] = first_row
            dg[nd, 5] = inst
            nd += 1
            w += cut_at
        # the run's end: an instance still open carries its fragments to the next batch
        if inst >= 0 and done_row[inst] < 0 and oversize[inst] == 0:
            for g in range(begin, j):
                if frag_inst[g] == inst:
                    left[nl] = g
                    nl += 1
        i = j
    return n_inst, nd, w, nl
