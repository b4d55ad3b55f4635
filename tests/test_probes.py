import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from neuron_repro.io import StaleCacheWarning
from neuron_repro.probes import (
    C_GRID,
    FitCache,
    L1Probe,
    cross_validation_folds,
    run_probe,
    summarise_folds,
    zero_shot_accuracy,
)


def planted_data(n, n_features=40, unit=11, sign=-1, seed=0):
    """Noise features, except column ``unit`` which carries the label with ``sign``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(0, 1, (n, n_features))
    X[:, unit] = sign * (2 * y - 1) * rng.uniform(0.5, 1.5, n)
    return X, y


@pytest.mark.parametrize("sign", [1, -1])
def test_probe_finds_the_planted_unit_and_its_sign(sign):
    X, y = planted_data(600, sign=sign)
    (tr, dv, te) = (slice(0, 400), slice(400, 500), slice(500, 600))
    result, probe = run_probe(X[tr], y[tr], X[dv], y[dv], X[te], y[te])
    assert result.sentiment_unit == 11 and result.sentiment_unit_sign == sign
    assert result.test_accuracy == 100.0 and result.sentiment_unit_accuracy == 100.0
    assert result.zero_shot_accuracy == 100.0  # a negative unit is not scored as 0 %
    assert result.sentiment_unit_deleted_accuracy < 70.0
    assert probe.n_nonzero_ < 40  # L1, not L2: noise columns get exactly zero weight


def test_protocol_matches_a_plain_liblinear_loop():
    X, y = planted_data(300, seed=1)
    X[:, 11] += np.random.default_rng(2).normal(0, 1.5, 300)  # make C matter
    probe = L1Probe().fit(X[:200], y[:200], X[200:250], y[200:250])
    scores = []
    for i, c in enumerate(C_GRID):
        m = LogisticRegression(C=c, l1_ratio=1.0, solver="liblinear", random_state=42 + i)
        scores.append(m.fit(X[:200], y[:200]).score(X[200:250], y[200:250]))
    best = C_GRID[scores.index(max(scores))]  # the first best
    assert probe.C_ == best
    ref = LogisticRegression(C=best, l1_ratio=1.0, solver="liblinear", random_state=51)
    np.testing.assert_allclose(probe.coef_, ref.fit(X[:200], y[:200]).coef_.ravel())


def test_cached_fits_equal_fresh_ones_and_skip_liblinear(tmp_path, monkeypatch):
    X, y = planted_data(300, seed=3)
    X = X.astype(np.float32)  # the features' dtype
    split = (X[:200], y[:200], X[200:250], y[200:250], X[250:], y[250:])
    fresh, fresh_probe = run_probe(*split)
    cache = FitCache(tmp_path)
    first, _ = run_probe(*split, cache=cache)
    assert cache.hits == 0 and cache.misses > 0
    assert len(list(tmp_path.glob("*.npz"))) == cache.misses
    assert not list(tmp_path.glob("*.tmp"))

    def refuse(*args, **kwargs):
        raise AssertionError("liblinear ran although every fit is cached")

    monkeypatch.setattr(LogisticRegression, "fit", refuse)
    again = FitCache(tmp_path)
    second, probe = run_probe(*split, cache=again)
    assert again.misses == 0 and again.hits == cache.misses
    assert fresh.to_dict() == first.to_dict() == second.to_dict()
    np.testing.assert_array_equal(probe.predict(X[250:]), fresh_probe.predict(X[250:]))


def test_a_grid_fitted_in_parallel_processes_gives_the_same_probe(tmp_path):
    X, y = planted_data(300, seed=5)
    X[:, 11] += np.random.default_rng(6).normal(0, 1.5, 300)  # make C matter
    split = (X[:200], y[:200], X[200:250], y[200:250], X[250:], y[250:])
    serial, serial_probe = run_probe(*split)
    counts = []
    for _ in range(2):  # the second run reads back every fit the workers wrote
        cache = FitCache(tmp_path)
        parallel, probe = run_probe(*split, cache=cache, n_jobs=2)
        assert parallel.to_dict() == serial.to_dict()
        np.testing.assert_array_equal(probe.coef_, serial_probe.coef_)
        counts.append(cache.stats())
    assert counts[0]["fitted"] == 3 * (len(C_GRID) + 1) and counts[0]["read_from_cache"] == 0
    assert counts[1] == {"fitted": 0, "read_from_cache": counts[0]["fitted"]}


def test_fit_cache_keys_on_the_data_and_refits_a_broken_entry(tmp_path):
    X, y = planted_data(200, seed=4)
    cache = FitCache(tmp_path)
    keys = {cache.key(X, y, 0.5, 42), cache.key(X.astype(np.float32), y, 0.5, 42),
            cache.key(X, y, 0.25, 42), cache.key(X, y, 0.5, 43), cache.key(X, 1 - y, 0.5, 42)}
    changed = X.copy()
    changed[7, 3] += 1e-9
    keys.add(cache.key(changed, y, 0.5, 42))
    assert len(keys) == 6
    model = cache.fit(X, y, 0.5, 42)
    (tmp_path / f"{cache.key(X, y, 0.5, 42)}.npz").write_bytes(b"not an npz")
    again = cache.fit(X, y, 0.5, 42)
    assert cache.misses == 2 and cache.hits == 0
    np.testing.assert_array_equal(again.coef_, model.coef_)


def test_zero_shot_uses_the_sign():
    values, y = np.array([-2.0, -1.0, 1.0, 2.0]), np.array([1, 1, 0, 0])
    assert zero_shot_accuracy(values, y, sign=-1) == 100.0
    assert zero_shot_accuracy(values, y, sign=1) == 0.0


def test_probe_needs_two_classes():
    with pytest.raises(ValueError, match="two classes"):
        L1Probe().fit(np.zeros((4, 2)), [1, 1, 1, 1], np.zeros((2, 2)), [0, 1])


def test_cross_validation_folds_partition_the_data():
    y = np.array([0] * 37 + [1] * 63)
    tests = []
    for train, dev, test in cross_validation_folds(y):
        assert not set(train) & set(dev) and not set(train) & set(test)
        assert not set(dev) & set(test)
        assert len(train) + len(dev) + len(test) == 100
        tests.extend(test)
    assert sorted(tests) == list(range(100))


def test_fold_summary_takes_means_and_the_commonest_unit():
    X, y = planted_data(400, seed=3)
    folds = [run_probe(X[tr], y[tr], X[dv], y[dv], X[te], y[te])[0]
             for tr, dv, te in cross_validation_folds(y, n_folds=4)]
    out = summarise_folds(folds)
    assert out["sentiment_unit"] == 11 and out["sentiment_unit_sign"] == -1
    assert out["test_accuracy"] == pytest.approx(np.mean([f.test_accuracy for f in folds]))


def test_a_probe_that_keeps_no_unit_reports_none():
    rng = np.random.default_rng(5)
    X, y = rng.normal(0, 1, (300, 5)), np.array([0] * 200 + [1] * 100)
    rng.shuffle(y)
    X_big = X * 1e-6  # so tiny that every C of the grid zeroes every weight
    result, probe = run_probe(X_big[:200], y[:200], X_big[200:250], y[200:250], X_big[250:],
                              y[250:])
    assert result.n_nonzero == 0 and result.sentiment_unit is None
    assert probe.sentiment_unit_ is None and np.isnan(result.zero_shot_accuracy)
    out = summarise_folds([result, result])
    assert out["sentiment_unit"] is None


def test_engine_grids_are_kept_in_the_fit_cache_and_read_back_the_same(tmp_path):
    from neuron_repro.probes import C_GRID, FitCache, engine_grid

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    X = (rng.normal(0, 1, (300, 12)) + 0.8 * y[:, None] * (np.arange(12) < 2)).astype(np.float32)
    cache = FitCache(tmp_path)
    first = engine_grid(C_GRID, X, y, cache=cache)
    again = engine_grid(C_GRID, X, y, cache=cache)
    assert cache.stats() == {"fitted": 1, "read_from_cache": 1}
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.coef_, b.coef_) and a.intercept_ == b.intercept_
    (entry,) = tmp_path.glob("*.npz")
    entry.write_bytes(b"broken")
    with pytest.warns(StaleCacheWarning):
        fresh = engine_grid(C_GRID, X, y, cache=cache)
    assert np.array_equal(fresh[4].coef_, first[4].coef_)
    other = engine_grid(C_GRID, X, 1 - y, cache=cache)  # other labels: another entry
    assert not np.array_equal(other[-1].coef_, first[-1].coef_)


def test_a_cached_fit_of_complex_numbers_is_fitted_again(tmp_path):
    """A fit-cache entry is plain arrays of real numbers; anything else is refitted."""
    import warnings

    from neuron_repro.io import save_npz
    from neuron_repro.probes import FitCache

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)), np.tile([0, 1], 20)
    cache = FitCache(tmp_path)
    first = cache.fit(X, y, 0.5, 1)
    key = cache.key(X, y, 0.5, 1)
    save_npz(tmp_path / f"{key}.npz", {"key": np.array(key),
                                       "coef_": first.coef_.astype(complex),
                                       "intercept_": first.intercept_, "classes_": first.classes_,
                                       "n_iter_": first.n_iter_})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = FitCache(tmp_path).fit(X, y, 0.5, 1)
    assert any("expected real numbers" in str(w.message) for w in caught)
    assert again.coef_.dtype.kind == "f" and np.array_equal(again.coef_, first.coef_)


def test_no_more_worker_processes_than_calls(monkeypatch):
    from neuron_repro import probes

    started = []

    class Recording(probes.Parallel):
        def __init__(self, n_jobs=None, **kwargs):
            started.append(n_jobs)
            super().__init__(n_jobs=n_jobs, **kwargs)

    monkeypatch.setattr(probes, "Parallel", Recording)
    calls = [(i,) for i in range(3)]
    out = probes.map_with_cache(_square, calls, None, n_jobs=32)
    assert out == [0, 1, 4] and started == [3]


def _square(i, cache=None):
    return i * i
