"""enumlab: the DNS that telecom networks route by -- ENUM, NAPTR, S-NAPTR, SRV -- to learn,
validate and debug.

The pure core (numbers, records, the NAPTR regexp engine, procedures, policies) opens no
sockets; the edges (resolver, embedded server) talk real DNS; the CLI and notebooks are fronts.
"""

from .authority import Authority, ZoneLookup
from .ddds import EnumCandidate, EnumResult, resolve_enum
from .e164 import from_enum_domain, normalize, to_enum_domain
from .enumservice import Enumservice, ServiceField, parse_service_field
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
from .lookup import Answer, Exchange, Lookup, Trace, TraceStep
from .naptr_regexp import SubstitutionExpression, apply_regexp
from .records import AddressRecord, InvalidRecord, NaptrRecord, SrvRecord
from .resolver import Resolver, parse_server
from .server import EmbeddedServer

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
