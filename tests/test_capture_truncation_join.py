"""The TC=1 follow-up is one join (TC answers against TCP retries, SYNs, RST and SYN-ACK by
client, server, port and time window): it must classify every TC answer exactly as the plain
rule does when applied to one answer at a time. Captures built here by code, with the edge
cases -- RST, SYN without answer, SYN-ACK then silence, a retry outside the window, several
TC answers for one client and server, a SYN to another port, retries of another question (a
connection that carried a query is not a failed attempt: the question was not retried)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from enumlab.capture import load_capture
from enumlab.capture.transactions import FALLBACK_WINDOW, build_transactions

from . import frames as F

T0 = 1_780_000_000.0
CLIENTS = ("198.51.100.7", "198.51.100.8", "2001:db8::7")
SERVERS = {"198.51.100.7": ("192.0.2.53", "192.0.2.54"),
           "198.51.100.8": ("192.0.2.53", "192.0.2.54"), "2001:db8::7": ("2001:db8::53",)}
BEHAVIOURS = ("none", "syn", "syn_rst", "syn_synack", "retry_ok", "retry_unanswered",
              "retry_late", "syn_other_port", "retry_other_name", "rst_only", "syn_late_rst")


def _name(i: int) -> str:
    return f"{i}.7.5.5.5.1.6.e164.arpa"


def _tcp(src: str, dst: str, sport: int, dport: int, seq: int, payload: bytes = b"", *,
         flags: int = 0x18) -> bytes:
    return F.ip(src, dst, 6, F.tcp(sport, dport, seq, payload, flags=flags))


def _scenario(rng: np.random.Generator, count: int) -> list[tuple[float, bytes]]:
    """``count`` TC=1 answers, each followed by a behaviour drawn from BEHAVIOURS; answers
    for one client and server often overlap in time (several TC answers in one window)."""
    frames: list[tuple[float, bytes]] = []
    t = T0
    port = 30000
    for i in range(count):
        client = CLIENTS[int(rng.integers(len(CLIENTS)))]
        server = SERVERS[client][int(rng.integers(len(SERVERS[client])))]
        how = BEHAVIOURS[int(rng.integers(len(BEHAVIOURS)))]
        name, ident = _name(i), 1000 + i
        t += float(rng.uniform(0.05, 4.0))  # a window of 10 s holds several answers
        q = F.query(name, ident=ident)
        frames.append((t, F.ip(client, server, 17, F.udp(20000 + i, 53, q))))
        frames.append((t + 0.001, F.ip(server, client, 17, F.udp(53, 20000 + i, F.response(
            name, ident=ident, records=0, tc=True)))))
        at = t + 0.001 + float(rng.uniform(0.001, 0.5))
        port += 1
        late = FALLBACK_WINDOW + 1.0
        if how in ("syn", "syn_rst", "syn_synack", "retry_ok", "retry_unanswered",
                   "retry_other_name"):
            frames.append((at, _tcp(client, server, port, 53, 100, flags=0x02)))
        if how == "syn_late_rst":  # a SYN in the window, its RST after it
            frames.append((at, _tcp(client, server, port, 53, 100, flags=0x02)))
            frames.append((at + late, _tcp(server, client, 53, port, 0, flags=0x14)))
        if how == "syn_other_port":
            frames.append((at, _tcp(client, server, port, 853, 100, flags=0x02)))
        if how in ("syn_rst", "rst_only"):
            frames.append((at + 0.002, _tcp(server, client, 53, port, 0, flags=0x14)))
        if how in ("syn_synack", "retry_ok", "retry_unanswered", "retry_other_name"):
            frames.append((at + 0.002, _tcp(server, client, 53, port, 500, flags=0x12)))
        if how in ("retry_ok", "retry_unanswered", "retry_other_name", "retry_late"):
            when = at + 0.003 + (late if how == "retry_late" else 0.0)
            asked = _name(i + 100000) if how == "retry_other_name" else name
            tq = F.query(asked, ident=ident + 1, edns=None)
            frames.append((when, _tcp(client, server, port, 53, 101,
                                      struct.pack("!H", len(tq)) + tq)))
            if how in ("retry_ok", "retry_late"):
                ta = F.response(asked, ident=ident + 1, records=3)
                frames.append((when + 0.004, _tcp(server, client, 53, port, 501,
                                                  struct.pack("!H", len(ta)) + ta)))
    frames.sort(key=lambda f: f[0])
    return frames


def _reference(tables: Any, t: pd.DataFrame) -> dict[int, tuple[str, float | None, str | None]]:
    """The plain rule, one TC answer at a time over the whole TCP tables (the former code)."""
    tcp = tables.tcp
    syn = tcp["syn"] & ~tcp["ack"]
    synack = tcp["syn"] & tcp["ack"]
    out: dict[int, tuple[str, float | None, str | None]] = {}
    over_tcp = t[t["transport"] == "tcp"]
    for i, row in t[t["tc"].fillna(False) & (t["transport"] == "udp")].iterrows():
        begin = float(row["response_time"])
        end = begin + FALLBACK_WINDOW
        retries = over_tcp[(over_tcp["client"] == row["client"])
                           & (over_tcp["server"] == row["server"])
                           & (over_tcp["qname"] == row["qname"])
                           & (over_tcp["qtype"] == row["qtype"])
                           & (over_tcp["query_time"] >= begin) & (over_tcp["query_time"] <= end)]
        answered = retries[retries["response_time"].notna()]
        if len(answered):
            ms = round((float(answered["response_time"].iloc[0]) - begin) * 1000, 3)
            out[int(i)] = ("ok", ms, None)
            continue
        window = (tcp["time"] >= begin) & (tcp["time"] <= end)
        to_server = window & (tcp["src"] == row["client"]) & (tcp["dst"] == row["server"])
        port = int(row["server_port"])
        syns = tcp[to_server & syn & (tcp["dport"] == port)]
        tried = set()
        for _, s in syns.iterrows():
            t_syn = float(s["time"])
            used = over_tcp[(over_tcp["client"] == row["client"])
                            & (over_tcp["server"] == row["server"])
                            & (over_tcp["server_port"] == port)
                            & (over_tcp["client_port"] == s["sport"])
                            & (over_tcp["query_time"] >= t_syn)
                            & (over_tcp["query_time"] <= t_syn + FALLBACK_WINDOW)]
            if not len(used):  # a connection that carried a query served it: no attempt
                tried.add(s["sport"])
        if not len(retries) and not tried:
            out[int(i)] = ("none", None, None)
            continue
        back = window & (tcp["src"] == row["server"]) & (tcp["dst"] == row["client"]) & (
            tcp["sport"] == port)
        # why, from every SYN of the window: a retry left unanswered was accepted
        refused = set(tcp.loc[back & tcp["rst"], "dport"].tolist()) & set(syns["sport"])
        accepted = set(tcp.loc[back & synack, "dport"].tolist()) & set(syns["sport"])
        reason = ("connection refused (RST)" if refused else
                  "no answer over TCP" if accepted else "SYN unanswered")
        out[int(i)] = ("failed", None, "tcp: " + reason)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_join_classifies_every_tc_answer_as_the_plain_rule(tmp_path: Path,
                                                                seed: int) -> None:
    frames = _scenario(np.random.default_rng(seed), 120)
    path = tmp_path / "tc.pcap"
    path.write_bytes(F.pcap([(t, F.link(d, F.ETHERNET)) for t, d in frames], F.ETHERNET))
    tables = load_capture(path)
    t = build_transactions(tables)
    want = _reference(tables, t)
    assert len(want) == 120
    kinds = {v[0] for v in want.values()}
    reasons = {v[2] for v in want.values()}
    assert kinds == {"ok", "failed", "none"}  # every branch is exercised
    assert {"tcp: connection refused (RST)", "tcp: no answer over TCP",
            "tcp: SYN unanswered"} <= reasons
    for i, (fallback, latency, note) in want.items():
        row = t.loc[i]
        assert row["tcp_fallback"] == fallback, (i, row.to_dict(), want[i])
        assert (pd.isna(row["fallback_latency_ms"]) if latency is None
                else row["fallback_latency_ms"] == latency), (i, row.to_dict())
        assert (pd.isna(row["icmp"]) if note is None else row["icmp"] == note), (i, row.to_dict())
    assert t.loc[~t.index.isin(list(want)), "tcp_fallback"].isna().all()


def test_several_tc_answers_share_one_rst(tmp_path: Path) -> None:
    """Three TC answers to one client from one server within a window, one SYN refused by an
    RST after the third: all three failed as refused; a fourth answer whose window ends before
    the SYN is 'none'."""
    c, s = "198.51.100.9", "192.0.2.60"
    frames = []
    for k, at in enumerate((0.0, 12.0, 13.0, 14.0)):
        q = F.query(_name(k), ident=k)
        frames.append((T0 + at, F.ip(c, s, 17, F.udp(4000 + k, 53, q))))
        frames.append((T0 + at + 0.001, F.ip(s, c, 17, F.udp(53, 4000 + k, F.response(
            _name(k), ident=k, records=0, tc=True)))))
    frames.append((T0 + 20.0, _tcp(c, s, 5555, 53, 1, flags=0x02)))
    frames.append((T0 + 20.001, _tcp(s, c, 53, 5555, 0, flags=0x14)))
    path = tmp_path / "rst.pcap"
    path.write_bytes(F.pcap([(t, F.link(d, F.ETHERNET)) for t, d in frames], F.ETHERNET))
    t = build_transactions(load_capture(path))
    assert t["tcp_fallback"].tolist() == ["none", "failed", "failed", "failed"]
    assert t["icmp"].tolist()[1:] == ["tcp: connection refused (RST)"] * 3


def test_rst_without_any_syn_in_the_capture(tmp_path: Path) -> None:
    """TCP control segments back from the server but not one SYN in the capture (found by
    the capture fuzz test: the join indexed an empty SYN table): no attempt, 'none'."""
    c, s = "198.51.100.9", "192.0.2.60"
    q = F.query(_name(1), ident=1)
    frames = [(T0, F.ip(c, s, 17, F.udp(4000, 53, q))),
              (T0 + 0.001, F.ip(s, c, 17, F.udp(53, 4000, F.response(_name(1), ident=1,
                                                                   records=0, tc=True)))),
              (T0 + 0.01, _tcp(s, c, 53, 5555, 0, flags=0x14)),
              (T0 + 0.02, _tcp(s, c, 53, 5556, 0, flags=0x12))]
    path = tmp_path / "rst.pcap"
    path.write_bytes(F.pcap([(t, F.link(d, F.ETHERNET)) for t, d in frames], F.ETHERNET))
    t = build_transactions(load_capture(path))
    assert t["tcp_fallback"].tolist() == ["none"]


def test_another_names_fallback_is_not_a_failed_retry(tmp_path: Path) -> None:
    """A TC=1 answer the client never retried, then 5 s later another name's TC=1 answer
    whose TCP fallback succeeds, same client and server: the first is ``none`` (no retry),
    not ``failed`` -- that connection carried the other name's query only. On a busy
    resolver almost every TC=1 answer has some SYN to its server within the window; counting
    any of them as an attempt would make "no retry" (the seed's failure) invisible."""
    client, server = "198.51.100.7", "192.0.2.53"
    frames: list[tuple[float, bytes]] = []
    for k, name in enumerate(("noretry.example", "late.example")):
        t = T0 + 5 * k
        q, ident = F.query(name, ident=10 + k), 10 + k
        frames.append((t, F.ip(client, server, 17, F.udp(40000 + k, 53, q))))
        frames.append((t + 0.01, F.ip(server, client, 17, F.udp(53, 40000 + k, F.response(
            name, ident=ident, records=0, tc=True)))))
    t = T0 + 5.02
    tq, ta = F.query("late.example", ident=12, edns=None), F.response("late.example", ident=12,
                                                                       records=3)
    frames += [(t, _tcp(client, server, 41000, 53, 100, flags=0x02)),
               (t + 0.001, _tcp(server, client, 53, 41000, 500, flags=0x12)),
               (t + 0.002, _tcp(client, server, 41000, 53, 101,
                                struct.pack("!H", len(tq)) + tq)),
               (t + 0.004, _tcp(server, client, 53, 41000, 501,
                                struct.pack("!H", len(ta)) + ta))]
    # the SYN sent twice (its first copy unanswered): still the one connection, still used
    frames.insert(4, (T0 + 5.015, _tcp(client, server, 41000, 53, 100, flags=0x02)))
    path = tmp_path / "noretry.pcap"
    path.write_bytes(F.pcap([(t, F.link(d, F.ETHERNET)) for t, d in frames], F.ETHERNET))
    for engine in ("native", "tshark"):
        t = build_transactions(load_capture(path, engine=engine))
        udp = t[t["transport"] == "udp"].set_index("qname")
        assert udp.loc["noretry.example", "tcp_fallback"] == "none", engine
        assert udp.loc["noretry.example", "outcome"] == "truncated_no_retry", engine
        assert udp.loc["late.example", "tcp_fallback"] == "ok", engine
    # in pieces of two records the other name's query is in no piece's conversations: the
    # reassembler, which saw the whole capture, says its connection carried a message
    from enumlab.capture.pieces import analyze_stream

    for records in (2, 3):
        outcomes = analyze_stream(path, piece_records=records, workers=1)["outcomes"]
        assert outcomes["truncated_no_retry"] == 1 and outcomes["truncated_tcp_ok"] == 1
        assert outcomes["truncated_tcp_failed"] == 0
    # the same SYNs with no query on their connection: an attempt for both answers
    path.write_bytes(F.pcap([(t, F.link(d, F.ETHERNET)) for t, d in frames[:7]], F.ETHERNET))
    t = build_transactions(load_capture(path))
    assert set(t["tcp_fallback"]) == {"failed"}
