"""The local model cache: where installs live, reading and verifying them, listing models.

Cache layout (root = ``$HCA_DISC_LABEL_HOME`` or the platform user cache dir)::

    <root>/<name>/<version>/          a complete install: model.json, weights/onnx, source.json
    <root>/<name>/.<version>.lock     inter-process lock (filelock) held while installing
    <root>/<name>/.<version>.staging  install in progress (ignored by everything else)

Readers do not take the lock; they accept a folder only if ``source.json`` exists and every
file matches ``model.json``. Installing (which writes the cache) is :mod:`.store`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from hca_disc_label.errors import ModelError
from hca_disc_label.weights.card import CARD_FILENAME, PROVENANCE_FILENAME, ModelFolder, load_model_folder, read_card
from hca_disc_label.weights.registry import Registry, RegistryEntry, check_against_entry, load_registry
from hca_disc_label.weights.spec import format_spec, is_valid_name, is_valid_version, version_key

logger = logging.getLogger(__name__)

HOME_ENV = "HCA_DISC_LABEL_HOME"


def cache_dir() -> Path:
    """Root of the model cache: ``$HCA_DISC_LABEL_HOME`` or the user cache dir.

    Read at each call (not at import) so tests and job scripts can change it. Not created.
    """
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("hca_disc_label"))


def install_dir(name: str, version: str) -> Path:
    """``<cache>/<name>/<version>`` (may not exist)."""
    if not is_valid_name(name) or not is_valid_version(version):
        raise ModelError(f"invalid model name or version: {name!r} {version!r}")
    return cache_dir() / name / version


def read_provenance(folder: Path) -> dict | None:
    """The ``source.json`` of an installed folder, or None when absent/unreadable."""
    try:
        data = json.loads((Path(folder) / PROVENANCE_FILENAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def installed_folder(name: str, version: str, entry: RegistryEntry | None = None) -> ModelFolder:
    """Load and fully verify a cached install.

    Raises:
        ModelError: not installed, incomplete (no ``source.json``), corrupt (a checksum fails)
            or not the registry's ``entry``; the message says how to repair.
    """
    spec = format_spec(name, version)
    target = install_dir(name, version)
    if not target.is_dir():
        raise ModelError(f"{spec} is not installed")
    provenance = read_provenance(target)
    repair = f"reinstall with: hca_label models install {spec} -force"
    if provenance is None:
        raise ModelError(f"{target}: incomplete install (no valid {PROVENANCE_FILENAME}); {repair}")
    try:
        folder = load_model_folder(target)
        if (folder.name, folder.version) != (name, version):
            raise ModelError(f"{target} holds {folder.spec}, not {spec}")
        if entry is not None:
            check_against_entry(folder, entry, check_card=provenance.get("card") == "downloaded")
    except ModelError as exc:
        raise ModelError(f"{exc}; {repair}") from None
    return folder


def complete_install(name: str, version: str, entry: RegistryEntry | None) -> ModelFolder | None:
    """The verified install, or None (absent, incomplete or corrupt: logged)."""
    target = install_dir(name, version)
    if not target.is_dir():
        return None
    try:
        return installed_folder(name, version, entry)
    except ModelError as exc:
        logger.warning("%s", exc)
        return None


def installed_versions(name: str) -> list[str]:
    """Versions of ``name`` with a folder in the cache that carries ``source.json``, newest first."""
    parent = cache_dir() / name
    if not is_valid_name(name) or not parent.is_dir():
        return []
    found = [
        p.name for p in parent.iterdir()
        if p.is_dir() and is_valid_version(p.name) and (p / PROVENANCE_FILENAME).is_file()
    ]
    return sorted(found, key=version_key, reverse=True)


def cached_installs() -> list[tuple[str, str]]:
    """Every ``(name, version)`` folder in the cache (complete or not; staging excluded)."""
    root = cache_dir()
    if not root.is_dir():
        return []
    pairs = []
    for name_dir in sorted(root.iterdir()):
        if not name_dir.is_dir() or not is_valid_name(name_dir.name) or name_dir.name.startswith("."):
            continue
        for version_dir in name_dir.iterdir():
            if version_dir.is_dir() and is_valid_version(version_dir.name):
                pairs.append((name_dir.name, version_dir.name))
    return sorted(pairs, key=lambda p: (p[0], version_key(p[1])))


def embedded_folder(registry: Registry, entry: RegistryEntry) -> ModelFolder | None:
    """The embedded (package) folder of an entry, verified; None if the entry has none.

    Raises:
        ModelError: the folder exists but is corrupt or is not the registry's model.
    """
    folder_path = registry.embedded_dir(entry)
    if folder_path is None or not (folder_path / CARD_FILENAME).is_file():
        return None
    folder = load_model_folder(folder_path)
    check_against_entry(folder, entry)
    return folder


def verify_installed() -> list[tuple[str, str, bool, str]]:
    """Re-check every embedded and cached model against its card and the registry.

    Returns:
        ``(name, version, ok, message)`` per model: embedded models of the registry first,
        then every folder of the cache (incomplete or corrupt ones with ``ok=False``).
    """
    registry = load_registry()
    results: list[tuple[str, str, bool, str]] = []
    for entry in registry.entries:
        folder_path = registry.embedded_dir(entry)
        if folder_path is None:
            continue
        try:
            folder = embedded_folder(registry, entry)
        except ModelError as exc:
            results.append((entry.name, entry.version, False, str(exc)))
            continue
        if folder is None:
            results.append((entry.name, entry.version, False, f"embedded model folder missing: {folder_path}"))
        else:
            results.append((entry.name, entry.version, True, f"embedded: {folder.path}"))
    for name, version in cached_installs():
        entry = registry.find(name, version)
        try:
            folder = installed_folder(name, version, entry)
        except ModelError as exc:
            results.append((name, version, False, str(exc)))
            continue
        note = "" if entry is not None else " (not in the registry)"
        results.append((name, version, True, f"installed: {folder.path}{note}"))
    return results


def model_status(registry: Registry, entry: RegistryEntry) -> str:
    """Cheap status (no hashing): embedded, installed, incomplete, available, missing..."""
    folder_path = registry.embedded_dir(entry)
    if folder_path is not None and (folder_path / CARD_FILENAME).is_file():
        return "embedded"
    target = install_dir(entry.name, entry.version)
    if (target / PROVENANCE_FILENAME).is_file():
        return "installed"
    if target.is_dir():
        return "incomplete"
    if any(f.urls for f in entry.model_files):
        return "available"
    return "embedded folder missing" if folder_path is not None else "missing"


def list_models() -> list[dict[str, Any]]:
    """Rows for ``hca_label models list``: every registry entry plus unregistered installs.

    Each row: ``name, version, contrasts, default_for, status, description``.
    """
    registry = load_registry()
    rows = [
        {
            "name": e.name, "version": e.version, "contrasts": list(e.contrasts),
            "default_for": list(e.default_for), "status": model_status(registry, e),
            "description": e.raw.get("description") or "",
        }
        for e in registry.entries
    ]
    for name, version in cached_installs():
        if registry.find(name, version) is None:
            target = install_dir(name, version)
            card: dict = {}
            try:
                card = read_card(target)
            except ModelError:
                pass
            complete = (target / PROVENANCE_FILENAME).is_file()
            rows.append({
                "name": name, "version": version, "contrasts": list(card.get("contrasts") or []),
                "default_for": [], "status": "installed (unregistered)" if complete else "incomplete",
                "description": card.get("description") or "",
            })
    rows.sort(key=lambda r: (r["name"], version_key(r["version"])))
    return rows
