"""nerneurons2020: the NCRF++ baselines on CoNLL-2003 and the units of the 50-unit analysis
tagger (sensitivity, importance, activation ablation, tag relations, seeds).

The taggers are trained inside the run (``ctx.ner`` says how long and how many seeds) and
shared by every claim that reads them. The analyses read the test split (eng.testb).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.stats import t as t_dist

from neuron_repro import ner_units as U
from neuron_repro.data.conll import load_conll
from neuron_repro.data.glove import find_glove
from neuron_repro.experiments.registry import Family, register_experiments, register_family
from neuron_repro.models.tagger import (
    ANALYSIS_CONFIG,
    TaggerConfig,
    entity_f1,
    predict,
    unit_activations,
)
from neuron_repro.stats import median_interval, proportion_interval, seed_interval
from neuron_repro.train import TrainingDiverged
from neuron_repro.train.tagger import TaggerJob, train_parallel, train_tagger
from neuron_repro.verdicts import Claim, FigureSpec, Interval, Measurement


@dataclass
class NerSettings:
    """How the NER claims train their taggers. The defaults are the sources': NCRF++'s 100
    epochs for the baselines (the dev-best epoch kept), 10 for the analysis model (the last
    kept), and at least 5 seeds. ``baseline_minutes`` stops each baseline after the epoch
    that passes that many minutes of training in this run; the next run goes on from the
    tagger cache."""

    seeds: int = 5
    analysis_epochs: int = 10
    baseline_epochs: int = 100
    baseline_seed: int = 0
    baseline_minutes: float | None = None
    glove: str | None = None  # a GloVe .txt file; default: <data root>/glove/ or the package

    def __post_init__(self):
        for name in ("seeds", "analysis_epochs", "baseline_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"ner.{name} must be at least 1, not {getattr(self, name)}")
        if self.baseline_minutes is not None and not self.baseline_minutes >= 0:
            raise ValueError(f"ner.baseline_minutes must be 0 or more, not "
                             f"{self.baseline_minutes}")


def _settings(ctx) -> NerSettings:
    return ctx.settings["ner"]


SHUFFLE_SEED = 0


def _data(ctx):
    return ctx.cached(("ner", "data"), lambda: _read_data(ctx))


def _read_data(ctx):
    conll = load_conll(ctx.data_root)
    vectors = find_glove(_settings(ctx).glove, ctx.data_root)
    ctx.data_files.update(conll.files)
    ctx.data_files.update(vectors.files)
    return conll, vectors


def _baseline_config(char: str, word: str) -> TaggerConfig:
    return TaggerConfig(char=char, word=word.removesuffix("_crf"), crf=word.endswith("_crf"))


def load_ner_data(data_root, glove) -> tuple[dict, object]:
    """CoNLL-2003's splits and the word vectors (what a baseline worker process loads)."""
    return load_conll(data_root).splits, find_glove(glove, data_root)


def score_baseline(trained, splits, vectors) -> dict:
    """A trained baseline's record: test F1 and its training."""
    test = splits["test"]
    return {"test_f1": entity_f1(test, predict(trained.model, trained.vocab, test)),
            "embedding": vectors.source, **trained.summary()}


def _baseline(ctx, char: str, word: str) -> dict:
    """A baseline's scores, trained once per run (here, or by :func:`prepare_baselines`); a
    divergence is kept and raised again for every claim that reads it."""
    record = ctx.cached(("ner", "baseline", char, word), lambda: _train_baseline(ctx, char, word))
    if "diverged" in record:
        raise TrainingDiverged(record["diverged"])
    return record


def _train_baseline(ctx, char: str, word: str) -> dict:
    conll, vectors = _data(ctx)
    config, settings = _baseline_config(char, word), _settings(ctx)
    try:
        trained = train_tagger(config, conll.splits, vectors,
                               epochs=settings.baseline_epochs, seed=settings.baseline_seed,
                               keep="best_dev", progress=ctx.progress,
                               desc=f"NER {config.name}", device=ctx.device,
                               cache_dir=ctx.cache_folder("taggers"),
                               minutes=settings.baseline_minutes)
    except TrainingDiverged as exc:
        return {"diverged": str(exc)}
    return score_baseline(trained, conll.splits, vectors)


