"""Turning trained weights into a self-describing model folder (weights, ONNX, card)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

ONNX_OPSET = 17
"""ONNX opset of exported models (recorded in the card)."""


def export_onnx(
    net, out_path: Path, example_hw: tuple[int, int] | None = None, opset: int = ONNX_OPSET
) -> dict:
    """Export a network to ONNX with dynamic batch/height/width.

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
    x = torch.zeros(1, 1, h, w)
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
    contrasts: tuple[str, ...] = ("t1", "t2"),
    half: bool = True,
) -> Path:
    """Write a model folder that ``hca_label -model PATH`` runs directly.

    Args:
        out_dir: destination folder.
        state: network state dict (float32).
        architecture: ModelConfig dict.
        channel_values: SCT value of each output channel, then any landmark codes
            (:data:`~hca_disc_label.conventions.LANDMARKS`).
        input_contract: see docs/ARCHITECTURE.md.
        name, version: model identity (semantic version).
        training, validation: recorded in the card.
        with_onnx: also write ``model.onnx``.
        half: store float weights as float16 (half the size; loaded back as float32).

    Returns:
        The folder path.
    """
    import torch

    from hca_disc_label.inference.backends import build_torch_model
    from hca_disc_label.weights import write_model_folder

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

