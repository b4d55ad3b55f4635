"""Verdicts that mean what they say: preconditions, protocol budgets, thresholds of several
parts, value+shape claims, and a chance-level model that no claim about a unit or a classifier
may judge."""

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from neuron_repro.claims import REGISTRY, SOURCES, get_claim
from neuron_repro.experiments import fixture_expected, sweeps
from neuron_repro.experiments.donnelly import donnelly_splits, table_probe
from neuron_repro.experiments.preconditions import check_precondition, unit_beats_majority
from neuron_repro.probes import run_probe
from neuron_repro.repro import make_context
from neuron_repro.runner import Reproduction
from neuron_repro.verdicts import (
    FAIL,
    FEATURE_NAMES,
    INCONCLUSIVE,
    NOT_RUN,
    PASS,
    Citation,
    Claim,
    Interval,
    Measurement,
    Precondition,
    PreconditionResult,
    Threshold,
    Tolerance,
    judge,
)
from tests.helpers import held

CITE = Citation("test", "a test source")


def _shape(threshold, **fields):
    return Claim(id="test.shape", citation=CITE, statement="s", kind="shape", metric="m",
                 threshold=threshold, experiment="x", **fields)


@pytest.mark.parametrize("k,n,p0", [(30, 40, 0.5), (21, 40, 0.5), (60, 100, 0.55), (0, 5, 0.6),
                                    (5, 5, 0.6)])
def test_the_unit_test_is_the_exact_binomial_tail(k, n, p0):
    brute = sum(math.comb(n, i) * p0**i * (1 - p0) ** (n - i) for i in range(k, n + 1))
    assert unit_beats_majority(k, n, p0) == pytest.approx(brute, rel=1e-9)
    assert unit_beats_majority(k, n, p0) == pytest.approx(binom.sf(k - 1, n, p0), rel=1e-9)


def test_a_failed_precondition_is_not_run_with_the_statistic_shown():
    pre = Precondition("sst")
    claim = _shape(Threshold("gap", "<=", 2.0), preconditions=(pre,))
    failed = PreconditionResult(pre, False, "alone 51.07 %, majority 50.08 %, p = 0.23")
    result = judge(claim, Measurement(-0.6), False, preconditions=[failed])
    assert result.verdict == NOT_RUN and result.measured == -0.6
    assert result.reason == ("precondition: no sentiment unit on SST (alone 51.07 %, majority "
                             "50.08 %, p = 0.23)")
    held = PreconditionResult(pre, True, "alone 90 %, majority 50 %, p = 1e-30")
    assert judge(claim, Measurement(-0.6), False, preconditions=[held]).verdict == PASS
    assert judge(claim, Measurement(3.0), False, preconditions=[held]).verdict == FAIL


def test_any_mode_needs_one_precondition_to_hold():
    pres = (Precondition("sst", "donnelly"), Precondition("mr", "donnelly"))
    claim = _shape(Threshold("x", "<=", 1.0), preconditions=pres, precondition_mode="any")
    one = [PreconditionResult(pres[0], False, "a"), PreconditionResult(pres[1], True, "b")]
    none = [PreconditionResult(p, False, "a") for p in pres]
    assert judge(claim, Measurement(0.5), False, preconditions=one).verdict == PASS
    assert judge(claim, Measurement(0.5), False, preconditions=none).verdict == NOT_RUN


def test_a_reduced_budget_is_not_run_with_the_measured_value():
    claim = _shape(Threshold("x", ">", 0.0), protocol={"epochs": 100, "seeds": 5})
    short = judge(claim, Measurement(3.0, budget={"epochs": 2, "seeds": 5}), False)
    assert short.verdict == NOT_RUN and short.measured == 3.0
    assert short.reason == "reduced budget: 2 of the protocol's 100 epochs"
    full = judge(claim, Measurement(3.0, budget={"epochs": 100, "seeds": 5}), False)
    assert full.verdict == PASS
    silent = judge(claim, Measurement(3.0), False)
    assert silent.verdict == NOT_RUN and "did not report its epochs" in silent.reason


