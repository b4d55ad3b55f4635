"""Texts to mLSTM states: the released preprocessing, batched extraction, pooling, traces.

The released ``transform`` (openai/generating-reviews-discovering-sentiment, encoder.py)
returns the final cell state c after running each text from a zero state. Any batching is
valid if it gives the same numbers as running each text alone; here texts are sorted by
length and a batch steps only the rows that still have bytes, so a finished text's state is
never touched (no padding enters any state).
"""

from __future__ import annotations

import hashlib
import html
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from neuron_repro.cache import user_cache
from neuron_repro.io import CorruptFileError, read_npz, save_npz, warn_stale
from neuron_repro.models.mlstm import MLSTM

PREPROCESSING_VERSION = "openai/1"
STATE_KINDS = ("final_c", "final_h", "mean_c", "min_c", "max_c")
# Each cache entry holds the key it was written under (checked on read); entries of older
# formats live under other folder names and are never read.
CACHE_FORMAT = "features-cache/2"


def preprocess_openai(text: str) -> bytes:
    """The released preprocessing: unescape HTML, newlines to spaces, strip, pad, UTF-8.

    An empty or all-whitespace text becomes ``b"\\n  "``: three bytes, a defined state.
    """
    if not isinstance(text, str):
        raise TypeError(f"texts must be str, got {type(text).__name__}")
    text = html.unescape(text).replace("\n", " ").strip()
    return ("\n " + text + " ").encode("utf-8")


def parse_states(spec: str | Sequence[str]) -> list[str]:
    """``"final_c,mean_c"`` -> ``["final_c", "mean_c"]``, each checked against STATE_KINDS."""
    kinds = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    bad = [k for k in kinds if k not in STATE_KINDS]
    if bad or not kinds:
        raise ValueError(f"unknown state {bad or spec!r}; choose from {', '.join(STATE_KINDS)}")
    return kinds


def default_cache_dir() -> Path:
    """``$NEURON_REPRO_CACHE``, else ``$XDG_CACHE_HOME/neuron-repro/features``."""
    root = os.environ.get("NEURON_REPRO_CACHE")
    return Path(root) if root else user_cache("features")


def _texts_digest(encoded: Sequence[bytes]) -> str:
    digest = hashlib.sha256()
    for b in encoded:
        digest.update(len(b).to_bytes(8, "little"))
        digest.update(b)
    return digest.hexdigest()


def _batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    order = np.argsort(-lengths, kind="stable")  # longest first
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


PROGRESS_STEPS = 1024  # a batch reports the bytes it has run every this many steps


@torch.no_grad()
def _run_batch(
    model: MLSTM, tables, seqs: list[bytes], device, trace_units=None, start=None,
    on_bytes: Callable[[int], None] | None = None,
) -> tuple[dict[str, np.ndarray], list[np.ndarray] | None]:
    """Run texts sorted by decreasing length; return the five summaries (and unit traces).

    ``start`` continues each row from where an earlier run stopped: its five summaries and
    ``n_bytes``, the length it had run over (the pooled summaries then cover both parts).
    ``on_bytes(n)`` is told every :data:`PROGRESS_STEPS` steps how many bytes were run since
    it was last told (a batch of one long text shows its progress; the rest of the batch's
    bytes are the caller's to count when it ends)."""
    zx_table, mx_table, wh, wmh = tables
    n, n_units = len(seqs), model.n_units
    lengths = np.array([len(s) for s in seqs])
    padded = np.zeros((n, lengths[0]), dtype=np.int64)
    for row, s in enumerate(seqs):
        padded[row, : len(s)] = np.frombuffer(s, dtype=np.uint8)
    ids = torch.from_numpy(padded).to(device)
    # active[t]: how many rows (a prefix, as rows are sorted) still have a byte at step t
    active = np.searchsorted(-lengths, -np.arange(lengths[0]), side="left")
    c = torch.zeros(n, n_units, device=device)
    h = torch.zeros(n, n_units, device=device)
    total = torch.zeros(n, n_units, device=device)
    low = torch.full((n, n_units), float("inf"), device=device)
    high = torch.full((n, n_units), float("-inf"), device=device)
    before = np.zeros(n)
    if start is not None:
        before = start["n_bytes"].astype(np.float64)
        c[:], h[:] = (torch.from_numpy(start[k]).to(device) for k in ("final_c", "final_h"))
        low[:], high[:] = (torch.from_numpy(start[k]).to(device) for k in ("min_c", "max_c"))
        total[:] = torch.from_numpy(start["mean_c"].astype(np.float64) * before[:, None])
    traces = None
    if trace_units is not None:
        unit_idx = torch.as_tensor(trace_units, device=device, dtype=torch.long)
        traces = torch.zeros(n, lengths[0], len(trace_units), device=device)
    pending = 0
    for t in range(lengths[0]):
        k = int(active[t])
        pending += k
        if on_bytes is not None and (t + 1) % PROGRESS_STEPS == 0:
            on_bytes(pending)
            pending = 0
        step = ids[:k, t]
        c_new, h_new = MLSTM.cell(zx_table[step], mx_table[step], c[:k], h[:k], wh, wmh)
        c[:k], h[:k] = c_new, h_new
        total[:k] += c_new
        torch.minimum(low[:k], c_new, out=low[:k])
        torch.maximum(high[:k], c_new, out=high[:k])
        if traces is not None:
            traces[:k, t] = c_new[:, unit_idx]
    counts = torch.from_numpy(lengths + before).to(device=device, dtype=torch.float32)
    mean = total / counts[:, None]
    out = {"final_c": c, "final_h": h, "mean_c": mean, "min_c": low, "max_c": high}
    out = {k: v.cpu().numpy() for k, v in out.items()}
    if traces is not None:
        traces = traces.cpu().numpy()
        traces = [traces[row, : lengths[row]] for row in range(n)]
    return out, traces


