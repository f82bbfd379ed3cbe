"""S-NAPTR node selection (RFC 3958) as 3GPP TS 29.303 profiles it for EPC.

The procedure for, say, a visited MME looking for the home PGW of the ``ims`` APN over S8:

1. NAPTR at the APN-FQDN (:mod:`enumlab.core.epc_fqdn`);
2. keep records whose SERVICES offer the app-service (``x-3gpp-pgw``) with the wanted
   app-protocol (``x-s8-gtp``) -- case-insensitive, any order (RFC 3958 s2.1; TS 29.303 s4.1).
   ``+ue-<types>`` and ``+nc-<capabilities>`` extensions (TS 29.303 annex B.3, B.4) must contain
   what the caller asks for; a record dedicated to UE usage types (``+ue-``) is not used for a
   request that gives none;
3. flags: ``a`` -> A/AAAA of the replacement; ``s`` -> SRV of the replacement, then A/AAAA of
   each target (the SRV port is kept); empty -> NAPTR again at the replacement; an unknown flag
   skips the record, not the lookup. REGEXP must be empty in S-NAPTR (RFC 3958 s2.2): a record
   with one is reported and skipped;
4. order: ORDER strictly; within an ORDER the TS 29.303 annex C.1 weighted draw
   (weight = 65535 - PREFERENCE) -- the ``3gpp`` policy. ``rfc3403`` and ``weighted`` are there
   to compare;
5. topology (TS 29.303 s4.3.2, annex B.2, C.4): for ``topon`` names the canonical node name is
   the name without ``topon.``/``topoff.`` and its interface label; candidates are ranked by the
   longest common label suffix with a reference node, S-NAPTR order breaking ties (never
   reversing it). Collocation (the same canonical node for two node types) comes first of all.

Every record appears in the result with why it was kept or dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import InputError, LoopError
from ..core.policies import Entry, RecordSet, get_policy
from ..core.records import AddressRecord, NaptrRecord, SrvRecord
from .lookup import Lookup, Trace

NODE_SERVICES = {"pgw": "x-3gpp-pgw", "sgw": "x-3gpp-sgw", "mme": "x-3gpp-mme",
                 "ggsn": "x-3gpp-ggsn", "sgsn": "x-3gpp-sgsn", "amf": "x-3gpp-amf",
                 "upf": "x-3gpp-upf"}
INTERFACE_PROTOCOLS = {"s5": "x-s5-gtp", "s8": "x-s8-gtp", "s11": "x-s11", "s10": "x-s10",
                       "gp": "x-gp", "gn": "x-gn", "s2b": "x-s2b-gtp", "s2a": "x-s2a-gtp",
                       "s4": "x-s4", "s3": "x-s3", "s16": "x-s16", "n26": "x-n26",
                       "s5-pmip": "x-s5-pmip", "s8-pmip": "x-s8-pmip"}
DEFAULT_INTERFACE = {"pgw": "s8", "sgw": "s11", "mme": "s10", "ggsn": "gn", "sgsn": "gn",
                     "amf": "n26", "upf": "s5"}


@dataclass(frozen=True)
class AppProtocol:
    """``x-s10+ue-3.8.10.38`` -> base ``x-s10``, ue {3, 8, 10, 38}; ``+nc-nr.5gs`` -> nc."""

    base: str
    ue: frozenset[str] | None = None
    nc: frozenset[str] | None = None

    @classmethod
    def parse(cls, text: str) -> AppProtocol:
        base, *extensions = text.strip().lower().split("+")
        ue = nc = None
        for ext in extensions:
            key, _, values = ext.partition("-")
            items = frozenset(v for v in values.split(".") if v)
            if key == "ue" and items:
                ue = items
            elif key == "nc" and items:
                nc = items
            else:
                raise InputError(f"unknown S-NAPTR protocol extension {ext!r} in {text!r}",
                                 subject=text)
        if not base:
            raise InputError(f"empty app-protocol in {text!r}", subject=text)
        return cls(base, ue, nc)

    def serves(self, wanted: AppProtocol) -> bool:
        """Does this (offered) protocol serve the ``wanted`` one? (TS 29.303 annex B.3, B.4)"""
        if self.base != wanted.base:
            return False
        if wanted.ue is not None:
            if self.ue is None or not wanted.ue <= self.ue:
                return False
        elif self.ue is not None:
            return False  # dedicated to some UE usage types
        return wanted.nc is None or (self.nc is not None and wanted.nc <= self.nc)

    def __str__(self) -> str:
        text = self.base
        if self.ue:
            text += "+ue-" + ".".join(sorted(self.ue))
        if self.nc:
            text += "+nc-" + ".".join(sorted(self.nc))
        return text


@dataclass(frozen=True)
class ServiceParameters:
    """An S-NAPTR SERVICES field: ``app-service:app-protocol[:app-protocol...]``."""

    app_service: str
    protocols: tuple[AppProtocol, ...]

    @classmethod
    def parse(cls, text: str) -> ServiceParameters:
        parts = [p for p in text.strip().split(":")]
        if not parts[0] or any(not p for p in parts):
            raise InputError(f"{text!r} is not app-service:app-protocol[:...] (RFC 3958 s6.5)",
                             subject=text)
        return cls(parts[0].lower(), tuple(AppProtocol.parse(p) for p in parts[1:]))

    def offers(self, app_service: str, protocol: AppProtocol) -> bool:
        return self.app_service == app_service.lower() and any(
            p.serves(protocol) for p in self.protocols)


def canonical_node_name(hostname: str) -> tuple[str, str | None]:
    """(canonical node name, "topon" | "topoff" | None) -- TS 29.303 s4.3.2: drop the
    ``topon``/``topoff`` label and the interface label after it."""
    name = hostname.rstrip(".").lower()
    labels = name.split(".")
    if labels[0] in ("topon", "topoff") and len(labels) > 2:
        return ".".join(labels[2:]), labels[0]
    return name, None


def common_suffix_labels(a: str, b: str) -> int:
    """How many trailing labels two names share (TS 29.303 annex B.2 topology matching)."""
    la, lb = a.rstrip(".").split("."), b.rstrip(".").split(".")
    n = 0
    while n < min(len(la), len(lb)) and la[-1 - n] == lb[-1 - n]:
        n += 1
    return n


@dataclass
class Candidate:
    """One NAPTR record's fate: kept (with its node and addresses) or dropped (with why)."""

    record: NaptrRecord
    owner: str
    kept: bool
    reason: str
    hostname: str = ""
    port: int | None = None
    ipv4: list[str] = field(default_factory=list)
    ipv6: list[str] = field(default_factory=list)
    rank: int = -1  # position in S-NAPTR order among kept candidates
    topology: int = 0  # labels shared with the reference node

    @property
    def canonical(self) -> str:
        return canonical_node_name(self.hostname)[0] if self.hostname else ""

    def addresses(self, prefer_ipv6: bool = False) -> list[str]:
        return [*self.ipv6, *self.ipv4] if prefer_ipv6 else [*self.ipv4, *self.ipv6]

    def to_dict(self) -> dict[str, Any]:
        return {
            "replacement": self.record.replacement, "order": self.record.order,
            "preference": self.record.preference, "services": self.record.services,
            "flag": self.record.flags.lower(), "kept": self.kept, "reason": self.reason,
            "node": self.hostname or None, "port": self.port, "ipv4": self.ipv4,
            "ipv6": self.ipv6, "canonical_node": self.canonical or None,
            "topology_match": self.topology, "owner": self.owner,
        }


