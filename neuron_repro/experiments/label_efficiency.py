"""radford2017's label-efficiency curve (Section 4.1, Figure 3): the L1 probe trained on a
few labelled SST sentences.

For each size n, ``draws`` seeded draws of n training sentences without replacement (a draw
that misses a class is drawn again), each fitted with the paper's protocol: the C grid, C
chosen on the *full* dev set (the first best), the refit on the draw, test accuracy on the
full test set. At n equal to the whole training set every draw is that set, so it is fitted
once and counted for all of them. The draws are independent: with ``--jobs N`` they run in N
processes, as the C grid does.
"""

from __future__ import annotations

import numpy as np

from neuron_repro.experiments.registry import Family, register_experiments, register_family
from neuron_repro.probes import L1Probe, map_with_cache
from neuron_repro.verdicts import Claim, FigureSpec, Measurement

MAX_REDRAWS = 1000


def draw_indices(labels, n: int, seed: int, draw: int) -> np.ndarray:
    """``n`` distinct training rows holding both classes, from a generator seeded by
    ``(seed, n, draw)`` (so a size's draws do not depend on the other sizes)."""
    labels = np.asarray(labels)
    if not 2 <= n <= len(labels):
        raise ValueError(f"cannot draw {n} of {len(labels)} examples with both classes")
    rng = np.random.default_rng([seed, n, draw])
    for _ in range(MAX_REDRAWS):
        rows = np.sort(rng.choice(len(labels), size=n, replace=False))
        if len(np.unique(labels[rows])) == 2:
            return rows
    raise ValueError(f"no draw of {n} examples held both classes in {MAX_REDRAWS} tries")


def _fit_draw(X_train, y_train, X_dev, y_dev, X_test, y_test, rows, solver="liblinear",
              device="cpu", cache=None) -> dict:
    probe = L1Probe(cache=cache, solver=solver, device=device).fit(
        X_train[rows], y_train[rows], X_dev, y_dev)
    return {"accuracy": probe.score(X_test, y_test), "C": probe.C_,
            "n_nonzero": probe.n_nonzero_}


def label_efficiency_curve(ctx, sizes, draws: int, seed: int) -> dict:
    """Every size's draws on SST, once per run."""
    return ctx.cached(("label_efficiency", tuple(sizes), draws, seed),
                      lambda: _curve(ctx, sizes, draws, seed))


def _curve(ctx, sizes, draws: int, seed: int) -> dict:
    splits = ctx.dataset("sst").splits
    X = {s: ctx.states("sst", s)["final_c"] for s in ("train", "dev", "test")}
    y = {s: splits[s].labels for s in ("train", "dev", "test")}
    n_train = len(y["train"])
    kept = [n for n in sizes if n <= n_train]
    calls, owners = [], []
    solver = ctx.solver_for("sst")
    for n in kept:
        for draw in range(1 if n == n_train else draws):
            rows = draw_indices(y["train"], n, seed, draw)
            calls.append((X["train"], y["train"], X["dev"], y["dev"], X["test"], y["test"],
                          rows, solver, ctx.device))
            owners.append(n)
    fits = map_with_cache(_fit_draw, calls, ctx.fit_cache, ctx.jobs)
    curve = []
    for n in kept:
        mine = [f for f, owner in zip(fits, owners, strict=True) if owner == n]
        accuracies = [f["accuracy"] for f in mine]
        if n == n_train:
            accuracies = accuracies * draws  # the draws of the whole set are that set
        curve.append({
            "n": n, "mean": float(np.mean(accuracies)),
            "sd": float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else 0.0,
            "min": float(np.min(accuracies)), "max": float(np.max(accuracies)),
            "accuracies": accuracies, "C": [f["C"] for f in mine],
            "n_nonzero": [f["n_nonzero"] for f in mine], "distinct_draws": len(mine),
        })
    out = {"curve": curve, "n_train": n_train, "skipped_sizes": [n for n in sizes if n > n_train],
           "draws": draws, "seed": seed}
    return out


def label_efficiency_experiment(ctx, claim: Claim) -> Measurement:
    """Value: the mean test accuracy at the smallest size. Shape: the full-data accuracy
    minus the mean at ``params['shape_size']``."""
    p = claim.params
    out = label_efficiency_curve(ctx, p["sizes"], p["draws"], p["seed"])
    by_size = {point["n"]: point for point in out["curve"]}
    smallest, shape_size = min(p["sizes"]), p["shape_size"]
    details = {**out, "protocol": "C chosen on the full dev set; test on the full test set"}
    if out["skipped_sizes"]:
        details["notes"] = [f"sizes {out['skipped_sizes']} exceed the {out['n_train']} "
                            "training examples at hand"]
    value = by_size[smallest]["mean"] if smallest in by_size else float("nan")
    shape = float("nan")
    if shape_size in by_size and out["n_train"] in by_size:
        shape = by_size[out["n_train"]]["mean"] - by_size[shape_size]["mean"]
    details[f"gap_at_{shape_size}"] = shape
    figures = [FigureSpec(
        "sst_label_efficiency.png", "label_efficiency",
        {"sizes": [point["n"] for point in out["curve"]],
         "accuracies": [point["accuracies"] for point in out["curve"]],
         "title": f"SST: L1 probe by labelled examples ({ctx.profile}; {p['draws']} draws a size)",
         "marks": [(smallest, claim.published, f"published: {claim.published} at {smallest}")]},
        f"SST: test accuracy of the L1 probe against labelled training examples ({p['draws']} "
        "draws a size)")] if out["curve"] else []
    # the draws that ran at the sizes below the whole set (the whole set is one draw)
    drawn = [point["distinct_draws"] for point in out["curve"] if point["n"] < out["n_train"]]
    return Measurement(value, details, figures, budget={"draws": min(drawn, default=0)},
                       shape_value=shape)


EXPERIMENTS = register_experiments({"label_efficiency": label_efficiency_experiment})

FAMILY = register_family(Family("label_efficiency"))
