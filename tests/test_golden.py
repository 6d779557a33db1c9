"""Golden end-to-end runs of the shipped default model on real images (regression guard).

The thresholds sit a little below what the released model measured (see
models/hca-compact/MODEL_CARD.md), so a regression in weights or preprocessing fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

from hca_disc_label.cli.main import main
from hca_disc_label.labelfile import read_disc_labels

# case -> (contrast, minimum discs with the right value within 5 mm, maximum median distance in
# mm over same-value pairs). Measured for hca-compact 0.8.0: pam50 20/20 (median 1.5 mm),
# ivd11 5/5 (2.4 mm), ivd20 5/5 (2.0 mm), ivd42 5/5 (2.2 mm), ivd25 5/5 (2.2 mm; the S1/S2
# remnant read as L5/S1 by every model before 0.7.0), errsm30 T1w 4/4 (1.9 mm; one level off
# with 0.7.0). The small errsm30 T2w cervical crop is numbered one level off (0.6.0 had it 4/4)
# and says `check` (GOLDEN_DOUBT below); its positions are guarded by GOLDEN_POSITIONS.
GOLDEN = {
    "sub-pam50/anat/sub-pam50_T2w": ("t2", 18, 2.5),
    "sub-ivd11/anat/sub-ivd11_T2w": ("t2", 4, 2.8),
    "sub-ivd20/anat/sub-ivd20_T2w": ("t2", 4, 2.8),
    "sub-ivd42/anat/sub-ivd42_T2w": ("t2", 4, 2.6),
    "sub-ivd25/anat/sub-ivd25_T2w": ("t2", 4, 2.8),
    "sub-errsm30/anat/sub-errsm30_T1w": ("t1", 3, 2.6),
}
# Small crops also get a guard on positions alone (whatever the values):
# case -> (contrast, minimum GT discs with a predicted disc within the distance, distance mm).
GOLDEN_POSITIONS = {
    "sub-errsm30/anat/sub-errsm30_T2w": ("t2", 3, 3.0),
}
# The images 0.8.0 numbers wrong must say so (sidecar Numbering.status "check"):
GOLDEN_DOUBT = {
    "sub-errsm30/anat/sub-errsm30_T2w": "t2",
}

def _run(shared_data, tmp_path, case, contrast):
    bids = shared_data / "bids"
    img = bids / f"{case}.nii.gz"
    gt_path = bids / "derivatives" / "labels" / f"{case}_label-discs_dlabel.nii.gz"
    out = tmp_path / "labels.nii.gz"
    assert main(["-i", str(img), "-c", contrast, "-o", str(out), "-v", "0"]) == 0
    pred = {p.value: np.array(p.mm) for p in read_disc_labels(out)}
    gt = {p.value: np.array(p.mm) for p in read_disc_labels(gt_path)}
    return pred, gt


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_default_model_on_real_image(shared_data, tmp_path, case):
    contrast, min_correct, max_median = GOLDEN[case]
    pred, gt = _run(shared_data, tmp_path, case, contrast)
    dists = [float(np.linalg.norm(pred[v] - gt[v])) for v in gt if v in pred]
    correct = sum(d <= 5.0 for d in dists)
    assert correct >= min_correct, (pred.keys(), dists)
    assert float(np.median(dists)) <= max_median, dists
    # no label contradicts the anatomy: every predicted value within the GT's region +-2 levels
    assert all(min(gt) - 2 <= v <= max(gt) + 2 for v in pred), sorted(pred)


@pytest.mark.parametrize("case", sorted(GOLDEN_POSITIONS))
def test_default_model_finds_disc_positions_on_small_crops(shared_data, tmp_path, case):
    contrast, min_found, max_nearest = GOLDEN_POSITIONS[case]
    pred, gt = _run(shared_data, tmp_path, case, contrast)
    nearest = [min(float(np.linalg.norm(p - g)) for p in pred.values()) for g in gt.values()]
    assert sum(d <= max_nearest for d in nearest) >= min_found, nearest
    assert len(pred) <= len(gt) + 2
    assert all(min(gt) - 2 <= v <= max(gt) + 2 for v in pred), sorted(pred)


@pytest.mark.parametrize("case", sorted(GOLDEN_DOUBT))
def test_default_model_says_check_where_its_count_is_wrong(shared_data, tmp_path, case):
    import json

    pred, gt = _run(shared_data, tmp_path, case, GOLDEN_DOUBT[case])
    # still wrong (once a model gets it right, move the case to GOLDEN with its figures)
    assert any(v not in pred or np.linalg.norm(pred[v] - gt[v]) > 5.0 for v in gt)
    block = json.loads((tmp_path / "labels.json").read_text())["Numbering"]
    assert block["status"] == "check" and block["confidence"] < block["threshold"]


# With one numbering hint (SCT's -initlabel / -initz, taken from one ground-truth disc) the
# cases a default model numbered wrong must come out right: case -> (contrast, hinted value, how).
# (ivd25 was numbered one level high by every model before 0.7.0; both errsm30 crops by 0.7.0, T2w by 0.8.0.)
GOLDEN_HINTED = {
    "sub-ivd25/anat/sub-ivd25_T2w": ("t2", 25, "-initlabel"),
    "sub-errsm30/anat/sub-errsm30_T1w": ("t1", 5, "-initz"),
    "sub-errsm30/anat/sub-errsm30_T2w": ("t2", 4, "-initlabel"),
}


@pytest.mark.parametrize("case", sorted(GOLDEN_HINTED))
def test_default_model_with_one_hint(shared_data, tmp_path, case):
    import nibabel as nib

    from hca_disc_label.image import load_image

    contrast, value, how = GOLDEN_HINTED[case]
    bids = shared_data / "bids"
    img = bids / f"{case}.nii.gz"
    gt_path = bids / "derivatives" / "labels" / f"{case}_label-discs_dlabel.nii.gz"
    if how == "-initlabel":
        lab = nib.load(str(gt_path))
        data = np.asanyarray(lab.dataobj).copy()
        data[data != value] = 0
        hint = tmp_path / "hint.nii.gz"
        nib.save(nib.Nifti1Image(data.astype(np.int16), lab.affine), str(hint))
        extra = ["-initlabel", str(hint)]
    else:
        voxel = next(p.voxel for p in read_disc_labels(gt_path) if p.value == value)
        z = int(round(load_image(img).file_to_canonical(np.array(voxel, float))[2]))
        extra = ["-initz", f"{z},{value}"]
    out = tmp_path / "labels.nii.gz"
    assert main(["-i", str(img), "-c", contrast, "-o", str(out), "-v", "0", *extra]) == 0
    pred = {p.value: np.array(p.mm) for p in read_disc_labels(out)}
    gt = {p.value: np.array(p.mm) for p in read_disc_labels(gt_path)}
    dists = [float(np.linalg.norm(pred[v] - gt[v])) for v in gt if v in pred]
    assert len(dists) == len(gt) and max(dists) <= 5.0, (sorted(pred), dists)
