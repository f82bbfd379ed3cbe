"""Things to try in the notebooks: small ipywidgets front-ends over enumlab's procedures.

Each widget is a thin shell around a plain function that does the work and that the tests call
without a browser:

* :func:`number_box` -- type a number, see the live resolution: :func:`explain_number`;
* :func:`split_sliders` -- move a record's PREFERENCE (NAPTR) or WEIGHT (SRV) and see the split
  every policy gives, live: :func:`split_with` rewrites the record set in the embedded server
  (:meth:`EmbeddedServer.load <enumlab.lab.server.EmbeddedServer.load>`), fetches it back over DNS
  and simulates each policy on it.

ipywidgets is imported only when a widget is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.e164 import to_enum_domain
from ..core.errors import EnumlabError, InputError
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


def number_box(lookup: Any, number: str = "+61355500912") -> Any:
    """A text box: each number typed in is resolved live and its trace and URIs shown."""
    import ipywidgets as w

    box = w.Text(value=number, description="number", continuous_update=False,
                 layout=w.Layout(width="22em"))
    out = w.Output()

    def show(_change: Any = None) -> None:
        out.clear_output()
        with out:
            print(explain_number(box.value, lookup))

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
    resolver = Resolver(server.host, server.port)
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

    _, rdtype, records = _records(name, Resolver(server.host, server.port))
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


__all__ = ["explain_number", "number_box", "slider_labels", "split_sliders", "split_with"]
