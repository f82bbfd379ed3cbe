"""A fleet of clients over time: what a record set's split becomes once real clients, caches,
answer order and failures are in the way.

:mod:`enumlab.core.policies` says what *one* resolution gives under each reading of the RFCs. A
network is many proxies, each resolving through caches and picking targets its own way, for
hours. :func:`run_fleet` simulates that, call by call, exactly:

* **Calls** arrive as a Poisson process at ``rate`` per second for ``duration`` seconds, each
  from one client of the fleet chosen at random (every client the same call rate).
* **Clients** follow a :class:`FleetModel` (:data:`MODELS`): ``rfc`` draws per call (RFC 3403
  s4.1 / RFC 2782 / RFC 3263 s4.3 failover), ``sticky`` draws the same way but once per cached
  answer, ``kamailio`` never draws: it takes the first record after a stable sort by (ORDER,
  PREFERENCE) for NAPTR and (PRIORITY, WEIGHT descending) for SRV -- ties go to whichever
  record the answer listed first -- with NAPTR fetched per call and SRV/A kept in its DNS cache
  for the TTL (measured against real Kamailio: ``tests/test_fleet.py``),
  ``first`` is a naive proxy doing the same with everything cached, ``dnspython`` and
  ``weighted`` draw per call under dnspython's and the seed blog's rules.
* **DNS** between them: each client asks the authoritative server directly, or all share one
  caching resolver (``resolver="shared"``) whose answers carry the remaining TTL, so the
  clients' caches expire with it (RFC 1035 s7.3 / RFC 2181 s8). The server orders every
  answer as BIND 9.18's ``rrset-order`` does (``random``: its seeded swap walk, measured
  against real named; ``cyclic``: rotated one step per answer; ``none``: the stored order) or
  as a uniform permutation (``shuffle``); a shared resolver serves its cached copy as
  fetched, re-shuffled or rotated (``resolver_order``, :data:`RESOLVER_ORDER_SOURCES`):
  unbound 1.17 and knot-resolver 5.6, measured here, serve a random rotation of the cached
  RRset on every answer (``rotate``); the default ``as-fetched`` passes the server's order
  through unchanged (a resolver configured not to reorder, e.g. BIND's ``rrset-order
  fixed``), so that the server's order stays the one thing the lab varies. Names that answer
  NXDOMAIN for a while (``nxdomain`` windows) are cached negatively for ``negative_ttl``
  (RFC 2308 s5), hiding the name's return.
* **Failures**: ``down`` windows take targets out; a client with RFC 3263 s4.3 failover tries
  the next target of its order (the call is delayed: it tried a dead target first); one
  without fails the call.

Cache expiries are exact (an entry lives from the call that fetched it for its TTL), decided
in one pass over the calls in time order by a kernel compiled by numba for big runs.

The output is the per-target share over time, the long-run split beside the configured one
and the split each model predicts, and the statistics that fit clustered choices
(:func:`enumlab.split.stats.clustered_compare`): when one resolution decides many calls, the calls
are not independent draws, and a chi-square on calls calls a correct split "biased".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import numpy as np

from ..capture.jit import helper, kernel, numba_available
from ..core.errors import InputError
from ..core.policies import RecordSet, SelectionPolicy, get_policy

NONE = "(none)"  # no usable target: NXDOMAIN cached, or every eligible target down
FAILED = "(failed)"  # sent to a target that was down, and no failover
CHUNK = 1 << 20
JIT_MIN_CALLS = 20_000

Rule = Literal["per-call", "sticky", "answer-order"]
ServerOrder = Literal["random", "cyclic", "none", "shuffle"]
ResolverOrder = Literal["as-fetched", "random", "cyclic", "shuffle", "rotate"]
# answer orders, coded 0..3 in the kernel: BIND 9.18 "random", a rotation per answer, the
# stored order, a uniform permutation
SERVER_ORDERS = ("random", "cyclic", "none", "shuffle")
RESOLVER_ORDERS = ("as-fetched", "random", "cyclic", "shuffle", "rotate")
# What a caching resolver does with the order of a cached RRset, by name:
#   as-fetched  serves it as the authoritative server ordered it (a resolver told not to
#               reorder, e.g. BIND 9.18 with rrset-order fixed) -- the fleet's default, kept so
#               that the server's order is what the clients see (the thing the lab varies);
#               neither unbound nor knot-resolver does this by default
#   rotate      a rotation by a random offset on every answer: unbound 1.17 (rrset-roundrobin,
#               on by default since 1.17.0: the offset comes from the query ID) and
#               knot-resolver 5.6 (reorder_RR, on by default) -- measured here against both
#               (enumlab.resolverlab, tests/test_fleet.py)
#   random      BIND 9.18's rrset-order random walk on every answer (BIND as a resolver)
#   cyclic      a rotation one step further on every answer (BIND rrset-order cyclic)
#   shuffle     a uniform permutation on every answer
RESOLVER_ORDER_SOURCES = {
    "as-fetched": "the cached copy as fetched (a resolver told not to reorder, e.g. BIND "
                  "9.18 rrset-order fixed); the fleet's default, not unbound's or kresd's",
    "rotate": "unbound 1.17 rrset-roundrobin and knot-resolver 5.6 reorder_RR (both default "
              "on): a random rotation per answer, measured here",
    "random": "BIND 9.18 rrset-order random as a resolver",
    "cyclic": "BIND 9.18 rrset-order cyclic as a resolver",
    "shuffle": "a uniform permutation per answer",
}
LAYOUTS = ("direct", "shared")


@dataclass(frozen=True)
class FleetModel:
    """How one kind of client turns DNS answers into the target of each call.

    ``rule``: ``per-call`` (a fresh draw under ``policy`` for every call), ``sticky`` (the
    same draw, made once per cached answer and kept for its TTL) or ``answer-order`` (the
    first record of the answer after a stable sort by rank: the answer's order decides ties,
    and weights are ignored). ``caches``: the record kinds the client keeps for their TTL.
    ``failover``: RFC 3263 s4.3 -- on a dead target, the next one of its order.
    """

    name: str
    rule: Rule
    policies: Mapping[str, str]  # record kind -> selection policy (per-call and sticky)
    caches: frozenset[str]
    failover: bool
    source: str

    def policy(self, kind: str) -> SelectionPolicy:
        return get_policy(self.policies.get(kind, self.policies["naptr"]), kind)  # type: ignore[arg-type]


_RFC = {"naptr": "rfc3403", "srv": "srv", "a": "rfc3403"}
_ALL = frozenset({"naptr", "srv", "a"})

MODELS: dict[str, FleetModel] = {m.name: m for m in (
    FleetModel("rfc", "per-call", _RFC, _ALL, True,
               "RFC 3403 s4.1 (PREFERENCE a rank, ties shuffled), RFC 2782 (weights), a fresh "
               "draw for every call over the cached answer; RFC 3263 s4.3 failover"),
    FleetModel("sticky", "sticky", _RFC, _ALL, True,
               "a proxy that resolves once per TTL and keeps the target it drew (RFC rules) "
               "for every call until the answer expires; RFC 3263 s4.3 failover"),
    FleetModel("kamailio", "answer-order", _RFC, frozenset({"srv", "a"}), False,
               "Kamailio 5.6 enum_query() + forward() with use_dns_cache=on and dns_srv_lb=0 "
               "(measured in a namespace): NAPTR asked again for every call (not cached), "
               "stable sort by (ORDER, PREFERENCE) so ties go to the answer's first record; "
               "the target's SRV records kept for the TTL, sorted by PRIORITY then WEIGHT "
               "descending, the first used (the heaviest takes every call); A records kept "
               "for the TTL, the first used; no failover in stateless forward()"),
    FleetModel("first", "answer-order", _RFC, _ALL, False,
               "a naive proxy: resolves once per TTL, takes the first record in (ORDER, "
               "PREFERENCE) / (PRIORITY, WEIGHT descending) order, ties by answer order, "
               "never fails over"),
    FleetModel("dnspython", "per-call", {"naptr": "dnspython", "srv": "dnspython",
                                         "a": "dnspython"}, _ALL, True,
               "dnspython 2.x with a dns.resolver.Cache: processing_order() per call "
               "(NAPTR ties shuffled, across ORDERs; SRV weight 0 counted as 0.1)"),
    FleetModel("weighted", "per-call", {"naptr": "weighted", "srv": "srv", "a": "rfc3403"},
               _ALL, True, "the seed blog's reading: PREFERENCE as a weight, drawn per call"),
)}


@dataclass(frozen=True)
class Outage:
    """``target`` is down from ``start`` to ``end`` seconds (``--down server1@600-900``)."""

    target: str
    start: float
    end: float


@dataclass(frozen=True)
class FleetConfig:
    """A fleet: who calls, how often, for how long, through which DNS."""

    clients: tuple[tuple[str, int], ...] = (("rfc", 10),)
    rate: float = 1_000_000 / 86_400  # calls per second, the whole fleet (1 M a day)
    duration: float = 3600.0
    ttl: float = 300.0
    negative_ttl: float = 60.0
    resolver: Literal["direct", "shared"] = "direct"
    server_order: ServerOrder = "random"
    resolver_order: ResolverOrder = "as-fetched"
    down: tuple[Outage, ...] = ()
    nxdomain: tuple[tuple[float, float], ...] = ()
    bins: int = 96

    def check(self, rs: RecordSet) -> None:
        if not self.clients or any(c <= 0 for _, c in self.clients):
            raise InputError("the fleet needs at least one client of each model named",
                             subject=self.clients)
        for name, _ in self.clients:
            if name not in MODELS:
                raise InputError(f"unknown client model {name!r}; choose from "
                                 f"{', '.join(MODELS)}", subject=name)
        for what, value in (("rate", self.rate), ("duration", self.duration),
                            ("ttl", self.ttl), ("negative TTL", self.negative_ttl)):
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"{what} must be a finite number above 0, not {value}",
                                 subject=value)
        if self.resolver not in LAYOUTS:
            raise InputError(f"resolver layout must be one of {LAYOUTS}", subject=self.resolver)
        if self.server_order not in SERVER_ORDERS:
            raise InputError(f"server order must be one of {SERVER_ORDERS}",
                             subject=self.server_order)
        if self.resolver_order not in RESOLVER_ORDERS:
            raise InputError(f"resolver order must be one of {RESOLVER_ORDERS}",
                             subject=self.resolver_order)
        for o in self.down:
            if o.target not in rs.targets:
                raise InputError(f"--down {o.target!r}: not a target of this record set "
                                 f"({', '.join(rs.targets)})", subject=o.target)
            if not 0 <= o.start < o.end:
                raise InputError(f"--down {o.target}@{o.start:g}-{o.end:g}: the window must "
                                 "start at 0 or later and end after it", subject=o)
        for start, end in self.nxdomain:
            if not 0 <= start < end:
                raise InputError(f"NXDOMAIN window {start:g}-{end:g} must start at 0 or later "
                                 "and end after it", subject=(start, end))
        if not 1 <= self.bins <= 10_000:
            raise InputError("bins must be 1..10000", subject=self.bins)
        if self.rate * self.duration > 5e9:
            raise InputError(f"{self.rate * self.duration:.3g} calls is more than this "
                             "simulator takes (5e9)", subject=self.rate)


# -- what each model gives, exactly ----------------------------------------------------------

def answer_rank(rs: RecordSet) -> list[tuple[int, ...]]:
    """The sort key of an answer-order client, stable over the answer's order: (ORDER,
    PREFERENCE) for NAPTR; (PRIORITY, WEIGHT descending) for SRV -- Kamailio's resolver inserts
    each SRV record before the first of a higher priority or of the same priority and a lower
    weight (core/resolve.c), and with dns_srv_lb=0 uses the first, so the heaviest record of
    the best priority takes every call; nothing for an address pool (the answer's order)."""
    if rs.kind == "naptr":
        return [(e.group, e.value) for e in rs.entries]
    if rs.kind == "srv":
        return [(e.group, -e.value) for e in rs.entries]
    return [() for _ in rs.entries]


BIND_RANDOM_EXACT_UP_TO = 16  # records; beyond, lcm(1..k) orders are too many to list


@cache
def bind_random_orders(k: int) -> list[tuple[float, list[int]]]:
    """Every order BIND 9.18's ``rrset-order random`` can give ``k`` records, with its
    probability: the seed matters only modulo lcm(1..k) (see :func:`_bind_random_positions`);
    the 32-bit seed's own unevenness modulo that (< 1e-4 for k <= 16) is left out."""
    import math

    period = math.lcm(*range(1, k + 1))
    seeds = np.arange(period, dtype=np.int64)
    orders = np.tile(np.arange(k, dtype=np.int64), (period, 1))
    rows = np.arange(period)
    for j in range(k):
        c = j + seeds % (k - j)
        a, b = orders[rows, j].copy(), orders[rows, c].copy()
        orders[rows, j], orders[rows, c] = b, a
    unique, counts = np.unique(orders, axis=0, return_counts=True)
    return [(float(n) / period, [int(x) for x in row]) for row, n in
            zip(unique, counts, strict=True)]


def _orders(k: int, order: str) -> list[tuple[float, list[int]]]:
    """The answer orders a client sees, with their probabilities (``shuffle``: apart)."""
    if order == "none":
        return [(1.0, list(range(k)))]
    if order == "random":
        return bind_random_orders(k)
    return [(1.0 / k, [(r + i) % k for i in range(k)]) for r in range(k)]


def model_expected(model: FleetModel | str, rs: RecordSet, *, server_order: str = "random",
                   resolver: str = "direct", resolver_order: str = "as-fetched",
                   down: Sequence[bool] | np.ndarray | None = None) -> np.ndarray:
    """The exact long-run share each target gets from clients of ``model``, given which targets
    are down: one value per target, then ``(none)``, then ``(failed)``.

    For answer-order clients it depends on the order answers arrive in: a uniform permutation
    (``shuffle``) gives every record of the best tier the same chance whatever its weight;
    BIND 9.18's ``random`` nearly so (its orders are listed exactly: with 4 records some
    pairs come in one order 7 times in 12); a rotation (``cyclic``) gives each the share of
    rotations that put it first among its tier; a fixed order (``none``) always the same
    record.
    """
    m = MODELS[model] if isinstance(model, str) else model
    k = len(rs.entries)
    up = np.ones(k, dtype=bool) if down is None else ~np.asarray(down, dtype=bool)
    out = np.zeros(k + 2)
    if m.rule != "answer-order":
        policy = m.policy(rs.kind)
        first = policy.first_choice(rs, down=~up)
        if m.failover:
            out[: k + 1] = first
            return out
        clean = policy.first_choice(rs)
        out[:k] = np.where(up, clean[:k], 0.0)
        out[k + 1] = clean[:k][~up].sum()
        out[k] = clean[k]
        return out
    rank = answer_rank(rs)
    order = server_order if resolver == "direct" or resolver_order == "as-fetched" else (
        resolver_order)
    if order == "rotate":  # every rotation equally likely: what cyclic gives in the long run
        order = "cyclic"
    if order == "random" and k > BIND_RANDOM_EXACT_UP_TO:
        order = "shuffle"  # an approximation: BIND's own orders are too many to list
    if order == "shuffle":
        best = min(rank)
        tier = [i for i in range(k) if rank[i] == best]
        if not m.failover:
            for i in tier:
                out[i if up[i] else k + 1] += 1.0 / len(tier)
            return out
        for r in sorted(set(rank)):
            members = [i for i in range(k) if rank[i] == r and up[i]]
            if members:
                out[members] = 1.0 / len(members)
                return out
        out[k] = 1.0
        return out
    for prob, perm in _orders(k, order):
        position = {e: p for p, e in enumerate(perm)}
        ranked = sorted(range(k), key=lambda e: (rank[e], position[e]))
        head = ranked[0]
        if up[head]:
            out[head] += prob
        elif not m.failover:
            out[k + 1] += prob
        else:
            alive = [e for e in ranked if up[e]]
            out[alive[0] if alive else k] += prob
    return out


def predicts_clusters(model: FleetModel | str, kind: str) -> bool:
    """Does a client of ``model`` send many calls on one decision (when it asks the server
    directly)? Sticky clients do, and answer-order clients that cache this record kind; a
    per-call draw, or an answer fetched for every call, makes each call its own decision."""
    m = MODELS[model] if isinstance(model, str) else model
    return m.rule == "sticky" or (m.rule == "answer-order" and kind in m.caches)


def expected_by_model(rs: RecordSet, models: Sequence[str] | None = None, **order: Any
                      ) -> Any:
    """A DataFrame: one row per target (short names), one column per client model, the
    long-run share :func:`model_expected` gives (``order``: ``server_order=...`` and the
    resolver options)."""
    import pandas as pd

    from ..core.records import short_label

    names = list(models) if models is not None else list(MODELS)
    k = len(rs.entries)
    return pd.DataFrame({m: model_expected(m, rs, **order)[:k] for m in names},
                        index=pd.Index([short_label(t) for t in rs.targets], name="target"))


def answer_orders_table(answers: Sequence[Sequence[str]], stored: Sequence[str]) -> Any:
    """Real answers' record orders against BIND 9.18's ``random`` model: one row per order
    (positions 1..k of the ``stored`` order), how often it was seen, its share, and the share
    :func:`bind_random_orders` gives it (0 for an order the model never makes)."""
    import pandas as pd

    seen = pd.Series([tuple(list(stored).index(r) + 1 for r in a) for a in answers],
                     dtype=object).value_counts()
    model = {tuple(x + 1 for x in o): p for p, o in bind_random_orders(len(stored))}
    rows = sorted(set(seen.index) | set(model))
    return pd.DataFrame({"seen": [int(seen.get(o, 0)) for o in rows],
                         "share seen": [float(seen.get(o, 0)) / max(len(answers), 1)
                                        for o in rows],
                         "model": [model.get(o, 0.0) for o in rows]},
                        index=pd.Index([str(o) for o in rows], name="order"))


def fleet_expected(rs: RecordSet, config: FleetConfig, *, with_outages: bool = True
                   ) -> np.ndarray:
    """The long-run split of the whole fleet (clients weighted by number; equal call rates).

    With ``with_outages`` the ``down`` windows are weighted by the time they last (exact for
    per-call clients; an approximation where a cached answer spans an outage's edge)."""
    total = sum(c for _, c in config.clients)
    segments = [(1.0, np.zeros(len(rs.entries), dtype=bool))]
    if with_outages and config.down:
        starts, masks = _segments(rs, config)
        ends = np.append(starts[1:], config.duration)
        starts = np.clip(starts, 0, config.duration)
        ends = np.clip(ends, 0, config.duration)
        segments = [((e - s) / config.duration, ~mask) for s, e, mask in
                    zip(starts, ends, masks, strict=True) if e > s]
    out = np.zeros(len(rs.entries) + 2)
    for name, count in config.clients:
        for weight, down in segments:
            out += count / total * weight * model_expected(
                name, rs, server_order=config.server_order, resolver=config.resolver,
                resolver_order=config.resolver_order, down=down)
    return out


def _segments(rs: RecordSet, config: FleetConfig) -> tuple[np.ndarray, np.ndarray]:
    """Times where the up/down state changes, and which targets are up from each on."""
    k = len(rs.entries)
    edges = sorted({0.0, *(o.start for o in config.down), *(o.end for o in config.down)})
    starts = np.array([-np.inf, *edges[1:]]) if edges else np.array([-np.inf])
    masks = np.ones((len(starts), k), dtype=bool)
    for s, t0 in enumerate([0.0, *edges[1:]]):
        for o in config.down:
            if o.start <= t0 < o.end:
                masks[s, rs.targets.index(o.target)] = False
    return starts, masks


# -- the kernel -------------------------------------------------------------------------------

@helper
def _bind_random_positions(seed: int, k: int, scratch: Any) -> None:
    """BIND 9.18's ``rrset-order random`` (lib/dns/rdataset.c, towiresorted): one 32-bit seed
    per answer, then for j = 0..k-1 swap record j with record j + seed % (k - j). The same seed
    serves every step, so only lcm(1..k) orders occur (12 of the 24 for 4 records) and some
    pairs are not in either order equally often. ``scratch[0]`` gets the order, ``scratch[1]``
    each record's position."""
    for j in range(k):
        scratch[0, j] = j
    for j in range(k):
        c = j + seed % (k - j)
        tmp = scratch[0, j]
        scratch[0, j] = scratch[0, c]
        scratch[0, c] = tmp
    for j in range(k):
        scratch[1, scratch[0, j]] = j


@helper
def _pick(m_rank: Any, m_eligible: Any, m_weight: Any, seg_up: Any, m: int, r: int, s: int,
          live_only: bool, u: float, k: int) -> int:
    """The record of rank ``r`` that a uniform ``u`` picks by weight (all members, or the live
    ones); uniform when their weights are all 0; ``k`` when there is none."""
    total = 0.0
    count = 0
    for e in range(k):
        if m_eligible[m, e] and m_rank[m, e] == r and (not live_only or seg_up[s, e]):
            total += m_weight[m, e]
            count += 1
    if count == 0:
        return k
    uniform = total <= 0.0
    target = u * (count if uniform else total)
    acc = 0.0
    last = k
    for e in range(k):
        if m_eligible[m, e] and m_rank[m, e] == r and (not live_only or seg_up[s, e]):
            acc += 1.0 if uniform else m_weight[m, e]
            last = e
            if acc > target:
                return e
    return last


def _fleet_kernel(t: Any, cl: Any, u_call: Any, u_shared: Any, c_model: Any, m_rule: Any,
                  m_caches: Any, m_failover: Any, m_rank: Any, m_eligible: Any, m_draw: Any,
                  m_weight: Any, conf_f: Any, conf_i: Any, nx_start: Any, nx_end: Any,
                  seg_start: Any, seg_up: Any, client_exp: Any, client_src: Any,
                  client_rot: Any, client_kind: Any, client_neg: Any, client_view: Any,
                  scratch: Any, state_f: Any,
                  state_i: Any, bins: Any, by_model: Any, first_down: Any, clusters: Any,
                  singles: Any, out_choice: Any, out_cluster: Any) -> int:
    """One pass over a chunk of calls in time order (all state carried in the arrays);
    returns how many calls it took (fewer when ``clusters`` needs to grow first).

    conf_f: ttl, negative ttl, bin width. conf_i: shared resolver (0/1), server order
    (0 random, 1 cyclic, 2 none), resolver order (0 as-fetched, 1 random, 2 cyclic,
    3 shuffle, 4 rotate: u_call's third column gives the offset), write
    per-call outputs (0/1). state_f: resolver expiry. state_i: resolver epoch id, resolver
    rotation, resolver negative, next shared id, server answers, resolver answers,
    up-segment pointer, nxdomain pointer, authoritative queries, resolver queries.
    m_draw: 0 uniform, 1 weights (exponential race), 2 first listed, 3 answer order.
    """
    k = m_rank.shape[1]
    ttl = conf_f[0]
    neg_ttl = conf_f[1]
    width = conf_f[2]
    shared = conf_i[0]
    server_order = conf_i[1]
    resolver_order = conf_i[2]
    write = conf_i[3]
    nbins = bins.shape[0]
    capacity = clusters.shape[0]
    for i in range(t.shape[0]):
        if state_i[3] + 2 > capacity:
            return i  # room for the shared decisions runs out: the caller grows it
        ti = t[i]
        c = cl[i]
        m = c_model[c]
        # the up/down segment and whether the name answers NXDOMAIN now
        s = state_i[6]
        while s + 1 < seg_start.shape[0] and seg_start[s + 1] <= ti:
            s += 1
        state_i[6] = s
        x = state_i[7]
        while x < nx_end.shape[0] and nx_end[x] <= ti:
            x += 1
        state_i[7] = x
        nx_now = x < nx_start.shape[0] and nx_start[x] <= ti
        # 1. the answer this call decides on, as (kind, perm, rot): kind 0 BIND 9.18's
        # "random" (one 32-bit seed per answer), 1 rotated by ``rot``, 2 the stored order,
        # 3 a uniform permutation; the randomness of kinds 0 and 3 is keyed by a shared id
        # (perm >= 0: a cached copy) or drawn for this call (perm == -2)
        held = m_caches[m] and client_exp[c] > ti
        decided_by = -1  # the shared id of the decision, if several calls share it
        if held:
            perm = client_src[c]
            rot = client_rot[c]
            kind = client_kind[c]
            neg = client_neg[c]
            view = client_view[c]
            if m_rule[m] != 0:
                decided_by = view
        else:
            if shared == 1:
                if state_f[0] <= ti:  # the resolver's copy expired: it asks the server
                    state_i[8] += 1
                    state_i[2] = 1 if nx_now else 0
                    state_f[0] = ti + (neg_ttl if nx_now else ttl)
                    state_i[0] = state_i[3]
                    state_i[3] += 1
                    state_i[1] = state_i[4] if server_order == 1 else 0
                    state_i[4] += 1
                state_i[9] += 1
                neg = state_i[2] == 1
                expiry = state_f[0]
                if resolver_order == 0:  # its copy as the server ordered it
                    kind = server_order
                    perm = state_i[0] if kind == 0 or kind == 3 else -1
                    rot = state_i[1]
                elif resolver_order == 2:
                    kind = 1
                    perm = -1
                    rot = state_i[5]
                elif resolver_order == 4:  # a rotation by a random offset (unbound, kresd)
                    kind = 1
                    perm = -1
                    rot = int(u_call[i, 2] * k) % k
                else:
                    kind = 0 if resolver_order == 1 else 3
                    perm = -2
                    rot = 0
                state_i[5] += 1
            else:
                state_i[8] += 1
                neg = nx_now
                expiry = ti + (neg_ttl if nx_now else ttl)
                kind = server_order
                perm = -2 if kind == 0 or kind == 3 else -1
                rot = state_i[4] if kind == 1 else 0
                state_i[4] += 1
            view = -1
            if m_caches[m]:
                view = state_i[3]
                state_i[3] += 1
                if perm == -2:
                    perm = view  # the cached copy keeps the order it arrived in
            # the decision several calls share: a sticky client's own draw per cached copy;
            # an answer-order client's answer -- the resolver's copy when it serves it as
            # fetched to everyone, else its own cached copy
            if m_rule[m] == 1:
                decided_by = view
            elif m_rule[m] == 2:
                decided_by = state_i[0] if shared == 1 and resolver_order == 0 else view
            if m_caches[m]:
                client_exp[c] = expiry
                client_src[c] = perm
                client_rot[c] = rot
                client_kind[c] = kind
                client_neg[c] = neg
                client_view[c] = decided_by
            if m_rule[m] == 1:
                view = decided_by
        # 2. the target
        draw = m_draw[m]
        if neg:
            final = k
            first = k
        elif draw == 2 or (draw == 3 and not (kind == 3 and perm == -2)):
            # an order fixed by the answer (BIND's seeded walk, a cached permutation, a
            # rotation, the stored order) or by the record list: the first eligible record
            # by (rank, position in the answer)
            if draw == 3 and kind == 0:
                u = u_shared[perm, 0] if perm >= 0 else u_call[i, 0]
                _bind_random_positions(int(u * 4294967296.0), k, scratch)
            first = -1
            final = -1
            first_rank = 0
            first_key = 0.0
            best_rank = 0
            best_key = 0.0
            for e in range(k):
                if not m_eligible[m, e]:
                    continue
                if draw == 2 or kind == 2:
                    key = float(e)
                elif kind == 0:
                    key = float(scratch[1, e])
                elif kind == 3:
                    key = u_shared[perm, e]
                else:
                    key = float((e - rot) % k)
                r = m_rank[m, e]
                if first < 0 or r < first_rank or (r == first_rank and key < first_key):
                    first = e
                    first_rank = r
                    first_key = key
                if seg_up[s, e] and (final < 0 or r < best_rank
                                     or (r == best_rank and key < best_key)):
                    final = e
                    best_rank = r
                    best_key = key
            if first < 0:
                first = k
                final = k
            elif not seg_up[s, first]:
                first_down[m] += 1
                if not m_failover[m]:
                    final = k + 1
                elif final < 0:
                    final = k
        else:
            # a draw: by weight (draw 1) or uniform (draw 0; draw 3 with a uniform permutation
            # fresh for this call: its first record is uniform over the best tier). The first try is
            # drawn over the best tier; if that target is dead, a client with failover draws
            # again among the live records of the best tier that has any -- the first live
            # record of a successive weighted draw has exactly that distribution
            if m_rule[m] == 1 and view >= 0:
                u0 = u_shared[view, 0]
                u1 = u_shared[view, 1]
            else:
                u0 = u_call[i, 0]
                u1 = u_call[i, 1]
            first = _pick(m_rank, m_eligible, m_weight, seg_up, m, 0, s, False, u0, k)
            final = first
            if first < k and not seg_up[s, first]:
                first_down[m] += 1
                if m_failover[m]:
                    final = k
                    for r in range(k):
                        final = _pick(m_rank, m_eligible, m_weight, seg_up, m, r, s, True,
                                      u1, k)
                        if final < k:
                            break
                else:
                    final = k + 1
        b = int(ti / width)
        if b >= nbins:
            b = nbins - 1
        bins[b, final] += 1
        by_model[m, final] += 1
        if decided_by >= 0:
            clusters[decided_by, final] += 1
        else:
            singles[final] += 1
        if write == 1:
            out_choice[i] = final
            out_cluster[i] = decided_by
    done: int = t.shape[0]
    return done


# -- the run ----------------------------------------------------------------------------------

@dataclass
class FleetResult:
    """What the fleet did: counts per time bin and target, per model, and the clusters."""

    rs: RecordSet
    config: FleetConfig
    calls: int
    bins: np.ndarray  # (bins, targets + 2): (none), (failed) last
    by_model: np.ndarray  # (models, targets + 2)
    models: list[str]
    first_down: np.ndarray  # per model: calls whose first try was a dead target
    clusters: np.ndarray  # (shared decisions, targets + 2)
    singles: np.ndarray  # targets + 2: calls decided on their own
    authoritative_queries: int
    resolver_queries: int
    seconds: float
    choices: np.ndarray | None = None  # per call, when asked for
    cluster_of_call: np.ndarray | None = None
    times: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [*self.rs.targets, NONE, FAILED]

    @property
    def totals(self) -> np.ndarray:
        return np.asarray(self.bins.sum(axis=0))

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else float("inf")

    def expected(self, *, with_outages: bool = True) -> np.ndarray:
        return fleet_expected(self.rs, self.config, with_outages=with_outages)

    def configured(self, policy: str | None = None) -> np.ndarray:
        """The split as configured, read under ``policy`` (default: the RFC reading of the
        record kind: RFC 3403 for NAPTR, RFC 2782 for SRV, equal shares for a pool)."""
        p = get_policy(policy or _RFC[self.rs.kind], self.rs.kind)
        return np.append(p.first_choice(self.rs), 0.0)

    def test(self, against: np.ndarray | None = None, alpha: float = 0.05) -> Any:
        """The clustered test of the delivered calls against ``against`` (default: the
        fleet's own expected split), over the targets only."""
        from .stats import clustered_compare

        k = len(self.rs.entries)
        exp = self.expected() if against is None else np.asarray(against, dtype=float)
        target_exp = exp[:k] / exp[:k].sum() if exp[:k].sum() > 0 else exp[:k]
        return clustered_compare(self.clusters[:, :k], target_exp, singles=self.singles[:k],
                                 labels=self.rs.targets, alpha=alpha)

    def shares_over_time(self) -> Any:
        """A DataFrame: one row per time bin (its start, seconds), one column per target (short
        names) plus (none)/(failed) when they occur: the share of that bin's calls."""
        import pandas as pd

        from ..core.records import short_label

        width = self.config.duration / self.config.bins
        totals = self.bins.sum(axis=1, keepdims=True)
        share = np.divide(self.bins, totals, out=np.zeros(self.bins.shape, dtype=float),
                          where=totals > 0)
        frame = pd.DataFrame(share, columns=[short_label(x) for x in self.labels],
                             index=pd.Index(np.arange(self.config.bins) * width, name="t_s"))
        keep = [c for c, col in zip(frame.columns, self.bins.T, strict=True)
                if c not in (NONE, FAILED) or col.any()]
        return frame[keep]

    def per_model_table(self) -> Any:
        """One row per client model: its calls, the calls whose first try was a dead target
        (delayed by a failover, or failed), and the calls that failed."""
        import pandas as pd

        return pd.DataFrame({"calls": self.by_model.sum(axis=1),
                             "tried a dead target first": self.first_down,
                             "failed": self.by_model[:, -1]},
                            index=pd.Index(self.models, name="model"))

    def table(self, configured_policy: str | None = None) -> Any:
        """Per target: calls, the long-run share, the fleet's expected share and the
        configured one."""
        import pandas as pd

        from ..core.records import short_label

        totals = self.totals
        frame = pd.DataFrame({
            "calls": totals.astype(np.int64),
            "share": totals / max(self.calls, 1),
            "expected": self.expected(),
            "configured": self.configured(configured_policy),
        }, index=pd.Index([short_label(x) for x in self.labels], name="target"))
        drop = [lab for lab, tot, exp in zip(frame.index, totals, frame["expected"], strict=True)
                if lab in (NONE, FAILED) and not tot and not exp]
        return frame.drop(index=drop)

    def to_dict(self, configured_policy: str | None = None) -> dict[str, Any]:
        k = len(self.rs.entries)
        configured = self.configured(configured_policy)
        expected = self.expected()
        test_model = self.test(expected)
        test_conf = self.test(configured)
        return {
            "targets": self.rs.targets, "kind": self.rs.kind, "calls": self.calls,
            "config": _config_dict(self.config),
            "split": [{"target": lab, "calls": int(self.totals[i]),
                       "share": float(self.totals[i] / max(self.calls, 1)),
                       "expected": float(expected[i]),
                       "configured": float(configured[i]) if i < len(configured) else 0.0}
                      for i, lab in enumerate(self.labels)],
            "per_model": {name: {"calls": int(self.by_model[j].sum()),
                                 "split": {lab: int(self.by_model[j, i])
                                           for i, lab in enumerate(self.labels)
                                           if self.by_model[j, i]},
                                 "first_try_dead": int(self.first_down[j])}
                          for j, name in enumerate(self.models)},
            "dns": {"authoritative_queries": self.authoritative_queries,
                    "resolver_queries": self.resolver_queries},
            "test_against_expected": test_model.to_dict(),
            "test_against_configured": test_conf.to_dict(),
            "shared_decisions": int((self.clusters[:, :k].sum(axis=1) > 0).sum()),
            "simulated_calls_per_second": self.calls_per_second,
            "notes": self.notes,
        }


def _config_dict(c: FleetConfig) -> dict[str, Any]:
    return {"clients": {n: k for n, k in c.clients}, "rate": c.rate, "duration": c.duration,
            "ttl": c.ttl, "negative_ttl": c.negative_ttl, "resolver": c.resolver,
            "server_order": c.server_order, "resolver_order": c.resolver_order,
            "down": [{"target": o.target, "start": o.start, "end": o.end} for o in c.down],
            "nxdomain": [list(w) for w in c.nxdomain], "bins": c.bins}


def _model_arrays(rs: RecordSet, models: list[FleetModel]) -> dict[str, np.ndarray]:
    k = len(rs.entries)
    n = len(models)
    rule = np.zeros(n, dtype=np.int8)
    caches = np.zeros(n, dtype=np.bool_)
    failover = np.zeros(n, dtype=np.bool_)
    rank = np.zeros((n, k), dtype=np.int64)
    eligible = np.zeros((n, k), dtype=np.bool_)
    draw = np.zeros(n, dtype=np.int8)
    weight = np.ones((n, k), dtype=np.float64)
    codes = {"uniform": 0, "weights": 1, "first-listed": 2}
    for j, m in enumerate(models):
        rule[j] = {"per-call": 0, "sticky": 1, "answer-order": 2}[m.rule]
        caches[j] = rs.kind in m.caches
        failover[j] = m.failover
        if m.rule == "answer-order":
            draw[j] = 3
            keys = answer_rank(rs)
            ranks = {key: r for r, key in enumerate(sorted(set(keys)))}
            rank[j] = [ranks[key] for key in keys]
            eligible[j] = True
            continue
        policy = m.policy(rs.kind)
        for r, tier in enumerate(policy._eligible_tiers(rs)):
            for e in tier:
                rank[j, e] = r
                eligible[j, e] = True
            if policy.draw == "srv-inclusive":
                # RFC 2782's r = 0 case gives the weight-0 records (or, with none, the first
                # of a random arrangement) one more unit: first choices exact (s4 "Usage rules")
                w = np.array([rs.entries[e].value for e in tier], dtype=float)
                pool = w == 0 if (w == 0).any() else np.ones(len(tier), dtype=bool)
                w = w + pool / pool.sum()
            elif policy.draw == "weights":
                w = np.array([policy.weight_of(rs.entries[e]) for e in tier], dtype=float)
                if w.sum() <= 0:
                    w = np.ones(len(tier))
            else:
                w = np.ones(len(tier))
            weight[j, tier] = w
        draw[j] = 1 if policy.draw == "srv-inclusive" else codes[policy.draw]
    return {"rule": rule, "caches": caches, "failover": failover, "rank": rank,
            "eligible": eligible, "draw": draw, "weight": weight}


def run_fleet(rs: RecordSet, config: FleetConfig, *, seed: int | None = None,
              keep_calls: bool = False, progress: bool = False, jit: bool | None = None
              ) -> FleetResult:
    """Simulate the fleet; see the module docstring. ``keep_calls`` also returns each call's
    time, outcome and shared-decision id (memory grows with the calls)."""
    import time

    config.check(rs)
    rng = np.random.default_rng(seed)
    k = len(rs.entries)
    models = [MODELS[name] for name, _ in config.clients]
    arrays = _model_arrays(rs, models)
    c_model = np.repeat(np.arange(len(models), dtype=np.int64),
                        [count for _, count in config.clients])
    n_clients = c_model.size
    seg_start, seg_up = _segments(rs, config)
    nx = sorted(config.nxdomain)
    nx_start = np.array([a for a, _ in nx], dtype=np.float64)
    nx_end = np.array([b for _, b in nx], dtype=np.float64)
    conf_f = np.array([config.ttl, config.negative_ttl, config.duration / config.bins])
    conf_i = np.array([config.resolver == "shared", SERVER_ORDERS.index(config.server_order),
                       RESOLVER_ORDERS.index(config.resolver_order), keep_calls],
                      dtype=np.int64)
    client_exp = np.full(n_clients, -np.inf)
    client_src = np.full(n_clients, -1, dtype=np.int64)
    client_rot = np.zeros(n_clients, dtype=np.int64)
    client_kind = np.zeros(n_clients, dtype=np.int64)
    client_neg = np.zeros(n_clients, dtype=np.bool_)
    scratch = np.zeros((2, k), dtype=np.int64)
    client_view = np.full(n_clients, -1, dtype=np.int64)
    state_f = np.array([-np.inf])
    state_i = np.zeros(10, dtype=np.int64)
    state_i[0] = -1
    state_i[4] = int(rng.integers(0, k))  # where BIND's cyclic counter happens to stand
    bins = np.zeros((config.bins, k + 2), dtype=np.int64)
    by_model = np.zeros((len(models), k + 2), dtype=np.int64)
    first_down = np.zeros(len(models), dtype=np.int64)
    singles = np.zeros(k + 2, dtype=np.int64)
    clusters = np.zeros((0, k + 2), dtype=np.int64)
    width = max(k, 2)
    u_shared = np.zeros((0, width))
    expected_calls = config.rate * config.duration
    use_jit = (numba_available() and expected_calls >= JIT_MIN_CALLS) if jit is None else (
        jit and numba_available())
    run = kernel(_fleet_kernel, use_jit)
    kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=round(expected_calls), unit="call", desc="fleet")
    started = time.perf_counter()
    now = 0.0
    calls = 0
    while True:
        size = int(min(CHUNK, max(1024, (config.duration - now) * config.rate * 1.05 + 64)))
        times = now + np.cumsum(rng.standard_exponential(size)) / config.rate
        done = times[-1] >= config.duration
        if done:
            times = times[: int(np.searchsorted(times, config.duration))]
        if times.size:
            now = float(times[-1])
            who = rng.integers(0, n_clients, times.size)
            # a third column for the resolver's random rotation ("rotate") only: the other
            # orders keep the random stream they always had
            u_call = rng.random((times.size, 3 if config.resolver_order == "rotate" else 2))
            out_choice = np.empty(times.size if keep_calls else 0, dtype=np.int8)
            out_cluster = np.empty(times.size if keep_calls else 0, dtype=np.int64)
            pos = 0
            while pos < times.size:
                if int(state_i[3]) + 2 > clusters.shape[0]:
                    grow = max(4096, clusters.shape[0])
                    clusters = np.concatenate([clusters, np.zeros((grow, k + 2), np.int64)])
                    u_shared = np.concatenate([u_shared, rng.random((grow, width))])
                pos += run(times[pos:], who[pos:], u_call[pos:], u_shared, c_model,
                           arrays["rule"], arrays["caches"], arrays["failover"],
                           arrays["rank"], arrays["eligible"], arrays["draw"],
                           arrays["weight"], conf_f, conf_i, nx_start, nx_end, seg_start,
                           seg_up, client_exp, client_src, client_rot, client_kind,
                           client_neg, client_view, scratch, state_f, state_i, bins,
                           by_model, first_down, clusters, singles, out_choice[pos:],
                           out_cluster[pos:])
            if keep_calls:
                kept.append((times, out_choice, out_cluster))
            calls += times.size
            if bar is not None:
                bar.update(times.size)
        if done:
            break
    seconds = time.perf_counter() - started
    if bar is not None:
        bar.close()
    used = int(state_i[3])
    result = FleetResult(rs, config, calls, bins, by_model, [m.name for m in models],
                         first_down, clusters[:used], singles, int(state_i[8]),
                         int(state_i[9]), seconds)
    if keep_calls and kept:
        result.times = np.concatenate([x[0] for x in kept])
        result.choices = np.concatenate([x[1] for x in kept])
        result.cluster_of_call = np.concatenate([x[2] for x in kept])
    if any(o.start < config.duration < o.end for o in config.down):
        result.notes.append("an outage runs past the end of the simulated time")
    if config.nxdomain:
        result.notes.append("the expected shares leave the NXDOMAIN windows out: the (none) "
                            "calls are theirs, stretched by caching (up to a TTL late, a "
                            "negative TTL long)")
    return result


