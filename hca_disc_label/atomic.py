"""The one atomic file writer of the package.

Every file the package writes (labels, sidecars, QC pictures and records, indexes, model
files, checkpoints) goes through :func:`atomic_write`: the content is written to a temporary
file in the destination folder (same file system), flushed and ``fsync``-ed, renamed over the
destination, and the folder is ``fsync``-ed so the rename survives a crash. Readers see the old
file or the new one, never half of one.

Temporary files in flight are registered so that a signal handler can remove them
(:func:`remove_pending`): a run killed with SIGTERM leaves no ``.tmp`` file behind. Temporary
names start with ``.`` and contain ``.tmp``; :data:`TEMP_MARK` is what tests look for.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
from pathlib import Path
from typing import Callable, Iterator

TEMP_MARK = ".tmp"
"""Every temporary file name contains this (``.<name>.<random>.tmp<suffix>``)."""

_pending: set[str] = set()
_lock = threading.RLock()  # re-entrant: a signal handler may run while the main thread holds it


def _nifti_aware_suffix(path: Path) -> str:
    if path.name.endswith(".nii.gz"):
        return ".nii.gz"
    return path.suffix


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (after a rename) where the platform allows it."""
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:
        return  # some platforms / file systems cannot open a folder: the rename still happened
    try:
        os.fsync(fd)
    except OSError:
        # some file systems (and Windows) refuse fsync on folders: the rename is still
        # atomic, only its durability across a power cut is weaker
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def temp_path_for(out_path: Path) -> Path:
    """Create (empty) and register a temporary file beside ``out_path``; returns its path.

    The name keeps the destination's extension (``.nii.gz`` included) so that writers that
    choose a format by suffix behave. Call :func:`discard` or :func:`commit` afterwards.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    suffix = f"{TEMP_MARK}{_nifti_aware_suffix(out_path)}"
    for _ in range(100):
        tmp = str(out_path.parent / f".{out_path.name}.{secrets.token_hex(4)}{suffix}")
        with _lock:
            _pending.add(tmp)  # registered before it exists: a signal can never miss it
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return Path(tmp)
        except FileExistsError:
            with _lock:
                _pending.discard(tmp)
        except BaseException:
            with _lock:
                _pending.discard(tmp)
            raise
    raise FileExistsError(f"{out_path.parent}: no free temporary name")


def discard(tmp: Path) -> None:
    """Remove a temporary file made by :func:`temp_path_for` (missing is fine)."""
    with _lock:
        _pending.discard(str(tmp))
    Path(tmp).unlink(missing_ok=True)


def commit(tmp: Path, out_path: Path, sync_folder: bool = True) -> None:
    """fsync ``tmp``, give it the usual umask mode, rename it over ``out_path``, fsync the folder.

    ``sync_folder=False`` leaves the folder's fsync to the caller's next commit in the same
    folder (one folder fsync for a label file and its sidecar).
    """
    _fsync_file(Path(tmp))
    os.chmod(tmp, _umask_mode())  # mkstemp makes 0600 files
    os.replace(tmp, out_path)
    with _lock:
        _pending.discard(str(tmp))
    if sync_folder:
        fsync_folder(Path(out_path).parent)


def atomic_write(out_path: Path, write: Callable[[Path], object]) -> None:
    """Write a file atomically and durably: ``write(tmp_path)``, fsync, rename, fsync folder.

    Args:
        out_path: the destination (its folder is created if needed).
        write: called with the temporary path; must write the whole content there.

    Raises:
        Whatever ``write`` or the file system raises; the temporary file is removed first.
    """
    out_path = Path(out_path)
    tmp = temp_path_for(out_path)
    try:
        write(tmp)
        commit(tmp, out_path)
    except BaseException:
        discard(tmp)
        raise


def write_text_atomic(out_path: Path, text: str) -> None:
    """Write a UTF-8 text file atomically."""
    atomic_write(Path(out_path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_bytes_atomic(out_path: Path, data: bytes) -> None:
    """Write a binary file atomically."""
    atomic_write(Path(out_path), lambda tmp: Path(tmp).write_bytes(data))


def copy_atomic(src: Path, out_path: Path) -> None:
    """Copy ``src`` to ``out_path`` atomically (content only, like ``shutil.copyfile``)."""
    import shutil

    atomic_write(Path(out_path), lambda tmp: shutil.copyfile(src, tmp))


_critical = 0
_deferred_signal: int | None = None


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """A short section (renaming a label file and its sidecar into place) that a signal must
    not cut in two: the handlers of this package (:func:`defer_if_critical`) hold SIGTERM /
    SIGINT until the section ends, then the signal is raised again."""
    global _critical, _deferred_signal
    _critical += 1
    try:
        yield
    finally:
        _critical -= 1
        if _critical == 0 and _deferred_signal is not None:
            signum, _deferred_signal = _deferred_signal, None
            signal.raise_signal(signum)


def defer_if_critical(signum: int) -> bool:
    """Called first by a signal handler: True (and the signal kept for later) inside
    :func:`critical`."""
    global _deferred_signal
    if _critical:
        _deferred_signal = signum
        return True
    return False


def remove_pending() -> list[str]:
    """Remove every temporary file still in flight (called from signal handlers).

    Returns:
        The removed paths.
    """
    with _lock:
        paths = sorted(_pending)
        _pending.clear()
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass
    return paths
