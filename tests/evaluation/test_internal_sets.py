"""Internal benchmark sets: the real held-out crops and the entry (synthetic sets: test_synthetic_sets.py)."""

from __future__ import annotations

import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hca_disc_label.evaluation import internal_sets as I
from tests.evaluation.test_synthetic_sets import _assert_well_formed


def _fake_case(name: str, height: int = 224) -> SimpleNamespace:
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    discs = {v: (40.0 + 35.0 * k, 120.0 + 2 * k) for k, v in enumerate(range(20, 26))}
    return SimpleNamespace(subject=name.split("_")[0], image_path=Path(f"/x/{name}.nii.gz"),
                           raw=rng.uniform(0.0, 100.0, (height, 200)), discs=discs)


def test_real_crops_cut_top_bottom_both_and_keep_only_discs_inside():
    fake = [_fake_case("sub-a_T2w"), _fake_case("sub-b_T2w")]
    out = list(I.real_crop_set(seed=0, cases=fake))
    assert [c.meta["kind"] for c in out] == ["top", "bottom", "both"] * 2
    again = list(I.real_crop_set(seed=0, cases=fake[::-1]))
    assert [c.case_id for c in again] == [c.case_id for c in out]
    for a, b in zip(out, again):
        np.testing.assert_array_equal(a.image, b.image)
    for case in out:
        _assert_well_formed(case, "real:bids-train-crops")
        top, bottom = case.meta["rows"]
        src = next(f for f in fake if str(f.image_path) == case.meta["image"])
        assert case.image.shape == (bottom - top, 200)
        kind = case.meta["kind"]
        assert (top > 0) == (kind in ("top", "both")) and (bottom < 224) == (kind in ("bottom", "both"))
        for v, (r, c) in src.discs.items():
            near_cut = (top > 0 and r - top < I.REAL_EDGE_MARGIN_PX) or (
                bottom < 224 and r > bottom - 1 - I.REAL_EDGE_MARGIN_PX)
            inside = top <= r < bottom and not near_cut
            assert (v in case.discs) == inside
            if inside:
                assert case.discs[v] == (r - top, c)


def test_real_set_is_the_trainers_held_out_split(shared_data):
    held = I.held_out_cases(shared_data / "bids-train")
    assert len(held) == 10 and len({c.subject for c in held}) == 10
    first = next(I.real_crop_set(cases=held))
    assert first.set_name == "real:bids-train-crops" and first.meta["subject"] in {c.subject for c in held}


def test_unknown_set_name_is_refused():
    with pytest.raises(ValueError):
        list(I.internal_sets(["syn:nope"]))


def test_lateral_channels_draw_the_same_synthetic_cases():
    """A model with parasagittal channels is scored on the same subjects, windows and labels."""
    from hca_disc_label.evaluation.synthetic_sets import synthetic_case

    for name in ("syn:lumbar-sacrum-edge", "syn:cervical-full"):  # the second is resampled
        one = synthetic_case(name, 0)
        three = synthetic_case(name, 0, channel_offsets_mm=(-25.0, 0.0, 25.0))
        assert three.case_id == one.case_id and three.discs == one.discs
        assert three.image.shape == (3, *one.image.shape) and three.image.dtype == np.float32
        assert three.meta["window_mm"] == one.meta["window_mm"]
        assert 0.0 <= three.image.min() and three.image.max() <= 1.0
        assert np.abs(three.image[0] - three.image[1]).mean() > 0.02  # the side channels differ


def test_real_crops_of_a_lateral_stack_cut_every_channel_with_the_centre_percentiles():
    flat = _fake_case("sub-a_T2w")
    stack = SimpleNamespace(**{**vars(flat), "raw": np.stack([0.5 * flat.raw, flat.raw, 2.0 * flat.raw])})
    one = list(I.real_crop_set(seed=0, cases=[flat]))
    three = list(I.real_crop_set(seed=0, cases=[stack], channel_offsets_mm=(-25.0, 0.0, 25.0)))
    assert [c.case_id for c in three] == [c.case_id for c in one]
    for a, b in zip(one, three):
        assert b.image.shape == (3, *a.image.shape) and b.discs == a.discs
        np.testing.assert_allclose(b.image[1], a.image, atol=1e-6)   # centre = the one-channel crop
        assert b.image[0].mean() < b.image[1].mean() <= b.image[2].mean()  # relative scale kept
