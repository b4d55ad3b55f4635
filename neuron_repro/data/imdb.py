"""The Large Movie Review Dataset v1.0 (Maas et al. 2011), read straight from its tar.gz."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import numpy as np

from neuron_repro.cache import sha256_file
from neuron_repro.data.base import Dataset, DatasetError, Split, decode, require_files

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
# lopes2019's split of the 25,000 training reviews: 17,500 train, 7,500 validation
LOPES_SPLIT_SEED = 1234
LOPES_TRAIN = 17_500
_MEMBER = re.compile(r"aclImdb/(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt$")


def iter_imdb(path: Path, parts: set[tuple[str, str]]):
    """Yield ``(split, polarity, id, rating, text)`` for members in ``parts``, in file order.

    ``parts`` holds pairs such as ``("train", "pos")`` or ``("train", "unsup")``.
    """
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                match = _MEMBER.search(member.name)
                if not match or not member.isfile():
                    continue
                split, polarity, review_id, rating = match.groups()
                if (split, polarity) not in parts:
                    continue
                text = decode(tar.extractfile(member).read(), f"{path}:{member.name}")
                yield split, polarity, int(review_id), int(rating), text
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DatasetError(f"{path}: not a readable aclImdb tar.gz ({exc}); download it again "
                           f"from {IMDB_URL}") from exc


def load_imdb(root: Path) -> Dataset:
    """The 25,000 labelled train and 25,000 test reviews (pos = 1, neg = 0), sorted by id."""
    (path,) = require_files(
        "imdb", root, ["imdb/aclImdb_v1.tar.gz"],
        f"Download aclImdb_v1.tar.gz from {IMDB_URL} into <root>/imdb/ (no need to extract it).",
    )
    rows = {"train": [], "test": []}
    parts = {(s, p) for s in rows for p in ("pos", "neg")}
    for split, polarity, review_id, _, text in iter_imdb(path, parts):
        rows[split].append((polarity, review_id, text))
    splits = {}
    for split, items in rows.items():
        if not items:
            raise DatasetError(f"{path}: no aclImdb/{split}/pos|neg reviews inside")
        items.sort(key=lambda r: (r[0], r[1]))  # tar order is not guaranteed
        splits[split] = Split([t for _, _, t in items], [int(p == "pos") for p, _, _ in items])
    return Dataset(name="imdb", splits=splits, files={str(path): sha256_file(path)})


def lopes_splits(dataset: Dataset, seed: int = LOPES_SPLIT_SEED,
                 n_train: int = LOPES_TRAIN) -> dict[str, Split]:
    """IMDB as lopes2019 split it: the training reviews (in :func:`load_imdb`'s order)
    permuted by ``numpy.random.default_rng(seed)``, the first ``n_train`` for training and
    the rest for validation (17,500 / 7,500 of the full set), and the test reviews for test.
    With fewer training reviews than ``n_train`` (the fixtures) the same 70 / 30 share is
    kept."""
    train = dataset.splits["train"]
    n = len(train.texts)
    if n_train >= n:
        n_train = round(n * LOPES_TRAIN / 25_000)
    order = np.random.default_rng(seed).permutation(n)

    def take(rows) -> Split:
        return Split([train.texts[i] for i in rows], [train.labels[i] for i in rows])

    return {"train": take(order[:n_train]), "val": take(order[n_train:]),
            "test": dataset.splits["test"]}