@dataclass
class SnaptrResult:
    fqdn: str
    app_service: str
    app_protocol: str
    candidates: list[Candidate] = field(default_factory=list)
    trace: Trace = field(default_factory=Trace)
    prefer_ipv6: bool = False

    @property
    def ranked(self) -> list[Candidate]:
        """Usable candidates (kept, with an address), best first."""
        return sorted((c for c in self.candidates if c.kept and (c.ipv4 or c.ipv6)),
                      key=lambda c: (-c.topology, c.rank))

    @property
    def selected(self) -> Candidate | None:
        ranked = self.ranked
        return ranked[0] if ranked else None

    def candidates_table(self) -> Any:
        """Every NAPTR record met, one row each (several records may share a service field),
        with its fate: kept or dropped and why, the node and port it led to."""
        import pandas as pd

        columns = ["order", "preference", "flag", "services", "kept", "reason", "node", "port"]
        return pd.DataFrame([c.to_dict() for c in self.candidates], columns=columns)

    def to_dict(self) -> dict[str, Any]:
        chosen = self.selected
        return {
            "fqdn": self.fqdn, "service": f"{self.app_service}:{self.app_protocol}",
            "candidates": [c.to_dict() for c in self.candidates],
            "selected": None if chosen is None else {
                "node": chosen.hostname, "addresses": chosen.addresses(self.prefer_ipv6),
                "port": chosen.port, "canonical_node": chosen.canonical},
            "trace": self.trace.to_list(),
        }


