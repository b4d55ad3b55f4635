"""Per-byte traces of chosen units, aligned to the characters a reader sees.

The mLSTM reads bytes, so a trace has one value per byte of ``preprocess_openai(text)``. A
character of several UTF-8 bytes is shown as one character, coloured by the state after its
last byte (the first state in which the model has read the whole character). The two bytes
the preprocessing adds around a text (``"\\n "`` before, ``" "`` after) are characters too:
they are what the model read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neuron_repro.features import preprocess_openai, trace_units
from neuron_repro.models.mlstm import MLSTM


def characters(data: bytes) -> list[tuple[str, int]]:
    """Split UTF-8 ``data`` into characters: ``(character, index of its last byte)``.

    A byte that does not start a valid sequence is one character of its own, shown as
    U+FFFD, so every byte belongs to exactly one character.
    """
    out, i, n = [], 0, len(data)
    while i < n:
        lead = data[i]
        width = 1 if lead < 0x80 else 2 if 0xC2 <= lead < 0xE0 else \
            3 if 0xE0 <= lead < 0xF0 else 4 if 0xF0 <= lead < 0xF5 else 0
        if width > 1:
            try:
                char = data[i:i + width].decode("utf-8")
            except UnicodeDecodeError:
                width = 0
        if width == 0:
            out.append(("\ufffd", i))
            i += 1
            continue
        if width == 1:
            char = chr(lead)
        out.append((char, i + width - 1))
        i += width
    return out


def character_values(data: bytes, trace: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The characters of ``data`` and the trace's value (rows: bytes) after each one's last
    byte; ``trace`` may have one column per unit."""
    if len(trace) != len(data):
        raise ValueError(f"a trace of {len(trace)} rows for {len(data)} bytes")
    chars = characters(data)
    return [c for c, _ in chars], np.asarray(trace)[[last for _, last in chars]]


def text_traces(model: MLSTM, texts: Sequence[str], units: Sequence[int], *, device="cpu",
                batch_size=64) -> list[tuple[bytes, np.ndarray]]:
    """``(bytes read, per-byte cell state of units)`` for each text, from one batched pass."""
    traces = trace_units(model, texts, units, device=device, batch_size=batch_size)
    return [(preprocess_openai(t), tr) for t, tr in zip(texts, traces, strict=True)]
