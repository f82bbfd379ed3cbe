"""DNS transactions from a capture's message table: pairing, truncation follow-up, fragments,
ICMP.

One row per DNS transaction (a query and its response, or a query that got none), with fixed,
typed columns -- see :data:`COLUMNS` -- built from the tables of :mod:`enumlab.capture` (one
row per DNS message; fragments, ICMP errors and TCP control beside it).

* Pairing: client address/port, server address/port, transport, DNS ID, QNAME, QTYPE. A query
  repeated before its answer (same client, server, ID and question) within
  :data:`RETRY_WINDOW` is a *retransmission* of the same transaction, whichever source port the
  client used. Vectorised: a question asked once and answered at most once (nearly all of them)
  is paired by sorting; only questions seen several times go through the sequential rule.
* Truncation follow-up: a UDP answer with TC=1 followed, from the same client within 10 s, by
  the same question over TCP to the same server is ``truncated_tcp_ok`` (with the fallback
  latency) when that TCP query is answered, ``truncated_tcp_failed`` when the TCP attempt gets
  RST, no SYN-ACK or no answer, and ``truncated_no_retry`` when the client never tries TCP
  (RFC 1035 s4.2.1, RFC 7766 s5: it should).
* Fragments: a response reassembled from fragments is ``fragmented``; a fragment set that never
  completed is matched to the open query of that client and server: ``fragments_lost``.
* ICMP: fragmentation-needed (IPv4 type 3 code 4) and Packet Too Big (ICMPv6 type 2) are linked
  to the response they quote, with the MTU they report -- such a response did not arrive;
  port-unreachable is linked to the query it quotes.

Outcome, in this precedence: ``fragments_lost``, ``truncated_tcp_ok``,
``truncated_tcp_failed``, ``truncated_no_retry``, ``unanswered``, ``error_rcode`` (any rcode but
NOERROR and NXDOMAIN), ``ok``.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from functools import cache
from typing import Any, cast

import numpy as np
import pandas as pd

OUTCOMES = ("ok", "truncated_tcp_ok", "truncated_no_retry", "truncated_tcp_failed",
            "unanswered", "fragments_lost", "error_rcode")
FALLBACK_WINDOW = 10.0  # seconds between a TC=1 answer and the TCP retry
RETRY_WINDOW = 10.0  # seconds within which a repeated question is a retransmission
SIZE_LIMITS = {"512": 512, "1232": 1232, "1400": 1400}
PATH_1500 = {"ipv4": 1472, "ipv6": 1452}  # largest unfragmented UDP payload on a 1500 path

COLUMNS: dict[str, str] = {
    "transaction": "int64", "family": "category", "transport": "category",
    "client": "category", "client_port": "Int64", "server": "category", "server_port": "Int64",
    "dns_id": "category", "qname": "category", "qtype": "category", "query_frame": "Int64",
    "query_time": "float64", "response_frame": "Int64", "response_time": "Float64",
    "rtt_ms": "Float64", "rcode": "category", "answers": "Int64", "tc": "boolean",
    "dns_size": "Int64",
    "ip_size": "Int64", "edns_size": "Int64", "do_bit": "boolean", "retransmissions": "int64",
    "fragmented": "boolean", "fragments": "Int64", "fragments_lost": "boolean",
    "fragments_seen": "Int64", "icmp": "string", "icmp_mtu": "Int64", "tcp_fallback": "category",
    "fallback_latency_ms": "Float64", "over_512": "boolean", "over_1232": "boolean",
    "over_1400": "boolean", "over_path_1500": "boolean", "over_mtu": "boolean",
    "over_offered": "boolean", "cut_512_no_tc": "boolean",
    # what happened on the way (README: the outcome model)
    "duplicate_responses": "int64", "retried": "boolean",
    "first_answer_lost_in_fragments": "boolean", "icmp_too_big": "boolean",
    "icmp_unreachable": "boolean", "icmp_reassembly_timeout": "boolean",
    "outcome": "category",
}


@cache
def _hex_ids() -> Any:
    """The 65,536 DNS ids as ``0x04d2`` text: one CategoricalDtype, built once, vectorised."""
    ids = np.arange(65536)
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    chars = np.empty((65536, 6), dtype=np.uint8)
    chars[:, 0], chars[:, 1] = ord("0"), ord("x")
    for k in range(4):
        chars[:, 2 + k] = hexdigits[(ids >> (12 - 4 * k)) & 0xF]
    text = chars.view("S6").ravel().astype("U6").astype(object)
    return pd.CategoricalDtype(categories=pd.Index(text, dtype=object))


def _codes(*series: Any) -> list[np.ndarray]:
    """Integer codes shared by several columns of labels (NA -> -1): the Categoricals' own
    codes when they share their categories, else by hashing."""
    if all(isinstance(s.dtype, pd.CategoricalDtype) for s in series) and all(
            s.cat.categories.equals(series[0].cat.categories) for s in series):
        return [s.cat.codes.to_numpy(dtype=np.int64) for s in series]
    joined = pd.concat([pd.Series(s).reset_index(drop=True).astype(object) for s in series],
                       ignore_index=True)
    codes, _ = pd.factorize(joined, use_na_sentinel=True)
    out, start = [], 0
    for s in series:
        out.append(codes[start:start + len(s)].astype(np.int64))
        start += len(s)
    return out


def _int(col: Any, missing: int = -1) -> np.ndarray:
    return cast(np.ndarray, col.astype("Int64").fillna(missing).to_numpy(dtype=np.int64))


def pair_messages(messages: pd.DataFrame
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(query row, response row or -1, retransmissions, duplicate responses) per transaction,
    in query order, for the DNS (not mDNS / LLMNR) messages that have a decodable question. A
    duplicate is a second answer on the exact key of an answered transaction within
    :data:`RETRY_WINDOW` of the first (a capture on two interfaces, a mirror port)."""
    m = messages
    usable = ((m["protocol"] == "dns") & m["qname_ok"].fillna(False) & m["qr"].notna()).to_numpy(
        dtype=bool)
    rows = np.flatnonzero(usable)
    if not len(rows):
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, z
    sub = m.iloc[rows]
    qr = sub["qr"].to_numpy(dtype=bool)
    src, dst = _codes(sub["src"], sub["dst"])
    client = np.where(qr, dst, src)
    server = np.where(qr, src, dst)
    client_port = np.where(qr, sub["dport"].to_numpy(), sub["sport"].to_numpy())
    server_port = np.where(qr, sub["sport"].to_numpy(), sub["dport"].to_numpy())
    (qname,) = _codes(sub["qname"])
    transport = (sub["transport"] == "tcp").to_numpy(dtype=np.int64)
    dns_id = _int(sub["dns_id"])
    qtype = _int(sub["qtype"])
    time = sub["time"].to_numpy(dtype=np.float64)
    order = np.lexsort((np.arange(len(rows)), qtype, qname, dns_id, server, client, transport))
    keys = np.stack([transport, client, server, dns_id, qname, qtype], axis=1)[order]
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (keys[1:] != keys[:-1]).any(axis=1)
    group = np.cumsum(new_group) - 1
    n_groups = int(group[-1]) + 1
    is_q = ~qr[order]
    queries_per = np.bincount(group, weights=is_q, minlength=n_groups)
    responses_per = np.bincount(group, weights=~is_q, minlength=n_groups)
    simple_group = (queries_per == 1) & (responses_per <= 1)
    # in a simple group the query must come first and the ports must match
    first = np.flatnonzero(new_group)
    g_of_first = group[first]
    size = np.bincount(group, minlength=n_groups)
    two = simple_group & (size == 2)
    a = order[first[two[g_of_first]]]
    b = order[first[two[g_of_first]] + 1]
    ok2 = (~qr[a] & qr[b] & (client_port[a] == client_port[b]) & (server_port[a] == server_port[b])
           & (time[b] >= time[a]))
    bad = np.flatnonzero(two)[~ok2]
    simple_group[bad] = False
    simple_rows = simple_group[group]
    q_idx: list[np.ndarray] = []
    r_idx: list[np.ndarray] = []
    retx: list[np.ndarray] = []
    # simple groups: one query, at most one answer
    sq = order[simple_rows & is_q]
    resp_of_group = np.full(n_groups, -1, dtype=np.int64)
    sr = simple_rows & ~is_q
    resp_of_group[group[sr]] = order[sr]
    q_idx.append(sq)
    r_idx.append(resp_of_group[group[simple_rows & is_q]])
    retx.append(np.zeros(len(sq), dtype=np.int64))
    dups = [np.zeros(len(sq), dtype=np.int64)]
    # the rest: the sequential rule, in capture order
    rest = np.sort(order[~simple_rows])
    if len(rest):
        cq, cr, cx, cd = _pair_sequential(rest, qr, transport, client, server, client_port,
                                          server_port, dns_id, qname, qtype, time)
        q_idx.append(cq)
        r_idx.append(cr)
        retx.append(cx)
        dups.append(cd)
    qi = np.concatenate(q_idx)
    ri = np.concatenate(r_idx)
    rx = np.concatenate(retx)
    dx = np.concatenate(dups)
    by_time = np.lexsort((qi, time[qi]))
    qi, ri, rx, dx = qi[by_time], ri[by_time], rx[by_time], dx[by_time]
    return rows[qi], np.where(ri >= 0, rows[np.maximum(ri, 0)], -1), rx, dx


