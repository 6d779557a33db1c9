"""Geometry of a built synthetic spine in the mid-sagittal plane (mm): bones, discs, the canal curve.

Frame: ``(u, v)`` mm, u -> inferior, v -> posterior (the model 2D frame before dividing by
the pixel spacing). An orientation ``phi`` is the angle of the downward tangent away from
straight down, positive toward posterior; a positive wedge is lordotic (taller anteriorly).

The random parameters live in :mod:`.spine_params`; :func:`.chain.build_spine` turns them into
the :class:`Spine` defined here. This module holds the types and the queries on a built spine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from hca_disc_label.synth.spine_params import N_MOBILE, SpineParams, c1_canal_ap

@dataclass
class Bone:
    """One vertebral body (or sacral / coccygeal segment).

    Attributes:
        name: "C2", ..., "L5", "S1".. "S5", "Co1".. "Co3".
        pt, pb, at, ab: posterior-top, posterior-bottom, anterior-top, anterior-bottom corners.
        phi_t, phi_b: orientation of the top and bottom endplates.
        depth, half_width: AP depth and L-R half width (mm).
        outline: ``(M, 2)`` rounded outline polygon (u, v) mm.
        shade: marrow intensity multiplier.
        modic_top, modic_bot: endplate signal change kind (0 none, 1 oedema, 2 fat).
    """

    name: str
    pt: np.ndarray
    pb: np.ndarray
    at: np.ndarray
    ab: np.ndarray
    phi_t: float
    phi_b: float
    depth: float
    half_width: float
    outline: np.ndarray
    shade: float = 1.0
    modic_top: int = 0
    modic_bot: int = 0


@dataclass
class Disc:
    """One intervertebral disc (or fused sacral remnant when ``value`` is 0).

    Attributes:
        value: SCT value (3..25), 0 for sacral/coccygeal remnants.
        outline: ``(M, 2)`` polygon (u, v) mm.
        nucleus: ``(K, 2)`` nucleus polygon (empty for remnants).
        cleft: ``(K, 2)`` intranuclear cleft polygon or None.
        tip: posterior tip (u, v) mm (the label position).
        normal: unit posterior normal at the tip.
        height, depth, half_width: mean height, AP depth, L-R half width (mm).
        degeneration: 0..1.
    """

    value: int
    outline: np.ndarray
    nucleus: np.ndarray
    cleft: np.ndarray | None
    tip: np.ndarray
    normal: np.ndarray
    height: float
    depth: float
    half_width: float
    degeneration: float


@dataclass
class Spine:
    """A built spine in the (u, v) mm frame.

    Attributes:
        params: the random parameters it was built from.
        bones: mobile bodies C2..L5 then S1..S5, Co1..Co3.
        discs: mobile discs (values 3..25) then sacral remnants (value 0).
        tips: SCT value -> posterior tip (u, v), values 2..25.
        dens: dens polygon; c1_ant / c1_post: C1 anterior / posterior arch polygons.
        transverse_lig: polygon of the transverse ligament behind the dens.
        wall_a: ``(K, 2)`` anterior canal wall (posterior walls of bodies and discs), by arc
            length ``s`` (``(K,)``, 1 mm steps, s = 0 at the C1/C2 tip).
        centre: ``(K, 2)`` smoothed canal-front curve; ``normal``: ``(K, 2)`` posterior unit
            normals of it; ``d_wall_a``: ``(K,)`` signed offset of ``wall_a`` from ``centre``.
        level_s: ``(23,)`` arc length of each mobile body's middle.
        body_s: ``(n_bones, 2)`` arc lengths of each bone's top and bottom posterior corners.
        tip_s: SCT value -> arc length of the tip.
        dens_tip: (u, v) of the dens apex; dens_s: arc length at the dens apex level.
        spinous: per mobile vertebra the lamina + spinous polygon.
        laminae: per mobile vertebra the lamina part alone (seen off the midline).
        spinous_tips: ``(23, 2)`` spinous process tips.
        s_canal: arc-length range of the bony canal (top of the dens region .. coccyx).
        lamina_s: ``(23, 2)`` arc-length range of each lamina along the posterior canal wall.
        sacral_crest: polygon of the sacral lamina / median crest.
    """

    params: SpineParams
    bones: list[Bone]
    discs: list[Disc]
    tips: dict[int, np.ndarray]
    dens: np.ndarray
    c1_ant: np.ndarray
    c1_post: np.ndarray
    transverse_lig: np.ndarray
    s: np.ndarray
    wall_a: np.ndarray
    centre: np.ndarray
    normal: np.ndarray
    d_wall_a: np.ndarray
    level_s: np.ndarray
    body_s: np.ndarray
    tip_s: dict[int, float]
    dens_tip: np.ndarray
    dens_s: float
    spinous: list[np.ndarray] = field(default_factory=list)
    laminae: list[np.ndarray] = field(default_factory=list)
    spinous_tips: np.ndarray | None = None
    lamina_s: np.ndarray | None = None
    sacral_crest: np.ndarray | None = None
    s_canal: tuple[float, float] = (0.0, 0.0)
    dens_bridge: np.ndarray | None = None

    # -- curve helpers ---------------------------------------------------------------------
    def at(self, s: np.ndarray | float, d: np.ndarray | float = 0.0) -> np.ndarray:
        """Point(s) ``(N, 2)`` at arc length ``s`` and posterior offset ``d`` from the smoothed curve.

        ``self.s`` is a uniform 1 mm grid, so interpolation is direct indexing (hot path).
        """
        s = np.atleast_1d(np.asarray(s, dtype=float))
        pos = np.clip(s - self.s[0], 0.0, len(self.s) - 1.000001)
        i0 = pos.astype(np.intp)
        f = (pos - i0)[:, None]
        cn = self._centre_normal
        a, b = cn[i0], cn[i0 + 1]
        v = a + f * (b - a)
        d = np.asarray(d, dtype=float)
        d = d[:, None] if d.ndim else d
        return v[:, :2] + d * v[:, 2:]

    @cached_property
    def _centre_normal(self) -> np.ndarray:
        return np.concatenate([self.centre, self.normal], axis=1)

    @cached_property
    def canal_ap(self) -> np.ndarray:
        """Canal AP diameter (mm) along ``s`` (see :func:`canal_ap_profile`), cached."""
        return _canal_ap_profile(self)

    def tangent_at(self, s: float) -> np.ndarray:
        """Unit inferior tangent of the smoothed curve at ``s`` (normal rotated)."""
        n = self.at_normal(s)
        return np.array([n[1], -n[0]])

    def at_normal(self, s: float) -> np.ndarray:
        """Unit posterior normal of the smoothed curve at ``s``."""
        n = np.array([np.interp(s, self.s, self.normal[:, 0]), np.interp(s, self.s, self.normal[:, 1])])
        return n / np.linalg.norm(n)

    def profile(self, values_at_levels: np.ndarray, s_levels: np.ndarray | None = None) -> np.ndarray:
        """Interpolate per-level values onto the curve samples ``self.s`` (``(K,)``)."""
        xs = self.level_s if s_levels is None else s_levels
        return np.interp(self.s, xs, values_at_levels)


def landmark_points(spine: Spine) -> dict[int, np.ndarray]:
    """Positions (u, v) mm of the landmarks of :data:`~hca_disc_label.conventions.LANDMARKS`.

    C2 and S1 bodies: the mean of the body's four corners; S1/S2: midway between the S1
    body's posterior-inferior and the S2 body's posterior-superior corners (where a disc tip
    would be), whatever the junction looks like (fused, thin remnant or disc-like).
    """
    def centre(b: Bone) -> np.ndarray:
        return 0.25 * (b.pt + b.pb + b.at + b.ab)

    s1, s2 = spine.bones[N_MOBILE], spine.bones[N_MOBILE + 1]
    return {102: centre(spine.bones[0]), 125: centre(s1), 126: 0.5 * (s1.pb + s2.pt)}


def canal_ap_profile(spine: Spine) -> np.ndarray:
    """Canal AP diameter (mm) along ``spine.s`` measured from the smoothed front curve."""
    return spine.canal_ap


def _canal_ap_profile(spine: Spine) -> np.ndarray:
    p = spine.params
    c1_ap = c1_canal_ap(p)
    sac = spine.body_s[N_MOBILE:].mean(axis=1)
    sac_ap = np.linspace(0.85, 0.35, len(sac)) * p.canal_ap[-1]
    xs = np.concatenate([[spine.dens_s - 15.0, spine.dens_s * 0.6], spine.level_s, sac])
    ys = np.concatenate([[c1_ap * 1.3, c1_ap], p.canal_ap, sac_ap])
    return np.interp(spine.s, xs, ys)
