"""Every random choice of one synthetic spine: adult size tables and :func:`sample_params`.

Units are mm and radians. The parameters are drawn here and nowhere else: the chain built
from them (:mod:`.chain`) is deterministic, so the same parameters can be rebuilt at another
global orientation. The draws come in a fixed order (same generator state -> same spine), so
the helpers below must be called in the order :func:`sample_params` calls them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
        s1_wall_tilt: backward tilt (radians) of S1's posterior wall beyond square to its
            endplates (the sacral table opening past 90 degrees): S1 a parallelogram whose
            posterior-inferior corner lies behind a square body's (see :func:`_lumbosacral`).
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
    s1_wall_tilt: float = 0.0


def c1_canal_ap(p: SpineParams) -> float:
    """Canal AP diameter (mm) at C1, scaled like the subject's C2 canal."""
    return 20.0 * p.canal_ap[0] / _CANAL_AP[0]


def _bell(n: int, centre: float, width: float) -> np.ndarray:
    x = np.arange(n, dtype=float)
    w = np.exp(-0.5 * ((x - centre) / width) ** 2)
    return w / w.sum()


def _jit(rng: np.random.Generator, n: int, sd: float) -> np.ndarray:
    """``(n,)`` multiplicative jitter around 1."""
    return rng.normal(1.0, sd, n)


def _sizes(rng: np.random.Generator, k: float, kd: float) -> dict[str, np.ndarray]:
    """Body heights / depths / half widths and disc heights of the mobile levels (mm)."""
    # Relative body heights differ between people too (a long lumbar spine, short cervical
    # bodies...): a smooth random profile along the column, so level identity cannot be read
    # from fixed size ratios between neighbouring levels.
    x = np.linspace(-1.0, 1.0, N_MOBILE)
    profile = np.exp(rng.normal(0.0, 0.05) * x + rng.normal(0.0, 0.04) * (x * x - 1.0 / 3.0))
    return {
        "body_h": _BODY_H * k * profile * _jit(rng, N_MOBILE, 0.05),
        "body_d": _BODY_D * kd * _jit(rng, N_MOBILE, 0.04),
        "body_hw": _BODY_HW * kd * _jit(rng, N_MOBILE, 0.04),
        "disc_h": _DISC_H * k * _jit(rng, N_MOBILE, 0.08),
    }


