import numpy as np
import pytest

from neuron_repro.features import extract_features
from neuron_repro.models.planted import planted_mlstm
from neuron_repro.probes import run_probe

POSITIVE = ["what a film :) really", ":) :)", "the cast :) and score"]
NEGATIVE = ["what a film :( really", "dull :(", "the cast :( and score"]


@pytest.mark.parametrize("polarity", [1, -1])
def test_planted_unit_counts_the_emoticons(polarity):
    model = planted_mlstm(n_units=16, unit=5, polarity=polarity)
    c = extract_features(model, POSITIVE + NEGATIVE, progress=False)["final_c"][:, 5]
    np.testing.assert_allclose(c, polarity * np.tanh(4.0) * np.array([1, 2, 1, -1, -1, -1]),
                               rtol=1e-5)


def test_other_units_cannot_tell_the_labels_apart():
    model = planted_mlstm(n_units=16, unit=5, polarity=1)
    c = extract_features(model, ["a :) b", "a :( b"], progress=False)["final_c"]
    others = np.delete(c, 5, axis=1)
    np.testing.assert_allclose(others[0], others[1], atol=1e-6)


@pytest.mark.parametrize("polarity", [1, -1])
def test_probe_recovers_the_planted_unit_and_sign(polarity):
    rng = np.random.default_rng(0)
    words = "plot cast music scene night dinner menu lens".split()

    def text(label):
        body = [rng.choice(words) for _ in range(rng.integers(3, 10))]
        body.insert(int(rng.integers(len(body) + 1)), ":)" if label else ":(")
        return " ".join(body)

    labels = rng.integers(0, 2, 160)
    X = extract_features(planted_mlstm(polarity=polarity), [text(y) for y in labels],
                         progress=False)["final_c"]
    result, _ = run_probe(X[:100], labels[:100], X[100:130], labels[100:130], X[130:], labels[130:])
    assert (result.sentiment_unit, result.sentiment_unit_sign) == (7, polarity)
    assert result.zero_shot_accuracy == 100.0 and result.sentiment_unit_accuracy == 100.0


def test_planted_arguments_are_checked():
    with pytest.raises(ValueError, match="polarity"):
        planted_mlstm(polarity=2)
    with pytest.raises(ValueError, match="outside"):
        planted_mlstm(n_units=4, unit=4)
