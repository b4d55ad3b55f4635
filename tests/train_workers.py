"""Process entry points for the distributed training test (importable by spawned workers)."""

import os

import torch.distributed as dist

from harness.data.corpus import load_corpus
from harness.train.lm import LMTrainer, TrainConfig


def ddp_worker(rank: int, world: int, port: int, corpus_dir: str, out: str, cfg: dict,
               budget_bytes: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        trainer = LMTrainer(out, load_corpus(corpus_dir), TrainConfig(**cfg), progress=False)
        trainer.train(budget_bytes=budget_bytes)
    finally:
        dist.destroy_process_group()
