"""The model's input contract as one typed object (pure data), its defaults and its checks
defined here only.

``model.json["input"]`` (docs/ARCHITECTURE.md) says how an image must be prepared for a model:
pixel spacing, slab thickness, normalisation percentiles, padding multiple, output stride, and the
lateral offsets of its input channels' slabs.
:func:`check_input_contract` says whether a card's mapping is one; :class:`InputContract` reads
it once. Preparing an image is :func:`hca_disc_label.preprocessing.prepare_input`, which takes
the contract (this module imports nothing of the package).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping

DEFAULT_SLAB_THICKNESS_MM = 6.0
"""Slab averaged around the mid-sagittal slice when the card does not say (mm)."""
DEFAULT_LOW_PERCENTILE = 1.0
DEFAULT_HIGH_PERCENTILE = 99.5
DEFAULT_NORMALISATION = "percentile"
DEFAULT_HEATMAP_SIGMA_PX = 1.0
DEFAULT_CHANNEL_OFFSETS_MM: tuple[float, ...] = (0.0,)
"""One input channel: the slab around the mid-sagittal slice (lateral offset 0 mm)."""


def is_positive(value: Any, integer: bool) -> bool:
    """A positive JSON number (an integer >= 1 where ``integer``); booleans are not numbers.
    The one such check of model cards (their input contract here, file sizes in weights.card)."""
    if isinstance(value, bool):
        return False
    if integer:
        return isinstance(value, int) and value >= 1
    return isinstance(value, (int, float)) and value > 0


def check_input_contract(contract: Any, where: str) -> None:
    """Check a card's ``input`` mapping (required keys positive, percentiles ordered in [0, 100]).

    Raises:
        ValueError: naming ``where`` (the card) and the key at fault.
    """
    if not isinstance(contract, dict):
        raise ValueError(f"{where}: input must be an object")
    for key, integer in (("pixel_spacing_mm", False), ("size_multiple", True), ("output_stride", True)):
        if not is_positive(contract.get(key), integer):
            kind = "positive integer" if integer else "positive number"
            raise ValueError(f"{where}: input.{key} must be a {kind}")
    for key in ("slab_thickness_mm", "heatmap_sigma_px"):
        if key in contract and not is_positive(contract[key], False):
            raise ValueError(f"{where}: input.{key} must be a positive number")
    if "normalisation" in contract and not isinstance(contract["normalisation"], str):
        raise ValueError(f"{where}: input.normalisation must be a string")
    low, high = contract.get("low_percentile"), contract.get("high_percentile")
    if low is not None or high is not None:
        ok = all(isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 100 for p in (low, high))
        if not ok or low >= high:
            raise ValueError(f"{where}: input low_percentile/high_percentile must satisfy 0 <= low < high <= 100")
    if "channel_offsets_mm" in contract:
        check_channel_offsets(contract["channel_offsets_mm"], f"{where}: input.channel_offsets_mm")


def check_channel_offsets(offsets: Any, where: str) -> tuple[float, ...]:
    """Check lateral channel offsets (mm): a non-empty list of distinct finite numbers, one of
    them 0 (the centre channel: geometry, normalisation and QC come from it); returned as floats.

    Raises:
        ValueError: naming ``where``.
    """
    ok = isinstance(offsets, (list, tuple)) and len(offsets) > 0 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in offsets)
    if not ok:
        raise ValueError(f"{where} must be a non-empty list of numbers (mm)")
    values = tuple(float(v) for v in offsets)
    if len(set(values)) != len(values) or 0.0 not in values:
        raise ValueError(f"{where} must be distinct and include 0 (the mid-sagittal channel), got {list(values)}")
    return values


def centre_channel(offsets: tuple[float, ...]) -> int:
    """Index of the mid-sagittal channel (offset 0) among checked channel offsets."""
    return list(offsets).index(0.0)


@dataclass(frozen=True)
class InputContract:
    """How an image is turned into a network input (and heatmaps back into positions).

    Attributes:
        pixel_spacing_mm: model-frame pixel size (mm/px, isotropic).
        size_multiple: H and W are zero-padded (bottom/right) to a multiple of this.
        output_stride: heatmap pixels are this many model pixels.
        slab_thickness_mm: thickness of the averaged mid-sagittal slab (mm).
        low_percentile, high_percentile: intensity normalisation (percentiles of the slab's
            non-zero voxels mapped to 0 and 1, then clipped).
        normalisation: the normalisation name ("percentile").
        heatmap_sigma_px: Gaussian sigma of the training heatmaps (heatmap pixels).
        channel_offsets_mm: lateral offset (mm, canonical +x = towards the subject's left) of
            each input channel's slab centre from the mid-sagittal slice; one channel per
            offset, 0 among them (:func:`check_channel_offsets`). ``(0.0,)`` = the one-channel
            input ``(H, W)``; more give ``(C, H, W)``.
    """

    pixel_spacing_mm: float
    size_multiple: int
    output_stride: int
    slab_thickness_mm: float = DEFAULT_SLAB_THICKNESS_MM
    low_percentile: float = DEFAULT_LOW_PERCENTILE
    high_percentile: float = DEFAULT_HIGH_PERCENTILE
    normalisation: str = DEFAULT_NORMALISATION
    heatmap_sigma_px: float = DEFAULT_HEATMAP_SIGMA_PX
    channel_offsets_mm: tuple[float, ...] = DEFAULT_CHANNEL_OFFSETS_MM

    @classmethod
    def from_mapping(cls, contract: Mapping) -> "InputContract":
        """Build from ``model.json["input"]`` (missing optional keys take the defaults).

        Raises:
            KeyError / ValueError: a required key is missing or not a number (cards are
                checked by :func:`check_input_contract` when the registry loads them).
        """
        c = dict(contract)
        return cls(
            pixel_spacing_mm=float(c["pixel_spacing_mm"]),
            size_multiple=int(c["size_multiple"]),
            output_stride=int(c["output_stride"]),
            slab_thickness_mm=float(c.get("slab_thickness_mm") or DEFAULT_SLAB_THICKNESS_MM),
            low_percentile=float(c.get("low_percentile", DEFAULT_LOW_PERCENTILE)),
            high_percentile=float(c.get("high_percentile", DEFAULT_HIGH_PERCENTILE)),
            normalisation=str(c.get("normalisation", DEFAULT_NORMALISATION)),
            heatmap_sigma_px=float(c.get("heatmap_sigma_px", DEFAULT_HEATMAP_SIGMA_PX)),
            channel_offsets_mm=tuple(float(v) for v in c.get("channel_offsets_mm", DEFAULT_CHANNEL_OFFSETS_MM)),
        )

    @property
    def channels(self) -> int:
        """Number of input channels (C)."""
        return len(self.channel_offsets_mm)

    @property
    def centre_channel(self) -> int:
        """Index of the mid-sagittal channel (:func:`centre_channel`)."""
        return centre_channel(self.channel_offsets_mm)

    def to_dict(self) -> dict:
        """The card form (``model.json["input"]``)."""
        card = asdict(self)
        card["channel_offsets_mm"] = list(self.channel_offsets_mm)
        return card

    def with_slab(self, slab_thickness_mm: float | None) -> "InputContract":
        """A copy with another slab thickness (None keeps this one)."""
        return self if slab_thickness_mm is None else replace(self, slab_thickness_mm=float(slab_thickness_mm))
