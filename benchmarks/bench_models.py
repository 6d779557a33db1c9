"""The models ``benchmarks/bench_inference.py`` measures: a given or shipped one, and random-weight
ones built on the fly (the paper-size configuration, the tiny test model)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Runnable from a source checkout without installing the package.
sys.path.insert(0, str(REPO))


@dataclass
class Bench:
    """One model under test."""

    label: str
    folder: object  # ModelFolder
    cli_model: str | None  # -model argument (None: the embedded default)
    random_weights: bool


def random_model_folder(out: Path, name: str, architecture: dict) -> object:
    """A model folder with random weights (float32 kept) and its ONNX export."""
    import torch

    from hca_disc_label.conventions import DISC_VALUES
    from hca_disc_label.model.hca_net import HCANet, ModelConfig
    from hca_disc_label.weights.release import write_trained_model
    from hca_disc_label.weights.card import load_model_folder

    torch.manual_seed(0)
    cfg = ModelConfig.from_dict(architecture)
    net = HCANet(cfg)
    contract = {"pixel_spacing_mm": 1.0, "slab_thickness_mm": 6.0, "normalisation": "percentile",
                "low_percentile": 1.0, "high_percentile": 99.5, "size_multiple": net.size_multiple,
                "output_stride": net.output_stride, "heatmap_sigma_px": 1.0}
    path = write_trained_model(out, net.state_dict(), cfg.to_dict(), list(DISC_VALUES), contract, name=name,
                               version="0.0.0", training={"note": "random weights (benchmark)"}, validation={},
                               half=False)
    return load_model_folder(path)


def given_model(spec: str | None, tmp: Path) -> Bench:
    """``--model``, else the shipped default for T2, else the tiny test model."""
    from hca_disc_label.errors import ModelError
    from hca_disc_label.weights.resolve import resolve_model

    if spec is not None:
        folder = resolve_model(spec, "t2")
        return Bench(f"{folder.name} {folder.version}", folder, spec, random_weights=False)
    try:
        folder = resolve_model(None, "t2")
        return Bench(f"{folder.name} {folder.version} (default)", folder, None, random_weights=False)
    except ModelError as exc:
        print(f"note: no shipped default model ({exc}); using the tiny random-weight test model\n")
    from tests.conftest import TINY_ARCH

    folder = random_model_folder(tmp / "tiny", "tiny-test", TINY_ARCH)
    return Bench("tiny test model (random)", folder, str(folder.path), random_weights=True)


def paper_model(tmp: Path) -> Bench:
    """Paper-size HCA-Net (width 128, 2 stacks, depth 4) with random weights."""
    from hca_disc_label.model.hca_net import PAPER_CONFIG

    folder = random_model_folder(tmp / "paper", "paper-size", PAPER_CONFIG.to_dict())
    return Bench("paper-size (random)", folder, str(folder.path), random_weights=True)


def params(folder) -> int:
    """Parameter count of the model folder's network."""
    from hca_disc_label.model.build import build_torch_model
    from hca_disc_label.model.hca_net import count_parameters

    return count_parameters(build_torch_model(folder.architecture))
