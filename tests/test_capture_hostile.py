"""The native engine's packet and stream layers on hostile and odd input (issues 25, 29): each
case from its own minimal capture built by code, asserting the counts or the note it must give
-- never a traceback, never a silently wrong label -- compiled and interpreted alike."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from enumlab.capture import NoDnsMessagesError, load_capture

from . import frames as F

C, S = "198.51.100.7", "192.0.2.53"
JIT = [pytest.param(False, id="interpreted"), pytest.param(True, id="compiled")]


def _raw_query(labels: list[bytes], ident: int, qtype: int = 35) -> bytes:
    name = b"".join(bytes([len(x)]) + x for x in labels) + b"\0"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + name + struct.pack("!HH",
                                                                                  qtype, 1)


def _udp_frame(t: float, payload: bytes, sport: int = 3000) -> tuple[float, bytes]:
    return t, F.link(F.ipv4(C, S, 17, F.udp(sport, 53, payload)), F.ETHERNET)


def _tcp_frame(t: float, seq: int, payload: bytes = b"", *, flags: int = 0x18,
               sport: int = 4000) -> tuple[float, bytes]:
    return t, F.link(F.ipv4(C, S, 6, F.tcp(sport, 53, seq, payload, flags=flags)), F.ETHERNET)


def _load(tmp_path: Path, frames: list[tuple[float, bytes]], jit: bool, name: str = "c.pcap",
          link: int = F.ETHERNET) -> Any:
    path = tmp_path / name
    path.write_bytes(F.pcap(frames, link))
    return load_capture(path, engine="native", jit=jit)


@pytest.mark.parametrize("jit", JIT)
def test_a_newline_inside_a_label_is_data_not_a_separator(tmp_path: Path, jit: bool) -> None:
    """Issue 29: a QNAME label holding 0x0A shifted every later name by one (the names blob was
    split on newlines). Names are bytes: each message keeps its own, escaped as dig does."""
    frames = [_udp_frame(1.0, _raw_query([b"a\nb", b"example"], 1)),
              _udp_frame(2.0, _raw_query([b"victim", b"example"], 2)),
              _udp_frame(3.0, _raw_query([b"c.d", b"example"], 3)),
              _udp_frame(4.0, _raw_query([b"victim", b"example"], 4))]
    # a DNS-over-TCP message in the same file (once a ValueError traceback)
    framed = _raw_query([b"tcp\n", b"example"], 9)
    frames += [_tcp_frame(5.0, 100, flags=0x02),
               _tcp_frame(5.1, 101, len(framed).to_bytes(2, "big") + framed)]
    tables = _load(tmp_path, frames, jit)
    m = tables.messages.sort_values("frame")
    assert list(m["qname"].astype(str)) == ["a\\010b.example", "victim.example",
                                            "c\\.d.example", "victim.example",
                                            "tcp\\010.example"]
    assert list(m["dns_id"]) == [1, 2, 3, 4, 9]


@pytest.mark.parametrize("jit", JIT)
@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_fragments_reassembling_past_65535_bytes_are_a_malformed_set(tmp_path: Path, jit: bool,
                                                                     v6: bool) -> None:
    """Issue 29: a struct.error traceback (rebuild_ipv4 / rebuild_ipv6) once; now a malformed
    fragment set, said, and the rest of the capture read."""
    answer = F.response("big.example", records=1)
    big = struct.pack("!HHHH", 53, 3000, 0, 0) + answer + b"\0" * (66_000 - len(answer))
    pieces = (F.fragments_v6(S.replace("192.0.2.53", "2001:db8::53"), "2001:db8::7", 17, big,
                             1448) if v6 else F.fragments_v4(S, C, 17, big, 1480))
    frames = [_udp_frame(1.0, F.query("ok.example"))]
    frames += [(2.0 + k / 100, F.link(d, F.ETHERNET)) for k, d in enumerate(pieces)]
    tables = _load(tmp_path, frames, jit)
    assert len(tables.messages) == 1
    assert any("reassemble past 65,535 bytes" in w for w in tables.warnings)
    assert len(tables.fragments) == len(pieces) and not tables.fragments["complete"].any()


def _idb(e: str, options: bytes, link: int = F.ETHERNET) -> bytes:
    return F._block(e, 1, struct.pack(e + "HHI", link, 0, 262144) + options)


def _shb(e: str = "<") -> bytes:
    return F._block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def _epb(e: str, iface: int, ticks: int, data: bytes) -> bytes:
    return F._block(e, 6, struct.pack(e + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF,
                                      len(data), len(data)) + data)


def _query_frame(ident: int = 1) -> bytes:
    return _udp_frame(0, F.query(f"{ident}.example", ident=ident))[1]


@pytest.mark.parametrize("jit", JIT)
def test_pcapng_option_header_with_no_room_for_its_value(tmp_path: Path, jit: bool) -> None:
    """Issue 29: struct.error in files.py _idb once; the option is said, the packets read."""
    bad_option = struct.pack("<HH", 14, 400)  # if_tsoffset claiming 400 bytes in a 28-byte IDB
    path = tmp_path / "opt.pcapng"
    path.write_bytes(_shb() + _idb("<", bad_option) + _epb("<", 0, 10**6, _query_frame()))
    tables = load_capture(path, engine="native", jit=jit)
    assert len(tables.messages) == 1
    assert any("option 14" in w and "past the end of its block" in w for w in tables.warnings)


@pytest.mark.parametrize("jit", JIT)
def test_many_interfaces_are_one_pass(tmp_path: Path, jit: bool) -> None:
    """Issue 29: each IDB re-ran the record kernel with five fresh 1 M-record arrays (120 IDBs:
    MemoryError under a 4 GB limit; 100,000: quadratic). IDBs interleaved with packets and in
    one run: every packet read, on the interface it names."""
    import tracemalloc

    from enumlab.capture.files import open_capture

    blocks = [_shb()]
    for k in range(3000):
        blocks.append(_idb("<", b""))
        blocks.append(_epb("<", k, (k + 1) * 10**6, _query_frame(k % 60000)))
    blocks += [_idb("<", b"") for _ in range(3000)]
    blocks.append(_epb("<", 5999, 3001 * 10**6, _query_frame(7)))  # (time runs on)
    path = tmp_path / "idbs.pcapng"
    path.write_bytes(b"".join(blocks))
    # numba's one-time set-up (its registries import scipy.linalg, f2py...: ~20 MB of Python
    # objects) happens before the measure, as it has in any process that decoded before
    open_capture(path, jit=jit).close()
    tracemalloc.start()
    try:
        index = open_capture(path, jit=jit)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert index.frames == 3001 and len(index.interfaces) == 6000
    assert list(index.iface[[0, 1, 2999, 3000]]) == [0, 1, 2999, 5999]
    index.close()
    assert peak < 100 << 20  # one 1 M-record scratch (40 MB), not one per IDB
    tables = load_capture(path, engine="native", jit=jit)
    assert len(tables.messages) == 3001 and not tables.warnings


@pytest.mark.parametrize("jit", JIT)
@pytest.mark.parametrize("offset", [2**62, -2**62])
def test_an_absurd_if_tsoffset_is_said_and_outputs_hold(tmp_path: Path, jit: bool,
                                                        offset: int) -> None:
    """Issue 29: if_tsoffset of +-2^62 s (legal) gave OutOfBoundsDatetime with --csv / --html /
    --parquet; now ignored and said, and the times stay real dates."""
    import pandas as pd

    opt = struct.pack("<HHq", 14, 8, offset) + struct.pack("<HH", 0, 0)
    far = struct.pack("<HHq", 9, 1, 0)[:5] + b"\0\0\0"  # if_tsresol 10^0: seconds
    path = tmp_path / "offset.pcapng"
    path.write_bytes(_shb() + _idb("<", opt) + _epb("<", 0, 1_700_000_000 * 10**6,
                                                     _query_frame())
                     + _idb("<", far + struct.pack("<HH", 0, 0))
                     + _epb("<", 1, 2**63, _query_frame(2)))
    tables = load_capture(path, engine="native", jit=jit)
    assert len(tables.messages) == 2
    assert any("if_tsoffset" in w and "ignored" in w for w in tables.warnings)
    assert any("beyond 1677-2262" in w for w in tables.warnings)
    times = pd.to_datetime(tables.messages["time"], unit="s")  # no OutOfBoundsDatetime
    assert times.iloc[0].year == 2023 and pd.isna(times.iloc[1])


@pytest.mark.parametrize("jit", JIT)
@pytest.mark.parametrize("which", ["packet", "idb"])
def test_pcapng_block_trailer_is_compared_with_its_header(tmp_path: Path, jit: bool,
                                                          which: str) -> None:
    """Issue 29: the trailing block length was never compared (tshark reports the mismatch);
    now the walk stops there, says so, and keeps what came before."""
    blocks = [_shb(), _idb("<", b"")] + [_epb("<", 0, k * 10**6, _query_frame(k))
                                        for k in range(1, 4)]
    bad = 3 if which == "packet" else 1
    spoilt = bytearray(blocks[bad])
    spoilt[-4:] = struct.pack("<I", len(spoilt) + 8)
    blocks[bad] = bytes(spoilt)
    path = tmp_path / "trailer.pcapng"
    path.write_bytes(b"".join(blocks))
    at = sum(len(b) for b in blocks[:bad])
    if which == "idb":
        with pytest.raises(Exception, match="trailing length differs"):
            load_capture(path, engine="native", jit=jit)
        return
    tables = load_capture(path, engine="native", jit=jit)
    assert len(tables.messages) == 1
    assert f"trailing length differs from the length in its header ({len(spoilt) + 8} vs " \
           f"{len(spoilt)}) at byte {at}" in tables.warnings[0]


@pytest.mark.parametrize("jit", JIT)
def test_questions_pointing_at_one_long_name_cost_their_own_bytes(tmp_path: Path,
                                                                  jit: bool) -> None:
    """Issue 29: ~10,800 questions that are compression pointers to one 255-byte name, in a
    message: the interpreted path walked the 255 bytes per question (16 such messages: > 60
    s). Later questions are stepped over (a pointer ends a name), so a message costs its size;
    the first question is still followed and hashed."""
    labels = [b"x" * 63] * 3 + [b"y" * 61]  # 4 * 64 - 1 = 255 bytes with the root
    name = b"".join(bytes([len(x)]) + x for x in labels) + b"\0"
    count = 10_800
    body = name + struct.pack("!HH", 35, 1)
    body += (struct.pack("!H", 0xC000 | 12) + struct.pack("!HH", 35, 1)) * (count - 1)
    frames = []
    for k in range(4):
        msg = struct.pack("!HHHHHH", k, 0x0100, count, 0, 0, 0) + body
        frames.append((1.0 + k, F.link(F.ipv4(C, S, 17, F.udp(3000 + k, 53, msg)),
                                       F.ETHERNET)))
    tables = _load(tmp_path, frames, jit)
    m = tables.messages
    assert len(m) == 4 and (m["qdcount"] == count).all()
    # every record read; flagged only for its 10,800 questions in a QUERY (RFC 9619)
    assert (m["malformed"].astype(str).str.startswith("more than one question")).all()
    assert (m["qname"].astype(str) == ".".join(x.decode() for x in labels)).all()


def test_a_small_capture_padded_with_zeros_falls_back_fast(tmp_path: Path) -> None:
    """Issue 29: one 46-byte record of a link type read by tshark, then zeros past 4 MiB:
    tshark read the zeros as 260,000 empty records (25 s). tshark now reads only the bytes
    before the damage the native walk found, and the damage is said."""
    from .conftest import require_tool

    require_tool("tshark", "tshark")
    packet = F.ipv4(C, S, 17, F.udp(3000, 53, F.query("a.example")))[:46]
    data = F.pcap([(1.0, packet)], 147)
    path = tmp_path / "padded.pcap"
    path.write_bytes(data + b"\0" * ((4 << 20) + 100 - len(data)))
    with pytest.raises(NoDnsMessagesError) as caught:  # nothing usable, and why (exit 1)
        load_capture(path)
    assert "read by tshark" in str(caught.value) and "zero-filled" in str(caught.value)
    tables = caught.value.tables  # what was read is kept
    assert tables.engine == "tshark" and tables.path == str(path)
    assert "147" in tables.warnings[0] and "read by tshark" in tables.warnings[0]
    assert any("zero-filled" in w and f"at byte {len(data)}" in w for w in tables.warnings)
    assert not any("enumlab-" in w for w in tables.warnings)  # the temporary copy unnamed


# -- DNS over TCP: reassembly and framing (compiled; the same code interpreted) ---------------

def _framed(names: list[str], first_id: int = 0) -> bytes:
    msgs = [F.query(n, ident=first_id + k) for k, n in enumerate(names)]
    return b"".join(len(m).to_bytes(2, "big") + m for m in msgs)


@pytest.mark.parametrize("jit", JIT)
def test_one_byte_segments_in_reverse_order_are_reassembled(tmp_path: Path, jit: bool) -> None:
    """Issue 29: 64,000 one-byte segments in reverse order took 50 s (the pending list was
    rescanned after each delivery); they wait in a heap now (linear in segments up to a log).
    Every message is decoded, completed by the frame that brought the first byte (the last
    to arrive)."""
    blob = _framed([f"{k}.rev.example" for k in range(60)])
    frames = [_tcp_frame(1.0, 999, flags=0x02)]
    frames += [_tcp_frame(2.0 + k / 1e5, 1000 + at, blob[at:at + 1])
               for k, at in enumerate(range(len(blob) - 1, -1, -1))]
    tables = _load(tmp_path, frames, jit)
    m = tables.messages
    assert list(m["dns_id"]) == list(range(60)) and (m["frame"] == len(frames)).all()
    assert list(m["qname"].astype(str)) == [f"{k}.rev.example" for k in range(60)]
    assert not tables.warnings


@pytest.mark.parametrize("jit", JIT)
def test_segments_of_zeros_are_counted_not_listed(tmp_path: Path, jit: bool) -> None:
    """Issue 29: 60 segments of zeros (3.9 MB) made 1.95 M empty messages (34.5 s, 1.2 GB);
    zero-length messages are counted in a note, with no row each."""
    frames = [_tcp_frame(1.0, 999, flags=0x02)]
    frames += [_tcp_frame(2.0 + k, 1000 + 1000 * k, b"\0" * 1000) for k in range(10)]
    blob = _framed(["after.zeros.example"])
    frames.append(_tcp_frame(20.0, 1000 + 10_000, blob))
    tables = _load(tmp_path, frames, jit)
    assert list(tables.messages["qname"].astype(str)) == ["after.zeros.example"]
    assert any("5,000 zero-length message(s)" in w for w in tables.warnings)


@pytest.mark.parametrize("jit", JIT)
def test_after_a_gap_framing_resumes_at_the_next_plausible_message(tmp_path: Path,
                                                                   jit: bool) -> None:
    """Issue 25 item 6: after a gap that never fills, the stream is decoded again from the
    next plausible message boundary (length prefix + header + question that parse); the gap
    and the bytes skipped are counted, never silent."""
    names = [f"m{k:02d}.gap.example" for k in range(12)]
    blob = _framed(names)
    size = len(blob) // 12  # every message the same length here
    cut_from, cut_to = 3 * size + 7, 5 * size + 20  # from inside message 3 to inside message 5
    frames = [_tcp_frame(1.0, 999, flags=0x02),
              _tcp_frame(2.0, 1000, blob[:cut_from]),
              _tcp_frame(3.0, 1000 + cut_to, blob[cut_to:])]
    tables = _load(tmp_path, frames, jit)
    got = list(tables.messages["qname"].astype(str))
    assert got == names[:3] + names[6:]
    note = next(w for w in tables.warnings if "missing at stream offset" in w)
    skipped = (3 * size + 7 - 3 * size) + (6 * size - cut_to)  # message 3's head, 5's tail
    assert f"{cut_to - cut_from} byte(s) missing at stream offset {cut_from}" in note
    assert f"{skipped} byte(s) around the gap not decoded" in note


def _segments(items: list[tuple[int, int, int, bytes]], key: int = 1) -> Any:
    """Segments of one direction: (row, seq, flags, payload)."""
    import numpy as np

    from enumlab.capture.tcp import Segments

    n = len(items)
    length = np.array([len(p) for *_r, p in items], dtype=np.int64)
    keys = np.zeros((n, 38), dtype=np.uint8)
    keys[:, 0], keys[:, 1], keys[:, 36] = 4, key, 53
    return Segments(np.array([r for r, *_ in items], dtype=np.int64), keys,
                    np.array([s for _r, s, *_ in items], dtype=np.int64),
                    np.array([f for _r, _s, f, _p in items], dtype=np.int64),
                    np.cumsum(length) - length, length,
                    np.frombuffer(b"".join(p for *_r, p in items), dtype=np.uint8))


@pytest.mark.parametrize("jit", JIT)
@pytest.mark.parametrize("cut", [1, 2, 3, 5, 8])
def test_streams_fed_in_batches_give_what_one_batch_gives(jit: bool, cut: int) -> None:
    """A capture read in pieces: each batch carries only its streams' unframed bytes and the
    segments waiting behind a gap; the messages (bytes, rows) are those of one batch."""
    from enumlab.capture.tcp import Reassembler

    blob = _framed([f"b{k}.example" for k in range(5)])
    chunks = [(k, blob[k * 17:(k + 1) * 17]) for k in range(len(blob) // 17 + 1)]
    order = chunks[::2] + chunks[1::2]  # evens first: gaps that fill later
    items = [(0, 99, 0x02, b"")] + [(r + 1, 100 + k * 17, 0x18, data)
                                    for r, (k, data) in enumerate(order) if data]

    def run(batches: list[list[Any]]) -> list[tuple[bytes, int, int]]:
        streams = Reassembler(jit=jit)
        out = []
        for b in batches:
            done = streams.feed(_segments(b))
            out += [(done.data[o:o + n].tobytes(), f, la) for o, n, f, la in zip(
                done.offset, done.length, done.first_row, done.last_row, strict=True)]
        done, result = streams.close()
        assert not result.notes and not len(done)
        return out

    whole = run([items])
    assert [m for m, *_ in whole] == [F.query(f"b{k}.example", ident=k) for k in range(5)]
    assert run([items[:cut], items[cut:]]) == whole
    assert run([[x] for x in items]) == whole


@pytest.mark.parametrize("jit", JIT)
def test_too_much_waiting_behind_a_gap_skips_it(jit: bool) -> None:
    """The cap on bytes waiting out of order per stream: past it, the gap is skipped (said)
    and framing resumes after it, so one lost segment holds no stream's bytes for ever."""
    from enumlab.capture.tcp import Reassembler

    blob = _framed([f"c{k:02d}.example" for k in range(40)])  # 40 messages of one size
    size = len(blob) // 40
    items = [(0, 99, 0x02, b""), (1, 100, 0x18, blob[:size])]  # message 0, then a gap
    items += [(2 + k, 100 + 2 * size + k * size, 0x18, blob[(2 + k) * size:(3 + k) * size])
              for k in range(38)]
    streams = Reassembler(jit=jit, max_pending=10 * size)
    done = streams.feed(_segments(items))
    assert len(done) == 1 + 38  # all but the lost one
    # the 11th waiting segment (row 12) passed the cap: the 11 delivered with it
    assert list(done.last_row[1:13]) == [12] * 11 + [13]
    assert list(done.first_row[1:13]) == list(range(2, 14))
    done, result = streams.close()
    assert len(done) == 0 and "missing at stream offset" in result.notes[0]


