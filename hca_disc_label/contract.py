"""The model's input contract as one typed object, its defaults defined here only.

``model.json["input"]`` (docs/ARCHITECTURE.md) says how an image must be prepared for a model:
pixel spacing, slab thickness, normalisation percentiles, padding multiple, output stride.
:class:`InputContract` reads it once; every caller (labeller, benchmarks, trainer validation,
tests) prepares slabs through :meth:`InputContract.prepare`, so no one types the chain
``contract -> prepare_slab`` again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:  # no numpy import for model-card readers (hca_label models ...)
    import numpy as np

DEFAULT_SLAB_THICKNESS_MM = 6.0
"""Slab averaged around the mid-sagittal slice when the card does not say (mm)."""
DEFAULT_LOW_PERCENTILE = 1.0
DEFAULT_HIGH_PERCENTILE = 99.5
DEFAULT_NORMALISATION = "percentile"
DEFAULT_HEATMAP_SIGMA_PX = 1.0


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
    """

    pixel_spacing_mm: float
    size_multiple: int
    output_stride: int
    slab_thickness_mm: float = DEFAULT_SLAB_THICKNESS_MM
    low_percentile: float = DEFAULT_LOW_PERCENTILE
    high_percentile: float = DEFAULT_HIGH_PERCENTILE
    normalisation: str = DEFAULT_NORMALISATION
    heatmap_sigma_px: float = DEFAULT_HEATMAP_SIGMA_PX

    @classmethod
    def from_mapping(cls, contract: Mapping) -> "InputContract":
        """Build from ``model.json["input"]`` (missing optional keys take the defaults).

        Raises:
            KeyError / ValueError: a required key is missing or not a number (cards are
                validated by the registry before they get here).
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
        )

    def to_dict(self) -> dict:
        """The card form (``model.json["input"]``)."""
        return asdict(self)

    def with_slab(self, slab_thickness_mm: float | None) -> "InputContract":
        """A copy with another slab thickness (None keeps this one)."""
        return self if slab_thickness_mm is None else replace(self, slab_thickness_mm=float(slab_thickness_mm))

    def prepare(self, vol: np.ndarray, zooms: tuple[float, float, float], x_center: int | None = None,
                size_multiple: int | None = None):
        """The network input of a canonical volume (:func:`~hca_disc_label.preprocessing.prepare_slab`).

        Args:
            vol: canonical volume ``(X, Y, Z)`` (L-A-S), any float dtype.
            zooms: canonical voxel sizes (mm).
            x_center: forced centre slice (canonical x), None = found by symmetry.
            size_multiple: override the padding multiple (1 = no padding, for training crops).

        Returns:
            A :class:`~hca_disc_label.preprocessing.PreparedSlab`.
        """
        from hca_disc_label.preprocessing import prepare_slab

        return prepare_slab(
            vol, zooms, spacing_mm=self.pixel_spacing_mm,
            size_multiple=self.size_multiple if size_multiple is None else int(size_multiple),
            slab_thickness_mm=self.slab_thickness_mm, x_center=x_center,
            low_percentile=self.low_percentile, high_percentile=self.high_percentile,
        )
