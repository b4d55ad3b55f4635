"""The chada2017 experiments on Yelp review polarity beyond the zero-shot accuracy.

The unit is SST's (its L1 probe's largest weight, with that weight's sign), as in the blog.

- ``yelp_supervised``: L2 logistic regression on all final cell states (scikit-learn's
  defaults), the L1 probe's largest unit on Yelp, and the gap to zero-shot. On Zhang et
  al.'s full release (``yelp-full``: 560,000 training reviews) the classifier is trained on
  train and scored on test; where only the 1000-review sample is at hand, seeded stratified
  10-fold cross-validation on it gives the mean and its spread, and the run's budget says so
  (the claims declare the full training set as their protocol).
- ``sentence_end_updates``: the unit's absolute change at the byte after '.', '!' or '?'
  against every other byte, from per-byte traces of the sample, with a bootstrap interval
  over reviews; and the heatmaps of four reviews.
- ``length_independence``: whether review length predicts zero-shot success: equivalence on
  the AUC's bootstrap interval (the KS test reported beside it).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import ks_2samp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from neuron_repro.data import DatasetError
from neuron_repro.experiments.registry import Family, register_experiments, register_family
from neuron_repro.experiments.sentiment_unit import _fold, run_dataset_probe
from neuron_repro.probes import SEED, cross_validation_folds, map_with_cache
from neuron_repro.traces import character_values, characters, text_traces
from neuron_repro.verdicts import Claim, FigureSpec, Interval, Measurement
from neuron_repro.viewer import VIEWER_UNITS

SENTENCE_ENDS = b".!?"
BOOTSTRAP = 1000  # resamples of reviews for the ratio's interval
BOOTSTRAP_SEED = 0
HEATMAP_SEED = 0
HEATMAP_MAX_BYTES = 1024  # the heatmaps show reviews of at most 16 rows of 64 bytes


def _sst_unit(ctx) -> tuple[int | None, int]:
    out = run_dataset_probe(ctx, "sst")
    return out["sentiment_unit"], out["sentiment_unit_sign"]


def _no_unit() -> Measurement:
    return Measurement(float("nan"), {"why": "the probe on SST kept no unit (every weight zero)"})


# ---------------------------------------------------------------------------------------------
# supervised on Yelp


def _l2_default() -> LogisticRegression:
    # scikit-learn's defaults (L2, C = 1, lbfgs, 100 iterations), declared
    return LogisticRegression()


def _fit_l2(X_train, y_train, X_test, y_test) -> tuple[float, bool]:
    """Test accuracy (%) of the default L2 classifier, and whether lbfgs converged."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model = _l2_default().fit(X_train, y_train)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return 100.0 * float(np.mean(model.predict(X_test) == y_test)), converged


def yelp_supervised(ctx) -> dict:
    """The supervised Yelp numbers, once per run: L2 accuracy, the L1 unit, zero-shot on the same
    reviews, and what data they came from."""
    return ctx.cached(("chada", "supervised"), lambda: _supervised(ctx))


def _supervised(ctx) -> dict:
    try:
        ctx.dataset("yelp-full")
    except DatasetError as exc:
        if "not found" not in str(exc):
            raise  # the full release is there but unreadable: said, never replaced
        out = _supervised_sample(ctx)
        out["full_data_missing"] = str(exc).split(". ")[0]
    else:
        out = _supervised_full(ctx)
    unit, sign = _sst_unit(ctx)
    out["sst_unit"], out["sst_unit_sign"] = unit, sign
    out["same_unit_as_sst"] = unit is not None and out["yelp_unit"] == unit
    if unit is not None:
        X, y = out.pop("_zero_shot_data")
        out["zero_shot_accuracy"] = 100.0 * float(np.mean((sign * X[:, unit] > 0) == y))
        out["gap"] = out["accuracy"] - out["zero_shot_accuracy"]
    else:
        out.pop("_zero_shot_data")
        out["zero_shot_accuracy"] = out["gap"] = float("nan")
    return out


