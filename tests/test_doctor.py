"""The resolver doctor, run where a real system resolver would be wrong: inside a network
namespace the test creates, whose /etc/resolv.conf (``/etc/netns/<ns>/resolv.conf``) points at
the wrong server. All traffic stays on the namespace's own loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from enumlab.resolve.doctor import read_resolv_conf

from .conftest import IN_CI, ZONES, require_tool, write_zone

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"


def test_read_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nnameserver 127.0.0.53\nnameserver ::1 ; trailing\n"
                    "domain a.example\nsearch b.example c.example\n"
                    "options ndots:5 timeout:2 attempts:3 rotate\nsortlist 10.0.0.0\n")
    rc = read_resolv_conf(conf)
    assert rc.nameservers == ("127.0.0.53", "::1")
    assert rc.search == ("b.example", "c.example")  # the last search/domain line wins
    assert (rc.ndots, rc.timeout, rc.attempts) == (5, 2.0, 3)
    assert rc.ignored == ("sortlist 10.0.0.0",)
    assert rc.path == str(conf)  # options named ndots, timeout... never rename the file
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    assert read_resolv_conf(empty).effective_nameservers == ("127.0.0.1",)


def test_unreadable_resolv_conf_is_a_clear_error(tmp_path: Path) -> None:
    from enumlab import InputError

    with pytest.raises(InputError, match="cannot read"):
        read_resolv_conf(tmp_path / "missing.conf")


@pytest.fixture
def netns() -> Iterator[str]:
    ip = require_tool("ip", "iproute2")
    if os.geteuid() != 0:
        message = "network namespaces need root"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    name = f"enumlab-doc{os.getpid()}"
    subprocess.run([ip, "netns", "add", name], check=True)
    etc = Path("/etc/netns") / name
    try:
        subprocess.run([ip, "-n", name, "link", "set", "lo", "up"], check=True)
        etc.mkdir(parents=True, exist_ok=True)
        yield name
    finally:
        subprocess.run([ip, "netns", "del", name], check=False)
        shutil.rmtree(etc, ignore_errors=True)


def in_ns(ns: str, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "enumlab.cli", *args],
                          capture_output=True, text=True, timeout=120, **kw)  # type: ignore[call-overload]


def doctor(ns: str) -> tuple[int, dict[str, object]]:
    # the namespace's own resolv.conf (ip netns exec mounts /etc/netns/NS/resolv.conf over
    # /etc/resolv.conf), named explicitly: a test never reads the machine's real one
    resolv = str(Path("/etc/netns") / ns / "resolv.conf")
    out = in_ns(ns, "doctor", "--domain", DOMAIN, "--json", "--zones", str(ZONES),
                "--resolv-conf", resolv)
    assert out.stdout, out.stderr
    return out.returncode, json.loads(out.stdout)


def serve_in_ns(ns: str, zones: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-m", "enumlab.cli", "serve", str(zones),
         "--port", "53", "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    assert "127.0.0.1:53" in banner, proc.stderr.read() if proc.stderr else banner
    time.sleep(0.2)
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.communicate(timeout=10)


def test_doctor_names_a_resolv_conf_that_points_at_nothing(netns: str) -> None:
    (Path("/etc/netns") / netns / "resolv.conf").write_text("nameserver 127.0.0.53\n")
    code, report = doctor(netns)
    assert code == 1 and report["ok"] is False
    finding = report["findings"][0]  # type: ignore[index]
    assert finding.startswith(f"/etc/netns/{netns}/resolv.conf points to 127.0.0.53, which "
                              "cannot be reached")
    assert f"cannot resolve {DOMAIN}; the records exist on 127.0.0.1:" in finding


def test_doctor_names_a_resolver_that_does_not_hold_the_zone(netns: str, tmp_path: Path
                                                              ) -> None:
    (Path("/etc/netns") / netns / "resolv.conf").write_text("nameserver 127.0.0.1\n")
    other = tmp_path / "other"
    other.mkdir()
    write_zone(other, "example.test", "")
    proc = serve_in_ns(netns, other)
    try:
        code, report = doctor(netns)
    finally:
        stop(proc)
    assert code == 1
    assert "points to 127.0.0.1, which answers REFUSED" in report["findings"][0]  # type: ignore[index]


def test_doctor_is_satisfied_when_resolv_conf_points_at_the_lab(netns: str) -> None:
    (Path("/etc/netns") / netns / "resolv.conf").write_text(
        "nameserver 127.0.0.1\nsearch svc.cluster.local\noptions ndots:5\n")
    proc = serve_in_ns(netns, ZONES)
    try:
        code, report = doctor(netns)
    finally:
        stop(proc)
    assert code == 0 and report["ok"] is True
    assert all(c["match"] for c in report["comparisons"])  # type: ignore[union-attr]
    assert any("ndots:5" in f for f in report["findings"])  # type: ignore[union-attr]


def test_parsed_text_is_named_as_given_and_a_lab_port_is_said() -> None:
    """The notebook's healthy and broken cases: resolv.conf text named by a label (no temp
    path in any finding), the lab server asked on its own port and the port said."""
    from enumlab import EmbeddedServer, Resolver
    from enumlab.resolve.doctor import diagnose, parse_resolv_conf

    with EmbeddedServer(ZONES) as lab:
        auth = Resolver(lab.host, lab.port)
        healthy = parse_resolv_conf("nameserver 127.0.0.1\n", name="the healthy resolv.conf")
        report = diagnose(DOMAIN, auth, healthy, port=lab.port, timeout=1)
        assert report.ok, report.findings
        assert report.findings == [f"the healthy resolv.conf points to 127.0.0.1 (port "
                                   f"{lab.port}), which gives the same answers for {DOMAIN} "
                                   f"as {lab.host}:{lab.port}"]
        broken = parse_resolv_conf("nameserver 127.0.0.53\n", name="the broken resolv.conf")
        # nothing listens on 127.0.0.53 at the lab's port: no answer, named as such
        bad = diagnose(DOMAIN, auth, broken, port=lab.port, timeout=0.3)
        assert not bad.ok and bad.findings[0].startswith(
            f"the broken resolv.conf points to 127.0.0.53 (port {lab.port}), which")
        assert all("/tmp" not in f for f in bad.findings + report.findings)
