"""Client models: what real clients do with the same records, beside what the RFCs say.

enumlab's procedures (:mod:`enumlab.resolve.ddds`, :mod:`enumlab.resolve.sip_location`,
:mod:`enumlab.resolve.snaptr`) follow the standards. Real clients depart from them in known
ways, and those departures decide where traffic goes. Each model here says whose behaviour it
is and how it is known:

=============  =========================================================================
``rfc``        RFC 6116 / 3403 ENUM, RFC 3263 + RFC 2782 SIP, TS 29.303 S-NAPTR: enumlab's
               own procedures (the reference).
``kamailio``   Kamailio 5.6's ``enum`` module (:mod:`enumlab.split.peers`): ``!``-only regexps, no
               non-terminal rules, every usable record of every ORDER forked as a branch (q
               0.99 down by 0.01 a step), at most 12 URIs, records with both REGEXP and
               REPLACEMENT used. **Run here**: checked URI by URI with q values against real
               Kamailio in a network namespace (``make kamailio-check``). Its SRV order with
               ``dns_srv_lb=0`` (priority ascending, weight descending) is from its source
               (``core/resolve.c``), not run.
``sofia-sip``  sofia-sip's resolver as ``sip-dig`` (Debian ``sofia-sip-bin``) shows it: only the
               lowest usable NAPTR ORDER; SRV sets of a NAPTR sorted (priority, weight
               descending, target); without NAPTR, every default transport's SRV set in the
               order the answer lists it, a priority group whose weights are all 0 never
               printed unless it is the last; shares printed as weight/sum, no RFC 2782 draw;
               AAAA before A. **Run here**: the printed lines compared with real ``sip-dig`` in a
               namespace whose resolv.conf points at a lab BIND.
``dnspython``  dnspython 2.x ``processing_order()``: NAPTR sorted by (ORDER, PREFERENCE), ties
               shuffled, across ORDERs; SRV weight 0 counted as 0.1 and a continuous draw.
               **Run here**: compared statistically with dnspython's own ``processing_order``.
``glibc``      ``getaddrinfo`` address order (RFC 6724 destination selection as glibc does it,
               :func:`glibc_order`): families the host has no address of left out
               (AI_ADDRCONFIG), unreachable ones last, then precedence (IPv6 global before
               IPv4), then the longest prefix shared with the source, then the order DNS
               gave. **Run here**: compared with ``getent ahosts`` in namespaces with IPv4
               only, IPv6 only, both and neither.
``first``      A naive client: the first record in (ORDER, PREFERENCE) order, ties in the
               order the answer lists them (Open5GS-style strict selection).
``asterisk``   Asterisk ``ENUMLOOKUP`` -- **from source, not run** (``main/enum.c``,
               ``funcs/func_enum.c``): records of every ORDER sorted by (ORDER, PREFERENCE),
               the Nth returned; any non-``u`` record aborts the whole lookup; its regexp
               validator omits ``\\7``.
``freeswitch`` FreeSWITCH ``mod_enum`` -- **from source, not run**
               (``src/mod/applications/mod_enum/mod_enum.c``): ``!`` delimiter only, PCRE
               matching, every ``\\`` in the replacement read as ``$``; routes sorted by
               (ORDER, PREFERENCE) across ORDERs.
=============  =========================================================================

Each model answers the commands it has a behaviour for (``enum``, ``sip``, ``epc``); asking
one for a command it has none for is an :class:`InputError` that says so.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.e164 import DEFAULT_SUFFIX, normalize, to_enum_domain
from ..core.errors import InputError, RegexpError
from ..core.naptr_regexp import SubstitutionExpression
from ..core.policies import get_policy
from ..core.records import AddressRecord, NaptrRecord, SrvRecord
from ..resolve.ddds import resolve_enum
from ..resolve.lookup import Lookup, Trace


@dataclass(frozen=True)
class ClientTarget:
    """One destination a client would try, in its order."""

    uri: str
    q: float | None = None  # Kamailio's branch q value
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri, "q": self.q, "note": self.note}


@dataclass
class ClientResult:
    """What a client model does with a number or a URI: its targets, in its order."""

    model: str
    subject: str
    targets: list[ClientTarget] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    trace: Trace = field(default_factory=Trace)
    lines: list[str] = field(default_factory=list)  # a peer's own printout (sip-dig)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "subject": self.subject,
                "targets": [t.to_dict() for t in self.targets], "notes": self.notes,
                "lines": self.lines, "trace": self.trace.to_list()}


@dataclass(frozen=True)
class ClientModel:
    name: str
    title: str
    basis: str  # how enumlab knows: "run here: ..." or "from source, not run: ..."
    enum: Callable[..., ClientResult] | None = None
    sip: Callable[..., ClientResult] | None = None
    epc_policy: str | None = None  # the S-NAPTR selection it stands for

    @property
    def run_here(self) -> bool:
        return self.basis.startswith("run here")

    def run(self, command: str, subject: str, lookup: Lookup, *,
            rng: np.random.Generator | None = None, **options: Any) -> ClientResult:
        fn = {"enum": self.enum, "sip": self.sip}.get(command)
        if fn is None:
            raise InputError(f"client model {self.name!r} has no {command} behaviour; "
                             f"models for {command}: {', '.join(models_for(command))}",
                             subject=self.name)
        return fn(subject, lookup, rng if rng is not None else np.random.default_rng(),
                  **options)


# -- ENUM --------------------------------------------------------------------------------------

def _enum_rfc(number: str, lookup: Lookup, rng: np.random.Generator, *,
              suffix: str = DEFAULT_SUFFIX, service: str = "E2U+sip") -> ClientResult:
    result = resolve_enum(number, lookup, rng=rng, suffix=suffix, service=service)
    out = ClientResult("rfc", result.number, [ClientTarget(u) for u in result.uris],
                       trace=result.trace)
    return out


def _enum_kamailio(number: str, lookup: Lookup, rng: np.random.Generator, *,
                   suffix: str = DEFAULT_SUFFIX, service: str = "E2U+sip") -> ClientResult:
    from .peers import KAMAILIO_MAX_BRANCHES, kamailio_enum_query

    wanted = "" if service.lower() == "e2u+sip" else service.lower().removeprefix("e2u+")
    branches = kamailio_enum_query(number, lookup, suffix=suffix, service=wanted)
    out = ClientResult("kamailio", normalize(number),
                       [ClientTarget(b.uri, b.q, "R-URI" if i == 0 else "branch")
                        for i, b in enumerate(branches)])
    if len(branches) == KAMAILIO_MAX_BRANCHES:
        out.notes.append(f"at most {KAMAILIO_MAX_BRANCHES} URIs: later records dropped")
    orders = {b.order for b in branches}
    if len(orders) > 1:
        out.notes.append("ORDERs after the first are forked as branches (not RFC 3403)")
    return out


def _ordered_enum(name: str, number: str, lookup: Lookup, order: Callable[[list[Any]], list[Any]],
                  suffix: str, service: str,
                  substitute: Callable[[str, str], str | None] | None = None,
                  abort_on_non_u: bool = False) -> ClientResult:
    """The common shape of the simple clients: one NAPTR query, a sort, terminal rules only."""
    from ..core.enumservice import parse_service_field

    aus = normalize(number)
    answer = lookup.query(to_enum_domain(aus, suffix), "NAPTR")
    out = ClientResult(name, aus)
    out.trace.query(answer)
    wanted = parse_service_field(service)
    records = [r for r in answer.records if isinstance(r, NaptrRecord)]
    for rec in order(records):
        if rec.flags.lower() != "u":
            if abort_on_non_u:
                out.notes.append(f"a non-'u' record ({rec.flags!r}): the whole lookup is "
                                 "abandoned")
                out.targets.clear()
                return out
            continue
        try:
            if not parse_service_field(rec.services).provides(wanted):
                continue
        except InputError:
            continue
        uri = (substitute or _rfc_substitute)(rec.regexp, aus)
        if uri:
            out.targets.append(ClientTarget(uri, note=f"order {rec.order}, preference "
                                                      f"{rec.preference}"))
    return out


def _rfc_substitute(regexp: str, aus: str) -> str | None:
    try:
        return SubstitutionExpression.parse(regexp).apply(aus)
    except RegexpError:
        return None


def _enum_first(number: str, lookup: Lookup, rng: np.random.Generator, *,
                suffix: str = DEFAULT_SUFFIX, service: str = "E2U+sip") -> ClientResult:
    """(ORDER, PREFERENCE), ties as listed, every ORDER (a naive failover list)."""
    return _ordered_enum("first", number, lookup, lambda rs: sorted(rs, key=lambda r: r.key),
                         suffix, service)


def _enum_dnspython(number: str, lookup: Lookup, rng: np.random.Generator, *,
                    suffix: str = DEFAULT_SUFFIX, service: str = "E2U+sip") -> ClientResult:
    def order(records: list[NaptrRecord]) -> list[NaptrRecord]:
        keyed = sorted(records, key=lambda r: (r.key, r.to_text()))
        ties = rng.random(len(keyed))
        return [r for _, _, r in sorted(zip([r.key for r in keyed], ties, keyed,
                                            strict=True), key=lambda x: (x[0], x[1]))]
    return _ordered_enum("dnspython", number, lookup, order, suffix, service)


def _asterisk_substitute(regexp: str, aus: str) -> str | None:
    # Asterisk's validator accepts \1-\6, \8, \9 but not \7 (main/enum.c), and outputs the
    # replacement alone
    if "\\7" in regexp or not regexp:
        return None
    try:
        return SubstitutionExpression.parse(regexp).apply(aus, output="replacement")
    except RegexpError:
        return None


def _enum_asterisk(number: str, lookup: Lookup, rng: np.random.Generator, *,
                   suffix: str = DEFAULT_SUFFIX, service: str = "E2U+sip") -> ClientResult:
    return _ordered_enum("asterisk", number, lookup, lambda rs: sorted(rs, key=lambda r: r.key),
                         suffix, service, _asterisk_substitute, abort_on_non_u=True)


def _freeswitch_substitute(regexp: str, aus: str) -> str | None:
    if not regexp.startswith("!") or regexp.count("!") < 3:
        return None
    _, pattern, replacement, *_ = regexp.split("!", 3)
    # mod_enum rewrites every backslash of the replacement into '$' before PCRE's substitution
    replacement = re.sub(r"\\(\d)", r"$\1", replacement).replace("\\", "$")
    template = re.sub(r"\$(\d)", r"\\\1", replacement)
    try:
        return SubstitutionExpression.parse(f"!{pattern}!{template}!").apply(
            aus, output="replacement")
    except RegexpError:
        return None


def _enum_freeswitch(number: str, lookup: Lookup, rng: np.random.Generator, *,
                     suffix: str = DEFAULT_SUFFIX, service: str = "E2U+sip") -> ClientResult:
    return _ordered_enum("freeswitch", number, lookup,
                         lambda rs: sorted(rs, key=lambda r: r.key), suffix, service,
                         _freeswitch_substitute)


# -- SIP ---------------------------------------------------------------------------------------

def _sip_rfc(uri: str, lookup: Lookup, rng: np.random.Generator, **options: Any
             ) -> ClientResult:
    from ..resolve.sip_location import locate_sip_server

    location = locate_sip_server(uri, lookup, rng=rng, **options)
    return ClientResult("rfc", location.uri,
                        [ClientTarget(f"{t.transport.lower()}:{t.address}:{t.port}",
                                      note=t.host + (" (failover)" if t.failover else ""))
                         for t in location.targets], trace=location.trace)


def _sip_glibc(uri: str, lookup: Lookup, rng: np.random.Generator, *,
               sources: Sequence[str] = ("ipv4", "ipv6"), **options: Any) -> ClientResult:
    # a dual-stack host by default: IPv6 destinations before IPv4 (RFC 6724 rule 6)
    """The RFC procedure, each host's addresses in getaddrinfo's order."""
    result = _sip_rfc(uri, lookup, rng, **options)
    by_host: dict[str, list[ClientTarget]] = {}
    for t in result.targets:
        by_host.setdefault(f"{t.note}|{t.uri.rsplit(':', 1)[1]}", []).append(t)
    ordered: list[ClientTarget] = []
    for group in by_host.values():
        addresses = [t.uri.split(":", 1)[1].rsplit(":", 1)[0] for t in group]
        for address in glibc_order(addresses, sources):
            ordered.append(group[addresses.index(address)])
    result.model = "glibc"
    result.targets = ordered
    return result


def _sip_kamailio(uri: str, lookup: Lookup, rng: np.random.Generator, **options: Any
                  ) -> ClientResult:
    """RFC 3263 as Kamailio's core does it with dns_srv_lb=0: SRV by priority ascending, then
    weight descending (no RFC 2782 draw) -- from its source, not run."""
    result = _sip_rfc(uri, lookup, rng, **options)
    from ..resolve.sip_location import locate_sip_server

    location = locate_sip_server(uri, lookup, rng=rng, **options)
    keyed = sorted(range(len(location.targets)), key=lambda i: (
        location.targets[i].failover, location.targets[i].priority or 0,
        -(location.targets[i].weight or 0), i))
    result.targets = [result.targets[i] for i in keyed]
    result.model = "kamailio"
    result.notes.append("SRV order priority ascending, weight descending (dns_srv_lb=0): "
                        "from Kamailio's source, not run")
    return result


# sip-dig's default transports, in its order, and their NAPTR services and SRV prefixes
_SOFIA_TRANSPORTS = (("udp", "SIP+D2U", "_sip._udp."), ("tcp", "SIP+D2T", "_sip._tcp."),
                     ("sctp", "SIP+D2S", "_sip._sctp."), ("tls", "SIPS+D2T", "_sips._tcp."),
                     ("tls-sctp", "SIPS+D2S", "_sips._sctp."))


class _SipDig:
    """sip-dig's printout, rebuilt: ``<preference> <share> <transport> <port> <address>``.

    Written from the behaviour of sip-dig (sofia-sip 1.12.11, utils/sip-dig.c) observed and
    documented here, not from its code."""

    def __init__(self, lookup: Lookup, secure: bool) -> None:
        self.lookup = lookup
        self.secure = secure
        self.preference = 1
        self.lines: list[tuple[int, float, str, int, str]] = []

    def transports(self, only: str | None = None) -> list[tuple[str, str, str]]:
        return [t for t in _SOFIA_TRANSPORTS
                if (not self.secure or t[0].startswith("tls")) and (only is None
                                                                     or t[0] == only)]

    def addresses(self, transports: list[str], host: str, port: int | None,
                  weight: float) -> int:
        name = host if host.endswith(".") else host + "."
        found = []
        for rdtype in ("AAAA", "A"):  # IPv6 first, as sip-dig prints them
            answer = self.lookup.query(name, rdtype)
            found.append([r.address for r in answer.records if isinstance(r, AddressRecord)])
        count = sum(len(f) for f in found)
        if not count:
            return 0
        share = weight / count / len(transports)
        for family in found:
            for address in family:
                for t in transports:
                    default = 5061 if t.startswith("tls") else 5060
                    self.lines.append((self.preference, share, t, port or default, address))
        return count

    def srv_group(self, transport: str, records: list[SrvRecord], weight: float, total: int,
                  priority: int) -> int:
        total = total or 1
        count = 0
        for rec in records:
            if rec.priority == priority:
                count += self.addresses([transport], rec.target, rec.port,
                                        weight * rec.weight / total)
        return count

    def srv_set(self, transport: str, records: list[SrvRecord], weight: float) -> int:
        """A priority group is printed when the priority changes (if its weights are not all
        0) and at the end; records are taken in the order given."""
        count, priority, pweight, seen = 0, 0, 0, 0
        for rec in records:
            if rec.priority != priority and pweight != 0:
                printed = self.srv_group(transport, records, weight, pweight, priority)
                self.preference += bool(printed)
                count += printed
                pweight, seen = 0, 0
            priority, pweight, seen = rec.priority, pweight + rec.weight, seen + 1
        if seen:
            printed = self.srv_group(transport, records, weight, pweight, priority)
            self.preference += bool(printed)
            count += printed
        return count

    def srvs(self, name: str) -> tuple[bool, list[SrvRecord]]:
        answer = self.lookup.query(name, "SRV")
        return answer.rcode in ("NOERROR", "NXDOMAIN"), [
            r for r in answer.records if isinstance(r, SrvRecord)]

    def naptr(self, host: str) -> int:
        answer = self.lookup.query(host.rstrip(".") + ".", "NAPTR")
        records = sorted((r for r in answer.records if isinstance(r, NaptrRecord)),
                         key=lambda r: (r.order, r.preference, r.flags, r.services, r.regexp,
                                        r.replacement))
        known = {s.upper(): t for t, s, _ in self.transports()}
        usable = [r for r in records if r.flags.lower() in ("s", "a")
                  and (not self.secure or r.services.upper().startswith("SIPS+"))
                  and r.services.upper() in known]
        if not usable:
            return 0
        first = [r for r in usable if r.order == usable[0].order]  # only the lowest ORDER
        count = 0
        for rec in first:
            transport = known[rec.services.upper()]
            if rec.flags.lower() == "s":
                ok, srv = self.srvs(rec.replacement)
                if ok:
                    srv.sort(key=lambda s: (s.priority, -s.weight, s.target, s.port))
                    count += self.srv_set(transport, srv, 1.0 / len(first))
            else:
                count += self.addresses([transport], rec.replacement, None, 1.0 / len(first))
        return count

    def all_srvs(self, host: str, only: str | None) -> int:
        answered = []
        for t, _, prefix in self.transports(only):
            ok, srv = self.srvs(prefix + host.rstrip(".") + ".")
            if ok:
                answered.append((t, srv))
        count = 0
        for t, srv in answered:
            count += self.srv_set(t, srv, 1.0 / len(answered))  # in the answer's own order
        return count


def sip_dig(uri: str, lookup: Lookup) -> list[str]:
    """The lines ``sip-dig`` prints for ``uri`` (sofia-sip model), resolved over ``lookup``."""
    from ..core.sip_uri import parse_sip_uri

    parsed = parse_sip_uri(uri)
    dig = _SipDig(lookup, parsed.secure)
    port = parsed.port
    transport = parsed.transport
    if parsed.numeric_host:
        return [f"\t1 1.000 {'tls' if parsed.secure else 'udp'} "
                f"{port or (5061 if parsed.secure else 5060)} {parsed.host}"]
    done = (not port and not transport and dig.naptr(parsed.host)) or (
        not port and dig.all_srvs(parsed.host, transport))
    if not done:
        names = [transport] if transport else (["tls"] if parsed.secure else ["udp", "tcp"])
        dig.addresses(names, parsed.host, port, 1.0)
    return [f"\t{p} {w:.3f} {t} {port_} {a}" for p, w, t, port_, a in dig.lines]


def _sip_sofia(uri: str, lookup: Lookup, rng: np.random.Generator, **options: Any
               ) -> ClientResult:
    lines = sip_dig(uri, lookup)
    out = ClientResult("sofia-sip", uri, lines=lines)
    for line in lines:
        pref, share, transport, port, address = line.split()
        out.targets.append(ClientTarget(f"{transport}:{address}:{port}",
                                        note=f"preference {pref}, share {share}"))
    return out


def _sip_first(uri: str, lookup: Lookup, rng: np.random.Generator, **options: Any
               ) -> ClientResult:
    """The RFC 3263 path, but no draw: SRV records in (priority, weight descending) order."""
    result = _sip_kamailio(uri, lookup, rng, **options)
    result.model = "first"
    result.notes = ["SRV records taken in (priority, weight descending) order, no draw"]
    return result


def _sip_dnspython(uri: str, lookup: Lookup, rng: np.random.Generator, **options: Any
                   ) -> ClientResult:
    """The RFC 3263 path with dnspython's SRV order: weight 0 counted as 0.1."""
    from ..resolve.sip_location import locate_sip_server

    location = locate_sip_server(uri, lookup, rng=rng, **options)
    policy = get_policy("dnspython", "srv")
    from ..core.policies import Entry, RecordSet

    groups: dict[tuple[str, bool], list[int]] = {}
    for i, t in enumerate(location.targets):
        groups.setdefault((t.transport, t.failover), []).append(i)
    order: list[int] = []
    for members in groups.values():
        hosts = list(dict.fromkeys((location.targets[i].host, location.targets[i].port)
                                   for i in members))
        first = {h: next(i for i in members if (location.targets[i].host,
                                                location.targets[i].port) == h) for h in hosts}
        entries = tuple(Entry(f"{h}:{p}", location.targets[first[(h, p)]].priority or 0,
                              location.targets[first[(h, p)]].weight or 0) for h, p in hosts)
        picked = policy.processing_order(RecordSet(entries, "srv"), rng) if len(entries) > 1 \
            else [0]
        for k in picked:
            order += [i for i in members if (location.targets[i].host,
                                             location.targets[i].port) == hosts[k]]
    base = _sip_rfc(uri, lookup, rng, **options)
    base.targets = [base.targets[i] for i in order]
    base.model = "dnspython"
    return base


