"""Capture fuzzing: seeded mutants (:mod:`.mutate`) through both engines, in worker processes.

Each mutant is written to a file and read by the whole analysis (``analyze``: decoding,
pairing, the summary) three ways -- the native engine interpreted, the native engine with its
compiled kernels (small blocks and the compiled hash table forced, so batch edges are hit), and
(on a share of the mutants) the tshark engine. Verdicts:

* ``signal``  -- the worker died by a signal (a compiled kernel read out of bounds);
* ``timeout`` -- one run took more than :data:`LIMIT_S` seconds;
* ``traceback`` -- an exception that is not an ``EnumlabError`` (a bug, whatever the input);
* ``kernels`` -- the compiled and interpreted paths gave different message counts;
* ``engines`` -- both engines read the file but count messages differently, with no reason
  in :func:`explained`;
* ``names`` -- the plain QNAMEs (:func:`plain_names`) differ between the compiled and
  interpreted paths, or between the engines on a mutant of DNS content only, except on
  messages whose QNAME the native engine calls undecodable (:func:`names_differ`).

Workers are ``python -m tests.fuzz.captures --worker`` processes fed one job per line, so a
death or a hang is seen and the worker replaced. ``python -m tests.fuzz.captures --count N
--out DIR`` (``make fuzz``) runs N mutants and writes each distinct failure, shrunk by delta
debugging (:func:`shrink`), to DIR as ``<verdict>-<n>.pcap`` plus a ``.json`` describing it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .mutate import Capture, mutate_capture, read_capture, write_capture

ROOT = Path(__file__).resolve().parents[2]
LIMIT_S = 10.0
MODES = ("interpreted", "compiled", "tshark")
PORTS = (5300, 5301)  # DNS ports of the shipped captures besides 53 (data/captures/labels.json)
COUNTS = ("messages", "queries", "responses", "udp", "tcp", "tc", "mdns", "llmnr", "malformed")


# -- seeds -------------------------------------------------------------------------------------

def _scenarios() -> list[dict[str, Any]]:
    from tests import frames as F

    base = {"vlans": (), "v6": False, "ext": (), "format": "pcap"}
    rows = [
        ("udp", "udp", "udp-big"), ("tcp", "tcp", "tcp"), ("udp-lost", "udp-big", "malformed"),
        ("mdns", "llmnr", "udp"), ("gtpu", "gre", "teredo"), ("tcp", "udp-big", "mdns"),
    ]
    out = []
    for k, exchanges in enumerate(rows):
        for v6, link, fmt, vlans, ext in ((False, F.ETHERNET, "pcap", (), ()),
                                          (True, F.ETHERNET, "pcap", (10, 20), (0, 60)),
                                          (k % 2 == 0, F.SLL2, "pcapng", (), ()),
                                          (True, F.RAW, "pcap-big-nano", (), (0,))):
            out.append({**base, "seed": 100 + k, "link": link, "v6": v6, "vlans": vlans,
                        "ext": ext, "format": fmt, "exchanges": list(exchanges)})
    return out


def seeds() -> list[tuple[str, bytes]]:
    """The inputs mutants are made from: every capture shipped in data/captures, and captures
    built by code (UDP, TCP with several messages per segment, fragments, mDNS, LLMNR,
    tunnels, malformed DNS; Ethernet with QinQ, Linux cooked v2, raw IP; IPv4 and IPv6 with
    extension headers; pcap of both byte orders and pcapng)."""
    from tests.test_capture_engines import build

    out = [(p.name, p.read_bytes()) for p in sorted((ROOT / "data" / "captures").iterdir())
           if p.suffix in (".pcap", ".pcapng")]
    with tempfile.TemporaryDirectory() as tmp:
        for s in _scenarios():
            path = Path(tmp) / "seed"
            build(s, path)
            name = f"built-{s['seed']}-{s['link']}-{'v6' if s['v6'] else 'v4'}-{s['format']}"
            out.append((name, path.read_bytes()))
    return out


@dataclass(frozen=True)
class Mutant:
    index: int
    seed: str
    mutations: str
    data: bytes


def mutants(seed_inputs: Sequence[tuple[str, bytes]], count: int, *, campaign: int = 0,
            start: int = 0) -> Iterator[Mutant]:
    """``count`` mutants; mutant ``i`` comes from its own generator seeded (campaign, i), so
    any one is made again alone."""
    for i in range(start, start + count):
        rng = np.random.default_rng([campaign, i])
        k = int(rng.integers(0, len(seed_inputs)))
        donors = [seed_inputs[int(rng.integers(0, len(seed_inputs)))][1]]
        data, names = mutate_capture(seed_inputs[k][1], rng, donors=donors)
        yield Mutant(i, seed_inputs[k][0], names, data)


# -- one run (inside a worker) -----------------------------------------------------------------

def run_one(path: str, mode: str) -> dict[str, Any]:
    """The whole analysis of one file in one mode: counts, or the error it ended in."""
    from enumlab.capture import columns, native, report
    from enumlab.core.errors import EnumlabError

    saved = (columns.HASH_MIN_ROWS, native.BLOCK)
    if mode == "compiled":  # the compiled hash table from the first row; blocks of 3 records
        columns.HASH_MIN_ROWS, native.BLOCK = 0, 3
    began = time.monotonic()
    out: dict[str, Any] = {"mode": mode}
    try:
        analysis = report.analyze(path, engine="tshark" if mode == "tshark" else "native",
                                  jit=mode == "compiled", ports=PORTS)
        report.format_summary(analysis.summary)
        tables = analysis.capture
        out["counts"] = counts(tables.messages)
        out["names"] = plain_names(tables.messages)
        out["named"] = named(tables.messages)
        out["warnings"] = list(tables.warnings)
        out["status"] = "ok"
    except EnumlabError as exc:
        out["status"] = "error"
        out["error"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # the verdict: a traceback
        out["status"] = "traceback"
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
        out["where"] = _where(exc)
    finally:
        columns.HASH_MIN_ROWS, native.BLOCK = saved
    out["seconds"] = time.monotonic() - began
    return out


def _where(exc: BaseException) -> str:
    """The innermost enumlab frame the exception passed through (its signature)."""
    tb = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in tb if "/enumlab/" in f.filename] or tb
    f = mine[-1] if mine else None
    return f"{type(exc).__name__} at {Path(f.filename).name}:{f.name}" if f else type(
        exc).__name__


def counts(m: Any) -> dict[str, int]:
    """The per-message counts the engines are compared on."""
    # a message shorter than the 12-byte header has no QR bit: neither query nor response
    header = (m["dns_size"].fillna(0) >= 12).to_numpy()
    qr = m["qr"].fillna(False).astype(bool).to_numpy()
    return {"messages": len(m), "queries": int((~qr & header).sum()),
            "responses": int((qr & header).sum()),
            "udp": int((m["transport"] == "udp").sum()),
            "tcp": int((m["transport"] == "tcp").sum()),
            "tc": int(m["tc"].fillna(False).astype(bool).sum()),
            "mdns": int((m["protocol"] == "mdns").sum()),
            "llmnr": int((m["protocol"] == "llmnr").sum()),
            "malformed": int((m["malformed"].fillna("") != "").sum())}


def plain_names(m: Any) -> str:
    """A digest of the QNAMEs made of letters, digits, '-', '_' and '.' only, in message
    order: names both engines write alike. A name store that shifts names (issue 29: a label
    holding a newline moved every later name by one) changes it."""
    import re

    plain = re.compile(r"[a-z0-9_.-]*\Z")  # a full match of a bounded pattern: linear
    names = [v for v in m["qname"].astype(object).tolist() if isinstance(v, str)
             and plain.match(v)]
    return hashlib.sha1("\n".join(names).encode()).hexdigest()


def named(m: Any) -> list[tuple[str | None, bool]]:
    """Per message, in message order: its plain QNAME (None if it has none or it is not
    plain) and whether the engine called the QNAME undecodable (see :func:`names_differ`)."""
    import re

    plain = re.compile(r"[a-z0-9_.-]*\Z")
    bad = (m["malformed"].fillna("").astype(str) == "undecodable QNAME").tolist()
    return [(v if isinstance(v, str) and plain.match(v) else None, b)
            for v, b in zip(m["qname"].astype(object).tolist(), bad, strict=True)]


# why native and tshark may name a message differently (not a defect)
FORWARD_POINTER = ("a compression pointer to a later offset of the message: RFC 1035 s4.1.4 "
                   "has a pointer refer to a prior occurrence of a name, so the native engine "
                   "calls the QNAME undecodable; tshark follows the pointer forward and names "
                   "the message with whatever labels it finds there")


def names_differ(native: dict[str, Any], oracle: dict[str, Any]) -> bool:
    """Whether the engines name messages differently beyond :data:`FORWARD_POINTER`: the
    plain names compared message by message, skipping messages the native engine calls
    undecodable."""
    if native["names"] == oracle["names"]:
        return False
    a, b = native.get("named"), oracle.get("named")
    if a is None or b is None or len(a) != len(b):
        return True
    return any(x[0] != y[0] for x, y in zip(a, b, strict=True) if not x[1])


def worker() -> None:
    """Jobs on stdin (``mode<TAB>path``), one JSON result per line on stdout."""
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # nothing the analysis prints can garble the protocol
    for line in sys.stdin:
        mode, path = line.rstrip("\n").split("\t", 1)
        result = run_one(path, mode)
        real_stdout.write(json.dumps(result) + "\n")
        real_stdout.flush()


# -- the pool of workers -----------------------------------------------------------------------

class Worker:
    """One ``--worker`` process; :meth:`run` gives its answer, or a verdict when it died or
    took longer than ``limit`` seconds (then it is replaced)."""

    def __init__(self, limit: float = LIMIT_S) -> None:
        self.limit = limit
        self.proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.fuzz.captures", "--worker"], cwd=ROOT, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return self.proc

    def run(self, path: str, mode: str, *, limit: float | None = None) -> dict[str, Any]:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        began = time.monotonic()
        try:
            proc.stdin.write(f"{mode}\t{path}\n".encode())
            proc.stdin.flush()
        except BrokenPipeError:
            pass
        deadline = began + (self.limit if limit is None else limit)
        fd = proc.stdout.fileno()
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            if ready:
                line = proc.stdout.readline()
                if line:
                    return dict(json.loads(line))
                code = proc.wait()
                self.stop()
                return {"mode": mode, "status": "signal" if code < 0 else "exit",
                        "error": f"worker died: {'signal ' + str(-code) if code < 0 else code}",
                        "seconds": time.monotonic() - began}
            if left <= 0:
                self.stop()
                return {"mode": mode, "status": "timeout", "seconds": time.monotonic() - began,
                        "error": f"over {self.limit:g} s"}

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    pipe.close()
            self.proc = None


# -- verdicts ----------------------------------------------------------------------------------

MALFORMED = ("what is malformed is each engine's own judgement: the native engine checks the "
             "header, the question, the OPT record and the lengths it reads; tshark dissects "
             "every record and marks the packet where its dissection raises")
# mutation -> why the engines may count its mutants' messages differently (not a defect).
# Mutations not named here (DNS content: bits, counts, labels, compression pointers) are
# compared strictly: every count but ``malformed`` must agree.
DEFINITIONAL = {
    "packet_bits": "bits flipped from the IP header on: any length, offset, port or version "
                   "field named below may be hit",
    "cut_record": "a frame cut short: inside a TCP stream tshark does not reassemble through "
                  "a segment it lacks bytes of, and a datagram cut inside IP or UDP is dropped "
                  "by one engine and read as far as it goes by the other",
    "ip_lengths": "an IP total or header length that disagrees with the frame: tshark stops "
                  "at a bad header length and trims to the total; the native engine reads "
                  "what the frame holds and marks it (RFC 791 s3.1 does not say which wins)",
    "udp_length": "a UDP length that disagrees with the IP payload: tshark does not dissect "
                  "the payload ('bad length'), the native engine reads the message from the "
                  "IP payload and marks it",
    "fragments": "overlapping or inconsistent IPv4 fragments: which copy of overlapping bytes "
                 "wins and when a set is complete are reassembly policy (RFC 791 leaves it "
                 "open; RFC 5722 forbids overlaps for IPv6 only)",
    "ipv6_chain": "extension headers tshark does not walk past (AH, Mobility, HIP, Shim6, "
                  "experimental types with garbage) where the native engine follows the "
                  "uniform length format (RFC 6564), and atomic or non-initial fragment "
                  "headers in the chain",
    "tcp_prefix": "an RFC 7766 length prefix past the stream: the native engine reports the "
                  "message as cut off at the stream's end, tshark waits for bytes that never "
                  "come",
    "tcp_seq": "a sequence number moved: a gap (issue 25 item 6: tshark resynchronises, the "
               "native engine stops decoding that stream) or an overlap resolved differently",
    "splice_stream": "bytes of one stream or datagram spliced into another, frames reordered "
                     "or duplicated: overlapping TCP data with different bytes and gaps are "
                     "resolved differently (see tcp_seq)",
    "splice_capture": "frames of another capture merged in: streams with the same addresses "
                      "and ports meet, with the overlaps and gaps of splice_stream",
    "file_bits": "bits flipped in the file: a record or block header damaged; each engine "
                 "keeps what it read before the damage, and what counts as damage differs "
                 "(tshark also parses packet block options, which the native engine skips)",
    "file_cut": "the file cut short: the last record is partial; tshark drops it, the native "
                "engine drops it too but the DNS of a cut TCP stream differs (see cut_record)",
    "file_splice": "bytes of another file spliced in: see file_bits",
    "record_length": "a record's captured or wire length that lies: see file_bits",
    "block_length": "a pcapng block length that lies: see file_bits",
    **{name: "bytes inserted, repeated or changed anywhere in the file: see file_bits"
       for name in ("insert_bytes", "repeat_chunk", "absurd_int", "cut", "flip_bits")},
}


def explained(native: dict[str, int], oracle: dict[str, int], mutations: str) -> str | None:
    """Why the engines may count a mutant's messages differently, or None."""
    if {k for k in COUNTS if native[k] != oracle[k]} <= {"malformed"}:
        return MALFORMED
    for name in mutations.split("+"):
        if name in DEFINITIONAL:
            return DEFINITIONAL[name]
    return None


