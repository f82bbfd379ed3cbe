"""The embedded server against BIND on the same zones: every difference is a bug in one of them.

For every owner name in data/zones, names matched only by wildcards, names below wildcards,
empty non-terminals and names that do not exist, both servers must give the same rcode, AA
flag, TC flag and answer RRsets -- without EDNS0 (512), with EDNS0 1232 and 4096, and over TCP.
Then the ENUM, S-NAPTR and RFC 3263 procedures must give the same results whichever engine
serves the zones.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import numpy as np
import pytest

from enumlab import EmbeddedServer, LabServerError, Resolver, resolve_enum
from enumlab.core.epc_fqdn import Plmn, apn_fqdn, tai_fqdn
from enumlab.lab.bind import BindServer
from enumlab.lab.kamailio import lab_numbers
from enumlab.resolve.sip_location import locate_sip_server
from enumlab.resolve.snaptr import snaptr_select
from enumlab.zones.authority import load_zone, zone_files
from enumlab.zones.zonefile import type_text, wire_to_text

from .conftest import ZONES, require_tool

MODES = [("udp", None), ("udp", 1232), ("udp", 4096), ("tcp", None)]


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedServer,
                                                                         BindServer]]:
    require_tool("named", "bind9")
    require_tool("named-checkzone", "bind9-utils")
    with BindServer(ZONES) as bind:
        # the embedded server gets exactly the zones BIND accepted (e164.test is refused by
        # named-checkzone on purpose: it holds records that break the RFCs)
        assert list(bind.rejected) == ["e164.test."]
        shared = tmp_path_factory.mktemp("shared-zones")
        for _, path in bind.accepted:
            shutil.copy(path, shared / path.name)
        with EmbeddedServer(shared) as embedded:
            yield embedded, bind


def questions() -> list[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for path in zone_files(ZONES):
        served = load_zone(path)
        origin = served.origin
        if origin == "e164.test.":
            continue
        for key, node in served.nodes.items():
            types = {type_text(t) for t in node}
            text = wire_to_text(key)
            for rdtype in types | {"TXT"}:
                out.add((text, rdtype))
            if text.startswith("*."):
                base = text[2:]
                for probe in ("w1234.", "a.b.", "0."):
                    for rdtype in types | {"A"}:
                        out.add((probe + base, rdtype))
            else:
                out.add(("below-a-leaf." + text, "A"))
        for ent in served.existing - set(served.nodes):
            out.add((wire_to_text(ent), "NAPTR"))
        out.add((f"no-such-name.{origin}", "A"))
    out.update({("example.org.", "A"), ("e164.test.", "SOA"), ("3gppnetwork.org.", "NS")})
    return sorted(out)


QUESTIONS = questions()


def ask(host: str, port: int, name: str, rdtype: str, transport: str, edns: int | None
        ) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, use_edns=edns is not None, payload=edns or 512)
    q.flags &= ~dns.flags.RD
    if transport == "tcp":
        return dns.query.tcp(q, host, port=port, timeout=3)
    return dns.query.udp(q, host, port=port, timeout=3)


def summary(msg: dns.message.Message) -> dict[str, object]:
    truncated = bool(msg.flags & dns.flags.TC)
    return {
        "rcode": dns.rcode.to_text(msg.rcode()),
        "aa": bool(msg.flags & dns.flags.AA),
        "tc": truncated,
        # a truncated answer's partial contents differ legitimately (BIND fills what fits)
        # records as a set: DNS gives no order inside an RRset, and BIND rotates it
        "answer": None if truncated else sorted(
            line for rrset in msg.answer for line in rrset.to_text().splitlines()),
    }


def test_there_are_enough_questions() -> None:
    assert len(QUESTIONS) > 250
    assert any(name.startswith("w1234.") for name, _ in QUESTIONS)  # wildcard-only names


@pytest.mark.parametrize(("transport", "edns"), MODES, ids=["udp-512", "udp-1232", "udp-4096",
                                                            "tcp"])
def test_same_answers_as_bind(engines: tuple[EmbeddedServer, BindServer], transport: str,
                              edns: int | None) -> None:
    embedded, bind = engines
    differences = []
    truncated = 0
    for name, rdtype in QUESTIONS:
        ours = summary(ask(embedded.host, embedded.port, name, rdtype, transport, edns))
        theirs = summary(ask(bind.host, bind.port, name, rdtype, transport, edns))
        truncated += bool(theirs["tc"])
        if ours != theirs:
            differences.append((name, rdtype, ours, theirs))
    assert differences == []
    if transport == "udp" and edns is None:
        assert truncated >= 3  # the 512-byte limit is really exercised
    if transport == "tcp" or edns == 4096:
        assert truncated == 0


def test_procedures_agree_whichever_engine_serves(engines: tuple[EmbeddedServer, BindServer]
                                                  ) -> None:
    resolvers = [Resolver(s.host, s.port) for s in engines]

    def enum(r: Resolver, number: str) -> object:
        try:
            return resolve_enum(number, r, rng=np.random.default_rng(5)).uris
        except Exception as exc:  # a loop must be a loop on both
            return type(exc).__name__

    for number in lab_numbers():
        assert enum(resolvers[0], number) == enum(resolvers[1], number), number
    home = Plmn("001", "01")
    for fqdn, node in [(apn_fqdn("ims", home), "pgw"), (apn_fqdn("internet", home), "pgw"),
                       (apn_fqdn("roaming", home), "pgw"), (tai_fqdn(1, home), "sgw")]:
        got = [[(c.hostname, c.port, tuple(c.ipv4), c.kept, c.reason)
                for c in snaptr_select(fqdn, r, node=node, rng=np.random.default_rng(9)).candidates]
               for r in resolvers]
        assert got[0] == got[1], fqdn
    for uri in ("sip:ims.mnc001.mcc001.3gppnetwork.org", "sip:scscf.mnc001.mcc001.3gppnetwork.org",
                "sip:scscf.mnc001.mcc001.3gppnetwork.org:6060",
                "sip:as.mnc001.mcc001.3gppnetwork.org;transport=udp",
                "sip:nosip.mnc001.mcc001.3gppnetwork.org"):
        got = [locate_sip_server(uri, r, rng=np.random.default_rng(3)).targets for r in resolvers]
        assert got[0] == got[1], uri


def test_bind_engine_reports_a_broken_zone_with_named_words(tmp_path: Path) -> None:
    require_tool("named", "bind9")
    (tmp_path / "ok.test.zone").write_text(
        "$ORIGIN ok.test.\n$TTL 60\n@ SOA ns1 h 1 1 1 1 1\n@ NS ns1\nns1 A 127.0.0.1\n")
    (tmp_path / "bad.test.zone").write_text("$ORIGIN bad.test.\n@ SOA broken\n")
    with BindServer(tmp_path) as bind:
        assert bind.zone_names() == ["ok.test."]
        assert bind.rejected.get("bad.test.")


def test_bind_engine_listens_on_both_loopbacks_and_reports_a_taken_port(tmp_path: Path) -> None:
    require_tool("named", "bind9")
    (tmp_path / "ok.test.zone").write_text(
        "$ORIGIN ok.test.\n$TTL 60\n@ SOA ns1 h 1 1 1 1 1\n@ NS ns1\nns1 A 127.0.0.1\n")
    with BindServer(tmp_path) as bind:
        q = dns.message.make_query("ok.test.", "SOA")
        assert dns.query.udp(q, "127.0.0.1", port=bind.port, timeout=3).answer
        assert dns.query.tcp(q, "::1", port=bind.port, timeout=3).answer
        with pytest.raises(LabServerError, match=f"port {bind.port} is taken"):
            BindServer(tmp_path, port=bind.port).start()
