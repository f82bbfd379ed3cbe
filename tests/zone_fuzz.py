"""A seeded zone-file fuzz kit: mutate small zones, load each with enumlab and named-checkzone,
and compare the verdicts (issue 29).

Each mutant is a zone file ``example.zone`` (origin ``example.``) made from one of a few seed
zones by one to three mutations drawn from an explicit ``numpy.random.Generator``: a line cut,
doubled or swapped, a token replaced by or added from a dictionary of hostile tokens (meta
types, TTLs at 2^31 and 2^32, a second class, quotes, parentheses, escapes), a character flipped
to another (control characters included), the file cut short, or a hostile line added
(an OPT record, an SOA below the apex, an NS without an address, a NAPTR with a broken REGEXP).

enumlab's verdict is what ``serve`` does (:func:`enumlab.zones.authority.load_zone`): loaded,
refused with an :class:`~enumlab.core.errors.EnumlabError`, or a *traceback* (any other
exception: always a bug). named's verdict is named-checkzone's exit status. A difference is
either explained by a row of :data:`EXPLAINED` (enumlab knowingly stricter or laxer, and why)
or a finding.

    python -m tests.zone_fuzz --count 3000 --seed 1 --out build/fuzz-zones

writes each unexplained mutant and each traceback to ``--out`` as a minimal reproducer (lines
removed while the verdicts stay the same) and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from enumlab.core.errors import EnumlabError
from enumlab.zones.authority import load_zone

SEEDS = [
    """$ORIGIN example.
$TTL 3600
@ IN SOA ns1 hostmaster 2026120701 3600 600 86400 300
@ IN NS ns1
ns1 IN A 192.0.2.53
ns1 IN AAAA 2001:db8::53
1.0.0.0.5.5.5.1.6 IN NAPTR 10 100 "u" "E2U+sip" "!^.*$!sip:alice@example.com!" .
1.0.0.0.5.5.5.1.6 IN NAPTR 10 200 "u" "E2U+sip" "!^(.*)$!sip:\\\\1@example.net!" .
*.2.0.0.0.5.5.5.1.6 IN NAPTR 20 10 "" "E2U+sip" "" next.example.
next IN NAPTR 10 10 "u" "E2U+sip" "!^\\\\+(.*)$!sip:\\\\1@b.example!i" .
""",
    """$TTL 60
@ IN SOA ns1.example. hostmaster.example. ( 1 ; serial
    3600 600 86400 300 )
  IN NS ns1.example.
  IN NS ns2.other.net.
ns1 60 IN A 192.0.2.1
_sip._udp IN SRV 10 60 5060 sip1
_sip._udp IN SRV 10 40 5060 sip2
sip1 IN A 192.0.2.10
sip2 IN A 192.0.2.11
sub IN NS ns.sub
ns.sub IN A 192.0.2.20
txt IN TXT "a \\"quoted\\" string" "second; not a comment"
mail IN MX 10 sip1
alias IN CNAME sip1
""",
    """$ORIGIN example.
