"""Everything about DNS captures, in layers, one module each (bottom to top)::

    files        pcap / pcapng / .gz  -> records, buffer by buffer (read, never mapped)
    links        Ethernet + VLAN/QinQ, Linux cooked v1/v2, raw IP, NULL/LOOP, NFLOG -> IP
    ip           IPv4 / IPv6 headers + extension headers; fragment reassembly
    packets      the per-packet header walk: UDP / TCP / ICMP, GTP-U / Teredo / GRE / IP-in-IP
    tcp          DNS-over-TCP stream reassembly and RFC 7766 framing
    dns_message  DNS header, question, EDNS0 OPT
    native       the native engine (kernels compiled by numba for big files: :mod:`.jit`)
    tshark       the tshark engine: the same tables from tshark's dissection (the oracle)
    table        the message table and the fragment / ICMP / TCP-control tables
    columns      factorisation and grouping of the tables' columns (numpy / compiled)
    transactions queries paired with answers; TC=1 -> TCP follow-up; the summary
    report       one capture analysed (:func:`.report.analyze`), printed, HTML, CSV
    figures      the capture's plots (matplotlib)
    pieces       one big capture in bounded memory, piece by piece
    sets         many captures (a day of rotated files) on Dask, and their Parquet dataset
    detail       one packet in full detail through pyshark

:func:`load_capture` picks the engine: native unless asked otherwise, tshark (with a line in the
warnings) for link types the native decoder does not handle.
May import :mod:`enumlab.core` only (never split, lab, teach or cli).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import ToolMissingError
from .files import (
    CaptureError,
    NoDnsMessagesError,
    _checked,
    count_frames,
    no_dns_messages,
    read_capture_filter,
)
from .links import SUPPORTED as NATIVE_LINK_TYPES
from .packets import UDP_TUNNEL, VXLAN_LINUX, unknown_tunnel_name
from .table import (
    FRAGMENT_COLUMNS,
    ICMP_COLUMNS,
    MESSAGE_COLUMNS,
    TCP_COLUMNS,
    CaptureTables,
    only_fragments_note,
)

if TYPE_CHECKING:
    from .detail import naive_pyshark_count, packet_detail
    from .tshark import find_tshark

_LAZY = {"naive_pyshark_count": "detail", "packet_detail": "detail", "find_tshark": "tshark"}


def __getattr__(name: str) -> Any:
    """pyshark's and tshark's helpers load on first use (the native engine needs neither)."""
    from ..core.lazy import attribute

    return attribute(__name__, _LAZY, name, globals())


ENGINES = ("auto", "native", "tshark")
LoadedCapture = CaptureTables  # the name this object had before the message table

__all__ = ["ENGINES", "FRAGMENT_COLUMNS", "ICMP_COLUMNS", "MESSAGE_COLUMNS", "NATIVE_LINK_TYPES",
           "TCP_COLUMNS", "CaptureError", "CaptureTables", "LoadedCapture", "NoDnsMessagesError",
           "count_frames", "find_tshark", "load_capture", "naive_pyshark_count", "packet_detail",
           "read_capture_filter"]


def load_capture(path: str | Path, *, engine: str = "auto", ports: tuple[int, ...] = (),
                 progress: bool = False, jit: bool | None = None,
                 vxlan_ports: tuple[int, ...] = (4789,)) -> CaptureTables:
    """The tables of one capture (see module docs). ``ports``: UDP/TCP ports carrying DNS
    besides 53 (e.g. 8053); ``jit``: force (True) or forbid (False) numba compilation;
    ``vxlan_ports``: UDP ports carrying VXLAN (RFC 7348: 4789). Frames of an encapsulation the
    native decoder does not open (ERSPAN, Geneve...) are counted and named; with ``auto`` such
    a capture is read by tshark instead, and the warnings say why."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}")
    p = Path(path)
    _checked(p)  # missing, a directory, unreadable, empty: said alike by both engines
    bar, tick = _progress(p, progress)
    try:
        if engine == "tshark":
            tables = _tshark(p, ports, tick, vxlan_ports=vxlan_ports)
        else:
            from .native import read_native

            tables = read_native(p, ports=ports, jit=jit, on_records=tick,
                                 vxlan_ports=vxlan_ports)
            linux = _linux_vxlan(tables, vxlan_ports) if engine == "auto" else 0
            if linux:  # VXLAN headers on Linux's old port: read as such (tshark too)
                vxlan_ports = (*vxlan_ports, VXLAN_LINUX)
                tables = read_native(p, ports=ports, jit=jit, on_records=None,
                                     vxlan_ports=vxlan_ports)
            unsupported = sorted(set(tables.link_types) - NATIVE_LINK_TYPES)
            tunnels = tables.undecoded_tunnels
            if (tunnels or unsupported) and engine == "auto":
                what = (f"link type(s) {', '.join(str(t) for t in unsupported)} are"
                        if unsupported else
                        ", ".join(f"{n:,} frame(s) of {name}" for name, n in tunnels.items()))
                damage = [w for w in tables.warnings if w.startswith("the capture is damaged")]
                try:
                    read = _tshark(p, ports, None, tables.intact_bytes, vxlan_ports)
                except ToolMissingError:  # what the native walk read stays, said so (once)
                    from .native import UNOPENED

                    _keep_warnings(tables, lambda w: not w.endswith(UNOPENED))
                    _first_warning(tables, f"{what} not decoded natively, and tshark (which "
                                           "reads them) is not installed -- the Debian "
                                           "package tshark: the rest of the capture was read "
                                           "natively, those frames were skipped")
                else:
                    tables = read
                    tables.warnings[:0] = [f"{what} not decoded natively: the capture was read "
                                           "by tshark", *damage]
            elif unsupported:
                _first_warning(tables, f"link type(s) {unsupported} are not decoded natively: "
                                       "their frames were skipped")
            if linux:
                _first_warning(tables, f"{linux:,} frame(s) to UDP {VXLAN_LINUX} carry VXLAN "
                                       "headers (Linux's default port before RFC 7348): read "
                                       f"as VXLAN, as --vxlan-port {VXLAN_LINUX} asks")
    finally:
        if bar is not None:
            bar.close()
    tables.dns_ports = tuple(ports)
    if not tables.rows("messages") and _incomplete_sets(tables):
        tables.warnings.append(_only_fragments(tables))
    elif not tables.rows("messages"):
        # nothing usable (exit 1): why, where the read knows it (a tunnel or link type not
        # decoded, damage), else the ports looked at
        raise no_dns_messages(p, ports, list(tables.warnings), tables)
    return tables


