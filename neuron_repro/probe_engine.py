"""Many L1 logistic regressions at once, in torch, for the sweeps of donnelly2019.

Each problem k shares the data ``X`` (n_samples, n_features) and labels, and has its own C
and its own set of usable columns (a deleted unit, a random subset of 100 units). The
objective is liblinear's, intercept included as a penalised synthetic feature of value 1
(scikit-learn's ``intercept_scaling=1``)::

    f(w, b) = |w|_1 + |b| + C * sum_i log(1 + exp(-y_i (x_i . w + b))),   y_i in {-1, +1}

Problems that share the columns (masks: a deleted unit, the cumulative sweep) are solved by
FISTA (accelerated proximal gradient) with adaptive restart, all problems in one batched
matrix product per iteration, on a working set of columns grown until no left-out column
violates the optimality conditions. Warm starts make the deletion sweep cheap, and a deleted
column whose weight is already zero leaves the optimum where it is, so such problems are
solved exactly by the full fit and need no iteration at all. Problems on their own few
columns (the random subsets) are solved by proximal Newton steps, as liblinear itself does.
The probes' C grid (``fit_newton``) is solved by proximal Newton steps on working sets of
features, whose quadratic models are minimised exactly (:func:`lasso_qp`, reading only the
Hessian columns it needs), to an optimality condition over all features far tighter than
liblinear's stop. CPU or CUDA.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

WORKING_SET = 256  # columns a fit without a warm start begins with
NEWTON_SET = 256  # fit_newton: features a step may move beyond twice its non-zero weights
KKT_SLACK = 1e-4  # how far past the penalty a zero column's gradient may go before it joins
SETTLED = 1e-8  # lasso_qp: a signed set no solve improves is optimal if violated by at most this
KKT_TOL = 1e-5  # fit_newton's stop: the largest pseudo-gradient entry (the penalty's slope is 1)


def _pseudo_gradient(W: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The minimum-norm subgradient of ``|W|_1 + loss`` given the loss gradient ``g``: zero
    exactly at the optimum, so its largest entry measures how far a fit is from it."""
    at_zero = torch.where(g + 1 < 0, g + 1, torch.where(g - 1 > 0, g - 1, torch.zeros_like(g)))
    return torch.where(W != 0, g + torch.sign(W), at_zero)


class Gram:
    """A symmetric positive semi-definite matrix ``H`` (p x p) read by columns, each computed
    on first use by ``compute(columns) -> H[:, columns]`` and kept: the exact quadratic steps
    read only the columns of the weights they move, so at 4096 features with a few hundred
    non-zero weights most of ``H`` is never computed. Column j is kept as a row (H is
    symmetric), so reading a few of them is reading contiguous memory. ``Gram.of(H)`` wraps a
    matrix already complete."""

    PREFETCH = 32  # the fewest columns computed with each one asked for

    def __init__(self, size: int, compute):
        self.size, self._compute = size, compute
        self.slot = np.full(size, -1, dtype=np.int64)  # where column j is kept; -1: not yet
        self.rows = np.empty((0, size))
        self.computed = 0

    @classmethod
    def of(cls, H: np.ndarray) -> Gram:
        H = np.asarray(H, dtype=np.float64)
        gram = cls(len(H), None)
        gram.rows, gram.slot, gram.computed = H, np.arange(len(H)), len(H)
        return gram

    def ensure(self, columns, also=()) -> None:
        """Compute the columns of ``columns`` not yet computed; when there are any, the first
        ``PREFETCH`` of ``also`` not yet computed with them (those likely asked for next)."""
        columns = np.asarray(columns, dtype=np.int64).ravel()
        missing = columns[self.slot[columns] < 0]
        if not len(missing):
            return
        extra = np.asarray(also, dtype=np.int64).ravel()
        extra = extra[self.slot[extra] < 0][: self.PREFETCH]
        todo = np.unique(np.concatenate([missing, extra]))
        block = np.asarray(self._compute(todo), dtype=np.float64)
        if block.shape != (self.size, len(todo)) or not np.isfinite(block).all():
            raise FloatingPointError(f"the Hessian's columns came back {block.shape}, "
                                     f"{'finite' if np.isfinite(block).all() else 'not finite'}")
        if self.computed + len(todo) > len(self.rows):  # grow the store by doubling
            grown = np.empty((max(2 * len(self.rows), self.computed + len(todo)), self.size))
            grown[: self.computed] = self.rows[: self.computed]
            self.rows = grown
        self.rows[self.computed: self.computed + len(todo)] = block.T
        self.slot[todo] = np.arange(self.computed, self.computed + len(todo))
        self.computed += len(todo)

    def times(self, x: np.ndarray) -> np.ndarray:
        """``H @ x``, from the columns of x's non-zero entries only."""
        nz = np.flatnonzero(x)
        self.ensure(nz)
        kept = np.zeros(self.computed)  # x in the order the columns are kept: no gather
        kept[self.slot[nz]] = x[nz]
        return kept @ self.rows[: self.computed]

    def block(self, cols: np.ndarray) -> np.ndarray:
        """``H[cols, cols]`` (symmetrised: two columns computed apart may differ by rounding)."""
        self.ensure(cols)
        B = self.rows[np.ix_(self.slot[cols], cols)]
        return 0.5 * (B + B.T)


