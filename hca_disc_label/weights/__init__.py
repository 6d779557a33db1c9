"""Versioned, checksummed model weights: registry, model folders and the download cache.

Public API (see docs/ARCHITECTURE.md "Model folder" and SPEC §5)::

    resolve_model(spec, contrast)      -> ModelFolder   # default / NAME[@VERSION] / folder path
    install_model(spec, from_file=...) -> ModelFolder
    verify_installed()                 -> [(name, version, ok, message)]
    load_model_folder(path)            -> ModelFolder   # verifies sha256 of every file
    write_model_folder(out, card, files) -> ModelFolder # training / export
    cache_dir()                        -> Path
"""

from hca_disc_label.weights.registry import (
    ModelFolder,
    Registry,
    RegistryEntry,
    entry_from_folder,
    load_model_folder,
    load_registry,
    parse_spec,
    registry_path,
    update_registry_entry,
    write_model_folder,
)
from hca_disc_label.weights.store import (
    cache_dir,
    install_model,
    is_offline,
    list_models,
    locate_model,
    resolve_model,
    verify_installed,
)

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
