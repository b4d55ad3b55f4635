"""Experiments: functions ``(ctx, claim) -> Measurement`` that claims name by key."""

from harness.analysis import donnelly, ner
from harness.analysis.sentiment_unit import probe_experiment, zero_shot_experiment

EXPERIMENTS = {
    "probe": probe_experiment,
    "zero_shot": zero_shot_experiment,
    **donnelly.EXPERIMENTS,
    **ner.EXPERIMENTS,
}
