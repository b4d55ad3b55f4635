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

from harness.data.corpus import load_corpus
from harness.models.mlstm import MLSTM
from harness.repro import FIXTURE_DATA
from harness.train.lm import LMTrainer, TrainConfig

UNITS, BATCH, BPTT, STEPS = 8, 2, 8, 400
TOTAL = STEPS * BATCH * BPTT


def _cli(*argv) -> list[str]:
    return [sys.executable, "-m", "harness.cli", *[str(a) for a in argv]]


def _killed_after(command: list[str], seconds: float) -> int | None:
    """Run ``command``; SIGKILL it after ``seconds`` unless it ended; its exit code or None."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
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


def test_training_killed_at_random_instants_resumes_to_the_same_weights(tmp_path, corpus_dir):
    out, rng = tmp_path / "run", random.Random(0)
    settings = ["--units", UNITS, "--batch", BATCH, "--bptt", BPTT, "--schedule-bytes", TOTAL,
                "--lr", "0.003", "--eval-every-minutes", "1000"]
    kills = resumes = 0
    for _ in range(40):
        config = out / "config.json"
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
        killed = _killed_after(command, rng.uniform(1.5, 4.0) if kills < 8 else 600)
        kills += killed is None
    # a kill before the first checkpoint leaves nothing to resume, so the next run starts
    # again; most kills land after it (every run here that found a checkpoint resumed from it)
    assert kills == 8 and resumes >= 4
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


# what may differ between two runs: whether a tagger was read back, and how fast it trained
TIMINGS = ("from_cache", "train_seconds", "train_seconds_per_seed", "train_sentences_per_second")


def _claims(path) -> list[dict]:
    rows = json.loads(path.read_text())["claims"]
    for row in rows:
        for key in TIMINGS:
            (row.get("details") or {}).pop(key, None)
    return rows


def test_a_reproduction_killed_mid_way_and_started_again_writes_the_same_report(tmp_path):
    options = ["--model", "planted", "--data-dir", FIXTURE_DATA, "--quiet", "--ner-seeds", "2",
               "--ner-epochs", "2", "--ner-baseline-epochs", "1"]
    cache, out = tmp_path / "cache", tmp_path / "resumed"
    started = time.perf_counter()
    assert _killed_after(_cli("reproduce", *options, "--cache-dir", cache, "--out", out),
                         4.0) is None, "the run ended before it could be killed"
    assert any(cache.rglob("*.npz")), "nothing was cached before the kill"
    subprocess.run(_cli("reproduce", *options, "--cache-dir", cache, "--out", out), check=True,
                   capture_output=True)
    clean = tmp_path / "clean"
    subprocess.run(_cli("reproduce", *options, "--cache-dir", tmp_path / "fresh", "--out",
                        clean), check=True, capture_output=True)
    assert _claims(out / "results.json") == _claims(clean / "results.json")
    assert time.perf_counter() - started < 120
