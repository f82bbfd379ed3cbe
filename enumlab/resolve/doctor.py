"""The resolver doctor: does the system resolver see what the authoritative server holds?

Kamailio (and most SIP stacks) resolve through the system resolver, configured by
``/etc/resolv.conf``. The seed's P-CSCF failed because resolv.conf pointed at localhost, where
nothing could resolve the IMS domain, while ``nslookup`` against the right server worked. The
doctor reads resolv.conf (nameservers, search, ndots -- resolv.conf(5)), asks each nameserver
the questions a SIP server would ask for a domain (NAPTR, the SIP SRV names, A/AAAA), asks the
authoritative lab server the same, and names any mismatch in one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import DnsError, InputError
from .lookup import Answer
from .resolver import Resolver

MAXNS = 3  # glibc uses at most three nameservers (resolv.h MAXNS)
DEFAULT_NAMESERVER = "127.0.0.1"  # glibc's choice when resolv.conf names none


@dataclass(frozen=True)
class ResolvConf:
    """What resolv.conf(5) tells the system resolver."""

    path: str
    nameservers: tuple[str, ...]
    search: tuple[str, ...] = ()
    ndots: int = 1
    timeout: float = 5.0
    attempts: int = 2
    ignored: tuple[str, ...] = ()

    @property
    def effective_nameservers(self) -> tuple[str, ...]:
        return self.nameservers[:MAXNS] or (DEFAULT_NAMESERVER,)


def read_resolv_conf(path: str | Path = "/etc/resolv.conf") -> ResolvConf:
    """Read and parse a resolv.conf file (see :func:`parse_resolv_conf`)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror}", subject=str(p)) from exc
    return parse_resolv_conf(text, name=str(p))


def parse_resolv_conf(text: str, *, name: str = "resolv.conf") -> ResolvConf:
    """Parse resolv.conf(5) text: ``nameserver``, ``search``/``domain`` (last one wins),
    ``options``. ``name`` is what findings call the file (a path, or a label such as
    ``"the rebuilt P-CSCF's resolv.conf"``)."""
    nameservers: list[str] = []
    search: tuple[str, ...] = ()
    options: dict[str, str] = {}
    ignored: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        key, *values = line.split()
        if key == "nameserver" and values:
            nameservers.append(values[0])
        elif key in ("search", "domain") and values:
            search = tuple(values)
        elif key == "options":
            for opt in values:
                option, _, value = opt.partition(":")
                options[option] = value
        else:
            ignored.append(line)
    def number(option: str, default: float) -> float:
        try:
            return float(options[option]) if option in options else default
        except ValueError:
            return default
    return ResolvConf(name, tuple(nameservers), search, int(number("ndots", 1)),
                      number("timeout", 5.0), int(number("attempts", 2)), tuple(ignored))


@dataclass
class Comparison:
    """One question asked of one nameserver and of the authoritative server."""

    nameserver: str
    name: str
    rdtype: str
    authoritative: list[str]
    system: list[str] | None  # None: no answer at all
    system_rcode: str
    error: str = ""

    @property
    def matches(self) -> bool:
        return self.system is not None and sorted(self.system) == sorted(self.authoritative)


@dataclass
class DoctorReport:
    domain: str
    resolv_conf: ResolvConf
    authoritative_server: str
    comparisons: list[Comparison] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    ok: bool = True

    def to_dict(self) -> dict[str, Any]:
        rc = self.resolv_conf
        return {
            "domain": self.domain,
            "ok": self.ok,
            "findings": self.findings,
            "resolv_conf": {"path": rc.path, "nameservers": list(rc.nameservers),
                            "search": list(rc.search), "ndots": rc.ndots},
            "authoritative_server": self.authoritative_server,
            "comparisons": [
                {"nameserver": c.nameserver, "name": c.name, "type": c.rdtype,
                 "authoritative": c.authoritative, "system": c.system,
                 "system_rcode": c.system_rcode, "error": c.error, "match": c.matches}
                for c in self.comparisons
            ],
        }


