import json

import numpy as np
import pytest

from neuron_repro.cli import claim_table, main, read_texts
from neuron_repro.repro import FIXTURE_DATA
from tests.helpers import write_openai_weights


@pytest.fixture
def released(tmp_path):
    write_openai_weights(tmp_path / "w", n_units=12, n_embed=8)
    return f"openai:{tmp_path / 'w'}"


@pytest.mark.parametrize("name,content", [
    ("in.txt", "first line\n\nthird &amp; last\n"),
    ("in.jsonl", '{"text": "first line"}\n{"text": ""}\n{"text": "third &amp; last"}\n'),
    ("in.csv", 'label,sentence\n1,first line\n0,\n1,"third &amp; last"\n'),
])
def test_features_command_writes_float32(tmp_path, released, name, content):
    (tmp_path / name).write_text(content)
    out = tmp_path / "X.npy"
    code = main(["features", "--model", released, "--input", str(tmp_path / name),
                 "--state", "final_c,mean_c", "--out", str(out), "--cache-dir",
                 str(tmp_path / "cache")])
    assert code == 0
    X = np.load(out, allow_pickle=False)
    assert X.shape == (3, 24) and X.dtype == np.float32


@pytest.mark.parametrize("content,message", [
    ('{"text": 1}\n', "string 'text'"), ("not json\n", "in.jsonl:1"),
])
def test_bad_jsonl_names_file_and_line(tmp_path, content, message):
    (tmp_path / "in.jsonl").write_text(content)
    with pytest.raises(Exception, match=message):
        read_texts(tmp_path / "in.jsonl")


def test_features_bad_input_exits_2_without_output(tmp_path, released, capsys):
    (tmp_path / "in.txt").write_bytes(b"ok\ncaf\xe9\n")
    out = tmp_path / "X.npy"
    code = main(["features", "--model", released, "--input", str(tmp_path / "in.txt"),
                 "--out", str(out), "--no-cache"])
    assert code == 2 and not out.exists()
    assert "in.txt" in capsys.readouterr().err


