"""What real ENUM clients do with the same records: emulations, documented from their source.

These are pure functions over the lookup interface, so the notebook can put them beside the
RFC procedure and the test suite can check them against the real program (Kamailio, run in a
network namespace by :mod:`enumlab.lab.kamailio`).

Kamailio's ``enum`` module, ``enum_query()`` (src/modules/enum/enum.c, 5.x):

* the Request-URI user must be ``+digits``; the domain is built as RFC 6116 says;
* records are bubble-sorted by ``(order << 16) + preference`` -- a stable sort, so exact ties
  keep the order the DNS answer listed them in;
* a record is used only if FLAGS is exactly ``u`` and SERVICES is exactly ``e2u+sip`` (or
  ``sip+e2u``), case-insensitive: no ``E2U+voice:tel``, no RFC 3761 ``E2U+sip+h323``, and
  non-terminal rules are never followed;
* the regexp must use ``!`` as delimiter; text after the third ``!`` (the ``i`` flag) is
  ignored; the substitution (glibc POSIX ERE) outputs the replacement alone;
* the first usable record rewrites the Request-URI (q=0.99); every later usable record, in any
  ORDER, is appended as a branch with q lowered by 0.01 per (order, preference) step -- a fork
  across ORDERs that RFC 3403 would not allow;
* at most :data:`KAMAILIO_MAX_BRANCHES` URIs in all (the R-URI and 11 branches: 30 matching
  records give 12);
* a record carrying both a REGEXP and a REPLACEMENT (refused by RFC 3403 s4.1 and by enumlab's
  record parser) is used: Kamailio applies its REGEXP.

Checked against the real Kamailio 5.6 in a network namespace (:mod:`enumlab.lab.kamailio`): the
proxy answers 300 with its whole destination set (``$ds``), URIs and q values compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.e164 import DEFAULT_SUFFIX, normalize, to_enum_domain
from ..core.errors import RegexpError
from ..core.naptr_regexp import SubstitutionExpression
from ..core.records import AddressRecord, NaptrRecord, RawNaptr, SrvRecord
from ..resolve.lookup import Lookup

MAX_Q = 1.0
KAMAILIO_MAX_BRANCHES = 12  # MAX_BRANCHES in Kamailio's core (config.h)


@dataclass(frozen=True)
class KamailioBranch:
    uri: str
    q: float
    order: int
    preference: int


def kamailio_enum_query(number: str, lookup: Lookup, *, suffix: str = DEFAULT_SUFFIX,
                        service: str = "") -> list[KamailioBranch]:
    """The Request-URI (first item) and branches Kamailio's ``enum_query()`` would produce.

    ``service`` empty means Kamailio's default: ``e2u+sip`` only.
    """
    aus = normalize(number)
    domain = to_enum_domain(aus, suffix)
    answer = lookup.query(domain, "NAPTR")
    if answer.rcode != "NOERROR":
        return []
    records: list[Any] = [r for r in answer.records if isinstance(r, NaptrRecord)]
    # records the RFC refuses for carrying both fields: Kamailio still reads their REGEXP
    records += [RawNaptr(*bad.naptr_fields) for bad in answer.invalid
                if bad.naptr_fields is not None and bad.naptr_fields[4]]
    records.sort(key=lambda r: (r.order << 16) + r.preference)  # stable, like its bubble sort
    out: list[KamailioBranch] = []
    q, current = MAX_Q - 0.01, -1
    for rec in records:
        if not _sip_match(rec, service):
            continue
        uri = _kamailio_substitute(rec.regexp, aus)
        if uri is None:
            continue
        priority = (rec.order << 16) + rec.preference
        if out and priority > current:
            q = round(q - 0.01, 2)
        current = priority
        out.append(KamailioBranch(uri, q, rec.order, rec.preference))
        if len(out) == KAMAILIO_MAX_BRANCHES:
            break
    return out



def _sip_match(rec: Any, service: str) -> bool:
    if rec.flags.lower() != "u":
        return False
    services = str(rec.services).lower()
    if not service:
        return services in ("e2u+sip", "sip+e2u")
    return services == f"e2u+{service.lower()}:sip"


def _kamailio_substitute(regexp: str, aus: str) -> str | None:
    if not regexp.startswith("!") or regexp.count("!") < 3:
        return None
    _, pattern, replacement, *_ = regexp.split("!", 3)
    try:
        expr = SubstitutionExpression.parse(f"!{pattern}!{replacement}!")
        return expr.apply(aus, output="replacement")
    except RegexpError:
        return None


# -- Kamailio's core SIP resolver (RFC 3263 as core/resolve.c and core/dns_cache.c do it) -------

KAMAILIO_PROTO_PREF = {"UDP": 30, "TCP": 20, "TLS": 10, "SCTP": 20}  # dns_*_pref defaults
_KAM_NAPTR = {"SIP+D2U": "UDP", "SIP+D2T": "TCP", "SIPS+D2T": "TLS", "SIP+D2S": "SCTP"}
_KAM_SRV = {"UDP": "_sip._udp", "TCP": "_sip._tcp", "TLS": "_sips._tcp", "SCTP": "_sip._sctp"}


@dataclass(frozen=True)
class KamailioSipOptions:
    """Kamailio's core settings that decide where a request for a SIP URI goes; every default
    is Kamailio 5.6's. Measured with the real Kamailio forwarding requests in a namespace
    (:func:`enumlab.lab.kamailio.sip_forward_inside`, ``tests/test_kamailio.py``):

    * ``try_naptr`` (``dns_try_naptr``, default no): without it no NAPTR query is made and a
      URI without ``transport=`` gets ``_sip._udp`` SRV only (``_sips._tcp`` for sips) -- a
      domain with only ``_sip._tcp`` records is reached at its A record or not at all (RFC 3263
      s4.1 asks for NAPTR, then SRV for every supported transport);
    * ``udp_pref`` / ``tcp_pref`` / ``tls_pref`` / ``sctp_pref`` (``dns_*_pref``, 30/20/10/20;
      negative: never used) with ``naptr_ignore_rfc`` (``dns_naptr_ignore_rfc``, default yes):
      with NAPTR on, the transport is the preferred one among the NAPTR records -- ORDER and
      PREFERENCE only break ties (RFC 3263 s4.1: ORDER decides); with no usable NAPTR, SRV is
      tried per transport in that preference order;
    * with NAPTR on and ``failover`` off, an explicit port in the URI is ignored and the
      NAPTR/SRV path is taken, stateless or with tm (RFC 3263 s4.2: a port means A/AAAA only)
      -- ``sip:scscf:5060`` goes to the SRV port 6060; with ``failover`` on the port is kept;
    * with NAPTR on and no usable NAPTR record, SRV per transport in preference order, then
      the host's A record over UDP; with ``udp_pref`` negative (and ``failover`` off) such a
      URI is not sent at all. With ``failover`` on, a ``sips:`` URI is not held to TLS: it
      goes over UDP only, whatever the preferences (measured with the defaults and with
      ``tcp_pref=40``);
    * ``failover`` (``use_dns_failover``, default off) and ``srv_lb`` (``dns_srv_lb``, default
      off): the weighted SRV choice is made only when both are on (with or without tm;
      ``tm`` says whether the request is relayed with ``t_relay()``, which changes nothing
      measured here). Then, in each priority group in (priority, weight descending) order: a
      lone record is taken; all weights 0: the *last* weight-0 record; otherwise r uniform on
      1..sum and the first record whose running sum reaches r (a weight-0 record only by an
      extra one-in-1000 chance when r is 1). RFC 2782 gives weight-0 records a small chance
      and puts them first. Off: the first record by (priority, weight descending), ties in
      the answer's order, for every request;
    * an SRV record whose target is "." (RFC 2782: the service is decidedly not there): with
      ``failover`` off the request goes to the host's own A record on the default port (over
      UDP, even when the "." came from ``_sip._tcp``); with it on, nowhere;
    * ``protocols``: what this Kamailio can send over (default UDP and TCP: TLS needs the
      tls module, SCTP its support). A NAPTR of another transport is passed over; a URI that
      needs one (``sips:`` without TLS) is not sent anywhere.

    The later targets are the order Kamailio keeps for DNS failover: the next record of the
    SRV set, then the next NAPTR transport. Measured with tm and ``failover`` on and TCP
    preferred, every TCP target refusing at once: ``sip:ims`` went TCP pcscf1, TCP pcscf2,
    then UDP pcscf1 -- the model's order (a UDP target that does not answer is left only
    after tm's timer, so the measured order stops at the first UDP target).
    """

    try_naptr: bool = False
    udp_pref: int = 30
    tcp_pref: int = 20
    tls_pref: int = 10
    sctp_pref: int = 20
    naptr_ignore_rfc: bool = True
    tm: bool = False
    srv_lb: bool = False
    failover: bool = False
    protocols: tuple[str, ...] = ("UDP", "TCP")

    def enabled(self, transport: str) -> bool:
        return transport in self.protocols

    def pref(self, transport: str) -> int:
        return {"UDP": self.udp_pref, "TCP": self.tcp_pref, "TLS": self.tls_pref,
                "SCTP": self.sctp_pref}[transport]


@dataclass(frozen=True)
class KamailioSipTarget:
    transport: str
    host: str
    port: int
    address: str
    failover: bool = False
    note: str = ""


KAMAILIO_ZERO_WEIGHT_CHANCE = 1000  # DNS_SRV_ZERO_W_CHANCE in core/dns_cache.c


def kamailio_srv_order(records: list[Any], rng: Any, *, lb: bool = False) -> list[int]:
    """Kamailio's order of one SRV answer (``records`` in the answer's order): a stable sort by
    (priority, weight descending) -- its resolver inserts each record before the first of a
    higher priority or the same priority and a lower weight. With ``lb`` (``dns_srv_lb`` and
    ``use_dns_failover``) each pick within a priority group is the weighted choice described
    in :class:`KamailioSipOptions`, drawing from ``rng`` (one or two integers per pick)."""
    order = sorted(range(len(records)), key=lambda i: (records[i].priority,
                                                       -records[i].weight))
    if not lb:
        return order
    out: list[int] = []
    for priority in dict.fromkeys(records[i].priority for i in order):
        group = [i for i in order if records[i].priority == priority]
        while group:
            weights = [records[j].weight for j in group]
            total = sum(weights)
            zeros = [n for n, w in enumerate(weights) if w == 0]
            if len(group) == 1:
                pick = 0
            elif total == 0:
                pick = zeros[-1]
            else:
                r = int(rng.integers(1, total + 1))
                if r == 1 and zeros and int(rng.integers(0, KAMAILIO_ZERO_WEIGHT_CHANCE + 1)
                                            ) == 0:
                    pick = zeros[-1]
                else:
                    running = 0
                    pick = len(group) - 1
                    for n, w in enumerate(weights):
                        running += w
                        if running >= r:
                            pick = n
                            break
            out.append(group.pop(pick))
    return out


def kamailio_first_shares(records: list[Any]) -> dict[int, float]:
    """The exact probability that each record of one SRV answer is Kamailio's first pick with
    ``dns_srv_lb`` and ``use_dns_failover`` on (indices into ``records``)."""
    order = sorted(range(len(records)), key=lambda i: (records[i].priority,
                                                       -records[i].weight))
    best = records[order[0]].priority
    group = [i for i in order if records[i].priority == best]
    weights = [records[i].weight for i in group]
    total = sum(weights)
    zeros = [n for n, w in enumerate(weights) if w == 0]
    shares = dict.fromkeys(group, 0.0)
    if len(group) == 1:
        shares[group[0]] = 1.0
        return shares
    if total == 0:
        shares[group[zeros[-1]]] = 1.0
        return shares
    zero_chance = (1.0 / total) / (KAMAILIO_ZERO_WEIGHT_CHANCE + 1) if zeros else 0.0
    if zeros:
        shares[group[zeros[-1]]] += zero_chance
    running = 0
    for n, w in enumerate(weights):
        # r in (running, running + w] lands here
        if w:
            p = w / total
            if running == 0:
                p -= zero_chance  # r == 1 went to a weight-0 record that often
            shares[group[n]] += p
        running += w
    return shares


def kamailio_sip_resolve(uri: str, lookup: Lookup, rng: Any,
                         options: KamailioSipOptions | None = None) -> list[KamailioSipTarget]:
    """Where Kamailio's core sends a request whose next hop is ``uri`` (``forward()`` or
    ``t_relay()``): the targets in the order it tries them (the first is where the request
    goes). IPv4 only (the lab Kamailio runs with ``dns_try_ipv6=no``). One resolution;
    ``rng`` is used only by the weighted SRV choice."""
    opts = options or KamailioSipOptions()
    return [t for t in _kamailio_sip(uri, lookup, rng, opts) if opts.enabled(t.transport)]


def _kamailio_sip(uri: str, lookup: Lookup, rng: Any, opts: KamailioSipOptions
                  ) -> list[KamailioSipTarget]:
    from ..core.sip_uri import parse_sip_uri

    parsed = parse_sip_uri(uri)
    secure = parsed.secure
    host = parsed.host.rstrip(".") + "."

    def addresses(name: str) -> list[str]:
        answer = lookup.query(name if name.endswith(".") else name + ".", "A")
        return [r.address for r in answer.records if isinstance(r, AddressRecord)]

    def default_port(transport: str) -> int:
        return 5061 if transport == "TLS" else 5060

    def a_targets(transport: str, port: int, note: str) -> list[KamailioSipTarget]:
        return [KamailioSipTarget(transport, host.rstrip("."), port, a, note=note)
                for a in addresses(host)]

    def srv(transport: str, name: str, failover: bool) -> list[KamailioSipTarget] | None:
        answer = lookup.query(name if name.endswith(".") else name + ".", "SRV")
        records = [r for r in answer.records if isinstance(r, SrvRecord)]
        if not records:
            return None
        out: list[KamailioSipTarget] = []
        for i in kamailio_srv_order(records, rng, lb=opts.srv_lb and opts.failover):
            rec = records[i]
            if rec.target == ".":
                if not opts.failover:  # the host's A record, over UDP unless the URI says
                    dot = ("TLS" if secure else "UDP") if not parsed.transport else transport
                    out += [KamailioSipTarget(dot, host.rstrip("."), default_port(dot), a,
                                              failover, "SRV target '.': the host's A record")
                            for a in addresses(host)]
                continue
            out += [KamailioSipTarget(transport, rec.target.rstrip("."), rec.port, a, failover,
                                      f"SRV {rec.priority} {rec.weight}")
                    for a in addresses(rec.target)]
        return out

    if parsed.numeric_host:
        transport = (parsed.transport or ("tls" if secure else "udp")).upper()
        return [KamailioSipTarget(transport, parsed.host, parsed.port or default_port(
            transport), parsed.host, note="numeric host")]
    if parsed.transport:
        transport = "TLS" if secure or parsed.transport == "tls" else parsed.transport.upper()
        if parsed.port is not None:
            return a_targets(transport, parsed.port, "port in the URI: A only")
        found = srv(transport, f"{_KAM_SRV.get(transport, '_sip._udp')}.{host}", False)
        return found if found is not None else a_targets(transport, default_port(transport),
                                                         "no SRV: A, default port")
    if parsed.port is not None and not (opts.try_naptr and not opts.failover):
        transport = "TLS" if secure else "UDP"
        return a_targets(transport, parsed.port, "port in the URI: A only")
    if not opts.try_naptr:
        transport = "TLS" if secure else "UDP"
        found = srv(transport, f"{_KAM_SRV[transport]}.{host}", False)
        return found if found is not None else a_targets(transport, default_port(transport),
                                                         "no SRV: A, default port")
    # with use_dns_failover a sips URI is not held to TLS: it goes over UDP whatever the
    # dns_*_pref say (measured with the default preferences and with tcp_pref=40; the cause
    # not traced in Kamailio's source)
    tls_only = secure and not opts.failover
    udp_only = secure and opts.failover
    usable = []
    answer = lookup.query(host, "NAPTR")
    for pos, rec in enumerate(r for r in answer.records if isinstance(r, NaptrRecord)):
        service = _KAM_NAPTR.get(rec.services.upper())
        if service is None or rec.flags.lower() != "s" or opts.pref(service) < 0 \
                or not opts.enabled(service) or (tls_only and service != "TLS") \
                or (udp_only and service != "UDP"):
            continue
        transport = service
        key = ((-opts.pref(transport), rec.order, rec.preference, pos)
               if opts.naptr_ignore_rfc else
               (rec.order, rec.preference, -opts.pref(transport), pos))
        usable.append((key, transport, rec.replacement))
    usable.sort()
    out: list[KamailioSipTarget] = []
    tried: list[str] = []
    for _, transport, replacement in usable:
        if transport not in tried:
            tried.append(transport)
            out += srv(transport, replacement, bool(out)) or []
    if out:
        return out
    if opts.udp_pref < 0 and not opts.failover:
        return []  # measured: nothing is sent (the cause not traced in Kamailio's source)
    # no usable NAPTR: SRV per transport in preference order, the first set found; then the
    # host's A record over UDP whatever the preferences say (measured)
    ranked = sorted((t for t in ("UDP", "TCP", "TLS", "SCTP")
                     if opts.pref(t) >= 0 and opts.enabled(t) and (t == "TLS" or not tls_only)
                     and (t == "UDP" or not udp_only)),
                    key=lambda t: -opts.pref(t))
    for transport in ranked:
        found = srv(transport, f"{_KAM_SRV[transport]}.{host}", False)
        if found is not None:
            return found
    transport = "TLS" if tls_only else "UDP"
    return a_targets(transport, default_port(transport), "no NAPTR, no SRV: A, default port")
