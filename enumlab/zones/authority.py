"""Authoritative answers from zone files: the logic behind the embedded server, without sockets.

Zones are BIND-format files read by :mod:`enumlab.zones.zonefile`. Answers follow RFC 1034 section
4.3.2 and RFC 4592 for wildcards exactly:

* a name *exists* if it owns records or has descendants that do (an *empty non-terminal*);
* a query for an existing name is answered from that name (NODATA if it has no such type);
  a wildcard never answers for a name that exists -- an empty non-terminal blocks it;
* otherwise the *closest encloser* is the longest existing ancestor; if ``*.<closest encloser>``
  exists it is the *source of synthesis* (RFC 4592 s3.3.1) and answers with the query name as
  owner; a source of synthesis that is itself an empty non-terminal (it exists only because
  ``x.*.<ce>`` does) gives NODATA, as BIND does (RFC 4592 s4.9); with no wildcard, NXDOMAIN;
* CNAMEs are followed inside the served zones; names at or below a zone cut get a referral;
* negative answers carry the zone's SOA with TTL min(SOA TTL, MINIMUM) (RFC 2308 s3).

That is why the seed blog's "ported number" exception +61255502345 takes other numbers out of
its wildcard block with it: ``5.4.3.2.0...`` creates the empty non-terminals ``4.3.2.0...`` and
``3.2.0...``, so +6125550234x and +612555023xx stop matching ``*.2.0.5.5.5.2.1.6.e164.arpa.``.

**Speed.** Answers are rendered to wire form once and reused. A rendered answer depends on the
question only through its length, so one template per (source of synthesis, type) serves every
number under a wildcard: names in the answer are compressed only against the part of the query
name all those numbers share. The fast path parses a plain query (one question, class IN, at most
an OPT record) without building a message object; anything else takes the dnspython path. Both
paths share :meth:`Authority.resolve` and the renderer, so they cannot disagree.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import RegexpError, ZoneError
from ..resolve.lookup import Answer, Exchange
from .zonefile import (
    ZoneFileReader,
    ZoneRecord,
    is_meta_type,
    is_subdomain,
    name_to_wire,
    rdata_to_wire,
    type_code,
    type_text,
    wire_to_text,
)

if TYPE_CHECKING:
    import dns.message
    import dns.rcode

ZONE_SUFFIXES = (".zone", ".db")
CLASSIC_UDP_LIMIT = 512  # RFC 1035 section 4.2.1
DEFAULT_MAX_UDP = 4096
MAX_MESSAGE = 65535  # RFC 1035 s4.2.2: the TCP length field
DEFAULT_CACHE_BYTES = 8 * 1024 * 1024
_MAX_CNAME_CHAIN = 8
_ROOT = b"\x00"
_WILD = b"\x01*"
_SOA, _NS, _CNAME, _A, _AAAA, _MX, _PTR, _DS, _OPT = 6, 2, 5, 1, 28, 15, 12, 43, 41
_NAPTR = 35
_ANY, _AXFR, _IXFR = 255, 252, 251
_SINGLETON = frozenset({_SOA, _CNAME})  # types of which a name holds at most one record
# Question types the fast path leaves to the full path: meta and query-only types
# (RFC 6895 s3.1: 128-255 and OPT), and DS, whose answer is on the parent side of a cut.
# EDNS options whose content decides the answer's RCODE: ECS (8, RFC 7871 s7.1.2: FORMERR
# for an unknown family or a bad prefix) and COOKIE (10, RFC 7873 s5.2.2: FORMERR when the
# length is not 8 or 16..40)
_CHECKED_OPTIONS = frozenset({8, 10})
_FAST_EXCLUDED = frozenset({0, _OPT, _DS, *range(128, 256)})
_Q1 = b"\x00\x01\x00\x00\x00\x00\x00\x00"
_Q1_OPT = b"\x00\x01\x00\x00\x00\x00\x00\x01"

log = logging.getLogger("enumlab.lab.server")


@dataclass(slots=True)
class RRset:
    """The records of one type at one owner; rdata in uncompressed wire form."""

    owner: bytes  # wire form, case as in the zone file
    rdtype: int
    ttl: int
    rdatas: list[bytes]
    line: int = 0
    lines: list[int] | None = None  # each rdata's line, kept only when asked (zone checks)

    @property
    def size(self) -> int:
        """Bytes these records take in an answer whose owner is compressed to a pointer."""
        return sum(12 + len(rd) for rd in self.rdatas)


@dataclass
class ServedZone:
    """One loaded zone plus the indexes answers need (names in lower-case wire form)."""

    origin_wire: bytes
    path: Path | None
    nodes: dict[bytes, dict[int, RRset]] = field(default_factory=dict)
    existing: set[bytes] = field(default_factory=set)
    cuts: set[bytes] = field(default_factory=set)
    soa: RRset | None = None
    serve_invalid_naptr: bool = False  # the file says so (zonefile.SERVE_INVALID_NAPTR)

    @property
    def origin(self) -> str:
        """The origin in text form, e.g. ``e164.arpa.``."""
        return wire_to_text(self.origin_wire)

    @classmethod
    def from_records(cls, origin: bytes, records: Iterable[ZoneRecord],
                     path: Path | None = None, *, keep_lines: bool = False) -> ServedZone:
        zone = cls(origin.lower(), path)
        zone._build(records, keep_lines)
        return zone

    def _build(self, records: Iterable[ZoneRecord], keep_lines: bool = False) -> None:
        origin = self.origin_wire
        nodes = self.nodes
        where = str(self.path) if self.path else "zone"
        sets: dict[int, set[bytes]] = {}
        for rec in records:
            key = rec.owner.lower()
            node = nodes.get(key)
            if node is None:
                if not is_subdomain(key, origin):
                    raise ZoneError(
                        f"zone file {rec.file} line {rec.line}: {wire_to_text(rec.owner)} is "
                        f"outside the zone {self.origin}", subject=f"{rec.file}:{rec.line}")
                node = nodes[key] = {}
            if rec.rdtype == _SOA and key != origin:
                # named: "SOA record not at top of zone" (RFC 1035 s5.2: one SOA, at the top)
                raise ZoneError(f"zone file {rec.file} line {rec.line}: SOA record at "
                                f"{wire_to_text(rec.owner)}, not at the top of the zone "
                                f"{self.origin} (RFC 1035 s5.2)",
                                subject=f"{rec.file}:{rec.line}")
            rrset = node.get(rec.rdtype)
            if rrset is None:
                node[rec.rdtype] = RRset(rec.owner, rec.rdtype, rec.ttl, [rec.rdata], rec.line,
                                         [rec.line] if keep_lines else None)
            else:
                if rec.rdtype in _SINGLETON and rec.rdata not in rrset.rdatas:
                    # as BIND's loader: the second record of a singleton type is the error
                    raise ZoneError(f"zone file {rec.file} line {rec.line}: "
                                    f"{wire_to_text(rec.owner)} has more than one "
                                    f"{type_text(rec.rdtype)} record (RFC 1034 s3.6.2, RFC "
                                    "1035 s5.2)", subject=f"{rec.file}:{rec.line}")
                # RFC 2181 s5: an RRset holds no duplicates; s5.2: one TTL (the lowest wins,
                # as dnspython and BIND's loader do). A set per big RRset keeps this linear.
                seen = sets.get(id(rrset))
                if seen is None:
                    seen = sets[id(rrset)] = set(rrset.rdatas)
                if rec.rdata not in seen:
                    seen.add(rec.rdata)
                    rrset.rdatas.append(rec.rdata)
                    if rrset.lines is not None:
                        rrset.lines.append(rec.line)
                rrset.ttl = min(rrset.ttl, rec.ttl)
        apex = nodes.get(origin)
        if apex is None or _SOA not in apex:
            raise ZoneError(f"{where}: no SOA record at the zone apex {self.origin}",
                            subject=where)
        if len(apex[_SOA].rdatas) != 1:
            raise ZoneError(f"{where}: more than one SOA record at {self.origin}", subject=where)
        if _NS not in apex:
            raise ZoneError(f"{where}: no NS record at the zone apex {self.origin}",
                            subject=where)
        soa = apex[_SOA]
        minimum = struct.unpack("!I", soa.rdatas[0][-4:])[0]
        self.soa = RRset(soa.owner, _SOA, min(soa.ttl, minimum), soa.rdatas)  # RFC 2308 s3
        existing = self.existing
        for key, node in nodes.items():
            if _CNAME in node and len(node) > 1:
                other = next(t for t in node if t != _CNAME)
                # the later of the two lines, where BIND's loader meets the conflict
                line = max(node[_CNAME].line, node[other].line)
                raise ZoneError(
                    f"zone file {where} line {line}: {wire_to_text(key)} has a "
                    f"CNAME and other data ({type_text(other)}) (RFC 1034 s3.6.2)",
                    subject=f"{where}:{line}")
            for rrset in node.values():
                # An answer that cannot fit one DNS message (65,535 bytes, RFC 1035 s4.2.2)
                # can never be sent: refuse the zone, as BIND refuses it at load.
                if 12 + 259 + rrset.size > MAX_MESSAGE:
                    raise ZoneError(
                        f"zone file {where} line {rrset.line}: the {len(rrset.rdatas)} "
                        f"{type_text(rrset.rdtype)} records at {wire_to_text(key)} need "
                        f"{rrset.size:,} bytes in one answer; a DNS message holds at most "
                        f"65,535 (RFC 1035 s4.2.2)", subject=f"{where}:{rrset.line}")
            if key != origin and _NS in node:
                self.cuts.add(key)
            walk = key
            while walk not in existing:
                existing.add(walk)
                if walk == origin:
                    break
                walk = walk[walk[0] + 1 :]

    def cut_above(self, qname: bytes, qtype: int) -> bytes | None:
        """The highest zone cut at or above ``qname`` (not ``qname`` itself for DS)."""
        if not self.cuts:
            return None
        found = None
        walk = qname
        origin = self.origin_wire
        while walk != origin:
            if walk in self.cuts and not (walk == qname and qtype == _DS):
                found = walk
            walk = walk[walk[0] + 1 :]
        return found


def named_refusal(zone: ServedZone) -> ZoneError | None:
    """The first thing in a loaded zone for which named refuses to load it, or None.

    Kept apart from loading so ``zone check`` can report each as a finding of its own rule
    (``ns-no-address``, ``ns-cname``, ``naptr-regexp-invalid``) while ``serve`` refuses:

    * an apex NS whose target is in the zone (not below a delegation) and has no A/AAAA --
      named-checkzone: "NS 'x' has no address records (A or AAAA)" (RFC 1034 s4.2.1) -- or is
      a CNAME ("is a CNAME (illegal)", RFC 2181 s10.3). A wildcard answering it counts.
    * a NAPTR REGEXP that named's validator rejects (RFC 3402 s3.2: delimiter, ERE, flags,
      back-references within the groups). named accepts an unbalanced ``)`` and a Perl
      ``\\d`` (literals to its ERE check), so enumlab loads those too; ``zone check`` still
      flags them. A zone whose file holds the line ``; enumlab: serve-invalid-naptr`` is
      served with them (the lab's zone of broken records, there to be skipped by clients).
    """
    from ..core.naptr_regexp import SubstitutionExpression

    where = str(zone.path) if zone.path else "zone"
    origin = zone.origin_wire
    apex = zone.nodes.get(origin, {})
    ns = apex.get(_NS)
    for rdata in ns.rdatas if ns else ():
        target = rdata.lower()
        if not is_subdomain(target, origin) or zone.cut_above(target, _A) is not None:
            continue
        node = zone.nodes.get(target)
        line = ns.line if ns else 0
        text = wire_to_text(target)
        if node is not None and _CNAME in node:
            return ZoneError(f"zone file {where} line {line}: NS {text} is a CNAME "
                             "(RFC 2181 s10.3; named: illegal)", subject=f"{where}:{line}")
        if node is None and target not in zone.existing:
            walk = target
            while walk not in zone.existing and walk != origin:
                walk = walk[walk[0] + 1:]
            node = zone.nodes.get(_WILD + walk)
        if node is None or (_A not in node and _AAAA not in node):
            return ZoneError(f"zone file {where} line {line}: NS {text} is in the zone and has "
                             "no address records (A or AAAA): named refuses the zone "
                             "(RFC 1034 s4.2.1)", subject=f"{where}:{line}")
    for node in () if zone.serve_invalid_naptr else zone.nodes.values():
        naptr = node.get(_NAPTR)
        if naptr is None:
            continue
        for rdata in naptr.rdatas:
            regexp = _naptr_regexp(rdata)
            if not regexp:
                continue
            try:
                SubstitutionExpression.parse(_escape_stray_close(regexp))
            except RegexpError as exc:
                if "Perl-style" in str(exc):
                    continue
                line = naptr.line
                return ZoneError(f"zone file {where} line {line}: NAPTR at "
                                 f"{wire_to_text(naptr.owner)}: {exc} (named refuses it: "
                                 "syntax error)", subject=f"{where}:{line}")
    return None


def _escape_stray_close(regexp: str) -> str:
    """The regexp with each ``)`` that closes no group escaped: named's ERE check reads it as
    a literal (and still counts the groups for the back-references after it)."""
    if len(regexp) < 2 or ")" not in regexp:
        return regexp
    delim = regexp[0]
    out, depth, i = [delim], 0, 1
    while i < len(regexp):
        ch = regexp[i]
        if ch == "\\" and i + 1 < len(regexp):
            out.append(regexp[i:i + 2])
            i += 2
            continue
        if ch == delim:
            return "".join(out) + regexp[i:]
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                out.append("\\)")
                i += 1
                continue
            depth -= 1
        out.append(ch)
        i += 1
    return "".join(out)


def _naptr_regexp(rdata: bytes) -> str:
    """The REGEXP field of a NAPTR rdata (RFC 3403 s4.1), bounds checked."""
    at = 4
    for _ in range(2):  # FLAGS, SERVICES
        if at >= len(rdata):
            return ""
        at += 1 + rdata[at]
    if at >= len(rdata):
        return ""
    return rdata[at + 1: at + 1 + rdata[at]].decode("utf-8", "surrogateescape")


def load_zone(path: str | Path, *, allow_include_outside: bool = False,
              progress: bool | None = None, keep_lines: bool = False,
              strict: bool = True) -> ServedZone:
    """Load one BIND zone file; origin from ``$ORIGIN`` or else from the file name.

    ``strict`` (the default, what ``serve`` uses) also refuses what :func:`named_refusal`
    finds; ``zone check`` loads with ``strict=False`` and reports those as findings."""
    path = Path(path)
    stem = path.name
    for suffix in ZONE_SUFFIXES:
        stem = stem.removesuffix(suffix)
    # the file name gives the origin until a $ORIGIN says otherwise (as named-checkzone)
    reader = ZoneFileReader(path, stem + ".", allow_include_outside=allow_include_outside,
                            progress=progress)
    records = reader.read()
    origin = reader.origin
    if origin is None:
        raise ZoneError(f"zone file {path}: no origin", subject=str(path))
    zone = ServedZone.from_records(origin, records, path, keep_lines=keep_lines)
    zone.serve_invalid_naptr = reader.serve_invalid_naptr
    if strict and (refusal := named_refusal(zone)) is not None:
        raise refusal
    return zone


def zone_files(directory: str | Path) -> list[Path]:
    directory = Path(directory)
    if not directory.exists():
        raise ZoneError(f"zone directory {directory} does not exist", subject=str(directory))
    if not directory.is_dir():
        raise ZoneError(f"{directory} is a file, not a zone directory", subject=str(directory))
    files = sorted(p for p in directory.iterdir() if p.name.endswith(ZONE_SUFFIXES))
    if not files:
        raise ZoneError(f"no *.zone or *.db files in {directory}", subject=str(directory))
    return files


@dataclass(frozen=True, slots=True)
class Resolution:
    """What to answer to one question, independent of the query's id, case and EDNS.

    ``key`` names every question that gets this same answer (one exact name, or every name a
    wildcard synthesises for); ``shared`` is the name suffix all those questions have, the
    only part of the question the renderer may compress against. Owner ``None`` stands for
    the query name itself.
    """

    key: tuple[object, ...]
    rcode: int
    aa: bool
    answer: tuple[tuple[bytes | None, RRset], ...]
    authority: tuple[tuple[bytes | None, RRset], ...]
    additional: tuple[tuple[bytes | None, RRset], ...]
    shared: bytes


@dataclass(frozen=True, slots=True)
class Rendered:
    """A response in wire form minus ID and question: header words and the sections."""

    heads: tuple[bytes, ...]  # flags + counts, for each (RD, CD) copied from the query
    rest: bytes
    tc_heads: tuple[bytes, ...]
    tc_rest: bytes

    @property
    def size(self) -> int:
        return len(self.rest) + len(self.tc_rest) + 64


class Authority:
    """Answers DNS queries authoritatively from a set of zones; never recurses."""

    def __init__(self, zones: Iterable[ServedZone], *, max_udp_size: int = DEFAULT_MAX_UDP,
                 cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.zones = sorted(zones, key=lambda z: len(z.origin_wire), reverse=True)
        origins = [z.origin_wire for z in self.zones]
        if len(set(origins)) != len(origins):
            raise ZoneError("two zone files have the same origin",
                            subject=[z.origin for z in self.zones])
        self.max_udp_size = min(MAX_MESSAGE, max(CLASSIC_UDP_LIMIT, max_udp_size))
        self._by_origin = {z.origin_wire: z for z in self.zones}
        self._names = self._index_names()
        self._opt = b"\x00" + struct.pack("!HHIH", _OPT, self.max_udp_size, 0, 0)
        self._opt_do = b"\x00" + struct.pack("!HHIH", _OPT, self.max_udp_size, 0x8000, 0)
        self.cache_bytes = cache_bytes
        self._questions: dict[tuple[bytes, int, int], Rendered] = {}
        self._templates: dict[tuple[object, int, int], Rendered] = {}
        self._cached_bytes = 0
        self._cache_lock = threading.Lock()

    @classmethod
    def from_directory(cls, directory: str | Path, *, max_udp_size: int = DEFAULT_MAX_UDP,
                       allow_include_outside: bool = False, progress: bool | None = None,
                       cache_bytes: int = DEFAULT_CACHE_BYTES) -> Authority:
        return cls((load_zone(p, allow_include_outside=allow_include_outside, progress=progress)
                    for p in zone_files(directory)), max_udp_size=max_udp_size,
                   cache_bytes=cache_bytes)

    # -- resolution (RFC 1034 s4.3.2, RFC 4592) ----------------------------------------------

    def _index_names(self) -> dict[bytes, ServedZone]:
        """Every existing name (owners, empty non-terminals, apexes) -> the zone answering for
        it: one walk up from a query name then finds its zone and closest encloser at once."""
        names: dict[bytes, ServedZone] = {}
        origins = self._by_origin
        nested = any(is_subdomain(a, b) for a in origins for b in origins if a != b)
        for zone in reversed(self.zones):  # shallow first: deeper zones overwrite
            for name in zone.existing:
                if nested and self._deepest_origin(name) is not zone:
                    continue  # e.g. glue below a served child zone's apex
                names[name] = zone
        return names

    def _deepest_origin(self, qname: bytes) -> ServedZone | None:
        walk = qname
        while walk:
            zone = self._by_origin.get(walk)
            if zone is not None:
                return zone
            if walk == _ROOT or walk[0] > 63:
                return None
            walk = walk[walk[0] + 1 :]
        return None

    def _locate(self, qname: bytes) -> tuple[ServedZone, bytes] | None:
        """(zone, closest existing name at or above ``qname``); None outside our zones or for
        a name that is not well formed (a label over 63 bytes)."""
        names = self._names
        walk = qname
        while walk:
            zone = names.get(walk)
            if zone is not None:
                return zone, walk
            if walk == _ROOT or walk[0] > 63:
                return None
            walk = walk[walk[0] + 1 :]
        return None

    def zone_for(self, qname: bytes) -> ServedZone | None:
        """The deepest served zone holding ``qname`` (lower-case wire); None if none."""
        found = self._locate(qname)
        return found[0] if found else None

    def resolve(self, qname: bytes, qtype: int) -> Resolution | None:
        """The answer to ``qname``/``qtype`` (lower-case wire name); None outside our zones."""
        found = self._locate(qname)
        if found is None:
            return None
        zone, encloser = found
        answer: list[tuple[bytes | None, RRset]] = []
        first_key: tuple[object, ...] | None = None
        shared = qname
        owner: bytes | None = None  # None: the query name itself
        for _ in range(_MAX_CNAME_CHAIN):
            cut = zone.cut_above(qname, qtype)
            if cut is not None:
                ns = zone.nodes[cut][_NS]
                glue = []
                for rd in ns.rdatas:
                    target = rd.lower()
                    node = zone.nodes.get(target)
                    if node is not None and is_subdomain(target, zone.origin_wire):
                        glue += [(target, node[t]) for t in (_A, _AAAA) if t in node]
                key = first_key or ("referral", zone.origin_wire, cut)
                return Resolution(key, 0, False, tuple(answer), ((cut, ns),), tuple(glue),
                                  shared if first_key else cut)
            node_name = qname
            if encloser != qname:
                node_name = _WILD + encloser
                if node_name not in zone.existing:
                    assert zone.soa is not None
                    key = first_key or ("nxdomain", zone.origin_wire)
                    return Resolution(key, 3, True, tuple(answer),
                                      ((zone.origin_wire, zone.soa),), (),
                                      shared if first_key else zone.origin_wire)
                if first_key is None:
                    first_key, shared = ("wildcard", node_name, qtype), encloser
            elif first_key is None:
                first_key = ("name", qname, qtype)
            node = zone.nodes.get(node_name)
            if node is None:  # an empty non-terminal, or a wildcard that is one: NODATA
                key = first_key if answer else ("nodata", zone.origin_wire)
                return self._nodata(zone, key, answer, shared if answer else zone.origin_wire)
            if qtype == _ANY:
                answer += [(owner, rrset) for rrset in node.values()]
                return Resolution(first_key, 0, True, tuple(answer), (), (), shared)
            rrset = node.get(qtype)
            if rrset is not None:
                answer.append((owner, rrset))
                return Resolution(first_key, 0, True, tuple(answer), (), (), shared)
            cname = node.get(_CNAME)
            if cname is None:
                key = first_key if answer else ("nodata", zone.origin_wire)
                return self._nodata(zone, key, answer, shared if answer else zone.origin_wire)
            answer.append((owner, cname))
            qname = cname.rdatas[0].lower()
            owner = qname
            located = self._locate(qname)
            if located is None:
                return Resolution(first_key, 0, True, tuple(answer), (), (), shared)
            zone, encloser = located
        return Resolution(first_key or ("loop",), 2, False, (), (), (), shared)

    @staticmethod
    def _nodata(zone: ServedZone, key: tuple[object, ...],
                answer: list[tuple[bytes | None, RRset]], shared: bytes) -> Resolution:
        assert zone.soa is not None
        return Resolution(key, 0, True, tuple(answer), ((zone.origin_wire, zone.soa),), (),
                          shared)

    # -- rendering ---------------------------------------------------------------------------

    def render(self, res: Resolution, qlen: int, edns: int) -> Rendered:
        """Wire form of ``res`` for any query name of ``qlen`` bytes ending in ``res.shared``.

        ``edns``: 0 no OPT record, 1 an OPT, 2 an OPT with the DO bit, copied from the query
        (RFC 3225 s3: the DO bit of the query MUST be copied in the response)."""
        buf = bytearray()
        base = 12 + qlen + 4
        table: dict[bytes, int] = {}
        suffix = res.shared
        while suffix and suffix != _ROOT:
            table[suffix] = 12 + qlen - len(suffix)
            suffix = suffix[suffix[0] + 1 :]

        def name(wire: bytes) -> None:
            low = wire.lower()
            i = 0
            while low[i]:
                ptr = table.get(low[i:])
                if ptr is not None:
                    buf.extend(struct.pack("!H", 0xC000 | ptr))
                    return
                offset = base + len(buf)
                if offset < 0x3FFF:
                    table[low[i:]] = offset
                buf.extend(wire[i : i + 1 + wire[i]])
                i += 1 + wire[i]
            buf.append(0)

        def section(rrsets: tuple[tuple[bytes | None, RRset], ...]) -> int:
            count = 0
            for owner, rrset in rrsets:
                for rd in rrset.rdatas:
                    if owner is None:
                        buf.extend(b"\xc0\x0c")
                    else:
                        name(rrset.owner if owner == rrset.owner.lower() else owner)
                    buf.extend(struct.pack("!HHI", rrset.rdtype, 1, rrset.ttl))
                    at = len(buf)
                    buf.extend(b"\x00\x00")
                    kind = rrset.rdtype
                    if kind in (_NS, _CNAME, _PTR):
                        name(rd)
                    elif kind == _MX:
                        buf.extend(rd[:2])
                        name(rd[2:])
                    elif kind == _SOA:
                        mname_end = _name_end(rd, 0)
                        rname_end = _name_end(rd, mname_end)
                        name(rd[:mname_end])
                        name(rd[mname_end:rname_end])
                        buf.extend(rd[rname_end:])
                    else:
                        buf.extend(rd)
                    struct.pack_into("!H", buf, at, len(buf) - at - 2)
                    count += 1
            return count

        an = section(res.answer)
        ns = section(res.authority)
        ar = section(res.additional)
        opt = (self._opt_do if edns == 2 else self._opt) if edns else b""
        if opt:
            buf.extend(opt)
            ar += 1
        if base + len(buf) > MAX_MESSAGE:
            raise OverflowError(f"answer of {base + len(buf)} bytes exceeds 65,535")
        flags = 0x8000 | (0x0400 if res.aa else 0) | res.rcode
        bits = (0, 0x0100, 0x0010, 0x0110)  # index: RD | CD << 1
        heads = tuple(struct.pack("!HHHHH", flags | b, 1, an, ns, ar) for b in bits)
        tc_heads = tuple(struct.pack("!HHHHH", flags | 0x0200 | b, 1, 0, 0, 1 if opt else 0)
                         for b in bits)
        return Rendered(heads, bytes(buf), tc_heads, opt)

    def _remember(self, table: dict[Any, Rendered], key: object, rendered: Rendered,
                  size: int) -> None:
        """Bounded in bytes (``cache_bytes``): when full, start again, never grow."""
        if size > self.cache_bytes:
            return
        with self._cache_lock:  # UDP and TCP threads share the cache
            if self._cached_bytes + size > self.cache_bytes:
                self._questions.clear()
                self._templates.clear()
                self._cached_bytes = 0
            table[key] = rendered
            self._cached_bytes += size

    def rendered_for(self, qname: bytes, qtype: int, edns: int) -> Rendered | None:
        """The rendered answer for a question (cached); None when outside our zones."""
        qkey = (qname, qtype, edns)
        hit = self._questions.get(qkey)
        if hit is not None:
            return hit
        res = self.resolve(qname, qtype)
        if res is None:
            return None
        tkey = (res.key, len(qname), edns)
        rendered = self._templates.get(tkey)
        if rendered is None:
            rendered = self.render(res, len(qname), edns)
            self._remember(self._templates, tkey, rendered, rendered.size)
        # every question gets a direct entry: repeated names cost one dict look-up. Unique
        # names (a wildcard's numbers) fill it and it starts again: bounded, never growing.
        self._remember(self._questions, qkey, rendered, len(qname) + 250)
        return rendered

    @property
    def cached_bytes(self) -> int:
        return self._cached_bytes

    # -- queries in wire form ----------------------------------------------------------------

    def udp_limit(self, payload: int | None) -> int:
        """Largest UDP response allowed: 512 without EDNS0 (RFC 1035 s4.2.1); with EDNS0 the
        client's payload size, at least 512 (RFC 6891 s6.2.5), at most our own maximum."""
        if payload is None:
            return CLASSIC_UDP_LIMIT
        return max(CLASSIC_UDP_LIMIT, min(payload, self.max_udp_size))

    def handle_wire(self, wire: bytes, *, udp: bool) -> bytes | None:
        """Answer one query in wire form; None when no answer must be sent.

        Never raises: a failure while answering one query gives SERVFAIL for that query and a
        log line, so one bad query cannot stop the server.
        """
        try:
            fast = self._fast(wire, udp)
            if fast is not None:
                return fast
            return self._full(wire, udp)
        except Exception as exc:
            log.warning("SERVFAIL for a %d-byte query: %s: %s", len(wire), type(exc).__name__,
                        exc)
            if len(wire) < 12 or wire[2] & 0x80:
                return None
            return _error(wire, 2, _question_bytes(wire))

    def _fast(self, wire: bytes, udp: bool) -> bytes | None:
        """Plain queries without a message object: most of the traffic, most of the speed."""
        n = len(wire)
        if n < 17 or wire[2] & 0xF8:  # a response, or an opcode other than QUERY
            return None
        counts = wire[4:12]
        if counts == _Q1:
            opt = False
        elif counts == _Q1_OPT:
            opt = True
        else:
            return None
        end = wire.find(b"\x00", 12)
        if end < 0 or end - 11 > 255 or end + 5 > n or wire[end + 3 : end + 5] != b"\x00\x01":
            return None
        qtype = (wire[end + 1] << 8) | wire[end + 2]
        if qtype in _FAST_EXCLUDED:
            return None
        qend = end + 5
        payload = None
        if opt:  # RFC 6891 s6.1.2: root owner, type OPT, CLASS = payload, TTL = ercode/ver/DO
            if (n < qend + 11 or wire[qend] or wire[qend + 1 : qend + 3] != b"\x00\x29"
                    or wire[qend + 5 : qend + 7] != b"\x00\x00"):
                return None
            if n != qend + 11 + ((wire[qend + 9] << 8) | wire[qend + 10]):
                return None
            at = qend + 11
            while at < n:  # options (RFC 6891 s6.1.2): each code, length, data, exactly
                if at + 4 > n or (wire[at] == 0 and wire[at + 1] in _CHECKED_OPTIONS):
                    return None  # ECS and COOKIE are checked by the full path
                at += 4 + ((wire[at + 2] << 8) | wire[at + 3])
            if at != n:
                return None
            payload = (wire[qend + 3] << 8) | wire[qend + 4]
            edns = 2 if wire[qend + 7] & 0x80 else 1
        elif n != qend:
            return None
        else:
            edns = 0
        qname = wire[12 : end + 1]
        rendered = self.rendered_for(qname.lower(), qtype, edns)
        if rendered is None:  # outside every zone -- or a malformed name (the full path's)
            if _question_bytes(wire) != wire[12:qend]:
                return None
            return self._refused(wire, wire[12:qend], edns)
        return self._reply(wire, wire[12:qend], rendered, udp, payload)

    def _refused(self, wire: bytes, question: bytes, edns: int) -> bytes:
        """REFUSED for a name outside every served zone (we never recurse), question echoed,
        OPT (with DO copied) when the query had one."""
        opt = (self._opt_do if edns == 2 else self._opt) if edns else b""
        return _error(wire, 5, question, opt=opt)

    def _full(self, wire: bytes, udp: bool) -> bytes | None:
        """Every query the fast path leaves: parsed by dnspython, checked, then answered.

        Odd queries get what BIND 9.18 gives them (tests/test_server_abuse.py compares the
        two on each): opcodes other than QUERY, NOTIFY and UPDATE -> NOTIMP without the
        question; NOTIFY -> NOERROR for a served zone's apex (RFC 1996 s4.7), else NOTAUTH;
        UPDATE -> REFUSED for a served zone (no updates here), else NOTAUTH, FORMERR when its zone
        section is not of type SOA (RFC 2136 s3.1.1); QDCOUNT other than
        1 -> FORMERR; a question whose records after it are broken (two OPTs, a bad option
        length, an unknown TSIG key) -> FORMERR with the question; trailing bytes after the
        last record are ignored; QCLASS ANY/NONE/0 -> FORMERR, other classes REFUSED;
        QTYPE OPT/TSIG/TKEY and the meta range 128-250 -> FORMERR, MAILA/MAILB -> NOTIMP,
        AXFR/IXFR -> REFUSED for a served zone apex, else NOTAUTH (transfers are never given).
        """
        import dns.exception
        import dns.flags
        import dns.message
        import dns.rcode

        if len(wire) < 12 or wire[2] & 0x80:
            return None  # too short for a header, or a response: never answered
        opcode = (wire[2] >> 3) & 0xF
        if opcode not in (0, 4, 5):
            return _error(wire, 4, None)  # NOTIMP
        question = _question_bytes(wire)
        if question is None:
            return _error(wire, 1, None)  # FORMERR
        if opcode == 5 and question[-2:] in (b"\x00\x00", b"\x00\xfe", b"\x00\xff"):
            return _error(wire, 1, None)  # UPDATE for a meta class: FORMERR, no zone (BIND)
        bad_option = _bad_option(wire, 12 + len(question))
        if bad_option is not None:  # FORMERR with the question (and our OPT), as BIND
            opt = {"do": self._opt_do, "opt": self._opt}.get(bad_option, b"")
            return _error(wire, 1, question, opt=opt)
        try:
            query = dns.message.from_wire(wire, ignore_trailing=True)
        except dns.message.ShortHeader:
            return None
        except (dns.exception.DNSException, ValueError, IndexError, struct.error):
            return _error(wire, 1, question)  # FORMERR, question echoed as BIND does
        if query.edns > 0:
            return self._respond(wire, query, dns.rcode.BADVERS)  # RFC 6891 s6.1.3
        qtype, qclass = struct.unpack("!HH", question[-4:])
        qname = question[:-4].lower()
        apex = qname in self._by_origin
        served = self.zone_for(qname) is not None
        rcode: int | None = None
        aa = False
        if opcode == 4:  # NOTIFY
            rcode, aa = (0, True) if apex else (9, False)
        elif opcode == 5:  # UPDATE: the zone section must name type SOA (RFC 2136 s3.1.1)
            rcode = 1 if qtype != _SOA else 5 if served else 9
        elif qclass in (0, 254, 255):
            rcode = 1
        elif qclass != 1:
            rcode = 5
        elif qtype in (_OPT, 249, 250) or 128 <= qtype <= 250:
            rcode = 1  # OPT/TSIG/TKEY and meta types are no questions (RFC 6895 s3.1)
        elif qtype in (253, 254):
            rcode = 4  # MAILB/MAILA: obsolete (RFC 883), NOTIMP as BIND
        elif qtype in (_AXFR, _IXFR):
            rcode = 5 if apex else 9
        if rcode is not None:
            return self._respond(wire, query, dns.rcode.Rcode(rcode), aa=aa)
        payload = query.payload if query.edns >= 0 else None
        edns = 0 if payload is None else 2 if query.ednsflags & dns.flags.DO else 1
        rendered = self.rendered_for(qname, qtype, edns)
        if rendered is None:
            return self._refused(wire, question, edns)
        return self._reply(wire, question, rendered, udp, payload)

    def _respond(self, wire: bytes, query: dns.message.Message, rcode: dns.rcode.Rcode, *,
                 aa: bool = False) -> bytes:
        """An answer without records, built by dnspython: question echoed, RD, CD and DO
        copied (RFC 1035 s4.1.1, RFC 4035 s3.1.6, RFC 3225 s3), our EDNS payload."""
        import dns.flags
        import dns.message

        response = dns.message.make_response(query, our_payload=self.max_udp_size)
        response.set_rcode(rcode)
        if aa:
            response.flags |= dns.flags.AA
        if query.edns >= 0 and response.edns >= 0:
            response.ednsflags |= query.ednsflags & dns.flags.DO
        data = response.to_wire()
        if wire[3] & 0x10:  # dnspython copies RD only
            data = data[:3] + bytes((data[3] | 0x10,)) + data[4:]
        return data

    def _reply(self, wire: bytes, question: bytes, rendered: Rendered, udp: bool,
               payload: int | None) -> bytes:
        flag_bits = (wire[2] & 1) | ((wire[3] & 0x10) >> 3)  # RD, CD copied (RFC 4035 s3.1.6)
        if udp and 12 + len(question) + len(rendered.rest) > self.udp_limit(payload):
            # RFC 1035 s4.1.1 / RFC 2181 s9: TC when the answer does not fit. BIND 9.18 fills
            # the message with the RRsets that fit; enumlab sends header + question (+ OPT).
            # Both are legal; a client must not use a truncated RRset either way.
            return wire[:2] + rendered.tc_heads[flag_bits] + question + rendered.tc_rest
        return wire[:2] + rendered.heads[flag_bits] + question + rendered.rest

    # -- editing ---------------------------------------------------------------------------

    def with_rrset(self, name: str, rdtype: str, rdatas: Iterable[str], *,
                   ttl: int | None = None) -> Authority:
        """A new Authority whose zones are these, with the ``rdtype`` records at ``name``
        replaced by ``rdatas`` (presentation form, e.g. ``'10 100 "u" "E2U+sip" "!^.*$!sip:a@b!"
        .'``; none removes the RRset). The TTL is the old RRset's unless given, else the
        zone's SOA minimum. Every rule of loading applies again (RFC 2181 s5, CNAME, sizes).
        This one is left as it is, so a server can swap atomically (EmbeddedServer.load)."""
        code = type_code(rdtype)
        if code is None:
            raise ZoneError(f"unknown record type {rdtype!r}", subject=rdtype)
        if is_meta_type(code):
            raise ZoneError(f"type {rdtype} is a meta type, never zone data (RFC 6895 s3.1)",
                            subject=rdtype)
        owner = name_to_wire(name if name.endswith(".") else name + ".", None,
                             lambda m: ZoneError(m, subject=name))
        zone = self._deepest_origin(owner.lower())
        if zone is None:
            raise ZoneError(f"{name} is in none of the served zones", subject=name)
        old = zone.nodes.get(owner.lower(), {}).get(code)
        keep_ttl = ttl if ttl is not None else old.ttl if old else (
            zone.soa.ttl if zone.soa else 3600)
        where = f"{name} {rdtype}"
        new = [rdata_to_wire(code, text, zone.origin_wire,
                                lambda m: ZoneError(f"{where}: {m}", subject=where))
               for text in rdatas]
        records = [ZoneRecord(rrset.owner, rrset.ttl, t, rd, rrset.line, str(zone.path))
                   for key, node in zone.nodes.items() for t, rrset in node.items()
                   if not (key == owner.lower() and t == code) for rd in rrset.rdatas]
        records += [ZoneRecord(owner, keep_ttl, code, rd, 0, "with_rrset") for rd in new]
        edited = ServedZone.from_records(zone.origin_wire, records, zone.path)
        return Authority([edited if z is zone else z for z in self.zones],
                         max_udp_size=self.max_udp_size, cache_bytes=self.cache_bytes)

    # -- in memory -------------------------------------------------------------------------

    def answer_wire(self, name: str, rdtype: str) -> bytes:
        """The full (TCP) response to ``name``/``rdtype`` in wire form, for in-memory lookups."""
        import dns.message

        query = dns.message.make_query(name, rdtype)
        query.flags = 0
        reply = self.handle_wire(query.to_wire(), udp=False)
        assert reply is not None
        return reply


