"""The embedded authoritative DNS server: the lab's zero-set-up default.

It serves every zone file in a directory over UDP and TCP on loopback (port 0 picks a free
port), answers from :class:`~enumlab.zones.authority.Authority`, truncates UDP answers above 512
bytes or the client's EDNS0 size with TC=1 (so clients retry over TCP, RFC 7766), answers
FORMERR to malformed queries and REFUSED outside its zones, and never recurses.

It holds up under abuse the way BIND does: an exception while answering one query gives that
query SERVFAIL and a log line, never a dead thread; the answer cache is bounded in bytes; over
TCP (RFC 7766 s6.2.3) a connection gets ``tcp_initial`` seconds for its first message and
``tcp_idle`` between messages, every message must arrive whole within ``tcp_message``
seconds of its first byte (a client sending one byte every few seconds is cut off), at most
``tcp_clients`` connections are served at once (BIND's tcp-clients, default 150), and the
listen backlog is BIND's 1024. When all ``tcp_clients`` are taken, a new connection sheds the
oldest *idle* one -- waiting for its next message's length, not in the middle of a message or
an answer (RFC 7766 s6.2.3: a server may close idle connections when it needs the
resources) -- so 200 idle connections held by an attacker cannot shut a real client out; only
when every connection is busy is the new one closed at once. With ``workers=N`` (``enumlab serve
--workers``) N processes answer UDP on the same port (SO_REUSEPORT), as BIND runs a thread per
core; the workers are forked before any thread starts and stopped by PID with the server.

Use it as a context manager::

    with EmbeddedServer("data/zones") as server:
        resolver = Resolver(server.host, server.port)
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import socketserver
import struct
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

from ..core.errors import InputError, LabServerError
from ..core.paths import DEFAULT_ZONE_DIR as _DEFAULT_ZONE_DIR
from ..resolve.dns_tcp import recv_exact
from ..resolve.resolver import check_ip_literal
from ..zones.authority import DEFAULT_MAX_UDP, Authority

LOOPBACK = "127.0.0.1"
DEFAULT_ZONE_DIR = _DEFAULT_ZONE_DIR
TCP_CLIENTS = 150  # BIND's tcp-clients default
TCP_BACKLOG = 1024  # BIND's tcp-listen-queue ceiling
TCP_INITIAL = 10.0  # seconds for the first message (BIND tcp-initial-timeout: 30 s)
TCP_IDLE = 10.0  # seconds between messages (BIND tcp-idle-timeout: 30 s)
TCP_MESSAGE = 5.0  # seconds for one message, from its first byte to its last
log = logging.getLogger("enumlab.lab.server")


class _TcpHandler(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        srv = self.server
        wait = srv.tcp_initial
        with contextlib.suppress(OSError):
            while True:
                srv.idle_now(sock)
                try:
                    head, deadline = recv_exact(sock, 2, time.monotonic() + wait,
                                                message_seconds=srv.tcp_message)
                    if not srv.busy_now(sock):
                        return  # shed while its length arrived: closed
                    (length,) = struct.unpack("!H", head)
                    wire, _ = recv_exact(sock, length, deadline)
                except (TimeoutError, ConnectionResetError):
                    return  # idle too long, too slow, gone, or shed: close
                reply = srv.authority.handle_wire(wire, udp=False)
                if reply is not None:
                    sock.sendall(struct.pack("!H", len(reply)) + reply)
                wait = srv.tcp_idle


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = TCP_BACKLOG

    def __init__(self, address: tuple[str, int], family: int, authority: Authority,
                 server: EmbeddedServer) -> None:
        self.address_family = family
        self.authority = authority
        self.tcp_clients = server.tcp_clients
        self.tcp_initial = server.tcp_initial
        self.tcp_idle = server.tcp_idle
        self.tcp_message = server.tcp_message
        self.refused = 0
        self.shed = 0
        self._lock = threading.Lock()
        self._active = 0  # connections holding a slot
        # idle connections (waiting for a message's length), oldest first (dicts keep order)
        self._idle: dict[socket.socket, None] = {}
        self._shed: set[socket.socket] = set()  # shed, their handler not yet gone
        super().__init__(address, _TcpHandler)

    def idle_now(self, sock: socket.socket) -> None:
        """``sock`` waits for its next message: the newest idle connection."""
        with self._lock:
            if sock not in self._shed:
                self._idle[sock] = None

    def busy_now(self, sock: socket.socket) -> bool:
        """``sock`` has a message coming: no longer sheddable. False when already shed."""
        with self._lock:
            self._idle.pop(sock, None)
            return sock not in self._shed

    def process_request(self, request: Any, client_address: Any) -> None:
        """Over tcp-clients: shed the oldest idle connection for this one; when none is idle,
        close this one at once in the accepting thread, with no handler thread (so handler
        threads stay bounded by tcp_clients plus those shed and not yet gone)."""
        with self._lock:
            if self._active >= self.tcp_clients:
                if not self._idle:
                    self.refused += 1
                    self.shutdown_request(request)
                    return
                oldest = next(iter(self._idle))
                del self._idle[oldest]
                self._shed.add(oldest)
                self.shed += 1
                with contextlib.suppress(OSError):
                    oldest.shutdown(socket.SHUT_RDWR)  # its recv returns: the handler ends
            else:
                self._active += 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release(request)
            raise

    def _release(self, sock: socket.socket) -> None:
        with self._lock:
            self._idle.pop(sock, None)
            if sock in self._shed:
                self._shed.discard(sock)  # its slot went to the connection that shed it
            else:
                self._active -= 1

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("TCP client %s: %s", client_address, "connection error")


@contextlib.contextmanager
def held_back(signals: frozenset[signal.Signals]) -> Any:
    """Hold ``signals`` back in this thread for the block (pthread_sigmask); their handlers
    run when it ends. Only in the main thread, where Python runs handlers; a no-op elsewhere."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGHUP, signal.SIGINT})


