"""The zone doctor: what a NAPTR / S-NAPTR / SRV zone will do wrong, found from the zone alone.

``enumlab zone check DIR|FILE`` reads every zone file and looks at every owner name, the way
ENUM (RFC 6116), EPC (RFC 3958, TS 29.303) and SIP (RFC 3263) clients will use it:

* **load** -- the master-file rules enumlab's reader enforces (RFC 1035 s5, RFC 2181, RFC 1034
  s3.6.2), and what ``named-checkzone`` also refuses (an in-zone NS target without an address);
* **NAPTR** -- the REGEXP under enumlab's POSIX ERE engine (RFC 3402 s3.2: delimiter,
  back-references within the groups), REGEXP and REPLACEMENT both set (RFC 3403 s4.1), flags
  no client of that application knows, SERVICES per RFC 6116 s3.4.3 (ENUM), RFC 3958 s6.5 and
  TS 29.303 s19.4.3 (S-NAPTR), RFC 3263 s4.1 (SIP);
* **chains** -- non-terminal NAPTR loops and depth, replacements that lead nowhere, S-NAPTR
  ``a``/``s`` targets without A/AAAA or SRV, SRV targets that are CNAMEs (RFC 2782) or have no
  address, an SRV target ``.`` beside others;
* **wildcards** -- what each wildcard no longer covers because a name sits below its parent
  (RFC 4592 s2.2.2: an explicit name *or the empty non-terminals above it*), counted in E.164
  numbers at the lengths the zone's own numbers have; and that it matches numbers of any length;
* **sizes** -- every (name, type) answer's size, rendered by the embedded server's own
  :class:`~enumlab.zones.authority.Authority`: without EDNS (TC=1 above 512 bytes, RFC 1035 s4.2.1),
  at EDNS 1232 and 4096 (RFC 6891), over TCP, and whether the UDP datagram fragments on
  1500- or 1280-byte IPv4 and IPv6 paths;
* **splits** -- each record set's expected split under every policy and client model
  (:mod:`enumlab.core.policies`), with a finding where they disagree;
* **peers** -- records a named client handles differently from the RFC (Kamailio's enum
  module and sip-dig, run here by the tests; dnspython; Asterisk from its source, not run).

Each finding has a severity, the owner and record, what happens to which clients, the section
of the standard and a fix. ``error`` and ``warning`` make the exit code 1; ``info`` is a note.
The check is fast enough for operator zones: memoised per distinct rdata, per record-set shape
and per answer shape (``make bench``: a 1,000,000-name ENUM zone).
"""

from __future__ import annotations

import html
import struct
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..core.enumservice import parse_service_field
from ..core.errors import InputError, RegexpError, ZoneError
from ..core.naptr_regexp import SubstitutionExpression
from ..core.policies import Entry, RecordSet, get_policy
from .authority import Authority, ServedZone, load_zone, zone_files
from .zonefile import is_subdomain, name_to_wire, type_text, wire_to_text

_A, _NS, _CNAME, _SOA, _MX, _AAAA, _SRV, _NAPTR = 1, 2, 5, 6, 15, 28, 33, 35
_WILD = b"\x01*"
MAX_NAPTR_STEPS = 5  # enumlab's resolvers stop a non-terminal chain here (ddds, snaptr)
KAMAILIO_MAX_BRANCHES = 12
SPLIT_GAP = 0.05  # policies "disagree" when a target's share differs by more than this
SEVERITIES = ("error", "warning", "info")
# UDP payload sizes that travel unfragmented (IP and UDP headers taken off the path MTU)
PATHS = {"ipv4 1500": 1500 - 28, "ipv6 1500": 1500 - 48, "ipv4 1280": 1280 - 28,
         "ipv6 1280": 1280 - 48}
SIP_SERVICES = {"SIP+D2U", "SIP+D2T", "SIPS+D2T", "SIP+D2S", "SIPS+D2S", "SIP+D2W",
                "SIPS+D2W"}
SNAPTR_NODES = {"x-3gpp-pgw", "x-3gpp-sgw", "x-3gpp-mme", "x-3gpp-ggsn", "x-3gpp-sgsn",
                "x-3gpp-amf", "x-3gpp-upf", "x-3gpp-smf", "x-3gpp-nrf", "x-3gpp-ucmf",
                "x-3gpp-msc", "x-3gpp-cscf", "x-3gpp-epdg", "x-3gpp-aaa"}

