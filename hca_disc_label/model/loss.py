"""HCA-Net training loss ``L = L_v + lambda * L_sk`` with a differentiable skeleton term.

Layouts used throughout (heatmap frame, see docs/ARCHITECTURE.md):

* heatmaps ``(B, V, h, w)`` float, channel k = one anatomical disc;
* ``coords`` ``(B, V, 2)`` float ``(row, col)`` in **heatmap pixels**; pixel ``(i, j)``
  has its centre at ``(i, j)``;
* ``present`` ``(B, V)`` bool: the disc is in the image with a known position;
* ``mask`` ``(B, V)`` or ``(B, V, h, w)`` float in {0, 1}: the channel's target is known
  (present, or known to be absent -> all-zero target), per channel or per pixel; unknown
  channels/pixels are left out of the MSE.

The paper's skeleton loss (SPEC section 4) softmaxes each channel, draws T samples
and averages them into a prototype position. The public code builds it from argmax
samples, so it carries no gradient. Here the prototype is the **expectation** of the
pixel coordinates under the softmax (soft-argmax): the limit of the sample mean as
T -> infinity, exact and differentiable with respect to the network output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["HCALoss", "masked_mse", "render_gaussian_targets", "soft_argmax"]

_EPS = 1e-8  # inside square roots: keeps the gradient of a zero distance finite


def render_gaussian_targets(
    coords: torch.Tensor,
    present: torch.Tensor,
    shape: tuple[int, int],
    sigma: float,
) -> torch.Tensor:
    """Render Gaussian target heatmaps, peak 1 at each present disc.

    Args:
        coords: ``(B, V, 2)`` float ``(row, col)`` of each disc in heatmap pixels
            (values of absent discs are ignored and may be NaN).
        present: ``(B, V)`` bool, disc present with a known position.
        shape: ``(h, w)`` of the heatmaps.
        sigma: standard deviation of the Gaussian in heatmap pixels.

    Returns:
        ``(B, V, h, w)`` float tensor (dtype of ``coords`` if floating, else float32):
        ``exp(-d^2 / (2 sigma^2))`` with ``d`` the distance to the disc centre, all
        zeros in channels whose disc is not present.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    dtype = coords.dtype if coords.is_floating_point() else torch.float32
    present = present.to(torch.bool)
    centres = torch.where(present[..., None], coords.to(dtype), torch.zeros((), dtype=dtype,
                                                                            device=coords.device))
    h, w = int(shape[0]), int(shape[1])
    rows = torch.arange(h, dtype=dtype, device=coords.device)
    cols = torch.arange(w, dtype=dtype, device=coords.device)
    # Separable: exp(-(dr^2 + dc^2) / 2s^2) = exp(-dr^2 / 2s^2) * exp(-dc^2 / 2s^2).
    g_rows = torch.exp(-((rows - centres[..., 0:1]) ** 2) / (2.0 * sigma**2))  # (B, V, h)
    g_cols = torch.exp(-((cols - centres[..., 1:2]) ** 2) / (2.0 * sigma**2))  # (B, V, w)
    maps = g_rows[..., :, None] * g_cols[..., None, :]
    return maps * present[..., None, None].to(dtype)


