"""The Monte-Carlo simulator and the statistics that judge it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from enumlab import EmbeddedServer, InputError, Resolver
from enumlab.core.policies import Entry, RecordSet, get_policy
from enumlab.split.simulate import biased_weighted_indices, simulate, simulate_live
from enumlab.split.stats import (
    compare,
    observed_counts,
    power,
    required_sample_size,
    shifted,
    wilson_interval,
)

from .conftest import write_zone

SEED_913 = RecordSet((Entry("server1", 10, 100), Entry("server2", 10, 100),
                      Entry("server3", 10, 200)))


def test_seeded_run_passes_for_the_right_policy_and_fails_for_wrong_ones() -> None:
    result = simulate(SEED_913, 100_000, "weighted", np.random.default_rng(2026))
    right = compare(result.observed, result.expected)
    assert right.consistent() and right.chi2.p_value > 0.01
    for wrong in ("3gpp", "rfc3403"):
        report = compare(result.observed, get_policy(wrong).expected(SEED_913))
        assert report.chi2.p_value < 1e-6 and report.g_test.p_value < 1e-6, wrong
    assert compare(result.observed, get_policy("rfc3403").expected(SEED_913)).impossible == [
        "2"]  # server3 carried traffic the RFC reading never sends it


@pytest.mark.parametrize("policy", ["rfc3403", "all-orders", "weighted", "3gpp", "srv", "first"])
def test_simulation_agrees_with_exact_expectation_under_random_failures(policy: str) -> None:
    records = RecordSet((Entry("a", 10, 100), Entry("b", 10, 300), Entry("c", 20, 0),
                         Entry("d", 20, 50)), "srv" if policy == "srv" else "naptr")
    failures = {"a": 0.3, "b": 0.6, "d": 0.5}
    result = simulate(records, 200_000, policy, np.random.default_rng(9), failures=failures)
    report = compare(result.observed, result.expected)
    assert report.chi2.p_value > 1e-4, (policy, result.observed, result.expected)
    assert result.expected[-1] > 0 or policy != "rfc3403"  # rfc3403 can run out of targets


def test_down_targets_move_traffic() -> None:
    result = simulate(SEED_913, 50_000, "weighted", np.random.default_rng(1), failures=["server3"])
    assert result.observed[2] == 0
    assert compare(result.observed, result.expected).consistent()
    np.testing.assert_allclose(result.expected, [0.5, 0.5, 0.0, 0.0])


def test_bad_failures_and_sizes() -> None:
    with pytest.raises(InputError, match="not a target"):
        simulate(SEED_913, 10, failures={"server9": 1.0})
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        simulate(SEED_913, 10, failures={"server1": 2.0})
    with pytest.raises(InputError, match="positive"):
        simulate(SEED_913, 0)
    with pytest.raises(InputError, match="needs a lookup"):
        simulate("+61355500913", 10)


def test_a_deliberately_biased_selector_is_caught() -> None:
    # an off-by-one in the running-sum draw moves ~0.2% of traffic: invisible on a dashboard
    idx = biased_weighted_indices(SEED_913, 4_000_000, np.random.default_rng(3))
    expected = get_policy("weighted").expected(SEED_913)
    report = compare(np.bincount(idx, minlength=4), expected)
    assert report.chi2.p_value < 1e-6
    assert report.max_abs_deviation < 0.003
    small = compare(np.bincount(idx[:10_000], minlength=4), expected)
    assert small.consistent()  # 10k selections cannot see it: the power calculator says why
    needed = required_sample_size(expected[:3], [99 / 399, 100 / 399, 200 / 399])
    assert 10_000 < needed < 4_000_000


def test_power_calculator_agrees_with_a_simulation_of_itself() -> None:
    expected = np.array([0.25, 0.25, 0.5])
    alternative = shifted(expected, 0.02)
    n = required_sample_size(expected, alternative, alpha=0.05, target_power=0.8)
    assert power(n, expected, alternative) >= 0.8 > power(n - 1, expected, alternative)
    rng = np.random.default_rng(77)
    trials = 600
    rejected = sum(
        compare(rng.multinomial(n, alternative), expected).chi2.p_value < 0.05
        for _ in range(trials)
    )
    assert abs(rejected / trials - 0.8) < 0.06  # 3.7 binomial standard errors


def test_wilson_interval_matches_scipy() -> None:
    for k, n in ((0, 10), (3, 10), (250, 1000), (1000, 1000)):
        low, high = wilson_interval(k, n)
        ci = sps.binomtest(k, n).proportion_ci(method="wilson")
        assert low == pytest.approx(ci.low, abs=1e-9)
        assert high == pytest.approx(ci.high, abs=1e-9)


def test_compare_rejects_malformed_input() -> None:
    with pytest.raises(InputError, match="one value per target"):
        compare([1, 2], [0.5, 0.3, 0.2])
    with pytest.raises(InputError, match="sum to"):
        compare([1, 2], [0.5, 0.6])
    with pytest.raises(InputError, match="no observations"):
        compare([0, 0], [0.5, 0.5])
    with pytest.raises(InputError, match="equals the expected"):
        required_sample_size([0.5, 0.5], [0.5, 0.5])


def test_observed_counts_from_lists_frames_and_csv(tmp_path: Path) -> None:
    targets = ["server1", "server2", "server3"]
    chosen = ["server1"] * 3 + ["server3"] * 5
    assert list(observed_counts(chosen, targets)) == [3, 0, 5, 0]
    frame = pd.DataFrame({"target": chosen})
    assert list(observed_counts(frame, targets)) == [3, 0, 5, 0]
    assert list(observed_counts(frame["target"], targets)) == [3, 0, 5, 0]
    csv = tmp_path / "calls.csv"
    frame.to_csv(csv, index=False)
    assert list(observed_counts(csv, targets)) == [3, 0, 5, 0]
    with pytest.raises(InputError, match="server9"):
        observed_counts(["server9"], targets)
    with pytest.raises(InputError, match="no 'target' column"):
        pd.DataFrame({"uri": chosen}).to_csv(csv, index=False)
        observed_counts(csv, targets)
    with pytest.raises(InputError, match="does not exist"):
        observed_counts(tmp_path / "nope.csv", targets)


def test_simulate_a_live_enum_number_and_an_srv_name(lab_server, zone_dir: Path) -> None:
    resolver = Resolver(lab_server.host, lab_server.port)
    result = simulate("+61355500915", 40_000, "weighted", np.random.default_rng(4),
                      lookup=resolver)
    share = {t.split("@")[1].split(".")[0]: p
             for t, p in zip(result.targets, result.expected, strict=False)}
    assert share == pytest.approx({"melbourne": 1 / 3, "sydney": 1 / 3, "brisbane": 1 / 6,
                                   "perth": 1 / 6})
    assert compare(result.observed, result.expected).consistent()
    write_zone(zone_dir, "sip.test", """
