"""Where enumlab's shipped data lives: the lab zones, sample captures, sample CSVs, Kamailio
configurations and the notebooks (no imports beyond the standard library: anything may use it).

An installed enumlab (wheel, or a wheel built from the sdist) carries them inside the package as
``enumlab/_data`` and ``enumlab/_notebooks``: pyproject.toml maps the repository's top-level
``data/`` and ``notebooks/`` folders there when the package is built, and they are found here
through :mod:`importlib.resources`, never by a path relative to the caller's directory. A source
checkout used without a build step (``PYTHONPATH=.``, or the editable install of ``make setup``)
has no ``_data`` inside the package, and the checkout's own ``data/`` and ``notebooks/`` beside
the package are used instead: the same files, in the place a developer edits them.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _shipped(packaged: str, checkout: str) -> Path:
    """The package's ``packaged`` folder if the build put it there, else the checkout's one."""
    package = Path(str(files("enumlab")))  # a folder: pip installs wheels unzipped
    inside = package / packaged
    return inside if inside.is_dir() else package.parent / checkout


DATA_DIR = _shipped("_data", "data")
NOTEBOOK_DIR = _shipped("_notebooks", "notebooks")
DEFAULT_ZONE_DIR = DATA_DIR / "zones"  # the lab zones every command serves by default
CAPTURE_DIR = DATA_DIR / "captures"  # the sample captures (labels.json says what each holds)
FLEET_DIR = DATA_DIR / "fleet"  # a live Kamailio fleet capture
SAMPLE_DIR = DATA_DIR / "samples"  # sample call CSVs
KAMAILIO_DIR = DATA_DIR / "kamailio"  # Kamailio configurations of the peer checks