# rule -> (severity, standard, fix). The message of each finding says what happens to whom.
RULES: dict[str, tuple[str, str, str]] = {
    "load": ("error", "RFC 1035 s5, RFC 2181 s5, RFC 1034 s3.6.2",
             "correct the line named; named-checkzone refuses the zone too"),
    "ns-no-address": ("error", "RFC 1034 s4.2.1; named-checkzone",
                      "add A/AAAA records for the in-zone name server"),
    "ns-cname": ("error", "RFC 2181 s10.3; named-checkzone", "point NS at the canonical name"),
    "delegation-no-glue": ("warning", "RFC 1034 s4.2.1 (glue)",
                           "add the glue A/AAAA records for the delegated name server"),
    "naptr-regexp-invalid": ("error", "RFC 3402 s3.2",
                             "write a POSIX ERE between three equal delimiters, back-references "
                             "\\1-\\9 only to groups the ERE has"),
    "naptr-regexp-and-replacement": ("error", "RFC 3403 s4.1",
                                     "keep one: REGEXP with REPLACEMENT '.', or REPLACEMENT "
                                     "with an empty REGEXP"),
    "naptr-regexp-in-snaptr": ("error", "RFC 3958 s2.2",
                               "S-NAPTR uses REPLACEMENT only: empty the REGEXP"),
    "naptr-u-without-regexp": ("error", "RFC 3404 s4.3, RFC 6116 s2.4",
                               "a 'u' record's URI comes from its REGEXP: add one"),
    "naptr-flags-unknown": ("warning", "RFC 3403 s4.1, RFC 3958 s2.2, RFC 6116 s2.4",
                            "use the application's flags: 'u' or '' (ENUM), 'a', 's' or '' "
                            "(S-NAPTR), 's' (SIP)"),
    "naptr-service": ("warning", "RFC 6116 s3.4.3, RFC 3958 s6.5, TS 29.303 s19.4.3",
                      "write E2U+type[:subtype] (ENUM) or app-service:app-protocol "
                      "(S-NAPTR, x-3gpp-<node>:x-<interface>)"),
    "naptr-loop": ("error", "RFC 3402 s4, RFC 3403 s4.1",
                   "point the non-terminal rule at a name that ends in a terminal rule"),
    "naptr-too-deep": ("warning", "RFC 3402 s4",
                       f"shorten the chain: resolvers stop after {MAX_NAPTR_STEPS} steps"),
    "naptr-dangling": ("error", "RFC 3403 s4.1, RFC 3958 s2.2",
                       "create the records the replacement points at, or fix the name"),
    "srv-target-cname": ("error", "RFC 2782 (target: 'must not be an alias')",
                         "point SRV at the canonical name"),
    "srv-target-no-address": ("error", "RFC 2782, RFC 3263 s4.2",
                              "add A/AAAA records for the target"),
    "srv-dot-mixed": ("warning", "RFC 2782 ('.' means decidedly not available)",
                      "either '.' alone or real targets, not both"),
    "cname-target": ("warning", "RFC 2181 s10.3", "point NS/MX at a name with addresses"),
    "wildcard-blocked": ("warning", "RFC 4592 s2.2.2, s3.3.1",
                         "restore the block with wildcards under the names that block it"),
    "wildcard-any-length": ("info", "RFC 4592 s2.1.1",
                            "terminating switches must check the number's length"),
    "size-tc-no-edns": ("warning", "RFC 1035 s4.2.1, RFC 7766 s5",
                        "clients without EDNS0 need TCP: make sure TCP 53 is open, or shrink "
                        "the set"),
    "size-tc-1232": ("warning", "RFC 6891 s6.2.5, DNS Flag Day 2020",
                     "even EDNS0 1232 clients fall back to TCP: shrink the set or split it"),
    "size-fragments": ("warning", "RFC 6891 s6.2.6, RFC 8200 s5, RFC 9715 s3",
                       "answers to EDNS0 4096 clients fragment on these paths: cap the server's "
                       "EDNS0 size at 1232 (max-udp-size) or shrink the set"),
    "split-disagree": ("warning", "RFC 3403 s4.1, RFC 2782, TS 29.303 annex C.1",
                       "for a weighted split use SRV weights (RFC 2782); make NAPTR PREFERENCE "
                       "say what you mean for a rank"),
    "peer-kamailio": ("warning", "Kamailio enum module (enum.c); enumlab.split.peers",
                      "write records Kamailio reads the RFC way: '!' delimiter, 'u' flag, "
                      "E2U+sip, anchored ^...$ regexps, one ORDER"),
    "peer-sip-dig": ("info", "sofia-sip sip-dig (Debian sofia-sip-bin)",
                     "give SRV records of a priority a non-zero weight"),
    "peer-dnspython": ("info", "dnspython _processing_order", "avoid weight 0 beside non-zero "
                       "weights if dnspython clients matter"),
    "peer-asterisk": ("info", "Asterisk ENUMLOOKUP (func_enum.c, from source, not run)",
                      "use only 'u' records in ENUM sets Asterisk reads"),
}


@dataclass(frozen=True)
class Finding:
    """One thing a zone will do wrong (or a note), with whom it hurts and how to fix it."""

    rule: str
    owner: str
    message: str
    record: str = ""
    line: int = 0
    file: str = ""

    @property
    def severity(self) -> str:
        return RULES[self.rule][0]

    @property
    def reference(self) -> str:
        return RULES[self.rule][1]

    @property
    def fix(self) -> str:
        return RULES[self.rule][2]

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "owner": self.owner,
                "record": self.record, "message": self.message, "reference": self.reference,
                "fix": self.fix, "file": self.file, "line": self.line or None}


@dataclass(frozen=True)
class AnswerSize:
    """The size of one (name, type) answer as the embedded server sends it."""

    name: str
    rdtype: str
    records: int
    size: int  # the full answer without EDNS, as over TCP (RFC 1035 s4.2.2 adds 2 bytes)

    @property
    def edns_size(self) -> int:
        return self.size + 11  # the OPT record (RFC 6891 s6.1.2)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.rdtype, "records": self.records,
                "no_edns": self.size, "tc_without_edns": self.size > 512,
                "at_1232": "fits" if self.edns_size <= 1232 else "TC=1",
                "at_4096": "fits" if self.edns_size <= 4096 else "TC=1",
                "tcp": self.size + 2,
                "fragments_at_4096": [path for path, room in PATHS.items()
                                      if room < self.edns_size <= 4096]}


