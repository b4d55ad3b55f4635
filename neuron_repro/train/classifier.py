"""Training the word-level LSTM sentiment classifier (lopes2019) through its cache.

A cache entry is a folder named by :func:`classifier_cache_key` (configuration, seed, the
training and validation reviews, the code of the model and of this loop, torch's version):

- ``trained.json`` + ``model.safetensors``: the finished classifier (the epoch of best
  validation accuracy);
- ``checkpoint.json`` naming ``epoch-NNN/`` (``model``, ``best`` and ``optimizer``
  ``.safetensors``, ``state.json``): the last finished epoch of a classifier still in
  training. Each epoch draws its batches from a generator seeded by (seed, epoch) and the
  model has no dropout, so with Adam's moments restored a resumed run gets exactly the
  weights of an uninterrupted one.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
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
from neuron_repro.data.base import Split
from neuron_repro.io import (
    CorruptFileError,
    read_json_object,
    read_safetensors,
    warn_stale,
    write_json,
)
from neuron_repro.models import wordlstm as model_module
from neuron_repro.models.wordlstm import (
    Vocabulary,
    WordLSTM,
    WordLSTMConfig,
    pad_batch,
    positive_probability,
)
from neuron_repro.train import TrainingDiverged

_CODE = Path(model_module.__file__).read_bytes() + Path(__file__).read_bytes()
SORT_WINDOW = 100  # batches whose reviews are sorted by length together (a bucket iterator)


@dataclass
class TrainedClassifier:
    model: WordLSTM
    vocab: Vocabulary
    config: WordLSTMConfig
    seed: int
    epochs: int  # epochs trained
    best_epoch: int  # 0-based: the weights kept
    val_accuracy_per_epoch: list[float]
    train_running_accuracy_per_epoch: list[float]
    train_seconds: float
    reviews_per_second: float
    from_cache: bool = False
    resumed_from: int = 0
    key: str = ""
    history: list[dict] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.epochs >= self.config.epochs

    def summary(self) -> dict:
        return {"config": asdict(self.config), "seed": self.seed, "epochs": self.epochs,
                "best_epoch": self.best_epoch, "vocabulary": len(self.vocab),
                "val_accuracy_per_epoch": self.val_accuracy_per_epoch,
                "train_running_accuracy_per_epoch": self.train_running_accuracy_per_epoch,
                "train_seconds": round(self.train_seconds, 1),
                "train_reviews_per_second": round(self.reviews_per_second, 1),
                "from_cache": self.from_cache, "resumed_from_epoch": self.resumed_from,
                "key": self.key}


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list:
    """The batches of one epoch: a permutation drawn from (seed, epoch), cut into windows of
    ``SORT_WINDOW`` batches sorted by length (little padding), the batches then shuffled."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    window = batch_size * SORT_WINDOW
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start:start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def classifier_cache_key(config: WordLSTMConfig, train: Split, val: Split, seed: int,
                         device: str) -> str:
    def data():
        for split in (train, val):
            for text, label in zip(split.texts, split.labels, strict=True):
                yield f"{label}\t{len(text)}\t".encode()
                yield text.encode()

    return entry_key({"config": asdict(config), "seed": seed, **numerics(device)},
                     _CODE, data())


def _accuracy(model, sequences, labels, device) -> float:
    p = positive_probability(model, sequences, device=device)
    return float(np.mean((p > 0.5) == np.asarray(labels, dtype=bool)) * 100)


def train_classifier(train: Split, val: Split, config: WordLSTMConfig | None = None,
                     seed: int = 0, device: str = "cpu", progress: bool = True,
                     desc: str = "word LSTM", cache_dir: str | os.PathLike | None = None,
                     minutes: float | None = None) -> TrainedClassifier:
    """Train on ``train`` for ``config.epochs`` epochs with Adam and binary cross-entropy,
    keeping the epoch of best accuracy on ``val``. ``cache_dir``: read the finished
    classifier back, or go on from its last finished epoch. ``minutes`` stops after the epoch
    that passes that many minutes (the classifier returned is then not ``complete``)."""
    config = config or WordLSTMConfig()
    # Backpropagation through hundreds of steps drives gradients into subnormal floats,
    # which x86 CPUs handle some 15x slower; flushing them to zero changes nothing above
    # 1e-38. Only while this training runs: the process's other work keeps its numerics.
    torch.set_flush_denormal(True)
    try:
        return _train_classifier(train, val, config, seed, device, progress, desc, cache_dir,
                                 minutes)
    finally:
        torch.set_flush_denormal(False)


