"""Things to try in the notebooks: small ipywidgets front-ends over enumlab's procedures.

Each widget is a thin shell around a plain function that does the work and that the tests call
without a browser:

* :func:`number_box` -- type a number, see the live resolution: :func:`explain_number`;
* :func:`split_sliders` -- move a record's PREFERENCE (NAPTR) or WEIGHT (SRV) and see the split
  every policy gives, live: :func:`split_with` rewrites the record set in the embedded server
  (:meth:`EmbeddedServer.load <enumlab.lab.server.EmbeddedServer.load>`), fetches it back over DNS
  and simulates each policy on it;
* :func:`fragments_sliders` -- MTU and EDNS0 size: how the largest answer a client invites
  travels (:func:`fragments_for`);
* :func:`p_value_slider` -- sample size on the p-value plot (:func:`p_value_at`);
* :func:`fleet_sliders` -- TTL and client mix of a fleet: its split and effective n
  (:func:`fleet_summary`).

Run All safe: a widget that finds its lab server stopped (``server.stop()`` ran, or the kernel
was restarted half-way) starts it again and says so in one line (:func:`live_resolver`).

ipywidgets is imported only when a widget is built.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.e164 import to_enum_domain
from ..core.errors import EnumlabError, InputError, LabServerError, ServerUnreachableError
from ..core.records import NaptrRecord, SrvRecord
from ..lab.server import EmbeddedServer
from ..resolve.ddds import resolve_enum
from ..resolve.resolver import Resolver
from ..split.simulate import expected_table, record_set, simulate

DEFAULT_POLICIES = ("rfc3403", "weighted", "3gpp")


def explain_number(number: str, lookup: Any) -> str:
    """What the number box shows: the ENUM resolution's trace and its URIs, or the one-line
    typed error a bad number gets (RFC 6116 s2.4 for the domain, RFC 3403 s4.1 for the rest)."""
    try:
        result = resolve_enum(number, lookup)
    except EnumlabError as error:
        return f"{type(error).__name__}: {error}"
    uris = "\n".join(f"  {i}. {uri}" for i, uri in enumerate(result.uris, 1)) or "  (none)"
    return f"{result.number} -> {result.domain}\n{result.trace.format()}\nURIs, in order:\n{uris}"


def live_resolver(server: EmbeddedServer) -> tuple[Resolver, str]:
    """A resolver for ``server``, started again if it was stopped: (resolver, note) where the
    note is one line to show the learner ("" when the server was running). A stopped server is
    one whose TCP port refuses a connection (the embedded server always listens on TCP beside
    UDP, RFC 7766 s5); nothing is asked over DNS, so a running server sees no query."""
    if server.port:
        try:
            with socket.create_connection((server.host, server.port), timeout=1.0):
                return Resolver(server.host, server.port), ""
        except OSError:
            pass
    old, wanted = server.port, server.requested_port
    with contextlib.suppress(EnumlabError):
        server.stop()
    try:  # on its old port if it is still free: the notebook's resolver keeps working
        server.requested_port = old or wanted
        try:
            server.start()
        except LabServerError:
            server.requested_port = wanted
            server.start()
    finally:
        server.requested_port = wanted
    return (Resolver(server.host, server.port),
            f"(the lab server had been stopped; started again on {server.address})")


def explain_live(number: str, lookup: Any) -> str:
    """What the number box shows after Run All: :func:`explain_number` against ``lookup`` --
    the notebook's :class:`EmbeddedServer` (started again, with a one-line note, if it was
    stopped) or any lookup (a stopped server then said in one line, not a traceback)."""
    if isinstance(lookup, EmbeddedServer):
        resolver, note = live_resolver(lookup)
        text = explain_number(number, resolver)
        return f"{note}\n{text}" if note else text
    text = explain_number(number, lookup)
    if text.startswith(ServerUnreachableError.__name__):
        return ("The lab server is not running (a cell stopped it?): run the notebook's first "
                "code cell again.")
    return text


def number_box(lookup: Any, number: str = "+61355500912") -> Any:
    """A text box: each number typed in is resolved live and its trace and URIs shown.
    ``lookup`` is the notebook's :class:`EmbeddedServer` (restarted if it was stopped) or any
    lookup (then a stopped server is reported in one line)."""
    import ipywidgets as w

    box = w.Text(value=number, description="number", continuous_update=False,
                 layout=w.Layout(width="22em"))
    out = w.Output()

    def show(_change: Any = None) -> None:
        out.clear_output()
        with out:
            print(explain_live(box.value, lookup))

    box.observe(show, names="value")
    show()
    return w.VBox([box, out])


def _records(name: str, resolver: Resolver) -> tuple[str, str, list[Any]]:
    """(domain, type, records sorted canonically) of a number's or a name's record set."""
    text = name.strip()
    domain = to_enum_domain(text) if text.startswith("+") else text.rstrip(".") + "."
    rdtype = "SRV" if domain.startswith("_") else "NAPTR"
    answer = resolver.query(domain, rdtype)
    records = [r for r in answer.records if isinstance(r, NaptrRecord | SrvRecord)]
    if not records:
        raise InputError(f"{name} has no {rdtype} records on {resolver.server}", subject=name)
    # by what identifies a record, never by the value a slider moves: slider k stays record k
    records.sort(key=lambda r: (r.priority, r.target, r.port) if isinstance(r, SrvRecord)
                 else (r.order, r.regexp, r.replacement, r.services, r.flags))
    return domain, rdtype, records


def split_with(server: EmbeddedServer, name: str, values: Sequence[int], *,
               policies: Sequence[str] = DEFAULT_POLICIES, n: int = 20_000,
               rng: np.random.Generator | None = None) -> Any:
    """Serve ``name``'s record set with new values -- PREFERENCE of each NAPTR record, WEIGHT
    of each SRV record, in the order of :func:`slider_labels` -- then fetch it back over DNS
    and draw ``n`` selections under each policy. Returns a DataFrame: rows the targets,
    columns (policy, ``seen``/``expected``). The server keeps the new values until the next
    call (or ``server.load`` of the original zones)."""
    resolver, _ = live_resolver(server)
    domain, rdtype, records = _records(name, resolver)
    if len(values) != len(records):
        raise InputError(f"{name} has {len(records)} {rdtype} records, {len(values)} values "
                         "given", subject=list(values))
    field = "preference" if rdtype == "NAPTR" else "weight"
    edited = [dataclasses.replace(r, **{field: int(v)}).to_text()
              for r, v in zip(records, values, strict=True)]
    server.load(server.authority.with_rrset(domain, rdtype, edited))
    rs = record_set(name, resolver)
    kind_policies = list(policies) if rs.kind == "naptr" else ["srv"]
    rng = rng if rng is not None else np.random.default_rng()
    expected = expected_table(rs, kind_policies)
    import pandas as pd

    columns = {}
    for policy in kind_policies:
        seen = simulate(rs, n, policy, rng).shares()["observed_share"]
        columns[(policy, "seen")] = seen.reindex(expected.index).fillna(0.0)
        columns[(policy, "expected")] = expected[policy]
    return pd.DataFrame(columns)


def slider_labels(server: EmbeddedServer, name: str) -> list[tuple[str, int]]:
    """(label, current value) for each record a slider moves: the target and its PREFERENCE
    (NAPTR) or WEIGHT (SRV), in the order :func:`split_with` takes values."""
    from ..core.records import short_label

    _, rdtype, records = _records(name, live_resolver(server)[0])
    if rdtype == "SRV":
        return [(short_label(r.target), r.weight) for r in records]
    return [(short_label(r.regexp.rstrip("!").split("!")[-1] or r.replacement), r.preference)
            for r in records]


def split_sliders(server: EmbeddedServer, name: str = "+61355500913", *,
                  policies: Sequence[str] = DEFAULT_POLICIES, n: int = 20_000,
                  seed: int = 2026) -> Any:
    """One slider per record (PREFERENCE for NAPTR, WEIGHT for SRV); on release, the zone is
    reloaded with the new values and the split under each policy is shown as a table."""
    import ipywidgets as w

    rng = np.random.default_rng(seed)
    sliders = [w.IntSlider(value=value, min=0, max=max(400, 2 * value), step=10,
                           description=label, continuous_update=False)
               for label, value in slider_labels(server, name)]
    out = w.Output()

    def show(_change: Any = None) -> None:
        out.clear_output()
        with out:
            try:
                _, note = live_resolver(server)
                if note:
                    print(note)
                table = split_with(server, name, [s.value for s in sliders],
                                   policies=policies, n=n, rng=rng)
            except EnumlabError as error:
                print(f"{type(error).__name__}: {error}")
                return
            from IPython.display import display

            display(table.round(3))  # type: ignore[no-untyped-call]

    for slider in sliders:
        slider.observe(show, names="value")
    show()
    return w.VBox([*sliders, out])


def fragments_for(mtu: int, edns: int, *, family: str = "ipv4") -> str:
    """What a client offering EDNS0 ``edns`` bytes (RFC 6891 s6.2.5) invites on a path of
    ``mtu``: the largest UDP answer it accepts, as IP datagram(s) -- header arithmetic in full
    (IPv4 header 20 B, RFC 791; IPv6 40 B + 8 B fragment header, RFC 8200 s4.5; UDP 8 B,
    RFC 768). A whole answer fits when ``edns + 8 + IP header <= mtu``."""
    if not 576 <= mtu <= 65535 or not 512 <= edns <= 65535:
        raise InputError(f"MTU must be 576..65535 and EDNS0 size 512..65535, not {mtu}/{edns}",
                         subject=(mtu, edns))
    header = 20 if family == "ipv4" else 40
    whole = edns + 8 + header
    if whole <= mtu:
        return (f"{edns} B of DNS + 8 B UDP + {header} B {family.upper()} = {whole} B <= MTU "
                f"{mtu}: one packet, no fragments. Largest EDNS0 size without fragments here: "
                f"{mtu - 8 - header} B.")
    per = (mtu - header - (0 if family == "ipv4" else 8)) // 8 * 8
    count = -(-(edns + 8) // per)
    return (f"{edns} B of DNS + 8 B UDP + {header} B {family.upper()} = {whole} B > MTU {mtu}: "
            f"a full-size answer travels as {count} fragments (lose one, lose the answer). "
            f"Offer at most {mtu - 8 - header} B to avoid fragments.")


def fragments_sliders(mtu: int = 1500, edns: int = 4096, *, family: str = "ipv4") -> Any:
    """Two sliders, path MTU and the client's EDNS0 size: the fragments picture of the
    largest answer the client invites, and the arithmetic under it."""
    import ipywidgets as w

    from .plot import fragments_vs_mtu

    mtu_s = w.IntSlider(value=mtu, min=576, max=9000, step=4, description="path MTU",
                        continuous_update=False)
    edns_s = w.IntSlider(value=edns, min=512, max=8192, step=8, description="EDNS0 size",
                         continuous_update=False)
    out = w.Output()

    def show(_change: Any = None) -> None:
        out.clear_output(wait=True)
        with out:
            fragments_vs_mtu(edns_s.value, mtu_s.value, family=family)  # shows itself
            print(fragments_for(mtu_s.value, edns_s.value, family=family))

    mtu_s.observe(show, names="value")
    edns_s.observe(show, names="value")
    show()
    return w.VBox([mtu_s, edns_s, out])


def p_value_at(indices: Any, expected: Sequence[float], n: int) -> str:
    """The chi-square test of the first ``n`` selections against ``expected``, in one line."""
    from ..split.stats import compare
    from .plot import p_equals

    idx = np.asarray(indices)[:n]
    if idx.size < 2:
        raise InputError(f"need at least 2 selections, not {n}", subject=n)
    report = compare(np.bincount(idx, minlength=len(expected)), np.asarray(expected, float))
    p = report.chi2.p_value
    return (f"first {idx.size:,} selections: chi-square {p_equals(p)} -- "
            + ("below 0.05: the test sees the bias" if p < 0.05 else
               "above 0.05: no evidence against the expected split (not proof there is none)"))


def p_value_slider(indices: Any, expected: Sequence[float], n: int = 2_000) -> Any:
    """A sample-size slider (log steps) on the p-value plot: the plot up to n, and the
    test's verdict at n."""
    import ipywidgets as w

    from .plot import p_value_vs_n

    total = int(np.asarray(indices).size)
    slider = w.IntSlider(value=min(n, total), min=100, max=total, step=100,
                         description="selections", continuous_update=False,
                         layout=w.Layout(width="40em"))
    out = w.Output()

    def show(_change: Any = None) -> None:
        out.clear_output(wait=True)
        with out:
            p_value_vs_n(indices, expected, n=slider.value, points=30)
            print(p_value_at(indices, expected, slider.value))

    slider.observe(show, names="value")
    show()
    return w.VBox([slider, out])