def _texts(answer: Answer) -> list[str]:
    return [r.to_text() for r in answer.records]


def questions(domain: str) -> list[tuple[str, str]]:
    """What a SIP server asks about a domain (RFC 3263): NAPTR, SIP SRV names, A and AAAA."""
    d = domain.rstrip(".") + "."
    return [(d, "NAPTR"), (f"_sip._udp.{d}", "SRV"), (f"_sip._tcp.{d}", "SRV"),
            (f"_sips._tcp.{d}", "SRV"), (d, "A"), (d, "AAAA")]


def diagnose(domain: str, authoritative: Resolver, resolv: ResolvConf, *,
             timeout: float = 1.0, port: int = 53) -> DoctorReport:
    """Compare the system resolver's nameservers with the authoritative server for ``domain``.

    ``port`` is for labs only: resolv.conf cannot name a port and glibc always asks port 53
    (resolv.conf(5)); a lab resolver on loopback without root listens elsewhere."""
    report = DoctorReport(domain.rstrip("."), resolv, authoritative.server)
    asked = [(name, rdtype, authoritative.query(name, rdtype)) for name, rdtype in
             questions(domain)]
    holds = [(n, t) for n, t, a in asked if a.records]
    if not holds:
        report.ok = False
        report.findings.append(f"the authoritative server {authoritative.server} holds no "
                               f"NAPTR, SIP SRV or address records for {report.domain} either: "
                               "fix the zone first")
        return report
    for ns in resolv.effective_nameservers:
        system = Resolver(ns, port, timeout=timeout, recursion_desired=True)
        where = ns if port == 53 else f"{ns} (port {port})"
        failure = ""
        for name, rdtype, auth in asked:
            try:
                answer = system.query(name, rdtype)
                comparison = Comparison(ns, name, rdtype, _texts(auth), _texts(answer),
                                        answer.rcode)
            except DnsError as exc:
                comparison = Comparison(ns, name, rdtype, _texts(auth), None, "", str(exc))
            report.comparisons.append(comparison)
            if not comparison.matches and not failure:
                failure = _sentence(resolv, where, report.domain, comparison,
                                    authoritative.server)
        if failure:
            report.ok = False
            report.findings.append(failure)
        else:
            report.findings.append(f"{resolv.path} points to {where}, which gives the same "
                                   f"answers for {report.domain} as {authoritative.server}")
    if not resolv.nameservers:
        report.findings.append(f"{resolv.path} names no nameserver, so glibc uses "
                               f"{DEFAULT_NAMESERVER}:53")
    dots = report.domain.count(".")
    if resolv.search and dots < resolv.ndots:
        report.findings.append(
            f"ndots:{resolv.ndots} and {report.domain} has {dots} dots: the system resolver "
            f"tries the search domains ({', '.join(resolv.search)}) before the name itself; "
            "write names with a trailing dot in SIP configuration")
    return report


def _sentence(resolv: ResolvConf, ns: str, domain: str, c: Comparison, auth: str) -> str:
    where = f"the records exist on {auth}"
    if c.system is None:
        if "unreachable" in c.error:
            reason = "cannot be reached (" + c.error.rsplit(": ", 1)[-1] + ")"
        elif "no UDP answer" in c.error or "no TCP answer" in c.error:
            reason = "does not answer"
        else:
            reason = f"fails ({c.error})"
        return (f"{resolv.path} points to {ns}, which {reason}, so it cannot resolve "
                f"{domain}; {where}")
    if c.system_rcode != "NOERROR":
        return (f"{resolv.path} points to {ns}, which answers {c.system_rcode} for {c.name} "
                f"{c.rdtype} and so cannot resolve {domain}; {where}")
    return (f"{resolv.path} points to {ns}, whose {c.rdtype} answer for {c.name} "
            f"({len(c.system)} record(s)) differs from the authoritative one "
            f"({len(c.authoritative)} record(s)) on {auth}")
