"""The tshark engine: the same tables as the native engine, from tshark's own dissection.

It is the second engine and the oracle. ``tshark -2 -T json --no-duplicate-keys`` (two passes:
IP and TCP reassembly complete) writes every packet as a JSON tree in which a layer that occurs
more than once -- several DNS messages in one TCP segment (RFC 7766 pipelining), an IP header
inside a tunnel or quoted by ICMP -- becomes a list, so one packet gives one row per DNS
message (never only the last one, the loss of a per-packet field export). The output is read
packet by packet from the pipe, never held whole. It is used on demand (``--engine tshark``)
and automatically for link types the native decoder does not handle.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..core.errors import ToolMissingError
from .files import CaptureError
from .ip import FragmentSet
from .table import (
    FRAGMENT_COLUMNS,
    ICMP_COLUMNS,
    MESSAGE_COLUMNS,
    TCP_COLUMNS,
    CaptureTables,
    frame_of,
    icmp_kind,
)

LAYERS = ("frame eth vlan ieee8021ad sll ip ipv6 udp tcp tcp.segments dns mdns llmnr gtp gre "
          "teredo icmp icmpv6 _ws.malformed")
_BENIGN = ("Running as user", "This could be dangerous", " This could be dangerous")
_DNS_LAYERS = ("dns", "mdns", "llmnr")


def find_tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        raise ToolMissingError("tshark is not installed: install the Debian package tshark "
                               "(or wireshark from conda-forge)", subject="tshark")
    return path


def _packets(path: Path, ports: tuple[int, ...], errors: list[str]) -> Iterator[dict[str, Any]]:
    """Each packet's ``layers`` object, parsed one packet at a time from tshark's output."""
    cmd = [find_tshark(), "-r", str(path), "-2", "-n", "-T", "json", "--no-duplicate-keys",
           "-o", "tcp.reassemble_out_of_order:TRUE", "-J", LAYERS]
    for port in ports:
        cmd += ["-d", f"udp.port=={port},dns", "-d", f"tcp.port=={port},dns"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    err_lines: list[str] = []
    drain = threading.Thread(target=lambda: err_lines.extend(
        line.decode(errors="replace") for line in proc.stderr), daemon=True)  # type: ignore[union-attr]
    drain.start()
    chunk: list[bytes] = []
    try:
        for line in proc.stdout:
            if line.startswith(b"  {"):
                chunk = [line]
            elif line.startswith(b"  }"):
                chunk.append(b"  }")
                yield json.loads(b"".join(chunk))["_source"]["layers"]
                chunk = []
            elif chunk:
                chunk.append(line)
    finally:
        proc.stdout.close()
        proc.wait()
        drain.join(timeout=5)
        proc.stderr.close()
    err = "".join(x for x in err_lines if not x.startswith(_BENIGN)).strip()
    if err or proc.returncode != 0:
        message = err.splitlines()[-1] if err else f"tshark exit {proc.returncode}"
        if "isn't a capture file" in err or "unknown file format" in err.lower():
            raise CaptureError(f"{path}: not a capture file tshark can read ({message})",
                               subject=str(path))
        errors.append(message)


def _list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else [] if x is None else [x]


def _int(x: Any) -> int | None:
    if x is None or x == "":
        return None
    return int(str(x), 0)


def _find(tree: Any, key: str) -> Any:
    """The first value under ``key`` anywhere in ``tree`` (depth first)."""
    if isinstance(tree, dict):
        if key in tree:
            return tree[key]
        for v in tree.values():
            found = _find(v, key)
            if found is not None:
                return found
    elif isinstance(tree, list):
        for v in tree:
            found = _find(v, key)
            if found is not None:
                return found
    return None


def _all(tree: Any, key: str) -> list[Any]:
    out: list[Any] = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k == key:
                out += _list(v)
            else:
                out += _all(v, key)
    elif isinstance(tree, list):
        for v in tree:
            out += _all(v, key)
    return out


def _ip(layers: dict[str, Any]) -> tuple[str, str, str, int | None, Any] | None:
    """(family, src, dst, datagram size, the IP layer) of the innermost IP header."""
    order = [k for k in layers if k in ("ip", "ipv6")]
    if not order:
        return None
    kind = order[-1]
    layer = _list(layers[kind])[-1]
    if kind == "ip":
        size = _int(layer.get("ip.len"))
        re_len = _find(layer, "ip.reassembled.length")
        if re_len is not None:
            size = int(layer.get("ip.hdr_len", 20)) + int(re_len)
        return "ipv4", layer.get("ip.src"), layer.get("ip.dst"), size, layer
    size = _int(layer.get("ipv6.plen"))
    re_len = _find(layer, "ipv6.reassembled.length")
    if re_len is not None:
        size = int(re_len)
    return "ipv6", layer.get("ipv6.src"), layer.get("ipv6.dst"), (
        size + 40 if size is not None else None), layer


def _message(number: int, time: float, layers: dict[str, Any], proto: str, dns: dict[str, Any],
             ip: tuple[Any, ...], frame_len: int, cap_len: int) -> dict[str, Any]:
    transport = "tcp" if "tcp" in layers else "udp"
    tl = _list(layers[transport])[-1]
    sport, dport = _int(tl.get(f"{transport}.srcport")), _int(tl.get(f"{transport}.dstport"))
    flags = _int(dns.get("dns.flags")) or 0
    queries = dns.get("Queries")
    q = next(iter(queries.values())) if isinstance(queries, dict) and queries else None
    opt = None
    for section in _list(dns.get("Additional records")):
        for rr in (section.values() if isinstance(section, dict) else []):
            for r in _list(rr):
                if _int(r.get("dns.resp.type")) == 41 and opt is None:
                    opt = r
    if transport == "udp":
        size = (_int(tl.get("udp.length")) or 8) - 8
    else:
        size = _int(dns.get("dns.length")) or 0
    qdcount = _int(dns.get("dns.count.queries"))
    rcode = flags & 0xF
    if opt is not None:
        rcode |= (_int(opt.get("dns.resp.ext_rcode")) or 0) << 4
    codes = [str(_int(c)) for c in _all(opt, "dns.opt.code")] if opt is not None else []
    encap = ("gtpu" if "gtp" in layers else "teredo" if "teredo" in layers else
             "gre" if "gre" in layers else "ipip" if len(
                 _list(layers.get("ip")) + _list(layers.get("ipv6"))) > 1 else "")
    tunnel = (_int(_find(layers.get("gtp"), "gtp.teid")) if encap == "gtpu" else
              _int(_find(layers.get("gre"), "gre.key")) if encap == "gre" else None)
    vlan = _find(layers.get("ieee8021ad"), "ieee8021ad.id") or _find(layers.get("vlan"),
                                                                       "vlan.id")
    name = q.get("dns.qry.name") if q else None
    frag_count = _find(ip[4], "ip.fragment.count") or _find(ip[4], "ipv6.fragment.count")
    return {
        "frame": number, "first_frame": number, "time": time, "family": ip[0], "src": ip[1],
        "dst": ip[2], "sport": sport, "dport": dport, "transport": transport, "protocol": proto,
        "dns_id": _int(dns.get("dns.id")), "qr": bool(flags >> 15 & 1),
        "opcode": flags >> 11 & 0xF, "aa": bool(flags >> 10 & 1), "tc": bool(flags >> 9 & 1),
        "rd": bool(flags >> 8 & 1), "ra": bool(flags >> 7 & 1), "ad": bool(flags >> 5 & 1),
        "cd": bool(flags >> 4 & 1), "rcode": rcode, "qdcount": qdcount,
        "ancount": _int(dns.get("dns.count.answers")),
        "nscount": _int(dns.get("dns.count.auth_rr")),
        "arcount": _int(dns.get("dns.count.add_rr")),
        "qname": name.lower() if name is not None else None,
        "qname_ok": (name is not None) if qdcount else None,
        "qtype": _int(q.get("dns.qry.type")) if q else None,
        "qclass": _int(q.get("dns.qry.class")) if q else None,
        "edns": opt is not None,
        "edns_size": _int(opt.get("dns.rr.udp_payload_size")) if opt else None,
        "edns_do": bool(_int(_find(opt, "dns.resp.z.do"))) if opt else None,
        "edns_version": _int(opt.get("dns.resp.edns0_version")) if opt else None,
        "edns_options": ",".join(codes) if opt is not None else None,
        "dns_size": size, "captured_size": size - max(0, frame_len - cap_len),
        "ip_size": ip[3], "ip_fragments": int(frag_count or 0), "encapsulation": encap,
        "tunnel_id": tunnel, "vlan": _int(vlan), "malformed": "",
    }


def read_tshark(path: str | Path, *, ports: tuple[int, ...] = (),
                on_records: Callable[[int], None] | None = None) -> CaptureTables:
    """The capture's tables through tshark (see module docs)."""
    p = Path(path)
    if p.is_dir():
        raise CaptureError(f"capture {p} is a directory, not a capture file", subject=str(p))
    if not p.is_file():
        raise CaptureError(f"capture {p} does not exist", subject=str(p))
    find_tshark()
    errors: list[str] = []
    messages: list[dict[str, Any]] = []
    frags: list[dict[str, Any]] = []
    icmps: list[dict[str, Any]] = []
    tcps: list[dict[str, Any]] = []
    frames = 0
    links: dict[int, int] = {}
    for layers in _packets(p, ports, errors):
        frames += 1
        if on_records is not None:
            on_records(1)
        fr = layers.get("frame", {})
        number = int(fr["frame.number"])
        time = float(fr["frame.time_epoch"])
        encap_type = _int(fr.get("frame.encap_type"))
        if encap_type is not None:
            links[encap_type] = links.get(encap_type, 0) + 1
        ip = _ip(layers)
        if ip is None:
            continue
        icmp_key = "icmp" if "icmp" in layers else "icmpv6" if "icmpv6" in layers else None
        if icmp_key is not None:
            row = _icmp(number, time, layers, icmp_key)
            quoted_dns = [d for p in _DNS_LAYERS for d in _list(layers.get(p))]
            if row is not None and quoted_dns and row["quoted_dns_id"] is None:
                row["quoted_dns_id"] = _int(quoted_dns[0].get("dns.id"))
            if row is not None:
                icmps.append(row)
            continue
        _fragment(number, time, layers, frags)
        segments = [int(x) for x in _all(layers.get("tcp.segments"), "tcp.segment")]
        malformed = "_ws.malformed" in layers
        for proto in _DNS_LAYERS:
            for k, dns in enumerate(_list(layers.get(proto))):
                if isinstance(dns, dict) and "dns.id" in dns:
                    row = _message(number, time, layers, proto, dns, ip,
                                   int(fr.get("frame.len", 0)), int(fr.get("frame.cap_len", 0)))
                    if k == 0 and segments:  # tshark lists the segments of the first PDU
                        row["first_frame"] = min(segments)
                    pieces = [int(x) for x in _all(ip[4], "ip.fragment")
                              + _all(ip[4], "ipv6.fragment")]
                    if pieces:
                        row["first_frame"] = min(pieces)
                    if malformed:
                        row["malformed"] = "tshark: malformed packet"
                    messages.append(row)
        if "tcp" in layers:
            t = _list(layers["tcp"])[-1]
            f = _int(t.get("tcp.flags")) or 0
            if f & 0x07:
                tcps.append({"frame": number, "time": time, "family": ip[0], "src": ip[1],
                             "dst": ip[2], "sport": _int(t.get("tcp.srcport")),
                             "dport": _int(t.get("tcp.dstport")), "syn": bool(f & 2),
                             "ack": bool(f & 0x10), "fin": bool(f & 1), "rst": bool(f & 4)})
    warnings = [f"the capture is damaged; kept the packets read before it: {e}" for e in errors]
    return CaptureTables(str(p), "tshark", _frame(messages, MESSAGE_COLUMNS),
                         _frame(_fragment_fates(frags), FRAGMENT_COLUMNS),
                         _frame(icmps, ICMP_COLUMNS), _frame(tcps, TCP_COLUMNS), frames,
                         None, warnings, links)


