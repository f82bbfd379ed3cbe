"""Is an observed split the expected one? Goodness-of-fit, intervals and power.

* :func:`compare` -- chi-square goodness of fit and the G-test (scipy), per-target Wilson
  intervals, the maximum absolute deviation of shares;
* :func:`required_sample_size` / :func:`power` -- how many selections it takes to detect a given
  departure from the expected split at a given alpha and power (non-central chi-square, Cohen's
  effect size w);
* :func:`observed_counts` -- counts from data gathered elsewhere: a list of chosen targets, a
  pandas Series/DataFrame column, or a CSV file (e.g. targets pulled from a SIP log or capture).

Categories whose expected share is zero are left out of the tests; an observation in one of them
is reported as ``impossible`` and makes the p-value 0 (the split cannot be the expected one).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sps

from .errors import InputError


@dataclass(frozen=True)
class TestResult:
    statistic: float
    p_value: float

    def to_dict(self) -> dict[str, float]:
        return {"statistic": self.statistic, "p_value": self.p_value}


@dataclass(frozen=True)
class SplitReport:
    """Observed vs expected, per target and overall."""

    labels: list[str]
    observed: np.ndarray
    expected_share: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    chi2: TestResult
    g_test: TestResult
    max_abs_deviation: float
    impossible: list[str]
    alpha: float = 0.05

    @property
    def n(self) -> int:
        return int(self.observed.sum())

    @property
    def observed_share(self) -> np.ndarray:
        return self.observed / max(self.n, 1)

    def consistent(self, alpha: float | None = None) -> bool:
        """True when neither test rejects the expected split at ``alpha``."""
        a = self.alpha if alpha is None else alpha
        return self.chi2.p_value >= a and self.g_test.p_value >= a

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for i, label in enumerate(self.labels):
            if label == "(none)" and self.observed[i] == 0 and self.expected_share[i] == 0:
                continue
            rows.append({
                "target": label,
                "observed": int(self.observed[i]),
                "observed_share": float(self.observed_share[i]),
                "expected_share": float(self.expected_share[i]),
                "ci_low": float(self.ci_low[i]),
                "ci_high": float(self.ci_high[i]),
            })
        return {
            "targets": rows,
            "chi2": self.chi2.to_dict(),
            "g_test": self.g_test.to_dict(),
            "max_abs_deviation": self.max_abs_deviation,
            "impossible": self.impossible,
        }


def wilson_interval(k: np.ndarray | int, n: int, alpha: float = 0.05
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial share k/n (Wilson 1927)."""
    k = np.asarray(k, dtype=float)
    if n <= 0:
        return np.zeros_like(k), np.ones_like(k)
    z = float(sps.norm.ppf(1 - alpha / 2))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def compare(observed: Sequence[int] | np.ndarray, expected_share: Sequence[float] | np.ndarray,
            *, labels: Sequence[str] | None = None, alpha: float = 0.05) -> SplitReport:
    """Test observed counts against expected shares (chi-square and G-test)."""
    obs = np.asarray(observed, dtype=float)
    exp = np.asarray(expected_share, dtype=float)
    if obs.shape != exp.shape or obs.ndim != 1:
        raise InputError("observed and expected need one value per target", subject=obs.shape)
    if np.any(obs < 0) or np.any(exp < 0):
        raise InputError("counts and shares cannot be negative", subject=obs)
    if not np.isclose(exp.sum(), 1.0, atol=1e-6):
        raise InputError(f"expected shares sum to {exp.sum():.6f}, not 1", subject=exp)
    n = int(obs.sum())
    if n == 0:
        raise InputError("no observations to test", subject=obs)
    names = list(labels) if labels is not None else [str(i) for i in range(len(obs))]
    possible = exp > 0
    impossible = [names[i] for i in np.flatnonzero(~possible & (obs > 0))]
    if impossible:
        chi2 = TestResult(float("inf"), 0.0)
        g = TestResult(float("inf"), 0.0)
    elif possible.sum() < 2:
        chi2 = g = TestResult(0.0, 1.0)  # one possible outcome, and every observation in it
    else:
        f_exp = exp[possible] * n
        c = sps.chisquare(obs[possible], f_exp)
        gt = sps.power_divergence(obs[possible], f_exp, lambda_="log-likelihood")
        chi2 = TestResult(float(c.statistic), float(c.pvalue))
        g = TestResult(float(gt.statistic), float(gt.pvalue))
    low, high = wilson_interval(obs, n, alpha)
    return SplitReport(names, obs.astype(np.int64), exp, low, high, chi2, g,
                       float(np.max(np.abs(obs / n - exp))), impossible, alpha)


