"""Where SIP requests really went, from a capture: the observed split of a record set.

A proxy's log says what it meant to do; a capture says what it did. :func:`observed_split`
reads a capture made beside a proxy (or a fleet of them) and

1. takes the SIP requests of one method (INVITE by default) from tshark's SIP dissector,
   each distinct (Call-ID, destination) once -- UDP retransmissions are not new choices; a
   call that went to two targets (RFC 3263 s4.3 failover) counts at both;
2. maps each request's destination address and port to a target of the record set through
   the zone's own data: an address pool's addresses, an SRV target's A/AAAA records and port,
   an ENUM/NAPTR target URI's host located as RFC 3263 does (NAPTR, SRV, A/AAAA);
3. groups the requests by the DNS resolution that preceded them where the capture shows it:
   the latest answer for the record set's own name (the pool host's A/AAAA, the SRV name,
   the ENUM domain's NAPTR) sent to the request's source address before the request. Requests
   that shared one answer made one decision (a proxy's cache), so they form one cluster;
4. tests the split with :func:`enumlab.split.stats.clustered_compare`.

DNS comes from enumlab's native capture engine (port 53 and ``dns_ports``); SIP over UDP/TCP
on ports tshark dissects as SIP (5060 and its heuristics). Requests whose destination is no
target (e.g. the INVITE that reached the proxy itself) are counted apart, never dropped
silently.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..capture import CaptureError, find_tshark, load_capture
from ..core.errors import InputError
from ..core.policies import RecordSet
from ..core.records import AddressRecord
from ..resolve.lookup import Lookup

SIP_FIELDS = ("frame.number", "frame.time_epoch", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst",
              "udp.dstport", "tcp.dstport", "sip.Method", "sip.Call-ID")
NO_RESOLUTION = "(none in the capture)"


def sip_requests(path: str | Path, method: str = "INVITE") -> Any:
    """One row per SIP request of ``method`` in the capture: frame, time, src, dst, dport,
    call_id (tshark's SIP dissector)."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise CaptureError(f"capture {p} does not exist", subject=str(p))
    if not method.isalpha():
        raise InputError(f"a SIP method is a token such as INVITE, not {method!r}",
                         subject=method)
    cmd = [find_tshark(), "-n", "-r", str(p), "-Y", f'sip.Method == "{method.upper()}"',
           "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    for f in SIP_FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise CaptureError(f"{p}: tshark could not read the capture: "
                           f"{out.stderr.strip()[-300:]}", subject=str(p))
    rows = []
    for line in out.stdout.splitlines():
        cols = line.split("\t")
        if len(cols) < len(SIP_FIELDS):
            cols += [""] * (len(SIP_FIELDS) - len(cols))
        frame, t, s4, s6, d4, d6, up, tp, _, call = cols[: len(SIP_FIELDS)]
        port = up or tp
        if not port:
            continue
        rows.append((int(frame), float(t), s4 or s6, d4 or d6, int(port), call))
    return pd.DataFrame(rows, columns=["frame", "time", "src", "dst", "dport", "call_id"])


def resolution_name(name: str, rs: RecordSet) -> tuple[str, tuple[int, ...]]:
    """The DNS name and types whose answer decides the record set ``name``."""
    from ..core.e164 import to_enum_domain

    if name.startswith("+") or name.replace(" ", "").isdigit():
        return to_enum_domain(name).rstrip(".").lower(), (35,)
    base = name.rstrip(".").lower()
    if rs.kind == "a":
        return base, (1, 28)
    return base, ((33,) if rs.kind == "srv" else (35,))


def target_map(rs: RecordSet, lookup: Lookup) -> dict[tuple[str, int | None], str]:
    """(address, port or None for any port) -> target, from the zone's data."""
    from ..resolve.sip_location import locate_sip_server

    out: dict[tuple[str, int | None], str] = {}

    def put(key: tuple[str, int | None], target: str) -> None:
        if out.get(key, target) != target:
            raise InputError(f"{key[0]} is an address of both {out[key]} and {target}: "
                             "requests to it cannot be told apart", subject=key[0])
        out[key] = target

    for target in rs.targets:
        if rs.kind == "a":
            put((target, None), target)
        elif rs.kind == "srv":
            host, _, port = target.rpartition(":")
            for rdtype in ("A", "AAAA"):
                for r in lookup.query(host if host.endswith(".") else host + ".",
                                      rdtype).records:
                    if isinstance(r, AddressRecord):
                        put((r.address, int(port)), target)
        elif target.lower().startswith(("sip:", "sips:")):
            location = locate_sip_server(target, lookup, all_transports=True)
            for t in location.targets:
                if t.address:
                    put((t.address, t.port), target)
        else:  # a NAPTR replacement: a host name (S-NAPTR "a") or an SRV name
            for rdtype in ("A", "AAAA"):
                for r in lookup.query(target, rdtype).records:
                    if isinstance(r, AddressRecord):
                        put((r.address, None), target)
    return out


@dataclass
class ObservedSplit:
    """The requests, where they went, which resolution decided them, and the test."""

    name: str
    rs: RecordSet
    requests: Any  # DataFrame: frame, time, src, dst, dport, call_id, target, resolution
    other: int  # requests to addresses that are no target
    resolutions: int  # answers for the record set's name seen in the capture
    report: Any = None  # ClusteredReport, once tested
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> np.ndarray:
        return np.array([(self.requests["target"] == t).sum() for t in self.rs.targets],
                        dtype=np.int64)

    def cluster_counts(self) -> np.ndarray:
        """One row per resolution that decided requests, one column per target."""
        if self.requests.empty:
            return np.zeros((0, len(self.rs.targets)), dtype=np.int64)
        table = (self.requests.groupby(["resolution", "target"]).size()
                 .unstack(fill_value=0).reindex(columns=self.rs.targets, fill_value=0))
        return np.asarray(table.to_numpy(), dtype=np.int64)

    def decisions(self) -> Any:
        """One row per decision (the DNS answer a group of requests followed), in capture
        order: how many requests it carried and the targets they went to."""
        return self.requests.groupby("resolution", sort=False)["target"].agg(
            requests="size", went_to=lambda t: ", ".join(sorted(set(t))))

    def test(self, expected: Sequence[float] | np.ndarray, alpha: float = 0.05) -> Any:
        from .stats import clustered_compare

        exp = np.asarray(expected, dtype=float)[: len(self.rs.targets)]
        if exp.sum() <= 0:
            raise InputError("the expected split gives no target any share", subject=exp)
        self.report = clustered_compare(self.cluster_counts(), exp / exp.sum(),
                                        labels=self.rs.targets, alpha=alpha)
        return self.report

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "requests": len(self.requests),
                "to_no_target": self.other, "resolutions_seen": self.resolutions,
                "without_resolution": int((self.requests["resolution"]
                                           == NO_RESOLUTION).sum()),
                "clusters": int(self.requests["resolution"].nunique()),
                "counts": {t: int(c) for t, c in zip(self.rs.targets, self.counts,
                                                     strict=True)},
                "notes": self.notes}


