"""Frame counts come from the file, not from the rows a display filter kept (issue 11: a
518-frame capture was reported as 31 frames, its highest DNS frame number)."""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from enumlab.capture import count_frames
from enumlab.capture.report import analyze

from .conftest import ROOT, require_tool

CAPTURES = sorted((ROOT / "data" / "captures").glob("*.pcap*"))


def tshark_frames(path: Path) -> int:
    tshark = require_tool("tshark", "tshark")
    out = subprocess.run([tshark, "-r", str(path), "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True)
    return len(out.stdout.split())


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_frames_counted_as_tshark_counts_them(path: Path) -> None:
    assert count_frames(path) == tshark_frames(path)


def _udp_frame(sport: int, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 2]))
    return b"\x00" * 12 + b"\x08\x00" + ip + udp


def _pcap(frames: list[bytes], *, endian: str = "<", nanoseconds: bool = False) -> bytes:
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
    for i, frame in enumerate(frames):
        out += struct.pack(endian + "IIII", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame
    return out


QUERY = bytes.fromhex("1234010000010000000000000377777707657861"
                      "6d706c6503636f6d0000010001")


@pytest.mark.parametrize(("endian", "nanoseconds"), [("<", False), (">", False), ("<", True)])
def test_dns_then_other_traffic_counts_every_frame(tmp_path: Path, endian: str,
                                                   nanoseconds: bool) -> None:
    frames = [_udp_frame(40000, 53, QUERY)] + [_udp_frame(5000, 9999, b"x" * 40)] * 5
    path = tmp_path / "mixed.pcap"
    path.write_bytes(_pcap(frames, endian=endian, nanoseconds=nanoseconds))
    assert count_frames(path) == 6 == tshark_frames(path)
    assert analyze(path).summary["packets"] == 6  # was 1: the last DNS frame's number


def test_gzip_and_cut_captures(tmp_path: Path) -> None:
    source = ROOT / "data" / "captures" / "truncation_tcp_fallback.pcapng"
    zipped = tmp_path / "t.pcapng.gz"
    with gzip.open(zipped, "wb") as out:
        out.write(source.read_bytes())
    assert count_frames(zipped) == count_frames(source) == 31
    cut = tmp_path / "cut.pcapng"
    data = source.read_bytes()
    for size in (len(data) // 2, len(data) * 3 // 4, len(data) - 300):
        cut.write_bytes(data[:size])  # a block loses its end: whole frames only, as tshark
        assert count_frames(cut) == tshark_frames(cut) < 31
    pcap = tmp_path / "cut.pcap"
    frames = [_udp_frame(40000, 53, QUERY)] * 3
    pcap.write_bytes(_pcap(frames)[:-10])
    assert count_frames(pcap) == 2


def test_not_a_capture(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a capture\n")
    assert count_frames(text) is None
    assert count_frames(tmp_path / "missing.pcap") is None
    shutil.copy(text, tmp_path / "x.pcapng")
    assert count_frames(tmp_path / "x.pcapng") is None