def soft_argmax(heatmaps: torch.Tensor, scale: float = 20.0) -> torch.Tensor:
    """Differentiable peak position of each channel.

    Each channel is turned into a probability map ``softmax(scale * heatmap)`` over
    its ``h * w`` pixels and the expected pixel coordinates are returned. ``scale``
    is an inverse temperature: with peak-1 Gaussian maps, 20 makes the distribution
    concentrate on the peak (e^20 >> number of background pixels).

    Args:
        heatmaps: ``(B, V, h, w)`` float.
        scale: multiplier applied before the softmax.

    Returns:
        ``(B, V, 2)`` float32 ``(row, col)`` in heatmap pixels.
    """
    b, v, h, w = heatmaps.shape
    # float32 even under autocast: the softmax of scaled logits overflows in fp16.
    logits = heatmaps.float().reshape(b, v, h * w) * scale
    prob = torch.softmax(logits, dim=-1).reshape(b, v, h, w)
    rows = torch.arange(h, dtype=prob.dtype, device=prob.device)
    cols = torch.arange(w, dtype=prob.dtype, device=prob.device)
    row = (prob.sum(dim=3) * rows).sum(dim=-1)
    col = (prob.sum(dim=2) * cols).sum(dim=-1)
    return torch.stack([row, col], dim=-1)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
               foreground_weight: float = 0.0) -> torch.Tensor:
    """Mean squared error over the pixels of the channels with ``mask == 1``.

    Args:
        pred, target: ``(B, V, h, w)``.
        mask: ``(B, V)`` (per channel) or ``(B, V, h, w)`` (per pixel), in {0, 1}.
        foreground_weight: each pixel's squared error is weighted by
            ``1 + foreground_weight * target``. 0 is the paper's plain MSE; a positive value
            keeps the few peak pixels from being drowned by the background, which otherwise
            makes a small network sit at "predict zero" for thousands of steps.

    Returns:
        0-dim tensor: sum of masked squared errors / number of masked-in pixels
        (0, still attached to the graph, when nothing is masked in).
    """
    m = mask.to(pred.dtype)
    if m.dim() == 2:
        m = m[..., None, None]
    count = m.expand_as(pred).sum()
    err = (pred - target) ** 2
    if foreground_weight:
        err = err * (1.0 + foreground_weight * target)
    sq = (err * m).sum()
    return sq / count.clamp(min=1.0)


def _pairwise_distances(points: torch.Tensor) -> torch.Tensor:
    """``(B, V, 2)`` -> ``(B, V, V)`` Euclidean distances."""
    diff = points[:, :, None, :] - points[:, None, :, :]
    return torch.sqrt((diff**2).sum(dim=-1) + _EPS)


