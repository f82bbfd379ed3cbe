"""``enumlab simulate``: does a NAPTR/SRV set really split traffic as configured?
Simulate, and test the split."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InputError, shown
from .common import (
    EXIT_OK,
    FLEET_MODELS,
    POLICY_NAMES,
    SEED,
    add_dns_options,
    emit_json,
    int_in,
    lab_resolver,
    print_clustered,
    probability,
)


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
    from ..core.records import short_label
    from ..split.simulate import policy_table

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
    from ..core.records import short_label
    from ..split import fleet as fl
    from ..split import simulate as sim
    from ..split.observed import observed_split

    with lab_resolver(args) as resolver:
        rs = sim.record_set(args.target, resolver)
        seen = observed_split(args.observed_pcap, args.target, rs, resolver,
                              method=args.method, dns_ports=tuple(args.dns_port))
    readings: list[tuple[str, np.ndarray]] = []
    if args.client:
        for name in args.client:
            readings.append((f"client {name}", fl.model_expected(name, rs)))
    else:
        from ..core.policies import get_policy

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

        emit_json({**seen.to_dict(), "tests": {label: verdict(label, r)
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
        print_clustered(f"against {label} (expected {exp})", report,
                         per_call_model=per_call.get(label, False))
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    from ..split import simulate as sim
    from ..split.stats import compare, observed_counts

    rng = np.random.default_rng(args.seed)
    if args.observed_pcap is not None:
        return _simulate_observed_pcap(args)
    with lab_resolver(args) as resolver:
        rs = sim.record_set(args.target, resolver)
        failures = _failures(args, rs.targets)
        from ..core.policies import get_policy

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
        from ..split import figures as plot

        last = results[-1]
        report = compare([r["observed"] for r in last["targets"]],
                         [r["expected_share"] for r in last["targets"]],
                         labels=[r["target"] for r in last["targets"]])
        plot.save(plot.actual_vs_expected(report, title=f"{args.target} under {last['policy']}"),
                  str(args.plot))
    if args.json:
        emit_json(results[0] if len(results) == 1 else results)
        return EXIT_OK
    if len(results) > 1:
        _print_comparison(args.target, results, observed=bool(args.observed))
    for data in results if len(results) == 1 else ():
        source = "observed data" if args.observed else f"{data['n']} selections"
        _print_report(f"{args.target}: policy {data['policy']}, {source}", data)
    if args.plot:
        print(f"plot written to {args.plot}")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """``enumlab simulate``: its arguments."""
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
    p.add_argument("-n", type=int_in(1, 10**10, "-n"), default=100_000,
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
    p.add_argument("--dns-port", type=int_in(1, 65535, "--dns-port"), action="append",
                   default=[], metavar="N", help="with --observed-pcap: DNS on another port")
    p.add_argument("--alpha", type=probability, default=0.05, help="test level (0.05)")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="write actual-vs-expected bars")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_dns_options(p)
    p.set_defaults(func=run)
