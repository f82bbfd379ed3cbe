"""Locating SIP servers: RFC 3263 over the lookup interface, with RFC 2782 SRV ordering.

Given a SIP URI the procedure decides transport, host, port and IP addresses, in the order a
client should try them (RFC 3263 section 4):

1. ``transport=`` in the URI fixes the transport (s4.1);
2. a numeric IP host needs no DNS: UDP for sip, TLS for sips (s4.1, s4.2);
3. an explicit port means A/AAAA only -- NAPTR and SRV are *not* queried (s4.2). This is the
   seed's Kamailio I-CSCF pitfall: ``sip:scscf...:6060`` reaches the bare name's A record and
   never the S-CSCF pool behind ``_sip._udp.scscf...``;
4. otherwise NAPTR (``SIP+D2U``, ``SIP+D2T``, ``SIPS+D2T``, ``SIP+D2S``, ``SIPS+D2S``) filtered to
   the client's transports, in ORDER/PREFERENCE order; the most preferred one gives the
   transport and its SRV set (s4.1) -- the less preferred ones are listed only on request
   (``all_transports``: a failover across transports that RFC 3263 does not ask for, labelled
   ``failover`` in the targets; sip-dig stops at the first usable one too). A transport whose
   SRV set yields nothing hands over to the next one;
5. no usable NAPTR: an SRV query per supported transport; no SRV at all: A/AAAA with 5060
   (5061 for TLS). Once SRV records exist, the domain's own A record is never used.

SRV records are ordered by RFC 2782 (lowest priority first, weighted running sum within it,
weight-0 records included) with the Generator passed in; a target of "." means the service is
decidedly not available there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..core.errors import InputError
from ..core.policies import Entry, RecordSet, get_policy, rfc3403_order
from ..core.records import AddressRecord, NaptrRecord, SrvRecord
from ..core.sip_uri import SipUri, parse_sip_uri
from .lookup import Lookup, Trace

NAPTR_SERVICES = {
    "SIP+D2U": "UDP",
    "SIP+D2T": "TCP",
    "SIPS+D2T": "TLS",
    "SIP+D2S": "SCTP",
    "SIPS+D2S": "TLS-SCTP",
}
SRV_PREFIX = {"UDP": "_sip._udp", "TCP": "_sip._tcp", "TLS": "_sips._tcp", "SCTP": "_sip._sctp",
              "TLS-SCTP": "_sips._sctp"}
DEFAULT_PORT = {"UDP": 5060, "TCP": 5060, "SCTP": 5060, "TLS": 5061, "TLS-SCTP": 5061}
SECURE = frozenset({"TLS", "TLS-SCTP"})

# A client's SRV ordering: the usable records of one SRV answer, in the order the answer listed
# them, and the client's Generator -> the indices in the order the client tries them. Called
# once per SRV answer of a resolution; the only randomness a model adds is what it draws here.
SrvOrder = Callable[[list[SrvRecord], np.random.Generator], list[int]]
# A client's NAPTR ordering: the usable SIP NAPTR records in the answer's order -> the order it
# tries them (default RFC 3403 s4.1: (ORDER, PREFERENCE), exact ties shuffled).
NaptrOrder = Callable[[list[NaptrRecord], np.random.Generator], list[NaptrRecord]]


def rfc2782_order(records: list[SrvRecord], rng: np.random.Generator) -> list[int]:
    """RFC 2782 "Usage rules": lowest priority first, a weighted running-sum draw within it
    (weight-0 records included). The records are put in a canonical order first, so a seeded
    draw does not depend on the RRset order a server sent."""
    canonical = sorted(range(len(records)), key=lambda i: (
        records[i].priority, records[i].weight, records[i].target, records[i].port))
    rs = RecordSet(tuple(Entry(f"{i}", records[i].priority, records[i].weight)
                         for i in canonical), "srv")
    return [canonical[i] for i in get_policy("srv", "srv").processing_order(rs, rng)]

# The RFC 3263 decision flow as data: node -> (text, [(label, next node), ...]). A
# SipLocation's ``path`` lists the nodes its resolution went through; plot.rfc3263_flow draws
# the flow with that path highlighted.
FLOW: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "uri": ("SIP URI", [("", "numeric?")]),
    "numeric?": ("host a numeric IP?", [("yes", "no_dns"), ("no", "port?")]),
    "no_dns": ("no DNS: that IP,\nport or 5060/5061 (s4.1)", []),
    "port?": ("port in the URI?", [("yes", "a_port"), ("no", "transport?")]),
    "a_port": ("A/AAAA only, that port:\nno NAPTR, no SRV (s4.2)", []),
    "transport?": ("transport= in the URI?", [("yes", "srv_transport"), ("no", "naptr?")]),
    "srv_transport": ("SRV for that transport\n_sip._tcp... (s4.2)",
                      [("found", "a_srv"), ("none", "a_default")]),
    "naptr?": ("NAPTR: a usable SIP\nservice? (s4.1)",
               [("yes", "srv_naptr"), ("no", "srv_each")]),
    "srv_naptr": ("SRV at the NAPTR\nreplacement (s4.1)", [("", "a_srv")]),
    "srv_each": ("SRV per supported\ntransport (s4.1)",
                 [("found", "a_srv"), ("none", "a_default")]),
    "a_srv": ("A/AAAA of each SRV target,\nRFC 2782 order", []),
    "a_default": ("A/AAAA of the host,\n5060 (5061 TLS) (s4.2)", []),
}


@dataclass(frozen=True)
class SipTarget:
    """One (transport, host, port, address) to try, and how it was found."""

    transport: str
    host: str
    port: int
    address: str | None
    priority: int | None = None
    weight: int | None = None
    source: str = ""  # "naptr", "srv", "a/aaaa", "numeric"
    failover: bool = False  # listed by all_transports: a less preferred transport
    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("source")
        out["source"] = self.source
        return out


@dataclass
class SipLocation:
    """The ordered targets for a URI, whether SRV was skipped, and the trace."""

    uri: str
    targets: list[SipTarget] = field(default_factory=list)
    skipped_srv: bool = False
    trace: Trace = field(default_factory=Trace)
    path: list[str] = field(default_factory=lambda: ["uri"])  # nodes of FLOW, in order

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri, "targets": [t.to_dict() for t in self.targets],
                "skipped_srv": self.skipped_srv, "path": self.path,
                "trace": self.trace.to_list()}

    def targets_table(self) -> Any:
        """The targets as a DataFrame, one row per (transport, host, port, address), in the
        order a client tries them (index 1, 2, ...)."""
        import pandas as pd

        columns = ["transport", "host", "port", "address", "priority", "weight", "source",
                   "failover"]
        frame = pd.DataFrame([t.to_dict() for t in self.targets], columns=columns)
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="try")
        return frame


def _transport_for_param(param: str, secure: bool) -> str:
    if param == "udp":
        return "UDP"
    if param in ("tcp", "tls"):
        return "TLS" if secure or param == "tls" else "TCP"
    return "TLS-SCTP" if secure or param == "tls-sctp" else "SCTP"


class _Locator:
    def __init__(self, uri: SipUri, lookup: Lookup, transports: list[str],
                 rng: np.random.Generator, prefer_ipv6: bool,
                 all_transports: bool = False, srv_order: SrvOrder = rfc2782_order,
                 naptr_order: NaptrOrder = rfc3403_order) -> None:
        self.all_transports = all_transports
        self.srv_order = srv_order
        self.naptr_order = naptr_order
        self.uri = uri
        self.lookup = lookup
        self.supported = transports
        self.rng = rng
        self.prefer_ipv6 = prefer_ipv6
        self.result = SipLocation(uri.text)
        self.trace = self.result.trace

    def addresses(self, host: str, depth: int) -> list[str]:
        name = host if host.endswith(".") else host + "."
        found: dict[str, list[str]] = {}
        for rdtype in ("AAAA", "A") if self.prefer_ipv6 else ("A", "AAAA"):
            answer = self.lookup.query(name, rdtype)
            self.trace.query(answer, depth)
            if answer.rcode not in ("NOERROR", "NXDOMAIN"):
                answer.raise_for_rcode()
            found[rdtype] = [r.address for r in answer.records if isinstance(r, AddressRecord)]
        ordered = [*found.get("AAAA", []), *found.get("A", [])] if self.prefer_ipv6 else [
            *found.get("A", []), *found.get("AAAA", [])]
        return ordered

    def a_only(self, transport: str, port: int, source: str) -> None:
        addresses = self.addresses(self.uri.host, 1)
        if not addresses:
            self.trace.note(f"{self.uri.host} has no A/AAAA records: nothing to contact", 1)
        for address in addresses:
            self.result.targets.append(
                SipTarget(transport, self.uri.host, port, address, source=source))

    def srv(self, transport: str, name: str, depth: int, source: str,
            failover: bool = False) -> bool:
        """Expand one SRV set into targets; True if the SRV set exists (even if unusable)."""
        answer = self.lookup.query(name, "SRV")
        self.trace.query(answer, depth)
        if answer.rcode not in ("NOERROR", "NXDOMAIN"):
            answer.raise_for_rcode()
        records = [r for r in answer.records if isinstance(r, SrvRecord)]
        if not records:
            return False
        if len(records) == 1 and records[0].target == ".":
            self.trace.record(records[0].to_text(), "dropped",
                              "target '.': the service is decidedly not available here "
                              "(RFC 2782)", depth=depth)
            return True
        usable = [r for r in records if r.target != "."]  # in the answer's order
        for i in self.srv_order(usable, self.rng):
            rec = usable[i]
            addresses = self.addresses(rec.target, depth + 1)
            if not addresses:
                self.trace.record(rec.to_text(), "dropped", "target has no A/AAAA record",
                                  depth=depth)
                continue
            self.trace.record(rec.to_text(), "kept",
                              f"RFC 2782 order: priority {rec.priority}, weight {rec.weight}",
                              ", ".join(addresses), depth)
            for address in addresses:
                self.result.targets.append(SipTarget(
                    transport, rec.target.rstrip("."), rec.port, address, rec.priority,
                    rec.weight, source, failover))
        return True

    def run(self) -> SipLocation:
        uri = self.uri
        secure_only = [t for t in self.supported if t in SECURE] if uri.secure else self.supported
        if not secure_only:
            raise InputError(f"{uri.text} is a sips URI but the client supports no TLS transport",
                             subject=uri.text)
        if uri.transport:
            transport = _transport_for_param(uri.transport, uri.secure)
            if transport not in self.supported:
                raise InputError(f"{uri.text} asks for {transport}; the client supports "
                                 f"{', '.join(self.supported)}", subject=uri.text)
            self.trace.note(f"transport={uri.transport} in the URI: {transport} "
                            "(RFC 3263 s4.1)")
        elif uri.numeric_host:
            transport = "TLS" if uri.secure else "UDP"
            self.trace.note(f"numeric host: no DNS, {transport} (RFC 3263 s4.1)")
        elif uri.port is not None:
            transport = "TLS" if uri.secure else "UDP"
        else:
            transport = ""
        path = self.result.path
        path.append("numeric?")
        if uri.numeric_host:
            path.append("no_dns")
            port = uri.port or DEFAULT_PORT[transport]
            self.result.targets.append(SipTarget(transport, uri.host, port, uri.host,
                                                 source="numeric"))
            return self.result
        path.append("port?")
        if uri.port is not None:
            path.append("a_port")
            self.result.skipped_srv = True
            self.trace.note(f"port {uri.port} in the URI: A/AAAA lookup only, NAPTR and SRV are "
                            "not queried (RFC 3263 s4.2)")
            self.a_only(transport, uri.port, "a/aaaa")
            return self.result
        path.append("transport?")
        if transport:
            path.append("srv_transport")
            name = f"{SRV_PREFIX[transport]}.{uri.host}."
            if self.srv(transport, name, 1, "srv"):
                path.append("a_srv")
            else:
                path.append("a_default")
                self.trace.note(f"no SRV at {name}: A/AAAA with port {DEFAULT_PORT[transport]}")
                self.a_only(transport, DEFAULT_PORT[transport], "a/aaaa")
            return self.result
        path.append("naptr?")
        if self.naptr(secure_only):
            path.extend(["srv_naptr", "a_srv"])
            return self.result
        path.append("srv_each")
        found_srv = False
        for t in secure_only:
            found_srv |= self.srv(t, f"{SRV_PREFIX[t]}.{uri.host}.", 1, "srv")
        if found_srv:
            path.append("a_srv")
            return self.result
        path.append("a_default")
        transport = "TLS" if uri.secure else "UDP"
        self.trace.note(f"no NAPTR and no SRV: A/AAAA of {uri.host}, {transport} port "
                        f"{DEFAULT_PORT[transport]} (RFC 3263 s4.2)")
        self.a_only(transport, DEFAULT_PORT[transport], "a/aaaa")
        return self.result

    def naptr(self, supported: list[str]) -> bool:
        answer = self.lookup.query(self.uri.host + ".", "NAPTR")
        self.trace.query(answer)
        if answer.rcode not in ("NOERROR", "NXDOMAIN"):
            answer.raise_for_rcode()
        usable: list[tuple[NaptrRecord, str]] = []
        naptrs = sorted((r for r in answer.records if isinstance(r, NaptrRecord)),
                        key=lambda r: (r.key, r.to_text()))
        for rec in naptrs:
            transport = NAPTR_SERVICES.get(rec.services.upper())
            if transport is None:
                self.trace.record(rec.to_text(), "dropped", f"{rec.services!r} is not a SIP "
                                  "transport service (RFC 3263 s4.1)")
            elif transport not in supported:
                self.trace.record(rec.to_text(), "dropped",
                                  f"{transport} is not among the client's transports "
                                  f"({', '.join(supported)})")
            elif rec.flags.lower() != "s":
                self.trace.record(rec.to_text(), "dropped",
                                  f"flag {rec.flags!r}: RFC 3263 uses 'S' (an SRV lookup next)")
            else:
                usable.append((rec, transport))
        if not usable:
            if answer.records:
                self.trace.note("no usable NAPTR record: SRV queries per transport "
                                "(RFC 3263 s4.1)")
            else:
                self.trace.note("no NAPTR records: SRV queries per transport (RFC 3263 s4.1)")
            return False


        by_id = {id(rec): transport for rec, transport in usable}
        position = {id(rec): i for i, rec in enumerate(answer.records)}
        chosen: str | None = None
        in_answer_order = sorted((r for r, _ in usable), key=lambda r: position[id(r)])
        for rec in self.naptr_order(in_answer_order, self.rng):
            transport = by_id[id(rec)]
            if chosen is not None and transport != chosen and not self.all_transports:
                self.trace.record(rec.to_text(), "not considered",
                                  f"{transport} is less preferred than {chosen}: RFC 3263 s4.1 "
                                  "uses the most preferred supported transport (all_transports "
                                  "/ --all-transports lists it as a failover)")
                continue
            failover = chosen is not None and transport != chosen
            self.trace.record(rec.to_text(), "kept",
                              f"{transport}, SRV at the replacement"
                              + (" (failover: a less preferred transport, listed on request)"
                                 if failover else ""), rec.replacement)
            before = len(self.result.targets)
            self.srv(transport, rec.replacement, 1, "naptr", failover)
            if chosen is None and len(self.result.targets) > before:
                chosen = transport
            elif chosen is None:
                self.trace.note(f"{transport}: no usable target at {rec.replacement}; the next "
                                "NAPTR record is tried", 1)
        return True


def locate_sip_server(
    uri: str | SipUri,
    lookup: Lookup,
    *,
    transports: tuple[str, ...] | list[str] = ("udp", "tcp", "tls"),
    rng: np.random.Generator | None = None,
    prefer_ipv6: bool = False,
    all_transports: bool = False,
    srv_order: SrvOrder = rfc2782_order,
    naptr_order: NaptrOrder = rfc3403_order,
) -> SipLocation:
    """Where to send a request for ``uri``: the ordered (transport, host, port, address) list.
    ``all_transports`` also lists the SRV sets of less preferred NAPTR transports after the
    chosen one, marked ``failover`` (not RFC 3263; what some clients do). ``srv_order``: how
    the client orders one SRV answer (default RFC 2782, :func:`rfc2782_order`); client models
    (:mod:`enumlab.split.clients`) pass their own, so one resolution gives their order; likewise
    ``naptr_order`` for the usable NAPTR records (default :func:`rfc3403_order`)."""
    parsed = uri if isinstance(uri, SipUri) else parse_sip_uri(uri)
    wanted = [t.strip().upper() for t in transports if t.strip()]
    unknown = [t for t in wanted if t not in DEFAULT_PORT]
    if unknown or not wanted:
        raise InputError(f"unknown transports {unknown}; use udp, tcp, tls, sctp",
                         subject=transports)
    locator = _Locator(parsed, lookup, wanted, rng if rng is not None else np.random.default_rng(),
                       prefer_ipv6, all_transports, srv_order, naptr_order)
    return locator.run()
