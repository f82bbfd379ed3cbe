"""``enumlab doctor``: does the system resolver (resolv.conf) see what the zone holds?"""

from __future__ import annotations

import argparse
from typing import Any

from .common import EXIT_EMPTY, EXIT_OK, add_dns_options, emit_json, lab_resolver


def run(args: argparse.Namespace) -> int:
    from ..resolve.doctor import diagnose, read_resolv_conf

    resolv = read_resolv_conf(args.resolv_conf)
    with lab_resolver(args) as authoritative:
        report = diagnose(args.domain, authoritative, resolv, timeout=args.timeout)
    if args.json:
        emit_json(report.to_dict())
    else:
        print(f"{resolv.path}: nameservers {', '.join(resolv.nameservers) or '(none)'}; "
              f"search {' '.join(resolv.search) or '(none)'}; ndots {resolv.ndots}")
        for c in report.comparisons:
            mark = "ok " if c.matches else "BAD"
            got = c.error or f"{c.system_rcode} {len(c.system or [])} record(s)"
            print(f"  {mark} {c.nameserver:<15} {c.rdtype:<5} {c.name:<50} {got} "
                  f"(authoritative: {len(c.authoritative)})")
        for finding in report.findings:
            print(("OK: " if report.ok else "PROBLEM: ") + finding)
    return EXIT_OK if report.ok else EXIT_EMPTY


def add_parser(sub: Any) -> None:
    """``enumlab doctor``: its arguments."""
    p = sub.add_parser(
        "doctor", help="does the system resolver (resolv.conf) see what the zone holds?",
        description="Read resolv.conf, ask each nameserver it names the NAPTR/SRV/A questions a "
                    "SIP server asks for the domain, ask the authoritative server the same, and "
                    "name any mismatch in one sentence (the seed's P-CSCF lesson: Kamailio "
                    "resolves through resolv.conf).",
        epilog="example: enumlab doctor --domain ims.mnc001.mcc001.3gppnetwork.org",
    )
    p.add_argument("--domain", required=True, help="the SIP domain to check")
    p.add_argument("--resolv-conf", default="/etc/resolv.conf", metavar="PATH",
                   help="resolver configuration to read (default /etc/resolv.conf)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_dns_options(p)
    p.set_defaults(func=run, timeout=1.0)
