"""Zones the way named sees them (issue 29): what named-checkzone refuses, ``serve`` refuses
with a ZoneError naming the file and the line; what it accepts, ``serve`` loads. Each case is
its own minimal zone, run through named-checkzone in the test so its verdict is not copied.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from enumlab.core.errors import ZoneError
from enumlab.zones.authority import Authority, load_zone
from enumlab.zones.zone_check import check_zones
from enumlab.zones.zonefile import MAX_INCLUDE_FILES

from .conftest import require_tool

HEAD = "$TTL 60\n@ IN SOA ns1 host 1 60 60 60 60\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
NAPTR = 'x IN NAPTR 10 10 "u" "E2U+sip" "{}" .\n'

# case -> (zone text, what enumlab's error says; None: loads, and named loads it too)
CASES: dict[str, tuple[str, str | None]] = {
    # a copy cut short: AssertionError before; named: "has 0 SOA records"
    "only-a-comment": ("; nothing but a comment\n", "no SOA record at the zone apex"),
    "only-ttl": ("$TTL 60\n", "no SOA record at the zone apex"),
    # IndexError before; named: "unbalanced quotes"
    "empty-quoted-owner": (HEAD + 'x "" IN A 1.2.3.4\n', r"line 5: a quoted string where"),
    "quoted-ttl": (HEAD + 'x "" A 1.2.3.4\n', r"line 5: a quoted string where"),
    # meta types (RFC 6895 s3.1); named: "invalid use of a meta type"
    "opt-by-name": (HEAD + "x IN OPT \\# 0\n", r"line 5: type OPT is a meta type"),
    "opt-by-number": (HEAD + "x IN TYPE41 \\# 0\n", r"line 5: type OPT is a meta type"),
    "type0": (HEAD + "x IN TYPE0 \\# 0\n", r"line 5: type TYPE0 is a meta type"),
    "tsig": (HEAD + "x IN TYPE250 \\# 0\n", r"line 5: type TSIG is a meta type"),
    "type128": (HEAD + "x IN TYPE128 \\# 0\n", r"line 5: type TYPE128 is a meta type"),
    "any": (HEAD + "x IN ANY \\# 0\n", r"line 5: type ANY is a meta type"),
    "type127": (HEAD + "x IN TYPE127 \\# 0\n", None),  # the last data type below the range
    # named: "SOA record not at top of zone"
    "soa-below-apex": (HEAD + "sub IN SOA ns1 host 1 60 60 60 60\n",
                       r"line 5: SOA record at sub\.example\., not at the top"),
    # named: "unknown RR type 'IN'"
    "class-twice": (HEAD + "x IN IN A 1.2.3.4\n",
                    r"line 5: a second class 'IN' where the type belongs"),
    "ttl-twice": (HEAD + "x 60 60 A 1.2.3.4\n", r"line 5: unknown record type '60'"),
    # named: "NS 'ns1.example' has no address records (A or AAAA)"
    "apex-ns-no-address": ("$TTL 60\n@ IN SOA ns1 host 1 60 60 60 60\n@ IN NS ns1\n",
                           r"line 3: NS ns1\.example\. is in the zone and has no address"),
    "apex-ns-cname": (HEAD + "@ IN NS alias\nalias IN CNAME ns1\n",
                      r"NS alias\.example\. is a CNAME"),
    "apex-ns-aaaa-only": ("$TTL 60\n@ IN SOA ns1 host 1 60 60 60 60\n@ IN NS ns1\n"
                          "ns1 IN AAAA 2001:db8::1\n", None),
    "apex-ns-by-wildcard": ("$TTL 60\n@ IN SOA ns.x host 1 60 60 60 60\n@ IN NS ns.x\n"
                            "*.x IN A 192.0.2.1\n", None),
    "apex-ns-below-cut": (HEAD + "@ IN NS ns.sub\nsub IN NS ns.sub\n", None),
    "delegation-without-glue": (HEAD + "sub IN NS ns.sub\n", None),  # named only warns
    # NAPTR REGEXP named's validator rejects ("syntax error"); RFC 3402 s3.2
    "naptr-unbalanced-open": (HEAD + NAPTR.format("!^(.*$!sip:\\\\1@x!"),
                              r"line 5: NAPTR at x\.example\.: .*unbalanced '\('"),
    "naptr-backref-beyond": (HEAD + NAPTR.format("!^.*$!sip:\\\\1@x!"),
                             r"line 5: NAPTR .*refers to group 1"),
    "naptr-no-third-delim": (HEAD + NAPTR.format("!^.*$!sip:x"), r"line 5: NAPTR"),
    "naptr-bad-interval": (HEAD + NAPTR.format("!a{2,1}!x!"), r"line 5: NAPTR .*interval"),
    "naptr-unbalanced-close": (HEAD + NAPTR.format("!^.*)$!sip:x!"), None),  # named: a literal
    "naptr-flag-i": (HEAD + NAPTR.format("!^.*$!sip:x!i"), None),
    # RFC 2181 s8: a TTL with the top bit set reads as 0; named: "> MAXTTL, setting $TTL to 0"
    "ttl-2^31": (HEAD + "x 2147483648 IN A 1.2.3.4\n", None),
    "ttl-2^32-1": (HEAD + "x 4294967295 IN A 1.2.3.4\n", None),
    "ttl-units-over-2^31": (HEAD + "x 4000w IN A 1.2.3.4\n", None),
    "dollar-ttl-2^31": ("$TTL 3000000000\n" + HEAD[8:], None),
    "soa-timers-2^32-1": ("$TTL 60\n@ IN SOA ns1 host 4294967295 4294967295 4294967295 "
                          "4294967295 4294967295\n@ IN NS ns1\nns1 IN A 192.0.2.1\n", None),
    "ttl-2^32": (HEAD + "x 4294967296 IN A 1.2.3.4\n", r"line 5: '4294967296' is not a TTL"),
    # found by the zone fuzz kit (tests/zone_fuzz.py): named reads a quoted owner as a name,
    # an escaped space as part of a label; a record starting '""' was an IndexError
    "quoted-owner": (HEAD + '"x" IN A 1.2.3.4\n', None),
    "quoted-owner-with-space": (HEAD + '"x y" IN A 1.2.3.4\n', None),
    "escaped-space-owner": (HEAD + "x\\ IN A 1.2.3.4\n", None),
    "empty-quoted-then-ttl": (HEAD + '"" 60\n', r"line 5: an empty quoted string"),
}


def _named_accepts(checkzone: str, path: Path) -> tuple[bool, str]:
    run = subprocess.run([checkzone, "example.", str(path)], capture_output=True, text=True,
                         timeout=30)
    return run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("case", sorted(CASES))
def test_serve_loads_what_named_loads_and_refuses_what_it_refuses(case: str,
                                                                  tmp_path: Path) -> None:
    checkzone = require_tool("named-checkzone", "bind9-utils")
    text, message = CASES[case]
    path = tmp_path / "example.zone"
    path.write_text(text)
    named_ok, named_says = _named_accepts(checkzone, path)
    assert named_ok == (message is None), named_says
    if message is None:
        zone = load_zone(path)
        assert zone.origin == "example."
        return
    with pytest.raises(ZoneError, match=message) as info:
        Authority.from_directory(tmp_path)
    assert "example.zone" in str(info.value)
    # zone check reports it too (as a load error or its own rule), never a traceback
    report = check_zones(path)
    assert report.exit_code == 1 and any(f.severity == "error" for f in report.findings)


def test_a_big_ttl_is_served_as_0(tmp_path: Path) -> None:
    (tmp_path / "example.zone").write_text(HEAD + "x 2147483648 IN A 1.2.3.4\n"
                                           "y 2147483647 IN A 1.2.3.4\n")
    zone = load_zone(tmp_path / "example.zone")
    assert zone.nodes[b"\x01x\x07example\x00"][1].ttl == 0
    assert zone.nodes[b"\x01y\x07example\x00"][1].ttl == 2147483647


def test_include_fan_out_stops_at_the_file_budget(tmp_path: Path) -> None:
    """5 includes on each of 8 levels (the depth limit) would be 5^8 = 390,625 reads from
    a few lines: the budget on files read stops it after 1,000."""
    for level in range(7):
        (tmp_path / f"l{level}.inc").write_text(f"$INCLUDE l{level + 1}.inc\n" * 5)
    (tmp_path / "l7.inc").write_text("; leaf\n")
    (tmp_path / "example.zone").write_text(HEAD + "$INCLUDE l0.inc\n" * 5)
    with pytest.raises(ZoneError, match=f"more than {MAX_INCLUDE_FILES:,} files read") as info:
        Authority.from_directory(tmp_path)
    assert "example.zone" in str(info.value)


def test_includes_within_the_budget_load(tmp_path: Path) -> None:
    (tmp_path / "a.inc").write_text("$INCLUDE b.inc\n" * 3)
    (tmp_path / "b.inc").write_text("; leaf\n")
    (tmp_path / "example.zone").write_text(HEAD + "$INCLUDE a.inc\n" * 3)
    assert load_zone(tmp_path / "example.zone").origin == "example."
