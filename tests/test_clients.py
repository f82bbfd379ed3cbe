"""Client models (issue 14) against the real thing wherever it runs here: sip-dig and glibc's
getaddrinfo in network namespaces resolving through a lab BIND, dnspython's own
processing_order; the models of software that does not run here (Asterisk, FreeSWITCH) on the
behaviours their sources give. Kamailio's model is checked in test_kamailio.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import dns.rrset
import numpy as np
import pytest
from scipy import stats

from enumlab import EmbeddedServer, InputError, Resolver
from enumlab.cli import main
from enumlab.core.policies import Entry, RecordSet, get_policy
from enumlab.split.clients import MODELS, get_model, glibc_order, models_for, sip_dig

from .conftest import IN_CI, require_tool

D = "mnc001.mcc001.3gppnetwork.org"


def _root() -> None:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the peer checks need root (network namespaces)")
        pytest.skip("the peer checks need root (network namespaces)")


def peerlab(check: str) -> list[dict[str, object]]:
    out = subprocess.run([sys.executable, "-m", "enumlab.lab.peerlab", check, "--json"],
                         capture_output=True, text=True, timeout=600)
    assert out.stdout, out.stderr[-2000:]
    rows: list[dict[str, object]] = json.loads(out.stdout)
    return rows


def test_sofia_sip_model_prints_what_sip_dig_prints() -> None:
    """Every lab SIP URI: the lines real sip-dig prints equal the model's, shares included --
    NAPTR, SRV per transport, a port, transport=, sips, weight 0, a group of zero weights
    (never printed), a priority split over two runs of the answer."""
    _root()
    require_tool("ip", "iproute2")
    require_tool("named", "bind9")
    require_tool("sip-dig", "sofia-sip-bin")
    rows = peerlab("sip-dig")
    assert len(rows) >= 15
    assert [r["uri"] for r in rows if not r["agrees"]] == []
    by_uri = {r["uri"]: r for r in rows}
    # sip-dig stops at the lowest usable NAPTR ORDER: TCP only, as RFC 3263 s4.1
    assert {line.split()[2] for line in by_uri[f"sip:ims.{D}"]["sip_dig"]} == {"tcp"}
    # a priority group whose weights are all 0 is never printed (RFC 2782 would use it)
    assert [line.split()[-1] for line in by_uri[f"sip:zero.{D}"]["sip_dig"]] == ["192.0.2.93"]


def test_glibc_model_orders_addresses_as_getaddrinfo() -> None:
    """getent ahosts for dual-stack names with IPv4 only, IPv6 only, both and neither."""
    _root()
    require_tool("ip", "iproute2")
    require_tool("named", "bind9")
    rows = peerlab("getaddrinfo")
    assert len(rows) == 12
    assert [(r["layout"], r["name"]) for r in rows if not r["agrees"]] == []
    both = {r["name"]: r["getent"] for r in rows if r["layout"] == "both"}
    # IPv6 first (RFC 6724 precedence), and within a family the longest shared prefix first
    assert both[f"multi.ims.{D}"] == ["2001:db8:77::72", "2001:db8::71", "198.18.77.72",
                                      "192.0.2.71"]


def test_glibc_order_rules() -> None:
    dual = ["2001:db8::1", "192.0.2.1"]
    assert glibc_order(dual) == dual  # IPv6 first when both are reachable
    assert glibc_order(dual, ["ipv4"], configured=["ipv4", "ipv6"]) == dual[::-1]
    assert glibc_order(dual, ["ipv6"]) == ["2001:db8::1"]  # no IPv4 address: left out
    # rule 9: the destination in the source's subnet first
    assert glibc_order(["192.0.2.9", "198.51.100.9"], ["198.51.100.2/24"]) == [
        "198.51.100.9", "192.0.2.9"]


def test_dnspython_model_matches_dnspython_processing_order() -> None:
    """dnspython's real processing_order, 20,000 times: weight 0 counts as 0.1 (P=0.0017 for
    as0 first), not RFC 2782's 1/61; our model agrees with it, the RFC reading does not."""
    rrset = dns.rrset.from_text_list("as.", 60, "IN", "SRV", [
        "10 0 5060 as0.", "10 60 5060 as1.", "20 10 5060 as-backup."])
    rng = np.random.default_rng(7)
    import random

    random.seed(7)  # dnspython draws from the global random module
    n = 20_000
    firsts = [rrset.processing_order()[0].target.to_text() for _ in range(n)]
    seen = np.array([firsts.count("as0."), firsts.count("as1."), firsts.count("as-backup.")])
    rs = RecordSet((Entry("as0", 10, 0), Entry("as1", 10, 60), Entry("as-backup", 20, 10)),
                   "srv")
    model = get_policy("dnspython", "srv").expected(rs)[:2]
    rfc = get_policy("srv", "srv").expected(rs)[:2]
    assert seen[2] == 0  # priority 20 never first while priority 10 has targets
    assert stats.chisquare(seen[:2], model / model.sum() * n).pvalue > 0.001
    assert stats.chisquare(seen[:2], rfc / rfc.sum() * n).pvalue < 1e-12
    del rng
    # NAPTR: dnspython's order crosses ORDERs (+61355500914: both servers listed)
    with EmbeddedServer() as server:
        got = get_model("dnspython").run("enum", "+61355500914", Resolver(server.host,
                                                                          server.port))
        rfc_got = get_model("rfc").run("enum", "+61355500914", Resolver(server.host,
                                                                        server.port))
    assert [t.uri.split("@")[1][:7] for t in got.targets] == ["server1", "server2"]
    assert len(rfc_got.targets) == 1