def _frame(rows: list[dict[str, Any]], spec: dict[str, str]) -> Any:
    cols = {k: np.array([r[k] for r in rows], dtype=object) for k in spec}
    import pandas as pd

    return frame_of({k: pd.array(v, dtype=cast(Any, spec[k])) for k, v in cols.items()}, spec)


def _fragment(number: int, time: float, layers: dict[str, Any], out: list[dict[str, Any]]
              ) -> None:
    for layer in _list(layers.get("ip")):
        flags = layer.get("ip.flags_tree", {})
        mf = _int(flags.get("ip.flags.mf")) or 0
        offset = (_int(layer.get("ip.frag_offset")) or 0) * 8  # tshark writes 8-byte units
        if mf or offset:
            hdr = int(layer.get("ip.hdr_len", 20))
            out.append({"frame": number, "time": time, "family": "ipv4",
                        "src": layer.get("ip.src"), "dst": layer.get("ip.dst"),
                        "ip_id": _int(layer.get("ip.id")), "offset": offset, "more": bool(mf),
                        "size": int(layer["ip.len"]) - hdr,
                        "protocol": _int(layer.get("ip.proto")) if offset == 0 else None,
                        "sport": None, "dport": None,
                        "_key": ("4", layer.get("ip.src"), layer.get("ip.dst"),
                                 layer.get("ip.id"), layer.get("ip.proto"))})
    for layer in _list(layers.get("ipv6")):
        fh = _find(layer, "ipv6.fraghdr.ident")
        if fh is None:
            continue
        offset = _int(_find(layer, "ipv6.fraghdr.offset")) or 0
        more = bool(_int(_find(layer, "ipv6.fraghdr.more")) or 0)
        plen = _int(layer.get("ipv6.plen")) or 0
        ext = 8  # the fragment header itself; other extension headers are counted below
        ext += sum(int(v) for v in _all(layer, "ipv6.hopopts.len_oct"))
        out.append({"frame": number, "time": time, "family": "ipv6", "src": layer.get("ipv6.src"),
                    "dst": layer.get("ipv6.dst"), "ip_id": _int(fh), "offset": offset * 8,
                    "more": more, "size": plen - ext,
                    "protocol": _int(_find(layer, "ipv6.fraghdr.nxt")) if offset == 0 else None,
                    "sport": None, "dport": None,
                    "_key": ("6", layer.get("ipv6.src"), layer.get("ipv6.dst"), fh, None)})


