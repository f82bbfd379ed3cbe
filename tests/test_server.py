"""The embedded authoritative server over real loopback sockets (RFC 1034, 1035, 4592, 6891)."""

from __future__ import annotations

import socket
import struct
import subprocess
from pathlib import Path

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from enumlab import EmbeddedServer, LabServerError, ZoneError
from enumlab.zones.authority import Authority

from .conftest import write_zone


def ask(server: EmbeddedServer, name: str, rdtype: str = "NAPTR", *, tcp: bool = False,
        edns: int | None = None) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, use_edns=edns is not None,
                                   payload=edns or 512)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, server.host, port=server.port, timeout=2)


def rcode(msg: dns.message.Message) -> str:
    return dns.rcode.to_text(msg.rcode())


# RFC 4592 section 2.2.1's example zone, transplanted: wildcards, empty non-terminals, and a
# name below a wildcard.
WILDCARD_ZONE = """
*               IN TXT "wild-apex"
host1           IN A   192.0.2.1
_ssh._tcp.host1 IN SRV 0 0 22 host1
_ssh._tcp.host2 IN SRV 0 0 22 host2
subdel          IN NS  ns.subdel
ns.subdel       IN A   192.0.2.53
*.sub           IN TXT "wild-sub"
x.*.sub2        IN TXT "below-a-star"
"""


@pytest.fixture
def rfc4592_server(zone_dir: Path):
    write_zone(zone_dir, "example", WILDCARD_ZONE)
    with EmbeddedServer(zone_dir) as server:
        yield server


@pytest.mark.parametrize(
    ("qname", "qtype", "expected_rcode", "expected_answer"),
    [
        # RFC 4592 section 2.2.1: names the wildcard *.example. synthesises
        ("host3.example.", "TXT", "NOERROR", "wild-apex"),
        ("foo.bar.example.", "TXT", "NOERROR", "wild-apex"),
        # ... and names it does not: existing names, even with no data of the type
        ("host1.example.", "TXT", "NOERROR", None),  # NODATA
        ("_tcp.host1.example.", "TXT", "NOERROR", None),  # empty non-terminal blocks it
        ("_telnet._tcp.host1.example.", "TXT", "NXDOMAIN", None),  # closest encloser _tcp...
        ("sub.example.", "TXT", "NOERROR", None),  # ENT above *.sub
        ("a.sub.example.", "TXT", "NOERROR", "wild-sub"),
        ("*.sub.example.", "TXT", "NOERROR", "wild-sub"),  # the wildcard owner itself
        ("sub2.example.", "TXT", "NOERROR", None),  # ENT: x.*.sub2 exists
        # *.sub2 exists only as an empty non-terminal (x.*.sub2 owns data): it is still the
        # source of synthesis, with no data, so NODATA -- as BIND answers (RFC 4592 s4.9)
        ("y.sub2.example.", "TXT", "NOERROR", None),
        ("*.sub2.example.", "TXT", "NOERROR", None),
        ("x.*.sub2.example.", "TXT", "NOERROR", "below-a-star"),
    ],
)
def test_rfc4592_wildcards(rfc4592_server: EmbeddedServer, qname: str, qtype: str,
                           expected_rcode: str, expected_answer: str | None) -> None:
    msg = ask(rfc4592_server, qname, qtype)
    assert rcode(msg) == expected_rcode
    assert msg.flags & dns.flags.AA
    if expected_answer is None:
        assert not msg.answer
        assert msg.authority[0].rdtype == dns.rdatatype.SOA  # RFC 2308 negative answer
    else:
        assert msg.answer[0].name.to_text() == qname  # synthesised with the query name
        assert msg.answer[0][0].strings[0].decode() == expected_answer


def test_referral_below_a_zone_cut(rfc4592_server: EmbeddedServer) -> None:
    msg = ask(rfc4592_server, "www.subdel.example.", "A")
    assert rcode(msg) == "NOERROR"
    assert not msg.flags & dns.flags.AA
    assert msg.authority[0].rdtype == dns.rdatatype.NS
    assert msg.additional[0].name.to_text() == "ns.subdel.example."


