"""benchmarks/calibration_images.py (the images of calibrate_numbering.py): a model with lateral input channels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[1]


def test_real_sacrum_images_with_lateral_channels_are_the_one_channel_images_plus_side_slabs(shared_data):
    calib = load_script(ROOT / "benchmarks" / "calibration_images.py")
    one = list(calib.sacrum_images(shared_data.parent, ["sub-zuk08"], 1, 13))
    three = list(calib.sacrum_images(shared_data.parent, ["sub-zuk08"], 1, 13, (-25.0, 0.0, 25.0)))
    assert len(one) == len(three) >= 3
    for a, b in zip(one, three):
        assert a[:3] == b[:3] and a[4] == b[4]                 # set, group, id; ground truth
        assert b[3].shape == (3, *a[3].shape)
        np.testing.assert_allclose(b[3][1], a[3], atol=1e-6)  # centre channel = the one-channel image
        assert np.abs(b[3][0] - b[3][1]).mean() > 0.01


def test_synthetic_calibration_images_follow_the_channels():
    calib = load_script(ROOT / "benchmarks" / "calibration_images.py")
    images = list(calib.junction_images(1, 13, (-25.0, 0.0, 25.0)))
    assert images and all(img.ndim == 3 and img.shape[0] == 3 for _, _, _, img, _ in images)