def _linux_vxlan(tables: CaptureTables, vxlan_ports: tuple[int, ...]) -> int:
    """Frames the walk named VXLAN on Linux's port 8472 (its header checked), when that
    port was not asked for already."""
    if VXLAN_LINUX in vxlan_ports:
        return 0
    return int(tables.undecoded_tunnels.get(unknown_tunnel_name(UDP_TUNNEL + VXLAN_LINUX), 0))


def _aligned(tables: CaptureTables) -> list[int | None]:
    """The frame each warning is about (None: the capture's), one per warning."""
    frames = list(tables.warning_frames)[:len(tables.warnings)]
    return frames + [None] * (len(tables.warnings) - len(frames))


def _first_warning(tables: CaptureTables, text: str) -> None:
    frames = _aligned(tables)
    tables.warnings.insert(0, text)
    tables.warning_frames = [None, *frames]


def _keep_warnings(tables: CaptureTables, keep: Callable[[str], bool]) -> None:
    pairs = [(w, f) for w, f in zip(tables.warnings, _aligned(tables), strict=True) if keep(w)]
    tables.warnings = [w for w, _ in pairs]
    tables.warning_frames = [f for _, f in pairs]


def _incomplete_sets(tables: CaptureTables) -> bool:
    """Fragments whose datagram never completed: a finding even without a DNS message (sets
    that all completed, and held no DNS -- another tunnel, other traffic -- are none)."""
    if not tables.rows("fragments"):
        return False
    return not bool(tables.fragments["complete"].astype(bool).all())


def _only_fragments(tables: CaptureTables) -> str:
    """What a capture of fragments and no whole DNS message holds (it is analysed: the lost
    fragments are its finding, RFC 791 s3.2 / RFC 8200 s4.5)."""
    f = tables.fragments
    lost = f[~f["complete"].astype(bool)]
    return only_fragments_note(len(lost), len(lost.drop_duplicates(["src", "dst", "ip_id"])))


def _tshark(p: Path, ports: tuple[int, ...], tick: Callable[[int], None] | None,
            intact: int | None = None, vxlan_ports: tuple[int, ...] = ()) -> CaptureTables:
    """The capture through tshark; ``intact``: the native record walk found damage there, so
    tshark reads only the bytes before it (4 MiB of zeros after one packet are 260,000 empty
    records to tshark: 23 s; the damage is said by the native walk's note instead)."""
    from .tshark import read_tshark

    if intact is None:
        tables = read_tshark(p, ports=ports, on_records=tick, vxlan_ports=vxlan_ports)
    else:
        import shutil
        import tempfile

        with tempfile.TemporaryDirectory(prefix="enumlab-") as tmp:
            cut = Path(tmp) / p.name
            with open(p, "rb") as src, open(cut, "wb") as dst:
                shutil.copyfileobj(_Prefix(src, intact), dst)
            tables = read_tshark(cut, ports=ports, on_records=tick, vxlan_ports=vxlan_ports)
        tables.path = str(p)
        tables.warnings = [w.replace(str(cut), str(p)) for w in tables.warnings]
    tables.capture_filter = read_capture_filter(p)
    return tables


class _Prefix:
    """The first ``size`` bytes of a binary file, read as a file."""

    def __init__(self, f: Any, size: int) -> None:
        self.f, self.left = f, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data: bytes = self.f.read(n)
        self.left -= len(data)
        return data


def _progress(p: Path, wanted: bool) -> tuple[Any, Callable[[int], None] | None]:
    if not wanted:
        return None, None
    from tqdm.auto import tqdm

    bar = tqdm(desc=f"reading {p.name}", unit="pkt", unit_scale=True)
    return bar, bar.update
