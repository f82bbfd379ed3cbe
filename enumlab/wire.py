"""Conversion between dnspython messages and enumlab's records (the one place that does it)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
from dns.rdtypes.IN.NAPTR import NAPTR
from dns.rdtypes.IN.SRV import SRV

from .errors import RecordError
from .lookup import Answer, Exchange
from .records import AddressRecord, InvalidRecord, NaptrRecord, Record, SrvRecord


def _text(value: bytes) -> str:
    return value.decode("utf-8")


def record_from_rdata(rdata: object, owner: str, ttl: int) -> Record | None:
    """Convert one dnspython rdata; None for types the procedures do not use."""
    if isinstance(rdata, NAPTR):
        return NaptrRecord(
            rdata.order, rdata.preference, _text(rdata.flags), _text(rdata.service),
            _text(rdata.regexp), rdata.replacement.to_text(), owner=owner, ttl=ttl,
        )
    if isinstance(rdata, SRV):
        return SrvRecord(rdata.priority, rdata.weight, rdata.port, rdata.target.to_text(),
                         owner=owner, ttl=ttl)
    rdtype = dns.rdatatype.to_text(rdata.rdtype)  # type: ignore[attr-defined]
    if rdtype in ("A", "AAAA"):
        return AddressRecord(rdata.address, rdtype, owner=owner, ttl=ttl)  # type: ignore[attr-defined]
    return None


def answer_from_message(
    response: dns.message.Message, name: str, rdtype: str, exchanges: tuple[Exchange, ...]
) -> Answer:
    """Collect the records of ``rdtype`` from a response's answer section (after any CNAMEs)."""
    wanted = dns.rdatatype.from_text(rdtype)
    records: list[Record] = []
    invalid: list[InvalidRecord] = []
    for rrset in response.answer:
        if rrset.rdtype != wanted:
            continue
        owner = rrset.name.to_text()
        for rdata in rrset:
            try:
                rec = record_from_rdata(rdata, owner, rrset.ttl)
            except (RecordError, UnicodeDecodeError) as exc:
                invalid.append(InvalidRecord(owner, rdtype, rdata.to_text(), str(exc)))
                continue
            if rec is not None:
                records.append(rec)
    return Answer(
        name=name,
        rdtype=rdtype,
        rcode=dns.rcode.to_text(response.rcode()),
        records=tuple(records),
        invalid=tuple(invalid),
        exchanges=exchanges,
        authoritative=bool(response.flags & dns.flags.AA),
    )



