"""The linear probe of radford2017 and donnelly2019.

The released protocol (``train_with_reg_cv`` in openai/generating-reviews-discovering-
sentiment, utils.py): for C in 2^-8 ... 2^0 fit an L1 logistic regression with liblinear on
train (random_state 42 + i), score dev, take the first best C, refit on train only with
random_state 42 + 9, and report test accuracy, C and the number of non-zero weights.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import sklearn
from joblib import Parallel, delayed
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from neuron_repro.io import CorruptFileError, read_npz, save_npz, warn_stale

C_GRID = tuple(2.0**k for k in range(-8, 1))
SEED = 42
SOLVERS = ("liblinear", "engine")
# The engine stops when every fit meets the optimality condition to within
# neuron_repro.probe_engine.KKT_TOL; liblinear stops at a gradient-norm tolerance of 1e-4 or 100
# iterations. A fit that reaches ENGINE_MAX_ITER Newton steps first is an error.
ENGINE_MAX_ITER = 100


class EngineNotConverged(RuntimeError):
    """An engine fit stopped short of the optimum: never returned as if it were one."""


class EngineFit:
    """One problem solved by :class:`neuron_repro.probe_engine.BatchedL1LogReg`, with the part of a
    fitted ``LogisticRegression``'s interface the probe reads."""

    def __init__(self, coef: np.ndarray, intercept: float, objective: float, n_iter: int):
        self.coef_ = np.asarray(coef, dtype=np.float64)[None, :]
        self.intercept_ = np.array([float(intercept)])
        self.objective_, self.n_iter_ = float(objective), int(n_iter)

    def decision_function(self, X) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.coef_[0] + self.intercept_[0]

    def predict(self, X) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(int)


ENGINE_VERSION = "engine-grid-v3"  # change it whenever engine_grid's settings change


def engine_grid(c_grid, X, y, device: str = "cpu",
                cache: FitCache | None = None) -> list[EngineFit]:
    """liblinear's objective at every C of ``c_grid`` on the same data, solved together by
    the engine's proximal Newton (float64 on CPU, float32 on CUDA); kept in ``cache`` when
    given. Raises :class:`EngineNotConverged` when a fit misses the optimality tolerance."""
    import torch

    from neuron_repro.probe_engine import KKT_TOL, BatchedL1LogReg

    grid = np.asarray(c_grid, dtype=np.float64)
    k, d = len(grid), X.shape[1]
    key = None
    if cache is not None:
        key = cache.key(X, y, f"{ENGINE_VERSION}|{KKT_TOL}|{ENGINE_MAX_ITER}|"
                        f"{torch.device(device).type}|{grid.tolist()}", 0)
        entry = cache.read(key, {"coef": (k, d), "intercept": (k,), "objective": (k,),
                                 "n_iter": ()})
        if entry is not None:
            return [EngineFit(entry["coef"][i], entry["intercept"][i], entry["objective"][i],
                              int(entry["n_iter"])) for i in range(k)]
    engine = BatchedL1LogReg(device=device).fit_newton(X, y, grid, max_iter=ENGINE_MAX_ITER)
    if not engine.converged_.all():
        bad = ", ".join(f"C={c:g} (largest pseudo-gradient {v:.2g})"
                        for c, v, ok in zip(grid, engine.kkt_, engine.converged_, strict=True)
                        if not ok)
        raise EngineNotConverged(
            f"the probe engine stopped short of the optimum after {engine.n_iter_} Newton "
            f"steps at {bad}; the tolerance is {KKT_TOL:g} (use --solver liblinear)")
    objective = np.asarray(engine.objective_, dtype=np.float64)
    if cache is not None:
        cache.write(key, {"coef": engine.coef_, "intercept": engine.intercept_,
                          "objective": objective, "n_iter": np.array(engine.n_iter_)})
    return [EngineFit(engine.coef_[i], engine.intercept_[i], objective[i], engine.n_iter_)
            for i in range(k)]


def _l1_logreg(c: float, seed: int) -> LogisticRegression:
    # scikit-learn >= 1.8 asks for L1 through l1_ratio; liblinear is the released solver.
    return LogisticRegression(C=c, l1_ratio=1.0, solver="liblinear", random_state=seed)


