"""The resolver cannot be fooled: a server that lies, over real loopback sockets (issue 12).

A small lying server answers UDP with TC=1 (or with a forged answer) and then, over TCP, with
whatever the case says. Every reply that does not answer the query (RFC 5452 s9.1: id, QR,
opcode, question; RFC 7766: no TC over TCP; RFC 1034 s4.3.2 / RFC 2181 s5.4.1: answer records
only at the query name or along its CNAME chain) must be a ForgedAnswerError naming the
server -- never a URI -- and `enumlab enum` must exit 2, not print sip:EVIL.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator

import dns.flags
import dns.message
import dns.rrset
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from enumlab import ForgedAnswerError, Resolver, resolve_enum
from enumlab.cli import main
from enumlab.resolve.resolver import mismatch
from enumlab.resolve.wire import answer_from_message

NAME = "3.1.9.0.0.5.5.5.3.1.6.e164.arpa."
EVIL = '10 100 "u" "E2U+sip" "!^.*$!sip:EVIL@attacker.example!" .'
Reply = Callable[[dns.message.Message], bytes | list[bytes]]


def good(query: dns.message.Message) -> dns.message.Message:
    reply = dns.message.make_response(query)
    reply.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "NAPTR", EVIL))
    return reply


def wrong_id(query: dns.message.Message) -> bytes:
    reply = good(query)
    reply.id = (query.id + 1) & 0xFFFF
    return reply.to_wire()


def other_question(query: dns.message.Message) -> bytes:
    other = dns.message.make_query("9.9.9.9.e164.arpa.", "NAPTR")
    other.id = query.id
    reply = good(other)
    return reply.to_wire()


def tc_over_tcp(query: dns.message.Message) -> bytes:
    reply = good(query)
    reply.flags |= dns.flags.TC
    return reply.to_wire()


def qr_zero(query: dns.message.Message) -> bytes:
    reply = good(query)
    reply.flags &= ~dns.flags.QR
    return reply.to_wire()


def unrelated_owner(query: dns.message.Message) -> bytes:
    reply = dns.message.make_response(query)
    reply.answer.append(dns.rrset.from_text("evil.example.", 60, "IN", "NAPTR", EVIL))
    return reply.to_wire()


def cname_then_unrelated(query: dns.message.Message) -> bytes:
    reply = dns.message.make_response(query)
    reply.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "CNAME",
                                            "real.example."))
    reply.answer.append(dns.rrset.from_text("evil.example.", 60, "IN", "NAPTR", EVIL))
    return reply.to_wire()


def truncated(query: dns.message.Message) -> bytes:
    reply = dns.message.make_response(query)
    reply.flags |= dns.flags.TC
    return reply.to_wire()


class LyingServer:
    """UDP and TCP on one loopback port; each transport answers with its own function."""

    def __init__(self, udp: Reply, tcp: Reply | None = None) -> None:
        self.udp_reply, self.tcp_reply = udp, tcp
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(8)
        self.udp.settimeout(0.1)
        self.tcp.settimeout(0.1)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._serve_udp, daemon=True),
                        threading.Thread(target=self._serve_tcp, daemon=True)]
        for t in self.threads:
            t.start()

    def _serve_udp(self) -> None:
        while not self.stop.is_set():
            try:
                wire, peer = self.udp.recvfrom(4096)
            except TimeoutError:
                continue
            replies = self.udp_reply(dns.message.from_wire(wire))
            for data in replies if isinstance(replies, list) else [replies]:
                self.udp.sendto(data, peer)

    def _serve_tcp(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                (n,) = struct.unpack("!H", conn.recv(2))
                wire = b""
                while len(wire) < n:
                    wire += conn.recv(n - len(wire))
                assert self.tcp_reply is not None
                data = self.tcp_reply(dns.message.from_wire(wire))
                conn.sendall(struct.pack("!H", len(data)) + data)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=2)
        self.udp.close()
        self.tcp.close()


@pytest.fixture
def liar() -> Iterator[Callable[..., LyingServer]]:
    made: list[LyingServer] = []

    def make(udp: Reply, tcp: Reply | None = None) -> LyingServer:
        made.append(LyingServer(udp, tcp))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.mark.parametrize(
    ("tcp_reply", "why"),
    [
        (wrong_id, "DNS id"),  # issue 12: was used, printed sip:EVIL
        (other_question, "question 9.9.9.9.e164.arpa."),  # issue 12: was used
        (tc_over_tcp, "TC=1 over TCP"),  # was "no usable NAPTR rule"
        (qr_zero, "QR=0"),  # was "no usable NAPTR rule"
        (unrelated_owner, "owned by evil.example."),
    ],
)
def test_forged_tcp_reply_after_tc_is_an_error(liar, tcp_reply: Reply, why: str) -> None:
    server = liar(truncated, tcp_reply)
    resolver = Resolver("127.0.0.1", server.port, timeout=1)
    with pytest.raises(ForgedAnswerError, match=why) as info:
        resolver.query(NAME, "NAPTR")
    assert info.value.subject == f"127.0.0.1:{server.port}"
    assert info.value.trace and info.value.trace[0].truncated  # the UDP leg is kept


@pytest.mark.parametrize("udp_reply", [unrelated_owner, cname_then_unrelated])
def test_udp_answer_with_records_of_another_owner_is_an_error(liar, udp_reply: Reply) -> None:
    server = liar(udp_reply)
    with pytest.raises(ForgedAnswerError, match=r"evil\.example"):
        Resolver("127.0.0.1", server.port, timeout=1).query(NAME, "NAPTR")


def test_udp_replies_that_do_not_match_are_ignored_then_reported(liar) -> None:
    server = liar(wrong_id)
    with pytest.raises(ForgedAnswerError, match="ignored, RFC 5452"):
        Resolver("127.0.0.1", server.port, timeout=0.5).query(NAME, "NAPTR")


def test_a_forged_datagram_before_the_real_answer_is_skipped(liar) -> None:
    def forged_then_real(query: dns.message.Message) -> list[bytes]:
        fake = dns.message.make_response(query)
        fake.id = (query.id + 7) & 0xFFFF
        fake.answer.append(dns.rrset.from_text(NAME, 60, "IN", "NAPTR", EVIL))
        real = dns.message.make_response(query)
        real.answer.append(dns.rrset.from_text(
            NAME, 60, "IN", "NAPTR", '10 100 "u" "E2U+sip" "!^.*$!sip:real@example.com!" .'))
        return [fake.to_wire(), real.to_wire()]

    server = liar(forged_then_real)
    answer = Resolver("127.0.0.1", server.port, timeout=1).query(NAME, "NAPTR")
    assert [r.regexp for r in answer.records] == ["!^.*$!sip:real@example.com!"]


def test_enum_command_exits_2_instead_of_printing_the_forged_uri(liar, capsys) -> None:
    server = liar(truncated, wrong_id)
    code = main(["enum", "+61355500913", "--server", f"127.0.0.1:{server.port}",
                 "--timeout", "1"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "EVIL" not in out
    assert "does not answer" in err and f"127.0.0.1:{server.port}" in err


def test_the_procedure_never_sees_forged_records(liar) -> None:
    server = liar(truncated, other_question)
    with pytest.raises(ForgedAnswerError):
        resolve_enum("+61355500913", Resolver("127.0.0.1", server.port, timeout=1),
                     rng=np.random.default_rng(1))


# -- fuzzing the answer checks: mutated replies are either accepted (and then really answer
#    the query) or rejected with a typed error, never a crash ---------------------------------

QUERY = dns.message.make_query(NAME, "NAPTR")
REPLY = good(QUERY).to_wire()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(REPLY) - 1), st.integers(0, 255)), min_size=1,
                max_size=6))
def test_mutated_replies_are_checked_not_trusted(flips: list[tuple[int, int]]) -> None:
    data = bytearray(REPLY)
    for at, value in flips:
        data[at] = value
    try:
        response = dns.message.from_wire(bytes(data))
    except Exception:
        return
    problem = mismatch(QUERY, response)
    if problem is not None:
        assert isinstance(problem, str) and problem
        return
    try:
        answer = answer_from_message(response, NAME, "NAPTR", ())
    except ForgedAnswerError:
        return
    for record in answer.records:
        assert record.owner.lower() == NAME  # no CNAME in REPLY: only the query name
