"""The experiment registry: one name per experiment, family settings set with --set, and a
run given as a TOML file."""

import json

import pytest

from neuron_repro.claims import REGISTRY
from neuron_repro.cli import main
from neuron_repro.experiments import EXPERIMENTS, FAMILIES, fixture_expected
from neuron_repro.experiments.registry import default_settings, experiment, settings_with


def test_every_claim_names_a_registered_experiment_and_every_planted_answer_a_claim():
    ids = {c.id for c in REGISTRY}
    assert {c.experiment for c in REGISTRY if c.experiment} <= set(EXPERIMENTS)
    assert set(fixture_expected()) <= ids
    assert {"ner", "lopes"} <= {name for name, f in FAMILIES.items() if f.settings is not None}


def test_an_experiment_name_is_registered_once():
    with pytest.raises(ValueError, match="registered twice"):
        experiment("probe")(lambda ctx, claim: None)


def test_settings_are_read_as_their_declared_types():
    settings = settings_with(default_settings(False), {
        "ner.seeds": "3", "ner.baseline_minutes": "2.5", "ner.glove": "g.txt",
        "lopes.config.epochs": "2", "lopes.data_root": "none"})
    assert settings["ner"].seeds == 3 and settings["ner"].baseline_minutes == 2.5
    assert settings["ner"].glove == "g.txt" and settings["lopes"].config.epochs == 2
    assert settings["lopes"].data_root is None
    assert default_settings(False)["ner"].seeds == 5  # the defaults are left as they were
    assert default_settings(True)["ner"].analysis_epochs == 6  # the fixtures' own


@pytest.mark.parametrize("key, value, message", [
    ("nope.seeds", "3", "no family 'nope'"),
    ("ner.sedes", "3", "no option 'sedes'"),
    ("ner.seeds", "three", "expected a value of type int"),
    ("ner.seeds", "0", "at least 1"),
    ("ner.baseline_minutes", "nan", "type float"),
    ("lopes.config.epochs", "-1", "at least 1"),
    ("ner", "3", "name an option"),
])
def test_a_bad_setting_is_named(key, value, message):
    with pytest.raises(ValueError, match=message):
        settings_with(default_settings(False), {key: value})


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr()


def test_set_on_the_command_line_and_its_errors(tmp_path, capsys):
    code, out = _run(["reproduce", "--profile", "fixtures", "--out", tmp_path / "r", "--quiet",
                      "--only", "per_tag_accuracy", "--set", "ner.seeds=2"], capsys)
    assert code == 0
    provenance = json.loads((tmp_path / "r" / "results.json").read_text())["provenance"]
    assert provenance["settings"]["ner"]["seeds"] == 2
    code, out = _run(["reproduce", "--profile", "fixtures", "--out", tmp_path / "s", "--quiet",
                      "--set", "ner.seeds"], capsys)
    assert code == 2 and "FAMILY.OPTION=VALUE" in out.err
    assert not (tmp_path / "s" / "results.json").exists()


def test_a_run_given_as_a_toml_file(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('profile = "fixtures"\nquiet = true\nonly = ["sst.one_dominant"]\n'
                      f'out = "{(tmp_path / "from-file").as_posix()}"\n'
                      "[set]\nner.seeds = 7\n")
    code, _ = _run(["reproduce", "--config", config], capsys)
    assert code == 0
    payload = json.loads((tmp_path / "from-file" / "results.json").read_text())
    assert [r["id"] for r in payload["claims"]] == ["radford2017.sst.one_dominant_unit"]
    assert payload["provenance"]["settings"]["ner"]["seeds"] == 7
    # the command line wins over the file
    code, _ = _run(["reproduce", "--config", config, "--out", tmp_path / "cli",
                    "--set", "ner.seeds=3"], capsys)
    assert code == 0
    payload = json.loads((tmp_path / "cli" / "results.json").read_text())
    assert payload["provenance"]["settings"]["ner"]["seeds"] == 3


@pytest.mark.parametrize("text, message", [
    ("profiel = 'x'\n", "no option 'profiel'"),
    ("only = 'sst'\n", "only must be a list"),
    ("quiet = 'yes'\n", "quiet must be true or false"),
    ("set = 3\n", "must be a table"),
    ("profile = \n", "not a TOML file"),
    ("jobs = 'many'\n", "jobs"),
])
def test_a_bad_config_file_is_named(tmp_path, capsys, text, message):
    config = tmp_path / "run.toml"
    config.write_text(text)
    with pytest.raises(SystemExit) if message == "jobs" else _no_exit():
        code, out = _run(["reproduce", "--config", config, "--out", tmp_path / "r"], capsys)
        assert code == 2 and message in out.err and str(config) in out.err


class _no_exit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_settings_command_lists_the_options(capsys):
    code, out = _run(["settings"], capsys)
    assert code == 0 and "ner.seeds = 5" in out.out and "lopes.config.epochs = 5" in out.out
