"""Pictures of the flow (issue 13): drawn from real runs, and checked for what they show."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from enumlab import EmbeddedServer, Resolver, plot, resolve_enum


def _texts(ax: object) -> list[str]:
    return [t.get_text() for t in ax.texts]  # type: ignore[attr-defined]


def test_ladder_shows_tc_then_tcp_from_a_real_resolution() -> None:
    with EmbeddedServer() as server:
        result = resolve_enum("+61355500999", Resolver(server.host, server.port))
    ax = plot.ladder(result.trace, next_hop=result.uris[0])
    texts = _texts(ax)
    arrows = [a for a in ax.texts if a.get_text() == ""]  # annotations carry no text
    assert len(arrows) == 2 * 2 + 1  # UDP query/answer, TCP query/answer, the INVITE
    assert any("TC=1" in t and "retry over TCP" in t for t in texts)
    assert any("(TCP, 49 B)" in t for t in texts) and any("(UDP, 49 B)" in t for t in texts)
    assert any(t.startswith("DNS 127.0.0.1:") for t in texts) and "SIP INVITE" in texts
    plt.close("all")


def test_ladder_of_a_plain_udp_answer_has_no_tc() -> None:
    with EmbeddedServer() as server:
        result = resolve_enum("+61355500913", Resolver(server.host, server.port))
    ax = plot.ladder(result.trace)
    assert not any("TC=1" in t for t in _texts(ax))
    assert sum(1 for t in ax.texts if t.get_text() == "") == 2
    plt.close("all")


def test_fragments_vs_mtu_counts_fragments_as_rfc_791_cuts_them() -> None:
    # the lab capture: a 2,850-byte answer at MTU 1280 arrives in 3 IPv4 fragments
    ax = plot.fragments_vs_mtu(2850, 1280)
    assert "3 fragments" in ax.get_title()
    assert len(ax.patches) == 2 * 3  # header + data bar per fragment
    assert "datagram" in plot.fragments_vs_mtu(1200, 1280).get_title()
    v6 = plot.fragments_vs_mtu(2850, 1280, family="ipv6")
    assert "3 fragments" in v6.get_title()
    # a 1,232-byte answer fits an IPv6 1,280 path exactly (RFC 8200's minimum MTU)
    assert "1 datagram" in plot.fragments_vs_mtu(1232, 1280, family="ipv6").get_title()
    plt.close("all")


def test_enum_tree_finds_the_exceptions_empty_non_terminals_and_their_99_numbers() -> None:
    from enumlab.server import DEFAULT_ZONE_DIR

    ax = plot.enum_tree(DEFAULT_ZONE_DIR, "2.0.5.5.5.2.1.6.e164.arpa", number_length=11)
    texts = _texts(ax)
    assert "*" in texts and "3" in texts and "4" in texts and "5" in texts
    assert any("+612555023xx: 99 numbers" in t for t in texts)  # the seed's ported exception
    assert sum("empty non-terminal" in t for t in texts) == 2 and "records" in texts
    # the +61255501x block has a wildcard and no exception: nothing blocked
    other = _texts(plot.enum_tree(DEFAULT_ZONE_DIR, "1.0.5.5.5.2.1.6.e164.arpa", number_length=11))
    assert not any("empty non-terminal" in t for t in other)
    plt.close("all")
