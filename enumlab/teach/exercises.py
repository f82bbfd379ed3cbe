"""The notebooks' "your turn" cells: a question, the learner's answer, and a check that says
right or wrong.

Every expected answer is *computed* by enumlab when the check runs -- from the standards'
procedures, against the notebook's live lab server or the shipped captures -- never typed in
here, so an exercise stays right when the zones change. A wrong answer gets a hint, never the
answer; the worked solutions are in each notebook's companion ``NN_..._solutions.ipynb``.

    >>> check("01-domain", "5.4.3.2.0.5.5.5.2.1.6.e164.arpa.")  # doctest: +SKIP
    Right: 5.4.3.2.0.5.5.5.2.1.6.e164.arpa. ...

``...`` (or ``None``) as the answer means "not answered yet".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import EnumlabError, InputError
from ..core.paths import CAPTURE_DIR

CAPTURES = CAPTURE_DIR  # the shipped captures (enumlab.core.paths)
D = "mnc001.mcc001.3gppnetwork.org"


@dataclass(frozen=True)
class Exercise:
    """One question: how to compute its answer, how to compare, and a hint."""

    key: str
    question: str
    solve: Callable[[dict[str, Any]], Any]
    hint: str
    same: Callable[[Any, Any], bool] = lambda given, expected: _same_value(given, expected)
    needs: tuple[str, ...] = ()  # context the solver needs: "lookup", "server"


@dataclass(frozen=True)
class Verdict:
    """What a check says: ``status`` is ``right``, ``wrong`` or ``unanswered``."""

    exercise: str
    status: str
    message: str

    @property
    def right(self) -> bool:
        return self.status == "right"

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return self.message

    def _repr_markdown_(self) -> str:
        mark = {"right": "✅", "wrong": "❌", "unanswered": "✍️"}[self.status]
        head, _, rest = self.message.partition(" -- ")
        return f"{mark} **{head}.** {rest[:1].upper()}{rest[1:]}"


# -- the solvers: each computes the answer with enumlab itself -----------------------------

def _domain(_: dict[str, Any]) -> str:
    from ..core.e164 import to_enum_domain

    return to_enum_domain("+61 2 5550 2345")


def _first_uri(ctx: dict[str, Any]) -> str:
    from ..resolve.ddds import resolve_enum

    return resolve_enum("+61355500911", ctx["lookup"]).uris[0]


def _needs_tcp_at_1232(ctx: dict[str, Any]) -> bool:
    from ..core.e164 import to_enum_domain
    from ..resolve.resolver import Resolver

    lookup = ctx["lookup"]
    answer = Resolver(lookup.host, lookup.port, edns=1232).query(
        to_enum_domain("+61355500998"), "NAPTR")
    return any(e.transport == "tcp" for e in answer.exchanges)


def _blocked(ctx: dict[str, Any]) -> int:
    from ..core.e164 import to_enum_domain

    return sum(ctx["lookup"].query(to_enum_domain(f"+6125550234{k}"), "NAPTR").rcode
               == "NXDOMAIN" for k in range(10))


def _ported_uri(_: dict[str, Any]) -> str:
    return "sip:0255502345@carrier.example"


def _apn_fqdn(_: dict[str, Any]) -> str:
    from ..core.epc_fqdn import apn_fqdn, plmn_from_imsi

    return apn_fqdn("internet", plmn_from_imsi("302720123456789", mnc_digits=3))


def _rfc3403_pgw(ctx: dict[str, Any]) -> str:
    import numpy as np

    from ..core.epc_fqdn import apn_fqdn, plmn_from_imsi
    from ..resolve.snaptr import snaptr_select

    home = plmn_from_imsi("001010123456789", mnc_digits=2)
    result = snaptr_select(apn_fqdn("ims", home), ctx["lookup"], node="pgw", interface="s8",
                           policy="rfc3403", rng=np.random.default_rng(0))
    if result.selected is None:
        raise InputError("no PGW selected for the ims APN", subject=result.fqdn)
    return result.selected.hostname


def _port_pitfall_address(ctx: dict[str, Any]) -> str:
    from ..resolve.sip_location import locate_sip_server

    return str(locate_sip_server(f"sip:scscf.{D}:6060", ctx["lookup"]).targets[0].address)


def _sips_port(ctx: dict[str, Any]) -> int:
    from ..resolve.sip_location import locate_sip_server

    return locate_sip_server(f"sips:icscf.{D}", ctx["lookup"]).targets[0].port


def _sample_size(_: dict[str, Any]) -> int:
    from ..split.stats import required_sample_size

    return required_sample_size([0.5, 0.5], [0.51, 0.49])


def _srv_split(_: dict[str, Any]) -> list[float]:
    from ..core.policies import Entry, RecordSet, get_policy

    rs = RecordSet(tuple(Entry(t, 0, w) for t, w in (("a", 1), ("b", 1), ("c", 2))), "srv")
    return [round(float(x), 4) for x in get_policy("srv", "srv").expected(rs)[:3]]


def _largest_unfragmented_edns(ctx: dict[str, Any]) -> int:
    from ..capture.report import analyze

    mtus = analyze(Path(ctx.get("captures", CAPTURES)) / "ipv6_packet_too_big.pcapng"
                   ).summary["icmp"]["mtus"]
    return int(min(mtus)) - 40 - 8  # IPv6 header, UDP header (RFC 8200, RFC 768)


def _no_retry(ctx: dict[str, Any]) -> int:
    from ..capture.report import analyze

    summary = analyze(Path(ctx.get("captures", CAPTURES)) / "truncation_ignored.pcapng").summary
    return int(summary["outcomes"]["truncated_no_retry"])


def _kamailio_srv_shares(_: dict[str, Any]) -> list[float]:
    from ..core.policies import Entry, RecordSet
    from ..split.fleet import model_expected

    rs = RecordSet(tuple(Entry(t, 10, w) for t, w in (("split1", 25), ("split2", 25),
                                                       ("split3", 50))), "srv")
    return [round(float(x), 4) for x in model_expected("kamailio", rs)[:3]]


def _bind_pair(_: dict[str, Any]) -> float:
    from ..split.fleet import bind_random_orders

    return float(sum(p for p, order in bind_random_orders(4) if order.index(0) < order.index(1)))


def _effective_n(_: dict[str, Any]) -> int:
    """20 sticky proxies, TTL 300 s, a whole day: one decision per proxy per TTL."""
    return 20 * 86_400 // 300


# -- comparisons ---------------------------------------------------------------------------

def _same_value(given: Any, expected: Any) -> bool:
    """Equal, reading a number typed as text as the number (``"5061"`` is port 5061) and
    ``"true"``/``"false"`` as booleans: a learner's answer is right whatever its type."""
    if isinstance(given, str) and not isinstance(expected, str):
        text = given.strip()
        if isinstance(expected, bool):
            return text.lower() in ("true", "false") and (text.lower() == "true") == expected
        if isinstance(expected, int):
            return text.lstrip("+-").isdigit() and int(text) == expected
    return bool(given == expected)


