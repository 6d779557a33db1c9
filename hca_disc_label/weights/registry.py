"""The model registry (``models/registry.json``) and self-describing model folders.

A *model folder* is what inference loads (docs/ARCHITECTURE.md, "Model folder")::

    model.json    the card: name, version, architecture, channel_values, input contract,
                  training data, validation, licence, files {role: {path, sha256, size, format}}
    weights.pt    torch state dict (role "weights", format "torch-state-dict")
    model.onnx    optional ONNX export (role "onnx", format "onnx")

The *registry* lists every released model (schema 1)::

    {"schema": 1, "models": [{"name", "version", "description", "contrasts", "default_for",
      "embedded", "files": [{"role", "filename", "format", "sha256", "size", "urls"}],
      "input", "channel_values", "architecture", "training_data", "validation", "licence",
      "release_notes"}]}

``embedded`` names a folder next to the registry file (the package's ``models/``) that ships
inside the package, so the default model works offline. Registry file location:
``$HCA_DISC_LABEL_REGISTRY``, else the installed package data ``hca_disc_label.models``, else
``<repo>/models`` in a source checkout.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from hca_disc_label.conventions import CONTRASTS, DISC_VALUES, LANDMARKS
from hca_disc_label.errors import ModelError
from hca_disc_label.atomic import copy_atomic as atomic_copy, sha256_file
from hca_disc_label.atomic import write_json_atomic as atomic_write_json

logger = logging.getLogger(__name__)

REGISTRY_ENV = "HCA_DISC_LABEL_REGISTRY"
REGISTRY_FILENAME = "registry.json"
REGISTRY_SCHEMA = 1
CARD_FILENAME = "model.json"
CARD_SCHEMA = 1
PROVENANCE_FILENAME = "source.json"

ROLES: tuple[str, ...] = ("weights", "onnx", "card")
"""File roles a registry entry may list."""
MODEL_ROLES: tuple[str, ...] = ("weights", "onnx")
"""Roles that hold a runnable network (a model folder needs at least one)."""
ROLE_FORMATS: dict[str, str] = {"weights": "torch-state-dict", "onnx": "onnx", "card": "json"}
DEFAULT_FILENAMES: dict[str, str] = {"weights": "weights.pt", "onnx": "model.onnx", "card": CARD_FILENAME}

# the input contract's defaults are defined once, in hca_disc_label.contract
from hca_disc_label.contract import DEFAULT_SLAB_THICKNESS_MM  # noqa: E402

ENTRY_KEYS: tuple[str, ...] = (
    "name", "version", "description", "contrasts", "default_for", "embedded", "files", "input",
    "channel_values", "architecture", "training_data", "validation", "licence", "release_notes",
)
"""Keys every registry entry carries (values may be null where noted in the docs)."""

CARD_REQUIRED_KEYS: tuple[str, ...] = ("name", "version", "architecture", "channel_values", "input")
CARD_INFO_KEYS: tuple[str, ...] = (
    "description", "contrasts", "architecture", "channel_values", "input", "training_data",
    "validation", "licence", "release_notes",
)
"""Keys copied between a registry entry and a model card."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


# --------------------------------------------------------------------------- names/versions
def is_valid_name(name: str) -> bool:
    """True for a model name usable as a folder name (letters, digits, ``._-``)."""
    return isinstance(name, str) and bool(_NAME_RE.match(name)) and name not in (".", "..")


def is_valid_version(version: str) -> bool:
    """True for a semantic version ``MAJOR.MINOR.PATCH[-pre][+build]``."""
    return isinstance(version, str) and bool(_SEMVER_RE.match(version))


def version_key(version: str) -> tuple:
    """Sort key implementing semantic-version precedence (a pre-release sorts first)."""
    match = _SEMVER_RE.match(version)
    if not match:
        raise ValueError(f"not a semantic version: {version!r}")
    major, minor, patch, pre = int(match[1]), int(match[2]), int(match[3]), match[4]
    if pre is None:
        return (major, minor, patch, 1, ())
    idents = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (major, minor, patch, 0, idents)


