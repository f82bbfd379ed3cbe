"""``enumlab pcap``: post-mortem of DNS captures: TC, TCP fallback, EDNS0, fragments, ICMP."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..core.errors import InputError
from . import pcapset
from .common import EXIT_OK, emit_json, int_in, positive_seconds


def run(args: argparse.Namespace) -> int:
    from ..capture import packet_detail
    from ..capture.sets import is_dataset

    inputs = [str(x) for x in args.files]
    dataset_out = args.parquet is not None and not args.parquet.endswith(".parquet")
    one = (len(inputs) == 1 and Path(inputs[0]).is_file() and args.workers is None
           and args.dask is None and not dataset_out and args.point_from is None)
    if args.detail is not None:
        if not one:
            raise InputError("--detail shows one frame of one capture", subject=inputs)
        print(packet_detail(inputs[0], args.detail))
        return EXIT_OK
    if len(inputs) == 1 and is_dataset(inputs[0]):
        return pcapset.from_dataset(args, inputs[0])
    if one:
        return _pcap_one(args, inputs[0])
    return pcapset.run(args, inputs, dataset_out)


def _vxlan_ports(args: argparse.Namespace) -> tuple[int, ...]:
    """UDP ports read as VXLAN: 4789 (RFC 7348 s5) and those named with --vxlan-port."""
    return (4789, *(getattr(args, "vxlan_port", None) or ()))


def _pcap_one(args: argparse.Namespace, file: str) -> int:
    from ..capture.files import nominal_size
    from ..capture.pieces import STREAM_MIN_BYTES
    from ..capture.report import analyze, format_summary, save_transactions, write_html

    tables_wanted = [flag for flag, v in (("--csv", args.csv), ("--parquet", args.parquet),
                                          ("--html", args.html), ("--messages", args.messages))
                     if v]
    if args.pieces is not None and (tables_wanted or args.engine == "tshark"):
        raise InputError(f"--pieces gives the summary only; {', '.join(tables_wanted)} "
                         "write(s) whole tables: leave --pieces out" if tables_wanted else
                         "--pieces reads with the native engine (tshark reads in memory)",
                         subject=args.pieces)
    if args.pieces is not None or (not tables_wanted and args.engine != "tshark"
                                   and nominal_size(file) >= STREAM_MIN_BYTES):
        return _pcap_pieces(args, file)

    # a progress bar only on a terminal: no carriage-return noise in logs or pipes
    analysis = analyze(file, mtu=args.mtu, progress=not args.json and sys.stderr.isatty(),
                       engine=args.engine, ports=tuple(args.port or ()),
                       vxlan_ports=_vxlan_ports(args))
    if args.messages:
        from ..capture.report import save_messages

        save_messages(analysis, args.messages, csv_raw=args.csv_raw)
    for out in (args.csv, args.parquet):
        if out:
            save_transactions(analysis, out, csv_raw=args.csv_raw)
    if args.html:
        write_html(analysis, args.html)
    if args.json:
        emit_json(analysis.summary)
    else:
        print(format_summary(analysis.summary))
        for label, out in (("CSV", args.csv), ("Parquet", args.parquet), ("HTML", args.html),
                           ("message table", args.messages)):
            if out:
                print(f"{label} written to {out}")
    return EXIT_OK


def _pcap_pieces(args: argparse.Namespace, file: str) -> int:
    """One big capture in bounded memory (:mod:`enumlab.capture.pieces`)."""
    from ..capture.pieces import PIECE_RECORDS, analyze_stream
    from ..capture.report import format_summary

    bar = None
    if not args.json and sys.stderr.isatty():
        from tqdm.auto import tqdm

        bar = tqdm(desc=f"reading {Path(file).name}", unit="pkt", unit_scale=True)
    try:
        summary = analyze_stream(file, ports=tuple(args.port or ()), mtu=args.mtu,
                                 vxlan_ports=_vxlan_ports(args),
                                 piece_records=args.pieces or PIECE_RECORDS,
                                 on_records=bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        emit_json(summary)
    else:
        print(format_summary(summary))
        print(f"  analysed in {summary['pieces']} piece(s) of at most "
              f"{args.pieces or PIECE_RECORDS:,} records")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """``enumlab pcap``: its arguments."""
    p = sub.add_parser(
        "pcap", help="post-mortem of a DNS capture: TC, TCP fallback, EDNS0, fragments, ICMP",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read a pcap/pcapng (or .gz), decode every DNS message -- UDP, TCP "
                    "(several per segment), reassembled\nfragments, GTP-U/GRE/Teredo tunnels, "
                    "VLANs -- pair every query with its answer, and classify each\n"
                    "transaction: ok, truncated_tcp_ok, truncated_no_retry, "
                    "truncated_tcp_failed, unanswered,\nfragments_lost, error_rcode. Sizes are "
                    "checked against 512, 1232, 1400, 1472 and --mtu; ICMP too-big\nerrors are "
                    "linked to the answers they quote.\n\nEngines: 'native' (default; numpy, "
                    "compiled by numba for big files) or 'tshark' (Wireshark's\ndissector, the "
                    "oracle; used automatically for link types the native decoder lacks).",
        epilog="examples:\n"
               "  enumlab pcap data/captures/truncation_tcp_fallback.pcapng\n"
               "  enumlab pcap capture.pcapng --mtu 1400 --html report.html --csv txns.csv\n"
               "  enumlab pcap data/captures/fragments_lost.pcapng --json\n"
               "  enumlab pcap capture.pcapng --detail 5     one packet in full (pyshark)\n"
               "  enumlab pcap lab.pcap --port 8053          DNS on a non-standard port too\n"
               "  enumlab pcap big.pcap --messages msgs.parquet   the message table itself\n"
               "  enumlab pcap huge.pcap --pieces 250000     bounded memory, every core "
               "(automatic from 256 MB)",
    )
    p.add_argument("files", nargs="+", metavar="FILE|DIR|GLOB",
                   help="a capture; or many: files, directories, globs (rotated files, several "
                        "capture points); or a dataset directory written by --parquet")
    p.add_argument("--mtu", type=int_in(68, 65535, "MTU"),
                   help="path MTU to check responses against (e.g. a GTP tunnel's 1400)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--html", metavar="REPORT.html", help="write a one-file HTML report")
    p.add_argument("--csv", metavar="TRANSACTIONS.csv", help="write one row per transaction")
    p.add_argument("--parquet", metavar="FILE.parquet|DIR",
                   help="one capture: the transactions as FILE.parquet; a DIR (or a set of "
                        "captures): a dataset -- messages and transactions partitioned by "
                        "capture point and hour, for enumlab query")
    p.add_argument("--workers", type=int_in(1, 256, "workers"),
                   help="a set of captures: processes decoding files at once (default: every "
                        "core)")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="a set of captures: submit the files to the Dask cluster at ADDRESS "
                        "(tcp://host:8786; start one with 'dask scheduler' and 'dask worker')")
    p.add_argument("--point-from", metavar="dirname|REGEX",
                   help="a set: which capture point a file belongs to: its directory's name, "
                        "or a regular expression over its name (first group); default: one "
                        "point")
    p.add_argument("--window", type=positive_seconds, default=10.0,
                   help="a set: seconds of the neighbouring files read around each file so "
                        "nothing is lost at a rotation (default 10)")
    p.add_argument("--detail", type=int_in(1, 2**32, "frame number"), metavar="FRAME",
                   help="show one frame in full")
    p.add_argument("--engine", choices=("auto", "native", "tshark"), default="auto",
                   help="decoder: native (auto picks it unless a link type needs tshark) or "
                        "tshark (one capture; a set is read natively)")
    p.add_argument("--port", type=int_in(1, 65535, "port"), action="append", metavar="N",
                   help="a UDP/TCP port that carries DNS besides 53 (repeatable)")
    p.add_argument("--vxlan-port", type=int_in(1, 65535, "port"), action="append", metavar="N",
                   help="a UDP port that carries VXLAN besides 4789 (repeatable)")
    p.add_argument("--messages", metavar="MESSAGES.csv|.parquet",
                   help="write the message table (one row per DNS message)")
    p.add_argument("--csv-raw", action="store_true",
                   help="CSV cells as they are: by default a cell starting with = + - @, tab "
                        "or CR gets a leading ' so a spreadsheet cannot run it as a formula")
    p.add_argument("--pieces", type=int_in(1, 2**40, "records per piece"), metavar="RECORDS",
                   help="one capture, summary only: decode and analyse it in pieces of RECORDS "
                        "records, in bounded memory, pieces analysed on every core (automatic, "
                        "250,000, for a capture of 256 MB or more -- a .gz of 25.6 MB -- "
                        "unless a table is written). Each piece sees 10 s around it: parts of "
                        "one exchange further apart (an answer 10 s or more after its query, "
                        "a late fragment or ICMP error) are linked only within a piece. A "
                        "piece costs some 5-25 ms besides its records: below ~10,000 records "
                        "that cost leads (a 200,000-packet burst: 1.9 s whole, ~3.5 s at "
                        "10,000, ~10 s at 1,000, ~50 s at 100)")
    p.set_defaults(func=run)
