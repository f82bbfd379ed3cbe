"""What every command of the ``enumlab`` command line shares: argument types, the DNS options,
the lab resolver, JSON output, exit codes, the one-line argparse error.

Exit codes: 0 success, 1 the lookup worked but found nothing usable, 2 an error (one line on
stderr naming the input).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import numpy as np

from ..core.errors import InputError, shown
from ..core.paths import DEFAULT_ZONE_DIR

if TYPE_CHECKING:
    from ..resolve.resolver import Resolver

# dnspython, the resolver, the embedded server and the regexp engine are imported where a
# command needs them: `enumlab pcap` on a small capture starts without them
OUTPUT_MODES: tuple[Literal["rfc3402", "replacement"], ...] = ("rfc3402", "replacement")
# (enumlab.core.naptr_regexp.OUTPUT_MODES; tests/test_cli.py checks they are equal)
FLEET_MODELS = ("rfc", "sticky", "kamailio", "first", "dnspython", "weighted")  # fleet.MODELS
POLICY_NAMES = ("rfc3403", "all-orders", "weighted", "3gpp", "srv", "dnspython", "first",
                "kamailio")  # enumlab.core.policies.POLICY_NAMES

EXIT_OK, EXIT_EMPTY, EXIT_ERROR = 0, 1, 2


def default_zone_dir() -> Path:
    """``$ENUMLAB_ZONES`` if set, else the lab zones shipped with enumlab (core.paths)."""
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


def int_in(low: int, high: int, what: str) -> Callable[[str], int]:
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
        from ..resolve.resolver import check_timeout

        return check_timeout(float(text))
    except (ValueError, InputError):
        raise argparse.ArgumentTypeError(
            f"must be a finite number of seconds above 0, not {shown(text)}") from None


def server_address(text: str) -> str:
    """An argparse type: an IP literal with an optional port (never a host name)."""
    try:
        from ..resolve.resolver import parse_server

        parse_server(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def ip_literal(text: str) -> str:
    try:
        from ..resolve.resolver import check_ip_literal

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


SEED = int_in(0, 2**63 - 1, "seed")


@contextlib.contextmanager
def lab_resolver(args: argparse.Namespace) -> Iterator[Resolver]:
    """A resolver for ``--server``, or for an embedded server started on the lab zones."""
    from ..lab.server import EmbeddedServer
    from ..resolve.resolver import Resolver

    options: dict[str, Any] = {"edns": args.edns, "timeout": args.timeout}
    if args.server is not None:  # '' is an error (parse_server), never "use the lab"
        yield Resolver.from_address(args.server, **options)
        return
    with EmbeddedServer(args.zones or default_zone_dir()) as server:
        yield Resolver(server.host, server.port, **options)


def add_dns_options(p: argparse.ArgumentParser) -> None:
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


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def json_or_trace(args: argparse.Namespace, result: Any, found: bool) -> int | None:
    """``--json`` prints the result (trace included) and ends the command; ``--trace`` prints
    the trace before the human-readable result."""
    if args.json:
        emit_json(result.to_dict())
        return EXIT_OK if found else EXIT_EMPTY
    if args.trace:
        print(result.trace.format())
        print()
    return None


def client_result(args: argparse.Namespace, command: str, subject: str, **options: Any) -> int:
    """``--client MODEL``: what that client does with the number or URI (enumlab.split.clients)."""
    from ..split.clients import get_model

    model = get_model(args.client)
    rng = np.random.default_rng(args.seed)
    with lab_resolver(args) as resolver:
        result = model.run(command, subject, resolver, rng=rng, **options)
    if args.json:
        emit_json({**result.to_dict(), "basis": model.basis})
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


def print_clustered(title: str, report: Any, *, per_call_model: bool = False) -> None:
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


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit 2): ``enumlab enum: error: ... (see --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")
