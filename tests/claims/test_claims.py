"""The claim check: one test per registered claim, all against one run of the harness.

By default it runs the fixtures profile (the planted model on the bundled files), where the
claims whose answer is known by construction must reach exactly it; with ``--model``,
``--data-dir`` and ``--profile`` it is a real reproduction. A claim that FAILs fails its test;
a claim that cannot run is skipped with its reason; the report is written at the end of the
session either way.
"""

import pytest

from neuron_repro.claims import REGISTRY
from neuron_repro.report import summary_line
from neuron_repro.repro import FIXTURE_EXPECTED, FIXTURE_MEASURED
from neuron_repro.verdicts import FAIL, NOT_RUN


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
    assert result.verdict != FAIL, (
        f"{claim.id}: measured {result.measured}, published {claim.published}; {result.reason}"
    )


def test_report_written(reproduction):
    """Runs last in this module: every claim has a row in the report."""
    path = reproduction.write()
    text = path.read_text()
    for claim in REGISTRY:
        assert f"`{claim.id}`" in text
    assert summary_line(reproduction.results()) in text
