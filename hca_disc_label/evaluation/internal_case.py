"""The internal benchmark sets' names, stream numbers and case type (see :mod:`.internal_sets`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SYNTHETIC_SETS: tuple[str, ...] = ("syn:s1s2-remnant", "syn:lumbar-sacrum-edge", "syn:lumbar-above-sacrum",
                                   "syn:cervical-full", "syn:crop-from-c2", "syn:crop-below-c2",
                                   "syn:coronal-curve")
REAL_SETS: tuple[str, ...] = ("real:bids-train-crops",)
SET_NAMES: tuple[str, ...] = SYNTHETIC_SETS + REAL_SETS
"""All internal set names, in report order."""

SET_CODES: dict[str, int] = {"syn:s1s2-remnant": 11_001, "syn:lumbar-sacrum-edge": 11_002,
                             "syn:cervical-full": 11_003, "syn:crop-from-c2": 11_004,
                             "real:bids-train-crops": 11_005, "syn:lumbar-above-sacrum": 11_006,
                             "syn:crop-below-c2": 11_007, "syn:coronal-curve": 11_008}
"""Fixed stream number of each set in the seed sequence (never reuse one)."""

MAX_ATTEMPTS = 50
"""Draws of a case before giving up on its set's defining property."""


@dataclass
class InternalCase:
    """One benchmark image; unpacks as ``(set_name, case_id, image, discs)``.

    Attributes:
        set_name: one of :data:`SET_NAMES`.
        case_id: unique within the set (stable for a seed).
        image: ``(H, W)`` float32 in [0, 1], model frame, model pixel spacing; ``(C, H, W)``
            for a model with lateral input channels (``input.channel_offsets_mm``).
        discs: SCT value -> (row, col) model px of the discs inside the image.
        meta: set-defining geometry in model px / mm (see each generator).
    """

    set_name: str
    case_id: str
    image: np.ndarray
    discs: dict[int, tuple[float, float]]
    meta: dict = field(default_factory=dict)

    def __iter__(self):
        return iter((self.set_name, self.case_id, self.image, self.discs))
