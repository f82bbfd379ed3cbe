"""Plots for notebooks and reports: small helpers so notebook cells stay one line."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
from matplotlib.axes import Axes


def _short(label: str) -> str:
    return label.split("@", 1)[-1].split(".", 1)[0] if "@" in label else label


def bar_shares(
    counts: Mapping[str, int],
    expected: Mapping[str, float] | None = None,
    *,
    title: str = "",
    ax: Axes | None = None,
) -> Axes:
    """Observed share of each target as bars; expected shares as black ticks if given."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    labels = sorted(set(counts) | set(expected or {}))
    total = sum(counts.values()) or 1
    shares = [counts.get(k, 0) / total for k in labels]
    xs = range(len(labels))
    ax.bar(xs, shares, color="#4c72b0", label="observed")
    if expected:
        ax.scatter(xs, [expected.get(k, 0.0) for k in labels], marker="_", s=900, color="black",
                   linewidths=3, label="expected", zorder=3)
        ax.legend(loc="upper right")
    ax.set_xticks(list(xs), [_short(k) for k in labels])
    ax.set_ylabel("share")
    ax.set_ylim(0, 1)
    ax.set_title(title or f"{total} selections")
    return ax
