"""Files written whole or not at all, and files read back only once they are checked.

Every file the harness writes goes through :func:`atomic_write` (or a helper built on it), so
a reader never sees half a file. Every file it reads back (caches, checkpoints, weights) goes
through one of the readers here, which check what they read against what the caller expects
(names, shapes, dtypes, finite values, the key an entry was written under) and raise
:class:`CorruptFileError` naming the file and saying what to do. Nothing here unpickles.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import platform
import shutil
import stat
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"


class CorruptFileError(ValueError):
    """A file read back is malformed, truncated, inconsistent or not what its name says."""


class StaleCacheWarning(UserWarning):
    """A cache entry could not be used; it is computed again and replaced."""


# ---------------------------------------------------------------------------------- writing
@contextmanager
def atomic_write(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, move it into place
    (with the permissions of a normally created file), and when it fails, remove it. A reader
    never sees a half-written file, and a crash leaves at most a stray temporary."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new temporary folder beside ``path``; when the block succeeds it is renamed to
    ``path`` (which must not exist yet), when it fails it is removed. The folder appears whole
    or not at all."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path}: exists already")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)
        os.rename(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def save_safetensors(tensors: dict, path: str | os.PathLike,
                     metadata: dict | None = None) -> None:
    """``safetensors.torch.save_file``, with a failure to write (a full disk, a folder gone) an
    OSError naming the file instead of the library's own error type."""
    import re

    from safetensors import SafetensorError
    from safetensors.torch import save_file

    try:
        save_file(tensors, str(path), metadata=metadata)
    except SafetensorError as exc:
        code = re.search(r"code: (\d+)", str(exc))
        number = int(code.group(1)) if code else errno.EIO
        raise OSError(number, f"{os.strerror(number)} (writing safetensors: {exc})",
                      str(path)) from exc


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Plain arrays (no pickled objects) to ``.npz``, whole or not at all."""
    with atomic_write(path, ".npz.tmp") as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """One plain array to ``.npy``, whole or not at all."""
    with atomic_write(path, ".npy.tmp") as tmp, open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)


def jsonable(value, where: str = "", nulls: dict | None = None, finite: bool = True):
    """``value`` with numpy scalars and arrays made plain, and (with ``finite``) every float
    that is not finite replaced by ``None``; ``nulls`` (when given) collects
    ``{path: "nan" | "inf" | "-inf"}`` for each replacement, so that the file can say why a
    value is null."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, f"{where}.{k}" if where else str(k), nulls, finite)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, f"{where}[{i}]", nulls, finite) for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), where, nulls, finite)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        if finite and not math.isfinite(value):
            if nulls is not None:
                nulls[where] = repr(value)
            return None
        return value
    return value


def dumps_json(payload, indent: int | None = 2, sort_keys: bool = False) -> str:
    """Strict JSON text (no bare NaN or Infinity). A top-level object that had non-finite
    numbers gets a ``null_values`` entry listing where and what they were."""
    nulls: dict = {}
    clean = jsonable(payload, "", nulls)
    if nulls and isinstance(clean, dict):
        clean["null_values"] = {path: f"not a finite number ({what}); written as null"
                                for path, what in nulls.items()}
    return json.dumps(clean, indent=indent, sort_keys=sort_keys, allow_nan=False)


def recorded_null(payload: dict, where: str):
    """What :func:`dumps_json` wrote as null at ``where`` (``"inf"``, ``"nan"``), else None."""
    note = (payload.get("null_values") or {}).get(where)
    return note.split("(", 1)[1].split(")", 1)[0] if note else None


def write_json(path: str | os.PathLike, payload, sort_keys: bool = False) -> None:
    """:func:`dumps_json` to ``path``, whole or not at all."""
    text = dumps_json(payload, sort_keys=sort_keys) + "\n"
    with atomic_write(path) as tmp:
        tmp.write_text(text)


