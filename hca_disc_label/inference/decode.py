"""Anatomy-aware decoding of disc heatmaps into labelled points.

Each channel is one anatomical disc (an SCT value). Decoding runs in two steps (three with hints):

1. *Where are discs?* Local maxima of every channel above the threshold are merged into disc
   positions (peaks of different channels on one disc are one disc).
2. *Which disc is which?* (:mod:`.assign`) Every position gets a value by dynamic programming over positions
   ordered head to feet. A labelling scores the channel evidence of each assigned value and
   pays for geometry the spine cannot have: values must increase head to feet, and the
   distance between two kept discs must match the number of levels between their values
   (typical per-level spacing, :data:`~hca_disc_label.conventions.TYPICAL_LEVEL_SPACING_MM`,
   times one size scale fitted per image). So a run of evenly spaced discs gets consecutive
   values, a level is skipped only where a disc is really missing, and where a channel is
   unsure (two adjacent channels firing on one disc, confused mid-thoracic channels) the count
   from the confident discs decides.
3. *Hints* (optional, SCT's ``-initlabel`` / ``-initz``): a user-named disc keeps its value, the
   channels' count is shifted by the offset it reveals, and the rest is counted from it.

Positions are in model-frame pixels (row -> inferior, col -> posterior), distances in mm.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hca_disc_label.conventions import DEFAULT_THRESHOLD, L5_S1, LANDMARKS
from hca_disc_label.inference.assign import MIN_GAP_MM, Position, assign, score_labelling
from hca_disc_label.inference.heatmaps import heatmap_to_model, local_maxima, model_to_heatmap, refine_peak
from hca_disc_label.inference.landmarks import Landmark, consistent, detect_landmarks, is_junction, named_discs
from hca_disc_label.inference.lumbosacral import SACRAL_DOUBT_DEG, SACRAL_TURN_DEG, disc_below, lowest_turn

log = logging.getLogger(__name__)

MERGE_MM = 6.0
"""Peaks of different channels closer than this are one disc (mm)."""
ANCHOR_RADIUS_MM = 10.0
"""A user's hint (``-initlabel`` / ``-initz``) names the detected disc within this distance."""
HINTED_SKIP_PENALTY = 1.0
"""With hints, cost per level skipped between two kept discs: once the user has set the
count, dropping a detected disc to agree with the channels elsewhere is not a way out."""


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


class AnchorError(ValueError):
    """A user's hint cannot be honoured (no disc detected there, or hints that contradict)."""


@dataclass(frozen=True)
class Anchor:
    """A disc value the user fixes (SCT's ``-initlabel`` / ``-initz``).

    Attributes:
        value: SCT disc value.
        row: model-frame row (pixels) of the disc.
        col: model-frame column (pixels), or None when only the level is known (``-initz``):
            the detected disc nearest in rows is meant.
    """

    value: int
    row: float
    col: float | None = None


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


def _merge(peaks: list[tuple[float, float, float]], spacing_mm: float) -> list[Position]:
    """Greedy strongest-first merge of peaks closer than :data:`MERGE_MM`; sorted by row."""
    kept: list[Position] = []
    for row, col, peak in sorted(peaks, key=lambda p: -p[2]):
        if all(spacing_mm * np.hypot(row - k.row, col - k.col) >= MERGE_MM for k in kept):
            kept.append(Position(row, col, peak))
    return sorted(kept, key=lambda p: p.row)


def _evidence(heatmaps: np.ndarray, positions: list[Position], stride: int) -> np.ndarray:
    """``(n, V)`` strongest value of each channel within one heatmap pixel of each position."""
    _, h, w = heatmaps.shape
    out = np.zeros((len(positions), heatmaps.shape[0]), dtype=float)
    for n, p in enumerate(positions):
        i, j = np.round(model_to_heatmap(np.array([p.row, p.col]), stride)).astype(int)
        window = heatmaps[:, max(0, i - 1): min(h, i + 2), max(0, j - 1): min(w, j + 2)]
        if window.size:
            out[n] = window.reshape(len(heatmaps), -1).max(axis=1)
    return np.clip(out, 0.0, 1.0)


