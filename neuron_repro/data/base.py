"""Datasets as texts and labels, the data root, and reading text files with clear errors."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuron_repro.cache import user_cache


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
    """The data root when none is named: ``$XDG_CACHE_HOME/neuron-repro/data``."""
    return user_cache("data")


def resolve_data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """``--data-dir``, else ``$NEURON_REPRO_DATA``, else the user cache."""
    if data_dir:
        return Path(data_dir)
    if os.environ.get("NEURON_REPRO_DATA"):
        return Path(os.environ["NEURON_REPRO_DATA"])
    return default_data_root()


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


UTF8_BOM = b"\xef\xbb\xbf"


def decode(data: bytes, path: Path | str, encoding: str = "utf-8") -> str:
    """Decode a data file strictly; a bad byte is an error naming the file, line and offset.
    A UTF-8 byte-order mark at the start is removed."""
    if encoding.replace("_", "-").lower() in ("utf-8", "utf8") and data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
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


def split_lines(content: str) -> list[str]:
    """Lines split at ``\n`` only (a ``\r`` before it is dropped, so ``\r\n`` works too).

    Unlike :meth:`str.splitlines`, U+2028, U+0085, form feeds and other Unicode line breaks
    stay inside a line: they are characters of a text, not ends of it. A final newline does
    not start an empty line.
    """
    if not content:
        return []
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_bytes(path: Path) -> bytes:
    """The bytes of a regular file; anything else (a folder, a FIFO) is named as what it is."""
    from neuron_repro.io import describe_path

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: {describe_path(path)}")
    return path.read_bytes()


def read_lines(path: Path, encoding: str = "utf-8") -> tuple[list[str], int]:
    """Non-empty lines of a one-item-a-line file, and how many empty lines were dropped."""
    lines = split_lines(decode(read_bytes(path), path, encoding))
    kept = [line.strip() for line in lines if line.strip()]
    return kept, len(lines) - len(kept)
