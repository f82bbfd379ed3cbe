"""Simulator throughput: selections/s per policy vs raw numpy Generator.choice, same run.

Target (issue 5): >= 10 million selections/s on one core for a 3-record set, and within 2x of
``Generator.choice`` on the same probabilities (ratio >= 0.5).
"""

from __future__ import annotations

import time

import numpy as np

from enumlab.core.policies import Entry, RecordSet, get_policy
from enumlab.split.simulate import simulate

N = 10_000_000
SEED_913 = RecordSet((Entry("server1", 10, 100), Entry("server2", 10, 100),
                      Entry("server3", 10, 200)))


def best_of(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run() -> dict[str, object]:
    rng = np.random.default_rng(0)
    out: dict[str, object] = {"n": N}
    for name in ("rfc3403", "weighted", "3gpp", "srv"):
        policy = get_policy(name)
        p = policy.expected(SEED_913)[:3]
        live = np.flatnonzero(p > 0)
        probs = p[live] / p[live].sum()
        baseline = best_of(lambda live=live, probs=probs: rng.choice(live.size, N, p=probs))
        ours = best_of(lambda name=name: simulate(SEED_913, N, name, rng))
        random_failures = best_of(
            lambda name=name: simulate(SEED_913, N // 10, name, rng, failures={"server1": 0.1}),
            repeat=1) * 10
        out[name] = {
            "million_per_s": round(N / ours / 1e6, 1),
            "choice_million_per_s": round(N / baseline / 1e6, 1),
            "ratio_to_choice": round(baseline / ours, 2),
            "with_random_failures_million_per_s": round(N / random_failures / 1e6, 1),
        }
    out["target"] = ">= 10 M/s and ratio >= 0.5"
    return out