def _curvature(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wedge angles (degrees): mobile bodies ``(23,)``, discs below them ``(23,)``, and the
    sacrum + coccyx ``(15,)`` (bodies and discs interleaved), from Cobb-like budgets."""
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
    return body_w, disc_w, sac_wedge


def _degeneration(rng: np.random.Generator, age_risk: float) -> np.ndarray:
    """``(23,)`` degeneration 0..1 per disc: more with age, lower lumbar and lower cervical."""
    level_risk = np.full(N_MOBILE, 0.25)
    level_risk[3:6] = [0.5, 0.7, 0.6]
    level_risk[17:23] = [0.3, 0.35, 0.45, 0.6, 0.85, 0.8]
    p_degen = 0.04 + 0.75 * age_risk * level_risk
    degenerate = rng.random(N_MOBILE) < p_degen
    degeneration = np.where(degenerate, rng.uniform(0.15, 1.0, N_MOBILE), 0.0)
    degeneration[rng.random(N_MOBILE) < 0.02] = 1.0  # rare collapsed discs anywhere
    return degeneration


def _canal(rng: np.random.Generator, k: float, depth_ratio: np.ndarray,
           degeneration: np.ndarray) -> dict[str, np.ndarray]:
    """Canal AP diameter, posterior disc bulge, cord AP diameter and half width per level (mm)."""
    canal_ap = _CANAL_AP * k * rng.uniform(0.85, 1.12) * _jit(rng, N_MOBILE, 0.04)
    # Degenerate levels narrow the canal (bulge + flavum hypertrophy) a little more.
    bulge_p = (rng.uniform(0.3, 1.3, N_MOBILE) * np.maximum(depth_ratio, 0.6)
               + degeneration * rng.uniform(0.5, 3.5, N_MOBILE))
    cord_ap = _CORD_AP * k * rng.uniform(0.88, 1.1)
    cord_hw = _CORD_HW * k * rng.uniform(0.9, 1.1)
    return {"canal_ap": canal_ap, "disc_bulge_p": bulge_p, "cord_ap": cord_ap, "cord_hw": cord_hw}


def _posterior(rng: np.random.Generator, k: float) -> dict[str, np.ndarray]:
    """Spinous processes ``(23, 4)`` and epidural fat in front of / behind the sac ``(23,)``."""
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
    return {"spinous": spinous, "epidural_a": epi_a, "epidural_p": epi_p}


def _marrow_and_slip(rng: np.random.Generator, k: float, age_risk: float,
                     degeneration: np.ndarray) -> dict[str, np.ndarray]:
    """Marrow shades (mobile then sacral), Modic changes and a degenerative slip per disc."""
    marrow_var = 0.04 + 0.06 * age_risk
    shades = rng.normal(1.0, marrow_var, N_MOBILE + len(_SACRAL))
    modic = np.where(rng.random(N_MOBILE) < 0.2 * degeneration, rng.integers(1, 3, N_MOBILE), 0)
    # Degenerative spondylolisthesis: the vertebra above slips forward on the one below.
    slip = np.zeros(N_MOBILE)
    if rng.random() < 0.03 + 0.08 * age_risk:
        slip[21 if rng.random() < 0.6 else 22] = rng.uniform(2.0, 9.0) * k
    return {"shades": shades, "modic": modic, "slip": slip}


def _details(rng: np.random.Generator, k: float, kd: float, age_risk: float, depth_ratio: np.ndarray,
             degeneration: np.ndarray) -> dict:
    """Sacral sizes, endplate and wall shapes, cord and sac, dens, cortex, flavum, clefts, spurs."""
    n_sac = len(_SACRAL)
    return {
        "sacral_h": _SACRAL[:, 0] * k * _jit(rng, n_sac, 0.06) * np.r_[rng.normal(1.0, 0.08), np.ones(n_sac - 1)],
        "sacral_d": _SACRAL[:, 1] * kd * _jit(rng, n_sac, 0.06),
        "sacral_hw": _SACRAL[:, 2] * kd,
        "sacral_disc_h": _SACRAL_DISC_H * k * rng.uniform(0.6, _SACRAL_DISC_HI, len(_SACRAL_DISC_H)),
        "endplate_sag": rng.uniform(0.3, 1.6, N_MOBILE + n_sac) * np.concatenate([depth_ratio, np.full(n_sac, 0.5)]),
        "wall_sag": rng.uniform(0.2, 1.2, N_MOBILE + n_sac),
        "disc_bulge_a": rng.uniform(0.5, 2.0, N_MOBILE) * np.maximum(depth_ratio, 0.6),
        "cord_shift": rng.normal(0.0, 0.12),
        # Conus tip: mean lower L1, seen from T12 to L3 (~0.8 level sd).
        "conus_level": float(np.clip(rng.normal(18.4, 0.8), 16.8, 20.5)),
        "sac_end": rng.uniform(0.8, 2.2),
        "dens_h": rng.uniform(13.0, 17.0) * k,
        "dens_tilt": np.deg2rad(rng.uniform(0.0, 18.0)),
        "c2_lip": rng.uniform(0.5, 2.5) * k,
        "cortex": rng.uniform(0.4, 1.0),
        "flavum": rng.uniform(1.5, 3.5),
        "cleft": rng.random(N_MOBILE) < np.clip(0.2 + 0.6 * age_risk, 0, 0.8),
        "spur": np.where(degeneration > 0.45, rng.uniform(0.0, 4.5, N_MOBILE) * k, 0.0),
    }


def _side_rng(rng: np.random.Generator) -> np.random.Generator:
    """A generator seeded from ``rng``'s current state without advancing it (same state ->
    same side draws), for choices added after the fixed draw order was set.

    Raises:
        TypeError: ``rng`` is not PCG64-backed (``np.random.default_rng``): another bit
            generator has no such state, and a constant seed would give every spine the same
            side draws.
    """
    state = rng.bit_generator.state.get("state")
    if not isinstance(state, dict) or not isinstance(state.get("state"), int):
        raise TypeError("spine parameters are drawn from a PCG64 generator (np.random.default_rng)")
    seed = state["state"]
    return np.random.default_rng([seed & (2**64 - 1), seed >> 64, 0x5AC])


def _lumbosacral(rng: np.random.Generator) -> tuple[float, float, float]:
    """The lumbosacral junction (degrees): extra lordotic wedge of the L5/S1 disc, S1's body
    wedge (lordotic, anterior taller) and the backward tilt of S1's posterior wall.

    On real T2 scans (``benchmarks/lumbosacral_geometry.py``, 8 ``sub-zuk*`` sacra) the line
    through the posterior disc tips turns 37-58 degrees backwards at L5/S1 (L4/L5 -> L5/S1 ->
    S1/S2), against at most ~30 at L4/L5: the sacrum leaves the lumbar line at a sharp angle. A
    chain of square bodies with Cobb-like wedges turned 0-20 there, so an S1/S2 remnant sat on
    the lumbar line like one more lumbar disc. These three draws give the real turn (about
    30-56, median ~43) without an implausibly wedged S1. Drawn after every other choice so
    earlier draws keep their order.
    """
    disc_extra = float(np.clip(rng.normal(3.0, 2.0), 0.0, 10.0))
    s1_wedge = float(np.clip(rng.normal(10.0, 4.0), 0.0, 20.0))
    wall_tilt = float(np.clip(rng.normal(29.0, 4.5), 14.0, 42.0))
    return disc_extra, s1_wedge, wall_tilt


def sample_params(rng: np.random.Generator) -> SpineParams:
    """Draw a random adult spine (sizes, curvatures, degeneration)."""
    k = rng.uniform(0.85, 1.15)
    kd = k * rng.uniform(0.93, 1.07)
    age = rng.uniform(18.0, 85.0)
    age_risk = np.clip((age - 25.0) / 55.0, 0.0, 1.0)
    sizes = _sizes(rng, k, kd)
    body_w, disc_w, sac_wedge = _curvature(rng)
    degeneration = _degeneration(rng, age_risk)
    depth_ratio = sizes["body_d"] / 30.0
    canal = _canal(rng, k, depth_ratio, degeneration)
    posterior = _posterior(rng, k)
    marrow = _marrow_and_slip(rng, k, age_risk, degeneration)
    details = _details(rng, k, kd, age_risk, depth_ratio, degeneration)
    params = SpineParams(
        scale=k, age=age, body_wedge=np.deg2rad(body_w), disc_wedge=np.deg2rad(disc_w),
        sacral_wedge=np.deg2rad(sac_wedge), degeneration=degeneration, canal_hw=_CANAL_HW * kd,
        **sizes, **canal, **posterior, **marrow, **details)
    # Transitional S1 (a "lumbarised" look, a few % of people): S1/S2 as tall as a small disc.
    if rng.random() < LUMBARISED_S1:
        params.lumbarised_s1 = True
        params.sacral_disc_h[0] = rng.uniform(5.0, 9.0) * k
    disc_extra, s1_wedge, wall_tilt = _lumbosacral(_side_rng(rng))
    params.disc_wedge[N_MOBILE - 1] += np.deg2rad(disc_extra)
    params.sacral_wedge[0] = np.deg2rad(s1_wedge)
    params.s1_wall_tilt = float(np.deg2rad(wall_tilt))
    return params
