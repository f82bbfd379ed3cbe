"""Plots for the notebooks, one module so a notebook cell stays one line: the diagrams of the
procedures (ladder, ENUM tree, RFC 3263 flow, S8 home routing) drawn here, and the figures of
load splits (:mod:`enumlab.split.figures`) and captures (:mod:`enumlab.capture.figures`)
re-exported. matplotlib is imported in these three modules and nowhere else in enumlab.
"""

from __future__ import annotations

import itertools
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from ..capture.figures import (
    _OWN,
    _finish,
    _in_notebook,
    alt_text,
    fallback_latency,
    fragments_vs_mtu,
    outcome_timeline,
    response_sizes,
    show_figure,
    visible_bins,
)
from ..core.records import short_label
from ..split.figures import (
    actual_vs_expected,
    bar_shares,
    convergence,
    fleet_shares,
    format_p,
    p_equals,
    p_value_vs_n,
    save,
)

__all__ = [
    "actual_vs_expected", "alt_text", "bar_shares", "convergence", "enum_tree",
    "fallback_latency", "fleet_shares", "format_p", "fragments_vs_mtu", "ladder",
    "outcome_timeline", "p_equals", "p_value_vs_n", "readable", "response_sizes",
    "rfc3263_flow", "rfc3263_flows", "s8_home_routing", "save", "short_label", "show_figure",
    "visible_bins",
]