class HCALoss(nn.Module):
    """``L = L_v + lambda_sk * L_sk`` (SPEC section 4).

    * ``L_v``: masked MSE of the merged map plus ``intermediate_weight`` times the
      masked MSE of each stack's prediction (deep supervision, summed over stacks).
    * ``L_sk = beta * mean_j ||V_j - V_GT_j|| + (1 - beta) * PD`` on the merged map,
      with ``V_j`` the soft-argmax of channel j (see module docstring) and
      ``PD = mean over pairs c < k of present discs in a sample of
      alpha^(k - c) * (D(V, c, k) - D(V_GT, c, k))^2`` (D: Euclidean distance).
      Distances are in heatmap pixels.

    ``alpha`` is learnable and kept in (0, 1) as the sigmoid of a raw parameter, so
    the loss has parameters of its own: add ``loss.parameters()`` to the optimiser.
    As in the paper, minimising over alpha shrinks it whenever PD > 0 (every term
    grows with alpha); the sigmoid keeps it from leaving (0, 1).

    Args:
        lambda_sk: weight of the skeleton loss (paper 2e-4).
        beta: balance between the position and the pairwise-distance terms (paper 0.75).
        alpha_init: initial alpha, in (0, 1) (paper 0.8).
        intermediate_weight: weight of each intermediate prediction's MSE.
        softmax_scale: inverse temperature of the soft-argmax (see :func:`soft_argmax`).
        foreground_weight: peak-pixel weight of the heatmap MSE (see :func:`masked_mse`;
            0 = the paper's plain MSE).
    """

    def __init__(
        self,
        lambda_sk: float = 2e-4,
        beta: float = 0.75,
        alpha_init: float = 0.8,
        intermediate_weight: float = 1.0,
        softmax_scale: float = 20.0,
        foreground_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 < alpha_init < 1.0:
            raise ValueError(f"alpha_init must be in (0, 1), got {alpha_init}")
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {beta}")
        self.lambda_sk = float(lambda_sk)
        self.beta = float(beta)
        self.intermediate_weight = float(intermediate_weight)
        self.softmax_scale = float(softmax_scale)
        self.foreground_weight = float(foreground_weight)
        self.alpha_raw = nn.Parameter(torch.tensor(math.log(alpha_init / (1.0 - alpha_init))))

    @property
    def alpha(self) -> torch.Tensor:
        """Current alpha in (0, 1) (0-dim tensor, attached to the graph)."""
        return torch.sigmoid(self.alpha_raw)

    def skeleton_loss(
        self, merged: torch.Tensor, coords: torch.Tensor, present: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Skeleton loss and its two terms.

        Args:
            merged: ``(B, V, h, w)`` predicted heatmaps.
            coords: ``(B, V, 2)`` ground-truth ``(row, col)`` in heatmap pixels.
            present: ``(B, V)`` bool.

        Returns:
            ``(L_sk, position_term, pairwise_term)``, 0-dim float32 tensors; all zero
            (but attached to the graph) when no disc is present.
        """
        pres = present.to(torch.bool)
        zero = merged.float().sum() * 0.0
        n_present = pres.sum()
        if int(n_present) == 0:
            return zero, zero, zero
        pred = soft_argmax(merged, self.softmax_scale)
        # Absent discs may carry NaN coordinates; NaN * 0 would still poison sums.
        gt = torch.where(pres[..., None], coords.to(pred.dtype), torch.zeros_like(pred))
        pred = torch.where(pres[..., None], pred, torch.zeros_like(pred))

        dist = torch.sqrt(((pred - gt) ** 2).sum(dim=-1) + _EPS)
        position = (dist * pres).sum() / n_present

        v = merged.shape[1]
        idx = torch.arange(v, device=merged.device)
        gap = idx[None, :] - idx[:, None]  # [c, k] -> k - c
        pairs = pres[:, :, None] & pres[:, None, :] & (gap > 0)
        n_pairs = pairs.sum()
        if int(n_pairs) == 0:
            pairwise = zero
        else:
            weights = self.alpha.to(pred.dtype) ** gap.clamp(min=1).to(pred.dtype)
            diff = _pairwise_distances(pred) - _pairwise_distances(gt)
            pairwise = (weights * diff**2 * pairs).sum() / n_pairs
        total = self.beta * position + (1.0 - self.beta) * pairwise
        return total, position, pairwise

    def forward(
        self,
        merged: torch.Tensor,
        intermediates: Sequence[torch.Tensor] | None,
        target: torch.Tensor,
        mask: torch.Tensor,
        coords: torch.Tensor,
        present: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Compute the loss.

        Args:
            merged: ``(B, V, h, w)`` merged prediction.
            intermediates: per-stack predictions, each ``(B, V, h, w)`` (may be empty).
            target: ``(B, V, h, w)`` Gaussian targets (see :func:`render_gaussian_targets`).
            mask: ``(B, V)`` or ``(B, V, h, w)`` float in {0, 1}: where the target is known.
            coords: ``(B, V, 2)`` ``(row, col)`` in heatmap pixels.
            present: ``(B, V)`` bool, disc present with a known position.

        Returns:
            ``{"total", "heatmap", "skeleton"}``: 0-dim tensors, ``total = heatmap +
            lambda_sk * skeleton``.
        """
        intermediates = list(intermediates or [])
        b, v = merged.shape[:2]
        for name, t in [("target", target)] + [(f"intermediates[{i}]", p)
                                                 for i, p in enumerate(intermediates)]:
            if t.shape != merged.shape:
                raise ValueError(f"{name} shape {tuple(t.shape)} != merged {tuple(merged.shape)}")
        if mask.shape not in ((b, v), merged.shape) or present.shape != (b, v) or coords.shape != (b, v, 2):
            raise ValueError(
                f"expected mask (B, V) or (B, V, h, w), present (B, V) = {(b, v)} and coords (B, V, 2); got mask "
                f"{tuple(mask.shape)}, present {tuple(present.shape)}, coords {tuple(coords.shape)}"
            )
        fg = self.foreground_weight
        heatmap = masked_mse(merged, target, mask, fg)
        for pred in intermediates:
            heatmap = heatmap + self.intermediate_weight * masked_mse(pred, target, mask, fg)
        skeleton, _, _ = self.skeleton_loss(merged, coords, present)
        total = heatmap + self.lambda_sk * skeleton
        return {"total": total, "heatmap": heatmap, "skeleton": skeleton}