def fleet_summary(rs: Any, ttl: float, sticky: int, kamailio: int, rfc: int, *,
                  seed: int = 11, duration: float = 86_400.0) -> Any:
    """A day of a fleet with ``sticky``/``kamailio``/``rfc`` clients behind one caching
    resolver at ``ttl`` seconds: one row per target (seen, expected, configured) and the
    clustered test (design effect, effective n, Rao-Scott p)."""
    from ..split.fleet import FleetConfig, run_fleet
    from .plot import p_equals

    clients = tuple((m, c) for m, c in (("sticky", sticky), ("kamailio", kamailio),
                                          ("rfc", rfc)) if c > 0)
    if not clients:
        raise InputError("the fleet needs at least one client", subject=(sticky, kamailio, rfc))
    day = run_fleet(rs, FleetConfig(clients=clients, rate=1e6 / 86_400, duration=duration,
                                    ttl=ttl, resolver="shared"), seed=seed)
    report = day.test(day.expected())
    line = (f"{day.calls:,} calls, {report.clusters:,} decisions (cache epochs), design effect "
            f"{report.mean_design_effect:.0f}, effective n {report.effective_n:,.0f}; against "
            f"the fleet's own expectation: naive {p_equals(report.naive.p_value)}, "
            f"Rao-Scott {p_equals(report.rao_scott.p_value)}")
    return day.table().round(4), line


