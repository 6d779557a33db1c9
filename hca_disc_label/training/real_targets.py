"""Which targets of a partially labelled real image are known, and where they stay unknown.

Real datasets label some discs only (``bids-train``: L1/L2..L4/L5, extended by one level each
way) and no landmark. A channel whose disc or landmark is probably visible but unlabelled must
not be taught "nothing here" where it is; a channel whose disc is surely out of view, or surely
not at some place, should be. Both functions return ``(known codes, unsure regions)``; a region
is ``code -> (row, col, radius)`` in model pixels (row -> inferior, col -> posterior), inside
which the channel's target is unknown (:func:`~hca_disc_label.training.data.collate` masks it).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from hca_disc_label.conventions import DISC_VALUES

UNSURE_RADIUS_LEVELS = 0.6
"""Radius of an unlabelled disc's unknown-target region, in disc spacings (one level away;
grows by a quarter spacing per further level, as the extrapolation gets less certain)."""


def known_values_real(
    discs: dict[int, tuple[float, float]], height: int
) -> tuple[set[int], dict[int, tuple[float, float, float]]]:
    """Which channels of a partially labelled real image have a known target, and where not.

    Labelled values are known. An unlabelled value is extrapolated from the labelled discs'
    per-level spacing: far outside the image (more than one spacing) it is known to be
    absent; otherwise it is probably a visible, unannotated disc, so its target is unknown
    only around its extrapolated position and known to be zero elsewhere. Without that, a
    dataset labelled L1/L2..L4/L5 would never teach the L5/S1 channel anything on real images
    (not even "not on L4/L5, not on the sacrum").

    Args:
        discs: labelled value -> (row, col) model px.
        height: image height (rows).

    Returns:
        ``(known values, unsure regions)``; regions as value -> ``(row, col, radius)`` px.
    """
    values = sorted(discs)
    known = set(values)
    unsure: dict[int, tuple[float, float, float]] = {}
    if len(values) < 2:
        return known, unsure
    rows = np.array([discs[v][0] for v in values])
    cols = np.array([discs[v][1] for v in values])
    per_level = float(np.median(np.diff(rows) / np.diff(values)))
    if per_level <= 0:
        return known, unsure
    col_per_level = float(np.median(np.diff(cols) / np.diff(values)))
    for v in DISC_VALUES:
        if v in known:
            continue
        ref = values[0] if v < values[0] else values[-1]
        levels = abs(v - ref)
        row = discs[ref][0] + (v - ref) * per_level
        known.add(v)
        if -per_level <= row <= height - 1 + per_level:
            col = discs[ref][1] + (v - ref) * col_per_level
            radius = per_level * (UNSURE_RADIUS_LEVELS + 0.25 * (levels - 1))
            unsure[v] = (float(row), float(col), float(radius))
    return known, unsure


LANDMARK_PLACE_LEVELS: dict[int, float] = {102: 3 - 0.6, 125: 25 + 0.6, 126: 25 + 1.0}
"""Where each landmark sits in disc-value units (C2 body centre a little above C2/C3, S1 body
centre a little below L5/S1, S1/S2 one level below it), to tell from a real image's labelled
spacing whether a landmark is surely out of view."""


SACRAL_LANDMARKS = (125, 126)
"""The S1 body centre and the S1/S2 junction: both lie below a labelled L5/S1."""
SACRAL_FREE_LEVELS = 0.25
"""Below a labelled L5/S1 tip, the sacral landmarks' unknown region starts this many disc
spacings down: above it (L5/S1 itself, L5, the lumbar column) their targets are known zero."""
SACRAL_REGION_LEVELS = 4.0
"""Radius of that unknown region (a disc far below the tip, so locally a half-plane), in disc
spacings: it holds S1, the S1/S2 junction and the whole sacrum in every lordosis."""


def known_landmarks_real(discs: dict[int, tuple[float, float]], height: int, labelled: Collection[int] = ()
                         ) -> tuple[set[int], dict[int, tuple[float, float, float]]]:
    """Landmark codes of a real image with a known target, and where they stay unknown.

    Real datasets carry no landmark labels. A landmark is extrapolated from the labelled discs'
    spacing and is known absent when that place is over two levels outside the image. When the
    real L5/S1 is labelled (the real sacra of ``sub-zuk*``, whose L5/S1 comes from the L5
    mask), the sacral landmarks are known to be absent at and above it: that is what tells the
    S1/S2 channel that the real L5/S1 is not the remnant. They stay unknown below it (S1 and
    its junction are there but unlabelled), except those in ``labelled`` (landmarks with a
    manual label, e.g. the S1/S2 read by eye on the real sacra): known everywhere, a target at
    their label.

    Returns:
        ``(known codes, unsure regions)``; regions as code -> ``(row, col, radius)`` model px,
        the same form as :func:`known_values_real`'s.
    """
    values = sorted(discs)
    if len(values) < 2:
        return set(), {}
    rows = np.array([discs[v][0] for v in values])
    cols = np.array([discs[v][1] for v in values])
    per_level = float(np.median(np.diff(rows) / np.diff(values)))
    if per_level <= 0:
        return set(), {}
    out: set[int] = set()
    for code, place in LANDMARK_PLACE_LEVELS.items():
        ref = values[0] if place < values[0] else values[-1]
        row = discs[ref][0] + (place - ref) * per_level
        if row < -2.0 * per_level or row > height - 1 + 2.0 * per_level:
            out.add(code)
    unsure: dict[int, tuple[float, float, float]] = {}
    if 25 in discs:
        step = np.array([per_level, float(np.median(np.diff(cols) / np.diff(values)))])
        down = step / np.linalg.norm(step)
        radius = SACRAL_REGION_LEVELS * per_level
        centre = np.array(discs[25]) + down * (radius + SACRAL_FREE_LEVELS * per_level)
        for code in SACRAL_LANDMARKS:
            if code not in out and code not in labelled:
                out.add(code)
                unsure[code] = (float(centre[0]), float(centre[1]), float(radius))
    return out | set(labelled), unsure
