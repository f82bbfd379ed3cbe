"""``enumlab epc``: EPC node selection: APN/TAI -> S-NAPTR -> PGW/SGW/MME (TS 29.303)."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..core.errors import InputError
from .common import EXIT_EMPTY, EXIT_OK, SEED, add_dns_options, int_in, json_or_trace, lab_resolver


def _epc_fqdn(args: argparse.Namespace) -> tuple[str, str]:
    from ..core import epc_fqdn as f

    if args.fqdn:
        return args.fqdn, args.node or "pgw"
    if args.imsi:
        if not args.mnc_digits:
            raise InputError("--imsi needs --mnc-digits 2|3: the MNC length is not in the IMSI",
                             subject=args.imsi)
        home = f.plmn_from_imsi(args.imsi, args.mnc_digits)
    elif args.mcc and args.mnc:
        home = f.Plmn(args.mcc, args.mnc)
    else:
        raise InputError("give --mcc and --mnc, or --imsi with --mnc-digits", subject=None)
    if args.tac is not None:
        return f.tai_fqdn(args.tac, home), args.node or "sgw"
    visited = (f.Plmn(args.visited_mcc, args.visited_mnc)
               if args.visited_mcc and args.visited_mnc else None)
    fqdn = f.gateway_apn_fqdn(args.apn, home, visited, local_breakout=args.local_breakout)
    return fqdn, args.node or "pgw"


def run(args: argparse.Namespace) -> int:
    from ..resolve.snaptr import snaptr_select

    fqdn, node = _epc_fqdn(args)
    rng = np.random.default_rng(args.seed)
    if args.client is not None:
        from ..split.clients import get_model, models_for

        model = get_model(args.client)
        if model.epc_policy is None:
            raise InputError(f"client model {model.name!r} has no EPC behaviour; models for "
                             f"epc: {', '.join(models_for('epc'))}", subject=model.name)
        args.policy = model.epc_policy
    with lab_resolver(args) as resolver:
        result = snaptr_select(fqdn, resolver, node=node, interface=args.interface,
                               ue_usage_type=args.ue_usage_type,
                               network_capability=args.network_capability, policy=args.policy,
                               rng=rng, prefer_ipv6=args.prefer == "ipv6",
                               reference_node=args.reference)
    done = json_or_trace(args, result, result.selected is not None)
    if done is not None:
        return done
    print(f"{result.fqdn}: {result.app_service}:{result.app_protocol} (policy {args.policy})")
    for c in sorted(result.candidates, key=lambda c: c.record.key):
        mark = "kept   " if c.kept else "dropped"
        where = f" -> {c.hostname}{':' + str(c.port) if c.port else ''}" if c.hostname else ""
        print(f"  {mark} {c.record.order:>3} {c.record.preference:>5} "
              f"{c.record.flags.lower() or '-':<2} {c.record.services:<40}{where}")
        print(f"          {c.reason}")
    chosen = result.selected
    if chosen is None:
        print("no usable node")
        return EXIT_EMPTY
    addresses = ", ".join(chosen.addresses(args.prefer == "ipv6"))
    print(f"selected: {chosen.hostname} ({addresses}); canonical node {chosen.canonical}")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """``enumlab epc``: its arguments."""
    p = sub.add_parser(
        "epc", help="EPC node selection: APN/TAI -> S-NAPTR -> PGW/SGW/MME (TS 29.303)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Build the 3GPP FQDN (TS 23.003) and run the S-NAPTR procedure (RFC 3958 "
                    "as profiled by TS 29.303):\nfilter by app-service and interface, order by "
                    "ORDER then the 3GPP weighting, follow a/s/empty flags\nto addresses, and "
                    "show why every record was kept or dropped.",
        epilog="examples:\n"
               "  enumlab epc --apn ims --mcc 001 --mnc 01 --trace       the seed's S8 lookup\n"
               "  enumlab epc --apn ims --imsi 001010000000001 --mnc-digits 2 --policy rfc3403\n"
               "  enumlab epc --tac 0x0001 --mcc 001 --mnc 01            SGW for a tracking area\n"
               "  enumlab epc --apn internet --mcc 001 --mnc 01 \\\n"
               "      --reference topon.s11.sgw05.east.node.epc.mnc001.mcc001.3gppnetwork.org",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--apn", help="APN Network Identifier, e.g. ims or internet")
    what.add_argument("--tac", type=int_in(0, 0xFFFF, "TAC"),
                      help="tracking area code (16 bits, TS 23.003 s19.4.2.3), e.g. 0x0001")
    what.add_argument("--fqdn", help="any FQDN to run S-NAPTR on")
    p.add_argument("--mcc", help="home MCC (3 digits)")
    p.add_argument("--mnc", help="home MNC (2 or 3 digits)")
    p.add_argument("--imsi", help="derive the home PLMN from an IMSI (needs --mnc-digits)")
    p.add_argument("--mnc-digits", type=int, choices=(2, 3), help="MNC length of the IMSI")
    p.add_argument("--visited-mcc", help="visited MCC, for --local-breakout")
    p.add_argument("--visited-mnc", help="visited MNC, for --local-breakout")
    p.add_argument("--local-breakout", action="store_true",
                   help="look the APN up in the visited PLMN (default: home-routed, S8)")
    p.add_argument("--node", choices=["pgw", "sgw", "mme", "ggsn", "sgsn", "amf", "upf"],
                   help="node type (default pgw for --apn, sgw for --tac)")
    p.add_argument("--interface", help="s5, s8, s11, s10, gp, gn, ... (default per node)")
    p.add_argument("--ue-usage-type", help="UE usage type for +ue- records (annex B.3)")
    p.add_argument("--network-capability", help="capability for +nc- records, e.g. nr")
    p.add_argument("--policy", default="3gpp",
                   choices=["3gpp", "rfc3403", "weighted", "first", "dnspython"],
                   help="ordering within an ORDER (default 3gpp: TS 29.303 annex C.1)")
    p.add_argument("--client", metavar="MODEL", choices=["rfc", "first", "dnspython", "kamailio",
                                                        "sofia-sip", "glibc"],
                   help="a client model instead of --policy: rfc (TS 29.303), first "
                        "(Open5GS-style strict order), dnspython; others have no EPC model")
    p.add_argument("--reference", metavar="NODE",
                   help="rank topon candidates by closeness to this node (e.g. the SGW)")
    p.add_argument("--prefer", choices=["ipv4", "ipv6"], default="ipv4",
                   help="address family listed first")
    p.add_argument("--seed", type=SEED, help="seed for the weighted draw")
    p.add_argument("--trace", action="store_true", help="show every query and decision")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_dns_options(p)
    p.set_defaults(func=run)
