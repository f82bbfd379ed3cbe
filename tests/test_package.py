"""enumlab as a user installs it: the wheel and sdist built once (no network: ``python -m build
--no-isolation`` with the setuptools of the project's environment), their contents listed
against the repository, and the wheel installed into a fresh venv outside the repository that
runs the whole tour from an empty directory -- each command checked for what it prints.

The fresh venv is made ``--without-pip`` and without system site-packages; the wheel goes in
with ``pip --python VENV install --no-deps``. Its dependencies (numpy, pandas, numba, ...; about
a gigabyte) are not downloaded again: one ``.pth`` line appends the project environment's
site-packages *after* the venv's own, so ``import enumlab`` finds only the installed wheel
(checked) while ``import numpy`` finds the project's. Lines of a ``.pth`` file are plain paths
here: the project environment's own ``.pth`` files (its editable enumlab) are not processed.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import tarfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import ROOT, require_tool

DATA_GLOBS = ("zones/*.zone", "captures/*.pcap*", "captures/labels.json", "fleet/*.pcapng",
              "samples/*.csv", "kamailio/*.cfg")


@dataclass(frozen=True)
class Installed:
    """The built archives and a venv with only the wheel installed."""

    wheel: Path
    sdist: Path
    venv: Path
    package: Path  # enumlab/ inside the venv's site-packages
    empty: Path  # an empty working directory outside the repository

    @property
    def enumlab(self) -> str:
        return str(self.venv / "bin" / "enumlab")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "ENUMLAB_ZONES")}
        env["PATH"] = f"{self.venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
        return env

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.enumlab, *args], cwd=self.empty, env=self.env(),
                              capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("package")
    dist = base / "dist"
    # sdist first, then the wheel built from the unpacked sdist: the sdist must carry everything
    build = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                            str(dist), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    (wheel,) = dist.glob("enumlab-*.whl")
    (sdist,) = dist.glob("enumlab-*.tar.gz")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    venv_python = venv / "bin" / "python"
    purelib = subprocess.run([str(venv_python), "-c",
                              "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv_python), "install",
                          "--quiet", "--no-deps", "--no-index", str(wheel)],
                         capture_output=True, text=True, timeout=120, env=clean)
    assert pip.returncode == 0, pip.stderr[-2000:]
    # after the install, so that pip does not take the project's editable enumlab for this one
    Path(purelib, "enumlab-test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    empty = base / "empty"
    empty.mkdir()
    return Installed(wheel, sdist, venv, Path(purelib) / "enumlab", empty)


def _repository_files(folder: str, globs: tuple[str, ...]) -> set[str]:
    return {p.relative_to(ROOT / folder).as_posix() for g in globs
            for p in (ROOT / folder).glob(g)}


def test_wheel_carries_every_module_data_file_and_notebook(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "enumlab").rglob("*.py")}
    assert modules and not modules - names, sorted(modules - names)  # no subpackage forgotten
    data = _repository_files("data", DATA_GLOBS)
    assert len(data) >= 20
    assert not {f"enumlab/_data/{d}" for d in data} - names
    notebooks = _repository_files("notebooks", ("*.ipynb",))
    assert len(notebooks) >= 7
    assert not {f"enumlab/_notebooks/{n}" for n in notebooks} - names
    assert "enumlab/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "data/", "notebooks/"))
                or "__pycache__" in n or n.endswith(".pyc")]


def test_sdist_carries_the_repository_layout(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    data = _repository_files("data", DATA_GLOBS)
    assert not {f"data/{d}" for d in data} - names
    assert not {f"notebooks/{n}" for n in _repository_files("notebooks", ("*.ipynb",))} - names
    assert {"pyproject.toml", "README.md", "enumlab/__init__.py"} <= names


def test_check_wheel_contents_passes(installed: Installed) -> None:
    tool = Path(sys.executable).with_name("check-wheel-contents")
    check = subprocess.run([str(tool), str(installed.wheel)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0 and ": OK" in check.stdout, check.stdout + check.stderr


def test_installed_package_is_the_wheel_and_knows_its_version(installed: Installed) -> None:
    probe = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c",
         "import enumlab, enumlab.core.paths as p, importlib.metadata as m; "
         "print(enumlab.__file__); print(p.DEFAULT_ZONE_DIR); print(m.version('enumlab'));"
         "print(enumlab.__version__)"],
        cwd=installed.empty, env=installed.env(), capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    where, zones, dist_version, version = probe.stdout.split()
    assert Path(where).parent == installed.package  # not the repository's enumlab
    assert Path(zones) == installed.package / "_data" / "zones"
    assert dist_version == version
    shown = installed.run("--version")
    assert shown.returncode == 0 and shown.stdout.split()[:2] == ["enumlab", version], shown


def test_tour_enum_sip_epc_from_an_empty_directory(installed: Installed) -> None:
    enum = installed.run("enum", "+61355500913", "--json")
    assert enum.returncode == 0, enum.stderr
    result = json.loads(enum.stdout)
    assert result["domain"] == "3.1.9.0.0.5.5.5.3.1.6.e164.arpa."
    assert sorted(c["uri"] for c in result["candidates"]) == [
        f"sip:service@server{i}.enum.nickvsnetworking.com" for i in (1, 2, 3)]
    sip = installed.run("sip", "sip:ims.mnc001.mcc001.3gppnetwork.org")
    assert sip.returncode == 0, sip.stderr
    assert "pcscf1.ims.mnc001.mcc001.3gppnetwork.org:5060 -> 192.0.2.11" in sip.stdout
    epc = installed.run("epc", "--apn", "ims", "--mcc", "001", "--mnc", "01")
    assert epc.returncode == 0, epc.stderr
    assert "offers x-s5-gtp, not x-s8-gtp" in epc.stdout  # S5-only PGW dropped for S8
    assert re.search(r"selected: \S+\.epc\.mnc001\.mcc001\.3gppnetwork\.org \(192\.0\.2\.",
                     epc.stdout), epc.stdout
    assert list(installed.empty.iterdir()) == []  # nothing written where it was run


def test_tour_simulate_and_regexp(installed: Installed) -> None:
    sim = installed.run("simulate", "+61355500913", "--policy", "weighted", "-n", "20000",
                        "--seed", "7", "--json")
    assert sim.returncode == 0, sim.stderr
    shares = {row["target"].split("@")[1].split(".")[0]: row["observed_share"]
              for row in json.loads(sim.stdout)["targets"]}
    assert shares.keys() == {"server1", "server2", "server3"}
    assert abs(shares["server3"] - 0.5) < 0.02 and abs(shares["server1"] - 0.25) < 0.02
    regexp = installed.run("regexp", r"!\+1!sip:!", "+15551234")
    assert regexp.returncode == 0, regexp.stderr
    assert "RFC 3402 (sed, default) : sip:5551234" in regexp.stdout
    assert "replacement only        : sip:\n" in regexp.stdout


def test_tour_zone_check_on_the_packaged_zones(installed: Installed) -> None:
    check = installed.run("zone", "check", "--json")
    assert check.returncode in (0, 1), check.stderr  # 1: the lab zones have findings, on purpose
    report = json.loads(check.stdout)
    text = json.dumps(report)
    assert str(installed.package / "_data" / "zones") in text
    assert "8.9.9.0.0.5.5.5.3.1.6.e164.arpa." in text  # the 2.8 KB answer the lab ships


def test_tour_pcap_on_a_packaged_capture(installed: Installed) -> None:
    capture = installed.package / "_data" / "captures" / "truncation_tcp_fallback.pcapng"
    pcap = installed.run("pcap", str(capture), "--json")
    assert pcap.returncode == 0, pcap.stderr
    summary = json.loads(pcap.stdout)
    text = json.dumps(summary)
    assert "truncated_tcp_ok" in text and "9.9.9.0.0.5.5.5.3.1.6.e164.arpa" in text


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(installed: Installed) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    port = _free_port()
    proc = subprocess.Popen([installed.enumlab, "serve", "--port", str(port)],
                            cwd=installed.empty, env=installed.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        yield port, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()


def test_tour_serve_answers_dig(installed: Installed,
                                served: tuple[int, subprocess.Popen[str]]) -> None:
    dig = require_tool("dig", "bind9-dnsutils")
    port, proc = served
    assert proc.stdout is not None
    first = proc.stdout.readline()  # printed once the sockets are bound
    assert "serving" in first and str(installed.package / "_data" / "zones") in first, first
    answer = ""
    for _ in range(20):
        answer = subprocess.run([dig, "@127.0.0.1", "-p", str(port), "+short", "+tries=1",
                                 "+time=2", "NAPTR", "3.1.9.0.0.5.5.5.3.1.6.e164.arpa."],
                                capture_output=True, text=True, timeout=30).stdout
        if answer:
            break
        time.sleep(0.2)
    assert "sip:service@server3.enum.nickvsnetworking.com" in answer, answer
    assert answer.count("E2U+sip") == 3


class _Output:
    """A child's stdout read by a thread into a queue (select() on a buffered pipe misses the
    lines the buffer already holds)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self.proc, self.lines, self.seen = proc, queue.Queue[str](), list[str]()
        stdout = proc.stdout
        threading.Thread(target=lambda: [self.lines.put(line) for line in stdout],
                         daemon=True).start()

    def until(self, marker: str, timeout: float) -> str:
        """Everything printed so far, once a line holds ``marker``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.seen.append(self.lines.get(timeout=0.5))
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            if marker in self.seen[-1]:
                return "".join(self.seen)
        raise AssertionError(f"no {marker!r} from enumlab lab: {''.join(self.seen)[-1500:]}")


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # a zombie has stopped; its parent has not reaped it yet


def test_lab_copies_the_notebooks_and_keeps_a_learners_edit(installed: Installed,
                                                            tmp_path: Path) -> None:
    target = tmp_path / "my lab"
    first = installed.run("lab", str(target), "--copy-only")
    assert first.returncode == 0, first.stderr
    notebooks = sorted(p.name for p in (target / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 7 and notebooks[0].startswith("01_")
    for needed in ("zones/e164.arpa.zone", "captures/labels.json",
                   "fleet/kamailio_pool_ttl1.pcapng", "samples/calls.csv", "kamailio/enum.cfg"):
        assert (target / "data" / needed).is_file(), needed
    edited = target / "notebooks" / notebooks[0]
    mine = edited.read_text() + "\n"
    edited.write_text(mine)
    again = installed.run("lab", str(target), "--copy-only")
    assert again.returncode == 0, again.stderr
    assert f"kept your notebooks/{notebooks[0]}" in again.stdout
    assert edited.read_text() == mine  # the learner's edit survived
    assert "0 file(s) copied" in again.stdout
    forced = installed.run("lab", str(target), "--copy-only", "--force")
    assert "1 file(s) copied" in forced.stdout and edited.read_text() != mine


@pytest.mark.timeout(300)
def test_lab_serves_jupyterlab_and_dns_and_sigterm_stops_both(installed: Installed,
                                                              tmp_path: Path) -> None:
    dig = require_tool("dig", "bind9-dnsutils")
    target = tmp_path / "lab"
    dns_port, jupyter_port = _free_port(), _free_tcp_port()
    env = {**installed.env(), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTER_DATA_DIR": str(tmp_path / "d")}
    proc = subprocess.Popen([installed.enumlab, "lab", str(target), "--dns-port", str(dns_port),
                             "--jupyter-port", str(jupyter_port)], cwd=installed.empty, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output = _Output(proc)
        text = output.until("    stop ", timeout=180)
        pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", text)]
        assert len(pids) == 2, text
        (url,) = re.findall(r"open  (http://127\.0\.0\.1:\d+/\S+\?token=\w+)", text)
        assert f":{jupyter_port}/" in url
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200 and "JupyterLab" in page.read().decode()
        token = url.rsplit("=", 1)[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{jupyter_port}/api/contents/notebooks"
                                    f"?token={token}", timeout=30) as listing:
            names = {item["name"] for item in json.load(listing)["content"]}
        assert "01_enum_basics.ipynb" in names
        with pytest.raises(urllib.error.HTTPError):  # no token, no entry
            urllib.request.urlopen(f"http://127.0.0.1:{jupyter_port}/api/contents", timeout=30)
        answer = subprocess.run([dig, "@127.0.0.1", "-p", str(dns_port), "+short", "+tries=1",
                                 "+time=2", "NAPTR", "3.1.9.0.0.5.5.5.3.1.6.e164.arpa."],
                                capture_output=True, text=True, timeout=30).stdout
        assert answer.count("E2U+sip") == 3, answer
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        output.until("stopping JupyterLab and the DNS lab", timeout=10)
        assert all(_gone(pid) for pid in pids), [p for p in pids if not _gone(p)]
    finally:
        if proc.poll() is None:
            proc.kill()  # its children get SIGTERM from the kernel (PR_SET_PDEATHSIG)
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


@pytest.mark.timeout(300)
def test_lab_children_die_with_it_even_when_it_is_killed(installed: Installed,
                                                         tmp_path: Path) -> None:
    env = {**installed.env(), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTER_DATA_DIR": str(tmp_path / "d")}
    proc = subprocess.Popen([installed.enumlab, "lab", str(tmp_path / "lab"), "--dns-port",
                             str(_free_port()), "--jupyter-port", str(_free_tcp_port())],
                            cwd=installed.empty, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    pids: list[int] = []
    try:
        text = _Output(proc).until("    stop ", timeout=180)
        pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", text)]
        assert len(pids) == 2 and not any(_gone(p) for p in pids), text
        proc.kill()  # no chance to clean up
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(_gone(p) for p in pids), [p for p in pids if not _gone(p)]
    finally:
        for pid in pids:  # never leave a server behind, whatever failed above
            if not _gone(pid):
                os.killpg(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
