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
    "family": "string", "src": "string", "dst": "string", "sport": "int64", "dport": "int64",
    "transport": "string",  # udp | tcp
    "protocol": "string",  # dns | mdns | llmnr (by port)
    "dns_id": "Int64", "qr": "boolean", "opcode": "Int64", "aa": "boolean", "tc": "boolean",
    "rd": "boolean", "ra": "boolean", "ad": "boolean", "cd": "boolean",
    "rcode": "Int64",  # 12-bit: the header's 4 bits plus EDNS0's extended RCODE (RFC 6891 s6.1.3)
    "qdcount": "Int64", "ancount": "Int64", "nscount": "Int64", "arcount": "Int64",
    "qname": "string",  # lower-case, no final dot; NA when the message has no question
    "qname_ok": "boolean",  # False: a question whose name could not be decoded
    "qtype": "Int64", "qclass": "Int64",
    "edns": "boolean", "edns_size": "Int64", "edns_do": "boolean", "edns_version": "Int64",
    "edns_options": "string",  # option codes, comma-separated ("" = OPT without options)
    "dns_size": "int64",  # message length on the wire (UDP length - 8, or the TCP length prefix)
    "captured_size": "int64",  # how much of it the capture holds (less: snap length)
    "ip_size": "Int64",  # the (reassembled) IP datagram that carried it
    "ip_fragments": "int64",  # fragments it was reassembled from (0: not fragmented)
    "encapsulation": "string",  # "" | gtpu | teredo | gre | ipip
    "tunnel_id": "Int64",  # GTP-U TEID or GRE key
    "vlan": "Int64",  # the outermost 802.1Q VLAN id
    "malformed": "string",  # "" or why decoding stopped
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
    "quoted_dns_id": "Int64",
}
TCP_COLUMNS: dict[str, str] = {
    "frame": "int64", "time": "float64", "family": "string", "src": "string", "dst": "string",
    "sport": "int64", "dport": "int64", "syn": "boolean", "ack": "boolean", "fin": "boolean",
    "rst": "boolean",
}
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


