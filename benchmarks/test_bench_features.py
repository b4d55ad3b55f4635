"""Extraction speed against the machine's own float32 matmul rate, measured in one run.

A step of an n-unit mLSTM costs about 2 x n x 5n FLOPs a byte (h Wmh, then m Wh); the ratio
of achieved FLOP/s to a plain (batch, n) x (n, 5n) matmul says how close the extraction is
to what the machine can do. Target at 1024 units, batch 128, on CPU: at least 0.7.
"""

import time

import numpy as np
import pytest
import torch

from neuron_repro.features import extract_features, preprocess_openai
from neuron_repro.models.mlstm import MLSTM

TARGET_RATIO = 0.7


def matmul_flops(batch: int, n_units: int, repeats: int = 20) -> float:
    a, w = torch.randn(batch, n_units), torch.randn(n_units, 5 * n_units)
    for _ in range(3):
        a @ w
    start = time.perf_counter()
    for _ in range(repeats):
        a @ w
    return 2 * batch * n_units * 5 * n_units * repeats / (time.perf_counter() - start)


@pytest.mark.parametrize("n_units,batch", [(1024, 128)])
def test_bench_extraction(benchmark, n_units, batch):
    model = MLSTM.random(n_units)
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(list("abcdefghij klmnop.,"), size=int(n)))
             for n in rng.integers(150, 250, size=2 * batch)]
    n_bytes = sum(len(preprocess_openai(t)) for t in texts)
    extract_features(model, texts[:batch], progress=False)  # warm-up

    def run():
        extract_features(model, texts, batch_size=batch, progress=False)

    benchmark.pedantic(run, rounds=3, iterations=1)
    reference = matmul_flops(batch, n_units)
    bytes_per_s = n_bytes / benchmark.stats.stats.min
    ratio = bytes_per_s * 10 * n_units**2 / reference
    benchmark.extra_info.update(bytes_per_s=bytes_per_s, matmul_gflops=reference / 1e9,
                                ratio=ratio)
    print(f"\nextraction {n_units} units, batch {batch}: {bytes_per_s:,.0f} bytes/s, "
          f"{bytes_per_s * 10 * n_units**2 / 1e9:.1f} GFLOP/s; matmul {reference / 1e9:.1f} "
          f"GFLOP/s; ratio {ratio:.2f} (target {TARGET_RATIO})")
    assert ratio >= TARGET_RATIO
