"""Reading captures: tshark for bulk export, pyshark for one packet's detail.

Bulk loading runs ``tshark -2 -T fields`` once over the file (two passes, so IP reassembly and
DNS decoding are complete) and parses its tab-separated output in chunks into a DataFrame with
fixed, typed columns -- far faster than iterating pyshark packet objects. Each field is exported
at its *last* occurrence in the packet: the innermost header (DNS inside GTP-U) or the packet
quoted by an ICMP error.

pyshark is kept for what it is good at -- one packet in full detail -- and runs in a worker
thread with its own event loop, so it works inside a Jupyter kernel (whose loop is already
running) with nothing for the user to do, and tshark is always closed.

Errors: a missing tshark (:class:`ToolMissingError`, naming the Debian package), a missing
file, a file that is not a capture, a capture with no DNS (:class:`CaptureError`). A capture cut
short in the middle of a packet keeps everything read before the damage and says so in
``warnings``.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import queue
import shutil
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError, ToolMissingError

CHUNK_ROWS = 20_000
DISPLAY_FILTER = ("dns || udp.port == 53 || tcp.port == 53 || ip.flags.mf == 1 || "
                  "ip.frag_offset > 0 || ipv6.fraghdr || icmp || icmpv6.type == 1 || "
                  "icmpv6.type == 2")

# (tshark field, column, kind): kind "int" / "float" / "str" / "bool", "first" or "last"
FIELDS: list[tuple[str, str, str, str]] = [
    ("frame.number", "frame", "int", "last"),
    ("frame.time_epoch", "time", "float", "last"),
    ("frame.len", "frame_len", "int", "last"),
    ("ip.src", "src4", "str", "last"),
    ("ip.dst", "dst4", "str", "last"),
    ("ipv6.src", "src6", "str", "last"),
    ("ipv6.dst", "dst6", "str", "last"),
    ("ip.len", "ip_len", "int", "last"),
    ("ipv6.plen", "ipv6_plen", "int", "last"),
    ("ip.id", "ip_id", "str", "last"),
    ("ip.flags.mf", "ip_mf", "bool", "first"),
    ("ip.frag_offset", "ip_frag_offset", "int", "first"),
    ("ip.reassembled_in", "reassembled_in", "int", "first"),
    ("ip.fragment.count", "fragment_count", "int", "first"),
    ("ipv6.fraghdr.ident", "ip6_frag_id", "str", "first"),
    ("ipv6.fraghdr.more", "ip6_mf", "bool", "first"),
    ("ipv6.fraghdr.offset", "ip6_frag_offset", "int", "first"),
    ("ipv6.reassembled.in", "reassembled_in6", "int", "first"),
    ("ipv6.fragment.count", "fragment_count6", "int", "first"),
    ("udp.srcport", "udp_sport", "int", "last"),
    ("udp.dstport", "udp_dport", "int", "last"),
    ("udp.length", "udp_len", "int", "last"),
    ("tcp.srcport", "tcp_sport", "int", "last"),
    ("tcp.dstport", "tcp_dport", "int", "last"),
    ("tcp.flags.syn", "syn", "bool", "last"),
    ("tcp.flags.ack", "ack", "bool", "last"),
    ("tcp.flags.reset", "rst", "bool", "last"),
    ("tcp.stream", "tcp_stream", "int", "last"),
    ("dns.id", "dns_id", "str", "last"),
    ("dns.flags.response", "response", "bool", "last"),
    ("dns.flags.truncated", "tc", "bool", "last"),
    ("dns.flags.rcode", "rcode", "int", "last"),
    ("dns.qry.name", "qname", "str", "last"),
    ("dns.qry.type", "qtype", "int", "last"),
    ("dns.count.answers", "answers", "int", "last"),
    ("dns.rr.udp_payload_size", "edns_size", "int", "last"),
    ("dns.resp.z.do", "do_bit", "bool", "last"),
    ("dns.length", "dns_tcp_len", "int", "last"),
    ("icmp.type", "icmp_type", "int", "first"),
    ("icmp.code", "icmp_code", "int", "first"),
    ("icmp.mtu", "icmp_mtu", "int", "first"),
    ("icmpv6.type", "icmp6_type", "int", "first"),
    ("icmpv6.code", "icmp6_code", "int", "first"),
    ("icmpv6.mtu", "icmp6_mtu", "int", "first"),
    ("gtp.teid", "gtp_teid", "str", "first"),
]


class CaptureError(InputError):
    """A capture file that is missing, unreadable, not a capture, or holds no DNS."""


@dataclass
class LoadedCapture:
    """Packets of one capture (one row per packet of interest) and what went wrong reading it."""

    path: str
    packets: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    capture_filter: str | None = None
    total_frames: int = 0
    dns_packets: int = 0


def find_tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        raise ToolMissingError("tshark is not installed: install the Debian package tshark "
                               "(or wireshark from conda-forge)", subject="tshark")
    return path


_BENIGN = ("Running as user", "This could be dangerous", " This could be dangerous")


def _typed(raw: pd.DataFrame) -> pd.DataFrame:
    """Parsed columns -> the documented dtypes (numbers arrive as float64 with NaN)."""
    columns: dict[str, Any] = {}
    for i, (_, name, kind, _which) in enumerate(FIELDS):
        col = raw[i] if i in raw.columns else pd.Series([None] * len(raw), dtype="object")
        if kind == "str":
            columns[name] = col.astype("string")
        elif kind == "bool":
            columns[name] = pd.to_numeric(col, errors="coerce").astype("Float64").astype(
                "boolean")
        elif kind == "float":
            columns[name] = pd.to_numeric(col, errors="coerce").astype("Float64")
        else:
            columns[name] = pd.to_numeric(col, errors="coerce").astype("Int64")
    return pd.DataFrame(columns)


def _read_dtypes() -> dict[int, str]:
    """Let pandas' C reader parse numbers itself: the slow part is Python string objects."""
    return {i: ("object" if kind == "str" else "float64") for i, (_, _, kind, _) in
            enumerate(FIELDS)}


