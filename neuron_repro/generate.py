"""Sampling from the mLSTM's own next-byte head, with chosen units held fixed.

Radford et al. (2017, Section 5) sample reviews "with the sentiment unit fixed" to a
positive or a negative value. Here a clamp overwrites the unit's state after every step,
the prime's steps included (see :meth:`MLSTM.cell` for what ``c``, ``h`` and ``both``
overwrite; the sources do not agree on which), and the next byte is drawn from
``softmax(logits / temperature)`` of the clamped state.

A text starts as the model saw texts in training and in feature extraction: ``"\\n "``, then
the prime (see :func:`prime_bytes`). Sample ``i`` draws its bytes by inverting the CDF at
uniforms from row ``i`` of one ``(n, n_bytes)`` array seeded by ``seed``, so a sample is the
same whatever the batch it runs in, and samples with different clamps but the same seed
share their random numbers (their differences come from the clamp).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from neuron_repro.features import preprocess_openai
from neuron_repro.models.mlstm import MLSTM

CLAMP_STATES = ("c", "h", "both")


@dataclass(frozen=True)
class Clamp:
    """Hold ``unit`` at ``value`` while sampling."""

    unit: int
    value: float

    @classmethod
    def parse(cls, text: str) -> Clamp:
        """``"UNIT=VALUE"``, e.g. ``"2388=1.0"`` or ``"81=-0.5"``."""
        unit, sep, value = text.partition("=")
        try:
            if not sep:
                raise ValueError
            clamp = cls(int(unit), float(value))
        except ValueError:
            raise ValueError(f"--clamp {text!r}: expected UNIT=VALUE, e.g. 2388=1.0") from None
        if not math.isfinite(clamp.value):
            raise ValueError(f"--clamp {text!r}: the value must be a finite number")
        return clamp

    def __str__(self) -> str:
        return f"{self.unit}={self.value:g}"


def prime_bytes(prime: str) -> bytes:
    """The bytes a sample starts from: the preprocessed prime without the space that closes
    a text (``""`` gives ``b"\\n "``, the start of every text)."""
    return preprocess_openai(prime)[:-1] if prime.strip() else b"\n "


MAX_DRAWS = 100_000_000  # n x bytes of one call: 800 MB of uniforms


def _check(model: MLSTM, clamps, clamp_state, temperature, n, n_bytes) -> None:
    if clamp_state not in CLAMP_STATES:
        raise ValueError(f"--clamp-state {clamp_state!r}: choose from {', '.join(CLAMP_STATES)}")
    if not (isinstance(temperature, int | float) and math.isfinite(temperature)
            and temperature > 0):
        raise ValueError(f"--temperature {temperature}: must be a number above 0")
    if n < 1 or n_bytes < 1:
        raise ValueError(f"--n {n} and --bytes {n_bytes} must be at least 1")
    if n * n_bytes > MAX_DRAWS:
        raise ValueError(f"--n {n} x --bytes {n_bytes} is {n * n_bytes:,} draws; at most "
                         f"{MAX_DRAWS:,} in one call (8 bytes of random numbers each): ask "
                         "for fewer, or in several calls with other seeds")
    units = [c.unit for c in clamps]
    bad = [u for u in units if not 0 <= u < model.n_units]
    if bad:
        raise ValueError(f"--clamp unit {bad[0]} is outside 0..{model.n_units - 1} (the model "
                         f"has {model.n_units} units)")
    if len(set(units)) != len(units):
        raise ValueError(f"--clamp names unit {next(u for u in units if units.count(u) > 1)} "
                         "twice")


@torch.no_grad()
def generate(model: MLSTM, prime: str = "", *, clamps: Sequence[Clamp] = (),
             clamp_state: str = "c", temperature: float = 1.0, seed: int = 0, n: int = 1,
             n_bytes: int = 200, stop_byte: int | None = None, device="cpu",
             batch_size: int = 256) -> list[bytes]:
    """``n`` samples of at most ``n_bytes`` bytes each after ``prime``.

    A sample ends early, without it, at ``stop_byte`` (e.g. ``ord("\\n")``, where the model
    starts its next text). Returns the sampled bytes (the prime not included).
    """
    clamps = list(clamps)
    _check(model, clamps, clamp_state, temperature, n, n_bytes)
    model = model.to(device).eval()
    zx_table, mx_table = model.byte_tables()
    w = model.effective_weights()
    clamp = None
    if clamps:
        clamp = (torch.tensor([c.unit for c in clamps], device=zx_table.device),
                 torch.tensor([[c.value for c in clamps]], dtype=zx_table.dtype,
                              device=zx_table.device), clamp_state)
    uniforms = np.random.default_rng(seed).random((n, n_bytes))
    start = torch.tensor(list(prime_bytes(prime)), device=zx_table.device)
    out = []
    for lo in range(0, n, batch_size):
        u = torch.from_numpy(uniforms[lo:lo + batch_size]).to(zx_table.device)
        out.extend(_sample_batch(model, zx_table, mx_table, w, start, u, clamp, temperature,
                                 stop_byte))
    return out


def _sample_batch(model, zx_table, mx_table, w, start, uniforms, clamp, temperature,
                  stop_byte) -> list[bytes]:
    batch, n_bytes = uniforms.shape
    c = h = zx_table.new_zeros(batch, model.n_units)

    def step(byte_ids, c, h):
        return MLSTM.cell(F.embedding(byte_ids, zx_table), F.embedding(byte_ids, mx_table),
                          c, h, w["wh"], w["wmh"], clamp)

    for b in start:
        c, h = step(b.expand(batch), c, h)
    drawn = torch.empty(batch, n_bytes, dtype=torch.long, device=zx_table.device)
    stopped = torch.zeros(batch, dtype=torch.bool, device=zx_table.device)
    finite = torch.ones(batch, dtype=torch.bool, device=zx_table.device)
    for t in range(n_bytes):
        logits = (h @ model.out_w + model.out_b).double() / temperature
        finite &= torch.isfinite(logits).all(dim=1)  # checked once the batch is drawn
        cdf = torch.cumsum(torch.softmax(logits, dim=1), dim=1)
        target = (uniforms[:, t] * cdf[:, -1]).unsqueeze(1)
        drawn[:, t] = torch.searchsorted(cdf, target, right=True).squeeze(1).clamp_max(255)
        if stop_byte is not None:
            stopped |= drawn[:, t] == stop_byte
            if bool(stopped.all()):  # every sample has ended: the rest would be cut
                drawn = drawn[:, :t + 1]
                break
        if t + 1 < n_bytes:
            c, h = step(drawn[:, t], c, h)
    if not bool(finite.all()):
        raise ValueError(f"the next-byte distribution stopped being finite (temperature "
                         f"{temperature:g}): the temperature is too small or a clamp value "
                         "too large; use a larger temperature or smaller clamp values")
    samples = []
    for row in drawn.cpu().numpy().astype(np.uint8):
        data = row.tobytes()
        if stop_byte is not None and stop_byte in data:
            data = data[:data.index(stop_byte)]
        samples.append(data)
    return samples


def as_text(sample: bytes) -> str:
    """A sample as text (a byte that is not valid UTF-8 becomes U+FFFD)."""
    return sample.decode("utf-8", errors="replace")