def _pair_sequential(rest: np.ndarray, qr: np.ndarray, *cols: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    transport, client, server, client_port, server_port, dns_id, qname, qtype, time = cols
    # [query row, response row, retransmissions, duplicates, query time, answer time]
    txns: list[list[Any]] = []
    open_by_question: dict[tuple[int, ...], list[Any]] = {}
    waiting: dict[tuple[int, ...], deque[list[Any]]] = defaultdict(deque)
    answered: dict[tuple[int, ...], list[Any]] = {}
    for i in rest.tolist():
        question = (int(transport[i]), int(client[i]), int(server[i]), int(dns_id[i]),
                    int(qname[i]), int(qtype[i]))
        exact = (*question, int(client_port[i]), int(server_port[i]))
        if not qr[i]:
            earlier = open_by_question.get(question)
            if (earlier is not None and earlier[1] < 0
                    and time[i] - earlier[4] <= RETRY_WINDOW):
                earlier[2] += 1
                queue = waiting[exact]
                if not any(t is earlier for t in queue):
                    queue.append(earlier)
                continue
            txn = [i, -1, 0, 0, float(time[i]), 0.0]
            txns.append(txn)
            open_by_question[question] = txn
            waiting[exact].append(txn)
            continue
        queue = waiting.get(exact, deque())
        while queue and queue[0][1] >= 0:
            queue.popleft()  # answered through another port it was retried from
        if queue:
            txn = queue.popleft()
            txn[1], txn[5] = i, float(time[i])
            answered[exact] = txn
            continue
        first = answered.get(exact)
        if first is not None and time[i] - first[5] <= RETRY_WINDOW:
            first[3] += 1  # the same answer again
    arr = np.array([t[:4] for t in txns], dtype=np.int64).reshape(-1, 4)
    return arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]


