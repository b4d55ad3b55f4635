"""What the units of a softmax tagger do: sensitivity, importance, activation ablation, and the
relations nerneurons2020 reports between tags.

Everything here works on arrays taken from a trained tagger: ``H`` the word encoder's output
per token (n_tokens x n_units), ``W`` and ``b`` the output layer (n_tags x n_units, n_tags), the
gold and predicted tag indices per token, and ``tags`` their names (BIO).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
from scipy.optimize import linear_sum_assignment

TYPES = ("LOC", "MISC", "ORG", "PER")


def predictions(H: np.ndarray, W: np.ndarray, b: np.ndarray, zeroed: Sequence[int] = ()):
    """The softmax tagger's prediction per token, with the outputs of ``zeroed`` units read
    as zero (activation ablation: the same as ``units_zeroed`` on the model)."""
    if len(zeroed):
        H = H.copy()
        H[:, list(zeroed)] = 0.0
    return np.argmax(H @ W.T + b, axis=1)


def sensitivity(H: np.ndarray, W: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(n_units, n_tags): for unit i and tag j, the mean of ``W[j, i] * H[:, i]`` over tokens
    predicted j minus its mean over tokens predicted any other tag. A tag never predicted
    gets NaN."""
    n_tags = W.shape[0]
    out = np.full((H.shape[1], n_tags), np.nan)
    for j in range(n_tags):
        chosen = predicted == j
        if chosen.any() and (~chosen).any():
            out[:, j] = W[j] * (H[chosen].mean(0) - H[~chosen].mean(0))
    return out


def importance(sens: np.ndarray) -> np.ndarray:
    """(n_tags, n_units): per tag, units by decreasing sensitivity (ties by unit index)."""
    return np.stack([np.lexsort((np.arange(len(col)), -np.nan_to_num(col, nan=-np.inf)))
                     for col in sens.T])


def per_tag_accuracy(gold: np.ndarray, predicted: np.ndarray, n_tags: int) -> np.ndarray:
    """Token accuracy among the tokens of each gold tag (NaN for a tag absent from gold)."""
    out = np.full(n_tags, np.nan)
    for j in range(n_tags):
        chosen = gold == j
        if chosen.any():
            out[j] = float(np.mean(predicted[chosen] == j))
    return out


def ablation_curves(H, W, b, gold, ranking: np.ndarray) -> np.ndarray:
    """(n_tags targets, n_units + 1 values of k, n_tags): per-tag accuracy after zeroing the
    top-k units of each target tag's ranking."""
    n_tags, n_units = W.shape
    out = np.full((n_tags, n_units + 1, n_tags), np.nan)  # every cell is written below
    for target in range(n_tags):
        for k in range(n_units + 1):
            out[target, k] = per_tag_accuracy(gold, predictions(H, W, b, ranking[target, :k]),
                                              n_tags)
    return out


def selectivity(curves: np.ndarray, target: int, k: int) -> tuple[float, np.ndarray]:
    """The change of each tag's accuracy when the top-k of ``target`` are zeroed, and the
    target's drop minus the largest drop of any other tag (positive: the ablation hits the
    target hardest)."""
    change = curves[target, k] - curves[target, 0]
    drops = -change
    others = np.delete(drops, target)
    return float(drops[target] - np.nanmax(others)), change


# ----------------------------------------------------------------------------- tag relations
def tag_correlation(sens: np.ndarray) -> np.ndarray:
    """(n_tags, n_tags) Pearson correlation of the tags' sensitivity vectors over units; a tag
    with no variation (never predicted) correlates 0 with every other."""
    columns = np.nan_to_num(sens).T
    return _row_correlation(columns, columns)


def _pairs(tags: Sequence[str]):
    index = {t: i for i, t in enumerate(tags)}
    return lambda a, b: (index[a], index[b])


