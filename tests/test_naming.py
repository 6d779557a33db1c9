"""naming: every naming rule (extensions, output names, suffixes, contrast, discovery)."""

from __future__ import annotations

from pathlib import Path

from hca_disc_label.naming import (
    bids_images,
    contrast_from_name,
    folder_images,
    is_derived_name,
    output_name,
    sidecar_path_for,
    split_label_name,
    strip_nifti_ext,
)


def test_naming_rules():
    assert contrast_from_name("sub-01_ses-1_T1w.nii.gz") == "t1"
    assert contrast_from_name("sub-01_acq-T1w_T2w.nii") == "t2"  # the suffix wins
    assert contrast_from_name("sub-01_T2star.nii.gz") is None
    assert strip_nifti_ext("a.nii.gz") == "a" and strip_nifti_ext("a.nii") == "a" and strip_nifti_ext("a.gz") == "a.gz"
    assert output_name("sub-01_T2w.nii") == "sub-01_T2w_label-discs_dlabel.nii.gz"
    assert sidecar_path_for(Path("x/y_dlabel.nii.gz")) == Path("x/y_dlabel.json")
    assert split_label_name("sub-01_T2w_labels-disc-manual.nii") == ("sub-01_T2w", "_labels-disc-manual")
    assert split_label_name("sub-01_T2w.nii.gz") is None
    assert is_derived_name("sub-01_T2w_seg.nii.gz") and not is_derived_name("sub-01_T2w.nii.gz")


def test_discovery_in_bids_and_plain_folders(tmp_path, shared_data):
    bids = shared_data / "bids"
    images = bids_images(bids)
    assert len(images) == 8 and all("derivatives" not in p.parts for p in images)
    plain = tmp_path / "plain"
    (plain / "a" / ".hidden").mkdir(parents=True)
    (plain / "derivatives").mkdir()
    for rel in ("a/x.nii.gz", "a/x_seg.nii.gz", "a/.hidden/y.nii", "derivatives/z.nii", "b.nii"):
        (plain / rel).write_bytes(b"")
    assert [p.relative_to(plain).as_posix() for p in folder_images(plain)] == ["a/x.nii.gz", "b.nii"]
