"""Writing files whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_write(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, move it into place
    (with the permissions of a normally created file), and when it fails, remove it. A reader
    never sees a half-written file, and a crash leaves at most a stray temporary."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Plain arrays (no pickled objects) to ``.npz``, whole or not at all."""
    with atomic_write(path, ".npz.tmp") as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
