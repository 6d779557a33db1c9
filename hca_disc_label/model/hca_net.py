"""HCA-Net: stacked hourglasses with multi-scale large-kernel attention (M-LKA).

Bozorgpour et al., "HCA-Net: Hierarchical Context Attention Network for
Intervertebral Disc Semantic Labeling", ISBI 2024. Written from the paper's
description (SPEC section 4); the sizes of :data:`PAPER_CONFIG` mirror the
authors' public configuration (stem to 128 channels, 2 stacks, 1 residual per
stage, hourglass depth 4, output at 1/4 of the input).

Layouts (see docs/ARCHITECTURE.md, "Network contract"):

* input ``(B, in_channels, H, W)`` float32 in the model 2D frame (row -> inferior,
  col -> posterior), intensities normalised to [0, 1]; ``H`` and ``W`` multiples of
  :attr:`HCANet.size_multiple`;
* output ``(B, V, H / s, W / s)`` with ``s = output_stride = stem_stride``; channel k
  is a fixed anatomical disc, target values are Gaussian heatmaps with peak 1
  (no softmax / sigmoid at the end).

Only ONNX-friendly operators are used (Conv2d, BatchNorm2d, ReLU, MaxPool2d,
nearest ``F.interpolate(scale_factor=2)``, add, mul, cat, sigmoid) so the network
exports with dynamic height and width.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "COMPACT_CONFIG",
    "HCANet",
    "ModelConfig",
    "PAPER_CONFIG",
    "count_parameters",
]

_STEM_STRIDES = (1, 2, 4)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyper-parameters of :class:`HCANet` (stored in model cards).

    Attributes:
        in_channels: image channels of the input (1 for a single MRI contrast).
        num_classes: V, number of heatmap channels (one per anatomical disc).
        width: feature channels carried through the hourglasses (even).
        num_stacks: N, number of stacked HCA blocks (each emits a prediction).
        depth: number of 2x poolings inside each hourglass.
        stem_stride: total downsampling of the stem (1, 2 or 4); equals the
            output stride of the heatmaps.
        mlka_kernel: kernel size of the first depth-wise conv of M-LKA (odd).
        mlka_branches: ``(kernel, dilation)`` of the parallel depth-wise dilated
            convs of M-LKA (odd kernels).
        blocks_per_stack: residual modules per hourglass stage and after it.
    """

    in_channels: int = 1
    num_classes: int = 24
    width: int = 128
    num_stacks: int = 2
    depth: int = 4
    stem_stride: int = 4
    mlka_kernel: int = 5
    mlka_branches: tuple[tuple[int, int], ...] = field(
        default_factory=lambda: ((3, 1), (5, 2), (7, 3))
    )
    blocks_per_stack: int = 1

    def __post_init__(self) -> None:
        # Lists come back from JSON; store tuples so configs compare and hash.
        branches = tuple(tuple(int(v) for v in b) for b in self.mlka_branches)
        object.__setattr__(self, "mlka_branches", branches)
        self._validate()

    def _validate(self) -> None:
        def positive(name: str) -> None:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ModelConfig.{name} must be a positive integer, got {value!r}")

        for name in ("in_channels", "num_classes", "width", "num_stacks", "depth",
                     "mlka_kernel", "blocks_per_stack"):
            positive(name)
        if self.width % 2:
            raise ValueError(f"ModelConfig.width must be even, got {self.width}")
        if self.stem_stride not in _STEM_STRIDES:
            raise ValueError(
                f"ModelConfig.stem_stride must be one of {_STEM_STRIDES}, got {self.stem_stride!r}"
            )
        if self.mlka_kernel % 2 == 0:
            raise ValueError(f"ModelConfig.mlka_kernel must be odd, got {self.mlka_kernel}")
        if not self.mlka_branches:
            raise ValueError("ModelConfig.mlka_branches must list at least one (kernel, dilation)")
        for branch in self.mlka_branches:
            if len(branch) != 2 or branch[0] < 1 or branch[0] % 2 == 0 or branch[1] < 1:
                raise ValueError(
                    "ModelConfig.mlka_branches entries must be (odd kernel >= 1, dilation >= 1), "
                    f"got {branch!r}"
                )

    @property
    def output_stride(self) -> int:
        """Input pixels per heatmap pixel along each axis."""
        return self.stem_stride

    @property
    def size_multiple(self) -> int:
        """H and W of the input must be multiples of this."""
        return self.stem_stride * 2**self.depth

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples become lists) for model cards."""
        out = dataclasses.asdict(self)
        out["mlka_branches"] = [list(b) for b in self.mlka_branches]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; missing keys take the defaults.

        Raises:
            ValueError: on unknown keys or invalid values.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig keys: {', '.join(unknown)}")
        return cls(**data)


PAPER_CONFIG = ModelConfig(
    in_channels=1, num_classes=24, width=128, num_stacks=2, depth=4, stem_stride=4,
    mlka_kernel=5, mlka_branches=((3, 1), (5, 2), (7, 3)), blocks_per_stack=1,
)
"""Paper-size network (official layout: 256x256 in -> 64x64 out) with V = 24 discs."""

COMPACT_CONFIG = ModelConfig(
    in_channels=1, num_classes=24, width=64, num_stacks=2, depth=4, stem_stride=4,
    mlka_kernel=5, mlka_branches=((3, 1), (5, 2), (7, 3)), blocks_per_stack=1,
)
"""Small network that trains on a 2-core CPU: the paper layout at half the width.

