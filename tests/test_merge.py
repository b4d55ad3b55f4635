"""Merging reports: a row read back is the row that was written, a merge replaces exactly the
chosen rows (with their figures) and records the run that made them, and a merge of reports
that do not describe the same weights, data or claim versions is refused."""

import json
from dataclasses import replace

import pytest

from neuron_repro.claims import REGISTRY, SOURCES, get_claim
from neuron_repro.cli import main
from neuron_repro.data.base import DatasetError
from neuron_repro.merge import merge_reports
from neuron_repro.report import write_report
from neuron_repro.results import read_report, results_of
from neuron_repro.verdicts import NOT_RUN, PASS, ClaimResult, PreconditionResult

PROVENANCE = {"profile": "unit-test", "fixtures": False, "git_commit": "a" * 40,
              "versions": {}, "device": "cpu", "seeds": {"probe": 42},
              "model": {"spec": "m", "n_units": 8, "sha256": "m1"},
              "control": {"spec": "m/initial", "sha256": "c1"}, "preprocessing": 3,
              "data_root": "d", "data_sha256": {"sst/test.csv": "s1"}, "wall_seconds": 1.0}


def _results(value=52.5, figure="sst_l1_weights.png"):
    unit = get_claim("radford2017.sst.label_efficiency")
    check = PreconditionResult(unit.preconditions[0], False, "alone 51.07 %, p = 0.23",
                               {"p_value": 0.23, "alone": 51.07})
    first = ClaimResult(unit, NOT_RUN, value, "the model has no sentiment unit",
                        {"curve": [50.0, float("nan")], "best": float("inf")}, [figure],
                        preconditions=[check])
    first.control = ClaimResult(unit, NOT_RUN, float("-inf"), "no unit", {"n": 3},
                                [figure], preconditions=[check])
    second = ClaimResult(get_claim("radford2017.sst.full_features"), PASS, 91.5, "within 1")
    third = ClaimResult(get_claim("nerneurons2020.weight_similarity"), PASS, 4, "holds",
                        parts={"shape": {"verdict": PASS, "value": float("nan")}})
    attack = get_claim("donnelly2019.suffix_attack_shape")
    # one precondition of each feature on the same dataset: read back to its own
    checks = [PreconditionResult(pre, pre.features == "mean", f"{pre.features} 56.48 %",
                                 {"accuracy": 56.48, "majority": 50.0})
              for pre in attack.preconditions if pre.dataset == "imdb"]
    fourth = ClaimResult(attack, NOT_RUN, 0, "precondition", preconditions=checks)
    return [first, second, third, fourth]


def _report(folder, results, provenance=PROVENANCE, figures=("sst_l1_weights.png",)):
    write_report(results, provenance, folder, SOURCES)
    for name in figures:
        for where in (folder / name, folder / "control" / name):
            where.parent.mkdir(parents=True, exist_ok=True)
            where.write_bytes(f"{folder.name}:{name}".encode())
    return folder


def _rows(folder):
    return json.loads((folder / "results.json").read_text())


def test_a_row_read_back_is_the_row_written_nulls_included(tmp_path):
    folder = _report(tmp_path / "a", _results())
    payload = read_report(folder)
    again = results_of(payload, REGISTRY, "a")
    written = json.loads(json.dumps(_rows(folder)))
    rewritten = _report(tmp_path / "b", list(again.values()))
    assert _rows(rewritten)["claims"] == written["claims"]
    assert _rows(rewritten)["null_values"] == written["null_values"]
    assert again["radford2017.sst.label_efficiency"].details["best"] == float("inf")
    assert again["radford2017.sst.label_efficiency"].control.measured == float("-inf")
    checks = again["donnelly2019.suffix_attack_shape"].preconditions
    assert [(c.precondition.features, c.holds) for c in checks] == [("final", False),
                                                                     ("mean", True)]


def test_a_precondition_row_written_before_kinds_reads_as_a_sentiment_unit_test(tmp_path):
    folder = _report(tmp_path / "a", _results())
    payload = read_report(folder)
    row = next(r for r in payload["claims"] if r["id"] == "radford2017.sst.label_efficiency")
    assert row["preconditions"][0].pop("kind") == "sentiment_unit"
    again = results_of(payload, REGISTRY, "a")["radford2017.sst.label_efficiency"]
    assert again.preconditions[0].precondition.kind == "sentiment_unit"
    payload = read_report(folder)
    row = next(r for r in payload["claims"] if r["id"] == "donnelly2019.suffix_attack_shape")
    row["preconditions"][0].pop("kind")  # a classifier test is never one
    with pytest.raises(DatasetError, match="does not declare"):
        results_of(payload, REGISTRY, "a")


def test_a_merge_replaces_the_chosen_rows_with_their_figures_and_records_the_run(tmp_path):
    into = _report(tmp_path / "full", _results(52.5))
    check = {"dataset": "imdb", "probe": "radford", "holds": False, "summary": "p = 0.3"}
    later = {**PROVENANCE, "git_commit": "b" * 40, "device": "cuda (H200)",
             "sentiment_unit": {"model": [check], "control": [check]},
             "data_sha256": {"sst/train.csv": "s2"}, "wall_seconds": 7.0}
    src = _report(tmp_path / "rerun", _results(61.25), later)
    _, ids = merge_reports(into, src, ["label_efficiency"], REGISTRY, SOURCES)
    assert ids == ["radford2017.sst.label_efficiency"]
    rows = {r["id"]: r for r in _rows(into)["claims"]}
    assert rows["radford2017.sst.label_efficiency"]["measured"] == 61.25
    assert rows["radford2017.sst.full_features"]["measured"] == 91.5
    assert list(rows) == [c.id for c in REGISTRY if c.id in rows]  # the registry's order
    assert (into / "sst_l1_weights.png").read_bytes() == b"rerun:sst_l1_weights.png"
    assert (into / "control/sst_l1_weights.png").read_bytes() == b"rerun:sst_l1_weights.png"
    provenance = _rows(into)["provenance"]
    assert provenance["git_commit"] == "a" * 40
    assert provenance["data_sha256"] == {"sst/test.csv": "s1", "sst/train.csv": "s2"}
    assert provenance["sentiment_unit"] == {"model": [check], "control": [check]}
    (merge,) = provenance["merged"]
    assert merge["claims"] == ids and merge["git_commit"] == "b" * 40
    assert merge["device"] == "cuda (H200)"
    assert "merged in" in (into / "REPORT.md").read_text()