$TTL 1h
@ 1d IN SOA ns1 h 1 2 3 4 5
@ IN NS ns1
ns1 IN A 127.0.0.1
pgw IN NAPTR 10 10 "a" "x-3gpp-pgw:x-s5-gtp:x-s8-gtp" "" pgw-a.node
pgw-a.node IN A 192.0.2.30
$ORIGIN sub2.example.
x IN A 192.0.2.31
gen IN TYPE65280 \\# 3 010203
""",
]

TOKENS = [
    "IN", "CH", "HS", "A", "AAAA", "NS", "SOA", "NAPTR", "SRV", "TXT", "CNAME", "OPT", "ANY",
    "AXFR", "TSIG", "TYPE0", "TYPE41", "TYPE127", "TYPE128", "TYPE255", "TYPE65535", "0",
    "60", "2147483647", "2147483648", "4294967295", "4294967296", "1w", "4000w", "8000w",
    "65535", "65536", "(", ")", '"', '""', ";", "\\#", "\\000", "\\", "@", ".", "*", "x.",
    "$TTL", "$ORIGIN", '"!^(.*$!sip:\\\\1@x!"', '"!^.*$!sip:\\\\2@x!"', '"!a||b!x!"',
    '"!^.*)$!x!"', '"1^.*1x1"', '"!^.*$!x!I"', "192.0.2.1", "::1", "a" * 64,
]
HOSTILE_LINES = [
    "x IN OPT \\# 0",
    "x IN TYPE41 \\# 0",
    "sub9 IN SOA ns1 h 1 2 3 4 5",
    "@ IN NS nowhere",
    "@ IN NS alias9\nalias9 IN CNAME ns1",
    "x IN IN A 192.0.2.1",
    'x "" IN A 192.0.2.1',
    "x 2147483648 IN A 192.0.2.1",
    "$TTL 3000000000",
    'n IN NAPTR 10 10 "u" "E2U+sip" "!^(.*$!sip:\\\\1@x!" .',
    'n IN NAPTR 10 10 "u" "E2U+sip" "!^.*$!sip:\\\\0@x!" .',
    'n IN NAPTR 10 10 "u" "E2U+sip" "!^.*)$!sip:x!" .',
    "; only a comment",
    "$INCLUDE part.inc",
]
INCLUDED = "inc IN A 192.0.2.99\n"
PRINTABLE = [chr(c) for c in range(32, 127)] + ["\t", "\x1b", "\x07", "\x7f", "\u00e9"]

# Differences explained: (kind, where to look, pattern, why). kind "stricter": enumlab refuses
# a zone named loads; "laxer": the other way round; "either". where: "enumlab" (its refusal),
# "named" (named-checkzone's output) or "text" (the mutant itself).
EXPLAINED: list[tuple[str, str, str, str]] = [
    ("either", "text", r"\A(?:[^\n]*\n)*?\$ORIGIN[ \t]+(?!example\.[ \t]*(?:;|\n|\Z))",
     "enumlab names a zone by the file's first $ORIGIN when it has one (a file need not be "
     "named after its zone); named-checkzone by its argument: they check different zones"),
    ("laxer", "named", r"extra input text",
     "named refuses a $ directive on a last line without a newline; enumlab reads it"),
    ("stricter", "enumlab", r"is outside the zone",
     "named drops out-of-zone data with a warning; enumlab refuses to serve it"),
    ("stricter", "enumlab", r"need .* bytes in one answer",
     "an RRset larger than one DNS message can never be sent (RFC 1035 s4.2.2)"),
]


@dataclass(frozen=True)
class Verdict:
    """enumlab's and named's verdict on one mutant."""

    text: str
    enumlab: str  # "loaded", "refused: <message>" or "traceback: <exception>"
    named: bool
    named_output: str
    seconds: float

    @property
    def agrees(self) -> bool:
        return self.enumlab.startswith("loaded") == self.named

    @property
    def explanation(self) -> str | None:
        if self.agrees:
            return "agree"
        kind = "stricter" if self.named else "laxer"
        subjects = {"enumlab": self.enumlab, "named": self.named_output, "text": self.text}
        for want, where, pattern, why in EXPLAINED:
            if want in (kind, "either") and re.search(pattern, subjects[where]):
                return why
        return None


def mutate(text: str, rng: np.random.Generator) -> str:
    """One to three mutations of a zone text."""
    for _ in range(int(rng.integers(1, 4))):
        lines = text.split("\n")
        op = int(rng.integers(0, 8))
        i = int(rng.integers(0, len(lines)))
        if op == 0 and len(lines) > 1:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[i])
        elif op == 2:
            j = int(rng.integers(0, len(lines)))
            lines[i], lines[j] = lines[j], lines[i]
        elif op in (3, 4):
            words = lines[i].split(" ")
            k = int(rng.integers(0, len(words) + (op == 4)))
            token = TOKENS[int(rng.integers(0, len(TOKENS)))]
            if op == 3 and k < len(words):
                words[k] = token
            else:
                words.insert(k, token)
            lines[i] = " ".join(words)
        elif op == 5:
            joined = "\n".join(lines)
            return joined[: int(rng.integers(0, len(joined) + 1))]
        elif op == 6 and lines[i]:
            k = int(rng.integers(0, len(lines[i])))
            lines[i] = lines[i][:k] + PRINTABLE[int(rng.integers(0, len(PRINTABLE)))] + \
                lines[i][k + 1:]
        else:
            lines.insert(i, HOSTILE_LINES[int(rng.integers(0, len(HOSTILE_LINES)))])
        text = "\n".join(lines)
    return text


def mutants(seed: int, count: int) -> Iterator[str]:
    """``count`` mutants, the same for the same ``seed``."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield mutate(SEEDS[int(rng.integers(0, len(SEEDS)))], rng)


