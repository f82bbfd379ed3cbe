"""enumlab: the DNS that telecom networks route by -- ENUM, NAPTR, S-NAPTR, SRV -- to learn,
validate and debug.

The pure core (numbers, records, the NAPTR regexp engine, procedures, policies) opens no
sockets; the edges (resolver, embedded server) talk real DNS; the CLI and notebooks are fronts.
"""

from typing import TYPE_CHECKING, Any

from .errors import (
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
    "Authority": "authority", "ZoneLookup": "authority",
    "EnumCandidate": "ddds", "EnumResult": "ddds", "resolve_enum": "ddds",
    "from_enum_domain": "e164", "normalize": "e164", "to_enum_domain": "e164",
    "Enumservice": "enumservice", "ServiceField": "enumservice",
    "parse_service_field": "enumservice",
    "Answer": "lookup", "Exchange": "lookup", "Lookup": "lookup", "Trace": "lookup",
    "TraceStep": "lookup",
    "SubstitutionExpression": "naptr_regexp", "apply_regexp": "naptr_regexp",
    "AddressRecord": "records", "InvalidRecord": "records", "NaptrRecord": "records",
    "SrvRecord": "records",
    "Resolver": "resolver", "parse_server": "resolver",
    "EmbeddedServer": "server",
}

if TYPE_CHECKING:
    from .authority import Authority, ZoneLookup
    from .ddds import EnumCandidate, EnumResult, resolve_enum
    from .e164 import from_enum_domain, normalize, to_enum_domain
    from .enumservice import Enumservice, ServiceField, parse_service_field
    from .lookup import Answer, Exchange, Lookup, Trace, TraceStep
    from .naptr_regexp import SubstitutionExpression, apply_regexp
    from .records import AddressRecord, InvalidRecord, NaptrRecord, SrvRecord
    from .resolver import Resolver, parse_server
    from .server import EmbeddedServer


def __getattr__(name: str) -> Any:
    from .lazy import attribute

    return attribute(__name__, _LAZY, name, globals())


def __dir__() -> list[str]:
    return sorted(__all__)


__version__ = "0.1.0"

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
