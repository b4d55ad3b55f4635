"""Claims as data: what a source asserts, how it is checked, and the verdict of one run.

A claim is either a ``value`` (a number that must fall within a declared tolerance of the
published one, judged only on the artefact the source used) or a ``shape`` (a relation the
source asserts, with a statistic and a threshold declared here before any run, judged on
whatever model the run uses). The registry of every claim lives in the ``claims`` package.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any

from harness.io import jsonable

PASS, FAIL, NOT_RUN = "PASS", "FAIL", "NOT RUN"
VERDICTS = (PASS, FAIL, NOT_RUN)
KINDS = ("value", "shape", "value+shape")
NOT_IMPLEMENTED = "experiment not implemented"

# What a claim needs from the run. "openai-release" is OpenAI's 4096-unit weights, verified
# file by file against the release's git blob ids.
MODEL_REQUIREMENTS = ("openai-release", "mlstm", "ner-tagger", "word-lstm", "none")


@dataclass(frozen=True)
class Citation:
    """Short name of the source, the full reference, and where in it the claim stands."""

    source: str
    reference: str
    where: str = ""

    def __str__(self) -> str:
        return f"{self.reference}, {self.where}" if self.where else self.reference


@dataclass(frozen=True)
class Tolerance:
    """How far a measured value may lie from the published one, and in which direction.

    ``two-sided``: |measured - published| <= amount; ``at-least``: measured >= published -
    amount; ``at-most``: measured <= published + amount. Units are those of the metric.
    """

    amount: float
    direction: str = "two-sided"
    why: str = ""

    def __post_init__(self):
        if self.direction not in ("two-sided", "at-least", "at-most"):
            raise ValueError(f"unknown tolerance direction {self.direction!r}")

    def holds(self, measured: float, published: float) -> bool:
        if self.direction == "two-sided":
            return abs(measured - published) <= self.amount + 1e-9
        if self.direction == "at-least":
            return measured >= published - self.amount - 1e-9
        return measured <= published + self.amount + 1e-9

    def __str__(self) -> str:
        sign = {"two-sided": "±", "at-least": "-", "at-most": "+"}[self.direction]
        return f"{sign}{self.amount:g}"


_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


@dataclass(frozen=True)
class Threshold:
    """A shape claim's test: ``statistic op value`` (e.g. ``weight_ratio >= 2``)."""

    statistic: str
    op: str
    value: float
    proposed: bool = False

    def holds(self, measured: float) -> bool:
        return bool(_OPS[self.op](measured, self.value))

    def __str__(self) -> str:
        text = f"{self.statistic} {self.op} {self.value:g}"
        return text + (" (proposed)" if self.proposed else "")


@dataclass(frozen=True)
class Claim:
    """One published claim.

    ``id`` is ``<source>.<dataset or table>.<quantity>`` and is also the test id.
    ``experiment`` names an entry of ``harness.analysis.EXPERIMENTS`` (``None``: not built
    yet); ``params`` are the protocol parameters passed to it.
    """

    id: str
    citation: Citation
    statement: str
    kind: str
    metric: str
    published: Any = None
    tolerance: Tolerance | None = None
    threshold: Threshold | None = None
    experiment: str | None = None
    params: dict = field(default_factory=dict)
    requires_model: str = "mlstm"
    requires_data: tuple[str, ...] = ()
    requires_device: str = "cpu"
    version: int = 1

    @property
    def source(self) -> str:
        return self.citation.source

    def requirement_text(self) -> str:
        model = {
            "openai-release": "OpenAI's released 4096-unit mLSTM weights (openai:FOLDER)",
            "mlstm": "any byte-level mLSTM (--model)",
            "ner-tagger": "a CoNLL-2003 tagger trained by the harness",
            "word-lstm": "a word-level LSTM sentiment classifier trained by the harness",
            "none": "no model",
        }[self.requires_model]
        data = ", ".join(self.requires_data) or "no data"
        device = "" if self.requires_device == "cpu" else f"; {self.requires_device}"
        return f"{model}; data: {data}{device}"