class FitCache:
    """liblinear fits kept on disk, so that a run stopped part of the way and run again
    refits nothing it has already fitted.

    A fit is keyed by everything that decides it: the solver and its settings, the
    scikit-learn version, C, the random state, and the bytes of X (with dtype and shape) and y.
    Each entry is an ``.npz`` of plain arrays (read without pickle), written to a temporary
    file and renamed into place, so a killed run never leaves half an entry behind; an entry
    that cannot be read is fitted again. ``hits`` and ``misses`` count this process's lookups.
    """

    VERSION = "liblinear-l1-v2"  # change it whenever _l1_logreg's settings change

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.hits = self.misses = 0

    def stats(self) -> dict:
        return {"fitted": self.misses, "read_from_cache": self.hits}

    def key(self, X: np.ndarray, y: np.ndarray, c: float, seed: int) -> str:
        digest = hashlib.sha256(f"{self.VERSION}|{sklearn.__version__}|{c!r}|{seed}".encode())
        for a in (np.ascontiguousarray(X), np.ascontiguousarray(y)):
            digest.update(f"|{a.dtype.str}{a.shape}|".encode())
            digest.update(a.data)
        return digest.hexdigest()

    def read(self, key: str, expect: dict, check=None) -> dict | None:
        """The arrays kept under ``key`` (a hit), or None when there are none or they are
        unusable (said with a warning); ``check(entry)`` may raise CorruptFileError too."""
        path = self.root / f"{key}.npz"
        if not path.is_file():
            return None
        try:
            entry = read_npz(path, expect, key=key)
            if check is not None:
                check(entry)
        except CorruptFileError as exc:
            warn_stale(path, exc)
            return None
        self.hits += 1
        return entry

    def write(self, key: str, arrays: dict) -> None:
        """Keep ``arrays`` under ``key`` (a miss: it was computed)."""
        self.misses += 1
        save_npz(self.root / f"{key}.npz", {"key": np.array(key), **arrays})

    def fit(self, X, y, c: float, seed: int) -> LogisticRegression:
        key = self.key(X, y, c, seed)
        model = _l1_logreg(c, seed)
        expect = {"coef_": (1, X.shape[1]), "intercept_": (1,), "classes_": (2,),
                  "n_iter_": (1,)}

        def same_classes(entry):
            if not np.array_equal(entry["classes_"], np.unique(y)):
                raise CorruptFileError(f"{key}.npz: classes {entry['classes_']} are not the "
                                       f"labels {np.unique(y)}")

        entry = self.read(key, expect, same_classes)
        if entry is not None:
            for name in expect:
                setattr(model, name, entry[name])
            model.n_features_in_ = X.shape[1]
            return model
        model.fit(X, y)
        self.write(key, {name: getattr(model, name) for name in expect})
        return model

    def copy(self) -> FitCache:
        """The same folder with counts of its own (for a worker process to fill)."""
        return FitCache(self.root)

    def add(self, other: FitCache) -> None:
        """Count the lookups another copy made (in a worker process) as this one's."""
        self.hits += other.hits
        self.misses += other.misses


def _fit(c: float, seed: int, X, y, cache: FitCache | None = None) -> LogisticRegression:
    if cache is None:
        return _l1_logreg(c, seed).fit(X, y)
    return cache.fit(X, y, c, seed)


def _counted(function, args, cache):
    """``function(*args, cache=...)`` in a worker process, with a cache of its own counts."""
    cache = cache.copy() if cache is not None else None
    return function(*args, cache=cache), cache


def map_with_cache(function, calls, cache: FitCache | None, n_jobs: int = 1) -> list:
    """``function(*args, cache=cache)`` for each ``args`` of ``calls``, in ``n_jobs`` processes
    (each liblinear fit is single-threaded); what the workers fitted and read back is counted
    in ``cache``. The results do not depend on ``n_jobs``."""
    calls = list(calls)
    # no more processes than there are calls (or cores, for -1)
    workers = min(len(calls), (os.cpu_count() or 1) if n_jobs == -1 else n_jobs)
    if workers <= 1:
        return [function(*args, cache=cache) for args in calls]
    done = Parallel(n_jobs=workers)(delayed(_counted)(function, args, cache) for args in calls)
    if cache is not None:
        for _, counts in done:
            cache.add(counts)
    return [result for result, _ in done]


def _accuracy(model, X, y) -> float:
    return 100.0 * float(np.mean(model.predict(X) == y))


