"""The batched probe engine against a scikit-learn loop, side by side on the same features.

Shape of the SST sweeps on OpenAI's model: 6920 training sentences x 4096 units, 1821 test.
The features are synthetic (a low-rank mixture through tanh, with a few units carrying the
label), since no 4096-unit model can be run here in a benchmark's time; pass real ones with
``NEURON_REPRO_BENCH_FEATURES=file.npz`` (arrays X_train, y_train, X_test, y_test).

The loop is timed on a sample of its fits and extrapolated (said in the output). Targets on
CPU: the 4096 deletion refits at least 50x faster than the loop; the 1000 random-100 fits no
slower than the loop. With ``--gpu`` the engine runs on CUDA too, against the same loop.
"""

import os
import time

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from harness.analysis.sweeps import deletion_sweep, full_fit, random_subsets
from harness.probe_engine import liblinear_objective

C = 2.0**-4
SAMPLE = 4


def sst_shaped(seed=0, n_train=6920, n_test=1821, d=4096):
    path = os.environ.get("NEURON_REPRO_BENCH_FEATURES")
    if path:
        data = np.load(path, allow_pickle=False)
        return data["X_train"], data["y_train"], data["X_test"], data["y_test"]
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    y = rng.integers(0, 2, n)
    latent = rng.normal(0, 1, (n, 32))
    latent[:, 0] += 1.5 * (2 * y - 1)
    X = np.tanh(latent @ rng.normal(0, 0.4, (32, d)) + rng.normal(0, 0.5, (n, d)))
    X = X.astype(np.float32)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _liblinear(X, y):
    return LogisticRegression(C=C, l1_ratio=1.0, solver="liblinear", random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def features():
    return sst_shaped()


@pytest.fixture(scope="module")
def deletion_loop(features):
    """The scikit-learn loop on the first SAMPLE deletions: its fits and extrapolated time."""
    X_train, y_train = features[:2]
    start = time.perf_counter()
    sample = []
    for unit in range(SAMPLE):
        X = X_train.copy()
        X[:, unit] = 0.0
        sample.append(_liblinear(X, y_train))
    return sample, (time.perf_counter() - start) / SAMPLE * X_train.shape[1]


@pytest.fixture(scope="module")
def random_loop(features):
    """The scikit-learn loop on SAMPLE * 5 random-100 problems, extrapolated to 1000."""
    X_train, y_train = features[:2]
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    for _ in range(SAMPLE * 5):
        cols = rng.choice(X_train.shape[1], 100, replace=False)
        _liblinear(X_train[:, cols], y_train)
    return (time.perf_counter() - start) / (SAMPLE * 5) * 1000


# The loop is scikit-learn on the CPU either way; the engine runs on the device named.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def _warm_up(device, X, y):
    """CUDA's context and kernels are made on first use: not part of the sweep's time."""
    if device != "cpu":
        full_fit(X[:64], y[:64], C, device)


@pytest.mark.parametrize("device", DEVICES)
def test_bench_deletion_sweep(benchmark, features, deletion_loop, device):
    X_train, y_train, X_test, y_test = features
    d = X_train.shape[1]
    sample, loop_seconds = deletion_loop
    _warm_up(device, X_train, y_train)
    sweep = benchmark.pedantic(deletion_sweep, args=(X_train, y_train, X_test, y_test, C),
                               kwargs={"device": device}, rounds=1, iterations=1)
    engine_seconds = benchmark.stats.stats.min
    # agreement with liblinear on the sampled deletions
    worst_objective, worst_accuracy = float("-inf"), 0.0
    for unit, ref in enumerate(sample):
        X = X_train.copy()
        X[:, unit] = 0.0
        ref_obj = liblinear_objective(ref.coef_.ravel(), ref.intercept_[0], X, y_train, C)
        worst_accuracy = max(worst_accuracy, abs(sweep["accuracy"][unit]
                                                 - 100 * ref.score(X_test, y_test)))
        worst_objective = max(worst_objective, (sweep["objective"][unit] - ref_obj) / ref_obj)
    speedup = loop_seconds / engine_seconds
    benchmark.extra_info.update(device=device, loop_seconds_extrapolated=loop_seconds,
                                speedup=speedup, refits=sweep["n_refits"],
                                worst_accuracy_gap=worst_accuracy,
                                worst_relative_objective_gap=worst_objective)
    print(f"\ndeletion sweep on {device}, {d} units: loop {loop_seconds:,.0f} s (extrapolated "
          f"from {SAMPLE} fits), engine {engine_seconds:,.1f} s ({sweep['n_refits']} refits, "
          f"the rest exact); speedup {speedup:,.0f}x (target 50x); against liblinear on the "
          f"sample: worst test-accuracy gap {worst_accuracy:.2f} points, objective "
          f"{worst_objective:+.1e} relative (negative: lower than liblinear's)")
    # the engine solves liblinear's objective: as good a minimum, the same test accuracy
    assert worst_objective <= 1e-4
    assert worst_accuracy <= 0.1
    assert speedup >= 50


@pytest.mark.parametrize("device", DEVICES)
def test_bench_random100(benchmark, features, random_loop, device):
    X_train, y_train, X_test, y_test = features
    loop_seconds = random_loop
    _warm_up(device, X_train, y_train)
    out = benchmark.pedantic(random_subsets, args=(X_train, y_train, X_test, y_test, C),
                             kwargs={"device": device, "size": 100}, rounds=1, iterations=1)
    engine_seconds = benchmark.stats.stats.min
    ratio = loop_seconds / engine_seconds
    benchmark.extra_info.update(device=device, loop_seconds_extrapolated=loop_seconds,
                                speedup=ratio)
    print(f"\n1000 random-100 classifiers on {device}: loop {loop_seconds:,.0f} s (extrapolated "
          f"from {SAMPLE * 5} fits), engine {engine_seconds:,.1f} s; speedup {ratio:.2f}x "
          f"(target 1x); mean accuracy {out['accuracy'].mean():.2f}")
    assert ratio >= 1.0


# ----------------------------------------------------------------------------- the protocol
def _protocol(X, y, solver, device="cpu", folds=None, probes=None):
    """The 10-fold protocol of radford2017 (all units, unit alone, unit deleted; 9 C each),
    on ``folds`` of the 10 (default all); its results and wall time. ``probes``, a list, gets
    each fold's all-units probe and its training rows."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from harness.probes import cross_validation_folds, run_probe

    splits = list(cross_validation_folds(y, n_folds=10, seed=42))[:folds]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        results = []
        for tr, dv, te in splits:
            result, probe = run_probe(X[tr], y[tr], X[dv], y[dv], X[te], y[te], solver=solver,
                                      device=device)
            results.append(result)
            if probes is not None:
                probes.append((probe, tr))
    return results, time.perf_counter() - start


def _cell_states(n, d, seed=0):
    """Shaped like final cell states: an offset per unit, a small spread, a weak label."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(0, 0.5, d) + 0.03 * np.tanh(rng.normal(0, 1, (n, 8))
                                              @ rng.normal(0, 1, (8, d)))
    X += 0.02 * rng.normal(0, 1, (n, d))
    X[:, :4] += 0.02 * (2 * y - 1)[:, None] * rng.uniform(0.2, 1.5, (n, 4))
    return X.astype(np.float32), y


