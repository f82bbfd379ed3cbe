"""Real SIP stacks (baresip / libre, linphone / belle-sip) against the lab zones, beside their
client models (:mod:`enumlab.split.stacks`).

Each check runs inside a network namespace of its own (:func:`enumlab.lab.peerlab.run`): the
lab's documentation addresses (192.0.2.0/24, 2001:db8::/32) are made local on loopback, and a
sink listens on the lab's SIP ports for UDP datagrams and TCP/TLS connections, never
answering -- so the first request of each URI arrives at its first target and stays there
(no failover). The stack resolves through the embedded lab server only: baresip is told its
address (``dns_server``), linphone gets it from the application-supplied DNS list; nothing
reaches past the namespace. Needs root and iproute2.
"""

from __future__ import annotations

import re
import selectors
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import LabServerError
from .bind import find_program
from .server import EmbeddedServer

D = "mnc001.mcc001.3gppnetwork.org"
# records the stack checks add to a copy of the lab zone: a NAPTR with both REGEXP and
# REPLACEMENT (RFC 3403 s4.1 refuses it), a host whose only NAPTR is SIP+D2U (for sips:), a
# host without NAPTR but SRV for all three transports, a lone most-preferred SRV record
# before a pair, and a NAPTR whose SRV name has no records
STACK_EXTRA = """\
bothsip IN NAPTR 10 10 "s" "SIP+D2U" "!^.*$!sip:x@example.com!" _sip._udp.scscf
udponly IN NAPTR 10 10 "s" "SIP+D2U" "" _sip._udp.split
emptysrv IN NAPTR 10 10 "s" "SIP+D2T" "" _sip._tcp.nowhere
emptysrv IN A 192.0.2.130
_sips._tcp.tlsfirst IN SRV 10 10 5061 tls1.tlsfirst
_sip._tcp.tlsfirst IN SRV 10 10 5060 tcp1.tlsfirst
_sip._udp.tlsfirst IN SRV 10 10 5060 udp1.tlsfirst
tls1.tlsfirst IN A 192.0.2.111
tcp1.tlsfirst IN A 192.0.2.112
udp1.tlsfirst IN A 192.0.2.113
_sip._udp.lone IN SRV 5 10 5060 lone1.lone
_sip._udp.lone IN SRV 10 50 5060 lone2.lone
_sip._udp.lone IN SRV 10 50 5060 lone3.lone
lone1.lone IN A 192.0.2.121
lone2.lone IN A 192.0.2.122
lone3.lone IN A 192.0.2.123
""" + "".join(
    # linphone keeps one channel per host name: 200 names with the same 25/25/50 SRV set
    # give 200 independent resolutions from one linphonec
    f"_sip._udp.lsplit{i} IN SRV 10 25 5060 split1.split\n"
    f"_sip._udp.lsplit{i} IN SRV 10 25 5060 split2.split\n"
    f"_sip._udp.lsplit{i} IN SRV 10 50 5060 split3.split\n" for i in range(200))
SINK_PORTS = (5060, 5061, 5070, 6060)
LOCAL_NETS = ("192.0.2.0/24", "2001:db8::/32")
_IP_PKTINFO = 8
_IPV6_RECVPKTINFO = 49
_IPV6_PKTINFO = 50
_REQUEST_LINE = re.compile(rb"^([A-Z]+) (\S+) SIP/2\.0")
_FROM = re.compile(rb"(?im)^(?:From|f):[^<\r\n]*<([^>]+)>")
_CALL_ID = re.compile(rb"(?im)^(?:Call-ID|i):\s*(\S+)")


@dataclass(frozen=True)
class Hit:
    """A request (or a TLS handshake) that reached the sink."""

    when: float
    transport: str  # udp, tcp, tls
    address: str
    port: int
    request_uri: str  # "" for TLS (encrypted)
    caller: str  # the From URI, "" for TLS
    method: str = ""
    call_id: str = ""