def _prepare(model: MLSTM, device):
    model = model.to(device)
    with torch.no_grad():
        zx, mx = model.byte_tables()
        w = model.effective_weights()
    return zx, mx, w["wh"], w["wmh"]


def extract_features(
    model: MLSTM,
    texts: Sequence[str],
    states: Sequence[str] = ("final_c",),
    *,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    desc: str = "features",
) -> dict[str, np.ndarray]:
    """Run every text from a zero state and summarise its cell states.

    Parameters
    ----------
    model : MLSTM
    texts : sequence of str, preprocessed with :func:`preprocess_openai`
    states : kinds from STATE_KINDS: ``final_c`` (what the released code returns),
        ``final_h``, and ``mean_c`` / ``min_c`` / ``max_c`` pooled over the real bytes.
    batch_size : texts run together (sorted by length; the result does not depend on it
        beyond float rounding).
    cache_dir : where finished batches are stored, keyed by model sha256, preprocessing
        version, the state kinds and the texts; ``None`` turns caching off. A second run is
        read from disk, and an interrupted run resumes from its last finished batch.

    Returns
    -------
    dict mapping each requested kind to float32 ndarray of shape (n_texts, n_units)
    """
    states = parse_states(states)
    encoded = [preprocess_openai(t) for t in texts]
    key = None
    if cache_dir is not None:
        if model.sha256 is None:
            raise ValueError("model has no sha256; load it with MLSTM.load/from_openai to cache")
        key = [CACHE_FORMAT, model.sha256, PREPROCESSING_VERSION, ",".join(STATE_KINDS),
               _texts_digest(encoded), str(batch_size)]
    return _summarise(model, encoded, states, batch_size, device, cache_dir, key, progress,
                      desc)


