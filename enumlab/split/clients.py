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
               Kamailio in a network namespace (``make kamailio-check``). SIP: its core
               resolver (:class:`enumlab.split.peers.KamailioSipOptions`): no NAPTR by default,
               the transport from ``dns_*_pref``, an explicit port dropped with NAPTR on,
               SRV by (priority, weight descending), ``dns_srv_lb`` drawing only with
               ``use_dns_failover``. **Run here**: Kamailio forwarding 16 URIs under 9
               configurations, destinations read from a capture
               (``python -m enumlab.lab.kamailio sip-check``).
``sofia-sip``  sofia-sip's resolver as ``sip-dig`` (Debian ``sofia-sip-bin``) shows it: only the
               lowest usable NAPTR ORDER; SRV sets of a NAPTR sorted (priority, weight
               descending, target); without NAPTR, every default transport's SRV set in the
               order the answer lists it, a priority group whose weights are all 0 never
               printed unless it is the last; shares printed as weight/sum, no RFC 2782 draw;
               AAAA before A; a NAPTR with REGEXP and REPLACEMENT both set followed by its
               replacement; numeric hosts printed without DNS. **Run here**: the printed lines
               compared with real ``sip-dig`` in a namespace whose resolv.conf points at a lab
               BIND (23 URIs).
``dnspython``  dnspython 2.x ``processing_order()``: NAPTR sorted by (ORDER, PREFERENCE), ties
               shuffled, across ORDERs; SRV weight 0 counted as 0.1 and a continuous draw, on
               the one resolution the model makes. **Run here**: the first-target split
               compared with dnspython's own ``processing_order`` on four lab SRV sets.
``glibc``      ``getaddrinfo`` address order (RFC 6724 destination selection as glibc does it,
               :func:`glibc_order`) with the host's own addresses as input: families the host
               has no address of left out (AI_ADDRCONFIG), unreachable ones last, label
               matching (rule 5: a ULA-only host puts IPv4 before global IPv6), precedence
               (glibc's table: IPv6 40, IPv4 10), the longest prefix shared with the source,
               then the order DNS gave. **Run here**: compared with ``getent ahosts`` in
               namespaces with IPv4 only, IPv6 only, both, neither, IPv4 + ULA, ULA only.
``sipsak``     sipsak 0.9.8 (c-ares): no NAPTR; SRV ``_sip._tls``, ``_sip._tcp``, ``_sip._udp``;
               the **first record of the answer**, priority and weight never read. **Run
               here**: where real sipsak's requests went, read from a capture (11 URIs, and
               200 runs against BIND's random order).
``twisted``    Twisted Names 22.4 ``SRVConnector``: no NAPTR, SRV ``_sip._tcp``, RFC 2782
               exactly (weight-0 first, r in 0..sum). **Run here**: Twisted's own
               SRVConnector, 200 picks per URI, split within the model's interval.
``baresip``    baresip 1.0.0 / libre 1.1.0 (:func:`enumlab.split.stacks.libre_locate`): NAPTR by
               (ORDER, PREFERENCE), flags and REGEXP unread; without NAPTR SRV TLS, TCP, UDP
               in that order; SRV records and addresses sorted by a key from the caller's
               From URI, not drawn -- one caller, one target; ``sips:x`` sent as
               ``sip:sips:x``. **Run here**: real baresip in a namespace, 100 first targets
               (IPv4 only, then dual-stack) and 200 callers, caller by caller.
``linphone``   linphone 5.1 / belle-sip 5.1 (:func:`enumlab.split.stacks.belle_sip_locate`): no
               NAPTR; SRV for the URI's transport; a record alone in its priority dropped;
               weights drawn close to RFC 2782; AAAA before A. **Run here**: real linphonec in
               a namespace, 24 URIs and 200 resolutions.
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
from ..core.policies import Entry, RecordSet, get_policy
from ..core.records import AddressRecord, NaptrRecord, RawNaptr, SrvRecord
from ..resolve.ddds import resolve_enum
from ..resolve.lookup import Lookup, Trace


@dataclass(frozen=True)
class ClientTarget:
    """One destination a client would try, in its order."""

    uri: str
    q: float | None = None  # Kamailio's branch q value
    note: str = ""
    host: str = ""  # the host name the address belongs to (SIP)

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri, "q": self.q, "note": self.note, "host": self.host}


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

