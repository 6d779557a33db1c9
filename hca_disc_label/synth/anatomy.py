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
from functools import cached_property

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
_CANAL_AP = np.array([18.0, 16.0, 15.5, 15.5, 15.5, 15.0, 14.5, 13.5, 13.5, 13.5, 13.5, 13.5,
                      13.5, 13.5, 14.0, 14.5, 15.5, 16.5, 17.5, 18.0, 18.5, 18.5, 18.5])
_CANAL_HW = np.array([12.5, 12.5, 12.5, 12.5, 12.5, 12.0, 10.5, 9.5, 9.0, 9.0, 9.0, 9.0, 9.0,
                      9.0, 9.5, 10.0, 10.5, 11.0, 11.0, 11.5, 12.0, 12.5, 13.0])
_CORD_AP = np.array([8.5, 8.2, 8.3, 8.5, 8.3, 7.5, 7.0, 6.5, 6.5, 6.5, 6.5, 6.5, 6.5, 6.5,
                     7.0, 7.5, 8.0, 8.0, 6.0, 0.0, 0.0, 0.0, 0.0])
_CORD_HW = np.array([6.0, 6.5, 6.8, 7.0, 6.8, 6.0, 5.0, 4.5, 4.5, 4.5, 4.5, 4.5, 4.5, 4.5,
                     4.8, 5.0, 5.2, 5.2, 4.0, 0.0, 0.0, 0.0, 0.0])
# Spinous processes: length, downward angle (deg), base height, tip height (mm).
_SPINOUS = np.array([
    [22, 20, 13, 11], [13, 25, 10, 8], [13, 25, 10, 8], [14, 25, 10, 8], [17, 25, 10, 8],
    [32, 25, 8, 7], [35, 35, 8, 7], [35, 40, 8, 7], [36, 55, 7, 6], [36, 58, 7, 6],
    [36, 60, 7, 6], [36, 60, 7, 6], [36, 58, 7, 6], [36, 55, 7, 6], [35, 50, 7, 6],
    [33, 40, 8, 7], [30, 25, 10, 9], [30, 15, 12, 11], [28, 5, 14, 17], [29, 5, 15, 18],
    [29, 5, 15, 18], [27, 5, 14, 16], [22, 10, 11, 11]], dtype=float)
# Sacrum S1..S5 then coccyx Co1..Co3: height, depth, L-R half width (mm).
_SACRAL = np.array([[27, 37, 24], [22, 30, 20], [18, 24, 16], [14, 18, 12], [11, 13, 9],
                    [9, 10, 7], [8, 8, 6], [7, 6, 5]], dtype=float)
