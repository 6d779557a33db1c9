"""The dens of C2, the transverse ligament behind it and the C1 arches (mm, (u, v) frame).

The top of the chain (:mod:`.chain`) that is not a link: the dens rises from the C2 body's
top endplate, tilted back by ``dens_tilt``; the canal front above C2 runs along the
transverse ligament behind it; C1's arches sit in front of the dens and behind the canal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hca_disc_label.synth import shapes
from hca_disc_label.synth.anatomy import Bone, Spine
from hca_disc_label.synth.spine_params import SpineParams, c1_canal_ap

_T4 = np.linspace(0.0, 1.0, 5)[:-1]


@dataclass
class Dens:
    """The dens of C2 and what hangs on it (mm, (u, v) frame).

    ``phi``: its orientation; ``up`` / ``ant``: unit directions toward the head / anterior;
    ``base_a``: anterior corner of its base; ``shaft``, ``top_w``: shaft length and apex width;
    ``top_pt``: where the canal front starts above it, ``s_top`` mm above the C2 corner.
    """

    polygon: np.ndarray
    tip: np.ndarray
    bridge: np.ndarray
    transverse_lig: np.ndarray
    phi: float
    up: np.ndarray
    ant: np.ndarray
    base_a: np.ndarray
    shaft: float
    top_w: float
    top_pt: np.ndarray
    s_top: float


def build_dens(p: SpineParams, c2: Bone) -> Dens:
    """Dens and the canal front above C2 (along the transverse ligament behind the dens)."""
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
    # Marrow continuous from the body into the dens (no disc, at most a faint sclerotic line).
    inset = p.cortex + 0.6
    bridge = np.vstack([b_p + inset * ant_d + 3.0 * up, b_a - inset * ant_d + 3.0 * up,
                        b_a - inset * ant_d - 3.0 * up, b_p + inset * ant_d - 3.0 * up])
    lig_t = 2.0 * p.scale
    lig_lo = b_p + 0.35 * shaft * up
    lig_hi = t_p - 0.15 * shaft * up
    transverse_lig = np.vstack([lig_hi, lig_hi - lig_t * ant_d, lig_lo - lig_t * ant_d, lig_lo])
    above = 14.0 * p.scale
    top_pt = c2.pt + (shaft + 0.55 * top_w + above) * up - lig_t * ant_d
    return Dens(dens, apex_c + 0.55 * top_w * up, bridge, transverse_lig, phi_d, up, ant_d, b_a, shaft, top_w,
                 top_pt, float(np.linalg.norm(c2.pt - top_pt)))


def add_c1_arches(spine: Spine, dens: Dens, c2: Bone) -> None:
    """C1 arches: anterior in front of the dens, posterior behind the canal."""
    p = spine.params
    k = p.scale
    c1_level = 0.62 * dens.shaft
    front_of_dens = dens.base_a + c1_level * dens.up + (0.04 * c2.depth) * dens.ant
    spine.c1_ant = shapes.chaikin(shapes.ellipse(front_of_dens + 6.0 * k * dens.ant, 5.5 * k, 4.0 * k, dens.phi, 16), 1)
    post_c = spine.at(-c1_level - 2.0, c1_canal_ap(p) + 4.5 * k)[0]
    spine.c1_post = shapes.chaikin(shapes.ellipse(post_c, 5.0 * k, 4.5 * k, dens.phi + 0.25, 16), 1)
