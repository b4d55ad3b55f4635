"""Steered sampling: the clamp follows the mLSTM's equations, each byte is the inverse CDF of
the model's own next-byte distribution, and on a model whose head reads the unit the clamp
decides what is written."""

import json

import numpy as np
import pytest
import torch

from neuron_repro.claims import get_claim
from neuron_repro.cli import main
from neuron_repro.experiments.steering import clamp_values, imdb_judge
from neuron_repro.generate import Clamp, generate, prime_bytes
from neuron_repro.models.mlstm import MLSTM
from neuron_repro.models.planted import NEGATIVE_BYTE, POSITIVE_BYTE, planted_mlstm
from neuron_repro.repro import make_context


@pytest.fixture(scope="module")
def model():
    return MLSTM.random(24, n_embed=8, seed=3)


def _gates(model, byte, c, h):
    """The step written out from the module's docstring, gates kept."""
    w = model.effective_weights()
    x = model.embed[byte].unsqueeze(0)
    m = (x @ w["wmx"]) * (h @ w["wmh"])
    z = x @ w["wx"] + m @ w["wh"] + model.b
    i, f, o, u = z.chunk(4, dim=1)
    return torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(u), torch.sigmoid(o)


@pytest.mark.parametrize("state", ["c", "h", "both"])
def test_a_clamped_step_follows_the_equations(model, state):
    gen = torch.Generator().manual_seed(0)
    c0, h0 = torch.randn(1, 24, generator=gen), torch.randn(1, 24, generator=gen)
    zx, mx = model.byte_tables()
    w = model.effective_weights()
    units, values = torch.tensor([5, 11]), torch.tensor([[0.7, -2.0]])
    with torch.no_grad():
        c, h = MLSTM.cell(zx[[65]], mx[[65]], c0, h0, w["wh"], w["wmh"], (units, values, state))
        free_c, free_h = MLSTM.cell(zx[[65]], mx[[65]], c0, h0, w["wh"], w["wmh"])
        c_eq, o = _gates(model, 65, c0, h0)
    assert torch.allclose(free_c, c_eq, atol=1e-5)
    others = [u for u in range(24) if u not in (5, 11)]
    assert torch.equal(c[:, others], free_c[:, others])
    assert torch.equal(h[:, others], free_h[:, others])
    if state in ("c", "both"):
        assert torch.equal(c[0, [5, 11]], values[0])
    else:
        assert torch.equal(c, free_c)
    if state == "c":  # h follows from the clamped cell
        assert torch.allclose(h[0, [5, 11]], o[0, [5, 11]] * torch.tanh(values[0]), atol=1e-6)
    else:
        assert torch.equal(h[0, [5, 11]], values[0])


@pytest.mark.parametrize("clamps", [[], [Clamp(4, 1.5)]])
def test_each_byte_is_the_inverse_cdf_of_the_models_own_distribution(model, clamps):
    """Brute force: the whole sampled text run through ``forward`` (no clamp) or stepped
    one byte at a time with the clamp gives, at every position, a CDF interval holding
    that step's uniform."""
    n, n_bytes, seed, temperature = 3, 30, 7, 0.8
    samples = generate(model, "ab", clamps=clamps, temperature=temperature, seed=seed, n=n,
                       n_bytes=n_bytes)
    uniforms = np.random.default_rng(seed).random((n, n_bytes))
    clamp = (torch.tensor([4]), torch.tensor([[1.5]]), "c") if clamps else None
    zx, mx = model.byte_tables()
    w = model.effective_weights()
    for row, sample in enumerate(samples):
        assert len(sample) == n_bytes
        text = prime_bytes("ab") + sample
        with torch.no_grad():
            if clamp is None:
                logits = model(torch.tensor([list(text)]))[0][0]
            else:
                c = h = torch.zeros(1, 24)
                rows = []
                for b in text:
                    c, h = MLSTM.cell(zx[[b]], mx[[b]], c, h, w["wh"], w["wmh"], clamp)
                    rows.append(h @ model.out_w + model.out_b)
                logits = torch.cat(rows)
        start = len(prime_bytes("ab")) - 1  # the logits after the prime's last byte
        for t, byte in enumerate(sample):
            p = torch.softmax(logits[start + t].double() / temperature, 0).numpy()
            cdf = np.cumsum(p)
            low = cdf[byte - 1] if byte else 0.0
            assert low - 1e-9 <= uniforms[row, t] * cdf[-1] <= cdf[byte] + 1e-9


def test_a_sample_is_the_same_in_any_batch(model):
    together = generate(model, clamps=[Clamp(2, -1.0)], seed=5, n=7, n_bytes=20)
    alone = generate(model, clamps=[Clamp(2, -1.0)], seed=5, n=7, n_bytes=20, batch_size=1)
    assert together == alone
    assert len(set(together)) > 1  # the rows draw their own uniforms


def test_a_sample_stops_before_the_stop_byte(model):
    full = generate(model, seed=1, n=20, n_bytes=60)
    cut = generate(model, seed=1, n=20, n_bytes=60, stop_byte=full[0][10])
    for whole, short in zip(full, cut, strict=True):
        stop = whole.find(bytes([full[0][10]]))
        assert short == (whole if stop < 0 else whole[:stop])


