"""``enumlab regexp``: a NAPTR substitution expression applied, both readings side by side
(RFC 3402 s3.2)."""

from __future__ import annotations

import argparse
from typing import Any

from .common import EXIT_EMPTY, EXIT_OK, OUTPUT_MODES, emit_json


def run(args: argparse.Namespace) -> int:
    from ..core.naptr_regexp import SubstitutionExpression

    expr = SubstitutionExpression.parse(args.regexp)
    aus = args.aus
    results = {mode: expr.apply(aus, output=mode) for mode in OUTPUT_MODES}
    data = {
        "regexp": expr.text,
        "delimiter": expr.delimiter,
        "ere": expr.ere,
        "replacement": expr.replacement,
        "case_insensitive": expr.case_insensitive,
        "groups": expr.groups,
        "re2_pattern": expr.re2_pattern,
        "input": aus,
        "match": expr.search(aus),
        "results": results,
    }
    if args.json:
        emit_json(data)
    else:
        print(f"delimiter {expr.delimiter!r}  ERE {expr.ere!r}  replacement "
              f"{expr.replacement!r}  flags {'i' if expr.case_insensitive else '-'}")
        found = data["match"]
        if found is None:
            print(f"no match on {aus!r}")
        else:
            start, end, groups = found
            print(f"match {aus[start:end]!r} at {start}..{end}; groups {list(groups)}")
            print(f"RFC 3402 (sed, default) : {results['rfc3402']}")
            print(f"replacement only        : {results['replacement']}")
    return EXIT_OK if data["match"] is not None else EXIT_EMPTY


def add_parser(sub: Any) -> None:
    """``enumlab regexp``: its arguments."""
    p = sub.add_parser(
        "regexp", help="apply a NAPTR regexp to a string, both readings side by side",
        description="Parse a NAPTR substitution expression (RFC 3402 s3.2, POSIX ERE) and apply "
                    "it. Quote it for the shell: enumlab regexp '!^\\+(.*)$!sip:\\1@x!' "
                    "+61355500912",
    )
    p.add_argument("regexp", help="wire form, e.g. '!^.*$!sip:service@example.com!'")
    p.add_argument("aus", help="the string to apply it to, e.g. +61355500912")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)