def _supervised_full(ctx) -> dict:
    train, test = (ctx.states("yelp-full", s)["final_c"] for s in ("train", "test"))
    splits = ctx.dataset("yelp-full").splits
    y_train, y_test = splits["train"].labels, splits["test"].labels
    accuracy, converged = _fit_l2(train, y_train, test, y_test)
    probe = run_dataset_probe(ctx, "yelp-full")
    return {
        "data": "yelp-full", "protocol": "Zhang et al.'s train / test",
        "accuracy": accuracy, "l2_converged": converged, "n_train": len(y_train),
        "n_test": len(y_test), "yelp_unit": probe["sentiment_unit"],
        "yelp_unit_sign": probe["sentiment_unit_sign"], "l1_protocol": probe["protocol"],
        "_zero_shot_data": (test, y_test),
    }


def _supervised_sample(ctx) -> dict:
    X = ctx.states("yelp", "test")["final_c"]
    y = ctx.dataset("yelp").splits["test"].labels
    folds = StratifiedKFold(n_splits=10, shuffle=True, random_state=SEED).split(X, y)
    fits = [_fit_l2(X[tr], y[tr], X[te], y[te]) for tr, te in folds]
    accuracies = [a for a, _ in fits]
    probes = map_with_cache(_fold, [(X, y, *split) for split in
                                    cross_validation_folds(y, n_folds=10, seed=SEED)],
                            ctx.fit_cache, ctx.jobs)
    units = [p.sentiment_unit for p in probes]
    found = [u for u in units if u is not None]
    # the unit most folds agree on (the smallest index among equals)
    yelp_unit = min(set(found), key=lambda u: (-found.count(u), u)) if found else None
    signs = [p.sentiment_unit_sign for p in probes if p.sentiment_unit == yelp_unit]
    return {
        "data": "yelp", "protocol": f"the {len(y)}-review sample: seeded stratified 10-fold "
        f"cross-validation (seed {SEED}); the L1 probe's folds as for MR (dev = next fold)",
        "accuracy": float(np.mean(accuracies)), "fold_sd": float(np.std(accuracies, ddof=1)),
        "fold_accuracies": accuracies, "l2_converged": all(c for _, c in fits),
        "n_train": int(round(len(y) * 0.9)), "n_test": len(y),
        "yelp_unit": yelp_unit, "yelp_unit_sign": signs[0] if signs else 0,
        "yelp_unit_folds": sum(u == yelp_unit for u in units) if found else 0,
        "fold_units": units, "_zero_shot_data": (X, y),
    }


def supervised_experiment(ctx, claim: Claim) -> Measurement:
    """``params['quantity']``: ``accuracy`` (L2 on all units), ``gap`` (minus zero-shot) or
    ``yelp_unit`` (the L1 probe's largest unit)."""
    out = yelp_supervised(ctx)
    details = {k: v for k, v in out.items() if k != "_zero_shot_data"}
    quantity = claim.params["quantity"]
    value = out[quantity]
    if value is None:
        value = float("nan")
        details["why"] = "the L1 probe on Yelp kept no unit in any fold"
    note = ""
    if out["data"] == "yelp":
        note = (f"on the {out['n_test']}-review Yelp sample (10-fold cross-validation), not "
                "the full training set")
    if quantity == "yelp_unit" and out["yelp_unit"] is not None and out["sst_unit"] is not None:
        note = "; ".join(filter(None, [note, f"Yelp's unit {out['yelp_unit']} is "
                                       f"{'' if out['same_unit_as_sst'] else 'not '}SST's "
                                       f"unit {out['sst_unit']}"]))
    return Measurement(value, details, budget={"training reviews": out["n_train"]}, note=note)


# ---------------------------------------------------------------------------------------------
# per-byte traces


def yelp_traces(ctx) -> dict:
    """Per-byte traces of the SST unit and the next largest L1 units over the Yelp sample,
    from one batched pass, once per run (None when SST's probe kept no unit)."""
    return ctx.cached(("chada", "traces"), lambda: _traces(ctx))


