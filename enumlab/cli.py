"""The ``enumlab`` command line. Each sub-command is a thin front over the package.

Exit codes: 0 success, 1 the lookup worked but found nothing usable, 2 an error (one line on
stderr naming the input).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import numpy as np

from .e164 import DEFAULT_SUFFIX, normalize
from .errors import EnumlabError, InputError, ProcedureError, shown
from .paths import DEFAULT_ZONE_DIR

if TYPE_CHECKING:
    from .resolver import Resolver

# dnspython, the resolver, the embedded server and the regexp engine are imported where a
# command needs them: `enumlab pcap` on a small capture starts without them
OUTPUT_MODES: tuple[Literal["rfc3402", "replacement"], ...] = ("rfc3402", "replacement")
# (enumlab.naptr_regexp.OUTPUT_MODES; tests/test_cli.py checks they are equal)
FLEET_MODELS = ("rfc", "sticky", "kamailio", "first", "dnspython", "weighted")  # fleet.MODELS
POLICY_NAMES = ("rfc3403", "all-orders", "weighted", "3gpp", "srv", "dnspython", "first",
                "kamailio")  # enumlab.policies.POLICY_NAMES

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


def _int_in(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer ``low..high`` (written in decimal or 0x hex)."""
    def parse(text: str) -> int:
        try:
            value = int(text, 0) if text.lower().startswith("0x") else int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number, not "
                                             f"{shown(text)}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be {low}..{high}, not {value}")
        return value
    parse.__name__ = what
    return parse


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above 0 (not nan, inf, 0 or -1)."""
    try:
        from .resolver import check_timeout

        return check_timeout(float(text))
    except (ValueError, InputError):
        raise argparse.ArgumentTypeError(
            f"must be a finite number of seconds above 0, not {shown(text)}") from None


def server_address(text: str) -> str:
    """An argparse type: an IP literal with an optional port (never a host name)."""
    try:
        from .resolver import parse_server

        parse_server(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def ip_literal(text: str) -> str:
    try:
        from .resolver import check_ip_literal

        return check_ip_literal(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a probability 0..1, not {shown(text)}")
    return value


SEED = _int_in(0, 2**63 - 1, "seed")


@contextlib.contextmanager
def lab_resolver(args: argparse.Namespace) -> Iterator[Resolver]:
    """A resolver for ``--server``, or for an embedded server started on the lab zones."""
    from .resolver import Resolver
    from .server import EmbeddedServer

    options: dict[str, Any] = {"edns": args.edns, "timeout": args.timeout}
    if args.server is not None:  # '' is an error (parse_server), never "use the lab"
        yield Resolver.from_address(args.server, **options)
        return
    with EmbeddedServer(args.zones or default_zone_dir()) as server:
        yield Resolver(server.host, server.port, **options)


def _add_dns_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("DNS")
    g.add_argument("--server", metavar="IP[:PORT]", type=server_address,
                   help="DNS server to ask, an IP address: 127.0.0.1:5353, [::1]:5353 (never "
                        "resolv.conf, never a host name). Default: start the embedded "
                        "lab server on --zones, in-process, on a free loopback port")
    g.add_argument("--zones", metavar="DIR", type=Path,
                   help="zone directory for the embedded server (default: data/zones or "
                        "$ENUMLAB_ZONES)")
    g.add_argument("--edns", type=edns_size, default=None, metavar="SIZE",
                   help="EDNS0 UDP payload to advertise: none (default, 512-byte limit), "
                        "1232, 4096, ...")
    g.add_argument("--timeout", type=positive_seconds, default=2.0, metavar="SECONDS",
                   help="per-query timeout (default 2)")


def _emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def _json_or_trace(args: argparse.Namespace, result: Any, found: bool) -> int | None:
    """``--json`` prints the result (trace included) and ends the command; ``--trace`` prints
    the trace before the human-readable result."""
    if args.json:
        _emit_json(result.to_dict())
        return EXIT_OK if found else EXIT_EMPTY
    if args.trace:
        print(result.trace.format())
        print()
    return None


# -- enumlab enum ---------------------------------------------------------------------------

def _client_result(args: argparse.Namespace, command: str, subject: str, **options: Any) -> int:
    """``--client MODEL``: what that client does with the number or URI (enumlab.clients)."""
    from .clients import get_model

    model = get_model(args.client)
    rng = np.random.default_rng(args.seed)
    with lab_resolver(args) as resolver:
        result = model.run(command, subject, resolver, rng=rng, **options)
    if args.json:
        _emit_json({**result.to_dict(), "basis": model.basis})
        return EXIT_OK if result.targets else EXIT_EMPTY
    if args.trace and len(result.trace):
        print(result.trace.format())
        print()
    print(f"{result.subject} as {model.name} handles it ({model.title}; {model.basis}):")
    if result.lines:
        print("\n".join(result.lines))
    elif not result.targets:
        print("  nothing to route to")
    else:
        for i, t in enumerate(result.targets, 1):
            q = f"  q={t.q:g}" if t.q is not None else ""
            print(f"  {i}. {t.uri}{q}" + (f"  ({t.note})" if t.note else ""))
    for note in result.notes:
        print(f"  note: {note}")
    return EXIT_OK if result.targets else EXIT_EMPTY


def cmd_enum(args: argparse.Namespace) -> int:
    from .ddds import resolve_enum

    number = normalize(args.number, international=args.international,
                       country_code=args.country_code)
    if args.client != "rfc":
        return _client_result(args, "enum", number, suffix=args.suffix, service=args.service)
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
    done = _json_or_trace(args, result, bool(result.candidates))
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


# -- enumlab regexp -------------------------------------------------------------------------

def cmd_regexp(args: argparse.Namespace) -> int:
    from .naptr_regexp import SubstitutionExpression

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


# -- enumlab simulate -----------------------------------------------------------------------

def _resolve_target(name: str, targets: list[str]) -> str:
    """A target by its full name or an unambiguous part of it (``server1``)."""
    if name in targets:
        return name
    matches = [t for t in targets if name in t]
    if len(matches) != 1:
        raise InputError(f"{name!r} matches {len(matches)} targets of {', '.join(targets)}",
                         subject=name)
    return matches[0]


def _failures(args: argparse.Namespace, targets: list[str]) -> dict[str, float]:
    out = {_resolve_target(t, targets): 1.0 for t in args.down}
    for spec in args.fail:
        name, _, prob = spec.rpartition("=")
        try:
            out[_resolve_target(name, targets)] = probability(prob)
        except argparse.ArgumentTypeError as exc:
            raise InputError(f"--fail wants TARGET=P with P in 0..1, not {shown(spec)}",
                             subject=spec) from exc
    return out


def _print_report(title: str, data: dict[str, Any]) -> None:
    print(title)
    print(f"  {'target':<58} {'observed':>9} {'share':>8} {'expected':>9} {'95% CI':>17}")
    for row in data["targets"]:
        ci = f"{row['ci_low']:.4f}-{row['ci_high']:.4f}"
        print(f"  {row['target']:<58} {row['observed']:>9} {row['observed_share']:>8.4f} "
              f"{row['expected_share']:>9.4f} {ci:>17}")
    chi2, g = data["chi2"], data["g_test"]
    print(f"  chi-square {chi2['statistic']:.3f} (p={chi2['p_value']:.3g})   "
          f"G-test {g['statistic']:.3f} (p={g['p_value']:.3g})   "
          f"max |deviation| {data['max_abs_deviation']:.4f}")
    if data["impossible"]:
        print(f"  impossible under this policy: {', '.join(data['impossible'])}")


def _print_comparison(target: str, results: list[dict[str, Any]], *, observed: bool) -> None:
    """Every policy in one table: rows the targets, columns the policies, each cell the share
    seen (simulated, or in the observed data) over the share the policy expects."""
    from .plot import short_label
    from .simulate import policy_table

    seen = policy_table(results)
    wanted = policy_table(results, column="expected_share")
    source = "observed data" if observed else f"{results[0]['n']} selections per policy"
    print(f"{target}: every policy, share seen / share the policy expects ({source})")
    widths = {p: max(13, len(str(p)) + 2) for p in seen.columns}
    print(f"  {'target':<12}" + "".join(f"{p:>{widths[p]}}" for p in seen.columns))
    for name in seen.index:
        cells = "".join(f"{seen.at[name, p]:.3f}/{wanted.at[name, p]:.3f}".rjust(widths[p])
                        for p in seen.columns)
        print(f"  {short_label(name):<12}{cells}")
    print(f"  {'p (chi-sq)':<12}" + "".join(f"{r['chi2']['p_value']:>{widths[r['policy']]}.3g}"
                                           for r in results))
    impossible = {r["policy"]: r["impossible"] for r in results if r["impossible"]}
    for policy, names in impossible.items():
        print(f"  {policy}: impossible under it: {', '.join(short_label(n) for n in names)}")
    print("  targets: " + "; ".join(f"{short_label(n)} = {n}" for n in seen.index
                                    if short_label(n) != n))


def _simulate_observed_pcap(args: argparse.Namespace) -> int:
    """``simulate NAME --observed-pcap FILE``: where the capture's SIP requests went, grouped
    by the DNS answer that decided them, tested against each policy or client model."""
    from . import fleet as fl
    from . import simulate as sim
    from .observed_split import observed_split
    from .plot import short_label

    with lab_resolver(args) as resolver:
        rs = sim.record_set(args.target, resolver)
        seen = observed_split(args.observed_pcap, args.target, rs, resolver,
                              method=args.method, dns_ports=tuple(args.dns_port))
    readings: list[tuple[str, np.ndarray]] = []
    if args.client:
        for name in args.client:
            readings.append((f"client {name}", fl.model_expected(name, rs)))
    else:
        from .policies import get_policy

        names = POLICY_NAMES if args.policy == "all" else (args.policy,)
        readings = [(f"policy {n}", np.asarray(get_policy(n, rs.kind).first_choice(rs)))
                    for n in names]
    reports = [(label, seen.test(exp, alpha=args.alpha)) for label, exp in readings]
    per_call = {f"client {n}": not fl.predicts_clusters(n, rs.kind) for n in args.client or ()}
    if args.json:
        def verdict(label: str, r: Any) -> dict[str, Any]:
            clustered = r.independence is not None and r.independence.p_value < args.alpha
            per = per_call.get(label, False)
            ok = (r.naive_consistent() and not clustered) if per else r.consistent()
            return {**r.to_dict(), "reading_decides_per_call": per, "consistent": bool(ok)}

        _emit_json({**seen.to_dict(), "tests": {label: verdict(label, r)
                                                for label, r in reports}})
        return EXIT_OK
    d = seen.to_dict()
    print(f"{args.target}: {args.method.upper()} requests in {args.observed_pcap.name}")
    print(f"  {d['requests']} to targets ({d['to_no_target']} to other addresses); "
          f"{d['resolutions_seen']} DNS answers for the record set seen; {d['clusters']} "
          "decisions (requests grouped by the answer before them)")
    total = max(d["requests"], 1)
    for t, c in d["counts"].items():
        print(f"  {short_label(t):<14} {c:>8}  {c / total:.4f}")
    for note in seen.notes:
        print(f"  note: {note}")
    print()
    for label, report in reports:
        exp = "/".join(f"{x:.3g}" for x in report.expected_share)
        _print_clustered(f"against {label} (expected {exp})", report,
                         per_call_model=per_call.get(label, False))
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    from . import simulate as sim
    from .stats import compare, observed_counts

    rng = np.random.default_rng(args.seed)
    if args.observed_pcap is not None:
        return _simulate_observed_pcap(args)
    with lab_resolver(args) as resolver:
        rs = sim.record_set(args.target, resolver)
        failures = _failures(args, rs.targets)
        from .policies import get_policy

        names = POLICY_NAMES if args.policy == "all" else (args.policy,)
        results = []
        for name in names:
            policy = get_policy(name, rs.kind)
            if args.observed:
                counts = observed_counts(args.observed, rs.targets)
                expected = policy.expected(rs, [failures.get(t, 0.0) for t in rs.targets])
                report = compare(counts, expected, labels=[*rs.targets, sim.NONE])
                data = {"policy": policy.name, "n": report.n, **report.to_dict()}
            elif args.live:
                result = sim.simulate_live(args.target, args.n, resolver, name, rng,
                                           down=[t for t, p in failures.items() if p >= 1],
                                           progress=not args.json)
                data = result.to_dict()
            else:
                result = sim.simulate(rs, args.n, policy, rng, failures=failures)
                data = result.to_dict()
            results.append(data)
    if args.plot:
        from . import plot

        last = results[-1]
        report = compare([r["observed"] for r in last["targets"]],
                         [r["expected_share"] for r in last["targets"]],
                         labels=[r["target"] for r in last["targets"]])
        plot.save(plot.actual_vs_expected(report, title=f"{args.target} under {last['policy']}"),
                  str(args.plot))
    if args.json:
        _emit_json(results[0] if len(results) == 1 else results)
        return EXIT_OK
    if len(results) > 1:
        _print_comparison(args.target, results, observed=bool(args.observed))
    for data in results if len(results) == 1 else ():
        source = "observed data" if args.observed else f"{data['n']} selections"
        _print_report(f"{args.target}: policy {data['policy']}, {source}", data)
    if args.plot:
        print(f"plot written to {args.plot}")
    return EXIT_OK


# -- enumlab fleet --------------------------------------------------------------------------

def _print_clustered(title: str, report: Any, *, per_call_model: bool = False) -> None:
    """One clustered test, explained. ``per_call_model``: the reading tested draws afresh for
    every call, so calls that shared an answer must not cluster."""
    d = report.to_dict()
    print(f"  {title}:")
    print(f"    naive chi-square on {d['calls']:,} calls: p = {d['naive_chi2']['p_value']:.3g}"
          "  (assumes every call an independent draw)")
    icc = "" if d["icc"] is None else f", ICC {d['icc']:.3f}"
    print(f"    clustered: {d['clusters']:,} decisions (mean size {d['mean_cluster_size']:.1f}"
          f" calls), design effect {d['design_effect']:.2f}{icc}, effective n "
          f"{d['effective_n']:,.0f}")
    epoch = d["epoch_level_chi2"]
    once = (f";  each decision once: p = {epoch['p_value']:.3g} (purity {d['purity']:.3f})"
            if epoch else "")
    print(f"    Rao-Scott adjusted chi-square: p = {d['rao_scott_chi2']['p_value']:.3g}{once}")
    if report.impossible:
        print(f"    impossible under it: {', '.join(report.impossible)}")
    for w in report.warnings():
        print(f"    note: {w}")
    naive_ok, ok = report.naive_consistent(), report.consistent()
    clustered = report.independence is not None and report.independence.p_value < report.alpha
    if report.independence is not None:
        print(f"    independence of target and answer: p = {report.independence.p_value:.3g} "
              + ("(calls that shared an answer went to the same target)" if clustered else
                 "(no sign of clustering)"))
    if per_call_model and clustered:
        print("    => NOT this model: it decides per call, but the calls cluster by answer")
    elif per_call_model:
        # the model says every call is its own draw: the chi-square on calls is its own test
        print("    => consistent (a per-call model: the chi-square on calls applies)"
              if naive_ok else "    => NOT consistent with this per-call model")
    elif ok and not naive_ok:
        print("    => consistent once clustering is counted; the naive test calls it biased")
    elif ok:
        print("    => consistent")
    else:
        print("    => NOT consistent, even counting the clustering")


def cmd_fleet(args: argparse.Namespace) -> int:
    from . import fleet as fl
    from .plot import short_label
    from .simulate import record_set

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
        from . import plot

        plot.save(plot.fleet_shares(result, configured=configured,
                                    title=f"{args.target}: share per target over time"),
                  str(args.plot))
    if args.json:
        _emit_json({"name": args.target, **result.to_dict(args.configured)})
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
    _print_clustered("against the fleet's expected split", result.test(alpha=args.alpha))
    _print_clustered(f"against the configured split ({conf_name})",
                     result.test(configured, alpha=args.alpha))
    print(f"\n  {result.calls:,} calls simulated in {result.seconds:.2f} s "
          f"({result.calls_per_second:,.0f} calls/s, the kernel's loading included)")
    for note in result.notes:
        print(f"  note: {note}")
    if args.plot:
        print(f"  plot written to {args.plot}")
    return EXIT_OK


# -- enumlab sip ----------------------------------------------------------------------------

def _print_targets(targets: list[Any], indent: str = "  ") -> None:
    if not targets:
        print(f"{indent}no target: nothing to send the request to")
    for i, t in enumerate(targets, 1):
        extra = f"  priority {t.priority} weight {t.weight}" if t.priority is not None else ""
        role = ", failover: a less preferred transport" if getattr(t, "failover", False) else ""
        print(f"{indent}{i}. {t.transport:<4} {t.host}:{t.port} -> {t.address}{extra}"
              f"  [{t.source}{role}]")


def cmd_sip(args: argparse.Namespace) -> int:
    from .sip_location import locate_sip_server
    from .sip_uri import parse_sip_uri

    uri = parse_sip_uri(args.uri)
    transports = [t for t in args.transports.split(",") if t]
    if args.client == "sofia-sip":
        return _client_result(args, "sip", uri.text)
    if args.client != "rfc":
        return _client_result(args, "sip", uri.text, transports=transports,
                              prefer_ipv6=args.prefer_ipv6, all_transports=args.all_transports)
    rng = np.random.default_rng(args.seed)
    with lab_resolver(args) as resolver:
        location = locate_sip_server(uri, resolver, transports=transports, rng=rng,
                                     prefer_ipv6=args.prefer_ipv6,
                                     all_transports=args.all_transports)
        without = (locate_sip_server(uri.without_port(), resolver, transports=transports,
                                     rng=rng, prefer_ipv6=args.prefer_ipv6,
                                     all_transports=args.all_transports)
                   if location.skipped_srv else None)
    if args.json:
        data = location.to_dict()
        if without is not None:
            data["without_port"] = without.to_dict()
        _emit_json(data)
        return EXIT_OK if location.targets else EXIT_EMPTY
    if args.trace:
        print(location.trace.format())
        print()
    print(f"{uri.text}: try in this order")
    _print_targets(location.targets)
    if without is not None:
        print(f"\nSRV was skipped: the URI carries port {uri.port}, so RFC 3263 s4.2 allows "
              "only an A/AAAA lookup of the host.")
        print(f"Without the port, {without.uri} resolves to:")
        _print_targets(without.targets)
        missed = {(t.host, t.port) for t in without.targets} - {
            (t.host, t.port) for t in location.targets}
        if missed:
            print(f"The port hides {len(missed)} target(s) of the SRV pool: "
                  + ", ".join(f"{h}:{p}" for h, p in sorted(missed)))
    return EXIT_OK if location.targets else EXIT_EMPTY


# -- enumlab doctor -------------------------------------------------------------------------

def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import diagnose, read_resolv_conf

    resolv = read_resolv_conf(args.resolv_conf)
    with lab_resolver(args) as authoritative:
        report = diagnose(args.domain, authoritative, resolv, timeout=args.timeout)
    if args.json:
        _emit_json(report.to_dict())
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


# -- enumlab epc ----------------------------------------------------------------------------

def _epc_fqdn(args: argparse.Namespace) -> tuple[str, str]:
    from . import epc_fqdn as f

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


def cmd_epc(args: argparse.Namespace) -> int:
    from .snaptr import snaptr_select

    fqdn, node = _epc_fqdn(args)
    rng = np.random.default_rng(args.seed)
    if args.client is not None:
        from .clients import get_model, models_for

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
    done = _json_or_trace(args, result, result.selected is not None)
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


# -- enumlab pcap ---------------------------------------------------------------------------

def cmd_pcap(args: argparse.Namespace) -> int:
    from .capture import packet_detail
    from .capture_set import is_dataset

    inputs = [str(x) for x in args.files]
    dataset_out = args.parquet is not None and not args.parquet.endswith(".parquet")
    one = (len(inputs) == 1 and Path(inputs[0]).is_file() and args.workers is None
           and args.dask is None and not dataset_out and args.point_from is None)
    if args.detail is not None:
        if not one:
            raise InputError("--detail shows one frame of one capture", subject=inputs)
        print(packet_detail(inputs[0], args.detail))
        return EXIT_OK
    if len(inputs) == 1 and is_dataset(inputs[0]):
        return _pcap_dataset(args, inputs[0])
    if one:
        return _pcap_one(args, inputs[0])
    return _pcap_set(args, inputs, dataset_out)


def _pcap_one(args: argparse.Namespace, file: str) -> int:
    from .capture_stream import STREAM_MIN_BYTES
    from .pcap_report import analyze, format_summary, save_transactions, write_html

    tables_wanted = [flag for flag, v in (("--csv", args.csv), ("--parquet", args.parquet),
                                          ("--html", args.html), ("--messages", args.messages))
                     if v]
    if args.pieces is not None and (tables_wanted or args.engine == "tshark"):
        raise InputError(f"--pieces gives the summary only; {', '.join(tables_wanted)} "
                         "write(s) whole tables: leave --pieces out" if tables_wanted else
                         "--pieces reads with the native engine (tshark reads in memory)",
                         subject=args.pieces)
    if args.pieces is not None or (not tables_wanted and args.engine != "tshark"
                                   and Path(file).stat().st_size >= STREAM_MIN_BYTES):
        return _pcap_pieces(args, file)

    if args.engine != "tshark":
        _warm_heap_for(file)
    # a progress bar only on a terminal: no carriage-return noise in logs or pipes
    analysis = analyze(file, mtu=args.mtu, progress=not args.json and sys.stderr.isatty(),
                       engine=args.engine, ports=tuple(args.port or ()))
    if args.messages:
        from .pcap_report import save_messages

        save_messages(analysis, args.messages)
    for out in (args.csv, args.parquet):
        if out:
            save_transactions(analysis, out)
    if args.html:
        write_html(analysis, args.html)
    if args.json:
        _emit_json(analysis.summary)
    else:
        print(format_summary(analysis.summary))
        for label, out in (("CSV", args.csv), ("Parquet", args.parquet), ("HTML", args.html),
                           ("message table", args.messages)):
            if out:
                print(f"{label} written to {out}")
    return EXIT_OK


def _warm_heap_for(file: str) -> None:
    """A capture big enough for the compiled engine: the heap its analysis needs is touched on
    the idle core while numba loads (:mod:`enumlab.capture.heap`)."""
    from .capture.heap import heap_estimate, warm_heap
    from .capture.jit import JIT_MIN_BYTES

    if Path(file).stat().st_size >= JIT_MIN_BYTES and not os.environ.get("ENUMLAB_NO_JIT"):
        warm_heap(heap_estimate(file))


def _pcap_pieces(args: argparse.Namespace, file: str) -> int:
    """One big capture in bounded memory (:mod:`enumlab.capture_stream`)."""
    from .capture_stream import PIECE_RECORDS, analyze_stream
    from .pcap_report import format_summary

    bar = None
    if not args.json and sys.stderr.isatty():
        from tqdm.auto import tqdm

        bar = tqdm(desc=f"reading {Path(file).name}", unit="pkt", unit_scale=True)
    try:
        summary = analyze_stream(file, ports=tuple(args.port or ()), mtu=args.mtu,
                                 piece_records=args.pieces or PIECE_RECORDS,
                                 on_records=bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        _emit_json(summary)
    else:
        print(format_summary(summary))
        print(f"  analysed in {summary['pieces']} piece(s) of at most "
              f"{args.pieces or PIECE_RECORDS:,} records")
    return EXIT_OK


def _pcap_set(args: argparse.Namespace, inputs: list[str], dataset_out: bool) -> int:
    from .capture_set import analyze_set
    from .pcap_report import PcapAnalysis, write_html

    for flag, value in (("--csv", args.csv), ("--messages", args.messages)):
        if value:
            raise InputError(f"{flag} writes one capture's table; for a set of captures use "
                             "--parquet DIR (a dataset) and enumlab query", subject=value)
    if args.parquet and not dataset_out:
        raise InputError(f"--parquet {args.parquet}: a set of captures is written as a dataset "
                         "directory (a path not ending in .parquet)", subject=args.parquet)
    if args.engine == "tshark":
        raise InputError("a set of captures is read by the native engine", subject="tshark")
    result = analyze_set(inputs, point_from=args.point_from or "one", window=args.window,
                         workers=args.workers, dask=args.dask, ports=tuple(args.port or ()),
                         mtu=args.mtu, parquet=args.parquet,
                         keep_tables=bool(args.html) and not dataset_out,
                         progress=not args.json and sys.stderr.isatty())
    if args.html and dataset_out:  # the report from the dataset just written
        _pcap_dataset(args, args.parquet, quiet=True)
    elif args.html:
        write_html(PcapAnalysis(None, result.transactions, result.summary, args.mtu), args.html)
    return _set_printed(args, result)


def _set_printed(args: argparse.Namespace, result: Any) -> int:
    from .pcap_report import format_summary

    if args.json:
        _emit_json(result.summary)
    else:
        print(format_summary(result.summary))
        per_point: dict[str, int] = {}
        for f in result.summary["files"]:
            per_point[f["point"]] = per_point.get(f["point"], 0) + 1
        print("  files: " + ", ".join(f"{p} {n}" for p, n in per_point.items())
              + f"; window {result.summary['window_s']:g} s")
        for label, out in (("dataset", args.parquet), ("HTML", args.html)):
            if out:
                print(f"{label} written to {out}")
    return EXIT_OK


def _pcap_dataset(args: argparse.Namespace, root: str, *, quiet: bool = False) -> int:
    """A second look at a dataset written by --parquet: no re-decoding."""
    from .capture_set import read_dataset
    from .pcap_report import PcapAnalysis, format_summary, write_html

    summary = json.loads((Path(root) / "summary.json").read_text())
    if args.html:
        txns = read_dataset(root, "transactions")
        write_html(PcapAnalysis(None, txns, summary, args.mtu), args.html)
    if quiet:
        return EXIT_OK
    if args.json:
        _emit_json(summary)
    else:
        print(format_summary(summary))
        if args.html:
            print(f"HTML written to {args.html}")
    return EXIT_OK


# -- enumlab query ----------------------------------------------------------------------------

def cmd_query(args: argparse.Namespace) -> int:
    from .capture_set import query

    frame = query(args.dataset, args.sql)
    if args.json:
        _emit_json(json.loads(frame.to_json(orient="records", date_format="iso")))
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", args.limit, "display.max_columns", None,
                               "display.width", 160):
            print(frame.to_string(index=False, max_rows=args.limit) if len(frame)
                  else "(no rows)")
    return EXIT_OK


# -- enumlab serve --------------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    from .server import EmbeddedServer

    zones = args.zone_dir or default_zone_dir()
    server: Any
    if args.engine == "bind":
        from .bind import BindServer

        server = BindServer(zones, host=args.host, port=args.port, max_udp_size=args.max_udp)
    else:
        server = EmbeddedServer(zones, host=args.host, port=args.port, max_udp_size=args.max_udp,
                                workers=args.workers)
    stop_signals = (signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.getsignal(sig) for sig in stop_signals}

    def stop(signum: int, frame: object) -> None:
        raise _StopServing(signum)

    for sig in stop_signals:  # stop cleanly (named stopped, its directory removed) on these too
        signal.signal(sig, stop)
    try:
        with server:
            print(f"enumlab: {args.engine} serving {', '.join(server.zone_names())} from "
                  f"{zones} on {server.address} (UDP+TCP, authoritative only, no recursion). "
                  "Ctrl-C stops.", flush=True)
            if args.engine == "bind":
                print(f"  named pid {server.pid}, working directory {server.workdir}",
                      flush=True)
                for origin, why in server.rejected.items():
                    print(f"  named-checkzone refused {origin}: {why.splitlines()[0]}",
                          flush=True)
            elif server.worker_pids:
                print(f"  UDP answered by {server.workers} processes: pid {os.getpid()} and "
                      f"workers {', '.join(map(str, server.worker_pids))}", flush=True)
            print(f"  try: dig @{server.host} -p {server.port} NAPTR "
                  "3.1.9.0.0.5.5.5.3.1.6.e164.arpa.", flush=True)
            deadline = time.monotonic() + args.duration if args.duration else None
            with contextlib.suppress(KeyboardInterrupt):
                while deadline is None or time.monotonic() < deadline:
                    time.sleep(0.2)
    except _StopServing as stopped:
        print(f"enumlab: stopped by {signal.Signals(stopped.signum).name}", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


class _StopServing(BaseException):
    """Raised by the SIGTERM/SIGHUP handler of ``enumlab serve`` to leave its with-block."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# -- enumlab zone check ----------------------------------------------------------------------

