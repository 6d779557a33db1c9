"""The network a run starts from: input channels from -channel-offsets, a one-channel -init model
widened so that it starts exactly as before."""

from __future__ import annotations

import pytest

from tests.conftest import TINY_ARCH


def _config(tmp_path, **kw):
    from hca_disc_label.training.config import TrainConfig

    return TrainConfig(out_dir=tmp_path / "run", **kw)


def test_scratch_network_takes_one_channel_per_offset(tmp_path):
    from hca_disc_label.errors import HCAError
    from hca_disc_label.training.network import start_network

    net, arch, _, init, offsets = start_network(_config(tmp_path, architecture=dict(TINY_ARCH)))
    assert offsets == (0.0,) and net.config.in_channels == 1 and "in_channels" not in arch and init is None
    net, arch, _, _, offsets = start_network(_config(tmp_path, architecture=dict(TINY_ARCH),
                                                     channel_offsets_mm=(-10, 0, 10)))
    assert offsets == (-10.0, 0.0, 10.0) and net.config.in_channels == arch["in_channels"] == 3
    with pytest.raises(HCAError, match="-channel-offsets must be distinct and include 0"):
        start_network(_config(tmp_path, architecture=dict(TINY_ARCH), channel_offsets_mm=(-10, 10)))


def test_init_one_channel_model_widened_gives_the_same_heatmaps_at_step_0(tmp_path, tiny_model):
    import torch

    from hca_disc_label.errors import HCAError
    from hca_disc_label.model.build import build_torch_model
    from hca_disc_label.training.network import start_network
    from hca_disc_label.weights.card import load_model_folder
    from hca_disc_label.weights.release import write_trained_model

    folder = load_model_folder(tiny_model)
    old = build_torch_model(folder.architecture, folder.weights_path)
    net, arch, values, init, offsets = start_network(_config(tmp_path, init=str(tiny_model),
                                                             channel_offsets_mm=(-12, 0, 12)))
    assert init == "tiny-test@0.0.1" and offsets == (-12.0, 0.0, 12.0) and arch["in_channels"] == 3
    assert values == folder.channel_values and net.config.in_channels == 3
    centre = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    net.eval()
    with torch.no_grad():
        expected = old(centre)
        for side in (torch.zeros_like(centre), torch.rand(1, 1, 64, 64)):
            assert torch.allclose(net(torch.cat([side, centre, side], dim=1)), expected, atol=1e-6)
    # the widened model, written out, keeps its offsets; asking it for others is an error
    contract = {**folder.input_contract, "channel_offsets_mm": list(offsets)}
    wide = write_trained_model(tmp_path / "wide", net.state_dict(), arch, values, contract, name="wide",
                               version="0.0.1", training={}, validation={}, with_onnx=False)
    assert start_network(_config(tmp_path, init=str(wide)))[4] == offsets
    with pytest.raises(HCAError, match="only a one-channel model can be widened"):
        start_network(_config(tmp_path, init=str(wide), channel_offsets_mm=(0, 5)))


def test_init_of_an_ensemble_is_refused_with_a_clear_error(tmp_path, tiny_model):
    from hca_disc_label.errors import HCAError
    from hca_disc_label.training.network import start_network
    from hca_disc_label.weights.card import load_model_folder
    from hca_disc_label.weights.release import write_trained_model

    folder = load_model_folder(tiny_model)
    import torch

    state = torch.load(str(folder.weights_path), map_location="cpu", weights_only=True)
    both = {f"members.{k}.{key}": v for k in (0, 1) for key, v in state.items()}
    ens = write_trained_model(tmp_path / "ens", both, {**folder.architecture, "ensemble": 2},
                              folder.channel_values, folder.input_contract, name="ens", version="0.0.1",
                              training={}, validation={}, with_onnx=False)
    with pytest.raises(HCAError, match="ensemble of 2 networks cannot be fine-tuned"):
        start_network(_config(tmp_path, init=str(ens)))


def test_init_model_widened_to_more_features_starts_as_before_and_is_refused_without_init(tmp_path, tiny_model):
    import torch

    from hca_disc_label.errors import HCAError
    from hca_disc_label.model.build import build_torch_model
    from hca_disc_label.training.network import start_network
    from hca_disc_label.weights.card import load_model_folder

    folder = load_model_folder(tiny_model)
    old = build_torch_model(folder.architecture, folder.weights_path).eval()
    net, arch, values, _, _ = start_network(_config(tmp_path, init=str(tiny_model), widen=12))
    assert arch["width"] == net.config.width == 12 and values == folder.channel_values
    x = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(net.eval()(x), old(x), atol=1e-5)
    with pytest.raises(HCAError, match=r"-widen 6: .*give an even width above 8"):
        start_network(_config(tmp_path, init=str(tiny_model), widen=6))
    with pytest.raises(HCAError, match="only an -init model is widened"):
        start_network(_config(tmp_path, architecture=dict(TINY_ARCH), widen=12))
