"""Selection policies: in which order a client tries the records of one NAPTR or SRV set.

Every policy is named, says where it comes from, and is written twice on purpose:

* :meth:`SelectionPolicy.first_choice` -- the *exact* probability that each target carries a
  request (the first target in processing order that is up), from the policy's formula;
* :meth:`SelectionPolicy.processing_order` / :mod:`enumlab.split.simulate` -- the *procedure*
  a client runs (shuffles, running sums), driven by a ``numpy.random.Generator`` passed in.

Tests check the one against the other. The policies disagree on the same records, and that
disagreement is the lesson: the seed blog's 100/100/200 is 25/25/50 when PREFERENCE is a weight
(``weighted``), about 33.4/33.4/33.2 under TS 29.303 (``3gpp``), and 50/50/0 under RFC 3403
(``rfc3403``), where PREFERENCE is a rank.

=============  ===============================================================================
``rfc3403``    RFC 3403 s4.1: lowest ORDER only ("MUST NOT consider records with a different
               Order"); within it PREFERENCE ascending, exact ties shuffled. Failover walks to
               the next PREFERENCE, never to another ORDER.
``all-orders`` The same sort, but a client that walks on into later ORDERs when every target of
               an ORDER is down (the seed's "order for failover"; Kamailio forks them all).
``weighted``   The seed blog: records of the lowest ORDER share traffic in proportion to their
               PREFERENCE (100/100/200 -> 25/25/50); later ORDERs are failover.
``3gpp``       3GPP TS 29.303 annex C.1 for S-NAPTR: ORDER strictly, then a weighted draw with
               weight = 65535 - PREFERENCE (100/100/200 -> 33.4/33.4/33.2).
``srv``        RFC 2782: lowest PRIORITY first; within it weight-0 records first, r drawn
               uniformly from the integers 0..sum (inclusive), first running sum >= r wins.
``dnspython``  dnspython's ``_processing_order``: NAPTR sorted by (order, preference) with ties
               shuffled; SRV weighted with weight 0 counted as 0.1 and r continuous.
``first``      A proxy that always takes the first record in (ORDER, PREFERENCE) order; a tie
               goes to whichever record the answer listed first (Open5GS-style).
``kamailio``   Kamailio's enum module: the same stable sort (ties by answer order), every
               usable record of every ORDER forked as a branch (see :mod:`enumlab.split.peers`).
=============  ===============================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Literal

import numpy as np

from .errors import InputError
from .records import NaptrRecord, SrvRecord

Kind = Literal["naptr", "srv", "a"]  # "a": a pool of A/AAAA addresses, no ranks


@dataclass(frozen=True)
class Entry:
    """One selectable target: ``group`` is ORDER (NAPTR) or PRIORITY (SRV); ``value`` is
    PREFERENCE (NAPTR) or WEIGHT (SRV)."""

    target: str
    group: int
    value: int


@dataclass(frozen=True)
class RecordSet:
    """The entries of one NAPTR or SRV set (or an A/AAAA pool: ``kind="a"``, every entry
    ``group`` 0 and ``value`` 0, a plain DNS round-robin), in the order the answer listed
    them."""

    entries: tuple[Entry, ...]
    kind: Kind = "naptr"

    def __post_init__(self) -> None:
        if not self.entries:
            raise InputError("a record set needs at least one record", subject=self.entries)
        targets = [e.target for e in self.entries]
        if len(set(targets)) != len(targets):
            raise InputError("targets in one record set must be distinct", subject=targets)

    @property
    def targets(self) -> list[str]:
        return [e.target for e in self.entries]

    @classmethod
    def from_records(cls, records: Sequence[NaptrRecord | SrvRecord | Entry],
                     targets: Sequence[str] | None = None) -> RecordSet:
        """Build from NAPTR records (target = replacement, or ``targets``), SRV records
        (target = ``host:port``) or entries."""
        entries: list[Entry] = []
        kinds = set()
        for i, rec in enumerate(records):
            if isinstance(rec, Entry):
                entries.append(rec)
                kinds.add("naptr")
            elif isinstance(rec, SrvRecord):
                name = targets[i] if targets else f"{rec.target}:{rec.port}"
                entries.append(Entry(name, rec.priority, rec.weight))
                kinds.add("srv")
            else:
                name = targets[i] if targets else rec.replacement
                entries.append(Entry(name, rec.order, rec.preference))
                kinds.add("naptr")
        if len(kinds) > 1:
            raise InputError("a record set mixes NAPTR and SRV records", subject=records)
        return cls(tuple(entries), "srv" if kinds == {"srv"} else "naptr")


TierKey = Callable[[Entry], tuple[int, ...]]


@dataclass(frozen=True)
class SelectionPolicy:
    """A named selection rule. ``draw`` says how one tier is drawn:

    ``uniform`` (exact ties), ``weights`` (successive weighted sampling with ``weight_of``),
    ``srv-inclusive`` (RFC 2782 integer running sum) or ``first-listed``.
    """

    name: str
    source: str
    tier_key: TierKey
    draw: Literal["uniform", "weights", "srv-inclusive", "first-listed"]
    cross_group_failover: bool
    weight_of: Callable[[Entry], float] = lambda e: 1.0

    # -- structure ------------------------------------------------------------------------

    def tiers(self, rs: RecordSet) -> list[list[int]]:
        """Indices of the entries, grouped into tiers in the order they are tried."""
        order = sorted(range(len(rs.entries)), key=lambda i: self.tier_key(rs.entries[i]))
        return [list(g) for _, g in groupby(order, key=lambda i: self.tier_key(rs.entries[i]))]

    def _eligible_tiers(self, rs: RecordSet) -> list[list[int]]:
        tiers = self.tiers(rs)
        if self.cross_group_failover:
            return tiers
        first_group = min(e.group for e in rs.entries)
        return [t for t in tiers if rs.entries[t[0]].group == first_group]

    # -- exact probabilities --------------------------------------------------------------

    def tier_probabilities(self, rs: RecordSet, tier: Sequence[int], up: np.ndarray
                           ) -> np.ndarray:
        """Exact P(each entry of ``tier`` is drawn first | the up entries of the tier)."""
        idx = [i for i in tier if up[i]]
        probs = np.zeros(len(rs.entries))
        if not idx:
            return probs
        if self.draw == "uniform":
            probs[idx] = 1.0 / len(idx)
        elif self.draw == "first-listed":
            probs[min(idx)] = 1.0
        elif self.draw == "weights":
            w = np.array([self.weight_of(rs.entries[i]) for i in idx], dtype=float)
            if w.sum() <= 0:
                w = np.ones(len(idx))
            probs[idx] = w / w.sum()
        else:  # RFC 2782: r in 0..S inclusive; r == 0 picks the first record of the arrangement
            w = np.array([rs.entries[i].value for i in idx], dtype=float)
            total = w.sum()
            zero = w == 0
            first_pool = zero if zero.any() else np.ones(len(idx), dtype=bool)
            p = w / (total + 1.0)
            p[first_pool] += 1.0 / ((total + 1.0) * first_pool.sum())
            probs[idx] = p
        return probs

    def first_choice(self, rs: RecordSet, down: Sequence[bool] | np.ndarray | None = None
                     ) -> np.ndarray:
        """Exact probability that each target carries a request, given which are down.

        Returns one value per entry plus a last value: P(no target is usable).
        """
        n = len(rs.entries)
        up = np.ones(n, dtype=bool) if down is None else ~np.asarray(down, dtype=bool)
        for tier in self._eligible_tiers(rs):
            if up[tier].any():
                return np.append(self.tier_probabilities(rs, tier, up), 0.0)
        return np.append(np.zeros(n), 1.0)

    def expected(self, rs: RecordSet,
                 failure_probability: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
        """Exact shares when target i is down with probability p_i, independently, per request.

        Sums over every up/down pattern (2^k of them; k <= 16)."""
        n = len(rs.entries)
        if failure_probability is None or not np.any(failure_probability):
            return self.first_choice(rs)
        p = np.asarray(failure_probability, dtype=float)
        if n > 16:
            raise InputError("exact expectations with random failures need <= 16 targets",
                             subject=n)
        total = np.zeros(n + 1)
        for pattern in range(1 << n):
            down = np.array([(pattern >> i) & 1 for i in range(n)], dtype=bool)
            weight = float(np.prod(np.where(down, p, 1 - p)))
            if weight:
                total += weight * self.first_choice(rs, down)
        return total

    # -- the procedure --------------------------------------------------------------------

    def processing_order(self, rs: RecordSet, rng: np.random.Generator) -> list[int]:
        """One full processing order (indices), as a client would compute it."""
        out: list[int] = []
        for tier in self._eligible_tiers(rs):
            items = list(tier)
            if self.draw == "uniform":
                out.extend(items[i] for i in rng.permutation(len(items)))
            elif self.draw == "first-listed":
                out.extend(sorted(items))
            elif self.draw == "weights":
                while items:
                    w = np.array([self.weight_of(rs.entries[i]) for i in items], dtype=float)
                    if w.sum() <= 0:
                        w = np.ones(len(items))
                    r = rng.random() * w.sum()
                    pick = int(np.searchsorted(np.cumsum(w), r, side="right"))
                    out.append(items.pop(min(pick, len(items) - 1)))
            else:
                while items:  # RFC 2782 section "Usage rules", literally
                    shuffled = [items[i] for i in rng.permutation(len(items))]
                    arranged = [i for i in shuffled if rs.entries[i].value == 0] + [
                        i for i in shuffled if rs.entries[i].value != 0]
                    running = np.cumsum([rs.entries[i].value for i in arranged])
                    r = int(rng.integers(0, int(running[-1]) + 1))
                    chosen = arranged[int(np.argmax(running >= r))]
                    out.append(chosen)
                    items.remove(chosen)
        return out


def _naptr_rank(e: Entry) -> tuple[int, ...]:
    return (e.group, e.value)


def _group(e: Entry) -> tuple[int, ...]:
    return (e.group,)


def _dnspython_weight(e: Entry) -> float:
    return float(e.value) if e.value else 0.1


POLICIES: dict[str, SelectionPolicy] = {
    p.name: p
    for p in (
        SelectionPolicy("rfc3403", "RFC 3403 section 4.1", _naptr_rank, "uniform", False),
        SelectionPolicy("all-orders", "RFC 3403 sort, failover into later ORDERs",
                        _naptr_rank, "uniform", True),
        SelectionPolicy("weighted", "the seed blog: PREFERENCE as a weight", _group, "weights",
                        True, lambda e: float(e.value)),
        SelectionPolicy("3gpp", "3GPP TS 29.303 annex C.1", _group, "weights", True,
                        lambda e: float(65535 - e.value)),
        SelectionPolicy("srv", "RFC 2782 usage rules", _group, "srv-inclusive", True),
        SelectionPolicy("dnspython-naptr", "dnspython NAPTR _processing_order", _naptr_rank,
                        "uniform", True),
        SelectionPolicy("dnspython-srv", "dnspython SRV _processing_order (weight 0 -> 0.1)",
                        _group, "weights", True, _dnspython_weight),
        SelectionPolicy("first", "first record in (ORDER, PREFERENCE) order, answer order "
                        "breaks ties", _naptr_rank, "first-listed", True),
        SelectionPolicy("kamailio", "Kamailio enum_query(): stable sort by (ORDER, PREFERENCE), "
                        "R-URI = first, later ORDERs forked as branches", _naptr_rank,
                        "first-listed", True),
    )
}


def get_policy(name: str, kind: Kind = "naptr") -> SelectionPolicy:
    """Look a policy up by name; ``dnspython`` picks the NAPTR or SRV variant by ``kind``."""
    if name == "dnspython":
        name = f"dnspython-{'srv' if kind == 'srv' else 'naptr'}"
    try:
        return POLICIES[name]
    except KeyError:
        raise InputError(f"unknown policy {name!r}; choose from {', '.join(POLICY_NAMES)}",
                         subject=name) from None


POLICY_NAMES = ("rfc3403", "all-orders", "weighted", "3gpp", "srv", "dnspython", "first",
                "kamailio")

NaptrPolicy = Callable[[Sequence[NaptrRecord], np.random.Generator], list[NaptrRecord]]


def rfc3403_order(records: Sequence[NaptrRecord], rng: np.random.Generator) -> list[NaptrRecord]:
    """Sort by (order, preference); shuffle exact ties with ``rng`` (RFC 3403 section 4.1).

    The NAPTR ordering hook of :func:`enumlab.resolve.ddds.resolve_enum`. Ties are sorted by
    their text before shuffling, so a seeded result does not depend on the RRset order a server
    sent.
    """
    out: list[NaptrRecord] = []
    ordered = sorted(records, key=lambda r: (r.key, r.to_text()))
    for _, tied in groupby(ordered, key=lambda r: r.key):
        group = list(tied)
        if len(group) > 1:
            group = [group[i] for i in rng.permutation(len(group))]
        out.extend(group)
    return out
