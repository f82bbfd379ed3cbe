"""The embedded authoritative DNS server: the lab's zero-set-up default.

It serves every zone file in a directory over UDP and TCP on loopback (port 0 picks a free
port), answers from :class:`~enumlab.authority.Authority`, truncates UDP answers above 512
bytes or the client's EDNS0 size with TC=1 (so clients retry over TCP, RFC 7766), answers
FORMERR to malformed queries and REFUSED outside its zones, and never recurses.

Use it as a context manager::

    with EmbeddedServer("data/zones") as server:
        resolver = Resolver(server.host, server.port)
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
from pathlib import Path
from typing import Any

from .authority import DEFAULT_MAX_UDP, Authority
from .errors import LabServerError

LOOPBACK = "127.0.0.1"
_CACHE_LIMIT = 50_000
_TCP_IDLE_TIMEOUT = 10.0  # RFC 7766 s6.2.3 suggests seconds, not minutes
DEFAULT_ZONE_DIR = Path(__file__).resolve().parent.parent / "data" / "zones"


class _AnswerCache:
    """Maps a query's wire form (minus its ID) to the response's: zones are read-only."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self.entries: dict[tuple[bool, bytes], bytes | None] = {}
        self.lock = threading.Lock()

    def answer(self, wire: bytes, udp: bool) -> bytes | None:
        key = (udp, wire[2:])
        cached = self.entries.get(key, b"")
        if cached == b"":
            cached = self.authority.handle_wire(wire, udp=udp)
            with self.lock:
                if len(self.entries) >= _CACHE_LIMIT:
                    self.entries.clear()
                self.entries[key] = cached
        if cached is None:
            return None
        return wire[:2] + cached[2:]


class _TcpHandler(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(_TCP_IDLE_TIMEOUT)
        with contextlib.suppress(OSError):
            while True:
                head = _recv_exact(sock, 2)
                if head is None:
                    return
                (length,) = struct.unpack("!H", head)
                wire = _recv_exact(sock, length)
                if wire is None:
                    return
                reply = self.server.cache.answer(wire, udp=False)
                if reply is None:
                    continue
                sock.sendall(struct.pack("!H", len(reply)) + reply)


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], family: int, cache: _AnswerCache) -> None:
        self.address_family = family
        self.cache = cache
        super().__init__(address, _TcpHandler)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class EmbeddedServer:
    """An authoritative DNS server for the zone files in ``zones`` (a directory or Authority)."""

    def __init__(
        self,
        zones: str | Path | Authority = DEFAULT_ZONE_DIR,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        max_udp_size: int = DEFAULT_MAX_UDP,
    ) -> None:
        if isinstance(zones, Authority):
            self.authority = zones
        else:
            self.authority = Authority.from_directory(zones, max_udp_size=max_udp_size)
        self.host = host
        self.requested_port = port
        self.port = 0
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._cache = _AnswerCache(self.authority)
        self._udp: socket.socket | None = None
        self._tcp: _TcpServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    @property
    def address(self) -> str:
        """``HOST:PORT`` as the CLI's ``--server`` takes it."""
        host = f"[{self.host}]" if self.family == socket.AF_INET6 else self.host
        return f"{host}:{self.port}"

    def start(self) -> EmbeddedServer:
        if self._udp is not None:
            raise LabServerError("server already started", subject=self.address)
        last_error: OSError | None = None
        for _ in range(20 if self.requested_port == 0 else 1):
            udp = socket.socket(self.family, socket.SOCK_DGRAM)
            try:
                udp.bind((self.host, self.requested_port))
                port = udp.getsockname()[1]
                tcp = _TcpServer((self.host, port), self.family, self._cache)
            except OSError as exc:
                udp.close()
                last_error = exc
                continue
            break
        else:
            raise LabServerError(
                f"cannot listen on {self.host} port {self.requested_port}: {last_error}",
                subject=f"{self.host}:{self.requested_port}",
            ) from last_error
        udp.settimeout(0.2)
        self._udp, self._tcp, self.port = udp, tcp, port
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._serve_udp, name=f"enumlab-udp-{port}", daemon=True),
            threading.Thread(target=tcp.serve_forever, kwargs={"poll_interval": 0.2},
                             name=f"enumlab-tcp-{port}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def _serve_udp(self) -> None:
        sock = self._udp
        assert sock is not None
        answer = self._cache.answer
        while not self._stopping.is_set():
            try:
                wire, peer = sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = answer(wire, True)
            if reply is not None:
                with contextlib.suppress(OSError):
                    sock.sendto(reply, peer)

    def stop(self) -> None:
        self._stopping.set()
        if self._tcp is not None:
            self._tcp.shutdown()
            self._tcp.server_close()
        for thread in self._threads:
            thread.join(timeout=2)
        if self._udp is not None:
            self._udp.close()
        self._udp, self._tcp, self._threads = None, None, []

    def __enter__(self) -> EmbeddedServer:
        return self if self._udp is not None else self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def zone_names(self) -> list[str]:
        return [z.origin.to_text() for z in self.authority.zones]
