"""Count stability: does the count change when a strip is cut off the end away from its anchor?

A right count rests on what fixes it: the sacrum at the bottom of a lumbar field, C2 at the
top of a cervical one. Cut a strip off the other end and the discs left keep their values.
A count that the network read from the field of view instead (the real L5/S1 a few mm above
the lower edge dropped and L4/L5 taken for it; a lumbar field with no sacrum) is fragile: the
same cut shifts it. This module labels the network-ready slab once more with a strip removed
and compares the values of the discs found both times; it writes nothing and loads nothing.

Measured with hca-compact 0.7.0 (out of fold: its fold mirror with its calibration), as the
`Labeller` runs it (`python benchmarks/count_stability.py hca-compact --train-data EXT2_MYO --crops 9`,
`python benchmarks/real_sacrum.py ... --calibration hca-compact`, `python benchmarks/crop_consistency.py
... --calibration hca-compact`): no right `ok` image turned `check` among the 152 `ok` images of
the internal sets, the 44 of the real-sacrum benchmark and `bids/` (report only); it flags the
held-out gradient-echo scan `sub-myo32` (whole, `ok` at 0.97: its L5/S1 8 mm above the lower
edge dropped, every value one level high) and the one out-of-fold sacrum cut whose count
changed and was `ok` (`sub-zuk07`, its L5/S1 4 mm above the lower edge, `ok` at 0.98). Cost: one
more network pass on `ok` images (0.07-0.2 s a volume on the 2-core CPU).

Frame: model frame (row -> inferior, col -> posterior), rows in model pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from hca_disc_label.conventions import L5_S1
from hca_disc_label.preprocessing import pad_to_multiple

STRIP_MM = 20.0
"""Height of the strip cut off one end (mm): about two thirds of a lumbar vertebra and its disc,
enough to take the field's edge past the next disc, not enough to remove the anchor."""
MIN_LEFT_MM = 60.0
"""No test on fields shorter than this after the cut (two or three discs: nothing left to compare)."""
PAIR_MM = 7.0
"""Two labellings' discs are the same disc when their positions are this close (mutual nearest)."""


@dataclass(frozen=True)
class StripTest:
    """One strip cut and its outcome.

    Attributes:
        end: "top" or "bottom" (the end the strip was cut from).
        strip_mm: strip height (mm).
        matched: discs found with and without the strip (mutual nearest within PAIR_MM).
        changed: of them, those with another value.
    """

    end: str
    strip_mm: float
    matched: int
    changed: int

    def to_json(self) -> dict:
        return {"kind": "strip_test", "end": self.end, "strip_mm": self.strip_mm,
                "matched": self.matched, "changed": self.changed}


def ends_to_cut(values: Sequence[int]) -> tuple[str, ...]:
    """The ends whose strip is cut, given the values head to feet: the end away from the
    count's anchor (the top when the lowest disc is L5/S1, the bottom when the highest is C1/C2
    or C2/C3), both when neither or both ends are anchored."""
    bottom, top = values[-1] == L5_S1, values[0] <= 3
    if bottom and not top:
        return ("top",)
    if top and not bottom:
        return ("bottom",)
    return ("top", "bottom")


def cut_strip(image: np.ndarray, valid_shape: tuple[int, int], end: str, rows: int,
              multiple: int) -> tuple[np.ndarray, tuple[int, int], int]:
    """The network input with ``rows`` model rows cut off ``end`` of its valid region.

    Args:
        image: ``(H, W)`` or ``(C, H, W)`` normalised, padded slab (valid region top-left).
        valid_shape: ``(h, w)`` of the valid region.
        end: "top" or "bottom".
        rows: model rows to remove.
        multiple: the contract's size multiple (the result is padded again).

    Returns:
        ``(image, valid shape, row offset)``: a row ``r`` of the result is row ``r + offset``
        of the input.
    """
    h, w = valid_shape
    top = rows if end == "top" else 0
    kept = image[..., top:h - (0 if end == "top" else rows), :w]
    return pad_to_multiple(kept, multiple), (h - rows, w), top


def compare(before: Sequence[tuple[int, Sequence[float]]], after: Sequence[tuple[int, Sequence[float]]],
            same: float) -> tuple[int, int]:
    """``(matched, changed)``: discs of two labellings paired as mutual nearest positions within
    ``same`` (any frame, same units), and of those pairs the ones with another value.

    Args:
        before, after: ``(value, position)`` of each disc, positions in one frame.
    """
    if not before or not after:
        return 0, 0
    a = np.array([p for _, p in before], float)
    b = np.array([p for _, p in after], float)
    dist = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    matched = changed = 0
    for i in range(len(a)):
        j = int(np.argmin(dist[i]))
        if dist[i, j] <= same and int(np.argmin(dist[:, j])) == i:
            matched += 1
            changed += int(before[i][0] != after[j][0])
    return matched, changed


def strip_tests(detect: Callable[[np.ndarray, tuple[int, int]], Sequence], image: np.ndarray,
                valid_shape: tuple[int, int], discs: Sequence, spacing_mm: float, multiple: int,
                strip_mm: float = STRIP_MM) -> list[StripTest]:
    """Label ``image`` again with a strip cut off each end of :func:`ends_to_cut`.

    Args:
        detect: ``detect(image, valid_shape) -> decoded discs`` (network + decoder, no hints).
        image, valid_shape: the network input and its valid region (model frame).
        discs: the decoded discs of the whole input (``.value``, ``.row``, ``.col``).
        spacing_mm: model pixel size (mm).
        multiple: the contract's size multiple.

    Returns:
        One :class:`StripTest` per end cut; none for a field too short to cut.
    """
    rows = int(round(strip_mm / spacing_mm))
    if not discs or (valid_shape[0] - rows) * spacing_mm < MIN_LEFT_MM:
        return []
    whole = [(d.value, (float(d.row), float(d.col))) for d in discs]
    tests = []
    for end in ends_to_cut([d.value for d in discs]):
        cut, shape, offset = cut_strip(image, valid_shape, end, rows, multiple)
        found = [(d.value, (float(d.row) + offset, float(d.col))) for d in detect(cut, shape)]
        matched, changed = compare(whole, found, PAIR_MM / spacing_mm)
        tests.append(StripTest(end, strip_mm, matched, changed))
    return tests
