"""The tshark engine on tshark output that broke it (issue 25 item 7, issue 29): each case is a
capture built here, read by both engines, which must agree (``compare``: every column) and
never end in a traceback."""

from __future__ import annotations

import struct
from pathlib import Path

import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.update
import pytest

from enumlab.capture import CaptureError, load_capture

from . import frames as F
from .conftest import require_tool
from .test_capture_engines import CLIENT4, CLIENT6, SERVER4, compare


@pytest.fixture(autouse=True)
def _tshark() -> None:
    require_tool("tshark", "tshark")


def _write(path: Path, datagrams: list[bytes], *, link: int = F.ETHERNET) -> Path:
    path.write_bytes(F.pcap([(1_700_000_000.0 + k, F.link(d, link))
                             for k, d in enumerate(datagrams)], link))
    return path


def _udp(payload: bytes, *, sport: int = 50000, dport: int = 53, v6: bool = False) -> bytes:
    if v6:
        return F.ipv6(CLIENT6, "ff02::fb" if dport == 5353 else "2001:db8::53", 17,
                      F.udp(sport, dport, payload))
    return F.ipv4(CLIENT4, SERVER4, 17, F.udp(sport, dport, payload))


def test_a_type_bitmap_repeats_a_json_key_and_is_read(tmp_path: Path) -> None:
    """mDNS answers with NSEC records (RFC 6762 s6.1): tshark writes each type of the bitmap
    as another ``dns.resp.type``; the record's own type is the first (was a ValueError)."""
    r = dns.message.Message(id=0)
    r.flags |= 0x8400  # QR, AA
    name = dns.name.from_text("host.local")
    r.answer.append(dns.rrset.from_text(name, 120, "IN", "A", "10.0.0.2"))
    r.additional.append(dns.rrset.from_text(name, 120, "IN", "NSEC", "host.local. A AAAA"))
    r.additional.append(dns.rrset.from_text(dns.name.from_text("2.0.0.10.in-addr.arpa"), 120,
                                            "IN", "NSEC", "2.0.0.10.in-addr.arpa. PTR"))
    path = _write(tmp_path / "nsec.pcap", [_udp(r.to_wire(), sport=5353, dport=5353, v6=True)])
    compare(path)
    assert load_capture(path, engine="tshark").messages["protocol"].tolist() == ["mdns"]


def test_two_identical_questions_repeat_a_json_key_and_are_read(tmp_path: Path) -> None:
    """QDCOUNT 2, the same question twice (mDNS probes do it): one JSON key, a list of two
    objects (was an AttributeError)."""
    q = F.query("twice.example", "A", ident=9, edns=None)
    question = q[12:]
    twice = q[:4] + struct.pack("!H", 2) + q[6:12] + question + question
    path = _write(tmp_path / "twice.pcap", [_udp(twice)])
    compare(path)
    m = load_capture(path, engine="tshark").messages
    assert (m["qdcount"].tolist(), m["qname"].tolist()) == ([2], ["twice.example"])


def test_an_update_reads_its_zone_section_as_the_question(tmp_path: Path) -> None:
    """RFC 2136 s2.3: the Zone section has the question's layout (ZNAME, ZTYPE SOA, ZCLASS);
    tshark names it "Zone" and its count ``dns.count.zones``."""
    u = dns.update.UpdateMessage("e164.example", id=77)
    u.replace("1.2.3", 60, "NAPTR", '10 10 "u" "E2U+sip" "!^.*$!sip:a@example.net!" .')
    path = _write(tmp_path / "update.pcap", [_udp(u.to_wire())])
    compare(path)
    for engine in ("native", "tshark"):
        m = load_capture(path, engine=engine).messages.iloc[0]
        assert (m["opcode"], m["qdcount"], m["qname"], m["qtype"], m["nscount"]) == (
            5, 1, "e164.example", 6, 2), engine  # replace: a delete and an add


def test_llmnr_over_tcp_is_llmnr(tmp_path: Path) -> None:
    """RFC 4795 s2.5: LLMNR over TCP on port 5355 (tshark dissects LLMNR on UDP only)."""
    q = F.query("host1", "A", ident=7, edns=None)
    r = F.response("host1", "A", ident=7, records=0)
    c, s = CLIENT4, SERVER4
    path = _write(tmp_path / "llmnr-tcp.pcap", [
        F.ipv4(c, s, 6, F.tcp(50000, 5355, 100, flags=0x02)),
        F.ipv4(s, c, 6, F.tcp(5355, 50000, 900, flags=0x12)),
        F.ipv4(c, s, 6, F.tcp(50000, 5355, 101, struct.pack("!H", len(q)) + q)),
        F.ipv4(s, c, 6, F.tcp(5355, 50000, 901, struct.pack("!H", len(r)) + r))])
    compare(path)
    m = load_capture(path, engine="tshark").messages
    assert m["protocol"].tolist() == ["llmnr", "llmnr"]
    assert m["transport"].tolist() == ["tcp", "tcp"]


