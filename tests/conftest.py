import numpy as np
import pytest


@pytest.fixture(autouse=True)
def private_caches(tmp_path, monkeypatch):
    """Tests never read or write the user's caches or data."""
    monkeypatch.setenv("NEURON_REPRO_CACHE", str(tmp_path / "feature-cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("NEURON_REPRO_DATA", raising=False)
    monkeypatch.delenv("NEURON_REPRO_MODEL", raising=False)


@pytest.fixture
def corpus_dir(tmp_path):
    """A small folder of .txt files for the language-model trainer."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    rng = np.random.default_rng(0)
    words = "the film was good bad long short plot cast".split()
    for i in range(30):
        (folder / f"{i}.txt").write_text(" ".join(rng.choice(words, size=40)) + ".")
    return folder
