"""Process entry points for the distributed training test (importable by spawned workers)."""

import os

import torch.distributed as dist

from neuron_repro.data.corpus import load_corpus
from neuron_repro.train.lm import LMTrainer, TrainConfig


def ddp_worker(rank: int, world: int, port: int, corpus_dir: str, out: str, cfg: dict,
               budget_bytes: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        trainer = LMTrainer(out, load_corpus(corpus_dir), TrainConfig(**cfg), progress=False)
        trainer.train(budget_bytes=budget_bytes)
    finally:
        dist.destroy_process_group()


KILLED_TAGGER = {"char": "charcnn", "word": "wordcnn", "crf": True}


def train_fixture_tagger(cache: str, epochs: int) -> None:
    """The NER fixture's tagger of :data:`KILLED_TAGGER`, through the tagger cache."""
    from neuron_repro.data.conll import load_conll
    from neuron_repro.data.glove import find_glove
    from neuron_repro.models.tagger import TaggerConfig
    from neuron_repro.repro import FIXTURE_DATA
    from neuron_repro.train.tagger import train_tagger

    train_tagger(TaggerConfig(**KILLED_TAGGER), load_conll(FIXTURE_DATA).splits,
                 find_glove(None, FIXTURE_DATA), epochs, seed=0, progress=False,
                 cache_dir=cache)
