"""Kamailio's ENUM module against enumlab, for real: BIND and Kamailio in a network namespace.

``python -m enumlab.lab.kamailio check`` (``make kamailio-check``) creates a network namespace whose
``/etc/resolv.conf`` (``/etc/netns/<ns>/resolv.conf``) points at a BIND serving ``data/zones``
on the namespace's own 127.0.0.1:53 -- Kamailio has no DNS setting of its own, it uses the
system resolver (the seed's resolv.conf lesson). Inside, Kamailio runs ``enum_query()`` on every
INVITE and answers 300 with its whole destination set as Contact (the rewritten Request-URI and
every branch, with their q values), or 404. BIND serves the records in the zone's order
(``rrset-order none``), so the order Kamailio sees is the order enumlab's emulation sees. enumlab
sends an INVITE for every ENUM number of the lab zone and compares Kamailio's answer with

* enumlab's RFC 6116/3403 procedure (first candidate), and
* enumlab's emulation of Kamailio (:func:`enumlab.split.peers.kamailio_enum_query`): every URI, in
  order, with its q value.

All traffic stays inside the namespace. Needs root, ``ip`` (iproute2), ``named`` (bind9) and
``kamailio`` with its ``enum`` module (Debian package kamailio).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import dns.zone

from ..core.e164 import from_enum_domain
from ..core.errors import EnumlabError, LabServerError, ProcedureError
from ..core.paths import KAMAILIO_DIR
from ..resolve.ddds import resolve_enum
from ..resolve.lookup import MemoLookup
from ..resolve.resolver import Resolver
from ..split.peers import kamailio_enum_query
from .bind import BindServer, find_program
from .server import DEFAULT_ZONE_DIR

CONFIG = KAMAILIO_DIR / "enum.cfg"
FORWARD_CONFIG = KAMAILIO_DIR / "forward.cfg"
POOL_NUMBER = "+61255503020"  # -> sip:service@pool.split...: four A records
TIES_NUMBER = "+61255503021"  # -> three hosts, NAPTR preferences 100/100/200
SRV_NUMBER = "+61255503022"  # -> sip:service@srvpool.split...: SRV weights 25/25/50
MODULE_DIRS = ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/aarch64-linux-gnu/"
               "kamailio/modules", "/usr/lib/kamailio/modules", "/usr/local/lib64/kamailio/modules")


def lab_numbers(zone_file: Path = DEFAULT_ZONE_DIR / "e164.arpa.zone") -> list[str]:
    """Every number the ENUM zone answers for, plus wildcard samples and neighbours of the
    ported exception (which RFC 4592 turns into NXDOMAIN)."""
    zone = dns.zone.from_file(str(zone_file), relativize=False)
    numbers: set[str] = set()
    for name in zone.nodes:
        text = name.to_text()
        if text.startswith("*."):
            base = text[2:]
            for digits in ("234", "999", "000"):
                numbers.add(from_enum_domain(".".join(reversed(digits)) + "." + base))
            continue
        try:
            numbers.add(from_enum_domain(text))
        except EnumlabError:
            continue  # routing.e164.arpa. helpers and the like
    numbers.update({"+61255502346", "+61255502300", "+4930123456"})
    return sorted(numbers)


@dataclass
class Row:
    number: str
    kamailio_status: int
    kamailio: list[tuple[str, float]]  # its destination set: (URI, q), R-URI first
    emulated: list[tuple[str, float]]
    rfc_first: str | None
    rfc_error: str
    agrees_with_emulation: bool
    agrees_with_rfc: bool

    @property
    def kamailio_uri(self) -> str | None:
        return self.kamailio[0][0] if self.kamailio else None


def _contacts(value: str) -> list[tuple[str, float]]:
    """``<sip:a>;q=0.99, <sip:b;x=1>;q=0.98`` -> [(uri, q), ...] (q 1.0 when absent)."""
    out = []
    for m in re.finditer(r"<([^>]*)>([^<]*)", value):
        q = re.search(r";\s*q=([0-9.]+)", m.group(2))
        out.append((m.group(1), float(q.group(1)) if q else 1.0))
    return out


def _invite(number: str, port: int = 5060, timeout: float = 3.0
            ) -> tuple[int, list[tuple[str, float]]]:
    """Send one INVITE to Kamailio on 127.0.0.1: (status, destination set from the Contact)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        _send_invite(sock, number, port)
        while True:
            data = sock.recv(65535).decode(errors="replace")
            status = int(data.split(" ", 2)[1])
            if status >= 200:
                break
    contacts: list[tuple[str, float]] = []
    for line in data.split("\r\n"):
        if line.lower().startswith(("contact:", "m:")):
            # $ds can print its "Contact:" header more than once on one line: the first
            value = line.split(":", 1)[1].split("Contact:")[0].strip()
            contacts = _contacts(value)
            break
    return status, contacts


