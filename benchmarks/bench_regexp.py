"""NAPTR regexp engine: RE2 (enumlab's choice) vs the `regex` module's POSIX mode.

Two questions, answered in the same run: how fast is each on ordinary ENUM rules (ratio to
Python's `re`), and what does a hostile rule from DNS data cost each (RE2 linear; `regex`
backtracks and can only be stopped by its timeout).
"""

from __future__ import annotations

import re
import time

import regex

from enumlab.core.naptr_regexp import SubstitutionExpression

TYPICAL = [
    (r"!^.*$!sip:service@server1.example.com!", r"^.*$", "sip:service@server1.example.com"),
    (r"!^\+(.*)$!sip:\1@pbx.example.com!", r"^\+(.*)$", r"sip:\1@pbx.example.com"),
    (r"!^\+61([0-9]+)$!sip:0\1@au.example!", r"^\+61([0-9]+)$", r"sip:0\1@au.example"),
]
AUS = "+61355500912"
# POSIX leftmost-longest forces a backtracking engine to try every way to split the 1s.
HOSTILE = [(r"^(1|11)*$", ""), (r"(1|11)+(1|11)+3", "2")]


def per_second(fn, n: int = 20_000) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def run() -> dict[str, object]:
    typical: dict[str, float] = {}
    for naptr, ere, repl in TYPICAL:
        ours = SubstitutionExpression.parse(naptr)
        py = re.compile(ere)
        posix = regex.compile(ere, flags=regex.POSIX)
        base = per_second(lambda py=py, repl=repl: py.sub(repl, AUS, count=1))
        typical[naptr] = {
            "re_per_s": round(base),
            "enumlab_re2_ratio": round(per_second(lambda ours=ours: ours.apply(AUS)) / base, 2),
            "regex_posix_ratio": round(
                per_second(lambda posix=posix, repl=repl: posix.sub(repl, AUS, count=1)) / base,
                2),
        }
    hostile: dict[str, object] = {}
    for ere, tail in HOSTILE:
        ours = SubstitutionExpression.parse(f"!{ere}!y!")
        posix = regex.compile(ere, flags=regex.POSIX)
        rows: dict[str, dict[str, float | str]] = {}
        for length in (16, 24, 28, 32, 10_000):
            subject = "1" * length + tail
            start = time.perf_counter()
            ours.apply(subject)
            re2_s = time.perf_counter() - start
            regex_s: float | str = "not attempted"
            if length <= 32:
                start = time.perf_counter()
                try:
                    posix.search(subject, timeout=2.0)
                    regex_s = round(time.perf_counter() - start, 4)
                except TimeoutError:
                    regex_s = "timeout (2 s)"
            rows[str(length)] = {"enumlab_re2_s": round(re2_s, 6), "regex_posix_s": regex_s}
        hostile[ere] = rows
    return {"typical_vs_python_re": typical, "hostile": hostile}
