"""Training speed of the byte LM against the machine's own matmul rate, in one run.

A training byte costs about 3 x 2 x 5 x n^2 FLOPs (forward, and backward at twice that).
Targets on CPU at 512 units, batch 128, BPTT 128: at least 0.55 of the matmul rate. And the
cost of a byte must not grow with the window: BPTT 256 at no less than 0.85 of BPTT 64's
bytes/s (indexing a precomputed tensor step by step makes backpropagation quadratic).
"""

import time

import torch
import torch.nn.functional as F

from benchmarks.test_bench_features import matmul_flops
from neuron_repro.models.mlstm import MLSTM

TARGET_RATIO = 0.55
TARGET_WINDOW_RATIO = 0.85


def train_bytes_per_second(n_units: int, batch: int, bptt: int, budget_bytes: int) -> float:
    model = MLSTM.random(n_units)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    ids = torch.randint(0, 256, (batch, bptt + 1))

    def step():
        logits, _ = model(ids[:, :bptt])
        loss = F.cross_entropy(logits.reshape(-1, 256), ids[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up
    n_steps = max(2, budget_bytes // (batch * bptt))
    start = time.perf_counter()
    for _ in range(n_steps):
        step()
    return n_steps * batch * bptt / (time.perf_counter() - start)


def test_bench_training_rate(benchmark):
    n_units, batch = 512, 128
    rate = benchmark.pedantic(train_bytes_per_second, args=(n_units, batch, 128, 100_000),
                              rounds=1, iterations=1)
    reference = matmul_flops(batch, n_units)
    ratio = rate * 30 * n_units**2 / reference
    benchmark.extra_info.update(bytes_per_s=rate, matmul_gflops=reference / 1e9, ratio=ratio)
    print(f"\ntraining {n_units} units, batch {batch}, BPTT 128: {rate:,.0f} bytes/s; matmul "
          f"{reference / 1e9:.1f} GFLOP/s; ratio {ratio:.2f} (target {TARGET_RATIO})")
    assert ratio >= TARGET_RATIO


def test_bench_window_length(benchmark):
    n_units, batch = 512, 128
    short = train_bytes_per_second(n_units, batch, 64, 100_000)
    long = benchmark.pedantic(train_bytes_per_second, args=(n_units, batch, 256, 100_000),
                              rounds=1, iterations=1)
    benchmark.extra_info.update(bptt64=short, bptt256=long, ratio=long / short)
    print(f"\ntraining BPTT 256: {long:,.0f} bytes/s, BPTT 64: {short:,.0f} bytes/s; ratio "
          f"{long / short:.2f} (target {TARGET_WINDOW_RATIO})")
    assert long / short >= TARGET_WINDOW_RATIO