class _Open:
    """'The latest transaction from this client to this server that started before t'."""

    def __init__(self, client: np.ndarray, server: np.ndarray, time: np.ndarray,
                 answered: np.ndarray) -> None:
        self.by_pair: dict[tuple[str, str], np.ndarray] = {}
        frame = pd.DataFrame({"c": client, "s": server, "t": time, "i": np.arange(len(time))})
        for (c, s), g in frame.groupby(["c", "s"], sort=False):
            self.by_pair[(str(c), str(s))] = g.sort_values(["t", "i"])["i"].to_numpy()
        self.time = time
        self.answered = answered

    def latest(self, client: str, server: str, when: float, *, unanswered: bool = False
               ) -> int | None:
        idx = self.by_pair.get((client, server))
        if idx is None:
            return None
        times = self.time[idx]
        k = int(np.searchsorted(times, when + 1e-6, side="right"))
        for j in range(k - 1, -1, -1):
            if not unanswered or not self.answered[idx[j]]:
                return int(idx[j])
        return None


def build_transactions(tables: Any, *, mtu: int | None = None) -> pd.DataFrame:
    """One row per DNS transaction (columns: :data:`COLUMNS`) from a capture's tables."""
    m = tables.messages
    qi, ri, retx, dups = pair_messages(m)
    n = len(qi)
    q = m.iloc[qi].reset_index(drop=True)
    answered = ri >= 0
    r = m.iloc[np.maximum(ri, 0)].reset_index(drop=True) if len(m) else q

    def resp(col: str, dtype: str) -> Any:
        """A response-side column, NA where the query got no answer."""
        if not n:
            return pd.Series(pd.array([], dtype=dtype))  # type: ignore[call-overload]
        return r[col].astype(dtype).where(pd.Series(answered))

    t = pd.DataFrame({
        "transaction": np.arange(n, dtype=np.int64),
        "family": q["family"].astype("category"),
        "transport": q["transport"].astype("category"),
        "client": q["src"].astype("category"), "client_port": q["sport"].astype("Int64"),
        "server": q["dst"].astype("category"), "server_port": q["dport"].astype("Int64"),
        "dns_id": pd.Categorical.from_codes(_int(q["dns_id"], 0), dtype=_hex_ids()),
        "qname": q["qname"].astype("category"),
        "qtype": pd.Categorical(_texts(_qtype_text, _int(q["qtype"]))),
        "query_frame": q["frame"].astype("Int64"),
        "query_time": q["time"].to_numpy(dtype=np.float64),
    })
    t["response_frame"] = resp("frame", "Int64")
    t["response_time"] = resp("time", "Float64")
    t["rtt_ms"] = ((t["response_time"] - t["query_time"]) * 1000).round(3)
    rcodes = _int(r["rcode"]) if n else np.zeros(0, np.int64)
    rcode_text: Any = _texts(_rcode_text, rcodes)
    where: Any = np.where
    t["rcode"] = pd.Categorical(where(answered, rcode_text, None))
    t["answers"] = resp("ancount", "Int64")
    t["tc"] = resp("tc", "boolean")
    t["dns_size"] = resp("dns_size", "Int64")
    frags = resp("ip_fragments", "Int64")
    t["ip_size"] = resp("ip_size", "Int64").where(frags.fillna(0) == 0)
    t["edns_size"] = q["edns_size"].astype("Int64")
    t["do_bit"] = q["edns_do"].astype("boolean")
    t["retransmissions"] = retx
    t["duplicate_responses"] = dups
    t["fragmented"] = (frags > 0).astype("boolean")
    t["fragments"] = frags.where(frags > 0)
    links = _Links(n)
    if n:
        opens = _Open(t["client"].to_numpy(dtype=object), t["server"].to_numpy(dtype=object),
                      t["query_time"].to_numpy(), answered)
        _link_fragments(tables.fragments, opens, links)
        _link_icmp(tables.icmp, opens, links)
        _follow_truncation(tables.tcp, t, links)
    t["fragments_lost"] = pd.array(links.lost, dtype="boolean")
    t["fragments_seen"] = pd.array(where(links.seen > 0, links.seen, None), dtype="Int64")
    t["icmp"] = (pd.array(["; ".join(x) if x else None for x in links.icmp], dtype="string")
                 if links.any_icmp else pd.Series(pd.NA, index=t.index, dtype="string"))
    t["icmp_mtu"] = _sparse(links.mtu, "Int64", t.index)
    t["tcp_fallback"] = pd.Categorical(links.fallback, categories=["ok", "failed", "none"])
    t["fallback_latency_ms"] = _sparse(links.latency, "Float64", t.index)
    return _sizes_and_outcomes(t, links, mtu)


def _sparse(values: list[Any], dtype: str, index: Any) -> Any:
    """A mostly-missing column from a list with None (filled where set, fast)."""
    out = pd.Series(pd.NA, index=index, dtype=cast(Any, dtype))
    where = [i for i, v in enumerate(values) if v is not None]
    if where:
        out.iloc[where] = [values[i] for i in where]
    return out


