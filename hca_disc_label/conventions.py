"""Spinal Cord Toolbox conventions, defined once for the whole package: the disc values and
names, the frames, the landmarks (file names and suffixes live in :mod:`hca_disc_label.naming`).

Disc labels follow SCT: one non-zero voxel per intervertebral disc, placed at the
posterior tip of the disc, whose value is the number of the vertebra *below* the
disc (2 = C1/C2, 3 = C2/C3, ..., 8 = C7/T1, 9 = T1/T2, ..., 20 = T12/L1,
21 = L1/L2, ..., 25 = L5/S1). Value 1 (top of C1) is never produced; 49/50/60 are
PMG/PMJ/conus in SCT and are never disc values.

Frames used in the package (see docs/ARCHITECTURE.md):

* Canonical 3D frame: nibabel axis codes ``("L", "A", "S")`` (SCT calls it
  "RPI"): ``vol[x, y, z]`` with x increasing toward the subject's left, y toward
  anterior, z toward superior.
* Model 2D frame: ``image[row, col]`` with row increasing toward inferior (head at
  the top) and col increasing toward posterior (face on the left), sampled at the
  model's pixel spacing in mm.
"""

from __future__ import annotations

from hca_disc_label.errors import HCAError

CANONICAL_AXCODES: tuple[str, str, str] = ("L", "A", "S")
"""nibabel axis codes of the canonical internal 3D frame (SCT "RPI")."""

_CERVICAL = [f"C{i}/C{i + 1}" for i in range(1, 7)] + ["C7/T1"]
_THORACIC = [f"T{i}/T{i + 1}" for i in range(1, 12)] + ["T12/L1"]
_LUMBAR = [f"L{i}/L{i + 1}" for i in range(1, 5)] + ["L5/S1"]

DISC_NAMES: dict[int, str] = {
    value: name for value, name in zip(range(2, 26), _CERVICAL + _THORACIC + _LUMBAR)
}
"""SCT disc value -> human name, 2 = "C1/C2" ... 25 = "L5/S1"."""

DISC_VALUES: tuple[int, ...] = tuple(sorted(DISC_NAMES))
"""All disc values the package can produce, head to feet (2..25)."""

L5_S1 = 25
"""SCT value of the L5/S1 disc, the lowest disc value (the sacrum fixes the count there)."""

TYPICAL_LEVEL_SPACING_MM: dict[int, float] = {
    2: 16.5, 3: 18.0, 4: 18.5, 5: 18.5, 6: 18.5, 7: 19.0, 8: 21.0, 9: 22.0, 10: 22.5, 11: 23.0,
    12: 24.0, 13: 24.5, 14: 26.0, 15: 26.5, 16: 27.5, 17: 29.0, 18: 30.5, 19: 32.0, 20: 34.0,
    21: 34.0, 22: 34.0, 23: 33.5, 24: 31.5,
}
"""Typical adult distance (mm) from the posterior tip of disc ``v`` to that of disc ``v + 1``
(vertebral body plus disc height along the canal). Only the ratios between levels matter to
the decoder, which fits one scale per image; values are the medians of the synthetic spine
engine's adult anatomy."""

NON_DISC_SCT_VALUES: dict[int, str] = {1: "top of C1", 49: "PMG", 50: "PMJ", 60: "conus"}
"""Label values SCT uses for other landmarks; never written as discs."""

DEFAULT_THRESHOLD = 0.3
"""Default minimum confidence (heatmap peak) of a written disc (``-thr``)."""

CONTRASTS: tuple[str, ...] = ("t1", "t2")
"""Values accepted by ``-c``."""


def check_threshold(threshold: float) -> float:
    """A disc confidence threshold (``-thr``) as a float in (0, 1); the one check of it (the
    Python API, the batch and the CLI all call this).

    Raises:
        HCAError: NaN or outside (0, 1).
    """
    value = float(threshold)
    if not 0.0 < value < 1.0:  # False for NaN too
        raise HCAError(f"threshold must be in (0, 1), got {threshold}")
    return value


def check_numbering_threshold(threshold: float | None) -> float | None:
    """``-numbering-thr``: None (the model's own calibrated threshold) or a number in [0, 1];
    the one check of it (the Python API and the CLI call this).

    Raises:
        HCAError: NaN or outside [0, 1].
    """
    if threshold is None:
        return None
    value = float(threshold)
    if not 0.0 <= value <= 1.0:  # False for NaN too
        raise HCAError(f"numbering threshold must be in [0, 1], got {threshold}")
    return value


def check_contrast(contrast: str, error: type[HCAError] = HCAError) -> str:
    """``contrast`` when it is one of :data:`CONTRASTS` (``-c``); the one check of it.

    Args:
        contrast: the value to check.
        error: the :class:`HCAError` subclass to raise (the registry raises a ``ModelError``).

    Raises:
        HCAError: (``error``) any other value.
    """
    if contrast not in CONTRASTS:
        raise error(f"unknown contrast {contrast!r} (choose from {', '.join(CONTRASTS)})")
    return contrast


def disc_name(value: int) -> str:
    """Return the SCT name of a disc value, e.g. ``3 -> "C2/C3"``.

    Raises:
        KeyError: if ``value`` is not a disc value (2..25).
    """
    return DISC_NAMES[int(value)]


def disc_value(name: str) -> int:
    """Return the SCT value of a disc name such as ``"C2/C3"`` (case-insensitive)."""
    key = name.strip().upper()
    for value, label in DISC_NAMES.items():
        if label == key:
            return value
    raise KeyError(f"unknown disc name {name!r}")


def region_of(value: int) -> str:
    """Return "cervical", "thoracic" or "lumbar" for the vertebra below a disc."""
    if value <= 8:
        return "cervical"
    if value <= 20:
        return "thoracic"
    return "lumbar"


# ----------------------------------------------------------------------------- landmarks

LANDMARKS: dict[int, str] = {
    102: "C2 body",
    125: "S1 body",
    126: "S1/S2",
}
"""Landmark channels a model may carry after its disc channels (their codes end the card's
``channel_values``): structures that fix the count, never written as labels. Codes are
100 + the SCT number of the vertebra (2 = C2, 25 = S1) or, for 126, of the disc-like
junction below S1 (what a 26th disc value would be). Positions: the centre of the C2 body
(the mean of its four corners), the centre of the S1 body, and the posterior point of the
S1/S2 junction midway between the S1 and S2 posterior corners (like a disc tip). Numbering
convention for transitional anatomy: values count vertebrae from C1 down, so a disc-like
S1/S2 (a lumbarised look) is S1/S2, never L5/S1."""

LANDMARK_DISC: dict[int, tuple[int, int]] = {102: (3, +1), 125: (25, -1), 126: (25, -1)}
"""What a landmark says about the discs: ``code -> (disc value, side)``: the nearest disc on
that side of the landmark (+1 = below it, -1 = above it) has that value (C2 body -> the disc
below is C2/C3; S1 body or S1/S2 -> the disc above is L5/S1)."""
