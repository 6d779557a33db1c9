"""Building HCA-Net from a card: the torch-free architecture check, widening the outputs."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from hca_disc_label.errors import ModelError
from hca_disc_label.model.build import ARCHITECTURE_KEYS, add_output_channels, build_torch_model, check_card
from hca_disc_label.model.hca_net import COMPACT_CONFIG, HCANet, ModelConfig


def test_architecture_keys_match_the_network_config():
    assert ARCHITECTURE_KEYS == {f.name for f in dataclasses.fields(ModelConfig)}


def test_check_card_names_an_unknown_key_and_a_channel_count_mismatch() -> None:
    card = SimpleNamespace(name="m", version="1.0.0", architecture={"width": 8, "bogus": 1}, channel_values=[3, 4])
    with pytest.raises(ModelError, match="unknown architecture key"):
        check_card(card)
    card.architecture = {"num_classes": 3}
    with pytest.raises(ModelError, match="does not match"):
        check_card(card)


def test_built_network_is_in_eval_mode_and_rejects_a_bad_architecture() -> None:
    net = build_torch_model({"width": 8, "num_stacks": 1, "depth": 2, "stem_stride": 4})
    assert not net.training
    with pytest.raises(ModelError, match="invalid architecture"):
        build_torch_model({"width": -1})


def test_added_output_channels_keep_every_trained_output() -> None:
    torch.manual_seed(0)
    net = HCANet(COMPACT_CONFIG).eval()
    wide = add_output_channels(net, 3).eval()
    x = torch.rand(1, 1, 128, 64)
    with torch.no_grad():
        old, new = net(x), wide(x)
    assert new.shape[1] == old.shape[1] + 3
    assert torch.allclose(new[:, : old.shape[1]], old, atol=1e-6)
    assert new[:, old.shape[1]:].abs().max() < 0.2  # new channels start near zero


def test_inflated_input_channels_start_as_the_one_channel_network() -> None:
    from hca_disc_label.model.build import inflate_input_channels

    torch.manual_seed(0)
    net = HCANet(ModelConfig(width=8, num_stacks=1, depth=2, stem_stride=4)).eval()
    wide = inflate_input_channels(net, 3, centre=1).eval()
    assert wide.config.in_channels == 3
    x = torch.rand(1, 1, 64, 32)
    lateral = torch.cat([torch.rand(1, 1, 64, 32), x, torch.rand(1, 1, 64, 32)], dim=1)
    with torch.no_grad():
        assert torch.allclose(wide(lateral), net(x), atol=1e-6)
    with pytest.raises(ValueError, match="cannot inflate a 3-channel"):
        inflate_input_channels(wide, 5, centre=2)


def test_widened_network_starts_with_the_same_heatmaps_and_learns_in_the_new_channels() -> None:
    from hca_disc_label.model.build import widen_network

    torch.manual_seed(0)
    net = HCANet(ModelConfig(width=8, num_stacks=2, depth=2, stem_stride=4, num_classes=5))
    wide = widen_network(net, 12, seed=1)
    assert wide.config.width == 12 and wide.config.num_classes == 5
    x = torch.rand(2, 1, 64, 32)
    for mode in ("eval", "train"):  # train mode: batch statistics, per channel
        net.train(mode == "train")
        wide.train(mode == "train")
        with torch.no_grad():
            assert torch.allclose(wide(x), net(x), atol=1e-5), mode
    wide.train()
    wide(x).square().sum().backward()
    head = wide.blocks[-1].head.weight.grad
    assert head[:, 8:].abs().sum() > 0  # the new channels reach the output after one step
    for width in (8, 11):
        with pytest.raises(ValueError, match="give an even width above 8"):
            widen_network(net, width)
