"""Geometry of a random spine in the mid-sagittal plane (mm), from the dens to the coccyx.

The spine is built as a chain of rigid links, head to feet: vertebral body, disc, body, ...
Each link has a posterior height and a wedge angle (how much the next endplate turns), so the
curvature lives where it lives in people: lordosis mostly in wedge-shaped discs (taller in
front), thoracic kyphosis partly in wedge-shaped bodies, the sacrum and coccyx curling forward.
The chain starts at the posterior-superior corner of the C2 body, which is where SCT puts the
C1/C2 label (value 2), and every later posterior disc tip follows from the chain, so labels
are exact by construction.

Frame: ``(u, v)`` mm, u -> inferior, v -> posterior (the model 2D frame before dividing by
the pixel spacing). An orientation ``phi`` is the angle of the downward tangent away from
straight down, positive toward posterior; a positive wedge is lordotic (taller anteriorly).

Everything random is drawn in :func:`sample_params`; :func:`build_spine` is deterministic,
so the same parameters can be rebuilt at another global orientation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hca_disc_label.synth import shapes

VERTEBRAE: tuple[str, ...] = (
    ("C2", "C3", "C4", "C5", "C6", "C7")
    + tuple(f"T{i}" for i in range(1, 13))
    + tuple(f"L{i}" for i in range(1, 6))
)
"""Mobile vertebrae with a body, head to feet; the disc below ``VERTEBRAE[i]`` has SCT value
``i + 3`` (C2 -> 3 = C2/C3, ..., L5 -> 25 = L5/S1)."""

N_MOBILE = len(VERTEBRAE)

# Adult means (mm) for a body scale of 1. C2 height is the body below the dens base.
_BODY_H = np.array([14.0, 13.5, 13.5, 13.5, 13.8, 14.5, 16.5, 17.5, 18.0, 18.5, 19.0, 19.5,
                    20.5, 21.0, 21.5, 22.5, 23.5, 24.5, 25.5, 26.5, 27.0, 27.0, 26.0])
_BODY_D = np.array([15.5, 15.5, 16.0, 16.5, 17.0, 17.5, 18.0, 19.0, 20.0, 21.0, 22.0, 23.5,
                    25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 32.0, 33.0, 34.0, 35.0, 35.0])
_BODY_HW = np.array([9.0, 10.0, 10.5, 11.0, 11.5, 12.5, 13.0, 14.0, 14.0, 14.5, 15.0, 15.5,
                     16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 21.0, 22.0, 23.0, 24.0, 25.0])
_DISC_H = np.array([4.5, 5.0, 5.5, 5.5, 5.5, 5.0, 4.0, 4.0, 4.0, 4.2, 4.5, 4.8, 5.0, 5.2,
                    5.5, 6.0, 6.5, 7.5, 9.0, 10.0, 11.0, 11.5, 11.0])
_CANAL_AP = np.array([17.0, 14.5, 14.0, 14.0, 14.0, 14.0, 14.0, 13.5, 13.5, 13.5, 13.5, 13.5,
                      13.5, 13.5, 14.0, 14.5, 15.0, 16.0, 16.5, 16.5, 17.0, 17.0, 17.0])
_CANAL_HW = np.array([12.5, 12.5, 12.5, 12.5, 12.5, 12.0, 10.5, 9.5, 9.0, 9.0, 9.0, 9.0, 9.0,
                      9.0, 9.5, 10.0, 10.5, 11.0, 11.0, 11.5, 12.0, 12.5, 13.0])
_CORD_AP = np.array([8.5, 8.2, 8.3, 8.5, 8.3, 7.5, 7.0, 6.5, 6.5, 6.5, 6.5, 6.5, 6.5, 6.5,
                     7.0, 7.5, 8.0, 8.0, 6.0, 0.0, 0.0, 0.0, 0.0])
_CORD_HW = np.array([6.0, 6.5, 6.8, 7.0, 6.8, 6.0, 5.0, 4.5, 4.5, 4.5, 4.5, 4.5, 4.5, 4.5,
                     4.8, 5.0, 5.2, 5.2, 4.0, 0.0, 0.0, 0.0, 0.0])
# Spinous processes: length, downward angle (deg), base height, tip height (mm).
_SPINOUS = np.array([
    [24, 20, 11, 9], [16, 20, 7, 5], [16, 20, 7, 5], [17, 20, 7, 5], [20, 22, 7, 5.5],
    [32, 25, 8, 7], [35, 35, 8, 7], [35, 40, 8, 7], [36, 55, 7, 6], [36, 58, 7, 6],
    [36, 60, 7, 6], [36, 60, 7, 6], [36, 58, 7, 6], [36, 55, 7, 6], [35, 50, 7, 6],
    [33, 40, 8, 7], [30, 25, 10, 9], [30, 15, 12, 10], [30, 5, 16, 12], [31, 5, 17, 13],
    [31, 5, 17, 13], [29, 5, 16, 12], [24, 10, 12, 9]], dtype=float)
# Sacrum S1..S5 then coccyx Co1..Co3: height, depth, L-R half width (mm).
_SACRAL = np.array([[27, 37, 24], [22, 30, 20], [18, 24, 16], [14, 18, 12], [11, 13, 9],
                    [9, 10, 7], [8, 8, 6], [7, 6, 5]], dtype=float)
_SACRAL_DISC_H = np.array([3.0, 1.8, 1.5, 1.2, 1.2, 1.5, 1.2])

_EXTEND_TOP = 160.0
_EXTEND_BOTTOM = 260.0

_CERVICAL = slice(0, 6)
_THORACIC = slice(6, 18)
_LUMBAR = slice(18, 23)


def disc_value_below(index: int) -> int:
    """SCT value of the disc below mobile vertebra ``index`` (0 = C2 -> 3)."""
    return index + 3


@dataclass
class SpineParams:
    """Every random choice of one synthetic spine (mm, radians).

    Attributes:
        scale: global body size factor (0.85 - 1.15).
        age: years (18 - 85); drives degeneration and marrow heterogeneity.
        body_h, body_d, body_hw: per mobile vertebra height / depth / L-R half width.
        disc_h: mean height of the disc below each mobile vertebra.
        body_wedge, disc_wedge: wedge angle of each body / disc below it (lordotic > 0).
        sacral_h, sacral_d, sacral_hw, sacral_disc_h, sacral_wedge: the same for S1..Co3.
        endplate_sag, wall_sag: endplate concavity and posterior/anterior wall concavity.
        disc_bulge_p, disc_bulge_a: posterior / anterior bulge of each disc.
        degeneration: 0 (healthy) .. 1 (collapsed) per disc.
        canal_ap, canal_hw: canal AP diameter and L-R half width per mobile vertebra.
        cord_ap, cord_hw, cord_shift: cord AP diameter, half width, AP offset in the sac.
        conus_level: fractional mobile index of the conus tip (T12 = 17 ... L2 = 19.5).
        sac_end: fractional sacral index where the thecal sac ends.
        dens_h, dens_tilt, c2_lip: dens height, backward tilt, C2 antero-inferior lip.
        spinous: ``(23, 4)`` spinous process parameters (see ``_SPINOUS``).
        cortex: cortical thickness.
        epidural_a, epidural_p: epidural fat thickness anterior/posterior of the sac,
            per mobile vertebra.
        flavum: ligamentum flavum thickness / indentation.
        shades: per-vertebra marrow shade multipliers (mobile then sacral).
        modic: per disc, 0 = none, 1 = oedema-like, 2 = fatty endplate change.
        cleft: per disc, whether an intranuclear cleft shows.
    """

    scale: float
    age: float
    body_h: np.ndarray
    body_d: np.ndarray
    body_hw: np.ndarray
    disc_h: np.ndarray
    body_wedge: np.ndarray
    disc_wedge: np.ndarray
    sacral_h: np.ndarray
    sacral_d: np.ndarray
    sacral_hw: np.ndarray
    sacral_disc_h: np.ndarray
    sacral_wedge: np.ndarray
    endplate_sag: np.ndarray
    wall_sag: np.ndarray
    disc_bulge_p: np.ndarray
    disc_bulge_a: np.ndarray
    degeneration: np.ndarray
    canal_ap: np.ndarray
    canal_hw: np.ndarray
    cord_ap: np.ndarray
    cord_hw: np.ndarray
    cord_shift: float
    conus_level: float
    sac_end: float
    dens_h: float
    dens_tilt: float
    c2_lip: float
    spinous: np.ndarray
    cortex: float
    epidural_a: np.ndarray
    epidural_p: np.ndarray
    flavum: float
    shades: np.ndarray
    modic: np.ndarray
    cleft: np.ndarray


def _bell(n: int, centre: float, width: float) -> np.ndarray:
    x = np.arange(n, dtype=float)
    w = np.exp(-0.5 * ((x - centre) / width) ** 2)
    return w / w.sum()


def sample_params(rng: np.random.Generator) -> SpineParams:
    """Draw a random adult spine (sizes, curvatures, degeneration)."""
    k = rng.uniform(0.85, 1.15)
    kd = k * rng.uniform(0.93, 1.07)
    age = rng.uniform(18.0, 85.0)
    jit = lambda n, sd: rng.normal(1.0, sd, n)  # noqa: E731 - tiny local helper

    body_h = _BODY_H * k * jit(N_MOBILE, 0.04)
    body_d = _BODY_D * kd * jit(N_MOBILE, 0.04)
    body_hw = _BODY_HW * kd * jit(N_MOBILE, 0.04)
    disc_h = _DISC_H * k * jit(N_MOBILE, 0.08)

    # Curvature budgets (Cobb-like, degrees), distributed over bodies and discs.
    cerv = np.clip(rng.normal(12.0, 13.0), -20.0, 45.0)
    thor = np.clip(rng.normal(38.0, 10.0), 10.0, 70.0)
    lumb = np.clip(rng.normal(48.0, 11.0), 15.0, 80.0)
    sacral = np.clip(rng.normal(55.0, 12.0), 25.0, 85.0)
    coccyx = np.clip(rng.normal(35.0, 15.0), 0.0, 70.0)
    body_w = np.zeros(N_MOBILE)
    disc_w = np.zeros(N_MOBILE)
    disc_w[0:5] += cerv * 0.8 * np.array([0.18, 0.22, 0.22, 0.2, 0.18])
    body_w[1:6] += cerv * 0.2 / 5
    disc_w[5] += rng.normal(0.0, 2.0)
    tb = _bell(12, rng.uniform(5.0, 7.5), 3.5)
    body_w[6:18] -= thor * 0.55 * tb
    disc_w[6:17] -= thor * 0.45 * _bell(11, rng.uniform(4.5, 6.5), 3.5)
    disc_w[17] += rng.normal(0.0, 2.0)
    disc_w[18:23] += lumb * 0.75 * np.array([0.1, 0.14, 0.2, 0.26, 0.30])
    body_w[18:23] += lumb * 0.25 * np.array([0.0, 0.05, 0.15, 0.3, 0.5])
    body_w += rng.normal(0.0, 1.2, N_MOBILE)
    disc_w += rng.normal(0.0, 1.2, N_MOBILE)
    body_w[0] = rng.normal(0.0, 2.0)

    sac_wedge = -np.concatenate([sacral * np.full(9, 1.0 / 9.0), coccyx * np.full(6, 1.0 / 6.0)])
    sac_wedge += rng.normal(0.0, 1.0, 15)

    # Degeneration: more with age, lower lumbar and lower cervical levels.
    level_risk = np.full(N_MOBILE, 0.25)
    level_risk[3:6] = [0.5, 0.7, 0.6]
    level_risk[17:23] = [0.3, 0.35, 0.45, 0.6, 0.85, 0.8]
    age_risk = np.clip((age - 25.0) / 55.0, 0.0, 1.0)
    p_degen = 0.04 + 0.75 * age_risk * level_risk
    degenerate = rng.random(N_MOBILE) < p_degen
    degeneration = np.where(degenerate, rng.uniform(0.15, 1.0, N_MOBILE), 0.0)
    degeneration[rng.random(N_MOBILE) < 0.02] = 1.0  # rare collapsed discs anywhere

    depth_ratio = body_d / 30.0
    canal_ap = _CANAL_AP * k * rng.uniform(0.85, 1.12) * jit(N_MOBILE, 0.04)
    # Degenerate levels narrow the canal (bulge + flavum hypertrophy) a little more.
    bulge_p = rng.uniform(0.3, 1.3, N_MOBILE) * np.maximum(depth_ratio, 0.6) + degeneration * rng.uniform(0.5, 3.5, N_MOBILE)
    cord_ap = _CORD_AP * k * rng.uniform(0.88, 1.1)
    cord_hw = _CORD_HW * k * rng.uniform(0.9, 1.1)

    spinous = _SPINOUS * np.array([k, 1.0, k, k])[None, :] * rng.normal(1.0, 0.07, (N_MOBILE, 4))
    spinous[:, 1] = _SPINOUS[:, 1] + rng.normal(0.0, 6.0, N_MOBILE)

    epi_a = np.full(N_MOBILE, 0.4)
    epi_a[_THORACIC] = 0.8
    epi_a[_LUMBAR] = 1.5
    epi_p = np.full(N_MOBILE, 0.6)
    epi_p[_THORACIC] = 2.0
    epi_p[_LUMBAR] = 3.5
    epi_a *= rng.uniform(0.3, 1.8)
    epi_p *= rng.uniform(0.3, 1.8)

    n_bones = N_MOBILE + len(_SACRAL)
    marrow_var = 0.04 + 0.06 * age_risk
    shades = rng.normal(1.0, marrow_var, n_bones)
    modic = np.where(rng.random(N_MOBILE) < 0.35 * degeneration, rng.integers(1, 3, N_MOBILE), 0)

    return SpineParams(
        scale=k,
        age=age,
        body_h=body_h,
        body_d=body_d,
        body_hw=body_hw,
        disc_h=disc_h,
        body_wedge=np.deg2rad(body_w),
        disc_wedge=np.deg2rad(disc_w),
        sacral_h=_SACRAL[:, 0] * k * jit(len(_SACRAL), 0.06),
        sacral_d=_SACRAL[:, 1] * kd * jit(len(_SACRAL), 0.06),
        sacral_hw=_SACRAL[:, 2] * kd,
        sacral_disc_h=_SACRAL_DISC_H * k * rng.uniform(0.6, 1.3, len(_SACRAL_DISC_H)),
        sacral_wedge=np.deg2rad(sac_wedge),
        endplate_sag=rng.uniform(0.3, 1.6, n_bones) * np.concatenate([depth_ratio, np.full(len(_SACRAL), 0.5)]),
        wall_sag=rng.uniform(0.2, 1.2, n_bones),
        disc_bulge_p=bulge_p,
        disc_bulge_a=rng.uniform(0.5, 2.0, N_MOBILE) * np.maximum(depth_ratio, 0.6),
        degeneration=degeneration,
        canal_ap=canal_ap,
        canal_hw=_CANAL_HW * kd,
        cord_ap=cord_ap,
        cord_hw=cord_hw,
        cord_shift=rng.normal(0.0, 0.12),
        conus_level=rng.normal(18.4, 0.6),
        sac_end=rng.uniform(0.8, 2.2),
        dens_h=rng.uniform(13.0, 17.0) * k,
        dens_tilt=np.deg2rad(rng.uniform(0.0, 18.0)),
        c2_lip=rng.uniform(0.5, 2.5) * k,
        spinous=spinous,
        cortex=rng.uniform(0.7, 1.6),
        epidural_a=epi_a,
        epidural_p=epi_p,
        flavum=rng.uniform(1.5, 3.5),
        shades=shades,
        modic=modic,
        cleft=rng.random(N_MOBILE) < np.clip(0.2 + 0.6 * age_risk, 0, 0.8),
    )


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

    # -- curve helpers ---------------------------------------------------------------------
    def at(self, s: np.ndarray | float, d: np.ndarray | float = 0.0) -> np.ndarray:
        """Point(s) at arc length ``s`` and posterior offset ``d`` from the smoothed curve."""
        s = np.atleast_1d(np.asarray(s, dtype=float))
        d = np.broadcast_to(np.asarray(d, dtype=float), s.shape)
        cu = np.interp(s, self.s, self.centre[:, 0])
        cv = np.interp(s, self.s, self.centre[:, 1])
        nu = np.interp(s, self.s, self.normal[:, 0])
        nv = np.interp(s, self.s, self.normal[:, 1])
        return np.stack([cu + d * nu, cv + d * nv], axis=-1)

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


def _bone_outline(pt, pb, at, ab, phi_t, phi_b, sag_t, sag_b, wall_a, wall_p, lip=0.0) -> np.ndarray:
    phi_m = 0.5 * (phi_t + phi_b)
    t6 = np.linspace(0.0, 1.0, 7)[:-1]
    t4 = np.linspace(0.0, 1.0, 5)[:-1]
    ab_lip = ab + lip * shapes.tangent(phi_b)
    top = shapes.bow_at(pt, at, shapes.tangent(phi_t), sag_t, t6)
    front = shapes.bow_at(at, ab_lip, shapes.posterior(phi_m), wall_a, t4)
    bottom = shapes.bow_at(ab_lip, pb, -shapes.tangent(phi_b), sag_b, t6)
    back = shapes.bow_at(pb, pt, -shapes.posterior(phi_m), wall_p, t4)
    return shapes.chaikin(np.vstack([top, front, bottom, back]), 2)


def _nucleus(upper: tuple, lower: tuple, degeneration: float, rng_vals: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Nucleus (and cleft) polygons between two endplate curves.

    ``upper`` / ``lower``: (p0, p1, direction, amount) endplate curves from posterior (t=0) to
    anterior (t=1). ``rng_vals``: 4 uniform numbers fixing the nucleus shape.
    """
    centre = 0.40 + 0.12 * rng_vals[0]
    half = (0.26 + 0.1 * rng_vals[1]) * (1.0 - 0.45 * degeneration)
    frac = (0.55 + 0.25 * rng_vals[2]) * (1.0 - 0.5 * degeneration)
    t = centre + half * np.cos(np.linspace(np.pi, 0.0, 13))
    e1 = shapes.bow_at(*upper, t)
    e2 = shapes.bow_at(*lower, t)
    mid = 0.5 * (e1 + e2)
    shape = np.sqrt(np.clip(1.0 - ((t - centre) / half) ** 2, 0.0, 1.0)) ** 0.6
    half_h = (0.5 * frac * shape)[:, None] * (e2 - e1)
    top = mid - half_h
    bot = mid + half_h
    nucleus = np.vstack([top, bot[::-1]])
    cleft = None
    if rng_vals[3] < 1.0:
        ch = np.clip(0.12 * np.linalg.norm(e2 - e1, axis=1).mean(), 0.5, 1.2)
        tc = centre + 0.8 * half * np.cos(np.linspace(np.pi, 0.0, 9))
        c1 = shapes.bow_at(*upper, tc)
        c2 = shapes.bow_at(*lower, tc)
        cm = 0.5 * (c1 + c2)
        dirn = (c2 - c1) / (np.linalg.norm(c2 - c1, axis=1, keepdims=True) + 1e-9)
        taper = np.sqrt(np.clip(1.0 - ((tc - centre) / (0.8 * half)) ** 2, 0.0, 1.0))
        w = (0.5 * ch * (0.3 + 0.7 * taper))[:, None] * dirn
        cleft = np.vstack([cm - w, (cm + w)[::-1]])
    return nucleus, cleft


