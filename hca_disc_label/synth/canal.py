"""The spinal canal's contents as scene parts: epidural fat, ligaments, thecal sac, cord, roots.

Everything is laid along the canal curve (:mod:`.curve`) of a :class:`~.anatomy.Spine`, in
mm, offsets ``d`` posterior of the canal front. :func:`canal_parts` draws one row of random
numbers per cauda equina root plus one for the canal (:data:`N_ROOTS` + 1 rows of 8), always
the same count, so the details do not depend on the field of view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hca_disc_label.synth.anatomy import Spine, canal_ap_profile
from hca_disc_label.synth.curve import SubCurve, along, clip_range, level_profile, offset_curve
from hca_disc_label.synth.parts import Part, band_from_curves
from hca_disc_label.synth.spine_params import N_MOBILE
from hca_disc_label.synth.tissues import Tissue

N_ROOTS = 7
"""Cauda equina roots drawn at most (one row of random numbers each, plus one for the canal)."""
PLL_DISC_MM = (0.8, 2.2)
"""Thickness of the posterior longitudinal ligament + posterior annulus fibres behind a disc
(mm). On real T2 this dark band separates the disc's posterior edge (the SCT label) from the
bright CSF; without it the network learns to put the tip just in front of the CSF and lands
1-2 mm posterior of annotators' labels on real scans."""
PLL_BODY_MM = (0.3, 0.9)
"""Thickness of the ligament behind the vertebral bodies (mm)."""


def pll_profile(s: np.ndarray, tip_s: np.ndarray, disc_h: np.ndarray, u_disc: float,
                u_body: float) -> np.ndarray:
    """Ligament thickness (mm) along arc length ``s``: thicker at the disc levels ``tip_s``."""
    at_disc = PLL_DISC_MM[0] + (PLL_DISC_MM[1] - PLL_DISC_MM[0]) * u_disc
    at_body = PLL_BODY_MM[0] + (PLL_BODY_MM[1] - PLL_BODY_MM[0]) * u_body
    width = 0.5 * disc_h + 2.5
    near = np.exp(-0.5 * ((s[:, None] - tip_s[None, :]) / width[None, :]) ** 2).max(axis=1)
    return at_body + (at_disc - at_body) * near


@dataclass
class _Canal:
    """Offsets (mm, posterior of the canal front) along ``view.s``, and the random rows.

    ``ap``: canal AP diameter; ``d_a``: anterior wall; ``bump``: flavum indentation; ``pll``:
    ligament thickness; ``sac_a`` / ``sac_p``: front / back of the thecal sac; ``canal_hw``:
    L-R half width; ``centre``, ``cord_r``, ``cord_hw``: the cord; ``s_end``, ``s_conus``: arc
    length of the sac end and the conus tip; ``rr``: ``(N_ROOTS + 1, 8)`` uniform numbers.
    """

    view: SubCurve
    ap: np.ndarray
    d_a: np.ndarray
    bump: np.ndarray
    pll: np.ndarray
    sac_a: np.ndarray
    sac_p: np.ndarray
    canal_hw: np.ndarray
    centre: np.ndarray
    cord_r: np.ndarray
    cord_hw: np.ndarray
    s_end: float
    s_conus: float
    rr: np.ndarray