def parse_down(text: str, targets: Sequence[str]) -> Outage:
    """``server1@600-900``: a target (full name or a unique part) down from 600 s to 900 s."""
    name, sep, window = text.rpartition("@")
    if not sep or not name:
        raise InputError(f"--down {text!r}: write TARGET@START-END, e.g. server1@600-900",
                         subject=text)
    start, end = parse_window(window, f"--down {text}")
    return Outage(resolve_target(name, targets), start, end)


def parse_window(text: str, what: str) -> tuple[float, float]:
    """``600-900`` (seconds) -> (600.0, 900.0)."""
    a, sep, b = text.partition("-")
    try:
        start, end = float(a), float(b)
    except ValueError:
        raise InputError(f"{what}: the window must be START-END in seconds, e.g. 600-900",
                         subject=text) from None
    if not sep or not (math.isfinite(start) and math.isfinite(end)) or not 0 <= start < end:
        raise InputError(f"{what}: the window must be START-END in seconds with 0 <= START < "
                         "END", subject=text)
    return start, end


def resolve_target(name: str, targets: Sequence[str]) -> str:
    """A target by full name or a unique part of it (``server1``)."""
    if name in targets:
        return name
    hits = [t for t in targets if name in t]
    if len(hits) == 1:
        return hits[0]
    raise InputError(f"{name!r} {'matches several targets' if hits else 'is not a target'} "
                     f"of this record set ({', '.join(targets)})", subject=name)