# -- encapsulations (issue 25 item 4) ----------------------------------------------------------

def _vxlan(inner_eth: bytes, vni: int, port: int = 4789) -> bytes:
    """An outer IPv4/UDP datagram carrying VXLAN (RFC 7348 s5) around an Ethernet frame."""
    head = struct.pack("!BBHI", 0x08, 0, 0, vni << 8)
    return F.ipv4("203.0.113.1", "203.0.113.2", 17, F.udp(49152, port, head + inner_eth))


def _gre_ppp(inner_ip: bytes, *, compressed: bool = False) -> bytes:
    """Enhanced GRE (RFC 2637 s4.1: version 1, key = payload length + call id, sequence)
    carrying PPP; ``compressed``: no address/control, a one-byte protocol field."""
    ppp = (b"" if compressed else b"\xff\x03") + (
        (b"\x21" if compressed else b"\x00\x21") if inner_ip[0] >> 4 == 4 else b"\x00\x57")
    body = ppp + inner_ip
    head = struct.pack("!HHHHII", 0x3081, 0x880B, len(body), 7, 42, 41)  # K, S, A, version 1
    return F.ipv4("203.0.113.1", "203.0.113.2", 47, head + body)


@pytest.mark.parametrize("jit", JIT)
def test_vxlan_and_ppp_in_gre_are_decoded(tmp_path: Path, jit: bool) -> None:
    q = F.query("tunnel.example", ident=5)
    inner4 = F.ipv4(C, S, 17, F.udp(3000, 53, q))
    inner6 = F.ipv6("2001:db8::7", "2001:db8::53", 17, F.udp(3001, 53, q))
    frames = [(1.0, F.link(_vxlan(F.link(inner4, F.ETHERNET, vlans=[12]), 1234), F.ETHERNET)),
              (2.0, F.link(_gre_ppp(inner4), F.ETHERNET)),
              (3.0, F.link(_gre_ppp(inner4, compressed=True), F.ETHERNET)),
              (4.0, F.link(_gre_ppp(inner6), F.ETHERNET)),
              (5.0, F.link(_vxlan(F.link(inner4, F.ETHERNET), 9, port=8472), F.ETHERNET))]
    tables = _load(tmp_path, frames, jit)
    m = tables.messages
    assert list(m["frame"]) == [1, 2, 3, 4] and (m["qname"].astype(str) == "tunnel.example").all()
    assert list(m["encapsulation"].astype(str)) == ["vxlan", "gre", "gre", "gre"]
    assert m["tunnel_id"].iloc[0] == 1234
    assert list(m["sport"]) == [3000, 3000, 3000, 3001]
    path = tmp_path / "c.pcap"  # VXLAN on another port, named
    again = load_capture(path, engine="native", jit=jit, vxlan_ports=(4789, 8472))
    assert list(again.messages["frame"]) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("jit", JIT)
