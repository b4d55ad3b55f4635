"""Run claims against a RunContext and write the report."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import torch

from neuron_repro import figures
from neuron_repro.data import DatasetError
from neuron_repro.experiments import EXPERIMENTS, fixture_expected, fixture_measured, prepare
from neuron_repro.experiments.preconditions import check_precondition, unit_checks
from neuron_repro.models.mlstm import ModelFormatError
from neuron_repro.models.tagger import TrainingDiverged
from neuron_repro.provenance import git_commit, provenance
from neuron_repro.report import write_report
from neuron_repro.repro import RunContext
from neuron_repro.verdicts import FAIL, NOT_IMPLEMENTED, Claim, ClaimResult, judge, not_run

MLSTM_REQUIREMENTS = ("openai-release", "mlstm")
SKIPPED = "skipped in this run"  # how the reason of a claim left out with --skip begins


def evaluate(claim: Claim, ctx: RunContext) -> ClaimResult:
    """Measure one claim and judge it; a claim that cannot run gets NOT RUN and the reason."""
    if claim.experiment is None:
        return not_run(claim, NOT_IMPLEMENTED, "not_implemented")
    if claim.requires_model in MLSTM_REQUIREMENTS and ctx.model is None:
        return not_run(claim, "needs an mLSTM: pass --model openai:FOLDER or a checkpoint folder")
    if ctx.is_control and claim.requires_model not in MLSTM_REQUIREMENTS:
        return not_run(claim, "the untrained control is an mLSTM; this claim trains its own "
                       "models")
    ctx.engine_used.clear()
    try:
        measurement = EXPERIMENTS[claim.experiment](ctx, claim)
        checks = [check_precondition(ctx, p) for p in claim.preconditions]
    except (DatasetError, ModelFormatError, TrainingDiverged) as exc:
        return not_run(claim, str(exc))
    if ctx.engine_used:
        engine = (f"the probes of {', '.join(sorted(ctx.engine_used))} were solved by the "
                  "batched engine (neuron_repro.probe_engine), not liblinear")
        measurement.note = f"{measurement.note}; {engine}" if measurement.note else engine
        measurement.details = {**measurement.details,
                               "probe_solver": {n: "engine" for n in sorted(ctx.engine_used)}}
    result = judge(claim, measurement, ctx.has_release, ctx.fixtures, checks)
    if ctx.out_dir is None:  # nothing is drawn, so no row names a figure
        result.figures, result.captions, result.pages = [], {}, []
        return result
    for spec in measurement.figures:
        if id(spec) not in ctx.drawn:  # a figure that several claims share is drawn once
            figures.draw(spec, ctx.out_dir)
            ctx.drawn[id(spec)] = spec  # kept, so that no other spec can reuse its id
    return result


def _evaluate_each(claims: Sequence[Claim], ctx: RunContext, threads: int | None = None,
                   where: str = "the control"
                   ) -> tuple[dict[str, ClaimResult], dict, list, dict]:
    """Evaluate claims in a worker process; returns the results, the data files read, the
    errors (each recorded as NOT RUN so the report is still written) and the cache counts."""
    if threads:
        torch.set_num_threads(threads)
    out, errors = {}, []
    _prepare(ctx, claims, errors, where)
    for claim in claims:
        try:
            out[claim.id] = evaluate(claim, ctx)
        except Exception as exc:  # noqa: BLE001 - reported by the main process
            errors.append(f"{claim.id} ({where}): {exc!r}\n{traceback.format_exc()}")
            out[claim.id] = not_run(claim, f"experiment failed on {where}: {exc!r}", "failed")
    return out, ctx.data_files, errors, {**ctx.cache_stats(), "units": _unit_checks(ctx)}


def _prepare(ctx: RunContext, claims: Sequence[Claim], errors: list, where: str) -> None:
    """The shared work done before the claims (see :func:`neuron_repro.experiments.prepare`).
    When it fails the claims are still measured, each on its own (a missing dataset then says
    so in each claim's reason), and the error is kept."""
    try:
        prepare(ctx, claims)
    except (DatasetError, ModelFormatError):
        pass  # each claim meets it again and is NOT RUN with the reason
    except Exception as exc:  # noqa: BLE001 - a dead worker process or worse: kept, reported
        errors.append(f"preparing the claims ({where}): {exc!r}\n{traceback.format_exc()}")


def _unit_checks(ctx) -> list[dict]:
    try:
        return unit_checks(ctx)
    except (DatasetError, ModelFormatError):
        return []


def _trains_its_own(claim: Claim) -> bool:
    return claim.experiment is not None and claim.requires_model not in MLSTM_REQUIREMENTS


def _as_planted(result: ClaimResult) -> bool:
    """Whether a fixtures-profile result is what the fixtures are built to give."""
    claim_id = result.claim.id
    expected = fixture_expected()
    if claim_id in expected:
        return result.verdict == expected[claim_id]
    if result.claim.source in fixture_measured():
        return result.measured is not None
    return result.verdict != FAIL


def _die_with_parent() -> None:
    """A worker process ends when the process that started it does (Linux), so that a run
    killed mid-way leaves no worker still drawing figures into a report folder."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _stop(workers: list) -> None:
    """End a pool's worker processes now (the run was interrupted or failed): the tasks they
    are running are not waited for."""
    for process in workers:
        if process.is_alive():
            process.terminate()
    for process in workers:
        process.join(timeout=10)


class Reproduction:
    """One run over a list of claims: results memoised by claim id, one report at the end."""

    def __init__(self, ctx: RunContext, claims: Sequence[Claim], sources: dict,
                 control: RunContext | None = None, skip: Sequence[str] = (),
                 control_only: Sequence[str] = (), skip_reason: str | None = None):
        self.ctx, self.claims, self.sources, self.control = ctx, list(claims), sources, control
        self.skip = tuple(skip)
        self.skip_reason = skip_reason  # why they were skipped, said in each skipped row
        self.control_only = tuple(control_only)  # empty: the control runs every claim
        self._control_elsewhere = False  # True while evaluate_all runs the control in a process
        self.errors: list[str] = []
        self._results: dict[str, ClaimResult] = {}
        self._started = time.perf_counter()
        self._commit = git_commit()  # the code that runs, whatever changes during the run
        self._control_cache: dict = {}
        self._elsewhere: set[str] = set()  # claims measured in another process
        self._threads: int | None = None  # the thread count evaluate_all computed with

    def evaluate(self, claim: Claim) -> ClaimResult:
        if claim.id not in self._results:
            _prepare(self.ctx, [c for c in self.claims if c.id not in self._elsewhere
                                and not any(p in c.id for p in self.skip)], self.errors,
                     "the model")
            skipped = [p for p in self.skip if p in claim.id]
            if skipped:
                # one reason for every claim the run left out, whichever pattern matched
                why = f": {self.skip_reason}" if self.skip_reason else ""
                self._results[claim.id] = not_run(
                    claim, f"{SKIPPED} (--skip){why}; run it without --skip", "skipped")
                return self._results[claim.id]
            result = evaluate(claim, self.ctx)
            if self.control is not None and not self._control_elsewhere and (
                    result.measured is not None) and self._on_control(claim):
                result.control = evaluate(claim, self.control)
            planted = fixture_expected().get(claim.id) if self.ctx.planted else None
            if planted is not None:
                result.reason += f"; the planted model's known answer is {planted}"
            self._results[claim.id] = result
        return self._results[claim.id]

    def evaluate_all(self, on_result: Callable[[ClaimResult], None] | None = None):
        """Evaluate every claim; an unexpected exception is recorded (NOT RUN, with the error)
        so the other claims still run and the report is still written.

        The control runs in a second process at the same time, and the claims that train
        their own models (the NER taggers) in a third. Not in threads: liblinear draws from
        the C library's one global random state, so two fits at once in one process would
        change each other's results.
        """
        pending, own, workers, threads = None, None, [], torch.get_num_threads()
        todo = [c for c in self.claims if not any(p in c.id for p in self.skip)]
        elsewhere = set()
        if self.control is not None:
            # the processes share the cores, each with a fixed thread count for the whole
            # run: a count changed when the control ends would make the main process's
            # numbers depend on when that was
            share = max(1, threads // 2)
            pool = ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn"),
                                       initializer=_die_with_parent)
            pending = pool.submit(self.worker, [c for c in todo if self._on_control(c)],
                                  self.control, share)
            trainers = [c for c in todo if _trains_its_own(c)]
            if trainers:
                light = replace(self.ctx, model=None, memo={}, data_files={}, drawn={})
                own = pool.submit(self.worker, trainers, light, share, "its own process")
                elsewhere = self._elsewhere = {c.id for c in trainers}
            workers = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False)
            self._control_elsewhere = True
            torch.set_num_threads(share)
        self._threads = torch.get_num_threads()  # what every process of the run computes with
        try:
            for claim in self.claims:
                if claim.id in elsewhere:
                    continue
                try:
                    result = self.evaluate(claim)
                except Exception as exc:  # noqa: BLE001 - kept in self.errors for the exit code
                    self.errors.append(f"{claim.id}: {exc!r}\n{traceback.format_exc()}")
                    result = self._results[claim.id] = not_run(
                        claim, f"experiment failed: {exc!r}", "failed")
                if on_result:
                    on_result(result)
            torch.set_num_threads(threads)
            if own is not None:
                owned = [c for c in self.claims if c.id in elsewhere]
                results, files, errors, _ = self._collect(own, owned, "its own process")
                self.ctx.data_files.update(files)
                self.errors += errors
                for claim in self.claims:
                    if claim.id in results:
                        self._results[claim.id] = results[claim.id]
                        if on_result:
                            on_result(results[claim.id])
            if pending is not None:
                owned = [c for c in todo if self._on_control(c)]
                control, _, errors, self._control_cache = self._collect(pending, owned,
                                                                        "the control")
                self.errors += errors
                self._control_elsewhere = False
                for result in self._results.values():
                    if result.measured is not None and result.claim.id in control:
                        result.control = control[result.claim.id]
        except BaseException:  # interrupted, or worse: no worker goes on writing
            _stop(workers)
            raise
        return self.results()

    worker = staticmethod(_evaluate_each)  # what a worker process runs (replaced in tests)

    def _collect(self, future, owned: Sequence[Claim], where: str):
        """A worker's results; when the worker died, its claims are NOT RUN and say so, and
        the report is still written."""
        try:
            return future.result()
        except Exception as exc:  # noqa: BLE001 - a dead process (BrokenProcessPool) or worse
            why = (f"the worker process that ran {where} ended before it reported "
                   f"({type(exc).__name__}: {exc}); run again to complete it from the caches")
            self.errors.append(f"{where}: {why}")
            return {c.id: not_run(c, why, "failed") for c in owned}, {}, [], {}

    def _on_control(self, claim: Claim) -> bool:
        return not self.control_only or any(p in claim.id for p in self.control_only)

    def unexpected(self) -> list[ClaimResult]:
        """Results that show the harness itself is wrong: on the fixtures, a verdict other
        than the planted answer, a FAIL where none is planted, or no measurement where one
        is required (the claims of a source in a family's ``fixture_measured``)."""
        if not self.ctx.planted:
            return []
        return [r for r in self.results()
                if not any(p in r.claim.id for p in self.skip) and not _as_planted(r)]

    def results(self) -> list[ClaimResult]:
        return [self.evaluate(c) for c in self.claims]

    def write(self) -> Path:
        elapsed = time.perf_counter() - self._started
        record = provenance(self.ctx, elapsed, self.control, self._commit)
        if self._threads is not None:
            record["numerics"]["threads"] = self._threads
        record["cache"] = {"model": self.ctx.cache_stats()}
        record["sentiment_unit"] = {"model": _unit_checks(self.ctx)}
        if self.control is not None:
            record["control_claims"] = list(self.control_only) or "all"
            control = dict(self._control_cache or {**self.control.cache_stats(),
                                                   "units": _unit_checks(self.control)})
            record["sentiment_unit"]["control"] = control.pop("units", [])
            record["cache"]["control"] = control
        return write_report(self.results(), record, self.ctx.out_dir, self.sources)
