"""The resolver edge: explicit server, UDP then TCP, typed errors -- all over real sockets."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import dns.flags
import dns.message
import pytest

from enumlab import (
    InputError,
    QueryTimeoutError,
    Resolver,
    ServerFailureError,
    ServerUnreachableError,
    parse_server,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:5353", ("::1", 5353)),
        ("::1", ("::1", 53)),
        (" 127.0.0.2:10053 ", ("127.0.0.2", 10053)),
        ("[::1]", ("::1", 53)),
    ],
)
def test_parse_server(text: str, expected: tuple[str, int]) -> None:
    assert parse_server(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("127.0.0.1:x", "bad port"),
        ("127.0.0.1:0", "out of range"),
        ("127.0.0.1:70000", "out of range"),
        ("127.0.0.1:", "no port"),
        ("127.0.0.1:-1", "bad port"),
        ("127.0.0.1:٥٣", "bad port"),  # Unicode digits are not a port
        ("[127.0.0.1", "IPv6"),  # an unclosed bracket (issue 12)
        ("[::1]5353", "IPv6"),
        ("[::1]:", "no port"),
        # host names would go to the system resolver through getaddrinfo (issue 12)
        ("localhost:10053", "not an IP address"),
        ("ns1.example.com", "not an IP address"),
        ("1.2.3", "not an IP address"),
        ("x" * 100_000, "not an IP address"),
    ],
)
def test_parse_server_rejects(text: str, why: str) -> None:
    with pytest.raises(InputError, match=why) as info:
        parse_server(text)
    assert len(str(info.value)) < 300  # a huge input is named, not echoed


def test_answer_records_sizes_and_transport(resolver: Resolver) -> None:
    answer = resolver.query("3.1.9.0.0.5.5.5.3.1.6.e164.arpa.", "NAPTR")
    assert answer.rcode == "NOERROR" and answer.authoritative
    assert len(answer.records) == 3
    (leg,) = answer.exchanges
    assert leg.transport == "udp" and not leg.truncated
    assert leg.query_size > 12 and leg.response_size > leg.query_size
    assert leg.elapsed_ms > 0


def test_nxdomain_is_an_answer_and_raise_for_rcode_types_it(resolver: Resolver) -> None:
    from enumlab import NameNotFoundError

    answer = resolver.query("0.0.0.0.0.0.0.0.9.e164.arpa.", "NAPTR")
    assert answer.rcode == "NXDOMAIN"
    with pytest.raises(NameNotFoundError):
        answer.raise_for_rcode()


def test_tcp_only_mode(lab_server) -> None:
    answer = Resolver(lab_server.host, lab_server.port, tcp_only=True).query(
        "9.9.9.0.0.5.5.5.3.1.6.e164.arpa.", "NAPTR")
    assert [e.transport for e in answer.exchanges] == ["tcp"] and len(answer.records) == 12


def test_without_tcp_fallback_the_truncated_answer_is_kept(lab_server) -> None:
    answer = Resolver(lab_server.host, lab_server.port, tcp_fallback=False).query(
        "9.9.9.0.0.5.5.5.3.1.6.e164.arpa.", "NAPTR")
    assert answer.exchanges[0].truncated and answer.records == ()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_closed_port_is_unreachable_not_a_timeout() -> None:
    resolver = Resolver("127.0.0.1", _free_udp_port(), timeout=2)
    with pytest.raises(ServerUnreachableError, match="unreachable over UDP"):
        resolver.query("e164.arpa.", "SOA")


@pytest.fixture
def silent_udp() -> Iterator[int]:
    """A UDP socket that reads queries and never answers (a black hole)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_silent_server_times_out(silent_udp: int) -> None:
    with pytest.raises(QueryTimeoutError, match="no UDP answer") as info:
        Resolver("127.0.0.1", silent_udp, timeout=0.3).query("e164.arpa.", "SOA")
    assert info.value.subject == f"127.0.0.1:{silent_udp}"


@pytest.fixture
def truncating_udp_only() -> Iterator[int]:
    """A UDP responder that always sets TC and has no TCP listener: TCP fallback must fail."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(512)
            except TimeoutError:
                continue
            reply = dns.message.make_response(dns.message.from_wire(wire))
            reply.flags |= dns.flags.TC
            sock.sendto(reply.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    sock.close()


def test_tc_then_tcp_refused_keeps_the_udp_leg(truncating_udp_only: int) -> None:
    resolver = Resolver("127.0.0.1", truncating_udp_only, timeout=1)
    with pytest.raises(ServerUnreachableError, match="over TCP") as info:
        resolver.query("e164.arpa.", "NAPTR")
    (udp_leg,) = info.value.trace
    assert udp_leg.transport == "udp" and udp_leg.truncated


@pytest.fixture
def garbage_udp() -> Iterator[int]:
    """Answers every query with its own ID and then garbage."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve() -> None:
        wire, peer = sock.recvfrom(512)
        sock.sendto(wire[:2] + struct.pack("!H", 0x8000) + b"\x00\x05" + b"\xff" * 20, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    thread.join(timeout=2)
    sock.close()


def test_malformed_answer_is_a_server_failure(garbage_udp: int) -> None:
    with pytest.raises(ServerFailureError, match="malformed answer"):
        Resolver("127.0.0.1", garbage_udp, timeout=1).query("e164.arpa.", "SOA")


def test_bad_edns_size_and_bad_name() -> None:
    with pytest.raises(InputError):
        Resolver("127.0.0.1", 53, edns=70000)
    with pytest.raises(InputError, match="cannot query"):
        Resolver("127.0.0.1", 53).query("a" * 70 + ".example.", "A")
