"""A reproduction run: which model, data and device it found (its provenance is recorded by
:mod:`neuron_repro.provenance`)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from neuron_repro.data import DATASETS, Dataset, DatasetError, load_dataset, resolve_data_root
from neuron_repro.experiments.registry import default_settings, settings_with
from neuron_repro.features import (
    STATE_KINDS,
    check_batch_size,
    default_cache_dir,
    extract_features,
)
from neuron_repro.io import check_output_dir, describe_path
from neuron_repro.models.mlstm import MLSTM, git_blob_id, is_openai_release
from neuron_repro.models.planted import planted_mlstm
from neuron_repro.paths import FIXTURE_DATA, REPO_ROOT
from neuron_repro.probes import FitCache

SEEDS = {"probe": 42, "cross_validation": 42, "torch": 0}
# The planted model of the smoke tier: unit 7 of 32 carries the label, with negative polarity so
# that the sign handling is exercised on every run.
FIXTURE_MODEL = {"n_units": 32, "unit": 7, "polarity": -1, "seed": 0}
def load_model(spec: str) -> MLSTM:
    """``openai:FOLDER`` (released .npy files; ``openai`` alone, resolved by
    :func:`make_context`, is the fetched release), ``planted[:fixture]``, ``planted:chance`` (the
    planted model with no unit that carries the label), ``random:N[:SEED]``, or
    a checkpoint folder / ``model.safetensors`` written by :meth:`MLSTM.save`."""
    if spec.startswith("openai:"):
        return MLSTM.from_openai(spec[len("openai:"):])
    if spec in ("planted", "planted:fixture"):
        return planted_mlstm(**FIXTURE_MODEL)
    if spec == "planted:chance":  # the same model with no unit that carries the label
        return planted_mlstm(**{**FIXTURE_MODEL, "polarity": 0})
    if spec.startswith("random:"):
        parts = spec.split(":")
        try:
            if len(parts) > 3:
                raise ValueError
            n_units, seed = int(parts[1]), int(parts[2]) if len(parts) > 2 else 0
        except (IndexError, ValueError) as exc:
            raise ValueError(f"model spec {spec!r}: expected random:N_UNITS[:SEED]") from exc
        if n_units < 1 or seed < 0:
            raise ValueError(f"model spec {spec!r}: N_UNITS must be at least 1 and SEED at "
                             "least 0")
        return MLSTM.random(n_units, seed=seed)
    return MLSTM.load(spec)


def fetched_release(root: Path) -> Path:
    """The folder of the release that ``neuron-repro fetch openai-weights`` put under the data
    root, once every file's git blob id has matched."""
    from neuron_repro.fetch import MODEL_FOLDER, SOURCES

    folder = root / MODEL_FOLDER
    fetch = "run `neuron-repro fetch openai-weights` (about 400 MB)"
    if not folder.is_dir():
        raise DatasetError(f"--model openai: OpenAI's released weights are not in {folder}; "
                           f"{fetch}, or pass --model openai:FOLDER for a copy elsewhere")
    wrong = [d.dest for d in SOURCES["openai-weights"].downloads
             if not (folder / d.dest).is_file() or git_blob_id(folder / d.dest) != d.git_blob]
    if wrong:
        raise DatasetError(f"--model openai: {folder} does not hold the verified release "
                           f"({', '.join(wrong)} missing or not the released bytes); {fetch}")
    return folder


