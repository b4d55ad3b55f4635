"""CoNLL-2003 English NER: the four-column files, IOB1 to BIO and BIOES, and count checks.

The release tags with IOB1: ``I-X`` inside an entity, and ``B-X`` only where an entity follows
another of the same type directly; an ``I-X`` after ``O`` or after another type starts an
entity. BIO starts every entity with ``B-X``; BIOES also marks single-token entities ``S-X``
and entity ends ``E-X`` (the scheme of NCRF++'s headline numbers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from neuron_repro.cache import sha256_file
from neuron_repro.data.base import (
    DatasetError,
    decode,
    read_bytes,
    require_files,
    split_lines,
)

SPLIT_FILES = {"train": "eng.train", "dev": "eng.testa", "test": "eng.testb"}
# Sentences per file in the release (DOCSTART lines are not sentences).
CANONICAL_COUNTS = {"train": 14041, "dev": 3250, "test": 3453}
ENTITY_TYPES = ("LOC", "MISC", "ORG", "PER")
BIO_TAGS = tuple(f"{p}-{t}" for p in "BI" for t in ENTITY_TYPES) + ("O",)


@dataclass
class Sentence:
    tokens: list[str]
    tags: list[str]


@dataclass
class Conll:
    """The three splits, tags in BIO; ``files`` maps each file read to its sha256."""

    splits: dict[str, list[Sentence]]
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _split_tag(tag: str) -> tuple[str, str | None]:
    if tag == "O":
        return "O", None
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix not in "BIES" or not kind:
        raise ValueError(f"not a tag of the IOB family: {tag!r}")
    return prefix, kind


def iob1_to_bio(tags: list[str]) -> list[str]:
    """IOB1 to BIO: an ``I-X`` that follows ``O`` or another type begins an entity."""
    out, previous = [], None
    for tag in tags:
        prefix, kind = _split_tag(tag)
        if prefix == "I" and previous != kind:
            tag = f"B-{kind}"
        out.append(tag)
        previous = kind
    return out


def bio_to_bioes(tags: list[str]) -> list[str]:
    """BIO to BIOES: a one-token entity is ``S-X``, the last token of a longer one ``E-X``."""
    out = []
    for i, tag in enumerate(tags):
        prefix, kind = _split_tag(tag)
        following = tags[i + 1] if i + 1 < len(tags) else "O"
        continues = following == f"I-{kind}"
        if prefix == "B":
            out.append(tag if continues else f"S-{kind}")
        elif prefix == "I":
            out.append(tag if continues else f"E-{kind}")
        else:
            out.append(tag)
    return out


def bioes_to_bio(tags: list[str]) -> list[str]:
    """BIOES back to BIO (``S`` to ``B``, ``E`` to ``I``), for scoring and analysis."""
    return [{"S": "B", "E": "I"}.get(t[0], t[0]) + t[1:] if t != "O" else t for t in tags]


def read_conll(path: Path) -> list[Sentence]:
    """Sentences of one CoNLL-2003 file, tags as written (token in the first column, NER tag
    in the last); ``-DOCSTART-`` lines are skipped."""
    sentences, tokens, tags = [], [], []
    text = decode(read_bytes(path), path)
    for number, line in enumerate(split_lines(text), 1):
        columns = line.split()
        if not columns:
            if tokens:
                sentences.append(Sentence(tokens, tags))
                tokens, tags = [], []
            continue
        if columns[0] == "-DOCSTART-":
            continue
        if len(columns) < 2:
            raise DatasetError(f"{path}, line {number}: expected 'token ... tag' columns, got "
                               f"{line!r}. Is this a CoNLL-2003 file?")
        try:
            _split_tag(columns[-1])
        except ValueError as exc:
            raise DatasetError(f"{path}, line {number}: {exc}") from exc
        tokens.append(columns[0])
        tags.append(columns[-1])
    if tokens:
        sentences.append(Sentence(tokens, tags))
    return sentences


def load_conll(root: Path) -> Conll:
    """``<root>/conll2003/eng.{train,testa,testb}`` in BIO, with the sentence counts checked.

    The counts are the release's, unless the folder holds a ``counts.json`` that declares its
    own (the bundled fixture does).
    """
    folder = Path(root) / "conll2003"
    paths = require_files("conll2003", Path(root), [f"conll2003/{f}" for f in
                                                   SPLIT_FILES.values()],
                          "Put CoNLL-2003 English (eng.train, eng.testa, eng.testb; four "
                          "columns, IOB1 tags) in <data root>/conll2003/.")
    expected, declared = CANONICAL_COUNTS, folder / "counts.json"
    if declared.is_file():
        expected = json.loads(declared.read_text())
    conll = Conll({})
    for (split, _), path in zip(SPLIT_FILES.items(), paths, strict=True):
        sentences = read_conll(path)
        if len(sentences) != expected[split]:
            raise DatasetError(
                f"{path}: {len(sentences)} sentences, but CoNLL-2003's {path.name} has "
                f"{expected[split]}. The file is truncated or not the English release; "
                "replace it with the original.")
        for s in sentences:
            s.tags = iob1_to_bio(s.tags)
        conll.splits[split] = sentences
        conll.files[str(path)] = sha256_file(path)
    return conll
