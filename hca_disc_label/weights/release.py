"""Writing a release: model folders, registry entries, and the ONNX export with its check.

Everything that *writes* a model lives here (training, ``hca_label export``,
``scripts/release_model.py``); reading and verifying is :mod:`.card` and :mod:`.registry`.
An ONNX export is kept only after ONNX Runtime reproduces PyTorch's heatmaps on an input of
another size than the export's example (:func:`export_and_verify`). torch and onnxruntime are
imported inside the functions that need them.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from hca_disc_label.conventions import CONTRASTS
from hca_disc_label.errors import ModelError
from hca_disc_label.weights.card import (
    CARD_FILENAME,
    CARD_INFO_KEYS,
    CARD_SCHEMA,
    MODEL_ROLES,
    ROLE_FORMATS,
    ModelFolder,
    load_model_folder,
    validate_card,
)
from hca_disc_label.atomic import copy_atomic, write_json_atomic, sha256_file
from hca_disc_label.weights.registry import ENTRY_KEYS, REGISTRY_SCHEMA, parse_registry
from hca_disc_label.weights.spec import version_key

log = logging.getLogger(__name__)

DEFAULT_FILENAMES: dict[str, str] = {"weights": "weights.pt", "onnx": "model.onnx", "card": CARD_FILENAME}
ONNX_OPSET = 17
"""ONNX opset of exported models (recorded in the card)."""
RELATIVE_TOLERANCE = 1e-4
"""Largest accepted |ONNX - PyTorch| as a fraction of the PyTorch heatmaps' range."""


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
            copy_atomic(src, dst)
        sources[role] = dst
    if not sources:
        raise ModelError("a model folder needs a weights or an onnx file")
    card["files"] = {
        role: {"path": p.name, "sha256": sha256_file(p), "size": p.stat().st_size, "format": ROLE_FORMATS[role]}
        for role, p in sorted(sources.items())
    }
    write_json_atomic(out / CARD_FILENAME, card)
    return load_model_folder(out)


# --------------------------------------------------------------------------- registry entries
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
    parse_registry(data, registry_file)
    write_json_atomic(registry_file, data)


# --------------------------------------------------------------------------- ONNX and trained models
def export_onnx(
    net, out_path: Path, example_hw: tuple[int, int] | None = None, opset: int = ONNX_OPSET
) -> dict:
    """Export a network to ONNX with dynamic batch/height/width; the input is ``(B, C, H, W)``,
    C = the network's ``in_channels`` (the card's ``input.channel_offsets_mm``).

    Args:
        net: an :class:`~hca_disc_label.model.hca_net.HCANet` (moved to CPU, eval mode).
        out_path: destination ``.onnx`` file.
        example_hw: example input size (H, W) in model-frame pixels; defaults to twice the
            size multiple in both directions. The graph is not specialised to it.
        opset: ONNX opset version.

    Returns:
        ``{"opset": int, "input": "image", "output": "heatmaps"}`` (recorded in model cards).
    """
    import warnings

    import torch

    net = net.to("cpu").eval()
    m = net.size_multiple
    h, w = example_hw or (2 * m, 2 * m)
    x = torch.zeros(1, net.config.in_channels, h, w)
    with torch.inference_mode(), warnings.catch_warnings():
        # The tracer flags HCANet.forward's `if all_outputs:`; it is a Python constant
        # (False) during export, so the traced graph is correct for every input size.
        warnings.filterwarnings("ignore", message="Converting a tensor to a Python boolean",
                                category=torch.jit.TracerWarning)
        # The TorchScript exporter is used on purpose (the dynamo one needs onnxscript).
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export",
                                category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx\.")
        torch.onnx.export(
            net, (x,), str(out_path), input_names=["image"], output_names=["heatmaps"],
            dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                          "heatmaps": {0: "batch", 2: "out_height", 3: "out_width"}},
            opset_version=int(opset), dynamo=False,
        )
    return {"opset": int(opset), "input": "image", "output": "heatmaps"}