def _frame(rows: list[list[str]]) -> pd.DataFrame:
    return _typed(pd.DataFrame(rows, dtype="object")) if rows else _typed(
        pd.DataFrame(columns=range(len(FIELDS)), dtype="object"))


class _DrainedPipe(io.RawIOBase):
    """tshark's stdout drained by a thread into a bounded queue of blocks: tshark never waits
    for enumlab's analysis (they run on two cores), and memory stays bounded."""

    BLOCK = 1 << 20

    def __init__(self, stream: Any, max_blocks: int = 128) -> None:
        self.blocks: queue.Queue[bytes] = queue.Queue(max_blocks)
        self.pending = b""
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def _pump(self, stream: Any) -> None:
        try:
            while block := stream.read(self.BLOCK):
                self.blocks.put(block)
        finally:
            self.blocks.put(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            block = self.blocks.get()
            if not block:
                self.blocks.put(b"")
                return 0
            self.pending = block
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def iter_chunks(path: str | Path, *, chunk_rows: int = CHUNK_ROWS,
                on_rows: Callable[[int], None] | None = None,
                display_filter: str = DISPLAY_FILTER) -> Iterator[pd.DataFrame | str]:
    """Yield DataFrames of up to ``chunk_rows`` packets; a final ``str`` is tshark's complaint
    about damage, if any (the packets before it have been yielded)."""
    tshark = find_tshark()
    p = Path(path)
    if not p.is_file():
        raise CaptureError(f"capture {p} does not exist", subject=str(p))
    cmd = [tshark, "-r", str(p), "-2", "-n", "-Y", display_filter, "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=l", "-E", "quote=n"]
    for name, *_ in FIELDS:
        cmd += ["-e", name]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    with contextlib.suppress(OSError, AttributeError):  # Linux: let tshark run 1 MB ahead
        fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
    stdout = io.BufferedReader(_DrainedPipe(proc.stdout), buffer_size=1 << 20)
    err_lines: list[str] = []
    drain = threading.Thread(
        target=lambda: err_lines.extend(line.decode(errors="replace") for line in proc.stderr),  # type: ignore[union-attr]
        daemon=True)
    drain.start()
    try:
        reader = pd.read_csv(stdout, sep="\t", encoding="utf-8", encoding_errors="replace",
                             header=None, dtype=_read_dtypes(), quoting=3,
                             keep_default_na=False, na_values=[""],
                             chunksize=chunk_rows, engine="c", names=range(len(FIELDS)))
        try:
            for raw in reader:
                if on_rows:
                    on_rows(len(raw))
                yield _typed(raw)
        except pd.errors.EmptyDataError:
            pass
    finally:
        proc.stdout.close()
        proc.wait()
        drain.join(timeout=5)
        proc.stderr.close()
    err = "".join(line for line in err_lines if not line.startswith(_BENIGN))
    if proc.returncode != 0 or err.strip():
        message = err.strip().splitlines()[-1] if err.strip() else f"tshark exit {proc.returncode}"
        if "isn't a capture file" in err or "unknown file format" in err.lower() or (
                "doesn't exist" in err):
            raise CaptureError(f"{p}: not a capture file tshark can read ({message})",
                               subject=str(p))
        yield message


def load_capture(path: str | Path, *, progress: bool = False, chunk_rows: int = CHUNK_ROWS,
                 on_chunk: Callable[[pd.DataFrame], None] | None = None,
                 keep_packets: bool = True) -> LoadedCapture:
    """Load the DNS-relevant packets of a pcap/pcapng (see module docs).

    ``on_chunk`` sees each chunk of derived packets as soon as it is parsed -- while tshark is
    still writing the next one -- so analysis can overlap decoding. With ``keep_packets=False``
    the chunks are not kept (memory stays bounded by what ``on_chunk`` keeps) and ``packets``
    is empty; ``total_frames`` and ``dns_packets`` are still counted.
    """
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc=f"reading {Path(path).name}", unit="pkt")
    frames: list[pd.DataFrame] = []
    warnings: list[str] = []
    total_frames = dns_packets = 0
    try:
        for chunk in iter_chunks(path, chunk_rows=chunk_rows,
                                 on_rows=bar.update if bar is not None else None):
            if isinstance(chunk, str):
                warnings.append(f"the capture is damaged; kept the packets read before it: "
                                f"{chunk}")
            else:
                derived = _derive(chunk)
                if len(derived):
                    total_frames = max(total_frames, int(derived["frame"].max()))
                    dns_packets += int(derived["qname"].notna().sum())
                if on_chunk is not None:
                    on_chunk(derived)
                if keep_packets:
                    frames.append(derived)
    finally:
        if bar is not None:
            bar.close()
    packets = pd.concat(frames, ignore_index=True) if frames else _derive(_frame([]))
    loaded = LoadedCapture(str(path), packets, warnings, read_capture_filter(path),
                           total_frames, dns_packets)
    if dns_packets == 0 and not warnings:
        raise CaptureError(f"{path}: no DNS packets in this capture", subject=str(path))
    return loaded