def _name_end(wire: bytes, i: int) -> int:
    while wire[i]:
        i += wire[i] + 1
    return i + 1


def _question_bytes(wire: bytes) -> bytes | None:
    """The one question of a query, as sent (case kept); None unless QDCOUNT is 1 and the
    name is well formed: labels of at most 63 bytes, no compression, at most 255 bytes."""
    if len(wire) < 12 or wire[4:6] != b"\x00\x01":
        return None
    i, n = 12, len(wire)
    while i < n and wire[i]:
        if wire[i] > 63:
            return None
        i += wire[i] + 1
    if i >= n or i - 11 > 255 or i + 5 > n:
        return None
    return wire[12 : i + 5]


def _bad_option(wire: bytes, at: int) -> str | None:
    """For a query whose one additional record is an OPT right after the question: how to
    answer FORMERR when an ECS or COOKIE option in it is malformed (``"do"`` or ``"opt"``:
    with our OPT, DO copied or not; ``"bare"``: without OPT), else None (the rest of the
    message is left to dnspython). What BIND 9.18 answers, case by case
    (tests/test_server_abuse.py):

    RFC 7871 s6, s7.1.2 (ECS): FAMILY 1 or 2 (or 0 with prefix 0, which BIND takes), SOURCE
    PREFIX-LENGTH within the family's address, ADDRESS exactly ceil(SOURCE/8) bytes with the
    bits past the prefix zero; a SCOPE PREFIX-LENGTH other than 0 in a query (FORMERR, no OPT).
    RFC 7873 s4, s5.2.2 (COOKIE): 8 bytes (client) or 16 to 40 (client and server).
    """
    n = len(wire)
    if wire[6:12] != b"\x00\x00\x00\x00\x00\x01" or n < at + 11 or wire[at] \
            or wire[at + 1: at + 3] != b"\x00\x29":
        return None
    end = at + 11 + ((wire[at + 9] << 8) | wire[at + 10])
    do = "do" if wire[at + 7] & 0x80 else "opt"
    i = at + 11
    while i + 4 <= min(end, n):
        code = (wire[i] << 8) | wire[i + 1]
        length = (wire[i + 2] << 8) | wire[i + 3]
        data = wire[i + 4: i + 4 + length]
        if len(data) != length:
            return None
        if code == 10 and not (length == 8 or 16 <= length <= 40):
            return do
        if code == 8:
            if length < 4:
                return do
            family, source = (data[0] << 8) | data[1], data[2]
            bits = {0: 0, 1: 32, 2: 128}.get(family)
            address = data[4:]
            if bits is None or source > bits or len(address) != (source + 7) // 8:
                return do
            if data[3]:
                return "bare"
            if source % 8 and address[-1] & (0xFF >> (source % 8)):
                return do
        i += 4 + length
    return None


def _error(wire: bytes, rcode: int, question: bytes | None, *, opt: bytes = b"") -> bytes:
    """An error response built from the raw query: opcode, RD and CD copied, the question
    echoed when there is one (FORMERR / SERVFAIL / NOTIMP / REFUSED)."""
    qid, qflags = struct.unpack("!HH", wire[:4])
    flags = 0x8000 | (qflags & 0x7800) | (qflags & 0x0110) | rcode
    return struct.pack("!HHHHHH", qid, flags, 1 if question else 0, 0, 0, 1 if opt else 0) \
        + (question or b"") + opt


class ZoneLookup:
    """A :class:`~enumlab.resolve.lookup.Lookup` answered from an :class:`Authority` in memory."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority

    def query(self, name: str, rdtype: str) -> Answer:
        import dns.message

        from ..resolve.wire import answer_from_message

        response = dns.message.from_wire(self.authority.answer_wire(name, rdtype))
        exchange = Exchange("zone", "zone", 0, 0, False, 0.0)
        return answer_from_message(response, name, rdtype, (exchange,))


__all__ = ["Authority", "Resolution", "ServedZone", "ZoneLookup", "load_zone", "zone_files"]
