"""The native engine's packet and stream layers on hostile and odd input (issues 25, 29): each
case from its own minimal capture built by code, asserting the counts or the note it must give
-- never a traceback, never a silently wrong label -- compiled and interpreted alike."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from enumlab.capture import load_capture

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