def _fragment_fates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """complete / reassembled_in / fragments_seen / duplicates, by the rule of :mod:`.ip`."""
    sets: dict[Any, FragmentSet] = {}
    member: list[FragmentSet] = []
    for r in rows:
        s = sets.get(r["_key"])
        if s is None or s.done_at is not None:
            s = sets[r["_key"]] = FragmentSet(r["_key"])
        if r["offset"] == 0:
            s.header = b"h"
        s.add(r["frame"], r["offset"], r["more"], b"\0" * r["size"])
        member.append(s)
    for r, s in zip(rows, member, strict=True):
        r.pop("_key")
        r["complete"] = s.done_at is not None and bool(s.header)
        r["reassembled_in"] = s.done_at if r["complete"] else None
        r["fragments_seen"] = len(s.rows)
        r["duplicates"] = s.duplicates
    return rows


def _icmp(number: int, time: float, layers: dict[str, Any], key: str) -> dict[str, Any] | None:
    layer = _list(layers[key])[0]
    itype = _int(layer.get(f"{key}.type"))
    code = _int(layer.get(f"{key}.code"))
    family = 4 if key == "icmp" else 6
    if itype is None or code is None:
        return None
    if (family == 4 and itype not in (3, 4, 11, 12)) or (family == 6 and not 1 <= itype <= 4):
        return None
    outer = _list(layers.get("ip" if family == 4 else "ipv6"))[0]
    fam = "ip" if family == 4 else "ipv6"
    inner_v4 = _list(layer.get("ip"))
    inner_v6 = _list(layer.get("ipv6"))
    inner = (inner_v4 or inner_v6 or [None])[0]
    ifam = "ip" if inner_v4 else "ipv6"
    transport = next((layer[t] for t in ("udp", "tcp") if t in layer), None)
    tname = "udp" if "udp" in layer else "tcp"
    dns_id = None
    for proto in _DNS_LAYERS:
        if proto in layer:
            dns_id = _int(_list(layer[proto])[0].get("dns.id"))
    mtu = _int(layer.get(f"{key}.mtu"))
    isize = None
    if inner is not None:
        isize = (_int(inner.get("ip.len")) if ifam == "ip" else
                 (_int(inner.get("ipv6.plen")) or 0) + 40)
    return {"frame": number, "time": time, "family": "ipv4" if family == 4 else "ipv6",
            "src": outer.get(f"{fam}.src"), "dst": outer.get(f"{fam}.dst"), "type": itype,
            "code": code, "kind": icmp_kind(family, itype, code), "mtu": mtu,
            "quoted_src": inner.get(f"{ifam}.src") if inner else None,
            "quoted_dst": inner.get(f"{ifam}.dst") if inner else None,
            "quoted_protocol": (_int(inner.get("ip.proto")) if ifam == "ip" else
                                _int(_find(inner, "ipv6.fraghdr.nxt") or inner.get("ipv6.nxt"))
                                ) if inner else None,
            "quoted_sport": _int(_list(transport)[0].get(f"{tname}.srcport")) if transport
            else None,
            "quoted_dport": _int(_list(transport)[0].get(f"{tname}.dstport")) if transport
            else None,
            "quoted_ip_size": isize,
            "quoted_ip_id": (_int(inner.get("ip.id")) if ifam == "ip" else
                             _int(_find(inner, "ipv6.fraghdr.ident"))) if inner else None,
            "quoted_dns_id": dns_id}


