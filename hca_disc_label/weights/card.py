"""The model card (``model.json``) and the self-describing model folder it describes.

A *model folder* is what inference loads (docs/ARCHITECTURE.md, "Model folder")::

    model.json    the card: name, version, architecture, channel_values, input contract,
                  training data, validation, licence, files {role: {path, sha256, size, format}}
    weights.pt    torch state dict (role "weights", format "torch-state-dict")
    model.onnx    optional ONNX export (role "onnx", format "onnx")

Every file a card lists is pinned by size and SHA-256; :func:`load_model_folder` checks them
all. :func:`model_sha256` is the one definition of the checksum that names a model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from hca_disc_label.contract import DEFAULT_SLAB_THICKNESS_MM, InputContract, is_positive
from hca_disc_label.contract import check_input_contract as check_contract_mapping
from hca_disc_label.conventions import CONTRASTS, DISC_VALUES, LANDMARKS
from hca_disc_label.errors import ModelError
from hca_disc_label.atomic import sha256_file
from hca_disc_label.model.build import ensemble_size
from hca_disc_label.weights.spec import format_spec, is_plain_filename, is_valid_name, is_valid_version

CARD_FILENAME = "model.json"
CARD_SCHEMA = 1
PROVENANCE_FILENAME = "source.json"
"""Written last into a cached install (:mod:`.store`); never a file a card lists."""

MODEL_ROLES: tuple[str, ...] = ("weights", "onnx")
"""Roles that hold a runnable network (a model folder needs at least one)."""
ROLE_FORMATS: dict[str, str] = {"weights": "torch-state-dict", "onnx": "onnx", "card": "json"}

CARD_REQUIRED_KEYS: tuple[str, ...] = ("name", "version", "architecture", "channel_values", "input")
CARD_INFO_KEYS: tuple[str, ...] = (
    "description", "contrasts", "architecture", "channel_values", "input", "training_data",
    "validation", "licence", "release_notes",
)
"""Keys copied between a registry entry and a model card."""

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def is_sha256(value: Any) -> bool:
    """True for a hex SHA-256 digest as cards and the registry write it (64 lowercase digits)."""
    return isinstance(value, str) and bool(_SHA256_RE.match(value))


def model_sha256(card: Mapping[str, Any]) -> str | None:
    """The checksum that names a model: its weights file's SHA-256, else its ONNX file's (an
    ONNX-only model); None when the card lists neither. Sidecars, batch workers and the
    numbering calibration table all key a model by it."""
    files = card.get("files")
    if not isinstance(files, Mapping):
        return None
    for role in MODEL_ROLES:
        info = files.get(role)
        if isinstance(info, Mapping) and info.get("sha256"):
            return str(info["sha256"])
    return None


def check_contrasts(value: Any, where: str, key: str) -> tuple[str, ...]:
    """A list of known contrasts, as a tuple; ValueError otherwise."""
    if not isinstance(value, list) or any(c not in CONTRASTS for c in value):
        raise ValueError(f"{where}: {key} must be a list of {list(CONTRASTS)}")
    return tuple(value)


def check_channel_values(values: Any, where: str) -> None:
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


def check_input_contract(contract: Any, where: str) -> InputContract:
    """Check a card's ``input`` object (:func:`hca_disc_label.contract.check_input_contract`,
    the one home of its rules) and return it typed (:meth:`InputContract.from_mapping`, the one
    reader the labeller uses); ValueError naming the first problem."""
    check_contract_mapping(contract, where)
    return InputContract.from_mapping(contract)


def check_in_channels(architecture: dict, contract: InputContract, where: str) -> None:
    """The network takes one input channel per slab of the contract: ``architecture.in_channels``
    (default 1) must equal the number of ``input.channel_offsets_mm``; ValueError otherwise."""
    in_channels = architecture.get("in_channels", 1)
    if in_channels != contract.channels:
        raise ValueError(f"{where}: architecture in_channels {in_channels!r} does not match the "
                         f"{contract.channels} input.channel_offsets_mm {list(contract.channel_offsets_mm)}")


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
        return str(model_sha256(self.card))


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
        check_channel_values(card["channel_values"], spec)
        contract = check_input_contract(card["input"], spec)
        if not isinstance(card["architecture"], dict):
            raise ValueError(f"{spec}: architecture must be an object")
        check_in_channels(card["architecture"], contract, spec)
        ensemble_size(card["architecture"])
        if card.get("contrasts") is not None:
            check_contrasts(card["contrasts"], spec, "contrasts")
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
        if not is_plain_filename(info.get("path")) or info["path"] in (CARD_FILENAME, PROVENANCE_FILENAME):
            raise bad(f"files.{role}.path must be a plain file name, got {info.get('path')!r}")
        if not is_sha256(info.get("sha256")):
            raise bad(f"files.{role}.sha256 must be 64 lowercase hex digits")
        if not is_positive(info.get("size"), True):
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
