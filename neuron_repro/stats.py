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


def wilson_interval(n_correct: int, n: int) -> list[float]:
    """The 95 % Wilson score interval of ``n_correct`` of ``n``, in percent."""
    ci = binomtest(int(n_correct), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return [100 * ci.low, 100 * ci.high]


def binomial_interval(n_correct: int, n: int) -> Interval:
    """The Wilson interval of an accuracy of ``n_correct`` in ``n`` test items, in percent:
    test-set sampling."""
    low, high = wilson_interval(n_correct, n)
    return Interval(low, high, "binomial", n=int(n), note="Wilson, test-set sampling")


def fold_interval(values) -> Interval:
    """The t interval of the mean of per-fold values (``n - 1`` degrees of freedom): the
    spread over folds. One fold, or folds that all agree, give a zero-width interval."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        raise ValueError("no fold has a value")
    mean = float(values.mean())
    if len(values) == 1:
        return Interval(mean, mean, "folds", n=1, note="one fold: no spread")
    half = float(t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return Interval(mean - half, mean + half, "folds", n=len(values),
                    note="t interval of the fold mean")