class _Links:
    def __init__(self, n: int) -> None:
        self.lost = np.zeros(n, dtype=bool)
        self.seen = np.zeros(n, dtype=np.int64)
        self.too_big = np.zeros(n, dtype=bool)
        self.unreachable = np.zeros(n, dtype=bool)
        self.reassembly_timeout = np.zeros(n, dtype=bool)
        self.set_owner: dict[tuple[str, str, int], int] = {}  # lost fragment set -> txn
        self.icmp: list[list[str]] = []  # made on the first note
        self.n = n
        self.any_icmp = False
        self.mtu: list[Any] = [None] * n
        self.fallback: list[Any] = [None] * n
        self.latency: list[Any] = [None] * n

    def note(self, i: int, text: str) -> None:
        if not self.any_icmp:
            self.icmp = [[] for _ in range(self.n)]
            self.any_icmp = True
        self.icmp[i].append(text)


def _link_fragments(fragments: pd.DataFrame, opens: _Open, links: _Links) -> None:
    lost = fragments[~fragments["complete"].fillna(False)]
    if lost.empty:
        return
    for (_src, _dst, _id), group in lost.groupby(["src", "dst", "ip_id"], sort=False):
        first: Any = group.iloc[0]
        client, server, when = str(first["dst"]), str(first["src"]), float(first["time"])
        i = opens.latest(client, server, when, unanswered=True)
        if i is None:
            i = opens.latest(client, server, when)
        if i is not None:
            links.lost[i] = True
            links.seen[i] += len(group)
            links.set_owner[(str(_src), str(_dst), int(cast(Any, _id)))] = i


UNREACHABLE = ("port-unreachable", "host-unreachable", "net-unreachable", "address-unreachable",
               "admin-prohibited", "unreachable")
TOO_BIG = ("fragmentation-needed", "packet-too-big")
REASSEMBLY_TIMEOUT = "reassembly-time-exceeded"


def _link_icmp(icmp: pd.DataFrame, opens: _Open, links: _Links) -> None:
    """ICMP errors to the transaction they are about (RFC 792, RFC 1191, RFC 4443): an
    unreachable quotes a query (client -> server); fragmentation-needed / Packet Too Big quote
    (a fragment of) a response; reassembly time exceeded (IPv4 type 11 code 1, ICMPv6 type 3
    code 1) is the client's own proof that fragments of a response were lost -- linked by the
    quoted fragment's identification to its fragment set, else to the client's latest query
    to that server."""
    row: Any
    for row in icmp.itertuples(index=False):
        kind = str(row.kind)
        if pd.isna(row.quoted_src) or kind not in (*UNREACHABLE, *TOO_BIG, REASSEMBLY_TIMEOUT):
            continue
        if kind in UNREACHABLE:  # quotes a query: client -> server
            i = opens.latest(str(row.quoted_src), str(row.quoted_dst), float(row.time))
            if i is not None:
                links.unreachable[i] = True
        elif kind == REASSEMBLY_TIMEOUT:
            key = (str(row.quoted_src), str(row.quoted_dst),
                   -1 if pd.isna(row.quoted_ip_id) else int(row.quoted_ip_id))
            i = links.set_owner.get(key)
            if i is None:
                i = opens.latest(str(row.quoted_dst), str(row.quoted_src), float(row.time),
                                 unanswered=True)
            if i is not None:
                links.reassembly_timeout[i] = True
        else:  # quotes (a fragment of) a response: server -> client
            i = opens.latest(str(row.quoted_dst), str(row.quoted_src), float(row.time))
            if i is not None:
                links.too_big[i] = True
                if not pd.isna(row.mtu):
                    links.mtu[i] = int(row.mtu)
        if i is not None:
            mtu = "" if pd.isna(row.mtu) else f" mtu {int(row.mtu)}"
            links.note(i, f"{kind}{mtu} (frame {int(row.frame)})")


def _follow_truncation(tcp: pd.DataFrame, t: pd.DataFrame, links: _Links) -> None:
    """Classify each TC=1 UDP answer by what the client did next: the same question over TCP
    to the same server within :data:`FALLBACK_WINDOW`, answered (``ok``, latency to the first
    answered retry) or not (``failed``, with why), or no attempt (``none``)."""
    truncated = np.flatnonzero((t["tc"].fillna(False) & (t["transport"] == "udp")).to_numpy(
        dtype=bool))
    if not len(truncated):
        return
    key = ["client", "server", "qname", "qtype"]
    tc = pd.DataFrame({k: t[k].astype(object).to_numpy()[truncated] for k in key})
    tc["i"] = truncated
    tc["start"] = t["response_time"].astype("float64").to_numpy()[truncated]
    over_tcp = np.flatnonzero((t["transport"] == "tcp").to_numpy(dtype=bool))
    retry = pd.DataFrame({k: t[k].astype(object).to_numpy()[over_tcp] for k in key})
    retry["u"] = over_tcp
    retry["query_time"] = t["query_time"].to_numpy()[over_tcp]
    retry["answer_time"] = t["response_time"].astype("float64").to_numpy()[over_tcp]
    pairs = tc.merge(retry, on=key, how="inner")
    pairs = pairs[(pairs["query_time"] >= pairs["start"])
                  & (pairs["query_time"] <= pairs["start"] + FALLBACK_WINDOW)]
    followed = set(pairs["i"].tolist())
    answered = pairs[pairs["answer_time"].notna()].sort_values(["i", "u"], kind="stable")
    first = answered.drop_duplicates("i")
    for i, latency in zip(first["i"].tolist(), ((first["answer_time"] - first["start"]) * 1000)
                          .round(3).tolist(), strict=True):
        links.fallback[i] = "ok"
        links.latency[i] = latency
    rest = [i for i in truncated.tolist() if links.fallback[i] is None]
    if not rest:
        return
    syn = tcp["syn"] & ~tcp["ack"]
    synack = tcp["syn"] & tcp["ack"]
    for i in rest:  # the failures: few, examined one by one
        row: Any = t.iloc[i]
        start = float(row["response_time"])
        end = start + FALLBACK_WINDOW
        window = (tcp["time"] >= start) & (tcp["time"] <= end)
        to_server = window & (tcp["src"] == row["client"]) & (tcp["dst"] == row["server"])
        tried = set(tcp.loc[to_server & syn & (tcp["dport"] == row["server_port"]),
                            "sport"].tolist())
        if i not in followed and not tried:
            links.fallback[i] = "none"
            continue
        links.fallback[i] = "failed"
        back = window & (tcp["src"] == row["server"]) & (tcp["dst"] == row["client"]) & (
            tcp["sport"] == row["server_port"])
        refused = set(tcp.loc[back & tcp["rst"], "dport"].tolist()) & tried
        accepted = set(tcp.loc[back & synack, "dport"].tolist()) & tried
        reason = ("connection refused (RST)" if refused else
                  "no answer over TCP" if accepted else "SYN unanswered")
        links.note(i, "tcp: " + reason)


