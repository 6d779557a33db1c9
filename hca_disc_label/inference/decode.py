"""Anatomy-aware decoding of disc heatmaps into labelled points.

Each channel is one anatomical disc (an SCT value). Candidates are the strongest local
maxima of each channel; the kept set is the chain of candidates with the largest total
confidence whose positions run head to feet in value order with a plausible spacing. A
missing or spurious peak therefore drops a disc; it never shifts another disc's value.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from hca_disc_label.conventions import DEFAULT_THRESHOLD
from hca_disc_label.inference.heatmaps import heatmap_to_model, local_maxima, refine_peak

log = logging.getLogger(__name__)

MIN_GAP_MM = 7.0
"""Smallest distance between consecutive discs, per level of value difference (mm)."""
MAX_GAP_MM = 60.0
"""Largest distance between consecutive discs, per level of value difference (mm)."""


@dataclass(frozen=True)
class DecodedDisc:
    """One decoded disc.

    Attributes:
        value: SCT disc value.
        row, col: position in model-frame pixels (row -> inferior, col -> posterior).
        confidence: heatmap peak value, clipped to [0, 1].
    """

    value: int
    row: float
    col: float
    confidence: float


@dataclass(frozen=True)
class _Candidate:
    value: int
    row: float
    col: float
    confidence: float


def _candidates(
    heatmaps: np.ndarray, channel_values: list[int], stride: int, spacing_mm: float, threshold: float
) -> list[_Candidate]:
    radius = max(1, int(round(MIN_GAP_MM / (2.0 * spacing_mm * stride))))
    found: list[_Candidate] = []
    for k, value in enumerate(channel_values):
        for i, j, peak in local_maxima(heatmaps[k], threshold, radius, max_peaks=3):
            ri, rj = refine_peak(heatmaps[k], i, j)
            row, col = heatmap_to_model(np.array([ri, rj]), stride)
            found.append(_Candidate(int(value), float(row), float(col), float(min(1.0, peak))))
    return found


def _compatible(a: _Candidate, b: _Candidate, spacing_mm: float) -> bool:
    """Whether disc ``b`` (larger value) can follow disc ``a`` anatomically."""
    levels = b.value - a.value
    if levels <= 0 or b.row <= a.row:
        return False
    dist = spacing_mm * float(np.hypot(b.row - a.row, b.col - a.col))
    return MIN_GAP_MM * levels <= dist <= MAX_GAP_MM * levels


def _best_chain(cands: list[_Candidate], spacing_mm: float) -> list[_Candidate]:
    """Maximum-confidence chain of mutually consistent candidates (DP over a DAG)."""
    cands = sorted(cands, key=lambda c: (c.value, -c.confidence))
    score = [c.confidence for c in cands]
    prev = [-1] * len(cands)
    for j, cj in enumerate(cands):
        for i in range(j):
            if cands[i].value < cj.value and _compatible(cands[i], cj, spacing_mm):
                if score[i] + cj.confidence > score[j]:
                    score[j], prev[j] = score[i] + cj.confidence, i
    if not cands:
        return []
    j = int(np.argmax(score))
    chain = []
    while j >= 0:
        chain.append(cands[j])
        j = prev[j]
    return chain[::-1]


def decode_heatmaps(
    heatmaps: np.ndarray,
    channel_values: list[int],
    output_stride: int,
    spacing_mm: float,
    threshold: float = DEFAULT_THRESHOLD,
    valid_shape: tuple[int, int] | None = None,
) -> list[DecodedDisc]:
    """Decode network heatmaps into anatomically consistent discs.

    Args:
        heatmaps: ``(V, h, w)`` network output, channel k = SCT value ``channel_values[k]``.
        channel_values: SCT value of each channel.
        output_stride: model-frame pixels per heatmap pixel.
        spacing_mm: model-frame pixel spacing (mm).
        threshold: minimum confidence of a kept disc.
        valid_shape: ``(height, width)`` of the unpadded image in model pixels; peaks in the
            padding are ignored.

    Returns:
        Discs ordered head to feet (increasing value), positions in model-frame pixels.
    """
    if heatmaps.ndim != 3 or heatmaps.shape[0] != len(channel_values):
        raise ValueError(f"heatmaps of shape {heatmaps.shape} do not match {len(channel_values)} channels")
    cands = _candidates(heatmaps, channel_values, output_stride, spacing_mm, threshold)
    if valid_shape is not None:
        h, w = valid_shape
        cands = [c for c in cands if -0.5 <= c.row <= h - 0.5 and -0.5 <= c.col <= w - 0.5]
    chain = _best_chain(cands, spacing_mm)
    dropped = {c.value for c in cands} - {c.value for c in chain}
    if dropped:
        log.info("dropped anatomically inconsistent peaks for values %s", sorted(dropped))
    return [DecodedDisc(c.value, c.row, c.col, c.confidence) for c in chain]
