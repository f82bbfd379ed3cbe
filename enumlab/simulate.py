"""Repeated resolutions: which candidate a client tries first, counted over many lookups.

``live_first_choices`` performs real resolutions (through any lookup: the resolver against the
embedded server, or BIND) and counts the first candidate of each, so the whole path -- DNS,
NAPTR ordering, tie shuffling -- is exercised.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from .ddds import resolve_enum
from .lookup import Lookup


def live_first_choices(
    number: str, lookup: Lookup, n: int, rng: np.random.Generator, **resolve_options: Any
) -> Counter[str]:
    """Resolve ``number`` ``n`` times and count the URI each resolution puts first."""
    if n <= 0:
        raise ValueError(f"n must be positive, not {n}")
    counts: Counter[str] = Counter()
    for _ in range(n):
        result = resolve_enum(number, lookup, rng=rng, **resolve_options)
        counts[result.uris[0] if result.uris else "(none)"] += 1
    return counts