@cache
def _qtype_text(value: int) -> str:
    import dns.rdatatype

    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(value))


@cache
def _rcode_text(value: int) -> str:
    import dns.rcode

    return dns.rcode.to_text(dns.rcode.Rcode.make(value))


def _texts(fn: Any, values: np.ndarray) -> np.ndarray:
    """``fn`` applied once per distinct value (-1 -> None)."""
    uniq, inverse = np.unique(values, return_inverse=True)
    text = np.array([fn(int(v)) if v >= 0 else None for v in uniq], dtype=object)
    return text[inverse.ravel()] if len(values) else np.zeros(0, dtype=object)


def _sizes_and_outcomes(frame: pd.DataFrame, links: _Links, mtu: int | None) -> pd.DataFrame:
    n = len(frame)
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
    answered = frame["response_frame"].notna().to_numpy()
    fragmented = frame["fragments"].fillna(0).to_numpy(dtype=float) > 0
    # the outcome model (README): the final fate of the question, and flags for the way there
    lost = ((links.lost | links.reassembly_timeout) & ~answered) | (
        links.too_big & answered & fragmented)
    frame["retried"] = pd.array(frame["retransmissions"].to_numpy() > 0, dtype="boolean")
    frame["first_answer_lost_in_fragments"] = pd.array(
        (links.lost | links.reassembly_timeout) & answered & ~links.too_big, dtype="boolean")
    frame["icmp_too_big"] = pd.array(links.too_big, dtype="boolean")
    frame["icmp_unreachable"] = pd.array(links.unreachable, dtype="boolean")
    frame["icmp_reassembly_timeout"] = pd.array(links.reassembly_timeout, dtype="boolean")
    truncated = (udp.to_numpy(dtype=bool) & frame["tc"].fillna(False).to_numpy(dtype=bool))
    fallback = frame["tcp_fallback"].astype(object).fillna("").to_numpy(dtype=object)
    rcode = frame["rcode"].astype(object).fillna("NOERROR").to_numpy(dtype=object)
    bad_rcode = ~np.isin(rcode, ["NOERROR", "NXDOMAIN"])
    outcome = np.select(
        [lost, truncated & (fallback == "ok"), truncated & (fallback == "failed"), truncated,
         ~answered | links.too_big, bad_rcode],
        ["fragments_lost", "truncated_tcp_ok", "truncated_tcp_failed", "truncated_no_retry",
         "unanswered", "error_rcode"], default="ok")
    frame["outcome"] = pd.Categorical(outcome, categories=OUTCOMES)
    # one definition of "lost fragments" for the column, the outcome and the summary's counter
    frame["fragments_lost"] = (frame["outcome"] == "fragments_lost").astype("boolean")
    return frame[list(COLUMNS)]


FLAGS = ("retried", "first_answer_lost_in_fragments", "icmp_too_big", "icmp_unreachable",
         "icmp_reassembly_timeout")


class SummaryParts:
    """What one capture -- or one file of a rotated capture set -- adds to a summary: every
    figure kept as a sum, a counter, a set, a maximum or a list of values, so the parts of a
    set's files add up to exactly the summary of the whole set (:func:`merge_parts`,
    :func:`summary_from`). A single capture is one part."""

    def __init__(self) -> None:
        self.n: Counter[str] = Counter()  # every additive figure, by name
        self.edns_offered: Counter[str] = Counter()
        self.protocols: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.flags: Counter[str] = Counter()
        self.icmp_kinds: Counter[str] = Counter()
        self.icmp_mtus: set[int] = set()
        self.latencies: list[float] = []
        self.truncated_names: Counter[str] = Counter()
        self.largest: tuple[int, int, str, str] | None = None  # size, -frame, qname, transport
        self.biggest_whole: int | None = None
        self.notes: list[str] = []  # the engines' own sentences
        self.capture_filters: list[str] = []
        self.frames = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def merge_parts(parts: list[SummaryParts]) -> SummaryParts:
    """The parts of several files as one."""
    out = SummaryParts()
    for p in parts:
        out.frames += p.frames
        for name in ("n", "edns_offered", "protocols", "outcomes", "flags", "icmp_kinds",
                     "truncated_names"):
            getattr(out, name).update(getattr(p, name))
        out.icmp_mtus |= p.icmp_mtus
        out.latencies += p.latencies
        if p.largest is not None and (out.largest is None or p.largest[:2] > out.largest[:2]):
            out.largest = p.largest
        if p.biggest_whole is not None:
            out.biggest_whole = max(out.biggest_whole or 0, p.biggest_whole)
        out.notes += [x for x in p.notes if x not in out.notes]
        out.capture_filters += [x for x in p.capture_filters if x not in out.capture_filters]
    return out