def _axes(ax: Axes | None, size: tuple[float, float] = (6.5, 3.2)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
        ax.set_gid(_OWN)  # made here: _finish may show it, with its alt text
    return ax


def readable(frame: Any) -> Any:
    """A table as a reader should see it: every missing value (None, NaN, <NA>) the same
    "–", and a ``qtype`` column's numbers as type names (35 -> NAPTR, RFC 3403; 33 -> SRV)."""
    import pandas as pd

    from ..zones.zonefile import TYPE_CODES

    names = {code: name for name, code in TYPE_CODES.items()}
    out = frame.copy()
    for column in out.columns:
        if str(column) in ("qtype", "rdtype"):
            out[column] = [None if pd.isna(v) else names.get(int(v), f"TYPE{int(v)}")
                           for v in out[column].astype(object)]
        values = out[column].astype(object)
        out[column] = values.where(values.notna(), "–")
    return out


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
    first = steps[0].name.rstrip(".") if steps else "nothing"
    ax.set_title(f"the resolution of {first}, as exchanged on the wire", fontsize=9)
    truncated = sum(bool(e["truncated"]) for s in steps for e in s.exchanges)
    return _finish(ax, f"Sequence diagram: {client} asks {', '.join(servers) or 'zone data'} "
                   f"{len(steps)} question(s); {truncated} answer(s) come back truncated "
                   "(TC=1) and are asked again over TCP"
                   + (f"; then the call goes to {next_hop}" if next_hop else "") + ".")


def enum_tree(zones: Any, parent: str, *, number_length: int | None = None,
              ax: Axes | None = None) -> Axes:
    """The ENUM tree below ``parent`` (e.g. ``2.0.5.5.5.2.1.6.e164.arpa``) as the zone files in
    ``zones`` define it: names with records, wildcards, and the empty non-terminals an explicit
    name creates above itself (RFC 4592 s2.2.2). An empty non-terminal under a wildcard's
    parent is drawn red: below it the wildcard no longer answers. With ``number_length`` (digits
    of the numbers, country code included) each such node says how many numbers of that length
    it takes out of the wildcard's block."""
    from pathlib import Path

    from ..core.errors import ZoneError
    from ..zones.zonefile import name_to_wire, read_zone_file

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
            leaf[0] += 3  # room for the note right of each node: notes never overlap nodes
        else:
            x[node] = sum(place(k) for k in kids) / len(kids)
        return x[node]

    place(())
    depth = max(len(n) for n in nodes)
    ax = _axes(ax, (max(7.0, 1.1 * leaf[0] + 3), 1.25 * depth + 1.6))
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
    ax.set_xlim(-1, leaf[0])
    ax.set_ylim(-depth - 0.8, 0.8)
    ax.axis("off")
    ax.set_title(f"the ENUM tree below {parent.rstrip('.')}, from the zone files", fontsize=9)
    wild = sum(1 for n in nodes if n and n[-1] == "*")
    ents = [n for n in nodes if n and n not in with_records]
    blocking = [".".join(reversed(n)) + "." + parent.rstrip(".") for n in ents
                if (*n[:-1], "*") in nodes]
    return _finish(ax, f"Tree diagram of the names below {parent.rstrip('.')}: {wild} "
                   f"wildcard(s), {len(with_records) - wild} name(s) with records, "
                   f"{len(ents)} empty non-terminal(s); "
                   + ("; ".join(f"the empty non-terminal {name} beside the wildcard stops "
                                "it answering below itself" for name in blocking)
                      or "none blocks a wildcard") + ".")


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
    from ..resolve.sip_location import FLOW

    path = list(location.path)
    taken = set(itertools.pairwise(path))
    ax = _axes(ax, (8.6, 5.6))
    boxes = {node: _box(ax, _FLOW_AT[node], location.uri if node == "uri" else text,
                        on=node in path) for node, (text, _) in FLOW.items()}
    for node, (_, edges) in FLOW.items():
        for label, nxt in edges:
            _edge(ax, boxes[node], boxes[nxt], label, on=(node, nxt) in taken)
    end = FLOW[path[-1]][0].replace("\n", " ")
    ax.set_title(f"RFC 3263: {location.uri}\n-> {end}: {len(location.targets)} target(s)",
                 fontsize=10)
    ax.set_xlim(-1.4, 5.4)
    ax.set_ylim(-5.8, 0.5)
    ax.axis("off")
    steps = " -> ".join(FLOW[node][0].replace("\n", " ") for node in path[1:])
    return _finish(ax, f"Flow chart of RFC 3263 section 4's decisions for {location.uri}, the "
                   f"path taken highlighted: {steps}; {len(location.targets)} target(s).")


def rfc3263_flows(*locations: Any) -> list[Axes]:
    """Several :func:`rfc3263_flow` pictures one above the other (never side by side: the
    labels need the width), one figure, one alt text."""
    figure, axes = plt.subplots(len(locations), 1, figsize=(9.0, 5.8 * len(locations)),
                                layout="constrained", squeeze=False)
    drawn = [rfc3263_flow(location, ax=ax) for location, ax in zip(locations, axes[:, 0],
                                                                    strict=True)]
    if _in_notebook():
        show_figure(figure, " Then: ".join(alt_text(ax) for ax in drawn))
    return drawn


def s8_home_routing(selection: Any, *, ax: Axes | None = None) -> Axes:
    """S8 home routing (TS 23.401 s4.3.8, TS 29.303 s5.x) drawn from a real S-NAPTR selection
    (:class:`~enumlab.snaptr.SnaptrResult` for a PGW over ``x-s8-gtp``): the UE attaches in the
    visited network; the visited MME asks the *home* network's DNS for the APN-FQDN's NAPTR
    records and the chosen node's addresses (the queries of the trace, with their answers);
    the address goes into the PGW S8 F-TEID of the Create Session Request, which the visited
    SGW sends to the home PGW; user plane UE - eNodeB - SGW (S1-U) - PGW (S8-U)."""
    from ..resolve.snaptr import canonical_node_name

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
    return _finish(ax, f"Network diagram of S8 home routing: the visited MME asks the home "
                   f"DNS {len(queries)} question(s) for {selection.fqdn.rstrip('.')}, keeps "
                   f"{node or 'nothing'}, and puts {f_teid} in the PGW S8 F-TEID of the Create "
                   "Session Request the visited SGW sends to the home PGW.")
