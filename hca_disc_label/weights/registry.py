"""The model registry (``models/registry.json``): every released model, pinned by checksum.

The *registry* lists every released model (schema 1)::

    {"schema": 1, "models": [{"name", "version", "description", "contrasts", "default_for",
      "embedded", "files": [{"role", "filename", "format", "sha256", "size", "urls"}],
      "input", "channel_values", "architecture", "training_data", "validation", "licence",
      "release_notes"}]}

``embedded`` names a folder next to the registry file (the package's ``models/``) that ships
inside the package, so the default model works offline. Registry file location:
``$HCA_DISC_LABEL_REGISTRY``, else the installed package data ``hca_disc_label.models``, else
``<repo>/models`` in a source checkout. Model folders and their cards: :mod:`.card`.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from hca_disc_label.conventions import check_contrast
from hca_disc_label.errors import ModelError
from hca_disc_label.weights.card import (
    CARD_FILENAME,
    CARD_INFO_KEYS,
    CARD_SCHEMA,
    MODEL_ROLES,
    PROVENANCE_FILENAME,
    ROLE_FORMATS,
    ModelFolder,
    check_channel_values,
    check_contrasts,
    check_in_channels,
    check_input_contract,
    is_sha256,
)
from hca_disc_label.atomic import sha256_file
from hca_disc_label.weights.spec import (
    format_spec,
    is_plain_filename,
    is_valid_name,
    is_valid_version,
    parse_spec,
    version_key,
)

logger = logging.getLogger(__name__)

REGISTRY_ENV = "HCA_DISC_LABEL_REGISTRY"
REGISTRY_FILENAME = "registry.json"
REGISTRY_SCHEMA = 1

ROLES: tuple[str, ...] = ("weights", "onnx", "card")
"""File roles a registry entry may list."""

ENTRY_KEYS: tuple[str, ...] = (
    "name", "version", "description", "contrasts", "default_for", "embedded", "files", "input",
    "channel_values", "architecture", "training_data", "validation", "licence", "release_notes",
)
"""Keys every registry entry carries (values may be null where noted in the docs)."""


@dataclass(frozen=True)
class RegistryFile:
    """One downloadable file of a registry entry."""

    role: str
    filename: str
    format: str
    sha256: str | None
    size: int | None
    urls: tuple[str, ...]


@dataclass(frozen=True)
class RegistryEntry:
    """One released model version (``raw`` is the entry's JSON object)."""

    raw: Mapping[str, Any]
    name: str
    version: str
    contrasts: tuple[str, ...]
    default_for: tuple[str, ...]
    embedded: str | None
    files: tuple[RegistryFile, ...]

    @property
    def spec(self) -> str:
        """``name@version``."""
        return format_spec(self.name, self.version)

    def file(self, role: str) -> RegistryFile | None:
        """The file with a given role, or None."""
        for item in self.files:
            if item.role == role:
                return item
        return None

    @property
    def model_files(self) -> tuple[RegistryFile, ...]:
        """The weights / ONNX files (not the card)."""
        return tuple(f for f in self.files if f.role in MODEL_ROLES)


@dataclass(frozen=True)
class Registry:
    """A parsed registry file."""

    path: Path
    entries: tuple[RegistryEntry, ...]

    def versions(self, name: str) -> list[RegistryEntry]:
        """Entries of one model name, newest version first."""
        found = [e for e in self.entries if e.name == name]
        return sorted(found, key=lambda e: version_key(e.version), reverse=True)

    def find(self, name: str, version: str | None = None) -> RegistryEntry | None:
        """The entry ``name@version`` (the newest version when ``version`` is None)."""
        versions = self.versions(name)
        if version is None:
            return versions[0] if versions else None
        for entry in versions:
            if entry.version == version:
                return entry
        return None

    def default_for(self, contrast: str) -> RegistryEntry | None:
        """The entry marked ``default_for`` this contrast, or None."""
        for entry in self.entries:
            if contrast in entry.default_for:
                return entry
        return None

    def embedded_dir(self, entry: RegistryEntry) -> Path | None:
        """Folder of an embedded model (next to the registry file), or None."""
        if not entry.embedded:
            return None
        return self.path.parent / entry.embedded

    def lookup(self, spec: str | None, contrast: str) -> tuple[RegistryEntry | None, str, str | None]:
        """``(entry or None, name, version or None)`` for a NAME[@VERSION] spec, or for the
        default model of ``contrast`` when ``spec`` is None.

        Raises:
            ModelError: unknown contrast, no default for it, or a malformed spec.
        """
        if spec is None:
            check_contrast(contrast, ModelError)
            entry = self.default_for(contrast)
            if entry is None:
                raise ModelError(f"the model registry {self.path} has no default model for {contrast}")
            return entry, entry.name, entry.version
        name, version = parse_spec(spec)
        return self.find(name, version), name, version

    def unknown(self, name: str, version: str | None) -> ModelError:
        """The error for a model or version the registry does not list (names what it has)."""
        spec = format_spec(name, version) if version else name
        known = sorted({e.name for e in self.entries})
        versions = [e.version for e in self.versions(name)]
        if versions:
            return ModelError(f"unknown version {spec}; the registry has {name} {', '.join(versions)}")
        return ModelError(f"unknown model {spec}; known models: {', '.join(known) or 'none'} (see hca_label models list)")


def _package_models_dirs() -> list[Path]:
    """Folders of the installed package data ``hca_disc_label.models`` (may be empty)."""
    try:
        spec = importlib.util.find_spec("hca_disc_label.models")
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(p) for p in spec.submodule_search_locations]


