"""Histograms people can read: one value, or all values equal, is a visible bar (issue 11/13:
the response-size histogram of a capture whose answers are all one size was empty)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from enumlab.teach import plot


def _bars(ax) -> list[tuple[float, float]]:
    return [(p.get_width(), p.get_height()) for p in ax.patches if p.get_height() > 0]


@pytest.mark.parametrize("sizes", [[1732], [612, 612, 612], [100, 1400]])
def test_response_sizes_show_every_value_as_a_visible_bar(sizes: list[int]) -> None:
    ax = plot.response_sizes(pd.DataFrame({"dns_size": sizes}))
    bars = _bars(ax)
    assert sum(h for _, h in bars) == len(sizes)  # every response counted
    low, high = ax.get_xlim()
    assert all(w >= (high - low) / 100 for w, _ in bars)  # >= 1% of the axis: visible
    plot.plt.close("all")


def test_fallback_latency_with_one_value() -> None:
    ax = plot.fallback_latency(pd.DataFrame({"fallback_latency_ms": [8.0]}))
    (bar,) = _bars(ax)
    low, high = ax.get_xlim()
    assert bar[1] == 1 and bar[0] >= (high - low) / 100
    plot.plt.close("all")


def test_visible_bins_cover_the_data() -> None:
    values = pd.Series(np.array([5.0, 5.0]))
    edges = plot.visible_bins(values, count=10)
    assert edges[0] < 5.0 < edges[-1] and len(edges) >= 2