@dataclass
class ZoneReport:
    """What ``enumlab zone check`` found."""

    source: str
    zones: list[str] = field(default_factory=list)
    names: int = 0
    records: int = 0
    findings: list[Finding] = field(default_factory=list)
    sizes: list[AnswerSize] = field(default_factory=list)  # answers over 512 bytes
    answers: int = 0  # (name, type) answers sized
    wildcards: list[dict[str, Any]] = field(default_factory=list)
    splits: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(f.severity for f in self.findings)
        return {s: c.get(s, 0) for s in SEVERITIES}

    @property
    def exit_code(self) -> int:
        """0 clean (notes only), 1 errors or warnings."""
        counts = self.counts
        return 1 if counts["error"] or counts["warning"] else 0

    def by_rule(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = defaultdict(list)
        for f in self.findings:
            out[f.rule].append(f)
        return dict(sorted(out.items(), key=lambda kv: (SEVERITIES.index(RULES[kv[0]][0]),
                                                         kv[0])))

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "zones": self.zones, "names": self.names,
                "records": self.records, "answers_sized": self.answers,
                "counts": self.counts, "rules": {r: len(fs) for r, fs in self.by_rule().items()},
                "findings": [f.to_dict() for f in self.findings],
                "sizes": [s.to_dict() for s in self.sizes],
                "wildcards": self.wildcards, "splits": self.splits,
                "seconds": round(self.seconds, 2), "exit_code": self.exit_code}

    def format(self, *, limit: int = 5) -> str:
        """The text report: a summary line, then each rule with its first ``limit`` owners."""
        c = self.counts
        lines = [f"{self.source}: {len(self.zones)} zone(s), {self.names:,} names, "
                 f"{self.records:,} records, {self.answers:,} answers sized in "
                 f"{self.seconds:.1f} s -- {c['error']} error(s), {c['warning']} warning(s), "
                 f"{c['info']} note(s)"]
        for rule, found in self.by_rule().items():
            severity, reference, fix = RULES[rule]
            lines.append(f"\n{severity.upper()} {rule} ({len(found)}) [{reference}]")
            for f in found[:limit]:
                where = f" ({Path(f.file).name}:{f.line})" if f.line else ""
                lines.append(f"  {f.owner}{where}: {f.message}")
                if f.record:
                    lines.append(f"    record: {f.record}")
            if len(found) > limit:
                lines.append(f"  ... and {len(found) - limit:,} more")
            lines.append(f"  fix: {fix}")
        big = [s for s in self.sizes if s.size > 512]
        if big:
            lines.append(f"\nanswers over 512 bytes ({len(big)}), largest first:")
            for s in sorted(big, key=lambda s: -s.size)[:limit]:
                d = s.to_dict()
                frag = ", ".join(d["fragments_at_4096"]) or "none"
                lines.append(f"  {s.name} {s.rdtype}: {s.records} records, {s.size} B "
                             f"(EDNS 1232: {d['at_1232']}; 4096: {d['at_4096']}, fragments "
                             f"on: {frag})")
        return "\n".join(lines)

    def write_html(self, path: str | Path) -> Path:
        """A self-contained HTML page: the summary, and one table per rule."""
        e = html.escape
        c = self.counts
        parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>zone check: "
                 f"{e(self.source)}</title><style>body{{font-family:sans-serif;margin:2em}}"
                 f"table{{border-collapse:collapse;margin-bottom:1.5em}}td,th{{border:1px solid "
                 f"#ccc;padding:4px 8px;text-align:left;vertical-align:top}}.error{{color:#c92a2a}}"
                 f".warning{{color:#e67700}}.info{{color:#1864ab}}</style></head><body>",
                 f"<h1>enumlab zone check</h1><p>{e(self.source)}: {len(self.zones)} zone(s), "
                 f"{self.names:,} names, {self.records:,} records; <b class='error'>"
                 f"{c['error']} error(s)</b>, <b class='warning'>{c['warning']} warning(s)</b>, "
                 f"<b class='info'>{c['info']} note(s)</b></p>"]
        for rule, found in self.by_rule().items():
            severity, reference, fix = RULES[rule]
            parts.append(f"<h2 class='{severity}'>{severity}: {e(rule)} ({len(found)})</h2>"
                         f"<p>{e(reference)}. Fix: {e(fix)}</p><table><tr><th>owner</th>"
                         f"<th>what happens</th><th>record</th></tr>")
            for f in found[:500]:
                parts.append(f"<tr><td>{e(f.owner)}</td><td>{e(f.message)}</td>"
                             f"<td><code>{e(f.record)}</code></td></tr>")
            if len(found) > 500:
                parts.append(f"<tr><td colspan=3>... and {len(found) - 500:,} more (see "
                             "--json)</td></tr>")
            parts.append("</table>")
        big = [s for s in self.sizes if s.size > 512]
        if big:
            parts.append("<h2>answers over 512 bytes</h2><table><tr><th>name</th><th>type</th>"
                         "<th>records</th><th>bytes</th><th>EDNS 1232</th><th>EDNS 4096</th>"
                         "<th>fragments at 4096 on</th></tr>")
            for s in sorted(big, key=lambda s: -s.size)[:500]:
                d = s.to_dict()
                parts.append(f"<tr><td>{e(s.name)}</td><td>{s.rdtype}</td><td>{s.records}</td>"
                             f"<td>{s.size}</td><td>{d['at_1232']}</td><td>{d['at_4096']}</td>"
                             f"<td>{e(', '.join(d['fragments_at_4096']))}</td></tr>")
            parts.append("</table>")
        parts.append("</body></html>")
        out = Path(path)
        out.write_text("\n".join(parts), encoding="utf-8")
        return out


# -- NAPTR rdata, decoded once per distinct rdata ------------------------------------------

@dataclass(frozen=True)
class Naptr:
    order: int
    preference: int
    flags: str
    services: str
    regexp: str
    replacement: bytes  # wire form, lower-case

    @property
    def text(self) -> str:
        def q(s: str) -> str:
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return (f"{self.order} {self.preference} {q(self.flags)} {q(self.services)} "
                f"{q(self.regexp)} {wire_to_text(self.replacement)}")

    @property
    def application(self) -> str:
        """``enum``, ``snaptr``, ``sip`` or ``other``: which clients read this record."""
        s = self.services.upper()
        if s.startswith("E2U"):
            return "enum"
        if s in SIP_SERVICES:
            return "sip"
        if ":" in s or (self.flags.lower() in ("a", "s") and s.startswith("X-")):
            return "snaptr"
        return "other"


@lru_cache(maxsize=200_000)
def _naptr(rdata: bytes) -> Naptr:
    order, preference = struct.unpack_from("!HH", rdata)
    i, texts = 4, []
    for _ in range(3):
        n = rdata[i]
        texts.append(rdata[i + 1 : i + 1 + n].decode("utf-8", "replace"))
        i += 1 + n
    return Naptr(order, preference, texts[0], texts[1], texts[2], rdata[i:].lower())


@lru_cache(maxsize=200_000)
def _parsed_regexp(regexp: str) -> SubstitutionExpression | str:
    """The compiled expression, or why it is not one."""
    try:
        return SubstitutionExpression.parse(regexp)
    except RegexpError as exc:
        return str(exc).split(": ", 1)[-1]