def _die_with_parent() -> None:
    """Linux prctl(PR_SET_PDEATHSIG, SIGTERM): a worker never outlives its server."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _check_port(port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InputError(f"port must be 0..65535, not {port!r}", subject=port)
    return port


class EmbeddedServer:
    """An authoritative DNS server for the zone files in ``zones`` (a directory or Authority)."""

    def __init__(
        self,
        zones: str | Path | Authority = DEFAULT_ZONE_DIR,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        max_udp_size: int = DEFAULT_MAX_UDP,
        tcp_clients: int = TCP_CLIENTS,
        tcp_initial: float = TCP_INITIAL,
        tcp_idle: float = TCP_IDLE,
        tcp_message: float = TCP_MESSAGE,
        progress: bool | None = None,
        workers: int = 1,
    ) -> None:
        self.host = check_ip_literal(host)
        self.requested_port = _check_port(port)
        if isinstance(zones, Authority):
            self.authority = zones
        else:
            self.authority = Authority.from_directory(zones, max_udp_size=max_udp_size,
                                                      progress=progress)
        self.port = 0
        self.family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self.tcp_clients = tcp_clients
        self.tcp_initial, self.tcp_idle, self.tcp_message = tcp_initial, tcp_idle, tcp_message
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
            raise InputError(f"workers must be 1..64, not {workers!r}", subject=workers)
        self.workers = workers
        self.worker_pids: list[int] = []
        self._udp: list[socket.socket] = []
        self._tcp: _TcpServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def dig_command(self, name: str, rdtype: str = "NAPTR", *, tcp: bool = False,
                    edns: int | None = None) -> str:
        """The ``dig`` command that asks this server the same question -- to try in a
        terminal beside a notebook's live query (no EDNS by default, like enumlab's resolver;
        ``+norecurse``: the server is authoritative only)."""
        options = ["+norecurse", "+tcp" if tcp else "",
                   f"+edns=0 +bufsize={edns}" if edns else "+noedns"]
        return " ".join(x for x in ["dig", f"@{self.host}", "-p", str(self.port), rdtype, name,
                                    *options] if x)

    @property
    def address(self) -> str:
        """``HOST:PORT`` as the CLI's ``--server`` takes it."""
        host = f"[{self.host}]" if self.family == socket.AF_INET6 else self.host
        return f"{host}:{self.port}"

    @property
    def tcp_refused(self) -> int:
        """TCP connections closed at once because ``tcp_clients`` were busy."""
        return self._tcp.refused if self._tcp is not None else 0

    @property
    def tcp_shed(self) -> int:
        """Idle TCP connections closed to make room for a new one."""
        return self._tcp.shed if self._tcp is not None else 0

    def start(self) -> EmbeddedServer:
        if self._udp:
            raise LabServerError("server already started", subject=self.address)
        last_error: OSError | None = None
        for _ in range(20 if self.requested_port == 0 else 1):
            udp: list[socket.socket] = []
            try:
                port = self.requested_port
                for _ in range(self.workers):
                    sock = socket.socket(self.family, socket.SOCK_DGRAM)
                    udp.append(sock)
                    if self.workers > 1:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                    sock.bind((self.host, port))
                    port = sock.getsockname()[1]
                tcp = _TcpServer((self.host, port), self.family, self.authority, self)
            except OSError as exc:
                for sock in udp:
                    sock.close()
                last_error = exc
                continue
            break
        else:
            raise LabServerError(
                f"cannot listen on {self.host} port {self.requested_port}: {last_error}",
                subject=f"{self.host}:{self.requested_port}",
            ) from last_error
        for sock in udp:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            # Blocking, with no timeout: a timeout makes CPython poll() before every recvfrom
            # and sendto, doubling the system calls per query. stop() wakes the thread.
            sock.settimeout(None)
        self._stopping.clear()
        # workers > 1: one process per UDP socket on the same port (SO_REUSEPORT), forked
        # before any thread starts; the kernel spreads clients over them. Socket calls, not
        # answering, are most of a query's cost, and one Python process runs on one core.
        for sock in udp[1:]:
            with held_back(STOP_SIGNALS):  # the worker's PID recorded before any handler
                pid = os.fork()
                if pid == 0:  # pragma: no cover - the child never returns
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
                    self._worker(sock, [other for other in udp if other is not sock], tcp)
                self.worker_pids.append(pid)
            sock.close()
        self._udp, self._tcp, self.port = udp[:1], tcp, port
        self._threads = [
            threading.Thread(target=self._serve_udp, args=(udp[0],), name=f"enumlab-udp-{port}",
                             daemon=True),
            threading.Thread(target=tcp.serve_forever, kwargs={"poll_interval": 0.2},
                             name=f"enumlab-tcp-{port}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def _worker(self, sock: socket.socket, others: list[socket.socket], tcp: _TcpServer
                ) -> NoReturn:
        """A forked UDP worker: answers on its own socket until its parent stops it."""
        code = 0
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us, by PID
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            _die_with_parent()
            for other in others:
                other.close()
            tcp.socket.close()
            self._serve_udp(sock)
        except BaseException:
            code = 1
        finally:
            os._exit(code)

    def _serve_udp(self, sock: socket.socket) -> None:
        recv, send = sock.recvfrom, sock.sendto
        stopping = self._stopping.is_set
        while not stopping():
            try:
                wire, peer = recv(65535)
            except OSError:
                if stopping():
                    return
                continue  # e.g. ECONNREFUSED from an earlier send: not ours to die on
            # self.authority is read per query: load() may have swapped in new zones
            reply = self.authority.handle_wire(wire, udp=True)  # never raises (SERVFAIL)
            if reply is not None:
                try:
                    send(reply, peer)
                except OSError as exc:
                    log.warning("UDP reply to %s not sent: %s", peer, exc)

    def stop(self) -> None:
        self._stopping.set()
        for pid in self.worker_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.worker_pids = []
        for _ in self._udp:  # wake each blocked recvfrom with a datagram too short to answer
            with contextlib.suppress(OSError), socket.socket(self.family,
                                                             socket.SOCK_DGRAM) as waker:
                waker.sendto(b"\x00", (self.host, self.port))
        if self._tcp is not None:
            # shutdown() waits for serve_forever to acknowledge: a signal whose handler raised
            # before the TCP thread started (stop() from __enter__) left it waiting for ever
            if any(t.ident is not None for t in self._threads if t.name.startswith("enumlab-tcp")):
                self._tcp.shutdown()
            self._tcp.server_close()
        for thread in self._threads:
            if thread.ident is not None:  # (a thread never started cannot be joined)
                thread.join(timeout=2)
        for sock in self._udp:
            sock.close()
        self._udp, self._tcp, self._threads = [], None, []

    def __enter__(self) -> EmbeddedServer:
        if self._udp:
            return self
        try:
            return self.start()
        except BaseException:  # a signal's handler during start-up: stop what was started
            with held_back(STOP_SIGNALS):
                self.stop()
            raise

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def load(self, zones: str | Path | Authority) -> EmbeddedServer:
        """Serve other zones from now on, without a restart (a zone directory or an
        :class:`Authority`, e.g. ``server.authority.with_rrset(...)``): the next query, UDP or
        TCP, is answered from them. Only a one-process server can be reloaded."""
        if self.worker_pids:
            raise LabServerError("a server with worker processes cannot load new zones; "
                                 "restart it", subject=self.address)
        authority = zones if isinstance(zones, Authority) else Authority.from_directory(
            zones, max_udp_size=self.authority.max_udp_size)
        self.authority = authority
        if self._tcp is not None:
            self._tcp.authority = authority
        return self

    def zone_names(self) -> list[str]:
        return [z.origin for z in self.authority.zones]
