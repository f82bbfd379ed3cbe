"""The one exception hierarchy of enumlab.

Every error enumlab raises is an :class:`EnumlabError`; each subclass says what went wrong and
keeps the input that caused it in ``.subject`` so a caller (or the CLI's one-line error) can
name it. Foreign errors (dnspython, sockets, tshark) are translated at the edge that meets
them, with ``raise ... from exc``.

::

    EnumlabError
    ├── InputError                 bad input given to enumlab or found in DNS data
    │   ├── InvalidNumberError     not an E.164 number
    │   ├── RecordError            a NAPTR/SRV record that breaks its RFC
    │   │   └── RegexpError        a NAPTR substitution expression that is invalid or unsafe
    │   └── ZoneError              a zone file that cannot be served
    ├── ProcedureError             a resolution procedure could not complete
    │   └── LoopError              a rewrite loop or too many non-terminal steps
    ├── DnsError                   the DNS exchange itself failed
    │   ├── ForgedAnswerError      a reply that does not answer the query (id, question, owner)
    │   ├── NameNotFoundError      NXDOMAIN where a name was required
    │   ├── ServerFailureError     SERVFAIL, REFUSED or another error rcode
    │   ├── QueryTimeoutError      no answer in time
    │   └── ServerUnreachableError ICMP unreachable / connection refused
    ├── LabServerError             the embedded or BIND lab server could not start
    └── ToolMissingError           an external program (named, tshark, ...) is not installed
"""

from __future__ import annotations

from typing import Any

SHOWN_LIMIT = 80


def shown(value: Any, limit: int = SHOWN_LIMIT) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages about user input: a
    1 MB argument is named by its start and its length, not echoed whole."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, (str, bytes)) else len(text)
    return f"{text[: limit - 1]}... ({size:,} characters)"


class EnumlabError(Exception):
    """Root of every enumlab error; ``subject`` is the input it is about."""

    def __init__(self, message: str, *, subject: Any = None) -> None:
        super().__init__(message)
        self.subject = subject


class InputError(EnumlabError):
    """Input given to enumlab, or data read from DNS, is malformed."""


class NothingUsableError(InputError):
    """The input was read whole and is sound, but holds nothing to work on (a capture with no
    DNS message): the command's exit code is 1 ("nothing usable"), not 2 (an error)."""


class InvalidNumberError(InputError):
    """Text that is not a valid E.164 number (ITU-T E.164, RFC 6116 section 2.4)."""


class RecordError(InputError):
    """A resource record whose fields break the rules of its RFC."""


class RegexpError(RecordError):
    """A NAPTR substitution expression that is invalid, unsupported or unsafe (RFC 3402 s3.2)."""


class ZoneError(InputError):
    """A zone file that cannot be loaded or served."""


class ProcedureError(EnumlabError):
    """A DDDS / S-NAPTR / RFC 3263 procedure could not complete.

    ``partial`` carries whatever the procedure had found before it stopped.
    """

    def __init__(self, message: str, *, subject: Any = None, partial: Any = None) -> None:
        super().__init__(message, subject=subject)
        self.partial = partial


class LoopError(ProcedureError):
    """A NAPTR rewrite loop, or more non-terminal steps than the depth limit allows."""


class DnsError(EnumlabError):
    """A DNS exchange failed; ``trace`` holds the exchanges made before the failure."""

    def __init__(self, message: str, *, subject: Any = None, trace: Any = None) -> None:
        super().__init__(message, subject=subject)
        self.trace = trace


class ForgedAnswerError(DnsError):
    """A reply that does not answer the query: wrong id, QR=0, another question, TC=1 over
    TCP, or answer records owned by a name that is neither the query name nor on its CNAME
    chain (RFC 5452 s9.1, RFC 1034 s4.3.2, RFC 2181 s5.4.1). Never used, always reported."""


class NameNotFoundError(DnsError):
    """The server answered NXDOMAIN for a name that had to exist."""


class ServerFailureError(DnsError):
    """The server answered SERVFAIL, REFUSED, FORMERR or another error rcode."""


class QueryTimeoutError(DnsError):
    """No answer arrived before the timeout."""


class ServerUnreachableError(DnsError):
    """The server could not be reached (port unreachable, connection refused)."""


class LabServerError(EnumlabError):
    """A lab DNS server (embedded or BIND) could not be started or stopped."""


class ToolMissingError(EnumlabError):
    """An external program enumlab needs is not installed; the message names the package."""
