"""Datasets in ``label,sentence`` csv files: SST (OpenAI's files) and any folder of splits."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from neuron_repro.cache import sha256_file
from neuron_repro.data.base import (
    Dataset,
    DatasetError,
    Split,
    decode,
    default_data_root,
    read_bytes,
    require_files,
    )

SST_HOME = "https://raw.githubusercontent.com/openai/generating-reviews-discovering-sentiment/master/data/"
SST_FILES = {
    "train": ("train_binary_sent.csv",
              "6003623bcb35aad3a446a265b8931b7ccab61fcc10f2e9c1fec916ff67c7be35"),
    "dev": ("dev_binary_sent.csv",
            "f34c4987fea208fefc2d62a1b42c83a766cbfc7ce58c2a878ef953cf91f01729"),
    "test": ("test_binary_sent.csv",
             "519cea7ed4d22fe7ec4eccbb3d5ba6d88902a3b15ce129f476aa8364463a9fc7"),
}
SST_SIZES = {"train": 6920, "dev": 872, "test": 1821}


def read_label_csv(path: Path) -> Split:
    """A csv with a header naming ``label`` and ``sentence`` (or ``text``); labels 0/1."""
    rows = list(csv.reader(io.StringIO(decode(read_bytes(path), path))))
    if not rows:
        raise DatasetError(f"{path}: empty file; expected a header 'label,sentence'")
    header = [h.strip().lower() for h in rows[0]]
    twice = sorted({h for h in header if header.count(h) > 1 and h in ("label", "sentence",
                                                                         "text")})
    if twice:
        raise DatasetError(f"{path}: the header names {', '.join(twice)} more than once; keep "
                           "one column of each")
    if "sentence" in header and "text" in header:
        raise DatasetError(f"{path}: the header has both 'sentence' and 'text'; keep one")
    text_col = next((h for h in ("sentence", "text") if h in header), None)
    if "label" not in header or text_col is None:
        raise DatasetError(f"{path}: header {rows[0]} lacks 'label' and 'sentence' (or 'text')")
    li, ti = header.index("label"), header.index(text_col)
    texts, labels = [], []
    for number, row in enumerate(rows[1:], 2):
        if not row:
            continue
        if len(row) != len(header) or row[li].strip() not in ("0", "1"):
            raise DatasetError(
                f"{path}:{number}: expected {len(header)} fields with label 0 or 1, got {row[:3]}"
            )
        labels.append(int(row[li]))
        texts.append(row[ti])
    return Split(texts, labels)


def load_folder(folder: str | os.PathLike, name: str | None = None) -> Dataset:
    """``train.csv``, ``dev.csv`` and ``test.csv`` with columns ``label,sentence``."""
    folder = Path(folder)
    paths = require_files(
        name or folder.name, folder, ["train.csv", "dev.csv", "test.csv"],
        "A folder dataset holds train.csv, dev.csv and test.csv with the header 'label,sentence'.",
    )
    splits = {p.stem: read_label_csv(p) for p in paths}
    return Dataset(name=name or folder.name, splits=splits,
                   files={str(p): sha256_file(p) for p in paths}, notes=overlap_notes(splits))


def overlap_notes(splits: dict[str, Split]) -> list[str]:
    """A note for each split whose texts are also texts of an earlier split (train, then
    dev): a test set the probe has seen measures memory, not generalisation."""
    notes, seen = [], {}
    for name in ("train", "dev", "test"):
        if name not in splits:
            continue
        texts = splits[name].texts
        for earlier, known in seen.items():
            shared = sum(t in known for t in texts)
            if shared:
                notes.append(f"{shared} of the {len(texts)} {name} texts are also {earlier} "
                             f"texts: the {name} accuracy is not measured on unseen text")
        seen[name] = set(texts)
    return notes


def load_sst(root: Path) -> Dataset:
    """SST binary, sentence level: OpenAI's csv files (6920 / 872 / 1821), read from
    ``<root>/sst/`` (a run fetches them into the user cache first when they are missing
    there: :func:`neuron_repro.fetch.fetch_default_sst`)."""
    paths = require_files(
        "sst", root, [f"sst/{f}" for f, _ in SST_FILES.values()],
        f"Get train/dev/test_binary_sent.csv from {SST_HOME} into <root>/sst/, or run without "
        f"--data-dir and $NEURON_REPRO_DATA to download them into {default_data_root()}.",
    )
    splits = {split: read_label_csv(p) for split, p in zip(SST_FILES, paths, strict=True)}
    ds = Dataset(name="sst", splits=splits, files={str(p): sha256_file(p) for p in paths})
    for split, want in SST_SIZES.items():
        if len(splits[split]) != want:
            ds.notes.append(f"{split} has {len(splits[split])} sentences, the release {want}")
    return ds