def resolve_device(device: str | None = None) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` as asked (checked against what this machine has), else
    CUDA when there is one."""
    if not device:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if re.fullmatch(r"cuda(:\d+)?", device) is None:
        raise ValueError(f"--device {device!r}: use cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        build = "a CPU build" if torch.version.cuda is None else "no GPU found"
        raise ValueError(f"--device {device}: CUDA is not available on this machine (torch "
                         f"{torch.__version__}, {build}); use --device cpu")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise ValueError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA "
                         f"device(s), numbered from 0")
    return device


@dataclass
class RunContext:
    """Everything one reproduction run shares between its claims.

    ``memo`` holds results that several claims read (one probe on SST serves three claims).
    """

    profile: str
    model: MLSTM | None
    model_spec: str | None
    data_root: Path
    out_dir: Path
    device: str = "cpu"
    cache_dir: Path | None = None
    fixtures: bool = False
    progress: bool = True
    batch_size: int = 128
    memo: dict = field(default_factory=dict)
    data_files: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)  # family name -> its settings (dataclass)
    is_control: bool = False
    jobs: int = 1  # processes for independent liblinear fits (CV folds, else a probe's C grid)
    solver: str = "liblinear"  # the probes' solver: liblinear (the paper's) or engine
    engine_for: tuple[str, ...] = ()  # datasets whose probes the engine solves all the same
    _release: bool | None = None
    engine_used: set = field(default_factory=set)  # datasets the engine solved, this claim
    drawn: dict = field(default_factory=dict)  # id -> FigureSpec drawn into out_dir

    def solver_for(self, name: str) -> str:
        """The solver of the probes on dataset ``name`` (noted for the claim being measured)."""
        if self.solver == "engine" or name in self.engine_for:
            self.engine_used.add(name)
            return "engine"
        return "liblinear"

    @property
    def planted(self) -> bool:
        """Whether this is the planted model on the fixtures, whose answers are known."""
        return self.fixtures and self.model_spec in ("planted", "planted:fixture")

    @property
    def has_release(self) -> bool:
        """Whether the model is OpenAI's released 4096-unit weights, verified byte for byte."""
        if self._release is None:
            spec = self.model_spec or ""
            self._release = (
                spec.startswith("openai:") and self.model is not None
                and self.model.n_units == 4096 and is_openai_release(spec[len("openai:"):])
            )
        return self._release

    def dataset(self, name: str) -> Dataset:
        def load():
            ds = load_dataset(name, self.data_root)
            self.data_files.update(ds.files)
            return ds

        return self.cached(("dataset", name), load)

    def features(self, texts, states, desc: str) -> dict[str, np.ndarray]:
        return extract_features(
            self.model, texts, states, device=self.device, cache_dir=self.cache_dir,
            progress=self.progress, desc=desc, batch_size=self.batch_size,
        )

    def states(self, name: str, split: str) -> dict[str, np.ndarray]:
        """Every state kind of a dataset's split (``pool`` for a pooled dataset), extracted
        once per run and shared by every experiment that reads it."""
        def extract():
            ds = self.dataset(name)
            texts = ds.pool.texts if split == "pool" else ds.splits[split].texts
            return self.features(texts, STATE_KINDS, desc=f"{name}/{split}")

        return self.cached(("states", name, split), extract)

    def for_control(self, spec: str) -> RunContext:
        """The same run on the untrained control: same data, its own model and figures."""
        return RunContext(
            profile=self.profile, model=load_model(spec), model_spec=spec,
            data_root=self.data_root, out_dir=self.out_dir / "control" if self.out_dir else None,
            device=self.device, cache_dir=self.cache_dir, fixtures=self.fixtures,
            progress=self.progress, batch_size=self.batch_size, data_files=self.data_files,
            settings=self.settings, is_control=True, jobs=self.jobs, solver=self.solver,
            engine_for=self.engine_for,
        )

    def cache_folder(self, name: str) -> Path | None:
        """A cache kept beside the feature cache (none when features are not cached)."""
        return None if self.cache_dir is None else Path(self.cache_dir) / name

    @property
    def fit_cache(self) -> FitCache | None:
        """liblinear fits, in ``cache_folder('l1-fits')``."""
        if self.cache_dir is None:
            return None
        return self.cached(("fit_cache",), lambda: FitCache(self.cache_folder("l1-fits")))

    def cached(self, key: tuple, compute):
        """``compute()``, once per run: what several claims read (``key`` starts with the
        family's name, so that no family reads another's entries)."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    def cache_stats(self) -> dict:
        """What this process fitted and what it read back from the fit cache."""
        cache = self.memo.get(("fit_cache",))
        return {"liblinear_fits": cache.stats()} if cache is not None else {}


def make_context(
    profile: str | None = None,
    model_spec: str | None = None,
    data_dir: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    device: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    batch_size: int = 128,
    settings: dict[str, str] | None = None,
    jobs: int = 1,
    solver: str = "liblinear",
    engine_for: tuple[str, ...] = (),
) -> RunContext:
    """Find what the run can use; with no model and no data anywhere, use the fixtures.

    The model comes from ``model_spec``, else ``$NEURON_REPRO_MODEL``. The data root from
    ``data_dir``, else ``$NEURON_REPRO_DATA``, else the user cache. When neither a model nor a
    data root holding any dataset is found, the run is the ``fixtures`` profile: the planted
    model on the bundled fixture files. ``settings`` sets options of the experiment families
    (``{"ner.seeds": "3", "lopes.config.epochs": "2"}``, as ``--set`` gives them) over their
    defaults (the sources', or the fixtures' short ones).
    """
    check_batch_size(batch_size)
    device = resolve_device(device)
    named = [("--data-dir", data_dir), ("$NEURON_REPRO_DATA", os.environ.get("NEURON_REPRO_DATA"))]
    for option, folder in named:
        if folder and Path(folder).exists() and not Path(folder).is_dir():
            raise DatasetError(f"{option} {folder}: {describe_path(Path(folder))}; give the "
                               "folder that holds the datasets (see docs/data.md)")
        if folder:
            break  # --data-dir wins over the environment
    unknown = sorted(set(engine_for) - set(DATASETS))
    if unknown:
        raise ValueError(f"--engine-for {' '.join(unknown)}: no dataset of that name (known: "
                         f"{', '.join(DATASETS)})")
    model_spec = model_spec or os.environ.get("NEURON_REPRO_MODEL") or None
    root = resolve_data_root(data_dir)
    if model_spec == "openai":
        model_spec = f"openai:{fetched_release(root)}"
    data_named = bool(data_dir or os.environ.get("NEURON_REPRO_DATA"))
    found_data = data_named or (root.is_dir() and any(root.iterdir()))
    fixtures = model_spec is None and not found_data
    if fixtures or profile == "fixtures":
        fixtures = True
        model_spec = model_spec or "planted:fixture"
        root = FIXTURE_DATA if not data_dir else root
    profile = profile or ("fixtures" if fixtures else "local")
    out = check_output_dir(Path(out_dir) if out_dir else REPO_ROOT / "reports" / profile,
                           "--out")
    cache = None if fixtures else Path(cache_dir) if cache_dir else default_cache_dir()
    if cache is not None:
        check_output_dir(cache, "--cache-dir" if cache_dir else "the feature cache")
    model = load_model(model_spec) if model_spec else None
    if model is not None:
        torch.manual_seed(SEEDS["torch"])
    return RunContext(
        profile=profile,
        model=model,
        model_spec=model_spec,
        data_root=root,
        out_dir=out,
        device=device,
        cache_dir=cache,
        fixtures=fixtures,
        progress=progress,
        batch_size=batch_size,
        settings=settings_with(default_settings(fixtures), settings or {}),
        jobs=jobs,
        solver=solver,
        engine_for=tuple(engine_for),
    )


def default_control(model_spec: str | None) -> str | None:
    """A checkpoint trained by ``train-lm`` keeps its untrained weights in ``initial/``."""
    if model_spec and (Path(model_spec) / "initial" / "config.json").is_file():
        return str(Path(model_spec) / "initial")
    return None
