"""A whole synthetic subject: spine + canal contents + head + trunk, as ordered scene parts.

:func:`sample_subject` draws a subject and orients it so that the region of interest is
roughly vertical in the image (as a technologist positions it), with a random tilt.
:func:`subject_parts` lists every :class:`~.parts.Part` in paint order; a sagittal slice at any
lateral position is then ``parts.sections(parts, x)`` rendered on a :class:`~.raster.Canvas`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hca_disc_label.synth import shapes
from hca_disc_label.synth.anatomy import Spine, canal_ap_profile
from hca_disc_label.synth.body import BodyParams, sample_body, trunk_parts
from hca_disc_label.synth.canal import canal_parts
from hca_disc_label.synth.chain import build_spine, chain_chord_angle
from hca_disc_label.synth.coronal import LATERAL_PARTS_MM, CoronalCurve, bend, sample_curve
from hca_disc_label.synth.curve import along, clip_range, offset_curve, overlaps
from hca_disc_label.synth.head import (
    HeadParams,
    back_of_head,
    head_frame,
    head_outer_parts,
    head_parts,
    inion_u,
    sample_head,
)
from hca_disc_label.synth.parts import Part, band_from_curves, poly
from hca_disc_label.synth.pelvis import pelvis_parts
from hca_disc_label.synth.spine_params import N_MOBILE, sample_params
from hca_disc_label.synth.tissues import Tissue

PERSISTENT_S1S2 = 0.45
"""Fraction of subjects whose S1/S2 remnant keeps a visible nucleus."""
SYNCHONDROSIS_LINE = 0.35
"""Fraction of subjects with a disc-like band at the dens base (subdental synchondrosis)."""

REGION_CHORDS: dict[str, tuple[str, str]] = {
    "whole": ("C2", "S1"),
    "cervical": ("C2", "T1"),
    "cervicothoracic": ("C2", "T9"),
    "thoracic": ("T1", "L1"),
    "thoracolumbar": ("T6", "S1"),
    "lumbar": ("L1", "S1"),
}
"""Bones whose posterior corners define the image vertical for each region of interest."""


@dataclass
class Subject:
    """One synthetic person.

    Attributes:
        spine: the spine geometry (labels in ``spine.tips``).
        head, body: head and trunk parameters.
        parts: scene parts in paint order (filled by :func:`build_parts`).
        detail_seed: seed of the small random details of the parts (veins, roots, ...).
        persistent_s1s2: probability that the S1/S2 remnant keeps a visible nucleus.
        coronal: the spine's coronal curve (None = straight), from its own generator.
    """

    spine: Spine
    head: HeadParams
    body: BodyParams
    parts: list[Part]
    detail_seed: int = 0
    persistent_s1s2: float = PERSISTENT_S1S2
    coronal: CoronalCurve | None = None


def sample_subject(rng: np.random.Generator, region: str = "whole", tilt_sd_deg: float = 5.0) -> Subject:
    """Draw a subject (geometry only; parts are built later for a field of view).

    The region's chord (posterior-superior corners of its end vertebrae, a key of
    :data:`REGION_CHORDS`) is made vertical, then tilted by ``N(0, tilt_sd_deg)`` degrees.
    """
    params = sample_params(rng)
    shape_seed = int(rng.integers(0, 2**31 - 1))
    top, bottom = REGION_CHORDS.get(region, REGION_CHORDS["whole"])
    phi0 = -chain_chord_angle(params, top, bottom) + np.deg2rad(rng.normal(0.0, tilt_sd_deg))
    spine = build_spine(params, phi0, np.random.default_rng(shape_seed))
    hp = sample_head(rng, spine)
    bp = sample_body(rng, spine)
    detail_seed = int(rng.integers(0, 2**31 - 1))
    return Subject(spine, hp, bp, [], detail_seed, coronal=sample_curve(spine, detail_seed))


def s_range_for_rows(spine: Spine, u_lo: float, u_hi: float, margin: float = 40.0) -> tuple[float, float]:
    """Arc-length range of the spine curve whose points lie within ``[u_lo, u_hi]`` (+ margin)."""
    u = spine.centre[:, 0]
    inside = np.flatnonzero((u >= u_lo - margin) & (u <= u_hi + margin))
    if len(inside) == 0:
        return (np.inf, -np.inf)
    return float(spine.s[inside[0]]), float(spine.s[inside[-1]])


def build_parts(subject: Subject, s_range: tuple[float, float] | None = None, lateral: bool = False) -> list[Part]:
    """Build (and store in ``subject.parts``) the parts needed for an arc-length range.

    Args:
        subject: from :func:`sample_subject`.
        s_range: arc-length range to cover (None = everything); parts wholly outside are
            skipped, which is what makes small fields of view cheap.
        lateral: also build the off-midline structures (pedicles, pillars, psoas, kidneys)
            needed by 3D volumes; a marked coronal curve builds them anyway (they come into
            the mid-sagittal slice beside a shifted canal).
    """
    rng = np.random.default_rng(subject.detail_seed)
    curve = subject.coronal
    lateral = lateral or (curve is not None and curve.amplitude >= LATERAL_PARTS_MM)
    subject.parts = subject_parts(subject.spine, subject.head, subject.body, rng, s_range, lateral,
                                  subject.persistent_s1s2, curve)
    return subject.parts


def _bone_parts(spine: Spine, rng: np.random.Generator, rs: tuple[float, float]) -> list[Part]:
    p = spine.params
    nb = len(spine.bones)
    r = rng.random((nb, 8))  # drawn for every bone so details do not depend on the field of view
    marrow_all = shapes.shrink_many(np.stack([b.outline for b in spine.bones]), p.cortex)
    out: list[Part] = []
    for i, b in enumerate(spine.bones):
        if not overlaps(spine.body_s[i, 0] - 5.0, spine.body_s[i, 1] + 5.0, rs):
            continue
        axis = shapes.posterior(0.5 * (b.phi_t + b.phi_b))
        out.append(poly(b.outline, Tissue.CORTEX, 1.0, xc=0.0, hw=b.half_width, mode="ap", axis=axis))
        out.append(poly(marrow_all[i], Tissue.MARROW, b.shade, xc=0.0, hw=b.half_width - p.cortex, mode="ap",
                        axis=axis))
        # Endplate signal change next to degenerate discs (Modic 1 ~ oedema, 2 ~ fat).
        for j, (which, kind) in enumerate((("top", b.modic_top), ("bot", b.modic_bot))):
            if kind:
                pa, pp = (b.at, b.pt) if which == "top" else (b.ab, b.pb)
                into = shapes.tangent(b.phi_t) if which == "top" else -shapes.tangent(b.phi_b)
                c = 0.5 * (pa + pp) + into * (2.0 + 2.0 * r[i, j])
                tissue = Tissue.FLUID if kind == 1 else Tissue.FAT
                ell = shapes.ellipse(c, 1.5 + 2.0 * r[i, 2 + j], 0.38 * b.depth, b.phi_t, 18)
                out.append(poly(ell, tissue, 0.5 + 0.4 * r[i, 4], alpha=0.3 + 0.4 * r[i, 5],
                                hw=0.7 * b.half_width, mode="round"))
        # Anterior osteophytes (spurs) next to degenerate discs.
        for spur, corner, phi, sign in (
                (p.spur[i - 1] if 0 < i <= N_MOBILE else 0.0, b.at, b.phi_t, -1.0),
                (p.spur[i] if i < N_MOBILE else 0.0, b.ab, b.phi_b, 1.0)):
            if spur > 0.8:
                t = shapes.tangent(phi) * sign
                ant = -shapes.posterior(phi)
                tri = np.vstack([corner - 3.0 * t - 0.5 * ant, corner + 1.2 * ant + 0.6 * spur * t,
                                 corner + 0.8 * ant + spur * t + 0.6 * ant, corner - 1.5 * ant])
                tri = shapes.chaikin(tri, 1)
                out.append(poly(tri, Tissue.CORTEX, xc=0.0, hw=0.6 * b.half_width, mode="ap", axis=-ant))
                out.append(poly(shapes.shrink(tri, 0.7), Tissue.MARROW, b.shade, xc=0.0, hw=0.5 * b.half_width,
                                mode="ap", axis=-ant))
        # Basivertebral vein: bright notch entering the back of the body at mid height.
        if 1 <= i < N_MOBILE + 1 and r[i, 6] < 0.65:
            phi_m = 0.5 * (b.phi_t + b.phi_b)
            mid = 0.5 * (b.pt + b.pb)
            ant = -shapes.posterior(phi_m)
            t = shapes.tangent(phi_m)
            length = b.depth * (0.2 + 0.2 * r[i, 7])
            w = 0.8 + r[i, 5]
            tip = mid + length * ant
            vein = np.vstack([mid - w * t, mid + w * t, tip + 0.3 * w * t, tip - 0.3 * w * t])
            out.append(poly(vein, Tissue.FAT, 0.6 + 0.4 * r[i, 4], alpha=0.4 + 0.45 * r[i, 3], hw=3.0, mode="round"))
    return out


def _disc_parts(spine: Spine, rng: np.random.Generator, rs: tuple[float, float],
                persistent_s1s2: float = PERSISTENT_S1S2) -> list[Part]:
    nd = len(spine.discs)
    r = rng.random((nd, 4))
    # Nucleus brightness varies between people (hydration) and is often lower in the neck.
    person = 0.55 + 0.5 * rng.random()
    neck = 0.6 + 0.4 * rng.random()
    out: list[Part] = []
    for i, d in enumerate(spine.discs):
        if not overlaps(spine.body_s[i, 1] - 5.0, spine.body_s[i + 1, 0] + 5.0, rs):
            continue
        if d.value == 0:  # fused sacral / coccygeal remnant
            disc_like = i == N_MOBILE and spine.params.lumbarised_s1
            out.append(poly(d.outline, Tissue.ANNULUS, 0.5 + 0.5 * r[i, 0],
                            alpha=1.0 if disc_like else 0.5 + 0.5 * r[i, 1],
                            hw=d.half_width, mode="ap", axis=d.normal))
            if disc_like:
                # Transitional S1/S2: a real-looking disc (bright nucleus, dark annulus) that
                # must still not be counted as L5/S1.
                core = shapes.shrink(d.outline, 1.2)
                out.append(poly(core, Tissue.NUCLEUS, 0.6 + 0.4 * r[i, 3], hw=0.6 * d.half_width, mode="round"))
            elif i == N_MOBILE and r[i, 2] < persistent_s1s2:
                # S1/S2 often keeps a hydrated nucleus into adulthood: a small disc below
                # L5/S1 that must not be counted (taken for L5/S1, it shifts every label up).
                core = shapes.shrink(d.outline, 0.6)
                out.append(poly(core, Tissue.NUCLEUS, 0.3 + 0.7 * r[i, 3], hw=0.6 * d.half_width, mode="round"))
            continue
        degen = d.degeneration
        out.append(poly(d.outline, Tissue.ANNULUS, 1.0 - 0.3 * degen, hw=d.half_width, mode="ap", axis=d.normal))
        if len(d.nucleus):
            shade = float(np.clip(1.0 - 0.8 * degen * (0.7 + 0.4 * r[i, 0]) + 0.1 * (r[i, 1] - 0.5), 0.12, 1.1))
            shade = max(0.12, shade * person * (neck if d.value <= 8 else 1.0))
            # Inner annulus / transition zone: the nucleus fades into the annulus.
            c = d.nucleus.mean(axis=0)
            halo = c + (d.nucleus - c) * (1.15 + 0.15 * r[i, 3])
            out.append(poly(halo, Tissue.NUCLEUS, 0.55 * shade, alpha=0.6, hw=0.65 * d.half_width, mode="round"))
            out.append(poly(d.nucleus, Tissue.NUCLEUS, shade, hw=0.6 * d.half_width, mode="round"))
        if d.cleft is not None:
            out.append(poly(d.cleft, Tissue.ANNULUS, 0.8, alpha=0.4 + 0.5 * r[i, 2], hw=0.5 * d.half_width,
                            mode="round"))
    return out


def _lateral_parts(spine: Spine, rs: tuple[float, float]) -> list[Part]:
    """Pedicles, facet pillars, nerve roots, transverse processes, psoas, kidneys (off-midline)."""
    p = spine.params
    s = spine.s
    ap = canal_ap_profile(spine)
    out: list[Part] = []
    for i in range(N_MOBILE):
        s_top, s_bot = spine.body_s[i]
        if not overlaps(s_top - 10.0, s_bot + 30.0, rs):
            continue
        b = spine.bones[i]
        h = s_bot - s_top
        gap = spine.body_s[i + 1, 0] - s_bot
        chw = p.canal_hw[i]
        ap_i = float(np.interp(0.5 * (s_top + s_bot), s, ap))
        ss = np.array([s_top + 0.1 * h, s_top + 0.55 * h])
        ped = shapes.chaikin(np.vstack([spine.at(ss, -3.0), spine.at(ss, 0.75 * ap_i)[::-1]]), 2)
        ss = np.array([s_top + 0.15 * h, s_bot + gap + 0.3 * h])
        pillar = shapes.chaikin(np.vstack([spine.at(ss, 0.55 * ap_i), spine.at(ss, ap_i + 9.0 * p.scale)[::-1]]), 2)
        joint_s = s_bot + 0.5 * gap
        jl = spine.at(np.array([joint_s - 2.0, joint_s + 2.0]), np.array([0.55 * ap_i, ap_i + 9.0]))
        joint = np.vstack([jl[0], jl[1], jl[1] + [1.2, 0.0], jl[0] + [1.2, 0.0]])
        root = shapes.ellipse(spine.at(s_top + 0.75 * h, 0.3 * ap_i)[0], 3.0, 2.5, 0.0, 12)
        tproc = shapes.ellipse(spine.at(s_top + 0.35 * h, 0.6 * ap_i)[0], 5.0, 6.0, 0.0, 12)
        for side in (-1.0, 1.0):
            out.append(poly(ped, Tissue.CORTEX, xc=side * (chw + 3.5), hw=3.5))
            out.append(poly(shapes.shrink(ped, 1.0), Tissue.MARROW, b.shade, xc=side * (chw + 3.5), hw=3.0))
            out.append(poly(pillar, Tissue.CORTEX, xc=side * (chw + 8.0), hw=7.0))
            out.append(poly(shapes.shrink(pillar, 1.2), Tissue.MARROW, b.shade, xc=side * (chw + 8.0), hw=6.5))
            out.append(poly(joint, Tissue.FLUID, 0.8, alpha=0.8, xc=side * (chw + 8.0), hw=6.5))
            out.append(poly(root, Tissue.NERVE, xc=side * (chw + 5.0), hw=5.0))
            out.append(poly(tproc, Tissue.CORTEX, xc=side * (chw + 20.0), hw=6.0, mode="round"))
    # Psoas along the lumbar bodies, kidneys lateral to them. The psoas goes on past L5/S1 into
    # the pelvis, leaving the sacrum as it curls back: a muscle ending at S1 would mark L5/S1
    # off the midline, which no real scan does.
    front = -np.interp(s, spine.body_s.mean(axis=1), [b.depth for b in spine.bones])
    s_l1, s_s1 = spine.body_s[17, 0], spine.body_s[N_MOBILE, 0]
    lo, hi = clip_range(s_l1, spine.body_s[N_MOBILE + 2, 1], rs)
    if hi > lo:
        width = np.interp(s, [s_l1, s_s1, s_s1 + 40.0], [6.0, 22.0, 24.0]) * p.scale
        front = front + 2.0 - 0.6 * np.clip(s - s_s1, 0.0, None)
        for side in (-1.0, 1.0):
            ps = band_from_curves(offset_curve(spine, front, lo, hi),
                                  offset_curve(spine, front + 1.6 * width, lo, hi),
                                  Tissue.MUSCLE, 1.0, xc=side * (p.body_hw[20] + 15.0), hw=20.0, mode="tube",
                                  hw_along=along(spine, width, lo, hi))
            if ps is not None:
                out.append(ps)
    if overlaps(spine.level_s[16], spine.level_s[20], rs):
        kc = spine.at(spine.level_s[18], float(np.interp(spine.level_s[18], s, front)) * 0.3)[0]
        kid = shapes.ellipse(kc, 50.0 * p.scale, 24.0 * p.scale, 0.15, 24)
        for side in (-1.0, 1.0):
            out.append(poly(shapes.shrink(kid, -3.0), Tissue.FAT, xc=side * 60.0, hw=32.0, mode="round"))
            out.append(poly(kid, Tissue.VISCERA, 1.1, xc=side * 60.0, hw=28.0, mode="round"))
    return out


def _posterior_parts(spine: Spine, hp: HeadParams, rng: np.random.Generator, rs: tuple[float, float]) -> list[Part]:
    p = spine.params
    r = rng.random(N_MOBILE)
    out: list[Part] = []
    chw = float(p.canal_hw.max())
    lam_s = spine.lamina_s
    lam_all = shapes.shrink_many(np.stack(spine.laminae), 1.1)
    sp_all = shapes.shrink_many(np.stack(spine.spinous), 1.1)
    # Thoracic processes point steeply down: a level's process reaches well below its body.
    reach = 45.0
    for i in range(N_MOBILE):
        if not overlaps(lam_s[i, 0] - 10.0, lam_s[i, 1] + reach, rs):
            continue
        shade = spine.bones[i].shade
        out.append(poly(spine.laminae[i], Tissue.CORTEX, xc=0.0, hw=chw + 2.0))
        out.append(poly(lam_all[i], Tissue.MARROW, 0.85 * shade, xc=0.0, hw=chw + 2.0))
        hw = 6.0 if i < 5 else (4.0 if i < 17 else 5.0)
        out.append(poly(spine.spinous[i], Tissue.CORTEX, xc=0.0, hw=hw, mode="round"))
        out.append(poly(sp_all[i], Tissue.MARROW, 0.8 * shade, xc=0.0, hw=hw - 0.8, mode="round"))
    # Interspinous ligaments between processes, supraspinous / nuchal ligament along the tips.
    tips = spine.spinous_tips
    ap = canal_ap_profile(spine)
    a0 = spine.at(lam_s[:, 1], np.interp(lam_s[:, 1], spine.s, ap))
    a1 = spine.at(lam_s[:, 0], np.interp(lam_s[:, 0], spine.s, ap))
    for i in range(N_MOBILE - 1):
        if not overlaps(lam_s[i, 1] - 10.0, lam_s[i + 1, 0] + reach, rs):
            continue
        quad = np.vstack([a0[i], tips[i], tips[i + 1], a1[i + 1]])
        out.append(poly(quad, Tissue.LIGAMENT, 1.0, alpha=0.2 + 0.3 * r[i], hw=4.0, mode="round"))
    H = head_frame(spine, hp)
    eop = H(np.array([92.0, 28.0]))
    chain = np.vstack([eop, tips[0] + (eop - tips[0]) * 0.5 + [0.0, -8.0], tips])
    s_c, line = shapes.resample_polyline(chain, 3.0)
    tang = np.gradient(line, axis=0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True) + 1e-9
    nrm = np.stack([-tang[:, 1], tang[:, 0]], axis=-1)
    c7 = int(np.argmin(np.linalg.norm(line - tips[5], axis=1)))
    thick = np.where(np.arange(len(line)) < c7, 2.0, 1.0)
    strip = np.vstack([line - nrm * (thick / 2)[:, None], (line + nrm * (thick / 2)[:, None])[::-1]])
    out.append(poly(strip, Tissue.LIGAMENT, 1.0, alpha=0.55, hw=3.0))
    # C1 posterior arch and the sacral crest.
    if overlaps(spine.s_canal[0] - 20.0, 20.0, rs):
        out.append(poly(spine.c1_post, Tissue.CORTEX, xc=0.0, hw=22.0))
        out.append(poly(shapes.shrink(spine.c1_post, 1.1), Tissue.MARROW, xc=0.0, hw=22.0))
    if spine.sacral_crest is not None and overlaps(spine.body_s[N_MOBILE, 0], spine.body_s[N_MOBILE + 4, 1], rs):
        out.append(poly(spine.sacral_crest, Tissue.CORTEX, xc=0.0, hw=18.0))
        out.append(poly(shapes.shrink(spine.sacral_crest, 1.0), Tissue.MARROW, 0.9, xc=0.0, hw=18.0))
    return out


def _atlas_axis_parts(spine: Spine, rng: np.random.Generator) -> list[Part]:
    p = spine.params
    shade = spine.bones[0].shade
    line = rng.random()  # how much of the old dens-body synchondrosis still shows
    out = [poly(spine.dens, Tissue.CORTEX, xc=0.0, hw=5.5, mode="round"),
           poly(shapes.shrink(spine.dens, p.cortex), Tissue.MARROW, shade, xc=0.0, hw=5.0, mode="round"),
           poly(spine.dens_bridge, Tissue.MARROW, shade, alpha=1.0 if line < 0.6 else 0.6, xc=0.0, hw=5.0,
                mode="round")]
    if line >= 1.0 - SYNCHONDROSIS_LINE:
        # A persistent subdental synchondrosis: a thin disc-like band across the dens base,
        # dark (sclerotic) or bright (cartilage rest). It is not a disc and carries no label.
        out.append(poly(synchondrosis_band(spine.dens_bridge, 0.4 + 0.8 * rng.random()),
                        Tissue.ANNULUS if rng.random() < 0.5 else Tissue.NUCLEUS, 0.4 + 0.6 * rng.random(),
                        alpha=0.5 + 0.5 * rng.random(), xc=0.0, hw=4.5, mode="round"))
    out += [poly(spine.transverse_lig, Tissue.LIGAMENT, xc=0.0, hw=12.0),
            poly(spine.c1_ant, Tissue.CORTEX, xc=0.0, hw=22.0),
            poly(shapes.shrink(spine.c1_ant, 1.1), Tissue.MARROW, xc=0.0, hw=22.0)]
    return out


def synchondrosis_band(bridge: np.ndarray, half_thickness: float) -> np.ndarray:
    """Thin quadrilateral along the middle of the dens-body bridge (``(4, 2)`` mm, u-v).

    Args:
        bridge: ``(4, 2)`` bridge polygon: posterior-top, anterior-top, anterior-bottom,
            posterior-bottom corners (as built by :func:`~.chain.build_spine`).
        half_thickness: half the band's height along the dens axis (mm).
    """
    top, bottom = bridge[:2], bridge[[3, 2]]
    mid = 0.5 * (top + bottom)
    up = top - bottom
    up = up / (np.linalg.norm(up, axis=1, keepdims=True) + 1e-12) * half_thickness
    return np.vstack([mid[0] + up[0], mid[1] + up[1], mid[1] - up[1], mid[0] - up[0]])


def subject_parts(spine: Spine, hp: HeadParams, bp: BodyParams, rng: np.random.Generator,
                  s_range: tuple[float, float] | None = None, lateral: bool = False,
                  persistent_s1s2: float = PERSISTENT_S1S2, curve: CoronalCurve | None = None) -> list[Part]:
    """Every part of a subject in paint order (back to front), limited to ``s_range``; the
    spine's parts follow ``curve`` laterally (the trunk, head and pelvis stay)."""
    rs = (-np.inf, np.inf) if s_range is None else s_range
    canal_before, canal_after, cord_front_top = canal_parts(spine, rng, rs)
    bones = _bone_parts(spine, rng, rs)
    discs = _disc_parts(spine, rng, rs, persistent_s1s2)
    posterior = _posterior_parts(spine, hp, rng, rs)
    atlas = _atlas_axis_parts(spine, rng)  # drawn from rng whether in view or not
    atlas = atlas if rs[0] < 30.0 else []
    side = _lateral_parts(spine, rs) if lateral else []
    if curve is not None:
        canal_before, canal_after, bones, discs, posterior, atlas, side = (
            bend(group, spine, curve) for group in (canal_before, canal_after, bones, discs, posterior, atlas, side))
    with_head = rs[0] < spine.body_s[2, 0]  # the head reaches down to about C3 (mandible, tongue)
    trunk = trunk_parts(spine, bp, rs, (*back_of_head(spine, hp), inion_u(spine, hp)))
    parts: list[Part] = []
    parts += trunk["outer"]
    if with_head:
        parts += head_outer_parts(spine, hp)
    parts += trunk["cavity"] + trunk["organs"] + trunk["posterior"]
    for part in parts:
        part.background = True
    if with_head:
        H = head_frame(spine, hp)
        top_pt = spine.at(spine.s_canal[0] + 0.5, cord_front_top)[0]
        cord_top_x = float((top_pt - H.origin) @ H.post) / H.scale
        parts += head_parts(spine, hp, cord_top_x)
    parts += canal_before
    parts += side
    pelvis_at = len(parts)
    parts += discs
    parts += bones
    parts += atlas
    parts += canal_after
    parts += posterior
    if lateral:
        # drawn last from rng, so every other detail is the same with or without lateral parts
        parts[pelvis_at:pelvis_at] = pelvis_parts(spine, rng, rs)
    return parts
