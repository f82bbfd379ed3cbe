"""The engine's output: the message table (one row per DNS message on the wire) and beside it
the few packets that are not DNS messages but matter -- IP fragments, ICMP errors, TCP
connection control -- each a DataFrame with the fixed columns below. Both engines (native and
tshark) produce exactly these tables; the differential test compares them column by column.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from . import dns_message as dm
from . import packets as pk
from .columns import Columns, DeferredTexts, Later, LazyTexts, factorize, once

MESSAGE_COLUMNS: dict[str, str] = {
    "frame": "int64",  # the frame whose arrival completed the message (1-based)
    "first_frame": "int64",  # the frame holding its first byte (TCP / fragments: earlier)
    "time": "float64",  # epoch seconds of ``frame``
    "family": "category", "src": "category", "dst": "category", "sport": "int64",
    "dport": "int64",
    "transport": "category",  # udp | tcp
    "protocol": "category",  # dns | mdns | llmnr (by port)
    "dns_id": "Int64", "qr": "boolean", "opcode": "Int64", "aa": "boolean", "tc": "boolean",
    "rd": "boolean", "ra": "boolean", "ad": "boolean", "cd": "boolean",
    "rcode": "Int64",  # 12-bit: the header's 4 bits plus EDNS0's extended RCODE (RFC 6891 s6.1.3)
    "qdcount": "Int64", "ancount": "Int64", "nscount": "Int64", "arcount": "Int64",
    "qname": "category",  # lower-case, no final dot; NA when the message has no question
    "qname_ok": "boolean",  # False: a question whose name could not be decoded
    "qtype": "Int64", "qclass": "Int64",
    "edns": "boolean", "edns_size": "Int64", "edns_do": "boolean", "edns_version": "Int64",
    "edns_options": "category",  # option codes, comma-separated ("" = OPT without options)
    "dns_size": "int64",  # message length on the wire (UDP length - 8, or the TCP length prefix)
    "captured_size": "int64",  # how much of it the capture holds (less: snap length)
    "ip_size": "Int64",  # the (reassembled) IP datagram that carried it
    "ip_fragments": "int64",  # fragments it was reassembled from (0: not fragmented)
    "encapsulation": "category",  # "" | gtpu | teredo | gre | ipip | vxlan
    "tunnel_id": "Int64",  # GTP-U TEID or GRE key
    "vlan": "Int64",  # the outermost 802.1Q VLAN id
    "malformed": "category",  # "" or why decoding stopped
}
FRAGMENT_COLUMNS: dict[str, str] = {
    "frame": "int64", "time": "float64", "family": "string", "src": "string", "dst": "string",
    "ip_id": "int64", "offset": "int64", "more": "boolean", "size": "int64", "protocol": "Int64",
    "sport": "Int64", "dport": "Int64", "complete": "boolean", "reassembled_in": "Int64",
    "fragments_seen": "int64", "duplicates": "int64",
    # a tunnel's first fragment of a set that never completed: what it carries (its question)
    "inner_src": "string", "inner_dst": "string", "inner_sport": "Int64", "inner_dport": "Int64",
}
ICMP_COLUMNS: dict[str, str] = {
    "frame": "int64", "time": "float64", "family": "string", "src": "string", "dst": "string",
    "type": "int64", "code": "int64", "kind": "string", "mtu": "Int64",
    "quoted_src": "string", "quoted_dst": "string", "quoted_protocol": "Int64",
    "quoted_sport": "Int64", "quoted_dport": "Int64", "quoted_ip_size": "Int64",
    "quoted_ip_id": "Int64",  # IPv4 identification, or the IPv6 fragment header's
    "quoted_dns_id": "Int64",
}
TCP_COLUMNS: dict[str, str] = {
    "frame": "int64", "time": "float64", "family": "string", "src": "string", "dst": "string",
    "sport": "int64", "dport": "int64", "syn": "boolean", "ack": "boolean", "fin": "boolean",
    "rst": "boolean",
    "carried": "boolean",  # the direction this segment opened carried a DNS message (native)
}
_M = {c: i for i, c in enumerate(pk.MSG_COLS)}  # full column -> column kept per message
PROTOCOLS = {pk.INTEREST_DNS: "dns", pk.INTEREST_MDNS: "mdns", pk.INTEREST_LLMNR: "llmnr"}


def icmp_kind(family: int, itype: int, code: int) -> str:
    """A name for an ICMP (RFC 792, RFC 1191) / ICMPv6 (RFC 4443) error."""
    if family == 4:
        if itype == 3:
            return {3: "port-unreachable", 4: "fragmentation-needed", 1: "host-unreachable",
                    0: "net-unreachable", 13: "admin-prohibited"}.get(code, "unreachable")
        if itype == 11:
            return "reassembly-time-exceeded" if code == 1 else "ttl-exceeded"
        return {12: "parameter-problem", 4: "source-quench"}.get(itype, f"icmp-{itype}")
    if itype == 1:
        return {4: "port-unreachable", 1: "admin-prohibited", 3: "address-unreachable"}.get(
            code, "unreachable")
    if itype == 2:
        return "packet-too-big"
    if itype == 3:
        return "reassembly-time-exceeded" if code == 1 else "hop-limit-exceeded"
    return "parameter-problem"


QKEY = "qname_key"  # an extra column of message tables: one integer per distinct QNAME
PAIRKEY = "pair_key"  # (in pieces) one integer per QNAME and the two addresses, either way
_SPECS = {"messages": MESSAGE_COLUMNS, "fragments": FRAGMENT_COLUMNS, "icmp": ICMP_COLUMNS,
          "tcp": TCP_COLUMNS}


@dataclass
class CaptureTables:
    """What an engine read from one capture. Each table is held as :class:`~enumlab.capture.columns.
    Columns` (what the analysis computes on) and becomes a pandas DataFrame the first time
    ``messages`` / ``fragments`` / ``icmp`` / ``tcp`` is read; from then on the DataFrame is the
    table (a caller may change it) and :meth:`columns` reads it back."""

    path: str
    engine: str  # "native" | "tshark"
    messages_: Any  # Columns or DataFrame, MESSAGE_COLUMNS
    fragments_: Any  # FRAGMENT_COLUMNS
    icmp_: Any  # ICMP_COLUMNS
    tcp_: Any  # TCP_COLUMNS
    total_frames: int
    capture_filter: str | None = None
    warnings: list[str] = field(default_factory=list)
    link_types: dict[int, int] = field(default_factory=dict)  # link type -> frames
    retransmitted_frames: list[int] = field(default_factory=list)  # TCP segments seen again
    warning_frames: list[int | None] = field(default_factory=list)  # each warning's frame
    mid_stream_frames: list[int] = field(default_factory=list)  # TCP streams seen without SYN
    intact_bytes: int | None = None  # a damaged file: the bytes before the damage (native)
    undecoded_tunnels: dict[str, int] = field(default_factory=dict)  # name -> frames (native)
    # when the capture's last record (of any kind) was taken: where the capture stopped
    last_time: float = float("nan")
    dns_ports: tuple[int, ...] = ()  # ports read as DNS besides 53, 5353, 5355 (--port)

    def _frame(self, name: str) -> Any:
        held = getattr(self, name + "_")
        if isinstance(held, Columns):
            held = held.frame()
            setattr(self, name + "_", held)
        return held

    def columns(self, name: str) -> Columns:
        """One table (``messages``, ``fragments``, ``icmp``, ``tcp``) as numpy columns."""
        held = getattr(self, name + "_")
        return held if isinstance(held, Columns) else Columns.of_frame(held, _SPECS[name])

    def rows(self, name: str) -> int:
        return len(getattr(self, name + "_"))

    @property
    def messages(self) -> Any:
        return self._frame("messages")

    @messages.setter
    def messages(self, value: Any) -> None:
        self.messages_ = value

    @property
    def fragments(self) -> Any:
        return self._frame("fragments")

    @property
    def icmp(self) -> Any:
        return self._frame("icmp")

    @property
    def tcp(self) -> Any:
        return self._frame("tcp")


def addresses(family: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Address text per row (object array), formatted once per distinct address."""
    codes, text = addresses_codes(family, raw)
    out: np.ndarray = np.array(text, dtype=object)[codes] if len(codes) else np.zeros(
        0, dtype=object)
    out[(family != 4) & (family != 6)] = None  # no address (an ICMP error quoting nothing)
    return out