class _Walk:
    def __init__(self, lookup: Lookup, service: str, protocol: AppProtocol, policy: str,
                 rng: np.random.Generator, max_depth: int, result: SnaptrResult) -> None:
        self.lookup = lookup
        self.service = service
        self.protocol = protocol
        self.policy = get_policy(policy, "naptr")
        self.rng = rng
        self.max_depth = max_depth
        self.result = result
        self.trace = result.trace
        self.rank = 0

    def addresses(self, host: str, depth: int) -> tuple[list[str], list[str]]:
        out: dict[str, list[str]] = {}
        for rdtype in ("A", "AAAA"):
            answer = self.lookup.query(host, rdtype)
            self.trace.query(answer, depth)
            if answer.rcode not in ("NOERROR", "NXDOMAIN"):
                answer.raise_for_rcode()
            out[rdtype] = [r.address for r in answer.records if isinstance(r, AddressRecord)]
        return out["A"], out["AAAA"]

    def drop(self, cand: Candidate, reason: str, depth: int) -> None:
        cand.kept, cand.reason = False, reason
        self.trace.record(cand.record.to_text(), "dropped", reason, depth=depth)

    def walk(self, name: str, chain: tuple[str, ...]) -> None:
        depth = len(chain)
        if name.lower() in chain or depth >= self.max_depth:
            raise LoopError(f"S-NAPTR loop or more than {self.max_depth} lookups at {name}",
                            subject=name, partial=self.result)
        answer = self.lookup.query(name, "NAPTR")
        self.trace.query(answer, depth)
        if answer.rcode not in ("NOERROR", "NXDOMAIN"):
            answer.raise_for_rcode()
        for bad in answer.invalid:  # kept in the trace, "in error", with why
            self.trace.record(bad.text, "in error", bad.reason, depth=depth)
        eligible: list[Candidate] = []
        # canonical order first: a seeded draw must not depend on the RRset order a server sent
        naptrs = sorted((r for r in answer.records if isinstance(r, NaptrRecord)),
                        key=lambda r: (r.key, r.to_text()))
        for rec in naptrs:
            cand = Candidate(rec, name, True, "")
            self.result.candidates.append(cand)
            flag = rec.flags.lower()
            if rec.regexp:
                self.drop(cand, "REGEXP must be empty in S-NAPTR (RFC 3958 s2.2)", depth)
                continue
            if flag not in ("a", "s", ""):
                self.drop(cand, f"flag {rec.flags!r} is not a, s or empty: record skipped "
                          "(RFC 3958 s2.2)", depth)
                continue
            try:
                params = ServiceParameters.parse(rec.services)
            except InputError as exc:
                self.drop(cand, str(exc), depth)
                continue
            if params.app_service != self.service:
                self.drop(cand, f"service {params.app_service}, not {self.service}", depth)
                continue
            if not params.offers(self.service, self.protocol):
                offered = ", ".join(str(p) for p in params.protocols) or "no protocol"
                self.drop(cand, f"offers {offered}, not {self.protocol}", depth)
                continue
            eligible.append(cand)
        if not eligible:
            self.trace.note(f"no record at {name} offers {self.service}:{self.protocol}", depth)
            return
        rs = RecordSet(tuple(Entry(str(i), c.record.order, c.record.preference)
                             for i, c in enumerate(eligible)))
        order = self.policy.processing_order(rs, self.rng)
        for skipped in set(range(len(eligible))) - set(order):
            self.drop(eligible[skipped], f"not considered under the {self.policy.name} policy "
                      "(a lower ORDER matched)", depth)
        for i in order:
            self.expand(eligible[i], name, chain, depth)

    def expand(self, cand: Candidate, name: str, chain: tuple[str, ...], depth: int) -> None:
        rec = cand.record
        flag = rec.flags.lower()
        if flag == "":
            cand.reason = "non-terminal: NAPTR again at the replacement"
            self.trace.record(rec.to_text(), "kept", cand.reason, rec.replacement, depth)
            self.walk(rec.replacement, (*chain, name.lower()))
            return
        if flag == "a":
            cand.hostname = rec.replacement.rstrip(".")
            cand.ipv4, cand.ipv6 = self.addresses(rec.replacement, depth + 1)
            self.finish(cand, depth, "flag a: A/AAAA of the replacement")
            return
        srv = self.lookup.query(rec.replacement, "SRV")
        self.trace.query(srv, depth + 1)
        records = sorted((r for r in srv.records if isinstance(r, SrvRecord) and r.target != "."),
                         key=lambda r: (r.priority, r.weight, r.target, r.port))
        if not records:
            self.drop(cand, f"flag s but no SRV records at {rec.replacement}", depth)
            return
        srs = RecordSet(tuple(Entry(str(i), r.priority, r.weight) for i, r in enumerate(records)),
                        "srv")
        first = True
        for i in get_policy("srv", "srv").processing_order(srs, self.rng):
            target = records[i]
            node = cand if first else Candidate(rec, cand.owner, True, "")
            if not first:
                self.result.candidates.append(node)
            first = False
            node.hostname, node.port = target.target.rstrip("."), target.port
            node.ipv4, node.ipv6 = self.addresses(target.target, depth + 2)
            self.finish(node, depth, f"flag s: SRV {target.to_text()}")

    def finish(self, cand: Candidate, depth: int, how: str) -> None:
        if not (cand.ipv4 or cand.ipv6):
            self.drop(cand, f"{how}, but {cand.hostname} has no A/AAAA record", depth)
            return
        cand.rank = self.rank
        self.rank += 1
        cand.reason = how
        self.trace.record(cand.record.to_text(), "kept", how,
                          f"{cand.hostname} {' '.join(cand.ipv4 + cand.ipv6)}", depth)