@lru_cache(maxsize=200_000)
def _record_findings(rdata: bytes) -> tuple[tuple[str, str], ...]:
    """(rule, message) for what is wrong with one NAPTR record on its own."""
    r = _naptr(rdata)
    app = r.application
    flags = r.flags.lower()
    out: list[tuple[str, str]] = []
    if r.regexp:
        parsed = _parsed_regexp(r.regexp)
        if isinstance(parsed, str):
            out.append(("naptr-regexp-invalid", f"every client drops this record: {parsed}"))
        if r.replacement != b"\x00":
            out.append(("naptr-regexp-and-replacement",
                        "REGEXP and REPLACEMENT are both set: RFC clients and Asterisk refuse "
                        "the record, Kamailio applies the REGEXP (BIND serves it as it is)"))
        if app == "snaptr":
            out.append(("naptr-regexp-in-snaptr",
                        "an S-NAPTR record with a REGEXP: EPC nodes (TS 29.303) skip it"))
    elif flags == "u":
        out.append(("naptr-u-without-regexp", "flag 'u' without a REGEXP yields no URI: ENUM "
                    "clients drop the record"))
    known = {"enum": ("u", ""), "snaptr": ("a", "s", ""), "sip": ("s",)}.get(app)
    if known is not None and flags not in known:
        allowed = " or ".join(repr(f) for f in known)
        out.append(("naptr-flags-unknown", f"flag {r.flags!r} is not {allowed} for a {app} "
                    "record: clients skip it (not the whole lookup)"))
    if app == "enum":
        try:
            parse_service_field(r.services)
        except InputError as exc:
            out.append(("naptr-service", f"{exc}: ENUM clients match no Enumservice"))
        else:
            if r.services.count("+") > 1:
                out.append(("naptr-service", f"{r.services!r} is RFC 3761's multi-service form "
                            "(RFC 6116 s3.4.3 has one Enumservice per record): Kamailio and "
                            "strict clients skip it"))
    elif app == "snaptr":
        parts = r.services.lower().split(":")
        if len(parts) < 2 or not all(parts):
            out.append(("naptr-service", f"{r.services!r} is not app-service:app-protocol"))
        elif parts[0].startswith("x-3gpp-") and parts[0] not in SNAPTR_NODES:
            out.append(("naptr-service", f"{parts[0]!r} is not a TS 29.303 app-service: MMEs "
                        "and SGSNs looking for a node never match it"))
        elif parts[0].startswith("x-3gpp-") and not all(p.startswith("x-") for p in parts[1:]):
            out.append(("naptr-service", f"{r.services!r}: TS 29.303 app-protocols start "
                        "with 'x-' (x-s5-gtp, x-s8-gtp, x-s11 ...)"))
    out.extend(_peer_record_findings(r))
    return tuple(out)


def _peer_record_findings(r: Naptr) -> list[tuple[str, str]]:
    """Per-record departures of Kamailio's enum module and Asterisk's ENUMLOOKUP from RFC 6116
    (the same behaviour :mod:`enumlab.split.peers` emulates and the tests check against the real
    Kamailio)."""
    if r.application != "enum":
        return []
    out: list[tuple[str, str]] = []
    flags = r.flags.lower()
    if flags == "":
        out.append(("peer-kamailio", "a non-terminal rule: Kamailio's enum_query() never "
                    "follows it, so numbers behind it get no URI there"))
        out.append(("peer-asterisk", "a non-'u' record: Asterisk's ENUMLOOKUP gives up on the "
                    "whole lookup when it meets one"))
    elif flags == "u":
        services = r.services.lower()
        if services not in ("e2u+sip", "sip+e2u") and "sip" in services:
            out.append(("peer-kamailio", f"SERVICES {r.services!r}: Kamailio's default "
                        "enum_query() takes exactly 'e2u+sip' and skips this record"))
        if r.regexp and not r.regexp.startswith("!"):
            out.append(("peer-kamailio", f"delimiter {r.regexp[0]!r}: Kamailio accepts only "
                        "'!' and skips this record"))
        parsed = _parsed_regexp(r.regexp) if r.regexp else None
        if isinstance(parsed, SubstitutionExpression):
            if any(f"\\{d}" in parsed.replacement for d in "6789"):
                out.append(("peer-kamailio", "a back-reference above \\5: Kamailio substitutes "
                            "only \\0-\\5"))
            if "\\7" in parsed.replacement:
                out.append(("peer-asterisk", "back-reference \\7: Asterisk's validator omits "
                            "7 and refuses the record"))
    return out


@lru_cache(maxsize=200_000)
def _unanchored(regexp: str) -> bool:
    """A valid regexp not of the ^...$ form: RFC 3402 (sed) and Kamailio may read it
    differently. ^...$ patterns give the same output either way."""
    parsed = _parsed_regexp(regexp)
    if not isinstance(parsed, SubstitutionExpression):
        return False
    return not (parsed.ere.startswith(("^", "(^")) and parsed.ere.endswith(("$", "$)")))


# -- the check ------------------------------------------------------------------------------

def _owner(rrset: Any) -> str:
    """The owner's text, made only when a finding needs it (most owners have none)."""
    return wire_to_text(rrset.owner)


def _lines(rrset: Any) -> list[int]:
    """Each record's line in its zone file (the RRset's first line when not kept)."""
    return rrset.lines if rrset.lines is not None else [rrset.line] * len(rrset.rdatas)


def _line_of(r: Naptr, rrset: Any) -> int:
    """The line of the record ``r`` decodes (the RRset's first line if not found)."""
    for rd, line in zip(rrset.rdatas, _lines(rrset), strict=True):
        if _naptr(rd) == r:
            return line
    return int(rrset.line)


def _labels(wire: bytes) -> list[bytes]:
    out, i = [], 0
    while wire[i]:
        out.append(wire[i + 1 : i + 1 + wire[i]])
        i += 1 + wire[i]
    return out


def _parent(wire: bytes) -> bytes:
    return wire[wire[0] + 1 :]


def _e164_digits(wire: bytes, zone: ServedZone) -> str | None:
    """The E.164 digits an ENUM owner name stands for (``5.4.3...e164.arpa`` -> ``...345``):
    the single-digit labels above the first label that is not one, None if there are none."""
    digits = []
    for label in _labels(wire):
        if len(label) == 1 and 48 <= label[0] <= 57:
            digits.append(chr(label[0]))
        else:
            break
    return "".join(reversed(digits)) or None


