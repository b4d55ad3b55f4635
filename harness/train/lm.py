"""Byte-level language modelling with the mLSTM: truncated BPTT, Adam, checkpoints, resume.

The training text is cut into ``batch`` contiguous streams; step s reads window s of every
stream and carries each stream's state (c, h) into the next window, detached, as in the
released model's training. A run stops at its budget (minutes or bytes) and can be resumed
exactly: weights, Adam moments, the streams' states and the position are all checkpointed.
Under ``torchrun`` each process takes its own share of the streams and DistributedDataParallel
averages the gradients, which equals one process running every stream.
"""

from __future__ import annotations

import json
import math
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from harness.data.corpus import Corpus
from harness.io import atomic_write
from harness.models.mlstm import MLSTM, ModelFormatError, _write_json_atomic

TRAINER_FILE = "trainer.json"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.safetensors"
LN2 = math.log(2.0)


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
    """Train (or resume) one model in ``out_dir``."""

    def __init__(self, out_dir: Path, corpus: Corpus, config: TrainConfig | None = None,
                 resume: bool = False, device: str = "cpu", progress: bool = True):
        self.out_dir, self.corpus, self.device = Path(out_dir), corpus, device
        self.progress = progress
        self.rank, self.world = _dist_info()
        if resume:
            self.state = self._load_trainer_state()
            self.config = TrainConfig(**self.state.config)
            if self.state.corpus["source_sha256"] != corpus.sha256:
                raise ModelFormatError(
                    f"{self.out_dir / TRAINER_FILE}: trained on corpus {self.state.corpus['spec']} "
                    f"(sha256 {self.state.corpus['source_sha256']}), not on {corpus.spec} "
                    f"(sha256 {corpus.sha256}); resume with the same corpus"
                )
            self.model = MLSTM.load(self.out_dir)
        else:
            if config is None:
                raise ValueError("a new run needs a TrainConfig")
            if (self.out_dir / TRAINER_FILE).exists():
                raise FileExistsError(f"{self.out_dir} holds a run already: pass --resume to "
                                      "continue it, or choose another --out")
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
        elif self.rank == 0:
            self.model.save(self.out_dir / "initial", extra={"role": "untrained control",
                                                            "seed": cfg.seed})

    # ------------------------------------------------------------------ checkpoints
    def _load_trainer_state(self) -> TrainerState:
        path = self.out_dir / TRAINER_FILE
        if not path.is_file():
            raise ModelFormatError(f"{path}: not found; nothing to resume in {self.out_dir}")
        return TrainerState(**json.loads(path.read_text()))

    def _load_optimizer_and_streams(self) -> None:
        opt_path, state_path = self.out_dir / OPTIMIZER_FILE, self.out_dir / STATE_FILE
        moments, streams = load_file(str(opt_path)), load_file(str(state_path))
        steps = {int(moments["step"].item()), int(streams["step"].item())}
        if steps != {self.state.step}:
            raise ModelFormatError(
                f"{self.out_dir}: {OPTIMIZER_FILE}, {STATE_FILE} and {TRAINER_FILE} are from "
                f"different steps ({sorted(steps)} vs {self.state.step}); the last checkpoint was "
                "interrupted while being written"
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
        c, h = self._gather(self.c), self._gather(self.h)  # every rank takes part
        if self.rank != 0:
            return
        step = torch.tensor([self.state.step])
        moments = {"step": step}
        for name, param in self.model.named_parameters():
            st = self.optimizer.state.get(param, {})
            for key in ("exp_avg", "exp_avg_sq"):
                moments[f"{name}.{key}"] = st.get(key, torch.zeros_like(param)).detach().cpu()
        for path, tensors in ((OPTIMIZER_FILE, moments),
                              (STATE_FILE, {"step": step, "c": c.cpu(), "h": h.cpu()})):
            with atomic_write(self.out_dir / path) as tmp:
                save_file(tensors, str(tmp))
        self.model.save(self.out_dir, extra={"training": {
            "step": self.state.step, "bytes_seen": self.state.bytes_seen,
            "corpus": self.state.corpus["spec"]}})
        _write_json_atomic(self.out_dir / TRAINER_FILE, asdict(self.state))

    # ------------------------------------------------------------------ training
    def evaluate(self) -> float:
        return held_out_bpb(self.model, self.corpus.held_out[: self.config.eval_bytes],
                            self.device, self.config.bptt,
                            autocast=self.device.startswith("cuda"))

    def train(self, budget_minutes: float | None = None, budget_bytes: int | None = None,
              command: str | None = None) -> TrainerState:
        """Train until this session's budget is spent; checkpoint along the way and at the end."""
        if (budget_minutes is None) == (budget_bytes is None):
            raise ValueError("give exactly one of budget_minutes and budget_bytes")
        cfg, state = self.config, self.state
        self.out_dir.mkdir(parents=True, exist_ok=True)
        per_step = cfg.batch * cfg.bptt
        module = self.ddp or self.model
        autocast = self.device.startswith("cuda")
        started = last_ckpt = last_eval = time.perf_counter()
        session_bytes, train_loss, train_count = 0, 0.0, 0
        # This session's entry is kept up to date at every checkpoint, so a run that is killed
        # still shows in the card what it added.
        session = {"command": command or "", "device": _device_name(self.device),
                   "processes": self.world, "torch": torch.__version__, "host": platform.node()}
        state.sessions.append(session)

        def account():
            elapsed = time.perf_counter() - started
            session.update(bytes=session_bytes, seconds=round(elapsed, 1),
                           bytes_per_second=round(session_bytes / max(elapsed, 1e-9), 1))

        if state.step == 0 and self.rank == 0:
            state.curve.append({"bytes_seen": 0, "held_out_bpb": self.evaluate(),
                                "wall_seconds": 0.0})
        bar = tqdm(total=budget_bytes, unit="B", unit_scale=True, desc="train-lm",
                   disable=not self.progress or self.rank != 0)

        def spent() -> bool:
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
            state.step += 1
            state.bytes_seen += per_step
            session_bytes += per_step
            train_loss += loss.item()
            train_count += 1
            bar.update(per_step)
            now = time.perf_counter()
            if now - last_eval >= 60 * cfg.eval_every_minutes:
                self._record(now - started, train_loss / train_count, session_bytes)
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
            self._record(elapsed, train_loss / train_count, session_bytes)
        state.wall_seconds += time.perf_counter() - last_ckpt
        account()
        self.save_checkpoint()
        return state

    def _record(self, elapsed, train_loss, session_bytes) -> None:
        if self.rank != 0:
            return
        self.state.curve.append({
            "bytes_seen": self.state.bytes_seen, "held_out_bpb": self.evaluate(),
            "train_bpb": train_loss / LN2, "step": self.state.step,
            "bytes_per_second": round(session_bytes / max(elapsed, 1e-9), 1),
        })


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in ["neuron-repro", *sys.argv[1:]])