def _train_classifier(train, val, config, seed, device, progress, desc, cache_dir, minutes):
    deadline = None if minutes is None else time.monotonic() + 60.0 * minutes
    vocab = Vocabulary.build(train.texts, config.max_vocab)
    entry = None
    if cache_dir is not None:
        entry = Path(cache_dir) / classifier_cache_key(config, train, val, seed, device)
        cached = _read_finished(entry, config, vocab, device)
        if cached is not None:
            return cached
    torch.manual_seed(seed)
    model = WordLSTM(config, len(vocab)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    state = _read_checkpoint(entry, model, optimizer, vocab) if entry is not None else None
    history = state["history"] if state else []
    best = state["best"] if state else None
    best_state = state["best_model"] if state else None
    start = len(history)
    seqs = [vocab.encode(t) for t in train.texts]
    val_seqs = [vocab.encode(t) for t in val.texts]
    labels = torch.tensor(train.labels, dtype=torch.float32)
    lengths = np.array([len(s) for s in seqs])
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for epoch in range(start, config.epochs):
        if deadline is not None and time.monotonic() > deadline and epoch > 0:
            break
        began = time.perf_counter()
        model.train()
        correct = seen = 0
        batches = epoch_batches(lengths, config.batch_size, seed, epoch)
        bar = tqdm(batches, desc=f"{desc} epoch {epoch + 1}/{config.epochs}", unit="batch",
                   disable=not progress, leave=False)
        for n, rows in enumerate(bar):
            tokens, lens = pad_batch([seqs[r] for r in rows], device)
            target = labels[rows].to(device)
            logits = model(tokens, lens)
            loss = loss_fn(logits, target)
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"{desc}: the loss is {loss.item()} at epoch "
                                       f"{epoch + 1}, batch {n + 1}")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            correct += int(((logits > 0) == (target > 0.5)).sum())
            seen += len(rows)
        val_acc = _accuracy(model, val_seqs, val.labels, device)
        history.append({"epoch": epoch + 1, "train_running_accuracy": correct / seen * 100,
                        "val_accuracy": val_acc, "reviews": seen,
                        "seconds": time.perf_counter() - began})
        if best is None or val_acc > history[best]["val_accuracy"]:
            best = epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if progress:
            tqdm.write(f"{desc}: epoch {epoch + 1}, validation accuracy {val_acc:.2f} %")
        if entry is not None:
            _write_checkpoint(entry, model, best_state, optimizer, history, best, vocab)
    model.load_state_dict(best_state)
    model.eval()
    trained = _trained(model, vocab, config, seed, history, best, start,
                       entry.name if entry else "")
    if entry is not None and trained.complete:
        write_finished(entry, {**_record(trained), "history": history}, model.state_dict())
    return trained


def _trained(model, vocab, config, seed, history, best, resumed_from, key,
             from_cache=False) -> TrainedClassifier:
    seconds = sum(h["seconds"] for h in history)
    return TrainedClassifier(
        model, vocab, config, seed, len(history), best,
        [round(h["val_accuracy"], 2) for h in history],
        [round(h["train_running_accuracy"], 2) for h in history], seconds,
        0.0 if not seconds else sum(h.get("reviews", 0) for h in history) / seconds,
        from_cache=from_cache, resumed_from=resumed_from, key=key, history=history)


def _record(trained: TrainedClassifier) -> dict:
    return {k: v for k, v in trained.summary().items() if k not in ("from_cache",)} | {
        "itos": list(trained.vocab.itos)}


_RECORD = {"key": str, "seed": int, "epochs": int, "best_epoch": int, "itos": list,
           "history": list, "config": dict}
_STATE = {"key": str, "best_epoch": int, "history": list, "itos": list}
_HISTORY = {"epoch": int, "train_running_accuracy": float, "val_accuracy": float,
            "seconds": float}


