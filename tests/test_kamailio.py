"""Kamailio's real enum module against enumlab, inside a network namespace (see
enumlab.lab.kamailio): every answer must match enumlab's kamailio emulation, and every place it
departs from RFC 6116/3403 must be one of the documented ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import IN_CI, require_tool

# where Kamailio's enum_query departs from the RFC procedure, and why (enumlab.split.peers)
EXPLAINED = {
    "+61255503003": "only '!' is accepted as regexp delimiter",
    "+61255503004": "non-terminal rules are never followed",
    "+61255503005": "non-terminal rules are never followed",
    "+61255503010": "services must be exactly e2u+sip: the RFC 3761 E2U+sip+h323 form is ignored",
    "+61255503012": "the output is the replacement alone, not the sed-style substitution",
    "+61255503013": "a record with both REGEXP and REPLACEMENT is used: its REGEXP applied",
}


def test_kamailio_enum_query_matches_the_emulation() -> None:
    for program, package in (("ip", "iproute2"), ("named", "bind9"), ("kamailio", "kamailio")):
        require_tool(program, package)
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the Kamailio test needs root (network namespaces)")
        pytest.skip("the Kamailio test needs root (network namespaces)")
    out = subprocess.run([sys.executable, "-m", "enumlab.lab.kamailio", "check", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.stdout, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) >= 25
    # every URI of Kamailio's destination set, in order, with its q value
    assert [r["number"] for r in rows if not r["agrees_with_emulation"]] == []
    departures = {r["number"] for r in rows if not r["agrees_with_rfc"]}
    assert departures == set(EXPLAINED)
    by_number = {r["number"]: r for r in rows}
    # 30 matching records: the R-URI and 11 branches, q 0.99 down to 0.88
    big = by_number["+61355500998"]["kamailio"]
    assert len(big) == 12 and big[0][1] == 0.99 and big[-1][1] == 0.88
    # ORDER 20 forked as a q=0.98 branch: the failover the blog describes
    assert [q for _, q in by_number["+61355500914"]["kamailio"]] == [0.99, 0.98]
    assert by_number["+61255503013"]["kamailio"][0][0].startswith("sip:both-fields@")
    # the seed's Kamailio post: a call to +61355500912 routes to one of the two servers
    assert by_number["+61355500912"]["kamailio_status"] == 300
    assert by_number["+61355500912"]["kamailio"][0][0].endswith("enum.nickvsnetworking.com")
    # a >512-byte answer reached Kamailio through the system resolver's TCP fallback
    assert by_number["+61355500998"]["kamailio_status"] == 300
    assert out.returncode == 0
