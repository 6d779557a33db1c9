"""Landmarks that fix the count (C2 body, S1 body, S1/S2) and the posterior longitudinal
ligament: where the anatomy puts them, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from hca_disc_label.conventions import LANDMARKS
from hca_disc_label.synth.slab import generate_slab
from hca_disc_label.synth.tissues import Tissue
from hca_disc_label.synth.anatomy import landmark_points
from hca_disc_label.synth.chain import build_spine
from hca_disc_label.synth.spine_params import N_MOBILE, sample_params
from hca_disc_label.synth.canal import PLL_BODY_MM, PLL_DISC_MM, pll_profile


def _inside(point: np.ndarray, poly: np.ndarray) -> bool:
    """Even-odd rule point-in-polygon."""
    x, y = point
    inside = False
    for (x0, y0), (x1, y1) in zip(poly, np.roll(poly, -1, axis=0)):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


@pytest.mark.parametrize("seed", range(5))
def test_landmarks_sit_in_their_bones(seed):
    spine = build_spine(sample_params(np.random.default_rng(seed)), 0.0, np.random.default_rng(seed + 7))
    pts = landmark_points(spine)
    assert set(pts) == set(LANDMARKS)
    c2, s1, s2 = spine.bones[0], spine.bones[N_MOBILE], spine.bones[N_MOBILE + 1]
    assert c2.name == "C2" and s1.name == "S1"
    assert _inside(pts[102], c2.outline) and _inside(pts[125], s1.outline)
    # C2 body above C2/C3 (u -> inferior); S1 body below L5/S1 and above S1/S2 along S1's own
    # posterior wall (the sacrum leaves the lumbar line at ~40 deg: S1 may lie near horizontal)
    assert pts[102][0] < spine.tips[3][0]
    axis = s1.pb - s1.pt
    assert np.dot(spine.tips[25] - s1.pt, axis) < np.dot(pts[125] - s1.pt, axis) < np.dot(pts[126] - s1.pt, axis)
    assert np.allclose(pts[126], 0.5 * (s1.pb + s2.pt))


def test_slabs_carry_the_landmarks_in_view_seeded():
    seen = {code: 0 for code in LANDMARKS}
    for k in range(10):
        mode = "lumbar" if k % 2 else "cervical"
        slab = generate_slab(np.random.default_rng([42, k]), 1.0, fov_mode=mode)
        again = generate_slab(np.random.default_rng([42, k]), 1.0, fov_mode=mode)
        assert slab.landmarks == again.landmarks
        h, w = slab.image.shape
        for code, (r, c) in slab.landmarks.items():
            assert 0 <= r <= h - 1 and 0 <= c <= w - 1
            seen[code] += 1
        if 102 in slab.landmarks and 3 in slab.discs:
            assert slab.landmarks[102][0] < slab.discs[3][0]
        if 125 in slab.landmarks and 25 in slab.discs:
            assert slab.landmarks[125][0] > slab.discs[25][0]
    assert seen[102] >= 3 and seen[125] >= 3


def test_posterior_ligament_lies_behind_the_disc_tips():
    hits = total = 0
    for k in range(6):
        slab = generate_slab(np.random.default_rng([9, k]), 1.0, look="t2")
        cls = slab.classes
        for v, (r, c) in slab.discs.items():
            if v == 2 or int(round(c)) + 4 >= cls.shape[1]:
                continue
            total += 1
            strip = cls[int(round(r)), int(round(c)):int(round(c)) + 5]
            hits += int(Tissue.LIGAMENT) in strip.tolist()
    assert total > 20 and hits >= 0.8 * total


def test_ligament_is_thicker_at_the_discs():
    s = np.arange(0.0, 100.0)
    prof = pll_profile(s, np.array([20.0, 60.0]), np.array([8.0, 8.0]), 1.0, 0.0)
    assert abs(prof[20] - PLL_DISC_MM[1]) < 0.05 and abs(prof[40] - PLL_BODY_MM[0]) < 0.1