def test_models_from_source_follow_their_source() -> None:
    with EmbeddedServer() as server:
        r = Resolver(server.host, server.port)
        # Asterisk: a non-'u' record abandons the whole lookup (main/enum.c)
        ast = get_model("asterisk").run("enum", "+61255503004", r)
        assert ast.targets == [] and "abandoned" in ast.notes[0]
        # ... and its output is the replacement alone (+61255503012: 'rest=' left empty)
        assert get_model("asterisk").run("enum", "+61255503012", r).targets[0].uri.endswith(
            "rest=")
        # FreeSWITCH: '!' only; a '/' delimited record is never used
        assert get_model("freeswitch").run("enum", "+61255503003", r).targets == []
        assert get_model("rfc").run("enum", "+61255503003", r).targets
        # first: (ORDER, PREFERENCE), ties in answer order, no shuffle: the same every time
        firsts = {get_model("first").run("enum", "+61355500913", r,
                                         rng=np.random.default_rng(k)).targets[0].uri
                  for k in range(20)}
        assert len(firsts) == 1
    for name, model in MODELS.items():
        assert model.basis.startswith(("run here", "from source, not run", "the reference",
                                       "a definition")), name
    assert {m for m in MODELS if MODELS[m].basis.startswith("from source")} == {
        "asterisk", "freeswitch"}


def test_sip_dig_depends_on_the_order_of_the_answer() -> None:
    """The same SRV set, in the zone's order (enumlab's server) and in BIND's sorted order,
    prints differently: sip-dig groups priorities by runs of the answer."""
    with EmbeddedServer() as server:
        lines = sip_dig(f"sip:runs.{D}", Resolver(server.host, server.port))
    # zone order 10, 20, 10: the first run of priority 10 has weight 10, so runs3 (30) is
    # printed with a share of 0.6 (over 1 in all), and priority 10 is printed again at the
    # end; BIND's sorted answer (10, 10, 20) gives three lines whose shares add up to 0.4
    assert [line.split()[-1] for line in lines] == [
        "192.0.2.94", "192.0.2.96", "192.0.2.95", "192.0.2.94", "192.0.2.96"]
    assert float(lines[1].split()[1]) == 0.6


def test_client_option_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["enum", "+61355500998", "--client", "kamailio", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "kamailio" and len(data["targets"]) == 12
    assert data["targets"][0]["q"] == 0.99 and data["basis"].startswith("run here")
    assert main(["sip", f"sip:zero.{D}", "--client", "sofia-sip"]) == 0
    assert "\t1 0.200 udp 5060 192.0.2.93" in capsys.readouterr().out
    assert main(["epc", "--apn", "ims", "--mcc", "001", "--mnc", "01", "--client", "glibc",
                 "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["kind"] == "InputError" and "no EPC behaviour" in error["message"]
    assert models_for("sip") == ["rfc", "kamailio", "sofia-sip", "dnspython", "glibc", "first"]
    with pytest.raises(InputError, match="unknown client model"):
        get_model("asterix")


def test_json_errors_are_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--json promises JSON: a rewrite loop is an error object on stdout, exit 2."""
    assert main(["enum", "+61255503006", "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["error"]["kind"] == "LoopError" and "loop" in out["error"]["message"]
    assert out["error"]["input"]
