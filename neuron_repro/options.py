"""Command-line option types: every numeric option has a declared range, checked at parse time.

argparse reports a bad value as ``neuron-repro <command>: error: argument --batch-size: ...``
with exit code 2, before any model is loaded or any file is read.
"""

from __future__ import annotations

import argparse
import math
import re


def integer(low: int | None = None, high: int | None = None, allow: tuple[int, ...] = ()):
    """An int in ``[low, high]`` (either end open when None); ``allow`` lists extra values
    with a meaning of their own (``-1``: one per core)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value in allow:
            return value
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range: {_range(low, high, allow)}")
        return value

    parse.__name__ = "integer"
    return parse


def number(low: float | None = None, high: float | None = None, low_open: bool = False):
    """A finite float in ``[low, high]`` (``(low, high]`` with ``low_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        too_low = low is not None and (value <= low if low_open else value < low)
        if too_low or (high is not None and value > high):
            left = "(" if low_open else "["
            raise argparse.ArgumentTypeError(
                f"{value:g} is out of range: it must lie in {left}{_end(low)}, {_end(high)}]")
        return value

    parse.__name__ = "number"
    return parse


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def name(text: str) -> str:
    """A plain name (a report profile): letters, digits, ``.``, ``_`` and ``-``, no path."""
    if not _NAME.match(text) or ".." in text:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a name: use letters, digits, '.', '_' and '-' (no '/' or '..'); "
            "give a folder with --out")
    return text


def _end(x) -> str:
    return "inf" if x is None else f"{x:g}"


def _range(low, high, allow) -> str:
    if low is not None and high is None:
        text = f"at least {low}"
    elif low is None and high is not None:
        text = f"at most {high}"
    else:
        text = f"between {low} and {high}"
    return text + "".join(f" (or {a})" for a in allow)


POSITIVE = integer(1)
NON_NEGATIVE = integer(0)
JOBS = integer(1, allow=(-1,))
