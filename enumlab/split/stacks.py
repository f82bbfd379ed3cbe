"""Two SIP stacks' server location, as measured here: libre (baresip) and belle-sip (linphone).

Each function takes a SIP URI and a :class:`~enumlab.resolve.lookup.Lookup`, makes **one
resolution** and returns the destinations the stack tries, in its order, as
``(transport, address, port, host)``. The client models ``baresip`` and ``linphone``
(:mod:`enumlab.split.clients`) wrap them; ``tests/test_clients.py`` checks them against the
real programs (:mod:`enumlab.lab.stacklab`). The rules were read from the stacks' public
sources (libre ``src/sip/request.c``, ``src/dns/rrlist.c``, ``src/hash/func.c``; belle-sip
``src/belle_sip_resolver.c``), written here in enumlab's own words (no code copied), and each
one kept only where the programs in the lab did the same -- where they did not, the program
wins (baresip's ``sips:`` handling, belle-sip's explicit port and "." target).

RFC 3263 s4.1 asks a client without ``transport=`` and port to look NAPTR up, take the most
preferred record whose transport it supports and follow it to SRV; RFC 2782 orders SRV
records by priority and, within a priority, by a weighted random draw. Where each stack
departs from that is listed in its docstring.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.records import AddressRecord, NaptrRecord, RawNaptr, SrvRecord
from ..resolve.lookup import Lookup


@dataclass(frozen=True)
class StackTarget:
    """One destination a stack would try: transport (lower case), address, port, host."""

    transport: str
    address: str
    port: int
    host: str


_MASK = 0xFFFFFFFF
_TRANSPORT_PARAM = re.compile(r";transport=([^;?]*)", re.IGNORECASE)
_DEFAULT_PORT = {"udp": 5060, "tcp": 5060, "tls": 5061}
_SRV_PREFIX = {"udp": "_sip._udp.", "tcp": "_sip._tcp.", "tls": "_sips._tcp."}


def _split_uri(uri: str) -> tuple[str, str | None, str, int | None]:
    """(scheme, transport= as written or None, host, port) of a sip:/sips: URI; a transport
    name enumlab's parser does not know is kept, so a stack can refuse it."""
    from ..core.sip_uri import parse_sip_uri

    raw = _TRANSPORT_PARAM.search(uri)
    named = raw.group(1).lower() if raw else None
    parsed = parse_sip_uri(_TRANSPORT_PARAM.sub("", uri) if raw else uri)
    return parsed.scheme, named, parsed.host, parsed.port


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _addresses(lookup: Lookup, name: str, families: Sequence[str]) -> list[str]:
    """A then AAAA records of ``name`` (the families asked for), in the answers' order."""
    out: list[str] = []
    for rdtype, family in (("A", "ipv4"), ("AAAA", "ipv6")):
        if family in families:
            answer = lookup.query(_fqdn(name), rdtype)
            out += [r.address for r in answer.records if isinstance(r, AddressRecord)]
    return out


def _srvs(lookup: Lookup, name: str) -> list[SrvRecord]:
    return [r for r in lookup.query(_fqdn(name), "SRV").records if isinstance(r, SrvRecord)]


def _naptrs(lookup: Lookup, host: str) -> list[NaptrRecord | RawNaptr]:
    """The NAPTR records as a stack that checks no field sees them (libre): the valid ones,
    then those enumlab refuses -- e.g. both REGEXP and REPLACEMENT set, which RFC 3403 s4.1
    forbids and libre follows to the replacement -- each kind in the answer's order (a tie in
    (ORDER, PREFERENCE) between a valid and a refused record goes to the valid one here)."""
    answer = lookup.query(_fqdn(host), "NAPTR")
    both = [RawNaptr(*bad.naptr_fields) for bad in answer.invalid
            if bad.naptr_fields is not None]
    return [*[r for r in answer.records if isinstance(r, NaptrRecord)], *both]


# -- libre (baresip) ---------------------------------------------------------------------------

LIBRE_HASH_SEED = 0x304A0012
LIBRE_KEY_SHIFT = 5
LIBRE_TRANSPORTS = ("udp", "tcp", "tls")
# libre's NAPTR services: SIP+D2U, SIP+D2T, SIPS+D2T (SCTP and WebSocket services unknown)
_LIBRE_SERVICES = {"SIP+D2U": "udp", "SIP+D2T": "tcp", "SIPS+D2T": "tls"}


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK


