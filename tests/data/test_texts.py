"""The ``--input`` readers, over arbitrary Unicode, bytes, line endings, BOMs and quoting: as
many texts as lines (or records), each one round-tripping, or a clear error."""

import csv
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuron_repro.data.base import DatasetError
from neuron_repro.data.texts import read_texts

# any character UTF-8 can encode (no lone surrogates)
CHARS = st.characters(blacklist_categories=("Cs",))
LINE = st.text(CHARS.filter(lambda c: c not in "\n\r"), max_size=30)
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _write(tmp_path, name, content: str, bom: bool) -> str:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + content.encode("utf-8"))
    return path


@SETTINGS
@given(texts=st.lists(LINE, min_size=1, max_size=12), crlf=st.booleans(), bom=st.booleans(),
       final_newline=st.booleans())
def test_txt_gives_one_text_a_line(tmp_path, texts, crlf, bom, final_newline):
    end = "\r\n" if crlf else "\n"
    content = end.join(texts) + (end if final_newline else "")
    if texts[-1] == "" and not final_newline:
        texts = texts[:-1]  # the newline before an empty last line ends the line before
    assert read_texts(_write(tmp_path, "in.txt", content, bom)) == texts


@SETTINGS
@given(texts=st.lists(st.text(CHARS, max_size=30), max_size=12), crlf=st.booleans(),
       bom=st.booleans(), ascii_only=st.booleans())
def test_jsonl_round_trips_any_text(tmp_path, texts, crlf, bom, ascii_only):
    end = "\r\n" if crlf else "\n"
    content = "".join(json.dumps({"text": t}, ensure_ascii=ascii_only) + end for t in texts)
    assert read_texts(_write(tmp_path, "in.jsonl", content, bom)) == texts


@SETTINGS
@given(texts=st.lists(st.text(CHARS, max_size=30), max_size=12), bom=st.booleans(),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
       terminator=st.sampled_from(["\n", "\r\n"]))
def test_csv_round_trips_any_text(tmp_path, texts, bom, quoting, terminator):
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=quoting, lineterminator=terminator)
    writer.writerow(["label", "sentence"])
    if quoting == csv.QUOTE_MINIMAL:
        # csv's writer leaves a field with a bare carriage return unquoted: not RFC 4180
        texts = [t.replace("\r", "") for t in texts]
    writer.writerows([[i % 2, t] for i, t in enumerate(texts)])
    assert read_texts(_write(tmp_path, "in.csv", buffer.getvalue(), bom)) == texts


def test_an_unquoted_carriage_return_in_a_csv_field_is_refused_not_split(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"label,sentence\n1,one\r two\n")
    with pytest.raises(DatasetError, match="must be quoted"):
        read_texts(path)
    path.write_bytes(b'label,sentence\n1,"one\r two"\n')
    assert read_texts(path) == ["one\r two"]


@SETTINGS
@given(data=st.binary(max_size=200), suffix=st.sampled_from([".txt", ".jsonl", ".csv"]))
def test_arbitrary_bytes_give_texts_or_a_clear_error(tmp_path, data, suffix):
    path = tmp_path / f"in{suffix}"
    path.write_bytes(data)
    try:
        texts = read_texts(path)
    except DatasetError as exc:
        assert str(path) in str(exc)
    else:
        assert all(isinstance(t, str) for t in texts)
        if suffix == ".txt":
            body = data.removeprefix(b"\xef\xbb\xbf")
            assert len(texts) == body.count(b"\n") + (0 if body.endswith(b"\n") or not body
                                                      else 1)
