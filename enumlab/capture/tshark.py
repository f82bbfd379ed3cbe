"""The tshark engine: the same tables as the native engine, from tshark's own dissection.

It is the second engine and the oracle. ``tshark -2 -T json --no-duplicate-keys`` (two passes:
IP and TCP reassembly complete) writes every packet as a JSON tree in which a layer that occurs
more than once -- several DNS messages in one TCP segment (RFC 7766 pipelining), an IP header
inside a tunnel or quoted by ICMP -- becomes a list, so one packet gives one row per DNS
message (never only the last one, the loss of a per-packet field export). The output is read
packet by packet from the pipe, never held whole. It is used on demand (``--engine tshark``)
and automatically for link types the native decoder does not handle.

It reads what the native engine reads, by the same definitions: DNS on ports 53, 5353, 5355
and ``--port`` only (tshark's heuristic DNS-over-UDP dissector is turned off); LLMNR over TCP
5355 (RFC 4795 s2.5) and mDNS over TCP by port; an UPDATE's Zone section as its question
(RFC 2136 s2.3); QCLASS as sent (the mDNS QU bit kept); a message shorter than its header
counted, though tshark writes only a marker for it. Any JSON tshark writes is taken: a key
repeated in one object (``--no-duplicate-keys`` makes the values a list: NSEC type bitmaps, two
identical questions) gives its first value, a layer written as text or a field that is not a
number is missing, and a packet of a shape still unknown is skipped and named in the warnings.
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
from . import dns_message as dm
from .columns import factorize_texts
from .files import CaptureError, backwards_note, snap_note
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
          "teredo vxlan geneve icmp icmpv6 data _ws.malformed _ws.short")
_BENIGN = ("Running as user", "This could be dangerous", " This could be dangerous")
_DNS_LAYERS = ("dns", "mdns", "llmnr")


def find_tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        raise ToolMissingError("tshark is not installed: install the Debian package tshark "
                               "(or wireshark from conda-forge)", subject="tshark")
    return path


def _layers(text: bytes) -> dict[str, Any] | None:
    """One packet's ``layers`` object (None if tshark's text for it is not that)."""
    try:
        packet = json.loads(text)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both
        return None
    layers = packet.get("_source", {}).get("layers") if isinstance(packet, dict) else None
    return layers if isinstance(layers, dict) else None


def _packets(path: Path, ports: tuple[int, ...], errors: list[str],
             vxlan_ports: tuple[int, ...] = ()) -> Iterator[dict[str, Any] | None]:
    """Each packet's ``layers`` object, parsed one packet at a time from tshark's output."""
    # DNS on the ports of interest only, as the native engine reads it: tshark's heuristic
    # DNS-over-UDP dissector (on by default in 4.x) would take any UDP port
    cmd = [find_tshark(), "-r", str(path), "-2", "-n", "-T", "json", "--no-duplicate-keys",
           "-o", "tcp.reassemble_out_of_order:TRUE", "--disable-heuristic", "dns_udp",
           "-J", LAYERS]
    # LLMNR over TCP (RFC 4795 s2.5): tshark registers LLMNR on UDP only; read as DNS here and
    # named LLMNR by port in _protocol
    for port in (*ports, 5355):
        cmd += ["-d", f"tcp.port=={port},dns"] + (["-d", f"udp.port=={port},dns"]
                                                  if port != 5355 else [])
    for port in vxlan_ports:  # --vxlan-port: VXLAN besides 4789 (tshark's own registration)
        if port != 4789:
            cmd += ["-d", f"udp.port=={port},vxlan"]
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
                yield _layers(b"".join(chunk))
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


def _one(x: Any) -> Any:
    """A field's value where tshark may have repeated the key: ``--no-duplicate-keys`` then
    merges the values into a list (an NSEC type bitmap repeats ``dns.resp.type``, a message
    with two identical questions repeats the question's key); the first is the field's own."""
    while isinstance(x, list):
        x = x[0] if x else None
    return x


def _obj(x: Any) -> dict[str, Any]:
    """A subtree as a dict ({} when tshark wrote something else there)."""
    x = _one(x)
    return x if isinstance(x, dict) else {}


def _get(tree: Any, key: str) -> Any:
    """``tree[key]`` as one value (first of repeated keys), None when absent."""
    return _one(tree.get(key)) if isinstance(tree, dict) else None


def _text(x: Any) -> str | None:
    x = _one(x)
    return x if isinstance(x, str) else None


def _int(x: Any) -> int | None:
    """A numeric field (decimal or 0x-hex as tshark writes them), None if it is not one."""
    x = _one(x)
    if x is None or isinstance(x, dict) or x == "":
        return None
    text = str(x).strip()
    for base in (0, 10):
        try:
            return int(text, base)
        except ValueError:
            continue
    return None


def _float(x: Any) -> float | None:
    x = _one(x)
    try:
        return float(x) if isinstance(x, str | int | float) else None
    except ValueError:
        return None


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


def _ip(layers: dict[str, Any]) -> tuple[str, str | None, str | None, int | None, Any] | None:
    """(family, src, dst, datagram size, the IP layer) of the innermost IP header."""
    order = [k for k in layers if k in ("ip", "ipv6")]
    if not order:
        return None
    kind = order[-1]
    stack = _list(layers[kind])
    layer = _obj(stack[-1] if stack else None)
    if kind == "ip":
        size = _int(layer.get("ip.len"))
        re_len = _int(_find(layer, "ip.reassembled.length"))
        if re_len is not None:
            size = (_int(layer.get("ip.hdr_len")) or 20) + re_len
        return "ipv4", _text(layer.get("ip.src")), _text(layer.get("ip.dst")), size, layer
    size = _int(layer.get("ipv6.plen"))
    re_len = _int(_find(layer, "ipv6.reassembled.length"))
    if re_len is not None:
        size = re_len
    return "ipv6", _text(layer.get("ipv6.src")), _text(layer.get("ipv6.dst")), (
        size + 40 if size is not None else None), layer


def _ip_layers(layers: dict[str, Any]) -> list[Any]:
    """Every IP and IPv6 layer of a packet, outermost first (a tunnel's and its inner one)."""
    return [*_list(layers.get("ip")), *_list(layers.get("ipv6"))]


# RFC 2136 s2.3: an UPDATE's Zone section has the layout of the question section (ZNAME,
# ZTYPE = SOA, ZCLASS), and s2.2 renames the counts: ZOCOUNT, PRCOUNT, UPCOUNT, ADCOUNT
_SECTIONS = {5: ("Zone", "dns.count.zones", "dns.count.prerequisites", "dns.count.updates")}
_QUERY_SECTIONS = ("Queries", "dns.count.queries", "dns.count.answers", "dns.count.auth_rr")


def _protocol(proto: str, transport: str, sport: int | None, dport: int | None,
              ports: tuple[int, ...]) -> str:
    """The protocol of a message: tshark's layer, except over TCP, where tshark dissects ports
    5353 and 5355 as plain DNS (it has no mDNS or LLMNR dissector on TCP; ``-d`` names DNS):
    by port there, as the native engine does -- LLMNR over TCP (RFC 4795 s2.5) is LLMNR."""
    if transport != "tcp" or proto != "dns":
        return proto
    return _port_protocol(sport, dport, ports) or proto


def _message(number: int, time: float, layers: dict[str, Any], proto: str, dns: dict[str, Any],
             ip: tuple[Any, ...], frame_len: int, cap_len: int, ports: tuple[int, ...]
             ) -> dict[str, Any]:
    transport = "tcp" if "tcp" in layers else "udp"
    stack = _list(layers[transport])
    tl = _obj(stack[-1] if stack else None)
    sport, dport = _int(tl.get(f"{transport}.srcport")), _int(tl.get(f"{transport}.dstport"))
    flags = _int(dns.get("dns.flags")) or 0
    opcode = flags >> 11 & 0xF
    section, qd_key, an_key, ns_key = _SECTIONS.get(opcode, _QUERY_SECTIONS)
    queries = _obj(dns.get(section))
    q = _obj(next(iter(queries.values()))) if queries else {}
    opt: dict[str, Any] | None = None
    opt_records = 0  # more than one: malformed (RFC 6891 s6.1.1), as the native decoder says
    for part in _list(dns.get("Additional records")):
        for rr in (part.values() if isinstance(part, dict) else []):
            for r in _list(rr):
                if isinstance(r, dict) and _int(r.get("dns.resp.type")) == 41:
                    opt_records += 1
                    opt = r if opt is None else opt
    if transport == "udp":
        size = (_int(tl.get("udp.length")) or 8) - 8
    else:
        size = _int(dns.get("dns.length")) or 0
    qdcount = _int(dns.get(qd_key))
    rcode = flags & 0xF
    if opt is not None:
        rcode |= (_int(opt.get("dns.resp.ext_rcode")) or 0) << 4
    codes = [str(c) for c in (_int(x) for x in _all(opt, "dns.opt.code")) if c is not None]
    # the outermost tunnel names it, as the native walk does (VXLAN: its VNI, RFC 7348 s5)
    encap = ("gtpu" if "gtp" in layers else "teredo" if "teredo" in layers else
             "vxlan" if "vxlan" in layers else "geneve" if "geneve" in layers else
             "gre" if "gre" in layers else "ipip" if len(
                 _list(layers.get("ip")) + _list(layers.get("ipv6"))) > 1 else "")
    tunnel = (_int(_find(layers.get("gtp"), "gtp.teid")) if encap == "gtpu" else
              _int(_find(layers.get("vxlan"), "vxlan.vni")) if encap == "vxlan" else
              _int(_find(layers.get("geneve"), "geneve.vni")) if encap == "geneve" else
              _int(_find(layers.get("gre"), "gre.key")) if encap == "gre" else None)
    vlan = _find(layers.get("ieee8021ad"), "ieee8021ad.id") or _find(layers.get("vlan"),
                                                                       "vlan.id")
    name = _text(q.get("dns.qry.name")) if q else None
    # the IP header that was reassembled may be a tunnel's outer one (6in4, GRE, GTP-U...):
    # every IP layer is looked at, as the native walk counts the datagram the message was in
    ips = _ip_layers(layers)
    frag_count = _int(_find(ips, "ip.fragment.count") or _find(ips, "ipv6.fragment.count"))
    if frag_count:  # tshark counts a fragment captured twice twice, flagged as an overlap
        frag_count -= len(_all(ips, "ip.fragment.overlap") + _all(ips, "ipv6.fragment.overlap"))
    return {
        "frame": number, "first_frame": number, "time": time, "family": ip[0], "src": ip[1],
        "dst": ip[2], "sport": sport, "dport": dport, "transport": transport,
        "protocol": _protocol(proto, transport, sport, dport, ports),
        "dns_id": _int(dns.get("dns.id")), "qr": bool(flags >> 15 & 1),
        "opcode": opcode, "aa": bool(flags >> 10 & 1), "tc": bool(flags >> 9 & 1),
        "rd": bool(flags >> 8 & 1), "ra": bool(flags >> 7 & 1), "ad": bool(flags >> 5 & 1),
        "cd": bool(flags >> 4 & 1), "rcode": rcode, "qdcount": qdcount,
        "ancount": _int(dns.get(an_key)),
        "nscount": _int(dns.get(ns_key)),
        "arcount": _int(dns.get("dns.count.add_rr")),
        "qname": name.lower() if name is not None else None,
        "qname_ok": (name is not None) if qdcount else None,
        "qtype": _int(q.get("dns.qry.type")) if q else None,
        "qclass": _qclass(q) if q else None,
        "edns": opt is not None,
        "edns_size": _int(opt.get("dns.rr.udp_payload_size")) if opt else None,
        "edns_do": bool(_int(_find(opt, "dns.resp.z.do"))) if opt else None,
        "edns_version": _int(opt.get("dns.resp.edns0_version")) if opt else None,
        "edns_options": ",".join(codes) if opt is not None else None,
        "dns_size": size, "captured_size": size - max(0, frame_len - cap_len),
        "ip_size": ip[3], "ip_fragments": frag_count or 0, "encapsulation": encap,
        "tunnel_id": tunnel, "vlan": _int(vlan),
        "malformed": dm.STATUS_NAMES[dm.MULTIPLE_OPT] if opt_records > 1 else
        dm.STATUS_NAMES[dm.QUESTIONS] if (qdcount or 0) > 1 and opcode == 0
        and proto != "mdns" else "",  # (mDNS asks several at once: RFC 6762 s5.3)
    }


def _qclass(q: dict[str, Any]) -> int | None:
    """QCLASS as on the wire: tshark splits an mDNS question's top bit off as ``dns.qry.qu``
    (RFC 6762 s5.4, the unicast-response bit); the table keeps the 16 bits, as sent."""
    qclass = _int(q.get("dns.qry.class"))
    if qclass is not None and _int(q.get("dns.qry.qu")):
        qclass |= 0x8000
    return qclass


def read_tshark(path: str | Path, *, ports: tuple[int, ...] = (),
                on_records: Callable[[int], None] | None = None,
                vxlan_ports: tuple[int, ...] = ()) -> CaptureTables:
    """The capture's tables through tshark (see module docs). Whatever tshark writes, the
    result is tables or a :class:`CaptureError`: a packet whose dissection has a shape this
    reader does not know is skipped and named in the warnings, never a traceback."""
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
    retransmitted = _Retransmitted()
    frames = 0
    links: dict[int, int] = {}
    not_understood: list[str] = []
    # every frame's time, captured and original length: the notes the native engine gives
    # from its record index (time going back, frames cut by the snap length)
    times: list[float] = []
    lengths: list[tuple[int, int]] = []
    for layers in _packets(p, ports, errors, vxlan_ports):
        frames += 1
        if on_records is not None:
            on_records(1)
        if layers is None:
            not_understood.append(f"packet {frames}: not JSON")
            times.append(float("nan"))
            lengths.append((0, 0))
            continue
        fr = _obj(layers.get("frame"))
        number = _int(fr.get("frame.number")) or frames
        # a frame with no time (a pcapng Simple Packet Block has none): NaN, as natively
        epoch = _float(fr.get("frame.time_epoch"))
        time = epoch if epoch is not None else float("nan")
        times.append(time)
        cap_len = _int(fr.get("frame.cap_len")) or 0
        lengths.append((cap_len, _int(fr.get("frame.len")) or cap_len))
        encap_type = _int(fr.get("frame.encap_type"))
        if encap_type is not None:
            links[encap_type] = links.get(encap_type, 0) + 1
        try:
            _packet(number, time, layers, fr, ports, messages, frags, icmps, tcps, retransmitted)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            # a shape of tshark's output this reader does not know: say so, keep going
            not_understood.append(f"frame {number}: {type(exc).__name__} {exc}")
    warnings = [f"the capture is damaged; kept the packets read before it: {e}" for e in errors]
    sizes = np.array(lengths, dtype=np.int64).reshape(-1, 2)
    warnings += backwards_note(np.array(times, dtype=np.float64)) + snap_note(sizes[:, 0],
                                                                               sizes[:, 1])
    zero = sum(1 for r in messages if r.get("_zero"))
    if zero:  # as the native engine: counted, not listed (a prefix of 0 is no DNS message)
        messages = [r for r in messages if not r.get("_zero")]
        warnings.append(f"TCP: {zero:,} zero-length message(s) (a length prefix of 0) "
                        "counted, not listed")
    if not_understood:
        warnings.append(f"tshark's dissection of {len(not_understood)} frame(s) was not "
                        f"understood; they were skipped (first: {not_understood[0]})")
    _mark_carried(tcps, messages)
    warnings += _mid_stream(tcps, messages)
    holes = retransmitted.after_holes()
    if holes:  # tshark does not frame a stream past a hole; say the loss
        warnings.append(f"{holes:,} TCP segment(s) of DNS connections come "
                        "after bytes the capture lacks (tshark: previous segment not "
                        "captured): tshark frames no message past such a gap, so messages "
                        "there are missing from this engine's tables (the native engine "
                        "resynchronises at the next message)")
    fates = _fragment_fates(frags)
    from .packets import interest_table

    _inner_of_lost(fates, interest_table(ports, (4789, *vxlan_ports)))
    discarded = {r["frame"] for r in fates if r.pop("_discarded")}
    sets = {(r["src"], r["dst"], r["ip_id"]) for r in fates if r["frame"] in discarded}
    if discarded:  # tshark reassembles them (in a set's last frame); a receiver would not
        last = {max(r["frame"] for r in fates if (r["src"], r["dst"], r["ip_id"]) == k)
                for k in sets}
        messages = [m for m in messages if not (m.get("ip_fragments") and m.get("frame") in last)]
        warnings.append(f"{len(sets):,} IPv6 fragment set(s) hold overlapping fragments: "
                        "discarded whole, as a receiver must (RFC 5722 s4, RFC 8200 s4.5) -- "
                        "their datagrams never reached it")
    _distinct_fragments(messages, fates)
    return CaptureTables(str(p), "tshark", _frame(messages, MESSAGE_COLUMNS),
                         _frame(fates, FRAGMENT_COLUMNS),
                         _frame(icmps, ICMP_COLUMNS), _frame(tcps, TCP_COLUMNS), frames,
                         None, warnings, links, retransmitted.frames,
                         last_time=_latest(times))


def _distinct_fragments(messages: list[dict[str, Any]], fates: list[dict[str, Any]]) -> None:
    """A reassembled message's ``ip_fragments``: the distinct offsets of the set completed in
    its frame, as the native count (tshark's count takes a fragment captured twice twice, and
    a partial overlap off as if it were a copy)."""
    offsets: dict[int, set[int]] = {}
    for r in fates:
        if r.get("complete") and r.get("reassembled_in") is not None:
            offsets.setdefault(int(r["reassembled_in"]), set()).add(int(r["offset"]))
    for m in messages:
        if m.get("ip_fragments") and m.get("frame") in offsets:
            m["ip_fragments"] = len(offsets[m["frame"]])


def _latest(times: list[float]) -> float:
    """The latest frame time (NaN: none has one)."""
    known = [t for t in times if t == t]
    return max(known) if known else float("nan")


def _mid_stream(tcps: list[dict[str, Any]], messages: list[dict[str, Any]]) -> list[str]:
    """The native reassembler's note of a TCP direction the capture joins after its SYN, for
    the directions that carried a DNS message with no SYN (or SYN-ACK) of theirs before it
    (tshark frames them itself). One note per direction, in the order first seen."""
    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["src"], r["sport"], r["dst"], r["dport"])

    opened: dict[tuple[Any, ...], float] = {}
    for r in tcps:  # (the TCP table: SYN, FIN and RST segments only)
        if r["syn"]:
            opened.setdefault(key(r), r["frame"])
    out: list[str] = []
    said: set[tuple[Any, ...]] = set()
    for r in messages:  # (a loop over TCP messages, as tshark's JSON is read: per packet)
        if r["transport"] != "tcp" or key(r) in said:
            continue
        said.add(key(r))
        first = r.get("first_frame") or r["frame"]
        if key(r) not in opened or opened[key(r)] > first:
            out.append(f"TCP {r['src']}:{r['sport']} -> {r['dst']}:{r['dport']}: the capture "
                       "starts mid-stream (no SYN); messages framed from the first plausible "
                       "DNS message seen")
    return out


def _mark_carried(tcps: list[dict[str, Any]], messages: list[dict[str, Any]]) -> None:
    """The TCP table's ``carried``, as the native reassembler gives it: a SYN (or SYN-ACK)
    whose direction -- same addresses and ports -- carried a DNS message after it, before the
    next SYN of that direction (a SYN sent again opens the direction anew). One sort of the
    openers and the messages together, no loop over them."""
    over_tcp = [r for r in messages if r["transport"] == "tcp"]
    openers = [k for k, r in enumerate(tcps) if r["syn"]]
    if not over_tcp or not openers:
        return
    rows = [tcps[k] for k in openers] + over_tcp
    key = factorize_texts(np.array([f"{r['src']} {r['sport']} {r['dst']} {r['dport']}"
                                    for r in rows], dtype=object))[0]
    frame = np.array([r["frame"] for r in rows], dtype=np.int64)
    is_opener = np.arange(len(rows)) < len(openers)
    order = np.lexsort((~is_opener, frame, key))  # an opener before a message of its frame
    k, op = key[order], is_opener[order]
    # each message: the latest opener of its direction at or before it
    latest = np.maximum.accumulate(np.where(op, np.arange(len(order)), -1))
    same = latest >= 0
    same[same] = k[latest[same]] == k[same]
    used = latest[~op & same]
    carried = np.zeros(len(order), dtype=bool)
    carried[used] = True
    for at in np.flatnonzero(carried & op).tolist():
        tcps[openers[int(order[at])]]["carried"] = True


class _Retransmitted:
    """Segments of DNS connections whose every byte came before (tshark's relative sequence
    numbers, per direction): a retransmission, counted once -- the native reassembler's rule
    (tshark's own analysis calls a resent piece "out-of-order" when it comes soon after)."""

    def __init__(self) -> None:
        self.frames: list[int] = []
        # per direction: the end of the bytes received in order, and segments past a gap
        self.next: dict[tuple[Any, ...], int] = {}
        self.waiting: dict[tuple[Any, ...], list[tuple[int, int]]] = {}

    def after_holes(self) -> int:
        """Segments still waiting, at the end, behind bytes the capture never held."""
        return sum(len(w) for w in self.waiting.values())

    def see(self, number: int, ip: tuple[Any, ...], t: dict[str, Any],
            ports: tuple[int, ...]) -> None:
        sport, dport = _int(t.get("tcp.srcport")), _int(t.get("tcp.dstport"))
        size, seq = _int(t.get("tcp.len")) or 0, _int(t.get("tcp.seq"))
        if not size or seq is None or _port_protocol(sport, dport, ports) is None:
            return
        key = (_int(t.get("tcp.stream")), ip[1], ip[2], sport, dport)  # (a reused 4-tuple
        # is another stream, its sequence numbers relative to its own SYN)
        # tshark's relative sequence numbers: a direction's first byte is 1 (after its SYN,
        # or the first segment seen without one)
        nxt = self.next.get(key, 1)
        if seq + size <= nxt:  # every byte came before, in order: a retransmission
            self.frames.append(number)
            return
        if seq > nxt:  # past a gap: waits (a first copy out of order is no retransmission)
            self.waiting.setdefault(key, []).append((seq, seq + size))
            return
        nxt = seq + size
        pending = self.waiting.get(key, [])
        moved = True
        while moved and pending:  # the gap filled: what waited behind it follows
            moved = False
            for piece in sorted(pending):
                if piece[0] <= nxt:
                    nxt = max(nxt, piece[1])
                    pending.remove(piece)
                    moved = True
        self.next[key] = nxt


def _packet(number: int, time: float, layers: dict[str, Any], fr: dict[str, Any],
            ports: tuple[int, ...], messages: list[dict[str, Any]],
            frags: list[dict[str, Any]], icmps: list[dict[str, Any]],
            tcps: list[dict[str, Any]], retransmitted: _Retransmitted | None = None) -> None:
    """One packet's rows into the tables (``retransmitted``: the DNS connections' segments
    whose bytes came already, by the native reassembler's rule)."""
    ip = _ip(layers)
    if ip is None:
        return
    icmp_key = "icmp" if "icmp" in layers else "icmpv6" if "icmpv6" in layers else None
    if icmp_key is not None:
        row = _icmp(number, time, layers, icmp_key)
        quoted_dns = [d for p in _DNS_LAYERS for d in _list(layers.get(p))]
        if row is not None and quoted_dns and row["quoted_dns_id"] is None:
            row["quoted_dns_id"] = _int(_obj(quoted_dns[0]).get("dns.id"))
        if row is not None:
            icmps.append(row)
        return
    _fragment(number, time, layers, frags)
    segments = [s for s in (_int(x) for x in _all(layers.get("tcp.segments"), "tcp.segment"))
                if s is not None]
    malformed = "_ws.malformed" in layers
    ips = _ip_layers(layers)
    pieces = [s for s in (_int(x) for x in _all(ips, "ip.fragment") + _all(ips, "ipv6.fragment"))
              if s is not None]
    for proto in _DNS_LAYERS:
        for k, dns in enumerate(_list(layers.get(proto))):
            if isinstance(dns, dict) and "dns.id" in dns:
                row = _message(number, time, layers, proto, dns, ip,
                               _int(fr.get("frame.len")) or 0, _int(fr.get("frame.cap_len")) or 0,
                               ports)
                if k == 0 and segments:  # tshark lists the segments of the first PDU
                    row["first_frame"] = min(segments)
                if pieces:
                    row["first_frame"] = min(pieces)
                if malformed:
                    row["malformed"] = "tshark: malformed packet"
                if row["dns_size"] < 12:  # tshark reads what bytes there are as the header;
                    # the table has no header for a message shorter than one (RFC 1035 s4.1.1)
                    row.update(dict.fromkeys(_HEADER[1:]), edns=None)
                    if row["dns_size"] < 2:
                        row["dns_id"] = None
                messages.append(row)
    if not any(r["frame"] == number for r in messages[-1:]):
        messages += _headerless(number, time, layers, fr, ip, ports)
    if "tcp" in layers:
        stack = _list(layers["tcp"])
        t = _obj(stack[-1] if stack else None)
        f = _int(t.get("tcp.flags")) or 0
        if retransmitted is not None:
            retransmitted.see(number, ip, t, ports)
        if f & 0x07:
            tcps.append({"frame": number, "time": time, "family": ip[0], "src": ip[1],
                         "dst": ip[2], "sport": _int(t.get("tcp.srcport")),
                         "dport": _int(t.get("tcp.dstport")), "syn": bool(f & 2),
                         "ack": bool(f & 0x10), "fin": bool(f & 1), "rst": bool(f & 4),
                         "carried": False})  # (:func:`_mark_carried`)


_HEADER = ("dns_id", "qr", "opcode", "aa", "tc", "rd", "ra", "ad", "cd", "rcode", "qdcount",
           "ancount", "nscount", "arcount", "qname_ok", "edns")


def _headerless(number: int, time: float, layers: dict[str, Any], fr: dict[str, Any],
                ip: tuple[Any, ...], ports: tuple[int, ...]) -> list[dict[str, Any]]:
    """DNS messages shorter than the 12-byte header (RFC 1035 s4.1.1) -- sent so, or cut by
    the snap length -- which tshark's JSON shows only as a malformed-packet or
    packet-size-limited marker each (no DNS object): one row per marker when the frame's last
    protocol is DNS (or UDP cut short on a port of interest) and it has no DNS object, as the
    native engine counts them. Sizes: UDP from its length field; TCP the segment's (or
    reassembly's) bytes shared out."""
    protocols = (_text(fr.get("frame.protocols")) or "").split(":")
    last = protocols[-1]
    markers = len(_list(layers.get("_ws.malformed"))) + len(_list(layers.get("_ws.short")))
    if not markers or any(isinstance(d, dict) for p in _DNS_LAYERS
                          for d in _list(layers.get(p))):
        return []
    tcp = "tcp" in layers
    stack = _list(layers.get("tcp" if tcp else "udp"))
    t = _obj(stack[-1] if stack else None)
    if last not in _DNS_LAYERS:
        if tcp or last != "udp" or "_ws.short" not in layers:
            return []
        by_port = _port_protocol(_int(t.get("udp.srcport")), _int(t.get("udp.dstport")), ports)
        if by_port is None:
            return []
        last = by_port
        markers = 1
    if tcp:
        total = _int(_find(layers.get("tcp.segments"), "tcp.reassembled.length"))
        total = total if total is not None else _int(t.get("tcp.len")) or 0
        size = max(0, (total - 2 * markers) // markers)
    else:
        size = max(0, (_int(t.get("udp.length")) or 8) - 8)
    row = _message(number, time, layers, last, {}, ip, _int(fr.get("frame.len")) or 0,
                   _int(fr.get("frame.cap_len")) or 0, ports)
    row.update(dict.fromkeys(_HEADER), malformed="tshark: malformed packet (shorter than a "
               "DNS header)", dns_size=size, captured_size=max(0, min(
                   size, row["captured_size"])) if not tcp else size, edns=None)
    if tcp and size == 0:
        row["_zero"] = True  # a length prefix of 0: counted apart by the caller
    return [dict(row) for _ in range(markers)]


def _port_protocol(sport: int | None, dport: int | None, ports: tuple[int, ...]) -> str | None:
    """The protocol a UDP port pair carries for the native engine (source port first)."""
    for port in (sport, dport):
        if port == 53 or port in ports:
            return "dns"
        if port == 5353:
            return "mdns"
        if port == 5355:
            return "llmnr"
    return None


def _frame(rows: list[dict[str, Any]], spec: dict[str, str]) -> Any:
    cols = {k: np.array([r[k] for r in rows], dtype=object) for k in spec}
    import pandas as pd

    return frame_of({k: pd.array(v, dtype=cast(Any, spec[k])) for k, v in cols.items()}, spec)


def _fragment(number: int, time: float, layers: dict[str, Any], out: list[dict[str, Any]]
              ) -> None:
    for layer in map(_obj, _list(layers.get("ip"))):
        flags = _obj(layer.get("ip.flags_tree"))
        mf = _int(flags.get("ip.flags.mf")) or 0
        offset = (_int(layer.get("ip.frag_offset")) or 0) * 8  # tshark writes 8-byte units
        if mf or offset:
            hdr = _int(layer.get("ip.hdr_len")) or 20
            src, dst, ident = _text(layer.get("ip.src")), _text(layer.get("ip.dst")), _int(
                layer.get("ip.id"))
            proto = _int(layer.get("ip.proto"))
            payload = _payload(layers, offset)
            sport, dport = _first_ports(layers, offset, proto, layer is _innermost(layers),
                                        payload)
            out.append({"frame": number, "time": time, "family": "ipv4", "src": src,
                        "dst": dst, "ip_id": ident, "offset": offset, "more": bool(mf),
                        "size": max((_int(layer.get("ip.len")) or 0) - hdr, 0),
                        "protocol": proto if offset == 0 else None,
                        "sport": sport, "dport": dport, "_payload": payload,
                        "_key": ("4", src, dst, ident, proto)})
    for layer in map(_obj, _list(layers.get("ipv6"))):
        fh = _int(_find(layer, "ipv6.fraghdr.ident"))
        if fh is None:
            continue
        offset = _int(_find(layer, "ipv6.fraghdr.offset")) or 0
        more = bool(_int(_find(layer, "ipv6.fraghdr.more")) or 0)
        if not offset and not more:  # an atomic fragment is a whole packet (RFC 6946 s4)
            continue
        plen = _int(layer.get("ipv6.plen")) or 0
        # the fragment header itself, and the extension headers before it (hop-by-hop,
        # destination options, routing: RFC 8200 s4.5's unfragmentable part) -- those after
        # it are the payload's
        ext = 8
        for key, value in layer.items():
            if key == "ipv6.fraghdr":
                break
            if key in ("ipv6.hopopts", "ipv6.dstopts", "ipv6.routing"):
                ext += sum(v for v in (_int(x) for x in _all(value, f"{key}.len_oct"))
                           if v is not None)
        src, dst = _text(layer.get("ipv6.src")), _text(layer.get("ipv6.dst"))
        nxt = _int(_find(layer, "ipv6.fraghdr.nxt"))
        payload = _payload(layers, offset)
        sport, dport = _first_ports(layers, offset, nxt, layer is _innermost(layers), payload)
        out.append({"frame": number, "time": time, "family": "ipv6", "src": src,
                    "dst": dst, "ip_id": fh, "offset": offset * 8,
                    "more": more, "size": max(plen - ext, 0),
                    "protocol": nxt if offset == 0 else None,
                    "sport": sport, "dport": dport, "_payload": payload,
                    "_key": ("6", src, dst, fh, None)})


def _payload(layers: dict[str, Any], offset: int) -> bytes | None:
    """A first fragment's payload as tshark shows it (data bytes) when it did not complete
    the datagram there."""
    if offset or "data" not in layers:
        return None
    text = (_text(_find(layers.get("data"), "data.data")) or "").replace(":", "")
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def _inner_of_lost(fates: list[dict[str, Any]], interest: Any) -> None:
    """The ``inner_*`` columns: what a never-completed set's tunnelled first fragment carries
    (the native engine's rule, on the same bytes)."""
    import ipaddress

    from .packets import inner_of_first_fragment

    for r in fates:
        payload = r.pop("_payload", None)
        r.update(inner_src=None, inner_dst=None, inner_sport=None, inner_dport=None)
        if not payload or r["complete"] or r["offset"] or r["protocol"] is None:
            continue
        got = inner_of_first_fragment(4 if r["family"] == "ipv4" else 6, int(r["protocol"]),
                                      payload, interest)
        if got is None:
            continue
        fam, a, b, sp, dp = got
        make = ipaddress.IPv4Address if fam == 4 else ipaddress.IPv6Address
        r.update(inner_src=str(make(a)), inner_dst=str(make(b)))
        if sp or dp:
            r.update(inner_sport=sp, inner_dport=dp)


def _innermost(layers: dict[str, Any]) -> Any:
    """The innermost IP layer's object (:func:`_ip`'s), or None."""
    found = _ip(layers)
    return found[4] if found is not None else None


def _first_ports(layers: dict[str, Any], offset: int, proto: int | None, innermost: bool,
                 payload: bytes | None) -> tuple[int | None, int | None]:
    """The UDP/TCP ports at the start of a first fragment's payload, which tshark shows as
    data when it cannot reassemble the datagram (as the native walk reads them, for matching
    a lost set to its question); ``payload``: those data bytes (:func:`_payload`)."""
    if offset or proto not in (6, 17):
        return None, None
    if "data" not in layers:  # this frame completed the datagram: its transport header
        name = "udp" if proto == 17 else "tcp"
        stack = _list(layers.get(name))
        # (the innermost IP's transport is the last such layer; an outer one's, the first)
        layer = _obj((stack[-1] if innermost else stack[0]) if stack else None)
        return _int(layer.get(f"{name}.srcport")), _int(layer.get(f"{name}.dstport"))
    if payload is None or len(payload) < 4:
        return None, None
    return (payload[0] << 8) | payload[1], (payload[2] << 8) | payload[3]


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
        key = r.pop("_key")
        # RFC 5722 s4: overlapping IPv6 fragments -- the receiver discards the datagram
        r["_discarded"] = key[0] == "6" and s.overlap and s.done_at is not None
        r["complete"] = s.done_at is not None and bool(s.header) and not r["_discarded"]
        r["reassembled_in"] = s.done_at if r["complete"] else None
        r["fragments_seen"] = len(s.rows)
        r["duplicates"] = s.duplicates
    return rows


def _icmp(number: int, time: float, layers: dict[str, Any], key: str) -> dict[str, Any] | None:
    stack = _list(layers[key])
    layer = _obj(stack[0] if stack else None)
    itype = _int(layer.get(f"{key}.type"))
    code = _int(layer.get(f"{key}.code"))
    family = 4 if key == "icmp" else 6
    if itype is None or code is None:
        return None
    if (family == 4 and itype not in (3, 4, 11, 12)) or (family == 6 and not 1 <= itype <= 4):
        return None
    fam = "ip" if family == 4 else "ipv6"
    outer = _obj(_list(layers.get(fam))[:1] or None)
    inner_v4 = _list(layer.get("ip"))
    inner_v6 = _list(layer.get("ipv6"))
    inner = _obj((inner_v4 or inner_v6 or [None])[0])
    ifam = "ip" if inner_v4 else "ipv6"
    tname = "udp" if "udp" in layer else "tcp"
    transport = _obj(layer.get(tname))
    dns_id = None
    for proto in _DNS_LAYERS:
        if proto in layer:
            dns_id = _int(_obj(layer[proto]).get("dns.id"))
    mtu = _int(layer.get(f"{key}.mtu")) or None  # 0: the router does not say (RFC 1191 s4)
    isize = None
    if inner:
        isize = (_int(inner.get("ip.len")) if ifam == "ip" else
                 (_int(inner.get("ipv6.plen")) or 0) + 40)
    return {"frame": number, "time": time, "family": "ipv4" if family == 4 else "ipv6",
            "src": _text(outer.get(f"{fam}.src")), "dst": _text(outer.get(f"{fam}.dst")),
            "type": itype, "code": code, "kind": icmp_kind(family, itype, code), "mtu": mtu,
            "quoted_src": _text(inner.get(f"{ifam}.src")),
            "quoted_dst": _text(inner.get(f"{ifam}.dst")),
            "quoted_protocol": (_int(inner.get("ip.proto")) if ifam == "ip" else
                                _int(_find(inner, "ipv6.fraghdr.nxt") or inner.get("ipv6.nxt"))
                                ) if inner else None,
            "quoted_sport": _int(transport.get(f"{tname}.srcport")),
            "quoted_dport": _int(transport.get(f"{tname}.dstport")),
            "quoted_ip_size": isize,
            "quoted_ip_id": (_int(inner.get("ip.id")) if ifam == "ip" else
                             _int(_find(inner, "ipv6.fraghdr.ident"))) if inner else None,
            "quoted_dns_id": dns_id}
