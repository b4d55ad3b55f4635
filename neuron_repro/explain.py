"""Explaining a word-level LSTM classifier (lopes2019): LIME, activation maximisation, corpus
search and dataset examples.

- :func:`lime_text` is LIME's text explainer as the ``lime`` package defines its defaults,
  run through captum's :class:`~captum.attr.LimeBase`: the features are the review's distinct
  words (bag of words: removing a word removes every occurrence), each perturbed sample
  removes a uniformly drawn number of them (1 to d - 1; the first sample is the review
  itself), a sample's weight is ``sqrt(exp(-D**2 / 25**2))`` with D the cosine distance to the
  review times 100, and the surrogate is a ridge regression (alpha 1, with intercept) on every
  feature. The samples go through the model in batches.
- :func:`maximise_activation`: gradient ascent on a free input embedding, one LSTM step from
  the zero state, maximising the positive logit, projected onto the ball of the largest
  vocabulary embedding norm; :func:`nearest_by_cosine` then names the tokens nearest to it.
- :func:`score_vocabulary`: the positive probability of every token as a one-token review,
  one batched step over the whole vocabulary (corpus search).
- :func:`bigram_table` and :func:`nearest_rows`: the hidden state after every distinct
  training bigram (two steps from the zero state) and an exact nearest-neighbour search by
  Euclidean distance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import torch

# A rating out of ten, with any markup around it: 10/10, 7/10<br, />9/10, (8.5/10).
RATING = re.compile(r"(?<![\d.])\d{1,2}(?:\.\d+)?/10(?!\d)")
_MARKUP = re.compile(r"<[^>]*>?|/>")
_EDGES = "\"'`.,;:!?()[]{}*-_/\\<>~&#|+=^%$@"


def is_rating(token: str) -> bool:
    return RATING.search(token) is not None


def normalise(token: str) -> str:
    """A token as a lexicon lists words: markup removed, punctuation stripped from both ends,
    lowercased (``/>Great!`` -> ``great``; ``<br`` -> ``""``)."""
    return _MARKUP.sub("", token).strip(_EDGES).lower()


@cache
def positive_lexicon() -> frozenset[str]:
    """The words of VADER's lexicon (vaderSentiment's ``vader_lexicon.txt``, MIT licensed)
    whose mean valence is above zero."""
    text = resources.files("vaderSentiment").joinpath("vader_lexicon.txt").read_text(
        encoding="utf-8", errors="replace")
    words = set()
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            try:
                if float(parts[1]) > 0:
                    words.add(parts[0])
            except ValueError:
                continue
    if len(words) < 1000:
        raise RuntimeError("vaderSentiment's vader_lexicon.txt is not the lexicon expected "
                           f"({len(words)} positive entries)")
    return frozenset(words)


# ----------------------------------------------------------------------------- LIME
@dataclass
class LimeExplanation:
    first: np.ndarray  # (d,) where each distinct word first occurs in the review
    weights: np.ndarray  # (d,) the surrogate's coefficient of each (positive: towards P(pos))
    n_samples: int

    def ranked(self) -> np.ndarray:
        """Feature indices by falling weight (ties by first occurrence)."""
        return np.argsort(-self.weights, kind="stable")


def lime_text(predict, tokens, words=None, n_samples: int = 5000, seed: int = 0,
              batch: int = 500, kernel_width: float = 25.0) -> LimeExplanation:
    """LIME's explanation of ``predict`` (a function from a list of token-id arrays to their
    P(positive), (n,)) for one review: ``tokens`` its ids, ``words`` its words (default: the
    ids), one feature per distinct word, in order of first occurrence (two words that the
    vocabulary maps to ``<unk>`` stay two features, as LIME sees the text). ``batch``
    perturbed samples go through ``predict`` at a time; the result does not depend on it."""
    from captum._utils.models.linear_model import SkLearnRidge
    from captum.attr import LimeBase

    tokens = np.asarray(tokens, dtype=np.int64)
    if tokens.ndim != 1 or (tokens <= 0).any():
        raise ValueError("lime_text: tokens must be a 1-d array of ids above 0 (0 is padding)")
    words = tokens if words is None else np.asarray(words)
    if words.shape != tokens.shape:
        raise ValueError("lime_text: words and tokens differ in length")
    _, first, inverse = np.unique(words, return_index=True, return_inverse=True)
    order = np.argsort(first)  # features in order of first occurrence
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    first, inverse = first[order], rank[inverse.reshape(-1)]
    d = len(first)
    if d < 2:
        raise ValueError("lime_text: a review needs at least two distinct words")
    rng = np.random.default_rng(seed)

    def perturb(original, **_):
        yield torch.ones(1, d)
        while True:
            mask = torch.ones(1, d)
            mask[0, rng.choice(d, int(rng.integers(1, d)), replace=False)] = 0
            yield mask

    def to_input(mask, original, **_):
        keep = mask[0].numpy().astype(bool)[inverse]
        row = torch.zeros(1, len(tokens), dtype=torch.int64)
        row[0, :int(keep.sum())] = torch.from_numpy(tokens[keep])
        return row

    def similarity(original, perturbed, interpretable, **_):
        kept = float(interpretable.sum())
        distance = 100.0 * (1.0 - kept / np.sqrt(kept * d))  # cosine distance to all-ones
        return float(np.sqrt(np.exp(-distance ** 2 / kernel_width ** 2)))

    def forward(rows):
        return torch.from_numpy(np.asarray(predict([r[r != 0].numpy() for r in rows]),
                                           dtype=np.float64))

    lime = LimeBase(forward, SkLearnRidge(alpha=1.0), similarity_func=similarity,
                    perturb_func=perturb, perturb_interpretable_space=True,
                    from_interp_rep_transform=to_input, to_interp_rep_transform=None)
    weights = lime.attribute(torch.from_numpy(tokens)[None], n_samples=n_samples,
                             perturbations_per_eval=batch)
    weights = weights.detach().cpu().double().numpy().reshape(-1)
    if weights.shape != (d,) or not np.isfinite(weights).all():
        raise RuntimeError("lime_text: the surrogate returned no finite weight per word")
    return LimeExplanation(first, weights, n_samples)


# ----------------------------------------------------------------------------- tokens
@dataclass
class Optimum:
    x: np.ndarray  # (embed,) the optimised input embedding
    probability: float  # P(positive) of the one-step review with that embedding
    steps: int


def maximise_activation(model, steps: int = 500, lr: float = 0.05,
                        radius: float | None = None) -> Optimum:
    """Adam on a free input embedding x (from zero), maximising the positive logit of one
    LSTM step from the zero state; after each step x is projected onto the ball of
    ``radius`` (default: the largest norm of a vocabulary embedding), so the optimum stays
    where the embeddings are."""
    emb = model.embedding.weight.detach()
    if radius is None:
        radius = float(emb[1:].norm(dim=1).max())
    x = torch.zeros(1, emb.shape[1], device=emb.device, requires_grad=True)
    optimizer = torch.optim.Adam([x], lr=lr)
    model.eval()
    with torch.enable_grad():
        for _ in range(steps):
            logit = model.readout(model.step(x)[0]).sum()
            (x.grad,) = torch.autograd.grad(-logit, x)  # the model's own gradients untouched
            optimizer.step()
            with torch.no_grad():
                norm = x.norm()
                if norm > radius:
                    x.mul_(radius / norm)
    with torch.no_grad():
        p = float(torch.sigmoid(model.readout(model.step(x)[0]))[0])
    return Optimum(x.detach().cpu().double().numpy()[0], p, steps)


def nearest_by_cosine(x: np.ndarray, embeddings: np.ndarray, k: int = 10,
                      skip: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``embeddings`` most cosine-similar to x, leaving out the first
    ``skip`` (``<pad>`` and ``<unk>``): their indices and similarities."""
    E = np.asarray(embeddings, dtype=np.float64)[skip:]
    sim = E @ x / np.maximum(np.linalg.norm(E, axis=1) * np.linalg.norm(x), 1e-30)
    top = np.argsort(-sim, kind="stable")[:k]
    return top + skip, sim[top]