def summary_parts(tables: Any, txns: pd.DataFrame, *, mtu: int | None = None,
                  owned: tuple[int, int] | None = None, start: float | None = None
                  ) -> SummaryParts:
    """The figures of ``tables`` and ``txns``. ``owned`` (first, last frame): count only what
    belongs to those frames -- messages, transactions by their query frame, fragment sets by
    the frame that completed them (or their first fragment), ICMP errors -- while the rest of
    the tables is still used as context (a TCP retry in the next file's first seconds).
    ``start``: when the capture (set) began, for the "sent before the capture" sentence."""
    m_all = tables.messages
    if owned is None:
        lo, hi = -1, np.iinfo(np.int64).max
    else:
        lo, hi = owned
    frame_m = m_all["frame"].to_numpy()
    m = m_all[(frame_m >= lo) & (frame_m <= hi)] if owned is not None else m_all
    qf = txns["query_frame"].to_numpy(dtype=np.float64, na_value=np.nan)
    t = txns[(qf >= lo) & (qf <= hi)] if owned is not None else txns
    out = SummaryParts()
    n = out.n
    out.frames = int(tables.total_frames)
    n["dns_messages"] = len(m)
    dns = (m["protocol"] == "dns").to_numpy(dtype=bool)
    qr = m["qr"].fillna(False).to_numpy(dtype=bool)
    udp = (m["transport"] == "udp").to_numpy(dtype=bool)
    ok = m["qname_ok"].fillna(False).to_numpy(dtype=bool)
    responses = dns & qr
    queries = dns & ~qr & m["qr"].notna().to_numpy(dtype=bool)
    size = m["dns_size"].to_numpy()
    udp_resp = responses & udp
    n["queries"], n["responses"] = int(queries.sum()), int(responses.sum())
    n["udp_queries"], n["udp_responses"] = int((queries & udp).sum()), int(udp_resp.sum())
    n["tcp_queries"], n["tcp_responses"] = int((queries & ~udp).sum()), int(
        (responses & ~udp).sum())
    n["responses_ok"] = int((responses & ok).sum())
    n["paired"] = int(t["response_frame"].notna().sum())
    n["duplicates"] = int(t["duplicate_responses"].sum()) if len(t) else 0
    n["no_question"] = int((dns & (m["qdcount"].fillna(0) == 0).to_numpy(dtype=bool)).sum())
    n["undecodable"] = int((dns & ~m["qname_ok"].fillna(True).to_numpy(dtype=bool)).sum())
    n["malformed"] = int((dns & (m["malformed"].astype(object) != "").to_numpy(dtype=bool)).sum())
    n["truncated"] = int((udp_resp & m["tc"].fillna(False).to_numpy(dtype=bool)).sum())
    n["fragmented_responses"] = int((responses & (m["ip_fragments"] > 0).to_numpy(dtype=bool))
                                    .sum())
    for name, limit in SIZE_LIMITS.items():
        n[f"over_{name}"] = int((udp_resp & (size > limit)).sum())
    v6 = (m["family"] == "ipv6").to_numpy(dtype=bool)
    n["over_1472"] = int((udp_resp & ~v6 & (size > 1472)).sum() + (udp_resp & v6 & (size > 1452))
                         .sum())
    if mtu:
        overhead = np.where(v6, 48, 28)
        n["over_mtu"] = int((udp_resp & (size + overhead > mtu)).sum())
    offered = m.loc[queries, "edns_size"].astype("Int64").value_counts(dropna=False)
    out.edns_offered.update({str(int(k)) if pd.notna(k) else "none": int(v)
                             for k, v in cast(Any, offered).items()})
    out.protocols.update({str(k): int(v) for k, v in
                          m["protocol"].astype(object).value_counts().items()})
    frags = tables.fragments
    if len(frags):
        sets = frags.drop_duplicates(["src", "dst", "ip_id", "reassembled_in"])
        done = sets["complete"].fillna(False).to_numpy(dtype=bool)
        if owned is not None:  # a set belongs where it completed, or where it began
            first = frags.groupby(["src", "dst", "ip_id", "reassembled_in"], dropna=False,
                                  sort=False, observed=True)["frame"].transform("min")
            at = np.where(done, sets["reassembled_in"].fillna(-1).to_numpy(dtype=np.int64),
                          first.loc[sets.index].to_numpy(dtype=np.int64))
            mine = (at >= lo) & (at <= hi)
        else:
            mine = np.ones(len(sets), dtype=bool)
        n["reassembled_sets"] = int((done & mine).sum())
        n["lost_sets"] = int((~done & mine).sum())
        fframe = frags["frame"].to_numpy()
        fm = (fframe >= lo) & (fframe <= hi)
        n["fragments"] = int(fm.sum())
        n["nonfirst_fragments"] = int((fm & (frags["offset"] > 0).to_numpy(dtype=bool)).sum())
    whole = m.loc[m["ip_fragments"] == 0, "ip_size"].dropna()
    out.biggest_whole = int(whole.max()) if len(whole) else None
    # transactions
    n["transactions"] = len(t)
    out.outcomes.update({str(k): int(v) for k, v in t["outcome"].value_counts().items()})
    for f in FLAGS:
        out.flags[f] = int(t[f].fillna(False).sum())
    out.flags["duplicate_response"] = int((t["duplicate_responses"] > 0).sum())
    n["fallback_ok"] = int((t["tcp_fallback"] == "ok").sum())
    n["fallback_failed"] = int((t["tcp_fallback"] == "failed").sum())
    n["fallback_none"] = int((t["tcp_fallback"] == "none").sum())
    out.latencies = t["fallback_latency_ms"].dropna().astype(float).tolist()
    n["fragments_lost"] = int(t["fragments_lost"].fillna(False).sum())
    answered = t[t["dns_size"].notna()]
    if len(answered):
        biggest = answered.sort_values("dns_size", ascending=False, kind="stable").iloc[0]
        out.largest = (int(biggest["dns_size"]), -int(biggest["response_frame"]),
                       str(biggest["qname"]), str(biggest["transport"]))
    out.truncated_names.update({str(k): int(v) for k, v in t.loc[
        t["tc"].fillna(False), "qname"].astype(object).value_counts().items()})
    n["seen_from_server_side"] = sum(lo <= f <= hi
                                     for f in _orphan_tcp_fallback_frames(tables, txns))
    icmp = tables.icmp
    iframe = icmp["frame"].to_numpy() if len(icmp) else np.zeros(0, np.int64)
    icmp_mine = icmp[(iframe >= lo) & (iframe <= hi)] if len(icmp) else icmp
    n["icmp"] = len(icmp_mine)
    out.icmp_kinds.update({str(k): int(v) for k, v in icmp_mine["kind"].value_counts().items()})
    out.icmp_mtus = {int(x) for x in icmp_mine["mtu"].dropna()}
    # responses that answer queries sent before the capture began (its first RETRY_WINDOW s)
    begin = float(m_all["time"].min()) if start is None and len(m_all) else start
    if begin is not None and len(m):
        # paired by any transaction: one owned by the previous file counts too
        paired = set(txns["response_frame"].dropna().astype(int).tolist())
        resp = m[(m["protocol"] == "dns") & m["qr"].fillna(False) & m["qname_ok"].fillna(False)
                 & ~m["frame"].isin(paired)]
        n["early_orphans"] = int((resp["time"] <= begin + RETRY_WINDOW).sum())
    retransmitted = np.asarray(getattr(tables, "retransmitted_frames", []), dtype=np.int64)
    n["retransmitted_segments"] = int(((retransmitted >= lo) & (retransmitted <= hi)).sum())
    at = list(getattr(tables, "warning_frames", []))
    at += [None] * (len(tables.warnings) - len(at))
    out.notes = [w for w, f in zip(tables.warnings, at, strict=True)
                 if f is None or lo <= f <= hi]
    if tables.capture_filter:
        out.capture_filters.append(tables.capture_filter)
    return out