def frame_of(columns: dict[str, Any], spec: dict[str, str]) -> Any:
    import pandas as pd

    frame = pd.DataFrame({name: columns[name] for name in spec})
    for name, dtype in spec.items():
        if str(frame[name].dtype) != dtype:
            frame[name] = frame[name].astype(cast(Any, dtype))
    return frame


PARALLEL_ROWS = 1 << 15  # from here the columns every summary reads are joined in two threads
# ... which are: the walk's columns (packets.C_*) and the DNS decoder's (dns_message.D_*)
_P_READ = (pk.C_FAMILY, pk.C_SPORT, pk.C_DPORT, pk.C_INTEREST, pk.C_WIRELEN, pk.C_IPSIZE,
           pk.C_PAYLEN)
_D_READ = (dm.D_STATUS, dm.D_FLAGS, dm.D_EDNS, dm.D_ID, dm.D_QNAME_OFF, dm.D_QHASH,
           dm.D_QNAME_WIRE, dm.D_QTYPE, dm.D_EDNS_SIZE, dm.D_EDNS_EXT, dm.D_QD)


def _gathered(d: Any, P: _Joined, D: _Joined, cat: Any) -> tuple[Any, Any, Any, Any]:
    """The columns every analysis reads, joined from the parts, and the codes of addresses and
    QNAMEs (a hash table each) -- for a big table in two threads (copies and the compiled
    kernels let the GIL go): ((msg_len, transport, ip_fragments, has a question), (address
    codes of src then dst, labels), (QNAME codes, texts))."""
    m = d.messages
    n = sum(len(r) for r in m.row)
    parts = (m.buf_id, m.msg_off, m.msg_len, m.transport, m.fragments, m.src, m.dst)
    with ThreadPoolExecutor(max_workers=2) if n >= PARALLEL_ROWS else nullcontext() as pool:
        if pool is not None:
            P.fill(tuple(_M[c] for c in _P_READ), pool)
            D.fill(_D_READ, pool)
        joined = list((pool.map if pool is not None else map)(cat, parts))
        dst = joined.pop()
        src = joined.pop()
        has_q = D[dm.D_QNAME_OFF] >= 0
        qname_args = (d, D[dm.D_QHASH], D[dm.D_QNAME_OFF], D[dm.D_QNAME_WIRE], has_q,
                      joined[0], joined[1], joined[2])
        later = pool.submit(_qnames, *qname_args) if pool is not None else None
        family = P[_M[pk.C_FAMILY]]
        coded = addresses_codes(np.concatenate([family, family]), np.concatenate([src, dst]))
        qnames = later.result() if later is not None else _qnames(*qname_args)
    return (*joined[2:], has_q), coded, qnames, (src, dst)


