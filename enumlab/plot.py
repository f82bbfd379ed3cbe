"""Plots for notebooks and reports: small helpers so a notebook cell stays one line.

matplotlib is imported here and nowhere else in enumlab.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, cast

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from .stats import SplitReport, compare


def short_label(label: str) -> str:
    """``sip:service@server1.enum.example.com`` -> ``server1``: keeps axis labels readable."""
    if "@" in label:
        return label.split("@", 1)[1].split(".", 1)[0].split(";")[0]
    import ipaddress

    try:
        ipaddress.ip_address(label)
        return label  # an address is its own short name
    except ValueError:
        pass
    return label.rstrip(".").split(".")[0] if "." in label else label


def _axes(ax: Axes | None, size: tuple[float, float] = (6.5, 3.2)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def bar_shares(counts: Mapping[str, int], expected: Mapping[str, float] | None = None, *,
               title: str = "", ax: Axes | None = None) -> Axes:
    """Observed share of each target as bars; expected shares as black ticks if given."""
    labels = sorted(set(counts) | set(expected or {}))
    obs = np.array([counts.get(k, 0) for k in labels], dtype=float)
    exp = np.array([(expected or {}).get(k, 0.0) for k in labels])
    if expected and np.isclose(exp.sum(), 1):
        return actual_vs_expected(compare(obs, exp, labels=labels), title=title, ax=ax)
    ax = _axes(ax)
    ax.bar(range(len(labels)), obs / max(obs.sum(), 1), color="#4c72b0")
    ax.set_xticks(range(len(labels)), [short_label(k) for k in labels])
    ax.set_ylim(0, 1)
    ax.set_ylabel("share")
    ax.set_title(title or f"{int(obs.sum())} selections")
    return ax


def actual_vs_expected(report: SplitReport, *, title: str = "", ax: Axes | None = None) -> Axes:
    """Observed shares with Wilson intervals beside the expected shares."""
    ax = _axes(ax)
    keep = [i for i, lab in enumerate(report.labels)
            if not (lab == "(none)" and report.observed[i] == 0
                    and report.expected_share[i] == 0)]
    x = np.arange(len(keep))
    share = report.observed_share[keep]
    err = np.maximum(np.vstack([share - report.ci_low[keep], report.ci_high[keep] - share]), 0)
    ax.bar(x - 0.2, share, 0.4, yerr=err, capsize=3, color="#4c72b0", label="observed (95% CI)")
    ax.bar(x + 0.2, report.expected_share[keep], 0.4, color="#bbbbbb", label="expected")
    ax.set_xticks(x, [short_label(report.labels[i]) for i in keep])
    ax.set_ylabel("share of selections")
    ax.set_ylim(0, max(1e-9, float(max(share.max(), report.expected_share.max()))) * 1.25)
    verdict = "consistent" if report.consistent() else "NOT the expected split"
    ax.set_title(title or f"n={report.n}: chi2 p={report.chi2.p_value:.3g} ({verdict})")
    ax.legend(loc="upper left", fontsize="small")
    return ax


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
    ax.set_xlabel("selections")
    ax.set_ylabel("running share")
    ax.set_ylim(0, 1)
    ax.set_title(title or "running share vs expected (funnel: 95% band)")
    ax.legend(loc="upper right", fontsize="small")
    return ax


def p_value_vs_n(indices: np.ndarray, expected: Sequence[float], *, alpha: float = 0.05,
                 points: int = 40, ax: Axes | None = None, title: str = "") -> Axes:
    """Chi-square p-value of the first n selections, for growing n (log scales)."""
    ax = _axes(ax)
    idx = np.asarray(indices)
    exp = np.asarray(expected, dtype=float)
    ns = np.unique(np.geomspace(20, idx.size, points).astype(int))
    pvals = [compare(np.bincount(idx[:n], minlength=exp.size), exp).chi2.p_value for n in ns]
    ax.plot(ns, np.maximum(pvals, 1e-300), marker=".")
    ax.axhline(alpha, color="red", ls="--", lw=1, label=f"alpha = {alpha}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("selections observed")
    ax.set_ylabel("chi-square p-value")
    ax.set_title(title or "evidence against the expected split grows with n")
    ax.legend(fontsize="small")
    return ax



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
        ax.text(outage.start, 1.02, f"{short_label(outage.target)} down", fontsize=7,
                transform=ax.get_xaxis_transform(), va="bottom")
    for start, end in result.config.nxdomain:
        ax.axvspan(start, min(end, result.config.duration), color="#f2d7d5", zorder=0)
    ax.set_xlim(0, result.config.duration)
    ax.set_ylim(0, 1)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(f"share of calls per {width:g} s")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(title or "share per target over time (dashed: configured)", fontsize=9)
    return ax

def save(ax: Axes, path: str) -> None:
    """Write the figure holding ``ax`` to ``path`` (PNG, SVG, PDF by extension)."""
    figure = ax.get_figure(root=True)
    assert figure is not None
    figure.savefig(path, dpi=120)
    plt.close(cast(Any, figure))


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


# -- pictures of the flow ---------------------------------------------------------------------

def ladder(trace: Any, *, client: str = "client", next_hop: str | None = None,
           ax: Axes | None = None) -> Axes:
    """A ladder (sequence) diagram of a resolution, drawn from its :class:`~enumlab.lookup.Trace`:
    one lane for the client, one per DNS server it asked, and (``next_hop``, e.g. the chosen SIP
    URI) one for where the call goes next. Each exchange is a query arrow and an answer arrow,
    labelled with the question, transport and size; a TC=1 answer is red and followed by its
    TCP retry (drawn dashed), as RFC 1035 s4.2.1 / RFC 7766 s5 want."""
    steps = [s for s in trace if s.kind == "query"]
    servers: list[str] = []
    for s in steps:
        for e in s.exchanges:
            label = "zone data" if e["transport"] == "zone" else f"DNS {e['server']}"
            if label not in servers:
                servers.append(label)
    lanes = [client, *servers] + ([next_hop] if next_hop else [])
    rows = sum(2 * max(1, len(s.exchanges)) for s in steps) + (1 if next_hop else 0)
    ax = _axes(ax, (max(6.5, 2.6 * len(lanes)), 0.55 * rows + 1.2))
    x = {lane: i for i, lane in enumerate(lanes)}
    for lane, i in x.items():
        ax.plot([i, i], [0.5, -rows - 0.5], color="#999999", lw=1, zorder=0)
        ax.text(i, 0.8, short_label(lane) if lane == next_hop else lane, ha="center",
                va="bottom", fontsize=9, fontweight="bold")
    y = 0.0

    def arrow(a: str, b: str, text: str, *, color: str, style: str = "-") -> None:
        nonlocal y
        y -= 1
        ax.annotate("", xy=(x[b], y), xytext=(x[a], y),
                    arrowprops={"arrowstyle": "->", "color": color, "linestyle": style,
                                "lw": 1.4})
        ax.text((x[a] + x[b]) / 2, y + 0.12, text, ha="center", va="bottom", fontsize=7.5,
                color=color)

    for s in steps:
        name = s.name.rstrip(".")
        question = f"{s.rdtype} {name if len(name) <= 44 else '...' + name[-41:]}?"
        for e in s.exchanges or [{"transport": "zone", "server": "", "query_size": 0,
                                  "response_size": 0, "truncated": False}]:
            lane = "zone data" if e["transport"] == "zone" else f"DNS {e['server']}"
            tcp = e["transport"] == "tcp"
            style = "--" if tcp else "-"
            how = "" if e["transport"] == "zone" else f" ({e['transport'].upper()}, " \
                f"{e['query_size']} B)"
            arrow(client, lane, question + how, color="#1f77b4", style=style)
            answer = (f"{s.rcode}, TC=1 {e['response_size']} B: retry over TCP"
                      if e["truncated"] else
                      f"{s.rcode}" + ("" if e["transport"] == "zone"
                                      else f", {e['response_size']} B"))
            arrow(lane, client, answer, color="#d62728" if e["truncated"] else "#2ca02c",
                  style=style)
    if next_hop:
        arrow(client, next_hop, "SIP INVITE", color="#9467bd")
    ax.set_xlim(-0.6, len(lanes) - 0.4)
    ax.set_ylim(-rows - 0.8, 1.6)
    ax.axis("off")
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


def enum_tree(zones: Any, parent: str, *, number_length: int | None = None,
              ax: Axes | None = None) -> Axes:
    """The ENUM tree below ``parent`` (e.g. ``2.0.5.5.5.2.1.6.e164.arpa``) as the zone files in
    ``zones`` define it: names with records, wildcards, and the empty non-terminals an explicit
    name creates above itself (RFC 4592 s2.2.2). An empty non-terminal under a wildcard's
    parent is drawn red: below it the wildcard no longer answers. With ``number_length`` (digits
    of the numbers, country code included) each such node says how many numbers of that length
    it takes out of the wildcard's block."""
    from pathlib import Path

    from .errors import ZoneError
    from .zonefile import name_to_wire, read_zone_file

    def labels(wire: bytes) -> list[str]:
        out, i = [], 0
        while wire[i]:
            out.append(wire[i + 1: i + 1 + wire[i]].decode(errors="replace").lower())
            i += 1 + wire[i]
        return out

    where = Path(zones)
    files = (sorted(p for p in where.iterdir() if p.suffix in (".zone", ".db"))
             if where.is_dir() else [where])
    top = labels(name_to_wire(parent.rstrip(".") + ".", None,
                              lambda m: ZoneError(m, subject=parent)))
    with_records: set[tuple[str, ...]] = set()
    for path in files:
        for record in read_zone_file(path)[1]:
            name = labels(record.owner)
            if len(name) > len(top) and name[len(name) - len(top):] == top:
                with_records.add(tuple(reversed(name[: len(name) - len(top)])))
    nodes: set[tuple[str, ...]] = {()}
    for path_ in with_records:
        nodes.update(path_[:k] for k in range(1, len(path_) + 1))
    children: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for node in sorted(nodes, key=lambda n: (len(n), n)):
        if node:
            children.setdefault(node[:-1], []).append(node)
    x: dict[tuple[str, ...], float] = {}
    leaf = [0.0]

    def place(node: tuple[str, ...]) -> float:
        kids = children.get(node, [])
        if not kids:
            x[node] = leaf[0]
            leaf[0] += 1
        else:
            x[node] = sum(place(k) for k in kids) / len(kids)
        return x[node]

    place(())
    depth = max(len(n) for n in nodes)
    ax = _axes(ax, (max(5.0, 1.3 * leaf[0] + 2), 1.25 * depth + 1.6))
    prefix_digits = "".join(reversed([t for t in top if t.isdigit()]))
    for node in nodes:
        for kid in children.get(node, []):
            ax.plot([x[node], x[kid]], [-len(node), -len(kid)], color="#888888", lw=1, zorder=1)
    for node in sorted(nodes, key=len):
        wildcard = bool(node) and node[-1] == "*"
        sibling_wild = (*node[:-1], "*") in nodes if node else False
        empty = bool(node) and node not in with_records
        if not node:
            kind, color = parent.rstrip("."), "#dddddd"
        elif wildcard:
            kind, color = "* wildcard", "#2ca02c"
        elif empty:
            kind, color = ("empty non-terminal", "#d62728") if sibling_wild else (
                "empty non-terminal", "#ff9896")
        else:
            kind, color = "records", "#1f77b4"
        text = node[-1] if node else kind
        ax.text(x[node], -len(node), text, ha="center", va="center", fontsize=9,
                color="white" if node and color not in ("#dddddd",) else "black",
                bbox={"boxstyle": "round", "fc": color, "ec": "black"}, zorder=2)
        if wildcard:
            ax.text(x[node] + 0.25, -len(node), "wildcard: answers any name\nbelow that does not "
                    "exist", ha="left", va="center", fontsize=7, color=color)
        if node and not wildcard:
            note = kind
            if empty and sibling_wild and number_length:
                digits = prefix_digits + "".join(node)
                free = number_length - len(digits)
                if 0 <= free <= 6:
                    inside = [p for p in with_records if p[: len(node)] == node
                              and len(prefix_digits) + len(p) == number_length]
                    blocked = 10 ** free - len(inside)
                    note += f"\n+{digits}{'x' * free}: {blocked} numbers\nno longer match *"
            ax.text(x[node] + 0.25, -len(node), note, ha="left", va="center", fontsize=7,
                    color=color if color != "#ff9896" else "#d62728")
    ax.set_xlim(-1, leaf[0] + 1.5)
    ax.set_ylim(-depth - 0.8, 0.8)
    ax.axis("off")
    ax.set_title(f"below {parent.rstrip('.')}", fontsize=9)
    return ax


