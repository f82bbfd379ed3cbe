"""Capture analysis speed: enumlab's whole analysis vs raw tshark field export vs naive pyshark.

Generates a 100,000-packet capture (50,000 UDP DNS queries and answers, 1 in 20 answers
truncated with TC=1) and measures, in the same run:

* raw ``tshark -2 -T fields`` export of the same fields to /dev/null (the floor: tshark's own
  decoding);
* enumlab's analysis (load + transactions + classification);
* naive pyshark iteration (packet objects one by one) on the first 2,000 packets, extrapolated.

Targets (issue 6): analysis >= 0.8x the raw export's speed, and >= 40x naive pyshark.
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
import time
from pathlib import Path

import dns.flags
import dns.message

from enumlab.capture import DISPLAY_FILTER, FIELDS, find_tshark, naive_pyshark_count
from enumlab.pcap_report import analyze

PAIRS = 50_000
PYSHARK_SAMPLE = 2_000


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + udp


def make_capture(path: Path) -> int:
    client, server = bytes([198, 18, 1, 2]), bytes([198, 18, 2, 2])
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    t = 1_700_000_000.0
    for i in range(PAIRS):
        name = f"{i % 1000}.1.0.5.5.5.2.1.6.e164.arpa."
        q = dns.message.make_query(name, "NAPTR")
        q.id = i % 65536
        r = dns.message.make_response(q)
        if i % 20 == 0:
            r.flags |= dns.flags.TC
        sport = 20000 + i % 40000
        for frame in (_frame(client, server, sport, 53, q.to_wire()),
                      _frame(server, client, 53, sport, r.to_wire())):
            t += 0.0001
            out.append(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(frame), len(frame)))
            out.append(frame)
    path.write_bytes(b"".join(out))
    return 2 * PAIRS


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.pcap"
        packets = make_capture(path)
        cmd = [find_tshark(), "-r", str(path), "-2", "-n", "-Y", DISPLAY_FILTER, "-T", "fields",
               "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
        for name, *_ in FIELDS:
            cmd += ["-e", name]
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        raw_s = time.perf_counter() - start
        start = time.perf_counter()
        analysis = analyze(path)
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        counted = naive_pyshark_count(path, PYSHARK_SAMPLE)
        pyshark_rate = counted / (time.perf_counter() - start)
    return {
        "packets": packets,
        "transactions": analysis.summary["transactions"],
        "truncated": analysis.summary["truncated"],
        "raw_tshark_export_s": round(raw_s, 2),
        "raw_tshark_packets_per_s": round(packets / raw_s),
        "enumlab_analysis_s": round(ours_s, 2),
        "enumlab_packets_per_s": round(packets / ours_s),
        "ratio_to_raw_tshark": round(raw_s / ours_s, 2),
        "naive_pyshark_packets_per_s": round(pyshark_rate),
        "ratio_to_naive_pyshark": round((packets / ours_s) / pyshark_rate, 1),
        "target": ">= 0.8x raw tshark export, >= 40x naive pyshark",
    }
