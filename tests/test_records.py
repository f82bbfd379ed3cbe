"""Record models (RFC 3403 s4.1, RFC 2782) and ENUM service fields (RFC 6116 s3.4.3)."""

from __future__ import annotations

import numpy as np
import pytest

from enumlab import (
    InputError,
    NaptrRecord,
    RecordError,
    SrvRecord,
    parse_service_field,
)
from enumlab.core.policies import rfc3403_order


def test_from_text_undoes_zone_escaping_once() -> None:
    rec = NaptrRecord.from_text(r'10 100 "u" "E2U+sip" "!^(.*)$!sip:\\1@x!" .')
    assert rec.regexp == r"!^(.*)$!sip:\1@x!"  # wire form: one backslash
    assert rec.to_text() == r'10 100 "u" "E2U+sip" "!^(.*)$!sip:\\1@x!" .'
    assert NaptrRecord.from_text(rec.to_text()) == rec
    assert NaptrRecord.from_text(r'1 1 "u" "E2U+sip" "!a!\033!" .').regexp == "!a!!!"


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ((70000, 1, "u", "E2U+sip", "!a!b!", "."), "ORDER"),
        ((1, -1, "u", "E2U+sip", "!a!b!", "."), "PREFERENCE"),
        ((1, 1, "u!", "E2U+sip", "!a!b!", "."), "FLAGS"),
        ((1, 1, "u", "E2U+sip", "!a!b!", "x.example."), "mutually exclusive"),
        ((1, 1, "u", "E2U+sip", "!" + "a" * 300 + "!b!", "."), "255 octets"),
    ],
)
def test_naptr_validation(fields: tuple, needle: str) -> None:
    with pytest.raises(RecordError, match=needle):
        NaptrRecord(*fields)


@pytest.mark.parametrize("text", ['1 1 "u" "E2U+sip" "!a!b!"', 'x 1 "u" "s" "" .',
                                  '1 1 "u" "E2U+sip" "!a!b!', '1 1 "u" "E2U+sip" "!a!b!" . \\'])
def test_from_text_rejects_malformed(text: str) -> None:
    with pytest.raises(RecordError):
        NaptrRecord.from_text(text)


def test_srv_record() -> None:
    assert SrvRecord(10, 0, 5060, "sip.example.com").target == "sip.example.com."
    with pytest.raises(RecordError, match="PORT"):
        SrvRecord(10, 0, 70000, "x.")


def test_asterisk_processing_order_vector() -> None:
    # Asterisk tests/test_dns_naptr.c valid records -> processing order 10,3,5,0,2,1,4,9,7,8,6,11
    rows = [
        (200, 100, "A", "BLAH", "", "goose.down"), (300, 8, "", "BLAH", "", "goose.down"),
        (300, 6, "3", "BLAH", "", "goose.down"), (100, 2, "32", "BLAH", "", "goose.down"),
        (400, 100, "A32", "BLAH", "", "goose.down"), (100, 700, "", "", "", "goose.down"),
        (500, 102, "A", "A+B12+C+D+" + "E" * 32, "", "goose.down"),
        (500, 100, "A", "A+B12+C+D+EEEE", "", "goose.down"),
        (500, 101, "A", "BLAH", "!.*!horse.mane!", ""),
        (500, 99, "A", "BLAH", "0.*0horse.mane0", ""),
        (10, 100, "A", "BLAH", "!.*!\\!\\!\\!!", ""),
        (700, 999, "A", "BLAH", "!(.)(.)(.)(.)!\\1.m.\\2.n\\3.o\\4!", ""),
    ]
    records = [NaptrRecord(*row, owner=f"r{i}") for i, row in enumerate(rows)]
    ordered = rfc3403_order(records, np.random.default_rng(0))
    assert [int(r.owner[1:]) for r in ordered] == [10, 3, 5, 0, 2, 1, 4, 9, 7, 8, 6, 11]


@pytest.mark.parametrize(
    ("text", "types", "legacy"),
    [
        ("E2U+sip", [("sip", ())], False),
        ("e2u+SIP", [("sip", ())], False),
        ("E2U+voice:tel", [("voice", ("tel",))], False),
        ("E2U+email:mailto", [("email", ("mailto",))], False),
        ("E2U+sip+h323", [("sip", ()), ("h323", ())], True),
    ],
)
def test_service_fields(text: str, types: list, legacy: bool) -> None:
    field = parse_service_field(text)
    assert [(e.type, e.subtypes) for e in field.enumservices] == types
    assert field.legacy is legacy


@pytest.mark.parametrize("text", ["SIP+D2U", "E2U", "E2U+", "E2U+si p", "x-3gpp-pgw:x-s8-gtp",
                                  "E2U+" + "a" * 33])
def test_non_enum_service_fields(text: str) -> None:
    with pytest.raises(InputError):
        parse_service_field(text)


def test_service_matching() -> None:
    have = parse_service_field("E2U+voice:tel")
    assert have.provides(parse_service_field("E2U+voice"))
    assert have.provides(parse_service_field("e2u+VOICE:TEL"))
    assert not have.provides(parse_service_field("E2U+voice:sip"))
    assert not have.provides(parse_service_field("E2U+sip"))
