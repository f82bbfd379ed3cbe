"""DNS transactions from captured packets: pairing, truncation follow-up, fragments, ICMP.

One row per DNS transaction (a query and its response, or a query that got none), with fixed,
typed columns -- see :data:`COLUMNS`. The logic is enumlab's; tshark (through
:mod:`enumlab.capture`) only decodes and reassembles.

* Pairing: client address/port, server address/port, transport, DNS ID, QNAME, QTYPE. A query
  repeated before its answer (same client, server, ID and question) is a *retransmission* of
  the same transaction, whichever source port the client used.
* Truncation follow-up: a UDP answer with TC=1 followed, from the same client within 10 s, by
  the same question over TCP to the same server is ``truncated_tcp_ok`` (with the fallback
  latency) when that TCP query is answered, ``truncated_tcp_failed`` when the TCP attempt gets
  RST, no SYN-ACK or no answer, and ``truncated_no_retry`` when the client never tries TCP
  (RFC 1035 s4.2.1, RFC 7766 s5: it should).
* Fragments: a response whose IP fragments were all seen is ``fragmented``; first fragments
  that never completed (tshark leaves such sets undecoded) are matched to the open query of
  that client and server: ``fragments_lost``.
* ICMP: fragmentation-needed (IPv4 type 3 code 4) and Packet Too Big (ICMPv6 type 2) are linked
  to the response they quote, with the MTU they report -- such a response did not arrive;
  port-unreachable is linked to the query it quotes.

Outcome, in this precedence: ``fragments_lost``, ``truncated_tcp_ok``,
``truncated_tcp_failed``, ``truncated_no_retry``, ``unanswered``, ``error_rcode`` (any rcode but
NOERROR and NXDOMAIN), ``ok``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import dns.rcode
import dns.rdatatype
import numpy as np
import pandas as pd

OUTCOMES = ("ok", "truncated_tcp_ok", "truncated_no_retry", "truncated_tcp_failed",
            "unanswered", "fragments_lost", "error_rcode")
FALLBACK_WINDOW = 10.0  # seconds between a TC=1 answer and the TCP retry
RETRY_WINDOW = 10.0  # seconds within which a repeated question is a retransmission
SIZE_LIMITS = {"512": 512, "1232": 1232, "1400": 1400}
PATH_1500 = {"ipv4": 1472, "ipv6": 1452}  # largest unfragmented UDP payload on a 1500 path

COLUMNS: dict[str, str] = {
    "transaction": "int64", "family": "string", "transport": "string", "client": "string",
    "client_port": "Int64", "server": "string", "server_port": "Int64", "dns_id": "string",
    "qname": "string", "qtype": "string", "query_frame": "Int64", "query_time": "float64",
    "response_frame": "Int64", "response_time": "Float64", "rtt_ms": "Float64",
    "rcode": "string", "answers": "Int64", "tc": "boolean", "dns_size": "Int64",
    "ip_size": "Int64", "edns_size": "Int64", "do_bit": "boolean", "retransmissions": "int64",
    "fragmented": "boolean", "fragments": "Int64", "fragments_lost": "boolean",
    "fragments_seen": "Int64", "icmp": "string", "icmp_mtu": "Int64", "tcp_fallback": "string",
    "fallback_latency_ms": "Float64", "over_512": "boolean", "over_1232": "boolean",
    "over_1400": "boolean", "over_path_1500": "boolean", "over_mtu": "boolean",
    "over_offered": "boolean", "cut_512_no_tc": "boolean", "outcome": "category",
}


@dataclass
class _Txn:
    index: int
    family: str
    transport: str
    client: str
    client_port: int | None
    server: str
    server_port: int | None
    dns_id: str
    qname: str
    qtype: int | None
    query_frame: int
    query_time: float
    edns_size: int | None
    do_bit: bool | None
    retransmissions: int = 0
    response: dict[str, Any] | None = None
    fragments_lost: bool = False
    fragments_seen: int = 0
    icmp: list[str] = field(default_factory=list)
    icmp_mtu: int | None = None
    icmp_too_big: bool = False
    tcp_fallback: str = ""
    fallback_latency_ms: float | None = None


def _v(x: Any) -> Any:
    """A plain Python value (None for missing) from a pandas/numpy scalar."""
    if x is pd.NA or x is None or (isinstance(x, float) and np.isnan(x)):
        return None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.floating):
        return float(x)
    return x


def build_transactions(packets: pd.DataFrame, *, mtu: int | None = None) -> pd.DataFrame:
    """One row per DNS transaction (columns: :data:`COLUMNS`)."""
    is_icmp = packets["icmp_type"].notna() | packets["icmp6_type"].notna()
    dns_rows = packets[packets["qname"].notna() & packets["response"].notna() & ~is_icmp]
    txns: list[_Txn] = []
    open_by_question: dict[tuple[Any, ...], _Txn] = {}
    by_exact: dict[tuple[Any, ...], list[_Txn]] = defaultdict(list)
    rows = cast(Iterable[Any], dns_rows.sort_values("frame").itertuples(index=False))
    for row in rows:
        qname = str(row.qname).lower().rstrip(".")
        if not row.response:
            question = (row.transport, row.src, row.dst, row.dns_id, qname, _v(row.qtype))
            earlier = open_by_question.get(question)
            if (earlier is not None and earlier.response is None
                    and row.time - earlier.query_time <= RETRY_WINDOW):
                earlier.retransmissions += 1
                by_exact[(row.transport, row.src, _v(row.sport), row.dst, _v(row.dport),
                          row.dns_id, qname, _v(row.qtype))].append(earlier)
                continue
            txn = _Txn(len(txns), str(row.family), str(row.transport), str(row.src),
                       _v(row.sport), str(row.dst), _v(row.dport), str(row.dns_id), qname,
                       _v(row.qtype), int(row.frame), float(row.time), _v(row.edns_size),
                       _v(row.do_bit))
            txns.append(txn)
            open_by_question[question] = txn
            by_exact[(row.transport, row.src, _v(row.sport), row.dst, _v(row.dport),
                      row.dns_id, qname, _v(row.qtype))].append(txn)
            continue
        key = (row.transport, row.dst, _v(row.dport), row.src, _v(row.sport), row.dns_id, qname,
               _v(row.qtype))
        candidates = [t for t in by_exact.get(key, []) if t.response is None]
        if not candidates:
            continue  # an answer to a query the capture did not see: reported in warnings
        target = candidates[0]
        target.response = {
            "frame": int(row.frame), "time": float(row.time), "rcode": _v(row.rcode),
            "answers": _v(row.answers), "tc": bool(row.tc) if _v(row.tc) is not None else None,
            "dns_size": _v(row.dns_size), "ip_size": _v(row.ip_size),
            "fragments": _v(row.fragments),
        }
    _link_fragments(packets, txns)
    _link_icmp(packets[is_icmp], txns)
    _follow_truncation(packets, txns)
    return _to_frame(txns, mtu)


def _open_query(txns: list[_Txn], client: str, server: str, when: float) -> _Txn | None:
    """The latest transaction from ``client`` to ``server`` that started before ``when``."""
    best = None
    for t in txns:
        if (t.client == client and t.server == server and t.query_time <= when + 1e-6
                and (best is None or t.query_time >= best.query_time)):
            best = t
    return best


def _link_fragments(packets: pd.DataFrame, txns: list[_Txn]) -> None:
    frags = packets[packets["is_fragment"] & packets["qname"].isna()
                    & packets["icmp_type"].isna() & packets["icmp6_type"].isna()]
    if frags.empty:
        return
    for (_src, _dst, _key), group in frags.groupby(["src", "dst", "frag_key"], dropna=False):
        if group["reassembled"].notna().any():
            continue  # tshark completed this datagram: its DNS row carries the fragment count
        first: Any = group.iloc[0]
        txn = _open_query([t for t in txns if t.response is None], str(first["dst"]),
                          str(first["src"]), float(first["time"]))
        if txn is None:
            txn = _open_query(txns, str(first["dst"]), str(first["src"]), float(first["time"]))
        if txn is not None:
            txn.fragments_lost = True
            txn.fragments_seen += len(group)


def _link_icmp(icmp: pd.DataFrame, txns: list[_Txn]) -> None:
    for row in cast(Iterable[Any], icmp.itertuples(index=False)):
        kind = _v(row.icmp_kind)
        if kind is None:
            continue
        if kind == "port-unreachable":  # quotes a query: client -> server
            txn = _open_query(txns, str(row.src), str(row.dst), float(row.time))
        else:  # quotes (a fragment of) a response: server -> client
            txn = _open_query(txns, str(row.dst), str(row.src), float(row.time))
            if txn is not None:
                txn.icmp_too_big = True
                if _v(row.icmp_mtu_any) is not None:
                    txn.icmp_mtu = int(row.icmp_mtu_any)
        if txn is not None:
            mtu = _v(row.icmp_mtu_any)
            txn.icmp.append(f"{kind}" + (f" mtu {int(mtu)}" if mtu is not None else "")
                            + f" (frame {int(row.frame)})")


def _follow_truncation(packets: pd.DataFrame, txns: list[_Txn]) -> None:
    tcp = packets[packets["transport"] == "tcp"]
    syns = tcp[tcp["syn"].fillna(False) & ~tcp["ack"].fillna(False) & (tcp["dport"] == 53)]
    synacks = tcp[tcp["syn"].fillna(False) & tcp["ack"].fillna(False) & (tcp["sport"] == 53)]
    rsts = tcp[tcp["rst"].fillna(False) & (tcp["sport"] == 53)]
    tcp_txns = [t for t in txns if t.transport == "tcp"]
    for t in txns:
        if t.transport != "udp" or t.response is None or not t.response.get("tc"):
            continue
        start = t.response["time"]
        follow = [u for u in tcp_txns if u.client == t.client and u.server == t.server
                  and u.qname == t.qname and u.qtype == t.qtype
                  and start <= u.query_time <= start + FALLBACK_WINDOW]
        answered = [u for u in follow if u.response is not None]
        if answered:
            t.tcp_fallback = "ok"
            t.fallback_latency_ms = round((answered[0].response["time"] - start) * 1000, 3)  # type: ignore[index]
            continue
        tried = syns[(syns["src"] == t.client) & (syns["dst"] == t.server)
                     & (syns["time"] >= start) & (syns["time"] <= start + FALLBACK_WINDOW)]
        if follow or not tried.empty:
            t.tcp_fallback = "failed"
            reasons = []
            ports = set(tried["sport"].dropna().astype(int))
            if not rsts[(rsts["dst"] == t.client) & rsts["dport"].isin(ports)].empty:
                reasons.append("connection refused (RST)")
            elif synacks[(synacks["dst"] == t.client) & synacks["dport"].isin(ports)].empty:
                reasons.append("SYN unanswered")
            else:
                reasons.append("no answer over TCP")
            t.icmp.append("tcp: " + ", ".join(reasons))
        else:
            t.tcp_fallback = "none"


def _outcome(t: _Txn) -> str:
    r = t.response
    if t.fragments_lost or (t.icmp_too_big and r is not None and r.get("fragments")):
        return "fragments_lost"
    if t.transport == "udp" and r is not None and r.get("tc"):
        return {"ok": "truncated_tcp_ok", "failed": "truncated_tcp_failed"}.get(
            t.tcp_fallback, "truncated_no_retry")
    if r is None or t.icmp_too_big:
        return "unanswered"
    if r.get("rcode") not in (0, 3, None):
        return "error_rcode"
    return "ok"


def _to_frame(txns: list[_Txn], mtu: int | None) -> pd.DataFrame:
    rows = []
    for t in txns:
        r = t.response or {}
        size = r.get("dns_size")
        offered = max(512, t.edns_size) if t.edns_size else 512
        udp = t.transport == "udp"
        rows.append({
            "transaction": t.index, "family": t.family, "transport": t.transport,
            "client": t.client, "client_port": t.client_port, "server": t.server,
            "server_port": t.server_port, "dns_id": t.dns_id, "qname": t.qname,
            "qtype": dns.rdatatype.to_text(dns.rdatatype.RdataType.make(t.qtype))
            if t.qtype is not None else None,
            "query_frame": t.query_frame, "query_time": t.query_time,
            "response_frame": r.get("frame"), "response_time": r.get("time"),
            "rtt_ms": round((r["time"] - t.query_time) * 1000, 3) if r else None,
            "rcode": dns.rcode.to_text(r["rcode"]) if r.get("rcode") is not None else None,
            "answers": r.get("answers"), "tc": r.get("tc"), "dns_size": size,
            "ip_size": r.get("ip_size") if not r.get("fragments") else None,
            "edns_size": t.edns_size, "do_bit": t.do_bit,
            "retransmissions": t.retransmissions,
            "fragmented": bool(r.get("fragments")) if r else None,
            "fragments": r.get("fragments"), "fragments_lost": t.fragments_lost,
            "fragments_seen": t.fragments_seen or None,
            "icmp": "; ".join(t.icmp) or None, "icmp_mtu": t.icmp_mtu,
            "tcp_fallback": t.tcp_fallback or None,
            "fallback_latency_ms": t.fallback_latency_ms,
            "over_512": size > 512 if size is not None else None,
            "over_1232": size > 1232 if size is not None else None,
            "over_1400": size > 1400 if size is not None else None,
            "over_path_1500": size > PATH_1500[t.family] if size is not None else None,
            "over_mtu": (size + (48 if t.family == "ipv6" else 28) > mtu)
            if size is not None and mtu else None,
            "over_offered": size > offered if size is not None and udp else None,
            "cut_512_no_tc": (udp and size == 512 and not r.get("tc"))
            if size is not None else None,
            "outcome": _outcome(t),
        })
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for name, dtype in COLUMNS.items():
        if dtype == "category":
            frame[name] = pd.Categorical(frame[name], categories=OUTCOMES)
        else:
            frame[name] = frame[name].astype(dtype)  # type: ignore[call-overload]
    return frame


def capture_warnings(packets: pd.DataFrame, txns: pd.DataFrame, capture_filter: str | None,
                     mtu: int | None = None) -> list[str]:
    """What the capture itself cannot show, in plain sentences."""
    out: list[str] = []
    frags = packets[packets["is_fragment"]]
    non_first = frags[~frags["frag_first"]]
    if capture_filter and "port" in capture_filter:
        out.append(f"the capture filter {capture_filter!r} drops every non-first IP fragment "
                   "(they carry no port): fragment losses cannot be told from the filter")
    if not frags.empty and non_first.empty:
        out.append("the capture holds first fragments but not one non-first fragment: either "
                   "they were all lost or the capture cannot see them (a port-53 filter)")
    biggest = packets.loc[~packets["is_fragment"], "ip_size"].max()
    limit = max(1500, mtu or 0)
    if pd.notna(biggest) and int(biggest) > limit:
        out.append(f"a {int(biggest)}-byte IP datagram travelled unfragmented, larger than any "
                   "real MTU: a loopback capture, or segmentation/receive offload (GRO/TSO) on "
                   "the capturing host")
    is_icmp = packets["icmp_type"].notna() | packets["icmp6_type"].notna()
    responses = packets[packets["qname"].notna() & (packets["response"] == True) & ~is_icmp]  # noqa: E712
    orphans = len(responses) - int(txns["response_frame"].notna().sum()) if len(txns) else len(
        responses)
    if orphans > 0:
        out.append(f"{orphans} response(s) answer queries the capture never saw: the capture "
                   "misses one direction or started mid-conversation")
    return out


def summarize(packets: pd.DataFrame, txns: pd.DataFrame, *, total_frames: int,
              warnings: list[str], mtu: int | None = None) -> dict[str, Any]:
    """The report's numbers (see the issue's JSON contract)."""
    counts = txns["outcome"].value_counts()
    fallback = txns[txns["tcp_fallback"].isin(["ok", "failed"])]
    latency = txns["fallback_latency_ms"].dropna().astype(float)
    answered = txns[txns["dns_size"].notna()]
    largest = answered.sort_values("dns_size", ascending=False).head(1)
    icmp = packets[packets["icmp_kind"].notna()]
    udp = answered[answered["transport"] == "udp"]
    over = {name: int((udp["dns_size"] > limit).sum()) for name, limit in SIZE_LIMITS.items()}
    over["1472"] = int((udp["dns_size"] > 1472).sum())
    if mtu:
        over[f"mtu_{mtu}"] = int(udp["over_mtu"].fillna(False).sum())
    truncated_names = txns[txns["tc"].fillna(False)]["qname"].value_counts().head(10)
    return {
        "packets": int(total_frames),
        "dns_packets": int(packets["qname"].notna().sum()),
        "transactions": len(txns),
        "outcomes": {name: int(counts.get(name, 0)) for name in OUTCOMES},
        "truncated": int(txns["tc"].fillna(False).sum()),
        "truncation_rate": round(float(txns["tc"].fillna(False).mean()), 4) if len(txns) else 0.0,
        "tcp_fallback": {
            "ok": int((fallback["tcp_fallback"] == "ok").sum()),
            "failed": int((fallback["tcp_fallback"] == "failed").sum()),
            "none": int((txns["tcp_fallback"] == "none").sum()),
            "latency_ms": {"median": float(latency.median()) if len(latency) else None,
                           "p95": float(latency.quantile(0.95)) if len(latency) else None},
        },
        "fragmented_responses": int(txns["fragmented"].fillna(False).sum()),
        "fragments_lost": int(txns["fragments_lost"].fillna(False).sum()),
        "icmp": {"count": len(icmp),
                 "by_kind": {str(k): int(v) for k, v in icmp["icmp_kind"].value_counts().items()},
                 "mtus": sorted({int(m) for m in icmp["icmp_mtu_any"].dropna()})},
        "largest_response": None if largest.empty else {
            "dns_size": int(largest["dns_size"].iloc[0]), "qname": largest["qname"].iloc[0],
            "transport": largest["transport"].iloc[0],
            "frame": int(largest["response_frame"].iloc[0])},
        "edns_sizes": {str(int(k)) if pd.notna(k) else "none": int(v) for k, v in
                       cast(Any, txns["edns_size"].value_counts(dropna=False)).items()},
        "responses_over": over,
        "top_truncated_names": {str(k): int(v) for k, v in truncated_names.items()},
        "warnings": warnings,
    }
