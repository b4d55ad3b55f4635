import json
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from neuron_repro.data import DatasetError
from neuron_repro.data.corpus import load_corpus
from neuron_repro.models.mlstm import MLSTM, ModelFormatError
from neuron_repro.repro import FIXTURE_DATA
from neuron_repro.train.card import write_model_card
from neuron_repro.train.lm import (
    TRAINER_FILE,
    LMTrainer,
    TrainConfig,
    checkpoint_folder,
    stream_windows,
)
from tests.train_workers import ddp_worker

CFG = dict(n_units=16, batch=4, bptt=8, lr=3e-3, schedule="linear", schedule_bytes=4 * 8 * 12,
           eval_every_minutes=1e9, checkpoint_every_minutes=1e9, eval_bytes=512)
STEP = 4 * 8


def _trainer(folder):
    return json.loads((checkpoint_folder(folder) / TRAINER_FILE).read_text())


def _weights(path):
    return {k: v.clone() for k, v in MLSTM.load(path).state_dict().items()}


def test_interrupted_and_resumed_run_reaches_the_same_weights(corpus_dir, tmp_path):
    corpus = load_corpus(str(corpus_dir))
    LMTrainer(tmp_path / "a", corpus, TrainConfig(**CFG), progress=False).train(
        budget_bytes=12 * STEP)
    LMTrainer(tmp_path / "b", corpus, TrainConfig(**CFG), progress=False).train(
        budget_bytes=5 * STEP)
    resumed = LMTrainer(tmp_path / "b", corpus, resume=True, progress=False)
    assert resumed.state.step == 5
    resumed.train(budget_bytes=7 * STEP)
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)
    trainer = _trainer(tmp_path / "b")
    assert trainer["step"] == 12 and trainer["bytes_seen"] == 12 * STEP
    assert len(trainer["sessions"]) == 2


def test_training_lowers_held_out_bits_and_writes_a_card(corpus_dir, tmp_path):
    corpus = load_corpus(str(corpus_dir))
    cfg = {**CFG, "schedule": "constant", "n_units": 32}
    state = LMTrainer(tmp_path / "m", corpus, TrainConfig(**cfg), progress=False).train(
        budget_bytes=60 * STEP)
    assert state.curve[-1]["held_out_bpb"] < state.curve[0]["held_out_bpb"] - 1.0
    card = write_model_card(tmp_path / "m")
    text = card.read_text()
    assert card == tmp_path / "m.md"
    for field in ("weights sha256", "untrained control sha256", "corpus source sha256",
                  "bytes seen", "held-out bits per byte", "seed"):
        assert field in text
    control = MLSTM.load(tmp_path / "m" / "initial")
    assert control.sha256 != MLSTM.load(tmp_path / "m").sha256
    torch.testing.assert_close(control.embed, MLSTM.random(32, seed=0).embed)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one(corpus_dir, tmp_path):
    """DistributedDataParallel over gloo: 2 processes x 2 streams == 1 process x 4 streams."""
    budget = 6 * STEP
    mp.spawn(ddp_worker, args=(2, _free_port(), str(corpus_dir), str(tmp_path / "ddp"), CFG,
                               budget), nprocs=2, join=True)
    LMTrainer(tmp_path / "one", load_corpus(str(corpus_dir)), TrainConfig(**CFG),
              progress=False).train(budget_bytes=budget)
    a, b = _weights(tmp_path / "ddp"), _weights(tmp_path / "one")
    # Adam divides by the gradient's scale, so float rounding of a near-zero gradient can move
    # a weight by a small fraction of lr (3e-3); a wrong split of the streams moves it by ~lr.
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-4)
    state = _trainer(tmp_path / "ddp")
    assert state["sessions"][0]["processes"] == 2 and state["step"] == 6


def test_linear_schedule_and_warmup():
    cfg = TrainConfig(lr=1.0, schedule="linear", schedule_bytes=1000, warmup_bytes=100)
    assert cfg.learning_rate(49) == pytest.approx(0.5 * 0.951)
    assert cfg.learning_rate(500) == pytest.approx(0.5)
    assert cfg.learning_rate(2000) == 0.0
    with pytest.raises(ValueError, match="schedule_bytes"):
        TrainConfig(schedule="linear", schedule_bytes=0).learning_rate(0)