def test_seed_ported_exception_takes_its_neighbours_out_of_the_wildcard(lab_server) -> None:
    # +61255502345 is explicit; +6125550234x and +612555023xx now hit empty non-terminals.
    assert rcode(ask(lab_server, "5.4.3.2.0.5.5.5.2.1.6.e164.arpa.")) == "NOERROR"
    assert rcode(ask(lab_server, "6.4.3.2.0.5.5.5.2.1.6.e164.arpa.")) == "NXDOMAIN"
    assert rcode(ask(lab_server, "0.0.3.2.0.5.5.5.2.1.6.e164.arpa.")) == "NXDOMAIN"
    # the rest of the block is still synthesised from the wildcard
    msg = ask(lab_server, "0.0.0.2.0.5.5.5.2.1.6.e164.arpa.")
    assert rcode(msg) == "NOERROR" and len(msg.answer[0]) == 1
    # the empty non-terminal itself exists: NODATA, not NXDOMAIN
    msg = ask(lab_server, "3.2.0.5.5.5.2.1.6.e164.arpa.")
    assert rcode(msg) == "NOERROR" and not msg.answer


def test_refused_outside_the_zones_and_never_recursive(lab_server) -> None:
    query = dns.message.make_query("example.org.", "A")  # RD set, as a stub would
    msg = dns.query.udp(query, lab_server.host, port=lab_server.port, timeout=2)
    assert rcode(msg) == "REFUSED"
    assert not msg.flags & dns.flags.RA
    assert not msg.flags & dns.flags.AA


def test_zone_transfer_refused(lab_server) -> None:
    msg = ask(lab_server, "e164.arpa.", "AXFR", tcp=True)
    assert rcode(msg) == "REFUSED"


@pytest.mark.parametrize(
    ("edns", "expect_tc"),
    [(None, True), (1232, False), (4096, False)],  # the 12-record answer is ~1.1 KB
)
def test_truncation_follows_the_clients_udp_size(lab_server, edns: int | None,
                                                  expect_tc: bool) -> None:
    msg = ask(lab_server, "9.9.9.0.0.5.5.5.3.1.6.e164.arpa.", edns=edns)
    assert bool(msg.flags & dns.flags.TC) is expect_tc
    if expect_tc:
        assert not msg.answer  # header + question only: the client must retry over TCP
    else:
        assert len(msg.answer[0]) == 12


def test_answer_over_1232_truncates_at_1232_but_not_4096(lab_server) -> None:
    huge = "8.9.9.0.0.5.5.5.3.1.6.e164.arpa."
    assert ask(lab_server, huge, edns=1232).flags & dns.flags.TC
    assert not ask(lab_server, huge, edns=4096).flags & dns.flags.TC
    assert len(ask(lab_server, huge, tcp=True).answer[0]) == 30


def test_edns_below_512_is_treated_as_512(lab_server) -> None:
    # RFC 6891 section 6.2.5: values below 512 MUST be treated as 512
    msg = ask(lab_server, "3.1.9.0.0.5.5.5.3.1.6.e164.arpa.", edns=100)
    assert not msg.flags & dns.flags.TC and len(msg.answer[0]) == 3


def test_tcp_serves_several_queries_on_one_connection(lab_server) -> None:
    with socket.create_connection((lab_server.host, lab_server.port), timeout=2) as sock:
        for qid, name in ((1, "1.1.9.0.0.5.5.5.3.1.6.e164.arpa."),
                          (2, "2.1.9.0.0.5.5.5.3.1.6.e164.arpa.")):
            q = dns.message.make_query(name, "NAPTR")
            q.id = qid
            wire = q.to_wire()
            sock.sendall(struct.pack("!H", len(wire)) + wire)
            length = struct.unpack("!H", sock.recv(2))[0]
            data = b""
            while len(data) < length:
                data += sock.recv(length - len(data))
            reply = dns.message.from_wire(data)
            assert reply.id == qid and rcode(reply) == "NOERROR"


def _raw_udp(server: EmbeddedServer, payload: bytes) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        sock.sendto(payload, (server.host, server.port))
        try:
            return sock.recv(4096)
        except TimeoutError:
            return None


