"""SIP URIs and RFC 3263 server location against the lab's IMS zone, over real sockets."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import stats as sps

from enumlab import InputError, Resolver
from enumlab.core.sip_uri import SipUriError, parse_sip_uri
from enumlab.resolve.sip_location import locate_sip_server
from enumlab.zones.authority import Authority, ZoneLookup

from .conftest import ZONES

D = "mnc001.mcc001.3gppnetwork.org"


@pytest.mark.parametrize(
    ("text", "scheme", "user", "host", "port", "transport"),
    [
        (f"sip:scscf.{D}:6060", "sip", "", f"scscf.{D}", 6060, None),
        (f"sip:+61355500912@ims.{D};transport=TCP;lr", "sip", "+61355500912", f"ims.{D}", None,
         "tcp"),
        ("sips:alice@Example.COM.", "sips", "alice", "example.com", None, None),
        ("sip:[2001:db8::1]:5070;transport=udp", "sip", "", "2001:db8::1", 5070, "udp"),
        ("sip:192.0.2.1", "sip", "", "192.0.2.1", None, None),
        ("<sip:bob@host.example?subject=x>", "sip", "bob", "host.example", None, None),
    ],
)
def test_parse_sip_uri(text: str, scheme: str, user: str, host: str, port: int | None,
                       transport: str | None) -> None:
    uri = parse_sip_uri(text)
    assert (uri.scheme, uri.user, uri.host, uri.port, uri.transport) == (
        scheme, user, host, port, transport)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("tel:+61355500912", "not a sip"),
        ("sip:", "no host"),
        ("sip:@host", "empty user"),
        ("sip:host:99999", "port"),
        ("sip:host:", "port"),
        ("sip:2001:db8::1", "must be in brackets"),
        ("sip:[2001:db8::zz]", "not an IPv6"),
        ("sip:[2001:db8::1", "unterminated"),
        ("sip:bad_host.example", "not a valid host"),
        ("sip:host;transport=carrier-pigeon", "unknown transport"),
    ],
)
def test_parse_sip_uri_rejects(text: str, needle: str) -> None:
    with pytest.raises(SipUriError, match=needle):
        parse_sip_uri(text)


def locate(resolver: Resolver, uri: str, **kw: object) -> list[tuple[str, str, int, str | None]]:
    location = locate_sip_server(uri, resolver, rng=np.random.default_rng(0), **kw)  # type: ignore[arg-type]
    return [(t.transport, t.host.split(".")[0], t.port, t.address) for t in location.targets]


def test_naptr_then_srv_then_addresses(resolver: Resolver) -> None:
    # RFC 3263 s4.1: the most preferred supported transport (TCP, ORDER 10) and its SRV set
    got = locate(resolver, f"sip:ims.{D}")
    assert [t[0] for t in got] == ["TCP"] * 3
    assert {t[1] for t in got} == {"pcscf1", "pcscf2"}
    assert ("TCP", "pcscf1", 5060, "2001:db8::11") in got  # AAAA kept too


def test_other_transports_only_on_request_and_labelled(resolver: Resolver) -> None:
    location = locate_sip_server(f"sip:ims.{D}", resolver, rng=np.random.default_rng(0),
                                 all_transports=True)
    assert [t.transport for t in location.targets] == ["TCP"] * 3 + ["UDP"] * 3 + ["TLS"] * 2
    assert [t.failover for t in location.targets] == [False] * 3 + [True] * 5
    assert all(t["failover"] == (t["transport"] != "TCP")
               for t in location.to_dict()["targets"])
    strict = locate_sip_server(f"sip:ims.{D}", resolver, rng=np.random.default_rng(0))
    skipped = [s for s in strict.trace if s.verdict == "not considered"]
    assert len(skipped) == 2 and all("RFC 3263 s4.1" in s.reason for s in skipped)


def test_sips_uses_only_tls(resolver: Resolver) -> None:
    assert locate(resolver, f"sips:ims.{D}") == [
        ("TLS", "pcscf1", 5061, "192.0.2.11"), ("TLS", "pcscf1", 5061, "2001:db8::11")]
    with pytest.raises(InputError, match="no TLS"):
        locate(resolver, f"sips:ims.{D}", transports=("udp",))


def test_client_transports_filter_naptr(resolver: Resolver) -> None:
    got = locate(resolver, f"sip:ims.{D}", transports=("udp",))
    assert {t[0] for t in got} == {"UDP"}


def test_port_in_uri_skips_naptr_and_srv(resolver: Resolver) -> None:
    location = locate_sip_server(f"sip:scscf.{D}:6060", resolver)
    assert location.skipped_srv
    assert [(t.host, t.port, t.address) for t in location.targets] == [
        (f"scscf.{D}", 6060, "192.0.2.30")]
    assert {s.rdtype for s in location.trace if s.kind == "query"} == {"A", "AAAA"}


def test_without_port_the_srv_pool_is_used_not_the_a_record(resolver: Resolver) -> None:
    got = locate(resolver, f"sip:scscf.{D}")
    assert {t[1] for t in got} == {"scscf1", "scscf2"}
    assert "192.0.2.30" not in {t[3] for t in got}  # never the bare name's A once SRV exists
    assert {t[2] for t in got} == {6060}


def test_no_naptr_no_srv_falls_back_to_a_with_5060(resolver: Resolver) -> None:
    assert locate(resolver, f"sip:icscf.{D}") == [("UDP", "icscf", 5060, "192.0.2.40")]
    assert locate(resolver, f"sips:icscf.{D}") == [("TLS", "icscf", 5061, "192.0.2.40")]


def test_srv_target_dot_means_not_available_and_blocks_the_a_fallback(resolver: Resolver
                                                                      ) -> None:
    location = locate_sip_server(f"sip:nosip.{D}", resolver)
    assert location.targets == []
    assert any("decidedly not available" in s.reason for s in location.trace)


def test_explicit_transport_goes_straight_to_its_srv(resolver: Resolver) -> None:
    location = locate_sip_server(f"sip:as.{D};transport=udp", resolver,
                                 rng=np.random.default_rng(1))
    assert next(s.rdtype for s in location.trace if s.kind == "query") == "SRV"
    assert location.targets[-1].host == f"as-backup.{D}"  # priority 20 comes last
    with pytest.raises(InputError, match="client supports"):
        locate(resolver, f"sip:as.{D};transport=sctp")


def test_srv_target_without_address_is_dropped_with_a_reason(resolver: Resolver) -> None:
    location = locate_sip_server(f"sip:broken.{D}", resolver)
    assert [t.host for t in location.targets] == [f"present.broken.{D}"]
    assert any(s.reason == "target has no A/AAAA record" for s in location.trace)


def test_numeric_hosts_need_no_dns(resolver: Resolver) -> None:
    location = locate_sip_server("sip:[2001:db8::1]:5070;transport=tcp", resolver)
    assert [(t.transport, t.address, t.port) for t in location.targets] == [
        ("TCP", "2001:db8::1", 5070)]
    assert not [s for s in location.trace if s.kind == "query"]
    assert locate(resolver, "sips:192.0.2.9") == [("TLS", "192", 5061, "192.0.2.9")]


def test_sctp_naptr_and_non_sip_services(resolver: Resolver) -> None:
    location = locate_sip_server(f"sip:sctp.{D}", resolver, transports=("udp", "sctp"),
                                 prefer_ipv6=True)
    assert [(t.transport, t.address) for t in location.targets] == [
        ("SCTP", "2001:db8::80"), ("SCTP", "192.0.2.80")]
    assert any("not a SIP transport service" in s.reason for s in location.trace)
    # a client without SCTP finds no usable NAPTR, then no SRV, then the (absent) A record
    assert locate(resolver, f"sip:sctp.{D}") == []


def test_srv_weights_follow_rfc2782_statistically() -> None:
    lookup = ZoneLookup(Authority.from_directory(ZONES))
    rng = np.random.default_rng(2782)
    firsts = Counter(
        locate_sip_server(f"sip:scscf.{D};transport=udp", lookup, rng=rng).targets[0].host
        for _ in range(3000))
    # weights 70/30, r in 0..100 inclusive; r == 0 is a uniform pick among both
    p1 = 70 / 101 + 0.5 / 101
    observed = [firsts[f"scscf1.{D}"], firsts[f"scscf2.{D}"]]
    assert sps.chisquare(observed, [3000 * p1, 3000 * (1 - p1)]).pvalue > 1e-3
    wrong = sps.chisquare(observed, [1500, 1500]).pvalue
    assert wrong < 1e-6


def test_weight_zero_is_chosen_only_when_r_is_zero() -> None:
    lookup = ZoneLookup(Authority.from_directory(ZONES))
    rng = np.random.default_rng(7)
    firsts = Counter(locate_sip_server(f"sip:as.{D};transport=udp", lookup, rng=rng)
                     .targets[0].host.split(".")[0] for _ in range(3000))
    # weights 0 and 60: the weight-0 record goes first in the list and wins only for r == 0
    assert sps.chisquare([firsts["as0"], firsts["as1"]], [3000 / 61, 3000 * 60 / 61]).pvalue > 1e-3
    assert firsts["as-backup"] == 0


def test_unknown_transport_names_are_rejected(resolver: Resolver) -> None:
    with pytest.raises(InputError, match="unknown transports"):
        locate(resolver, f"sip:ims.{D}", transports=("quic",))
