"""Selection policies: exact expected shares for the seed's examples, and the procedure each
policy describes agreeing with its formula."""

from __future__ import annotations

import random
from collections import Counter

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.IN.NAPTR
import dns.rdtypes.IN.SRV
import numpy as np
import pytest
from scipy import stats as sps

from enumlab import InputError, NaptrRecord, SrvRecord
from enumlab.core.policies import POLICIES, Entry, RecordSet, get_policy


def rs(*prefs: int, group: int = 10, kind: str = "naptr") -> RecordSet:
    return RecordSet(tuple(Entry(f"s{i + 1}", group, p) for i, p in enumerate(prefs)), kind)  # type: ignore[arg-type]


SEED_913 = rs(100, 100, 200)
MELBOURNE = RecordSet((Entry("melbourne", 10, 10), Entry("sydney", 10, 10),
                       Entry("brisbane", 10, 5), Entry("perth", 10, 5)))


@pytest.mark.parametrize(
    ("policy", "records", "expected"),
    [
        # the seed's 50/50: every reading agrees
        ("rfc3403", rs(100, 100), [0.5, 0.5]),
        ("weighted", rs(100, 100), [0.5, 0.5]),
        ("3gpp", rs(100, 100), [0.5, 0.5]),
        # the seed's 25/25/50: the readings disagree
        ("weighted", SEED_913, [0.25, 0.25, 0.5]),
        ("rfc3403", SEED_913, [0.5, 0.5, 0.0]),
        ("3gpp", SEED_913, [65435 / 196205, 65435 / 196205, 65335 / 196205]),
        ("srv", SEED_913, [100 / 401 + 1 / 1203, 100 / 401 + 1 / 1203, 200 / 401 + 1 / 1203]),
        ("dnspython", SEED_913, [0.5, 0.5, 0.0]),
        ("first", SEED_913, [1.0, 0.0, 0.0]),
        # Melbourne/Sydney/Brisbane/Perth 10/10/5/5: blog 33/33/16.5/16.5, RFC 0/0/50/50
        ("weighted", MELBOURNE, [1 / 3, 1 / 3, 1 / 6, 1 / 6]),
        ("rfc3403", MELBOURNE, [0, 0, 0.5, 0.5]),
        ("3gpp", MELBOURNE, [65525 / 262110, 65525 / 262110, 65530 / 262110, 65530 / 262110]),
    ],
)
def test_exact_expected_shares(policy: str, records: RecordSet, expected: list[float]) -> None:
    got = get_policy(policy, records.kind).expected(records)
    assert got[-1] == 0.0  # "(none)": every target is up
    np.testing.assert_allclose(got[:-1], expected, rtol=0, atol=1e-12)


def test_srv_weight_zero_rules() -> None:
    # RFC 2782: weight-0 records go first and only win when r == 0
    srv = rs(0, 0, 10, kind="srv")
    np.testing.assert_allclose(get_policy("srv", "srv").expected(srv)[:-1],
                               [1 / 22, 1 / 22, 10 / 11])
    np.testing.assert_allclose(get_policy("srv", "srv").expected(rs(0, 0, kind="srv"))[:-1],
                               [0.5, 0.5])
    # dnspython counts weight 0 as 0.1
    np.testing.assert_allclose(get_policy("dnspython", "srv").expected(srv)[:-1],
                               [0.1 / 10.2, 0.1 / 10.2, 10 / 10.2])


def test_seed_914_failover_is_where_the_policies_part() -> None:
    failover = RecordSet((Entry("server1", 10, 100), Entry("server2", 20, 100)))
    down = [True, False]
    # RFC 3403: ORDER 20 is never considered, so with server1 down nothing is usable
    assert list(get_policy("rfc3403").first_choice(failover, down)) == [0, 0, 1]
    for name in ("all-orders", "weighted", "3gpp", "srv", "first"):
        assert list(get_policy(name).first_choice(failover, down)) == [0, 1, 0], name


def test_random_failures_expected_by_enumeration() -> None:
    # weighted 100/100/200 with s1 down half the time: s1 .5*.25; s2 .5*.25 + .5*(1/3); ...
    got = get_policy("weighted").expected(SEED_913, [0.5, 0.0, 0.0])
    np.testing.assert_allclose(got, [0.125, 0.125 + 1 / 6, 0.25 + 1 / 3, 0.0])
    everything_down = get_policy("weighted").expected(SEED_913, [1.0, 1.0, 1.0])
    assert everything_down[-1] == 1.0