def test_malformed_query_gets_formerr_with_its_id(lab_server) -> None:
    header = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0)
    reply = _raw_udp(lab_server, header + b"\x07garbage")  # question cut short
    assert reply is not None
    qid, flags = struct.unpack("!HH", reply[:4])
    assert qid == 0xBEEF and flags & 0x8000 and flags & 0xF == dns.rcode.FORMERR


def test_runt_packets_and_responses_are_ignored(lab_server) -> None:
    assert _raw_udp(lab_server, b"\x01\x02\x03") is None
    response = struct.pack("!HHHHHH", 1, 0x8000, 0, 0, 0, 0)
    assert _raw_udp(lab_server, response) is None  # never answer a response (no loops)
    # and the server still works afterwards
    assert rcode(ask(lab_server, "1.1.9.0.0.5.5.5.3.1.6.e164.arpa.")) == "NOERROR"


def test_other_opcodes_get_notimp_and_edns_version_1_badvers(lab_server) -> None:
    q = dns.message.make_query("e164.arpa.", "SOA")
    q.set_opcode(dns.opcode.STATUS)
    assert rcode(dns.query.udp(q, lab_server.host, port=lab_server.port, timeout=2)) == "NOTIMP"
    # NOTIFY for a served zone is acknowledged, as BIND does (RFC 1996 s4.7; see
    # test_server_abuse.py for every opcode against BIND)
    q.set_opcode(dns.opcode.NOTIFY)
    assert rcode(dns.query.udp(q, lab_server.host, port=lab_server.port, timeout=2)) == "NOERROR"
    q = dns.message.make_query("e164.arpa.", "SOA", use_edns=1)
    reply = dns.query.udp(q, lab_server.host, port=lab_server.port, timeout=2)
    assert reply.rcode() == dns.rcode.BADVERS


def test_ipv6_loopback(zone_dir: Path) -> None:
    write_zone(zone_dir, "v6.test", "www IN AAAA ::1")
    try:
        server = EmbeddedServer(zone_dir, host="::1").start()
    except LabServerError as exc:  # pragma: no cover - host without IPv6
        pytest.skip(f"no IPv6 loopback here: {exc}")
    with server:
        q = dns.message.make_query("www.v6.test.", "AAAA")
        reply = dns.query.udp(q, "::1", port=server.port, timeout=2)
        assert reply.answer[0][0].address == "::1"
        assert server.address.startswith("[::1]:")


def test_port_in_use_is_a_clear_error(lab_server) -> None:
    with pytest.raises(LabServerError, match=rf"port {lab_server.port}\b"):
        EmbeddedServer(lab_server.authority, port=lab_server.port).start()


def test_broken_zone_file_names_the_file(zone_dir: Path) -> None:
    (zone_dir / "bad.zone").write_text("$ORIGIN bad.\n@ IN SOA broken\n")
    with pytest.raises(ZoneError, match=r"bad\.zone"):
        Authority.from_directory(zone_dir)


def test_empty_or_missing_zone_directory(tmp_path: Path) -> None:
    with pytest.raises(ZoneError, match=r"no \*\.zone"):
        Authority.from_directory(tmp_path)
    with pytest.raises(ZoneError, match="does not exist"):
        Authority.from_directory(tmp_path / "nope")


def test_stop_releases_the_port(zone_dir: Path) -> None:
    write_zone(zone_dir, "stop.test", "")
    server = EmbeddedServer(zone_dir).start()
    port = server.port
    server.stop()
    again = EmbeddedServer(zone_dir, port=port).start()  # would fail if the port leaked
    again.stop()