@dataclass
class Finding:
    verdict: str
    mutant: Mutant
    detail: str
    results: list[dict[str, Any]] = field(default_factory=list)
    kind: str = ""  # for disagreements: the counts that differ, and the mutations

    @property
    def signature(self) -> str:
        first = self.results[0] if self.results else {}
        return f"{self.verdict}|{first.get('mode', '')}|{first.get('where', '')}{self.kind}"


def judge(m: Mutant, results: dict[str, dict[str, Any]]) -> list[Finding]:
    """The findings of one mutant's runs (see module docs)."""
    found = []
    for mode, r in results.items():
        if r["status"] in ("signal", "timeout", "traceback", "exit"):
            found.append(Finding(r["status"], m, f"{mode}: {r.get('error')}", [r]))
        elif r.get("seconds", 0) > LIMIT_S:
            found.append(Finding("timeout", m, f"{mode}: {r['seconds']:.1f} s", [r]))
        elif any("not understood" in w for w in r.get("warnings", ())):
            found.append(Finding("traceback", m, f"{mode}: {r['warnings']}", [r]))
    a, b = results.get("interpreted"), results.get("compiled")
    if (a and b and (a["status"] != b["status"] or a.get("counts") != b.get("counts"))
            and a["status"] in ("ok", "error") and b["status"] in ("ok", "error")):
        found.append(Finding("kernels", m, f"interpreted {a.get('counts') or a.get('error')}"
                             f" vs compiled {b.get('counts') or b.get('error')}", [a, b]))
    if (a and b and a["status"] == b["status"] == "ok" and a["counts"] == b["counts"]
            and a["names"] != b["names"]):
        found.append(Finding("names", m, "interpreted and compiled name different messages",
                             [a, b]))
    t = results.get("tshark")
    if (a and t and a["status"] == t["status"] == "ok" and names_differ(a, t)
            and not any(name in DEFINITIONAL for name in m.mutations.split("+"))):
        found.append(Finding("names", m, "native and tshark name different messages", [a, t]))
    if (a and t and a["status"] == "ok" and t["status"] == "ok" and a["counts"] != t["counts"]
            and explained(a["counts"], t["counts"], m.mutations) is None):
        diff = {k: (a["counts"][k], t["counts"][k]) for k in COUNTS
                if a["counts"][k] != t["counts"][k]}
        found.append(Finding("engines", m, f"native vs tshark {diff}", [a, t],
                             f"|{','.join(diff)}|{m.mutations}"))
    return found