def _box(ax: Axes, xy: tuple[float, float], text: str, *, on: bool, fontsize: float = 8) -> Any:
    return ax.text(*xy, text, ha="center", va="center", fontsize=fontsize, zorder=3,
                   color="black" if on else "#777777",
                   bbox={"boxstyle": "round,pad=0.35", "fc": "#ffd8a8" if on else "#f2f2f2",
                         "ec": "#e8590c" if on else "#bbbbbb", "lw": 1.6 if on else 0.8})


def _edge(ax: Axes, a: Any, b: Any, label: str, *, on: bool, rad: float = 0.0) -> None:
    """An arrow from box ``a`` to box ``b`` (texts made by _box), clipped at their edges."""
    (x0, y0), (x1, y1) = a.get_position(), b.get_position()
    color = "#e8590c" if on else "#aaaaaa"
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=2,
                arrowprops={"arrowstyle": "-|>", "color": color, "lw": 2.2 if on else 0.9,
                            "patchA": a.get_bbox_patch(), "patchB": b.get_bbox_patch(),
                            "shrinkA": 2, "shrinkB": 2, "connectionstyle": f"arc3,rad={rad}"})
    if label:
        ax.text(x0 + (x1 - x0) * 0.42 + 0.05, y0 + (y1 - y0) * 0.42 + 0.06, label, fontsize=7,
                color=color, ha="left", va="bottom", zorder=3)


