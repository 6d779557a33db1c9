"""Coronal curvature (scoliosis): the spine shifted left or right level by level.

Real sagittal scans are cut by flat planes, while many adult spines curve in the coronal
plane (degenerative lumbar scoliosis, thoracic curves, an S of both). A mid-sagittal slab then
passes through the canal at one level and beside it at another: there the bodies and discs
look narrower from the front, the canal and cord leave the slice and the pedicles and facet
pillars come in. The engine draws such a curve as a lateral shift ``dx(s)`` (mm, + = the
subject's left) of every spine part, as a function of the arc length ``s`` along the spine:
one or two raised-cosine bumps between end vertebrae, zero at and below the sacrum (the
pelvis holds it) and at the skull. Disc labels do not move in the sagittal plane; a 3D
volume puts each tip at its own level's shift.

The curve is drawn from its own generator (seeded by the subject's detail seed), so every
other random choice of a subject, window and look is the same with or without it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from hca_disc_label.synth.anatomy import Spine
from hca_disc_label.synth.parts import Part
from hca_disc_label.synth.raster import Band
from hca_disc_label.synth.spine_params import N_MOBILE

CURVE_P = 0.25
"""Fraction of synthetic subjects with a coronal curve."""

T4, T11, L1, L3 = 9, 16, 18, 20
"""Mobile-bone indices (0 = C2) used as end vertebrae."""

LATERAL_PARTS_MM = 4.0
"""A curve whose largest shift reaches this builds the off-midline parts in one-channel slabs
too: the pedicles and facet pillars come into the mid-sagittal slice beside a shifted canal."""


@dataclass(frozen=True)
class CoronalCurve:
    """A lateral shift of the spine along its arc length.

    Attributes:
        s: ``(K,)`` increasing arc lengths (mm, the spine's ``s``).
        dx: ``(K,)`` lateral shift there (mm, + = left); 0 beyond both ends.
        plane: where the scan's mid-sagittal plane sits as a fraction of the shift of the
            field of view's middle level (0 = through the sacrum's midline, 1 = through that
            level's canal): technologists and plane finders centre somewhere in between.
    """

    s: np.ndarray
    dx: np.ndarray
    plane: float = 0.0

    def at(self, s: np.ndarray | float) -> np.ndarray:
        """Shift (mm) at arc lengths ``s``."""
        return np.interp(s, self.s, self.dx, left=0.0, right=0.0)

    @property
    def amplitude(self) -> float:
        """Largest absolute shift (mm)."""
        return float(np.max(np.abs(self.dx))) if len(self.dx) else 0.0


def _bump(s_a: float, s_b: float, amplitude: float, step: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """A raised-cosine shift from 0 at ``s_a`` to ``amplitude`` midway and 0 again at ``s_b``."""
    s = np.linspace(s_a, s_b, max(3, int(np.ceil((s_b - s_a) / step)) + 1))
    dx = amplitude * np.sin(np.pi * (s - s_a) / (s_b - s_a)) ** 2
    dx[[0, -1]] = 0.0
    return s, dx


def sample_curve(spine: Spine, seed: int, p: float = CURVE_P) -> CoronalCurve | None:
    """Draw a coronal curve for ``spine`` (None for a straight spine, probability ``1 - p``).

    Shapes: a lumbar curve (apex about L2-L3, end vertebrae T10-L1 and L4-S1), a thoracic curve
    (T3-T6 to T10-L1), or both in opposite directions; each bump's amplitude 3-18 mm (Cobb
    angles of about 7-45 degrees over a lumbar span).
    """
    rng = np.random.default_rng([int(seed), 0xC0])
    if rng.random() >= p:
        return None
    kind = rng.choice(["lumbar", "thoracic", "double"], p=[0.55, 0.2, 0.25])
    sign = 1.0 if rng.random() < 0.5 else -1.0
    bs = spine.body_s
    pieces = []
    mid = float(bs[int(rng.integers(T11 - 1, L1 + 1)), 1])  # end vertebra shared by both bumps
    if kind in ("lumbar", "double"):
        low = float(bs[int(rng.integers(L3 + 1, N_MOBILE + 1)), 0])
        pieces.append(_bump(mid, low, sign * rng.uniform(3.0, 18.0)))
    if kind in ("thoracic", "double"):
        top = float(bs[int(rng.integers(T4 - 2, T4 + 2)), 0])
        direction = -sign if kind == "double" else sign  # an S: the two curves bend opposite ways
        pieces.append(_bump(top, mid, direction * rng.uniform(3.0, 15.0)))
    pieces.sort(key=lambda piece: piece[0][0])
    s = np.concatenate([piece[0] for piece in pieces])
    dx = np.concatenate([piece[1] for piece in pieces])
    s, keep = np.unique(s, return_index=True)
    return CoronalCurve(s, dx[keep], float(rng.uniform(0.0, 1.0)))


def _arc_length_of(spine: Spine, points: np.ndarray) -> np.ndarray:
    """Arc length of the spine point nearest each ``(N, 2)`` (u, v) point."""
    d = ((points[:, None, :] - spine.centre[None, ::2, :]) ** 2).sum(axis=-1)
    return spine.s[::2][np.argmin(d, axis=1)]


def bend(parts: list[Part], spine: Spine, curve: CoronalCurve) -> list[Part]:
    """Copies of spine ``parts`` shifted laterally by ``curve``.

    A polygon moves as a whole by the shift at its centroid's level; a band (canal linings,
    sac, cord, roots) gets one lateral centre per sample along its length. Returns new parts;
    the given ones are not changed.
    """
    out = []
    for part in parts:
        item = part.item
        if isinstance(item, Band):
            mid = np.stack([item.u, 0.5 * (item.va + item.vb)], axis=-1)
            shift = curve.at(_arc_length_of(spine, mid))
            out.append(replace(part, xc_profile=part.xc + shift))
        else:
            centroid = item.pts.mean(axis=0, keepdims=True)
            out.append(replace(part, xc=part.xc + float(curve.at(_arc_length_of(spine, centroid))[0])))
    return out


def tip_shifts(spine: Spine, curve: CoronalCurve | None) -> dict[int, float]:
    """Lateral shift (mm) of each disc tip (SCT value -> mm; all 0 for a straight spine)."""
    if curve is None:
        return {int(v): 0.0 for v in spine.tips}
    return {int(v): float(curve.at(spine.tip_s[v])) for v in spine.tips}


def plane_shift(spine: Spine, curve: CoronalCurve | None, u_top: float, u_bot: float) -> float:
    """Where the scan's mid-sagittal plane sits (mm) for a field of view ``[u_top, u_bot]``
    (rows, mm): the curve's ``plane`` fraction of the shift at the middle of the view."""
    if curve is None:
        return 0.0
    inside = np.flatnonzero((spine.centre[:, 0] >= u_top) & (spine.centre[:, 0] <= u_bot))
    if len(inside) == 0:
        return 0.0
    return curve.plane * float(curve.at(spine.s[inside[len(inside) // 2]]))
