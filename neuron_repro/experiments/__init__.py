"""Experiments: functions ``(ctx, claim) -> Measurement`` that claims name by key."""

from neuron_repro.experiments import chada, donnelly, label_efficiency, lopes, ner, steering
from neuron_repro.experiments.sentiment_unit import (
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
    **lopes.EXPERIMENTS,
    **chada.EXPERIMENTS,
    **label_efficiency.EXPERIMENTS,
    **steering.EXPERIMENTS,
}

# Functions ``(ctx, claims)`` run once before a context measures ``claims``: work that is
# shared by several claims and faster done for all at once (the NER baselines in parallel).
PREPARE = (*ner.PREPARE,)


def prepare(ctx, claims) -> None:
    """Run every PREPARE function once for ``ctx``."""
    if not ctx.memo.get("prepared"):
        ctx.memo["prepared"] = True
        for step in PREPARE:
            step(ctx, claims)