def share(samples, byte) -> float:
    return float(np.mean([s.count(byte) / len(s) for s in samples]))


@pytest.mark.parametrize("state", ["c", "h", "both"])
def test_on_a_planted_head_the_clamp_decides_the_bytes(state):
    planted = planted_mlstm(n_units=32, unit=7, polarity=1)
    high = generate(planted, clamps=[Clamp(7, 1.0)], clamp_state=state, n=10, n_bytes=50)
    low = generate(planted, clamps=[Clamp(7, -1.0)], clamp_state=state, n=10, n_bytes=50)
    free = generate(planted, n=10, n_bytes=50)
    assert share(high, POSITIVE_BYTE) > 0.95 and share(high, NEGATIVE_BYTE) == 0
    assert share(low, NEGATIVE_BYTE) > 0.95 and share(low, POSITIVE_BYTE) == 0
    # unclamped, the unit starts at zero and the head writes almost any byte at first
    assert np.mean([len(set(s[:5])) for s in free]) > 2
    # a unit the head does not read changes nothing of the kind
    other = generate(planted, clamps=[Clamp(3, 1.0)], clamp_state=state, n=10, n_bytes=50)
    assert share(other, POSITIVE_BYTE) < 0.5


def test_the_planted_head_leaves_the_states_alone():
    with_head = planted_mlstm(n_units=32, unit=7, polarity=-1)
    without = planted_mlstm(n_units=32, unit=7, polarity=-1, head_gain=0.0)
    ids = torch.tensor([list(b"\n a fine film :) ")])
    with torch.no_grad():
        _, (c1, h1) = with_head(ids)
        _, (c2, h2) = without(ids)
    assert torch.equal(c1, c2) and torch.equal(h1, h2)


@pytest.mark.parametrize("text", ["7", "x=1", "7=", "7=nan", "7=inf"])
def test_a_bad_clamp_is_named(text):
    with pytest.raises(ValueError, match="--clamp"):
        Clamp.parse(text)


@pytest.mark.parametrize("kwargs,match", [
    ({"clamps": [Clamp(24, 1.0)]}, "outside 0..23"),
    ({"clamps": [Clamp(2, 1.0), Clamp(2, 0.0)]}, "twice"),
    ({"temperature": 0}, "--temperature"),
    ({"clamp_state": "x"}, "--clamp-state"),
    ({"n": 0}, "--n"),
])
def test_bad_settings_are_named(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate(model, **kwargs)


def test_the_cli_prints_samples_and_writes_them(tmp_path, capsys):
    out = tmp_path / "samples.json"
    assert main(["generate", "--model", "planted", "--clamp", "7=-1", "--n", "2", "--bytes",
                 "12", "--prime", "Great", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    record = json.loads(out.read_text())
    assert record["clamps"] == ["7=-1"] and len(record["samples"]) == 2
    assert record["samples"][0] == ")" * 12  # the fixture unit's polarity is negative
    assert "Great" + record["samples"][0] in printed


@pytest.mark.parametrize("args,match", [
    (["--clamp", "7"], "expected UNIT=VALUE"),
    (["--clamp", "99=1"], "outside 0..31"),
])
def test_the_cli_names_a_bad_clamp(args, match, capsys):
    assert main(["generate", "--model", "planted", *args]) == 2
    assert match in capsys.readouterr().err


def test_the_judge_and_the_clamps_on_the_fixtures(tmp_path):
    ctx = make_context(profile="fixtures", out_dir=tmp_path, progress=False)
    judge, accuracy = imdb_judge(ctx)
    assert accuracy >= 80.0
    # the fixture reviews carry their label in the emoticon alone
    assert list(judge.predict(["a film :) fine", "a film :( fine"])) == [1, 0]
    values, how = clamp_values(ctx, 7, -1, 99)
    final = ctx.states("sst", "train")["final_c"][:, 7]
    assert values["positive"] == pytest.approx(np.percentile(final, 1))
    assert values["negative"] == pytest.approx(np.percentile(final, 99))
    assert values["positive"] < 0 < values["negative"] and "percentile" in how
    assert get_claim("radford2017.generation.steering").params["percentile"] == 99


def test_a_weak_judge_measures_nothing(tmp_path, monkeypatch):
    from neuron_repro.experiments import steering
    from neuron_repro.verdicts import NOT_RUN, judge

    ctx = make_context(profile="fixtures", out_dir=tmp_path, progress=False)
    real, _ = imdb_judge(ctx)
    monkeypatch.setattr(steering, "imdb_judge", lambda ctx: (real, 62.5))
    claim = get_claim("radford2017.generation.steering").copy_params(samples=4, bytes=20)
    measurement = steering.steering_experiment(ctx, claim)
    assert np.isnan(measurement.value) and "62.50 %" in measurement.details["why"]
    assert measurement.details["positive_share_gap"] == 100.0  # still shown
    result = judge(claim, measurement, False, fixtures=True)
    assert result.verdict == NOT_RUN and "judge" in result.reason
