"""Byte corpora for language modelling.

``imdb-lm`` is the IMDB train and unsup reviews (75,000, about 83 MB), read straight from
``aclImdb_v1.tar.gz``; the test reviews, on which the probes are scored, are never read. Any
folder of ``.txt`` files and any ``.jsonl`` with a ``text`` field work too. Each text is
preprocessed exactly as for feature extraction, so the model learns the bytes it will read.

A fixed, seeded share of the texts is held out and never trained on: the held-out bits per
byte are measured on it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuron_repro.cache import sha256_file
from neuron_repro.data.base import (
    DatasetError,
    decode,
    read_bytes,
    require_files,
    resolve_data_root,
    split_lines,
)
from neuron_repro.data.imdb import IMDB_URL, iter_imdb
from neuron_repro.features import preprocess_openai

HELD_OUT_SHARE = 0.01
HELD_OUT_SEED = 1234


@dataclass
class Corpus:
    """Training and held-out bytes, with what they were read from."""

    spec: str
    train: np.ndarray  # uint8, the concatenated preprocessed training texts
    held_out: np.ndarray  # uint8, likewise for the held-out texts
    n_texts: int
    sha256: str  # of the source file, or of the texts for a folder / jsonl

    def describe(self) -> dict:
        return {"spec": self.spec, "n_texts": self.n_texts, "train_bytes": int(len(self.train)),
                "held_out_bytes": int(len(self.held_out)), "source_sha256": self.sha256,
                "held_out": f"{HELD_OUT_SHARE:.0%} of texts, seed {HELD_OUT_SEED}"}


def _texts_of(spec: str, data_dir) -> tuple[list[str], str]:
    if spec == "imdb-lm":
        root = resolve_data_root(data_dir)
        (path,) = require_files("imdb-lm", root, ["imdb/aclImdb_v1.tar.gz"],
                                f"Download aclImdb_v1.tar.gz from {IMDB_URL} into <root>/imdb/.")
        parts = {("train", "pos"), ("train", "neg"), ("train", "unsup")}
        texts = [t for *_, t in iter_imdb(path, parts)]
        return texts, sha256_file(path)
    path = Path(spec)
    if path.is_dir():
        files = sorted(path.rglob("*.txt"))
        if not files:
            raise DatasetError(f"{path}: no .txt files inside")
        texts = [decode(f.read_bytes(), f) for f in files]
    elif path.suffix == ".jsonl" and path.is_file():
        texts = []
        for number, line in enumerate(split_lines(decode(read_bytes(path), path)), 1):
            if line.strip():
                try:
                    text = json.loads(line)["text"]
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise DatasetError(f"{path}:{number}: expected an object with 'text'") from exc
                if not isinstance(text, str):
                    raise DatasetError(f"{path}:{number}: 'text' is a {type(text).__name__}, "
                                       "expected a string")
                texts.append(text)
    else:
        raise DatasetError(f"corpus {spec!r}: use imdb-lm, a folder of .txt files or a .jsonl file")
    digest = hashlib.sha256()
    for t in texts:
        digest.update(t.encode("utf-8") + b"\0")
    return texts, digest.hexdigest()


def load_corpus(spec: str, data_dir=None) -> Corpus:
    """Read a corpus and split off its held-out texts (1 %, at least one text)."""
    texts, sha = _texts_of(spec, data_dir)
    if len(texts) < 2:
        raise DatasetError(f"corpus {spec!r}: needs at least two texts, found {len(texts)}")
    order = np.random.default_rng(HELD_OUT_SEED).permutation(len(texts))
    n_held = max(1, int(round(HELD_OUT_SHARE * len(texts))))
    held, train = order[:n_held], np.sort(order[n_held:])

    def join(indices):
        return np.frombuffer(b"".join(preprocess_openai(texts[i]) for i in indices), np.uint8)

    return Corpus(spec, join(train), join(np.sort(held)), len(texts), sha)