def parse_spec(spec: str) -> tuple[str, str | None]:
    """Split ``"NAME"`` or ``"NAME@VERSION"`` into ``(name, version or None)``.

    Raises:
        ModelError: if the name or version is malformed.
    """
    name, sep, version = spec.strip().partition("@")
    if not is_valid_name(name):
        raise ModelError(f"invalid model name {name!r} in {spec!r} (expected NAME or NAME@VERSION)")
    if sep and not is_valid_version(version):
        raise ModelError(f"invalid version {version!r} in {spec!r} (expected semantic version like 1.2.0)")
    return name, (version if sep else None)


def format_spec(name: str, version: str) -> str:
    """``name@version``."""
    return f"{name}@{version}"


# --------------------------------------------------------------------------- registry
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
    return Registry(path=path.resolve(), entries=tuple(_parse_registry(raw, path)))


def _parse_registry(raw: Any, path: Path) -> list[RegistryEntry]:
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
    contrasts = _contrast_list(item["contrasts"], where, "contrasts")
    default_for = _contrast_list(item["default_for"], where, "default_for")
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
        _check_channel_values(item["channel_values"], where)
    if item["input"] is not None:
        _check_input_contract(item["input"], where)
    for key in ("architecture",):
        if item[key] is not None and not isinstance(item[key], dict):
            raise ValueError(f"{where}: {key} must be an object")
    return RegistryEntry(
        raw=item, name=name, version=version, contrasts=contrasts, default_for=default_for,
        embedded=embedded, files=files,
    )


