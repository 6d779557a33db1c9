"""Resolving a ``-model`` spec to a verified model folder: a path, the default, or NAME[@VERSION].

Local copies come first (an embedded folder of the package, then the cache, :mod:`.cache`);
only a registered model missing from both is downloaded (:func:`.store.download_install`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from hca_disc_label.weights.cache import embedded_folder, install_dir, installed_folder, installed_versions
from hca_disc_label.weights.card import CARD_FILENAME, ModelFolder, load_model_folder
from hca_disc_label.weights.registry import Registry, load_registry
from hca_disc_label.weights.store import download_install

logger = logging.getLogger(__name__)


def is_path_spec(spec: str, registry: Registry) -> bool:
    """True when ``spec`` names a model folder rather than NAME[@VERSION]."""
    if any(sep in spec for sep in ("/", os.sep)) or spec.startswith((".", "~")) or spec.endswith(CARD_FILENAME):
        return True
    name = spec.partition("@")[0]
    return (Path(spec) / CARD_FILENAME).is_file() and not registry.versions(name)


def locate_model(spec: str | None, contrast: str = "t2") -> ModelFolder | None:
    """Find a model without any network access.

    Returns:
        The verified folder (path spec, embedded or installed), or None when the model is
        registered but not available locally.

    Raises:
        ModelError: unknown model, or a local copy that fails verification.
    """
    registry = load_registry()
    if spec is not None and is_path_spec(spec, registry):
        return load_model_folder(spec)
    entry, name, version = registry.lookup(spec, contrast)
    if entry is None:
        versions = [version] if version else installed_versions(name)
        if versions and (install_dir(name, versions[0])).is_dir():
            return installed_folder(name, versions[0])
        raise registry.unknown(name, version)
    folder = embedded_folder(registry, entry)
    if folder is not None:
        return folder
    if install_dir(entry.name, entry.version).is_dir():
        return installed_folder(entry.name, entry.version, entry)
    return None


def resolve_model(
    spec: str | None, contrast: str = "t2", *, offline: bool | None = None, progress: bool = True
) -> ModelFolder:
    """Return a verified model folder, downloading it if needed (and allowed).

    Args:
        spec: None for the registry's default for ``contrast`` (embedded: no network);
            ``"NAME"`` (newest registered version) or ``"NAME@VERSION"``: embedded, installed
            in the cache, else downloaded; or a path to a model folder (or its model.json).
        contrast: ``"t1"`` or ``"t2"``; picks the default and is checked against the model.
        offline: forbid downloads; default from ``HCA_DISC_LABEL_OFFLINE``.
        progress: progress bar while downloading (only on a TTY).

    Raises:
        ModelError: unknown model, corrupt local copy, invalid folder.
        DownloadError: download failed or forbidden by offline mode.
    """
    folder = locate_model(spec, contrast)
    if folder is None:
        registry = load_registry()
        entry, _, _ = registry.lookup(spec, contrast)
        assert entry is not None  # locate_model returns None only for registered models
        folder = download_install(registry, entry, force=False, progress=progress, offline=offline)
    if folder.contrasts and contrast not in folder.contrasts:
        logger.warning("model %s was trained for %s, not %s", folder.spec, "/".join(folder.contrasts), contrast)
    return folder
