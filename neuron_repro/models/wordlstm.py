"""A word-level LSTM sentiment classifier, as in G. Lopes (2019), "An Integrative Approach to
Visualizing Recurrent Neural Networks" (IMDB, torchtext's default tokenizer).

Tokens are whitespace-separated words as torchtext's default tokenizer gave them
(``str.split``: no lowercasing, no markup removal), so ``10/10`` and ``/>9/10`` are tokens.
One step of the LSTM is PyTorch's ``nn.LSTM``::

    i, f, g, o = split(W_ih x + b_ih + W_hh h + b_hh)      # (batch, 4 * hidden)
    c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
    h' = sigmoid(o) * tanh(c')

and the classifier reads the final state: ``logit = w . h_T + b``, P(positive) =
``sigmoid(logit)``. A batch is padded after each review and h_T is read at the review's own
last token: the LSTM is causal, so padding never changes a review's result. (On CPU this is
also far faster to train than packed sequences, whose backward pass is some 40x slower.)
:meth:`WordLSTM.step` is the same step written out (no cuDNN), for gradients in eval mode
and for the one- and two-token states of the explanation analyses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import nn

PAD, UNK = "<pad>", "<unk>"


def tokenize(text: str) -> list[str]:
    """torchtext's default tokenizer: split on whitespace, nothing else."""
    return text.split()


@dataclass(frozen=True)
class Vocabulary:
    """``itos[0]`` is ``<pad>``, ``itos[1]`` is ``<unk>``, then the kept tokens by falling
    training count (ties by the token, so the order is the same on every machine)."""

    itos: tuple[str, ...]

    @classmethod
    def build(cls, texts: Iterable[str], max_size: int, min_freq: int = 1) -> Vocabulary:
        counts = Counter(t for text in texts for t in tokenize(text))
        kept = sorted((w for w, n in counts.items() if n >= min_freq),
                      key=lambda w: (-counts[w], w))[:max_size]
        return cls((PAD, UNK, *kept))

    @cached_property
    def stoi(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> np.ndarray:
        stoi = self.stoi
        return np.array([stoi.get(t, 1) for t in tokenize(text)] or [1], dtype=np.int64)


@dataclass(frozen=True)
class WordLSTMConfig:
    """The sizes of the tutorials that used the same split and framework (bentrevett's
    pytorch-sentiment-analysis: 25,000 most frequent training tokens, embedding 100, hidden
    256, Adam at 1e-3, batches of 64, 5 epochs, the epoch of best validation accuracy kept);
    the source does not give its own."""

    max_vocab: int = 25_000
    embed_dim: int = 100
    hidden: int = 256
    batch_size: int = 64
    lr: float = 1e-3
    epochs: int = 5


class WordLSTM(nn.Module):
    """Embedding, one LSTM layer and a linear output on the final hidden state."""

    def __init__(self, config: WordLSTMConfig, n_tokens: int):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(n_tokens, config.embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(config.embed_dim, config.hidden, batch_first=True)
        self.fc = nn.Linear(config.hidden, 1)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """tokens : (batch, max_len) ids, padded with 0 after each review's ``lengths``;
        returns the positive logit of each review, (batch,)."""
        out, _ = self.lstm(self.embedding(tokens))  # (batch, max_len, hidden)
        last = (lengths.to(out.device) - 1).clamp(min=0)
        return self.fc(out[torch.arange(len(out), device=out.device), last]).squeeze(-1)

    def step(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """One LSTM step from ``state`` (zeros when None) on input embeddings x : (n, embed);
        returns ``(h, c)``, each (n, hidden). Plain tensor algebra: differentiable in eval
        mode on any device."""
        lstm = self.lstm
        gates = x @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + lstm.bias_hh_l0  # (n, 4 * hidden)
        if state is not None:
            gates = gates + state[0] @ lstm.weight_hh_l0.T
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(i) * torch.tanh(g)
        if state is not None:
            c = c + torch.sigmoid(f) * state[1]
        return torch.sigmoid(o) * torch.tanh(c), c

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        """The positive logit of hidden states h : (n, hidden)."""
        return self.fc(h).squeeze(-1)


def without_cudnn():
    """A context in which ``WordLSTM.forward`` runs without cuDNN: cuDNN's RNN backward
    refuses eval mode, so gradients through a whole review on CUDA need PyTorch's own
    kernels (a no-op on CPU)."""
    return torch.backends.cudnn.flags(enabled=False)


def pad_batch(sequences: Sequence[np.ndarray], device: str = "cpu"
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id arrays -> (batch, max_len) ids padded with 0, and their lengths."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)
    tokens = torch.zeros(len(sequences), int(lengths.max()), dtype=torch.int64)
    for row, s in enumerate(sequences):
        tokens[row, :len(s)] = torch.from_numpy(np.asarray(s, dtype=np.int64))
    return tokens.to(device), lengths


@torch.no_grad()
def positive_probability(model: WordLSTM, sequences: Sequence[np.ndarray],
                         batch_tokens: int = 65_536, device: str = "cpu") -> np.ndarray:
    """P(positive) of each token sequence, (n,) float64; batched by length (about
    ``batch_tokens`` tokens a batch), returned in the input order."""
    model.eval()
    order = np.argsort([len(s) for s in sequences], kind="stable")
    out = np.full(len(sequences), np.nan)
    start = 0
    while start < len(order):
        stop = start + 1  # lengths rise along ``order``: the last row added is the longest
        while (stop < len(order)
               and (stop - start + 1) * len(sequences[order[stop]]) <= batch_tokens):
            stop += 1
        rows = order[start:stop]
        tokens, lengths = pad_batch([sequences[r] for r in rows], device)
        out[rows] = torch.sigmoid(model(tokens, lengths)).double().cpu().numpy()
        start = stop
    if np.isnan(out).any():  # every row is written above; a gap would be a harness bug
        raise RuntimeError("positive_probability left rows unfilled")
    return out