def _traces(ctx) -> dict | None:
    probe = run_dataset_probe(ctx, "sst")
    unit, sign = probe["sentiment_unit"], probe["sentiment_unit_sign"]
    if unit is None:
        return None
    units = [unit, *[u for u in probe.get("top_units", []) if u != unit]][:VIEWER_UNITS]
    split = ctx.dataset("yelp").splits["test"]
    pairs = text_traces(ctx.model, split.texts, units, device=ctx.device,
                        batch_size=ctx.batch_size)
    return {"units": units, "sign": sign, "texts": [b for b, _ in pairs],
            "traces": [t for _, t in pairs], "labels": split.labels}


def change_sums(data: bytes, trace: np.ndarray) -> tuple[float, int, float, int]:
    """(sum and count of |change| at bytes right after a sentence end, the same for every
    other byte). The change at byte t is |c_t - c_{t-1}|, for t >= 1 (the first byte has no
    byte before it)."""
    trace = np.asarray(trace, dtype=np.float64).ravel()
    if len(trace) < 2:
        return 0.0, 0, 0.0, 0
    change = np.abs(np.diff(trace))
    after_end = np.isin(np.frombuffer(data, dtype=np.uint8)[:-1], list(SENTENCE_ENDS))
    return (float(change[after_end].sum()), int(after_end.sum()),
            float(change[~after_end].sum()), int((~after_end).sum()))


def bootstrap_ratio(sums: np.ndarray, n_resamples: int = BOOTSTRAP,
                    seed: int = BOOTSTRAP_SEED) -> tuple[float, list[float]]:
    """The ratio of mean changes pooled over texts (rows of :func:`change_sums`), and its
    percentile 95 % interval over texts resampled with replacement."""
    sums = np.asarray(sums, dtype=np.float64)

    def ratio(rows):
        total = rows.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (total[..., 0] / total[..., 1]) / (total[..., 2] / total[..., 3])

    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(sums), size=(n_resamples, len(sums)))
    boot = ratio(sums[draws].transpose(1, 0, 2))
    boot = boot[np.isfinite(boot)]
    interval = [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))] \
        if boot.size else [float("nan")] * 2
    return float(ratio(sums)), interval


def sentence_end_experiment(ctx, claim: Claim) -> Measurement:
    """Ratio of the SST unit's mean |change| right after a sentence end to elsewhere."""
    traces = yelp_traces(ctx)
    if traces is None:
        return _no_unit()
    sums = np.array([change_sums(b, t[:, 0]) for b, t in
                     zip(traces["texts"], traces["traces"], strict=True)])
    if sums[:, 1].sum() == 0 or sums[:, 3].sum() == 0:
        return Measurement(float("nan"), {"why": "no byte follows a sentence end"})
    value, interval = bootstrap_ratio(sums)
    details = {
        "ratio": value, "ci95": interval, "bootstrap": f"{BOOTSTRAP} resamples of reviews "
        f"(seed {BOOTSTRAP_SEED}), percentile interval", "sentiment_unit": traces["units"][0],
        "mean_change_after_end": float(sums[:, 0].sum() / sums[:, 1].sum()),
        "mean_change_elsewhere": float(sums[:, 2].sum() / sums[:, 3].sum()),
        "bytes_after_end": int(sums[:, 1].sum()), "bytes_elsewhere": int(sums[:, 3].sum()),
        "n_reviews": len(sums),
    }
    after, other = _changes(traces)
    figures = [FigureSpec("yelp_sentence_end_changes.png", "two_distributions", {
        "first": after, "second": other, "labels": ("after '.', '!' or '?'", "every other byte"),
        "title": f"Yelp: |change| of unit {traces['units'][0]} per byte (ratio of means "
                 f"{value:.2f})", "xlabel": "|c_t - c_{t-1}|"},
        "Yelp: the SST unit's absolute change at the byte after '.', '!' or '?' and at every "
        "other byte"), *_heatmaps(traces, details), _viewer(ctx, traces)]
    details["viewer"] = VIEWER
    bounds = None if any(np.isnan(interval)) else Interval(
        interval[0], interval[1], "bootstrap", n=BOOTSTRAP,
        note=f"percentile, {BOOTSTRAP} resamples of reviews")
    return Measurement(value, details, figures, interval=bounds)


