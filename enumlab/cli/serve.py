"""``enumlab serve``: the embedded authoritative DNS server (or BIND) on zone files."""

from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path
from typing import Any

from .common import EXIT_OK, default_zone_dir, int_in, ip_literal, positive_seconds


def run(args: argparse.Namespace) -> int:
    """Serve until the duration ends (exit 0) or a signal stops it: SIGTERM, SIGHUP or SIGINT
    at any moment -- start-up included -- stops every child started (named, UDP workers),
    removes named's directory, and exits 128 + the signal's number, as a shell reports it."""
    from ..lab.server import EmbeddedServer

    stop_signals = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    previous = {sig: signal.getsignal(sig) for sig in stop_signals}
    stopping: list[int] = []

    def stop(signum: int, frame: object) -> None:
        if not stopping:  # the first signal stops; later ones wait for that stop to end
            stopping.append(signum)
            raise _StopServing(signum)

    for sig in stop_signals:  # stop cleanly (named stopped, its directory removed) on these too
        signal.signal(sig, stop)
    zones = args.zone_dir or default_zone_dir()
    server: Any = None
    try:
        if args.engine == "bind":
            from ..lab.bind import BindServer

            server = BindServer(zones, host=args.host, port=args.port,
                                max_udp_size=args.max_udp)
        else:
            server = EmbeddedServer(zones, host=args.host, port=args.port,
                                    max_udp_size=args.max_udp, workers=args.workers)
        with server:
            print(f"enumlab: {args.engine} serving {', '.join(server.zone_names())} from "
                  f"{zones} on {server.address} (UDP+TCP, authoritative only, no recursion). "
                  "Ctrl-C stops.", flush=True)
            if args.engine == "bind":
                print(f"  named pid {server.pid}, working directory {server.workdir}",
                      flush=True)
                for origin, why in server.rejected.items():
                    print(f"  named-checkzone refused {origin}: {why.splitlines()[0]}",
                          flush=True)
            elif server.worker_pids:
                print(f"  UDP answered by {server.workers} processes: pid {os.getpid()} and "
                      f"workers {', '.join(map(str, server.worker_pids))}", flush=True)
            print(f"  try: dig @{server.host} -p {server.port} NAPTR "
                  "3.1.9.0.0.5.5.5.3.1.6.e164.arpa.", flush=True)
            deadline = time.monotonic() + args.duration if args.duration else None
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
    except _StopServing as stopped:
        print(f"enumlab: stopped by {signal.Signals(stopped.signum).name}", flush=True)
        return 128 + stopped.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


class _StopServing(BaseException):
    """Raised by the SIGTERM/SIGHUP handler of ``enumlab serve`` to leave its with-block."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def add_parser(sub: Any) -> None:
    """``enumlab serve``: its arguments."""
    p = sub.add_parser(
        "serve", help="run the embedded authoritative DNS server on zone files",
        description="Serve every *.zone / *.db file of a directory over UDP and TCP. "
                    "Authoritative only: it never recurses and REFUSEs names outside its zones.",
    )
    p.add_argument("zone_dir", nargs="?", type=Path,
                   help="zone directory (default: the lab zones shipped with enumlab)")
    p.add_argument("--port", type=int_in(0, 65535, "port"), default=5353,
                   help="port (default 5353; 0 = any free)")
    p.add_argument("--host", type=ip_literal, default="127.0.0.1",
                   help="IP address to bind (default 127.0.0.1: loopback only)")
    p.add_argument("--max-udp", type=int_in(512, 65535, "UDP size"), default=4096,
                   help="largest UDP answer even when a client offers more (default 4096)")
    p.add_argument("--duration", type=positive_seconds, help="stop after this many seconds")
    p.add_argument("--workers", type=int_in(1, 64, "workers"), default=min(2, os.cpu_count() or 1),
                   help="embedded engine: processes answering UDP on the port (SO_REUSEPORT), "
                        "like BIND's one thread per core (default: min(2, cores))")
    p.add_argument("--engine", choices=["embedded", "bind"], default="embedded",
                   help="embedded (default, zero set-up) or bind (named from bind9)")
    p.set_defaults(func=run)
