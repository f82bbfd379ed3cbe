"""Pictures of the flow (issue 13): drawn from real runs, and checked for what they show."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from enumlab import EmbeddedServer, Resolver, resolve_enum
from enumlab.teach import plot


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
    from enumlab.lab.server import DEFAULT_ZONE_DIR

    ax = plot.enum_tree(DEFAULT_ZONE_DIR, "2.0.5.5.5.2.1.6.e164.arpa", number_length=11)
    texts = _texts(ax)
    assert "*" in texts and "3" in texts and "4" in texts and "5" in texts
    assert any("+612555023xx: 99 numbers" in t for t in texts)  # the seed's ported exception
    assert sum("empty non-terminal" in t for t in texts) == 2 and "records" in texts
    # the +61255501x block has a wildcard and no exception: nothing blocked
    other = _texts(plot.enum_tree(DEFAULT_ZONE_DIR, "1.0.5.5.5.2.1.6.e164.arpa", number_length=11))
    assert not any("empty non-terminal" in t for t in other)
    plt.close("all")


def _lit_boxes(ax: object) -> set[str]:
    """Texts of the boxes drawn as taken (orange fill)."""
    lit = set()
    for t in ax.texts:  # type: ignore[attr-defined]
        patch = t.get_bbox_patch()
        if patch is not None and matplotlib.colors.to_hex(patch.get_facecolor()) == "#ffd8a8":
            lit.add(t.get_text())
    return lit


D = "mnc001.mcc001.3gppnetwork.org"


@pytest.mark.parametrize(
    ("uri", "path", "ends"),
    [
        # NAPTR with usable SIP services -> SRV at each replacement (RFC 3263 s4.1)
        (f"sip:ims.{D}", ["naptr?", "srv_naptr", "a_srv"], "A/AAAA of each SRV target"),
        # the seed's I-CSCF pitfall: a port means A/AAAA only (s4.2)
        (f"sip:scscf.{D}:6060", ["port?", "a_port"], "A/AAAA only"),
        # transport= fixes the transport: SRV for it, no NAPTR (s4.1)
        (f"sip:scscf.{D};transport=udp", ["transport?", "srv_transport", "a_srv"], "SRV target"),
        # a numeric host needs no DNS at all
        ("sip:192.0.2.7", ["numeric?", "no_dns"], "no DNS"),
        # nothing in DNS: SRV per transport, then A/AAAA with the default port
        (f"sip:nothing.{D}", ["naptr?", "srv_each", "a_default"], "5060 (5061 TLS)"),
    ],
)
def test_rfc3263_flow_highlights_the_path_a_real_resolution_took(
        uri: str, path: list[str], ends: str) -> None:
    import numpy as np

    from enumlab.resolve.sip_location import FLOW, locate_sip_server

    with EmbeddedServer() as server:
        location = locate_sip_server(uri, Resolver(server.host, server.port),
                                     rng=np.random.default_rng(1))
    assert location.path[0] == "uri" and location.path[-len(path):] == path
    assert all(b in dict((n, 0) for _, n in FLOW[a][1]) for a, b in
               zip(location.path, location.path[1:], strict=False))  # only edges of the flow
    ax = plot.rfc3263_flow(location)
    lit = _lit_boxes(ax)
    wanted = {FLOW[n][0] for n in location.path[1:]} | {uri}
    assert lit == wanted  # exactly the path's boxes are lit
    assert ends in ax.get_title() and f"{len(location.targets)} target(s)" in ax.get_title()
    plt.close("all")


def test_s8_picture_is_drawn_from_the_selection_it_is_given() -> None:
    import numpy as np

    from enumlab.core.epc_fqdn import apn_fqdn, plmn_from_imsi
    from enumlab.resolve.snaptr import snaptr_select

    home = plmn_from_imsi("001010123456789", mnc_digits=2)
    with EmbeddedServer() as server:
        result = snaptr_select(apn_fqdn("ims", home), Resolver(server.host, server.port),
                               node="pgw", interface="s8", policy="rfc3403",
                               rng=np.random.default_rng(1))
    chosen = result.selected
    assert chosen is not None
    texts = "\n".join(_texts(plot.s8_home_routing(result)))
    # the seed's answer: topon.lb1.pgw01 -> 192.0.2.102 in the S8 F-TEID
    assert "pgw01" in texts and f"PGW S8 F-TEID {chosen.addresses()[0]}" in texts
    assert "NAPTR ims.apn.epc.mnc001.mcc001.3gppnetwork.org?" in texts
    assert "home PLMN (mnc001.mcc001)" in texts and "keep x-3gpp-pgw:x-s8-gtp -> pgw01" in texts
    plt.close("all")