def libre_hash(text: str) -> int:
    """libre 1.1.0's ``hash_fast_str``: Bob Jenkins' lookup3 ``hashlittle`` over the UTF-8
    bytes with seed 0x304a0012 (checked against ``libre.so.0`` in the tests). Later libre
    releases use FNV-1a instead."""
    data = text.encode()
    a = b = c = (0xDEADBEEF + len(data) + LIBRE_HASH_SEED) & _MASK
    rest = len(data)
    i = 0
    while rest > 12:
        a = (a + int.from_bytes(data[i:i + 4], "little")) & _MASK
        b = (b + int.from_bytes(data[i + 4:i + 8], "little")) & _MASK
        c = (c + int.from_bytes(data[i + 8:i + 12], "little")) & _MASK
        for first, second, third, k in ((0, 2, 1, 4), (1, 0, 2, 6), (2, 1, 0, 8),
                                        (0, 2, 1, 16), (1, 0, 2, 19), (2, 1, 0, 4)):
            regs = [a, b, c]
            regs[first] = (regs[first] - regs[second]) & _MASK
            regs[first] ^= _rot(regs[second], k)
            regs[second] = (regs[second] + regs[third]) & _MASK
            a, b, c = regs
        rest -= 12
        i += 12
    if rest == 0:
        return c
    tail = data[i:] + bytes(12 - rest)
    a = (a + int.from_bytes(tail[0:4], "little")) & _MASK
    b = (b + int.from_bytes(tail[4:8], "little")) & _MASK
    c = (c + int.from_bytes(tail[8:12], "little")) & _MASK
    regs = [a, b, c]
    for x, y, k in ((2, 1, 14), (0, 2, 11), (1, 0, 25), (2, 1, 16), (0, 2, 4), (1, 0, 14),
                    (2, 1, 24)):  # lookup3's final(): c^=b, c-=rot(b,14); a^=c, ...
        regs[x] ^= regs[y]
        regs[x] = (regs[x] - _rot(regs[y], k)) & _MASK
    return regs[2]