def test_probe_command_json(tmp_path):
    out = tmp_path / "sst.json"
    code = main(["probe", "--model", "planted", "--dataset", "sst", "--data-dir",
                 str(FIXTURE_DATA), "--json", str(out), "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    result = json.loads(out.read_text())
    for key in ("test_accuracy", "C", "n_nonzero", "sentiment_unit", "sentiment_unit_sign",
                "sentiment_unit_accuracy", "sentiment_unit_deleted_accuracy",
                "zero_shot_accuracy"):
        assert key in result
    assert result["sentiment_unit"] == 7 and result["sentiment_unit_sign"] == -1


def test_probe_on_a_folder(tmp_path):
    for split in ("train", "dev", "test"):
        src = (FIXTURE_DATA / "sst" / f"{split}_binary_sent.csv").read_text()
        (tmp_path / "d").mkdir(exist_ok=True)
        (tmp_path / "d" / f"{split}.csv").write_text(src)
    code = main(["probe", "--model", "planted", "--data", str(tmp_path / "d"),
                 "--json", str(tmp_path / "out.json")])
    assert code == 0 and json.loads((tmp_path / "out.json").read_text())["test_accuracy"] == 100.0


def test_reproduce_command_on_fixtures(tmp_path, capsys):
    code = main(["reproduce", "--profile", "fixtures", "--out", str(tmp_path), "--quiet",
                 "--only", "sst"])
    assert code == 0
    assert (tmp_path / "REPORT.md").is_file() and (tmp_path / "results.json").is_file()
    assert "PASS" in capsys.readouterr().out


def test_unknown_dataset_is_a_clear_error(tmp_path, capsys):
    code = main(["probe", "--model", "planted", "--dataset", "nope", "--json",
                 str(tmp_path / "o.json")])
    assert code == 2 and "registered" in capsys.readouterr().err


def test_claims_table_into_readme(tmp_path):
    report = tmp_path / "rep"
    assert main(["reproduce", "--profile", "fixtures", "--out", str(report), "--quiet",
                 "--only", "sst.one_dominant"]) == 0
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- claim-table:start -->\nold\n<!-- claim-table:end -->\nend\n")
    assert main(["claims", "--report", str(report / "results.json"), "--readme",
                 str(readme)]) == 0
    text = readme.read_text()
    assert "\nold\n" not in text and text.startswith("intro\n") and text.endswith("end\n")
    row = next(line for line in text.splitlines() if "sst.one_dominant_unit" in line)
    assert "PASS" in row and "inf" in row


def test_claims_table_takes_each_row_from_the_first_report_that_ran_it(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["reproduce", "--profile", "fixtures", "--out", str(first), "--quiet",
                 "--only", "radford2017.sst", "--skip", "one_dominant"]) == 0
    assert main(["reproduce", "--profile", "fixtures", "--out", str(second), "--quiet",
                 "--only", "one_dominant", "zero_shot"]) == 0
    table = claim_table([str(first / "results.json"), str(second / "results.json")])
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in table.splitlines() if line.startswith("| `")}
    # the columns end with verdict, reason (its number in the list below) and report
    dominant = rows["`radford2017.sst.one_dominant_unit`"]
    assert dominant[-3] == "PASS" and dominant[-1] == "2"
    reason = int(dominant[-2].strip("()"))
    assert f"\n{reason}. weight_ratio = inf" in table
    assert rows["`radford2017.sst.full_features`"][-1] == "1"
    assert rows["`chada2017.yelp.zero_shot`"][-1] == "2"
    assert rows["`donnelly2019.random100`"][-3:] == ["not in report", "", "-"]
    assert "1. `" in table and "2. `" in table


def test_claims_table_passes_over_rows_whose_experiment_was_not_built(tmp_path):
    """A reference report written before a source's experiments existed does not hide the
    later report that measured them."""
    from neuron_repro.verdicts import NOT_IMPLEMENTED

    older, newer = tmp_path / "older", tmp_path / "newer"
    for out in (older, newer):
        assert main(["reproduce", "--profile", "fixtures", "--out", str(out), "--quiet",
                     "--only", "one_dominant"]) == 0
    payload = json.loads((older / "results.json").read_text())
    for row in payload["claims"]:
        row.update(verdict="NOT RUN", measured=None, reason=NOT_IMPLEMENTED,
                   reason_code="not_implemented")
    (older / "results.json").write_text(json.dumps(payload))
    table = claim_table([str(older / "results.json"), str(newer / "results.json")])
    row = next(line for line in table.splitlines() if "sst.one_dominant_unit" in line)
    assert "PASS" in row and row.rstrip(" |").endswith("2")


def test_skipped_claims_keep_their_rows(tmp_path):
    assert main(["reproduce", "--profile", "fixtures", "--out", str(tmp_path), "--quiet",
                 "--only", "radford2017.sst", "--skip", "one_dominant",
                 "--skip-reason", "too slow here"]) == 0
    rows = {r["id"]: r for r in json.loads((tmp_path / "results.json").read_text())["claims"]}
    skipped = rows["radford2017.sst.one_dominant_unit"]
    assert skipped["verdict"] == "NOT RUN" and skipped["reason"].startswith("skipped in this run")
    assert "too slow here" in skipped["reason"]


def test_control_only_runs_the_control_where_asked(tmp_path):
    assert main(["reproduce", "--profile", "fixtures", "--out", str(tmp_path), "--quiet",
                 "--only", "radford2017.sst.full", "radford2017.sst.one_dominant",
                 "--control", "random:32", "--control-only", "one_dominant"]) == 0
    payload = json.loads((tmp_path / "results.json").read_text())
    rows = {r["id"]: r for r in payload["claims"]}
    assert rows["radford2017.sst.one_dominant_unit"]["control"] is not None
    assert rows["radford2017.sst.full_features"]["control"] is None
    assert payload["provenance"]["control_claims"] == ["one_dominant"]
    assert "1 of the 2 claims have its row" in " ".join(
        (tmp_path / "REPORT.md").read_text().split())


def test_rows_solved_by_the_engine_say_so(tmp_path):
    out = tmp_path / "report"
    assert main(["reproduce", "--model", "planted", "--data-dir", str(FIXTURE_DATA), "--only",
                 "radford2017.cr", "radford2017.mr", "--engine-for", "mr", "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache"), "--quiet", "--control", "none"]) == 0
    payload = json.loads((out / "results.json").read_text())
    rows = {r["id"]: r for r in payload["claims"]}
    assert payload["provenance"]["probe_solver"] == "liblinear; engine for mr"
    mr = [r for i, r in rows.items() if ".mr" in i]
    cr = [r for i, r in rows.items() if ".cr" in i]
    assert mr and cr
    assert all("solved by the batched engine" in r["reason"] for r in mr)
    assert all("engine" not in r["reason"] for r in cr)
    assert all(r["details"]["solver"] == "engine" for r in mr if "solver" in r["details"])


def test_the_cpu_is_named_by_its_model_where_the_kernel_says_it(tmp_path):
    from neuron_repro.provenance import cpu_model

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n")
    assert cpu_model(info).startswith("AMD EPYC 7B13, ")
    info.write_text("processor\t: 0\n")  # no model name (some ARM kernels): platform's answer
    assert cpu_model(info) and "model" not in cpu_model(info)
    assert cpu_model(tmp_path / "absent") == cpu_model(info)