# ---------------------------------------------------------------------------------- reading
def describe_path(path: Path) -> str:
    """What is at ``path`` when it is not a regular file: for error messages."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISDIR(mode):
        return "a directory, not a file"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file"
    return "a regular file"


def read_json_object(path: str | os.PathLike, required: Mapping[str, type | tuple] = (),
                     optional: Mapping[str, type | tuple] | None = None,
                     what: str = "file") -> dict:
    """A JSON object with the ``required`` fields (each of the given type); with ``optional``
    given, any field outside both is an error too. Raises :class:`CorruptFileError`."""
    path = Path(path)
    if not path.is_file():
        raise CorruptFileError(f"{path}: {describe_path(path)}; expected a {what}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"{path}: not valid JSON ({exc}); the {what} is corrupt") from exc
    except RecursionError:
        raise CorruptFileError(f"{path}: JSON nested too deeply to be a {what}") from None
    if not isinstance(data, dict):
        raise CorruptFileError(f"{path}: holds a JSON {type(data).__name__}, expected an object "
                               f"(a {what})")
    missing = [k for k in required if k not in data]
    if missing:
        raise CorruptFileError(f"{path}: the {what} lacks {', '.join(missing)}")
    fields = dict(required)
    if optional is not None:
        fields.update(optional)
        extra = sorted(set(data) - set(fields))
        if extra:
            raise CorruptFileError(f"{path}: the {what} has unknown fields {', '.join(extra)}")
    for name, kind in fields.items():
        if name in data and not _is_instance(data[name], kind):
            raise CorruptFileError(f"{path}: field {name!r} of the {what} is "
                                   f"{type(data[name]).__name__}, expected {_kind_name(kind)}")
    return data


def _is_instance(value, kind) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False  # JSON true is not a number
    if float in kinds and isinstance(value, int):
        return True
    return isinstance(value, kinds)


def _kind_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def check_arrays(path, arrays: Mapping[str, np.ndarray],
                 expect: Mapping[str, tuple], finite: bool = True,
                 exact: bool = False) -> None:
    """Each name of ``expect`` is in ``arrays`` with that shape (``None`` in a shape: any
    length); floats are finite when ``finite``; with ``exact`` no other name is allowed."""
    missing = [k for k in expect if k not in arrays]
    if missing:
        raise CorruptFileError(f"{path}: lacks {', '.join(missing)}")
    if exact:
        extra = sorted(set(arrays) - set(expect))
        if extra:
            raise CorruptFileError(f"{path}: has unexpected entries {', '.join(extra)}")
    for name, shape in expect.items():
        got = tuple(arrays[name].shape)
        if len(got) != len(shape) or any(w is not None and w != g for w, g in zip(shape, got,
                                                                                   strict=True)):
            raise CorruptFileError(f"{path}: {name} has shape {got}, expected "
                                   f"{tuple('any' if w is None else w for w in shape)}")
        array = arrays[name]
        kind = getattr(array.dtype, "kind", None)  # numpy; a torch tensor says is_complex
        if (kind is not None and kind not in "biuf") or \
                (kind is None and getattr(array, "is_complex", lambda: False)()):
            raise CorruptFileError(f"{path}: {name} holds {array.dtype} values, expected "
                                   "real numbers")
        if finite and np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            raise CorruptFileError(f"{path}: {name} holds values that are not finite "
                                   "(NaN or infinity)")


def read_npz(path: str | os.PathLike, expect: Mapping[str, tuple], finite: bool = True,
             key: str | None = None) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` written by :func:`save_npz`, checked by :func:`check_arrays`;
    with ``key``, its ``key`` entry must hold that string (the key the entry was written
    under). Raises :class:`CorruptFileError` for anything unreadable."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {k: stored[k] for k in stored.files}
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile, zlib and numpy raise many kinds
        raise CorruptFileError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc})") \
            from exc
    if key is not None:
        stored_key = arrays.pop("key", None)
        if stored_key is None or stored_key.dtype.kind != "U" or str(stored_key) != key:
            raise CorruptFileError(f"{path}: written under another key")
    check_arrays(path, arrays, expect, finite=finite)
    return arrays


def read_npy_header(path: str | os.PathLike) -> tuple[tuple, np.dtype, bool, int]:
    """Shape, dtype, Fortran order and data offset of a ``.npy`` file, checked against the
    file's size; a file that is not ``.npy`` (an ``.npz``, text, a pickle) is named as what it
    is, and an absurd header is an error, before anything is allocated."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(len(NPY_MAGIC))
        if head != NPY_MAGIC:
            kind = ("an .npz archive (zip), not a single .npy array" if head.startswith(ZIP_MAGIC)
                    else "pickled data" if head[:1] == b"\x80"
                    else "text" if head and all(32 <= c < 127 or c in b"\t\r\n" for c in head)
                    else "not a .npy file")
            raise CorruptFileError(f"{path}: {kind} (it starts with {head!r}, not the .npy "
                                   "magic); expected a numpy .npy array file")
        f.seek(0)
        try:
            major, _ = np.lib.format.read_magic(f)
            reader = (np.lib.format.read_array_header_1_0 if major == 1
                      else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = reader(f, max_header_size=10_000)
        except Exception as exc:  # noqa: BLE001 - numpy raises ValueError or SyntaxError
            raise CorruptFileError(f"{path}: the .npy header cannot be read ({exc})") from exc
        offset = f.tell()
    if dtype.hasobject:
        raise CorruptFileError(f"{path}: holds Python objects (pickled data); only plain "
                               "numeric arrays are read")
    n_bytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if n_bytes != size - offset:
        raise CorruptFileError(
            f"{path}: the header says shape {shape} of {dtype} ({n_bytes:,} bytes) but the file "
            f"holds {size - offset:,} bytes of data; it is truncated or not what it claims")
    return tuple(shape), dtype, fortran, offset


def read_npy(path: str | os.PathLike) -> np.ndarray:
    """A plain ``.npy`` array, its header checked first by :func:`read_npy_header`."""
    read_npy_header(path)
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise CorruptFileError(f"{path}: cannot be read as .npy ({exc})") from exc


def read_safetensors(path: str | os.PathLike, expect: Mapping[str, tuple] | None = None,
                     finite: bool = True, exact: bool = True) -> dict:
    """Torch tensors of a ``.safetensors`` file, checked like :func:`check_arrays`."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CorruptFileError(f"{path}: {describe_path(path)}")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CorruptFileError(f"{path}: not a readable safetensors file ({exc}); it is "
                               "truncated or corrupt") from exc
    if expect is not None:
        check_arrays(path, tensors, expect, finite=False, exact=exact)
    if finite:
        for name, t in tensors.items():
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise CorruptFileError(f"{path}: {name} holds values that are not finite (NaN "
                                       "or infinity); the weights are unusable")
    return tensors


def warn_stale(path: Path, problem: Exception | str) -> None:
    """Say that a cache entry is unusable and will be replaced."""
    warnings.warn(f"cache entry {path} is unusable ({problem}); computing it again and "
                  "replacing it", StaleCacheWarning, stacklevel=3)


# ---------------------------------------------------------------------------------- outputs
def check_output_file(path: str | os.PathLike, option: str) -> Path:
    """Fail before any work when ``path`` cannot be written as a file: a directory there, a
    parent that is a file, or a folder that is not writable."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise OutputError(f"{option} {path}: is {describe_path(path)}; give a file name")
    _check_parent_writable(path.parent, option, path)
    return path


def check_output_dir(path: str | os.PathLike, option: str) -> Path:
    """Fail before any work when ``path`` cannot be used as an output folder."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise OutputError(f"{option} {path}: is {describe_path(path)}; give a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputError(f"{option} {path}: the folder is not writable")
        return path
    _check_parent_writable(path.parent, option, path)
    return path


def _check_parent_writable(parent: Path, option: str, path: Path) -> None:
    existing = parent
    while not existing.exists():
        if existing == existing.parent:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise OutputError(f"{option} {path}: {existing} is a file, so nothing can be "
                          "written under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: the folder {existing} is not writable")


class OutputError(ValueError):
    """An output location that cannot be written."""


LOCK_FILE = ".lock"


def lock_folder(folder: Path, option: str, writer: str, name: str = LOCK_FILE,
                what: Path | None = None):
    """An exclusive lock on ``folder/name`` for the life of the returned file (close it to
    release): a second writer into the same folder is refused, naming the first (its pid and
    host), instead of both writing and one's work being lost. ``what`` is the folder the
    lock guards when the lock file is beside it rather than in it."""
    folder = Path(folder)
    what = folder if what is None else Path(what)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{option} {folder}: is a file; give a folder")
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / name, "a+")  # noqa: SIM115 - held until close()
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ValueError(f"{option} {what}: another {writer} ({holder}) is writing there; "
                         f"wait for it to finish or choose another {option}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {platform.node()}\n")
    handle.flush()
    return handle