@torch.no_grad()
def score_vocabulary(model, skip: int = 2) -> np.ndarray:
    """P(positive) of every token as a one-token review (one batched step over the whole
    vocabulary), (V,); the first ``skip`` ids get NaN (they are not words)."""
    model.eval()
    emb = model.embedding.weight
    p = torch.sigmoid(model.readout(model.step(emb)[0])).double().cpu().numpy()
    p[:skip] = np.nan
    return p


# ----------------------------------------------------------------------------- bigrams
@dataclass
class BigramTable:
    codes: np.ndarray  # (n,) first * V + second, sorted
    states: np.ndarray  # (n, hidden) float32: h after the two tokens from the zero state
    mean_probability: np.ndarray  # (n,) mean P(positive) of the reviews that hold the bigram
    reviews: np.ndarray  # (n,) how many reviews hold it
    n_tokens: int  # V

    def pair(self, row: int) -> tuple[int, int]:
        code = int(self.codes[row])
        return code // self.n_tokens, code % self.n_tokens


@torch.no_grad()
def _one_step_tables(model):
    """For every token t: (h1, c1) after t from the zero state, the input part of the gates
    P[t] = W_ih e_t + b, and the recurrent part Q[t] = W_hh h1[t]."""
    lstm = model.lstm
    emb = model.embedding.weight
    h1, c1 = model.step(emb)
    P = emb @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + lstm.bias_hh_l0
    Q = h1 @ lstm.weight_hh_l0.T
    return h1, c1, P, Q