@dataclass
class Campaign:
    """Counts of a fuzz run, for the test's assertions and the report."""

    mutants: int = 0
    runs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MODES, 0))
    status: dict[str, dict[str, int]] = field(default_factory=dict)
    slowest: dict[str, float] = field(default_factory=lambda: dict.fromkeys(MODES, 0.0))
    both_read: int = 0
    strictly_compared: int = 0  # both read, no mutation with a DEFINITIONAL reason
    findings: list[Finding] = field(default_factory=list)


def fuzz(count: int, *, campaign: int = 0, tshark_every: int = 8, workers: int = 2,
         start: int = 0, on_mutant: Callable[[Mutant, list[Finding]], None] | None = None,
         directory: Path | None = None) -> Campaign:
    """Run ``count`` mutants through the engines on ``workers`` worker processes (tshark on
    every ``tshark_every``-th and on every mutant of DNS content only; 0: never)."""
    from concurrent.futures import ThreadPoolExecutor

    seed_inputs = seeds()
    out = Campaign()
    pool = [Worker() for _ in range(workers)]
    tmp = tempfile.TemporaryDirectory(dir=directory)
    free = list(range(workers))
    try:
        # warm each worker (imports, compiled kernels from the cache) outside the time limit
        # (every seed once: each kernel compiled or loaded from numba's cache)
        for k, (_, data) in enumerate(seed_inputs):
            warm = Path(tmp.name) / f"warm{k}.pcap"
            warm.write_bytes(data)
            for w in pool:
                w.run(str(warm), "compiled", limit=600)

        def one(m: Mutant) -> tuple[Mutant, dict[str, dict[str, Any]]]:
            slot = free.pop()
            try:
                path = Path(tmp.name) / f"m{m.index}.pcap"
                path.write_bytes(m.data)
                # tshark on every n-th mutant, and on every mutant of DNS content only (the
                # ones compared strictly)
                strict = not any(name in DEFINITIONAL for name in m.mutations.split("+"))
                modes = MODES if tshark_every and (m.index % tshark_every == 0 or strict) \
                    else MODES[:2]
                results = {mode: pool[slot].run(str(path), mode) for mode in modes}
                path.unlink()
                return m, results
            finally:
                free.append(slot)

        with ThreadPoolExecutor(max_workers=workers) as ex:
            for m, results in ex.map(one, mutants(seed_inputs, count, campaign=campaign,
                                                  start=start)):
                out.mutants += 1
                for mode, r in results.items():
                    out.runs[mode] += 1
                    out.status.setdefault(mode, {}).setdefault(r["status"], 0)
                    out.status[mode][r["status"]] += 1
                    out.slowest[mode] = max(out.slowest[mode], r.get("seconds", 0.0))
                a, t = results.get("interpreted"), results.get("tshark")
                if a and t and a["status"] == t["status"] == "ok":
                    out.both_read += 1
                    out.strictly_compared += not any(
                        name in DEFINITIONAL for name in m.mutations.split("+"))
                found = judge(m, results)
                out.findings += found
                if on_mutant is not None:
                    on_mutant(m, found)
    finally:
        for w in pool:
            w.stop()
        tmp.cleanup()
    return out


