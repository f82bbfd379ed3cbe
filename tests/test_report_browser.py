"""The HTML capture report in a real browser: headless Chromium (Debian ``chromium``) renders
it -- summary, warnings, transactions -- and its plots are real, non-empty images."""

from __future__ import annotations

import base64
import io
import re
import subprocess
from pathlib import Path

import numpy as np

from enumlab.capture.report import analyze, write_html

from .conftest import ROOT, require_tool


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    browser = require_tool("chromium", "chromium")
    return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
                           *args], capture_output=True, text=True, timeout=120)


def test_the_html_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    import matplotlib.image

    analysis = analyze(ROOT / "data" / "captures" / "ipv6_packet_too_big.pcapng")
    report = write_html(analysis, tmp_path / "report.html")
    dom = _chromium(tmp_path, "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-500:]
    assert "DNS capture report" in dom.stdout and "Transactions (4)" in dom.stdout
    assert "packet-too-big" in dom.stdout
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', dom.stdout)
    assert len(images) == 3
    for data in images:  # each plot is a real PNG with something drawn on it
        pixels = matplotlib.image.imread(io.BytesIO(base64.b64decode(data)), format="png")
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100
        assert float(np.std(pixels[..., :3])) > 0.05
    shot = tmp_path / "shot.png"
    done = _chromium(tmp_path, "--window-size=1400,1800", f"--screenshot={shot}",
                     report.as_uri())
    assert done.returncode == 0 and shot.stat().st_size > 10_000
    page = matplotlib.image.imread(shot)
    ink = float(np.mean(page[..., :3].mean(axis=2) < 0.9))
    assert ink > 0.03  # text, tables and plots were painted, not a blank page
