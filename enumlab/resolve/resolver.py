"""A DNS resolver that always talks to an explicit server and records what it did.

Never the system's resolv.conf: the server is a required argument (the seed's P-CSCF lesson is
what a silent default costs). Queries go over UDP first; a truncated answer (TC=1) is retried
over TCP (RFC 1035 s4.2.1, RFC 7766 s5), and the trace keeps both legs with their sizes and
timings. EDNS0 (RFC 6891) is off by default, like a classic client; pass ``edns=1232`` or
``edns=4096`` to advertise a larger UDP payload.
"""

from __future__ import annotations

import ipaddress
import math
import socket
import struct
import time

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from ..core.errors import (
    DnsError,
    ForgedAnswerError,
    InputError,
    QueryTimeoutError,
    ServerFailureError,
    ServerUnreachableError,
    shown,
)
from .dns_tcp import recv_exact
from .lookup import Answer, Exchange
from .wire import answer_from_message

DEFAULT_TIMEOUT = 2.0


def check_ip_literal(host: object) -> str:
    """``host`` if it is an IPv4 or IPv6 address literal; InputError otherwise.

    enumlab never passes a host name to the socket layer: getaddrinfo would ask the system
    resolver (resolv.conf), the very thing enumlab promises not to use silently.
    """
    if not isinstance(host, str):
        raise InputError(f"server address must be text, not {type(host).__name__}",
                         subject=host)
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        raise InputError(
            f"{shown(host)} is not an IP address: give an IPv4 or IPv6 literal such as "
            "127.0.0.1 or ::1 (a host name would be looked up through the system resolver)",
            subject=host) from None