def pair_keys(qkey: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """One 63-bit integer per message for its QNAME key and its two addresses (16 bytes
    each) taken in either order: a query and its answer, a retry, a TC=1 answer and the TCP
    retry of that client to that server share it. The same in every piece of a capture; two
    conversations may share one (a hash), never one conversation two."""
    a = np.ascontiguousarray(src, dtype=np.uint8).view(np.uint64)
    b = np.ascontiguousarray(dst, dtype=np.uint8).view(np.uint64)
    m0, m1, m2 = (np.uint64(x) for x in _MIX)
    one, other = a[:, 0] * m0 ^ a[:, 1] * m1, b[:, 0] * m0 ^ b[:, 1] * m1
    lo, hi = np.minimum(one, other), np.maximum(one, other)
    mixed = np.asarray(qkey).astype(np.int64).view(np.uint64) * m2 ^ lo ^ (hi * m1 + m0)
    out: np.ndarray = (mixed >> np.uint64(1)).astype(np.int64)
    return out


_MIX = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)  # odd 64-bit mixers


def message_columns(d: Any, *, pairs: bool = False) -> Columns:
    """The message table of a :class:`.native.Decoded` as numpy columns (no pandas): integer
    codes for addresses and names, QNAME text decoded only when read. ``pairs``: with the
    :data:`PAIRKEY` column (:func:`pair_keys`; a capture analysed in pieces finds a piece's
    context by it)."""
    m = d.messages
    if not m.row:
        empty = empty_columns(MESSAGE_COLUMNS)
        empty.values[QKEY] = np.zeros(0, dtype=np.int64)
        if pairs:
            empty.values[PAIRKEY] = np.zeros(0, dtype=np.int64)
        return empty
    row = np.concatenate(m.row)
    rank = np.concatenate(m.order)
    in_order = bool(np.all((row[1:] > row[:-1])
                           | ((row[1:] == row[:-1]) & (rank[1:] >= rank[:-1]))))
    order = None if in_order else np.lexsort((rank, row))
    # where each part's rows go: written there directly, no concatenated copy to reorder
    where: list[Any] = []
    if order is not None:
        pos = np.empty(len(row), dtype=np.int64)
        pos[order] = np.arange(len(row))
        at = 0
        for part in m.row:
            where.append(_placement(pos[at:at + len(part)]))
            at += len(part)

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        """One column's parts, messages in frame order."""
        if order is None:
            return parts[0] if len(parts) == 1 else np.concatenate(parts)
        out = np.empty((len(row), *parts[0].shape[1:]), dtype=parts[0].dtype)
        for part, (lo, hi, into) in zip(parts, where, strict=True):
            if into is None:  # a run of the output: a plain copy
                out[lo:hi] = part
            elif into.dtype == bool:  # a run with a few rows of other parts between
                out[lo:hi][into] = part
            else:
                out[into] = part
        return out

    row = row if order is None else row[order]
    # the per-message integers: parts are column-major (column, message); a column is put
    # together when first read, one 1-D copy (never the whole 2-D table at once)
    P = _Joined(m.pk, cat)
    D = _Joined(m.dns, cat)
    n = len(row)
    (msg_len, transport, fragments, has_q), (both, labels), qnames, (src, dst) = _gathered(
        d, P, D, cat)
    qkey = np.where(has_q, D[dm.D_QHASH], -1)
    pair = pair_keys(qkey, src, dst) if pairs else None
    del src, dst  # the addresses' bytes: their codes are kept
    status = D[dm.D_STATUS]
    short = status == dm.SHORT
    flags = D[dm.D_FLAGS]
    family = P[_M[pk.C_FAMILY]]
    edns = D[dm.D_EDNS] == 1
    # what a summary never reads is made when first read (Later): the frame table, --csv
    values: dict[str, Any] = {
        "frame": row + 1, "first_frame": Later(lambda: cat(m.first_row) + 1),
        "time": d.index.time[row - d.index.first], "family": (family == 6).astype(np.int64),
        "sport": P[_M[pk.C_SPORT]], "dport": P[_M[pk.C_DPORT]],
        "transport": transport.astype(np.int64),
        "protocol": np.clip(P[_M[pk.C_INTEREST]], 1, 3) - 1,
        "dns_id": D[dm.D_ID],
    }
    missing: dict[str, Any] = {"dns_id": msg_len < 2}
    categories: dict[str, Any] = {"family": ["ipv4", "ipv6"], "transport": ["udp", "tcp"],
                                  "protocol": ["dns", "mdns", "llmnr"]}
    values["src"], values["dst"] = both[:n], both[n:]
    categories["src"] = categories["dst"] = labels

    def bit(at: int) -> Later:
        return Later(lambda: ((flags >> at) & 1).astype(bool))

    for name, at in (("qr", 15), ("aa", 10), ("tc", 9), ("rd", 8), ("ra", 7), ("ad", 5),
                     ("cd", 4)):
        values[name] = bit(at)
        missing[name] = short
    values["opcode"] = Later(lambda: (flags >> 11) & 0xF)
    missing["opcode"] = short
    values["rcode"] = Later(lambda: (flags & 0xF) | np.where(edns, D[dm.D_EDNS_EXT] << 4, 0))
    missing["rcode"] = short

    def column(where: _Joined, at: int) -> Later:
        return Later(lambda: where[at])

    def negative(where: _Joined, at: int) -> Later:
        return Later(lambda: where[at] < 0)

    for name, c in (("qdcount", dm.D_QD), ("ancount", dm.D_AN), ("nscount", dm.D_NS),
                    ("arcount", dm.D_AR)):
        values[name], missing[name] = column(D, c), short
    values["qname"], categories["qname"] = qnames
    # beside the spec: the name's 63-bit hash, the same in every piece of a capture
    values[QKEY] = qkey
    if pair is not None:
        values[PAIRKEY] = pair
    values["qname_ok"] = has_q
    missing["qname_ok"] = Later(lambda: short | (D[dm.D_QD] == 0))
    values["qtype"], missing["qtype"] = D[dm.D_QTYPE], ~has_q
    values["qclass"], missing["qclass"] = column(D, dm.D_QCLASS), ~has_q
    values["edns"], missing["edns"] = edns, short
    values["edns_size"], missing["edns_size"] = D[dm.D_EDNS_SIZE], ~edns
    values["edns_do"], missing["edns_do"] = Later(lambda: D[dm.D_EDNS_DO].astype(bool)), ~edns
    values["edns_version"], missing["edns_version"] = column(D, dm.D_EDNS_VERSION), ~edns
    options = once(lambda: _options(cat(m.opts), D[dm.D_NOPTS], edns))
    values["edns_options"] = Later(lambda: options()[0])
    categories["edns_options"] = Later(lambda: options()[1])
    values["dns_size"] = P[_M[pk.C_WIRELEN]]
    values["captured_size"] = column(P, _M[pk.C_PAYLEN])
    values["ip_size"], missing["ip_size"] = P[_M[pk.C_IPSIZE]], np.zeros(n, dtype=bool)
    values["ip_fragments"] = fragments
    values["encapsulation"] = column(P, _M[pk.C_ENCAP])
    categories["encapsulation"] = [pk.ENCAP_NAMES[k] for k in range(len(pk.ENCAP_NAMES))]
    for name, c in (("tunnel_id", pk.C_TUNNEL_ID), ("vlan", pk.C_VLAN)):
        values[name] = column(P, _M[c])
        missing[name] = negative(P, _M[c])
    # a message shorter than its length fields say: the snap length cut it only where the
    # record itself says so (captured < original length); else the length fields lie
    cut = (P[_M[pk.C_PAYLEN]] < P[_M[pk.C_WIRELEN]]).astype(np.int64)
    snapped = d.index.caplen[row - d.index.first] < d.index.origlen[row - d.index.first]
    cut = np.where(snapped, cut, 2 * cut)
    ends = ("cut by the capture's snap length",
            "shorter than its IP/UDP length fields say (the packet's own lengths disagree)")
    reasons = [dm.STATUS_NAMES[k] for k in range(len(dm.STATUS_NAMES))]
    # mDNS asks several questions in one query by design (RFC 6762 s5.3): not malformed there
    status = np.where((status == dm.QUESTIONS) & (P[_M[pk.C_INTEREST]] == pk.INTEREST_MDNS),
                      dm.OK, status)
    values["malformed"] = status + len(reasons) * cut
    categories["malformed"] = reasons + [f"{r}; {e}" if r else e for e in ends
                                         for r in reasons]
    return Columns(MESSAGE_COLUMNS, values, missing, categories, n=n)


