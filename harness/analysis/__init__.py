"""Experiments: functions ``(ctx, claim) -> Measurement`` that claims name by key."""

from harness.analysis import donnelly, ner
from harness.analysis.sentiment_unit import (
    dominant_unit_experiment,
    probe_experiment,
    zero_shot_experiment,
)

EXPERIMENTS = {
    "probe": probe_experiment,
    "dominant_unit": dominant_unit_experiment,
    "zero_shot": zero_shot_experiment,
    **donnelly.EXPERIMENTS,
    **ner.EXPERIMENTS,
}
