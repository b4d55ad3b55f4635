"""The tables of donnelly2019 (ECIR 2019): ablation, pooling, and the suffix attack.

Their splits: MR and CR pooled, IMDB's 50,000 labelled reviews pooled, each shuffled with a
fixed seed into 70 % train, 10 % dev, 20 % test; SST keeps OpenAI's splits. Every classifier
is the paper's L1 protocol (``neuron_repro.probes``).
"""

from __future__ import annotations

import numpy as np

from neuron_repro.data import Split
from neuron_repro.experiments import sweeps
from neuron_repro.experiments.preconditions import CLASSIFIERS, UNIT_PROBES, check_precondition
from neuron_repro.experiments.registry import Family, register_experiments, register_family
from neuron_repro.features import STATE_KINDS, continue_features, preprocess_openai
from neuron_repro.probes import EngineNotConverged, L1Probe, run_probe, zero_shot_accuracy
from neuron_repro.stats import majority_share, proportion_interval
from neuron_repro.verdicts import Claim, FigureSpec, Interval, Measurement

SPLIT_SEED = 42
SUFFIXES = {"positive": " Wonderful", "negative": " Terrible"}
DATASETS = ("sst", "mr", "cr", "imdb")


def _pool(ctx, name: str) -> Split:
    """All labelled examples of a dataset in one pool (IMDB: its 50,000 labelled reviews,
    train then test)."""
    ds = ctx.dataset(name)
    if ds.pool is not None:
        return ds.pool
    train, test = ds.splits["train"], ds.splits["test"]
    return Split(train.texts + test.texts, np.concatenate([train.labels, test.labels]))


def donnelly_splits(ctx, name: str) -> dict[str, Split]:
    """train / dev / test as donnelly2019 made them (once per run)."""
    return _donnelly(ctx, name)[0]


def _donnelly(ctx, name: str):
    return ctx.cached(("donnelly_splits", name), lambda: _make_splits(ctx, name))


def _make_splits(ctx, name: str):
    if name == "sst":
        return ctx.dataset(name).splits, None
    pool = _pool(ctx, name)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(pool))
    n_train, n_dev = int(0.7 * len(order)), int(0.1 * len(order))
    parts = {"train": order[:n_train], "dev": order[n_train:n_train + n_dev],
             "test": order[n_train + n_dev:]}
    splits = {s: Split([pool.texts[i] for i in idx], pool.labels[idx])
              for s, idx in parts.items()}
    return splits, parts


def _split_states(ctx, name: str, split: str) -> dict[str, np.ndarray]:
    """States of a donnelly2019 split, taken from the dataset's own extraction: the split is
    a permutation of texts the run has read already, so nothing is extracted twice."""
    _, parts = _donnelly(ctx, name)
    if parts is None:
        return ctx.states(name, split)
    if ctx.dataset(name).pool is not None:
        pool = ctx.states(name, "pool")
    else:
        train, test = ctx.states(name, "train"), ctx.states(name, "test")
        pool = {k: np.concatenate([train[k], test[k]]) for k in train}
    return {k: v[parts[split]] for k, v in pool.items()}


def _suffix_states(ctx, name: str, polarity: str, repeats: int) -> dict[str, np.ndarray]:
    """States of every test text with the suffix appended. Where the preprocessed text with
    its suffix begins with the preprocessed clean text (all but texts ending in whitespace
    or a broken HTML entity), the model runs on from the clean text's state over the added
    bytes only; the rest are extracted whole."""
    return ctx.cached(("donnelly_suffix", name, polarity, repeats),
                      lambda: _extract_suffixed(ctx, name, polarity, repeats))


