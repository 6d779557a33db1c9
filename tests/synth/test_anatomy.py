"""Geometry of the synthetic spine: sizes, order, and labels exactly on the disc / canal border."""

from __future__ import annotations

import numpy as np
import pytest

from hca_disc_label.synth import anatomy, shapes
from hca_disc_label.synth.anatomy import N_MOBILE, build_spine, sample_params


def _spine(seed: int, phi0: float = 0.0):
    rng = np.random.default_rng(seed)
    return build_spine(sample_params(rng), phi0, np.random.default_rng(seed + 1000))


def _dist_to_polyline(point: np.ndarray, poly: np.ndarray, closed: bool) -> float:
    a = poly
    b = np.roll(poly, -1, axis=0) if closed else poly[1:]
    a = a if closed else poly[:-1]
    ab = b - a
    t = np.clip(np.sum((point - a) * ab, axis=1) / np.maximum(np.sum(ab * ab, axis=1), 1e-12), 0.0, 1.0)
    return float(np.min(np.linalg.norm(a + t[:, None] * ab - point, axis=1)))


@pytest.mark.parametrize("seed", range(6))
def test_tips_lie_on_disc_posterior_border_and_canal_front(seed):
    spine = _spine(seed)
    assert sorted(spine.tips) == list(range(2, 26))
    for disc in spine.discs[:N_MOBILE]:
        tip = spine.tips[disc.value]
        # On the disc outline (the posterior border), and on the anterior canal wall.
        assert _dist_to_polyline(tip, disc.outline, closed=True) < 0.05
        # The canal wall is resampled every 1 mm: within half a sample of the exact tip.
        assert _dist_to_polyline(tip, spine.wall_a, closed=False) < 0.5
        # Posterior of the disc's centre along the disc's own posterior normal.
        centre = disc.outline.mean(axis=0)
        assert np.dot(tip - centre, disc.normal) > 0.3 * disc.depth
    # C1/C2 sits at the posterior-superior corner of the C2 body, under the dens.
    assert np.allclose(spine.tips[2], spine.bones[0].pt)


@pytest.mark.parametrize("seed", range(6))
def test_values_increase_head_to_feet_along_the_canal(seed):
    spine = _spine(seed, phi0=np.deg2rad(5.0))
    s = [spine.tip_s[v] for v in range(2, 26)]
    assert np.all(np.diff(s) > 5.0)
    rows = [spine.tips[v][0] for v in range(2, 26)]
    assert np.all(np.diff(rows) > 0)


def test_sizes_are_adult_and_level_dependent():
    lengths, c3, t6, l3, c_disc, l_disc = [], [], [], [], [], []
    for seed in range(25):
        sp = _spine(seed)
        lengths.append(sp.tip_s[25] - sp.tip_s[2])
        p = sp.params
        c3.append(p.body_h[1]); t6.append(p.body_h[11]); l3.append(p.body_h[20])
        c_disc.append(p.disc_h[2]); l_disc.append(p.disc_h[20])
    lengths = np.array(lengths)
    assert 470 < lengths.min() and lengths.max() < 720, lengths
    assert 500 < np.median(lengths) < 650
    assert 11 < np.median(c3) < 17 and 17 < np.median(t6) < 23 and 24 < np.median(l3) < 30
    assert 4 < np.median(c_disc) < 7 and 8.5 < np.median(l_disc) < 13


def test_chain_chord_matches_built_spine():
    p = sample_params(np.random.default_rng(3))
    angle = anatomy.chain_chord_angle(p, "L1", "S1")
    sp = build_spine(p, -angle, np.random.default_rng(0))
    names = [b.name for b in sp.bones]
    d = sp.bones[names.index("S1")].pt - sp.bones[names.index("L1")].pt
    assert abs(np.arctan2(d[1], d[0])) < 1e-9  # the L1 -> S1 chord is vertical


def test_lordosis_makes_lumbar_discs_taller_in_front():
    taller = 0
    for seed in range(10):
        sp = _spine(seed)
        d = sp.discs[22]  # L5/S1
        pts = d.outline
        normal = d.normal
        front = pts[np.argmin(pts @ normal)]
        del front
        # Anterior height = distance between the anterior corners of L5 bottom and S1 top.
        ant_h = np.linalg.norm(sp.bones[23].at - sp.bones[22].ab)
        post_h = np.linalg.norm(sp.bones[23].pt - sp.bones[22].pb)
        taller += ant_h > post_h
    assert taller >= 8


def test_shrink_and_chaikin_helpers():
    sq = np.array([[0.0, 0.0], [0.0, 10.0], [10.0, 10.0], [10.0, 0.0]])
    assert np.allclose(shapes.shrink(sq, 1.0), [[1, 1], [1, 9], [9, 9], [9, 1]])
    assert np.allclose(shapes.shrink_many(sq[None], 1.0)[0], shapes.shrink(sq, 1.0))
    r = shapes.chaikin(sq, 2)
    assert len(r) == 16 and abs(shapes.signed_area(r)) < 100.0
