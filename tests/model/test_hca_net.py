"""Tests of the HCA-Net network (hca_disc_label.model.hca_net)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from hca_disc_label.model.hca_net import (
    COMPACT_CONFIG,
    PAPER_CONFIG,
    HCANet,
    ModelConfig,
    count_parameters,
)

torch.set_num_threads(1)


def _model(config: ModelConfig, seed: int = 0) -> HCANet:
    torch.manual_seed(seed)
    return HCANet(config).eval()


# ---------------------------------------------------------------- config


def test_config_round_trips_through_json() -> None:
    cfg = dataclasses.replace(COMPACT_CONFIG, num_classes=11, mlka_branches=((3, 1), (7, 3)))
    again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert again.mlka_branches == ((3, 1), (7, 3))


def test_config_rejects_unknown_keys_and_bad_values() -> None:
    data = COMPACT_CONFIG.to_dict()
    data["colour"] = "red"
    with pytest.raises(ValueError, match="colour"):
        ModelConfig.from_dict(data)
    with pytest.raises(ValueError, match="stem_stride"):
        ModelConfig(stem_stride=3)
    with pytest.raises(ValueError, match="width"):
        ModelConfig(width=33)
    with pytest.raises(ValueError, match="mlka_branches"):
        ModelConfig(mlka_branches=((4, 1),))


def test_size_multiple_and_output_stride() -> None:
    assert PAPER_CONFIG.size_multiple == 64 and PAPER_CONFIG.output_stride == 4
    assert COMPACT_CONFIG.size_multiple == 64 and COMPACT_CONFIG.output_stride == 4
    model = HCANet(dataclasses.replace(COMPACT_CONFIG, stem_stride=1, depth=2))
    assert model.size_multiple == 4 and model.output_stride == 1


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("size", [(64, 64), (128, 64), (192, 320)])
def test_compact_forward_shapes(size: tuple[int, int]) -> None:
    model = _model(COMPACT_CONFIG)
    h, w = size
    x = torch.rand(2, 1, h, w)
    with torch.no_grad():
        merged, inter = model.forward_all(x)
        plain = model(x)
    s = COMPACT_CONFIG.output_stride
    assert merged.shape == (2, 24, h // s, w // s)
    assert len(inter) == COMPACT_CONFIG.num_stacks
    assert all(p.shape == merged.shape for p in inter)
    torch.testing.assert_close(plain, merged)
    assert torch.isfinite(merged).all()


@pytest.mark.parametrize("stem_stride", [1, 2])
def test_other_stem_strides(stem_stride: int) -> None:
    cfg = dataclasses.replace(COMPACT_CONFIG, width=16, depth=2, stem_stride=stem_stride)
    model = _model(cfg)
    with torch.no_grad():
        out = model(torch.rand(1, 1, 32, 48))
    assert out.shape == (1, 24, 32 // stem_stride, 48 // stem_stride)


def test_paper_forward_shape() -> None:
    model = _model(PAPER_CONFIG)
    with torch.no_grad():
        merged, inter = model.forward_all(torch.rand(1, 1, 64, 128))
    assert merged.shape == (1, 24, 16, 32)
    assert len(inter) == 2


def test_non_multiple_size_is_a_clear_error() -> None:
    model = _model(COMPACT_CONFIG)
    with pytest.raises(ValueError, match=r"multiples of 64.*got 64x50.*64x64"):
        model(torch.rand(1, 1, 64, 50))
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        model(torch.rand(1, 3, 64, 64))


def test_merge_starts_as_mean_of_stacks() -> None:
    model = _model(COMPACT_CONFIG)
    with torch.no_grad():
        merged, inter = model.forward_all(torch.rand(1, 1, 64, 64))
    torch.testing.assert_close(merged, torch.stack(inter).mean(dim=0))


def test_channels_last_gives_same_output() -> None:
    model = _model(COMPACT_CONFIG)
    x = torch.rand(1, 1, 64, 128)
    with torch.no_grad():
        ref = model(x)
        model_cl = model.to(memory_format=torch.channels_last)
        out = model_cl(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)


def test_parameter_counts() -> None:
    paper = count_parameters(HCANet(PAPER_CONFIG))
    paper11 = count_parameters(HCANet(dataclasses.replace(PAPER_CONFIG, num_classes=11)))
    compact = count_parameters(HCANet(COMPACT_CONFIG))
    print(f"\nparameters: paper (V=24) {paper:,}, paper (V=11) {paper11:,} "
          f"(official V=11: 1,962,854), compact {compact:,}")
    # Same layout as the official network: within ~10 % of its 1,962,854 parameters.
    assert 1_750_000 < paper11 < 2_150_000
    assert 1_750_000 < paper < 2_150_000
    assert 300_000 < compact < 800_000


# ---------------------------------------------------------------- ONNX


def _randomise_batchnorm(model: torch.nn.Module, seed: int = 1) -> None:
    # Non-trivial running statistics so that BN folding in the export is exercised.
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_onnx_export_dynamic_size_matches_torch(tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = _model(COMPACT_CONFIG)
    _randomise_batchnorm(model)
    path = tmp_path / "model.onnx"
    torch.onnx.export(
        model,
        torch.rand(1, 1, 64, 64),
        str(path),
        dynamic_axes={"image": {2: "height", 3: "width"}},
        input_names=["image"],
        output_names=["heatmaps"],
        opset_version=17,
        dynamo=False,
    )
    x = torch.rand(1, 1, 128, 192)
    with torch.no_grad():
        ref = model(x).numpy()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (out,) = session.run(["heatmaps"], {"image": x.numpy()})
    assert out.shape == (1, 24, 32, 48)
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=0)
