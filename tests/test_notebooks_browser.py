"""The notebooks in a real browser, used as a learner uses them (issue 26): JupyterLab started on
loopback (token set, root = the repository), driven in headless Chromium (Debian ``chromium``,
through Playwright's client -- no browser download): Run All on notebooks 01 and 05, then a
number typed into the box and sliders moved, and the right answer checked on the page. And
`make html`'s pages, opened with the network off, draw the widgets from their stored state."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from enumlab import EmbeddedServer, Resolver, resolve_enum

from .conftest import IN_CI, ROOT, require_tool


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def jupyter_lab(tmp_path: Path):  # type: ignore[no-untyped-def]
    port, token = _free_port(), secrets.token_hex(16)
    # a copy of the repository's notebooks (JupyterLab saves what it runs; the checkout stays
    # as it is), reading the repository's data and enumlab as a learner's do
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    (root / "data").symlink_to(ROOT / "data", target_is_directory=True)
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # every cell in the page, not only those scrolled into view: the test reads them all
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTER_DATA_DIR": str(tmp_path / "d"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                      os.environ.get("PYTHONPATH", "")]))}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--allow-root"]
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


@pytest.fixture
def chromium():  # type: ignore[no-untyped-def]
    browser_path = require_tool("chromium", "chromium")
    sync_api = pytest.importorskip("playwright.sync_api") if not IN_CI else \
        __import__("playwright.sync_api", fromlist=["sync_playwright"])
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path,
                                     args=["--no-sandbox", "--disable-dev-shm-usage",
                                           "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


def _run_all(page, base: str, token: str, notebook: str) -> None:  # type: ignore[no-untyped-def]
    """Open ``notebook`` in JupyterLab and Run All from the Run menu, as cell 1 tells the
    learner; return when the kernel is idle again and every code cell has run."""
    page.goto(f"{base}/lab/tree/notebooks/{notebook}?token={token}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    # a JupyterLab without a remembered kernel asks which one, once: the default is right
    chooser = page.locator(".jp-Dialog", has_text="Select Kernel")
    with contextlib.suppress(Exception):
        chooser.wait_for(timeout=5_000)
    if chooser.count():
        chooser.locator("button", has_text="Select").click()
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=60_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    code = sum(c["cell_type"] == "code" for c in cells)
    try:
        page.wait_for_function(
            """n => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                      .map(e => e.textContent.trim());
                      return p.length === n && p.every(t => /^\\[\\d+\\]:$/.test(t)); }""",
            arg=code, timeout=int(os.environ.get("ENUMLAB_RUN_ALL_TIMEOUT", "240000")),
            polling=500)
    except Exception as error:
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        page.screenshot(path=str(ROOT / "build" / f"run-all-{notebook}.png"))
        raise AssertionError(f"Run All of {notebook} did not finish: {code} code cells, "
                             f"prompts {prompts}") from error
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=60_000)


def _no_error_on(page) -> None:  # type: ignore[no-untyped-def]
    errors = page.locator(".jp-OutputArea-output[data-mime-type="
                          "'application/vnd.jupyter.stderr']").all_inner_texts()
    assert not [e for e in errors if "Error" in e or "Traceback" in e], errors
    text = page.locator(".jp-Notebook").inner_text()
    assert "Traceback" not in text and "ServerUnreachableError" not in text
    assert not page.locator(".jp-Dialog").count()


def _set_slider(page, label: str, value: int) -> None:  # type: ignore[no-untyped-def]
    """Type a value into an ipywidgets slider's readout (what a learner does for an exact
    value; dragging does the same on release)."""
    slider = page.locator(".widget-slider", has=page.locator(".widget-label", has_text=label))
    readout = slider.first.locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(str(value))
    page.keyboard.press("Enter")


def test_notebook_01_run_all_then_the_number_box_answers(jupyter_lab, chromium  # type: ignore[no-untyped-def]
                                                         ) -> None:
    base, token = jupyter_lab
    with EmbeddedServer() as server:  # the answer, worked out beside the notebook's own lab
        uris = resolve_enum("+61355500914", Resolver(server.host, server.port)).uris
    page = chromium.new_page()
    _run_all(page, base, token, "01_enum_basics.ipynb")
    _no_error_on(page)
    box = page.locator(".widget-text input").first
    box.fill("+61355500914")
    box.press("Enter")
    answer = page.locator(".widget-vbox", has=page.locator(".widget-text")).first
    expect_text = f"1. {uris[0]}"
    page.wait_for_function(
        "([t]) => [...document.querySelectorAll('.widget-vbox')].some(e => "
        "e.innerText.includes(t) && e.innerText.includes('+61355500914 ->'))",
        arg=[expect_text], timeout=30_000)
    shown = answer.inner_text()
    assert expect_text in shown and "Error" not in shown and "not running" not in shown
    _no_error_on(page)


def test_notebook_05_run_all_then_the_sliders_answer(jupyter_lab, chromium  # type: ignore[no-untyped-def]
                                                     ) -> None:
    base, token = jupyter_lab
    page = chromium.new_page()
    _run_all(page, base, token, "05_load_split_validation.ipynb")
    _no_error_on(page)
    # server1's PREFERENCE from 100 to 10: RFC 3403 now sends every first choice to server1
    _set_slider(page, "server1", 10)
    page.wait_for_function(
        """() => [...document.querySelectorAll('.widget-vbox tr')].some(r => {
               const c = [...r.children].map(x => x.innerText.trim());
               return c[0] === 'server1' && c[1] === '1.0' && c[2] === '1.0'; })""",
        timeout=60_000)
    # the sample-size slider on the p-value plot: the verdict at the new n
    _set_slider(page, "selections", 50_000)
    page.wait_for_function(
        "() => document.body.innerText.includes('first 50,000 selections: chi-square p')",
        timeout=60_000)
    _no_error_on(page)


def test_make_html_is_readable_offline_with_its_widgets(tmp_path: Path, chromium  # type: ignore[no-untyped-def]
                                                        ) -> None:
    out = subprocess.run(["make", "-s", "html-only", f"HTML_DIR={tmp_path}",
                          f"PY={sys.executable}",
                          "NOTEBOOKS=notebooks/01_enum_basics.ipynb"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-1500:]
    page_file = tmp_path / "01_enum_basics.html"
    html = page_file.read_text()
    assert "<html" in html and "jp-OutputArea" in html and "Traceback" not in html
    assert "application/vnd.jupyter.widget-state+json" in html  # the widgets' state, stored
    # nothing fetched from elsewhere: scripts, styles and the widget manager are local
    assert not re.search(r'<(script|link)[^>]+(src|href)="https?:', html)
    assert "cdn" not in html.lower().split("<body")[0]
    context = chromium.new_context(offline=True)
    asked: list[str] = []

    def refuse(route):  # type: ignore[no-untyped-def]
        asked.append(route.request.url)
        route.abort()

    context.route(re.compile(r"^(?!file:).*"), refuse)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_file.as_uri())
    # the html-manager drew the number box and its output from the stored state
    drawn = page.locator(".jupyter-widgets", has_text="URIs, in order:").first
    drawn.wait_for(timeout=30_000)
    assert page.locator(".jupyter-widgets input").first.input_value() == "+61355500912"
    assert "sip:service@server" in drawn.inner_text()
    assert asked == [] and errors == []
    # every picture has alt text
    alts = page.locator(".jp-OutputArea img").evaluate_all("els => els.map(e => e.alt)")
    assert alts and all(len(a) > 40 for a in alts), alts
    context.close()
