"""Real peers that resolve through the system resolver, run against the lab zones.

sip-dig and glibc's ``getaddrinfo`` (like Kamailio, :mod:`enumlab.lab.kamailio`) have no DNS server
setting: they read ``/etc/resolv.conf``. So each check runs inside a network namespace this
module creates, whose ``/etc/netns/<ns>/resolv.conf`` names 127.0.0.1, where a BIND serves
``data/zones`` in the zones' own record order (``rrset-order none``: what the peer sees is what
enumlab's model sees). The peer's output is compared with the client model
(:mod:`enumlab.split.clients`). All traffic stays inside the namespace; it needs root and iproute2.

``python -m enumlab.lab.peerlab sip-dig`` / ``getaddrinfo`` prints the comparison; the tests run
the same functions. ``baresip`` and ``linphone`` run the two SIP stacks the same way, with the
embedded lab server instead of BIND (:mod:`enumlab.lab.stacklab`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..core.errors import EnumlabError, LabServerError
from .bind import BindServer, find_program
from .server import DEFAULT_ZONE_DIR

D = "mnc001.mcc001.3gppnetwork.org"
# every way into RFC 3263 the lab zone offers: NAPTR, SRV per transport, a port, transport=,
# sips, weight-0 records, a priority group after another, nothing at all
SIP_URIS = [f"sip:ims.{D}", f"sips:ims.{D}", f"sip:scscf.{D}", f"sip:scscf.{D}:6060",
            f"sip:scscf.{D};transport=tcp", f"sip:as.{D};transport=udp", f"sip:as.{D}",
            f"sips:icscf.{D}", f"sip:icscf.{D}", f"sip:sctp.{D}", f"sip:broken.{D}",
            f"sip:pcscf1.ims.{D}", f"sip:nothing.{D}", f"sip:zero.{D}", f"sip:runs.{D}",
            # issue 28's three sip-dig misses: numeric IPv6 (with transport=), a NAPTR with
            # REGEXP and REPLACEMENT both set, an unknown transport
            "sip:[2001:db8::1]", "sip:[2001:db8::1];transport=tcp",
            "sip:[2001:db8::1]:5070;transport=tls", "sips:[2001:db8::1]", "sip:192.0.2.1:5070",
            "sip:192.0.2.1;transport=foo", f"sip:icscf.{D};transport=foo",
            f"sip:bothsip.{D}"]
# records the sip-dig check adds to a copy of the lab zone (not in data/zones: RFC 3403 s4.1
# refuses a NAPTR with both REGEXP and REPLACEMENT, and other checks read that zone)
SIP_DIG_EXTRA = ('bothsip IN NAPTR 10 10 "s" "SIP+D2U" "!^.*$!sip:x@example.com!" '
                 '_sip._udp.scscf\n')
# hosts with both A and AAAA records
DUAL_STACK = [f"pcscf1.ims.{D}", "topon.lb1.pgw01.epc.mnc001.mcc001.3gppnetwork.org",
              f"multi.ims.{D}"]
# host address layouts for getaddrinfo: the source addresses with a default route (lab0 also
# has an IPv6 link-local address in every layout: IPv6 counts as configured)
V4, V6, ULA = "198.18.77.2/24", "2001:db8:77::2/64", "fd53:77::2/64"
LAYOUTS: dict[str, tuple[str, ...]] = {"ipv4 only": (V4,), "ipv6 only": (V6,),
                                       "both": (V4, V6), "neither": (),
                                       # RFC 6724 rule 5: the only IPv6 source is a ULA
                                       "ipv4 + ula": (V4, ULA), "ula only": (ULA,)}


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def sip_dig_inside(zones: Path) -> list[dict[str, Any]]:
    """In the namespace: real sip-dig for every URI, beside the sofia-sip model."""
    from ..resolve.resolver import Resolver
    from ..split.clients import sip_dig

    program = find_program("sip-dig", "sofia-sip-bin")
    rows = []
    with BindServer(zones, port=53, rrset_order="none") as bind:
        resolver = Resolver(bind.host, bind.port)
        for uri in SIP_URIS:
            out = subprocess.run([program, uri], capture_output=True, text=True, timeout=20)
            real = [line for line in out.stdout.splitlines() if line.strip()]
            model = sip_dig(uri, resolver)
            rows.append({"uri": uri, "sip_dig": real, "model": model,
                         "exit": out.returncode, "agrees": real == model})
    return rows


def _wait_link_local(dev: str, timeout: float = 5.0) -> None:
    """Until ``dev`` has a usable (not tentative) IPv6 link-local address."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["ip", "-6", "addr", "show", "dev", dev, "scope", "link"],
                             capture_output=True, text=True).stdout
        if "inet6" in out and "tentative" not in out:
            return
        time.sleep(0.05)
    raise LabServerError(f"{dev} has no usable IPv6 link-local address", subject=dev)


