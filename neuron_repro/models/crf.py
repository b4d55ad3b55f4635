"""A linear-chain CRF over emission scores: negative log-likelihood and Viterbi decoding.

``transitions[i, j]`` scores tag ``i`` followed by tag ``j``; ``start`` and ``end`` score the
first and last tag. Sequences are batch-first with a mask whose first column is all true.
"""

from __future__ import annotations

import torch
from torch import nn


class CRF(nn.Module):
    def __init__(self, n_tags: int):
        super().__init__()
        self.n_tags = n_tags
        self.start = nn.Parameter(torch.zeros(n_tags))
        self.end = nn.Parameter(torch.zeros(n_tags))
        self.transitions = nn.Parameter(torch.zeros(n_tags, n_tags))

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log Z per sequence, by the forward algorithm."""
        alpha = self.start + emissions[:, 0]
        for t in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha.unsqueeze(2) + self.transitions, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None], step, alpha)
        return torch.logsumexp(alpha + self.end, dim=1)

    def score(self, emissions: torch.Tensor, tags: torch.Tensor,
              mask: torch.Tensor) -> torch.Tensor:
        """The unnormalised score of the given tag sequences."""
        maskf = mask.to(emissions.dtype)
        emitted = (emissions.gather(2, tags.unsqueeze(2)).squeeze(2) * maskf).sum(1)
        moves = (self.transitions[tags[:, :-1], tags[:, 1:]] * maskf[:, 1:]).sum(1)
        last = tags.gather(1, (mask.sum(1, keepdim=True) - 1)).squeeze(1)
        return self.start[tags[:, 0]] + emitted + moves + self.end[last]

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor):
        """Summed over the batch, as NCRF++ does."""
        return (self.log_partition(emissions, mask) - self.score(emissions, tags, mask)).sum()

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """The best tag sequence of each input (Viterbi)."""
        score, history = self.start + emissions[:, 0], []
        for t in range(1, emissions.shape[1]):
            best, back = (score.unsqueeze(2) + self.transitions).max(dim=1)
            score = torch.where(mask[:, t, None], best + emissions[:, t], score)
            history.append(back)
        score = score + self.end
        lengths = mask.sum(1).tolist()
        last = score.argmax(1).tolist()
        paths = []
        for b, length in enumerate(lengths):
            path = [last[b]]
            for t in range(length - 1, 0, -1):
                path.append(int(history[t - 1][b, path[-1]]))
            paths.append(path[::-1])
        return paths
