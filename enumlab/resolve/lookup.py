"""The small lookup interface the pure procedures are written against.

ENUM's DDDS, S-NAPTR and RFC 3263 never open a socket: they call ``lookup.query(name, rdtype)``
and get an :class:`Answer` back. :class:`enumlab.resolve.resolver.Resolver` answers over real DNS;
:class:`enumlab.zones.authority.ZoneLookup` answers straight from loaded zone files; a test can
supply anything with the same method.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ..core.errors import NameNotFoundError, ServerFailureError
from ..core.records import InvalidRecord, Record


@dataclass(frozen=True)
class Exchange:
    """One DNS message exchange: what went over which transport and how big it was."""

    server: str
    transport: str  # "udp" | "tcp" | "zone" (answered from memory)
    query_size: int
    response_size: int
    truncated: bool
    elapsed_ms: float
    edns_payload: int | None = None

    def __str__(self) -> str:
        """``UDP to 127.0.0.1:5353: query 60 B (EDNS0 1232) -> answer 1164 B in 2.0 ms``."""
        if self.transport == "zone":
            return "answered from zone data in memory"
        edns = f" (EDNS0 {self.edns_payload})" if self.edns_payload else " (no EDNS0)"
        tc = ", TC=1: truncated" if self.truncated else ""
        return (f"{self.transport.upper()} to {self.server}: query {self.query_size} B{edns} "
                f"-> answer {self.response_size} B{tc} in {self.elapsed_ms:.1f} ms")


@dataclass(frozen=True)
class Answer:
    """The records of one type at one name, as a procedure needs them."""

    name: str
    rdtype: str
    rcode: str  # "NOERROR", "NXDOMAIN", "SERVFAIL", ...
    records: tuple[Record, ...] = ()
    invalid: tuple[InvalidRecord, ...] = ()
    exchanges: tuple[Exchange, ...] = ()
    authoritative: bool = False

    @property
    def ok(self) -> bool:
        return self.rcode == "NOERROR"

    def raise_for_rcode(self) -> None:
        """Raise a typed error for any rcode but NOERROR."""
        if self.rcode == "NOERROR":
            return
        message = f"{self.name} {self.rdtype}: {self.rcode}"
        if self.rcode == "NXDOMAIN":
            raise NameNotFoundError(message, subject=self.name)
        raise ServerFailureError(message, subject=self.name)


class Lookup(Protocol):
    """Anything that can answer a DNS question for a procedure."""

    def query(self, name: str, rdtype: str) -> Answer: ...


class MemoLookup:
    """A :class:`Lookup` that asks each (name, type) once and gives the same answer again: a
    client model run hundreds of times against one zone without re-asking the server."""

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.seen: dict[tuple[str, str], Answer] = {}

    def query(self, name: str, rdtype: str) -> Answer:
        key = (name.lower(), rdtype)
        if key not in self.seen:
            self.seen[key] = self.lookup.query(name, rdtype)
        return self.seen[key]


@dataclass
class TraceStep:
    """One line of a procedure's trace: a query, a record decision, or a note."""

    kind: str  # "query" | "record" | "note"
    text: str
    name: str = ""
    rdtype: str = ""
    rcode: str = ""
    record: str = ""
    verdict: str = ""  # "kept" | "dropped" | "not considered"
    reason: str = ""
    result: str = ""
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    depth: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in ("", [], None) or k == "kind"}


class Trace(list[TraceStep]):
    """The steps of one resolution, in the order they happened."""

    def query(self, answer: Answer, depth: int = 0) -> None:
        total = len(answer.records) + len(answer.invalid)
        legs = " then ".join(
            "from zone data" if e.transport == "zone"
            else f"{e.transport.upper()} {e.response_size}B{' TC=1' if e.truncated else ''}"
            f" {e.elapsed_ms:.1f}ms"
            for e in answer.exchanges
        )
        text = f"{answer.name} {answer.rdtype} -> {answer.rcode}, {total} record(s)"
        if legs:
            text += f" [{legs}]"
        self.append(
            TraceStep(
                kind="query",
                text=text,
                name=answer.name,
                rdtype=answer.rdtype,
                rcode=answer.rcode,
                exchanges=[asdict(e) for e in answer.exchanges],
                depth=depth,
            )
        )

    def record(
        self, record: str, verdict: str, reason: str, result: str = "", depth: int = 0
    ) -> None:
        text = f"{verdict}: {record} -- {reason}" + (f" => {result}" if result else "")
        self.append(
            TraceStep(kind="record", text=text, record=record, verdict=verdict, reason=reason,
                      result=result, depth=depth)
        )

    def note(self, text: str, depth: int = 0) -> None:
        self.append(TraceStep(kind="note", text=text, depth=depth))

    def to_list(self) -> list[dict[str, Any]]:
        return [step.to_dict() for step in self]

    def format(self) -> str:
        """Render like a teaching ``dig``: one indented line a step."""
        marks = {"query": ";; ?", "record": ";;  ", "note": ";; *"}
        return "\n".join(f"{marks[s.kind]} {'  ' * s.depth}{s.text}" for s in self)