def test_a_frame_without_a_time_is_read(tmp_path: Path) -> None:
    """A pcapng Simple Packet Block has no timestamp: tshark writes no ``frame.time_epoch``
    (was ``KeyError: 'frame.time_epoch'``); both engines give NaN."""
    q = F.ipv4(CLIENT4, SERVER4, 17, F.udp(50000, 53, F.query("a.example", ident=5)))
    path = tmp_path / "spb.pcapng"
    path.write_bytes(F.pcapng([(1.7e9, 0, F.link(q, F.ETHERNET))], [F.ETHERNET], simple=True))
    compare(path)
    assert load_capture(path, engine="tshark").messages["time"].isna().all()


def test_a_layer_tshark_writes_as_text_is_read(tmp_path: Path) -> None:
    """A frame cut inside its IPv6 header: tshark writes the layer as a string, not an object
    (was ``AttributeError: 'str' object has no attribute 'get'``)."""
    query = _udp(F.query("a.example", ident=5))
    cut = F.link(F.ipv6(CLIENT6, "2001:db8::53", 17, F.udp(50000, 53, b"")), F.ETHERNET)[:34]
    path = tmp_path / "cut.pcap"
    path.write_bytes(F.pcap([(1.7e9, F.link(query, F.ETHERNET)), (1.7e9 + 1, cut)], F.ETHERNET))
    for engine in ("native", "tshark"):
        tables = load_capture(path, engine=engine)
        assert len(tables.messages) == 1, engine
        assert not [w for w in tables.warnings if "not understood" in w]


def test_messages_shorter_than_a_header_are_counted_alike(tmp_path: Path) -> None:
    """A 3-byte UDP payload on port 53 and three empty TCP messages (zero length prefixes):
    tshark writes a malformed marker for each and no DNS object. Both engines list the short
    UDP message and count the three zero-length TCP messages in a warning, without a row each
    (a prefix of 0 is nothing a DNS server sends; a stream of zeros must not cost a row per
    two bytes)."""
    c, s = CLIENT4, SERVER4
    path = _write(tmp_path / "short.pcap", [
        _udp(b"\x12\x34\x01"),
        F.ipv4(c, s, 6, F.tcp(50001, 53, 100, flags=0x02)),
        F.ipv4(c, s, 6, F.tcp(50001, 53, 101, b"\x00\x00" * 3))])
    for engine in ("native", "tshark"):
        tables = load_capture(path, engine=engine)
        m = tables.messages
        assert m["dns_size"].tolist() == [3], engine
        assert (m["malformed"] != "").all() and m["qr"].isna().all(), engine
        assert any("3 zero-length message(s)" in w for w in tables.warnings), (engine,
                                                                                tables.warnings)


def test_dns_on_another_port_needs_port_in_both_engines(tmp_path: Path) -> None:
    """tshark 4's heuristic DNS-over-UDP dissector is off in the engine: DNS on port 5300 is
    read by both engines with ``ports=(5300,)`` and by neither without."""
    path = _write(tmp_path / "5300.pcap", [_udp(F.query("a.example", ident=5), dport=5300)])
    for engine in ("native", "tshark"):
        with pytest.raises(CaptureError, match="no DNS messages"):
            load_capture(path, engine=engine)
    compare(path, ports=(5300,))


def test_the_reader_takes_json_of_any_shape(tmp_path: Path) -> None:
    """Lists where one value was expected, text where an object was, numbers that are not:
    the packet reader gives a row (what it cannot read missing), not a traceback."""
    from enumlab.capture.tshark import _packet

    path = _write(tmp_path / "one.pcap", [_udp(F.query("a.example", ident=5))])
    tables = load_capture(path, engine="tshark")
    assert len(tables.messages) == 1
    odd = {"frame": {"frame.number": "1"}, "ip": {"ip.src": ["x"], "ip.len": {"a": 1}},
           "udp": "text", "dns": [{"dns.id": ["0x1", "0x2"], "dns.flags": "zz",
                                   "Queries": ["q"]}]}
    rows: list[dict[str, object]] = []
    _packet(1, 0.0, odd, odd["frame"], (), rows, [], [], [])
    assert len(rows) == 1
    assert (rows[0]["protocol"], rows[0]["qname"], rows[0]["src"]) == ("dns", None, "x")
