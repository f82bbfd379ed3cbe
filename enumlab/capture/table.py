"""The engine's output: the message table (one row per DNS message on the wire) and beside it
the few packets that are not DNS messages but matter -- IP fragments, ICMP errors, TCP
connection control -- each a DataFrame with the fixed columns below. Both engines (native and
tshark) produce exactly these tables; the differential test compares them column by column.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from . import dns_message as dm
from . import packets as pk

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
    "encapsulation": "category",  # "" | gtpu | teredo | gre | ipip
    "tunnel_id": "Int64",  # GTP-U TEID or GRE key
    "vlan": "Int64",  # the outermost 802.1Q VLAN id
    "malformed": "category",  # "" or why decoding stopped
}
FRAGMENT_COLUMNS: dict[str, str] = {
    "frame": "int64", "time": "float64", "family": "string", "src": "string", "dst": "string",
    "ip_id": "int64", "offset": "int64", "more": "boolean", "size": "int64", "protocol": "Int64",
    "sport": "Int64", "dport": "Int64", "complete": "boolean", "reassembled_in": "Int64",
    "fragments_seen": "int64", "duplicates": "int64",
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


@dataclass
class CaptureTables:
    """What an engine read from one capture."""

    path: str
    engine: str  # "native" | "tshark"
    messages: Any  # DataFrame, MESSAGE_COLUMNS
    fragments: Any  # DataFrame, FRAGMENT_COLUMNS
    icmp: Any  # DataFrame, ICMP_COLUMNS
    tcp: Any  # DataFrame, TCP_COLUMNS
    total_frames: int
    capture_filter: str | None = None
    warnings: list[str] = field(default_factory=list)
    link_types: dict[int, int] = field(default_factory=dict)  # link type -> frames
    retransmitted_frames: list[int] = field(default_factory=list)  # TCP segments seen again
    warning_frames: list[int | None] = field(default_factory=list)  # each warning's frame
    mid_stream_frames: list[int] = field(default_factory=list)  # TCP streams seen without SYN


def addresses(family: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Address text per row (object array), formatted once per distinct address."""
    codes, text = addresses_codes(family, raw)
    out: np.ndarray = np.array(text, dtype=object)[codes] if len(codes) else np.zeros(
        0, dtype=object)
    out[(family != 4) & (family != 6)] = None  # no address (an ICMP error quoting nothing)
    return out


def _masked(values: np.ndarray, missing: np.ndarray, dtype: str) -> Any:
    import pandas as pd

    if dtype == "boolean":
        return pd.arrays.BooleanArray(values.astype(bool), missing.astype(bool))
    return pd.arrays.IntegerArray(values.astype(np.int64), missing.astype(bool))


def _strings(values: np.ndarray) -> Any:
    import pandas as pd

    return pd.array(values, dtype="string")


def frame_of(columns: dict[str, Any], spec: dict[str, str]) -> Any:
    import pandas as pd

    frame = pd.DataFrame({name: columns[name] for name in spec})
    for name, dtype in spec.items():
        if str(frame[name].dtype) != dtype:
            frame[name] = frame[name].astype(cast(Any, dtype))
    return frame