def export_and_verify(folder: ModelFolder, out_path: Path, opset: int, say: Callable[[str], None] = print) -> dict:
    """Export ``folder``'s PyTorch weights to ``out_path`` and compare ORT with PyTorch.

    The check input is ``(1, C, 3m, 2m)`` (m = the size multiple, C the input channels) while
    the export's example is ``(1, C, 2m, 2m)``, so both a frozen height and a height/width
    mix-up are caught.

    ``say`` prints the comparison (the CLI's ``-v 0`` silences it).

    Returns:
        The export record ``{"opset", "input", "output"}`` for the model card.

    Raises:
        ModelError: no PyTorch weights, export failure, or a mismatch above
            :data:`RELATIVE_TOLERANCE` of the heatmap range.
    """
    import numpy as np

    from hca_disc_label.model.build import build_torch_model

    net = build_torch_model(folder.architecture, folder.weights_path)
    m, c = net.size_multiple, net.config.in_channels
    try:
        info = export_onnx(net, out_path, example_hw=(2 * m, 2 * m), opset=opset)
    except Exception as exc:  # the exporter raises many untyped errors (unsupported op/opset)
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelError(f"ONNX export of {folder.spec} failed at opset {opset}: {first}") from None
    image = np.random.default_rng(0).random((1, c, 3 * m, 2 * m), dtype=np.float32)
    reference = _torch_forward(net, image)
    exported = _onnx_forward(out_path, image)
    if exported.shape != reference.shape:
        raise ModelError(f"ONNX export of {folder.spec} gives shape {exported.shape}, PyTorch {reference.shape}")
    diff = float(np.max(np.abs(exported - reference)))
    tolerance = RELATIVE_TOLERANCE * max(float(np.ptp(reference)), 1e-6)
    say(
        f"Verified with onnxruntime on a 1x{c}x{3 * m}x{2 * m} input (export example 1x{c}x{2 * m}x{2 * m}): "
        f"max abs diff {diff:.3g} vs PyTorch (tolerance {tolerance:.3g})"
    )
    if not diff <= tolerance:
        raise ModelError(f"ONNX export of {folder.spec} differs from PyTorch by {diff:.3g} (> {tolerance:.3g})")
    return info


def _torch_forward(net, image):
    import torch

    with torch.inference_mode():
        return net(torch.from_numpy(image)).numpy()


def _onnx_forward(path: Path, image):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: image})
    return out


def add_onnx_to_folder(folder: ModelFolder, onnx_file: Path, info: dict) -> ModelFolder:
    """Put ``onnx_file`` in the folder as model.json's "onnx" file (sha256, size, opset)."""
    card = copy.deepcopy(folder.card)
    card["onnx"] = info
    return write_model_folder(folder.path, card, {"onnx": onnx_file})


def write_trained_model(
    out_dir: Path,
    state: dict,
    architecture: dict,
    channel_values: list[int],
    input_contract: dict,
    *,
    name: str,
    version: str,
    training: dict,
    validation: dict,
    with_onnx: bool = True,
    description: str = "HCA-Net disc labeller trained with hca_label train.",
    contrasts: tuple[str, ...] = CONTRASTS,
    half: bool = True,
) -> Path:
    """Write a model folder that ``hca_label -model PATH`` runs directly.

    Args:
        out_dir: destination folder.
        state: network state dict (float32).
        architecture: ModelConfig dict.
        channel_values: SCT value of each output channel, then any landmark codes
            (:data:`~hca_disc_label.conventions.LANDMARKS`).
        input_contract: see docs/ARCHITECTURE.md (its ``channel_offsets_mm``, one per input
            channel, must match ``architecture["in_channels"]``).
        name, version: model identity (semantic version).
        training, validation: recorded in the card.
        with_onnx: also write ``model.onnx``.
        half: store float weights as float16 (half the size; loaded back as float32).

    Returns:
        The folder path.
    """
    import torch

    from hca_disc_label.model.build import build_torch_model

    packed = {k: (v.half() if half and v.is_floating_point() else v).cpu() for k, v in state.items()}
    card = {
        "name": name,
        "version": version,
        "description": description,
        "contrasts": list(contrasts),
        "architecture": architecture,
        "channel_values": [int(v) for v in channel_values],
        "input": input_contract,
        "training_data": training,
        "validation": validation,
        "licence": "MIT",
    }
    with tempfile.TemporaryDirectory() as tmp:
        files = {"weights": Path(tmp) / "weights.pt"}
        torch.save(packed, str(files["weights"]))
        if with_onnx:
            # export exactly what the torch backend will run (float16-rounded weights)
            net = build_torch_model(architecture, files["weights"])
            files["onnx"] = Path(tmp) / "model.onnx"
            card["onnx"] = export_onnx(net, files["onnx"])
        folder = write_model_folder(out_dir, card, files)
    log.info("model folder written to %s", folder.path)
    return Path(folder.path)