CPU cost scales with (heatmap pixels) x width^2, so halving the width (about 1/4 of
the parameters and of the compute) is cheaper than keeping stride 2, which at width
64 costs as much per step as the paper network.
"""


def count_parameters(model: nn.Module) -> int:
    """Total number of parameter elements of ``model`` (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


class Residual(nn.Module):
    """Pre-activation bottleneck residual module (Newell et al. 2016).

    BN-ReLU-conv1x1 -> BN-ReLU-conv3x3 -> BN-ReLU-conv1x1 with half the output
    channels in the bottleneck; a 1x1 conv projects the skip when channels change.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        mid = out_ch // 2
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_ch), nn.ReLU(inplace=True),
            nn.Conv2d(in_ch, mid, 1, bias=False),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_ch, 1),
        )
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # body's first ReLU is in-place on a BN output, never on x itself.
        return self.skip(x) + self.body(x)


def _residuals(channels: int, count: int) -> nn.Sequential:
    return nn.Sequential(*[Residual(channels, channels) for _ in range(count)])


class Hourglass(nn.Module):
    """Recursive residual hourglass: ``depth`` 2x poolings with a skip branch per scale."""

    def __init__(self, channels: int, depth: int, blocks: int) -> None:
        super().__init__()
        self.skip = _residuals(channels, blocks)
        self.down = _residuals(channels, blocks)
        self.inner: nn.Module = (
            Hourglass(channels, depth - 1, blocks) if depth > 1 else _residuals(channels, blocks)
        )
        self.up = _residuals(channels, blocks)
        self.pool = nn.MaxPool2d(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.up(self.inner(self.down(self.pool(x))))
        return self.skip(x) + F.interpolate(low, scale_factor=2.0, mode="nearest")


class MLKA(nn.Module):
    """Multi-scale large-kernel attention.

    depth-wise conv (``kernel``) -> parallel depth-wise dilated convs (one per
    ``(kernel, dilation)`` branch) -> concatenate -> 1x1 conv -> sigmoid = attention
    map, multiplied element-wise with the module's input. The sigmoid keeps the gate
    in (0, 1), which trains more stably than the unbounded linear gate of LKA.
    """

    def __init__(self, channels: int, kernel: int, branches: tuple[tuple[int, int], ...]) -> None:
        super().__init__()
        self.local = nn.Conv2d(channels, channels, kernel, padding=kernel // 2, groups=channels)
        self.branches = nn.ModuleList(
            nn.Conv2d(channels, channels, k, padding=d * (k // 2), dilation=d, groups=channels)
            for k, d in branches
        )
        self.mix = nn.Conv2d(channels * len(branches), channels, 1)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Attention map in (0, 1), same shape as ``x``."""
        local = self.local(x)
        multi = torch.cat([branch(local) for branch in self.branches], dim=1)
        return torch.sigmoid(self.mix(multi))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(x)


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class HCABlock(nn.Module):
    """One stack: hourglass -> residuals -> 1x1 conv-BN-ReLU -> M-LKA -> prediction."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c = config.width
        self.hourglass = Hourglass(c, config.depth, config.blocks_per_stack)
        self.post = _residuals(c, config.blocks_per_stack)
        self.fc = _conv_bn_relu(c, c)
        self.mlka = MLKA(c, config.mlka_kernel, config.mlka_branches)
        self.head = nn.Conv2d(c, config.num_classes, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(features (B, width, h, w), prediction (B, V, h, w))``."""
        features = self.mlka(self.fc(self.post(self.hourglass(x))))
        return features, self.head(features)


class ConfigGeometry:
    """``size_multiple`` and ``output_stride`` read from ``self.config`` (a :class:`ModelConfig`):
    what callers of a network (training, the ONNX export) need of its input and output grid,
    for one network and for an ensemble of them alike."""

    config: ModelConfig

    @property
    def size_multiple(self) -> int:
        """H and W of the input must be multiples of this (stem_stride * 2**depth)."""
        return self.config.size_multiple

    @property
    def output_stride(self) -> int:
        """Input pixels per heatmap pixel (= stem_stride)."""
        return self.config.output_stride


class HCANet(ConfigGeometry, nn.Module):
    """HCA-Net: stem -> N stacked HCA blocks -> 1x1 merge of the N predictions.

    Args:
        config: architecture; defaults to :data:`PAPER_CONFIG`.
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else PAPER_CONFIG
        cfg = self.config
        self.stem = self._make_stem(cfg)
        self.blocks = nn.ModuleList(HCABlock(cfg) for _ in range(cfg.num_stacks))
        # Re-injection between stacks (Newell): next input = x + map(features) + map(prediction).
        self.feature_back = nn.ModuleList(
            nn.Conv2d(cfg.width, cfg.width, 1) for _ in range(cfg.num_stacks - 1)
        )
        self.prediction_back = nn.ModuleList(
            nn.Conv2d(cfg.num_classes, cfg.width, 1) for _ in range(cfg.num_stacks - 1)
        )
        self.merge = nn.Conv2d(cfg.num_classes * cfg.num_stacks, cfg.num_classes, 1)
        self._init_merge_as_mean()

    @staticmethod
    def _make_stem(cfg: ModelConfig) -> nn.Sequential:
        half = cfg.width // 2
        layers: list[nn.Module] = [
            _conv_bn_relu(cfg.in_channels, half, kernel=7, stride=1 if cfg.stem_stride == 1 else 2),
            Residual(half, cfg.width),
        ]
        if cfg.stem_stride == 4:
            layers.append(nn.MaxPool2d(2, 2))
        layers += [Residual(cfg.width, cfg.width), Residual(cfg.width, cfg.width)]
        return nn.Sequential(*layers)

    def _init_merge_as_mean(self) -> None:
        # Start the merge as the per-channel mean of the stacks' predictions so that
        # the merged map is a sensible heatmap from the first step; it stays learnable.
        v, n = self.config.num_classes, self.config.num_stacks
        with torch.no_grad():
            self.merge.weight.zero_()
            self.merge.bias.zero_()
            for s in range(n):
                for k in range(v):
                    self.merge.weight[k, s * v + k, 0, 0] = 1.0 / n

    def _check_input(self, x: torch.Tensor) -> None:
        # Python-side shape checks would freeze (or break) traced/exported graphs with
        # dynamic H and W, so they only run eagerly.
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            return
        if torch.compiler.is_compiling():
            return
        if x.dim() != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"HCANet expects input of shape (B, {self.config.in_channels}, H, W), "
                f"got {tuple(x.shape)}"
            )
        h, w = int(x.shape[2]), int(x.shape[3])
        m = self.size_multiple
        if h % m or w % m:
            raise ValueError(
                f"HCANet input height and width must be multiples of {m} "
                f"(stem_stride {self.config.stem_stride} x 2**depth {2**self.config.depth}); "
                f"got {h}x{w}: pad the image to {-(-h // m) * m}x{-(-w // m) * m}"
            )

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the network and keep every stack's prediction (for deep supervision).

        Args:
            x: ``(B, in_channels, H, W)`` float image, H and W multiples of
                :attr:`size_multiple`.

        Returns:
            ``(merged, intermediates)``: merged heatmaps ``(B, V, H/s, W/s)`` and a list
            of ``num_stacks`` per-stack predictions of the same shape.

        Raises:
            ValueError: wrong number of dimensions/channels or H, W not multiples of
                :attr:`size_multiple` (checked only when not tracing/exporting).
        """
        self._check_input(x)
        features = self.stem(x)
        predictions: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            out, prediction = block(features)
            predictions.append(prediction)
            if i < len(self.feature_back):
                back = self.feature_back[i](out) + self.prediction_back[i](prediction)
                features = features + back
        merged = self.merge(torch.cat(predictions, dim=1))
        return merged, predictions

    def forward(self, x: torch.Tensor, all_outputs: bool = False):
        """Merged heatmaps ``(B, V, H/s, W/s)`` (what inference and ONNX export use).

        With ``all_outputs=True`` returns :meth:`forward_all`'s tuple instead, so training
        through a wrapper that only calls ``forward`` (DistributedDataParallel) gets the
        intermediate predictions too.
        """
        if all_outputs:
            return self.forward_all(x)
        return self.forward_all(x)[0]
