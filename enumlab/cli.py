"""The ``enumlab`` command line. Each sub-command is a thin front over the package.

Exit codes: 0 success, 1 the lookup worked but found nothing usable, 2 an error (one line on
stderr naming the input).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .ddds import resolve_enum
from .e164 import DEFAULT_SUFFIX, normalize
from .errors import EnumlabError, ProcedureError
from .naptr_regexp import OUTPUT_MODES, SubstitutionExpression
from .resolver import Resolver
from .server import DEFAULT_ZONE_DIR, EmbeddedServer

EXIT_OK, EXIT_EMPTY, EXIT_ERROR = 0, 1, 2


def default_zone_dir() -> Path:
    """``$ENUMLAB_ZONES`` if set, else the repository's ``data/zones``."""
    return Path(os.environ.get("ENUMLAB_ZONES", DEFAULT_ZONE_DIR))


def edns_size(text: str) -> int | None:
    """``none`` (no OPT record) or a payload size such as 1232 or 4096 (RFC 6891)."""
    if text.lower() in ("none", "off", "0"):
        return None
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"EDNS size must be 'none' or a number: {text!r}"
                                         ) from exc
    if not 512 <= value <= 65535:
        raise argparse.ArgumentTypeError("EDNS size must be 512..65535 (RFC 6891 s6.2.5)")
    return value


@contextlib.contextmanager
def lab_resolver(args: argparse.Namespace) -> Iterator[Resolver]:
    """A resolver for ``--server``, or for an embedded server started on the lab zones."""
    options: dict[str, Any] = {"edns": args.edns, "timeout": args.timeout}
    if args.server:
        yield Resolver.from_address(args.server, **options)
        return
    with EmbeddedServer(args.zones or default_zone_dir()) as server:
        yield Resolver(server.host, server.port, **options)


def _add_dns_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("DNS")
    g.add_argument("--server", metavar="HOST[:PORT]",
                   help="DNS server to ask (never resolv.conf). Default: start the embedded "
                        "lab server on --zones, in-process, on a free loopback port")
    g.add_argument("--zones", metavar="DIR", type=Path,
                   help="zone directory for the embedded server (default: data/zones or "
                        "$ENUMLAB_ZONES)")
    g.add_argument("--edns", type=edns_size, default=None, metavar="SIZE",
                   help="EDNS0 UDP payload to advertise: none (default, 512-byte limit), "
                        "1232, 4096, ...")
    g.add_argument("--timeout", type=float, default=2.0, metavar="SECONDS",
                   help="per-query timeout (default 2)")


def _emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


# -- enumlab enum ---------------------------------------------------------------------------

def cmd_enum(args: argparse.Namespace) -> int:
    number = normalize(args.number, international=args.international,
                       country_code=args.country_code)
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
    if args.json:
        data = result.to_dict()
        if not args.trace:
            data["trace"] = result.trace.to_list()
        _emit_json(data)
        return EXIT_OK if result.candidates else EXIT_EMPTY
    if args.trace:
        print(result.trace.format())
        print()
    print(f"{result.number} -> {result.domain} ({result.service})")
    if not result.candidates:
        print("  no usable NAPTR rule: nothing to route to")
        return EXIT_EMPTY
    for i, cand in enumerate(result.candidates, 1):
        extra = "  [fallback: later ORDER]" if cand.fallback else ""
        print(f"  {i}. {cand.uri}  (order {cand.order}, preference {cand.preference}, "
              f"{cand.service}){extra}")
    return EXIT_OK


# -- enumlab regexp -------------------------------------------------------------------------

def cmd_regexp(args: argparse.Namespace) -> int:
    expr = SubstitutionExpression.parse(args.regexp)
    aus = args.aus
    results = {mode: expr.apply(aus, output=mode) for mode in OUTPUT_MODES}
    data = {
        "regexp": expr.text,
        "delimiter": expr.delimiter,
        "ere": expr.ere,
        "replacement": expr.replacement,
        "case_insensitive": expr.case_insensitive,
        "groups": expr.groups,
        "re2_pattern": expr.re2_pattern,
        "input": aus,
        "match": expr.search(aus),
        "results": results,
    }
    if args.json:
        _emit_json(data)
    else:
        print(f"delimiter {expr.delimiter!r}  ERE {expr.ere!r}  replacement "
              f"{expr.replacement!r}  flags {'i' if expr.case_insensitive else '-'}")
        found = data["match"]
        if found is None:
            print(f"no match on {aus!r}")
        else:
            start, end, groups = found
            print(f"match {aus[start:end]!r} at {start}..{end}; groups {list(groups)}")
            print(f"RFC 3402 (sed, default) : {results['rfc3402']}")
            print(f"replacement only        : {results['replacement']}")
    return EXIT_OK if data["match"] is not None else EXIT_EMPTY


# -- enumlab serve --------------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    zones = args.zone_dir or default_zone_dir()
    server = EmbeddedServer(zones, host=args.host, port=args.port, max_udp_size=args.max_udp)
    with server:
        print(f"enumlab: serving {', '.join(server.zone_names())} from {zones} on "
              f"{server.address} (UDP+TCP, authoritative only, no recursion). Ctrl-C stops.",
              flush=True)
        print(f"  try: dig @{server.host} -p {server.port} NAPTR "
              "3.1.9.0.0.5.5.5.3.1.6.e164.arpa.", flush=True)
        deadline = time.monotonic() + args.duration if args.duration else None
        with contextlib.suppress(KeyboardInterrupt):
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
    return EXIT_OK


# -- parser ---------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="enumlab",
        description="Learn, validate and debug the DNS that telecom networks route by.",
        epilog="Every command that needs DNS starts the embedded lab server on data/zones "
               "unless --server is given. Run 'enumlab COMMAND --help' for each command.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    p.add_argument("--seed", type=int, help="seed for shuffling exact (order, preference) ties")
    p.add_argument("--trace", action="store_true", help="show every query and record decision")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_dns_options(p)
    p.set_defaults(func=cmd_enum)

    p = sub.add_parser(
        "regexp", help="apply a NAPTR regexp to a string, both readings side by side",
        description="Parse a NAPTR substitution expression (RFC 3402 s3.2, POSIX ERE) and apply "
                    "it. Quote it for the shell: enumlab regexp '!^\\+(.*)$!sip:\\1@x!' "
                    "+61355500912",
    )
    p.add_argument("regexp", help="wire form, e.g. '!^.*$!sip:service@example.com!'")
    p.add_argument("aus", help="the string to apply it to, e.g. +61355500912")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_regexp)

    p = sub.add_parser(
        "serve", help="run the embedded authoritative DNS server on zone files",
        description="Serve every *.zone / *.db file of a directory over UDP and TCP. "
                    "Authoritative only: it never recurses and REFUSEs names outside its zones.",
    )
    p.add_argument("zone_dir", nargs="?", type=Path, help="zone directory (default data/zones)")
    p.add_argument("--port", type=int, default=5353, help="port (default 5353; 0 = any free)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--max-udp", type=int, default=4096,
                   help="largest UDP answer even when a client offers more (default 4096)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except EnumlabError as exc:
        print(f"enumlab {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
