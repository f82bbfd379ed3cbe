"""The native capture engine on bad and unusual files: a typed CaptureError naming the file
and what is wrong, or a partial result that keeps every message read before the damage and
says where it is -- never a traceback, never the whole file read into memory."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from enumlab.capture import CaptureError, NoDnsMessagesError, load_capture
from enumlab.capture.files import open_capture

from . import frames as F
from .conftest import ROOT

CAPTURES = ROOT / "data" / "captures"
C, S = "198.51.100.7", "192.0.2.53"


def _exchanges(n: int) -> list[tuple[float, bytes]]:
    out = []
    for i in range(n):
        q = F.query(f"{i}.8.5.5.5.1.6.e164.arpa", ident=i)
        r = F.response(f"{i}.8.5.5.5.1.6.e164.arpa", ident=i)
        out.append((1.0 + i, F.link(F.ipv4(C, S, 17, F.udp(3000 + i, 53, q)), F.ETHERNET)))
        out.append((1.5 + i, F.link(F.ipv4(S, C, 17, F.udp(53, 3000 + i, r)), F.ETHERNET)))
    return out


@pytest.mark.parametrize(("content", "needle"), [
    (b"", r"empty \(0 bytes\)"),
    (b"\0" * 4096, "zeroed header"),
    (b"GET / HTTP/1.1\r\n" * 20, "not a pcap or pcapng"),
    (b"\xd4\xc3\xb2\xa1\x02\x00", "pcap file header cut short"),
])
def test_not_a_capture_is_a_typed_error_naming_the_file(tmp_path: Path, content: bytes,
                                                        needle: str) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match=needle) as err:
        load_capture(path)
    assert str(path) in str(err.value) and err.value.subject == str(path)


def test_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="is a directory"):
        load_capture(tmp_path)
    with pytest.raises(CaptureError, match="does not exist"):
        load_capture(tmp_path / "nope.pcap")


@pytest.mark.parametrize("cut", [0.3, 0.5, 0.77, 0.99])
def test_a_cut_capture_keeps_every_message_before_the_cut(tmp_path: Path, cut: float) -> None:
    data = F.pcap(_exchanges(20), F.ETHERNET)
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[: int(len(data) * cut)])
    tables = load_capture(path)
    whole = (len(data) * cut - 24) // (len(data[24:]) / 40)  # records entirely before the cut
    assert len(tables.messages) in (whole, whole - 1, whole + 1)
    assert tables.warnings and "damaged" in tables.warnings[0] and "byte" in tables.warnings[0]
    assert list(tables.messages["frame"]) == list(range(1, len(tables.messages) + 1))


def test_a_corrupt_record_length_stops_there_and_says_where(tmp_path: Path) -> None:
    data = bytearray(F.pcap(_exchanges(10), F.ETHERNET))
    first = 24 + 16 + struct.unpack_from("<I", data, 24 + 8)[0]  # second record's header
    second = first + 16 + struct.unpack_from("<I", data, first + 8)[0]
    struct.pack_into("<I", data, second + 8, 0x7FFFFFFF)  # third record: an absurd length
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(data))
    tables = load_capture(path)
    assert len(tables.messages) == 2 and tables.total_frames == 2
    assert f"at byte {second}" in tables.warnings[0] and "impossible length" in tables.warnings[0]


def test_pcapng_damage_and_unknown_blocks(tmp_path: Path) -> None:
    frames = [(t, 0, d) for t, d in _exchanges(5)]
    path = tmp_path / "unknown.pcapng"
    path.write_bytes(F.pcapng(frames, [F.ETHERNET], unknown_block=True,
                              capture_filter="udp port 53"))
    tables = load_capture(path)
    assert len(tables.messages) == 10 and not tables.warnings
    assert tables.capture_filter == "udp port 53"
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    tables = load_capture(path)
    assert len(tables.messages) == 9 and "cut by the end of the file" in tables.warnings[0]


def test_gzip_captures_are_read_and_a_cut_gzip_keeps_what_inflated(tmp_path: Path) -> None:
    data = F.pcap(_exchanges(50), F.ETHERNET)
    path = tmp_path / "c.pcap.gz"
    path.write_bytes(gzip.compress(data))
    assert len(load_capture(path).messages) == 100
    packed = gzip.compress(data)
    path.write_bytes(packed[: len(packed) // 2])
    tables = load_capture(path)
    assert 0 < len(tables.messages) < 100
    assert any("gzip stream is damaged" in w for w in tables.warnings)


def test_a_huge_sparse_file_is_mapped_not_read(tmp_path: Path) -> None:
    """A 64 GiB file of zeros behind a valid pcap header: mapped, never read whole, the walk
    stopped where the zeros start."""
    import resource

    path = tmp_path / "sparse.pcap"
    head = F.pcap(_exchanges(3), F.ETHERNET)
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(64 << 30)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    index = open_capture(path)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    # all-zero record headers are not taken for four billion empty packets
    assert index.frames == 6 and index.damage is not None
    assert "zero-filled" in index.damage and f"at byte {len(head)}" in index.damage
    assert grown < 200_000  # KB: mapped, not read
    index.close()
    tables = load_capture(path)
    assert len(tables.messages) == 6 and "zero-filled" in tables.warnings[0]


def test_unsupported_link_type_falls_back_to_tshark_with_a_warning(tmp_path: Path) -> None:
    from .conftest import require_tool

    require_tool("tshark", "tshark")
    frames = [(t, d[14:]) for t, d in _exchanges(2)]  # raw IP, labelled as link type 147
    path = tmp_path / "user0.pcap"
    path.write_bytes(F.pcap(frames, 147))
    # tshark reads no DNS in link type 147 either: nothing usable (exit 1), said with why,
    # and the tables read kept
    with pytest.raises(NoDnsMessagesError, match="not decoded natively") as auto:
        load_capture(path, engine="auto")
    tables = auto.value.tables
    assert tables.engine == "tshark" and "not decoded natively" in tables.warnings[0]
    with pytest.raises(NoDnsMessagesError, match="skipped") as native:
        load_capture(path, engine="native")
    assert native.value.tables.messages.empty and "skipped" in native.value.tables.warnings[0]


def test_pcapng_with_two_interfaces_of_different_link_types(tmp_path: Path) -> None:
    """An Ethernet interface and a raw-IP one in one section: each packet decoded by its own
    interface's link type, and its time by that interface's resolution."""
    eth = [(t, 0, d) for t, d in _exchanges(3)]
    raw = [(t + 0.25, 1, d[14:]) for t, d in _exchanges(3)]
    path = tmp_path / "two.pcapng"
    path.write_bytes(F.pcapng(sorted(eth + raw), [F.ETHERNET, F.RAW]))
    tables = load_capture(path, engine="native")
    assert len(tables.messages) == 12 and tables.link_types == {F.ETHERNET: 6, F.RAW: 6}
    assert tables.messages["time"].is_monotonic_increasing


def test_simple_packet_blocks_have_no_time_rather_than_an_invented_one(tmp_path: Path) -> None:
    path = tmp_path / "spb.pcapng"
    path.write_bytes(F.pcapng([(t, 0, d) for t, d in _exchanges(2)], [F.ETHERNET],
                              simple=True))
    tables = load_capture(path, engine="native")
    assert len(tables.messages) == 4 and tables.messages["time"].isna().all()


def _tcp_stream(queries: int) -> tuple[list[bytes], bytes]:
    msgs = [F.query(f"{i}.tcp.e164.arpa", ident=i) for i in range(queries)]
    blob = b"".join(len(m).to_bytes(2, "big") + m for m in msgs)
    return msgs, blob


def test_tcp_holes_and_mid_stream_starts_are_said_not_invented(tmp_path: Path) -> None:
    _msgs, blob = _tcp_stream(6)
    third = len(blob) // 3
    pieces = [(0, blob[:third]), (third, blob[third:2 * third]), (2 * third, blob[2 * third:])]
    frames = [(1.0, F.link(F.ipv4(C, S, 6, F.tcp(4000, 53, 100, flags=0x02)), F.ETHERNET))]
    for k, (off, data) in enumerate(pieces):
        if k == 1:
            continue  # the middle segment never captured
        frames.append((1.1 + k, F.link(F.ipv4(C, S, 6, F.tcp(4000, 53, 101 + off, data)),
                                       F.ETHERNET)))
    # a second connection whose SYN the capture missed
    frames.append((5.0, F.link(F.ipv4(C, S, 6, F.tcp(4001, 53, 9000, blob[:60])), F.ETHERNET)))
    path = tmp_path / "holes.pcap"
    path.write_bytes(F.pcap(frames, F.ETHERNET))
    tables = load_capture(path)
    decoded = tables.messages
    assert 1 <= len(decoded) < 6  # only the messages wholly before the hole, none invented
    assert all(q.endswith(".tcp.e164.arpa") for q in decoded["qname"].astype(str))
    notes = " ".join(tables.warnings)
    assert "missing at stream offset" in notes and "not decoded" in notes
    assert "mid-stream (no SYN)" in notes


@pytest.mark.parametrize("name", sorted(p.name for p in CAPTURES.glob("*.pcap*")))
def test_read_in_small_buffers_every_record_is_the_same(name: str) -> None:
    """The record walk resumes where a buffer ends (a record cut by it begins the next): read
    in buffers of 64 bytes or 1 KB, and at most 3 records at a time, every shipped capture
    (pcap and pcapng, several SHBs and IDBs) gives the same records -- bytes, lengths, times,
    interfaces -- the same notes and the same damage as read whole."""
    from enumlab.capture.files import RecordStream

    whole = open_capture(CAPTURES / name)
    try:
        expected = [bytes(whole.bytes_between(int(o), int(o + c)))
                    for o, c in zip(whole.offset, whole.caplen, strict=True)]
        for read_bytes, most in ((64, None), (1000, 3)):
            with RecordStream(CAPTURES / name, read_bytes=read_bytes) as stream:
                got: list[bytes] = []
                for chunk in stream.chunks(most):
                    assert chunk.first == len(got) and (most is None or chunk.frames <= most)
                    got += [bytes(chunk.buf[o:o + c])
                            for o, c in zip(chunk.offset, chunk.caplen, strict=True)]
                index = stream.index()
            assert got == expected
            np.testing.assert_array_equal(index.time, whole.time)
            np.testing.assert_array_equal(index.iface, whole.iface)
            np.testing.assert_array_equal(index.origlen, whole.origlen)
            assert (index.damage, index.notes) == (whole.damage, whole.notes)
    finally:
        whole.close()
