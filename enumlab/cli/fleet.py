"""``enumlab fleet``: what a fleet of real clients, caches and failures does to a split."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import (
    EXIT_OK,
    POLICY_NAMES,
    SEED,
    add_dns_options,
    emit_json,
    int_in,
    lab_resolver,
    positive_seconds,
    print_clustered,
    probability,
)


def run(args: argparse.Namespace) -> int:
    from ..core.records import short_label
    from ..split import fleet as fl
    from ..split.simulate import record_set

    with lab_resolver(args) as resolver:
        rs = record_set(args.target, resolver)
        zone_ttl = fl.record_set_ttl(args.target, resolver, rs)
    ttl = args.ttl if args.ttl is not None else float(zone_ttl or 300)
    down = tuple(fl.parse_down(d, rs.targets) for d in args.down)
    nxdomain = tuple(fl.parse_window(w, "--nxdomain") for w in args.nxdomain)
    rate = args.rate if args.rate is not None else args.calls_per_day / 86_400
    config = fl.FleetConfig(clients=fl.parse_clients(args.clients), rate=rate,
                            duration=fl.parse_duration(args.duration), ttl=ttl,
                            negative_ttl=args.negative_ttl, resolver=args.resolver,
                            server_order=args.server_order,
                            resolver_order=args.resolver_order, down=down,
                            nxdomain=nxdomain, bins=args.bins)
    result = fl.run_fleet(rs, config, seed=args.seed,
                          progress=not args.json and sys.stderr.isatty())
    configured = result.configured(args.configured)
    if args.plot:
        from ..split import figures as plot

        plot.save(plot.fleet_shares(result, configured=configured,
                                    title=f"{args.target}: share per target over time"),
                  str(args.plot))
    if args.json:
        emit_json({"name": args.target, **result.to_dict(args.configured)})
        return EXIT_OK
    kinds = {"naptr": "NAPTR", "srv": "SRV", "a": "A/AAAA pool"}
    ttl_from = "from the zone" if args.ttl is None and zone_ttl else "given"
    print(f"fleet: {args.target}  ({len(rs.entries)} {kinds[rs.kind]} targets, TTL {ttl:g} s "
          f"{ttl_from})")
    clients = ", ".join(f"{n} {name}" for name, n in config.clients)
    print(f"  clients: {clients}; {rate:.3g} calls/s for {config.duration:g} s = "
          f"{result.calls:,} calls")
    layout = ("each client asks the authoritative server" if config.resolver == "direct" else
              f"one shared caching resolver (serves its copy: {config.resolver_order})")
    print(f"  DNS: {layout}; server rrset-order {config.server_order}; "
          f"{result.authoritative_queries:,} queries reached the server")
    for o in down:
        print(f"  down: {short_label(o.target)} from {o.start:g} s to {o.end:g} s")
    for a, b in nxdomain:
        print(f"  NXDOMAIN from {a:g} s to {b:g} s (negative TTL {config.negative_ttl:g} s)")
    table = result.table(args.configured)
    conf_name = args.configured or {"naptr": "rfc3403", "srv": "srv", "a": "equal"}[rs.kind]
    print(f"\n  {'target':<12} {'calls':>11} {'share':>8} {'expected':>9} "
          f"{'configured':>11}")
    for label, row in table.iterrows():
        print(f"  {label:<12} {int(row['calls']):>11,} {row['share']:>8.4f} "
              f"{row['expected']:>9.4f} {row['configured']:>11.4f}")
    print(f"  expected: what this fleet's clients give in the long run; configured: the "
          f"records read as {conf_name}")
    print("\n  per client model:")
    for j, name in enumerate(result.models):
        row = result.by_model[j]
        shares = "  ".join(f"{short_label(lab)} {row[i] / max(row.sum(), 1):.3f}"
                           for i, lab in enumerate(result.labels) if row[i])
        dead = (f"; {result.first_down[j]:,} calls tried a dead target first"
                if result.first_down[j] else "")
        print(f"    {name:<10} {int(row.sum()):>11,} calls: {shares}{dead}")
    print("\n  is the delivered split the expected one?")
    print_clustered("against the fleet's expected split", result.test(alpha=args.alpha))
    print_clustered(f"against the configured split ({conf_name})",
                     result.test(configured, alpha=args.alpha))
    print(f"\n  {result.calls:,} calls simulated in {result.seconds:.2f} s "
          f"({result.calls_per_second:,.0f} calls/s, the kernel's loading included)")
    for note in result.notes:
        print(f"  note: {note}")
    if args.plot:
        print(f"  plot written to {args.plot}")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """``enumlab fleet``: its arguments."""
    p = sub.add_parser(
        "fleet", help="what a fleet of real clients, caches and failures do to a split",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Simulate a population of clients calling through DNS for a while: each "
                    "client model picks targets\nits own way, caches answers for the TTL, and "
                    "fails over (or not) when a target is down.\nReports the long-run split "
                    "beside the configured one, per model, and tests it with statistics\nthat "
                    "count clustered choices (one DNS answer deciding many calls).\n\n"
                    "client models (--clients NAME:COUNT,...):\n"
                    "  rfc        a fresh RFC 3403/2782 draw per call, RFC 3263 s4.3 failover\n"
                    "  sticky     the same draw, made once per cached answer and kept for its "
                    "TTL\n"
                    "  kamailio   no draw: the first record by (ORDER, PREFERENCE) or (PRIORITY,"
                    "\n             WEIGHT descending), ties by answer order; NAPTR per call, "
                    "SRV/A cached\n             for the TTL; no failover (stateless "
                    "forward())\n"
                    "  first      a naive proxy: first record, everything cached, no "
                    "failover\n"
                    "  dnspython  processing_order() per call (SRV weight 0 counted as 0.1)\n"
                    "  weighted   the seed blog's reading (PREFERENCE as a weight) per call",
        epilog="examples:\n"
               "  enumlab fleet _sip._udp.lab.example --clients sticky:20 --duration 1d\n"
               "  enumlab fleet +61355500913 --clients kamailio:10,rfc:5 --calls-per-day 1e6\n"
               "  enumlab fleet pool.lab.example --clients kamailio:4 --ttl 60 \\\n"
               "      --down 127.0.90.1@600-900 --plot shares.png\n"
               "  enumlab fleet _sip._udp.lab.example --resolver shared --server-order cyclic "
               "--json",
    )
    p.add_argument("target", metavar="NUMBER_OR_NAME",
                   help="E.164 number (ENUM), _service._proto.domain (SRV), a NAPTR name, or a "
                        "host name with several A/AAAA records (a pool)")
    p.add_argument("--clients", default="rfc:10", metavar="MODEL:N,...",
                   help="the fleet, e.g. kamailio:10,rfc:5 (default rfc:10)")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--rate", type=float, metavar="CALLS/S",
                      help="calls per second, the whole fleet")
    rate.add_argument("--calls-per-day", type=float, default=1e6, metavar="N",
                      help="the same as a daily volume (default 1e6)")
    p.add_argument("--duration", default="1h", help="simulated time: 900, 15m, 6h, 1d (1h)")
    p.add_argument("--ttl", type=positive_seconds, metavar="S",
                   help="the record set's TTL (default: the zone's)")
    p.add_argument("--negative-ttl", type=positive_seconds, default=60.0, metavar="S",
                   help="how long NXDOMAIN is cached (RFC 2308; default 60)")
    p.add_argument("--resolver", choices=("direct", "shared"), default="direct",
                   help="direct: clients ask the server; shared: one caching resolver for all")
    p.add_argument("--server-order", choices=("random", "cyclic", "none", "shuffle"),
                   default="random",
                   help="the server's rrset-order: BIND 9.18's random (its default), cyclic, "
                        "none (stored order), or a uniform shuffle")
    p.add_argument("--resolver-order",
                   choices=("as-fetched", "rotate", "random", "cyclic", "shuffle"),
                   default="as-fetched",
                   help="how a shared resolver orders its cached copy: rotate = a random "
                        "rotation per answer (unbound 1.17, knot-resolver 5.6: measured); "
                        "as-fetched (default) = the server's order passed through (a resolver "
                        "told not to reorder); random / cyclic = BIND 9.18's rrset-order; "
                        "shuffle = a uniform permutation")
    p.add_argument("--down", action="append", default=[], metavar="TARGET@START-END",
                   help="a target down for a while, e.g. server1@600-900 (repeatable)")
    p.add_argument("--nxdomain", action="append", default=[], metavar="START-END",
                   help="the name answers NXDOMAIN for a while (negative caching)")
    p.add_argument("--configured", choices=POLICY_NAMES, metavar="POLICY",
                   help="how to read the records as the configured split (default: the RFC "
                        "reading: rfc3403, srv, or equal shares for a pool)")
    p.add_argument("--bins", type=int_in(1, 10_000, "--bins"), default=96,
                   help="time bins for the share over time (96)")
    p.add_argument("--alpha", type=probability, default=0.05, help="test level (0.05)")
    p.add_argument("--seed", type=SEED, help="random seed (reproducible runs)")
    p.add_argument("--plot", type=Path, metavar="FILE.png",
                   help="write the share per target over time")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_dns_options(p)
    p.set_defaults(func=run)
