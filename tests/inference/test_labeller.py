"""inference.labeller: the Labeller labels in memory and writes nothing."""

from __future__ import annotations

import os

import numpy as np
import pytest

from hca_disc_label.errors import HCAError
from hca_disc_label.image import load_image
from hca_disc_label.inference.labeller import Labeller

SMALL = "sub-errsm30/anat/sub-errsm30_T2w.nii.gz"


def test_labeller_labels_in_memory_and_writes_nothing(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image = shared_data / "bids" / SMALL
    before = sorted(os.listdir(image.parent))
    labeller = Labeller(None, "t2", "onnx", "cpu")
    first = labeller.label(image)
    again = labeller.label(load_image(image))  # an already loaded image
    assert [d.value for d in first.discs] == [d.value for d in again.discs] and first.discs
    d = first.discs[0]
    assert d.name and len(d.model_rc) == 2 and all(np.isfinite(d.canonical)) and 0 < d.confidence <= 1
    np.testing.assert_allclose(first.image.file_affine[:3, :3] @ d.voxel + first.image.file_affine[:3, 3], d.mm)
    assert {"read", "reorient", "mid_plane", "resample", "forward", "decode", "map"} <= set(first.timings)
    side = first.sidecar("cmd", extra={"Extra": 1})
    assert side["Extra"] == 1 and side["Discs"][0]["value"] == d.value
    assert sorted(os.listdir(image.parent)) == before and os.listdir(tmp_path) == []
    for bad in (float("nan"), 0.0, 1.0):
        with pytest.raises(HCAError, match="threshold"):
            Labeller(None, "t2", "onnx", "cpu", threshold=bad)


def test_a_model_without_calibration_is_judged_with_anothers_on_request(tiny_model):
    shipped = Labeller("hca-compact", "t2", "onnx", "cpu").calibration
    fold = Labeller(str(tiny_model), "t2", "onnx", "cpu")
    assert fold.calibration != shipped  # a model of its own has no entry in the shipped table
    fold.use_calibration_of("hca-compact")
    assert fold.calibration == shipped
    assert fold.calibration.threshold == shipped.threshold
