"""The two capture engines -- native (numpy/numba) and tshark -- must produce identical tables,
every column, on every shipped capture and on captures built here by code (hypothesis): VLAN /
QinQ, Linux cooked v1/v2, raw IP, NULL; pcap and pcapng; IPv6 extension headers; fragments in
any order, duplicated or lost; TCP streams cut anywhere with several DNS messages per segment,
retransmitted and reordered segments; GTP-U; mDNS; malformed DNS.

Where the engines legitimately differ, the column is named here with the reason:
"""

from __future__ import annotations

import json
import os
import random
import struct
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from enumlab.capture import load_capture
from enumlab.capture.table import MESSAGE_COLUMNS

from . import frames as F
from .conftest import ROOT, require_tool

CAPTURES = ROOT / "data" / "captures"
LABELS = json.loads((CAPTURES / "labels.json").read_text())
# (table, column) -> why tshark cannot give the same value
TSHARK_CANNOT = {
    ("icmp", "quoted_sport"): "tshark does not dissect the transport header quoted inside an "
                              "ICMPv6 error when the quoted datagram is a first fragment",
    ("icmp", "quoted_dport"): "same as quoted_sport",
    ("icmp", "quoted_dns_id"): "same as quoted_sport",
}
# tshark lists the TCP segments a message was reassembled from only for the first DNS message
# of a packet; a later message of that packet whose bytes all came earlier (out of order) has
# no list, and tshark's first frame for it is the packet itself
LATER_IN_PACKET = "later message of a packet: tshark gives no segment list"
# and for the first message of a packet that completed several, tshark lists the segments of the
# packet's whole reassembly: when an out-of-order segment holding a later message's bytes came
# earlier, tshark's first frame for the first message is that segment, not where its bytes are
FIRST_IN_PACKET = "first message of a packet: tshark lists the whole reassembly's segments"


@pytest.fixture(autouse=True)
def _tshark() -> None:
    require_tool("tshark", "tshark")


def _values(frame: pd.DataFrame, column: str) -> list[Any]:
    col = frame[column]
    return [None if pd.isna(v) else v for v in col.astype(object).tolist()]


def compare(path: Path, ports: tuple[int, ...] = ()) -> None:
    native = load_capture(path, engine="native", ports=ports)
    oracle = load_capture(path, engine="tshark", ports=ports)
    assert native.total_frames == oracle.total_frames
    for table in ("messages", "fragments", "icmp", "tcp"):
        a, b = getattr(native, table), getattr(oracle, table)
        assert list(a.columns) == list(b.columns)
        assert len(a) == len(b), (table, a[["frame"]].to_dict("list"), b[["frame"]].to_dict(
            "list"))
        for column in a.columns:
            x, y = _values(a, column), _values(b, column)
            if (table, column) in TSHARK_CANNOT:
                assert all(v is None for v in y) or x == y
                continue
            if column == "time":
                assert all((u is None) == (v is None) and (u is None or abs(u - v) < 1e-6)
                           for u, v in zip(x, y, strict=True)), (table, column)
                continue
            if table == "messages" and column == "first_frame":
                later = a["frame"].duplicated().to_numpy()
                frame = _values(a, "frame")
                x = [u if not (later[i] and y[i] == frame[i]) else y[i] for i, u in enumerate(x)]
                # FIRST_IN_PACKET: the earliest segment of the packet's whole reassembly
                shared = a["frame"].duplicated(keep=False).to_numpy()
                lowest = a.groupby("frame")["first_frame"].transform("min").tolist()
                x = [y[i] if shared[i] and not later[i] and y[i] == lowest[i] else u
                     for i, u in enumerate(x)]
            if table == "messages" and column == "malformed":
                # the engines word the damage differently; both must see it
                x, y = [bool(v) for v in x], [bool(v) for v in y]
            if table == "messages" and column in ("captured_size", "qname_ok", "qname",
                                                  "qtype", "qclass"):
                bad = [i for i, v in enumerate(_values(a, "malformed")) if v]
                x = [v for i, v in enumerate(x) if i not in bad]
                y = [v for i, v in enumerate(y) if i not in bad]
            assert x == y, (table, column, [(i, u, v) for i, (u, v) in
                                            enumerate(zip(x, y, strict=True)) if u != v][:5])


@pytest.mark.parametrize("name", sorted(LABELS))
def test_engines_agree_on_every_shipped_capture(name: str) -> None:
    compare(CAPTURES / name, tuple(LABELS[name].get("ports", ())))


# -- captures built by code ------------------------------------------------------------------

CLIENT4, SERVER4 = "198.51.100.7", "192.0.2.53"
CLIENT6, SERVER6 = "2001:db8::7", "2001:db8:53::53"


