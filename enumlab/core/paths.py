"""Where the repository's data lives (no imports beyond pathlib: anything may use it)."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
DEFAULT_ZONE_DIR = DATA_DIR / "zones"  # the lab zones every command serves by default
