"""Texts to extract features of: ``.jsonl``, ``.csv`` or ``.txt`` files given with ``--input``."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from neuron_repro.data.base import DatasetError, decode, read_bytes, split_lines
from neuron_repro.io import describe_path

TEXT_SUFFIXES = (".jsonl", ".csv", ".txt")


def read_texts(path: str | os.PathLike) -> list[str]:
    """Texts from ``.jsonl`` (field ``text``; blank lines skipped), ``.csv`` (column
    ``sentence`` or ``text``) or ``.txt`` (one text a line, empty lines kept as empty texts).

    Lines end at ``\\n`` (or ``\\r\\n``) only; a UTF-8 byte-order mark is removed; the suffix
    is matched whatever its case.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise DatasetError(f"{path}: {describe_path(path)}; --input takes a "
                           f"{', '.join(TEXT_SUFFIXES)} file")
    if suffix not in TEXT_SUFFIXES:
        raise DatasetError(f"{path}: unknown input type {path.suffix!r}; use "
                           f"{', '.join(TEXT_SUFFIXES)}")
    content = decode(read_bytes(path), path)
    if suffix == ".jsonl":
        return _read_jsonl(path, content)
    if suffix == ".csv":
        return _read_csv(path, content)
    return split_lines(content)


def _read_jsonl(path: Path, content: str) -> list[str]:
    texts = []
    for number, line in enumerate(split_lines(content), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise DatasetError(f"{path}:{number}: expected an object with a string 'text'")
        texts.append(record["text"])
    return texts


def _lines_with_ends(content: str) -> list[str]:
    """Lines cut after each ``\n`` only, each keeping its end (for :mod:`csv`, which must see
    no other line breaks: a quoted field may hold any of them)."""
    lines = [line + "\n" for line in content.split("\n")]
    lines[-1] = lines[-1][:-1]
    return [line for line in lines if line]


def _read_csv(path: Path, content: str) -> list[str]:
    try:
        return _read_csv_records(path, content)
    except csv.Error as exc:
        raise DatasetError(f"{path}: not valid CSV ({exc}); a field that holds a line break "
                           "or a carriage return must be quoted") from exc


def _read_csv_records(path: Path, content: str) -> list[str]:
    reader = csv.reader(_lines_with_ends(content))
    header = next(reader, None)
    if header is None:
        raise DatasetError(f"{path}: empty file; expected a header with a 'sentence' or 'text' "
                           "column")
    fields = [f.strip().lower() for f in header]
    column = next((f for f in ("sentence", "text") if f in fields), None)
    if column is None:
        raise DatasetError(f"{path}: no 'sentence' or 'text' column in {header}")
    index = fields.index(column)
    texts = []
    start = reader.line_num + 1
    for row in reader:
        if row == []:  # a blank line: no record
            start = reader.line_num + 1
            continue
        if len(row) != len(header):
            raise DatasetError(f"{path}:{start}: {len(row)} fields where the header has "
                               f"{len(header)}; quote fields that hold commas")
        texts.append(row[index])
        start = reader.line_num + 1
    return texts