def _agreement(loop, engine) -> dict:
    same = all(a.C == b.C and a.sentiment_unit == b.sentiment_unit
               and a.sentiment_unit_sign == b.sentiment_unit_sign
               for a, b in zip(loop, engine, strict=False))
    gap = max(abs(getattr(a, f) - getattr(b, f)) for a, b in zip(loop, engine, strict=False)
              for f in ("test_accuracy", "sentiment_unit_accuracy",
                        "sentiment_unit_deleted_accuracy") if not np.isnan(getattr(a, f)))
    return {"same_C_unit_sign": same, "largest_accuracy_gap": gap}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n,d,sample", [(10662, 256, None), (10662, 4096, 1)],
                         ids=["MR-shape-256", "MR-shape-4096"])
def test_bench_protocol(n, d, sample, device):
    """The whole 10-fold protocol, liblinear's loop against the engine, side by side; on the
    4096-unit shape the loop runs ``sample`` folds and is extrapolated to ten (said)."""
    X, y = _cell_states(n, d)
    loop, loop_seconds = _protocol(X, y, "liblinear", folds=sample)
    loop_seconds *= 10 / len(loop)
    engine, engine_seconds = _protocol(X, y, "engine", device=device)
    agree = _agreement(loop, engine)
    ratio = loop_seconds / engine_seconds
    print(f"\nprotocol, {n} x {d}, 10 folds on {device}: liblinear loop {loop_seconds:,.0f} s"
          f"{f' (extrapolated from {len(loop)} folds)' if sample else ''}, engine "
          f"{engine_seconds:,.1f} s, speedup {ratio:.1f}x (target 20x); C, unit and sign the "
          f"same in every fold compared: {agree['same_C_unit_sign']}; largest accuracy gap "
          f"{agree['largest_accuracy_gap']:.2f} points")
    assert agree["same_C_unit_sign"] and agree["largest_accuracy_gap"] <= 0.1
    assert ratio >= 20