def getaddrinfo_inside(zones: Path) -> list[dict[str, Any]]:
    """In the namespace: ``getent ahosts`` for dual-stack names under each address layout,
    beside the glibc model fed the same DNS answers."""
    from ..core.records import AddressRecord
    from ..resolve.resolver import Resolver
    from ..split.clients import glibc_order

    getent = find_program("getent", "libc-bin")
    rows = []
    with BindServer(zones, port=53, rrset_order="none") as bind:
        resolver = Resolver(bind.host, bind.port)
        # a veth pair inside the namespace: lab0 carries the host's addresses and routes
        _ip("link", "add", "lab0", "type", "veth", "peer", "name", "lab1")
        # no duplicate address detection in this namespace of ours: the IPv6 link-local address
        # (what makes IPv6 "configured" for AI_ADDRCONFIG) is usable at once, not after DAD --
        # the first layout once saw no IPv6 at all
        for dev in ("lab0", "lab1"):
            subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{dev}.accept_dad=0"], check=True,
                           capture_output=True)
        _ip("link", "set", "lab0", "up")
        _ip("link", "set", "lab1", "up")
        _wait_link_local("lab0")
        for layout, families in LAYOUTS.items():
            _ip("-4", "route", "flush", "dev", "lab0")
            _ip("-6", "route", "flush", "dev", "lab0")
            _ip("addr", "flush", "dev", "lab0")
            if V4 in families:
                _ip("addr", "add", V4, "dev", "lab0")
                _ip("route", "add", "default", "via", "198.18.77.1", "dev", "lab0")
            if V6 in families:
                _ip("addr", "add", V6, "dev", "lab0", "nodad")
                _ip("-6", "route", "add", "default", "via", "2001:db8:77::1", "dev", "lab0")
            if ULA in families:
                _ip("addr", "add", ULA, "dev", "lab0", "nodad")
                _ip("-6", "route", "add", "default", "via", "fd53:77::1", "dev", "lab0")
            for name in DUAL_STACK:
                out = subprocess.run([getent, "ahosts", name], capture_output=True, text=True,
                                     timeout=20)
                real = list(dict.fromkeys(line.split()[0] for line in out.stdout.splitlines()
                                          if line.strip()))
                dns = [r.address for t in ("AAAA", "A")
                       for r in resolver.query(name + ".", t).records
                       if isinstance(r, AddressRecord)]
                # IPv4 counts as configured only with its address; IPv6 always (link-local)
                configured = ["ipv6"] + (["ipv4"] if V4 in families else [])
                model = glibc_order(dns, families, configured=configured)
                rows.append({"layout": layout, "name": name, "getent": real, "model": model,
                             "agrees": real == model})
    return rows


# -- Twisted Names: its own SRVConnector, run by the system python3 on loopback ---------------