def addresses(family: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Address text per row (object array), formatted once per distinct address."""
    n = len(family)
    if n == 0:
        return np.zeros(0, dtype=object)
    keyed = np.empty((n, 17), dtype=np.uint8)
    keyed[:, 0] = family
    keyed[:, 1:] = raw
    view = np.ascontiguousarray(keyed).view(np.dtype((np.void, 17))).ravel()
    uniq, inverse = np.unique(view, return_inverse=True)
    text = np.empty(len(uniq), dtype=object)
    for k, u in enumerate(uniq):
        b = bytes(u)
        text[k] = (socket.inet_ntop(socket.AF_INET, b[1:5]) if b[0] == 4 else
                   socket.inet_ntop(socket.AF_INET6, b[1:17]) if b[0] == 6 else None)
    return text[inverse.ravel()]


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
    order = np.lexsort((np.concatenate(m.order), row))
    row = row[order]
    P = np.concatenate(m.pk)[order]
    D = np.concatenate(m.dns)[order]
    opts = np.concatenate(m.opts)[order]
    src_raw = np.concatenate(m.src)[order]
    dst_raw = np.concatenate(m.dst)[order]
    buf_id = np.concatenate(m.buf_id)[order]
    msg_off = np.concatenate(m.msg_off)[order]
    msg_len = np.concatenate(m.msg_len)[order]
    transport = np.concatenate(m.transport)[order]
    fragments = np.concatenate(m.fragments)[order]
    first = np.concatenate(m.first_row)[order]
    n = len(row)
    status = D[:, dm.D_STATUS]
    short = status == dm.SHORT
    flags = D[:, dm.D_FLAGS]
    family = P[:, pk.C_FAMILY]
    edns = D[:, dm.D_EDNS] == 1
    cols: dict[str, Any] = {
        "frame": row + 1, "first_frame": first + 1, "time": d.index.time[row],
        "family": _strings(np.where(family == 4, "ipv4", "ipv6").astype(object)),
        "src": _strings(addresses(family, src_raw)), "dst": _strings(addresses(family, dst_raw)),
        "sport": P[:, pk.C_SPORT], "dport": P[:, pk.C_DPORT],
        "transport": _strings(np.where(transport == 1, "tcp", "udp").astype(object)),
        "protocol": _strings(np.array([PROTOCOLS.get(int(v), "dns") for v in range(4)],
                                      dtype=object)[np.clip(P[:, pk.C_INTEREST], 0, 3)]),
        "dns_id": _masked(D[:, dm.D_ID], msg_len < 2, "Int64"),
    }
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
    cols["qname"] = _strings(_qnames(d, D, has_q, buf_id, msg_off, msg_len))
    wanted_q = ~short & (D[:, dm.D_QD] > 0)
    cols["qname_ok"] = _masked(has_q, ~wanted_q, "boolean")
    cols["qtype"] = _masked(D[:, dm.D_QTYPE], ~has_q, "Int64")
    cols["qclass"] = _masked(D[:, dm.D_QCLASS], ~has_q, "Int64")
    cols["edns"] = _masked(edns, short, "boolean")
    cols["edns_size"] = _masked(D[:, dm.D_EDNS_SIZE], ~edns, "Int64")
    cols["edns_do"] = _masked(D[:, dm.D_EDNS_DO], ~edns, "boolean")
    cols["edns_version"] = _masked(D[:, dm.D_EDNS_VERSION], ~edns, "Int64")
    cols["edns_options"] = _strings(_options(opts, D[:, dm.D_NOPTS], edns))
    cols["dns_size"] = P[:, pk.C_WIRELEN]
    cols["captured_size"] = P[:, pk.C_PAYLEN]
    cols["ip_size"] = _masked(P[:, pk.C_IPSIZE], np.zeros(n, bool), "Int64")
    cols["ip_fragments"] = fragments
    cols["encapsulation"] = _strings(np.array([pk.ENCAP_NAMES[k] for k in range(5)],
                                              dtype=object)[P[:, pk.C_ENCAP]])
    cols["tunnel_id"] = _masked(P[:, pk.C_TUNNEL_ID], P[:, pk.C_TUNNEL_ID] < 0, "Int64")
    cols["vlan"] = _masked(P[:, pk.C_VLAN], P[:, pk.C_VLAN] < 0, "Int64")
    reasons = np.array([dm.STATUS_NAMES[k] for k in range(5)], dtype=object)[status]
    cut = P[:, pk.C_PAYLEN] < P[:, pk.C_WIRELEN]
    if cut.any():
        reasons = reasons.copy()
        reasons[cut] = [f"{r}; " if r else "" for r in reasons[cut]]
        reasons[cut] += "cut by the capture's snap length"
    cols["malformed"] = _strings(reasons)
    return frame_of(cols, MESSAGE_COLUMNS)


def _qnames(d: Any, D: np.ndarray, has_q: np.ndarray, buf_id: np.ndarray, msg_off: np.ndarray,
            msg_len: np.ndarray) -> np.ndarray:
    """QNAME text decoded once per distinct hash."""
    n = len(D)
    out = np.full(n, None, dtype=object)
    idx = np.flatnonzero(has_q)
    if not len(idx):
        return out
    uniq, first, inverse = np.unique(D[idx, dm.D_QHASH], return_index=True,
                                     return_inverse=True)
    side = np.frombuffer(d.side, dtype=np.uint8) if d.side else np.zeros(0, np.uint8)
    text = np.empty(len(uniq), dtype=object)
    for k, i in enumerate(idx[first].tolist()):
        src = d.index.buf if buf_id[i] == 0 else side
        msg = bytes(src[msg_off[i]: msg_off[i] + msg_len[i]])
        text[k] = dm.qname_text(msg, int(D[i, dm.D_QNAME_OFF] - msg_off[i]))[0]
    out[idx] = text[inverse.ravel()]
    return out


def _options(opts: np.ndarray, count: np.ndarray, edns: np.ndarray) -> np.ndarray:
    out = np.full(len(opts), None, dtype=object)
    rows = np.flatnonzero(edns)
    if not len(rows):
        return out
    keyed = np.concatenate([opts[rows], count[rows, None]], axis=1)
    uniq, inverse = np.unique(keyed, axis=0, return_inverse=True)
    text = np.empty(len(uniq), dtype=object)
    for k, u in enumerate(uniq.tolist()):
        codes = [str(c) for c in u[:-1] if c >= 0]
        extra = u[-1] - len(codes)
        text[k] = ",".join(codes) + (f",+{extra} more" if extra > 0 else "")
    out[rows] = text[inverse.ravel()]
    return out


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