def check_timeout(value: object) -> float:
    """A finite number of seconds above 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value > 0):
        raise InputError(f"timeout must be a finite number of seconds above 0, not {value!r}",
                         subject=value)
    return float(value)


def parse_server(text: str, default_port: int = 53) -> tuple[str, int]:
    """``127.0.0.1``, ``127.0.0.1:5353``, ``[::1]:5353``, ``::1`` -> (host, port).

    IP literals only; anything else (a host name, ``[127.0.0.1``, an empty string, a port
    outside 1..65535) is an :class:`InputError` naming the input.
    """
    if not isinstance(text, str):
        raise InputError(f"server address must be text, not {type(text).__name__}",
                         subject=text)
    raw = text
    text = text.strip()
    if not text:
        raise InputError("empty server address: give an IP address such as 127.0.0.1:5353",
                         subject=raw)
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise InputError(f"bad server address {shown(raw)}: write [IPv6]:PORT",
                             subject=raw)
        port_text = rest[1:] if rest else ""
        if rest and not port_text:
            raise InputError(f"bad server address {shown(raw)}: no port after ':'",
                             subject=raw)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        if not port_text:
            raise InputError(f"bad server address {shown(raw)}: no port after ':'",
                             subject=raw)
    else:
        host, port_text = text, ""
    if "]" in host or "[" in host:
        raise InputError(f"bad server address {shown(raw)}", subject=raw)
    host = check_ip_literal(host)
    if port_text and not (port_text.isascii() and port_text.isdigit()):
        raise InputError(f"bad port in server address {shown(raw)}", subject=raw)
    port = int(port_text) if port_text else default_port
    if not 0 < port < 65536:
        raise InputError(f"port out of range in server address {shown(raw)}", subject=raw)
    return host, port


class Resolver:
    """Queries one explicit DNS server; implements :class:`~enumlab.resolve.lookup.Lookup`."""

    def __init__(
        self,
        host: str,
        port: int = 53,
        *,
        edns: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        tcp_fallback: bool = True,
        tcp_only: bool = False,
        recursion_desired: bool = False,
    ) -> None:
        if edns is not None and (isinstance(edns, bool) or not isinstance(edns, int)
                                 or not 0 <= edns <= 65535):
            raise InputError(f"EDNS0 payload size {edns!r} is out of range", subject=edns)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InputError(f"server port must be 1..65535, not {port!r}", subject=port)
        self.host = check_ip_literal(host)
        self.port = port
        self.edns = edns
        self.timeout = check_timeout(timeout)
        self.tcp_fallback = tcp_fallback
        self.tcp_only = tcp_only
        self.recursion_desired = recursion_desired
        self.family = socket.AF_INET6 if ":" in self.host else socket.AF_INET

    @classmethod
    def from_address(cls, address: str, **options: object) -> Resolver:
        host, port = parse_server(address)
        return cls(host, port, **options)  # type: ignore[arg-type]

    @property
    def server(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _make_query(self, name: str, rdtype: str) -> dns.message.QueryMessage:
        try:
            query = dns.message.make_query(
                name, rdtype, use_edns=self.edns is not None, payload=self.edns or 1232
            )
        except (dns.exception.DNSException, ValueError) as exc:
            raise InputError(f"cannot query {name!r} {rdtype}: {exc}", subject=name) from exc
        if not self.recursion_desired:
            query.flags &= ~dns.flags.RD
        return query

    def query(self, name: str, rdtype: str) -> Answer:
        """Ask the server; UDP then TCP on truncation. Raises a subclass of :class:`DnsError`."""
        rdtype = rdtype.upper()
        query = self._make_query(name, rdtype)
        wire = query.to_wire()
        exchanges: list[Exchange] = []
        if not self.tcp_only:
            response, exchange = self._udp(wire, query, name, rdtype)
            exchanges.append(exchange)
            if not (response.flags & dns.flags.TC and self.tcp_fallback):
                return self._answer(response, name, rdtype, exchanges)
        response, exchange = self._tcp(wire, query, name, rdtype, exchanges)
        exchanges.append(exchange)
        return self._answer(response, name, rdtype, exchanges)

    def _answer(self, response: dns.message.Message, name: str, rdtype: str,
                exchanges: list[Exchange]) -> Answer:
        try:
            return answer_from_message(response, name, rdtype, tuple(exchanges))
        except ForgedAnswerError as exc:
            raise ForgedAnswerError(f"{self.server}: {exc}", subject=self.server,
                                    trace=tuple(exchanges)) from None

    def _check_tcp_reply(self, response: dns.message.Message, query: dns.message.Message,
                         name: str, rdtype: str, earlier: list[Exchange]) -> None:
        """Over TCP there is no "keep waiting": a reply that does not answer our query is an
        error (RFC 5452 s9.1: id, QR, opcode and question must match; RFC 7766 s7: TC=1
        never appears over TCP)."""
        problem = mismatch(query, response)
        if problem is None and response.flags & dns.flags.TC:
            problem = "TC=1 over TCP (RFC 7766 s7 says a TCP answer is never truncated)"
        if problem is not None:
            raise ForgedAnswerError(
                f"{self.server} sent a TCP reply that does not answer {name} {rdtype}: "
                f"{problem}", subject=self.server, trace=tuple(earlier))

    def _parse(self, data: bytes, query: dns.message.Message, name: str) -> dns.message.Message:
        try:
            response = dns.message.from_wire(data)
        except dns.exception.DNSException as exc:
            raise ServerFailureError(f"{self.server} sent a malformed answer for {name}: {exc}",
                                     subject=self.server) from exc
        return response

    def _udp(self, wire: bytes, query: dns.message.Message, name: str, rdtype: str
             ) -> tuple[dns.message.Message, Exchange]:
        start = time.perf_counter()
        deadline = start + self.timeout
        malformed: ServerFailureError | None = None
        ignored: list[str] = []
        with socket.socket(self.family, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect((self.host, self.port))
                sock.send(wire)
                while True:
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        raise TimeoutError
                    sock.settimeout(remaining)
                    data = sock.recv(65535)
                    if len(data) < 12 or data[:2] != wire[:2]:
                        # not ours: keep waiting (RFC 5452 s9.1), and say so if nothing comes
                        ignored.append(f"a {len(data)}-byte datagram with another DNS id"
                                       if len(data) >= 12 else "a datagram shorter than a "
                                       "DNS header")
                        continue
                    try:
                        response = self._parse(data, query, name)
                    except ServerFailureError as exc:
                        malformed = exc  # maybe forged: keep waiting, report it if nothing else
                        continue
                    problem = mismatch(query, response)
                    if problem is None:
                        break
                    ignored.append(problem)
            except TimeoutError as exc:
                if malformed is not None:
                    raise malformed from None
                if ignored:
                    raise ForgedAnswerError(
                        f"{self.server} sent only UDP replies that do not answer {name} "
                        f"{rdtype} (ignored, RFC 5452 s9.1): {ignored[0]}",
                        subject=self.server) from exc
                raise QueryTimeoutError(
                    f"no UDP answer from {self.server} for {name} {rdtype} in {self.timeout:g}s",
                    subject=self.server) from exc
            except (ConnectionRefusedError, OSError) as exc:
                if isinstance(exc, DnsError):
                    raise
                raise ServerUnreachableError(
                    f"{self.server} unreachable over UDP for {name} {rdtype}: {exc}",
                    subject=self.server) from exc
        elapsed = (time.perf_counter() - start) * 1000
        return response, Exchange(self.server, "udp", len(wire), len(data),
                                  bool(response.flags & dns.flags.TC), round(elapsed, 3),
                                  self.edns)

    def _tcp(self, wire: bytes, query: dns.message.Message, name: str, rdtype: str,
             earlier: list[Exchange]) -> tuple[dns.message.Message, Exchange]:
        start = time.perf_counter()
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
                sock.sendall(struct.pack("!H", len(wire)) + wire)
                deadline = time.monotonic() + self.timeout  # for the whole reply, not per recv
                head, _ = recv_exact(sock, 2, deadline)
                data, _ = recv_exact(sock, struct.unpack("!H", head)[0], deadline)
        except TimeoutError as exc:
            raise QueryTimeoutError(
                f"no TCP answer from {self.server} for {name} {rdtype} in {self.timeout:g}s",
                subject=self.server, trace=earlier) from exc
        except OSError as exc:
            raise ServerUnreachableError(
                f"{self.server} unreachable over TCP for {name} {rdtype}: {exc}",
                subject=self.server, trace=earlier) from exc
        response = self._parse(data, query, name)
        self._check_tcp_reply(response, query, name, rdtype, earlier)
        elapsed = (time.perf_counter() - start) * 1000
        return response, Exchange(self.server, "tcp", len(wire), len(data), False,
                                  round(elapsed, 3), self.edns)


def mismatch(query: dns.message.Message, response: dns.message.Message) -> str | None:
    """Why ``response`` does not answer ``query``; None when it does (RFC 5452 s9.1)."""
    if response.id != query.id:
        return f"DNS id {response.id} instead of {query.id}"
    if not response.flags & dns.flags.QR:
        return "QR=0: it is a query, not a response"
    if response.opcode() != query.opcode():
        return f"opcode {response.opcode()} instead of {query.opcode()}"
    if len(response.question) != 1 or len(query.question) != 1:
        if response.rcode() in (dns.rcode.FORMERR, dns.rcode.NOTIMP) and not response.question:
            return None  # RFC 6891 s7: an old server may answer FORMERR without a question
        return f"{len(response.question)} questions instead of 1"
    asked, got = query.question[0], response.question[0]
    if (asked.name != got.name or asked.rdtype != got.rdtype or asked.rdclass != got.rdclass):
        return f"question {got.name} {dns.rdatatype.to_text(got.rdtype)} instead of " \
               f"{asked.name} {dns.rdatatype.to_text(asked.rdtype)}"
    return None