def build_spine(p: SpineParams, phi0: float, rng_shape: np.random.Generator) -> Spine:
    """Build the spine geometry from parameters, C2 oriented at ``phi0``.

    Args:
        p: parameters from :func:`sample_params`.
        phi0: orientation of the C2 body (radians); sets the global tilt of the spine.
        rng_shape: generator for small shape details (nucleus shapes); pass a generator
            seeded identically to rebuild the same spine.

    Returns:
        The spine, with the posterior-superior corner of the C2 body at (0, 0).
    """
    bones: list[Bone] = []
    discs: list[Disc] = []
    tips: dict[int, np.ndarray] = {2: np.zeros(2)}
    wall: list[np.ndarray] = []
    bone_s: list[tuple[float, float]] = []
    tip_s: dict[int, float] = {2: 0.0}
    s_acc = 0.0

    # Links: mobile bodies and discs, then sacral / coccygeal segments and remnants.
    heights = np.concatenate([p.body_h, p.sacral_h])
    depths = np.concatenate([p.body_d, p.sacral_d])
    half_ws = np.concatenate([p.body_hw, p.sacral_hw])
    names = list(VERTEBRAE) + [f"S{i}" for i in range(1, 6)] + [f"Co{i}" for i in range(1, 4)]
    body_w = np.concatenate([p.body_wedge, p.sacral_wedge[0::2]])
    disc_w = np.concatenate([p.disc_wedge, p.sacral_wedge[1::2]])
    disc_hs = np.concatenate([p.disc_h, p.sacral_disc_h])
    n_bones = len(names)
    shape_vals = rng_shape.random((n_bones, 4))

    pt = np.zeros(2)
    phi_t = phi0
    for i in range(n_bones):
        mobile = i < N_MOBILE
        h_mean, depth, w = heights[i], depths[i], body_w[i]
        h_post = max(0.4 * h_mean, h_mean - 0.5 * depth * np.tan(w))
        phi_b = phi_t + w
        pb = pt + h_post * shapes.tangent(phi_t + 0.5 * w)
        at = pt + depth * -shapes.posterior(phi_t)
        ab = pb + depth * -shapes.posterior(phi_b)
        sag_t = p.endplate_sag[i]
        sag_b = p.endplate_sag[i] * (0.8 + 0.4 * shape_vals[i, 3])
        lip = p.c2_lip if i == 0 else 0.0
        outline = _bone_outline(pt, pb, at, ab, phi_t, phi_b, sag_t, sag_b, 0.6 * p.wall_sag[i],
                                p.wall_sag[i] * (1.3 if mobile and i >= 18 else 0.7), lip=lip)
        modic_top = int(p.modic[i - 1]) if 0 < i <= N_MOBILE else 0
        modic_bot = int(p.modic[i]) if mobile else 0
        bones.append(Bone(names[i], pt, pb, at, ab, phi_t, phi_b, depth, half_ws[i], outline,
                          float(p.shades[i]), modic_top, modic_bot))
        # Posterior wall of the body -> anterior canal wall.
        phi_m = phi_t + 0.5 * w
        back = shapes.bow_at(pt, pb, -shapes.posterior(phi_m), p.wall_sag[i] * (1.3 if mobile and i >= 18 else 0.7),
                             np.linspace(0.0, 1.0, 9)[:-1])
        wall.append(back)
        s0 = s_acc
        s_acc += float(np.sum(np.linalg.norm(np.diff(np.vstack([back, pb]), axis=0), axis=1)))
        bone_s.append((s0, s_acc))
        if i == n_bones - 1:
            wall.append(pb[None, :])
            break

        # Disc below bone i.
        d_w = disc_w[i]
        degen = float(p.degeneration[i]) if mobile else 0.0
        hd_mean = disc_hs[i] * (1.0 - 0.65 * degen)
        next_depth = depths[i + 1]
        disc_depth = 0.5 * (depth + next_depth)
        hd_post = max(1.0 if mobile else 0.6, hd_mean - 0.5 * disc_depth * np.tan(d_w))
        phi_n = phi_b + d_w
        pt_n = pb + hd_post * shapes.tangent(phi_b + 0.5 * d_w)
        at_n = pt_n + next_depth * -shapes.posterior(phi_n)
        sag_tn = p.endplate_sag[i + 1]
        post_dir = shapes.posterior(phi_b + 0.5 * d_w)
        bulge_p = float(p.disc_bulge_p[i]) if mobile else 0.0
        bulge_a = float(p.disc_bulge_a[i]) if mobile else 0.3
        t8 = np.linspace(0.0, 1.0, 9)
        upper = (pb, ab, -shapes.tangent(phi_b), sag_b)
        lower = (pt_n, at_n, shapes.tangent(phi_n), sag_tn)
        e_up = shapes.bow_at(*upper, t8)
        e_lo = shapes.bow_at(*lower, t8)
        front = shapes.bow_at(ab, at_n, -post_dir, bulge_a, t8[1:-1])
        back_d = shapes.bow_at(pt_n, pb, post_dir, bulge_p, t8[1:-1])
        outline_d = np.vstack([e_up, front, e_lo[::-1], back_d])
        tip = 0.5 * (pb + pt_n) + bulge_p * post_dir
        if mobile:
            nucleus, cleft = _nucleus(upper, lower, degen, np.append(shape_vals[i, :3], 0.0 if p.cleft[i] else 2.0))
            value = disc_value_below(i)
            tips[value] = tip
        else:
            nucleus, cleft, value = np.zeros((0, 2)), None, 0
        discs.append(Disc(value, outline_d, nucleus, cleft, tip, post_dir, hd_mean, disc_depth,
                          0.5 * (half_ws[i] + half_ws[i + 1]) + 1.0, degen))
        disc_back = shapes.bow_at(pb, pt_n, post_dir, bulge_p, t8[:-1])
        wall.append(disc_back)
        seg = np.linalg.norm(np.diff(np.vstack([disc_back, pt_n]), axis=0), axis=1)
        if mobile:
            tip_s[value] = s_acc + float(np.sum(seg[:4]))
        s_acc += float(np.sum(seg))
        pt, phi_t = pt_n, phi_n

    # Dens and the canal front above C2 (along the transverse ligament behind the dens).
    c2 = bones[0]
    phi_d = c2.phi_t - p.dens_tilt
    up = -shapes.tangent(phi_d)
    ant_d = -shapes.posterior(phi_d)
    gap = 0.6
    base_w = 0.72 * c2.depth
    top_w = 0.55 * c2.depth
    b_p = c2.pt + gap * ant_d
    b_a = b_p + base_w * ant_d
    shaft = max(p.dens_h - 0.5 * top_w, 4.0)
    t_p = b_p + shaft * up
    t_a = t_p + top_w * ant_d + (base_w - top_w) * 0.5 * ant_d
    t_p = t_p + (base_w - top_w) * 0.5 * ant_d
    apex_c = 0.5 * (t_p + t_a)
    ang = np.linspace(0.0, np.pi, 9)
    apex = apex_c[None, :] + np.cos(ang)[:, None] * (0.5 * top_w) * -ant_d + np.sin(ang)[:, None] * (0.55 * top_w) * up
    waist = 0.06 * c2.depth
    dens = np.vstack([
        shapes.bow_at(b_p, t_p, ant_d, waist, np.linspace(0, 1, 5)[:-1]),
        apex,
        shapes.bow_at(t_a, b_a, -ant_d, waist, np.linspace(0, 1, 5)),
    ])
    dens = shapes.chaikin(dens, 1)
    dens_tip = apex_c + 0.55 * top_w * up
    lig_t = 2.0 * p.scale
    lig_back = -ant_d * lig_t
    transverse_lig = np.vstack([t_p + 0.15 * shaft * -up, t_p + 0.15 * shaft * -up + lig_back * 1.0,
                                b_p + 0.35 * shaft * up + lig_back, b_p + 0.35 * shaft * up])
    above = 14.0 * p.scale
    top_pt = c2.pt + (shaft + 0.55 * top_w + above) * up + lig_t * -ant_d
    front_up = np.stack([top_pt + f * (c2.pt - top_pt) for f in np.linspace(0.0, 1.0, 12)[:-1]])
    s_top = float(np.linalg.norm(c2.pt - top_pt))

    pts_wall = np.vstack([front_up] + wall)
    s_raw = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts_wall, axis=0), axis=1))]) - s_top
    # Straight extensions beyond the dens (into the head) and below the coccyx (pelvis, thighs)
    # so that soft tissue can be laid out along the same curve past the bony spine.
    top_dir = pts_wall[0] - pts_wall[6]
    top_dir /= np.linalg.norm(top_dir)
    l1_to_s1 = bones[N_MOBILE].pt - bones[18].pt
    bot_dir = l1_to_s1 / np.linalg.norm(l1_to_s1)
    ext_top = pts_wall[0] + np.arange(_EXTEND_TOP, 0.0, -5.0)[:, None] * top_dir[None, :]
    last = pts_wall[-1] + 8.0 * (pts_wall[-1] - pts_wall[-3]) / (np.linalg.norm(pts_wall[-1] - pts_wall[-3]) + 1e-9)
    ext_bot = last + np.arange(5.0, _EXTEND_BOTTOM + 5.0, 5.0)[:, None] * bot_dir[None, :]
    s_first, s_last = s_raw[0], s_raw[-1]
    pts_all = np.vstack([ext_top, pts_wall, last[None, :], ext_bot])
    s_all = np.concatenate([s_first - np.arange(_EXTEND_TOP, 0.0, -5.0), s_raw,
                            s_last + np.cumsum(np.linalg.norm(np.diff(np.vstack([pts_wall[-1:], last[None, :], ext_bot]), axis=0), axis=1))])
    s = np.arange(np.ceil(s_all[0]), s_all[-1], 1.0)
    wall_a = np.stack([np.interp(s, s_all, pts_all[:, 0]), np.interp(s, s_all, pts_all[:, 1])], axis=-1)
    centre = shapes.smooth_1d(wall_a, 5.0)
    tang = np.gradient(shapes.smooth_1d(wall_a, 9.0), axis=0)
    tang[:3], tang[-3:] = tang[3], tang[-4]
    tang /= np.linalg.norm(tang, axis=1, keepdims=True) + 1e-12
    normal = np.stack([-tang[:, 1], tang[:, 0]], axis=-1)
    d_wall_a = np.sum((wall_a - centre) * normal, axis=1)

    body_s = np.array(bone_s)
    level_s = body_s[:N_MOBILE].mean(axis=1)
    # Corrections: tip_s was measured on the raw polyline; map to the resampled curve.
    spine = Spine(p, bones, discs, tips, dens, np.zeros((0, 2)), np.zeros((0, 2)), transverse_lig,
                  s, wall_a, centre, normal, d_wall_a, level_s, body_s, tip_s, dens_tip,
                  -(shaft + 0.55 * top_w))

    # C1 arches: anterior in front of the dens, posterior behind the canal.
    k = p.scale
    c1_level = 0.62 * shaft
    front_of_dens = b_a + c1_level * up + (0.04 * c2.depth) * ant_d
    spine.c1_ant = shapes.chaikin(shapes.ellipse(front_of_dens + (2.0 * k + 4.0 * k) * ant_d, 5.5 * k, 4.0 * k, phi_d, 16), 1)
    s_c1 = -c1_level - 2.0
    canal_c1 = 20.0 * k * (p.canal_ap[0] / (_CANAL_AP[0] * k))
    post_c = spine.at(s_c1, canal_c1 + 4.5 * k)[0]
    spine.c1_post = shapes.chaikin(shapes.ellipse(post_c, 5.0 * k, 4.5 * k, phi_d + 0.25, 16), 1)

    spine.s_canal = (float(s_first), float(s_last))
    _add_posterior_elements(spine)
    return spine