def _viewer(ctx, traces):
    """The Yelp sample in the unit viewer, beside the report: the SST unit first."""
    unit, sign = traces["units"][0], traces["sign"]
    predictions = [int(sign * t[-1, 0] > 0) for t in traces["traces"]]
    return FigureSpec(VIEWER, "viewer", {
        "texts": traces["texts"], "traces": traces["traces"], "units": traces["units"],
        "labels": traces["labels"], "predictions": predictions,
        "unit_notes": {unit: f"SST's sentiment unit, sign {sign:+d}"},
        "title": f"Yelp sample: {ctx.model_spec} ({ctx.profile}); prediction = the SST unit's "
                 "zero-shot sign"}, "the Yelp sample in the unit viewer")


def _changes(traces) -> tuple[np.ndarray, np.ndarray]:
    after, other = [], []
    for data, trace in zip(traces["texts"], traces["traces"], strict=True):
        if len(data) < 2:
            continue
        change = np.abs(np.diff(trace[:, 0].astype(np.float64)))
        mask = np.isin(np.frombuffer(data, dtype=np.uint8)[:-1], list(SENTENCE_ENDS))
        after.append(change[mask])
        other.append(change[~mask])
    return np.concatenate(after), np.concatenate(other)


def zero_shot_correct(traces) -> np.ndarray:
    """Whether the unit's final value, with its sign, gives each review's label."""
    final = np.array([t[-1, 0] for t in traces["traces"]])
    return (traces["sign"] * final > 0) == np.asarray(traces["labels"], dtype=bool)


def heatmap_picks(traces, seed: int = HEATMAP_SEED) -> dict[str, int | None]:
    """A seeded review of each kind (correct / wrong, positive / negative by label) among
    the reviews of at most HEATMAP_MAX_BYTES bytes."""
    correct = zero_shot_correct(traces)
    labels = np.asarray(traces["labels"])
    short = np.array([len(b) <= HEATMAP_MAX_BYTES for b in traces["texts"]])
    rng = np.random.default_rng(seed)
    picks = {}
    for kind, ok, label in (("correct_positive", True, 1), ("correct_negative", True, 0),
                            ("wrong_positive", False, 1), ("wrong_negative", False, 0)):
        candidates = np.flatnonzero(short & (correct == ok) & (labels == label))
        picks[kind] = int(rng.choice(candidates)) if candidates.size else None
    return picks


HEATMAP_CAPTIONS = {
    "correct_positive": "Yelp: a positive review classified correctly zero-shot, each "
                        "character coloured by the SST unit after it (rows of 64 bytes)",
    "correct_negative": "Yelp: a negative review classified correctly zero-shot, coloured by "
                        "the SST unit",
    "wrong_positive": "Yelp: a positive review the SST unit calls negative, coloured by the unit",
    "wrong_negative": "Yelp: a negative review the SST unit calls positive, coloured by the unit",
}
VIEWER = "yelp_viewer.html"