def test_an_encapsulation_not_opened_is_counted_and_named(tmp_path: Path, jit: bool) -> None:
    """ERSPAN type III (GRE 0x22EB) around DNS: never a hint about --port; counted and named;
    with --engine auto the capture goes to tshark, saying so."""
    q = F.link(F.ipv4(C, S, 17, F.udp(3000, 53, F.query("mirrored.example"))), F.ETHERNET)
    erspan = F.ipv4("203.0.113.1", "203.0.113.2", 47,
                    struct.pack("!HH", 0x1000, 0x22EB) + struct.pack("!I", 1)
                    + b"\0" * 12 + q)
    frames = [(1.0 + k, F.link(erspan, F.ETHERNET)) for k in range(3)]
    path = tmp_path / "erspan.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    with pytest.raises(NoDnsMessagesError) as caught:  # nothing usable, and why (exit 1)
        load_capture(path, engine="native", jit=jit)
    assert "ERSPAN type III" in str(caught.value) and "--port" not in str(caught.value)
    tables = caught.value.tables
    assert tables.rows("messages") == 0
    assert tables.undecoded_tunnels == {"ERSPAN type III": 3}
    assert tables.warnings == ["3 frame(s) of ERSPAN type III not decoded (an encapsulation "
                               "the native decoder does not open)"]
    assert not any("--port" in w for w in tables.warnings)
    assert tables.warning_frames == [1]  # the first frame of it
    # in pieces (auto's path for big files) it is not handed to tshark: said, with the way
    from enumlab.capture.pieces import analyze_stream

    with pytest.raises(NoDnsMessagesError, match="read in pieces, it was not handed to "
                       "tshark: --engine tshark reads the capture in memory"):
        analyze_stream(path, piece_records=2, workers=1, jit=jit)
    from .conftest import require_tool

    require_tool("tshark", "tshark")
    with pytest.raises(NoDnsMessagesError) as caught:  # tshark does not open it either
        load_capture(path)
    auto = caught.value.tables
    assert auto.engine == "tshark"
    assert auto.warnings[0] == ("3 frame(s) of ERSPAN type III not decoded natively: the "
                                "capture was read by tshark")