def empty_columns(spec: dict[str, str]) -> Columns:
    """A table of ``spec`` with no rows."""
    values: dict[str, np.ndarray] = {}
    for name, dtype in spec.items():
        values[name] = np.zeros(0, dtype=object if dtype == "string" else np.float64
                                if "float" in dtype.lower() else bool if dtype == "boolean"
                                else np.int64)
    return Columns(spec, values, {}, {k: [] for k, v in spec.items() if v == "category"})


def _placement(to: np.ndarray) -> tuple[int, int, np.ndarray | None]:
    """Where a part's rows go in the whole table, in the cheapest form to write: (lo, hi,
    None) for the run ``lo:hi``; (lo, hi, mask) for increasing rows within ``lo:hi`` (a block
    of UDP messages with the few TCP or reassembled messages of its frames between them);
    else (0, 0, the positions)."""
    if not len(to):
        return 0, 0, None
    lo, hi = int(to[0]), int(to[-1]) + 1
    increasing = bool(np.all(to[1:] > to[:-1]))
    if increasing and hi - lo == len(to):
        return lo, hi, None
    if increasing and hi - lo <= 2 * len(to):
        mask = np.zeros(hi - lo, dtype=bool)
        mask[to - lo] = True
        return lo, hi, mask
    return 0, 0, to


