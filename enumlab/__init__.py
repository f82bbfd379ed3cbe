"""enumlab: the DNS that telecom networks route by -- ENUM, NAPTR, S-NAPTR, SRV -- to learn,
validate and debug.

The pure core (numbers, records, the NAPTR regexp engine, procedures, policies) opens no
sockets; the edges (resolver, embedded server) talk real DNS; the CLI and notebooks are fronts.
"""

from typing import TYPE_CHECKING, Any

from .core.errors import (
    DnsError,
    EnumlabError,
    ForgedAnswerError,
    InputError,
    InvalidNumberError,
    LabServerError,
    LoopError,
    NameNotFoundError,
    ProcedureError,
    QueryTimeoutError,
    RecordError,
    RegexpError,
    ServerFailureError,
    ServerUnreachableError,
    ToolMissingError,
    ZoneError,
)

# The rest is imported on first use (PEP 562): `enumlab pcap` on a small capture should not pay
# for dnspython and the zone machinery it never touches.
_LAZY = {
    "Authority": "zones.authority", "ZoneLookup": "zones.authority",
    "EnumCandidate": "resolve.ddds", "EnumResult": "resolve.ddds", "resolve_enum": "resolve.ddds",
    "from_enum_domain": "core.e164", "normalize": "core.e164", "to_enum_domain": "core.e164",
    "Enumservice": "core.enumservice", "ServiceField": "core.enumservice",
    "parse_service_field": "core.enumservice",
    "Answer": "resolve.lookup", "Exchange": "resolve.lookup", "Lookup": "resolve.lookup",
    "Trace": "resolve.lookup", "TraceStep": "resolve.lookup",
    "SubstitutionExpression": "core.naptr_regexp", "apply_regexp": "core.naptr_regexp",
    "AddressRecord": "core.records", "InvalidRecord": "core.records", "NaptrRecord": "core.records",
    "SrvRecord": "core.records",
    "Resolver": "resolve.resolver", "parse_server": "resolve.resolver",
    "EmbeddedServer": "lab.server",
}

if TYPE_CHECKING:
    from .core.e164 import from_enum_domain, normalize, to_enum_domain
    from .core.enumservice import Enumservice, ServiceField, parse_service_field
    from .core.naptr_regexp import SubstitutionExpression, apply_regexp
    from .core.records import AddressRecord, InvalidRecord, NaptrRecord, SrvRecord
    from .lab.server import EmbeddedServer
    from .resolve.ddds import EnumCandidate, EnumResult, resolve_enum
    from .resolve.lookup import Answer, Exchange, Lookup, Trace, TraceStep
    from .resolve.resolver import Resolver, parse_server
    from .zones.authority import Authority, ZoneLookup


def __getattr__(name: str) -> Any:
    from .core.lazy import attribute

    return attribute(__name__, _LAZY, name, globals())


def __dir__() -> list[str]:
    return sorted(__all__)


__version__ = "0.1.0"  # the one place the version is written (pyproject reads it)

__all__ = [
    "AddressRecord",
    "Answer",
    "Authority",
    "DnsError",
    "EmbeddedServer",
    "EnumCandidate",
    "EnumResult",
    "EnumlabError",
    "Enumservice",
    "Exchange",
    "ForgedAnswerError",
    "InputError",
    "InvalidNumberError",
    "InvalidRecord",
    "LabServerError",
    "Lookup",
    "LoopError",
    "NameNotFoundError",
    "NaptrRecord",
    "ProcedureError",
    "QueryTimeoutError",
    "RecordError",
    "RegexpError",
    "Resolver",
    "ServerFailureError",
    "ServerUnreachableError",
    "ServiceField",
    "SrvRecord",
    "SubstitutionExpression",
    "ToolMissingError",
    "Trace",
    "TraceStep",
    "ZoneError",
    "ZoneLookup",
    "apply_regexp",
    "from_enum_domain",
    "normalize",
    "parse_server",
    "parse_service_field",
    "resolve_enum",
    "to_enum_domain",
]
