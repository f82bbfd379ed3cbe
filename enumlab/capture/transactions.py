"""DNS transactions from a capture's message table: pairing, truncation follow-up, fragments,
ICMP.

One row per DNS transaction (a query and its response, or a query that got none), with fixed,
typed columns -- see :data:`COLUMNS` -- built from the tables of :mod:`enumlab.capture` (one
row per DNS message; fragments, ICMP errors and TCP control beside it).

* Pairing: client address/port, server address/port, transport, DNS ID, QNAME, QTYPE (and the
  VXLAN network, whose tenants may share addresses). A query
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
  completed is matched to the open query of that client and server (on the ports of its first
  fragment, when captured; never a query too old to be waiting): ``fragments_lost``.
* ICMP: fragmentation-needed (IPv4 type 3 code 4) and Packet Too Big (ICMPv6 type 2) are linked
  to the response they quote, with the MTU they report -- such a response did not arrive;
  port-unreachable is linked to the query it quotes.

Outcome, in this precedence: ``fragments_lost``, ``truncated_tcp_ok``,
``truncated_tcp_failed``, ``truncated_no_retry``, ``unanswered``, ``error_rcode`` (any rcode but
NOERROR and NXDOMAIN), ``ok``.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import Any

import numpy as np

from .columns import (
    Columns,
    Later,
    compiled_when_many,
    distinct,
    factorize,
    factorize_texts,
    shared_codes,
)
from .jit import helper
from .table import MESSAGE_COLUMNS, PAIRKEY, QKEY

OUTCOMES = ("ok", "truncated_tcp_ok", "truncated_no_retry", "truncated_tcp_failed",
            "unanswered", "fragments_lost", "error_rcode")
FALLBACK_WINDOW = 10.0  # seconds between a TC=1 answer and the TCP retry
RETRY_WINDOW = 10.0  # seconds within which a repeated question is a retransmission
# a query seen again on the same ports this soon is the same datagram captured twice (two
# interfaces of a router, a mirror port): resolvers' first retransmission timeouts are
# hundreds of milliseconds or more
COPY_WINDOW = 0.010
SIZE_LIMITS = {"512": 512, "1232": 1232, "1400": 1400}
PATH_1500 = {"ipv4": 1472, "ipv6": 1452}  # largest unfragmented UDP payload on a 1500 path
IP_HEADERS_MAX = 60 + 200  # an IPv4 header with options, or IPv6 + a few extension headers

COLUMNS: dict[str, str] = {
    "transaction": "int64", "family": "category", "transport": "category",
    "client": "category", "client_port": "Int64", "server": "category", "server_port": "Int64",
    "dns_id": "category", "qname": "category", "qtype": "category", "opcode": "Int64",
    "query_frame": "Int64",
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
    "duplicate_responses": "int64", "query_copies": "int64", "retried": "boolean",
    "first_answer_lost_in_fragments": "boolean", "icmp_too_big": "boolean",
    "icmp_unreachable": "boolean", "icmp_reassembly_timeout": "boolean",
    "outcome": "category",
}


@cache
def _hex_id_texts() -> np.ndarray:
    """The 65,536 DNS ids as ``0x04d2`` text (object array, index = id), built once,
    vectorised."""
    ids = np.arange(65536)
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    chars = np.empty((65536, 6), dtype=np.uint8)
    chars[:, 0], chars[:, 1] = ord("0"), ord("x")
    for k in range(4):
        chars[:, 2 + k] = hexdigits[(ids >> (12 - 4 * k)) & 0xF]
    out: np.ndarray = chars.view("S6").ravel().astype("U6").astype(object)
    return out


def qname_keys(m: Columns) -> np.ndarray:
    """One integer per distinct QNAME (-1: none): the engine's name hash where it gave one
    (the same in every piece of a capture analysed in pieces), else the category code."""
    key = m.values.get(QKEY)
    return key if key is not None else m["qname"].astype(np.int64, copy=False)


def _messages(messages: Any) -> Columns:
    """The message table as columns, whatever form it came in."""
    return messages if isinstance(messages, Columns) else Columns.of_frame(messages,
                                                                            MESSAGE_COLUMNS)


def pair_messages(messages: Any
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(query row, response row or -1, retransmissions, duplicate responses, query copies)
    per transaction, in query order, for the DNS (not mDNS / LLMNR) messages that have a
    decodable question. A duplicate is a second answer on the exact key of an answered
    transaction within :data:`RETRY_WINDOW` of the first (a capture on two interfaces, a
    mirror port); a query copy is the same query again on the same ports within
    :data:`COPY_WINDOW` -- the same datagram captured twice, not a retransmission (it made
    every transaction of a capture on a router's two sides "retried"). ``messages``: the
    message table (columns or DataFrame)."""
    m = _messages(messages)
    usable = ((m["protocol"] == m.code_of("protocol", "dns")) & m.filled("qname_ok", False)
              & ~m.isna("qr"))
    rows = np.flatnonzero(usable)
    if not len(rows):
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, z, z
    every = len(rows) == len(m)  # usually: then no row is copied out

    def pick(column: np.ndarray) -> np.ndarray:
        return column if every else column[rows]

    qr = pick(m["qr"]).astype(bool, copy=False)
    (src_all, dst_all), _labels = shared_codes(m, "src", "dst")
    src, dst = pick(src_all), pick(dst_all)
    sport, dport = pick(m["sport"]), pick(m["dport"])
    qname = pick(qname_keys(m))
    tcp = pick(m["transport"]) == m.code_of("transport", "tcp")
    dns_id = pick(m.filled("dns_id", -1)).astype(np.int64, copy=False)
    qtype = pick(m.filled("qtype", -1)).astype(np.int64, copy=False)
    time = pick(m["time"]).astype(np.float64, copy=False)
    # the question's key in two integers: (transport, id, qtype) and (client, server) packed
    # into one (35 + up to 28 bits), the QNAME code beside it; ties stay in capture order
    width = int(max(src.max(), dst.max())) + 2
    packed = compiled_when_many(question_keys, len(qr)) if width < (1 << 14) else None
    if packed is not None:  # one compiled pass, no temporaries
        key = np.empty(len(qr), dtype=np.int64)
        packed(qr, src, dst, tcp, dns_id, qtype, width, key)
        keys = [key, qname]
    else:
        client, server = np.where(qr, dst, src), np.where(qr, src, dst)
        small = (tcp.astype(np.int64) << 34) | ((dns_id + 1) << 17) | (qtype + 1)
        keys = ([small | (((client + 1) * width + server + 1) << 35), qname]
                if width < (1 << 14) else [small, client, server, qname])
    # VXLAN tenants (RFC 7348 s5: the VNI names the overlay network) reuse one another's
    # addresses: a question is asked within its VNI (a key only where VXLAN is present). GTP-U
    # TEIDs and GRE keys differ by direction, and a VLAN copy is the same packet: not keys.
    vxlan = m.code_of("encapsulation", "vxlan")
    if vxlan >= 0:
        encap = pick(m["encapsulation"])
        if (encap == vxlan).any():
            vni = pick(m.filled("tunnel_id", -1)).astype(np.int64, copy=False)
            keys = [*keys, np.where(encap == vxlan, vni, -1)]
    # groups of equal keys, numbered by first appearance
    group_of, first_of = factorize(*keys)
    n_groups = len(first_of)
    # per group: how many queries and responses, and the row of each (-1: none)
    counted = compiled_when_many(group_counts, len(qr))
    if counted is not None:
        queries_per, responses_per = (np.zeros(n_groups, dtype=np.int64) for _ in range(2))
        q_first, r_first = (np.full(n_groups, -1, dtype=np.int64) for _ in range(2))
        counted(group_of, qr, queries_per, responses_per, q_first, r_first)
    else:
        queries_per = np.bincount(group_of[~qr], minlength=n_groups)
        responses_per = np.bincount(group_of, minlength=n_groups) - queries_per
        q_first = _row_of(group_of, ~qr, n_groups)
        r_first = _row_of(group_of, qr, n_groups)
    # a simple group: one query, at most one answer -- after it, on the same ports
    simple_group = (queries_per == 1) & (responses_per <= 1)
    two = np.flatnonzero(simple_group & (responses_per == 1))
    a, b = q_first[two], r_first[two]  # a query, its answer: the client's port is a's source
    ok2 = (a < b) & (sport[a] == dport[b]) & (dport[a] == sport[b]) & (time[b] >= time[a])
    simple_group[two[~ok2]] = False
    # simple groups: their query rows ascend with the group numbers (a group is numbered by
    # its first row, which is its query)
    sq = q_first[simple_group]
    q_idx = [sq]
    r_idx = [np.where(responses_per[simple_group] == 1, r_first[simple_group], -1)]
    retx = [np.zeros(len(sq), dtype=np.int64)]
    dups = [np.zeros(len(sq), dtype=np.int64)]
    # the rest: the sequential rule, in capture order, group by group (every state the rule
    # keeps is per question: groups are independent); a group without a query makes no
    # transaction and no duplicate
    rest = np.flatnonzero(~simple_group[group_of] & (queries_per[group_of] > 0))
    copy_of = np.zeros(0, dtype=np.int64)
    if len(rest):
        rest = rest[np.argsort(group_of[rest], kind="stable")]
        rest, copy_of = _without_copies(rest, qr, group_of, sport, dport, time)
        r_qr = qr[rest]
        k = len(rest)
        out = [np.zeros(k, dtype=np.int64) for _ in range(4)]
        scratch = [np.zeros(k, dtype=np.int64) for _ in range(7)]
        times = [np.zeros(k, dtype=np.float64) for _ in range(2)]
        rule = compiled_when_many(pair_groups, k) or pair_groups
        made = rule(group_of[rest], r_qr, np.where(r_qr, dport[rest], sport[rest]),
                    np.where(r_qr, sport[rest], dport[rest]), time[rest], RETRY_WINDOW,
                    *out, *scratch, *times)
        cq, cr, cx, cd = (x[:made] for x in out)
        q_idx.append(rest[cq])
        r_idx.append(np.where(cr >= 0, rest[np.maximum(cr, 0)], -1))
        retx.append(cx)
        dups.append(cd)
    qi = np.concatenate(q_idx)
    ri = np.concatenate(r_idx)
    rx = np.concatenate(retx)
    dx = np.concatenate(dups)
    # query rows are distinct: by row (two ascending runs: a merge), then by time, ties in
    # capture order (a capture's times usually ascend already: no second sort)
    by_row = np.argsort(qi, kind="stable")
    qi, ri, rx, dx = qi[by_row], ri[by_row], rx[by_row], dx[by_row]
    t = time[qi]
    if len(t) > 1 and not bool(np.all(t[1:] >= t[:-1])):  # NaN (no timestamp): sorted last
        by_time = np.argsort(t, kind="stable")
        qi, ri, rx, dx = qi[by_time], ri[by_time], rx[by_time], dx[by_time]
    copies = np.zeros(len(qi), dtype=np.int64)
    if len(copy_of) and len(qi):
        # each copy to its question's transaction begun last at or before the query it
        # copies (that query may be a retransmission of it)
        span = len(qr) + 1
        tkey = group_of[qi].astype(np.int64) * span + qi
        order = np.argsort(tkey, kind="stable")
        ckey = group_of[copy_of].astype(np.int64) * span + copy_of
        at = np.searchsorted(tkey[order], ckey, side="right") - 1
        hit = at >= 0
        hit[hit] = group_of[qi[order[at[hit]]]] == group_of[copy_of[hit]]
        np.add.at(copies, order[at[hit]], 1)
    return rows[qi], np.where(ri >= 0, rows[np.maximum(ri, 0)], -1), rx, dx, copies


