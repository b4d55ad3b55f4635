import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import neuron_repro.features as features
from neuron_repro.features import (
    STATE_KINDS,
    continue_features,
    extract_features,
    extract_states,
    parse_states,
    preprocess_openai,
    trace_units,
)
from neuron_repro.models.mlstm import MLSTM

MODEL = MLSTM.random(24, seed=3)
TEXTS = [
    "short", "", "a much longer text that runs for quite a few more bytes than the others do",
    "Ünïcödé 🎬 text", "   ", "line one\nline two", "&lt;b&gt;bold&lt;/b&gt;", "x" * 700,
    "mid length text here", "!",
]


def test_preprocessing_matches_the_release():
    assert preprocess_openai("Hi &amp; bye\nnow ") == b"\n Hi & bye now "
    assert preprocess_openai("") == b"\n  "
    assert preprocess_openai(" \n\t ") == b"\n  "
    assert preprocess_openai("caf\u00e9") == b"\n caf\xc3\xa9 "
    with pytest.raises(TypeError):
        preprocess_openai(b"bytes")


def test_batch_gives_the_same_numbers_as_each_text_alone():
    batched = extract_features(MODEL, TEXTS, STATE_KINDS, batch_size=4, progress=False)
    for row, text in enumerate(TEXTS):
        alone = extract_features(MODEL, [text], STATE_KINDS, batch_size=1, progress=False)
        for kind in STATE_KINDS:
            np.testing.assert_allclose(batched[kind][row], alone[kind][0], rtol=1e-5, atol=1e-5)


def test_running_on_from_a_state_equals_running_the_whole_text(tmp_path):
    texts = [t for t in TEXTS if t.strip()]
    suffix = " Wonderful" * 3
    whole = extract_features(MODEL, [t + suffix for t in texts], STATE_KINDS, progress=False)
    start = extract_features(MODEL, texts, STATE_KINDS, progress=False)
    start["n_bytes"] = np.array([len(preprocess_openai(t)) for t in texts])
    added = [preprocess_openai(t + suffix)[len(preprocess_openai(t)):] for t in texts]
    assert all(preprocess_openai(t + suffix).startswith(preprocess_openai(t)) for t in texts
               if not t[-1].isspace())
    for cache in (None, tmp_path, tmp_path):  # the second cached run reads from disk
        resumed = continue_features(MODEL, start, added, batch_size=3, progress=False,
                                    cache_dir=cache)
        for kind in STATE_KINDS:
            np.testing.assert_allclose(resumed[kind], whole[kind], rtol=1e-5, atol=1e-5)


def test_pooled_states_agree_with_the_per_byte_trace():
    units = list(range(MODEL.n_units))
    traces = trace_units(MODEL, TEXTS, units, batch_size=3)
    feats = extract_features(MODEL, TEXTS, STATE_KINDS, progress=False)
    for row, text in enumerate(TEXTS):
        trace = traces[row]
        assert trace.shape == (len(preprocess_openai(text)), len(units))
        np.testing.assert_allclose(feats["final_c"][row], trace[-1], atol=1e-6)
        np.testing.assert_allclose(feats["mean_c"][row], trace.mean(0), atol=1e-5)
        np.testing.assert_allclose(feats["min_c"][row], trace.min(0), atol=1e-6)
        np.testing.assert_allclose(feats["max_c"][row], trace.max(0), atol=1e-6)


def test_concatenation_follows_the_requested_order():
    both = extract_states(MODEL, TEXTS[:3], "mean_c,final_c", progress=False)
    feats = extract_features(MODEL, TEXTS[:3], ["final_c", "mean_c"], progress=False)
    assert both.shape == (3, 2 * MODEL.n_units) and both.dtype == np.float32
    np.testing.assert_array_equal(both[:, : MODEL.n_units], feats["mean_c"])


def test_unknown_state_is_a_clear_error():
    with pytest.raises(ValueError, match="final_x"):
        parse_states("final_c,final_x")


def test_cache_makes_a_second_run_free_and_resumes_a_killed_one(tmp_path, monkeypatch):
    real = features._run_batch
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2 and kill["on"]:
            raise KeyboardInterrupt  # the run is killed while its second batch is in flight
        return real(*args, **kwargs)

    kill = {"on": True}
    monkeypatch.setattr(features, "_run_batch", counting)
    with pytest.raises(KeyboardInterrupt):
        extract_features(MODEL, TEXTS, batch_size=3, cache_dir=tmp_path, progress=False)
    assert not list(tmp_path.rglob("*.tmp"))  # nothing half-written
    kill["on"], calls[:] = False, []
    first = extract_features(MODEL, TEXTS, batch_size=3, cache_dir=tmp_path, progress=False)
    assert len(calls) == 3  # 4 batches, the first was kept from the killed run
    calls.clear()
    second = extract_features(MODEL, TEXTS, batch_size=3, cache_dir=tmp_path, progress=False)
    assert calls == []
    np.testing.assert_array_equal(first["final_c"], second["final_c"])
    other = MLSTM.random(24, seed=4)
    extract_features(other, TEXTS, batch_size=3, cache_dir=tmp_path, progress=False)
    assert len(calls) == 4  # another model's sha256 is another cache entry


def test_trace_rejects_units_out_of_range():
    with pytest.raises(ValueError, match="0..23"):
        trace_units(MODEL, ["x"], [24])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=5))
def test_any_unicode_gives_finite_features(texts):
    X = extract_states(MODEL, texts, "final_c,mean_c", progress=False)
    assert X.shape == (len(texts), 2 * MODEL.n_units)
    assert np.isfinite(X).all()


@pytest.mark.gpu
def test_cuda_gives_the_cpu_numbers():
    import torch

    if not torch.cuda.is_available():
        pytest.fail("CUDA is not available")
    cpu = extract_features(MODEL, TEXTS, STATE_KINDS, progress=False)
    gpu = extract_features(MODEL, TEXTS, STATE_KINDS, device="cuda", progress=False)
    for kind in STATE_KINDS:
        np.testing.assert_allclose(gpu[kind], cpu[kind], rtol=1e-4, atol=1e-4)


def test_one_long_text_shows_its_progress_while_it_runs(monkeypatch):
    """A batch of one long text reports its bytes every PROGRESS_STEPS steps, not only at
    its end; the bar ends at the total, and the numbers do not change."""
    import tqdm.auto

    text = "a long review, " * 300
    seen, totals = [], []

    class Bar(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            totals.append(self.total)

        def update(self, n=1):
            seen.append(n)
            return super().update(n)

    monkeypatch.setattr(features, "tqdm", Bar)
    monkeypatch.setattr(features, "PROGRESS_STEPS", 500)
    shown = extract_features(MODEL, [text], ["final_c"], progress=True)
    assert totals[0] > 4000 and len(seen) == totals[0] // 500 + 1
    assert all(n == 500 for n in seen[:-1]) and sum(seen) == totals[0]
    monkeypatch.setattr(features, "tqdm", tqdm.auto.tqdm)
    plain = extract_features(MODEL, [text], ["final_c"], progress=False)
    np.testing.assert_array_equal(shown["final_c"], plain["final_c"])