def snaptr_select(
    fqdn: str,
    lookup: Lookup,
    *,
    node: str = "pgw",
    interface: str | None = None,
    ue_usage_type: str | None = None,
    network_capability: str | None = None,
    policy: str = "3gpp",
    rng: np.random.Generator | None = None,
    prefer_ipv6: bool = False,
    reference_node: str | None = None,
    max_depth: int = 5,
) -> SnaptrResult:
    """Run the S-NAPTR procedure for ``node`` over ``interface`` at ``fqdn``.

    ``reference_node``: a node name (e.g. the serving SGW) to rank ``topon`` candidates by
    topological closeness (TS 29.303 s4.3.2).
    """
    if node not in NODE_SERVICES:
        raise InputError(f"unknown node type {node!r}; use {', '.join(NODE_SERVICES)}",
                         subject=node)
    iface = interface or DEFAULT_INTERFACE[node]
    if iface not in INTERFACE_PROTOCOLS:
        raise InputError(f"unknown interface {iface!r}; use {', '.join(INTERFACE_PROTOCOLS)}",
                         subject=iface)
    protocol = AppProtocol(INTERFACE_PROTOCOLS[iface],
                           frozenset([ue_usage_type]) if ue_usage_type else None,
                           frozenset([network_capability]) if network_capability else None)
    name = fqdn if fqdn.endswith(".") else fqdn + "."
    result = SnaptrResult(name, NODE_SERVICES[node], str(protocol), prefer_ipv6=prefer_ipv6)
    result.trace.note(f"S-NAPTR for {NODE_SERVICES[node]}:{protocol} at {name} "
                      f"(policy {policy})")
    _Walk(lookup, NODE_SERVICES[node], protocol, policy,
          rng if rng is not None else np.random.default_rng(), max_depth, result).walk(name, ())
    if reference_node:
        ref = canonical_node_name(reference_node)[0]
        for cand in result.candidates:
            if cand.kept and cand.hostname and canonical_node_name(cand.hostname)[1] == "topon":
                cand.topology = common_suffix_labels(cand.canonical, ref)
        result.trace.note(f"topology: ranked by labels shared with {ref}; S-NAPTR order "
                          "breaks ties (TS 29.303 annex C.4)")
    return result


def offers_table(records: Any, app_service: str, protocol: str) -> Any:
    """The S-NAPTR records of an answer, one row each in (ORDER, PREFERENCE) order, with a
    column saying whether SERVICES offer ``app_service`` with ``protocol`` (RFC 3958 s2.1:
    case-insensitive, any order of app-protocols)."""
    import pandas as pd

    wanted = AppProtocol.parse(protocol)
    rows = [{"order": r.order, "preference": r.preference, "flags": r.flags,
             "services": r.services, "replacement": r.replacement,
             f"offers {app_service}:{protocol}":
                 ServiceParameters.parse(r.services).offers(app_service, wanted)}
            for r in sorted(records, key=lambda r: (r.key, r.to_text()))
            if isinstance(r, NaptrRecord) and not r.regexp]
    return pd.DataFrame(rows)


def collocated_pair(a: SnaptrResult, b: SnaptrResult) -> tuple[Candidate, Candidate] | None:
    """The best pair on the same canonical node (TS 29.303 s4.3.2, annex C.4: collocation
    before topology before S-NAPTR order); else the topologically closest pair."""
    best: tuple[tuple[int, int, int], tuple[Candidate, Candidate]] | None = None
    for ca in a.ranked:
        for cb in b.ranked:
            if canonical_node_name(ca.hostname)[1] == "topoff" or canonical_node_name(
                    cb.hostname)[1] == "topoff":
                closeness = 0
            else:
                closeness = common_suffix_labels(ca.canonical, cb.canonical)
            collocated = ca.canonical == cb.canonical
            key = (-(1000 if collocated else closeness), ca.rank, cb.rank)
            if best is None or key < best[0]:
                best = (key, (ca, cb))
    return None if best is None else best[1]
