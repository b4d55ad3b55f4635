"""Smoke twins of the sentiment-unit experiments: the planted model on the fixtures."""

import json

import pytest

from neuron_repro.claims import REGISTRY, SOURCES, get_claim
from neuron_repro.experiments.sentiment_unit import run_dataset_probe, zero_shot_experiment
from neuron_repro.figures import draw
from neuron_repro.models.planted import planted_mlstm
from neuron_repro.repro import FIXTURE_DATA, FIXTURE_MODEL, make_context
from neuron_repro.runner import Reproduction
from neuron_repro.verdicts import FAIL, NOT_RUN, PASS, VERDICTS


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return make_context(profile="fixtures", out_dir=tmp_path_factory.mktemp("out"),
                        progress=False)


@pytest.mark.parametrize("name", ["sst", "imdb", "mr", "cr", "subj", "mpqa"])
def test_probe_on_each_dataset_finds_the_planted_unit(ctx, name):
    out = run_dataset_probe(ctx, name)
    assert out["sentiment_unit"] == FIXTURE_MODEL["unit"]
    assert out["sentiment_unit_sign"] == FIXTURE_MODEL["polarity"]
    assert out["test_accuracy"] == 100.0 and out["sentiment_unit_accuracy"] == 100.0
    assert out["zero_shot_accuracy"] == 100.0
    assert out["sentiment_unit_deleted_accuracy"] <= 75.0  # the label lives in one unit only
    assert [f.kind for f in out["figures"]] == ["l1_weights", "unit_values"][-len(out["figures"]):]
    for spec in out["figures"]:
        assert (ctx.out_dir / draw(spec, ctx.out_dir)).stat().st_size > 1000


def test_cross_validation_runs_ten_folds(ctx):
    out = run_dataset_probe(ctx, "mr")
    assert out["n_folds"] == 10 and len(out["folds"]) == 10
    assert sum(f["n_test"] for f in out["folds"]) == 60


def test_folds_in_parallel_processes_give_the_same_numbers(ctx, tmp_path):
    serial = run_dataset_probe(ctx, "mr")
    counts = []
    for _ in range(2):  # the second run reads every fit the first one made
        parallel = make_context(profile="fixtures", out_dir=tmp_path, progress=False, jobs=2)
        parallel.cache_dir = tmp_path / "cache"
        out = run_dataset_probe(parallel, "mr")
        assert out["folds"] == serial["folds"]
        counts.append(parallel.cache_stats()["liblinear_fits"])
    total = counts[0]["fitted"] + counts[0]["read_from_cache"]
    assert counts[0]["fitted"] > 0 and total >= 10 * 2 * 10  # all units and deleted, per fold
    assert counts[1] == {"fitted": 0, "read_from_cache": total}


def test_zero_shot_on_yelp_counts_the_mislabelled_texts(ctx):
    measurement = zero_shot_experiment(ctx, get_claim("chada2017.yelp.zero_shot"))
    # 4 of the 64 fixture reviews carry the wrong emoticon: exactly those are missed
    assert measurement.value == pytest.approx(100 * 60 / 64)
    assert measurement.details["sentiment_unit_sign"] == -1
    low, high = measurement.details["ci95"]
    assert low < measurement.value < high


def test_fixture_reproduction_report(ctx, tmp_path):
    ctx.out_dir = tmp_path
    run = Reproduction(ctx, REGISTRY, SOURCES)
    results = run.evaluate_all()
    assert not run.errors
    by_id = {r.claim.id: r for r in results}
    assert by_id["radford2017.sst.one_dominant_unit"].verdict == PASS
    value = by_id["radford2017.sst.full_features"]
    assert value.verdict == NOT_RUN and value.measured == 100.0
    assert run.unexpected() == []  # every planted answer reached, no other FAIL
    assert by_id["donnelly2019.sn_not_necessary"].verdict == FAIL
    run.write()
    payload = json.loads((tmp_path / "results.json").read_text())
    assert {"git_commit", "versions", "device", "seeds", "model", "data_sha256",
            "wall_seconds"} <= set(payload["provenance"])
    assert len(payload["claims"]) == len(REGISTRY)
    for row in payload["claims"]:
        assert {"id", "source", "kind", "statement", "published", "measured", "tolerance",
                "verdict", "reason", "details"} <= set(row)
        assert row["verdict"] in VERDICTS
    report = (tmp_path / "REPORT.md").read_text()
    assert "fixtures" in report and "(sst_l1_weights.png)" in report
    assert "*Figure radford2017-1. SST: the L1 probe's largest weights" in report


def test_a_claim_without_model_says_what_it_needs(tmp_path):
    ctx = make_context(profile="nomodel", data_dir=FIXTURE_DATA, out_dir=tmp_path,
                       progress=False)
    assert ctx.model is None
    claim = get_claim("radford2017.sst.full_features")
    result = Reproduction(ctx, REGISTRY, SOURCES).evaluate(claim)
    assert result.verdict == NOT_RUN and "--model" in result.reason


def test_missing_data_is_not_run_with_where_to_get_it(tmp_path):
    ctx = make_context(profile="nodata", model_spec="random:8", data_dir=tmp_path / "none",
                       out_dir=tmp_path, progress=False)
    claim = get_claim("radford2017.mr.full_features")
    result = Reproduction(ctx, REGISTRY, SOURCES).evaluate(claim)
    assert result.verdict == NOT_RUN and "rt-polarity.pos" in result.reason


def test_control_is_reported_beside_the_model(tmp_path):
    ctx = make_context(profile="fixtures", out_dir=tmp_path, progress=False)
    claims = [get_claim("radford2017.sst.full_features"),
              get_claim("radford2017.sst.one_dominant_unit")]
    run = Reproduction(ctx, claims, SOURCES, control=ctx.for_control("random:32"))
    results = run.evaluate_all()
    assert results[0].measured == 100.0
    assert results[0].control is not None and results[0].control.measured < 100.0
    run.write()
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["provenance"]["control"]["spec"] == "random:32"
    # the untrained control has no sentiment unit: its ratio is shown, and not judged
    control = payload["claims"][1]["control"]
    assert control["verdict"] == NOT_RUN and control["reason"].startswith(
        "precondition: no sentiment unit on SST")
    assert control["measured"] > 0
    report = (tmp_path / "REPORT.md").read_text()
    assert "untrained control" in report and "control/sst_l1_weights.png" in report


def test_a_trained_checkpoint_brings_its_control(tmp_path):
    from neuron_repro.repro import default_control

    model = planted_mlstm()
    model.save(tmp_path / "m")
    assert default_control(str(tmp_path / "m")) is None
    model.save(tmp_path / "m" / "initial")
    assert default_control(str(tmp_path / "m")) == str(tmp_path / "m" / "initial")
