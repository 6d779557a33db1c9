"""Geometry of the synthetic spine: sizes, order, and labels exactly on the disc / canal border."""

from __future__ import annotations

import numpy as np
import pytest

from hca_disc_label.synth import shapes
from hca_disc_label.synth.chain import build_spine, chain_chord_angle
from hca_disc_label.synth.spine_params import N_MOBILE, sample_params


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
def test_tips_sit_midway_between_the_bodies_posterior_corners(seed):
    """SCT's manual convention: the posterior edge of the disc between the two bodies'
    posterior corners (PAM50 label_discPosterior), not the outer bulge."""
    spine = _spine(seed)
    assert sorted(spine.tips) == list(range(2, 26))
    for i, disc in enumerate(spine.discs[:N_MOBILE]):
        tip = spine.tips[disc.value]
        upper, lower = spine.bones[i], spine.bones[i + 1]
        # Measured against the corners of the rendered bodies' outlines, not the chain's numbers.
        corner_up = upper.outline[np.argmax(upper.outline @ disc.normal + upper.outline @ spine.tangent_at(
            spine.tip_s[disc.value]))]
        corner_lo = lower.outline[np.argmax(lower.outline @ disc.normal - lower.outline @ spine.tangent_at(
            spine.tip_s[disc.value]))]
        assert np.linalg.norm(tip - 0.5 * (upper.pb + lower.pt)) < 1e-9
        assert np.linalg.norm(tip - 0.5 * (corner_up + corner_lo)) < 1.5
        # The disc's own posterior border is at the tip or behind it (a bulge), never in front.
        behind = np.max((disc.outline - tip) @ disc.normal)
        assert -0.05 < behind < 6.0
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
    angle = chain_chord_angle(p, "L1", "S1")
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