class SipSink:
    """UDP and TCP listeners on every local address (IPv4 and IPv6) at ``ports``: records the
    first bytes of every datagram and connection, answers nothing."""

    def __init__(self, ports: Sequence[int] = SINK_PORTS) -> None:
        self.ports = ports
        self.hits: list[Hit] = []
        self._stop = threading.Event()
        self._sel = selectors.DefaultSelector()
        self._socks: list[socket.socket] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SipSink:
        for port in self.ports:
            for family, any_addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
                udp = socket.socket(family, socket.SOCK_DGRAM)
                if family == socket.AF_INET:
                    udp.setsockopt(socket.SOL_IP, _IP_PKTINFO, 1)
                else:
                    udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    udp.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVPKTINFO, 1)
                udp.bind((any_addr, port))
                tcp = socket.socket(family, socket.SOCK_STREAM)
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    tcp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                tcp.bind((any_addr, port))
                tcp.listen(64)
                self._socks += [udp, tcp]
                self._sel.register(udp, selectors.EVENT_READ, ("udp", port))
                self._sel.register(tcp, selectors.EVENT_READ, ("listen", port))
        self._thread.start()
        return self

    def _record(self, transport: str, address: str, port: int, data: bytes) -> None:
        if data[:1] == b"\x16":
            self.hits.append(Hit(time.time(), "tls", address, port, "", ""))
            return
        line = _REQUEST_LINE.match(data)
        caller = _FROM.search(data)
        call = _CALL_ID.search(data)
        self.hits.append(Hit(time.time(), transport, address, port,
                             line.group(2).decode(errors="replace") if line else "",
                             caller.group(1).decode(errors="replace") if caller else "",
                             line.group(1).decode() if line else "",
                             call.group(1).decode(errors="replace") if call else ""))

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._sel.select(0.05):
                kind, port = key.data
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                if kind == "udp":
                    data, ancillary, _, _ = sock.recvmsg(65535, 256)
                    address = ""
                    for level, ctype, cdata in ancillary:
                        if ctype == _IP_PKTINFO and level == socket.SOL_IP:
                            address = socket.inet_ntop(socket.AF_INET, cdata[8:12])
                        elif ctype == _IPV6_PKTINFO and level == socket.IPPROTO_IPV6:
                            address = socket.inet_ntop(socket.AF_INET6, cdata[:16])
                    self._record("udp", address, port, data)
                elif kind == "listen":
                    conn, _ = sock.accept()
                    conn.setblocking(False)
                    self._socks.append(conn)
                    self._sel.register(conn, selectors.EVENT_READ, ("conn", port))
                else:
                    try:
                        data = sock.recv(65535)
                    except OSError:
                        data = b""
                    if not data or data[:1] == b"\x16":
                        self._sel.unregister(sock)  # closed, or TLS: nothing more to read
                    if data:  # a stack may send several requests over one connection
                        self._record("tcp", sock.getsockname()[0], port, data)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in self._socks:
            sock.close()
        self._sel.close()

    def wait_for(self, start: int, match: Any, timeout: float) -> Hit | None:
        """The first hit from index ``start`` on for which ``match(hit)`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            for hit in self.hits[start:]:
                if match(hit):
                    return hit
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)


def make_local(nets: Sequence[str] = LOCAL_NETS) -> None:
    """Every address of ``nets`` local on loopback (in this namespace only)."""
    for net in nets:
        family = "-6" if ":" in net else "-4"
        subprocess.run(["ip", family, "route", "add", "local", net, "dev", "lo"], check=True,
                       capture_output=True)


def hit_text(hit: Hit | None) -> str:
    return f"{hit.transport}:{hit.address}:{hit.port}" if hit else "(nothing)"


# -- baresip / libre ---------------------------------------------------------------------------

# URIs for the first-target check: NAPTR (TCP first), sips (sent as sip:sips:), SRV per
# transport, TLS first without NAPTR, a port, transport=, weight 0, priority runs, a target
# without address, a "." target, nothing at all, the both-fields NAPTR, an address pool
BARESIP_URIS = [f"sip:x@ims.{D}", f"sips:x@ims.{D}", f"sip:x@ims.{D};transport=tls",
                f"sip:x@scscf.{D}", f"sip:x@scscf.{D}:5070", f"sip:x@scscf.{D};transport=tcp",
                f"sip:x@as.{D};transport=udp", f"sip:x@as.{D}", f"sip:x@icscf.{D}",
                f"sips:x@icscf.{D}", f"sip:x@sctp.{D}", f"sip:x@broken.{D}",
                f"sip:x@pcscf1.ims.{D}", f"sip:x@nothing.{D}", f"sip:x@zero.{D}",
                f"sip:x@runs.{D}", f"sip:x@split.{D}", f"sip:x@pool.split.{D}",
                f"sip:x@srvpool.split.{D}", f"sip:x@nosip.{D}", f"sip:x@bothsip.{D}",
                f"sips:x@udponly.{D}", f"sip:x@tlsfirst.{D}", f"sip:x@lone.{D}",
                f"sip:x@icscf.{D};transport=foo", "sip:x@192.0.2.1:5070",
                f"sip:x@icscf.{D};transport=tcp", f"sip:x@emptysrv.{D}"]
BARESIP_CALLERS = 3  # callers per URI in the first-target check
# URIs whose first target is TLS: one caller each (the sink never completes the handshake,
# and libre would queue a second caller's request on the same pending connection)
BARESIP_TLS_URIS = {f"sip:x@ims.{D};transport=tls", f"sip:x@tlsfirst.{D}"}
BARESIP_SPLIT_URI = f"sip:x@split.{D}"
BARESIP_REPEAT = 20
# baresip with an IPv4 and an IPv6 address: hosts with A and AAAA records (the caller's key
# orders both families together), NAPTR to SRV targets with both, SRV targets with A only
BARESIP_V6_URIS = [f"sip:x@pcscf1.ims.{D}", f"sip:x@multi.ims.{D}", f"sip:x@ims.{D}",
                   f"sip:x@scscf.{D}"]
BARESIP_V6_CALLERS = 5
DUAL_STACK_IF = "enumlab0"


def _dual_stack_interface() -> None:
    """A veth interface in this namespace with an IPv4 and an IPv6 address and default
    routes through it (baresip takes its addresses from the default route's interface); the
    lab addresses stay local on loopback, so nothing leaves."""
    commands = [["link", "add", DUAL_STACK_IF, "type", "veth", "peer", "name", "enumlab1"],
                ["link", "set", DUAL_STACK_IF, "up"], ["link", "set", "enumlab1", "up"],
                ["addr", "add", "198.18.99.1/24", "dev", DUAL_STACK_IF],
                ["addr", "add", "2001:db8:99::1/64", "dev", DUAL_STACK_IF, "nodad"],
                ["route", "add", "default", "via", "198.18.99.2", "dev", DUAL_STACK_IF,
                 "onlink"],
                ["-6", "route", "add", "default", "via", "2001:db8:99::2", "dev",
                 DUAL_STACK_IF, "onlink"]]
    for cmd in commands:
        subprocess.run(["ip", *cmd], check=True, capture_output=True)


def caller_uri(i: int) -> str:
    return f"sip:c{i}@lab.example"


def _baresip_config(workdir: Path, dns: tuple[str, int], callers: int, interface: str) -> None:
    """baresip's config and accounts: bound to ``interface`` (127.0.0.1: IPv4 only, port
    5080; an interface name: its IPv4 and IPv6 address), the lab server its only DNS server,
    ``callers`` accounts without registration."""
    listen = f"sip_listen\t\t{interface}:5080\n" if interface[0].isdigit() else ""
    (workdir / "config").write_text(f"""poll_method\t\tepoll
{listen}net_interface\t\t{interface}
dns_server\t\t{dns[0]}:{dns[1]}
module_path\t\t/usr/lib/baresip/modules
module\t\t\tstdio.so
module_app\t\taccount.so
module_app\t\tmenu.so
""")
    (workdir / "accounts").write_text("".join(f"<{caller_uri(i)}>;regint=0\n"
                                              for i in range(callers)))


class _Baresip:
    """One baresip process bound to one address family, driven on its standard input."""

    def __init__(self, program: str, workdir: Path, sink: SipSink, ready_uri: str) -> None:
        self.sink = sink
        self.proc = subprocess.Popen([program, "-f", str(workdir)], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        # ready once it answers a command: an OPTIONS to a numeric host reaches the sink
        while True:
            start = len(sink.hits)
            self.command(f"/options {ready_uri}")
            if sink.wait_for(start, lambda h: "ready@" in h.request_uri, 0.5):
                return
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise LabServerError("baresip did not start", subject=program)

    def command(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def matcher(self, uri: str, caller: str, start: int) -> Any:
        """A request for ``uri`` from ``caller`` that is not a retransmission of one sent
        before ``start`` (a new Call-ID), or a TLS handshake."""
        old = {h.call_id for h in self.sink.hits[:start]}
        sent = uri if uri.startswith("sip:") else "sip:" + uri  # baresip's URI completion
        return lambda h: h.transport == "tls" or (
            h.request_uri == sent and h.caller == caller and h.call_id not in old)

    def send(self, uri: str, caller: str, timeout: float) -> tuple[Hit | None, int, Any]:
        start = len(self.sink.hits)
        self.command(f"/uafind {caller}\n/options {uri}")
        match = self.matcher(uri, caller, start)
        return self.sink.wait_for(start, match, timeout), start, match

    def phase(self, plan: list[tuple[str, str]], timeout: float) -> list[tuple[str, str,
                                                                             Hit | None]]:
        """Each (URI, caller) of ``plan`` once -- no pair twice, so a late arrival, after
        the wait, is still told apart: (URI, caller, first arrival)."""
        sent = [(uri, caller, *self.send(uri, caller, timeout)) for uri, caller in plan]
        time.sleep(1.0)  # late arrivals
        end = len(self.sink.hits)
        out = []
        for uri, caller, hit, start, match in sent:
            if hit is None:
                hit = next((h for h in self.sink.hits[start:end]
                            if match(h) and h.transport != "tls"), None)
            out.append((uri, caller, hit))
        return out

    def close(self) -> None:
        try:
            self.command("/quit")
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def baresip_inside(zones: Path, split_n: int = 200) -> list[dict[str, Any]]:
    """In the namespace: baresip (the embedded lab server its only DNS server) bound to
    127.0.0.1 with ``split_n`` accounts sends OPTIONS to every URI of :data:`BARESIP_URIS`
    from :data:`BARESIP_CALLERS` callers, then to :data:`BARESIP_SPLIT_URI` from each of the
    ``split_n`` callers, then :data:`BARESIP_REPEAT` times from one caller; then a baresip
    with an IPv4 and an IPv6 address (A and AAAA records) sends to :data:`BARESIP_V6_URIS`
    from :data:`BARESIP_V6_CALLERS` callers each. Where each request arrived first, beside the
    ``baresip`` model for the same caller and address family."""
    from ..resolve.lookup import MemoLookup
    from ..resolve.resolver import Resolver
    from ..split.clients import get_model

    program = find_program("baresip", "baresip")
    make_local()
    model = get_model("baresip")
    rows: list[dict[str, Any]] = []

    def compare(arrived: list[tuple[str, str, Hit | None]], kind: str,
                families: tuple[str, ...]) -> None:
        for uri, caller, hit in arrived:
            expect = [t.uri for t in model.run("sip", uri, memo, caller=caller,
                                               families=families).targets]
            rows.append({"uri": uri, "caller": caller, "kind": kind, "baresip": hit_text(hit),
                         "model": expect,
                         "agrees": hit_text(hit) == (expect or ["(nothing)"])[0]})

    with EmbeddedServer(zones) as server, SipSink() as sink:
        memo = MemoLookup(Resolver(server.host, server.port))
        with tempfile.TemporaryDirectory(prefix="enumlab-baresip-") as tmp:
            _baresip_config(Path(tmp), (server.host, server.port),
                            max(split_n, BARESIP_CALLERS), "127.0.0.1")
            baresip = _Baresip(program, Path(tmp), sink, "sip:ready@192.0.2.250")
            try:
                compare(baresip.phase([(uri, caller_uri(i)) for uri in BARESIP_URIS for i in
                                       range(1 if uri in BARESIP_TLS_URIS else
                                             BARESIP_CALLERS)], 0.8), "first", ("ipv4",))
                compare(baresip.phase([(BARESIP_SPLIT_URI, caller_uri(i))
                                       for i in range(split_n)], 2.0), "split", ("ipv4",))
                # one caller, again and again: the same target every time (no draw)
                for _ in range(BARESIP_REPEAT):
                    hit, _, _ = baresip.send(BARESIP_SPLIT_URI, caller_uri(0), 2.0)
                    rows.append({"uri": BARESIP_SPLIT_URI, "caller": caller_uri(0),
                                 "kind": "repeat", "baresip": hit_text(hit), "model": [],
                                 "agrees": hit is not None})
            finally:
                baresip.close()
        _dual_stack_interface()
        with tempfile.TemporaryDirectory(prefix="enumlab-baresip6-") as tmp:
            _baresip_config(Path(tmp), (server.host, server.port), BARESIP_V6_CALLERS,
                            DUAL_STACK_IF)
            baresip = _Baresip(program, Path(tmp), sink, "sip:ready@[2001:db8::250]")
            try:
                compare(baresip.phase([(uri, caller_uri(i)) for uri in BARESIP_V6_URIS
                                       for i in range(BARESIP_V6_CALLERS)], 0.8),
                        "dual-stack", ("ipv4", "ipv6"))
            finally:
                baresip.close()
    return rows


# -- linphone / belle-sip ----------------------------------------------------------------------

# linphonec's "chat URI text" sends a MESSAGE whose Request-URI keeps only sip:user@host (no
# port, no parameters, no sips); "call URI" keeps them: the URIs that need them are called
LINPHONE_CHAT_URIS = [f"sip:x@{h}.{D}" for h in (
    "ims", "scscf", "as", "icscf", "broken", "pcscf1.ims", "nothing", "zero", "runs", "split",
    "pool.split", "srvpool.split", "lone", "tlsfirst", "multi.ims", "sctp", "bothsip")]
# a lone "." SRV target: belle-sip waits for the target's address lookup to time out (about
# 15 s here) before it takes the host's own A record -- sent first, read last
LINPHONE_SLOW_URIS = [f"sip:x@nosip.{D}"]
LINPHONE_CALL_URIS = [f"sip:x@scscf.{D}:5070", f"sips:x@ims.{D}",
                      f"sip:x@scscf.{D};transport=tcp", f"sip:x@ims.{D};transport=tls",
                      "sip:x@192.0.2.1:5070", f"sip:x@icscf.{D};transport=tcp"]
LINPHONE_SPLIT = "sip:x@lsplit{}." + D
# called again after the chats: a URI with a port, and the chat to the same host before it
LINPHONE_REUSE = (f"sip:x@scscf.{D}:5070", f"sip:x@scscf.{D}")
MODEL_RUNS = 4000


def _linphone_config(home: Path) -> Path:
    (home / ".local" / "share" / "linphone").mkdir(parents=True)
    rc = home / "linphonerc"
    # auto_net_state_mon=0: linphone's network monitor, seeing loopback only, declares the
    # network down a few seconds after start and drops every pending request; with an
    # interface added instead, its address changes reset the transports just the same
    rc.write_text("[sip]\nsip_port=5090\nsip_tcp_port=5090\nsip_tls_port=5091\n"
                  "default_proxy=-1\nauto_net_state_mon=0\n[net]\nfirewall_policy=0\n")
    return rc


def _model_firsts(uri: str, lookup: Any, runs: int = MODEL_RUNS) -> dict[str, float]:
    """The linphone model's first-target shares over ``runs`` runs (seeded)."""
    import numpy as np

    from ..split.clients import get_model

    rng = np.random.default_rng(28)
    model = get_model("linphone")
    firsts: dict[str, float] = {}
    for _ in range(runs):
        targets = model.run("sip", uri, lookup, rng=rng).targets
        key = targets[0].uri if targets else "(nothing)"
        firsts[key] = firsts.get(key, 0.0) + 1.0 / runs
    return firsts


