"""Killed at any instant, a run loses at most the work since its last checkpoint or cache
entry: training resumes to the very weights of an uninterrupted run, and a reproduction
started again writes the same report."""

import json
import random
import signal
import subprocess
import sys
import time

import torch

from neuron_repro.data.corpus import load_corpus
from neuron_repro.models.mlstm import MLSTM
from neuron_repro.repro import FIXTURE_DATA, REPO_ROOT
from neuron_repro.train.lm import LMTrainer, TrainConfig

UNITS, BATCH, BPTT, STEPS = 8, 2, 8, 1000
TOTAL = STEPS * BATCH * BPTT


def _cli(*argv) -> list[str]:
    return [sys.executable, "-m", "neuron_repro.cli", *[str(a) for a in argv]]


def _killed_after(command: list[str], seconds: float, ready=lambda: True) -> int | None:
    """Run ``command``; once ``ready()`` holds (it has started its work, however loaded the
    machine is), SIGKILL it ``seconds`` later unless it ended. Its exit code, or None."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not ready() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        process.wait(timeout=seconds)
        if process.returncode != 0:
            raise AssertionError(process.stderr.read().decode())
        return process.returncode
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return None
    finally:
        process.stderr.close()


def _rewritten(path):
    """A test of whether ``path`` has been written since now (created, or replaced)."""
    def text():
        try:
            return path.read_text()
        except FileNotFoundError:
            return None
    before = text()
    return lambda: text() not in (None, before)


def test_training_killed_at_random_instants_resumes_to_the_same_weights(tmp_path, corpus_dir):
    out, rng = tmp_path / "run", random.Random(0)
    settings = ["--units", UNITS, "--batch", BATCH, "--bptt", BPTT, "--schedule-bytes", TOTAL,
                "--lr", "0.003", "--eval-every-minutes", "1000"]
    kills = resumes = 0
    config = out / "config.json"
    for _ in range(40):
        seen = json.loads(config.read_text())["training"]["bytes_seen"] if config.exists() else 0
        if seen == TOTAL:
            break
        if config.exists():
            resumes += 1
            argv = ["--resume", "--budget-bytes", TOTAL - seen]
        else:
            argv = [*settings, "--budget-bytes", TOTAL]
        # a checkpoint every step, so that most kills land while one is being written
        command = _cli("train-lm", "--corpus", corpus_dir, "--out", out,
                       "--checkpoint-every-minutes", "0", *argv)
        # killed at a random instant of its training, once it has written a checkpoint of
        # its own (it writes one at every step)
        killed = _killed_after(command, rng.uniform(0.0, 0.3) if kills < 8 else 600,
                               ready=_rewritten(config))
        kills += killed is None
    assert kills == 8 and resumes >= 8
    reference = tmp_path / "reference"
    cfg = TrainConfig(n_units=UNITS, batch=BATCH, bptt=BPTT, lr=0.003, schedule="linear",
                      schedule_bytes=TOTAL, eval_every_minutes=1000,
                      checkpoint_every_minutes=1000)
    LMTrainer(reference, load_corpus(str(corpus_dir)), cfg, progress=False).train(
        budget_bytes=TOTAL)
    got, want = MLSTM.load(out).state_dict(), MLSTM.load(reference).state_dict()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=0, msg=name)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == \
        [json.loads((out / "config.json").read_text())["checkpoint"].split("/")[1]]


TAGGER_EPOCHS = 20


def test_a_tagger_killed_at_random_instants_resumes_to_the_same_weights(tmp_path):
    from neuron_repro.data.conll import load_conll
    from neuron_repro.data.glove import find_glove
    from neuron_repro.models.tagger import TaggerConfig, Vocab, tag_set
    from neuron_repro.train.tagger import tagger_cache_key, train_tagger
    from tests.train_workers import KILLED_TAGGER

    config = TaggerConfig(**KILLED_TAGGER)
    splits, vectors = load_conll(FIXTURE_DATA).splits, find_glove(None, FIXTURE_DATA)
    vocab = Vocab([s for split in splits.values() for s in split], tag_set(config.scheme))
    matrix, _ = vocab.embedding_matrix(vectors, 0)
    entry = tmp_path / "cache" / tagger_cache_key(config, splits, matrix, TAGGER_EPOCHS, 0,
                                                  "best_dev", "cpu", 1)
    command = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
               "from tests.train_workers import train_fixture_tagger as t; "
               "t(sys.argv[2], int(sys.argv[3]))", str(REPO_ROOT), str(tmp_path / "cache"),
               str(TAGGER_EPOCHS)]
    rng, kills = random.Random(1), 0
    for _ in range(20):
        if (entry / "trained.json").exists():
            break
        # killed at a random instant once it has written a checkpoint of its own (one an
        # epoch, a fraction of a second each on the fixture)
        killed = _killed_after(command, rng.uniform(0.0, 0.3) if kills < 5 else 600,
                               ready=_rewritten(entry / "checkpoint.json"))
        kills += killed is None
    assert kills == 5 and (entry / "trained.json").exists()
    resumed = train_tagger(config, splits, vectors, TAGGER_EPOCHS, 0, progress=False,
                           cache_dir=tmp_path / "cache")
    straight = train_tagger(config, splits, vectors, TAGGER_EPOCHS, 0, progress=False)
    assert resumed.from_cache and resumed.dev_f1 == straight.dev_f1
    for a, b in zip(resumed.model.state_dict().values(), straight.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    assert not list(entry.glob("epoch-*")) and not list(entry.glob(".*"))


# what may differ between two runs: whether a model was read back, and how fast things ran
TIMINGS = ("from_cache", "train_seconds", "train_seconds_per_seed", "train_sentences_per_second",
           "resumed_from_epoch", "row", "train_reviews_per_second", "test_tokens_per_second",
           "lime_samples_per_second", "seconds", "table_seconds", "search_seconds",
           "search_over_ascent_time")


def _scrub(value):
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in TIMINGS}
    return [_scrub(v) for v in value] if isinstance(value, list) else value


def _claims(path) -> list[dict]:
    rows = json.loads(path.read_text())["claims"]
    for row in rows:
        row["details"] = _scrub(row.get("details") or {})
    return rows


def test_a_reproduction_killed_mid_way_and_started_again_writes_the_same_report(tmp_path):
    options = ["--model", "planted", "--data-dir", FIXTURE_DATA, "--quiet", "--set", "ner.seeds=2",
               "--set", "ner.analysis_epochs=2", "--set", "ner.baseline_epochs=1"]
    cache, out = tmp_path / "cache", tmp_path / "resumed"
    assert _killed_after(_cli("reproduce", *options, "--cache-dir", cache, "--out", out), 1.0,
                         ready=lambda: any(cache.rglob("*.npz"))) is None, \
        "the run ended before it could be killed"
    subprocess.run(_cli("reproduce", *options, "--cache-dir", cache, "--out", out), check=True,
                   capture_output=True)
    clean = tmp_path / "clean"
    subprocess.run(_cli("reproduce", *options, "--cache-dir", tmp_path / "fresh", "--out",
                        clean), check=True, capture_output=True)
    assert _claims(out / "results.json") == _claims(clean / "results.json")
