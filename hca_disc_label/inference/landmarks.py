"""Landmarks that fix the count: detection in landmark heatmaps, and what they say about discs.

A model may carry landmark channels after its disc channels (their codes end the card's
``channel_values``; codes of :data:`~hca_disc_label.conventions.LANDMARKS`): the C2 body,
the S1 body and the S1/S2 junction. Each one, where the network sees it clearly, names one
disc: the disc just below the C2 body is C2/C3, the disc just above the S1 body (or above the
S1/S2 junction) is L5/S1. The decoder counts the other discs from there, the way a reader of
the image does; with no landmark in view it falls back on the per-disc channels.

Positions are model-frame pixels (row -> inferior, col -> posterior), distances in mm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hca_disc_label.conventions import LANDMARK_DISC, LANDMARKS
from hca_disc_label.inference.heatmaps import heatmap_to_model, local_maxima, refine_peak

LANDMARK_THRESHOLD = 0.7
"""Peak a landmark channel needs before the count is taken from it (a clear detection:
targets peak at 1). Chosen on the internal junction sets (``benchmarks/junction_identity.py``)
with the first landmark model: at 0.5 its half-trained sacral channels misnamed L5/S1 on
lumbar fields cut through S1 (identity 96.8 -> 74.2 %), at 0.7 with :func:`consistent` they
cost nothing."""
LANDMARK_REACH_MM = {102: 35.0, 125: 40.0, 126: 50.0}
"""Farthest the disc a landmark names may be from it (mm): C2 body centre to the C2/C3 tip,
S1 body centre or the S1/S2 junction to the L5/S1 tip, with room for large adults."""
LANDMARK_GAP_MM = {102: 4.0, 125: 6.0, 126: 12.0}
"""Nearest the disc a landmark names may be (mm): a disc candidate closer than this to the
S1/S2 junction is the junction's own remnant disc, not L5/S1 above it."""


@dataclass(frozen=True)
class Landmark:
    """One detected landmark.

    Attributes:
        code: landmark code (:data:`~hca_disc_label.conventions.LANDMARKS`).
        row, col: model-frame pixels.
        confidence: heatmap peak, clipped to [0, 1].
    """

    code: int
    row: float
    col: float
    confidence: float

    @property
    def name(self) -> str:
        """Readable name, e.g. "S1 body"."""
        return LANDMARKS[self.code]


def detect_landmarks(heatmaps: np.ndarray, codes: Sequence[int], stride: int,
                     valid_shape: tuple[int, int] | None = None, threshold: float = 0.05) -> list[Landmark]:
    """The strongest peak of each landmark channel (one per landmark: each is unique).

    Args:
        heatmaps: ``(L, h, w)`` landmark channels, channel k = landmark ``codes[k]``.
        codes: landmark code of each channel.
        stride: model-frame pixels per heatmap pixel.
        valid_shape: unpadded ``(height, width)`` in model pixels; peaks beyond are ignored.
        threshold: smallest peak reported (the count uses :data:`LANDMARK_THRESHOLD`).

    Returns:
        Detected landmarks, any order.
    """
    found = []
    for code, channel in zip(codes, heatmaps):
        for i, j, peak in local_maxima(channel, threshold, 2, max_peaks=3):
            row, col = heatmap_to_model(np.array(refine_peak(channel, i, j)), stride)
            if valid_shape is not None and not (-0.5 <= row <= valid_shape[0] - 0.5
                                                and -0.5 <= col <= valid_shape[1] - 0.5):
                continue
            found.append(Landmark(int(code), float(row), float(col), float(min(1.0, peak))))
            break  # local_maxima lists the strongest first
    return found


SACRAL_PAIR_MM = (5.0, 35.0)
"""The S1 body centre lies this far (mm) above the S1/S2 junction (half an S1 body height and
more); a pair seen further apart, or in the wrong order, means one of them is on another
sacral level, and neither is trusted."""
PAIR_SEEN = 0.2
"""Peak at which a landmark counts as seen for the consistency check."""


def consistent(landmarks: Sequence[Landmark], spacing_mm: float) -> list[Landmark]:
    """The landmarks that agree with each other: an S1 body and an S1/S2 junction both seen
    must be in order and a plausible distance apart, or both are dropped (the network took one
    sacral level for another, e.g. S2/S3 for S1/S2)."""
    by_code = {lm.code: lm for lm in landmarks}
    s1, s12 = by_code.get(125), by_code.get(126)
    if s1 is None or s12 is None or min(s1.confidence, s12.confidence) < PAIR_SEEN:
        return list(landmarks)
    gap = spacing_mm * (s12.row - s1.row)
    dist = spacing_mm * float(np.hypot(s12.row - s1.row, s12.col - s1.col))
    if SACRAL_PAIR_MM[0] <= gap and dist <= SACRAL_PAIR_MM[1]:
        return list(landmarks)
    return [lm for lm in landmarks if lm.code not in (125, 126)]


def is_junction(row: float, col: float, confidence: float, landmarks: Sequence[Landmark],
                spacing_mm: float, radius_mm: float) -> bool:
    """Whether a disc candidate is really the S1/S2 junction (a remnant disc): an S1/S2
    detection within ``radius_mm`` that is stronger than the candidate's own disc peak."""
    return any(lm.code == 126 and lm.confidence >= max(confidence, LANDMARK_THRESHOLD)
               and spacing_mm * np.hypot(lm.row - row, lm.col - col) < radius_mm for lm in landmarks)


def named_discs(landmarks: Sequence[Landmark], rows: np.ndarray, cols: np.ndarray,
                spacing_mm: float) -> list[tuple[Landmark, int, int]]:
    """Which detected disc each clear landmark names: ``[(landmark, position index, value)]``.

    The disc named is the nearest one on the landmark's side (below the C2 body, above the S1
    body / S1/S2 junction), between :data:`LANDMARK_GAP_MM` and :data:`LANDMARK_REACH_MM`
    away. Strongest landmark first.
    """
    out = []
    for lm in sorted(landmarks, key=lambda m: -m.confidence):
        if lm.confidence < LANDMARK_THRESHOLD or lm.code not in LANDMARK_DISC:
            continue
        value, side = LANDMARK_DISC[lm.code]
        d_all = spacing_mm * np.hypot(rows - lm.row, cols - lm.col)
        on_side = np.flatnonzero((side * (rows - lm.row) > 0) & (d_all >= LANDMARK_GAP_MM.get(lm.code, 0.0)))
        if not len(on_side):
            continue
        d = d_all[on_side]
        k = int(np.argmin(np.abs(rows[on_side] - lm.row)))
        if d[k] <= LANDMARK_REACH_MM.get(lm.code, 40.0):
            out.append((lm, int(on_side[k]), value))
    return out
