"""Capture forensics on the messy captures the field produces (frames built here by code,
decoded by the native engine): every response counted, duplicates named as duplicates,
ICMP linked to what it quotes, multicast counted apart, the outcome model's flags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from enumlab.capture import load_capture
from enumlab.capture.report import analyze

from . import frames as F

C, S = "198.51.100.7", "192.0.2.53"
T0 = 1_780_000_000.0


def _write(tmp_path: Path, frames: list[tuple[float, bytes]], name: str = "c.pcap") -> Path:
    path = tmp_path / name
    path.write_bytes(F.pcap([(t, F.link(d, F.ETHERNET)) for t, d in frames], F.ETHERNET))
    return path


def _udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    return F.ipv4(src, dst, 17, F.udp(sport, dport, payload))


def _name(i: int) -> str:
    return f"{i}.3.5.5.5.1.6.e164.arpa"


def test_resolver_side_capture_counts_every_tc_answer_and_its_tcp_fallback(tmp_path: Path
                                                                           ) -> None:
    """7 TC=1 UDP answers whose queries the capture did not see, each followed 8-192 ms later
    by the same server answering over TCP, and 10 UDP answers over 512 bytes (issue: enumlab
    said truncated 0, fallback 0/0/0, 6 over 512)."""
    frames: list[tuple[float, bytes]] = []
    t = T0
    for i in range(7):
        frames.append((t, _udp(S, C, 53, 4000 + i, F.response(_name(i), ident=i, records=0,
                                                              tc=True))))
        t += (8 + 30 * i) / 1000
        answer = F.response(_name(i), ident=100 + i, records=12)
        frames.append((t, F.ipv4(S, C, 6, F.tcp(53, 5000 + i, 1, len(answer).to_bytes(2, "big")
                                                + answer))))
        t += 0.5
    for i in range(10):
        frames.append((t, _udp(S, C, 53, 6000 + i, F.response(_name(20 + i), ident=200 + i,
                                                              records=12, edns=1232))))
        t += 0.01
    s = analyze(_write(tmp_path, frames)).summary
    assert s["truncated"] == 7
    assert s["tcp_fallback"]["seen_from_server_side"] == 7
    assert s["responses_over"]["512"] == 10
    assert s["orphan_responses"] == 7 + 7 + 10
    assert any("not one query" in w for w in s["warnings"])


def test_a_duplicated_answer_is_a_duplicate_not_a_missing_direction(tmp_path: Path) -> None:
    q = F.query(_name(1), ident=9)
    r = F.response(_name(1), ident=9)
    frames = [(T0, _udp(C, S, 4000, 53, q)), (T0 + 0.01, _udp(S, C, 53, 4000, r)),
              (T0 + 0.01001, _udp(S, C, 53, 4000, r))]
    analysis = analyze(_write(tmp_path, frames))
    s = analysis.summary
    assert s["duplicate_responses"] == 1 and s["orphan_responses"] == 0
    assert s["transactions"] == 1 and s["outcomes"]["ok"] == 1
    assert s["flags"]["duplicate_response"] == 1
    assert any("duplicate response" in w for w in s["warnings"])
    assert not any("never saw" in w or "one direction" in w for w in s["warnings"])
    assert int(analysis.transactions["duplicate_responses"].iloc[0]) == 1


def test_a_fragmented_answer_without_its_query_is_still_counted(tmp_path: Path) -> None:
    """One 1.7 kB response in two IPv4 fragments, its query not captured (issue: "fragmented
    responses: 0" and nothing over 1472)."""
    answer = F.udp(53, 4000, F.response(_name(2), ident=3, records=30, edns=4096))
    assert 1600 < len(answer) < 1900
    pieces = F.fragments_v4(S, C, 17, answer, 1480, ident=77)
    frames = [(T0 + k / 1000, p) for k, p in enumerate(pieces)]
    s = analyze(_write(tmp_path, frames)).summary
    assert s["fragmented_responses"] == 1 and s["reassembled_datagrams"] == 1
    assert s["responses_over"]["1472"] == 1
    assert s["orphan_responses"] == 1 and s["transactions"] == 0


def test_icmp_quoting_a_big_datagram_is_neither_dns_nor_offload(tmp_path: Path) -> None:
    """A 576-byte ICMP frag-needed frame quoting a 1732-byte datagram (issue: it raised the
    GRO/TSO warning, and the DNS inside the quote counted as a message)."""
    q = F.query(_name(4), ident=5, edns=4096)
    r = F.response(_name(4), ident=5, records=30, edns=4096)
    big = _udp(S, C, 53, 4000, r)
    assert len(big) > 1700
    quoted = big[:548]  # what fits in a 576-byte ICMP datagram
    icmp = F.ipv4("203.0.113.1", S, 1, F.icmp4(3, 4, quoted, mtu=1400))
    assert len(icmp) == 576
    frames = [(T0, _udp(C, S, 4000, 53, q)), (T0 + 0.01, icmp)]
    analysis = analyze(_write(tmp_path, frames))
    s = analysis.summary
    assert s["dns_messages"] == 1  # the query only: a quote is not a message
    assert s["icmp"]["by_kind"] == {"fragmentation-needed": 1} and s["icmp"]["mtus"] == [1400]
    assert not any("GRO/TSO" in w for w in s["warnings"])
    quoted_row = analysis.capture.icmp.iloc[0]
    assert int(quoted_row["quoted_ip_size"]) == len(big) and int(quoted_row["quoted_dns_id"]) == 5
    assert s["flags"]["icmp_too_big"] == 1


def test_reassembly_timeouts_are_the_clients_proof_of_lost_fragments(tmp_path: Path) -> None:
    """11 answers whose second fragment never came; the client's ICMP "fragment reassembly
    time exceeded" (type 11 code 1) for each (issue: "ICMP: 0")."""
    frames: list[tuple[float, bytes]] = []
    t = T0
    for i in range(11):
        frames.append((t, _udp(C, S, 4100 + i, 53, F.query(_name(i), ident=i, edns=4096))))
        answer = F.udp(53, 4100 + i, F.response(_name(i), ident=i, records=30, edns=4096))
        first = F.fragments_v4(S, C, 17, answer, 1480, ident=1000 + i)[0]
        frames.append((t + 0.01, first))
        frames.append((t + 30.01, F.ipv4(C, S, 1, F.icmp4(11, 1, first[:28]))))
        t += 40
    s = analyze(_write(tmp_path, frames)).summary
    assert s["icmp"]["by_kind"] == {"reassembly-time-exceeded": 11}
    assert s["outcomes"]["fragments_lost"] == 11
    assert s["flags"]["icmp_reassembly_timeout"] == 11
    assert s["lost_fragment_datagrams"] == 11


def test_mdns_only_and_mixed_captures(tmp_path: Path) -> None:
    group = "224.0.0.251"
    mdns = [(T0 + i, _udp(C, group, 5353, 5353, F.query(f"printer{i}.local", "A", ident=0,
                                                        edns=None))) for i in range(4)]
    only = analyze(_write(tmp_path, mdns, "mdns.pcap")).summary  # not "no DNS packets"
    assert only["protocols"] == {"dns": 0, "mdns": 4, "llmnr": 0}
    assert only["transactions"] == 0
    assert any("4 mDNS message(s) counted separately" in w for w in only["warnings"])
    mixed = [*mdns, (T0 + 10, _udp(C, S, 4000, 53, F.query(_name(5), ident=1))),
             (T0 + 10.01, _udp(S, C, 53, 4000, F.response(_name(5), ident=1)))]
    s = analyze(_write(tmp_path, mixed, "mixed.pcap")).summary
    assert s["protocols"]["mdns"] == 4 and s["protocols"]["dns"] == 2
    assert s["transactions"] == 1 and s["messages"]["queries"] == 1


def test_retry_after_lost_fragments_is_ok_with_the_loss_flagged(tmp_path: Path) -> None:
    """15 queries, each answer's first try lost in fragments, the retry answered whole: the
    outcome is ok after a retry, flagged first_answer_lost_in_fragments (issue: it read as
    fragments_lost, and no figure of queries sent)."""
    frames: list[tuple[float, bytes]] = []
    t = T0
    for i in range(15):
        q = F.query(_name(i), ident=i, edns=4096)
        answer = F.udp(53, 4200 + i, F.response(_name(i), ident=i, records=30, edns=4096))
        frames.append((t, _udp(C, S, 4200 + i, 53, q)))
        frames.append((t + 0.01, F.fragments_v4(S, C, 17, answer, 1480, ident=2000 + i)[0]))
        frames.append((t + 1.0, _udp(C, S, 4200 + i, 53, q)))  # the retransmission
        for k, piece in enumerate(F.fragments_v4(S, C, 17, answer, 1480, ident=3000 + i)):
            frames.append((t + 1.01 + k / 1000, piece))
        t += 5
    analysis = analyze(_write(tmp_path, frames))
    s = analysis.summary
    assert s["messages"]["queries"] == 30 and s["transactions"] == 15
    assert s["outcomes"]["ok"] == 15 and s["outcomes"]["fragments_lost"] == 0
    assert s["flags"]["retried"] == 15 and s["flags"]["first_answer_lost_in_fragments"] == 15
    assert s["lost_fragment_datagrams"] == 15 and s["reassembled_datagrams"] == 15
    assert s["edns_sizes"] == {"4096": 30}  # per query sent, retransmissions included


@pytest.mark.parametrize("first_fragment", [True, False])
def test_a_lost_fragment_set_is_not_blamed_on_a_stale_query(tmp_path: Path,
                                                            first_fragment: bool) -> None:
    """Query A, never answered; 300 s later query B on another port: B's first answer loses
    a fragment, its retry is answered whole. The incomplete set belongs to B -- its first
    fragment's UDP header names B's port (RFC 791 s3.2); without that fragment, A is 300 s
    too old to be waiting for it, and B the latest one. A stays ``unanswered`` (it read
    ``fragments_lost``: a fresh-eyes capture), B is ok with ``first_answer_lost_in_fragments``.
    """
    qa = F.query(_name(1), ident=1, edns=4096)
    qb = F.query(_name(2), ident=2, edns=4096)
    answer = F.udp(53, 4402, F.response(_name(2), ident=2, records=30, edns=4096))
    first_try = F.fragments_v4(S, C, 17, answer, 1480, ident=700)
    kept = first_try[:-1] if first_fragment else first_try[1:]  # one fragment lost
    frames = [(T0, _udp(C, S, 4401, 53, qa)), (T0 + 300, _udp(C, S, 4402, 53, qb)),
              *[(T0 + 300.01 + k / 1000, x) for k, x in enumerate(kept)],
              (T0 + 301, _udp(C, S, 4402, 53, qb)),
              *[(T0 + 301.01 + k / 1000, x)
                for k, x in enumerate(F.fragments_v4(S, C, 17, answer, 1480, ident=701))]]
    t = analyze(_write(tmp_path, frames)).transactions.set_index("qname")
    assert t.loc[_name(1), "outcome"] == "unanswered"
    assert not t.loc[_name(1), "fragments_lost"]
    # by its ports, or (no first fragment) as the latest transaction A is not too old for
    assert t.loc[_name(2), "outcome"] == "ok"
    assert t.loc[_name(2), "first_answer_lost_in_fragments"]
    assert t.loc[_name(2), "fragments_seen"] == len(kept)


def test_undecodable_messages_are_counted_with_a_warning(tmp_path: Path) -> None:
    good = F.query(_name(6), ident=1)
    no_question = good[:4] + b"\0\0" + good[6:12]  # qdcount 0, header only
    bad_name = good[:12] + b"\xc0\xff" + good[14:]  # a forward compression pointer
    frames = [(T0, _udp(C, S, 4000, 53, no_question)), (T0 + 1, _udp(C, S, 4001, 53, bad_name))]
    tables = load_capture(_write(tmp_path, frames))
    assert len(tables.messages) == 2
    s = analyze(tmp_path / "c.pcap").summary
    assert s["messages"]["no_question"] == 1 and s["messages"]["undecodable"] == 1
    assert any("without a question" in w for w in s["warnings"])


def test_json_contract_has_both_levels() -> None:
    from .conftest import ROOT

    out = subprocess.run([sys.executable, "-m", "enumlab.cli", "pcap",
                          str(ROOT / "data" / "captures" / "ipv6_packet_too_big.pcapng"),
                          "--json"], capture_output=True, text=True, timeout=120)
    data: dict[str, Any] = json.loads(out.stdout)
    for key in ("frames", "dns_messages", "transactions", "outcomes", "flags", "truncated",
                "orphan_responses", "duplicate_responses", "fragmented_responses",
                "lost_fragment_datagrams", "protocols", "messages"):
        assert key in data, key
    assert set(data["icmp"]) >= {"count", "by_kind"}
    assert set(data["messages"]) >= {"queries", "responses", "udp", "tcp", "truncated"}


@pytest.mark.parametrize("engine", ["native", "tshark"])
def test_forensics_agree_across_engines(tmp_path: Path, engine: str) -> None:
    from .conftest import require_tool

    require_tool("tshark", "tshark")
    q = F.query(_name(1), ident=9)
    r = F.response(_name(1), ident=9)
    frames = [(T0, _udp(C, S, 4000, 53, q)), (T0 + 0.01, _udp(S, C, 53, 4000, r)),
              (T0 + 0.02, _udp(S, C, 53, 4000, r))]
    s = analyze(_write(tmp_path, frames), engine=engine).summary
    assert s["duplicate_responses"] == 1 and s["transactions"] == 1


def test_icmpv6_reassembly_timeout_and_host_unreachable_are_linked(tmp_path: Path) -> None:
    c6, s6 = "2001:db8::7", "2001:db8:53::53"
    q = F.query(_name(8), ident=8, edns=4096)
    answer = F.udp(53, 4300, F.response(_name(8), ident=8, records=30, edns=4096))
    first = F.fragments_v6(s6, c6, 17, answer, 1232, ident=0xABCD)[0]
    unreachable_query = _udp(C, S, 4400, 53, F.query(_name(9), ident=9))
    frames = [(T0, F.ipv6(c6, s6, 17, F.udp(4300, 53, q))), (T0 + 0.01, first),
              (T0 + 60.01, F.ipv6(c6, s6, 58, F.icmp6(3, 1, first[:88]))),
              (T0 + 61, unreachable_query),
              (T0 + 61.01, F.ipv4("192.0.2.1", C, 1, F.icmp4(3, 1, unreachable_query[:28])))]
    analysis = analyze(_write(tmp_path, frames))
    s = analysis.summary
    icmp = analysis.capture.icmp
    assert set(icmp["kind"]) == {"reassembly-time-exceeded", "host-unreachable"}
    assert int(icmp.loc[icmp["family"] == "ipv6", "quoted_ip_id"].iloc[0]) == 0xABCD
    assert s["flags"]["icmp_reassembly_timeout"] == 1 and s["flags"]["icmp_unreachable"] == 1
    assert s["outcomes"]["fragments_lost"] == 1 and s["outcomes"]["unanswered"] == 1


def test_levels_table_counts_the_lost_fragments_capture_both_ways() -> None:
    """dig asked twice and both answers lost their fragments: two of everything per message,
    one transaction (notebook 06 step 6b)."""
    captures = Path(__file__).resolve().parent.parent / "data" / "captures"
    table = analyze(captures / "fragments_lost.pcapng").levels_table()
    assert table.loc["queries"].tolist() == [2, 1]
    assert table.loc["answers that arrived whole"].tolist() == [0, 0]
    assert table.loc["answers lost in fragments"].tolist() == [2, 1]


@pytest.mark.parametrize("engine", ["native", "tshark"])
def test_icmp_errors_go_to_the_transaction_their_quote_names(tmp_path: Path,
                                                             engine: str) -> None:
    """One client, one server, two questions 1 ms apart on two ports: the router's
    fragmentation-needed quotes the first answer (ports and DNS ID in the quote), a
    port-unreachable quotes the first of two IPv6 queries. Each error was put on the latest
    transaction between the two addresses -- the other question; it goes to the one its
    quote names. A router's MTU of 0 (RFC 1191 s4: not said) is no MTU."""
    big_q = F.query("big.example", ident=0xD001, edns=4096)
    small_q = F.query("small.example", ident=0xD002, edns=4096)
    big = _udp(S, C, 53, 51001, F.response("big.example", ident=0xD001, records=30, edns=4096))
    c6, s6 = "2001:db8:6::77", "2001:db8:6::53"
    p1 = F.ipv6(c6, s6, 17, F.udp(51003, 53, F.query("p1.example", ident=0xD003)))
    p2 = F.ipv6(c6, s6, 17, F.udp(51004, 53, F.query("p2.example", ident=0xD004)))
    frames = [(T0 + 1, _udp(C, S, 51001, 53, big_q)), (T0 + 1.001, _udp(C, S, 51002, 53, small_q)),
              (T0 + 1.002, big),
              (T0 + 1.003, _udp(S, C, 53, 51002, F.response("small.example", ident=0xD002))),
              (T0 + 1.004, F.ipv4("192.0.2.1", S, 1, F.icmp4(3, 4, big[:40], mtu=1400))),
              (T0 + 1.005, F.ipv4("192.0.2.1", S, 1, F.icmp4(3, 4, big[:40], mtu=0))),
              (T0 + 2, p1), (T0 + 2.001, p2),
              (T0 + 2.002, F.ipv6("2001:db8:6::1", c6, 58, F.icmp6(1, 0, p1))),
              (T0 + 2.005, F.ipv6(s6, c6, 17, F.udp(53, 51004, F.response("p2.example",
                                                                           ident=0xD004))))]
    a = analyze(_write(tmp_path, frames), engine=engine)
    t = a.transactions.set_index("qname")
    assert bool(t.loc["big.example", "icmp_too_big"]) and not t.loc["small.example",
                                                                      "icmp_too_big"]
    assert t.loc["big.example", "outcome"] == "unanswered"  # the router dropped it
    assert t.loc["small.example", "outcome"] == "ok"
    assert bool(t.loc["p1.example", "icmp_unreachable"]) and not t.loc["p2.example",
                                                                        "icmp_unreachable"]
    assert t.loc["p2.example", "outcome"] == "ok"
    assert a.summary["icmp"]["mtus"] == [1400]


def test_a_too_big_error_about_a_tcp_answer_that_came_is_no_loss(tmp_path: Path) -> None:
    """A TCP answer's first segment draws a too-big error; the server sends the bytes again in
    smaller segments (RFC 1191 s3, RFC 8201) and the answer arrives: answered (it was
    "unanswered" with the answer's frame beside it)."""
    r = F.response("t.example", ident=9, records=30)
    framed = len(r).to_bytes(2, "big") + r
    q = F.query("t.example", ident=9)
    first = F.ipv4(S, C, 6, F.tcp(53, 40000, 5001, framed[:1400]))
    frames = [(T0, F.ipv4(C, S, 6, F.tcp(40000, 53, 1000, b"", flags=0x02))),
              (T0 + 0.001, F.ipv4(S, C, 6, F.tcp(53, 40000, 5000, b"", flags=0x12))),
              (T0 + 0.002, F.ipv4(C, S, 6, F.tcp(40000, 53, 1001, len(q).to_bytes(2, "big") + q))),
              (T0 + 0.003, first),
              (T0 + 0.004, F.ipv4("192.0.2.1", S, 1, F.icmp4(3, 4, first[:28], mtu=1000))),
              (T0 + 0.005, F.ipv4(S, C, 6, F.tcp(53, 40000, 5001, framed[:900]))),
              (T0 + 0.006, F.ipv4(S, C, 6, F.tcp(53, 40000, 5901, framed[900:])))]
    a = analyze(_write(tmp_path, frames))
    row = a.transactions.iloc[0]
    assert bool(row["icmp_too_big"]) and row["outcome"] == "ok", row.to_dict()
    # the resent first 900 bytes: a retransmission, said alike by both engines (the tshark
    # engine said nothing: tshark's analysis calls such a segment "out-of-order")
    said = "1 retransmitted TCP segment(s) of DNS connections counted once"
    assert said in a.summary["warnings"]
    assert said in analyze(_write(tmp_path, frames), engine="tshark").summary["warnings"]


def test_a_big_datagram_a_router_refused_is_no_offload(tmp_path: Path) -> None:
    """A 1.7 KB answer crossed the capture's link whole and a router sent back
    fragmentation-needed quoting it: the path's evidence (a jumbo link before a smaller one),
    not offload -- no GRO/TSO sentence (it said "larger than any real MTU"). Without the
    error the sentence stays, naming jumbo frames too."""
    q = F.query(_name(7), ident=7, edns=4096)
    big = _udp(S, C, 53, 4007, F.response(_name(7), ident=7, records=30, edns=4096))
    assert len(big) > 1500
    frames = [(T0, _udp(C, S, 4007, 53, q)), (T0 + 0.01, big)]
    alone = analyze(_write(tmp_path, frames)).summary["warnings"]
    said = [w for w in alone if "GRO/TSO" in w]
    assert len(said) == 1 and "jumbo frames" in said[0] and "1500-byte Ethernet MTU" in said[0]
    refused = [*frames, (T0 + 0.011, F.ipv4("192.0.2.1", S, 1,
                                            F.icmp4(3, 4, big[:548], mtu=1400)))]
    assert not any("GRO/TSO" in w for w in analyze(_write(tmp_path, refused)).summary["warnings"])


@pytest.mark.parametrize("engine", ["native", "tshark"])
def test_a_lost_first_fragment_is_the_answer_its_question_was_waiting_for(
        tmp_path: Path, engine: str) -> None:
    """x asked and never answered; y asked 2 s later, its answer's first fragment lost (no
    ports to match), y retried and answered small. The lost set went to x -- "the latest one
    never answered" -- while y, still waiting when the set came, lost its first answer."""
    c6, s6 = "2001:db8::10", "2001:db8::53"

    def q6(sport: int, name: str, ident: int) -> bytes:
        return F.ipv6(c6, s6, 17, F.udp(sport, 53, F.query(name, ident=ident, edns=4096)))

    big = F.udp(53, 41001, F.response("y.example", ident=0xBBB, records=40, edns=4096))
    rest = F.fragments_v6(s6, c6, 17, big, 1232, ident=0x777)[1:]
    small = F.ipv6(s6, c6, 17, F.udp(53, 41001, F.response("y.example", ident=0xBBB,
                                                           edns=4096)))
    frames = [(T0, q6(41000, "x.example", 0xAAA)), (T0 + 2, q6(41001, "y.example", 0xBBB)),
              *[(T0 + 2.01 + k * 1e-4, p) for k, p in enumerate(rest)],
              (T0 + 2.5, q6(41001, "y.example", 0xBBB)), (T0 + 2.51, small)]
    t = analyze(_write(tmp_path, frames), engine=engine).transactions.set_index("qname")
    assert t.loc["x.example", "outcome"] == "unanswered"
    assert not t.loc["x.example", "first_answer_lost_in_fragments"]
    assert t.loc["y.example", "outcome"] == "ok"
    assert bool(t.loc["y.example", "first_answer_lost_in_fragments"])


def test_lost_fragments_of_other_traffic_are_not_dns_ones(tmp_path: Path) -> None:
    """Incomplete fragment sets whose first fragment shows UDP 40000 -> 9999 are another
    application's: they were counted as "datagrams with lost fragments" of a DNS capture.
    Counted apart and said; one on a port named with --port stays DNS."""
    from enumlab.capture import load_capture
    from enumlab.capture.transactions import build_transactions, summarize

    frames = [(T0, _udp(C, S, 4000, 53, F.query(_name(1), ident=1))),
              (T0 + 0.01, _udp(S, C, 53, 4000, F.response(_name(1), ident=1)))]
    for k, port in enumerate((9999, 9999, 8053)):
        junk = F.udp(40000 + k, port, bytes(600))
        first = F.fragments_v4("10.9.9.1", "10.9.9.2", 17, junk, 304, ident=100 + k)[0]
        frames.append((T0 + 1 + k, first))  # the rest never came
    path = _write(tmp_path, frames)
    for engine in ("native", "tshark"):  # (tshark shows a lone first fragment's bytes as data)
        s = analyze(path, engine=engine).summary
        assert s["lost_fragment_datagrams"] == 0, engine  # 8053 is not DNS without --port ...
        assert any(w.startswith("3 incomplete fragment set(s) of other traffic") for w in
                   s["warnings"]), engine
    tables = load_capture(path, ports=(8053,))  # ... and is with it
    with_port = summarize(tables, build_transactions(tables))
    assert with_port["lost_fragment_datagrams"] == 1
    assert any(w.startswith("2 incomplete fragment set(s) of other traffic") for w in
               with_port["warnings"])


def test_a_tc_answer_sent_twice_is_one_fallback(tmp_path: Path) -> None:
    """The client resent its query, the server answered both copies with TC=1, the client
    retried over TCP and got its answer: one fallback, seen from the client's side -- the
    second TC=1 answer was counted as a fallback "seen from the server side" too (its query
    is in the capture: it is no orphan)."""
    q = F.query(_name(9), ident=9)
    tc = F.response(_name(9), ident=9, tc=True)
    r = F.response(_name(9), ident=9, records=20)

    def tcp(t: float, src: str, dst: str, sp: int, dp: int, seq: int, data: bytes = b"",
            flags: int = 0x18) -> tuple[float, bytes]:
        return (t, F.ipv4(src, dst, 6, F.tcp(sp, dp, seq, data, flags=flags)))

    frames = [(T0, _udp(C, S, 4009, 53, q)), (T0 + 1, _udp(C, S, 4009, 53, q)),
              (T0 + 1.01, _udp(S, C, 53, 4009, tc)), (T0 + 1.02, _udp(S, C, 53, 4009, tc)),
              tcp(T0 + 1.1, C, S, 40009, 53, 100, flags=0x02),
              tcp(T0 + 1.11, S, C, 53, 40009, 500, flags=0x12),
              tcp(T0 + 1.12, C, S, 40009, 53, 101, len(q).to_bytes(2, "big") + q),
              tcp(T0 + 1.13, S, C, 53, 40009, 501, len(r).to_bytes(2, "big") + r)]
    for engine in ("native", "tshark"):
        s = analyze(_write(tmp_path, frames), engine=engine).summary
        assert s["tcp_fallback"]["ok"] == 1 and s["tcp_fallback"]["seen_from_server_side"] == 0
        assert s["outcomes"]["truncated_tcp_ok"] == 1, engine


@pytest.mark.parametrize("engine", ["native", "tshark"])
def test_a_tcp_retry_to_another_server_is_a_fallback(tmp_path: Path, engine: str) -> None:
    """TC=1 from one server; the client asks the same question over TCP of another one (its
    next server, an anycast address) and gets the answer: it did fall back -- it was
    "truncated_no_retry" ("the client never tried TCP"). Said in the icmp column."""
    other = "192.0.2.54"
    q = F.query(_name(3), ident=3)
    r = F.response(_name(3), ident=3, records=20)

    def tcp(t: float, src: str, dst: str, sp: int, dp: int, seq: int, data: bytes = b"",
            flags: int = 0x18) -> tuple[float, bytes]:
        return (t, F.ipv4(src, dst, 6, F.tcp(sp, dp, seq, data, flags=flags)))

    frames = [(T0, _udp(C, S, 4003, 53, q)),
              (T0 + 0.01, _udp(S, C, 53, 4003, F.response(_name(3), ident=3, tc=True))),
              tcp(T0 + 0.1, C, other, 40003, 53, 100, flags=0x02),
              tcp(T0 + 0.11, other, C, 53, 40003, 500, flags=0x12),
              tcp(T0 + 0.12, C, other, 40003, 53, 101, len(q).to_bytes(2, "big") + q),
              tcp(T0 + 0.13, other, C, 53, 40003, 501, len(r).to_bytes(2, "big") + r)]
    t = analyze(_write(tmp_path, frames), engine=engine).transactions
    udp = t[t["transport"] == "udp"].iloc[0]
    assert udp["outcome"] == "truncated_tcp_ok" and udp["tcp_fallback"] == "ok"
    assert udp["icmp"] == "tcp: retried over TCP to another server, answered"
    assert float(udp["fallback_latency_ms"]) == 120.0
    # the size budgets are UDP's: a TCP answer has none (they were True for its 1.1 KB)
    over = t[t["transport"] == "tcp"].iloc[0]
    for name in ("over_512", "over_1232", "over_path_1500", "over_offered"):
        assert pd.isna(over[name]), name


def test_a_tcp_retry_near_the_window_s_end_is_found_in_pieces(tmp_path: Path) -> None:
    """A TC=1 answer 5 ms after its query, the TCP retry 9.99 s after the answer and its
    answer 9.997 s after: within the fallback window of the answer, so ok -- read whole it
    was; in pieces the piece owning the query looked only the window past its own records
    (9.995 s after the TC answer), and called the retry failed."""
    from enumlab.capture.pieces import analyze_stream

    q = F.query(_name(5), ident=5)
    r = F.response(_name(5), ident=5, records=20)

    def tcp(t: float, src: str, dst: str, sp: int, dp: int, seq: int, data: bytes = b"",
            flags: int = 0x18) -> tuple[float, bytes]:
        return (t, F.ipv4(src, dst, 6, F.tcp(sp, dp, seq, data, flags=flags)))

    frames = [f for i in range(10) for f in (
        (T0 + 0.5 * i, _udp(C, S, 3000 + i, 53, F.query(_name(100 + i), ident=100 + i))),
        (T0 + 0.5 * i + 0.002, _udp(S, C, 53, 3000 + i, F.response(_name(100 + i),
                                                                     ident=100 + i))))]
    t = T0 + 10
    frames += [(t, _udp(C, S, 4005, 53, q)),
               (t + 0.005, _udp(S, C, 53, 4005, F.response(_name(5), ident=5, tc=True))),
               *[(t + 0.5 + 0.5 * i, _udp(C, S, 3100 + i, 53, F.query(_name(200 + i),
                                                                      ident=200 + i)))
                 for i in range(15)],
               tcp(t + 9.992, C, S, 40005, 53, 100, flags=0x02),
               tcp(t + 9.993, S, C, 53, 40005, 500, flags=0x12),
               tcp(t + 9.995, C, S, 40005, 53, 101, len(q).to_bytes(2, "big") + q),
               tcp(t + 10.002, S, C, 53, 40005, 501, len(r).to_bytes(2, "big") + r)]
    path = _write(tmp_path, frames)
    whole = analyze(path).summary
    assert whole["outcomes"]["truncated_tcp_ok"] == 1
    for k in (2, 3, 7):
        assert analyze_stream(path, piece_records=k, workers=1)["outcomes"] == \
            whole["outcomes"], k


@pytest.mark.parametrize("engine", ["native", "tshark"])
def test_a_transaction_keeps_its_opcode(tmp_path: Path, engine: str) -> None:
    """A NOTIFY (opcode 4, RFC 1996) and its answer beside a QUERY: both paired, told apart
    by the transaction's opcode (the tables had it per message only: a NOTIFY looked like a
    query for the zone's SOA)."""
    def notify(wire: bytes) -> bytes:
        return wire[:2] + bytes([(wire[2] & 0x87) | (4 << 3)]) + wire[3:]

    frames = [(T0, _udp(C, S, 4001, 53, notify(F.query("example.com", "SOA", ident=1)))),
              (T0 + 0.01, _udp(S, C, 53, 4001, notify(F.response("example.com", "SOA",
                                                                  ident=1, records=0)))),
              (T0 + 1, _udp(C, S, 4002, 53, F.query(_name(2), ident=2))),
              (T0 + 1.01, _udp(S, C, 53, 4002, F.response(_name(2), ident=2)))]
    t = analyze(_write(tmp_path, frames), engine=engine).transactions
    assert t["opcode"].tolist() == [4, 0] and t["outcome"].tolist() == ["ok", "ok"]