# -- glibc getaddrinfo -------------------------------------------------------------------------

# RFC 6724 s2.1 default policy table: (prefix, precedence, label)
_POLICY = [(ipaddress.ip_network("::1/128"), 50, 0), (ipaddress.ip_network("::/0"), 40, 1),
           (ipaddress.ip_network("::ffff:0:0/96"), 35, 4),
           (ipaddress.ip_network("2002::/16"), 30, 2),
           (ipaddress.ip_network("2001::/32"), 5, 5), (ipaddress.ip_network("fc00::/7"), 3, 13),
           (ipaddress.ip_network("::/96"), 1, 3), (ipaddress.ip_network("fec0::/10"), 1, 11),
           (ipaddress.ip_network("3ffe::/16"), 1, 12)]


def _policy(address: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(address)
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}") if ip.version == 4 else ip
    best = max((net for net, _, _ in _POLICY if mapped in net), key=lambda n: n.prefixlen)
    return next((p, lab) for net, p, lab in _POLICY if net == best)


def glibc_order(addresses: Sequence[str], sources: Sequence[str] = ("ipv4", "ipv6"), *,
                configured: Sequence[str] | None = None) -> list[str]:
    """``getaddrinfo``'s list for a host's addresses, as glibc builds it (RFC 6724 s6, with
    ``AI_ADDRCONFIG`` as ``getent ahosts`` asks):

    * a family the host has no non-loopback address of is left out (``AI_ADDRCONFIG``; an
      IPv6 link-local address counts);
    * rule 1: a destination the host has no source address and route for goes last;
    * rule 6: higher precedence first (IPv6 global 40 before IPv4 35);
    * rule 9: the longer prefix shared with the source address first (up to the source's
      prefix length; IPv4 too);
    * rule 10: otherwise the order DNS gave.

    ``sources``: the host's source addresses with their prefix (``198.18.77.2/24``,
    ``2001:db8:77::2/64``) or, without the address, just the families it can reach
    (``ipv4``, ``ipv6``). ``configured``: the families it has any address of (default: those
    of ``sources``)."""
    nets: dict[str, Any] = {}
    for source in sources:
        if source in ("ipv4", "ipv6"):
            nets[source] = None
        else:
            iface = ipaddress.ip_interface(source)
            nets["ipv6" if iface.version == 6 else "ipv4"] = iface
    present = set(configured) if configured is not None else set(nets)

    def family(address: str) -> str:
        return "ipv6" if ":" in address else "ipv4"

    def shared_bits(address: str) -> int:
        iface = nets.get(family(address))
        if iface is None:
            return 0
        a, b = int(ipaddress.ip_address(address)), int(iface.ip)
        width = int(iface.max_prefixlen)
        common = width - (a ^ b).bit_length()
        return min(common, int(iface.network.prefixlen))

    kept = [a for a in addresses if family(a) in present]

    def key(k: int) -> tuple[int, int, int, int]:
        address = kept[k]
        precedence, _ = _policy(address)
        return (0 if family(address) in nets else 1, -precedence, -shared_bits(address), k)
    return [kept[k] for k in sorted(range(len(kept)), key=key)]