def canal_ap_profile(spine: Spine) -> np.ndarray:
    """Canal AP diameter (mm) along ``spine.s`` measured from the smoothed front curve."""
    p = spine.params
    c1_ap = 20.0 * p.canal_ap[0] / _CANAL_AP[0]
    sac = spine.body_s[N_MOBILE:].mean(axis=1)
    sac_ap = np.linspace(0.85, 0.35, len(sac)) * p.canal_ap[-1]
    xs = np.concatenate([[spine.dens_s - 15.0, spine.dens_s * 0.6], spine.level_s, sac])
    ys = np.concatenate([[c1_ap * 1.3, c1_ap], p.canal_ap, sac_ap])
    return np.interp(spine.s, xs, ys)


def _add_posterior_elements(spine: Spine) -> None:
    """Laminae + spinous processes (mid-sagittal section) and the sacral crest."""
    p = spine.params
    ap = canal_ap_profile(spine)
    lam = np.zeros((N_MOBILE, 2))
    polys = []
    laminae = []
    tips = np.zeros((N_MOBILE, 2))
    for i in range(N_MOBILE):
        s_top, s_bot = spine.body_s[i]
        h = s_bot - s_top
        disc_gap = spine.body_s[i + 1, 0] - s_bot
        top = s_top + (0.1 if i == 0 else (0.3 if i < 6 else 0.35)) * h
        bot = s_bot + 0.7 * disc_gap
        lam[i] = (top, bot)
        length, angle, base_h, tip_h = p.spinous[i]
        mid = 0.5 * (top + bot)
        ap_mid = float(np.interp(mid, spine.s, ap))
        n = spine.at_normal(mid)
        t = np.array([n[1], -n[0]])
        a = np.deg2rad(angle)
        dirn = np.cos(a) * n + np.sin(a) * t
        perp = np.cos(a) * t - np.sin(a) * n
        base_c = spine.at(mid, ap_mid)[0]
        tip_c = base_c + length * dirn
        b_top = spine.at(top, float(np.interp(top, spine.s, ap)) - 0.4)[0]
        b_bot = spine.at(bot, float(np.interp(bot, spine.s, ap)) - 0.4)[0]
        neck_c = base_c + 0.35 * length * dirn
        poly = np.vstack([
            b_top,
            neck_c - 0.5 * base_h * perp,
            tip_c - 0.5 * tip_h * perp + 0.15 * tip_h * dirn,
            tip_c + 0.55 * tip_h * dirn,
            tip_c + 0.5 * tip_h * perp + 0.15 * tip_h * dirn,
            neck_c + 0.5 * base_h * perp,
            b_bot,
        ])
        polys.append(shapes.chaikin(poly, 2))
        laminae.append(shapes.chaikin(np.vstack([b_top, neck_c - 0.5 * base_h * perp, neck_c + 0.5 * base_h * perp,
                                                 b_bot]), 2))
        tips[i] = tip_c + 0.55 * tip_h * dirn
    spine.spinous = polys
    spine.laminae = laminae
    spine.spinous_tips = tips
    spine.lamina_s = lam
    # Sacral lamina / median crest behind the sacral canal (S1..S4).
    s0 = spine.body_s[N_MOBILE, 0] - 2.0
    s1 = spine.body_s[N_MOBILE + 3, 1]
    ss = np.linspace(s0, s1, 14)
    apv = np.interp(ss, spine.s, ap)
    thick = 4.0 * p.scale * (1.0 + 0.6 * np.sin(np.linspace(0, 4 * np.pi, len(ss))) ** 2)
    front = spine.at(ss, apv - 0.3)
    back = spine.at(ss, apv + thick)
    spine.sacral_crest = shapes.chaikin(np.vstack([front, back[::-1]]), 1)


def chord_angle(spine: Spine, top: str, bottom: str) -> float:
    """Angle (radians, ``phi`` sense) of the chord between two bones' posterior-top corners."""
    names = [b.name for b in spine.bones]
    a = spine.bones[names.index(top)].pt
    b = spine.bones[names.index(bottom)].pt
    d = b - a
    return float(np.arctan2(d[1], d[0]))
