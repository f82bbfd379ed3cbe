"""``enumlab sip``: SIP URI -> transport, host, port, address (RFC 3263, RFC 2782)."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..core.errors import InputError
from .common import (
    EXIT_EMPTY,
    EXIT_OK,
    SEED,
    add_dns_options,
    client_result,
    emit_json,
    lab_resolver,
)


def _print_targets(targets: list[Any], indent: str = "  ") -> None:
    if not targets:
        print(f"{indent}no target: nothing to send the request to")
    for i, t in enumerate(targets, 1):
        extra = f"  priority {t.priority} weight {t.weight}" if t.priority is not None else ""
        role = ", failover: a less preferred transport" if getattr(t, "failover", False) else ""
        print(f"{indent}{i}. {t.transport:<4} {t.host}:{t.port} -> {t.address}{extra}"
              f"  [{t.source}{role}]")


_KAMAILIO_FLAGS = ("try_naptr", "tm", "srv_lb", "failover", "naptr_ignore_rfc")
_KAMAILIO_NUMBERS = ("udp_pref", "tcp_pref", "tls_pref", "sctp_pref")


def kamailio_settings(items: list[str]) -> dict[str, Any]:
    """``try_naptr=yes``, ``tcp_pref=40`` ... -> KamailioSipOptions fields."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lower().removeprefix("dns_").replace("use_dns_", "")
        value = value.strip().lower()
        if not sep or key not in (*_KAMAILIO_FLAGS, *_KAMAILIO_NUMBERS):
            raise InputError(f"--kamailio {item!r}: use SETTING=VALUE with a setting of "
                             f"{', '.join((*_KAMAILIO_FLAGS, *_KAMAILIO_NUMBERS))}",
                             subject=item)
        if key in _KAMAILIO_FLAGS:
            if value not in ("yes", "no", "on", "off", "1", "0", "true", "false"):
                raise InputError(f"--kamailio {item!r}: {key} is yes or no", subject=item)
            out[key] = value in ("yes", "on", "1", "true")
        else:
            try:
                out[key] = int(value)
            except ValueError:
                raise InputError(f"--kamailio {item!r}: {key} is a whole number",
                                 subject=item) from None
    return out


def run(args: argparse.Namespace) -> int:
    from ..core.sip_uri import parse_sip_uri
    from ..resolve.sip_location import locate_sip_server

    uri = parse_sip_uri(args.uri)
    transports = [t for t in args.transports.split(",") if t]
    if args.client == "sofia-sip":
        return client_result(args, "sip", uri.text)
    if args.client == "kamailio" or args.kamailio:
        if args.client != "kamailio":
            raise InputError("--kamailio sets Kamailio's core settings: use it with --client "
                             "kamailio", subject=args.kamailio)
        return client_result(args, "sip", uri.text, **kamailio_settings(args.kamailio))
    if args.caller and args.client != "baresip":
        raise InputError("--caller is the From URI baresip sorts by: use it with --client "
                         "baresip", subject=args.caller)
    if args.client == "baresip":
        return client_result(args, "sip", uri.text, transports=transports, caller=args.caller)
    if args.client != "rfc":
        return client_result(args, "sip", uri.text, transports=transports,
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
        emit_json(data)
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


def add_parser(sub: Any) -> None:
    """``enumlab sip``: its arguments."""
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
                   choices=["rfc", "kamailio", "sofia-sip", "dnspython", "glibc", "sipsak",
                            "twisted", "baresip", "linphone", "first"],
                   help="what a real client does with the records (docs/clients.md): rfc "
                        "(default), kamailio (its core resolver, measured; see "
                        "--kamailio), sofia-sip (sip-dig's lines), glibc (getaddrinfo order), "
                        "dnspython, sipsak (the first SRV record of the answer), twisted "
                        "(Twisted Names SRVConnector), baresip (libre: one target per "
                        "caller, see --caller), linphone (belle-sip: no NAPTR), first")
    p.add_argument("--caller", metavar="FROM_URI",
                   help="for --client baresip: the caller's From URI, which decides its "
                        "target (default: a caller drawn at random, see --seed)")
    p.add_argument("--kamailio", action="append", default=[], metavar="SETTING=VALUE",
                   help="a Kamailio core setting for --client kamailio (repeatable): "
                        "try_naptr, tm, srv_lb, failover, naptr_ignore_rfc (yes/no); "
                        "udp_pref, tcp_pref, tls_pref, sctp_pref (numbers); Kamailio's "
                        "defaults otherwise")
    p.add_argument("--seed", type=SEED, help="seed for the RFC 2782 weighted draw")
    p.add_argument("--trace", action="store_true", help="show every query and decision")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_dns_options(p)
    p.set_defaults(func=run)