def _without_copies(rest: np.ndarray, qr: np.ndarray, group_of: np.ndarray, sport: np.ndarray,
                    dport: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``rest`` (rows grouped by question, capture order within) without the queries that
    are copies of the query before them (same question and ports within
    :data:`COPY_WINDOW`), and the row each copy copies (the last query before it that is no
    copy)."""
    qpos = np.flatnonzero(~qr[rest])
    qrows = rest[qpos]
    none = np.zeros(0, dtype=np.int64)
    if len(qrows) < 2:
        return rest, none
    g, t = group_of[qrows], time[qrows]
    gap = t[1:] - t[:-1]
    same = ((g[1:] == g[:-1]) & (sport[qrows][1:] == sport[qrows][:-1])
            & (dport[qrows][1:] == dport[qrows][:-1]) & (gap >= 0) & (gap <= COPY_WINDOW))
    if not same.any():
        return rest, none
    is_copy = np.concatenate([[False], same])
    last = np.maximum.accumulate(np.where(is_copy, -1, np.arange(len(qrows))))
    keep = np.ones(len(rest), dtype=bool)
    keep[qpos[is_copy]] = False
    return rest[keep], qrows[last[is_copy]]


def question_keys(qr: np.ndarray, src: np.ndarray, dst: np.ndarray, tcp: np.ndarray,
                  dns_id: np.ndarray, qtype: np.ndarray, width: int, key: np.ndarray) -> None:
    """Kernel (compiled by numba): each message's question key but the QNAME, packed in one
    integer -- (transport, DNS id + 1, QTYPE + 1) in 35 bits, then (client + 1) * ``width`` +
    server + 1 above them (the client: a query's source, a response's destination)."""
    for i in range(len(qr)):
        if qr[i]:
            client, server = dst[i], src[i]
        else:
            client, server = src[i], dst[i]
        key[i] = ((np.int64(tcp[i]) << 34) | ((dns_id[i] + 1) << 17) | (qtype[i] + 1)
                  | (((client + 1) * width + server + 1) << 35))


def group_counts(group_of: np.ndarray, qr: np.ndarray, queries: np.ndarray,
                 responses: np.ndarray, q_row: np.ndarray, r_row: np.ndarray) -> None:
    """Kernel (compiled by numba): per group, its queries and responses counted, and the row
    of one of each (the last; only groups with one are read)."""
    for i in range(len(group_of)):
        g = group_of[i]
        if qr[i]:
            responses[g] += 1
            r_row[g] = i
        else:
            queries[g] += 1
            q_row[g] = i


def _row_of(group_of: np.ndarray, where: np.ndarray, n_groups: int) -> np.ndarray:
    """A row of each group among the rows ``where`` is true (-1: none) -- the row, for the
    groups that have one (which one of several is unspecified: only single ones are used)."""
    rows = np.flatnonzero(where)
    row = np.full(n_groups, -1, dtype=np.int64)
    row[group_of[rows]] = rows
    return row


@helper
def _enrol(enr_txn: np.ndarray, enr_cp: np.ndarray, enr_sp: np.ndarray, enr_gone: np.ndarray,
           waiting: int, txn: int, cp: int, sp: int) -> int:
    """Transaction ``txn`` waits for an answer on ports (``cp``, ``sp``): one more enrolment
    after the ``waiting`` there are; returns the new count."""
    enr_txn[waiting] = txn
    enr_cp[waiting] = cp
    enr_sp[waiting] = sp
    enr_gone[waiting] = 0
    return waiting + 1


def pair_groups(group: np.ndarray, qr: np.ndarray, cport: np.ndarray, sport: np.ndarray,
                time: np.ndarray, window: float, q_out: np.ndarray, r_out: np.ndarray,
                retx_out: np.ndarray, dup_out: np.ndarray, enr_txn: np.ndarray,
                enr_cp: np.ndarray, enr_sp: np.ndarray, enr_gone: np.ndarray,
                ans_txn: np.ndarray, ans_cp: np.ndarray, ans_sp: np.ndarray,
                q_time: np.ndarray, r_time: np.ndarray) -> int:
    """Kernel (compiled by numba when the rows are many): the sequential pairing rule over
    messages sorted by question group (capture order inside a group); returns the number of
    transactions written to the ``*_out`` arrays (query row, response row or -1,
    retransmissions, duplicates; rows are positions in the input).

    Per group: a query while the group's latest transaction is unanswered and at most
    ``window`` s old is its retransmission (the transaction then waits on this query's ports
    too); else a new transaction. A response takes the first unanswered transaction waiting on
    its ports (client port, server port), in the order they began to wait; with none, it is a
    duplicate of the latest transaction answered on those ports if within ``window`` s of
    that answer. The other arrays are scratch space of the input's length."""
    n = len(group)
    made = 0
    i = 0
    while i < n:
        j = i
        while j < n and group[j] == group[i]:
            j += 1
        waiting = 0  # enrolments (transaction waiting on ports) of this group
        answers = 0
        latest = -1
        for k in range(i, j):
            cp = cport[k]
            sp = sport[k]
            if not qr[k]:
                if latest >= 0 and r_out[latest] < 0 and time[k] - q_time[latest] <= window:
                    retx_out[latest] += 1
                    present = False
                    for e in range(waiting):
                        if (enr_gone[e] == 0 and enr_txn[e] == latest and enr_cp[e] == cp
                                and enr_sp[e] == sp):
                            present = True
                            break
                    if not present:
                        waiting = _enrol(enr_txn, enr_cp, enr_sp, enr_gone, waiting, latest,
                                         cp, sp)
                    continue
                q_out[made] = k
                r_out[made] = -1
                retx_out[made] = 0
                dup_out[made] = 0
                q_time[made] = time[k]
                latest = made
                made += 1
                waiting = _enrol(enr_txn, enr_cp, enr_sp, enr_gone, waiting, latest, cp, sp)
                continue
            took = -1
            for e in range(waiting):
                if enr_gone[e] == 0 and enr_cp[e] == cp and enr_sp[e] == sp:
                    enr_gone[e] = 1
                    if r_out[enr_txn[e]] < 0:
                        took = enr_txn[e]
                        break
            if took >= 0:
                r_out[took] = k
                r_time[took] = time[k]
                ans_txn[answers] = took
                ans_cp[answers] = cp
                ans_sp[answers] = sp
                answers += 1
                continue
            for a in range(answers - 1, -1, -1):
                if ans_cp[a] == cp and ans_sp[a] == sp:
                    first = ans_txn[a]
                    if time[k] - r_time[first] <= window:
                        dup_out[first] += 1
                    break
        i = j
    return made


class _Timeline:
    """Events sorted by (key, time), asked about many (key, time) points at once: one merged
    sort answers every question -- no loop over the questions. Keys are integers; times
    seconds. Among events of equal key and time the earlier row sorts first."""

    def __init__(self, key: np.ndarray, time: np.ndarray) -> None:
        self.order = np.lexsort((time, key))
        self.key = key[self.order]
        self.time = time[self.order]

    def rank(self, key: np.ndarray, time: np.ndarray, *, inclusive: bool) -> np.ndarray:
        """Per question, how many events sort before (key, time): those of a smaller key,
        and those of the same key earlier (or at the same time when ``inclusive``)."""
        n, q = len(self.key), len(key)
        if not q:
            return np.zeros(0, dtype=np.int64)
        tag = np.concatenate([np.full(n, 0 if inclusive else 1, dtype=np.int8),
                              np.full(q, 1 if inclusive else 0, dtype=np.int8)])
        order = np.lexsort((tag, np.concatenate([self.time, time]),
                            np.concatenate([self.key, key])))
        events_so_far = np.cumsum(order < n)
        at = np.flatnonzero(order >= n)
        out = np.empty(q, dtype=np.int64)
        out[order[at] - n] = events_so_far[at]
        return out

    def count(self, key: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Per question, the events of its key with ``lo <= time <= hi``."""
        inside: np.ndarray = (self.rank(key, hi, inclusive=True)
                              - self.rank(key, lo, inclusive=False))
        return inside

    def first_at_or_after(self, key: np.ndarray, time: np.ndarray) -> np.ndarray:
        """Per question, the row of the first event of its key at or after ``time`` (-1)."""
        at = self.rank(key, time, inclusive=False)
        ok = at < len(self.key)
        ok[ok] = self.key[at[ok]] == key[ok]
        return np.where(ok, self.order[np.where(ok, at, 0)], -1) if len(self.key) else \
            np.full(len(key), -1, dtype=np.int64)

    def last_at_or_before(self, key: np.ndarray, time: np.ndarray) -> np.ndarray:
        """Per question, the row of the last event of its key at or before ``time`` (-1)."""
        at = self.rank(key, time, inclusive=True) - 1
        ok = at >= 0
        ok[ok] = self.key[at[ok]] == key[ok]
        return np.where(ok, self.order[np.where(ok, at, 0)], -1) if len(self.key) else \
            np.full(len(key), -1, dtype=np.int64)


def _text_codes(*texts: np.ndarray) -> list[np.ndarray]:
    """Codes of texts, equal texts equal codes across all the arrays (missing: -1), by one
    hash pass (:func:`.columns.factorize_texts`)."""
    codes = factorize_texts(np.concatenate([np.asarray(t, dtype=object) for t in texts]))[0]
    return np.split(codes, np.cumsum([len(t) for t in texts])[:-1])


def _codes_in(labels: list[str], *texts: np.ndarray) -> list[np.ndarray]:
    """Codes of address texts in ``labels`` (-1: not there, or missing), by one hash pass
    (:func:`.columns.factorize_texts`) over the labels and the texts together."""
    lab = np.asarray(labels, dtype=object)
    codes, uniques = factorize_texts(np.concatenate([lab, *[np.asarray(t, dtype=object)
                                                         for t in texts]]))
    label_of = np.full(len(uniques) + 1, -1, dtype=np.int64)  # the last slot: code -1
    label_of[codes[:len(lab)][::-1]] = np.arange(len(lab) - 1, -1, -1)
    out, at = [], len(lab)
    for t in texts:
        out.append(label_of[codes[at:at + len(t)]])
        at += len(t)
    return out


class _Open:
    """'The latest transaction from this client to this server that started before t' --
    for many questions at once (a :class:`_Timeline` of the transactions by client and
    server). Built on first use: only captures with lost fragments or ICMP errors need it."""

    def __init__(self, client: np.ndarray, server: np.ndarray, labels: list[str],
                 time: np.ndarray, answered: np.ndarray) -> None:
        self.client, self.server, self.labels = client, server, labels
        self.answered = answered
        self.width = len(labels) + 1
        pair = client * self.width + server
        self.all = _Timeline(pair, time)
        waiting = np.flatnonzero(~answered)
        self.waiting_rows = waiting
        self.waiting = _Timeline(pair[waiting], time[waiting])

    def latest(self, client: np.ndarray, server: np.ndarray, when: np.ndarray, *,
               unanswered: bool = False) -> np.ndarray:
        """Per question (codes in ``labels``), the transaction (-1: none); ``unanswered``:
        the latest one still without an answer."""
        known = (client >= 0) & (server >= 0)
        pair = np.where(known, client * self.width + server, -1)
        if unanswered:
            row = self.waiting.last_at_or_before(pair, when + 1e-6)
            found = self.waiting_rows[row] if len(self.waiting_rows) else row
            found[row < 0] = -1
        else:
            found = self.all.last_at_or_before(pair, when + 1e-6)
        return np.where(known, found, -1)


def build_transactions(tables: Any, *, mtu: int | None = None) -> Any:
    """One row per DNS transaction (a DataFrame with :data:`COLUMNS`) from a capture's tables
    (:func:`transaction_columns`, made a DataFrame)."""
    return transaction_columns(tables, mtu=mtu).frame()


def _categorical(fn: Any, values: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Codes and sorted categories of ``fn(value)`` (missing -> -1), as
    ``pandas.Categorical(texts)`` makes them; ``fn`` called once per distinct value."""
    codes = np.full(len(values), -1, dtype=np.int64)
    have = np.flatnonzero(~missing & (values >= 0))
    if not len(have):
        return codes, []
    present = values[have]
    top = int(present.max())
    if top < (1 << 16):  # qtypes, rcodes: the distinct values by counting, codes by lookup
        uniq = np.flatnonzero(np.bincount(present, minlength=top + 1))
    else:
        uniq = distinct(present)
    texts = [fn(int(u)) for u in uniq.tolist()]
    labels = sorted(set(texts))
    lookup = {x: i for i, x in enumerate(labels)}
    code_of = np.array([lookup[x] for x in texts], dtype=np.int64)
    if top < (1 << 16):
        table = np.zeros(top + 1, dtype=np.int64)
        table[uniq] = code_of
        codes[have] = table[present]
    else:
        codes[have] = code_of[np.searchsorted(uniq, present)]
    return codes, labels


def transaction_columns(tables: Any, *, mtu: int | None = None) -> Columns:
    """One row per DNS transaction (columns: :data:`COLUMNS`) from a capture's tables, as
    numpy columns: pairing, the truncation follow-up, fragment and ICMP links, sizes and the
    outcome (see module docs). Pandas is used only for the few rows of lost fragment sets,
    ICMP errors and failed TCP fallbacks."""
    m = tables.columns("messages")
    qi, ri, retx, dups, copies = pair_messages(m)
    n = len(qi)
    answered = ri >= 0
    r = np.maximum(ri, 0)
    unanswered = ~answered
    v: dict[str, np.ndarray] = {}
    miss: dict[str, np.ndarray] = {}
    cats: dict[str, Any] = {}

    def q(col: str) -> np.ndarray:
        picked: np.ndarray = m[col][qi]
        return picked

    def resp(col: str) -> tuple[np.ndarray, np.ndarray]:
        """A response-side column, missing where the query got no answer."""
        values = m[col][r] if len(m) else np.zeros(0, m[col].dtype)
        gone = unanswered | (m.isna(col)[r] if len(m) else np.zeros(0, bool))
        return values, gone

    v["transaction"] = np.arange(n, dtype=np.int64)
    v[QKEY] = qname_keys(m)[qi]
    for name, col in (("family", "family"), ("transport", "transport"), ("client", "src"),
                      ("server", "dst"), ("qname", "qname")):
        v[name], cats[name] = q(col).astype(np.int64, copy=False), m.categories[col]
    v["client_port"], v["server_port"] = q("sport"), q("dport")
    v["dns_id"] = m.filled("dns_id", 0)[qi].astype(np.int64, copy=False)
    cats["dns_id"] = Later(_hex_id_texts)  # 65,536 texts: made if a frame or CSV asks
    qtype = m.filled("qtype", -1)[qi].astype(np.int64, copy=False)
    v["qtype"], cats["qtype"] = _categorical(_qtype_text, qtype, np.zeros(n, dtype=bool))
    # QUERY 0, NOTIFY 4, UPDATE 5 (RFC 1035 s4.1.1, RFC 1996, RFC 2136): a NOTIFY or an
    # UPDATE and their answers are transactions too, told apart here
    v["opcode"], miss["opcode"] = q("opcode"), m.isna("opcode")[qi]
    v["query_frame"], v["query_time"] = q("frame"), q("time").astype(np.float64, copy=False)
    v["response_frame"], miss["response_frame"] = m["frame"][r] if n else np.zeros(0, np.int64), \
        unanswered
    response_time = m["time"][r].astype(np.float64, copy=False) if n else np.zeros(0)
    v["response_time"], miss["response_time"] = response_time, unanswered
    v["rtt_ms"] = np.round((response_time - v["query_time"]) * 1000, 3)
    # an answer timed before its query: the clock stepped back (the capture's notes say so);
    # no round-trip time is negative
    miss["rtt_ms"] = unanswered | (v["rtt_ms"] < 0)
    rcodes = m.filled("rcode", -1)[r].astype(np.int64, copy=False) if n else np.zeros(0, np.int64)
    v["rcode"], cats["rcode"] = _categorical(_rcode_text, rcodes, unanswered)
    v["answers"], miss["answers"] = resp("ancount")
    v["tc"], miss["tc"] = resp("tc")
    v["dns_size"], miss["dns_size"] = resp("dns_size")
    frags, frags_missing = resp("ip_fragments")
    ip_size, ip_missing = resp("ip_size")
    v["ip_size"], miss["ip_size"] = ip_size, ip_missing | (frags_missing | (frags != 0))
    v["edns_size"], miss["edns_size"] = q("edns_size"), m.isna("edns_size")[qi]
    v["do_bit"], miss["do_bit"] = q("edns_do"), m.isna("edns_do")[qi]
    v["retransmissions"], v["duplicate_responses"] = retx, dups
    v["query_copies"] = copies
    v["fragmented"], miss["fragmented"] = frags > 0, frags_missing
    v["fragments"], miss["fragments"] = frags, frags_missing | ~(frags > 0)
    links = _Links(n)
    if n:
        made: list[_Open] = []

        def opens() -> _Open:
            """Transactions by client and server, on the first need (shared label codes)."""
            if not made:
                (client, server), labels = shared_codes(
                    Columns({"a": "category", "b": "category"},
                            {"a": v["client"], "b": v["server"]}, {},
                            {"a": cats["client"], "b": cats["server"]}), "a", "b")
                made.append(_Open(client, server, labels, v["query_time"], answered))
            return made[0]

        _link_fragments(tables, opens, links, v)
        _link_icmp(tables, opens, links, v)
        _follow_truncation(tables, v, miss, m, links, opens)
    v["fragments_seen"], miss["fragments_seen"] = links.seen, links.seen <= 0
    v["icmp"] = links.notes()
    v["icmp_mtu"], miss["icmp_mtu"] = links.mtu, ~links.has_mtu
    cats["tcp_fallback"] = list(FALLBACKS)
    v["tcp_fallback"] = links.fallback
    v["fallback_latency_ms"], miss["fallback_latency_ms"] = links.latency, ~links.has_latency
    _sizes_and_outcomes(v, miss, cats, links, mtu)
    return Columns(COLUMNS, v, miss, cats)


class _Links:
    def __init__(self, n: int) -> None:
        self.lost = np.zeros(n, dtype=bool)
        self.seen = np.zeros(n, dtype=np.int64)
        self.too_big = np.zeros(n, dtype=bool)
        self.unreachable = np.zeros(n, dtype=bool)
        self.reassembly_timeout = np.zeros(n, dtype=bool)
        # lost fragment sets: (source, destination codes, IP id) and their transaction
        self.lost_sets = np.zeros((0, 3), dtype=np.int64)
        self.lost_owner = np.zeros(0, dtype=np.int64)
        self.n = n
        self.mtu = np.zeros(n, dtype=np.int64)
        self.has_mtu = np.zeros(n, dtype=bool)
        # ICMP notes: (transaction, text), in ICMP row order
        self.icmp_rows = np.zeros(0, dtype=np.int64)
        self.icmp_texts = np.zeros(0, dtype=object)
        # TC=1 UDP answers: FALLBACKS code (-1: not a TC answer), latency, why a retry failed
        self.fallback = np.full(n, -1, dtype=np.int64)
        self.latency = np.zeros(n, dtype=np.float64)
        self.has_latency = np.zeros(n, dtype=bool)
        self.tcp_reason = np.full(n, -1, dtype=np.int64)  # index into TCP_REASONS
        self._opens: _Open | None = None

    def notes(self) -> np.ndarray:
        """The ``icmp`` column: ICMP notes then the TCP follow-up's reason, "; "-joined."""
        out = np.full(self.n, None, dtype=object)
        why = np.flatnonzero(self.tcp_reason >= 0)
        out[why] = np.array([f"tcp: {x}" for x in TCP_REASONS], dtype=object)[
            self.tcp_reason[why]]
        if not len(self.icmp_rows):
            return out
        # one note per transaction (nearly always): set at once; several: joined in order
        rows, first, count = np.unique(self.icmp_rows, return_index=True, return_counts=True)
        single = count == 1
        lone = rows[single]
        tail = out[lone]
        out[lone] = np.where(tail == None, self.icmp_texts[first[single]],  # noqa: E711
                             self.icmp_texts[first[single]] + "; " + tail.astype(str))
        for row in rows[~single].tolist():  # a transaction with several ICMP errors: rare
            parts = self.icmp_texts[self.icmp_rows == row].tolist()
            if out[row] is not None:
                parts.append(out[row])
            out[row] = "; ".join(parts)
        return out


FALLBACKS = ("ok", "failed", "none")
ELSEWHERE = "retried over TCP to another server, answered"
TCP_REASONS = ("connection refused (RST)", "no answer over TCP", "SYN unanswered", ELSEWHERE)


def _address_codes(opens: _Open, *texts: np.ndarray) -> list[np.ndarray]:
    return _codes_in(opens.labels, *texts)


def _link_fragments(tables: Any, opens: Any, links: _Links, v: dict[str, np.ndarray]) -> None:
    """Each fragment set that never completed to the query it answered, all sets at once:

    * when its first fragment was captured (offset 0: it carries the UDP header, RFC 791
      s3.2 / RFC 8200 s4.5), the latest transaction of its client (the datagram's
      destination) and server on those two ports that started before the set;
    * else the latest unanswered transaction of that client and server that started before
      the set, else the latest one.

    Only a transaction whose queries could still be waiting: an answer comes within
    :data:`RETRY_WINDOW` s of a query, and each retransmission within that of the one before,
    so a set later than ``RETRY_WINDOW`` x (1 + retransmissions) after a transaction began is
    not its answer (a set is not blamed on a query left unanswered minutes before)."""
    f = tables.columns("fragments")
    if not len(f):
        return
    lost = np.flatnonzero(~f.filled("complete", False).astype(bool, copy=False))
    if not len(lost):
        return
    found: _Open = opens()
    links._opens = found
    src, dst = _address_codes(found, f["src"][lost], f["dst"][lost])
    ip_id = f["ip_id"][lost].astype(np.int64, copy=False)
    set_of, first = factorize(src, dst, ip_id)
    size = np.bincount(set_of, minlength=len(first))
    client, server, when = dst[first], src[first], f["time"][lost][first]
    # a tunnel's set: its addresses are the tunnel's ends; its first fragment, where captured,
    # names the question's client and server (and ports) inside
    inner = np.flatnonzero(~f.isna("inner_src")[lost]) if "inner_src" in f.values else \
        np.zeros(0, dtype=np.int64)
    if len(inner):
        i_src, i_dst = _address_codes(found, f["inner_src"][lost][inner],
                                      f["inner_dst"][lost][inner])
        client, server = client.copy(), server.copy()
        client[set_of[inner]], server[set_of[inner]] = i_dst, i_src

    def waiting(i: np.ndarray) -> np.ndarray:
        """``i``, or -1 where that transaction began too long before the set."""
        has = np.flatnonzero(i >= 0)
        old = when[has] - v["query_time"][i[has]] > RETRY_WINDOW * (
            1 + v["retransmissions"][i[has]])
        out = i.copy()
        out[has[old]] = -1
        return out

    # the latest transaction of that client and server, where it still waited for its
    # answer when the set came (an answer after it -- to a retransmission -- or none): the
    # set is the answer it lost; else the latest one never answered, else the latest one
    latest = waiting(found.latest(client, server, when))
    has = np.flatnonzero(latest >= 0)
    still = np.zeros(len(latest), dtype=bool)
    still[has] = ~found.answered[latest[has]] | (v["response_time"][latest[has]] > when[has])
    i = waiting(found.latest(client, server, when, unanswered=True))
    i = np.where(still, latest, np.where(i >= 0, i, latest))
    # the ports of a set's first fragment, where it was captured (-1: not)
    ports = [np.full(len(first), -1, dtype=np.int64) for _ in range(2)]
    for port, name in zip(ports, ("sport", "dport"), strict=True):
        np.maximum.at(port, set_of, f.filled(name, -1)[lost].astype(np.int64, copy=False))
    if len(inner):  # a tunnel's set: the ports inside, where known
        for port, name in zip(ports, ("inner_sport", "inner_dport"), strict=True):
            port[set_of[inner]] = f.filled(name, -1)[lost][inner].astype(np.int64)
    ported = np.flatnonzero((ports[0] >= 0) & (ports[1] >= 0) & (client >= 0) & (server >= 0))
    if len(ported):
        n_txn = len(found.client)
        key = factorize(np.concatenate([found.client, client[ported]]),
                        np.concatenate([found.server, server[ported]]),
                        np.concatenate([v["client_port"].astype(np.int64), ports[1][ported]]),
                        np.concatenate([v["server_port"].astype(np.int64), ports[0][ported]]))[0]
        by_port = np.full(len(first), -1, dtype=np.int64)
        by_port[ported] = _Timeline(key[:n_txn], v["query_time"]).last_at_or_before(
            key[n_txn:], when[ported] + 1e-6)
        i[ported] = waiting(by_port)[ported]
    got = i >= 0
    links.lost[i[got]] = True
    np.add.at(links.seen, i[got], size[got])
    links.lost_sets = np.stack([src[first], dst[first], ip_id[first]], axis=1)[got]
    links.lost_owner = i[got]


UNREACHABLE = ("port-unreachable", "host-unreachable", "net-unreachable", "address-unreachable",
               "admin-prohibited", "unreachable")
TOO_BIG = ("fragmentation-needed", "packet-too-big")
REASSEMBLY_TIMEOUT = "reassembly-time-exceeded"


def _link_icmp(tables: Any, opens: Any, links: _Links, v: dict[str, np.ndarray]) -> None:
    """ICMP errors to the transaction they are about (RFC 792, RFC 1191, RFC 4443): an
    unreachable quotes a query (client -> server); fragmentation-needed / Packet Too Big quote
    (a fragment of) a response; reassembly time exceeded (IPv4 type 11 code 1, ICMPv6 type 3
    code 1) is the client's own proof that fragments of a response were lost -- linked by the
    quoted fragment's identification to its fragment set, else to the client's latest query
    to that server. An error quotes at least 8 bytes past the IP header (RFC 792; RFC 4443
    s3.1, s3.2: as much as fits): where those hold the UDP/TCP ports, the transaction is the
    latest of that client and server on those ports (and with that DNS ID, where the quote
    reaches it) -- not merely the latest between the two addresses. All errors at once."""
    icmp = tables.columns("icmp")
    if not len(icmp):
        return
    kind = np.asarray(icmp["kind"], dtype=object)
    quoted = ~icmp.isna("quoted_src")
    unreachable = quoted & np.isin(kind, UNREACHABLE)
    too_big = quoted & np.isin(kind, TOO_BIG)
    timeout = quoted & (kind == REASSEMBLY_TIMEOUT)
    rows = np.flatnonzero(unreachable | too_big | timeout)
    if not len(rows):
        return
    found: _Open = links._opens or opens()
    qsrc, qdst = _address_codes(found, icmp["quoted_src"][rows], icmp["quoted_dst"][rows])
    when = icmp["time"][rows].astype(np.float64, copy=False)
    unreachable, too_big, timeout = unreachable[rows], too_big[rows], timeout[rows]
    # an unreachable quotes a query (client -> server); the others a response's fragment
    i = np.where(unreachable, found.latest(qsrc, qdst, when), found.latest(qdst, qsrc, when))
    if timeout.any():
        qid = np.where(icmp.isna("quoted_ip_id")[rows], -1, icmp.filled("quoted_ip_id", -1)[rows])
        owner = np.full(len(rows), -1, dtype=np.int64)
        if len(links.lost_owner):
            sets = links.lost_sets
            both = factorize(np.concatenate([sets[:, 0], qsrc]), np.concatenate([sets[:, 1], qdst]),
                             np.concatenate([sets[:, 2], qid.astype(np.int64)]))[0]
            by_set = np.full(int(both.max()) + 1, -1, dtype=np.int64)
            by_set[both[:len(sets)][::-1]] = links.lost_owner[::-1]
            owner = by_set[both[len(sets):]]
        waiting = found.latest(qdst, qsrc, when, unanswered=True)
        i = np.where(timeout, np.where(owner >= 0, owner, waiting), i)
    i = _by_quoted_ports(icmp, rows, v, found, i, qsrc, qdst, when,
                         unreachable & ~timeout)
    got = i >= 0
    links.unreachable[i[got & unreachable]] = True
    links.reassembly_timeout[i[got & timeout]] = True
    links.too_big[i[got & too_big]] = True
    mtu_known = ~icmp.isna("mtu")[rows]
    with_mtu = got & too_big & mtu_known
    links.mtu[i[with_mtu]] = icmp.filled("mtu", 0)[rows][with_mtu]
    links.has_mtu[i[with_mtu]] = True
    mtu_text = np.where(mtu_known, np.char.add(" mtu ", icmp.filled("mtu", 0)[rows].astype(str)),
                        "")
    text = np.char.add(np.char.add(kind[rows].astype(str), mtu_text),
                       np.char.add(np.char.add(" (frame ", icmp["frame"][rows].astype(str)), ")"))
    links.icmp_rows = i[got]
    links.icmp_texts = text[got].astype(object)


def _by_quoted_ports(icmp: Any, rows: np.ndarray, v: dict[str, np.ndarray], found: Any,
                     i: np.ndarray, qsrc: np.ndarray, qdst: np.ndarray, when: np.ndarray,
                     query_quoted: np.ndarray) -> np.ndarray:
    """``i`` refined where the quote holds both ports: the latest transaction (begun by the
    error's time) of that client and server on those ports, with the quoted DNS ID where
    there is one; ``query_quoted``: the quote is a query (client -> server), else an answer.
    Where nothing matches on ports, ``i`` stays (an error about traffic not captured)."""
    sport = icmp.filled("quoted_sport", -1)[rows].astype(np.int64, copy=False)
    dport = icmp.filled("quoted_dport", -1)[rows].astype(np.int64, copy=False)
    dns_id = icmp.filled("quoted_dns_id", -1)[rows].astype(np.int64, copy=False)
    client = np.where(query_quoted, qsrc, qdst)
    server = np.where(query_quoted, qdst, qsrc)
    cport = np.where(query_quoted, sport, dport)
    sport_ = np.where(query_quoted, dport, sport)
    ported = np.flatnonzero((sport >= 0) & (dport >= 0) & (client >= 0) & (server >= 0))
    if not len(ported) or not len(found.client):
        return i
    n = len(found.client)
    out = i.copy()
    keys = [np.concatenate([found.client, client[ported]]),
            np.concatenate([found.server, server[ported]]),
            np.concatenate([v["client_port"].astype(np.int64), cport[ported]]),
            np.concatenate([v["server_port"].astype(np.int64), sport_[ported]])]
    at = when[ported] + 1e-6
    code = factorize(*keys)[0]
    by_ports = _Timeline(code[:n], v["query_time"]).last_at_or_before(code[n:], at)
    with_id = factorize(*keys, np.concatenate([v["dns_id"], dns_id[ported]]))[0]
    by_id = _Timeline(with_id[:n], v["query_time"]).last_at_or_before(with_id[n:], at)
    best = np.where((dns_id[ported] >= 0) & (by_id >= 0), by_id, by_ports)
    out[ported] = np.where(best >= 0, best, i[ported])
    return out


def _follow_truncation(tables: Any, v: dict[str, np.ndarray], miss: dict[str, np.ndarray],
                       m: Columns, links: _Links, opens: Any) -> None:
    """Classify each TC=1 UDP answer by what the client did next: the same question over TCP
    to the same server within :data:`FALLBACK_WINDOW`, answered (``ok``, latency to the first
    answered retry) or not (``failed``, with why), or no attempt (``none``). RFC 1035 s4.2.1,
    RFC 7766 s5: a client that gets TC=1 should retry over TCP.

    A join, all answers at once: the TC answers against the TCP transactions by question and
    time window (:class:`_Timeline`), then the failures against the TCP control segments --
    SYNs from the client to the server's port in the window (an attempt), and RST / SYN-ACK
    back to the port of such a SYN, also in the window (why it failed)."""
    udp_code, tcp_code = m.code_of("transport", "udp"), m.code_of("transport", "tcp")
    tc = v["tc"].astype(bool, copy=False) & ~miss["tc"]
    truncated = np.flatnonzero(tc & (v["transport"] == udp_code))
    if not len(truncated):
        return
    over_tcp = np.flatnonzero(v["transport"] == tcp_code)
    start = v["response_time"][truncated]
    end = start + FALLBACK_WINDOW
    followed = np.zeros(len(truncated), dtype=bool)
    ok = np.zeros(len(truncated), dtype=bool)
    if len(over_tcp):
        keys = [v["client"], v["server"], v[QKEY], v["qtype"]]
        both = np.concatenate([truncated, over_tcp])
        code, _ = factorize(*(k[both] for k in keys))
        tc_code, retry_code = code[:len(truncated)], code[len(truncated):]
        asked = v["query_time"][over_tcp]
        followed = _Timeline(retry_code, asked).count(tc_code, start, end) > 0
        got = np.flatnonzero(~miss["response_time"][over_tcp])
        first = _Timeline(retry_code[got], asked[got]).first_at_or_after(tc_code, start)
        ok = first >= 0
        ok[ok] = asked[got[first[ok]]] <= end[ok]
        retry = over_tcp[got[first[ok]]]
        done = truncated[ok]
        links.fallback[done] = FALLBACKS.index("ok")
        links.latency[done] = np.round((v["response_time"][retry] - start[ok]) * 1000, 3)
        links.has_latency[done] = True
        # no retry to that server: the same question over TCP to another one (a stub's
        # next server, an anycast address) answered in the window is a fallback too, said
        elsewhere = np.flatnonzero(~followed)
        if len(elsewhere):
            keys3 = [v["client"], v[QKEY], v["qtype"]]
            both3 = np.concatenate([truncated[elsewhere], over_tcp[got]])
            code3, _ = factorize(*(k[both3] for k in keys3))
            near = _Timeline(code3[len(elsewhere):], asked[got]).first_at_or_after(
                code3[:len(elsewhere)], start[elsewhere])
            hit = near >= 0
            hit[hit] = asked[got[near[hit]]] <= end[elsewhere[hit]]
            at, retry2 = elsewhere[hit], over_tcp[got[near[hit]]]
            done2 = truncated[at]
            links.fallback[done2] = FALLBACKS.index("ok")
            links.latency[done2] = np.round((v["response_time"][retry2] - start[at]) * 1000,
                                            3)
            links.has_latency[done2] = True
            links.tcp_reason[done2] = TCP_REASONS.index(ELSEWHERE)
            ok[at] = True
            followed[at] = True
    rest = np.flatnonzero(~ok)
    if not len(rest):
        return
    rows, begin = truncated[rest], start[rest]
    tried = np.zeros(len(rest), dtype=bool)
    why = np.full(len(rest), TCP_REASONS.index("SYN unanswered"), dtype=np.int64)
    tcp = tables.columns("tcp")
    if len(tcp):
        found: _Open = links._opens or opens()
        links._opens = found
        client, server = found.client[rows], found.server[rows]
        src, dst = _address_codes(found, tcp["src"], tcp["dst"])
        syn_flag, ack_flag = tcp.filled("syn", False), tcp.filled("ack", False)
        syn = np.flatnonzero(syn_flag & ~ack_flag)
        rst = np.flatnonzero(tcp.filled("rst", False))
        synack = np.flatnonzero(syn_flag & ack_flag)
        # (client, server, server port): of the TC answers, of SYNs, of segments back
        back = np.concatenate([rst, synack])
        key3 = factorize(np.concatenate([client, src[syn], dst[back]]),
                         np.concatenate([server, dst[syn], src[back]]),
                         np.concatenate([v["server_port"][rows].astype(np.int64),
                                         tcp["dport"][syn], tcp["sport"][back]]))[0]
        k_tc, k_syn, k_back = np.split(key3, [len(rows), len(rows) + len(syn)])
        t_syn, t_back = tcp["time"][syn], tcp["time"][back]
        # an attempt is a SYN whose connection carried no query: one that carried a query
        # served that query (another name's fallback, a client's own TCP traffic), and this
        # answer's own retry is found above by its question (RFC 7766 s5). ``carried``: the
        # native reassembler's (the whole capture's, even in pieces), or tshark's messages'
        used = tcp.filled("carried", False)[syn].astype(bool)
        # a SYN sent again (its first copy unanswered) belongs to the connection it opened
        conn = factorize(k_syn, tcp["sport"][syn])[0]
        used = _Timeline(conn[used], t_syn[used]).count(conn, t_syn,
                                                        t_syn + FALLBACK_WINDOW) > 0
        tried = _Timeline(k_syn[~used], t_syn[~used]).count(
            k_tc, begin, begin + FALLBACK_WINDOW) > 0
        # a SYN's connection: (client, server, server port, client port)
        key4 = factorize(np.concatenate([k_syn, k_back]),
                         np.concatenate([tcp["sport"][syn], tcp["dport"][back]]))[0]
        syns = _Timeline(key4[:len(syn)], t_syn)
        back4 = key4[len(syn):]

        def answered_by(kind: np.ndarray) -> np.ndarray:
            """Per failing TC answer: a segment of ``kind`` (rows of ``back``) and a SYN of
            its connection both inside the answer's window. A segment at tr and a SYN at ts
            of one connection both lie in [b, b + W] exactly when b is in [tr - W, ts]
            (SYN before) or [ts - W, tr] (SYN after); the nearest SYN on each side gives the
            widest such interval, so two intervals per segment suffice."""
            if not len(kind) or not len(syn):
                return np.zeros(len(rows), dtype=bool)
            tr, k = t_back[kind], k_back[kind]
            before = syns.last_at_or_before(back4[kind], tr)
            after = syns.first_at_or_after(back4[kind], tr)
            tb = np.where(before >= 0, t_syn[np.maximum(before, 0)], np.nan)
            ta = np.where(after >= 0, t_syn[np.maximum(after, 0)], np.nan)
            b_ok = (before >= 0) & (tb >= tr - FALLBACK_WINDOW)
            a_ok = (after >= 0) & (ta <= tr + FALLBACK_WINDOW)
            key = np.concatenate([k[b_ok], k[a_ok]])
            lo = np.concatenate([tr[b_ok] - FALLBACK_WINDOW, ta[a_ok] - FALLBACK_WINDOW])
            hi = np.concatenate([tb[b_ok], tr[a_ok]])
            inside: np.ndarray = (_Timeline(key, lo).rank(k_tc, begin, inclusive=True)
                                  - _Timeline(key, hi).rank(k_tc, begin, inclusive=False)) > 0
            return inside

        is_rst = np.arange(len(back)) < len(rst)
        refused = answered_by(np.flatnonzero(is_rst))
        accepted = answered_by(np.flatnonzero(~is_rst))
        why = np.where(refused, TCP_REASONS.index("connection refused (RST)"),
                       np.where(accepted, TCP_REASONS.index("no answer over TCP"), why))
    none = ~followed[rest] & ~tried
    links.fallback[rows[none]] = FALLBACKS.index("none")
    links.fallback[rows[~none]] = FALLBACKS.index("failed")
    links.tcp_reason[rows[~none]] = why[~none]


@cache
def _qtype_text(value: int) -> str:
    import dns.rdatatype

    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(value))


@cache
def _rcode_text(value: int) -> str:
    import dns.rcode

    return dns.rcode.to_text(dns.rcode.Rcode.make(value))


def _code(labels: Any, label: str) -> int:
    """The code of ``label`` in a category list (-2: absent, matches nothing)."""
    listed = list(labels)
    return listed.index(label) if label in listed else -2


def _sizes_and_outcomes(v: dict[str, np.ndarray], miss: dict[str, np.ndarray],
                        cats: dict[str, Any], links: _Links, mtu: int | None) -> None:
    n = len(v["transaction"])
    size = v["dns_size"].astype(np.float64, copy=False)
    no_size = miss["dns_size"]
    v4 = v["family"] == _code(cats["family"], "ipv4")
    v6 = v["family"] == _code(cats["family"], "ipv6")
    udp = v["transport"] == _code(cats["transport"], "udp")
    offered = np.where(miss["edns_size"], 512, np.maximum(v["edns_size"], 512))
    # the size budgets are UDP's (one datagram: RFC 1035 s4.2.1, RFC 6891, the path MTU); a
    # TCP answer is a stream of segments -- no figure there, as in the summary's counts
    for name, limit in (("over_512", 512), ("over_1232", 1232), ("over_1400", 1400)):
        v[name], miss[name] = size > limit, no_size | ~udp
    path_limit = np.where(v6, PATH_1500["ipv6"], PATH_1500["ipv4"])
    v["over_path_1500"] = size > path_limit
    miss["over_path_1500"] = no_size | (~v4 & ~v6) | ~udp
    overhead = np.where(v6, 48, 28)
    if mtu:
        v["over_mtu"], miss["over_mtu"] = size + overhead > mtu, no_size | ~udp
    else:
        v["over_mtu"], miss["over_mtu"] = np.zeros(n, bool), np.ones(n, bool)
    v["over_offered"], miss["over_offered"] = size > offered, no_size | ~udp
    tc_filled = v["tc"].astype(bool, copy=False) & ~miss["tc"]
    v["cut_512_no_tc"] = (size == 512) & ~tc_filled
    miss["cut_512_no_tc"] = (no_size & ~tc_filled) | ~udp
    answered = ~miss["response_frame"]
    fragmented = v["fragments"] * ~miss["fragments"] > 0
    # the outcome model (README): the final fate of the question, and flags for the way there.
    # A too-big error drops a UDP answer; over TCP the server lowers its segment size and
    # sends the bytes again (RFC 1191 s3, RFC 8201 s4): an answer that came is an answer.
    dropped = links.too_big & udp
    lost = ((links.lost | links.reassembly_timeout) & ~answered) | (
        dropped & answered & fragmented)
    v["retried"] = v["retransmissions"] > 0
    v["first_answer_lost_in_fragments"] = ((links.lost | links.reassembly_timeout) & answered
                                           & ~links.too_big)
    v["icmp_too_big"] = links.too_big
    v["icmp_unreachable"] = links.unreachable
    v["icmp_reassembly_timeout"] = links.reassembly_timeout
    truncated = udp & tc_filled
    fallback = v["tcp_fallback"]
    ok, failed = (cats["tcp_fallback"].index(x) for x in ("ok", "failed"))
    fine = [_code(cats["rcode"], x) for x in ("NOERROR", "NXDOMAIN")]
    rcode = v["rcode"]
    bad_rcode = (rcode >= 0) & (rcode != fine[0]) & (rcode != fine[1])  # missing: NOERROR
    outcome = np.select(
        [lost, truncated & (fallback == ok), truncated & (fallback == failed), truncated,
         ~answered | dropped, bad_rcode],
        [OUTCOMES.index(x) for x in ("fragments_lost", "truncated_tcp_ok",
                                     "truncated_tcp_failed", "truncated_no_retry",
                                     "unanswered", "error_rcode")],
        default=OUTCOMES.index("ok"))
    v["outcome"], cats["outcome"] = outcome.astype(np.int64, copy=False), list(OUTCOMES)
    # one definition of "lost fragments" for the column, the outcome and the summary's counter
    v["fragments_lost"] = outcome == OUTCOMES.index("fragments_lost")


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
        # DNS-over-TCP connections a file's task met without their SYN, its window starting
        # after the capture point's start (a set: open since before the window, or no SYN)
        self.old_streams: set[str] = set()
        self.latencies: list[float] = []
        self.truncated_names: Counter[str] = Counter()
        self.largest: tuple[int, int, str, str] | None = None  # size, -frame, qname, transport
        self.biggest_whole: int | None = None
        self.notes: list[str] = []  # the engines' own sentences
        # a set's files (each task its own records): time going back within a file, frames
        # cut by the snap length -- (count, first frame, largest step s / most bytes kept)
        self.backwards: tuple[int, int, float] | None = None
        self.snapped: tuple[int, int, int] | None = None
        # the capture's end: the last owned message's time, and the transactions left
        # unfinished within RETRY_WINDOW s before it (when, outcome code in UNFINISHED)
        self.last_time = float("nan")
        self.tail: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0, np.int64))
        self.capture_filters: list[str] = []
        self.frames = 0
        # a piece's unpaired responses whose query its window could not hold (older than the
        # window): pair key, DNS id, QTYPE, time, client -- searched for in the whole capture
        # once the pieces are done (:func:`.pieces.analyze_stream`)
        self.unsearched: list[tuple[np.ndarray, ...]] = []

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
        out.old_streams |= p.old_streams
        out.latencies += p.latencies
        if p.largest is not None and (out.largest is None or p.largest[:2] > out.largest[:2]):
            out.largest = p.largest
        if p.biggest_whole is not None:
            out.biggest_whole = max(out.biggest_whole or 0, p.biggest_whole)
        out.notes += [x for x in p.notes if x not in out.notes]
        out.backwards = merge_figures(out.backwards, p.backwards)
        out.last_time = float(np.fmax(out.last_time, p.last_time))
        out.tail = (np.concatenate([out.tail[0], p.tail[0]]),
                    np.concatenate([out.tail[1], p.tail[1]]))
        out.snapped = merge_figures(out.snapped, p.snapped)
        out.unsearched += p.unsearched
        out.capture_filters += [x for x in p.capture_filters if x not in out.capture_filters]
    return out