def _extract_suffixed(ctx, name: str, polarity: str, repeats: int) -> dict[str, np.ndarray]:
    test = donnelly_splits(ctx, name)["test"]
    clean = _split_states(ctx, name, "test")
    texts = [t + SUFFIXES[polarity] * repeats for t in test.texts]
    full = [preprocess_openai(t) for t in texts]
    start = [preprocess_openai(t) for t in test.texts]
    resumable = np.array([f.startswith(b) for f, b in zip(full, start, strict=True)])
    rows = np.flatnonzero(resumable)
    begin = {k: clean[k][rows] for k in STATE_KINDS}
    begin["n_bytes"] = np.array([len(start[i]) for i in rows])
    out = {k: np.full_like(clean[k], np.nan) for k in STATE_KINDS}  # rows + rest = all
    desc = f"{name}/test+{polarity}x{repeats}"
    resumed = continue_features(
        ctx.model, begin, [full[i][len(start[i]):] for i in rows], device=ctx.device,
        cache_dir=ctx.cache_dir, progress=ctx.progress, desc=desc,
        batch_size=ctx.batch_size)
    rest = np.flatnonzero(~resumable)
    whole = ctx.features([texts[i] for i in rest], STATE_KINDS, desc=desc + " (whole)")
    for k in STATE_KINDS:
        out[k][rows], out[k][rest] = resumed[k], whole[k]
    return out


def pooled(states: dict[str, np.ndarray], kind: str) -> np.ndarray:
    """Table 2's features: ``final``, ``mean``, ``concat`` (final, mean), ``min``, ``max`` and
    ``absmax`` (per unit, the extreme of larger magnitude)."""
    if kind == "concat":
        return np.concatenate([states["final_c"], states["mean_c"]], axis=1)
    if kind == "absmax":
        low, high = states["min_c"], states["max_c"]
        return np.where(np.abs(low) > np.abs(high), low, high)
    return states[{"final": "final_c", "mean": "mean_c", "min": "min_c", "max": "max_c"}[kind]]


