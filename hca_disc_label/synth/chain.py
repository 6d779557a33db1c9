"""Building a spine from its parameters: a chain of rigid links, head to feet (mm).

The chain goes vertebral body, disc, body, ... Each link has a posterior height and a wedge
angle (how much the next endplate turns), so the curvature lives where it lives in people:
lordosis mostly in wedge-shaped discs (taller in front), thoracic kyphosis partly in
wedge-shaped bodies, the sacrum and coccyx curling forward. The chain starts at the
posterior-superior corner of the C2 body, which is where SCT puts the C1/C2 label (value 2),
and every later posterior disc tip follows from the chain, so labels are exact by construction.

Frame and orientation as in :mod:`.anatomy`. :func:`build_spine` is deterministic given its
parameters (:func:`.spine_params.sample_params`) and its shape generator; the shape generator
is drawn in a fixed order (shape values, body wobble, disc wobble).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hca_disc_label.synth import shapes
from hca_disc_label.synth.anatomy import Bone, Disc, Spine
from hca_disc_label.synth.dens import Dens, add_c1_arches, build_dens
from hca_disc_label.synth.posterior_elements import add_posterior_elements
from hca_disc_label.synth.spine_params import N_MOBILE, VERTEBRAE, SpineParams, disc_value_below

_EXTEND_TOP = 160.0
_EXTEND_BOTTOM = 260.0

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
        # S1's posterior wall may lean back past square (a parallelogram body): the sacrum
        # leaves the lumbar line at the sharp real lumbosacral angle.
        a = phi_t + 0.5 * w + (p.s1_wall_tilt if i == N_MOBILE else 0.0)
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


@dataclass
class _Sag:
    """Per-bone outline bends (mm): top / bottom endplate concavity, posterior wall concavity,
    and the mid orientation ``phi_m`` (radians) the walls bow along."""

    top: np.ndarray
    bottom: np.ndarray
    wall_p: np.ndarray
    phi_m: np.ndarray


def _sag(p: SpineParams, ch: _Chain, shape_vals: np.ndarray) -> _Sag:
    n_bones = len(ch.pt)
    lumbar = np.zeros(n_bones, dtype=bool)
    lumbar[18:N_MOBILE] = True
    return _Sag(p.endplate_sag, p.endplate_sag * (0.8 + 0.4 * shape_vals[:, 3]),
                p.wall_sag * np.where(lumbar, 1.3, 0.7), 0.5 * (ch.phi_t + ch.phi_b))


def _body_outlines(p: SpineParams, ch: _Chain, depths: np.ndarray, sag: _Sag,
                   rng_shape: np.random.Generator) -> np.ndarray:
    """``(B, M, 2)`` rounded body outlines; only the front of each body wobbles."""
    lip = np.zeros(len(depths))
    lip[0] = p.c2_lip
    ab_lip = ch.ab + lip[:, None] * shapes.tangent(ch.phi_b)
    raw = np.concatenate([
        shapes.bow_many(ch.pt, ch.at, shapes.tangent(ch.phi_t), sag.top, _T6),
        shapes.bow_many(ch.at, ab_lip, shapes.posterior(sag.phi_m), 0.6 * p.wall_sag, _T4),
        shapes.bow_many(ab_lip, ch.pb, -shapes.tangent(ch.phi_b), sag.bottom, _T6),
        shapes.bow_many(ch.pb, ch.pt, -shapes.posterior(sag.phi_m), sag.wall_p, _T4),
    ], axis=1)
    smooth = shapes.chaikin_many(raw, 2)
    # Wobble the front of each body only: the posterior wall and corners carry the labels.
    ant = -shapes.posterior(sag.phi_m)
    depth_from_back = np.einsum("bmk,bk->bm", smooth - ch.pt[:, None, :], ant)
    weight = np.clip((depth_from_back - 0.4 * depths[:, None]) / (0.25 * depths[:, None]), 0.0, 1.0)
    wobbled = _wobble(smooth, rng_shape, 0.35 * p.scale)
    return smooth + weight[..., None] * (wobbled - smooth)


def _disc_outlines(p: SpineParams, ch: _Chain, sag: _Sag,
                   rng_shape: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Disc outlines between consecutive bones ``(B-1, M, 2)``, their posterior directions
    ``(B-1, 2)`` and posterior bulges ``(B-1,)`` (mm)."""
    nd = len(ch.pt) - 1
    post_dir = shapes.posterior(ch.disc_phi)
    mobile_d = np.arange(nd) < N_MOBILE
    bulge_p = np.where(mobile_d, np.concatenate([p.disc_bulge_p, np.zeros(nd - N_MOBILE)]), 0.0)
    # A bulge cannot reach much further back than the disc is tall (collapsed discs bulge little).
    bulge_p = np.minimum(bulge_p, 0.7 * ch.disc_h_post + 0.5)
    bulge_a = np.where(mobile_d, np.concatenate([p.disc_bulge_a, np.zeros(nd - N_MOBILE)]), 0.3)
    e_up = shapes.bow_many(ch.pb[:-1], ch.ab[:-1], -shapes.tangent(ch.phi_b[:-1]), sag.bottom[:-1], _T8)
    e_lo = shapes.bow_many(ch.pt[1:], ch.at[1:], shapes.tangent(ch.phi_t[1:]), sag.top[1:], _T8)
    d_front = shapes.bow_many(ch.ab[:-1], ch.at[1:], -post_dir, bulge_a, _T8[1:-1])
    d_back = shapes.bow_many(ch.pt[1:], ch.pb[:-1], post_dir, bulge_p, _T8[1:-1])
    outlines = np.concatenate([e_up, d_front, e_lo[:, ::-1], d_back], axis=1)
    # The anterior half of the outline may wobble; the posterior border (label) stays exact.
    wob = _wobble(outlines, rng_shape, 0.3 * p.scale)
    keep = np.zeros(outlines.shape[1], dtype=bool)
    keep[9:16] = True  # anterior bulge samples only
    return np.where(keep[None, :, None], wob, outlines), post_dir, bulge_p