class _Joined:
    """Columns of column-major parts ``(k, n_i)``, each joined (``join``) on first read."""

    def __init__(self, parts: list[np.ndarray], join: Any) -> None:
        self.parts, self.join = parts, join
        self.done: dict[int, np.ndarray] = {}

    def __getitem__(self, column: int) -> np.ndarray:
        if column not in self.done:
            self.done[column] = self.join([p[column] for p in self.parts])
        return self.done[column]

    def fill(self, columns: tuple[int, ...], pool: Any) -> None:
        """Join ``columns`` now, in ``pool``'s threads (a copy lets the GIL go)."""
        todo = [c for c in columns if c not in self.done]
        for c, joined in zip(todo, pool.map(lambda c: self.join([p[c] for p in self.parts]),
                                            todo), strict=True):
            self.done[c] = joined


def _qnames(d: Any, qhash: np.ndarray, qoff: np.ndarray, qwire: np.ndarray, has_q: np.ndarray,
            buf_id: np.ndarray, msg_off: np.ndarray, msg_len: np.ndarray
            ) -> tuple[np.ndarray, LazyTexts]:
    """QNAME codes per message (-1: none) and their texts, one per distinct hash, written by
    a kernel (:func:`.dns_message.names_blob`) when first read: all at once, or only the codes
    asked for while they are few (:class:`~enumlab.capture.columns.DeferredTexts`). Until then the
    texts hold the capture's mapping open (a capture file replaced or appended to meanwhile is
    fine; one truncated in place under an open analysis is not)."""
    codes = np.full(len(qhash), -1, dtype=np.int64)
    idx = np.flatnonzero(has_q)
    if not len(idx):
        return codes, LazyTexts(np.zeros(0, np.uint8))
    inverse, first = factorize(qhash[idx])
    # one hash per case-folded wire name, and escaping is one-to-one: the texts are distinct
    codes[idx] = inverse
    side = np.asarray(d.side, dtype=np.uint8)
    rows = idx[first]
    jit = d.jit
    file_buf = d.index.buf

    def message(r: int) -> tuple[bytes, int]:
        """Message ``r``'s bytes and where its QNAME starts in them."""
        buf = file_buf if buf_id[r] == 0 else side
        return bytes(buf[msg_off[r]: msg_off[r] + msg_len[r]]), int(qoff[r] - msg_off[r])

    def written(of: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, dict[int, str]]:
        """The names of codes ``of``, by the kernel: a blob per source (the file, the side
        buffer -- TCP, reassembled), which blob each name is in, and the names it could not
        write (by position in ``of``)."""
        blobs: list[np.ndarray] = []
        slow_all: dict[int, str] = {}
        pieces = np.zeros(len(of), dtype=np.int64)
        last_ends = np.zeros(0, dtype=np.int64)
        sources = buf_id[rows[of]]
        for source, buf in ((0, file_buf), (1, side)):
            pick = np.flatnonzero(sources == source)
            if len(pick):
                at = rows[of[pick]]
                blob, slow, ends = _names_blob(buf, qoff[at], qwire[at], jit)
                blobs.append(blob)
                pieces[pick] = len(blobs) - 1
                for k in np.flatnonzero(slow).tolist():
                    slow_all[int(pick[k])] = dm.qname_text(*message(int(at[k])))[0]
                last_ends = ends
        return blobs, pieces if len(blobs) > 1 else last_ends, slow_all

    def some(of: np.ndarray) -> list[str]:
        blobs, _where, slow = written(of)
        texts = "".join(b.tobytes().decode("latin-1") for b in blobs).split("\n")[:-1]
        if len(blobs) > 1:  # back in the order asked: the file's names, then the side's
            texts = [texts[k] for k in np.argsort(buf_id[rows[of]], kind="stable").argsort()]
        for k, t in slow.items():
            texts[k] = t
        return texts

    def make() -> tuple[np.ndarray, dict[int, str], np.ndarray | None]:
        blobs, where, slow_all = written(np.arange(len(rows)))
        if len(blobs) == 1:
            return blobs[0], slow_all, where
        # interleave: the file's names and the side buffer's, back in code order
        pieces = where
        joined = np.concatenate(blobs)
        base = np.cumsum([0] + [len(b) for b in blobs[:-1]])
        seg_start = np.empty(len(rows), dtype=np.int64)
        seg_len = np.empty(len(rows), dtype=np.int64)
        for p, b in enumerate(blobs):
            ends = np.flatnonzero(b == 10)
            starts = np.concatenate([[0], ends[:-1] + 1])
            pick = np.flatnonzero(pieces == p)
            seg_start[pick] = starts + base[p]
            seg_len[pick] = ends - starts + 1
        offs = np.cumsum(seg_len) - seg_len
        blob = joined[np.repeat(seg_start - offs, seg_len) + np.arange(int(seg_len.sum()))]
        return blob, slow_all, None

    return codes, DeferredTexts(len(rows), make, some, empty_as="<Root>")