def _framed(messages: list[bytes]) -> bytes:
    return b"".join(struct.pack("!H", len(m)) + m for m in messages)


def _cut(data: bytes, rng: random.Random, pieces: int) -> list[tuple[int, bytes]]:
    points = sorted(rng.sample(range(1, len(data)), min(pieces - 1, len(data) - 1)))
    bounds = [0, *points, len(data)]
    return [(bounds[i], data[bounds[i]:bounds[i + 1]]) for i in range(len(bounds) - 1)]


@st.composite
def scenarios(draw: Any) -> dict[str, Any]:
    return {
        "seed": draw(st.integers(0, 2**32 - 1)),
        "link": draw(st.sampled_from([F.ETHERNET, F.SLL, F.SLL2, F.RAW, F.NULL, F.LOOP,
                                      F.NFLOG])),
        "vlans": draw(st.sampled_from([(), (100,), (10, 20)])),
        "v6": draw(st.booleans()),
        "ext": draw(st.sampled_from([(), (0,), (0, 60)])),
        "format": draw(st.sampled_from(["pcap", "pcap-big-nano", "pcapng", "pcapng-big"])),
        "exchanges": draw(st.lists(st.sampled_from(["udp", "udp-big", "udp-lost", "tcp", "mdns",
                                                    "llmnr", "malformed", "gtpu", "gre",
                                                    "teredo"]),
                                   min_size=1, max_size=5)),
    }


def build(s: dict[str, Any], path: Path) -> None:
    rng = random.Random(s["seed"])
    v6 = s["v6"]
    client, server = (CLIENT6, SERVER6) if v6 else (CLIENT4, SERVER4)
    t = 1_700_000_000.0
    out: list[tuple[float, bytes]] = []

    def send(datagram: bytes, link: int | None = None) -> None:
        nonlocal t
        t += 0.001 * rng.randint(1, 50)
        out.append((t, F.link(datagram, s["link"] if link is None else link,
                              vlans=s["vlans"] if s["link"] == F.ETHERNET else (),
                              big="big" in s["format"])))

    def ipd(src: str, dst: str, proto: int, payload: bytes) -> bytes:
        return F.ipv6(src, dst, proto, payload, ext=s["ext"]) if v6 else F.ipv4(src, dst, proto,
                                                                                  payload)

    for n, kind in enumerate(s["exchanges"]):
        name = f"{n}.{rng.randint(0, 9)}.5.5.5.1.6.e164.arpa"
        ident = rng.randint(0, 65535)
        # a client's ephemeral port (RFC 6335 s6: 49152-65535): a registered port below it
        # can make tshark pick another dissector (2246 -> PacketCable, not LLMNR)
        port = rng.randint(49152, 65535)
        if kind in ("udp", "udp-big", "udp-lost"):
            records = 1 if kind == "udp" else rng.randint(25, 45)
            send(ipd(client, server, 17, F.udp(port, 53, F.query(name, ident=ident))))
            answer = F.udp(53, port, F.response(name, ident=ident, records=records, edns=4096))
            if kind == "udp":
                send(ipd(server, client, 17, answer))
                continue
            size = 8 * rng.randint(60, 180)
            pieces = (F.fragments_v6(server, client, 17, answer, size, ident=ident,
                                     ext=s["ext"][:1]) if v6 else
                      F.fragments_v4(server, client, 17, answer, size, ident=ident))
            rng.shuffle(pieces)
            if kind == "udp-lost":
                pieces.pop(rng.randrange(len(pieces)))
            elif rng.random() < 0.5:
                pieces.insert(rng.randrange(len(pieces) + 1), rng.choice(pieces))  # a duplicate
            for piece in pieces:
                send(piece)
        elif kind == "tcp":
            queries = [F.query(f"{k}.{name}", ident=(ident + k) % 65536)
                       for k in range(rng.randint(1, 3))]
            answers = [F.response(f"{k}.{name}", ident=(ident + k) % 65536,
                                  records=rng.randint(1, 12)) for k in range(len(queries))]
            cseq, sseq = rng.randint(0, 2**32 - 1), rng.randint(0, 2**32 - 1)
            send(ipd(client, server, 6, F.tcp(port, 53, cseq, flags=0x02)))
            send(ipd(server, client, 6, F.tcp(53, port, sseq, flags=0x12)))
            for direction, data, seq in ((0, _framed(queries), cseq + 1),
                                         (1, _framed(answers), sseq + 1)):
                segments = _cut(data, rng, rng.randint(1, 4))
                if len(segments) > 2 and rng.random() < 0.3:  # reordered in flight
                    segments[0], segments[1] = segments[1], segments[0]
                if rng.random() < 0.3:  # a retransmission
                    segments.append(rng.choice(segments))
                src, dst, sp, dp = ((client, server, port, 53) if direction == 0 else
                                    (server, client, 53, port))
                for off, piece in segments:
                    send(ipd(src, dst, 6, F.tcp(sp, dp, seq + off, piece)))
            send(ipd(client, server, 6, F.tcp(port, 53, cseq + 1 + len(_framed(queries)),
                                              flags=0x11)))
        elif kind == "mdns":
            group = "ff02::fb" if v6 else "224.0.0.251"
            send(ipd(client, group, 17, F.udp(5353, 5353, F.query(f"host{n}.local", "A",
                                                                   ident=0, edns=None))))
        elif kind == "llmnr":
            group = "ff02::1:3" if v6 else "224.0.0.252"
            send(ipd(client, group, 17, F.udp(port, 5355, F.query(f"host{n}", "A", ident=ident,
                                                                   edns=None))))
        elif kind == "gre":
            inner = F.ipv4("10.45.0.2", SERVER4, 17, F.udp(port, 53, F.query(name, ident=ident)))
            send(ipd(client, server, 47, F.gre(inner, key=0xBEEF)))
        elif kind == "teredo":
            inner = F.ipv6("2001::4136:e378:8000:63bf", "2001:db8::53", 17,
                           F.udp(port, 53, F.query(name, ident=ident)))
            send(F.ipv4("192.0.2.1", "198.51.100.9", 17, F.udp(3544, 3544, F.teredo(inner))))
        elif kind == "malformed":
            broken = F.query(name, ident=ident)[:rng.randint(13, 25)]
            send(ipd(client, server, 17, F.udp(port, 53, broken)))
        elif kind == "gtpu":  # an IPv4 GTP-U tunnel whatever the family of the rest
            inner = F.ipv4("10.45.0.2", SERVER4, 17, F.udp(port, 53, F.query(name, ident=ident)))
            send(F.ipv4("172.16.0.1", "172.16.0.2", 17, F.udp(2152, 2152, F.gtpu(0x1234, inner))))
    fmt = s["format"]
    if fmt.startswith("pcapng"):
        data = F.pcapng([(ts, 0, frame) for ts, frame in out], [s["link"]],
                        big=fmt.endswith("big"))
    else:
        data = F.pcap(out, s["link"], big="big" in fmt, nano="nano" in fmt)
    path.write_bytes(data)