TWISTED_PYTHON = "/usr/bin/python3"  # Debian's python3-twisted is for the system python
# SRVConnector with a memory reactor: the DNS is real (Twisted's resolver asks the lab server),
# the connection is not made -- the reactor records the (host, port) it was asked to connect to
_TWISTED_SCRIPT = r"""
import json, sys
from twisted.internet import reactor, task
from twisted.internet.protocol import ClientFactory
from twisted.internet.testing import MemoryReactor
from twisted.names import client, srvconnect

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
jobs = json.loads(sys.argv[4])
client.theResolver = client.createResolver(servers=[(host, port)])
out = {}

class Failed(ClientFactory):
    failed = False
    def clientConnectionFailed(self, connector, reason):
        self.failed = True

async def one(service, protocol, domain):
    memory = MemoryReactor()
    factory = Failed()
    srvconnect.SRVConnector(memory, service, domain, factory, protocol=protocol).connect()
    for _ in range(2000):
        if memory.tcpClients or factory.failed:
            break
        await task.deferLater(reactor, 0.001, lambda: None)
    if not memory.tcpClients:
        return None
    h, p = memory.tcpClients[0][:2]
    return [h, 5060 if p == "sip" else 5061 if p == "sips" else p]

async def main():
    for key, (service, protocol, domain) in jobs.items():
        out[key] = [await one(service, protocol, domain) for _ in range(n)]

def run():
    from twisted.internet import defer
    d = defer.ensureDeferred(main())
    d.addBoth(lambda r: (reactor.stop(), r)[1])
    def fail(f):
        print(f.getTraceback(), file=sys.stderr)
    d.addErrback(fail)

reactor.callWhenRunning(run)
reactor.run()
json.dump(out, sys.stdout)
"""
TWISTED_URIS = [f"sip:scscf.{D}", f"sip:as.{D};transport=udp", f"sip:split.{D};transport=udp",
                f"sip:zero.{D};transport=udp", f"sip:runs.{D};transport=udp",
                f"sip:icscf.{D}", f"sip:nosip.{D}", f"sips:ims.{D}"]


