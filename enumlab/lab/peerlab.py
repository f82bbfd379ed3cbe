"""Real peers that resolve through the system resolver, run against the lab zones.

sip-dig and glibc's ``getaddrinfo`` (like Kamailio, :mod:`enumlab.lab.kamailio`) have no DNS server
setting: they read ``/etc/resolv.conf``. So each check runs inside a network namespace this
module creates, whose ``/etc/netns/<ns>/resolv.conf`` names 127.0.0.1, where a BIND serves
``data/zones`` in the zones' own record order (``rrset-order none``: what the peer sees is what
enumlab's model sees). The peer's output is compared with the client model
(:mod:`enumlab.split.clients`). All traffic stays inside the namespace; it needs root and iproute2.

``python -m enumlab.lab.peerlab sip-dig`` / ``getaddrinfo`` prints the comparison; the tests run
the same functions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..core.errors import EnumlabError
from .bind import BindServer, find_program
from .server import DEFAULT_ZONE_DIR

D = "mnc001.mcc001.3gppnetwork.org"
# every way into RFC 3263 the lab zone offers: NAPTR, SRV per transport, a port, transport=,
# sips, weight-0 records, a priority group after another, nothing at all
SIP_URIS = [f"sip:ims.{D}", f"sips:ims.{D}", f"sip:scscf.{D}", f"sip:scscf.{D}:6060",
            f"sip:scscf.{D};transport=tcp", f"sip:as.{D};transport=udp", f"sip:as.{D}",
            f"sips:icscf.{D}", f"sip:icscf.{D}", f"sip:sctp.{D}", f"sip:broken.{D}",
            f"sip:pcscf1.ims.{D}", f"sip:nothing.{D}", f"sip:zero.{D}", f"sip:runs.{D}"]
# hosts with both A and AAAA records
DUAL_STACK = [f"pcscf1.ims.{D}", "topon.lb1.pgw01.epc.mnc001.mcc001.3gppnetwork.org",
              f"multi.ims.{D}"]
# host address layouts for getaddrinfo: the source addresses with a default route (lab0 also
# has an IPv6 link-local address in every layout: IPv6 counts as configured)
V4, V6 = "198.18.77.2/24", "2001:db8:77::2/64"
LAYOUTS: dict[str, tuple[str, ...]] = {"ipv4 only": (V4,), "ipv6 only": (V6,),
                                       "both": (V4, V6), "neither": ()}


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
        _ip("link", "set", "lab0", "up")
        _ip("link", "set", "lab1", "up")
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


INSIDE = {"sip-dig": sip_dig_inside, "getaddrinfo": getaddrinfo_inside}


def run(check: str, zones: Path = DEFAULT_ZONE_DIR) -> list[dict[str, Any]]:
    """Create a namespace (loopback, resolv.conf -> 127.0.0.1), run ``check`` inside it with
    its own BIND, remove everything, return the rows."""
    from .netlab import run_in_resolver_namespace

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