def merge_figures(a: Any, b: Any) -> Any:
    """Two (count, first frame, largest) figures as one: counts added, the earlier first,
    the larger largest."""
    if a is None or b is None:
        return a if b is None else b
    return a[0] + b[0], min(a[1], b[1]), max(a[2], b[2])


def _counts(texts: np.ndarray) -> dict[str, int]:
    """How often each label occurs (None -> "none"), most frequent first, ties in order of
    first appearance."""
    if not len(texts):
        return {}
    codes, uniq = factorize_texts(np.asarray(texts, dtype=object))  # one hash pass; None: -1
    codes = np.where(codes < 0, len(uniq), codes)
    names = [str(x) for x in uniq] + ["none"]
    count = np.bincount(codes, minlength=len(names))
    first = np.full(len(names), len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    order = np.lexsort((first, -count))
    return {names[k]: int(count[k]) for k in order.tolist() if count[k]}


def _transactions(txns: Any) -> Columns:
    return txns if isinstance(txns, Columns) else Columns.of_frame(txns, COLUMNS)


def summary_parts(tables: Any, txns: Any, *, mtu: int | None = None,
                  owned: tuple[int, int] | None = None, start: float | None = None,
                  figures: SummaryParts | None = None,
                  searched_from: float | None = None,
                  search_later: bool = True) -> SummaryParts:
    """The figures of ``tables`` and ``txns`` (columns or a DataFrame). ``owned`` (first, last
    frame): count only what belongs to those frames -- messages, transactions by their query
    frame, fragment sets by the frame that completed them (or their first fragment), ICMP
    errors -- while the rest of the tables is still used as context (a TCP retry in the next
    file's first seconds). ``start``: when the capture (set) began, for the "sent before the
    capture" sentence. ``figures``: :func:`message_figures` of the same tables and ``owned``,
    made already (in a thread, while the transactions were paired). ``searched_from``: the
    tables hold the messages from then on only (a piece's window); ``search_later``: the
    orphans it could not search are kept to be looked for in the whole capture (pieces), else
    counted as not searched (a set's file)."""
    m_all = tables.columns("messages")
    t_all = _transactions(txns)
    lo, hi = (-1, np.iinfo(np.int64).max) if owned is None else owned
    m = _owned_messages(m_all, owned)
    qf = t_all["query_frame"]
    t = t_all.take(np.flatnonzero((qf >= lo) & (qf <= hi))) if owned is not None else t_all
    out = figures if figures is not None else message_figures(tables, mtu=mtu, owned=owned)
    n = out.n
    n["paired"] = int((~t.isna("response_frame")).sum())
    n["duplicates"] = int(t["duplicate_responses"].sum()) if len(t) else 0
    # transactions
    n["transactions"] = len(t)
    out.outcomes.update(t.counts("outcome"))
    for f in FLAGS:
        out.flags[f] = int(t[f].astype(bool, copy=False).sum())
    out.flags["duplicate_response"] = int((t["duplicate_responses"] > 0).sum())
    n["over_offered"] = int(t.filled("over_offered", False).sum())
    n["query_copies"] = int(t["query_copies"].sum()) if "query_copies" in t.values else 0
    for name in ("ok", "failed", "none"):
        n[f"fallback_{name}"] = int((t["tcp_fallback"] == t.code_of("tcp_fallback", name)).sum())
    out.latencies = t["fallback_latency_ms"][~t.isna("fallback_latency_ms")].astype(float).tolist()
    _unfinished_at_the_end(m, t, out, getattr(tables, "last_time", float("nan")))
    n["fragments_lost"] = int(t.filled("fragments_lost", False).sum())
    sized = np.flatnonzero(~t.isna("dns_size"))
    if len(sized):
        size = t["dns_size"][sized]
        top = sized[size == size.max()]
        at = int(top[np.argmin(t["response_frame"][top])])  # of the largest, the first seen
        out.largest = (int(t["dns_size"][at]), -int(t["response_frame"][at]),
                       str(t.text("qname", np.array([at]))[0]),
                       str(t.text("transport", np.array([at]))[0]))
    tc_rows = np.flatnonzero(t.filled("tc", False))
    out.truncated_names.update(t.counts("qname", tc_rows))
    server_side = _orphan_tcp_fallback_frames(m_all, t_all)
    n["seen_from_server_side"] = int(((server_side >= lo) & (server_side <= hi)).sum())
    # messages in a transaction (by any transaction: one owned by the previous file too)
    if len(m):
        frames = m["frame"]
        used = [t_all[c][~t_all.isna(c)] for c in ("query_frame", "response_frame")]
        top = max(int(frames.max()), *(int(u.max(initial=0)) for u in used))
        paired_frame = np.zeros(top + 1, dtype=bool)
        paired_frame[used[1]] = True  # a table by frame number: no sort (np.isin sorts both)
        in_txn = paired_frame.copy()
        in_txn[used[0]] = True
        dns = m["protocol"] == m.code_of("protocol", "dns")
        malformed = dns & (m["malformed"] != m.code_of("malformed", ""))
        n["malformed_unpaired"] = int((malformed & ~in_txn[frames]).sum())
        _unpaired_responses(m_all, m, paired_frame, start, n, searched_from,
                            out.unsearched if search_later else None)
    return out


UNFINISHED = ("unanswered", "truncated_no_retry", "truncated_tcp_failed")


def _unfinished_at_the_end(m: Columns, t: Columns, out: SummaryParts,
                           last_record: float = float("nan")) -> None:
    """The part's end (its last record of any kind -- a capture that ran on past its last
    DNS message ended then -- else its last message) and its transactions that had not
    finished within
    :data:`RETRY_WINDOW` s before it -- a query with no answer yet, a TC=1 answer whose TCP
    retry (RFC 7766 s5) may come after: when the capture stopped, not what the network did.
    Timed by the answer where there is one (a TC=1 answer), else by the query. Kept as
    arrays so the parts of pieces and files merge (:func:`merge_parts`): the capture's end is
    the latest part's, and each part keeps what lies within the window of its own end."""
    times = m["time"].astype(np.float64, copy=False)
    out.last_time = float(np.fmax(out.last_time, last_record))  # a part of no DNS too
    if not len(times) or not len(t) or not np.isfinite(times).any():
        return
    out.last_time = float(np.fmax(np.nanmax(times), out.last_time))
    codes = [t.code_of("outcome", x) for x in UNFINISHED]
    which = np.full(len(t), -1, dtype=np.int64)
    for k, code in enumerate(codes):
        which[t["outcome"] == code] = k
    when = np.where(t.isna("response_time"), t["query_time"].astype(np.float64, copy=False),
                    t.filled("response_time", np.nan).astype(np.float64, copy=False))
    late = np.flatnonzero((which >= 0) & (when >= out.last_time - RETRY_WINDOW))
    if len(late):  # a TCP retry refused (RST) has failed, whenever the capture ended
        notes = t["icmp"][late]
        text = np.where(t.isna("icmp")[late], "", notes).astype(str)
        late = late[np.char.find(text, f"tcp: {TCP_REASONS[0]}") < 0]
        # nor one an ICMP error proves failed (unreachable, too big, reassembly timeout)
        proven = np.zeros(len(late), dtype=bool)
        for flag in ("icmp_unreachable", "icmp_too_big", "icmp_reassembly_timeout"):
            proven |= t[flag][late].astype(bool, copy=False)
        late = late[~proven]
    out.tail = (when[late], which[late])


def _other_question(m_all: Columns, resp: np.ndarray, times: np.ndarray,
                    open_: np.ndarray) -> np.ndarray:
    """Per response of ``resp`` (where ``open_``): a query of the same client and server, on
    the same two ports and with the same DNS ID, asked at most :data:`RETRY_WINDOW` s
    before it -- whose question differs (else the two would have paired)."""
    out = np.zeros(len(resp), dtype=bool)
    look = np.flatnonzero(open_)
    if not len(look):
        return out
    queries = np.flatnonzero((m_all["protocol"] == m_all.code_of("protocol", "dns"))
                             & ~m_all.filled("qr", True) & ~m_all.isna("qr"))
    if not len(queries):
        return out
    r = resp[look]
    (src, dst), _labels = shared_codes(m_all, "src", "dst")
    dns_id = m_all.filled("dns_id", -1).astype(np.int64, copy=False)
    sport, dport = m_all["sport"].astype(np.int64), m_all["dport"].astype(np.int64)
    code = factorize(np.concatenate([dst[r], src[queries]]),
                     np.concatenate([src[r], dst[queries]]),
                     np.concatenate([dport[r], sport[queries]]),
                     np.concatenate([sport[r], dport[queries]]),
                     np.concatenate([dns_id[r], dns_id[queries]]))[0]
    found = _Timeline(code[len(r):], times[queries]).count(
        code[:len(r)], times[r] - RETRY_WINDOW, times[r]) > 0
    out[look] = found
    return out


def _unpaired_responses(m_all: Columns, m: Columns, paired_frame: np.ndarray,
                        start: float | None, n: Counter[str],
                        searched_from: float | None = None,
                        far: list[tuple[np.ndarray, ...]] | None = None) -> None:
    """Of the responses no transaction holds (in ``m``): how many match a query the capture
    holds (same client, server, DNS id and question, asked at or before the response --
    searched in all of ``m_all``), and how many of the others arrived in the capture's first
    :data:`RETRY_WINDOW` s (``start``: when the capture or set began; default its first
    message): only those may answer queries sent before the capture started.
    ``searched_from``: ``m_all`` holds the messages from then on only (a piece's window); if
    that is after the capture's start, the rest are counted as not searched for, and listed
    in ``far`` to be searched for in the whole capture."""
    dns_all = (m_all["protocol"] == m_all.code_of("protocol", "dns")) & m_all.filled(
        "qname_ok", False)
    qr_all = m_all.filled("qr", False).astype(bool, copy=False)
    frames_all = m_all["frame"]
    mine = np.zeros(len(m_all), dtype=bool)
    if len(m):
        lo, hi = int(m["frame"].min()), int(m["frame"].max())
        mine = (frames_all >= lo) & (frames_all <= hi)
    known = np.zeros(len(m_all), dtype=bool)
    within = frames_all < len(paired_frame)
    known[within] = paired_frame[frames_all[within]]
    resp = np.flatnonzero(dns_all & qr_all & ~known & mine)
    if not len(resp):
        return
    queries = np.flatnonzero(dns_all & ~qr_all & ~m_all.isna("qr"))
    qkey = qname_keys(m_all)
    if len(queries):  # only a query for a name one of these responses answers can match:
        # one sort of the names, then the five-key grouping over those queries alone (in a
        # piece: its orphans against every query of its window)
        queries = queries[np.isin(qkey[queries], qkey[resp])]
    times = m_all["time"].astype(np.float64, copy=False)
    asked = np.zeros(len(resp), dtype=bool)
    if len(queries):
        (src, dst), _labels = shared_codes(m_all, "src", "dst")
        dns_id = m_all.filled("dns_id", -1).astype(np.int64, copy=False)
        qtype = m_all.filled("qtype", -1).astype(np.int64, copy=False)
        both = np.concatenate([resp, queries])
        client = np.concatenate([dst[resp], src[queries]])
        server = np.concatenate([src[resp], dst[queries]])
        code = factorize(client, server, dns_id[both], qkey[both], qtype[both])[0]
        earliest = np.full(len(resp), -np.inf)
        line = _Timeline(code[len(resp):], times[queries])
        asked = line.count(code[:len(resp)], earliest, times[resp]) > 0
        # the query is there but timed after its answer (two capture points' clocks, a
        # merged capture): said as such, never as a query the capture lacks
        after = ~asked & (line.count(code[:len(resp)], times[resp],
                                     times[resp] + RETRY_WINDOW) > 0)
        n["orphans_query_after"] = int(after.sum())
        asked |= after
    # a query on the same ports with the same ID, just before, but another question: the
    # answer is not to it (RFC 5452 s9.1: a resolver drops it) -- said, not taken for a query
    # the capture lacks
    other = _other_question(m_all, resp, times, ~asked)
    n["orphans_other_question"] = int(other.sum())
    asked |= other
    n["orphans_with_query"] = int(asked.sum()) - n["orphans_query_after"] - n[
        "orphans_other_question"]
    seen = times[~np.isnan(times)]
    begin = start if start is not None else (float(seen.min()) if len(seen) else None)
    early = np.zeros(len(resp), dtype=bool)
    if begin is not None:
        early = ~asked & (times[resp] <= begin + RETRY_WINDOW)
        n["early_orphans"] = int(early.sum())
    if searched_from is not None and begin is not None and searched_from > begin:
        # a piece's window began after the capture did: a query older than the window was
        # not looked for here; the orphans are kept to be looked for in the whole capture
        gone = resp[~asked & ~early]
        if far is None:  # nobody searches further (a file of a set): said as not searched
            n["orphans_beyond_window"] = len(gone)
        elif len(gone) and PAIRKEY in m_all.values:
            far.append((m_all.values[PAIRKEY][gone].astype(np.int64),
                        m_all.filled("dns_id", -1)[gone].astype(np.int64),
                        m_all.filled("qtype", -1)[gone].astype(np.int64), times[gone],
                        np.asarray(m_all.text("dst", gone), dtype=object)))


def _owned_messages(m_all: Columns, owned: tuple[int, int] | None) -> Columns:
    if owned is None:
        return m_all
    frame = m_all["frame"]
    if len(frame) < 2 or bool((frame[1:] >= frame[:-1]).all()):  # in frame order: a range
        lo = int(np.searchsorted(frame, owned[0], side="left"))
        return m_all.span(lo, int(np.searchsorted(frame, owned[1], side="right")))
    return m_all.take(np.flatnonzero((frame >= owned[0]) & (frame <= owned[1])))


def message_figures(tables: Any, *, mtu: int | None = None,
                    owned: tuple[int, int] | None = None) -> SummaryParts:
    """The figures of :func:`summary_parts` that need only the message, fragment and ICMP
    tables (not the transactions): counts of messages by kind and size, EDNS sizes offered,
    fragment sets, ICMP errors, the engines' notes."""
    m = _owned_messages(tables.columns("messages"), owned)
    lo, hi = (-1, np.iinfo(np.int64).max) if owned is None else owned
    out = SummaryParts()
    n = out.n
    out.frames = int(tables.total_frames)
    n["dns_messages"] = len(m)
    dns = m["protocol"] == m.code_of("protocol", "dns")
    qr = m.filled("qr", False)
    udp = m["transport"] == m.code_of("transport", "udp")
    ok = m.filled("qname_ok", False)
    responses = dns & qr
    queries = dns & ~qr & ~m.isna("qr")
    size = m["dns_size"]
    udp_resp = responses & udp
    n["queries"], n["responses"] = int(queries.sum()), int(responses.sum())
    n["udp_queries"], n["udp_responses"] = int((queries & udp).sum()), int(udp_resp.sum())
    n["tcp_queries"], n["tcp_responses"] = int((queries & ~udp).sum()), int(
        (responses & ~udp).sum())
    n["responses_ok"] = int((responses & ok).sum())
    no_question = dns & (m.filled("qdcount", 0) == 0)
    n["no_question"] = int(no_question.sum())
    # a zone transfer's later messages (RFC 5936 s2.2.1) and a cookie-only query and its
    # answer (RFC 7873 s5.4) carry no question by design: TCP answers, messages with an OPT
    n["no_question_by_design"] = int((no_question & (
        (qr & ~udp) | m.filled("edns", False).astype(bool, copy=False))).sum())
    n["undecodable"] = int((dns & ~m.filled("qname_ok", True)).sum())
    n["malformed"] = int((dns & (m["malformed"] != m.code_of("malformed", ""))).sum())
    n["truncated"] = int((udp_resp & m.filled("tc", False)).sum())
    n["fragmented_responses"] = int((responses & (m["ip_fragments"] > 0)).sum())
    for name, limit in SIZE_LIMITS.items():
        n[f"over_{name}"] = int((udp_resp & (size > limit)).sum())
    v6 = m["family"] == m.code_of("family", "ipv6")
    n["over_1472"] = int((udp_resp & ~v6 & (size > 1472)).sum() + (udp_resp & v6 & (size > 1452))
                         .sum())
    if mtu:
        overhead = np.where(v6, 48, 28)
        n["over_mtu"] = int((udp_resp & (size + overhead > mtu)).sum())
    offered = np.where(m.isna("edns_size"), -1, m["edns_size"])[queries]
    sizes, counts = np.unique(offered, return_counts=True)  # (ordered in summary_from)
    for size, count in zip(sizes.tolist(), counts.tolist(), strict=True):
        out.edns_offered[str(int(size)) if size >= 0 else "none"] = int(count)
    out.protocols.update(m.counts("protocol"))
    _fragment_parts(tables.columns("fragments"), out, lo, hi, owned is not None,
                    getattr(tables, "dns_ports", ()))
    # a datagram larger than any MTU is evidence of offload (or loopback) only when the
    # packet really holds it: its message all captured, and the IP length near the UDP one
    # (fuzzed or damaged length fields claim sizes the packet never had)
    whole = ((m["ip_fragments"] == 0) & ~m.isna("ip_size")
             & (m["captured_size"] >= m["dns_size"])
             & (~udp | (m["ip_size"] <= m["dns_size"] + 8 + IP_HEADERS_MAX)))
    icmp = tables.columns("icmp")
    # a datagram a router's too-big error quotes crossed the capture's link whole (a jumbo
    # link before a smaller one): evidence of the path, not of offload
    quoted = icmp.filled("quoted_ip_size", -1)[np.isin(np.asarray(icmp["kind"], dtype=object),
                                                       TOO_BIG)]
    if len(quoted) and whole.any():
        whole &= ~np.isin(m["ip_size"], quoted)
    out.biggest_whole = int(m["ip_size"][whole].max()) if whole.any() else None
    mine = np.flatnonzero((icmp["frame"] >= lo) & (icmp["frame"] <= hi))
    n["icmp"] = len(mine)
    out.icmp_kinds.update(_counts(icmp["kind"][mine]))
    out.icmp_mtus = {int(x) for x in icmp["mtu"][mine][~icmp.isna("mtu")[mine]]}
    retransmitted = np.asarray(getattr(tables, "retransmitted_frames", []), dtype=np.int64)
    n["retransmitted_segments"] = int(((retransmitted >= lo) & (retransmitted <= hi)).sum())
    at_frames = list(getattr(tables, "warning_frames", []))
    at_frames += [None] * (len(tables.warnings) - len(at_frames))
    out.notes = [w for w, f in zip(tables.warnings, at_frames, strict=True)
                 if f is None or lo <= f <= hi]
    if tables.capture_filter:
        out.capture_filters.append(tables.capture_filter)
    return out


SET_FIRST_FRAME = "set_first_frame"  # a fragment table's column added for pieces


def _fragment_sets(f: Columns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each fragment's set -- (source, destination, identification, the frame that completed
    it) -- the first row of each set, and the completing frame (-1: none)."""
    done_in = np.where(f.isna("reassembled_in"), -1, f["reassembled_in"])
    src, dst = _text_codes(f["src"], f["dst"])
    set_of, first = factorize(src, dst, f["ip_id"].astype(np.int64, copy=False), done_in)
    return set_of, first, done_in


def set_first_frames(f: Columns) -> np.ndarray:
    """Per fragment, the first frame of its set over the table given (the whole capture's): a
    lost set is counted where its first fragment is, also by a piece whose window holds only
    its later fragments."""
    if not len(f):
        return np.zeros(0, dtype=np.int64)
    set_of, first, _done = _fragment_sets(f)
    first_frame = np.full(len(first), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_frame, set_of, f["frame"])
    picked: np.ndarray = first_frame[set_of]
    return picked


# ports whose datagrams the walk reads: DNS, mDNS, LLMNR, and the tunnels it opens or names
# (GTP-U, Teredo, VXLAN, Geneve, VXLAN-GPE, L2TP, MPLS over UDP, Linux's VXLAN)
WALKED_PORTS = (53, 5353, 5355, 2152, 3544, 4789, 6081, 4790, 1701, 6635, 8472)


def not_dns_sets(f: Columns, set_of: np.ndarray, n_sets: int,
                 dns_ports: tuple[int, ...] = ()) -> np.ndarray:
    """Per fragment set: its first fragment was captured and shows a UDP or TCP datagram
    between two ports neither of which carries DNS (nor a tunnel the walk reads) -- another
    application's datagram, whatever became of it."""
    first = np.flatnonzero((f["offset"] == 0) & ~f.isna("sport") & ~f.isna("dport"))
    other = np.zeros(n_sets, dtype=bool)
    if not len(first):
        return other
    ports = np.array([*WALKED_PORTS, *dns_ports], dtype=np.int64)
    proto = f.filled("protocol", -1)[first]
    sport = f.filled("sport", -1)[first].astype(np.int64, copy=False)
    dport = f.filled("dport", -1)[first].astype(np.int64, copy=False)
    plain = ((proto == 17) | (proto == 6)) & ~np.isin(sport, ports) & ~np.isin(dport, ports)
    other[set_of[first[plain]]] = True
    return other


def _fragment_parts(f: Columns, out: SummaryParts, lo: int, hi: int, owned: bool,
                    dns_ports: tuple[int, ...] = ()) -> None:
    """Fragment sets reassembled or lost (a set counted where it completed, or where its
    first fragment was), and the fragments in ``lo..hi``. A lost set whose first fragment
    shows another application's ports is counted apart (``lost_sets_other``)."""
    n = out.n
    if not len(f):
        return
    set_of, first, done_in = _fragment_sets(f)
    done = f.filled("complete", False)[first].astype(bool, copy=False)
    if owned:
        # a piece's window may hold only the later fragments of a set: the set's first frame
        # over the whole capture, when the table carries it (:func:`set_first_frames`)
        frames = f.values.get(SET_FIRST_FRAME)
        first_frame = np.full(len(first), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first_frame, set_of, f["frame"] if frames is None else frames)
        at = np.where(done, done_in[first], first_frame)
        mine = (at >= lo) & (at <= hi)
    else:
        mine = np.ones(len(done), dtype=bool)
    other = not_dns_sets(f, set_of, len(first), dns_ports)
    n["reassembled_sets"] = int((done & mine).sum())
    n["lost_sets"] = int((~done & mine & ~other).sum())
    n["lost_sets_other"] = int((~done & mine & other).sum())
    fm = (f["frame"] >= lo) & (f["frame"] <= hi)
    n["fragments"] = int(fm.sum())
    n["nonfirst_fragments"] = int((fm & (f["offset"] > 0)).sum())


def _orphan_tcp_fallback_frames(m: Columns, t: Columns) -> np.ndarray:
    """Frames of TC=1 UDP answers whose query the capture never saw, followed within
    :data:`FALLBACK_WINDOW` by the same server answering the same name and type over TCP to the
    same client: TCP fallbacks seen from the answering side. One join by question and time
    window (:class:`_Timeline`)."""
    none = np.zeros(0, dtype=np.int64)
    paired = t["response_frame"][~t.isna("response_frame")]
    base = ((m["protocol"] == m.code_of("protocol", "dns")) & m.filled("qr", False)
            & m.filled("qname_ok", False))
    tc = np.flatnonzero(base & m.filled("tc", False)
                        & (m["transport"] == m.code_of("transport", "udp"))
                        & ~np.isin(m["frame"], paired))
    if not len(tc):
        return none
    tcp = np.flatnonzero(base & (m["transport"] == m.code_of("transport", "tcp")))
    if not len(tcp):
        return none
    (src, dst), _labels = shared_codes(m, "src", "dst")
    qtype = m.filled("qtype", -1)
    qname = qname_keys(m)
    # a TC=1 answer whose query is in the capture is no orphan, paired or not (a second copy
    # of the answer -- a retransmitted query answered twice, a capture on two interfaces --
    # was counted as a fallback "seen from the server side" beside the transaction's own)
    asked = np.flatnonzero((m["protocol"] == m.code_of("protocol", "dns"))
                           & ~m.filled("qr", True) & ~m.isna("qr")
                           & (m["transport"] == m.code_of("transport", "udp")))
    if len(asked):
        dns_id = m.filled("dns_id", -1).astype(np.int64, copy=False)
        key, _ = factorize(np.concatenate([dst[tc], src[asked]]),
                           np.concatenate([src[tc], dst[asked]]),
                           np.concatenate([dns_id[tc], dns_id[asked]]),
                           np.concatenate([qname[tc], qname[asked]]),
                           np.concatenate([qtype[tc], qtype[asked]]))
        tc = tc[~np.isin(key[:len(tc)], key[len(tc):])]
        if not len(tc):
            return none
    both = np.concatenate([tc, tcp])
    code, _ = factorize(src[both], dst[both], qname[both], qtype[both])
    times = m["time"]
    start = times[tc]
    seen = _Timeline(code[len(tc):], times[tcp]).count(code[:len(tc)], start,
                                                       start + FALLBACK_WINDOW) > 0
    frames: np.ndarray = m["frame"][tc[seen]]
    return frames


def _warnings(p: SummaryParts, mtu: int | None) -> list[str]:
    """What the capture itself cannot show, or shows oddly, in plain sentences -- each only
    when the capture's own evidence says so."""
    from .files import backwards_sentence, snap_sentence

    n = p.n
    out: list[str] = list(p.notes)
    if p.backwards is not None:
        out.append(backwards_sentence(*p.backwards))
    if p.snapped is not None:
        out.append(snap_sentence(*p.snapped))
    when, which = p.tail
    late = which[when >= p.last_time - RETRY_WINDOW] if len(when) else which
    if len(late):
        said = ", ".join(f"{name} {int((late == k).sum())}" for k, name in
                         enumerate(UNFINISHED) if (late == k).any())
        out.append(f"{len(late)} transaction(s) had not finished when the capture stopped "
                   f"(in its last {RETRY_WINDOW:.0f} s: {said}): an answer or a TCP retry "
                   "may have come after it ended -- the capture's end, not evidence of a "
                   "failure")
    if p.old_streams:
        out.append(f"{len(p.old_streams)} DNS-over-TCP connection(s) were met without their "
                   "SYN in a file's window that starts after the capture began: open since "
                   "before the window (across a file or task boundary, longer than --window), "
                   "or their SYN never captured -- their messages there are framed from the "
                   "first plausible DNS message (give a longer --window)")
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
                   f"{'a 1500-byte Ethernet MTU' if limit == 1500 else f'--mtu {limit}'}: "
                   "jumbo frames on the capture's link, a loopback capture, or "
                   "segmentation/receive offload (GRO/TSO) on the capturing host")
    if n["over_offered"]:
        out.append(f"{n['over_offered']} UDP answer(s) larger than the size their query "
                   "offered -- the largest UDP payload the client's stack can reassemble and "
                   "deliver (RFC 6891 s6.2.3, below 512 read as 512; 512 without EDNS, RFC 1035 "
                   "s4.2.1): the server ignored the offer, and the client may never have read "
                   "them (the over_offered column says which)")
    if n["lost_sets_other"]:
        out.append(f"{n['lost_sets_other']} incomplete fragment set(s) of other traffic (their "
                   "first fragment shows ports that carry no DNS): not counted among the DNS "
                   "datagrams with lost fragments")
    if n["query_copies"]:
        out.append(f"{n['query_copies']} duplicate query(ies): the same query again on the same "
                   f"ports within {COPY_WINDOW * 1000:.0f} ms -- one datagram captured twice (a "
                   "capture on two interfaces of a router, a mirror port), not a "
                   "retransmission: counted once in the transactions (the message counts and "
                   "the EDNS sizes per query sent include the copies)")
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
            # each unpaired response counted once, by what the capture shows of its query
            with_query = min(max(0, n["orphans_with_query"] - n["duplicates"]), orphans)
            skewed = min(n["orphans_query_after"], orphans - with_query)
            other = min(n["orphans_other_question"], orphans - with_query - skewed)
            if other:
                out.append(f"{other} response(s) carry another question than the query before "
                           "them with the same client, server, ports and ID: no answer to it "
                           "(a resolver drops them, RFC 5452 s9.1) -- a server answering the "
                           "wrong question, or a forgery; that query counts unanswered")
            if skewed:
                out.append(f"{skewed} response(s) are timed before the query they answer (same "
                           "client, server, ID and question, asked up to "
                           f"{RETRY_WINDOW:.0f} s later): the clocks of two capture points "
                           "merged into one file, or a timestamp step -- not paired, their "
                           "queries counted unanswered")
            if with_query:
                out.append(f"{with_query} response(s) match a query the capture holds (same "
                           "client, server, ID and question) but were not paired with it: "
                           "another port than the query's, or an answer again more than "
                           f"{RETRY_WINDOW:.0f} s after the first")
            accounted = with_query + skewed + other
            early = min(n["early_orphans"], orphans - accounted)
            if early:
                out.append(f"{early} response(s) in the first {RETRY_WINDOW:.0f} s answer "
                           "queries sent before the capture started (their queries are not in "
                           "the capture)")
            beyond = min(n["orphans_beyond_window"], orphans - accounted - early)
            if beyond:  # (a set searches each file's neighbours --window s back, no further)
                out.append(f"{beyond} response(s) answer queries not found within the window "
                           "before them (a set of files is searched that far back: the query "
                           "is older -- a longer --window finds it -- or was never captured)")
            if orphans - accounted - early - beyond > 0:  # (in pieces: the whole capture)
                out.append(f"{orphans - accounted - early - beyond} response(s) answer "
                           "queries the capture never saw (some queries took another path, or "
                           "the capture dropped them)")
    malformed_paired = max(0, n["malformed"] - n["malformed_unpaired"])
    if n["no_question"] + n["undecodable"] or n["malformed_unpaired"]:
        design = n["no_question_by_design"]
        why = (f" ({design} of them a zone transfer's later answers over TCP or a cookie-only "
               "query or answer, which carry none by design: RFC 5936 s2.2.1, RFC 7873 s5.4)"
               if design else "")
        parts = [f"{count} {what}" for count, what in (
            (n["no_question"], f"message(s) without a question{why}"),
            (n["undecodable"], "message(s) with an undecodable name"),
            (n["malformed_unpaired"], "malformed message(s)")) if count]
        out.append(", ".join(parts) + ": counted in the message figures, not paired")
    if malformed_paired:
        out.append(f"{malformed_paired} malformed message(s) paired by their header and "
                   "question (what follows the question is cut or breaks the format's rules: the "
                   "malformed column says which)")
    left = {x: p.protocols[x] for x in ("mdns", "llmnr") if p.protocols.get(x)}
    if left:
        out.append(" and ".join(f"{c} {x.upper() if x == 'llmnr' else 'mDNS'}" for x, c in
                                left.items())
                   + " message(s) counted separately: the unicast DNS analysis leaves them aside")
    return out


def _orphans(p: SummaryParts) -> int:
    return max(0, p.n["responses_ok"] - p.n["paired"] - p.n["duplicates"])


def _most_offered(offered: Counter[str]) -> dict[str, int]:
    """EDNS sizes offered, the most offered first, ties by size ("none" last): one order
    whether the capture was read whole, in pieces or as a set (merged parts add up in the
    order they come)."""
    def size(key: str) -> int:
        return int(key) if key.isdigit() else 1 << 20

    return dict(sorted(offered.items(), key=lambda kv: (-kv[1], size(kv[0]))))


def summary_from(p: SummaryParts, *, mtu: int | None = None) -> dict[str, Any]:
    """The report's numbers (the README's JSON contract): per message and per transaction."""
    n = p.n
    over = {k: n[f"over_{k}"] for k in ("512", "1232", "1400", "1472")}
    if mtu:
        over[f"mtu_{mtu}"] = n["over_mtu"]
    over["offered"] = n["over_offered"]  # paired UDP answers over their query's offer
    messages = {
        "queries": n["queries"], "responses": n["responses"],
        "udp": {"queries": n["udp_queries"], "responses": n["udp_responses"]},
        "tcp": {"queries": n["tcp_queries"], "responses": n["tcp_responses"]},
        "no_question": n["no_question"], "undecodable": n["undecodable"],
        "malformed": n["malformed"], "truncated": n["truncated"],
        "fragmented_responses": n["fragmented_responses"],
        "edns_sizes_offered": _most_offered(p.edns_offered),
        "orphan_responses": _orphans(p), "duplicate_responses": n["duplicates"],
        "lost_fragment_datagrams": n["lost_sets"], "reassembled_datagrams": n["reassembled_sets"],
    }
    latency = np.asarray(p.latencies, dtype=float)
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
            "latency_ms": {"median": float(np.median(latency)) if len(latency) else None,
                           "p95": float(np.quantile(latency, 0.95)) if len(latency) else None},
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
        "edns_sizes": _most_offered(p.edns_offered),
        "responses_over": over,
        "top_truncated_names": dict(top),
        "warnings": _warnings(p, mtu),
    }


def summarize(tables: Any, txns: Any, *, mtu: int | None = None,
              figures: SummaryParts | None = None) -> dict[str, Any]:
    """The summary of one capture (:func:`summary_parts` then :func:`summary_from`)."""
    return summary_from(summary_parts(tables, txns, mtu=mtu, figures=figures), mtu=mtu)