def _same_name(given: Any, expected: Any) -> bool:
    return isinstance(given, str) and given.strip().lower().rstrip(".") == \
        str(expected).lower().rstrip(".")


def _regexp_gives(given: Any, expected: Any) -> bool:
    from ..core.naptr_regexp import apply_regexp

    return isinstance(given, str) and apply_regexp(given, "+61255502345") == expected


def _within(share: float) -> Callable[[Any, Any], bool]:
    def same(given: Any, expected: Any) -> bool:
        try:
            return abs(float(given) - float(expected)) <= share * float(expected)
        except (TypeError, ValueError):
            return False
    return same


def _close_shares(given: Any, expected: Any) -> bool:
    try:
        values = [float(x) for x in given]
    except (TypeError, ValueError):
        return False
    return len(values) == len(expected) and all(
        math.isclose(a, b, abs_tol=0.005) for a, b in zip(values, expected, strict=True))


EXERCISES = {e.key: e for e in [
    Exercise("01-domain", "the ENUM domain of +61 2 5550 2345", _domain,
             "reverse the digits (no +), a dot between each, then e164.arpa. (RFC 6116 s2.4)",
             _same_name),
    Exercise("01-uri", "the first URI +61355500911 resolves to", _first_uri,
             "resolve_enum(number, resolver).uris", needs=("lookup",)),
    Exercise("01-tcp", "does +61355500998 (30 records) still need TCP when the client offers "
             "EDNS0 1232? (True/False)", _needs_tcp_at_1232,
             "query it with Resolver(server.host, server.port, edns=1232) and look at "
             "answer.exchanges", needs=("lookup",)),
    Exercise("02-blocked", "how many of the ten numbers +61255502340..349 get NXDOMAIN",
             _blocked, "ask resolver.query(to_enum_domain(n), 'NAPTR').rcode for each number; "
             "which of them has records of its own?",
             needs=("lookup",)),
    Exercise("02-regexp", "a NAPTR regexp turning +61255502345 into "
             "sip:0255502345@carrier.example", _ported_uri,
             "capture the digits after +61 with a group and put 0 before \\1",
             _regexp_gives),
    Exercise("03-apn-fqdn", "the APN-FQDN of APN 'internet' for IMSI 302720123456789 "
             "(a 3-digit MNC)", _apn_fqdn,
             "plmn_from_imsi(imsi, mnc_digits=3), then apn_fqdn; MNC and MCC are 3 digits "
             "(TS 23.003 s19.4.2.2)", _same_name),
    Exercise("03-pgw", "the PGW host name the RFC 3403 reading picks for the ims APN over S8",
             _rfc3403_pgw, "snaptr_select(..., policy='rfc3403').selected.hostname",
             _same_name, needs=("lookup",)),
    Exercise("04-port-pitfall", "the address sip:scscf.mnc001.mcc001.3gppnetwork.org:6060 "
             "reaches", _port_pitfall_address,
             "a port in the URI means A/AAAA only (RFC 3263 s4.2): which A record?",
             needs=("lookup",)),
    Exercise("04-sips-port", "the port sips:icscf.mnc001.mcc001.3gppnetwork.org resolves to",
             _sips_port, "no SRV records: A/AAAA with the default port of TLS",
             needs=("lookup",)),
    Exercise("05-sample-size", "selections needed to detect a 50/50 split that is really "
             "51/49 (80% power, alpha 0.05)", _sample_size,
             "required_sample_size(expected, alternative); within 5% counts as right",
             _within(0.05)),
    Exercise("05-srv-split", "the shares RFC 2782 gives SRV weights 1/1/2 (three numbers)",
             _srv_split, "get_policy('srv', 'srv').expected(RecordSet(...)); the integer "
             "draw r in 0..sum makes it not exactly 25/25/50", _close_shares),
    Exercise("07-kamailio-srv", "the shares a Kamailio-like client (dns_srv_lb=0) gives SRV "
             "weights 25/25/50 (three numbers)", _kamailio_srv_shares,
             "model_expected('kamailio', record_set) from enumlab.split.fleet: no draw at all -- "
             "how does it sort SRV records?", _close_shares),
    Exercise("07-bind-pair", "with BIND 9.18's rrset-order random and 4 records, the share "
             "of answers where the stored 1st record comes before the stored 2nd",
             _bind_pair, "bind_random_orders(4) lists every order with its probability",
             _within(0.01)),
    Exercise("07-effective-n", "20 sticky proxies, TTL 300 s, one day, any call rate above a "
             "few per TTL: about how many independent decisions is the day worth",
             _effective_n, "one decision per proxy per TTL; within 5% counts",
             _within(0.05)),
    Exercise("06-edns", "the largest EDNS0 payload the IPv6 capture's path carries without "
             "fragments", _largest_unfragmented_edns,
             "the ICMPv6 Packet Too Big says the MTU; take away the IPv6 and UDP headers"),
    Exercise("06-no-retry", "how many transactions of truncation_ignored.pcapng end "
             "truncated_no_retry", _no_retry, "analyze(...).summary['outcomes']"),
]}


