"""DNS record models used by the pure core: NAPTR, SRV and address records.

Records are immutable and validated on construction (RFC 3403 section 4.1 for NAPTR,
RFC 2782 for SRV): 16-bit fields in range, character-strings at most 255 octets, and a
NAPTR's REGEXP and REPLACEMENT never both present. Text fields are kept in *wire* form: the
zone-file escaping of RFC 1035 section 5.1 (``"!^(.*)$!sip:\\\\1@x!"`` in a zone file is
``!^(.*)$!sip:\\1@x!`` on the wire) is undone once, where records enter enumlab
(dnspython's zone and message parsers, or :meth:`NaptrRecord.from_text`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import RecordError

_MAX_CHARSTRING = 255
_FLAGS_RE = re.compile(r"^[A-Za-z0-9]*$")


def _check_u16(value: int, field: str, record: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
        raise RecordError(f"{record}: {field} {value!r} is not a 16-bit unsigned integer",
                          subject=record)


def _check_charstring(value: str, field: str, record: str) -> None:
    if not isinstance(value, str):
        raise RecordError(f"{record}: {field} must be text", subject=record)
    if len(value.encode("utf-8")) > _MAX_CHARSTRING:
        raise RecordError(
            f"{record}: {field} is longer than 255 octets (RFC 1035 character-string)",
            subject=record,
        )


def _canonical_name(name: str) -> str:
    name = name.strip()
    if name in ("", "."):
        return "."
    return name if name.endswith(".") else name + "."


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _quote(value: str) -> str:
    """A character-string in presentation form (RFC 1035 s5.1): quoted, ``\\`` and ``"``
    escaped, and every control character as ``\\DDD`` as dig prints it -- so a record's text
    never carries an ESC or BEL to a terminal, a log or a report."""
    text = value.replace("\\", "\\\\").replace('"', '\\"')
    if _CONTROL.search(text):
        text = _CONTROL.sub(lambda m: f"\\{ord(m.group()):03d}", text)
    return '"' + text + '"'


@dataclass(frozen=True)
class NaptrRecord:
    """A NAPTR record (RFC 3403 section 4.1), text fields in wire form.

    ``replacement`` is a domain name; ``"."`` means "no replacement". ``owner`` is the name the
    record was found at (empty when unknown).
    """

    order: int
    preference: int
    flags: str
    services: str
    regexp: str
    replacement: str = "."
    owner: str = ""
    ttl: int = 0

    def __post_init__(self) -> None:
        label = self.owner or "NAPTR record"
        _check_u16(self.order, "ORDER", label)
        _check_u16(self.preference, "PREFERENCE", label)
        for field in ("flags", "services", "regexp"):
            _check_charstring(getattr(self, field), field.upper(), label)
        if not _FLAGS_RE.match(self.flags):
            raise RecordError(
                f"{label}: FLAGS {self.flags!r} may hold only A-Z and 0-9 (RFC 3403 section 4.1)",
                subject=self.to_text(),
            )
        object.__setattr__(self, "replacement", _canonical_name(self.replacement))
        if self.regexp and self.replacement != ".":
            raise RecordError(
                f"{label}: REGEXP and REPLACEMENT are mutually exclusive (RFC 3403 section 4.1)",
                subject=self.to_text(),
            )

    @property
    def key(self) -> tuple[int, int]:
        """The (order, preference) pair records are sorted by."""
        return (self.order, self.preference)

    def to_text(self) -> str:
        """The record in zone-file presentation form (strings re-escaped)."""
        return (
            f"{self.order} {self.preference} {_quote(self.flags)} {_quote(self.services)} "
            f"{_quote(self.regexp)} {self.replacement}"
        )

    @classmethod
    def from_text(cls, text: str, *, owner: str = "") -> NaptrRecord:
        """Parse the presentation form ``10 100 "u" "E2U+sip" "!^.*$!sip:x@y!" .``.

        Zone-file escapes (``\\\\`` -> ``\\``, ``\\"`` -> ``"``, ``\\DDD``) are undone here, once.
        """
        tokens = _split_presentation(text)
        if len(tokens) != 6:
            raise RecordError(
                f"NAPTR text needs 6 fields (order preference flags services regexp "
                f"replacement), got {len(tokens)}: {text!r}",
                subject=text,
            )
        try:
            order, preference = int(tokens[0]), int(tokens[1])
        except ValueError as exc:
            raise RecordError(f"ORDER and PREFERENCE must be integers: {text!r}",
                              subject=text) from exc
        return cls(order, preference, tokens[2], tokens[3], tokens[4], tokens[5], owner=owner)


@dataclass(frozen=True)
class SrvRecord:
    """An SRV record (RFC 2782); ``target == "."`` means the service is not available."""

    priority: int
    weight: int
    port: int
    target: str
    owner: str = ""
    ttl: int = 0

    def __post_init__(self) -> None:
        label = self.owner or "SRV record"
        _check_u16(self.priority, "PRIORITY", label)
        _check_u16(self.weight, "WEIGHT", label)
        _check_u16(self.port, "PORT", label)
        object.__setattr__(self, "target", _canonical_name(self.target))

    def to_text(self) -> str:
        return f"{self.priority} {self.weight} {self.port} {self.target}"


@dataclass(frozen=True)
class AddressRecord:
    """An A or AAAA record."""

    address: str
    rdtype: str = "A"
    owner: str = ""
    ttl: int = 0

    def to_text(self) -> str:
        return self.address


@dataclass(frozen=True)
class InvalidRecord:
    """A record that came from DNS but broke its RFC: kept, with the reason, for the trace."""

    owner: str
    rdtype: str
    text: str
    reason: str
    # a NAPTR's six fields as they came (order, preference, flags, services, regexp,
    # replacement): a peer that reads records the RFC refuses (Kamailio applies the REGEXP of
    # a record that also has a REPLACEMENT) can still be modelled
    naptr_fields: tuple[int, int, str, str, str, str] | None = None


@dataclass(frozen=True)
class RawNaptr:
    """A NAPTR's six fields as a client that does not check them reads them -- e.g. one with
    both a REGEXP and a REPLACEMENT, which RFC 3403 s4.1 refuses and :class:`NaptrRecord`
    will not build, but Kamailio and sip-dig act on (their models in :mod:`enumlab.split`)."""

    order: int
    preference: int
    flags: str
    services: str
    regexp: str
    replacement: str


Record = NaptrRecord | SrvRecord | AddressRecord


def _split_presentation(text: str) -> list[str]:
    """Split RFC 1035 section 5.1 presentation text into unescaped tokens."""
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        quoted = ch == '"'
        if quoted:
            i += 1
        buf: list[str] = []
        while i < n:
            ch = text[i]
            if quoted and ch == '"':
                i += 1
                break
            if not quoted and ch.isspace():
                break
            if ch == "\\":
                digits = text[i + 1 : i + 4]
                if len(digits) == 3 and digits.isascii() and digits.isdigit():
                    buf.append(chr(int(digits)))
                    i += 4
                    continue
                if i + 1 >= n:
                    raise RecordError(f"dangling backslash in {text!r}", subject=text)
                buf.append(text[i + 1])
                i += 2
                continue
            buf.append(ch)
            i += 1
        else:
            if quoted:
                raise RecordError(f"unterminated quoted string in {text!r}", subject=text)
        tokens.append("".join(buf))
    return tokens


def short_label(label: str) -> str:
    """``sip:service@server1.enum.example.com`` -> ``server1``: keeps axis labels readable."""
    if "@" in label:
        return label.split("@", 1)[1].split(".", 1)[0].split(";")[0]
    import ipaddress

    try:
        ipaddress.ip_address(label)
        return label  # an address is its own short name
    except ValueError:
        pass
    return label.rstrip(".").split(".")[0] if "." in label else label