def fleet_sliders(rs: Any, *, ttl: int = 300, sticky: int = 20, kamailio: int = 10,
                  rfc: int = 10) -> Any:
    """TTL and client-mix sliders over a simulated day: the split each target gets and how
    many independent decisions the day is worth."""
    import ipywidgets as w

    ttl_s = w.IntSlider(value=ttl, min=5, max=3600, step=5, description="TTL (s)",
                        continuous_update=False)
    counts = [w.IntSlider(value=v, min=0, max=40, description=name, continuous_update=False)
              for name, v in (("sticky", sticky), ("kamailio", kamailio), ("rfc", rfc))]
    out = w.Output()

    def show(_change: Any = None) -> None:
        out.clear_output(wait=True)
        with out:
            try:
                table, line = fleet_summary(rs, ttl_s.value, *(c.value for c in counts))
            except EnumlabError as error:
                print(f"{type(error).__name__}: {error}")
                return
            from IPython.display import display

            print(line)
            display(table)  # type: ignore[no-untyped-call]

    for slider in (ttl_s, *counts):
        slider.observe(show, names="value")
    show()
    return w.VBox([ttl_s, *counts, out])


def model_verdicts(seen: Any, models: Sequence[str], *, alpha: float = 0.05) -> Any:
    """One row per client model tested against an observed split (an
    :class:`~enumlab.observed_split.ObservedSplit`): its p-values and a verdict. A model that
    decides once per DNS answer (clusters) is judged by the Rao-Scott test; a model that decides
    per call is also rejected when the independence test finds calls sharing an answer going to
    one target -- the rule ``enumlab simulate --observed-pcap`` applies. With fewer than 30
    decisions the Rao-Scott p is approximate (its chi-square reference needs many clusters)."""
    import pandas as pd

    from ..split.fleet import model_expected, predicts_clusters
    from .plot import format_p

    rows = {}
    for name in models:
        report = seen.test(model_expected(name, seen.rs), alpha=alpha)
        per_call = not predicts_clusters(name, seen.rs.kind)
        clustered = report.independence is not None and report.independence.p_value < alpha
        if per_call and clustered:
            verdict = "rejected: calls that shared an answer went to one target"
        elif per_call:
            verdict = "consistent" if report.naive_consistent() else "rejected (naive test)"
        else:
            verdict = "consistent" if report.consistent() else "rejected (Rao-Scott)"
        rao = format_p(report.rao_scott.p_value)
        rows[name] = {"decides": "per call" if per_call else "once per DNS answer",
                      "naive p": format_p(report.naive.p_value),
                      "Rao-Scott p": rao + (" (approx.)" if report.clusters < 30 else ""),
                      "independence p": format_p(report.independence.p_value)
                      if report.independence else "n/a",
                      "decisions": report.clusters, "verdict": verdict}
    return pd.DataFrame(rows).T


__all__ = ["explain_live", "explain_number", "fleet_sliders", "fleet_summary", "fragments_for",
           "fragments_sliders", "live_resolver", "model_verdicts", "number_box", "p_value_at",
           "p_value_slider", "slider_labels", "split_sliders", "split_with"]