def _check_history(path, history, best, config) -> None:
    ok = (1 <= len(history) <= config.epochs and 0 <= best < len(history)
          and all(isinstance(h, dict) and all(isinstance(h.get(k), t) or (t is float and
                  isinstance(h.get(k), int)) for k, t in _HISTORY.items()) for h in history)
          and [h["epoch"] for h in history] == list(range(1, len(history) + 1)))
    if not ok:
        raise CorruptFileError(f"{path}: not a consistent training history of "
                               f"{config.epochs} epochs")


def _expect(config, vocab) -> dict:
    model = WordLSTM(config, len(vocab))
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _read_finished(entry: Path, config, vocab, device) -> TrainedClassifier | None:
    path = entry / "trained.json"
    if not path.exists():
        return None
    try:
        record = read_json_object(path, _RECORD, what="classifier cache record")
        if record["key"] != entry.name or tuple(record["itos"]) != vocab.itos \
                or record["config"] != asdict(config):
            raise CorruptFileError(f"{path}: written for another key, vocabulary or "
                                   "configuration")
        _check_history(path, record["history"], record["best_epoch"], config)
        model = WordLSTM(config, len(vocab))
        model.load_state_dict(read_safetensors(entry / "model.safetensors",
                                               _expect(config, vocab)))
    except CorruptFileError as exc:
        warn_stale(entry, exc)
        return None
    model.to(device).eval()
    return _trained(model, vocab, config, record["seed"], record["history"],
                    record["best_epoch"], record.get("resumed_from_epoch", 0), entry.name,
                    from_cache=True)


def _optimizer_tensors(optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for index, slots in optimizer.state_dict()["state"].items():
        for name, value in slots.items():
            out[f"{index}.{name}"] = torch.as_tensor(value, dtype=torch.float32)
    return out


def _load_optimizer(optimizer, tensors: dict, path: Path) -> None:
    params = [p for g in optimizer.param_groups for p in g["params"]]
    state = {}
    for index, p in enumerate(params):
        try:
            exp_avg, exp_avg_sq = tensors[f"{index}.exp_avg"], tensors[f"{index}.exp_avg_sq"]
            step = tensors[f"{index}.step"]
        except KeyError as exc:
            raise CorruptFileError(f"{path}: lacks Adam's state {exc}") from None
        if exp_avg.shape != p.shape or exp_avg_sq.shape != p.shape or step.numel() != 1:
            raise CorruptFileError(f"{path}: Adam's state does not fit the model")
        state[index] = {"step": step.reshape(()), "exp_avg": exp_avg.to(p.device),
                        "exp_avg_sq": exp_avg_sq.to(p.device)}
    if len(tensors) != 3 * len(params):
        raise CorruptFileError(f"{path}: holds state for other parameters")
    full = optimizer.state_dict()
    optimizer.load_state_dict({"state": state, "param_groups": full["param_groups"]})


def _read_checkpoint(entry: Path, model, optimizer, vocab) -> dict | None:
    pointer = entry / "checkpoint.json"
    if not pointer.exists():
        return None
    config = model.config
    try:
        where = checkpoint_of(entry)
        state = read_json_object(where / "state.json", _STATE, what="checkpoint state")
        if state["key"] != entry.name or tuple(state["itos"]) != vocab.itos:
            raise CorruptFileError(f"{where / 'state.json'}: another entry's or vocabulary's")
        _check_history(where / "state.json", state["history"], state["best_epoch"], config)
        expect = _expect(config, vocab)
        weights = read_safetensors(where / "model.safetensors", expect)
        best = read_safetensors(where / "best.safetensors", expect)
        moments = read_safetensors(where / "optimizer.safetensors")
        model.load_state_dict(weights)
        _load_optimizer(optimizer, moments, where / "optimizer.safetensors")
    except CorruptFileError as exc:
        warn_stale(pointer, exc)
        return None
    return {"history": state["history"], "best": state["best_epoch"], "best_model": best}


def _write_checkpoint(entry, model, best_state, optimizer, history, best, vocab) -> None:
    def fill(folder: Path) -> None:
        save_tensors(folder / "model.safetensors", model.state_dict())
        save_tensors(folder / "best.safetensors", best_state)
        save_tensors(folder / "optimizer.safetensors", _optimizer_tensors(optimizer))
        write_json(folder / "state.json", {"key": entry.name, "best_epoch": best,
                                           "history": history, "itos": list(vocab.itos)})

    write_checkpoint(entry, len(history), fill)
