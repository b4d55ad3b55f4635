"""A report read back is untrusted input: a results.json that the schema refuses is a clean
error (exit 2, naming the file and the field) before anything is read, written or removed,
and a figure name can only name a file inside the report folder."""

import json
import subprocess
import sys

import pytest

from neuron_repro.cli import main
from neuron_repro.paths import REPO_ROOT
from neuron_repro.results import SCHEMA
from tests.test_merge import _report, _results


def _pair(tmp_path):
    """A target report and a source report of the same run conditions."""
    return (_report(tmp_path / "target", _results(value=50.0)),
            _report(tmp_path / "source", _results(value=60.0)))


def _edit(folder, change):
    path = folder / "results.json"
    payload = json.loads(path.read_text())
    change(payload)
    path.write_text(json.dumps(payload))
    return payload


def _files(folder) -> dict:
    """Every file below ``folder`` and its bytes, but a writer's lock files."""
    return {p: p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and not p.name.endswith(".lock")}


def _merge(target, source, capsys):
    code = main(["merge", str(source), "--into", str(target), "--only", "label_efficiency"])
    return code, capsys.readouterr().err


def test_the_published_schema_is_the_one_the_code_checks():
    published = json.loads((REPO_ROOT / "reports" / "results.schema.json").read_text())
    assert published == json.loads(json.dumps(SCHEMA))


@pytest.mark.parametrize("where, name", [
    ("source", "../../payload.txt"),
    ("source", "/etc/hostname"),
    ("target", "../VICTIM2.txt"),
    ("target", "sub/dir.png"),
])
def test_a_figure_outside_the_report_folder_is_refused_and_nothing_is_touched(
        tmp_path, capsys, where, name):
    target, source = _pair(tmp_path)
    victim = tmp_path / "VICTIM2.txt"
    victim.write_text("keep me")
    (tmp_path / "payload.txt").write_text("not a figure")
    folder = source if where == "source" else target
    _edit(folder, lambda p: p["claims"][0].__setitem__("figures", [name]))
    before = _files(tmp_path)
    code, err = _merge(target, source, capsys)
    assert code == 2 and f"{folder / 'results.json'}: claims[0].figures[0]" in err
    after = _files(tmp_path)
    assert after == before  # nothing written, nothing removed
    assert "Traceback" not in err


