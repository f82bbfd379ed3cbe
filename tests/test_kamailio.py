"""Kamailio's real enum module against enumlab, inside a network namespace (see
enumlab.lab.kamailio): every answer must match enumlab's kamailio emulation, and every place it
departs from RFC 6116/3403 must be one of the documented ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
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


def _run_check(command: str, *extra: tuple[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m enumlab.lab.kamailio COMMAND --json`` (root and the tools it needs: missing,
    a failure in CI)."""
    for program, package in (("ip", "iproute2"), ("named", "bind9"), ("kamailio", "kamailio"),
                             *extra):
        require_tool(program, package)
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the Kamailio test needs root (network namespaces)")
        pytest.skip("the Kamailio test needs root (network namespaces)")
    return subprocess.run([sys.executable, "-m", "enumlab.lab.kamailio", command, "--json"],
                          capture_output=True, text=True, timeout=300)


def test_kamailio_enum_query_matches_the_emulation() -> None:
    out = _run_check("check")
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


def test_kamailio_sip_resolver_matches_the_model() -> None:
    """Kamailio 5.6 forwarding requests (forward() and t_relay()) in a namespace, 16 URIs under
    10 configurations, every first destination read from a capture: the model's first target
    for every URI and configuration; the weighted choice's split over 201 requests within the
    model's confidence interval; dns_srv_lb without use_dns_failover never draws; with
    use_dns_failover, TCP targets that refuse at once (RST) left in the model's failover
    order -- through the SRV set, then the next NAPTR transport."""
    from scipy import stats

    out = _run_check("sip-check", ("dumpcap", "wireshark-common"))
    assert out.returncode == 0, out.stderr[-3000:]
    rows = json.loads(out.stdout)
    assert len({r["config"] for r in rows}) == 10 and len({r["uri"] for r in rows}) == 16
    wrong = []
    for r in rows:
        firsts = r["model_firsts"]
        if len(r["kamailio"]) == 1:
            # deterministic configurations: the one target; drawing ones: one the model gives
            if r["kamailio"][0] not in firsts or (len(firsts) == 1 and r["kamailio"][0] !=
                                                   (r["model"] or ["(nothing)"])[0]):
                wrong.append((r["config"], r["uri"], r["kamailio"][0], firsts))
            continue
        n = len(r["kamailio"])
        assert n >= 200
        seen = {k: r["kamailio"].count(k) for k in set(r["kamailio"]) | set(firsts)}
        keys = sorted(seen)
        expected = np.array([firsts.get(k, 0.0) for k in keys])
        if (expected > 0.999).any():  # one target: every request goes there
            assert seen[keys[int(expected.argmax())]] == n, (r["config"], r["uri"], seen)
            continue
        observed = np.array([seen[k] for k in keys])
        assert set(k for k in keys if seen[k]) <= set(firsts), (r["config"], r["uri"], seen)
        p = stats.chisquare(observed[expected > 0], expected[expected > 0] /
                            expected[expected > 0].sum() * n).pvalue
        assert p > 0.001, (r["config"], r["uri"], seen, firsts)
    assert wrong == []
    by = {(r["config"], r["uri"]): r for r in rows}
    d = "mnc001.mcc001.3gppnetwork.org"
    # the defaults: no NAPTR (ims has a TCP-first NAPTR, Kamailio still goes to _sip._udp)
    assert by[("default", f"sip:ims.{d}")]["kamailio"][0].startswith("udp:")
    assert by[("naptr tcp-pref", f"sip:ims.{d}")]["kamailio"][0].startswith("tcp:")
    # NAPTR on: the explicit port is dropped (the SRV port 6060), unless failover is on
    assert by[("naptr", f"sip:scscf.{d}:5060")]["kamailio"][0].endswith(":6060")
    assert by[("tm naptr failover", f"sip:scscf.{d}:5060")]["kamailio"][0].endswith(":5060")
    # dns_srv_lb without use_dns_failover: every request to the heaviest record
    assert set(by[("tm srv_lb", f"sip:split.{d}")]["kamailio"]) == {"udp:192.0.2.103:5060"}
    # with it: all-zero weights always give the last weight-0 record, not the first
    assert set(by[("srv_lb failover", f"sip:zero.{d}")]["kamailio"]) == {"udp:192.0.2.92:5060"}
    # SRV target "." -> the host's A record (failover off), nothing (on)
    assert by[("default", f"sip:nosip.{d}")]["kamailio"] == ["udp:192.0.2.50:5060"]
    assert by[("tm naptr failover", f"sip:nosip.{d}")]["kamailio"] == ["(nothing)"]
    # DNS failover: every destination Kamailio tried for a request (TCP targets refuse at
    # once; a UDP target is left only after tm's timer, so the order is seen up to the first
    # UDP target) is the model's order up to there -- as a set where the model draws
    # (what Kamailio tries after a UDP target depends on whether tm's timer fires within the
    # request's window: the sequence is cut after its first UDP target too)
    failed_over = []
    for r in rows:
        seq, model = r["sequence"], r["model"]
        if not r["options"]["failover"] or not seq:
            continue
        k = next((i + 1 for i, t in enumerate(model) if t.startswith("udp:")), len(model))
        seq = seq[:next((i + 1 for i, t in enumerate(seq) if t.startswith("udp:")), len(seq))]
        if len(r["model_firsts"]) > 1:  # the model draws: its list is one draw of many
            if k < len(model) or any(t.startswith("udp:") for t in model):
                continue  # the UDP target is the draw: the split checks it
            same = sorted(seq) == sorted(model[:k])  # every refusing target, in some order
        else:
            same = seq == model[:k]
        if not same:
            failed_over.append((r["config"], r["uri"], seq, model[:k]))
    assert failed_over == []
    # the claim: after the TCP SRV set, the next NAPTR transport (UDP)
    assert by[("tm naptr failover tcp-pref", f"sip:ims.{d}")]["sequence"] == [
        "tcp:192.0.2.11:5060", "tcp:192.0.2.12:5060", "udp:192.0.2.11:5060"]
    # with failover, sips: goes over UDP even when TCP is preferred
    assert by[("tm naptr failover tcp-pref", f"sips:ims.{d}")]["kamailio"][0].startswith(
        "udp:")