def working_set(w: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The features one Newton step of a problem may move (intercept last, always in): its
    non-zero weights and the ``NEWTON_SET`` plus twice as many as it has non-zero weights
    of largest loss gradient |g| (the worst violators of the optimality condition first).
    A feature left out stays at zero for this step only: at large C thousands break the
    condition at zero, and most of them stop breaking it once a few hundred have moved. The
    step after sees the exact gradient of every feature again, and a fit ends only when all
    of them meet the optimality condition. With p features at most ``NEWTON_SET`` all are
    in."""
    support = np.flatnonzero(w)
    top = np.argsort(-np.abs(g), kind="stable")[: NEWTON_SET + 2 * len(support)]
    return np.unique(np.concatenate([support, top, [len(w) - 1]]))


def lasso_qp(H, q: np.ndarray, x: np.ndarray, tol: float = 1e-10,
             max_steps: int = 10000) -> np.ndarray:
    """The exact minimiser of ``x'Hx / 2 + q'x + |x|_1`` (H positive semi-definite: an array
    or a :class:`Gram`), from ``x``, by feature-sign search (Lee, Battle, Raina & Ng 2007): a
    column that violates the optimality condition joins with the sign it needs, the quadratic
    is solved on the signed columns, and the step stops at the best of its end and the points
    where a weight crosses zero (that weight leaves). Every step solves a linear system, so
    near-collinear columns cost nothing more, where coordinate descent crawls. The signed set
    is optimal when its gradient meets the condition to ``tol``, or to ``SETTLED`` when no
    solve improves on it (rounding: near-collinear columns hold it to about 1e-10, no
    closer). Only the columns of H that the signed set ever holds are read."""
    gram = H if isinstance(H, Gram) else Gram.of(H)
    x = np.array(x, dtype=np.float64)

    def change(v, grad, cols, block):
        """value(v) - value(x) at the current x (gradient ``grad``), where v differs from x
        only at ``cols`` (H's block there: ``block``), term by term: near the optimum the
        decrease is far below the rounding of the value itself, and comparing two values
        would take or refuse steps by rounding noise."""
        d = v[cols] - x[cols]
        return grad[cols] @ d + 0.5 * d @ block @ d + (np.abs(v[cols]) - np.abs(x[cols])).sum()

    settled = False  # the signed set is optimal as far as float64 can tell
    for _ in range(max_steps):
        grad = gram.times(x) + q
        active, theta = x != 0, np.sign(x)
        violation = np.abs(grad[active] + theta[active]).max(initial=0.0)
        joined = violation <= tol or settled
        if joined:
            settled = False
            outside = np.where(active, 0.0, np.abs(grad))
            j = int(np.argmax(outside))
            if outside[j] <= 1 + tol:
                return x
            theta[j], active[j] = -np.sign(grad[j]), True
            # the next columns to join are likeliest among the next largest violations
            gram.ensure([j], also=np.argsort(-outside))
        cols = np.nonzero(active)[0]
        block = gram.block(cols)
        ridge = 1e-14 * np.trace(block) / len(cols) * np.eye(len(cols))
        target = np.linalg.solve(block + ridge, -(q[cols] + theta[cols]))
        start, move = x[cols], target - x[cols]
        with np.errstate(divide="ignore", invalid="ignore"):
            crossing = np.where(move != 0, -start / move, np.inf)
        steps = np.concatenate([[1.0], np.unique(crossing[(crossing > 0) & (crossing < 1)])])
        best, best_value = x, np.inf
        for step in steps:
            trial = x.copy()
            trial[cols] = start + step * move
            trial[cols[crossing == step]] = 0.0  # the weights that cross here leave exactly
            trial_value = change(trial, grad, cols, block)
            if trial_value < best_value:
                best, best_value = trial, trial_value
        if best_value >= 0 and violation <= SETTLED and not joined:
            # The solve on the signed set cannot improve on x, whose gradient there is
            # within rounding of optimal (on near-collinear columns the condition number
            # is 1e8 and more, the gradient's rounding 1e-10 and more): look for a joiner.
            # Coordinate steps from here would move x by rounding noise, thousands of them.
            settled = True
            continue
        if best_value >= 0:
            # Rounding in a near-singular solve can cost the step its decrease: then the
            # exact minimisation along the coordinate that violates optimality most.
            pg = np.where(x != 0, grad + np.sign(x),
                          np.sign(grad) * np.maximum(np.abs(grad) - 1, 0.0))
            order = np.argsort(-np.abs(pg))
            j = order[:1]
            gram.ensure(j, also=order)
            hjj = gram.block(j)
            if hjj[0, 0] <= 0 or abs(pg[j[0]]) <= tol:
                return x
            u = x[j[0]] - grad[j[0]] / hjj[0, 0]
            best = x.copy()
            best[j] = np.sign(u) * max(abs(u) - 1 / hjj[0, 0], 0.0)
            if change(best, grad, j, hjj) >= 0:
                return x  # as good as float64 gets
        x = best
    return x


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
    full_hessian : whether ``fit_newton`` computes each Hessian whole (None: on CUDA only;
        see :meth:`_hessians`)
    """

    def __init__(self, max_iter: int = 5000, tol: float = 1e-7, patience: int = 20,
                 device: str = "cpu", dtype: torch.dtype | None = None,
                 full_hessian: bool | None = None):
        self.max_iter, self.tol, self.patience = max_iter, tol, patience
        self.device, self.full_hessian = device, full_hessian
        self.dtype = dtype or (torch.float32 if device.startswith("cuda") else torch.float64)

    def fit(self, X, y, C, masks=None, init=None) -> BatchedL1LogReg:
        """Fit every problem on the columns its mask allows.

        X : ndarray of shape (n_samples, n_features); y : labels in {0, 1}
        C : float or ndarray of shape (n_problems,)
        masks : bool ndarray of shape (n_problems, n_features); True where a column may be used
        init : ndarray of shape (n_problems, n_features + 1), warm start (intercept last)

        Sets ``coef_`` (n_problems, n_features), ``intercept_`` (n_problems,), ``n_iter_``
        and ``objective_`` (n_problems,).

        Solved on a working set of columns: those the warm start uses (without one, the
        ``WORKING_SET`` columns of largest gradient at zero), grown by every column that
        violates the optimality condition of the whole problem (a zero weight whose loss
        gradient exceeds the L1 penalty's 1) until none does. The optimum of the working set
        is then the optimum of the whole problem; columns it leaves out cost nothing.
        """
        dev, dt = self.device, self.dtype
        Xb = self._with_bias(torch.as_tensor(np.asarray(X), dtype=dt, device=dev))  # (n, d + 1)
        d = Xb.shape[1] - 1
        k = len(masks) if masks is not None else np.size(C)
        keep = torch.ones(k, d + 1, dtype=torch.bool, device=dev)
        if masks is not None:
            keep[:, :d] = torch.as_tensor(np.asarray(masks, dtype=bool), device=dev)
        t = torch.as_tensor(np.asarray(y) > 0, dtype=dt, device=dev)
        Ct = self._C(C, k)
        W = torch.zeros(k, d + 1, dtype=dt, device=dev)
        if init is not None:
            W = torch.as_tensor(np.asarray(init), dtype=dt, device=dev).expand(k, -1) * keep
            active = (W != 0).any(0)
        else:
            score = (Xb.T @ (0.5 - t)).abs()
            active = torch.zeros(d + 1, dtype=torch.bool, device=dev)
            active[torch.argsort(score, descending=True)[:WORKING_SET]] = True
        active[d] = True
        iterations, self.working_set_ = 0, []
        while True:
            cols = torch.nonzero(active).ravel()
            Xs = Xb[:, cols]
            # C * ||Xs||_2^2 / 4 is a Lipschitz constant of every masked problem's gradient.
            lipschitz = torch.linalg.matrix_norm(Xs, ord=2) ** 2 / 4
            Ws = self._fista(lambda V, Xs=Xs: V @ Xs.T, lambda R, Xs=Xs: R @ Xs, t, Ct,
                             lipschitz, keep[:, cols], W[:, cols])
            iterations += self.n_iter_
            self.working_set_.append(len(cols))
            W = torch.zeros_like(W)
            W[:, cols] = Ws
            gradient = Ct * (torch.sigmoid(W @ Xb.T) - t) @ Xb  # (k, d + 1)
            violated = (gradient.abs() > 1 + KKT_SLACK) & keep & ~active
            if not bool(violated.any()):
                break
            active |= violated.any(0)
        self.n_iter_ = iterations
        W = W.cpu().numpy()
        self.coef_, self.intercept_ = W[:, :d], W[:, d]
        return self

    def fit_newton(self, X, y, C, max_iter: int = 100) -> BatchedL1LogReg:
        """Fit every problem on all columns of ``X`` by proximal Newton steps, the quadratic
        model of each step minimised exactly by :func:`lasso_qp`.

        Per step: every problem's gradient over all features; its exact Hessian on a
        working set of them (:func:`working_set`: the non-zero weights and the largest
        gradients; float64 on the CPU, where only the columns the quadratic step reads are
        computed, see :meth:`_hessians`); the L1-regularised quadratic model on that set
        solved exactly, from the problem's weights or the previous problem's new ones,
        whichever the model prefers (a C grid's neighbours share most of their support);
        and a backtracking line search on the objective. Features with a large common
        offset and a small spread (this model's cell states) are nearly collinear;
        first-order steps and coordinate descent crawl on them (liblinear stops at its
        100-iteration cap), a Newton step does not. It stops when every problem meets the
        optimality condition over all features: its largest pseudo-gradient entry at most
        ``KKT_TOL``.

        Sets ``coef_`` (n_problems, n_features), ``intercept_``, ``objective_``, ``n_iter_``,
        ``kkt_`` (each problem's largest pseudo-gradient entry), ``converged_`` and
        ``hessian_columns_`` (Hessian columns computed, over all problems and steps).
        """
        dev = self.device
        dt = torch.float64 if str(dev) == "cpu" else self.dtype
        Xb = self._with_bias(torch.as_tensor(np.asarray(X), dtype=dt, device=dev))  # (n, p)
        p = Xb.shape[1]
        t = torch.as_tensor(np.asarray(y) > 0, dtype=dt, device=dev)
        Ct = self._C(C, np.size(C)).to(dt)
        k = len(Ct)
        W = torch.zeros(k, p, dtype=dt, device=dev)

        def objective(V, z):
            return V.abs().sum(1) + Ct[:, 0] * (F.softplus(z) - t * z).sum(1)

        def change(V, dV, z, dz):
            """objective(V + dV, z + dz) - objective(V, z), term by term, for the line search:
            as in :func:`lasso_qp`, near the optimum the change is below the rounding of the
            objective itself (about 1e-13 of a value in the thousands)."""
            loss = torch.where(dz.abs() < 1, torch.log1p(torch.sigmoid(z) * torch.expm1(dz)),
                               F.softplus(z + dz) - F.softplus(z))
            return ((V + dV).abs() - V.abs()).sum(1) + Ct[:, 0] * (loss - t * dz).sum(1)

        z = W @ Xb.T
        self.n_iter_ = self.hessian_columns_ = 0
        store = {}  # what the Hessians of every step read (see _hessians)
        while True:
            prob = torch.sigmoid(z)
            g = Ct * (prob - t) @ Xb  # (k, p)
            kkt = _pseudo_gradient(W, g).abs().amax(1)
            if bool((kkt <= KKT_TOL).all()) or self.n_iter_ == max_iter:
                break
            self.n_iter_ += 1
            curvature = Ct * prob * (1 - prob)  # (k, n): the Hessian is Xb' diag(.) Xb
            Wn, gn = W.double().cpu().numpy(), g.double().cpu().numpy()
            sets = {int(i): working_set(Wn[i], gn[i])
                    for i in np.flatnonzero((kkt > KKT_TOL).cpu().numpy())}
            D = np.zeros_like(Wn)
            hessian = self._hessians(Xb, curvature, sets, store)
            previous = None  # the last problem's new weights: a start for the next one's QP
            for i, ws in sets.items():
                gram, start = hessian(i), Wn[i, ws]
                Hw = gram.times(start)
                q = gn[i, ws] - Hw
                if previous is not None:
                    # problems in a row are often neighbours of a C grid: the QP starts
                    # where its model is lower (feature-sign search finds the same minimum
                    # from any start, with far fewer joins from a near one)
                    other = previous[ws]
                    if (q @ other + 0.5 * other @ gram.times(other) + np.abs(other).sum()
                            < q @ start + 0.5 * start @ Hw + np.abs(start).sum()):
                        start = other
                x = lasso_qp(gram, q, start)
                D[i, ws] = x - Wn[i, ws]
                previous = np.zeros(p)
                previous[ws] = x
                self.hessian_columns_ += gram.computed
            D = torch.as_tensor(D, dtype=dt, device=dev)
            drop = (g * D).sum(1) + ((W + D).abs() - W.abs()).sum(1)
            dz = D @ Xb.T  # the margins' change for a whole step
            step = torch.ones(k, 1, dtype=dt, device=dev)
            done = (D == 0).all(1)
            for _ in range(50):
                ok = ~done & (change(W, step * D, z, step * dz) <= 1e-4 * step[:, 0] * drop)
                trial = W + step * D
                W = torch.where(ok[:, None], trial, W)
                z = torch.where(ok[:, None], trial @ Xb.T, z)
                done |= ok
                if bool(done.all()):
                    break
                step = torch.where(done[:, None], step, step / 2)
            if not bool(done.all()):
                break  # a problem no step improves: it is reported by its KKT value
        g = Ct * (torch.sigmoid(z) - t) @ Xb
        self.kkt_ = _pseudo_gradient(W, g).abs().amax(1).cpu().numpy()
        self.converged_ = self.kkt_ <= KKT_TOL
        self.objective_ = objective(W, z).cpu().numpy()
        W = W.cpu().numpy()
        self.coef_, self.intercept_ = W[:, :p - 1], W[:, p - 1]
        return self

    def _hessians(self, Xb, curvature, sets: dict, store: dict):
        """``hessian(i)``: the Hessian of the loss of problem i of ``sets`` on its working set
        ``sets[i]`` (the rows and columns of those features), as a :class:`Gram`, one problem
        at a time (the CPU's is good until the next is asked for). On CUDA all of each in one
        batched product (the device's matmul is cheap, a trip per column is not); on the CPU
        column by column as the quadratic steps ask for them (a full one is p^2 n
        multiply-adds per problem: a minute a Newton step at 4096 features). ``store``
        keeps what every step of one fit reads."""
        rows = sorted(sets)
        full = self.full_hessian if self.full_hessian is not None else Xb.device.type != "cpu"
        if full:
            weights = curvature[torch.as_tensor(rows, device=Xb.device, dtype=torch.long)]
            scaled = Xb.T[None] * torch.sqrt(weights)[:, None, :]  # (k, p, n)
            H = dict(zip(rows, scaled @ scaled.transpose(1, 2), strict=True))

            def whole(i):  # only the working set's block leaves the device
                ws = torch.as_tensor(sets[i], device=Xb.device, dtype=torch.long)
                return Gram.of(H[i][ws][:, ws].double().cpu().numpy())

            return whole

        if "XT" not in store:
            # the features as rows (p, n), once a fit, so that a working set's are contiguous
            # rows (numpy's BLAS is faster here than torch's)
            store["XT"] = np.ascontiguousarray(Xb.double().cpu().numpy().T)
        XT, weights = store["XT"], curvature.double().cpu().numpy()
        largest = max(len(ws) for ws in sets.values())
        if len(store.get("buffer", ())) < largest:
            # one buffer for a working set's rows, reused: a fresh 50 MB array costs more
            # in page faults than the copy into it
            store["buffer"] = np.empty((largest, XT.shape[1]))

        def hessian(i):
            Xs = np.take(XT, sets[i], axis=0, out=store["buffer"][: len(sets[i])])
            return Gram(len(sets[i]), lambda cols: Xs @ (Xs[cols] * weights[i]).T)

        return hessian

    def fit_subsets(self, X, y, C, columns, chunk: int | None = None) -> BatchedL1LogReg:
        """Fit problem k on the columns ``columns[k]`` only (random-subset classifiers).

        columns : int ndarray of shape (n_problems, n_columns). Each problem reads just its own
        columns, so 1000 problems of 100 columns cost 100 columns' work each; ``chunk``
        problems are solved together (default: ``subset_chunk``).
        Sets ``coef_`` (n_problems, n_columns) in the order of ``columns``, and the rest.
        """
        dev, dt = self.device, self.dtype
        columns = np.asarray(columns)
        # (d, n): a problem's columns are rows to gather
        columns_first = torch.as_tensor(np.asarray(X).T, dtype=dt, device=dev).contiguous()
        t = torch.as_tensor(np.asarray(y) > 0, dtype=dt, device=dev)
        Cs = self._C(C, len(columns))
        k_all, m = columns.shape
        chunk = chunk or self.subset_chunk(k_all, m + 1, columns_first.shape[1])
        W, objective, iterations = [], [], 0
        for start in range(0, k_all, chunk):
            idx = torch.as_tensor(columns[start:start + chunk], dtype=torch.long, device=dev)
            Xs = torch.ones(len(idx), m + 1, columns_first.shape[1], dtype=dt, device=dev)
            Xs[:, :m] = columns_first[idx]  # the bias row last
            W.append(self._newton(Xs, t, Cs[start:start + chunk]).cpu().numpy())
            objective.append(self.objective_)
            iterations = max(iterations, self.n_iter_)
        W = np.concatenate(W)
        self.coef_, self.intercept_ = W[:, :m], W[:, m]
        self.objective_, self.n_iter_ = np.concatenate(objective), iterations
        self.columns_ = columns
        return self

    def subset_chunk(self, k: int, p: int, n: int) -> int:
        """Problems of ``p`` columns and ``n`` samples that ``fit_subsets`` solves together.

        64 on the CPU. On CUDA every coordinate step is a few kernel launches however many
        problems it updates, so as many as a quarter of the free memory holds (the columns in
        the working precision, their float32 copy and the scaled copy the Hessian is formed
        from).
        """
        if not str(self.device).startswith("cuda"):
            return min(k, 64)
        free, _ = torch.cuda.mem_get_info(torch.device(self.device))
        per_problem = p * n * (torch.finfo(self.dtype).bits // 8 + 8)
        return int(max(1, min(k, free // 4 // per_problem)))

    def _C(self, C, k):
        return torch.as_tensor(np.broadcast_to(np.asarray(C, dtype=np.float64), (k,)).copy(),
                               dtype=self.dtype, device=self.device)[:, None]  # (k, 1)

    def _newton(self, Xs, t, Ct, max_outer: int = 100, sweeps: int = 10) -> torch.Tensor:
        """Proximal Newton (as newGLMNET, liblinear's own L1 solver, does it) on problems of
        few columns each: per outer step the exact Hessian of every problem (one batched
        product), the L1-regularised quadratic model minimised by coordinate descent, and a
        backtracking line search on the objective. A few dozen steps where first-order
        methods take thousands, each a compute-bound product instead of a memory-bound one.

        ``Xs``: (k, p, n), problem k's columns as rows, its bias row last.
        """
        k, p, _ = Xs.shape
        W = torch.zeros(k, p, dtype=Xs.dtype, device=Xs.device)
        # The Hessian only shapes the step (the line search and the float64 gradient decide
        # where it ends), so it is formed in float32, at twice the speed.
        Xs32 = Xs.float()

        def margins(V):
            return torch.bmm(V[:, None, :], Xs)[:, 0, :]

        def objective(V, z):
            return V.abs().sum(1) + Ct[:, 0] * (F.softplus(z) - t * z).sum(1)

        z = margins(W)
        value = objective(W, z)
        self.n_iter_ = 0
        for _ in range(max_outer):
            self.n_iter_ += 1
            prob = torch.sigmoid(z)
            gradient = Ct * torch.bmm(Xs, (prob - t)[:, :, None])[:, :, 0]  # (k, p)
            scaled = Xs32 * torch.sqrt(Ct * prob * (1 - prob)).float()[:, None, :]
            H = torch.bmm(scaled, scaled.transpose(1, 2)).to(W.dtype)  # (k, p, p)
            diag = H.diagonal(dim1=1, dim2=2) + 1e-12
            V, Hd = W.clone(), torch.zeros_like(W)
            inverse = 1 / diag
            for _ in range(sweeps):
                before = V.clone()
                for j in range(p):  # H is symmetric: its row j is its column j
                    target = V[:, j] - (gradient[:, j] + Hd[:, j]) * inverse[:, j]
                    new = torch.sign(target) * torch.clamp(target.abs() - inverse[:, j], min=0)
                    Hd.addcmul_((new - V[:, j])[:, None], H[:, j])
                    V[:, j] = new
                moved = (V - before).abs().amax(1)
                if bool((moved <= 1e-8 * (1 + V.abs().amax(1))).all()):
                    break
            direction = V - W
            # sufficient decrease of the composite objective along the direction
            model_drop = (gradient * direction).sum(1) + V.abs().sum(1) - W.abs().sum(1)
            step = torch.ones(k, 1, dtype=W.dtype, device=W.device)
            accepted = torch.zeros(k, dtype=torch.bool, device=W.device)
            new_W, new_z, new_value = W.clone(), z.clone(), value.clone()
            for _ in range(30):
                trial = W + step * direction
                z_trial = margins(trial)
                v_trial = objective(trial, z_trial)
                ok = ~accepted & (v_trial <= value + 0.01 * step[:, 0] * model_drop)
                new_W[ok], new_z[ok], new_value[ok] = trial[ok], z_trial[ok], v_trial[ok]
                accepted |= ok
                if bool(accepted.all()):
                    break
                step = torch.where(accepted[:, None], step, step / 2)
            decrease = (value - new_value) / new_value.abs()
            W, z, value = new_W, new_z, new_value
            if bool((decrease <= self.tol).all()):
                break
        self.objective_ = value.cpu().numpy()
        return W

    @staticmethod
    def _with_bias(X):
        return torch.cat([X, torch.ones(*X.shape[:-1], 1, dtype=X.dtype, device=X.device)], -1)

    def _fista(self, forward, transpose, t, Ct, lipschitz, keep, W) -> torch.Tensor:
        """FISTA with adaptive restart on all problems from ``W``; ``forward(W)`` gives the
        margins (k, n_samples), ``transpose(R)`` the gradient directions (k, p). The margins
        of the extrapolated point are combined from those of the last two iterates, so an
        iteration costs one ``forward`` and one ``transpose``."""
        step = 1.0 / (Ct * lipschitz)  # (k, 1)

        def objective(W, z):
            return W.abs().sum(dim=1) + Ct[:, 0] * (F.softplus(z) - t * z).sum(dim=1)

        W = W.clone()
        z_w = forward(W)
        Y, z_y = W, z_w
        momentum = torch.ones_like(Ct)
        value = objective(W, z_w)
        history = [value]
        for iteration in range(1, self.max_iter + 1):
            V = Y - step * Ct * transpose(torch.sigmoid(z_y) - t)
            W_new = torch.sign(V) * torch.clamp(V.abs() - step, min=0.0) * keep
            z_new = forward(W_new)
            new_value = objective(W_new, z_new)
            # Adaptive restart: a problem whose objective went up drops its momentum.
            worse = (new_value > value)[:, None]
            momentum_new = (1 + torch.sqrt(1 + 4 * momentum**2)) / 2
            beta = (momentum - 1) / momentum_new
            Y = torch.where(worse, W, W_new + beta * (W_new - W))
            z_y = torch.where(worse, z_w, z_new + beta * (z_new - z_w))
            W = torch.where(worse, W, W_new)
            z_w = torch.where(worse, z_w, z_new)
            value = torch.minimum(value, new_value)
            momentum = torch.where(worse, torch.ones_like(momentum), momentum_new)
            history.append(value)
            if iteration >= self.patience:
                old = history[-self.patience - 1]
                if bool(((old - value) <= self.tol * value.abs()).all()):
                    break
        self.n_iter_ = iteration
        self.objective_ = value.cpu().numpy()
        return W

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
