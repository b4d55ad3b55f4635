"""Training taggers through the tagger cache: finished taggers are kept, a stopped one goes on
from its last finished epoch, and independent taggers train in parallel processes.

A cache entry is a folder named by :func:`tagger_cache_key`:

- ``trained.json`` + ``model.safetensors``: the finished tagger (or ``{"diverged": ...}``);
- ``checkpoint.json`` naming ``epoch-NNN/`` (``model.safetensors``, ``best.safetensors``,
  ``state.json``): the last finished epoch of a tagger still in training. The folder is
  written whole under a temporary name, then the pointer is replaced in one rename, then
  older folders are removed, so a process killed at any moment leaves a usable entry.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from neuron_repro.cache import (
    checkpoint_of,
    entry_key,
    numerics,
    save_tensors,
    write_checkpoint,
    write_finished,
)
from neuron_repro.data.conll import Sentence
from neuron_repro.data.glove import WordVectors
from neuron_repro.io import (
    CorruptFileError,
    read_json_object,
    read_safetensors,
    warn_stale,
    write_json,
)
from neuron_repro.models import tagger as tagger_module
from neuron_repro.models.tagger import (
    FitState,
    Tagger,
    TaggerConfig,
    TrainedTagger,
    Vocab,
    cpu_threads,
    fit,
    tag_set,
)
from neuron_repro.train import TrainingDiverged

# The code that decides a tagger's numbers, read once, as this process imported it: a file
# edited while a run goes on does not change the keys that run writes under.
_CODE = b"".join(Path(m).read_bytes() for m in
                 (tagger_module.__file__, Path(tagger_module.__file__).with_name("crf.py")))


def train_tagger(config: TaggerConfig, splits: dict[str, list[Sentence]], vectors: WordVectors,
                 epochs: int, seed: int, keep: str = "best_dev", progress: bool = True,
                 desc: str = "", device: str = "cpu", threads: int = 1,
                 cache_dir: str | os.PathLike | None = None, minutes: float | None = None,
                 on_epoch: Callable[[FitState], None] | None = None) -> TrainedTagger:
    """Train on ``splits['train']``; ``keep='best_dev'`` keeps the epoch of best dev F1 (NCRF++),
    ``'last'`` the last epoch (the analysis model).

    ``cache_dir`` keeps the trained tagger (or its divergence) keyed by everything that decides
    it (see :func:`tagger_cache_key`), and a checkpoint after every epoch: a second call with
    the same inputs reads the tagger back, or goes on from the last finished epoch.
    ``minutes`` stops training after the epoch that passes that many minutes of this call
    (0: trains nothing past a checkpoint; a tagger has at least one epoch); the tagger
    returned then says how many epochs it had (``complete`` is False) and the next call goes
    on from there.
    """
    if keep not in ("best_dev", "last"):
        raise ValueError(f"keep must be 'best_dev' or 'last', not {keep!r}")
    deadline = None if minutes is None else time.monotonic() + 60.0 * minutes
    vocab = Vocab([s for split in splits.values() for s in split], tag_set(config.scheme))
    matrix, coverage = vocab.embedding_matrix(vectors, seed)
    entry, start = None, None
    if cache_dir is not None:
        key = tagger_cache_key(config, splits, matrix, epochs, seed, keep, device, threads)
        entry = Path(cache_dir) / key
        cached = _read_finished(entry, config, vocab, vectors.dim, device)
        if cached is not None:
            return cached
        start = _read_checkpoint(entry, config, vocab, vectors.dim, epochs, keep)

    def after_epoch(state: FitState) -> None:
        if entry is not None:
            _write_checkpoint(entry, state, vocab)
        if on_epoch is not None:
            on_epoch(state)

    try:
        with cpu_threads(threads) if device == "cpu" else contextlib.nullcontext():
            trained = fit(config, splits, vocab, matrix, coverage, epochs, seed, keep,
                          progress, desc, device, start, after_epoch, deadline)
    except TrainingDiverged as exc:
        if entry is not None:  # the last good epoch's checkpoint stays, to study the failure
            write_finished(entry, {"diverged": str(exc)}, None, keep_checkpoint=True)
        raise
    if entry is not None and trained.complete:
        record = {k: v for k, v in trained.summary().items()
                  if k not in ("config", "from_cache")}
        write_finished(entry, {**record, "words": vocab.words, "tags": vocab.tags},
                        trained.model.state_dict())
    return trained


def tagger_cache_key(config: TaggerConfig, splits: dict[str, list[Sentence]],
                     matrix: np.ndarray, epochs: int, seed: int, keep: str, device: str,
                     threads: int) -> str:
    """What decides a trained tagger: its configuration and schedule, the sentences, the
    initial word vectors, the device, the torch version and the code of the model and its
    training loop (``tagger.py``, with the CRF's)."""
    def data():
        for name in sorted(splits):
            yield name.encode()
            for sentence in splits[name]:
                yield json.dumps([sentence.tokens, sentence.tags]).encode()
        yield np.ascontiguousarray(matrix).data

    return entry_key({"config": asdict(config), "epochs": epochs, "seed": seed, "keep": keep,
                      **numerics(device), "threads": threads}, _CODE, data())


_RECORD_FIELDS = {"key": str, "seed": int, "epochs": int, "best_epoch": int,
                  "dev_f1_per_epoch": list, "train_seconds": float,
                  "train_sentences_per_second": float, "glove_coverage_of_vocabulary": float,
                  "words": list, "tags": list}
_STATE_FIELDS = {"key": str, "epoch": int, "best_epoch": int, "dev_f1_per_epoch": list,
                 "seconds": float, "seen": int, "words": list, "tags": list}


def _expected_shapes(config, vocab, dim) -> tuple[Tagger, dict]:
    model = Tagger(config, len(vocab.words), len(vocab.chars), len(vocab.tags), dim)
    return model, {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _check_vocab(path: Path, record: dict, vocab: Vocab) -> None:
    if record["words"] != vocab.words or record["tags"] != vocab.tags:
        raise CorruptFileError(f"{path}: its vocabulary is not this data's")


def _check_record(path: Path, record: dict) -> None:
    """A finished record's numbers agree with each other: as many dev F1 values (numbers) as
    epochs, the kept epoch among them (or -1: the last), no negative time."""
    f1 = record["dev_f1_per_epoch"]
    if (record["epochs"] < 1 or len(f1) != record["epochs"]
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in f1)
            or not -1 <= record["best_epoch"] < record["epochs"]
            or record["train_seconds"] < 0 or record["train_sentences_per_second"] < 0):
        raise CorruptFileError(f"{path}: epochs, best_epoch, dev_f1_per_epoch and the times "
                               "do not make one consistent record")


def _read_finished(entry: Path, config, vocab, dim, device) -> TrainedTagger | None:
    """The cached tagger, None when there is none; a cached divergence is raised again. An
    entry that cannot be used (unreadable, written under another key, weights that do not fit
    the tagger or are not finite) is reported with a warning and trained again."""
    record_path = entry / "trained.json"
    if not record_path.exists():
        return None
    try:
        record = read_json_object(record_path, {"key": str}, what="tagger cache record")
        if record["key"] != entry.name:
            raise CorruptFileError(f"{record_path}: written under key {record['key']}")
        if "diverged" in record:
            raise TrainingDiverged(record["diverged"])
        record = read_json_object(record_path, _RECORD_FIELDS, what="tagger cache record")
        _check_vocab(record_path, record, vocab)
        _check_record(record_path, record)
        model, expect = _expected_shapes(config, vocab, dim)
        model.load_state_dict(read_safetensors(entry / "model.safetensors", expect))
    except CorruptFileError as exc:
        warn_stale(entry, exc)
        return None
    model.to(device).eval()
    return TrainedTagger(model, vocab, config, record["seed"], record["epochs"],
                         record["best_epoch"], record["dev_f1_per_epoch"],
                         record["train_seconds"], record["train_sentences_per_second"],
                         record["glove_coverage_of_vocabulary"],
                         planned_epochs=record["epochs"], from_cache=True,
                         resumed_from=record.get("resumed_from_epoch", 0))


def _read_checkpoint(entry: Path, config, vocab, dim, epochs, keep) -> FitState | None:
    """The last finished epoch of a tagger still in training, None when there is none. A
    checkpoint that cannot be used is reported with a warning, and training starts again."""
    pointer = entry / "checkpoint.json"
    if not pointer.exists():
        return None
    try:
        where = checkpoint_of(entry)
        state = read_json_object(where / "state.json", _STATE_FIELDS, what="checkpoint state")
        _check_vocab(where / "state.json", state, vocab)
        done, best, f1 = state["epoch"], state["best_epoch"], state["dev_f1_per_epoch"]
        if (state["key"] != entry.name or not 1 <= done <= epochs or len(f1) != done
                or not all(isinstance(v, int | float) for v in f1)
                or not (-1 if keep == "last" else 0) <= best < (0 if keep == "last" else done)
                or state["seen"] < 0 or state["seconds"] < 0):
            raise CorruptFileError(f"{where / 'state.json'}: not a consistent state of "
                                   f"{epochs} epochs with keep={keep}")
        _, expect = _expected_shapes(config, vocab, dim)
        model = read_safetensors(where / "model.safetensors", expect)
        best_model = (read_safetensors(where / "best.safetensors", expect) if best >= 0
                      else None)
    except CorruptFileError as exc:
        warn_stale(pointer, exc)
        return None
    return FitState(done, model, best_model, [float(v) for v in f1], best,
                    state["seconds"], state["seen"])


def _write_checkpoint(entry: Path, state: FitState, vocab: Vocab) -> None:
    def fill(folder: Path) -> None:
        save_tensors(folder / "model.safetensors", state.model)
        if state.best_model is not None:
            save_tensors(folder / "best.safetensors", state.best_model)
        write_json(folder / "state.json", {
            "key": entry.name, "epoch": state.epoch, "best_epoch": state.best_epoch,
            "dev_f1_per_epoch": state.dev_f1, "seconds": state.seconds, "seen": state.seen,
            "words": vocab.words, "tags": vocab.tags})

    write_checkpoint(entry, state.epoch, fill)


# ----------------------------------------------------------------------------- in parallel


@dataclass(frozen=True)
class TaggerJob:
    """One tagger to train and score on the test split: what a worker process is given."""

    config: TaggerConfig
    epochs: int
    seed: int
    keep: str = "best_dev"
    desc: str = ""


# What a worker process loads once and reuses for every job it is given.
_WORKER: dict = {}


def _worker_init(load_data: Callable, load_args: tuple) -> None:
    torch.set_num_threads(1)
    _WORKER["data"] = load_data(*load_args)


def _run_job(job: TaggerJob, score: Callable, device: str, cache_dir, minutes) -> dict:
    splits, vectors = _WORKER["data"]

    def log(state: FitState) -> None:
        print(f"{job.desc or job.config.name}: epoch {state.epoch}/{job.epochs}, dev F1 "
              f"{state.dev_f1[-1]:.2f}, {state.seconds:.0f} s", file=sys.stderr, flush=True)

    try:
        trained = train_tagger(job.config, splits, vectors, job.epochs, job.seed, job.keep,
                               progress=False, device=device, threads=1,
                               cache_dir=cache_dir, minutes=minutes, on_epoch=log)
    except TrainingDiverged as exc:
        return {"diverged": str(exc)}
    return score(trained, splits, vectors)


def train_parallel(jobs: Sequence[TaggerJob], load_data: Callable, load_args: tuple,
                   score: Callable, workers: int, device: str = "cpu",
                   cache_dir: str | os.PathLike | None = None, minutes: float | None = None,
                   progress: bool = True) -> list[dict]:
    """Train ``jobs`` in ``workers`` processes (spawned; one thread each on CPU), each through
    the tagger cache, and return ``score(trained, splits, vectors)`` for each (a dict), or
    ``{"diverged": message}``. ``load_data(*load_args)`` gives a worker its
    ``(splits, vectors)``; both functions must be importable (module level). Each epoch is
    logged on stderr; a worker that dies raises here (its finished epochs stay in the cache).
    """
    results: list[dict | None] = [None] * len(jobs)
    context = get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context,
                             initializer=_worker_init, initargs=(load_data, load_args)) as pool:
        futures = {pool.submit(_run_job, job, score, device, cache_dir, minutes): i
                   for i, job in enumerate(jobs)}
        with tqdm(total=len(jobs), desc=f"taggers ({workers} processes)", unit="tagger",
                  disable=not progress) as bar:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update(1)
    return results