def _derive(p: pd.DataFrame) -> pd.DataFrame:
    """Family-neutral columns: src/dst, fragments, ports, transport, DNS size, ICMP."""
    out = p  # each chunk is fresh from the parser: no copy needed
    v6 = out["src6"].notna()
    out["family"] = pd.array(np.where(v6, "ipv6", "ipv4"), dtype="string")
    out["src"] = out["src6"].where(v6, out["src4"])
    out["dst"] = out["dst6"].where(v6, out["dst4"])
    out["ip_size"] = (out["ipv6_plen"] + 40).where(v6, out["ip_len"])
    out["is_fragment"] = (out["ip_mf"].fillna(False) | (out["ip_frag_offset"].fillna(0) > 0)
                          | out["ip6_frag_id"].notna())
    out["frag_first"] = out["is_fragment"] & (out["ip_frag_offset"].fillna(0) == 0) & (
        out["ip6_frag_offset"].fillna(0) == 0)
    out["frag_key"] = out["ip6_frag_id"].where(v6, out["ip_id"])
    out["reassembled"] = out["reassembled_in"].fillna(out["reassembled_in6"])
    out["fragments"] = out["fragment_count"].fillna(out["fragment_count6"])
    is_tcp = out["tcp_sport"].notna()
    out["transport"] = pd.array(np.where(is_tcp, "tcp", "udp"), dtype="string")
    out["sport"] = out["tcp_sport"].where(is_tcp, out["udp_sport"])
    out["dport"] = out["tcp_dport"].where(is_tcp, out["udp_dport"])
    out["dns_size"] = out["dns_tcp_len"].where(is_tcp, out["udp_len"] - 8)
    out["icmp_kind"] = pd.array([None] * len(out), dtype="string")
    frag_needed = (out["icmp_type"] == 3) & (out["icmp_code"] == 4)
    ptb = out["icmp6_type"] == 2
    port_unreach = ((out["icmp_type"] == 3) & (out["icmp_code"] == 3)) | (
        (out["icmp6_type"] == 1) & (out["icmp6_code"] == 4))
    out.loc[frag_needed.fillna(False), "icmp_kind"] = "fragmentation-needed"
    out.loc[ptb.fillna(False), "icmp_kind"] = "packet-too-big"
    out.loc[port_unreach.fillna(False), "icmp_kind"] = "port-unreachable"
    out["icmp_mtu_any"] = out["icmp_mtu"].fillna(out["icmp6_mtu"])
    return out


_PCAP_MAGICS = {b"\xa1\xb2\xc3\xd4": ">", b"\xd4\xc3\xb2\xa1": "<",
                b"\xa1\xb2\x3c\x4d": ">", b"\x4d\x3c\xb2\xa1": "<"}  # micro- and nanosecond
_MAX_RECORD = 256 << 20