def _libre_address_rank(address: str, key: int) -> int:
    """libre's sort index of an address: IPv4 as a number XOR the key; IPv6 its four 32-bit
    words (read in the host's byte order, little-endian here) XORed together and with the
    key. Higher first."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return (int(ip) ^ key) & _MASK
    raw = ip.packed
    words = [int.from_bytes(raw[j:j + 4], "little") for j in range(0, 16, 4)]
    return (words[0] ^ words[1] ^ words[2] ^ words[3] ^ key) & _MASK


def _libre_srv_rank(record: SrvRecord, key: int) -> int:
    """((hash(target) & 0xfff) XOR key) + weight: higher first, within a priority."""
    target = record.target.rstrip(".")
    return (((libre_hash(target) & 0xFFF) ^ key) + record.weight) & _MASK


def libre_sort_key(caller: str) -> int:
    """The key libre sorts a request's DNS records by: the hash of the dialog's From URI
    (``sip_dialog_alloc``), shifted right by 5 bits (``dns_rrlist_sort``)."""
    return libre_hash(caller) >> LIBRE_KEY_SHIFT


def libre_locate(uri: str, lookup: Lookup, key: int, *,
                 transports: Sequence[str] = LIBRE_TRANSPORTS,
                 families: Sequence[str] = ("ipv4", "ipv6"),
                 notes: list[str] | None = None) -> list[StackTarget]:
    """Where libre 1.1.0 (``sip_request``) sends a request from baresip 1.0.0 for ``uri``, in
    order, for a caller whose sort key is ``key`` (:func:`libre_sort_key`). Measured with
    OPTIONS; MESSAGE and INVITE go through the same dialog code in libre's source (the key is
    the From URI's hash there too), not measured here.

    * ``sips:`` is not kept: baresip completes a URI that does not start with ``sip:`` by
      putting ``sip:`` in front, so ``sips:x@host`` is sent as ``sip:sips:x@host`` and located
      as a ``sip:`` URI (RFC 3263 s4.1 wants TLS for sips) -- over UDP if NAPTR says D2U.
    * A numeric host: that address, the URI's transport (UDP by default) and port (5060, 5061
      for TLS).
    * A port: A (and AAAA) of the host, no NAPTR, no SRV (as RFC 3263 s4.2).
    * ``transport=``: only ``udp``, ``tcp``, ``tls`` (others: the request is refused); its SRV
      (``_sips._tcp`` for TLS); no SRV: the host's addresses on the default port.
    * Otherwise NAPTR: records sorted by (ORDER, PREFERENCE), the first whose service is
      SIP+D2U, SIP+D2T or SIPS+D2T with a supported transport wins -- flags and REGEXP are not
      read, so a record with both REGEXP and REPLACEMENT is followed to its replacement; its
      SRV; an empty SRV answer: the host's addresses on the transport's default port. No
      usable NAPTR: SRV ``_sips._tcp``, ``_sip._tcp``, ``_sip._udp`` in that order (TLS
      first, not RFC 3263 s4.1's "the client's preference"); the first with records decides;
      none: the host's addresses over UDP 5060.
    * SRV records: by priority, then within a priority by ((hash(target) & 0xfff) XOR key)
      + weight, highest first -- no random draw (RFC 2782 draws by weight): the weight adds at
      most its value to a number spread over 0..4095, so it hardly counts, and **one caller
      sends every request to the same target**; different callers (different From URIs)
      spread over the targets of a priority nearly evenly. A target without an address is
      passed over; a "." target yields nothing.
    * A host's addresses (A and AAAA together) by address XOR key, highest first.
    """
    notes = notes if notes is not None else []
    supported = [t for t in LIBRE_TRANSPORTS if t in {x.lower() for x in transports}]
    scheme, named, host, port = _split_uri(uri)
    if scheme == "sips":
        notes.append("baresip sends sips:x as sip:sips:x: located as a sip: URI")
    if named is not None and named not in supported:
        notes.append(f"transport={named}: not supported by libre here, request refused")
        return []
    try:
        ipaddress.ip_address(host)
        numeric = True
    except ValueError:
        numeric = False
    if numeric:
        tp = named or supported[0]
        return [StackTarget(tp, host, port or _DEFAULT_PORT[tp], host)]

    def host_addresses(tp: str, at_port: int) -> list[StackTarget]:
        found = _addresses(lookup, host, families)
        found.sort(key=lambda a: -_libre_address_rank(a, key))
        return [StackTarget(tp, a, at_port, host) for a in found]

    def srv_targets(tp: str, records: list[SrvRecord]) -> list[StackTarget]:
        ordered = sorted(records, key=lambda r: (r.priority, -_libre_srv_rank(r, key)))
        out: list[StackTarget] = []
        for rec in ordered:
            if rec.target in (".", ""):
                continue
            found = _addresses(lookup, rec.target, families)
            found.sort(key=lambda a: -_libre_address_rank(a, key))
            out += [StackTarget(tp, a, rec.port, rec.target.rstrip(".")) for a in found]
        return out

    if port is not None:
        return host_addresses(named or supported[0], port)
    if named is not None:
        records = _srvs(lookup, _SRV_PREFIX[named] + host)
        if records:
            return srv_targets(named, records)
        return host_addresses(named, _DEFAULT_PORT[named])
    naptrs = sorted(_naptrs(lookup, host), key=lambda r: (r.order, r.preference))
    for rec in naptrs:
        chosen = _LIBRE_SERVICES.get(rec.services.upper())
        if chosen is None or chosen not in supported:
            continue
        notes.append(f"NAPTR {rec.order} {rec.preference} {rec.services} -> "
                     f"{rec.replacement} (flags and REGEXP not read)")
        records = _srvs(lookup, rec.replacement)
        if records:
            return srv_targets(chosen, records)
        return host_addresses(chosen, _DEFAULT_PORT[chosen])
    for tp in reversed(supported):  # TLS, TCP, UDP
        records = _srvs(lookup, _SRV_PREFIX[tp] + host)
        if records:
            return srv_targets(tp, records)
    return host_addresses(supported[0], 5060)


def libre_caller_key(caller: str | None, rng: np.random.Generator) -> int:
    """The sort key for ``caller`` (a From URI such as ``sip:alice@example.com``), or -- with
    no caller -- for a caller drawn at random from a large fleet (a uniform 32-bit hash, one
    ``rng`` draw)."""
    if caller is not None:
        return libre_sort_key(caller)
    return int(rng.integers(0, 1 << 32)) >> LIBRE_KEY_SHIFT


# -- belle-sip (linphone) ----------------------------------------------------------------------

def belle_sip_srv_order(records: Sequence[SrvRecord], rng: np.random.Generator) -> list[int]:
    """belle-sip 5.1's SRV order (indices into ``records``, the answer's order):

    * records are kept sorted by priority as they are read, each one put **before** the
      records of its priority already there -- so within a priority the answer's order is
      reversed;
    * a priority with a single record is **dropped** as soon as some other priority has two
      or more (RFC 2782 keeps every record; a lone most-preferred record is never used);
      when every priority is alone, the list is kept as it is;
    * within a priority of two or more: the first record stays first, then each further one
      is put in front if its weight is 0, else at the end; then records are drawn one by one:
      r uniform on 0..sum-1 (one ``rng`` draw), the first record whose running sum reaches r
      (all weights 0: the first record). So the first record gets one chance more and the
      last one chance less than RFC 2782's ``weight/sum``, and a leading weight-0 record is
      drawn with probability 1/sum.
    """
    listed: list[int] = []
    for i, rec in enumerate(records):
        at = next((k for k, j in enumerate(listed)
                   if rec.priority <= records[j].priority), len(listed))
        listed.insert(at, i)
    groups: list[list[int]] = []
    for i in listed:
        if groups and records[groups[-1][0]].priority == records[i].priority:
            groups[-1].append(i)
        else:
            groups.append([i])
    if all(len(g) == 1 for g in groups):
        return listed
    out: list[int] = []
    for group in groups:
        if len(group) == 1:
            continue  # a lone record of its priority: dropped
        same = [group[0]]
        for i in group[1:]:
            if records[i].weight == 0:
                same.insert(0, i)
            else:
                same.append(i)
        while same:
            total = sum(records[i].weight for i in same)
            pick = same[0]
            if total:
                r = int(rng.integers(0, total))
                running = 0
                for i in same:
                    running += records[i].weight
                    if r <= running:
                        pick = i
                        break
            out.append(pick)
            same.remove(pick)
    return out


def belle_sip_locate(uri: str, lookup: Lookup, rng: np.random.Generator, *,
                     families: Sequence[str] = ("ipv6", "ipv4"),
                     notes: list[str] | None = None) -> list[StackTarget]:
    """Where belle-sip 5.1 (linphone 5.1's ``linphonec``, an account without proxy) sends a
    request for ``uri``, in order.

    * No NAPTR at all (RFC 3263 s4.1 asks for it).
    * The transport is the URI's ``transport=`` (UDP by default); ``sips:`` is sent as
      ``sip:`` over UDP (the Request-URI loses the ``s``; RFC 3261 s26.2.2 wants TLS).
    * A port: the host's AAAA then A records, no SRV (as RFC 3263 s4.2).
    * Otherwise SRV for that transport (``_sip._udp``, ``_sip._tcp``, ``_sips._tcp`` for TLS),
      the host's AAAA and A records asked in parallel as the fallback.
    * SRV records in :func:`belle_sip_srv_order` (a lone record of its priority dropped);
      each target's AAAA records then A records (``families``: what the host can reach; IPv6
      first, no RFC 6724 sorting), on the SRV port; a target without address passed over.
    * No SRV, or no SRV target with an address: the host's own AAAA then A records (the
      fallback asked in parallel), on 5060 (5061 for TLS) -- also for a lone "." target,
      after its address lookup times out (about 15 s here), where RFC 2782 says "no service".
    * Not in the model (it resolves once, statelessly): linphone keeps a channel per host and
      reuses it -- after a request to ``sip:x@host`` resolved through SRV, a later
      ``sip:x@host:5070`` goes to that channel's SRV target and port, not to the host's A
      record on 5070 (measured).
    * A numeric host: that address, no DNS.
    """
    notes = notes if notes is not None else []
    scheme, named, host, port = _split_uri(uri)
    tp = named or "udp"
    if scheme == "sips" and named is None:
        notes.append("sips: sent as sip: over UDP")
    if tp not in _SRV_PREFIX:
        notes.append(f"transport={tp}: no such transport in belle-sip")
        return []
    try:
        ipaddress.ip_address(host)
        return [StackTarget(tp, host, port or _DEFAULT_PORT[tp], host)]
    except ValueError:
        pass
    order = [f for f in ("ipv6", "ipv4") if f in families]

    def addresses(name: str) -> list[str]:
        found: list[str] = []
        for family in order:
            found += _addresses(lookup, name, (family,))
        return found

    if port is not None:
        return [StackTarget(tp, a, port, host) for a in addresses(host)]
    records = _srvs(lookup, _SRV_PREFIX[tp] + host)
    targets: list[StackTarget] = []
    kept = belle_sip_srv_order(records, rng)
    if len(kept) < len(records):
        notes.append(f"{len(records) - len(kept)} SRV record(s) alone in their priority dropped")
    for i in kept:
        rec = records[i]
        if rec.target in (".", ""):
            continue
        targets += [StackTarget(tp, a, rec.port, rec.target.rstrip("."))
                    for a in addresses(rec.target)]
    if targets:
        return targets
    return [StackTarget(tp, a, _DEFAULT_PORT[tp], host) for a in addresses(host)]


__all__ = ["LIBRE_TRANSPORTS", "StackTarget", "belle_sip_locate", "belle_sip_srv_order",
           "libre_caller_key", "libre_hash", "libre_locate", "libre_sort_key"]