@pytest.mark.parametrize("name", sorted(POLICIES))
@pytest.mark.parametrize("records", [SEED_913, MELBOURNE, rs(0, 5, 5, 20, kind="srv"),
                                     RecordSet((Entry("a", 1, 1), Entry("b", 2, 1),
                                                Entry("c", 2, 3)))])
def test_processing_order_procedure_matches_the_formula(name: str, records: RecordSet) -> None:
    policy = POLICIES[name]
    rng = np.random.default_rng(11)
    firsts = Counter(policy.processing_order(records, rng)[0] for _ in range(4000))
    observed = np.array([firsts[i] for i in range(len(records.entries))])
    expected = policy.first_choice(records)[:-1]
    keep = expected > 0
    assert observed[~keep].sum() == 0  # never an impossible first choice
    if keep.sum() > 1:
        p = sps.chisquare(observed[keep], expected[keep] * observed.sum()).pvalue
        assert p > 1e-4, (name, observed, expected)
    order = policy.processing_order(records, rng)
    assert len(set(order)) == len(order)


def _dnspython_naptr(order: int, pref: int, target: str) -> dns.rdtypes.IN.NAPTR.NAPTR:
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.NAPTR,
                               f'{order} {pref} "u" "E2U+sip" "" {target}.')


def _dnspython_srv(prio: int, weight: int, target: str) -> dns.rdtypes.IN.SRV.SRV:
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.SRV,
                               f"{prio} {weight} 5060 {target}.")


@pytest.mark.parametrize(
    ("kind", "rows"),
    [
        ("naptr", [(10, 100), (10, 100), (10, 200), (20, 50)]),
        ("srv", [(10, 100), (10, 100), (10, 200), (20, 50)]),
        ("srv", [(1, 0), (1, 0), (1, 3)]),  # dnspython's weight-0 rule
    ],
)
def test_dnspython_policy_reproduces_dnspython(kind: str, rows: list[tuple[int, int]]) -> None:
    make = _dnspython_naptr if kind == "naptr" else _dnspython_srv
    rdatas = [make(a, b, f"t{i}") for i, (a, b) in enumerate(rows)]
    cls = type(rdatas[0])
    state = random.getstate()
    random.seed(1234)  # dnspython uses the global random module
    try:
        firsts = Counter(cls._processing_order(list(rdatas))[0] for _ in range(6000))
    finally:
        random.setstate(state)
    records = RecordSet(tuple(Entry(f"t{i}", a, b) for i, (a, b) in enumerate(rows)), kind)  # type: ignore[arg-type]
    expected = get_policy("dnspython", kind).expected(records)[:-1]
    observed = np.array([firsts[r] for r in rdatas])
    keep = expected > 0
    assert observed[~keep].sum() == 0
    assert sps.chisquare(observed[keep], expected[keep] * 6000).pvalue > 1e-4


def test_ergw_twenty_equal_records() -> None:
    # ergw node_selection_SUITE: 20 records (order 1, weight 100), 50,000 draws, each count
    # within 10% of 2,500 -- here under the 3GPP policy's procedure
    from enumlab.split.simulate import simulate

    records = RecordSet(tuple(Entry(f"n{i}", 1, 100) for i in range(20)))
    result = simulate(records, 50_000, "3gpp", np.random.default_rng(5))
    assert np.all(np.abs(result.observed[:-1] - 2500) < 250)


def test_record_sets_from_records() -> None:
    naptr = RecordSet.from_records([NaptrRecord(10, 100, "a", "x-3gpp-pgw:x-s8-gtp", "", "a."),
                                    NaptrRecord(10, 200, "a", "x-3gpp-pgw:x-s8-gtp", "", "b.")])
    assert naptr.kind == "naptr" and naptr.targets == ["a.", "b."]
    srv = RecordSet.from_records([SrvRecord(1, 10, 5060, "a"), SrvRecord(1, 20, 6060, "b")])
    assert srv.kind == "srv" and srv.targets == ["a.:5060", "b.:6060"]
    with pytest.raises(InputError, match="mixes"):
        RecordSet.from_records([NaptrRecord(1, 1, "a", "", "", "a."), SrvRecord(1, 1, 1, "b")])
    with pytest.raises(InputError, match="distinct"):
        RecordSet((Entry("a", 1, 1), Entry("a", 1, 2)))
    with pytest.raises(InputError, match="at least one"):
        RecordSet(())


def test_unknown_policy_names_the_choices() -> None:
    with pytest.raises(InputError, match="rfc3403"):
        get_policy("round-robin")