class L1Probe:
    """The paper's L1 probe as a scikit-learn style estimator.

    Parameters
    ----------
    c_grid : the regularisation strengths tried, in order (the first best on dev wins)
    seed : base random_state; fit i of the grid uses ``seed + i``, the refit ``seed + len(grid)``
    cache : a :class:`FitCache` that keeps each liblinear fit on disk (None: fit every time)
    n_jobs : processes the grid's fits run in (the numbers do not depend on it)
    solver : ``liblinear`` (the paper's) or ``engine``: the same objective solved for the
        whole grid at once by :func:`engine_grid`, to a tighter tolerance; it has no random
        state, so the refit at the chosen C is the grid's fit at that C
    device : where the engine runs

    Attributes
    ----------
    C_ : chosen C
    dev_accuracies_ : dev accuracy (percent) of each C of the grid
    model_ : the refitted LogisticRegression
    coef_ : ndarray of shape (n_features,)
    n_nonzero_ : number of non-zero weights
    sentiment_unit_ : index of the largest absolute weight (None when all weights are zero)
    sentiment_unit_sign_ : +1 or -1, the sign of that weight (0 when there is none)
    """

    def __init__(self, c_grid=C_GRID, seed: int = SEED, cache: FitCache | None = None,
                 n_jobs: int = 1, solver: str = "liblinear", device: str = "cpu"):
        if solver not in SOLVERS:
            raise ValueError(f"solver {solver!r}: use one of {', '.join(SOLVERS)}")
        self.c_grid = c_grid
        self.seed = seed
        self.cache = cache
        self.n_jobs = n_jobs
        self.solver = solver
        self.device = device

    def fit(self, X_train, y_train, X_dev, y_dev) -> L1Probe:
        """Select C on dev, then refit on train only.

        X_train : ndarray of shape (n_train, n_features); X_dev likewise.
        """
        y_train, y_dev = np.asarray(y_train), np.asarray(y_dev)
        if len(np.unique(y_train)) != 2:
            raise ValueError(f"the probe needs two classes in train, got {np.unique(y_train)}")
        if self.solver == "engine":
            fitted = engine_grid(self.c_grid, X_train, y_train, self.device, self.cache)
        else:  # with cores for them all, the grid takes as long as its slowest fit
            fitted = map_with_cache(_fit, [(c, self.seed + i, X_train, y_train)
                                           for i, c in enumerate(self.c_grid)],
                                    self.cache, self.n_jobs)
        scores = [_accuracy(model, X_dev, y_dev) for model in fitted]
        self.dev_accuracies_ = scores
        best = int(np.argmax(scores))  # argmax takes the first best
        self.C_ = float(self.c_grid[best])
        if self.solver == "engine":
            self.model_ = fitted[best]
        else:
            self.model_ = _fit(self.C_, self.seed + len(self.c_grid), X_train, y_train,
                               self.cache)
        self.coef_ = self.model_.coef_.ravel()
        self.n_nonzero_ = int(np.count_nonzero(self.coef_))
        if self.n_nonzero_ == 0:
            self.sentiment_unit_, self.sentiment_unit_sign_ = None, 0
        else:
            self.sentiment_unit_ = int(np.argmax(np.abs(self.coef_)))
            self.sentiment_unit_sign_ = 1 if self.coef_[self.sentiment_unit_] > 0 else -1
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def score(self, X, y) -> float:
        """Accuracy in percent."""
        return _accuracy(self.model_, X, np.asarray(y))


def zero_shot_accuracy(values, y, sign: int, threshold: float = 0.0) -> float:
    """Accuracy (percent) of the rule ``positive iff sign * value > threshold``.

    ``sign`` is the unit's polarity: a unit whose weight is negative says "positive" when its
    value is low, and is scored that way, never as a flipped classifier.
    """
    pred = (sign * np.asarray(values) > threshold).astype(int)
    return 100.0 * float(np.mean(pred == np.asarray(y)))


@dataclass
class ProbeResult:
    """Everything the paper's protocol reports on one split (accuracies in percent)."""

    test_accuracy: float
    C: float
    n_nonzero: int
    sentiment_unit: int | None  # None when every weight is zero
    sentiment_unit_sign: int
    sentiment_unit_accuracy: float
    sentiment_unit_C: float
    sentiment_unit_deleted_accuracy: float
    sentiment_unit_deleted_C: float
    zero_shot_accuracy: float
    second_weight_ratio: float
    n_train: int
    n_dev: int
    n_test: int
    dev_accuracies: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # degenerate probes, said in words
    solver: str = "liblinear"

    def to_dict(self) -> dict:
        return asdict(self)


