"""Laying parts out along a spine's canal curve: profiles and offset curves by arc length.

A spine (:class:`~.anatomy.Spine`) carries its canal-front curve sampled every 1 mm of arc
length ``s``; the scene builders describe structures as offsets ``d`` (mm, posterior > 0)
from that curve over an arc-length range, and skip whatever lies outside the range a field
of view needs.
"""

from __future__ import annotations

import numpy as np

from hca_disc_label.synth.anatomy import Spine


class SubCurve:
    """A window ``[k0, k1)`` of a spine's curve samples that quacks like the spine for the
    canal helpers (``s``, ``at``, ``level_s``, ``s_canal``)."""

    def __init__(self, spine: Spine, k0: int, k1: int):
        self.spine = spine
        self.s = spine.s[k0:k1]
        self.level_s = spine.level_s
        self.s_canal = spine.s_canal

    def at(self, s: np.ndarray, d: np.ndarray | float = 0.0) -> np.ndarray:
        return self.spine.at(s, d)


def level_profile(spine: Spine | SubCurve, per_mobile: np.ndarray, above: float | None = None,
                  below: float | None = None) -> np.ndarray:
    """Per-mobile-level values ``(23,)`` interpolated onto ``spine.s``; ``above`` / ``below``
    pin the value at the top / bottom of the bony canal."""
    xs = list(spine.level_s)
    ys = list(per_mobile)
    if above is not None:
        xs = [spine.s_canal[0]] + xs
        ys = [above] + ys
    if below is not None:
        xs = xs + [spine.s_canal[1]]
        ys = ys + [below]
    return np.interp(spine.s, xs, ys)


def offset_curve(spine: Spine | SubCurve, d: np.ndarray, lo: float, hi: float, step: int = 1) -> np.ndarray:
    """``(K, 2)`` points (u, v) mm at offsets ``d`` (one per sample of ``spine.s``) over ``[lo, hi]``."""
    idx = np.flatnonzero((spine.s >= lo) & (spine.s <= hi))[::step]
    return spine.at(spine.s[idx], d[idx])


def along(spine: Spine | SubCurve, values: np.ndarray, lo: float, hi: float, step: int = 1) -> np.ndarray:
    """The values (one per sample of ``spine.s``) at the samples :func:`offset_curve` keeps."""
    idx = np.flatnonzero((spine.s >= lo) & (spine.s <= hi))[::step]
    return values[idx]


def overlaps(lo: float, hi: float, rng_s: tuple[float, float]) -> bool:
    """Whether the arc-length range ``[lo, hi]`` meets ``rng_s``."""
    return hi >= rng_s[0] and lo <= rng_s[1]


def clip_range(lo: float, hi: float, rs: tuple[float, float]) -> tuple[float, float]:
    """``[lo, hi]`` clipped to ``rs`` (empty when the result has ``hi <= lo``)."""
    return max(lo, rs[0]), min(hi, rs[1])
