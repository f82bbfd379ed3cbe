"""TS 23.003 FQDNs: public vectors, validation, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enumlab.core.epc_fqdn import (
    EpcFqdnError,
    Plmn,
    apn_fqdn,
    apn_fqdn_from_apn,
    gateway_apn_fqdn,
    mme_node_fqdn,
    mme_pool_fqdn,
    parse_apn_fqdn,
    parse_mme_fqdn,
    parse_tai_fqdn,
    plmn_from_imsi,
    tai_fqdn,
)


def test_open5gs_vectors() -> None:
    # Open5GS tests/unit/mme-dns-select-test.c
    assert tai_fqdn(0x0001, Plmn("001", "01")) == \
        "tac-lb01.tac-hb00.tac.epc.mnc001.mcc001.3gppnetwork.org"
    assert tai_fqdn(0xABCD, Plmn("302", "330")) == \
        "tac-lbcd.tac-hbab.tac.epc.mnc330.mcc302.3gppnetwork.org"
    assert apn_fqdn("internet", Plmn("001", "01")) == \
        "internet.apn.epc.mnc001.mcc001.3gppnetwork.org"


def test_ergw_vector_full_apn() -> None:
    # ergw node_selection_SUITE: [example,com,mnc001,mcc001,gprs]
    assert apn_fqdn_from_apn("example.com.mnc001.mcc001.gprs") == \
        "example.com.apn.epc.mnc001.mcc001.3gppnetwork.org"


def test_seed_ims_apn_and_imsi() -> None:
    home = plmn_from_imsi("001010123456789", 2)
    assert home == Plmn("001", "01") and home.mnc3 == "001"
    assert apn_fqdn("IMS", home) == "ims.apn.epc.mnc001.mcc001.3gppnetwork.org"
    assert plmn_from_imsi("310410123456789", 3) == Plmn("310", "410")
    assert mme_node_fqdn(0x01, 0x8001, home) == \
        "mmec01.mmegi8001.mme.epc.mnc001.mcc001.3gppnetwork.org"
    assert mme_pool_fqdn(0x8001, home) == "mmegi8001.mme.epc.mnc001.mcc001.3gppnetwork.org"


def test_home_routed_vs_local_breakout() -> None:
    home, visited = Plmn("001", "01"), Plmn("999", "99")
    assert gateway_apn_fqdn("ims", home, visited).endswith("mnc001.mcc001.3gppnetwork.org")
    assert gateway_apn_fqdn("ims", home, visited, local_breakout=True).endswith(
        "mnc099.mcc999.3gppnetwork.org")
    with pytest.raises(EpcFqdnError, match="visited PLMN"):
        gateway_apn_fqdn("ims", home, None, local_breakout=True)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: Plmn("01", "01"), "MCC"),
        (lambda: Plmn("001", "1"), "MNC"),
        (lambda: Plmn("001", "0001"), "MNC"),
        (lambda: plmn_from_imsi("00101abc", 2), "IMSI"),
        (lambda: plmn_from_imsi("001010123456789", 4), "MNC length"),
        (lambda: apn_fqdn("", Plmn("001", "01")), "APN-NI"),
        (lambda: apn_fqdn("a" * 64, Plmn("001", "01")), "APN-NI"),  # over 63 octets
        (lambda: apn_fqdn("rac1.example", Plmn("001", "01")), "APN-NI"),  # reserved prefix
        (lambda: apn_fqdn("sgsnfoo", Plmn("001", "01")), "APN-NI"),
        (lambda: apn_fqdn("internet.gprs", Plmn("001", "01")), "APN-NI"),  # ends in .gprs
        (lambda: apn_fqdn("bad_label", Plmn("001", "01")), "APN-NI"),
        (lambda: apn_fqdn_from_apn("internet"), "APN"),  # no operator identifier
        (lambda: tai_fqdn(0x10000, Plmn("001", "01")), "TAC"),
        (lambda: mme_node_fqdn(256, 1, Plmn("001", "01")), "MMEC"),
        (lambda: parse_apn_fqdn("ims.epc.mnc001.mcc001.3gppnetwork.org"), "APN-FQDN"),
        (lambda: parse_tai_fqdn("tac-lb1.tac-hb00.tac.epc.mnc001.mcc001.3gppnetwork.org"),
         "TAI-FQDN"),
    ],
)
def test_invalid_input_names_the_field(call, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EpcFqdnError) as info:
        call()
    assert info.value.field == field
    assert str(info.value).startswith(field)


_plmns = st.builds(Plmn, st.from_regex(r"\A[0-9]{3}\Z"), st.from_regex(r"\A[0-9]{2,3}\Z"))


@given(_plmns, st.integers(0, 0xFFFF))
def test_tai_round_trip(plmn: Plmn, tac: int) -> None:
    got_tac, got = parse_tai_fqdn(tai_fqdn(tac, plmn))
    assert got_tac == tac and (got.mcc, got.mnc3) == (plmn.mcc, plmn.mnc3)


@given(_plmns, st.from_regex(r"\A[a-q][a-z0-9]{0,10}(\.[a-z][a-z0-9]{0,8}){0,2}\Z"))
def test_apn_round_trip(plmn: Plmn, ni: str) -> None:
    try:
        fqdn = apn_fqdn(ni, plmn)
    except EpcFqdnError:
        return  # reserved prefixes (rac..., lac..., sgsn..., rnc...) are rightly refused
    got_ni, got = parse_apn_fqdn(fqdn)
    assert got_ni == ni and got.mnc3 == plmn.mnc3


@given(_plmns, st.integers(0, 0xFF), st.integers(0, 0xFFFF))
def test_mme_round_trip(plmn: Plmn, mmec: int, mmegi: int) -> None:
    assert parse_mme_fqdn(mme_node_fqdn(mmec, mmegi, plmn))[:2] == (mmec, mmegi)
    assert parse_mme_fqdn(mme_pool_fqdn(mmegi, plmn))[:2] == (None, mmegi)