def message_frame(d: Any) -> Any:
    """The message table of a :class:`.native.Decoded`."""
    m = d.messages
    if not m.row:
        return frame_of({k: np.zeros(0, dtype=object if v in ("string",) else None)
                         for k, v in MESSAGE_COLUMNS.items()}, MESSAGE_COLUMNS)
    row = np.concatenate(m.row)
    rank = np.concatenate(m.order)
    in_order = bool(np.all((row[1:] > row[:-1])
                           | ((row[1:] == row[:-1]) & (rank[1:] >= rank[:-1]))))
    order = slice(None) if in_order else np.lexsort((rank, row))

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        joined = np.concatenate(parts)
        return joined if in_order else joined[order]

    row = row[order]
    P = cat(m.pk)
    D = cat(m.dns)
    opts = cat(m.opts)
    src_raw = cat(m.src)
    dst_raw = cat(m.dst)
    buf_id = cat(m.buf_id)
    msg_off = cat(m.msg_off)
    msg_len = cat(m.msg_len)
    transport = cat(m.transport)
    fragments = cat(m.fragments)
    first = cat(m.first_row)
    n = len(row)
    status = D[:, dm.D_STATUS]
    short = status == dm.SHORT
    flags = D[:, dm.D_FLAGS]
    family = P[:, _M[pk.C_FAMILY]]
    edns = D[:, dm.D_EDNS] == 1
    cols: dict[str, Any] = {
        "frame": row + 1, "first_frame": first + 1, "time": d.index.time[row],
        "family": _cat((family == 6).astype(np.int64), ["ipv4", "ipv6"]),
        "sport": P[:, _M[pk.C_SPORT]], "dport": P[:, _M[pk.C_DPORT]],
        "transport": _cat(transport.astype(np.int64), ["udp", "tcp"]),
        "protocol": _cat(np.clip(P[:, _M[pk.C_INTEREST]], 1, 3) - 1, ["dns", "mdns", "llmnr"]),
        "dns_id": _masked(D[:, dm.D_ID], msg_len < 2, "Int64"),
    }
    cols["src"], cols["dst"] = address_pair(family, src_raw, dst_raw)
    for name, bit in (("qr", 15), ("aa", 10), ("tc", 9), ("rd", 8), ("ra", 7), ("ad", 5),
                      ("cd", 4)):
        cols[name] = _masked((flags >> bit) & 1, short, "boolean")
    cols["opcode"] = _masked((flags >> 11) & 0xF, short, "Int64")
    rcode = (flags & 0xF) | np.where(edns, D[:, dm.D_EDNS_EXT] << 4, 0)
    cols["rcode"] = _masked(rcode, short, "Int64")
    for name, c in (("qdcount", dm.D_QD), ("ancount", dm.D_AN), ("nscount", dm.D_NS),
                    ("arcount", dm.D_AR)):
        cols[name] = _masked(D[:, c], short, "Int64")
    has_q = D[:, dm.D_QNAME_OFF] >= 0
    cols["qname"] = _qnames(d, D, has_q, buf_id, msg_off, msg_len)
    wanted_q = ~short & (D[:, dm.D_QD] > 0)
    cols["qname_ok"] = _masked(has_q, ~wanted_q, "boolean")
    cols["qtype"] = _masked(D[:, dm.D_QTYPE], ~has_q, "Int64")
    cols["qclass"] = _masked(D[:, dm.D_QCLASS], ~has_q, "Int64")
    cols["edns"] = _masked(edns, short, "boolean")
    cols["edns_size"] = _masked(D[:, dm.D_EDNS_SIZE], ~edns, "Int64")
    cols["edns_do"] = _masked(D[:, dm.D_EDNS_DO], ~edns, "boolean")
    cols["edns_version"] = _masked(D[:, dm.D_EDNS_VERSION], ~edns, "Int64")
    cols["edns_options"] = _options(opts, D[:, dm.D_NOPTS], edns)
    cols["dns_size"] = P[:, _M[pk.C_WIRELEN]]
    cols["captured_size"] = P[:, _M[pk.C_PAYLEN]]
    cols["ip_size"] = _masked(P[:, _M[pk.C_IPSIZE]], np.zeros(n, bool), "Int64")
    cols["ip_fragments"] = fragments
    cols["encapsulation"] = _cat(P[:, _M[pk.C_ENCAP]], [pk.ENCAP_NAMES[k] for k in range(5)])
    cols["tunnel_id"] = _masked(P[:, _M[pk.C_TUNNEL_ID]], P[:, _M[pk.C_TUNNEL_ID]] < 0, "Int64")
    cols["vlan"] = _masked(P[:, _M[pk.C_VLAN]], P[:, _M[pk.C_VLAN]] < 0, "Int64")
    cut = (P[:, _M[pk.C_PAYLEN]] < P[:, _M[pk.C_WIRELEN]]).astype(np.int64)
    snap = "cut by the capture's snap length"
    reasons = [dm.STATUS_NAMES[k] for k in range(5)]
    reasons += [f"{r}; {snap}" if r else snap for r in reasons]
    cols["malformed"] = _cat(status + 5 * cut, reasons)
    return frame_of(cols, MESSAGE_COLUMNS)