def cmd_zone_check(args: argparse.Namespace) -> int:
    """Exit 0 clean (notes at most), 1 errors or warnings found, 2 the check could not run."""
    from .zone_check import check_zones

    report = check_zones(args.path, all_sizes=args.sizes == "all")
    if args.html:
        report.write_html(args.html)
    if args.json:
        _emit_json(report.to_dict())
    else:
        print(report.format(limit=args.limit))
        if args.html:
            print(f"\nreport written to {args.html}")
    return report.exit_code


def _add_zone_parser(sub: Any) -> None:
    zone = sub.add_parser(
        "zone", help="zone doctor: what a NAPTR/S-NAPTR/SRV zone will do wrong",
        description="Work on zone files without serving them.")
    zsub = zone.add_subparsers(dest="zone_command", required=True, metavar="ZONE_COMMAND",
                               parser_class=_Parser)
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
               "  enumlab zone check data/zones\n"
               "  enumlab zone check data/zones/e164.arpa.zone --json\n"
               "  enumlab zone check /etc/bind/zones --html zone-report.html --limit 20",
    )
    p.add_argument("path", type=Path, help="a zone file, or a directory of *.zone / *.db files")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument("--html", metavar="REPORT.html", help="write a one-file HTML report")
    p.add_argument("--limit", type=_int_in(1, 10**9, "limit"), default=5,
                   help="owners shown per rule in the text report (default 5)")
    p.add_argument("--sizes", choices=("over-512", "all"), default="over-512",
                   help="answer sizes listed: those over 512 bytes (default) or all")
    p.set_defaults(func=cmd_zone_check)


