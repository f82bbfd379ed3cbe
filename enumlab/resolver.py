"""A DNS resolver that always talks to an explicit server and records what it did.

Never the system's resolv.conf: the server is a required argument (the seed's P-CSCF lesson is
what a silent default costs). Queries go over UDP first; a truncated answer (TC=1) is retried
over TCP (RFC 1035 s4.2.1, RFC 7766 s5), and the trace keeps both legs with their sizes and
timings. EDNS0 (RFC 6891) is off by default, like a classic client; pass ``edns=1232`` or
``edns=4096`` to advertise a larger UDP payload.
"""

from __future__ import annotations

import socket
import struct
import time

import dns.exception
import dns.flags
import dns.message

from .errors import (
    DnsError,
    InputError,
    QueryTimeoutError,
    ServerFailureError,
    ServerUnreachableError,
)
from .lookup import Answer, Exchange
from .wire import answer_from_message

DEFAULT_TIMEOUT = 2.0


def parse_server(text: str, default_port: int = 53) -> tuple[str, int]:
    """``127.0.0.1``, ``127.0.0.1:5353``, ``[::1]:5353``, ``::1`` -> (host, port)."""
    text = text.strip()
    if not text:
        raise InputError("empty server address", subject=text)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    try:
        port = int(port_text) if port_text else default_port
    except ValueError as exc:
        raise InputError(f"bad port in server address {text!r}", subject=text) from exc
    if not 0 < port < 65536:
        raise InputError(f"port out of range in server address {text!r}", subject=text)
    return host, port


class Resolver:
    """Queries one explicit DNS server; implements :class:`~enumlab.lookup.Lookup`."""

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
        if edns is not None and not 0 <= edns <= 65535:
            raise InputError(f"EDNS0 payload size {edns} is out of range", subject=edns)
        self.host = host
        self.port = port
        self.edns = edns
        self.timeout = timeout
        self.tcp_fallback = tcp_fallback
        self.tcp_only = tcp_only
        self.recursion_desired = recursion_desired
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET

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
        """Ask the server; UDP then TCP on truncation. Raises typed :class:`DnsError`s."""
        rdtype = rdtype.upper()
        query = self._make_query(name, rdtype)
        wire = query.to_wire()
        exchanges: list[Exchange] = []
        if not self.tcp_only:
            response, exchange = self._udp(wire, query, name, rdtype)
            exchanges.append(exchange)
            if not (response.flags & dns.flags.TC and self.tcp_fallback):
                return answer_from_message(response, name, rdtype, tuple(exchanges))
        response, exchange = self._tcp(wire, query, name, rdtype, exchanges)
        exchanges.append(exchange)
        return answer_from_message(response, name, rdtype, tuple(exchanges))

    def _parse(self, data: bytes, query: dns.message.Message, name: str) -> dns.message.Message:
        try:
            response = dns.message.from_wire(data)
        except dns.exception.DNSException as exc:
            raise ServerFailureError(f"{self.server} sent a malformed answer for {name}: {exc}",
                                     subject=name) from exc
        return response

    def _udp(self, wire: bytes, query: dns.message.Message, name: str, rdtype: str
             ) -> tuple[dns.message.Message, Exchange]:
        start = time.perf_counter()
        deadline = start + self.timeout
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
                        continue  # not ours: keep waiting (RFC 5452 s9.1)
                    response = self._parse(data, query, name)
                    if query.is_response(response):
                        break
            except TimeoutError as exc:
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
                head = _recv_exact(sock, 2)
                data = _recv_exact(sock, struct.unpack("!H", head)[0])
        except TimeoutError as exc:
            raise QueryTimeoutError(
                f"no TCP answer from {self.server} for {name} {rdtype} in {self.timeout:g}s",
                subject=self.server, trace=earlier) from exc
        except OSError as exc:
            raise ServerUnreachableError(
                f"{self.server} unreachable over TCP for {name} {rdtype}: {exc}",
                subject=self.server, trace=earlier) from exc
        response = self._parse(data, query, name)
        elapsed = (time.perf_counter() - start) * 1000
        return response, Exchange(self.server, "tcp", len(wire), len(data), False,
                                  round(elapsed, 3), self.edns)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionResetError("connection closed mid-message")
        buf += chunk
    return buf


