"""What real ENUM clients do with the same records: emulations, documented from their source.

These are pure functions over the lookup interface, so the notebook can put them beside the
RFC procedure and the test suite can check them against the real program (Kamailio, run in a
network namespace by :mod:`enumlab.lab.kamailio`).

Kamailio's ``enum`` module, ``enum_query()`` (src/modules/enum/enum.c, 5.x):

* the Request-URI user must be ``+digits``; the domain is built as RFC 6116 says;
* records are bubble-sorted by ``(order << 16) + preference`` -- a stable sort, so exact ties
  keep the order the DNS answer listed them in;
* a record is used only if FLAGS is exactly ``u`` and SERVICES is exactly ``e2u+sip`` (or
  ``sip+e2u``), case-insensitive: no ``E2U+voice:tel``, no RFC 3761 ``E2U+sip+h323``, and
  non-terminal rules are never followed;
* the regexp must use ``!`` as delimiter; text after the third ``!`` (the ``i`` flag) is
  ignored; the substitution (glibc POSIX ERE) outputs the replacement alone;
* the first usable record rewrites the Request-URI (q=0.99); every later usable record, in any
  ORDER, is appended as a branch with q lowered by 0.01 per (order, preference) step -- a fork
  across ORDERs that RFC 3403 would not allow;
* at most :data:`KAMAILIO_MAX_BRANCHES` URIs in all (the R-URI and 11 branches: 30 matching
  records give 12);
* a record carrying both a REGEXP and a REPLACEMENT (refused by RFC 3403 s4.1 and by enumlab's
  record parser) is used: Kamailio applies its REGEXP.

Checked against the real Kamailio 5.6 in a network namespace (:mod:`enumlab.lab.kamailio`): the
proxy answers 300 with its whole destination set (``$ds``), URIs and q values compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.e164 import DEFAULT_SUFFIX, normalize, to_enum_domain
from ..core.errors import RegexpError
from ..core.naptr_regexp import SubstitutionExpression
from ..core.records import NaptrRecord
from ..resolve.lookup import Lookup

MAX_Q = 1.0
KAMAILIO_MAX_BRANCHES = 12  # MAX_BRANCHES in Kamailio's core (config.h)


@dataclass(frozen=True)
class KamailioBranch:
    uri: str
    q: float
    order: int
    preference: int


def kamailio_enum_query(number: str, lookup: Lookup, *, suffix: str = DEFAULT_SUFFIX,
                        service: str = "") -> list[KamailioBranch]:
    """The Request-URI (first item) and branches Kamailio's ``enum_query()`` would produce.

    ``service`` empty means Kamailio's default: ``e2u+sip`` only.
    """
    aus = normalize(number)
    domain = to_enum_domain(aus, suffix)
    answer = lookup.query(domain, "NAPTR")
    if answer.rcode != "NOERROR":
        return []
    records: list[Any] = [r for r in answer.records if isinstance(r, NaptrRecord)]
    # records the RFC refuses for carrying both fields: Kamailio still reads their REGEXP
    records += [_Raw(*bad.naptr_fields) for bad in answer.invalid
                if bad.naptr_fields is not None and bad.naptr_fields[4]]
    records.sort(key=lambda r: (r.order << 16) + r.preference)  # stable, like its bubble sort
    out: list[KamailioBranch] = []
    q, current = MAX_Q - 0.01, -1
    for rec in records:
        if not _sip_match(rec, service):
            continue
        uri = _kamailio_substitute(rec.regexp, aus)
        if uri is None:
            continue
        priority = (rec.order << 16) + rec.preference
        if out and priority > current:
            q = round(q - 0.01, 2)
        current = priority
        out.append(KamailioBranch(uri, q, rec.order, rec.preference))
        if len(out) == KAMAILIO_MAX_BRANCHES:
            break
    return out


@dataclass(frozen=True)
class _Raw:
    """A NAPTR as Kamailio reads it, whatever RFC 3403 says of it."""

    order: int
    preference: int
    flags: str
    services: str
    regexp: str
    replacement: str


def _sip_match(rec: Any, service: str) -> bool:
    if rec.flags.lower() != "u":
        return False
    services = str(rec.services).lower()
    if not service:
        return services in ("e2u+sip", "sip+e2u")
    return services == f"e2u+{service.lower()}:sip"


def _kamailio_substitute(regexp: str, aus: str) -> str | None:
    if not regexp.startswith("!") or regexp.count("!") < 3:
        return None
    _, pattern, replacement, *_ = regexp.split("!", 3)
    try:
        expr = SubstitutionExpression.parse(f"!{pattern}!{replacement}!")
        return expr.apply(aus, output="replacement")
    except RegexpError:
        return None