def twisted_check(n: int = 200, zones: Path = DEFAULT_ZONE_DIR) -> list[dict[str, Any]]:
    """Twisted's own ``SRVConnector`` picks ``n`` times for each URI of :data:`TWISTED_URIS`
    (resolving through the embedded lab server on loopback), beside the ``twisted`` model run
    4,000 times on the same answers: every pick and the model's first-target shares."""
    import numpy as np

    from ..core.sip_uri import parse_sip_uri
    from ..resolve.lookup import MemoLookup
    from ..resolve.resolver import Resolver
    from ..split.clients import get_model
    from .server import EmbeddedServer

    if not Path(TWISTED_PYTHON).exists():
        raise LabServerError(f"{TWISTED_PYTHON} is missing (Debian python3-twisted)",
                             subject=TWISTED_PYTHON)
    jobs = {}
    for uri in TWISTED_URIS:
        parsed = parse_sip_uri(uri)
        jobs[uri] = ("sips" if parsed.secure else "sip",
                     "udp" if parsed.transport == "udp" else "tcp", parsed.host)
    rows = []
    with EmbeddedServer(zones) as server:
        out = subprocess.run([TWISTED_PYTHON, "-c", _TWISTED_SCRIPT, server.host,
                              str(server.port), str(n), json.dumps(jobs)],
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0 or not out.stdout:
            raise LabServerError(f"Twisted's SRVConnector run failed:\n{out.stderr[-2000:]}",
                                 subject=TWISTED_PYTHON)
        real = json.loads(out.stdout)
        memo = MemoLookup(Resolver(server.host, server.port))
        model = get_model("twisted")
        rng = np.random.default_rng(28)
        for uri in TWISTED_URIS:
            firsts: dict[str, float] = {}
            runs = 4000
            for _ in range(runs):
                targets = model.run("sip", uri, memo, rng=rng).targets
                key = targets[0].uri.split(":", 1)[1] if targets else "(nothing)"
                firsts[key] = firsts.get(key, 0.0) + 1.0 / runs
            picks = [f"{h.rstrip('.')}:{p}" if h else "(nothing)"
                     for h, p in ((x or [None, None]) for x in real[uri])]
            rows.append({"uri": uri, "twisted": picks, "model_firsts": firsts})
    return rows



# -- sipsak: c-ares SRV, the first record ----------------------------------------------------

SIPSAK_URIS = [f"sip:x@scscf.{D}", f"sip:x@split.{D}", f"sip:x@runs.{D}", f"sip:x@as.{D}",
               f"sip:x@zero.{D}", f"sip:x@ims.{D}", f"sip:x@icscf.{D}", f"sip:x@scscf.{D}:6060",
               f"sip:x@broken.{D}", f"sip:x@nosip.{D}", f"sip:x@pcscf1.ims.{D}"]
SIPSAK_SPLIT_URI = f"sip:x@split.{D}"


def sipsak_inside(zones: Path, split_n: int = 200) -> list[dict[str, Any]]:
    """In the namespace: the lab SIP addresses made local (a request is refused at once), a
    capture of what is sent to them, and sipsak for every URI of :data:`SIPSAK_URIS` against
    a BIND serving the zones' order (``rrset-order none``), then ``split_n`` times for
    :data:`SIPSAK_SPLIT_URI` against a BIND ordering answers at random (its default): where
    each request went, beside the sipsak model given the same answer."""
    import time

    from ..resolve.resolver import Resolver
    from ..split.clients import get_model
    from .kamailio import _outbound

    sipsak = find_program("sipsak", "sipsak")
    dumpcap = find_program("dumpcap", "wireshark-common")
    _ip("route", "add", "local", "192.0.2.0/24", "dev", "lo")
    model = get_model("sipsak")
    rows: list[dict[str, Any]] = []
    import tempfile

    with tempfile.TemporaryDirectory(prefix="enumlab-sipsak-") as tmp:
        for order, plan in (("none", [(u, 1) for u in SIPSAK_URIS]),
                            ("random", [(SIPSAK_SPLIT_URI, split_n)])):
            pcap = Path(tmp) / f"{order}.pcap"
            capture = subprocess.Popen([dumpcap, "-q", "-P", "-i", "lo", "-f",
                                        "dst net 192.0.2.0/24", "-w", str(pcap)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            runs: list[tuple[str, float, float, list[str]]] = []
            try:
                with BindServer(zones, port=53, rrset_order=order) as bind:
                    resolver = Resolver(bind.host, bind.port)
                    time.sleep(1.0)  # dumpcap live
                    for uri, n in plan:
                        for _ in range(n):
                            start = time.time()
                            subprocess.run([sipsak, "-s", uri], capture_output=True, timeout=10)
                            end = time.time()
                            # the model given the answer this run got (BIND's order of the
                            # moment: asked again right after, the same order for "none")
                            expect = [t.uri for t in model.run("sip", uri, resolver).targets]
                            runs.append((uri, start, end, expect))
                            time.sleep(0.02)
                    time.sleep(0.3)
            finally:
                capture.send_signal(2)
                capture.wait(timeout=10)
            packets = _outbound(pcap)
            for uri, start, end, expect in runs:
                hit = next((f"{t}:{d}:{p}" for ts, t, d, p, _ in packets
                            if start <= ts <= end + 0.01), "(nothing)")
                rows.append({"uri": uri, "order": order, "sipsak": hit, "model": expect,
                             # answer order "random": the split is compared, not each run
                             "agrees": order != "none" or hit == (expect or ["(nothing)"])[0]})
    return rows


# -- caching resolvers: the order they serve a cached RRset in ---------------------------------

RESOLVER_NAMES = [(f"pool.split.{D}.", "A"), (f"_sip._udp.split.{D}.", "SRV")]


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_resolver(kind: str, workdir: Path, lab_port: int) -> tuple[Any, int]:
    """unbound or kresd on 127.0.0.1, forwarding (stub) everything to the lab server on
    127.0.0.1:``lab_port``; no DNSSEC validation, no trust anchor, never the internet (the lab
    server answers REFUSED outside its zones). Returns (process, port)."""
    import time

    port = _free_udp_port()
    if kind == "unbound":
        program = find_program("unbound", "unbound")
        conf = workdir / "unbound.conf"
        conf.write_text(f"""server:
  interface: 127.0.0.1
  port: {port}
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{workdir}"
  pidfile: "{workdir}/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 0
  module-config: "iterator"
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  do-ip6: no
  qname-minimisation: no
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@{lab_port}
""")
        cmd = [program, "-d", "-c", str(conf)]
    else:
        program = find_program("kresd", "knot-resolver")
        conf = workdir / "kresd.conf"
        conf.write_text(f"""net.listen('127.0.0.1', {port}, {{ kind = 'dns' }})
trust_anchors.remove('.')
cache.open(10 * MB, 'lmdb://{workdir}/cache')
policy.add(policy.all(policy.STUB({{'127.0.0.1@{lab_port}'}})))
""")
        cmd = [program, "-n", "-q", "-c", str(conf), str(workdir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    import dns.message
    import dns.query

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = proc.stderr.read() if proc.stderr else ""
            raise LabServerError(f"{kind} exited at start:\n{log[-2000:]}", subject=kind)
        try:
            dns.query.udp(dns.message.make_query(f"ims.{D}.", "NAPTR"), "127.0.0.1",
                          timeout=0.5, port=port)
            return proc, port
        except Exception:
            time.sleep(0.2)
    proc.kill()
    raise LabServerError(f"{kind} did not answer on 127.0.0.1:{port}", subject=kind)


def resolver_orders(kind: str, asks: int = 300, zones: Path = DEFAULT_ZONE_DIR
                    ) -> list[dict[str, Any]]:
    """``asks`` questions for each of :data:`RESOLVER_NAMES` to a real ``unbound`` or
    ``kresd`` forwarding to the embedded lab server (which answers in the zone's order): the
    order of every answer, all on loopback."""
    import tempfile

    import dns.message
    import dns.query

    from .server import EmbeddedServer

    rows = []
    with EmbeddedServer(zones) as server, \
            tempfile.TemporaryDirectory(prefix=f"enumlab-{kind}-") as tmp:
        proc, port = _start_resolver(kind, Path(tmp), server.port)
        try:
            for name, rdtype in RESOLVER_NAMES:
                orders = []
                for _ in range(asks):
                    reply = dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1",
                                          timeout=2, port=port)
                    rrset = next(r for r in reply.answer if r.rdtype.name == rdtype)
                    orders.append([rd.to_text() for rd in rrset])
                direct = dns.query.udp(dns.message.make_query(name, rdtype), server.host,
                                       timeout=2, port=server.port)
                stored = [rd.to_text() for r in direct.answer if r.rdtype.name == rdtype
                          for rd in r]
                rows.append({"resolver": kind, "name": name, "rdtype": rdtype,
                             "orders": orders, "stored": stored})
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            if proc.stderr:
                proc.stderr.close()
    return rows


def _baresip(zones: Path) -> list[dict[str, Any]]:
    from .stacklab import baresip_inside

    return baresip_inside(zones)


def _linphone(zones: Path) -> list[dict[str, Any]]:
    from .stacklab import linphone_inside

    return linphone_inside(zones)


INSIDE = {"sip-dig": sip_dig_inside, "getaddrinfo": getaddrinfo_inside,
          "sipsak": sipsak_inside, "baresip": _baresip, "linphone": _linphone}
# checks that read a copy of the lab zone with records added (not in data/zones: other
# checks and the notebooks read that zone as it is)
_EXTRA = {"sip-dig": SIP_DIG_EXTRA}


def _extra(check: str) -> str:
    from .stacklab import STACK_EXTRA

    return _EXTRA.get(check) or (STACK_EXTRA if check in ("baresip", "linphone") else "")


def run(check: str, zones: Path = DEFAULT_ZONE_DIR) -> list[dict[str, Any]]:
    """Create a namespace (loopback, resolv.conf -> 127.0.0.1), run ``check`` inside it with
    its own BIND, remove everything, return the rows."""
    import shutil
    import tempfile

    from .netlab import run_in_resolver_namespace

    with tempfile.TemporaryDirectory(prefix="enumlab-peer-") as tmp:
        extra = _extra(check)
        if extra:
            copy = Path(tmp) / "zones"
            shutil.copytree(zones, copy)
            with (copy / f"{D}.zone").open("a") as zone:
                zone.write(extra)
            zones = copy
        out = run_in_resolver_namespace(["enumlab.lab.peerlab", check, "--inside", "--zones",
                                         str(zones)], tag="peer", what=f"the {check} check")
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m enumlab.lab.peerlab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("check", choices=sorted(INSIDE))
    parser.add_argument("--zones", type=Path, default=DEFAULT_ZONE_DIR)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.inside:
            json.dump(INSIDE[args.check](args.zones), sys.stdout)
            return 0
        rows = run(args.check, args.zones)
    except EnumlabError as exc:
        print(f"enumlab peerlab: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(json.dumps(row))
        print(f"{sum(r['agrees'] for r in rows)} of {len(rows)} agree")
    return 0 if all(r["agrees"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
