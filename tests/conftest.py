"""Shared fixtures: real data location, random reorientation helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HCA_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~20 s")
    # Tests share 2 cores with other work: keep torch from oversubscribing.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (the real labelled spine MRI); the suite needs it."""
    if not (SHARED_DATA / "bids").is_dir():
        raise RuntimeError(f"real test data not found at {SHARED_DATA} (set HCA_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Never touch the user's model cache or the network from tests."""
    monkeypatch.setenv("HCA_DISC_LABEL_HOME", str(tmp_path_factory.mktemp("hca_home")))


@pytest.fixture
def good_image(shared_data, tmp_path) -> Path:
    """A copy of the smallest real image (errsm30 T2w, labels in ~0.2 s) as ``in/sub-01_T2w.nii.gz``."""
    folder = tmp_path / "in"
    folder.mkdir()
    target = folder / "sub-01_T2w.nii.gz"
    target.write_bytes((shared_data / "bids" / "sub-errsm30" / "anat" / "sub-errsm30_T2w.nii.gz").read_bytes())
    return target


TINY_ARCH = {"width": 8, "num_stacks": 1, "depth": 2, "stem_stride": 4}


def make_tiny_model(out_dir: Path, name: str = "tiny-test", version: str = "0.0.1", onnx: bool = True,
                    seed: int = 0, architecture: dict | None = None,
                    channel_offsets_mm: list[float] | None = None) -> Path:
    """A small random-weight model folder (plumbing tests only: its labels mean nothing).

    Random weights (from ``seed``) give weak peaks; tests using it pass ``-thr 0.0001``.
    ``architecture`` defaults to :data:`TINY_ARCH`; ``channel_offsets_mm`` (lateral input
    channels, mm) sets ``in_channels`` and the card's ``input.channel_offsets_mm``.
    """
    import torch

    from hca_disc_label.conventions import DISC_VALUES
    from hca_disc_label.model.hca_net import HCANet, ModelConfig
    from hca_disc_label.weights.release import write_trained_model

    torch.manual_seed(seed)
    architecture = dict(TINY_ARCH if architecture is None else architecture)
    if channel_offsets_mm is not None:
        architecture["in_channels"] = len(channel_offsets_mm)
    cfg = ModelConfig(**architecture)
    net = HCANet(cfg)
    contract = {"pixel_spacing_mm": 1.0, "slab_thickness_mm": 6.0, "normalisation": "percentile",
                "low_percentile": 1.0, "high_percentile": 99.5, "size_multiple": net.size_multiple,
                "output_stride": net.output_stride, "heatmap_sigma_px": 1.0}
    if channel_offsets_mm is not None:
        contract["channel_offsets_mm"] = [float(v) for v in channel_offsets_mm]
    return write_trained_model(out_dir, net.state_dict(), cfg.to_dict(), list(DISC_VALUES), contract,
                               name=name, version=version, training={"note": "random weights"},
                               validation={}, with_onnx=onnx)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """Path of a random-weight model folder with weights.pt and model.onnx."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny_model") / "tiny")