def enumlab_verdict(path: Path) -> str:
    try:
        load_zone(path)
    except EnumlabError as exc:
        return f"refused: {exc}"
    except Exception as exc:  # the bug the kit looks for
        return "traceback: " + "".join(traceback.format_exception_only(exc)).strip()
    return "loaded"


def judge(text: str, directory: Path, checkzone: str) -> Verdict:
    """Both verdicts on one zone text, written into ``directory`` (which it empties)."""
    for old in directory.iterdir():
        old.unlink()
    path = directory / "example.zone"
    path.write_text(text, errors="surrogateescape")
    (directory / "part.inc").write_text(INCLUDED)
    started = time.perf_counter()
    ours = enumlab_verdict(path)
    seconds = time.perf_counter() - started
    run = subprocess.run([checkzone, "example.", str(path)], capture_output=True, text=True,
                         errors="replace", timeout=60, cwd=directory)
    return Verdict(text, ours, run.returncode == 0, run.stdout + run.stderr, seconds)


def run(seed: int, count: int, checkzone: str, *, threads: int = 2) -> list[Verdict]:
    """Every mutant's verdicts (named-checkzone runs ``threads`` at a time)."""
    texts = list(mutants(seed, count))
    with tempfile.TemporaryDirectory(prefix="enumlab-zone-fuzz-") as tmp:
        dirs = [Path(tmp) / str(i) for i in range(threads)]
        for d in dirs:
            d.mkdir()

        def one(job: tuple[int, str]) -> Verdict:
            return judge(job[1], dirs[job[0] % threads], checkzone)

        # one directory per thread: job i goes to thread i % threads, in order
        with ThreadPoolExecutor(threads) as pool:
            out: list[Verdict] = []
            for start in range(0, len(texts), threads):
                out += pool.map(one, list(enumerate(texts))[start:start + threads])
        return out


def minimise(verdict: Verdict, same: Callable[[str], bool]) -> str:
    """Drop lines while ``same`` holds: a short reproducer."""
    lines = verdict.text.split("\n")
    i = 0
    while i < len(lines):
        trial = lines[:i] + lines[i + 1:]
        if same("\n".join(trial)):
            lines = trial
        else:
            i += 1
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("build/fuzz-zones"))
    args = parser.parse_args(argv)
    checkzone = shutil.which("named-checkzone") or shutil.which(
        "named-checkzone", path="/usr/sbin:/sbin")
    if checkzone is None:
        print("named-checkzone is not installed (Debian package bind9-utils)", file=sys.stderr)
        return 2
    verdicts = run(args.seed, args.count, checkzone)
    bad = [v for v in verdicts if v.enumlab.startswith("traceback") or v.explanation is None]
    slow = [v for v in verdicts if v.seconds > 10]
    tally = Counter(v.explanation or "UNEXPLAINED" for v in verdicts)
    print(f"{len(verdicts)} zone mutants (seed {args.seed}): "
          f"{sum(v.agrees for v in verdicts)} agree with named-checkzone, "
          f"{len(bad)} unexplained or tracebacks, {len(slow)} over 10 s")
    for why, n in tally.most_common():
        print(f"  {n:6d}  {why}")
    if bad or slow:
        args.out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            for n, v in enumerate(bad + slow):
                def same(text: str, v: Verdict = v) -> bool:
                    w = judge(text, Path(tmp), checkzone)
                    return (w.enumlab.split(":")[0], w.named) == (v.enumlab.split(":")[0],
                                                                  v.named)
                path = args.out / f"zone-{args.seed}-{n}.zone"
                path.write_text(minimise(v, same), errors="surrogateescape")
                print(f"  {path}: enumlab {v.enumlab[:120]!r}; named "
                      f"{'loads' if v.named else 'refuses'}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