_sip._udp IN SRV 10 0 5060 a.sip.test.
_sip._udp IN SRV 10 30 5060 b.sip.test.
_sip._udp IN SRV 20 10 5060 c.sip.test.
""")
    with EmbeddedServer(zone_dir) as server:
        srv = simulate("_sip._udp.sip.test.", 60_000, "srv", np.random.default_rng(8),
                       lookup=Resolver(server.host, server.port),
                       failures={"b.sip.test.:5060": 0.5})
    assert srv.targets == ["a.sip.test.:5060", "b.sip.test.:5060", "c.sip.test.:5060"]
    assert compare(srv.observed, srv.expected).consistent()


def test_live_mode_resolves_every_time(lab_server) -> None:
    resolver = Resolver(lab_server.host, lab_server.port)
    result = simulate_live("+61355500912", 300, resolver, "rfc3403", np.random.default_rng(1),
                           progress=False)
    assert result.n == 300 and result.observed.sum() == 300
    assert compare(result.observed, result.expected).consistent(alpha=0.001)
    down = simulate_live("+61355500914", 20, resolver, "rfc3403", np.random.default_rng(1),
                         down=["sip:service@server1.enum.nickvsnetworking.com"], progress=False)
    assert down.observed[-1] == 20  # RFC 3403: server2's ORDER 20 is never used


def test_expected_table_labels_rows_by_target_in_the_texts_order(resolver) -> None:  # type: ignore[no-untyped-def]
    from enumlab.split.simulate import expected_table, record_set

    cities = record_set("+61355500915", resolver)
    table = expected_table(cities, ["weighted", "3gpp", "rfc3403"],
                           order=["melbourne", "sydney", "brisbane", "perth"])
    assert list(table.index) == ["melbourne", "sydney", "brisbane", "perth"]
    assert list(table.columns) == ["weighted", "3gpp", "rfc3403"]
    assert table.loc["melbourne", "weighted"] == pytest.approx(1 / 3)
    assert table.loc["brisbane", "rfc3403"] == pytest.approx(0.5)  # the lower PREFERENCE wins
    assert table.loc["melbourne", "rfc3403"] == 0
    seed = expected_table(record_set("+61355500914", resolver), ["rfc3403"],
                          failures={"sip:service@server1.enum.nickvsnetworking.com": 1.0})
    assert seed.loc["(none)", "rfc3403"] == 1.0  # no ORDER failover: "(none)" appears


def test_simulation_shares_are_labelled_by_target(resolver) -> None:  # type: ignore[no-untyped-def]
    from enumlab.split.simulate import record_set, simulate

    rs = record_set("+61355500913", resolver)
    table = simulate(rs, 10_000, "weighted", np.random.default_rng(1)).shares()
    assert list(table.index) == ["server1", "server2", "server3", "(none)"]
    assert table.loc["server3", "expected_share"] == pytest.approx(0.5)
    assert int(table["observed"].sum()) == 10_000 and table.loc["(none)", "observed"] == 0
