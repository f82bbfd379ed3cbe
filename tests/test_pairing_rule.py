"""The pairing rule for questions seen several times (retransmissions over one or several
ports, answers on another port, duplicates, answers after the window) runs as one kernel over
messages grouped by question, compiled for many rows: it must give exactly the transactions of
the plain sequential rule it replaced (kept here as the reference), interpreted and compiled."""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

import numpy as np
import pytest

import enumlab.capture.transactions as dt
from enumlab.capture.columns import factorize
from enumlab.capture.jit import kernel, numba_available


def _reference(qr: np.ndarray, *cols: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The former sequential rule, one message at a time in capture order."""
    client, server, client_port, server_port, dns_id, qname, time = cols
    txns: list[list[Any]] = []
    open_by_question: dict[tuple[int, ...], list[Any]] = {}
    waiting: dict[tuple[int, ...], deque[list[Any]]] = defaultdict(deque)
    answered: dict[tuple[int, ...], list[Any]] = {}
    for i in range(len(qr)):
        question = (int(client[i]), int(server[i]), int(dns_id[i]), int(qname[i]))
        exact = (*question, int(client_port[i]), int(server_port[i]))
        if not qr[i]:
            earlier = open_by_question.get(question)
            if (earlier is not None and earlier[1] < 0
                    and time[i] - earlier[4] <= dt.RETRY_WINDOW):
                earlier[2] += 1
                queue = waiting[exact]
                if not any(t is earlier for t in queue):
                    queue.append(earlier)
                continue
            txn = [i, -1, 0, 0, float(time[i]), 0.0]
            txns.append(txn)
            open_by_question[question] = txn
            waiting[exact].append(txn)
            continue
        queue = waiting.get(exact, deque())
        while queue and queue[0][1] >= 0:
            queue.popleft()
        if queue:
            txn = queue.popleft()
            txn[1], txn[5] = i, float(time[i])
            answered[exact] = txn
            continue
        first = answered.get(exact)
        if first is not None and time[i] - first[5] <= dt.RETRY_WINDOW:
            first[3] += 1
    return sorted((t[0], t[1], t[2], t[3]) for t in txns)


def _kernel(rule: Any, qr: np.ndarray, *cols: np.ndarray) -> list[tuple[int, int, int, int]]:
    client, server, client_port, server_port, dns_id, qname, time = cols
    group, _ = factorize(client, server, dns_id, qname)
    order = np.argsort(group, kind="stable")
    k = len(qr)
    out = [np.zeros(k, dtype=np.int64) for _ in range(4)]
    scratch = [np.zeros(k, dtype=np.int64) for _ in range(7)]
    times = [np.zeros(k, dtype=np.float64) for _ in range(2)]
    made = rule(group[order], qr[order], client_port[order], server_port[order], time[order],
                dt.RETRY_WINDOW, *out, *scratch, *times)
    q, r, x, d = (a[:made] for a in out)
    return sorted(zip(order[q].tolist(), np.where(r >= 0, order[np.maximum(r, 0)], -1).tolist(),
                      x.tolist(), d.tolist(), strict=True))


def _messages(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """Few questions (2 clients, 2 servers, 3 ids, 2 names), few ports, times that reach past
    the window: retransmissions, answers on other ports, late and repeated answers."""
    qr = rng.random(n) < 0.5
    cols = [rng.integers(0, 2, n), rng.integers(0, 2, n), rng.integers(5000, 5003, n),
            np.full(n, 53), rng.integers(0, 3, n), rng.integers(0, 2, n)]
    time = np.cumsum(rng.exponential(2.0, n))
    return (qr, *[c.astype(np.int64) for c in cols], time)


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_grouped_kernel_pairs_as_the_sequential_rule(seed: int, compiled: bool) -> None:
    if compiled and not numba_available():
        pytest.skip("numba not installed")
    rule = kernel(dt.pair_groups, compiled)
    qr, *cols = _messages(np.random.default_rng(seed), 400)
    want = _reference(qr, *cols)
    assert any(t[2] for t in want) and any(t[3] for t in want) and any(t[1] < 0 for t in want)
    assert _kernel(rule, qr, *cols) == want
