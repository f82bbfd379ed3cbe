"""The figures of load splits: shares against what a policy expects, convergence, p-values
against sample size, a fleet's shares over time. matplotlib is imported here, in
:mod:`enumlab.capture.figures` and in :mod:`enumlab.teach.plot`, nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from ..capture.figures import _OWN, _finish
from ..core.records import short_label
from .stats import SplitReport, compare


def _axes(ax: Axes | None, size: tuple[float, float] = (6.5, 3.2)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
        ax.set_gid(_OWN)  # made here: _finish may show it, with its alt text
    return ax


def format_p(p: float) -> str:
    """A p-value as a reader should see it: ``0.031``, ``3e-22``, ``< 1e-300`` (a p-value
    that underflowed to 0.0) -- never ``0`` or ``0.000000``."""
    if p != p:  # NaN: no test was possible
        return "n/a"
    if not p > 0:
        return "< 1e-300"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def p_equals(p: float) -> str:
    """``p = 0.031`` or ``p < 1e-300``: :func:`format_p` with its sign."""
    text = format_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _clock(seconds: float) -> str:
    """Seconds since midnight as ``hh:mm``."""
    minutes = round(seconds / 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _span(seconds: float) -> str:
    """A duration as a reader says it: ``10 min``, ``24 h``, ``45 s``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def bar_shares(counts: Mapping[str, int], expected: Mapping[str, float] | None = None, *,
               title: str = "", expected_label: str = "expected",
               ax: Axes | None = None) -> Axes:
    """Observed share of each target as bars; ``expected`` shares beside them, named
    ``expected_label`` in the legend (say whose expectation it is: "the blog's 25/25/50")."""
    labels = sorted(set(counts) | set(expected or {}))
    obs = np.array([counts.get(k, 0) for k in labels], dtype=float)
    exp = np.array([(expected or {}).get(k, 0.0) for k in labels])
    if expected and np.isclose(exp.sum(), 1):
        return actual_vs_expected(compare(obs, exp, labels=labels), title=title, ax=ax,
                                  expected_label=expected_label)
    ax = _axes(ax)
    ax.bar(range(len(labels)), obs / max(obs.sum(), 1), color="#4c72b0")
    ax.set_xticks(range(len(labels)), [short_label(k) for k in labels])
    ax.set_ylim(0, 1)
    ax.set_xlabel("target")
    ax.set_ylabel("share of selections (0-1)")
    ax.set_title(title or f"{int(obs.sum())} selections")
    shares = ", ".join(f"{short_label(k)} {v / max(obs.sum(), 1):.1%}"
                       for k, v in zip(labels, obs, strict=True))
    return _finish(ax, f"Bar chart of the share of {int(obs.sum())} selections per target: "
                   f"{shares}.")


def actual_vs_expected(report: SplitReport, *, title: str = "", expected_label: str = "expected",
                       ax: Axes | None = None) -> Axes:
    """Observed shares with Wilson intervals beside the expected shares."""
    ax = _axes(ax)
    keep = [i for i, lab in enumerate(report.labels)
            if not (lab == "(none)" and report.observed[i] == 0
                    and report.expected_share[i] == 0)]
    x = np.arange(len(keep))
    share = report.observed_share[keep]
    err = np.maximum(np.vstack([share - report.ci_low[keep], report.ci_high[keep] - share]), 0)
    ax.bar(x - 0.2, share, 0.4, yerr=err, capsize=3, color="#4c72b0", label="observed (95% CI)")
    ax.bar(x + 0.2, report.expected_share[keep], 0.4, color="#bbbbbb", label=expected_label)
    ax.set_xticks(x, [short_label(report.labels[i]) for i in keep])
    ax.set_xlabel("target")
    ax.set_ylabel("share of selections (0-1)")
    ax.set_ylim(0, max(1e-9, float(max(share.max(), report.expected_share.max()))) * 1.25)
    verdict = "consistent" if report.consistent() else "NOT the expected split"
    ax.set_title(title or f"n={report.n:,}: chi-square {p_equals(report.chi2.p_value)} "
                 f"({verdict})")
    ax.legend(loc="upper left", fontsize="small")
    pairs = ", ".join(f"{short_label(report.labels[i])} {report.observed_share[i]:.1%} "
                      f"against {report.expected_share[i]:.1%}" for i in keep)
    return _finish(ax, f"Bar chart, observed share with 95% intervals beside the "
                   f"{expected_label} share, per target, n={report.n:,}: {pairs}.")