@torch.no_grad()
def bigram_states(model, first: np.ndarray, second: np.ndarray,
                  chunk: int = 65_536) -> np.ndarray:
    """h after tokens (first[i], second[i]) from the zero state, (n, hidden) float32: the
    LSTM step written on precomputed per-token tables (no matrix product per bigram)."""
    h1, c1, P, Q = _one_step_tables(model)
    hidden = h1.shape[1]
    out = np.empty((len(first), hidden), dtype=np.float32)
    for start in range(0, len(first), chunk):
        a = torch.from_numpy(np.asarray(first[start:start + chunk])).to(P.device)
        b = torch.from_numpy(np.asarray(second[start:start + chunk])).to(P.device)
        i, f, g, o = (P[b] + Q[a]).chunk(4, dim=1)
        c = torch.sigmoid(f) * c1[a] + torch.sigmoid(i) * torch.tanh(g)
        out[start:start + len(a)] = (torch.sigmoid(o) * torch.tanh(c)).float().cpu().numpy()
    return out


def bigram_table(model, sequences, probabilities, n_tokens: int) -> BigramTable:
    """Every distinct bigram of ``sequences`` with its state and the mean P(positive) of the
    reviews that hold it (each review counted once)."""
    codes, owners = [], []
    for row, s in enumerate(sequences):
        s = np.asarray(s, dtype=np.int64)
        if len(s) < 2:
            continue
        c = np.unique(s[:-1] * n_tokens + s[1:])
        codes.append(c)
        owners.append(np.full(len(c), row, dtype=np.int64))
    if not codes:
        raise ValueError("bigram_table: no review has two tokens")
    codes, owners = np.concatenate(codes), np.concatenate(owners)
    unique, inverse = np.unique(codes, return_inverse=True)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    count = np.bincount(inverse, minlength=len(unique))
    mean = np.bincount(inverse, weights=probabilities[owners], minlength=len(unique)) / count
    states = bigram_states(model, unique // n_tokens, unique % n_tokens)
    return BigramTable(unique, states, mean, count, n_tokens)


def nearest_rows(queries: np.ndarray, table: np.ndarray, k: int = 3,
                 chunk: int = 262_144) -> tuple[np.ndarray, np.ndarray]:
    """The k rows of ``table`` nearest to each query by Euclidean distance, exactly: the
    distance to every row, in chunks (float32 products pick 4k candidates a chunk; the
    candidates are then measured again in float64). Returns indices and distances, (q, k),
    nearest first (ties by row)."""
    queries = np.asarray(queries, dtype=np.float32)
    n = len(table)
    if n < k:
        raise ValueError(f"nearest_rows: {n} rows, fewer than k = {k}")
    keep = min(4 * k, n)
    q_norm = (queries.astype(np.float64) ** 2).sum(1)
    candidates = []
    for start in range(0, n, chunk):
        block = np.asarray(table[start:start + chunk], dtype=np.float32)
        d2 = (q_norm[:, None] + (block.astype(np.float64) ** 2).sum(1)[None]
              - 2.0 * (queries @ block.T))
        m = min(keep, len(block))
        part = np.argpartition(d2, m - 1, axis=1)[:, :m]
        candidates.append(part + start)
    candidates = np.concatenate(candidates, axis=1)
    rows = np.asarray(table[candidates.ravel()], dtype=np.float64).reshape(
        *candidates.shape, -1)
    exact = ((rows - queries.astype(np.float64)[:, None]) ** 2).sum(-1)
    # nearest first; ties broken by the row index
    order = np.lexsort((candidates, exact), axis=1)[:, :k]
    rows = np.take_along_axis(candidates, order, 1)
    return rows, np.sqrt(np.take_along_axis(exact, order, 1))
