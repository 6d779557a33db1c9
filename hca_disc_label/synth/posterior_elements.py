"""Posterior elements of a built spine: laminae, spinous processes and the sacral crest (mm).

Drawn from the canal curve of a :class:`~.anatomy.Spine` (its arc length ``s`` and canal AP
profile), after the chain (:mod:`.chain`) has placed the bodies and discs.
"""

from __future__ import annotations

import numpy as np

from hca_disc_label.synth import shapes
from hca_disc_label.synth.anatomy import Spine, canal_ap_profile
from hca_disc_label.synth.spine_params import N_MOBILE


def add_posterior_elements(spine: Spine) -> None:
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