def _location_result(name: str, location: Any) -> ClientResult:
    return ClientResult(name, location.uri,
                        [ClientTarget(f"{t.transport.lower()}:{t.address}:{t.port}",
                                      note=t.host + (" (failover)" if t.failover else ""),
                                      host=t.host)
                         for t in location.targets], trace=location.trace)


def _sip_rfc(uri: str, lookup: Lookup, rng: np.random.Generator, **options: Any
             ) -> ClientResult:
    from ..resolve.sip_location import locate_sip_server

    return _location_result("rfc", locate_sip_server(uri, lookup, rng=rng, **options))


def _sip_glibc(uri: str, lookup: Lookup, rng: np.random.Generator, *,
               sources: Sequence[str] = ("ipv4", "ipv6"), **options: Any) -> ClientResult:
    """The RFC procedure (one resolution), each host's addresses in getaddrinfo's order."""
    result = _sip_rfc(uri, lookup, rng, **options)
    by_host: dict[str, list[ClientTarget]] = {}
    for t in result.targets:  # one group per (host, transport, port): its addresses
        transport, _, port = t.uri.split(":", 1)[0], None, t.uri.rsplit(":", 1)[1]
        by_host.setdefault(f"{t.note}|{transport}|{port}", []).append(t)
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
    """Kamailio 5.6's core resolver (:func:`enumlab.split.peers.kamailio_sip_resolve`); the options
    are the fields of :class:`enumlab.split.peers.KamailioSipOptions` (Kamailio's defaults)."""
    from .peers import KamailioSipOptions, kamailio_sip_resolve

    fields = set(KamailioSipOptions.__dataclass_fields__)
    # the RFC procedure's options (the command line passes them to every model): not Kamailio's
    generic = {"transports", "prefer_ipv6", "all_transports"}
    unknown = set(options) - fields - generic
    if unknown:
        raise InputError(f"the kamailio SIP model has no option {sorted(unknown)}; its options: "
                         f"{', '.join(sorted(fields))}", subject=sorted(unknown))
    opts = KamailioSipOptions(**{k: v for k, v in options.items() if k in fields})
    targets = kamailio_sip_resolve(uri, lookup, rng, opts)
    out = ClientResult("kamailio", uri, [
        ClientTarget(f"{t.transport.lower()}:{t.address}:{t.port}",
                     note=t.host + (" (failover)" if t.failover else "")
                     + (f" -- {t.note}" if t.note else ""), host=t.host) for t in targets])
    out.notes.append(f"Kamailio core: dns_try_naptr={'yes' if opts.try_naptr else 'no'}, "
                     f"dns_srv_lb={'on' if opts.srv_lb else 'off'}, "
                     f"{'t_relay (tm)' if opts.tm else 'forward (stateless)'}")
    return out


def _srv_first_order(records: list[SrvRecord], rng: np.random.Generator) -> list[int]:
    """(priority, weight descending), ties in the answer's order: no draw."""
    return sorted(range(len(records)), key=lambda i: (records[i].priority, -records[i].weight))


def _naptr_stable(records: list[NaptrRecord], rng: np.random.Generator) -> list[NaptrRecord]:
    """(ORDER, PREFERENCE), ties in the answer's order: no shuffle."""
    return sorted(records, key=lambda r: r.key)


def _sip_first(uri: str, lookup: Lookup, rng: np.random.Generator, **options: Any
               ) -> ClientResult:
    """The RFC 3263 path, no draw: NAPTR by (ORDER, PREFERENCE) and SRV records by (priority,
    weight descending), ties in the answer's order."""
    from ..resolve.sip_location import locate_sip_server

    out = _location_result("first", locate_sip_server(
        uri, lookup, rng=rng, srv_order=_srv_first_order, naptr_order=_naptr_stable, **options))
    out.notes = ["SRV records taken in (priority, weight descending) order, no draw"]
    return out