def _orphan_tcp_fallback_frames(tables: Any, txns: pd.DataFrame) -> set[int]:
    """Frames of TC=1 UDP answers whose query the capture never saw, followed within
    :data:`FALLBACK_WINDOW` by the same server answering the same name and type over TCP to the
    same client: TCP fallbacks seen from the answering side."""
    m = tables.messages
    paired = set(txns["response_frame"].dropna().astype(int).tolist())
    base = (m["protocol"] == "dns") & m["qr"].fillna(False) & m["qname_ok"].fillna(False)
    tc = m[base & m["tc"].fillna(False) & (m["transport"] == "udp")
           & ~m["frame"].isin(paired)]
    if tc.empty:
        return set()
    key = ["src", "dst", "qname", "qtype"]
    tcp = m[base & (m["transport"] == "tcp")][[*key, "time"]]
    left = tc[[*key, "time", "frame"]].astype({k: object for k in key})
    pairs = left.merge(tcp.astype({k: object for k in key}), on=key, suffixes=("", "_tcp"))
    pairs = pairs[(pairs["time_tcp"] >= pairs["time"])
                  & (pairs["time_tcp"] <= pairs["time"] + FALLBACK_WINDOW)]
    return {int(x) for x in pairs["frame"].unique()}


def _warnings(p: SummaryParts, mtu: int | None) -> list[str]:
    """What the capture itself cannot show, or shows oddly, in plain sentences -- each only
    when the capture's own evidence says so."""
    n = p.n
    out: list[str] = list(p.notes)
    if n["streams_older_than_window"]:
        out.append(f"{n['streams_older_than_window']} DNS-over-TCP connection(s) were open "
                   "across a file boundary for longer than the window: their messages after "
                   "the boundary are framed from the window's first segment (give a longer "
                   "--window)")
    if n["retransmitted_segments"]:
        out.append(f"{n['retransmitted_segments']} retransmitted TCP segment(s) of DNS "
                   "connections counted once")
    for capture_filter in p.capture_filters:
        if "port" in capture_filter:
            out.append(f"the capture filter {capture_filter!r} drops every non-first IP "
                       "fragment (they carry no port): fragment losses cannot be told from the "
                       "filter")
    if n["fragments"] and not n["nonfirst_fragments"]:
        out.append("the capture holds first fragments but not one non-first fragment: either "
                   "they were all lost or the capture cannot see them (a port-53 filter)")
    limit = max(1500, mtu or 0)
    if p.biggest_whole is not None and p.biggest_whole > limit:
        out.append(f"a {p.biggest_whole}-byte IP datagram travelled unfragmented, larger than "
                   "any real MTU: a loopback capture, or segmentation/receive offload (GRO/TSO) "
                   "on the capturing host")
    if n["duplicates"]:
        out.append(f"{n['duplicates']} duplicate response(s): the same answer arrived twice for "
                   "one query (a capture on two interfaces or a mirror port, or a server "
                   "answering a retransmission); counted once in the transactions")
    orphans = _orphans(p)
    if orphans:
        if n["queries"] == 0:
            out.append(f"the capture holds {orphans} response(s) and not one query: it sees one "
                       "direction only (an asymmetric path or a one-way mirror)")
        else:
            early = min(n["early_orphans"], orphans)
            if early:
                out.append(f"{early} response(s) in the first {RETRY_WINDOW:.0f} s answer "
                           "queries sent before the capture started")
            if orphans - early > 0:
                out.append(f"{orphans - early} response(s) answer queries the capture never saw "
                           "(some queries took another path, or the capture dropped them)")
    if n["no_question"] + n["undecodable"] or n["malformed"]:
        out.append(f"{n['no_question']} message(s) without a question, "
                   f"{n['undecodable']} with an undecodable name, {n['malformed']} "
                   "malformed: counted in the message figures, not paired")
    left = {x: p.protocols[x] for x in ("mdns", "llmnr") if p.protocols.get(x)}
    if left:
        out.append(" and ".join(f"{c} {x.upper() if x == 'llmnr' else 'mDNS'}" for x, c in
                                left.items())
                   + " message(s) counted separately: the unicast DNS analysis leaves them aside")
    return out