def convergence(indices: np.ndarray, expected: Sequence[float], labels: Sequence[str], *,
                z: float = 1.96, ax: Axes | None = None, title: str = "") -> Axes:
    """Running share of each target against its expected value, with a +-z sigma funnel."""
    ax = _axes(ax, (6.5, 3.6))
    idx = np.asarray(indices)
    steps = np.arange(1, idx.size + 1)
    for j, label in enumerate(labels):
        p = float(expected[j])
        if p == 0 and not np.any(idx == j):
            continue
        running = np.cumsum(idx == j) / steps
        line, = ax.plot(steps, running, lw=1, label=short_label(label))
        half = z * np.sqrt(p * (1 - p) / steps)
        ax.fill_between(steps, p - half, p + half, color=line.get_color(), alpha=0.12)
        ax.axhline(p, color=line.get_color(), ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("selections (count, log scale)")
    ax.set_ylabel("running share (0-1)")
    ax.set_ylim(0, 1)
    ax.set_title(title or "running share vs expected (funnel: 95% band)")
    ax.legend(loc="upper right", fontsize="small")
    return _finish(ax, f"Line chart of the running share of each of {len(labels)} targets "
                   f"over {idx.size:,} selections, each converging inside its 95% funnel "
                   "towards its dashed expected share.")


def p_value_vs_n(indices: np.ndarray, expected: Sequence[float], *, alpha: float = 0.05,
                 points: int = 40, n: int | None = None, ax: Axes | None = None,
                 title: str = "") -> Axes:
    """Chi-square p-value of the first k selections, for growing k up to ``n`` (all of
    ``indices`` by default; log scales). One sample path: below a few thousand selections it
    wanders and may dip under alpha by chance before it falls for good."""
    ax = _axes(ax)
    idx = np.asarray(indices)[: n or None]
    exp = np.asarray(expected, dtype=float)
    ns = np.unique(np.geomspace(20, idx.size, points).astype(int))
    pvals = [compare(np.bincount(idx[:n], minlength=exp.size), exp).chi2.p_value for n in ns]
    ax.plot(ns, np.maximum(pvals, 1e-300), marker=".")
    ax.axhline(alpha, color="red", ls="--", lw=1, label=f"alpha = {alpha}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("selections observed (count, log scale)")
    ax.set_ylabel("chi-square p-value (log scale)")
    ax.set_title(title or f"p-value of the first k of {idx.size:,} selections: "
                 f"{p_equals(float(pvals[-1]))} at the end", fontsize=9)
    ax.legend(fontsize="small")
    below = [int(k) for k, p in zip(ns, pvals, strict=True) if p < alpha]
    return _finish(ax, f"Line chart of the chi-square p-value against the number of "
                   f"selections, 20 to {idx.size:,}, both log scales; a dashed line at alpha "
                   f"{alpha}; " + (f"first under it at {below[0]:,} selections"
                                   if below else "never under it") +
                   f", final {p_equals(float(pvals[-1]))}.")


def fleet_shares(result: Any, *, configured: Any = None, title: str = "",
                 ax: Axes | None = None) -> Axes:
    """The share of calls each target got, per time bin of a fleet run
    (:class:`enumlab.fleet.FleetResult`): one line per target, the configured share as a dashed
    line of the same colour, outages shaded, ``(none)``/``(failed)`` in grey/red when they
    occur. Where clustered clients sit behind long TTLs, the lines jump from bin to bin --
    each jump is one resolution deciding many calls."""
    ax = _axes(ax, (8, 3.6))
    frame = result.shares_over_time()
    width = result.config.duration / result.config.bins
    x = frame.index.to_numpy() + width / 2
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    k = len(result.rs.entries)
    for i, column in enumerate(frame.columns):
        if column == "(none)":
            ax.plot(x, frame[column], color="0.5", lw=1, label=column)
            continue
        if column == "(failed)":
            ax.plot(x, frame[column], color="#c44e52", lw=1.2, label=column)
            continue
        colour = colours[i % len(colours)]
        ax.plot(x, frame[column], color=colour, lw=1.2, label=column)
        if configured is not None and i < k:
            ax.axhline(float(configured[i]), color=colour, ls="--", lw=0.8)
    for outage in result.config.down:
        ax.axvspan(outage.start, min(outage.end, result.config.duration), color="0.85",
                   zorder=0)
        # inside the axes, under the top edge: never over the title
        ax.text(outage.end, 0.97, f" {short_label(outage.target)} down\n "
                f"{_clock(outage.start)}-{_clock(outage.end)}", fontsize=7,
                transform=ax.get_xaxis_transform(), va="top", ha="left")
    for start, end in result.config.nxdomain:
        ax.axvspan(start, min(end, result.config.duration), color="#f2d7d5", zorder=0)
    ax.set_xlim(0, result.config.duration)
    ax.set_ylim(0, 1)
    if result.config.duration >= 3 * 3600:  # a day reads as clock time, 00:00-24:00
        from matplotlib.ticker import FuncFormatter, MultipleLocator

        ax.xaxis.set_major_locator(MultipleLocator(3 * 3600))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _clock(v)))
        ax.set_xlabel("time of day (hh:mm, simulated)")
    else:
        ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(f"share of calls per {_span(width)} (0-1)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(title or "share per target over time (dashed: configured)", fontsize=9)
    outages = "; ".join(f"{short_label(o.target)} down {_clock(o.start)}-{_clock(o.end)}"
                        for o in result.config.down) or "no outage"
    return _finish(ax, f"Line chart of the share of calls each of {len(frame.columns)} "
                   f"targets got per {_span(width)} over {_span(result.config.duration)} of "
                   f"simulated time; dashed lines at the configured shares; {outages}.")


def save(ax: Axes, path: str) -> None:
    """Write the figure holding ``ax`` to ``path`` (PNG, SVG, PDF by extension)."""
    figure = ax.get_figure(root=True)
    assert figure is not None
    figure.savefig(path, dpi=120)
    plt.close(cast(Any, figure))
