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

from collections import defaultdict, deque, namedtuple
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
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


@dataclass(slots=True)
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
    response_frame: int | None = None
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


class TransactionBuilder:
    """Pairs queries and answers chunk by chunk (so it can run while tshark still writes);
    :meth:`finish` then links fragments, ICMP and TCP fallbacks and builds the table."""

    def __init__(self) -> None:
        self.txns: list[_Txn] = []
        self.open_by_question: dict[tuple[Any, ...], _Txn] = {}
        # unanswered transactions per exact (transport, ports, addresses, ID, question) key
        self.waiting: dict[tuple[Any, ...], deque[_Txn]] = defaultdict(deque)
        # the only packets later phases need: answers, fragments, ICMP, TCP SYN/RST
        self.kept_parts: list[pd.DataFrame] = []
        self.biggest_unfragmented = 0

    @property
    def kept(self) -> pd.DataFrame:
        return pd.concat(self.kept_parts, ignore_index=True) if self.kept_parts else pd.DataFrame()

    def feed(self, packets: pd.DataFrame) -> None:
        """Pair the DNS messages of one chunk (frames arrive in order from tshark)."""
        is_icmp = packets["icmp_type"].notna() | packets["icmp6_type"].notna()
        is_dns = packets["qname"].notna() & packets["response"].notna() & ~is_icmp
        control = packets["syn"].fillna(False) | packets["rst"].fillna(False)
        keep = (is_dns & packets["response"].fillna(False)) | packets["is_fragment"] | is_icmp | (
            control & (packets["transport"] == "tcp"))
        self.kept_parts.append(packets.loc[keep, [c for c in KEPT_COLUMNS
                                                  if c in packets.columns]])
        whole = packets.loc[~packets["is_fragment"], "ip_size"].max()
        if pd.notna(whole):
            self.biggest_unfragmented = max(self.biggest_unfragmented, int(whole))
        rows = packets[is_dns]
        rows = rows.assign(qname=rows["qname"].str.lower().str.rstrip("."))
        cols = [cast(Any, rows[c]).to_numpy(dtype=object, na_value=None).tolist()
                for c in _FEED_COLUMNS]
        txns, open_by_question, waiting = self.txns, self.open_by_question, self.waiting
        for (frame, time, qname, response, transport, src, dst, sport, dport, dns_id, qtype,
             family, edns_size, do_bit) in zip(*cols, strict=True):
            if not response:
                exact = (transport, src, sport, dst, dport, dns_id, qname, qtype)
                question = (transport, src, dst, dns_id, qname, qtype)
                earlier = open_by_question.get(question)
                if (earlier is not None and earlier.response_frame is None
                        and time - earlier.query_time <= RETRY_WINDOW):
                    earlier.retransmissions += 1
                    queue = waiting[exact]
                    if earlier not in queue:
                        queue.append(earlier)
                    continue
                txn = _Txn(len(txns), family, transport, src, sport, dst, dport, dns_id, qname,
                           qtype, frame, time, edns_size, do_bit)
                txns.append(txn)
                open_by_question[question] = txn
                waiting[exact].append(txn)
                continue
            queue = waiting.get((transport, dst, dport, src, sport, dns_id, qname, qtype), deque())
            while queue and queue[0].response_frame is not None:
                queue.popleft()  # answered through another port it was retried from
            if not queue:
                continue  # an answer to a query the capture did not see: reported in warnings
            queue.popleft().response_frame = frame

    def finish(self, packets: pd.DataFrame | None = None, *, mtu: int | None = None
               ) -> pd.DataFrame:
        """Attach answers, link fragments, ICMP and TCP fallbacks, build the table. Without
        ``packets`` it uses what :meth:`feed` kept."""
        if packets is None:
            packets = self.kept
        txns = self.txns
        is_icmp = packets["icmp_type"].notna() | packets["icmp6_type"].notna()
        is_answer = packets["qname"].notna() & (packets["response"] == True) & ~is_icmp  # noqa: E712
        answers: Any = packets.loc[is_answer, ["frame", *_RESPONSE_FIELDS]].drop_duplicates(
            "frame").set_index("frame")
        resp = answers.reindex(pd.array([t.response_frame for t in txns], dtype="Int64"))
        resp.index = range(len(txns))
        times = resp["time"].to_numpy(dtype=object, na_value=None).tolist()
        truncated = (resp["tc"].astype("boolean").fillna(False).to_numpy(dtype=bool)
                     & np.array([t.transport == "udp" for t in txns], dtype=bool))
        _link_fragments(packets, txns)
        _link_icmp(packets[is_icmp], txns)
        _follow_truncation(packets, txns,
                           [(txns[i], times[i]) for i in np.flatnonzero(truncated)])
        return _to_frame(txns, resp, mtu)


