"""ENUM service fields: ``E2U+sip``, ``E2U+voice:tel``, ``E2U+email:mailto`` (RFC 6116 s3.4.3).

RFC 6116's grammar is one Enumservice after ``E2U``::

    service-field = "E2U" servicespec
    servicespec   = "+" enumservice
    enumservice   = type 0*(subtypespec)
    subtypespec   = ":" subtype
    type, subtype = 1*32(ALPHA / DIGIT / "-")

RFC 3761 allowed several (``E2U+sip+h323``); enumlab still reads that form, marks it
``legacy`` and reports it in the trace. Matching is case-insensitive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InputError

_TOKEN = re.compile(r"^[A-Za-z0-9-]{1,32}$")


@dataclass(frozen=True)
class Enumservice:
    """One Enumservice: a type and its subtypes, lower-cased (``voice`` + ``("tel",)``)."""

    type: str
    subtypes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return ":".join((self.type, *self.subtypes))


@dataclass(frozen=True)
class ServiceField:
    """A parsed NAPTR SERVICES field of an ENUM record."""

    text: str
    enumservices: tuple[Enumservice, ...]

    @property
    def legacy(self) -> bool:
        """True for the RFC 3761 multi-Enumservice form that RFC 6116 dropped."""
        return len(self.enumservices) > 1

    def provides(self, wanted: ServiceField) -> bool:
        """Does this field offer ``wanted``? Same type; wanted subtypes all present."""
        want = wanted.enumservices[0]
        return any(
            have.type == want.type and set(want.subtypes) <= set(have.subtypes)
            for have in self.enumservices
        )


def parse_service_field(text: str) -> ServiceField:
    """Parse ``E2U+sip`` and friends; raise :class:`InputError` for anything else."""
    head, _, rest = text.partition("+")
    if head.upper() != "E2U" or not rest:
        raise InputError(f"{text!r} is not an ENUM service field (E2U+<type>[:<subtype>])",
                         subject=text)
    services = []
    for spec in rest.split("+"):
        parts = spec.split(":")
        if not all(_TOKEN.match(p) for p in parts):
            raise InputError(f"{text!r}: {spec!r} is not <type>[:<subtype>] (RFC 6116 s3.4.3)",
                             subject=text)
        services.append(Enumservice(parts[0].lower(), tuple(p.lower() for p in parts[1:])))
    return ServiceField(text, tuple(services))
