"""The one atomic file writer of the package.

Every file the package writes (labels, sidecars, QC pictures and records, indexes, model
files, checkpoints) goes through :func:`atomic_write` (text, bytes, JSON and copies through its
wrappers): the content is written to a temporary
file in the destination folder (same file system), flushed and ``fsync``-ed, renamed over the
destination, and the folder is ``fsync``-ed so the rename survives a crash. Readers see the old
file or the new one, never half of one.

Temporary files in flight are registered so that a signal handler can remove them
(:func:`remove_pending`): a run killed with SIGTERM leaves no ``.tmp`` file behind. Temporary
names start with ``.`` and contain ``.tmp``; :data:`TEMP_MARK` is what tests look for. While in
flight, each temporary file is held with an advisory lock (``flock``), so the next run can tell
the leftovers of a process killed with SIGKILL (nobody holds them) from another process's
writes in progress, and removes only the former (:func:`remove_stale_temps`).

:func:`folder_lock` is the one inter-process lock of the package's folders (QC index, derivative
description): one file, :data:`LOCK_NAME`, removed again when the lock is released.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; stale temporaries are told by age
    fcntl = None  # type: ignore[assignment]

from hca_disc_label.naming import NIFTI_GZ

log = logging.getLogger(__name__)

TEMP_MARK = ".tmp"
"""Every temporary file name contains this (``.<name>.<random>.tmp<suffix>``)."""

LOCK_NAME = ".hca_disc_label.lock"
"""The lock file :func:`folder_lock` creates in a folder while it holds the lock (then removes)."""
STALE_MIN_AGE_S = 2.0
"""A temporary file younger than this is never taken for a leftover (its writer may be about
to lock it)."""
STALE_AGE_NO_FLOCK_S = 3600.0
"""Where there is no ``flock`` (Windows), a temporary file this old counts as a leftover."""
_TEMP_NAME = re.compile(rf"^\..+\.[0-9a-z_]{{8}}\.tmp({re.escape(NIFTI_GZ)}|\.[A-Za-z0-9]+)?$")
"""Names of our temporary files (:func:`temp_path_for`; 8 random characters, then ``.tmp``)."""

_pending: set[str] = set()
_held: dict[str, int] = {}
"""Open descriptors that hold the lock of each temporary file in flight."""
_lock = threading.RLock()  # re-entrant: a signal handler may run while the main thread holds it


def _nifti_aware_suffix(path: Path) -> str:
    if path.name.endswith(NIFTI_GZ):
        return NIFTI_GZ
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


def _hold(tmp: str, fd: int) -> None:
    """Keep ``fd`` open with an exclusive ``flock`` on it: the temporary file is in flight."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a file system without flock: leftovers are then told by age
            pass
    with _lock:
        _held[tmp] = fd


def _release(tmp: str) -> None:
    with _lock:
        _pending.discard(tmp)
        fd = _held.pop(tmp, None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def temp_path_for(out_path: Path, keep_suffix: bool = True) -> Path:
    """Create (empty), lock and register a temporary file beside ``out_path``; returns its path.

    The name keeps the destination's extension (``.nii.gz`` included) so that writers that
    choose a format by suffix behave; ``keep_suffix=False`` ends it in ``.tmp`` instead (for
    folders whose readers glob the destination's extension). Call :func:`discard` or
    :func:`commit` afterwards.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    suffix = f"{TEMP_MARK}{_nifti_aware_suffix(out_path) if keep_suffix else ''}"
    for _ in range(100):
        tmp = str(out_path.parent / f".{out_path.name}.{secrets.token_hex(4)}{suffix}")
        with _lock:
            _pending.add(tmp)  # registered before it exists: a signal can never miss it
        try:
            _hold(tmp, os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
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
    Path(tmp).unlink(missing_ok=True)
    _release(str(tmp))


def commit(tmp: Path, out_path: Path, sync_folder: bool = True) -> None:
    """fsync ``tmp``, give it the usual umask mode, rename it over ``out_path``, fsync the folder.

    ``sync_folder=False`` leaves the folder's fsync to the caller's next commit in the same
    folder (one folder fsync for a label file and its sidecar).
    """
    _fsync_file(Path(tmp))
    os.chmod(tmp, _umask_mode())  # mkstemp makes 0600 files
    os.replace(tmp, out_path)
    _release(str(tmp))
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


def write_json_atomic(out_path: Path, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON (keys in their order, a final newline) atomically."""
    text = json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    write_bytes_atomic(Path(out_path), text.encode("utf-8"))


def sha256_file(path: Path | str) -> str:
    """The hex SHA-256 digest of a file, read in 1 MiB chunks (model files are checked by it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
        fds = list(_held.values())
        _held.clear()
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    return paths


def _is_stale(path: Path, now: float) -> bool:
    """True when nobody holds this temporary file and it is old enough to be a leftover."""
    try:
        age = now - path.stat().st_mtime
    except OSError:
        return False
    if age < STALE_MIN_AGE_S:
        return False
    if fcntl is None:
        return age >= STALE_AGE_NO_FLOCK_S
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live process holds it: its write is in progress
    finally:
        os.close(fd)
    return True


def remove_stale_temps(folder: Path, recursive: bool = False) -> list[Path]:
    """Remove our temporary files that no live process holds (leftovers of a run killed with
    SIGKILL) from a folder (and its subfolders with ``recursive``).

    Only names made by :func:`temp_path_for` are considered; this process's own temporary
    files in flight and any file held by another process are kept.

    Returns:
        The removed paths.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    walk = os.walk(folder) if recursive else [(str(folder), [], os.listdir(folder))]
    now = time.time()
    removed = []
    for dirpath, _dirs, names in walk:
        for name in names:
            if not name.startswith(".") or not _TEMP_NAME.match(name):
                continue
            path = Path(dirpath) / name
            with _lock:
                mine = str(path) in _pending
            if not mine and _is_stale(path, now):
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed.append(path)
    if removed:
        log.info("removed %d leftover temporary file(s) of an interrupted run under %s", len(removed), folder)
    return removed


def _same_file(fd: int, path: Path) -> bool:
    try:
        held, current = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino)


def flock_before(handle: Any, deadline: float) -> bool:
    """Take an exclusive ``flock`` on an open file (descriptor or file object), trying every
    50 ms until ``deadline`` (``time.monotonic()`` seconds); False when the deadline passed
    first. The one polling loop of our folder locks and of SCT's QC lock. POSIX only."""
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


@contextlib.contextmanager
def folder_lock(folder: Path, timeout_s: float = 300.0) -> Iterator[None]:
    """Hold a folder's inter-process lock (:data:`LOCK_NAME` in it); the file is removed on release.

    The holder removes the lock file before unlocking it; a waiter that then gets the lock on
    the removed file sees that the name no longer points at it and starts again on a new
    file, so removal never lets two processes in at once. Without ``flock`` (Windows) a
    ``filelock`` lock of the same name is used (and left in place).

    Raises:
        TimeoutError: the lock was not had within ``timeout_s``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    if fcntl is None:  # pragma: no cover - Windows
        from filelock import FileLock

        with FileLock(str(path), timeout=timeout_s):
            yield
        return
    deadline = time.monotonic() + timeout_s
    while True:
        fd = os.open(str(path), os.O_RDWR | os.O_CREAT, _umask_mode())
        try:
            if not flock_before(fd, deadline):
                raise TimeoutError(f"{path}: lock busy for {timeout_s:g} s")
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, path):
            break
        os.close(fd)  # the previous holder removed this file on its way out: lock the new one
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
