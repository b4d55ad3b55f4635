import re
from pathlib import Path

import pytest

from neuron_repro.claims import REGISTRY, SOURCES
from neuron_repro.experiments import EXPERIMENTS
from neuron_repro.verdicts import (
    FAIL,
    KINDS,
    MODEL_REQUIREMENTS,
    NOT_RUN,
    PASS,
    Citation,
    Claim,
    Measurement,
    Threshold,
    Tolerance,
    judge,
)

# Every claim id of the sources' tables, as this project names them.
EXPECTED = [
    "radford2017.sst.full_features", "radford2017.sst.sentiment_unit_only",
    "radford2017.sst.one_dominant_unit", "radford2017.sst.label_efficiency",
    "radford2017.mr.full_features", "radford2017.cr.full_features",
    "radford2017.subj.full_features", "radford2017.mpqa.full_features",
    "radford2017.imdb.full_features", "radford2017.generation.steering",
    "chada2017.yelp.zero_shot", "chada2017.yelp.supervised", "chada2017.yelp.supervised_gap",
    "chada2017.yelp.sentiment_unit_index", "chada2017.yelp.sentence_end_updates",
    "chada2017.yelp.length_independence",
    *[f"donnelly2019.table1.{w}.{d}" for w in ("all", "sn_deleted", "sn_only")
      for d in ("sst", "mr", "cr", "imdb")],
    "donnelly2019.sn_not_necessary", "donnelly2019.single_ablation_sweep",
    "donnelly2019.single_unit_sweep", "donnelly2019.cumulative_ablation",
    "donnelly2019.random100",
    *[f"donnelly2019.table2.{w}.{d}" for w in ("final", "mean", "concat")
      for d in ("sst", "mr", "cr", "imdb")],
    "donnelly2019.error_overlap",
    *[f"donnelly2019.table3.{p}.{f}.{d}" for p in ("positive", "negative")
      for f in ("final", "mean", "concat") for d in ("sst", "mr", "cr", "imdb1", "imdb10")],
    "donnelly2019.suffix_attack_shape", "donnelly2019.opposite_polarity",
    *[f"nerneurons2020.baseline_f1.{c}.{w}" for w in ("wordlstm", "wordlstm_crf", "wordcnn",
                                                       "wordcnn_crf")
      for c in ("nochar", "charlstm", "charcnn")],
    "nerneurons2020.per_tag_accuracy", "nerneurons2020.sensitivity_correlations",
    "nerneurons2020.seed_dependence", "nerneurons2020.ablation_targets_tag",
    "nerneurons2020.weight_similarity", "nerneurons2020.top10_overlap",
    "lopes2019.lstm_accuracy", "lopes2019.lime_adjectives",
    "lopes2019.activation_maximization_ratings", "lopes2019.corpus_search_agrees",
    "lopes2019.dataset_examples",
]


def test_every_claim_of_the_sources_is_registered_once():
    ids = [c.id for c in REGISTRY]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(EXPECTED)


@pytest.mark.parametrize("claim", REGISTRY, ids=[c.id for c in REGISTRY])
def test_claim_schema(claim):
    assert re.fullmatch(r"[a-z0-9]+\.[a-z0-9_]+(\.[a-z0-9_]+)*", claim.id)
    assert claim.id.split(".")[0] == claim.source and claim.source in SOURCES
    assert claim.kind in KINDS and claim.statement and claim.metric
    assert claim.requires_model in MODEL_REQUIREMENTS and claim.requires_data
    assert claim.published is not None and claim.version >= 1
    if claim.kind == "shape":
        assert claim.threshold is not None
    else:
        assert claim.tolerance is not None
    if claim.experiment is not None:
        assert claim.experiment in EXPERIMENTS


def _claim(kind, **kw):
    base = dict(id="x.y.z", citation=Citation("x", "X"), statement="s", kind=kind, metric="m",
                requires_data=("sst",))
    return Claim(**{**base, **kw})


def test_value_claim_is_judged_only_on_the_release():
    claim = _claim("value", published=91.8, tolerance=Tolerance(1.0),
                   requires_model="openai-release")
    result = judge(claim, Measurement(60.0), has_release=False)
    assert result.verdict == NOT_RUN and result.measured == 60.0 and "released" in result.reason
    assert judge(claim, Measurement(91.0), has_release=True).verdict == PASS
    assert judge(claim, Measurement(90.7), has_release=True).verdict == FAIL


@pytest.mark.parametrize("direction,measured,verdict", [
    ("two-sided", 93.0, FAIL), ("at-least", 93.0, PASS), ("at-least", 90.5, FAIL),
    ("at-most", 90.0, PASS), ("at-most", 92.9, FAIL),
])
def test_tolerance_directions(direction, measured, verdict):
    claim = _claim("value", published=91.8, tolerance=Tolerance(1.0, direction),
                   requires_model="mlstm")
    assert judge(claim, Measurement(measured), has_release=False).verdict == verdict


def test_shape_claim_uses_its_threshold():
    claim = _claim("shape", published="q", threshold=Threshold("ratio", ">=", 2.0))
    assert judge(claim, Measurement(2.0), False).verdict == PASS
    assert judge(claim, Measurement(1.99), False).verdict == FAIL
    assert judge(claim, Measurement(float("nan")), False).verdict == NOT_RUN
    no_unit = judge(claim, Measurement(float("nan"), {"why": "the probe kept no weight"}), False)
    assert no_unit.verdict == NOT_RUN and no_unit.reason.endswith(": the probe kept no weight")


def test_claim_files_hold_only_data():
    """The claim modules declare claims; they import nothing that computes."""
    claims = Path(__file__).resolve().parents[1] / "neuron_repro" / "claims"
    for path in claims.glob("*2*.py"):
        imports = [line for line in path.read_text().splitlines() if line.startswith(("import",
                                                                                     "from"))]
        assert len(imports) == 1 and imports[0].startswith("from neuron_repro.verdicts import ")
        names = set(imports[0].removeprefix("from neuron_repro.verdicts import ").split(", "))
        assert names <= {"Citation", "Claim", "Precondition", "Threshold", "Tolerance"}, path


def test_every_version_after_the_first_is_in_the_claims_history():
    """A claim's history says what each version changed, so that the docs can show it."""
    for claim in REGISTRY:
        assert [h.split(":")[0] for h in claim.history] == [
            f"v{n}" for n in range(2, claim.version + 1)], claim.id