def check(exercise: str, answer: Any, **context: Any) -> Verdict:
    """Check ``answer`` to ``exercise`` (a key of :data:`EXERCISES`); ``context`` gives what the
    exercise needs (``lookup=resolver`` for the live ones). Never raises for a wrong answer."""
    try:
        ex = EXERCISES[exercise]
    except KeyError:
        raise InputError(f"no exercise {exercise!r}; there are {', '.join(EXERCISES)}",
                         subject=exercise) from None
    missing = [name for name in ex.needs if name not in context]
    if missing:
        raise InputError(f"exercise {exercise} needs {', '.join(missing)}= (e.g. "
                         "lookup=resolver)", subject=exercise)
    if answer is None or answer is Ellipsis:
        return Verdict(exercise, "unanswered",
                       f"Your turn -- {ex.question}? Replace ... with your answer. "
                       f"Hint: {ex.hint}")
    expected = ex.solve(context)
    try:
        right = ex.same(answer, expected)
    except EnumlabError as error:  # e.g. a regexp that does not parse
        return Verdict(exercise, "wrong", f"Not quite -- {type(error).__name__}: {error}. "
                       f"Hint: {ex.hint}")
    shown = _shown(answer)
    if right:
        return Verdict(exercise, "right", f"Right -- {ex.question}? {shown}.")
    return Verdict(exercise, "wrong", f"Not quite -- {ex.question}? Not {shown}. "
                   f"Hint: {ex.hint}")


def _shown(answer: Any) -> str:
    """An answer as a learner would write it: numpy arrays as lists, floats to 4 places."""
    value = answer.tolist() if hasattr(answer, "tolist") else answer
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple) and all(isinstance(x, float) for x in value):
        return "[" + ", ".join(f"{x:.4f}" for x in value) + "]"
    return repr(value)


__all__ = ["EXERCISES", "Exercise", "Verdict", "check"]
