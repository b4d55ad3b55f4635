import itertools

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from neuron_repro.probe_engine import BatchedL1LogReg, liblinear_objective


def data(n=1200, d=48, seed=0):
    """Correlated features, a few of which carry the label (like cell states do)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    base = rng.normal(0, 1, (n, 8))
    X = base @ rng.normal(0, 1, (8, d)) * 0.3 + rng.normal(0, 1, (n, d))
    X[:, :4] += (2 * y - 1)[:, None] * rng.uniform(0.2, 0.6, 4)
    return X, y


# The engine on CUDA (float32 there) must meet the same agreement as on the CPU.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def liblinear(X, y, C):
    return LogisticRegression(C=C, l1_ratio=1.0, solver="liblinear", random_state=0, tol=1e-8,
                              max_iter=10000).fit(X, y)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("C", [2.0**-8, 2.0**-4, 2.0**-1, 1.0])
def test_agrees_with_liblinear(C, device):
    X, y = data()
    Xtr, ytr, Xte, yte = X[:800], y[:800], X[800:], y[800:]
    ref = liblinear(Xtr, ytr, C)
    ref_obj = liblinear_objective(ref.coef_.ravel(), ref.intercept_[0], Xtr, ytr, C)
    engine = BatchedL1LogReg(device=device).fit(Xtr, ytr, C)
    assert engine.objective_[0] <= ref_obj * (1 + 1e-3)
    # the objective it reports is that of the weights it returns (to its float precision)
    assert engine.objective_[0] == pytest.approx(
        liblinear_objective(engine.coef_[0], engine.intercept_[0], Xtr, ytr, C),
        rel=1e-9 if device == "cpu" else 1e-5)
    assert abs(engine.score(Xte, yte)[0] - 100 * ref.score(Xte, yte)) <= 0.2 + 1e-9


@pytest.mark.parametrize("device", DEVICES)
def test_masked_problems_agree_with_liblinear_on_their_columns(device):
    X, y = data(seed=1)
    rng = np.random.default_rng(2)
    masks = np.zeros((5, X.shape[1]), dtype=bool)
    for row in masks:
        row[rng.choice(X.shape[1], 10, replace=False)] = True
    engine = BatchedL1LogReg(device=device).fit(X, y, 0.25, masks=masks)
    for k, mask in enumerate(masks):
        assert not engine.coef_[k][~mask].any()
        ref = liblinear(X[:, mask], y, 0.25)
        ref_obj = liblinear_objective(ref.coef_.ravel(), ref.intercept_[0], X[:, mask], y, 0.25)
        assert engine.objective_[k] <= ref_obj * (1 + 1e-3)


def test_batched_equals_one_at_a_time():
    X, y = data(seed=3)
    Cs = np.array([0.01, 0.1, 1.0])
    together = BatchedL1LogReg().fit(X, y, Cs)
    for k, C in enumerate(Cs):
        alone = BatchedL1LogReg().fit(X, y, C)
        assert together.objective_[k] == pytest.approx(alone.objective_[0], rel=1e-6)


def test_deleting_a_zero_weight_column_leaves_the_optimum():
    X, y = data(seed=4)
    full = BatchedL1LogReg().fit(X, y, 0.05)
    zero = int(np.flatnonzero(full.coef_[0] == 0)[0])
    mask = np.ones((1, X.shape[1]), dtype=bool)
    mask[0, zero] = False
    init = np.concatenate([full.coef_, full.intercept_[:, None]], axis=1)
    deleted = BatchedL1LogReg().fit(X, y, 0.05, masks=mask, init=init)
    assert deleted.objective_[0] == pytest.approx(full.objective_[0], rel=1e-9)
    assert deleted.n_iter_ <= deleted.patience + 1


@pytest.mark.parametrize("device", DEVICES)
def test_subsets_equal_masks(device):
    X, y = data(seed=5)
    rng = np.random.default_rng(6)
    columns = np.stack([rng.choice(X.shape[1], 12, replace=False) for _ in range(4)])
    masks = np.zeros((4, X.shape[1]), dtype=bool)
    for k, cols in enumerate(columns):
        masks[k, cols] = True
    by_mask = BatchedL1LogReg(device=device).fit(X, y, 0.3, masks=masks)
    by_subset = BatchedL1LogReg(device=device).fit_subsets(X, y, 0.3, columns)
    np.testing.assert_allclose(by_subset.objective_, by_mask.objective_,
                               rtol=1e-6 if device == "cpu" else 1e-4)
    differ = by_subset.predict(X) != by_mask.predict(X)
    # float32 may flip a text that lies on the boundary, and no other
    assert not differ.any() if device == "cpu" else \
        (np.abs(by_mask.decision_function(X))[differ] < 1e-3).all()


@pytest.mark.parametrize("device", DEVICES)
def test_subsets_do_not_depend_on_how_many_are_solved_together(device):
    X, y = data(seed=7)
    rng = np.random.default_rng(8)
    columns = np.stack([rng.choice(X.shape[1], 10, replace=False) for _ in range(7)])
    engine = BatchedL1LogReg(device=device)
    assert engine.subset_chunk(7, 11, len(X)) >= 1
    together = engine.fit_subsets(X, y, 0.2, columns)
    in_threes = BatchedL1LogReg(device=device).fit_subsets(X, y, 0.2, columns, chunk=3)
    np.testing.assert_allclose(in_threes.objective_, together.objective_,
                               rtol=1e-6 if device == "cpu" else 1e-4)


def test_working_set_grows_to_the_whole_problems_optimum(monkeypatch):
    import neuron_repro.probe_engine as engine_module

    monkeypatch.setattr(engine_module, "WORKING_SET", 3)
    X, y = data(seed=5)
    C = 0.25
    full = BatchedL1LogReg().fit(X, y, C)
    assert len(full.working_set_) > 1  # three columns were not enough: it grew
    ref = liblinear(X, y, C)
    assert full.objective_[0] <= liblinear_objective(ref.coef_.ravel(), ref.intercept_[0], X, y,
                                                     C) * (1 + 1e-3)
    # a deletion warm-started from the full fit needs columns the full fit left at zero
    used = np.flatnonzero(full.coef_[0])
    mask = np.ones(X.shape[1], dtype=bool)
    mask[used[:3]] = False
    init = np.concatenate([full.coef_[0], full.intercept_])[None]
    warm = BatchedL1LogReg().fit(X, y, C, masks=mask[None], init=init)
    ref = liblinear(X[:, mask], y, C)
    ref_obj = liblinear_objective(ref.coef_.ravel(), ref.intercept_[0], X[:, mask], y, C)
    assert warm.objective_[0] <= ref_obj * (1 + 1e-3)
    assert not warm.coef_[0][~mask].any()


def cell_states(seed: int, n: int, d: int = 48, units=(3, 17)):
    """Features shaped like this model's final cell states: a large common offset per unit,
    a small spread, and two units that carry the label weakly (so that the grid's larger C
    win on dev and liblinear meets its iteration cap)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    offset = rng.normal(0, 0.5, d)
    latent = rng.normal(0, 1, (n, 8))
    X = offset + 0.03 * np.tanh(latent @ rng.normal(0, 1, (8, d))) + 0.02 * rng.normal(0, 1,
                                                                                      (n, d))
    for j, unit in enumerate(units):
        X[:, unit] += (0.03 / (j + 1)) * (2 * y - 1) * rng.uniform(0.2, 1.5, n)
    return X.astype(np.float32), y