def _bones(p: SpineParams, ch: _Chain, depths: np.ndarray, half_ws: np.ndarray,
           outlines: np.ndarray) -> list[Bone]:
    bones = []
    for i in range(len(depths)):
        modic_top = int(p.modic[i - 1]) if 0 < i <= N_MOBILE else 0
        modic_bot = int(p.modic[i]) if i < N_MOBILE else 0
        bones.append(Bone(_BONE_NAMES[i], ch.pt[i], ch.pb[i], ch.at[i], ch.ab[i], float(ch.phi_t[i]),
                          float(ch.phi_b[i]), float(depths[i]), float(half_ws[i]), outlines[i],
                          float(p.shades[i]), modic_top, modic_bot))
    return bones


def _discs(ch: _Chain, half_ws: np.ndarray, degen: np.ndarray, outlines: np.ndarray, post_dir: np.ndarray,
           nuclei: np.ndarray, clefts: list[np.ndarray | None]) -> tuple[list[Disc], dict[int, np.ndarray]]:
    """The discs and the label tips (SCT value -> (u, v) mm, 2 = C1/C2 at the origin)."""
    # SCT's manual convention (PAM50 label_discPosterior, SPEC 2/8): the label is the posterior
    # edge of the disc midway between the two bodies' posterior corners, not the outer bulge.
    tips_all = 0.5 * (ch.pb[:-1] + ch.pt[1:])
    discs = []
    tips: dict[int, np.ndarray] = {2: np.zeros(2)}
    for i in range(len(outlines)):
        mobile = i < N_MOBILE
        value = disc_value_below(i) if mobile else 0
        discs.append(Disc(value, outlines[i], nuclei[i] if mobile else np.zeros((0, 2)),
                          clefts[i] if mobile else None, tips_all[i], post_dir[i], float(ch.disc_h[i]),
                          float(ch.disc_depth[i]), 0.5 * float(half_ws[i] + half_ws[i + 1]) + 1.0,
                          float(degen[i])))
        if mobile:
            tips[value] = tips_all[i]
    return discs, tips