def linphone_inside(zones: Path, split_n: int = 200) -> list[dict[str, Any]]:
    """In the namespace (resolv.conf -> 127.0.0.1, where the embedded lab server listens on
    port 53): one linphonec calls every URI of :data:`LINPHONE_CALL_URIS` one after the other,
    sends a MESSAGE to every URI of :data:`LINPHONE_CHAT_URIS`, calls the first URI of
    :data:`LINPHONE_REUSE` again (the channel the chat opened is reused), then sends a MESSAGE to
    ``split_n`` host names with the same 25/25/50 SRV set (linphone keeps one channel per
    host name: one resolution each); where each request arrived first, beside the
    ``linphone`` model's first-target shares."""
    import os

    from ..resolve.lookup import MemoLookup
    from ..resolve.resolver import Resolver

    program = find_program("linphonec", "linphone-cli")
    make_local()
    rows: list[dict[str, Any]] = []
    with EmbeddedServer(zones, host="127.0.0.1", port=53) as server, SipSink() as sink, \
            tempfile.TemporaryDirectory(prefix="enumlab-linphone-") as tmp:
        rc = _linphone_config(Path(tmp))
        memo = MemoLookup(Resolver(server.host, server.port))
        proc = subprocess.Popen([program, "-c", str(rc)], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, HOME=tmp))

        def command(text: str) -> None:
            assert proc.stdin is not None
            proc.stdin.write(text.encode() + b"\n")
            proc.stdin.flush()

        try:
            deadline = time.monotonic() + 30
            while True:  # ready once a MESSAGE to a numeric host arrives
                start = len(sink.hits)
                command("chat sip:ready@192.0.2.250 hello")
                if sink.wait_for(start, lambda h: "ready@" in h.request_uri, 1.0):
                    break
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise LabServerError("linphonec did not start", subject=program)

            def messages(uris: list[str], timeout: float) -> dict[str, Hit]:
                """A MESSAGE to each of ``uris``, then the first arrival of each, waiting
                until all arrived or ``timeout`` passed (a resolution now and then takes
                a DNS retransmission, seconds)."""
                start = len(sink.hits)
                for uri in uris:
                    command(f"chat {uri} hello")
                    time.sleep(0.01)
                deadline = time.monotonic() + timeout
                found: dict[str, Hit] = {}
                while len(found) < len(uris) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    for hit in sink.hits[start:]:
                        if hit.method == "MESSAGE" and hit.request_uri in uris:
                            found.setdefault(hit.request_uri, hit)
                return found

            def call(uri: str) -> Hit | None:
                """INVITE ``uri`` (a new Call-ID), its first arrival, then hang up."""
                start = len(sink.hits)
                old = {h.call_id for h in sink.hits}
                command(f"call {uri}")
                sent = uri.replace("sips:", "sip:", 1)  # linphone drops the s (measured)
                hit = sink.wait_for(start, lambda h: h.transport == "tls" or (
                    h.method == "INVITE" and h.request_uri == sent
                    and h.call_id not in old), 3.0)
                command("terminate")
                time.sleep(0.3)
                return hit

            slow_start = len(sink.hits)
            slow_deadline = time.monotonic() + 30
            for uri in LINPHONE_SLOW_URIS:
                command(f"chat {uri} hello")
            # the calls first: linphone reuses an open channel to a host (see "reuse" below),
            # so each of these is a fresh resolution only before any chat to the same host
            for uri in LINPHONE_CALL_URIS:
                rows.append({"uri": uri, "kind": "first", "linphone": hit_text(call(uri)),
                             "model_firsts": _model_firsts(uri, memo)})
            found = messages(LINPHONE_CHAT_URIS, 4.0)
            for uri in LINPHONE_CHAT_URIS:
                rows.append({"uri": uri, "kind": "first", "linphone": hit_text(found.get(uri)),
                             "model_firsts": _model_firsts(uri, memo)})
            # a port after an SRV-resolved channel to the host: the channel is reused, the
            # port not honoured -- where the chat to the host went, not the host's A record
            chatted = hit_text(found.get(LINPHONE_REUSE[1]))
            rows.append({"uri": LINPHONE_REUSE[0], "kind": "reuse",
                         "linphone": hit_text(call(LINPHONE_REUSE[0])),
                         "model_firsts": {chatted: 1.0}})
            split = [LINPHONE_SPLIT.format(i) for i in range(split_n)]
            found = messages(split, 20.0)
            firsts = _model_firsts(split[0], memo)
            for uri in split:
                rows.append({"uri": uri, "kind": "split", "linphone": hit_text(found.get(uri)),
                             "model_firsts": firsts})
            for uri in LINPHONE_SLOW_URIS:
                hit = sink.wait_for(slow_start, lambda h, uri=uri: h.method == "MESSAGE"
                                    and h.request_uri == uri,
                                    max(0.0, slow_deadline - time.monotonic()))
                rows.append({"uri": uri, "kind": "first", "linphone": hit_text(hit),
                             "model_firsts": _model_firsts(uri, memo)})
        finally:
            try:
                command("quit")
                if proc.stdin:
                    proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    for row in rows:
        row["agrees"] = row["model_firsts"].get(row["linphone"], 0.0) > 0
    return rows


__all__ = ["BARESIP_REPEAT", "BARESIP_URIS", "BARESIP_V6_URIS", "LINPHONE_CALL_URIS",
           "LINPHONE_CHAT_URIS", "LINPHONE_SLOW_URIS", "STACK_EXTRA", "SipSink",
           "baresip_inside", "linphone_inside"]