def default_models_dir() -> Path:
    """The ``models/`` folder shipped with the package (package data or source checkout)."""
    for folder in _package_models_dirs():
        if (folder / REGISTRY_FILENAME).is_file():
            return folder
    import hca_disc_label

    return Path(hca_disc_label.__file__).resolve().parents[1] / "models"


def registry_path() -> Path:
    """Path of the registry file in use (``$HCA_DISC_LABEL_REGISTRY`` wins)."""
    env = os.environ.get(REGISTRY_ENV)
    if env:
        return Path(env).expanduser()
    return default_models_dir() / REGISTRY_FILENAME


def load_registry(path: Path | str | None = None) -> Registry:
    """Read and validate a registry file (default: :func:`registry_path`).

    Raises:
        ModelError: missing file, invalid JSON or schema violation (message names the file).
    """
    path = Path(path) if path is not None else registry_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        hint = f" (set by {REGISTRY_ENV})" if os.environ.get(REGISTRY_ENV) else ""
        raise ModelError(f"model registry not found: {path}{hint}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read model registry {path}: {exc}") from None
    return Registry(path=path.resolve(), entries=tuple(parse_registry(raw, path)))


def parse_registry(raw: Any, path: Path) -> list[RegistryEntry]:
    """Validate a registry's JSON object (read from ``path``, named in errors); its entries.

    Raises:
        ModelError: the first schema violation.
    """
    def bad(msg: str) -> ModelError:
        return ModelError(f"invalid model registry {path}: {msg}")

    if not isinstance(raw, dict) or raw.get("schema") != REGISTRY_SCHEMA:
        raise bad(f'expected a JSON object with "schema": {REGISTRY_SCHEMA}')
    models = raw.get("models")
    if not isinstance(models, list):
        raise bad('"models" must be a list')
    entries: list[RegistryEntry] = []
    seen: set[str] = set()
    defaults: dict[str, str] = {}
    for index, item in enumerate(models):
        try:
            entry = _parse_entry(item)
        except ValueError as exc:
            raise bad(f"models[{index}]: {exc}") from None
        if entry.spec in seen:
            raise bad(f"duplicate entry {entry.spec}")
        seen.add(entry.spec)
        for contrast in entry.default_for:
            if contrast in defaults:
                raise bad(f"two defaults for {contrast}: {defaults[contrast]} and {entry.spec}")
            defaults[contrast] = entry.spec
        entries.append(entry)
    return entries


def _parse_entry(item: Any) -> RegistryEntry:
    """Validate one registry entry; raises ValueError with a short reason."""
    if not isinstance(item, dict):
        raise ValueError("entry must be an object")
    missing = [k for k in ENTRY_KEYS if k not in item]
    if missing:
        raise ValueError(f"missing keys {missing}")
    name, version = item["name"], item["version"]
    if not is_valid_name(name):
        raise ValueError(f"invalid name {name!r}")
    if not is_valid_version(version):
        raise ValueError(f"{name}: invalid semantic version {version!r}")
    where = format_spec(name, version)
    contrasts = check_contrasts(item["contrasts"], where, "contrasts")
    default_for = check_contrasts(item["default_for"], where, "default_for")
    if not set(default_for) <= set(contrasts):
        raise ValueError(f"{where}: default_for {default_for} not within contrasts {contrasts}")
    embedded = item["embedded"]
    if embedded is not None and not is_valid_name(embedded):
        raise ValueError(f"{where}: embedded must be a folder name or null, got {embedded!r}")
    if not isinstance(item["files"], list):
        raise ValueError(f"{where}: files must be a list")
    files = tuple(_parse_file(f, where, embedded is not None) for f in item["files"])
    roles = [f.role for f in files]
    if len(set(roles)) != len(roles):
        raise ValueError(f"{where}: a file role is listed twice")
    if not any(r in MODEL_ROLES for r in roles) and embedded is None:
        raise ValueError(f"{where}: lists no weights or onnx file")
    if item["channel_values"] is not None:
        check_channel_values(item["channel_values"], where)
    contract = None if item["input"] is None else check_input_contract(item["input"], where)
    for key in ("architecture",):
        if item[key] is not None and not isinstance(item[key], dict):
            raise ValueError(f"{where}: {key} must be an object")
    if contract is not None and item["architecture"] is not None:
        check_in_channels(item["architecture"], contract, where)
    return RegistryEntry(
        raw=item, name=name, version=version, contrasts=contrasts, default_for=default_for,
        embedded=embedded, files=files,
    )


