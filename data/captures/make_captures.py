"""Re-make the lab captures in data/captures/ from real traffic (run as root).

    sudo .venv/bin/python data/captures/make_captures.py [OUTDIR]

Each scenario builds a client -- router -- server network in fresh network namespaces
(enumlab.lab.netlab), runs real DNS servers (enumlab's embedded server, or a deliberately broken
responder) and real clients (dig, kdig, enumlab's resolver), and records the client's (or the
server's) interface with dumpcap. labels.json says what each capture contains; the test suite
checks the analyzer against it. Nothing leaves the namespaces.
"""

from __future__ import annotations

import json
import struct
import sys
import time
from pathlib import Path
from typing import Any

from enumlab.lab.netlab import NetLab
from enumlab.lab.server import DEFAULT_ZONE_DIR

PY = sys.executable
BIG = "9.9.9.0.0.5.5.5.3.1.6.e164.arpa."  # 12 NAPTR, ~1.1 KB
HUGE = "8.9.9.0.0.5.5.5.3.1.6.e164.arpa."  # 30 NAPTR, ~2.8 KB
SMALL = "3.1.9.0.0.5.5.5.3.1.6.e164.arpa."  # 3 NAPTR, ~300 B

# A UDP responder that answers everything with TC=1 and has no TCP listener.
TC_ONLY = r"""
import socket, sys, dns.message, dns.flags
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 53))
while True:
    w, peer = s.recvfrom(4096)
    r = dns.message.make_response(dns.message.from_wire(w)); r.flags |= dns.flags.TC
    s.sendto(r.to_wire(), peer)
"""
# A UDP socket that reads queries and never answers.
SILENT = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    s.recvfrom(4096)
"""


def serve(lab: NetLab, host: str) -> Any:
    proc = lab.spawn(lab.server, PY, "-m", "enumlab.cli", "serve", str(DEFAULT_ZONE_DIR),
                     "--host", host, "--port", "53", "--duration", "120")
    wait_dns(lab, host)
    return proc


def wait_dns(lab: NetLab, host: str) -> None:
    for _ in range(100):
        out = lab.run(lab.client, "dig", f"@{host}", "+tries=1", "+time=1", "SOA", "e164.arpa.",
                      check=False)
        if "status: NOERROR" in out.stdout:
            return
        time.sleep(0.1)
    raise RuntimeError(f"no DNS server answered on {host}")


def dig(lab: NetLab, *args: str) -> str:
    return lab.run(lab.client, "dig", *args, check=False).stdout


def truncation_tcp_fallback(out: Path) -> dict[str, Any]:
    with NetLab("a") as lab:
        serve(lab, lab.server.ipv4)
        cap = lab.capture(lab.client, out)
        lab.run(lab.client, PY, "-m", "enumlab.cli", "enum", "+61355500999", "--server",
                f"{lab.server.ipv4}:53")
        time.sleep(0.3)
        dig(lab, f"@{lab.server.ipv4}", "+noedns", "NAPTR", BIG)
        time.sleep(0.3)
        dig(lab, f"@{lab.server.ipv4}", "+bufsize=1232", "NAPTR", SMALL)
        lab.stop_capture(cap)
    return {"description": "enumlab's resolver and dig (no EDNS0) get TC=1 for a 1.1 KB "
            "NAPTR answer and retry over TCP; one small EDNS0 1232 query fits in UDP",
            "transactions": 5,
            "outcomes": {"truncated_tcp_ok": 2, "ok": 3},
            "truncated": 2, "tcp_fallback_ok": 2, "fragmented_responses": 0}


def truncation_ignored(out: Path) -> dict[str, Any]:
    with NetLab("b") as lab:
        serve(lab, lab.server.ipv4)
        cap = lab.capture(lab.client, out)
        dig(lab, f"@{lab.server.ipv4}", "+noedns", "+ignore", "NAPTR", BIG)
        time.sleep(0.3)
        lab.run(lab.client, "kdig", f"@{lab.server.ipv4}", "+noedns", "+ignore", "NAPTR",
                BIG, check=False)
        lab.stop_capture(cap)
    return {"description": "dig +ignore and kdig +ignore take the truncated answer and never "
            "retry over TCP: the silent failure",
            "transactions": 2, "outcomes": {"truncated_no_retry": 2}, "truncated": 2,
            "tcp_fallback_ok": 0, "fragmented_responses": 0,
            # the capture stops within 10 s of the answers: it cannot show the client never
            # retried later, and says so
            "warnings_contain": ["had not finished when the capture stopped"]}


def truncation_tcp_refused(out: Path) -> dict[str, Any]:
    with NetLab("c") as lab:
        lab.spawn(lab.server, PY, "-c", TC_ONLY, lab.server.ipv4)
        time.sleep(1.0)
        cap = lab.capture(lab.client, out)
        dig(lab, f"@{lab.server.ipv4}", "+noedns", "+tries=1", "NAPTR", BIG)
        lab.stop_capture(cap)
    return {"description": "a server that sets TC but has no TCP listener: the client's TCP "
            "SYN is refused (RST)", "transactions": 1,
            "outcomes": {"truncated_tcp_failed": 1}, "truncated": 1, "tcp_fallback_ok": 0,
            "tcp_fallback_failed": 1, "fragmented_responses": 0}


def edns_fragmented(out: Path, *, capture_filter: str | None = None) -> dict[str, Any]:
    with NetLab("d", server_mtu=1280) as lab:
        serve(lab, lab.server.ipv4)
        cap = lab.capture(lab.client, out, capture_filter=capture_filter)
        dig(lab, f"@{lab.server.ipv4}", "+bufsize=4096", "NAPTR", HUGE)
        time.sleep(0.3)
        lab.run(lab.client, PY, "-m", "enumlab.cli", "enum", "+61355500998", "--server",
                f"{lab.server.ipv4}:53", "--edns", "4096")
        lab.stop_capture(cap)
    if capture_filter:
        return {"description": "the same EDNS0 4096 exchange, captured with a port-53 filter: "
                "the non-first fragments are invisible to the capture",
                "transactions": 2, "outcomes": {"fragments_lost": 2},
                "capture_filter": capture_filter,
                "warnings_contain": ["not one non-first fragment", "capture filter"]}
    return {"description": "EDNS0 4096 answers of ~2.8 KB from a server on a 1280-byte MTU "
            "link: IPv4-fragmented into 3 fragments, reassembled by the client",
            "transactions": 2, "outcomes": {"ok": 2}, "truncated": 0,
            "fragmented_responses": 2, "fragments_per_response": 3}


def fragments_lost(out: Path) -> dict[str, Any]:
    with NetLab("e", server_mtu=1280) as lab:
        serve(lab, lab.server.ipv4)
        lab.drop_non_first_fragments()
        cap = lab.capture(lab.client, out)
        dig(lab, f"@{lab.server.ipv4}", "+bufsize=4096", "+tries=2", "+time=1", "NAPTR", HUGE)
        lab.stop_capture(cap)
    return {"description": "the same answer, but the router drops every non-first fragment: "
            "only first fragments arrive, dig retries once and gives up",
            "transactions": 1, "outcomes": {"fragments_lost": 1}, "retransmissions": 1,
            "fragmented_responses": 0,
            "warnings_contain": ["not one non-first fragment"]}


def ipv6_ptb(out: Path) -> dict[str, Any]:
    with NetLab("f", client_mtu=1280, server_mtu=1500) as lab:
        serve(lab, lab.server.ipv6)
        cap = lab.capture(lab.server, out)
        dig(lab, f"@{lab.server.ipv6}", "+bufsize=4096", "+tries=3", "+time=1", "NAPTR", HUGE)
        time.sleep(0.3)
        dig(lab, f"@{lab.server.ipv6}", "+noedns", "NAPTR", BIG)
        lab.stop_capture(cap)
    return {"description": "IPv6, captured at the server: a 2.8 KB answer fragmented for the "
            "server's 1500 link meets the client's 1280 link; the router refuses both fragments "
            "with ICMPv6 Packet Too Big (MTU 1280), so that answer never arrives; dig retries "
            "from a new port and gets the answer in 1280-byte fragments. Then TC -> TCP over "
            "IPv6", "transactions": 4,
            "outcomes": {"fragments_lost": 1, "ok": 2, "truncated_tcp_ok": 1}, "icmp": 2,
            "icmp_mtu": 1280, "fragmented_responses": 2, "family": "ipv6"}


def unanswered(out: Path) -> dict[str, Any]:
    with NetLab("g") as lab:
        lab.spawn(lab.server, PY, "-c", SILENT, lab.server.ipv4, "5300")
        time.sleep(1.0)
        cap = lab.capture(lab.client, out)
        dig(lab, f"@{lab.server.ipv4}", "-p", "5300", "+tries=2", "+time=1", "NAPTR", SMALL)
        dig(lab, f"@{lab.server.ipv4}", "-p", "5301", "+tries=1", "+time=1", "NAPTR", SMALL)
        lab.stop_capture(cap)
    return {"description": "a server that never answers (dig retries once), and a closed port "
            "(ICMP port unreachable); DNS on ports 5300/5301, so read with --port",
            "transactions": 2, "outcomes": {"unanswered": 2}, "retransmissions": 1, "icmp": 1,
            "ports": [5300, 5301],
            "warnings_contain": ["had not finished when the capture stopped"]}


def loopback(out: Path) -> dict[str, Any]:
    with NetLab("h") as lab:
        lab.spawn(lab.server, PY, "-m", "enumlab.cli", "serve", str(DEFAULT_ZONE_DIR), "--host",
                  "127.0.0.1", "--port", "53", "--duration", "60")
        time.sleep(1.5)
        cap = lab.capture(lab.server, out, interface="lo")
        lab.run(lab.server, "dig", "@127.0.0.1", "+bufsize=4096", "NAPTR", HUGE, check=False)
        lab.stop_capture(cap)
    return {"description": "a capture on loopback: a 2.8 KB UDP datagram that no real link "
            "would carry unfragmented", "transactions": 1, "outcomes": {"ok": 1},
            "warnings_contain": ["larger than a 1500-byte Ethernet MTU"]}


def gtp_wrap(src: Path, out: Path) -> dict[str, Any]:
    """Wrap every IP packet of a real capture in Ethernet/IPv4/UDP 2152/GTPv1-U (S1-U/S5)."""
    import subprocess

    plain = out.with_suffix(".tmp.pcap")
    subprocess.run(["editcap", "-F", "pcap", str(src), str(plain)], check=True)
    data = plain.read_bytes()
    plain.unlink()
    header, body = data[:24], data[24:]
    magic = struct.unpack("<I", header[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    records, pos = [], 0
    while pos + 16 <= len(body):
        ts_s, ts_u, incl, _orig = struct.unpack_from(endian + "IIII", body, pos)
        frame = body[pos + 16: pos + 16 + incl]
        pos += 16 + incl
        inner = frame[14:]  # drop the inner Ethernet header: GTP-U carries IP
        gtp = struct.pack("!BBHI", 0x30, 0xFF, len(inner), 0x1000_0001) + inner
        udp = struct.pack("!HHHH", 2152, 2152, 8 + len(gtp), 0) + gtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                         bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + udp
        records.append(struct.pack(endian + "IIII", ts_s, ts_u, len(eth), len(eth)) + eth)
    out.write_bytes(header + b"".join(records))
    label = json.loads(json.dumps(LABELS_BY_NAME["truncation_tcp_fallback.pcapng"]))
    label["description"] = ("truncation_tcp_fallback.pcapng with every packet wrapped in "
                            "GTP-U (as seen on S1-U/S5/S8): a synthetic encapsulation of real "
                            "packets; the analysis must not change")
    return label


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


LABELS_BY_NAME: dict[str, dict[str, Any]] = {}


def main(outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    scenarios = [
        ("truncation_tcp_fallback.pcapng", truncation_tcp_fallback),
        ("truncation_ignored.pcapng", truncation_ignored),
        ("truncation_tcp_refused.pcapng", truncation_tcp_refused),
        ("edns_fragmented_mtu1280.pcapng", edns_fragmented),
        ("fragments_lost.pcapng", fragments_lost),
        ("ipv6_packet_too_big.pcapng", ipv6_ptb),
        ("unanswered.pcapng", unanswered),
        ("loopback_capture.pcapng", loopback),
    ]
    for name, make in scenarios:
        print(f"making {name}", flush=True)
        (outdir / name).unlink(missing_ok=True)
        LABELS_BY_NAME[name] = make(outdir / name)
    name = "port53_filter.pcapng"
    print(f"making {name}", flush=True)
    (outdir / name).unlink(missing_ok=True)
    LABELS_BY_NAME[name] = edns_fragmented(outdir / name,
                                           capture_filter="udp port 53 or tcp port 53")
    name = "gtpu_encapsulated.pcap"
    print(f"making {name}", flush=True)
    LABELS_BY_NAME[name] = gtp_wrap(outdir / "truncation_tcp_fallback.pcapng", outdir / name)
    (outdir / "labels.json").write_text(json.dumps(LABELS_BY_NAME, indent=2) + "\n")
    for path in sorted(outdir.glob("*.pcap*")):
        print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
