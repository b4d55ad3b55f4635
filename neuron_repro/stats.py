"""Small statistics every family uses: the majority-class share of a test set, and the 95 %
intervals a verdict is judged on (test-set sampling, folds)."""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest, t

from neuron_repro.verdicts import Interval


def majority_share(labels) -> float:
    """The share of the larger class among binary ``labels`` (0 / 1): what always answering
    that class scores."""
    mean = np.mean(labels)
    return float(max(mean, 1 - mean))


def wilson_interval(n_correct: int, n: int, level: float = 0.95) -> list[float]:
    """The Wilson score interval (95 % by default) of ``n_correct`` of ``n``, in percent."""
    ci = binomtest(int(n_correct), int(n)).proportion_ci(confidence_level=level,
                                                         method="wilson")
    return [100 * ci.low, 100 * ci.high]


def binomial_interval(n_correct: int, n: int) -> Interval:
    """The Wilson interval of an accuracy of ``n_correct`` in ``n`` test items, in percent:
    test-set sampling."""
    low, high = wilson_interval(n_correct, n)
    return Interval(low, high, "binomial", n=int(n), note="Wilson, test-set sampling")


def _t_interval(values, kind: str, level: float, note: str, spread: float = 1.0
                ) -> Interval:
    """``mean ± t(level, n - 1) * spread * sd / sqrt(n)`` over ``values`` (at least two)."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    half = float(t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) * spread
                 / np.sqrt(len(values)))
    return Interval(mean - half, mean + half, kind, level, len(values), note)


def fold_interval(values) -> Interval:
    """The t interval of the mean of per-fold values (``n - 1`` degrees of freedom): the
    spread over folds. One fold, or folds that all agree, give a zero-width interval."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        raise ValueError("no fold has a value")
    if len(values) == 1:
        return Interval(values[0], values[0], "folds", n=1, note="one fold: no spread")
    return _t_interval(values, "folds", 0.95, "t interval of the fold mean")


def _seeded(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if len(values) < 2 or np.isnan(values).any():
        raise ValueError(f"an interval over seeds needs at least two finite values, got "
                         f"{values}")
    return values


def seed_interval(values, level: float = 0.95, note: str = "") -> Interval:
    """The t interval of the mean over training seeds (``n - 1`` degrees of freedom). One seed
    has no spread to measure: refused, since a zero-width interval would claim certainty."""
    return _t_interval(_seeded(values), "seeds", level,
                       note or "t interval of the mean over seeds")


def prediction_interval(values, note: str = "") -> Interval:
    """Where one more training would fall, from the values of k trainings: ``mean ± t * sd *
    sqrt(1 + 1/k)`` (for a published number that is itself one training)."""
    values = _seeded(values)
    return _t_interval(values, "prediction", 0.95, note or "where one more training would "
                       f"fall, from {len(values)} trainings (t, sd times sqrt(1 + 1/k))",
                       spread=np.sqrt(len(values) + 1))


def median_interval(values) -> Interval:
    """A distribution-free interval of the median over seeds: the narrowest pair of order
    statistics around it whose exact coverage (from the binomial) is at least 95 %, or the
    smallest and largest value when even they fall short (its level then says how much they
    cover: 93.75 % for 5 seeds)."""
    from scipy.stats import binom

    values = np.sort(np.asarray(values, dtype=float))
    n = len(values)
    if n < 2 or np.isnan(values).any():
        raise ValueError(f"a median interval needs at least two finite values, got {values}")
    # [x(j+1), x(n-j)] covers the median with probability 1 - 2 P(Bin(n, 1/2) <= j)
    cover = {j: float(1 - 2 * binom.cdf(j, n, 0.5)) for j in range((n - 1) // 2 + 1)}
    j = max((j for j, c in cover.items() if c >= 0.95), default=0)
    return Interval(values[j], values[n - 1 - j], "seeds", cover[j], n,
                    f"order statistics {j + 1} and {n - j} of {n} seeds")


def proportion_interval(k: int, n: int, note: str, kind: str = "binomial",
                        level: float = 0.95) -> Interval:
    """The Wilson interval of a share of ``k`` in ``n`` independent draws (random subsets,
    or seeds: ``kind``), as a fraction."""
    low, high = wilson_interval(k, n, level)
    return Interval(low / 100, high / 100, kind, level, int(n), note)


def difference_interval(k1: int, n1: int, k2: int, n2: int, note: str) -> Interval:
    """Newcombe's hybrid score interval of the difference of two independent shares,
    ``k1/n1 - k2/n2``, in percentage points (Newcombe 1998, method 10)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = (v / 100 for v in wilson_interval(k1, n1))
    l2, u2 = (v / 100 for v in wilson_interval(k2, n2))
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Interval(100 * low, 100 * high, "binomial", n=int(n1 + n2), note=note)
