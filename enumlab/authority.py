"""Authoritative answers from zone files: the logic behind the embedded server, without sockets.

Zones are BIND-format files read with dnspython's parser. Answers follow RFC 1034 section 4.3.2
and RFC 4592 for wildcards exactly:

* a name *exists* if it owns records or has descendants that do (an *empty non-terminal*);
* a query for an existing name is answered from that name (NODATA if it has no such type);
  a wildcard never answers for a name that exists -- an empty non-terminal blocks it;
* otherwise the *closest encloser* is the longest existing ancestor; if ``*.<closest encloser>``
  exists it is the *source of synthesis* and answers with the query name as owner
  (RFC 4592 section 3.3.1), else the answer is NXDOMAIN;
* CNAMEs are followed inside the served zones; names at or below a zone cut get a referral;
* negative answers carry the zone's SOA (RFC 2308 section 3).

That is why the seed blog's "ported number" exception +61255502345 takes other numbers out of
its wildcard block with it: ``5.4.3.2.0...`` creates the empty non-terminals ``4.3.2.0...`` and
``3.2.0...``, so +6125550234x and +612555023xx stop matching ``*.2.0.5.5.5.2.1.6.e164.arpa.``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

from .errors import ZoneError
from .lookup import Answer, Exchange
from .wire import answer_from_message

ZONE_SUFFIXES = (".zone", ".db")
CLASSIC_UDP_LIMIT = 512  # RFC 1035 section 4.2.1
DEFAULT_MAX_UDP = 4096
_MAX_CNAME_CHAIN = 8


@dataclass
class ServedZone:
    """One loaded zone plus the indexes answers need."""

    zone: dns.zone.Zone
    path: Path | None
    existing: set[dns.name.Name] = field(default_factory=set)
    cuts: set[dns.name.Name] = field(default_factory=set)

    @property
    def origin(self) -> dns.name.Name:
        assert self.zone.origin is not None
        return self.zone.origin

    def __post_init__(self) -> None:
        origin = self.origin
        for name, node in self.zone.nodes.items():
            if not len(node.rdatasets):
                continue
            walk = name
            while True:
                self.existing.add(walk)
                if walk == origin:
                    break
                walk = walk.parent()
            if name != origin and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS):
                self.cuts.add(name)

    def soa_rrset(self) -> dns.rrset.RRset:
        rds = self.zone.find_rdataset(self.origin, dns.rdatatype.SOA)
        ttl = min(rds.ttl, rds[0].minimum)  # RFC 2308 section 3
        rrset = dns.rrset.RRset(self.origin, dns.rdataclass.IN, dns.rdatatype.SOA)
        rrset.update(rds)  # type: ignore[no-untyped-call]
        rrset.ttl = ttl
        return rrset


def load_zone(path: str | Path) -> ServedZone:
    """Load one BIND zone file; origin from ``$ORIGIN`` or else from the file name."""
    path = Path(path)
    if not path.is_file():
        raise ZoneError(f"zone file {path} does not exist", subject=str(path))
    stem = path.name
    for suffix in ZONE_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    try:
        try:
            zone = dns.zone.from_file(str(path), origin=None, relativize=False)
        except dns.zone.UnknownOrigin:
            zone = dns.zone.from_file(str(path), origin=stem + ".", relativize=False)
    except dns.exception.DNSException as exc:
        raise ZoneError(f"zone file {path}: {exc}", subject=str(path)) from exc
    except OSError as exc:
        raise ZoneError(f"zone file {path}: {exc}", subject=str(path)) from exc
    return ServedZone(zone, path)


def zone_files(directory: str | Path) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        raise ZoneError(f"zone directory {directory} does not exist", subject=str(directory))
    files = sorted(p for p in directory.iterdir() if p.name.endswith(ZONE_SUFFIXES))
    if not files:
        raise ZoneError(f"no *.zone or *.db files in {directory}", subject=str(directory))
    return files


class Authority:
    """Answers DNS queries authoritatively from a set of zones; never recurses."""

    def __init__(self, zones: Iterable[ServedZone], *, max_udp_size: int = DEFAULT_MAX_UDP):
        self.zones = sorted(zones, key=lambda z: len(z.origin), reverse=True)
        origins = [z.origin for z in self.zones]
        if len(set(origins)) != len(origins):
            raise ZoneError("two zone files have the same origin",
                            subject=[str(o) for o in origins])
        self.max_udp_size = max(CLASSIC_UDP_LIMIT, max_udp_size)

    @classmethod
    def from_directory(cls, directory: str | Path, *, max_udp_size: int = DEFAULT_MAX_UDP
                       ) -> Authority:
        return cls((load_zone(p) for p in zone_files(directory)), max_udp_size=max_udp_size)

    def zone_for(self, qname: dns.name.Name) -> ServedZone | None:
        for zone in self.zones:
            if qname.is_subdomain(zone.origin):
                return zone
        return None

    # -- answering -------------------------------------------------------------------------

    def _resolve(self, response: dns.message.Message, qname: dns.name.Name, qtype: int) -> None:
        """Fill ``response`` for one question (RFC 1034 s4.3.2 with RFC 4592 wildcards)."""
        for _ in range(_MAX_CNAME_CHAIN):
            zone = self.zone_for(qname)
            if zone is None:
                if not response.answer:
                    response.set_rcode(dns.rcode.REFUSED)
                return
            cut = self._cut_at_or_above(zone, qname, qtype)
            if cut is not None:
                response.flags &= ~dns.flags.AA
                ns = zone.zone.find_rdataset(cut, dns.rdatatype.NS)
                response.authority.append(_rrset(cut, ns))
                for rd in ns:
                    for glue_type in (dns.rdatatype.A, dns.rdatatype.AAAA):
                        glue = zone.zone.get_rdataset(rd.target, glue_type)
                        if glue is not None:
                            response.additional.append(_rrset(rd.target, glue))
                return
            node_name = qname
            if qname not in zone.existing:
                encloser = qname.parent()
                while encloser not in zone.existing:
                    encloser = encloser.parent()
                node_name = dns.name.Name((b"*",)).concatenate(encloser)
                if node_name not in zone.existing or zone.zone.get_node(node_name) is None:
                    response.set_rcode(dns.rcode.NXDOMAIN)
                    response.authority.append(zone.soa_rrset())
                    return
            node = zone.zone.get_node(node_name)
            if node is None:  # empty non-terminal
                response.authority.append(zone.soa_rrset())
                return
            if qtype == dns.rdatatype.ANY:
                for rds in node.rdatasets:
                    response.answer.append(_rrset(qname, rds))
                return
            rds = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RdataType.make(qtype))
            if rds is not None:
                response.answer.append(_rrset(qname, rds))
                return
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None:
                response.authority.append(zone.soa_rrset())  # NODATA
                return
            response.answer.append(_rrset(qname, cname))
            qname = cname[0].target
        response.set_rcode(dns.rcode.SERVFAIL)

    @staticmethod
    def _cut_at_or_above(zone: ServedZone, qname: dns.name.Name, qtype: int
                         ) -> dns.name.Name | None:
        if not zone.cuts:
            return None
        walk = qname
        found = None
        while walk != zone.origin:
            if walk in zone.cuts and not (walk == qname and qtype == dns.rdatatype.DS):
                found = walk
            walk = walk.parent()
        return found

    def respond(self, query: dns.message.Message) -> dns.message.Message:
        """Build the full (untruncated) response to a parsed query."""
        response = dns.message.make_response(query, our_payload=self.max_udp_size)
        response.flags |= dns.flags.AA
        response.flags &= ~dns.flags.RA
        if query.opcode() != dns.opcode.QUERY:
            response.flags &= ~dns.flags.AA
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(query.question) != 1:
            response.flags &= ~dns.flags.AA
            response.set_rcode(dns.rcode.FORMERR)
            return response
        if query.edns > 0:
            response.flags &= ~dns.flags.AA
            response.set_rcode(dns.rcode.BADVERS)
            return response
        question = query.question[0]
        if question.rdclass != dns.rdataclass.IN or question.rdtype in (
            dns.rdatatype.AXFR, dns.rdatatype.IXFR,
        ):
            response.flags &= ~dns.flags.AA
            response.set_rcode(dns.rcode.REFUSED)
            return response
        self._resolve(response, question.name, question.rdtype)
        if response.rcode() == dns.rcode.REFUSED:
            response.flags &= ~dns.flags.AA
        return response

    def udp_limit(self, query: dns.message.Message) -> int:
        """Largest UDP response allowed: 512 without EDNS0 (RFC 1035 s4.2.1); with EDNS0 the
        client's payload size, at least 512 (RFC 6891 s6.2.5), at most our own maximum."""
        if query.edns < 0:
            return CLASSIC_UDP_LIMIT
        return max(CLASSIC_UDP_LIMIT, min(query.payload, self.max_udp_size))

    def handle_wire(self, wire: bytes, *, udp: bool) -> bytes | None:
        """Answer one query in wire form; None when no answer must be sent."""
        if len(wire) < 12:
            return None
        qid, qflags = struct.unpack("!HH", wire[:4])
        if qflags & dns.flags.QR:
            return None  # never answer a response
        try:
            query = dns.message.from_wire(wire)
        except dns.message.ShortHeader:
            return None
        except (dns.exception.DNSException, ValueError, IndexError):
            return _formerr(qid, qflags)
        response = self.respond(query)
        full = response.to_wire(max_size=65535)
        if not udp:
            return full
        limit = self.udp_limit(query)
        if len(full) <= limit:
            return full
        # RFC 1035 s4.1.1 / RFC 2181 s9: set TC when the answer does not fit. BIND 9.18 fills
        # the message with the records that fit; enumlab sends header + question only. Both are
        # legal, and a client must not use a truncated RRset either way: it retries over TCP.
        response.answer.clear()
        response.authority.clear()
        response.additional.clear()
        response.flags |= dns.flags.TC
        return response.to_wire(max_size=limit)


def _rrset(owner: dns.name.Name, rds: dns.rdataset.Rdataset) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(owner, rds.rdclass, rds.rdtype)
    rrset.update(rds)  # type: ignore[no-untyped-call]
    return rrset


def _formerr(qid: int, qflags: int) -> bytes:
    opcode_bits = qflags & 0x7800
    flags = dns.flags.QR | opcode_bits | (qflags & dns.flags.RD) | dns.rcode.FORMERR
    return struct.pack("!HHHHHH", qid, flags, 0, 0, 0, 0)


class ZoneLookup:
    """A :class:`~enumlab.lookup.Lookup` answered from an :class:`Authority` in memory."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority

    def query(self, name: str, rdtype: str) -> Answer:
        query = dns.message.make_query(name, rdtype)
        response = self.authority.respond(query)
        exchange = Exchange("zone", "zone", 0, 0, False, 0.0)
        return answer_from_message(response, name, rdtype, (exchange,))