# -- parser ---------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit 2): ``enumlab enum: error: ... (see --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="enumlab",
        description="Learn, validate and debug the DNS that telecom networks route by.",
        epilog="Every command that needs DNS starts the embedded lab server on data/zones "
               "unless --server is given. Run 'enumlab COMMAND --help' for each command.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

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
        "simulate", help="does a NAPTR/SRV set really split traffic 25/25/50? simulate and test",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Select a target N times under a selection policy and compare the observed "
                    "split with the exact expected one\n(chi-square, G-test, Wilson intervals). "
                    "Policies disagree on the same records:\n"
                    "  rfc3403    PREFERENCE is a rank (RFC 3403 s4.1)\n"
                    "  all-orders RFC sort, failover into later ORDERs\n"
                    "  weighted   PREFERENCE as a weight (the seed blog)\n"
                    "  3gpp       weight = 65535 - PREFERENCE (TS 29.303 annex C.1)\n"
                    "  srv        RFC 2782 priority/weight running sum\n"
                    "  dnspython  dnspython's own processing order\n"
                    "  first      always the first record (ties: answer order)",
        epilog="examples:\n"
               "  enumlab simulate +61355500913 -n 100000 --policy weighted\n"
               "  enumlab simulate +61355500913 --policy all\n"
               "  enumlab simulate +61355500914 --policy all-orders --down server1\n"
               "  enumlab simulate +61355500913 --policy weighted --fail server3=0.2 --plot s.png\n"
               "  enumlab simulate +61355500913 --observed calls.csv   (a 'target' column)\n"
               "  enumlab simulate pool.split.mnc001.mcc001.3gppnetwork.org \\\n"
               "      --observed-pcap proxy.pcapng --client kamailio --client rfc",
    )
    p.add_argument("target", metavar="NUMBER_OR_NAME",
                   help="E.164 number (ENUM), _service._proto.domain (SRV) or a NAPTR name")
    p.add_argument("-n", type=_int_in(1, 10**10, "-n"), default=100_000,
                   help="selections to simulate (100000)")
    p.add_argument("--policy", default="rfc3403", choices=[*POLICY_NAMES, "all"],
                   help="selection policy, or 'all' to compare every policy")
    p.add_argument("--down", nargs="*", default=[], metavar="TARGET",
                   help="targets that are down (full name or a unique part, e.g. server1)")
    p.add_argument("--fail", nargs="*", default=[], metavar="TARGET=P",
                   help="targets down with probability P per request")
    p.add_argument("--seed", type=SEED, help="random seed (reproducible runs)")
    p.add_argument("--live", action="store_true",
                   help="resolve over DNS for every selection (slow; the whole path)")
    p.add_argument("--observed", type=Path, metavar="CSV",
                   help="test observed choices (CSV with a 'target' column) instead of simulating")
    p.add_argument("--observed-pcap", type=Path, metavar="FILE",
                   help="test where a capture's SIP requests went (grouped by the DNS answer "
                        "that decided them) instead of simulating")
    p.add_argument("--method", default="INVITE", help="SIP method to count (INVITE)")
    p.add_argument("--client", action="append", choices=sorted(FLEET_MODELS),
                   metavar="MODEL", help="with --observed-pcap: test against a client model "
                   "(enumlab fleet's: rfc, sticky, kamailio, first, dnspython, weighted); "
                   "repeatable")
    p.add_argument("--dns-port", type=_int_in(1, 65535, "--dns-port"), action="append",
                   default=[], metavar="N", help="with --observed-pcap: DNS on another port")
    p.add_argument("--alpha", type=probability, default=0.05, help="test level (0.05)")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="write actual-vs-expected bars")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_dns_options(p)
    p.set_defaults(func=cmd_simulate)

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
    p.add_argument("--resolver-order", choices=("as-fetched", "random", "cyclic", "shuffle"),
                   default="as-fetched", help="how a shared resolver orders its cached copy")
    p.add_argument("--down", action="append", default=[], metavar="TARGET@START-END",
                   help="a target down for a while, e.g. server1@600-900 (repeatable)")
    p.add_argument("--nxdomain", action="append", default=[], metavar="START-END",
                   help="the name answers NXDOMAIN for a while (negative caching)")
    p.add_argument("--configured", choices=POLICY_NAMES, metavar="POLICY",
                   help="how to read the records as the configured split (default: the RFC "
                        "reading: rfc3403, srv, or equal shares for a pool)")
    p.add_argument("--bins", type=_int_in(1, 10_000, "--bins"), default=96,
                   help="time bins for the share over time (96)")
    p.add_argument("--alpha", type=probability, default=0.05, help="test level (0.05)")
    p.add_argument("--seed", type=SEED, help="random seed (reproducible runs)")
    p.add_argument("--plot", type=Path, metavar="FILE.png",
                   help="write the share per target over time")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_dns_options(p)
    p.set_defaults(func=cmd_fleet)

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
    what.add_argument("--tac", type=_int_in(0, 0xFFFF, "TAC"),
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
    _add_dns_options(p)
    p.set_defaults(func=cmd_epc)

    p = sub.add_parser(
        "sip", help="SIP URI -> transport, host, port, address (RFC 3263, RFC 2782)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Locate the SIP servers for a URI as RFC 3263 says: transport= or a numeric "
                    "host decide at once;\na port means A/AAAA only (no NAPTR, no SRV); "
                    "otherwise NAPTR -> SRV -> A/AAAA, or SRV per transport,\nor A/AAAA with "
                    "5060/5061. SRV records are ordered by RFC 2782 (priority, weighted draw).",
        epilog="examples:\n"
               "  enumlab sip sip:ims.mnc001.mcc001.3gppnetwork.org --trace\n"
               "  enumlab sip sip:scscf.mnc001.mcc001.3gppnetwork.org:6060   the I-CSCF pitfall\n"
               "  enumlab sip 'sip:[2001:db8::1]:5070;transport=tcp' --json",
    )
    p.add_argument("uri", help="sip: or sips: URI")
    p.add_argument("--transports", default="udp,tcp,tls",
                   help="transports the client supports (default udp,tcp,tls; also sctp)")
    p.add_argument("--all-transports", action="store_true",
                   help="after the most preferred transport's targets, list the less preferred "
                        "NAPTR transports' too, marked failover (not RFC 3263)")
    p.add_argument("--prefer-ipv6", action="store_true", help="list AAAA before A")
    p.add_argument("--client", default="rfc", metavar="MODEL",
                   choices=["rfc", "kamailio", "sofia-sip", "dnspython", "glibc", "first"],
                   help="what a real client does with the records: rfc (default), sofia-sip "
                        "(sip-dig's lines, run here), glibc (getaddrinfo order), dnspython, "
                        "kamailio (SRV order from source), first")
    p.add_argument("--seed", type=SEED, help="seed for the RFC 2782 weighted draw")
    p.add_argument("--trace", action="store_true", help="show every query and decision")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_dns_options(p)
    p.set_defaults(func=cmd_sip)

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
    _add_dns_options(p)
    p.set_defaults(func=cmd_doctor, timeout=1.0)

    p = sub.add_parser(
        "pcap", help="post-mortem of a DNS capture: TC, TCP fallback, EDNS0, fragments, ICMP",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read a pcap/pcapng (or .gz), decode every DNS message -- UDP, TCP "
                    "(several per segment), reassembled\nfragments, GTP-U/GRE/Teredo tunnels, "
                    "VLANs -- pair every query with its answer, and classify each\n"
                    "transaction: ok, truncated_tcp_ok, truncated_no_retry, "
                    "truncated_tcp_failed, unanswered,\nfragments_lost, error_rcode. Sizes are "
                    "checked against 512, 1232, 1400, 1472 and --mtu; ICMP too-big\nerrors are "
                    "linked to the answers they quote.\n\nEngines: 'native' (default; numpy, "
                    "compiled by numba for big files) or 'tshark' (Wireshark's\ndissector, the "
                    "oracle; used automatically for link types the native decoder lacks).",
        epilog="examples:\n"
               "  enumlab pcap data/captures/truncation_tcp_fallback.pcapng\n"
               "  enumlab pcap capture.pcapng --mtu 1400 --html report.html --csv txns.csv\n"
               "  enumlab pcap data/captures/fragments_lost.pcapng --json\n"
               "  enumlab pcap capture.pcapng --detail 5     one packet in full (pyshark)\n"
               "  enumlab pcap lab.pcap --port 8053          DNS on a non-standard port too\n"
               "  enumlab pcap big.pcap --messages msgs.parquet   the message table itself\n"
               "  enumlab pcap huge.pcap --pieces 250000     bounded memory, every core "
               "(automatic from 256 MB)",
    )
    p.add_argument("files", nargs="+", metavar="FILE|DIR|GLOB",
                   help="a capture; or many: files, directories, globs (rotated files, several "
                        "capture points); or a dataset directory written by --parquet")
    p.add_argument("--mtu", type=_int_in(68, 65535, "MTU"),
                   help="path MTU to check responses against (e.g. a GTP tunnel's 1400)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--html", metavar="REPORT.html", help="write a one-file HTML report")
    p.add_argument("--csv", metavar="TRANSACTIONS.csv", help="write one row per transaction")
    p.add_argument("--parquet", metavar="FILE.parquet|DIR",
                   help="one capture: the transactions as FILE.parquet; a DIR (or a set of "
                        "captures): a dataset -- messages and transactions partitioned by "
                        "capture point and hour, for enumlab query")
    p.add_argument("--workers", type=_int_in(1, 256, "workers"),
                   help="a set of captures: processes decoding files at once (default: every "
                        "core)")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="a set of captures: submit the files to the Dask cluster at ADDRESS "
                        "(tcp://host:8786; start one with 'dask scheduler' and 'dask worker')")
    p.add_argument("--point-from", metavar="dirname|REGEX",
                   help="a set: which capture point a file belongs to: its directory's name, "
                        "or a regular expression over its name (first group); default: one "
                        "point")
    p.add_argument("--window", type=positive_seconds, default=10.0,
                   help="a set: seconds of the neighbouring files read around each file so "
                        "nothing is lost at a rotation (default 10)")
    p.add_argument("--detail", type=_int_in(1, 2**32, "frame number"), metavar="FRAME",
                   help="show one frame in full")
    p.add_argument("--engine", choices=("auto", "native", "tshark"), default="auto",
                   help="decoder: native (auto picks it unless a link type needs tshark) or "
                        "tshark")
    p.add_argument("--port", type=_int_in(1, 65535, "port"), action="append", metavar="N",
                   help="a UDP/TCP port that carries DNS besides 53 (repeatable)")
    p.add_argument("--messages", metavar="MESSAGES.csv|.parquet",
                   help="write the message table (one row per DNS message)")
    p.add_argument("--pieces", type=_int_in(1, 2**40, "records per piece"), metavar="RECORDS",
                   help="one capture, summary only: decode and analyse it in pieces of RECORDS "
                        "records, in bounded memory, pieces analysed on every core (automatic, "
                        "250,000, for a capture of 256 MB or more unless a table is written)")
    p.set_defaults(func=cmd_pcap)

    p = sub.add_parser(
        "query", help="DuckDB SQL over a capture dataset (enumlab pcap ... --parquet DIR)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run SQL over a dataset written by 'enumlab pcap FILES --parquet DIR'. Two "
                    "views read its Parquet\nfiles in place: 'messages' (one row per DNS "
                    "message) and 'transactions' (one per\nquestion), each with the partition "
                    "columns 'point' and 'hour'.",
        epilog="examples:\n"
               "  enumlab query day/ \"SELECT outcome, count(*) AS n FROM transactions GROUP BY "
               "outcome\"\n"
               "  enumlab query day/ \"SELECT point, date_trunc('minute', to_timestamp(time)) "
               "AS minute,\n      avg(tc::int) AS tc_rate FROM messages WHERE qr AND transport "
               "= 'udp'\n      GROUP BY ALL ORDER BY ALL\" --json")
    p.add_argument("dataset", help="the dataset directory")
    p.add_argument("sql", help="one SQL statement (DuckDB)")
    p.add_argument("--json", action="store_true", help="rows as a JSON array")
    p.add_argument("--limit", type=_int_in(1, 10**9, "limit"), default=200,
                   help="rows printed in the table (default 200; --json prints all)")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser(
        "serve", help="run the embedded authoritative DNS server on zone files",
        description="Serve every *.zone / *.db file of a directory over UDP and TCP. "
                    "Authoritative only: it never recurses and REFUSEs names outside its zones.",
    )
    p.add_argument("zone_dir", nargs="?", type=Path, help="zone directory (default data/zones)")
    p.add_argument("--port", type=_int_in(0, 65535, "port"), default=5353,
                   help="port (default 5353; 0 = any free)")
    p.add_argument("--host", type=ip_literal, default="127.0.0.1",
                   help="IP address to bind (default 127.0.0.1: loopback only)")
    p.add_argument("--max-udp", type=_int_in(512, 65535, "UDP size"), default=4096,
                   help="largest UDP answer even when a client offers more (default 4096)")
    p.add_argument("--duration", type=positive_seconds, help="stop after this many seconds")
    p.add_argument("--workers", type=_int_in(1, 64, "workers"), default=min(2, os.cpu_count() or 1),
                   help="embedded engine: processes answering UDP on the port (SO_REUSEPORT), "
                        "like BIND's one thread per core (default: min(2, cores))")
    p.add_argument("--engine", choices=["embedded", "bind"], default="embedded",
                   help="embedded (default, zero set-up) or bind (named from bind9)")
    p.set_defaults(func=cmd_serve)

    _add_zone_parser(sub)
    return parser


