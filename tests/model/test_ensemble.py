"""HCAEnsemble: the mean of its members' heatmaps; the card's "ensemble" key and its checks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from hca_disc_label.errors import ModelError
from hca_disc_label.model.build import build_torch_model, check_card, ensemble_size
from hca_disc_label.model.ensemble import HCAEnsemble
from hca_disc_label.model.hca_net import HCANet, ModelConfig
from tests.conftest import TINY_ARCH


def _randomised(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``net`` with random weights and batch-norm statistics (so members differ), eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, value in net.state_dict().items():
            if value.is_floating_point():
                value.copy_(torch.rand(value.shape, generator=gen) * (0.5 if "var" not in name else 1) + 0.05)
    return net.eval()


def test_ensemble_heatmaps_are_the_mean_of_its_members() -> None:
    config = ModelConfig(**TINY_ARCH)
    members = [_randomised(HCANet(config), seed) for seed in range(3)]
    ensemble = HCAEnsemble(config, 3).eval()
    ensemble.load_state_dict({f"members.{k}.{key}": v for k, m in enumerate(members)
                              for key, v in m.state_dict().items()})
    x = torch.rand(2, 1, 32, 48)
    with torch.no_grad():
        expected = torch.stack([m(x) for m in members]).mean(0)
        got = ensemble(x)
        merged, stacks = ensemble(x, all_outputs=True)
    assert got.shape == expected.shape == (2, config.num_classes, 8, 12)
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(merged, got) and len(stacks) == config.num_stacks
    assert ensemble.size == 3 and ensemble.size_multiple == 16 and ensemble.output_stride == 4


def test_build_torch_model_builds_an_ensemble_from_the_key(tmp_path) -> None:
    net = build_torch_model({**TINY_ARCH, "ensemble": 2})
    assert isinstance(net, HCAEnsemble) and net.size == 2 and not net.training
    assert all(key.startswith(("members.0.", "members.1.")) for key in net.state_dict())
    torch.save(net.state_dict(), tmp_path / "w.pt")
    assert isinstance(build_torch_model({**TINY_ARCH, "ensemble": 2}, tmp_path / "w.pt"), HCAEnsemble)
    with pytest.raises(ModelError, match="cannot load weights"):  # a one-network state dict
        build_torch_model({**TINY_ARCH, "ensemble": 3}, tmp_path / "w.pt")
    assert isinstance(build_torch_model(TINY_ARCH), HCANet)


@pytest.mark.parametrize("bad", [1, 0, -2, 2.0, "2", True, None])
def test_an_ensemble_of_fewer_than_two_or_not_an_integer_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="integer >= 2"):
        ensemble_size({"ensemble": bad})
    card = SimpleNamespace(name="m", version="1.0.0", architecture={**TINY_ARCH, "ensemble": bad},
                           channel_values=list(range(2, 26)))
    with pytest.raises(ModelError, match="ensemble must be an integer >= 2"):
        check_card(card)
    with pytest.raises(ModelError, match="invalid architecture"):
        build_torch_model({**TINY_ARCH, "ensemble": bad})
    with pytest.raises(ValueError, match="integer number of members >= 2"):
        HCAEnsemble(ModelConfig(**TINY_ARCH), bad)


def test_no_ensemble_key_is_one_network() -> None:
    assert ensemble_size(TINY_ARCH) is None
    assert ensemble_size({**TINY_ARCH, "ensemble": 4}) == 4