def prepare_baselines(ctx, claims) -> None:
    """With ``ctx.jobs`` above 1, train the baselines of ``claims`` in that many processes
    at once (one thread each); each claim then reads its record."""
    wanted = [(c.params["char"], c.params["word"]) for c in claims
              if c.experiment == "ner_baseline"]
    wanted = [w for w in dict.fromkeys(wanted) if ("ner", "baseline", *w) not in ctx.memo]
    workers = (os.cpu_count() or 1) if ctx.jobs == -1 else ctx.jobs
    if workers < 2 or len(wanted) < 2:
        return
    _data(ctx)  # the files the workers read, for the provenance
    settings = _settings(ctx)
    jobs = [TaggerJob(_baseline_config(*w), settings.baseline_epochs, settings.baseline_seed,
                      desc=f"NER {_baseline_config(*w).name}") for w in wanted]
    records = train_parallel(jobs, load_ner_data, (ctx.data_root, settings.glove),
                             score_baseline, workers, device=ctx.device,
                             cache_dir=ctx.cache_folder("taggers"),
                             minutes=settings.baseline_minutes, progress=ctx.progress)
    for w, record in zip(wanted, records, strict=True):
        ctx.cached(("ner", "baseline", *w), lambda record=record: record)


def _analysis_models(ctx) -> list[dict]:
    """Per seed: the analysis tagger's test activations, output layer, predictions and the
    derived sensitivity, ranking, per-tag accuracy and ablation curves."""
    return ctx.cached(("ner", "analysis"), lambda: _train_analysis_models(ctx))


def _train_analysis_models(ctx) -> list[dict]:
    conll, vectors = _data(ctx)
    test = conll.splits["test"]
    models = []
    for seed in range(_settings(ctx).seeds):
        trained = train_tagger(ANALYSIS_CONFIG, conll.splits, vectors,
                               epochs=_settings(ctx).analysis_epochs, seed=seed, keep="last",
                               progress=ctx.progress, desc=f"NER analysis seed {seed}",
                               device=ctx.device, cache_dir=ctx.cache_folder("taggers"))
        tags = trained.vocab.tags
        H = unit_activations(trained.model, trained.vocab, test)
        W = trained.model.hidden2tag.weight.detach().cpu().numpy().astype(np.float64)
        b = trained.model.hidden2tag.bias.detach().cpu().numpy().astype(np.float64)
        gold = np.array([tags.index(t) for s in test for t in s.tags])
        pred = U.predictions(H, W, b)  # the softmax tagger's own decoding
        ends = np.cumsum([len(s.tokens) for s in test])[:-1]
        sens = U.sensitivity(H, W, pred)
        ranking = U.importance(sens)
        models.append({
            "seed": seed, "tags": tags, "W": W, "sens": sens, "ranking": ranking,
            "accuracy": U.per_tag_accuracy(gold, pred, len(tags)),
            "curves": U.ablation_curves(H, W, b, gold, ranking),
            "corr": U.tag_correlation(sens),
            "f1": entity_f1(test, [[tags[i] for i in row] for row in np.split(pred, ends)]),
            "summary": trained.summary(),
        })
    return models


def _training(models, ctx) -> dict:
    first = models[0]["summary"]
    return {"seeds": len(models), "epochs": min(m["summary"]["epochs"] for m in models),
            "embedding": _data(ctx)[1].source,
            "train_seconds_per_seed": [m["summary"]["train_seconds"] for m in models],
            "train_sentences_per_second": first["train_sentences_per_second"],
            "test_f1_per_seed": [round(m["f1"], 2) for m in models]}


# ----------------------------------------------------------------------------- figures
def _baseline_curves(ctx) -> FigureSpec:
    """Dev F1 after each epoch of every baseline measured so far in this run."""
    records = sorted((key[2:], record) for key, record in ctx.memo.items()
                     if key[:2] == ("ner", "baseline") and "diverged" not in record)
    return FigureSpec(BASELINE_CURVES, "ner_baseline_curves", {
        "records": [(f"{char}.{word}", record["dev_f1_per_epoch"])
                    for (char, word), record in records]},
        "NCRF++ baselines: dev F1 after each epoch (solid: word LSTMs, dashed: word CNNs)")


