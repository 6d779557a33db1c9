"""Soft tissue of the neck and trunk around a built spine (mid-sagittal, mm).

Layers are laid out along the spine curve as offsets ``d`` (mm, + = posterior) from the canal
front: from the back skin, subcutaneous fat, paraspinal muscle, posterior elements and canal,
vertebral bodies, prevertebral tissue, airway / mediastinum / abdominal organs, abdominal or
chest wall, to the front skin. Organs are coarse on purpose (they are context for the disc
labeler, not targets) but sized and placed like an adult's, and every size is randomised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hca_disc_label.synth import shapes
from hca_disc_label.synth.anatomy import Spine, canal_ap_profile
from hca_disc_label.synth.parts import Part, band_from_curves, poly
from hca_disc_label.synth.tissues import Tissue


@dataclass
class BodyParams:
    """Random trunk choices (mm factors and organ placements)."""

    neck: float
    chest: float
    girth: float
    fat: float
    muscle: float
    skin: float
    prevert: float
    airway: float
    carina_level: float
    aorta_d: float
    aorta_x: float
    heart: float
    heart_level: float
    dome: float
    liver: float
    liver_shade: float
    bladder: tuple[float, float, float]
    bowel: list[tuple] = field(default_factory=list)
    septa: list[tuple] = field(default_factory=list)
    table: float = 0.0
    has_lung: bool = True
    lung_shade: float = 1.0


def sample_body(rng: np.random.Generator, spine: Spine) -> BodyParams:
    """Draw trunk parameters (body habitus, organ sizes and places)."""
    k = spine.params.scale
    girth = rng.uniform(0.75, 1.6)
    bowel = []
    for _ in range(int(rng.integers(6, 22))):
        kind = rng.choice([Tissue.VISCERA, Tissue.FLUID, Tissue.AIR, Tissue.FAT], p=[0.45, 0.25, 0.2, 0.1])
        bowel.append((rng.uniform(0.0, 1.0), rng.uniform(0.1, 0.95), rng.uniform(7.0, 24.0) * k,
                      rng.uniform(6.0, 20.0) * k, int(kind), rng.uniform(0.6, 1.4), rng.normal(0.0, 35.0),
                      rng.uniform(0.0, np.pi)))
    septa = []
    for _ in range(int(rng.integers(2, 9))):
        septa.append((rng.uniform(0.0, 1.0), rng.uniform(0.05, 0.5), rng.uniform(0.25, 0.95),
                      rng.uniform(0.6, 2.5), rng.uniform(0.4, 0.9), rng.uniform(0.0, 2 * np.pi)))
    return BodyParams(
        neck=k * rng.uniform(0.85, 1.25),
        chest=k * rng.uniform(0.85, 1.25),
        girth=k * girth,
        fat=rng.lognormal(0.0, 0.45) * (0.6 + 0.5 * girth),
        muscle=k * rng.uniform(0.8, 1.2),
        skin=rng.uniform(1.2, 2.5),
        prevert=rng.uniform(0.8, 1.3),
        airway=k * rng.uniform(0.75, 1.25),
        carina_level=rng.uniform(9.0, 11.0),
        aorta_d=k * rng.uniform(20.0, 28.0),
        aorta_x=rng.uniform(4.0, 22.0),
        heart=k * rng.uniform(0.85, 1.2),
        heart_level=rng.uniform(12.5, 14.5),
        dome=k * rng.uniform(25.0, 55.0),
        liver=k * rng.uniform(45.0, 90.0),
        liver_shade=rng.uniform(0.55, 1.15),
        bladder=(rng.uniform(0.3, 1.0), rng.uniform(18.0, 45.0) * k, rng.uniform(18.0, 50.0) * k),
        bowel=bowel,
        septa=septa,
        table=rng.uniform(0.0, 1.0),
        has_lung=bool(rng.random() < 0.85),
        lung_shade=rng.uniform(0.5, 1.5),
    )


class _Profiles:
    """Level-based profiles along ``spine.s`` (all ``(K,)`` arrays, mm)."""

    def __init__(self, spine: Spine):
        self.spine = spine
        bones = spine.bones
        self.mid = spine.body_s.mean(axis=1)
        self.names = [b.name for b in bones]
        depths = np.array([b.depth for b in bones])
        self.front = -np.interp(spine.s, self.mid, depths)
        self.wall_p = canal_ap_profile(spine)

    def s_of(self, name: str, where: float = 0.5) -> float:
        i = self.names.index(name)
        top, bot = self.spine.body_s[i]
        return float(top + where * (bot - top))

    def s_level(self, level: float) -> float:
        """Arc length at a fractional bone index (0 = C2 middle, 23 = S1 middle)."""
        return float(np.interp(level, np.arange(len(self.mid)), self.mid))

    def control(self, points: list[tuple[float, float]]) -> np.ndarray:
        """Interpolate ``(fractional bone index, value)`` control points along ``s``."""
        lv = np.array([p[0] for p in points], dtype=float)
        vals = np.array([p[1] for p in points], dtype=float)
        return np.interp(self.spine.s, [self.s_level(x) for x in lv], vals)


def _curve_in(spine: Spine, d: np.ndarray, s_lo: float = -np.inf, s_hi: float = np.inf,
              step: int = 2) -> np.ndarray:
    keep = (spine.s >= s_lo) & (spine.s <= s_hi)
    idx = np.flatnonzero(keep)[::step]
    return spine.at(spine.s[idx], d[idx])


@dataclass
class _Trunk:
    """Shared profiles for building the trunk parts of one subject within an arc range."""

    spine: Spine
    bp: BodyParams
    P: _Profiles
    rs: tuple[float, float]
    out: dict[str, list[Part]]
    skin_a: np.ndarray
    skin_p: np.ndarray
    cav_front: np.ndarray
    mus_p: np.ndarray
    prevert: np.ndarray
    head_back: tuple | None = None

    def back_curve(self, d: np.ndarray, inset: float = 0.0, step: int = 1) -> np.ndarray:
        """A posterior wall, trimmed above the nape to the back of the head (minus ``inset``)."""
        pts = self.curve(d, step=step)
        if self.head_back is not None and len(pts):
            hu, hv, u_nape = self.head_back[:3]
            above = pts[:, 0] < u_nape
            limit = np.interp(pts[:, 0], hu, hv) - inset
            pts[:, 1] = np.where(above, np.minimum(pts[:, 1], limit), pts[:, 1])
        return pts

    def curve(self, d: np.ndarray, s_lo: float = -np.inf, s_hi: float = np.inf, step: int = 2) -> np.ndarray:
        return _curve_in(self.spine, d, max(s_lo, self.rs[0]), min(s_hi, self.rs[1]), step)

    def inside(self, lo: float, hi: float) -> bool:
        return hi >= self.rs[0] and lo <= self.rs[1]

    def band(self, group: str, d_front: np.ndarray, d_back: np.ndarray, tissue: int, s_lo: float = -np.inf,
             s_hi: float = np.inf, step: int = 2, **kw) -> None:
        part = band_from_curves(self.curve(d_front, s_lo, s_hi, step), self.curve(d_back, s_lo, s_hi, step),
                                tissue, **kw)
        if part is not None:
            self.out[group].append(part)

    def at(self, s_val: float, d: np.ndarray | float) -> np.ndarray:
        dv = float(np.interp(s_val, self.spine.s, d)) if isinstance(d, np.ndarray) else float(d)
        return self.spine.at(s_val, dv)[0]


def trunk_parts(spine: Spine, bp: BodyParams, rs: tuple[float, float] = (-np.inf, np.inf),
                head_back: tuple | None = None) -> dict[str, list[Part]]:
    """Soft-tissue parts of the neck and trunk, grouped by paint stage.

    Args:
        spine: the built spine.
        bp: trunk parameters.
        rs: arc-length range to cover; parts wholly outside it are skipped.
        head_back: ``(u, v, u_nape, u_inion)``: posterior outline of the head (see
            :func:`~.head.back_of_head`); above the nape the neck layers are trimmed to it so
            that the back of the neck runs smoothly into the scalp, and the neck muscles stop
            at the inion.

    Returns:
        ``{"outer": [...], "cavity": [...], "organs": [...], "posterior": [...]}``; the scene
        paints outer, cavity, organs, posterior, then the head, then the spine.
    """
    P = _Profiles(spine)
    # The head (painted later) covers everything above the skull base.
    rs = (max(rs[0], spine.s_canal[0] - 70.0), rs[1])
    # Control levels: -2 above C2 ... 0 = C2 ... 5 = C7, 6 = T1 ... 17 = T12, 18 = L1 ... 22 = L5,
    # 23 = S1 ... 30 = Co3, beyond = pelvis / thighs.
    ant = P.control([(-2, 58), (0, 50), (2, 46), (4, 43), (6, 52), (8, 100), (10, 125), (12, 135),
                     (14, 140), (16, 140), (18, 132), (20, 126), (22, 118), (24, 108), (26, 92), (28, 80),
                     (32, 80)])
    ant = ant * P.control([(4, bp.neck), (7, bp.chest), (15, bp.chest), (18, bp.girth), (23, bp.girth),
                           (27, 0.5 * (bp.girth + bp.chest))])
    girth_rel = bp.girth / max(spine.params.scale, 1e-6)
    fat_a = P.control([(0, 6), (5, 8), (8, 10), (16, 14), (20, 22), (24, 26), (28, 25)]) * bp.fat
    fat_a = fat_a * P.control([(0, 1.0), (16, 1.0), (19, girth_rel)])
    mus_a = P.control([(0, 6), (5, 7), (8, 12), (16, 10), (20, 9), (28, 7)]) * bp.muscle
    mus_p = P.control([(-3, 46), (-1, 46), (0, 47), (2, 49), (4, 47), (5, 44), (8, 38), (12, 33), (16, 40),
                       (18, 50), (20, 58),
                       (22, 52), (23, 36), (25, 20), (27, 12), (32, 30)]) * bp.muscle
    fat_p = P.control([(-3, 5), (0, 7), (5, 10), (10, 9), (17, 14), (21, 22), (24, 32), (27, 45), (32, 60)]) * bp.fat
    prevert = P.control([(-2, 4), (1, 4), (2, 5), (3, 9), (4, 14), (6, 14), (9, 16), (14, 18), (18, 12),
                         (22, 8)]) * bp.prevert
    # Spinous tips lie just under the subcutaneous fat: the muscle layer reaches past them.
    mus_p = np.maximum(mus_p, _tip_depth(spine) - P.wall_p + 4.0 * bp.muscle)
    skin_a = P.front - ant
    T = _Trunk(spine, bp, P, rs, {"outer": [], "cavity": [], "organs": [], "posterior": []},
               skin_a, P.wall_p + mus_p + fat_p, skin_a + fat_a + mus_a, mus_p, prevert, head_back)
    _outer(T, fat_a)
    _thorax(T)
    _abdomen(T)
    _neck(T)
    _back(T)
    return T.out


def _outer(T: _Trunk, fat_a: np.ndarray) -> None:
    """Skin, subcutaneous fat, anterior wall muscle, the body cavity and the lungs."""
    spine, bp, P = T.spine, T.bp, T.P
    v_table = np.inf
    if bp.table > 0.3:  # supine: the back is flattened where it rests on the table
        v_table = float(np.percentile(spine.at(spine.s, T.skin_p)[:, 1], 70 + 25 * bp.table))
    # Subcutaneous fat over the whole body, then the skin as two thin layers (cheaper than a
    # full-width skin band under the fat).
    back = T.back_curve(T.skin_p - bp.skin, bp.skin)
    back[:, 1] = np.minimum(back[:, 1], v_table - bp.skin)
    front = T.curve(T.skin_a + bp.skin, step=1)
    _add(T.out["outer"], band_from_curves(front, back, Tissue.FAT, hw=160.0))
    back_skin = T.back_curve(T.skin_p, 0.0)
    back_skin[:, 1] = np.minimum(back_skin[:, 1], v_table)
    _add(T.out["outer"], band_from_curves(back, back_skin, Tissue.SOFT, hw=160.0))
    _add(T.out["outer"], band_from_curves(T.curve(T.skin_a, step=1), front, Tissue.SOFT, hw=160.0))
    T.band("cavity", T.skin_a + fat_a, T.cav_front + 1.0, Tissue.MUSCLE, hw=150.0)
    T.band("cavity", T.cav_front, P.front + 2.0, Tissue.SOFT, hw=150.0)
    if bp.has_lung:
        T.band("cavity", T.cav_front, P.front - 4.0, Tissue.LUNG, P.s_of("T1", 0.0) + 5.0, P.s_of("L1", 0.6),
               shade=bp.lung_shade, hw=140.0)
    # Mediastinum / prevertebral tissue (neck: pharyngeal constrictors, esophagus).
    T.band("cavity", P.front - T.prevert, P.front + 2.0, Tissue.SOFT, hw=25.0)
    T.band("organs", P.front - T.prevert - 16.0 * bp.prevert, P.front - T.prevert + 2.0, Tissue.FAT,
           P.s_of("T1", 0.0), P.s_of("T12"), shade=0.9, alpha=0.7, hw=30.0)


def _thorax(T: _Trunk) -> None:
    """Heart on the diaphragm, aortic arch, descending aorta, IVC, sternum."""
    spine, bp, P, s = T.spine, T.bp, T.P, T.spine.s
    hc_s = P.s_level(bp.heart_level)
    r_ap, r_si = 48.0 * bp.heart, 55.0 * bp.heart
    if T.inside(hc_s - r_si - 10.0, hc_s + r_si + 10.0):
        hc = T.at(hc_s, P.front - 22.0 - r_ap)
        heart = shapes.ellipse(hc, r_si, r_ap, -0.5, 40)
        T.out["organs"].append(poly(shapes.shrink(heart, -4.0), Tissue.FAT, 1.0, xc=15.0, hw=70.0, mode="round"))
        T.out["organs"].append(poly(heart, Tissue.VISCERA, 1.0, xc=15.0, hw=65.0, mode="round"))
        T.out["organs"].append(poly(shapes.shrink(heart, 9.0), Tissue.VESSEL, 1.0, xc=15.0, hw=55.0, mode="round"))
    arch_s = P.s_level(7.5)
    if T.inside(arch_s - 20.0, arch_s + 20.0):
        arch = T.at(arch_s, P.front - 38.0)
        T.out["organs"].append(poly(shapes.ellipse(arch, 0.55 * bp.aorta_d, 0.55 * bp.aorta_d, 0.0, 20), Tissue.VESSEL,
                                    xc=5.0, hw=35.0))
    s_st0, s_st1 = P.s_level(7.2), P.s_level(14.5)
    if T.inside(s_st0, s_st1):
        st_in = T.curve(T.cav_front + 1.0, s_st0, s_st1)
        st_out = T.curve(T.cav_front - 11.0 * bp.chest, s_st0, s_st1)
        if len(st_in) >= 2:
            sternum = shapes.chaikin(np.vstack([st_in, st_out[::-1]]), 2)
            T.out["organs"].append(poly(sternum, Tissue.CORTEX, hw=20.0))
            T.out["organs"].append(poly(shapes.shrink(sternum, 1.5), Tissue.MARROW, hw=18.0))
    del s


def _vessels(T: _Trunk) -> None:
    bp, P = T.bp, T.P
    T.band("organs", P.front - 3.0 - bp.aorta_d, P.front - 3.0, Tissue.VESSEL, P.s_level(8.0), P.s_level(21.5),
           xc=bp.aorta_x, hw=0.5 * bp.aorta_d, mode="tube")
    T.band("organs", P.front - 4.0 - 0.9 * bp.aorta_d, P.front - 4.0, Tissue.VESSEL, P.s_level(16.0), P.s_level(22.5),
           shade=0.8, xc=-bp.aorta_x - 12.0, hw=0.5 * bp.aorta_d, mode="tube")


def _abdomen(T: _Trunk) -> None:
    """Abdomen below the diaphragm dome, liver, bowel loops, bladder, rectum, great vessels."""
    spine, bp, P, s = T.spine, T.bp, T.P, T.spine.s
    s_post, s_ant = P.s_of("L1", 0.6), P.s_of("T10", 0.5)
    s_end = s[-1] - 5.0
    if T.inside(s_ant - bp.dome - 10.0, s_end):
        f = np.linspace(0.0, 1.0, 15)
        s_dome = s_post + (s_ant - s_post) * f - bp.dome * np.sin(np.pi * np.clip(f * 1.15, 0, 1)) ** 0.8
        d_post = np.interp(s_dome, s, P.front) - 3.0
        d_ant = np.interp(s_dome, s, T.cav_front)
        dome = spine.at(s_dome, d_post + f * (d_ant - d_post))
        front_wall = _curve_in(spine, T.cav_front, s_ant, s_end, step=5)
        back_wall = _curve_in(spine, P.front + 1.0, s_post, s_end, step=5)[::-1]
        abdomen = np.vstack([dome, front_wall, back_wall])
        T.out["organs"].append(Part(_poly_coarse(abdomen, Tissue.VISCERA, 1.0), 0.0, 150.0, "slab"))
        liver_lo = spine.at(s_dome + bp.liver * (0.4 + 0.6 * np.sin(np.pi * f)), d_post + f * (d_ant - d_post) - 2.0)
        liver = np.vstack([dome[3:], liver_lo[3:][::-1]])
        T.out["organs"].append(Part(_poly_coarse(shapes.chaikin(liver, 1), Tissue.VISCERA, bp.liver_shade), -30.0, 85.0,
                                    "slab"))
    s_ab0, s_ab1 = P.s_of("L1"), P.s_level(27.0)
    for (fs, fd, ru, rv, kind, shade, xc, rot) in bp.bowel:
        sb = s_ab0 + fs * (s_ab1 - s_ab0)
        if not T.inside(sb - 30.0, sb + 30.0):
            continue
        dfront = float(np.interp(sb, s, P.front))
        dcav = float(np.interp(sb, s, T.cav_front))
        c = spine.at(sb, dfront - 8.0 - fd * max(dfront - 8.0 - dcav, 5.0))[0]
        loop = shapes.ellipse(c, ru, rv, rot, 20)
        hw = 0.8 * (ru + rv)
        T.out["organs"].append(poly(loop, Tissue.VISCERA, shade, xc=xc, hw=hw, mode="round"))
        if kind != Tissue.VISCERA and min(ru, rv) > 6:
            T.out["organs"].append(poly(shapes.shrink(loop, 2.5), kind, 1.0, xc=xc, hw=hw - 2.0, mode="round"))
    fill, b_ru, b_rv = bp.bladder
    bs = P.s_level(27.5)
    if T.inside(bs - 60.0, bs + 60.0):
        bc = T.at(bs, P.front - 35.0 - b_rv)
        bl = shapes.ellipse(bc, b_ru * fill ** 0.3, b_rv * fill ** 0.3, 0.3, 24)
        T.out["organs"].append(poly(shapes.shrink(bl, -2.5), Tissue.VISCERA, 1.0, hw=max(b_rv, 25.0), mode="round"))
        T.out["organs"].append(poly(bl, Tissue.FLUID, 1.0, hw=max(b_rv, 25.0) - 2.0, mode="round"))
        gas = bool(bp.bowel) and bp.bowel[0][4] == Tissue.AIR
        for j, lv in enumerate((25.0, 26.5, 28.0)):
            rc = T.at(P.s_level(lv), P.front - 14.0)
            rect = shapes.ellipse(rc, 14.0, 10.0, 0.2 * j, 16)
            T.out["organs"].append(poly(rect, Tissue.VISCERA, 0.9, hw=20.0, mode="round"))
            if gas:
                T.out["organs"].append(poly(shapes.shrink(rect, 3.0), Tissue.AIR, hw=16.0, mode="round"))
    _vessels(T)


def _neck(T: _Trunk) -> None:
    """Airway (pharynx, larynx, trachea), thyroid, hyoid."""
    bp, P = T.bp, T.P
    aw_ap = P.control([(-2, 14), (0, 15), (2, 14), (3.5, 18), (5, 16), (7, 17), (10, 17)]) * bp.airway
    s_aw0 = P.s_level(-1.2)
    s_carina = P.s_level(bp.carina_level)
    aw_back = P.front - T.prevert
    T.band("organs", aw_back - aw_ap - 4.0, aw_back - aw_ap, Tissue.SOFT, s_aw0 + 30.0, s_carina, hw=20.0)
    T.band("organs", aw_back - aw_ap, aw_back, Tissue.AIR, s_aw0, s_carina, xc=0.0, hw=11.0 * bp.airway, mode="tube")
    if T.inside(P.s_level(1.0), P.s_level(6.0)):
        th = T.at(P.s_level(5.0), aw_back - aw_ap - 9.0)
        T.out["organs"].append(poly(shapes.ellipse(th, 14.0, 6.0, 0.0, 16), Tissue.SOFT, 1.25, hw=25.0))
        hy = T.at(P.s_level(2.3), aw_back - aw_ap - 8.0)
        T.out["organs"].append(poly(shapes.ellipse(hy, 3.5, 5.5, 0.3, 12), Tissue.CORTEX, hw=20.0))


def _back(T: _Trunk) -> None:
    """Paraspinal muscles behind the canal, with fat septa."""
    spine, bp, P, s = T.spine, T.bp, T.P, T.spine.s
    u_top = T.head_back[3] if T.head_back is not None and len(T.head_back) > 3 else None
    _add(T.out["posterior"], band_from_curves(T.curve(P.wall_p - 1.0, step=1),
                                              T.back_curve(P.wall_p + T.mus_p, 5.0), Tissue.MUSCLE, hw=150.0,
                                              u_top=u_top))
    s_lo, s_hi = s[0] + 100.0, s[-1] - 100.0
    for (a, length, depth_f, thick, alpha, phase) in bp.septa:
        s0 = s_lo + a * (s_hi - s_lo)
        s1 = min(s_hi, s0 + length * (s_hi - s_lo))
        if not T.inside(s0, s1):
            continue
        dmid = P.wall_p + depth_f * T.mus_p + 3.0 * np.sin(s / 23.0 + phase)
        T.band("posterior", dmid - thick / 2, dmid + thick / 2, Tissue.FAT, s0, s1, alpha=alpha, hw=150.0)
    del spine


def _tip_depth(spine: Spine) -> np.ndarray:
    """Posterior offset (mm) of the spinous process tips along the curve, interpolated in s."""
    tips = spine.spinous_tips
    if tips is None:
        return np.zeros_like(spine.s)
    d2 = ((spine.centre[None, :, :] - tips[:, None, :]) ** 2).sum(axis=-1)
    k = np.argmin(d2, axis=1)
    depth = np.sum((tips - spine.centre[k]) * spine.normal[k], axis=1)
    order = np.argsort(spine.s[k])
    return np.interp(spine.s, spine.s[k][order], depth[order])


def _add(lst: list[Part], part: Part | None) -> None:
    if part is not None:
        lst.append(part)


def _poly_coarse(pts: np.ndarray, tissue: int, shade: float, pattern=None):
    from hca_disc_label.synth.raster import Poly

    return Poly(np.asarray(pts, dtype=float), int(tissue), float(shade), pattern, 1.0, supersample=1)


__all__ = ["BodyParams", "sample_body", "trunk_parts"]
