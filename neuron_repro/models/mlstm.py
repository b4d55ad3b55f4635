"""The byte-level multiplicative LSTM of Radford, Jozefowicz & Sutskever (2017).

"Learning to Generate Reviews and Discovering Sentiment", arXiv 1704.01444; the released
code is openai/generating-reviews-discovering-sentiment. One step, with x the byte's
64-dimensional embedding and (c, h) the state (zero at the start of a text)::

    m  = (x Wmx) * (h Wmh)
    z  = x Wx + m Wh + b                  # four blocks, in the order i, f, o, u
    c' = sigmoid(f) * c + sigmoid(i) * tanh(u)
    h' = sigmoid(o) * tanh(c')

Wx, Wh, Wmx and Wmh carry weight normalisation: each column (output unit) is divided by
its L2 norm over the input axis and multiplied by a gain (gx, gh, gmx, gmh). There is one
bias vector and no weight norm on the embedding or the output layer. Parameter names follow
the released files so that ``from_openai`` is a plain copy.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neuron_repro.cache import sha256_file
from neuron_repro.io import (
    CorruptFileError,
    atomic_folder,
    atomic_write,
    describe_path,
    read_json_object,
    read_npy,
    read_npy_header,
    read_safetensors,
    save_safetensors,
    write_json,
)

N_BYTES = 256
CHECKPOINT_FORMAT = "neuron-repro-mlstm/1"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
OPENAI_HOME = "https://github.com/openai/generating-reviews-discovering-sentiment/tree/master/model"

# (file index, parameter name, shape as a function of (n_embed, n_units)); 2..5 are the four
# column blocks of Wh, concatenated on axis 1.
OPENAI_FILES = [
    (0, "embed", lambda e, h: (N_BYTES, e)),
    (1, "wx", lambda e, h: (e, 4 * h)),
    (2, "wh", lambda e, h: (h, h)),
    (3, "wh", lambda e, h: (h, h)),
    (4, "wh", lambda e, h: (h, h)),
    (5, "wh", lambda e, h: (h, h)),
    (6, "wmx", lambda e, h: (e, h)),
    (7, "wmh", lambda e, h: (h, h)),
    (8, "b", lambda e, h: (4 * h,)),
    (9, "gx", lambda e, h: (4 * h,)),
    (10, "gh", lambda e, h: (4 * h,)),
    (11, "gmx", lambda e, h: (h,)),
    (12, "gmh", lambda e, h: (h,)),
    (13, "out_w", lambda e, h: (h, N_BYTES)),
    (14, "out_b", lambda e, h: (N_BYTES,)),
]


class ModelFormatError(ValueError):
    """A weight file is missing, malformed or inconsistent with the others."""


@dataclass(frozen=True)
class MLSTMConfig:
    n_units: int = 4096
    n_embed: int = 64


def weight_norm(w: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """Normalise each column of ``w`` (n_in, n_out) to unit L2 norm, then scale by ``gain``.

    Matches ``tf.nn.l2_normalize(w, dim=0) * gain`` of the released code: the squared norm is
    floored at 1e-12, so an all-zero column stays zero.
    """
    sq = (w * w).sum(dim=0, keepdim=True).clamp_min(1e-12)
    return w * torch.rsqrt(sq) * gain


class MLSTM(torch.nn.Module):
    """Byte-level mLSTM with OpenAI's parameterisation.

    Parameters
    ----------
    config : MLSTMConfig
        ``n_units`` (4096 in the release) and ``n_embed`` (64).
    """

    def __init__(self, config: MLSTMConfig = MLSTMConfig()):
        super().__init__()
        self.config = config
        h, e = config.n_units, config.n_embed
        p = torch.nn.Parameter
        self.embed = p(torch.zeros(N_BYTES, e))
        self.wx = p(torch.zeros(e, 4 * h))
        self.wh = p(torch.zeros(h, 4 * h))
        self.wmx = p(torch.zeros(e, h))
        self.wmh = p(torch.zeros(h, h))
        self.b = p(torch.zeros(4 * h))
        self.gx = p(torch.ones(4 * h))
        self.gh = p(torch.ones(4 * h))
        self.gmx = p(torch.ones(h))
        self.gmh = p(torch.ones(h))
        self.out_w = p(torch.zeros(h, N_BYTES))
        self.out_b = p(torch.zeros(N_BYTES))
        # Set by the loaders: sha256 of the weights this model was read from, and where.
        self.sha256: str | None = None
        self.source: str | None = None

    @property
    def n_units(self) -> int:
        return self.config.n_units

    # ----------------------------------------------------------------- construction
    @classmethod
    def random(cls, n_units: int, n_embed: int = 64, seed: int = 0,
               forget_bias: float = 1.0) -> MLSTM:
        """A randomly initialised model: the start of training and the untrained control.

        Weight norm keeps only the direction of Wx, Wh, Wmx and Wmh, and the gains start at
        one, so with a unit-variance embedding every gate pre-activation starts near N(0, 1).
        The output layer starts small (near-uniform next-byte predictions), and the forget
        gate's bias at ``forget_bias``.
        """
        gen = torch.Generator().manual_seed(seed)
        model = cls(MLSTMConfig(n_units=n_units, n_embed=n_embed))
        with torch.no_grad():
            for name in ("embed", "wx", "wh", "wmx", "wmh"):
                param = getattr(model, name)
                param.copy_(torch.randn(param.shape, generator=gen))
            model.out_w.copy_(torch.randn(model.out_w.shape, generator=gen) * 0.1 / n_units**0.5)
            model.b[n_units : 2 * n_units] = forget_bias
        model.sha256 = hashlib.sha256(
            f"random:{n_units}:{n_embed}:{seed}:{forget_bias}".encode()).hexdigest()
        model.source = f"random:{n_units}:seed={seed}"
        return model

    @classmethod
    def from_openai(cls, folder: str | os.PathLike) -> MLSTM:
        """Read the 15 released ``.npy`` files (``0.npy`` ... ``14.npy``) of any hidden size.

        Each file's header is checked before it is read (a ``.npz``, a text file or a
        truncated file under a ``.npy`` name is named as such). The embedding and hidden
        sizes are those most of the files agree on, so a file with the wrong shape is the
        one blamed. Files are read with ``allow_pickle=False``; every value must be finite.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise ModelFormatError(f"{folder}: {describe_path(folder)}; openai:FOLDER names the "
                                   f"folder holding 0.npy ... 14.npy from {OPENAI_HOME}")
        missing = [f"{i}.npy" for i, _, _ in OPENAI_FILES if not (folder / f"{i}.npy").is_file()]
        if missing:
            raise ModelFormatError(
                f"{folder}: missing {', '.join(missing)}. The released weights are the 15 files "
                f"0.npy ... 14.npy from {OPENAI_HOME}; put all of them in this folder."
            )
        try:
            headers = {i: read_npy_header(folder / f"{i}.npy") for i, _, _ in OPENAI_FILES}
        except CorruptFileError as exc:
            raise ModelFormatError(str(exc)) from exc
        n_embed, n_units = _sizes_most_agree_on({i: h[0] for i, h in headers.items()})
        for i, name, shape_of in OPENAI_FILES:
            want, (shape, dtype, _, _) = shape_of(n_embed, n_units), headers[i]
            if shape != want:
                raise ModelFormatError(
                    f"{folder / f'{i}.npy'}: {name} has shape {shape}, expected {want} for "
                    f"n_units={n_units}, n_embed={n_embed} (the sizes the other files agree on)"
                )
            if not np.issubdtype(dtype, np.floating):
                raise ModelFormatError(f"{folder / f'{i}.npy'}: {name} is {dtype}, expected "
                                       "floats")
        arrays = {}
        for i, name, _ in OPENAI_FILES:
            try:
                arrays[i] = read_npy(folder / f"{i}.npy")
            except CorruptFileError as exc:
                raise ModelFormatError(str(exc)) from exc
            if not np.all(np.isfinite(arrays[i])):
                raise ModelFormatError(f"{folder / f'{i}.npy'}: {name} must be finite floats "
                                       "(it holds NaN or infinity)")
        model = cls(MLSTMConfig(n_units=n_units, n_embed=n_embed))
        wh = np.concatenate([arrays[2], arrays[3], arrays[4], arrays[5]], axis=1)  # (H, 4H)
        tensors = {"wh": wh}
        for i, name, _ in OPENAI_FILES:
            if name != "wh":
                tensors[name] = arrays[i]
        model.load_numpy(tensors)
        digest = hashlib.sha256()
        for i, _, _ in OPENAI_FILES:
            digest.update(sha256_file(folder / f"{i}.npy").encode())
        model.sha256 = digest.hexdigest()
        model.source = f"openai:{folder}"
        return model

    def load_numpy(self, tensors: dict[str, np.ndarray]) -> None:
        with torch.no_grad():
            for name, param in self.named_parameters():
                value = torch.from_numpy(np.ascontiguousarray(tensors[name], dtype=np.float32))
                param.copy_(value)

    # ----------------------------------------------------------------- checkpoints
    def save(self, folder: str | os.PathLike, extra: dict | None = None) -> str:
        """Write ``model.safetensors`` and ``config.json`` to the new folder ``folder``;
        return the weights' sha256.

        The folder is written under a temporary name and renamed into place, so it appears
        whole or not at all; an existing folder is never overwritten.
        """
        folder = Path(folder)
        if folder.exists():
            raise FileExistsError(f"{folder}: exists already; save a model to a new folder")
        with atomic_folder(folder) as tmp:
            sha = self.write_weights(tmp / WEIGHTS_FILE)
            write_json(tmp / CONFIG_FILE, self.config_record(sha, extra), sort_keys=True)
        self.sha256 = sha
        return sha

    def write_weights(self, path: str | os.PathLike) -> str:
        """The weights alone to a ``.safetensors`` file (whole or not at all); its sha256."""
        tensors = {k: v.detach().float().cpu().contiguous() for k, v in self.state_dict().items()}
        with atomic_write(path, ".safetensors.tmp") as tmp:
            save_safetensors(tensors, tmp, metadata={"format": CHECKPOINT_FORMAT})
            sha = sha256_file(tmp)
        return sha

    def config_record(self, sha: str, extra: dict | None = None) -> dict:
        """What ``config.json`` holds for weights with this sha256."""
        return {"format": CHECKPOINT_FORMAT, **asdict(self.config), "sha256": sha, **(extra or {})}

    @classmethod
    def load(cls, path: str | os.PathLike) -> MLSTM:
        """Load a checkpoint folder (or its ``model.safetensors``) written by :meth:`save` or by
        ``train-lm`` (whose ``config.json`` names the checkpoint folder holding the weights).

        Everything is checked before the model is used: ``config.json`` is an object with
        every field, the weights' sha256 matches the one it records, the file is safetensors
        with exactly the tensors of that configuration, and every weight is finite.
        """
        path = Path(path)
        folder = path.parent if path.suffix == ".safetensors" else path
        config_path = folder / CONFIG_FILE
        if not folder.is_dir() or not config_path.is_file():
            raise ModelFormatError(
                f"{config_path}: not found. A checkpoint is a folder with {WEIGHTS_FILE} and "
                f"{CONFIG_FILE} (see MLSTM.save); released weights are read with openai:FOLDER."
            )
        config, weights = read_checkpoint_config(folder)
        sha = sha256_file(weights)
        if config["sha256"] != sha:
            raise ModelFormatError(
                f"{weights}: sha256 {sha} does not match {config['sha256']} recorded in "
                f"{config_path}; the file is corrupt or was replaced. Re-download or re-save it."
            )
        model = cls(MLSTMConfig(n_units=config["n_units"], n_embed=config["n_embed"]))
        want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        try:
            tensors = read_safetensors(weights, want)
        except CorruptFileError as exc:
            raise ModelFormatError(f"{exc} (config {config_path}: n_units "
                                   f"{config['n_units']}, n_embed {config['n_embed']})") from exc
        with torch.no_grad():
            for name, param in model.named_parameters():
                param.copy_(tensors[name].float())
        model.sha256 = sha
        model.source = str(folder)
        return model

    # ----------------------------------------------------------------- computation
    def effective_weights(self) -> dict[str, torch.Tensor]:
        """The weight-normalised matrices used by every step."""
        return {
            "wx": weight_norm(self.wx, self.gx),  # (n_embed, 4 * n_units)
            "wh": weight_norm(self.wh, self.gh),  # (n_units, 4 * n_units)
            "wmx": weight_norm(self.wmx, self.gmx),  # (n_embed, n_units)
            "wmh": weight_norm(self.wmh, self.gmh),  # (n_units, n_units)
        }

    def byte_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Input projections of every byte, precomputed once.

        Returns ``(zx, mx)``: ``zx[b] = embed[b] Wx + bias`` of shape (256, 4 * n_units) and
        ``mx[b] = embed[b] Wmx`` of shape (256, n_units). A step then costs only the two
        recurrent matrix products.
        """
        w = self.effective_weights()
        return self.embed @ w["wx"] + self.b, self.embed @ w["wmx"]

    @staticmethod
    def cell(zx, mx, c, h, wh, wmh, clamp=None):
        """One step from precomputed input projections; returns the new (c, h).

        ``clamp``, for steered sampling: ``(units, values, state)`` overwrites the new state
        at ``units`` with ``values`` (tensors). ``state`` ``"c"`` overwrites the cell, and h
        then follows from it by the equations (``h = sigmoid(o) * tanh(value)``); ``"h"``
        overwrites the hidden state only; ``"both"`` overwrites each with the value.
        """
        m = mx * (h @ wmh)  # (batch, n_units)
        z = zx + m @ wh  # (batch, 4 * n_units)
        i, f, o, u = z.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(u)
        if clamp is not None and clamp[2] in ("c", "both"):
            c = c.index_copy(1, clamp[0], clamp[1].expand(len(c), -1))
        h = torch.sigmoid(o) * torch.tanh(c)
        if clamp is not None and clamp[2] in ("h", "both"):
            h = h.index_copy(1, clamp[0], clamp[1].expand(len(h), -1))
        return c, h

    def forward(self, byte_ids: torch.Tensor, state=None):
        """Run a batch of equal-length byte windows (language modelling).

        Parameters
        ----------
        byte_ids : LongTensor of shape (batch, n_steps)
        state : optional (c, h), each of shape (batch, n_units); zero when omitted.

        Returns
        -------
        logits : (batch, n_steps, 256) next-byte logits
        (c, h) : the state after the last step
        """
        batch, _ = byte_ids.shape
        zx_table, mx_table = self.byte_tables()
        w = self.effective_weights()
        if state is None:
            zeros = zx_table.new_zeros(batch, self.n_units)
            state = (zeros, zeros)
        c, h = state
        zx_all = F.embedding(byte_ids, zx_table)  # (batch, n_steps, 4 * n_units)
        mx_all = F.embedding(byte_ids, mx_table)  # (batch, n_steps, n_units)
        hs = []
        for zx, mx in zip(zx_all.unbind(1), mx_all.unbind(1), strict=True):
            c, h = self.cell(zx, mx, c, h, w["wh"], w["wmh"])
            hs.append(h)
        hidden = torch.stack(hs, dim=1)  # (batch, n_steps, n_units)
        return hidden @ self.out_w + self.out_b, (c, h)


_CONFIG_FIELDS = {"format": str, "n_units": int, "n_embed": int, "sha256": str}


def read_checkpoint_config(folder: str | os.PathLike) -> tuple[dict, Path]:
    """``config.json`` of a checkpoint folder, checked, and the path of its weights: in the
    folder itself, or in the subfolder its ``checkpoint`` field names (``train-lm``'s layout,
    where one rename of ``config.json`` switches to a new checkpoint)."""
    folder = Path(folder)
    config_path = folder / CONFIG_FILE
    try:
        config = read_json_object(config_path, _CONFIG_FIELDS, what="checkpoint config")
    except CorruptFileError as exc:
        raise ModelFormatError(str(exc)) from exc
    if config["format"] != CHECKPOINT_FORMAT:
        raise ModelFormatError(
            f"{config_path}: format {config['format']!r}, expected {CHECKPOINT_FORMAT!r}")
    for name in ("n_units", "n_embed"):
        if config[name] < 1:
            raise ModelFormatError(f"{config_path}: {name} is {config[name]}; it must be >= 1")
    where = folder
    if "checkpoint" in config:
        sub = config["checkpoint"]
        if not isinstance(sub, str) or Path(sub).is_absolute() or ".." in Path(sub).parts \
                or not sub:
            raise ModelFormatError(f"{config_path}: checkpoint {sub!r} is not a folder inside "
                                   f"{folder}")
        where = folder / sub
    weights = where / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelFormatError(f"{weights}: {describe_path(weights)} (named by {config_path}); "
                               "the checkpoint is incomplete")
    # the recurrent matrices alone (Wh: 4n x n, Wmh: n x n) need 5 n^2 numbers of at least two
    # bytes: a config that asks for more than the weights file holds is refused before any
    # memory is allocated for it
    need = 2 * 5 * config["n_units"] ** 2
    if need > weights.stat().st_size:
        raise ModelFormatError(f"{config_path}: n_units {config['n_units']} needs at least "
                               f"{need:,} bytes of weights, and {weights} holds "
                               f"{weights.stat().st_size:,}: the weights are truncated or "
                               "corrupt, or the config is not this checkpoint's")
    return config, weights


def _sizes_most_agree_on(shapes: dict[int, tuple]) -> tuple[int, int]:
    """(n_embed, n_units) as most released files' shapes give them."""
    votes_e, votes_h = Counter(), Counter()
    for i, name, _ in OPENAI_FILES:
        shape = shapes[i]
        if name == "embed" and len(shape) == 2:
            votes_e[shape[1]] += 1
        elif name in ("wx", "wmx") and len(shape) == 2:
            votes_e[shape[0]] += 1
            votes_h[shape[1] // (4 if name == "wx" else 1)] += 1
        elif name in ("wh", "wmh") and len(shape) == 2:
            votes_h[shape[0]] += 1
        elif name in ("b", "gx", "gh") and len(shape) == 1:
            votes_h[shape[0] // 4] += 1
        elif name in ("gmx", "gmh") and len(shape) == 1:
            votes_h[shape[0]] += 1
        elif name == "out_w" and len(shape) == 2:
            votes_h[shape[0]] += 1
    if not votes_e or not votes_h:
        raise ModelFormatError("the released files' shapes give no embedding or hidden size")
    n_embed, n_units = votes_e.most_common(1)[0][0], votes_h.most_common(1)[0][0]
    if n_embed < 1 or n_units < 1:
        raise ModelFormatError(f"the released files give n_embed={n_embed}, n_units={n_units}")
    return n_embed, n_units


def git_blob_id(path: str | os.PathLike) -> str:
    """The id ``git hash-object`` gives a file: sha1 of ``b"blob <size>\\0"`` + its bytes."""
    size = os.path.getsize(path)
    digest = hashlib.sha1(f"blob {size}\0".encode())
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# Git blob ids of the released 4096-unit files (PROTOCOLS.md, "Pinning the released weights").
OPENAI_RELEASE_BLOBS = {
    0: "64046c2bfcc46b04001ecc72c523fa06ea49da26",
    1: "48a9ce0d01b7f8394345f3587559ce8ce7e47841",
    2: "9a78f2c8f5447d0eb2c93d6f8f2632483441a072",
    3: "8dc8daffdd0317fe2062ce7730608f2d1ace7737",
    4: "90ff06565ee66227c075ea724d010a0dd87b76d9",
    5: "181109eb9fbea7529d9ccbbade234365f40914ee",
    6: "875fadb36c969edabffd35df7702c80de2fb895e",
    7: "5f946abd4eb767a0c04941eb90f8bee718ccceef",
    8: "3fd585ae5e53cae155ea8b760950db24ab13424b",
    9: "45d5ce521c7b10f3e6ccc702f902846e3e1d4216",
    10: "068c953b192b871251d2b67f4c3c4cf76700dbf1",
    11: "4266d2a2ffde97cc74cb54707f5b6fc74b924cea",
    12: "6116d17dec7f722b55248e632c25be47cf13b6a4",
    13: "21a442e141da569d96d1739aa9fe3277544255ef",
    14: "0f452d14e0ac21f47c4c68de3b4427dee9b5ce6a",
}


def is_openai_release(folder: str | os.PathLike) -> bool:
    """True when all 15 files in ``folder`` are byte-identical to OpenAI's release."""
    folder = Path(folder)
    for i, blob in OPENAI_RELEASE_BLOBS.items():
        path = folder / f"{i}.npy"
        if not path.is_file() or git_blob_id(path) != blob:
            return False
    return True
