"""The notebooks' live controls (issue 26), through the plain functions each widget shows, and
the widgets themselves built without a browser: Run All then a control must still work."""

from __future__ import annotations

import numpy as np
import pytest

from enumlab import EmbeddedServer, InputError, Resolver
from enumlab.core.policies import Entry, RecordSet
from enumlab.teach.widgets import (
    explain_live,
    fleet_summary,
    fragments_for,
    live_resolver,
    number_box,
    p_value_at,
    split_sliders,
    split_with,
)


def test_the_number_box_after_the_server_was_stopped_starts_it_again() -> None:
    server = EmbeddedServer().start()
    try:
        assert "1. sip:service@server1" in explain_live("+61355500914", server)
        box = number_box(server, "+61355500914")  # builds, and shows its first answer
        assert box.children[0].value == "+61355500914"
        port = server.port
        server.stop()  # what the old last cell did: Run All stopped the lab
        text = explain_live("+61355500912", server)  # the learner types a number
        assert server.port == port  # the same port again: the notebook's resolver still works
        assert text.startswith("(the lab server had been stopped; started again on ")
        assert "URIs, in order:" in text and "Error" not in text
        assert "URIs, in order:" in explain_live("+61355500913", server)  # and it stays up
    finally:
        server.stop()


def test_a_number_box_on_a_plain_resolver_says_in_one_line_that_the_server_is_down() -> None:
    with EmbeddedServer() as server:
        resolver = Resolver(server.host, server.port, timeout=0.3)
    text = explain_live("+61355500912", resolver)
    assert "\n" not in text and "not running" in text


def test_live_resolver_leaves_a_running_server_alone() -> None:
    with EmbeddedServer() as server:
        port = server.port
        resolver, note = live_resolver(server)
        assert note == "" and resolver.port == port


def test_sliders_after_stop_still_answer() -> None:
    server = EmbeddedServer().start()
    try:
        widget = split_sliders(server, "+61355500913", n=2_000)
        assert [s.description for s in widget.children[:3]] == ["server1", "server2", "server3"]
        server.stop()
        table = split_with(server, "+61355500913", [10, 100, 100], n=2_000,
                           rng=np.random.default_rng(1))  # what moving a slider runs
        assert table.loc["server1", ("rfc3403", "expected")] == 1.0
    finally:
        server.stop()


@pytest.mark.parametrize(("mtu", "edns", "fits", "pieces"), [
    (1500, 1232, True, None),  # 1232 + 8 + 20 = 1260
    (1280, 1252, True, None),  # exactly 1280
    (1280, 1253, False, 2),
    (1280, 4096, False, 4),  # 4104 B of UDP in 1256-byte pieces
])
def test_fragments_for_does_the_header_arithmetic(mtu: int, edns: int, fits: bool,
                                                   pieces: int | None) -> None:
    text = fragments_for(mtu, edns)
    assert f"+ 8 B UDP + 20 B IPV4 = {edns + 28} B" in text
    assert ("no fragments" in text.split(".")[0] or "one packet" in text) == fits
    if pieces:
        assert f"as {pieces} fragments" in text
    assert f"{mtu - 28} B" in text  # the largest size without fragments, said every time
    with pytest.raises(InputError):
        fragments_for(100, 1232)


def test_p_value_at_never_says_zero() -> None:
    idx = np.zeros(200_000, dtype=np.int64)  # everything to one target: p underflows
    text = p_value_at(idx, [0.5, 0.5], 200_000)
    assert "p < 1e-300" in text and "sees the bias" in text
    fair = np.random.default_rng(2).integers(0, 2, 1_000)
    assert "no evidence against" in p_value_at(fair, [0.5, 0.5], 1_000)


def test_fleet_summary_counts_decisions_by_ttl() -> None:
    rs = RecordSet(tuple(Entry(t, 10, w) for t, w in (("a.", 25), ("b.", 25), ("c.", 50))),
                   "srv")
    _, short = fleet_summary(rs, 60, 4, 0, 0, duration=3_600)
    _, long = fleet_summary(rs, 600, 4, 0, 0, duration=3_600)

    def decisions(line: str) -> int:
        return int(line.split(" decisions")[0].rsplit(", ", 1)[1].replace(",", ""))

    assert decisions(short) > 5 * decisions(long)  # ten times the TTL, a tenth of the epochs
    with pytest.raises(InputError):
        fleet_summary(rs, 60, 0, 0, 0)
