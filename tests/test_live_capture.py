"""A capture made live on loopback (dumpcap) is read back and tells the story it recorded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from enumlab.capture.report import analyze
from enumlab.lab.live_capture import capture_lab_queries

from .conftest import IN_CI, require_tool


def test_a_live_loopback_capture_shows_tc_then_tcp(tmp_path: Path) -> None:
    require_tool("dumpcap", "wireshark-common")
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("live capture needs root")
        pytest.skip("live capture needs root")
    live = capture_lab_queries(tmp_path / "live.pcapng")
    assert live.path is not None, live.reason
    assert live.port is not None
    s = analyze(live.path, ports=(live.port,)).summary
    assert s["outcomes"]["truncated_tcp_ok"] == 2 and s["outcomes"]["ok"] >= 3
    assert s["truncated"] == 2 and s["messages"]["tcp"]["responses"] == 2


def test_without_root_it_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    live = capture_lab_queries(tmp_path / "x.pcapng")
    assert live.path is None and ("root" in live.reason or "dumpcap" in live.reason)
