"""A three-host lab network in Linux network namespaces: client -- router -- server.

Used to make real captures (truncation, TCP fallback, fragmentation over a small MTU, lost
fragments, ICMPv6 Packet Too Big) and by tests. Every address lives inside namespaces this
module creates (198.18.0.0/15 benchmarking space and fd53::/16 ULAs), so no traffic ever leaves
the machine; :meth:`NetLab.close` removes everything. Needs root and iproute2.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import LabServerError
from .bind import find_program


@dataclass(frozen=True)
class Host:
    ns: str
    ifname: str
    ipv4: str
    ipv6: str


class NetLab:
    """client (198.18.1.2) -- router -- server (198.18.2.2), IPv4 and IPv6, MTUs per link."""

    def __init__(self, tag: str = "", *, client_mtu: int = 1500, server_mtu: int = 1500) -> None:
        if os.geteuid() != 0:
            raise LabServerError("network namespaces need root", subject="root")
        self.ip = find_program("ip", "iproute2")
        suffix = f"{tag}{os.getpid() % 100000}"
        self.client = Host(f"el-cli{suffix}", "eth0", "198.18.1.2", "fd53:1::2")
        self.router = Host(f"el-rtr{suffix}", "eth0", "198.18.1.1", "fd53:1::1")
        self.server = Host(f"el-srv{suffix}", "eth0", "198.18.2.2", "fd53:2::2")
        self.client_mtu = client_mtu
        self.server_mtu = server_mtu
        self._procs: list[subprocess.Popen[Any]] = []

    def run(self, host: Host, *cmd: str, check: bool = True, **kw: Any
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.ip, "netns", "exec", host.ns, *cmd], check=check,
                              capture_output=True, text=True, **kw)

    def spawn(self, host: Host, *cmd: str, **kw: Any) -> subprocess.Popen[Any]:
        proc = subprocess.Popen([self.ip, "netns", "exec", host.ns, *cmd], **kw)
        self._procs.append(proc)
        return proc

    def _ip(self, *args: str) -> None:
        subprocess.run([self.ip, *args], check=True, capture_output=True, text=True)

    def open(self) -> NetLab:
        for host in (self.client, self.router, self.server):
            self._ip("netns", "add", host.ns)
            self._ip("-n", host.ns, "link", "set", "lo", "up")
        # veth pairs: client eth0 <-> router c0, server eth0 <-> router s0
        for host, peer, mtu in ((self.client, "c0", self.client_mtu),
                                (self.server, "s0", self.server_mtu)):
            self._ip("link", "add", f"v{host.ns[-10:]}", "type", "veth", "peer", "name",
                     f"p{host.ns[-10:]}")
            self._ip("link", "set", f"v{host.ns[-10:]}", "netns", host.ns)
            self._ip("link", "set", f"p{host.ns[-10:]}", "netns", self.router.ns)
            self._ip("-n", host.ns, "link", "set", f"v{host.ns[-10:]}", "name", "eth0")
            self._ip("-n", self.router.ns, "link", "set", f"p{host.ns[-10:]}", "name", peer)
            for ns, dev in ((host.ns, "eth0"), (self.router.ns, peer)):
                self._ip("-n", ns, "link", "set", dev, "mtu", str(mtu), "up")
        self._ip("-n", self.client.ns, "addr", "add", "198.18.1.2/24", "dev", "eth0")
        self._ip("-n", self.client.ns, "addr", "add", "fd53:1::2/64", "dev", "eth0", "nodad")
        self._ip("-n", self.server.ns, "addr", "add", "198.18.2.2/24", "dev", "eth0")
        self._ip("-n", self.server.ns, "addr", "add", "fd53:2::2/64", "dev", "eth0", "nodad")
        self._ip("-n", self.router.ns, "addr", "add", "198.18.1.1/24", "dev", "c0")
        self._ip("-n", self.router.ns, "addr", "add", "198.18.2.1/24", "dev", "s0")
        self._ip("-n", self.router.ns, "addr", "add", "fd53:1::1/64", "dev", "c0", "nodad")
        self._ip("-n", self.router.ns, "addr", "add", "fd53:2::1/64", "dev", "s0", "nodad")
        self._ip("-n", self.client.ns, "route", "add", "default", "via", "198.18.1.1")
        self._ip("-n", self.server.ns, "route", "add", "default", "via", "198.18.2.1")
        self._ip("-n", self.client.ns, "-6", "route", "add", "default", "via", "fd53:1::1")
        self._ip("-n", self.server.ns, "-6", "route", "add", "default", "via", "fd53:2::1")
        self.run(self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.run(self.router, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        for host in (self.client, self.server):
            # a server must not remember a learned PMTU between scenarios
            self.run(host, "sysctl", "-qw", "net.ipv4.ip_no_pmtu_disc=0")
        time.sleep(0.2)
        return self

    def drop_non_first_fragments(self) -> None:
        """The router drops every non-first IPv4 fragment (``iptables -f``): lost fragments."""
        iptables = find_program("iptables", "iptables")
        self.run(self.router, iptables, "-A", "FORWARD", "-f", "-j", "DROP")

    def capture(self, host: Host, path: Path, *, capture_filter: str | None = None,
                interface: str = "eth0") -> subprocess.Popen[Any]:
        """Start dumpcap on ``host``'s interface; stop it with :meth:`stop_capture`."""
        dumpcap = find_program("dumpcap", "wireshark-common")
        cmd = [dumpcap, "-q", "-i", interface, "-w", str(path)]
        if capture_filter:
            cmd += ["-f", capture_filter]
        proc = self.spawn(host, *cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not path.exists():
            time.sleep(0.05)
        time.sleep(0.5)  # dumpcap opens the file before the interface is live
        return proc

    @staticmethod
    def stop_capture(proc: subprocess.Popen[Any]) -> None:
        time.sleep(0.5)
        proc.send_signal(2)
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        for host in (self.client, self.router, self.server):
            subprocess.run([self.ip, "netns", "del", host.ns], capture_output=True)
            shutil.rmtree(Path("/etc/netns") / host.ns, ignore_errors=True)

    def __enter__(self) -> NetLab:
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()


def run_in_resolver_namespace(module_args: list[str], *, tag: str, what: str,
                              timeout: float = 600) -> str:
    """Run ``python -m <module_args>`` in a network namespace of its own (loopback only) whose
    ``/etc/resolv.conf`` (``/etc/netns/<ns>/resolv.conf``) names 127.0.0.1 -- where the code
    inside starts a lab BIND -- and return its stdout; remove the namespace afterwards.

    Peers that read resolv.conf (Kamailio, sip-dig, glibc) are checked this way: they see the
    lab's DNS and nothing else. Needs root and iproute2; ``what`` names the check in errors."""
    import sys

    ip = find_program("ip", "iproute2")
    if os.geteuid() != 0:
        raise LabServerError(f"{what} creates a network namespace: run it as root",
                             subject="root")
    ns = f"enumlab-{tag}{os.getpid()}"
    etc = Path("/etc/netns") / ns
    subprocess.run([ip, "netns", "add", ns], check=True)
    try:
        subprocess.run([ip, "-n", ns, "link", "set", "lo", "up"], check=True)
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        out = subprocess.run([ip, "netns", "exec", ns, sys.executable, "-m", *module_args],
                             capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise LabServerError(f"{what} failed in the namespace:\n{out.stderr[-3000:]}",
                                 subject=ns)
        return out.stdout
    finally:
        subprocess.run([ip, "netns", "del", ns], check=False)
        shutil.rmtree(etc, ignore_errors=True)