def _heatmaps(traces, details: dict) -> list[FigureSpec]:
    picks = heatmap_picks(traces)
    details["heatmaps"] = {k: v for k, v in picks.items()}
    limit = float(max(np.abs(t[:, 0]).max() for t in traces["traces"])) or 1.0
    unit, sign = traces["units"][0], traces["sign"]
    names = []
    for kind, row in picks.items():
        if row is None:
            continue
        data, trace = traces["texts"][row], traces["traces"][row][:, 0]
        chars, values = character_values(data, trace)
        lasts = [last for _, last in characters(data)]
        row_of = [first // 64 for first in [0, *[last + 1 for last in lasts[:-1]]]]
        label = "positive" if traces["labels"][row] else "negative"
        called = "positive" if sign * trace[-1] > 0 else "negative"
        names.append(FigureSpec(f"yelp_heatmap_{kind}.png", "byte_heatmap", {
            "chars": chars, "values": values, "row_of": row_of, "limit": limit, "title": (
                f"Yelp review {row} (label {label}, the unit says {called}): unit {unit}, "
                f"sign {sign:+d}, cell state after each character; colour limits "
                f"±{limit:.2f}, the largest |value| over the sample")},
            HEATMAP_CAPTIONS[kind]))
    return names


def length_experiment(ctx, claim: Claim) -> Measurement:
    """KS test of the byte lengths of zero-shot successes against failures, and the AUC of
    length as a predictor of success."""
    traces = yelp_traces(ctx)
    if traces is None:
        return _no_unit()
    correct = zero_shot_correct(traces)
    lengths = np.array([len(b) for b in traces["texts"]])
    if correct.all() or not correct.any():
        return Measurement(float("nan"), {"why": "every review is classified "
                                                 f"{'correctly' if correct.all() else 'wrongly'}"})
    test = ks_2samp(lengths[correct], lengths[~correct])
    auc = float(roc_auc_score(correct, lengths))
    low, high = bootstrap_auc(correct, lengths)
    # |AUC - 0.5| over the AUC's interval: 0 when the interval holds 0.5
    distance = Interval(0.0 if low <= 0.5 <= high else min(abs(low - 0.5), abs(high - 0.5)),
                        max(abs(low - 0.5), abs(high - 0.5)), "bootstrap", level=0.90,
                        n=BOOTSTRAP, note=f"AUC [{low:.3f}, {high:.3f}], percentile, "
                        f"{BOOTSTRAP} resamples of reviews; 90 %: two one-sided tests at 5 %")
    details = {
        "ks_p": float(test.pvalue), "ks_statistic": float(test.statistic), "auc": auc,
        "auc_distance_from_half": abs(auc - 0.5), "n_correct": int(correct.sum()),
        "n_wrong": int((~correct).sum()),
        "median_bytes_correct": float(np.median(lengths[correct])),
        "median_bytes_wrong": float(np.median(lengths[~correct])),
        "zero_shot_accuracy": 100.0 * float(correct.mean()), "auc_interval90": [low, high],
    }
    figures = [FigureSpec("yelp_lengths.png", "length_distributions", {
        "lengths": lengths, "correct": correct,
        "title": f"Yelp: lengths by zero-shot success (unit {traces['units'][0]}); KS p = "
                 f"{test.pvalue:.3g}, AUC {auc:.3f}"},
        "Yelp: byte lengths of all reviews and of those the SST unit classifies correctly and "
        "wrongly")]
    return Measurement(abs(auc - 0.5), details, figures, interval=distance)


def bootstrap_auc(correct: np.ndarray, lengths: np.ndarray, n_resamples: int = BOOTSTRAP,
                  seed: int = BOOTSTRAP_SEED, level: float = 0.90) -> tuple[float, float]:
    """The percentile interval of the AUC of ``lengths`` for ``correct`` over resamples of
    reviews (a resample with one class only has no AUC and is drawn again)."""
    rng = np.random.default_rng(seed)
    n, aucs = len(correct), []
    while len(aucs) < n_resamples:
        rows = rng.integers(0, n, size=n)
        if correct[rows].all() or not correct[rows].any():
            continue
        aucs.append(roc_auc_score(correct[rows], lengths[rows]))
    tail = 100 * (1 - level) / 2
    return float(np.percentile(aucs, tail)), float(np.percentile(aucs, 100 - tail))


EXPERIMENTS = register_experiments({
    "yelp_supervised": supervised_experiment,
    "sentence_end_updates": sentence_end_experiment,
    "length_independence": length_experiment,
})

FAMILY = register_family(Family("chada", fixture_expected={
    # the planted unit moves only at the emoticon bytes, never at the byte after a sentence end
    "chada2017.yelp.sentence_end_updates": "FAIL",
}))
