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

from ..core.errors import InputError


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


# -- clustered choices ------------------------------------------------------------------------

@dataclass(frozen=True)
class ClusteredReport:
    """Observed vs expected when calls come in clusters that share one decision.

    A proxy that resolves once per TTL and sends every call of that epoch to the target the
    answer put first makes each *epoch* one random draw, however many calls it carries. The
    calls are then not independent, and the chi-square on calls (``naive``) -- which assumes
    they are -- calls a perfectly correct split "biased" once enough calls pile up. The
    Rao-Scott first-order correction (Rao & Scott 1981, J. Am. Stat. Assoc. 76:221) divides
    the statistic by the mean design effect ``delta`` estimated from the clusters themselves;
    ``effective_n`` = calls / delta is the number of independent draws the data is worth.
    ``independence`` asks whether calls that shared a decision went to the same target more
    often than independent draws would (chi-square test of independence of target and
    cluster): it rejects a per-call model for clustered data. ``epoch_level`` counts each
    cluster once, by the target most of its calls went to: exact
    when clusters are pure (``purity`` = 1) and every cluster follows the same split; it is
    left out (None) when some calls decided on their own, since a mix of single calls and
    big clusters from different clients need not share one split.
    """

    labels: list[str]
    observed: np.ndarray
    expected_share: np.ndarray
    clusters: int
    mean_cluster_size: float  # sum(n_j^2) / N: the size the average call sees
    design_effects: np.ndarray  # per target (nan where the expected share is 0 or 1)
    mean_design_effect: float
    icc: float
    naive: TestResult
    rao_scott: TestResult
    epoch_level: TestResult | None
    purity: float
    independence: TestResult | None  # target vs cluster, over clusters of 2+ calls
    impossible: list[str]
    alpha: float = 0.05
    design_effect_estimated: bool = True  # False: assumed all-or-nothing (see warnings)

    @property
    def n(self) -> int:
        return int(self.observed.sum())

    @property
    def effective_n(self) -> float:
        return self.n / self.mean_design_effect if self.mean_design_effect > 0 else float(self.n)

    @property
    def observed_share(self) -> np.ndarray:
        return self.observed / max(self.n, 1)

    def consistent(self, alpha: float | None = None) -> bool:
        """True when the clustered (Rao-Scott) test does not reject at ``alpha``."""
        return self.rao_scott.p_value >= (self.alpha if alpha is None else alpha)

    def naive_consistent(self, alpha: float | None = None) -> bool:
        return self.naive.p_value >= (self.alpha if alpha is None else alpha)

    def summary_row(self) -> dict[str, Any]:
        """The figures a reader compares across readings, formatted: naive, Rao-Scott and
        independence p-values, decisions, design effect."""
        independence = self.independence.p_value if self.independence else float("nan")
        return {"naive p": f"{self.naive.p_value:.2g}",
                "Rao-Scott p": f"{self.rao_scott.p_value:.2f}",
                "independence p": f"{independence:.2g}",
                "decisions": self.clusters, "design effect": f"{self.mean_design_effect:.1f}"}

    def warnings(self) -> list[str]:
        out = []
        if not self.design_effect_estimated:
            out.append("the design effect could not be estimated from these decisions; the "
                       "test assumes each decision sent all its calls to one target "
                       "(conservative)")
        elif self.clusters < 30:
            out.append(f"only {self.clusters} clusters (resolution epochs): the adjusted test "
                       "is approximate; look at the epoch-level counts")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets": [{"target": label, "observed": int(self.observed[i]),
                         "observed_share": float(self.observed_share[i]),
                         "expected_share": float(self.expected_share[i]),
                         "design_effect": _finite(self.design_effects[i])}
                        for i, label in enumerate(self.labels)],
            "calls": self.n, "clusters": self.clusters,
            "mean_cluster_size": self.mean_cluster_size,
            "design_effect": self.mean_design_effect, "icc": _finite(self.icc),
            "effective_n": self.effective_n,
            "naive_chi2": self.naive.to_dict(), "rao_scott_chi2": self.rao_scott.to_dict(),
            "epoch_level_chi2": self.epoch_level.to_dict() if self.epoch_level else None,
            "purity": self.purity,
            "independence_chi2": self.independence.to_dict() if self.independence else None,
            "impossible": self.impossible, "warnings": self.warnings(),
        }


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def clustered_compare(cluster_counts: np.ndarray, expected_share: Sequence[float] | np.ndarray,
                      *, singles: Sequence[int] | np.ndarray | None = None,
                      labels: Sequence[str] | None = None, alpha: float = 0.05
                      ) -> ClusteredReport:
    """Test counts that come in clusters against expected shares.

    ``cluster_counts`` has one row per cluster (a resolution epoch: the calls that shared one
    DNS answer or one decision) and one column per target; ``singles`` adds calls that decided
    on their own (clusters of one), given only as counts per target. The statistic is the
    Pearson chi-square on calls divided by the Rao-Scott mean design effect

        delta = N / (k - 1) * sum_i v_i / p_i,   v_i = m / (m - 1) * sum_j (y_ij - p^_i n_j)^2 / N^2

    (the linearised variance of the share p^_i over m clusters), referred to chi-square with
    k - 1 degrees of freedom. Targets whose expected share is 0 are left out; a call to one of
    them makes the split impossible (p = 0).
    """
    counts = np.asarray(cluster_counts, dtype=float)
    exp = np.asarray(expected_share, dtype=float)
    if counts.ndim != 2 or counts.shape[1] != exp.shape[0]:
        raise InputError("cluster counts need one column per target", subject=counts.shape)
    if not np.isclose(exp.sum(), 1.0, atol=1e-6) or np.any(exp < 0):
        raise InputError(f"expected shares must be >= 0 and sum to 1, not {exp.sum():.6f}",
                         subject=exp)
    k = exp.shape[0]
    one = np.zeros(k) if singles is None else np.asarray(singles, dtype=float)
    counts = counts[counts.sum(axis=1) > 0]
    observed = counts.sum(axis=0) + one
    n = float(observed.sum())
    if n == 0:
        raise InputError("no observations to test", subject=counts.shape)
    names = list(labels) if labels is not None else [str(i) for i in range(k)]
    sizes = counts.sum(axis=1)
    singles_n = float(one.sum())
    m = counts.shape[0] + int(singles_n)
    p_hat = observed / n
    possible = exp > 0
    impossible = [names[i] for i in np.flatnonzero(~possible & (observed > 0))]
    # linearised variance of each share over the clusters (singles: clusters of size 1)
    resid2 = ((counts - p_hat[None, :] * sizes[:, None]) ** 2).sum(axis=0)
    resid2 += one * (1 - p_hat) ** 2 + (singles_n - one) * p_hat ** 2
    v = resid2 / (n * n) * (m / (m - 1) if m > 1 else 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        deffs = np.where(possible & (exp < 1), v * n / (exp * (1 - exp)), np.nan)
    df = int(possible.sum()) - 1
    estimated = True
    if impossible:
        naive = rs = TestResult(float("inf"), 0.0)
        delta = float("nan")
    elif df < 1:
        naive = rs = TestResult(0.0, 1.0)
        delta = 1.0
    else:
        x2 = float(np.sum((observed[possible] - n * exp[possible]) ** 2 / (n * exp[possible])))
        delta = float(n / df * np.sum(v[possible] / exp[possible]))
        if m < 2 or not delta > 0:
            # one decision, or decisions that all split alike: the variance between them
            # cannot be estimated; assume all-or-nothing decisions (the largest design
            # effect clusters of this size can have) -- conservative
            delta = max(float((np.sum(sizes ** 2) + singles_n) / n), 1.0)
            estimated = False
        naive = TestResult(x2, float(sps.chi2.sf(x2, df)))
        adjusted = x2 / delta
        rs = TestResult(adjusted, float(sps.chi2.sf(adjusted, df)))
    # each cluster once, by its majority target
    majority = np.zeros(k)
    if counts.size:
        np.add.at(majority, counts.argmax(axis=1), 1)
    majority += one
    purity = float((counts.max(axis=1).sum() + singles_n) / n) if n else 1.0
    epoch: TestResult | None
    if singles_n:
        epoch = None
    elif impossible:
        epoch = TestResult(float("inf"), 0.0)
    elif df < 1:
        epoch = TestResult(0.0, 1.0)
    else:
        mm = majority.sum()
        x2e = float(np.sum((majority[possible] - mm * exp[possible]) ** 2
                           / (mm * exp[possible])))
        epoch = TestResult(x2e, float(sps.chi2.sf(x2e, df)))
    # do calls that shared a decision go to the same target more than independent draws
    # would? (chi-square test of independence of target and cluster)
    independence: TestResult | None = None
    multi = counts[sizes >= 2]
    if multi.shape[0] >= 2:
        multi = multi[:, multi.sum(axis=0) > 0]
        if multi.shape[1] < 2:
            independence = TestResult(0.0, 1.0)
        else:
            ct = sps.chi2_contingency(multi, correction=False)
            independence = TestResult(float(ct.statistic), float(ct.pvalue))
    mean_size = float((np.sum(sizes ** 2) + singles_n) / n)
    icc = (min(1.0, (delta - 1) / (mean_size - 1)) if mean_size > 1 and np.isfinite(delta)
           else float("nan"))  # the moment estimate can pass 1 by noise
    return ClusteredReport(names, observed.astype(np.int64), exp, m, mean_size, deffs, delta,
                           icc, naive, rs, epoch, purity, independence, impossible, alpha,
                           estimated)