def split_features(ctx, name: str, split: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
    data = donnelly_splits(ctx, name)[split]
    return pooled(_split_states(ctx, name, split), kind), data.labels


def table_probe(ctx, name: str, kind: str) -> tuple[dict, L1Probe]:
    """The L1 protocol on one dataset and pooling; the final state also runs Table 1's
    unit-only and deleted-unit classifiers."""
    solver = ctx.solver_for(name)  # noted for the claim being measured, cached or not
    return ctx.cached(("donnelly_probe", name, kind),
                      lambda: _table_probe(ctx, name, kind, solver))


def _table_probe(ctx, name: str, kind: str, solver: str) -> tuple[dict, L1Probe]:
    (Xtr, ytr), (Xdv, ydv), (Xte, yte) = (split_features(ctx, name, s, kind)
                                          for s in ("train", "dev", "test"))
    options = dict(cache=ctx.fit_cache, n_jobs=ctx.jobs, solver=solver, device=ctx.device)
    if kind == "final":
        result, probe = run_probe(Xtr, ytr, Xdv, ydv, Xte, yte, **options)
        out = result.to_dict()
    else:
        probe = L1Probe(**options).fit(Xtr, ytr, Xdv, ydv)
        out = {"test_accuracy": probe.score(Xte, yte), "C": probe.C_,
               "n_nonzero": probe.n_nonzero_, "solver": solver,
               "notes": [] if probe.n_nonzero_ else [
                   f"the probe kept no weight at the C chosen on dev ({probe.C_:g}): it "
                   "predicts one class"]}
    out["split_seed"] = SPLIT_SEED if name != "sst" else "OpenAI splits"
    out["test_errors"] = np.flatnonzero(probe.predict(Xte) != yte)
    return out, probe


def suffix_accuracy(ctx, name: str, polarity: str, kind: str, repeats: int) -> float:
    """Accuracy of the clean-trained classifier when the suffix word is appended ``repeats``
    times to every test text."""
    test = donnelly_splits(ctx, name)["test"]
    _, probe = table_probe(ctx, name, kind)
    return probe.score(pooled(_suffix_states(ctx, name, polarity, repeats), kind), test.labels)


# ----------------------------------------------------------------------------- experiments
TABLE1_FIELDS = {"all": "test_accuracy", "sn_deleted": "sentiment_unit_deleted_accuracy",
                 "sn_only": "sentiment_unit_accuracy"}


def _public(out: dict) -> dict:
    return {k: v for k, v in out.items() if k not in ("test_errors", "dev_accuracies")}


def table1_experiment(ctx, claim: Claim) -> Measurement:
    out, _ = table_probe(ctx, claim.params["dataset"], "final")
    details = _public(out)
    if out["notes"]:
        details["why"] = "; ".join(out["notes"])
    return Measurement(out[TABLE1_FIELDS[claim.params["what"]]], details)


def table2_experiment(ctx, claim: Claim) -> Measurement:
    out, _ = table_probe(ctx, claim.params["dataset"], claim.params["features"])
    extra, missing = {}, {}
    for kind in ("min", "max", "absmax") if claim.params["features"] == "final" else ():
        # other pools shown beside the row, not what it is judged on: one whose fit failed
        # is absent, with why, and the row stands
        try:
            extra[kind] = table_probe(ctx, claim.params["dataset"], kind)[0]["test_accuracy"]
        except EngineNotConverged as exc:
            extra[kind], missing[kind] = None, str(exc)
    details = {**_public(out), "extra_pools": extra}
    if missing:
        details["extra_pools_not_measured"] = missing
    note = f"the {', '.join(missing)} pool probes (shown beside it) did not converge" \
        if missing else ""
    return Measurement(out["test_accuracy"], details, note=note)


def table3_experiment(ctx, claim: Claim) -> Measurement:
    p = claim.params
    clean = table_probe(ctx, p["dataset"], p["features"])[0]["test_accuracy"]
    value = suffix_accuracy(ctx, p["dataset"], p["polarity"], p["features"], p["repeats"])
    return Measurement(value, {"clean_accuracy": clean, "suffix": SUFFIXES[p["polarity"]],
                               "repeats": p["repeats"]})


def error_overlap_experiment(ctx, claim: Claim) -> Measurement:
    """Shared errors over all errors (|E_final & E_mean| / |E_final | E_mean|), per dataset;
    the value is their mean."""
    per = {}
    for name in DATASETS:
        final = set(table_probe(ctx, name, "final")[0]["test_errors"].tolist())
        mean = set(table_probe(ctx, name, "mean")[0]["test_errors"].tolist())
        union = final | mean
        if union:
            per[name] = 100.0 * len(final & mean) / len(union)
    if not per:
        return Measurement(None, {"why": "neither classifier made a test error"})
    return Measurement(float(np.mean(list(per.values()))), {"per_dataset": per})


def sn_not_necessary_experiment(ctx, claim: Claim) -> Measurement:
    """The largest change deleting the unit makes, over the datasets whose probe has a
    sentiment unit (the claim's preconditions); the others are named."""
    changes, left_out = {}, {}
    for pre in claim.preconditions:
        name = pre.dataset
        check = check_precondition(ctx, pre)
        out, _ = table_probe(ctx, name, "final")
        if not check.holds:
            left_out[name] = check.summary
        else:
            changes[name] = abs(out["test_accuracy"] - out["sentiment_unit_deleted_accuracy"])
    details = {"abs_change_per_dataset": changes, "left_out": left_out}
    if not changes:
        return Measurement(None, {**details, "why": "no dataset's model has a sentiment unit"})
    note = f"judged over {', '.join(n.upper() for n in changes)}"
    if left_out:
        note += (f"; left out (no sentiment unit): "
                 f"{'; '.join(f'{n.upper()} ({why})' for n, why in left_out.items())}")
    return Measurement(max(changes.values()), details, note=note)


def suffix_attack_shape_experiment(ctx, claim: Claim) -> Measurement:
    """How many of the four relations of Section 4.3 hold (each over both suffix words)."""
    drop = {}
    for name, repeats in (("sst", 1), ("mr", 1), ("cr", 1), ("imdb", 1), ("imdb", 10)):
        for kind in ("final", "mean"):
            clean = table_probe(ctx, name, kind)[0]["test_accuracy"]
            for polarity in SUFFIXES:
                drop[(name, repeats, kind, polarity)] = clean - suffix_accuracy(
                    ctx, name, polarity, kind, repeats)
    short = [(n, 1) for n in ("sst", "mr", "cr")]
    relations = {
        "short texts: final-state drop >= 10": all(
            drop[(n, r, "final", p)] >= 10 for n, r in short for p in SUFFIXES),
        "short texts: mean-pool drop <= 2": all(
            drop[(n, r, "mean", p)] <= 2 for n, r in short for p in SUFFIXES),
        "IMDB, one word: final-state drop <= 2": all(
            drop[("imdb", 1, "final", p)] <= 2 for p in SUFFIXES),
        "IMDB, ten words: final-state drop >= 20": all(
            drop[("imdb", 10, "final", p)] >= 20 for p in SUFFIXES),
    }
    details = {"relations": relations,
               "drops": {"/".join(map(str, k)): v for k, v in drop.items()}}
    return Measurement(sum(relations.values()), details)


def opposite_polarity_experiment(ctx, claim: Claim) -> Measurement:
    """The unit's sign is reported and used. Zero-shot with that sign must beat both the
    majority class and zero-shot with the sign flipped: a harness that ignored the sign would
    fail one of the two."""
    out, _ = table_probe(ctx, "sst", "final")
    Xte, yte = split_features(ctx, "sst", "test", "final")
    if out["sentiment_unit"] is None:
        return Measurement(float("nan"), {"why": "the probe kept no unit"})
    unit, sign = out["sentiment_unit"], out["sentiment_unit_sign"]
    accuracy = zero_shot_accuracy(Xte[:, unit], yte, sign)
    flipped = zero_shot_accuracy(Xte[:, unit], yte, -sign)
    majority = 100.0 * majority_share(yte)
    low, high = bootstrap_margin(Xte[:, unit], yte, sign)
    return Measurement(accuracy - max(majority, flipped), {
        "sentiment_unit": unit, "sentiment_unit_sign": sign, "zero_shot_accuracy": accuracy,
        "zero_shot_sign_flipped": flipped, "majority_class": majority},
        interval=Interval(low, high, "bootstrap", n=MARGIN_RESAMPLES,
                          note=f"percentile, {MARGIN_RESAMPLES} resamples of the test texts "
                          f"(seed {MARGIN_SEED}), the three accuracies paired"))


MARGIN_RESAMPLES, MARGIN_SEED = 1000, 0


def bootstrap_margin(values, y, sign: int, n_resamples: int = MARGIN_RESAMPLES,
                     seed: int = MARGIN_SEED) -> tuple[float, float]:
    """The 95 % percentile interval of ``zero-shot accuracy - max(majority, sign-flipped
    accuracy)`` over resamples of the test texts (each resample scores all three on the same
    texts)."""
    values, y = np.asarray(values), np.asarray(y)
    rows = np.random.default_rng(seed).integers(0, len(y), size=(n_resamples, len(y)))
    yy = y[rows]
    right = ((sign * values[rows] > 0).astype(int) == yy).mean(1)
    wrong = ((-sign * values[rows] > 0).astype(int) == yy).mean(1)
    share = yy.mean(1)
    margin = 100 * (right - np.maximum(np.maximum(share, 1 - share), wrong))
    return float(np.percentile(margin, 2.5)), float(np.percentile(margin, 97.5))


# ----------------------------------------------------------------------------- sweeps (SST)
SOLVER = "batched FISTA (neuron_repro.probe_engine), C fixed at the full model's chosen C"
# the single-unit and random-subset classifiers come from fit_subsets
SUBSET_SOLVER = "batched proximal Newton (neuron_repro.probe_engine, fit_subsets)"


def _sst(ctx):
    return [split_features(ctx, "sst", s, "final") for s in ("train", "dev", "test")]


def _sweep(ctx, name, compute):
    return ctx.cached(("sweep", name), compute)


def _sst_probe(ctx) -> dict | None:
    """The full SST probe, or None when it kept no unit (nothing to sweep against)."""
    out, _ = table_probe(ctx, "sst", "final")
    return out if out["sentiment_unit"] is not None else None


def _deletion(ctx) -> dict:
    (Xtr, ytr), _, (Xte, yte) = _sst(ctx)
    return _sweep(ctx, "deletion", lambda: sweeps.deletion_sweep(
        Xtr, ytr, Xte, yte, table_probe(ctx, "sst", "final")[0]["C"], device=ctx.device))


def _single(ctx) -> dict:
    (Xtr, ytr), (Xdv, ydv), (Xte, yte) = _sst(ctx)
    return _sweep(ctx, "single", lambda: sweeps.single_unit_sweep(
        Xtr, ytr, Xdv, ydv, Xte, yte, device=ctx.device))


def _no_unit() -> Measurement:
    return Measurement(None, {"why": "the probe kept no unit"})


def single_ablation_sweep_experiment(ctx, claim: Claim) -> Measurement:
    out, _ = table_probe(ctx, "sst", "final")
    sweep, single = _deletion(ctx), _single(ctx)
    acc = sweep["accuracy"]
    best = int(np.argmax(acc))
    figures = [FigureSpec("sst_deletion_sweep.png", "per_unit", {
        "accuracy": acc, "title": "SST: one unit deleted, then refit",
        "ylabel": "test accuracy (%)", "line": sweep["full_accuracy"], "line_label": "all units",
        "mark": out["sentiment_unit"], "mark_label": "sentiment unit deleted"},
        "SST: test accuracy with each unit deleted, then refit")]
    _, _, (_, yte) = _sst(ctx)
    majority = 100.0 * majority_share(yte)
    alone = float(single["accuracy"][best])
    return Measurement(float(acc[best]), {
        "min": float(acc.min()), "max": float(acc.max()), "best_unit": best,
        "best_unit_alone": alone, "majority_class": majority,
        "best_unit_alone_minus_majority": alone - majority, "all_units": sweep["full_accuracy"],
        "refits": sweep["n_refits"], "solver": SOLVER}, figures,
        shape_value=alone - majority)


def single_unit_sweep_experiment(ctx, claim: Claim) -> Measurement:
    out = _sst_probe(ctx)
    if out is None:
        return _no_unit()
    unit, acc = out["sentiment_unit"], _single(ctx)["accuracy"]
    others = np.delete(acc, unit)
    figures = [FigureSpec("sst_single_units.png", "per_unit", {
        "accuracy": acc, "title": "SST: a classifier on each unit alone",
        "ylabel": "test accuracy (%)", "mark": unit, "mark_label": f"sentiment unit {unit}"},
        "SST: test accuracy of a classifier on each unit alone")]
    return Measurement(float(acc[unit] - others.max()), {
        "sentiment_unit_alone": float(acc[unit]), "best_other": float(others.max()),
        "best_other_unit": int(np.delete(np.arange(len(acc)), unit)[np.argmax(others)]),
        "solver": f"{SUBSET_SOLVER}, C chosen on dev per unit"}, figures)


def cumulative_ablation_experiment(ctx, claim: Claim) -> Measurement:
    out = _sst_probe(ctx)
    if out is None:
        return _no_unit()
    (Xtr, ytr), _, (Xte, yte) = _sst(ctx)
    init = _deletion(ctx)["full_init"]  # the full fit is solved once, by the deletion sweep
    curve = _sweep(ctx, "cumulative", lambda: sweeps.cumulative_ablation(
        Xtr, ytr, Xte, yte, out["C"], init, device=ctx.device))
    level = out["sentiment_unit_accuracy"]
    left = sweeps.units_left_below(curve["units_left"], curve["accuracy"], level)
    figures = [FigureSpec("sst_cumulative_ablation.png", "cumulative", {
        "units_left": curve["units_left"], "accuracy": curve["accuracy"], "level": level,
        "title": "SST: deleting units by decreasing |L1 weight|"},
        "SST: accuracy as units are deleted by decreasing |weight|")]
    n_units = len(curve["units_left"])
    _, _, (_, yte) = _sst(ctx)
    majority = 100.0 * majority_share(yte)
    last = float(curve["accuracy"][-1])  # one unit left
    margin = level - majority
    details = {"units_left": left, "n_units": n_units, "unit_only_level": level,
               "reaches_level": int(left is not None), "accuracy_one_unit_left": last,
               "majority_class": majority, "solver": SOLVER,
               "share_of_margin_lost_after": (level - last) / margin if margin > 0 else None}
    if left is None:
        details["why_not_reached"] = "the curve never falls below the unit-only level"
    return Measurement(0.0 if left is None else left / n_units, details, figures)


def random100_experiment(ctx, claim: Claim) -> Measurement:
    out = _sst_probe(ctx)
    if out is None:
        return _no_unit()
    (Xtr, ytr), _, (Xte, yte) = _sst(ctx)
    rand = _sweep(ctx, "random", lambda: sweeps.random_subsets(
        Xtr, ytr, Xte, yte, out["C"], device=ctx.device))
    level = out["sentiment_unit_accuracy"]
    beating = int(np.sum(rand["accuracy"] > level))
    share = beating / len(rand["accuracy"])
    shape = sweeps.roughly_normal(rand["accuracy"])
    n_units = Xtr.shape[1]
    figures = [FigureSpec("sst_random100.png", "histogram", {
        "values": rand["accuracy"], "marker": level, "title": f"SST: {len(rand['accuracy'])} "
        f"classifiers on {rand['size']} random units of {n_units}",
        "marker_label": "sentiment unit alone"},
        "SST: accuracies of the random-subset classifiers")]
    return Measurement(share, {"units_per_classifier": rand["size"], "n_units": n_units,
                               "mean": float(rand["accuracy"].mean()),
                               "std": float(rand["accuracy"].std()), "unit_only_level": level,
                               **shape, "abs_skewness": abs(shape["skewness"]),
                               "abs_excess_kurtosis": abs(shape["excess_kurtosis"]),
                               "seed": 42,
                               "solver": f"{SUBSET_SOLVER}, C fixed at the full model's chosen C"},
                       figures, budget={"classifiers": len(rand["accuracy"])},
                       interval=proportion_interval(beating, len(rand["accuracy"]),
                                                    "Wilson, over the random subsets drawn"))


def _unit_probe(ctx, name: str):
    out, _ = table_probe(ctx, name, "final")
    return [out], donnelly_splits(ctx, name)["test"].labels


def _classifier(ctx, name: str, features: str):
    accuracy = table_probe(ctx, name, features)[0]["test_accuracy"]
    return accuracy, donnelly_splits(ctx, name)["test"].labels


def _probed(ctx) -> list[str]:
    return [key[1] for key in ctx.memo if key[0] == "donnelly_probe" and key[2] == "final"]


UNIT_PROBES["donnelly"] = (_unit_probe, _probed)
CLASSIFIERS["donnelly"] = _classifier

EXPERIMENTS = register_experiments({
    "donnelly_single_ablation_sweep": single_ablation_sweep_experiment,
    "donnelly_single_unit_sweep": single_unit_sweep_experiment,
    "donnelly_cumulative_ablation": cumulative_ablation_experiment,
    "donnelly_random100": random100_experiment,
    "donnelly_table1": table1_experiment,
    "donnelly_table2": table2_experiment,
    "donnelly_table3": table3_experiment,
    "donnelly_error_overlap": error_overlap_experiment,
    "donnelly_sn_not_necessary": sn_not_necessary_experiment,
    "donnelly_suffix_attack": suffix_attack_shape_experiment,
    "donnelly_opposite_polarity": opposite_polarity_experiment,
})

FAMILY = register_family(Family("donnelly", fixture_expected={
    # the planted unit carries the whole label, so deleting it leaves chance, no other unit
    # rivals it, the cumulative curve falls below its level at the first deletion, and no
    # subset without it beats it
    "donnelly2019.sn_not_necessary": "FAIL",
    "donnelly2019.single_unit_sweep": "FAIL",
    "donnelly2019.cumulative_ablation": "FAIL",
    "donnelly2019.random100": "FAIL",
    # the unit counts emoticons, so no appended word moves it
    "donnelly2019.suffix_attack_shape": "FAIL",
    # its polarity is negative, and the harness must score it with that sign
    "donnelly2019.opposite_polarity": "PASS",
}))