class _Checker:
    def __init__(self, authority: Authority, report: ZoneReport, *,
                 all_sizes: bool = False) -> None:
        self.all_sizes = all_sizes
        self.authority = authority
        self.report = report
        self.find = report.findings.append
        self._size_memo: dict[tuple[Any, ...], int] = {}
        self._split_memo: dict[tuple[Any, ...], dict[str, Any] | None] = {}

    def flag(self, rule: str, rrset: Any, message: str, record: str = "", line: int = 0,
             file: str = "") -> None:
        """A finding about ``rrset``'s owner (its text made only now)."""
        self.find(Finding(rule, _owner(rrset), message, record, line or rrset.line, file))

    # -- lookups across every served zone -------------------------------------------------

    def rrset(self, name: bytes, rdtype: int) -> Any:
        """(first answer RRset type, RRsets) the served zones give ``name``/``rdtype``, or
        None outside them (not ours to judge)."""
        res = self.authority.resolve(name, rdtype)
        if res is None:
            return None
        return [rrset for _, rrset in res.answer]

    def has_address(self, name: bytes) -> bool | None:
        a = self.rrset(name, _A)
        if a is None:
            return None
        return bool(a) or bool(self.rrset(name, _AAAA))

    # -- per zone --------------------------------------------------------------------------

    def zone(self, zone: ServedZone) -> None:
        file = str(zone.path or "")
        wildcard_parents: dict[bytes, bytes] = {}
        for key, node in zone.nodes.items():
            self.report.records += sum(len(r.rdatas) for r in node.values())
            if key.startswith(_WILD):
                wildcard_parents[key[2:]] = key
            naptr = node.get(_NAPTR)
            if naptr is not None:
                self.naptr_set(zone, key, naptr, file)
            srv = node.get(_SRV)
            if srv is not None:
                self.srv_set(key, srv, file)
            ns = node.get(_NS)
            if ns is not None:
                self.ns_set(zone, key, wire_to_text(ns.owner), ns, file)
            mx = node.get(_MX)
            if mx is not None:
                for rd, line in zip(mx.rdatas, _lines(mx), strict=True):
                    self.not_cname(rd[2:].lower(), wire_to_text(mx.owner), "MX", line, file)
            for rdtype, rrset in node.items():
                if rdtype != _SOA:
                    self.size(key, rrset, file)
        self.report.names += len(zone.nodes)
        if wildcard_parents:
            self.wildcards(zone, wildcard_parents, file)

    def naptr_set(self, zone: ServedZone, key: bytes, rrset: Any, file: str) -> None:
        records = [_naptr(rd) for rd in rrset.rdatas]
        for rd, r, line in zip(rrset.rdatas, records, _lines(rrset), strict=True):
            for rule, message in _record_findings(rd):
                self.flag(rule, rrset, message, r.text, line, file)
            if r.flags.lower() == "a" and r.application == "snaptr" and r.replacement != b"\x00":
                if self.has_address(r.replacement) is False:
                    self.flag("naptr-dangling", rrset, f"flag 'a' points at "
                                      f"{wire_to_text(r.replacement)}, which has no A/AAAA: "
                                      "EPC nodes drop the candidate", r.text, line, file)
            elif r.flags.lower() == "s" and r.replacement != b"\x00":
                srv = self.rrset(r.replacement, _SRV)
                if srv is not None and not srv:
                    self.flag("naptr-dangling", rrset, f"flag 's' points at "
                                      f"{wire_to_text(r.replacement)}, which has no SRV "
                                      "records: clients find no server there", r.text,
                                      line, file)
        if any(r.flags == "" for r in records):
            self.chain(zone, key, records, rrset, file)
        self.peers_on_set(zone, key, records, rrset, file)
        if len(records) > 1:
            self.split(records, rrset, file)

    def chain(self, zone: ServedZone, key: bytes, records: list[Naptr], rrset: Any,
              file: str) -> None:
        """Follow non-terminal rules from this owner: loops, depth, dead ends (RFC 3402 s4)."""
        start_aus = _e164_digits(key, zone)
        for r, line in zip(records, _lines(rrset), strict=True):
            if r.flags != "":
                continue
            path = [key]
            nxt = self.next_name(r, start_aus)
            steps = 1
            while nxt is not None:
                if nxt in path:
                    loop = " -> ".join(wire_to_text(n) for n in [*path, nxt])
                    self.flag("naptr-loop", rrset, f"non-terminal rules loop: {loop}; "
                                      "every resolution ends in a loop error", r.text,
                                      line, file)
                    break
                nodes = self.rrset(nxt, _NAPTR)
                if nodes is None:
                    break  # outside the served zones: not ours to judge
                if not nodes:
                    self.flag("naptr-dangling", rrset, f"the non-terminal rule leads "
                                      f"to {wire_to_text(nxt)}, which has no NAPTR records: "
                                      "resolution ends with nothing", r.text, line, file)
                    break
                path.append(nxt)
                onward = [_naptr(rd) for rs in nodes if rs.rdtype == _NAPTR for rd in rs.rdatas]
                non_terminal = [x for x in onward if x.flags == ""]
                if not non_terminal or len(onward) > len(non_terminal):
                    break  # a terminal rule is reachable
                steps += 1
                if steps > MAX_NAPTR_STEPS:
                    self.flag("naptr-too-deep", rrset, f"more than {MAX_NAPTR_STEPS} "
                                      "non-terminal steps: resolvers give up", r.text,
                                      line, file)
                    break
                nxt = self.next_name(non_terminal[0], start_aus)

    @staticmethod
    def next_name(r: Naptr, aus_digits: str | None) -> bytes | None:
        if r.replacement != b"\x00":
            return r.replacement
        if not r.regexp or aus_digits is None:
            return None
        parsed = _parsed_regexp(r.regexp)
        if isinstance(parsed, str):
            return None
        out = parsed.apply("+" + aus_digits)
        if not out:
            return None
        try:
            return name_to_wire(out.rstrip(".") + ".", None,
                                lambda m: ZoneError(m, subject=out)).lower()
        except ZoneError:
            return None

    def peers_on_set(self, zone: ServedZone, key: bytes, records: list[Naptr], rrset: Any,
                     file: str) -> None:
        enum = [r for r in records if r.application == "enum" and r.flags.lower() == "u"]
        if not enum:
            return
        orders = sorted({r.order for r in enum})
        if len(orders) > 1:
            self.flag("peer-kamailio", rrset, f"usable records in {len(orders)} ORDERs "
                              f"({', '.join(map(str, orders))}): Kamailio forks the later ORDERs "
                              "as branches (q lower by 0.01 a step); RFC 3403 clients never "
                              f"use them while ORDER {orders[0]} matches", "", rrset.line, file)
        if len(enum) > KAMAILIO_MAX_BRANCHES:
            self.flag("peer-kamailio", rrset, f"{len(enum)} usable records: Kamailio "
                              f"makes at most {KAMAILIO_MAX_BRANCHES} branches and drops the "
                              "rest", "", rrset.line, file)
        unanchored = [r for r in enum if r.regexp and _unanchored(r.regexp)]
        if not unanchored or key.startswith(_WILD):
            return
        digits = _e164_digits(key, zone)
        if digits is None:
            return
        for r in unanchored:
            parsed = _parsed_regexp(r.regexp)
            if isinstance(parsed, SubstitutionExpression):
                aus = "+" + digits
                rfc, kam = parsed.apply(aus), parsed.apply(aus, output="replacement")
                if rfc != kam:
                    self.flag("peer-kamailio", rrset, f"for {aus} RFC 3402 (sed) gives "
                                      f"{rfc!r}, Kamailio and Asterisk give {kam!r}: the "
                                      "unanchored regexp is read two ways", r.text,
                                      _line_of(r, rrset), file)

    def split(self, records: list[Naptr], rrset: Any, file: str) -> None:
        """Expected split of a NAPTR set under the readings its clients use."""
        by_service: dict[tuple[str, str], list[Naptr]] = defaultdict(list)
        for r in records:
            if r.application == "enum" and r.flags.lower() == "u":
                by_service["enum", r.services.lower()].append(r)
            elif r.application == "snaptr" and r.flags.lower() in ("a", "s"):
                by_service["snaptr", r.services.lower()].append(r)
        for (app, _), usable in by_service.items():
            policies = (("rfc3403", "weighted", "kamailio") if app == "enum"
                        else ("3gpp", "rfc3403", "weighted"))
            lowest = min(r.order for r in usable)
            group = [r for r in usable if r.order == lowest]
            if len(group) < 2 or len({r.preference for r in group}) < 2:
                continue
            labels = _distinct([_target_label(r) for r in group])
            shape = ("naptr", tuple((r.order, r.preference) for r in group), tuple(labels),
                     policies)
            self._disagreement(shape, [Entry(lab, r.order, r.preference)
                                              for lab, r in zip(labels, group, strict=True)],
                               "naptr", policies, rrset, file)

    def _disagreement(self, shape: tuple[Any, ...], entries: list[Entry],
                      kind: str, policies: tuple[str, ...], rrset: Any, file: str) -> None:
        if shape not in self._split_memo:
            rs = RecordSet(tuple(entries), kind)  # type: ignore[arg-type]
            shares = {p: [float(x) for x in _expected(p, rs)[: len(entries)]] for p in policies}
            gap = max(abs(a - b) for i in range(len(entries)) for a in
                      (s[i] for s in shares.values()) for b in (s[i] for s in shares.values()))
            self._split_memo[shape] = None if gap <= SPLIT_GAP else {
                "targets": [e.target for e in entries], "shares": shares}
        found = self._split_memo[shape]
        if found is None:
            return
        targets = found["targets"]
        shares = found["shares"]

        def split_text(values: list[float]) -> str:
            return "/".join(f"{100 * v:.3g}" for v in values)

        readings = "; ".join(f"{split_text(v)} under {_READING[p]}" for p, v in shares.items())
        first = next(iter(shares))
        never = [t for t, v in zip(targets, shares[first], strict=True) if v < 0.001]
        others = [t for t in targets if t not in never]
        consequence = ""
        if never:
            consequence = (f": {_READING[first]} clients never pick {_some(never)} while "
                           f"{_some(others, ' and ')} {'is' if len(others) == 1 else 'are'} up")
        self.report.splits.append({"owner": _owner(rrset), "targets": targets, "shares": shares})
        self.flag("split-disagree", rrset, f"{readings} (targets {_some(targets)})"
                          f"{consequence}", "", rrset.line, file)

    def srv_set(self, key: bytes, rrset: Any, file: str) -> None:
        recs = [(struct.unpack_from("!HHH", rd), rd[6:].lower()) for rd in rrset.rdatas]
        targets = [t for _, t in recs]
        if b"\x00" in targets and len(targets) > 1:
            self.flag("srv-dot-mixed", rrset, "target '.' (service decidedly not "
                              "available) beside real targets: clients disagree on whether "
                              "the service exists", "", rrset.line, file)
        for ((prio, weight, port), target), line in zip(recs, _lines(rrset), strict=True):
            if target == b"\x00":
                continue
            text = f"{prio} {weight} {port} {wire_to_text(target)}"
            if self.is_cname(target):
                self.flag("srv-target-cname", rrset, f"target {wire_to_text(target)} "
                                  "is a CNAME: strict clients (and RFC 2782) refuse it", text,
                                  line, file)
            elif self.has_address(target) is False:
                self.flag("srv-target-no-address", rrset, f"target "
                                  f"{wire_to_text(target)} has no A/AAAA: clients skip it "
                                  "(RFC 3263 s4.2)", text, line, file)
        by_priority: dict[int, list[int]] = defaultdict(list)
        for (prio, weight, _), target in recs:
            if target != b"\x00":
                by_priority[prio].append(weight)
        for prio, weights in by_priority.items():
            if len(weights) > 1 and not any(weights):
                self.flag("peer-sip-dig", rrset, f"every record of priority {prio} has "
                                  "weight 0: sip-dig never lists that group", "", rrset.line,
                                  file)
            if 0 in weights and any(weights):
                total = sum(weights)
                rfc = 1 / (total + 1)
                py = 0.1 / (total + 0.1)
                self.flag("peer-dnspython", rrset, f"a weight-0 record beside weights "
                                  f"summing to {total}: RFC 2782 picks it first with p="
                                  f"{rfc:.4f}, dnspython with p={py:.4f}", "", rrset.line, file)
        usable = [(p, w, t) for (p, w, _), t in recs if t != b"\x00"]
        lowest = min((p for p, _, _ in usable), default=None)
        group = [(p, w, t) for p, w, t in usable if p == lowest]
        if len(group) > 1 and len({w for _, w, _ in group}) > 1:
            labels = _distinct([wire_to_text(t).split(".")[0] for _, _, t in group])
            shape = ("srv", tuple((p, w) for p, w, _ in group), tuple(labels))
            self._disagreement(shape, [Entry(lab, p, w) for lab, (p, w, _) in
                                              zip(labels, group, strict=True)], "srv",
                               ("srv", "kamailio-srv"), rrset, file)

    def is_cname(self, name: bytes) -> bool:
        res = self.authority.resolve(name, _A)
        return bool(res and res.answer and res.answer[0][1].rdtype == _CNAME)

    def not_cname(self, target: bytes, owner: str, what: str, line: int, file: str) -> None:
        if self.is_cname(target):
            self.find(Finding("cname-target", owner, f"{what} target {wire_to_text(target)} is "
                              "a CNAME: mail and other clients may refuse it", "", line, file))

    def ns_set(self, zone: ServedZone, key: bytes, owner: str, rrset: Any, file: str) -> None:
        apex = key == zone.origin_wire
        for rd, line in zip(rrset.rdatas, _lines(rrset), strict=True):
            target = rd.lower()
            if not is_subdomain(target, zone.origin_wire):
                continue
            node = zone.nodes.get(target, {})
            text = f"NS {wire_to_text(target)}"
            if _CNAME in node:
                self.find(Finding("ns-cname", owner, f"{text} is a CNAME: resolvers must not "
                                  "follow it (named-checkzone refuses the zone)", text, line,
                                  file))
            elif _A not in node and _AAAA not in node:
                if apex:
                    self.find(Finding("ns-no-address", owner, f"{text} is in the zone and has "
                                      "no A/AAAA records: resolvers cannot reach it "
                                      "(named-checkzone refuses the zone)", text, line, file))
                else:
                    self.find(Finding("delegation-no-glue", owner, f"{text} is below the "
                                      "delegation and has no glue: resolvers cannot reach the "
                                      "child zone", text, line, file))

    # -- sizes -------------------------------------------------------------------------------

    def size(self, key: bytes, rrset: Any, file: str) -> None:
        """The answer's size from the server's own renderer, memoised on what decides it:
        the query name's length and each rdata's length (rdata of these types is never
        compressed, RFC 3597 s4), or the name itself for types whose rdata compresses."""
        qname = key.replace(b"\x01*", b"\x010", 1) if key.startswith(_WILD) else key
        rdtype = rrset.rdtype
        compressible = rdtype in (_NS, _CNAME, _MX, _SOA, 12)
        memo = (len(qname), rdtype, tuple(len(r) for r in rrset.rdatas),
                qname if compressible else None)
        size = self._size_memo.get(memo)
        if size is None:
            res = self.authority.resolve(qname, rdtype)
            if res is None:
                return
            try:
                rendered = self.authority.render(res, len(qname), 0)
            except OverflowError:
                return  # refused at load already
            size = 12 + len(qname) + 4 + len(rendered.rest)
            self._size_memo[memo] = size
        self.report.answers += 1
        if size > 512 or self.all_sizes:
            self.report.sizes.append(AnswerSize(wire_to_text(rrset.owner), type_text(rdtype),
                                                len(rrset.rdatas), size))
        if size > 512:
            owner = wire_to_text(rrset.owner)
            what = f"{type_text(rdtype)} answer of {len(rrset.rdatas)} records, {size} bytes"
            self.find(Finding("size-tc-no-edns", owner, f"{what}: clients without EDNS0 get "
                              "TC=1 and must retry over TCP", "", rrset.line, file))
            if size + 11 > 1232:
                self.find(Finding("size-tc-1232", owner, f"{what}: over EDNS0 1232 too (TC=1)",
                                  "", rrset.line, file))
            paths = [p for p, room in PATHS.items() if room < size + 11 <= 4096]
            if paths:
                self.find(Finding("size-fragments", owner, f"{what}: at EDNS0 4096 the UDP "
                                  f"answer fragments on {', '.join(paths)} paths", "",
                                  rrset.line, file))

    # -- wildcards ---------------------------------------------------------------------------

    def wildcards(self, zone: ServedZone, parents: dict[bytes, bytes], file: str) -> None:
        """RFC 4592 s2.2.2: a wildcard ``*.P`` answers for names below P that do not exist.
        Any existing child C of P -- with records, or an empty non-terminal above a deeper
        name -- takes C and everything below it out of the wildcard's reach."""
        children: dict[bytes, list[bytes]] = defaultdict(list)  # existing names by parent
        for name in zone.existing:
            if name != zone.origin_wire:
                children[name[name[0] + 1 :]].append(name)
        blocked = {parent: [c for c in children.get(parent, []) if not c.startswith(_WILD)]
                   for parent in parents}
        for parent, star in sorted(parents.items()):
            node = zone.nodes.get(star, {})
            line = node[_NAPTR].line if _NAPTR in node else 0
            star_text = wire_to_text(star)
            prefix = _e164_digits(parent, zone)
            entry: dict[str, Any] = {"wildcard": star_text, "blocked": []}
            self.report.wildcards.append(entry)
            if prefix is not None and _NAPTR in node:
                self.find(Finding("wildcard-any-length", star_text, f"matches +{prefix} "
                                  f"followed by any number of digits: +{prefix}1 and "
                                  f"+{prefix}1234567890 alike (the seed's 'length is not "
                                  "taken into account')", "", line, file))
            for child in sorted(blocked.get(parent, [])):
                child_text = wire_to_text(child)
                has_records = child in zone.nodes
                kind = "has records" if has_records else \
                    "is an empty non-terminal (a name exists below it)"
                digits = _e164_digits(child, zone)
                counts: dict[int, int] = {}
                if digits is not None and prefix is not None:
                    for length in sorted(_number_lengths(zone, child, children)):
                        if length > len(digits):
                            counts[length] = _unanswered(zone, child, length - len(digits),
                                                         children)
                where = f"+{digits}..." if digits else f"names below {child_text}"
                entry["blocked"].append({"name": child_text, "kind": kind, "range": where,
                                         "unanswered_numbers": counts})
                lost = ", ".join(f"{n:,} numbers of {length} digits get NXDOMAIN or NODATA"
                                 for length, n in counts.items() if n)
                if (has_records or counts) and not lost:
                    continue  # nothing lost: the intended exception, or a block restored by
                    #           wildcards below it
                self.find(Finding("wildcard-blocked", child_text, f"{child_text} {kind}, so "
                                  f"{star_text} no longer answers for {where}"
                                  + (f": {lost}" if lost else ""), "", line, file))