# where each node of sip_location.FLOW sits: decisions down the left, outcomes to the right
_FLOW_AT = {"uri": (0.0, 0.0), "numeric?": (0.0, -1.0), "no_dns": (2.0, -1.0),
            "port?": (0.0, -2.0), "a_port": (2.0, -2.0), "transport?": (0.0, -3.0),
            "srv_transport": (2.0, -3.0), "naptr?": (0.0, -4.0), "srv_naptr": (2.0, -4.0),
            "srv_each": (0.0, -5.3), "a_srv": (4.2, -3.5), "a_default": (4.2, -5.3)}


def rfc3263_flow(location: Any, *, ax: Axes | None = None) -> Axes:
    """The RFC 3263 s4 decision flow -- numeric host, port, ``transport=``, NAPTR, SRV,
    A/AAAA -- with the path ``location`` (a :class:`~enumlab.sip_location.SipLocation`) took
    drawn in orange: its boxes filled, its arrows thick. The title says where it ended."""
    from .sip_location import FLOW

    path = list(location.path)
    taken = set(itertools.pairwise(path))
    ax = _axes(ax, (8.6, 5.6))
    boxes = {node: _box(ax, _FLOW_AT[node], location.uri if node == "uri" else text,
                        on=node in path) for node, (text, _) in FLOW.items()}
    for node, (_, edges) in FLOW.items():
        for label, nxt in edges:
            _edge(ax, boxes[node], boxes[nxt], label, on=(node, nxt) in taken)
    end = FLOW[path[-1]][0].replace("\n", " ")
    ax.set_title(f"RFC 3263: {location.uri} -> {end}: {len(location.targets)} target(s)",
                 fontsize=9)
    ax.set_xlim(-1.4, 5.4)
    ax.set_ylim(-5.8, 0.5)
    ax.axis("off")
    return ax


