"""Claims as data: what a source asserts, how it is checked, and the verdict of one run.

A claim is either a ``value`` (a number that must fall within a declared tolerance of the
published one, judged only on the artefact the source used) or a ``shape`` (a relation the
source asserts, with a statistic and a threshold declared here before any run, judged on
whatever model the run uses). The registry of every claim lives in the ``claims`` package.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass, field
from typing import Any

from neuron_repro.io import jsonable

PASS, FAIL, INCONCLUSIVE, NOT_RUN = "PASS", "FAIL", "INCONCLUSIVE", "NOT RUN"
# INCONCLUSIVE: measured as the source measured it, but the 95 % interval straddles the
# boundary of the claim's rule, so the measurement cannot decide
VERDICTS = (PASS, FAIL, INCONCLUSIVE, NOT_RUN)
JUDGED = (PASS, FAIL, INCONCLUSIVE)
# Where an interval comes from: test-set sampling (binomial: Wilson or exact), the spread
# over folds (folds: a t interval of the fold mean), over training seeds (seeds: a t interval
# of the seed mean; prediction: where one more training run would fall), or a bootstrap.
INTERVAL_KINDS = ("binomial", "folds", "seeds", "prediction", "bootstrap")
KINDS = ("value", "shape", "value+shape")
NOT_IMPLEMENTED = "experiment not implemented"
# Why a row has its verdict, as a code that a reader of results.json need not parse prose for:
# judged (PASS or FAIL); NOT RUN because the value is judged only on the source's artefact
# (release), not on the fixture files (fixtures), the source published no number
# (no_published), the model has no sentiment unit (no_unit), its classifiers have nothing to
# lose (classifier), the run fell short of the protocol (budget), no value came out
# (no_value), the experiment is not built (not_implemented), the claim was left out of the
# run (skipped), a model, data file or setting was missing or unusable (input), or the
# experiment raised (failed).
# A claim whose declared preconditions were not all checked (judge called without their
# results) is NOT RUN as unchecked.
REASON_CODES = ("judged", "release", "fixtures", "no_published", "no_unit", "classifier",
                "budget", "no_value", "not_implemented", "skipped", "input", "failed",
                "unchecked")

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

    def at(self, where: str) -> Citation:
        """The same source, at ``where`` (a section, table or figure)."""
        return Citation(self.source, self.reference, where)


@dataclass(frozen=True)
class Interval:
    """The 95 % (``level``) interval of a measured number and where its uncertainty comes
    from (``kind``, one of :data:`INTERVAL_KINDS`); ``n`` is how many test items, folds, seeds
    or resamples it rests on."""

    low: float
    high: float
    kind: str
    level: float = 0.95
    n: int | None = None
    note: str = ""

    def __post_init__(self):
        if self.kind not in INTERVAL_KINDS:
            raise ValueError(f"unknown interval kind {self.kind!r}; one of "
                             f"{', '.join(INTERVAL_KINDS)}")
        low, high = float(self.low), float(self.high)
        if math.isnan(low) or math.isnan(high) or low > high:
            raise ValueError(f"an interval needs low <= high, got [{self.low}, {self.high}]")
        if not 0 < self.level < 1:
            raise ValueError(f"an interval's level is in (0, 1), got {self.level}")

    @property
    def z(self) -> float:
        from scipy.stats import norm

        return float(norm.ppf(0.5 + self.level / 2))

    @property
    def se(self) -> float:
        """The standard error the interval implies (its half-width over z)."""
        return (float(self.high) - float(self.low)) / (2 * self.z)

    def widened(self, se: float, why: str) -> Interval:
        """The interval with a second, independent source of error of standard error ``se``
        added (the published number's own sampling error), around the same centre."""
        centre = (float(self.low) + float(self.high)) / 2
        half = self.z * math.hypot(self.se, se)
        note = f"{self.note}; {why}" if self.note else why
        return Interval(centre - half, centre + half, self.kind, self.level, self.n, note)

    def to_dict(self) -> dict:
        return {"low": float(self.low), "high": float(self.high), "kind": self.kind,
                "level": self.level, "n": self.n, "note": self.note}

    def __str__(self) -> str:
        return f"[{_fmt(float(self.low))}, {_fmt(float(self.high))}]"


def _decide(low: float, high: float, lower: float, upper: float) -> str:
    """PASS when [low, high] lies inside [lower, upper], FAIL when wholly outside it,
    INCONCLUSIVE when it straddles a boundary."""
    if low >= lower - 1e-9 and high <= upper + 1e-9:
        return PASS
    if high < lower - 1e-9 or low > upper + 1e-9:
        return FAIL
    return INCONCLUSIVE


def _margin(value: float, lower: float, upper: float, se: float) -> float | None:
    """How far ``value`` lies inside [lower, upper] (negative: outside), in standard errors."""
    inside = min(value - lower, upper - value)
    if se <= 0:
        return None if inside == 0 else math.copysign(math.inf, inside)
    return inside / se


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

    def region(self, published: float) -> tuple[float, float]:
        """The values that agree with ``published``."""
        if self.direction == "two-sided":
            return published - self.amount, published + self.amount
        if self.direction == "at-least":
            return published - self.amount, math.inf
        return -math.inf, published + self.amount

    def holds(self, measured: float, published: float) -> bool:
        return _decide(measured, measured, *self.region(published)) == PASS

    def __str__(self) -> str:
        sign = {"two-sided": "±", "at-least": "-", "at-most": "+"}[self.direction]
        return f"{sign}{self.amount:g}"


_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
        "==": operator.eq}