def _front_wall(ch: _Chain, sag: _Sag, post_dir: np.ndarray,
                bulge_p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, float]]:
    """Anterior canal wall: body backs and disc backs interleaved, head to feet.

    Returns the wall polyline ``(K, 2)``, its arc length ``(K,)``, each bone's top and bottom
    posterior corner arc lengths ``(B, 2)``, and SCT value -> arc length of the tip.
    """
    n_bones = len(ch.pt)
    backs = shapes.bow_many(ch.pt, ch.pb, -shapes.posterior(sag.phi_m), sag.wall_p, _T8[:-1])
    dbacks = shapes.bow_many(ch.pb[:-1], ch.pt[1:], post_dir, bulge_p, _T8[:-1])
    pieces = np.concatenate([backs[:-1], dbacks], axis=1).reshape(-1, 2)
    wall = np.vstack([pieces, backs[-1], ch.pb[-1:]])
    seg = np.linalg.norm(np.diff(wall, axis=0), axis=1)
    s_wall = np.concatenate([[0.0], np.cumsum(seg)])
    body_s = np.stack([s_wall[np.arange(n_bones) * 16], s_wall[np.arange(n_bones) * 16 + 8]], axis=1)
    tip_s = {2: 0.0}
    for i in range(N_MOBILE):
        tip_s[disc_value_below(i)] = float(s_wall[i * 16 + 12])
    return wall, s_wall, body_s, tip_s


def _canal_curve(ch: _Chain, wall: np.ndarray, s_wall: np.ndarray, dens: Dens) -> dict:
    """The canal front resampled at 1 mm steps of arc length, with its smoothed curve.

    Straight extensions beyond the dens (into the head) and below the coccyx (pelvis, thighs)
    let soft tissue be laid out along the same curve past the bony spine. Returns the
    :class:`Spine` fields ``s``, ``wall_a``, ``centre``, ``normal``, ``d_wall_a``, ``s_canal``.
    """
    front_up = dens.top_pt + np.linspace(0.0, 1.0, 12)[:-1, None] * (ch.pt[0] - dens.top_pt)
    pts_wall = np.vstack([front_up, wall])
    s_raw = np.concatenate([np.linspace(-dens.s_top, 0.0, 12)[:-1], s_wall])
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
    return {"s": s, "wall_a": wall_a, "centre": centre, "normal": normal,
            "d_wall_a": np.sum((wall_a - centre) * normal, axis=1), "s_canal": (s_first, s_last)}


def build_spine(p: SpineParams, phi0: float, rng_shape: np.random.Generator) -> Spine:
    """Build the spine geometry from parameters, C2 oriented at ``phi0``.

    Args:
        p: parameters from :func:`~.spine_params.sample_params`.
        phi0: orientation of the C2 body (radians); sets the global tilt of the spine.
        rng_shape: generator for small shape details (nucleus shapes); pass a generator
            seeded identically to rebuild the same spine.

    Returns:
        The spine, with the posterior-superior corner of the C2 body at (0, 0).
    """
    ch = _chain(p, phi0)
    heights, depths, _, _, _, degen = _link_arrays(p)
    half_ws = np.concatenate([p.body_hw, p.sacral_hw])
    shape_vals = rng_shape.random((len(heights), 4))
    sag = _sag(p, ch, shape_vals)
    outlines = _body_outlines(p, ch, depths, sag, rng_shape)
    disc_outlines, post_dir, bulge_p = _disc_outlines(p, ch, sag, rng_shape)
    nuclei, clefts = _nuclei(ch, sag.bottom, sag.top, p.degeneration, shape_vals[:N_MOBILE, :3], p.cleft)
    bones = _bones(p, ch, depths, half_ws, outlines)
    discs, tips = _discs(ch, half_ws, degen, disc_outlines, post_dir, nuclei, clefts)
    wall, s_wall, body_s, tip_s = _front_wall(ch, sag, post_dir, bulge_p)
    dens = build_dens(p, bones[0])
    curve = _canal_curve(ch, wall, s_wall, dens)
    spine = Spine(p, bones, discs, tips, dens.polygon, np.zeros((0, 2)), np.zeros((0, 2)), dens.transverse_lig,
                  curve["s"], curve["wall_a"], curve["centre"], curve["normal"], curve["d_wall_a"],
                  body_s[:N_MOBILE].mean(axis=1), body_s, tip_s, dens.tip, -(dens.shaft + 0.55 * dens.top_w))
    add_c1_arches(spine, dens, bones[0])
    spine.s_canal = curve["s_canal"]
    spine.dens_bridge = dens.bridge
    add_posterior_elements(spine)
    return spine
