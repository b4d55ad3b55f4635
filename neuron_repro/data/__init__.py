"""The dataset registry: ``load_dataset(name, data_dir)``."""

from __future__ import annotations

import os
from pathlib import Path

from neuron_repro.data.base import (
    Dataset,
    DatasetError,
    Split,
    default_data_root,
    resolve_data_root,
)
from neuron_repro.data.csv_splits import load_folder, load_sst
from neuron_repro.data.imdb import load_imdb
from neuron_repro.data.sentences import LINE_DATASETS, load_line_dataset, load_yelp, load_yelp_full

DATASETS = ("sst", "mr", "cr", "subj", "mpqa", "imdb", "yelp", "yelp-full")

__all__ = ["DATASETS", "Dataset", "DatasetError", "Split", "default_data_root", "load_dataset",
           "load_folder", "resolve_data_root"]


def load_dataset(name: str, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load a registered dataset from the data root (``--data-dir`` / env / user cache)."""
    root = resolve_data_root(data_dir)
    if name == "sst":
        # in the user cache, SST's files are fetched when missing (pinned sha256 values)
        from neuron_repro.fetch import fetch_default_sst

        fetch_default_sst(root)
        return load_sst(root)
    if name in LINE_DATASETS:
        return load_line_dataset(name, root)
    if name == "imdb":
        return load_imdb(root)
    if name == "yelp":
        return load_yelp(root)
    if name == "yelp-full":
        return load_yelp_full(root)
    if Path(name).is_dir():
        return load_folder(name)
    raise DatasetError(f"unknown dataset {name!r}; registered: {', '.join(DATASETS)}, "
                       f"or a folder with train.csv, dev.csv and test.csv")