BASELINE_CURVES = "ner_baseline_dev_f1.png"
BASELINE_TABLE = "NCRF++ baselines on CoNLL-2003 (entity F1 on eng.testb)"


# ----------------------------------------------------------------------------- experiments
def baseline_experiment(ctx, claim: Claim) -> Measurement:
    name = f"{claim.params['char']}.{claim.params['word']}"
    try:
        out = _baseline(ctx, claim.params["char"], claim.params["word"])
    except TrainingDiverged as exc:  # no F1: the table says where it diverged
        where = re.search(r"at epoch (\d+), batch (\d+)", str(exc))
        row = {"tagger": name, "published": claim.published, "test F1": "-",
               "epochs trained / asked": (f"diverged in epoch {where[1]} (batch {where[2]})"
                                          if where else "diverged")}
        return Measurement(None, {"why": str(exc), "row_of": BASELINE_TABLE, "row": row})
    row = {"tagger": name,
           "published": claim.published, "test F1": round(out["test_f1"], 2),
           "epochs trained / asked": f"{out['epochs']} / {_settings(ctx).baseline_epochs}",
           "best epoch": out["best_epoch"] + 1,
           "best dev F1": max(out["dev_f1_per_epoch"]),
           "sentences/s": out["train_sentences_per_second"],
           "minutes": round(out["train_seconds"] / 60, 1)}
    figures = [_baseline_curves(ctx)]
    return Measurement(round(out["test_f1"], 2),
                       {**out, "row_of": BASELINE_TABLE, "row": row}, figures)


def per_tag_accuracy_experiment(ctx, claim: Claim) -> Measurement:
    models = _analysis_models(ctx)
    tags = models[0]["tags"]
    accuracy = np.array([m["accuracy"] for m in models])
    mean = accuracy.mean(0)
    gaps = {t: round(float(mean[j] - claim.params["published"][t]), 4)
            for j, t in enumerate(tags)}
    table = [{"tag": t, "published": claim.params["published"][t], "measured (mean)": mean[j],
              "std over seeds": accuracy[:, j].std(), "difference": gaps[t]}
             for j, t in enumerate(tags)]
    details = {"table": table,
               "mean_over_seeds": dict(zip(tags, np.round(mean, 4).tolist(), strict=True)),
               "std_over_seeds": dict(zip(tags, np.round(accuracy.std(0), 4).tolist(),
                                          strict=True)),
               "difference": gaps, **_training(models, ctx)}
    interval = None
    if len(models) > 1:  # the largest |gap| over tags, each tag's at 1 - 0.05/T (Bonferroni)
        level = 1 - 0.05 / len(tags)
        each = [seed_interval(accuracy[:, j] - claim.params["published"][t], level)
                for j, t in enumerate(tags)]
        interval = Interval(
            max(0.0 if c.low <= 0 <= c.high else min(abs(c.low), abs(c.high)) for c in each),
            max(max(abs(c.low), abs(c.high)) for c in each), "seeds", n=len(models),
            note=f"largest over {len(tags)} tags of |seed mean - published|, each tag's t "
            f"interval at {level:.4f} (Bonferroni)")
    return Measurement(round(max(abs(g) for g in gaps.values()), 4), details,
                       interval=interval)


def sensitivity_correlations_experiment(ctx, claim: Claim) -> Measurement:
    models = _analysis_models(ctx)
    per_seed = [U.correlation_relations(m["corr"], m["tags"]) for m in models]
    shares = {name: float(np.mean([s[name]["holds"] for s in per_seed])) for name in per_seed[0]}
    pair_shares = {name: {p: float(np.mean([s[name]["pairs"][p] for s in per_seed]))
                          for p in per_seed[0][name]["pairs"]} for name in per_seed[0]}
    figures = [FigureSpec("ner_sensitivity.png", "ner_sensitivity", {"model": models[0]},
                          "NER: the sensitivity of every unit to every tag (first seed)"),
               FigureSpec("ner_tag_correlation.png", "ner_tag_correlation", {"models": models},
                          "NER: correlation of the tags' sensitivity vectors over units, per "
                          "seed")]
    table = [{"relation": name, "share of seeds": share} for name, share in shares.items()]
    # the smallest share over the relations, each relation's Wilson interval over the seeds
    # at 1 - 0.05/R (Bonferroni)
    level = 1 - 0.05 / len(shares)
    each = [proportion_interval(sum(s[name]["holds"] for s in per_seed), len(per_seed),
                                "Wilson, share of seeds", "seeds", level)
            for name in shares]
    interval = Interval(min(c.low for c in each), min(c.high for c in each), "seeds",
                        n=len(per_seed), note=f"smallest over {len(shares)} relations of the "
                        f"share of seeds, each Wilson at {level:.4f} (Bonferroni)")
    return Measurement(min(shares.values()), {"table": table, "share_of_seeds": shares,
                                              "share_of_seeds_per_pair": pair_shares,
                                              **_training(models, ctx)}, figures,
                       interval=interval)