def _canal(spine: Spine, rng: np.random.Generator, rs: tuple[float, float]) -> _Canal:
    p = spine.params
    s0, s1 = spine.s_canal
    # Work only on the curve samples the field of view needs (plus margin for tapers).
    k0 = int(np.clip(np.floor(max(rs[0], s0) - 40.0 - spine.s[0]), 0, len(spine.s) - 1))
    k1 = int(np.clip(np.ceil(min(rs[1], s1) + 40.0 - spine.s[0]) + 1, k0 + 1, len(spine.s)))
    view = SubCurve(spine, k0, k1)
    s = view.s
    ap = canal_ap_profile(spine)[k0:k1]
    d_a = spine.d_wall_a[k0:k1]
    # Ligamentum flavum indents the back of the canal at disc levels (more when degenerate).
    tip_s = np.array([spine.tip_s[i + 3] for i in range(N_MOBILE)])
    width = 0.5 * p.disc_h + 3.0
    amp = 0.4 * p.flavum + 2.0 * p.degeneration
    near = np.abs(s[:, None] - tip_s[None, :]) < 4.0 * width[None, :]
    gauss = np.exp(-0.5 * ((s[:, None] - tip_s[None, :]) / width[None, :]) ** 2)
    bump = np.where(near, gauss * amp[None, :], 0.0).sum(axis=1)
    epi_a = level_profile(view, p.epidural_a, above=0.3, below=3.0)
    epi_p = level_profile(view, p.epidural_p, above=0.5, below=4.0)
    rr = rng.random((N_ROOTS + 1, 8))
    pll = pll_profile(s, tip_s, p.disc_h, rr[-1, 2], rr[-1, 3])
    sac_a = np.maximum(d_a, 0.0) + pll + epi_a
    sac_p = ap - bump - epi_p
    s_end = float(np.interp(N_MOBILE + p.sac_end, np.arange(len(spine.body_s)), spine.body_s.mean(axis=1)))
    mid = 0.5 * (sac_a + sac_p)
    half = 0.5 * (sac_p - sac_a) * np.sqrt(np.clip((s_end - s) / 18.0, 0.0, 1.0))
    sac_a, sac_p = mid - half, mid + half
    # Cord: AP size by level, tapering into the conus; medulla at the top.
    cord_r = 0.5 * level_profile(view, p.cord_ap, above=p.cord_ap[0] * 1.15)
    level_idx = np.arange(len(spine.level_s), dtype=float)
    s_conus = float(np.interp(p.conus_level, level_idx, spine.level_s))
    cord_r = cord_r * np.sqrt(np.clip((s_conus - s) / 24.0, 0.0, 1.0))
    free = np.maximum(0.5 * (sac_p - sac_a) - cord_r - 0.4, 0.0)
    centre = 0.5 * (sac_a + sac_p) + np.clip(p.cord_shift * 2.0 * free, -free, free)
    return _Canal(view, ap, d_a, bump, pll, sac_a, sac_p,
                  level_profile(view, p.canal_hw, above=p.canal_hw[0] * 1.2, below=6.0), centre, cord_r,
                  level_profile(view, p.cord_hw, above=p.cord_hw[0] * 1.1), s_end, s_conus, rr)


def _lining_parts(spine: Spine, c: _Canal, rs: tuple[float, float]) -> list[Part]:
    """Epidural fat, posterior longitudinal ligament and flavum (painted before the bones)."""
    before: list[Part] = []
    view = c.view
    lo, hi = clip_range(*spine.s_canal, rs)
    if hi <= lo:
        return before
    hw = float(c.canal_hw.max())
    fat = band_from_curves(offset_curve(view, c.d_a - 0.4, lo, hi), offset_curve(view, c.ap + 0.4, lo, hi),
                           Tissue.FAT, xc=0.0, hw=hw + 5.0)
    if fat is not None:
        before.append(fat)
    # Posterior longitudinal ligament: a dark band on the backs of the bodies and discs, in
    # front of the epidural fat and the dura. Discs and bodies are painted over its front.
    pll_part = band_from_curves(offset_curve(view, c.d_a - 0.5, lo, hi), offset_curve(view, c.d_a + c.pll, lo, hi),
                                Tissue.LIGAMENT, 1.0, xc=0.0, hw=hw * 0.6)
    if pll_part is not None:
        before.append(pll_part)
    for i in range(N_MOBILE):
        f_lo = spine.lamina_s[i, 1] - 3.0
        f_hi = spine.lamina_s[i + 1, 0] + 3.0 if i + 1 < N_MOBILE else spine.lamina_s[i, 1] + 10.0
        f_lo, f_hi = clip_range(f_lo, f_hi, rs)
        if f_hi <= f_lo:
            continue
        part = band_from_curves(offset_curve(view, c.ap - c.bump - 0.3, f_lo, f_hi),
                                offset_curve(view, c.ap + 2.0, f_lo, f_hi), Tissue.LIGAMENT, 1.0, xc=0.0, hw=hw)
        if part is not None:
            before.append(part)
    return before