def test_a_figure_that_no_row_shows_after_a_merge_is_removed(tmp_path):
    into = _report(tmp_path / "full", _results())
    rerun = _results(61.0)
    rerun[0].control = None  # the rerun had no control: its control figure goes
    src = _report(tmp_path / "rerun", rerun)
    merge_reports(into, src, ["label_efficiency"], REGISTRY, SOURCES)
    assert (into / "sst_l1_weights.png").is_file()
    assert not (into / "control/sst_l1_weights.png").exists()


@pytest.mark.parametrize("change,message", [
    ({"model": {"spec": "m", "sha256": "other"}}, "same weights"),
    ({"control": {"spec": "c", "sha256": "other"}}, "same weights"),
    ({"data_sha256": {"sst/test.csv": "edited"}}, "sst/test.csv differs"),
    ({"preprocessing": 2}, "preprocessing"),
])
def test_reports_of_other_weights_or_data_are_not_merged(tmp_path, change, message):
    into = _report(tmp_path / "full", _results())
    before = (into / "results.json").read_bytes()
    src = _report(tmp_path / "rerun", _results(61.0), {**PROVENANCE, **change})
    with pytest.raises(DatasetError, match=message):
        merge_reports(into, src, ["label_efficiency"], REGISTRY, SOURCES)
    assert (into / "results.json").read_bytes() == before


def test_a_row_of_another_claim_version_or_a_shared_figure_is_refused(tmp_path):
    into = _report(tmp_path / "full", _results())
    claim = get_claim("radford2017.sst.full_features")
    old = replace(claim, version=claim.version + 1)
    src = _report(tmp_path / "rerun", [ClaimResult(old, PASS, 91.5, "within 1")])
    with pytest.raises(DatasetError, match="rerun it"):
        merge_reports(into, src, ["full_features"], REGISTRY, SOURCES)
    # full_features keeps the figure that the rerun of label_efficiency brings: refused
    shared = _results()
    shared[1].figures = ["sst_l1_weights.png"]
    into = _report(tmp_path / "shared", shared)
    src = _report(tmp_path / "rerun2", _results(61.0))
    with pytest.raises(DatasetError, match="merge that claim too"):
        merge_reports(into, src, ["label_efficiency"], REGISTRY, SOURCES)
    (src / "sst_l1_weights.png").unlink()
    with pytest.raises(DatasetError, match="missing"):
        merge_reports(tmp_path / "full", src, ["label_efficiency"], REGISTRY, SOURCES)


def test_a_row_of_an_earlier_claim_version_is_replaced_by_its_rerun_and_only_by_it(tmp_path):
    claim = get_claim("radford2017.sst.full_features")
    earlier = replace(claim, version=claim.version - 1)
    rows = _results()
    rows[1] = ClaimResult(earlier, PASS, 80.0, "within 1", figures=["old_figure.png"])
    into = _report(tmp_path / "full", rows, figures=("sst_l1_weights.png", "old_figure.png"))
    src = _report(tmp_path / "rerun", _results(61.0))
    with pytest.raises(DatasetError, match="rerun it"):  # kept, so read back: refused
        merge_reports(into, src, ["label_efficiency"], REGISTRY, SOURCES)
    merge_reports(into, src, ["full_features"], REGISTRY, SOURCES)
    row = next(r for r in _rows(into)["claims"] if r["id"] == claim.id)
    assert (row["version"], row["measured"]) == (claim.version, 91.5)
    assert not (into / "old_figure.png").exists()  # no row shows it now


def test_the_merge_command_says_what_is_wrong_with_exit_code_2(tmp_path, capsys):
    into = _report(tmp_path / "full", _results())
    src = _report(tmp_path / "rerun", _results(61.0))
    assert main(["merge", str(src), "--into", str(into), "--only", "weight_similarity"]) == 0
    assert "merged 1 claims" in capsys.readouterr().out
    assert main(["merge", str(tmp_path / "nowhere"), "--into", str(into), "--only", "x"]) == 2
    assert "nowhere" in capsys.readouterr().err
    (src / "results.json").write_text('{"provenance": {}, "claims": [')
    assert main(["merge", str(src), "--into", str(into), "--only", "weight"]) == 2
    assert "results.json" in capsys.readouterr().err


def test_the_provenance_says_each_merge_short_and_keeps_a_dirty_checkout_said():
    from neuron_repro.report.cells import claims_text as _claims_text
    from neuron_repro.report.cells import short_commit as _short_commit

    assert _claims_text(["nerneurons2020.baseline_f1.a", "nerneurons2020.baseline_f1.b"]) == \
        "nerneurons2020.baseline_f1.*"
    assert _claims_text(["radford2017.imdb.x", *[f"donnelly2019.t{i}" for i in range(4)]]) == \
        "1 of radford2017, 4 of donnelly2019"
    assert _short_commit("a" * 40 + "+dirty") == "a" * 12 + "+dirty"
