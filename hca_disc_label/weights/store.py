"""Getting a model into use: resolve a spec, download, install into the cache, verify.

An install is built in the staging folder of the cache (:mod:`.cache`): every file is
verified (SHA-256) and ``source.json`` (provenance) is written last, atomically; only then is
the folder renamed to ``<version>/``. A killed install therefore leaves at most a staging
folder, which never passes as installed, and is cleaned by the next install.

``HCA_DISC_LABEL_OFFLINE=1`` forbids downloads (no socket is opened); the error says how to
install from a file.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from hca_disc_label.errors import DownloadError, ModelError
from hca_disc_label.weights.cache import HOME_ENV, cache_dir, complete_install, embedded_folder, read_provenance
from hca_disc_label.weights.card import (
    CARD_FILENAME,
    MODEL_ROLES,
    PROVENANCE_FILENAME,
    ROLE_FORMATS,
    ModelFolder,
    load_model_folder,
    read_card,
)
from hca_disc_label.atomic import copy_atomic, write_json_atomic, fsync_folder, sha256_file
from hca_disc_label.weights.registry import Registry, RegistryEntry, card_from_entry, check_against_entry, load_registry
from hca_disc_label.weights.spec import format_spec, parse_spec

logger = logging.getLogger(__name__)

OFFLINE_ENV = "HCA_DISC_LABEL_OFFLINE"
LOCK_TIMEOUT_ENV = "HCA_DISC_LABEL_LOCK_TIMEOUT"
LOCK_TIMEOUT_S = 3600.0
"""How long an install waits for another process installing the same model."""

_TRUE = {"1", "true", "yes", "on"}


def is_offline(offline: bool | None = None) -> bool:
    """``offline`` if given, else whether ``HCA_DISC_LABEL_OFFLINE`` is set to a true value."""
    if offline is not None:
        return offline
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in _TRUE


def _lock_timeout() -> float:
    raw = os.environ.get(LOCK_TIMEOUT_ENV)
    try:
        return float(raw) if raw else LOCK_TIMEOUT_S
    except ValueError:
        raise ModelError(f"{LOCK_TIMEOUT_ENV}={raw!r} is not a number") from None


@contextmanager
def _install_lock(name: str, version: str) -> Iterator[None]:
    """Inter-process lock for one name@version (an OS lock: released if the holder dies)."""
    from filelock import FileLock, Timeout

    parent = cache_dir() / name
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(
            f"cannot create the model cache {parent}: {exc.strerror}; set {HOME_ENV} to a writable folder"
        ) from None
    lock_path = parent / f".{version}.lock"
    lock = FileLock(str(lock_path), timeout=_lock_timeout())
    try:
        lock.acquire()
    except Timeout:
        raise ModelError(
            f"timed out waiting for {lock_path}: another process is installing {format_spec(name, version)}"
        ) from None
    try:
        yield
    finally:
        lock.release()


# --------------------------------------------------------------------------- installing
def install_model(
    spec: str | None, *, from_file: Path | str | None = None, force: bool = False, progress: bool = True
) -> ModelFolder:
    """Install a model into the cache and return the verified folder.

    Args:
        spec: ``NAME[@VERSION]`` (newest registered version when no version). May be None only
            with ``from_file`` pointing to a model folder.
        from_file: a model folder (with model.json) to copy in, e.g. a colleague's export; or a
            single weights/ONNX file of the registry entry ``spec`` whose SHA-256 must match.
        force: reinstall even if a verified install exists.
        progress: progress bar while downloading.

    Returns:
        The installed folder (the embedded folder for a model that ships in the package).

    Raises:
        ModelError: unknown model, wrong file (nothing is installed), cache not writable.
        DownloadError: download failed, checksum mismatch, or offline mode.
    """
    registry = load_registry()
    if from_file is not None:
        source = Path(from_file).expanduser()
        if not source.exists():
            raise ModelError(f"file not found: {source}")
        if source.is_dir() or source.name == CARD_FILENAME:
            return _install_from_folder(registry, spec, source, force)
        return _install_from_single_file(registry, spec, source, force)
    if spec is None:
        raise ModelError("which model? give NAME[@VERSION]")
    entry, name, version = registry.lookup(spec, "t2")
    if entry is None:
        raise registry.unknown(name, version)
    folder = embedded_folder(registry, entry)
    if folder is not None:
        logger.info("%s ships inside the package (%s); nothing to install", entry.spec, folder.path)
        return folder
    return download_install(registry, entry, force=force, progress=progress, offline=None)


def _offline_error(entry: RegistryEntry) -> DownloadError:
    urls = [u for f in entry.model_files for u in f.urls[:1]]
    where = f"download {' and '.join(urls)} on a machine with network access, then " if urls else ""
    return DownloadError(
        f"offline mode ({OFFLINE_ENV}=1): {entry.spec} is not installed and will not be downloaded; "
        f"{where}run: hca_label models install {entry.spec} -from-file PATH"
    )


def download_install(
    registry: Registry, entry: RegistryEntry, *, force: bool, progress: bool, offline: bool | None
) -> ModelFolder:
    from hca_disc_label.weights.download import fetch_file

    if is_offline(offline):
        raise _offline_error(entry)
    to_fetch = [f for f in entry.files if f.urls]
    if not any(f.role in MODEL_ROLES for f in to_fetch):
        embedded = registry.embedded_dir(entry)
        if embedded is not None:
            raise ModelError(
                f"the embedded model {entry.spec} is missing from the package ({embedded}): reinstall "
                f"hca_disc_label, or run: hca_label models install {entry.spec} -from-file PATH"
            )
        raise ModelError(
            f"{entry.spec} has no download URL; install it with: hca_label models install {entry.spec} -from-file PATH"
        )
    card_downloaded = any(f.role == "card" for f in to_fetch)

    def build(staging: Path) -> dict:
        files: dict[str, dict] = {}
        for item in to_fetch:
            url = fetch_file(
                item.urls, staging / item.filename, sha256=item.sha256, size=item.size,
                label=f"{item.filename} of {entry.spec}", progress=progress,
            )
            files[item.filename] = {"role": item.role, "sha256": item.sha256, "size": item.size, "url": url}
        if not card_downloaded:
            card = card_from_entry(entry)
            card["files"] = {
                f.role: {"path": f.filename, "sha256": f.sha256, "size": f.size, "format": f.format}
                for f in to_fetch if f.role in MODEL_ROLES
            }
            write_json_atomic(staging / CARD_FILENAME, card)
        return _provenance(registry, entry.name, entry.version, "download", files,
                           card="downloaded" if card_downloaded else "generated")

    return _locked_install(entry.name, entry.version, entry, build, force=force, check_card=card_downloaded)


def _install_from_folder(registry: Registry, spec: str | None, source: Path, force: bool) -> ModelFolder:
    src = load_model_folder(source)
    if spec is not None:
        name, version = parse_spec(spec)
        if name != src.name or (version is not None and version != src.version):
            raise ModelError(f"{src.path} holds {src.spec}, not {spec}; nothing installed")
    entry = registry.find(src.name, src.version)
    if entry is not None:
        try:
            check_against_entry(src, entry, check_card=False)
        except ModelError as exc:
            raise ModelError(f"{exc}; nothing installed") from None

    def build(staging: Path) -> dict:
        files = {}
        for role, info in src.card["files"].items():
            copy_atomic(src.path / info["path"], staging / info["path"])
            files[info["path"]] = {"role": role, "sha256": info["sha256"], "size": info["size"],
                                   "from_file": str(src.path / info["path"])}
        copy_atomic(src.path / CARD_FILENAME, staging / CARD_FILENAME)
        return _provenance(registry, src.name, src.version, "folder", files, card="copied")

    return _locked_install(src.name, src.version, entry, build, force=force, check_card=False, expect=src)


def _install_from_single_file(registry: Registry, spec: str | None, source: Path, force: bool) -> ModelFolder:
    if spec is None:
        raise ModelError(f"give NAME[@VERSION] of the model that {source.name} belongs to")
    entry, name, version = registry.lookup(spec, "t2")
    if entry is None:
        raise registry.unknown(name, version)
    digest = sha256_file(source)
    match = next((f for f in entry.files if f.sha256 == digest), None)
    if match is None:
        pinned = [f"{f.filename} sha256 {f.sha256}" for f in entry.files if f.sha256]
        expected = "; expected " + ", ".join(pinned) if pinned else "; the registry pins no checksum for it"
        raise ModelError(f"{source} (sha256 {digest}) is not a file of {entry.spec}{expected}; nothing installed")
    if match.role == "card":
        raise ModelError(f"{source} is the model card of {entry.spec}; pass its weights or ONNX file")

    def build(staging: Path) -> dict:
        files: dict[str, dict] = {}
        existing = None if force else complete_install(entry.name, entry.version, entry)
        if existing is not None:
            # Keep the other files of the current install (e.g. add the ONNX file to the weights).
            previous = (read_provenance(existing.path) or {}).get("files", {})
            for role, info in existing.card["files"].items():
                if role != match.role:
                    _link_or_copy(existing.path / info["path"], staging / info["path"])
                    files[info["path"]] = previous.get(info["path"], {"role": role, "sha256": info["sha256"]})
        copy_atomic(source, staging / match.filename)
        check_sha = sha256_file(staging / match.filename)
        if check_sha != match.sha256:  # the source changed while we copied it
            raise ModelError(f"{source} changed while it was copied; nothing installed")
        files[match.filename] = {"role": match.role, "sha256": match.sha256, "size": match.size,
                                 "from_file": str(source.resolve())}
        card = card_from_entry(entry)
        card["files"] = {
            info["role"]: {"path": fname, "sha256": info["sha256"], "size": (staging / fname).stat().st_size,
                           "format": ROLE_FORMATS[info["role"]]}
            for fname, info in files.items()
        }
        write_json_atomic(staging / CARD_FILENAME, card)
        return _provenance(registry, entry.name, entry.version, "file", files, card="generated")

    def already(folder: ModelFolder) -> bool:
        return folder.card["files"].get(match.role, {}).get("sha256") == match.sha256

    return _locked_install(entry.name, entry.version, entry, build, force=force, check_card=False, done=already)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        copy_atomic(src, dst)


def _provenance(registry: Registry, name: str, version: str, source: str, files: dict, *, card: str) -> dict:
    from hca_disc_label._version import __version__

    return {
        "name": name,
        "version": version,
        "source": source,
        "card": card,
        "files": files,
        "installed_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "tool": f"hca_disc_label {__version__}",
        "registry": str(registry.path),
    }


def _locked_install(
    name: str,
    version: str,
    entry: RegistryEntry | None,
    build: Callable[[Path], dict],
    *,
    force: bool,
    check_card: bool,
    expect: ModelFolder | None = None,
    done: Callable[[ModelFolder], bool] | None = None,
) -> ModelFolder:
    """Build an install in a staging folder under the lock, verify it, then swap it in.

    Args:
        build: writes the files and model.json into the staging folder; returns provenance.
        expect: a source folder that the existing install must equal to count as done.
        done: extra test that an existing verified install already satisfies the request.
    """
    spec = format_spec(name, version)
    with _install_lock(name, version):
        parent = cache_dir() / name
        target = parent / version
        if not force:
            existing = complete_install(name, version, entry)
            if existing is not None:
                if expect is not None and _shas(existing) != _shas(expect):
                    raise ModelError(
                        f"a different {spec} is already installed in {existing.path}; use -force to replace it"
                    )
                if done is None or done(existing):
                    logger.info("%s is already installed in %s", spec, existing.path)
                    return existing
        staging = parent / f".{version}.staging"
        _remove_tree(staging)
        for old in parent.glob(f".{version}.old-*"):
            _remove_tree(old)
        try:
            staging.mkdir(parents=True)
            provenance = build(staging)
            folder = load_model_folder(staging)
            if (folder.name, folder.version) != (name, version):
                raise ModelError(f"install of {spec} produced {folder.spec}")
            if entry is not None:
                check_against_entry(folder, entry, check_card=check_card)
            # The marker goes last: a folder without it is never treated as installed.
            write_json_atomic(staging / PROVENANCE_FILENAME, provenance)
            _swap_in(staging, target)
        except OSError as exc:
            _remove_tree(staging)
            raise ModelError(f"cannot write {spec} into the model cache {parent}: {exc}") from None
        except BaseException:
            _remove_tree(staging)
            raise
    logger.info("installed %s in %s", spec, target)
    return ModelFolder(path=target.resolve(), card=read_card(target))


def _shas(folder: ModelFolder) -> dict[str, str]:
    return {role: info["sha256"] for role, info in folder.card["files"].items()}


def _swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` with ``staging`` (the old install is moved aside, then deleted)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.rename(target, old)
    os.rename(staging, target)
    fsync_folder(target.parent)
    if old is not None:
        _remove_tree(old)


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)