@pytest.mark.parametrize("jit", JIT)
def test_a_port_alone_is_no_tunnel(tmp_path: Path, jit: bool) -> None:
    """NTP whose client port happens to be 1701, 4790, 6081 or 6635: no tunnel (it was
    "2 frame(s) of L2TP (UDP 1701) ... not decoded" and auto sent the whole capture to
    tshark); the real headers on those ports are still named. ERSPAN with no sequence
    number is type I (GRE 0x88BE, it was called type II)."""
    ntp = b"\x23\x02" + b"\0" * 46  # client mode, stratum 2
    q = F.link(F.ipv4(C, S, 17, F.udp(3000, 53, F.query("t.example"))), F.ETHERNET)
    frames = []
    for k, port in enumerate((1701, 4790, 6081, 6635)):
        frames += [(1.0 + k, F.link(F.ipv4(C, "192.0.2.123", 17, F.udp(port, 123, ntp)),
                                    F.ETHERNET)),
                   (1.5 + k, F.link(F.ipv4("192.0.2.123", C, 17, F.udp(123, port, ntp)),
                                    F.ETHERNET))]
    frames.append((9.0, F.link(F.ipv4(C, S, 17, F.udp(3000, 53, F.query("t.example"))),
                               F.ETHERNET)))
    tables = _load(tmp_path, frames, jit)
    assert tables.undecoded_tunnels == {} and tables.warnings == []
    # the real headers: Geneve (version 0, Ethernet), L2TPv2 data, ERSPAN I and II
    geneve = F.ipv4("203.0.113.1", "203.0.113.2", 17,
                    F.udp(50000, 6081, struct.pack("!BBHI", 0, 0, 0x6558, 7 << 8) + q))
    l2tp = F.ipv4("203.0.113.1", "203.0.113.2", 17,
                  F.udp(1701, 1701, struct.pack("!BBHH", 0x00, 0x02, 1, 2) + b"\xff\x03\x00\x21"
                        + F.ipv4(C, S, 17, F.udp(3000, 53, F.query("t.example")))))
    erspan1 = F.ipv4("203.0.113.1", "203.0.113.2", 47, struct.pack("!HH", 0, 0x88BE) + q)
    erspan2 = F.ipv4("203.0.113.1", "203.0.113.2", 47,
                     struct.pack("!HHI", 0x1000, 0x88BE, 1) + b"\0" * 8 + q)
    named = _load(tmp_path, [(1.0, F.link(x, F.ETHERNET)) for x in
                             (geneve, l2tp, erspan1, erspan2)] + frames[-1:], jit)
    assert named.undecoded_tunnels == {"Geneve (UDP 6081)": 1, "L2TP (UDP 1701)": 1,
                                       "ERSPAN type I": 1, "ERSPAN type II": 1}


@pytest.mark.parametrize("jit", JIT)
def test_tunnels_past_the_depth_and_vxlan_on_linux_s_port_are_named(tmp_path: Path,
                                                                    jit: bool) -> None:
    """DNS under five IP-in-IP headers (one more than the walk opens) and VXLAN on Linux's
    old port 8472: both were "no DNS messages ... DNS on another port? --port N" -- now
    counted and named, 8472 with the option that reads it."""
    dns_ip = F.ipv4(C, S, 17, F.udp(3000, 53, F.query("deep.example")))
    frames = []
    for depth in (4, 5):
        packet = dns_ip
        for _ in range(depth):
            packet = F.ipv4("203.0.113.1", "203.0.113.2", 4, packet)
        frames.append((float(depth), F.link(packet, F.ETHERNET)))
    inner = F.link(dns_ip, F.ETHERNET)
    frames.append((9.0, F.link(_vxlan(inner, 7, port=8472), F.ETHERNET)))
    tables = _load(tmp_path, frames, jit)
    assert list(tables.messages["frame"]) == [1]  # four deep: opened
    assert tables.undecoded_tunnels == {
        "tunnels nested more than 4 deep": 1,
        "VXLAN on UDP 8472 (Linux's default port: --vxlan-port 8472 reads it)": 1}
    assert not any("--port N" in w for w in tables.warnings)
    # --engine auto reads the VXLAN headers on 8472 as VXLAN, and says so (here tshark reads
    # the capture, for the deep tunnel: told of 8472 too); alone, natively
    said = ("1 frame(s) to UDP 8472 carry VXLAN headers (Linux's default port before RFC "
            "7348): read as VXLAN, as --vxlan-port 8472 asks")
    auto = load_capture(tmp_path / "c.pcap", jit=jit)
    assert auto.engine == "tshark" and list(auto.messages["frame"]) == [1, 2, 3]
    assert auto.warnings[0] == said
    (tmp_path / "c.pcap").write_bytes(F.pcap(frames[2:], F.ETHERNET))
    alone = load_capture(tmp_path / "c.pcap", jit=jit)
    assert alone.engine == "native" and list(alone.messages["frame"]) == [1]
    assert alone.warnings == [said]


def test_auto_without_tshark_keeps_what_it_read(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """--engine auto on a capture with an encapsulation the native walk does not open, on a
    machine without tshark: the native tables, and a sentence saying what was skipped and
    why (it was an error, "tshark is not installed", and no result at all)."""
    q = F.link(F.ipv4(C, S, 17, F.udp(3000, 53, F.query("mirrored.example"))), F.ETHERNET)
    erspan = F.ipv4("203.0.113.1", "203.0.113.2", 47,
                    struct.pack("!HH", 0x1000, 0x22EB) + struct.pack("!I", 1) + b"\0" * 12 + q)
    plain = F.ipv4(C, S, 17, F.udp(3001, 53, F.query("plain.example")))
    path = tmp_path / "mix.pcap"
    path.write_bytes(F.pcap([(1.0, F.link(erspan, F.ETHERNET)), (2.0, F.link(plain, F.ETHERNET))],
                            F.ETHERNET))
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))
    tables = load_capture(path)
    assert tables.engine == "native" and list(tables.messages["frame"]) == [2]
    assert tables.warnings == ["1 frame(s) of ERSPAN type III not decoded natively, and tshark "
                               "(which reads them) is not installed -- the Debian package "
                               "tshark: the rest of the capture was read natively, those "
                               "frames were skipped"]
    assert tables.warning_frames == [None]


