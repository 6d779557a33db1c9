"""Synthetic junction-hard benchmark sets: deterministic, each set's defining property holds."""

from __future__ import annotations

import numpy as np
import pytest

from hca_disc_label.evaluation import internal_case as C
from hca_disc_label.evaluation import synthetic_sets as S

N = 3  # cases per synthetic set in these tests


@pytest.fixture(scope="module")
def cases() -> dict[str, list[C.InternalCase]]:
    return {name: list(S.synthetic_set(name, N, seed=0)) for name in C.SYNTHETIC_SETS}


def _assert_well_formed(case: C.InternalCase, name: str) -> None:
    image = case.image
    assert case.set_name == name
    assert image.ndim == 2 and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.max() > 0.5
    h, w = image.shape
    assert len(case.discs) >= 2
    for v, (r, c) in case.discs.items():
        assert 2 <= v <= 25
        assert 0.0 <= r <= h - 1 and 0.0 <= c <= w - 1, (case.case_id, v, r, c, image.shape)
    rows = [case.discs[v][0] for v in sorted(case.discs)]
    assert np.all(np.diff(rows) > 0)  # values increase head to feet


def test_every_case_is_a_model_frame_image_with_its_discs_inside(cases):
    for name, items in cases.items():
        assert len(items) == N
        assert len({c.case_id for c in items}) == N
        for case in items:
            _assert_well_formed(case, name)
            set_name, case_id, image, discs = case  # unpacks as (set, id, image, discs)
            assert (set_name, case_id) == (case.set_name, case.case_id)


def test_same_seed_same_images_other_seed_other_images(cases):
    for name, items in cases.items():
        again = S.synthetic_case(name, N - 1, seed=0)
        assert again.case_id == items[-1].case_id
        np.testing.assert_array_equal(again.image, items[-1].image)
        assert again.discs == items[-1].discs
        other = S.synthetic_case(name, N - 1, seed=1)
        assert other.image.shape != again.image.shape or not np.array_equal(other.image, again.image)
    # a case does not depend on the set size
    np.testing.assert_array_equal(next(iter(S.synthetic_set(C.SYNTHETIC_SETS[0], 1))).image,
                                  cases[C.SYNTHETIC_SETS[0]][0].image)


def test_s1s2_remnant_is_visible_below_l5s1(cases):
    for case in cases["syn:s1s2-remnant"]:
        m = case.meta
        assert 25 in case.discs
        assert m["remnant_px"] >= S.REMNANT_MIN_PX
        assert abs(m["remnant_contrast"]) >= S.REMNANT_MIN_CONTRAST
        outline = np.array(m["remnant_outline_px"])
        h, w = case.image.shape
        assert outline[:, 0].max() <= h - 1
        # one level below L5/S1: under its tip, within a sacral body height or so
        assert case.discs[25][0] + 5 < outline[:, 0].mean() < case.discs[25][0] + 60


def test_sacrum_edge_ends_0_to_30_mm_below_l5s1(cases):
    for case in cases["syn:lumbar-sacrum-edge"]:
        assert max(case.discs) == 25
        below_mm = (case.image.shape[0] - 0.5 - case.discs[25][0]) * 1.0
        assert 0.0 <= below_mm <= 31.0, below_mm
        assert case.meta["base_mode"] == "lumbar"


def test_above_sacrum_ends_in_the_l4_or_l5_body(cases):
    for case in cases["syn:lumbar-above-sacrum"]:
        assert 23 in case.discs and max(case.discs) <= 24
        tips = case.meta["tips_px"]
        edge = case.image.shape[0] - 0.5
        assert tips[23][0] + 4.0 <= edge <= tips[25][0] - 2.0


def test_cervical_full_goes_from_the_skull_base_to_the_upper_thoracic_spine(cases):
    for case in cases["syn:cervical-full"]:
        m = case.meta
        assert 3 in case.discs and max(case.discs) >= 9  # C2/C3 ... at least T1/T2
        assert max(case.discs) <= 14  # lower edge in T2..T6
        assert m["basion_row"] >= 29.0  # foramen magnum 30-100 mm below the top edge
        assert 0.8 <= m["acq_spacing_mm"] <= 1.0


def test_crop_from_c2_starts_between_the_dens_tip_and_c2c3(cases):
    for case in cases["syn:crop-from-c2"]:
        m = case.meta
        assert m["dens_tip_row"] < -0.5 < case.discs[3][0]  # top edge (row -0.5) between them
        assert min(case.discs) in (2, 3)
        assert 49.0 <= case.image.shape[0] <= 121.0


def test_crop_below_c2_starts_under_c2c3(cases):
    for case in cases["syn:crop-below-c2"]:
        tips = case.meta["tips_px"]
        assert min(case.discs) >= 4
        assert tips[3][0] + 2.0 <= -0.5 <= tips[5][0] + 1.0  # top edge from below C2/C3 to C4/C5
        assert 49.0 <= case.image.shape[0] <= 121.0


def test_coronal_curve_cases_have_a_disc_well_beside_the_plane(cases):
    for case in cases["syn:coronal-curve"]:
        off = case.meta["tip_lateral_mm"]
        assert len(case.discs) >= 4 and set(case.discs) <= set(off)
        assert max(abs(off[v]) for v in case.discs) >= S.CURVE_OFF_PLANE_MM
        assert case.meta["base_mode"] in ("lumbar", "thoracolumbar")
