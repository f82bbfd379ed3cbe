"""Selection policies: the order in which a client tries NAPTR records.

A policy takes records that are all eligible and returns them in processing order, using only
the ``numpy.random.Generator`` it is given for any randomness.

* ``rfc3403`` -- RFC 3403 section 4.1: ORDER then PREFERENCE, lower first. PREFERENCE is a
  rank, not a weight; records with the same (order, preference) are an exact tie and are
  shuffled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import groupby

import numpy as np

from .records import NaptrRecord

NaptrPolicy = Callable[[Sequence[NaptrRecord], np.random.Generator], list[NaptrRecord]]


def rfc3403_order(records: Sequence[NaptrRecord], rng: np.random.Generator) -> list[NaptrRecord]:
    """Sort by (order, preference); shuffle exact ties with ``rng`` (RFC 3403 section 4.1)."""
    out: list[NaptrRecord] = []
    # Sorting ties by their text first makes a seeded result independent of the RRset order
    # the server happened to send (DNS gives none).
    ordered = sorted(records, key=lambda r: (r.key, r.to_text()))
    for _, tied in groupby(ordered, key=lambda r: r.key):
        group = list(tied)
        if len(group) > 1:
            group = [group[i] for i in rng.permutation(len(group))]
        out.extend(group)
    return out


NAPTR_POLICIES: dict[str, NaptrPolicy] = {"rfc3403": rfc3403_order}