def s8_home_routing(selection: Any, *, ax: Axes | None = None) -> Axes:
    """S8 home routing (TS 23.401 s4.3.8, TS 29.303 s5.x) drawn from a real S-NAPTR selection
    (:class:`~enumlab.snaptr.SnaptrResult` for a PGW over ``x-s8-gtp``): the UE attaches in the
    visited network; the visited MME asks the *home* network's DNS for the APN-FQDN's NAPTR
    records and the chosen node's addresses (the queries of the trace, with their answers);
    the address goes into the PGW S8 F-TEID of the Create Session Request, which the visited
    SGW sends to the home PGW; user plane UE - eNodeB - SGW (S1-U) - PGW (S8-U)."""
    from .snaptr import canonical_node_name

    chosen = selection.selected
    queries = [s for s in selection.trace if s.kind == "query"]
    labels = selection.fqdn.rstrip(".").split(".")
    plmn = ".".join(x for x in labels if x.startswith(("mnc", "mcc")))
    ax = _axes(ax, (9.4, 5.0))
    ax.add_patch(Rectangle((-0.5, -1.0), 4.2, 3.6, fc="#e7f5ff", ec="#74c0fc", zorder=0))
    ax.add_patch(Rectangle((3.9, -1.0), 3.4, 3.6, fc="#fff4e6", ec="#ffc078", zorder=0))
    ax.text(-0.4, 2.5, "visited PLMN", fontsize=8, va="top", color="#1864ab")
    ax.text(4.0, 2.5, f"home PLMN ({plmn})", fontsize=8, va="top", color="#d9480f")
    node = canonical_node_name(chosen.hostname)[0].split(".")[0] if chosen else ""
    addresses = chosen.addresses(selection.prefer_ipv6) if chosen else []
    at = {"UE": (0.0, 0.0), "eNodeB": (1.4, 0.0), "SGW": (3.0, 0.0), "MME": (3.0, 1.6),
          "DNS": (5.6, 1.6), "PGW": (5.6, 0.0)}
    names = {"UE": "UE", "eNodeB": "eNodeB", "SGW": "visited SGW", "MME": "visited MME",
             "DNS": "home DNS", "PGW": "home PGW\n" + (f"{node}\n{', '.join(addresses[:2])}"
                                                      if chosen else "none usable")}
    for key, xy in at.items():
        _box(ax, xy, names[key], on=True, fontsize=8)

    def say(a: str, b: str, text: str, dy: float, color: str, *, style: str = "-",
            above: bool = True) -> None:
        (x0, y0), (x1, y1) = at[a], at[b]
        ax.annotate("", xy=(x1, y1 + dy), xytext=(x0, y0 + dy), zorder=2,
                    arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.3,
                                "linestyle": style, "shrinkA": 32,
                                "shrinkB": 62 if b == "PGW" else 32})
        ax.text((x0 + x1) / 2, (y0 + y1) / 2 + dy + (0.06 if above else -0.06), text,
                ha="center", va="bottom" if above else "top", fontsize=6.5, color=color)

    def short(step: Any) -> str:
        name = str(step.name).rstrip(".")
        return name if step.rdtype == "NAPTR" else name.split(".epc.")[0]

    step = 1
    say("UE", "eNodeB", f"{step} attach, APN {labels[0]}", 0.15, "#1864ab")
    asked = [f"{step + 1 + i} {q.rdtype} {short(q)}?" for i, q in enumerate(queries[:3])]
    said = [f"{q.text.split(' -> ', 1)[1].split(' [')[0]}" for q in queries[:3]]
    say("MME", "DNS", "\n".join(asked), 0.1, "#d9480f")
    kept = f"keep {selection.app_service}:{selection.app_protocol} -> {node or 'nothing'}"
    say("DNS", "MME", "\n".join([*said, kept]), -0.1, "#d9480f", above=False)
    step += 1 + len(asked)
    f_teid = addresses[0] if addresses else "?"
    ax.annotate("", xy=at["MME"], xytext=at["eNodeB"], zorder=1,
                arrowprops={"arrowstyle": "-|>", "color": "#1864ab", "lw": 1.0, "shrinkA": 22,
                            "shrinkB": 32})
    ax.text(2.25, 0.95, "S1-MME", fontsize=6.5, color="#1864ab", ha="right")
    say("MME", "SGW", "", 0.0, "#2b8a3e")
    ax.text(3.08, 0.8, f"{step} Create Session (S11)\nPGW S8 F-TEID {f_teid}", fontsize=6.5,
            color="#2b8a3e", ha="left", va="center")
    say("SGW", "PGW", f"{step + 1} Create Session over S8 (GTP-C)", 0.1, "#2b8a3e")
    say("UE", "eNodeB", "radio", -0.2, "#868e96", style="--", above=False)
    say("eNodeB", "SGW", "S1-U", -0.2, "#868e96", style="--", above=False)
    say("SGW", "PGW", "S8-U: user plane, home routed", -0.2, "#868e96", style="--",
        above=False)
    ax.set_xlim(-0.6, 7.4)
    ax.set_ylim(-1.1, 2.6)
    ax.axis("off")
    ax.set_title(f"S8 home routing: {selection.fqdn.rstrip('.')} -> "
                 f"{chosen.hostname if chosen else 'nothing usable'}", fontsize=9)
    return ax