def _real(name):
    """Final cell states of ``name`` from the model in $NEURON_REPRO_BENCH_MODEL on the data in
    $NEURON_REPRO_DATA (extracted once into the feature cache)."""
    from harness.repro import make_context

    model = os.environ.get("NEURON_REPRO_BENCH_MODEL")
    if not model:
        pytest.skip("set NEURON_REPRO_BENCH_MODEL (and NEURON_REPRO_DATA) for real features")
    ctx = make_context(model_spec=model, progress=False, batch_size=512)
    ds = ctx.dataset(name)
    if ds.pool is not None:
        return ctx.states(name, "pool")["final_c"], ds.pool.labels, None
    return None, None, {s: (ctx.states(name, s)["final_c"], ds.splits[s].labels)
                        for s in ds.splits}


def _objective(probe, X, y) -> float:
    return liblinear_objective(probe.coef_, probe.model_.intercept_[0], X, y, probe.C_)


@pytest.mark.parametrize("name", ["sst", "mr", "cr", "subj", "mpqa"])
def test_bench_protocol_real_features(name):
    """Both solvers on a model's real features: chosen C, unit, accuracies, the largest
    disagreement and both wall times, per dataset."""
    from harness.probes import run_probe

    X, y, splits = _real(name)
    loop_probes, engine_probes = [], []
    if splits is None:
        loop, loop_seconds = _protocol(X, y, "liblinear", probes=loop_probes)
        engine, engine_seconds = _protocol(X, y, "engine", probes=engine_probes)
    else:
        parts = [a for s in ("train", "dev", "test") for a in splits[s]]
        X, y = parts[0], parts[1]
        everything = slice(None)
        start = time.perf_counter()
        result, probe = run_probe(*parts)
        loop, loop_probes = [result], [(probe, everything)]
        loop_seconds = time.perf_counter() - start
        start = time.perf_counter()
        result, probe = run_probe(*parts, solver="engine")
        engine, engine_probes = [result], [(probe, everything)]
        engine_seconds = time.perf_counter() - start
    agree = _agreement(loop, engine)
    # where both chose the same C: whose all-units fit is the lower minimum of liblinear's
    # objective (relative gap; negative: the engine's is lower)
    gaps = [_objective(e, X[tr], y[tr]) / _objective(a, X[tr], y[tr]) - 1.0
            for (a, tr), (e, _) in zip(loop_probes, engine_probes, strict=True) if a.C_ == e.C_]
    print(f"\n{name}: all-units objective, engine against liblinear at the same C, "
          f"{len(gaps)} of {len(loop)}: {', '.join(f'{g:+.1e}' for g in gaps)}")
    for label, runs, seconds in (("liblinear", loop, loop_seconds),
                                 ("engine", engine, engine_seconds)):
        print(f"\n{name} {label}: C {[r.C for r in runs]}, unit "
              f"{[r.sentiment_unit for r in runs]}, test "
              f"{np.mean([r.test_accuracy for r in runs]):.2f} %, {seconds:,.1f} s")
    ratio = loop_seconds / engine_seconds
    print(f"{name}: same C, unit and sign: {agree['same_C_unit_sign']}; largest gap "
          f"{agree['largest_accuracy_gap']:.2f} points; speedup {ratio:.1f}x")
    assert agree["largest_accuracy_gap"] <= 0.1
    assert max(gaps, default=0.0) <= 1e-4
