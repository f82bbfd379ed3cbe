"""The post-mortem of a capture: analysis in one call, and the report (text, JSON, HTML, CSV,
Parquet)."""

from __future__ import annotations

import base64
import html
import io
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from ..core.errors import InputError
from . import CaptureTables, load_capture
from . import table as capture_table
from .columns import Columns
from .csvfile import write_csv
from .transactions import message_figures, summarize, transaction_columns


class PcapAnalysis:
    """One capture's analysis: its tables, the transactions, the summary. The transactions
    are held as numpy columns and become a DataFrame the first time they are read (the CLI's
    summary never needs one)."""

    def __init__(self, capture: CaptureTables | None, transactions: Any,
                 summary: dict[str, Any], mtu: int | None = None) -> None:
        self.capture = capture  # None: read back from a dataset, not decoded
        self._transactions = transactions  # Columns or DataFrame
        self.summary = summary
        self.mtu = mtu

    @property
    def transactions(self) -> Any:
        """One row per DNS transaction (DataFrame,
        :data:`~enumlab.capture.transactions.COLUMNS`)."""
        if isinstance(self._transactions, Columns):
            self._transactions = self._transactions.frame()
        return self._transactions

    def levels_table(self) -> Any:
        """The same questions counted per message and per transaction, side by side: queries
        (every one sent vs one per question), answers that arrived whole, answers lost in
        fragments (datagrams vs transactions whose outcome is ``fragments_lost``)."""
        s, t = self.summary, self.transactions
        whole = int(t["response_frame"].notna().sum()) if len(t) else 0
        rows = ["queries", "answers that arrived whole", "answers lost in fragments"]
        import pandas as pd

        return pd.DataFrame({
            "per message": [s["messages"]["queries"], s["messages"]["responses"],
                            s["lost_fragment_datagrams"]],
            "per transaction": [s["transactions"], whole, s["outcomes"]["fragments_lost"]],
        }, index=rows)


def analyze(path: str | Path, *, mtu: int | None = None, progress: bool = False,
            engine: str = "auto", ports: tuple[int, ...] = (), jit: bool | None = None,
            vxlan_ports: tuple[int, ...] = (4789,)) -> PcapAnalysis:
    """Load a capture and classify every DNS transaction in it."""
    tables = load_capture(path, engine=engine, ports=ports, progress=progress, jit=jit,
                          vxlan_ports=vxlan_ports)
    # a big table: the figures of the messages alone in a thread while transactions are paired
    big = tables.rows("messages") >= capture_table.PARALLEL_ROWS
    with ThreadPoolExecutor(max_workers=1) if big else nullcontext() as pool:
        figures = pool.submit(message_figures, tables, mtu=mtu) if pool is not None else None
        txns = transaction_columns(tables, mtu=mtu)
        summary = summarize(tables, txns, mtu=mtu,
                            figures=figures.result() if figures is not None else None)
    summary["capture"] = str(path)
    summary["capture_filter"] = tables.capture_filter
    summary["engine"] = tables.engine
    return PcapAnalysis(tables, txns, summary, mtu)


def save_transactions(analysis: PcapAnalysis, path: str | Path, *,
                      csv_raw: bool = False) -> Path:
    """CSV or Parquet by extension (Parquet keeps the dtypes, for DuckDB/pandas later). CSV
    cells that a spreadsheet would run as a formula are neutralised (:func:`csv_safe`) unless
    ``csv_raw``; the text is pandas' ``to_csv``, made from whole columns (:mod:`.csvfile`)."""
    import pandas as pd

    p = Path(path)
    if p.suffix == ".parquet":
        frame = analysis.transactions.copy()
        frame["outcome"] = frame["outcome"].astype("string")
        for column in frame.columns:  # a category's unused names are not written (dns_id's
            # are all 65,536 hex IDs: 328 KB of a 368 KB file of 340 transactions)
            if isinstance(frame[column].dtype, pd.CategoricalDtype):
                frame[column] = frame[column].cat.remove_unused_categories()
        frame.to_parquet(p, index=False)
    else:
        frame = with_human_times(analysis.transactions)
        write_csv(frame if csv_raw else csv_safe(frame), p)
    return p