def _anchor_nodes(positions: list[Position], anchors: Sequence[Anchor], values: list[int],
                  spacing_mm: float) -> dict[int, int]:
    """``{position index: channel index}`` the anchors fix (nearest detected disc of each)."""
    fixed: dict[int, int] = {}
    for a in anchors:
        if a.value not in values:
            raise AnchorError(f"hint value {a.value} is not one of the model's disc values "
                              f"({values[0]}..{values[-1]})")
        d = np.array([abs(p.row - a.row) if a.col is None else np.hypot(p.row - a.row, p.col - a.col)
                      for p in positions]) * spacing_mm
        i = int(np.argmin(d)) if len(d) else -1
        if i < 0 or d[i] > ANCHOR_RADIUS_MM:
            raise AnchorError(f"no disc detected within {ANCHOR_RADIUS_MM:g} mm of the hint for value {a.value}")
        if fixed.get(i, values.index(a.value)) != values.index(a.value):
            raise AnchorError("two hints with different values name the same disc")
        fixed[i] = values.index(a.value)
    return fixed


def _shift_to_anchors(evidence: np.ndarray, positions: list[Position], fixed: dict[int, int],
                      unhinted: dict[int, int]) -> np.ndarray:
    """Correct the channels' count by the offset the user's hints reveal.

    A network that numbers a spine one level off is usually off by the same amount on every
    disc; the hint gives that offset at its disc (hinted value minus the value the unhinted
    decoding gave it, or its strongest channel if that decoding dropped it). Each position's
    evidence is shifted by the offset of the nearest hinted disc, so the channels still say
    where levels are missing or doubtful while the hint sets the count.
    """
    hinted = sorted(fixed)
    offsets = {i: fixed[i] - unhinted.get(i, int(np.argmax(evidence[i]))) for i in hinted}
    out = np.zeros_like(evidence)
    v = evidence.shape[1]
    for n, p in enumerate(positions):
        off = offsets[min(hinted, key=lambda i: abs(positions[i].row - p.row))]
        lo, hi = max(0, off), min(v, v + off)
        out[n, lo:hi] = evidence[n, lo - off:hi - off]
    return out


def decode_heatmaps(
    heatmaps: np.ndarray,
    channel_values: list[int],
    output_stride: int,
    spacing_mm: float,
    threshold: float = DEFAULT_THRESHOLD,
    valid_shape: tuple[int, int] | None = None,
    anchors: Sequence[Anchor] = (),
) -> list[DecodedDisc]:
    """Decode network heatmaps into anatomically consistent discs.

    Args:
        heatmaps: ``(V, h, w)`` network output, channel k = SCT value ``channel_values[k]``.
        channel_values: SCT value of each channel, increasing, then any landmark codes
            (:data:`~hca_disc_label.conventions.LANDMARKS`; they fix the count, never labels).
        output_stride: model-frame pixels per heatmap pixel.
        spacing_mm: model-frame pixel spacing (mm).
        threshold: minimum peak value of a detected disc.
        valid_shape: ``(height, width)`` of the unpadded image in model pixels; peaks in the
            padding are ignored.
        anchors: values the user fixes; each names the detected disc nearest to it (within
            :data:`ANCHOR_RADIUS_MM`) and the rest is counted from there.

    Returns:
        Discs ordered head to feet (increasing value), positions in model-frame pixels.

    Raises:
        AnchorError: a hint names no detected disc, or the hints cannot all hold at once.
    """
    return decode_details(heatmaps, channel_values, output_stride, spacing_mm, threshold, valid_shape,
                          anchors).discs


# ----------------------------------------------------------------------------- decoding with its evidence
# What the numbering confidence (``inference.numbering``) re-reads: the positions, the channel
# evidence and the chosen labelling, and the DP score of any other labelling of the same discs.


