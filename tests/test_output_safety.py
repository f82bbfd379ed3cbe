"""Outputs safe for where they go (issue 29): record data holding control characters never
reaches a terminal raw, and a URI holding them is no usable candidate (RFC 3986 s2). Zones
hold ESC and BEL the way an attacker's would: ``\\027`` and ``\\007`` in the zone text."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from enumlab import EmbeddedServer, Resolver
from enumlab.capture.report import csv_safe
from enumlab.cli import main
from enumlab.cli.guards import escape_controls
from enumlab.core.records import NaptrRecord
from enumlab.resolve.ddds import resolve_enum

from . import frames as F
from .conftest import ROOT, write_zone

# clears the screen and sets the window title, then a plausible SIP URI
HOSTILE = "!^.*$!sip:\\027[2J\\027]0;pwned-title\\007x@evil.example!"
GOOD = "!^.*$!sip:good@example.com!"


def _zone(tmp_path: Path) -> Path:
    write_zone(tmp_path, "e164.arpa",
               f'7.7.7.1.0.5.5.5.2.1.6 IN NAPTR 10 100 "u" "E2U+sip" "{HOSTILE}" .\n'
               f'7.7.7.1.0.5.5.5.2.1.6 IN NAPTR 10 200 "u" "E2U+sip" "{GOOD}" .\n')
    return tmp_path


def test_a_uri_with_control_characters_is_no_candidate(tmp_path: Path) -> None:
    with EmbeddedServer(_zone(tmp_path)) as server:
        result = resolve_enum("+61255501777", Resolver(server.host, server.port),
                              rng=np.random.default_rng(0))
    assert result.uris == ["sip:good@example.com"]
    dropped = [e for e in result.trace.to_list() if e.get("verdict") == "dropped"]
    assert len(dropped) == 1
    # the rejection is there, its text escaped: no raw ESC or BEL anywhere in the JSON
    text = json.dumps(result.to_dict())
    assert "\\u001b" not in text and "\\u0007" not in text
    assert "\\\\027[2J" in text and "not a URI" in text


def test_record_text_escapes_control_characters_as_dig_does() -> None:
    record = NaptrRecord.from_text('10 100 "u" "E2U+sip" "!^.*$!sip:\\027x\\007@e!" .')
    assert "\x1b" in record.regexp  # kept as data
    assert record.to_text() == '10 100 "u" "E2U+sip" "!^.*$!sip:\\027x\\007@e!" .'
    assert NaptrRecord.from_text(record.to_text()) == record


# -- CSV formula injection (OWASP): QNAMEs a spreadsheet would run -----------------------------

FORMULAS = ["=1+2.example", "+cmd.example", "-sum.example", "@sum.example",
            "\\009tab.example", "\\013cr.example"]


def _capture(tmp_path: Path) -> Path:
    frames = []
    for i, name in enumerate([*FORMULAS, "plain.example"], 1):
        q = F.ip("192.0.2.1", "192.0.2.53", 17, F.udp(40000 + i, 53, F.query(name, ident=i)))
        r = F.ip("192.0.2.53", "192.0.2.1", 17, F.udp(53, 40000 + i, F.response(name, ident=i)))
        frames += [(float(i), F.link(q, 1)), (i + 0.1, F.link(r, 1))]
    path = tmp_path / "formulas.pcap"
    path.write_bytes(F.pcap(frames, 1))
    return path


def _cells(path: Path, column: str) -> list[str]:
    with path.open(newline="") as f:
        return [row[column] for row in csv.DictReader(f)]


def test_csv_cells_that_would_run_as_formulas_are_neutralised(tmp_path: Path) -> None:
    capture = _capture(tmp_path)
    txns, msgs = tmp_path / "t.csv", tmp_path / "m.csv"
    assert main(["pcap", str(capture), "--csv", str(txns), "--messages", str(msgs)]) == 0
    for path, n in ((txns, 7), (msgs, 14)):
        names = _cells(path, "qname")
        assert len(names) == n
        risky = [x for x in names if x[:1] in ("=", "+", "-", "@", "\t", "\r")]
        assert risky == [], risky  # no cell starts a formula
        # = + - @ neutralised; a tab or CR in a name is written escaped (\009) by the decoder
        assert sum(x.startswith("'") for x in names) == n * 4 // 7
        assert any(x.startswith("'=1+2.example") for x in names)
        assert "plain.example" in {x.rstrip(".") for x in names}
    raw = tmp_path / "raw.csv"
    assert main(["pcap", str(capture), "--csv", str(raw), "--csv-raw"]) == 0
    assert any(x.startswith("=1+2.example") for x in _cells(raw, "qname"))


def test_csv_safe_leaves_numbers_and_harmless_text() -> None:
    frame = pd.DataFrame({"n": [-1, 2], "s": ["-1", "ok"], "c": pd.Categorical(["=x", "y"])})
    out = csv_safe(frame)
    assert out["n"].tolist() == [-1, 2] and out["s"].tolist() == ["'-1", "ok"]
    assert out["c"].tolist() == ["'=x", "y"]
    assert frame["s"].tolist() == ["-1", "ok"]  # the input is not changed
    # a category is fixed once, not per cell; one whose fixed name is taken: per cell
    clash = csv_safe(pd.DataFrame({"c": pd.Categorical(["=x", "'=x", "=x", None])}))
    assert clash["c"].tolist()[:3] == ["'=x", "'=x", "'=x"] and pd.isna(clash["c"].iloc[3])


# -- the terminal: every command's human output escapes control characters -----------------

def test_enum_prints_no_raw_control_characters(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    zones = _zone(tmp_path)
    code = main(["enum", "+61255501777", "--zones", str(zones), "--trace"])
    out = capsys.readouterr().out
    assert code == 0 and "sip:good@example.com" in out
    assert not any(ch in out for ch in "\x1b\x07\r"), repr(out)
    assert "\\027[2J" in out  # the hostile record is shown, escaped as dig shows it


def test_escape_controls_keeps_newlines_and_tabs() -> None:
    assert escape_controls("a\x1b[2Jb\x07\r\n\tc\x9b") == "a\\027[2Jb\\007\\013\n\tc\\155"


HALF_MADE = """
import os, signal, sys
from enumlab.cli.guards import Terminated, signals_as_exceptions

class Half:  # as llvmlite's OutputString: __del__ reads what __init__ sets
    def __init__(self):
        os.kill(os.getpid(), signal.SIGTERM)  # handled here, before the attribute is set
        self.ptr = 1

    def __del__(self):
        self.ptr

try:
    with signals_as_exceptions():
        Half()
except Terminated:
    print("stopped", file=sys.stderr)
"""


def test_an_object_the_signal_left_half_made_fails_in_one_line() -> None:
    """SIGTERM raises where the main thread is, even in another library's constructor (seen:
    numba loading a kernel); the object it left half-made fails in its finaliser, and that
    is one line on stderr, never a traceback."""
    run = subprocess.run([sys.executable, "-c", HALF_MADE], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr
    lines = run.stderr.strip().splitlines()
    # the traceback of Terminated holds the half-made object until the command has caught it
    # (so the hook stays installed once a signal fired: the process is ending)
    assert lines == ["stopped", "enumlab: while stopping, Half.__del__: AttributeError: 'Half' "
                     "object has no attribute 'ptr'"], lines