def test_dig_command_asks_the_same_question_and_gets_the_same_answer() -> None:
    import shlex

    from enumlab import Resolver

    from .conftest import require_tool

    require_tool("dig", "bind9-dnsutils")
    name = "3.1.9.0.0.5.5.5.3.1.6.e164.arpa."
    with EmbeddedServer() as server:
        for tcp, edns in ((False, None), (True, None), (False, 1232)):
            cmd = server.dig_command(name, "NAPTR", tcp=tcp, edns=edns)
            assert cmd.startswith(f"dig @127.0.0.1 -p {server.port} NAPTR {name}")
            out = subprocess.run(shlex.split(cmd), capture_output=True, text=True, timeout=20)
            assert out.returncode == 0 and "status: NOERROR" in out.stdout
            fields = [line.split() for line in out.stdout.splitlines() if line.startswith(name)]
            records = sorted(f[4:] for f in fields if len(f) > 4 and f[3] == "NAPTR")
            ours = sorted(r.to_text().split() for r in Resolver(server.host, server.port)
                          .query(name, "NAPTR").records)
            assert records == ours and len(ours) == 3
            assert ("(TCP)" in out.stdout) == tcp


def test_zone_excerpt_shows_the_lines_that_answer() -> None:
    from enumlab.lab.server import DEFAULT_ZONE_DIR
    from enumlab.zones.zonefile import zone_excerpt

    own = zone_excerpt(DEFAULT_ZONE_DIR, "3.1.9.0.0.5.5.5.3.1.6.e164.arpa", "NAPTR").splitlines()
    assert len(own) == 3 and all(line.startswith("e164.arpa.zone:") for line in own)
    wild = zone_excerpt(DEFAULT_ZONE_DIR, "7.6.5.4.1.0.5.5.5.2.1.6.e164.arpa", "NAPTR")
    assert "*.1.0.5.5.5.2.1.6" in wild  # answered by the block's wildcard (RFC 4592)
    assert zone_excerpt(DEFAULT_ZONE_DIR, "nowhere.example", "NAPTR").startswith("(no records")


def test_load_swaps_zones_under_a_running_server_for_udp_and_tcp() -> None:
    """with_rrset + load: the widgets' sliders rewrite a record set and the next query, UDP or
    TCP, sees it; the old Authority is untouched (a swap, not an edit in place)."""
    name = "3.1.9.0.0.5.5.5.3.1.6.e164.arpa."
    with EmbeddedServer() as server:
        before = server.authority
        new = before.with_rrset(name, "NAPTR", [
            '10 50 "u" "E2U+sip" "!^.*$!sip:a@one.example!" .',
            '10 70 "u" "E2U+sip" "!^.*$!sip:b@two.example!" .'])
        server.load(new)
        for tcp in (False, True):
            reply = ask(server, name, tcp=tcp)
            texts = sorted(rd.to_text() for rr in reply.answer for rd in rr)
            assert texts == ['10 50 "u" "E2U+sip" "!^.*$!sip:a@one.example!" .',
                             '10 70 "u" "E2U+sip" "!^.*$!sip:b@two.example!" .']
            assert reply.answer[0].ttl == 3600  # the old RRset's TTL is kept
        # the neighbour and the wildcard blocks are served as before
        assert rcode(ask(server, "2.1.9.0.0.5.5.5.3.1.6.e164.arpa.")) == "NOERROR"
        old = dns.message.from_wire(before.answer_wire(name, "NAPTR"))
        assert len(old.answer[0]) == 3  # the lab's 100/100/200 set, unchanged
        # removing its only RRset removes the name: NXDOMAIN (no empty node is left behind)
        server.load(new.with_rrset(name, "NAPTR", []))
        assert rcode(ask(server, name)) == "NXDOMAIN"
        # and back to a directory
        server.load(Path(__file__).parent.parent / "data" / "zones")
        assert len(ask(server, name).answer[0]) == 3


def test_with_rrset_refuses_what_loading_refuses() -> None:
    auth = Authority.from_directory(Path(__file__).parent.parent / "data" / "zones")
    with pytest.raises(ZoneError, match="none of the served zones"):
        auth.with_rrset("example.com.", "A", ["192.0.2.1"])
    with pytest.raises(ZoneError, match="unknown record type"):
        auth.with_rrset("3.1.9.0.0.5.5.5.3.1.6.e164.arpa.", "NAPTRX", [])
    with pytest.raises(ZoneError, match="NAPTR"):
        auth.with_rrset("3.1.9.0.0.5.5.5.3.1.6.e164.arpa.", "NAPTR", ['10 "u"'])