def build_transactions(packets: pd.DataFrame, *, mtu: int | None = None) -> pd.DataFrame:
    """One row per DNS transaction (columns: :data:`COLUMNS`)."""
    builder = TransactionBuilder()
    builder.feed(packets)
    return builder.finish(packets, mtu=mtu)


KEPT_COLUMNS = ("frame", "time", "family", "src", "dst", "transport", "sport", "dport", "syn",
                "ack", "rst", "is_fragment", "frag_first", "frag_key", "reassembled",
                "fragments", "icmp_type", "icmp6_type", "icmp_kind", "icmp_mtu_any", "qname",
                "response", "rcode", "answers", "tc", "dns_size", "ip_size")
_FEED_COLUMNS = ("frame", "time", "qname", "response", "transport", "src", "dst", "sport",
                 "dport", "dns_id", "qtype", "family", "edns_size", "do_bit")
_RESPONSE_FIELDS = ("time", "rcode", "answers", "tc", "dns_size", "ip_size", "fragments")
def _rows(frame: pd.DataFrame, columns: tuple[str, ...]) -> Iterable[Any]:
    """Rows as namedtuples of plain Python values (missing -> None, converted in C)."""
    row_type: Any = namedtuple("_Row", columns)  # type: ignore[misc]
    lists = [cast(Any, frame[c]).to_numpy(dtype=object, na_value=None).tolist() for c in columns]
    return map(row_type._make, zip(*lists, strict=True))


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
        txn = _open_query([t for t in txns if t.response_frame is None], str(first["dst"]),
                          str(first["src"]), float(first["time"]))
        if txn is None:
            txn = _open_query(txns, str(first["dst"]), str(first["src"]), float(first["time"]))
        if txn is not None:
            txn.fragments_lost = True
            txn.fragments_seen += len(group)


def _link_icmp(icmp: pd.DataFrame, txns: list[_Txn]) -> None:
    for row in _rows(icmp, ("frame", "time", "src", "dst", "icmp_kind", "icmp_mtu_any")):
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


def _times_by(frame: pd.DataFrame, keys: tuple[str, str]) -> dict[tuple[Any, Any], list[Any]]:
    out: dict[tuple[Any, Any], list[Any]] = defaultdict(list)
    for a, b, t, port in zip(frame[keys[0]].tolist(), frame[keys[1]].tolist(),
                             frame["time"].tolist(), frame["sport" if keys[0] == "src" else
                                                                "dport"].tolist(), strict=True):
        out[(_v(a), _v(b))].append((float(t), _v(port)))
    return out


