"""S-NAPTR node selection (RFC 3958, TS 29.303) against the lab's EPC zones, over sockets."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import stats as sps

from enumlab import InputError, Resolver
from enumlab.core.epc_fqdn import Plmn, apn_fqdn, gateway_apn_fqdn, tai_fqdn
from enumlab.core.policies import Entry, RecordSet, get_policy
from enumlab.resolve.snaptr import (
    AppProtocol,
    ServiceParameters,
    canonical_node_name,
    collocated_pair,
    common_suffix_labels,
    snaptr_select,
)
from enumlab.zones.authority import Authority, ZoneLookup

from .conftest import ZONES

HOME = Plmn("001", "01")
IMS = apn_fqdn("ims", HOME)
INTERNET = apn_fqdn("internet", HOME)


def short(host: str) -> str:
    return canonical_node_name(host)[0].split(".")[0]


@pytest.mark.parametrize(
    ("services", "app", "proto", "expected"),
    [
        # Open5GS mme-dns-select-test.c
        ("X-3GPP-PGW:X-S5-GTP", "x-3gpp-pgw", "x-s5-gtp", True),
        ("x-3gpp-pgw:x-s5-gtp-extra", "x-3gpp-pgw", "x-s5-gtp", False),
        # the seed: order-independent, several protocols
        ("x-3gpp-pgw:x-s8-gtp:x-s5-gtp:x-gp", "x-3gpp-pgw", "x-s8-gtp", True),
        ("x-3gpp-pgw:x-s5-gtp", "x-3gpp-pgw", "x-s8-gtp", False),
        ("x-3gpp-sgw:x-s8-gtp", "x-3gpp-pgw", "x-s8-gtp", False),
        # TS 29.303 annex B.3: UE usage types
        ("x-3gpp-mme:x-s10+ue-3.8.10.38", "x-3gpp-mme", "x-s10+ue-8", True),
        ("x-3gpp-mme:x-s10+ue-3.10.38", "x-3gpp-mme", "x-s10+ue-8", False),
        # TS 29.303 annex B.4: network capabilities
        ("x-3gpp-pgw:x-s5-gtp+nc-nr.5gs", "x-3gpp-pgw", "x-s5-gtp+nc-nr", True),
        ("x-3gpp-pgw:x-s5-gtp+nc-nrs", "x-3gpp-pgw", "x-s5-gtp+nc-nr", False),
    ],
)
def test_service_matching_vectors(services: str, app: str, proto: str, expected: bool) -> None:
    assert ServiceParameters.parse(services).offers(app, AppProtocol.parse(proto)) is expected


@pytest.mark.parametrize("bad", ["", "x-3gpp-pgw::x-s5-gtp", "x-3gpp-pgw:x-s5-gtp+zz-1"])
def test_malformed_service_fields(bad: str) -> None:
    with pytest.raises(InputError):
        ServiceParameters.parse(bad)


def test_canonical_names_and_topology() -> None:
    assert canonical_node_name("topon.s8.pgw02.east.node.epc.mnc001.mcc001.3gppnetwork.org.") \
        == ("pgw02.east.node.epc.mnc001.mcc001.3gppnetwork.org", "topon")
    assert canonical_node_name("topoff.s8.pgw-backup.node.x.org")[1] == "topoff"
    assert canonical_node_name("pgw01.example.org") == ("pgw01.example.org", None)
    assert common_suffix_labels("a.east.node.x", "b.east.node.x") == 3


def test_seed_s8_lookup_excludes_the_s5_only_pgw(resolver: Resolver) -> None:
    result = snaptr_select(IMS, resolver, node="pgw", interface="s8", policy="rfc3403",
                           rng=np.random.default_rng(0))
    by_host = {c.record.replacement: c for c in result.candidates}
    s5only = by_host["topon.s5.pgw-s5only.west.node.epc.mnc001.mcc001.3gppnetwork.org."]
    assert not s5only.kept and "offers x-s5-gtp, not x-s8-gtp" in s5only.reason
    chosen = result.selected
    assert chosen is not None
    # under RFC 3403 ordering the seed's answer wins: topon.lb1.pgw01 (preference 20)
    assert chosen.hostname == "topon.lb1.pgw01.epc.mnc001.mcc001.3gppnetwork.org"
    assert chosen.addresses() == ["192.0.2.102", "2001:db8::102"]
    assert chosen.addresses(prefer_ipv6=True)[0] == "2001:db8::102"
    assert chosen.canonical == "pgw01.epc.mnc001.mcc001.3gppnetwork.org"


def test_every_dropped_record_has_its_reason(resolver: Resolver) -> None:
    result = snaptr_select(IMS, resolver, rng=np.random.default_rng(0))
    reasons = {c.record.to_text(): c.reason for c in result.candidates if not c.kept}
    assert any("service x-3gpp-sgw" in r for r in reasons.values())
    assert any("flag 'z'" in r for r in reasons.values())
    assert any("REGEXP must be empty" in r for r in reasons.values())
    assert any("has no A/AAAA record" in r for r in reasons.values())  # missing A: no crash


def test_flags_a_s_and_empty(resolver: Resolver) -> None:
    result = snaptr_select(IMS, resolver, rng=np.random.default_rng(0))
    kept = {(short(c.hostname), c.port, c.record.flags.lower()) for c in result.candidates
            if c.kept and c.hostname}
    assert ("pgw-pool-a", 2123, "s") in kept and ("pgw-pool-b", 2123, "s") in kept  # SRV port
    assert ("pgw-backup", None, "a") in kept  # reached through the empty-flag record
    queried = [s.name for s in result.trace if s.kind == "query"]
    assert "backup.apn.epc.mnc001.mcc001.3gppnetwork.org." in queried


def test_order_is_strict_for_every_policy(resolver: Resolver) -> None:
    for policy in ("3gpp", "weighted", "rfc3403"):
        ranked = snaptr_select(IMS, resolver, policy=policy, rng=np.random.default_rng(1)).ranked
        top = [c.record.order for c in ranked if c.owner == IMS + "."]  # not the nested set
        assert top == sorted(top)


def test_3gpp_weighting_statistically() -> None:
    lookup = ZoneLookup(Authority.from_directory(ZONES))
    rng = np.random.default_rng(29303)
    firsts = Counter(short(snaptr_select(INTERNET, lookup, rng=rng).selected.hostname)  # type: ignore[union-attr]
                     for _ in range(3000))
    observed = [firsts["gw01"], firsts["pgw03"], firsts["pgw04"]]
    records = RecordSet((Entry("gw01", 10, 100), Entry("pgw03", 10, 100), Entry("pgw04", 10, 200)))
    expected_3gpp = get_policy("3gpp").expected(records)[:3]
    assert sps.chisquare(observed, expected_3gpp * 3000).pvalue > 1e-3
    expected_blog = get_policy("weighted").expected(records)[:3]
    assert sps.chisquare(observed, expected_blog * 3000).pvalue < 1e-6


def test_topology_closest_and_ties_keep_snaptr_order(resolver: Resolver) -> None:
    ref = "topon.s11.sgw05.east.node.epc.mnc001.mcc001.3gppnetwork.org"
    for seed in range(5):
        result = snaptr_select(INTERNET, resolver, rng=np.random.default_rng(seed),
                               reference_node=ref)
        ranked = result.ranked
        assert short(ranked[0].hostname) == "pgw03"  # shares east.node.epc...
        tied = [c for c in ranked if c.topology == ranked[1].topology]
        assert [c.rank for c in tied] == sorted(c.rank for c in tied)  # order not reversed


def test_collocated_pgw_and_sgw(resolver: Resolver) -> None:
    pgws = snaptr_select(INTERNET, resolver, rng=np.random.default_rng(2))
    sgws = snaptr_select(tai_fqdn(1, HOME), resolver, node="sgw", rng=np.random.default_rng(2))
    pair = collocated_pair(pgws, sgws)
    assert pair is not None
    assert (short(pair[0].hostname), short(pair[1].hostname)) == ("gw01", "gw01")


def test_ue_usage_types_and_network_capabilities(resolver: Resolver) -> None:
    mme = "mmec01.mmegi8001.mme.epc.mnc001.mcc001.3gppnetwork.org"
    pick = {ue: [short(c.hostname) for c in snaptr_select(
        mme, resolver, node="mme", ue_usage_type=ue, rng=np.random.default_rng(0)).ranked]
        for ue in ("8", "3", None)}
    assert pick["8"] == ["mme-dcn"]
    assert set(pick["3"]) == {"mme-dcn", "mme-iot"}
    assert pick[None] == ["mme-general"]
    nr = snaptr_select(apn_fqdn("nr", HOME), resolver, network_capability="nr",
                       rng=np.random.default_rng(0))
    assert [short(c.hostname) for c in nr.ranked] == ["pgw-nr"]


def test_large_roaming_answer_goes_over_tcp(resolver: Resolver) -> None:
    result = snaptr_select(apn_fqdn("roaming", HOME), resolver, rng=np.random.default_rng(0))
    legs = result.trace[1].exchanges
    assert [leg["transport"] for leg in legs] == ["udp", "tcp"] and legs[0]["truncated"]
    assert legs[1]["response_size"] > 1232
    assert len(result.ranked) == 18


def test_home_routed_vs_local_breakout_reach_different_plmns(resolver: Resolver) -> None:
    visited = Plmn("999", "99")
    home_routed = snaptr_select(gateway_apn_fqdn("ims", HOME, visited), resolver,
                                rng=np.random.default_rng(0))
    assert home_routed.selected and "mnc001.mcc001" in home_routed.selected.hostname
    lbo = snaptr_select(gateway_apn_fqdn("ims", HOME, visited, local_breakout=True), resolver,
                        interface="s5", rng=np.random.default_rng(0))
    assert lbo.selected and lbo.selected.addresses() == ["198.51.100.10"]
    # the visited PGW only does S5: for S8 there is nothing there
    assert snaptr_select(apn_fqdn("ims", visited), resolver).selected is None


def test_unknown_node_or_interface(resolver: Resolver) -> None:
    with pytest.raises(InputError, match="unknown node"):
        snaptr_select(IMS, resolver, node="hss")
    with pytest.raises(InputError, match="unknown interface"):
        snaptr_select(IMS, resolver, interface="s99")
