"""The enumlab command line, run as a user runs it: a subprocess."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from enumlab import EmbeddedServer

from .conftest import ZONES

HOST = ".enum.nickvsnetworking.com"


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "enumlab.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_enum_913_json_lists_the_three_servers() -> None:
    out = run("enum", "+61355500913", "--json", "--seed", "1")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["number"] == "+61355500913"
    assert data["domain"] == "3.1.9.0.0.5.5.5.3.1.6.e164.arpa."
    assert {c["uri"] for c in data["candidates"]} == {
        f"sip:service@server{i}{HOST}" for i in (1, 2, 3)}
    assert set(data["candidates"][0]) >= {"uri", "order", "preference", "service"}
    assert any(step["kind"] == "query" for step in data["trace"])


def test_enum_exception_and_wildcard() -> None:
    out = run("enum", "+61255502345")
    assert out.returncode == 0 and f"sip:ported@othercarrier{HOST}" in out.stdout
    out = run("enum", "+61 2 5550 1234")
    assert out.returncode == 0 and f"sip:wildcard@server1{HOST}" in out.stdout


def test_enum_trace_shows_tc_then_tcp() -> None:
    out = run("enum", "+61355500999", "--trace")
    assert out.returncode == 0
    assert "TC=1" in out.stdout and "then TCP" in out.stdout


def test_enum_national_number_with_country_code() -> None:
    out = run("enum", "03 5550 0911", "--country-code", "61", "--json")
    assert json.loads(out.stdout)["number"] == "+61355500911"


def test_enum_against_an_explicit_server() -> None:
    with EmbeddedServer(ZONES) as server:
        out = run("enum", "+61355500911", "--server", server.address, "--edns", "1232")
    assert out.returncode == 0 and f"sip:service@server1{HOST}" in out.stdout


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("enum", "+61 3 5550 O912"), 2, "'O' is not a digit"),
        (("enum", "61355500912"), 2, "no leading '+'"),
        (("enum", "+6125501234"), 1, "no usable NAPTR rule"),  # stdout
        (("enum", "+61255503006"), 2, "rewrite loop"),
        (("enum", "+61355500911", "--server", "127.0.0.1:1"), 2, "unreachable"),
        (("enum", "+61355500911", "--edns", "big"), 2, "EDNS size"),
        (("regexp", "!(a!x!", "a"), 2, "unbalanced"),
    ],
)
def test_errors_are_one_line_with_exit_codes(args: tuple[str, ...], code: int, needle: str
                                             ) -> None:
    out = run(*args)
    assert out.returncode == code
    assert needle in (out.stderr + out.stdout)
    if code == 2 and "EDNS" not in needle:
        assert len(out.stderr.strip().splitlines()) == 1
        assert "Traceback" not in out.stderr


def test_regexp_shows_both_readings() -> None:
    out = run("regexp", "!\\+1!sip:!", "+15551234", "--json")
    data = json.loads(out.stdout)
    assert data["results"] == {"rfc3402": "sip:5551234", "replacement": "sip:"}
    out = run("regexp", "!^\\+(1|12)!\\1!", "+1234")
    assert "groups ['12']" in out.stdout


def test_help_teaches() -> None:
    out = run("enum", "--help")
    assert out.returncode == 0
    assert "RFC 3403" in out.stdout and "examples:" in out.stdout


def test_serve_answers_dns_and_stops() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with subprocess.Popen(
        [sys.executable, "-m", "enumlab.cli", "serve", str(ZONES), "--port", str(port),
         "--duration", "20"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as proc:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in banner and "no recursion" in banner
        deadline = time.monotonic() + 10
        while True:
            out = run("enum", "+61355500911", "--server", f"127.0.0.1:{port}")
            if out.returncode == 0 or time.monotonic() > deadline:
                break
        proc.terminate()
        proc.wait(timeout=10)
        assert out.returncode == 0, out.stderr


def test_simulate_json_schema_and_verdicts() -> None:
    out = run("simulate", "+61355500913", "-n", "100000", "--policy", "weighted", "--seed", "1",
              "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["policy"] == "weighted" and data["n"] == 100000
    assert set(data["targets"][0]) == {"target", "observed", "observed_share", "expected_share",
                                       "ci_low", "ci_high"}
    assert sum(t["observed"] for t in data["targets"]) == 100000
    assert data["chi2"]["p_value"] > 0.001 and set(data["g_test"]) == {"statistic", "p_value"}


def test_simulate_all_policies_and_down_by_short_name() -> None:
    out = run("simulate", "+61355500914", "--policy", "all", "--down", "server1", "-n", "1000",
              "--json", "--seed", "2")
    by_policy = {d["policy"]: d for d in json.loads(out.stdout)}
    assert by_policy["rfc3403"]["targets"][-1]["target"] == "(none)"
    assert by_policy["rfc3403"]["targets"][-1]["observed"] == 1000
    assert by_policy["all-orders"]["targets"][1]["observed"] == 1000


def test_simulate_observed_csv_and_plot(tmp_path) -> None:
    csv = tmp_path / "calls.csv"
    lines = (["sip:service@server1.enum.nickvsnetworking.com"] * 260
             + ["sip:service@server2.enum.nickvsnetworking.com"] * 240
             + ["sip:service@server3.enum.nickvsnetworking.com"] * 500)
    csv.write_text("target\n" + "\n".join(lines) + "\n")
    png = tmp_path / "split.png"
    out = run("simulate", "+61355500913", "--policy", "weighted", "--observed", str(csv),
              "--plot", str(png))
    assert out.returncode == 0, out.stderr
    assert "chi-square" in out.stdout and png.stat().st_size > 5000
    out = run("simulate", "+61355500913", "--down", "server", "-n", "10")
    assert out.returncode == 2 and "matches 3 targets" in out.stderr


def test_simulate_all_policies_is_one_comparison_table() -> None:
    from enumlab.core.policies import POLICY_NAMES

    out = run("simulate", "+61355500913", "--policy", "all", "-n", "20000", "--seed", "3")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("+61355500913: every policy") and out.stdout.count("policy ") <= 1
    header = lines[1].split()
    assert header[0] == "target" and len(header) == 1 + len(POLICY_NAMES)  # a column each
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:5]}
    assert list(rows) == ["server1", "server2", "server3"]  # the record set's order
    weighted = header.index("weighted") - 1
    seen, expected = (float(v) for v in rows["server3"][weighted].split("/"))
    assert expected == 0.5 and abs(seen - 0.5) < 0.02  # 25/25/50 under preference-as-weight
    rfc = header.index("rfc3403") - 1
    assert rows["server3"][rfc] == "0.000/0.000"  # RFC 3403 never picks server3


def test_the_shipped_call_log_is_a_split_no_chance_explains() -> None:
    """The README's tour line on data/samples/calls.csv: 41/35/24 observed against 25/25/50."""
    out = run("simulate", "+61355500913", "--policy", "weighted", "--observed",
              "data/samples/calls.csv", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    rows = {t["target"].split("@")[1].split(".")[0]: t for t in data["targets"]
            if "@" in t["target"]}
    assert sum(r["observed"] for r in rows.values()) == 2000
    assert rows["server3"]["expected_share"] == 0.5 and rows["server3"]["observed_share"] < 0.3
    assert data["chi2"]["p_value"] < 1e-20


def test_sip_json_schema_and_the_port_pitfall() -> None:
    out = run("sip", "sip:scscf.mnc001.mcc001.3gppnetwork.org:6060", "--json", "--seed", "1")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["uri"] == "sip:scscf.mnc001.mcc001.3gppnetwork.org:6060"
    assert data["skipped_srv"] is True
    assert set(data["targets"][0]) >= {"transport", "host", "port", "address", "priority",
                                       "weight"}
    assert data["targets"][0]["transport"] == "UDP"
    assert {t["host"] for t in data["without_port"]["targets"]} == {
        "scscf1.mnc001.mcc001.3gppnetwork.org", "scscf2.mnc001.mcc001.3gppnetwork.org"}
    text = run("sip", "sip:scscf.mnc001.mcc001.3gppnetwork.org:6060").stdout
    assert "SRV was skipped" in text and "hides 2 target(s)" in text


def test_sip_bad_uri_and_doctor_with_a_wrong_resolv_conf(tmp_path) -> None:
    out = run("sip", "sip:[::1")
    assert out.returncode == 2 and "unterminated IPv6" in out.stderr
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.53\n")  # loopback only: nothing leaves the machine
    out = run("doctor", "--domain", "ims.mnc001.mcc001.3gppnetwork.org", "--resolv-conf",
              str(conf))
    assert out.returncode == 1
    assert f"PROBLEM: {conf} points to 127.0.0.53, which cannot be reached" in out.stdout


def test_epc_json_schema_for_the_seed_lookup() -> None:
    out = run("epc", "--apn", "ims", "--mcc", "001", "--mnc", "01", "--policy", "rfc3403",
              "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["fqdn"] == "ims.apn.epc.mnc001.mcc001.3gppnetwork.org."
    assert set(data["candidates"][0]) >= {"replacement", "order", "preference", "services",
                                          "flag", "kept", "reason"}
    assert data["selected"]["node"] == "topon.lb1.pgw01.epc.mnc001.mcc001.3gppnetwork.org"
    assert data["selected"]["addresses"] == ["192.0.2.102", "2001:db8::102"]
    assert any(c["kept"] is False and "x-s5-gtp" in c["reason"] for c in data["candidates"])


def test_epc_from_imsi_tac_and_errors() -> None:
    out = run("epc", "--tac", "0x0001", "--imsi", "001010000000001", "--mnc-digits", "2")
    assert out.returncode == 0 and "selected: topon.s11." in out.stdout
    out = run("epc", "--apn", "ims", "--imsi", "001010000000001")
    assert out.returncode == 2 and "--mnc-digits" in out.stderr
    out = run("epc", "--apn", "rac7", "--mcc", "001", "--mnc", "01")
    assert out.returncode == 2 and "APN-NI 'rac7'" in out.stderr


def test_cli_copies_of_choices_match_their_modules() -> None:
    """The CLI keeps its own copies of two choice lists (so that it starts without importing
    the modules they come from); they must not drift."""
    from enumlab.cli import common as cli
    from enumlab.core.naptr_regexp import OUTPUT_MODES
    from enumlab.core.policies import POLICY_NAMES
    from enumlab.split.fleet import MODELS

    assert cli.OUTPUT_MODES == OUTPUT_MODES
    assert cli.POLICY_NAMES == POLICY_NAMES
    assert set(cli.FLEET_MODELS) == set(MODELS)


_EXIT_NOW = """
import atexit, sys
from enumlab import cli
from enumlab.capture.jit import import_numba
import_numba()  # as a big capture's compiled kernels load it
atexit.register(lambda: print("exit handler ran", flush=True))
sys.argv = ["enumlab", *sys.argv[1:]]
cli.run()
"""


@pytest.mark.parametrize("args, code", [
    (["pcap", "data/captures/truncation_tcp_fallback.pcapng", "--json"], 0),
    (["pcap", "data/captures/no-such-capture.pcap", "--json"], 2),
])
def test_exit_after_numba_keeps_output_handlers_and_code(args: list[str], code: int) -> None:
    """With numba loaded (as after a big capture's compiled kernels) the command still runs
    exit handlers, stdout and stderr are whole, and the exit code is main's."""
    from .conftest import ROOT

    out = subprocess.run([sys.executable, "-c", _EXIT_NOW, *args], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == code, out.stderr
    body, _, tail = out.stdout.rpartition("}")
    assert tail.strip() == "exit handler ran"
    summary = json.loads(body + "}")
    if code == 0:
        assert summary["transactions"] > 0 and out.stderr == ""
    else:
        assert summary["error"]["kind"] == "InputError" and "no-such-capture" in out.stderr


def test_an_error_raised_while_unwinding_from_sigterm_ends_as_the_signal(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM while numba compiled a kernel: the Terminated raised there made numba's
    clean-up raise its own RuntimeError, and the command exited 1 with a traceback's last line
    (a clean-clone run's SIGTERM test). An error that escapes after the signal ends the
    command as the signal does: 143, "stopped by SIGTERM"; without a signal it propagates."""
    import argparse
    import os
    import signal
    import sys
    import time

    from enumlab.cli import _run
    from enumlab.cli.guards import Terminated, signals_as_exceptions

    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # the handler replaces it

    def compiling(args: argparse.Namespace) -> int:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except Terminated:
            raise RuntimeError("no compiled object yet") from None
        return 0

    with signals_as_exceptions():
        assert _run(compiling, argparse.Namespace(command="pcap")) == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in capsys.readouterr().err

    def failing(args: argparse.Namespace) -> int:
        raise RuntimeError("a bug")

    with signals_as_exceptions(), pytest.raises(RuntimeError, match="a bug"):
        _run(failing, argparse.Namespace(command="pcap"))
