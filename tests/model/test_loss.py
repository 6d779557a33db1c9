"""Tests of the HCA-Net loss (hca_disc_label.model.loss)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from hca_disc_label.model.hca_net import COMPACT_CONFIG, HCANet
from hca_disc_label.model.loss import (
    HCALoss,
    masked_mse,
    render_gaussian_targets,
    soft_argmax,
)

torch.set_num_threads(1)

TINY = dataclasses.replace(COMPACT_CONFIG, num_classes=4, width=16, depth=2, stem_stride=2)


def _batch(h: int = 16, w: int = 16):
    """Two samples, V = 4 discs on a vertical line; one disc absent, one unknown."""
    coords = torch.tensor(
        [
            [[3.0, 7.0], [6.5, 7.5], [9.0, 8.0], [12.0, 8.5]],
            [[2.0, 9.0], [5.0, 9.0], [float("nan"), float("nan")], [11.0, 9.5]],
        ]
    )
    present = torch.tensor([[True, True, True, True], [True, True, False, False]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]])  # [1, 3] unknown
    target = render_gaussian_targets(coords, present, (h, w), sigma=1.5)
    return target, mask, coords, present


def test_render_gaussian_targets() -> None:
    target, _, coords, present = _batch()
    assert target.shape == (2, 4, 16, 16)
    assert torch.isfinite(target).all()
    assert target[0, 0, 3, 7] == pytest.approx(1.0)
    assert target[0, 0, 3, 8] == pytest.approx(math.exp(-1 / (2 * 1.5**2)))
    assert target[1, 2].abs().max() == 0 and target[1, 3].abs().max() == 0
    # Sub-pixel centre: symmetric neighbours are equal.
    assert target[0, 1, 6, 7] == pytest.approx(target[0, 1, 7, 8].item())


@pytest.mark.parametrize("centre", [(20.0, 30.0), (17.3, 41.8), (5.5, 8.25)])
def test_soft_argmax_recovers_gaussian_centre(centre: tuple[float, float]) -> None:
    coords = torch.tensor([[centre]])
    maps = render_gaussian_targets(coords, torch.tensor([[True]]), (48, 64), sigma=2.0)
    found = soft_argmax(maps, scale=20.0)
    assert found.shape == (1, 1, 2)
    assert torch.dist(found[0, 0], coords[0, 0]).item() < 0.1


def test_masked_mse_ignores_unknown_channels() -> None:
    target, mask, _, _ = _batch()
    pred = torch.zeros_like(target)
    base = masked_mse(pred, target, mask)
    pred[1, 3] = 5.0  # unknown channel: must not count
    assert masked_mse(pred, target, mask).item() == pytest.approx(base.item())
    pred[1, 2] = 0.5  # known-absent channel: must count
    assert masked_mse(pred, target, mask).item() > base.item()
    expected = ((pred - target) ** 2)[mask.bool()].mean()
    assert masked_mse(pred, target, mask).item() == pytest.approx(expected.item())


def test_masked_mse_per_pixel_mask() -> None:
    target, mask, _, _ = _batch()
    pred = torch.rand_like(target)
    pixel = mask[..., None, None].expand_as(target).clone()
    # a per-pixel mask equal to the per-channel one gives the same loss
    assert masked_mse(pred, target, pixel).item() == pytest.approx(masked_mse(pred, target, mask).item())
    # pixels switched off no longer count, whatever the prediction there
    pixel[0, 0, :2] = 0.0
    base = masked_mse(pred, target, pixel)
    pred2 = pred.clone()
    pred2[0, 0, :2] = 9.0
    assert masked_mse(pred2, target, pixel).item() == pytest.approx(base.item())
    expected = ((pred - target) ** 2)[pixel.bool()].mean()
    assert base.item() == pytest.approx(expected.item())


def test_loss_keys_and_perfect_prediction() -> None:
    target, mask, coords, present = _batch()
    loss_fn = HCALoss()
    assert loss_fn.alpha.item() == pytest.approx(0.8)
    out = loss_fn(target, [target, target], target, mask, coords, present)
    assert set(out) == {"total", "heatmap", "skeleton"}
    assert all(v.dim() == 0 and torch.isfinite(v) for v in out.values())
    assert out["heatmap"].item() == pytest.approx(0.0, abs=1e-12)
    assert out["skeleton"].item() < 0.1  # soft-argmax of the exact targets ~ the centres
    bad = loss_fn(torch.roll(target, 3, dims=2), [], target, mask, coords, present)
    assert bad["skeleton"].item() > 1.0
    assert bad["total"].item() == pytest.approx(
        bad["heatmap"].item() + 2e-4 * bad["skeleton"].item(), rel=1e-6
    )


def test_skeleton_terms_by_hand() -> None:
    # One sample, 3 discs; prediction = targets shifted so distances are known.
    coords = torch.tensor([[[4.0, 10.0], [10.0, 10.0], [16.0, 10.0]]])
    present = torch.ones(1, 3, dtype=torch.bool)
    moved = coords.clone()
    moved[0, 2, 0] = 19.0  # last disc 3 px too low
    pred = render_gaussian_targets(moved, present, (24, 20), sigma=1.5)
    loss_fn = HCALoss(beta=0.5, alpha_init=0.5, softmax_scale=40.0)
    total, position, pairwise = loss_fn.skeleton_loss(pred, coords, present)
    assert position.item() == pytest.approx(3.0 / 3, abs=1e-2)
    # pairs (0,1): 0; (0,2): 0.5^2 * 3^2; (1,2): 0.5 * 3^2; mean over 3 pairs
    assert pairwise.item() == pytest.approx((0.25 * 9 + 0.5 * 9) / 3, abs=5e-2)
    assert total.item() == pytest.approx(0.5 * position.item() + 0.5 * pairwise.item())


def test_no_present_disc_gives_zero_skeleton() -> None:
    pred = torch.rand(1, 2, 8, 8, requires_grad=True)
    present = torch.zeros(1, 2, dtype=torch.bool)
    coords = torch.full((1, 2, 2), float("nan"))
    out = HCALoss()(pred, [], torch.zeros(1, 2, 8, 8), torch.ones(1, 2), coords, present)
    assert out["skeleton"].item() == 0.0
    out["total"].backward()
    assert torch.isfinite(pred.grad).all()


def test_skeleton_gradient_reaches_network_and_alpha() -> None:
    torch.manual_seed(0)
    model = HCANet(TINY).train()
    loss_fn = HCALoss(lambda_sk=1.0)
    x = torch.rand(2, 1, 32, 32)
    merged, inter = model.forward_all(x)
    target, mask, coords, present = _batch(*merged.shape[-2:])
    coords = coords.clone()
    coords[0, :, 0] += 1.0  # keep the targets away from the (uniform) prediction's mean
    out = loss_fn(merged, inter, target, mask, coords, present)
    out["skeleton"].backward()
    stem_conv = model.stem[0][0]
    assert isinstance(stem_conv, torch.nn.Conv2d)
    assert stem_conv.weight.grad is not None and stem_conv.weight.grad.abs().sum() > 0
    assert loss_fn.alpha_raw.grad is not None and loss_fn.alpha_raw.grad.abs() > 0


def test_rmsprop_steps_reduce_total_loss() -> None:
    torch.manual_seed(0)
    model = HCANet(TINY).train()
    loss_fn = HCALoss()
    optimiser = torch.optim.RMSprop(
        list(model.parameters()) + list(loss_fn.parameters()), lr=1e-3
    )
    x = torch.rand(2, 1, 32, 32)
    target, mask, coords, present = _batch(16, 16)
    losses = []
    for _ in range(15):
        optimiser.zero_grad()
        merged, inter = model.forward_all(x)
        out = loss_fn(merged, inter, target, mask, coords, present)
        out["total"].backward()
        optimiser.step()
        losses.append(out["total"].item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.5 * losses[0], losses


def test_shape_mismatch_is_a_value_error() -> None:
    target, mask, coords, present = _batch()
    with pytest.raises(ValueError, match="coords"):
        HCALoss()(target, [], target, mask, coords[:, :3], present)
    with pytest.raises(ValueError, match="intermediates"):
        HCALoss()(target, [target[:, :3]], target, mask, coords, present)
