"""donnelly2019's sweeps over units, solved in batches by ``neuron_repro.probe_engine``.

All refits of the deletion, cumulative and random-subset sweeps keep the C that the paper's
protocol chose for the full model (one refit per problem, as in the source); the single-unit
sweep selects C on dev for each unit, since one column's scale differs from unit to unit. The
report says that these numbers come from the batched solver, and the headline accuracies from
liblinear.
"""

from __future__ import annotations

import numpy as np

from neuron_repro.probe_engine import BatchedL1LogReg
from neuron_repro.probes import C_GRID

CHUNK = 256  # problems solved together: bounds memory at n_samples x CHUNK margins


def _engine(device):
    return BatchedL1LogReg(max_iter=3000, tol=1e-6, device=device)


def full_fit(X_train, y_train, C, device="cpu") -> BatchedL1LogReg:
    return _engine(device).fit(X_train, y_train, C)


def deletion_sweep(X_train, y_train, X_test, y_test, C, device="cpu") -> dict:
    """Refit once per unit with that unit's column zeroed.

    X_* : ndarray of shape (n_*, n_units). A unit whose weight is zero in the full fit needs no
    refit: zeroing a column the optimum does not use leaves it optimal, exactly. The others
    are warm-started from the full fit.

    Returns ``accuracy`` and ``objective`` (n_units,), ``full_accuracy`` and ``n_refits``.
    """
    full = full_fit(X_train, y_train, C, device)
    full_accuracy = float(full.score(X_test, y_test)[0])
    d = X_train.shape[1]
    accuracy = np.full(d, full_accuracy)
    objective = np.full(d, float(full.objective_[0]))
    used = np.flatnonzero(full.coef_[0])
    init = np.concatenate([full.coef_[0], full.intercept_])
    for start in range(0, len(used), CHUNK):
        units = used[start:start + CHUNK]
        masks = np.ones((len(units), d), dtype=bool)
        masks[np.arange(len(units)), units] = False
        fit = _engine(device).fit(X_train, y_train, C, masks=masks,
                                  init=np.tile(init, (len(units), 1)))
        accuracy[units] = fit.score(X_test, y_test)
        objective[units] = fit.objective_
    return {"accuracy": accuracy, "objective": objective, "full_accuracy": full_accuracy,
            "n_refits": int(len(used)), "full_init": init}


def single_unit_sweep(X_train, y_train, X_dev, y_dev, X_test, y_test, device="cpu") -> dict:
    """A classifier on each unit alone, C chosen on dev from the paper's grid (first best).

    Returns ``accuracy`` (n_units,) on test and ``C`` (n_units,).
    """
    d = X_train.shape[1]
    columns = np.arange(d)[:, None]
    dev_scores, test_scores = [], []
    for C in C_GRID:
        fit = _engine(device).fit_subsets(X_train, y_train, C, columns,
                                          chunk=CHUNK if device == "cpu" else None)
        dev_scores.append(fit.score(X_dev, y_dev))
        test_scores.append(fit.score(X_test, y_test))
    best = np.argmax(np.stack(dev_scores), axis=0)  # first best C per unit
    return {"accuracy": np.stack(test_scores)[best, np.arange(d)],
            "C": np.asarray(C_GRID)[best]}


def cumulative_ablation(X_train, y_train, X_test, y_test, C, init, device="cpu") -> dict:
    """Delete units by decreasing |weight| of the full fit ``init`` (its coefficients, then
    the intercept, as ``deletion_sweep`` returns it), one more at a time down to one unit
    left, and refit each from that fit.

    Returns ``units_left`` (n_units,) and ``accuracy`` at each.
    """
    d = X_train.shape[1]
    order = np.argsort(-np.abs(init[:d]), kind="stable")
    n_deleted = np.arange(d)  # 0 .. d - 1 deleted
    accuracy = np.full(d, np.nan)  # every block is written below
    for start in range(0, d, CHUNK):
        block = n_deleted[start:start + CHUNK]
        masks = np.ones((len(block), d), dtype=bool)
        for row, k in enumerate(block):
            masks[row, order[:k]] = False
        fit = _engine(device).fit(X_train, y_train, C, masks=masks,
                                  init=np.tile(init, (len(block), 1)))
        accuracy[block] = fit.score(X_test, y_test)
    return {"units_left": d - n_deleted, "accuracy": accuracy}


# donnelly2019 drew 100 of OpenAI's 4096 units: the same share of any model's units
SOURCE_SUBSET = (100, 4096)


def subset_size(n_units: int) -> int:
    """Units per random classifier: the source's share of ``n_units`` (at least one)."""
    return max(1, round(n_units * SOURCE_SUBSET[0] / SOURCE_SUBSET[1]))


def random_subsets(X_train, y_train, X_test, y_test, C, n_classifiers=1000, size=None, seed=42,
                   device="cpu") -> dict:
    """``n_classifiers`` classifiers, each on ``size`` units drawn at random (seeded); by
    default :func:`subset_size` of the model's units.

    Returns ``accuracy`` (n_classifiers,), ``size`` and the ``columns`` drawn.
    """
    d = X_train.shape[1]
    size = subset_size(d) if size is None else size
    if not 1 <= size <= d:
        raise ValueError(f"a subset of {size} units from {d}")
    rng = np.random.default_rng(seed)
    columns = np.stack([np.sort(rng.choice(d, size, replace=False))
                        for _ in range(n_classifiers)])
    accuracy = _engine(device).fit_subsets(X_train, y_train, C, columns).score(X_test, y_test)
    return {"accuracy": accuracy, "size": size, "columns": columns}


def units_left_below(units_left, accuracy, level) -> int | None:
    """The most units left at which the cumulative curve first falls below ``level``
    (scanning deletions in order); None when it never does."""
    below = np.flatnonzero(np.asarray(accuracy) < level)
    return int(units_left[below[0]]) if len(below) else None


def roughly_normal(values) -> dict:
    """Skewness and excess kurtosis of ``values`` (both 0 for a normal distribution)."""
    from scipy.stats import kurtosis, skew

    values = np.asarray(values, dtype=np.float64)
    if np.ptp(values) == 0:
        return {"skewness": 0.0, "excess_kurtosis": float("nan")}
    return {"skewness": float(skew(values)), "excess_kurtosis": float(kurtosis(values))}
