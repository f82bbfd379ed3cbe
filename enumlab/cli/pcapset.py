"""``enumlab pcap`` on a set of captures (files, directories, globs; :mod:`enumlab.capture.sets`)
and on a dataset written by ``--parquet DIR`` (reported again without decoding)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..core.errors import InputError
from .common import EXIT_EMPTY, EXIT_OK, emit_json


def run(args: argparse.Namespace, inputs: list[str], dataset_out: bool) -> int:
    from ..capture.report import PcapAnalysis, write_html
    from ..capture.sets import analyze_set

    for flag, value in (("--csv", args.csv), ("--messages", args.messages),
                        ("--pieces", args.pieces)):
        if value:
            raise InputError(f"{flag} is for one capture; a set of captures is read file by "
                             "file in bounded memory already (--parquet DIR writes its "
                             "tables, for enumlab query)", subject=value)
    if args.parquet and not dataset_out:
        raise InputError(f"--parquet {args.parquet}: a set of captures is written as a dataset "
                         "directory (a path not ending in .parquet)", subject=args.parquet)
    if args.engine == "tshark":
        from ..capture.sets import expand

        expand(inputs)  # a missing input is named first (this is why it is no single file)
        raise InputError("a set of captures is read by the native engine", subject="tshark")
    result = analyze_set(inputs, point_from=args.point_from or "one", window=args.window,
                         workers=args.workers, dask=args.dask, ports=tuple(args.port or ()),
                         mtu=args.mtu, parquet=args.parquet,
                         vxlan_ports=(4789, *(getattr(args, "vxlan_port", None) or ())),
                         keep_tables=bool(args.html) and not dataset_out,
                         progress=not args.json and sys.stderr.isatty())
    if args.html and dataset_out:  # the report from the dataset just written
        from_dataset(args, args.parquet, quiet=True)
    elif args.html:
        write_html(PcapAnalysis(None, result.transactions, result.summary, args.mtu), args.html)
    return _printed(args, result)


def _printed(args: argparse.Namespace, result: Any) -> int:
    from ..capture.report import format_summary

    if args.json:
        emit_json(result.summary)
    else:
        print(format_summary(result.summary))
        _set_lines(result.summary)
        for label, out in (("dataset", args.parquet), ("HTML", args.html)):
            if out:
                print(f"{label} written to {out}")
    summary = result.summary
    if not summary["dns_messages"] and not summary.get("lost_fragment_datagrams"):
        # as for one capture: read whole, nothing usable (exit 1), the summary kept
        print(f"enumlab pcap: no DNS messages in these {len(summary['files']):,} capture(s)",
              file=sys.stderr)
        return EXIT_EMPTY
    return EXIT_OK


def _set_lines(summary: dict[str, Any]) -> None:
    """A set's own lines under its summary: files per point, the window, skipped files (a
    reason that names its file already is not prefixed with it again), capped workers."""
    per_point: dict[str, int] = {}
    for f in summary.get("files", []):
        per_point[f["point"]] = per_point.get(f["point"], 0) + 1
    print("  files: " + ", ".join(f"{p} {n}" for p, n in per_point.items())
          + f"; window {summary.get('window_s', 0):g} s")
    for skipped in summary.get("skipped_files", []):
        path, why = str(skipped["path"]), str(skipped["reason"])
        print(f"  skipped {why}" if why.startswith(path) else f"  skipped {path}: {why}")
    capped = (summary.get("workers") or {}).get("capped")
    if capped:
        print(f"  workers: {capped}")


def from_dataset(args: argparse.Namespace, root: str, *, quiet: bool = False) -> int:
    """A second look at a dataset written by --parquet: no re-decoding."""
    from ..capture.report import PcapAnalysis, format_summary, write_html
    from ..capture.sets import read_dataset, read_summary

    for flag in [f for f in ("csv", "messages", "parquet", "pieces") if getattr(args, f)]:
        raise InputError(f"--{flag}: a dataset's tables are written already; read them with "
                         f"enumlab query {root} 'SELECT ...'", subject=getattr(args, flag))
    summary = read_summary(root)
    if args.html:
        txns = read_dataset(root, "transactions")
        write_html(PcapAnalysis(None, txns, summary, args.mtu), args.html)
    if quiet:
        return EXIT_OK
    if args.json:
        emit_json(summary)
    else:
        print(format_summary(summary))
        _set_lines(summary)
        if args.html:
            print(f"HTML written to {args.html}")
    return EXIT_OK
