"""``enumlab enum``: E.164 number -> ENUM domain -> NAPTR -> URIs (RFC 6116)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from ..core.e164 import DEFAULT_SUFFIX, normalize
from ..core.errors import ProcedureError
from .common import (
    EXIT_EMPTY,
    EXIT_OK,
    OUTPUT_MODES,
    SEED,
    add_dns_options,
    client_result,
    json_or_trace,
    lab_resolver,
)


def run(args: argparse.Namespace) -> int:
    from ..resolve.ddds import resolve_enum

    number = normalize(args.number, international=args.international,
                       country_code=args.country_code)
    if args.client != "rfc":
        return client_result(args, "enum", number, suffix=args.suffix, service=args.service)
    rng = np.random.default_rng(args.seed)
    with lab_resolver(args) as resolver:
        try:
            result = resolve_enum(
                number, resolver, service=args.service, suffix=args.suffix, rng=rng,
                output=args.output, all_orders=args.all_orders,
            )
        except ProcedureError as exc:
            if args.trace and exc.partial is not None:
                print(exc.partial.trace.format(), file=sys.stderr)
            raise
    done = json_or_trace(args, result, bool(result.candidates))
    if done is not None:
        return done
    print(f"{result.number} -> {result.domain} ({result.service})")
    if not result.candidates:
        print("  no usable NAPTR rule: nothing to route to")
        return EXIT_EMPTY
    for i, cand in enumerate(result.candidates, 1):
        extra = "  [fallback: later ORDER]" if cand.fallback else ""
        print(f"  {i}. {cand.uri}  (order {cand.order}, preference {cand.preference}, "
              f"{cand.service}){extra}")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """``enumlab enum``: its arguments."""
    p = sub.add_parser(
        "enum", help="E.164 number -> ENUM domain -> NAPTR -> URIs (RFC 6116)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Resolve a telephone number through ENUM, step by step.\n\n"
                    "The number is normalised to +<digits>, reversed into a domain under the "
                    "suffix,\nits NAPTR records fetched, filtered by service, ordered by ORDER "
                    "then PREFERENCE\n(RFC 3403 s4.1), and each regexp applied to the number.",
        epilog="examples:\n"
               "  enumlab enum +61355500913            three server URIs\n"
               "  enumlab enum '+61 2 5550 2345' --trace  the ported-number exception\n"
               "  enumlab enum 0355500912 --country-code 61 --json\n"
               "  enumlab enum +61355500999 --trace    a >512-byte answer: TC=1, then TCP",
    )
    p.add_argument("number", help="E.164 number: +61 3 5550 0912, +61-3-5550-0912, ...")
    p.add_argument("--international", action="store_true",
                   help="read a number without '+' as international (61355500912)")
    p.add_argument("--country-code", metavar="CC",
                   help="read a number without '+' as national in this country (drops a "
                        "leading trunk 0)")
    p.add_argument("--suffix", default=DEFAULT_SUFFIX, help="ENUM suffix (default e164.arpa.)")
    p.add_argument("--service", default="E2U+sip",
                   help="Enumservice wanted: E2U+sip (default), E2U+voice:tel, ...")
    p.add_argument("--output", choices=OUTPUT_MODES, default="rfc3402",
                   help="regexp output: rfc3402 = replace the matched part (sed, RFC 3402 "
                        "s3.2, default); replacement = the replacement alone (Kamailio)")
    p.add_argument("--all-orders", action="store_true",
                   help="also list later ORDERs as fallbacks (not RFC 3403, which forbids it)")
    p.add_argument("--client", default="rfc", metavar="MODEL",
                   choices=["rfc", "kamailio", "dnspython", "first", "asterisk", "freeswitch"],
                   help="what a real client does with the records: rfc (default), kamailio "
                        "(run here), dnspython, first, asterisk / freeswitch (from source)")
    p.add_argument("--seed", type=SEED, help="seed for shuffling exact (order, preference) ties")
    p.add_argument("--trace", action="store_true", help="show every query and record decision")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_dns_options(p)
    p.set_defaults(func=run)