_SACRAL_DISC_H = np.array([3.0, 1.8, 1.5, 1.2, 1.2, 1.5, 1.2])
# S1/S2 ranges up to a thin real disc (young adults); the fused remnants below stay thin.
LUMBARISED_S1 = 0.12
"""Share of subjects with a transitional, disc-like S1/S2 (5-9 mm, nucleus always)."""
_SACRAL_DISC_HI = np.array([2.0, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3])

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
        slip: per disc, forward slip (mm) of the vertebra above on the one below.
        lumbarised_s1: transitional lumbosacral anatomy: a disc-like S1/S2 (tall, with a
            nucleus) under an S1 that looks free. Numbered by the written convention
            (:data:`~hca_disc_label.conventions.LANDMARKS`): still S1, the disc above is L5/S1.
        spur: per disc, length (mm) of anterior osteophytes at the adjacent endplates.
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
    slip: np.ndarray = field(default_factory=lambda: np.zeros(N_MOBILE))
    spur: np.ndarray = field(default_factory=lambda: np.zeros(N_MOBILE))
    lumbarised_s1: bool = False


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

    # Relative body heights differ between people too (a long lumbar spine, short cervical
    # bodies...): a smooth random profile along the column, so level identity cannot be read
    # from fixed size ratios between neighbouring levels.
    x = np.linspace(-1.0, 1.0, N_MOBILE)
    profile = np.exp(rng.normal(0.0, 0.05) * x + rng.normal(0.0, 0.04) * (x * x - 1.0 / 3.0))
    body_h = _BODY_H * k * profile * jit(N_MOBILE, 0.05)
    body_d = _BODY_D * kd * jit(N_MOBILE, 0.04)
    body_hw = _BODY_HW * kd * jit(N_MOBILE, 0.04)
    disc_h = _DISC_H * k * jit(N_MOBILE, 0.08)

    # Curvature budgets (Cobb-like, degrees), distributed over bodies and discs.
    cerv = np.clip(rng.normal(12.0, 13.0), -20.0, 45.0)
    thor = np.clip(rng.normal(38.0, 10.0), 10.0, 70.0)
    lumb = np.clip(rng.normal(44.0, 10.0), 15.0, 75.0)
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
    bulge_p = (rng.uniform(0.3, 1.3, N_MOBILE) * np.maximum(depth_ratio, 0.6)
               + degeneration * rng.uniform(0.5, 3.5, N_MOBILE))
    cord_ap = _CORD_AP * k * rng.uniform(0.88, 1.1)
    cord_hw = _CORD_HW * k * rng.uniform(0.9, 1.1)

    spinous = _SPINOUS * np.array([k, 1.0, k, k])[None, :] * rng.normal(1.0, 0.07, (N_MOBILE, 4))
    spinous[:, 1] = _SPINOUS[:, 1] + rng.normal(0.0, 6.0, N_MOBILE)

    epi_a = np.full(N_MOBILE, 0.3)
    epi_a[_THORACIC] = 0.6
    epi_a[_LUMBAR] = 0.9
    epi_p = np.full(N_MOBILE, 0.5)
    epi_p[_THORACIC] = 1.5
    epi_p[_LUMBAR] = 2.0
    epi_a *= rng.uniform(0.3, 1.6)
    epi_p *= rng.uniform(0.3, 1.6)

    n_bones = N_MOBILE + len(_SACRAL)
    marrow_var = 0.04 + 0.06 * age_risk
    shades = rng.normal(1.0, marrow_var, n_bones)
    modic = np.where(rng.random(N_MOBILE) < 0.2 * degeneration, rng.integers(1, 3, N_MOBILE), 0)

    # Degenerative spondylolisthesis: the vertebra above slips forward on the one below.
    slip = np.zeros(N_MOBILE)
    if rng.random() < 0.03 + 0.08 * age_risk:
        slip[21 if rng.random() < 0.6 else 22] = rng.uniform(2.0, 9.0) * k
    params = SpineParams(
        scale=k,
        age=age,
        body_h=body_h,
        body_d=body_d,
        body_hw=body_hw,
        disc_h=disc_h,
        body_wedge=np.deg2rad(body_w),
        disc_wedge=np.deg2rad(disc_w),
        sacral_h=_SACRAL[:, 0] * k * jit(len(_SACRAL), 0.06) * np.r_[rng.normal(1.0, 0.08), np.ones(len(_SACRAL) - 1)],
        sacral_d=_SACRAL[:, 1] * kd * jit(len(_SACRAL), 0.06),
        sacral_hw=_SACRAL[:, 2] * kd,
        sacral_disc_h=_SACRAL_DISC_H * k * rng.uniform(0.6, _SACRAL_DISC_HI, len(_SACRAL_DISC_H)),
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
        # Conus tip: mean lower L1, seen from T12 to L3 (~0.8 level sd).
        conus_level=float(np.clip(rng.normal(18.4, 0.8), 16.8, 20.5)),
        sac_end=rng.uniform(0.8, 2.2),
        dens_h=rng.uniform(13.0, 17.0) * k,
        dens_tilt=np.deg2rad(rng.uniform(0.0, 18.0)),
        c2_lip=rng.uniform(0.5, 2.5) * k,
        spinous=spinous,
        cortex=rng.uniform(0.4, 1.0),
        epidural_a=epi_a,
        epidural_p=epi_p,
        flavum=rng.uniform(1.5, 3.5),
        shades=shades,
        modic=modic,
        cleft=rng.random(N_MOBILE) < np.clip(0.2 + 0.6 * age_risk, 0, 0.8),
        slip=slip,
        spur=np.where(degeneration > 0.45, rng.uniform(0.0, 4.5, N_MOBILE) * k, 0.0),
    )
    # Transitional S1 (a "lumbarised" look, a few % of people): S1/S2 as tall as a small disc.
    if rng.random() < LUMBARISED_S1:
        params.lumbarised_s1 = True
        params.sacral_disc_h[0] = rng.uniform(5.0, 9.0) * k
    return params


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