# what makes a spreadsheet read a cell as a formula (OWASP "CSV injection"): = + - @, and a
# tab or CR before them that some strip
_FORMULA_START = r"^[=+\-@\t\r]"


def csv_safe(frame: Any) -> Any:
    """The table with every text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or
    a CR prefixed with ``'``, so a spreadsheet shows it as text instead of running it (a
    QNAME ``=hyperlink(...).e164.arpa`` or ``=cmd|'/c calc'!a0``). Numbers stay numbers;
    only text columns are looked at, each in one vectorised pass."""
    import pandas as pd

    out = None
    for column in frame.columns:
        values = frame[column]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
                or isinstance(values.dtype, pd.CategoricalDtype)):
            continue
        if isinstance(values.dtype, pd.CategoricalDtype):
            # the (few) categories looked at, not every cell
            names = pd.Series(values.cat.categories).astype("string")
            risky = names.str.contains(_FORMULA_START, regex=True).fillna(False).to_numpy(bool)
            if not risky.any():
                continue
            fixed = names.where(~risky, "'" + names)
            if fixed.is_unique:
                out = frame.copy() if out is None else out
                out[column] = values.cat.rename_categories(fixed.tolist())
                continue
        text = values.astype("string")
        risky = text.str.contains(_FORMULA_START, regex=True).fillna(False).to_numpy(bool)
        if risky.any():
            out = frame.copy() if out is None else out
            out[column] = text.where(~risky, "'" + text)
    return frame if out is None else out


def save_messages(analysis: PcapAnalysis, path: str | Path, *, csv_raw: bool = False) -> Path:
    """The message table, CSV or Parquet by extension (CSV neutralised as
    :func:`save_transactions`)."""
    p = Path(path)
    if analysis.capture is None:
        raise InputError("this analysis was read back from a dataset: its messages are in "
                         "the dataset's messages/ directory", subject=str(path))
    frame = analysis.capture.messages
    if p.suffix == ".parquet":
        frame.to_parquet(p, index=False)
    else:
        human = with_human_times(frame)
        write_csv(human if csv_raw else csv_safe(human), p)
    return p


def with_human_times(frame: Any) -> Any:
    """The table with an ISO 8601 UTC column beside each epoch-seconds column (``query_time``
    -> ``query_time_utc``, microseconds), for people; the epoch stays for programs."""
    import numpy as np
    import pandas as pd

    out = frame.copy()
    for column in [c for c in frame.columns if c.endswith("_time")]:
        # rounded to the microsecond shown: a float of epoch seconds lies just below most
        # stamps (.01 is .0099999905...), and cutting it read 1 us early
        stamps = pd.to_datetime(frame[column].astype("Float64"), unit="s", utc=True).dt.round("us")
        # ISO 8601 by numpy's vectorised formatter (pandas' strftime goes stamp by stamp)
        micro = stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
        human = pd.array(np.char.add(np.datetime_as_string(micro, unit="us"), "Z"),
                         dtype="string")
        human[np.isnat(micro)] = pd.NA
        out.insert(out.columns.get_loc(column) + 1, f"{column}_utc", human)
    return out


