"""Mid-sagittal head and skull base: cranium, brain, brainstem, cerebellum, clivus, face.

Cervical and whole-spine scans show the skull base above C1; a disc labeler must learn where
the C1/C2 level sits relative to the dens, C1 arches, clivus, foramen magnum and cerebellum, so
those are modelled with care; the rest of the head is coarser.

Shapes are defined in a head frame in mm: ``x`` toward posterior, ``y`` toward superior, origin
at the basion (front rim of the foramen magnum), then scaled, tilted by a random head flexion
and placed on the spine: the basion sits a few mm above the dens tip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hca_disc_label.synth import shapes
from hca_disc_label.synth.anatomy import Spine
from hca_disc_label.synth.parts import Part, poly
from hca_disc_label.synth.tissues import Tissue

# Inner table of the cranium (x posterior, y up), from the opisthion around the vault to the
# anterior skull base, down the clivus to the basion.
_CAVITY = np.array([
    [34, 2], [44, 4], [56, 10], [67, 20], [75, 34], [79, 48], [80, 62], [77, 85], [68, 108],
    [50, 128], [25, 140], [-5, 145], [-38, 142], [-68, 128], [-90, 105], [-103, 75], [-105, 52],
    [-98, 40], [-75, 38], [-50, 36], [-32, 40], [-22, 36], [-17, 29], [-12, 36], [-9, 40],
    [-7, 30], [-4, 18], [-1.5, 8], [0, 0]], dtype=float)
_CLIVUS = np.array([
    [0.5, -1], [-1.5, 8], [-4, 18], [-7, 30], [-9, 40], [-11, 41], [-13, 36], [-17, 29],
    [-22, 35], [-25, 28], [-19, 14], [-13, 3], [-9, -4], [-3, -5]], dtype=float)
_POST_FOSSA = np.array([
    [34, 2], [44, 4], [56, 10], [67, 20], [75, 34], [79, 48], [55, 56], [30, 59], [12, 59],
    [9, 45], [10, 30], [14, 18], [17, 6], [17, -4]], dtype=float)
_BRAINSTEM = np.array([
    [5, -4], [4.5, 8], [1.5, 15], [-3, 22], [-6, 30], [-7, 38], [-5, 46], [-2, 50], [-3, 56],
    [-5, 64], [-6, 72], [12, 72], [11, 64], [12, 58], [10, 50], [8, 40], [9, 30], [13, 20],
    [17, 10], [17, -4]], dtype=float)
_FOURTH_V = np.array([[12.5, 20], [9, 30], [8.5, 40], [10, 47], [17, 36], [14, 27]], dtype=float)
_TENTORIUM = np.array([[79, 48], [55, 55], [30, 59], [14, 60]], dtype=float)
_CORPUS_CALLOSUM = np.array([[-40, 80], [-44, 88], [-34, 97], [-10, 101], [15, 99], [33, 93],
                             [42, 84], [34, 80], [28, 88], [10, 93], [-10, 94], [-30, 90], [-33, 83]], dtype=float)
_VENTRICLE = np.array([[-32, 80], [-26, 88], [-10, 91], [10, 90], [27, 85], [20, 79], [0, 80], [-20, 76]], dtype=float)
_THIRD_V = np.array([[-20, 66], [-8, 74], [4, 72], [2, 64], [-12, 60]], dtype=float)
_HEAD_OUTER = np.array([
    [94, 24], [98, 44], [97, 64], [92, 90], [81, 116], [60, 139], [30, 155],
    [-5, 161], [-42, 158], [-75, 143], [-100, 119], [-115, 88], [-119, 60], [-116, 44], [-120, 36],
    [-138, 12], [-122, 2], [-123, -12], [-118, -20], [-123, -30], [-116, -50], [-100, -64],
    [-72, -66], [-48, -48], [-28, -20], [-8, -9], [20, -7], [45, -2], [70, 4], [86, 10]], dtype=float)
_INION = np.array([88.0, 40.0])
_NASAL = np.array([[-28, 6], [-30, 30], [-50, 36], [-95, 38], [-112, 30], [-124, 10], [-112, 4], [-60, 3]], dtype=float)
_NASOPHARYNX = np.array([[-12, -2], [-16, 8], [-24, 14], [-30, 6], [-26, -6], [-22, -16], [-14, -16]], dtype=float)
_PALATE = np.array([[-26, 3], [-95, 3], [-96, -3], [-26, -3]], dtype=float)
_SOFT_PALATE = np.array([[-24, 3], [-16, -8], [-12, -26], [-16, -28], [-22, -12], [-28, -3]], dtype=float)
_TONGUE = np.array([[-22, -14], [-30, -6], [-70, -8], [-100, -18], [-102, -34], [-85, -52], [-50, -58],
                    [-30, -48], [-18, -32]], dtype=float)
_MAXILLA = np.array([[-92, 6], [-112, 4], [-115, -6], [-106, -12], [-95, -6]], dtype=float)


@dataclass
class HeadParams:
    """Random head choices: size, flexion, atrophy, sinus sizes, fat."""

    scale: float
    flexion: float
    csf_gap: float
    skull: float
    scalp: float
    sinus: float
    has_frontal_sinus: bool
    fold_period: float
    fold_phase: float


def sample_head(rng: np.random.Generator, spine: Spine) -> HeadParams:
    """Draw head parameters for a spine (head size follows the body scale)."""
    age = spine.params.age
    return HeadParams(
        scale=spine.params.scale * rng.uniform(0.93, 1.05),
        flexion=np.deg2rad(rng.normal(0.0, 9.0)),
        csf_gap=rng.uniform(1.0, 2.5) + 2.5 * max(0.0, (age - 50.0) / 35.0) * rng.random(),
        skull=rng.uniform(5.0, 8.5),
        scalp=rng.uniform(4.0, 8.0),
        sinus=rng.uniform(0.7, 1.25),
        has_frontal_sinus=bool(rng.random() < 0.8),
        fold_period=rng.uniform(2.6, 4.2),
        fold_phase=rng.uniform(0.0, 2 * np.pi),
    )


@dataclass
class HeadFrame:
    """Maps head-frame mm ``(x posterior, y up)`` to the (u, v) spine frame."""

    origin: np.ndarray
    post: np.ndarray
    up: np.ndarray
    scale: float

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=float) * self.scale
        return self.origin + xy[..., :1] * self.post + xy[..., 1:2] * self.up


def head_frame(spine: Spine, hp: HeadParams) -> HeadFrame:
    """Place the head frame: basion above the dens tip, tilted by the head flexion."""
    t = spine.tangent_at(spine.dens_s)
    up_c = -t
    ant_c = -spine.at_normal(spine.dens_s)
    basion = spine.dens_tip + 4.5 * hp.scale * up_c + 1.0 * hp.scale * ant_c
    up = shapes.rotate(up_c[None, :], hp.flexion, np.zeros(2))[0]
    post = np.array([-up[1], up[0]])
    if post @ spine.at_normal(spine.dens_s) < 0:
        post = -post
    return HeadFrame(basion, post, up, hp.scale)


def _foliation(centre: np.ndarray, period: float, phase: float):
    def pattern(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        du, dv = u - centre[0], v - centre[1]
        r = np.hypot(du, dv)
        theta = np.arctan2(dv, du)
        folia = np.sin(2 * np.pi * r / period + 2.5 * np.sin(5.0 * theta + phase) + 1.5 * np.sin(0.3 * r + 3 * theta))
        core = np.exp(-0.5 * (r / 9.0) ** 2)
        return 1.0 + 0.07 * folia * (1.0 - core) + 0.06 * core
    return pattern


def _gyri(phase: float):
    """Cortical folding: irregular, low-contrast (sulcal CSF partial volume)."""
    def pattern(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        g = np.sin(0.37 * u + 2.7 * np.sin(0.071 * v + phase) + 1.3 * np.sin(0.19 * v - 0.05 * u))
        g *= np.sin(0.33 * v + 2.3 * np.sin(0.083 * u - phase) + 1.1 * np.sin(0.17 * u + 0.07 * v))
        return 1.0 + 0.06 * g
    return pattern


def head_outer_parts(spine: Spine, hp: HeadParams) -> list[Part]:
    """Skin and subcutaneous fat of the head (painted before the neck muscles)."""
    H = head_frame(spine, hp)
    outer = shapes.chaikin(_HEAD_OUTER, 3)
    return [poly(H(outer), Tissue.SOFT, 1.0, hw=75.0), poly(H(shapes.shrink(outer, 2.0)), Tissue.FAT, 1.0, hw=72.0)]


def head_parts(spine: Spine, hp: HeadParams, cord_top_x: float) -> list[Part]:
    """Head parts inside the scalp (skull, brain, face...), in paint order.

    Args:
        spine: the built spine.
        hp: head parameters.
        cord_top_x: head-frame x (mm, before scaling) of the cord's anterior surface at the
            top of the canal, so the medulla continues the cord without a step.
    """
    H = head_frame(spine, hp)
    shift = np.array([cord_top_x - 5.0, 0.0])
    parts: list[Part] = []

    cavity = shapes.chaikin(_CAVITY, 1)
    skull_out = shapes.shrink(cavity, -hp.skull)
    parts.append(poly(H(skull_out), Tissue.CORTEX, hw=70.0))
    parts.append(poly(H(shapes.shrink(skull_out, 1.6)), Tissue.MARROW, 0.9, hw=70.0))
    parts.append(poly(H(shapes.shrink(cavity, -1.4)), Tissue.CORTEX, hw=70.0))
    parts.append(poly(H(cavity), Tissue.CSF, hw=68.0))
    brain = shapes.shrink(cavity, hp.csf_gap)
    parts.append(poly(H(brain), Tissue.BRAIN, 1.0, _gyri(hp.fold_phase), hw=66.0))
    parts.append(poly(H(shapes.chaikin(_CORPUS_CALLOSUM, 2)), Tissue.WHITE, hw=60.0))
    parts.append(poly(H(shapes.chaikin(_VENTRICLE, 2)), Tissue.CSF, alpha=0.8, xc=0.0, hw=14.0, mode="round"))
    parts.append(poly(H(shapes.chaikin(_THIRD_V, 2)), Tissue.CSF, hw=4.0))

    fossa = shapes.chaikin(_POST_FOSSA + 0.0, 1)
    parts.append(poly(H(fossa), Tissue.CSF, hw=60.0))
    cereb_c = np.array([46.0, 31.0])
    cereb = shapes.ellipse(cereb_c, 31.0 - hp.csf_gap, 24.5 - 0.5 * hp.csf_gap, 0.15, 36)
    tonsil = shapes.ellipse(np.array([27.0, 14.0]), 8.0, 8.5, 0.4, 16)
    fastigium = H(np.array([17.0, 35.0]) + shift)
    fol = _foliation(fastigium, hp.fold_period * hp.scale, hp.fold_phase)
    parts.append(poly(H(tonsil), Tissue.CEREBELLUM, 1.0, fol, hw=55.0))
    parts.append(poly(H(cereb), Tissue.CEREBELLUM, 1.0, fol, hw=55.0))
    arbor = shapes.ellipse(cereb_c + [-12.0, 3.0], 9.0, 6.0, 0.3, 14)
    parts.append(poly(H(arbor), Tissue.WHITE, 1.0, alpha=0.6, hw=55.0))
    parts.append(poly(H(_TENTORIUM_POLY()), Tissue.LIGAMENT, hw=60.0))

    parts.append(poly(H(shapes.chaikin(_BRAINSTEM + shift, 2)), Tissue.CORD, hw=16.0, mode="round"))
    parts.append(poly(H(shapes.chaikin(_FOURTH_V + shift, 1)), Tissue.CSF, hw=9.0, mode="round"))

    clivus = shapes.chaikin(_CLIVUS, 1)
    parts.append(poly(H(clivus), Tissue.CORTEX, hw=18.0))
    parts.append(poly(H(shapes.shrink(clivus, 1.3)), Tissue.MARROW, 1.05, hw=18.0))
    sinus_c = np.array([-40.0, 20.0])
    sinus = shapes.ellipse(sinus_c, 13.0 * hp.sinus, 11.0 * hp.sinus, 0.2, 20)
    parts.append(poly(H(shapes.shrink(sinus, -1.5)), Tissue.CORTEX, hw=15.0, mode="round"))
    parts.append(poly(H(sinus), Tissue.AIR, hw=14.0, mode="round"))
    base = np.array([[-22, 36], [-100, 42], [-100, 38], [-24, 32]], dtype=float)
    parts.append(poly(H(base), Tissue.CORTEX, hw=40.0))
    if hp.has_frontal_sinus:
        fs = shapes.ellipse(np.array([-108.0, 62.0]), 5.0 * hp.sinus, 10.0 * hp.sinus, 0.1, 14)
        parts.append(poly(H(fs), Tissue.AIR, hw=12.0, mode="round"))

    # Face: nasal cavity, palate, tongue, mandible, nasopharynx.
    parts.append(poly(H(shapes.chaikin(_TONGUE, 3)), Tissue.MUSCLE, hw=25.0))
    parts.append(poly(H(shapes.chaikin(_NASAL, 3)), Tissue.AIR, hw=14.0))
    for k in range(3):
        turb = shapes.ellipse(np.array([-60.0 - 12 * k, 12.0 + 8 * k]), 4.0, 14.0, 1.4, 12)
        parts.append(poly(H(turb), Tissue.SOFT, 1.0, hw=14.0))
    parts.append(poly(H(_PALATE), Tissue.CORTEX, hw=20.0))
    parts.append(poly(H(shapes.shrink(_PALATE, 1.0)), Tissue.MARROW, hw=20.0))
    parts.append(poly(H(shapes.chaikin(_SOFT_PALATE, 2)), Tissue.SOFT, hw=18.0))
    parts.append(poly(H(shapes.chaikin(_MAXILLA, 1)), Tissue.CORTEX, hw=20.0))
    mand = shapes.ellipse(np.array([-103.0, -44.0]), 7.0, 15.0, -0.35, 18)
    parts.append(poly(H(mand), Tissue.CORTEX, hw=20.0))
    parts.append(poly(H(shapes.shrink(mand, 2.0)), Tissue.MARROW, hw=20.0))
    parts.append(poly(H(shapes.chaikin(_NASOPHARYNX, 2)), Tissue.AIR, hw=14.0, mode="round"))
    return parts


def _TENTORIUM_POLY() -> np.ndarray:  # noqa: N802 - constant-like helper
    top = _TENTORIUM
    return np.vstack([top + [0.0, 0.8], (top - [0.0, 0.8])[::-1]])


def back_of_head(spine: Spine, hp: HeadParams) -> tuple[np.ndarray, np.ndarray, float]:
    """The head's posterior outline as a function of u, for trimming the neck layers.

    Returns:
        ``(u, v, u_nape)``: the outline's posterior-most v at increasing u (vertex to nape),
        and the u below which the neck is no longer trimmed (the nape, under the occiput).
    """
    H = head_frame(spine, hp)
    outer = shapes.chaikin(_HEAD_OUTER, 3)
    back = outer[outer[:, 0] > 20.0]
    pts = H(back)
    order = np.argsort(pts[:, 0])
    u, v = pts[order, 0], pts[order, 1]
    u_nape = float(H(np.array([86.0, 10.0]))[0])
    return u, v, u_nape


def inion_u(spine: Spine, hp: HeadParams) -> float:
    """u (mm) of the external occipital protuberance: the neck muscles insert below it."""
    return float(head_frame(spine, hp)(_INION)[0])


def foramen_magnum(spine: Spine, hp: HeadParams) -> tuple[np.ndarray, np.ndarray]:
    """(basion, opisthion) positions (u, v) mm."""
    H = head_frame(spine, hp)
    return H(np.array([0.0, 0.0])), H(np.array([34.0, 2.0]))