_T4 = np.linspace(0.0, 1.0, 5)[:-1]
_T6 = np.linspace(0.0, 1.0, 7)[:-1]
_T8 = np.linspace(0.0, 1.0, 9)
_BONE_NAMES = list(VERTEBRAE) + [f"S{i}" for i in range(1, 6)] + [f"Co{i}" for i in range(1, 4)]


@dataclass
class _Chain:
    """Corners and angles of every bone (B) and disc (B - 1) of the chain."""

    pt: np.ndarray
    pb: np.ndarray
    at: np.ndarray
    ab: np.ndarray
    phi_t: np.ndarray
    phi_b: np.ndarray
    disc_phi: np.ndarray
    disc_h: np.ndarray
    disc_depth: np.ndarray
    disc_h_post: np.ndarray


def _link_arrays(p: SpineParams) -> tuple[np.ndarray, ...]:
    heights = np.concatenate([p.body_h, p.sacral_h])
    depths = np.concatenate([p.body_d, p.sacral_d])
    body_w = np.concatenate([p.body_wedge, p.sacral_wedge[0::2]])
    disc_w = np.concatenate([p.disc_wedge, p.sacral_wedge[1::2]])
    disc_hs = np.concatenate([p.disc_h, p.sacral_disc_h])
    degen = np.concatenate([p.degeneration, np.zeros(len(p.sacral_disc_h))])
    return heights, depths, body_w, disc_w, disc_hs, degen


def _chain(p: SpineParams, phi0: float) -> _Chain:
    """Walk the chain head to feet (scalar math: 31 links)."""
    heights, depths, body_w, disc_w, disc_hs, degen = _link_arrays(p)
    n = len(heights)
    out = np.zeros((4, n, 2))
    phis = np.zeros((2, n))
    dphi = np.zeros(n - 1)
    dh = np.zeros(n - 1)
    ddepth = np.zeros(n - 1)
    dhp = np.zeros(n - 1)
    pu, pv, phi_t = 0.0, 0.0, phi0
    for i in range(n):
        h_mean, depth, w = heights[i], depths[i], body_w[i]
        h_post = max(0.4 * h_mean, h_mean - 0.5 * depth * np.tan(w))
        phi_b = phi_t + w
        a = phi_t + 0.5 * w
        bu, bv = pu + h_post * np.cos(a), pv + h_post * np.sin(a)
        out[0, i] = (pu, pv)
        out[1, i] = (bu, bv)
        out[2, i] = (pu + depth * np.sin(phi_t), pv - depth * np.cos(phi_t))
        out[3, i] = (bu + depth * np.sin(phi_b), bv - depth * np.cos(phi_b))
        phis[:, i] = (phi_t, phi_b)
        if i == n - 1:
            break
        mobile = i < N_MOBILE
        hd_mean = disc_hs[i] * (1.0 - 0.65 * degen[i])
        disc_depth = 0.5 * (depth + depths[i + 1])
        d_w = disc_w[i]
        hd_post = max(1.0 if mobile else 0.6, hd_mean - 0.5 * disc_depth * np.tan(d_w))
        a2 = phi_b + 0.5 * d_w
        dphi[i], dh[i], ddepth[i], dhp[i] = a2, hd_mean, disc_depth, hd_post
        pu, pv, phi_t = bu + hd_post * np.cos(a2), bv + hd_post * np.sin(a2), phi_b + d_w
        if mobile and p.slip[i] > 0:
            # The bone below sits posterior to the slipped one above.
            pu, pv = pu - p.slip[i] * np.sin(a2), pv + p.slip[i] * np.cos(a2)
    return _Chain(out[0], out[1], out[2], out[3], phis[0], phis[1], dphi, dh, ddepth, dhp)