_READING = {"rfc3403": "RFC 3403 (PREFERENCE a rank)", "weighted":
            "the preference-as-weight reading", "3gpp": "TS 29.303 annex C.1",
            "kamailio": "Kamailio (first record, the rest branches)", "srv": "RFC 2782",
            "kamailio-srv": "Kamailio's default SRV order (priority, then weight descending)"}


def _digit_children(name: bytes, children: dict[bytes, list[bytes]]) -> list[bytes]:
    return [c for c in children.get(name, ()) if c[0] == 1 and 48 <= c[1] <= 57]


def _number_lengths(zone: ServedZone, top: bytes, children: dict[bytes, list[bytes]],
                    limit: int = 2_000_000) -> set[int]:
    """The lengths (in digits) of the numbers with NAPTR records at or below ``top``: the
    lengths a blocked wildcard range is counted at. Walks existing digit names only."""
    base = len(_e164_digits(top, zone) or "")
    lengths: set[int] = set()
    stack, seen = [(top, base)], 0
    while stack and seen < limit:
        name, length = stack.pop()
        seen += 1
        records = zone.nodes.get(name)
        if records and _NAPTR in records:
            lengths.add(length)
        stack.extend((child, length + 1) for child in _digit_children(name, children))
    return lengths


def _unanswered(zone: ServedZone, node: bytes, remaining: int,
                children: dict[bytes, list[bytes]]) -> int:
    """How many numbers ``remaining`` digits longer than ``node`` get no NAPTR answer: walk
    only the names that exist (RFC 4592 s3.3.1: a name that does not exist is answered by the
    wildcard of its closest encloser, if there is one)."""
    if remaining == 0:
        records = zone.nodes.get(node)
        return 0 if records and _NAPTR in records else 1
    wild = zone.nodes.get(_WILD + node)
    covered = wild is not None and _NAPTR in wild
    below = _digit_children(node, children)
    total = 0 if covered else (10 - len(below)) * 10 ** (remaining - 1)
    for child in below:
        total += _unanswered(zone, child, remaining - 1, children)
    return total


