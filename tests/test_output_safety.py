"""Outputs safe for where they go (issue 29): record data holding control characters never
reaches a terminal raw, and a URI holding them is no usable candidate (RFC 3986 s2). Zones
hold ESC and BEL the way an attacker's would: ``\\027`` and ``\\007`` in the zone text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from enumlab import EmbeddedServer, Resolver
from enumlab.core.records import NaptrRecord
from enumlab.resolve.ddds import resolve_enum

from .conftest import write_zone

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
