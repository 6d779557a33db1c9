"""Disc tips from vertebral-body masks: the corner rule, the derived L5/S1, the real masks."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hca_disc_label.conventions import L5_S1
from hca_disc_label.training.vertebrae import check_derivation, disc_tips_from_masks, tips_world_mm


def _box_spine(tmp_path: Path, orientation: str, tilt: float = 0.0) -> tuple[Path, dict[int, np.ndarray]]:
    """Three rectangular bodies (L3, L4, L5) 25 mm tall, 8 mm gaps, posterior wall at A = 20,
    on a 1 mm grid; returns the mask file (in ``orientation``) and the expected tips in
    RAS-canonical voxels."""
    shape = (9, 60, 120)  # R, A, S
    mask = np.zeros(shape, dtype=np.uint8)
    tops = {22: 110, 23: 77, 24: 44}  # superior endplate S index of each body
    for value, top in tops.items():
        shift = int(round(tilt * (top - 44)))
        mask[2:7, 20 + shift:50 + shift, top - 25:top] = value
    ras = nib.Nifti1Image(mask, np.eye(4))
    img = ras.as_reoriented(nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt("RAS"), nib.orientations.axcodes2ornt(tuple(orientation))))
    path = tmp_path / "sub-x_T2w_label-vertebrae_dseg.nii.gz"
    nib.save(img, path)
    # L3/L4: midpoint of (20, 85) and (20, 76); L4/L5: of L4 (20, 52) and L5 (20, 43)
    expected = {23: np.array([4, 20, 80.5]), 24: np.array([4, 20, 47.5])}
    return path, expected


@pytest.mark.parametrize("orientation", ["RAS", "IPR", "LPI", "PIR"])
def test_corner_rule_puts_tips_between_the_posterior_corners_in_any_orientation(tmp_path, orientation):
    path, expected = _box_spine(tmp_path, orientation)
    tips, affine = disc_tips_from_masks(path)
    for value, point in expected.items():
        assert np.allclose(tips[value], point, atol=1.0), (value, tips[value], point)
    # L5/S1: one L4/L5 gap below L5's posterior-inferior corner (20, 19): half of it = 4.5 mm
    assert np.allclose(tips[L5_S1], [4, 20, 19 - 4.5], atol=1.0)
    world = tips_world_mm(path)
    assert np.allclose(world[24], affine[:3, :3] @ tips[24] + affine[:3, 3])


def test_a_mask_with_no_consecutive_bodies_is_a_clear_error(tmp_path):
    from hca_disc_label.errors import DataError

    mask = np.zeros((5, 30, 60), dtype=np.uint8)
    mask[1:4, 5:20, 5:20] = 20
    mask[1:4, 5:20, 40:55] = 22
    path = tmp_path / "m_label-vertebrae_dseg.nii.gz"
    nib.save(nib.Nifti1Image(mask, np.eye(4)), path)
    with pytest.raises(DataError, match="no two consecutive"):
        disc_tips_from_masks(path)


def test_the_rule_reproduces_the_annotated_discs_of_the_real_sacrum_scans(shared_data):
    from hca_disc_label.labelfile import read_disc_labels

    errors = []
    for dseg in sorted((shared_data / "bids-train" / "derivatives" / "labels").glob("sub-zuk*/anat/*_label-vertebrae_dseg.nii.gz")):
        labels = Path(str(dseg).replace("_label-vertebrae_dseg", "_label-discs_dlabel"))
        points = {p.value: np.asarray(p.mm, dtype=float) for p in read_disc_labels(labels)}
        errors += list(check_derivation(dseg, points).values())
        tips = tips_world_mm(dseg)
        # the derived L5/S1 lies below L4/L5, about one level further down
        spacing = np.linalg.norm(points[24] - points[23])
        assert 0.6 * spacing < np.linalg.norm(tips[L5_S1] - points[24]) < 1.4 * spacing
    assert len(errors) == 48
    assert np.median(errors) <= 1.0 and max(errors) <= 2.0


def test_extend_labels_takes_l5s1_from_the_l5_mask(tmp_path):
    from hca_disc_label.labelfile import read_disc_labels
    from hca_disc_label.training.extend import extend_labels

    mask_path, _ = _box_spine(tmp_path, "RAS")
    mask = nib.load(mask_path)
    anat = tmp_path / "ds" / "sub-x" / "anat"
    labels = tmp_path / "ds" / "derivatives" / "labels" / "sub-x" / "anat"
    anat.mkdir(parents=True)
    labels.mkdir(parents=True)
    image = np.asanyarray(mask.dataobj).astype(np.float32) + 1.0
    nib.save(nib.Nifti1Image(image, mask.affine), anat / "sub-x_T2w.nii.gz")
    nib.save(mask, labels / "sub-x_T2w_label-vertebrae_dseg.nii.gz")
    disc = np.zeros(mask.shape, np.uint8)
    disc[4, 20, 80], disc[4, 20, 48] = 23, 24
    nib.save(nib.Nifti1Image(disc, mask.affine), labels / "sub-x_T2w_label-discs_dlabel.nii.gz")
    rows = extend_labels(tmp_path / "ds", tmp_path / "ext", lambda path: [])  # no detector at all
    assert [(r["value"], r["source"]) for r in rows] == [(L5_S1, "L5 mask")]
    out = tmp_path / "ext" / "derivatives" / "labels" / "sub-x" / "anat" / "sub-x_T2w_label-discs_dlabel.nii.gz"
    written = {p.value: p.voxel for p in read_disc_labels(out)}
    assert written[23] == (4, 20, 80) and written[24] == (4, 20, 48)
    assert abs(written[L5_S1][2] - 14.5) <= 1 and written[L5_S1][:2] == (4, 20)


@pytest.mark.parametrize("seed", range(6))
def test_median_slice_from_counts_is_the_median_of_every_voxel(seed):
    from hca_disc_label.training.vertebrae import _median_index

    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 4, size=rng.integers(1, 12)) * rng.integers(0, 2, size=1)
    counts[rng.integers(len(counts))] += 1  # never empty
    voxels = np.repeat(np.arange(len(counts)), counts)
    assert _median_index(counts) == int(np.round(np.median(voxels)))