def test_a_traversal_in_a_subprocess_leaves_every_file_as_it_was(tmp_path):
    target, source = _pair(tmp_path)
    _edit(source, lambda p: p["claims"][0].__setitem__("figures", ["../../payload.txt"]))
    (tmp_path / "payload.txt").write_text("not a figure")
    before = sorted(_files(tmp_path.parent))
    done = subprocess.run([sys.executable, "-m", "neuron_repro.cli", "merge", str(source),
                           "--into", str(target), "--only", "label_efficiency"],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 2 and "figures[0]" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(_files(tmp_path.parent)) == before


@pytest.mark.parametrize("change, field", [
    (lambda p: p["claims"][0].__setitem__("verdict", "MAYBE"), "claims[0].verdict"),
    (lambda p: p["claims"][1].__setitem__("measured", "NaN"), "claims[1].measured"),
    (lambda p: p["claims"][0]["preconditions"][0].__setitem__("holds", "yes"),
     "claims[0].preconditions[0].holds"),
    (lambda p: p["claims"][0].__setitem__("reason", 42), "claims[0].reason"),
    (lambda p: p["claims"][0].__setitem__("control", "x"), "claims[0].control"),
    (lambda p: p["claims"][0].__setitem__("details", [1, 2]), "claims[0].details"),
    (lambda p: p["claims"][0].__setitem__("reason_code", "because"), "claims[0].reason_code"),
    (lambda p: p.__setitem__("null_values", {"claims[0].measured": "junk"}),
     "null_values.claims[0].measured"),
    (lambda p: p.__setitem__("null_values", 5), "null_values"),
    (lambda p: p["provenance"].__setitem__("model", "m"), "provenance.model"),
    (lambda p: p["provenance"].__setitem__("merged", "ab"), "provenance.merged"),
    (lambda p: p["claims"][0].__delitem__("verdict"), "claims[0]"),
    (lambda p: p["claims"].append(dict(p["claims"][1])), "more than one row"),
])
def test_a_row_the_schema_refuses_is_a_clean_error_naming_the_field(
        tmp_path, capsys, change, field):
    target, source = _pair(tmp_path)
    _edit(target, change)
    report = (target / "REPORT.md").read_bytes()
    code, err = _merge(target, source, capsys)
    assert code == 2 and field in err and str(target / "results.json") in err, err
    assert (target / "REPORT.md").read_bytes() == report
    code = main(["claims", "--report", str(target / "results.json")])
    err = capsys.readouterr().err
    assert code == 2 and field in err


def test_json_nested_beyond_reason_is_a_clean_error(tmp_path, capsys):
    deep = tmp_path / "results.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["claims", "--report", str(deep)]) == 2
    assert "nested too deeply" in capsys.readouterr().err


def test_a_verdict_edited_against_its_measured_value_is_refused(tmp_path, capsys):
    target, source = _pair(tmp_path)
    # row 1 is radford2017.sst.full_features, 91.5 against 91.8 ± 1: PASS (kept by the merge)
    _edit(target, lambda p: p["claims"][1].update(verdict="FAIL"))
    code, err = _merge(target, source, capsys)
    assert code == 2 and "verdict FAIL does not follow from the measured 91.5" in err
    _edit(target, lambda p: p["claims"][1].update(verdict="PASS", measured=80.0))
    code, err = _merge(target, source, capsys)
    assert code == 2 and "verdict PASS does not follow from the measured 80.0" in err


def test_an_inconclusive_verdict_is_read_back_and_checked_against_its_interval(tmp_path,
                                                                               capsys):
    target, source = _pair(tmp_path)
    interval = {"low": 90.0, "high": 93.5, "kind": "binomial", "level": 0.95, "n": 1821,
                "note": ""}  # straddles 91.8 + 1
    _edit(target, lambda p: p["claims"][1].update(verdict="INCONCLUSIVE", interval=interval))
    code, err = _merge(target, source, capsys)
    assert code == 0, err
    rows = {r["id"]: r for r in json.loads((target / "results.json").read_text())["claims"]}
    assert rows["radford2017.sst.full_features"]["verdict"] == "INCONCLUSIVE"
    assert "INCONCLUSIVE" in (target / "REPORT.md").read_text()
    def row(payload):
        return next(r for r in payload["claims"] if r["id"] == "radford2017.sst.full_features")

    _edit(target, lambda p: row(p).update(verdict="PASS"))  # edited against its interval
    code, err = _merge(target, source, capsys)
    assert code == 2 and "which gives INCONCLUSIVE" in err
    _edit(target, lambda p: row(p).update(verdict="INCONCLUSIVE", interval=None))
    code, err = _merge(target, source, capsys)
    assert code == 2 and "INCONCLUSIVE without an interval" in err


def test_a_merge_records_its_source_by_name_and_hash_not_by_path(tmp_path):
    from neuron_repro.cache import sha256_file

    target, source = _pair(tmp_path)
    digest = sha256_file(source / "results.json")
    assert main(["merge", str(source), "--into", str(target), "--only", "label_efficiency"]) == 0
    merged = json.loads((target / "results.json").read_text())["provenance"]["merged"][-1]
    assert merged["from"] == "source" and merged["results_sha256"] == digest
    assert str(tmp_path) not in json.dumps(merged)


def test_a_row_that_cannot_be_rendered_leaves_the_report_as_it_was(tmp_path, monkeypatch):
    from neuron_repro import report as report_module
    from neuron_repro.claims import REGISTRY, SOURCES
    from neuron_repro.merge import merge_reports

    target, source = _pair(tmp_path)
    before = _files(target)

    def broken(*args, **kwargs):
        raise RuntimeError("a renderer that fails")

    monkeypatch.setattr(report_module, "render_markdown", broken)
    with pytest.raises(RuntimeError):
        merge_reports(target, source, ["label_efficiency"], REGISTRY, SOURCES)
    after = _files(target)
    assert after == before


@pytest.fixture(scope="module")
def probe_json(tmp_path_factory):
    """A probe of the planted model on the fixture SST, as `probe --json` writes it."""
    from neuron_repro.paths import FIXTURE_DATA

    folder = tmp_path_factory.mktemp("probe")
    out = folder / "probe.json"
    assert main(["probe", "--model", "planted", "--dataset", "sst", "--data-dir",
                 str(FIXTURE_DATA), "--json", str(out)]) == 0
    texts = folder / "texts.txt"
    texts.write_text("a good film :)\na bad film :(\n")
    return out, texts


@pytest.mark.parametrize("change, message", [
    (None, None),
    (lambda p: p.__setitem__("model_sha256", "0" * 64), "not of --model"),
    (lambda p: p.pop("model_sha256"), "lacks model_sha256"),
    (lambda p: p.__setitem__("sentiment_unit_sign", 0), "not +1 or -1"),
    (lambda p: p.__setitem__("sentiment_unit_sign", 5), "not +1 or -1"),
    (lambda p: p.__setitem__("top_units", [True, False, 7]), "not a list of units"),
    (lambda p: p.__setitem__("sentiment_unit", 10_000), "outside the model's 32"),
])
def test_view_checks_the_probe_it_is_given(tmp_path, capsys, probe_json, change, message):
    source, texts = probe_json
    payload = json.loads(source.read_text())
    if change is not None:
        change(payload)
    edited = tmp_path / "probe.json"
    edited.write_text(json.dumps(payload))
    code = main(["view", "--model", "planted", "--input", str(texts), "--probe-json",
                 str(edited), "--out", str(tmp_path / "page.html")])
    err = capsys.readouterr().err
    if message is None:
        assert code == 0 and (tmp_path / "page.html").is_file()
    else:
        assert code == 2 and message in err and str(edited) in err
        assert not (tmp_path / "page.html").exists()


@pytest.mark.parametrize("record", [{"mr": {"files": "abc"}}, {"mr": "x"},
                                    {"mr": {"files": {"rt-polarity.pos": "not a digest"}}}])
def test_a_damaged_fetch_record_is_named_before_any_request(tmp_path, capsys, record):
    (tmp_path / "fetched.json").write_text(json.dumps(record))
    code = main(["fetch", "mr", "--data-dir", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "fetched.json: mr.files" in err and "fetch again" in err


def test_a_data_root_from_the_environment_that_is_a_file_is_refused(tmp_path, capsys,
                                                                   monkeypatch):
    afile = tmp_path / "data.txt"
    afile.write_text("not a folder")
    monkeypatch.setenv("NEURON_REPRO_DATA", str(afile))
    code = main(["reproduce", "--out", str(tmp_path / "r"), "--quiet", "--only", "sst"])
    err = capsys.readouterr().err
    assert code == 2 and "$NEURON_REPRO_DATA" in err and str(afile) in err
    assert not (tmp_path / "r").exists()


def test_an_unknown_dataset_for_the_engine_is_refused(tmp_path, capsys):
    code = main(["reproduce", "--profile", "fixtures", "--out", str(tmp_path / "r"), "--quiet",
                 "--engine-for", "sst", "bogusdataset"])
    err = capsys.readouterr().err
    assert code == 2 and "--engine-for bogusdataset" in err


def test_a_csv_naming_a_column_twice_is_refused(tmp_path):
    from neuron_repro.data.base import DatasetError
    from neuron_repro.data.csv_splits import read_label_csv

    path = tmp_path / "train.csv"
    path.write_text("label,sentence,sentence\n1,good,bad\n")
    with pytest.raises(DatasetError, match="sentence more than once"):
        read_label_csv(path)
    path.write_text("label,sentence,text\n1,good,bad\n")
    with pytest.raises(DatasetError, match="both 'sentence' and 'text'"):
        read_label_csv(path)


def test_claims_into_a_linked_readme_rewrites_the_file_it_links_to(tmp_path):
    real = tmp_path / "real.md"
    real.write_text("intro\n<!-- claim-table:start -->\nold\n<!-- claim-table:end -->\n")
    link = tmp_path / "link.md"
    link.symlink_to(real)
    assert main(["claims", "--readme", str(link)]) == 0
    assert link.is_symlink() and "\nold\n" not in real.read_text()


def test_a_second_writer_into_a_report_folder_is_refused_and_names_the_first(tmp_path, capsys):
    from neuron_repro.folders import lock_report_folder

    target, source = _pair(tmp_path)
    report = (target / "results.json").read_bytes()
    held = lock_report_folder(target, "--out", "reproduce")
    try:
        code, err = _merge(target, source, capsys)
        assert code == 2 and "is writing there" in err and "pid" in err
        assert (target / "results.json").read_bytes() == report
        done = subprocess.run([sys.executable, "-m", "neuron_repro.cli", "reproduce",
                               "--profile", "fixtures", "--out", str(target), "--quiet",
                               "--only", "sst.one_dominant"],
                              capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
        assert done.returncode == 2 and "is writing there" in done.stderr, done.stderr
        assert (target / "results.json").read_bytes() == report
    finally:
        held.close()
    code, err = _merge(target, source, capsys)  # released: the merge goes ahead
    assert code == 0, err


def test_generate_takes_a_temperature_that_keeps_the_distribution_finite(tmp_path, capsys):
    for temperature in ("5e-324", "1e-4", "1e9"):
        with pytest.raises(SystemExit) as stopped:
            main(["generate", "--model", "planted", "--out", str(tmp_path / "s.json"),
                  "--temperature", temperature])
        assert stopped.value.code == 2 and "--temperature" in capsys.readouterr().err


@pytest.mark.parametrize("options, message", [
    (["--clamp", "7=1e300", "--clamp-state", "both"], "stopped being finite"),
    (["--bytes", "1000000000000"], "draws; at most"),
    (["--n", "1000000000", "--bytes", "200"], "draws; at most"),
])
def test_generate_refuses_what_would_overflow_or_exhaust_memory(tmp_path, capsys, options,
                                                                message):
    out = tmp_path / "samples.json"
    code = main(["generate", "--model", "planted", "--out", str(out), "--bytes", "20",
                 *options])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


def test_a_checkpoint_config_asking_for_more_than_its_weights_is_refused(tmp_path, capsys):
    from neuron_repro.models.planted import planted_mlstm

    folder = tmp_path / "model"
    planted_mlstm().save(folder)
    config = json.loads((folder / "config.json").read_text())
    config["n_units"] = 1_000_000
    (folder / "config.json").write_text(json.dumps(config))
    texts = tmp_path / "texts.txt"
    texts.write_text("a text\n")
    code = main(["features", "--model", str(folder), "--input", str(texts), "--state",
                 "final_c", "--out", str(tmp_path / "f.npy")])
    err = capsys.readouterr().err
    assert code == 2 and "n_units 1000000 needs at least" in err


def test_a_corpus_line_whose_text_is_not_a_string_is_named(tmp_path, capsys):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"text": "a review"}\n{"text": 5}\n')
    code = main(["train-lm", "--corpus", str(corpus), "--units", "8", "--budget-bytes", "100",
                 "--out", str(tmp_path / "lm")])
    err = capsys.readouterr().err
    assert code == 2 and f"{corpus}:2: 'text' is a int" in err


def test_a_folder_dataset_whose_splits_share_texts_says_so(tmp_path, capsys):
    from neuron_repro.paths import FIXTURE_DATA

    folder = tmp_path / "same"
    folder.mkdir()
    rows = "label,sentence\n" + "".join(f"{i % 2},text {i} {':)' if i % 2 else ':('}\n"
                                         for i in range(40))
    for split in ("train", "dev", "test"):
        (folder / f"{split}.csv").write_text(rows)
    out = tmp_path / "probe.json"
    assert main(["probe", "--model", "planted", "--data", str(folder), "--data-dir",
                 str(FIXTURE_DATA), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "40 of the 40 test texts are also train texts" in printed
    assert any("also train texts" in n for n in json.loads(out.read_text())["notes"])


def test_a_disk_that_fills_during_training_is_a_clean_error_and_keeps_the_checkpoint(
        tmp_path, capsys, monkeypatch):
    import safetensors.torch
    from safetensors import SafetensorError

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(4):
        (corpus / f"{i}.txt").write_text(f"review {i} of a film, " * 20)
    out = tmp_path / "lm"
    argv = ["train-lm", "--corpus", str(corpus), "--units", "8", "--batch", "2",
            "--bptt", "8", "--out", str(out)]
    assert main([*argv, "--budget-bytes", "64"]) == 0
    config = (out / "config.json").read_bytes()
    capsys.readouterr()

    def full(*args, **kwargs):
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: '
                              'StorageFull, message: "No space left on device" })')

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    code = main([*argv, "--budget-bytes", "64", "--schedule-bytes", "256", "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and "No space left on device" in err and "Traceback" not in err
    assert ".safetensors" in err  # the file it could not write
    assert (out / "config.json").read_bytes() == config  # the last checkpoint still holds