def correlation_relations(corr: np.ndarray, tags: Sequence[str]) -> dict[str, dict]:
    """The four relations of the sensitivity_correlations claim on one tag x tag correlation
    matrix; a relation holds when every pair it names has the stated sign."""
    at = _pairs(tags)
    groups = {
        "B-x with I-x positive": [(f"B-{x}", f"I-{x}", +1) for x in TYPES],
        "I-LOC, I-ORG, I-MISC pairwise positive": [
            (a, b, +1) for a, b in combinations(("I-LOC", "I-ORG", "I-MISC"), 2)],
        "B-x with I-y negative (x != y)": [
            (f"B-{x}", f"I-{y}", -1) for x in TYPES for y in TYPES if x != y],
        "O negative with every I-x": [("O", f"I-{x}", -1) for x in TYPES],
    }
    out = {}
    for name, pairs in groups.items():
        signs = {f"{a}/{b}": bool(np.sign(corr[at(a, b)]) == s) for a, b, s in pairs}
        out[name] = {"holds": all(signs.values()), "pairs": signs}
    return out


def cosine_matrix(W: np.ndarray) -> np.ndarray:
    unit = W / np.linalg.norm(W, axis=1, keepdims=True)
    return unit @ unit.T


def weight_relations(cos: np.ndarray, tags: Sequence[str]) -> dict[str, bool]:
    """The four relations of the weight_similarity claim on the tag x tag cosine matrix of
    the output layer's rows."""
    at = _pairs(tags)
    off = cos.copy()
    np.fill_diagonal(off, -np.inf)
    best_pair = np.unravel_index(np.argmax(off), off.shape)
    bi_pairs = {frozenset(at(f"B-{x}", f"I-{x}")) for x in TYPES}
    closer = []
    for x in ("LOC", "MISC", "ORG"):
        to_b = max(cos[at(f"B-{x}", f"B-{y}")] for y in TYPES if y != x)
        closer.append(to_b > cos[at(f"B-{x}", f"I-{x}")])
    o = tags.index("O")
    return {
        "no B-x/I-x pair is the most similar pair": frozenset(best_pair) not in bi_pairs,
        "I-LOC, I-ORG, I-MISC pairwise similar (cosine > 0)": all(
            cos[at(a, b)] > 0 for a, b in combinations(("I-LOC", "I-ORG", "I-MISC"), 2)),
        "B-x closer to some B-y than to I-x (LOC, MISC, ORG)": all(closer),
        "O closest to I-MISC": tags[int(np.argmax(off[o]))] == "I-MISC",
    }


def topk_overlap(ranking: np.ndarray, k: int = 10) -> np.ndarray:
    """(n_tags, n_tags): how many of the top-k important units two tags share."""
    tops = [set(row[:k].tolist()) for row in ranking]
    return np.array([[len(a & b) for b in tops] for a in tops])


# ----------------------------------------------------------------------------- across seeds
def _row_correlation(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    def standard(X):
        X = X - X.mean(1, keepdims=True)
        norm = np.linalg.norm(X, axis=1, keepdims=True)
        return np.divide(X, norm, out=np.zeros_like(X), where=norm > 0)
    return standard(A) @ standard(B).T


def matched_correlation(A: np.ndarray, B: np.ndarray) -> tuple[float, np.ndarray]:
    """Units of two models matched one to one to maximise the summed correlation of their
    sensitivity rows (Hungarian matching); the mean matched correlation and B's unit matched
    to each unit of A."""
    corr = _row_correlation(np.nan_to_num(A), np.nan_to_num(B))
    rows, cols = linear_sum_assignment(corr, maximize=True)
    return float(corr[rows, cols].mean()), cols


def shuffled_control(A: np.ndarray, B: np.ndarray, rng: np.random.Generator,
                     repeats: int = 20) -> float:
    """The same statistic with each row of B shuffled across tags: what matching alone gives
    when the rows carry no tag structure."""
    B = np.nan_to_num(B)
    values = []
    for _ in range(repeats):
        shuffled = np.stack([rng.permutation(row) for row in B])
        values.append(matched_correlation(A, shuffled)[0])
    return float(np.mean(values))