def count_frames(path: str | Path) -> int | None:
    """How many frames the file holds, read from its record headers (not from the rows a
    display filter kept): pcap record headers, or pcapng Enhanced / Simple / obsolete Packet
    Blocks (types 6, 3, 2) across every section. Reads headers only, seeking over packet data
    (a gzip file is streamed); a record cut by
    the end of the file is not counted. None when the format is not pcap or pcapng."""
    import gzip

    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as f:  # type: ignore[operator]
            size = None if gzipped else os.fstat(f.fileno()).st_size

            def skip(n: int) -> bool:
                """Step over ``n`` bytes of packet data (seek, not read, when not gzipped);
                False when the file ends first."""
                if size is None:
                    return len(f.read(n)) == n
                f.seek(n, 1)
                return bool(f.tell() <= size)

            magic = f.read(4)
            if magic in _PCAP_MAGICS:
                endian = _PCAP_MAGICS[magic]
                if len(f.read(20)) < 20:
                    return 0
                count = 0
                while len(head := f.read(16)) == 16:
                    (caplen,) = struct.unpack(endian + "I", head[8:12])
                    if caplen > _MAX_RECORD or not skip(caplen):
                        break
                    count += 1
                return count
            if magic != b"\x0a\x0d\x0d\x0a":
                return None
            f.seek(0)
            count, endian = 0, "<"
            while len(head := f.read(8)) == 8:
                if head[:4] == b"\x0a\x0d\x0d\x0a":  # a Section Header Block: byte order
                    bom = f.read(4)
                    if len(bom) < 4:
                        break
                    endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
                    (blen,) = struct.unpack(endian + "I", head[4:8])
                    body, packet = blen - 12, False
                else:
                    kind, blen = struct.unpack(endian + "II", head)
                    body, packet = blen - 8, kind in (2, 3, 6)
                if blen < 12 or blen % 4 or blen > _MAX_RECORD or not skip(body):
                    break  # damaged or cut: count only whole blocks
                count += packet
            return count
    except (OSError, EOFError, struct.error, gzip.BadGzipFile):
        return None


def read_capture_filter(path: str | Path) -> str | None:
    """The capture filter recorded in a pcapng Interface Description Block (option if_filter),
    or None (classic pcap has no such field)."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)  # the IDB follows the SHB: never the whole capture
    except OSError:
        return None
    if data[:4] != b"\x0a\x0d\x0d\x0a" or len(data) < 12:
        return None
    endian = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    pos = 0
    while pos + 12 <= len(data):
        btype, blen = struct.unpack_from(endian + "II", data, pos)
        if blen < 12 or pos + blen > len(data):
            return None
        if btype == 1:  # Interface Description Block
            opt = pos + 16
            end = pos + blen - 4
            while opt + 4 <= end:
                code, olen = struct.unpack_from(endian + "HH", data, opt)
                if code == 0:
                    break
                if code == 11 and olen > 1:  # if_filter: one type byte, then the filter
                    return data[opt + 5: opt + 4 + olen].decode(errors="replace").strip("\x00")
                opt += 4 + ((olen + 3) & ~3)
        pos += blen
    return None


def _pyshark_child(*args: str, timeout: float = 600) -> str:
    """Run pyshark in a child Python process: its asyncio loop and tshark child are then
    nobody else's business (a Jupyter kernel's loop is already running)."""
    out = subprocess.run([sys.executable, "-m", "enumlab.capture", *args], capture_output=True,
                         text=True, timeout=timeout)
    if out.returncode != 0:
        raise CaptureError(f"pyshark failed on {args[1]}: {out.stderr.strip()[-500:]}",
                           subject=args[1])
    return out.stdout


def packet_detail(path: str | Path, frame: int) -> str:
    """One packet, every layer and field, as text -- through pyshark, notebook-safe."""
    find_tshark()
    if not Path(path).is_file():
        raise CaptureError(f"capture {path} does not exist", subject=str(path))
    text = _pyshark_child("detail", str(path), str(int(frame)))
    if not text.strip():
        raise CaptureError(f"{path} has no frame {frame}", subject=frame)
    return text


def naive_pyshark_count(path: str | Path, limit: int = 0) -> int:
    """Iterate packets one by one with pyshark, the slow way (a benchmark baseline)."""
    return int(_pyshark_child("count", str(path), str(limit)).strip() or 0)


def _child_main(argv: list[str]) -> int:
    import pyshark

    mode, path, number = argv[0], argv[1], int(argv[2])
    display_filter = f"frame.number == {number}" if mode == "detail" else None
    capture = pyshark.FileCapture(path, display_filter=display_filter, keep_packets=False)
    count = 0
    try:
        for pkt in capture:
            if mode == "detail":
                print(pkt)
                break
            _ = pkt.highest_layer
            count += 1
            if number and count >= number:
                break
    finally:
        with contextlib.suppress(Exception):  # pyshark reports tshark's exit as a crash
            capture.close()
    if mode == "count":
        print(count)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
