"""The claim check: one test per registered claim, all against one run of the harness.

By default it runs the fixtures profile (the planted model on the bundled files), where the
claims whose answer is known by construction must reach exactly it; with ``--model``,
``--data-dir`` and ``--profile`` it is a real reproduction. A claim that FAILs fails its test;
a claim that cannot run is skipped with its reason; the report is written at the end of the
session either way.
"""

import json
import math
import re
from pathlib import Path

import pytest

from neuron_repro.claims import REGISTRY
from neuron_repro.experiments import fixture_expected, fixture_measured
from neuron_repro.paths import REPO_ROOT
from neuron_repro.report import summary_line
from neuron_repro.repro import make_context
from neuron_repro.verdicts import FAIL, INCONCLUSIVE, NOT_RUN

FIXTURE_EXPECTED = fixture_expected()
FIXTURE_MEASURED = fixture_measured()


@pytest.mark.parametrize("claim", REGISTRY, ids=[c.id for c in REGISTRY])
def test_claim(claim, reproduction):
    result = reproduction.evaluate(claim)
    if reproduction.ctx.planted and claim.id in FIXTURE_EXPECTED:
        # the planted model's answer is known: the harness must reach exactly it
        assert result.verdict == FIXTURE_EXPECTED[claim.id], (
            f"{claim.id}: {result.verdict} on the planted model, which is built to give "
            f"{FIXTURE_EXPECTED[claim.id]}; {result.reason}")
        return
    if reproduction.ctx.planted and claim.source in FIXTURE_MEASURED:
        # trained on the fixture sentences: no verdict is known, but it must be measured
        assert result.measured is not None, f"{claim.id}: not measured; {result.reason}"
        return
    if result.verdict == NOT_RUN:
        pytest.skip(f"{claim.id}: {result.reason}")
    if result.verdict == INCONCLUSIVE:
        # measured as the source measured it, but the interval cannot decide: not a pass
        pytest.xfail(f"{claim.id}: INCONCLUSIVE: {result.reason}")
    assert result.verdict != FAIL, (
        f"{claim.id}: measured {result.measured}, published {claim.published}; {result.reason}"
    )


RECORDED = Path(__file__).with_name("fixtures-results.json")
# what a rerun may change: how long things took
TIMINGS = ("seconds", "per_second", "minutes", "sentences/s", "search_over_ascent_time")


def _differences(recorded, measured, where: str) -> list[str]:
    """Where ``measured`` differs from ``recorded`` (keys ``recorded`` lacks are new fields,
    not differences; timings are left out)."""
    if isinstance(recorded, dict) and isinstance(measured, dict):
        out = []
        for key, value in recorded.items():
            if any(t in str(key) for t in TIMINGS):
                continue
            if key not in measured:
                out.append(f"{where}.{key}: missing")
            else:
                out += _differences(value, measured[key], f"{where}.{key}")
        return out
    if isinstance(recorded, list) and isinstance(measured, list):
        if len(recorded) != len(measured):
            return [f"{where}: {len(measured)} items, recorded {len(recorded)}"]
        return [d for i, (a, b) in enumerate(zip(recorded, measured, strict=True))
                for d in _differences(a, b, f"{where}[{i}]")]
    if isinstance(recorded, float) and isinstance(measured, int | float):
        same = (math.isnan(recorded) and math.isnan(measured)) or \
            measured == pytest.approx(recorded, rel=1e-9, abs=1e-12)
        return [] if same else [f"{where}: {measured!r}, recorded {recorded!r}"]
    if isinstance(recorded, str) and isinstance(measured, str):
        measured = _paths(measured)
    return [] if recorded == measured else [f"{where}: {measured!r}, recorded {recorded!r}"]


def _paths(text: str) -> str:
    """A message with this checkout's path as ``<repo>`` and the user cache's data root (which
    the tests move) as the recorded run had it."""
    text = text.replace(f"{REPO_ROOT}/", "<repo>/")
    return re.sub(r"else \S*/neuron-repro/data\)", "else /root/.cache/neuron-repro/data)",
                  text)


def test_the_fixtures_run_gives_the_recorded_results(reproduction):
    """Every verdict, number and reason of the fixtures run is the one recorded before the
    package took its present layout (``tests/data/fixtures-results.json``), timings aside.
    A change that moves one must say why and record the run again."""
    if not reproduction.ctx.planted:
        pytest.skip("the recorded run is the fixtures profile's")
    recorded = {row["id"]: row for row in json.loads(RECORDED.read_text())}
    measured = {r.claim.id: json.loads(json.dumps(r.to_dict(), default=str))
                for r in reproduction.results()}
    assert sorted(measured) == sorted(recorded)
    differences = [d for claim_id, row in recorded.items()
                   for d in _differences(row, measured[claim_id], claim_id)]
    assert differences == [], "\n".join(differences[:20])


def test_the_comparison_sees_a_changed_number():
    row = {"id": "x", "measured": 52.28, "details": {"ci95": [50.0, 54.6], "train_seconds": 3.0}}
    assert _differences(row, {**row, "details": {"ci95": [50.0, 54.6], "train_seconds": 9.0},
                              "reason_code": "judged"}, "x") == []
    assert _differences(row, {**row, "measured": 52.29}, "x") == ["x.measured: 52.29, "
                                                                   "recorded 52.28"]
    assert _differences(row, {**row, "details": {"ci95": [50.0]}}, "x") != []


def test_the_check_judged_at_least_one_claim(reproduction):
    """A check in which every claim was NOT RUN checked nothing, and says so by failing."""
    results = reproduction.results()
    judged = [r for r in results if r.verdict != NOT_RUN]
    assert judged, (f"all {len(results)} claims were NOT RUN: this check judged nothing "
                    f"(model {reproduction.ctx.model_spec}, data {reproduction.ctx.data_root})")


def test_an_empty_user_data_folder_leaves_the_check_on_the_fixtures(tmp_path, monkeypatch):
    from tests.claims.conftest import context_options

    monkeypatch.delenv("NEURON_REPRO_DATA", raising=False)
    monkeypatch.delenv("NEURON_REPRO_MODEL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "neuron-repro" / "data" / "sst").mkdir(parents=True)  # a failed download's
    options = context_options(lambda name: None)
    ctx = make_context(**options, out_dir=tmp_path / "out", progress=False)
    assert ctx.planted and ctx.fixtures and ctx.profile == "fixtures"
    # what the check ran on before: the user's data root, with no model and no fixtures
    before = make_context(out_dir=tmp_path / "out", progress=False)
    assert not before.fixtures


def test_report_written(reproduction):
    """Runs last in this module: every claim has a row in the report."""
    path = reproduction.write()
    text = path.read_text()
    for claim in REGISTRY:
        assert f"`{claim.id}`" in text
    assert summary_line(reproduction.results()) in text