def _qnames(d: Any, D: np.ndarray, has_q: np.ndarray, buf_id: np.ndarray, msg_off: np.ndarray,
            msg_len: np.ndarray) -> Any:
    """QNAME per message as a Categorical: text decoded once per distinct hash, and for all
    distinct names at once (:func:`_names_text`)."""
    import pandas as pd

    n = len(D)
    codes = np.full(n, -1, dtype=np.int64)
    idx = np.flatnonzero(has_q)
    if not len(idx):
        return pd.Categorical.from_codes(codes, categories=pd.Index([], dtype=object))
    inverse, first = _factorize_rows(D[idx, dm.D_QHASH])
    side = np.frombuffer(d.side, dtype=np.uint8) if d.side else np.zeros(0, np.uint8)
    rows = idx[first]
    text = np.empty(len(first), dtype=object)
    for source, buf in ((0, d.index.buf), (1, side)):
        pick = np.flatnonzero(buf_id[rows] == source)
        if len(pick):
            text[pick] = _names_text(buf, D[rows[pick], dm.D_QNAME_OFF],
                                     D[rows[pick], dm.D_QNAME_WIRE], msg_off[rows[pick]],
                                     msg_len[rows[pick]], d.jit)
    # one hash per case-folded wire name, and escaping is one-to-one: the texts are distinct
    codes[idx] = inverse.ravel()
    return pd.Categorical.from_codes(codes, categories=pd.Index(text, dtype=object))


def _names_text(buf: np.ndarray, start: np.ndarray, wire: np.ndarray, msg_off: np.ndarray,
                msg_len: np.ndarray, jit: bool = False) -> np.ndarray:
    """Lower-case text of names whose wire form sits at ``start`` (``wire`` bytes long), all
    written at once by a kernel (:func:`.dns_message.names_blob`); a name with a compression
    pointer or a byte that needs RFC 1035 ``\\DDD`` escaping goes through
    :func:`.dns_message.qname_text`."""
    from .jit import kernel

    k = len(start)
    blob = np.empty(int(wire.sum()) + k, dtype=np.uint8)
    slow = np.zeros(k, dtype=np.uint8)
    data: Any = buf if jit else memoryview(cast(Any, buf))
    used = kernel(dm.names_blob, jit)(data, start, blob, slow)
    out = np.array(blob[:used].tobytes().decode("latin-1").split("\n")[:-1], dtype=object)
    out[out == ""] = "<Root>"
    for i in np.flatnonzero(slow).tolist():
        msg = bytes(buf[msg_off[i]: msg_off[i] + msg_len[i]])
        out[i] = dm.qname_text(msg, int(start[i] - msg_off[i]))[0]
    return out


def _options(opts: np.ndarray, count: np.ndarray, edns: np.ndarray) -> Any:
    codes = np.full(len(opts), -1, dtype=np.int64)
    rows = np.flatnonzero(edns)
    if not len(rows):
        return _cat(codes, [])
    keyed = np.concatenate([opts[rows], count[rows, None]], axis=1)
    inverse, first = _factorize_rows(*(keyed[:, k] for k in range(keyed.shape[1])))
    text = []
    for u in keyed[first].tolist():
        listed = [str(c) for c in u[:-1] if c >= 0]
        extra = u[-1] - len(listed)
        text.append(",".join(listed) + (f",+{extra} more" if extra > 0 else ""))
    codes[rows] = inverse
    return _cat(codes, text)


