"""donnelly2019's tables on the planted model and the fixtures."""

import numpy as np
import pytest

from neuron_repro.claims import get_claim
from neuron_repro.experiments import donnelly
from neuron_repro.repro import FIXTURE_MODEL, make_context
from neuron_repro.verdicts import PreconditionResult


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return make_context(profile="fixtures", out_dir=tmp_path_factory.mktemp("out"),
                        progress=False)


@pytest.mark.parametrize("name,n_pool", [("mr", 60), ("cr", 60), ("imdb", 80)])
def test_splits_are_70_10_20_of_the_pool_seeded_and_disjoint(ctx, name, n_pool):
    splits = donnelly.donnelly_splits(ctx, name)
    sizes = {k: len(v) for k, v in splits.items()}
    assert sizes == {"train": int(0.7 * n_pool), "dev": int(0.1 * n_pool),
                     "test": n_pool - int(0.7 * n_pool) - int(0.1 * n_pool)}
    texts = [t for s in splits.values() for t in s.texts]
    ds = ctx.dataset(name)
    pool = ds.pool.texts if ds.pool else ds.splits["train"].texts + ds.splits["test"].texts
    assert sorted(texts) == sorted(pool)  # a partition of the pool
    again = donnelly.donnelly_splits(make_context(profile="fixtures", progress=False), name)
    assert again["test"].texts == splits["test"].texts


def test_sst_keeps_openai_splits(ctx):
    assert {k: len(v) for k, v in donnelly.donnelly_splits(ctx, "sst").items()} == {
        "train": 80, "dev": 24, "test": 40}


def test_pooled_features():
    states = {"final_c": np.array([[1.0, -2.0]]), "mean_c": np.array([[0.5, 0.5]]),
              "min_c": np.array([[-3.0, -1.0]]), "max_c": np.array([[2.0, 4.0]]),
              "final_h": np.zeros((1, 2))}
    np.testing.assert_array_equal(donnelly.pooled(states, "concat"), [[1.0, -2.0, 0.5, 0.5]])
    np.testing.assert_array_equal(donnelly.pooled(states, "absmax"), [[-3.0, 4.0]])


def test_table1_on_the_planted_model(ctx):
    out, _ = donnelly.table_probe(ctx, "sst", "final")
    assert out["sentiment_unit"] == FIXTURE_MODEL["unit"]
    assert out["test_accuracy"] == 100.0 and out["sentiment_unit_accuracy"] == 100.0
    assert out["sentiment_unit_deleted_accuracy"] <= 75.0


def test_a_suffix_word_cannot_move_an_emoticon_counter(ctx):
    for kind in ("final", "mean"):
        for polarity in ("positive", "negative"):
            assert donnelly.suffix_accuracy(ctx, "sst", polarity, kind, 1) == 100.0
    measurement = donnelly.suffix_attack_shape_experiment(
        ctx, get_claim("donnelly2019.suffix_attack_shape"))
    relations = measurement.details["relations"]
    assert relations["short texts: mean-pool drop <= 2"]
    assert not relations["short texts: final-state drop >= 10"]


def test_table3_params_reach_the_experiment(ctx):
    claim = get_claim("donnelly2019.table3.negative.concat.imdb10")
    assert claim.params == {"dataset": "imdb", "polarity": "negative", "features": "concat",
                            "repeats": 10}
    measurement = donnelly.table3_experiment(ctx, claim)
    assert measurement.value == 100.0 and measurement.details["repeats"] == 10


def test_table2_stands_when_a_pool_shown_beside_it_did_not_converge(tmp_path, monkeypatch):
    from neuron_repro.probes import EngineNotConverged

    ctx = make_context(profile="fixtures", out_dir=tmp_path, progress=False)
    real = donnelly.table_probe

    def probe(ctx, name, kind):
        if kind == "max":
            raise EngineNotConverged("stopped short after 100 Newton steps at C=0.125")
        return real(ctx, name, kind)

    monkeypatch.setattr(donnelly, "table_probe", probe)
    claim = get_claim("donnelly2019.table2.final.imdb")
    got = donnelly.table2_experiment(ctx, claim)
    assert got.value == real(ctx, "imdb", "final")[0]["test_accuracy"]
    assert got.details["extra_pools"]["max"] is None
    assert got.details["extra_pools"]["min"] == real(ctx, "imdb", "min")[0]["test_accuracy"]
    assert "100 Newton steps" in got.details["extra_pools_not_measured"]["max"]
    assert "max pool" in got.note


def test_table1_says_why_when_the_probe_kept_no_unit(tmp_path):
    ctx = make_context(profile="fixtures", out_dir=tmp_path, progress=False)
    # a probe whose chosen C zeroed every weight, as the protocol can choose
    note = "the probe kept no weight at the C chosen on dev (0.00390625): it predicts one class"
    empty = {"test_accuracy": 50.3, "C": 2.0**-8, "n_nonzero": 0, "sentiment_unit": None,
             "sentiment_unit_accuracy": float("nan"), "n_test": 10,
             "sentiment_unit_deleted_accuracy": float("nan"), "test_errors": np.array([]),
             "notes": [note]}
    ctx.memo[("donnelly_probe", "mr", "final")] = (empty, None)
    deleted = donnelly.table1_experiment(ctx, get_claim("donnelly2019.table1.sn_deleted.mr"))
    assert np.isnan(deleted.value) and "kept no weight" in deleted.details["why"]
    everything = donnelly.table1_experiment(ctx, get_claim("donnelly2019.table1.all.mr"))
    assert everything.value == 50.3


def test_sn_not_necessary_is_judged_over_the_datasets_with_a_unit(tmp_path):
    ctx = make_context(profile="fixtures", out_dir=tmp_path, progress=False)
    claim = get_claim("donnelly2019.sn_not_necessary")
    probe = {"test_accuracy": 80.0, "sentiment_unit": 3, "sentiment_unit_accuracy": 70.0,
             "n_test": 10, "notes": []}
    for pre, deleted, holds in zip(claim.preconditions, (10.0, 20.0, 79.0, 81.3),
                                   (False, False, True, True), strict=True):
        ctx.memo[("donnelly_probe", pre.dataset, "final")] = (
            {**probe, "sentiment_unit_deleted_accuracy": deleted}, None)
        ctx.memo[("precondition", pre)] = PreconditionResult(pre, holds, f"summary {holds}")
    change = donnelly.sn_not_necessary_experiment(ctx, claim)
    # SST and MR (no unit) are left out, however much their deletion changed
    assert change.value == pytest.approx(1.3) and list(change.details["left_out"]) == ["sst", "mr"]
    assert "judged over CR, IMDB" in change.note and "SST (summary False)" in change.note
    for pre in claim.preconditions:
        ctx.memo[("precondition", pre)] = PreconditionResult(pre, False, "none")
    assert donnelly.sn_not_necessary_experiment(ctx, claim).value is None