def _summarise(model, seqs, states, batch_size, device, cache_dir, key_parts, progress, desc,
               start=None) -> dict[str, np.ndarray]:
    """Run byte sequences in length-sorted batches, each batch read from or written to the
    cache folder named by ``key_parts``; ``start`` continues rows as in :func:`_run_batch`."""
    n = len(seqs)
    check_batch_size(batch_size)
    if n == 0:
        return {k: np.zeros((0, model.n_units), dtype=np.float32) for k in states}
    lengths = np.array([len(b) for b in seqs])
    cache = folder_key = None
    if cache_dir is not None:
        folder_key = hashlib.sha256("|".join(key_parts).encode()).hexdigest()[:32]
        cache = Path(cache_dir) / folder_key
        cache.mkdir(parents=True, exist_ok=True)
    # NaN until written, and every row must be written exactly once (checked below)
    result = {k: np.full((n, model.n_units), np.nan, dtype=np.float32) for k in states}
    filled = np.zeros(n, dtype=np.int64)
    tables = None
    bar = tqdm(total=int(lengths.sum()), unit="B", unit_scale=True, desc=desc, disable=not progress)
    started, computed = time.perf_counter(), 0
    shown = [0]  # bytes of the batch running now that the bar shows already

    def step_progress(n_bytes: int) -> None:
        shown[0] += n_bytes
        bar.update(n_bytes)

    for number, rows in enumerate(_batches(lengths, batch_size)):
        shown[0] = 0
        path = cache / f"batch_{number:06d}.npz" if cache else None
        entry_key = None if path is None else f"{folder_key}/{number}/{_rows_digest(rows)}"
        summary = None
        if path is not None and path.is_file():
            expect = {k: (len(rows), model.n_units) for k in STATE_KINDS}
            try:
                stored = read_npz(path, expect, key=entry_key)
                summary = {k: stored[k] for k in states}
            except CorruptFileError as exc:
                warn_stale(path, exc)
        if summary is None:
            if tables is None:
                tables = _prepare(model, device)
            begin = None if start is None else {k: np.ascontiguousarray(v[rows])
                                                 for k, v in start.items()}
            summary, _ = _run_batch(model, tables, [seqs[i] for i in rows], device,
                                    start=begin, on_bytes=step_progress)
            computed += int(lengths[rows].sum())
            if path is not None:
                save_npz(path, {**summary, "key": np.array(entry_key)})
        for k in states:
            result[k][rows] = summary[k]
        filled[rows] += 1
        bar.update(int(lengths[rows].sum()) - shown[0])  # what the batch has not shown yet
        if computed:
            bar.set_postfix(computed_Bps=f"{computed / (time.perf_counter() - started):.0f}")
    bar.close()
    if not np.all(filled == 1):
        raise RuntimeError(f"internal error: {int(np.sum(filled != 1))} of {n} rows were not "
                           "written exactly once")
    return result


def check_batch_size(batch_size) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or \
            batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")


def _rows_digest(rows: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).data).hexdigest()[:16]


def continue_features(
    model: MLSTM,
    start: dict[str, np.ndarray],
    suffixes: Sequence[bytes],
    *,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    desc: str = "features",
) -> dict[str, np.ndarray]:
    """Every summary of STATE_KINDS after running ``suffixes[i]`` (raw bytes, already
    preprocessed) on from the state in ``start`` (row i: what :func:`extract_features`
    returned for a text, plus ``n_bytes``, that text's preprocessed length).

    Running text + suffix from zero gives the same numbers up to float rounding: the cell
    carries everything, and the pooled summaries are combined by length.
    """
    if any(len(b) == 0 for b in suffixes):
        raise ValueError("every suffix needs at least one byte")
    start = {k: start[k] for k in (*STATE_KINDS, "n_bytes")}
    key = None
    if cache_dir is not None:
        digest = hashlib.sha256()
        for value in start.values():
            digest.update(np.ascontiguousarray(value).tobytes())
        key = [CACHE_FORMAT, model.sha256, "continue", digest.hexdigest(), _texts_digest(suffixes),
               str(batch_size)]
    return _summarise(model, list(suffixes), STATE_KINDS, batch_size, device, cache_dir, key,
                      progress, desc, start=start)


def extract_states(model: MLSTM, texts: Sequence[str], states="final_c", **kwargs) -> np.ndarray:
    """Concatenate the requested state kinds: float32 of shape (n_texts, n_kinds * n_units)."""
    kinds = parse_states(states)
    feats = extract_features(model, texts, kinds, **kwargs)
    return np.concatenate([feats[k] for k in kinds], axis=1)


def trace_units(
    model: MLSTM, texts: Sequence[str], units: Sequence[int], *, device="cpu", batch_size=64
) -> list[np.ndarray]:
    """Per-byte cell state of chosen units, for heatmaps.

    Returns one float32 array per text of shape (n_bytes, len(units)), row t being the state
    after byte t of ``preprocess_openai(text)``.
    """
    units = [int(u) for u in units]
    if any(not 0 <= u < model.n_units for u in units):
        raise ValueError(f"units must lie in 0..{model.n_units - 1}, got {units}")
    check_batch_size(batch_size)
    encoded = [preprocess_openai(t) for t in texts]
    tables = _prepare(model, device)
    out: list[np.ndarray | None] = [None] * len(encoded)
    for rows in _batches(np.array([len(b) for b in encoded]), batch_size):
        _, traces = _run_batch(model, tables, [encoded[i] for i in rows], device, units)
        for row, trace in zip(rows, traces, strict=True):
            out[row] = trace
    if any(trace is None for trace in out):
        raise RuntimeError("internal error: a text's trace was not computed")
    return out