def _dnspython_srv_order(records: list[SrvRecord], rng: np.random.Generator) -> list[int]:
    """dnspython 2.x ``SRV`` ``_processing_order``: priority groups ascending; in a group,
    successive weighted draws with weight 0 counted as 0.1 and r continuous (not RFC 2782's
    integer r with weight-0 records first) -- one draw of ``rng`` per pick."""
    rs = RecordSet(tuple(Entry(f"{i}", r.priority, r.weight) for i, r in enumerate(records)),
                   "srv")
    return get_policy("dnspython", "srv").processing_order(rs, rng)


def _dnspython_naptr_order(records: list[NaptrRecord], rng: np.random.Generator
                           ) -> list[NaptrRecord]:
    rs = RecordSet(tuple(Entry(f"{i}", r.order, r.preference) for i, r in enumerate(records)),
                   "naptr")
    return [records[i] for i in get_policy("dnspython", "naptr").processing_order(rs, rng)]


def _sip_dnspython(uri: str, lookup: Lookup, rng: np.random.Generator, **options: Any
                   ) -> ClientResult:
    """The RFC 3263 path with dnspython's ``processing_order()`` for NAPTR and SRV."""
    from ..resolve.sip_location import locate_sip_server

    return _location_result("dnspython", locate_sip_server(
        uri, lookup, rng=rng, srv_order=_dnspython_srv_order,
        naptr_order=_dnspython_naptr_order, **options))


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
        # a record with both REGEXP and REPLACEMENT (refused by RFC 3403 s4.1 and by enumlab's
        # record parser) is used by sip-dig: it follows the replacement
        both = [RawNaptr(*bad.naptr_fields) for bad in answer.invalid
                if bad.naptr_fields is not None and bad.naptr_fields[4]
                and bad.naptr_fields[5] not in ("", ".")]
        found: list[NaptrRecord | RawNaptr] = [
            r for r in answer.records if isinstance(r, NaptrRecord)]
        records = sorted([*found, *both],
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



_TRANSPORT_PARAM = re.compile(r";transport=([^;?]*)", re.IGNORECASE)


def sip_dig(uri: str, lookup: Lookup | None) -> list[str]:
    """The lines ``sip-dig`` prints for ``uri`` (sofia-sip model), resolved over ``lookup``.

    Numeric hosts need no DNS: ``sip:`` gives a UDP line and a TCP line (5060 or the URI's
    port), ``sips:`` one TLS line (5061), ``transport=X`` one line for X whatever X is (even
    ``foo``, and 5060 for ``tls``); an IPv6 address is printed in brackets. A domain with a
    transport sip-dig does not know is not found (nothing printed)."""
    from ..core.sip_uri import parse_sip_uri

    raw = _TRANSPORT_PARAM.search(uri)
    named = raw.group(1).lower() if raw else None
    parsed = parse_sip_uri(_TRANSPORT_PARAM.sub("", uri) if raw else uri)
    port = parsed.port
    if parsed.numeric_host:
        shown = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
        if named:
            return [f"\t1 1.000 {named} {port or 5060} {shown}"]
        if parsed.secure:
            return [f"\t1 1.000 tls {port or 5061} {shown}"]
        return [f"\t1 1.000 udp {port or 5060} {shown}", f"\t2 1.000 tcp {port or 5060} {shown}"]
    if named is not None and named not in {t for t, _, _ in _SOFIA_TRANSPORTS}:
        return []  # "<uri>: not found"
    if lookup is None:
        raise InputError(f"{uri}: a domain needs DNS (no lookup given)", subject=uri)
    transport = named
    dig = _SipDig(lookup, parsed.secure)
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


def _srv_answer(lookup: Lookup, name: str) -> tuple[str, list[SrvRecord]]:
    answer = lookup.query(name, "SRV")
    return answer.rcode, [r for r in answer.records if isinstance(r, SrvRecord)]


def _a_records(lookup: Lookup, name: str) -> list[str]:
    answer = lookup.query(name if name.endswith(".") else name + ".", "A")
    return [r.address for r in answer.records if isinstance(r, AddressRecord)]


# sipsak 0.9.8's SRV names, in the order it asks (through c-ares): a TLS name first that is
# not RFC 3263's _sips._tcp (sipsak passed over _sips._tcp.ims in the lab; its source names
# it _sip._tls), then _sip._tcp, then _sip._udp; the first that gives a target decides
SIPSAK_SRV = (("tls", "_sip._tls."), ("tcp", "_sip._tcp."), ("udp", "_sip._udp."))


def _sip_sipsak(uri: str, lookup: Lookup, rng: np.random.Generator, **options: Any
                ) -> ClientResult:
    """sipsak 0.9.8 (Debian, SRV through c-ares 1.18): no NAPTR (RFC 3263 s4.1 asks for it);
    SRV at ``_sip._tls``, ``_sip._tcp`` then ``_sip._udp`` of the URI's host, and from the
    first that answers the **first record of the answer** -- priority and weight never read
    (RFC 2782 orders by both), so the DNS server's answer order decides everything; then that
    target's first A record (a target without one: nothing at all, no next record). An SRV
    answer whose first target is "." counts as none. No SRV: the host's A record, UDP 5060;
    an explicit port: A only. ``sips:`` is not treated apart. Deterministic."""
    from ..core.sip_uri import parse_sip_uri

    parsed = parse_sip_uri(uri)
    out = ClientResult("sipsak", uri)
    if parsed.numeric_host:
        out.targets.append(ClientTarget(f"udp:{parsed.host}:{parsed.port or 5060}",
                                        host=parsed.host))
        return out
    host = parsed.host.rstrip(".") + "."
    if parsed.port is None:
        for transport, prefix in SIPSAK_SRV:
            _, records = _srv_answer(lookup, prefix + host)
            if records and records[0].target != ".":
                first = records[0]
                out.notes.append(f"{prefix}{host}: the first record of the answer, "
                                 f"{first.to_text()} (priority and weight not read)")
                out.targets += [ClientTarget(f"{transport}:{a}:{first.port}",
                                             host=first.target.rstrip("."))
                                for a in _a_records(lookup, first.target)[:1]]
                return out
    out.targets += [ClientTarget(f"udp:{a}:{parsed.port or 5060}", host=parsed.host)
                    for a in _a_records(lookup, host)[:1]]
    return out


def twisted_srv_order(records: list[SrvRecord], rng: np.random.Generator) -> list[int]:
    """Twisted Names 22.4 ``SRVConnector.pickServer``, one pick after another: the remaining
    records sorted by (priority, weight) ascending (stable: ties in the answer's order);
    in the lowest priority, r an integer uniform on 0..sum (one ``rng`` draw per pick), the
    first record whose running sum reaches r. That is RFC 2782's procedure (weight-0 records
    first, r inclusive), the "any order" of equal records being the answer's."""
    left = list(range(len(records)))
    out: list[int] = []
    while left:
        left.sort(key=lambda i: (records[i].priority, records[i].weight))
        best = records[left[0]].priority
        group = [i for i in left if records[i].priority == best]
        total = sum(records[i].weight for i in group)
        r = int(rng.integers(0, total + 1))
        running = 0
        for i in group:
            running += records[i].weight
            if running >= r:
                out.append(i)
                left.remove(i)
                break
    return out


def _sip_twisted(uri: str, lookup: Lookup, rng: np.random.Generator, **options: Any
                 ) -> ClientResult:
    """Twisted Names 22.4 ``SRVConnector(reactor, "sip", host, factory)``: no NAPTR; SRV at
    ``_sip._tcp.<host>`` (``_sip._udp`` for ``transport=udp``, ``_sips._tcp`` for sips) in
    RFC 2782 order (:func:`twisted_srv_order`); a lone "." target: no connection (RFC 2782);
    no SRV: the host itself on the service's port (5060). The targets are host names:
    ``connectTCP`` resolves them afterwards."""
    from ..core.sip_uri import parse_sip_uri

    parsed = parse_sip_uri(uri)
    out = ClientResult("twisted", uri)
    service = "sips" if parsed.secure else "sip"
    protocol = "udp" if parsed.transport == "udp" else "tcp"
    host = parsed.host.rstrip(".") + "."
    if parsed.numeric_host or parsed.port is not None:
        out.notes.append("SRVConnector always looks SRV up; a port or an IP in the URI is "
                         "the caller's business")
    _, records = _srv_answer(lookup, f"_{service}._{protocol}.{host}")
    if len(records) == 1 and records[0].target == ".":
        out.notes.append("a lone '.' target: DNSLookupError, no connection (RFC 2782)")
        return out
    if not records:
        port = 5061 if parsed.secure else 5060
        out.targets.append(ClientTarget(f"tcp:{host.rstrip('.')}:{port}", host=host.rstrip(".")))
        return out
    for i in twisted_srv_order(records, rng):
        rec = records[i]
        out.targets.append(ClientTarget(f"tcp:{rec.target.rstrip('.')}:{rec.port}",
                                        host=rec.target.rstrip(".")))
    return out


def _stack_result(name: str, uri: str, targets: list[Any], notes: list[str]) -> ClientResult:
    return ClientResult(name, uri, [ClientTarget(f"{t.transport}:{t.address}:{t.port}",
                                                 note=t.host, host=t.host) for t in targets],
                        notes=notes)


def _sip_baresip(uri: str, lookup: Lookup, rng: np.random.Generator, *,
                 caller: str | None = None, transports: Sequence[str] = ("udp", "tcp", "tls"),
                 families: Sequence[str] = ("ipv4", "ipv6"), **options: Any) -> ClientResult:
    """baresip 1.0.0 / libre 1.1.0 (:func:`enumlab.split.stacks.libre_locate`): NAPTR by
    (ORDER, PREFERENCE), TLS-first SRV without NAPTR, SRV records and addresses sorted by a key
    derived from the caller's From URI -- one caller, one target. ``caller``: that From URI;
    none: a caller drawn at random (one ``rng`` draw), so a fleet of callers spreads."""
    from .stacks import libre_caller_key, libre_locate

    notes: list[str] = []
    key = libre_caller_key(caller, rng)
    targets = libre_locate(uri, lookup, key, transports=transports, families=families,
                           notes=notes)
    notes.append(f"caller {caller}" if caller else "a caller drawn at random")
    return _stack_result("baresip", uri, targets, notes)


def _sip_linphone(uri: str, lookup: Lookup, rng: np.random.Generator, *,
                  families: Sequence[str] = ("ipv6", "ipv4"), **options: Any) -> ClientResult:
    """linphone 5.1 / belle-sip 5.1 (:func:`enumlab.split.stacks.belle_sip_locate`): no NAPTR,
    SRV for the URI's transport (even with a port), a lone record of its priority dropped,
    weights drawn roughly as RFC 2782 (one ``rng`` draw per pick), AAAA before A."""
    from .stacks import belle_sip_locate

    notes: list[str] = []
    targets = belle_sip_locate(uri, lookup, rng, families=families, notes=notes)
    return _stack_result("linphone", uri, targets, notes)


# -- glibc getaddrinfo -------------------------------------------------------------------------

# Policy tables: (prefix, precedence, label). RFC 6724 s2.1 (c-ares 1.18's
# ares__sortaddrinfo.c uses it) and glibc's built-in one (sysdeps/posix/getaddrinfo.c, used
# while /etc/gai.conf says nothing -- Debian ships it all commented out): RFC 3484's
# precedences (IPv4 10, below every IPv6 but ::/96) with labels for fec0::/10, fc00::/7 and
# 2001::/32 added.
_RFC6724 = [("::1/128", 50, 0), ("::/0", 40, 1), ("::ffff:0:0/96", 35, 4), ("2002::/16", 30, 2),
            ("2001::/32", 5, 5), ("fc00::/7", 3, 13), ("::/96", 1, 3), ("fec0::/10", 1, 11),
            ("3ffe::/16", 1, 12)]
_GLIBC_PRECEDENCE = [("::1/128", 50), ("2002::/16", 30), ("::/96", 20), ("::ffff:0:0/96", 10),
                     ("::/0", 40)]
_GLIBC_LABEL = [("::1/128", 0), ("2002::/16", 2), ("::/96", 3), ("::ffff:0:0/96", 4),
                ("fec0::/10", 5), ("fc00::/7", 6), ("2001::/32", 7), ("::/0", 1)]
POLICY_TABLES: dict[str, tuple[list[tuple[Any, int]], list[tuple[Any, int]]]] = {
    "rfc6724": ([(ipaddress.ip_network(n), p) for n, p, _ in _RFC6724],
                [(ipaddress.ip_network(n), lab) for n, _, lab in _RFC6724]),
    "glibc": ([(ipaddress.ip_network(n), p) for n, p in _GLIBC_PRECEDENCE],
              [(ipaddress.ip_network(n), lab) for n, lab in _GLIBC_LABEL]),
}


def _lookup_table(address: Any, table: list[tuple[Any, int]]) -> int:
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}") if ip.version == 4 else ip
    best = max((net for net, _ in table if mapped in net), key=lambda n: n.prefixlen)
    return next(v for net, v in table if net == best)


