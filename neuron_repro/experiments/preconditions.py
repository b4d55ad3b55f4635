"""Whether the run's model has the thing a claim is about: a sentiment unit, or a classifier
with accuracy to lose.

A sentiment unit: the unit alone must beat the majority class on the test set (pooled over the
folds where there are folds) by a one-sided exact binomial test. A classifier: the clean
classifier must beat the majority class of its test set by a declared margin. Each statistic is
computed once per run and shown with every claim that depends on it, met or not.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import binomtest

from neuron_repro.stats import majority_share
from neuron_repro.verdicts import Precondition, PreconditionResult

# What each probe family gives a precondition, registered by the family's module (so that
# this module imports none of them): for a sentiment unit, a pair of functions, one giving
# ``(folds, test labels)`` of the family's probe on a dataset (one fold when it has one split)
# and one the datasets it probed in a run; for a classifier, ``(test accuracy, test labels)``
# of the family's clean classifier on a dataset and feature kind.
UNIT_PROBES: dict[str, tuple[Callable, Callable]] = {}
CLASSIFIERS: dict[str, Callable] = {}


def unit_beats_majority(n_correct: int, n: int, majority_share: float) -> float:
    """One-sided exact binomial p-value of ``n_correct`` of ``n`` against the majority rate."""
    return float(binomtest(n_correct, n, majority_share, alternative="greater").pvalue)


def check_precondition(ctx, pre: Precondition) -> PreconditionResult:
    """Evaluate ``pre`` on the run in ``ctx`` (memoised there)."""
    check = _classifier if pre.kind == "classifier" else _sentiment_unit
    return ctx.cached(("precondition", pre), lambda: check(ctx, pre))


def _trials(ctx, pre: Precondition) -> tuple[int, int, np.ndarray, str | None]:
    """(unit-alone correct, scored examples, test labels, why there is no unit)."""
    folds, labels = UNIT_PROBES[pre.probe][0](ctx, pre.dataset)
    missing = [f for f in folds if _no_unit(f)]
    if missing:
        why = next((n for n in missing[0].get("notes", []) if "kept no weight" in n),
                   "the probe kept no weight")
        where = f" (in {len(missing)} of {len(folds)} folds; the first said so)" \
            if len(folds) > 1 else ""
        return 0, len(labels), labels, f"{why}{where}"
    correct = sum(int(round(f["sentiment_unit_accuracy"] / 100 * f["n_test"])) for f in folds)
    return correct, len(labels), labels, None


def _no_unit(fold: dict) -> bool:
    accuracy = fold["sentiment_unit_accuracy"]
    return fold["sentiment_unit"] is None or accuracy is None or bool(np.isnan(accuracy))


def _sentiment_unit(ctx, pre: Precondition) -> PreconditionResult:
    correct, n, labels, why = _trials(ctx, pre)
    majority = majority_share(labels) if n else 1.0
    if why is not None:
        return PreconditionResult(pre, False, f"{why}; majority {100 * majority:.2f} %",
                                  {"majority_share": majority, "n": n,
                                   "short": "no: a probe kept no weight"})
    p = unit_beats_majority(correct, n, majority)
    summary = f"alone {100 * correct / n:.2f} %, majority {100 * majority:.2f} %, p = {p:.2g}"
    holds = p < pre.alpha
    return PreconditionResult(pre, holds, summary,
                              {"unit_alone_share": correct / n, "majority_share": majority,
                               "n": n, "p_value": p,
                               "short": f"{'yes' if holds else 'no'}: {summary}"})


def _classifier(ctx, pre: Precondition) -> PreconditionResult:
    accuracy, labels = CLASSIFIERS[pre.probe](ctx, pre.dataset, pre.features)
    majority = 100.0 * majority_share(labels)
    holds = bool(accuracy - majority >= pre.margin)
    summary = f"{accuracy:.2f} %, majority {majority:.2f} %"
    return PreconditionResult(pre, holds, summary,
                              {"accuracy": accuracy, "majority": majority,
                               "short": f"{'yes' if holds else 'no'}: {summary}"})


def unit_checks(ctx) -> list[dict]:
    """The sentiment-unit test of every dataset whose probe ran in ``ctx`` (each probe family
    it ran), for the report's summary."""
    for probe, (_, probed) in UNIT_PROBES.items():
        for dataset in probed(ctx):
            check_precondition(ctx, Precondition(dataset, probe))
    return [value.to_dict() for key, value in ctx.memo.items()
            if key[0] == "precondition" and key[1].kind == "sentiment_unit"]
