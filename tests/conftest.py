import pytest


@pytest.fixture(autouse=True)
def private_caches(tmp_path, monkeypatch):
    """Tests never read or write the user's caches or data."""
    monkeypatch.setenv("NEURON_REPRO_CACHE", str(tmp_path / "feature-cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("NEURON_REPRO_DATA", raising=False)
    monkeypatch.delenv("NEURON_REPRO_MODEL", raising=False)
