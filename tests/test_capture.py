"""Capture forensics on real captures (data/captures, made by make_captures.py from real
traffic in network namespaces): every count and classification in labels.json."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from enumlab import ToolMissingError
from enumlab.capture import CaptureError, load_capture, packet_detail, read_capture_filter
from enumlab.capture.report import analyze, save_transactions, write_html
from enumlab.capture.transactions import COLUMNS, OUTCOMES, build_transactions

from .conftest import IN_CI, ROOT, require_tool
from .test_capture_engines import compare as compare_engines

CAPTURES = ROOT / "data" / "captures"
LABELS = json.loads((CAPTURES / "labels.json").read_text())


def ports_of(name: str) -> tuple[int, ...]:
    """Non-standard DNS ports a labelled capture uses (read with --port)."""
    return tuple(LABELS.get(name, {}).get("ports", ()))


@pytest.fixture(autouse=True)
def _tshark() -> None:
    require_tool("tshark", "tshark")


@pytest.mark.parametrize("name", sorted(LABELS))
def test_every_labelled_capture(name: str) -> None:
    label = LABELS[name]
    path = CAPTURES / name
    assert path.stat().st_size < 1_000_000
    analysis = analyze(path, ports=ports_of(name))
    s = analysis.summary
    t = analysis.transactions
    assert s["transactions"] == label["transactions"]
    assert s["outcomes"] == {o: label["outcomes"].get(o, 0) for o in OUTCOMES}
    assert list(t.columns) == list(COLUMNS)
    if "truncated" in label:
        assert s["truncated"] == label["truncated"]
    if "tcp_fallback_ok" in label:
        assert s["tcp_fallback"]["ok"] == label["tcp_fallback_ok"]
    if "tcp_fallback_failed" in label:
        assert s["tcp_fallback"]["failed"] == label["tcp_fallback_failed"]
    if "fragmented_responses" in label:
        assert s["fragmented_responses"] == label["fragmented_responses"]
    if "fragments_per_response" in label:
        assert set(t.loc[t["fragmented"].fillna(False), "fragments"]) == {
            label["fragments_per_response"]}
    if "icmp" in label:
        assert s["icmp"]["count"] == label["icmp"]
    if "icmp_mtu" in label:
        assert s["icmp"]["mtus"] == [label["icmp_mtu"]]
    if "retransmissions" in label:
        assert int(t["retransmissions"].sum()) == label["retransmissions"]
    if "family" in label:
        assert set(t["family"]) == {label["family"]}
    if "capture_filter" in label:
        assert s["capture_filter"] == label["capture_filter"]
    for needle in label.get("warnings_contain", []):
        assert any(needle in w for w in s["warnings"]), (needle, s["warnings"])
    if not label.get("warnings_contain"):
        assert s["warnings"] == []


def test_truncation_details() -> None:
    t = analyze(CAPTURES / "truncation_tcp_fallback.pcapng").transactions
    tc = t[t["tc"].fillna(False)]
    assert set(tc["tcp_fallback"]) == {"ok"}
    assert (tc["fallback_latency_ms"] > 0).all()
    assert (tc["dns_size"] <= 512).all()  # the truncated UDP answers themselves
    tcp = t[t["transport"] == "tcp"]
    assert (tcp["dns_size"] > 512).all() and (tcp["outcome"] == "ok").all()
    refused = analyze(CAPTURES / "truncation_tcp_refused.pcapng").transactions
    assert "connection refused (RST)" in refused["icmp"].iloc[0]
    ignored = analyze(CAPTURES / "truncation_ignored.pcapng").transactions
    assert set(ignored["tcp_fallback"]) == {"none"}


def test_size_budget_and_edns() -> None:
    analysis = analyze(CAPTURES / "edns_fragmented_mtu1280.pcapng", mtu=1280)
    t = analysis.transactions
    assert set(t["edns_size"]) == {4096}
    assert t["over_1232"].all() and t["over_1400"].all() and t["over_path_1500"].all()
    assert t["over_mtu"].all() and not t["over_offered"].any()
    assert analysis.summary["responses_over"]["mtu_1280"] == 2
    assert analysis.summary["largest_response"]["dns_size"] > 2500


def test_icmp_port_unreachable_is_linked_to_its_query() -> None:
    t = analyze(CAPTURES / "unanswered.pcapng", ports=ports_of("unanswered.pcapng")).transactions
    assert t["icmp"].fillna("").str.contains("port-unreachable").sum() == 1
    # without --port the capture's DNS (on 5300/5301) is not DNS to enumlab: said, not guessed
    with pytest.raises(CaptureError, match="no DNS messages"):
        analyze(CAPTURES / "unanswered.pcapng")


def test_gtpu_decoding_changes_nothing() -> None:
    plain = analyze(CAPTURES / "truncation_tcp_fallback.pcapng").transactions
    tunnel = analyze(CAPTURES / "gtpu_encapsulated.pcap").transactions
    columns = ["client", "server", "qname", "transport", "tc", "dns_size", "outcome"]
    pd.testing.assert_frame_equal(plain[columns], tunnel[columns])


@pytest.mark.parametrize("name", sorted(LABELS))
def test_compiled_and_interpreted_kernels_give_identical_tables(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import enumlab.capture.columns

    path = CAPTURES / name
    # compiled: the header walk, DNS decoding, and (forced on however few rows) the hash-table
    # factorisation and counting sort; interpreted: the sort-based ones
    monkeypatch.setattr(enumlab.capture.columns, "HASH_MIN_ROWS", 0)
    compiled = load_capture(path, engine="native", jit=True, ports=ports_of(name))
    compiled_txns = build_transactions(compiled)
    monkeypatch.setattr(enumlab.capture.columns, "HASH_MIN_ROWS", 1 << 62)
    interpreted = load_capture(path, engine="native", jit=False, ports=ports_of(name))
    for table in ("messages", "fragments", "icmp", "tcp"):
        pd.testing.assert_frame_equal(getattr(compiled, table), getattr(interpreted, table))
    pd.testing.assert_frame_equal(compiled_txns, build_transactions(interpreted))


def test_parquet_csv_and_html(tmp_path: Path) -> None:
    analysis = analyze(CAPTURES / "ipv6_packet_too_big.pcapng")
    back = pd.read_parquet(save_transactions(analysis, tmp_path / "t.parquet"))
    assert len(back) == 4 and str(back["client_port"].dtype) == "Int64"
    assert list(back["outcome"]) == list(analysis.transactions["outcome"].astype(str))
    csv = pd.read_csv(save_transactions(analysis, tmp_path / "t.csv"))
    human = [c for c in csv.columns if c.endswith("_time_utc")]
    assert human == ["query_time_utc", "response_time_utc"]  # ISO 8601 beside each epoch
    assert [c for c in csv.columns if c not in human] == list(COLUMNS)
    first = analysis.transactions["query_time"].iloc[0]
    expected = pd.Timestamp(first, unit="s", tz="UTC").round("us").strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")
    assert csv["query_time_utc"].iloc[0] == expected
    page = write_html(analysis, tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "packet-too-big" in page
    assert "e+09" not in page and expected in page  # no 1.795776e+09 for a time


def test_capture_filter_is_read_from_pcapng() -> None:
    assert read_capture_filter(CAPTURES / "port53_filter.pcapng") == "udp port 53 or tcp port 53"
    assert read_capture_filter(CAPTURES / "edns_fragmented_mtu1280.pcapng") is None
    assert read_capture_filter(CAPTURES / "gtpu_encapsulated.pcap") is None  # classic pcap


def test_damaged_capture_keeps_what_was_read(tmp_path: Path) -> None:
    source = (CAPTURES / "truncation_tcp_fallback.pcapng").read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(source[: int(len(source) * 0.6)])
    analysis = analyze(cut)
    assert any("damaged" in w for w in analysis.summary["warnings"])
    assert 1 <= analysis.summary["transactions"] < 5


def test_not_a_capture_missing_file_and_no_dns(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture at all" * 10)
    with pytest.raises(CaptureError, match="not a pcap or pcapng capture"):
        analyze(junk)
    with pytest.raises(CaptureError, match="not a capture file tshark can read"):
        analyze(junk, engine="tshark")
    with pytest.raises(CaptureError, match="does not exist"):
        analyze(tmp_path / "missing.pcapng")
    no_dns = tmp_path / "no_dns.pcapng"
    subprocess.run(["editcap", "-r", str(CAPTURES / "truncation_tcp_fallback.pcapng"),
                    str(no_dns), "1-2"], check=True, capture_output=True)
    with pytest.raises(CaptureError, match="no DNS messages"):
        analyze(no_dns)


def test_missing_tshark_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolMissingError, match="Debian package tshark"):
        analyze(CAPTURES / "truncation_ignored.pcapng", engine="tshark")
    # the native engine needs no tshark at all
    assert analyze(CAPTURES / "truncation_ignored.pcapng").summary["transactions"] == 2


def test_pyshark_detail_works_inside_a_running_event_loop() -> None:
    # what a Jupyter kernel looks like to pyshark: a loop is already running in this thread
    frame = int(analyze(CAPTURES / "truncation_tcp_fallback.pcapng").transactions[
        "response_frame"].dropna().iloc[-1])

    async def inside_a_kernel() -> str:
        return packet_detail(CAPTURES / "truncation_tcp_fallback.pcapng", frame)

    text = asyncio.run(inside_a_kernel())
    assert ("Layer DNS" in text and "Standard query response" not in text) or "DNS" in text
    with pytest.raises(CaptureError, match="no frame"):
        packet_detail(CAPTURES / "unanswered.pcapng", 99999)


def test_cli_json_contract() -> None:
    out = subprocess.run([sys.executable, "-m", "enumlab.cli", "pcap",
                          str(CAPTURES / "fragments_lost.pcapng"), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in ("packets", "transactions", "outcomes", "truncated", "tcp_fallback",
                "fragmented_responses", "icmp", "largest_response", "edns_sizes", "warnings"):
        assert key in data
    assert set(data["outcomes"]) == set(OUTCOMES) and data["outcomes"]["fragments_lost"] == 1
    assert set(data["tcp_fallback"]) >= {"ok", "failed", "latency_ms"}
    assert set(data["tcp_fallback"]["latency_ms"]) == {"median", "p95"}


def test_the_capture_script_remakes_captures_that_match_their_labels(tmp_path: Path) -> None:
    for program, package in (("ip", "iproute2"), ("dumpcap", "wireshark-common"),
                             ("iptables", "iptables"), ("kdig", "knot-dnsutils"),
                             ("dig", "bind9-dnsutils"), ("editcap", "wireshark-common")):
        require_tool(program, package)
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("re-making captures needs root (network namespaces)")
        pytest.skip("re-making captures needs root (network namespaces)")
    out = subprocess.run([sys.executable, str(CAPTURES / "make_captures.py"), str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    labels = json.loads((tmp_path / "labels.json").read_text())
    assert labels == LABELS  # the committed labels are what the script produces
    for name, label in labels.items():
        s = analyze(tmp_path / name, ports=ports_of(name)).summary
        compare_engines(tmp_path / name, ports_of(name))  # the re-made traffic, both engines
        assert s["outcomes"] == {o: label["outcomes"].get(o, 0) for o in OUTCOMES}, name
    assert not shutil.which("nonexistent-tool")


@pytest.mark.parametrize("path", sorted(CAPTURES.glob("*.pcap*")), ids=lambda p: p.name)
def test_lost_fragment_counters_agree(path: Path) -> None:
    # issue 11: the summary said "outcomes: fragments_lost 1" and "with lost fragments: 0"
    summary = analyze(path, ports=ports_of(path.name)).summary
    assert summary["fragments_lost"] == summary["outcomes"].get("fragments_lost", 0)


@pytest.mark.parametrize("block", [1, 2, 5])
@pytest.mark.parametrize("name", sorted(LABELS))
def test_blocks_of_any_size_give_the_same_tables(name: str, block: int,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Records are decoded in blocks (two threads when compiled) and the second stage -- IP
    reassembly, TCP streams -- is fed block by block, its rebuilt messages' bytes in one side
    buffer: blocks of a few records give the one-block tables exactly."""
    import enumlab.capture.native as native

    path = CAPTURES / name
    whole = load_capture(path, engine="native", jit=True, ports=ports_of(name))
    monkeypatch.setattr(native, "BLOCK", block)
    cut = load_capture(path, engine="native", jit=True, ports=ports_of(name))
    for table in ("messages", "fragments", "icmp", "tcp"):
        pd.testing.assert_frame_equal(getattr(cut, table), getattr(whole, table))
    assert cut.warnings == whole.warnings
    pd.testing.assert_frame_equal(build_transactions(cut), build_transactions(whole))


def test_utc_times_are_the_microsecond_the_capture_holds() -> None:
    """Epoch seconds as a float lie just below most stamps (1700000700.01 is
    1700000700.0099999905...): shown to the microsecond, rounded -- never 1 us early."""
    from enumlab.capture.report import with_human_times

    shown = with_human_times(pd.DataFrame({"query_time": [1700000700.01, 1700000700.123457,
                                                          None]}))
    assert shown["query_time_utc"].tolist()[:2] == ["2023-11-14T22:25:00.010000Z",
                                                    "2023-11-14T22:25:00.123457Z"]
    assert pd.isna(shown["query_time_utc"].iloc[2])
