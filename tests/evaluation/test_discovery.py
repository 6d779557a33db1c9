"""Finding ground-truth and predicted label files and pairing them by image stem."""

from __future__ import annotations

import logging

import pytest

from hca_disc_label.errors import DataError
from hca_disc_label.evaluation.discovery import find_ground_truth, find_predictions, pair_cases, stem_entities
from hca_disc_label.naming import split_label_name

PTS = {3: (5, 20, 24), 4: (30, 20, 25)}


@pytest.mark.parametrize("name, expected", [
    ("sub-01_T2w_label-discs_dlabel.nii.gz", ("sub-01_T2w", "_label-discs_dlabel")),
    ("sub-01_ses-1_T1w_labels-disc-manual.nii", ("sub-01_ses-1_T1w", "_labels-disc-manual")),
    ("sub-01_T2w_label-SC_seg.nii.gz", None),
    ("sub-01_T2w_label-discs_dlabel.json", None),
    ("_label-discs_dlabel.nii.gz", None),
])
def test_split_label_name(name, expected):
    assert split_label_name(name) == expected


@pytest.mark.parametrize("stem, expected", [
    ("sub-01_T2w", ("sub-01", None, "T2")),
    ("sub-01_ses-02_acq-sag_T1w", ("sub-01", "ses-02", "T1")),
    ("sub-myo1_acq-gre_T2w", ("sub-myo1", None, "T2")),
    ("sub-01_T2star", ("sub-01", None, "T2star")),
    ("sub-01_acq-x", ("sub-01", None, "unknown")),
])
def test_stem_entities(stem, expected):
    assert stem_entities(stem) == expected


def test_ground_truth_layouts_sessions_and_legacy(bids, lab, caplog):
    a, write_labels = lab.AFFINES["ras-1"], lab.write_labels
    bids.add("sub-01_T2w", PTS, a)
    bids.add("sub-02_ses-1_T1w", PTS, a, suffix="_labels-disc-manual")
    bids.add("sub-03_T2w", PTS, a, suffix="_labels-disc-manual")
    bids.add("sub-03_T2w", PTS, a)  # both names: the current one wins, with a warning
    write_labels(bids.root / "derivatives" / "labels" / "sub-01" / "anat" / "sub-01_T2w_label-SC_seg.nii.gz",
                 PTS, a)
    with caplog.at_level(logging.WARNING):
        gt = find_ground_truth(bids.root)
    assert list(gt) == ["sub-01_T2w", "sub-02_ses-1_T1w", "sub-03_T2w"]
    assert gt["sub-02_ses-1_T1w"].session == "ses-1" and gt["sub-02_ses-1_T1w"].contrast == "T1"
    assert gt["sub-03_T2w"].path.name == "sub-03_T2w_label-discs_dlabel.nii.gz"
    assert "both" in caplog.text
    # the derivatives/labels folder itself is accepted too
    assert list(find_ground_truth(bids.root / "derivatives" / "labels")) == list(gt)


def test_ground_truth_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        find_ground_truth(tmp_path / "nope")
    (tmp_path / "empty" / "derivatives" / "labels").mkdir(parents=True)
    with pytest.raises(DataError, match="no ground-truth disc labels"):
        find_ground_truth(tmp_path / "empty")


def test_predictions_flat_nested_and_bids(tmp_path, bids, lab):
    a, write_labels = lab.AFFINES["ras-1"], lab.write_labels
    flat = tmp_path / "flat"
    write_labels(flat / "sub-01_T2w_label-discs_dlabel.nii.gz", PTS, a)
    write_labels(flat / "more" / "sub-02_T1w_label-discs_dlabel.nii.gz", PTS, a)
    (flat / "notes.txt").write_text("not a label")
    assert list(find_predictions(flat)) == ["sub-01_T2w", "sub-02_T1w"]
    bids.add("sub-05_T2w", PTS, a)
    write_labels(bids.root / "sub-05" / "anat" / "sub-99_T2w_label-discs_dlabel.nii.gz", PTS, a)
    # BIDS mode only reads derivatives/labels (not stray files elsewhere in the dataset)
    assert list(find_predictions(bids.root)) == ["sub-05_T2w"]


def test_predictions_ambiguous_stem_is_an_error(tmp_path, lab):
    a, write_labels = lab.AFFINES["ras-1"], lab.write_labels
    write_labels(tmp_path / "p" / "x" / "sub-01_T2w_label-discs_dlabel.nii.gz", PTS, a)
    write_labels(tmp_path / "p" / "y" / "sub-01_T2w_label-discs_dlabel.nii.gz", PTS, a)
    with pytest.raises(DataError, match="two disc-label files"):
        find_predictions(tmp_path / "p")


def test_pairing_reports_missing_and_orphans(tmp_path, bids, lab):
    a, write_labels = lab.AFFINES["ras-1"], lab.write_labels
    bids.add("sub-01_T2w", PTS, a)
    bids.add("sub-02_T2w", PTS, a)
    write_labels(tmp_path / "p" / "sub-01_T2w_label-discs_dlabel.nii.gz", PTS, a)
    write_labels(tmp_path / "p" / "sub-77_T2w_label-discs_dlabel.nii.gz", PTS, a)
    pairs, orphans = pair_cases(find_predictions(tmp_path / "p"), find_ground_truth(bids.root))
    assert [(p.stem, p.pred is not None) for p in pairs] == [("sub-01_T2w", True), ("sub-02_T2w", False)]
    assert [o.stem for o in orphans] == ["sub-77_T2w"]


def test_real_bids_discovery(real_bids):
    gt = find_ground_truth(real_bids)
    assert len(gt) == 8
    assert gt["sub-errsm30_T1w"].contrast == "T1" and gt["sub-pam50_T2w"].contrast == "T2"
    assert all(f.subject == f.stem.split("_")[0] for f in gt.values())
