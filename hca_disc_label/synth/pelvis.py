"""Sacral ala and posterior ilium: the bones beside the sacrum, seen only off the midline.

On real lumbar scans the slices 20-30 mm from the midline show the sacral ala as a large
marrow-filled mass whose upper surface lies at the level of the L5/S1 disc, with the posterior
ilium behind and lateral to it (sacroiliac joint) rising to about the L4/L5 level, its medial
edge often within 25 mm of the midline. Above the ala lie only the L5 pedicle, transverse
process and nerve root. That is what tells S1 from L5 off the midline: the S1/S2 remnant lies
inside the ala's height, L5/S1 at its top edge.

A share of people have a transitional L5 (Castellvi II-III): an enlarged L5 transverse process
that reaches down to the ala, meeting it in a joint line or fused with it, on one side or
both. Off the midline, L5 then sits on a bony mass like S1 does; it is still L5 (labels do not
change), so a model must not count from the lateral bone alone.

Parts are built in the spine's ``(u, v)`` mm frame through ``spine.at(s, d)`` (arc length
``s`` along the canal-front curve, ``d`` mm posterior of it; bodies have ``d < 0``) and carry
their lateral centre ``xc`` / half width ``hw`` (mm, + = the subject's left) like every other
:class:`~.parts.Part`. They belong to the off-midline structures
(``scene.build_parts(lateral=True)``), so one-channel mid-sagittal slabs do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hca_disc_label.synth import shapes
from hca_disc_label.synth.anatomy import Spine
from hca_disc_label.synth.curve import overlaps
from hca_disc_label.synth.parts import Part, poly
from hca_disc_label.synth.spine_params import N_MOBILE
from hca_disc_label.synth.tissues import Tissue

_S1 = N_MOBILE
"""Index of S1 in ``spine.bones`` / ``spine.body_s`` (the mobile bodies C2..L5 come first)."""
_L4 = N_MOBILE - 2
_L5 = N_MOBILE - 1

SACRALISED_L5 = 0.12
"""Fraction of subjects (with a normal S1) whose L5 transverse process meets the ala."""


def _outline(spine: Spine, s: np.ndarray, front: np.ndarray, back: np.ndarray) -> np.ndarray:
    """Closed, rounded polygon ``(M, 2)`` (u, v) mm between two offset curves sampled at ``s``."""
    pts = np.vstack([spine.at(s, front), spine.at(s[::-1], back[::-1])])
    return shapes.chaikin(pts, 2)


def ala_outline(spine: Spine, top_drop: float, back_room: float) -> np.ndarray:
    """Mid-section of one sacral ala, ``(M, 2)`` (u, v) mm.

    Args:
        spine: the built spine.
        top_drop: how far (mm of arc length) the ala's upper surface lies below S1's
            posterior-superior corner.
        back_room: thickness (mm) of the lateral mass behind the sacral canal.
    """
    s_top = spine.body_s[_S1, 0] + top_drop
    s_bot = spine.body_s[_S1 + 2, 1]
    s = np.linspace(s_top, s_bot, 12)
    depth = np.interp(s, [s_top, s_bot], [0.95 * spine.bones[_S1].depth, 0.8 * spine.bones[_S1 + 2].depth])
    ap = np.interp(s, spine.s, spine.canal_ap)
    back = ap + np.interp(s, [s_top, s_bot], [back_room, 0.5 * back_room])
    return _outline(spine, s, -depth, back)


def ilium_outline(spine: Spine, crest_s: float, spine_room: float) -> np.ndarray:
    """Mid-section of the posterior ilium beside the sacrum, ``(M, 2)`` (u, v) mm.

    Args:
        spine: the built spine.
        crest_s: arc length (mm) of the iliac crest's top.
        spine_room: how far (mm) the posterior superior iliac spine reaches behind the canal.
    """
    s_bot = spine.body_s[_S1 + 3, 1]
    s = np.linspace(crest_s, s_bot, 12)
    t = (s - crest_s) / max(s_bot - crest_s, 1.0)
    ap = np.interp(s, spine.s, spine.canal_ap)
    # thin at the crest, thick along the sacroiliac joint, tapering toward the sciatic notch
    front = -0.6 * spine.bones[_S1].depth * np.sin(np.pi * np.clip(0.15 + 0.85 * t, 0.0, 1.0)) ** 0.5
    back = ap + spine_room * (1.0 - 0.5 * t)
    return _outline(spine, s, front, back)


def pelvis_parts(spine: Spine, rng: np.random.Generator, rs: tuple[float, float]) -> list[Part]:
    """Sacral alae and posterior ilia (both sides), in paint order; empty when ``rs`` (arc-length
    range of the field of view) does not reach the lumbosacral region."""
    if not overlaps(spine.body_s[_L4, 0], spine.body_s[_S1 + 3, 1], rs):
        return []
    p = spine.params
    r = rng.random(8)
    shade = spine.bones[_S1].shade * (0.9 + 0.25 * r[0])
    top_drop = 1.0 + 4.0 * r[1]
    ala = ala_outline(spine, top_drop=top_drop, back_room=(6.0 + 6.0 * r[2]) * p.scale)
    ala_xc = (spine.bones[_S1].half_width + 6.0 + 6.0 * r[3]) * p.scale
    ala_hw = (18.0 + 6.0 * r[4]) * p.scale
    # The posterior ilium's top lies from mid-L4 to the bottom of L5, and its medial edge 15-35 mm
    # from the midline: real lumbar scans show it 25 mm out, beside and above L5/S1.
    crest_s = float(np.interp(r[5], [0.0, 1.0], [spine.body_s[_L4].mean(), spine.body_s[_L4 + 1, 1]]))
    ilium = ilium_outline(spine, crest_s, spine_room=(20.0 + 14.0 * r[6]) * p.scale)
    ilium_xc = ala_xc + (2.0 + 12.0 * r[7]) * p.scale
    wing = _l5_wing(spine, rng, spine.body_s[_S1, 0] + top_drop, ala_xc)
    out: list[Part] = []
    for side in (-1.0, 1.0):
        fused = wing is not None and side in wing.sides and wing.fused
        if fused:  # painted under the ala's cortex, its marrow over it: no line between them
            out.append(poly(wing.outline, Tissue.CORTEX, xc=side * wing.xc, hw=wing.hw, mode="round"))
        out.append(poly(ala, Tissue.CORTEX, xc=side * ala_xc, hw=ala_hw, mode="round"))
        out.append(poly(shapes.shrink(ala, p.cortex), Tissue.MARROW, shade, xc=side * ala_xc,
                        hw=ala_hw - p.cortex, mode="round"))
        if wing is not None and side in wing.sides:
            if not fused:  # a pseudo-joint: the wing's own cortex ends just above the ala
                out.append(poly(wing.outline, Tissue.CORTEX, xc=side * wing.xc, hw=wing.hw, mode="round"))
            out.append(poly(shapes.shrink(wing.outline, p.cortex), Tissue.MARROW, wing.shade * shade,
                            xc=side * wing.xc, hw=wing.hw - p.cortex, mode="round"))
        # The ilium lies on the ala's back (sacroiliac joint): painted after it, its cortex
        # draws the joint line where the two meet.
        out.append(poly(ilium, Tissue.CORTEX, xc=side * ilium_xc, hw=16.0 * p.scale, mode="round"))
        out.append(poly(shapes.shrink(ilium, 1.5), Tissue.MARROW, shade * 1.05, xc=side * ilium_xc,
                        hw=16.0 * p.scale - 1.5, mode="round"))
    return out


@dataclass(frozen=True)
class _Wing:
    """An enlarged L5 transverse process: outline ``(M, 2)`` (u, v) mm, lateral centre and half
    width (mm), the sides (-1, +1) that have one, fused with the ala or in a joint, marrow shade
    relative to the ala's."""

    outline: np.ndarray
    xc: float
    hw: float
    sides: tuple[float, ...]
    fused: bool
    shade: float


