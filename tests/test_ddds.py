"""ENUM resolution (RFC 6116 over RFC 3402/3403) against the embedded server, over sockets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from enumlab import (
    EmbeddedServer,
    InvalidNumberError,
    LoopError,
    Resolver,
    ServerFailureError,
    resolve_enum,
)
from enumlab.zones.authority import Authority, ZoneLookup

from .conftest import ZONES, write_zone

HOST = ".enum.nickvsnetworking.com"


def uris(number: str, resolver: Resolver, **kwargs: object) -> list[str]:
    return resolve_enum(number, resolver, rng=np.random.default_rng(0), **kwargs).uris  # type: ignore[arg-type]


# -- the seed's playground -------------------------------------------------------------------


def test_single_record_911(resolver: Resolver) -> None:
    assert uris("+61355500911", resolver) == [f"sip:service@server1{HOST}"]


def test_913_lists_three_servers_with_server3_last(resolver: Resolver) -> None:
    got = uris("+61355500913", resolver)
    assert sorted(got[:2]) == [f"sip:service@server1{HOST}", f"sip:service@server2{HOST}"]
    assert got[2] == f"sip:service@server3{HOST}"  # preference 200 is a rank: last, not 50%


def test_exact_ties_are_shuffled_by_the_generator(resolver: Resolver) -> None:
    firsts = Counter(
        resolve_enum("+61355500912", resolver, rng=np.random.default_rng(seed)).uris[0]
        for seed in range(200)
    )
    assert set(firsts) == {f"sip:service@server1{HOST}", f"sip:service@server2{HOST}"}
    assert 60 < firsts[f"sip:service@server1{HOST}"] < 140  # binomial(200, .5): 6 sigma
    again = [resolve_enum("+61355500912", resolver, rng=np.random.default_rng(7)).uris
             for _ in range(3)]
    assert again[0] == again[1] == again[2]  # seeded: reproducible


def test_914_order_is_strict_per_rfc3403_and_failover_is_opt_in(resolver: Resolver) -> None:
    result = resolve_enum("+61355500914", resolver)
    assert result.uris == [f"sip:service@server1{HOST}"]
    skipped = [s for s in result.trace if s.verdict == "not considered"]
    assert len(skipped) == 1 and "MUST NOT consider" in skipped[0].reason
    fallback = resolve_enum("+61355500914", resolver, all_orders=True)
    assert fallback.uris == [f"sip:service@server1{HOST}", f"sip:service@server2{HOST}"]
    assert [c.fallback for c in fallback.candidates] == [False, True]


def test_wildcard_blocks_and_the_ported_exception(resolver: Resolver) -> None:
    assert uris("+61255501234", resolver) == [f"sip:wildcard@server1{HOST}"]
    assert uris("+61255501999", resolver) == [f"sip:wildcard@server1{HOST}"]
    # the back-reference captures the whole AUS, '+' included, as the archive prints it
    assert uris("+61255502000", resolver) == [f"sip:+1+61255502000@server2{HOST}"]
    assert uris("+61255502345", resolver) == [f"sip:ported@othercarrier{HOST}"]
    # wildcards match any length below the block (the seed's own warning)
    assert uris("+6125550299999", resolver) == [f"sip:+1+6125550299999@server2{HOST}"]


def test_the_exception_takes_neighbours_out_of_the_wildcard(resolver: Resolver) -> None:
    for number in ("+61255502346", "+61255502300", "+61255502399"):
        result = resolve_enum(number, resolver)
        assert result.uris == [], number
        assert result.trace[1].rcode == "NXDOMAIN"
    assert uris("+61255502299", resolver) == [f"sip:+1+61255502299@server2{HOST}"]


def test_the_seeds_typo_number_misses_the_wildcard(resolver: Resolver) -> None:
    # the blog looks up "+6125501234" (one digit short) for the +61255501x block
    assert uris("+6125501234", resolver) == []


# -- enumlab's own cases ---------------------------------------------------------------------


def test_posix_class_and_backreference(resolver: Resolver) -> None:
    assert uris("+61255503001", resolver) == ["sip:61255503001@posix.example.com"]


def test_service_selection_and_output_readings(resolver: Resolver) -> None:
    assert uris("+61255503002", resolver) == []  # only E2U+voice:tel there
    assert uris("+61255503002", resolver, service="E2U+voice:tel") == ["tel:0255503002"]
    # the replacement-only reading (Kamailio, Asterisk) turns the same record into "tel:0"
    assert uris("+61255503002", resolver, service="E2U+voice:tel", output="replacement") == [
        "tel:0"]
    assert uris("+61255503009", resolver, service="E2U+email") == ["mailto:info@example.com"]
    assert uris("+61255503009", resolver, service="E2U+voice:tel") == ["tel:+61255503009"]
    assert uris("+61255503009", resolver, service="e2u+sip") == ["sip:info@example.com"]


def test_other_delimiter_and_i_flag(resolver: Resolver) -> None:
    assert uris("+61255503003", resolver) == ["sip:0255503003@slash.example.com;x=a/b"]


def test_non_terminal_by_replacement_and_by_regexp(resolver: Resolver) -> None:
    result = resolve_enum("+61255503004", resolver)
    assert result.uris == ["sip:61255503004@carrier-a.example.com"]
    assert [s.name for s in result.trace if s.kind == "query"] == [
        "4.0.0.3.0.5.5.5.2.1.6.e164.arpa.", "carrier-a.routing.e164.arpa."]
    assert uris("+61255503005", resolver) == ["sip:block-b@carrier-b.example.com"]


@pytest.mark.parametrize("number", ["+61255503006", "+61255503007"])
def test_rewrite_loops_raise_loop_error_with_the_partial_trace(resolver: Resolver,
                                                               number: str) -> None:
    with pytest.raises(LoopError, match="rewrite loop") as info:
        resolve_enum(number, resolver)
    assert info.value.partial is not None
    assert any(s.kind == "query" for s in info.value.partial.trace)


def test_unknown_flag_skips_the_record_not_the_lookup(resolver: Resolver) -> None:
    result = resolve_enum("+61255503008", resolver)
    assert result.uris == ["sip:kept@flag-u.example.com"]
    dropped = [s for s in result.trace if s.verdict == "dropped"]
    assert "flag 'z'" in dropped[0].reason


def test_legacy_multi_enumservice_is_recognised_and_reported(resolver: Resolver) -> None:
    result = resolve_enum("+61255503010", resolver)
    assert result.uris == ["sip:legacy@example.com"]
    assert any("RFC 3761" in s.text for s in result.trace if s.kind == "note")


def test_no_match_in_an_order_moves_to_the_next(resolver: Resolver) -> None:
    assert uris("+61255503011", resolver) == ["sip:au@example.com"]


def test_leftmost_longest_capture_in_a_live_record(resolver: Resolver) -> None:
    assert uris("+61255503012", resolver) == ["sip:cc61@alt.example.com;rest=255503012"]


def test_truncated_answer_is_fetched_over_tcp(resolver: Resolver) -> None:
    result = resolve_enum("+61355500999", resolver)
    assert len(result.uris) == 12
    legs = result.trace[1].exchanges
    assert [leg["transport"] for leg in legs] == ["udp", "tcp"]
    assert legs[0]["truncated"] and legs[0]["response_size"] <= 512
    assert legs[1]["response_size"] > 512


def test_edns_4096_avoids_tcp(lab_server: EmbeddedServer) -> None:
    result = resolve_enum("+61355500998", Resolver(lab_server.host, lab_server.port, edns=4096))
    assert len(result.uris) == 30
    assert [leg["transport"] for leg in result.trace[1].exchanges] == ["udp"]


# -- broken data: every bad record is skipped with its reason ---------------------------------


@pytest.mark.parametrize(
    ("number", "reasons"),
    [
        ("+61355500001", ["mutually exclusive"]),
        ("+61355500002", ["\\0 is not a back-reference", "Perl-style", "unbalanced"]),
        ("+61355500004", ["refers to group 2", "not a URI", "cannot be the delimiter"]),
    ],
)
def test_broken_records_are_dropped_with_reasons(resolver: Resolver, number: str,
                                                 reasons: list[str]) -> None:
    result = resolve_enum(number, resolver, suffix="e164.test")
    # a record that breaks its RFC (both REGEXP and REPLACEMENT) stays in the trace "in
    # error"; a well-formed record that cannot be used is "dropped"
    dropped = [s.reason for s in result.trace if s.verdict in ("dropped", "in error")]
    if number == "+61355500001":
        assert next(s.verdict for s in result.trace if s.kind == "record") == "in error"
    assert len(dropped) == len(reasons)
    for reason, expected in zip(dropped, reasons, strict=True):
        assert expected in reason
    good = ["sip:good@example.com"] if number != "+61355500004" else []
    assert result.uris == good


def test_hostile_regexp_in_dns_data_is_harmless(resolver: Resolver) -> None:
    result = resolve_enum("+61355500003", resolver, suffix="e164.test")
    assert result.uris == []
    assert "does not match" in next(s for s in result.trace if s.kind == "record").reason


# -- Metaswitch Sprout's public vectors, served by a real server -----------------------------


@pytest.fixture
def sprout_server(zone_dir: Path):
    # src/ut/enumservice_test.cpp (suffix e164.arpa), AUS "+1234" here
    write_zone(zone_dir, "e164.arpa", r"""