def observed_split(path: str | Path, name: str, rs: RecordSet, lookup: Lookup, *,
                   method: str = "INVITE", dns_ports: tuple[int, ...] = ()) -> ObservedSplit:
    """Read ``path`` and return the observed split of record set ``rs`` (named ``name``)."""
    requests = sip_requests(path, method)
    if requests.empty:
        raise InputError(f"{path}: no SIP {method.upper()} requests in this capture (SIP on "
                         "a port tshark does not dissect as SIP?)", subject=str(path))
    mapping = target_map(rs, lookup)
    requests = requests.drop_duplicates(["call_id", "dst", "dport"]).reset_index(drop=True)

    def target_of(dst: str, port: int) -> str | None:
        return mapping.get((dst, port)) or mapping.get((dst, None))

    requests["target"] = [target_of(d, p) for d, p in zip(requests["dst"], requests["dport"],
                                                          strict=True)]
    other = int(requests["target"].isna().sum())
    requests = requests[requests["target"].notna()].reset_index(drop=True)
    qname, qtypes = resolution_name(name, rs)
    try:
        tables = load_capture(path, ports=dns_ports)
        msgs = tables.messages
        answers = msgs[(msgs["qr"] == True) & (msgs["qname"].astype(object) == qname)  # noqa: E712
                       & msgs["qtype"].isin(qtypes)]
    except CaptureError:
        answers = None
    notes = []
    if answers is None or answers.empty:
        notes.append(f"no DNS answer for {qname} in the capture: every request is its own "
                     "decision as far as the capture shows (the test then assumes "
                     "independent choices)")
        requests["resolution"] = [f"request {f}" for f in requests["frame"]]
        return ObservedSplit(name, rs, requests, other, 0, notes=notes)
    resolution = []
    by_client = {client: group.sort_values("time")
                 for client, group in answers.groupby(answers["dst"].astype(object))}
    for src, t in zip(requests["src"], requests["time"], strict=True):
        seen = by_client.get(src)
        if seen is None:
            resolution.append(NO_RESOLUTION)
            continue
        i = int(np.searchsorted(seen["time"].to_numpy(), t, side="right")) - 1
        resolution.append(f"{src} frame {int(seen['frame'].iloc[i])}" if i >= 0
                          else NO_RESOLUTION)
    requests["resolution"] = resolution
    before = int((requests["resolution"] == NO_RESOLUTION).sum())
    if before:
        notes.append(f"{before} request(s) came before any answer for {qname} in the capture "
                     "(decided by an answer cached earlier): grouped as one cluster")
    if other:
        notes.append(f"{other} {method.upper()} request(s) went to addresses that are no "
                     "target of this record set (e.g. to the proxy itself): not counted")
    return ObservedSplit(name, rs, requests, other, len(answers), notes=notes)
