"""Byte-level language modelling with the mLSTM: truncated BPTT, Adam, checkpoints, resume.

The training text is cut into ``batch`` contiguous streams; step s reads window s of every
stream and carries each stream's state (c, h) into the next window, detached, as in the
released model's training. A run stops at its budget (minutes or bytes) and can be resumed
exactly: weights, Adam moments, the streams' states and the position are all checkpointed.
Under ``torchrun`` each process takes its own share of the streams and DistributedDataParallel
averages the gradients, which equals one process running every stream.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import shlex
import shutil
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from neuron_repro.cache import numerics
from neuron_repro.data.corpus import Corpus
from neuron_repro.io import (
    LOCK_FILE,
    CorruptFileError,
    atomic_folder,
    atomic_write,
    lock_folder,
    read_json_object,
    read_safetensors,
    save_safetensors,
    write_json,
)
from neuron_repro.models.mlstm import (
    CONFIG_FILE,
    MLSTM,
    WEIGHTS_FILE,
    ModelFormatError,
    read_checkpoint_config,
)
from neuron_repro.train import TrainingDiverged

TRAINER_FILE = "trainer.json"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.safetensors"
CHECKPOINTS = "checkpoints"
LN2 = math.log(2.0)
SCHEDULES = ("constant", "linear")
# Held-out bits per byte above this (twice a uniform guess over 256 bytes) mean divergence.
DIVERGED_BPB = 16.0
# What --resume may change: none of them changes what a step computes except the horizon of
# a linear schedule, which may only be extended.
RESUME_ADJUSTABLE = ("schedule_bytes", "eval_every_minutes", "checkpoint_every_minutes")
_CORPUS_FIELDS = ("spec", "source_sha256", "train_bytes", "n_texts", "held_out",
                  "held_out_bytes")
_TRAINER_FIELDS = {"config": dict, "corpus": dict, "step": int, "bytes_seen": int,
                   "wall_seconds": float, "curve": list, "sessions": list, "notes": list}


@dataclass
class TrainConfig:
    n_units: int = 512
    n_embed: int = 64
    batch: int = 128  # streams, over all processes
    bptt: int = 128
    lr: float = 1e-3
    schedule: str = "linear"  # "constant" or "linear" decay to zero at schedule_bytes
    schedule_bytes: int = 0
    warmup_bytes: int = 0
    clip: float = 1.0
    forget_bias: float = 1.0
    seed: int = 0
    eval_bytes: int = 1 << 18  # held-out bytes scored at each evaluation
    eval_every_minutes: float = 5.0
    checkpoint_every_minutes: float = 10.0

    def check(self) -> None:
        """Every field in its range; a linear schedule has a horizon."""
        for name in ("n_units", "n_embed", "batch", "bptt", "eval_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("schedule_bytes", "warmup_bytes", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        for name in ("lr", "clip", "eval_every_minutes", "checkpoint_every_minutes"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0 or \
                    (name in ("lr", "clip") and value == 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not isinstance(self.forget_bias, int | float) or not math.isfinite(self.forget_bias):
            raise ValueError(f"forget_bias must be a finite number, got {self.forget_bias!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; use {' or '.join(SCHEDULES)}")
        if self.schedule == "linear" and self.schedule_bytes <= 0:
            raise ValueError("a linear schedule needs a horizon: --schedule-bytes, or "
                             "--budget-bytes (the default horizon)")

    def learning_rate(self, bytes_seen: int) -> float:
        lr = self.lr
        if self.warmup_bytes:
            lr *= min(1.0, (bytes_seen + 1) / self.warmup_bytes)
        if self.schedule == "linear":
            if self.schedule_bytes <= 0:
                raise ValueError("a linear schedule needs schedule_bytes (--schedule-bytes)")
            lr *= max(0.0, 1.0 - bytes_seen / self.schedule_bytes)
        elif self.schedule != "constant":
            raise ValueError(f"unknown schedule {self.schedule!r}")
        return lr


@dataclass
class TrainerState:
    """What ``trainer.json`` keeps across sessions."""

    config: dict
    corpus: dict
    step: int = 0
    bytes_seen: int = 0
    wall_seconds: float = 0.0
    curve: list = field(default_factory=list)  # {bytes_seen, held_out_bpb, train_bpb, ...}
    sessions: list = field(default_factory=list)  # one entry per run: command, device, rate
    notes: list = field(default_factory=list)


def _dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def stream_windows(data: np.ndarray, batch: int, bptt: int) -> tuple[np.ndarray, int]:
    """Cut the bytes into ``batch`` streams; return (streams, windows per epoch)."""
    stream_len = len(data) // batch
    windows = (stream_len - 1) // bptt
    if windows < 1:
        raise ValueError(f"{len(data)} training bytes are too few for batch {batch} x bptt {bptt}")
    return data[: batch * stream_len].reshape(batch, stream_len), windows


@torch.no_grad()
def held_out_bpb(model: MLSTM, data: np.ndarray, device, bptt: int, n_streams: int = 16,
                 autocast: bool = False) -> float:
    """Bits per byte on held-out bytes, streamed with carried state from a zero state."""
    n_streams = max(1, min(n_streams, len(data) // (bptt + 1)))
    bptt = max(1, min(bptt, len(data) // n_streams - 1))  # a tiny held-out set: shorter windows
    streams, windows = stream_windows(data, n_streams, bptt)
    ids = torch.from_numpy(streams.astype(np.int64)).to(device)
    state, total, count = None, 0.0, 0
    for w in range(windows):
        x, y = ids[:, w * bptt: (w + 1) * bptt], ids[:, w * bptt + 1: (w + 1) * bptt + 1]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            logits, state = model(x, state)
        total += F.cross_entropy(logits.float().reshape(-1, 256), y.reshape(-1),
                                 reduction="sum").item()
        count += y.numel()
    return total / count / LN2


class LMTrainer:
    """Train (or resume) one model in ``out_dir``.

    The folder holds ``initial/`` (the untrained control), ``checkpoints/<name>/`` (weights,
    Adam moments, the streams' states and ``trainer.json``, written as one new folder) and
    ``config.json``, which names the current checkpoint folder: replacing it is the one
    rename that switches to a new checkpoint, so a kill at any instant leaves the old
    checkpoint or the new one, complete. A lock on ``.lock`` keeps a second run out.
    """

    def __init__(self, out_dir: Path, corpus: Corpus, config: TrainConfig | None = None,
                 resume: bool = False, device: str = "cpu", progress: bool = True):
        self.out_dir, self.corpus, self.device = Path(out_dir), corpus, device
        self.progress = progress
        self.rank, self.world = _dist_info()
        self._lock = _lock_folder(self.out_dir) if self.rank == 0 else None
        if resume:
            self.checkpoint = _current_checkpoint(self.out_dir)
            self.state = self._load_trainer_state()
            self.config = TrainConfig(**self.state.config)
            if self.state.corpus.get("source_sha256") != corpus.sha256:
                raise ModelFormatError(
                    f"{self.checkpoint / TRAINER_FILE}: trained on corpus "
                    f"{self.state.corpus.get('spec')} (sha256 "
                    f"{self.state.corpus.get('source_sha256')}), not on {corpus.spec} "
                    f"(sha256 {corpus.sha256}); resume with the same corpus"
                )
            self.model = MLSTM.load(self.out_dir)
            if self.model.n_units != self.config.n_units or \
                    self.model.config.n_embed != self.config.n_embed:
                raise ModelFormatError(
                    f"{self.checkpoint / TRAINER_FILE}: configured for {self.config.n_units} "
                    f"units, but the weights have {self.model.n_units}; the checkpoint is "
                    "inconsistent")
        else:
            if config is None:
                raise ValueError("a new run needs a TrainConfig")
            config.check()
            if self.rank == 0:
                _claim_new_folder(self.out_dir)
            self.config = config
            self.state = TrainerState(config=asdict(config), corpus=corpus.describe())
            self.model = MLSTM.random(config.n_units, config.n_embed, seed=config.seed,
                                      forget_bias=config.forget_bias)
        cfg = self.config
        if cfg.batch % self.world:
            raise ValueError(f"batch {cfg.batch} must divide evenly over {self.world} processes")
        self.model.to(device)
        self.ddp = None
        if self.world > 1:
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device] if device.startswith("cuda") else None)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        streams, self.windows = stream_windows(corpus.train, cfg.batch, cfg.bptt)
        per_rank = cfg.batch // self.world
        mine = streams[self.rank * per_rank: (self.rank + 1) * per_rank]
        self.streams = torch.from_numpy(mine.astype(np.int64)).to(device)
        zeros = torch.zeros(per_rank, cfg.n_units, device=device)
        self.c, self.h = zeros.clone(), zeros.clone()
        if resume:
            self._load_optimizer_and_streams()
        else:
            if self.rank == 0:
                self.model.save(self.out_dir / "initial",
                                extra={"role": "untrained control", "seed": cfg.seed})
            self.save_checkpoint()  # resumable from its first step

    def resume_with(self, changes: dict) -> None:
        """Apply options given again on ``--resume`` (``{TrainConfig field: value}``, None for
        not given). A field that decides the numbers must equal the run's; the horizon of a
        linear schedule (``schedule_bytes``) may be extended past the bytes already seen, and
        the evaluation and checkpoint intervals changed. Each change goes into the card's
        notes; anything else is refused."""
        cfg, state = self.config, self.state
        for name, value in changes.items():
            if value is None or value == getattr(cfg, name):
                continue
            if name not in RESUME_ADJUSTABLE:
                flag = "--" + option_name(name).replace("_", "-")
                raise ValueError(
                    f"{flag} {value} differs from the run's {getattr(cfg, name)} "
                    f"({self.checkpoint / TRAINER_FILE}); a resumed run keeps the settings it "
                    "started with. Leave the option out, or start a new run in another --out")
            if name == "schedule_bytes" and value <= state.bytes_seen:
                raise ValueError(
                    f"--schedule-bytes {value:,} is not past the {state.bytes_seen:,} bytes "
                    "already seen; give a later horizon")
            setattr(cfg, name, value)
            state.config[name] = value
            state.notes.append(f"from step {state.step}: {name} set to {value:,}"
                               if isinstance(value, int) else
                               f"from step {state.step}: {name} set to {value:g}")

    def check_budget(self, budget_bytes: int | None) -> None:
        """Refuse a session that would train at learning rate zero: a linear schedule that has
        ended, or a byte budget that runs past its horizon."""
        cfg, seen = self.config, self.state.bytes_seen
        if cfg.schedule == "linear" and seen >= cfg.schedule_bytes:
            raise ValueError(
                f"{self.out_dir}: the linear schedule reached learning rate 0 at "
                f"{cfg.schedule_bytes:,} bytes and {seen:,} are seen; resuming would train at "
                f"learning rate 0. Pass --schedule-bytes N (N > {seen:,}) to extend it")
        if budget_bytes is not None and budget_bytes < cfg.batch * cfg.bptt:
            raise ValueError(f"--budget-bytes {budget_bytes:,} is less than one step (batch "
                             f"{cfg.batch} x bptt {cfg.bptt} = {cfg.batch * cfg.bptt:,} bytes)")
        if cfg.schedule != "linear":
            return
        if budget_bytes is not None and seen + budget_bytes > cfg.schedule_bytes:
            raise ValueError(
                f"--budget-bytes {budget_bytes:,} runs past the linear schedule's horizon "
                f"({cfg.schedule_bytes:,} bytes, {seen:,} seen): the rest would train at "
                f"learning rate 0. Give --budget-bytes at most {cfg.schedule_bytes - seen:,} "
                "or a later --schedule-bytes")

    # ------------------------------------------------------------------ checkpoints
    def _load_trainer_state(self) -> TrainerState:
        return TrainerState(**read_trainer_record(self.checkpoint / TRAINER_FILE))

    def _load_optimizer_and_streams(self) -> None:
        opt_path, state_path = self.checkpoint / OPTIMIZER_FILE, self.checkpoint / STATE_FILE
        expect = {"step": (1,)}
        for name, param in self.model.named_parameters():
            expect[f"{name}.exp_avg"] = expect[f"{name}.exp_avg_sq"] = tuple(param.shape)
        rows = (self.config.batch, self.config.n_units)
        try:
            moments = read_safetensors(opt_path, expect)
            streams = read_safetensors(state_path, {"step": (1,), "c": rows, "h": rows})
        except CorruptFileError as exc:
            raise ModelFormatError(f"{exc}; the checkpoint cannot be resumed") from exc
        steps = {int(moments["step"].item()), int(streams["step"].item())}
        if steps != {self.state.step}:
            raise ModelFormatError(
                f"{self.checkpoint}: {OPTIMIZER_FILE}, {STATE_FILE} and {TRAINER_FILE} are from "
                f"different steps ({sorted(steps)} vs {self.state.step}); the checkpoint is "
                "inconsistent"
            )
        for name, param in self.model.named_parameters():
            self.optimizer.state[param] = {
                "step": torch.tensor(float(self.state.step)),
                "exp_avg": moments[f"{name}.exp_avg"].float().to(self.device),
                "exp_avg_sq": moments[f"{name}.exp_avg_sq"].float().to(self.device),
            }
        per_rank = self.config.batch // self.world
        rows = slice(self.rank * per_rank, (self.rank + 1) * per_rank)
        self.c = streams["c"][rows].to(self.device).clone()
        self.h = streams["h"][rows].to(self.device).clone()

    def _agree(self, flag: bool) -> bool:
        """True on every process when it is true on any: clocks differ, steps must not."""
        if self.world == 1:
            return flag
        t = torch.tensor([int(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def _gather(self, t: torch.Tensor) -> torch.Tensor:
        if self.world == 1:
            return t
        parts = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts)

    def save_checkpoint(self) -> None:
        """Write the checkpoint as a new folder, then switch ``config.json`` to it (one
        rename), then remove every other checkpoint folder."""
        c, h = self._gather(self.c), self._gather(self.h)  # every rank takes part
        if self.rank != 0:
            return
        step = torch.tensor([self.state.step])
        moments = {"step": step}
        for name, param in self.model.named_parameters():
            st = self.optimizer.state.get(param, {})
            for key in ("exp_avg", "exp_avg_sq"):
                moments[f"{name}.{key}"] = st.get(key, torch.zeros_like(param)).detach().cpu()
        name = f"step-{self.state.step:09d}-{uuid.uuid4().hex[:8]}"
        folder = self.out_dir / CHECKPOINTS / name
        with atomic_folder(folder) as tmp:
            sha = self.model.write_weights(tmp / WEIGHTS_FILE)
            for path, tensors in ((OPTIMIZER_FILE, moments),
                                  (STATE_FILE, {"step": step, "c": c.cpu(), "h": h.cpu()})):
                with atomic_write(tmp / path, ".safetensors.tmp") as part:
                    save_safetensors(tensors, part)
            write_json(tmp / TRAINER_FILE, asdict(self.state), sort_keys=True)
        record = self.model.config_record(sha, {
            "checkpoint": f"{CHECKPOINTS}/{name}",
            "training": {"step": self.state.step, "bytes_seen": self.state.bytes_seen,
                         "corpus": self.state.corpus["spec"]}})
        write_json(self.out_dir / CONFIG_FILE, record, sort_keys=True)  # the switch
        self.model.sha256, self.checkpoint = sha, folder
        _remove_stale(self.out_dir, keep=folder)

    # ------------------------------------------------------------------ training
    def evaluate(self) -> float:
        return held_out_bpb(self.model, self.corpus.held_out[: self.config.eval_bytes],
                            self.device, self.config.bptt,
                            autocast=self.device.startswith("cuda"))

    def train(self, budget_minutes: float | None = None, budget_bytes: int | None = None,
              command: str | None = None) -> TrainerState:
        """Train until this session's budget is spent; checkpoint along the way and at the end.
        The folder's lock is released when it returns or fails."""
        try:
            return self._train(budget_minutes, budget_bytes, command)
        finally:
            self.close()

    def _train(self, budget_minutes, budget_bytes, command) -> TrainerState:
        if (budget_minutes is None) == (budget_bytes is None):
            raise ValueError("give exactly one of budget_minutes and budget_bytes")
        if (budget_bytes is not None and budget_bytes < 1) or \
                (budget_minutes is not None and not budget_minutes > 0):
            raise ValueError(f"the budget must be positive, got {budget_bytes or budget_minutes}")
        cfg, state = self.config, self.state
        per_step = cfg.batch * cfg.bptt
        module = self.ddp or self.model
        autocast = self.device.startswith("cuda")
        started = last_ckpt = last_eval = time.perf_counter()
        session_bytes, train_loss, train_count = 0, 0.0, 0
        # This session's entry is kept up to date at every checkpoint, so a run that is killed
        # still shows in the card what it added.
        session = {"command": command or "", "device": _device_name(self.device),
                   "processes": self.world, "torch": torch.__version__, "host": platform.node(),
                   "numerics": numerics(self.device)}
        state.sessions.append(session)

        def account():
            elapsed = time.perf_counter() - started
            session.update(bytes=session_bytes, seconds=round(elapsed, 1),
                           bytes_per_second=round(session_bytes / max(elapsed, 1e-9), 1))

        self.check_budget(budget_bytes)
        if state.step == 0 and self.rank == 0 and not state.curve:
            state.curve.append({"bytes_seen": 0, "held_out_bpb": self.evaluate(),
                                "wall_seconds": 0.0})
        bar = tqdm(total=budget_bytes, unit="B", unit_scale=True, desc="train-lm",
                   disable=not self.progress or self.rank != 0)

        def spent() -> bool:
            if cfg.schedule == "linear" and state.bytes_seen + per_step > cfg.schedule_bytes:
                if budget_minutes is not None and self.rank == 0:
                    state.notes.append(f"session {len(state.sessions)} stopped at step "
                                       f"{state.step}: the linear schedule reached its horizon")
                return True
            if budget_bytes is not None:
                return session_bytes + per_step > budget_bytes
            return self._agree(time.perf_counter() - started >= 60 * budget_minutes)

        while not spent():
            window = state.step % self.windows
            if window == 0:  # a new pass over the streams starts from a zero state
                self.c.zero_()
                self.h.zero_()
            lo = window * cfg.bptt
            x = self.streams[:, lo: lo + cfg.bptt]
            y = self.streams[:, lo + 1: lo + cfg.bptt + 1]
            for group in self.optimizer.param_groups:
                group["lr"] = cfg.learning_rate(state.bytes_seen)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                logits, (c, h) = module(x, (self.c, self.h))
            loss = F.cross_entropy(logits.float().reshape(-1, 256), y.reshape(-1))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip)
            self.optimizer.step()
            self.c, self.h = c.detach().float(), h.detach().float()
            value = loss.item()
            if self._agree(not math.isfinite(value)):
                bar.close()
                raise TrainingDiverged(self._diverged(f"training loss {value}"))
            state.step += 1
            state.bytes_seen += per_step
            session_bytes += per_step
            train_loss += value
            train_count += 1
            bar.update(per_step)
            now = time.perf_counter()
            if now - last_eval >= 60 * cfg.eval_every_minutes:
                self._record(now - started, train_loss / train_count, session_bytes, bar)
                train_loss, train_count, last_eval = 0.0, 0, now
                bar.set_postfix(train_bpb=f"{state.curve[-1].get('train_bpb', 0):.3f}",
                                held_out_bpb=f"{state.curve[-1].get('held_out_bpb', 0):.3f}")
            if self._agree(now - last_ckpt >= 60 * cfg.checkpoint_every_minutes):
                state.wall_seconds += now - last_ckpt
                last_ckpt = now
                account()
                self.save_checkpoint()
        bar.close()
        elapsed = time.perf_counter() - started
        if train_count:
            self._record(elapsed, train_loss / train_count, session_bytes, bar)
        state.wall_seconds += time.perf_counter() - last_ckpt
        account()
        self.save_checkpoint()
        return state

    def close(self) -> None:
        """Release the lock on the output folder."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _record(self, elapsed, train_loss, session_bytes, bar=None) -> None:
        """Score the held-out bytes; a score that is not finite or worse than twice a uniform
        guess stops the run (the last checkpoint, from before, is kept)."""
        bpb = float("nan")
        if self.rank == 0:
            bpb = self.evaluate()
        if self._agree(self.rank == 0 and not (math.isfinite(bpb) and bpb <= DIVERGED_BPB)):
            if bar is not None:
                bar.close()
            raise TrainingDiverged(self._diverged(f"held-out {bpb:.6g} bits per byte (a "
                                                  "uniform guess scores 8)"))
        if self.rank != 0:
            return
        self.state.curve.append({
            "bytes_seen": self.state.bytes_seen, "held_out_bpb": bpb,
            "train_bpb": train_loss / LN2, "step": self.state.step,
            "bytes_per_second": round(session_bytes / max(elapsed, 1e-9), 1),
        })

    def _diverged(self, what: str) -> str:
        return (f"{self.out_dir}: training diverged at step {self.state.step} ({what}) with lr "
                f"{self.config.lr:g}; nothing after the last checkpoint (step "
                f"{self._checkpoint_step()}) was saved. Start again with a lower --lr or "
                "--clip")

    def _checkpoint_step(self) -> int | str:
        try:
            return int(self.checkpoint.name.split("-")[1])
        except (AttributeError, IndexError, ValueError):
            return "unknown"


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_entries(path: Path, data: dict) -> None:
    """The corpus, curve, sessions and notes of ``trainer.json`` hold what the trainer and the
    model card read from them, each of its type."""
    corpus = data["corpus"]
    for name in _CORPUS_FIELDS:
        want = str if name in ("spec", "source_sha256", "held_out") else int
        if not isinstance(corpus[name], want) or isinstance(corpus[name], bool):
            raise CorruptFileError(f"{path}: corpus.{name} is not a {want.__name__}")
    for i, point in enumerate(data["curve"]):
        if not isinstance(point, dict) or not isinstance(point.get("bytes_seen"), int) or \
                not _number(point.get("held_out_bpb")) or \
                ("train_bpb" in point and not _number(point["train_bpb"])):
            raise CorruptFileError(f"{path}: curve[{i}] is not a point of the held-out curve "
                                   "(bytes_seen, held_out_bpb, train_bpb)")
    for i, session in enumerate(data["sessions"]):
        if not isinstance(session, dict) or not all(
                _number(session.get(k)) for k in ("bytes", "seconds", "bytes_per_second",
                                                  "processes")) or \
                not isinstance(session.get("device"), str) or \
                not isinstance(session.get("command"), str):
            raise CorruptFileError(f"{path}: sessions[{i}] is not a training session")
    if not all(isinstance(n, str) for n in data["notes"]):
        raise CorruptFileError(f"{path}: notes are not all text")


def read_trainer_record(path: Path) -> dict:
    """``trainer.json``, checked: exactly the fields of :class:`TrainerState`, a config with
    exactly the fields of :class:`TrainConfig` (each in range) and a described corpus."""
    try:
        data = read_json_object(path, _TRAINER_FIELDS, optional={}, what="trainer state")
        config = data["config"]
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        missing, extra = sorted(fields - set(config)), sorted(set(config) - fields)
        if missing or extra:
            raise CorruptFileError(f"{path}: its config lacks {missing or 'nothing'} and has "
                                   f"unknown fields {extra or 'none'}")
        for name in ("step", "bytes_seen"):
            if data[name] < 0:
                raise CorruptFileError(f"{path}: {name} is {data[name]}")
        missing = [k for k in _CORPUS_FIELDS if k not in data["corpus"]]
        if missing:
            raise CorruptFileError(f"{path}: its corpus lacks {', '.join(missing)}")
        _check_entries(path, data)
        TrainConfig(**config).check()
    except (CorruptFileError, ValueError, TypeError) as exc:
        raise ModelFormatError(f"{exc}; the trainer state is unusable") from exc
    return data


# TrainConfig fields that train-lm sets from an option of the same name (``n_units``: --units)
OPTION_FIELDS = ("n_units", "batch", "bptt", "lr", "schedule", "schedule_bytes", "warmup_bytes",
                 "clip", "forget_bias", "seed", "eval_every_minutes", "checkpoint_every_minutes")


def option_name(field: str) -> str:
    """The train-lm option of a TrainConfig field, as argparse stores it (``n_units``: units)."""
    return {"n_units": "units"}.get(field, field)


def _lock_folder(folder: Path):
    """An exclusive lock on ``folder/.lock`` for the life of the returned file; a second run
    into the same folder is refused while the first holds it."""
    return lock_folder(folder, "--out", "train-lm run")


def _claim_new_folder(folder: Path) -> None:
    """A new run needs a folder without a run in it. What a run killed before its first
    checkpoint left (``initial/``, temporaries) holds no training and is removed."""
    if (folder / CONFIG_FILE).exists():
        raise ValueError(f"--out {folder}: holds a run already; pass --resume to continue it, "
                         "or choose another --out")
    ours = {LOCK_FILE, "initial", CHECKPOINTS}
    other = sorted(p.name for p in folder.iterdir()
                   if p.name not in ours and not _is_temporary(p))
    if other:
        raise ValueError(f"--out {folder}: the folder holds other files ({', '.join(other[:5])}); "
                         "give a new or empty folder")
    for p in folder.iterdir():
        if p.name != LOCK_FILE:
            shutil.rmtree(p) if p.is_dir() else p.unlink()


def _current_checkpoint(folder: Path) -> Path:
    """The folder of the checkpoint that ``config.json`` names (the folder itself for
    checkpoints written before checkpoints had folders of their own)."""
    if not (folder / CONFIG_FILE).is_file():
        raise ValueError(f"--out {folder}: no checkpoint to resume ({CONFIG_FILE} not found); "
                         "start the run without --resume")
    _, weights = read_checkpoint_config(folder)
    return weights.parent


def _is_temporary(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(".tmp")


def _remove_stale(folder: Path, keep: Path) -> None:
    """Every checkpoint folder but ``keep``, temporaries, and the files of the older layout
    (one checkpoint in the folder itself) once a newer checkpoint replaces them."""
    for p in (folder / CHECKPOINTS).iterdir():
        if p != keep:
            shutil.rmtree(p, ignore_errors=True)
    for p in folder.iterdir():
        if _is_temporary(p) or p.name in (WEIGHTS_FILE, TRAINER_FILE, OPTIMIZER_FILE,
                                          STATE_FILE):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def checkpoint_folder(folder: str | os.PathLike) -> Path:
    """Where the current checkpoint of a ``train-lm`` run keeps ``trainer.json``."""
    try:
        return _current_checkpoint(Path(folder))
    except ValueError as exc:
        raise ModelFormatError(str(exc)) from exc


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in ["neuron-repro", *sys.argv[1:]])
