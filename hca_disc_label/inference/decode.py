"""Anatomy-aware decoding of disc heatmaps into labelled points.

Each channel is one anatomical disc (an SCT value). Decoding runs in two steps:

1. *Where are discs?* Local maxima of every channel above the threshold are merged into disc
   positions (peaks of different channels on one disc are one disc).
2. *Which disc is which?* Every position gets a value by dynamic programming over positions
   ordered head to feet. A labelling scores the channel evidence of each assigned value and
   pays for geometry the spine cannot have: values must increase head to feet, and the
   distance between two kept discs must match the number of levels between their values
   (typical per-level spacing, :data:`~hca_disc_label.conventions.TYPICAL_LEVEL_SPACING_MM`,
   times one size scale fitted per image). So a run of evenly spaced discs gets consecutive
   values, a level is skipped only where a disc is really missing, and where a channel is
   unsure (two adjacent channels firing on one disc, confused mid-thoracic channels) the count
   from the confident discs decides.

Positions are in model-frame pixels (row -> inferior, col -> posterior), distances in mm.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from hca_disc_label.conventions import DEFAULT_THRESHOLD, TYPICAL_LEVEL_SPACING_MM
from hca_disc_label.inference.heatmaps import heatmap_to_model, local_maxima, model_to_heatmap, refine_peak

log = logging.getLogger(__name__)

MIN_GAP_MM = 7.0
"""Smallest distance between consecutive discs, per level of value difference (mm)."""
MAX_GAP_MM = 60.0
"""Largest distance between consecutive discs, per level of value difference (mm)."""
MERGE_MM = 6.0
"""Peaks of different channels closer than this are one disc (mm)."""
EVIDENCE_WEIGHT = 1.0
"""Weight of a value's channel evidence at a disc relative to the geometry penalty."""
SPACING_WEIGHT = 8.0
"""Penalty per unit of |log(observed / expected distance)| beyond the tolerance."""
SPACING_TOLERANCE = 0.1
"""Spacing mismatch (log ratio) accepted at no cost: normal level-to-level variation."""
SCALES = np.exp(np.linspace(np.log(0.55), np.log(1.6), 23))
"""Per-image size scales tried (ratio of the image's spacing to the typical spacing)."""


@dataclass(frozen=True)
class DecodedDisc:
    """One decoded disc.

    Attributes:
        value: SCT disc value.
        row, col: position in model-frame pixels (row -> inferior, col -> posterior).
        confidence: heatmap peak value at the disc (strongest channel), clipped to [0, 1].
        evidence: the assigned value's own channel at the disc, clipped to [0, 1]; lower than
            ``confidence`` where the value comes from counting rather than from its channel.
    """

    value: int
    row: float
    col: float
    confidence: float
    evidence: float = 1.0


@dataclass(frozen=True)
class _Position:
    row: float
    col: float
    confidence: float


def _peaks(
    heatmaps: np.ndarray, stride: int, spacing_mm: float, threshold: float
) -> list[tuple[float, float, float]]:
    """Refined local maxima of every channel: ``(row, col, peak)`` in model pixels."""
    radius = max(1, int(round(MIN_GAP_MM / (2.0 * spacing_mm * stride))))
    found = []
    for channel in heatmaps:
        for i, j, peak in local_maxima(channel, threshold, radius, max_peaks=3):
            row, col = heatmap_to_model(np.array(refine_peak(channel, i, j)), stride)
            found.append((float(row), float(col), float(min(1.0, peak))))
    return found


def _merge(peaks: list[tuple[float, float, float]], spacing_mm: float) -> list[_Position]:
    """Greedy strongest-first merge of peaks closer than :data:`MERGE_MM`; sorted by row."""
    kept: list[_Position] = []
    for row, col, peak in sorted(peaks, key=lambda p: -p[2]):
        if all(spacing_mm * np.hypot(row - k.row, col - k.col) >= MERGE_MM for k in kept):
            kept.append(_Position(row, col, peak))
    return sorted(kept, key=lambda p: p.row)


def _evidence(heatmaps: np.ndarray, positions: list[_Position], stride: int) -> np.ndarray:
    """``(n, V)`` strongest value of each channel within one heatmap pixel of each position."""
    _, h, w = heatmaps.shape
    out = np.zeros((len(positions), heatmaps.shape[0]), dtype=float)
    for n, p in enumerate(positions):
        i, j = np.round(model_to_heatmap(np.array([p.row, p.col]), stride)).astype(int)
        window = heatmaps[:, max(0, i - 1): min(h, i + 2), max(0, j - 1): min(w, j + 2)]
        if window.size:
            out[n] = window.reshape(len(heatmaps), -1).max(axis=1)
    return np.clip(out, 0.0, 1.0)