def _l5_wing(spine: Spine, rng: np.random.Generator, ala_top_s: float, ala_xc: float) -> _Wing | None:
    """Draw a transitional L5 (:data:`SACRALISED_L5`; never with a lumbarised S1). Its random
    numbers come after the ala's, so every other pelvic detail is the same without it."""
    r = rng.random(7)
    if spine.params.lumbarised_s1 or r[0] >= SACRALISED_L5:
        return None
    p = spine.params
    b = spine.bones[_L5]
    fused = r[1] < 0.4
    s_top = spine.body_s[_L5, 0] + (0.15 + 0.25 * r[2]) * (spine.body_s[_L5, 1] - spine.body_s[_L5, 0])
    s_bot = ala_top_s + (3.0 if fused else -1.2)
    s = np.linspace(s_top, s_bot, 10)
    ap = np.interp(s, spine.s, spine.canal_ap)
    bulge = np.sin(np.pi * np.linspace(0.0, 1.0, len(s))) ** 0.5
    front = -(0.25 + 0.3 * r[3]) * b.depth * (0.6 + 0.4 * bulge)
    back = ap + (3.0 + 5.0 * r[4]) * p.scale * (0.6 + 0.4 * bulge)
    sides = (-1.0, 1.0) if r[5] < 0.5 else ((-1.0,) if r[5] < 0.75 else (1.0,))
    return _Wing(_outline(spine, s, front, back), ala_xc - 4.0 * r[6] * p.scale, (12.0 + 6.0 * r[6]) * p.scale,
                 sides, fused, 0.95 + 0.1 * r[3])