@dataclass(frozen=True)
class Threshold:
    """A shape claim's test: ``statistic op value`` (e.g. ``weight_ratio >= 2``).

    ``also`` are further conditions that must hold too, each on a statistic the experiment
    reports in its details; ``alternatives`` are conditions any one of which is enough
    instead (``ks_p > 0.01``, or else ``auc_distance_from_half <= 0.05``).
    """

    statistic: str
    op: str
    value: float
    proposed: bool = False
    also: tuple[Threshold, ...] = ()
    alternatives: tuple[Threshold, ...] = ()

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"unknown operator {self.op!r}")

    def _one(self, measured) -> bool:
        try:
            return measured is not None and bool(_OPS[self.op](measured, self.value))
        except TypeError:
            return False

    def decide(self, low: float, high: float) -> str:
        """PASS when every value of [low, high] satisfies ``op value``, FAIL when none does,
        INCONCLUSIVE otherwise."""
        v = self.value
        every, none = {">=": (low >= v, high < v), ">": (low > v, high <= v),
                       "<=": (high <= v, low > v), "<": (high < v, low >= v),
                       "==": (low == high == v, v < low or v > high)}[self.op]
        return PASS if every else FAIL if none else INCONCLUSIVE

    def margin(self, measured: float, se: float) -> float | None:
        """How far ``measured`` lies on the holding side of ``value``, in standard errors."""
        gap = {">=": measured - self.value, ">": measured - self.value,
               "<=": self.value - measured, "<": self.value - measured,
               "==": -abs(measured - self.value)}[self.op]
        if se <= 0:
            return None if gap == 0 else math.copysign(math.inf, gap)
        return gap / se

    def holds(self, measured, details: dict | None = None) -> bool:
        details = details or {}
        main = self._one(measured) and all(t._one(details.get(t.statistic)) for t in self.also)
        return main or any(t._one(details.get(t.statistic)) for t in self.alternatives)

    def explain(self, measured, details: dict | None = None) -> str:
        """Each condition with the measured statistic and whether it holds."""
        details = details or {}
        parts = [f"{self.statistic} = {_fmt(measured)} (needs {self.op} {self.value:g})"]
        parts += [f"{t.statistic} = {_fmt(details.get(t.statistic))} (needs {t.op} "
                  f"{t.value:g})" for t in self.also]
        text = "; ".join(parts)
        if self.alternatives:
            text += "; or else " + "; ".join(
                f"{t.statistic} = {_fmt(details.get(t.statistic))} (needs {t.op} {t.value:g})"
                for t in self.alternatives)
        return text

    def __str__(self) -> str:
        text = " and ".join(f"{t.statistic} {t.op} {t.value:g}" for t in (self, *self.also))
        if self.alternatives:
            text += ", or " + " or ".join(f"{t.statistic} {t.op} {t.value:g}"
                                          for t in self.alternatives)
        return text + (" (proposed)" if self.proposed else "")


FEATURE_NAMES = {"final": "final-state", "mean": "mean-pool"}