@dataclass(frozen=True)
class Decoding:
    """A decoding with the evidence it was made from.

    Attributes:
        discs: the decoded discs (what :func:`decode_heatmaps` returns).
        positions: every merged peak position, head to feet.
        evidence: ``(n, V)`` channel evidence of each position (unshifted: the network's own).
        path: chosen ``[(position index, channel index), ...]`` head to feet.
        fixed: ``{position index: channel index}`` set by hints (empty without hints).
        channel_values: SCT value of each channel.
        spacing_mm: model-frame pixel spacing (mm).
        valid_shape: ``(height, width)`` of the unpadded image (model px), or None.
        landmarks: landmarks detected in the landmark channels (none for disc-only models).
        landmark_fixed: ``{position index: channel index}`` the clear landmarks set (the
            count came from them; empty when none was used or hints were given).
        sacral_turn: the turn (degrees) at the disc above a lowest "L5/S1" when it is large
            enough to doubt the count (:mod:`~hca_disc_label.inference.lumbosacral`), else None.
        sacral_renumbered: the turn was large enough to take the lowest "L5/S1" for the S1/S2
            remnant: the disc above it was renumbered L5/S1.
        below_mm: distance (mm) from a lowest "L5/S1" to a detected disc peak left out one level
            below it (:func:`~hca_disc_label.inference.lumbosacral.disc_below`), else None.
    """

    discs: list[DecodedDisc]
    positions: list[Position]
    evidence: np.ndarray
    path: list[tuple[int, int]]
    fixed: dict[int, int]
    channel_values: list[int]
    spacing_mm: float
    valid_shape: tuple[int, int] | None = None
    landmarks: list[Landmark] = field(default_factory=list)
    landmark_fixed: dict[int, int] = field(default_factory=dict)
    sacral_turn: float | None = None
    sacral_renumbered: bool = False
    below_mm: float | None = None

    def score(self, path: Sequence[tuple[int, int]]) -> float:
        """Unhinted DP score of another labelling of these positions (see :func:`score_labelling`)."""
        return score_labelling(self.positions, self.evidence, self.channel_values, self.spacing_mm, path)


def decode_details(
    heatmaps: np.ndarray,
    channel_values: list[int],
    output_stride: int,
    spacing_mm: float,
    threshold: float = DEFAULT_THRESHOLD,
    valid_shape: tuple[int, int] | None = None,
    anchors: Sequence[Anchor] = (),
) -> Decoding:
    """:func:`decode_heatmaps` (same arguments, same errors), with its evidence kept.

    ``channel_values`` may end with landmark codes (:data:`~hca_disc_label.conventions.LANDMARKS`,
    as a landmark model's card lists them); then ``Decoding.channel_values`` lists the disc
    channels only.
    """
    if heatmaps.ndim != 3 or heatmaps.shape[0] != len(channel_values):
        raise ValueError(f"heatmaps of shape {heatmaps.shape} do not match {len(channel_values)} channels")
    is_lm = np.array([v in LANDMARKS for v in channel_values], dtype=bool)
    landmarks = detect_landmarks(heatmaps[is_lm], [v for v in channel_values if v in LANDMARKS], output_stride,
                                 valid_shape) if is_lm.any() else []
    landmarks = consistent(landmarks, spacing_mm)
    heatmaps = heatmaps[~is_lm]
    channel_values = [v for v in channel_values if v not in LANDMARKS]
    peaks = _peaks(heatmaps, output_stride, spacing_mm, threshold)
    if valid_shape is not None:
        h, w = valid_shape
        peaks = [p for p in peaks if -0.5 <= p[0] <= h - 0.5 and -0.5 <= p[1] <= w - 0.5]
    # A remnant disc the network sees as the S1/S2 junction is no disc.
    peaks = [p for p in peaks if not is_junction(p[0], p[1], p[2], landmarks, spacing_mm, MERGE_MM)]
    positions = _merge(peaks, spacing_mm)
    if not positions:
        if anchors:
            raise AnchorError("no disc detected, so the hints cannot be placed")
        return Decoding([], [], np.zeros((0, len(channel_values))), [], {}, list(channel_values), spacing_mm,
                        valid_shape)
    network_evidence = evidence = _evidence(heatmaps, positions, output_stride)
    path = assign(positions, evidence, list(channel_values), spacing_mm)
    fixed = _anchor_nodes(positions, anchors, list(channel_values), spacing_mm)
    landmark_fixed: dict[int, int] = {}
    sacral_turn, renumbered = None, False
    if fixed:  # hints always win over landmarks and the lumbosacral turn
        counted = _count_from(positions, evidence, channel_values, spacing_mm, path, fixed)
        if counted is None:
            raise AnchorError("the hints contradict each other (values must increase head to feet, "
                              "with room for the levels between them)")
        evidence, path = counted
    else:
        if landmarks:
            evidence, path, landmark_fixed = _count_from_landmarks(positions, evidence, channel_values, spacing_mm,
                                                                   landmarks, path)
        evidence, path, sacral_turn, renumbered = _count_from_sacrum(positions, evidence, channel_values,
                                                                     spacing_mm, path)
    below = None
    if not fixed and sacral_turn is None:
        kept = {i for i, _ in path}
        below = disc_below([(positions[i].row, positions[i].col) for i, _ in path],
                           [channel_values[k] for _, k in path],
                           [(p.row, p.col) for i, p in enumerate(positions) if i not in kept])
    if len(path) < len(positions):
        log.info("dropped %d anatomically inconsistent peak(s)", len(positions) - len(path))
    discs = [
        DecodedDisc(int(channel_values[k]), positions[i].row, positions[i].col, positions[i].confidence,
                    float(evidence[i, k]))
        for i, k in path
    ]
    return Decoding(discs, positions, network_evidence, path, fixed, list(channel_values), spacing_mm, valid_shape,
                    landmarks, landmark_fixed, sacral_turn, renumbered,
                    None if below is None else below * spacing_mm)


