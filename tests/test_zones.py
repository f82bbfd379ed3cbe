"""The lab zone files: they load, and BIND agrees with what enumlab says about them."""

from __future__ import annotations

import subprocess

from enumlab.zones.authority import Authority

from .conftest import ZONES, require_tool


def test_lab_zones_load() -> None:
    authority = Authority.from_directory(ZONES)
    assert {z.origin for z in authority.zones} >= {"e164.arpa.", "e164.test."}


def test_bind_accepts_the_lab_zone_and_refuses_the_broken_one() -> None:
    checkzone = require_tool("named-checkzone", "bind9-utils")
    ok = subprocess.run([checkzone, "e164.arpa", str(ZONES / "e164.arpa.zone")],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run([checkzone, "e164.test", str(ZONES / "e164.test.zone")],
                         capture_output=True, text=True)
    # BIND's NAPTR validator refuses \0, bad delimiters and regexp+replacement together:
    # exactly why those records live in their own zone.
    assert bad.returncode != 0
    assert "e164.test" in bad.stdout + bad.stderr