@dataclass(frozen=True)
class Precondition:
    """What a claim presupposes of the run's model, checked before its verdict.

    ``kind="sentiment_unit"``: the probe of ``dataset`` (``probe`` names whose protocol:
    ``radford``, the paper's splits or 10 folds, or ``donnelly``, the 70/10/20 splits) has a
    unit whose classifier alone beats the majority class of the test set (pooled over the folds
    where there are folds): one-sided exact binomial test, p < ``alpha``. A claim about "the
    sentiment unit" is neither confirmed nor refuted on a model that has none.

    ``kind="classifier"``: the clean-trained classifier of ``dataset`` on ``features``
    (``final`` or ``mean``; the donnelly probe) beats the majority class of its test set by at
    least ``margin`` points. A claim about what an attack costs a classifier is neither
    confirmed nor refuted on one that has no accuracy to lose.
    """

    dataset: str
    probe: str = "radford"
    alpha: float = 0.01
    kind: str = "sentiment_unit"
    features: str = "final"
    margin: float = 0.0

    def __post_init__(self):
        if self.kind not in ("sentiment_unit", "classifier"):
            raise ValueError(f"unknown precondition kind {self.kind!r}")
        if self.kind == "classifier" and (self.probe != "donnelly"
                                          or self.features not in FEATURE_NAMES):
            raise ValueError("a classifier precondition is on the donnelly probe's final or "
                             "mean features")

    def __str__(self) -> str:
        if self.kind == "classifier":
            return (f"the clean {FEATURE_NAMES[self.features]} classifier on "
                    f"{self.dataset.upper()} ({self.probe} probe) beats the majority class of "
                    f"its test set by at least {self.margin:g} points")
        return (f"a sentiment unit on {self.dataset.upper()} ({self.probe} probe): the unit "
                f"alone beats the majority class, one-sided binomial p < {self.alpha:g}")

    @property
    def unmet(self) -> str:
        """What a failed check of it says, before its summary."""
        if self.kind == "classifier":
            return (f"the {FEATURE_NAMES[self.features]} classifier on {self.dataset.upper()} "
                    f"is less than {self.margin:g} points above the majority class")
        return f"no sentiment unit on {self.dataset.upper()}"


@dataclass
class PreconditionResult:
    precondition: Precondition
    holds: bool
    summary: str  # e.g. "alone 51.07 %, majority 50.08 %, p = 0.23"
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        pre = self.precondition
        which = {"features": pre.features, "margin": pre.margin} \
            if pre.kind == "classifier" else {}
        return {"precondition": str(pre), "kind": pre.kind, "dataset": pre.dataset,
                "probe": pre.probe, **which, "holds": self.holds, "summary": self.summary,
                **self.details}


