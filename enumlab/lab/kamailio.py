"""Kamailio's ENUM module against enumlab, for real: BIND and Kamailio in a network namespace.

``python -m enumlab.lab.kamailio check`` (``make kamailio-check``) creates a network namespace whose
``/etc/resolv.conf`` (``/etc/netns/<ns>/resolv.conf``) points at a BIND serving ``data/zones``
on the namespace's own 127.0.0.1:53 -- Kamailio has no DNS setting of its own, it uses the
system resolver (the seed's resolv.conf lesson). Inside, Kamailio runs ``enum_query()`` on every
INVITE and answers 300 with its whole destination set as Contact (the rewritten Request-URI and
every branch, with their q values), or 404. BIND serves the records in the zone's order
(``rrset-order none``), so the order Kamailio sees is the order enumlab's emulation sees. enumlab
sends an INVITE for every ENUM number of the lab zone and compares Kamailio's answer with

* enumlab's RFC 6116/3403 procedure (first candidate), and
* enumlab's emulation of Kamailio (:func:`enumlab.split.peers.kamailio_enum_query`): every URI, in
  order, with its q value.

All traffic stays inside the namespace. Needs root, ``ip`` (iproute2), ``named`` (bind9) and
``kamailio`` with its ``enum`` module (Debian package kamailio).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import dns.zone

from ..core.e164 import from_enum_domain
from ..core.errors import EnumlabError, LabServerError, ProcedureError
from ..core.paths import KAMAILIO_DIR
from ..resolve.ddds import resolve_enum
from ..resolve.resolver import Resolver
from ..split.peers import kamailio_enum_query
from .bind import BindServer, find_program
from .server import DEFAULT_ZONE_DIR

CONFIG = KAMAILIO_DIR / "enum.cfg"
FORWARD_CONFIG = KAMAILIO_DIR / "forward.cfg"
POOL_NUMBER = "+61255503020"  # -> sip:service@pool.split...: four A records
TIES_NUMBER = "+61255503021"  # -> three hosts, NAPTR preferences 100/100/200
SRV_NUMBER = "+61255503022"  # -> sip:service@srvpool.split...: SRV weights 25/25/50
MODULE_DIRS = ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/aarch64-linux-gnu/"
               "kamailio/modules", "/usr/lib/kamailio/modules", "/usr/local/lib64/kamailio/modules")


def lab_numbers(zone_file: Path = DEFAULT_ZONE_DIR / "e164.arpa.zone") -> list[str]:
    """Every number the ENUM zone answers for, plus wildcard samples and neighbours of the
    ported exception (which RFC 4592 turns into NXDOMAIN)."""
    zone = dns.zone.from_file(str(zone_file), relativize=False)
    numbers: set[str] = set()
    for name in zone.nodes:
        text = name.to_text()
        if text.startswith("*."):
            base = text[2:]
            for digits in ("234", "999", "000"):
                numbers.add(from_enum_domain(".".join(reversed(digits)) + "." + base))
            continue
        try:
            numbers.add(from_enum_domain(text))
        except EnumlabError:
            continue  # routing.e164.arpa. helpers and the like
    numbers.update({"+61255502346", "+61255502300", "+4930123456"})
    return sorted(numbers)


@dataclass
class Row:
    number: str
    kamailio_status: int
    kamailio: list[tuple[str, float]]  # its destination set: (URI, q), R-URI first
    emulated: list[tuple[str, float]]
    rfc_first: str | None
    rfc_error: str
    agrees_with_emulation: bool
    agrees_with_rfc: bool

    @property
    def kamailio_uri(self) -> str | None:
        return self.kamailio[0][0] if self.kamailio else None


def _contacts(value: str) -> list[tuple[str, float]]:
    """``<sip:a>;q=0.99, <sip:b;x=1>;q=0.98`` -> [(uri, q), ...] (q 1.0 when absent)."""
    out = []
    for m in re.finditer(r"<([^>]*)>([^<]*)", value):
        q = re.search(r";\s*q=([0-9.]+)", m.group(2))
        out.append((m.group(1), float(q.group(1)) if q else 1.0))
    return out


def _invite(number: str, port: int = 5060, timeout: float = 3.0
            ) -> tuple[int, list[tuple[str, float]]]:
    """Send one INVITE to Kamailio on 127.0.0.1: (status, destination set from the Contact)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        local = sock.getsockname()[1]
        call = uuid.uuid4().hex
        msg = (f"INVITE sip:{number}@127.0.0.1 SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{call[:16]};rport\r\n"
               "Max-Forwards: 70\r\n"
               f"From: <sip:probe@127.0.0.1>;tag={call[16:24]}\r\n"
               f"To: <sip:{number}@127.0.0.1>\r\n"
               f"Call-ID: {call}@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
               f"Contact: <sip:probe@127.0.0.1:{local}>\r\nContent-Length: 0\r\n\r\n")
        sock.sendto(msg.encode(), ("127.0.0.1", port))
        while True:
            data = sock.recv(65535).decode(errors="replace")
            status = int(data.split(" ", 2)[1])
            if status >= 200:
                break
    contacts: list[tuple[str, float]] = []
    for line in data.split("\r\n"):
        if line.lower().startswith(("contact:", "m:")):
            # $ds can print its "Contact:" header more than once on one line: the first
            value = line.split(":", 1)[1].split("Contact:")[0].strip()
            contacts = _contacts(value)
            break
    return status, contacts