def _not_utf8(argv: Sequence[str]) -> str | None:
    """Python hands undecodable argv bytes over as lone surrogates (PEP 383)."""
    for i, arg in enumerate(argv, 1):
        bad = next((ch for ch in arg if "\udc80" <= ch <= "\udcff"), None)
        if bad is not None:
            return (f"argument {i} is not valid UTF-8 (byte 0x{ord(bad) - 0xDC00:02x}): "
                    f"{shown(arg.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace'))}")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    problem = _not_utf8(argv)
    if problem is not None:
        print(f"enumlab: error: {problem}", file=sys.stderr)
        return EXIT_ERROR
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except EnumlabError as exc:
        message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        if getattr(args, "json", False):
            # --json promises JSON on stdout, failures included
            _emit_json({"error": {"kind": type(exc).__name__, "message": message,
                                  "input": None if exc.subject is None else shown(exc.subject)}})
        print(f"enumlab {args.command}: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        print(f"enumlab {args.command}: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The ``enumlab`` command: :func:`main`, then :func:`exit_now`."""
    exit_now(main())


def exit_now(code: int) -> NoReturn:
    """Exit with ``code``. When numba was loaded (a big capture's compiled kernels), exit
    handlers run and output is flushed, then the process ends without the interpreter's
    finalisation: tearing down numba and LLVM takes ~0.15 s, a tenth of a million-packet
    analysis (measured in benchmarks/bench_capture.py). Otherwise a plain ``sys.exit``."""
    if "numba" not in sys.modules:
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to lose
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