def effect_size(expected_share: Sequence[float], alternative_share: Sequence[float]) -> float:
    """Cohen's w between the expected split and an alternative."""
    p0 = np.asarray(expected_share, dtype=float)
    p1 = np.asarray(alternative_share, dtype=float)
    keep = p0 > 0
    return float(np.sqrt(np.sum((p1[keep] - p0[keep]) ** 2 / p0[keep])))


def shifted(expected_share: Sequence[float], deviation: float, source: int = 0,
            sink: int | None = None) -> np.ndarray:
    """An alternative split: move ``deviation`` of share from ``source`` to ``sink``."""
    p = np.array(expected_share, dtype=float)
    if sink is None:
        sink = next(i for i in range(len(p)) if i != source and p[i] > 0)
    if not 0 < deviation <= p[source]:
        raise InputError(f"deviation {deviation} must be in (0, {p[source]}]", subject=deviation)
    p[source] -= deviation
    p[sink] += deviation
    return p


def power(n: int, expected_share: Sequence[float], alternative_share: Sequence[float],
          alpha: float = 0.05) -> float:
    """Probability that the chi-square test at ``alpha`` rejects the expected split when the
    true split is ``alternative_share`` and ``n`` selections are observed."""
    df = int(np.sum(np.asarray(expected_share) > 0)) - 1
    if df < 1:
        return 0.0
    w = effect_size(expected_share, alternative_share)
    critical = sps.chi2.ppf(1 - alpha, df)
    return float(sps.ncx2.sf(critical, df, n * w * w))


def required_sample_size(expected_share: Sequence[float], alternative_share: Sequence[float],
                         alpha: float = 0.05, target_power: float = 0.8) -> int:
    """Smallest n with :func:`power` >= ``target_power``."""
    if not 0 < alpha < 1 or not 0 < target_power < 1:
        raise InputError("alpha and power must be between 0 and 1", subject=(alpha, target_power))
    if effect_size(expected_share, alternative_share) == 0:
        raise InputError("the alternative equals the expected split: no n can tell them apart",
                         subject=alternative_share)
    hi = 2
    while power(hi, expected_share, alternative_share, alpha) < target_power:
        hi *= 2
        if hi > 1 << 40:
            raise InputError("the deviation is too small to detect", subject=alternative_share)
    lo = hi // 2
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if power(mid, expected_share, alternative_share, alpha) >= target_power:
            hi = mid
        else:
            lo = mid
    return hi


def observed_counts(data: Any, targets: Sequence[str], *, column: str = "target"
                    ) -> np.ndarray:
    """Counts per target (plus ``(none)`` last) from chosen targets gathered elsewhere.

    ``data`` may be an iterable of target strings, a pandas Series, a DataFrame with
    ``column``, or the path of a CSV file with that column. A target that is not in the record
    set raises :class:`InputError` naming it -- it usually means the wrong record set.
    """
    values: Iterable[Any]
    if isinstance(data, (str, Path)):
        import pandas as pd

        path = Path(data)
        if not path.is_file():
            raise InputError(f"CSV file {path} does not exist", subject=str(path))
        frame = pd.read_csv(path)
        if column not in frame.columns:
            raise InputError(f"{path} has no {column!r} column (columns: "
                             f"{', '.join(map(str, frame.columns))})", subject=str(path))
        values = frame[column]
    elif hasattr(data, "columns"):
        if column not in data.columns:
            raise InputError(f"the DataFrame has no {column!r} column", subject=column)
        values = data[column]
    else:
        values = data
    counts = Counter(str(v) for v in values)
    labels = [*targets, "(none)"]
    unknown = sorted(set(counts) - set(labels))
    if unknown:
        raise InputError(f"observed targets not in the record set: {', '.join(unknown[:5])}",
                         subject=unknown)
    return np.array([counts.get(label, 0) for label in labels], dtype=np.int64)