def _expected_distances(values: list[int]) -> np.ndarray:
    """``(V, V)`` typical distance (mm) from disc ``values[a]`` to disc ``values[b]``."""
    per_level = [TYPICAL_LEVEL_SPACING_MM.get(v, 25.0) for v in range(values[0], values[-1])]
    along = np.concatenate([[0.0], np.cumsum(per_level)])[np.asarray(values) - values[0]]
    return along[None, :] - along[:, None]


def _assign(
    positions: list[_Position], evidence: np.ndarray, values: list[int], spacing_mm: float
) -> list[tuple[int, int]]:
    """Best labelling over all scales: ``[(position index, channel index), ...]`` head to feet.

    Dynamic programming over positions sorted head to feet, for every scale at once:
    ``score[s, i, w]`` is the best total of a labelling whose last kept disc is position
    ``i`` with channel ``w`` (positions in between are dropped).
    """
    n, v = evidence.shape
    levels = np.array(values, dtype=float)
    gap_levels = levels[None, :] - levels[:, None]  # (u, w): levels from value u to value w
    step_ok = gap_levels > 0
    expected = np.where(step_ok, _expected_distances(values), 1.0)
    rows = np.array([p.row for p in positions])
    cols = np.array([p.col for p in positions])
    dist = spacing_mm * np.hypot(rows[:, None] - rows[None, :], cols[:, None] - cols[None, :])
    node = np.array([p.confidence for p in positions])[:, None] + EVIDENCE_WEIGHT * evidence  # (n, V)
    scales = SCALES[:, None, None]
    score = np.broadcast_to(node, (len(SCALES), n, v)).copy()
    back_pos = np.full((len(SCALES), n, v), -1, dtype=int)
    back_val = np.full((len(SCALES), n, v), -1, dtype=int)
    for i in range(n):
        for j in range(i):
            d = dist[j, i]
            if rows[i] <= rows[j] or d <= 0:
                continue
            ok = step_ok & (d >= MIN_GAP_MM * gap_levels) & (d <= MAX_GAP_MM * gap_levels)
            mismatch = np.abs(np.log(d / (scales * expected)))  # (S, u, w)
            trans = -SPACING_WEIGHT * np.maximum(0.0, mismatch - SPACING_TOLERANCE)
            cand = np.where(ok, score[:, j, :, None] + trans, -np.inf)
            u_best = np.argmax(cand, axis=1)  # (S, w)
            via = np.take_along_axis(cand, u_best[:, None, :], axis=1)[:, 0, :] + node[i]
            better = via > score[:, i, :]
            score[:, i, :] = np.where(better, via, score[:, i, :])
            back_pos[:, i, :] = np.where(better, j, back_pos[:, i, :])
            back_val[:, i, :] = np.where(better, u_best, back_val[:, i, :])
    s, i, w = np.unravel_index(int(np.argmax(score)), score.shape)
    path = []
    while i >= 0:
        path.append((int(i), int(w)))
        i, w = back_pos[s, i, w], back_val[s, i, w]
    return path[::-1]


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
        channel_values: SCT value of each channel, increasing.
        output_stride: model-frame pixels per heatmap pixel.
        spacing_mm: model-frame pixel spacing (mm).
        threshold: minimum peak value of a detected disc.
        valid_shape: ``(height, width)`` of the unpadded image in model pixels; peaks in the
            padding are ignored.

    Returns:
        Discs ordered head to feet (increasing value), positions in model-frame pixels.
    """
    if heatmaps.ndim != 3 or heatmaps.shape[0] != len(channel_values):
        raise ValueError(f"heatmaps of shape {heatmaps.shape} do not match {len(channel_values)} channels")
    peaks = _peaks(heatmaps, output_stride, spacing_mm, threshold)
    if valid_shape is not None:
        h, w = valid_shape
        peaks = [p for p in peaks if -0.5 <= p[0] <= h - 0.5 and -0.5 <= p[1] <= w - 0.5]
    positions = _merge(peaks, spacing_mm)
    if not positions:
        return []
    evidence = _evidence(heatmaps, positions, output_stride)
    path = _assign(positions, evidence, list(channel_values), spacing_mm)
    if len(path) < len(positions):
        log.info("dropped %d anatomically inconsistent peak(s)", len(positions) - len(path))
    return [
        DecodedDisc(int(channel_values[k]), positions[i].row, positions[i].col, positions[i].confidence,
                    float(evidence[i, k]))
        for i, k in path
    ]
