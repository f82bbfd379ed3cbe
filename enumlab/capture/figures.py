"""The figures of a capture's analysis: response sizes against the 512 / 1232 / MTU lines, the
outcome timeline, TC=1 -> TCP latency, and how an answer is cut into IP fragments.
matplotlib is imported here, in :mod:`enumlab.split.figures` and in :mod:`enumlab.teach.plot`.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes


def _axes(ax: Axes | None, size: tuple[float, float] = (6.5, 3.2)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def visible_bins(values: Any, *, low: float | None = None, high: float | None = None,
                 count: int = 40) -> Any:
    """Bin edges about 1/``count`` of the plotted range wide (the data's range widened to
    ``low``/``high``), never narrower, so a single value or equal values make a visible bar."""
    lo = float(min(values.min(), low if low is not None else values.min()))
    hi = float(max(values.max(), high if high is not None else values.max()))
    span = hi - lo
    width = span / count if span > 0 else max(abs(hi) * 0.05, 1.0)
    start = float(values.min()) - width / 2
    stop = float(values.max()) + width
    return np.arange(start, stop + width / 2, width)


def response_sizes(transactions: Any, *, mtu: int | None = None, ax: Axes | None = None) -> Axes:
    """Histogram of DNS response sizes with the 512, 1232, 1472 and path-MTU lines."""
    ax = _axes(ax)
    sizes = transactions["dns_size"].dropna().astype(int)
    lines = {"512 (RFC 1035)": 512, "1232 (Flag Day 2020)": 1232, "1472 (IPv4, 1500 path)": 1472}
    if mtu:
        lines[f"MTU {mtu} - 28"] = mtu - 28
    if len(sizes):
        # bins sized to the axis (which spans the reference lines too), so that one size, or
        # all sizes equal, is a visible bar and not a 0.2-byte sliver
        ax.hist(sizes, bins=visible_bins(sizes, low=min(lines.values()),
                                         high=max(lines.values()), count=60), color="#4c72b0")
    for (label, x), color in zip(lines.items(), ["red", "orange", "purple", "black"],
                                 strict=False):
        ax.axvline(x, color=color, ls="--", lw=1, label=label)
    ax.set_xlabel("DNS response size (bytes)")
    ax.set_ylabel("responses")
    ax.set_title("response sizes")
    ax.legend(fontsize="x-small")
    return ax


def outcome_timeline(transactions: Any, *, ax: Axes | None = None) -> Axes:
    """Each transaction as a dot: time on x, outcome on y."""
    ax = _axes(ax)
    if len(transactions):
        t0 = float(transactions["query_time"].min())
        outcomes = list(transactions["outcome"].cat.categories)
        y = transactions["outcome"].cat.codes
        ax.scatter(transactions["query_time"] - t0, y, s=18, c=y, cmap="tab10", vmin=0, vmax=9)
        ax.set_yticks(range(len(outcomes)), outcomes, fontsize="small")
    ax.set_xlabel("seconds since the first query")
    ax.set_title("outcome timeline")
    return ax


def fallback_latency(transactions: Any, *, ax: Axes | None = None) -> Axes:
    """Distribution of TC=1 -> TCP answer latency."""
    ax = _axes(ax)
    latency = transactions["fallback_latency_ms"].dropna().astype(float)
    if len(latency):
        ax.hist(latency, bins=visible_bins(latency, low=0.0, count=30), color="#55a868")
    else:
        ax.text(0.5, 0.5, "no TCP fallback in this capture", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("TCP fallback latency (ms)")
    ax.set_ylabel("transactions")
    ax.set_title("TC=1 -> answer over TCP")
    return ax


def fragments_vs_mtu(dns_size: int, mtu: int, *, family: str = "ipv4",
                     ax: Axes | None = None) -> Axes:
    """How a UDP answer of ``dns_size`` bytes travels over a path of ``mtu`` bytes: one
    datagram (IP + UDP headers + DNS), cut into fragments whose data are multiples of 8 bytes
    (RFC 791 s3.2; IPv6 adds an 8-byte fragment header per fragment, RFC 8200 s4.5). Each
    fragment is a bar, the first carries the UDP header; a line marks the MTU."""
    header = 20 if family == "ipv4" else 40
    frag_header = 0 if family == "ipv4" else 8
    payload = dns_size + 8  # the UDP header travels in the first fragment
    whole = header + payload
    if whole <= mtu:
        pieces = [payload]
    else:
        per = (mtu - header - frag_header) // 8 * 8
        pieces = [min(per, payload - off) for off in range(0, payload, per)]
    ax = _axes(ax, (6.5, 0.6 * len(pieces) + 1.4))
    for i, size in enumerate(pieces):
        row = -i
        ax.barh(row, header + frag_header, color="#bbbbbb", edgecolor="black")
        ax.barh(row, size, left=header + frag_header, color="#1f77b4" if i else "#ff7f0e",
                edgecolor="black")
        total = header + frag_header + size
        ax.text(total + 15, row, f"{total} B" + (" (UDP header + DNS start)" if i == 0 and
                                                 len(pieces) > 1 else ""), va="center",
                fontsize=8)
    ax.axvline(mtu, color="#d62728", ls="--", lw=1.2)
    ax.text(mtu, -len(pieces) + 0.45, f" MTU {mtu}", color="#d62728", ha="left", fontsize=8)
    ax.set_yticks([-i for i in range(len(pieces))],
                  [f"fragment {i + 1}" if len(pieces) > 1 else "datagram"
                   for i in range(len(pieces))])
    ax.set_xlabel("bytes on the wire (IP header grey)")
    ax.set_xlim(0, max(mtu, header + frag_header + max(pieces)) * 1.35)
    ax.set_title(f"a {dns_size}-byte DNS answer over {family.upper()} at MTU {mtu}: "
                 f"{len(pieces)} {'fragments' if len(pieces) > 1 else 'datagram'}", fontsize=9)
    return ax
