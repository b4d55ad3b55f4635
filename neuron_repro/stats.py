"""Small statistics every family uses: the majority-class share of a test set and the Wilson
interval of an accuracy."""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest


def majority_share(labels) -> float:
    """The share of the larger class among binary ``labels`` (0 / 1): what always answering
    that class scores."""
    mean = np.mean(labels)
    return float(max(mean, 1 - mean))


def wilson_interval(n_correct: int, n: int) -> list[float]:
    """The 95 % Wilson score interval of ``n_correct`` of ``n``, in percent."""
    ci = binomtest(int(n_correct), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return [100 * ci.low, 100 * ci.high]