4.3.2.1 IN NAPTR 1 1 "u" "e2u+sip" "!(^.*$)!sip:\\1@ut.cw-ngv.com!" .
8.7.6.5 IN NAPTR 1 1 "" "e2u+sip" "!\\+1234!+5678!" 9.9.9.9.e164.arpa.
""".replace('"!\\\\+1234!+5678!" 9.9.9.9.e164.arpa.', '"!\\\\+5678!5.6.7.8.e164.arpa.!" .'))
    with EmbeddedServer(zone_dir) as server:
        yield server


def test_sprout_terminal_rule(sprout_server: EmbeddedServer) -> None:
    r = Resolver(sprout_server.host, sprout_server.port)
    assert uris("+1234", r) == ["sip:+1234@ut.cw-ngv.com"]


def test_sprout_ordering_vector(zone_dir: Path) -> None:
    # records (2,1,@ut3), (1,2,@ut2), (1,1,@ut) -> @ut
    write_zone(zone_dir, "e164.arpa", r"""
1 IN NAPTR 2 1 "u" "e2u+sip" "!^.*$!sip:x@ut3!" .
1 IN NAPTR 1 2 "u" "e2u+sip" "!^.*$!sip:x@ut2!" .
1 IN NAPTR 1 1 "u" "e2u+sip" "!^.*$!sip:x@ut!" .
""")
    with EmbeddedServer(zone_dir) as server:
        got = uris("+1", Resolver(server.host, server.port))
    assert got == ["sip:x@ut", "sip:x@ut2"]


def test_depth_limit(zone_dir: Path) -> None:
    chain = "\n".join(f'n{i} IN NAPTR 1 1 "" "E2U+sip" "" n{i + 1}.e164.arpa.' for i in range(8))
    write_zone(zone_dir, "e164.arpa", '1 IN NAPTR 1 1 "" "E2U+sip" "" n0.e164.arpa.\n' + chain)
    with EmbeddedServer(zone_dir) as server, pytest.raises(LoopError, match="more than 5"):
        resolve_enum("+1", Resolver(server.host, server.port))


def test_servfail_style_errors_surface_typed(zone_dir: Path) -> None:
    write_zone(zone_dir, "other.test", "")
    with EmbeddedServer(zone_dir) as server, pytest.raises(ServerFailureError, match="REFUSED"):
        resolve_enum("+1", Resolver(server.host, server.port))


def test_bad_number_is_rejected_before_any_query(resolver: Resolver) -> None:
    with pytest.raises(InvalidNumberError):
        resolve_enum("+61 3 5550 O912", resolver)


def test_zone_lookup_gives_the_same_result_as_sockets(resolver: Resolver) -> None:
    memory = ZoneLookup(Authority.from_directory(ZONES))
    for number in ("+61355500913", "+61255502345", "+61255503005", "+61355500999"):
        a = resolve_enum(number, memory, rng=np.random.default_rng(3)).uris
        b = resolve_enum(number, resolver, rng=np.random.default_rng(3)).uris
        assert a == b, number


def test_exception_blocks_exactly_99_numbers_of_its_thousand(lab_server: EmbeddedServer) -> None:
    # the figure notebook 02 quotes: +612555023xx but +61255502345
    memory = ZoneLookup(lab_server.authority)
    from enumlab import to_enum_domain

    failing = [i for i in range(1000)
               if memory.query(to_enum_domain(f"+61255502{i:03d}"), "NAPTR").rcode == "NXDOMAIN"]
    assert len(failing) == 99
    assert failing[0] == 300 and failing[-1] == 399 and 345 not in failing