def seed_dependence_experiment(ctx, claim: Claim) -> Measurement:
    models = _analysis_models(ctx)
    if len(models) < 2:
        return Measurement(None, {"why": "needs at least two seeds (--set ner.seeds=N)"})
    rng = np.random.default_rng(SHUFFLE_SEED)
    matched, control, first_cols, pairs = [], [], None, []
    for (i, a), (j, b) in combinations(enumerate(models), 2):
        value, cols = U.matched_correlation(a["sens"], b["sens"])
        matched.append(value)
        control.append(U.shuffled_control(a["sens"], b["sens"], rng))
        first_cols = cols if first_cols is None else first_cols
        pairs.append((i, j))
    excess = float(np.mean(matched) - np.mean(control))
    return Measurement(round(excess, 4), interval=jackknife_over_seeds(
        np.subtract(matched, control), pairs, len(models)), details={
        "matched_correlation_mean": round(float(np.mean(matched)), 4),
        "shuffled_control_mean": round(float(np.mean(control)), 4),
        "seed_pairs": len(matched), "shuffle_seed": SHUFFLE_SEED,
        "matched_correlation_per_pair": np.round(matched, 4).tolist()},
        figures=[FigureSpec("ner_seed_matching.png", "ner_seed_matching",
                            {"first": models[0], "second": models[1], "cols": first_cols},
                            "NER: two seeds' sensitivity matrices, the second's units matched "
                            "to the first's")])


def jackknife_over_seeds(per_pair, pairs: list[tuple[int, int]], n_seeds: int
                         ) -> Interval | None:
    """The t interval (n_seeds - 1 degrees of freedom) of the mean of a statistic of seed
    pairs, with the delete-one-seed jackknife's standard error: the pairs share seeds, so
    they are not independent draws, but the seeds are. None with fewer than 3 seeds."""
    if n_seeds < 3:
        return None
    per_pair = np.asarray(per_pair, dtype=float)
    left_out = np.array([per_pair[[k not in pair for pair in pairs]].mean()
                         for k in range(n_seeds)])
    se = float(np.sqrt((n_seeds - 1) / n_seeds * np.sum((left_out - left_out.mean()) ** 2)))
    half = float(t_dist.ppf(0.975, n_seeds - 1) * se)
    mean = float(per_pair.mean())
    return Interval(mean - half, mean + half, "seeds", n=n_seeds,
                    note="delete-one-seed jackknife over the seed pairs, t with "
                    f"{n_seeds - 1} degrees of freedom")


def ablation_experiment(ctx, claim: Claim) -> Measurement:
    models = _analysis_models(ctx)
    tags = models[0]["tags"]
    target = tags.index(claim.params["tag"])
    n_units = models[0]["W"].shape[1]
    k = round(claim.params["top_share"] * n_units)
    values, changes = [], []
    for m in models:
        value, change = U.selectivity(m["curves"], target, k)
        values.append(value)
        changes.append(change)
    mean_change = np.mean(changes, axis=0)
    table = [{"tag": t, f"accuracy change, top {k} of {claim.params['tag']} zeroed": c}
             for t, c in zip(tags, mean_change, strict=True)]
    others = np.delete(np.abs(mean_change), target)
    interval = seed_interval([c[target] for c in changes]) if len(models) > 1 else None
    return Measurement(round(float(mean_change[target]), 4), interval=interval, details={
        "table": table, "tag": claim.params["tag"], "k": k, "n_units": n_units,
        "selectivity": round(float(np.mean(values)), 4),
        "largest_other_abs_change": round(float(others.max()), 4),
        "selectivity_per_seed": np.round(values, 4).tolist(),
        "accuracy_change_mean_over_seeds": dict(zip(tags, np.round(mean_change, 4).tolist(),
                                                    strict=True))},
        figures=[FigureSpec("ner_ablation_curves.png", "ner_ablation",
                    {"tags": models[0]["tags"], "curves": models[0]["curves"]},
                    "NER: token accuracy per gold tag as each tag's top-k units are zeroed "
                    "(first seed)")])


