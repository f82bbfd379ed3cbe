"""BIND (``named``) as a lab engine: the same zone files, served by the real thing.

:class:`BindServer` writes a ``named.conf`` for every zone file in a directory that
``named-checkzone`` accepts (the others are reported in ``rejected``, with BIND's own words),
starts ``named -g`` in the foreground on loopback with recursion off, waits until it answers,
and stops it cleanly. It is a context manager, like :class:`~enumlab.lab.server.EmbeddedServer`.

A signal whose handler raises (``enumlab serve`` stops on SIGTERM/SIGHUP that way) can come at
any moment of :meth:`BindServer.start`: named is started with the stop signals held back until
its ``Popen`` is recorded, and any exception after that -- the handler's included -- stops it
before it propagates, so named is never left running without a parent that will stop it.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query

from ..core.errors import InputError, LabServerError, ToolMissingError
from ..resolve.resolver import check_ip_literal
from ..zones.authority import zone_files
from .server import LOOPBACK, STOP_SIGNALS, held_back

_START_TIMEOUT = 15.0
# BIND's rrset-order (ARM "rrset-order"): the order of the records of one RRset in answers
RRSET_ORDERS = ("random", "cyclic", "fixed", "none")


def find_program(name: str, package: str) -> str:
    """Absolute path of ``name`` (also in /usr/sbin); ToolMissingError naming the package."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")
    if path is None:
        raise ToolMissingError(
            f"{name} is not installed: install the Debian package {package} "
            "(make setup does it as root)", subject=name)
    return path


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class BindServer:
    """``named`` serving a zone directory on loopback; authoritative only."""

    def __init__(self, zones: str | Path, *, host: str = LOOPBACK, port: int = 0,
                 max_udp_size: int = 4096, rrset_order: str | None = None) -> None:
        if rrset_order not in (None, *RRSET_ORDERS):
            raise InputError(f"rrset-order must be one of {', '.join(RRSET_ORDERS)}, not "
                             f"{rrset_order!r}", subject=rrset_order)
        self.rrset_order = rrset_order
        self.zone_dir = Path(zones)
        self.host = check_ip_literal(host)
        self.port = port or _free_port(self.host)
        self.max_udp_size = max_udp_size
        self.named = find_program("named", "bind9")
        self.checkzone = find_program("named-checkzone", "bind9-utils")
        self.accepted: list[tuple[str, Path]] = []
        self.rejected: dict[str, str] = {}
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[str] | None = None
        self.log = ""  # named's own log (stderr), kept when it stops

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The running named's process id (None when stopped)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def workdir(self) -> str | None:
        """named's temporary directory (named.conf, pid file); removed by stop()."""
        return self._workdir.name if self._workdir is not None else None

    def _check_zones(self) -> None:
        for path in zone_files(self.zone_dir):
            origin = _origin_of(path)
            out = subprocess.run([self.checkzone, "-q", origin, str(path)],
                                 capture_output=True, text=True)
            if out.returncode == 0:
                self.accepted.append((origin, path.resolve()))
            else:
                detail = subprocess.run([self.checkzone, origin, str(path)],
                                        capture_output=True, text=True)
                self.rejected[origin] = (detail.stdout + detail.stderr).strip()

    def _listen(self) -> str:
        """127.0.0.1 also listens on ::1 (and ::1 on 127.0.0.1) when the host has IPv6."""
        if self.host in (LOOPBACK, "::1"):
            v6 = "{ ::1; }" if _has_ipv6_loopback() else "{ none; }"
            return (f"listen-on port {self.port} {{ 127.0.0.1; }};\n"
                    f"    listen-on-v6 port {self.port} {v6};")
        if ":" in self.host:
            return f"listen-on {{ none; }};\n    listen-on-v6 port {self.port} {{ {self.host}; }};"
        return f"listen-on port {self.port} {{ {self.host}; }};\n    listen-on-v6 {{ none; }};"

    def _check_port_free(self) -> None:
        for family, kind in ((socket.AF_INET6 if ":" in self.host else socket.AF_INET,
                              socket.SOCK_DGRAM),
                             (socket.AF_INET6 if ":" in self.host else socket.AF_INET,
                              socket.SOCK_STREAM)):
            with socket.socket(family, kind) as probe:
                try:
                    probe.bind((self.host, self.port))
                except OSError as exc:
                    raise LabServerError(f"cannot start named: {self.host} port {self.port} is "
                                         f"taken ({exc.strerror})", subject=self.address) from exc

    def _config(self, workdir: Path) -> Path:
        zones = "\n".join(
            f'zone "{origin}" {{ type primary; file "{path}"; }};' for origin, path in self.accepted
        )
        conf = workdir / "named.conf"
        conf.write_text(f"""
options {{
    directory "{workdir}";
    pid-file "{workdir}/named.pid";
    {self._listen()}
    recursion no;
    allow-transfer {{ none; }};
    max-udp-size {self.max_udp_size};
    edns-udp-size {self.max_udp_size};
    minimal-responses yes;
    dnssec-validation no;
    {f"rrset-order {{ order {self.rrset_order}; }};" if self.rrset_order else ""}
}};
{zones}
""")
        return conf

    def zone_names(self) -> list[str]:
        return [origin for origin, _ in self.accepted]

    def start(self) -> BindServer:
        self._check_port_free()
        self._check_zones()
        if not self.accepted:
            raise LabServerError(f"named-checkzone refused every zone in {self.zone_dir}: "
                                 f"{self.rejected}", subject=str(self.zone_dir))
        try:
            return self._start()
        except BaseException:
            with held_back(STOP_SIGNALS):
                self.stop()
            raise

    def _start(self) -> BindServer:
        with held_back(STOP_SIGNALS):  # the directory and named recorded before any handler
            self._workdir = tempfile.TemporaryDirectory(prefix="enumlab-bind-")
            conf = self._config(Path(self._workdir.name))
            self._proc = subprocess.Popen([self.named, "-g", "-c", str(conf)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          text=True)
        deadline = time.monotonic() + _START_TIMEOUT
        probe = dns.message.make_query(self.accepted[0][0], "SOA")
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read() if self._proc.stderr else ""
                raise LabServerError(f"named exited at start:\n{_last_lines(err)}",
                                     subject=self.address)
            try:
                dns.query.udp(probe, self.host, port=self.port, timeout=0.3)
                return self
            except (OSError, dns.exception.Timeout):
                time.sleep(0.1)
        raise LabServerError(f"named did not answer on {self.address} within "
                             f"{_START_TIMEOUT:g}s", subject=self.address)

    def stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGTERM)
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            if self._proc.stderr:
                self.log = self._proc.stderr.read()
                self._proc.stderr.close()
            self._proc = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> BindServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        with held_back(STOP_SIGNALS):  # a second signal does not cut the stop short
            self.stop()



def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _origin_of(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.upper().startswith("$ORIGIN"):
            return line.split()[1]
    name = path.name
    for suffix in (".zone", ".db"):
        name = name.removesuffix(suffix)
    return name + "."


def _last_lines(text: str, n: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-n:])