def _start_kamailio(workdir: Path, config: Path = CONFIG) -> subprocess.Popen[str]:
    kamailio = find_program("kamailio", "kamailio")
    modules = next((d for d in MODULE_DIRS if Path(d, "enum.so").exists()), None)
    if modules is None:
        raise LabServerError("Kamailio's enum module (enum.so) was not found: install the "
                             "Debian package kamailio", subject="enum.so")
    cfg = workdir / "kamailio.cfg"
    cfg.write_text(config.read_text().replace("__MODULE_PATH__", modules))
    check = subprocess.run([kamailio, "-c", "-f", str(cfg)], capture_output=True, text=True)
    if check.returncode != 0:
        raise LabServerError(f"kamailio -c refused the config:\n{check.stderr[-2000:]}",
                             subject=str(cfg))
    proc = subprocess.Popen([kamailio, "-DD", "-E", "-f", str(cfg), "-P",
                             str(workdir / "kamailio.pid"), "-Y", str(workdir), "-w",
                             str(workdir)], stdout=subprocess.DEVNULL,
                            stderr=open(workdir / "kamailio.log", "w"), text=True)  # noqa: SIM115
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabServerError("kamailio exited at start:\n"
                                 + (workdir / "kamailio.log").read_text()[-2000:],
                                 subject=str(cfg))
        try:
            status, _ = _invite("+0", timeout=0.3)  # not E.164 for enum_query: a quick 404
            if status:
                return proc
        except (OSError, ValueError, IndexError):
            time.sleep(0.2)
    proc.kill()
    raise LabServerError("kamailio did not answer on 127.0.0.1:5060", subject=str(cfg))


