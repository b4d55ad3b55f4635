"""Bad input of every kind ends in a correct result or a clear error (exit code 2) that names
the file or option: never a traceback, never exit 0 with a wrong number, never half a file."""

import json
import os
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from neuron_repro.cli import main
from neuron_repro.data.corpus import load_corpus
from neuron_repro.features import extract_features
from neuron_repro.io import StaleCacheWarning
from neuron_repro.models.mlstm import MLSTM, ModelFormatError
from neuron_repro.repro import FIXTURE_DATA
from neuron_repro.train.lm import TRAINER_FILE, LMTrainer, TrainConfig, checkpoint_folder
from tests.helpers import write_openai_weights

SST_DEV = str(FIXTURE_DATA / "sst" / "dev_binary_sent.csv")
TRAIN = dict(n_units=8, batch=2, bptt=8, lr=3e-3, schedule="linear", schedule_bytes=2 * 8 * 6,
             eval_every_minutes=1e9, checkpoint_every_minutes=1e9, eval_bytes=256)
STEP = 2 * 8


def run(argv, capsys):
    """``main(argv)``'s exit code and stderr; argparse's own exits count as codes too."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def strict_json(path):
    def refuse(name):
        raise ValueError(f"{path}: bare {name} is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture
def checkpoint(tmp_path):
    folder = tmp_path / "ckpt"
    MLSTM.random(8, seed=1).save(folder)
    return folder


# ------------------------------------------------------------------ 1. unfilled arrays
@pytest.mark.parametrize("value", ["0", "-1", "-5", "two"])
def test_features_batch_size_below_one_is_refused_at_parse_time(tmp_path, capsys, value):
    code, err = run(["features", "--model", "random:8", "--input", SST_DEV, "--out",
                     tmp_path / "o.npy", "--batch-size", value, "--no-cache"], capsys)
    assert code == 2 and "--batch-size" in err
    assert not (tmp_path / "o.npy").exists()


def test_reproduce_batch_size_below_one_is_refused(tmp_path, capsys):
    code, err = run(["reproduce", "--profile", "t", "--model", "planted", "--only",
                     "radford2017.sst", "--data-dir", FIXTURE_DATA, "--out", tmp_path / "t",
                     "--batch-size", "-1", "--quiet"], capsys)
    assert code == 2 and "--batch-size" in err
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("batch_size", [0, -3, 1.5, True])
def test_the_library_refuses_a_batch_size_below_one_too(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(MLSTM.random(4), ["a", "b"], batch_size=batch_size, progress=False)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 100])
def test_every_row_is_written_whatever_the_batch_size(batch_size):
    model = MLSTM.random(6, seed=2)
    texts = ["a", "bb", "", "a longer text", "xyz", "ünïcode"]
    got = extract_features(model, texts, ("final_c", "mean_c"), batch_size=batch_size,
                           progress=False)
    alone = [extract_features(model, [t], ("final_c", "mean_c"), progress=False)
             for t in texts]
    for kind in ("final_c", "mean_c"):
        assert np.all(np.isfinite(got[kind]))
        np.testing.assert_allclose(got[kind], np.concatenate([a[kind] for a in alone]),
                                   atol=1e-6)


# ------------------------------------------------------------------ 4. data read back
def _cached_run(tmp_path, model, texts):
    return extract_features(model, texts, ("final_c", "max_c"), batch_size=2,
                            cache_dir=tmp_path / "cache", progress=False)


def _batches(tmp_path):
    return sorted((tmp_path / "cache").rglob("batch_*.npz"))


def test_a_truncated_feature_cache_batch_is_recomputed_with_a_warning(tmp_path, checkpoint):
    model, texts = MLSTM.load(checkpoint), ["one", "two words", "three more words", "4"]
    first = _cached_run(tmp_path, model, texts)
    batch = _batches(tmp_path)[0]
    batch.write_bytes(batch.read_bytes()[:100])
    with pytest.warns(StaleCacheWarning, match=batch.name):
        again = _cached_run(tmp_path, model, texts)
    for kind in first:
        np.testing.assert_array_equal(first[kind], again[kind])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # replaced: the third run reads it without a warning
        _cached_run(tmp_path, model, texts)


def test_a_cache_batch_with_the_wrong_rows_is_never_broadcast(tmp_path, checkpoint):
    model, texts = MLSTM.load(checkpoint), ["one", "two words", "three more words", "4"]
    first = _cached_run(tmp_path, model, texts)
    batch = _batches(tmp_path)[0]
    with np.load(batch) as stored:
        arrays = {k: stored[k] for k in stored.files}
    shrunk = {k: (v[:1] if v.ndim == 2 else v) for k, v in arrays.items()}  # one row of two
    np.savez(batch, **shrunk)
    with pytest.warns(StaleCacheWarning, match="shape"):
        again = _cached_run(tmp_path, model, texts)
    for kind in first:
        np.testing.assert_array_equal(first[kind], again[kind])


def test_a_cache_batch_written_under_another_key_is_not_used(tmp_path, checkpoint):
    model = MLSTM.load(checkpoint)
    _cached_run(tmp_path, model, ["aa", "bb"])
    (theirs,) = _batches(tmp_path)
    mine = _cached_run(tmp_path, model, ["cc", "dd"])
    (ours,) = [p for p in _batches(tmp_path) if p != theirs]
    ours.write_bytes(theirs.read_bytes())  # the right shape, but the rows of other texts
    with pytest.warns(StaleCacheWarning, match="another key"):
        got = _cached_run(tmp_path, model, ["cc", "dd"])
    np.testing.assert_array_equal(got["final_c"], mine["final_c"])


@pytest.mark.parametrize("content,message", [
    ("[1, 2]", "JSON list, expected an object"),
    ('{"format": "neuron-repro-mlstm/1", "n_units": 8}', "lacks n_embed, sha256"),
    ('{"format": "neuron-repro-mlstm/1", "n_units": "8", "n_embed": 64, "sha256": "x"}',
     "'n_units' of the checkpoint config is str"),
    ("{not json", "not valid JSON"),
])
def test_a_bad_config_json_is_named(checkpoint, content, message):
    (checkpoint / "config.json").write_text(content)
    with pytest.raises(ModelFormatError, match=message) as err:
        MLSTM.load(checkpoint)
    assert "config.json" in str(err.value)


def _rewrite_weights(folder, data: bytes):
    """Replace the weights and record their sha256, as if the file had been saved so."""
    import hashlib

    (folder / "model.safetensors").write_bytes(data)
    config = json.loads((folder / "config.json").read_text())
    config["sha256"] = hashlib.sha256(data).hexdigest()
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("damage", ["truncated", "not safetensors", "nan", "wrong shape"])
def test_bad_weights_with_a_matching_sha256_are_named(checkpoint, damage):
    weights = checkpoint / "model.safetensors"
    if damage == "truncated":
        data = weights.read_bytes()[:-1000]
    elif damage == "not safetensors":
        data = b"just some text, not a tensor file"
    else:
        tensors = {k: v.clone() for k, v in MLSTM.load(checkpoint).state_dict().items()}
        if damage == "nan":
            tensors["wh"][0, 0] = float("nan")
        else:
            tensors["wh"] = tensors["wh"][:4]
        save_file(tensors, str(weights))
        data = weights.read_bytes()
    _rewrite_weights(checkpoint, data)
    with pytest.raises(ModelFormatError, match="model.safetensors") as err:
        MLSTM.load(checkpoint)
    expected = {"truncated": "truncated or corrupt", "not safetensors": "truncated or corrupt",
                "nan": "not finite", "wrong shape": "shape"}[damage]
    assert expected in str(err.value)


def test_a_nan_weight_in_a_checkpoint_never_gives_features(tmp_path, checkpoint, capsys):
    tensors = {k: v.clone() for k, v in MLSTM.load(checkpoint).state_dict().items()}
    tensors["embed"][3, 1] = float("nan")
    save_file(tensors, str(checkpoint / "model.safetensors"))
    _rewrite_weights(checkpoint, (checkpoint / "model.safetensors").read_bytes())
    code, err = run(["features", "--model", checkpoint, "--input", SST_DEV, "--out",
                     tmp_path / "o.npy", "--no-cache"], capsys)
    assert code == 2 and "not finite" in err and not (tmp_path / "o.npy").exists()


@pytest.mark.parametrize("damage,message", [
    ("npz", "an .npz archive"),
    ("text", "text"),
    ("truncated", "truncated"),
    ("absurd header", "header says shape"),
    ("object", "pickled data"),
    ("wrong 6", "6.npy"),
])
def test_released_format_files_are_named_for_what_they_are(tmp_path, damage, message):
    folder = tmp_path / "w"
    arrays = write_openai_weights(folder, n_units=8, n_embed=4)
    path = folder / ("6.npy" if damage == "wrong 6" else "3.npy")
    if damage == "npz":
        with open(path, "wb") as f:
            np.savez(f, a=arrays[3])
    elif damage == "text":
        path.write_text("0.1 0.2 0.3\n")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-10])
    elif damage == "absurd header":  # a header promising far more than the file holds
        with open(path, "wb") as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 10**9)})
            f.write(arrays[3].tobytes())
    elif damage == "object":
        np.save(path, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    else:
        np.save(path, np.zeros((4, 5), dtype=np.float32))
    with pytest.raises(ModelFormatError, match=message) as err:
        MLSTM.from_openai(folder)
    assert path.name in str(err.value)
    if damage == "wrong 6":  # the file that is wrong is blamed, not the others
        assert "1.npy" not in str(err.value)


# ------------------------------------------------------------------ 5. text input
@pytest.mark.parametrize("content,texts", [
    ("a\u2028b\nc\x85d\ne\x0cf\n", ["a\u2028b", "c\x85d", "e\x0cf"]),
    ("one\r\ntwo\r\n\r\nfour", ["one", "two", "", "four"]),
    ("\ufeffwith a mark\nsecond\n", ["with a mark", "second"]),
])
def test_txt_lines_end_at_newlines_only(tmp_path, content, texts):
    from neuron_repro.data.texts import read_texts

    path = tmp_path / "in.txt"
    path.write_bytes(content.encode("utf-8"))
    assert read_texts(path) == texts


def test_jsonl_may_hold_a_raw_line_separator(tmp_path):
    from neuron_repro.data.texts import read_texts

    path = tmp_path / "in.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "a\xe2\x80\xa8b"}\n{"text": "c"}\n')
    assert read_texts(path) == ["a\u2028b", "c"]


def test_a_csv_row_with_a_missing_field_names_its_line(tmp_path, capsys):
    path = tmp_path / "in.csv"
    path.write_text('label,sentence\n1,"first, quoted"\n0\n1,third\n')
    code, err = run(["features", "--model", "random:4", "--input", path, "--out",
                     tmp_path / "o.npy", "--no-cache"], capsys)
    assert code == 2 and "in.csv:3" in err and "1 fields" in err


def test_input_suffixes_match_whatever_their_case(tmp_path, capsys):
    path = tmp_path / "IN.TXT"
    path.write_text("one\ntwo\n")
    code, _ = run(["features", "--model", "random:4", "--input", path, "--out",
                   tmp_path / "o.npy", "--no-cache"], capsys)
    assert code == 0 and np.load(tmp_path / "o.npy").shape == (2, 4)


def test_a_directory_or_fifo_as_input_is_named_as_such(tmp_path, capsys):
    folder = tmp_path / "dir.txt"
    folder.mkdir()
    code, err = run(["features", "--model", "random:4", "--input", folder, "--out",
                     tmp_path / "o.npy", "--no-cache"], capsys)
    assert code == 2 and "a directory" in err
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    code, err = run(["features", "--model", "random:4", "--input", fifo, "--out",
                     tmp_path / "o.npy", "--no-cache"], capsys)
    assert code == 2 and "FIFO" in err


# ------------------------------------------------------------------ 6. outputs
def test_an_existing_directory_as_out_file_fails_before_any_work(tmp_path, capsys):
    (tmp_path / "o.npy").mkdir()
    code, err = run(["features", "--model", "openai:/nowhere", "--input", SST_DEV, "--out",
                     tmp_path / "o.npy", "--no-cache"], capsys)
    assert code == 2 and "--out" in err and "directory" in err  # not the model's error


def test_an_out_path_under_a_regular_file_fails_before_any_work(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, err = run(["features", "--model", "openai:/nowhere", "--input", SST_DEV, "--out",
                     tmp_path / "file" / "o.npy", "--no-cache"], capsys)
    assert code == 2 and "is a file" in err
    code, err = run(["reproduce", "--model", "planted", "--data-dir", FIXTURE_DATA, "--out",
                     tmp_path / "file" / "report", "--quiet"], capsys)
    assert code == 2 and "is a file" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_an_unwritable_out_folder_fails_before_any_work(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, err = run(["features", "--model", "random:4", "--input", SST_DEV, "--out",
                     locked / "o.npy", "--no-cache"], capsys)
    assert code == 2 and "not writable" in err


@pytest.mark.parametrize("profile", ["../escape", "a/b", "..", ".hidden", ""])
def test_profile_is_a_name_not_a_path(profile, capsys):
    code, err = run(["reproduce", "--profile", profile, "--quiet"], capsys)
    assert code == 2 and "--profile" in err


def test_only_that_matches_nothing_lists_close_matches(tmp_path, capsys):
    code, err = run(["reproduce", "--profile", "fixtures", "--out", tmp_path / "r", "--only",
                     "one_dominant_unti", "--quiet"], capsys)
    assert code == 2 and "matches no claim" in err and "one_dominant_unit" in err


def test_probe_json_holds_no_bare_nan(tmp_path, capsys):
    # an untrained 2-unit model: the dev-chosen C keeps no weight, so there is no unit
    code, err = run(["probe", "--model", "random:2", "--dataset", "sst", "--data-dir",
                     FIXTURE_DATA, "--json", tmp_path / "p.json", "--cache-dir",
                     tmp_path / "cache"], capsys)
    payload = strict_json(tmp_path / "p.json")
    assert code == 0, err
    nulls = [k for k, v in payload.items() if v is None and k != "sentiment_unit"]
    assert nulls, "expected a probe without a unit"
    assert all(f"{k}" in payload["null_values"] for k in nulls)


def test_report_json_holds_no_bare_nan_or_infinity(tmp_path, capsys):
    code, _ = run(["reproduce", "--profile", "fixtures", "--out", tmp_path / "r", "--only",
                   "sst.one_dominant", "--quiet"], capsys)
    payload = strict_json(tmp_path / "r" / "results.json")
    assert code == 0
    row = payload["claims"][0]
    assert row["measured"] is None  # one weight only: the ratio is infinite
    assert "inf" in payload["null_values"]["claims[0].measured"]


def test_a_probe_on_a_tiny_split_warns_and_says_so(tmp_path, capsys):
    folder = tmp_path / "tiny"
    folder.mkdir()
    for split, n in (("train", 40), ("dev", 10), ("test", 1)):
        rows = [f"{i % 2},{'good' if i % 2 else 'bad'} film {i}" for i in range(n)]
        (folder / f"{split}.csv").write_text("label,sentence\n" + "\n".join(rows) + "\n")
    with pytest.warns(UserWarning, match="only 1 test examples"):
        code = main(["probe", "--model", "random:4", "--data", str(folder), "--json",
                     str(tmp_path / "p.json"), "--cache-dir", str(tmp_path / "cache")])
    notes = strict_json(tmp_path / "p.json")["notes"]
    assert code == 0 and any("only 1 test examples" in n for n in notes)
    assert "note: tiny: only 1 test examples" in capsys.readouterr().out


# ------------------------------------------------------------------ 7. nonsense
@pytest.mark.parametrize("argv,option", [
    (["--units", "0"], "--units"), (["--batch", "0"], "--batch"), (["--bptt", "-2"], "--bptt"),
    (["--lr", "0"], "--lr"), (["--lr", "nan"], "--lr"), (["--warmup-bytes", "-1"],
                                                          "--warmup-bytes"),
    (["--schedule-bytes", "0"], "--schedule-bytes"),
])
def test_train_lm_nonsense_sizes_are_refused(tmp_path, capsys, corpus_dir, argv, option):
    code, err = run(["train-lm", "--corpus", corpus_dir, "--budget-bytes", "64", "--out",
                     tmp_path / "o", *argv], capsys)
    assert code == 2 and option in err and not (tmp_path / "o").exists()


def test_budget_bytes_zero_blames_the_budget(tmp_path, capsys, corpus_dir):
    code, err = run(["train-lm", "--corpus", corpus_dir, "--budget-bytes", "0", "--out",
                     tmp_path / "o"], capsys)
    last = err.strip().splitlines()[-1]
    assert code == 2 and "--budget-bytes" in last and "schedule" not in last


@pytest.mark.parametrize("spec", ["random:0", "random:-3", "random:8:-1", "random:x",
                                  "random:8:1:2"])
def test_random_model_specs_out_of_range_are_refused(tmp_path, capsys, spec):
    code, err = run(["features", "--model", spec, "--input", SST_DEV, "--out",
                     tmp_path / "o.npy", "--no-cache"], capsys)
    assert code == 2 and "random:N_UNITS" in err or "at least 1" in err


def test_a_diverging_training_run_stops_with_a_clear_error(tmp_path, corpus_dir):
    from neuron_repro.train import TrainingDiverged

    cfg = TrainConfig(**{**TRAIN, "lr": 100.0, "schedule": "constant", "clip": 1e9,
                         "eval_every_minutes": 0.0})
    trainer = LMTrainer(tmp_path / "o", load_corpus(str(corpus_dir)), cfg, progress=False)
    with pytest.raises(TrainingDiverged, match="diverged at step 1"):
        trainer.train(budget_bytes=10 * STEP)
    record = json.loads((checkpoint_folder(tmp_path / "o") / TRAINER_FILE).read_text())
    assert record["step"] == 0  # the diverged weights were never saved
    assert all(p["held_out_bpb"] < 16 for p in record["curve"])


# ------------------------------------------------------------------ 3. resume
def _train(argv, capsys, corpus_dir, out, *extra):
    return run(["train-lm", "--corpus", corpus_dir, "--out", out, *argv, *extra], capsys)


def test_resuming_a_finished_schedule_is_refused_until_it_is_extended(tmp_path, capsys,
                                                                       corpus_dir):
    out = tmp_path / "o"
    common = ["--units", "8", "--batch", "2", "--bptt", "8", "--eval-every-minutes", "1000"]
    assert _train(["--budget-bytes", 4 * STEP, *common], capsys, corpus_dir, out)[0] == 0
    code, err = _train(["--budget-bytes", 2 * STEP, "--resume"], capsys, corpus_dir, out)
    assert code == 2 and "--schedule-bytes" in err and "learning rate 0" in err
    code, err = _train(["--budget-bytes", 2 * STEP, "--resume", "--schedule-bytes", 3 * STEP],
                       capsys, corpus_dir, out)
    assert code == 2 and "not past" in err
    code, err = _train(["--budget-bytes", 2 * STEP, "--resume", "--schedule-bytes", 6 * STEP],
                       capsys, corpus_dir, out)
    assert code == 0, err
    record = json.loads((checkpoint_folder(out) / TRAINER_FILE).read_text())
    assert record["step"] == 6 and record["config"]["schedule_bytes"] == 6 * STEP
    assert any("schedule_bytes set to 96" in n for n in record["notes"])
    assert "schedule_bytes set to 96" in (tmp_path / "o.md").read_text()


@pytest.mark.parametrize("flag,value", [("--lr", "0.5"), ("--units", "16"), ("--batch", "4"),
                                        ("--bptt", "4"), ("--schedule", "constant"),
                                        ("--seed", "3"), ("--clip", "2")])
def test_resume_refuses_options_that_differ_from_the_run(tmp_path, capsys, corpus_dir, flag,
                                                         value):
    out = tmp_path / "o"
    common = ["--units", "8", "--batch", "2", "--bptt", "8", "--schedule-bytes", 10 * STEP,
              "--lr", "0.001", "--seed", "0"]
    assert _train(["--budget-bytes", STEP, *common], capsys, corpus_dir, out)[0] == 0
    code, err = _train(["--budget-bytes", STEP, "--resume", flag, value], capsys, corpus_dir,
                       out)
    assert code == 2 and flag in err and "keeps the settings" in err
    # the same values as the run's are accepted
    code, err = _train(["--budget-bytes", STEP, "--resume", *common], capsys, corpus_dir, out)
    assert code == 0, err


def test_a_second_run_into_a_locked_folder_is_refused(tmp_path, capsys, corpus_dir):
    out = tmp_path / "o"
    holder = LMTrainer(out, load_corpus(str(corpus_dir)), TrainConfig(**TRAIN), progress=False)
    code, err = _train(["--budget-bytes", STEP, "--resume"], capsys, corpus_dir, out)
    assert code == 2 and "another train-lm run" in err and f"pid {os.getpid()}" in err
    holder.train(budget_bytes=STEP)  # releases the lock
    code, err = _train(["--budget-bytes", STEP, "--resume"], capsys, corpus_dir, out)
    assert code == 0, err


def test_train_lm_into_a_folder_with_a_run_needs_resume(tmp_path, capsys, corpus_dir):
    out = tmp_path / "o"
    args = ["--budget-bytes", STEP, "--units", "8", "--batch", "2", "--bptt", "8"]
    assert _train(args, capsys, corpus_dir, out)[0] == 0
    code, err = _train(args, capsys, corpus_dir, out)
    assert code == 2 and "--resume" in err
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    code, err = _train(args, capsys, corpus_dir, other)
    assert code == 2 and "notes.txt" in err and (other / "notes.txt").read_text() == "mine"
    code, err = _train(["--budget-bytes", STEP, "--resume"], capsys, corpus_dir,
                       tmp_path / "empty")
    assert code == 2 and "no checkpoint to resume" in err


@pytest.mark.parametrize("damage,message", [
    ("missing key", "lacks bytes_seen"),
    ("extra key", "unknown fields surprise"),
    ("config key", "its config lacks"),
    ("units", "configured for 16 units"),
    ("curve", "curve[0] is not a point"),
    ("session", "sessions[0] is not a training session"),
    ("corpus", "corpus.train_bytes is not a int"),
    ("notes", "notes are not all text"),
])
def test_a_bad_trainer_json_is_named(tmp_path, capsys, corpus_dir, damage, message):
    out = tmp_path / "o"
    LMTrainer(out, load_corpus(str(corpus_dir)), TrainConfig(**TRAIN),
              progress=False).train(budget_bytes=STEP)
    path = checkpoint_folder(out) / TRAINER_FILE
    record = json.loads(path.read_text())
    if damage == "missing key":
        del record["bytes_seen"]
    elif damage == "extra key":
        record["surprise"] = 1
    elif damage == "config key":
        del record["config"]["lr"]
    elif damage == "curve":
        record["curve"] = ["x"]
    elif damage == "session":
        record["sessions"][0]["seconds"] = "long"
    elif damage == "corpus":
        record["corpus"]["train_bytes"] = "many"
    elif damage == "notes":
        record["notes"] = [3]
    else:
        record["config"]["n_units"] = 16
    path.write_text(json.dumps(record))
    code, err = _train(["--budget-bytes", STEP, "--resume"], capsys, corpus_dir, out)
    assert code == 2 and message in err and TRAINER_FILE in err
    if damage in ("curve", "session", "corpus", "notes"):  # the card reads the same record
        code, err = run(["model-card", out], capsys)
        assert code == 2 and message in err


# ------------------------------------------------------------------ 8. tracebacks
def test_claims_report_that_is_missing_or_empty(tmp_path, capsys):
    code, err = run(["claims", "--report", tmp_path / "nothing.json"], capsys)
    assert code == 2 and "nothing.json" in err
    (tmp_path / "empty.json").write_text("{}")
    code, err = run(["claims", "--report", tmp_path / "empty.json"], capsys)
    assert code == 2 and "empty.json" in err and "lacks provenance, claims" in err


def test_cache_dir_that_is_a_file(tmp_path, capsys):
    (tmp_path / "cache").write_text("x")
    code, err = run(["features", "--model", "random:4", "--input", SST_DEV, "--out",
                     tmp_path / "o.npy", "--cache-dir", tmp_path / "cache"], capsys)
    assert code == 2 and "--cache-dir" in err
    code, err = run(["reproduce", "--model", "random:4", "--data-dir", FIXTURE_DATA, "--out",
                     tmp_path / "r", "--cache-dir", tmp_path / "cache", "--quiet"], capsys)
    assert code == 2 and "--cache-dir" in err


def test_model_card_on_a_trainer_json_without_corpus(tmp_path, capsys, corpus_dir):
    out = tmp_path / "o"
    LMTrainer(out, load_corpus(str(corpus_dir)), TrainConfig(**TRAIN),
              progress=False).train(budget_bytes=STEP)
    path = checkpoint_folder(out) / TRAINER_FILE
    record = json.loads(path.read_text())
    del record["corpus"]
    path.write_text(json.dumps(record))
    code, err = run(["model-card", out], capsys)
    assert code == 2 and "lacks corpus" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("command", ["features", "reproduce", "train-lm"])
def test_device_cuda_without_cuda(tmp_path, capsys, corpus_dir, command):
    argv = {"features": ["features", "--model", "random:4", "--input", SST_DEV, "--out",
                         tmp_path / "o.npy"],
            "reproduce": ["reproduce", "--model", "planted", "--data-dir", FIXTURE_DATA,
                          "--out", tmp_path / "r", "--quiet"],
            "train-lm": ["train-lm", "--corpus", corpus_dir, "--budget-bytes", "64", "--out",
                         tmp_path / "t"]}[command]
    code, err = run([*argv, "--device", "cuda"], capsys)
    assert code == 2 and "CUDA is not available" in err
    code, err = run([*argv, "--device", "tpu"], capsys)
    assert code == 2 and "use cpu, cuda or cuda:N" in err


def test_a_failed_download_says_where_it_looked_and_how_to_pass_the_file(monkeypatch):
    import urllib.error
    import urllib.request

    from neuron_repro.data import default_data_root, load_dataset

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(Exception, match="downloading https://") as err:
        load_dataset("sst", default_data_root())
    text = str(err.value)
    assert "no network" in text and "--data-dir" in text
    assert str(default_data_root() / "sst") in text
    assert not any((default_data_root() / "sst").glob("*"))  # nothing half-written
