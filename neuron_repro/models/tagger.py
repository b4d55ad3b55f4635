"""Sequence taggers in the NCRF++ family, their training and their evaluation.

A tagger is characters (none, a char-LSTM or a char-CNN) + word vectors, a word encoder (a
BiLSTM, a unidirectional LSTM or a stack of CNNs) and a decoder (softmax or CRF). The defaults
are NCRF++'s: char embedding 30 (initialised uniform in +-sqrt(3 / 30)), char hidden 50,
word hidden 200, 4 CNN layers (conv, ReLU, dropout, batch norm with its scale initialised
uniform in [0, 1] as the torch releases NCRF++ was written for did, applied to a batch of one
sentence too: see ``_batch_norm``), dropout 0.5 (on the output of the word LSTM, not of the
word CNN), SGD lr 0.015 for word LSTMs and 0.005 for word CNNs with decay 0.05 a epoch,
batch 10, losses summed over the batch, digits normalised to 0, and the model of the best
dev F1 kept.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from seqeval.metrics import f1_score
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from tqdm.auto import tqdm

from neuron_repro.data.conll import BIO_TAGS, Sentence, bio_to_bioes, bioes_to_bio
from neuron_repro.data.glove import WordVectors
from neuron_repro.models.crf import CRF
from neuron_repro.train import TrainingDiverged

CHARS = ("nochar", "charlstm", "charcnn")
WORDS = ("wordlstm", "wordcnn")
PAD, UNK = "<pad>", "<unk>"


@dataclass(frozen=True)
class TaggerConfig:
    char: str = "nochar"  # nochar | charlstm | charcnn
    word: str = "wordlstm"  # wordlstm | wordcnn
    crf: bool = False
    hidden: int = 200
    bidirectional: bool = True
    char_emb: int = 30
    char_hidden: int = 50
    cnn_layers: int = 4
    dropout: float = 0.5
    # None: NCRF++'s values, 0.015 for word LSTMs and 0.005 for word CNNs. NCRF++'s
    # readme/hyperparameter_tuning.md: "Word level CNN models ... would prefer a lr around
    # 0.005"; at 0.015 its own word-CNN code diverges in epoch 1 as ours did (batches 86 to
    # 118 in 10 of 10 seeds, rebuilt line by line on CoNLL-2003).
    lr: float | None = None
    lr_decay: float = 0.05
    l2: float = 1e-8
    batch_size: int = 10
    scheme: str = "BIOES"  # the tags the model is trained on; scoring is always BIO

    @property
    def learning_rate(self) -> float:
        """The initial SGD learning rate (``lr``, else NCRF++'s for the word encoder)."""
        if self.lr is not None:
            return self.lr
        return 0.005 if self.word == "wordcnn" else 0.015

    @property
    def name(self) -> str:
        return f"{self.char}.{self.word}" + ("_crf" if self.crf else "")

    def __post_init__(self):
        if self.char not in CHARS or self.word not in WORDS or self.scheme not in ("BIO",
                                                                                    "BIOES"):
            raise ValueError(f"unknown tagger configuration {self}")


# The analysis model of nerneurons2020: 50 units, one direction, softmax, no characters.
ANALYSIS_CONFIG = TaggerConfig(char="nochar", word="wordlstm", crf=False, hidden=50,
                               bidirectional=False, scheme="BIO")


def normalise(word: str) -> str:
    return re.sub(r"\d", "0", word)


class Vocab:
    """Words (digits normalised), characters and tags, indexed; built over every split as
    NCRF++ builds its alphabets, so no word of dev or test is unknown."""

    def __init__(self, sentences: Sequence[Sentence], tags: Sequence[str]):
        words = sorted({normalise(w) for s in sentences for w in s.tokens})
        chars = sorted({c for s in sentences for w in s.tokens for c in w})
        self.words = [PAD, UNK, *words]
        self.chars = [PAD, UNK, *chars]
        self.tags = list(tags)
        self.word_index = {w: i for i, w in enumerate(self.words)}
        self.char_index = {c: i for i, c in enumerate(self.chars)}
        self.tag_index = {t: i for i, t in enumerate(self.tags)}

    def embedding_matrix(self, vectors: WordVectors, seed: int) -> tuple[np.ndarray, float]:
        """Pretrained rows where GloVe has the word (as is, else lower-cased), NCRF++'s
        uniform(+-sqrt(3/dim)) elsewhere; returns the matrix and the share found."""
        rng = np.random.default_rng(seed)
        scale = np.sqrt(3.0 / vectors.dim)
        matrix = rng.uniform(-scale, scale, (len(self.words), vectors.dim)).astype(np.float32)
        matrix[0] = 0.0
        index, found = vectors.index(), 0
        for i, word in enumerate(self.words[2:], 2):
            row = index.get(word, index.get(word.lower()))
            if row is not None:
                matrix[i], found = vectors.vectors[row], found + 1
        return matrix, found / max(len(self.words) - 2, 1)


def tag_set(scheme: str) -> tuple[str, ...]:
    if scheme == "BIO":
        return BIO_TAGS
    kinds = sorted({t[2:] for t in BIO_TAGS if t != "O"})
    return tuple(f"{p}-{k}" for p in "BIES" for k in kinds) + ("O",)


@dataclass
class Batch:
    words: torch.Tensor  # (B, T)
    chars: torch.Tensor  # (B, T, L)
    tags: torch.Tensor  # (B, T)
    mask: torch.Tensor  # (B, T) bool
    lengths: torch.Tensor  # (B,)

    def to(self, device) -> Batch:
        return Batch(*(getattr(self, f).to(device) for f in
                       ("words", "chars", "tags", "mask", "lengths")))


def encode(sentences: Sequence[Sentence], vocab: Vocab, scheme: str) -> Batch:
    """Pad a list of sentences into one batch (tags converted from BIO to ``scheme``)."""
    lengths = [len(s.tokens) for s in sentences]
    longest = max(lengths)
    longest_word = max(len(w) for s in sentences for w in s.tokens)
    words = torch.zeros(len(sentences), longest, dtype=torch.long)
    chars = torch.zeros(len(sentences), longest, longest_word, dtype=torch.long)
    tags = torch.zeros(len(sentences), longest, dtype=torch.long)
    for b, s in enumerate(sentences):
        gold = bio_to_bioes(s.tags) if scheme == "BIOES" else s.tags
        for t, (word, tag) in enumerate(zip(s.tokens, gold, strict=True)):
            words[b, t] = vocab.word_index.get(normalise(word), 1)
            chars[b, t, :len(word)] = torch.tensor([vocab.char_index.get(c, 1) for c in word])
            tags[b, t] = vocab.tag_index[tag]
    lengths_t = torch.tensor(lengths)
    mask = torch.arange(longest)[None, :] < lengths_t[:, None]
    return Batch(words, chars, tags, mask, lengths_t)


class CharEncoder(nn.Module):
    def __init__(self, kind: str, n_chars: int, emb: int, hidden: int, dropout: float):
        super().__init__()
        self.kind = kind
        self.embedding = nn.Embedding(n_chars, emb, padding_idx=0)
        scale = (3.0 / emb) ** 0.5
        with torch.no_grad():
            self.embedding.weight.uniform_(-scale, scale)
            self.embedding.weight[0] = 0.0
        self.drop = nn.Dropout(dropout)
        if kind == "charcnn":
            self.conv = nn.Conv1d(emb, hidden, kernel_size=3, padding=1)
        else:
            self.lstm = nn.LSTM(emb, hidden // 2, batch_first=True, bidirectional=True)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        batch, length, width = chars.shape
        flat = chars.view(batch * length, width)
        x = self.drop(self.embedding(flat))
        if self.kind == "charcnn":
            h = self.conv(x.transpose(1, 2))
            h = h.masked_fill((flat == 0).unsqueeze(1), float("-inf")).amax(dim=2)
            h = torch.where(torch.isinf(h), torch.zeros_like(h), h)  # padding positions
        else:
            sizes = (flat != 0).sum(1).clamp(min=1).cpu()
            packed = pack_padded_sequence(x, sizes, batch_first=True, enforce_sorted=False)
            _, (h_n, _) = self.lstm(packed)
            h = torch.cat([h_n[0], h_n[1]], dim=1)
        return h.view(batch, length, -1)


class Tagger(nn.Module):
    def __init__(self, config: TaggerConfig, n_words: int, n_chars: int, n_tags: int,
                 word_dim: int):
        super().__init__()
        self.config = config
        c = config
        self.word_embedding = nn.Embedding(n_words, word_dim, padding_idx=0)
        self.chars = (None if c.char == "nochar" else
                      CharEncoder(c.char, n_chars, c.char_emb, c.char_hidden, c.dropout))
        width = word_dim + (0 if self.chars is None else c.char_hidden)
        self.drop = nn.Dropout(c.dropout)
        if c.word == "wordlstm":
            hidden = c.hidden // 2 if c.bidirectional else c.hidden
            self.lstm = nn.LSTM(width, hidden, batch_first=True, bidirectional=c.bidirectional)
        else:
            self.word2cnn = nn.Linear(width, c.hidden)
            self.cnn = nn.ModuleList(nn.Conv1d(c.hidden, c.hidden, 3, padding=1)
                                     for _ in range(c.cnn_layers))
            self.norms = nn.ModuleList(nn.BatchNorm1d(c.hidden) for _ in range(c.cnn_layers))
            for norm in self.norms:  # torch <= 1.1's init, the one NCRF++ ran with
                nn.init.uniform_(norm.weight)
        self.output_drop = nn.Dropout(c.dropout if c.word == "wordlstm" else 0.0)
        self.hidden2tag = nn.Linear(c.hidden, n_tags)
        self.crf = CRF(n_tags) if c.crf else None

    def encode(self, batch: Batch) -> torch.Tensor:
        """The word encoder's output (B, T, hidden): the units the analyses read."""
        x = self.word_embedding(batch.words)
        if self.chars is not None:
            x = torch.cat([x, self.chars(batch.chars)], dim=2)
        x = self.drop(x)
        if self.config.word == "wordlstm":
            packed = pack_padded_sequence(x, batch.lengths.cpu(), batch_first=True,
                                          enforce_sorted=False)
            out, _ = self.lstm(packed)
            h, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
            return h
        h = torch.tanh(self.word2cnn(x)).transpose(1, 2)
        # Padded positions are zeroed before each convolution, so that a sentence's tags do
        # not depend on the batch it is in (NCRF++ lets the padding through).
        keep = batch.mask.unsqueeze(1).to(h.dtype)
        for conv, norm in zip(self.cnn, self.norms, strict=True):
            h = _batch_norm(norm, self.drop(torch.relu(conv(h * keep))))
        return h.transpose(1, 2)

    def forward(self, batch: Batch) -> torch.Tensor:
        """Emission scores (B, T, n_tags)."""
        return self.hidden2tag(self.output_drop(self.encode(batch)))

    def loss(self, batch: Batch) -> torch.Tensor:
        scores = self(batch)
        if self.crf is not None:
            return self.crf.nll(scores, batch.tags, batch.mask)
        return nn.functional.cross_entropy(scores[batch.mask], batch.tags[batch.mask],
                                           reduction="sum")

    @torch.no_grad()
    def decode(self, batch: Batch) -> list[list[int]]:
        scores = self(batch)
        if self.crf is not None:
            return self.crf.decode(scores, batch.mask)
        best = scores.argmax(2)
        return [best[b, :n].tolist() for b, n in enumerate(batch.lengths.tolist())]


def _batch_norm(norm: nn.BatchNorm1d, h: torch.Tensor) -> torch.Tensor:
    """Batch normalisation of (B, C, T) over every position of the batch, a batch of one
    sentence included. NCRF++ skips it for a batch of one sentence (``if batch_size > 1``),
    a rule its CoNLL-2003 runs never meet: with the -DOCSTART- lines they train on 14,987
    instances, and the last batch of ten has seven. The 14,041 sentences here end every
    epoch with a batch of one, and an SGD step through the un-normalised stack wrecked the
    word CNNs (gradient norm about 3,000 against about 80 for the other batches; nochar.wordcnn
    went from dev F1 74.4 to 6.2 in that one step, then diverged). Only a training batch of
    a single position has no batch statistics: it is normalised by the running ones, which
    it leaves as they are."""
    if norm.training and h.shape[0] * h.shape[2] < 2:
        return nn.functional.batch_norm(h, norm.running_mean, norm.running_var, norm.weight,
                                        norm.bias, training=False, eps=norm.eps)
    return norm(h)


@contextlib.contextmanager
def units_zeroed(model: Tagger, units: Sequence[int]) -> Iterator[None]:
    """Activation ablation: the word encoder's outputs of ``units`` read as zero, without
    retraining; the hook is removed on leaving, whatever happens inside."""
    index = torch.as_tensor(list(units), dtype=torch.long)

    def zero(_module, _inputs, output):
        output = output.clone()
        output[..., index] = 0.0
        return output

    target = model.output_drop  # its input is the encoder's output, its output feeds the layer
    handle = target.register_forward_hook(zero)
    try:
        yield
    finally:
        handle.remove()


# ----------------------------------------------------------------------------- training


@dataclass
class TrainedTagger:
    model: Tagger
    vocab: Vocab
    config: TaggerConfig
    seed: int
    epochs: int  # the epochs it was trained for
    best_epoch: int
    dev_f1: list[float]
    train_seconds: float
    sentences_per_second: float
    embedding_coverage: float
    planned_epochs: int | None = None  # the schedule asked for (more when it was stopped)
    from_cache: bool = False  # read from the tagger cache; the times are those of its training
    resumed_from: int = 0  # the epochs read back from a checkpoint before this run trained

    @property
    def complete(self) -> bool:
        return self.planned_epochs is None or self.epochs >= self.planned_epochs

    def summary(self) -> dict:
        return {"config": asdict(self.config), "seed": self.seed, "epochs": self.epochs,
                "epochs_planned": self.planned_epochs or self.epochs,
                "best_epoch": self.best_epoch, "dev_f1_per_epoch": self.dev_f1,
                "train_seconds": round(self.train_seconds, 1),
                "train_sentences_per_second": round(self.sentences_per_second, 1),
                "glove_coverage_of_vocabulary": round(self.embedding_coverage, 4),
                "from_cache": self.from_cache, "resumed_from_epoch": self.resumed_from}


@dataclass
class FitState:
    """Where a training stands after a finished epoch: all it needs to go on exactly as if it
    had not stopped. Plain SGD keeps no state of its own, and each epoch draws its order and
    its dropout from generators seeded by (seed, epoch), so nothing else is needed."""

    epoch: int  # epochs finished
    model: dict[str, torch.Tensor]
    best_model: dict[str, torch.Tensor] | None  # keep="best_dev": the best epoch's weights
    dev_f1: list[float]
    best_epoch: int
    seconds: float
    seen: int


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@contextlib.contextmanager
def cpu_threads(n: int) -> Iterator[None]:
    """Batches of ten sentences are many small operations: on CPU one thread runs them faster
    than several (measured in benchmarks/test_bench_ner.py), and leaves a core to the rest."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def predict(model: Tagger, vocab: Vocab, sentences: Sequence[Sentence],
            batch_size: int = 256) -> list[list[str]]:
    """BIO tags for every sentence (BIOES predictions are mapped back to BIO)."""
    model.eval()
    out = []
    for start in range(0, len(sentences), batch_size):
        chunk = sentences[start:start + batch_size]
        batch = encode(chunk, vocab, model.config.scheme).to(_device(model))
        for path in model.decode(batch):
            tags = [vocab.tags[i] for i in path]
            out.append(bioes_to_bio(tags) if model.config.scheme == "BIOES" else tags)
    return out


def entity_f1(gold: Sequence[Sentence], predicted: Sequence[Sequence[str]]) -> float:
    """Entity F1 in percent, conlleval's definition (seqeval's default mode)."""
    return 100.0 * f1_score([s.tags for s in gold], [list(p) for p in predicted])


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's sentence order and dropout masks."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def new_tagger(config: TaggerConfig, vocab: Vocab, matrix: np.ndarray, seed: int) -> Tagger:
    """The untrained tagger of ``seed``: torch's default initialisation drawn from ``seed``,
    the word embedding set to ``matrix``."""
    torch.manual_seed(seed)
    model = Tagger(config, len(vocab.words), len(vocab.chars), len(vocab.tags), matrix.shape[1])
    model.word_embedding.weight.data.copy_(torch.from_numpy(matrix))
    return model


def fit(config: TaggerConfig, splits: dict[str, list[Sentence]], vocab: Vocab,
        matrix: np.ndarray, coverage: float, epochs: int, seed: int, keep: str = "best_dev",
        progress: bool = True, desc: str = "", device: str = "cpu",
        start: FitState | None = None, on_epoch: Callable[[FitState], None] | None = None,
        deadline: float | None = None) -> TrainedTagger:
    """NCRF++'s training loop: SGD at ``lr / (1 + decay * epoch)``, batches of shuffled
    training sentences, dev F1 after every epoch.

    ``start`` goes on from a finished epoch; ``on_epoch`` is called with the state after each
    epoch (to checkpoint it); past ``deadline`` (``time.monotonic()``) training stops after
    the epoch it is in (or before any, when ``start`` has one), and the tagger says how many
    epochs it had.
    """
    model = new_tagger(config, vocab, matrix, seed).to(device)
    state = start or FitState(0, {}, None, [], -1, 0.0, 0)
    if start is not None:
        model.load_state_dict(start.model)
    train = splits["train"]
    optimiser = torch.optim.SGD(model.parameters(), lr=config.learning_rate,
                                weight_decay=config.l2)
    bar = tqdm(total=epochs * len(train), initial=state.epoch * len(train),
               desc=desc or config.name, unit="sent", disable=not progress, leave=False)
    for epoch in range(state.epoch, epochs):
        if deadline is not None and epoch > 0 and time.monotonic() > deadline:
            break
        for group in optimiser.param_groups:
            group["lr"] = config.learning_rate / (1 + config.lr_decay * epoch)
        model.train()
        torch.manual_seed(epoch_seed(seed, epoch))
        order = np.random.default_rng(epoch_seed(seed, epoch)).permutation(len(train))
        started = time.perf_counter()
        for first in range(0, len(order), config.batch_size):
            batch = encode([train[i] for i in order[first:first + config.batch_size]], vocab,
                           config.scheme).to(device)
            optimiser.zero_grad()
            loss = model.loss(batch)
            if not torch.isfinite(loss):
                bar.close()
                raise TrainingDiverged(
                    f"{config.name} (seed {seed}) diverged: loss {loss.item()} at epoch "
                    f"{epoch + 1}, batch {first // config.batch_size + 1}, with SGD lr "
                    f"{config.learning_rate}, losses summed over the batch and no gradient "
                    "clipping (NCRF++'s settings)")
            loss.backward()
            optimiser.step()
            bar.update(len(batch.lengths))
        f1 = round(entity_f1(splits["dev"], predict(model, vocab, splits["dev"])), 2)
        best = state.dev_f1[state.best_epoch] if state.best_epoch >= 0 else -1.0
        improved = keep == "best_dev" and f1 > best
        state = FitState(
            epoch + 1, {k: v.detach().clone() for k, v in model.state_dict().items()},
            {k: v.detach().clone() for k, v in model.state_dict().items()} if improved
            else state.best_model, [*state.dev_f1, f1],
            epoch if improved else state.best_epoch,
            state.seconds + time.perf_counter() - started, state.seen + len(train))
        bar.set_postfix(dev_f1=f"{f1:.2f}")
        if on_epoch is not None:
            on_epoch(state)
    bar.close()
    if keep == "best_dev" and state.best_model is not None:
        model.load_state_dict(state.best_model)
        best_epoch = state.best_epoch
    else:
        best_epoch = state.epoch - 1
    model.eval()
    return TrainedTagger(model, vocab, config, seed, state.epoch, best_epoch, state.dev_f1,
                         state.seconds, state.seen / max(state.seconds, 1e-9), coverage,
                         planned_epochs=epochs, resumed_from=start.epoch if start else 0)


@torch.no_grad()
def unit_activations(model: Tagger, vocab: Vocab, sentences: Sequence[Sentence],
                     batch_size: int = 256) -> np.ndarray:
    """The word encoder's output for every token, in sentence order: (n_tokens, hidden)."""
    model.eval()
    rows = []
    for start in range(0, len(sentences), batch_size):
        batch = encode(sentences[start:start + batch_size], vocab,
                       model.config.scheme).to(_device(model))
        rows.append(model.encode(batch)[batch.mask].float().cpu().numpy())
    return np.concatenate(rows)