def _contrast_list(value: Any, where: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or any(c not in CONTRASTS for c in value):
        raise ValueError(f"{where}: {key} must be a list of {list(CONTRASTS)}")
    return tuple(value)


def _parse_file(item: Any, where: str, embedded: bool) -> RegistryFile:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: file entries must be objects")
    role, filename, fmt = item.get("role"), item.get("filename"), item.get("format")
    if role not in ROLES:
        raise ValueError(f"{where}: file role must be one of {list(ROLES)}, got {role!r}")
    if not _is_plain_filename(filename) or filename == PROVENANCE_FILENAME:
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
    if not isinstance(sha, str) or not _SHA256_RE.match(sha):
        raise ValueError(f"{where}: {filename}: sha256 must be 64 lowercase hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ValueError(f"{where}: {filename}: size must be a positive integer (bytes)")
    return RegistryFile(role, filename, fmt, sha, size, tuple(urls))


def _is_plain_filename(name: Any) -> bool:
    return (
        isinstance(name, str) and bool(name) and name not in (".", "..")
        and "/" not in name and "\\" not in name and not name.startswith(".")
    )


def _check_channel_values(values: Any, where: str) -> None:
    """Distinct SCT disc values, then optionally landmark codes (:data:`LANDMARKS`)."""
    ok_type = isinstance(values, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    discs = [v for v in values if v in DISC_VALUES] if ok_type else []
    if (
        not ok_type or not discs
        or any(v not in DISC_VALUES and v not in LANDMARKS for v in values)
        or values[: len(discs)] != discs
        or len(set(values)) != len(values)
    ):
        raise ValueError(
            f"{where}: channel_values must be a non-empty list of distinct SCT disc values "
            f"({DISC_VALUES[0]}..{DISC_VALUES[-1]}), optionally followed by landmark codes {sorted(LANDMARKS)}"
        )


def _positive(value: Any, integer: bool) -> bool:
    if isinstance(value, bool):
        return False
    if integer:
        return isinstance(value, int) and value >= 1
    return isinstance(value, (int, float)) and value > 0


def _check_input_contract(contract: Any, where: str) -> None:
    if not isinstance(contract, dict):
        raise ValueError(f"{where}: input must be an object")
    for key, integer in (("pixel_spacing_mm", False), ("size_multiple", True), ("output_stride", True)):
        if not _positive(contract.get(key), integer):
            kind = "positive integer" if integer else "positive number"
            raise ValueError(f"{where}: input.{key} must be a {kind}")
    for key in ("slab_thickness_mm", "heatmap_sigma_px"):
        if key in contract and not _positive(contract[key], False):
            raise ValueError(f"{where}: input.{key} must be a positive number")
    if "normalisation" in contract and not isinstance(contract["normalisation"], str):
        raise ValueError(f"{where}: input.normalisation must be a string")
    low, high = contract.get("low_percentile"), contract.get("high_percentile")
    if low is not None or high is not None:
        ok = all(isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 100 for p in (low, high))
        if not ok or low >= high:
            raise ValueError(f"{where}: input low_percentile/high_percentile must satisfy 0 <= low < high <= 100")


# --------------------------------------------------------------------------- model folders
@dataclass
class ModelFolder:
    """A verified, self-describing model folder.

    Attributes:
        path: the folder (absolute).
        card: parsed ``model.json``.
    """

    path: Path
    card: dict

    @property
    def name(self) -> str:
        """Model name."""
        return self.card["name"]

    @property
    def version(self) -> str:
        """Semantic version."""
        return self.card["version"]

    @property
    def spec(self) -> str:
        """``name@version``."""
        return format_spec(self.name, self.version)

    @property
    def description(self) -> str:
        """One-line description ('' if absent)."""
        return self.card.get("description") or ""

    @property
    def contrasts(self) -> list[str]:
        """Contrasts the model was trained for (may be empty if the card does not say)."""
        return list(self.card.get("contrasts") or [])

    @property
    def channel_values(self) -> list[int]:
        """Output channel k -> SCT disc value, then the landmark codes of a model that also
        predicts landmarks (:data:`~hca_disc_label.conventions.LANDMARKS`; never labels)."""
        return list(self.card["channel_values"])

    @property
    def input_contract(self) -> dict:
        """The input contract (docs/ARCHITECTURE.md), ``slab_thickness_mm`` defaulted to 6."""
        contract = dict(self.card["input"])
        contract.setdefault("slab_thickness_mm", DEFAULT_SLAB_THICKNESS_MM)
        return contract

    @property
    def architecture(self) -> dict:
        """The network configuration (``ModelConfig`` as a dict)."""
        return dict(self.card["architecture"])

    @property
    def files(self) -> dict[str, dict]:
        """``{role: {path, sha256, size, format}}`` from the card."""
        return {role: dict(info) for role, info in self.card["files"].items()}

    def file_path(self, role: str) -> Path | None:
        """Absolute path of the file with a role, or None when the model has none."""
        info = self.card["files"].get(role)
        return self.path / info["path"] if info else None

    @property
    def weights_path(self) -> Path:
        """The torch state dict.

        Raises:
            ModelError: if the model ships only an ONNX file.
        """
        path = self.file_path("weights")
        if path is None:
            raise ModelError(f"model {self.spec} has no PyTorch weights (ONNX only): use -backend onnx")
        return path

    @property
    def onnx_path(self) -> Path | None:
        """The ONNX export, or None."""
        return self.file_path("onnx")

    @property
    def sha256(self) -> str:
        """SHA-256 of the weights file (of the ONNX file for an ONNX-only model)."""
        role = "weights" if "weights" in self.card["files"] else "onnx"
        return self.card["files"][role]["sha256"]


def validate_card(card: Any, where: str | Path, *, require_files: bool = True) -> None:
    """Check a model card's keys and values (not the files on disk).

    Raises:
        ModelError: naming ``where`` and the first problem found.
    """
    def bad(msg: str) -> ModelError:
        return ModelError(f"invalid model card {where}: {msg}")

    if not isinstance(card, dict):
        raise bad("not a JSON object")
    missing = [k for k in CARD_REQUIRED_KEYS if k not in card]
    if missing:
        raise bad(f"missing keys {missing}")
    if not is_valid_name(card["name"]):
        raise bad(f"invalid name {card['name']!r}")
    if not is_valid_version(card["version"]):
        raise bad(f"invalid semantic version {card['version']!r}")
    spec = format_spec(card["name"], card["version"])
    try:
        _check_channel_values(card["channel_values"], spec)
        _check_input_contract(card["input"], spec)
        if not isinstance(card["architecture"], dict):
            raise ValueError(f"{spec}: architecture must be an object")
        if card.get("contrasts") is not None:
            _contrast_list(card["contrasts"], spec, "contrasts")
    except ValueError as exc:
        raise bad(str(exc)) from None
    if not require_files:
        return
    files = card.get("files")
    if not isinstance(files, dict):
        raise bad('"files" must be an object {role: {path, sha256, size, format}}')
    if not any(role in files for role in MODEL_ROLES):
        raise bad("lists neither a weights nor an onnx file")
    for role, info in files.items():
        if role not in MODEL_ROLES:
            raise bad(f"unknown file role {role!r} (expected {list(MODEL_ROLES)})")
        if not isinstance(info, dict):
            raise bad(f"files.{role} must be an object")
        if not _is_plain_filename(info.get("path")) or info["path"] in (CARD_FILENAME, PROVENANCE_FILENAME):
            raise bad(f"files.{role}.path must be a plain file name, got {info.get('path')!r}")
        if not isinstance(info.get("sha256"), str) or not _SHA256_RE.match(info["sha256"]):
            raise bad(f"files.{role}.sha256 must be 64 lowercase hex digits")
        if not _positive(info.get("size"), True):
            raise bad(f"files.{role}.size must be a positive integer")
        if info.get("format", ROLE_FORMATS[role]) != ROLE_FORMATS[role]:
            raise bad(f"files.{role}.format must be {ROLE_FORMATS[role]!r}")


def read_card(folder: Path) -> dict:
    """Parse ``folder/model.json`` (ModelError when missing or not JSON)."""
    card_path = folder / CARD_FILENAME
    try:
        return json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"not a model folder (no {CARD_FILENAME}): {folder}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read model card {card_path}: {exc}") from None


def load_model_folder(path: Path | str) -> ModelFolder:
    """Load and verify a model folder.

    Checks ``model.json`` (keys, values), that every file it lists exists, and that each
    file's size and SHA-256 match the card.

    Args:
        path: the folder, or its ``model.json``.

    Raises:
        ModelError: naming the offending file.
    """
    folder = Path(path).expanduser()
    if folder.name == CARD_FILENAME and folder.is_file():
        folder = folder.parent
    if not folder.is_dir():
        raise ModelError(f"model folder not found: {folder}")
    # problems are reported under the folder as the user gave it (not a resolved path)
    card = read_card(folder)
    validate_card(card, folder / CARD_FILENAME)
    for role, info in card["files"].items():
        check_file(folder / info["path"], info["sha256"], info["size"], what=f"{role} file")
    return ModelFolder(path=folder.resolve(), card=card)


def check_file(path: Path, sha256: str | None, size: int | None, *, what: str = "file") -> None:
    """Check that a file exists and has the expected size and SHA-256.

    Raises:
        ModelError: naming the file, the expected and the actual value.
    """
    try:
        actual_size = path.stat().st_size
    except FileNotFoundError:
        raise ModelError(f"{what} missing: {path}") from None
    if size is not None and actual_size != size:
        raise ModelError(f"{what} {path} has {actual_size} bytes, expected {size}: corrupt or modified")
    if sha256 is not None:
        actual = sha256_file(path)
        if actual != sha256:
            raise ModelError(
                f"{what} {path} fails its checksum (sha256 {actual}, expected {sha256}): corrupt or modified"
            )


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


def write_model_folder(out_dir: Path | str, card: dict, files: Mapping[str, Path | str]) -> ModelFolder:
    """Write a self-describing model folder (used by training / export).

    Copies each file into ``out_dir`` under its standard name (``weights.pt``, ``model.onnx``)
    unless it is already there, computes SHA-256 and size into ``card["files"]`` and writes
    ``model.json`` atomically, last. Files of ``card["files"]`` not passed in ``files`` are kept
    (re-hashed) when they exist in ``out_dir``.

    Args:
        out_dir: destination folder (created).
        card: card without (or with stale) ``files``; not modified.
        files: ``{"weights": path, "onnx": path}`` (at least one).

    Returns:
        The verified :class:`ModelFolder`.

    Raises:
        ModelError: invalid card, unknown role or missing source file.
    """
    out = Path(out_dir).expanduser()
    card = copy.deepcopy(card)
    card.setdefault("schema", CARD_SCHEMA)
    validate_card(card, out / CARD_FILENAME, require_files=False)
    unknown = [r for r in files if r not in MODEL_ROLES]
    if unknown:
        raise ModelError(f"unknown file roles {unknown} (expected {list(MODEL_ROLES)})")
    out.mkdir(parents=True, exist_ok=True)
    previous = card.get("files") if isinstance(card.get("files"), dict) else {}
    sources: dict[str, Path] = {}
    for role, info in previous.items():
        if role in MODEL_ROLES and role not in files and isinstance(info, dict):
            candidate = out / str(info.get("path", ""))
            if info.get("path") and candidate.is_file():
                sources[role] = candidate
    for role, src in files.items():
        src = Path(src).expanduser()
        if not src.is_file():
            raise ModelError(f"{role} file not found: {src}")
        dst = out / DEFAULT_FILENAMES[role]
        if not (dst.exists() and os.path.samefile(src, dst)):
            atomic_copy(src, dst)
        sources[role] = dst
    if not sources:
        raise ModelError("a model folder needs a weights or an onnx file")
    card["files"] = {
        role: {"path": p.name, "sha256": sha256_file(p), "size": p.stat().st_size, "format": ROLE_FORMATS[role]}
        for role, p in sorted(sources.items())
    }
    atomic_write_json(out / CARD_FILENAME, card)
    return load_model_folder(out)


# --------------------------------------------------------------------------- maintainer helpers
def entry_from_folder(
    folder: ModelFolder,
    *,
    embedded: str | None = None,
    urls: Mapping[str, Iterable[str]] | None = None,
    default_for: Iterable[str] = (),
    include_card: bool = True,
) -> dict:
    """Build a registry entry (JSON object) that pins an existing model folder.

    Args:
        folder: the verified model folder to publish.
        embedded: folder name under ``models/`` when the model ships in the package.
        urls: ``{role: [mirror1, mirror2, ...]}`` download URLs per role
            (``"weights"``, ``"onnx"``, ``"card"``).
        default_for: contrasts this model is the default for.
        include_card: also pin ``model.json`` (role ``"card"``).
    """
    urls = urls or {}
    file_list = []
    roles = [r for r in MODEL_ROLES if r in folder.card["files"]] + (["card"] if include_card else [])
    for role in roles:
        path = folder.path / CARD_FILENAME if role == "card" else folder.file_path(role)
        assert path is not None
        file_list.append({
            "role": role, "filename": path.name, "format": ROLE_FORMATS[role],
            "sha256": sha256_file(path), "size": path.stat().st_size, "urls": list(urls.get(role, [])),
        })
    entry: dict[str, Any] = {
        "name": folder.name, "version": folder.version,
        "description": folder.card.get("description") or "",
        "contrasts": folder.contrasts or list(CONTRASTS),
        "default_for": list(default_for), "embedded": embedded, "files": file_list,
    }
    for key in CARD_INFO_KEYS:
        if key not in entry:
            entry[key] = copy.deepcopy(folder.card.get(key))
    return {key: entry[key] for key in ENTRY_KEYS}


def update_registry_entry(registry_file: Path | str, entry: dict) -> None:
    """Insert or replace (same name@version) an entry in a registry file, atomically.

    The result is validated before it is written.
    """
    registry_file = Path(registry_file)
    if registry_file.exists():
        data = json.loads(registry_file.read_text(encoding="utf-8"))
    else:
        data = {"schema": REGISTRY_SCHEMA, "models": []}
    models = [m for m in data.get("models", []) if (m.get("name"), m.get("version")) != (entry["name"], entry["version"])]
    models.append(entry)
    models.sort(key=lambda m: (m["name"], version_key(m["version"])))
    data["models"] = models
    _parse_registry(data, registry_file)
    atomic_write_json(registry_file, data)
