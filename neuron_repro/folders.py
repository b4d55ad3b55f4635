"""A report folder is replaced whole: the new report is built in a folder beside it and
swapped in, so a kill at any instant leaves the old report or the new one, each complete,
and never the figures of one run beside the results of another.

On Linux the swap is one ``renameat2(RENAME_EXCHANGE)``, atomic. Where that call is missing
(another OS, a file system without it) it is two renames; a kill between them leaves the old
folder beside the target, and the next writer puts it back before it starts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from neuron_repro.io import _UMASK, OutputError, check_output_dir, lock_folder

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def staging_path(target: Path) -> Path:
    """Where this process builds the new version of ``target`` (a name of its own, so that
    nothing a killed writer's children still write can land in another writer's folder)."""
    return target.with_name(f".{target.name}.new-{os.getpid()}")


def _old_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.old")


def _exchange(a: Path, b: Path) -> bool:
    """Swap the folders ``a`` and ``b`` in one atomic step; False where the system cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        call = libc.renameat2
    except (OSError, AttributeError):
        return False
    done = call(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_folder(new: Path, target: Path, exchange: Callable[[Path, Path], bool] = _exchange
                   ) -> None:
    """Put the complete folder ``new`` where ``target`` is, and remove the old ``target``."""
    if not target.exists():
        os.rename(new, target)
    elif exchange(new, target):
        shutil.rmtree(new)  # it holds the old report now
    else:
        old = _old_path(target)
        shutil.rmtree(old, ignore_errors=True)
        os.rename(target, old)
        os.rename(new, target)
        shutil.rmtree(old)
    _sync_folder(target.parent)


def recover(target: Path) -> None:
    """Undo what a writer killed mid-way left beside ``target``: a swap stopped between its
    two renames (the old folder is put back) and a half-built new folder (removed)."""
    old = _old_path(target)
    if old.is_dir() and not target.exists():
        os.rename(old, target)
    shutil.rmtree(old, ignore_errors=True)
    for left in target.parent.glob(f".{target.name}.new-*"):
        shutil.rmtree(left, ignore_errors=True)


def _carry_over(old: Path, new: Path, dropped: set[str]) -> None:
    """Bring into ``new`` every file of ``old`` that the new version does not replace (a README,
    a run's settings, a screenshot): those ``dropped`` (the old report's own files) and those
    ``new`` has already are left out. Files are hard-linked where the file system allows
    (nothing writes into them in place: every write replaces a file), links are copied as
    links."""
    for path in sorted(old.rglob("*")):
        name = path.relative_to(old).as_posix()
        if path.name == ".lock" or name in dropped or path.is_dir() and not path.is_symlink():
            continue
        into = new / name
        if into.exists() or into.is_symlink():
            continue
        into.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            os.symlink(os.readlink(path), into)
            continue
        try:
            os.link(path, into)  # the old folder is removed once the new one is in place
        except OSError:
            shutil.copy2(path, into)


def lock_report_folder(target: Path, option: str, writer: str):
    """The writer's lock on the folder ``target``, held in a file beside it (``.NAME.lock``),
    since the folder itself is replaced; close the returned file to release it."""
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    return lock_folder(target.parent, option, writer, name=f".{target.name}.lock", what=target)


@dataclass
class Staged:
    """The folder being built (``path``); ``dropped`` names (relative, ``/``-separated) the
    files of the old version that the new one replaces, which are not carried over."""

    path: Path
    dropped: set[str] = field(default_factory=set)


@contextmanager
def staged_folder(target: str | os.PathLike, option: str, writer: str) -> Iterator[Staged]:
    """Yield an empty folder in which to build the new version of the folder ``target``.

    The target is locked for the whole block (a second writer is refused, naming the first).
    When the block succeeds, every file of the old version that is not in ``dropped`` (and not
    written anew) is copied in and the new folder is swapped in whole; when it fails or is
    interrupted, the new folder is removed and the target is as it was.
    """
    given = check_output_dir(target, option)
    target = given.resolve()  # a link to a folder: the folder it names is replaced
    here = Path.cwd().resolve()
    if target == here or target in here.parents:
        raise OutputError(f"{option} {given}: is the current folder or holds it; a report "
                          "folder is replaced whole, so give a folder of its own")
    if not os.access(target.parent if target.parent.exists() else here, os.W_OK):
        raise OutputError(f"{option} {target}: its folder {target.parent} is not writable, and "
                          "a report is built beside the folder it replaces")
    lock = lock_report_folder(target, option, writer)
    try:
        recover(target)
        new = staging_path(target)
        new.mkdir()
        try:
            staged = Staged(new)
            yield staged
            if target.is_dir():
                _carry_over(target, new, staged.dropped)
            os.chmod(new, stat.S_IMODE(target.stat().st_mode) if target.is_dir()
                     else 0o777 & ~_UMASK)
            replace_folder(new, target)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
    finally:
        lock.close()