def _start_kamailio(workdir: Path, config: Path = CONFIG) -> subprocess.Popen[str]:
    kamailio = find_program("kamailio", "kamailio")
    modules = next((d for d in MODULE_DIRS if Path(d, "enum.so").exists()), None)
    if modules is None:
        raise LabServerError("Kamailio's enum module (enum.so) was not found: install the "
                             "Debian package kamailio", subject="enum.so")
    cfg = workdir / "kamailio.cfg"
    cfg.write_text(config.read_text().replace("__MODULE_PATH__", modules))
    check = subprocess.run([kamailio, "-c", "-f", str(cfg)], capture_output=True, text=True)
    if check.returncode != 0:
        raise LabServerError(f"kamailio -c refused the config:\n{check.stderr[-2000:]}",
                             subject=str(cfg))
    proc = subprocess.Popen([kamailio, "-DD", "-E", "-f", str(cfg), "-P",
                             str(workdir / "kamailio.pid"), "-Y", str(workdir), "-w",
                             str(workdir)], stdout=subprocess.DEVNULL,
                            stderr=open(workdir / "kamailio.log", "w"), text=True)  # noqa: SIM115
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabServerError("kamailio exited at start:\n"
                                 + (workdir / "kamailio.log").read_text()[-2000:],
                                 subject=str(cfg))
        try:
            status, _ = _invite("+0", timeout=0.3)  # not E.164 for enum_query: a quick 404
            if status:
                return proc
        except (OSError, ValueError, IndexError):
            time.sleep(0.2)
    proc.kill()
    raise LabServerError("kamailio did not answer on 127.0.0.1:5060", subject=str(cfg))