def _sac_and_cord_parts(spine: Spine, c: _Canal, rs: tuple[float, float]) -> list[Part]:
    """Dura, CSF and cord as tubes (painted after the bones)."""
    after: list[Part] = []
    view = c.view
    s0 = spine.s_canal[0]
    dura = 0.3 + 0.4 * c.rr[-1, 0]
    sac_hw = np.maximum(c.canal_hw - 1.0, 2.0)
    lo, hi = clip_range(s0, c.s_end, rs)
    for tissue, inset in ((Tissue.LIGAMENT, 0.0), (Tissue.CSF, dura)):
        if hi <= lo:
            break
        part = band_from_curves(offset_curve(view, c.sac_a + inset, lo, hi),
                                offset_curve(view, c.sac_p - inset, lo, hi), tissue, 1.0, xc=0.0, mode="tube", hw=20.0,
                                hw_along=along(view, sac_hw - inset, lo, hi))
        if part is not None:
            after.append(part)
    lo, hi = clip_range(s0, c.s_conus, rs)
    if hi > lo:
        cord = band_from_curves(offset_curve(view, c.centre - c.cord_r, lo, hi),
                                offset_curve(view, c.centre + c.cord_r, lo, hi), Tissue.CORD, 1.0, xc=0.0,
                                mode="tube", hw=8.0, hw_along=along(view, np.maximum(c.cord_hw, 0.5), lo, hi))
        if cord is not None:
            after.append(cord)
    return after


def _root_parts(c: _Canal, rs: tuple[float, float]) -> list[Part]:
    """Cauda equina: thin roots from the conus to the sac end, lying posteriorly (supine)."""
    out: list[Part] = []
    s = c.view.s
    for j in range(2 + int(c.rr[-1, 1] * 4)):
        q = c.rr[j]
        frac = 0.3 + 0.62 * q[0]
        width = 0.4 + 0.6 * q[1]
        wave = (0.3 + 1.2 * q[2]) * np.sin(s / (15.0 + 25.0 * q[3]) + 6.3 * q[4])
        mid = c.sac_a + frac * (c.sac_p - c.sac_a) + wave
        lo, hi = clip_range(c.s_conus - 15.0, c.s_end - 2.0 - 23.0 * q[5], rs)
        if hi <= lo:
            continue
        part = band_from_curves(offset_curve(c.view, mid - width / 2, lo, hi),
                                offset_curve(c.view, mid + width / 2, lo, hi), Tissue.NERVE, 1.0,
                                alpha=0.2 + 0.35 * q[6], xc=3.0 * (q[7] - 0.5) * 2.0, hw=2.0 + 4.0 * q[6],
                                mode="round")
        if part is not None:
            out.append(part)
    return out


def canal_parts(spine: Spine, rng: np.random.Generator,
                rs: tuple[float, float]) -> tuple[list[Part], list[Part], float]:
    """Canal fat / flavum (painted before bones) and the thecal sac, cord, roots (after).

    Args:
        spine: the built spine.
        rng: the scene's detail generator (one ``(N_ROOTS + 1, 8)`` draw).
        rs: the arc-length range (mm) the field of view needs.

    Returns:
        ``(before, after, cord_front_top_d)``; the last is the cord's anterior offset at the
        top of the canal (to join the medulla).
    """
    c = _canal(spine, rng, rs)
    s0, s1 = spine.s_canal
    cord_front_top = float(np.interp(s0 + 0.5, c.view.s, c.centre - c.cord_r))
    lo, hi = clip_range(s0, s1, rs)
    if hi <= lo:
        return [], [], cord_front_top
    return _lining_parts(spine, c, rs), _sac_and_cord_parts(spine, c, rs) + _root_parts(c, rs), cord_front_top