def _wobble(polys: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Displace closed ``(B, M, 2)`` outlines along their normals by smooth random bumps (mm)."""
    b, m, _ = polys.shape
    t = np.linspace(0.0, 2.0 * np.pi, m, endpoint=False)
    coef = rng.normal(0.0, amount, (b, 3, 2)) / np.array([1.0, 1.6, 2.4])[None, :, None]
    phase = np.arange(2, 5)[None, :, None] * t[None, None, :]
    bump = (coef[:, :, :1] * np.cos(phase) + coef[:, :, 1:] * np.sin(phase)).sum(axis=1)  # (B, M)
    tang = np.roll(polys, -1, axis=1) - np.roll(polys, 1, axis=1)
    tang /= np.linalg.norm(tang, axis=-1, keepdims=True) + 1e-12
    normal = np.stack([-tang[..., 1], tang[..., 0]], axis=-1)
    return polys + bump[..., None] * normal


def chain_chord_angle(p: SpineParams, top: str, bottom: str) -> float:
    """Chord angle (``phi`` sense) between two bones' posterior-top corners for ``phi0 = 0``."""
    ch = _chain(p, 0.0)
    d = ch.pt[_BONE_NAMES.index(bottom)] - ch.pt[_BONE_NAMES.index(top)]
    return float(np.arctan2(d[1], d[0]))


def _nuclei(ch: _Chain, sag_b: np.ndarray, sag_t: np.ndarray, degen: np.ndarray, vals: np.ndarray,
            cleft_on: np.ndarray) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """Nucleus polygons ``(23, 26, 2)`` and intranuclear clefts of the mobile discs."""
    m = N_MOBILE
    up = (ch.pb[:m], ch.ab[:m], -shapes.tangent(ch.phi_b[:m]), sag_b[:m])
    lo = (ch.pt[1:m + 1], ch.at[1:m + 1], shapes.tangent(ch.phi_t[1:m + 1]), sag_t[1:m + 1])
    centre = 0.40 + 0.12 * vals[:, 0]
    half = (0.28 + 0.17 * vals[:, 1]) * (1.0 - 0.45 * degen)
    frac = (0.68 + 0.22 * vals[:, 2]) * (1.0 - 0.5 * degen)
    cosines = np.cos(np.linspace(np.pi, 0.0, 13))
    t = centre[:, None] + half[:, None] * cosines[None, :]
    e1 = shapes.bow_many(*up, t)
    e2 = shapes.bow_many(*lo, t)
    mid = 0.5 * (e1 + e2)
    shape = np.sqrt(np.clip(1.0 - ((t - centre[:, None]) / half[:, None]) ** 2, 0.0, 1.0)) ** 0.6
    hh = (0.5 * frac[:, None] * shape)[..., None] * (e2 - e1)
    nuclei = np.concatenate([mid - hh, (mid + hh)[:, ::-1]], axis=1)
    tc = centre[:, None] + 0.8 * half[:, None] * np.cos(np.linspace(np.pi, 0.0, 9))[None, :]
    c1 = shapes.bow_many(*up, tc)
    c2 = shapes.bow_many(*lo, tc)
    cm = 0.5 * (c1 + c2)
    dirn = (c2 - c1) / (np.linalg.norm(c2 - c1, axis=-1, keepdims=True) + 1e-9)
    ch_h = np.clip(0.12 * np.linalg.norm(e2 - e1, axis=-1).mean(axis=1), 0.5, 1.2)
    taper = np.sqrt(np.clip(1.0 - ((tc - centre[:, None]) / (0.8 * half[:, None])) ** 2, 0.0, 1.0))
    w = (0.5 * ch_h[:, None] * (0.3 + 0.7 * taper))[..., None] * dirn
    clefts_all = np.concatenate([cm - w, (cm + w)[:, ::-1]], axis=1)
    clefts = [clefts_all[i] if cleft_on[i] else None for i in range(m)]
    return nuclei, clefts


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
    ch = _chain(p, phi0)
    heights, depths, _, _, disc_hs, degen = _link_arrays(p)
    n_bones = len(heights)
    half_ws = np.concatenate([p.body_hw, p.sacral_hw])
    shape_vals = rng_shape.random((n_bones, 4))
    sag_t = p.endplate_sag
    sag_b = p.endplate_sag * (0.8 + 0.4 * shape_vals[:, 3])
    lumbar = np.zeros(n_bones, dtype=bool)
    lumbar[18:N_MOBILE] = True
    wall_p = p.wall_sag * np.where(lumbar, 1.3, 0.7)
    phi_m = 0.5 * (ch.phi_t + ch.phi_b)
    lip = np.zeros(n_bones)
    lip[0] = p.c2_lip
    ab_lip = ch.ab + lip[:, None] * shapes.tangent(ch.phi_b)
    raw = np.concatenate([
        shapes.bow_many(ch.pt, ch.at, shapes.tangent(ch.phi_t), sag_t, _T6),
        shapes.bow_many(ch.at, ab_lip, shapes.posterior(phi_m), 0.6 * p.wall_sag, _T4),
        shapes.bow_many(ab_lip, ch.pb, -shapes.tangent(ch.phi_b), sag_b, _T6),
        shapes.bow_many(ch.pb, ch.pt, -shapes.posterior(phi_m), wall_p, _T4),
    ], axis=1)
    smooth = shapes.chaikin_many(raw, 2)
    # Wobble the front of each body only: the posterior wall and corners carry the labels.
    ant = -shapes.posterior(phi_m)
    depth_from_back = np.einsum("bmk,bk->bm", smooth - ch.pt[:, None, :], ant)
    weight = np.clip((depth_from_back - 0.4 * depths[:, None]) / (0.25 * depths[:, None]), 0.0, 1.0)
    wobbled = _wobble(smooth, rng_shape, 0.35 * p.scale)
    outlines = smooth + weight[..., None] * (wobbled - smooth)

    # Discs between consecutive bones.
    nd = n_bones - 1
    post_dir = shapes.posterior(ch.disc_phi)
    mobile_d = np.arange(nd) < N_MOBILE
    bulge_p = np.where(mobile_d, np.concatenate([p.disc_bulge_p, np.zeros(nd - N_MOBILE)]), 0.0)
    # A bulge cannot reach much further back than the disc is tall (collapsed discs bulge little).
    bulge_p = np.minimum(bulge_p, 0.7 * ch.disc_h_post + 0.5)
    bulge_a = np.where(mobile_d, np.concatenate([p.disc_bulge_a, np.zeros(nd - N_MOBILE)]), 0.3)
    e_up = shapes.bow_many(ch.pb[:-1], ch.ab[:-1], -shapes.tangent(ch.phi_b[:-1]), sag_b[:-1], _T8)
    e_lo = shapes.bow_many(ch.pt[1:], ch.at[1:], shapes.tangent(ch.phi_t[1:]), sag_t[1:], _T8)
    d_front = shapes.bow_many(ch.ab[:-1], ch.at[1:], -post_dir, bulge_a, _T8[1:-1])
    d_back = shapes.bow_many(ch.pt[1:], ch.pb[:-1], post_dir, bulge_p, _T8[1:-1])
    disc_outlines = np.concatenate([e_up, d_front, e_lo[:, ::-1], d_back], axis=1)
    # The anterior half of the outline may wobble; the posterior border (label) stays exact.
    wob = _wobble(disc_outlines, rng_shape, 0.3 * p.scale)
    keep = np.zeros(disc_outlines.shape[1], dtype=bool)
    keep[9:16] = True  # anterior bulge samples only
    disc_outlines = np.where(keep[None, :, None], wob, disc_outlines)
    # SCT's manual convention (PAM50 label_discPosterior, SPEC 2/8): the label is the posterior
    # edge of the disc midway between the two bodies' posterior corners, not the outer bulge.
    tips_all = 0.5 * (ch.pb[:-1] + ch.pt[1:])
    nuclei, clefts = _nuclei(ch, sag_b, sag_t, p.degeneration, shape_vals[:N_MOBILE, :3], p.cleft)

    bones = []
    for i in range(n_bones):
        modic_top = int(p.modic[i - 1]) if 0 < i <= N_MOBILE else 0
        modic_bot = int(p.modic[i]) if i < N_MOBILE else 0
        bones.append(Bone(_BONE_NAMES[i], ch.pt[i], ch.pb[i], ch.at[i], ch.ab[i], float(ch.phi_t[i]),
                          float(ch.phi_b[i]), float(depths[i]), float(half_ws[i]), outlines[i],
                          float(p.shades[i]), modic_top, modic_bot))
    discs = []
    tips: dict[int, np.ndarray] = {2: np.zeros(2)}
    for i in range(nd):
        mobile = i < N_MOBILE
        value = disc_value_below(i) if mobile else 0
        discs.append(Disc(value, disc_outlines[i], nuclei[i] if mobile else np.zeros((0, 2)),
                          clefts[i] if mobile else None, tips_all[i], post_dir[i], float(ch.disc_h[i]),
                          float(ch.disc_depth[i]), 0.5 * float(half_ws[i] + half_ws[i + 1]) + 1.0,
                          float(degen[i])))
        if mobile:
            tips[value] = tips_all[i]

    # Anterior canal wall: body backs and disc backs interleaved, head to feet.
    backs = shapes.bow_many(ch.pt, ch.pb, -shapes.posterior(phi_m), wall_p, _T8[:-1])
    dbacks = shapes.bow_many(ch.pb[:-1], ch.pt[1:], post_dir, bulge_p, _T8[:-1])
    pieces = np.concatenate([backs[:-1], dbacks], axis=1).reshape(-1, 2)
    wall = np.vstack([pieces, backs[-1], ch.pb[-1:]])
    seg = np.linalg.norm(np.diff(wall, axis=0), axis=1)
    s_wall = np.concatenate([[0.0], np.cumsum(seg)])
    body_s = np.stack([s_wall[np.arange(n_bones) * 16], s_wall[np.arange(n_bones) * 16 + 8]], axis=1)
    tip_s = {2: 0.0}
    for i in range(N_MOBILE):
        tip_s[disc_value_below(i)] = float(s_wall[i * 16 + 12])

    # Dens and the canal front above C2 (along the transverse ligament behind the dens).
    c2 = bones[0]
    phi_d = c2.phi_t - p.dens_tilt
    up = -shapes.tangent(phi_d)
    ant_d = -shapes.posterior(phi_d)
    base_w = 0.72 * c2.depth
    top_w = 0.55 * c2.depth
    b_p = c2.pt + 0.6 * ant_d
    b_a = b_p + base_w * ant_d
    shaft = max(p.dens_h - 0.5 * top_w, 4.0)
    t_p = b_p + shaft * up + 0.5 * (base_w - top_w) * ant_d
    t_a = t_p + top_w * ant_d
    apex_c = 0.5 * (t_p + t_a)
    ang = np.linspace(0.0, np.pi, 9)
    apex = apex_c[None, :] + np.cos(ang)[:, None] * (0.5 * top_w) * -ant_d + np.sin(ang)[:, None] * (0.55 * top_w) * up
    waist = 0.06 * c2.depth
    dens = shapes.chaikin(np.vstack([
        shapes.bow_at(b_p, t_p, ant_d, waist, _T4),
        apex,
        shapes.bow_at(t_a, b_a, -ant_d, waist, np.linspace(0, 1, 5)),
    ]), 1)
    dens_tip = apex_c + 0.55 * top_w * up
    # Marrow continuous from the body into the dens (no disc, at most a faint sclerotic line).
    inset = p.cortex + 0.6
    dens_bridge = np.vstack([b_p + inset * ant_d + 3.0 * up, b_a - inset * ant_d + 3.0 * up,
                             b_a - inset * ant_d - 3.0 * up, b_p + inset * ant_d - 3.0 * up])
    lig_t = 2.0 * p.scale
    lig_lo = b_p + 0.35 * shaft * up
    lig_hi = t_p - 0.15 * shaft * up
    transverse_lig = np.vstack([lig_hi, lig_hi - lig_t * ant_d, lig_lo - lig_t * ant_d, lig_lo])
    above = 14.0 * p.scale
    top_pt = c2.pt + (shaft + 0.55 * top_w + above) * up - lig_t * ant_d
    s_top = float(np.linalg.norm(c2.pt - top_pt))
    front_up = top_pt + np.linspace(0.0, 1.0, 12)[:-1, None] * (c2.pt - top_pt)

    pts_wall = np.vstack([front_up, wall])
    s_raw = np.concatenate([np.linspace(-s_top, 0.0, 12)[:-1], s_wall])
    # Straight extensions beyond the dens (into the head) and below the coccyx (pelvis, thighs)
    # so that soft tissue can be laid out along the same curve past the bony spine.
    top_dir = pts_wall[0] - pts_wall[6]
    top_dir /= np.linalg.norm(top_dir)
    l1_to_s1 = ch.pt[N_MOBILE] - ch.pt[18]
    bot_dir = l1_to_s1 / np.linalg.norm(l1_to_s1)
    dist_top = np.arange(_EXTEND_TOP, 0.0, -5.0)
    ext_top = pts_wall[0] + dist_top[:, None] * top_dir[None, :]
    end_dir = pts_wall[-1] - pts_wall[-3]
    last = pts_wall[-1] + 8.0 * end_dir / (np.linalg.norm(end_dir) + 1e-9)
    dist_bot = np.arange(5.0, _EXTEND_BOTTOM + 5.0, 5.0)
    ext_bot = last + dist_bot[:, None] * bot_dir[None, :]
    s_first, s_last = float(s_raw[0]), float(s_raw[-1])
    pts_all = np.vstack([ext_top, pts_wall, last[None, :], ext_bot])
    s_all = np.concatenate([s_first - dist_top, s_raw, s_last + 8.0 + np.concatenate([[0.0], dist_bot])])
    s = np.arange(np.ceil(s_all[0]), s_all[-1], 1.0)
    wall_a = np.stack([np.interp(s, s_all, pts_all[:, 0]), np.interp(s, s_all, pts_all[:, 1])], axis=-1)
    centre = shapes.smooth_1d(wall_a, 5.0)
    tang = np.gradient(shapes.smooth_1d(wall_a, 9.0), axis=0)
    tang[:3], tang[-3:] = tang[3], tang[-4]
    tang /= np.linalg.norm(tang, axis=1, keepdims=True) + 1e-12
    normal = np.stack([-tang[:, 1], tang[:, 0]], axis=-1)
    d_wall_a = np.sum((wall_a - centre) * normal, axis=1)

    level_s = body_s[:N_MOBILE].mean(axis=1)
    spine = Spine(p, bones, discs, tips, dens, np.zeros((0, 2)), np.zeros((0, 2)), transverse_lig,
                  s, wall_a, centre, normal, d_wall_a, level_s, body_s, tip_s, dens_tip,
                  -(shaft + 0.55 * top_w))

    # C1 arches: anterior in front of the dens, posterior behind the canal.
    k = p.scale
    c1_level = 0.62 * shaft
    front_of_dens = b_a + c1_level * up + (0.04 * c2.depth) * ant_d
    spine.c1_ant = shapes.chaikin(shapes.ellipse(front_of_dens + 6.0 * k * ant_d, 5.5 * k, 4.0 * k, phi_d, 16), 1)
    canal_c1 = 20.0 * p.canal_ap[0] / _CANAL_AP[0]
    post_c = spine.at(-c1_level - 2.0, canal_c1 + 4.5 * k)[0]
    spine.c1_post = shapes.chaikin(shapes.ellipse(post_c, 5.0 * k, 4.5 * k, phi_d + 0.25, 16), 1)
    spine.s_canal = (s_first, s_last)
    spine.dens_bridge = dens_bridge
    _add_posterior_elements(spine)
    return spine


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
    m = N_MOBILE
    s_top, s_bot = spine.body_s[:m, 0], spine.body_s[:m, 1]
    h = s_bot - s_top
    gap = spine.body_s[1:m + 1, 0] - s_bot
    frac = np.where(np.arange(m) == 0, 0.1, np.where(np.arange(m) < 6, 0.3, 0.35))
    top = s_top + frac * h
    bot = s_bot + 0.7 * gap
    mid = 0.5 * (top + bot)
    length, angle, base_h, tip_h = p.spinous.T
    ap_mid = np.interp(mid, spine.s, ap)
    n = np.stack([np.interp(mid, spine.s, spine.normal[:, 0]), np.interp(mid, spine.s, spine.normal[:, 1])], axis=-1)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    t = np.stack([n[:, 1], -n[:, 0]], axis=-1)
    a = np.deg2rad(angle)[:, None]
    dirn = np.cos(a) * n + np.sin(a) * t
    perp = np.cos(a) * t - np.sin(a) * n
    base_c = spine.at(mid, ap_mid)
    tip_c = base_c + length[:, None] * dirn
    b_top = spine.at(top, np.interp(top, spine.s, ap) - 0.4)
    b_bot = spine.at(bot, np.interp(bot, spine.s, ap) - 0.4)
    neck_c = base_c + 0.35 * length[:, None] * dirn
    hb, ht = (0.5 * base_h)[:, None], (0.5 * tip_h)[:, None]
    raw = np.stack([
        b_top, neck_c - hb * perp, tip_c - ht * perp + 0.3 * ht * dirn, tip_c + 1.1 * ht * dirn,
        tip_c + ht * perp + 0.3 * ht * dirn, neck_c + hb * perp, b_bot], axis=1)
    polys = shapes.chaikin_many(raw, 2)
    lam_raw = np.stack([b_top, neck_c - hb * perp, neck_c + hb * perp, b_bot], axis=1)
    laminae = shapes.chaikin_many(lam_raw, 2)
    spine.spinous = list(polys)
    spine.laminae = list(laminae)
    spine.spinous_tips = tip_c + 1.1 * ht * dirn
    spine.lamina_s = np.stack([top, bot], axis=1)
    # Sacral lamina / median crest behind the sacral canal (S1..S4).
    s0 = spine.body_s[m, 0] - 2.0
    s1 = spine.body_s[m + 3, 1]
    ss = np.linspace(s0, s1, 14)
    apv = np.interp(ss, spine.s, ap)
    thick = 4.0 * p.scale * (1.0 + 0.6 * np.sin(np.linspace(0, 4 * np.pi, len(ss))) ** 2)
    front = spine.at(ss, apv - 0.3)
    back = spine.at(ss, apv + thick)
    spine.sacral_crest = shapes.chaikin(np.vstack([front, back[::-1]]), 1)
