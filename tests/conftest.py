"""Shared fixtures: a real embedded DNS server on loopback, and resolvers that talk to it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from enumlab import EmbeddedServer, Resolver

ROOT = Path(__file__).resolve().parent.parent
ZONES = ROOT / "data" / "zones"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_tool(program: str, package: str) -> str:
    """Path of ``program``; in CI a missing tool fails the test, elsewhere it skips."""
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if path:
        return path
    message = f"{program} is not installed (Debian package {package}; `make setup` installs it)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def lab_server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(ZONES) as server:
        yield server


@pytest.fixture
def resolver(lab_server: EmbeddedServer) -> Resolver:
    return Resolver(lab_server.host, lab_server.port)


@pytest.fixture
def zone_dir(tmp_path: Path) -> Path:
    """An empty directory for a test's own zone files."""
    d = tmp_path / "zones"
    d.mkdir()
    return d


def write_zone(directory: Path, origin: str, body: str) -> Path:
    """Write a minimal valid zone (SOA, NS) for ``origin`` plus ``body``."""
    origin = origin.rstrip(".") + "."
    path = directory / f"{origin.rstrip('.')}.zone"
    path.write_text(
        f"$ORIGIN {origin}\n$TTL 300\n"
        f"@ IN SOA ns1.{origin} hostmaster.{origin} 1 3600 600 86400 300\n"
        f"@ IN NS ns1.{origin}\nns1 IN A 127.0.0.1\n{body}\n"
    )
    return path


def network_interfaces() -> list[str]:
    """Interfaces of this process's network namespace (/proc/net/dev is per namespace)."""
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":")[0].strip() for line in lines)


def ipv4_routes() -> list[str]:
    """The main IPv4 routing table of this namespace (no default route = no way out)."""
    return Path("/proc/net/route").read_text().splitlines()[1:]