def _follow_truncation(packets: pd.DataFrame, txns: list[_Txn],
                       truncated: list[tuple[_Txn, float]]) -> None:
    """Classify each TC=1 UDP answer (given with its arrival time) by what the client did."""
    if not truncated:
        return
    tcp = packets[packets["transport"] == "tcp"]
    syn = tcp["syn"].fillna(False)
    ack = tcp["ack"].fillna(False)
    syns = _times_by(tcp[syn & ~ack & (tcp["dport"] == 53)], ("src", "dst"))
    synacks = _times_by(tcp[syn & ack & (tcp["sport"] == 53)], ("dst", "src"))
    rsts = _times_by(tcp[tcp["rst"].fillna(False) & (tcp["sport"] == 53)], ("dst", "src"))
    tcp_by_question: dict[tuple[Any, ...], list[_Txn]] = defaultdict(list)
    for u in txns:
        if u.transport == "tcp":
            tcp_by_question[(u.client, u.server, u.qname, u.qtype)].append(u)
    answer_time = dict(zip(packets["frame"].tolist(), packets["time"].tolist(), strict=True))
    for t, start in truncated:
        end = start + FALLBACK_WINDOW
        follow = [u for u in tcp_by_question.get((t.client, t.server, t.qname, t.qtype), [])
                  if start <= u.query_time <= end]
        answered = [u for u in follow if u.response_frame is not None]
        if answered:
            t.tcp_fallback = "ok"
            finished = answer_time[answered[0].response_frame]
            t.fallback_latency_ms = round((finished - start) * 1000, 3)
            continue
        tried = [port for when, port in syns.get((t.client, t.server), []) if start <= when <= end]
        if not follow and not tried:
            t.tcp_fallback = "none"
            continue
        t.tcp_fallback = "failed"
        refused = [p for when, p in rsts.get((t.client, t.server), []) if p in tried]
        accepted = [p for when, p in synacks.get((t.client, t.server), []) if p in tried]
        reason = ("connection refused (RST)" if refused else
                  "no answer over TCP" if accepted else "SYN unanswered")
        t.icmp.append("tcp: " + reason)


@cache
def _qtype_text(value: int) -> str:
    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(value))


@cache
def _rcode_text(value: int) -> str:
    return dns.rcode.to_text(dns.rcode.Rcode.make(value))


def _to_frame(txns: list[_Txn], resp: pd.DataFrame, mtu: int | None) -> pd.DataFrame:
    """The table: query-side columns from the transactions, answer columns from ``resp`` (one
    row per transaction, aligned); size checks and outcomes vectorised."""
    n = len(txns)

    def column(values: list[Any], dtype: str) -> Any:
        return pd.array(values, dtype=dtype)  # type: ignore[call-overload]

    frame = pd.DataFrame({
        "transaction": np.arange(n, dtype="int64"),
        "family": column([t.family for t in txns], "string"),
        "transport": column([t.transport for t in txns], "string"),
        "client": column([t.client for t in txns], "string"),
        "client_port": column([t.client_port for t in txns], "Int64"),
        "server": column([t.server for t in txns], "string"),
        "server_port": column([t.server_port for t in txns], "Int64"),
        "dns_id": column([t.dns_id for t in txns], "string"),
        "qname": column([t.qname for t in txns], "string"),
        "qtype": column([_qtype_text(t.qtype) if t.qtype is not None else None for t in txns],
                        "string"),
        "query_frame": column([t.query_frame for t in txns], "Int64"),
        "query_time": np.array([t.query_time for t in txns], dtype="float64"),
        "response_frame": column([t.response_frame for t in txns], "Int64"),
    })
    frame["response_time"] = resp["time"].astype("Float64").to_numpy()
    frame["rtt_ms"] = ((frame["response_time"] - frame["query_time"]) * 1000).round(3)
    frame["rcode"] = column([_rcode_text(int(r)) if pd.notna(r) else None
                             for r in resp["rcode"].tolist()], "string")
    frame["answers"] = resp["answers"].astype("Int64").to_numpy()
    frame["tc"] = resp["tc"].astype("boolean").to_numpy()
    frame["dns_size"] = resp["dns_size"].astype("Int64").to_numpy()
    fragments = resp["fragments"].astype("Int64")
    frame["ip_size"] = resp["ip_size"].astype("Int64").where(fragments.isna()).to_numpy()
    frame["edns_size"] = column([t.edns_size for t in txns], "Int64")
    frame["do_bit"] = column([t.do_bit for t in txns], "boolean")
    frame["retransmissions"] = np.array([t.retransmissions for t in txns], dtype="int64")
    answered = frame["response_frame"].notna().to_numpy()
    has_fragments = fragments.fillna(0).to_numpy(dtype=float) > 0
    frame["fragmented"] = pd.array([bool(f) if a else None for a, f in
                                    zip(answered, has_fragments, strict=True)], dtype="boolean")
    frame["fragments"] = fragments.to_numpy()
    frame["fragments_lost"] = pd.array([t.fragments_lost for t in txns], dtype="boolean")
    frame["fragments_seen"] = column([t.fragments_seen or None for t in txns], "Int64")
    frame["icmp"] = column(["; ".join(t.icmp) or None for t in txns], "string")
    frame["icmp_mtu"] = column([t.icmp_mtu for t in txns], "Int64")
    frame["tcp_fallback"] = column([t.tcp_fallback or None for t in txns], "string")
    frame["fallback_latency_ms"] = column([t.fallback_latency_ms for t in txns], "Float64")
    size = frame["dns_size"].astype("Float64")
    udp = frame["transport"] == "udp"
    path_limit = frame["family"].map(PATH_1500).astype("Float64")
    offered = frame["edns_size"].astype("Float64").clip(lower=512).fillna(512)
    frame["over_512"] = (size > 512).astype("boolean")
    frame["over_1232"] = (size > 1232).astype("boolean")
    frame["over_1400"] = (size > 1400).astype("boolean")
    frame["over_path_1500"] = (size > path_limit).astype("boolean")
    overhead = frame["family"].map({"ipv4": 28, "ipv6": 48}).astype("Float64")
    frame["over_mtu"] = ((size + overhead) > mtu).astype("boolean") if mtu else pd.array(
        [None] * n, dtype="boolean")
    frame["over_offered"] = (size > offered).where(udp).astype("boolean")
    frame["cut_512_no_tc"] = ((size == 512) & ~frame["tc"].fillna(False)).where(udp).astype(
        "boolean")
    frame["outcome"] = pd.Categorical(_outcomes(frame, txns), categories=OUTCOMES)
    # one definition of "lost fragments" for the column, the outcome and the summary's counter
    # (an ICMP too-big for a fragmented answer counts too): they can no longer disagree
    frame["fragments_lost"] = (frame["outcome"] == "fragments_lost").astype("boolean")
    return frame[list(COLUMNS)]