def compare_inside_namespace(zones: Path = DEFAULT_ZONE_DIR) -> list[Row]:
    """Run inside a namespace whose resolv.conf points at 127.0.0.1: BIND, Kamailio, compare."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="enumlab-kamailio-") as tmp, \
            BindServer(zones, port=53, rrset_order="none") as bind:
        proc = _start_kamailio(Path(tmp))
        try:
            resolver = Resolver(bind.host, bind.port)
            for number in lab_numbers(zones / "e164.arpa.zone"):
                status, contacts = _invite(number)
                emulated = [(b.uri, b.q) for b in kamailio_enum_query(number, resolver)]
                try:
                    rfc = resolve_enum(number, resolver)
                    rfc_first = rfc.uris[0] if rfc.uris else None
                    error = ""
                    tied = [c.uri for c in rfc.candidates
                            if rfc.candidates and c.record.key == rfc.candidates[0].record.key]
                except ProcedureError as exc:
                    rfc_first, error, tied = None, str(exc), []
                first = contacts[0][0] if status == 300 and contacts else None
                rows.append(Row(
                    number, status, contacts if status == 300 else [], emulated, rfc_first,
                    error,
                    agrees_with_emulation=(contacts == emulated) if status == 300
                    else not emulated,
                    agrees_with_rfc=(first in tied) if status == 300 else rfc_first is None))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return rows


def _send_invite(sock: socket.socket, number: str) -> None:
    local = sock.getsockname()[1]
    call = uuid.uuid4().hex
    sock.sendto((f"INVITE sip:{number}@127.0.0.1 SIP/2.0\r\n"
                 f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{call[:16]};rport\r\n"
                 "Max-Forwards: 70\r\n"
                 f"From: <sip:probe@127.0.0.1>;tag={call[16:24]}\r\n"
                 f"To: <sip:{number}@127.0.0.1>\r\n"
                 f"Call-ID: {call}@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
                 f"Contact: <sip:probe@127.0.0.1:{local}>\r\nContent-Length: 0\r\n\r\n"
                 ).encode(), ("127.0.0.1", 5060))


def fleet_zones(zones: Path, workdir: Path, pool_ttl: int) -> Path:
    """A copy of ``zones`` whose pool host (+61255503020's) has TTL ``pool_ttl``: many cache
    epochs in a short run."""
    out = workdir / "zones"
    shutil.copytree(zones, out)
    zone = out / "mnc001.mcc001.3gppnetwork.org.zone"
    zone.write_text(re.sub(r"(?m)^pool\.split(\s+)IN A", rf"pool.split {pool_ttl} IN A",
                           zone.read_text()))
    return out


def fleet_capture_inside(zones: Path, pcap: Path, *, pool_calls: int, pool_rate: float,
                         ties_calls: int, ties_rate: float) -> dict[str, float]:
    """In the namespace: BIND (rrset-order random, its default), Kamailio forwarding INVITEs
    with its DNS cache on, dumpcap on lo writing ``pcap``; ``pool_calls`` INVITEs for the pool
    number at ``pool_rate`` per second, then ``ties_calls`` for the ties number and as many
    for the SRV number, at ``ties_rate``."""
    dumpcap = find_program("dumpcap", "wireshark-common")
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="enumlab-kamfleet-") as tmp, \
            BindServer(zones, port=53, rrset_order="random"):
        capture = subprocess.Popen([dumpcap, "-q", "-i", "lo", "-w", str(pcap), "-f", "udp"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not pcap.exists():
                time.sleep(0.05)
            time.sleep(0.5)
            proc = _start_kamailio(Path(tmp), FORWARD_CONFIG)
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.bind(("127.0.0.1", 0))
                    for label, number, n, rate in (("pool", POOL_NUMBER, pool_calls, pool_rate),
                                                   ("ties", TIES_NUMBER, ties_calls, ties_rate),
                                                   ("srv", SRV_NUMBER, ties_calls, ties_rate)):
                        times[f"{label}_start"] = time.time()
                        start = time.monotonic()
                        for i in range(n):
                            pause = start + i / rate - time.monotonic()
                            if pause > 0:
                                time.sleep(pause)
                            _send_invite(sock, number)
                        times[f"{label}_end"] = time.time()
                time.sleep(0.5)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
        finally:
            time.sleep(0.3)
            capture.send_signal(2)
            capture.wait(timeout=10)
    pcap.chmod(0o644)  # dumpcap writes 0600; the capture is for everyone to read
    return times


def fleet_capture_unavailable() -> str | None:
    """Why :func:`run_fleet_capture` cannot run here (None when it can)."""
    if os.geteuid() != 0:
        return "it needs root (a network namespace)"
    for program, package in (("ip", "iproute2"), ("named", "bind9"), ("kamailio", "kamailio"),
                             ("dumpcap", "wireshark-common"), ("tshark", "tshark")):
        try:
            find_program(program, package)
        except EnumlabError as exc:
            return str(exc)
    return None


def run_fleet_capture(pcap: Path, zones: Path = DEFAULT_ZONE_DIR, *, pool_ttl: int = 1,
                      pool_calls: int = 600, pool_rate: float = 20.0, ties_calls: int = 300,
                      ties_rate: float = 50.0) -> dict[str, float]:
    """Make the capture of :func:`fleet_capture_inside` in a fresh namespace (pool TTL
    shortened to ``pool_ttl``); returns the phases' start/end times (epoch seconds)."""
    from .netlab import run_in_resolver_namespace

    for program, package in (("named", "bind9"), ("kamailio", "kamailio"),
                             ("dumpcap", "wireshark-common")):
        find_program(program, package)
    with tempfile.TemporaryDirectory(prefix="enumlab-kfl-") as tmp:
        lab = fleet_zones(zones, Path(tmp), pool_ttl)
        out = run_in_resolver_namespace(
            ["enumlab.lab.kamailio", "fleet-inside", "--zones", str(lab), "--pcap", str(pcap),
             "--calls", f"{pool_calls},{pool_rate},{ties_calls},{ties_rate}"],
            tag="kfl", what="the Kamailio fleet run", timeout=900)
    times: dict[str, float] = json.loads(out)
    return times


def run_check(zones: Path = DEFAULT_ZONE_DIR) -> list[Row]:
    """Create the namespace, run :func:`compare_inside_namespace` in it, clean up."""
    from .netlab import run_in_resolver_namespace

    find_program("named", "bind9")
    find_program("kamailio", "kamailio")
    out = run_in_resolver_namespace(["enumlab.lab.kamailio", "inside", "--zones", str(zones)],
                                    tag="kam", what="the Kamailio check")
    return [Row(**{**row, "kamailio": [tuple(c) for c in row["kamailio"]],
                   "emulated": [tuple(c) for c in row["emulated"]]})
            for row in json.loads(out)]


def format_table(rows: list[Row]) -> str:
    lines = [f"{'number':<16} {'kamailio':<62} {'emu':<4} {'rfc':<4} enumlab RFC first candidate"]
    for r in rows:
        more = f" +{len(r.kamailio) - 1} branch(es)" if len(r.kamailio) > 1 else ""
        got = f"{r.kamailio_status} {r.kamailio_uri or ''}{more}"
        lines.append(f"{r.number:<16} {got:<62} {'ok' if r.agrees_with_emulation else 'DIFF':<4} "
                     f"{'ok' if r.agrees_with_rfc else 'diff':<4} "
                     f"{r.rfc_first or r.rfc_error or '(none)'}")
    same = sum(r.agrees_with_rfc for r in rows)
    emu = sum(r.agrees_with_emulation for r in rows)
    lines.append(f"\n{len(rows)} numbers: Kamailio agrees with the RFC procedure on {same}, with "
                 f"enumlab's kamailio emulation on {emu}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m enumlab.lab.kamailio", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["check", "inside", "fleet", "fleet-inside"],
                        help="check: create the namespace and compare; fleet: capture Kamailio "
                             "forwarding INVITEs with its DNS cache on (--pcap); inside, "
                             "fleet-inside: (internal)")
    parser.add_argument("--zones", type=Path, default=DEFAULT_ZONE_DIR)
    parser.add_argument("--pcap", type=Path, help="fleet: where to write the capture")
    parser.add_argument("--calls", default="600,20,300,50", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.mode in ("fleet", "fleet-inside"):
        if args.pcap is None:
            parser.error("fleet needs --pcap FILE")
        n1, r1, n2, r2 = (float(x) for x in args.calls.split(","))
        try:
            if args.mode == "fleet-inside":
                json.dump(fleet_capture_inside(args.zones, args.pcap.resolve(),
                                               pool_calls=int(n1), pool_rate=r1,
                                               ties_calls=int(n2), ties_rate=r2), sys.stdout)
                return 0
            times = run_fleet_capture(args.pcap.resolve(), args.zones, pool_calls=int(n1),
                                      pool_rate=r1, ties_calls=int(n2), ties_rate=r2)
        except EnumlabError as exc:
            print(f"enumlab kamailio: error: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(times))
        return 0
    try:
        if args.mode == "inside":
            rows = compare_inside_namespace(args.zones)
            json.dump([asdict(r) for r in rows], sys.stdout)
            return 0
        rows = run_check(args.zones)
    except EnumlabError as exc:
        print(f"enumlab kamailio: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        print(format_table(rows))
    return 0 if all(r.agrees_with_emulation for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
