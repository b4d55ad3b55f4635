"""Experiments: functions ``(ctx, claim) -> Measurement`` that claims name by key, one module
per family, each registering itself in :mod:`neuron_repro.experiments.registry` when it is
imported; every module of this package is imported here, so a new family needs no line in
this file."""

import importlib
import pkgutil

from neuron_repro.experiments.registry import (
    EXPERIMENTS,
    FAMILIES,
    fixture_expected,
    fixture_measured,
)

for _module in pkgutil.iter_modules(__path__):  # in name order
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["EXPERIMENTS", "FAMILIES", "fixture_expected", "fixture_measured", "prepare"]


def prepare(ctx, claims) -> None:
    """Run every family's ``prepare`` once for ``ctx``: work that several claims share and
    that is faster done for all at once (the NER baselines in parallel)."""
    def run_each():
        for family in FAMILIES.values():
            if family.prepare is not None:
                family.prepare(ctx, claims)
        return True

    ctx.cached(("prepared",), run_each)
