"""An mLSTM with a sentiment unit built in, for tests with a known right answer.

Unit ``unit`` of the planted model is an exact counter: its input and forget gates are held
open, its candidate ``u`` reads one embedding dimension that scores bytes, and no recurrent
weight reaches it. After a text, ``c[unit]`` is ``tanh(gain)`` times the sum of the byte
scores, so a text with the emoticon ``:)`` ends near ``+polarity`` and one with ``:(``
near ``-polarity``. Every other unit keeps the random weights of an untrained model: noise
that a probe must learn to ignore. The bundled fixture texts carry their label this way.
"""

from __future__ import annotations

import hashlib

import torch

from neuron_repro.models.mlstm import MLSTM

POSITIVE_BYTE = ord(")")
NEGATIVE_BYTE = ord("(")


def planted_mlstm(
    n_units: int = 32, unit: int = 7, polarity: int = 1, seed: int = 0, gain: float = 4.0,
    head_gain: float = 30.0,
) -> MLSTM:
    """Build the planted model.

    Parameters
    ----------
    n_units : int
        Hidden size.
    unit : int
        Index of the planted sentiment unit.
    polarity : {+1, -1, 0}
        +1: the unit's final cell state is positive for positive texts; -1: negative; 0: the
        chance-level control, in which the markers look alike to every unit (the planted one
        included), so that no unit carries the label.
    seed : int
        Seed of the random weights of the other units.
    gain : float
        Gain of the unit's candidate; one marker byte moves ``c[unit]`` by ``tanh(gain)``.
    head_gain : float
        The planted unit's weight on the logits of ``)`` (times ``polarity``) and ``(``
        (times ``-polarity``). ``h[unit]`` is ``sigmoid(0) * tanh(c[unit])``, so a cell held
        at +-1 moves each of the two logits by about ``0.38 * head_gain``.
    """
    if polarity not in (1, -1, 0):
        raise ValueError(f"polarity must be +1, -1 or 0, got {polarity}")
    if not 0 <= unit < n_units:
        raise ValueError(f"unit {unit} is outside 0..{n_units - 1}")
    model = MLSTM.random(n_units, seed=seed)
    h = n_units
    i_col, f_col, o_col, u_col = unit, h + unit, 2 * h + unit, 3 * h + unit
    with torch.no_grad():
        # Embedding dimension 0 scores the two marker bytes and nothing else.
        model.embed[:, 0] = 0.0
        model.embed[POSITIVE_BYTE, 0] = float(polarity)
        model.embed[NEGATIVE_BYTE, 0] = -float(polarity)
        # The two markers look alike to every other unit, so only the planted unit can tell
        # a positive text from a negative one.
        model.embed[NEGATIVE_BYTE, 1:] = model.embed[POSITIVE_BYTE, 1:]
        # Other units must not read dimension 0, or the label would leak into them too.
        model.wx[0, :] = 0.0
        model.wmx[0, :] = 0.0
        for col in (i_col, f_col, o_col):
            model.wx[:, col] = 0.0
            model.wh[:, col] = 0.0
        model.b[i_col] = 30.0  # input gate open
        model.b[f_col] = 30.0  # nothing forgotten
        model.b[o_col] = 0.0
        model.wx[:, u_col] = 0.0
        model.wx[0, u_col] = 1.0  # after weight norm the column is e_0 times gx
        model.gx[u_col] = gain
        model.wh[:, u_col] = 0.0
        model.b[u_col] = 0.0
        # Keep the unit out of the other units' recurrent inputs as well.
        model.wh[unit, :] = 0.0
        model.wmh[unit, :] = 0.0
        # The head: the unit's sign decides between the two markers (none in the control).
        model.out_w[unit, :] = 0.0
        model.out_w[unit, POSITIVE_BYTE] = head_gain * polarity
        model.out_w[unit, NEGATIVE_BYTE] = -head_gain * polarity
    model.sha256 = hashlib.sha256(
        f"planted:{n_units}:{unit}:{polarity}:{seed}:{gain}:{head_gain}".encode()
    ).hexdigest()
    model.source = f"planted:n_units={n_units},unit={unit},polarity={polarity},seed={seed}"
    return model
