"""Conversion between dnspython messages and enumlab's records (the one place that does it)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
from dns.rdtypes.IN.NAPTR import NAPTR
from dns.rdtypes.IN.SRV import SRV

from ..core.errors import ForgedAnswerError, RecordError
from ..core.records import AddressRecord, InvalidRecord, NaptrRecord, Record, SrvRecord
from .lookup import Answer, Exchange

_MAX_CHAIN = 16


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


def answer_owners(response: dns.message.Message, name: str) -> set[dns.name.Name]:
    """The query name and the names its CNAME chain in the answer section leads to
    (RFC 1034 s4.3.2 step 3a; RFC 2181 s5.4.1: only these answer the question)."""
    owner = dns.name.from_text(name)
    owners = {owner}
    for _ in range(_MAX_CHAIN):
        step = next((r for r in response.answer
                     if r.rdtype == dns.rdatatype.CNAME and r.name == owner), None)
        if step is None or not len(step):
            break
        owner = step[0].target
        if owner in owners:
            break
        owners.add(owner)
    return owners


def answer_from_message(
    response: dns.message.Message, name: str, rdtype: str, exchanges: tuple[Exchange, ...]
) -> Answer:
    """Collect the records of ``rdtype`` from a response's answer section (after any CNAMEs).

    Only RRsets owned by the query name or a name on its CNAME chain are taken; a record of
    the wanted type owned by anything else (``sip:EVIL@...`` under an unrelated owner) is a
    :class:`~enumlab.core.errors.ForgedAnswerError`, never used.
    """
    wanted = dns.rdatatype.from_text(rdtype)
    owners = answer_owners(response, name)
    records: list[Record] = []
    invalid: list[InvalidRecord] = []
    for rrset in response.answer:
        if rrset.name not in owners:
            if rrset.rdtype in (wanted, dns.rdatatype.CNAME):
                raise ForgedAnswerError(
                    f"answer to {name} {rdtype} holds {dns.rdatatype.to_text(rrset.rdtype)} "
                    f"records owned by {rrset.name}, which is neither the name asked nor on "
                    "its CNAME chain (RFC 1034 s4.3.2, RFC 2181 s5.4.1)", subject=name)
            continue
        if rrset.rdtype != wanted:
            continue
        owner = rrset.name.to_text()
        for rdata in rrset:
            try:
                rec = record_from_rdata(rdata, owner, rrset.ttl)
            except (RecordError, UnicodeDecodeError) as exc:
                fields = None
                if isinstance(rdata, NAPTR):
                    fields = (rdata.order, rdata.preference,
                              *(x.decode("utf-8", "replace") for x in (
                                  rdata.flags, rdata.service, rdata.regexp)),
                              rdata.replacement.to_text())
                invalid.append(InvalidRecord(owner, rdtype, rdata.to_text(), str(exc),
                                             fields))  # type: ignore[arg-type]
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
