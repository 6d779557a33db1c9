"""HCA-Net ensemble: K networks of one architecture whose heatmaps are averaged.

Members are trained with the same recipe (same :class:`~.hca_net.ModelConfig`, input contract
and channel values; different seeds). Averaging their merged heatmaps is one network to every
caller: the same input ``(B, C, H, W)`` float32 in the model frame and the same output
``(B, V, H/s, W/s)`` (channel k = SCT value ``channel_values[k]``, peak ~1), so backends, the
ONNX export and the decoder run it unchanged. A card marks it with ``architecture["ensemble"]
= K`` (:func:`hca_disc_label.model.build.ensemble_size`); its state dict holds
``members.<k>.<HCANet key>``.
"""

from __future__ import annotations

import torch
from torch import nn

from hca_disc_label.model.hca_net import ConfigGeometry, HCANet, ModelConfig

__all__ = ["HCAEnsemble"]


class HCAEnsemble(ConfigGeometry, nn.Module):
    """K :class:`HCANet` members of one config; ``forward`` is the mean of their heatmaps.

    Args:
        config: every member's architecture.
        size: K, the number of members (>= 2).

    Raises:
        ValueError: ``size`` is not an integer >= 2.
    """

    def __init__(self, config: ModelConfig, size: int) -> None:
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, int) or size < 2:
            raise ValueError(f"an ensemble needs an integer number of members >= 2, got {size!r}")
        self.config = config
        self.members = nn.ModuleList(HCANet(config) for _ in range(size))

    @property
    def size(self) -> int:
        """K, the number of member networks."""
        return len(self.members)

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Every member on ``x``, averaged.

        Args:
            x: ``(B, in_channels, H, W)`` float image, H and W multiples of :attr:`size_multiple`.

        Returns:
            ``(merged, intermediates)``: the mean of the members' merged heatmaps
            ``(B, V, H/s, W/s)`` and, per stack, the mean of the members' predictions of that
            stack (same shape each).
        """
        merged_sum: torch.Tensor | None = None
        stack_sums: list[torch.Tensor] = []
        for member in self.members:
            merged, predictions = member.forward_all(x)
            merged_sum = merged if merged_sum is None else merged_sum + merged
            stack_sums = list(predictions) if not stack_sums else [a + b for a, b in zip(stack_sums, predictions)]
        scale = 1.0 / self.size
        assert merged_sum is not None
        return merged_sum * scale, [p * scale for p in stack_sums]

    def forward(self, x: torch.Tensor, all_outputs: bool = False):
        """Mean merged heatmaps ``(B, V, H/s, W/s)``, as :meth:`HCANet.forward`
        (``all_outputs=True``: :meth:`forward_all`'s tuple)."""
        if all_outputs:
            return self.forward_all(x)
        return self.forward_all(x)[0]
