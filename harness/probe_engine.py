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
import torch.nn.functional as F


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
        """Fit every problem on the columns its mask allows.

        X : ndarray of shape (n_samples, n_features); y : labels in {0, 1}
        C : float or ndarray of shape (n_problems,)
        masks : bool ndarray of shape (n_problems, n_features); True where a column may be used
        init : ndarray of shape (n_problems, n_features + 1), warm start (intercept last)

        Sets ``coef_`` (n_problems, n_features), ``intercept_`` (n_problems,), ``n_iter_``
        and ``objective_`` (n_problems,).
        """
        dev, dt = self.device, self.dtype
        Xb = self._with_bias(torch.as_tensor(np.asarray(X), dtype=dt, device=dev))  # (n, d + 1)
        d = Xb.shape[1] - 1
        k = len(masks) if masks is not None else np.size(C)
        keep = torch.ones(k, d + 1, dtype=torch.bool, device=dev)
        if masks is not None:
            keep[:, :d] = torch.as_tensor(np.asarray(masks, dtype=bool), device=dev)
        # C * ||Xb||_2^2 / 4 is a Lipschitz constant of every masked problem's loss gradient.
        lipschitz = torch.linalg.matrix_norm(Xb, ord=2) ** 2 / 4
        W0 = None if init is None else torch.as_tensor(np.asarray(init), dtype=dt, device=dev)
        W = self._fista(lambda W: W @ Xb.T, lambda R: R @ Xb, y, C, k, d + 1, lipschitz, keep, W0)
        self.coef_, self.intercept_ = W[:, :d], W[:, d]
        return self

    def fit_subsets(self, X, y, C, columns) -> BatchedL1LogReg:
        """Fit problem k on the columns ``columns[k]`` only (random-subset classifiers).

        columns : int ndarray of shape (n_problems, n_columns). Each problem reads just its own
        columns, so 1000 problems of 100 columns cost 100 columns' work each.
        Sets ``coef_`` (n_problems, n_columns) in the order of ``columns``, and the rest.
        """
        dev, dt = self.device, self.dtype
        X = torch.as_tensor(np.asarray(X), dtype=dt, device=dev)
        idx = torch.as_tensor(np.asarray(columns), dtype=torch.long, device=dev)
        k, m = idx.shape
        Xs = self._with_bias(X[:, idx].permute(1, 0, 2))  # (k, n, m + 1)
        lipschitz = torch.linalg.matrix_norm(Xs, ord=2)[:, None] ** 2 / 4  # (k, 1)
        keep = torch.ones(k, m + 1, dtype=torch.bool, device=dev)
        W = self._fista(lambda W: torch.bmm(Xs, W[:, :, None])[:, :, 0],
                        lambda R: torch.bmm(R[:, None, :], Xs)[:, 0, :],
                        y, C, k, m + 1, lipschitz, keep, None)
        self.coef_, self.intercept_ = W[:, :m], W[:, m]
        self.columns_ = np.asarray(columns)
        return self

    @staticmethod
    def _with_bias(X):
        return torch.cat([X, torch.ones(*X.shape[:-1], 1, dtype=X.dtype, device=X.device)], -1)

    def _fista(self, forward, transpose, y, C, k, p, lipschitz, keep, W0) -> np.ndarray:
        """FISTA with adaptive restart on all problems; ``forward(W)`` gives the margins
        (k, n_samples), ``transpose(R)`` the gradient directions (k, p)."""
        dev, dt = self.device, self.dtype
        t = torch.as_tensor(np.asarray(y) > 0, dtype=dt, device=dev)  # targets in {0, 1}
        Ct = torch.as_tensor(np.broadcast_to(np.asarray(C, dtype=np.float64), (k,)).copy(),
                             dtype=dt, device=dev)[:, None]  # (k, 1)
        step = 1.0 / (Ct * lipschitz)  # (k, 1)

        def objective(W):
            z = forward(W)
            return W.abs().sum(dim=1) + Ct[:, 0] * (F.softplus(z) - t * z).sum(dim=1)

        W = torch.zeros(k, p, dtype=dt, device=dev) if W0 is None else W0.clone() * keep
        Y = W.clone()
        momentum = torch.ones(k, 1, dtype=dt, device=dev)
        value = objective(W)
        history = [value]
        for iteration in range(1, self.max_iter + 1):
            V = Y - step * Ct * transpose(torch.sigmoid(forward(Y)) - t)
            W_new = torch.sign(V) * torch.clamp(V.abs() - step, min=0.0) * keep
            new_value = objective(W_new)
            # Adaptive restart: a problem whose objective went up drops its momentum.
            worse = (new_value > value)[:, None]
            momentum_new = (1 + torch.sqrt(1 + 4 * momentum**2)) / 2
            Y = torch.where(worse, W, W_new + ((momentum - 1) / momentum_new) * (W_new - W))
            W = torch.where(worse, W, W_new)
            value = torch.minimum(value, new_value)
            momentum = torch.where(worse, torch.ones_like(momentum), momentum_new)
            history.append(value)
            if iteration >= self.patience:
                old = history[-self.patience - 1]
                if bool(((old - value) <= self.tol * value.abs()).all()):
                    break
        self.n_iter_ = iteration
        self.objective_ = value.cpu().numpy()
        return W.cpu().numpy()

    def decision_function(self, X) -> np.ndarray:
        """Margins of every problem: (n_problems, n_samples)."""
        X = np.asarray(X, dtype=np.float64)
        if hasattr(self, "columns_"):
            z = np.einsum("knm,km->kn", X[:, self.columns_].transpose(1, 0, 2), self.coef_)
        else:
            z = self.coef_ @ X.T
        return z + self.intercept_[:, None]

    def predict(self, X) -> np.ndarray:
        """Labels in {0, 1} of every problem: (n_problems, n_samples)."""
        return (self.decision_function(X) > 0).astype(int)

    def score(self, X, y) -> np.ndarray:
        """Accuracy in percent of every problem."""
        return 100.0 * (self.predict(X) == np.asarray(y)[None, :]).mean(axis=1)
