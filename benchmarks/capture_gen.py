"""Big synthetic DNS captures for the capture benchmark, written fast: one block of 100
exchanges is built packet by packet (tests/frames.py), then stamped out block after block with
numpy, each block's names made unique (8 digit labels: a million blocks before a name repeats)
and every packet's timestamp advanced. A block holds 97 plain UDP exchanges, 2 TC=1 answers
followed by a TCP retry (SYN, SYN-ACK, query, answer, FIN) and 1 answer in two IPv4
fragments: 211 packets."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import frames as F

CLIENT, SERVER = "198.18.1.2", "198.18.2.2"
EXCHANGES = 100
TC_AT, FRAG_AT = (10, 60), 40
SPACING = 5e-6  # seconds between packets


def _name(k: int) -> str:
    return ".".join(f"{9_0000000 + k:08d}") + ".1.6.e164.arpa"


def _digits_wire(k: int) -> bytes:
    return b"".join(b"\x01" + c.encode() for c in f"{9_0000000 + k:08d}")


def block() -> tuple[list[bytes], list[int]]:
    """The packets of one block and the exchange index of each packet."""
    packets: list[bytes] = []
    owner: list[int] = []

    def put(datagram: bytes, k: int) -> None:
        packets.append(F.link(datagram, F.ETHERNET))
        owner.append(k)

    for k in range(EXCHANGES):
        name, ident, port = _name(k), 1000 + k, 20000 + k
        q = F.query(name, ident=ident, edns=1232)
        put(F.ipv4(CLIENT, SERVER, 17, F.udp(port, 53, q)), k)
        if k in TC_AT:
            put(F.ipv4(SERVER, CLIENT, 17, F.udp(53, port, F.response(
                name, ident=ident, records=0, tc=True, edns=1232))), k)
            tq = F.query(name, ident=ident + 1, edns=None)
            ta = F.response(name, ident=ident + 1, records=12)
            cp = 40000 + k
            put(F.ipv4(CLIENT, SERVER, 6, F.tcp(cp, 53, 100, flags=0x02)), k)
            put(F.ipv4(SERVER, CLIENT, 6, F.tcp(53, cp, 500, flags=0x12, ack=101)), k)
            put(F.ipv4(CLIENT, SERVER, 6, F.tcp(cp, 53, 101, struct.pack("!H", len(tq)) + tq)),
                k)
            put(F.ipv4(SERVER, CLIENT, 6, F.tcp(53, cp, 501, struct.pack("!H", len(ta)) + ta)),
                k)
            put(F.ipv4(CLIENT, SERVER, 6, F.tcp(cp, 53, 103 + len(tq), flags=0x11)), k)
        elif k == FRAG_AT:
            answer = F.udp(53, port, F.response(name, ident=ident, records=30, edns=4096))
            for piece in F.fragments_v4(SERVER, CLIENT, 17, answer, 1480, ident=7777):
                put(piece, k)
        else:
            put(F.ipv4(SERVER, CLIENT, 17, F.udp(53, port, F.response(name, ident=ident))), k)
    return packets, owner


def write(path: Path, packets_wanted: int, *, first_block: int = 0,
          spacing: float = SPACING) -> int:
    """Write a pcap of about ``packets_wanted`` packets (whole blocks); returns the count.
    ``first_block``: continue a sequence (names and times go on from there), as the next file
    of a rotated capture; ``spacing``: seconds between packets."""
    packets, _owner = block()
    records = []
    offsets = []
    pos = 0
    for data in packets:
        offsets.append(pos)
        records.append(struct.pack("<IIII", 0, 0, len(data), len(data)) + data)
        pos += 16 + len(data)
    template = np.frombuffer(b"".join(records), dtype=np.uint8)
    rec_off = np.array(offsets, dtype=np.int64)
    # where each exchange's 8 name digits sit in the block (every copy of the name)
    raw = template.tobytes()
    digit_pos: list[int] = []
    digit_owner: list[int] = []
    for k in range(EXCHANGES):
        marker = _digits_wire(k)
        at = raw.find(marker)
        while at >= 0:
            digit_pos += [at + 1 + 2 * d for d in range(8)]
            digit_owner += [k] * 8
            at = raw.find(marker, at + 1)
    dpos = np.array(digit_pos, dtype=np.int64)
    downer = np.array(digit_owner, dtype=np.int64)
    dplace = np.tile(np.arange(8), len(dpos) // 8)
    n_blocks = max(1, round(packets_wanted / len(packets)))
    per_chunk = 512
    start_time = 1_700_000_000.0
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for first in range(first_block, first_block + n_blocks, per_chunk):
            count = min(per_chunk, first_block + n_blocks - first)
            chunk = np.tile(template, count).reshape(count, len(template))
            blocks = np.arange(first, first + count, dtype=np.int64)
            numbers = blocks[:, None] * EXCHANGES + downer[None, :]  # (count, n_digits)
            digit = (numbers // (10 ** (7 - dplace))[None, :]) % 10
            chunk[:, dpos] = (digit + 48).astype(np.uint8)
            index = blocks[:, None] * len(packets) + np.arange(len(packets))[None, :]
            stamps = start_time + index * spacing
            sec = np.floor(stamps).astype(np.uint32)
            usec = np.round((stamps - np.floor(stamps)) * 1e6).astype(np.uint32)
            for b, (field, values) in enumerate(((0, sec), (4, usec))):
                del b
                as_bytes = values.astype("<u4").view(np.uint8).reshape(count, len(packets), 4)
                for j in range(4):
                    chunk[:, rec_off + field + j] = as_bytes[:, :, j]
            f.write(chunk.tobytes())
    return n_blocks * len(packets)


if __name__ == "__main__":
    print(write(Path(sys.argv[1]), int(sys.argv[2])))
