"""The sentiment-unit experiments of radford2017 and chada2017.

``probe_experiment`` runs the paper's L1 protocol on one dataset (train/dev/test splits, or
10-fold cross-validation for a pooled dataset) once per run and serves every claim that reads
it. ``zero_shot_experiment`` takes the sentiment unit and its sign from one dataset's probe
and classifies another dataset by the sign of that unit alone.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import train_test_split

from neuron_repro.experiments.preconditions import UNIT_PROBES
from neuron_repro.experiments.registry import Family, register_experiments, register_family
from neuron_repro.probes import (
    SEED,
    cross_validation_folds,
    map_with_cache,
    run_probe,
    summarise_folds,
    zero_shot_accuracy,
)
from neuron_repro.stats import (
    binomial_interval,
    fold_interval,
    majority_share,
    wilson_interval,
)
from neuron_repro.verdicts import Claim, FigureSpec, Measurement

DEV_SHARE = 0.1  # of train, for datasets that ship without a dev split (IMDB)


def probe_labels(ctx, name: str) -> np.ndarray:
    """The labels the probe of ``name`` is scored on: its test split, or its whole pool (the
    10 folds' test sets together)."""
    ds = ctx.dataset(name)
    return ds.pool.labels if ds.pool is not None else ds.splits["test"].labels


def _final_c(ctx, name: str, split: str) -> np.ndarray:
    return ctx.states(name, split)["final_c"]


def _fold(X, y, train, dev, test, solver="liblinear", device="cpu", cache=None):
    """One fold of the protocol."""
    return run_probe(X[train], y[train], X[dev], y[dev], X[test], y[test], cache=cache,
                     solver=solver, device=device)[0]


# Below this many scored examples an accuracy means little: its 95 % interval is wider than
# +-18 points. The probe still runs, and says so.
MIN_SCORED_EXAMPLES = 30


class SmallSplitWarning(UserWarning):
    """A probe trained or scored on too few examples for its accuracy to mean much."""


def _small_split_notes(name: str, n_train: int, n_scored: int) -> list[str]:
    notes = []
    if n_scored < MIN_SCORED_EXAMPLES:
        notes.append(f"{name}: only {n_scored} test examples (fewer than "
                     f"{MIN_SCORED_EXAMPLES}); the accuracies mean little")
    if n_train < MIN_SCORED_EXAMPLES:
        notes.append(f"{name}: only {n_train} training examples (fewer than "
                     f"{MIN_SCORED_EXAMPLES}); the probe is barely trained")
    return notes


def run_dataset_probe(ctx, name: str) -> dict:
    """The protocol on one dataset, once per run; returns the report's numbers."""
    solver = ctx.solver_for(name)  # noted for the claim being measured, cached or not
    return ctx.cached(("probe", name), lambda: _dataset_probe(ctx, name, solver))


def _dataset_probe(ctx, name: str, solver: str) -> dict:
    ds = ctx.dataset(name)
    if ds.pool is not None:
        X, y = _final_c(ctx, name, "pool"), ds.pool.labels
        # the folds are independent: with --jobs N they run in N processes (the engine
        # solves each fold's grid in one batch, in this process)
        folds = map_with_cache(_fold, [(X, y, *split, solver, ctx.device) for split in
                                       cross_validation_folds(y, n_folds=10, seed=SEED)],
                               ctx.fit_cache, 1 if solver == "engine" else ctx.jobs)
        out = summarise_folds(folds)
        out["protocol"] = "10-fold stratified cross-validation (seed 42); dev = next fold"
        out["folds"] = [f.to_dict() for f in folds]
        coef, X_test, y_test = None, X, y
    else:
        splits = ds.splits
        X_train = _final_c(ctx, name, "train")
        y_train = splits["train"].labels
        if "dev" in splits:
            X_dev, y_dev = _final_c(ctx, name, "dev"), splits["dev"].labels
            protocol = "given train/dev/test splits"
        else:
            idx_train, idx_dev = train_test_split(
                np.arange(len(y_train)), test_size=DEV_SHARE, random_state=SEED, stratify=y_train
            )
            X_dev, y_dev = X_train[idx_dev], y_train[idx_dev]
            X_train, y_train = X_train[idx_train], y_train[idx_train]
            protocol = f"dev = stratified {DEV_SHARE:.0%} of train (seed {SEED}), refit on the rest"
        X_test = _final_c(ctx, name, "test")
        y_test = splits["test"].labels
        # one split: with --jobs N the fits of each C grid run in N processes
        result, probe = run_probe(X_train, y_train, X_dev, y_dev, X_test, y_test,
                                  cache=ctx.fit_cache, n_jobs=ctx.jobs, solver=solver,
                                  device=ctx.device)
        out = result.to_dict()
        out["protocol"] = protocol
        coef = probe.coef_
        # the units of the largest weights, for the viewer and the heatmaps (non-zero only)
        order = np.argsort(-np.abs(coef), kind="stable")
        out["top_units"] = [int(u) for u in order[:10] if coef[u] != 0]
    scored = probe_labels(ctx, name)
    out["majority_class"] = 100.0 * majority_share(scored)
    small = _small_split_notes(name, len(y_train) if ds.pool is None else len(y), len(y_test))
    for note in small:
        warnings.warn(note, SmallSplitWarning, stacklevel=2)
    out["notes"] = [*ds.notes, *small, *out.pop("probe_notes", []), *out.get("notes", [])]
    out["figures"] = _figures(ctx, name, out, coef, X_test, y_test)
    return out


def _figures(ctx, name, out, coef, X, y) -> list[FigureSpec]:
    unit, sign = out["sentiment_unit"], out["sentiment_unit_sign"]
    if unit is None:
        return []
    ds = name.upper()
    figures = []
    if coef is not None:
        figures.append(FigureSpec(
            f"{name}_l1_weights.png", "l1_weights",
            {"coef": coef, "title": f"{ds}: L1 probe weights ({ctx.profile})"},
            f"{ds}: the L1 probe's largest weights; the sentiment unit is the first"))
    figures.append(FigureSpec(
        f"{name}_sentiment_unit.png", "unit_values",
        {"values": X[:, unit], "labels": y, "threshold": 0.0,
         "title": f"{ds}: unit {unit} (sign {sign:+d}), final cell state by label"},
        f"{ds}: the sentiment unit's final cell state, by label"))
    return figures


def probe_experiment(ctx, claim: Claim) -> Measurement:
    """Measure ``params['quantity']`` of the protocol on ``params['dataset']``."""
    out = run_dataset_probe(ctx, claim.params["dataset"])
    details = {k: v for k, v in out.items() if k not in ("folds", "figures")}
    degenerate = [n for n in out["notes"] if "kept no weight" in n]
    if degenerate:
        details["why"] = "; ".join(degenerate)
    quantity = claim.params["quantity"]
    value, interval = out[quantity], None
    if quantity.endswith("accuracy") and isinstance(value, float) and not np.isnan(value):
        if "folds" in out:  # the source's 10-fold mean: the spread over the folds
            per_fold = [f.get(quantity) for f in out["folds"]]
            if all(isinstance(v, int | float) for v in per_fold):
                interval = fold_interval(per_fold)
        else:
            n = out["n_test"]
            details["ci95"] = wilson_interval(int(round(value / 100 * n)), n)
            interval = binomial_interval(int(round(value / 100 * n)), n)
    return Measurement(value, details, out["figures"], interval=interval)


def dominant_unit_experiment(ctx, claim: Claim) -> Measurement:
    """The ratio of the largest absolute L1 weight to the second (infinite when the probe
    kept one weight; the claim's precondition says whether that unit is a sentiment unit)."""
    return probe_experiment(ctx, claim.copy_params(quantity="second_weight_ratio"))


def zero_shot_experiment(ctx, claim: Claim) -> Measurement:
    """Classify ``params['dataset']`` by ``sign * c[unit] > 0`` with the unit and sign of the
    probe on ``params['unit_from']``; no training on the target data."""
    source = run_dataset_probe(ctx, claim.params["unit_from"])
    unit, sign = source["sentiment_unit"], source["sentiment_unit_sign"]
    if unit is None:
        return Measurement(float("nan"), {"why": f"the probe on {claim.params['unit_from']} "
                                                 "kept no unit (every weight zero)"})
    name = claim.params["dataset"]
    test = ctx.dataset(name).splits["test"]
    values = _final_c(ctx, name, "test")[:, unit]
    accuracy = zero_shot_accuracy(values, test.labels, sign)
    n_correct = int(round(accuracy / 100 * len(test)))
    figures = [FigureSpec(
        f"{name}_zero_shot.png", "unit_values",
        {"values": values, "labels": test.labels, "threshold": 0.0,
         "title": f"{name}: unit {unit} from {claim.params['unit_from']} (sign {sign:+d})"},
        f"{name.upper()}: the {claim.params['unit_from'].upper()} unit's value on each text, "
        "by label (zero-shot)")]
    details = {
        "sentiment_unit": unit, "sentiment_unit_sign": sign, "unit_from": claim.params["unit_from"],
        "threshold": 0.0, "n": len(test), "ci95": wilson_interval(n_correct, len(test)),
        "majority_class": 100.0 * majority_share(test.labels),
    }
    return Measurement(accuracy, details, figures,
                       interval=binomial_interval(n_correct, len(test)))


def _unit_probe(ctx, name: str):
    out = run_dataset_probe(ctx, name)
    return out.get("folds") or [out], probe_labels(ctx, name)


def _probed(ctx) -> list[str]:
    return [key[1] for key in ctx.memo if key[0] == "probe"]


UNIT_PROBES["radford"] = (_unit_probe, _probed)

EXPERIMENTS = register_experiments({
    "probe": probe_experiment,
    "dominant_unit": dominant_unit_experiment,
    "zero_shot": zero_shot_experiment,
})

FAMILY = register_family(Family(
    "radford",
    # one unit carries the whole label
    fixture_expected={"radford2017.sst.one_dominant_unit": "PASS"}))