def _parse_file(item: Any, where: str, embedded: bool) -> RegistryFile:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: file entries must be objects")
    role, filename, fmt = item.get("role"), item.get("filename"), item.get("format")
    if role not in ROLES:
        raise ValueError(f"{where}: file role must be one of {list(ROLES)}, got {role!r}")
    if not is_plain_filename(filename) or filename == PROVENANCE_FILENAME:
        raise ValueError(f"{where}: invalid filename {filename!r} for role {role}")
    if role == "card" and filename != CARD_FILENAME:
        raise ValueError(f"{where}: the card file must be named {CARD_FILENAME}")
    if fmt != ROLE_FORMATS[role]:
        raise ValueError(f"{where}: role {role} must have format {ROLE_FORMATS[role]!r}, got {fmt!r}")
    urls = item.get("urls", [])
    if not isinstance(urls, list) or not all(
        isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls
    ):
        raise ValueError(f"{where}: {filename}: urls must be a list of http(s) URLs")
    sha, size = item.get("sha256"), item.get("size")
    # A file that can be downloaded must carry its checksum; an embedded model may leave
    # them null until release because its own model.json is then the authority.
    if sha is None and size is None and embedded and not urls:
        return RegistryFile(role, filename, fmt, None, None, ())
    if not is_sha256(sha):
        raise ValueError(f"{where}: {filename}: sha256 must be 64 lowercase hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ValueError(f"{where}: {filename}: size must be a positive integer (bytes)")
    return RegistryFile(role, filename, fmt, sha, size, tuple(urls))


def check_against_entry(folder: ModelFolder, entry: RegistryEntry, *, check_card: bool = True) -> None:
    """Check that a (verified) folder is the registry's ``entry`` and not another model.

    Compares name, version, ``channel_values``, ``input`` and ``architecture`` (where the
    registry gives them) and the SHA-256 of every file the registry pins (the card only
    when ``check_card``: a card generated locally from the registry differs byte-wise).

    Raises:
        ModelError: on any difference.
    """
    if (folder.name, folder.version) != (entry.name, entry.version):
        raise ModelError(f"model folder {folder.path} holds {folder.spec}, expected {entry.spec}")
    for key in ("channel_values", "input", "architecture"):
        # These decide what the network's outputs mean: a card that disagrees with the
        # registry would silently mislabel discs.
        pinned = entry.raw.get(key)
        if pinned is not None and folder.card.get(key) != pinned:
            raise ModelError(f"{folder.path / CARD_FILENAME} disagrees with the registry entry {entry.spec} on {key}")
    for item in entry.files:
        if item.sha256 is None:
            continue
        if item.role == "card":
            if not check_card:
                continue
            path = folder.path / CARD_FILENAME
            actual = sha256_file(path)
        else:
            info = folder.card["files"].get(item.role)
            if info is None:
                continue  # a partial install (e.g. ONNX only from -from-file) is allowed
            path, actual = folder.path / info["path"], info["sha256"]
        if actual != item.sha256:
            raise ModelError(
                f"{path} (sha256 {actual}) is not the {item.role} file of {entry.spec} in the registry "
                f"(sha256 {item.sha256})"
            )


def card_from_entry(entry: RegistryEntry) -> dict:
    """Build a model card from a registry entry (without the ``files`` section).

    Raises:
        ModelError: if the entry lacks the information a card needs.
    """
    raw = entry.raw
    missing = [k for k in ("architecture", "channel_values", "input") if raw.get(k) is None]
    if missing:
        raise ModelError(f"registry entry {entry.spec} lacks {missing}: cannot build its model card")
    card: dict[str, Any] = {"schema": CARD_SCHEMA, "name": entry.name, "version": entry.version}
    for key in CARD_INFO_KEYS:
        card[key] = copy.deepcopy(raw.get(key))
    return card
