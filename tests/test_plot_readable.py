"""Every picture a learner sees can be read (issue 26): a title, axis labels with units on every
chart, and alt text saying what it shows; p-values never print as 0; tables show one mark for a
missing value and record types by name."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from enumlab import EmbeddedServer, Resolver, resolve_enum
from enumlab.core.policies import Entry, RecordSet
from enumlab.lab.server import DEFAULT_ZONE_DIR
from enumlab.resolve.sip_location import locate_sip_server
from enumlab.split.fleet import FleetConfig, Outage, run_fleet
from enumlab.split.stats import compare
from enumlab.teach import plot

D = "mnc001.mcc001.3gppnetwork.org"
SRV = RecordSet(tuple(Entry(t, 10, w) for t, w in (("a.", 25), ("b.", 25), ("c.", 50))), "srv")


def _charts() -> dict[str, object]:
    rng = np.random.default_rng(1)
    idx = rng.choice(3, size=5_000, p=[0.25, 0.25, 0.5])
    report = compare(np.bincount(idx, minlength=3), [0.25, 0.25, 0.5], labels=["a", "b", "c"])
    day = run_fleet(SRV, FleetConfig(clients=(("rfc", 2),), rate=2.0, duration=86_400, ttl=300,
                                     bins=48, down=(Outage("c.", 36_000, 37_800),)), seed=1)
    tx = pd.DataFrame({"dns_size": [120, 1400], "fallback_latency_ms": [3.0, None],
                       "query_time": [0.0, 1.5],
                       "outcome": pd.Categorical(["ok", "truncated_tcp_ok"])})
    return {
        "bar_shares": plot.bar_shares({"a": 40, "b": 60}),
        "actual_vs_expected": plot.actual_vs_expected(report, expected_label="the blog's"),
        "convergence": plot.convergence(idx, [0.25, 0.25, 0.5], ["a", "b", "c"]),
        "p_value_vs_n": plot.p_value_vs_n(idx, [0.25, 0.25, 0.5]),
        "fleet_shares": plot.fleet_shares(day, configured=day.configured()),
        "response_sizes": plot.response_sizes(tx, mtu=1280),
        "outcome_timeline": plot.outcome_timeline(tx),
        "fallback_latency": plot.fallback_latency(tx),
        "fragments_vs_mtu": plot.fragments_vs_mtu(2850, 1280),
    }


def test_every_chart_has_a_title_axis_labels_with_units_and_alt_text() -> None:
    for name, ax in _charts().items():
        assert ax.get_title(), name  # type: ignore[attr-defined]
        assert len(plot.alt_text(ax)) > 40, name  # type: ignore[arg-type]
        x, y = ax.get_xlabel(), ax.get_ylabel()  # type: ignore[attr-defined]
        assert x and y, name
        # a unit or scale in brackets, except on an axis of categories (targets, outcomes)
        assert "(" in y or y in ("outcome", "packet"), (name, y)
        assert "(" in x or x == "target", (name, x)
    plt.close("all")


def test_the_fleet_picture_reads_as_clock_time_and_keeps_the_outage_off_the_title() -> None:
    day = run_fleet(SRV, FleetConfig(clients=(("rfc", 2),), rate=2.0, duration=86_400,
                                     ttl=300, bins=48, down=(Outage("c.", 36_000, 37_800),)),
                    seed=1)
    ax = plot.fleet_shares(day)
    ax.figure.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert "09:00" in ticks and "12:00" in ticks, ticks
    (label,) = [t for t in ax.texts if "down" in t.get_text()]
    assert "10:00-10:30" in label.get_text()
    title = ax.title.get_window_extent()
    assert not label.get_window_extent().overlaps(title)  # inside the axes, under the title
    assert "10:00-10:30" in plot.alt_text(ax)
    plt.close("all")


def test_the_enum_tree_notes_never_overlap_a_node() -> None:
    ax = plot.enum_tree(DEFAULT_ZONE_DIR, "2.0.5.5.5.2.1.6.e164.arpa", number_length=11)
    ax.figure.canvas.draw()
    boxes = [t for t in ax.texts if t.get_bbox_patch() is not None]
    notes = [t for t in ax.texts if t.get_bbox_patch() is None]
    assert boxes and notes
    for note in notes:
        for box in boxes:
            assert not note.get_window_extent().overlaps(box.get_window_extent()), (
                note.get_text(), box.get_text())
    assert "3.2.0.5.5.5.2.1.6.e164.arpa" in plot.alt_text(ax)
    plt.close("all")


def test_diagrams_have_titles_and_alt_text_and_flows_stack() -> None:
    with EmbeddedServer() as server:
        resolver = Resolver(server.host, server.port)
        big = resolve_enum("+61355500999", resolver)
        with_port = locate_sip_server(f"sip:scscf.{D}:6060", resolver)
        without = locate_sip_server(f"sip:scscf.{D}", resolver)
    for ax in (plot.ladder(big.trace, next_hop=big.uris[0]),
               plot.enum_tree(DEFAULT_ZONE_DIR, "2.0.5.5.5.2.1.6.e164.arpa"),
               *plot.rfc3263_flows(with_port, without)):
        assert ax.get_title() and len(plot.alt_text(ax)) > 40
    top, bottom = plot.rfc3263_flows(with_port, without)
    top.figure.canvas.draw()
    # one above the other: the two titles cannot collide
    assert not top.title.get_window_extent().overlaps(bottom.title.get_window_extent())
    assert top.get_position().y0 > bottom.get_position().y1
    plt.close("all")


@pytest.mark.parametrize(("p", "shown"), [
    (0.0, "< 1e-300"), (3e-22, "3e-22"), (0.7243, "0.724"), (0.0004, "0.0004"),
    (float("nan"), "n/a")])
def test_p_values_never_print_as_zero(p: float, shown: str) -> None:
    assert plot.format_p(p) == shown
    assert plot.p_equals(p) in (f"p = {shown}", f"p {shown}")


def test_readable_tables_one_missing_mark_and_type_names() -> None:
    frame = pd.DataFrame({"qtype": pd.array([35, 33, None], dtype="Int64"),
                          "edns": pd.array([None, 1232, 4096], dtype="Int64"),
                          "node": ["a", None, float("nan")]})
    text = plot.readable(frame).to_string()
    assert "NAPTR" in text and "SRV" in text and "35" not in text
    assert "NaN" not in text and "None" not in text and "<NA>" not in text
    assert text.count("–") == 4


def test_outcome_timeline_of_many_transactions_keeps_every_outcome_seen() -> None:
    """Above TIMELINE_DOTS transactions the dots are per outcome and time bin: a bounded
    number, and a single rare outcome still has its dot at its time."""
    from enumlab.capture.figures import TIMELINE_BINS, TIMELINE_DOTS

    rng = np.random.default_rng(3)
    n = TIMELINE_DOTS * 5
    times = np.sort(rng.uniform(0, 3600, n))
    outcome = np.where(rng.random(n) < 0.9, "ok", "truncated_tcp_ok").astype(object)
    outcome[n // 3] = "icmp_unreachable"  # once, at about t=1200 s
    tx = pd.DataFrame({"query_time": 1.7e9 + times, "outcome": pd.Categorical(outcome)})
    ax = plot.outcome_timeline(tx)
    points = ax.collections[0].get_offsets()  # type: ignore[attr-defined]
    assert len(points) <= 2 * TIMELINE_BINS + 1
    categories = list(tx["outcome"].cat.categories)
    rare = points[points[:, 1] == categories.index("icmp_unreachable")]
    assert len(rare) == 1 and abs(rare[0, 0] - (times[n // 3] - times[0])) <= 3600 / TIMELINE_BINS
    assert "bin holding any of the 100,000 transactions" in plot.alt_text(ax)
    small = plot.outcome_timeline(tx.head(100))
    assert len(small.collections[0].get_offsets()) == 100  # type: ignore[attr-defined]
    plt.close("all")