# -- the registry ------------------------------------------------------------------------------

MODELS: dict[str, ClientModel] = {m.name: m for m in (
    ClientModel("rfc", "the standards: RFC 6116/3403, RFC 3263 + 2782, TS 29.303",
                "the reference: enumlab's own procedures", _enum_rfc, _sip_rfc, "3gpp"),
    ClientModel("kamailio", "Kamailio 5.6 enum module and core resolver",
                "run here: real Kamailio in a network namespace, every URI and q value "
                "compared (ENUM); SRV order from core/resolve.c, not run",
                _enum_kamailio, _sip_kamailio),
    ClientModel("sofia-sip", "sofia-sip's resolver, as sip-dig prints it",
                "run here: real sip-dig (Debian sofia-sip-bin) in a namespace, printed lines "
                "compared", None, _sip_sofia),
    ClientModel("dnspython", "dnspython's processing_order()",
                "run here: dnspython's own processing_order, shares compared statistically",
                _enum_dnspython, _sip_dnspython, "dnspython"),
    ClientModel("glibc", "glibc getaddrinfo's address order (RFC 6724)",
                "run here: getent ahosts in namespaces with IPv4, IPv6, both, neither",
                None, _sip_glibc),
    ClientModel("first", "a naive client: the first record, ties as listed",
                "a definition, no program behind it", _enum_first, _sip_first, "first"),
    ClientModel("asterisk", "Asterisk ENUMLOOKUP", "from source, not run: main/enum.c, "
                "funcs/func_enum.c (Asterisk 20)", _enum_asterisk),
    ClientModel("freeswitch", "FreeSWITCH mod_enum", "from source, not run: "
                "src/mod/applications/mod_enum/mod_enum.c (FreeSWITCH 1.10)", _enum_freeswitch),
)}


def get_model(name: str) -> ClientModel:
    try:
        return MODELS[name]
    except KeyError:
        raise InputError(f"unknown client model {name!r}; choose from {', '.join(MODELS)}",
                         subject=name) from None


def models_for(command: str) -> list[str]:
    if command == "epc":
        return [m.name for m in MODELS.values() if m.epc_policy]
    return [m.name for m in MODELS.values() if getattr(m, command, None) is not None]


__all__ = ["MODELS", "ClientModel", "ClientResult", "ClientTarget", "get_model", "glibc_order",
           "models_for", "sip_dig"]
