"""Datasets as texts and labels, the data root, and reading text files with clear errors."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DatasetError(FileNotFoundError):
    """A dataset is missing or a file of it cannot be read; the message says what to do."""


@dataclass
class Split:
    """Texts with binary labels (1 = positive / subjective)."""

    texts: list[str]
    labels: np.ndarray

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class Dataset:
    """A dataset with fixed splits (``train``/``dev``/``test``) or one pool for cross-validation.

    ``files`` maps each file read to its sha256 (for the report's provenance).
    """

    name: str
    splits: dict[str, Split] = field(default_factory=dict)
    pool: Split | None = None
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def default_data_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "neuron-repro" / "data"


def resolve_data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """``--data-dir``, else ``$NEURON_REPRO_DATA``, else the user cache."""
    if data_dir:
        return Path(data_dir)
    if os.environ.get("NEURON_REPRO_DATA"):
        return Path(os.environ["NEURON_REPRO_DATA"])
    return default_data_root()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def require_files(name: str, root: Path, relative: list[str], how: str) -> list[Path]:
    """Return the paths, or raise a DatasetError naming what is missing and how to get it."""
    paths = [root / r for r in relative]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DatasetError(
            f"dataset {name!r} not found: looked for {', '.join(missing)} under the data root "
            f"{root} (from --data-dir, else $NEURON_REPRO_DATA, else {default_data_root()}). "
            f"{how}"
        )
    return paths


def decode(data: bytes, path: Path | str, encoding: str = "utf-8") -> str:
    """Decode a data file strictly; a bad byte is an error naming the file, line and offset."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DatasetError(
            f"{path}: byte {data[exc.start:exc.start + 1]!r} at offset {exc.start} (line {line}) "
            f"is not valid {encoding}. Re-encode the file as {encoding}"
            + (" (MR's Windows-1252 files are read as such by the 'mr' dataset)." if
               encoding == "utf-8" else ".")
        ) from exc


def read_lines(path: Path, encoding: str = "utf-8") -> tuple[list[str], int]:
    """Non-empty lines of a one-item-a-line file, and how many empty lines were dropped."""
    lines = decode(path.read_bytes(), path, encoding).splitlines()
    kept = [line.strip() for line in lines if line.strip()]
    return kept, len(lines) - len(kept)