def _scope(address: Any) -> int:
    """RFC 6724 s3.1 scope: IPv4 loopback and 169.254/16 link-local (2), else global (14)."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if ip.version == 4:
        return 2 if ip.is_loopback or ip.is_link_local else 14
    if ip.is_loopback or ip.is_link_local:
        return 2
    if ip.is_multicast:
        return int(ip.packed[1]) & 0x0F
    return 5 if ip in ipaddress.IPv6Network("fec0::/10") else 14


def glibc_order(addresses: Sequence[str], sources: Sequence[str] = ("ipv4", "ipv6"), *,
                configured: Sequence[str] | None = None, table: str = "glibc") -> list[str]:
    """``getaddrinfo``'s list for a host's addresses (RFC 6724 s6 destination address
    selection, the rules glibc and c-ares apply), with ``AI_ADDRCONFIG`` as ``getent ahosts``
    asks:

    * a family the host has no non-loopback address of is left out (``AI_ADDRCONFIG``; an
      IPv6 link-local address counts);
    * rule 1: a destination the host has no source address and route for goes last;
    * rule 2: a destination whose scope equals its source's first;
    * rule 5: a destination whose label equals its source's label first -- on a host whose
      only IPv6 address is a ULA (label 6 in glibc's table, 13 in RFC 6724's), a global IPv6
      destination (label 1) loses to IPv4 (label 4 on both ends);
    * rule 6: higher precedence first (glibc: IPv6 40 before IPv4 10; RFC 6724: 40 / 35, a
      ULA destination 3);
    * rule 8: the smaller scope first;
    * rule 9: the longer prefix shared with the source address first (up to the source's
      prefix length; glibc applies it to IPv4 too);
    * rule 10: otherwise the order DNS gave.

    ``sources``: the host's addresses with their prefix (``198.18.77.2/24``,
    ``fd53:77::2/64``) or, without an address, just the families it can reach (``ipv4``,
    ``ipv6``: a global source). The source of a destination is the host's address of its
    family with the same label if there is one, else the one sharing the longest prefix
    (RFC 6724 s5 rules 6 and 8, simplified). ``configured``: the families it has any
    address of (default: those of ``sources``). ``table``: ``glibc`` (its built-in table) or
    ``rfc6724`` (c-ares)."""
    precedence_table, label_table = POLICY_TABLES[table]
    by_family: dict[str, list[Any]] = {}
    for source in sources:
        if source in ("ipv4", "ipv6"):
            by_family.setdefault(source, []).append(None)
        else:
            iface = ipaddress.ip_interface(source)
            by_family.setdefault("ipv6" if iface.version == 6 else "ipv4", []).append(iface)
    present = set(configured) if configured is not None else set(by_family)

    def family(address: str) -> str:
        return "ipv6" if ":" in address else "ipv4"

    def shared(a: Any, iface: Any) -> int:
        width = int(iface.max_prefixlen)
        return width - (int(a) ^ int(iface.ip)).bit_length()

    def source_of(address: str) -> Any:
        candidates = by_family.get(family(address), [])
        real = [c for c in candidates if c is not None]
        if not real:
            return None
        ip = ipaddress.ip_address(address)
        label = _lookup_table(ip, label_table)
        return max(real, key=lambda c: (_lookup_table(c.ip, label_table) == label,
                                        shared(ip, c)))

    kept = [a for a in addresses if family(a) in present]

    def key(k: int) -> tuple[int, ...]:
        address = kept[k]
        ip = ipaddress.ip_address(address)
        reachable = family(address) in by_family
        source = source_of(address)
        if source is None:  # only the family is known: a global source of that family
            src_scope, src_label = 14, (4 if ip.version == 4 else 1)
            common = 0
        else:
            src_scope = _scope(source.ip)
            src_label = _lookup_table(source.ip, label_table)
            common = min(shared(ip, source), int(source.network.prefixlen))
        return (0 if reachable else 1,
                0 if _scope(ip) == src_scope else 1,
                0 if _lookup_table(ip, label_table) == src_label else 1,
                -_lookup_table(ip, precedence_table),
                _scope(ip),
                -common, k)
    return [kept[k] for k in sorted(range(len(kept)), key=key)]


# -- the registry ------------------------------------------------------------------------------

MODELS: dict[str, ClientModel] = {m.name: m for m in (
    ClientModel("rfc", "the standards: RFC 6116/3403, RFC 3263 + 2782, TS 29.303",
                "the reference: enumlab's own procedures", _enum_rfc, _sip_rfc, "3gpp"),
    ClientModel("kamailio", "Kamailio 5.6 enum module and core resolver",
                "run here: real Kamailio in a network namespace, every URI and q value "
                "compared (ENUM); its core resolver forwarding 16 URIs under 10 configurations "
                "(SIP)",
                _enum_kamailio, _sip_kamailio),
    ClientModel("sofia-sip", "sofia-sip's resolver, as sip-dig prints it",
                "run here: real sip-dig (Debian sofia-sip-bin) in a namespace, printed lines "
                "compared", None, _sip_sofia),
    ClientModel("dnspython", "dnspython's processing_order()",
                "run here: dnspython's own processing_order, first-target splits compared "
                "on four SRV sets",
                _enum_dnspython, _sip_dnspython, "dnspython"),
    ClientModel("glibc", "glibc getaddrinfo's address order (RFC 6724)",
                "run here: getent ahosts in namespaces with IPv4, IPv6, both, neither, IPv4 + "
                "ULA, ULA only (18/18)",
                None, _sip_glibc),
    ClientModel("sipsak", "sipsak 0.9.8: c-ares, the first SRV record of the answer",
                "run here: real sipsak in a namespace, where its requests went read from a "
                "capture", None, _sip_sipsak),
    ClientModel("twisted", "Twisted Names 22.4 SRVConnector (RFC 2782)",
                "run here: Twisted's own SRVConnector (system python3) on loopback, where "
                "it connects compared", None, _sip_twisted),
    ClientModel("baresip", "baresip 1.0.0 / libre 1.1.0: one target per caller",
                "run here: real baresip in a namespace, where its OPTIONS arrived for 32 URIs "
                "(IPv4, dual-stack) and 200 callers", None, _sip_baresip),
    ClientModel("linphone", "linphone 5.1 / belle-sip 5.1: no NAPTR, SRV drawn by weight",
                "run here: real linphonec in a namespace, where its MESSAGE and INVITE "
                "requests arrived for 24 URIs and 200 independent resolutions", None,
                _sip_linphone),
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