def compare_inside_namespace(zones: Path = DEFAULT_ZONE_DIR) -> list[Row]:
    """Run inside a namespace whose resolv.conf points at 127.0.0.1: BIND, Kamailio, compare."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="enumlab-kamailio-") as tmp, \
            BindServer(zones, port=53, rrset_order="none") as bind:
        proc = _start_kamailio(Path(tmp))
        try:
            resolver = Resolver(bind.host, bind.port)
            for number in lab_numbers(zones / "e164.arpa.zone"):
                status, contacts = _invite(number)
                emulated = [(b.uri, b.q) for b in kamailio_enum_query(number, resolver)]
                try:
                    rfc = resolve_enum(number, resolver)
                    rfc_first = rfc.uris[0] if rfc.uris else None
                    error = ""
                    tied = [c.uri for c in rfc.candidates
                            if rfc.candidates and c.record.key == rfc.candidates[0].record.key]
                except ProcedureError as exc:
                    rfc_first, error, tied = None, str(exc), []
                first = contacts[0][0] if status == 300 and contacts else None
                rows.append(Row(
                    number, status, contacts if status == 300 else [], emulated, rfc_first,
                    error,
                    agrees_with_emulation=(contacts == emulated) if status == 300
                    else not emulated,
                    agrees_with_rfc=(first in tied) if status == 300 else rfc_first is None))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return rows


def _send_invite(sock: socket.socket, number: str, port: int = 5060) -> None:
    """An INVITE for ``number`` to Kamailio on 127.0.0.1 (see :func:`_request`)."""
    _request(sock, f"sip:{number}@127.0.0.1", local_host="127.0.0.1",
             to=("127.0.0.1", port))


def fleet_zones(zones: Path, workdir: Path, pool_ttl: int) -> Path:
    """A copy of ``zones`` whose pool host (+61255503020's) has TTL ``pool_ttl``: many cache
    epochs in a short run."""
    out = workdir / "zones"
    shutil.copytree(zones, out)
    zone = out / "mnc001.mcc001.3gppnetwork.org.zone"
    zone.write_text(re.sub(r"(?m)^pool\.split(\s+)IN A", rf"pool.split {pool_ttl} IN A",
                           zone.read_text()))
    return out


def fleet_capture_inside(zones: Path, pcap: Path, *, pool_calls: int, pool_rate: float,
                         ties_calls: int, ties_rate: float) -> dict[str, float]:
    """In the namespace: BIND (rrset-order random, its default), Kamailio forwarding INVITEs
    with its DNS cache on, dumpcap on lo writing ``pcap``; ``pool_calls`` INVITEs for the pool
    number at ``pool_rate`` per second, then ``ties_calls`` for the ties number and as many
    for the SRV number, at ``ties_rate``."""
    dumpcap = find_program("dumpcap", "wireshark-common")
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="enumlab-kamfleet-") as tmp, \
            BindServer(zones, port=53, rrset_order="random"):
        capture = subprocess.Popen([dumpcap, "-q", "-i", "lo", "-w", str(pcap), "-f", "udp"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not pcap.exists():
                time.sleep(0.05)
            time.sleep(0.5)
            proc = _start_kamailio(Path(tmp), FORWARD_CONFIG)
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.bind(("127.0.0.1", 0))
                    for label, number, n, rate in (("pool", POOL_NUMBER, pool_calls, pool_rate),
                                                   ("ties", TIES_NUMBER, ties_calls, ties_rate),
                                                   ("srv", SRV_NUMBER, ties_calls, ties_rate)):
                        times[f"{label}_start"] = time.time()
                        start = time.monotonic()
                        for i in range(n):
                            pause = start + i / rate - time.monotonic()
                            if pause > 0:
                                time.sleep(pause)
                            _send_invite(sock, number)
                        times[f"{label}_end"] = time.time()
                time.sleep(0.5)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
        finally:
            time.sleep(0.3)
            capture.send_signal(2)
            capture.wait(timeout=10)
    pcap.chmod(0o644)  # dumpcap writes 0600; the capture is for everyone to read
    return times


def fleet_capture_unavailable() -> str | None:
    """Why :func:`run_fleet_capture` cannot run here (None when it can)."""
    if os.geteuid() != 0:
        return "it needs root (a network namespace)"
    for program, package in (("ip", "iproute2"), ("named", "bind9"), ("kamailio", "kamailio"),
                             ("dumpcap", "wireshark-common"), ("tshark", "tshark")):
        try:
            find_program(program, package)
        except EnumlabError as exc:
            return str(exc)
    return None


def run_fleet_capture(pcap: Path, zones: Path = DEFAULT_ZONE_DIR, *, pool_ttl: int = 1,
                      pool_calls: int = 600, pool_rate: float = 20.0, ties_calls: int = 300,
                      ties_rate: float = 50.0) -> dict[str, float]:
    """Make the capture of :func:`fleet_capture_inside` in a fresh namespace (pool TTL
    shortened to ``pool_ttl``); returns the phases' start/end times (epoch seconds)."""
    from .netlab import run_in_resolver_namespace

    for program, package in (("named", "bind9"), ("kamailio", "kamailio"),
                             ("dumpcap", "wireshark-common")):
        find_program(program, package)
    with tempfile.TemporaryDirectory(prefix="enumlab-kfl-") as tmp:
        lab = fleet_zones(zones, Path(tmp), pool_ttl)
        out = run_in_resolver_namespace(
            ["enumlab.lab.kamailio", "fleet-inside", "--zones", str(lab), "--pcap", str(pcap),
             "--calls", f"{pool_calls},{pool_rate},{ties_calls},{ties_rate}"],
            tag="kfl", what="the Kamailio fleet run", timeout=900)
    times: dict[str, float] = json.loads(out)
    return times


# -- Kamailio's core SIP resolver: where forward() / t_relay() send a request -----------------

SIP_CONFIG = DEFAULT_ZONE_DIR.parent / "kamailio" / "sip.cfg"
SIP_ADDRESS = "198.18.99.1"  # Kamailio's own address on the namespace's dummy interface
_D = "mnc001.mcc001.3gppnetwork.org"
# the URIs of enumlab.lab.peerlab.SIP_URIS plus "." targets and a second explicit port
SIP_URIS = [f"sip:ims.{_D}", f"sips:ims.{_D}", f"sip:scscf.{_D}", f"sip:scscf.{_D}:6060",
            f"sip:scscf.{_D}:5060", f"sip:scscf.{_D};transport=tcp", f"sip:as.{_D};transport=udp",
            f"sip:as.{_D}", f"sip:icscf.{_D}", f"sip:sctp.{_D}", f"sip:broken.{_D}",
            f"sip:pcscf1.ims.{_D}", f"sip:nosip.{_D}", f"sip:zero.{_D}", f"sip:runs.{_D}",
            f"sip:split.{_D}"]


def sip_configs() -> dict[str, Any]:
    """The Kamailio configurations the check runs: each a :class:`KamailioSipOptions`."""
    from ..split.peers import KamailioSipOptions as K

    return {"default": K(), "naptr": K(try_naptr=True),
            "naptr tcp-pref": K(try_naptr=True, tcp_pref=40),
            "naptr udp-off": K(try_naptr=True, udp_pref=-1),
            "tm naptr": K(tm=True, try_naptr=True),
            "tm srv_lb": K(tm=True, srv_lb=True),
            "srv_lb failover": K(srv_lb=True, failover=True),
            "tm srv_lb failover": K(tm=True, srv_lb=True, failover=True),
            "tm naptr failover": K(tm=True, try_naptr=True, failover=True),
            # TCP first, every TCP target refusing at once (RST): DNS failover's order --
            # through the SRV set, then the next NAPTR transport
            "tm naptr failover tcp-pref": K(tm=True, try_naptr=True, failover=True,
                                            tcp_pref=40)}


# URIs whose split is measured (>= 200 requests) under the configurations that draw
SPLIT_URIS = [f"sip:scscf.{_D}", f"sip:zero.{_D}", f"sip:split.{_D}"]


def _sip_cfg(options: Any, modules: str) -> str:
    def yn(flag: bool) -> str:
        return "yes" if flag else "no"
    values = {"__ADDRESS__": SIP_ADDRESS, "__FAILOVER__": "on" if options.failover else "off",
              "__TRY_NAPTR__": yn(options.try_naptr),
              "__IGNORE_RFC__": yn(options.naptr_ignore_rfc), "__SRV_LB__": yn(options.srv_lb),
              "__UDP_PREF__": str(options.udp_pref), "__TCP_PREF__": str(options.tcp_pref),
              "__TLS_PREF__": str(options.tls_pref), "__SCTP_PREF__": str(options.sctp_pref),
              "__RELAY__": "t_relay()" if options.tm else "forward()",
              "__MODULE_PATH__": modules}
    text = SIP_CONFIG.read_text()
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def _request(sock: socket.socket, uri: str, method: str = "INVITE", *,
             local_host: str = "198.18.99.1", to: tuple[str, int] | None = None) -> str:
    """Send one ``method`` request for ``uri`` from ``sock`` (its Via and Contact naming
    ``local_host``) to ``to`` (default: Kamailio's SIP address, port 5060); returns its
    Call-ID."""
    local = sock.getsockname()[1]
    call = uuid.uuid4().hex
    sock.sendto((f"{method} {uri} SIP/2.0\r\n"
                 f"Via: SIP/2.0/UDP {local_host}:{local};branch=z9hG4bK{call[:16]};rport\r\n"
                 "Max-Forwards: 70\r\n"
                 f"From: <sip:probe@{local_host}>;tag={call[16:24]}\r\n"
                 f"To: <{uri}>\r\nCall-ID: {call}\r\nCSeq: 1 {method}\r\n"
                 f"Contact: <sip:probe@{local_host}:{local}>\r\nContent-Length: 0\r\n\r\n"
                 ).encode(), to or (SIP_ADDRESS, 5060))
    return call


def _outbound(pcap: Path) -> list[tuple[float, str, str, int, str]]:
    """(time, transport, destination address, port, Call-ID or "") of every packet Kamailio
    sent out: UDP datagrams and TCP SYNs (a SIP request over TCP starts with its SYN)."""
    import dpkt

    out = []
    syn_ports: set[int] = set()
    with pcap.open("rb") as f:
        for ts, buf in dpkt.pcap.Reader(f):
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if not isinstance(ip, dpkt.ip.IP):
                continue
            dst = socket.inet_ntoa(ip.dst)
            seg = ip.data
            if isinstance(seg, dpkt.udp.UDP):
                m = re.search(rb"(?im)^Call-ID:\s*(\S+)", bytes(seg.data))
                out.append((float(ts), "udp", dst, seg.dport,
                            m.group(1).decode() if m else ""))
            elif isinstance(seg, dpkt.tcp.TCP) and seg.flags & dpkt.tcp.TH_SYN \
                    and not seg.flags & dpkt.tcp.TH_ACK and seg.sport not in syn_ports:
                syn_ports.add(seg.sport)  # a retransmitted SYN keeps its source port
                out.append((float(ts), "tcp", dst, seg.dport, ""))
    return out



def _sip_requests(kamailio: str, work: Path, name: str, options: Any, modules: str,
                  split_n: int) -> list[tuple[str, str, float]]:
    """Start Kamailio with ``options``, send it the requests, stop it: (URI, Call-ID, time
    sent) per request, and a last entry (``""``, ``""``, the end time)."""
    cfg = work / f"{name.replace(' ', '-')}.cfg"
    cfg.write_text(_sip_cfg(options, modules))
    log = open(work / "kamailio.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([kamailio, "-DD", "-E", "-f", str(cfg), "-Y", str(work), "-w",
                             str(work)], stdout=subprocess.DEVNULL, stderr=log)
    sent: list[tuple[str, str, float]] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((SIP_ADDRESS, 0))
            sock.settimeout(0.3)
            deadline = time.monotonic() + 15
            while True:  # Kamailio up: it answers its own ping
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise LabServerError("kamailio did not start:\n" + (
                        work / "kamailio.log").read_text()[-2000:], subject=str(cfg))
                _request(sock, f"sip:ping@{SIP_ADDRESS}", "OPTIONS")
                try:
                    if b"pong" in sock.recv(65535):
                        break
                except OSError:
                    pass
            # a first TCP request (to a numeric host) before the measured ones: the first TCP
            # connection after start was, once in some runs, never tried
            _request(sock, "sip:warm@192.0.2.250;transport=tcp")
            time.sleep(0.2)
            # the split is measured whenever dns_srv_lb is on; the model draws with failover
            plan = [(u, 1) for u in SIP_URIS] + (
                [(u, split_n) for u in SPLIT_URIS] if options.srv_lb else [])
            # a request's window (until the next one) holds every destination Kamailio tries
            # for it (its lookups, then each refused TCP target with DNS failover): on a
            # loaded machine that took more than 50 ms (CI: a first SYN, or a failover's second
            # one, fell into the next request's window), so each single request gets 300 ms
            gap = 0.3
            for uri, n in plan:
                for _ in range(n):
                    sent.append((uri, _request(sock, uri), time.time()))
                    time.sleep(0.005 if n > 1 else gap)
            time.sleep(0.3)
            sent.append(("", "", time.time()))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
    return sent


