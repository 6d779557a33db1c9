"""Which disc is which: the dynamic programme that gives each detected position a value.

Positions (model-frame pixels, head to feet) get SCT values by dynamic programming: a
labelling scores the confidence and channel evidence of each kept disc and pays for geometry
the spine cannot have. Values must increase head to feet, and the distance between two kept
discs must match the number of levels between their values (typical per-level spacing,
:data:`~hca_disc_label.conventions.TYPICAL_LEVEL_SPACING_MM`, times one size scale of
:data:`SCALES` fitted per image). The finding and merging of peaks, hints and landmarks around
it are :mod:`.decode`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hca_disc_label.conventions import TYPICAL_LEVEL_SPACING_MM

MIN_GAP_MM = 7.0
"""Smallest distance between consecutive discs, per level of value difference (mm)."""
MAX_GAP_MM = 60.0
"""Largest distance between consecutive discs, per level of value difference (mm)."""
EVIDENCE_WEIGHT = 1.0
"""Weight of a value's channel evidence at a disc relative to the geometry penalty."""
SPACING_WEIGHT = 8.0
"""Penalty per unit of |log(observed / expected distance)| beyond the tolerance."""
SPACING_TOLERANCE = 0.1
"""Spacing mismatch (log ratio) accepted at no cost: normal level-to-level variation."""
_ANCHOR_BONUS = 1.0e4
"""Added to an anchored position's node score, far above any labelling's total, so the best
labelling keeps it; its other values are impossible."""
SCALES = np.exp(np.linspace(np.log(0.55), np.log(1.6), 23))
"""Per-image size scales tried (ratio of the image's spacing to the typical spacing)."""


@dataclass(frozen=True)
class Position:
    """A detected disc position: ``(row, col)`` model-frame pixels and its peak confidence."""

    row: float
    col: float
    confidence: float


def _expected_distances(values: list[int]) -> np.ndarray:
    """``(V, V)`` typical distance (mm) from disc ``values[a]`` to disc ``values[b]``."""
    per_level = [TYPICAL_LEVEL_SPACING_MM.get(v, 25.0) for v in range(values[0], values[-1])]
    along = np.concatenate([[0.0], np.cumsum(per_level)])[np.asarray(values) - values[0]]
    return along[None, :] - along[:, None]


def _transition(d: float, gap_levels: np.ndarray, expected: np.ndarray, skip_cost: np.ndarray | float,
                scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Allowed value steps and their geometry score for two discs ``d`` mm apart.

    ``gap_levels``, ``expected``, ``skip_cost`` broadcast against ``scales`` (e.g. ``(u, w)``
    against ``(S, 1, 1)``): levels between the two values, their typical distance (mm), the
    cost of skipped levels. Returns ``(ok, score)``; ``score`` is 0 where the distance fits.
    """
    ok = (gap_levels > 0) & (d >= MIN_GAP_MM * gap_levels) & (d <= MAX_GAP_MM * gap_levels)
    mismatch = np.abs(np.log(d / (scales * expected)))
    return ok, -SPACING_WEIGHT * np.maximum(0.0, mismatch - SPACING_TOLERANCE) - skip_cost


def assign(
    positions: list[Position], evidence: np.ndarray, values: list[int], spacing_mm: float,
    fixed: dict[int, int] | None = None, skip_penalty: float = 0.0,
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
    skip_cost = skip_penalty * np.maximum(0.0, gap_levels - 1)
    rows = np.array([p.row for p in positions])
    cols = np.array([p.col for p in positions])
    dist = spacing_mm * np.hypot(rows[:, None] - rows[None, :], cols[:, None] - cols[None, :])
    node = np.array([p.confidence for p in positions])[:, None] + EVIDENCE_WEIGHT * evidence  # (n, V)
    for i, k in (fixed or {}).items():
        node[i] = -np.inf
        node[i, k] = _ANCHOR_BONUS
    scales = SCALES[:, None, None]
    score = np.broadcast_to(node, (len(SCALES), n, v)).copy()
    back_pos = np.full((len(SCALES), n, v), -1, dtype=int)
    back_val = np.full((len(SCALES), n, v), -1, dtype=int)
    for i in range(n):
        for j in range(i):
            d = dist[j, i]
            if rows[i] <= rows[j] or d <= 0:
                continue
            ok, trans = _transition(d, gap_levels, expected, skip_cost, scales)
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


def score_labelling(positions: Sequence[Position], evidence: np.ndarray, values: list[int], spacing_mm: float,
                    path: Sequence[tuple[int, int]]) -> float:
    """The objective :func:`assign` maximises, for one given labelling (best size scale).

    ``path`` is ``[(position index, channel index), ...]`` head to feet, as :func:`assign`
    returns. ``-inf`` when the labelling breaks a hard rule (values not increasing, a gap too
    short or too long for its levels); 0 for an empty labelling.
    """
    if not path:
        return 0.0
    expected = _expected_distances(values)
    total = np.full(len(SCALES), sum(positions[i].confidence + EVIDENCE_WEIGHT * evidence[i, k] for i, k in path))
    for (j, u), (i, w) in zip(path[:-1], path[1:]):
        d = spacing_mm * float(np.hypot(positions[i].row - positions[j].row, positions[i].col - positions[j].col))
        gap = float(values[w] - values[u])
        if positions[i].row <= positions[j].row or d <= 0 or gap <= 0:
            return float("-inf")
        ok, trans = _transition(d, np.array(gap), np.array(expected[u, w]), 0.0, SCALES)
        if not ok:
            return float("-inf")
        total += trans
    return float(total.max())