def run_probe(X_train, y_train, X_dev, y_dev, X_test, y_test, cache: FitCache | None = None,
              n_jobs: int = 1, solver: str = "liblinear",
              device: str = "cpu") -> tuple[ProbeResult, L1Probe]:
    """The full protocol: all units, the sentiment unit alone, its column zeroed, zero-shot.

    X_* : ndarray of shape (n_*, n_units). The unit-only and deleted classifiers repeat the
    protocol (grid, dev selection, refit) on one column and on the zeroed matrix. ``n_jobs``
    processes fit each grid; ``solver`` and ``device`` as for :class:`L1Probe`.
    """
    options = dict(cache=cache, solver=solver, device=device)
    probe = L1Probe(n_jobs=n_jobs, **options).fit(X_train, y_train, X_dev, y_dev)
    common = dict(test_accuracy=probe.score(X_test, y_test), C=probe.C_, n_nonzero=probe.n_nonzero_,
                  n_train=len(y_train), n_dev=len(y_dev), n_test=len(y_test),
                  dev_accuracies=probe.dev_accuracies_, solver=solver)
    nan = float("nan")
    if probe.n_nonzero_ == 0:
        # The chosen C zeroed every weight: the model predicts one class and has no unit.
        note = (f"the probe kept no weight at the C chosen on dev ({probe.C_:g}): it predicts "
                "one class, and there is no sentiment unit")
        return ProbeResult(sentiment_unit=None, sentiment_unit_sign=0, sentiment_unit_accuracy=nan,
                           sentiment_unit_C=nan, sentiment_unit_deleted_accuracy=nan,
                           sentiment_unit_deleted_C=nan, zero_shot_accuracy=nan,
                           second_weight_ratio=nan, notes=[note], **common), probe
    unit = probe.sentiment_unit_
    notes = []
    # one column fits in moments: no processes for it
    alone = L1Probe(**options).fit(X_train[:, [unit]], y_train, X_dev[:, [unit]], y_dev)
    alone_accuracy = alone.score(X_test[:, [unit]], y_test)
    if alone.n_nonzero_ == 0:
        # a constant prediction is not the unit's accuracy
        notes.append(f"the unit-alone probe of unit {unit} kept no weight at the C chosen on "
                     f"dev ({alone.C_:g}): it predicts one class ({alone_accuracy:.2f} %), so "
                     "the unit alone has no accuracy of its own")
        alone_accuracy = nan

    def zeroed(X):
        X = X.copy()
        X[:, unit] = 0.0
        return X

    deleted = L1Probe(n_jobs=n_jobs, **options).fit(zeroed(X_train), y_train, zeroed(X_dev),
                                                    y_dev)
    if deleted.n_nonzero_ == 0:
        notes.append(f"with unit {unit} deleted the probe kept no weight at the C chosen on dev "
                     f"({deleted.C_:g}): it predicts one class")
    weights = np.sort(np.abs(probe.coef_))[::-1]
    ratio = float(weights[0] / weights[1]) if len(weights) > 1 and weights[1] > 0 else float("inf")
    result = ProbeResult(
        sentiment_unit=unit,
        sentiment_unit_sign=probe.sentiment_unit_sign_,
        sentiment_unit_accuracy=alone_accuracy,
        sentiment_unit_C=alone.C_,
        sentiment_unit_deleted_accuracy=deleted.score(zeroed(X_test), y_test),
        sentiment_unit_deleted_C=deleted.C_,
        zero_shot_accuracy=zero_shot_accuracy(X_test[:, unit], y_test, probe.sentiment_unit_sign_),
        second_weight_ratio=ratio,
        notes=notes,
        **common,
    )
    return result, probe


def cross_validation_folds(y, n_folds: int = 10, seed: int = SEED):
    """Stratified folds for the radford2017 10-fold protocol.

    Yields ``(train_idx, dev_idx, test_idx)``: fold k is the test set, fold (k + 1) mod n the
    dev set that selects C, and the remaining folds the training set (refit on it alone,
    as in the train/dev/test protocol).
    """
    y = np.asarray(y)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    folds = [test for _, test in splitter.split(np.zeros(len(y)), y)]
    for k in range(n_folds):
        dev = folds[(k + 1) % n_folds]
        train = np.concatenate([f for j, f in enumerate(folds) if j not in (k, (k + 1) % n_folds)])
        yield np.sort(train), np.sort(dev), np.sort(folds[k])


def summarise_folds(results: list[ProbeResult]) -> dict:
    """Means over folds, with the unit chosen most often and the spread of test accuracy."""
    keys = (
        "test_accuracy", "sentiment_unit_accuracy", "sentiment_unit_deleted_accuracy",
        "zero_shot_accuracy", "n_nonzero", "second_weight_ratio",
    )
    # a fold whose chosen C zeroed every weight has no unit to score: left out of the mean
    out = {}
    for k in keys:
        values = np.array([getattr(r, k) for r in results], dtype=float)
        kept = values[~np.isnan(values)]
        out[k] = float(kept.mean()) if len(kept) else float("nan")
    out["test_accuracy_std"] = float(np.std([r.test_accuracy for r in results]))
    units = Counter(r.sentiment_unit for r in results if r.sentiment_unit is not None)
    out["sentiment_unit"], out["sentiment_unit_folds"] = (units.most_common(1) or [(None, 0)])[0]
    signs = [r.sentiment_unit_sign for r in results if r.sentiment_unit == out["sentiment_unit"]]
    out["sentiment_unit_sign"] = int(Counter(signs).most_common(1)[0][0])
    out["C"] = float(Counter(r.C for r in results).most_common(1)[0][0])
    out["n_folds"] = len(results)
    out["solver"] = results[0].solver
    out["probe_notes"] = [f"fold {i + 1}: {note}" for i, r in enumerate(results)
                          for note in r.notes]
    return out
