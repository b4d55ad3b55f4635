"""Many L1 logistic regressions at once, in torch, for the sweeps of donnelly2019.

Each problem k shares the data ``X`` (n_samples, n_features) and labels, and has its own C
and its own set of usable columns (a deleted unit, a random subset of 100 units). The
objective is liblinear's, intercept included as a penalised synthetic feature of value 1
(scikit-learn's ``intercept_scaling=1``)::

    f(w, b) = |w|_1 + |b| + C * sum_i log(1 + exp(-y_i (x_i . w + b))),   y_i in {-1, +1}

solved by FISTA (accelerated proximal gradient) with adaptive restart, all problems in one
batched matrix product per iteration, on CPU or CUDA. Warm starts make the deletion sweep
cheap, and a deleted column whose weight is already zero leaves the optimum where it is, so
such problems are solved exactly by the full fit and need no iteration at all.
"""

from __future__ import annotations

import numpy as np
import torch


def liblinear_objective(coef, intercept, X, y, C) -> float:
    """The objective above for one problem, in float64 (the yardstick of the tests)."""
    X, y = np.asarray(X, dtype=np.float64), np.where(np.asarray(y) > 0, 1.0, -1.0)
    margin = y * (X @ np.asarray(coef, dtype=np.float64) + intercept)
    return float(np.abs(coef).sum() + abs(intercept) + C * np.logaddexp(0.0, -margin).sum())


class BatchedL1LogReg:
    """Solve K L1 logistic regressions on shared data.

    Parameters
    ----------
    max_iter : iterations at most
    tol : stop when every problem's objective changed by less than ``tol`` (relative) over
        the last ``patience`` iterations
    device : torch device; float64 on CPU for agreement with liblinear, float32 on CUDA
    """

    def __init__(self, max_iter: int = 5000, tol: float = 1e-7, patience: int = 20,
                 device: str = "cpu", dtype: torch.dtype | None = None):
        self.max_iter, self.tol, self.patience = max_iter, tol, patience
        self.device = device
        self.dtype = dtype or (torch.float32 if device.startswith("cuda") else torch.float64)

    def fit(self, X, y, C, masks=None, init=None) -> BatchedL1LogReg:
        """Fit every problem.

        X : ndarray of shape (n_samples, n_features); y : labels in {0, 1}
        C : float or ndarray of shape (n_problems,)
        masks : bool ndarray of shape (n_problems, n_features); True where a column may be used
        init : ndarray of shape (n_problems, n_features + 1), warm start (intercept last)

        Sets ``coef_`` (n_problems, n_features), ``intercept_`` (n_problems,), ``n_iter_``
        and ``objective_`` (n_problems,).
        """
        dev, dt = self.device, self.dtype
        X = torch.as_tensor(np.asarray(X), dtype=dt, device=dev)
        n, d = X.shape
        Xb = torch.cat([X, torch.ones(n, 1, dtype=dt, device=dev)], dim=1)  # (n, d + 1)
        t = torch.as_tensor(np.asarray(y) > 0, dtype=dt, device=dev)  # targets in {0, 1}
        C = np.asarray(C, dtype=np.float64)
        k = len(masks) if masks is not None else C.size
        C = np.broadcast_to(C, (k,)).copy()
        Ct = torch.as_tensor(C, dtype=dt, device=dev)[:, None]  # (k, 1)
        keep = torch.ones(k, d + 1, dtype=torch.bool, device=dev)
        if masks is not None:
            keep[:, :d] = torch.as_tensor(np.asarray(masks, dtype=bool), device=dev)
        # Lipschitz constant of C * logistic loss: C * ||Xb||_2^2 / 4 bounds every masked one.
        sigma = torch.linalg.matrix_norm(Xb, ord=2)
        step = 4.0 / (Ct * sigma**2)  # (k, 1)
        W = torch.zeros(k, d + 1, dtype=dt, device=dev)
        if init is not None:
            W = torch.as_tensor(np.asarray(init), dtype=dt, device=dev).clone() * keep
        Y = W.clone()
        momentum = torch.ones(k, 1, dtype=dt, device=dev)
        objective = self._objective(Xb, t, Ct, W)
        history = [objective]
        for iteration in range(1, self.max_iter + 1):
            z = Y @ Xb.T  # (k, n)
            grad = Ct * ((torch.sigmoid(z) - t) @ Xb)  # (k, d + 1)
            V = Y - step * grad
            W_new = torch.sign(V) * torch.clamp(V.abs() - step, min=0.0) * keep
            new_objective = self._objective(Xb, t, Ct, W_new)
            # Adaptive restart: a problem whose objective went up drops its momentum.
            worse = (new_objective > objective)[:, None]
            momentum_new = (1 + torch.sqrt(1 + 4 * momentum**2)) / 2
            Y = torch.where(worse, W, W_new + ((momentum - 1) / momentum_new) * (W_new - W))
            W = torch.where(worse, W, W_new)
            objective = torch.minimum(objective, new_objective)
            momentum = torch.where(worse, torch.ones_like(momentum), momentum_new)
            history.append(objective)
            if iteration >= self.patience:
                old = history[-self.patience - 1]
                if bool(((old - objective) <= self.tol * objective.abs()).all()):
                    break
        self.n_iter_ = iteration
        W = W.cpu().numpy()
        self.coef_, self.intercept_ = W[:, :d], W[:, d]
        self.objective_ = objective.cpu().numpy()
        return self

    @staticmethod
    def _objective(Xb, t, Ct, W):
        z = W @ Xb.T  # (k, n)
        loss = torch.nn.functional.softplus(z) - t * z  # log(1 + exp(-y z)) for y = 2t - 1
        return W.abs().sum(dim=1) + Ct[:, 0] * loss.sum(dim=1)

    def predict(self, X) -> np.ndarray:
        """Labels in {0, 1} of every problem: (n_problems, n_samples)."""
        z = self.coef_ @ np.asarray(X, dtype=np.float64).T + self.intercept_[:, None]
        return (z > 0).astype(int)

    def score(self, X, y) -> np.ndarray:
        """Accuracy in percent of every problem."""
        return 100.0 * (self.predict(X) == np.asarray(y)[None, :]).mean(axis=1)