@pytest.mark.parametrize("value,details,holds", [
    (0.02, {"reaches_level": 1, "fall": 0.7}, True),
    (0.02, {"reaches_level": 0, "fall": 0.7}, False),  # a curve that never reaches the level
    (0.02, {"reaches_level": 1, "fall": 0.1}, False),
    (0.20, {"reaches_level": 1, "fall": 0.7}, False),
    (0.02, {"reaches_level": 1}, False),  # a statistic not measured never holds
])
def test_every_part_of_a_threshold_must_hold(value, details, holds):
    t = Threshold("share", "<=", 0.05, also=(Threshold("reaches_level", "==", 1),
                                             Threshold("fall", ">=", 0.5)))
    assert t.holds(value, details) is holds
    assert str(t) == "share <= 0.05 and reaches_level == 1 and fall >= 0.5"
    assert "reaches_level = " in t.explain(value, details)


def test_an_alternative_is_enough():
    t = Threshold("ks_p", ">", 0.01, alternatives=(Threshold("auc_gap", "<=", 0.05),))
    assert t.holds(0.5, {}) and t.holds(0.001, {"auc_gap": 0.02})
    assert not t.holds(0.001, {"auc_gap": 0.2})
    assert str(t) == "ks_p > 0.01, or auc_gap <= 0.05"


def test_both_halves_of_a_value_plus_shape_claim_are_judged_and_shown():
    claim = Claim(id="test.both", citation=CITE, statement="s", kind="value+shape", metric="m",
                  published=92.15, tolerance=Tolerance(1.0), experiment="x",
                  requires_model="openai-release",
                  shape_threshold=Threshold("near_chance", "<=", 5.0))
    near = Measurement(91.9, shape_value=2.0)
    off = Measurement(91.9, shape_value=30.0)
    on_release = judge(claim, near, has_release=True)
    assert on_release.verdict == PASS and on_release.parts["shape"]["verdict"] == PASS
    assert on_release.parts["value"]["verdict"] == PASS
    elsewhere = judge(claim, near, has_release=False)
    assert elsewhere.verdict == NOT_RUN and elsewhere.parts["shape"]["verdict"] == PASS
    assert "value half NOT RUN" in elsewhere.reason and "shape half PASS" in elsewhere.reason
    assert judge(claim, off, has_release=False).verdict == FAIL
    assert judge(claim, Measurement(80.0, shape_value=2.0), has_release=True).verdict == FAIL


def test_precondition_claims_cover_every_claim_about_the_unit():
    about_unit = {"donnelly2019.sn_not_necessary", "donnelly2019.single_unit_sweep",
                  "donnelly2019.cumulative_ablation", "donnelly2019.random100",
                  "donnelly2019.opposite_polarity", "radford2017.generation.steering",
                  "chada2017.yelp.sentence_end_updates", "chada2017.yelp.length_independence",
                  "chada2017.yelp.supervised_gap", "radford2017.sst.label_efficiency",
                  "radford2017.sst.one_dominant_unit"}
    declared = {c.id for c in REGISTRY if c.preconditions}
    assert about_unit <= declared
    for claim in REGISTRY:
        if claim.preconditions or claim.protocol or (claim.kind == "value+shape"
                                                     and claim.experiment):
            assert claim.version >= 2, claim.id  # their meaning changed
        if claim.kind == "value+shape" and claim.experiment:
            assert claim.shape_threshold is not None, claim.id