def weight_similarity_experiment(ctx, claim: Claim) -> Measurement:
    models = _analysis_models(ctx)
    per_seed = [U.weight_relations(U.cosine_matrix(m["W"]), m["tags"]) for m in models]
    counts = [sum(r.values()) for r in per_seed]
    m = models[0]
    figure = FigureSpec("ner_weight_cosine.png", "tag_square", {
        "matrix": U.cosine_matrix(m["W"]), "tags": m["tags"],
        "title": f"cosine of output-layer rows, seed {m['seed']}"},
        "NER: cosine similarity of the output layer's tag rows (first seed)")
    table = [{"relation": name, "share of seeds": float(np.mean([r[name] for r in per_seed]))}
             for name in per_seed[0]]
    return Measurement(float(np.median(counts)), interval=median_interval(counts)
                       if len(counts) > 1 else None, details={
        "table": table, "relations_holding_per_seed": counts,
        "share_of_seeds": {name: float(np.mean([r[name] for r in per_seed]))
                           for name in per_seed[0]}}, figures=[figure])


def top10_overlap_experiment(ctx, claim: Claim) -> Measurement:
    models = _analysis_models(ctx)
    tags = models[0]["tags"]
    overlap = np.mean([U.topk_overlap(m["ranking"], 10) for m in models], axis=0)
    off = overlap[~np.eye(len(tags), dtype=bool)]
    figure = FigureSpec("ner_top10_overlap.png", "tag_square", {
        "matrix": overlap, "tags": tags,
        "title": "top-10 important units shared (mean over seeds)", "centre": False},
        "NER: top-10 important units shared by each pair of tags (mean over seeds)")
    return Measurement(round(float(off.mean()), 3), {
        "mean_over_seeds": {f"{a}/{b}": float(overlap[i, j]) for (i, a), (j, b) in
                            combinations(enumerate(tags), 2)}}, [figure])


def _spent(experiment, budget):
    """``experiment`` with what the run spent (``budget(ctx)``) recorded in its measurement,
    for the claim's protocol to be checked against."""
    def run(ctx, claim: Claim) -> Measurement:
        measurement = experiment(ctx, claim)
        measurement.budget = budget(ctx, measurement)
        return measurement
    run.__doc__ = experiment.__doc__
    return run


def _baseline_budget(ctx, measurement) -> dict:
    """The epochs this baseline had (fewer than asked when ``ner.baseline_minutes`` stopped
    it)."""
    return {"epochs": measurement.details.get("epochs", 0)}  # 0: it diverged


def _analysis_budget(ctx, measurement) -> dict:
    """What the analysis taggers had: how many were trained, and the fewest epochs any of
    them trained for (not what the settings asked)."""
    models = _analysis_models(ctx)
    return {"seeds": len(models), "epochs": min(m["summary"]["epochs"] for m in models)}


EXPERIMENTS = register_experiments({
    "ner_baseline": _spent(baseline_experiment, _baseline_budget),
    **{name: _spent(experiment, _analysis_budget) for name, experiment in {
        "ner_per_tag_accuracy": per_tag_accuracy_experiment,
        "ner_sensitivity_correlations": sensitivity_correlations_experiment,
        "ner_seed_dependence": seed_dependence_experiment,
        "ner_ablation": ablation_experiment,
        "ner_weight_similarity": weight_similarity_experiment,
        "ner_top10_overlap": top10_overlap_experiment,
    }.items()},
})

FAMILY = register_family(Family(
    "ner", settings=NerSettings(),
    fixture_settings=NerSettings(seeds=5, analysis_epochs=6, baseline_epochs=1),
    # the taggers train on the fixture sentences: no verdict is known, but each is measured
    fixture_measured=("nerneurons2020",), prepare=prepare_baselines))
