"""Extending partial labels by one level: values from anatomy, positions from a detector."""

from __future__ import annotations

import csv

import nibabel as nib
import numpy as np
import pytest

from hca_disc_label.conventions import TYPICAL_LEVEL_SPACING_MM
from hca_disc_label.errors import DataError
from hca_disc_label.labelfile import read_disc_labels
from hca_disc_label.training.extend import added_labels, extend_labels, extrapolate_next

# L1/L2..L4/L5 on a straight vertical line, 34 mm apart (world mm, z up).
LUMBAR = {v: np.array([0.0, 0.0, 100.0 - 34.0 * (v - 21)]) for v in (21, 22, 23, 24)}


def test_extrapolation_uses_the_typical_spacing_ratio_of_the_new_level():
    value, point, spacing = extrapolate_next(LUMBAR, below=True)
    ratio = TYPICAL_LEVEL_SPACING_MM[24] / TYPICAL_LEVEL_SPACING_MM[23]
    assert value == 25
    assert np.allclose(point, [0.0, 0.0, LUMBAR[24][2] - 34.0 * ratio])
    assert spacing == pytest.approx(34.0 * ratio)
    value, point, _ = extrapolate_next(LUMBAR, below=False)
    assert value == 20 and point[2] == pytest.approx(100.0 + 34.0 * TYPICAL_LEVEL_SPACING_MM[20] / 34.0)


def test_no_extrapolation_past_the_table_or_from_a_gap():
    assert extrapolate_next({24: LUMBAR[24], 25: LUMBAR[24] - [0, 0, 30]}, below=True) is None  # no S1/S2
    assert extrapolate_next({21: LUMBAR[21], 23: LUMBAR[23]}, below=True) is None  # not consecutive
    assert extrapolate_next({22: LUMBAR[22]}, below=True) is None


def test_detection_near_the_expected_level_is_labelled_with_the_anatomical_value():
    expected = extrapolate_next(LUMBAR, below=True)[1]
    detections = [
        (LUMBAR[24] + [0, 1, 0], (5, 5, 50)),  # the labelled L4/L5 itself: never relabelled
        (expected + [0, 4, -3], (5, 9, 20)),  # L5/S1, 5 mm from the extrapolation
        (expected - [0, 0, 30], (5, 9, 2)),  # S1/S2 remnant further down
    ]
    added = added_labels(LUMBAR, detections)
    assert [(a.value, a.voxel) for a in added] == [(25, (5, 9, 20))]
    assert added[0].dist_to_extrapolated_mm == pytest.approx(5.0)


def test_far_or_missing_detections_add_nothing():
    expected = extrapolate_next(LUMBAR, below=True)[1]
    assert added_labels(LUMBAR, []) == []
    assert added_labels(LUMBAR, [(expected + [0, 0, -15.0], (1, 1, 1))]) == []  # beyond tolerance
    # The nearest detection is the labelled end disc: nothing is added even if it is "near".
    close = {21: LUMBAR[21], 22: LUMBAR[21] - [0, 0, 4.0]}
    assert [a.value for a in added_labels(close, [(LUMBAR[21] - [0, 0, 6.0], (0, 0, 0))])] == []


def _write_dataset(root, n_subjects=2):
    aff = np.diag([1.0, 1.0, 1.0, 1.0])
    aff[:3, 3] = [-10.0, -20.0, -80.0]
    for i in range(n_subjects):
        sub = f"sub-t{i:02d}"
        img_dir = root / sub / "anat"
        lab_dir = root / "derivatives" / "labels" / sub / "anat"
        img_dir.mkdir(parents=True)
        lab_dir.mkdir(parents=True)
        nib.save(nib.Nifti1Image(np.random.default_rng(i).random((20, 40, 160)).astype(np.float32), aff),
                 img_dir / f"{sub}_T2w.nii.gz")
        lab = np.zeros((20, 40, 160), np.int16)
        for v, k in ((21, 150), (22, 116), (23, 82), (24, 48)):
            lab[10, 20, k] = v
        nib.save(nib.Nifti1Image(lab, aff), lab_dir / f"{sub}_T2w_label-discs_dlabel.nii.gz")
    return aff


def test_extend_labels_writes_a_new_dataset_and_leaves_the_source_alone(tmp_path):
    src = tmp_path / "src"
    aff = _write_dataset(src)
    before = {p: p.read_bytes() for p in src.rglob("*.nii.gz")}

    def detect(path):
        # Finds L5/S1 (expected ~32 voxels below L4/L5) in the first subject only.
        if "t00" not in path.name:
            return []
        vox = (10, 21, 18)
        mm = aff[:3, :3] @ np.array(vox) + aff[:3, 3]
        return [(mm, vox)]

    dest = tmp_path / "ext"
    rows = extend_labels(src, dest, detect)
    assert [(r["subject"], r["value"]) for r in rows] == [("sub-t00", 25)]
    labels = read_disc_labels(dest / "derivatives/labels/sub-t00/anat/sub-t00_T2w_label-discs_dlabel.nii.gz")
    assert {p.value: p.voxel for p in labels}[25] == (10, 21, 18)
    assert [p.value for p in read_disc_labels(
        dest / "derivatives/labels/sub-t01/anat/sub-t01_T2w_label-discs_dlabel.nii.gz")] == [21, 22, 23, 24]
    link = dest / "sub-t00/anat/sub-t00_T2w.nii.gz"
    assert link.is_symlink() and link.resolve() == (src / "sub-t00/anat/sub-t00_T2w.nii.gz").resolve()
    with open(dest / "extended_labels.csv") as fh:
        assert [r["value"] for r in csv.DictReader(fh)] == ["25"]
    assert {p: p.read_bytes() for p in src.rglob("*.nii.gz")} == before
    with pytest.raises(DataError, match="already exists"):
        extend_labels(src, dest, detect)