@pytest.mark.parametrize("seed", [0, 1])
def test_the_engine_runs_the_papers_protocol_as_liblinear_does(seed):
    """Same C chosen on dev, same unit and sign, test accuracies within 0.1 points, and at
    every C of the grid an objective no worse than liblinear's by more than 1e-4."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from neuron_repro.probes import C_GRID, L1Probe, engine_grid, run_probe

    X, y = cell_states(seed, 5000)
    parts = (X[:1800], y[:1800], X[1800:2600], y[1800:2600], X[2600:], y[2600:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # liblinear's cap, as on real data
        paper, paper_probe = run_probe(*parts)
        liblinear = [LogisticRegression(C=c, l1_ratio=1.0, solver="liblinear",
                                        random_state=42 + i).fit(*parts[:2])
                     for i, c in enumerate(C_GRID)]
    engine, engine_probe = run_probe(*parts, solver="engine")
    assert engine.solver == "engine" and paper.solver == "liblinear"
    assert engine.C == paper.C and engine.sentiment_unit == paper.sentiment_unit == 3
    assert engine.sentiment_unit_sign == paper.sentiment_unit_sign
    for field in ("test_accuracy", "sentiment_unit_accuracy", "sentiment_unit_deleted_accuracy",
                  "zero_shot_accuracy"):
        assert abs(getattr(engine, field) - getattr(paper, field)) <= 0.1, field
    for fit, model, c in zip(engine_grid(C_GRID, *parts[:2]), liblinear, C_GRID, strict=True):
        ours = liblinear_objective(fit.coef_[0], fit.intercept_[0], *parts[:2], c)
        theirs = liblinear_objective(model.coef_.ravel(), model.intercept_[0], *parts[:2], c)
        assert ours <= theirs * (1 + 1e-4), c
    assert isinstance(engine_probe, L1Probe) and engine_probe.model_.objective_ > 0


def test_the_newton_engine_reaches_the_optimum_on_offset_features():
    """Proximal Newton with exact steps: every C of the grid meets the optimality condition
    (largest pseudo-gradient entry <= KKT_TOL), and its objective is no worse than liblinear's
    nor than FISTA's, on features shaped like this model's cell states."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from neuron_repro.probe_engine import KKT_TOL
    from neuron_repro.probes import C_GRID

    X, y = cell_states(2, 1800)
    engine = BatchedL1LogReg().fit_newton(X, y, np.asarray(C_GRID))
    assert engine.converged_.all() and engine.kkt_.max() <= KKT_TOL
    fista = BatchedL1LogReg(max_iter=20000, tol=1e-9).fit(X, y, np.asarray(C_GRID))
    for i, c in enumerate(C_GRID):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ref = liblinear(X, y, c)
        theirs = liblinear_objective(ref.coef_.ravel(), ref.intercept_[0], X, y, c)
        ours = liblinear_objective(engine.coef_[i], engine.intercept_[i], X, y, c)
        assert ours == pytest.approx(engine.objective_[i], rel=1e-9)
        assert ours <= theirs * (1 + 1e-9) and ours <= fista.objective_[i] * (1 + 1e-9), c


