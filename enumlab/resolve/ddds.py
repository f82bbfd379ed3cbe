"""ENUM resolution: the DDDS algorithm (RFC 3402/3403) as the ENUM application (RFC 6116).

Given an E.164 number, the procedure

1. normalises it to the AUS ``+<digits>`` and builds the first key, the ENUM domain
   (RFC 6116 section 2.4);
2. asks for the NAPTR records at the key (through any :class:`~enumlab.resolve.lookup.Lookup`);
3. keeps records whose flags it understands (``u`` terminal, empty non-terminal; any other flag
   skips that record, not the lookup -- RFC 3761 section 2.4.1), whose services offer the
   wanted Enumservice, and whose regexp is valid and matches the AUS;
4. takes the records in ORDER; the first ORDER with a usable record is the only one used
   ("once a match is found the client MUST NOT consider records with a different Order",
   RFC 3403 section 4.1), in PREFERENCE order within it (the policy decides ties);
5. a terminal ``u`` rule yields a URI; a non-terminal rule's REPLACEMENT (or its regexp applied
   to the original AUS, never to a rewritten key -- RFC 3403 section 4.1) is the next key,
   looked up recursively, with loop detection and a depth limit (:class:`LoopError`).

Every query and every record decision goes into a :class:`~enumlab.resolve.lookup.Trace`.

``all_orders=True`` is the failover reading many deployments (and the seed blog, for its
+61355500914 example) use: later ORDERs are appended as fallbacks. It is not RFC 3403.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.e164 import DEFAULT_SUFFIX, normalize, to_enum_domain
from ..core.enumservice import parse_service_field
from ..core.errors import InputError, LoopError, RegexpError
from ..core.naptr_regexp import OutputMode, SubstitutionExpression
from ..core.policies import NaptrPolicy, rfc3403_order
from ..core.records import NaptrRecord
from .lookup import Lookup, Trace

DEFAULT_MAX_DEPTH = 5
# scheme ":" and a rest with no space and no control character (RFC 3986 s2: a URI holds
# none; an ESC or BEL in a NAPTR result is an attack on whoever displays it, not a URI)
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f-\x9f]+$")


@dataclass(frozen=True)
class EnumCandidate:
    """One URI the number maps to, with the record that produced it."""

    uri: str
    order: int
    preference: int
    service: str
    domain: str
    record: NaptrRecord
    fallback: bool = False  # only present because of all_orders=True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "uri": self.uri,
            "order": self.order,
            "preference": self.preference,
            "service": self.service,
            "domain": self.domain,
        }
        if self.fallback:
            out["fallback"] = True
        return out


@dataclass
class EnumResult:
    """What :func:`resolve_enum` found: candidates in processing order, and the trace."""

    number: str
    domain: str
    service: str
    candidates: list[EnumCandidate] = field(default_factory=list)
    trace: Trace = field(default_factory=Trace)

    @property
    def uris(self) -> list[str]:
        return [c.uri for c in self.candidates]

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "domain": self.domain,
            "service": self.service,
            "candidates": [c.to_dict() for c in self.candidates],
            "trace": self.trace.to_list(),
        }


def _is_domain(text: str) -> bool:
    name = text.rstrip(".")
    if not name or len(name) > 253 or any(ch.isspace() for ch in name):
        return False
    return all(0 < len(label) <= 63 for label in name.split("."))


@dataclass
class _Rule:
    record: NaptrRecord
    terminal: bool
    output: str


class _EnumWalk:
    def __init__(
        self,
        aus: str,
        lookup: Lookup,
        wanted: str,
        rng: np.random.Generator,
        output: OutputMode,
        all_orders: bool,
        max_depth: int,
        policy: NaptrPolicy,
        result: EnumResult,
    ) -> None:
        self.aus = aus
        self.lookup = lookup
        self.wanted_text = wanted
        self.wanted = parse_service_field(wanted)
        self.rng = rng
        self.output: OutputMode = output
        self.all_orders = all_orders
        self.max_depth = max_depth
        self.policy = policy
        self.result = result
        self.trace = result.trace

    def walk(self, key: str, chain: tuple[str, ...]) -> None:
        depth = len(chain)
        if key.lower() in (k.lower() for k in chain):
            loop = " -> ".join((*chain, key))
            raise LoopError(f"NAPTR rewrite loop: {loop}", subject=key, partial=self.result)
        if depth >= self.max_depth:
            raise LoopError(
                f"more than {self.max_depth} NAPTR lookups in one chain ending at {key}",
                subject=key,
                partial=self.result,
            )
        answer = self.lookup.query(key, "NAPTR")
        self.trace.query(answer, depth)
        if answer.rcode == "NXDOMAIN":
            self.trace.note(f"{key} does not exist: no ENUM data here", depth)
            return
        answer.raise_for_rcode()
        for bad in answer.invalid:  # kept in the trace, "in error", with why
            self.trace.record(bad.text, "in error", bad.reason, depth=depth)
        naptrs = [r for r in answer.records if isinstance(r, NaptrRecord)]
        if not naptrs:
            self.trace.note(f"{key} has no NAPTR records", depth)
            return
        orders = sorted({r.order for r in naptrs})
        matched_order: int | None = None
        for order in orders:
            group = sorted((r for r in naptrs if r.order == order), key=lambda r: r.preference)
            if matched_order is not None and not self.all_orders:
                for rec in group:
                    self.trace.record(
                        rec.to_text(), "not considered",
                        f"order {matched_order} already matched; RFC 3403 section 4.1: the "
                        "client MUST NOT consider records with a different ORDER",
                        depth=depth,
                    )
                continue
            rules = [rule for rec in group if (rule := self._evaluate(rec, depth)) is not None]
            if not rules:
                continue
            fallback = matched_order is not None
            if matched_order is None:
                matched_order = order
            by_id = {id(rule.record): rule for rule in rules}
            for rec in self.policy([rule.record for rule in rules], self.rng):
                rule = by_id[id(rec)]
                if rule.terminal:
                    self.trace.record(rec.to_text(), "kept", "terminal 'u' rule", rule.output,
                                      depth)
                    self.result.candidates.append(
                        EnumCandidate(rule.output, rec.order, rec.preference, rec.services,
                                      key, rec, fallback)
                    )
                else:
                    self.trace.record(rec.to_text(), "kept",
                                      "non-terminal rule: look up NAPTR at the new key",
                                      rule.output, depth)
                    self.walk(rule.output, (*chain, key))

    def _evaluate(self, rec: NaptrRecord, depth: int) -> _Rule | None:
        text = rec.to_text()

        def drop(reason: str) -> None:
            self.trace.record(text, "dropped", reason, depth=depth)

        flags = rec.flags.lower()
        if flags not in ("u", ""):
            drop(f"flag {rec.flags!r} is not defined for ENUM: record skipped, lookup goes on "
                 "(RFC 3761 section 2.4.1)")
            return None
        if flags == "" and not rec.services:
            pass  # a non-terminal rule may leave SERVICES empty
        else:
            try:
                offered = parse_service_field(rec.services)
            except InputError as exc:
                drop(str(exc))
                return None
            if not offered.provides(self.wanted):
                drop(f"offers {rec.services}, not {self.wanted_text}")
                return None
            if offered.legacy:
                self.trace.note(f"{rec.services!r} is the RFC 3761 multi-Enumservice form "
                                "(RFC 6116 allows one Enumservice per record)", depth)
        if rec.regexp:
            try:
                expr = SubstitutionExpression.parse(rec.regexp, record=rec.owner or text)
                out = expr.apply(self.aus, output=self.output)
            except RegexpError as exc:
                drop(str(exc))
                return None
            if out is None:
                drop(f"regexp does not match the AUS {self.aus}")
                return None
        elif flags == "u":
            drop("a terminal 'u' rule needs a REGEXP to produce the URI (RFC 6116 s3.2)")
            return None
        elif rec.replacement == ".":
            drop("non-terminal rule with neither REGEXP nor REPLACEMENT")
            return None
        else:
            out = rec.replacement
        if flags == "u":
            if not _URI_SCHEME.match(out):
                drop(f"result {out!r} is not a URI (RFC 3402 s3.2: check the result is a "
                     "legal key; RFC 3986 s2: no spaces or control characters)")
                return None
            return _Rule(rec, True, out)
        if not _is_domain(out):
            drop(f"non-terminal result {out!r} is not a domain name")
            return None
        return _Rule(rec, False, out if out.endswith(".") else out + ".")


def resolve_enum(
    number: str,
    lookup: Lookup,
    *,
    service: str = "E2U+sip",
    suffix: str = DEFAULT_SUFFIX,
    rng: np.random.Generator | None = None,
    output: OutputMode = "rfc3402",
    all_orders: bool = False,
    max_depth: int = DEFAULT_MAX_DEPTH,
    policy: NaptrPolicy = rfc3403_order,
) -> EnumResult:
    """Map an E.164 number to its URIs through ENUM (RFC 6116) over ``lookup``.

    Returns every candidate in processing order. Raises :class:`InvalidNumberError` for a bad
    number, :class:`LoopError` (with ``.partial``) for rewrite loops, and the lookup's
    :class:`DnsError` subclasses for SERVFAIL, timeouts and unreachable servers.
    """
    aus = normalize(number)
    domain = to_enum_domain(aus, suffix)
    result = EnumResult(number=aus, domain=domain, service=service)
    walk = _EnumWalk(
        aus, lookup, service, rng if rng is not None else np.random.default_rng(), output,
        all_orders, max_depth, policy, result,
    )
    result.trace.note(f"AUS {aus} -> key {domain} (RFC 6116 section 2.4)")
    walk.walk(domain, ())
    return result
