"""The lumbosacral turn: an S1/S2 remnant read as L5/S1 lies inside the sacral curve.

A first sacral body with a disc-like S1/S2 remnant can look like L5 to the network; then the
remnant is numbered "L5/S1" and every disc above it one level too cranial. The geometry tells
them apart: the line through the posterior disc tips follows the lumbar lordosis down to L5/S1
and turns backwards along the sacrum below it. So the turn at the disc above the lowest, when
the lowest three are numbered L3/L4, L4/L5, L5/S1, is the L4 -> L5 turn of a right count but
the L5 -> S1 turn of a remnant read as L5/S1.

Measured at the decoded positions (model frame):

* hca-compact 0.5.0 on all 57 ``bids-train`` images numbered down to L5/S1 (every count right):
  L4 -> L5 turns 2.5 to 32.7 degrees, 56 of 57 under 24;
* hca-compact 0.4.0 on the two real T2 sacra whose remnant it numbered "L5/S1" (``sub-zuk20``,
  ``sub-zuk23``): 32.5 and 31.7 degrees (43 and 55 between the manual L5/S1 and the remnant).

The two overlap at the decoded positions, so the turn is first a doubt: above
:data:`SACRAL_DOUBT_DEG` the image is ``check`` and the question is which disc is L5/S1. Only
a turn no right count reached, above :data:`SACRAL_TURN_DEG`, renumbers: the disc above the
lowest becomes L5/S1 (as a user's hint would set it) and the remnant drops out; the image stays
``check`` with the network's count as the alternative.

A second doubt looks below the lowest "L5/S1": no disc lies below L5/S1, so a detected disc peak
there, one level down, has no value left and the decoder drops it. It is either the real
L5/S1, near a lower edge that cuts the sacrum off (every value one level too cranial, the count
read from the field of view: the confident errors of the real-sacrum folds), or a disc-like
S1/S2. Either way the image is ``check`` and the question is which disc is L5/S1
(:func:`disc_below`). Measured with the 0.7.0 calibration: on the real sacra out of fold (fold
models of three seed pairs, `benchmarks/real_sacrum.py`) it catches 3 of the 4 wrong ``ok`` images
(``sub-zuk07`` cut 8 mm below L5/S1) and doubts no right one; on the 58 whole ``bids-train``
scans it fires on 5 (hca-compact 0.7.0): the wrong ``sub-myo32`` and 4 right gradient-echo scans
whose S1/S2 is disc-like (0.8.0 also on 5: ``sub-myo02``, ``05``, ``13``, ``31``, ``32``); on the internal sets (`benchmarks/count_stability.py`) it turns 1-3
of about 150 right ``ok`` images ``check`` (synthetic S1/S2 remnants, a real crop ending at the
peak).

Positions are model-frame pixels (row -> inferior, col -> posterior; isotropic, so angles are
those in mm); angles in degrees, positive towards posterior.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hca_disc_label.conventions import L5_S1

SACRAL_DOUBT_DEG = 27.0
"""Turn (degrees) at the disc above the lowest "L5/S1" beyond which the count is ``check``:
above all but one right L4 -> L5 turn (32.7) and below the remnant turns seen (31.7, 32.5)."""

BELOW_RANGE = (0.6, 1.6)
"""A detected disc peak below a lowest "L5/S1" counts as a disc one level down when its distance
is within this range of the distance per level between the lowest two numbered discs."""

BELOW_MIN_DESCENT = 0.5
"""... and when it lies below rather than beside: row drop at least this share of its distance."""

SACRAL_TURN_DEG = 40.0
"""Turn (degrees) beyond which the lowest "L5/S1" is taken for the S1/S2 remnant and the
count renumbered: well above every right L4 -> L5 turn measured (at most 32.7 at the decoded
positions, 30.3 at the manual labels of the 58 subjects)."""

def segment_angle(upper: tuple[float, float], lower: tuple[float, float]) -> float:
    """Angle (degrees) of the segment from ``upper`` to ``lower`` ``(row, col)`` away from the
    straight head-to-feet direction, positive when it runs posterior; pixel spacing is
    isotropic in the model frame, so pixels serve as well as mm."""
    return math.degrees(math.atan2(lower[1] - upper[1], lower[0] - upper[0]))


def turn_at(points: Sequence[tuple[float, float]]) -> float:
    """Turn (degrees, positive = posterior) at the middle of three ``(row, col)`` points,
    head to feet: angle of the lower segment minus angle of the upper one."""
    a, b, c = points
    return segment_angle(b, c) - segment_angle(a, b)


def lowest_turn(rows_cols: Sequence[tuple[float, float]], values: Sequence[int]) -> float | None:
    """The turn (degrees) at the disc above the lowest when the lowest three discs are numbered
    L3/L4, L4/L5, L5/S1 (values ``23, 24, 25``, no level skipped), else None: with fewer discs
    or a gap there is no lordosis to compare with.

    Args:
        rows_cols: ``(row, col)`` of the numbered discs, head to feet (model frame).
        values: their SCT values, same order.
    """
    if len(values) < 3 or list(values[-3:]) != [L5_S1 - 2, L5_S1 - 1, L5_S1]:
        return None
    return turn_at(rows_cols[-3:])


def disc_below(rows_cols: Sequence[tuple[float, float]], values: Sequence[int],
               others: Sequence[tuple[float, float]]) -> float | None:
    """Distance (model pixels) from a lowest "L5/S1" to the nearest detected disc peak the count
    left out one level below it, else None.

    No disc lies below L5/S1, so the decoder must drop such a peak; it is either the real
    L5/S1 (every value one level too cranial: the network read the field of view, not the
    sacrum) or an S1/S2 remnant. Either way the count needs a look.

    Args:
        rows_cols: ``(row, col)`` of the numbered discs, head to feet (model frame).
        values: their SCT values, same order.
        others: ``(row, col)`` of the detected peaks that were not numbered.
    """
    if len(values) < 2 or values[-1] != L5_S1:
        return None
    (r1, c1), (r0, c0) = rows_cols[-2], rows_cols[-1]
    level = math.hypot(r0 - r1, c0 - c1) / (values[-1] - values[-2])  # per level, should one be skipped
    found = []
    for r, c in others:
        d = math.hypot(r - r0, c - c0)
        if BELOW_RANGE[0] * level <= d <= BELOW_RANGE[1] * level and r - r0 >= BELOW_MIN_DESCENT * d:
            found.append(d)
    return min(found) if found else None