def test_the_vxlan_port_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``enumlab pcap --vxlan-port N``: VXLAN on a port besides 4789 (Linux's old 8472)."""
    import json

    from enumlab.cli import main

    inner = F.link(F.ipv4(C, S, 17, F.udp(3000, 53, F.query("vx.example"))), F.ETHERNET)
    path = tmp_path / "vx.pcap"
    path.write_bytes(F.pcap([(1.0, F.link(_vxlan(inner, 7, port=8472), F.ETHERNET))],
                            F.ETHERNET))
    assert main(["pcap", str(path), "--engine", "native", "--json", "--vxlan-port", "8472"]) == 0
    assert json.loads(capsys.readouterr().out)["messages"]["queries"] == 1
    # tshark reads it too when told (it was "no DNS messages"), named as native names it
    from .conftest import require_tool

    require_tool("tshark", "tshark")
    both = [load_capture(path, engine=e, vxlan_ports=(4789, 8472)).messages
            for e in ("native", "tshark")]
    for m in both:
        assert list(m["encapsulation"].astype(str)) == ["vxlan"]
        assert int(m["tunnel_id"].iloc[0]) == 7
    assert main(["pcap", str(path), "--engine", "native", "--json"]) != 0  # not read here,
    said = capsys.readouterr()  # but named, with the option (it was "--port N")
    assert "--vxlan-port 8472 reads it" in said.out + said.err and "--port N" not in said.err
    # a set of captures takes the option too (it was dropped there: no DNS messages, exit 1)
    day = tmp_path / "day"
    day.mkdir()
    for k in range(2):
        (day / f"vx{k}.pcap").write_bytes(path.read_bytes())
    assert main(["pcap", str(day), "--json", "--vxlan-port", "8472", "--workers", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["messages"]["queries"] == 2


@pytest.mark.parametrize("jit", JIT)
@pytest.mark.parametrize("keep", ["first", "rest"])
def test_a_capture_of_incomplete_fragment_sets_is_analysed(tmp_path: Path, jit: bool,
                                                           keep: str) -> None:
    """Issue 25 item 5: only first fragments (or only the rest) whose other fragments never
    came: analysed -- datagrams with lost fragments -- never refused as 'no DNS messages'."""
    from enumlab.capture.report import analyze

    frames = []
    for k in range(4):
        big = F.udp(53, 3000 + k, F.response(f"{k}.big.example", records=30))
        pieces = F.fragments_v4(S, C, 17, big, 1480, ident=100 + k)
        for piece in (pieces[:1] if keep == "first" else pieces[1:]):
            frames.append((1.0 + k, F.link(piece, F.ETHERNET)))
    path = tmp_path / "frags.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    analysis = analyze(path, engine="native", jit=jit)
    assert analysis.summary["messages"]["lost_fragment_datagrams"] == 4
    assert any("of 4 datagram(s) whose other fragments were never captured" in w
               for w in analysis.capture.warnings)  # type: ignore[union-attr]
    # in pieces: the same summary, that sentence included (the pieces dropped it)
    from enumlab.capture.pieces import analyze_stream

    streamed = analyze_stream(path, piece_records=2, workers=1, jit=jit)
    assert {k: streamed[k] for k in analysis.summary} == analysis.summary


def test_sets_and_streams_cut_by_a_block_boundary_are_whole(tmp_path: Path) -> None:
    """The second stage is fed block by block (65,536 records): a fragment set and a TCP
    message split across the boundary are carried and rebuilt, compiled and interpreted
    alike (the fragments' and streams' kernels carry only what is still open)."""
    from enumlab.capture.native import BLOCK

    q = F.link(F.ipv4(C, S, 17, F.udp(3000, 53, F.query("filler.example"))), F.ETHERNET)
    frames = [(1.0, q)] * (BLOCK - 3)
    big = F.udp(53, 3001, F.response("frag.example", records=30))
    first, second = F.fragments_v4(S, C, 17, big, (len(big) // 2 + 8) // 8 * 8)
    framed = _framed(["tcp.example"])
    frames += [(2.0, F.link(first, F.ETHERNET)), _tcp_frame(2.1, 999, flags=0x02),
               _tcp_frame(2.2, 1000, framed[:20]),
               (3.0, F.link(second, F.ETHERNET)), _tcp_frame(3.1, 1020, framed[20:])]
    path = tmp_path / "boundary.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    got = []
    for jit in (False, True):
        m = load_capture(path, engine="native", jit=jit).messages
        tail = m[m["qname"].astype(str) != "filler.example"]
        got.append(tail[["frame", "first_frame", "qname", "ip_fragments", "transport"]]
                   .astype(str).values.tolist())
        assert len(m) == BLOCK - 3 + 2
    assert got[0] == got[1]
    assert got[0] == [[str(BLOCK + 1), str(BLOCK - 2), "frag.example", "2", "udp"],
                      [str(BLOCK + 2), str(BLOCK), "tcp.example", "0", "tcp"]]


@pytest.mark.parametrize("jit", JIT)
def test_a_stream_the_capture_joins_mid_message_is_framed_at_a_real_message(
        tmp_path: Path, jit: bool) -> None:
    """A long-lived connection (RFC 7766 s6.2.1) the capture joins mid-way: its first segment
    is the tail of an earlier answer -- bytes that are no message boundary. Framing starts at
    the first plausible message (as after a gap), the bytes before it counted, never read as
    a message (they made a 'query' with opcode 5 and QDCOUNT 1034: a fresh-eyes capture)."""
    earlier = F.response("earlier.example", ident=7, records=40)
    tail = (len(earlier).to_bytes(2, "big") + earlier)[300:]  # from inside that answer
    query = _framed(["next.example"], first_id=8)
    frames = [_tcp_frame(1.0, 5000, tail), _tcp_frame(1.1, 5000 + len(tail), query)]
    tables = _load(tmp_path, frames, jit)
    assert tables.messages["qname"].astype(str).tolist() == ["next.example"]
    notes = " ".join(tables.warnings)
    assert "mid-stream (no SYN)" in notes and "first plausible DNS message" in notes
    assert f"{len(tail)} byte(s) not decoded" in notes
    # a stream the capture joins at a message boundary loses nothing
    whole = _load(tmp_path, [_tcp_frame(1.0, 5000, query + _framed(["two.example"], 9))], jit,
                  name="whole.pcap")
    assert whole.messages["qname"].astype(str).tolist() == ["next.example", "two.example"]


@pytest.mark.parametrize("jit", JIT)
def test_an_atomic_fragment_is_a_whole_packet(tmp_path: Path, jit: bool) -> None:
    """An IPv6 answer in an atomic fragment (a Fragment header with offset 0 and M clear,
    RFC 6946): processed in isolation, as a whole packet (s4) -- decoded and paired, not
    "fragmented" and never waiting for fragments (it counted as a 1-fragment datagram: a
    fresh-eyes capture); tshark's dissection reads it so too."""
    c6, s6 = "2001:db8::7", "2001:db8::53"
    answer = F.udp(53, 4100, F.response("atomic.example", ident=5, records=2))
    frames = [(1.0, F.link(F.ipv6(c6, s6, 17, F.udp(4100, 53, F.query("atomic.example",
                                                                       ident=5))), F.ETHERNET)),
              (1.01, F.link(F.fragments_v6(s6, c6, 17, answer, 4096, ident=9)[0], F.ETHERNET))]
    tables = _load(tmp_path, frames, jit)
    assert len(tables.messages) == 2 and tables.rows("fragments") == 0
    assert not tables.messages["ip_fragments"].fillna(0).astype(int).any()
    from enumlab.capture.transactions import build_transactions

    from .conftest import require_tool

    t = build_transactions(tables)
    assert t["outcome"].tolist() == ["ok"] and not t["fragmented"].any()
    require_tool("tshark", "tshark")
    theirs = load_capture(tmp_path / "c.pcap", engine="tshark")
    assert len(theirs.messages) == 2
    assert not theirs.messages["ip_fragments"].fillna(0).astype(int).any()
    assert theirs.rows("fragments") == 0  # (the tshark engine listed it as a fragment)


def _name_wire(name: str) -> bytes:
    return b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0"


def _answer_without_question(ident: int, rdata: bytes, rtype: int = 1) -> bytes:
    """A response with no question and one record (a zone transfer's later message, RFC
    5936 s2.2)."""
    return (struct.pack("!HHHHHH", ident, 0x8400, 0, 1, 0, 0) + _name_wire("zone.example")
            + struct.pack("!HHIH", rtype, 1, 300, len(rdata)) + rdata)


@pytest.mark.parametrize("jit", JIT)
def test_a_zone_transfer_joined_mid_way_is_framed_and_a_false_boundary_is_not_taken(
        tmp_path: Path, jit: bool) -> None:
    """Framing a stream the capture joins mid-way (or after a gap) starts at a message that
    parses and whose length lands on another one (or on the end of the bytes):

    * a zone transfer's later messages have no question (RFC 5936 s2.2): held to their first
      record, they are framed (they were skipped to the end: nothing decoded);
    * bytes inside a long TXT answer that look like a message (a length prefix, a header, a
      question) but whose length lands inside the next message are passed over: the real
      messages after it are framed (the false one made every later answer unreadable)."""
    xfr = [_answer_without_question(40, struct.pack("!I", k)) for k in range(4)]
    stream = b"".join(len(m).to_bytes(2, "big") + m for m in xfr)
    frames = [(1.0 + k / 10, F.link(F.ipv4(S, C, 6, F.tcp(53, 4000, 7000 + off,
                                                            stream[off:off + 40])), F.ETHERNET))
              for k, off in enumerate(range(0, len(stream), 40))]
    tables = _load(tmp_path, frames, jit, name="xfr.pcap")
    assert len(tables.messages) == 4 and not tables.messages["qr"].eq(False).any()

    fake = struct.pack("!HHHHHHH", 300, 9, 0x0100, 1, 0, 0, 0) + _name_wire("fake.example") \
        + struct.pack("!HH", 1, 1)
    txt = b"\x50" + b"x" * 30 + fake + b"y" * (80 - 31 - len(fake))
    long_answer = _answer_without_question(41, txt, rtype=16)
    real = [F.response(f"r{k}.example", ident=50 + k) for k in range(3)]
    data = b"".join(len(m).to_bytes(2, "big") + m for m in [long_answer, *real])
    start = 2 + 12 + 20  # inside the long answer, before the fake
    frames = [(2.0, F.link(F.ipv4(S, C, 6, F.tcp(53, 4001, 9000, data[start:])), F.ETHERNET))]
    tables = _load(tmp_path, frames, jit, name="fake.pcap")
    assert tables.messages["qname"].astype(str).tolist() == [f"r{k}.example" for k in range(3)]


def _second_opt(wire: bytes) -> bytes:
    """``wire`` (with one OPT record, last) with a second OPT appended, ARCOUNT raised."""
    ar = int.from_bytes(wire[10:12], "big")
    return (wire[:10] + (ar + 1).to_bytes(2, "big") + wire[12:]
            + b"\x00" + struct.pack("!HHIH", 41, 4096, 0, 0))


@pytest.mark.parametrize("engine", ["native-interpreted", "native-compiled", "tshark"])
def test_two_opt_records_are_malformed(tmp_path: Path, engine: str) -> None:
    """RFC 6891 s6.1.1: an OPT record "MUST be the only OPT RR in that message". A query and
    its answer carrying two each are malformed, with the reason, and still paired by their
    header and question; the first OPT gives the EDNS figures; one OPT is not malformed."""
    import dns.message

    from enumlab.capture.report import analyze

    answer = F.response("two.example", ident=5, edns=1400)
    answer_size = dns.message.from_wire(answer).payload  # (what dnspython's answer offers)
    frames = [_udp_frame(1.0, _second_opt(F.query("two.example", ident=5, edns=1232))),
              (1.01, F.link(F.ipv4(S, C, 17, F.udp(53, 3000, _second_opt(answer))),
                            F.ETHERNET)),
              _udp_frame(2.0, F.query("one.example", ident=6, edns=1232), sport=3001)]
    path = tmp_path / "opt.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    kind, _, mode = engine.partition("-")
    analysis = analyze(path, engine=kind, jit=mode == "compiled" if mode else None)
    m = analysis.capture.messages.sort_values("frame")
    reason = "more than one OPT record (RFC 6891 s6.1.1)"
    assert list(m["malformed"].astype(str)) == [reason, reason, ""]
    assert list(m["edns_size"]) == [1232, answer_size, 1232]
    s = analysis.summary
    assert s["messages"]["malformed"] == 2 and s["outcomes"]["ok"] == 1
    assert any(w.startswith("2 malformed message(s) paired by their header and question")
               for w in s["warnings"]), s["warnings"]


@pytest.mark.parametrize("engine", ["native-interpreted", "native-compiled", "tshark"])
def test_a_fragment_captured_twice_counts_once(tmp_path: Path, engine: str) -> None:
    """An answer cut into 4 IPv4 fragments, the second captured twice (a SPAN port seeing
    it on two links): reassembled from 4 fragments, not 5 (tshark's own count says 5 and
    flags the copy as an overlap; the engine takes the copy off)."""
    from enumlab.capture.report import analyze

    answer = F.response("big.example", ident=7, records=40, edns=4096)
    pieces = F.fragments_v4(S, C, 17, F.udp(53, 3000, answer), 600)
    assert len(pieces) == 4
    frames = [_udp_frame(1.0, F.query("big.example", ident=7))]
    for k, piece in enumerate([pieces[0], pieces[1], pieces[1], *pieces[2:]]):
        frames.append((1.01 + k / 1000, F.link(piece, F.ETHERNET)))
    path = tmp_path / "dup.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    kind, _, mode = engine.partition("-")
    analysis = analyze(path, engine=kind, jit=mode == "compiled" if mode else None)
    m = analysis.capture.messages
    assert list(m.loc[m["qr"], "ip_fragments"]) == [4]
    t = analysis.transactions
    assert list(t["fragments"]) == [4] and list(t["outcome"]) == ["ok"]


def test_both_engines_say_a_stream_the_capture_joins_mid_way(tmp_path: Path) -> None:
    """A DNS-over-TCP connection whose SYN the capture missed (it began before the capture,
    or in the previous rotated file): both engines name it, in the same words; a connection
    with its SYN is not named (the native engine alone said it: a fresh-eyes run)."""
    one = F.query("syn.example", ident=1)
    two = F.query("nosyn.example", ident=2)
    frames = [_tcp_frame(1.0, 100, flags=0x02),
              _tcp_frame(1.1, 101, len(one).to_bytes(2, "big") + one),
              _tcp_frame(2.0, 5000, len(two).to_bytes(2, "big") + two, sport=4001)]
    path = tmp_path / "mid.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    said = {}
    for engine in ("native", "tshark"):
        tables = load_capture(path, engine=engine)
        assert sorted(tables.messages["qname"].astype(str)) == ["nosyn.example", "syn.example"]
        said[engine] = [w for w in tables.warnings if "mid-stream" in w]
    assert said["native"] == said["tshark"] == [
        f"TCP {C}:4001 -> {S}:53: the capture starts mid-stream (no SYN); messages framed "
        "from the first plausible DNS message seen"]


def test_the_summary_shows_names_as_the_tables_write_them(tmp_path: Path) -> None:
    """A truncated name holding a newline: the summary's "names truncated most" shows it as
    dig does (``new\\010line``), as the tables and the JSON do -- it printed a dict's repr,
    every backslash doubled (a fresh-eyes run)."""
    from enumlab.capture.report import analyze, format_summary

    query = _raw_query([b"new\nline", b"example"], 7, qtype=35)
    answer = bytearray(query)
    answer[2:4] = (0x8300).to_bytes(2, "big")  # QR, TC, RD
    frames = [_udp_frame(1.0, query),
              (1.01, F.link(F.ipv4(S, C, 17, F.udp(53, 3000, bytes(answer))), F.ETHERNET))]
    path = tmp_path / "tc.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    a = analyze(path)
    assert a.summary["top_truncated_names"] == {"new\\010line.example": 1}
    line = next(x for x in format_summary(a.summary).splitlines() if "truncated most" in x)
    assert line == "  names truncated most: new\\010line.example (1)"


@pytest.mark.parametrize("jit", JIT)
def test_overlapping_ipv6_fragments_discard_the_datagram(tmp_path: Path, jit: bool) -> None:
    """RFC 5722 s4: a receiver that finds overlapping IPv6 fragments discards the whole
    datagram. An answer whose second fragment starts 8 bytes inside the first was rebuilt
    (lower offset winning, as IPv4 allows) and paired "ok"; now no datagram, the set is said
    and the question lost its answer to fragmentation. The same overlap over IPv4 is still
    rebuilt (RFC 791 has no such rule)."""
    from enumlab.capture.report import analyze

    c6, s6 = "2001:db8::7", "2001:db8::53"
    q = F.ipv6(c6, s6, 17, F.udp(3000, 53, F.query("ov.example", ident=3)))
    big = F.udp(53, 3000, F.response("ov.example", ident=3, records=30))

    def frag(off: int, data: bytes, more: bool) -> bytes:
        head = struct.pack("!BBHI", 17, 0, (off // 8) << 3 | int(more), 77)
        return F.ipv6(s6, c6, 44, head + data)

    frames = [(1.0, F.link(q, F.ETHERNET)),
              (1.01, F.link(frag(0, big[:1232], True), F.ETHERNET)),
              (1.02, F.link(frag(1224, big[1224:], False), F.ETHERNET))]
    path = tmp_path / "ov.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    a = analyze(path, engine="native", jit=jit)
    assert a.summary["outcomes"]["fragments_lost"] == 1 and a.summary["outcomes"]["ok"] == 0
    assert a.summary["messages"]["responses"] == 0
    assert any(w.startswith("1 IPv6 fragment set(s) hold overlapping fragments")
               for w in a.summary["warnings"])
    if jit:  # the tshark engine: tshark reassembles it, and the engine discards it as native
        t = analyze(path, engine="tshark").summary
        assert t["outcomes"] == a.summary["outcomes"] and t["warnings"] == a.summary["warnings"]
    c4, s4 = C, S
    q4 = F.ipv4(c4, s4, 17, F.udp(3000, 53, F.query("ov.example", ident=3)))
    v4 = [(1.0, F.link(q4, F.ETHERNET)),
          (1.01, F.link(F.ipv4(s4, c4, 17, big[:1232], ident=9, mf=True, offset=0), F.ETHERNET)),
          (1.02, F.link(F.ipv4(s4, c4, 17, big[1224:], ident=9, offset=1224), F.ETHERNET))]
    path.write_bytes(F.pcap(v4, F.ETHERNET))
    native = analyze(path, engine="native", jit=jit)
    assert native.summary["outcomes"]["ok"] == 1
    assert list(native.transactions["fragments"]) == [2]
    if jit:  # tshark took a partial overlap off its count as if it were a copy (it said 1)
        assert list(analyze(path, engine="tshark").transactions["fragments"]) == [2]


@pytest.mark.parametrize("engine", ["native", "tshark"])
def test_vxlan_tenants_reusing_addresses_are_paired_apart(tmp_path: Path, engine: str) -> None:
    """Two VXLAN networks (VNI 7 and 8) whose hosts share addresses ask the same question; only
    VNI 7's is answered. Paired by address alone it was one transaction, "retried", ok --
    hiding VNI 8's unanswered query. The VNI (RFC 7348 s5) is part of the question's key."""
    from enumlab.capture.report import analyze

    q = F.link(F.ipv4(C, S, 17, F.udp(3000, 53, F.query("t.example", ident=9))), F.ETHERNET)
    r = F.link(F.ipv4(S, C, 17, F.udp(53, 3000, F.response("t.example", ident=9))), F.ETHERNET)
    frames = [(1.0, F.link(_vxlan(q, 7), F.ETHERNET)), (1.001, F.link(_vxlan(q, 8), F.ETHERNET)),
              (1.01, F.link(_vxlan(r, 7), F.ETHERNET))]
    path = tmp_path / "tenants.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    s = analyze(path, engine=engine).summary
    assert s["transactions"] == 2 and s["outcomes"]["ok"] == 1
    assert s["outcomes"]["unanswered"] == 1 and s["flags"]["retried"] == 0


@pytest.mark.parametrize("jit", JIT)
def test_complete_fragment_sets_without_dns_are_nothing_usable(tmp_path: Path, jit: bool) -> None:
    """Every fragment set completes and holds no DNS (ERSPAN around it, here): nothing usable,
    exit 1, the tunnel named -- it was "no whole DNS message: 0 IP fragment(s) of 0
    datagram(s)" and exit 0, in memory and in pieces."""
    from enumlab.capture.pieces import analyze_stream

    q = F.link(F.ipv4(C, S, 17, F.udp(3000, 53, F.query("mirrored.example"))), F.ETHERNET)
    body = struct.pack("!HH", 0x1000, 0x22EB) + struct.pack("!I", 1) + b"\0" * 12 + q + \
        b"\0" * 600
    frames = [(1.0 + k, F.link(p, F.ETHERNET)) for k in range(2)
              for p in F.fragments_v4("203.0.113.1", "203.0.113.2", 47, body, 400, ident=k)]
    path = tmp_path / "erspan_frag.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    with pytest.raises(NoDnsMessagesError, match="ERSPAN type III"):
        load_capture(path, engine="native", jit=jit)
    with pytest.raises(NoDnsMessagesError, match="ERSPAN type III"):
        analyze_stream(path, piece_records=2, workers=1, jit=jit)


def test_fragment_sizes_leave_the_unfragmentable_headers_out_in_both_engines(
        tmp_path: Path) -> None:
    """IPv6 fragments behind hop-by-hop and destination options headers (RFC 8200 s4.5: the
    unfragmentable part): each fragment's size is what follows its fragment header. The
    tshark engine took only hop-by-hop off (1232 and 1224 where the sizes are 1224 and
    1216)."""
    from .conftest import require_tool

    require_tool("tshark", "tshark")
    c6, s6 = "2001:db8::7", "2001:db8::53"
    big = F.udp(53, 3000, F.response("x.example", ident=4, records=40))
    frames = [(1.0, F.link(F.ipv6(c6, s6, 17, F.udp(3000, 53, F.query("x.example", ident=4))),
                           F.ETHERNET))]
    frames += [(1.01, F.link(p, F.ETHERNET))
               for p in F.fragments_v6(s6, c6, 17, big, 1232, ident=5, ext=[0, 60])]
    path = tmp_path / "ext.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    sizes = [list(load_capture(path, engine=e).fragments["size"]) for e in ("native", "tshark")]
    assert sizes[0] == sizes[1] and sizes[0][0] == 1232, sizes


def test_a_tunnel_s_outer_fragments_count_in_both_engines(tmp_path: Path) -> None:
    """6in4 whose outer IPv4 packet was fragmented: the answer came in 2 fragments, its first
    frame the first fragment's -- in both engines (the tshark engine looked only at the
    innermost IP header: 0 fragments, the first frame the completing one)."""
    from .conftest import require_tool

    require_tool("tshark", "tshark")
    c6, s6 = "2001:db8::7", "2001:db8::53"
    q = F.ipv6(c6, s6, 17, F.udp(3000, 53, F.query("t.example", ident=8)))
    r = F.ipv6(s6, c6, 17, F.udp(53, 3000, F.response("t.example", ident=8, records=30)))
    frames = [(1.0, F.link(F.ipv4("203.0.113.1", "203.0.113.2", 41, q), F.ETHERNET))]
    frames += [(1.01 + k * 0.001, F.link(p, F.ETHERNET)) for k, p in
               enumerate(F.fragments_v4("203.0.113.2", "203.0.113.1", 41, r, 1232, ident=3))]
    path = tmp_path / "6in4.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    for engine in ("native", "tshark"):
        m = load_capture(path, engine=engine).messages
        answer = m[m["qr"].astype(bool)].iloc[0]
        assert (int(answer["ip_fragments"]), int(answer["first_frame"]),
                int(answer["frame"])) == (2, 2, 3), engine


def test_a_header_only_capture_says_so(tmp_path: Path) -> None:
    """A pcap of a header and no packet: "holds no packets", not "DNS on another port? name it
    with --port N" -- whole, tshark and in pieces."""
    from enumlab.capture.pieces import analyze_stream

    path = tmp_path / "empty.pcap"
    path.write_bytes(F.pcap([], F.ETHERNET))
    for engine in ("native", "tshark"):
        with pytest.raises(NoDnsMessagesError, match=r"holds no packets \(a header only\)"):
            load_capture(path, engine=engine)
    with pytest.raises(NoDnsMessagesError, match="holds no packets"):
        analyze_stream(path, workers=1)


def test_tcp_reordering_holes_and_retransmissions_alike_in_both_engines(tmp_path: Path) -> None:
    """An answer's second half before its first (reordered, no retransmission), then the first
    half again (one retransmission); and a stream with a hole: the tshark engine counted the
    reordered first copy as a retransmission and said nothing of the hole tshark does not
    frame past (the native engine resynchronises and says so)."""
    from enumlab.capture.report import analyze

    q = F.query("r.example", ident=6)
    r = F.response("r.example", ident=6, records=4)
    ask, ans = len(q).to_bytes(2, "big") + q, len(r).to_bytes(2, "big") + r
    half = len(ans) // 2

    frames = [seg(1.0, C, S, 40000, 53, 100, flags=0x02), seg(1.001, S, C, 53, 40000, 500,
                                                              flags=0x12),
              seg(1.002, C, S, 40000, 53, 101, ask),
              seg(1.003, S, C, 53, 40000, 501 + half, ans[half:]),  # second half first
              seg(1.004, S, C, 53, 40000, 501, ans[:half]),
              seg(1.005, S, C, 53, 40000, 501, ans[:half])]  # the first half again
    path = tmp_path / "reorder.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    for engine in ("native", "tshark"):
        said = analyze(path, engine=engine).summary["warnings"]
        assert "1 retransmitted TCP segment(s) of DNS connections counted once" in said, engine
    holed = [*frames[:3], seg(1.003, S, C, 53, 40000, 501 + half, ans[half:])]
    path.write_bytes(F.pcap(holed, F.ETHERNET))
    said = analyze(path, engine="tshark").summary["warnings"]
    assert any("come after bytes the capture lacks" in w for w in said), said


@pytest.mark.parametrize("jit", JIT)
def test_a_message_cut_by_a_reset_and_a_new_syn_is_not_the_capture_s_end(tmp_path: Path,
                                                                          jit: bool) -> None:
    """10 bytes of a query, a reset, then a new connection on the same addresses and ports
    with a whole exchange: the cut message was "the capture ends 10 byte(s) into a
    message" though the capture went on; the new SYN ended it. A message the capture's end
    cuts is still said so."""
    q1, q2 = F.query("rst1.example", ident=1), F.query("rst2.example", ident=2)
    r2 = F.response("rst2.example", ident=2)
    w1, w2 = len(q1).to_bytes(2, "big") + q1, len(q2).to_bytes(2, "big") + q2

    frames = [seg(1.0, C, S, 50006, 53, 1000, flags=0x02),
              seg(1.001, S, C, 53, 50006, 5000, flags=0x12),
              seg(1.003, C, S, 50006, 53, 1001, w1[:10]),
              seg(1.004, S, C, 53, 50006, 5001, flags=0x04),
              seg(2.0, C, S, 50006, 53, 900000, flags=0x02),
              seg(2.001, S, C, 53, 50006, 7000000, flags=0x12),
              seg(2.003, C, S, 50006, 53, 900001, w2),
              seg(2.01, S, C, 53, 50006, 7000001, len(r2).to_bytes(2, "big") + r2),
              seg(3.0, C, S, 50007, 53, 1, flags=0x02),
              seg(3.001, S, C, 53, 50007, 1, flags=0x12),
              seg(3.003, C, S, 50007, 53, 2, w2[:12])]  # and the capture ends
    tables = _load(tmp_path, frames, jit)
    said = "\n".join(tables.warnings)
    assert (f"{C}:50006 -> {S}:53: a new SYN on the same addresses and ports reopened it "
            f"10 byte(s) into a {len(q1)}-byte message") in said, said
    assert f"{C}:50007 -> {S}:53: the capture ends 12 byte(s) into" in said, said
    assert len(tables.messages) == 2  # the second connection's exchange


@pytest.mark.parametrize("jit", JIT)
def test_an_edns_option_past_its_opt_record_is_malformed(tmp_path: Path, jit: bool) -> None:
    """An OPT record of 6 bytes whose cookie option claims 50 (RFC 6891 s6.1.2: options lie
    within RDLEN): malformed -- the native decoder read it as a sound cookie while tshark
    called the packet malformed. Still paired by header and question."""
    good = F.query("opt.example", ident=7, options=[10])
    assert good[-4:-2] == b"\x00\x02"
    bad = good[:-4] + b"\x00\x32" + good[-2:]
    frames = [(1.0, F.link(F.ipv4(C, S, 17, F.udp(3000, 53, bad)), F.ETHERNET)),
              (1.01, F.link(F.ipv4(S, C, 17, F.udp(53, 3000, F.response("opt.example",
                                                                          ident=7))),
                            F.ETHERNET))]
    m = _load(tmp_path, frames, jit).messages
    assert m["malformed"].iloc[0] == "an EDNS option runs past its OPT record (RFC 6891 s6.1.2)"
    assert m["malformed"].iloc[1] == ""
    from enumlab.capture.transactions import build_transactions

    assert build_transactions(_load(tmp_path, frames, jit))["outcome"].tolist() == ["ok"]


def test_a_zone_transfer_s_later_messages_are_questionless_by_design(tmp_path: Path) -> None:
    """An AXFR over TCP answered in three messages, the later two without a question (RFC 5936
    s2.2.1): the warning counted them as anomalies; it says they carry none by design."""
    from enumlab.capture.report import analyze

    q = F.query("zone.example", "AXFR", ident=5, edns=None)
    first = F.response("zone.example", "AXFR", ident=5, records=0)
    rest = [_answer_without_question(5, bytes([10, 0, 0, k])) for k in range(2)]
    stream = b"".join(len(x).to_bytes(2, "big") + x for x in (first, *rest))

    frames = [seg(1.0, C, S, 40000, 53, 100, flags=0x02), seg(1.001, S, C, 53, 40000, 500,
                                                              flags=0x12),
              seg(1.002, C, S, 40000, 53, 101, len(q).to_bytes(2, "big") + q),
              seg(1.003, S, C, 53, 40000, 501, stream)]
    path = tmp_path / "axfr.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    said = [w for w in analyze(path).summary["warnings"] if "without a question" in w]
    assert len(said) == 1 and said[0].startswith(
        "2 message(s) without a question (2 of them a zone transfer's later answers over TCP"), said


@pytest.mark.parametrize("engine", ["native", "tshark", "pieces"])
def test_a_tunnel_s_lost_outer_fragment_is_its_question_s_lost_answer(tmp_path: Path,
                                                                      engine: str) -> None:
    """Answers inside 6in4 and inside GTP-U whose outer IPv4 packet was fragmented and lost
    its second fragment: the set's addresses are the tunnel's ends, so it matched no question
    and the questions were "unanswered". The first fragment names the client and server
    inside (and their ports): fragments_lost."""
    from enumlab.capture.pieces import analyze_stream
    from enumlab.capture.report import analyze

    c6, s6 = "2001:db8::7", "2001:db8::53"
    ue, dns = "10.45.0.2", "10.45.0.1"
    frames = []
    q6 = F.ipv6(c6, s6, 17, F.udp(3000, 53, F.query("six.example", ident=1)))
    r6 = F.ipv6(s6, c6, 17, F.udp(53, 3000, F.response("six.example", ident=1, records=30)))
    frames.append((1.0, F.ipv4("203.0.113.1", "203.0.113.2", 41, q6)))
    frames.append((1.01, F.fragments_v4("203.0.113.2", "203.0.113.1", 41, r6, 1232,
                                        ident=11)[0]))
    q4 = F.ipv4(ue, dns, 17, F.udp(4000, 53, F.query("gtp.example", ident=2)))
    r4 = F.ipv4(dns, ue, 17, F.udp(53, 4000, F.response("gtp.example", ident=2, records=30)))
    frames.append((2.0, F.ipv4("192.0.2.10", "192.0.2.20", 17, F.udp(2152, 2152,
                                                                      F.gtpu(7, q4)))))
    frames.append((2.01, F.fragments_v4("192.0.2.20", "192.0.2.10", 17,
                                        F.udp(2152, 2152, F.gtpu(8, r4)), 1232, ident=12)[0]))
    path = tmp_path / "tunnel_frag_lost.pcap"
    path.write_bytes(F.pcap([(t, F.link(d, F.ETHERNET)) for t, d in frames], F.ETHERNET))
    s = (analyze_stream(path, piece_records=2, workers=1) if engine == "pieces"
         else analyze(path, engine=engine).summary)
    assert s["outcomes"]["fragments_lost"] == 2 and s["outcomes"]["unanswered"] == 0, s["outcomes"]
    if engine != "pieces":
        f = analyze(path, engine=engine).capture.fragments  # type: ignore[union-attr]
        assert sorted(f["inner_src"].dropna()) == [dns, s6]


@pytest.mark.parametrize("engine", ["native", "tshark"])
def test_a_query_with_two_questions_is_flagged(tmp_path: Path, engine: str) -> None:
    """QDCOUNT 2 in a QUERY (RFC 9619: a QUERY holds one question): only the first is read,
    as before -- now the message says so, in both engines (it was shown as a one-question
    query, unflagged); still paired by its first question."""
    def two(wire: bytes) -> bytes:
        end = 12 + len(_name_wire("two.example")) + 4
        return wire[:4] + b"\x00\x02" + wire[6:end] + wire[12:end] + wire[end:]

    q = two(F.query("two.example", "A", ident=3, edns=None))
    r = two(F.response("two.example", "A", ident=3, records=0))
    frames = [(1.0, F.link(F.ipv4(C, S, 17, F.udp(3000, 53, q)), F.ETHERNET)),
              (1.01, F.link(F.ipv4(S, C, 17, F.udp(53, 3000, r)), F.ETHERNET))]
    path = tmp_path / "two.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    tables = load_capture(path, engine=engine)
    m = tables.messages
    assert m["qdcount"].tolist() == [2, 2] and m["qname"].astype(str).tolist() == [
        "two.example"] * 2
    assert bool(m["malformed"].astype(bool).all())
    if engine == "native":
        assert m["malformed"].iloc[0].startswith("more than one question in a QUERY")
    from enumlab.capture.transactions import build_transactions

    assert build_transactions(tables)["outcome"].tolist() == ["ok"]
    # mDNS asks several questions at once by design (RFC 6762 s5.3): not flagged there
    mdns = F.link(F.ipv4(C, "224.0.0.251", 17, F.udp(5353, 5353, q)), F.ETHERNET)
    path.write_bytes(F.pcap([(1.0, mdns)], F.ETHERNET))
    assert load_capture(path, engine=engine).messages["malformed"].astype(str).tolist() == [""]


def seg(t: float, src: str, dst: str, sp: int, dp: int, seq: int, data: bytes = b"",
        flags: int = 0x18) -> tuple[float, bytes]:
    """A TCP segment on Ethernet, timed ``t`` (frames built by code)."""
    return (t, F.link(F.ipv4(src, dst, 6, F.tcp(sp, dp, seq, data, flags=flags)), F.ETHERNET))
