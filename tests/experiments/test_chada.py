"""The chada2017 Yelp experiments, radford2017's label-efficiency curve and the per-byte
traces they read, against brute force and planted ground truths."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from neuron_repro.claims import get_claim
from neuron_repro.data import DatasetError, load_dataset
from neuron_repro.data.base import Dataset, Split
from neuron_repro.experiments import chada
from neuron_repro.experiments.label_efficiency import draw_indices, label_efficiency_experiment
from neuron_repro.experiments.sentiment_unit import run_dataset_probe
from neuron_repro.features import preprocess_openai, trace_units
from neuron_repro.probes import L1Probe
from neuron_repro.repro import FIXTURE_DATA, FIXTURE_MODEL, make_context
from neuron_repro.traces import character_values, characters, text_traces
from neuron_repro.verdicts import NOT_RUN, PASS, judge
from tests.helpers import held

UNIT = FIXTURE_MODEL["unit"]


def _context(tmp_path, yelp_texts=None, yelp_labels=None, data_dir=None):
    ctx = make_context(profile="fixtures", out_dir=tmp_path / "out", progress=False,
                       data_dir=data_dir)
    if yelp_texts is not None:
        ctx.memo[("dataset", "yelp")] = Dataset(
            name="yelp", splits={"test": Split(list(yelp_texts), list(yelp_labels))})
    return ctx


# ------------------------------------------------------------------------------ characters


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_characters_of_valid_utf8_are_the_text(text):
    data = text.encode("utf-8")
    chars = characters(data)
    assert [c for c, _ in chars] == list(text)
    assert [last for _, last in chars] == list(np.cumsum([len(c.encode()) for c in text]) - 1)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_every_byte_belongs_to_one_character(data):
    chars = characters(data)
    lasts = [last for _, last in chars]
    assert lasts == sorted(set(lasts)) and (not data or lasts[-1] == len(data) - 1)
    # a character is its bytes decoded, or U+FFFD for one byte that starts nothing valid
    first = 0
    for char, last in chars:
        piece = data[first:last + 1]
        assert (char == "\ufffd" and len(piece) == 1) or piece.decode("utf-8") == char
        first = last + 1


def test_a_multibyte_character_takes_the_state_after_its_last_byte():
    data = "a€b".encode()
    chars, values = character_values(data, np.arange(len(data)) * 10.0)
    assert chars == ["a", "€", "b"] and list(values) == [0.0, 30.0, 40.0]
    with pytest.raises(ValueError, match="5 rows for 3 bytes"):
        character_values(b"abc", np.zeros(5))


def test_traces_are_the_bytes_read_and_one_batched_pass(tmp_path):
    ctx = _context(tmp_path)
    texts = ["short :)", "a longer review :( with more bytes", "café :)"]
    pairs = text_traces(ctx.model, texts, [UNIT, 0], batch_size=2)
    alone = [trace_units(ctx.model, [t], [UNIT, 0])[0] for t in texts]
    for text, (data, trace), single in zip(texts, pairs, alone, strict=True):
        assert data == preprocess_openai(text) and trace.shape == (len(data), 2)
        np.testing.assert_allclose(trace, single, atol=1e-6)


# ------------------------------------------------------------------------ sentence ends


def _brute_change_sums(data, trace):
    sums = [0.0, 0, 0.0, 0]
    for t in range(1, len(data)):
        change = abs(float(trace[t]) - float(trace[t - 1]))
        k = 0 if data[t - 1:t] in (b".", b"!", b"?") else 2
        sums[k] += change
        sums[k + 1] += 1
    return tuple(sums)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=0, max_size=30), st.integers(0, 2**31))
def test_change_sums_equal_the_loop(data, seed):
    trace = np.random.default_rng(seed).normal(size=len(data))
    got, want = chada.change_sums(data, trace), _brute_change_sums(data, trace)
    assert got[1] == want[1] and got[3] == want[3]
    np.testing.assert_allclose([got[0], got[2]], [want[0], want[2]], atol=1e-9)


def test_bootstrap_ratio_is_the_pooled_ratio_with_a_seeded_interval():
    rng = np.random.default_rng(0)
    sums = np.column_stack([rng.uniform(1, 2, 50), rng.integers(1, 5, 50),
                            rng.uniform(1, 2, 50), rng.integers(5, 20, 50)]).astype(float)
    value, interval = chada.bootstrap_ratio(sums)
    pooled = (sums[:, 0].sum() / sums[:, 1].sum()) / (sums[:, 2].sum() / sums[:, 3].sum())
    assert value == pytest.approx(pooled)
    assert interval[0] < value < interval[1]
    assert chada.bootstrap_ratio(sums) == (value, interval)


@pytest.mark.parametrize("after_end, expected", [(True, PASS), (False, "FAIL")])
def test_sentence_end_ratio_on_planted_texts(tmp_path, after_end, expected):
    # the planted unit moves only at ')' and '(': right after '.' when the emoticon follows
    # it, and never there when it comes first
    marker = lambda i: ".)" if i % 2 else ".("  # noqa: E731
    texts = [f"word word {marker(i)} word ." if after_end else "word ) word . word ( ."
             for i in range(20)]
    ctx = _context(tmp_path, texts, [i % 2 for i in range(20)])
    claim = get_claim("chada2017.yelp.sentence_end_updates")
    measurement = chada.sentence_end_experiment(ctx, claim)
    assert (measurement.value > 100) if after_end else (measurement.value == 0.0)
    assert judge(claim, measurement, False, preconditions=held(claim)).verdict == expected
    assert "yelp_sentence_end_changes.png" in [f.name for f in measurement.figures]


def test_heatmaps_pick_one_review_of_each_kind(tmp_path):
    ctx = _context(tmp_path)
    measurement = chada.sentence_end_experiment(
        ctx, get_claim("chada2017.yelp.sentence_end_updates"))
    traces = chada.yelp_traces(ctx)
    picks = measurement.details["heatmaps"]
    correct = chada.zero_shot_correct(traces)
    labels = np.asarray(traces["labels"])
    for kind, row in picks.items():
        ok, label = kind.startswith("correct"), int(kind.endswith("positive"))
        assert correct[row] == ok and labels[row] == label
        assert f"yelp_heatmap_{kind}.png" in [f.name for f in measurement.figures]
    assert picks == chada.heatmap_picks(traces)  # seeded
    assert traces["units"][0] == UNIT


# ------------------------------------------------------------------------ length


def test_length_independence_sees_a_planted_dependence(tmp_path):
    # short reviews carry their marker (")" positive, "(" negative); ten long positive ones
    # carry none, so the unit stays at zero and calls them negative: only long reviews fail
    texts = ["nice )" for _ in range(30)] + ["w " * 200 for _ in range(10)] + \
        ["bad (" for _ in range(30)]
    labels = [1] * 40 + [0] * 30
    ctx = _context(tmp_path, texts, labels)
    claim = get_claim("chada2017.yelp.length_independence")
    measurement = chada.length_experiment(ctx, claim)
    assert measurement.details["n_wrong"] == 10
    assert measurement.details["ks_p"] < 1e-6 and measurement.details["auc"] < 0.2
    assert measurement.value == pytest.approx(0.5 - measurement.details["auc"])
    assert judge(claim, measurement, False, preconditions=held(claim)).verdict == "FAIL"


def test_length_independence_passes_only_by_showing_the_effect_small(tmp_path):
    """Equivalence, not absence of evidence: few wrong reviews (a KS test that sees nothing)
    give an interval too wide to pass; many, with lengths unrelated to success, pass."""
    few = chada.bootstrap_auc(np.array([True] * 60 + [False] * 4),
                              np.random.default_rng(0).integers(10, 500, 64))
    assert few[1] - few[0] > 0.2  # cannot show |AUC - 0.5| <= 0.05
    rng = np.random.default_rng(1)
    correct = rng.random(4000) < 0.7
    low, high = chada.bootstrap_auc(correct, rng.integers(10, 500, 4000))
    assert 0.45 < low <= high < 0.55


def test_length_independence_on_few_wrong_reviews_is_not_a_pass(tmp_path):
    texts = ["nice )" for _ in range(30)] + ["w " * (5 + i) for i in range(4)] + \
        ["bad (" for _ in range(30)]
    ctx = _context(tmp_path, texts, [1] * 34 + [0] * 30)
    claim = get_claim("chada2017.yelp.length_independence")
    measurement = chada.length_experiment(ctx, claim)
    assert measurement.details["n_wrong"] == 4
    assert judge(claim, measurement, False, preconditions=held(claim)).verdict != "PASS"


def test_length_independence_with_every_review_right_has_no_value(tmp_path):
    ctx = _context(tmp_path, ["nice )", "bad ("] * 5, [1, 0] * 5)
    measurement = chada.length_experiment(ctx, get_claim("chada2017.yelp.length_independence"))
    assert np.isnan(measurement.value) and "correctly" in measurement.details["why"]


# ------------------------------------------------------------------------ supervised


def test_supervised_on_the_sample_is_ten_fold_l2_with_defaults(tmp_path):
    ctx = _context(tmp_path)
    out = chada.yelp_supervised(ctx)
    X = ctx.states("yelp", "test")["final_c"]
    y = ctx.dataset("yelp").splits["test"].labels
    brute = [100 * np.mean(LogisticRegression().fit(X[tr], y[tr]).predict(X[te]) == y[te])
             for tr, te in StratifiedKFold(10, shuffle=True, random_state=42).split(X, y)]
    assert out["fold_accuracies"] == pytest.approx(brute)
    assert out["data"] == "yelp" and "not found" in out["full_data_missing"]
    assert out["yelp_unit"] == UNIT and out["same_unit_as_sst"]
    assert out["zero_shot_accuracy"] == pytest.approx(100 * 60 / 64)
    assert out["gap"] == pytest.approx(out["accuracy"] - out["zero_shot_accuracy"])
    claim = get_claim("chada2017.yelp.supervised_gap")
    result = judge(claim, chada.supervised_experiment(ctx, claim), False,
                   preconditions=held(claim))
    assert result.verdict == NOT_RUN and "of the protocol's 560000 training reviews" in \
        result.reason and "64-review Yelp sample" in result.reason


def _write_zhang(folder, lines):
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for label, text in lines:
        text = text.replace("\n", "\\n").replace('"', '""')
        rows.append(f'"{label + 1}","{text}"\n')
    return rows


@pytest.mark.filterwarnings("ignore:yelp-full. only 16 test examples")
def test_full_yelp_csv_is_read_and_used_when_present(tmp_path):
    root = tmp_path / "data"
    for name in ("sst", "yelp"):
        (root / name).mkdir(parents=True)
        for f in (FIXTURE_DATA / name).iterdir():
            (root / name / f.name).write_bytes(f.read_bytes())
    sample = load_dataset("yelp", FIXTURE_DATA).splits["test"]
    pairs = list(zip(sample.labels, sample.texts, strict=True))
    folder = root / "yelp_review_polarity_csv"
    rows = _write_zhang(folder, pairs)
    (folder / "train.csv").write_text("".join(rows[:48]))
    (folder / "test.csv").write_text("".join(rows[48:]))
    full = load_dataset("yelp-full", root)
    assert full.splits["train"].texts == sample.texts[:48]
    assert list(full.splits["test"].labels) == list(sample.labels[48:])
    ctx = _context(tmp_path, data_dir=root)
    out = chada.yelp_supervised(ctx)
    assert out["data"] == "yelp-full" and out["n_train"] == 48 and out["n_test"] == 16
    assert out["yelp_unit"] == UNIT
    (folder / "test.csv").write_text('"1","fine"\n"3","bad label"\n')
    with pytest.raises(DatasetError, match=r"test.csv:2: expected a row"):
        load_dataset("yelp-full", root)
    ctx = _context(tmp_path, data_dir=root)
    with pytest.raises(DatasetError, match="test.csv:2"):  # never replaced by the sample
        chada.yelp_supervised(ctx)


# ------------------------------------------------------------------------ label efficiency


def test_draws_hold_both_classes_and_depend_on_their_size_only():
    labels = np.array([0] * 95 + [1] * 5)
    rows = draw_indices(labels, 11, seed=0, draw=3)
    assert len(set(rows)) == 11 and set(labels[rows]) == {0, 1}
    np.testing.assert_array_equal(rows, draw_indices(labels, 11, seed=0, draw=3))
    assert not np.array_equal(rows, draw_indices(labels, 11, seed=0, draw=4))
    with pytest.raises(ValueError):
        draw_indices(labels, 101, seed=0, draw=0)


def test_label_efficiency_curve_is_the_probe_on_each_draw(tmp_path):
    ctx = _context(tmp_path)
    claim = get_claim("radford2017.sst.label_efficiency").copy_params(sizes=(11, 32, 80),
                                                                        shape_size=32)
    measurement = label_efficiency_experiment(ctx, claim)
    curve = {p["n"]: p for p in measurement.details["curve"]}
    X = {s: ctx.states("sst", s)["final_c"] for s in ("train", "dev", "test")}
    y = {s: ctx.dataset("sst").splits[s].labels for s in ("train", "dev", "test")}
    rows = draw_indices(y["train"], 11, 0, 7)
    probe = L1Probe().fit(X["train"][rows], y["train"][rows], X["dev"], y["dev"])
    assert curve[11]["accuracies"][7] == probe.score(X["test"], y["test"])
    assert curve[80]["distinct_draws"] == 1 and len(curve[80]["accuracies"]) == 10
    assert measurement.value == pytest.approx(curve[11]["mean"])
    assert measurement.shape_value == pytest.approx(curve[80]["mean"] - curve[32]["mean"])
    assert measurement.budget == {"draws": 10}
    assert "sst_label_efficiency.png" in [f.name for f in measurement.figures]


def test_label_efficiency_sizes_beyond_the_data_are_named(tmp_path):
    ctx = _context(tmp_path)
    measurement = label_efficiency_experiment(ctx, get_claim("radford2017.sst.label_efficiency"))
    assert measurement.details["skipped_sizes"] == [100, 232, 1000, 6920]
    assert np.isnan(measurement.shape_value)  # no point at 232: the shape half is not run
    assert run_dataset_probe(ctx, "sst")["top_units"][0] == UNIT


def test_label_efficiency_reports_the_draws_that_ran_not_those_asked(monkeypatch):
    from neuron_repro.experiments import label_efficiency

    curve = [{"n": 10, "mean": 60.0, "accuracies": [60.0] * 3, "distinct_draws": 3},
             {"n": 100, "mean": 80.0, "accuracies": [80.0] * 10, "distinct_draws": 1}]
    monkeypatch.setattr(label_efficiency, "label_efficiency_curve", lambda *a: {
        "curve": curve, "n_train": 100, "skipped_sizes": [], "draws": 10, "seed": 0})
    claim = get_claim("radford2017.sst.label_efficiency")
    claim = claim.copy_params(sizes=[10, 100], shape_size=10, draws=10)
    ctx = make_context(profile="fixtures", progress=False, out_dir=None)
    measurement = label_efficiency.label_efficiency_experiment(ctx, claim)
    assert measurement.budget == {"draws": 3}