def _orphans(p: SummaryParts) -> int:
    return max(0, p.n["responses_ok"] - p.n["paired"] - p.n["duplicates"])


def summary_from(p: SummaryParts, *, mtu: int | None = None) -> dict[str, Any]:
    """The report's numbers (the README's JSON contract): per message and per transaction."""
    n = p.n
    over = {k: n[f"over_{k}"] for k in ("512", "1232", "1400", "1472")}
    if mtu:
        over[f"mtu_{mtu}"] = n["over_mtu"]
    messages = {
        "queries": n["queries"], "responses": n["responses"],
        "udp": {"queries": n["udp_queries"], "responses": n["udp_responses"]},
        "tcp": {"queries": n["tcp_queries"], "responses": n["tcp_responses"]},
        "no_question": n["no_question"], "undecodable": n["undecodable"],
        "malformed": n["malformed"], "truncated": n["truncated"],
        "fragmented_responses": n["fragmented_responses"],
        "edns_sizes_offered": dict(p.edns_offered),
        "orphan_responses": _orphans(p), "duplicate_responses": n["duplicates"],
        "lost_fragment_datagrams": n["lost_sets"], "reassembled_datagrams": n["reassembled_sets"],
    }
    latency = pd.Series(p.latencies, dtype=float)
    udp_responses = n["udp_responses"]
    largest = p.largest
    top = sorted(p.truncated_names.items(), key=lambda kv: -kv[1])[:10]
    return {
        "frames": p.frames,
        "packets": p.frames,  # the same figure, by its earlier name
        "dns_messages": n["dns_messages"],
        "dns_packets": n["dns_messages"],  # the same figure, by its earlier name
        "messages": messages,
        "protocols": {x: p.protocols.get(x, 0) for x in ("dns", "mdns", "llmnr")},
        "transactions": n["transactions"],
        "outcomes": {name: p.outcomes.get(name, 0) for name in OUTCOMES},
        "flags": {f: p.flags.get(f, 0) for f in (*FLAGS, "duplicate_response")},
        "truncated": n["truncated"],
        "truncation_rate": round(n["truncated"] / udp_responses, 4) if udp_responses else 0.0,
        "tcp_fallback": {
            "ok": n["fallback_ok"], "failed": n["fallback_failed"], "none": n["fallback_none"],
            "seen_from_server_side": n["seen_from_server_side"],
            "latency_ms": {"median": float(latency.median()) if len(latency) else None,
                           "p95": float(latency.quantile(0.95)) if len(latency) else None},
        },
        "orphan_responses": messages["orphan_responses"],
        "duplicate_responses": n["duplicates"],
        "fragmented_responses": n["fragmented_responses"],
        "lost_fragment_datagrams": n["lost_sets"],
        "reassembled_datagrams": n["reassembled_sets"],
        "fragments_lost": n["fragments_lost"],
        "icmp": {"count": n["icmp"], "by_kind": dict(p.icmp_kinds), "mtus": sorted(p.icmp_mtus)},
        "largest_response": None if largest is None else {
            "dns_size": largest[0], "qname": largest[2], "transport": largest[3],
            "frame": -largest[1]},
        "edns_sizes": dict(p.edns_offered),
        "responses_over": over,
        "top_truncated_names": dict(top),
        "warnings": _warnings(p, mtu),
    }


def summarize(tables: Any, txns: pd.DataFrame, *, mtu: int | None = None) -> dict[str, Any]:
    """The summary of one capture (:func:`summary_parts` then :func:`summary_from`)."""
    return summary_from(summary_parts(tables, txns, mtu=mtu), mtu=mtu)