# ----------------------------------------------------------------------------- the models
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The planted fixture model and its chance-level twin, on every claim but the NER ones
    (which train their own models and have no unit to look for)."""
    claims = [c for c in REGISTRY if c.source != "nerneurons2020"]
    out = {}
    for spec in ("planted:fixture", "planted:chance"):
        ctx = make_context(profile="fixtures", model_spec=spec,
                           out_dir=tmp_path_factory.mktemp(spec.split(":")[1]), progress=False)
        run = Reproduction(ctx, claims, SOURCES)
        out[spec] = (ctx, {r.claim.id: r for r in run.evaluate_all()})
    return out


def test_a_chance_level_model_judges_no_claim_about_a_unit_or_a_classifier(runs):
    ctx, results = runs["planted:chance"]
    for pre in (Precondition("sst"), Precondition("sst", "donnelly"),
                Precondition("sst", "donnelly", kind="classifier", margin=20.0)):
        check = check_precondition(ctx, pre)
        assert not check.holds and "majority" in check.summary
    for claim in REGISTRY:
        if claim.preconditions and claim.id in results:
            result = results[claim.id]
            assert result.verdict == NOT_RUN, (claim.id, result.reason)
            if claim.experiment:
                # every precondition fails there, and the reason names each
                assert result.reason.startswith("precondition: "), claim.id
                for p in claim.preconditions:
                    named = p.unmet if p.kind == "sentiment_unit" else \
                        f"{p.dataset.upper()} {FEATURE_NAMES[p.features]} ("
                    assert named in result.reason, (claim.id, named)


@pytest.mark.parametrize("features", ["final", "mean"])
def test_the_classifier_precondition_is_its_margin_over_the_majority_class(runs, features):
    ctx, _ = runs["planted:fixture"]
    accuracy = table_probe(ctx, "sst", features)[0]["test_accuracy"]
    labels = donnelly_splits(ctx, "sst")["test"].labels
    majority = 100.0 * max(labels.mean(), 1 - labels.mean())
    margin = accuracy - majority
    assert margin > 20  # the planted unit carries the label

    def check(m):
        pre = Precondition("sst", "donnelly", kind="classifier", features=features, margin=m)
        return check_precondition(ctx, pre)

    held, short = check(margin - 1e-9), check(margin + 0.01)
    assert held.holds and not short.holds
    assert held.details["accuracy"] == accuracy and held.details["majority"] == majority
    assert short.precondition.unmet in judge(
        _shape(Threshold("x", ">=", 1.0), preconditions=(short.precondition,)),
        Measurement(1.0), False, preconditions=[short]).reason


def test_failed_classifier_preconditions_are_said_together_with_each_number():
    pres = [Precondition(ds, "donnelly", kind="classifier", features=f, margin=20.0)
            for ds in ("sst", "imdb") for f in ("final", "mean")]
    checks = [PreconditionResult(p, p.features == "mean", f"{i}0.00 %, majority 50.00 %")
              for i, p in enumerate(pres, 5)]
    claim = _shape(Threshold("x", ">=", 1.0), preconditions=tuple(pres))
    reason = judge(claim, Measurement(4), False, preconditions=checks).reason
    assert reason == ("precondition: 2 of the 4 clean classifiers are less than 20 points above "
                      "the majority class of their test set: SST final-state (50.00 %, majority "
                      "50.00 %), IMDB final-state (70.00 %, majority 50.00 %)")
    one = judge(claim, Measurement(4), False,
                preconditions=[replace(c, holds=True) for c in checks[:2]] + checks[2:]).reason
    assert one == ("precondition: the final-state classifier on IMDB is less than 20 points "
                   "above the majority class (70.00 %, majority 50.00 %)")
    held = [replace(c, holds=True) for c in checks]
    assert judge(claim, Measurement(4), False, preconditions=held).verdict == PASS


def test_a_classifier_precondition_is_on_a_donnelly_probe_feature():
    with pytest.raises(ValueError, match="donnelly"):
        Precondition("sst", kind="classifier", margin=20.0)
    with pytest.raises(ValueError, match="donnelly"):
        Precondition("sst", "donnelly", kind="classifier", features="max", margin=20.0)
    with pytest.raises(ValueError, match="kind"):
        Precondition("sst", kind="unit")


def test_the_planted_model_gets_judged_verdicts(runs):
    ctx, results = runs["planted:fixture"]
    check = check_precondition(ctx, Precondition("sst"))
    assert check.holds and check.details["p_value"] < 1e-6
    for claim_id, verdict in fixture_expected().items():
        assert results[claim_id].verdict == verdict, (claim_id, results[claim_id].reason)
    dominant = results["radford2017.sst.one_dominant_unit"]
    assert [c.holds for c in dominant.preconditions] == [True]  # judged because it has a unit
    polarity = results["donnelly2019.opposite_polarity"]
    # zero-shot with the negative sign is perfect; with the sign ignored it would be 0 %
    assert polarity.details["zero_shot_sign_flipped"] == 0.0 and polarity.measured == 50.0


def test_cumulative_ablation_says_when_the_curve_never_falls(runs):
    result = runs["planted:fixture"][1]["donnelly2019.cumulative_ablation"]
    assert result.details["reaches_level"] == 1  # the planted curve falls at once
    claim = get_claim("donnelly2019.cumulative_ablation")
    never = Measurement(0.0, {"reaches_level": 0, "share_of_margin_lost_after": 0.9})
    assert judge(claim, never, False, preconditions=held(claim)).verdict == FAIL


# ----------------------------------------------------------------------------- sweeps
def test_units_left_below_scans_in_deletion_order():
    units_left = np.array([5, 4, 3, 2, 1])
    assert sweeps.units_left_below(units_left, [90, 89, 80, 70, 60], 85) == 3
    assert sweeps.units_left_below(units_left, [90, 89, 88, 87, 86], 85) is None
    assert sweeps.units_left_below(units_left, [80, 89, 88, 87, 86], 85) == 5


@pytest.mark.parametrize("n_units,size", [(4096, 100), (256, 6), (32, 1), (8, 1), (8192, 200)])
def test_random_subsets_keep_the_source_share_of_units(n_units, size):
    assert sweeps.subset_size(n_units) == size


def test_random_subsets_draw_distinct_sorted_units():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 40)), rng.integers(0, 2, 60)
    out = sweeps.random_subsets(X, y, X, y, 1.0, n_classifiers=7)
    assert out["size"] == 1 and out["columns"].shape == (7, 1)
    out = sweeps.random_subsets(X, y, X, y, 1.0, n_classifiers=5, size=4)
    for row in out["columns"]:
        assert len(set(row)) == 4 and list(row) == sorted(row)
    with pytest.raises(ValueError, match="subset"):
        sweeps.random_subsets(X, y, X, y, 1.0, size=41)


def test_roughly_normal_reads_a_normal_sample_as_normal():
    rng = np.random.default_rng(1)
    normal = sweeps.roughly_normal(rng.normal(size=1000))
    assert abs(normal["skewness"]) < 0.3 and abs(normal["excess_kurtosis"]) < 0.5
    skewed = sweeps.roughly_normal(rng.exponential(size=1000))
    assert skewed["skewness"] > 1.5
    assert math.isnan(sweeps.roughly_normal(np.ones(10))["excess_kurtosis"])


def test_a_probe_that_keeps_no_weight_is_flagged_and_has_no_unit():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(80, 6)) * 1e-3, np.tile([0, 1], 40)  # nothing to learn
    result, _ = run_probe(X[:40], y[:40], X[40:60], y[40:60], X[60:], y[60:])
    assert result.n_nonzero == 0 and result.sentiment_unit is None
    assert math.isnan(result.sentiment_unit_accuracy)
    assert any("kept no weight" in n for n in result.notes)


def test_a_worker_that_dies_leaves_its_claims_not_run_and_the_report_written(tmp_path):
    from tests.helpers import dying_worker

    ctx = make_context(profile="fixtures", out_dir=tmp_path, progress=False)
    claims = [get_claim("radford2017.sst.full_features"),
              get_claim("nerneurons2020.per_tag_accuracy")]
    run = Reproduction(ctx, claims, SOURCES, control=ctx.for_control("random:32"))
    run.worker = dying_worker
    first, ner = run.evaluate_all()
    assert first.measured == 100.0  # the main process's own work is kept
    assert first.control.verdict == NOT_RUN and "the control ended" in first.control.reason
    assert ner.verdict == NOT_RUN and "its own process ended before it reported" in ner.reason
    assert len(run.errors) == 2
    report = run.write().read_text()
    assert "nerneurons2020.per_tag_accuracy" in report


def test_a_claim_judged_without_its_declared_preconditions_is_not_run():
    """judge() applies what the claim declares: no result for a declared precondition (an
    empty list included) is not a precondition met."""
    claim = get_claim("radford2017.sst.one_dominant_unit")
    assert claim.preconditions
    bare = judge(claim, Measurement(float("inf")), False)
    assert bare.verdict == NOT_RUN and bare.reason_code == "unchecked"
    assert str(claim.preconditions[0]) in bare.reason
    assert judge(claim, Measurement(float("inf")), False,
                 preconditions=held(claim)).verdict == PASS


@pytest.mark.parametrize("nan", [float("nan"), np.float32("nan"), np.float64("nan")])
def test_a_nan_of_any_float_type_is_no_value(nan):
    claim = get_claim("radford2017.sst.one_dominant_unit")
    result = judge(claim, Measurement(nan), False, preconditions=held(claim))
    assert result.verdict == NOT_RUN and result.reason_code == "no_value"


@pytest.mark.parametrize("spent", [float("nan"), "100", None, True])
def test_a_budget_that_is_not_a_number_falls_short_of_the_protocol(spent):
    claim = next(c for c in REGISTRY if c.protocol and c.kind == "shape")
    budget = {name: full for name, full in claim.protocol.items()}
    budget[next(iter(budget))] = spent
    result = judge(claim, Measurement(1.0, budget=budget), False, preconditions=held(claim))
    assert result.verdict == NOT_RUN and result.reason_code == "budget", result.reason


def test_training_a_classifier_leaves_the_process_numerics_as_they_were():
    import torch

    from neuron_repro.data.base import Split
    from neuron_repro.models.wordlstm import WordLSTMConfig
    from neuron_repro.train.classifier import train_classifier

    split = Split(["good film", "bad film", "great", "awful"], np.array([1, 0, 1, 0]))
    train_classifier(split, split, WordLSTMConfig(epochs=1, embed_dim=4, hidden=4), progress=False)
    tiny = torch.tensor([1e-40], dtype=torch.float32)
    assert (tiny * 1.0).item() != 0.0  # subnormals are kept again: flushing has ended


def test_a_trained_models_cache_key_names_the_instruction_set_and_threads(monkeypatch):
    import torch

    from neuron_repro.data.base import Split
    from neuron_repro.models.wordlstm import WordLSTMConfig
    from neuron_repro.train.classifier import classifier_cache_key

    split = Split(["good film", "bad film"], np.array([1, 0]))
    key = classifier_cache_key(WordLSTMConfig(), split, split, 0, "cpu")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "OTHER_ISA")
    other_isa = classifier_cache_key(WordLSTMConfig(), split, split, 0, "cpu")
    monkeypatch.undo()
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        other_threads = classifier_cache_key(WordLSTMConfig(), split, split, 0, "cpu")
    finally:
        torch.set_num_threads(threads)
    assert len({key, other_isa, other_threads}) == 3


# ---------------------------------------------------------------- intervals and the judge
def _value_claim(published=90.0, amount=1.0, direction="two-sided"):
    return Claim("sim.value", Citation("sim", "simulation"), "an accuracy", "value",
                 "accuracy (%)", published, Tolerance(amount, direction),
                 requires_model="mlstm")


def _verdicts_of(truth: float, n: int, claim, draws: int, seed: int = 0) -> dict:
    from collections import Counter

    from neuron_repro.stats import binomial_interval

    rng = np.random.default_rng(seed)
    out = Counter()
    for k in rng.binomial(n, truth / 100, size=draws):
        value = 100 * k / n
        out[judge(claim, Measurement(value, interval=binomial_interval(int(k), n)),
                  False).verdict] += 1
    return {v: c / draws for v, c in out.items()}


def test_a_claim_whose_truth_lies_inside_its_tolerance_fails_at_most_2_5_percent():
    claim = _value_claim()
    for truth in (89.0, 89.5, 90.0, 91.0):  # inside, the boundaries included
        assert _verdicts_of(truth, 1821, claim, 2000).get(FAIL, 0) <= 0.025 + 0.01, truth


def test_a_claim_whose_truth_lies_outside_passes_at_most_2_5_percent():
    claim = _value_claim()
    for truth in (88.9, 88.0, 91.1, 93.0):
        assert _verdicts_of(truth, 1821, claim, 2000).get(PASS, 0) <= 0.025 + 0.01, truth


def test_inconclusive_appears_near_the_boundary_and_not_far_from_it():
    claim = _value_claim()
    assert _verdicts_of(89.0, 1821, claim, 1000).get(INCONCLUSIVE, 0) > 0.5
    far = _verdicts_of(80.0, 1821, claim, 1000)
    assert far.get(FAIL, 0) == 1.0


@pytest.mark.parametrize("truth, n", [(50.0, 40), (90.0, 200), (97.0, 1821), (52.0, 1821)])
def test_the_binomial_interval_covers_at_its_nominal_rate(truth, n):
    from neuron_repro.stats import binomial_interval

    rng = np.random.default_rng(1)
    hits = [binomial_interval(int(k), n) for k in rng.binomial(n, truth / 100, size=3000)]
    coverage = np.mean([i.low <= truth <= i.high for i in hits])
    assert 0.92 <= coverage <= 0.99, coverage


def test_the_fold_interval_covers_at_its_nominal_rate():
    from neuron_repro.stats import fold_interval

    rng = np.random.default_rng(2)
    covered = [fold_interval(rng.normal(80.0, 2.0, size=10)) for _ in range(3000)]
    coverage = np.mean([i.low <= 80.0 <= i.high for i in covered])
    assert 0.935 <= coverage <= 0.965, coverage


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 5000), data=st.data())
def test_a_binomial_interval_is_a_proper_interval_at_the_edges(n, data):
    from neuron_repro.stats import binomial_interval

    k = data.draw(st.sampled_from(sorted({0, n, data.draw(st.integers(0, n))})))
    interval = binomial_interval(k, n)
    assert 0.0 <= interval.low <= 100 * k / n <= interval.high <= 100.0
    assert interval.se >= 0


def test_a_fold_interval_of_agreeing_folds_has_no_width_and_nan_folds_are_left_out():
    from neuron_repro.stats import fold_interval

    same = fold_interval([80.0] * 10)
    assert same.low == same.high == 80.0
    assert fold_interval([80.0, float("nan"), 82.0]).n == 2
    with pytest.raises(ValueError):
        fold_interval([float("nan")])


@pytest.mark.parametrize("low, high", [(2.0, 1.0), (float("nan"), 1.0)])
def test_an_interval_that_is_not_one_is_refused(low, high):
    with pytest.raises(ValueError):
        Interval(low, high, "binomial")
    with pytest.raises(ValueError, match="unknown interval kind"):
        Interval(0.0, 1.0, "guess")


def test_a_shape_claim_is_judged_on_its_interval_with_its_margin():
    claim = get_claim("radford2017.sst.one_dominant_unit")
    met = held(claim)

    def verdict(low, high, value):
        return judge(claim, Measurement(value, interval=Interval(low, high, "bootstrap")),
                     False, preconditions=met)

    assert verdict(2.5, 4.0, 3.0).verdict == PASS
    assert verdict(1.0, 1.9, 1.5).verdict == FAIL
    straddling = verdict(1.5, 3.0, 2.2)
    assert straddling.verdict == INCONCLUSIVE and straddling.margin_se == pytest.approx(
        0.2 / straddling.interval.se)


def test_the_published_values_own_error_widens_the_interval():
    claim = replace(_value_claim(), published_se=1.0)
    inside = Measurement(90.5, interval=Interval(90.0, 91.0, "folds"))
    narrow = judge(replace(claim, published_se=None), inside, False)
    wide = judge(claim, inside, False)
    assert narrow.verdict == PASS and wide.verdict == INCONCLUSIVE


def test_the_seed_interval_covers_at_its_nominal_rate_and_refuses_one_seed():
    from neuron_repro.stats import seed_interval

    rng = np.random.default_rng(3)
    intervals = [seed_interval(rng.normal(0.9, 0.03, size=5)) for _ in range(3000)]
    coverage = np.mean([i.low <= 0.9 <= i.high for i in intervals])
    assert 0.935 <= coverage <= 0.965, coverage
    with pytest.raises(ValueError):
        seed_interval([0.9])


@pytest.mark.parametrize("n", [5, 9, 20])
def test_the_median_interval_covers_the_median_at_least_at_its_level(n):
    from neuron_repro.stats import median_interval

    rng = np.random.default_rng(n)
    intervals = [median_interval(rng.exponential(1.0, size=n)) for _ in range(3000)]
    truth = np.log(2)  # the exponential's median
    coverage = np.mean([i.low <= truth <= i.high for i in intervals])
    assert coverage >= intervals[0].level - 0.015, (coverage, intervals[0].level)
    assert intervals[0].level >= (0.93 if n == 5 else 0.95)


@pytest.mark.parametrize("k, n", [(0, 5), (5, 5), (3, 5)])
def test_a_share_of_seeds_interval_holds_the_share(k, n):
    from neuron_repro.stats import proportion_interval

    interval = proportion_interval(k, n, "share of seeds", "seeds")
    assert 0.0 <= interval.low <= k / n <= interval.high <= 1.0


def test_the_difference_interval_covers_at_its_nominal_rate():
    from neuron_repro.stats import difference_interval

    rng = np.random.default_rng(4)
    covered = []
    for _ in range(3000):
        k1, k2 = rng.binomial(60, 0.7), rng.binomial(60, 0.4)
        i = difference_interval(int(k1), 60, int(k2), 60, "simulation")
        covered.append(i.low <= 30.0 <= i.high)
    assert 0.93 <= np.mean(covered) <= 0.975, np.mean(covered)
    edge = difference_interval(60, 60, 0, 60, "all and none")
    assert edge.low > 80 and edge.high == pytest.approx(100.0)


def test_a_verdict_decided_by_a_further_condition_shows_no_margin_of_the_main_statistic():
    claim = get_claim("nerneurons2020.ablation_targets_tag")
    details = {"selectivity": -0.04, "largest_other_abs_change": 0.6}
    result = judge(claim, Measurement(-0.73, details, interval=Interval(-0.74, -0.71, "seeds"),
                                      budget=dict(claim.protocol)),
                   False, preconditions=held(claim))
    assert result.verdict == FAIL and result.margin_se is None


def test_the_opposite_polarity_margin_is_bootstrapped_over_paired_test_texts():
    from neuron_repro.experiments.donnelly import bootstrap_margin

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 400)
    values = np.where(rng.random(400) < 0.8, 2 * y - 1, 1 - 2 * y) * rng.random(400)
    low, high = bootstrap_margin(values, y, +1)
    point = 100 * (np.mean((values > 0) == y) - max(np.mean(y), 1 - np.mean(y),
                                                     np.mean((-values > 0) == y)))
    assert low < point < high and high - low < 20
    assert bootstrap_margin(values, y, -1)[1] < 0  # the wrong sign loses to its flip


def test_the_seed_pair_jackknife_covers_at_about_its_rate_and_needs_three_seeds():
    from itertools import combinations

    from neuron_repro.experiments.ner import jackknife_over_seeds

    rng = np.random.default_rng(6)
    pairs = list(combinations(range(6), 2))
    covered = []
    for _ in range(2000):
        seed_effect = rng.normal(0, 1, 6)
        per_pair = [0.2 + seed_effect[i] + seed_effect[j] + rng.normal(0, 0.5)
                    for i, j in pairs]
        i = jackknife_over_seeds(per_pair, pairs, 6)
        covered.append(i.low <= 0.2 <= i.high)
    assert 0.92 <= np.mean(covered) <= 0.99, np.mean(covered)
    assert jackknife_over_seeds([0.1], [(0, 1)], 2) is None