def sip_forward_inside(zones: Path = DEFAULT_ZONE_DIR, *, split_n: int = 200,
                       only: list[str] | None = None) -> list[dict[str, Any]]:
    """In the namespace: the lab SIP addresses made local (a TCP connect refused at once), BIND
    in the zones' order on 127.0.0.1:53, then per configuration a fresh Kamailio and dumpcap
    on lo keeping what is sent to the lab addresses; each URI of :data:`SIP_URIS` sent once (its
    first destination compared with the model's first target) and each of
    :data:`SPLIT_URIS` ``split_n`` times under the configurations that draw."""
    import numpy as np

    from ..split.peers import kamailio_sip_resolve

    dumpcap = find_program("dumpcap", "wireshark-common")
    kamailio = find_program("kamailio", "kamailio")
    modules = next((d for d in MODULE_DIRS if Path(d, "tm.so").exists()), None)
    if modules is None:
        raise LabServerError("Kamailio's tm module was not found: install the Debian package "
                             "kamailio", subject="tm.so")
    # Kamailio's own address on lo; every lab SIP target address (192.0.2.0/24) local too, so
    # a TCP connect is refused at once (no connection left pending) and nothing leaves
    for cmd in (["addr", "add", f"{SIP_ADDRESS}/32", "dev", "lo"],
                ["route", "add", "local", "192.0.2.0/24", "dev", "lo"]):
        subprocess.run(["ip", *cmd], check=True, capture_output=True)
    rows: list[dict[str, Any]] = []
    configs = sip_configs()
    with tempfile.TemporaryDirectory(prefix="enumlab-kamsip-") as tmp, \
            BindServer(zones, port=53, rrset_order="none") as bind:
        resolver = Resolver(bind.host, bind.port)
        work = Path(tmp)
        pcap = work / "sip.pcap"  # one capture for every configuration, read at the end
        capture = subprocess.Popen([dumpcap, "-q", "-P", "-i", "lo", "-f",
                                    "dst net 192.0.2.0/24", "-w", str(pcap)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs: list[tuple[str, Any, list[tuple[str, str, float]]]] = []
        try:
            time.sleep(1.0)  # dumpcap opens the file before the interface is live
            for name, options in configs.items():
                if only and name not in only:
                    continue
                sent = _sip_requests(kamailio, work, name, options, modules, split_n)
                runs.append((name, options, sent))
        finally:
            time.sleep(0.3)
            capture.send_signal(2)
            capture.wait(timeout=10)
        packets = _outbound(pcap)
        by_call: dict[str, tuple[float, tuple[str, str, int]]] = {}
        for ts, transport, dst, port, call in packets:
            if call and call not in by_call:
                by_call[call] = (ts, (transport, dst, port))
        syns = [(ts, (t, d, p)) for ts, t, d, p, c in packets if t == "tcp"]
        rng = np.random.default_rng(0)
        memo = MemoLookup(resolver)
        for name, options, sent in runs:
            observed: dict[str, list[str]] = {}
            for k, (uri, call, start) in enumerate(sent[:-1]):  # the last: the run's end
                end = sent[k + 1][2]
                # the earlier of its first UDP datagram (by Call-ID) and the first TCP SYN
                # sent before the next request (a SYN carries no Call-ID; with DNS failover
                # a refused TCP target comes before the UDP one)
                udp = by_call.get(call)
                syn = next(((ts, v) for ts, v in syns if start <= ts < end), None)
                first = min((x for x in (udp, syn) if x is not None), default=None,
                            key=lambda x: x[0])
                hit = first[1] if first else None
                observed.setdefault(uri, []).append(
                    f"{hit[0]}:{hit[1]}:{hit[2]}" if hit else "(nothing)")
            # every destination tried for a request, in order, until the next request: TCP
            # targets refuse at once (RST), so DNS failover moves on within the window
            sequences: dict[str, list[str]] = {}
            for k, (uri, call, start) in enumerate(sent[:-1]):
                end = sent[k + 1][2]
                tried = [f"{t}:{d}:{p}" for ts, t, d, p, c in packets
                         if start <= ts < end and (c == call or (t == "tcp" and not c))]
                sequences.setdefault(uri, list(dict.fromkeys(tried)))
            for uri, got in observed.items():
                model = [f"{t.transport.lower()}:{t.address}:{t.port}"
                         for t in kamailio_sip_resolve(uri, memo, rng, options)]
                # the model's first-target shares: exact for a deterministic configuration,
                # 1,000 runs of the model when it draws
                n_runs = 1000 if options.srv_lb and options.failover else 1
                firsts: dict[str, float] = {}
                for _ in range(n_runs):
                    t = kamailio_sip_resolve(uri, memo, rng, options)
                    key = f"{t[0].transport.lower()}:{t[0].address}:{t[0].port}" if t \
                        else "(nothing)"
                    firsts[key] = firsts.get(key, 0.0) + 1.0 / n_runs
                rows.append({"config": name, "uri": uri, "kamailio": got, "model": model,
                             "model_firsts": firsts, "options": asdict(options),
                             "sequence": sequences.get(uri, [])})
    return rows


def run_sip_check(zones: Path = DEFAULT_ZONE_DIR, *, split_n: int = 200,
                  only: list[str] | None = None) -> list[dict[str, Any]]:
    """Create the namespace, run :func:`sip_forward_inside` in it, clean up."""
    from .netlab import run_in_resolver_namespace

    for program, package in (("named", "bind9"), ("kamailio", "kamailio"),
                             ("dumpcap", "wireshark-common")):
        find_program(program, package)
    args = ["enumlab.lab.kamailio", "sip-inside", "--zones", str(zones), "--split", str(split_n)]
    if only:
        args += ["--only", ",".join(only)]
    rows: list[dict[str, Any]] = json.loads(run_in_resolver_namespace(
        args, tag="ksip", what="the Kamailio SIP resolver check", timeout=600))
    return rows


def run_check(zones: Path = DEFAULT_ZONE_DIR) -> list[Row]:
    """Create the namespace, run :func:`compare_inside_namespace` in it, clean up."""
    from .netlab import run_in_resolver_namespace

    find_program("named", "bind9")
    find_program("kamailio", "kamailio")
    out = run_in_resolver_namespace(["enumlab.lab.kamailio", "inside", "--zones", str(zones)],
                                    tag="kam", what="the Kamailio check")
    return [Row(**{**row, "kamailio": [tuple(c) for c in row["kamailio"]],
                   "emulated": [tuple(c) for c in row["emulated"]]})
            for row in json.loads(out)]


def format_table(rows: list[Row]) -> str:
    lines = [f"{'number':<16} {'kamailio':<62} {'emu':<4} {'rfc':<4} enumlab RFC first candidate"]
    for r in rows:
        more = f" +{len(r.kamailio) - 1} branch(es)" if len(r.kamailio) > 1 else ""
        got = f"{r.kamailio_status} {r.kamailio_uri or ''}{more}"
        lines.append(f"{r.number:<16} {got:<62} {'ok' if r.agrees_with_emulation else 'DIFF':<4} "
                     f"{'ok' if r.agrees_with_rfc else 'diff':<4} "
                     f"{r.rfc_first or r.rfc_error or '(none)'}")
    same = sum(r.agrees_with_rfc for r in rows)
    emu = sum(r.agrees_with_emulation for r in rows)
    lines.append(f"\n{len(rows)} numbers: Kamailio agrees with the RFC procedure on {same}, with "
                 f"enumlab's kamailio emulation on {emu}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m enumlab.lab.kamailio", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["check", "inside", "fleet", "fleet-inside",
                                         "sip-check", "sip-inside"],
                        help="check: create the namespace and compare; fleet: capture Kamailio "
                             "forwarding INVITEs with its DNS cache on (--pcap); inside, "
                             "fleet-inside: (internal)")
    parser.add_argument("--zones", type=Path, default=DEFAULT_ZONE_DIR)
    parser.add_argument("--pcap", type=Path, help="fleet: where to write the capture")
    parser.add_argument("--calls", default="600,20,300,50", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--split", type=int, default=200, help="sip-check: requests per split "
                        "URI under the configurations that draw")
    parser.add_argument("--only", default="", help="sip-check: configurations, comma-separated")
    args = parser.parse_args(argv)
    if args.mode in ("sip-check", "sip-inside"):
        only = [c for c in args.only.split(",") if c] or None
        try:
            if args.mode == "sip-inside":
                json.dump(sip_forward_inside(args.zones, split_n=args.split, only=only),
                          sys.stdout)
                return 0
            sip_rows = run_sip_check(args.zones, split_n=args.split, only=only)
        except EnumlabError as exc:
            print(f"enumlab kamailio: error: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(sip_rows, indent=None if not args.json else 1))
        return 0
    if args.mode in ("fleet", "fleet-inside"):
        if args.pcap is None:
            parser.error("fleet needs --pcap FILE")
        n1, r1, n2, r2 = (float(x) for x in args.calls.split(","))
        try:
            if args.mode == "fleet-inside":
                json.dump(fleet_capture_inside(args.zones, args.pcap.resolve(),
                                               pool_calls=int(n1), pool_rate=r1,
                                               ties_calls=int(n2), ties_rate=r2), sys.stdout)
                return 0
            times = run_fleet_capture(args.pcap.resolve(), args.zones, pool_calls=int(n1),
                                      pool_rate=r1, ties_calls=int(n2), ties_rate=r2)
        except EnumlabError as exc:
            print(f"enumlab kamailio: error: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(times))
        return 0
    try:
        if args.mode == "inside":
            rows = compare_inside_namespace(args.zones)
            json.dump([asdict(r) for r in rows], sys.stdout)
            return 0
        rows = run_check(args.zones)
    except EnumlabError as exc:
        print(f"enumlab kamailio: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        print(format_table(rows))
    return 0 if all(r.agrees_with_emulation for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