# -- shrinking ---------------------------------------------------------------------------------

def ddmin(items: list[Any], fails: Callable[[list[Any]], bool], *, budget: int = 300
          ) -> list[Any]:
    """Zeller's delta debugging: a 1-minimal sublist of ``items`` that still ``fails``
    (within ``budget`` tries)."""
    n = 2
    tries = 0
    while len(items) >= 2 and tries < budget:
        chunk = max(1, len(items) // n)
        parts = [items[i:i + chunk] for i in range(0, len(items), chunk)]
        reduced = False
        for k in range(len(parts)):
            rest = [x for j, p in enumerate(parts) if j != k for x in p]
            tries += 1
            if rest and fails(rest):
                items, n, reduced = rest, max(n - 1, 2), True
                break
            if tries >= budget:
                break
        if not reduced:
            if n >= len(items):
                break
            n = min(len(items), n * 2)
    return items


def shrink(finding: Finding, still: Callable[[bytes], bool]) -> bytes:
    """The smallest input found that keeps the finding: whole records dropped first, then
    (for a crash or a hang) bytes cut from each record's end; a file that does not parse:
    byte chunks dropped."""
    data = finding.mutant.data
    cap = read_capture(data)
    if cap is None:
        return bytes(ddmin(list(data), lambda xs: still(bytes(xs)), budget=200))
    records = ddmin(list(cap.records), lambda rs: still(write_capture(
        Capture(rs, cap.big, cap.pcapng))[0]))
    cap = Capture(records, cap.big, cap.pcapng)
    if finding.verdict in ("engines", "kernels"):
        return write_capture(cap)[0]  # cutting frames would add a disagreement of its own
    for i in range(len(records)):
        r = cap.records[i]
        lo, hi = 0, len(r.data)
        while lo < hi:  # the shortest prefix of this record that still fails
            mid = (lo + hi) // 2
            trial = list(cap.records)
            trial[i] = type(r)(r.ns, r.linktype, r.data[:mid], r.wire)
            if still(write_capture(Capture(trial, cap.big, cap.pcapng))[0]):
                hi = mid
            else:
                lo = mid + 1
        trial = list(cap.records)
        trial[i] = type(r)(r.ns, r.linktype, r.data[:hi], r.wire)
        cap = Capture(trial, cap.big, cap.pcapng)
    return write_capture(cap)[0]


def reproduce(finding: Finding, data: bytes, worker: Worker, tmp: Path) -> bool:
    """Whether ``data`` gives the same finding (same verdict, same place)."""
    path = tmp / "shrink.pcap"
    path.write_bytes(data)
    modes = sorted({r["mode"] for r in finding.results})
    if finding.verdict in ("kernels", "engines"):
        modes = ["interpreted", "compiled"] if finding.verdict == "kernels" else [
            "interpreted", "tshark"]
    results = {mode: worker.run(str(path), mode) for mode in modes}
    m = Mutant(finding.mutant.index, finding.mutant.seed, finding.mutant.mutations, data)
    return any(f.signature == finding.signature for f in judge(m, results))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz.captures",
                                 description="Fuzz the capture engines (see module docs).")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--campaign", type=int, default=1, help="generator seed of this run")
    ap.add_argument("--start", type=int, default=0, help="index of the first mutant")
    ap.add_argument("--tshark-every", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("build/fuzz"))
    args = ap.parse_args(argv)
    if args.worker:
        worker()
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    seen: dict[str, int] = {}
    began = time.monotonic()
    done = [0]

    def progress(m: Mutant, found: list[Finding]) -> None:
        done[0] += 1
        for f in found:
            seen[f.signature] = seen.get(f.signature, 0) + 1
            if seen[f.signature] == 1:
                print(f"[{m.index}] {f.verdict}: {f.detail[:200]} ({m.seed}: {m.mutations})",
                      flush=True)
        if done[0] % 500 == 0:
            print(f"{done[0]} mutants, {time.monotonic() - began:.0f} s, "
                  f"{len(seen)} distinct findings", flush=True)

    result = fuzz(args.count, campaign=args.campaign, tshark_every=args.tshark_every,
                  workers=args.workers, start=args.start, on_mutant=progress)
    print(json.dumps({"mutants": result.mutants, "runs": result.runs, "status": result.status,
                      "slowest_s": result.slowest, "both_read": result.both_read,
                      "strictly_compared": result.strictly_compared,
                      "seconds": round(time.monotonic() - began, 1)}, indent=1))
    # one reproducer per distinct finding, shrunk
    firsts: dict[str, Finding] = {}
    for f in result.findings:
        firsts.setdefault(f.signature, f)
    w = Worker()
    with tempfile.TemporaryDirectory() as tmp:
        for n, f in enumerate(firsts.values()):
            small = shrink(f, lambda d, f=f: reproduce(f, d, w, Path(tmp)))
            name = f"{f.verdict}-{n:03d}-{hashlib.sha1(small).hexdigest()[:8]}"
            (args.out / f"{name}.pcap").write_bytes(small)
            (args.out / f"{name}.json").write_text(json.dumps({
                "verdict": f.verdict, "detail": f.detail, "seed": f.mutant.seed,
                "mutations": f.mutant.mutations, "campaign": args.campaign,
                "index": f.mutant.index, "bytes": len(small), "original_bytes": len(
                    f.mutant.data), "occurrences": seen[f.signature],
                "results": f.results}, indent=1, default=str))
            print(f"{name}: {len(f.mutant.data)} -> {len(small)} bytes  {f.detail[:120]}")
    w.stop()
    print(f"{len(firsts)} distinct findings written to {args.out}")
    return 1 if firsts else 0


if __name__ == "__main__":
    sys.exit(main())
