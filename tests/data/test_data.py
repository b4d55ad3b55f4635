from pathlib import Path

import pytest

from neuron_repro.cache import sha256_file
from neuron_repro.data import DatasetError, csv_splits, load_dataset, load_folder, resolve_data_root
from neuron_repro.repro import FIXTURE_DATA
from tests.helpers import Server


@pytest.mark.parametrize("name,sizes", [
    ("sst", {"train": 80, "dev": 24, "test": 40}), ("imdb", {"train": 40, "test": 40}),
    ("yelp", {"test": 64}),
])
def test_split_fixtures_load(name, sizes):
    ds = load_dataset(name, FIXTURE_DATA)
    assert {k: len(v) for k, v in ds.splits.items()} == sizes
    assert all(len(sha) == 64 for sha in ds.files.values())


@pytest.mark.parametrize("name", ["mr", "cr", "subj", "mpqa"])
def test_pooled_fixtures_load(name):
    ds = load_dataset(name, FIXTURE_DATA)
    assert len(ds.pool) == 60 and set(ds.pool.labels) == {0, 1}
    assert all(t.strip() for t in ds.pool.texts)


def test_mr_is_read_as_windows_1252():
    texts = load_dataset("mr", FIXTURE_DATA).pool.texts
    assert any("caf\u00e9 \u2014" in t for t in texts)


def test_cr_empty_lines_are_dropped_and_noted():
    assert "dropped 1 empty positive and 1 empty negative lines" in load_dataset(
        "cr", FIXTURE_DATA).notes


def test_yelp_quotes_and_escaped_newlines():
    texts = load_dataset("yelp", FIXTURE_DATA).splits["test"].texts
    quoted = [t for t in texts if '"best"' in t]
    assert quoted and all("\n\n" in t and not t.startswith('"') for t in quoted)


def test_imdb_reads_the_tarball_with_labels():
    ds = load_dataset("imdb", FIXTURE_DATA)
    assert sorted(set(ds.splits["test"].labels)) == [0, 1]
    assert all("<br />" in t for t in ds.splits["train"].texts)  # raw text, as released


def test_missing_dataset_says_where_and_how(tmp_path):
    with pytest.raises(DatasetError) as info:
        load_dataset("mr", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "mr" / "rt-polarity.pos") in message and "cornell" in message


def test_invalid_utf8_names_file_and_line(tmp_path):
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.csv").write_bytes(b"label,sentence\n1,fine\n0,caf\xe9\n")
    with pytest.raises(DatasetError, match=r"train\.csv.*line 3.*UTF-8|train\.csv.*line 3"):
        load_folder(tmp_path)


def test_folder_dataset_with_text_column(tmp_path):
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.csv").write_text('text,label\n"a, b",1\nc,0\n')
    ds = load_folder(tmp_path)
    assert ds.splits["dev"].texts == ["a, b", "c"] and list(ds.splits["dev"].labels) == [1, 0]


def test_bad_label_is_an_error(tmp_path):
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.csv").write_text("label,sentence\n2,x\n")
    with pytest.raises(DatasetError, match=r"train\.csv:2"):
        load_folder(tmp_path)


def test_corrupt_tarball_is_a_clear_error(tmp_path):
    (tmp_path / "imdb").mkdir()
    (tmp_path / "imdb" / "aclImdb_v1.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(DatasetError, match="aclImdb_v1.tar.gz"):
        load_dataset("imdb", tmp_path)


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("NEURON_REPRO_DATA", str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_data_root(None) == tmp_path / "env"
    monkeypatch.delenv("NEURON_REPRO_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_root(None) == tmp_path / "cache" / "neuron-repro" / "data"


def _serve(monkeypatch, payloads: dict, pins: dict):
    """The SST files served by a local server, pinned to ``pins`` (sha256 by file name)."""
    from neuron_repro import fetch

    server = Server()
    source = fetch.Source("sst", "csv", "local", tuple(
        fetch.Download(server.add(f"/{name}", data), f"sst/{name}", sha256=pins[name])
        for name, data in payloads.items()))
    monkeypatch.setitem(fetch.SOURCES, "sst", source)
    return server


def test_sst_download_checks_sha256_and_caches(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("NEURON_REPRO_DATA", raising=False)
    files = {name: (FIXTURE_DATA / "sst" / name).read_bytes()
             for name, _ in csv_splits.SST_FILES.values()}
    pinned = {k: (name, sha256_file(FIXTURE_DATA / "sst" / name))
              for k, (name, _) in csv_splits.SST_FILES.items()}
    monkeypatch.setattr(csv_splits, "SST_FILES", pinned)
    server = _serve(monkeypatch, files, dict(pinned.values()))
    try:
        ds = load_dataset("sst")
        assert len(ds.splits["train"]) == 80
        assert (tmp_path / "neuron-repro" / "data" / "sst" / "train_binary_sent.csv").is_file()
        asked = len(server.requests)
        load_dataset("sst")  # there now: no second download
        assert len(server.requests) == asked == 3
    finally:
        server.close()


def test_sst_download_with_wrong_checksum_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("NEURON_REPRO_DATA", raising=False)
    server = _serve(monkeypatch, {name: b"tampered" for name, _ in csv_splits.SST_FILES.values()},
                    {name: sha for name, sha in csv_splits.SST_FILES.values()})
    try:
        with pytest.raises(DatasetError, match="sha256"):
            load_dataset("sst")
    finally:
        server.close()
    folder = tmp_path / "neuron-repro" / "data" / "sst"
    assert not any(Path(folder).iterdir())