def test_streams_cover_the_text_in_order():
    data = np.arange(100, dtype=np.uint8)
    streams, windows = stream_windows(data, batch=4, bptt=5)
    assert streams.shape == (4, 25) and windows == 4
    assert list(streams[1, :3]) == [25, 26, 27]


def test_imdb_lm_reads_train_and_unsup_but_never_test():
    corpus = load_corpus("imdb-lm", FIXTURE_DATA)
    assert corpus.n_texts == 50  # 20 pos + 20 neg + 10 unsup
    from neuron_repro.data import load_dataset
    test_texts = load_dataset("imdb", FIXTURE_DATA).splits["test"].texts
    text = (corpus.train.tobytes() + corpus.held_out.tobytes()).decode()
    assert not any(t in text for t in test_texts)


def test_held_out_texts_are_not_trained_on(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"text": f"text number {i:03d}"}) + "\n"
                            for i in range(300)))
    corpus = load_corpus(str(path))
    held = corpus.held_out.tobytes().decode().split("\n ")
    train = corpus.train.tobytes().decode()
    assert len([h for h in held if h.strip()]) == 3
    assert not any(h.strip() and h.strip() in train for h in held)


def test_bad_corpus_and_resume_errors(corpus_dir, tmp_path):
    with pytest.raises(DatasetError, match="corpus"):
        load_corpus(str(tmp_path / "missing.txt"))
    corpus = load_corpus(str(corpus_dir))
    LMTrainer(tmp_path / "r", corpus, TrainConfig(**CFG), progress=False).train(budget_bytes=STEP)
    with pytest.raises(ValueError, match="--resume"):
        LMTrainer(tmp_path / "r", corpus, TrainConfig(**CFG))
    other = tmp_path / "other"
    other.mkdir()
    for i in range(3):
        (other / f"{i}.txt").write_text("something else entirely " * 30)
    with pytest.raises(ModelFormatError, match="same corpus"):
        LMTrainer(tmp_path / "r", load_corpus(str(other)), resume=True)
    trainer = _trainer(tmp_path / "r")
    trainer["step"] += 1  # files of two different steps in one checkpoint
    (checkpoint_folder(tmp_path / "r") / TRAINER_FILE).write_text(json.dumps(trainer))
    with pytest.raises(ModelFormatError, match="different steps"):
        LMTrainer(tmp_path / "r", corpus, resume=True)


def test_model_card_command_appends_a_note(corpus_dir, tmp_path):
    from neuron_repro.cli import main

    LMTrainer(tmp_path / "m", load_corpus(str(corpus_dir)), TrainConfig(**CFG),
              progress=False).train(budget_bytes=STEP)
    assert main(["model-card", str(tmp_path / "m"), "--note", "size chosen for the CPU"]) == 0
    assert "- size chosen for the CPU" in (tmp_path / "m.md").read_text()
    assert main(["model-card", str(tmp_path / "nothing")]) == 2


def test_a_checkpoint_of_the_older_flat_layout_resumes_and_is_replaced(corpus_dir, tmp_path):
    """Checkpoints written before each had a folder of its own (the committed reference model)
    keep every file in the run's folder; they resume, and the first new checkpoint replaces
    them."""
    import shutil

    corpus = load_corpus(str(corpus_dir))
    LMTrainer(tmp_path / "a", corpus, TrainConfig(**CFG), progress=False).train(
        budget_bytes=12 * STEP)
    flat = tmp_path / "flat"
    LMTrainer(flat, corpus, TrainConfig(**CFG), progress=False).train(budget_bytes=5 * STEP)
    current = checkpoint_folder(flat)
    for f in current.iterdir():
        shutil.move(str(f), flat / f.name)
    shutil.rmtree(flat / "checkpoints")
    config = json.loads((flat / "config.json").read_text())
    del config["checkpoint"]
    (flat / "config.json").write_text(json.dumps(config))
    assert checkpoint_folder(flat) == flat and MLSTM.load(flat).n_units == CFG["n_units"]
    LMTrainer(flat, corpus, resume=True, progress=False).train(budget_bytes=7 * STEP)
    a, b = _weights(tmp_path / "a"), _weights(flat)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)
    assert sorted(p.name for p in flat.iterdir()) == [".lock", "checkpoints", "config.json",
                                                      "initial"]
