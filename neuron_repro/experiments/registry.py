"""The experiment registry: each family module registers its experiments, its settings and
what its claims give on the planted fixtures, in one place (as lm-evaluation-harness's task
registry does); the runner and the claim check read only this.

A family module declares, at its top level::

    FAMILY = register_family(Family("ner", settings=NerSettings(),
                                    fixture_settings=NerSettings(seeds=5, ...),
                                    fixture_measured=("nerneurons2020",)))

    @experiment("ner_baseline")
    def baseline_experiment(ctx, claim): ...

and a claim names its experiment by that one name. ``--set ner.seeds=3`` sets a field of the
family's settings for one run (:func:`settings_with`).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

EXPERIMENTS: dict[str, Callable] = {}  # name -> function (ctx, claim) -> Measurement
FAMILIES: dict[str, Family] = {}


@dataclass(frozen=True)
class Family:
    """One experiment family.

    ``settings`` is a dataclass instance of its options (None: it has none), with the
    sources' values; ``fixture_settings`` replaces it on the fixtures profile. On the planted
    model the claims of ``fixture_expected`` must reach exactly the verdict given, and every
    claim of a source in ``fixture_measured`` (trained on the fixture texts, so with no known
    answer) must be measured. ``prepare`` runs once before a run measures any of the family's
    claims: ``prepare(ctx, claims)``.
    """

    name: str
    settings: Any = None
    fixture_settings: Any = None
    fixture_expected: dict[str, str] = field(default_factory=dict)
    fixture_measured: tuple[str, ...] = ()
    prepare: Callable | None = None


def register_family(family: Family) -> Family:
    if family.name in FAMILIES:
        raise ValueError(f"experiment family {family.name!r} is registered twice")
    FAMILIES[family.name] = family
    return family


def experiment(name: str):
    """Register the decorated function as the experiment ``name``."""
    def register(function):
        if name in EXPERIMENTS:
            raise ValueError(f"experiment {name!r} is registered twice")
        EXPERIMENTS[name] = function
        return function
    return register


def register_experiments(experiments: dict[str, Callable]) -> dict[str, Callable]:
    """Register each of ``experiments`` under its name; returns them."""
    for name, function in experiments.items():
        experiment(name)(function)
    return experiments


def fixture_expected() -> dict[str, str]:
    """Claim id -> the verdict the planted model gives by construction, over all families."""
    return {k: v for f in FAMILIES.values() for k, v in f.fixture_expected.items()}


def fixture_measured() -> tuple[str, ...]:
    """The sources whose claims must be measured on the fixtures (no answer known)."""
    return tuple(s for f in FAMILIES.values() for s in f.fixture_measured)


def default_settings(fixtures: bool) -> dict[str, Any]:
    """Every family's settings for a run (the fixtures' where the family has them)."""
    return {name: (f.fixture_settings if fixtures and f.fixture_settings is not None
                   else f.settings)
            for name, f in FAMILIES.items() if f.settings is not None}


def settings_with(settings: dict[str, Any], assignments: dict[str, str]) -> dict[str, Any]:
    """``settings`` with ``{"family.option[.field]": "value"}`` applied, each value read as the
    option's declared type; an unknown family, option or a value of the wrong type is a
    ValueError that names it and what is known."""
    out = dict(settings)
    for key, text in assignments.items():
        family, _, path = key.partition(".")
        if family not in out:
            known = ", ".join(sorted(out)) or "none"
            raise ValueError(f"--set {key}: no family {family!r} with settings (known: {known})")
        if not path:
            raise ValueError(f"--set {key}: name an option, as {family}.OPTION=VALUE")
        out[family] = _assigned(out[family], path.split("."), text, key)
    return out


def _assigned(obj, path: list[str], text: str, key: str):
    fields = {f.name: f for f in dataclasses.fields(obj)}
    name = path[0]
    if name not in fields:
        raise ValueError(f"--set {key}: no option {name!r} (known: {', '.join(fields)})")
    current = getattr(obj, name)
    if len(path) > 1:
        if not dataclasses.is_dataclass(current):
            raise ValueError(f"--set {key}: {name!r} has no fields")
        return dataclasses.replace(obj, **{name: _assigned(current, path[1:], text, key)})
    hint = typing.get_type_hints(type(obj))[name]
    return dataclasses.replace(obj, **{name: _parse(text, hint, key)})


def _parse(text: str, hint, key: str):
    """``text`` as a value of ``hint`` (int, float, bool, str, Path, or one of them | None)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_args(hint) and type(None) in typing.get_args(hint):
        if text.lower() in ("none", "null", ""):
            return None
        hint = args[0] if len(args) == 1 else str
    try:
        if hint is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if hint is int:
            return int(text)
        if hint is float:
            value = float(text)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(text)
            return value
        return hint(text)
    except (TypeError, ValueError):
        name = getattr(hint, "__name__", str(hint))
        raise ValueError(f"--set {key}={text}: expected a value of type {name}") from None