def _count_from(positions: list[Position], evidence: np.ndarray, values: list[int], spacing_mm: float,
                path: list[tuple[int, int]], fixed: dict[int, int]
                ) -> tuple[np.ndarray, list[tuple[int, int]]] | None:
    """Count from the ``fixed`` discs (``{position index: channel index}``) as a user's hint
    would: evidence shifted by the offset they reveal against ``path``, then the best labelling
    that keeps them. ``(shifted evidence, path)``, or None when no labelling can keep them all."""
    shifted = _shift_to_anchors(evidence, positions, fixed, dict(path))
    new_path = assign(positions, shifted, values, spacing_mm, fixed, HINTED_SKIP_PENALTY)
    return (shifted, new_path) if set(fixed.items()) <= set(new_path) else None


def _count_from_sacrum(positions: list[Position], evidence: np.ndarray, values: list[int], spacing_mm: float,
                       path: list[tuple[int, int]]
                       ) -> tuple[np.ndarray, list[tuple[int, int]], float | None, bool]:
    """The lumbosacral turn at the disc above a lowest "L5/S1"
    (:func:`~hca_disc_label.inference.lumbosacral.lowest_turn`): returned when over
    :data:`~hca_disc_label.inference.lumbosacral.SACRAL_DOUBT_DEG` (the count is doubtful);
    over :data:`~hca_disc_label.inference.lumbosacral.SACRAL_TURN_DEG` the lowest disc is the
    S1/S2 remnant: the disc above it is set to L5/S1 as a hint would set it, and the remnant,
    with no value below L5/S1 left, drops out. Returns ``(evidence, path, turn or None,
    renumbered)``.
    """
    turn = lowest_turn([(positions[i].row, positions[i].col) for i, _ in path], [values[k] for _, k in path])
    if turn is None or turn <= SACRAL_DOUBT_DEG:
        return evidence, path, None, False
    counted = None if turn <= SACRAL_TURN_DEG else _count_from(
        positions, evidence, values, spacing_mm, path, {path[-2][0]: values.index(L5_S1)})
    if counted is None:
        return evidence, path, turn, False
    log.info("lumbosacral turn %.0f deg: the lowest disc is the S1/S2 remnant, the one above it L5/S1", turn)
    return *counted, turn, True


def _count_from_landmarks(positions: list[Position], evidence: np.ndarray, values: list[int], spacing_mm: float,
                          landmarks: list[Landmark], path: list[tuple[int, int]]
                          ) -> tuple[np.ndarray, list[tuple[int, int]], dict[int, int]]:
    """Renumber from the clear landmarks in view, as a hint would (evidence shifted by the
    offset they reveal, their discs forced); the strongest alone if they disagree; unchanged
    ``(evidence, path, {})`` when no landmark names a disc."""
    rows = np.array([p.row for p in positions])
    cols = np.array([p.col for p in positions])
    named = [(i, values.index(v)) for _, i, v in named_discs(landmarks, rows, cols, spacing_mm) if v in values]
    for trial in (named, named[:1]):
        fixed: dict[int, int] = {}
        for i, k in trial:
            fixed.setdefault(i, k)
        if not fixed:
            break
        counted = _count_from(positions, evidence, values, spacing_mm, path, fixed)
        if counted is not None:
            return *counted, fixed
    return evidence, path, {}