def _some(names: list[str], sep: str = ", ", limit: int = 5) -> str:
    """``a, b, c`` -- or the first ``limit`` and how many more."""
    if len(names) <= limit:
        return sep.join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


def _distinct(labels: list[str]) -> list[str]:
    """Short labels made unique (``server1``, ``server1#2``) for one record set."""
    seen: Counter[str] = Counter()
    out = []
    for label in labels:
        seen[label] += 1
        out.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return out


def _target_label(r: Naptr) -> str:
    """A short name for a record's target: the host of its URI, or its replacement's label."""
    if r.regexp:
        parsed = _parsed_regexp(r.regexp)
        repl = parsed.replacement if isinstance(parsed, SubstitutionExpression) else r.regexp
        host = repl.split("@", 1)[-1]
        return host.split(".")[0].split(";")[0] or repl
    labels = wire_to_text(r.replacement).split(".")
    skip = 2 if labels and labels[0] in ("topon", "topoff") else 0
    return labels[skip] if len(labels) > skip else wire_to_text(r.replacement)


def _kamailio_srv_expected(rs: RecordSet) -> np.ndarray:
    """Kamailio's default SRV order (``dns_srv_lb=0``): priority ascending, weight descending,
    so the heaviest target of the lowest priority takes every request while it is up."""
    out = np.zeros(len(rs.entries) + 1)
    best = min(range(len(rs.entries)),
               key=lambda i: (rs.entries[i].group, -rs.entries[i].value, i))
    out[best] = 1.0
    return out