def format_summary(s: dict[str, Any]) -> str:
    """The summary in lines: per message first (every message counts, paired or not), then per
    transaction (outcomes and what happened on the way), then the warnings."""
    m = s["messages"]
    protocols = ", ".join(f"{k} {v}" for k, v in s["protocols"].items() if v) or "none"
    lines = [f"{s['capture']}: {s['frames']} frames, {s['dns_messages']} DNS messages "
             f"({protocols}), {s['transactions']} transactions"]
    lines.append(f"  messages: {m['queries']} queries (UDP {m['udp']['queries']}, TCP "
                 f"{m['tcp']['queries']}), {m['responses']} responses (UDP "
                 f"{m['udp']['responses']}, TCP {m['tcp']['responses']}); orphan responses "
                 f"{s['orphan_responses']}, duplicates {s['duplicate_responses']}")
    lines.append(f"  responses with TC=1: {s['truncated']} ({s['truncation_rate']:.1%} of UDP "
                 f"responses); reassembled from fragments: {s['fragmented_responses']}; "
                 f"datagrams with lost fragments: {s['lost_fragment_datagrams']}")
    lines.append("  UDP responses over 512/1232/1400/1472(v6 1452) bytes: "
                 + "/".join(str(s["responses_over"][k]) for k in ("512", "1232", "1400", "1472"))
                 + "".join(f"; over {k}: {v}" for k, v in s["responses_over"].items()
                           if k.startswith("mtu_"))
                 + f"; over the size their query offered: {s['responses_over'].get('offered', 0)}")
    lines.append(f"  EDNS0 sizes offered (per query sent): {s['edns_sizes']}")
    lines.append("  transactions: " + (", ".join(f"{k} {v}" for k, v in s["outcomes"].items()
                                                 if v) or "none"))
    flags = {k: v for k, v in s["flags"].items() if v}
    if flags:
        lines.append("  on the way: " + ", ".join(f"{k} {v}" for k, v in flags.items()))
    fb = s["tcp_fallback"]
    lat = fb["latency_ms"]
    lines.append(f"  TCP fallback after TC=1: ok {fb['ok']}, failed {fb['failed']}, never tried "
                 f"{fb['none']}; seen from the server side (query not captured) "
                 f"{fb['seen_from_server_side']}"
                 + (f"; latency median {lat['median']:.1f} ms, p95 {lat['p95']:.1f} ms"
                    if lat["median"] is not None else ""))
    lines.append(f"  ICMP: {s['icmp']['count']} {s['icmp']['by_kind'] or ''} MTUs "
                 f"{s['icmp']['mtus'] or '-'}")
    if s["largest_response"]:
        lr = s["largest_response"]
        lines.append(f"  largest answer paired: {lr['dns_size']} bytes ({lr['qname']}, "
                     f"{lr['transport'].upper()}, frame {lr['frame']})")
    if s["top_truncated_names"]:
        # the names as the tables write them (dig's escapes), not a dict's repr doubling
        # each backslash of \010
        lines.append("  names truncated most: " + ", ".join(
            f"{name} ({count})" for name, count in s["top_truncated_names"].items()))
    for warning in s["warnings"]:
        lines.append(f"  WARNING: {warning}")
    return "\n".join(lines)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_html(analysis: PcapAnalysis, path: str | Path) -> Path:
    """A one-file HTML report: summary, warnings, the three plots, every transaction."""
    from . import figures as plot

    s = analysis.summary
    t = analysis.transactions
    figures = [plot.response_sizes(t, mtu=analysis.mtu).figure,
               plot.outcome_timeline(t).figure, plot.fallback_latency(t).figure]
    images = "".join(f'<img src="data:image/png;base64,{_png(f)}">' for f in figures)
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in s["warnings"]) or "<li>none</li>"
    table = with_human_times(t.head(2000)).to_html(index=False, na_rep="", classes="txns",
                                                   float_format=lambda v: f"{v:.6f}")
    doc = f"""<!doctype html><html><head><meta charset="utf-8">
<title>enumlab capture report: {html.escape(Path(s['capture']).name)}</title>
<style>body{{font-family:sans-serif;margin:2em}} img{{max-width:32%;margin-right:1%}}
table.txns{{border-collapse:collapse;font-size:12px}} .txns td,.txns th{{border:1px solid #ccc;
padding:2px 4px}} pre{{background:#f6f6f6;padding:1em}}</style></head><body>
<h1>DNS capture report</h1><pre>{html.escape(format_summary(s))}</pre>
<h2>Warnings</h2><ul>{warnings}</ul><h2>Plots</h2>{images}
<h2>Transactions ({len(t)})</h2>{table}</body></html>"""
    p = Path(path)
    p.write_text(doc)
    return p
