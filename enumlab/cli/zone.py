"""``enumlab zone``: the zone doctor: what a NAPTR/S-NAPTR/SRV zone will do wrong."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import Parser, default_zone_dir, emit_json, int_in


def run(args: argparse.Namespace) -> int:
    """Exit 0 clean (notes at most), 1 errors or warnings found, 2 the check could not run."""
    from ..zones.zone_check import check_zones

    report = check_zones(args.path or default_zone_dir(), all_sizes=args.sizes == "all")
    if args.html:
        report.write_html(args.html)
    if args.json:
        emit_json(report.to_dict())
    else:
        print(report.format(limit=args.limit))
        if args.html:
            print(f"\nreport written to {args.html}")
    return report.exit_code


def add_parser(sub: Any) -> None:
    zone = sub.add_parser(
        "zone", help="zone doctor: what a NAPTR/S-NAPTR/SRV zone will do wrong",
        description="Work on zone files without serving them.")
    zsub = zone.add_subparsers(dest="zone_command", required=True, metavar="ZONE_COMMAND",
                               parser_class=Parser)
    p = zsub.add_parser(
        "check", help="find what a zone will do wrong before traffic does",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read every zone file and every owner name and say what ENUM, EPC and SIP "
                    "clients will do wrong\nwith it: syntax and record rules (at least as "
                    "strict as named-checkzone), NAPTR regexps,\nflags and services, "
                    "non-terminal loops and dangling replacements, SRV targets, what each\n"
                    "wildcard no longer covers (RFC 4592) in numbers, answer sizes without "
                    "EDNS0, at 1232 and\n4096 and whether they fragment, splits on which "
                    "policies disagree, and records Kamailio,\nsip-dig, dnspython or Asterisk "
                    "read differently from the RFC.\n\nEach finding: severity, owner, record, "
                    "what happens to which clients, the standard, a fix.\nExit codes: 0 clean "
                    "(notes at most), 1 errors or warnings, 2 the check could not run.",
        epilog="examples:\n"
               "  enumlab zone check                   the lab zones shipped with enumlab\n"
               "  enumlab zone check data/zones\n"
               "  enumlab zone check data/zones/e164.arpa.zone --json\n"
               "  enumlab zone check /etc/bind/zones --html zone-report.html --limit 20",
    )
    p.add_argument("path", type=Path, nargs="?",
                   help="a zone file, or a directory of *.zone / *.db files (default: the lab "
                        "zones, or $ENUMLAB_ZONES)")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument("--html", metavar="REPORT.html", help="write a one-file HTML report")
    p.add_argument("--limit", type=int_in(1, 10**9, "limit"), default=5,
                   help="owners shown per rule in the text report (default 5)")
    p.add_argument("--sizes", choices=("over-512", "all"), default="over-512",
                   help="answer sizes listed: those over 512 bytes (default) or all")
    p.set_defaults(func=run)