def test_lasso_qp_matches_brute_force_on_every_sign_pattern():
    """The exact minimiser of x'Hx/2 + q'x + |x|_1 is the best of the stationary points of
    the 3^p sign patterns (each a linear system), found here by enumeration."""
    from neuron_repro.probe_engine import lasso_qp

    rng = np.random.default_rng(0)
    for _ in range(20):
        A = rng.normal(0, 1, (6, 4)) + 3 * rng.normal(0, 1, 4)  # correlated columns
        H, q = A.T @ A, rng.normal(0, 3, 4)

        def value(v, H=H, q=q):
            return 0.5 * v @ H @ v + q @ v + np.abs(v).sum()

        best = np.inf
        for signs in itertools.product((-1, 0, 1), repeat=4):
            s = np.array(signs, dtype=float)
            on = s != 0
            x = np.zeros(4)
            if on.any():
                x[on] = np.linalg.solve(H[np.ix_(on, on)], -(q[on] + s[on]))
                if np.any(np.sign(x[on]) != s[on]):
                    continue
            best = min(best, value(x))
        assert value(lasso_qp(H, q, np.zeros(4))) == pytest.approx(best, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_lasso_qp_finishes_from_next_to_the_optimum(seed):
    """From a start a hair away from the optimum, the decrease left (about 1e-14) is far
    below the rounding of the objective's value (about 1e-13 here): the QP must still reach
    its optimality condition, not stop where comparing two values can no longer tell them
    apart (the cause of the engine's stalls on real features: 100 Newton steps, no progress)."""
    from neuron_repro.probe_engine import lasso_qp

    rng = np.random.default_rng(seed)
    A = rng.normal(size=(2000, 30)) + 5.0  # a common offset: near-collinear columns
    H, q = A.T @ A, rng.normal(size=30) * 300

    def pseudo_gradient(v):
        g = H @ v + q
        return np.abs(np.where(v != 0, g + np.sign(v),
                               np.sign(g) * np.maximum(np.abs(g) - 1, 0))).max()

    x = lasso_qp(H, q, np.zeros(30))
    assert pseudo_gradient(x) <= 1e-9
    start = np.where(x != 0, x + 1e-9 * rng.normal(size=30), 0.0)
    assert pseudo_gradient(start) > 1e-6
    assert pseudo_gradient(lasso_qp(H, q, start)) <= 1e-9


def test_lasso_qp_reads_only_the_columns_it_needs_and_gives_the_full_matrix_answer():
    """A :class:`Gram` computes H's columns on demand: the QP's answer is the one it gives on
    H whole, and a sparse optimum leaves most columns uncomputed (a column never asked for
    is never computed: the counting oracle sees every request)."""
    from neuron_repro.probe_engine import Gram, lasso_qp

    rng = np.random.default_rng(3)
    A = rng.normal(size=(400, 300)) + 2.0  # near-collinear columns, as cell states are
    H, q = A.T @ A / 400, rng.normal(size=300) * 0.3
    q[:6] *= 5  # a few columns worth their penalty
    asked = []

    def compute(cols):
        asked.extend(cols.tolist())
        return H[:, cols]

    gram = Gram(300, compute)
    whole, lazy = lasso_qp(H, q, np.zeros(300)), lasso_qp(gram, q, np.zeros(300))
    np.testing.assert_allclose(lazy, whole, rtol=1e-9, atol=1e-12)
    assert 0 < np.count_nonzero(whole) < 30
    assert gram.computed == len(asked) == len(set(asked)) < 150
    assert set(np.flatnonzero(whole)) <= set(asked)


def test_lasso_qp_stops_where_rounding_leaves_nothing_to_improve(monkeypatch):
    """On cell-state-shaped columns (a large offset, a small spread) the signed set's
    gradient can be held to the optimality condition only to about 1e-10: the QP then takes
    its set as optimal (to ``SETTLED``) and looks for joiners, instead of crawling by
    coordinate steps of rounding size. Same minimum as crawling to ``tol``, fewer solves."""
    import neuron_repro.probe_engine as engine

    rng = np.random.default_rng(0)
    n, d = 8000, 256
    y = rng.integers(0, 2, n)
    X = rng.normal(0, 0.5, d) + 0.03 * np.tanh(rng.normal(0, 1, (n, 8))
                                              @ rng.normal(0, 1, (8, d)))
    X += 0.02 * rng.normal(0, 1, (n, d))
    X[:, :4] += 0.02 * (2 * y - 1)[:, None] * rng.uniform(0.2, 1.5, (n, 4))
    Xb = np.hstack([X, np.ones((n, 1))])
    H, q = 0.25 * Xb.T @ Xb, (0.5 - y) @ Xb  # the first Newton step's model at C = 1

    def value(v):
        return 0.5 * v @ H @ v + q @ v + np.abs(v).sum()

    def pseudo_gradient(v):
        g = H @ v + q
        return np.abs(np.where(v != 0, g + np.sign(v),
                               np.sign(g) * np.maximum(np.abs(g) - 1, 0))).max()

    solves = []
    solve = np.linalg.solve
    monkeypatch.setattr(engine.np.linalg, "solve", lambda *a: solves.append(1) or solve(*a))
    settled = engine.lasso_qp(H, q, np.zeros(d + 1))
    n_settled, limit = len(solves), engine.SETTLED
    monkeypatch.setattr(engine, "SETTLED", 0.0)  # crawl until tol
    crawled = engine.lasso_qp(H, q, np.zeros(d + 1))
    assert pseudo_gradient(settled) <= limit
    assert value(settled) == pytest.approx(value(crawled), rel=1e-12)
    assert np.array_equal(settled != 0, crawled != 0)
    assert n_settled < len(solves) - n_settled


def test_a_gram_refuses_columns_that_are_not_finite():
    from neuron_repro.probe_engine import Gram

    gram = Gram(4, lambda cols: np.full((4, len(cols)), np.nan))
    with pytest.raises(FloatingPointError, match="not finite"):
        gram.times(np.array([0.0, 1.0, 0.0, 0.0]))
    assert gram.computed == 0  # nothing kept from the bad block


def test_newton_by_hessian_columns_is_newton_with_the_whole_hessian():
    """On the CPU the engine computes the Hessian's columns as the quadratic steps ask for
    them; with the whole Hessian (as on CUDA) the same steps reach the same optimum."""
    from neuron_repro.probes import C_GRID

    X, y = cell_states(4, 1500, d=200, units=(3, 17, 150))
    lazy = BatchedL1LogReg().fit_newton(X, y, np.asarray(C_GRID))
    whole = BatchedL1LogReg(full_hessian=True).fit_newton(X, y, np.asarray(C_GRID))
    assert lazy.converged_.all() and whole.converged_.all()
    np.testing.assert_allclose(lazy.objective_, whole.objective_, rtol=1e-10)
    np.testing.assert_allclose(lazy.coef_, whole.coef_, atol=1e-6)
    assert np.array_equal(lazy.coef_ != 0, whole.coef_ != 0)
    assert lazy.hessian_columns_ < whole.hessian_columns_ / 2


def test_newton_on_working_sets_reaches_the_optimum_of_all_features(monkeypatch):
    """Each Newton step moves only a working set of features (the non-zero weights and the
    largest gradients); a step that leaves out a violator is followed by one that sees it.
    With working sets far smaller than the features, every C of the grid still meets the
    optimality condition over all of them, at the optimum found with every feature in."""
    import neuron_repro.probe_engine as engine
    from neuron_repro.probes import C_GRID

    X, y = cell_states(6, 1500, d=200, units=(3, 17, 150))
    whole = BatchedL1LogReg().fit_newton(X, y, np.asarray(C_GRID))
    monkeypatch.setattr(engine, "NEWTON_SET", 4)
    narrow = BatchedL1LogReg().fit_newton(X, y, np.asarray(C_GRID))
    assert whole.converged_.all() and narrow.converged_.all()
    assert narrow.kkt_.max() <= engine.KKT_TOL
    np.testing.assert_allclose(narrow.objective_, whole.objective_, rtol=1e-9)
    assert np.array_equal(narrow.coef_ != 0, whole.coef_ != 0)


def test_an_engine_fit_short_of_the_optimum_is_an_error(monkeypatch):
    import neuron_repro.probes as probes

    X, y = cell_states(0, 600)
    monkeypatch.setattr(probes, "ENGINE_MAX_ITER", 1)
    with pytest.raises(probes.EngineNotConverged, match="stopped short of the optimum"):
        probes.engine_grid(probes.C_GRID, X, y)
    short = BatchedL1LogReg().fit_newton(X, y, 1.0, max_iter=1)
    assert not short.converged_[0] and short.n_iter_ == 1
