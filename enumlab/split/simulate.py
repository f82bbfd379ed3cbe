"""Monte-Carlo load-split simulation: what a record set does to traffic under a policy.

:func:`simulate` runs the *procedure* of a policy (shuffles and running sums, vectorised with
numpy, in chunks) ``n`` times and returns the observed counts beside the *exact* expected
shares computed by the policy's formula (:meth:`SelectionPolicy.expected`). Each draw picks the
first target in processing order that is up; ``failures`` marks targets down for good
(probability 1) or per request with probability p.

:func:`simulate_live` does real resolutions through a lookup each time (the whole path), with a
progress bar; :func:`live_first_choices` counts first candidates of full ENUM resolutions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import InputError
from ..core.policies import Entry, RecordSet, SelectionPolicy, get_policy
from ..core.records import NaptrRecord, SrvRecord
from ..resolve.ddds import resolve_enum
from ..resolve.lookup import Lookup

CHUNK = 1 << 21
NONE = "(none)"  # the outcome "no usable target"


@dataclass
class SimulationResult:
    """Observed counts and exact expected shares, one per target plus ``(none)``."""

    policy: str
    n: int
    targets: list[str]
    observed: np.ndarray
    expected: np.ndarray
    failures: dict[str, float] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return [*self.targets, NONE]

    @property
    def observed_share(self) -> np.ndarray:
        return self.observed / max(self.n, 1)

    def shares(self) -> Any:
        """One labelled row per target (short names, record-set order, ``(none)`` last: no
        usable target): selections observed, the share observed and the share expected."""
        import pandas as pd

        from ..core.records import short_label

        return pd.DataFrame({"observed": self.observed, "observed_share": self.observed_share,
                             "expected_share": self.expected},
                            index=pd.Index([short_label(t) for t in self.labels], name="target"))

    def to_dict(self) -> dict[str, Any]:
        from .stats import compare

        report = compare(self.observed, self.expected, labels=self.labels)
        return {"policy": self.policy, "n": self.n, **report.to_dict(),
                "failures": self.failures}


def _failure_vector(rs: RecordSet, failures: Mapping[str, float] | Sequence[str] | None
                    ) -> np.ndarray:
    p = np.zeros(len(rs.entries))
    if not failures:
        return p
    items = failures.items() if isinstance(failures, Mapping) else ((t, 1.0) for t in failures)
    for target, prob in items:
        if target not in rs.targets:
            raise InputError(f"{target!r} is not a target of this record set "
                             f"({', '.join(rs.targets)})", subject=target)
        if not 0.0 <= prob <= 1.0:
            raise InputError(f"failure probability for {target} must be in [0, 1]",
                             subject=prob)
        p[rs.targets.index(target)] = prob
    return p


def _draw_fixed(policy: SelectionPolicy, rs: RecordSet, up: np.ndarray, size: int,
                rng: np.random.Generator) -> np.ndarray:
    """Indices drawn when the up/down state is the same for every request (fast path)."""
    k = len(rs.entries)
    for tier in policy._eligible_tiers(rs):
        members = np.array([i for i in tier if up[i]])
        if members.size:
            break
    else:
        return np.full(size, k)  # nothing usable
    if members.size == 1 or policy.draw == "first-listed":
        return np.full(size, members.min() if policy.draw == "first-listed" else members[0])
    if policy.draw == "uniform":
        # an exact tie: uniform over the tied records (floor of a float32 uniform times m)
        r = rng.random(size, dtype=np.float32) * np.float32(members.size)
        return np.asarray(members[_count_at_most(np.arange(1, members.size, dtype=np.float32), r)])
    if policy.draw == "weights":
        w = np.array([policy.weight_of(rs.entries[i]) for i in members], dtype=float)
        if w.sum() <= 0:
            w = np.ones(members.size)
        cum = np.cumsum(w)
        # Running-sum selection with r uniform in [0, total): the first record whose running
        # sum exceeds r, i.e. the number of running sums <= r. float32 uniforms: 2**-24
        # granularity, far below the sampling error of any feasible n.
        r = rng.random(size, dtype=np.float32) * np.float32(cum[-1])
        return np.asarray(members[_count_at_most(cum[:-1], r)])
    # RFC 2782: weight-0 records first, r integer in 0..S, first running sum >= r
    weights = np.array([rs.entries[i].value for i in members])
    arranged = np.concatenate([members[weights == 0], members[weights != 0]])
    running = np.cumsum(np.concatenate([weights[weights == 0], weights[weights != 0]]))
    draws = rng.integers(0, int(running[-1]) + 1, size, dtype=np.int64)
    picks = np.asarray(arranged[_count_below(running[:-1], draws)])
    at_zero = draws == 0  # r == 0 takes the first record of a random arrangement
    pool = arranged[: int((weights == 0).sum())] if (weights == 0).any() else arranged
    picks[at_zero] = pool[rng.integers(0, pool.size, int(at_zero.sum()))]
    return picks


def _count_at_most(bounds: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Number of ``bounds`` <= each r (a searchsorted 'right' that is fast for few bounds)."""
    if bounds.size > 16:
        return np.searchsorted(bounds, r, side="right")
    pos = np.zeros(r.shape, dtype=np.int8 if bounds.size < 127 else np.int32)
    for bound in bounds.astype(r.dtype):
        pos += r >= bound
    return pos


