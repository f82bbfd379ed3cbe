"""``enumlab query``: DuckDB SQL over a capture dataset (``enumlab pcap ... --parquet DIR``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .common import EXIT_OK, emit_json, int_in


def run(args: argparse.Namespace) -> int:
    from ..capture.sets import query

    frame = query(args.dataset, args.sql)
    if args.json:
        emit_json(json.loads(frame.to_json(orient="records", date_format="iso")))
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", args.limit, "display.max_columns", None,
                               "display.width", 160):
            print(frame.to_string(index=False, max_rows=args.limit) if len(frame)
                  else "(no rows)")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """``enumlab query``: its arguments."""
    p = sub.add_parser(
        "query", help="DuckDB SQL over a capture dataset (enumlab pcap ... --parquet DIR)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run SQL over a dataset written by 'enumlab pcap FILES --parquet DIR'. Two "
                    "views read its Parquet\nfiles in place: 'messages' (one row per DNS "
                    "message) and 'transactions' (one per\nquestion), each with the partition "
                    "columns 'point' and 'hour'.",
        epilog="examples:\n"
               "  enumlab query day/ \"SELECT outcome, count(*) AS n FROM transactions GROUP BY "
               "outcome\"\n"
               "  enumlab query day/ \"SELECT point, date_trunc('minute', to_timestamp(time)) "
               "AS minute,\n      avg(tc::int) AS tc_rate FROM messages WHERE qr AND transport "
               "= 'udp'\n      GROUP BY ALL ORDER BY ALL\" --json")
    p.add_argument("dataset", help="the dataset directory")
    p.add_argument("sql", help="one SQL statement (DuckDB)")
    p.add_argument("--json", action="store_true", help="rows as a JSON array")
    p.add_argument("--limit", type=int_in(1, 10**9, "limit"), default=200,
                   help="rows printed in the table (default 200; --json prints all)")
    p.set_defaults(func=run)