@dataclass(frozen=True)
class Claim:
    """One published claim.

    ``id`` is ``<source>.<dataset or table>.<quantity>`` and is also the test id.
    ``experiment`` names an entry of ``neuron_repro.experiments.EXPERIMENTS`` (``None``: not built
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
    # checked before the verdict; "all" of them must hold, or (for a claim judged over
    # several datasets) "any" one, the experiment then judging over those that hold
    preconditions: tuple[Precondition, ...] = ()
    precondition_mode: str = "all"
    # the source's budget: {name: amount} (epochs, seeds, subsets ...); a run below any of
    # them is NOT RUN with the measured value
    protocol: dict = field(default_factory=dict)
    # value+shape claims: the shape half's threshold (the value half uses ``tolerance``)
    shape_threshold: Threshold | None = None
    # how a table shows the published value when it is not one number (a table, a figure)
    published_text: str | None = None
    # the published value's own standard error, where its test set differs from ours in size
    # or split: both sides' sampling error then count (the interval is widened by it)
    published_se: float | None = None
    # why the rule reads as it does (a proposed threshold's argument), shown in the docs
    rationale: str = ""
    # what each version after the first changed: ("v2: ...", "v3: ..."), one per version
    history: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return self.citation.source

    def copy_params(self, **params) -> Claim:
        """This claim with more (or other) protocol parameters."""
        from dataclasses import replace

        return replace(self, params={**self.params, **params})

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
class FigureSpec:
    """A figure an experiment asks for: the runner draws it (:func:`neuron_repro.figures.draw`)
    into the report folder after the claim is judged. ``kind`` names a function of
    :mod:`neuron_repro.figures`, ``data`` its keyword arguments."""

    name: str  # the file name in the report folder
    kind: str
    data: dict
    caption: str = ""


@dataclass
class Measurement:
    """What an experiment returns for one claim: the number judged, and what explains it."""

    value: Any
    details: dict = field(default_factory=dict)
    figures: list[FigureSpec] = field(default_factory=list)
    budget: dict = field(default_factory=dict)  # what the run spent, against Claim.protocol
    shape_value: Any = None  # value+shape claims: the shape half's statistic
    note: str = ""  # said after the verdict's reason (e.g. which datasets were left out)
    interval: Interval | None = None  # of ``value``
    shape_interval: Interval | None = None  # of ``shape_value``


@dataclass
class ClaimResult:
    claim: Claim
    verdict: str
    measured: Any = None
    reason: str = ""
    details: dict = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    captions: dict[str, str] = field(default_factory=dict)  # figure name -> caption
    pages: list[str] = field(default_factory=list)  # files beside the figures (.html, .md)
    reason_code: str = ""  # one of REASON_CODES; by default judged for PASS and FAIL, else input
    control: ClaimResult | None = None  # the same claim on the untrained control
    preconditions: list[PreconditionResult] = field(default_factory=list)
    parts: dict = field(default_factory=dict)  # value+shape: {half: {verdict, reason, ...}}
    interval: Interval | None = None  # of ``measured``; None: a point estimate
    margin_se: float | None = None  # how far inside the rule's boundary, in standard errors

    def __post_init__(self):
        if not self.reason_code:
            self.reason_code = "judged" if self.verdict in JUDGED else "input"

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
            "interval": None if self.interval is None else self.interval.to_dict(),
            "margin_se": _jsonable(self.margin_se),
            "tolerance": str(c.tolerance) if c.tolerance else None,
            "threshold": str(c.threshold) if c.threshold else None,
            "verdict": self.verdict,
            "reason": self.reason,
            "reason_code": self.reason_code,
            "requires": c.requirement_text(),
            "citation": str(c.citation),
            "version": c.version,
            "details": _jsonable(self.details),
            "figures": self.figures,
            "captions": dict(self.captions),
            "pages": self.pages,
            "preconditions": [p.to_dict() for p in self.preconditions],
            "protocol": _jsonable(c.protocol),
            "parts": _jsonable(self.parts),
            "control": None if self.control is None else {
                "measured": _jsonable(self.control.measured),
                "interval": None if self.control.interval is None
                else self.control.interval.to_dict(),
                "margin_se": _jsonable(self.control.margin_se),
                "details": _jsonable(self.control.details),
                "verdict": self.control.verdict,
                "reason": self.control.reason,
                "reason_code": self.control.reason_code,
                "figures": [f"control/{f}" for f in self.control.figures],
                "captions": dict(self.control.captions),
                "pages": [f"control/{f}" for f in self.control.pages],
                "preconditions": [p.to_dict() for p in self.control.preconditions],
                "parts": _jsonable(self.control.parts),
            },
        }


def _missing(value) -> bool:
    """No value: None, or a NaN of any real type (numpy's float32 included)."""
    return value is None or (isinstance(value, numbers.Real) and math.isnan(float(value)))


def reduced_budget(claim: Claim, measurement: Measurement) -> str | None:
    """Why the run fell short of the claim's protocol, or None when it followed it."""
    short = []
    for name, full in claim.protocol.items():
        spent = measurement.budget.get(name)
        if spent is None:
            short.append(f"the experiment did not report its {name}")
        elif not isinstance(spent, numbers.Real) or isinstance(spent, bool) or \
                math.isnan(float(spent)):
            short.append(f"the experiment reported its {name} as {spent!r}, not a number")
        elif spent < full:
            short.append(f"{spent:g} of the protocol's {full:g} {name}")
    return "reduced budget: " + ", ".join(short) if short else None


def unchecked_preconditions(claim: Claim, checks: list[PreconditionResult]) -> str | None:
    """Why a claim cannot be judged on these checks: a precondition it declares has no result
    among them (an empty list does not count as met)."""
    given = {c.precondition for c in checks}
    missing = [p for p in claim.preconditions if p not in given]
    if not missing:
        return None
    return ("precondition not checked: " + "; ".join(str(p) for p in missing)
            + ". Pass each declared precondition's result to judge() "
            "(neuron_repro.experiments.preconditions.check_precondition)")


def failed_preconditions(claim: Claim, checks: list[PreconditionResult]) -> str | None:
    """Why the claim's preconditions do not hold, or None when they do."""
    if not checks:
        return None
    failed = [c for c in checks if not c.holds]
    if not failed or (claim.precondition_mode == "any" and len(failed) < len(checks)):
        return None
    said = [f"{c.precondition.unmet} ({c.summary})" for c in failed
            if c.precondition.kind != "classifier"]
    classifiers = [c for c in checks if c.precondition.kind == "classifier"]
    short = [c for c in failed if c.precondition.kind == "classifier"]
    if len(short) == 1:
        said.append(f"{short[0].precondition.unmet} ({short[0].summary})")
    elif short:
        margins = "/".join(dict.fromkeys(f"{c.precondition.margin:g}" for c in short))
        said.append(f"{len(short)} of the {len(classifiers)} clean classifiers are less than "
                    f"{margins} points above the majority class of their test set: " + ", ".join(
                        f"{c.precondition.dataset.upper()} "
                        f"{FEATURE_NAMES[c.precondition.features]} ({c.summary})" for c in short))
    return "precondition: " + "; ".join(said)


def value_verdict(claim, value, has_release, fixtures, interval=None
                 ) -> tuple[str, str, str, float | None]:
    """(verdict, reason, reason code, margin in standard errors) of a value claim's measured
    value: judged on its interval when it has one, else on the point (said so)."""
    if claim.requires_model == "openai-release" and not has_release:
        return (NOT_RUN, "needs OpenAI's released weights to judge; measured here for "
                "comparison", "release", None)
    if fixtures:
        return NOT_RUN, ("a published value is judged on the real data only; measured here on "
                         "the fixture files"), "fixtures", None
    if not isinstance(claim.published, int | float):
        return NOT_RUN, (f"the source published no number ({claim.published}); the measured "
                         "value and its figure are in the report"), "no_published", None
    lower, upper = claim.tolerance.region(claim.published)
    if interval is None:
        verdict = PASS if claim.tolerance.holds(value, claim.published) else FAIL
        said = (f"|{_fmt(value)} - {claim.published}| within {claim.tolerance}"
                if verdict == PASS else f"{_fmt(value)} is outside {claim.published} "
                f"{claim.tolerance}")
        return verdict, f"{said} (a point estimate: no interval)", "judged", None
    if claim.published_se:
        interval = interval.widened(claim.published_se, "the published value's own sampling "
                                    f"error (se {claim.published_se:g}) added")
    verdict = _decide(float(interval.low), float(interval.high), lower, upper)
    margin = _margin(float(value), lower, upper, interval.se)
    where = {PASS: "lies inside", FAIL: "lies wholly outside",
             INCONCLUSIVE: "straddles the boundary of"}[verdict]
    return verdict, (f"{_fmt(value)}, {interval.level * 100:g} % {interval.kind} interval "
                     f"{interval}, {where} "
                     f"{claim.published} {claim.tolerance}{_margin_text(margin)}"), "judged", \
        margin


def _margin_text(margin: float | None) -> str:
    if margin is None or math.isinf(margin):
        return ""
    return f" (margin {margin:+.1f} se)"


def shape_verdict(threshold: Threshold, value, details, interval=None
                 ) -> tuple[str, str, str, float | None]:
    text = threshold.explain(value, details)
    if interval is None:
        verdict = PASS if threshold.holds(value, details) else FAIL
        return verdict, f"{text} (a point estimate: no interval)", "judged", None
    verdict = threshold.decide(float(interval.low), float(interval.high))
    margin = threshold.margin(float(value), interval.se)
    if threshold.also and not all(t._one(details.get(t.statistic)) for t in threshold.also):
        # a further condition, judged on its point value, does not hold; when the main
        # statistic alone would not have failed, the verdict is not its, nor is a margin
        verdict, margin = FAIL, margin if verdict == FAIL else None
    if verdict != PASS and threshold.alternatives and any(
            t._one(details.get(t.statistic)) for t in threshold.alternatives):
        verdict, margin = PASS, None
    return verdict, (f"{text}; {interval.level * 100:g} % {interval.kind} interval of "
                     f"{threshold.statistic} "
                     f"{interval}{_margin_text(margin)}"), "judged", margin


def _precondition_code(checks: list[PreconditionResult]) -> str:
    """no_unit when a sentiment-unit precondition failed, else classifier."""
    failed = [c for c in checks if not c.holds]
    return "classifier" if all(c.precondition.kind == "classifier" for c in failed) \
        else "no_unit"


def judge(claim: Claim, measurement: Measurement, has_release: bool,
          fixtures: bool = False, preconditions: list[PreconditionResult] = ()) -> ClaimResult:
    """The verdict of one measured claim.

    In this order: a claim whose preconditions fail is NOT RUN (its statistic still shown);
    one without a value is NOT RUN; one whose run fell short of its protocol (fewer epochs,
    seeds or draws) is NOT RUN with the measured value. A value claim that names OpenAI's
    release is only judged on it, never on the fixture files, and never when the source
    published no number. A shape claim is judged on any model. A value+shape claim has both
    halves judged and shown: it PASSes when both do, FAILs when either does, and is NOT RUN
    otherwise (the value half is judged only on the source's artefact).
    """
    result = _judge(claim, measurement, has_release, fixtures, list(preconditions))
    if measurement.note:
        result.reason += f"; {measurement.note}"
    return result


def _judge(claim, measurement, has_release, fixtures, preconditions) -> ClaimResult:
    value = measurement.value
    shown = [f for f in measurement.figures if f.name.endswith(".png")]  # pages stand beside
    result = ClaimResult(claim, NOT_RUN, value, details=measurement.details,
                         figures=[f.name for f in shown],
                         captions={f.name: f.caption for f in shown},
                         pages=[f.name for f in measurement.figures if not f.name.endswith(".png")],
                         preconditions=preconditions, interval=measurement.interval)
    blocked = unchecked_preconditions(claim, result.preconditions)
    if blocked:
        result.reason, result.reason_code = blocked, "unchecked"
        return result
    blocked = failed_preconditions(claim, result.preconditions)
    if blocked:
        result.reason, result.reason_code = blocked, _precondition_code(result.preconditions)
        return result
    if _missing(value):
        why = (measurement.details or {}).get("why")
        result.reason = "the experiment produced no value" + (f": {why}" if why else "")
        result.reason_code = "no_value"
        return result
    blocked = reduced_budget(claim, measurement)
    if blocked:
        result.reason, result.reason_code = blocked, "budget"
        return result
    if claim.kind == "shape":
        result.verdict, result.reason, result.reason_code, result.margin_se = shape_verdict(
            claim.threshold, value, measurement.details, measurement.interval)
        return result
    if claim.kind == "value+shape":
        halves = {"value": value_verdict(claim, value, has_release, fixtures,
                                        measurement.interval),
                  "shape": (NOT_RUN, "the experiment produced no shape statistic", "no_value",
                            None)
                  if _missing(measurement.shape_value) or claim.shape_threshold is None
                  else shape_verdict(claim.shape_threshold, measurement.shape_value,
                                    measurement.details, measurement.shape_interval)}
        result.parts = {half: {"verdict": v, "reason": r, "margin_se": m}
                        for half, (v, r, _, m) in halves.items()}
        result.parts["shape"]["measured"] = measurement.shape_value
        if measurement.shape_interval is not None:
            result.parts["shape"]["interval"] = measurement.shape_interval.to_dict()
        verdicts = [v for v, _, _, _ in halves.values()]
        result.verdict = FAIL if FAIL in verdicts else NOT_RUN if NOT_RUN in verdicts \
            else INCONCLUSIVE if INCONCLUSIVE in verdicts else PASS
        result.reason = "; ".join(f"{half} half {v}: {r}"
                                  for half, (v, r, _, _) in halves.items())
        # NOT RUN: why the first half that was not judged was not
        result.reason_code = next((c for v, _, c, _ in halves.values() if v == NOT_RUN),
                                  "judged")
        result.margin_se = halves["value"][3]
        return result
    result.verdict, result.reason, result.reason_code, result.margin_se = value_verdict(
        claim, value, has_release, fixtures, measurement.interval)
    return result


def not_run(claim: Claim, reason: str, code: str = "input") -> ClaimResult:
    """A claim that could not be measured; ``code`` says why (one of REASON_CODES)."""
    if code not in REASON_CODES:
        raise ValueError(f"unknown reason code {code!r}")
    return ClaimResult(claim, NOT_RUN, None, reason=reason, reason_code=code)


def _fmt(value) -> str:
    if value is None:
        return "none"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _jsonable(value):
    """Plain Python values; floats that are not finite stay floats, for the JSON writer
    (:func:`neuron_repro.io.write_json`) to write as null and record where."""
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
