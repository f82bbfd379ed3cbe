"""The notebooks in a real browser: JupyterLab started on loopback (token set, root = the
repository), notebook 01 opened in headless Chromium (Debian ``chromium``), and the rendered
page checked -- the notebook and its cells are there, no error dialog. And `make html`'s
renderer turns an executed notebook into a page readable without Jupyter."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT, require_tool


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def jupyter_lab(tmp_path: Path):  # type: ignore[no-untyped-def]
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTER_DATA_DIR": str(tmp_path / "d")}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={ROOT}", "--allow-root"]
    log = open(tmp_path / "jupyter.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("JupyterLab did not start: " + (
                        tmp_path / "jupyter.log").read_text(errors="replace")[-800:]) from None
                time.sleep(0.3)
        yield base, token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # stop what we started, by its PID
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_notebook_01_renders_in_jupyterlab_in_headless_chromium(jupyter_lab, tmp_path: Path  # type: ignore[no-untyped-def]
                                                                 ) -> None:
    base, token = jupyter_lab
    browser = require_tool("chromium", "chromium")
    url = f"{base}/lab/tree/notebooks/01_enum_basics.ipynb?token={token}"
    page = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
                           "--virtual-time-budget=45000", "--dump-dom", url],
                          capture_output=True, text=True, timeout=180)
    assert page.returncode == 0, page.stderr[-500:]
    dom = page.stdout
    assert "jp-LabShell" in dom, dom[:500]  # JupyterLab's shell was built by its JavaScript
    assert "jp-Notebook" in dom and dom.count("jp-Cell ") + dom.count('jp-Cell"') >= 5
    assert "ENUM" in dom  # the notebook's own text
    assert not re.search(r'class="[^"]*\bjp-Dialog\b', dom)  # no error (or any) dialog over it
    # the worked solutions are there but collapsed: JupyterLab draws a placeholder for each
    # cell whose input is hidden (metadata jupyter.source_hidden), and none for the others
    cells = json.loads((ROOT / "notebooks" / "01_enum_basics.ipynb").read_text())["cells"]
    hidden = sum(bool(c["metadata"].get("jupyter", {}).get("source_hidden")) for c in cells)
    placeholders = re.findall(r'class="[^"]*\bjp-InputPlaceholder\b[^"]*"', dom)
    assert hidden >= 3 and len(placeholders) == hidden, (hidden, len(placeholders))


def test_make_html_renders_an_executed_notebook(tmp_path: Path) -> None:
    out = subprocess.run(["make", "-s", "html-only", f"HTML_DIR={tmp_path}",
                          "NOTEBOOKS=notebooks/01_enum_basics.ipynb"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-1500:]
    page = (tmp_path / "01_enum_basics.html").read_text()
    assert "<html" in page and "jp-OutputArea" in page and "Traceback" not in page