@dataclass
class Measurement:
    """What an experiment returns for one claim: the number judged, and what explains it."""

    value: Any
    details: dict = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)


@dataclass
class ClaimResult:
    claim: Claim
    verdict: str
    measured: Any = None
    reason: str = ""
    details: dict = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    control: ClaimResult | None = None  # the same claim on the untrained control

    def to_dict(self) -> dict:
        c = self.claim
        return {
            "id": c.id,
            "source": c.source,
            "kind": c.kind,
            "statement": c.statement,
            "metric": c.metric,
            "published": c.published,
            "measured": _jsonable(self.measured),
            "tolerance": str(c.tolerance) if c.tolerance else None,
            "threshold": str(c.threshold) if c.threshold else None,
            "verdict": self.verdict,
            "reason": self.reason,
            "requires": c.requirement_text(),
            "citation": str(c.citation),
            "version": c.version,
            "details": _jsonable(self.details),
            "figures": self.figures,
            "control": None if self.control is None else {
                "measured": _jsonable(self.control.measured),
                "verdict": self.control.verdict,
                "reason": self.control.reason,
                "figures": [f"control/{f}" for f in self.control.figures],
            },
        }


def judge(claim: Claim, measurement: Measurement, has_release: bool,
          fixtures: bool = False) -> ClaimResult:
    """The verdict of one measured claim.

    A value claim that names OpenAI's release is only judged on it: with another model the
    row keeps the measured number and says which artefact was missing. A value claim is never
    judged on the fixture files, nor when the source published no number (only a figure).
    """
    value = measurement.value
    result = ClaimResult(claim, NOT_RUN, value, details=measurement.details,
                         figures=measurement.figures)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        why = (measurement.details or {}).get("why")
        result.reason = "the experiment produced no value" + (f": {why}" if why else "")
        return result
    if claim.kind == "shape":
        ok = claim.threshold.holds(value)
        result.verdict = PASS if ok else FAIL
        result.reason = f"{claim.threshold.statistic} = {_fmt(value)}; needs {claim.threshold}"
        return result
    if claim.requires_model == "openai-release" and not has_release:
        result.reason = "needs OpenAI's released weights to judge; measured here for comparison"
        return result
    if fixtures:
        result.reason = "a published value is judged on the real data only; measured here on "\
            "the fixture files"
        return result
    if not isinstance(claim.published, int | float):
        result.reason = f"the source published no number ({claim.published}); the measured "\
            "value and its figure are in the report"
        return result
    ok = claim.tolerance.holds(value, claim.published)
    result.verdict = PASS if ok else FAIL
    result.reason = f"|{_fmt(value)} - {claim.published}| within {claim.tolerance}" if ok else (
        f"{_fmt(value)} is outside {claim.published} {claim.tolerance}"
    )
    return result


def not_run(claim: Claim, reason: str) -> ClaimResult:
    return ClaimResult(claim, NOT_RUN, None, reason=reason)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _jsonable(value):
    """Plain Python values; floats that are not finite stay floats, for the JSON writer
    (:func:`harness.io.write_json`) to write as null and record where."""
    return jsonable(value, finite=False)


def select_claims(claims: list[Claim], patterns) -> list[Claim]:
    """The claims whose id contains one of ``patterns`` (all of them when none is given); a
    pattern that matches no claim is an error that lists the closest ids."""
    import difflib

    if not patterns:
        return list(claims)
    ids = [c.id for c in claims]
    for pattern in patterns:
        if not any(pattern in i for i in ids):
            close = difflib.get_close_matches(pattern, ids, n=5, cutoff=0.4) or \
                difflib.get_close_matches(pattern, [i.split(".", 1)[-1] for i in ids], n=5,
                                          cutoff=0.4)
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise ValueError(f"--only {pattern!r} matches no claim{hint}. `neuron-repro claims` "
                             "lists them all")
    return [c for c in claims if any(p in c.id for p in patterns)]
