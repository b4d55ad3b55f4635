"""Training loops: the byte-level mLSTM language model (``lm``) and its model card (``card``),
the word-level LSTM classifier (``classifier``); what their cache entries share."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from neuron_repro.io import atomic_write, write_json

CHECKPOINT = re.compile(r"epoch-\d{3,}")  # the folder of a cache entry's last finished epoch


class TrainingDiverged(RuntimeError):
    """The loss stopped being finite (or exploded): the run cannot be scored or continued."""


def save_tensors(path: Path, state: dict) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, path)


def remove_checkpoints(entry: Path, keep: str | None = None) -> None:
    """Older checkpoints, and what a process killed mid-write left under a temporary name."""
    for old in entry.glob("epoch-*"):
        if old.name != keep and CHECKPOINT.fullmatch(old.name):
            shutil.rmtree(old, ignore_errors=True)
    for left in entry.glob(".*.tmp"):
        if left.is_dir():
            shutil.rmtree(left, ignore_errors=True)
        else:
            left.unlink(missing_ok=True)


def write_finished(entry: Path, record: dict, state: dict | None,
                   keep_checkpoint: bool = False) -> None:
    """A cache entry's weights first, then ``trained.json``, each whole or not at all (an
    entry is read only once its record is there); then the checkpoints are removed (unless
    kept)."""
    if state is not None:
        with atomic_write(entry / "model.safetensors", ".safetensors.tmp") as tmp:
            save_tensors(tmp, state)
    write_json(entry / "trained.json", {"key": entry.name, **record})
    if not keep_checkpoint:
        (entry / "checkpoint.json").unlink(missing_ok=True)
        remove_checkpoints(entry)