def _count_below(bounds: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Number of ``bounds`` < each r (searchsorted 'left')."""
    if bounds.size > 16:
        return np.searchsorted(bounds, r, side="left")
    pos = np.zeros(r.shape, dtype=np.int8)
    for bound in bounds:
        pos += r > bound
    return pos


def _draw_random_failures(policy: SelectionPolicy, rs: RecordSet, p_down: np.ndarray,
                          size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices drawn when each target is down with probability p per request."""
    k = len(rs.entries)
    up = rng.random((size, k)) >= p_down
    out = np.full(size, k)
    undecided = np.ones(size, dtype=bool)
    for tier in policy._eligible_tiers(rs):
        cols = np.array(tier)
        tier_up = up[:, cols] & undecided[:, None]
        rows = tier_up.any(axis=1)
        if not rows.any():
            continue
        sub = tier_up[rows]
        if policy.draw == "first-listed":
            keys = np.where(sub, cols[None, :], k + 1).astype(float)
        elif policy.draw == "uniform":
            keys = np.where(sub, rng.random(sub.shape), np.inf)
        elif policy.draw == "weights":
            w = np.array([policy.weight_of(rs.entries[i]) for i in cols], dtype=float)
            race = rng.exponential(size=sub.shape) / np.where(w > 0, w, 1.0)
            zero = np.where(w > 0, 0.0, 1e12)  # zero weights only when nothing else is up
            keys = np.where(sub, race + zero, np.inf)
        else:
            keys = _srv_keys(rs, cols, sub, rng)
        out[np.flatnonzero(rows)] = cols[np.argmin(keys, axis=1)]
        undecided &= ~rows
    return out


def _srv_keys(rs: RecordSet, cols: np.ndarray, sub: np.ndarray, rng: np.random.Generator
              ) -> np.ndarray:
    """RFC 2782 per row, when rows differ in which records are up."""
    w = np.array([rs.entries[i].value for i in cols])
    order = np.concatenate([np.flatnonzero(w == 0), np.flatnonzero(w != 0)])
    wa = np.where(sub[:, order], w[order][None, :], 0)
    cum = np.cumsum(wa, axis=1)
    r = (rng.random(len(sub)) * (cum[:, -1] + 1)).astype(np.int64)
    hit = (cum >= r[:, None]) & sub[:, order]
    keys = np.full(sub.shape, np.inf)
    chosen = order[np.argmax(hit, axis=1)]
    keys[np.arange(len(sub)), chosen] = 0.0
    at_zero = r == 0
    if at_zero.any():
        zero_up = sub[at_zero] & (w == 0)[None, :]
        pool = np.where(zero_up.any(axis=1)[:, None], zero_up, sub[at_zero])
        keys[at_zero] = np.where(pool, rng.random(pool.shape), np.inf)
    return keys


def sample_indices(policy: SelectionPolicy, rs: RecordSet, n: int, rng: np.random.Generator,
                   failure_probability: np.ndarray | None = None) -> np.ndarray:
    """The index of the target each of ``n`` requests goes to (``len(targets)`` = none)."""
    p = np.zeros(len(rs.entries)) if failure_probability is None else failure_probability
    random_failures = bool(np.any((p > 0) & (p < 1)))
    parts = []
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        if random_failures:
            parts.append(_draw_random_failures(policy, rs, p, size, rng))
        else:
            parts.append(_draw_fixed(policy, rs, p < 1, size, rng))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def simulate(
    records_or_name: Sequence[NaptrRecord | SrvRecord | Entry] | RecordSet | str,
    n: int,
    policy: str | SelectionPolicy = "rfc3403",
    rng: np.random.Generator | None = None,
    *,
    failures: Mapping[str, float] | Sequence[str] | None = None,
    lookup: Lookup | None = None,
) -> SimulationResult:
    """Simulate ``n`` selections; return observed counts and the exact expected shares.

    ``records_or_name`` is a record set, or a name to look up through ``lookup``: an E.164
    number (ENUM, targets are the URIs), an ``_service._proto`` SRV name, or any other name
    (NAPTR, targets are the replacements).
    """
    if n <= 0:
        raise InputError(f"n must be positive, not {n}", subject=n)
    rs = record_set(records_or_name, lookup)
    chosen = policy if isinstance(policy, SelectionPolicy) else get_policy(policy, rs.kind)
    rng = rng if rng is not None else np.random.default_rng()
    p = _failure_vector(rs, failures)
    counts = np.bincount(sample_indices(chosen, rs, n, rng, p), minlength=len(rs.entries) + 1)
    return SimulationResult(chosen.name, n, rs.targets, counts, chosen.expected(rs, p),
                            {t: float(x) for t, x in zip(rs.targets, p, strict=True) if x})


def record_set(records_or_name: Sequence[NaptrRecord | SrvRecord | Entry] | RecordSet | str,
               lookup: Lookup | None = None) -> RecordSet:
    """Turn records, or a name looked up through ``lookup``, into a :class:`RecordSet`."""
    if isinstance(records_or_name, RecordSet):
        return records_or_name
    if not isinstance(records_or_name, str):
        return RecordSet.from_records(list(records_or_name))
    name = records_or_name.strip()
    if lookup is None:
        raise InputError(f"looking up {name!r} needs a lookup (a resolver or zone)",
                         subject=name)
    if name.startswith("+") or name.replace(" ", "").isdigit():
        # keep the answer's own order within ties (a stable sort, no shuffle): policies such as
        # ``first`` depend on it
        result = resolve_enum(name, lookup, all_orders=True,
                              policy=lambda recs, _rng: sorted(recs, key=lambda r: r.key))
        if not result.candidates:
            raise InputError(f"{name}: no usable ENUM records at {result.domain}", subject=name)
        return RecordSet(tuple(Entry(c.uri, c.order, c.preference) for c in result.candidates))
    rdtype = "SRV" if name.startswith("_") else "NAPTR"
    answer = lookup.query(name, rdtype)
    answer.raise_for_rcode()
    if not answer.records and rdtype == "NAPTR":
        pool = address_pool(name, lookup)
        if pool is not None:
            return pool
    if not answer.records:
        raise InputError(f"{name} has no {rdtype} records", subject=name)
    # DNS gives no order inside an RRset: list the entries canonically so that runs compare
    records = sorted(answer.records, key=_record_sort_key)
    return RecordSet.from_records(records)  # type: ignore[arg-type]


def address_pool(name: str, lookup: Lookup) -> RecordSet | None:
    """The A and AAAA records of ``name`` as a record set of kind ``a`` (a round-robin pool:
    no ranks, no weights; which address a client takes depends on the answer's order and the
    client), or None when it has none. Addresses are listed in canonical (sorted) order, the
    order BIND's ``rrset-order none`` serves."""
    import ipaddress

    from ..core.records import AddressRecord

    found = []
    for rdtype in ("A", "AAAA"):
        answer = lookup.query(name, rdtype)
        found += [r.address for r in answer.records if isinstance(r, AddressRecord)]
    if not found:
        return None
    found.sort(key=lambda a: (ipaddress.ip_address(a).version, ipaddress.ip_address(a)))
    return RecordSet(tuple(Entry(a, 0, 0) for a in found), "a")


def _record_sort_key(rec: Any) -> tuple[Any, ...]:
    if isinstance(rec, SrvRecord):
        return (rec.priority, rec.weight, rec.target, rec.port)
    if isinstance(rec, NaptrRecord):
        return (rec.order, rec.preference, rec.replacement)
    return (str(rec),)


def simulate_live(
    name: str, n: int, lookup: Lookup, policy: str = "rfc3403",
    rng: np.random.Generator | None = None, *, down: Sequence[str] = (), progress: bool = True,
) -> SimulationResult:
    """``n`` real resolutions, each followed by one selection: slow, but the whole path."""
    from tqdm.auto import tqdm

    rng = rng if rng is not None else np.random.default_rng()
    first = record_set(name, lookup)
    chosen = get_policy(policy, first.kind)
    p = _failure_vector(first, down)
    counts: Counter[int] = Counter()
    for _ in tqdm(range(n), desc=f"resolving {name}", disable=not progress, unit="q"):
        rs = record_set(name, lookup)
        if rs.targets != first.targets:
            rs = RecordSet(tuple(sorted(rs.entries, key=lambda e: first.targets.index(e.target))),
                           rs.kind)
        up = p < 1
        order = [i for i in chosen.processing_order(rs, rng) if up[i]]
        counts[order[0] if order else len(rs.entries)] += 1
    observed = np.array([counts[i] for i in range(len(first.entries) + 1)])
    return SimulationResult(chosen.name, n, first.targets, observed, chosen.expected(first, p),
                            {t: 1.0 for t in down})


def live_first_choices(
    number: str, lookup: Lookup, n: int, rng: np.random.Generator, **resolve_options: Any
) -> Counter[str]:
    """Resolve ``number`` through ENUM ``n`` times and count the URI each puts first."""
    if n <= 0:
        raise ValueError(f"n must be positive, not {n}")
    counts: Counter[str] = Counter()
    for _ in range(n):
        result = resolve_enum(number, lookup, rng=rng, **resolve_options)
        counts[result.uris[0] if result.uris else NONE] += 1
    return counts


def biased_weighted_indices(rs: RecordSet, n: int, rng: np.random.Generator) -> np.ndarray:
    """A deliberately buggy weighted selector, for teaching: it draws r from 1..S-1 instead of
    [0, S) -- an off-by-one that starves the first unit and the last unit of weight.
    Statistics should catch it (notebook 05, tests)."""
    w = np.array([e.value for e in rs.entries], dtype=np.int64)
    cum = np.cumsum(w)
    r = rng.integers(1, int(cum[-1]), n)
    return np.searchsorted(cum, r, side="right")


def policy_table(results: Sequence[Mapping[str, Any]], *, column: str = "observed_share"
                 ) -> Any:
    """Several policies' results (``SimulationResult.to_dict()`` or an observed-data report)
    as one DataFrame: rows are the targets in record-set order (``(none)`` last), columns the
    policies; ``column`` picks the figure (``observed_share``, ``expected_share``,
    ``observed``)."""
    import pandas as pd

    frame = pd.DataFrame({r["policy"]: {t["target"]: t[column] for t in r["targets"]}
                          for r in results}).fillna(0)  # a policy that never gives "(none)"
    frame.index.name = "target"
    return frame


def expected_table(rs: RecordSet, policies: Sequence[str], *, order: Sequence[str] = (),
                   failures: Mapping[str, float] | None = None) -> Any:
    """The share each policy expects for each target, as one DataFrame: rows the targets by
    their short names (``server1``, ``melbourne``) -- in ``order`` when given (the order a text
    uses), else the record set's, with ``(none)`` last when any policy can give no target --
    and one column per policy."""
    import pandas as pd

    from ..core.policies import get_policy
    from ..core.records import short_label

    down = [(failures or {}).get(t, 0.0) for t in rs.targets]
    labels = [short_label(t) for t in rs.targets] + [NONE]
    frame = pd.DataFrame({name: get_policy(name, rs.kind).expected(rs, down) for name in policies},
                         index=pd.Index(labels, name="target"))
    if not frame.loc[NONE].any():
        frame = frame.drop(index=NONE)
    if order:
        frame = frame.loc[[*order, *[x for x in frame.index if x not in order]]]
    return frame
