"""The caches' shared plan: where they live, how a file is hashed, and how an entry of a
trained-model cache (the NER taggers, the word LSTM) is keyed, finished and checkpointed.

An entry's key is a digest over what decides the trained model: its settings (as JSON), the
code of the model and its training loop, and the data. The entry holds the epoch
checkpoints while it trains (``epoch-NNN/``, the last finished one kept) and, once finished,
the weights and then ``trained.json``; an entry is read only once its record is there.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from neuron_repro.io import (
    CorruptFileError,
    atomic_folder,
    atomic_write,
    read_json_object,
    save_safetensors,
    write_json,
)

CHECKPOINT = re.compile(r"epoch-\d{3,}")  # the folder of a cache entry's last finished epoch


def user_cache(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/neuron-repro/...`` (``~/.cache`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base, "neuron-repro", *parts)


def numerics(device: str = "cpu") -> dict:
    """What, beside the code, the data and the seed, decides the floats a training gives on
    this machine: the torch build, the thread count, and the CPU's instruction set (AVX2 and
    AVX-512 kernels round differently) or the GPU. It goes into every trained model's cache
    key and into the report's provenance, so a number made on other kernels is never read
    back as this machine's."""
    import torch

    kind = torch.device(device).type
    out = {"device": kind, "torch": torch.__version__,
           "torch_git": torch.version.git_version, "threads": torch.get_num_threads()}
    if kind == "cuda":
        out.update(gpu=torch.cuda.get_device_name(torch.device(device)),
                   cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    else:
        out.update(cpu_capability=torch.backends.cpu.get_cpu_capability(),
                   onednn_max_isa=os.environ.get("ONEDNN_MAX_CPU_ISA", "default"))
    return out


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def entry_key(settings: dict, code: bytes, data: Iterable[bytes]) -> str:
    """A trained-model cache entry's key: settings (JSON, sorted keys), then the code, then
    the data's bytes in order."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    digest.update(code)
    for chunk in data:
        digest.update(chunk)
    return digest.hexdigest()[:32]


def save_tensors(path: Path, state: dict) -> None:
    save_safetensors({k: v.detach().cpu().contiguous() for k, v in state.items()}, path)


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


def checkpoint_of(entry: Path) -> Path:
    """The folder of the entry's last finished epoch, as ``checkpoint.json`` names it; a
    pointer that is not this entry's, or names no checkpoint folder, is a CorruptFileError."""
    pointer = entry / "checkpoint.json"
    folder = read_json_object(pointer, {"key": str, "folder": str}, what="checkpoint")
    if folder["key"] != entry.name or not CHECKPOINT.fullmatch(folder["folder"]):
        raise CorruptFileError(f"{pointer}: not a checkpoint of this entry")
    return entry / folder["folder"]


def write_checkpoint(entry: Path, epoch: int, fill: Callable[[Path], None]) -> None:
    """Epoch ``epoch``'s checkpoint: ``fill(folder)`` writes its files into a temporary folder
    that is renamed into place whole, then ``checkpoint.json`` names it and the older ones
    are removed."""
    name = f"epoch-{epoch:03d}"
    target = entry / name
    if target.exists():  # a checkpoint of this epoch left by a run killed before its pointer
        shutil.rmtree(target)
    with atomic_folder(target) as tmp:
        fill(tmp)
    write_json(entry / "checkpoint.json", {"key": entry.name, "folder": name})
    remove_checkpoints(entry, keep=name)