def _names_blob(buf: np.ndarray, start: np.ndarray, wire: np.ndarray, jit: bool
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower-case text of names whose wire form sits at ``start`` (``wire`` bytes long), all
    written at once by a kernel (:func:`.dns_message.names_blob`), newline-separated; ``slow``
    marks a name with a compression pointer or a byte that needs RFC 1035 ``\\DDD`` escaping
    (decoded by :func:`.dns_message.qname_text`); ``ends``: where each name's newline is."""
    from .jit import kernel

    k = len(start)
    blob = np.empty(int(wire.sum()) + k, dtype=np.uint8)
    slow = np.zeros(k, dtype=np.uint8)
    ends = np.empty(k, dtype=np.int64)
    data: Any = buf if jit else memoryview(cast(Any, buf))
    used = kernel(dm.names_blob, jit)(data, start, wire, blob, slow, ends)
    return blob[:used], slow, ends


def _options(opts: np.ndarray, count: np.ndarray, edns: np.ndarray
             ) -> tuple[np.ndarray, list[str]]:
    """Codes of the distinct EDNS option lists (the first codes kept, and the count)."""
    codes = np.full(len(opts), -1, dtype=np.int64)
    rows = np.flatnonzero(edns)
    if not len(rows):
        return codes, []
    kept = opts[rows]
    # the key, exactly, in few integers: an option code is 16 bits (-1: none), 17 bits a slot
    keys = [count[rows]]
    for at in range(0, kept.shape[1], 3):
        packed = np.zeros(len(rows), dtype=np.int64)
        for j in range(at, min(at + 3, kept.shape[1])):
            packed |= (kept[:, j] + 1) << (17 * (j - at))
        keys.append(packed)
    inverse, first = _factorize_rows(*keys)
    text = []
    for listed_codes, total in zip(kept[first].tolist(), count[rows][first].tolist(),
                                   strict=True):
        listed = [str(c) for c in listed_codes if c >= 0]
        extra = total - len(listed)
        text.append(",".join(listed) + (f",+{extra} more" if extra > 0 else ""))
    codes[rows] = inverse
    return codes, text


def addresses_codes(family: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, list[str]]:
    n = len(family)
    if n == 0:
        return np.zeros(0, dtype=np.int64), []
    halves = np.ascontiguousarray(raw).view(np.uint64).reshape(n, 2)
    codes, first = _factorize_rows(family.astype(np.int64), halves[:, 0], halves[:, 1])
    v4 = family[first] == 4
    text = np.empty(len(first), dtype=object)
    text[v4] = ipv4_texts(raw[first[v4], :4])
    text[~v4] = [socket.inet_ntop(socket.AF_INET6, bytes(raw[i]))  # once per distinct one
                 for i in first[~v4].tolist()]
    return codes, text.tolist()


# each octet's text and what follows it (a dot; after the last, a newline), 4 bytes a row:
# a table of addresses is one gather and one masked copy
_OCTET_TEXT = np.zeros((2, 256, 4), dtype=np.uint8)
_OCTET_LEN = np.zeros(256, dtype=np.int64)
for _v in range(256):
    for _last, _end in ((0, "."), (1, "\n")):
        _t = (str(_v) + _end).encode()
        _OCTET_TEXT[_last, _v, :len(_t)] = np.frombuffer(_t, dtype=np.uint8)
    _OCTET_LEN[_v] = len(str(_v)) + 1


def ipv4_texts(raw: np.ndarray) -> list[str]:
    """Dotted-quad text of IPv4 addresses (``(n, 4)`` bytes), written all at once (not a
    Python call per address: a capture of 500,000 clients has as many distinct ones)."""
    if not len(raw):
        return []
    last = np.zeros((1, 4), dtype=np.int64)
    last[0, 3] = 1
    chars = _OCTET_TEXT[last, raw]  # (n, 4 octets, 4 bytes)
    keep = np.arange(4) < _OCTET_LEN[raw][:, :, None]
    texts: list[str] = chars[keep].tobytes().decode("ascii").split("\n")[:-1]
    return texts


def _factorize_rows(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of equal rows across ``columns`` (first appearance first) and the first row of
    each code; a column that holds one value throughout is skipped."""
    varying = [c for c in columns if len(c) and not (c == c[0]).all()]
    if not varying:
        n = len(columns[0])
        return np.zeros(n, dtype=np.int64), np.zeros(1 if n else 0, dtype=np.int64)
    return factorize(*varying)


class _Masked:
    """A nullable column: values and a missing mask."""

    def __init__(self, values: np.ndarray, missing: np.ndarray) -> None:
        self.values, self.missing = values, np.asarray(missing, dtype=bool)


def _objects(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=object)


def _columns(cols: dict[str, Any], spec: dict[str, str]) -> Columns:
    values: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    for name in spec:
        v = cols[name]
        if isinstance(v, _Masked):
            values[name], missing[name] = v.values, v.missing
        else:
            values[name] = np.asarray(v)
    return Columns(spec, values, missing, {})


def _fam(v: np.ndarray) -> np.ndarray:
    return np.where(v == 4, "ipv4", "ipv6").astype(object)


def fragment_columns(d: Any) -> Columns:
    """The fragment table of a :class:`.native.Decoded`: one row per fragment, with its
    set's fate (arrays throughout)."""
    t = d.fragments
    if not len(t):
        return empty_columns(FRAGMENT_COLUMNS)
    n = len(t)
    P = t.pk
    fam = P[:, pk.C_FAMILY]
    row = t.row
    first = P[:, pk.C_FRAGOFF] == 0
    ports = first & np.isin(P[:, pk.C_PROTO], (6, 17))
    has = t.inst >= 0
    inst = np.where(has, t.inst, 0)
    done = np.where(has, t.done_row[inst] if len(t.done_row) else -1, -1)
    cols = {
        "frame": row + 1, "time": d.index.time[row - d.index.first], "family": _fam(fam),
        "src": _objects(addresses(fam, t.src)), "dst": _objects(addresses(fam, t.dst)),
        "ip_id": P[:, pk.C_IPID], "offset": P[:, pk.C_FRAGOFF],
        "more": _Masked(P[:, pk.C_MF], np.zeros(n, bool)),
        "size": t.size,
        "protocol": _Masked(P[:, pk.C_PROTO], ~first),
        "sport": _Masked(P[:, pk.C_SPORT], ~ports),
        "dport": _Masked(P[:, pk.C_DPORT], ~ports),
        "complete": _Masked(done >= 0, np.zeros(n, bool)),
        "reassembled_in": _Masked(done + 1, done < 0),
        "fragments_seen": np.where(has, t.seen[inst] if len(t.seen) else 0, 1),
        "duplicates": np.where(has, t.dups[inst] if len(t.dups) else 0, 0),
    }
    cols.update(_inner_columns(row, getattr(t, "inner", {})))
    return _columns(cols, FRAGMENT_COLUMNS)


def _inner_columns(row: np.ndarray, inner: dict[int, tuple[int, bytes, bytes, int, int]]
                   ) -> dict[str, Any]:
    """The ``inner_*`` columns: a lost set's tunnelled first fragment's inner addresses and
    ports (None elsewhere)."""
    import ipaddress

    n = len(row)
    src, dst = np.full(n, None, dtype=object), np.full(n, None, dtype=object)
    sport, dport = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    known = np.zeros(n, dtype=bool)
    for k in np.flatnonzero(np.isin(row, np.fromiter(inner, dtype=np.int64))).tolist():
        fam, a, b, sp, dp = inner[int(row[k])]
        make = ipaddress.IPv4Address if fam == 4 else ipaddress.IPv6Address
        src[k], dst[k] = str(make(a)), str(make(b))
        sport[k], dport[k], known[k] = sp, dp, sp > 0 or dp > 0
    return {"inner_src": _objects(src), "inner_dst": _objects(dst),
            "inner_sport": _Masked(sport, ~known), "inner_dport": _Masked(dport, ~known)}


def icmp_columns(d: Any) -> Columns:
    row, P, src, dst, qsrc, qdst = d.icmp
    fam = P[:, pk.C_FAMILY]
    qfam = P[:, pk.C_QFAMILY]
    kinds = np.array([icmp_kind(int(f), int(t), int(c)) for f, t, c in
                      zip(fam, P[:, pk.C_ICMPTYPE], P[:, pk.C_ICMPCODE], strict=True)],
                     dtype=object)
    # a next-hop MTU of 0 is a router that does not say (RFC 1191 s4: before RFC 1191 the
    # field was unused, zero): no MTU, never "MTU 0"
    has_mtu = (((fam == 4) & (P[:, pk.C_ICMPTYPE] == 3) & (P[:, pk.C_ICMPCODE] == 4)) | (
        (fam == 6) & (P[:, pk.C_ICMPTYPE] == 2))) & (P[:, pk.C_ICMPMTU] > 0)
    quoted = qfam > 0
    qports = quoted & (P[:, pk.C_QSPORT] + P[:, pk.C_QDPORT] > 0)
    qsrc_text = addresses(qfam, qsrc)
    qdst_text = addresses(qfam, qdst)
    cols = {
        "frame": row + 1, "time": d.index.time[row - d.index.first], "family": _fam(fam),
        "src": _objects(addresses(fam, src)), "dst": _objects(addresses(fam, dst)),
        "type": P[:, pk.C_ICMPTYPE], "code": P[:, pk.C_ICMPCODE], "kind": _objects(kinds),
        "mtu": _Masked(P[:, pk.C_ICMPMTU], ~has_mtu),
        "quoted_src": _objects(qsrc_text), "quoted_dst": _objects(qdst_text),
        "quoted_protocol": _Masked(P[:, pk.C_QPROTO], ~quoted),
        "quoted_sport": _Masked(P[:, pk.C_QSPORT], ~qports),
        "quoted_dport": _Masked(P[:, pk.C_QDPORT], ~qports),
        "quoted_ip_size": _Masked(P[:, pk.C_QIPSIZE], ~quoted),
        "quoted_ip_id": _Masked(P[:, pk.C_QIPID], P[:, pk.C_QIPID] < 0),
        "quoted_dns_id": _Masked(P[:, pk.C_QDNSID], P[:, pk.C_QDNSID] < 0),
    }
    return _columns(cols, ICMP_COLUMNS)


def only_fragments_note(lost_fragments: int, datagrams: int) -> str:
    """What a capture of fragments and no whole DNS message holds (it is analysed: the lost
    fragments are its finding, RFC 791 s3.2 / RFC 8200 s4.5)."""
    return (f"no whole DNS message in this capture: {lost_fragments:,} IP fragment(s) of "
            f"{datagrams:,} datagram(s) whose other fragments were never captured")


def tcp_columns(d: Any) -> Columns:
    row, P, src, dst, flags = d.tcp_control.arrays()
    n = len(row)
    fam = P[:, _M[pk.C_FAMILY]]
    none = np.zeros(n, bool)
    cols = {
        "frame": row + 1, "time": d.index.time[row - d.index.first] if n else np.zeros(0),
        "family": _fam(fam),
        "src": _objects(addresses(fam, src)), "dst": _objects(addresses(fam, dst)),
        "sport": P[:, _M[pk.C_SPORT]], "dport": P[:, _M[pk.C_DPORT]],
        "syn": _Masked((flags >> 1) & 1, none),
        "ack": _Masked((flags >> 4) & 1, none),
        "fin": _Masked(flags & 1, none),
        "rst": _Masked((flags >> 2) & 1, none),
        "carried": _Masked(np.isin(row, getattr(d, "carried_rows", np.zeros(0, np.int64))),
                           none),
    }
    return _columns(cols, TCP_COLUMNS)