EXAMPLES = int(os.environ.get("ENUMLAB_EXAMPLES", "30"))  # more: ENUMLAB_EXAMPLES=300


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
# NFLOG in a big-endian file: its TLV headers follow the file's byte order (found by hypothesis)
@example(scenario={"seed": 0, "link": F.NFLOG, "vlans": (), "v6": False, "ext": (),
                   "format": "pcap-big-nano", "exchanges": ["udp"]})
@example(scenario={"seed": 3, "link": F.NFLOG, "vlans": (), "v6": True, "ext": (),
                   "format": "pcapng-big", "exchanges": ["udp", "mdns"]})
def test_engines_agree_on_captures_built_by_code(scenario: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "built.cap"
    build(scenario, path)
    compare(path)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
def test_compiled_kernels_agree_with_the_interpreter_on_captures_built_by_code(
        scenario: dict[str, Any], tmp_path: Path) -> None:
    """The compiled walk + decode kernel (one pass per block, two threads; blocks of 1-4
    records here, so the second stage is fed many batches), hash-table factorisation and
    counting sort give the interpreted engine's tables and transactions (one block) on
    everything the builder makes (a small capture is interpreted by default: forced here)."""
    import enumlab.capture.columns
    import enumlab.capture.native as native
    from enumlab.capture.transactions import build_transactions

    path = tmp_path / "built.cap"
    build(scenario, path)
    tables = {}
    for jit, min_rows in ((True, 0), (False, 1 << 62)):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(enumlab.capture.columns, "HASH_MIN_ROWS", min_rows)
            if jit:  # and blocks of a few records: the second stage fed block by block
                mp.setattr(native, "BLOCK", 1 + scenario["seed"] % 4)
            try:
                t = load_capture(path, engine="native", jit=jit)
            except Exception as exc:  # the same typed error both ways
                tables[jit] = repr(exc)
                continue
            tables[jit] = (t, build_transactions(t) if t.rows("messages") else None)
    compiled, interpreted = tables[True], tables[False]
    if isinstance(compiled, str) or isinstance(interpreted, str):
        assert compiled == interpreted
        return
    for name in ("messages", "fragments", "icmp", "tcp"):
        pd.testing.assert_frame_equal(getattr(compiled[0], name), getattr(interpreted[0], name))
    if compiled[1] is not None:
        pd.testing.assert_frame_equal(compiled[1], interpreted[1])


def test_every_message_on_the_wire_is_counted_once(tmp_path: Path) -> None:
    """Three pipelined queries in one segment, answers across segments, a retransmission and
    an out-of-order segment: six messages, each once (the per-packet export saw 2)."""
    scenario = {"seed": 7, "link": F.ETHERNET, "vlans": (10, 20), "v6": False, "ext": (),
                "format": "pcap", "exchanges": ["tcp"] * 4}
    build(scenario, tmp_path / "tcp.pcap")
    tables = load_capture(tmp_path / "tcp.pcap", engine="native")
    m = tables.messages
    assert (m["transport"] == "tcp").all()
    queries, answers = m[~m["qr"]], m[m["qr"]]
    assert len(queries) == len(answers)
    assert not m.duplicated(["qname", "qr"]).any()  # no message twice
    assert list(MESSAGE_COLUMNS) == list(m.columns)


pairing_events = st.lists(st.tuples(
    st.sampled_from(["query", "answer"]), st.integers(0, 2), st.integers(0, 2),
    st.integers(0, 3), st.integers(0, 2), st.sampled_from(["A", "NAPTR"]),
    st.sampled_from([0.001, 0.2, 1.5, 4.0, -0.5])), min_size=1, max_size=40)


@settings(max_examples=EXAMPLES * 3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=pairing_events)
# an answer to another question between a query and its own answer, on the same port
@example(events=[("query", 0, 0, 0, 0, "A", 0.001), ("answer", 0, 0, 1, 1, "A", 0.001),
                 ("answer", 0, 0, 0, 0, "A", 0.001)])
def test_compiled_pairing_equals_the_numpy_pairing(events: list[tuple[Any, ...]],
                                                   tmp_path: Path) -> None:
    """Pairing's compiled passes (question keys packed, each key group's queries and answers
    counted) give the numpy path's transactions on messages built to hit every rule: queries
    retried from the same or another port, answers twice, answers with no query, answers on
    the wrong port, out of time order (a capture's clock stepping back), several clients."""
    import enumlab.capture.columns
    import enumlab.capture.transactions as dt_module
    from enumlab.capture.jit import import_numba
    from enumlab.capture.transactions import build_transactions

    import_numba()  # the compiled passes run where numba is loaded (a big capture loads it)
    t = 1_700_000_000.0
    out = []
    for kind, client, port, ident, name, qtype, dt in events:
        t += dt
        addr = f"198.51.100.{10 + client}"
        sport = 50000 + port
        qname = f"n{name}.example.net"
        if kind == "query":
            dgram = F.ipv4(addr, SERVER4, 17, F.udp(sport, 53, F.query(qname, qtype,
                                                                       ident=ident)))
        else:
            dgram = F.ipv4(SERVER4, addr, 17, F.udp(53, sport, F.response(qname, qtype,
                                                                          ident=ident)))
        out.append((t, F.link(dgram, F.ETHERNET)))
    path = tmp_path / "pairing.pcap"
    path.write_bytes(F.pcap(out, F.ETHERNET))
    made, used = [], []

    def noted(fn: Any, rows: int) -> Any:
        got = enumlab.capture.columns.compiled_when_many(fn, rows)
        used.append((fn.__name__, got is not None))
        return got

    for rows in (0, 1 << 62):  # compiled from the first row; numpy always
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(enumlab.capture.columns, "HASH_MIN_ROWS", rows)
            mp.setattr(dt_module, "compiled_when_many", noted)
            made.append(build_transactions(load_capture(path, engine="native", jit=False)))
    pd.testing.assert_frame_equal(made[0], made[1])
    if made[0].shape[0]:
        assert ("group_counts", True) in used and ("group_counts", False) in used
    # and each pair is a question and its answer: same id, name and type, ports mirrored
    messages = load_capture(path, engine="native", jit=False).messages.set_index("frame")
    pairs = made[0].dropna(subset=["response_frame"])
    q = messages.loc[pairs["query_frame"].astype(int)].reset_index()
    r = messages.loc[pairs["response_frame"].astype(int)].reset_index()
    for mine, theirs in (("dns_id", "dns_id"), ("qname", "qname"), ("qtype", "qtype"),
                         ("src", "dst"), ("sport", "dport"), ("dport", "sport")):
        assert q[mine].astype(str).tolist() == r[theirs].astype(str).tolist()
    assert not q["qr"].any() and r["qr"].all()
