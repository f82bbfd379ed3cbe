"""Careless and hostile command-line input (issue 12): exit 2, one line on stderr, no traceback.

Every option is validated before anything runs; numbers, server addresses and argv bytes that
are not what they should be are named in one line. `enumlab serve` stops cleanly (named
stopped, its directory removed) on SIGTERM and SIGHUP, not only on Ctrl-C.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from enumlab import InvalidNumberError, from_enum_domain, normalize, to_enum_domain
from enumlab.core.epc_fqdn import Plmn

from .conftest import ZONES, require_tool

ONE_MB = "+" + "1" * 1_000_000
BIG_ARG = "+" + "1" * 100_000  # Linux caps one argv string at 128 KiB (MAX_ARG_STRLEN)


def run(*args: str | bytes, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "enumlab.cli", *args], capture_output=True,
                          timeout=timeout)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("enum", "+61355500913", "--timeout", "nan"), "finite number of seconds"),
        (("enum", "+61355500913", "--timeout", "inf"), "finite number of seconds"),
        (("enum", "+61355500913", "--timeout", "0"), "finite number of seconds"),
        (("enum", "+61355500913", "--timeout", "-1"), "finite number of seconds"),
        (("enum", "+61355500913", "--server", ""), "empty server address"),
        (("enum", "+61355500913", "--server", "[127.0.0.1"), "IPv6"),
        (("enum", "+61355500913", "--server", "localhost"), "not an IP address"),
        (("enum", "+61355500913", "--server", "ns1.example.com:53"), "not an IP address"),
        (("enum", "+61355500913", "--server", "127.0.0.1:99999"), "out of range"),
        (("enum", "+61355500913", "--seed", "-1"), "seed must be"),
        (("enum", "+61355500913", "--edns", "100"), "EDNS size"),
        (("enum", "+٦١355500913"), "Unicode digit"),
        (("enum", "0355500913", "--country-code", "٦١"), "country code"),
        (("enum", BIG_ARG), "digits; E.164 allows at most 15"),
        (("serve", "--port", "-1"), "port must be 0..65535"),
        (("serve", "--port", "70000"), "port must be 0..65535"),
        (("serve", "--host", "localhost"), "not an IP address"),
        (("serve", "--max-udp", "100"), "UDP size must be 512..65535"),
        (("serve", "--duration", "nan"), "finite number"),
        (("serve", str(ZONES / "e164.arpa.zone"), "--port", "0"), "is a file, not a zone"),
        (("simulate", "+61355500913", "-n", "0"), "-n must be 1.."),
        (("simulate", "+61355500913", "--fail", "server1=1.5"), "P in 0..1"),
        (("simulate", "+61355500913", "--fail", "server1=nan"), "P in 0..1"),
        (("epc", "--tac", "0x10000", "--mcc", "001", "--mnc", "01"), "TAC must be 0..65535"),
        (("epc", "--tac", "abc", "--mcc", "001", "--mnc", "01"), "TAC must be a whole number"),
        (("epc", "--apn", "ims", "--mcc", "٠٠١", "--mnc", "01"), "MCC"),
        (("pcap", "x.pcap", "--mtu", "10"), "MTU must be 68..65535"),
        (("pcap", "/nonexistent.pcap"), "does not exist"),  # no progress bar before it
        # not "a set of captures is read by the native engine" (it was taken for a set)
        (("pcap", "/nonexistent.pcap", "--engine", "tshark"), "does not exist"),
        # a directory is a capture set: one without captures says so
        (("pcap", str(ZONES)), "no capture files in"),
        (("pcap", "x.pcap", "--detail", "0"), "frame number must be"),
        (("sip", "sip:x@example.com", "--server", "example.com"), "not an IP address"),
        (("doctor", "--domain", "x.test", "--resolv-conf", "/nonexistent", "--timeout", "0"),
         "finite number"),
        (("regexp", "!^(.*$!x!", BIG_ARG), "unbalanced"),
    ],
)
def test_bad_options_are_one_line_exit_2(args: tuple[str, ...], needle: str) -> None:
    out = run(*args)
    err = out.stderr.decode()
    assert out.returncode == 2, err
    assert needle in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert len(err) < 400  # a 1 MB argument is named, not echoed


def test_non_utf8_argv_is_a_clear_error() -> None:
    for args in ((b"regexp", b"!^.*$!x\xff!", b"+61"), (b"enum", b"+6135550\xfe0913")):
        out = run(*args)
        err = out.stderr.decode()
        assert out.returncode == 2
        assert "not valid UTF-8" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1


def test_the_international_prefix_with_a_country_code() -> None:
    # issue 12: 0061355500913 --country-code 61 became +61061355500913
    assert normalize("0061355500913", country_code="61") == "+61355500913"
    assert normalize("011 1 650 555 1212", country_code="1") == "+16505551212"
    assert normalize("03 5550 0913", country_code="61") == "+61355500913"
    with pytest.raises(InvalidNumberError, match="international prefix"):
        normalize("0061355500913", international=True)
    out = run("enum", "0061355500913", "--country-code", "61", "--json")
    assert out.returncode == 0 and b'"+61355500913"' in out.stdout


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: normalize(61355500913), "must be text"),  # type: ignore[arg-type]
        (lambda: normalize("0355500913", country_code=61), "country code"),  # type: ignore[arg-type]
        (lambda: from_enum_domain(123), "must be text"),  # type: ignore[arg-type]
        (lambda: to_enum_domain("+61355500913", suffix=None), "suffix"),  # type: ignore[arg-type]
        (lambda: from_enum_domain("٣.1.6.e164.arpa."), "single digit 0-9"),
        (lambda: normalize("+٦١355500913"), "'٦' is a Unicode digit"),
        (lambda: normalize("+6１355500913"), "Unicode digit"),  # a full-width 1
        (lambda: normalize(ONE_MB), "digits; E.164 allows"),
    ],
)
def test_wrong_types_and_unicode_digits_are_typed_errors(call, needle: str) -> None:
    with pytest.raises(InvalidNumberError, match=needle) as info:
        call()
    assert len(str(info.value)) < 300


def test_unicode_digits_never_reach_a_plmn() -> None:
    from enumlab.core.epc_fqdn import EpcFqdnError

    with pytest.raises(EpcFqdnError):
        Plmn("٠٠١", "01")


# -- serve stops cleanly on signals --------------------------------------------------------

def _start_serve(*extra: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "enumlab.cli", "serve", str(ZONES),
                             "--port", "0", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "try: dig" in line:
            return proc, lines
    proc.kill()
    proc.wait()
    raise AssertionError("".join(lines) + _drain(proc))


def _drain(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    with proc.stdout:
        return proc.stdout.read()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_bind_engine_stops_named_and_removes_its_directory(sig: signal.Signals) -> None:
    require_tool("named", "bind9")
    proc, lines = _start_serve("--engine", "bind")
    m = re.search(r"named pid (\d+), working directory (\S+)", "".join(lines))
    assert m, lines
    named_pid, workdir = int(m.group(1)), Path(m.group(2))
    assert _alive(named_pid) and workdir.is_dir()
    proc.send_signal(sig)
    assert proc.wait(timeout=20) == 128 + sig  # as a shell reports it (issue 29)
    rest = _drain(proc)
    assert f"stopped by {sig.name}" in rest
    deadline = time.monotonic() + 10
    while _alive(named_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(named_pid)  # issue 12: named was left running
    assert not workdir.exists()  # ... and its temp dir behind


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_embedded_engine_answers_from_every_worker_and_stops_them() -> None:
    import dns.message
    import dns.query

    proc, lines = _start_serve("--workers", "2")
    text = "".join(lines)
    port = int(re.search(r"127\.0\.0\.1:(\d+)", text).group(1))  # type: ignore[union-attr]
    worker = int(re.search(r"workers (\d+)", text).group(1))  # type: ignore[union-attr]
    try:
        before = _cpu_ticks(worker)
        query = dns.message.make_query("3.1.9.0.0.5.5.5.3.1.6.e164.arpa.", "NAPTR")
        for _ in range(1500):  # a new source port each time: SO_REUSEPORT spreads them
            assert dns.query.udp(query, "127.0.0.1", port=port, timeout=2).answer
        assert _cpu_ticks(worker) > before  # the forked worker answered some of them
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in _drain(proc)
    deadline = time.monotonic() + 5
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker)  # stopped by PID with its parent