def _expected(policy: str, rs: RecordSet) -> np.ndarray:
    """Each target's expected share under ``policy`` (:mod:`enumlab.core.policies`, plus Kamailio's
    default SRV order)."""
    if policy == "kamailio-srv":
        return _kamailio_srv_expected(rs)
    return get_policy(policy, rs.kind).expected(rs)


def check_zones(source: str | Path | Authority, *, progress: bool | None = None,
                all_sizes: bool = False) -> ZoneReport:
    """Check every zone file in ``source`` (a directory, or one file), or the zones an
    :class:`Authority` serves (e.g. one edited with ``with_rrset``). ``all_sizes`` keeps every
    answer's size in the report, not only those over 512 bytes."""
    started = time.perf_counter()
    if isinstance(source, Authority):
        report = ZoneReport("zones in memory", [z.origin for z in source.zones])
        checker = _Checker(source, report, all_sizes=all_sizes)
        for served in source.zones:
            checker.zone(served)
        report.seconds = time.perf_counter() - started
        return report
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path} does not exist", subject=str(path))
    files = zone_files(path) if path.is_dir() else [path]
    report = ZoneReport(str(source))
    zones: list[ServedZone] = []
    for file in files:
        try:
            zones.append(load_zone(file, progress=progress, keep_lines=True, strict=False))
        except ZoneError as error:
            where = str(error.subject or file)
            line = int(where.rsplit(":", 1)[1]) if where.rsplit(":", 1)[-1].isdigit() else 0
            report.findings.append(Finding("load", file.name, str(error), "", line, str(file)))
    try:
        authority = Authority(zones)
    except ZoneError as error:
        report.findings.append(Finding("load", str(source), str(error)))
        zones = []
        authority = Authority([])
    report.zones = [z.origin for z in zones]
    checker = _Checker(authority, report, all_sizes=all_sizes)
    for zone in zones:
        checker.zone(zone)
    report.seconds = time.perf_counter() - started
    return report


def rules_table() -> Iterable[tuple[str, str, str, str]]:
    """(rule, severity, standard, fix) for the README and ``--help``."""
    for rule, (severity, reference, fix) in RULES.items():
        yield rule, severity, reference, fix


__all__ = ["RULES", "AnswerSize", "Finding", "ZoneReport", "check_zones", "rules_table"]