def _cat(codes: np.ndarray, categories: list[str]) -> Any:
    """A Categorical from integer codes (-1 = NA) into ``categories``."""
    import pandas as pd

    return pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))


def address_pair(family: np.ndarray, src: np.ndarray, dst: np.ndarray) -> tuple[Any, Any]:
    """Source and destination addresses as two Categoricals over the same addresses,
    each formatted once."""
    n = len(family)
    both = addresses_codes(np.concatenate([family, family]), np.concatenate([src, dst]))
    return _cat(both[0][:n], both[1]), _cat(both[0][n:], both[1])


def addresses_codes(family: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, list[str]]:
    n = len(family)
    if n == 0:
        return np.zeros(0, dtype=np.int64), []
    halves = np.ascontiguousarray(raw).view(np.uint64).reshape(n, 2)
    codes, first = _factorize_rows(family.astype(np.int64), halves[:, 0], halves[:, 1])
    text = []
    for i in first.tolist():
        b = bytes(raw[i])
        text.append(socket.inet_ntop(socket.AF_INET, b[:4]) if family[i] == 4 else
                    socket.inet_ntop(socket.AF_INET6, b))
    return codes, text


def _factorize_rows(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of equal rows across ``columns`` and the first row of each code, by hashing
    (pandas.factorize: O(n), no sort)."""
    import pandas as pd

    combined = np.zeros(len(columns[0]), dtype=np.int64)
    for col in columns:
        codes, uniques = pd.factorize(col)
        if len(columns) == 1:
            combined = codes.astype(np.int64)
            break
        combined = combined * (len(uniques) + 1) + codes
        combined, _ = pd.factorize(combined)  # keep the radix small
    first = np.full(int(combined.max()) + 1 if len(combined) else 0, -1, dtype=np.int64)
    first[combined[::-1]] = np.arange(len(combined) - 1, -1, -1)
    return combined.astype(np.int64), first


def _fam(v: np.ndarray) -> Any:
    return _strings(np.where(v == 4, "ipv4", "ipv6").astype(object))


def fragment_frame(d: Any) -> Any:
    rows = d.fragments
    n = len(rows)
    P = np.array([r["pk"] for r in rows], dtype=np.int64).reshape(n, pk.NCOL)
    fam = P[:, pk.C_FAMILY]
    src = np.array([np.frombuffer(r["src"], np.uint8) for r in rows], np.uint8).reshape(n, 16)
    dst = np.array([np.frombuffer(r["dst"], np.uint8) for r in rows], np.uint8).reshape(n, 16)
    row = np.array([r["row"] for r in rows], dtype=np.int64)
    first = P[:, pk.C_FRAGOFF] == 0
    ports = first & np.isin(P[:, pk.C_PROTO], (6, 17))
    done = np.array([r["reassembled_row"] if r["reassembled_row"] is not None else -1
                     for r in rows], dtype=np.int64)
    cols = {
        "frame": row + 1, "time": d.index.time[row] if n else np.zeros(0), "family": _fam(fam),
        "src": _strings(addresses(fam, src)), "dst": _strings(addresses(fam, dst)),
        "ip_id": P[:, pk.C_IPID], "offset": P[:, pk.C_FRAGOFF],
        "more": _masked(P[:, pk.C_MF], np.zeros(n, bool), "boolean"),
        "size": np.array([r["size"] for r in rows], dtype=np.int64),
        "protocol": _masked(P[:, pk.C_PROTO], ~first, "Int64"),
        "sport": _masked(P[:, pk.C_SPORT], ~ports, "Int64"),
        "dport": _masked(P[:, pk.C_DPORT], ~ports, "Int64"),
        "complete": _masked(np.array([r["complete"] for r in rows], bool), np.zeros(n, bool),
                            "boolean"),
        "reassembled_in": _masked(done + 1, done < 0, "Int64"),
        "fragments_seen": np.array([r["seen"] for r in rows], dtype=np.int64),
        "duplicates": np.array([r["duplicates"] for r in rows], dtype=np.int64),
    }
    return frame_of(cols, FRAGMENT_COLUMNS)


def icmp_frame(d: Any) -> Any:
    row, P, src, dst, qsrc, qdst = d.icmp
    fam = P[:, pk.C_FAMILY]
    qfam = P[:, pk.C_QFAMILY]
    kinds = np.array([icmp_kind(int(f), int(t), int(c)) for f, t, c in
                      zip(fam, P[:, pk.C_ICMPTYPE], P[:, pk.C_ICMPCODE], strict=True)],
                     dtype=object)
    has_mtu = ((fam == 4) & (P[:, pk.C_ICMPTYPE] == 3) & (P[:, pk.C_ICMPCODE] == 4)) | (
        (fam == 6) & (P[:, pk.C_ICMPTYPE] == 2))
    quoted = qfam > 0
    qports = quoted & (P[:, pk.C_QSPORT] + P[:, pk.C_QDPORT] > 0)
    qsrc_text = addresses(qfam, qsrc)
    qdst_text = addresses(qfam, qdst)
    cols = {
        "frame": row + 1, "time": d.index.time[row], "family": _fam(fam),
        "src": _strings(addresses(fam, src)), "dst": _strings(addresses(fam, dst)),
        "type": P[:, pk.C_ICMPTYPE], "code": P[:, pk.C_ICMPCODE], "kind": _strings(kinds),
        "mtu": _masked(P[:, pk.C_ICMPMTU], ~has_mtu, "Int64"),
        "quoted_src": _strings(qsrc_text), "quoted_dst": _strings(qdst_text),
        "quoted_protocol": _masked(P[:, pk.C_QPROTO], ~quoted, "Int64"),
        "quoted_sport": _masked(P[:, pk.C_QSPORT], ~qports, "Int64"),
        "quoted_dport": _masked(P[:, pk.C_QDPORT], ~qports, "Int64"),
        "quoted_ip_size": _masked(P[:, pk.C_QIPSIZE], ~quoted, "Int64"),
        "quoted_ip_id": _masked(P[:, pk.C_QIPID], P[:, pk.C_QIPID] < 0, "Int64"),
        "quoted_dns_id": _masked(P[:, pk.C_QDNSID], P[:, pk.C_QDNSID] < 0, "Int64"),
    }
    return frame_of(cols, ICMP_COLUMNS)


def tcp_frame(d: Any) -> Any:
    rows = sorted(d.tcp_control, key=lambda c: c[0])
    n = len(rows)
    P = np.array([c[1] for c in rows], dtype=np.int64).reshape(n, pk.NCOL)
    src = np.array([c[2] for c in rows], dtype=np.uint8).reshape(n, 16)
    dst = np.array([c[3] for c in rows], dtype=np.uint8).reshape(n, 16)
    row = np.array([c[0] for c in rows], dtype=np.int64)
    flags = np.array([c[4] for c in rows], dtype=np.int64)
    fam = P[:, pk.C_FAMILY]
    none = np.zeros(n, bool)
    cols = {
        "frame": row + 1, "time": d.index.time[row] if n else np.zeros(0), "family": _fam(fam),
        "src": _strings(addresses(fam, src)), "dst": _strings(addresses(fam, dst)),
        "sport": P[:, pk.C_SPORT], "dport": P[:, pk.C_DPORT],
        "syn": _masked((flags >> 1) & 1, none, "boolean"),
        "ack": _masked((flags >> 4) & 1, none, "boolean"),
        "fin": _masked(flags & 1, none, "boolean"),
        "rst": _masked((flags >> 2) & 1, none, "boolean"),
    }
    return frame_of(cols, TCP_COLUMNS)