def parse_clients(text: str) -> tuple[tuple[str, int], ...]:
    """``kamailio:10,rfc:5`` -> (("kamailio", 10), ("rfc", 5)); a bare name means 1."""
    out: list[tuple[str, int]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, count = part.partition(":")
        if name not in MODELS:
            raise InputError(f"unknown client model {name!r} in {text!r}; choose from "
                             f"{', '.join(MODELS)}", subject=name)
        try:
            n = int(count) if count else 1
        except ValueError:
            n = 0
        if n <= 0:
            raise InputError(f"{part!r}: the number of clients must be a whole number above 0",
                             subject=part)
        out.append((name, n))
    if not out:
        raise InputError("no clients given; e.g. --clients kamailio:10,rfc:5", subject=text)
    return tuple(out)


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``6h``, ``1d`` -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    body, unit = (text[:-1], units[text[-1]]) if text and text[-1] in units else (text, 1)
    try:
        value = float(body) * unit
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"a duration such as 90, 15m, 6h or 1d, not {text!r}", subject=text)
    return value


def record_set_ttl(name: str, lookup: Any, rs: RecordSet) -> int | None:
    """The TTL of the record set ``name`` as the lookup serves it (None if not known)."""
    from ..core.e164 import to_enum_domain

    if rs.kind == "a":
        answers = [lookup.query(name, "A"), lookup.query(name, "AAAA")]
    elif name.startswith("+") or name.replace(" ", "").isdigit():
        answers = [lookup.query(to_enum_domain(name), "NAPTR")]
    else:
        answers = [lookup.query(name, "SRV" if name.startswith("_") else "NAPTR")]
    ttls = [r.ttl for a in answers for r in a.records if getattr(r, "ttl", 0)]
    return min(ttls) if ttls else None

