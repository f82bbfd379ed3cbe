"""The figures of a capture's analysis: response sizes against the 512 / 1232 / MTU lines, the
outcome timeline, TC=1 -> TCP latency, and how an answer is cut into IP fragments.
matplotlib is imported here, in :mod:`enumlab.split.figures` and in :mod:`enumlab.teach.plot`.
"""

from __future__ import annotations

from typing import Any, cast

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes


def _axes(ax: Axes | None, size: tuple[float, float] = (6.5, 3.2)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
        ax.set_gid(_OWN)  # made here: _finish may show it, with its alt text
    return ax


_OWN = "enumlab-own-figure"


def alt_text(ax: Axes) -> str:
    """The alt text a helper gave its picture: what a reader who cannot see it needs."""
    return str(ax.get_label())


def _finish(ax: Axes, alt: str) -> Axes:
    """Give ``ax`` its alt text; in a notebook, show a figure the helper made itself as an
    ``<img alt=...>`` (JupyterLab and ``make html`` both render it; a plain PNG output has no
    place for alt text) and close it so it is not drawn twice. Outside a notebook (tests, the
    CLI, ``save``) nothing is shown."""
    ax.set_label(alt)
    if ax.get_gid() != _OWN:
        return ax
    figure = ax.get_figure(root=True)
    if figure is None or not _in_notebook():
        return ax
    show_figure(cast(Any, figure), alt)
    return ax


def _in_notebook() -> bool:
    import sys

    if "ipykernel" not in sys.modules or "inline" not in plt.get_backend():
        return False
    from IPython import get_ipython

    return get_ipython() is not None  # type: ignore[no-untyped-call]


def show_figure(figure: Any, alt: str) -> None:
    """Display ``figure`` in the notebook as a PNG with ``alt`` text, then close it."""
    import base64
    import html
    import io

    from IPython.display import display

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode()
    text = html.escape(alt, quote=True)
    display({"text/html": f'<img src="data:image/png;base64,{data}" alt="{text}" '
                          f'title="{text}" style="max-width:100%">',
             "text/plain": f"[picture: {alt}]"}, raw=True)  # type: ignore[no-untyped-call]


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
    ax.set_ylabel("responses (count)")
    ax.set_title("response sizes")
    ax.legend(fontsize="x-small")
    sizes_text = (f"{len(sizes)} responses from {sizes.min()} to {sizes.max()} bytes"
                  if len(sizes) else "no responses")
    return _finish(ax, f"Histogram of DNS response sizes: {sizes_text}; dashed lines at "
                   + ", ".join(lines) + ".")


TIMELINE_DOTS = 20_000  # up to this many transactions, one dot each; above, one per time bin
TIMELINE_BINS = 2_000


def outcome_timeline(transactions: Any, *, ax: Axes | None = None) -> Axes:
    """Each transaction as a dot: time on x, outcome on y. Above :data:`TIMELINE_DOTS`
    transactions, one dot per outcome and time bin (:data:`TIMELINE_BINS` bins over the
    capture) that holds any: the same picture at a 500 k-transaction capture's scale, drawn
    in a fixed time (one dot each cost matplotlib ~3 s per 500 k)."""
    ax = _axes(ax)
    binned = ""
    if len(transactions):
        t0 = float(transactions["query_time"].min())
        outcomes = list(transactions["outcome"].cat.categories)
        x = transactions["query_time"].to_numpy(dtype=float) - t0
        y = transactions["outcome"].cat.codes.to_numpy(dtype=np.int64)
        if len(x) > TIMELINE_DOTS:
            width = max(float(x.max()), 1e-9) / TIMELINE_BINS
            cell = np.minimum((x / width).astype(np.int64), TIMELINE_BINS - 1)
            occupied = np.unique(y * TIMELINE_BINS + cell)
            y, cell = occupied // TIMELINE_BINS, occupied % TIMELINE_BINS
            x = (cell + 0.5) * width
            binned = (f" (one dot per outcome and {_seconds(width)} bin holding any of the "
                      f"{len(transactions):,} transactions)")
        ax.scatter(x, y, s=18, c=y, cmap="tab10", vmin=0, vmax=9)
        ax.set_yticks(range(len(outcomes)), outcomes, fontsize="small")
    ax.set_xlabel("time since the first query (s)")
    ax.set_ylabel("outcome")
    ax.set_title("outcome timeline")
    counts = transactions["outcome"].value_counts() if len(transactions) else {}
    said = ", ".join(f"{k} {v}" for k, v in dict(counts).items() if v) or "none"
    return _finish(ax, ("Dot chart, one dot per transaction at its time" if not binned else
                        f"Dot chart{binned}") + f", one row per outcome: {said}.")


def _seconds(width: float) -> str:
    return f"{width:.3g} s" if width >= 1e-3 else f"{width * 1e6:.3g} us"


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
    ax.set_ylabel("transactions (count)")
    ax.set_title("TC=1 -> answer over TCP")
    said = (f"{len(latency)} fallbacks from {latency.min():.1f} to {latency.max():.1f} ms"
            if len(latency) else "no TCP fallback")
    return _finish(ax, f"Histogram of the time from a TC=1 answer to the answer over TCP: "
                   f"{said}.")


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
    ax.set_ylabel("packet")
    ax.set_xlim(0, max(mtu, header + frag_header + max(pieces)) * 1.35)
    ax.set_title(f"a {dns_size}-byte DNS answer over {family.upper()} at MTU {mtu}: "
                 f"{len(pieces)} {'fragments' if len(pieces) > 1 else 'datagram'}", fontsize=9)
    sizes = ", ".join(f"{header + frag_header + p} B" for p in pieces)
    return _finish(ax, f"Bar chart: a {dns_size}-byte DNS answer in UDP over "
                   f"{family.upper()} ({header}-byte IP header, 8-byte UDP header) on a path "
                   f"of MTU {mtu} travels as {len(pieces)} packet(s) of {sizes}.")
