"""Versioned, checksummed model weights: registry, model folders and the download cache.

Modules: :mod:`.spec` (names, versions), :mod:`.card` (model card + folder, the model's
sha256), :mod:`.registry` (registry.json), :mod:`.release` (writing folders, entries, the
ONNX export), :mod:`.cache` (the installed models), :mod:`.store` (download, install),
:mod:`.resolve` (``-model`` to a folder).

Public API (see docs/ARCHITECTURE.md "Model folder" and SPEC §5)::

    resolve_model(spec, contrast)      -> ModelFolder   # default / NAME[@VERSION] / folder path
    install_model(spec, from_file=...) -> ModelFolder
    verify_installed()                 -> [(name, version, ok, message)]
    load_model_folder(path)            -> ModelFolder   # verifies sha256 of every file
    write_model_folder(out, card, files) -> ModelFolder # training / export
    cache_dir()                        -> Path
"""

from hca_disc_label.weights.cache import cache_dir, list_models, verify_installed
from hca_disc_label.weights.card import ModelFolder, load_model_folder
from hca_disc_label.weights.registry import Registry, RegistryEntry, load_registry, registry_path
from hca_disc_label.weights.release import entry_from_folder, update_registry_entry, write_model_folder
from hca_disc_label.weights.resolve import locate_model, resolve_model
from hca_disc_label.weights.spec import parse_spec
from hca_disc_label.weights.store import install_model, is_offline

__all__ = [
    "ModelFolder",
    "Registry",
    "RegistryEntry",
    "cache_dir",
    "entry_from_folder",
    "install_model",
    "is_offline",
    "list_models",
    "load_model_folder",
    "load_registry",
    "locate_model",
    "parse_spec",
    "registry_path",
    "resolve_model",
    "update_registry_entry",
    "verify_installed",
    "write_model_folder",
]