def _outcomes(frame: pd.DataFrame, txns: list[_Txn]) -> Any:
    """Outcome per transaction, in the module docstring's precedence."""
    too_big = np.array([t.icmp_too_big for t in txns], dtype=bool)
    answered = frame["response_frame"].notna().to_numpy()
    fragmented = frame["fragments"].fillna(0).to_numpy(dtype=float) > 0
    lost = frame["fragments_lost"].fillna(False).to_numpy(dtype=bool) | (
        too_big & answered & fragmented)
    truncated = ((frame["transport"] == "udp").to_numpy(dtype=bool)
                 & frame["tc"].fillna(False).to_numpy(dtype=bool))
    fallback = frame["tcp_fallback"].fillna("").to_numpy(dtype=object)
    rcode = frame["rcode"].fillna("NOERROR").to_numpy(dtype=object)
    bad_rcode = ~np.isin(rcode, ["NOERROR", "NXDOMAIN"])
    return np.select(
        [lost, truncated & (fallback == "ok"), truncated & (fallback == "failed"), truncated,
         ~answered | too_big, bad_rcode],
        ["fragments_lost", "truncated_tcp_ok", "truncated_tcp_failed", "truncated_no_retry",
         "unanswered", "error_rcode"], default="ok")


def capture_warnings(packets: pd.DataFrame, txns: pd.DataFrame, capture_filter: str | None,
                     mtu: int | None = None, *, biggest_unfragmented: int | None = None
                     ) -> list[str]:
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
    biggest = (biggest_unfragmented if biggest_unfragmented is not None
               else packets.loc[~packets["is_fragment"], "ip_size"].max())
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
              warnings: list[str], mtu: int | None = None, dns_packets: int | None = None
              ) -> dict[str, Any]:
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
        "dns_packets": int(packets["qname"].notna().sum()) if dns_packets is None
        else dns_packets,
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
