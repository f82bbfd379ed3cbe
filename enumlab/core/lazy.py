"""Package attributes imported on first use (PEP 562), so that a command pays only for what it
touches: ``enumlab pcap`` never imports dnspython, the zone machinery or pyshark."""

from __future__ import annotations

import importlib
from typing import Any


def attribute(package: str, table: dict[str, str], name: str, namespace: dict[str, Any]) -> Any:
    """``name`` from the submodule ``table`` maps it to, imported now and kept in
    ``namespace`` (the package's globals) so the next access is a plain lookup."""
    module = table.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", package), name)
    namespace[name] = value
    return value
